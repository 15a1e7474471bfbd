"""Unit tests of the figkit toolkit: sizes, numbers, LaTeX exports, saving, style, checks."""
from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from figkit import checks, latex, palette, save, style
from figkit.numbers import Numbers, format_number
from figkit.sizes import LengthError, figsize, parse_length, textwidth_inches


# ---- sizes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,inches", [
    ("481.89pt", 481.89 / 72.27), ("6.5in", 6.5), ("16.51cm", 6.5), ("165.1mm", 6.5),
    ("468bp", 6.5), (" 7 in ", 7.0),
])
def test_parse_length(text, inches):
    assert parse_length(text) == pytest.approx(inches)


def test_default_textwidth_is_the_study_documents():
    # A4 (210 mm) minus two 0.8 in margins: 481.875 pt, "481.89 pt" in the rounding.
    a4_in = 210 / 25.4
    assert textwidth_inches() == pytest.approx(a4_in - 1.6, abs=0.001 / 72.27)
    assert textwidth_inches() * 72.27 == pytest.approx(481.89, abs=0.02)


@pytest.mark.parametrize("bad", ["6.5", "6.5 furlongs", "in", "-6in", "", "1e3pt", "6,5in"])
def test_unreadable_widths_are_rejected(bad):
    with pytest.raises(LengthError, match="cannot read"):
        textwidth_inches(bad)


@pytest.mark.parametrize("bad", ["0pt", "2in", "9in", "30cm"])
def test_implausible_widths_are_rejected(bad):
    with pytest.raises(LengthError, match="expected 3 to 8.5 in"):
        textwidth_inches(bad)


def test_figsize_is_a_fraction_of_the_text_width():
    assert figsize(6.0, 0.5, 0.8) == pytest.approx((3.0, 2.4))
    with pytest.raises(ValueError):
        figsize(6.0, 1.2, 0.5)


# ---- numbers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("value,fmt,text,tex", [
    (3e-5, "sci0", r"$3\times10^{-5}$", r"\ensuremath{3\times10^{-5}}"),
    (1e-3, "sci0", r"$10^{-3}$", r"\ensuremath{10^{-3}}"),
    (9.96e-4, "sci1", r"$1.0\times10^{-3}$", r"\ensuremath{1.0\times10^{-3}}"),
    (36703.49, ",.0f", "36,703", "36,703"),
    (0.125, ".1%", "12.5%", r"12.5\%"),
    (-0.5, ".2f", "$-$0.50", r"\ensuremath{-}0.50"),
])
def test_format_number(value, fmt, text, tex):
    assert format_number(value, fmt) == (text, tex)


def test_numbers_reject_bad_keys_nonfinite_and_conflicts():
    numbers = Numbers()
    assert numbers.add("Ratio", 2.5, ".1f") == "2.5"
    assert numbers.add("Ratio", 2.5, ".1f") == "2.5"
    with pytest.raises(ValueError):
        numbers.add("Ratio", 3.5, ".1f")
    for key in ("ratio", "Ratio2", "My_Ratio"):
        with pytest.raises(ValueError):
            numbers.add(key, 1.0)
    with pytest.raises(ValueError):
        numbers.add("Bad", float("nan"))


# ---- LaTeX exports ---------------------------------------------------------------------------
def test_numbers_tex_round_trips_and_keeps_other_figures():
    a, b = Numbers(), Numbers()
    a.add("Peak", 3e-5, "sci0")
    b.add("Spread", 36703, ",.0f")
    b.add("Peak", 3e-5, "sci0")  # shown on two figures: defined once
    text = latex.numbers_tex("fine_tuning", ["fig_a", "fig_b"], {"fig_a": a, "fig_b": b})
    assert text.count(r"\newcommand{\FineTuningPeak}") == 1
    assert r"\newcommand{\FineTuningSpread}{36,703}" in text
    blocks = latex.parse_numbers_tex(text)
    assert set(blocks) == {"fig_a", "fig_b"}
    assert latex.numbers_tex("fine_tuning", ["fig_a", "fig_b"], blocks) == text


