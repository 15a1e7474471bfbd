"""Layout and colour checks applied to every figure by the tests.

They inspect what is actually drawn: `drawn_texts` records each Text artist as the renderer draws
it (tick labels outside the view are not drawn, so they are not checked).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from unittest import mock

import numpy as np
from matplotlib.collections import Collection, PathCollection
from matplotlib.colors import to_rgb, to_rgba, to_rgba_array
from matplotlib.container import BarContainer
from matplotlib.image import AxesImage
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

MIN_FONT_PT = 7.0
MAX_FONT_PT = 9.0
OVERLAP_TOLERANCE_PT = 0.5   # overlap smaller than this in both directions is not an overlap
MIN_CVD_DELTA_E = 12.0       # CAM02-UCS distance between distinct series colours


@dataclass
class DrawnText:
    text: str
    bbox: Bbox          # display pixels: the text, or its box (bbox patch) when it has one
    fontsize: float     # points, i.e. printed points since figures are made at print size
    artist: Text

    def __str__(self):
        return repr(self.text.replace("\n", " ")[:40])


def drawn_texts(fig, draw=None) -> list[DrawnText]:
    """Draw `fig` (with `draw()`, e.g. while saving its PNG, or `fig.canvas.draw()`) and return
    every non-empty text the renderer actually drew."""
    drawn: list[Text] = []
    original = Text.draw

    def recording_draw(self, renderer):
        if self.get_visible() and self.get_text().strip() and self.get_alpha() != 0:
            drawn.append(self)
        return original(self, renderer)

    with mock.patch.object(Text, "draw", recording_draw):
        (draw or fig.canvas.draw)()
    renderer = fig.canvas.get_renderer()
    result = []
    for artist in dict.fromkeys(drawn):  # each artist once, in drawing order
        bbox = Text.get_window_extent(artist, renderer)
        patch = artist.get_bbox_patch()
        if patch is not None and patch.get_visible():
            bbox = Bbox.union([bbox, patch.get_window_extent(renderer)])
        result.append(DrawnText(artist.get_text(), bbox, artist.get_fontsize(), artist))
    return result


# cmr10 is a TeX (OT1) font: at these ASCII positions it holds other glyphs, so outside math
# '_' prints as a dot accent, '<' as an inverted exclamation mark, '\\' as a quotation mark...
# They must be written in math ($<$, $\\_$ is not safe either: rephrase).
MISPRINTED_BY_CMR10 = set('"<>\\_{|}~')


def glyph_problems(texts) -> list[str]:
    """Characters the text font prints as a different glyph (outside $...$ math)."""
    problems = []
    for t in texts:
        if "cmr10" not in [f.lower() for f in t.artist.get_fontfamily()] + \
                [str(t.artist.get_fontname()).lower()]:
            continue
        plain = re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", t.text)
        bad = sorted(set(plain) & MISPRINTED_BY_CMR10)
        if bad:
            problems.append(f"text {t} uses {''.join(bad)!r}, which cmr10 prints as other glyphs")
    return problems


def _px_per_pt(fig) -> float:
    return fig.dpi / 72.0


def text_overlaps(fig, texts) -> list[str]:
    tol = OVERLAP_TOLERANCE_PT * _px_per_pt(fig)
    problems = []
    for a, b in itertools.combinations(texts, 2):
        w = min(a.bbox.x1, b.bbox.x1) - max(a.bbox.x0, b.bbox.x0)
        h = min(a.bbox.y1, b.bbox.y1) - max(a.bbox.y0, b.bbox.y0)
        if w > tol and h > tol:
            problems.append(f"text {a} overlaps text {b}")
    return problems


def texts_off_canvas(fig, texts) -> list[str]:
    tol = OVERLAP_TOLERANCE_PT * _px_per_pt(fig)
    width, height = fig.canvas.get_width_height()
    return [f"text {t} crosses the canvas edge ({_fmt(t.bbox)} vs {width}x{height} px)"
            for t in texts
            if t.bbox.x0 < -tol or t.bbox.y0 < -tol or t.bbox.x1 > width + tol
            or t.bbox.y1 > height + tol]


def font_sizes(texts) -> list[str]:
    return [f"text {t} is {t.fontsize:.1f} pt; "
            f"print sizes must be {MIN_FONT_PT:g}-{MAX_FONT_PT:g} pt"
            for t in texts if not MIN_FONT_PT - 1e-9 <= t.fontsize <= MAX_FONT_PT + 1e-9]


def _densify(points: np.ndarray, step_px: float = 2.0) -> np.ndarray:
    """Points along a polyline every `step_px` pixels, so a legend over a segment is caught."""
    points = points[np.all(np.isfinite(points), axis=1)]
    if len(points) < 2:
        return points
    out = [points[:1]]
    for p, q in zip(points[:-1], points[1:], strict=True):
        n = int(min(np.hypot(*(q - p)) / step_px, 2000)) + 1
        out.append(p + (q - p) * (np.arange(1, n + 1) / n)[:, None])
    return np.concatenate(out)


def _data_points(ax) -> list[tuple[str, np.ndarray]]:
    """Display coordinates of what is plotted in `ax`, clipped to its visible area."""
    clip = ax.get_window_extent()
    found = []
    for line in ax.get_lines():
        if not line.get_visible() or len(line.get_xydata()) == 0:
            continue
        pts = line.get_transform().transform(np.asarray(line.get_xydata(), float))
        pts = _densify(pts) if line.get_linestyle() not in ("None", "none", "") else pts
        found.append((f"line {line.get_label()!r}", pts))
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible() and len(coll.get_offsets()):
            pts = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float))
            found.append((f"points {coll.get_label()!r}", pts))
    result = []
    for label, pts in found:
        inside = ((pts[:, 0] >= clip.x0) & (pts[:, 0] <= clip.x1)
                  & (pts[:, 1] >= clip.y0) & (pts[:, 1] <= clip.y1))
        result.append((label, pts[inside]))
    return result


def legends(fig) -> list[Legend]:
    found = list(fig.legends)
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            found.append(legend)
    return found


def legend_hides_data(fig, drawn: bool = False) -> list[str]:
    """Legends drawn over plotted lines, points or bars of any axes (`drawn`: the figure has just
    been drawn at its DPI, so its layout and renderer can be read without drawing again)."""
    if not drawn:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    for legend in legends(fig):
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            for label, pts in _data_points(ax):
                hidden = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1)
                          & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
                if hidden.any():
                    problems.append(f"legend hides {hidden.sum()} point(s) of {label}")
            bars = [bar for container in ax.containers
                    if isinstance(container, BarContainer) for bar in container]
            for patch in bars:  # spans (axvspan) are backgrounds, not data
                if patch.get_visible() and patch.get_fill():
                    shown = patch.get_window_extent(renderer)
                    if patch.get_clip_on():  # only the part inside the axes is drawn
                        shown = Bbox.intersection(shown, ax.get_window_extent(renderer))
                        if shown is None:
                            continue
                    overlap = Bbox.intersection(box, shown)
                    if overlap is not None and overlap.width > 1 and overlap.height > 1:
                        problems.append(f"legend hides part of a bar ({patch.get_label()!r})")
    return problems


def text_hides_data(fig, texts) -> list[str]:
    """Labels and annotations written over the lines, points or bars of their axes."""
    shrink = OVERLAP_TOLERANCE_PT * _px_per_pt(fig)
    problems = []
    for ax in fig.axes:
        own = [t for t in texts if t.artist in ax.texts]
        if not own:
            continue
        points = _data_points(ax)
        bars = [bar for container in ax.containers if isinstance(container, BarContainer)
                for bar in container]
        clip = ax.get_window_extent()
        for t in own:
            box = t.bbox
            for label, pts in points:
                hidden = ((pts[:, 0] > box.x0 + shrink) & (pts[:, 0] < box.x1 - shrink)
                          & (pts[:, 1] > box.y0 + shrink) & (pts[:, 1] < box.y1 - shrink))
                if hidden.any():
                    problems.append(f"text {t} is written over {label}")
            for bar in bars:
                shown = Bbox.intersection(bar.get_window_extent(), clip)
                overlap = shown and Bbox.intersection(box, shown)
                if overlap is not None and overlap.width > shrink and overlap.height > shrink:
                    problems.append(f"text {t} is written over a bar")
                    break
    return problems


def series_colors(fig) -> list[list[tuple]]:
    """Groups of colours that must be told apart: the entries of each legend, and the coloured
    lines of each axes."""
    groups = []
    for legend in legends(fig):
        colors = []
        for handle in legend.legend_handles:
            if isinstance(handle, Line2D):
                colors.append(to_rgb(handle.get_color()))
            elif hasattr(handle, "get_facecolor"):
                face = np.asarray(handle.get_facecolor(), float).reshape(-1, 4)
                if len(face) and face[0, 3] > 0:
                    colors.append(tuple(face[0, :3]))
        groups.append(colors)
    for ax in fig.axes:
        groups.append([to_rgb(line.get_color()) for line in ax.get_lines()
                       if line.get_visible() and len(line.get_xydata()) >= 3])
    return groups


def cvd_distance(c1, c2, cvd: str | None) -> float:
    """CAM02-UCS colour difference of two sRGB colours as seen with full deuteranomaly or
    protanomaly (Machado et al. 2009, via colorspacious), or with normal vision (cvd=None)."""
    from colorspacious import cspace_convert

    pair = np.array([c1, c2], float)
    if cvd is not None:
        pair = np.clip(cspace_convert(pair, {"name": "sRGB1+CVD", "cvd_type": cvd,
                                             "severity": 100}, "sRGB1"), 0, 1)
    ucs = cspace_convert(pair, "sRGB1", "CAM02-UCS")
    return float(np.linalg.norm(ucs[0] - ucs[1]))


def colour_problems(fig) -> list[str]:
    problems = []
    for group in series_colors(fig):
        distinct = list(dict.fromkeys(tuple(round(v, 4) for v in c) for c in group))
        for c1, c2 in itertools.combinations(distinct, 2):
            for cvd in (None, "deuteranomaly", "protanomaly"):
                d = cvd_distance(c1, c2, cvd)
                if d < MIN_CVD_DELTA_E:
                    problems.append(f"colours {_hex(c1)} and {_hex(c2)} differ by only {d:.1f} "
                                    f"(CAM02-UCS) under {cvd or 'normal vision'}")
    for ax in fig.axes:
        for artist in ax.get_children():
            if isinstance(artist, (AxesImage, Collection)) and artist.get_array() is not None:
                from .palette import ALLOWED_CMAPS

                name = artist.get_cmap().name.removesuffix("_r")
                if name not in ALLOWED_CMAPS:
                    problems.append(f"colour map {name!r} is not among {sorted(ALLOWED_CMAPS)}")
    return problems


NEUTRAL_SPREAD = 0.07        # a colour whose RGB channels differ by less than this is a grey
_TINT_TOLERANCE = 2.5 / 255


def _is_neutral(rgb) -> bool:
    return max(rgb) - min(rgb) < NEUTRAL_SPREAD


def _is_tint_of(rgb, base) -> bool:
    """True when `rgb` is `base` mixed with white (`palette.tint`) or drawn with transparency over
    white: one amount in [0, 1) for every channel."""
    rgb, base = np.asarray(rgb, float), np.asarray(base, float)
    room = 1.0 - base
    amounts = [(c - b) / r for c, b, r in zip(rgb, base, room, strict=True) if r > 0.05]
    if not amounts or not all(-0.01 <= a < 1.0 for a in amounts):
        return False
    amount = float(np.clip(np.mean(amounts), 0, 1))
    return bool(np.all(np.abs(base + room * amount - rgb) <= _TINT_TOLERANCE))


def _cmap_colours() -> np.ndarray:
    from matplotlib import colormaps

    from .palette import ALLOWED_CMAPS
    return np.concatenate([colormaps[name](np.linspace(0, 1, 256))[:, :3]
                           for name in sorted(ALLOWED_CMAPS)])


def _on_colour_map(rgb, lut: np.ndarray) -> bool:
    """True when `rgb` is a colour of an allowed map, or such a colour mixed with white (the
    band around a line drawn in `meanings.ordered` colours)."""
    rgb = np.asarray(rgb, float)
    room = 1.0 - lut
    amount = np.clip(np.sum((rgb - lut) * room, axis=1)
                     / np.maximum(np.sum(room * room, axis=1), 1e-12), 0.0, 1.0)
    mixed = lut + room * amount[:, None]
    return bool(np.min(np.max(np.abs(mixed - rgb), axis=1)) <= _TINT_TOLERANCE)


def drawn_colours(fig) -> list[tuple[tuple[float, float, float], str]]:
    """Every colour the figure's artists draw with (RGB, and what drew it), leaving out colour
    mapped images and collections (their maps are checked by `colour_problems`), backgrounds,
    frames and fully transparent or unpainted parts."""
    from matplotlib.patches import Patch
    from matplotlib.spines import Spine

    backgrounds = {id(fig.patch)} | {id(ax.patch) for ax in fig.axes}
    backgrounds |= {id(legend.legendPatch) for legend in legends(fig)}
    found = []

    def add(colour, what):
        if colour is None or (isinstance(colour, str) and colour.lower() == "none"):
            return
        rgba = to_rgba_array(colour)
        for row in rgba:
            if row[3] > 0:
                # drawn with transparency over white: what the reader sees
                seen = tuple(float(v) for v in row[:3] * row[3] + (1 - row[3]))
                found.append((tuple(float(v) for v in row[:3]) if row[3] == 1 else seen, what))

    for artist in fig.findobj():
        if not artist.get_visible() or id(artist) in backgrounds or isinstance(artist, Spine):
            continue
        what = f"{type(artist).__name__} {artist.get_label()!r}"
        if isinstance(artist, Line2D):
            if artist.get_linestyle() not in ("None", "none", " ", ""):
                add(artist.get_color(), what)
            if artist.get_marker() not in (None, "None", "none", " ", ""):
                add(artist.get_markerfacecolor(), what)
                add(artist.get_markeredgecolor(), what)
        elif isinstance(artist, Collection):
            if artist.get_array() is not None:
                continue
            add(artist.get_facecolor(), what)
            if np.any(np.asarray(artist.get_linewidth(), float) > 0):
                add(artist.get_edgecolor(), what)
        elif isinstance(artist, Patch):
            if artist.get_fill():
                add(artist.get_facecolor(), what)
            if artist.get_linewidth() > 0 or artist.get_hatch():
                add(artist.get_edgecolor(), what)
        elif isinstance(artist, Text) and artist.get_text().strip():
            add(artist.get_color(), f"text {artist.get_text()[:30]!r}")
            box = artist.get_bbox_patch()  # a diagram's box is the bbox of its label
            if box is not None and box.get_visible():
                what = f"box of {artist.get_text()[:30]!r}"
                if box.get_fill():
                    add(box.get_facecolor(), what)
                if box.get_linewidth() > 0:
                    add(box.get_edgecolor(), what)
    return found


def meaning_problems(fig, used) -> list[str]:
    """Hues drawn without a meaning, and legends that name a method or component in a colour that
    is not its own. `used`: the keys of `figkit.meanings` looked up while the figure was built."""
    from . import meanings

    hues = {to_rgb(meanings.TABLE[key].color) for key in used}
    hues = {h for h in hues if not _is_neutral(h)}
    lut = None
    problems = []
    for rgb, what in drawn_colours(fig):
        if _is_neutral(rgb) or any(_is_tint_of(rgb, hue) for hue in hues):
            continue
        if lut is None:
            lut = _cmap_colours()
        if _on_colour_map(rgb, lut):
            continue
        problems.append(f"{what} is drawn in {_hex(rgb)}, a colour no meaning of the table gave "
                        f"it (figkit.meanings: method, component, role, ordered, unnamed)")
    if "adapters" not in used and not any(meanings.TABLE[key].hatch for key in used):
        from matplotlib.patches import Patch
        hatched = sorted({f"{type(a).__name__} {a.get_label()!r}" for a in fig.findobj(Patch)
                          if a.get_visible() and a.get_hatch()})
        problems += [f"{what} is hatched, but hatching means the adapters' share of memory "
                     f"(meanings.adapter_share); tell series apart by shade instead"
                     for what in hatched]
    for legend in legends(fig):
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=False):
            named = meanings.named_in(text.get_text())
            if named is None:
                continue
            if isinstance(handle, Line2D):
                colours = [to_rgb(handle.get_color())]
                if handle.get_linestyle() in ("None", "none", "", " "):
                    colours = [to_rgba(handle.get_markerfacecolor())[:3],
                               to_rgba(handle.get_markeredgecolor())[:3]]
            else:  # patches, collections (errorbars: a line collection without faces)
                colours = [tuple(row[:3]) for getter in ("get_facecolor", "get_edgecolor",
                                                         "get_color")
                           if hasattr(handle, getter)
                           for row in to_rgba_array(getattr(handle, getter)()) if row[3] > 0]
            if not colours:
                continue
            own = to_rgb(named.color)
            if not any(np.allclose(c, own, atol=_TINT_TOLERANCE) or _is_tint_of(c, own)
                       for c in colours):
                problems.append(f"legend entry {text.get_text()!r} names {named.key!r} but is "
                                f"drawn in {_hex(colours[0])}, not its colour {named.color}")
    return sorted(set(problems))


def layout_problems(fig, draw=None) -> list[str]:
    """Every layout problem of a figure: overlapping, clipped or wrongly sized text, legends
    or labels over data. `draw()` draws the figure at its DPI (default: `fig.canvas.draw`)."""
    texts = drawn_texts(fig, draw)
    return (text_overlaps(fig, texts) + texts_off_canvas(fig, texts) + font_sizes(texts)
            + glyph_problems(texts)
            + legend_hides_data(fig, drawn=True) + text_hides_data(fig, texts))


def _fmt(bbox: Bbox) -> str:
    return f"[{bbox.x0:.0f},{bbox.y0:.0f},{bbox.x1:.0f},{bbox.y1:.0f}]"


def _hex(color) -> str:
    return "#" + "".join(f"{round(v * 255):02X}" for v in color)
