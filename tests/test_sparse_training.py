"""The sparse-training topic: every caption's claim and published number checked on the results
the figures draw, read from the recorded runs; nothing is rendered here."""
from __future__ import annotations

import numpy as np
import pytest

import figkit.registry
import sparse_training as st
from recorders import sparse_training as recorded


def test_every_figure_has_a_result_and_its_numbers_need_no_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("FIGURES.numbers built a Figure")

    monkeypatch.setattr(figkit.registry, "Figure", no_figure)
    for spec in st.FIGURES.specs:
        assert spec.result is not None, spec.name
        assert spec.result.__name__ == f"{spec.name}_result"
        assert st.FIGURES.numbers(spec.name) is st.FIGURES.result(spec.name).numbers


def test_captions_state_the_recorded_target_seeds_and_checkpoints():
    gated = st.run(st.MAIN)
    assert gated.config["mode"] == "gated" and gated.config["rate"] == st.MAIN_TARGET
    for name in ("training_results", "threshold_adaptation", "significance_distribution"):
        assert "10\\,\\%" in st.FIGURES[name].caption
    # "mean and standard deviation over five seeds": every point averages five recorded runs
    assert "over five seeds" in st.FIGURES["accuracy_vs_compute"].caption
    comparison = st.accuracy_vs_compute_result()
    for group in (comparison.gated, comparison.random, comparison.full):
        for name in group.runs:
            assert len(st.seeds(name)) == len(recorded.SEEDS) == 5, name
    # "at five points of the recorded run"
    assert "at five points" in st.FIGURES["significance_distribution"].caption
    assert len(st.significance_distribution_result().snapshots) == len(gated.checkpoints) == 5


def test_targets_on_the_figures_come_from_the_configs():
    gated = st.run(st.MAIN)
    for name in ("training_results", "threshold_adaptation"):
        assert st.FIGURES.numbers(name).value("TargetRate") == 100 * gated.config["rate"]
    assert st.FIGURES.result("training_results").rate.target_percent == 100 * gated.config["rate"]


def test_the_controller_reaches_its_target_on_the_recorded_run():
    adaptation = st.threshold_adaptation_result()
    smoothed = adaptation.rate.smoothed
    last_third = smoothed.values[smoothed.steps >= smoothed.steps.max() * 2 / 3]
    assert abs(last_third.mean() - adaptation.rate.target_percent) < 1  # percentage point
    assert adaptation.numbers.value("RateLastThird") == pytest.approx(
        adaptation.rate.target_percent, abs=1)


def test_compute_is_counted_with_the_scoring_pass():
    gated, full = st.run(st.MAIN), st.run("full")
    forward, backward = (gated.config["forward_flops_per_sample"],
                         gated.config["backward_flops_per_sample"])
    processed, trained = gated.config["samples_processed"], gated.config["samples_trained"]
    assert gated.config["flops_total"] == forward * processed + backward * trained
    assert full.config["flops_total"] == (forward + backward) * full.config["samples_trained"]
    comparison = st.training_results_result()
    assert len(comparison.epochs) == gated.config["epochs"]
    assert np.all(comparison.saved_percent > 0)  # every epoch saves, scoring included
    # the scoring pass is never free: at most 2/3 of full training's compute can be saved
    assert np.all(comparison.saved_percent < 100 * 2 / 3)
    assert np.all(comparison.trained + comparison.skipped == gated.config["batch_size"]
                  * gated.config["steps_per_epoch"])
    assert comparison.numbers.value("SavedPercent") == pytest.approx(
        100 * (1 - gated.config["flops_total"] / full.config["flops_total"]))


def test_caption_loss_gating_does_not_beat_random_at_equal_compute():
    comparison = st.accuracy_vs_compute_result()
    assert list(comparison.targets_percent) == [100 * t for t in recorded.TARGETS]
    best_random = comparison.best_random_at_most_compute
    assert np.all(np.isfinite(best_random))  # some random run costs no more than each target
    assert np.all(comparison.gated.accuracy_percent <= best_random + 0.5)


def test_the_matched_random_run_is_the_recorded_equal_compute_partner():
    comparison = st.accuracy_vs_compute_result()
    partner = recorded.PARTNERS[st.MAIN]["equal_compute"]
    assert f"random_{comparison.matched_random_rate:g}" == partner
    index = comparison.random.runs.index(partner)
    numbers = comparison.numbers
    assert numbers["RandomMatchedAcc"] == f"{comparison.random.accuracy_percent[index]:.1f}"
    assert numbers.value("BayesAcc") == pytest.approx(
        100 * st.run("full").config["bayes_val_acc"])
    assert np.all(comparison.gated.accuracy_percent < comparison.bayes_percent)


def test_significance_figure_shows_the_recorded_threshold():
    gated = st.run(st.MAIN)
    distribution = st.significance_distribution_result()
    snapshots = distribution.snapshots
    assert [s.step for s in snapshots] == sorted(gated.checkpoints)
    last = snapshots[-1]
    assert last.threshold == gated.load_checkpoint(last.step)["threshold"][0]
    assert last.above_percent == pytest.approx(100 * gated.config["rate"], abs=5)
    # "the threshold the controller had set": it falls as the losses fall
    assert snapshots[0].threshold > 2 * last.threshold


def test_significance_bins_are_shared_and_no_score_sits_on_an_edge():
    """One set of edges at 10^(k/8) for every panel; every score is counted, and none lies
    within 1e-9 (relative) of an edge, where a last-bit difference could move it."""
    distribution = st.significance_distribution_result()
    edges = distribution.bins
    exponents = np.log10(edges) * st.BINS_PER_DECADE
    assert np.allclose(exponents, np.round(exponents)) and np.all(np.diff(exponents) > 0.99)
    for snapshot in distribution.snapshots:
        scores = snapshot.scores
        assert edges[0] < scores.min() and scores.max() < edges[-1]
        assert np.histogram(scores, edges)[0].sum() == scores.size
        closest = np.min(np.abs(scores[:, None] / edges[None, :] - 1))
        assert closest > 1e-9, closest
