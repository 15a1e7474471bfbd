"""The grokking topic: the criterion and every caption's claim, read from the figures' results
(computed from the recorded runs; nothing is drawn here)."""
from __future__ import annotations

import numpy as np
import pytest

import grokking
from figkit import registry
from numerics.grokking import analysis
from recorders import grokking_transformer

FIGURES = grokking.FIGURES


def test_every_figure_has_a_result_and_numbers_without_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("a figure was built")

    monkeypatch.setattr(registry, "Figure", no_figure)
    assert len(FIGURES.names) == 11
    for name in FIGURES.names:
        spec = FIGURES[name]
        assert spec.result is not None and spec.result.__name__ == f"{name}_result", name
        assert len(FIGURES.numbers(name)) > 0, name


def test_the_recorded_main_run_groks():
    """Issue criterion: train accuracy >= 99 % by S1, validation >= 95 % only at S2 >= 5 S1."""
    run = grokking.recorded_run("main")
    steps, val = run.column("step"), run.column("val_acc")
    phases = grokking.main_phases()
    assert phases.s2 >= 5 * phases.s1
    assert np.all(val[steps < phases.s2] < 0.95)


def test_captions_print_the_thresholds_of_the_analysis():
    assert (analysis.TRAIN_THRESHOLD, analysis.VAL_THRESHOLD) == (0.99, 0.95)
    assert "reaches 99\\,\\% at step $S_1$" in FIGURES["grokking_curves"].caption
    assert "reaches 95\\,\\% only at step $S_2$" in FIGURES["grokking_curves"].caption
    assert "accuracy reaches 99\\,\\%," in FIGURES["phase_transitions"].caption


def test_figure_numbers_are_the_measured_ones():
    numbers = FIGURES.numbers("grokking_curves")
    phases = grokking.main_phases()
    assert numbers.value("SOne") == phases.s1 and numbers.value("STwo") == phases.s2
    assert numbers.value("DelayRatio") == pytest.approx(phases.s2 / phases.s1)
    run = grokking.recorded_run("main")
    assert numbers.value("Prime") == run.config["p"]
    assert numbers.value("TrainFraction") == pytest.approx(100 * run.config["train_fraction"])


def test_gap_caption_opens_at_memorization_and_closes_when_it_groks():
    gap = grokking.generalization_gap_result()
    phases = gap.phases
    assert gap.wide_start <= phases.s1 < gap.wide_end < phases.s2
    assert gap.gap.max() >= grokking.GAP_WIDE and abs(gap.gap[-1]) < 5
    assert gap.numbers.value("GapWideStart") == gap.wide_start
    assert gap.numbers.value("GapWideEnd") == gap.wide_end


def test_phases_are_in_order():
    phases = grokking.main_phases()
    assert phases.s1 < phases.rise_start < phases.rise_end
    assert phases.rise_start < phases.s2 < 2 * phases.rise_end
    result = grokking.phase_transitions_result()
    assert list(result.spans) == ["memorization", "circuit formation", "cleanup", "generalized"]
    assert result.numbers.value("RiseStart") == phases.rise_start
    # the drawn sigmoid rises through the validation accuracy's range
    assert result.fitted_val_acc[0] < 0.1 and result.fitted_val_acc[-1] > 0.9


def test_weight_norm_caption_peak_then_shrinks():
    result = grokking.weight_norm_result()
    phases, numbers = result.phases, result.numbers
    assert numbers.value("NormPeakStep") == result.peak_step
    assert numbers.value("NormPeak") == result.peak_norm
    assert phases.s1 < result.peak_step < phases.rise_start        # grows after memorization...
    assert result.norm_at_s1 < result.peak_norm
    assert result.norm_at_s2 < result.peak_norm                     # ...shrinks as it groks
    assert result.norm[-1] < result.norm_at_s2
    assert result.norm_at_s2 == np.interp(phases.s2, result.steps, result.norm)


def test_fourier_caption_power_concentrates():
    result = grokking.fourier_features_result()
    numbers = result.numbers
    assert numbers.value("KeyCountEnd") < numbers.value("KeyCountStart") / 2
    assert result.start.step == 0 and result.end.step > result.start.step
    assert numbers["KeyFrequencies"] == ", ".join(str(k) for k in result.end.key)


def test_embedding_caption_a_circle_forms():
    result = grokking.embedding_evolution_result()
    numbers = result.numbers
    assert numbers.value("CircleShareEnd") > numbers.value("CircleShareStart")
    run = grokking.recorded_run("main")
    first, last = result.planes[0], result.planes[-1]
    assert (first.step, last.step) == (min(run.checkpoints), max(run.checkpoints))
    final = run.load_checkpoint(max(run.checkpoints))["embedding"]
    coords, _ = analysis.fourier_plane(final, int(numbers.value("CircleFrequency")))
    radius = np.hypot(*coords.T)
    assert radius.std() / radius.mean() < 0.15  # a ring, not a cloud


def test_sweep_captions():
    fractions = grokking.train_fraction_sweep_result().points
    assert [p.value for p in fractions] == sorted(p.value for p in fractions)
    generalized = [p.s2 for p in fractions if p.s2 is not None]
    assert generalized == sorted(generalized, reverse=True)
    assert fractions[0].s2 is None  # the smallest fraction does not generalize in budget
    decays = grokking.weight_decay_sweep_result().points
    assert decays[0].value == 0 and decays[0].s2 is None and decays[0].s1 is not None
    numbers = grokking.weight_decay_sweep_result().numbers
    assert numbers.value("WdZeroBudget") == decays[0].last_step
    assert numbers.value("WdOne") == grokking.main_phases().s2


def test_the_recorded_transformer_groks_and_its_heads_specialize():
    phases = grokking.transformer_phases()
    run = grokking.transformer_run()
    steps, val = run.column("step"), run.column("val_acc")
    assert phases.s2 >= 5 * phases.s1 and np.all(val[steps < phases.s2] < 0.95)
    # attention from "=": uniform at the start, about half on each operand at the end
    attention = grokking.attention_evolution_result().attention
    assert np.allclose(attention[0], 1 / 3, atol=0.02)
    assert np.allclose(attention[-1][:, :2], 0.5, atol=0.05)
    # each head dominated by one frequency at the end, and its top-3 share grew
    heads = grokking.head_specialization_result()
    assert np.all(heads.spectrum_end.max(axis=1) > 0.5)
    assert np.all(heads.top_shares[-1] > 2 * heads.top_shares[0])
    assert heads.s2 == phases.s2


def test_transformer_captions_match_the_recorded_run():
    run = grokking.transformer_run()
    assert run.config["n_heads"] == 4
    assert "four attention heads" in FIGURES["transformer_grokking_curves"].caption
    assert FIGURES.numbers("transformer_grokking_curves").value("TransformerHeads") == 4
    assert grokking_transformer.TOP_K == 3
    assert "three strongest Fourier frequencies" in FIGURES["head_specialization"].caption