def test_numbers_tex_refuses_one_macro_with_two_values():
    a, b = Numbers(), Numbers()
    a.add("Peak", 3e-5, "sci0")
    b.add("Peak", 2e-5, "sci0")
    with pytest.raises(ValueError, match="different values"):
        latex.numbers_tex("t", ["a", "b"], {"a": a, "b": b})


def test_figures_tex_has_natural_size_caption_and_label():
    from fine_tuning import FIGURES

    text = latex.figures_tex("fine_tuning", FIGURES.specs)
    for spec in FIGURES.specs:
        assert f"\\includegraphics{{images/fine_tuning/{spec.name}}}" in text
        assert f"\\label{{fig:fine_tuning:{spec.name}}}" in text
        assert f"\\caption{{{spec.caption}}}" in text
    assert "width=" not in text.replace("never with width=", "")



def test_figures_for_a_users_runs_point_at_their_folder_with_labels_and_macros_of_their_own(
        tmp_path, monkeypatch):
    from figkit.numbers import Numbers
    from fine_tuning import FIGURES

    monkeypatch.chdir(tmp_path)
    folder = latex.graphics_dir(tmp_path / "figs" / "run-7")
    assert folder == "figs/run-7"
    assert latex.graphics_dir("/") == "/"
    text = latex.figures_tex("fine_tuning", FIGURES.specs, folder, "run-7")
    spec = FIGURES.specs[0]
    assert f"\\includegraphics{{figs/run-7/{spec.name}}}" in text
    assert f"\\label{{fig:run-7:{spec.name}}}" in text and "images/fine_tuning" not in text
    numbers = Numbers()
    numbers.add("Peak", 1.5, ".1f")
    assert "\\newcommand{\\RunPeak}{1.5}" in latex.numbers_tex("experiments", ["a"],
                                                              {"a": numbers}, "run-7")
    assert latex.macro_prefix("lr_sweep.2024") == "LrSweep"
    assert latex.macro_prefix("2024") == "Figures"


# ---- saving ----------------------------------------------------------------------------------
def _figure():
    fig = Figure(figsize=(2, 1))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


def test_write_atomic_leaves_no_trace_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "a.png"
    target.write_bytes(b"old")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save.write_atomic(target, b"new bytes")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_write_atomic_skips_identical_bytes(tmp_path):
    target = tmp_path / "a.txt"
    assert save.write_atomic(target, b"x") is True
    assert save.write_atomic(target, b"x") is False
    assert save.write_atomic(target, b"y") is True and target.read_bytes() == b"y"


def test_saved_files_carry_no_timestamps_or_versions():
    with style.applied():
        pdf = save.render(_figure(), "pdf")
        png = save.render(_figure(), "png")
    assert b"CreationDate" not in pdf and b"Producer" not in pdf
    assert b"Software" not in png and b"pHYs" in png


def test_the_pdf_prints_the_ticks_the_png_printed():
    """The first render pins every axis's ticks where its locator put them at the PNG's
    resolution: an automatic locator counts the room it has at each draw, and the PDF's draw
    at 72 DPI rounded it the other way on a user's run (6, 4, 2 x 1e-5 in the PNG, 7.5, 5.0,
    2.5 in the PDF). Works on a figure without an Agg canvas too."""
    from matplotlib.ticker import FixedLocator

    with style.applied():
        fig = Figure(figsize=(3, 2), dpi=save.DPI)  # no canvas attached: matplotlib's base one
        ax = fig.add_subplot()
        ax.plot([1, 10, 100], [0.0, 3.3e-5, -7.1e-5])
        ax.set_xscale("log")
        save.render(fig, "png")
        pinned = {name: (axis.get_majorticklocs().copy(), axis.get_minorticklocs().copy())
                  for name, axis in (("x", ax.xaxis), ("y", ax.yaxis))}
        save.render(fig, "pdf")
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        assert isinstance(axis.get_major_locator(), FixedLocator)
        assert isinstance(axis.get_minor_locator(), FixedLocator)
        assert np.array_equal(axis.get_majorticklocs(), pinned[name][0])
        assert np.array_equal(axis.get_minorticklocs(), pinned[name][1])


