"""The progress measures of Nanda et al. 2023 (numerics.grokking.progress) and the claims of the
progress_measures figure, checked against the recorded run data/grokking_progress/main."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import grokking
from models import mlp, modular, transformer
from numerics.grokking import analysis, progress

TINY = modular.GrokConfig(p=7, d=3, hidden=(5,), train_fraction=0.5, seed=3, max_steps=30)


# ---- the grid's Fourier directions ------------------------------------------------------------
@pytest.mark.parametrize("p,key", [(7, [1, 2, 3]), (59, [1, 4, 9, 29]), (11, [5])])
def test_key_directions_are_orthonormal_and_orthogonal_to_the_constant(p, key):
    d = progress.key_directions(p, key)
    assert d.shape == (p * p, 2 * len(key))
    np.testing.assert_allclose(d.T @ d, np.eye(2 * len(key)), atol=1e-12)
    np.testing.assert_allclose(d.sum(axis=0), 0, atol=1e-11)
    # column 2j is cos(w_k (a + b)) up to its norm, p / sqrt(2)
    a, b = progress.pair_grid(p)
    np.testing.assert_allclose(d[:, 0] * p / np.sqrt(2), np.cos(2 * np.pi * key[0] * (a + b) / p),
                               atol=1e-12)


@pytest.mark.parametrize("key", [[0], [4], [1, 7]])
def test_frequencies_outside_one_to_half_p_are_refused(key):
    with pytest.raises(ValueError, match="key frequencies"):
        progress.key_directions(7, key)


def test_pair_grid_is_the_order_of_the_split():
    split = modular.split(7, 0.5, seed=3)
    a, b = progress.pair_grid(7)
    index = split.a_train * 7 + split.b_train
    assert np.array_equal(a[index], split.a_train) and np.array_equal(b[index], split.b_train)


# ---- restricted and excluded activations ------------------------------------------------------
def _output_params(hidden: int, p: int, seed: int) -> mlp.Params:
    rng = np.random.default_rng(seed)
    return [{"W": rng.normal(size=(hidden, p)), "b": rng.normal(size=p)}]


def test_pure_key_frequency_neurons_are_kept_whole_and_removed_whole():
    """Neurons that are a constant plus waves of the key frequencies in a + b: the restricted
    logits are the logits, and removing the key components leaves the constant alone."""
    p, key, hidden = 11, [2, 5], 6
    rng = np.random.default_rng(0)
    a, b = progress.pair_grid(p)
    angle = 2 * np.pi * np.outer(a + b, key) / p
    acts = (rng.normal(size=hidden) + np.cos(angle) @ rng.normal(size=(2, hidden))
            + np.sin(angle) @ rng.normal(size=(2, hidden)))
    params = _output_params(hidden, p, 1)
    logits = progress.output_layer(acts, params)
    d = progress.key_directions(p, key)
    np.testing.assert_allclose(progress.restricted_logits(acts, logits, params, d), logits,
                               atol=1e-12)
    excluded = progress.excluded_activations(acts, d)
    np.testing.assert_allclose(excluded, np.broadcast_to(acts.mean(axis=0), acts.shape),
                               atol=1e-12)
    y = (a + b) % p
    constant_only = progress.output_layer(np.broadcast_to(acts.mean(axis=0), acts.shape), params)
    assert progress.cross_entropy(progress.excluded_logits(acts, params, d), y) == \
        pytest.approx(progress.cross_entropy(constant_only, y), rel=1e-12)
    # another frequency's waves are not kept: restricting to key [2] loses the k = 5 part
    only_two = progress.key_directions(p, [2])
    assert not np.allclose(progress.restricted_activations(acts, only_two), acts)


def test_every_frequency_spans_every_function_of_the_sum():
    """With all frequencies 1 .. (p-1)/2 as key, any function of (a + b) mod p is restricted to
    itself; a function of a alone keeps only its mean."""
    p = 7
    rng = np.random.default_rng(2)
    a, b = progress.pair_grid(p)
    table = rng.normal(size=(p, 3))
    everything = progress.key_directions(p, range(1, 4))
    of_sum = table[(a + b) % p]
    np.testing.assert_allclose(progress.restricted_activations(of_sum, everything), of_sum,
                               atol=1e-12)
    of_a = table[a]
    np.testing.assert_allclose(progress.restricted_activations(of_a, everything),
                               np.broadcast_to(of_a.mean(axis=0), of_a.shape), atol=1e-12)


def test_restricted_and_excluded_split_the_real_networks_neurons():
    params = modular.init_params(TINY)
    acts, logits = progress.neurons_and_logits(params, TINY.p)
    assert acts.shape == (TINY.p ** 2, TINY.hidden[-1]) and np.all(acts >= 0)
    np.testing.assert_allclose(progress.output_layer(acts, params), logits, atol=1e-12)
    d = progress.key_directions(TINY.p, [1, 3])
    parts = (progress.restricted_activations(acts, d) + progress.excluded_activations(acts, d)
             - acts.mean(axis=0))
    np.testing.assert_allclose(parts, acts, atol=1e-12)
    # the authors' bias shift is zero for this MLP: its output layer is affine
    unshifted = progress.output_layer(progress.restricted_activations(acts, d), params)
    np.testing.assert_allclose(progress.restricted_logits(acts, logits, params, d), unshifted,
                               atol=1e-12)


def test_measures_losses_are_the_networks_own():
    params = modular.init_params(TINY)
    split = modular.split(TINY.p, TINY.train_fraction, TINY.seed)
    d = progress.key_directions(TINY.p, [1])
    row = progress.measures(params, split, d, [1])
    loss, acc = modular.evaluate(params, split.a_train, split.b_train, split.y_train)
    assert row["train_loss"] == pytest.approx(loss, rel=1e-12) and row["train_acc"] == acc
    loss, acc = modular.evaluate(params, split.a_val, split.b_val, split.y_val)
    assert row["val_loss"] == pytest.approx(loss, rel=1e-12) and row["val_acc"] == acc
    assert set(row) == set(progress.COLUMNS[1:])


def test_measures_over_training_takes_the_key_frequencies_from_the_last_snapshot():
    result = modular.train(TINY, snapshot_every=10)
    split = modular.split(TINY.p, TINY.train_fraction, TINY.seed)
    key, columns = progress.measures_over_training(result.snapshots, split, 0.8)
    last = analysis.fourier_power(result.snapshots[30][0]["E"])
    assert np.array_equal(key, analysis.key_frequencies(last, 0.8))
    assert list(columns) == list(progress.COLUMNS)
    assert list(columns["step"]) == [0, 10, 20, 30]
    np.testing.assert_array_equal(columns["train_loss"],
                                  result.metrics["train_loss"][[0, 10, 20, 30]])


# ---- Gini -------------------------------------------------------------------------------------
def test_gini_of_one_hot_flat_and_a_known_spectrum():
    n = 29
    assert progress.gini(np.eye(n)[3]) == pytest.approx(1 - 1 / n)
    assert progress.gini(np.full(n, 0.3)) == pytest.approx(0.0, abs=1e-15)
    assert progress.gini([0, 0, 1, 1]) == pytest.approx(0.5)  # mean |x_i - x_j| / (2 mean)
    x = np.random.default_rng(0).random(9)
    mean_difference = np.abs(x[:, None] - x[None, :]).mean()
    assert progress.gini(x) == pytest.approx(mean_difference / (2 * x.mean()))
    assert progress.gini(5 * x) == pytest.approx(progress.gini(x))
    key = np.zeros(n)
    key[:8] = 1.0
    assert progress.gini(key) == pytest.approx(1 - 8 / n)  # the figure's reference line
    for bad in ([], [-1.0, 2.0], [0.0, 0.0]):
        with pytest.raises(ValueError):
            progress.gini(bad)


# ---- the phase finder -------------------------------------------------------------------------
def _curves(steps):
    """Synthetic measures for p = 7 (ln 7 = 1.95): excluded loss lowest at step 300, validation
    loss under ln p from step 500 on (after a dip at 150), within 10x the restricted loss from
    step 800 on."""
    excluded = 1e-3 * (1 + ((steps - 300) / 100) ** 2)
    val = np.where(steps < 500, 5.0, 0.5 * np.exp(-(steps - 500) / 100))
    val[steps == 150] = 1.0
    restricted = np.where(steps < 800, val / 20, val / 5)
    return {"step": steps, "excluded_loss": excluded, "val_loss": val,
            "restricted_loss": restricted}


def test_phases_from_synthetic_curves():
    steps = np.arange(0, 1001, 50.0)
    phases = progress.detect_phases(_curves(steps), 7)
    assert (phases.memorization_end, phases.circuit_end, phases.cleanup_end) == (300, 500, 800)
    assert phases.chance_loss == pytest.approx(np.log(7))
    assert phases.spans(1000) == {"memorization": (0, 300), "circuit formation": (300, 500),
                                  "cleanup": (500, 800), "generalized": (800, 1000)}
    # a factor 30 is met already at the first step after circuit formation
    assert progress.detect_phases(_curves(steps), 7, meet_factor=30).cleanup_end == 550


def test_phases_a_run_does_not_reach():
    steps = np.arange(0, 1001, 50.0)
    curves = _curves(steps)
    never = {**curves, "val_loss": np.full(len(steps), 5.0)}
    phases = progress.detect_phases(never, 7)
    assert (phases.memorization_end, phases.circuit_end, phases.cleanup_end) == (300, None, None)
    assert phases.spans(1000) == {"memorization": (0, 300), "circuit formation": (300, 1000)}
    falling = {**curves, "excluded_loss": np.linspace(1, 0.1, len(steps))}
    phases = progress.detect_phases(falling, 7)
    assert phases.memorization_end is None and phases.spans(1000) == {"memorization": (0, 1000)}


def test_first_step_from_which():
    steps = np.array([0, 10, 20, 30, 40.0])
    assert progress.first_step_from_which(steps, [1, 0, 1, 1, 1], -1) == 20
    assert progress.first_step_from_which(steps, [1, 0, 1, 1, 1], 25) == 30
    assert progress.first_step_from_which(steps, [1, 1, 1, 1, 0], -1) is None
    assert progress.first_step_from_which(steps, [1, 1, 1, 1, 1], 40) is None


# ---- the figure's claims, on the recorded run -------------------------------------------------
@pytest.fixture(scope="module")
def result():
    return grokking.progress_measures_result()


@pytest.fixture(scope="module")
def run():
    return grokking.progress_run()


def _value(result, key: str) -> float:
    return result.numbers.value(key)


def test_key_frequencies_are_those_of_the_final_embedding(run, result):
    """The caption's rule, on the main run's recorded final embedding (the same run: its losses
    are checked in tests/test_progress_runs.py) and as fourier_features shows them."""
    main = grokking.recorded_run(grokking.MAIN)
    final = main.load_checkpoint(max(main.checkpoints))["embedding"]
    key = analysis.key_frequencies(analysis.fourier_power(final), grokking.KEY_SHARE)
    assert list(key) == run.config["key_frequencies"] == list(result.key)
    assert grokking.KEY_SHARE == progress.KEY_SHARE == run.config["key_share"]
    assert grokking.FIGURES.numbers("fourier_features")["KeyFrequencies"] == \
        result.numbers["ProgressKeyFrequencies"]
    caption = grokking.FIGURES._specs["progress_measures"].caption
    assert f"{100 * run.config['key_share']:.0f}\\,\\%" in caption


def test_caption_boundaries_are_the_recorded_ones(run, result):
    caption = grokking.FIGURES._specs["progress_measures"].caption
    steps = run.column("step")
    excluded = run.column("excluded_loss")
    end = _value(result, "ProgressMemorizationEnd")
    assert end == steps[np.argmin(excluded)] == 1500
    assert _value(result, "ProgressSOne") == grokking.main_phases().s1 == 91
    assert "(step 1,500, not $S_1$ = 91)" in caption
    # memorization: the excluded loss falls with the training loss until its lowest point
    before = steps <= end
    assert np.all(np.diff(excluded[before]) < 0)
    assert np.all(np.diff(run.column("train_loss")[before]) < 0)
    # circuit formation: excluded rises, restricted falls, validation loss over ln p until its end
    circuit = (steps >= end) & (steps <= _value(result, "ProgressCircuitEnd"))
    assert np.all(np.diff(excluded[circuit]) > 0)
    assert np.all(np.diff(run.column("restricted_loss")[circuit]) < 0)
    val, chance = run.column("val_loss"), np.log(run.config["p"])
    circuit_end = _value(result, "ProgressCircuitEnd")
    assert np.all(val[steps >= circuit_end] < chance) and val[steps < circuit_end][-1] >= chance
    assert "circuit formation until validation loss stays under $\\ln p$" in caption
    # cleanup: until the validation loss is within the meet factor of the restricted loss
    factor = _value(result, "ProgressMeetFactor")
    assert factor == progress.MEET_FACTOR and f"within {factor:.0f}$\\times$ restricted" in caption
    cleanup_end = _value(result, "ProgressCleanupEnd")
    meets = val <= factor * run.column("restricted_loss")
    assert np.all(meets[steps >= cleanup_end]) and not meets[steps < cleanup_end][-1]
    # the Gini coefficient rises through cleanup
    gini = run.column("fourier_gini")
    cleanup = (steps >= circuit_end) & (steps <= cleanup_end)
    assert np.all(np.diff(gini[cleanup]) > 0)


def test_the_measures_end_every_phase_later_than_accuracy(result):
    """What panel (a) compares: each boundary from the measures comes after its counterpart
    from accuracy (S1, the start of the rise, S2)."""
    for measured, accuracy in (("ProgressMemorizationEnd", "ProgressSOne"),
                               ("ProgressCircuitEnd", "ProgressRiseStart"),
                               ("ProgressCleanupEnd", "ProgressSTwo")):
        assert _value(result, measured) > _value(result, accuracy), (measured, accuracy)
    assert result.accuracy["memorization"][1] == _value(result, "ProgressSOne")
    # the Fourier circuit alone classifies the validation pairs before the network does
    assert _value(result, "ProgressCircuitEndRestrictedAcc") == 100
    assert _value(result, "ProgressCircuitEndValAcc") < 50


def test_the_gini_reference_line_is_power_evenly_in_the_key_frequencies(run, result):
    n = run.config["p"] // 2
    spectrum = np.zeros(n)
    spectrum[np.array(run.config["key_frequencies"]) - 1] = 1.0
    assert result.gini_key_only == pytest.approx(progress.gini(spectrum))
    assert result.gini.max() < result.gini_key_only


def test_caption_cites_the_paper():
    caption = grokking.FIGURES._specs["progress_measures"].caption
    assert re.search(r"Nanda et al\.\\ 2023", caption)
    assert "2301.05217" in progress.__doc__


# ---- the transformer --------------------------------------------------------------------------
TINY_TRANSFORMER = transformer.TransformerConfig(p=7, d=8, n_heads=2, d_mlp=12,
                                                 train_fraction=0.5, seed=3, max_steps=30)


def _every_direction(p: int) -> np.ndarray:
    """An orthonormal basis of all functions on the grid orthogonal to the constant (every 2-D
    frequency kept)."""
    rng = np.random.default_rng(4)
    centred = rng.normal(size=(p * p, p * p - 1))
    centred -= centred.mean(axis=0)
    return np.linalg.qr(centred)[0]


def test_transformer_neurons_give_the_models_logits():
    params = transformer.init_params(TINY_TRANSFORMER)
    acts, residual, logits = progress.transformer_neurons(params, TINY_TRANSFORMER.n_heads)
    p = TINY_TRANSFORMER.p
    assert acts.dtype == residual.dtype == logits.dtype == np.float64
    assert acts.shape == (p * p, TINY_TRANSFORMER.d_mlp) and np.all(acts >= 0)
    a, b = progress.pair_grid(p)
    real, _ = transformer.forward(params, transformer.tokens(p, a, b), TINY_TRANSFORMER.n_heads)
    np.testing.assert_allclose(logits, real, rtol=1e-5, atol=1e-5)  # float32 model
    np.testing.assert_allclose(progress.transformer_output(acts, residual, params), logits,
                               atol=1e-12)


def test_transformer_restricted_logits_with_every_direction_kept_are_the_logits():
    params = transformer.init_params(TINY_TRANSFORMER)
    acts, residual, logits = progress.transformer_neurons(params, TINY_TRANSFORMER.n_heads)
    everything = _every_direction(TINY_TRANSFORMER.p)
    restricted = progress.transformer_restricted_logits(acts, residual, logits, params, everything)
    assert np.all(np.isfinite(restricted))
    np.testing.assert_allclose(restricted, logits, atol=1e-10)
    # with fewer directions the neurons lose their other parts and the logits change
    some = progress.key_directions(TINY_TRANSFORMER.p, [1])
    partial = progress.transformer_restricted_logits(acts, residual, logits, params, some)
    assert np.abs(partial - logits).max() > 1e-3
    # the authors' bias shift: the mean over the grid is the real logits'
    np.testing.assert_allclose(partial.mean(axis=0), logits.mean(axis=0), atol=1e-12)


def test_transformer_excluded_with_no_key_frequencies_is_the_plain_loss():
    params = transformer.init_params(TINY_TRANSFORMER)
    split = modular.split(TINY_TRANSFORMER.p, TINY_TRANSFORMER.train_fraction,
                          TINY_TRANSFORMER.seed)
    nothing = progress.key_directions(TINY_TRANSFORMER.p, [])
    assert nothing.shape == (TINY_TRANSFORMER.p ** 2, 0)
    row = progress.transformer_measures(params, split, nothing, [], TINY_TRANSFORMER.n_heads)
    assert row["excluded_loss"] == pytest.approx(row["train_loss"], rel=1e-12)
    assert row["excluded_acc"] == row["train_acc"]
    # with a key frequency removed the loss differs
    one = progress.key_directions(TINY_TRANSFORMER.p, [2])
    row = progress.transformer_measures(params, split, one, [2], TINY_TRANSFORMER.n_heads)
    assert row["excluded_loss"] != pytest.approx(row["train_loss"], rel=1e-6)


def test_transformer_measures_losses_are_the_models_own():
    params = transformer.init_params(TINY_TRANSFORMER)
    split = modular.split(TINY_TRANSFORMER.p, TINY_TRANSFORMER.train_fraction,
                          TINY_TRANSFORMER.seed)
    row = progress.transformer_measures(params, split, progress.key_directions(7, [1]), [1],
                                        TINY_TRANSFORMER.n_heads)
    wide = mlp.map_params(lambda w: w.astype(np.float64), params)
    for a, b, y, name in ((split.a_train, split.b_train, split.y_train, "train"),
                          (split.a_val, split.b_val, split.y_val, "val")):
        loss, _ = transformer.loss_and_grads(wide, transformer.tokens(7, a, b), y,
                                             TINY_TRANSFORMER.n_heads)
        assert row[f"{name}_loss"] == pytest.approx(loss, rel=1e-12)
    power = analysis.fourier_power(params[0]["W_E"][:7].astype(np.float64))
    assert row["fourier_gini"] == pytest.approx(progress.gini(power[1:]))
    assert set(row) == set(progress.COLUMNS[1:])


def test_transformer_snapshots_change_nothing_in_the_training():
    plain = transformer.train(TINY_TRANSFORMER)
    snapped = transformer.train(TINY_TRANSFORMER, snapshot_every=10)
    assert plain.snapshots is None
    assert sorted(snapped.snapshots) == [0, 10, 20, 30]
    for name, values in plain.metrics.items():
        np.testing.assert_array_equal(snapped.metrics[name], values, err_msg=name)
    for snapshot, params in ((snapped.snapshots[0], transformer.init_params(TINY_TRANSFORMER)),
                             (snapped.snapshots[30], plain.params)):
        for got, want in zip(mlp.flatten(snapshot), mlp.flatten(params), strict=True):
            assert got == want
    # not modified in place: the step-10 parameters are not the final ones
    assert not np.array_equal(mlp.flatten(snapped.snapshots[10]), mlp.flatten(plain.params))
    # the last step is kept when it is not a multiple of snapshot_every
    odd = transformer.train(dataclasses.replace(TINY_TRANSFORMER, max_steps=25),
                            snapshot_every=10)
    assert sorted(odd.snapshots) == [0, 10, 20, 25]


def test_transformer_key_frequencies_come_from_the_last_snapshot():
    result = transformer.train(TINY_TRANSFORMER, snapshot_every=10)
    split = modular.split(TINY_TRANSFORMER.p, TINY_TRANSFORMER.train_fraction,
                          TINY_TRANSFORMER.seed)
    key, columns = progress.transformer_measures_over_training(result.snapshots, split, 0.8,
                                                               TINY_TRANSFORMER.n_heads)
    last = analysis.fourier_power(result.snapshots[30][0]["W_E"][:7].astype(np.float64))
    assert np.array_equal(key, analysis.key_frequencies(last, 0.8))
    assert list(columns) == list(progress.COLUMNS) and list(columns["step"]) == [0, 10, 20, 30]
    np.testing.assert_allclose(columns["val_loss"], result.metrics["val_loss"][[0, 10, 20, 30]],
                               rtol=1e-5)


# ---- the transformer_progress_measures figure (data/grokking_progress/transformer) ------------
@pytest.fixture(scope="module")
def transformer_result():
    return grokking.transformer_progress_measures_result()


def test_transformer_caption_claims_are_the_recorded_ones(transformer_result):
    run = grokking.transformer_progress_run()
    caption = grokking.FIGURES._specs["transformer_progress_measures"].caption
    numbers = transformer_result.numbers
    steps, excluded = run.column("step"), run.column("excluded_loss")
    val, restricted = run.column("val_loss"), run.column("restricted_loss")
    # key frequencies: those of the final number embedding of the recorded transformer run
    recorded = grokking.transformer_run()
    final = recorded.load_checkpoint(max(recorded.checkpoints))["W_E"]
    key = analysis.key_frequencies(analysis.fourier_power(final), progress.KEY_SHARE)
    assert list(key) == run.config["key_frequencies"] == [2, 8, 20]
    assert "(key frequencies 2, 8, 20; every 50 steps)" in caption
    # memorization: until the excluded loss is lowest, not S1
    end = numbers.value("TransformerProgressMemorizationEnd")
    assert end == steps[np.argmin(excluded)] == 500
    assert numbers.value("TransformerProgressSOne") == grokking.transformer_phases().s1 == 76
    assert "(step 500, not $S_1$ = 76)" in caption
    before = steps <= end
    assert np.all(np.diff(excluded[before]) < 0)
    # circuit formation: until the validation loss stays under ln p
    circuit_end = numbers.value("TransformerProgressCircuitEnd")
    chance = np.log(run.config["p"])
    assert circuit_end == 2750 and "stays under $\\ln p$ (2,750)" in caption
    assert np.all(val[steps >= circuit_end] < chance) and val[steps < circuit_end][-1] >= chance
    # "cleanup until it stays within 10x restricted loss (5,550); it enters that band three
    # times, each after a float32 loss spike, and leaves it twice": each exit as the restricted
    # loss sinks faster than the validation loss
    factor = numbers.value("TransformerProgressMeetFactor")
    assert factor == progress.MEET_FACTOR and f"within {factor:.0f}$\\times$ restricted" in caption
    meets = val <= factor * restricted
    after = steps > circuit_end
    entered = [s for i, s in enumerate(steps) if after[i] and meets[i] and not meets[i - 1]]
    left = [s for i, s in enumerate(steps) if after[i] and not meets[i] and meets[i - 1]]
    assert entered == list(transformer_result.meets) == [2950, 4350, 5550]
    assert left == list(transformer_result.leaves) and len(left) == 2
    assert ("(5,550); it enters that band three times, each after a float32 loss spike, and "
            "leaves it twice (c).") in " ".join(caption.split())
    train = run.column("train_loss")
    for step in entered:  # a jump of the training loss by 100x or more within 150 steps before
        window = np.flatnonzero((steps > step - 150) & (steps <= step))
        assert any(train[i] >= 100 * train[i - 1] for i in window), step
    for step in left:
        i = int(np.flatnonzero(steps == step)[0])
        assert restricted[i] < restricted[i - 1] and \
            restricted[i] / restricted[i - 1] < val[i] / val[i - 1]
    # the run ends inside the band: the rule would call its last entry the end of cleanup
    assert meets[-1] and progress.detect_phases(
        {name: run.column(name) for name in run.columns}, run.config["p"]).cleanup_end == 5550
    assert len(caption) <= 400


def test_transformer_measures_end_phases_later_than_accuracy(transformer_result):
    numbers = transformer_result.numbers
    assert numbers.value("TransformerProgressMemorizationEnd") > \
        numbers.value("TransformerProgressSOne")
    assert numbers.value("TransformerProgressCircuitEnd") > \
        numbers.value("TransformerProgressRiseStart")
    assert transformer_result.measured["cleanup"] == (2750.0, 5550.0)
    assert numbers.value("TransformerProgressCleanupEnd") == 5550
