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


def test_log_downsampling_gives_each_decade_its_share_and_keeps_extremes():
    """On a log axis equal-count buckets would draw the first three decades of a million steps
    with two points; buckets of equal width in log x give each decade its share, and each
    bucket keeps its first minimum and maximum (brute force over the same buckets)."""
    x = np.arange(0, 1_000_001, dtype=float)
    y = np.random.default_rng(5).normal(size=x.size)
    y[123] = 50.0
    lx, ly = run_stats.downsample(x, y, 2000, log=True)
    assert len(lx) <= 2000 and 50.0 in ly and np.all(np.diff(lx) > 0)
    for decade in range(6):  # [1, 10), [10, 100), ...: 999 buckets over six decades
        inside = (lx >= 10.0 ** decade) & (lx < 10.0 ** (decade + 1))
        assert inside.sum() >= min(9 * 10 ** decade, 300)
    _, plain_y = run_stats.downsample(x, y, 2000)
    assert 50.0 in plain_y and np.sum(run_stats.downsample(x, y, 2000)[0] < 1000) <= 4
    # brute force: the same buckets (x = 0 one of its own), each one's extremes
    edges = run_stats.log_bucket_edges(0.0, 6.0, 999)
    assert np.allclose(np.log10(edges), np.arange(1, 999) * 6 / 999, rtol=0, atol=1e-12)
    bucket = np.concatenate([[0], np.digitize(x[1:], edges) + 1])
    expected = set()
    for b in np.unique(bucket):
        members = np.flatnonzero(bucket == b)
        expected |= {members[np.argmin(y[members])], members[np.argmax(y[members])]}
    assert np.array_equal(lx, x[sorted(expected)])


def test_per_value_weight_is_tensorboards_weight_over_its_sample():
    import warnings

    with warnings.catch_warnings():  # its vendored html5lib warns of its own deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        from tensorboard.plugins.scalar import scalars_plugin

    assert run_stats.TENSORBOARD_POINTS == scalars_plugin._DEFAULT_DOWNSAMPLING
    assert run_stats.per_value_weight(0.6, 1000) == 0.6      # short series: as it is
    assert run_stats.per_value_weight(0.0, 10**6) == 0.0
    for count in (2000, 7919, 10**6):  # over count/1000 values the memory decays by 0.6
        weight = run_stats.per_value_weight(0.6, count)
        assert weight ** (count / 1000) == pytest.approx(0.6, rel=1e-12)


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
    gap, how = run_stats.generalization_gap(run, "train_loss", "val_loss")
    # like with like: a loss without step noise, read at the evaluation's step (2.0 at 10,
    # 1.0 at 20), not averaged over the steps before it
    assert how == "value"
    assert np.array_equal(gap.steps, [10, 20]) and np.allclose(gap.values, [0.5, 1.0])
    rate = run_stats.improvement_rate(run, "train_loss", weight=0.5)
    # from the average's span on (2 values at weight 0.5): the slopes ending at values 2, 3
    assert np.array_equal(rate.steps, [15, 25]) and np.all(rate.values > 0)  # loss falls
    smoothed = run_stats.ema_with_gaps(curve.steps, curve.values, alpha=0.5)
    assert np.sum(rate.values * 10) == pytest.approx(np.log(smoothed[1] / smoothed[-1]))
    assert run_stats.improvement_rate(run, "train_loss", weight=0.8) is None  # span 5 > 4


