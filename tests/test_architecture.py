"""The layout's promises: nothing below the drawing layer imports matplotlib, and no module edits
sys.path (the project is installed in editable mode)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import ROOT, SCRIPTS

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
