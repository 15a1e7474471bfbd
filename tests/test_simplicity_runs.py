"""The simplicity-bias runs recorded in data/simplicity_bias (scripts/recorders/simplicity_bias.py)
and the claims of the figure grokking/simplicity_bias drawn from them."""
from __future__ import annotations

import numpy as np
import pytest

import grokking
import records
from models import cued_modular, modular
from numerics.grokking.analysis import TRAIN_THRESHOLD, VAL_HOLD, VAL_THRESHOLD
from recorders import grokking as grokking_recorder
from recorders import simplicity_bias


def _load(name: str) -> records.Run:
    return records.load_run(simplicity_bias.DATA / name)


@pytest.fixture(scope="module")
def result() -> grokking.SimplicityBias:
    return grokking.simplicity_bias_result()


# ---- the recording ----------------------------------------------------------------------------
def test_cli_check_passes_on_the_recorded_runs(capsys):
    assert simplicity_bias.main(["--check"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", list(simplicity_bias.RUNS))
def test_recorded_run_matches_the_current_code_and_its_spec(name):
    run = _load(name)
    spec = simplicity_bias.RUNS[name]
    assert run.config["code_hash"] == simplicity_bias.current_hash(spec), \
        f"{name} is stale: run `python scripts/recorders/simplicity_bias.py`"
    for key, value in spec.items():
        assert run.config[key] == value, key
    assert run.columns == list(cued_modular.COLUMNS)
    assert list(run.column("step")) == [s for s in range(run.config["steps"] + 1)
                                        if modular.is_logged(s)]
    p = spec["p"]
    assert run.config["n_train"] == round(spec["train_fraction"] * p * p)
    assert run.config["n_train"] + run.config["n_val"] == p * p


def test_the_runs_are_the_main_grokking_settings_with_a_cue_and_three_seeds():
    assert simplicity_bias.SEEDS == (0, 1, 2)
    for spec in simplicity_bias.RUNS.values():
        for key in ("p", "d", "hidden", "train_fraction", "lr", "weight_decay", "beta1",
                    "beta2", "init_scale"):
            assert spec[key] == grokking_recorder.BASE[key], key
        assert spec["rho"] == simplicity_bias.RHO == 0.9
        assert spec["stop_hold"] == VAL_HOLD
    assert [spec["seed"] for spec in simplicity_bias.RUNS.values()] == [0, 1, 2]


def test_recordings_say_their_time_and_thread_count():
    """The time budget is measured by `make bench RECORD=1`, not asserted here (a shared
    machine's timings are not a test); each run records its own wall and CPU time."""
    for name in simplicity_bias.RUNS:
        config = _load(name).config
        assert config["cpu_time_s"] > 0 and config["wall_time_s"] > 0
        assert config["machine"]["OPENBLAS_NUM_THREADS"] == "1"


@pytest.mark.parametrize("name", list(simplicity_bias.RUNS))
def test_first_logged_rows_reproduce(name):
    """The first logged rows of the record are what the code computes now."""
    run = _load(name)
    cfg = simplicity_bias.cued_config({**simplicity_bias.RUNS[name], "max_steps": 5})
    fresh = cued_modular.train(cfg).metrics
    for column, values in fresh.items():
        np.testing.assert_allclose(run.column(column)[:6], values, rtol=1e-9, atol=1e-12,
                                   err_msg=column)


@pytest.mark.parametrize("name", list(simplicity_bias.RUNS))
def test_runs_follow_the_stop_rule(name):
    run = _load(name)
    steps, rule = run.series("val_acc_conflicting")
    hold, last = run.config["stop_hold"], run.config["steps"]
    held = [s for s in steps
            if s >= hold and np.all(rule[(steps >= s - hold) & (steps <= s)] >= VAL_THRESHOLD)]
    if run.config["stopped_reason"].startswith("max_steps"):
        assert last == run.config["max_steps"] and not held
    else:
        assert held and held[0] == last < run.config["max_steps"]


# ---- the figure's result -----------------------------------------------------------------------
def test_result_draws_every_seed_carried_to_the_longest(result):
    runs = [_load(name) for name in simplicity_bias.RUNS]
    longest = max(runs, key=len)
    assert np.array_equal(result.steps, longest.column("step"))
    assert len(result.seeds) == len(runs) == 3
    for name in ("train", "aligned", "cue", "rule", "neither"):
        median, low, high = getattr(result, name)
        assert median.shape == low.shape == high.shape == result.steps.shape
        assert np.all(low <= median) and np.all(median <= high)
    # at the last step the shorter runs count with their last values
    last = sorted(run.column("val_acc_conflicting")[-1] for run in runs)
    assert result.rule[0][-1] == last[1] and result.rule[1][-1] == last[0]
    # the three answers partition the held-out pairs with a wrong cue, seed by seed
    for run in runs:
        assert np.all(run.column("val_acc_conflicting") + run.column("val_follows_cue") <= 1)


def test_s1_and_s2_are_those_of_the_chapter(result):
    for seed, name in zip(result.seeds, simplicity_bias.RUNS, strict=True):
        run = _load(name)
        steps = run.column("step")
        assert seed.s1 == steps[np.flatnonzero(run.column("train_acc") >= TRAIN_THRESHOLD)[0]]
        rule = run.column("val_acc_conflicting")
        assert np.all(rule[(steps >= seed.s2) & (steps <= seed.s2 + VAL_HOLD)] >= VAL_THRESHOLD)
        before = steps[steps < seed.s2][-1]  # the logged step before S2 does not hold
        assert np.any(rule[(steps >= before) & (steps <= before + VAL_HOLD)] < VAL_THRESHOLD)


# ---- the caption's claims ----------------------------------------------------------------------
def test_caption_states_the_cue_share_and_the_seeds():
    caption = grokking.FIGURES._specs["simplicity_bias"].caption
    assert f"{100 * simplicity_bias.RHO:.0f}\\,\\% of the training pairs" in caption
    assert "three seeds" in caption and len(simplicity_bias.RUNS) == 3
    assert "Qiu et al." in caption


def test_training_accuracy_sits_at_the_cues_share_while_the_network_reads_the_cue():
    """'training accuracy 90 %': from step 30 to 200 every seed gets exactly the pairs with the
    right cue right (within a point), and none of the held-out pairs with a wrong cue."""
    for name in simplicity_bias.RUNS:
        run = _load(name)
        steps = run.column("step")
        window = (steps >= 30) & (steps <= 200)
        assert np.all(np.abs(run.column("train_acc")[window] - simplicity_bias.RHO) <= 0.01)
        assert np.all(run.column("val_acc_conflicting")[window] < 0.01)
        assert np.all(run.column("val_follows_cue")[window] > 0.8)


def test_the_network_predicts_the_cue_within_20_steps(result):
    for seed in result.seeds:
        assert seed.read <= 20, seed
        assert seed.read_peak >= 0.99, seed
    assert result.numbers.value("CueReadStepMax") <= 20


def test_memorizing_the_exceptions_outvotes_the_cue_even_where_it_is_right(result):
    """'memorizing the exceptions (S1), it outvotes the cue on unseen pairs even where it is
    right': at S1 the cue is followed on at most 30 % of the held-out pairs with a wrong cue
    (from 99 %), and held-out accuracy with the right cue falls below 10 % around S1, while
    the rule is not learned yet."""
    for seed in result.seeds:
        assert seed.cue_at_s1 <= 0.3 and seed.rule_at_s1 < 0.01, seed
        assert seed.aligned_low < 0.1, seed
        assert seed.s1 / 2 <= seed.aligned_low_step <= 2 * seed.s1, seed
    assert result.numbers.value("CueAlignedLowMax") < 10


def test_the_rule_is_followed_only_at_s2_later_than_without_the_cue(result):
    """'where it is wrong it follows the rule only at S2, 1.2 to 1.6 times later than without
    the cue': each seed against the main grokking run of the same seed (same split)."""
    later = []
    for seed in result.seeds:
        name = grokking.seeded("main", seed.seed)
        plain = grokking.timing(name).s2
        assert simplicity_bias.cued_config(simplicity_bias.RUNS[grokking.seeded(
            "main", seed.seed)]).train_fraction == grokking.recorded_run(name).config[
            "train_fraction"]
        later.append(seed.s2 / plain)
    assert all(ratio > 1.1 for ratio in later), later
    n = result.numbers
    assert (n.value("CueLaterMin"), n.value("CueLaterMax")) == pytest.approx(
        (min(later), max(later)), abs=0.05)
    caption = " ".join(grokking.FIGURES._specs["simplicity_bias"].caption.split())
    assert (f"only at $S_2$, {n['CueLaterMin']} to {n['CueLaterMax']} times later than without "
            "the cue") in caption
    for seed in result.seeds:
        assert seed.rule_end >= VAL_THRESHOLD and seed.cue_end <= 0.01, seed
    for name in simplicity_bias.RUNS:  # and not before: under half of the pairs at S2 / 2
        run = _load(name)
        seed = result.seeds[list(simplicity_bias.RUNS).index(name)]
        steps = run.column("step")
        assert np.all(run.column("val_acc_conflicting")[steps <= seed.s2 / 2] < 0.5)
