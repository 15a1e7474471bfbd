"""Quality gates applied to every registered figure of every topic.

Each check takes the `figure` fixture (tests/conftest.py): a figure is built once per text width
and rendered once, whatever the number of checks.
"""
from __future__ import annotations

import io
import re

import pytest
from matplotlib.container import BarContainer
from PIL import Image
from pypdf import PdfReader

from conftest import DEFAULT_WIDTH, ROOT, WIDTHS, all_figures


def test_there_are_figures():
    assert len(all_figures()) >= 10


@pytest.mark.parametrize("width", list(WIDTHS))
def test_layout_is_clean(figure, width):
    """No overlapping or clipped text, fonts 7-9 pt, legends never over data, at any width."""
    textwidth = WIDTHS[width]
    problems = figure.layout_problems(textwidth)
    assert problems == [], "\n".join(problems)
    w, h = figure.fig(textwidth).get_size_inches()
    assert (w, h) == pytest.approx(figure.spec.size(textwidth))
    assert w <= textwidth + 1e-9


def test_colours_survive_colour_blindness(figure):
    problems = figure.colour_problems()
    assert problems == [], "\n".join(problems)


def test_every_colour_means_what_the_table_says(figure):
    """One colour means one thing in the whole book: every hue a figure draws was given to it by
    figkit.meanings (a method, component or role, ordered values, or a tint of one of them), and
    a legend that names a method or component shows it in that method's or component's colour."""
    problems = figure.meaning_problems()
    assert problems == [], "\n".join(problems)


def test_bars_stand_on_zero_of_a_linear_axis(figure):
    """A bar's length is its value: never bars on a logarithmic value axis (use dots there), and
    a bar that starts at zero shows its zero."""
    problems = []
    for ax in figure.fig(DEFAULT_WIDTH).axes:
        for container in ax.containers:
            if not isinstance(container, BarContainer) or not len(container):
                continue
            horizontal = container.orientation == "horizontal"
            scale = ax.get_xscale() if horizontal else ax.get_yscale()
            low, high = sorted(ax.get_xlim() if horizontal else ax.get_ylim())
            bases = [bar.get_x() if horizontal else bar.get_y() for bar in container]
            if scale != "linear":
                problems.append(f"bars {container.get_label()!r} on a {scale} value axis")
            elif all(base == 0 for base in bases) and not low <= 0 <= high:
                problems.append(f"bars {container.get_label()!r} start at zero, which the value "
                                f"axis ({low:g} to {high:g}) does not show")
    assert problems == [], "\n".join(problems)


def test_png_is_300_dpi_at_the_declared_size(figure):
    png = figure.files()["png"]
    w_in, h_in = figure.spec.size(DEFAULT_WIDTH)
    image = Image.open(io.BytesIO(png))
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert image.size == (round(w_in * 300), round(h_in * 300))
    assert b"Software" not in png


def test_pdf_is_one_page_with_truetype_fonts_and_no_metadata(figure):
    pdf = figure.files()["pdf"]
    w_in, h_in = figure.spec.size(DEFAULT_WIDTH)
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


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_files_are_reproducible(figure, fmt):
    """Byte for byte what `make figures` committed from another process (another session,
    other hash seeds): same code, same bytes. Only images of the project's default runs are
    committed, at the default text width."""
    committed = ROOT / "images" / figure.topic / f"{figure.spec.name}.{fmt}"
    if not committed.is_file():
        pytest.fail(f"{committed.relative_to(ROOT)} is missing: run `make figures`")
    assert figure.files()[fmt] == committed.read_bytes(), (
        f"{committed.relative_to(ROOT)} differs from what the code draws now: run "
        "`make figures` (and look at the figure) before committing")


def test_caption_is_one_latex_safe_sentence(figure):
    caption = figure.spec.caption
    assert caption[0].isupper() and caption.endswith(".") and len(caption) <= 400
    text = re.sub(r"\$[^$]*\$", "", caption)          # math is fine as it is
    text = re.sub(r"\\[%&#_$]", "", text)             # so are escaped specials
    assert not re.search(r"[%&#_$^]", text), f"unescaped LaTeX special character in {caption!r}"


def test_result_and_numbers_come_without_drawing(figure):
    """The registry binds a result function to every figure that shows numbers, and its
    numbers come from the result alone: numbers.tex never needs a rendered figure."""
    numbers = figure.registry.numbers(figure.spec.name)
    for key in numbers.keys():
        assert numbers[key], f"{key} of {figure.spec.name} formats to an empty string"
    if len(numbers):
        assert figure.spec.result is not None
