"""The LoRA topic: every caption's claim checked on the result behind the figure (nothing is
drawn here; layout, colours and PDFs are checked by tests/test_figures.py)."""
from __future__ import annotations

import numpy as np
import pytest

import lora
from conftest import DEFAULT_WIDTH
from figkit import latex, registry, style
from models import lora_mlp
from numerics import memory
from numerics.lora import costs, experiments
from published import lora as published

FIGURES = lora.FIGURES


def test_every_figure_has_a_result_and_numbers_without_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("a result function built a Figure")

    monkeypatch.setattr(registry, "Figure", no_figure)
    for spec in FIGURES.specs:
        assert spec.result is not None, spec.name
        assert spec.result.__name__ == f"{spec.name}_result"
        assert getattr(lora, f"{spec.name}_result") is spec.result
        numbers = FIGURES.numbers(spec.name)
        assert len(numbers) > 0, spec.name
        assert FIGURES.result(spec.name).numbers is numbers


def test_architecture_counts_are_the_layers():
    numbers = FIGURES.numbers("lora_architecture")
    d, k, r = lora.LAYER.d_out, lora.LAYER.d_in, lora.RANK
    assert (d, k) == (4096, 4096)  # LLaMA-7B q_proj
    assert numbers.value("AParams") == r * k and numbers.value("BParams") == d * r
    assert numbers.value("AdapterShare") == pytest.approx(100 * r * (d + k) / (d * k))


def test_matrix_decomposition_savings():
    numbers = FIGURES.numbers("matrix_decomposition")
    assert numbers.value("SavingRankEight") == pytest.approx(4096 * 4096 / (8 * 8192))  # 256
    assert numbers.value("SavingRankSixtyFour") == pytest.approx(32)
    factors = FIGURES.result("matrix_decomposition")
    # "the update has d x k entries, its factors only r(d + k)", at the rank of the caption
    assert f"$r = {factors.scale_rank}$" in FIGURES["matrix_decomposition"].caption
    assert factors.update_entries == 4096 * 4096
    assert factors.factor_entries == 64 * (4096 + 4096) < factors.update_entries
    # "how many times fewer that is at each rank": every rank of the axis has its label
    np.testing.assert_allclose(factors.saving, 4096 * 4096 / (factors.ranks * 8192))
    assert len(factors.saving_labels) == len(factors.ranks)
    assert factors.saving_labels == tuple(f"{v:,.0f}" for v in factors.saving)
    assert np.all(factors.saving > 1)
    # "for the wider matrices of the MLP, which save more"
    assert factors.mlp_shape == (11008, 4096)
    np.testing.assert_allclose(factors.mlp_saving, 11008 * 4096 / (factors.ranks * 15104))
    assert np.all(factors.mlp_saving > factors.saving)


def test_training_memory_activations_are_the_same_for_every_setup():
    breakdown = FIGURES.result("training_memory_breakdown")
    assert breakdown.totals[0] > breakdown.totals[2] > breakdown.totals[1]
    np.testing.assert_allclose(
        breakdown.totals, sum(breakdown.segments.values()) + breakdown.activations_gb)
    np.testing.assert_allclose(breakdown.totals, breakdown.model_states_gb
                               + breakdown.activations_gb)
    # "which LoRA needs as much as full fine-tuning": one activation term for every setup, and
    # not inside the breakdowns (model states only, as in every chapter)
    assert all(b.activations == 0 for b in breakdown.breakdowns)
    caption = FIGURES["training_memory_breakdown"].caption
    assert "at 16 bytes" in caption and "2,048-token" in caption


def test_training_memory_reconciles_with_the_full_fine_tuning_chapter():
    """The full fine-tuning row reads "107.8 GB model states + 1.8 GB activations", the model
    states fine_tuning/memory_comparison shows; the r = 8 adapters are named: 0.07 GB."""
    numbers = FIGURES.numbers("training_memory_breakdown")
    assert numbers["FullStatesGB"] == "107.8" and numbers["ActivationGB"] == "1.8"
    assert numbers["FullTotalGB"] == "109.6"
    full = memory.compare_methods((lora.MODEL,), 64, memory.ALL_LINEAR)[lora.MODEL.name][
        "full fine-tuning"]
    assert numbers.value("FullStatesGB") == pytest.approx(full.total_gb)
    breakdown = FIGURES.result("training_memory_breakdown")
    qv = breakdown.breakdowns[1]
    adapters = qv.adapter_weights + qv.adapter_gradients + qv.adapter_optimizer_states
    assert breakdown.adapters_gb[1] == pytest.approx(adapters / memory.GB)
    assert numbers["LoraAdaptersGB"] == "0.07"
    # a hairline: under 1 % of the row's bar, hence the annotation
    assert breakdown.adapters_gb[1] < 0.01 * breakdown.totals[1]
    # the r = 64 adapters, named by component (their gradients a thin sliver)
    every = breakdown.breakdowns[2]
    parts = [numbers.value(f"LoraAllAdapter{key}GB") for key in (
        "Weights", "Gradients", "OptimizerStates")]
    assert parts == pytest.approx([every.adapter_weights / memory.GB,
                                   every.adapter_gradients / memory.GB,
                                   every.adapter_optimizer_states / memory.GB])
    assert sum(parts) == pytest.approx(numbers.value("LoraAllAdaptersGB"))


def test_training_memory_uses_the_books_one_accounting():
    breakdown = FIGURES.result("training_memory_breakdown")
    recipe = memory.MIXED_PRECISION_ADAM
    assert recipe.bytes_per_param == 16
    full, lora_qv, lora_all = breakdown.breakdowns
    assert {b.accounting for b in breakdown.breakdowns} == {recipe.name}
    assert full.total == memory.parameter_count(lora.MODEL) * 16
    for b, rank, targets in ((lora_qv, 8, ("q", "v")), (lora_all, 64, memory.ALL_LINEAR)):
        n = memory.lora_parameters(lora.MODEL, rank, targets)
        assert b.adapter_weights + b.adapter_gradients + b.adapter_optimizer_states == n * 16
    # the same totals as numerics.memory.compare_methods gives every chapter
    table = memory.compare_methods((lora.MODEL,), 64, memory.ALL_LINEAR)[lora.MODEL.name]
    assert full.total == table["full fine-tuning"].total
    assert lora_all.total == table["LoRA"].total
    # the book's three GPUs, each at its capacity in GB and with its label
    assert lora.MEMORY_GPUS == memory.BOOK_GPUS
    assert breakdown.gpus == tuple((memory.gpu_capacity_gb(g), memory.gpu_label(g))
                                   for g in memory.BOOK_GPUS)
    # the capacity lines tell a student what fits: LoRA on a 24 GiB card, full fine-tuning on
    # no single A100 80GB
    (small, _), _, (large, _) = breakdown.gpus
    assert breakdown.totals[1] < small and breakdown.totals[2] < small
    assert breakdown.totals[0] > large
    assert lora.stacked_gpu_label("RTX 4090, 24 GiB = 25.8 GB") == "RTX 4090\n24 GiB\n= 25.8 GB"


