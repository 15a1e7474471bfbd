"""published.pretraining and numerics.pretraining.{scaling, compute} against the numbers the
papers print. Every expected value is printed in the cited paper or is arithmetic done by hand
in the comment."""
from __future__ import annotations

import math

import numpy as np
import pytest

from numerics import memory
from numerics.pretraining import compute, scaling
from published import pretraining as published


# ---- Kaplan et al. 2020, arXiv 2001.08361, Sec. 1.2, Eqs. (1.1)-(1.3) -------------------------
def test_kaplan_constants_are_the_papers():
    assert (published.KAPLAN_ALPHA_N, published.KAPLAN_N_C) == (0.076, 8.8e13)
    assert (published.KAPLAN_ALPHA_D, published.KAPLAN_D_C) == (0.095, 5.4e13)
    assert (published.KAPLAN_ALPHA_C_MIN, published.KAPLAN_C_C_MIN_PF_DAYS) == (0.050, 3.1e8)
    assert published.KAPLAN_N_RANGE == (768, 1.5e9)     # Sec. 3
    assert published.KAPLAN_D_RANGE == (22e6, 23e9)     # Sec. 3


def test_kaplan_laws_are_power_laws_through_their_scale():
    for law in scaling.KAPLAN_LAWS:
        assert law.loss(law.scale) == pytest.approx(1.0)  # L(x_c) = 1
        # ten times x divides the loss by 10^alpha
        ratio = law.loss(np.array([1e6]))[0] / law.loss(np.array([1e7]))[0]
        assert ratio == pytest.approx(10 ** law.alpha, rel=1e-12)
    # Kaplan's L(N) at GPT-2's 1.5B non-embedding parameters: (8.8e13 / 1.5e9)^0.076 = 2.30
    assert scaling.KAPLAN_N.loss(1.5e9) == pytest.approx(2.30, abs=0.005)


def test_a_pf_day_is_the_gpt3_papers():
    # GPT-3 Table D.1: 3.64E+03 PF-days = 3.14E+23 FLOPs
    assert published.GPT3_TABLE_D1_PF_DAYS * scaling.PF_DAY_FLOPS == pytest.approx(
        published.GPT3_TABLE_D1_FLOPS, rel=2e-3)


# ---- Hoffmann et al. 2022, arXiv 2203.15556 ---------------------------------------------------
def test_chinchilla_fit_is_eq_10():
    fit = scaling.CHINCHILLA
    assert (fit.E, fit.A, fit.B, fit.alpha, fit.beta) == (1.69, 406.4, 410.7, 0.34, 0.28)


def test_frontier_exponents_follow_eq_4_and_round_near_table_2():
    fit = scaling.CHINCHILLA
    assert fit.a == pytest.approx(0.28 / 0.62)
    assert fit.a + fit.b == pytest.approx(1.0)
    # Table 2 prints a = 0.46 for approach 3; the rounded constants give 0.452
    assert abs(fit.a - published.CHINCHILLA_A_EXPONENT_PRINTED) < 0.01


def test_the_closed_form_frontier_is_the_minimum_of_the_isoflop_curve():
    fit = scaling.CHINCHILLA
    for budget in (1e19, 1e22, 5.04e23, 1e25):
        n_opt = float(fit.optimal_params(budget))
        assert 6 * n_opt * float(fit.optimal_tokens(budget)) == pytest.approx(budget)
        grid = scaling.log_grid(n_opt / 100, n_opt * 100, 4001)
        losses = fit.isoflop_loss(grid, budget)
        assert grid[np.argmin(losses)] == pytest.approx(n_opt, rel=0.01)


