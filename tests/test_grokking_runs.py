"""The grokking experiment: backprop of models.modular, and the runs recorded in data/grokking."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import records
from conftest import central_differences, relative_errors
from models import mlp, modular
from recorders import grokking

TINY = modular.GrokConfig(p=7, d=3, hidden=(5,), train_fraction=0.5, seed=3, max_steps=30)


def _fd_check(cfg: modular.GrokConfig, eps: float = 1e-6, pairs: slice = slice(None)
              ) -> dict[tuple[int, str], float]:
    """Relative error ||fd - g|| / max(||fd||, ||g||) of every parameter array, on the
    training pairs `pairs` (all of them, or a minibatch)."""
    params = modular.init_params(cfg)
    data = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    args = (data.a_train[pairs], data.b_train[pairs], data.y_train[pairs])
    _, grads = modular.loss_and_grads(params, *args)
    fd = central_differences(lambda shifted: modular.loss_and_grads(shifted, *args)[0], params,
                             eps)
    return relative_errors(fd, grads)


@pytest.mark.parametrize("hidden", [(5,), (6, 4)])
def test_gradients_match_central_finite_differences(hidden):
    errors = _fd_check(modular.GrokConfig(p=7, d=3, hidden=hidden, train_fraction=0.6, seed=1))
    assert (0, "E") in errors and len(errors) == 1 + 2 * (len(hidden) + 1)
    assert max(errors.values()) < 1e-6, errors


def test_gradients_of_a_minibatch_missing_operand_values():
    """A minibatch of 3 pairs leaves most operand values (the last ones included) out: their
    embedding rows get zero gradient, the others the right one."""
    cfg = modular.GrokConfig(p=7, d=3, hidden=(5,), train_fraction=0.6, seed=1)
    data = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    assert data.a_train[:3].max() < cfg.p - 1  # value p - 1 is absent from the batch
    errors = _fd_check(cfg, pairs=slice(0, 3))
    assert max(errors.values()) < 1e-6, errors


def test_first_layer_tables_equal_the_concatenated_input():
    params = modular.init_params(TINY)
    a, b = np.divmod(np.arange(TINY.p**2), TINY.p)
    logits, _ = modular.forward(params, a, b)
    E = params[0]["E"]
    direct, _ = mlp.forward(params[1:], np.concatenate([E[a], E[b]], axis=1), "relu")
    np.testing.assert_allclose(logits, direct, rtol=1e-12, atol=1e-12)


def test_adamw_step_on_the_embedding_is_the_textbook_formula():
    params = modular.init_params(TINY)
    data = modular.split(TINY.p, TINY.train_fraction, TINY.seed)
    _, grads = modular.loss_and_grads(params, data.a_train, data.b_train, data.y_train)
    opt = mlp.Adam(lr=0.01, beta1=0.9, beta2=0.98, eps=1e-8, weight_decay=1.0)
    new, _ = opt.step(params, grads, opt.init(params))
    E, g = params[0]["E"], grads[0]["E"]
    # first step: m_hat = g, v_hat = g^2; decoupled decay lr * wd * theta
    expected = E - 0.01 * (g / (np.abs(g) + 1e-8) + 1.0 * E)
    np.testing.assert_allclose(new[0]["E"], expected, rtol=1e-14, atol=1e-15)


def test_split_covers_every_pair_once_with_correct_labels():
    s = modular.split(11, 0.3, seed=5)
    pairs = np.concatenate([s.a_train * 11 + s.b_train, s.a_val * 11 + s.b_val])
    assert sorted(pairs) == list(range(121)) and len(s.y_train) == round(0.3 * 121)
    assert np.array_equal(s.y_train, (s.a_train + s.b_train) % 11)
    assert np.array_equal(s.y_val, (s.a_val + s.b_val) % 11)
    again = modular.split(11, 0.3, seed=5)
    assert np.array_equal(s.a_train, again.a_train) and np.array_equal(s.b_val, again.b_val)


def test_segment_sum_equals_the_one_hot_product():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 3))
    index = rng.integers(0, 9, size=40)
    index[index == 4] = 5  # a value that never occurs, and the last value (8) kept rare
    onehot = np.zeros((40, 10))
    onehot[np.arange(40), index] = 1.0
    np.testing.assert_allclose(modular.segment_sum(values, index, 10), onehot.T @ values,
                               rtol=1e-12, atol=1e-12)
    assert not modular.segment_sum(values, index, 10)[[4, 9]].any()


def test_batches_cycle_through_seeded_shuffles():
    stream = modular.batches(10, 4, seed=3)
    first = [next(stream) for _ in range(5)]  # 20 pairs: two whole epochs
    assert all(len(b) == 4 and np.all(np.diff(b) > 0) for b in first)
    drawn = np.concatenate(first)
    assert sorted(drawn[:8].tolist() + drawn[8:10].tolist()) == sorted(drawn[:10].tolist())
    counts = np.bincount(drawn, minlength=10)
    assert counts.tolist() == [2] * 10  # every pair once per epoch
    again = modular.batches(10, 4, seed=3)
    assert all(np.array_equal(next(again), b) for b in first)
    other = modular.batches(10, 4, seed=4)
    assert not all(np.array_equal(next(other), b) for b in first)


def test_minibatch_training_logs_metrics_on_every_training_pair():
    cfg = dataclasses.replace(TINY, batch_size=5, max_steps=12)
    result = modular.train(cfg, snapshot_every=5)
    data = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    last = result.snapshots[12]
    loss, acc = modular.evaluate(last, data.a_train, data.b_train, data.y_train)
    assert result.metrics["train_loss"][-1] == loss and result.metrics["train_acc"][-1] == acc
    assert sorted(result.snapshots) == [0, 5, 10, 12]
    assert np.array_equal(mlp.flatten(last), mlp.flatten(result.params))
    assert not np.array_equal(mlp.flatten(result.snapshots[5]), mlp.flatten(last))
    full = modular.train(dataclasses.replace(cfg, batch_size=None))
    assert full.snapshots is None
    assert not np.array_equal(full.metrics["train_loss"], result.metrics["train_loss"])
    with pytest.raises(ValueError, match="batch_size"):
        modular.GrokConfig(batch_size=0)


def test_tiny_training_run_is_deterministic():
    steps = modular.log_spaced_checkpoints(TINY.max_steps, 4)
    first, second = modular.train(TINY, steps), modular.train(TINY, steps)
    assert list(first.metrics) == ["step", "train_loss", "train_acc", "val_loss", "val_acc",
                                   "weight_norm", "embedding_norm"]
    for name in first.metrics:
        assert np.array_equal(first.metrics[name], second.metrics[name]), name
    assert sorted(first.checkpoints) == sorted(second.checkpoints) == list(steps)
    for step in steps:
        assert np.array_equal(first.checkpoints[step]["embedding"],
                              second.checkpoints[step]["embedding"])
    assert np.array_equal(mlp.flatten(first.params), mlp.flatten(second.params))
    other = modular.train(dataclasses.replace(TINY, seed=4))
    assert not np.array_equal(other.metrics["train_loss"], first.metrics["train_loss"])


def test_record_writes_the_run_format(tmp_path):
    spec = {**grokking.MAIN, "p": 7, "d": 3, "hidden": [5], "max_steps": 120,
            "checkpoints": [0, 30, 120]}
    config = grokking.record("tiny", spec, tmp_path)
    run = records.load_run(tmp_path / "tiny")
    assert run.columns[:6] == ["step", "train_loss", "train_acc", "val_loss", "val_acc",
                               "weight_norm"]
    assert list(run.column("step")) == [s for s in range(121) if modular.is_logged(s)]
    for name in ("train_acc", "val_acc"):
        assert np.all((run.column(name) >= 0) & (run.column(name) <= 1))
    assert run.config == config and config["code_hash"] == grokking.current_hash(spec)
    assert sorted(run.checkpoints) == config["checkpoint_steps"]
    assert run.checkpoints.keys() >= {0, 120}
    assert run.load_checkpoint(120)["embedding"].shape == (7, 3)
    # the real runs are missing there
    assert grokking.main(["--check", "--data", str(tmp_path)]) == 1
    # recording again with fewer checkpoints leaves none of the earlier ones behind
    grokking.record("tiny", {**spec, "checkpoints": [0, 120]}, tmp_path)
    assert sorted(records.load_run(tmp_path / "tiny").checkpoints) == [0, 120]


# ---- the recorded runs ------------------------------------------------------------------------
def _load(name: str) -> records.Run:
    return records.load_run(grokking.DATA / name)


@pytest.mark.parametrize("name", list(grokking.RUNS))
def test_recorded_run_matches_the_current_code_and_its_spec(name):
    run = _load(name)
    assert run.config["code_hash"] == grokking.current_hash(grokking.RUNS[name]), \
        f"{name} is stale: run `python scripts/recorders/grokking.py`"
    for key, value in grokking.RUNS[name].items():
        assert run.config[key] == value, key
    assert list(run.column("step")) == [s for s in range(run.config["steps"] + 1)
                                        if modular.is_logged(s)]


def test_cli_check_passes_on_the_recorded_runs(capsys):
    assert grokking.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


def test_main_run_groks():
    run = _load("main")
    steps, train_acc = run.series("train_acc")
    _, val_acc = run.series("val_acc")
    s1 = int(steps[np.flatnonzero(train_acc >= 0.99)[0]])
    s2 = int(steps[np.flatnonzero(val_acc >= 0.95)[0]])
    assert np.all(val_acc[steps < s2] < 0.95)
    assert s2 >= 5 * s1, (s1, s2)
    assert (s1, s2) == (run.config["train_acc_0.99_step"], run.config["val_acc_0.95_step"])
    assert val_acc[-1] >= 0.95 and train_acc[-1] == 1.0


def test_main_run_checkpoints_hold_the_embedding():
    run = _load("main")
    last = run.config["steps"]
    assert len(run.checkpoints) >= 10 and {0, last} <= run.checkpoints.keys()
    assert sorted(run.checkpoints) == grokking.MAIN_CHECKPOINTS
    assert set(run.checkpoints) <= set(run.column("step").astype(int))
    cfg = grokking.grok_config(grokking.RUNS["main"])
    np.testing.assert_array_equal(run.load_checkpoint(0)["embedding"],
                                  modular.init_params(cfg)[0]["E"])
    assert run.load_checkpoint(last)["embedding"].shape == (cfg.p, cfg.d)


def test_main_run_log_reproduces():
    """The first logged rows of the record are what the code computes now."""
    run = _load("main")
    cfg = grokking.grok_config({**grokking.RUNS["main"], "max_steps": 5})
    fresh = modular.train(cfg).metrics
    for name, values in fresh.items():
        np.testing.assert_allclose(run.column(name)[:6], values, rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("seed", grokking.SEEDS)
def test_weight_decay_zero_does_not_generalize(seed):
    run = _load(grokking.seeded("wd_0", seed))
    assert run.config["weight_decay"] == 0.0 and run.config["seed"] == seed
    assert run.config["stopped_reason"] == f"max_steps={run.config['max_steps']}"
    assert run.series("val_acc")[1].max() < 0.95
    assert run.series("train_acc")[1][-1] == 1.0  # it memorised


@pytest.mark.parametrize("name", [n for n in grokking.RUNS if grokking.RUNS[n]["stop_hold"]])
def test_sweep_runs_follow_the_stop_rule(name):
    run = _load(name)
    steps, val_acc = run.series("val_acc")
    hold, last = run.config["stop_hold"], run.config["steps"]
    held = [s for s in steps
            if s >= hold and np.all(val_acc[(steps >= s - hold) & (steps <= s)] >= 0.95)]
    if run.config["stopped_reason"].startswith("max_steps"):
        assert last == run.config["max_steps"] and not held
    else:
        assert held and held[0] == last < run.config["max_steps"]


def test_every_sweep_point_has_every_seed_and_differs_only_in_its_parameter():
    assert len(grokking.SEEDS) >= 3 and grokking.SEEDS[0] == 0
    assert set(grokking.SWEEPS) == {"train_fraction", "weight_decay", "lr", "batch_size"}
    full_batch = round(grokking.BASE["train_fraction"] * grokking.BASE["p"] ** 2)
    for parameter, points in grokking.SWEEPS.items():
        assert ["main", "main_s1", "main_s2"] in points
        values = []
        for names in points:
            assert [grokking.RUNS[n]["seed"] for n in names] == list(grokking.SEEDS)
            specs = [{k: v for k, v in grokking.RUNS[n].items()
                      if k not in ("seed", "checkpoints")} for n in names]
            assert all(spec == specs[0] for spec in specs)
            others = {k: v for k, v in specs[0].items()
                      if k not in (parameter, "max_steps", "stop_hold")}
            assert others == {k: v for k, v in grokking.BASE.items()
                              if k not in (parameter, "seed")}
            value = specs[0].get(parameter)  # the main run has no batch size: full batch
            values.append(full_batch if parameter == "batch_size" and value is None else value)
        assert values == sorted(values) and len(set(values)) == len(values) >= 5
    # the centre point has five seeds (seed_spread), the sweeps use its first three
    assert [grokking.RUNS[grokking.seeded("main", s)]["seed"] for s in grokking.MAIN_SEEDS] \
        == list(range(5))
    assert set(grokking.RUNS) == {n for points in grokking.SWEEPS.values()
                                  for names in points for n in names} | {
        grokking.seeded("main", s) for s in grokking.MAIN_SEEDS}
    # only the main run keeps checkpoints
    assert [n for n in grokking.RUNS if grokking.RUNS[n]["checkpoints"]] == ["main"]


def test_seeded_names():
    assert grokking.seeded("wd_2", 0) == "wd_2" and grokking.seeded("wd_2", 2) == "wd_2_s2"