def test_module_selection_budget_and_best_choice():
    numbers = FIGURES.numbers("module_selection")
    assert numbers.value("BudgetParams") == 18_874_368  # "the same 18M-parameter budget"
    assert (numbers.value("BestWikiSql"), numbers.value("BestMultiNli")) == (73.7, 91.7)
    assert numbers.value("QvParamsSevenB") == memory.lora_parameters(memory.LLAMA_7B, 8, ("q", "v"))
    selection = FIGURES.result("module_selection")
    assert selection.table == published.MODULE_SELECTION
    assert "18M-parameter budget" in FIGURES["module_selection"].caption


def test_module_selection_caption_claims_survive_the_seed_spread():
    """"on WikiSQL every choice with W_v or W_o beats W_q or W_k alone by at least 2.6 points,
    3.7 s.d. of a difference of two runs; on MultiNLI all lie within one point"."""
    selection = FIGURES.result("module_selection")
    with_v_or_o = [row.wikisql for row in selection.table if {"v", "o"} & set(row.weight_types)]
    alone = [row.wikisql for row in selection.table if row.weight_types in (("q",), ("k",))]
    assert len(with_v_or_o) == 4 and len(alone) == 2
    gap = min(with_v_or_o) - max(alone)
    assert gap == pytest.approx(73.0 - 70.4) == selection.wikisql_gap
    assert selection.wikisql_std == 0.5 and selection.multinli_std == 0.1
    # 2.6 points are 5.2 s.d. of one run, but 3.7 s.d. of the difference of two runs
    assert selection.gap_single_sds == pytest.approx(5.2)
    assert selection.gap_difference_sds == pytest.approx(2.6 / (0.5 * np.sqrt(2)))
    numbers = FIGURES.numbers("module_selection")
    assert (numbers["WikiSqlGap"], numbers["WikiSqlGapDifferenceSds"]) == ("2.6", "3.7")
    assert numbers["WikiSqlGapSingleSds"] == "5.2"
    assert 3 < selection.gap_difference_sds < 4 < selection.gap_single_sds
    multinli = [row.multinli for row in selection.table]
    assert max(multinli) - min(multinli) < 1
    caption = FIGURES["module_selection"].caption
    assert "at least 2.6 points, 3.7 s.d. of a difference of two runs" in caption
    assert "within one point" in caption and "bars: per-task seed s.d." in caption


def test_module_selection_panels_b_and_c_span_the_same_width():
    """"equal axis widths": +-0.5 and +-0.1 are drawn at one scale, and each axis names its
    task's s.d. (a test of the drawing: the limits are the drawing's)."""
    selection = FIGURES.result("module_selection")
    with style.applied():
        fig = FIGURES.build("module_selection", DEFAULT_WIDTH)
    _, ax_b, ax_c = fig.axes
    spans = [np.ptp(ax.get_xlim()) for ax in (ax_b, ax_c)]
    assert spans == pytest.approx([selection.accuracy_span] * 2)
    for ax, values, std in ((ax_b, [r.wikisql for r in selection.table], 0.5),
                            (ax_c, [r.multinli for r in selection.table], 0.1)):
        low, high = ax.get_xlim()
        assert low < min(values) - std and max(values) + std < high
        assert f"bars: $\\pm${std:g}, seed s.d." in ax.get_xlabel()
    assert "equal axis widths" in FIGURES["module_selection"].caption


def test_variants_count_each_papers_formula_on_one_model_and_rank():
    comparison = FIGURES.result("lora_variants")
    counts = dict(zip((v.name for v in comparison.variants), comparison.trainable, strict=True))
    assert len(counts) == 6 and comparison.rank == 64 and comparison.targets == memory.ALL_LINEAR
    layers = memory.lora_target_layers(lora.MODEL, memory.ALL_LINEAR)
    blocks = lora.MODEL.n_layers
    outputs = sum(layer.d_out for layer in layers)
    widths = sum(layer.d_in + layer.d_out for layer in layers)
    assert counts["LoRA"] == blocks * 64 * widths == 159_907_840
    assert counts["QLoRA"] == counts["LoRA+"] == counts["LoRA"]     # the same adapters
    assert counts["DoRA"] == counts["LoRA"] + blocks * outputs      # one magnitude per output
    assert counts["AdaLoRA"] == blocks * (96 * widths + 96 * len(layers))  # starts at 1.5 r
    assert counts["VeRA"] == blocks * (outputs + 64 * len(layers))  # two vectors per matrix
    assert comparison.allocated_ranks == (64, 64, 64, 96, 64, 64)
    numbers = FIGURES.numbers("lora_variants")
    assert numbers["ParamsLoRA"] == "159.9" and numbers["ParamsVeRA"] == "1.374"
    assert numbers["ParamsDoRA"] != numbers["ParamsLoRA"]           # the labels tell them apart
    # each count also as a share of LoRA's
    shares = dict(zip((v.name for v in comparison.variants), comparison.share_labels,
                      strict=True))
    assert (shares["QLoRA"], shares["DoRA"], shares["AdaLoRA"], shares["VeRA"]) == (
        "100.0", "100.9", "150.0", "0.86")


