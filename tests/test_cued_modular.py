"""Modular addition with a spurious cue (models.cued_modular): backprop, the cues, the data."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import central_differences, relative_errors
from models import cued_modular, mlp, modular

TINY = cued_modular.CuedConfig(p=7, d=3, hidden=(5,), train_fraction=0.5, rho=0.8, seed=3,
                               max_steps=30)


def _inputs(cfg: cued_modular.CuedConfig, pairs: slice = slice(None)):
    data = cued_modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    rng = np.random.default_rng(11)
    c = cued_modular.draw_cues(data.y_train, cfg.rho, cfg.p, rng)
    return (data.a_train[pairs], data.b_train[pairs], c[pairs], data.y_train[pairs])


def _relative_errors(cfg: cued_modular.CuedConfig, pairs: slice = slice(None), eps: float = 1e-6
                     ) -> dict[tuple[int, str], float]:
    """||fd - g|| / max(||fd||, ||g||) of every parameter array: central finite differences of
    the loss against the hand-written gradient, float64."""
    params = cued_modular.init_params(cfg)
    args = _inputs(cfg, pairs)
    _, grads = cued_modular.loss_and_grads(params, *args)
    assert all(array.dtype == np.float64 for layer in params for array in layer.values())
    fd = central_differences(lambda shifted: cued_modular.loss_and_grads(shifted, *args)[0],
                             params, eps)
    return relative_errors(fd, grads)


@pytest.mark.parametrize("hidden", [(5,), (6, 4)])
def test_gradients_match_central_finite_differences(hidden):
    errors = _relative_errors(dataclasses.replace(TINY, hidden=hidden, seed=1))
    # both embeddings, and W and b of every layer
    assert {(0, "C"), (0, "E")} <= errors.keys() and len(errors) == 2 + 2 * (len(hidden) + 1)
    assert max(errors.values()) < 1e-6, errors


def test_gradients_of_a_few_pairs_leaving_most_token_values_out():
    """Three pairs use few operand and cue values (the last ones absent): the rows of the
    values that do not occur get zero gradient, the others the right one."""
    errors = _relative_errors(TINY, pairs=slice(0, 3))
    assert max(errors.values()) < 1e-6, errors
    params = cued_modular.init_params(TINY)
    a, b, c, y = _inputs(TINY, slice(0, 3))
    _, grads = cued_modular.loss_and_grads(params, a, b, c, y)
    unused_cues = np.setdiff1d(np.arange(TINY.p), c)
    assert unused_cues.size and not grads[0]["C"][unused_cues].any()
    assert grads[0]["C"][np.unique(c)].any(axis=1).all()


def test_first_layer_tables_equal_the_concatenated_input():
    params = cued_modular.init_params(TINY)
    rng = np.random.default_rng(0)
    a, b, c = (rng.integers(0, TINY.p, size=40) for _ in range(3))
    logits, _ = cued_modular.forward(params, a, b, c)
    E, C = params[0]["E"], params[0]["C"]
    direct, _ = mlp.forward(params[1:], np.concatenate([E[a], E[b], C[c]], axis=1), "relu")
    np.testing.assert_allclose(logits, direct, rtol=1e-12, atol=1e-12)


def test_the_cue_changes_the_prediction_and_the_operands_still_count():
    params = cued_modular.init_params(TINY)
    a, b = np.zeros(TINY.p, int), np.ones(TINY.p, int)
    logits, _ = cued_modular.forward(params, a, b, np.arange(TINY.p))
    assert not np.allclose(logits[0], logits[1])
    other, _ = cued_modular.forward(params, a + 2, b, np.arange(TINY.p))
    assert not np.allclose(logits, other)


# ---- the cues and the split ------------------------------------------------------------------
def test_split_is_the_modular_split_with_a_wrong_cue_for_every_pair():
    data = cued_modular.split(11, 0.3, seed=5)
    pairs = modular.split(11, 0.3, seed=5)
    for name in ("a_train", "b_train", "y_train", "a_val", "b_val", "y_val"):
        assert np.array_equal(getattr(data, name), getattr(pairs, name)), name
    assert np.array_equal(data.y_train, (data.a_train + data.b_train) % 11)
    for c, y in ((data.c_train, data.y_train), (data.c_val, data.y_val)):
        assert len(c) == len(y) and np.all((c >= 0) & (c < 11)) and not np.any(c == y)
    again = cued_modular.split(11, 0.3, seed=5)
    assert np.array_equal(again.c_train, data.c_train) and np.array_equal(again.c_val, data.c_val)
    other = cued_modular.split(11, 0.3, seed=6)
    assert not np.array_equal(other.c_val[:20], data.c_val[:20])


@pytest.mark.parametrize("rho", [0.9, 0.5, 0.95])
def test_each_draw_aligns_exactly_rho_of_the_pairs(rho):
    y = np.random.default_rng(1).integers(0, 13, size=301)
    rng = np.random.default_rng([4, 4])
    draws = [cued_modular.draw_cues(y, rho, 13, rng) for _ in range(50)]
    for c in draws:
        assert np.sum(c == y) == round(rho * len(y))  # the others are never the answer
        assert np.all((c >= 0) & (c < 13))
    aligned = np.array([c == y for c in draws])
    # a different share of pairs every step: each pair is conflicting in about 1 - rho draws
    assert not all(np.array_equal(aligned[0], row) for row in aligned[1:])
    share = 1 - aligned.mean(axis=0)
    assert share.mean() == pytest.approx(1 - round(rho * len(y)) / len(y), rel=1e-12)
    assert share.max() < 1
    # wrong cues spread over all the other labels
    wrong = np.concatenate([c[c != y] - y[c != y] for c in draws]) % 13
    assert set(wrong) == set(range(1, 13))
    again = np.random.default_rng([4, 4])
    assert np.array_equal(cued_modular.draw_cues(y, rho, 13, again), draws[0])


def test_other_label_is_uniform_over_the_wrong_labels():
    y = np.full(58_000, 3)
    labels = cued_modular.other_label(y, 59, np.random.default_rng(0))
    counts = np.bincount(labels, minlength=59)
    assert counts[3] == 0
    expected = len(y) / 58
    assert np.all(np.abs(counts[np.arange(59) != 3] - expected) < 5 * np.sqrt(expected))


# ---- training -------------------------------------------------------------------------------
def test_tiny_training_run_is_deterministic_and_logs_its_columns():
    first, second = cued_modular.train(TINY), cued_modular.train(TINY)
    assert list(first.metrics) == list(cued_modular.COLUMNS)
    assert list(first.metrics["step"]) == [s for s in range(31) if modular.is_logged(s)]
    for name in first.metrics:
        assert np.array_equal(first.metrics[name], second.metrics[name]), name
    m = first.metrics
    for name in ("train_acc", "train_acc_conflicting", "val_acc_aligned", "val_acc_conflicting",
                 "val_follows_cue"):
        assert np.all((m[name] >= 0) & (m[name] <= 1)), name
    assert np.all(m["val_acc_conflicting"] + m["val_follows_cue"] <= 1)
    other = cued_modular.train(dataclasses.replace(TINY, seed=4))
    assert not np.array_equal(other.metrics["train_loss"], m["train_loss"])


def test_measure_counts_the_cue_and_the_rule_on_the_conflicting_pairs():
    params = cued_modular.init_params(TINY)
    data = cued_modular.split(TINY.p, TINY.train_fraction, TINY.seed)
    m = cued_modular.measure(params, data)
    logits, _ = cued_modular.forward(params, data.a_val, data.b_val, data.c_val)
    guess = logits.argmax(axis=1)
    assert m["val_follows_cue"] == np.mean(guess == data.c_val)
    assert m["val_acc_conflicting"] == np.mean(guess == data.y_val)
    rows = np.arange(len(guess))
    assert m["val_cue_margin"] == pytest.approx(
        np.mean(logits[rows, data.c_val] - logits[rows, data.y_val]), rel=1e-12)
    assert m["cue_norm"] == np.linalg.norm(params[0]["C"])


def test_a_small_run_follows_the_cue_first_and_stops_by_the_rule():
    """A small setting (p = 23, 80 % of the pairs, rho = 0.7) that generalizes in a few hundred
    steps: the cue is followed on every conflicting held-out pair first, and the run stops once
    the rule has held THRESHOLD on them for stop_hold steps, at every logged step."""
    cfg = cued_modular.CuedConfig(p=23, d=16, hidden=(64,), train_fraction=0.8, rho=0.7,
                                  lr=1e-2, weight_decay=0.5, seed=3, max_steps=3000,
                                  stop_hold=50)
    result = cued_modular.train(cfg)
    m = result.metrics
    assert result.stopped_reason.startswith("val_acc_conflicting")
    last = m["step"][-1]
    assert last == result.steps < cfg.max_steps
    window = m["step"] >= last - cfg.stop_hold
    assert np.all(m["val_acc_conflicting"][window] >= cued_modular.THRESHOLD)
    assert not np.all(m["val_acc_conflicting"][m["step"] >= last - cfg.stop_hold - 10]
                      >= cued_modular.THRESHOLD)  # it stopped at the first step it could
    first_cue = np.flatnonzero(m["val_follows_cue"] == 1.0)[0]
    assert m["val_acc_conflicting"][first_cue] == 0.0 and m["step"][first_cue] < 100


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="hidden"):
        cued_modular.CuedConfig(hidden=())
    with pytest.raises(ValueError, match="rho"):
        cued_modular.CuedConfig(rho=1.5)
