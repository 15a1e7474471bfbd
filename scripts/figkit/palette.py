"""Colours, line styles and markers shared by every figure.

Series colours are Paul Tol's "bright" scheme (https://personal.sron.nl/~pault/), chosen for
readers with colour-vision deficiency: under simulated deuteranopia and protanopia its colours
stay at least 15 CAM02-UCS units apart (tests/test_palette.py measures it). Where series must be
told apart in grey-scale print too, pair each colour with a line style or marker from `series()`.
"""
from __future__ import annotations

BLUE = "#4477AA"
RED = "#EE6677"
GREEN = "#228833"
YELLOW = "#CCBB44"
CYAN = "#66CCEE"
PURPLE = "#AA3377"
GREY = "#BBBBBB"

#: Order in which distinct series take colours.
SERIES_COLORS = (BLUE, RED, GREEN, YELLOW, CYAN, PURPLE)
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)))
MARKERS = ("o", "s", "^", "D", "v", "P")

#: Text and frames: near-black; light fills for diagram boxes and table bands.
INK = "#262626"
MUTED = "#6E6E6E"
LIGHT = "#EEEEEE"

#: Colour maps for heat maps: perceptually uniform and colour-blind-safe. Signed values (weight
#: updates, activations) take the diverging purple-orange map, centred on zero.
SEQUENTIAL_CMAP = "cividis"
DIVERGING_CMAP = "PuOr_r"
ALLOWED_CMAPS = frozenset({"cividis", "viridis", "magma", "inferno", "plasma", "Greys", "gray",
                           "PuOr"})


def series(n: int) -> list[dict]:
    """Styles for n distinct series: colour plus line style and marker as a second channel."""
    if not 0 < n <= len(SERIES_COLORS):
        raise ValueError(f"at most {len(SERIES_COLORS)} distinct series per panel, asked for {n}")
    return [
        {"color": SERIES_COLORS[i], "linestyle": LINESTYLES[i], "marker": MARKERS[i]}
        for i in range(n)
    ]


def tint(color: str, amount: float) -> tuple[float, float, float]:
    """`color` mixed with white: amount 0 gives the colour, 1 gives white (for box fills)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)
