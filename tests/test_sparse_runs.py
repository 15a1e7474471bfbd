"""Adaptive sample gating: backprop of the gated step, cost accounting, the PI controller, and
the runs recorded in data/sparse_training."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import records
from conftest import central_differences, relative_errors
from models import mlp
from numerics.sparse_training import controller, flops, selection
from numerics.sparse_training.task import TaskConfig, make_task
from recorders import sparse_training

TINY_TASK = TaskConfig(d_in=4, n_classes=3, clusters_per_class=2, n_train=64, n_val=32,
                       label_noise=0.1, data_seed=5)
TINY = selection.TrainConfig(mode="gated", rate=0.25, hidden=(6,), batch_size=16, epochs=3,
                             eval_every=4, probe_size=20, n_checkpoints=3, seed=2)


# ---- backprop of the gated step -------------------------------------------------------------
def _masked_loss(params, x, y, active) -> float:
    logits, _ = mlp.forward(params, x)
    return float(selection.per_sample_losses(logits, y)[active].mean())


def test_gated_gradient_matches_central_finite_differences():
    rng = np.random.default_rng(0)
    params = mlp.init_params([4, 6, 3], rng)
    x, y = rng.normal(size=(10, 4)), rng.integers(0, 3, size=10)
    active = np.zeros(10, bool)
    active[[1, 4, 5, 9]] = True
    logits, cache = mlp.forward(params, x)
    loss, grads = selection.masked_loss_and_grads(params, cache, logits, y, active)
    assert loss == pytest.approx(_masked_loss(params, x, y, active), rel=1e-14)
    fd = central_differences(lambda shifted: _masked_loss(shifted, x, y, active), params)
    errors = relative_errors(fd, grads)
    assert len(errors) == 4 and max(errors.values()) < 1e-6, errors


def test_gated_gradient_equals_a_fresh_pass_on_the_active_samples():
    rng = np.random.default_rng(1)
    params = mlp.init_params([5, 7, 4], rng)
    x, y = rng.normal(size=(12, 5)), rng.integers(0, 4, size=12)
    active = rng.random(12) < 0.4
    logits, cache = mlp.forward(params, x)
    loss, grads = selection.masked_loss_and_grads(params, cache, logits, y, active)
    ref_loss, ref = mlp.loss_and_grads(params, x[active], y[active])
    assert loss == pytest.approx(ref_loss, rel=1e-13)
    np.testing.assert_allclose(mlp.flatten(grads), mlp.flatten(ref), rtol=1e-12, atol=1e-15)
    nobody = np.zeros(12, bool)
    assert selection.masked_loss_and_grads(params, cache, logits, y, nobody) == (None, None)


# ---- cost accounting ------------------------------------------------------------------------
def test_flops_of_a_tiny_model_by_hand():
    sizes = [3, 4, 2]
    # dense 2*3*4 + 4 and 2*4*2 + 2, ReLU 4, softmax cross-entropy 3 per logit
    assert flops.forward_flops(sizes) == (24 + 4) + (16 + 2) + 4 + 3 * 2 == 56
    assert flops.backward_flops(sizes) == 112
    # batch of 10, 3 active: scoring forward on all 10, backward on 3
    fwd, bwd = flops.step_flops(sizes, 10, 3)
    assert (fwd, bwd) == (560, 336)
    full = sum(flops.step_flops(sizes, 10, 10))
    assert full == 1680
    assert (fwd + bwd) / full == pytest.approx(flops.gated_cost_fraction(0.3), rel=1e-15)
    assert flops.gated_cost_fraction(0.3) == pytest.approx((1 + 0.6) / 3)
    assert flops.gated_cost_fraction(0.3, reforward=True) == pytest.approx((1 + 0.9) / 3)
    assert flops.gated_cost_fraction(0.0) == pytest.approx(1 / 3)  # the scoring pass is never free
    assert flops.compute_matched_rate(0.1) == pytest.approx(0.4)
    # random selection of 3: forward and backward on the 3 only
    assert sum(flops.step_flops(sizes, 3, 3)) / full == pytest.approx(0.3)


@pytest.mark.parametrize("mode,rate", [("gated", 0.25), ("random", 0.25), ("full", 1.0)])
def test_counted_columns_follow_the_convention(mode, rate):
    cfg = dataclasses.replace(TINY, mode=mode, rate=rate)
    metrics = selection.train(TINY_TASK, cfg).metrics
    forward = flops.forward_flops(selection.sizes(TINY_TASK, cfg))
    step, processed, trained = (metrics[key] for key in
                                ("step", "samples_processed", "samples_trained"))
    np.testing.assert_array_equal(metrics["flops_forward"], processed * forward)
    np.testing.assert_array_equal(metrics["flops_backward"], trained * 2 * forward)
    np.testing.assert_array_equal(metrics["flops_total"],
                                  metrics["flops_forward"] + metrics["flops_backward"])
    np.testing.assert_array_equal(np.diff(trained),
                                  metrics["activation_rate"][1:] * cfg.batch_size)
    if mode == "random":  # no scoring pass: only the chosen samples go forward
        np.testing.assert_array_equal(processed, trained)
    else:
        np.testing.assert_array_equal(processed, step * cfg.batch_size)
    if mode == "full":
        np.testing.assert_array_equal(trained, step * cfg.batch_size)


# ---- the controller -------------------------------------------------------------------------
def test_pi_controller_tracks_a_drifting_score_stream():
    """Log-normal scores whose scale falls by e^-3 (like losses during training), batches of
    256, starting from a threshold that activates half of them."""
    rng = np.random.default_rng(0)
    ctrl = controller.PIController(target=0.1, kp=5.0, ki=1.0, smoothing=0.1, integral_limit=10.0)
    state = ctrl.init(1.0)
    steps = 3000
    rates, ratios = [], []
    for t in range(steps):
        scale = math.exp(-3.0 * t / steps)
        scores = scale * rng.lognormal(0.0, 1.0, size=256)
        rate = float(np.mean(scores > state.threshold))
        ratios.append(state.threshold / scale)
        state = ctrl.update(state, rate)
        rates.append(rate)
    assert rates[0] == pytest.approx(0.5, abs=0.1)
    assert abs(np.mean(rates[steps // 2:]) - 0.1) < 0.005
    # the threshold sits at the 90 % quantile of the scores, exp(1.2816) x scale
    assert np.median(ratios[steps // 2:]) == pytest.approx(math.exp(1.2816), rel=0.05)
    assert abs(state.integral) < ctrl.integral_limit


def test_pi_controller_signs_and_anti_windup():
    ctrl = controller.PIController(target=0.1, kp=2.0, ki=0.5, smoothing=0.5, integral_limit=3.0)
    state = ctrl.init(2.0)
    assert state.threshold == pytest.approx(2.0) and state.smoothed == 0.1
    up = ctrl.update(state, 0.9)
    assert up.smoothed == pytest.approx(0.5) and up.integral == pytest.approx(0.4)
    assert up.log_threshold == pytest.approx(math.log(2.0) + 2.0 * 0.4 + 0.5 * 0.4)
    assert ctrl.update(state, 0.0).threshold < 2.0 < up.threshold
    for _ in range(100):  # an unreachable target: the integral stops at its limit
        state = ctrl.update(state, 1.0)
    assert state.integral == 3.0
    assert state.log_threshold == pytest.approx(math.log(2.0) + 2.0 * (state.smoothed - 0.1)
                                                + 0.5 * 3.0)
    # the clamp lets it recover at once when the rate can fall again (unclamped, the integral
    # would be 90 and need some 900 steps to unwind)
    recovered = state
    for _ in range(10):
        recovered = ctrl.update(recovered, 0.0)
    assert recovered.integral < 2.5 and recovered.threshold < 2.0 * math.exp(0.5 * 2.5)


def test_initial_threshold_is_the_target_quantile():
    scores = np.arange(1, 101, dtype=float)
    assert np.mean(scores > controller.initial_threshold(scores, 0.1)) == pytest.approx(0.1)


# ---- the task and determinism ---------------------------------------------------------------
def test_task_is_seeded_noisy_only_in_training_and_imbalanced():
    cfg = sparse_training.configs(sparse_training.RUNS["full"])[0]
    task, again = make_task(cfg), make_task(cfg)
    assert np.array_equal(task.x_train, again.x_train)
    assert np.array_equal(task.y_train, again.y_train)
    assert np.array_equal(task.y_train != task.y_train_clean, task.noisy)
    assert abs(task.noisy.mean() - cfg.label_noise) < 0.01
    counts = np.bincount(task.y_val, minlength=cfg.n_classes)
    assert np.all(np.diff(counts) < 0)  # priors decrease with the class index
    assert 0.85 < task.bayes_val_acc < 0.97
    clean = make_task(dataclasses.replace(cfg, label_noise=0.0))
    assert np.array_equal(clean.x_train, task.x_train) and not clean.noisy.any()


def test_tiny_run_is_deterministic():
    first, second = selection.train(TINY_TASK, TINY), selection.train(TINY_TASK, TINY)
    assert list(first.metrics) == list(selection.COLUMNS)
    for name in selection.COLUMNS:
        np.testing.assert_array_equal(first.metrics[name], second.metrics[name], err_msg=name)
    assert sorted(first.checkpoints) == sorted(second.checkpoints) \
        == list(selection.checkpoint_steps(12, 3))
    for step, arrays in first.checkpoints.items():
        for key in arrays:
            np.testing.assert_array_equal(arrays[key], second.checkpoints[step][key])
    np.testing.assert_array_equal(mlp.flatten(first.params), mlp.flatten(second.params))
    other = selection.train(TINY_TASK, dataclasses.replace(TINY, seed=3))
    assert not np.array_equal(other.metrics["train_loss"], first.metrics["train_loss"],
                              equal_nan=True)


def test_record_writes_the_run_format(tmp_path):
    spec = {**sparse_training.RUNS["gated_0.1"], "d_in": 4, "n_classes": 3, "clusters_per_class": 2,
            "n_train": 64, "n_val": 32, "hidden": [6], "batch_size": 16, "epochs": 3,
            "probe_size": 20, "n_checkpoints": 3}
    config = sparse_training.record("tiny", spec, tmp_path)
    run = records.load_run(tmp_path / "tiny")
    assert run.columns == list(selection.COLUMNS)
    assert list(run.column("step")) == list(range(13))
    assert run.config == config and config["code_hash"] == sparse_training.current_hash(spec)
    assert sorted(run.checkpoints) == config["checkpoint_steps"] == [1, 3, 12]
    assert run.load_checkpoint(12)["scores"].shape == (20,)
    # the real runs are missing there
    assert sparse_training.main(["--check", "--data", str(tmp_path)]) == 1


# ---- the recorded runs ----------------------------------------------------------------------
def _load(name: str) -> records.Run:
    return records.load_run(sparse_training.DATA / name)


@pytest.mark.parametrize("name", list(sparse_training.RUNS))
def test_recorded_run_matches_the_current_code_and_its_spec(name):
    run = _load(name)
    spec = sparse_training.RUNS[name]
    assert run.config["code_hash"] == sparse_training.current_hash(spec), \
        f"{name} is stale: run `python scripts/recorders/sparse_training.py`"
    for key, value in spec.items():
        assert run.config[key] == value, key
    steps = run.column("step")
    assert steps[0] == 0 and steps[-1] == run.config["steps"] == 640
    assert run.config["flops_total"] == run.column("flops_total")[-1]
    assert run.columns == list(selection.COLUMNS)


def test_recorded_targets_equal_the_spec():
    gated = {name: _load(name).config for name in sparse_training.MAIN if name.startswith("gated_")}
    assert sorted(c["rate"] for c in gated.values()) == list(sparse_training.TARGETS)
    for name, partners in sparse_training.PARTNERS.items():
        target = _load(name).config["rate"]
        assert _load(partners["equal_rate"]).config["rate"] == target
        assert _load(partners["equal_compute"]).config["rate"] \
            == pytest.approx((1 + 2 * target) / 3, abs=1e-4)


def test_cli_check_passes_on_the_recorded_runs(capsys):
    assert sparse_training.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def test_gated_10_percent_run_tracks_its_target():
    """Over the last third of training the smoothed rate stays within 0.01 of 0.1.  One batch's
    rate has a binomial standard deviation sqrt(0.1 * 0.9 / 256) = 0.019; the EMA (weight 0.1)
    shrinks it to about 0.004, and the mean over 213 steps to well below 0.001.  So 0.01
    (10 % of the target) leaves room only for a real tracking error, e.g. the lag of a
    threshold that has to follow falling losses."""
    run = _load("gated_0.1")
    steps, smoothed = run.series("activation_rate_smoothed")
    last = smoothed[steps > 640 - 640 // 3]
    assert len(last) == 213
    assert abs(last.mean() - 0.1) < 0.01
    assert abs(run.series("activation_rate")[1][steps > 640 - 640 // 3].mean() - 0.1) < 0.01
    assert run.config["integral_clamped_steps"] == 0 and run.config["steps_without_update"] == 0


GATED_RUNS = [name for name, spec in sparse_training.RUNS.items() if spec["mode"] == "gated"]


@pytest.mark.parametrize("name", GATED_RUNS)
def test_every_gated_run_tracks_its_target_within_10_percent(name):
    run = _load(name)
    steps, smoothed = run.series("activation_rate_smoothed")
    last = smoothed[steps > 640 - 640 // 3]
    assert abs(last.mean() - run.config["rate"]) < 0.1 * run.config["rate"]
    assert run.config["integral_clamped_steps"] == 0  # the anti-windup clamp never engaged


def test_gated_10_percent_checkpoints_hold_the_score_distribution():
    run = _load("gated_0.1")
    assert sorted(run.checkpoints) == [1, 5, 25, 127, 640] == run.config["checkpoint_steps"]
    for step in run.checkpoints:
        checkpoint = run.load_checkpoint(step)
        assert checkpoint["scores"].shape == checkpoint["noisy"].shape \
            == checkpoint["labels"].shape == (1024,)
        assert np.all(checkpoint["scores"] > 0)
        assert checkpoint["threshold"][0] == run.column("threshold")[step]


def test_recorded_log_reproduces():
    """The first epoch of the recorded gated 10 % run is what the code computes now."""
    run = _load("gated_0.1")
    task_cfg, cfg = sparse_training.configs({**sparse_training.RUNS["gated_0.1"], "epochs": 1})
    fresh = selection.train(task_cfg, cfg).metrics
    for name, values in fresh.items():
        np.testing.assert_allclose(run.column(name)[:33], values, rtol=1e-9, err_msg=name)


def test_recorded_costs_are_the_counted_convention():
    full = _load("full")
    forward = full.config["forward_flops_per_sample"]
    assert forward == flops.forward_flops([20, 64, 5]) == 3348
    assert full.config["flops_total"] == 640 * 256 * 3 * forward
    epochs = full.column("epoch")
    assert [int(np.sum(epochs == e)) for e in range(1, 21)] == [32] * 20
    for target in sparse_training.TARGETS:
        gated = _load(f"gated_{target:g}").config
        assert gated["flops_fraction_of_full"] \
            == pytest.approx((1 + 2 * gated["activation_rate_mean"]) / 3, rel=1e-12)
        assert gated["samples_processed"] == 640 * 256
        random = _load(f"random_{target:g}").config
        assert random["samples_processed"] == random["samples_trained"]
        assert random["flops_fraction_of_full"] \
            == pytest.approx(random["activation_rate_mean"], rel=1e-12)


def test_the_code_hash_covers_every_experiment_module():
    numerics = {path.name for path in sparse_training.NUMERICS.glob("*.py")} - {"__init__.py"}
    assert numerics == {path.name for path in sparse_training.SOURCES
                        if path.parent == sparse_training.NUMERICS}
    assert all(path.is_file() for path in sparse_training.SOURCES)
