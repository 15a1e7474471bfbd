"""The fine-tuning topic: schedules and rates as published, gradient-descent theory, and every
claim a caption or annotation makes checked against the result the figure draws (nothing is
drawn here)."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

import fine_tuning
from figkit import latex, registry
from figkit.numbers import Numbers, spell
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


def test_layerwise_decay_is_sun_et_al_code():
    """run_classifier_discriminative.py (Sun et al. 2019): layer i = 0..11 gets
    lr * 0.95^(11 - i), lr = 2e-5."""
    rates = schedules.layerwise_decay_rates(schedules.SUN_TOP_LR, schedules.BERT_BASE_LAYERS)
    assert schedules.SUN_TOP_LR == 2e-5 and schedules.SUN_LAYER_DECAY == 0.95
    assert np.allclose(rates, [2e-5 * 0.95 ** (11 - i) for i in range(12)], rtol=1e-15)
    assert rates[0] == pytest.approx(1.1376e-5, rel=1e-4)


def test_ulmfit_discriminative_rates_are_its_released_scripts_five_groups():
    """train_clas.py: lrs = [lr/2.6^4, lr/2.6^3, lr/2.6^2, lr/2.6, lr] over embedding, three
    LSTM layers and the classifier head."""
    groups = schedules.ULMFIT_LAYER_GROUPS
    assert groups[0] == "embedding" and groups[-1] == "classifier head"
    assert sum(g.startswith("LSTM") for g in groups) == schedules.ULMFIT_LSTM_LAYERS == 3
    lr = 0.01
    assert np.allclose(schedules.discriminative_rates(lr, len(groups)),
                       [lr / 2.6**4, lr / 2.6**3, lr / 2.6**2, lr / 2.6, lr])


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
def test_schedule_figure_shows_the_cited_peaks_with_no_built_in_ratio():
    """(a) draws each schedule as its source publishes it: BERT's grid (full fine-tuning), LoRA's
    E2E run and QLoRA's Guanaco runs; no peak of the code's own choosing, no typed-in ratio."""
    schedule = FIGURES.result("learning_rate_comparison")
    caption = FIGURES["learning_rate_comparison"].caption
    numbers = schedule.numbers
    hp = hyperparameters
    by_method = {}
    for published in schedule.schedules:
        by_method.setdefault(published.method, []).append(published)
        assert published.rate.max() == pytest.approx(published.peak)
    assert sorted(s.peak for s in by_method["full"]) == sorted(hp.BERT_LEARNING_RATES)
    assert [s.peak for s in by_method["lora"]] == [hp.LORA_LEARNING_RATE]
    assert [s.peak for s in by_method["qlora"]] == [hp.QLORA_LEARNING_RATE,
                                                     hp.QLORA_LARGE_LEARNING_RATE]
    for published in by_method["full"] + by_method["lora"]:  # "linear decay to zero"
        assert published.rate[-1] == 0 and published.shape == "linear decay to 0"
        top = int(np.argmax(published.rate))
        assert np.allclose(np.diff(published.rate[top:]), np.diff(published.rate[top:])[0])
    bert_warmup = schedule.progress[np.argmax(by_method["full"][0].rate)]
    assert bert_warmup == pytest.approx(hp.BERT_WARMUP_FRACTION, abs=1e-3)
    lora_warmup = schedule.progress[np.argmax(by_method["lora"][0].rate)]
    assert lora_warmup == pytest.approx(hp.LORA_WARMUP_STEPS / hp.LORA_TOTAL_STEPS, abs=1e-3)
    assert numbers.value("LoraWarmupPercent") == pytest.approx(100 * 500 / 26_289)
    for published in by_method["qlora"]:  # constant: the scripts' warm-up has no effect
        assert np.all(published.rate == published.peak) and published.shape == "constant"
    # the ratio the caption states is computed from the cited peaks
    low, high = fine_tuning.ADAPTER_OVER_BERT
    assert low == pytest.approx(1e-4 / 5e-5) and high == pytest.approx(2e-4 / 2e-5)
    assert f"peak {low:.0f} to {high:.0f} times higher than BERT's grid" in caption
    assert numbers.value("AdapterOverBertMin") == low
    assert numbers.value("AdapterOverBertMax") == high
    for cited in ("Devlin et al.", "Hu et al.", "Dettmers et al.", "Touvron et al."):
        assert cited in caption
    assert "PeakRatio" not in numbers.keys() and not hasattr(schedules, "FINETUNE_PEAK_LR")
    # the line is the peak of LLaMA-7B and -13B (Touvron et al. 2023, Table 2); the larger
    # models' peak is named beside it
    assert schedule.pretrain_peak == schedules.LLAMA_PEAK_LR == numbers.value("PretrainPeak")
    assert schedules.LLAMA_PEAK_LR == 3.0e-4 and "LLaMA-7B's and -13B's" in caption
    assert numbers.value("PretrainLargePeak") == schedules.LLAMA_LARGE_PEAK_LR == 1.5e-4
    # (b) ULMFiT's slanted triangle
    assert numbers.value("StlrMin") == pytest.approx(schedule.stlr_rate.min())
    assert schedule.stlr_rate.argmax() == schedule.stlr_cut
    assert schedule.stlr_rate.max() == pytest.approx(schedules.STLR_ETA_MAX)
    assert numbers["StlrEtaMax"] == "0.01" and numbers["StlrCutFrac"] == "0.1"
    assert numbers["StlrRatio"] == "32" and numbers.value("StlrSteps") == schedule.stlr_total
    assert schedule.stlr_cut == numbers.value("StlrCutFrac") * numbers.value("StlrSteps")


def test_schedule_panels_write_rates_in_one_notation():
    """Both panels draw rates in units of a power of ten named on the axis (x10^-4, x10^-3) and
    print every rate as a times a power of ten: no plain decimal 0.0100 beside 2x10^-4."""
    schedule = FIGURES.result("learning_rate_comparison")
    numbers = schedule.numbers
    for unit, key in ((schedule.rate_unit, "RateUnit"), (schedule.stlr_rate_unit, "StlrRateUnit")):
        assert math.log10(unit) == round(math.log10(unit))
        assert numbers.value(key) == unit
    assert numbers["RateUnit"] == "$10^{-4}$" and numbers["StlrRateUnit"] == "$10^{-3}$"
    assert numbers["StlrEtaMaxSci"] == "$10^{-2}$" and numbers["StlrMin"] == r"$3.1\times10^{-4}$"
    assert numbers.value("StlrEtaMaxSci") == schedule.stlr_eta_max
    # (b)'s axis, in its unit, runs over whole numbers up to the peak (ticks 0, 2, ..., 10)
    assert schedule.stlr_eta_max / schedule.stlr_rate_unit == pytest.approx(10)
    # (a)'s labels sit clear of lines and markers: tested on the drawn figure in
    # test_fine_tuning_layout.py


def test_discriminative_figure_shows_ulmfit_on_its_own_model_beside_bert():
    """ULMFiT's factor 2.6 over its five layer groups (not over 12 layers), and Sun et al.'s
    0.95 over BERT-base's 12 layers."""
    rates = FIGURES.result("discriminative_learning_rates")
    numbers = rates.numbers
    caption = FIGURES["discriminative_learning_rates"].caption
    ulmfit, bert = rates.ulmfit, rates.bert
    assert len(ulmfit.relative_rate) == len(rates.ulmfit_groups) == 5
    assert len(bert.relative_rate) == 12
    for layers, step in ((ulmfit, 1 / 2.6), (bert, 0.95)):
        assert layers.relative_rate[0] == 1 and layers.step == pytest.approx(step)
        assert np.allclose(layers.relative_rate[1:] / layers.relative_rate[:-1], step)
        assert layers.depth_below_top.tolist() == list(range(len(layers.relative_rate)))
    assert numbers.value("LayerFactor") == 2.6 and numbers.value("BertLayerDecay") == 0.95
    assert numbers.value("UlmfitBottomShare") == pytest.approx(2.6**-4)
    assert numbers.value("BertBottomShare") == pytest.approx(0.95**11)
    assert numbers["UlmfitBottomShare"] == "0.022" and numbers["BertBottomShare"] == "0.57"
    assert "divided by 2.6 per layer group" in caption and "3 AWD-LSTM layers" in caption
    assert "12-layer BERT-base (multiplied by 0.95" in caption
    # (b) "one more layer group trains each epoch, from the top"
    assert rates.unfrozen.sum(axis=1).tolist() == [1, 2, 3, 4, 5]
    assert np.all(rates.unfrozen[:, -1]) and rates.unfrozen[:, ::-1].argmin(axis=1)[:-1].tolist() \
        == [1, 2, 3, 4]
    assert rates.group_rate_power.tolist() == [4, 3, 2, 1, 0]  # eta / 2.6^k, bottom first


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
    # (a)'s value axis: the decades the runs reach, no empty decade below or above
    low, high = convergence.suboptimality_limits
    values = np.concatenate([run.suboptimality for run in convergence.runs])
    assert low <= values.min() < 10 * low and high / 10 < values.max() <= high


