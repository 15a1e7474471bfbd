"""The fine-tuning topic: schedules and rates as published, gradient-descent theory, and every
claim a caption or annotation makes checked against the result the figure draws (nothing is
drawn here)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import fine_tuning
from figkit import latex, registry
from figkit.numbers import Numbers
from models import mlp
from numerics import memory
from numerics.fine_tuning import experiments, quadratic, schedules
from published import hyperparameters
from recorders import fine_tuning as recorded

FIGURES = fine_tuning.FIGURES
ROOT = Path(__file__).resolve().parents[1]


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


# ---- every figure: a result function, numbers without drawing ---------------------------------
def test_every_figure_has_a_result_and_its_numbers_need_no_drawing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a Figure was built while asking for numbers")

    monkeypatch.setattr(registry, "Figure", refuse)
    monkeypatch.setattr(FIGURES, "build", refuse)
    assert len(FIGURES.names) == 10
    for spec in FIGURES.specs:
        assert spec.result is not None, spec.name
        assert spec.result.__name__ == f"{spec.name}_result"
        assert spec.result.__module__ == "fine_tuning"
        numbers = FIGURES.numbers(spec.name)
        assert isinstance(numbers, Numbers)
        assert FIGURES.result(spec.name).numbers is numbers


def test_results_keep_every_committed_number():
    """numbers.tex may only gain macros: every committed one is still exported, unchanged."""
    committed = (ROOT / "images" / "fine_tuning" / "numbers.tex").read_text()
    prefix = latex.macro_prefix("fine_tuning")
    exported = {}
    for name in FIGURES.names:
        for key, tex in FIGURES.numbers(name).tex_items():
            exported.setdefault(key, tex)
    for line in committed.splitlines():
        if line.startswith("\\newcommand"):
            key = line.split("}", 1)[0].removeprefix(f"\\newcommand{{\\{prefix}")
            tex = line.split("}{", 1)[1][:-1]
            assert exported.get(key) == tex, key


# ---- captions and annotations agree with the computation -----------------------------------
def test_schedule_figure_shows_the_published_peaks():
    schedule = FIGURES.result("learning_rate_comparison")
    caption = FIGURES["learning_rate_comparison"].caption
    numbers = schedule.numbers
    assert r"(peak $3\times10^{-4}$, cosine to 10\,\%)" in caption
    assert schedule.pretrain_rate.max() == pytest.approx(schedules.LLAMA_PEAK_LR)
    assert schedule.pretrain_rate[-1] == pytest.approx(0.1 * schedules.LLAMA_PEAK_LR)
    assert schedule.finetune_rate.max() == pytest.approx(schedules.FINETUNE_PEAK_LR)
    assert "ten times lower peak" in caption and numbers.value("PeakRatio") == pytest.approx(10)
    assert numbers.value("StlrMin") == pytest.approx(schedule.stlr_rate.min())
    assert schedule.stlr_rate.argmax() == schedule.stlr_cut
    assert schedule.stlr_rate.max() == pytest.approx(schedules.STLR_ETA_MAX)


def test_discriminative_figure_spread_is_2_6_to_the_11th():
    rates = FIGURES.result("discriminative_learning_rates")
    numbers = FIGURES.numbers("discriminative_learning_rates")
    assert numbers.value("LayerRateSpread") == pytest.approx(2.6**11)
    assert numbers.value("LayerFactor") == 2.6
    assert "divided by 2.6," in FIGURES["discriminative_learning_rates"].caption
    # "one more layer is unfrozen per epoch": epoch e trains the top e layers
    trainable = ~np.isnan(rates.unfrozen_log_rates)
    assert trainable.sum(axis=1).tolist() == list(range(1, len(rates.layers) + 1))


def test_convergence_figure_shows_each_step_size_regime():
    convergence = FIGURES.result("convergence_analysis")
    caption = FIGURES["convergence_analysis"].caption
    assert fine_tuning.CONVERGENCE_PROBLEM == PROBLEM and r"$\mu=1$, $L=10$" in caption
    numbers = convergence.numbers
    runs = {run.name: run for run in convergence.runs}
    assert numbers.value("RateFast") == pytest.approx(PROBLEM.contraction(PROBLEM.optimal_step()))
    assert numbers.value("RateFast") < numbers.value("RateSlow") < 1  # small step: slowly
    assert runs["fast"].suboptimality[-1] < runs["slow"].suboptimality[-1]
    assert numbers.value("RateOscillating") == pytest.approx(1)  # oscillates without converging
    assert runs["oscillating"].suboptimality[-1] > 0.5 * runs["oscillating"].suboptimality[0]
    assert numbers.value("RateDiverging") > 1  # any larger step diverges
    assert runs["diverging"].suboptimality[-1] > 1e6 * runs["diverging"].suboptimality[0]
    shown = runs["diverging"].iterates[:convergence.shown, 1]
    assert convergence.stiff_reach == pytest.approx(np.abs(shown).max())


def test_transfer_figure_shades_the_task_stage_by_discriminative_rate():
    stages = FIGURES.result("transfer_learning_process")
    assert len(stages.layer_strength) == 3  # "in three stages"
    task = stages.layer_strength[2]
    assert task[-1] == 1 and np.allclose(task[1:] / task[:-1], stages.layer_factor)
    schedule_numbers = FIGURES.numbers("learning_rate_comparison")
    for key in ("PretrainPeak", "FinetunePeak"):
        assert stages.numbers[key] == schedule_numbers[key]


def test_loss_curve_caption_matches_the_runs():
    curves = FIGURES.result("training_loss_curves")
    numbers = curves.numbers
    caption = FIGURES["training_loss_curves"].caption
    assert f"its {curves.overfits.hyperparams['n_train']} training points" in caption
    assert numbers.value("OverfitTrainPoints") == experiments.OVERFIT_TRAIN_POINTS
    assert curves.unstable.hyperparams["lr"] == 10 * curves.converges.hyperparams["lr"]
    assert numbers.value("DivergedLr") == 10 * numbers.value("ConvergedLr")
    assert "ten times larger" in caption
    assert curves.unstable.diverged_at is not None
    assert numbers.value("DivergedStep") == curves.unstable.diverged_at
    assert np.all(np.isfinite(curves.unstable.train_loss))  # nothing past the overflow is drawn
    assert curves.overfit_best_step == numbers.value("OverfitValMinStep")
    assert curves.overfit_best_loss == curves.overfits.val_loss.min()
    assert numbers.value("NoiseFloor") == curves.noise_floor


def test_gradient_flow_caption_matches_the_networks():
    flow = FIGURES.result("gradient_flow_analysis")
    run = flow.run
    assert "20-layer" in FIGURES["gradient_flow_analysis"].caption
    assert run.config["depth"] == 20
    assert run.sigmoid_ratio < 1e-6 < 1e-2 < run.residual_ratio
    assert flow.numbers.value("GradFlowSeeds") == len(run.config["seeds"]) >= 3
    assert flow.residual_blocks == run.config["depth"] - 1  # input width differs from hidden


def test_memory_caption_matches_the_accounting():
    caption = FIGURES["memory_comparison"].caption
    assert f"{memory.MIXED_PRECISION_ADAM.bytes_per_param:g} bytes per parameter" in caption
    assert f"$r={fine_tuning.LORA_RANK}$" in caption
    numbers = FIGURES.numbers("memory_comparison")
    # QLoRA's headline: a 65B model fine-tunes within one 48 GB GPU (QLoRA, arXiv 2305.14314).
    assert numbers.value("QloraSixtyFiveGB") < 48
    assert numbers.value("FullSixtyFiveGB") > 780


def test_memory_figure_draws_the_gpu_capacities_of_numerics_memory():
    comparison = FIGURES.result("memory_comparison")
    assert comparison.gpus == ((24, "24 GB RTX 4090"), (48, "48 GB A6000"), (80, "80 GB A100"))
    for (gpu, _), (capacity, _) in zip(fine_tuning.GPU_NAMES, comparison.gpus, strict=True):
        assert capacity == memory.GPU_MEMORY_GB[gpu]


def test_memory_breakdown_adds_up_to_the_totals():
    comparison = FIGURES.result("memory_comparison")
    numbers = comparison.numbers
    for method_totals in zip(*comparison.totals_gb.values(), strict=True):
        full, lora, qlora = method_totals
        assert full > lora > qlora
    stacked = comparison.component_gb.sum(axis=0)
    assert np.allclose(stacked, comparison.method_total_gb)
    assert np.allclose(comparison.component_start_gb[0], 0)
    seven = memory.compare_methods([memory.LLAMA_7B], fine_tuning.LORA_RANK)[memory.LLAMA_7B.name]
    expected = [memory.bytes_to_gb(b.total) for b in seven.values()]
    assert np.allclose(comparison.method_total_gb, expected)
    assert numbers.value("FullSevenGB") == pytest.approx(expected[0])
    assert numbers.value("QloraSevenGB") == pytest.approx(expected[2])
    constants = seven["QLoRA"].quantization_constants
    assert comparison.quantization_constants_gb == memory.bytes_to_gb(constants)
    assert f"({comparison.quantization_constants_gb:.1f} GB)" in comparison.component_labels[1]


def test_forgetting_figure_reports_the_measured_accuracies():
    run = recorded.load("forgetting")
    numbers = FIGURES.numbers("catastrophic_forgetting")
    assert numbers.value("PlainAccA") == pytest.approx(100 * run.plain_acc_a[-1])
    assert numbers.value("EwcAccA") == pytest.approx(100 * run.ewc_acc_a[-1])
    assert numbers.value("TaskAAcc") - numbers.value("PlainAccA") > 50  # "loses most of A"
    assert numbers.value("EwcAccA") > numbers.value("PlainAccA") + 30  # "keeps A"
    assert numbers.value("EwcAccB") > 85  # "while B is learned"
    assert numbers.value("EwcLambda") == run.lam


def test_fisher_figure_shows_a_concentrated_fisher():
    fisher = FIGURES.result("fisher_information_matrix")
    numbers = fisher.numbers
    assert numbers.value("FisherTopShare") < 25  # "a small share of the parameters"
    assert numbers.value("FisherParams") == mlp.num_params(recorded.load("forgetting").params_a)
    assert fisher.mass_percent[-1] == pytest.approx(100)
    half = np.searchsorted(fisher.mass_percent, 50)
    assert fisher.params_percent[half] == pytest.approx(fisher.top_share_percent)


def test_hyperparameter_table_cites_every_cell():
    table = FIGURES.result("hyperparameter_recommendations")
    assert len(table.rows) == len(hyperparameters.HYPERPARAMETERS)
    assert len(table.footnotes) == len(hyperparameters.SOURCES)
    notes = set()
    for _, cells in table.rows:
        assert len(cells) == len(table.regime_labels) == 3
        for cell in cells:
            assert (cell.note is not None) == cell.applicable
            notes.add(cell.note)
    assert notes - {None} == set(range(1, len(table.footnotes) + 1))
