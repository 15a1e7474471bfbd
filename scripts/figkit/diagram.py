"""Boxes and arrows for schematic figures.

A box is a Text artist with a rounded bbox, so it grows with its text and the layout checks see
the whole box; arrows attach to boxes (not to coordinates), so they stay joined at any width.
"""
from __future__ import annotations

from matplotlib.patches import FancyArrowPatch

from .palette import INK, tint


def canvas(fig, xlim=(0, 1), ylim=(0, 1)):
    """An axes without axes, for a diagram laid out in the given coordinates."""
    ax = fig.add_subplot()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_axis_off()
    return ax


def box(ax, x, y, text, color=INK, fill=0.85, fontsize=8, ha="center", va="center", pad=0.45,
        **kwargs):
    """A rounded box with `text` centred at data point (x, y); returns the Text artist."""
    return ax.text(
        x, y, text, ha=ha, va=va, fontsize=fontsize, color=INK, multialignment="center",
        bbox=dict(boxstyle=f"round,pad={pad}", facecolor=tint(color, fill), edgecolor=color,
                  linewidth=0.8),
        **kwargs,
    )


def arrow(ax, start, end, color=INK, style="-|>", shrink=2.0, linestyle="-", connection="arc3",
          **kwargs):
    """An arrow from artist (or point) `start` to `end`; boxes are joined edge to edge."""
    patch = FancyArrowPatch(
        posA=None if hasattr(start, "get_window_extent") else start,
        posB=None if hasattr(end, "get_window_extent") else end,
        arrowstyle=style, mutation_scale=8, color=color, linewidth=0.9, linestyle=linestyle,
        shrinkA=shrink, shrinkB=shrink, connectionstyle=connection, **kwargs)
    ax.add_patch(patch)
    return patch


def link(ax, a, b, side_a, side_b, color=INK, text=None, fontsize=7, **kwargs):
    """Arrow from side `side_a` of box a to side `side_b` of box b.

    Sides are (fx, fy) fractions of the box: (1, 0.5) is the middle of the right edge.
    """
    ann = ax.annotate(
        "", xy=side_b, xycoords=b.get_bbox_patch() if hasattr(b, "get_bbox_patch") else b,
        xytext=side_a, textcoords=a.get_bbox_patch() if hasattr(a, "get_bbox_patch") else a,
        arrowprops=dict(arrowstyle="-|>", mutation_scale=8, color=color, linewidth=0.9,
                        shrinkA=1, shrinkB=1, **kwargs))
    return ann
