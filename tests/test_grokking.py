"""The grokking topic: the criterion and every caption's claim, read from the recorded runs."""
from __future__ import annotations

import numpy as np
import pytest

import grokking
from figkit import style
from numerics import grokking_analysis as ga


def numbers_of(name):
    with style.applied():
        _, numbers = grokking.FIGURES.build(name, 6.0)
    return numbers


def test_the_recorded_main_run_groks():
    """Issue criterion: train accuracy >= 99 % by S1, validation >= 95 % only at S2 >= 5 S1."""
    run = grokking.run("main")
    steps, val = run.column("step"), run.column("val_acc")
    phases = grokking.main_phases()
    assert phases.s2 >= 5 * phases.s1
    assert np.all(val[steps < phases.s2] < 0.95)
    assert run.config["wall_time_s"] <= 60  # the budget for the main run


def test_figure_numbers_are_the_measured_ones():
    numbers = numbers_of("grokking_curves")
    phases = grokking.main_phases()
    assert numbers.value("SOne") == phases.s1 and numbers.value("STwo") == phases.s2
    assert numbers.value("DelayRatio") == pytest.approx(phases.s2 / phases.s1)


def test_phases_are_in_order():
    phases = grokking.main_phases()
    assert phases.s1 < phases.rise_start < phases.rise_end
    assert phases.rise_start < phases.s2 < 2 * phases.rise_end


def test_weight_norm_caption_peak_then_shrinks():
    run, phases = grokking.run("main"), grokking.main_phases()
    steps, norm = run.column("step"), run.column("weight_norm")
    numbers = numbers_of("weight_norm")
    peak_step = numbers.value("NormPeakStep")
    assert phases.s1 < peak_step < phases.rise_start            # grows after memorization...
    assert np.interp(phases.s2, steps, norm) < numbers.value("NormPeak")  # ...shrinks as it groks
    assert norm[-1] < np.interp(phases.s2, steps, norm)


def test_fourier_caption_power_concentrates():
    numbers = numbers_of("fourier_features")
    assert numbers.value("KeyCountEnd") < numbers.value("KeyCountStart") / 2


def test_embedding_caption_a_circle_forms():
    numbers = numbers_of("embedding_evolution")
    assert numbers.value("CircleShareEnd") > numbers.value("CircleShareStart")
    run = grokking.run("main")
    final = run.load_checkpoint(max(run.checkpoints))["embedding"]
    coords, _ = ga.fourier_plane(final, int(numbers.value("CircleFrequency")))
    radius = np.hypot(*coords.T)
    assert radius.std() / radius.mean() < 0.15  # a ring, not a cloud


def test_sweep_captions():
    fractions = grokking.sweep_points(grokking.sweep("frac_") + [grokking.run("main")],
                                      "train_fraction")
    generalized = [(f, s2) for f, _, s2, _ in fractions if s2 is not None]
    assert [s2 for _, s2 in generalized] == sorted((s2 for _, s2 in generalized), reverse=True)
    assert fractions[0][2] is None  # the smallest fraction does not generalize in budget
    decays = grokking.sweep_points(grokking.sweep("wd_") + [grokking.run("main")], "weight_decay")
    assert decays[0][0] == 0 and decays[0][2] is None and decays[0][1] is not None


def test_the_recorded_transformer_groks_and_its_heads_specialize():
    phases = grokking.transformer_phases()
    run = grokking.transformer_run()
    steps, val = run.column("step"), run.column("val_acc")
    assert phases.s2 >= 5 * phases.s1 and np.all(val[steps < phases.s2] < 0.95)
    first, last = (run.load_checkpoint(s) for s in (min(run.checkpoints), max(run.checkpoints)))
    # attention from "=": uniform at the start, about half on each operand at the end
    assert np.allclose(first["attention"], 1 / 3, atol=0.02)
    assert np.allclose(last["attention"][:, :2], 0.5, atol=0.05)
    # each head dominated by one frequency at the end, and its top-3 share grew
    power = last["head_freq_power"]
    assert np.all(power.max(axis=1) / power.sum(axis=1) > 0.5)
    assert np.all(last["head_fourier_share"] > 2 * first["head_fourier_share"])
