"""The LoRA topic: every caption's claim checked against the computation behind the figure."""
from __future__ import annotations

import numpy as np
import pytest

import lora
from figkit import style
from numerics import lora as toy
from numerics import memory


def numbers_of(name):
    with style.applied():
        _, numbers = lora.FIGURES.build(name, 6.0)
    return numbers


def test_architecture_counts_are_the_layers():
    numbers = numbers_of("lora_architecture")
    d, k, r = lora.LAYER.d_out, lora.LAYER.d_in, lora.RANK
    assert (d, k) == (4096, 4096)  # LLaMA-7B q_proj
    assert numbers.value("AParams") == r * k and numbers.value("BParams") == d * r
    assert numbers.value("AdapterShare") == pytest.approx(100 * r * (d + k) / (d * k))


def test_matrix_decomposition_savings():
    numbers = numbers_of("matrix_decomposition")
    assert numbers.value("SavingRankEight") == pytest.approx(4096 * 4096 / (8 * 8192))  # 256
    assert numbers.value("SavingRankSixtyFour") == pytest.approx(32)


def test_merging_is_exact_and_swapping_restores_the_base():
    numbers = numbers_of("adapter_merging")
    assert numbers.value("MergeErrorMax") < 1e-12
    assert numbers.value("UnmergeErrorMax") <= 4 * np.finfo(float).eps
    swap = lora.experiment("adapter_swap")
    assert np.array_equal(swap.adapter_accuracy, swap.merged_accuracy)


def test_knowledge_change_caption():
    kc = lora.experiment("knowledge_change")
    assert kc.loss[-1] < kc.loss[0] / 100                       # "the loss falls"
    assert np.any(np.abs(kc.probs_after - kc.probs_before) > 0.5)  # "predictions change"
    numbers = numbers_of("knowledge_change")
    assert numbers.value("DeltaRank") == kc.config.rank           # "has rank r"
    assert numbers.value("KnowledgeTestAfter") > numbers.value("KnowledgeTestBefore")


def test_scaling_caption():
    exp = lora.experiment("scaling_experiment")
    first = exp.first_step_norm
    spread = first.max(axis=1) / first.min(axis=1)
    assert spread[0] < spread[1]                               # alpha fixed varies less
    assert np.all(np.diff(first[1]) > 0)                       # alpha = r: larger steps
    early = exp.loss[:, :, :, 50].mean(axis=-1)
    assert np.ptp(early[0]) < np.ptp(early[1])


def test_backward_caption_only_b_at_the_start():
    start = lora.experiment("backward_comparison")
    assert all(np.all(g == 0) for g in start.lora_A)
    assert all(np.any(g != 0) for g in start.lora_B)
    assert all(np.any(g != 0) for g in start.full_W)


def test_spectrum_caption_real_update_is_more_concentrated():
    spec = lora.experiment("delta_w_spectrum")
    assert spec.rank_90 < np.median(spec.random_rank_90)
    assert spec.effective_rank < np.median(spec.random_effective_rank)


def test_memory_dashboard_lora_needs_less():
    numbers = numbers_of("memory_dashboard")
    assert numbers.value("ToyLoraBytes") < numbers.value("ToyFullBytes")
    table = memory.compare_methods((lora.MODEL,), lora.SCALE_RANK, memory.ALL_LINEAR)
    totals = [b.total for b in table[lora.MODEL.name].values()]
    assert totals[0] > totals[1] > totals[2]


def test_the_output_layer_is_adapted_or_frozen_explicitly():
    config = toy.LoRAConfig()
    assert set(config.layers) <= {0, 1, 2}
    assert toy.trainable_parameters(config) == sum(
        config.rank * (d + k) for l, (d, k) in enumerate(toy.toy_model().shapes)
        if l in config.layers)
