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
    curve = run_stats.metric_curve(run, "train_loss", weight=0.8)
    assert np.array_equal(curve.steps, [0, 10, 20, 30]) and not curve.single
    assert np.array_equal(curve.drawn.values, curve.values)  # short: nothing dropped
    assert curve.smoothed is None  # four values: drawn as logged
    gap = run_stats.generalization_gap(run, "train_loss", "val_loss")
    # like with like: the mean training loss since the previous evaluation (steps 0 and 10:
    # 2.5; step 20: 1.0), not one training value
    assert np.array_equal(gap.steps, [10, 20]) and np.allclose(gap.values, [0.0, 1.0])
    rate = run_stats.improvement_rate(run, "train_loss", weight=0.8)
    assert np.array_equal(rate.steps, [5, 15, 25]) and np.all(rate.values > 0)  # loss falls
    smoothed = run_stats.ema_with_gaps(curve.steps, curve.values, alpha=0.2)
    assert np.sum(rate.values * 10) == pytest.approx(np.log(smoothed[0] / smoothed[-1]))


def test_no_improvement_rate_from_too_few_values(tmp_path):
    run = load_run(write_run(tmp_path / "short", {}, {"step": [0, 1], "train_loss": [2.0, 1.0]}))
    assert run_stats.improvement_rate(run, "train_loss", weight=0.8) is None
    run = load_run(write_run(tmp_path / "negative", {},
                             {"step": [0, 1, 2], "train_loss": [1.0, -1.0, -2.0]}))
    assert run_stats.improvement_rate(run, "train_loss", weight=0.8) is None


# ---- TensorBoard's smoothing ---------------------------------------------------------------------
def tensorboard_reference(values, weight):
    """classicSmoothing of tensorflow/tensorboard (webapp/widgets/line_chart_v2/
    data_transformer.ts), line by line: a constant series as it is, non-finite values passed
    through, last = last * weight + (1 - weight) * value, debiased by 1 - weight**n."""
    if all(v == values[0] for v in values):
        return list(values)
    last, accumulated, out = 0.0, 0, []
    for value in values:
        if not np.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1 - weight) * value
        accumulated += 1
        debias = 1 - weight ** accumulated if weight != 1 else 1
        out.append(last / debias)
    return out


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.9, 0.99])
def test_smoothing_is_tensorboards(weight):
    rng = np.random.default_rng(1)
    values = rng.normal(size=700).cumsum()
    values[[5, 300]] = [np.nan, np.inf]
    expected = tensorboard_reference(values, weight)
    assert np.allclose(run_stats.tensorboard_smoothing(values, weight), expected, rtol=1e-10,
                       atol=1e-12, equal_nan=True)
    steps = np.arange(700.0)
    finite = np.isfinite(values)
    logged = np.where(finite, values, np.nan)
    ours = run_stats.ema_with_gaps(steps, logged, alpha=1 - weight)  # what the curves draw
    reference = tensorboard_reference(values[finite], weight)
    assert np.allclose(ours[finite], reference, rtol=1e-10, atol=1e-12)
    assert run_stats.tensorboard_smoothing(np.full(5, 2.0), weight).tolist() == [2.0] * 5


def test_the_smoothing_check_can_fail():
    values = np.arange(20.0)
    assert not np.allclose(run_stats.tensorboard_smoothing(values, 0.6),
                           tensorboard_reference(values, 0.5))


# ---- kinds of metric, summaries without a "best" counter ----------------------------------------
def test_kinds_and_roles_of_metric_names():
    kinds = {name: run_stats.family(name) for name in (
        "loss", "eval_loss", "train/loss", "val_acc", "eval/accuracy", "learning_rate",
        "lr-AdamW", "grad_norm", "weight_norm", "train_samples_per_second", "gpu_mem_gb",
        "epoch", "train/epoch", "samples_processed", "flops_total", "total_flos", "threshold")}
    assert kinds == {
        "loss": "loss", "eval_loss": "loss", "train/loss": "loss", "val_acc": "accuracy",
        "eval/accuracy": "accuracy", "learning_rate": "learning_rate",
        "lr-AdamW": "learning_rate", "grad_norm": "norm", "weight_norm": "norm",
        "train_samples_per_second": "throughput", "gpu_mem_gb": "memory", "epoch": "clock",
        "train/epoch": "clock", "samples_processed": "clock", "flops_total": "clock",
        "total_flos": "clock", "threshold": "other"}
    assert [run_stats.role(n) for n in ("loss", "eval_loss", "val/acc", "train/lr", "lr")] == [
        "training", "evaluation", "evaluation", "training", None]