def test_variants_memory_is_the_books_accounting_and_the_captions_claim():
    """"the model states they add to LoRA's or save at 16 bytes per trained parameter on the same
    frozen base": each variant's trained parameters at 16 bytes minus LoRA's, no totals (the
    memory figures draw those)."""
    comparison = FIGURES.result("lora_variants")
    names = [v.name for v in comparison.variants]
    by_name = dict(zip(names, comparison.breakdowns, strict=True))
    recipe = memory.MIXED_PRECISION_ADAM
    assert by_name["LoRA"] == memory.lora_memory(lora.MODEL, 64, memory.ALL_LINEAR,
                                                 adapter_recipe=recipe)
    assert by_name["QLoRA"] == memory.qlora_memory(lora.MODEL, 64, memory.ALL_LINEAR,
                                                   adapter_recipe=recipe)
    base = memory.parameter_count(lora.MODEL) * memory.FP16_BYTES
    lora_count = comparison.trainable[names.index("LoRA")]
    for name, count, b, gb in zip(names, comparison.trainable, comparison.breakdowns,
                                  comparison.over_lora_gb, strict=True):
        adapters = b.adapter_weights + b.adapter_gradients + b.adapter_optimizer_states
        assert adapters == count * 16 and b.accounting == recipe.name
        assert (b.weights == base) == (name != "QLoRA")
        assert gb == pytest.approx((count - lora_count) * 16 / memory.GB)
    over = dict(zip(names, comparison.over_lora_labels, strict=True))
    assert over == {"LoRA": "+0.00", "QLoRA": "+0.00", "DoRA": "+0.02", "AdaLoRA": "+1.28",
                    "LoRA+": "+0.00", "VeRA": "$-$2.54"}
    assert FIGURES.numbers("lora_variants").value("StatesVeRAOverLoraGB") == pytest.approx(
        -2.536, abs=1e-3)
    caption = FIGURES["lora_variants"].caption
    assert "at 16 bytes per trained parameter on the same frozen base" in caption
    # the totals of the memory figures are no longer restated here
    assert not hasattr(comparison, "states_gb")


def test_variants_dots_are_inside_the_axes():
    """VeRA's 1.4M sits next to 0 on a 0-400M axis: the axis starts left of it, so that no dot
    is cut by the y axis (the one test here that draws: the limits are the drawing's)."""
    with style.applied():
        fig = FIGURES.build("lora_variants", DEFAULT_WIDTH)
        fig.canvas.draw()
        (ax,) = fig.axes
        (dots,) = [line for line in ax.lines if line.get_marker() not in (None, "None", "")]
        radius = dots.get_markersize() / 72 * fig.dpi / 2 + dots.get_markeredgewidth()
        points = ax.transData.transform(np.column_stack(dots.get_data()))
        box = ax.get_window_extent()
        assert np.all(points[:, 0] - radius > box.x0), "a dot is cut by the y axis"
        assert np.all(points[:, 0] + radius < box.x1)
        assert ax.get_xlim()[0] < 0 < min(dots.get_xdata())
        assert min(dots.get_xdata()) == pytest.approx(1.374, abs=1e-3)  # VeRA


def test_variants_are_also_a_booktabs_table_from_the_same_result():
    comparison = FIGURES.result("lora_variants")
    tex = FIGURES.extra_files()["tables.tex"]
    assert tex.count("\\begin{table}") == 1 and "\\label{tab:lora:lora_variants}" in tex
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0]
    rows = [row for row in body.split("\\\\\n") if row.strip()]
    assert len(rows) == len(comparison.variants)
    for row, variant, label in zip(rows, comparison.variants, comparison.count_labels,
                                   strict=True):
        cells = [cell.strip() for cell in row.split(" & ")]
        assert cells[0] == latex.escape(variant.name)
        assert variant.citation in cells[1] and variant.arxiv in cells[1]
        assert variant.key_idea in cells[2]
        assert cells[3] == f"${variant.formula}$" and cells[4] == f"{label}M"
    assert "$r_0 = 96$" in tex      # the note on AdaLoRA's initial rank
    # the file the preview inputs is the one make figures writes
    written = lora.FIGURES.default_outdir / "tables.tex"
    assert written.read_text(encoding="utf-8") == tex


def test_inference_merged_lora_adds_nothing():
    cost = FIGURES.result("inference_speed_comparison")
    assert cost.extra_pct[0] == 0.0                            # "a merged LoRA adds nothing"
    assert cost.serial_layers == (0, 0, 32, 64)                 # LoRA runs beside W0
    assert FIGURES.numbers("inference_speed_comparison").value("LatencyWorstPct") == (
        pytest.approx(30.3, abs=0.05))                          # LoRA Table 1, AdapterH


def test_inference_compares_equal_weights_and_prints_every_trained_parameter():
    """(a) is like for like: LoRA r = 8 on W_q, W_v, AdapterL at bottleneck 16 and AdapterH at
    bottleneck 8 all hold 32 x 2 x 4096 x 8 = 4,194,304 weights in their matrices on LLaMA-7B;
    with the adapters' biases (and AdapterL's LayerNorms, LoRA Sec. 5.1) they train a little
    more, and the figure prints what each trains."""
    cost = FIGURES.result("inference_speed_comparison")
    d, layers = lora.MODEL.d_model, lora.MODEL.n_layers
    assert cost.keys == ("lora_merged", "lora_unmerged", "adapter_lin", "adapter_houlsby")
    assert cost.sizes == (8, 8, 16, 8)
    assert cost.matrix_weights == (4_194_304,) * 4 == (layers * 2 * 8 * (d + d),) * 4
    assert 1 * layers * 2 * d * 16 == 2 * layers * 2 * d * 8 == 4_194_304
    assert cost.trained == (4_194_304, 4_194_304,
                            layers * (2 * d * 16 + 16 + d) + 2 * layers * d,   # 4,588,032
                            2 * layers * (2 * d * 8 + 8 + d))                  # 4,456,960
    assert cost.trained_labels == ("4.19", "4.19", "4.59", "4.46")
    numbers = FIGURES.numbers("inference_speed_comparison")
    assert numbers["EqualWeights"] == "4,194,304"
    caption = FIGURES["inference_speed_comparison"].caption
    assert "at equal weights (4,194,304 in their matrices" in caption
    assert "bottleneck 16 for AdapterL, 8 for AdapterH; all they train under each name" in caption
    with pytest.raises(ValueError):             # no whole bottleneck holds LoRA r = 7's weights
        costs.equal_weight_bottleneck(lora.MODEL, "adapter_houlsby",
                                      memory.lora_parameters(lora.MODEL, 7, ("q", "v")) + 1)