# ---- style -----------------------------------------------------------------------------------
def test_importing_topics_changes_no_rcparams():
    code = ("import matplotlib as mpl, copy; before = copy.deepcopy(dict(mpl.rcParams)); "
            "import fine_tuning, figkit.style; "
            "assert dict(mpl.rcParams) == before, 'import changed rcParams'")
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_style_is_applied_only_inside_the_block():
    import matplotlib as mpl

    before = mpl.rcParams["font.serif"]
    with style.applied():
        assert mpl.rcParams["font.serif"] == ["cmr10"]
        assert mpl.rcParams["pdf.fonttype"] == 42
        assert mpl.rcParams["mathtext.fontset"] == "cm"
    assert mpl.rcParams["font.serif"] == before


def test_style_ignores_the_users_matplotlibrc(tmp_path):
    (tmp_path / "matplotlibrc").write_text("lines.linewidth: 9\naxes.grid: True\n")
    code = ("import matplotlib as mpl; from figkit import style\n"
            "with style.applied():\n"
            "    assert mpl.rcParams['lines.linewidth'] == 1.2, mpl.rcParams['lines.linewidth']\n")
    # matplotlib reads ./matplotlibrc before any other (and keeps its font cache where it is)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


# ---- palette ---------------------------------------------------------------------------------
def test_series_colours_stay_apart_for_colour_blind_readers():
    from itertools import combinations

    from matplotlib.colors import to_rgb

    for cvd in (None, "deuteranomaly", "protanomaly"):
        worst = min(checks.cvd_distance(to_rgb(a), to_rgb(b), cvd)
                    for a, b in combinations(palette.SERIES_COLORS, 2))
        assert worst >= 15, (cvd, worst)


def test_series_styles_add_a_second_channel():
    styles = palette.series(6)
    assert len({str(s["linestyle"]) for s in styles}) == 6
    assert len({s["marker"] for s in styles}) == 6


# ---- the checks themselves must be able to fail ------------------------------------------------
def _styled_figure(draw):
    with style.applied():
        fig = Figure(figsize=(4, 2.5))
        FigureCanvasAgg(fig)
        draw(fig)
        return fig, checks.layout_problems(fig), checks.colour_problems(fig)


def test_checks_pass_a_clean_figure():
    def draw(fig):
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], label="a")
        ax.plot([0, 1], [1, 0], label="b", color=palette.RED)
        ax.set_xlabel("x")
        fig.legend(loc="outside upper center", ncols=2)
    _, layout, colours = _styled_figure(draw)
    assert layout == [] and colours == []


@pytest.mark.parametrize("case,expected", [
    ("overlap", "overlaps text"),
    ("off_canvas", "crosses the canvas edge"),
    ("tiny", "print sizes must be"),
    ("huge", "print sizes must be"),
    ("legend", "legend hides"),
    ("label_on_line", "is written over"),
    ("underscore", "cmr10 prints as other glyphs"),
    ("label_on_bar", "is written over a bar"),
])
def test_checks_catch_layout_problems(case, expected):
    def draw(fig):
        ax = fig.add_subplot()
        ax.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50), label="a long legend label")
        if case == "overlap":
            ax.text(0.1, 0.8, "first label")
            ax.text(0.12, 0.8, "second label")
        elif case == "off_canvas":
            fig.text(0.98, 0.5, "runs off the right edge")
        elif case == "tiny":
            ax.set_xlabel("x", fontsize=5)
        elif case == "huge":
            ax.set_xlabel("x", fontsize=12)
        elif case == "legend":
            ax.legend(loc="center")
        elif case == "label_on_bar":
            ax.bar([0.5], [0.3], 0.2)
            ax.text(0.5, 0.1, "on the bar", ha="center")
        elif case == "underscore":
            ax.set_title("file_name.sh")
        elif case == "label_on_line":
            ax.text(0.5, 0.5, "on the line", ha="center", va="center")
    _, layout, _ = _styled_figure(draw)
    assert any(expected in p for p in layout), layout