def test_transfer_figure_shows_the_stages_without_repeating_the_unfreezing_schedule():
    """ULMFiT Sec. 3: each stage starts from the weights of the one before, the classifier head
    from scratch; the rates and the unfreezing schedule are drawn once, in
    discriminative_learning_rates (b), and only named here."""
    transfer = FIGURES.result("transfer_learning_process")
    caption = FIGURES["transfer_learning_process"].caption
    pretrain, lm, classifier = transfer.stages  # "in three stages"
    assert all(pretrain.new) and not any(lm.new)
    assert classifier.new == (False,) * (len(classifier.layers) - 1) + (True,)
    assert pretrain.layers[:-1] == lm.layers[:-1] == classifier.layers[:-1]
    assert classifier.layers[-1] == "classifier head" and lm.layers[-1] == "LM head"
    assert len(pretrain.layers) == len(schedules.ULMFIT_LAYER_GROUPS)
    # Sec. 3.2: the target-task LM is fine-tuned with discriminative and slanted rates
    lm_note, classifier_note = (" ".join(stage.note.split()) for stage in (lm, classifier))
    assert "discriminative and slanted triangular rates" in lm_note
    assert "unfrozen one by one" in classifier_note
    for stage in transfer.stages:  # no rates or epochs drawn here
        assert not hasattr(stage, "relative_rate") and not hasattr(stage, "unfrozen_epoch")
    assert "only the classifier head afresh" in caption
    assert "the figure on discriminative fine-tuning" in caption


def test_loss_curve_runs_differ_in_one_setting_each():
    """Like for like: the overfitting run is the converging run on fewer points, the diverging
    one the converging run at ten times the learning rate; every setting else is the same."""
    curves = FIGURES.result("training_loss_curves")
    numbers = curves.numbers
    caption = FIGURES["training_loss_curves"].caption
    converges, overfits, unstable = (curves.hyperparams[k]
                                     for k in ("converges", "overfits", "unstable"))
    assert {key for key in converges if converges[key] != overfits[key]} == {"n_train"}
    # the same batch of 32: for the overfitting run, its whole training set
    assert overfits["n_train"] == overfits["batch"] == experiments.OVERFIT_TRAIN_POINTS
    assert {key for key in converges if converges[key] != unstable[key]} == {"lr"}
    assert unstable["lr"] == 10 * converges["lr"] and "ten times larger" in caption
    assert f"only {experiments.OVERFIT_TRAIN_POINTS} training points" in caption
    assert curves.seeds == numbers.value("LossCurveSeeds") >= 3
    assert f"{curves.seeds} seeds" in caption
    for run in recorded.load("loss_curves").runs:  # every seed: the same settings
        assert run.converges.hyperparams == converges
        assert run.overfits.hyperparams == overfits and run.unstable.hyperparams == unstable