def test_the_fit_puts_gophers_compute_optimal_model_far_below_280b():
    fit = scaling.CHINCHILLA
    gopher_budget = compute.training_flops(280e9, 300e9)
    assert gopher_budget == pytest.approx(5.04e23)
    n_opt = float(fit.optimal_params(gopher_budget))
    # Eq. 4 with Eq. 10's constants: G = (0.34 * 406.4 / (0.28 * 410.7))^(1/0.62) = 1.345,
    # N_opt = 1.345 * (8.4e22)^0.4516 = 30.3B, on 2.8T tokens
    assert n_opt / 1e9 == pytest.approx(30.3, abs=0.1)
    assert float(fit.optimal_tokens(gopher_budget)) / 1e12 == pytest.approx(2.77, abs=0.01)
    assert 280e9 / n_opt > 9
    # Hoffmann's own projections for Gopher's budget: 40B (approach 3, Fig. 4 caption) and 67B
    # (approach 1, Table 3, at 5.76e23 FLOPs): all far below Gopher's 280B; the rounded
    # constants of Eq. 10 give somewhat less than the 40B of the unrounded fit
    assert n_opt < published.CHINCHILLA_GOPHER_APPROACH3_N < published.CHINCHILLA_GOPHER_APPROACH1_N
    assert published.CHINCHILLA_GOPHER_APPROACH1_N < 280e9 / 4
    at_table_3_budget = float(fit.optimal_params(published.CHINCHILLA_GOPHER_BUDGET_FLOPS))
    assert 30e9 < at_table_3_budget < published.CHINCHILLA_GOPHER_APPROACH3_N
    # Table 3's row satisfies C = 6ND to its rounding: 6 x 67e9 x 1.5e12 = 6.0e23 ~ 5.76e23
    assert compute.training_flops(67e9, 1.5e12) == pytest.approx(5.76e23, rel=0.05)


def test_the_fit_predicts_chinchilla_beats_gopher_at_about_the_same_compute():
    fit = scaling.CHINCHILLA
    # (arithmetic) 1.69 + 406.4/70e9^0.34 + 410.7/1.4e12^0.28 = 1.94 < 1.99 for Gopher
    chinchilla = float(fit.loss(70e9, 1.4e12))
    gopher = float(fit.loss(280e9, 300e9))
    assert chinchilla == pytest.approx(1.937, abs=0.002)
    assert gopher == pytest.approx(1.993, abs=0.002)


# ---- C = 6ND and GPU hours ----------------------------------------------------------------------
def test_six_nd_for_gpt3_is_its_papers_compute():
    # GPT-3 Table D.1: 3.14E+23 FLOPs for 174,600M parameters and 300B tokens
    assert compute.training_flops(175e9, 300e9) == pytest.approx(3.15e23)
    assert compute.training_flops(published.GPT3_TABLE_D1_PARAMS, 300e9) == pytest.approx(
        published.GPT3_TABLE_D1_FLOPS, rel=1e-3)
    assert round(compute.training_flops(175e9, 300e9) / 1e23, 2) - 3.14 == pytest.approx(0.01)


def test_gpu_hours_and_utilisation_invert_each_other():
    flops = 1e22
    hours = compute.gpu_hours(flops, 312, 0.5)
    assert hours == pytest.approx(1e22 / (156e12 * 3600))
    assert compute.implied_utilisation(flops, hours, 312) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        compute.gpu_hours(flops, 312, 0)
    with pytest.raises(ValueError):
        compute.gpu_hours(flops, 312, 1.5)


def test_adapter_training_counts_forward_and_activation_gradients_of_the_frozen_model():
    assert compute.adapter_training_flops(1e9, 0, 1e6) == 4e15
    assert compute.adapter_training_flops(1e9, 1e6, 1e6) == 4e15 + 6e12


def test_a100_peak_and_the_stated_utilisation():
    # NVIDIA A100 datasheet: BF16 312 TFLOPS dense, 624 with sparsity
    assert published.A100_BF16_DENSE_TFLOPS * 2 == published.A100_BF16_SPARSE_TFLOPS == 624
    # PaLM Table 3: MFU of GPT-3 (V100), Gopher (TPU v3), MT-NLG (A100), PaLM (TPU v4)
    assert list(published.PALM_MFU.values()) == [21.3, 32.5, 30.2, 46.2]
    assert published.PALM_MFU[published.STATED_MFU_SOURCE] == 30.2


# ---- LLaMA, arXiv 2302.13971, and Llama 2, arXiv 2307.09288 -------------------------------------
def test_llama_parameter_counts_from_the_books_shapes_match_table_2():
    for model in published.LLAMA_MODELS:
        billions = memory.parameter_count(model.shape) / 1e9
        printed = published.LLAMA_PUBLISHED_PARAMS_BILLION[model.name]
        # Table 2 prints 6.7B / 13.0B / 32.5B / 65.2B: our counts (6.738B, 13.016B, 32.529B,
        # 65.286B) cut to one decimal; rounding would give 65.3B for the largest
        assert math.floor(billions * 10) / 10 == printed
        assert abs(billions - printed) < 0.1


