"""Statistics for the experiment dashboards, on logs with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from numerics import run_stats
from records import load_run, write_run


def test_ema_is_debiased_and_keeps_gaps_empty():
    steps = np.arange(10.0)
    values = np.array([1.0, np.nan, 1.0, np.nan, 1.0, np.nan, 1.0, np.nan, 1.0, np.nan])
    smooth = run_stats.ema_with_gaps(steps, values, alpha=0.3)
    assert np.all(np.isnan(smooth[1::2]))
    assert np.allclose(smooth[::2], 1.0)  # a constant stays constant from the first value


def test_ema_restarts_after_a_long_gap():
    steps = np.array([0, 1, 2, 3, 100, 101, 102], float)
    values = np.array([0, 0, 0, 0, 10, 10, 10], float)
    smooth = run_stats.ema_with_gaps(steps, values, alpha=0.1)
    assert smooth[4] == pytest.approx(10)  # not dragged towards the zeros before the gap
    no_restart = run_stats.ema_with_gaps(steps, values, alpha=0.1, gap_factor=1e9)
    assert no_restart[4] < 5


def test_blockwise_ema_equals_the_recursion():
    rng = np.random.default_rng(3)
    x = rng.normal(size=1000)
    steps = np.arange(1000.0)
    alpha, m, expected = 0.2, 0.0, []
    for t, v in enumerate(x):
        m = (1 - alpha) * m + alpha * v
        expected.append(m / (1 - (1 - alpha) ** (t + 1)))
    assert np.allclose(run_stats.ema_with_gaps(steps, x, alpha=alpha), expected, rtol=1e-12,
                       atol=1e-12)


def test_downsample_keeps_extremes_and_short_series():
    x = np.arange(100_000.0)
    y = np.sin(x / 1000)
    y[54_321] = 50.0  # a spike
    dx, dy = run_stats.downsample(x, y, max_points=2000)
    assert len(dx) <= 2000 and 50.0 in dy and np.all(np.diff(dx) > 0)
    sx, sy = run_stats.downsample(x[:10], y[:10])
    assert np.array_equal(sx, x[:10])


def test_epoch_groups_by_epoch_or_by_tenths():
    steps = np.arange(20.0)
    values = np.arange(20.0)
    grouped = run_stats.epoch_groups(steps, values, epochs=np.repeat([0, 1], 10))
    assert grouped.by_epoch and grouped.labels == [0, 1]
    assert [len(g) for g in grouped.groups] == [10, 10]
    grouped = run_stats.epoch_groups(steps, values)
    assert not grouped.by_epoch and grouped.labels == list(range(1, 11))
    assert sum(len(g) for g in grouped.groups) == 20


def test_an_epoch_never_logged_with_the_values_groups_by_tenths():
    """Epochs logged only on rows where the metric is not: the groups (and their label) are
    tenths of the run, not epochs."""
    values = np.array([1.0, np.nan] * 10)
    epochs = np.array([np.nan, 0.0] * 10)
    grouped = run_stats.epoch_groups(np.arange(20.0), values, epochs)
    assert not grouped.by_epoch and sum(len(g) for g in grouped.groups) == 10


def test_box_statistics_are_matplotlibs():
    from matplotlib.cbook import boxplot_stats

    rng = np.random.default_rng(7)
    for values in (rng.normal(size=200), np.append(rng.exponential(size=50), [30.0, -5.0]),
                   np.array([2.0]), np.array([1.0, 1.0, 1.0, 4.0])):
        box = run_stats.box_stats(values)
        (reference,) = boxplot_stats(values)
        assert box.median == reference["med"] and box.mean == reference["mean"]
        assert (box.lower_quartile, box.upper_quartile) == (reference["q1"], reference["q3"])
        assert (box.whisker_low, box.whisker_high) == (reference["whislo"], reference["whishi"])
        assert np.array_equal(box.outliers, reference["fliers"])
    box = run_stats.box_stats(np.append(np.arange(100.0), 1000.0))
    assert list(box.outliers) == [1000.0] and box.whisker_high == 99.0


def lm_log(tmp_path):
    metrics = {"step": [0, 10, 10, 20, 20, 30],
               "train_loss": [3.0, 2.0, np.nan, 1.0, np.nan, 0.5],
               "val_loss": [np.nan, np.nan, 2.5, np.nan, 2.0, np.nan],
               "val_acc": [np.nan, np.nan, 0.4, np.nan, 0.6, np.nan],
               "grad_norm": [np.nan] * 6}
    return load_run(write_run(tmp_path / "r", {"task": "causal language modelling"}, metrics))


def test_which_metrics_a_run_logged(tmp_path):
    run = lm_log(tmp_path)
    assert run_stats.logged_metrics(run) == (["train_loss", "val_loss", "val_acc"],
                                             ["grad_norm"])
    assert run_stats.first_logged(run, "grad_norm", "val_acc", "train_loss") == "val_acc"
    assert run_stats.first_logged(run, "grad_norm") is None
    assert run_stats.loss_columns(run) == ["train_loss", "val_loss"]


def test_summary_final_best_and_at_best(tmp_path):
    run = lm_log(tmp_path)
    summary = run_stats.summarize(run)
    assert summary.reference == "val_loss" and summary.best_step == 20 and summary.rows == 6
    by_name = {s.name: s for s in summary.metrics}
    assert "grad_norm" not in by_name  # never logged
    assert by_name["train_loss"].final == 0.5 and by_name["train_loss"].best == 0.5
    assert by_name["train_loss"].at_best == 1.0  # last train loss at or before step 20
    assert by_name["val_acc"].best == 0.6 and by_name["val_acc"].best_step == 20
    assert run_stats.is_language_model_loss("val_loss", run.config)
    assert not run_stats.is_language_model_loss("val_loss", {"task": "(a + b) mod p"})
    assert not run_stats.is_language_model_loss("val_acc", run.config)


def test_curves_gap_and_improvement_rate(tmp_path):
    run = lm_log(tmp_path)
    curve = run_stats.metric_curve(run, "train_loss", smoothing=0.2)
    assert np.array_equal(curve.steps, [0, 10, 20, 30]) and not curve.single
    assert np.array_equal(curve.drawn.values, curve.values)  # short: nothing dropped
    assert curve.smoothed.values[0] == pytest.approx(3.0)  # debiased: starts at the first value
    gap = run_stats.generalization_gap(run, "train_loss", "val_loss")
    assert np.array_equal(gap.steps, [10, 20]) and np.allclose(gap.values, [0.5, 1.0])
    rate = run_stats.improvement_rate(run, "train_loss", smoothing=0.2)
    assert np.array_equal(rate.steps, [5, 15, 25]) and np.all(rate.values > 0)  # loss falls
    smoothed = run_stats.ema_with_gaps(curve.steps, curve.values, alpha=0.2)
    assert np.sum(rate.values * 10) == pytest.approx(np.log(smoothed[0] / smoothed[-1]))


def test_no_improvement_rate_from_too_few_values(tmp_path):
    run = load_run(write_run(tmp_path / "short", {}, {"step": [0, 1], "train_loss": [2.0, 1.0]}))
    assert run_stats.improvement_rate(run, "train_loss", smoothing=0.2) is None
    run = load_run(write_run(tmp_path / "negative", {},
                             {"step": [0, 1, 2], "train_loss": [1.0, -1.0, -2.0]}))
    assert run_stats.improvement_rate(run, "train_loss", smoothing=0.2) is None