def test_loss_curve_numbers_are_the_runs():
    curves = FIGURES.result("training_loss_curves")
    numbers = curves.numbers
    runs = recorded.load("loss_curves").runs
    diverged = [run.unstable.diverged_at for run in runs]
    assert None not in diverged
    assert numbers.value("DivergedStep") == pytest.approx(np.median(diverged), abs=0.5)
    assert numbers.value("DivergedStepMin") == min(diverged)
    assert numbers.value("DivergedStepMax") == max(diverged)
    for log_train in curves.unstable_log_train:  # nothing past the overflow is drawn
        assert np.all(np.isfinite(log_train))
    # (c) every seed's line ends at its last finite loss, before the step it overflows at; the
    # overflows are marked where float64 ends, seeds within a few steps stacked apart
    assert curves.float_max_log10 == pytest.approx(math.log10(np.finfo(np.float64).max))
    assert numbers["FloatMaxLog"] == "308"
    assert curves.diverged_steps.tolist() == diverged
    for steps, log_train, log_val, step in zip(curves.unstable_steps, curves.unstable_log_train,
                                               curves.unstable_log_val, diverged, strict=True):
        assert steps[-1] < step and max(log_train[-1], log_val[-1]) < curves.float_max_log10
    marks = list(zip(curves.diverged_steps, curves.overflow_stack, strict=True))
    for (a, level_a), (b, level_b) in itertools.combinations(marks, 2):
        if abs(a - b) <= fine_tuning.OVERFLOW_NEAR_STEPS:
            assert level_a != level_b
    assert sorted(curves.overflow_stack.tolist()) == [0, 0, 0, 1, 2]  # 175; 194, 196, 196; 216
    caption = FIGURES["training_loss_curves"].caption
    assert "(c): every seed to its last finite loss, x: its overflow" in caption
    best = [run.overfits.steps[np.argmin(run.overfits.val_loss)] for run in runs]
    assert curves.overfit_best_steps.tolist() == best
    assert numbers.value("OverfitValMinStep") == pytest.approx(np.median(best), abs=0.5)
    assert numbers.value("OverfitValMinStepMin") == min(best)
    assert numbers.value("NoiseFloor") == curves.noise_floor
    # (b) overfits: every seed's validation loss ends above its minimum while the training
    # loss falls on
    rises = []
    for run in runs:
        over = run.overfits
        rises.append(over.val_loss[-1] / over.val_loss.min())
        assert over.train_loss[-1] < 0.01 * over.train_loss[np.argmin(over.val_loss)]
    assert min(rises) > 1.1 and np.median(rises) > 1.25
    train, val = curves.overfits
    assert np.all(train.low <= train.median) and np.all(train.median <= train.high)
    assert np.all(val.low <= val.median) and np.all(val.median <= val.high)


def test_loss_curves_are_logged_where_they_change():
    """The losses change most in the first tens of steps: logged densely there (log-spaced), so
    the log step axis of (a) and (b) shows the dynamics a linear one squeezed into 2 %."""
    curves = FIGURES.result("training_loss_curves")
    caption = FIGURES["training_loss_curves"].caption
    assert "logarithmic axis in (a) and (b)" in caption
    # the caption says how each panel shows the seeds: (a), (b) median and range bands, (b)'s
    # dots one per seed, (c) every seed
    assert "lines: median over the seeds, bands: their range" in caption
    assert "dots in (b): each seed's validation minimum" in caption
    assert "(c): every seed" in caption and "brackets" not in caption
    assert len(curves.overfit_best_steps) == len(curves.unstable_steps) == curves.seeds
    for train, _ in (curves.converges, curves.overfits):
        steps = train.steps
        early = steps <= 0.02 * steps[-1]
        assert early.sum() >= 15 and steps[:11].tolist() == list(range(11))
        ratios = steps[12:] / steps[11:-1]
        assert np.all(ratios < 1.2) and np.all(ratios > 1.05)  # evenly spaced on a log axis
        fall = train.median[0] - train.median.min()
        assert train.median[0] - train.median[early][-1] > 0.5 * fall
    assert np.median(curves.overfit_best_steps) <= 0.05 * curves.overfits[0].steps[-1]


def test_gradient_flow_changes_one_thing_at_a_time():
    """The baseline is a sigmoid network; each other network changes one thing of it (the
    activation, or skip connections) on the same weights and data."""
    flow = FIGURES.result("gradient_flow_analysis")
    run = flow.run
    caption = FIGURES["gradient_flow_analysis"].caption
    assert run.networks[0] == "sigmoid" and run.activations[0] == "sigmoid"
    assert not run.skip_connections[0]
    for activation, skips in zip(run.activations[1:], run.skip_connections[1:], strict=True):
        changed = (activation != run.activations[0]) + (skips != run.skip_connections[0])
        assert changed == 1
    assert run.config["weights"] == "the same per seed for every network"
    # 20 hidden layers and the output layer: 21 weight matrices, 21 points per network
    assert run.config["depth"] == 20 and len(run.layer) == run.norms.shape[2] == 21
    assert "20 hidden layers (21 weight matrices)" in caption
    assert flow.numbers.value("GradFlowMatrices") == 21
    assert run.norms.shape[1] == flow.numbers.value("GradFlowSeeds") >= 3
    assert f"{run.norms.shape[1]} seeds" in caption


