"""The figure cache (figkit.cache): exactly the figures that depend on an edit are drawn again,
and what is reused is byte for byte what an uncached build draws.

Each test edits a scratch copy of the toolkit and a small topic of three figures, then runs the
topic's command line as a process (the copy's modules shadow the installed ones because a
script's own folder comes first on the module path).
"""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from conftest import ROOT, run_process

DEMO_TOPIC = '''"""Three small figures for the cache tests."""
import sys
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np

from figkit import Registry
from figkit.annotate import panel_title
from figkit.numbers import Numbers
from figkit.palette import BLUE
from figkit.style import SMALL

FIGURES = Registry("demo")
DATA = Path(__file__).resolve().parents[1] / "data" / "demo"


@dataclass(frozen=True)
class Series:
    x: np.ndarray
    y: np.ndarray
    numbers: Numbers


def read(name):
    values = np.loadtxt(DATA / f"{name}.csv")
    numbers = Numbers()
    numbers.add(name.capitalize() + "Peak", values.max(), ".2f")
    return Series(np.arange(len(values)), values, numbers)


def label_steps(ax):
    ax.set_xlabel("step")


def first_result():
    return read("first")


def second_result():
    return read("second")


def third_result():
    return read("third")


@FIGURES.figure(caption="First.", result=first_result, aspect=0.3)
def first(fig, series):
    ax = fig.subplots()
    ax.plot(series.x, series.y, color=BLUE)


@FIGURES.figure(caption="Second.", result=second_result, aspect=0.3)
def second(fig, series):
    ax = fig.subplots()
    ax.plot(series.x, series.y, color=BLUE)
    label_steps(ax)


@FIGURES.figure(caption="Third.", result=third_result, aspect=0.3)
def third(fig, series):
    ax = fig.subplots()
    ax.plot(series.x, series.y, color=BLUE)
    ax.text(0.5, 0.5, series.numbers["ThirdPeak"], fontsize=SMALL, transform=ax.transAxes)
    panel_title(ax, "a", "Third")


@cache
def line_width():
    return 1.0


def no_grid(ax):
    ax.grid(False)


DECORATIONS = {"plain": no_grid}


def fourth(fig, series, color):
    ax = fig.subplots()
    ax.plot(series.x, series.y, color=color, lw=line_width())
    DECORATIONS["plain"](ax)


FIGURES.add("fourth", partial(fourth, color=BLUE), "Fourth.", result=first_result, aspect=0.3)


if __name__ == "__main__":
    sys.exit(FIGURES.main())
'''
NAMES = ("first", "second", "third", "fourth")
#: One worker runs these tests, so the warm build is made once.
pytestmark = pytest.mark.xdist_group("cache")


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A copy of the toolkit, the record format and the text width, with the demo topic, built
    once: its cache holds every figure."""
    root = tmp_path_factory.mktemp("warm")
    for package in ("figkit", "records"):
        shutil.copytree(ROOT / "scripts" / package, root / "scripts" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "textwidth.txt", root / "textwidth.txt")
    (root / "scripts" / "demo.py").write_text(DEMO_TOPIC)
    (root / "data" / "demo").mkdir(parents=True)
    for i, name in enumerate(NAMES[:3]):
        np.savetxt(root / "data" / "demo" / f"{name}.csv", np.sin(np.arange(20) + i))
    assert drawn(build(root)) == set(NAMES)
    return root


@pytest.fixture
def scratch(warm, tmp_path):
    """A test's own copy of the warm build, to edit."""
    shutil.copytree(warm, tmp_path / "copy")
    return tmp_path / "copy"


def build(scratch, *args, outdir="images/demo"):
    """Run the demo topic; {figure: 'rendered' | 'reused'} from its progress lines."""
    done = run_process(scratch / "scripts" / "demo.py", "--jobs", "1", "--outdir",
                       scratch / outdir, *args)
    assert done.returncode == 0, done.stderr
    return dict(re.findall(r"demo/(\w+)\s+[\d.]+ s\s+(rendered|reused)", done.stdout))


def drawn(states: dict) -> set[str]:
    return {name for name, how in states.items() if how == "rendered"}


def assert_same_as_uncached(scratch, *args):
    """What the cached build left equals, byte for byte, a build that never saw the cache."""
    assert drawn(build(scratch, *args, "--no-cache", outdir="fresh")) == set(NAMES)
    for path in sorted((scratch / "fresh").iterdir()):
        assert path.read_bytes() == (scratch / "images" / "demo" / path.name).read_bytes(), \
            path.name
    shutil.rmtree(scratch / "fresh")


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_a_second_build_reuses_everything(scratch):
    assert drawn(build(scratch)) == set()
    assert_same_as_uncached(scratch)


@pytest.mark.parametrize("where,old,new,expected", [
    ("scripts/demo.py", "    ax.plot(series.x, series.y, color=BLUE)\n\n\n@FIGURES.figure("
     'caption="Second."', "    ax.plot(series.x, series.y, color=BLUE, lw=2)\n\n\n"
     '@FIGURES.figure(caption="Second."', {"first"}),                     # a drawing function
    ("scripts/demo.py", 'ax.set_xlabel("step")', 'ax.set_xlabel("training step")',
     {"second"}),                                                         # a helper of one
    ("scripts/figkit/annotate.py", 'ax.set_title(f"({letter}) {text}", loc="left")',
     'ax.set_title(f"[{letter}] {text}", loc="left")', {"third"}),        # a toolkit helper
    ("data/demo/second.csv", "\n", "\n0.5\n", {"second"}),                # a result's data
    ("scripts/figkit/study.mplstyle", "lines.linewidth:", "lines.linewidth: 2.0\n#",
     set(NAMES)),                                                         # the style sheet
    ("scripts/demo.py", 'caption="Third."', 'caption="The third."', {"third"}),  # a caption
    ("scripts/demo.py", "return 1.0", "return 2.0", {"fourth"}),       # a cached helper
    ("scripts/demo.py", "ax.grid(False)", "ax.grid(True)", {"fourth"}),  # a function in a table
    ("scripts/demo.py", "color=BLUE), ", 'color="k"), ', {"fourth"}),  # an argument a partial binds
], ids=["drawing function", "helper of one figure", "toolkit helper", "data of one result",
        "style sheet", "caption", "cached helper", "function in a table", "bound argument"])
def test_an_edit_redraws_exactly_what_depends_on_it(scratch, where, old, new, expected):
    edit(scratch / where, old, new)
    assert drawn(build(scratch)) == expected
    assert_same_as_uncached(scratch)


def test_another_text_width_redraws_everything(scratch):
    assert drawn(build(scratch, "--textwidth", "5in")) == set(NAMES)
    assert drawn(build(scratch, "--textwidth", "5in")) == set()
    assert_same_as_uncached(scratch, "--textwidth", "5in")


def test_the_check_never_reads_the_cache(monkeypatch):
    from tools import check_images

    seen = []

    def record(command, **kwargs):
        seen.append(command)
        raise RuntimeError("stop here")

    monkeypatch.setattr(check_images.subprocess, "run", record)
    with pytest.raises(RuntimeError, match="stop here"):
        check_images.stale_files("fine_tuning")
    assert "--no-cache" in seen[0]
