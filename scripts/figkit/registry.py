"""Registry of a topic's figures: each is a drawing function registered under its file name
with a one-sentence caption, a width (fraction of \\textwidth) and an aspect (height / width)."""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .numbers import Numbers
from . import save
from .sizes import figsize

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class FigureSpec:
    name: str
    caption: str
    draw: Callable[[Figure, Numbers], None]
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
        """Where the drawing code lives, e.g. 'scripts/lora.py: rank_comparison'."""
        path = Path(inspect.getsourcefile(self.draw)).resolve()
        try:
            path = path.relative_to(ROOT)
        except ValueError:
            pass
        return f"{path.as_posix()}: {self.draw.__name__}"


class Registry:
    """The figures of one topic, in registration order."""

    def __init__(self, topic: str):
        if not _NAME.match(topic):
            raise ValueError(f"topic {topic!r} must be a lower_case module name")
        self.topic = topic
        self._specs: dict[str, FigureSpec] = {}
        self._files: list = []

    def figure(self, caption: str, width: float = 1.0, aspect: float = 0.5,
               height: float | None = None):
        """Decorator: register `draw(fig, numbers)` under its function name.

        The figure is `width` x \\textwidth wide and `aspect` x its width high, or `height`
        inches high when given."""
        def register(draw):
            self.add(draw.__name__, draw, caption, width, aspect, height)
            return draw

        return register

    def add(self, name: str, draw, caption: str, width: float = 1.0, aspect: float = 0.5,
            height: float | None = None) -> None:
        """Register `draw(fig, numbers)` under `name` (for figures made per run, say)."""
        caption = " ".join(caption.split())
        if not caption.endswith("."):
            raise ValueError(f"caption must be a sentence ending with a full stop: {caption!r}")
        if not _NAME.match(name) or name in self._specs:
            raise ValueError(f"figure name {name!r} is invalid or registered twice")
        figsize(6.0, width, aspect)  # validates width and aspect now, not at build time
        self._specs[name] = FigureSpec(name, caption, draw, width, aspect, height)

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

    def build(self, name: str, textwidth_in: float) -> tuple[Figure, Numbers]:
        """Draw figure `name` at print size. Call inside `figkit.style.applied()`: the style is
        read while drawing and saving as well as while building."""
        spec = self._specs[name]
        fig = Figure(figsize=spec.size(textwidth_in), dpi=save.DPI)
        FigureCanvasAgg(fig)
        numbers = Numbers()
        spec.draw(fig, numbers)
        return fig, numbers

    def main(self, argv=None) -> int:
        from .cli import main

        return main(self, argv)