def test_gradient_flow_caption_claims_hold():
    flow = FIGURES.result("gradient_flow_analysis")
    run, numbers = flow.run, flow.numbers
    sigmoid, tanh, skips = range(3)
    # "with sigmoids the gradient shrinks about fourfold per layer towards the input"
    assert 3.5 < flow.shrink_per_layer < 5
    assert numbers["GradShrinkPerLayer"] == f"{flow.shrink_per_layer:.1f}"
    assert np.all(np.diff(np.log(run.norms[sigmoid]), axis=1) > 0)  # every seed, every layer
    assert run.ratio[sigmoid] < 1e-10
    # "tanh instead, or skip connections ..., each keep it within a few orders of magnitude"
    for network in (tanh, skips):
        assert flow.spread[network] < 1e3 and run.ratio[network] > 1e-3
    assert flow.spread[sigmoid] > 1e10
    assert np.allclose(run.ratio, run.mean[:, 0] / run.mean[:, -1])
    assert np.all(flow.low <= run.mean) and np.all(run.mean <= flow.high)


def test_gradient_flow_skip_ratio_spans_the_layers_the_skips_wrap():
    """The skip network's number is its ratio across the layers the skips wrap (2 to 20; the
    first layer widens the input, the output layer narrows it): flat, as the figure says. Its
    output layer stands out because it is linear, so no sigmoid derivative damps its error."""
    flow = FIGURES.result("gradient_flow_analysis")
    run, numbers = flow.run, flow.numbers
    skip = run.networks.index(fine_tuning.SKIP_NETWORK)
    assert run.skip_connections[skip] and not any(np.delete(run.skip_connections, skip))
    depth, width, d_in = (run.config[k] for k in ("depth", "width", "d_in"))
    assert d_in != width and run.config["skip_blocks"] == depth - 1 == 19
    assert flow.skip_wrapped == (2, 20) == (numbers.value("GradSkipWrappedFirst"),
                                            numbers.value("GradSkipWrappedLast"))
    norms = run.mean[skip]
    assert flow.skip_wrapped_ratio == pytest.approx(norms[1] / norms[19])
    assert 0.1 < flow.skip_wrapped_ratio < 1  # within a factor of ten over 19 layers
    assert numbers["GradRatioSkipWrapped"] == "0.20"
    # the earlier number, input over output layer, is not what the skip line shows
    assert numbers.value("GradRatioSkip") == pytest.approx(norms[0] / norms[-1])
    assert numbers.value("GradRatioSkip") < flow.skip_wrapped_ratio / 10
    assert flow.skip_output_jump == pytest.approx(norms[-1] / norms[19])
    assert numbers["GradSkipOutputJump"] == "11"
    # why: every seed, recomputed as experiments.gradient_flow does (the same norms), the output
    # layer's input is hardly larger than layer 20's, its error more than 1/max(sigma') = 4
    # times larger: layer 20's error passed through sigma' <= 1/4, the output layer's did not
    n_classes, batch = run.config["n_classes"], run.config["batch"]
    for j, seed in enumerate(run.config["seeds"]):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(batch, d_in))
        y = np.argmax(x @ rng.normal(size=(d_in, n_classes)), axis=1)
        weights = mlp.init_params([d_in] + [width] * depth + [n_classes], rng, "xavier")
        out, cache = mlp.forward(weights, x, "sigmoid", True)
        _, dout = mlp.softmax_cross_entropy(out, y)
        deltas = mlp.layer_deltas(weights, cache, dout)
        grads = [h.T @ d for h, d in zip(cache.inputs, deltas, strict=True)]
        assert np.allclose([np.linalg.norm(g) for g in grads], run.norms[skip, j])
        assert cache.residual[1:depth] == [True] * (depth - 1) and not cache.residual[0]
        assert not cache.residual[-1]
        h_out, h_last = (np.linalg.norm(cache.inputs[i]) for i in (depth, depth - 1))
        assert h_out / h_last < 1.1
        assert np.linalg.norm(deltas[depth]) / np.linalg.norm(deltas[depth - 1]) > 4


def test_memory_caption_states_the_accounting():
    caption = FIGURES["memory_comparison"].caption
    assert "every trained parameter at 16 bytes (mixed-precision Adam, ZeRO)" in caption
    assert "GB ($10^9$ bytes)" in caption and f"$r={fine_tuning.LORA_RANK}$" in caption
    assert "the QLoRA paper's own count" in caption
    numbers = FIGURES.numbers("memory_comparison")
    assert numbers.value("BytesPerParamFull") == 16 and numbers.value("BytesPerParamPaper") == 12
    # QLoRA's headline: a 65B model fine-tunes within one 48 GB GPU (QLoRA, arXiv 2305.14314).
    assert numbers.value("QloraSixtyFiveGB") < 48
    assert numbers.value("FullSixtyFiveGB") > 780


def test_memory_figure_counts_every_trained_parameter_at_16_bytes():
    """One accounting for the book (numerics.memory.compare_methods): adapters of LoRA and
    QLoRA cost what a fully trained parameter costs; the result holds its breakdowns."""
    comparison = FIGURES.result("memory_comparison")
    numbers = comparison.numbers
    for row in comparison.breakdowns.values():
        for breakdown in row.values():
            assert breakdown.accounting == memory.MIXED_PRECISION_ADAM.name
    seven = comparison.breakdowns[memory.LLAMA_7B.name]
    n_adapter = memory.lora_parameters(memory.LLAMA_7B, fine_tuning.LORA_RANK, memory.ALL_LINEAR)
    for method in ("LoRA", "QLoRA"):
        b = seven[method]
        assert b.adapter_weights + b.adapter_gradients + b.adapter_optimizer_states \
            == 16 * n_adapter
    full = seven["full fine-tuning"]
    assert full.total == 16 * memory.parameter_count(memory.LLAMA_7B)
    assert numbers.value("QloraSixtyFiveGB") == pytest.approx(47.25, abs=0.01)
    assert numbers["QloraSixtyFiveGB"] == "47.3" and numbers["FullSixtyFiveGB"] == "1,045"
    for method, totals in comparison.totals_gb.items():
        expected = [memory.bytes_to_gb(row[method].total)
                    for row in comparison.breakdowns.values()]
        assert np.allclose(totals, expected)


