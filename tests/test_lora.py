"""The LoRA topic: every caption's claim checked on the result behind the figure (nothing is
drawn here; layout, colours and PDFs are checked by tests/test_figures.py)."""
from __future__ import annotations

import numpy as np
import pytest

import lora
from figkit import registry
from models import lora_mlp
from numerics import memory
from numerics.lora import experiments
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
    assert np.all(factors.factors < factors.update_entries)


def test_training_memory_activations_are_the_same_for_every_setup():
    breakdown = FIGURES.result("training_memory_breakdown")
    acts = breakdown.components["activations"]
    assert np.all(acts == acts[0])  # "which LoRA needs as much as full fine-tuning"
    assert breakdown.totals[0] > breakdown.totals[2] > breakdown.totals[1]
    np.testing.assert_allclose(breakdown.totals, sum(breakdown.components.values()))
    caption = FIGURES["training_memory_breakdown"].caption
    assert "(16 bytes per parameter)" in caption and "2,048-token" in caption


def test_module_selection_budget_and_best_choice():
    numbers = FIGURES.numbers("module_selection")
    assert numbers.value("BudgetParams") == 18_874_368  # "the same 18M-parameter budget"
    assert (numbers.value("BestWikiSql"), numbers.value("BestMultiNli")) == (73.7, 91.7)
    assert numbers.value("QvParamsSevenB") == memory.lora_parameters(memory.LLAMA_7B, 8, ("q", "v"))
    selection = FIGURES.result("module_selection")
    assert selection.table == published.MODULE_SELECTION
    assert "18M-parameter budget" in FIGURES["module_selection"].caption


def test_variants_table_has_the_six_papers():
    table = FIGURES.result("lora_variants")
    assert len(table.variants) == 6  # "Six LoRA variants"
    assert table.rank == 16 and "4096 $\\times$ 4096, at rank 16" in FIGURES[
        "lora_variants"].caption
    assert dict(zip((v.name for v in table.variants), table.trainable, strict=True))[
        "VeRA"] == 4096 + 16
    assert FIGURES.numbers("lora_variants").value("ParamsLoRAPlus") == 16 * (4096 + 4096)


def test_inference_merged_lora_adds_nothing():
    cost = FIGURES.result("inference_speed_comparison")
    assert cost.extra_pct[0] == 0.0                            # "a merged LoRA adds nothing"
    assert cost.serial_layers[:2] == (0, 0)                     # LoRA runs beside W0
    assert cost.extra_pct[1] < cost.extra_pct[2] < cost.extra_pct[3]
    assert FIGURES.numbers("inference_speed_comparison").value("LatencyWorstPct") == (
        pytest.approx(30.3, abs=0.05))                          # LoRA Table 1, AdapterH


def test_rank_comparison_caption():
    comparison = FIGURES.result("rank_comparison")
    assert comparison.seed_accuracy_pct.shape[1] == 3            # "three seeds"
    for share in comparison.share_pct.values():
        assert np.all(np.diff(share) > 0)                       # more rank, more parameters
    numbers = FIGURES.numbers("rank_comparison")
    assert numbers.value("ToyFullAccuracy") == comparison.full_accuracy_pct
    assert comparison.base_accuracy_pct < comparison.mean_accuracy_pct.min()


def test_merging_is_exact_and_swapping_restores_the_base():
    numbers = FIGURES.numbers("adapter_merging")
    assert numbers.value("MergeErrorMax") < 1e-12
    assert numbers.value("UnmergeErrorMax") <= 4 * np.finfo(float).eps
    merging = FIGURES.result("adapter_merging")
    assert np.array_equal(merging.adapter_accuracy_pct, merging.merged_accuracy_pct)


def test_knowledge_change_caption():
    change = FIGURES.result("knowledge_change")
    assert change.loss[-1] < change.loss[0] / 100                 # "the loss falls"
    assert np.any(np.abs(change.positive_after_pct - change.positive_before_pct) > 50)
    numbers = FIGURES.numbers("knowledge_change")
    assert numbers.value("DeltaRank") == change.adapter_rank    # "has rank r"
    assert change.layer == 1                                    # "of the second layer"
    assert numbers.value("KnowledgeTestAfter") > numbers.value("KnowledgeTestBefore")


def test_scaling_caption():
    impact = FIGURES.result("scaling_factor_impact")
    first = impact.first_step_norm
    spread = first.max(axis=1) / first.min(axis=1)
    assert spread[0] < spread[1]                               # alpha fixed varies less
    assert np.all(np.diff(first[1]) > 0)                       # alpha = r: larger steps
    assert impact.early_step == 50
    assert np.ptp(impact.early_loss[0]) < np.ptp(impact.early_loss[1])


def test_backward_caption_only_b_at_the_start():
    step = FIGURES.result("backward_pass")
    first = dict(zip(step.lora_groups, step.lora_norms_first, strict=True))
    assert all(first[g] == 0 for g in first if g[0] == "A")
    assert all(first[g] > 0 for g in first if g[0] == "B")
    assert all(n > 0 for n in step.full_norms)                  # every weight and bias
    assert all(n > 0 for n in step.lora_norms_later)


def test_spectrum_caption_real_update_is_more_concentrated():
    numbers = FIGURES.numbers("delta_w_spectrum")
    assert numbers.value("RankNinetyReal") < numbers.value("RankNinetyRandom")
    assert numbers.value("EffectiveRankReal") < numbers.value("EffectiveRankRandom")
    spectrum = FIGURES.result("delta_w_spectrum")
    assert np.all(spectrum.energy_pct[1:] >= spectrum.random_energy_pct[1:] - 1e-9)


def test_memory_dashboard_lora_needs_less():
    numbers = FIGURES.numbers("memory_dashboard")
    assert numbers.value("ToyLoraBytes") < numbers.value("ToyFullBytes")
    dashboard = FIGURES.result("memory_dashboard")
    assert dashboard.model_bytes[0] > dashboard.model_bytes[1] > dashboard.model_bytes[2]
    table = memory.compare_methods((lora.MODEL,), lora.SCALE_RANK, memory.ALL_LINEAR)
    totals = [b.total for b in table[lora.MODEL.name].values()]
    assert totals[0] > totals[1] > totals[2]


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