def test_a_counters_last_value_is_never_called_best(tmp_path):
    run = load_run(write_run(tmp_path / "c", {}, {
        "step": [0, 1, 2, 3], "epoch": [0, 0, 1, 1], "samples_processed": [0, 32, 64, 96],
        "flops_total": [0, 1e9, 2e9, 3e9], "learning_rate": [1e-3, 9e-4, 8e-4, 7e-4],
        "train_loss": [3.0, 2.0, 2.5, 2.2], "val_acc": [np.nan, 0.5, np.nan, 0.7]}))
    by_name = {m.name: m for m in run_stats.summarize(run).metrics}
    for counter in ("epoch", "samples_processed", "flops_total", "learning_rate"):
        assert not by_name[counter].has_best and np.isnan(by_name[counter].best_step)
        assert by_name[counter].final == run.series(counter)[1][-1]
    assert by_name["train_loss"].best == 2.0 and by_name["val_acc"].best == 0.7


# ---- fair comparisons -----------------------------------------------------------------------
def test_values_at_a_common_step_and_steps_to_a_threshold():
    short = (np.array([0, 10, 20.0]), np.array([1.0, 0.5, 0.2]))
    long = (np.array([0, 10, 20, 30, 40.0]), np.array([1.0, 0.8, 0.6, 0.3, 0.1]))
    assert run_stats.common_step([short, long]) == 20
    assert run_stats.value_at(*long, 25) == 0.6 and np.isnan(run_stats.value_at(*long, -1))
    assert run_stats.steps_to(*long, 0.3, higher=False) == 30
    assert np.isnan(run_stats.steps_to(*short, 0.1, higher=False))
    assert run_stats.steps_to(np.arange(3.0), np.array([0.1, 0.96, 0.9]), 0.95, True) == 1


def test_seed_groups_and_the_varying_setting():
    configs = [{"lr": 0.1, "seed": 0}, {"lr": 0.1, "seed": 1}, {"lr": 0.01, "seed": 0},
               {"lr": 0.1, "seed": 2, "name": "x"}]
    names = ["a", "b", "c", "d"]
    assert run_stats.seed_groups(names, configs) == [[0, 1, 3], [2]]
    assert run_stats.varying_setting(configs) == "lr"
    # project runs whose configs hold their outcomes: grouped by a seed suffix in the name
    assert run_stats.seed_groups(["full", "full_s1", "gated_0.1", "gated_0.1_s1"],
                                 [{"v": 1}, {"v": 2}, {"v": 3}, {"v": 4}]) == [[0, 1], [2, 3]]
    assert run_stats.varying_setting([{"seed": 0}, {"seed": 1}]) is None


