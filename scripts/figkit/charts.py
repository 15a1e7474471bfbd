"""Chart pieces more than one topic draws: grouped bars and labelled reference lines."""
from __future__ import annotations

import numpy as np

from .palette import INK


def grouped_bars(ax, categories, series: dict, colors, hatches=None, width: float = 0.8,
                 horizontal: bool = False, **kwargs):
    """One group of bars per category, one bar per series (in dict order); returns the bar
    containers. `width` is the width of a whole group."""
    hatches = hatches or [""] * len(series)
    bar_width = width / len(series)
    positions = np.arange(len(categories), dtype=float)
    containers = []
    rows = zip(series.items(), colors, hatches, strict=False)  # colours may outnumber series
    for j, ((label, values), color, hatch) in enumerate(rows):
        offset = positions + (j - (len(series) - 1) / 2) * bar_width
        draw = ax.barh if horizontal else ax.bar
        containers.append(draw(offset, values, bar_width, color=color, hatch=hatch,
                               label=label, edgecolor="white", linewidth=0.3, **kwargs))
    if horizontal:
        ax.set_yticks(positions, categories)
    else:
        ax.set_xticks(positions, categories)
    return containers


def reference_lines(ax, lines, horizontal: bool = True, fontsize: float = 7):
    """Dotted lines at the given values, labelled just outside the axes (right or top)."""
    for value, label in lines:
        if horizontal:
            ax.axhline(value, color=INK, lw=0.5, ls=":")
            ax.text(1.01, value, label, transform=ax.get_yaxis_transform(), va="center",
                    ha="left", fontsize=fontsize)
        else:
            ax.axvline(value, color=INK, lw=0.5, ls=":")
            ax.text(value, 1.01, label, transform=ax.get_xaxis_transform(), va="bottom",
                    ha="center", fontsize=fontsize, rotation=90)


def log_if_wide(ax, values, axis: str = "y", decades: float = 1.3) -> bool:
    """A log scale when the positive `values` span more than `decades` decades (labels on the
    decades only), a linear one otherwise, so that no axis is left without tick labels."""
    from matplotlib.ticker import NullFormatter

    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    wide = len(values) > 0 and values.min() > 0 and np.log10(values.max() / values.min()) > decades
    if wide:
        getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())
    return wide
