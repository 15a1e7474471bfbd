"""The one way figures reach the disk: PNG at 300 DPI and PDF with Type 42 fonts, byte-identical
on every run (no timestamps or software versions in the files), written atomically.
"""
from __future__ import annotations

import io
import logging

from records.atomic import write_atomic

__all__ = ["DPI", "FORMATS", "freeze_layout", "render", "write_atomic"]

DPI = 300
FORMATS = ("png", "pdf")

# Metadata matplotlib would otherwise write: creation dates and version strings change between
# runs and machines, so they are dropped. The PNG keeps its pHYs chunk (the DPI).
_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


def freeze_layout(fig) -> None:
    """Run the layout engine once and keep its result: every format then gets the very same
    positions (whatever the order they are saved in), and none pays for the layout again."""
    if fig.get_layout_engine() is not None:
        fig.draw_without_rendering()
        fig.set_layout_engine("none")


def render(fig, fmt: str) -> bytes:
    """The bytes of `fig` in format `fmt` ('png' or 'pdf'), at its declared size."""
    if fmt not in _METADATA:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt != "png" or fig.dpi != DPI:
        freeze_layout(fig)  # the PNG draw lays out at 300 DPI itself, as freezing would
    # fontTools logs a harmless note about the TeX fonts' 1990s timestamps when it subsets them.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI, metadata=_METADATA[fmt],
                bbox_inches=None, pad_inches=0)
    fig.set_layout_engine("none")  # keep the layout this draw computed for any other format
    return buffer.getvalue()
