"""Tests for the QLoRA numbers: published.qlora (the paper's Guanaco rows and claims) and
numerics.qlora.paging (training memory with activations under the book's one accounting, the
paging simulation).

Expected values are numbers printed in QLoRA (arXiv 2305.14314), cited next to them, or exact
arithmetic on the formulas.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from numerics import memory as m
from numerics.activations import activation_bytes
from numerics.qlora import paging
from published import qlora as published

# ---------------------------------------------------------------------------
# 1. Published Guanaco results
# ---------------------------------------------------------------------------

ROWS = published.GUANACO_RESULTS


def test_guanaco_rows_are_the_four_llama_sizes_ascending():
    assert [r.name for r in ROWS] == ["Guanaco 7B", "Guanaco 13B", "Guanaco 33B", "Guanaco 65B"]
    assert [r.shape for r in ROWS] == [m.LLAMA_7B, m.LLAMA_13B, m.LLAMA_33B, m.LLAMA_65B]
    params = [m.parameter_count(r.shape) for r in ROWS]
    assert params == sorted(params)
    assert all(r.model_bits == 4 for r in ROWS)


@pytest.mark.parametrize("attr", ["memory_gb", "size_gb", "elo", "vicuna_mean", "mmlu"])
def test_guanaco_columns_grow_with_model_size(attr):
    values = [getattr(r, attr) for r in ROWS]
    assert values == sorted(values) and len(set(values)) == len(values)


def test_guanaco_published_values():
    # QLoRA Table 6 Memory, Table 1 Elo, Table 6 mean, Table 5 MMLU.
    assert [r.memory_gb for r in ROWS] == [5, 10, 21, 41]
    assert [r.size_gb for r in ROWS] == [6, 10, 21, 41]  # Table 1 prints 6 GB for 7B
    assert [r.elo for r in ROWS] == [879, 916, 992, 1022]
    assert [r.vicuna_mean for r in ROWS] == [87.0, 90.4, 97.8, 99.3]
    assert [r.mmlu for r in ROWS] == [36.6, 46.4, 57.0, 62.2]


def test_table6_mean_is_the_average_of_both_orders_to_print_precision():
    for r in ROWS:
        mean = (r.vicuna_chatgpt_first + r.vicuna_system_first) / 2
        assert abs(r.vicuna_mean - mean) <= 0.05 + 1e-9
        assert min(r.vicuna_chatgpt_first, r.vicuna_system_first) <= r.vicuna_mean
        assert r.vicuna_mean <= max(r.vicuna_chatgpt_first, r.vicuna_system_first)
        assert 0 < r.vicuna_ci < 10 and r.elo_ci == 1


def test_published_memory_is_between_4_and_16_bits_per_parameter():
    for r in ROWS:
        n = m.parameter_count(r.shape)
        assert n * 4 / 8 < r.memory_gb * m.GB < n * 2


def test_published_claims_are_the_papers_arithmetic():
    # QLoRA Sec. 3: 32/64 = 0.5 bits, 8/64 + 32/(64 * 256) = 0.127 bits, 0.373 saved.
    assert published.CONSTANT_BITS_SINGLE == 32 / 64
    assert published.CONSTANT_BITS_DOUBLE == round(8 / 64 + 32 / (64 * 256), 3)
    assert published.CONSTANT_BITS_SAVED == round(
        published.CONSTANT_BITS_SINGLE - (8 / 64 + 32 / (64 * 256)), 3)
    # Sec. 1: about 0.37 bits per parameter are "approximately 3 GB for a 65B model".
    assert round(published.CONSTANT_BITS_SAVED * 65e9 / 8 / m.GB) == (
        published.DOUBLE_QUANT_SAVING_65B_GB)
    assert published.GUANACO_RANK == 64 and published.QLORA_65B_GPU_GB == 48


def test_table6_reference_row_is_the_16_bit_vicuna():
    # QLoRA Table 6, row "Vicuna 13B": 16-bit, 26 GB, 91.2 % / 98.7 %, mean 94.9 % +- 4.5 %.
    v = published.VICUNA_13B
    assert (v.name, v.params_billion, v.model_bits, v.memory_gb) == ("Vicuna 13B", 13, 16, 26)
    assert (v.vicuna_chatgpt_first, v.vicuna_system_first, v.vicuna_mean, v.vicuna_ci) == (
        91.2, 98.7, 94.9, 4.5)
    assert abs((v.vicuna_chatgpt_first + v.vicuna_system_first) / 2 - v.vicuna_mean) <= 0.05
    assert v.memory_gb * m.GB == v.params_billion * 1e9 * v.model_bits / 8  # 2 bytes a weight
    assert published.CHATGPT_VICUNA_SCORE == 100


def test_measured_7b_base_is_above_our_nf4_storage():
    # QLoRA Sec. 2: 5,048 MB measured; our NF4 + DQ storage is a lower bound (no overheads).
    b = m.qlora_memory(m.LLAMA_7B)
    assert (b.weights + b.quantization_constants) / 1e6 < published.QLORA_7B_4BIT_BASE_MB


# ---------------------------------------------------------------------------
# 2. Training memory and the paged optimizer simulation
# ---------------------------------------------------------------------------


def test_qlora_training_memory_fills_the_activation_hook():
    b = paging.qlora_training_memory(m.LLAMA_33B, 1, 2048)
    static = m.qlora_memory(m.LLAMA_33B, adapter_recipe=m.MIXED_PRECISION_ADAM)
    assert b.activations == activation_bytes(m.LLAMA_33B, 1, 2048)
    assert dataclasses.replace(b, activations=0.0) == static
    assert b.total == pytest.approx(static.total + b.activations)


def test_model_states_are_the_books_one_accounting():
    # The QLoRA breakdown of numerics.memory.compare_methods: 16 bytes per trained parameter.
    book = m.compare_methods([m.LLAMA_33B], 64)["LLaMA-33B"]["QLoRA"]
    assert paging.qlora_model_states(m.LLAMA_33B) == book
    assert book.accounting == m.MIXED_PRECISION_ADAM.name
    assert round(book.total_gb, 1) == 25.2
    # the released code's recipe (12 bytes) is another accounting, and another total
    released = paging.qlora_model_states(m.LLAMA_33B, adapter_recipe=m.QLORA_ADAPTER_RECIPE)
    assert released.accounting != book.accounting and round(released.total_gb, 1) == 23.3


@pytest.fixture(scope="module")
def sim():
    return paging.simulate_paging()


def test_default_scenario_is_the_released_33b_recipe_on_rtx_4090(sim):
    assert sim.assumptions["model"] == "LLaMA-33B" and sim.assumptions["gpu"] == "RTX 4090"
    assert "RTX 4090" in m.BOOK_GPUS
    assert sim.capacity_bytes == m.gpu_capacity_bytes("RTX 4090")
    # finetune_guanaco_33b.sh: micro-batch 4, 16 + 512 tokens, 12 bytes per adapter parameter
    assert sim.batch == 4 and sim.assumptions["max_len"] == 528
    assert sim.seq_lens.max() <= 528
    static = paging.qlora_model_states(m.LLAMA_33B, adapter_recipe=m.QLORA_ADAPTER_RECIPE)
    assert sim.static == static and sim.static_bytes == static.total
    assert sim.assumptions["accounting"] == m.QLORA_ADAPTER_RECIPE.name
    assert m.QLORA_ADAPTER_RECIPE.bytes_per_param == 12
    assert sim.pageable_bytes == static.adapter_optimizer_states
    # 23.3 GB of model states on a 25.8 GB card: 2.5 GB left, room for micro-batches padded
    # to 475 tokens; the 528-token step needs 0.3 GB more, and paging the Adam states covers it
    assert sim.capacity_bytes - sim.static_bytes == pytest.approx(2.49e9, abs=0.005e9)
    assert sim.oom_seq_len == 476
    worst = sim.static_bytes + activation_bytes(m.LLAMA_33B, 4, 528) - sim.capacity_bytes
    assert 0.25e9 < worst < sim.pageable_bytes
    assert sim.oom_step == 0 and sim.paging_oom_step is None
    assert 0 < sim.n_oom_steps < len(sim.steps)


def test_demand_by_length_gives_the_threshold(sim):
    lengths, demand = paging.demand_by_length(m.LLAMA_33B, sim.static_bytes, 4)
    assert lengths[0] == 1 and lengths[-1] == m.LLAMA_33B.context_length
    assert np.all(np.diff(demand) > 0)
    over = demand > sim.capacity_bytes
    assert lengths[over][0] == sim.oom_seq_len == paging.first_length_over(
        m.LLAMA_33B, sim.static_bytes, sim.capacity_bytes, 4, max_len=528)
    short, _ = paging.demand_by_length(m.LLAMA_33B, sim.static_bytes, 4, max_len=528)
    assert short[-1] == 528
    assert paging.first_length_over(m.LLAMA_33B, 0.0, 1e15, max_len=528) == 529
    assert paging.first_length_over(m.LLAMA_7B, 0.0, 1e15) == m.LLAMA_7B.context_length + 1


def test_oom_step_is_first_step_over_capacity(sim):
    over = sim.demand_bytes > sim.capacity_bytes
    assert over[sim.oom_step] and not over[: sim.oom_step].any()
    assert sim.seq_lens[sim.oom_step] >= sim.oom_seq_len
    assert np.all((sim.seq_lens >= sim.oom_seq_len) == over)


def test_oom_seq_len_is_the_threshold(sim):
    def fits(n):
        return sim.static_bytes + activation_bytes(m.LLAMA_33B, 4, n) <= sim.capacity_bytes

    assert fits(sim.oom_seq_len - 1) and not fits(sim.oom_seq_len)


def test_paging_invariants(sim):
    assert np.all(sim.resident_bytes <= sim.capacity_bytes)
    assert np.array_equal(sim.paged_bytes, np.maximum(0.0, sim.demand_bytes - sim.capacity_bytes))
    assert np.allclose(sim.resident_bytes + sim.paged_bytes, sim.demand_bytes)
    assert np.array_equal(sim.resident_bytes, np.minimum(sim.demand_bytes, sim.capacity_bytes))
    assert sim.paged_bytes.max() <= sim.pageable_bytes


def test_arrays_and_lengths(sim):
    n = len(sim.steps)
    assert np.array_equal(sim.steps, np.arange(n))
    for arr in (sim.seq_lens, sim.activation_bytes, sim.demand_bytes, sim.resident_bytes,
                sim.paged_bytes):
        assert arr.shape == (n,)
    assert sim.seq_lens.min() >= 1 and sim.seq_lens.max() <= 528
    assert np.allclose(sim.demand_bytes, sim.static_bytes + sim.activation_bytes)
    assert set(sim.static_parts) == {"weights", "quantization_constants", "adapter_weights",
                                     "adapter_gradients", "adapter_optimizer_states"}


def test_determinism_with_seed():
    a = paging.simulate_paging(seed=3, steps=200)
    b = paging.simulate_paging(seed=3, steps=200)
    assert np.array_equal(a.seq_lens, b.seq_lens) and np.array_equal(a.demand_bytes, b.demand_bytes)
    assert a.oom_step == b.oom_step
    c = paging.simulate_paging(seed=4, steps=200)
    assert not np.array_equal(a.seq_lens, c.seq_lens)


def test_padding_to_longest_in_micro_batch():
    single = paging.sample_seq_lens(50, 1, 7, 400, 0.6, 2048)
    quad = paging.sample_seq_lens(50, 4, 7, 400, 0.6, 2048)
    rng = np.random.default_rng(7)
    raw = np.clip(np.rint(rng.lognormal(np.log(400), 0.6, size=(50, 4))), 1, 2048).astype(int)
    assert np.array_equal(quad, raw.max(axis=1))
    assert single.shape == quad.shape == (50,)


def test_grouped_lengths_follow_the_length_grouped_sampler():
    # transformers' LengthGroupedSampler: mega-batches of 50 * 16 samples sorted longest
    # first, the longest sample of all moved to the front; micro-batches of 4 padded
    lens = paging.grouped_seq_lens(400, 4, 5, 400, 0.6, 528, group_batch=16)
    rng = np.random.default_rng(5)
    raw = rng.lognormal(np.log(400), 0.6, size=1600)
    assert lens.shape == (400,) and lens[0] == min(528, int(np.rint(raw.max())))
    for start in (0, 200):  # each mega-batch (200 micro-batches) descends, bar the swap
        assert np.all(np.diff(lens[start + 1:start + 200]) <= 0)
    assert lens[200] == min(528, int(np.rint(raw[800:1600].max())))
    # random order instead (no grouping): the micro-batches do not descend
    r = paging.simulate_paging(steps=400, seed=5, group_by_length=False)
    assert np.any(np.diff(r.seq_lens[1:200]) > 0)


def test_paging_can_fail_too():
    # Micro-batch 4 at the full 2,048-token context under the book's 16 bytes: the overflow
    # exceeds the 5.9 GB of optimizer states.
    r = paging.simulate_paging(batch=4, steps=300, seed=0, max_len=None,
                               adapter_recipe=m.MIXED_PRECISION_ADAM, group_by_length=False)
    fail = r.paged_bytes > r.pageable_bytes
    assert r.paging_oom_step is not None
    assert fail[r.paging_oom_step] and not fail[: r.paging_oom_step].any()
    assert r.oom_step <= r.paging_oom_step


def test_no_oom_when_everything_fits():
    r = paging.simulate_paging(m.LLAMA_7B, gpu="A100 80GB", steps=100)
    assert r.oom_step is None and r.paging_oom_step is None and not r.paged_bytes.any()
    assert r.oom_seq_len == r.assumptions["max_len"] + 1 == 529


def test_assumptions_are_recorded(sim):
    for key in ("model", "gpu", "capacity_bytes", "micro_batch", "seq_len_distribution",
                "median_seq_len", "activations", "pageable", "paging_rule", "not_modelled",
                "seed"):
        assert key in sim.assumptions
    assert sim.assumptions["oom_seq_len"] == sim.oom_seq_len


def test_bad_arguments():
    with pytest.raises(ValueError):
        paging.simulate_paging(batch=0)
    with pytest.raises(ValueError):
        paging.simulate_paging(steps=0)

