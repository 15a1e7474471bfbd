"""Tests for published.lora and numerics.lora.costs against numbers printed in the papers.

Every expected value is either printed in a paper (cited next to it) or exact arithmetic
done by hand in the comment.
"""

from __future__ import annotations

import math
import re

import pytest

from numerics import memory as m
from numerics.lora import costs
from published import lora as published

# ---------------------------------------------------------------------------
# 1. Module selection, LoRA Table 5
# ---------------------------------------------------------------------------


def test_table_5_values():
    # LoRA arXiv 2106.09685 Table 5, columns Wq, Wk, Wv, Wo, (Wq,Wk), (Wq,Wv), all four.
    rows = [(r.weight_types, r.rank, r.wikisql, r.multinli) for r in published.MODULE_SELECTION]
    assert rows == [
        (("q",), 8, 70.4, 91.0),
        (("k",), 8, 70.0, 90.8),
        (("v",), 8, 73.0, 91.0),
        (("o",), 8, 73.2, 91.3),
        (("q", "k"), 4, 71.4, 91.3),
        (("q", "v"), 4, 73.7, 91.3),
        (("q", "k", "v", "o"), 2, 73.7, 91.7),
    ]
    assert (published.WIKISQL_SEED_STD_PCT, published.MULTINLI_SEED_STD_PCT) == (0.5, 0.1)


def test_table_5_budget_is_the_same_on_gpt3():
    counts = costs.module_selection_parameters(m.GPT3_175B)
    # 96 layers x 8 x (12288 + 12288) = 18,874,368 for every column.
    assert set(counts.values()) == {18_874_368}
    assert set(counts.values()) == {m.lora_parameters(m.GPT3_175B, 4, ("q", "v"))}
    # Sec. 7.1: "18M (roughly 35MB if stored in FP16)": 37.7e6 bytes = 36.0 MiB.
    assert round(18_874_368 / 1e6) == 19 and math.floor(18_874_368 / 1e6) == 18
    assert 18_874_368 * 2 / m.MIB == 36.0
    assert list(counts) == ["Wq", "Wk", "Wv", "Wo", "Wq, Wk", "Wq, Wv", "Wq, Wk, Wv, Wo"]


def test_table_5_budget_on_llama_7b():
    # 32 layers x 8 x (4096 + 4096) = 2,097,152; all attention matrices are square.
    assert set(costs.module_selection_parameters(m.LLAMA_7B).values()) == {2_097_152}


def test_best_columns_are_the_ones_the_paper_names():
    # Table 5 caption: "Adapting both Wq and Wv gives the best performance overall."
    best_wikisql = max(r.wikisql for r in published.MODULE_SELECTION)
    assert {r.label for r in published.MODULE_SELECTION if r.wikisql == best_wikisql} == {
        "Wq, Wv",
        "Wq, Wk, Wv, Wo",
    }


# ---------------------------------------------------------------------------
# 2. Latency, LoRA Table 1, and operation counts
# ---------------------------------------------------------------------------


def test_table_1_values():
    settings = [
        (s.batch_size, s.sequence_length, s.adapter_parameters) for s in published.LATENCY_SETTINGS
    ]
    assert settings == [(32, 512, 0.5e6), (16, 256, 11e6), (1, 128, 11e6)]
    base, lin, houlsby = published.INFERENCE_LATENCY
    assert (base.method, base.mean_ms, base.std_ms) == (
        "Fine-Tune/LoRA",
        (1449.4, 338.0, 19.8),
        (0.8, 0.6, 2.7),
    )
    assert (lin.mean_ms, lin.std_ms, lin.increase_pct) == (
        (1482.0, 354.8, 23.9),
        (1.0, 0.5, 2.1),
        (2.2, 5.0, 20.7),
    )
    assert (houlsby.mean_ms, houlsby.std_ms, houlsby.increase_pct) == (
        (1492.2, 366.3, 25.8),
        (1.0, 0.5, 2.2),
        (3.0, 8.4, 30.3),
    )
    assert published.LATENCY_MODEL is m.GPT2_MEDIUM
    assert (published.LATENCY_GPU, published.LATENCY_TRIALS) == ("NVIDIA Quadro RTX8000", 100)