def test_inference_caption_states_the_lesson():
    """"(a) each adds under 0.1 % operations per token ...; (b) yet GPT-2 medium's latency rose
    20.7 % and 30.3 % at batch 1 ..., as adapter layers run in sequence"; the whiskers are Table
    1's trial s.d. of adapter and baseline, combined."""
    cost = FIGURES.result("inference_speed_comparison")
    caption = FIGURES["inference_speed_comparison"].caption
    assert max(cost.extra_pct) < lora.EXTRA_PCT_BOUND == 0.1 < 1
    assert "under 0.1\\,\\% operations per token" in caption
    # at equal weights the unmerged LoRA branch and the adapters do about the same work
    assert max(cost.extra_pct[1:]) < 1.05 * min(cost.extra_pct[1:])
    assert cost.extra_labels == ("0.000", "0.067", "0.065", "0.067")
    batch = [s.batch_size for s in published.LATENCY_SETTINGS].index(1)
    base, lin, houlsby = published.INFERENCE_LATENCY
    assert cost.one_adapter_increase[batch] == pytest.approx(100 * (23.9 / 19.8 - 1))
    assert cost.two_adapter_increase[batch] == pytest.approx(100 * (25.8 / 19.8 - 1))
    assert (cost.increase_labels[0][batch], cost.increase_labels[1][batch]) == ("20.7", "30.3")
    assert "latency rose 20.7\\,\\% and 30.3\\,\\% at batch 1" in caption
    # the printed percentages are Table 1's own
    for row, labels in zip((lin, houlsby), cost.increase_labels, strict=True):
        assert labels == tuple(f"{v:.1f}" for v in row.increase_pct)
    # every other setting slows down less: batch 1 is the largest, 20-30 %
    assert all(20 <= v[batch] == max(v) <= 31 for v in (cost.one_adapter_increase,
                                                         cost.two_adapter_increase))
    assert "as adapter layers run in sequence" in caption
    assert cost.serial_layers[2:] == (32, 64) and cost.serial_layers[:2] == (0, 0)
    # whiskers: sqrt(s_m^2 + (m/b)^2 s_b^2) / b, e.g. AdapterH at batch 1
    assert cost.two_adapter_sd[batch] == pytest.approx(
        100 * np.hypot(2.2, 25.8 / 19.8 * 2.7) / 19.8)
    assert cost.one_adapter_sd[0] == pytest.approx(100 * np.hypot(1.0, 1482.0 / 1449.4 * 0.8)
                                                   / 1449.4)
    assert "whiskers: $\\pm 1$ s.d. of a trial" in caption


def test_rank_comparison_caption():
    comparison = FIGURES.result("rank_comparison")
    numbers = FIGURES.numbers("rank_comparison")
    assert numbers.value("ToyFullAccuracy") == pytest.approx(comparison.full_accuracy_pct)
    caption = FIGURES["rank_comparison"].caption
    # "5 seeds", "2,000 inputs to train on, 4,000 to test"
    seeds = comparison.seed_accuracy_pct.shape[1]
    assert seeds >= 3 and f"{seeds} seeds" in caption
    assert (comparison.n_train, comparison.n_test) == (2000, 4000)
    assert "2,000 inputs to train on, 4,000" in caption
    # alpha = r, so alpha / r = 1 at every rank; full fine-tuning is one deterministic run
    np.testing.assert_array_equal(comparison.alphas, comparison.toy_ranks)
    assert "$\\alpha = r$" in caption and "(one deterministic run)" in caption
    # "(a) held-out accuracy rises with the rank up to r = 4 and then levels off": every mean up
    # to r = 4 above the last, by more than the seeds' noise from r = 1 to r = 4; beyond it
    # the mean moves by less than the seeds' spread
    mean = comparison.mean_accuracy_pct
    up_to = comparison.toy_ranks <= 4
    assert "rises up to $r = 4$, then levels off" in caption
    assert np.all(np.diff(mean[up_to]) > 0)
    assert mean[up_to][-1] - mean[0] > 3
    assert comparison.seed_accuracy_pct[0].max() < comparison.seed_accuracy_pct[up_to][-1].min()
    four = int(np.flatnonzero(up_to)[-1])
    for i in np.flatnonzero(~up_to):
        assert abs(mean[i] - mean[four]) < np.ptp(comparison.seed_accuracy_pct[four])
    # "Above r = 2 the adapter of the 2 x 16 output layer adds parameters but no rank"
    assert comparison.output_rank_cap == 2
    assert "$\\Delta W_3$ has rank $\\leq 2$" in caption
    # "but stays below full fine-tuning": every seed of every rank
    assert comparison.seed_accuracy_pct.max() < comparison.full_accuracy_pct
    # "though every rank shown trains fewer parameters than its 450"
    assert comparison.full_params == 450
    assert f"all {comparison.full_params} parameters" in caption
    assert np.all(comparison.toy_trainable < comparison.full_params)
    assert comparison.base_accuracy_pct < mean.min()


