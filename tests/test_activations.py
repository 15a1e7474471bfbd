"""Tests for numerics.activations: activation memory after Korthikanti et al. 2022.

Expected values are numbers printed in Korthikanti, Casper, Lym, McAfee, Andersch, Shoeybi,
Catanzaro 2022 (arXiv 2205.05198), cited next to them, or exact arithmetic on the formulas.
"""
from __future__ import annotations

import numpy as np
import pytest

from numerics import activations as act
from numerics import memory as m


def test_worked_numbers_of_section_5():
    # GPT-3: a=96, s=2048, h=12288 -> 5as/h = 80, 70 % saved; MT-NLG: a=128, h=20480 -> 64, 65 %.
    assert act.attention_coefficient(96, 2048, 12288) == 80
    assert act.attention_coefficient(128, 2048, 20480) == 64
    assert round(100 * act.selective_recompute_saving(96, 2048, 12288)) == 70
    assert round(100 * act.selective_recompute_saving(128, 2048, 20480)) == 65
    g = m.GPT3_175B
    assert act.attention_coefficient(g.n_heads, g.context_length, g.d_model) == 80


def test_layer_formula_equals_its_parts():
    # Sec. 4.1: attention 11sbh + 5as^2b, MLP 19sbh, layer norms 4sbh.
    s, b, h, a = 512, 3, 1024, 16
    parts = (11 * s * b * h + 5 * a * s * s * b) + 19 * s * b * h + 4 * s * b * h
    assert act.layer_activation_bytes(s, b, h, a) == parts


@pytest.mark.parametrize("shape", [m.LLAMA_7B, m.LLAMA_33B, m.LLAMA_65B])
def test_checkpointing_terms(shape):
    s, b = 1000, 2
    h, n_layers, v = shape.d_model, shape.n_layers, shape.vocab_size
    terms = act.activation_terms(shape, b, s, checkpointing=True)
    assert terms["checkpoints"] == 2 * s * b * h * n_layers  # Table 2 "full recomputation"
    assert terms["layers"] == act.layer_activation_bytes(s, b, h, shape.n_heads)
    assert terms["embedding_and_head"] == 5 * s * b * h + 4 * s * b * v
    full = act.activation_terms(shape, b, s, checkpointing=False)
    assert full["layers"] == n_layers * terms["layers"] and full["checkpoints"] == 0
    assert act.activation_bytes(shape, b, s, True) == pytest.approx(sum(terms.values()))
    assert act.activation_bytes(shape, b, s, True) < act.activation_bytes(shape, b, s, False)


@pytest.mark.parametrize("checkpointing", [True, False])
def test_activations_linear_in_batch(checkpointing):
    one = act.activation_bytes(m.LLAMA_13B, 1, 700, checkpointing)
    for b in (2, 3, 8):
        assert act.activation_bytes(m.LLAMA_13B, b, 700, checkpointing) == pytest.approx(b * one)


@pytest.mark.parametrize("checkpointing", [True, False])
def test_activations_superlinear_in_seq_len(checkpointing):
    shape, b, s = m.LLAMA_33B, 2, 512

    def f(n):
        return act.activation_bytes(shape, b, n, checkpointing)

    layers_with_s2 = 1 if checkpointing else shape.n_layers
    # Only the attention term 5 a s^2 b is not linear: f(2s) - 2 f(s) = 2 * 5 a b s^2 per layer.
    assert f(2 * s) - 2 * f(s) == pytest.approx(layers_with_s2 * 10 * shape.n_heads * b * s * s)
    lens = np.arange(1, 2049, dtype=float)
    per_token = np.asarray(f(lens)) / lens
    assert np.all(np.diff(per_token) > 0)


def test_activation_bytes_vectorises():
    lens = np.array([1, 100, 2048])
    arr = act.activation_bytes(m.LLAMA_7B, 4, lens)
    assert arr.shape == (3,)
    assert list(arr) == pytest.approx([act.activation_bytes(m.LLAMA_7B, 4, int(n)) for n in lens])