@pytest.mark.parametrize("row", published.INFERENCE_LATENCY[1:], ids=lambda r: r.method)
def test_table_1_printed_increases_follow_from_the_latencies(row):
    computed = costs.latency_increase_pct(row)
    assert tuple(round(x, 1) for x in computed) == row.increase_pct


def test_latency_slowdown_grows_as_batch_and_sequence_shrink():
    for row in published.INFERENCE_LATENCY[1:]:
        inc = costs.latency_increase_pct(row)
        assert inc[0] < inc[1] < inc[2]
    # App. B: "as high as over 30%": Adapter^H at batch 1, length 128.
    assert (
        costs.latency_increase_pct(published.INFERENCE_LATENCY[2])[2]
        > published.LATENCY_MAX_SLOWDOWN_PCT
    )


TINY = m.TransformerShape(
    name="tiny",
    vocab_size=10,
    d_model=8,
    n_layers=2,
    n_heads=2,
    d_ffn=32,
    context_length=16,
    gated_ffn=False,
    tied_embeddings=True,
    linear_bias=True,
    norm_has_bias=True,
    learned_positions=True,
)


def test_lora_unmerged_counts_on_tiny_shape():
    # Per 8x8 matrix, r = 2: A x = 2*8 MACs, B(Ax) = 8*2 MACs -> 32 MACs;
    # scaling 8 + add 8 = 16 element-wise FLOPs.  Two matrices (q, v), two layers.
    c = costs.extra_compute_per_token(TINY, "lora_unmerged", 2, ("q", "v"))
    assert (c.macs, c.elementwise_flops, c.serial_layers, c.extra_matmuls) == (128, 64, 0, 8)
    assert c.flops == 2 * 128 + 64 == 320
    assert costs.extra_flops_per_token(TINY, "lora_unmerged", 2) == 320  # default targets q, v


def test_lora_unmerged_on_a_rectangular_matrix():
    # fc is 32 x 8: r = 2 -> 2*(8 + 32) = 80 MACs, 2*32 = 64 element-wise, per layer.
    c = costs.extra_compute_per_token(TINY, "lora_unmerged", 2, ("fc",))
    assert (c.macs, c.elementwise_flops, c.extra_matmuls) == (2 * 80, 2 * 64, 4)


def test_lora_merged_adds_nothing():
    c = costs.extra_compute_per_token(TINY, "lora_merged", 8, "all linear")
    assert (c.flops, c.serial_layers, c.extra_matmuls) == (0, 0, 0)


def test_adapter_counts_on_tiny_shape():
    # One adapter, m = 4, d = 8: down 4*8 + up 8*4 = 64 MACs; biases 4 + 8, residual 8 -> 20.
    h = costs.extra_compute_per_token(TINY, "adapter_houlsby", 4)
    assert (h.macs, h.elementwise_flops, h.serial_layers, h.extra_matmuls) == (4 * 64, 4 * 20, 4, 8)
    assert h.flops == 4 * (128 + 20) == 592
    lin = costs.extra_compute_per_token(TINY, "adapter_lin", 4)
    assert (lin.flops, lin.serial_layers) == (296, 2)
    with pytest.raises(ValueError):
        costs.extra_compute_per_token(TINY, "adapter_lin", 4, ("q",))
    with pytest.raises(ValueError):
        costs.extra_compute_per_token(TINY, "prefix", 4)  # type: ignore[arg-type]


def test_base_flops_on_tiny_shape():
    # Block weights 4*64 + 2*8*32 = 768 MACs; attention 2*4*8 = 64 MACs (T = 4 keys);
    # head 8*10 = 80 MACs.  2 * (2*(768 + 64) + 80) = 3488.
    assert costs.base_flops_per_token(TINY, 4) == 3488
    # Kaplan: 2N + 2 n_layer n_ctx d = 2*1536 + 2*2*4*8 = 3200.
    assert costs.kaplan_forward_flops_per_token(TINY, 4) == 3200