def test_rank_comparison_training_loss_falls_with_the_rank_but_stays_above_full():
    """(b): "final training loss (median) falls with rank", above full fine-tuning's; (c):
    "medians, still falling"."""
    comparison = FIGURES.result("rank_comparison")
    assert np.all(np.diff(comparison.mean_train_loss) < 0)
    # (c) draws the median curves: they end lower the higher the rank, above full fine-tuning,
    # and are "still falling" at the last step (over the last quarter, every one by > 2 %)
    ends = comparison.median_curve[:, -1]
    assert np.all(np.diff(ends) < 0) and ends.min() > comparison.full_curve[-1]
    assert comparison.full_curve[-1] == comparison.full_train_loss
    assert comparison.last_quarter_drop_pct.min() > 2
    full_quarter = comparison.full_curve[-comparison.steps // 4 - 1]
    assert comparison.full_curve[-1] < 0.95 * full_quarter
    assert "still falling" in FIGURES["rank_comparison"].caption
    # beyond the seeds' noise from the lowest rank to the highest
    assert comparison.seed_train_loss[0].min() > comparison.seed_train_loss[-1].max()
    assert comparison.seed_train_loss.min() > 1.5 * comparison.full_train_loss
    assert FIGURES.numbers("rank_comparison")["ToyFullTrainLoss"] == (
        f"{comparison.full_train_loss:.3f}")


def test_rank_comparison_shows_every_rank_and_its_seed_spread():
    """(b) every seed's training loss after the last step at every rank, "seeds apart up to
    r = 3, then overlapping"; (c) the median curve of every rank."""
    comparison = FIGURES.result("rank_comparison")
    sweep = lora.toy_runs.load("rank_sweep")
    assert len(comparison.toy_ranks) == len(sweep.ranks) == 5
    assert comparison.median_curve.shape == (5, comparison.steps + 1)
    np.testing.assert_array_equal(comparison.seed_train_loss, sweep.train_curve[:, :, -1])
    np.testing.assert_array_equal(comparison.median_curve[:, -1],
                                  np.median(comparison.seed_train_loss, axis=1))
    low, high = comparison.seed_train_loss.min(axis=1), comparison.seed_train_loss.max(axis=1)
    overlap = high[1:] >= low[:-1]                 # rank i + 1's worst seed reaches rank i's best
    rank = comparison.toy_ranks
    np.testing.assert_array_equal(overlap, rank[:-1] >= 3)
    caption = FIGURES["rank_comparison"].caption
    assert "seeds apart up to $r = 3$, then overlapping" in caption
    # "(b) the final training loss (line: median) falls with the rank"
    assert np.all(np.diff(comparison.median_curve[:, -1]) < 0)
    assert "final training loss (median) falls with rank" in caption


def test_merging_swaps_tasks_and_restores_the_base():
    """(a) "the merged model does the adapter's task and unmerging restores the base's accuracy
    on both tasks"; (b) "the weights move far from W0 while an adapter is merged and come back
    to it within float64 rounding, and the merged model's outputs equal those with the adapter
    beside W0 to 1e-14"."""
    merging = FIGURES.result("adapter_merging")
    assert merging.stages == ("base", "sentiment merged", "sentiment unmerged", "topic merged",
                              "topic unmerged")
    base = merging.accuracy_pct[0]
    for i, stage in enumerate(merging.stages):
        if stage.endswith(" merged"):
            task = merging.tasks.index(stage.split()[0])
            assert merging.accuracy_pct[i, task] == 100 > base[task]
            assert merging.weight_change[i] > 0.5
        elif stage.endswith(" unmerged"):
            np.testing.assert_array_equal(merging.accuracy_pct[i], base)
            assert 0 < merging.weight_change[i] <= 4 * merging.float_epsilon
    assert merging.weight_change[0] == 0
    assert np.all(merging.merge_error < 1e-13)
    numbers = FIGURES.numbers("adapter_merging")
    assert numbers.value("MergeErrorMax") < 1e-13
    assert numbers.value("UnmergeErrorMax") <= 4 * np.finfo(float).eps
    swap = lora.toy_runs.load("adapter_swap")
    # the merged model computes what the model with the adapter beside W0 computes
    np.testing.assert_array_equal(swap.adapter_accuracy, swap.merged_accuracy)
    # "on the topic task the base is at chance, 50 %": both test labels are balanced
    assert merging.chance_pct == 50
    assert base[merging.tasks.index("topic")] == merging.chance_pct
    assert base[merging.tasks.index("sentiment")] > merging.chance_pct
    assert "the base is at chance, 50\\,\\%" in FIGURES["adapter_merging"].caption


def test_knowledge_change_caption():
    change = FIGURES.result("knowledge_change")
    assert change.loss[-1] < change.loss[0] / 100                 # "the loss falls"
    numbers = FIGURES.numbers("knowledge_change")
    assert numbers.value("DeltaRank") == change.adapter_rank    # "has rank r"
    assert change.layer == 1                                    # "of the second layer"
    assert numbers.value("KnowledgeTestAfter") > numbers.value("KnowledgeTestBefore")


def test_knowledge_change_empty_rows_are_the_dead_units():
    """"its empty rows belong to units that never fire (dead ReLUs)": the rows of Delta W_2 that
    stay zero are the hidden-2 units the base never fires on any sentence (model_overview's
    hollow dots)."""
    change = FIGURES.result("knowledge_change")
    base = lora.toy_runs.load("base_model")
    np.testing.assert_array_equal(change.dead_rows,
                                  np.flatnonzero(base.dead_on_sentences[change.layer]))
    assert list(change.dead_rows) == [6, 10, 13]
    assert FIGURES.numbers("knowledge_change")["DeadRows"] == "6, 10, 13"
    live = np.setdiff1d(np.arange(len(change.delta)), change.dead_rows)
    assert np.all(np.any(change.delta[live] != 0, axis=1))


def test_knowledge_change_dead_input_column_is_outlined_not_empty():
    """"the outlined column of a dead input is not empty: A_2 keeps its random start there,
    times 0" (that A keeps its start is tested on a training run in test_lora_numerics)."""
    change = FIGURES.result("knowledge_change")
    base = lora.toy_runs.load("base_model")
    np.testing.assert_array_equal(change.dead_cols,
                                  np.flatnonzero(base.dead_on_sentences[change.layer - 1]))
    assert list(change.dead_cols) == [12]
    assert FIGURES.numbers("knowledge_change")["DeadColumns"] == "12"
    assert np.all(change.delta[:, change.dead_cols][
        np.setdiff1d(np.arange(len(change.delta)), change.dead_rows)] != 0)
    assert ("the outlined column of a dead input is not empty: $A_2$ keeps its random start "
            "there, times 0") in FIGURES["knowledge_change"].caption


def test_knowledge_change_panel_b_shows_what_lora_taught():
    """Panel b: "the base model is right on the plain held-out sentences and wrong on the
    negated ones, and after fine-tuning it is right on both" -- every row carries a result."""
    rows = {(row.group, row.when): row for row in FIGURES.result("knowledge_change").rows}
    assert set(rows) == {(g, w) for g in lora.SENTENCE_GROUPS for w in ("before", "after")}
    plain, negated = len(rows["plain", "before"].correct_pct), len(
        rows["negated", "before"].correct_pct)
    assert (plain, negated) == (20, 12)                         # all 32 held-out sentences
    assert rows["plain", "before"].right == plain
    assert rows["negated", "before"].right == 0
    assert rows["plain", "after"].right == plain and rows["negated", "after"].right == negated
    for row in rows.values():
        assert row.right == np.sum(row.correct_pct > 50)
        assert len(set(np.round(row.offsets, 12))) == len(row.offsets)   # no dot hides another
    numbers = FIGURES.numbers("knowledge_change")
    assert numbers.value("RightNegatedBefore") == 0
    assert numbers.value("RightNegatedAfter") == numbers.value("SentencesNegatedAfter") == 12


def test_scaling_sweeps_only_ranks_that_are_low():
    """The sweep adapts the 16 x 16 hidden layer only, at ranks up to half its full rank, and
    never trains as many parameters as the base."""
    impact = FIGURES.result("scaling_factor_impact")
    assert impact.layer_shape == (16, 16)
    assert impact.ranks.max() <= min(impact.layer_shape) // 2
    np.testing.assert_array_equal(impact.trainable, impact.ranks * 32)
    assert impact.trainable.max() < lora.TOY_PARAMS
    assert impact.seeds >= 3 and impact.first_step_norm.shape[-1] == impact.seeds
    caption = FIGURES["scaling_factor_impact"].caption
    assert f"{impact.seeds} seeds" in caption and "16 $\\times$ 16 hidden layer only" in caption


def test_scaling_caption_claims_survive_the_seed_spread():
    impact = FIGURES.result("scaling_factor_impact")
    # (a) "the first update grows as alpha / sqrt(r)": fitted powers near -1/2 and +1/2
    assert impact.slopes[0] == pytest.approx(-0.5, abs=0.1)
    assert impact.slopes[1] == pytest.approx(0.5, abs=0.1)
    first = impact.median_first_step_norm
    assert np.all(np.diff(first[0]) < 0) and np.all(np.diff(first[1]) > 0)
    # (b) after EARLY_STEP steps, alpha fixed: "about the same at every rank"; alpha = r:
    # "every seed of a rank below alpha is behind every alpha-fixed seed of the same rank"
    assert ("every seed of a rank below $\\alpha$ is behind every $\\alpha$-fixed seed of the "
            "same rank") in FIGURES["scaling_factor_impact"].caption
    assert impact.early_step == 10 and "after 10 steps" in FIGURES["scaling_factor_impact"].caption
    early = impact.median_early_loss
    assert np.ptp(early[0]) < 0.1 < 0.3 < np.ptp(early[1])
    below = impact.ranks < impact.alpha_fixed
    assert below.sum() >= 3
    for i in np.flatnonzero(below):
        assert impact.early_loss[1, i].min() > impact.early_loss[0, i].max()
    # at r = alpha the two schemes are the same runs
    same = np.flatnonzero(impact.ranks == impact.alpha_fixed)
    np.testing.assert_array_equal(impact.early_loss[0, same], impact.early_loss[1, same])


def test_backward_caption_only_b_at_the_start():
    step = FIGURES.result("backward_pass")
    first = dict(zip(step.lora_groups, step.lora_norms_first, strict=True))
    assert all(first[g] == 0 for g in first if g[0] == "A")
    assert all(first[g] > 0 for g in first if g[0] == "B")
    assert all(n > 0 for n in step.full_norms)                  # every weight and bias
    assert all(n > 0 for n in step.lora_norms_later)            # "after 10 steps to A as well"
    assert step.later_steps == lora.toy_runs.LATER_STEPS == 10
    # "norms written on the bars": the smallest one too
    numbers = FIGURES.numbers("backward_pass")
    assert numbers["FullNormBThree"] == "0.017"
    assert numbers.value("FullNormBThree") == min(step.full_norms)


def test_forward_pass_terms_add_up_to_the_pre_activation():
    forward = FIGURES.result("forward_pass")
    trace = lora.toy_runs.load("forward_trace")
    for layer, traced in zip(forward.layers, trace.layers, strict=True):
        np.testing.assert_allclose(layer.base_path + layer.bias + layer.lora_path,
                                   layer.pre_activation, rtol=0, atol=1e-12)
        assert len(layer.names) == len(layer.units)              # every unit shown is named
        lora_path = traced.lora_path.ravel()
        if len(layer.units) < layer.width:                       # the largest LoRA paths
            assert len(layer.units) == lora.SHOWN_UNITS
            assert np.abs(lora_path[layer.units]).min() >= np.delete(
                np.abs(lora_path), layer.units).max()
    assert forward.layers[-1].names == ("negative", "positive")


def test_forward_pass_legend_is_inline_and_the_outputs_are_logits():
    """The legend writes (alpha/r) B A x inline (a stacked fraction prints at ~4 pt); (d) shows
    the logits the softmax turns into probabilities, on an axis with a tick beyond the bars."""
    labels = [label for _, label, _ in lora.FORWARD_TERMS]
    assert "LoRA path $(\\alpha/r)\\,BAx$" in labels
    assert not any("\\frac" in label for label in labels)
    forward = FIGURES.result("forward_pass")
    trace = lora.toy_runs.load("forward_trace")
    logits = forward.layers[-1].pre_activation
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(probs, trace.probs, atol=1e-12)     # they are the logits
    assert "logits that the softmax turns into probabilities" in FIGURES["forward_pass"].caption
    with style.applied():
        fig = FIGURES.build("forward_pass", DEFAULT_WIDTH)
    ax = fig.axes[len(forward.layers)]
    assert ax.get_xlabel() == "logit"
    layer = forward.layers[-1]
    ends = np.concatenate([np.cumsum([getattr(layer, f) for f, _, _ in lora.FORWARD_TERMS],
                                     axis=0).ravel(), [0.0]])
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] - 1e-9 <= t <= ax.get_xlim()[1]]
    assert min(ticks) <= ends.min() and max(ticks) >= ends.max()   # -5 below the -4.4 bar
    assert min(ticks) == pytest.approx(-5.0)