def test_the_rate_starts_where_its_average_spans_its_memory():
    """While a debiased average fills, it is about the mean of the values so far and its slope
    is their noise over their count: on 200,000 noisy values (an average spanning 1,899 of
    them) the first slopes are a thousand times the loss's own rate. From the span on, the
    rate's values stay within a few times its trend's."""
    n = 200_000
    steps = np.arange(1, n + 1, dtype=float)
    loss = 3 * np.exp(-steps / 40_000) + 1 + np.random.default_rng(9).normal(0, 0.02, n)
    weight = run_stats.per_value_weight(0.9, n)
    assert run_stats.average_span(weight) == 1899 and run_stats.average_span(0.9) == 10
    assert run_stats.average_span(0.0) == 1
    midpoints, slopes = run_stats.log_slope(steps, loss, 0.9)
    assert midpoints[0] == (steps[1898] + steps[1899]) / 2 and len(slopes) == n - 1899
    trend = run_stats.loss_trend(-slopes)
    assert np.max(np.abs(slopes)) < 10 * np.nanmax(np.abs(trend))
    smoothed = run_stats.ema_with_gaps(steps, loss, alpha=1 - weight)
    filling = np.abs(np.diff(np.log(smoothed[:1899])))  # what was drawn before
    assert np.max(filling) > 100 * np.nanmax(np.abs(trend))


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
    gap, how = run_stats.generalization_gap(run, "train_loss", "val_loss")
    assert np.array_equal(gap.steps, [2, 4]) and how == "value"  # too short for a trend
    assert np.allclose(gap.values, [1.5 - 1.0, 1.7 - 2.0])


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
    gap, how = run_stats.generalization_gap(run, run_stats.training_loss(run), "val_loss")
    assert how == "aggregate" and np.allclose(gap.values, [0.05, 0.03])


def test_a_noisy_loss_is_read_at_the_evaluation_step_without_lag(tmp_path):
    """A mini-batch loss falling fast: the mean since the previous evaluation is far above the
    loss at the evaluation's step in the first fall (the review: -0.175 in the gated run, an
    artefact); its centred running median is not. The validation loss here equals the true
    loss, so the gap is about zero throughout, from the first evaluation on; evaluations within
    half a window of the ends, where the median is not centred, are left out."""
    steps = np.arange(1, 641.0)
    true = 1 + np.exp(-steps / 15)
    noise = 0.02 * np.resize([1.0, -1.0, 0.6, -0.6, 0.3, -0.3], len(steps))
    val = np.where(steps % 8 == 0, true, np.nan)
    run = load_run(write_run(tmp_path / "r", {}, {"step": steps, "train_loss": true + noise,
                                                 "val_loss": val}))
    gap, how = run_stats.generalization_gap(run, "train_loss", "val_loss")
    assert how == "trend"
    half = run_stats.loss_trend(true + noise)
    first = steps[np.flatnonzero(~np.isnan(half))[0]]
    assert gap.steps[0] == np.ceil(first / 8) * 8 and gap.steps[-1] < 640
    assert np.max(np.abs(gap.values)) < 0.03 and abs(gap.values[0]) < 0.02
    keep, means = run_stats.interval_means(steps, true + noise, steps[steps % 8 == 0])
    lagged = val[steps % 8 == 0][keep] - means  # the mean since the previous evaluation
    assert lagged[list(steps[steps % 8 == 0][keep]).index(gap.steps[0])] < -0.04


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


def test_a_smooth_curve_that_bends_has_no_step_noise():
    """A full-batch curve with bumps (the grokking run's weight norm) strays from its running
    median at its turning points but turns back at a few steps only: no step noise, so no
    moving average lagging behind it. A test that could fail: a noisy curve has it."""
    steps = np.arange(800.0)
    bumpy = 60 + 5 * np.sin(steps / 60) - steps / 100
    assert run_stats.reversal_share(bumpy) < run_stats.REVERSALS
    assert not run_stats.has_step_noise(bumpy)
    assert np.max(np.abs(run_stats.relative_spread(bumpy)[20:-20] - 1)) > run_stats.NOISELESS
    shaky = bumpy + 0.5 * np.resize([1.0, -1.0], steps.size)
    assert run_stats.reversal_share(shaky) > 0.9 and run_stats.has_step_noise(shaky)
    assert run_stats.reversal_share([1.0, 1.0, 2.0, 2.0, 3.0]) == 0.0  # ties are no turn


