"""Shared test helpers: every topic module and its figures, each built and rendered at most once
per test session.

`figure` is a module-scoped fixture with one parameter per registered figure: pytest runs every
test that uses it for one figure before moving to the next, so a figure is built once per text
width and rendered once, and the checks share those (under pytest-xdist all checks of a figure
of a topic go to the same worker, see `pytest_collection_modifyitems`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import subprocess
import sys
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import pytest

from figkit import Registry, checks, meanings, save, style
from figkit.sizes import textwidth_inches

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
DEFAULT_WIDTH = textwidth_inches()
#: The widths every figure is laid out at: the document's, and both ends of the accepted range.
WIDTHS = {"default": DEFAULT_WIDTH, "4.5in": 4.5, "7in": 7.0}


@cache
def topic_modules() -> tuple:
    """Every scripts/<topic>.py that registers figures (a module-level `FIGURES` Registry)."""
    modules = []
    for path in sorted(SCRIPTS.glob("*.py")):
        module = importlib.import_module(path.stem)
        if isinstance(getattr(module, "FIGURES", None), Registry):
            modules.append(module)
    return tuple(modules)


def all_figures():
    return [pytest.param((m.FIGURES, name), id=f"{m.FIGURES.topic}/{name}")
            for m in topic_modules() for name in m.FIGURES.names]


def found_in(value, kind, seen=None):
    """Every instance of `kind` inside a result: its dataclass fields, dicts, lists and tuples,
    recursively (each object once)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, kind):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from found_in(getattr(value, field.name), kind, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from found_in(item, kind, seen)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from found_in(item, kind, seen)


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def run_main(module, *args) -> Finished:
    """`python scripts/<module>.py ARGS`, run in this process to spare an interpreter start:
    the exit code (argparse's included), and what it printed. Warnings behave as in a process
    of its own (printed, not raised)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            code = module.main([str(arg) for arg in args])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return Finished(code or 0, out.getvalue(), err.getvalue())


def run_process(script: Path, *args, **kwargs) -> subprocess.CompletedProcess:
    """`python SCRIPT ARGS` in a process of its own (for what must be seen from outside)."""
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                          text=True, **kwargs)


def central_differences(loss, params, eps: float = 1e-6) -> list[dict]:
    """Central finite differences of `loss(params)` (a float) in every entry of every array of
    `params` (a list of dicts of float64 arrays, as the models hold them): arrays of the same
    structure, to hold against a hand-written gradient."""
    import numpy as np

    from models import mlp

    fd = mlp.map_params(np.zeros_like, params)
    for i, layer in enumerate(params):
        for key, array in layer.items():
            for idx in np.ndindex(array.shape):
                values = []
                for sign in (1.0, -1.0):
                    shifted = mlp.map_params(np.copy, params)
                    shifted[i][key][idx] += sign * eps
                    values.append(loss(shifted))
                fd[i][key][idx] = (values[0] - values[1]) / (2 * eps)
    return fd


def relative_errors(fd: list[dict], grads: list[dict]) -> dict[tuple[int, str], float]:
    """||fd - g|| / max(||fd||, ||g||) of every parameter array (layer index, name)."""
    import numpy as np

    errors = {}
    for i, layer in enumerate(fd):
        for key, numeric in layer.items():
            g = grads[i][key]
            assert g.shape == numeric.shape and g.dtype == np.float64, (i, key)
            scale = max(np.linalg.norm(numeric), np.linalg.norm(g))
            assert scale > 0, (i, key)
            errors[(i, key)] = float(np.linalg.norm(numeric - g) / scale)
    return errors


def build_strict(registry, name, textwidth_in):
    """Build a figure with every warning an error (missing glyphs, layout failures...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return registry.build(name, textwidth_in)


class FigureUnderTest:
    """One figure: built once per text width, its PNG and PDF rendered once at the default width
    (the text positions are recorded while the PNG is drawn), each result kept for every check."""

    def __init__(self, registry, name):
        self.registry, self.name = registry, name
        self.spec = registry[name]
        self._figs: dict[float, object] = {}
        self._layout: dict[float, list[str]] = {}
        self._files: dict[str, bytes] | None = None
        self._colours: list[str] | None = None
        self._meanings: dict[float, list[str]] = {}

    @property
    def topic(self) -> str:
        return self.registry.topic

    def fig(self, width: float):
        if width not in self._figs:
            with style.applied(), meanings.tracking() as used:
                self._figs[width] = build_strict(self.registry, self.name, width)
            self._meanings[width] = used
        return self._figs[width]

    def meaning_problems(self) -> list[str]:
        """Hues drawn without a meaning from the table, legends naming a method or component in
        another colour (at the default width)."""
        fig = self.fig(DEFAULT_WIDTH)
        return checks.meaning_problems(fig, self._meanings[DEFAULT_WIDTH])

    def layout_problems(self, width: float) -> list[str]:
        if width not in self._layout:
            fig = self.fig(width)
            # Text positions do not need pixels: lay out and measure without rasterizing...
            draw = fig.draw_without_rendering
            if width == DEFAULT_WIDTH:  # ...except at the default width, where the PNG that
                self._files = {}        # the tests compare is drawn anyway: one draw, not two

                def draw():
                    self._files["png"] = save.render(fig, "png")
            with style.applied(), warnings.catch_warnings():
                warnings.simplefilter("error")
                self._layout[width] = checks.layout_problems(fig, draw)
        return self._layout[width]

    def files(self) -> dict[str, bytes]:
        """{'png': bytes, 'pdf': bytes} at the default width, exactly as `make figures` saves."""
        self.layout_problems(DEFAULT_WIDTH)
        if "pdf" not in self._files:
            with style.applied(), warnings.catch_warnings():
                warnings.simplefilter("error")
                self._files["pdf"] = save.render(self.fig(DEFAULT_WIDTH), "pdf")
        return self._files

    def colour_problems(self) -> list[str]:
        if self._colours is None:
            with style.applied():
                self._colours = checks.colour_problems(self.fig(DEFAULT_WIDTH))
        return self._colours


@lru_cache(maxsize=4)  # the figures in progress on this worker; older ones are freed
def figure_under_test(registry, name) -> FigureUnderTest:
    return FigureUnderTest(registry, name)


@pytest.fixture(scope="module", params=all_figures())
def figure(request) -> FigureUnderTest:
    # Module scope makes pytest run every check of one figure before the next figure; the
    # cache keeps the figure when pytest-xdist tears fixtures down between batches of work.
    registry, name = request.param
    return figure_under_test(registry, name)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`--dist loadgroup`), keep the figure checks of one topic on one
    worker: its results are computed once, and each figure is built once per width."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "figure" in callspec.params:
            registry, name = callspec.params["figure"]
            item.add_marker(pytest.mark.xdist_group(registry.topic))