def test_checks_catch_red_green_series():
    def draw(fig):
        ax = fig.add_subplot()
        ax.plot([0, 1, 2], [0, 1, 2], color="#D62728", label="red")
        ax.plot([0, 1, 2], [2, 1, 0], color="#2CA02C", label="green")
    _, _, colours = _styled_figure(draw)
    assert any("deuteranomaly" in p for p in colours), colours


def test_checks_catch_a_rainbow_colour_map():
    def draw(fig):
        fig.add_subplot().imshow(np.arange(9).reshape(3, 3), cmap="jet")
    _, _, colours = _styled_figure(draw)
    assert any("jet" in p for p in colours), colours


# ---- registry: result and drawing ------------------------------------------------------------
def test_registry_computes_a_result_once_and_hands_it_to_the_drawing():
    from figkit import Registry
    from figkit.numbers import Numbers

    calls, drawn = [], []

    def shown_result():
        calls.append(1)
        numbers = Numbers()
        numbers.add("Answer", 42, "d")
        return SimpleNamespace(values=[1, 2], numbers=numbers)

    registry = Registry("demo")

    @registry.figure(caption="A demo.", result=shown_result, aspect=0.5)
    def shown(fig, result):
        drawn.append(result.numbers["Answer"])
        fig.subplots().plot(result.values)

    assert registry.numbers("shown")["Answer"] == "42" and drawn == []  # nothing drawn
    with style.applied():
        fig = registry.build("shown", 6.0)
    assert drawn == ["42"] and len(fig.axes) == 1
    assert calls == [1]  # computed once, for the numbers and the drawing
    assert registry["shown"].source.endswith("shown_result, shown")


def test_numbers_name_what_is_missing():
    from figkit.numbers import Numbers

    numbers = Numbers()
    numbers.add("Known", 1.5, ".1f")
    assert numbers["Known"] == "1.5" and numbers.keys() == ["Known"]
    with pytest.raises(KeyError, match="declares Known"):
        numbers["Unknown"]


def test_registry_refuses_a_result_that_is_not_a_function():
    from figkit import Registry

    with pytest.raises(TypeError, match="must be a function"):
        Registry("demo").add("x", lambda fig, result: None, "A demo.", result=[1, 2])


def test_a_straight_series_is_drawn_through_its_end_points_and_must_be_straight():
    from matplotlib.figure import Figure

    from figkit.charts import straight_series

    ax = Figure().subplots()
    handle = straight_series(ax, [1, 2, 4, 8], [1, 4, 16, 64], "power law", "C0", xlog=True,
                             ylog=True)
    line, markers = ax.get_lines()
    assert line.get_xdata().tolist() == [1, 8] and markers.get_xdata().tolist() == [1, 2, 4, 8]
    assert handle.get_label() == "power law" and handle.get_marker() == "o"
    with pytest.raises(ValueError, match="not a straight series"):
        straight_series(ax, [1, 2, 4, 8], [3, 6, 12, 25], xlog=True, ylog=True)
    with pytest.raises(ValueError, match="not a straight series"):
        straight_series(ax, [1, 2, 4, 8], [1, 4, 16, 64])   # straight on log axes only


# ---- tables -----------------------------------------------------------------------------------

def test_a_table_is_a_booktabs_table_with_its_label():
    table = latex.Table("demo", "Two rows.", ("a", "b"), (("1", latex.escape("50% & up")),
                                                          ("2", "3")), "lp{3cm}",
                        notes=("[1] a source.",))
    text = latex.tables_tex("topic", [table])
    assert r"\label{tab:topic:demo}" in text and r"\begin{tabular}{lp{3cm}}" in text
    assert text.index(r"\toprule") < text.index(r"\midrule") < text.index(r"\bottomrule")
    assert r"1 & 50\% \& up \\" in text and "[1] a source." in text


@pytest.mark.parametrize("align, rows", [("l", (("1", "2"),)), ("ll", (("1",),))])
def test_a_table_with_the_wrong_number_of_columns_is_refused(align, rows):
    with pytest.raises(ValueError, match="columns"):
        latex.Table("demo", "A table.", ("a", "b"), rows, align)