def test_the_norm_divides_into_its_logged_parts_and_the_rest(tmp_path):
    steps = np.arange(5.0)
    part = np.array([3.0, 3.0, 2.0, 1.0, 0.0])
    metrics = {"step": steps, "weight_norm": np.hypot(part, 4.0), "embedding_norm": part,
               "grad_norm": np.ones(5)}
    run = load_run(write_run(tmp_path / "r", {}, metrics))
    split = run_stats.norm_split(run)
    assert (split.total, split.parts) == ("weight_norm", ["embedding_norm"])
    assert np.allclose(split.norms["rest"], 4.0)
    assert np.allclose(split.shares["embedding_norm"], part ** 2 / (part ** 2 + 16))
    assert run_stats.weight_norms(run) == ["weight_norm", "embedding_norm"]  # not grad_norm
    # a "part" larger than the total is no part of it; without a total there is no split
    metrics["embedding_norm"] = part + 5
    assert run_stats.norm_split(load_run(write_run(tmp_path / "big", {}, metrics))) is None
    metrics = {"step": steps, "layer_norm": part, "head_norm": part}
    assert run_stats.norm_split(load_run(write_run(tmp_path / "none", {}, metrics))) is None


def test_parameter_changes_between_checkpoints():
    a = np.array([[3.0, 0.0], [0.0, 4.0]])             # norm 5
    checkpoints = {0: {"w": a, "scores": np.arange(3.0), "labels": np.arange(4)},
                   10: {"w": a + np.array([[0.0, 1.0], [0.0, 0.0]]), "scores": np.ones(3)},
                   30: {"w": a + np.array([[0.0, 1.0], [0.0, 2.0]]), "scores": np.ones(3)}}
    (change,) = run_stats.parameter_changes(checkpoints)  # 1-D scores are no parameter
    assert change.name == "w" and change.edges.tolist() == [0, 10, 30]
    norm_b = np.linalg.norm(checkpoints[10]["w"])
    assert np.allclose(change.per_step, [1 / 5 / 10, 2 / norm_b / 20])
    assert run_stats.parameter_changes({0: {"w": a}, 5: {"w": a}}) == []  # two: no rate


def test_the_pull_of_decoupled_weight_decay():
    """AdamW multiplies the weights by 1 - lr wd each step on top of its update: ln||w|| falls by
    -ln(1 - lr wd) a step from decay alone. Adam with an L2 penalty (decay coupled to the
    gradient) has no such pull to draw, nor a run without weight decay."""
    steps, values = run_stats.decay_pull({"lr": 0.003, "weight_decay": 1.0,
                                          "optimizer": "AdamW, full batch"})
    assert len(steps) == 0 and values[0] == pytest.approx(np.log(1 - 0.003))
    assert run_stats.decay_pull({"lr": 0.003, "weight_decay": 1.0, "optimizer": "Adam"}) is None
    assert run_stats.decay_pull({"learning_rate": 1e-3, "weight_decay": 0.0,
                                 "optim": "adamw_torch"}) is None
    steps, values = run_stats.decay_pull({"weight_decay": 0.1, "optim": "adamw_torch"},
                                         [0, 10], [1e-3, 5e-4])
    assert steps.tolist() == [0, 10] and np.allclose(values, np.log(1 - np.array([1e-4, 5e-5])))


def test_a_memorized_training_loss_makes_the_gap_the_validation_loss(tmp_path):
    metrics = {"step": [1, 2, 3, 4], "train_loss": [1e-5, 1e-6, 1e-6, 1e-7],
               "val_loss": [4.0, 5.0, 3.0, 1.0]}
    run = load_run(write_run(tmp_path / "r", {}, metrics))
    assert run_stats.gap_is_validation_loss(run, "train_loss", "val_loss")
    metrics["train_loss"] = [3.0, 3.0, 2.0, 0.5]
    run = load_run(write_run(tmp_path / "s", {}, metrics))
    assert not run_stats.gap_is_validation_loss(run, "train_loss", "val_loss")


def test_counters_are_not_curves(tmp_path):
    metrics = {"step": np.arange(4.0), "train_loss": [3.0, 2.0, 1.5, 1.0],
               "samples_seen": [32.0, 64, 96, 128], "flops_total": [1.0, 2, 3, 4],
               "val_acc": [0.1, 0.2, 0.3, 0.4], "val_f1": [0.2, 0.1, 0.3, 0.2]}
    run = load_run(write_run(tmp_path / "r", {}, metrics))
    assert run_stats.counters(run) == ["samples_seen", "flops_total"]
    assert run_stats.curve_metrics(run) == ["train_loss", "val_acc", "val_f1"]
    assert run_stats.left_out_metrics(run) == ["val_f1"]  # one evaluation score a panel