def test_band_of_a_seed_group():
    a = (np.array([0, 1, 2, 3.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    b = (np.array([0, 2, 3.0]), np.array([3.0, 1.0, 0.0]))
    c = (np.array([0, 2, 3, 4.0]), np.array([2.0, 2.0, 2.0, 9.0]))
    band = run_stats.band([a, b, c])
    assert band.steps.tolist() == [0, 2, 3] and band.n == 3
    assert band.median.tolist() == [2.0, 2.0, 2.0]
    assert band.low.tolist() == [1.0, 1.0, 0.0] and band.high.tolist() == [3.0, 3.0, 4.0]


def test_the_gap_never_extrapolates_the_training_loss(tmp_path):
    """An evaluation before the first training step (step 0, initialisation) or after the
    last has no training loss to compare with: left out, not paired with the nearest one."""
    metrics = {"step": [0, 1, 2, 3, 4, 8],
               "train_loss": [np.nan, 2.0, 1.0, 1.0, 2.0, np.nan],
               "val_loss": [2.2, np.nan, 1.5, np.nan, 1.7, 1.6]}
    run = load_run(write_run(tmp_path / "r", {}, metrics))
    gap = run_stats.generalization_gap(run, "train_loss", "val_loss")
    assert np.array_equal(gap.steps, [2, 4])
    assert np.allclose(gap.values, [1.5 - 1.5, 1.7 - 1.5])  # (2+1)/2 and (1+2)/2


def test_the_gap_uses_an_aggregate_logged_at_the_evaluation_steps(tmp_path):
    """Lightning logs train_loss_epoch with val_loss at each epoch's end: the gap pairs those,
    not the last noisy train_loss_step (which can turn it negative)."""
    metrics = {"step": [1, 2, 3, 3, 4, 5, 6, 6],
               "train_loss_step": [0.5, 0.4, 0.01, np.nan, 0.3, 0.2, 0.01, np.nan],
               "train_loss_epoch": [np.nan, np.nan, np.nan, 0.3, np.nan, np.nan, np.nan, 0.17],
               "val_loss": [np.nan, np.nan, np.nan, 0.35, np.nan, np.nan, np.nan, 0.2]}
    run = load_run(write_run(tmp_path / "r", {}, metrics))
    assert run_stats.training_loss(run) == "train_loss_epoch"
    assert run_stats.training_loss(run, aggregate=False) == "train_loss_step"
    gap = run_stats.generalization_gap(run, run_stats.training_loss(run), "val_loss")
    assert np.allclose(gap.values, [0.05, 0.03])


def test_a_selected_samples_loss_is_never_the_training_loss(tmp_path):
    """The gated sparse-training run: train_loss is the loss of the selected (hard) samples,
    batch_loss_mean the whole batch's; the training loss is the batch mean."""
    metrics = {"step": [1, 2, 3], "train_loss": [1.6, 1.7, 1.6],
               "batch_loss_mean": [1.0, 0.9, 0.8], "val_loss": [np.nan, 1.1, 1.0]}
    run = load_run(write_run(tmp_path / "r", {}, metrics))
    assert run_stats.selected_loss(run) == "train_loss"
    assert run_stats.training_loss(run) == run_stats.training_loss(run, False) == \
        "batch_loss_mean"
    assert run_stats.role("batch_loss_mean") == "training"
    panel = run_stats.dashboard_panels(run)[0]
    assert panel.names == ["batch_loss_mean", "val_loss", "train_loss"]
    alone = load_run(write_run(tmp_path / "plain", {}, {"step": [1, 2], "train_loss": [1, 2]}))
    assert run_stats.selected_loss(alone) is None
    assert run_stats.training_loss(alone) == "train_loss"


def test_short_logs_are_drawn_as_logged(tmp_path):
    """Below MIN_SMOOTHED_POINTS logged points no moving average: its lag would misstate the
    gap on a 40-point Trainer log."""
    n = run_stats.MIN_SMOOTHED_POINTS
    for rows, smoothed in ((n - 1, False), (n, True)):
        values = 2.0 + np.cos(np.arange(rows, dtype=float))
        run = load_run(write_run(tmp_path / f"r{rows}", {},
                                 {"step": np.arange(rows), "train_loss": values}))
        assert run_stats.smoothed_metric(run, "train_loss") is smoothed
        assert (run_stats.metric_curve(run, "train_loss").smoothed is not None) is smoothed


def test_constant_and_restated_metrics_are_not_curves(tmp_path):
    """A constant learning rate is a setting; a Trainer's eval speed logged three times is
    one series (samples per second)."""
    metrics = {"step": [1, 2, 3], "loss": [3.0, 2.0, 1.0], "learning_rate": [0.2, 0.2, 0.2],
               "eval_runtime": [0.01, 0.02, 0.01], "eval_samples_per_second": [900.0, 800, 850],
               "eval_steps_per_second": [90.0, 80, 85]}
    run = load_run(write_run(tmp_path / "r", {}, metrics))
    assert run_stats.constant_metrics(run) == {"learning_rate": 0.2}
    assert run_stats.drawn_metrics(run) == ["loss", "eval_samples_per_second"]


def test_the_loss_trend_has_no_lag_and_epochs_count_from_one():
    steps = np.arange(200.0)
    falling = 10 - steps / 20  # a straight fall: a centred median is exactly on it
    assert np.allclose(run_stats.loss_trend(falling)[10:-10], falling[10:-10])
    noisy = falling * np.where(np.arange(200) % 2, 1.1, 0.9)
    ratio = run_stats.relative_spread(noisy)
    assert 0.85 < np.median(ratio[10:-10]) < 1.15 and np.nanmax(ratio) < 1.3
    assert np.all(np.isnan(ratio[:5])) and np.all(np.isnan(ratio[-5:]))  # no lagging edge
    assert np.array_equal(run_stats.epoch_labels([0.25, 0.5, 1.0, 1.25]), [1, 1, 1, 2])
    assert np.array_equal(run_stats.epoch_labels([0, 0, 1, 1]), [1, 1, 2, 2])
    assert np.array_equal(run_stats.epoch_labels([1, 1, 2]), [1, 1, 2])


def test_a_full_batch_loss_has_no_step_noise_and_a_minibatch_loss_has():
    steps = np.arange(400)
    smooth = 2.0 * np.exp(-steps / 100) + 0.1
    noisy = smooth * (1 + 0.05 * np.random.default_rng(0).normal(size=steps.size))
    assert not run_stats.has_step_noise(smooth)
    assert run_stats.has_step_noise(noisy)
