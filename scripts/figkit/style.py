"""The look of every figure: matplotlib's defaults, seaborn's "ticks" theme, then study.mplstyle.

Nothing is applied at import time. `rc_params()` returns a plain dict (as tueplots does) and
`applied()` sets it for the duration of a `with` block, so a user's own matplotlibrc never leaks in.
"""
from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path

import matplotlib as mpl

STYLE_FILE = Path(__file__).with_name("study.mplstyle")

# Keys that select GUI backends or interactive behaviour; figures never depend on them.
_SESSION_KEYS = {"backend", "backend_fallback", "interactive", "webagg.address", "webagg.port",
                 "webagg.port_retries", "webagg.open_in_browser", "toolbar", "timezone"}


@lru_cache(maxsize=1)
def _rc_params() -> tuple:
    import seaborn as sns  # imported here: the theme is applied when a figure is built

    rc = {k: v for k, v in mpl.rcParamsDefault.items() if k not in _SESSION_KEYS}
    rc.update(sns.axes_style("ticks"))
    rc.update(mpl.rc_params_from_file(STYLE_FILE, use_default_template=False))
    return tuple(rc.items())


def _sheet_size(key: str) -> float:
    """A font size (points) as study.mplstyle sets it."""
    return float(mpl.rc_params_from_file(STYLE_FILE, use_default_template=False)[key])


#: Font size of annotations, notes and labels inside a plot: the size the style sheet gives
#: tick labels and legends (7 pt). Write `fontsize=SMALL`, never a number.
SMALL: float = _sheet_size("legend.fontsize")
#: Font size of axis labels, panel titles and body text in diagrams (8 pt).
NORMAL: float = _sheet_size("font.size")


def rc_params() -> dict:
    """All rcParams of the study style as a new dict."""
    return dict(_rc_params())


@contextlib.contextmanager
def applied():
    """Apply the study style inside a `with` block (building, drawing and saving a figure),
    with log scales that place points the same on every CPU (figkit.scales)."""
    from .scales import reproducible_log_scale

    with mpl.rc_context(rc_params()), reproducible_log_scale():
        yield
