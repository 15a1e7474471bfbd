"""Registry of a topic's figures. Each figure is two plain functions bound to its file name:

- a *result* function that computes everything the figure shows (a small frozen dataclass, or
  the recorded run it reads) and declares the numbers it exports to numbers.tex in a
  `figkit.numbers.Numbers` held as its `numbers` attribute; it never imports matplotlib;
- a *drawing* function `draw(fig, result)` that only draws what it is given;

with a one-sentence caption, a width (fraction of \\textwidth) and an aspect (height / width) or
a fixed height. Results are computed once per process and shared by every figure that asks.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import save
from .numbers import Numbers
from .sizes import figsize

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FigureSpec:
    name: str
    caption: str
    draw: Callable[[Figure, Any], None]
    result: Callable[[], Any] | None
    width: float
    aspect: float
    height: float | None = None

    def size(self, textwidth_in: float) -> tuple[float, float]:
        """(width, height) in inches; a fixed `height` (for tables and diagrams, whose text does
        not shrink with the width) overrides the aspect."""
        w, h = figsize(textwidth_in, self.width, self.aspect)
        return (w, self.height if self.height is not None else h)

    @property
    def source(self) -> str:
        """Where the code lives, e.g. 'scripts/lora.py: rank_comparison_result, rank_comparison'."""
        draw = inspect.unwrap(getattr(self.draw, "func", self.draw))  # a partial's function
        path = Path(inspect.getsourcefile(draw)).resolve()
        try:
            path = path.relative_to(ROOT)
        except ValueError:
            pass
        names = [draw.__name__]
        if self.result is not None and getattr(self.result, "__name__", "<lambda>") != "<lambda>":
            names.insert(0, self.result.__name__)
        return f"{path.as_posix()}: {', '.join(names)}"


def numbers_of(result) -> Numbers:
    """The numbers a result exports (none when it declares no `numbers`)."""
    numbers = getattr(result, "numbers", None)
    return numbers if isinstance(numbers, Numbers) else Numbers()


class Registry:
    """The figures of one topic, in registration order."""

    def __init__(self, topic: str):
        if not _NAME.match(topic):
            raise ValueError(f"topic {topic!r} must be a lower_case module name")
        self.topic = topic
        #: Where figures.tex points \includegraphics and how it names labels and numbers.tex
        #: macros: None for the book (images/<topic>/, fig:<topic>:...); set for a user's runs.
        self.graphics_dir: str | None = None
        self.namespace: str | None = None
        self._specs: dict[str, FigureSpec] = {}
        self._results: dict[str, Any] = {}
        self._files: list = []

    def figure(self, caption: str, result: Callable[[], Any] | None = None, width: float = 1.0,
               aspect: float = 0.5, height: float | None = None):
        """Decorator: register `draw(fig, result)` under its function name, with the function
        `result()` that computes what it draws.

        The figure is `width` x \\textwidth wide and `aspect` x its width high, or `height`
        inches high when given."""
        def register(draw):
            self.add(draw.__name__, draw, caption, result=result, width=width, aspect=aspect,
                     height=height)
            return draw

        return register

    def add(self, name: str, draw, caption: str, result: Callable[[], Any] | None = None,
            width: float = 1.0, aspect: float = 0.5, height: float | None = None) -> None:
        """Register `draw(fig, result())` under `name` (for figures made per run, say)."""
        caption = " ".join(caption.split())
        if not caption.endswith("."):
            raise ValueError(f"caption must be a sentence ending with a full stop: {caption!r}")
        if not _NAME.match(name) or name in self._specs:
            raise ValueError(f"figure name {name!r} is invalid or registered twice")
        if result is not None and not callable(result):
            raise TypeError(f"result of {name!r} must be a function that computes it")
        figsize(6.0, width, aspect)  # validates width and aspect now, not at build time
        self._specs[name] = FigureSpec(name, caption, draw, result, width, aspect, height)

    def add_file(self, write) -> None:
        """Register `write() -> {file name: text}`: extra files written beside the figures
        (e.g. summary tables), atomically and only when every figure has drawn."""
        self._files.append(write)

    def extra_files(self) -> dict[str, str]:
        files: dict[str, str] = {}
        for write in self._files:
            files.update(write())
        return files

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    @property
    def specs(self) -> list[FigureSpec]:
        return list(self._specs.values())

    def __getitem__(self, name: str) -> FigureSpec:
        return self._specs[name]

    @property
    def default_outdir(self) -> Path:
        return ROOT / "images" / self.topic

    def result(self, name: str):
        """The result figure `name` draws, computed on first use and kept for this process."""
        if name not in self._results:
            spec = self._specs[name]
            self._results[name] = spec.result() if spec.result is not None else None
        return self._results[name]

    def numbers(self, name: str) -> Numbers:
        """The numbers figure `name` exports to numbers.tex: from its result, nothing drawn."""
        return numbers_of(self.result(name))

    def build(self, name: str, textwidth_in: float) -> Figure:
        """Draw figure `name` at print size. Call inside `figkit.style.applied()`: the style is
        read while drawing and saving as well as while building."""
        spec = self._specs[name]
        result = self.result(name)
        fig = Figure(figsize=spec.size(textwidth_in), dpi=save.DPI)
        FigureCanvasAgg(fig)
        spec.draw(fig, result)
        return fig

    def main(self, argv=None) -> int:
        from .cli import main

        return main(self, argv)
