"""Activation memory of one transformer training step (Korthikanti et al. 2022), used by every
chapter that counts training memory.

Source: Korthikanti, Casper, Lym, McAfee, Andersch, Shoeybi, Catanzaro 2022, "Reducing
Activation Recomputation in Large Transformer Models", arXiv 2205.05198 (MLSys 2023): Sec. 4
(16-bit activations, 1-byte dropout masks, small buffers ignored), Eq. 1 (per layer
``sbh(34 + 5as/h)``), Sec. 4.3 (embedding dropout ``sbh``, last layer norm ``2sbh``, output
layer input ``2sbh``, fp32 logits ``4sbv``), Sec. 5 and Table 2 (full activation
recomputation: ``2sbh`` per layer, ``2sbhL`` in total), Sec. 5 worked numbers for GPT-3
(``5as/h = 80``, 70 % saved by selective recomputation) and MT-NLG (64, 65 %).

Units: bytes everywhere.
"""
from __future__ import annotations

import numpy as np

from numerics.memory import TransformerShape

Lengths = float | np.ndarray
"""A sequence length, or an array of them (results then have the same shape)."""

KORTHIKANTI_LINEAR_COEFF: int = 34
"""Eq. 1 of arXiv 2205.05198: 11 (attention) + 19 (4h GeLU MLP) + 4 (two layer norms),
x sbh bytes."""
KORTHIKANTI_ATTENTION_COEFF: int = 5
"""Eq. 1: softmax output (2) + its dropout mask (1) + dropout output (2), x a s^2 b bytes."""
CHECKPOINT_BYTES_PER_ELEMENT: int = 2
"""Full activation recomputation keeps each layer's 16-bit input: 2sbh per layer (Table 2)."""


def attention_coefficient(n_heads: int, seq_len: float, d_model: int) -> float:
    """The ``5as/h`` term of Eq. 1 (80 for GPT-3, 64 for MT-NLG, Sec. 5)."""
    return KORTHIKANTI_ATTENTION_COEFF * n_heads * seq_len / d_model


def layer_activation_bytes(seq_len: Lengths, batch: int, d_model: int, n_heads: int) -> Lengths:
    """Eq. 1 of arXiv 2205.05198: ``s b h (34 + 5 a s / h)`` bytes for one transformer layer.

    Assumes what the paper assumes (Sec. 3-4): GPT-style layer with LayerNorm, a 2-layer
    MLP of width 4h with GeLU, dropout after attention scores, attention and MLP; 16-bit
    activations, 1-byte dropout masks; no tensor / sequence parallelism; small buffers
    (norm statistics) ignored.  ``seq_len`` may be a numpy array.
    """
    s = np.asarray(seq_len, dtype=float)
    per_element = KORTHIKANTI_LINEAR_COEFF + attention_coefficient(n_heads, s, d_model)
    out = s * batch * d_model * per_element
    return float(out) if out.ndim == 0 else out


def selective_recompute_saving(n_heads: int, seq_len: float, d_model: int) -> float:
    """Share of Eq. 1 removed by selective recomputation: (5as/h) / (34 + 5as/h) (Sec. 5)."""
    c = attention_coefficient(n_heads, seq_len, d_model)
    return c / (KORTHIKANTI_LINEAR_COEFF + c)


def activation_terms(
    shape: TransformerShape, batch: int, seq_len: Lengths, checkpointing: bool = True
) -> dict[str, Lengths]:
    """Activation bytes of one training step, by term (floats, or arrays shaped like ``seq_len``).

    * ``layers`` -- without checkpointing, Eq. 1 for all ``L`` layers; with full activation
      checkpointing, one layer's Eq. 1 activations, alive while that layer is recomputed for
      its backward pass (the peak; the paper's ``2sbhL`` counts only what is stored).
    * ``checkpoints`` -- with checkpointing, every layer's 16-bit input, ``2sbhL`` (Sec. 5,
      Table 2); 0 without.
    * ``embedding_and_head`` -- Sec. 4.3 with p = t = 1: embedding dropout ``sbh``, last norm
      ``2sbh``, output-layer input ``2sbh``, fp32 logits ``4sbv``; total ``5sbh + 4sbv``.
      The paper calls these negligible next to Eq. 5; next to ``2sbhL`` they are not (for
      LLaMA-33B they are 9 % of the checkpointed total at s = 2048), so we keep them.

    The formula is used **as published**, with h = ``d_model``, a = ``n_heads``, v =
    ``vocab_size``.  LLaMA differs from the GPT layer it was derived for: no dropout,
    RMSNorm, SwiGLU MLP of width ``d_ffn`` (11008 = 2.6875 h for 7B) instead of 4h GeLU.  We
    do not re-derive the coefficients for it -- what is saved depends on the implementation
    (autograd, attention kernel) -- so the absolute numbers are an estimate of the right
    order, not a measurement.  LoRA's own activations (adapter inputs, LoRA dropout masks)
    and the bf16 copy of each dequantized NF4 weight are not counted.
    """
    h, a, L, v = shape.d_model, shape.n_heads, shape.n_layers, shape.vocab_size
    s = np.asarray(seq_len, dtype=float)
    one_layer = np.asarray(layer_activation_bytes(s, batch, h, a))
    if checkpointing:
        layers, checkpoints = one_layer, CHECKPOINT_BYTES_PER_ELEMENT * s * batch * h * L
    else:
        layers, checkpoints = L * one_layer, np.zeros_like(s)
    head = 5 * s * batch * h + 4 * s * batch * v
    terms = {"layers": layers, "checkpoints": checkpoints, "embedding_and_head": head}
    return {k: (float(x) if np.ndim(x) == 0 else x) for k, x in terms.items()}


def activation_bytes(
    shape: TransformerShape, batch: int, seq_len: Lengths, checkpointing: bool = True
) -> Lengths:
    """Activation memory of one training step in bytes (sum of :func:`activation_terms`).

    With ``checkpointing`` (QLoRA trains with gradient checkpointing, Sec. 5.1 and the
    released scripts): ``2sbhL + sbh(34 + 5as/h) + 5sbh + 4sbv``.  Without:
    ``L sbh(34 + 5as/h) + 5sbh + 4sbv``.  Linear in ``batch``; in ``seq_len`` linear plus
    the quadratic attention term ``5 a s^2 b`` (once with checkpointing, L times without).
    """
    terms = activation_terms(shape, batch, seq_len, checkpointing)
    total = sum(np.asarray(x, dtype=float) for x in terms.values())
    return float(total) if np.ndim(total) == 0 else total
