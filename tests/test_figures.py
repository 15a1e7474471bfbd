"""Quality gates applied to every registered figure of every topic."""
from __future__ import annotations

import io
import re
import warnings

import pytest
from PIL import Image
from pypdf import PdfReader

from conftest import all_figures, build_strict
from figkit import checks, save, style
from figkit.sizes import textwidth_inches

FIGURES = all_figures()
DEFAULT_WIDTH = textwidth_inches()
WIDTHS = {"default": DEFAULT_WIDTH, "4.5in": 4.5, "7in": 7.0}


def test_there_are_figures():
    assert len(FIGURES) >= 10


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("registry,name", FIGURES)
def test_layout_is_clean(registry, name, width):
    """No overlapping or clipped text, fonts 7-9 pt, legends never over data, at any width."""
    textwidth = WIDTHS[width]
    with style.applied():
        fig = build_strict(registry, name, textwidth)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            problems = checks.layout_problems(fig)
    assert problems == [], "\n".join(problems)
    w, h = fig.get_size_inches()
    assert (w, h) == pytest.approx(registry[name].size(textwidth))
    assert w <= textwidth + 1e-9


@pytest.mark.parametrize("registry,name", FIGURES)
def test_colours_survive_colour_blindness(registry, name):
    with style.applied():
        fig = build_strict(registry, name, DEFAULT_WIDTH)
        problems = checks.colour_problems(fig)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("registry,name", FIGURES)
def test_files_are_publishable_and_reproducible(registry, name):
    """PNG at 300 DPI and the declared size; PDF without Type 3 fonts; same bytes twice."""
    with style.applied():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig = build_strict(registry, name, DEFAULT_WIDTH)
            png, pdf = save.render(fig, "png"), save.render(fig, "pdf")
            fig2 = build_strict(registry, name, DEFAULT_WIDTH)
            assert save.render(fig2, "png") == png
            assert save.render(fig2, "pdf") == pdf

    w_in, h_in = registry[name].size(DEFAULT_WIDTH)
    image = Image.open(io.BytesIO(png))
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert image.size == (round(w_in * 300), round(h_in * 300))

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((w_in * 72, h_in * 72), abs=0.01)
    subtypes = set()
    for page in reader.pages:
        fonts = page["/Resources"].get("/Font", {})
        for font in fonts.values():
            font = font.get_object()
            subtypes.add(font["/Subtype"])
            for descendant in font.get("/DescendantFonts", []):
                subtypes.add(descendant.get_object()["/Subtype"])
    assert "/Type3" not in subtypes
    assert subtypes <= {"/Type0", "/CIDFontType2", "/TrueType"}, subtypes
    assert b"CreationDate" not in pdf and b"matplotlib" not in pdf.lower()


@pytest.mark.parametrize("registry,name", FIGURES)
def test_caption_is_one_latex_safe_sentence(registry, name):
    caption = registry[name].caption
    assert caption[0].isupper() and caption.endswith(".") and len(caption) <= 400
    text = re.sub(r"\$[^$]*\$", "", caption)          # math is fine as it is
    text = re.sub(r"\\[%&#_$]", "", text)             # so are escaped specials
    assert not re.search(r"[%&#_$^]", text), f"unescaped LaTeX special character in {caption!r}"