def test_llama_gpu_hours_and_tokens_are_table_15_and_table_2():
    assert [m.gpu_hours for m in published.LLAMA_MODELS] == [82_432, 135_168, 530_432, 1_022_362]
    assert [m.tokens for m in published.LLAMA_MODELS] == [1.0e12, 1.0e12, 1.4e12, 1.4e12]
    assert published.LLAMA2_70B.gpu_hours == 1_720_320   # Llama 2 Table 2
    assert published.LLAMA2_70B.tokens == 2.0e12         # Llama 2 Table 1
    assert list(published.LLAMA_LEARNING_RATES.values()) == [3.0e-4, 3.0e-4, 1.5e-4, 1.5e-4]


def test_llama_65b_throughput_matches_its_published_hours_and_days():
    # Sec. 2.4: 380 tokens/s/GPU on 2048 GPUs, 1.4T tokens, "approximately 21 days";
    # Table 15: 1,022,362 GPU hours
    seconds = 1.4e12 / published.LLAMA_65B_TOKENS_PER_GPU_SECOND
    assert seconds / 3600 == pytest.approx(1_022_362, rel=0.002)
    assert seconds / published.LLAMA_65B_GPUS / 86400 == pytest.approx(
        published.LLAMA_65B_DAYS, abs=0.5)
    # 6N x 380 tokens/s over the 312 TFLOPS peak: 47.7 % utilisation
    n = memory.parameter_count(memory.LLAMA_65B)
    assert compute.throughput_utilisation(n, 380, 312) == pytest.approx(0.477, abs=0.001)


def test_the_mixtures_are_the_papers_tables():
    llama = {s.name: (s.share_pct, s.epochs, s.size, s.size_unit)
             for s in published.LLAMA_MIXTURE}
    assert llama == {"CommonCrawl": (67.0, 1.10, 3.3, "TB"), "C4": (15.0, 1.06, 783, "GB"),
                     "Github": (4.5, 0.64, 328, "GB"), "Wikipedia": (4.5, 2.45, 83, "GB"),
                     "Books": (4.5, 2.23, 85, "GB"), "ArXiv": (2.5, 1.06, 92, "GB"),
                     "StackExchange": (2.0, 1.03, 78, "GB")}
    assert sum(s.share_pct for s in published.LLAMA_MIXTURE) == pytest.approx(100.0)
    gpt3 = {s.name: (s.share_pct, s.epochs, s.size) for s in published.GPT3_MIXTURE}
    assert gpt3 == {"Common Crawl (filtered)": (60, 0.44, 410), "WebText2": (22, 2.9, 19),
                    "Books1": (8, 1.9, 12), "Books2": (8, 0.43, 55), "Wikipedia": (3, 3.4, 3)}
    # the weights as printed sum to 101 % (rounding)
    assert sum(s.share_pct for s in published.GPT3_MIXTURE) == 101


def test_gpt3_epochs_follow_from_the_rounded_weights_and_sizes_except_webtext2():
    # epochs elapsed = weight x 300B / tokens of the source, the weight rounded to a whole
    # percent; WebText2's printed row does not add up (21.5-22.5 % x 300B / 19B = 3.4-3.6,
    # printed 2.9), so the figure shows the table as printed
    for source in published.GPT3_MIXTURE:
        low, high = ((source.share_pct + d) / 100 * 300 / source.size for d in (-0.5, 0.5))
        if source.name == "WebText2":
            assert source.epochs < low
        else:
            assert low <= source.epochs <= high


def test_llama_recipe_is_section_2_3():
    assert published.LLAMA_ADAM_BETAS == (0.9, 0.95)
    assert (published.LLAMA_WEIGHT_DECAY, published.LLAMA_GRAD_CLIP) == (0.1, 1.0)
    assert (published.LLAMA_WARMUP_STEPS, published.LLAMA_FINAL_LR_FRACTION) == (2000, 0.10)
    # the book's LLaMA shapes hold the released vocabulary and context (Llama 2 Sec. 2.2 and
    # Table 1: 32k tokens, 2k context for LLaMA 1)
    assert memory.LLAMA_7B.vocab_size == published.LLAMA_VOCABULARY == 32_000
    assert memory.LLAMA_7B.context_length == published.LLAMA_CONTEXT_LENGTH == 2048