def test_memory_figure_shows_the_qlora_papers_count_beside_zeros():
    """ZeRO's 16 B/param and the QLoRA paper's "more than 780 GB" (12 B/param), both shown."""
    comparison = FIGURES.result("memory_comparison")
    numbers = comparison.numbers
    paper = comparison.paper_breakdown
    assert paper.model == memory.LLAMA_65B.name
    assert paper.accounting == memory.BF16_ADAM_FP32_MOMENTS.name
    assert paper.total == 12 * memory.parameter_count(memory.LLAMA_65B)
    assert comparison.paper_claim_gb == memory.QLORA_16BIT_FULL_FINETUNE_GB == 780
    assert numbers.value("PaperClaimSixtyFiveGB") == 780
    assert 780 < numbers.value("PaperFullSixtyFiveGB") < 790  # "more than 780 GB"
    assert paper.total * 16 / 12 == comparison.breakdowns[memory.LLAMA_65B.name][
        "full fine-tuning"].total


def test_memory_figure_draws_the_books_gpus_at_their_measured_capacities():
    comparison = FIGURES.result("memory_comparison")
    assert fine_tuning.GPUS == memory.BOOK_GPUS
    assert comparison.gpus == tuple((memory.gpu_capacity_gb(gpu), memory.gpu_label(gpu))
                                    for gpu in memory.BOOK_GPUS)
    assert [round(capacity, 1) for capacity, _ in comparison.gpus] == [25.8, 51.5, 85.9]
    assert comparison.gpus[0][1] == "RTX 4090, 24 GiB = 25.8 GB"
    for gpu, (_, label) in zip(fine_tuning.GPUS, comparison.gpus, strict=True):
        assert label.endswith(f"= {comparison.numbers[f'Gpu{spell(gpu)}GB']} GB")


def test_memory_totals_are_drawn_against_the_parameter_count():
    """(a) joins the models by a line: its x axis is their parameter count, so the line
    means something."""
    comparison = FIGURES.result("memory_comparison")
    assert comparison.parameters.tolist() == [memory.parameter_count(shape)
                                              for shape in fine_tuning.MEMORY_MODELS]
    assert np.all(np.diff(comparison.parameters) > 0)
    # every drawn total, and the published 780 GB, within (a)'s value axis: no empty decade
    low, high = fine_tuning.MEMORY_TOTAL_LIMITS_GB
    values = np.concatenate([*comparison.totals_gb.values(), [comparison.paper_claim_gb]])
    assert low < values.min() < 3 * low and high / 3 < values.max() < high


def test_memory_per_parameter_parts_add_up_and_all_show():
    """(b): the bytes each part costs per parameter of LLaMA-7B, for the three methods; the
    parts add up to the totals, and every part a method has lies within the axis (a log axis:
    nothing is a sliver)."""
    comparison = FIGURES.result("memory_comparison")
    numbers = comparison.numbers
    for method_totals in zip(*comparison.totals_gb.values(), strict=True):
        full, lora, qlora = method_totals
        assert full > lora > qlora
    seven = comparison.breakdowns[memory.LLAMA_7B.name]
    n = memory.parameter_count(memory.LLAMA_7B)
    per = comparison.bytes_per_parameter
    assert comparison.parts[-1] == "total"
    assert np.allclose(per[:-1].sum(axis=0), per[-1])
    assert np.allclose(per[-1], [seven[m].total / n for m in memory.METHODS])
    assert per[-1, 0] == pytest.approx(16)  # full fine-tuning: ZeRO's 16 bytes
    # (b) draws stacked bars of the breakdown's fields in component colours, the adapters'
    # share hatched: every field once, and the bars add up to the totals
    segments = comparison.segments
    assert sorted(f for f, _, _ in segments) == sorted(
        set(memory.MEMORY_COMPONENTS) - {"activations"})
    assert all(adapters == field.startswith("adapter_") for field, _, adapters in segments)
    assert np.allclose(comparison.segment_bytes.sum(axis=0), per[-1])
    assert np.all(comparison.segment_bytes >= 0)
    # the caption's claims: LoRA's frozen 16-bit weights alone cost 2 bytes per parameter,
    # QLoRA's total is below 1
    caption = FIGURES["memory_comparison"].caption
    assert numbers.value("LoraWeightBytes") == pytest.approx(2)
    assert numbers.value("LoraBytesPerParam") > 2 and "keep LoRA above 2 bytes" in caption
    assert numbers.value("QloraBytesPerParam") < 1 and "below 1" in caption
    assert numbers.value("LoraAdapterBytes") == pytest.approx(numbers.value("QloraAdapterBytes"))
    assert " B " not in caption and "B/param" not in caption
    # every field of a breakdown is in one of the parts, once (the total aside)
    fields = [f for _, parts in fine_tuning.PER_PARAMETER_PARTS[:-1] for f in parts]
    assert sorted(fields) == sorted(set(memory.MEMORY_COMPONENTS) - {"activations"})
    assert per[comparison.parts.index("quantization constants")].tolist()[:2] == [0, 0]
    assert numbers.value("QloraSevenConstantsGB") == pytest.approx(
        memory.bytes_to_gb(seven["QLoRA"].quantization_constants))
    for key, method in zip(("Full", "Lora", "Qlora"), memory.METHODS, strict=True):
        assert numbers.value(f"{key}SevenGB") == pytest.approx(seven[method].total_gb)
        assert numbers.value(f"{key}BytesPerParam") == pytest.approx(seven[method].total / n)