def test_base_flops_is_about_twice_the_parameters():
    # Without attention, base FLOPs are 2 x (block linear weights + head weights).
    for shape in (m.GPT2_MEDIUM, m.LLAMA_7B):
        g = m.parameter_groups(shape)
        head = shape.vocab_size * shape.d_model
        assert costs.base_flops_per_token(shape, 0) == 2 * (g["block_linear_weights"] + head)
    # LLaMA-7B: 2 x 6.607e9 = 13.2 GFLOPs per token, 1.96 x the 6.74e9 parameters.
    ratio = costs.base_flops_per_token(m.LLAMA_7B, 0) / m.parameter_count(m.LLAMA_7B)
    assert 1.9 < ratio < 2.0


def test_percent_extra_compute_on_real_models():
    # LoRA r = 8 on q, v of LLaMA-7B: 32 * 2 * (2*8*8192 + 2*4096) = 8,912,896 FLOPs.
    assert costs.extra_flops_per_token(m.LLAMA_7B, "lora_unmerged", 8, ("q", "v")) == 8_912_896
    pct = costs.extra_compute_pct(m.LLAMA_7B, "lora_unmerged", 8, 1024, ("q", "v"))
    assert 0.06 < pct < 0.07
    assert costs.extra_compute_pct(m.LLAMA_7B, "lora_merged", 8, 1024) == 0.0
    # Houlsby adapters on GPT-2 medium, m = 64: 48 adapters x (2*2*64*1024 + 64 + 2048).
    assert costs.extra_flops_per_token(m.GPT2_MEDIUM, "adapter_houlsby", 64) == 48 * (
        262_144 + 2_112
    )
    assert costs.extra_compute_pct(
        m.GPT2_MEDIUM, "adapter_houlsby", 64, 128
    ) > costs.extra_compute_pct(m.GPT2_MEDIUM, "adapter_lin", 64, 128)


def test_adapter_parameter_formula():
    # LoRA Sec. 5.1 on the tiny shape: Adapter^H, r = 4: 4 adapters x (2*8*4 + 4 + 8) = 304.
    assert costs.adapter_parameters(TINY, "adapter_houlsby", 4) == 304
    # Adapter^L: 2 adapters x 76 + 2 x 2 LayerNorms x 8 = 184.
    assert costs.adapter_parameters(TINY, "adapter_lin", 4) == 184
    # LoRA Table 3 prints GPT-2 M (Adapter^L) at 0.37M and 11.09M (from Lin et al.).
    # Bottlenecks 6 and 224 reproduce both to the printed precision (our inference;
    # the paper does not state them): 368,784 and 11,089,152.
    assert costs.adapter_parameters(m.GPT2_MEDIUM, "adapter_lin", 6) == 368_784
    assert costs.adapter_parameters(m.GPT2_MEDIUM, "adapter_lin", 224) == 11_089_152
    assert round(368_784 / 1e6, 2) == 0.37 and round(11_089_152 / 1e6, 2) == 11.09


# ---------------------------------------------------------------------------
# 3. LoRA variants
# ---------------------------------------------------------------------------


def test_variant_formulas_on_a_hand_example():
    # d_out = 6, d_in = 4, r = 2.
    counts = {v.name: costs.matrix_parameters(v, 6, 4, 2) for v in published.VARIANTS}
    assert counts == {
        "LoRA": 20,  # 2*(6 + 4)
        "QLoRA": 20,  # same adapters
        "DoRA": 26,  # + 6 magnitudes, one per output feature
        "AdaLoRA": 22,  # + 2 singular values
        "LoRA+": 20,  # only learning rates differ
        "VeRA": 8,  # b (6) + d (2)
    }


def test_variants_on_llama_7b_q_proj():
    layer = costs.EXAMPLE_LAYER
    assert (layer.module, layer.d_out, layer.d_in) == ("self_attn.q_proj", 4096, 4096)
    assert costs.variant_parameters(layer, 16) == {
        "LoRA": 131_072,
        "QLoRA": 131_072,
        "DoRA": 135_168,
        "AdaLoRA": 131_088,
        "LoRA+": 131_072,
        "VeRA": 4_112,
    }
    assert costs.variant_parameters(layer, 8)["LoRA"] == 65_536