def test_spectrum_stops_at_each_rank_bound():
    """No zero padding is drawn as a singular value: each seed's values end at its live
    block's rank, and the axis at the largest of them."""
    spectra = lora.toy_runs.load("delta_w_spectrum")
    spectrum = FIGURES.result("delta_w_spectrum")
    live = spectra.live_rank
    assert spectrum.index[-1] == live.max() < 16
    for s, bound in enumerate(live):
        assert np.all(np.isfinite(spectrum.singular_values[s, :bound]))
        assert np.all(np.isnan(spectrum.singular_values[s, bound:]))
    assert spectrum.numbers["LiveRankLow"] == str(live.min())


def test_spectrum_compares_like_for_like():
    """Dead units are left out of the real updates and of the random matrices alike: both have
    as many zero singular values as the dead rows and columns remove."""
    spectra = lora.toy_runs.load("delta_w_spectrum")
    spectrum = FIGURES.result("delta_w_spectrum")
    assert len(spectra.seeds) >= 3
    for s, delta in enumerate(spectra.delta_w):
        rows, cols = spectra.live_rows[s], spectra.live_cols[s]
        assert not delta[~rows].any() and not delta[:, ~cols].any()
        live = min(rows.sum(), cols.sum())
        assert np.all(spectra.singular_values[s, live:] == 0)
        assert np.all(spectra.singular_values[s, :live] > 0)
        assert np.all(spectra.random_singular_values[s, :, live:] == 0)
        np.testing.assert_allclose(np.sum(spectra.random_singular_values[s] ** 2, axis=1),
                                   np.sum(delta ** 2))
    assert spectrum.dead_units.min() >= 1          # every base has a dead unit to leave out