def test_seeds_of_an_early_stopped_sweep_point_are_one_group():
    """A sweep run records the steps it took before it stopped beside its max_steps: that
    result is no setting, so seeds that stopped at different steps are still one group."""
    configs = [{"max_steps": 8000, "steps": 2550, "weight_decay": 2.0, "seed": 0},
               {"max_steps": 8000, "steps": 3480, "weight_decay": 2.0, "seed": 1},
               {"max_steps": 4000, "steps": 3480, "weight_decay": 2.0, "seed": 2}]
    groups = run_stats.seed_groups(["wd_2", "wd_2_s1", "wd_2_s2"], configs)
    assert groups == [[0, 1], [2]]  # another step budget is another setting


def test_a_runs_own_average_and_its_selection(tmp_path):
    """A series logged with an average's suffix is the run's own average of the series it is
    named after (drawn over it, never smoothed again); a run that logs a share of the batch
    trained below 1 trains on a selection, so its train_loss is not the whole batch's."""
    names = ["activation_rate", "activation_rate_smoothed", "loss_ema", "train/acc",
             "train/smoothed_acc", "lonely_smoothed"]
    assert run_stats.own_averages(names) == {"activation_rate": "activation_rate_smoothed",
                                             "train/acc": "train/smoothed_acc"}
    steps = np.arange(1, 5.0)
    picked = load_run(write_run(tmp_path / "picked", {}, {
        "step": steps, "train_loss": [1.0, 0.9, 0.8, 0.7], "activation_rate": [0.1, 0.12,
                                                                                0.09, 0.1]}))
    every = load_run(write_run(tmp_path / "every", {}, {
        "step": steps, "train_loss": [1.0, 0.9, 0.8, 0.7], "activation_rate": [1.0] * 4,
        "batch_loss_mean": [1.0, 0.9, 0.8, 0.7]}))
    assert run_stats.trains_on_a_selection(picked) and not run_stats.trains_on_a_selection(every)
    assert run_stats.whole_batch_loss(picked) is None
    assert run_stats.whole_batch_loss(every) == "batch_loss_mean"


def test_a_weighted_metric_finds_the_plainer_one_logged_beside_it():
    columns = ["val_acc", "eval/f1", "val_balanced_acc"]
    assert run_stats.plain_variant("val_balanced_acc", columns) == "val_acc"
    assert run_stats.plain_variant("eval/macro_f1", columns) == "eval/f1"
    assert run_stats.plain_variant("val_balanced_acc", ["val_loss"]) is None
    assert run_stats.plain_variant("balanced", ["", "balanced"]) is None
    assert run_stats.plain_variant("val_acc", columns) is None