def test_adalora_starts_at_one_and_a_half_times_the_final_rank():
    # AdaLoRA Sec. 3.3: b(0) "e.g., 1.5 times" b(T); PEFT's defaults init_r = 12, target_r = 8.
    v = published.VARIANTS_BY_NAME
    assert costs.allocated_rank(v["AdaLoRA"], 8) == 12
    assert costs.allocated_rank(v["AdaLoRA"], 64) == 96
    assert costs.allocated_rank(v["AdaLoRA"], 5) == 8          # rounded up: 7.5 -> 8
    assert all(costs.allocated_rank(v[name], 64) == 64
               for name in ("LoRA", "QLoRA", "DoRA", "LoRA+", "VeRA"))


def test_variant_memory_is_the_books_one_accounting():
    v = published.VARIANTS_BY_NAME
    shape, targets = m.LLAMA_7B, m.ALL_LINEAR
    lora = costs.variant_memory(shape, v["LoRA"], 64, targets)
    assert lora == m.lora_memory(shape, 64, targets)
    assert costs.variant_memory(shape, v["QLoRA"], 64, targets) == m.qlora_memory(
        shape, 64, targets, adapter_recipe=m.MIXED_PRECISION_ADAM)
    plus = costs.variant_memory(shape, v["LoRA+"], 64, targets)
    assert plus.total == lora.total and plus.method != lora.method
    dora = costs.variant_memory(shape, v["DoRA"], 64, targets)
    # 32 blocks x (4 x 4096 + 2 x 11008 + 4096) magnitudes, 16 bytes each
    assert dora.total - lora.total == 16 * 32 * 42_496
    ada = costs.variant_memory(shape, v["AdaLoRA"], 64, targets)
    n = costs.model_variant_parameters(shape, v["AdaLoRA"], 96, targets)
    assert ada.adapter_weights + ada.adapter_gradients + ada.adapter_optimizer_states == 16 * n
    assert ada.weights == lora.weights == 2 * m.parameter_count(shape)


def test_variant_rows_are_drawable_in_tex():
    assert [v.name for v in published.VARIANTS] == [
        "LoRA",
        "QLoRA",
        "DoRA",
        "AdaLoRA",
        "LoRA+",
        "VeRA",
    ]
    for v in published.VARIANTS:
        for text in (v.key_idea, v.formula, v.citation):
            assert text.isascii() and not set(text) & set("_<>|{}\\$%&#^~")
        assert len(v.key_idea) <= 60
        assert re.fullmatch(r"\d{4}\.\d{5}", v.arxiv)
        assert re.fullmatch(r"[A-Z][a-z]+ et al\. 20\d\d", v.citation)
    assert published.VARIANTS_BY_NAME["LoRA"].citation == "Hu et al. 2021"
    assert published.LORA_PLUS_LR_RATIO == 16
    assert published.ADALORA_INITIAL_BUDGET_FACTOR == 1.5


# DoRA arXiv 2402.09353 Table 1 "#Params (%)", with Table 8's configuration: rank 32
# (DoRA, LoRA) or 16 (DoRA-dagger, rank halved) on Q, K, V, Up, Down.
DORA_TABLE_1 = [
    (m.LLAMA_7B, "LoRA", 32, 0.83),
    (m.LLAMA_7B, "DoRA", 16, 0.43),
    (m.LLAMA_7B, "DoRA", 32, 0.84),
    (m.LLAMA_13B, "LoRA", 32, 0.67),
    (m.LLAMA_13B, "DoRA", 16, 0.35),
    (m.LLAMA_13B, "DoRA", 32, 0.68),
]


@pytest.mark.parametrize(("shape", "method", "rank", "printed"), DORA_TABLE_1)
def test_dora_table_1_trainable_percent(shape, method, rank, printed):
    n = costs.model_variant_parameters(
        shape, published.VARIANTS_BY_NAME[method], rank, ("q", "k", "v", "up", "down")
    )
    assert round(costs.trainable_percent(shape, n), 2) == printed