def test_spectrum_caption_real_updates_are_more_concentrated():
    spectra = lora.toy_runs.load("delta_w_spectrum")
    spectrum = FIGURES.result("delta_w_spectrum")
    # "every real update concentrates its energy in fewer directions than the random ones"
    assert np.all(spectra.rank_90 < spectra.random_rank_90.min(axis=1))
    assert np.all(spectra.effective_rank < spectra.random_effective_rank.min(axis=1))
    # at every rank kept, each real update keeps at least the share its random draws keep
    assert np.all(spectra.energy >= spectra.random_energy - 1e-9)
    numbers = spectrum.numbers
    assert (numbers["RankNinetyRealLow"], numbers["RankNinetyRealHigh"]) == ("3", "4")
    # "but only about as concentrated as the input-shaped ones": each real update's rank for
    # 90 % lies inside the 5-95 % range of its input-shaped draws, and its effective rank
    # inside the range of theirs (far from the isotropic ones'); the inputs themselves hold
    # most of their energy in 3 directions
    low, high = np.percentile(spectra.input_rank_90, [5, 95], axis=1)
    assert np.all((low <= spectra.rank_90) & (spectra.rank_90 <= high))
    shaped = spectra.input_effective_rank
    assert np.all((shaped.min(axis=1) <= spectra.effective_rank)
                  & (spectra.effective_rank <= shaped.max(axis=1)))
    assert np.all(spectrum.input_top3_pct > 85)
    caption = FIGURES["delta_w_spectrum"].caption
    assert "only about as concentrated as $G H_1$" in caption
    # "though it is not small next to W0"
    assert np.all(spectrum.relative_update_pct > 50)
    assert numbers.value("RelativeUpdateMedian") == pytest.approx(
        np.median(100 * spectra.relative_update))


def test_spectrum_draws_the_shaped_median_dashed_over_the_real_lines():
    """The G H_1 median, the comparison the caption rests on, is dashed and drawn on top of the
    real updates' lines in both panels (the one test of the drawing here)."""
    from matplotlib.colors import same_color

    from figkit import meanings
    from figkit.palette import MUTED

    spectrum = FIGURES.result("delta_w_spectrum")
    with style.applied():
        fig = FIGURES.build("delta_w_spectrum", DEFAULT_WIDTH)
    full = meanings.method("full").color
    for ax, median in zip(fig.axes, (spectrum.shaped_median, spectrum.shaped_energy_median),
                          strict=True):
        (shaped,) = [line for line in ax.lines if same_color(line.get_color(), MUTED)]
        np.testing.assert_array_equal(shaped.get_ydata(), median)
        assert shaped.get_linestyle() == "--"
        real = [line for line in ax.lines if same_color(line.get_color(), full)]
        assert len(real) == len(spectrum.live_rank) + 1               # every base and the median
        assert all(shaped.get_zorder() > line.get_zorder() for line in real)
    assert "dashed on top: median" in FIGURES["delta_w_spectrum"].caption


def test_memory_dashboard_toy_lora_needs_less():
    numbers = FIGURES.numbers("memory_dashboard")
    assert numbers.value("ToyLoraBytes") < numbers.value("ToyFullBytes")
    dashboard = FIGURES.result("memory_dashboard")
    assert dashboard.toy_bytes[0] > dashboard.toy_bytes[1] > dashboard.toy_bytes[2]
    for key, b in zip(("ToyFullBytes", "ToyLoraBytes", "ToyQloraBytes"),
                      dashboard.toy_breakdowns, strict=True):
        assert numbers.value(key) == b.total  # printed beside each bar of (a)
    assert dashboard.toy_params == (450, 296, 296) and dashboard.toy_frozen == (0, 450, 450)
    # QLoRA's quantization constants are too thin to see: the legend names their bytes
    constants = dashboard.toy_breakdowns[2].quantization_constants
    assert 0 < constants < 0.01 * dashboard.toy_bytes[2]
    assert numbers.value("ToyQloraConstantsBytes") == constants