# ---- the running median at scale (issue 14) ------------------------------------------------
def _sorted_medians(values, window):
    """Each window's median by sorting it: what window_medians must equal, bit for bit."""
    windows = np.lib.stride_tricks.sliding_window_view(np.asarray(values, float), window)
    return np.sort(windows, axis=1)[:, window // 2]


def _series(rng, kind: str, n: int) -> np.ndarray:
    if kind == "noise":
        return rng.normal(size=n)
    if kind == "ties":  # a few values, repeated: ranks break ties in the order logged
        return rng.integers(0, 4, n).astype(float)
    if kind == "walk":
        return np.cumsum(rng.normal(size=n))
    if kind == "infinite":
        x = rng.normal(size=n)
        x[rng.random(n) < 0.05] = np.inf
        x[rng.random(n) < 0.05] = -np.inf
        return x
    return 1 + 0.01 * np.sin(np.arange(n) / 7) + rng.normal(0, 1e-3, n)  # a noisy wave


@pytest.mark.parametrize("kind", ["noise", "ties", "walk", "infinite", "wave"])
def test_window_medians_equal_sorting_each_window(kind):
    """Windows of one value up to windows as long as the series, ties, +-inf."""
    rng = np.random.default_rng(len(kind))
    for _ in range(150):
        window = int(rng.integers(0, 30)) * 2 + 1
        n = int(rng.integers(window, 400))
        x = _series(rng, kind, n)
        assert np.array_equal(run_stats.window_medians(x, window), _sorted_medians(x, window))
    assert run_stats.window_medians(np.arange(3.0), 5).size == 0
    with pytest.raises(ValueError, match="odd"):
        run_stats.window_medians(np.arange(10.0), 4)


def test_loss_trend_is_the_rolling_median_pandas_computes():
    """The trend as pandas' rolling median gave it before (centred, whole windows only, no
    value where a window holds +-inf), now in O(n log n)."""
    import pandas

    rng = np.random.default_rng(11)
    for kind in ("noise", "ties", "infinite", "wave"):
        for n in (3, 6, 120, 2500):
            x = _series(rng, kind, n)
            x[rng.random(n) < 0.1] = np.nan
            logged = ~np.isnan(x)
            window = run_stats.trend_window(int(logged.sum()))
            expected = np.full(n, np.nan)
            expected[logged] = pandas.Series(x[logged]).rolling(
                window, center=True, min_periods=window).median().to_numpy()
            assert np.array_equal(run_stats.loss_trend(x), expected, equal_nan=True)


def test_step_noise_from_a_few_windows_or_the_whole_trend():
    """A noisy series is settled by the first probe; a smooth one with a single spike away
    from the probes needs the whole trend, and gets the same answer as before."""
    rng = np.random.default_rng(2)
    steps = np.arange(20_000.0)
    noisy = np.exp(-steps / 5000) * (1 + rng.normal(0, 0.01, steps.size))
    assert run_stats.has_step_noise(noisy)
    smooth = 1 + 1e-5 * np.sin(steps)     # turns back at every step, strays by 1e-5 only
    assert not run_stats.has_step_noise(smooth)
    spiked = smooth.copy()
    spiked[7_777] *= 1.01                 # one step strays by 1 %: not at a probed window
    probes = np.linspace(500, steps.size - 501, run_stats.NOISE_PROBES).astype(int)
    assert 7_777 not in probes and run_stats.has_step_noise(spiked)


def test_statistics_of_a_series_are_remembered_by_its_values():
    calls = []

    def compute():
        calls.append(1)
        return np.array([1.0, 2.0])

    series = np.arange(5.0)
    first = run_stats.remembered(series, "test", compute)
    first[0] = 99                        # a copy: the remembered result is unchanged
    again = run_stats.remembered(series.copy(), "test", compute)
    assert len(calls) == 1 and again[0] == 1.0
    run_stats.remembered(series + 1e-12, "test", compute)   # other values: computed again
    assert len(calls) == 2
    for k in range(run_stats.REMEMBERED_SERIES + 1):        # a bounded number of series kept
        run_stats.remembered(np.full(3, float(k)), "test", compute)
    assert len(run_stats._REMEMBERED) == run_stats.REMEMBERED_SERIES


def test_isin_by_binary_search_equals_numpy():
    rng = np.random.default_rng(4)
    for _ in range(50):
        a = rng.integers(0, 20, rng.integers(0, 40)).astype(float)
        b = rng.integers(0, 20, rng.integers(0, 20)).astype(float)
        a[::5], b[::3] = np.nan, -0.0
        assert np.array_equal(run_stats.isin(a, b), np.isin(a, b))


def test_downsampling_keeps_each_buckets_extremes_the_last_bucket_too():
    rng = np.random.default_rng(8)
    for n in (2001, 2500, 10_007, 99_999):
        y = rng.normal(size=n)
        y[rng.random(n) < 0.05] = np.nan
        x = np.arange(n, dtype=float)
        xs, ys = run_stats.downsample(x, y, 2000)
        kept_x, kept_y = x[~np.isnan(y)], y[~np.isnan(y)]
        size = -(-len(kept_y) // 1000)
        expected = set()
        for start in range(0, len(kept_y), size):  # every bucket, the shorter last one too
            bucket = kept_y[start:start + size]
            expected |= {start + int(np.argmin(bucket)), start + int(np.argmax(bucket))}
        index = sorted(expected)
        assert np.array_equal(xs, kept_x[index]) and np.array_equal(ys, kept_y[index])
