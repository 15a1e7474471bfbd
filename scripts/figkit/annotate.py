"""Panel titles, legends above the panels and annotation arrows, the same in every figure."""
from __future__ import annotations

from .palette import INK

#: Figures narrower than this (inches) put fewer legend entries on a row.
NARROW_IN = 5.5


def panel_title(ax, letter: str, text: str) -> None:
    """'(a) Text' at the top left of a panel."""
    ax.set_title(f"({letter}) {text}", loc="left")


def legend_above(fig, ax, ncols: int, narrow_ncols: int | None = None, **kwargs):
    """One legend for the whole figure, above the panels, from the entries of `ax`; fewer
    columns when the figure is narrow, so it never runs off the canvas."""
    narrow = fig.get_figwidth() < NARROW_IN
    columns = (narrow_ncols or max(1, ncols // 2)) if narrow else ncols
    return fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center",
                      ncols=columns, **kwargs)


def arrow_props(**overrides) -> dict:
    """arrowprops for ax.annotate: a thin arrow in the ink colour."""
    props = dict(arrowstyle="-|>", color=INK, lw=0.6, mutation_scale=6, shrinkA=1, shrinkB=2)
    props.update(overrides)
    return props
