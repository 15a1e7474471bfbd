"""A scratch project for the tests of the build tools: a copy of the toolkit, the record format
and numerics.portable, the text width, and a small topic `demo` of four figures reading
data/demo/.

Its command line runs as a process; the copy's modules shadow the installed ones because a
script's own folder comes first on the module path.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from conftest import ROOT

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


def make_demo_project(root: Path) -> Path:
    """Write the scratch project into `root` (nothing built yet) and return `root`."""
    for package in ("figkit", "records"):
        shutil.copytree(ROOT / "scripts" / package, root / "scripts" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (root / "scripts" / "numerics").mkdir()   # the toolkit's log scale computes with portable
    for module in ("__init__.py", "portable.py"):
        shutil.copy(ROOT / "scripts" / "numerics" / module, root / "scripts" / "numerics" / module)
    shutil.copy(ROOT / "textwidth.txt", root / "textwidth.txt")
    (root / "scripts" / "demo.py").write_text(DEMO_TOPIC)
    (root / "data" / "demo").mkdir(parents=True)
    for i, name in enumerate(NAMES[:3]):
        np.savetxt(root / "data" / "demo" / f"{name}.csv", np.sin(np.arange(20) + i))
    return root
