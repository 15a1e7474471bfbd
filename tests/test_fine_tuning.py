"""The fine-tuning topic: schedules and rates as published, gradient-descent theory, and every
claim a caption or annotation makes checked against the computation behind it."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fine_tuning
from figkit import style
from numerics import memory, quadratic, schedules


# ---- schedules (LLaMA, BERT-style linear, ULMFiT) ------------------------------------------------
def test_llama_schedule_warms_up_then_decays_to_ten_percent():
    total, warmup, peak = (schedules.LLAMA_TOTAL_STEPS, schedules.LLAMA_WARMUP_STEPS,
                           schedules.LLAMA_PEAK_LR)
    assert total == 250_000  # 1.0T tokens / 4M-token batches (LLaMA paper, Table 2)
    lr = schedules.warmup_cosine(np.arange(total + 1), total, warmup, peak)
    assert lr[0] == 0 and lr[warmup // 2] == pytest.approx(peak / 2)
    assert lr[warmup] == pytest.approx(peak) and lr.max() == pytest.approx(peak)
    assert lr[-1] == pytest.approx(0.1 * peak)
    assert np.all(np.diff(lr[warmup:]) <= 1e-18)
    middle = warmup + (total - warmup) // 2
    assert lr[middle] == pytest.approx(peak * (0.1 + 0.9 * 0.5), rel=1e-4)  # cos(pi/2) = 0


def test_linear_schedule_ends_at_zero():
    lr = schedules.warmup_linear(np.arange(1001), 1000, 100, 3e-5)
    assert lr[100] == pytest.approx(3e-5) and lr[-1] == 0 and lr[550] == pytest.approx(1.5e-5)


def test_slanted_triangular_follows_ulmfit_equation_3():
    T, cut_frac, ratio, eta_max = 1000, 0.1, 32, 0.01
    t = np.arange(T + 1)
    lr = schedules.slanted_triangular(t, T)
    cut = math.floor(T * cut_frac)
    assert lr[0] == pytest.approx(eta_max / ratio)
    assert lr[cut] == pytest.approx(eta_max) and lr.argmax() == cut
    assert lr[-1] == pytest.approx(eta_max / ratio)
    p = 1 - (550 - cut) / (cut * (1 / cut_frac - 1))  # by hand, eq. (3)
    assert lr[550] == pytest.approx(eta_max * (1 + p * (ratio - 1)) / ratio)


def test_discriminative_rates_divide_by_2_6_per_layer():
    rates = schedules.discriminative_rates(3e-5, 12)
    assert rates[-1] == 3e-5
    assert np.allclose(rates[1:] / rates[:-1], 2.6)
    assert rates[-1] / rates[0] == pytest.approx(2.6**11)


def test_gradual_unfreezing_adds_one_layer_per_epoch_from_the_top():
    grid = schedules.gradual_unfreezing(4, 5)
    assert grid[0].tolist() == [False, False, False, True]
    assert grid.sum(axis=1).tolist() == [1, 2, 3, 4, 4]


# ---- gradient descent on a quadratic ----------------------------------------------------------
PROBLEM = quadratic.Quadratic((1.0, 10.0))


@pytest.mark.parametrize("eta", [0.02, PROBLEM.optimal_step(), 0.2, 0.22])
def test_measured_rate_is_the_theoretical_contraction(eta):
    xs = quadratic.gradient_descent(PROBLEM, [1.0, 1.0], eta, 200)
    measured = abs(xs[-1] / xs[-2])
    assert measured.max() == pytest.approx(PROBLEM.contraction(eta), rel=1e-9)


def test_step_size_regimes_are_what_the_figure_says():
    L, mu = PROBLEM.L, PROBLEM.mu
    assert PROBLEM.contraction(PROBLEM.optimal_step()) == pytest.approx((L / mu - 1) / (L / mu + 1))
    etas = np.linspace(0.001, 0.199, 500)
    assert PROBLEM.contraction(PROBLEM.optimal_step()) <= min(map(PROBLEM.contraction, etas))
    at_limit = quadratic.gradient_descent(PROBLEM, [1.0, 1.0], 2 / L, 50)
    assert np.allclose(np.abs(at_limit[:, 1]), 1.0)        # oscillates, never converges
    assert np.all(np.sign(at_limit[1:, 1]) != np.sign(at_limit[:-1, 1]))
    above = quadratic.gradient_descent(PROBLEM, [1.0, 1.0], 2.2 / L, 50)
    assert PROBLEM.value(above[-1]) > 1e6 * PROBLEM.value(above[0])  # diverges


# ---- captions and annotations agree with the computation -----------------------------------
def numbers_of(name):
    with style.applied():
        _, numbers = fine_tuning.FIGURES.build(name, 6.0)
    return numbers


def test_loss_curve_caption_matches_the_runs():
    runs = fine_tuning.loss_curve_runs()
    caption = fine_tuning.FIGURES["training_loss_curves"].caption
    assert f"its {runs.overfits.hyperparams['n_train']} training points" in caption
    assert runs.unstable.hyperparams["lr"] == 10 * runs.converges.hyperparams["lr"]
    assert "ten times larger" in caption
    assert runs.unstable.diverged_at is not None
    assert np.all(np.isfinite(runs.unstable.train_loss))  # nothing past the overflow is drawn


def test_gradient_flow_caption_matches_the_networks():
    run = fine_tuning.gradient_flow_run()
    assert "20-layer" in fine_tuning.FIGURES["gradient_flow_analysis"].caption
    assert run.config["depth"] == 20
    assert run.sigmoid_ratio < 1e-6 < 1e-2 < run.residual_ratio


def test_memory_caption_matches_the_accounting():
    caption = fine_tuning.FIGURES["memory_comparison"].caption
    assert f"{memory.MIXED_PRECISION_ADAM.bytes_per_param:g} bytes per parameter" in caption
    assert f"$r={fine_tuning.LORA_RANK}$" in caption
    numbers = numbers_of("memory_comparison")
    # QLoRA's headline: a 65B model fine-tunes within one 48 GB GPU (QLoRA, arXiv 2305.14314).
    assert numbers.value("QloraSixtyFiveGB") < 48
    assert numbers.value("FullSixtyFiveGB") > 780


def test_forgetting_figure_reports_the_measured_accuracies():
    run = fine_tuning.forgetting_run()
    numbers = numbers_of("catastrophic_forgetting")
    assert numbers.value("PlainAccA") == pytest.approx(100 * run.plain_acc_a[-1])
    assert numbers.value("EwcAccA") == pytest.approx(100 * run.ewc_acc_a[-1])
    assert numbers.value("EwcAccA") > numbers.value("PlainAccA") + 30  # "keeps A"
    assert numbers.value("EwcAccB") > 85  # "while B is learned"


def test_discriminative_figure_spread_is_2_6_to_the_11th():
    numbers = numbers_of("discriminative_learning_rates")
    assert numbers.value("LayerRateSpread") == pytest.approx(2.6**11)
    assert numbers.value("LayerFactor") == 2.6
