"""The table of colour meanings: one colour means one thing in every chapter of the book.

A figure never picks a hue for its looks. It asks this table for what it draws:

- a **method** of training (full fine-tuning, LoRA, QLoRA, adapter layers, gated sample
  selection, and random selection, its control, in ink): `method("lora")`;
- a **component** of training memory (weights, gradients, optimizer states, activations,
  quantization constants; trained adapter parameters are the same components, hatched):
  `component("gradients")`;
- a **role** (training / validation, before / after, ours / published, baseline, reference
  lines, frozen parts): `role("validation")`; `role("published").on(colour)` draws a published
  value (an open diamond) in a method's colour. Roles are line styles, fills and markers in neutral
  ink, so they combine with a method's colour; the one role with a hue of its own is validation
  (held-out data), drawn orange where no method colours the run;
- **ordered values** of a sweep (ranks, learning rates, train fractions, runs ordered by the
  setting that varies): `ordered(n)`, evenly spaced colours of the sequential colour map;
- **unnamed series** that mean nothing beyond their own panel (three number formats, two
  quantization schemes): `unnamed(n)`, neutral greys told apart by line style and marker.

Method and component hues are disjoint, so a reader who learned "green is LoRA" in one chapter
and "red is gradients" in another is never misled. Method hues are pairwise at least 15
CAM02-UCS units apart under simulated deuteranomaly and protanomaly, as are component hues
(the component hues are Paul Tol's "bright" scheme; the method hues come from his "muted" and
"medium-contrast" schemes, https://personal.sron.nl/~pault/).

Every lookup is recorded while `tracking()` is active: the tests build each figure under it and
fail when the figure draws a hue that no lookup gave it, when two meanings share a colour within
a figure, or when a legend names a method or component in a colour that is not its own.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from .palette import GREY, INK, MUTED, SEQUENTIAL_CMAP

# --- the hues (private: topics ask for meanings, not hues) --------------------------------------

# Methods.
_INDIGO = "#332288"
_GREEN = "#228833"
_TEAL = "#44AA99"
_WINE = "#882255"
_STEEL = "#6699CC"
# Memory components (Tol "bright").
_BLUE = "#4477AA"
_RED = "#EE6677"
_YELLOW = "#CCBB44"
_CYAN = "#66CCEE"
_PURPLE = "#AA3377"
# Held-out data.
_ORANGE = "#EE7733"

ADAPTER_HATCH = "////"
"""Hatching that marks a memory component as belonging to the trained adapters."""


@dataclass(frozen=True)
class Meaning:
    """What a colour stands for, and how the book draws it."""

    key: str
    group: str               # "method", "component" or "role"
    label: str               # how legends and captions name it
    color: str
    linestyle: str = "-"
    marker: str = "o"
    hatch: str = ""
    aliases: tuple[str, ...] = ()
    hollow: bool = False     # markers drawn open (published values)

    @property
    def line(self) -> dict:
        """Keyword arguments for `Axes.plot`: colour, line style and marker (open for a hollow
        meaning)."""
        style = {"color": self.color, "linestyle": self.linestyle, "marker": self.marker}
        return {**style, "markerfacecolor": "white"} if self.hollow else style

    def on(self, color) -> dict:
        """This role's line style and marker in another meaning's colour (a method's published
        value: `role("published").on(method("qlora").color)`)."""
        return {**self.line, "color": color}

    @property
    def fill(self) -> dict:
        """Keyword arguments for `Axes.bar` / `fill_between`: face colour and hatch (the hatch
        drawn in ink, so it shows on every face colour)."""
        return {"facecolor": self.color, "hatch": self.hatch, "edgecolor": INK if self.hatch
                else self.color, "linewidth": 0.4 if self.hatch else 0}

    def legend_patch(self, label: str | None = None, **overrides):
        """A legend handle for a filled area of this meaning (bars, bands), labelled with
        `label` (default: the meaning's own label)."""
        from matplotlib.patches import Patch

        return Patch(**{**self.fill, **overrides}, label=self.label if label is None else label)

    @property
    def names(self) -> tuple[str, ...]:
        """Every way a legend may name it (lower case)."""
        return (self.label.lower(), *(a.lower() for a in self.aliases))


_TABLE: tuple[Meaning, ...] = (
    # Methods: one hue each.
    Meaning("full", "method", "full fine-tuning", _INDIGO, marker="s",
            aliases=("full", "full FT", "16-bit full fine-tuning")),
    Meaning("lora", "method", "LoRA", _GREEN, marker="o"),
    Meaning("qlora", "method", "QLoRA", _TEAL, marker="^"),
    Meaning("adapter_layers", "method", "adapter layers", _WINE, marker="D",
            aliases=("adapters (Houlsby)", "Houlsby adapters", "bottleneck adapters")),
    Meaning("gated", "method", "gated selection", _STEEL, marker="v",
            aliases=("gated", "selective backprop", "gated run")),
    # Random sample selection: the control of gated selection, in ink with its own marker.
    Meaning("random", "method", "random selection", INK, "-.", marker="X",
            aliases=("random",)),
    # Memory components: one hue each; the adapters' share of a component is hatched.
    Meaning("weights", "component", "weights", _BLUE),
    Meaning("gradients", "component", "gradients", _RED),
    Meaning("optimizer_states", "component", "optimizer states", _YELLOW,
            aliases=("optimizer", "Adam states")),
    Meaning("activations", "component", "activations", _CYAN),
    Meaning("quantization_constants", "component", "quantization constants", _PURPLE,
            aliases=("constants", "absmax constants")),
    Meaning("adapters", "component", "adapters", "#FFFFFF", hatch=ADAPTER_HATCH,
            aliases=("adapter parameters", "trained adapters")),
    # Roles: styles in ink, to be combined with a method's colour (`on`).
    Meaning("training", "role", "training", INK, "-"),
    Meaning("validation", "role", "validation", _ORANGE, "--", marker="s",
            aliases=("held-out", "evaluation", "test")),
    Meaning("before", "role", "before", GREY, "-"),
    Meaning("after", "role", "after", INK, "-"),
    Meaning("ours", "role", "computed here", INK, "-", marker="o"),
    Meaning("published", "role", "published", INK, "none", marker="D",
            aliases=("paper", "reported"), hollow=True),
    Meaning("baseline", "role", "baseline", MUTED, "-", marker="s"),
    Meaning("reference", "role", "reference", INK, ":", marker=""),
    Meaning("frozen", "role", "frozen", GREY, "-"),
)
TABLE: dict[str, Meaning] = {m.key: m for m in _TABLE}
GROUPS = ("method", "component", "role")

# --- lookups ------------------------------------------------------------------------------------

_trackers: list[list[str]] = []


def meaning(key: str) -> Meaning:
    """The table's entry for `key` (recorded by every active `tracking()`)."""
    try:
        found = TABLE[key]
    except KeyError:
        raise KeyError(f"no meaning {key!r} in the table; known: {sorted(TABLE)} "
                       "(add a new meaning to figkit/meanings.py, not to a topic)") from None
    for used in _trackers:
        used.append(key)
    return found


def _of_group(key: str, group: str) -> Meaning:
    found = meaning(key)
    if found.group != group:
        raise KeyError(f"{key!r} is a {found.group}, not a {group}")
    return found


def method(key: str) -> Meaning:
    """A method of training: full, lora, qlora, adapter_layers, gated."""
    return _of_group(key, "method")


def component(key: str) -> Meaning:
    """A memory component: weights, gradients, optimizer_states, activations,
    quantization_constants, adapters."""
    return _of_group(key, "component")


def role(key: str) -> Meaning:
    """A role: training, validation, before, after, ours, published, baseline, reference,
    frozen."""
    return _of_group(key, "role")


def adapter_share(key: str) -> dict:
    """Fill for the trained adapters' share of memory component `key` (its colour, hatched)."""
    meaning("adapters")  # what the hatch means, for the checks
    return {**component(key).fill, "hatch": ADAPTER_HATCH, "edgecolor": INK, "linewidth": 0.4}


def ordered(n: int, cmap: str = SEQUENTIAL_CMAP, low: float = 0.0, high: float = 0.85
            ) -> list[tuple[float, float, float]]:
    """n colours for ordered values (low to high), evenly spaced along the sequential map; the
    map's palest end is left out so every colour shows on white. (Stopping earlier, before the
    map's yellow comes near the optimizer states', leaves six values too close together for
    colour-blind readers: 0.66 gives 9.7 CAM02-UCS units between neighbours, 0.85 gives 12.6.)"""
    from matplotlib import colormaps

    if n < 1:
        raise ValueError(f"need at least one value, got {n}")
    ramp = colormaps[cmap]
    spots = [low] if n == 1 else [low + (high - low) * i / (n - 1) for i in range(n)]
    return [tuple(float(c) for c in ramp(s)[:3]) for s in spots]


#: Markers of ordered values, by rank of the value (the same value of a sweep keeps its marker
#: in every chapter): no square (validation, the baseline, full fine-tuning) and no diamond
#: (published values, adapter layers), which the table gives other meanings.
ORDERED_MARKERS = ("o", "^", "v", "h", "P", "*")


def ordered_markers(n: int) -> list[str]:
    """Markers for n ordered values (low to high), a second channel beside `ordered(n)`."""
    if not 0 < n <= len(ORDERED_MARKERS):
        raise ValueError(f"at most {len(ORDERED_MARKERS)} ordered values, asked for {n}")
    return list(ORDERED_MARKERS[:n])


#: Dashes mean validation, dots reference lines, squares and grey the baseline, diamonds
#: published values: unnamed series are told apart by other line styles and markers.
_UNNAMED = ((INK, "-", "o"), (MUTED, "-.", "^"), (INK, (0, (6, 2, 1, 2, 1, 2)), "P"),
            (MUTED, (0, (4, 1, 1, 1)), "v"), (INK, (0, (3, 1, 3, 1, 1, 1)), "p"))


def unnamed(n: int) -> list[dict]:
    """Styles for n series that mean nothing beyond their own panel: neutral greys told apart by
    line style and marker, so no hue of the table is borrowed."""
    if not 0 < n <= len(_UNNAMED):
        raise ValueError(f"at most {len(_UNNAMED)} unnamed series per panel, asked for {n}")
    return [{"color": c, "linestyle": ls, "marker": m} for c, ls, m in _UNNAMED[:n]]


@contextlib.contextmanager
def tracking():
    """Record the keys looked up inside the block: `with tracking() as used: ...`."""
    used: list[str] = []
    _trackers.append(used)
    try:
        yield used
    finally:
        _trackers.remove(used)


def named_in(text: str) -> Meaning | None:
    """The method or component a legend entry names, if it starts with one ("LoRA, r = 8"),
    else None."""
    lowered = text.strip().lower()
    best = None
    for entry in _TABLE:
        if entry.group == "role":
            continue
        for name in entry.names:
            if re.match(re.escape(name) + r"(?![\w-])", lowered) and (
                    best is None or len(name) > best[0]):
                best = (len(name), entry)
    return best[1] if best else None
