"""Figure sizes from the document's \\textwidth.

A figure declares its width as a fraction of the text width and its aspect (height / width).
It is saved at exactly that size, so the document includes it at natural size and an 8 pt
label prints at 8 pt.
"""
from __future__ import annotations

import re
from pathlib import Path

TEX_PT_PER_IN = 72.27  # TeX point: 1 in = 72.27 pt (a PostScript "bp" is 1/72 in)
UNITS_PER_IN = {"pt": TEX_PT_PER_IN, "bp": 72.0, "in": 1.0, "cm": 2.54, "mm": 25.4}

#: The project's default text width lives in textwidth.txt at the top of the project, so that
#: `make textwidth DOC=main.tex` can set it from a real document. The study document (A4, 11 pt,
#: geometry margin=0.8in) measures 481.87546pt with LaTeX (210 mm - 1.6 in; about 481.89 pt).
TEXTWIDTH_FILE = Path(__file__).resolve().parents[2] / "textwidth.txt"
STUDY_TEXTWIDTH = "481.87546pt"


def default_textwidth() -> str:
    """The project's default \\textwidth: textwidth.txt if present, else the study document's."""
    try:
        text = TEXTWIDTH_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        return STUDY_TEXTWIDTH
    return text or STUDY_TEXTWIDTH


DEFAULT_TEXTWIDTH = default_textwidth()

#: Text widths accepted from the command line, in inches: narrow columns up to a full A4/letter
#: page.
MIN_TEXTWIDTH_IN = 3.0
MAX_TEXTWIDTH_IN = 8.5

_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(pt|bp|in|cm|mm)\s*$")


class LengthError(ValueError):
    """A text width that cannot be used; the message says why."""


def parse_length(text: str) -> float:
    """Return a TeX length such as '481.89pt', '6.5in', '16.5cm' or '165mm' in inches."""
    match = _LENGTH.match(str(text))
    if not match:
        units = ", ".join(UNITS_PER_IN)
        raise LengthError(
            f"cannot read text width {text!r}: give a number with a unit ({units}), "
            "e.g. 481.89pt or 6.5in"
        )
    value, unit = float(match.group(1)), match.group(2)
    return value / UNITS_PER_IN[unit]


def textwidth_inches(text: str | None = None) -> float:
    """Parse and range-check a text width; None means the study document's default."""
    if text is None:
        try:
            inches = parse_length(DEFAULT_TEXTWIDTH)
        except LengthError as error:
            raise LengthError(f"{TEXTWIDTH_FILE}: {error}") from None
        text = DEFAULT_TEXTWIDTH
    else:
        inches = parse_length(text)
    if not MIN_TEXTWIDTH_IN <= inches <= MAX_TEXTWIDTH_IN:
        raise LengthError(
            f"text width {text!r} is {inches:.2f} in; expected {MIN_TEXTWIDTH_IN:g} to "
            f"{MAX_TEXTWIDTH_IN:g} in (a real \\textwidth)"
        )
    return inches


def figsize(textwidth_in: float, width: float = 1.0, aspect: float = 0.5) -> tuple[float, float]:
    """(width, height) in inches for a figure `width` x text width wide, height/width = aspect."""
    if not 0 < width <= 1:
        raise ValueError(f"width is a fraction of the text width in (0, 1], got {width}")
    w = textwidth_in * width
    return (w, w * aspect)
