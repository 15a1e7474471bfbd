"""The layout's promises: nothing below the drawing layer imports matplotlib, no module edits
sys.path (the project is installed in editable mode), and a topic module reads top to bottom."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SCRIPTS, topic_modules

#: Packages below the drawing layer: the record format and recorder, models, computations,
#: published facts, and the experiment code that records runs.
BELOW_DRAWING = ("records", "models", "numerics", "published", "recorders")
DRAWING_LIBRARIES = ("matplotlib", "seaborn")


def modules_of(package: str) -> list[str]:
    names = []
    for path in sorted((SCRIPTS / package).rglob("*.py")):
        parts = path.relative_to(SCRIPTS).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def modules_that_load(libraries, modules) -> dict[str, list[str]]:
    """{module: drawing libraries it loaded}, importing each in turn in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"libraries, modules = {tuple(libraries)!r}, {list(modules)!r}\n"
        "found = {}\n"
        "for name in modules:\n"
        "    importlib.import_module(name)\n"
        "    loaded = sorted(lib for lib in libraries if lib in sys.modules)\n"
        "    if loaded:\n"
        "        found[name] = loaded\n"
        "        break\n"
        "print(json.dumps(found))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    return json.loads(out)


def test_every_layer_below_drawing_has_modules():
    for package in BELOW_DRAWING:
        assert modules_of(package), f"scripts/{package}/ is empty"


def test_nothing_below_the_drawing_layer_imports_matplotlib():
    modules = [m for package in BELOW_DRAWING for m in modules_of(package)]
    modules += ["figkit.numbers", "figkit.latex"]  # numbers.tex is written without matplotlib
    assert modules_that_load(DRAWING_LIBRARIES, modules) == {}


def test_the_check_can_fail():
    assert modules_that_load(DRAWING_LIBRARIES, ["records", "figkit.registry"]) == {
        "figkit.registry": ["matplotlib"]}


def test_no_module_edits_sys_path():
    pattern = re.compile("sys" + r"\.path\.(insert|append)|" + "PYTHON" + "PATH")  # not itself
    offenders = [str(path.relative_to(ROOT))
                 for folder in ("scripts", "tests", "bench")
                 for path in (ROOT / folder).rglob("*.py") if pattern.search(path.read_text())]
    assert offenders == []


# ---- topic modules read top to bottom ---------------------------------------------------------
def used_before_defined(source: str) -> list[str]:
    """Module-level names a top-level function or class uses but the module defines only below
    it: the reader meets the use before the definition."""
    tree = ast.parse(source)
    defined: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(alias.asname or alias.name).split(".")[0] for alias in node.names]
        else:
            names = []
        for name in names:
            defined.setdefault(name, node.lineno)
    found = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        local = {n.id for n in ast.walk(node)
                 if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        local |= {a.arg for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.Lambda))
                  for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs}
        for n in ast.walk(node):
            if (isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in local
                    and n.id != node.name and defined.get(n.id, 0) > node.lineno):
                found.append(f"line {n.lineno}: {node.name} uses {n.id}, "
                             f"defined at line {defined[n.id]}")
    return found


def test_topic_modules_define_names_before_they_use_them():
    for module in topic_modules():
        path = Path(module.__file__)
        assert used_before_defined(path.read_text()) == [], path.name


def test_the_order_check_can_fail():
    source = "def draw(ax):\n    ax.plot(color=COLOR)\n\n\nCOLOR = 'k'\n"
    assert used_before_defined(source) == ["line 2: draw uses COLOR, defined at line 5"]


#: The raw hues of figkit.palette: topics ask figkit.meanings for what they draw instead.
RAW_HUES = {"BLUE", "RED", "GREEN", "YELLOW", "CYAN", "PURPLE", "SERIES_COLORS", "series"}


def raw_hues_imported(source: str) -> list[str]:
    """Names of raw hues a module takes from figkit.palette (imported, or used as palette.X)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in ("figkit.palette", "palette"):
            found += [alias.name for alias in node.names if alias.name in RAW_HUES]
        elif (isinstance(node, ast.Attribute) and node.attr in RAW_HUES
              and isinstance(node.value, ast.Name) and node.value.id == "palette"):
            found.append(node.attr)
    return found


def test_topics_draw_colours_through_the_table_of_meanings():
    """No topic picks a hue itself: every colour comes from figkit.meanings."""
    offenders = {path.name: raw_hues_imported(path.read_text())
                 for path in sorted((ROOT / "scripts").glob("*.py"))}
    offenders = {name: hues for name, hues in offenders.items() if hues}
    assert offenders == {}


def test_the_raw_hue_check_can_fail():
    assert raw_hues_imported("from figkit.palette import BLUE, INK\n") == ["BLUE"]
    assert raw_hues_imported("from figkit import palette\nc = palette.RED\n") == ["RED"]
    assert raw_hues_imported("from figkit.palette import INK, tint\n") == []
