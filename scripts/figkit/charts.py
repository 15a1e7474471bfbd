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


def straight_series(ax, x, y, label=None, color=None, linestyle="-", marker="o",
                    xlog: bool = False, ylog: bool = False, **kwargs):
    """A series that is exactly straight on the axes' scales (`xlog`, `ylog`: logarithmic; a
    power law on log-log axes): markers at every point and one line through the end points;
    returns a legend handle. ValueError if a point is off the line.

    Interior vertices that lie exactly on the line make Agg's stroke joins depend on the last
    bits of the log transform, which differ between CPUs; the line through the end points is the
    same line, drawn the same on every CPU.
    """
    from matplotlib.lines import Line2D

    x, y = np.asarray(x, float), np.asarray(y, float)
    u, v = (np.log(x) if xlog else x), (np.log(y) if ylog else y)
    along = (u - u[0]) / (u[-1] - u[0])
    off = np.abs(v - (v[0] + along * (v[-1] - v[0])))
    if np.max(off) > 1e-9 * max(np.ptp(v), np.max(np.abs(v))):
        raise ValueError(f"not a straight series on these scales (a point is {np.max(off):.3g} "
                         "off the line through the end points)")
    ax.plot(x[[0, -1]], y[[0, -1]], color=color, linestyle=linestyle, **kwargs)
    ax.plot(x, y, color=color, linestyle="none", marker=marker, **kwargs)
    return Line2D([], [], color=color, linestyle=linestyle, marker=marker, label=label, **kwargs)