def test_dora_magnitude_is_the_papers_0_01_percent():
    # DoRA Sec. 5.1: "marginal increase of 0.01%" from the magnitude (LLaMA-7B, rank 32).
    t = ("q", "k", "v", "up", "down")
    lora = costs.model_variant_parameters(m.LLAMA_7B, published.VARIANTS_BY_NAME["LoRA"], 32, t)
    dora = costs.model_variant_parameters(m.LLAMA_7B, published.VARIANTS_BY_NAME["DoRA"], 32, t)
    assert (lora, dora) == (56_098_816, 56_975_360)
    # Out-features and in-features magnitudes give the same total here: up and down are
    # transposes of each other, q, k, v square (32 x (3*4096 + 11008 + 4096) = 876,544).
    assert dora - lora == 876_544
    assert (
        round(
            costs.trainable_percent(m.LLAMA_7B, dora) - costs.trainable_percent(m.LLAMA_7B, lora), 2
        )
        == 0.01
    )
    # The convention matters: trainable / base alone would print 0.85 for DoRA.
    assert round(100 * dora / m.parameter_count(m.LLAMA_7B), 2) == 0.85


def test_vera_and_dvora_in_dora_table_5():
    # DoRA Table 5 (LLaMA-7B, Alpaca): VeRA 0.02 %, DVoRA 0.04 %; Table 11: rank 1024 on
    # Q, K, V, O, Up, Down, Gate, with VeRA in "identical training settings".
    vera = costs.model_variant_parameters(
        m.LLAMA_7B, published.VARIANTS_BY_NAME["VeRA"], 1024, "all linear"
    )
    # Per block: outputs 4*4096 + 2*11008 + 4096 = 42,496 plus 7 * 1024 = 7,168.
    assert vera == 32 * (42_496 + 7_168) == 1_589_248
    assert round(costs.trainable_percent(m.LLAMA_7B, vera), 2) == 0.02
    dvora = vera + 32 * 42_496  # DoRA magnitudes on the same seven matrices
    assert round(costs.trainable_percent(m.LLAMA_7B, dvora), 2) == 0.04


# ---------------------------------------------------------------------------
# 4. The headline reduction
# ---------------------------------------------------------------------------


def test_headline_reduction_is_of_order_10000():
    h = costs.headline_reduction()
    assert (h.full_parameters, h.lora_parameters) == (174_604_259_328, 18_874_368)
    assert h.parameter_ratio == pytest.approx(9_250.8665, abs=1e-4)
    assert (
        round(math.log10(h.parameter_ratio))
        == round(math.log10(published.PAPER_PARAMETER_REDUCTION))
        == 4
    )
    # With the paper's own count (Table 4, 175,255.8M) the ratio is 9,285.4.
    assert published.PAPER_GPT3_FT_TRAINABLE / h.lora_parameters == pytest.approx(9_285.4, abs=0.05)
    # Sec. 2: |Theta| "as small as 0.01% of |Phi_0|": 0.0108 %.
    assert round(100 * h.lora_parameters / h.full_parameters, 2) == 0.01


def test_headline_checkpoints():
    h = costs.headline_reduction()
    # Sec. 4.2: "from 350GB to 35MB": 349.2 GB and 37.7 MB (36.0 MiB) in FP16.
    assert round(h.full_checkpoint_bytes / m.GB, 1) == 349.2
    assert round(h.lora_checkpoint_bytes / 1e6, 1) == 37.7
    assert h.lora_checkpoint_bytes / m.MIB == 36.0
    full_pub, lora_pub = published.PAPER_CHECKPOINT_BYTES
    assert round(full_pub / h.full_checkpoint_bytes, 2) == 1.0
    assert full_pub / lora_pub == 10_000
    # Sec. 4.2: VRAM 1.2TB -> 350GB, the abstract's "3 times" (3.43).
    vram_full, vram_lora = published.PAPER_TRAINING_VRAM_BYTES
    assert math.floor(vram_full / vram_lora) == published.PAPER_GPU_MEMORY_REDUCTION
