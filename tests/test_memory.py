"""Tests for numerics.memory and published.hyperparameters against published numbers.

Every expected value below is either a number printed in a paper / released
config (cited in the comment next to it) or exact arithmetic on such numbers.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from numerics import memory
from published import hyperparameters

# ---------------------------------------------------------------------------
# Architectures and parameter counts
# ---------------------------------------------------------------------------


def floor_to_tenth_of_billion(n: int) -> float:
    """6,738,415,616 -> 6.7 (truncation, as LLaMA Table 2 prints its counts)."""
    return math.floor(n / 1e8) / 10


# LLaMA, arXiv 2302.13971 Table 2: params, dimension, n heads, n layers.
LLAMA_TABLE_2 = [
    (memory.LLAMA_7B, 6.7, 4096, 32, 32),
    (memory.LLAMA_13B, 13.0, 5120, 40, 40),
    (memory.LLAMA_33B, 32.5, 6656, 52, 60),
    (memory.LLAMA_65B, 65.2, 8192, 64, 80),
]


@pytest.mark.parametrize(("shape", "params_b", "dim", "heads", "layers"), LLAMA_TABLE_2)
def test_llama_shapes_match_table_2(shape, params_b, dim, heads, layers):
    assert (shape.d_model, shape.n_heads, shape.n_layers) == (dim, heads, layers)
    assert shape.d_head == 128
    assert shape.vocab_size == 32000
    assert shape.gated_ffn and not shape.tied_embeddings
    assert not shape.norm_has_bias and not shape.linear_bias


@pytest.mark.parametrize(("shape", "params_b", "dim", "heads", "layers"), LLAMA_TABLE_2)
def test_llama_parameter_counts_match_table_2(shape, params_b, dim, heads, layers):
    # Table 2 prints 6.7B / 13.0B / 32.5B / 65.2B.  The exact counts are
    # 6.738 / 13.016 / 32.529 / 65.286 B: the table truncates to one decimal
    # (65.286 would *round* to 65.3).
    assert floor_to_tenth_of_billion(memory.parameter_count(shape)) == params_b


def test_llama_exact_counts():
    # Hugging Face reports "all params: 6,738,415,616" for LLaMA(-2)-7B
    # (PEFT print_trainable_parameters) and 65,285,660,672 for the 65B shape.
    assert memory.parameter_count(memory.LLAMA_7B) == 6_738_415_616
    assert memory.parameter_count(memory.LLAMA_65B) == 65_285_660_672


@pytest.mark.parametrize(
    "shape", [memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B])
def test_llama_ffn_sizes_follow_reference_rounding(shape):
    # LLaMA Sec. 2.2: SwiGLU with hidden size 2/3 * 4d; the reference code
    # rounds int(2/3 * 4d) up to a multiple of 256, giving the released
    # intermediate sizes 11008 / 13824 / 17920 / 22016.
    hidden = int(2 * 4 * shape.d_model / 3)
    assert shape.d_ffn == 256 * math.ceil(hidden / 256)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        # Exact Hugging Face counts of gpt2, gpt2-medium, gpt2-large, gpt2-xl.
        (memory.GPT2_SMALL, 124_439_808),
        (memory.GPT2_MEDIUM, 354_823_168),
        (memory.GPT2_LARGE, 774_030_080),
        (memory.GPT2_XL, 1_557_611_200),
    ],
)
def test_gpt2_parameter_counts_exact(shape, expected):
    assert memory.parameter_count(shape) == expected


def test_gpt2_marketing_sizes():
    # HF model names: 124M, 355M, 774M, 1.5B ("1558M").
    shapes = (memory.GPT2_SMALL, memory.GPT2_MEDIUM, memory.GPT2_LARGE)
    counts = [memory.parameter_count(s) for s in shapes]
    assert [round(c / 1e6) for c in counts] == [124, 355, 774]
    assert round(memory.parameter_count(memory.GPT2_XL) / 1e9, 2) == 1.56


def test_gpt3_shape_and_count():
    g = memory.GPT3_175B
    # GPT-3 Table 2.1: 96 layers, d_model 12288, 96 heads, d_head 128;
    # Sec. 2.1: d_ff = 4 d_model, n_ctx = 2048.
    assert (g.n_layers, g.d_model, g.n_heads, g.d_head) == (96, 12288, 96, 128)
    assert g.d_ffn == 4 * g.d_model and g.context_length == 2048
    # Table 2.1 lists 175.0B.  Our GPT-2-style count (vocab 50257 assumed, tied
    # head) is 174.60B; the LoRA paper (Table 4) lists 175,255.8M trainable
    # parameters for GPT-3 FT.  Both agree to within 0.5%.
    n = memory.parameter_count(g)
    assert n == 174_604_259_328
    assert abs(n / 175.0e9 - 1) < 0.005
    assert abs(n / 175_255.8e6 - 1) < 0.005


def test_linear_layers_names_and_shapes():
    llama = {layer.name: (layer.d_out, layer.d_in)
             for layer in memory.linear_layers(memory.LLAMA_7B)}
    assert llama == {
        "q": (4096, 4096), "k": (4096, 4096), "v": (4096, 4096), "o": (4096, 4096),
        "gate": (11008, 4096), "up": (11008, 4096), "down": (4096, 11008),
    }
    gpt = memory.linear_layers(memory.GPT2_SMALL)
    assert [layer.name for layer in gpt] == ["q", "k", "v", "o", "fc", "proj"]
    assert {layer.module for layer in gpt} == {
        "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}
    assert all(layer.bias for layer in gpt)
    assert not any(layer.bias for layer in memory.linear_layers(memory.LLAMA_7B))


def test_parameter_groups_sum_and_tying():
    for shape in memory.SHAPES.values():
        groups = memory.parameter_groups(shape)
        assert sum(groups.values()) == memory.parameter_count(shape)
        assert (groups["lm_head"] == 0) == shape.tied_embeddings
        assert (groups["position_embedding"] == 0) == (not shape.learned_positions)


# ---------------------------------------------------------------------------
# LoRA trainable parameters
# ---------------------------------------------------------------------------


def test_lora_formula_matches_paper_sec_5_1():
    # LoRA Sec. 5.1: |Theta| = 2 x L_LoRA x d_model x r for d_model x d_model
    # matrices, L_LoRA = number of adapted matrices.
    g = memory.GPT3_175B
    for rank, targets in [(1, ("q",)), (4, ("q", "v")), (2, ("q", "k", "v", "o"))]:
        n_matrices = len(targets) * g.n_layers
        assert memory.lora_parameters(g, rank, targets) == 2 * n_matrices * g.d_model * rank


def test_lora_gpt3_table_4_budget_4_7m():
    # LoRA Table 4: "GPT-3 (LoRA) 4.7M"; App. D.4: "4.7M (r_q=r_v=1 or r_v=2)".
    a = memory.lora_parameters(memory.GPT3_175B, 1, ("q", "v"))
    b = memory.lora_parameters(memory.GPT3_175B, 2, ("v",))
    assert a == b == 4_718_592
    assert round(a / 1e6, 1) == 4.7


def test_lora_gpt3_table_4_budget_37_7m():
    # LoRA Table 4: "GPT-3 (LoRA) 37.7M"; App. D.4: "37.7M (r_q=r_v=8 or
    # r_q=r_k=r_v=r_o=2)".  r_q=r_v=8 reproduces 37.7M exactly ...
    n = memory.lora_parameters(memory.GPT3_175B, 8, ("q", "v"))
    assert n == 37_748_736
    assert round(n / 1e6, 1) == 37.7
    # ... but r=2 on four types is only half of it (18.9M, the Sec. 7.1 budget):
    # the "or r_q=r_k=r_v=r_o=2" alternative in App. D.4 does not add up.
    four_types = memory.lora_parameters(memory.GPT3_175B, 2, ("q", "k", "v", "o"))
    assert four_types * 2 == n


def test_lora_gpt3_table_5_budget_18m():
    # LoRA Sec. 7.1 / Table 5: "parameter budget of 18M ... r = 8 if we adapt
    # one type of attention weights or r = 4 if we adapt two types"; Table 5
    # also has r=2 on Wq, Wk, Wv, Wo.
    configs = [(8, (t,)) for t in "qkvo"] + [
        (4, ("q", "k")), (4, ("q", "v")), (2, ("q", "k", "v", "o"))]
    counts = {memory.lora_parameters(memory.GPT3_175B, r, t) for r, t in configs}
    assert counts == {18_874_368}
    assert math.floor(18_874_368 / 1e6) == 18
    # "(roughly 35MB if stored in FP16)": 2 bytes x 18.87M = 37.7 MB = 36.0 MiB.
    assert abs(18_874_368 * memory.FP16_BYTES / 35e6 - 1) < 0.10


def test_lora_llama_peft_reference_counts():
    # PEFT on LLaMA-7B with target_modules q_proj, v_proj prints
    # "trainable params: 4,194,304" (r=8) and "8,388,608" (r=16).
    assert memory.lora_parameters(memory.LLAMA_7B, 8, ("q", "v")) == 4_194_304
    assert memory.lora_parameters(memory.LLAMA_7B, 16, ("q", "v")) == 8_388_608


def test_lora_all_linear_and_validation():
    per_block = sum(64 * (layer.d_in + layer.d_out)
                    for layer in memory.linear_layers(memory.LLAMA_65B))
    all_linear = memory.lora_parameters(memory.LLAMA_65B, 64, memory.ALL_LINEAR)
    assert all_linear == 80 * per_block == 799_539_200
    assert memory.lora_parameters(memory.LLAMA_65B, 0, memory.ALL_LINEAR) == 0
    with pytest.raises(ValueError):
        memory.lora_parameters(memory.LLAMA_65B, 8, ("c_attn",))
    with pytest.raises(ValueError):
        memory.lora_parameters(memory.LLAMA_65B, 8, "all")


# ---------------------------------------------------------------------------
# Byte accounting: ZeRO
# ---------------------------------------------------------------------------


def test_zero_mixed_precision_adam_is_16_bytes():
    # ZeRO Sec. 3.1: 2 Psi (fp16 params) + 2 Psi (fp16 grads) + K Psi, K = 12
    # (fp32 params, momentum, variance, 4 bytes each) = 16 Psi.
    assert memory.ZERO_ADAM_K == 12
    r = memory.MIXED_PRECISION_ADAM
    assert (r.weight_bytes, r.gradient_bytes, r.optimizer_bytes) == (2, 2, 12)
    assert r.bytes_per_param == 16


def test_zero_gpt2_1_5b_needs_24_gb():
    # ZeRO Sec. 3.1: "GPT-2 with 1.5 Billion parameters ... at least 24 GB,
    # ... the meager 3 GB of memory required to hold the fp16 parameters alone".
    b = memory.full_finetune_memory(1_500_000_000)
    assert b.total == 24 * memory.GB
    assert b.weights == 3 * memory.GB
    # The exact GPT-2 XL count (1.558B) needs a little more: "at least" holds.
    assert 24 * memory.GB < memory.full_finetune_memory(memory.GPT2_XL).total < 25 * memory.GB


def test_zero_figure_1_7_5b_example():
    # ZeRO Fig. 1: Psi = 7.5B, N_d = 64, K = 12 -> per-device model states
    # 120GB (baseline), 31.4GB (P_os), 16.6GB (P_os+g), 1.9GB (P_os+g+p).
    psi, nd = 7.5e9, 64
    gb = [memory.zero_dp_bytes_per_device(psi, nd, s) / memory.GB for s in range(4)]
    assert gb[0] == pytest.approx(120.0)
    assert [round(x, 1) for x in gb[1:]] == [31.4, 16.6, 1.9]
    assert memory.full_finetune_memory(7_500_000_000).total == 120 * memory.GB


def test_zero_trillion_parameter_example():
    # ZeRO Sec. 1: a trillion-parameter model with Adam in 16-bit "requires
    # approximately 16 terabytes"; "16TB divided by 1024 is 16GB".
    assert memory.full_finetune_memory(10**12).total == 16e12
    assert memory.zero_dp_bytes_per_device(1e12, 1024, 3) == pytest.approx(16e12 / 1024)


# ---------------------------------------------------------------------------
# Byte accounting: LoRA
# ---------------------------------------------------------------------------


def test_lora_memory_structure():
    b = memory.lora_memory(memory.LLAMA_7B, 8, ("q", "v"))
    n_adapter = 4_194_304
    assert b.weights == 2 * memory.parameter_count(memory.LLAMA_7B)
    assert b.gradients == b.optimizer_states == b.quantization_constants == 0
    assert (b.adapter_weights, b.adapter_gradients, b.adapter_optimizer_states) == (
        2 * n_adapter, 2 * n_adapter, 12 * n_adapter)


def test_lora_gpt3_frozen_weights_350gb():
    # LoRA Sec. 4.2: training VRAM "from 1.2TB to 350GB"; 350 GB is 175B x 2
    # bytes of frozen fp16 weights.  With r=4 on Wq, Wv "the checkpoint size is
    # reduced by roughly 10,000x (from 350GB to 35MB)".
    b = memory.lora_memory(memory.GPT3_175B, 4, ("q", "v"))
    assert abs(b.weights / (350 * memory.GB) - 1) < 0.005
    assert abs(b.total / (350 * memory.GB) - 1) < 0.005  # adapters add only 0.3 GB
    adapter_checkpoint = b.adapter_weights
    assert abs(adapter_checkpoint / 35e6 - 1) < 0.10  # 37.7 MB, "roughly 35MB"
    assert 8_000 < b.weights / adapter_checkpoint < 12_000  # "roughly 10,000x"


# ---------------------------------------------------------------------------
# Byte accounting: QLoRA
# ---------------------------------------------------------------------------


def test_qlora_double_quantization_bits():
    # QLoRA Sec. 3: constants cost 32/64 = 0.5 bits per parameter; with double
    # quantization 8/64 + 32/(64*256) = 0.127 bits, "a reduction of 0.373 bits".
    assert memory.quantization_constant_bits_per_param() == 0.5
    dq = memory.double_quantized_constant_bits_per_param()
    assert dq == 8 / 64 + 32 / (64 * 256) == 0.126953125
    assert round(dq, 3) == 0.127
    assert round(0.5 - dq, 3) == 0.373
    assert memory.nf4_bits_per_param(True) == 4.126953125
    assert memory.nf4_bytes_per_param(False) == 4.5 / 8


def test_qlora_double_quantization_saves_3gb_on_65b():
    # QLoRA Sec. 1: Double Quantization saves "about 0.37 bits per parameter
    # (approximately 3 GB for a 65B model)".
    saving_bits = (memory.quantization_constant_bits_per_param()
                   - memory.double_quantized_constant_bits_per_param())
    assert round(saving_bits * 65e9 / 8 / memory.GB) == 3
    with_dq = memory.qlora_memory(memory.LLAMA_65B, double_quant=True)
    without = memory.qlora_memory(memory.LLAMA_65B, double_quant=False)
    saved = without.quantization_constants - with_dq.quantization_constants
    assert round(saved / memory.GB) == 3
    assert without.total - with_dq.total == saved


def test_qlora_16bit_baseline_780gb():
    # QLoRA Sec. 1: "regular 16-bit finetuning of a LLaMA 65B parameter model
    # requires more than 780 GB of GPU memory".  780 GB / 65e9 = 12 bytes per
    # parameter: 16-bit weights + 16-bit gradients + two fp32 Adam moments
    # (our reading; the paper gives no breakdown).
    assert memory.QLORA_16BIT_BYTES_PER_PARAM == 12
    assert memory.BF16_ADAM_FP32_MOMENTS.bytes_per_param == 12
    twelve = memory.full_finetune_memory(memory.LLAMA_65B, memory.BF16_ADAM_FP32_MOMENTS)
    assert 780 * memory.GB < twelve.total < 790 * memory.GB  # 783.4 GB
    # ZeRO's 16 bytes/param would be well above ("more than 780 GB" still true).
    assert memory.full_finetune_memory(memory.LLAMA_65B).total > 1000 * memory.GB


def test_qlora_65b_fits_under_48gb():
    # QLoRA Sec. 1: "from >780GB of GPU memory to <48GB"; abstract: "finetune a
    # 65B parameter model on a single 48GB GPU".  Guanaco configuration
    # (App. B): NF4 + DQ, LoRA r=64 on all linear layers, BF16 adapters.
    b = memory.qlora_memory(memory.LLAMA_65B, rank=64, targets=memory.ALL_LINEAR)
    assert b.total < 48 * memory.GB
    assert memory.fits_in_gpu(b.total, "RTX A6000")
    assert not memory.fits_in_gpu(b.total, "RTX 3090")
    # Still under 48 GB without double quantization or with fp32 master copies
    # of the adapters (16 B per adapter parameter).
    assert memory.qlora_memory(memory.LLAMA_65B, double_quant=False).total < 48 * memory.GB
    fp32_adapters = memory.qlora_memory(memory.LLAMA_65B,
                                        adapter_recipe=memory.MIXED_PRECISION_ADAM)
    assert fp32_adapters.total < 48 * memory.GB


def test_qlora_breakdown_components():
    b = memory.qlora_memory(memory.LLAMA_65B)
    g = memory.parameter_groups(memory.LLAMA_65B)
    n_adapter = memory.lora_parameters(memory.LLAMA_65B, 64, memory.ALL_LINEAR)
    expected_weights = (g["block_linear_weights"] * 4 / 8
                        + (g["token_embedding"] + g["lm_head"]) * memory.BF16_BYTES
                        + g["norms"] * memory.FP32_BYTES)
    assert b.weights == expected_weights
    assert b.quantization_constants == g["block_linear_weights"] * 0.126953125 / 8
    assert b.gradients == b.optimizer_states == 0
    assert b.adapter_weights == b.adapter_gradients == 2 * n_adapter
    assert b.adapter_optimizer_states == 8 * n_adapter


# ---------------------------------------------------------------------------
# Breakdown container, units and GPUs
# ---------------------------------------------------------------------------


def test_breakdown_total_and_activation_hook():
    b = memory.full_finetune_memory(memory.LLAMA_7B)
    assert tuple(b.as_dict()) == memory.MEMORY_COMPONENTS
    assert b.activations == 0.0
    assert b.total == 16 * memory.parameter_count(memory.LLAMA_7B)
    with_act = dataclasses.replace(b, activations=5 * memory.GB)
    assert with_act.total - b.total == 5 * memory.GB
    assert with_act.total_gb == pytest.approx(b.total_gb + 5)


def test_full_finetune_ordering_full_lora_qlora():
    for shape in (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B):
        full = memory.full_finetune_memory(shape).total
        lora = memory.lora_memory(shape, 64, memory.ALL_LINEAR).total
        qlora = memory.qlora_memory(shape).total
        assert full > lora > qlora


def test_units():
    assert memory.GB == 10**9 and memory.GIB == 2**30 and memory.MIB == 2**20
    assert memory.bytes_to_gb(24e9) == 24


def test_gpu_capacities():
    assert memory.GPU_MEMORY_GB == {
        "RTX 3090": 24, "RTX 4090": 24, "A100 40GB": 40, "RTX A6000": 48, "A100 80GB": 80,
    }
    # nvidia-smi "A100-SXM4-80GB, 81920 MiB" = 80 GiB.
    assert memory.gpu_capacity_bytes("A100 80GB") == 80 * memory.GIB
    for gpu, nominal in memory.GPU_MEMORY_GB.items():
        # Advertised sizes are binary: within 0.1 % below the advertised GiB, never above...
        assert 0.999 * nominal * memory.GIB < memory.gpu_capacity_bytes(gpu) <= nominal * memory.GIB
        # ...so in the book's GB the capacity is above the advertised number.
        assert memory.gpu_capacity_gb(gpu) > nominal
        assert memory.fits_in_gpu(memory.gpu_capacity_bytes(gpu) - 1, gpu)
        assert not memory.fits_in_gpu(memory.gpu_capacity_bytes(gpu), gpu)
    assert memory.gpu_label("RTX 4090") == "RTX 4090, 24 GiB = 25.8 GB"


# ---------------------------------------------------------------------------
# Hyperparameter table
# ---------------------------------------------------------------------------


def test_hyperparameter_table_rows_are_unique():
    names = [row.name for row in hyperparameters.HYPERPARAMETERS]
    assert names and len(set(names)) == len(names)


def test_every_applicable_cell_has_a_resolving_source():
    for row in hyperparameters.HYPERPARAMETERS:
        for regime in hyperparameters.REGIMES:
            cell = row.cell(regime)
            if cell.text == hyperparameters.NOT_APPLICABLE:
                assert cell.source is None and not cell.values, (row.name, regime)
            else:
                assert cell.source in hyperparameters.SOURCES, (row.name, regime, cell.source)
            assert cell.note is None or cell.note in hyperparameters.NOTES


def test_cells_say_what_they_mean():
    """Numbers are numbers (the figures set them), words are words: no "n/a", no
    abbreviations such as "wu", no dashes, and no slash that means "or" or "per"."""
    for row in hyperparameters.HYPERPARAMETERS:
        for regime in hyperparameters.REGIMES:
            cell = row.cell(regime)
            assert bool(cell.values) != bool(cell.text), cell  # numbers, or words
            words = f"{row.name} {cell.text} {cell.unit}"
            for bad in ("n/a", "wu", "/", "\u2014", "\u2013", "const."):
                assert bad not in words.split() and (bad != "/" or "/" not in words), \
                    (row.name, regime, bad)
    for note in hyperparameters.NOTES.values():
        assert "/" not in note.text and note.text.count("{}") == len(note.values)
    assert hyperparameters.NOT_APPLICABLE == "not applicable"
    assert hyperparameters.NOT_STATED == "not stated"


def test_every_source_and_note_is_cited():
    assert set(hyperparameters.cited_sources()) == set(hyperparameters.SOURCES)
    assert set(hyperparameters.cited_notes()) == set(hyperparameters.NOTES)
    for points in hyperparameters.POINTS.values():
        for point in points:
            assert point.source in hyperparameters.SOURCES


def test_published_hyperparameter_values():
    # Spot-check the cells against the sources quoted in hyperparameters.py.
    rows = {row.name: row for row in hyperparameters.HYPERPARAMETERS}
    # BERT App. A.3: LR 5e-5, 3e-5, 2e-5; batch 16, 32; epochs 2, 3, 4.
    assert rows["Learning rate"].full.values == (2e-5, 3e-5, 5e-5)
    assert rows["Batch size"].full.values == (16, 32)
    assert rows["Training length"].full.values == (2, 3, 4)
    # BERT's code: warm-up 10 % (run_classifier.py), clip norm 1.0 (optimization.py).
    assert rows["Warm-up"].full.values == (10,) and rows["Max. gradient norm"].full.values == (1,)
    # LoRA Table 11 and its E2E command: LR 0.0002, r_q = r_v = 4, alpha 32, 500 warm-up steps
    # of 26,289, no clipping.
    assert rows["Learning rate"].lora.values == (2e-4,)
    assert rows["LoRA rank"].lora.values == (4,) and rows["LoRA scaling"].lora.values == (32,)
    assert rows["Warm-up"].lora.values == (500,) and hyperparameters.LORA_TOTAL_STEPS == 26_289
    assert rows["Max. gradient norm"].lora.text == "no clipping"
    # QLoRA App. B: r = 64, alpha = 16, max grad norm 0.3, dropout 0.1 (0.05 for 33B, 65B),
    # LR 2e-4 (1e-4 for 33B, 65B), constant schedule; the scripts: batch 16, 1875 steps.
    assert rows["LoRA rank"].qlora.values == (64,) and rows["LoRA scaling"].qlora.values == (16,)
    assert rows["Max. gradient norm"].qlora.values == (0.3,)
    assert rows["LoRA dropout"].qlora.values == (0.1,)
    assert hyperparameters.NOTES[rows["LoRA dropout"].qlora.note].values == (0.05,)
    assert rows["Learning rate"].qlora.values == (2e-4,)
    assert hyperparameters.NOTES[rows["Learning rate"].qlora.note].values == (1e-4,)
    assert rows["Schedule"].qlora.text == "constant" and rows["Warm-up"].qlora.text == "none"
    assert rows["Batch size"].qlora.values == (16,)
    assert rows["Training length"].qlora.values == (1875,)
    assert rows["Trained weights"].qlora.text == "adapters on all linear layers"
    for row in ("LoRA rank", "LoRA scaling", "LoRA dropout"):
        assert rows[row].full.text == hyperparameters.NOT_APPLICABLE
