"""The sparse-training topic: every caption's claim read from the recorded runs."""
from __future__ import annotations

import numpy as np
import pytest

import sparse_training as st
from figkit import style


def numbers_of(name):
    with style.applied():
        _, numbers = st.FIGURES.build(name, 6.0)
    return numbers


def test_targets_on_the_figures_come_from_the_configs():
    gated = st.run(st.MAIN)
    assert gated.config["rate"] == 0.1 and gated.config["mode"] == "gated"
    numbers = numbers_of("training_results")
    assert numbers.value("TargetRate") == 100 * gated.config["rate"]


def test_the_controller_reaches_its_target_on_the_recorded_run():
    gated = st.run(st.MAIN)
    steps, smooth = gated.series("activation_rate_smoothed")
    last_third = smooth[steps >= steps.max() * 2 / 3]
    assert abs(last_third.mean() - gated.config["rate"]) < 0.01


def test_compute_is_counted_with_the_scoring_pass():
    gated, full = st.run(st.MAIN), st.run("full")
    forward, backward = gated.config["forward_flops_per_sample"], \
        gated.config["backward_flops_per_sample"]
    processed, trained = gated.config["samples_processed"], gated.config["samples_trained"]
    assert gated.config["flops_total"] == forward * processed + backward * trained
    assert full.config["flops_total"] == (forward + backward) * full.config["samples_trained"]
    epochs, saved = st.per_epoch(gated, "flops_total")
    _, reference = st.per_epoch(full, "flops_total")
    assert len(epochs) == gated.config["epochs"]
    assert np.all(saved < reference)  # every epoch saves, scoring included


def test_caption_loss_gating_does_not_beat_random_at_equal_compute():
    for target in st.TARGETS:
        compute, gated_acc, _ = st.final_points(f"gated_{target:g}")
        random_rates = sorted({float(p.name.split("_")[1]) for p in st.DATA.glob("random_*")
                               if p.name.count("_") == 1})
        cheaper = [r for r in random_rates if st.final_points(f"random_{r:g}")[0] <= compute]
        assert cheaper, target
        best_random = max(st.final_points(f"random_{r:g}")[1] for r in cheaper)
        assert gated_acc <= best_random + 0.005, target


def test_significance_figure_shows_the_recorded_threshold():
    gated = st.run(st.MAIN)
    last = gated.load_checkpoint(max(gated.checkpoints))
    share = np.mean(last["scores"] > last["threshold"][0])
    assert share == pytest.approx(gated.config["rate"], abs=0.05)