def test_memory_dashboard_counts_every_trained_parameter_at_16_bytes():
    dashboard = FIGURES.result("memory_dashboard")
    sweep = [b for row in dashboard.sweep_breakdowns for b in row]
    assert {b.accounting for b in dashboard.toy_breakdowns + tuple(sweep)} == {
        memory.MIXED_PRECISION_ADAM.name}
    for b, trained in zip(dashboard.toy_breakdowns, dashboard.toy_params, strict=True):
        adapters = b.adapter_weights + b.adapter_gradients + b.adapter_optimizer_states
        full = b.gradients + b.optimizer_states + (b.weights if not adapters else 0)
        assert (adapters or full) == pytest.approx(16 * trained)
    toy_full = memory.full_finetune_memory(450)
    assert dashboard.toy_bytes[0] == toy_full.total == 450 * 16
    # LoRA and QLoRA differ only in how the frozen base is stored
    assert dashboard.toy_bytes[1] - dashboard.toy_bytes[2] == pytest.approx(
        450 * (2 - memory.nf4_bytes_per_param(True)))
    # the LLaMA-7B sweep: numerics.memory.lora_memory at every rank, adapters at 16 bytes each
    assert list(dashboard.ranks) == list(range(1, lora.SWEEP_MAX_RANK + 1))
    for (targets, _), row, counts in zip(lora.SWEEP_TARGETS, dashboard.sweep_breakdowns,
                                         dashboard.trainable, strict=True):
        for rank in (1, 8, 64, 337, lora.SWEEP_MAX_RANK):
            b = row[rank - 1]
            assert b == memory.lora_memory(lora.MODEL, rank, targets)
            assert counts[rank - 1] == memory.lora_parameters(lora.MODEL, rank, targets)
            assert b.adapter_weights + b.adapter_gradients + b.adapter_optimizer_states == (
                16 * counts[rank - 1])
            assert b.weights == 2 * memory.parameter_count(lora.MODEL)
    total = sum(dashboard.adapter_gb.values()) + dashboard.base_gb
    np.testing.assert_allclose(total, dashboard.totals_gb, rtol=1e-12)
    assert "every trained parameter at 16 bytes" in FIGURES["memory_dashboard"].caption


def test_memory_dashboard_caption_claims_hold():
    dashboard = FIGURES.result("memory_dashboard")
    numbers = dashboard.numbers
    caption = FIGURES["memory_dashboard"].caption
    # "the toy model, whose adapters are two thirds the size of its base and take most of its
    # memory"
    full, lora_toy, qlora_toy = dashboard.toy_breakdowns
    assert numbers.value("ToyLoraParams") / numbers.value("ToyBaseParams") == pytest.approx(
        2 / 3, abs=0.02)
    for b in (lora_toy, qlora_toy):
        adapters = b.adapter_weights + b.adapter_gradients + b.adapter_optimizer_states
        assert adapters > b.total / 2
    assert numbers.value("ToyLoraAdapterPct") == pytest.approx(
        100 * (lora_toy.total - lora_toy.weights) / lora_toy.total)
    assert "two thirds the size of its base and take most of its memory" in caption
    # "LLaMA-7B ..., whose frozen base takes more memory than the adapters up to ranks in the
    # hundreds on all linear layers" (and on W_q, W_v at every rank shown)
    adapters = sum(dashboard.adapter_gb.values())       # (targets, ranks)
    qv, all_linear = adapters
    even = dashboard.break_even
    assert 100 <= even[1] < lora.SWEEP_MAX_RANK < even[0]
    assert np.all(qv < dashboard.base_gb)
    below = dashboard.ranks < even[1]
    assert np.all(all_linear[below] < dashboard.base_gb)
    assert np.all(all_linear[~below] > dashboard.base_gb)
    assert numbers["BreakEvenRankAll"] == "337"
    assert numbers.value("BreakEvenRankAll") == even[1]
    assert numbers.value("SevenBBaseGB") == dashboard.base_gb == pytest.approx(13.48, abs=0.01)
    assert numbers["SevenBParams"] == "6.74"
    assert "up to ranks in the hundreds on all linear layers" in caption
    # trained parameters stay a small share of the model even at the highest rank shown
    assert dashboard.trainable.max() < dashboard.model_params / 5
    assert numbers.value("SweepTopAllPct") == pytest.approx(
        100 * dashboard.trainable[1, -1] / dashboard.model_params)


def test_toy_model_caption_sizes():
    network = FIGURES.result("model_overview")
    assert network.model.sizes == (8, 16, 16, 2)
    assert "8 input features" in FIGURES["model_overview"].caption
    assert FIGURES.numbers("model_overview").value("ToyBaseParams") == 450


def test_the_output_layer_is_adapted_or_frozen_explicitly():
    config = lora_mlp.DEFAULT_CONFIG
    assert set(config.layers) <= {0, 1, 2}
    assert lora_mlp.trainable_parameters(config) == sum(
        config.rank * (d + k) for index, (d, k) in enumerate(experiments.toy_model().shapes)
        if index in config.layers)
    assert FIGURES.numbers("lora_injection").value("ToyAdapterParams") == (
        lora_mlp.trainable_parameters(config))


def test_model_overview_shows_what_the_base_can_do():
    """"pre-trained to tell positive from negative words, it is right on every sentence without a
    negation and wrong on every negated one"; hollow dots: the dead units."""
    network = FIGURES.result("model_overview")
    numbers = network.numbers
    assert network.skill_pct[1] == 100 and network.skill_pct[2] == 0
    assert network.skill_pct[0] > 85            # it learned its pre-training task
    assert (numbers["PlainSentences"], numbers["NegatedSentences"]) == ("80", "48")
    caption = FIGURES["model_overview"].caption
    assert "right on every sentence without a negation" in caption
    assert "wrong on every negated one" in caption
    base = lora.toy_runs.load("base_model")
    assert [d.sum() for d in network.dead] == [1, 3]
    # dead on the sentences and on the pre-training inputs alike
    for on_sentences, on_pretraining in zip(base.dead_on_sentences, base.dead_on_pretraining,
                                            strict=True):
        np.testing.assert_array_equal(on_sentences, on_pretraining)
    assert sum(network.model.layer_params) == numbers.value("ToyBaseParams") == 450


def test_lora_injection_counts_per_layer():
    injection = FIGURES.result("lora_injection")
    config = lora_mlp.DEFAULT_CONFIG
    assert injection.adapter_params == tuple(config.rank * (d + k) for d, k in injection.shapes)
    assert injection.adapter_params == (96, 128, 72)
    assert sum(injection.adapter_params) == lora_mlp.trainable_parameters(config) == 296
    assert injection.base_params == 450
    assert FIGURES.numbers("lora_injection")["ToyScale"] == f"{config.scale:g}"
    # B3 A3 on the 2 x 16 output layer can have rank 2 at most: the figure and caption say so
    assert injection.rank_bound == (4, 4, 2)
    assert "$B_3A_3$ can have rank 2 at most" in FIGURES["lora_injection"].caption
