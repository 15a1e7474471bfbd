"""The grokking figures as drawn: which marker means what, where the runs without an S2 sit,
and text a reader can read (the numbers and captions are tests/test_grokking.py)."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

import grokking
from conftest import DEFAULT_WIDTH, build_strict
from figkit import meanings, style
from figkit.palette import INK

FIGURES = grokking.FIGURES


@pytest.fixture(scope="module")
def drawn():
    figures = {}

    def build(name):
        if name not in figures:
            with style.applied():
                figures[name] = build_strict(FIGURES, name, DEFAULT_WIDTH)
        return figures[name]
    return build


def _markers(ax) -> list[str]:
    """The named markers of the axes' lines (not the break's drawn slashes)."""
    return [marker for line in ax.get_lines() if isinstance(marker := line.get_marker(), str)
            and marker not in ("None", "")]


def test_s1_and_s2_are_no_marker_of_an_ordered_setting():
    """A shape means one thing in the chapter: ordered settings have the book's markers by rank
    (meanings.ORDERED_MARKERS), S1 and S2 their own, distinct from those and each other."""
    assert grokking.S1_MARKER not in meanings.ORDERED_MARKERS
    assert grokking.S2_MARKER not in meanings.ORDERED_MARKERS
    assert grokking.S1_MARKER != grokking.S2_MARKER
    assert grokking.s1_marker()["marker"] == grokking.S1_MARKER
    assert grokking.s2_marker()["marker"] == grokking.S2_MARKER


def test_the_gap_marks_each_setting_with_the_books_marker_of_its_rank(drawn):
    fig = drawn("generalization_gap")
    for ax, panel in zip(fig.axes, grokking.generalization_gap_result().panels, strict=True):
        labelled = {line.get_label(): line.get_marker() for line in ax.get_lines()
                    if not line.get_label().startswith("_")}
        expected = dict(zip((grokking.setting_text(panel.parameter, v) for v in panel.values),
                            meanings.ordered_markers(len(panel.values)), strict=True))
        assert labelled == expected
        assert not {grokking.S1_MARKER, grokking.S2_MARKER} & set(_markers(ax))


@pytest.mark.parametrize("name", ["phase_transitions", "weight_decay_sweep", "weight_norm"])
def test_s1_and_s2_are_drawn_with_their_markers(drawn, name):
    markers = {m for ax in drawn(name).axes for m in _markers(ax)}
    assert {grokking.S1_MARKER, grokking.S2_MARKER} <= markers
    assert "o" not in markers  # the rank-one marker of an ordered setting


def test_weight_norm_keeps_the_runs_without_s2_off_the_s2_axis(drawn):
    """Panel (b): the runs that did not generalize sit in a strip above an axis break, not on
    the S2 axis, where at 8,000 to 9,000 they read as values of S2."""
    result = grokking.weight_norm_result()
    fig = drawn("weight_norm")
    _, strip, ax_b = fig.axes[:3]
    censored = [run for run in result.runs if run.s2 is None]
    generalized = [run for run in result.runs if run.s2 is not None]
    assert censored and generalized
    # the S2 axis holds one diamond per run that generalized, and its range ends below the budget
    on_axis = [line for line in ax_b.get_lines() if line.get_marker() == grokking.S2_MARKER]
    assert sorted(float(line.get_ydata()[0]) for line in on_axis) == sorted(
        run.s2 for run in generalized)
    assert not [line for line in ax_b.get_lines() if line.get_marker() == "^"]
    assert ax_b.get_ylim()[1] < min(run.last_step for run in censored)
    # the strip: one open triangle per run that did not generalize, its tick "> 8,000"
    triangles = [line for line in strip.get_lines() if line.get_marker() == "^"]
    assert len(triangles) == len(censored)
    assert all(line.get_markerfacecolor() == "white" for line in triangles)
    assert [tick.get_text() for tick in strip.get_yticklabels()] == [
        f"$>$ {result.numbers['NormBudget']}"]
    assert result.numbers["NormBudget"] == "8,000"
    assert not strip.spines["bottom"].get_visible()


def _contrast(colour, background=(1.0, 1.0, 1.0)) -> float:
    def luminance(rgb):
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(to_rgb(colour)), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_light_end_of_the_colour_map_is_too_pale_for_text():
    light = meanings.ordered(6)[-1]
    assert _contrast(light) < 2  # about 1.8:1 on white: why labels are drawn in ink
    assert _contrast(INK) > 7


@pytest.mark.parametrize("name", ["weight_norm", "generalization_gap", "phase_transitions",
                                  "weight_decay_sweep", "train_fraction_sweep"])
def test_text_is_readable_on_white(drawn, name):
    """Every text of the sweep figures has at least 4.5:1 contrast on white (WCAG AA): a
    setting's label is drawn in ink beside its coloured marker, never in a light colour."""
    fig = drawn(name)
    texts = [text for text in fig.findobj(Text) if text.get_text().strip()]
    assert len(texts) > 10
    for text in texts:
        assert _contrast(text.get_color()) >= 4.5, (name, text.get_text(), text.get_color())
    if name == "weight_norm":  # the setting labels of panel (b), all six
        labels = {text.get_text() for ax in fig.axes[1:] for text in ax.texts}
        assert {grokking.setting_text("weight_decay", v) for v in
                grokking.weight_norm_result().values} <= labels
        assert np.all([_contrast(t.get_color()) > 7 for ax in fig.axes[1:] for t in ax.texts])