def test_forgetting_figure_reports_the_measured_accuracies_of_every_seed():
    run = recorded.load("forgetting")
    forgetting = FIGURES.result("catastrophic_forgetting")
    numbers = forgetting.numbers
    caption = FIGURES["catastrophic_forgetting"].caption
    assert len(run.seeds) == forgetting.seeds == numbers.value("ForgettingSeeds") >= 3
    assert f"mean of {len(run.seeds)} seeds" in caption
    k_ewc = int(np.flatnonzero(run.lambdas == run.lam)[0])
    k_plain = int(np.flatnonzero(run.lambdas == 0)[0])
    plain_a, ewc_a = 100 * run.test_acc_a[:, k_plain, -1], 100 * run.test_acc_a[:, k_ewc, -1]
    plain_b, ewc_b = 100 * run.test_acc_b[:, k_plain, -1], 100 * run.test_acc_b[:, k_ewc, -1]
    assert forgetting.plain.accuracy_a.shape == (len(run.seeds), len(run.steps_b))
    assert np.allclose(forgetting.plain.accuracy_a[:, -1], plain_a)
    assert numbers.value("PlainAccA") == pytest.approx(plain_a.mean())
    assert numbers.value("EwcAccA") == pytest.approx(ewc_a.mean())
    assert numbers.value("PlainAccAMin") == plain_a.min()
    assert numbers.value("PlainAccAMax") == plain_a.max()
    assert numbers.value("EwcAccAMin") == ewc_a.min() and numbers.value("EwcAccAMax") == ewc_a.max()
    # "plain SGD on task B loses much of A"
    assert numbers.value("TaskAAcc") - numbers.value("PlainAccA") > 30
    # "with EWC's penalty every seed keeps more of A than any seed without it"
    assert ewc_a.min() > plain_a.max()
    # "at a small cost on B": B is learned, a few points below plain SGD's B, which is drawn
    assert numbers.value("PlainAccB") == pytest.approx(plain_b.mean())
    assert numbers.value("EwcAccB") == pytest.approx(ewc_b.mean())
    assert 0 < plain_b.mean() - ewc_b.mean() < 10 and np.all(ewc_b > 85)
    assert numbers.value("EwcLambda") == run.lam
    # (a) task B before training on it: chance, one class in n_classes
    chance = 100 / experiments.FORGETTING_DEFAULTS["n_classes"]
    assert abs(numbers.value("TaskAAccBeforeB") - chance) < 2
    assert numbers.value("TaskAAccBeforeB") == pytest.approx(100 * run.phase_a_acc_b[:, -1].mean())
    # the figure's lambda was chosen on validation accuracy, averaged over the seeds
    score = ((run.val_acc_a + run.val_acc_b) / 2).mean(axis=0)
    assert run.lam == run.lambdas[1:][np.argmax(score[1:])] and run.lambdas[0] == 0


def test_forgetting_figure_draws_phase_a_once():
    """Training on A is one phase, the same whatever follows: (a) draws it once; (b) and (c)
    start where it ends, each seed at its own end-of-A accuracies, for every lambda."""
    run = recorded.load("forgetting")
    forgetting = FIGURES.result("catastrophic_forgetting")
    caption = FIGURES["catastrophic_forgetting"].caption
    task_a = forgetting.task_a
    assert task_a.steps.tolist() == run.steps_a.tolist() and task_a.steps[-1] == 300
    assert np.array_equal(task_a.accuracy_a, 100 * run.phase_a_acc_a)
    for panel in (forgetting.plain, forgetting.ewc):
        assert panel.steps[0] == task_a.steps[-1] == forgetting.switch_step
        assert np.array_equal(panel.accuracy_a[:, 0], task_a.accuracy_a[:, -1])
        assert np.array_equal(panel.accuracy_b[:, 0], task_a.accuracy_b[:, -1])
    assert np.array_equal(run.test_acc_a[:, :, 0], np.repeat(run.phase_a_acc_a[:, -1:],
                                                              len(run.lambdas), axis=1))
    assert forgetting.plain.lam == 0 and forgetting.ewc.lam == run.lam
    assert "(a) training on task A, then on task B (b) with plain SGD" in caption
    assert "or (c) with EWC's penalty" in caption


