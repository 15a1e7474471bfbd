"""The fine-tuning figures as drawn: placements the book-wide layout checks do not see (a label
on a line's marker, two axis labels run together, marks drawn on top of one another)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.lines import Line2D

import fine_tuning
from conftest import WIDTHS
from figkit import checks, style

FIGURES = fine_tuning.FIGURES
#: Clearance between a text and a marker, or between two labels, in printed points.
MARKER_CLEARANCE_PT = 1.0
LABEL_GAP_PT = 8.0


def drawn(name: str, width: float):
    """The figure at `width`, drawn, with every text it drew."""
    with style.applied():
        fig = FIGURES.build(name, width)
        texts = checks.drawn_texts(fig)
    return fig, texts


def marker_centres(line: Line2D) -> np.ndarray:
    """Display coordinates of the markers a line draws (its markevery: None or (start, step))."""
    points = line.get_transform().transform(np.asarray(line.get_xydata(), float))
    every = line.get_markevery()
    if every is None:
        return points
    start, step = every
    return points[start::step]


def texts_on_markers(fig, ax, texts) -> list[str]:
    """Texts of `ax` whose box comes within MARKER_CLEARANCE_PT of a marker's extent."""
    px = fig.dpi / 72
    problems = []
    for line in ax.get_lines():
        if line.get_marker() in (None, "", "None", "none"):
            continue
        half = (line.get_markersize() / 2 + MARKER_CLEARANCE_PT) * px
        for text in texts:
            if text.artist not in ax.texts:
                continue
            box = text.bbox
            for x, y in marker_centres(line):
                if box.x0 - half < x < box.x1 + half and box.y0 - half < y < box.y1 + half:
                    problems.append(f"{text} touches a marker of {line.get_label()!r}")
                    break
    return problems


@pytest.mark.parametrize("width", list(WIDTHS))
def test_schedule_labels_sit_clear_of_every_line_and_marker(width):
    """learning_rate_comparison (a): BERT's label once ran into QLoRA's lower line and its
    marker, and a marker sat on QLoRA's label."""
    fig, texts = drawn("learning_rate_comparison", WIDTHS[width])
    ax_a = fig.axes[0]
    assert texts_on_markers(fig, ax_a, texts) == []
    assert checks.text_hides_data(fig, texts) == []
    # ... and the check can fail: a label put on a marker is found
    line = next(line for line in ax_a.get_lines() if line.get_markevery() is not None)
    x, y = line.get_xydata()[line.get_markevery()[0]]
    ax_a.text(x, y, "on a marker", ha="center", va="center")
    with style.applied():
        texts = checks.drawn_texts(fig)
    found = texts_on_markers(fig, ax_a, texts)
    assert found and all(problem.startswith("'on a marker'") for problem in found)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_fisher_colour_bar_label_stands_apart_from_the_next_panels_label(width):
    fig, texts = drawn("fisher_information_matrix", WIDTHS[width])
    bar_label = next(t for t in texts if "log_{10} F" in t.text)
    share_label = next(t for t in texts if t.text.startswith("share of total Fisher"))
    gap_pt = (share_label.bbox.x0 - bar_label.bbox.x1) / (fig.dpi / 72)
    assert gap_pt >= LABEL_GAP_PT


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_seeds_overflow_is_a_mark_of_its_own(width):
    """training_loss_curves (c): one x per seed at its overflow step, none on top of another
    (three seeds overflow within two steps), inside the panel's step axis."""
    fig, _ = drawn("training_loss_curves", WIDTHS[width])
    curves = FIGURES.result("training_loss_curves")
    ax = fig.axes[2]
    marks = [line for line in ax.get_lines() if line.get_marker() == "x"]
    steps = sorted(x for line in marks for x in line.get_xdata())
    assert steps == sorted(curves.diverged_steps.tolist())
    centres = np.concatenate([marker_centres(line) for line in marks])
    size_px = max(line.get_markersize() for line in marks) * fig.dpi / 72
    for a, b in itertools.combinations(centres, 2):
        assert max(abs(a - b)) >= size_px
    low, high = ax.get_xlim()
    assert low <= curves.diverged_steps.min() and curves.diverged_steps.max() <= high


def test_forgetting_draws_training_on_a_once():
    fig, _ = drawn("catastrophic_forgetting", WIDTHS["default"])
    forgetting = FIGURES.result("catastrophic_forgetting")
    switch = forgetting.switch_step
    assert [ax.get_xlim() for ax in fig.axes] == [(0, switch), (switch, 2 * switch),
                                                  (switch, 2 * switch)]


def test_hyperparameter_figure_draws_each_ratio_as_a_dot_on_a_log_axis():
    fig, _ = drawn("hyperparameter_recommendations", WIDTHS["default"])
    table = FIGURES.result("hyperparameter_recommendations")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and not ax.containers  # dots, never bars
    dots = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    assert [tuple(line.get_xdata()) for line in dots] == [r.ratios for r in table.relations]
    labels = [label.get_text() for label in ax.get_yticklabels()]
    assert labels == [f"{r.name}\n{r.relates}" for r in table.relations]
