"""Statistics for the experiment dashboards, on logs with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from records import load_run, write_run
from numerics import run_stats as rs


def test_ema_is_debiased_and_keeps_gaps_empty():
    steps = np.arange(10.0)
    values = np.array([1.0, np.nan, 1.0, np.nan, 1.0, np.nan, 1.0, np.nan, 1.0, np.nan])
    smooth = rs.ema_with_gaps(steps, values, alpha=0.3)
    assert np.all(np.isnan(smooth[1::2]))
    assert np.allclose(smooth[::2], 1.0)  # a constant stays constant from the first value


def test_ema_restarts_after_a_long_gap():
    steps = np.array([0, 1, 2, 3, 100, 101, 102], float)
    values = np.array([0, 0, 0, 0, 10, 10, 10], float)
    smooth = rs.ema_with_gaps(steps, values, alpha=0.1)
    assert smooth[4] == pytest.approx(10)  # not dragged towards the zeros before the gap
    no_restart = rs.ema_with_gaps(steps, values, alpha=0.1, gap_factor=1e9)
    assert no_restart[4] < 5


def test_downsample_keeps_extremes_and_short_series():
    x = np.arange(100_000.0)
    y = np.sin(x / 1000)
    y[54_321] = 50.0  # a spike
    dx, dy = rs.downsample(x, y, max_points=2000)
    assert len(dx) <= 2000 and 50.0 in dy and np.all(np.diff(dx) > 0)
    sx, sy = rs.downsample(x[:10], y[:10])
    assert np.array_equal(sx, x[:10])


def test_epoch_groups_by_epoch_or_by_tenths():
    steps = np.arange(20.0)
    values = np.arange(20.0)
    labels, groups = rs.epoch_groups(steps, values, epochs=np.repeat([0, 1], 10))
    assert labels == [0, 1] and [len(g) for g in groups] == [10, 10]
    labels, groups = rs.epoch_groups(steps, values)
    assert labels == list(range(1, 11)) and sum(len(g) for g in groups) == 20


def test_summary_final_best_and_at_best(tmp_path):
    metrics = {"step": [0, 10, 10, 20, 20, 30],
               "train_loss": [3.0, 2.0, np.nan, 1.0, np.nan, 0.5],
               "val_loss": [np.nan, np.nan, 2.5, np.nan, 2.0, np.nan],
               "val_acc": [np.nan, np.nan, 0.4, np.nan, 0.6, np.nan]}
    run = load_run(write_run(tmp_path / "r", {"task": "causal language modelling"}, metrics))
    summaries, reference, best_step = rs.summarize(run)
    assert reference == "val_loss" and best_step == 20
    by_name = {s.name: s for s in summaries}
    assert by_name["train_loss"].final == 0.5 and by_name["train_loss"].best == 0.5
    assert by_name["train_loss"].at_best == 1.0  # last train loss at or before step 20
    assert by_name["val_acc"].best == 0.6 and by_name["val_acc"].best_step == 20
    assert rs.is_language_model_loss("val_loss", run.config)
    assert not rs.is_language_model_loss("val_loss", {"task": "(a + b) mod p"})
    assert not rs.is_language_model_loss("val_acc", run.config)


def test_blockwise_ema_equals_the_recursion():
    rng = np.random.default_rng(3)
    x = rng.normal(size=1000)
    steps = np.arange(1000.0)
    alpha, m, expected = 0.2, 0.0, []
    for t, v in enumerate(x):
        m = (1 - alpha) * m + alpha * v
        expected.append(m / (1 - (1 - alpha) ** (t + 1)))
    assert np.allclose(rs.ema_with_gaps(steps, x, alpha=alpha), expected, rtol=1e-12,
                       atol=1e-12)