def test_fisher_caption_states_the_computed_numbers():
    fisher = FIGURES.result("fisher_information_matrix")
    numbers = fisher.numbers
    caption = FIGURES["fisher_information_matrix"].caption
    info = recorded.load("fisher_information")
    assert fisher.seeds == len(info.seeds) == numbers.value("FisherSeeds") >= 3
    assert f"({len(info.seeds)} seeds)" in caption
    # (b) "half the total sits in 13.5 % of the parameters (median; 11.9 to 14.4 %)"
    top = (100 * info.top_fraction_for_half_mass).tolist()
    assert numbers.value("FisherTopShare") == pytest.approx(np.median(top))
    assert numbers.value("FisherTopShareMin") == min(top)
    assert numbers.value("FisherTopShareMax") == max(top)
    assert (rf"half the total sits in {numbers['FisherTopShare']}\,\% of the parameters "
            rf"(median; {numbers['FisherTopShareMin']} to {numbers['FisherTopShareMax']}\,\%)"
            ) in caption
    cfg = experiments.FORGETTING_DEFAULTS  # the forgetting experiment's network
    sizes = [cfg["d_in"], *cfg["hidden"], cfg["n_classes"]]
    assert numbers.value("FisherParams") == info.n_params == sum(
        (a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert np.allclose(fisher.mass_percent[:, -1], 100)
    for mass, share in zip(fisher.mass_percent, fisher.top_share_percent, strict=True):
        half = np.searchsorted(mass, 50)
        assert fisher.params_percent[half] == pytest.approx(share)
    # (a) "a weight's F_ii is set mainly by the hidden unit it feeds (74 to 87 % of the
    # variance of log F_ii)": in every seed, the unit explains most, the input little
    assert (rf"the unit explains {numbers['FisherFirstLayerUnitShare']}\,\% of the variance "
            r"of $\log F_{ii}$") in caption
    assert (rf"over the seeds, the unit {numbers['FisherUnitShareMin']} to "
            rf"{numbers['FisherUnitShareMax']}\,\%") in caption
    # "graded", not "anchored or free": the units' geometric means differ by a moderate
    # factor (computed on the panel's seed), not by orders of magnitude
    means = fisher.log_first_layer.mean(axis=1)
    assert fisher.unit_factor == pytest.approx(10 ** (means[0] - means[-1]))
    assert 2 < fisher.unit_factor < 20 and "anchored or free" not in caption
    assert f"up to a factor of {numbers['FisherUnitFactor']}" in caption
    assert np.all(fisher.unit_share_percent > 50)
    assert np.all(fisher.unit_share_percent > 5 * fisher.input_share_percent)
    log_f = fisher.log_first_layer  # seed 0's units sorted by their mean, highest first
    assert np.all(np.diff(log_f.mean(axis=1)) <= 0)
    assert sorted(fisher.unit_order.tolist()) == list(range(log_f.shape[0]))
    assert np.allclose(np.sort(log_f.ravel()), np.sort(np.log10(info.first_layer_W[0]).ravel()))
    assert numbers.value("FisherFirstLayerUnitShare") == pytest.approx(
        fisher.unit_share_percent[0])


def test_hyperparameter_table_cites_every_cell():
    table = FIGURES.result("hyperparameter_recommendations")
    assert len(table.rows) == len(hyperparameters.HYPERPARAMETERS)
    assert len(table.sources) == len(hyperparameters.SOURCES)
    numbers, marks = set(), []
    for _, cells in table.rows:
        assert len(cells) == len(table.method_labels) == 3
        for cell in cells:
            assert (cell.source is not None) == cell.applicable
            # the source in brackets, then the footnote mark: never a superscript after a
            # number, where it would read as a power
            assert cell.full_tex.startswith(cell.tex)
            if cell.mark:
                assert cell.full_tex.endswith(rf"]\textsuperscript{{{cell.mark}}}")
                marks.append(cell.mark)
            numbers.add(cell.source)
    assert numbers - {None} == set(range(1, len(table.sources) + 1))
    assert marks == list(fine_tuning.NOTE_MARKS[:len(table.notes)])
    assert [mark for mark, _ in table.notes] == marks
    assert "bracketed numbers name the source" in fine_tuning.HYPERPARAMETER_TABLE_CAPTION


def test_hyperparameter_cells_are_set_as_a_reader_reads_them():
    """Numbers as $2\times10^{-5}$, BERT's grid as a set, "not applicable" spelled out."""
    table = FIGURES.result("hyperparameter_recommendations")
    rows = {name: cells for name, cells in table.rows}
    full, lora, qlora = rows["Learning rate"]
    assert full.tex == r"$\{2,\,3,\,5\}\times10^{-5}$"
    assert lora.tex == qlora.tex == r"$2\times10^{-4}$"
    assert rows["Batch size"][0].tex == r"$\{16,\,32\}$"
    assert rows["Training length"][2].tex == "1,875 steps"
    assert rows["Warm-up"][0].tex == r"10\,\% of the steps"
    assert rows[r"LoRA rank $r$"][0].tex == "not applicable"
    assert rows["Trained weights"][1].tex == "adapters on $W_q$, $W_v$"
    notes = dict(table.notes)
    assert notes[qlora.mark] == r"$1\times10^{-4}$ for 33B and 65B (Sec.\ 5.1 halves the rate)."
    for _, cells in table.rows:
        for cell in cells:
            assert "n/a" not in cell.tex and "wu" not in cell.tex.split()
            assert "/" not in cell.tex and "e-" not in cell.tex


def test_hyperparameter_figure_relates_the_recipes_by_the_published_values():
    """The figure shows what the table cannot: how the recipes relate, each row a ratio of two
    of the table's values (with their sources), on one log axis of ratios."""
    table = FIGURES.result("hyperparameter_recommendations")
    hp = hyperparameters
    relations = {r.key: r for r in table.relations}
    expected = {  # by hand, from the papers' values (published.hyperparameters)
        "ScalingLora": (32 / 4,),                        # LoRA, Table 11: alpha 32, r 4
        "ScalingQlora": (16 / 64,),                      # QLoRA, App. B: alpha 16, r 64
        "ScalingQloraOverLora": ((16 / 64) / (32 / 4),),
        "BatchLoraOverFull": (8 / 32, 8 / 16),           # BERT's grid {16, 32}: two ratios
        "BatchQloraOverFull": (16 / 32, 16 / 16),
        "ClipQloraOverFull": (0.3 / 1.0,),
    }
    assert list(relations) == list(expected)
    for key, ratios in expected.items():
        assert relations[key].ratios == pytest.approx(ratios), key
    assert relations["ScalingLora"].ratios == (hp.LORA_ALPHA / hp.LORA_RANK,) == (8,)
    assert relations["ScalingQlora"].ratios == (hp.QLORA_ALPHA / hp.QLORA_RANK,) == (0.25,)
    assert relations["ClipQloraOverFull"].ratios == (
        hp.QLORA_MAX_GRAD_NORM / hp.BERT_MAX_GRAD_NORM,)
    # each row names the two values it relates with the table's source numbers, and its ratios
    assert relations["ScalingLora"].relates == "32 [2] / 4 [2] = 8"
    assert relations["ScalingQlora"].relates == "16 [3] / 64 [3] = 0.25"
    assert relations["ScalingQloraOverLora"].relates == "0.25 / 8 = 1/32"
    assert relations["BatchLoraOverFull"].relates == r"8 [2] / $\{16, 32\}$ [1] = 0.25, 0.5"
    assert relations["BatchQloraOverFull"].relates == r"16 [4] / $\{16, 32\}$ [1] = 0.5, 1"
    assert relations["ClipQloraOverFull"].relates == "0.3 [3] / 1 [5] = 0.3"
    # ... and those numbers are the table's: each published value is its cell's, with the
    # cell's source
    rows = {row.name: row for row in hp.HYPERPARAMETERS}
    for name, points in hp.POINTS.items():
        for point in points:
            cell = rows[name].cell(point.regime)
            assert point.value in cell.values and point.source == cell.source
        for regime in hp.REGIMES:
            cell = rows[name].cell(regime)
            assert sorted(p.value for p in points if p.regime == regime) == sorted(cell.values)
    cells = {(name, regime): cell for name, row_cells in table.rows
             for regime, cell in zip(table.methods, row_cells, strict=True)}
    assert cells[(r"LoRA scaling $\alpha$", "lora")].full_tex == "32~[2]"
    assert cells[(r"LoRA rank $r$", "lora")].full_tex == "4~[2]"
    assert cells[("Batch size", "qlora")].full_tex.startswith("16~[4]")
    assert cells[("Batch size", "full")].full_tex == r"$\{16,\,32\}$~[1]"
    assert cells[("Max. gradient norm", "full")].full_tex == "1~[5]"
    # the learning rates are learning_rate_comparison's: not related again here
    assert not any("learning" in r.name.lower() for r in table.relations)
    # one axis: every ratio inside, labelled at the powers of two, no empty octave at its ends
    ratios = [v for r in table.relations for v in r.ratios]
    low, high = table.ratio_limits
    assert low < min(ratios) < 2 * low and high / 2 < max(ratios) < high
    assert table.ratio_ticks[0] == min(ratios) and table.ratio_ticks[-1] == max(ratios)
    assert np.allclose(np.diff(np.log2(table.ratio_ticks)), 1)
    assert table.ratio_tick_labels[0] == "1/32" and "1" in table.ratio_tick_labels
    for relation in table.relations:
        assert relation.ratios == tuple(sorted(relation.ratios))
        assert relation.method in ("lora", "qlora")


def test_hyperparameter_ratios_are_exported_and_the_caption_states_them():
    table = FIGURES.result("hyperparameter_recommendations")
    caption = FIGURES["hyperparameter_recommendations"].caption
    numbers = table.numbers
    assert numbers["ScalingLora"] == "8" and numbers["ScalingQlora"] == "0.25"
    assert numbers["ScalingLoraOverQlora"] == "32"
    assert numbers.value("ScalingQloraOverLora") == pytest.approx(1 / 32)
    assert numbers["BatchLoraOverFullMin"] == "0.25" and numbers["BatchLoraOverFullMax"] == "0.5"
    assert numbers["BatchQloraOverFullMin"] == "0.5" and numbers["BatchQloraOverFullMax"] == "1"
    assert numbers["ClipQloraOverFull"] == "0.3"
    # "32 times smaller (16 times the rank, half the alpha)": the two ratios make the third
    assert numbers.value("RankRatio") == 16 and numbers.value("AlphaRatio") == 2
    assert numbers.value("ScalingLoraOverQlora") == (numbers.value("RankRatio")
                                                     * numbers.value("AlphaRatio"))
    assert ("is 32 times smaller in QLoRA's recipe (16 times the rank, half the $\\alpha$)"
            in caption)
    assert "batches are 0.25 to 1 times BERT's" in caption
    assert "QLoRA clips at 0.3 times its norm (LoRA does not clip)" in caption
    clipping = {row.name: row for row in hyperparameters.HYPERPARAMETERS}["Max. gradient norm"]
    assert clipping.lora.text == "no clipping"
    # the table keeps the raw values; the caption points to it and to the sources' numbers
    assert "the table of hyperparameters, [n] their sources" in caption
    assert "times higher" not in caption and "AdapterOverBertMin" not in numbers.keys()
    # the numbers of the earlier figure, still exported for text that quotes them
    assert numbers.value("BatchMin") == 8 and numbers.value("BatchMax") == 32
    assert numbers.value("ClipRatio") == pytest.approx(1 / 0.3)


def test_hyperparameter_table_is_also_a_booktabs_table():
    table = FIGURES.result("hyperparameter_recommendations")
    tex = FIGURES.extra_files()["tables.tex"]
    assert "\\toprule" in tex and "\\bottomrule" in tex
    assert "\\label{tab:fine_tuning:hyperparameter_recommendations}" in tex
    assert f"\\caption{{{fine_tuning.HYPERPARAMETER_TABLE_CAPTION}}}" in tex
    lines = [line.strip() for line in tex.splitlines()]
    header = "Setting & " + " & ".join(table.method_labels) + r" \\"
    assert header in lines
    for name, cells in table.rows:
        assert " & ".join([name, *(cell.full_tex for cell in cells)]) + r" \\" in lines, name
    # the notes: one left-aligned block below the tabular, exactly as wide as it
    block = tex[tex.index("\\end{tabular}"):]
    assert "\\begin{minipage}{\\wd0}\\footnotesize\\raggedright" in block
    assert "\\sbox0{\\begin{tabular}" in tex and "\\smallskip\\footnotesize" not in tex
    for mark, note in table.notes:
        assert rf"\textsuperscript{{{mark}}}\,{note}" in block
    for i, source in enumerate(table.sources, 1):
        assert f"[{i}]~{fine_tuning._tex_text(source)}" in block
    committed = (ROOT / "images" / "fine_tuning" / "tables.tex").read_text()
    assert committed == tex


def test_tex_numbers_and_sets():
    assert fine_tuning._tex_number(2e-5) == r"$2\times10^{-5}$"
    assert fine_tuning._tex_number(0.01) == "0.01" and fine_tuning._tex_number(1875) == "1,875"
    assert fine_tuning._tex_values((2e-5, 3e-5, 5e-5)) == r"$\{2,\,3,\,5\}\times10^{-5}$"
    assert fine_tuning._tex_values((1e-5, 2e-4)) == r"$\{1\times10^{-5},\,2\times10^{-4}\}$"
    assert fine_tuning._tex_values((16, 1875)) == r"$\{16,\,1{,}875\}$"
    assert fine_tuning._tex_text("10 % of Sec. 5") == r"10\,\% of Sec.\ 5"
    with pytest.raises(ValueError):
        fine_tuning._tex_text("unbalanced $x")


