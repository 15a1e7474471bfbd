"""The one way figures reach the disk: PNG at 300 DPI and PDF with Type 42 fonts, byte-identical
on every run (no timestamps or software versions in the files), written atomically.
"""
from __future__ import annotations

import io
import logging

from records.atomic import write_atomic

__all__ = ["DPI", "FORMATS", "SNAP_PT", "freeze_layout", "pin_ticks", "render", "snap_axes",
           "write_atomic"]

DPI = 300
FORMATS = ("png", "pdf")

# Metadata matplotlib would otherwise write: creation dates and version strings change between
# runs and machines, so they are dropped. The PNG keeps its pHYs chunk (the DPI).
_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


#: The grid, in points, the laid-out axes are snapped to. The layout engine measures text in
#: whole fractions of a pixel and adds margins computed through logarithms (log-scaled axes),
#: whose last bits differ between CPUs (numpy's SIMD kernels); an edge that falls exactly halfway
#: between two of the PDF's printed decimals can then print differently. Snapping every edge to
#: a grid of sevenths of a point, whose midpoints no pixel measure or decimal margin can equal,
#: gives the same positions on every CPU; the shift (at most 1/14 pt) is invisible.
SNAP_PT = 1 / 7


def freeze_layout(fig) -> None:
    """Run the layout engine once and keep its result, snapped to SNAP_PT: every format then gets
    the very same positions (whatever the order they are saved in), on every CPU, and none pays
    for the layout again."""
    engine = fig.get_layout_engine()
    if engine is not None:
        # What Figure.draw does before drawing: place the axes that have a locator and apply
        # the axes' aspect, then run the engine. The artists are not drawn: the file's own draw
        # does that once.
        fig._get_draw_artists(fig._get_renderer())  # (as the engine itself gets it)
        engine.execute(fig)
        fig.set_layout_engine("none")
        snap_axes(fig)
    pin_ticks(fig)


def pin_ticks(fig) -> None:
    """Fix every axis's ticks where its locator puts them now, at the PNG's resolution: a
    locator that fits as many ticks as the axis has room for counts that room anew at each
    draw, and the PDF's draw (at 72 DPI) can round it the other way and print other ticks."""
    from matplotlib.axes import Axes
    from matplotlib.ticker import FixedLocator

    for ax in fig.findobj(Axes):
        for axis in (ax.xaxis, ax.yaxis, getattr(ax, "zaxis", None)):
            if axis is None:
                continue
            for major in (True, False):
                locator = axis.get_major_locator() if major else axis.get_minor_locator()
                if isinstance(locator, FixedLocator):
                    continue
                locs = axis.get_majorticklocs() if major else axis.get_minorticklocs()
                (axis.set_major_locator if major else axis.set_minor_locator)(
                    FixedLocator(locs))


def snap_axes(fig) -> None:
    """Move every laid-out axes' edges to the nearest multiple of SNAP_PT."""
    from matplotlib.axes import Axes

    width, height = fig.get_size_inches() * 72
    for ax in fig.findobj(Axes):
        if ax.get_axes_locator() is not None:  # placed from its parent at every draw
            continue
        x0, y0, x1, y1 = ax.get_position(original=True).extents
        x0, x1 = (round(x * width / SNAP_PT) * SNAP_PT / width for x in (x0, x1))
        y0, y1 = (round(y * height / SNAP_PT) * SNAP_PT / height for y in (y0, y1))
        ax.set_position([x0, y0, x1 - x0, y1 - y0], which="both")


def render(fig, fmt: str) -> bytes:
    """The bytes of `fig` in format `fmt` ('png' or 'pdf'), at its declared size."""
    if fmt not in _METADATA:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    freeze_layout(fig)
    # fontTools logs a harmless note about the TeX fonts' 1990s timestamps when it subsets them.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI, metadata=_METADATA[fmt],
                bbox_inches=None, pad_inches=0)
    fig.set_layout_engine("none")  # keep the layout this draw computed for any other format
    return buffer.getvalue()
