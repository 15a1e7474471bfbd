"""Numbers a figure shows, exported to numbers.tex so the prose quotes the very same values.

A result function declares `numbers.add("GradientRatio", 1234.5, ",.0f")`; the drawing function
writes `result.numbers["GradientRatio"]` ("1,234") on the figure, and numbers.tex gets
`\\newcommand{\\FineTuningGradientRatio}{1,234}`. Nothing here imports matplotlib.
"""
from __future__ import annotations

import math
import re

_KEY = re.compile(r"^[A-Z][A-Za-z]*$")


def format_number(value: float, fmt: str) -> tuple[str, str]:
    """(figure text, LaTeX text) of `value`.

    `fmt` is a Python format spec (".2f", ",.0f", ".0%", ",d" for integers) or "sci<d>" for d
    decimals in scientific
    notation, e.g. sci0 gives 3x10^-5 typeset as math. Figure text uses mathtext where math is
    needed; the LaTeX text is wrapped in \\ensuremath so it works in and out of math mode.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot export non-finite number {value!r}")
    if fmt.startswith("sci"):
        decimals = int(fmt[3:] or 0)
        exponent = math.floor(math.log10(abs(value))) if value else 0
        mantissa = round(value / 10**exponent, decimals)
        if abs(mantissa) >= 10:  # rounding carried into the next decade
            mantissa, exponent = mantissa / 10, exponent + 1
        if mantissa == 1 and decimals == 0:
            math_text = f"10^{{{exponent}}}"
        else:
            math_text = f"{mantissa:.{decimals}f}\\times10^{{{exponent}}}"
        return f"${math_text}$", f"\\ensuremath{{{math_text}}}"
    if fmt.endswith("d"):  # integers: refuse to silently round a fraction away
        if value != int(value):
            raise ValueError(f"format {fmt!r} needs an integer, got {value!r}")
        text = format(int(value), fmt)
    else:
        text = format(value, fmt)
    tex = text.replace("%", "\\%")
    if text.startswith("-"):
        return "$-$" + text[1:], "\\ensuremath{-}" + tex[1:]
    return text, tex


_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def spell(text) -> str:
    """Any name or number as letters for a macro key: 0.3 -> 'ZeroPointThree',
    'wd_0.3' -> 'WdZeroPointThree' (LaTeX macro names take letters only)."""
    text = f"{text:g}" if isinstance(text, (int, float)) else str(text)
    out = []
    for word in re.split(r"[^A-Za-z0-9.]+", text):
        for part in re.findall(r"[A-Za-z]+|[0-9]|\.", word):
            out.append(_DIGITS[int(part)] if part.isdigit() else
                       "Point" if part == "." else part.capitalize())
    return "".join(out)


class Numbers:
    """The annotated numbers of one figure, in the order they were added."""

    def __init__(self):
        self._items: dict[str, tuple[str, str, float]] = {}

    def add(self, key: str, value: float, fmt: str = ".3g") -> str:
        """Record `value` under `key` (CamelCase letters) and return its figure text."""
        if not _KEY.match(key):
            raise ValueError(f"number key {key!r} must be CamelCase letters "
                             "(it becomes a LaTeX macro)")
        text, tex = format_number(value, fmt)
        if key in self._items and self._items[key][1] != tex:
            raise ValueError(f"number {key!r} added twice with different values")
        self._items[key] = (text, tex, float(value))
        return text

    def add_list(self, key: str, values, fmt: str = "d") -> str:
        """Record a list of numbers (e.g. key frequencies) as one macro: '14, 35, 41'."""
        texts = [format_number(v, fmt) for v in values]
        if not texts:
            raise ValueError(f"number list {key!r} is empty")
        if not _KEY.match(key):
            raise ValueError(f"number key {key!r} must be CamelCase letters "
                             "(it becomes a LaTeX macro)")
        text, tex = ", ".join(t for t, _ in texts), ", ".join(t for _, t in texts)
        if key in self._items and self._items[key][1] != tex:
            raise ValueError(f"number {key!r} added twice with different values")
        self._items[key] = (text, tex, float("nan"))
        return text

    def tex_items(self) -> list[tuple[str, str]]:
        """[(key, LaTeX text)] in insertion order."""
        return [(key, tex) for key, (_, tex, _) in self._items.items()]

    def value(self, key: str) -> float:
        return self._items[key][2]

    def __getitem__(self, key: str) -> str:
        """The figure text of `key`, as `add` returned it."""
        if key not in self._items:
            raise KeyError(f"no number {key!r}; the result declares {', '.join(self._items)}")
        return self._items[key][0]

    def keys(self) -> list[str]:
        return list(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
