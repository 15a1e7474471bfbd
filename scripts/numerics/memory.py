"""Transformer shapes, parameter counts and training-memory byte accounting.

What this module models
-----------------------
*Model states* only: weights, gradients, optimizer states, LoRA adapters and
(for QLoRA) 4-bit storage plus quantization constants.  **Activations are not
modelled** -- they depend on batch size, sequence length and checkpointing.
Every :class:`MemoryBreakdown` carries an ``activations`` field fixed at 0.0 so
that a later topic can fill it in (``dataclasses.replace(b, activations=...)``)
without changing any caller.  Temporary buffers, CUDA context and allocator
fragmentation (ZeRO's "residual states", arXiv 1910.02054 Sec. 3.2) are not
modelled either.

Units
-----
All byte counts are plain bytes.  **GB means 10**9 bytes everywhere** (``GB``);
``GIB`` (2**30) and ``MIB`` (2**20) exist only to convert numbers that were
published in binary units (nvidia-smi reports MiB).  The decimal choice matches
the papers we reproduce: ZeRO's "24 GB" is exactly 16 B x 1.5e9 parameters, the
LoRA paper's "350GB" is 2 B x 175e9, QLoRA's "780GB" is 12 B x 65e9.

Sources (every published number used here, and where it comes from)
--------------------------------------------------------------------
* LLaMA: Touvron et al. 2023, arXiv 2302.13971, Table 2 (params 6.7B / 13.0B /
  32.5B / 65.2B, dimension 4096 / 5120 / 6656 / 8192, heads 32 / 40 / 52 / 64,
  layers 32 / 40 / 60 / 80); Sec. 2.2 (pre-norm RMSNorm, SwiGLU with hidden size
  2/3 * 4d, rotary embeddings).  FFN sizes 11008 / 13824 / 17920 / 22016 are the
  released configs (``intermediate_size`` in the Hugging Face conversions; the
  reference code rounds int(2/3 * 4d) up to a multiple of 256).  Vocab 32000.
* GPT-2: Radford et al. 2019 (vocab 50257, context 1024); exact Hugging Face
  counts 124,439,808 / 354,823,168 / 774,030,080 / 1,557,611,200.
* GPT-3: Brown et al. 2020, arXiv 2005.14165, Table 2.1 (175.0B, 96 layers,
  d_model 12288, 96 heads, d_head 128), Sec. 2.1 (d_ff = 4 d_model,
  n_ctx = 2048, "same model and architecture as GPT-2").
* LoRA: Hu et al. 2021, arXiv 2106.09685, Sec. 5.1 (|Theta| = 2 L d_model r),
  Table 4 / App. D.4 (4.7M and 37.7M budgets), Sec. 7.1 / Table 5 (18M budget).
* ZeRO: Rajbhandari et al. 2019, arXiv 1910.02054, Sec. 3.1 (2 + 2 + K bytes,
  K = 12, "1.5 Billion parameters ... at least 24 GB"), Fig. 1 (7.5B example).
* QLoRA: Dettmers et al. 2023, arXiv 2305.14314, Sec. 3 (NF4, block size 64,
  double quantization 8/64 + 32/(64*256) = 0.127 bits), Eq. 5 (BF16 adapters),
  Sec. 1 (">780GB" in 16-bit vs "<48GB"); storage details of the released code
  (artidoro/qlora ``qlora.py``: LoRA layers cast to bf16, norms to fp32,
  ``optim='paged_adamw_32bit'``, LoRA on every ``Linear4bit`` except lm_head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

# ---------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------

GB: int = 10**9
"""Decimal gigabyte; the only "GB" used in this module."""
GIB: int = 2**30
"""Binary gibibyte, only for converting numbers published in binary units."""
MIB: int = 2**20
"""Binary mebibyte (nvidia-smi reports GPU memory in MiB)."""


def bytes_to_gb(n_bytes: float) -> float:
    """Convert bytes to decimal GB (1 GB = 1e9 bytes)."""
    return n_bytes / GB


# ---------------------------------------------------------------------------
# Architectures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TransformerShape:
    """Exact shape of a pre-norm decoder-only transformer.

    ``gated_ffn`` selects SwiGLU (gate, up, down) instead of a 2-matrix MLP.
    ``norm_has_bias`` is True for LayerNorm (weight + bias), False for RMSNorm
    (weight only).  ``learned_positions`` is True when the model has a learned
    position table of ``context_length`` rows (GPT-2/3); rotary models have none.
    """

    name: str
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ffn: int
    context_length: int
    gated_ffn: bool
    tied_embeddings: bool
    linear_bias: bool
    norm_has_bias: bool
    learned_positions: bool

    @property
    def d_head(self) -> int:
        """Per-head dimension d_model / n_heads."""
        return self.d_model // self.n_heads


def _llama(name: str, d_model: int, n_heads: int, n_layers: int, d_ffn: int) -> TransformerShape:
    """LLaMA-1 block: RMSNorm (weight only), SwiGLU, no biases, untied head."""
    return TransformerShape(
        name=name, vocab_size=32000, d_model=d_model, n_layers=n_layers,
        n_heads=n_heads, d_ffn=d_ffn, context_length=2048, gated_ffn=True,
        tied_embeddings=False, linear_bias=False, norm_has_bias=False,
        learned_positions=False,
    )


def _gpt(name: str, d_model: int, n_heads: int, n_layers: int, context: int) -> TransformerShape:
    """GPT-2-style block: LayerNorm with bias, biased linears, 4x MLP, tied head."""
    return TransformerShape(
        name=name, vocab_size=50257, d_model=d_model, n_layers=n_layers,
        n_heads=n_heads, d_ffn=4 * d_model, context_length=context, gated_ffn=False,
        tied_embeddings=True, linear_bias=True, norm_has_bias=True,
        learned_positions=True,
    )


# LLaMA-1, arXiv 2302.13971 Table 2; FFN sizes from the released configs.
LLAMA_7B = _llama("LLaMA-7B", d_model=4096, n_heads=32, n_layers=32, d_ffn=11008)
LLAMA_13B = _llama("LLaMA-13B", d_model=5120, n_heads=40, n_layers=40, d_ffn=13824)
LLAMA_33B = _llama("LLaMA-33B", d_model=6656, n_heads=52, n_layers=60, d_ffn=17920)
LLAMA_65B = _llama("LLaMA-65B", d_model=8192, n_heads=64, n_layers=80, d_ffn=22016)

# GPT-2 (Hugging Face gpt2, gpt2-medium, gpt2-large, gpt2-xl).
GPT2_SMALL = _gpt("GPT-2 small", d_model=768, n_heads=12, n_layers=12, context=1024)
GPT2_MEDIUM = _gpt("GPT-2 medium", d_model=1024, n_heads=16, n_layers=24, context=1024)
GPT2_LARGE = _gpt("GPT-2 large", d_model=1280, n_heads=20, n_layers=36, context=1024)
GPT2_XL = _gpt("GPT-2 XL", d_model=1600, n_heads=25, n_layers=48, context=1024)

# GPT-3 175B, arXiv 2005.14165 Table 2.1 and Sec. 2.1.  The paper gives no
# vocabulary size; we assume GPT-2's 50257-token BPE ("reversible tokenization
# described therein") and GPT-2's tied embeddings.  Sparse attention layers
# have the same weight shapes as dense ones.
GPT3_175B = _gpt("GPT-3 175B", d_model=12288, n_heads=96, n_layers=96, context=2048)

SHAPES: dict[str, TransformerShape] = {
    s.name: s
    for s in (LLAMA_7B, LLAMA_13B, LLAMA_33B, LLAMA_65B,
              GPT2_SMALL, GPT2_MEDIUM, GPT2_LARGE, GPT2_XL, GPT3_175B)
}


@dataclass(frozen=True)
class LinearLayer:
    """One weight matrix of a transformer block, y = W x (+ b), W in R^{d_out x d_in}.

    ``name`` is the logical matrix type used for LoRA targets (q, k, v, o,
    gate, up, down; GPT-style fc, proj).  ``module`` is the module that stores
    it in the released checkpoint; GPT-2/3 keep q, k and v as three slices of
    one fused ``attn.c_attn`` matrix.
    """

    name: str
    module: str
    d_out: int
    d_in: int
    bias: bool

    @property
    def n_weights(self) -> int:
        """Number of entries of W (bias excluded)."""
        return self.d_out * self.d_in


def linear_layers(shape: TransformerShape) -> tuple[LinearLayer, ...]:
    """Every weight matrix of one transformer block, with its (d_out, d_in)."""
    d, f, b = shape.d_model, shape.d_ffn, shape.linear_bias
    if shape.gated_ffn:  # LLaMA naming (Hugging Face LlamaForCausalLM)
        return (
            LinearLayer("q", "self_attn.q_proj", d, d, b),
            LinearLayer("k", "self_attn.k_proj", d, d, b),
            LinearLayer("v", "self_attn.v_proj", d, d, b),
            LinearLayer("o", "self_attn.o_proj", d, d, b),
            LinearLayer("gate", "mlp.gate_proj", f, d, b),
            LinearLayer("up", "mlp.up_proj", f, d, b),
            LinearLayer("down", "mlp.down_proj", d, f, b),
        )
    return (  # GPT-2 naming (Hugging Face GPT2LMHeadModel)
        LinearLayer("q", "attn.c_attn", d, d, b),
        LinearLayer("k", "attn.c_attn", d, d, b),
        LinearLayer("v", "attn.c_attn", d, d, b),
        LinearLayer("o", "attn.c_proj", d, d, b),
        LinearLayer("fc", "mlp.c_fc", f, d, b),
        LinearLayer("proj", "mlp.c_proj", d, f, b),
    )


def parameter_groups(shape: TransformerShape) -> dict[str, int]:
    """Parameter count of the whole model, split into storage groups.

    Groups: ``token_embedding``, ``position_embedding``, ``block_linear_weights``
    (the matrices QLoRA quantizes), ``block_linear_biases``, ``norms`` (two per
    block plus the final one) and ``lm_head`` (0 when tied to the embedding).
    """
    layers = linear_layers(shape)
    per_norm = 2 * shape.d_model if shape.norm_has_bias else shape.d_model
    embedding = shape.vocab_size * shape.d_model
    return {
        "token_embedding": embedding,
        "position_embedding": (shape.context_length * shape.d_model
                               if shape.learned_positions else 0),
        "block_linear_weights": shape.n_layers * sum(m.n_weights for m in layers),
        "block_linear_biases": shape.n_layers * sum(m.d_out for m in layers if m.bias),
        "norms": (2 * shape.n_layers + 1) * per_norm,
        "lm_head": 0 if shape.tied_embeddings else embedding,
    }


def parameter_count(shape: TransformerShape) -> int:
    """Total number of parameters of the model (tied weights counted once)."""
    return sum(parameter_groups(shape).values())


# ---------------------------------------------------------------------------
# LoRA trainable parameters
# ---------------------------------------------------------------------------

ALL_LINEAR: Literal["all linear"] = "all linear"
"""LoRA target meaning "every linear layer of every block" (lm_head excluded,
as in QLoRA's ``find_all_linear_names``)."""

LoraTargets = Sequence[str] | Literal["all linear"]


def lora_target_layers(shape: TransformerShape, targets: LoraTargets) -> tuple[LinearLayer, ...]:
    """The block matrices adapted by LoRA for the given logical target names."""
    layers = linear_layers(shape)
    if isinstance(targets, str):
        if targets != ALL_LINEAR:
            raise ValueError(f"targets must be a sequence of names or {ALL_LINEAR!r}, "
                             f"got {targets!r}")
        return layers
    wanted = set(targets)
    known = {m.name for m in layers}
    if wanted - known:
        raise ValueError(f"unknown LoRA targets {sorted(wanted - known)} for {shape.name}; "
                         f"known: {sorted(known)}")
    return tuple(m for m in layers if m.name in wanted)


def lora_parameters_per_matrix(layer: LinearLayer, rank: int) -> int:
    """LoRA adds B (d_out x r) and A (r x d_in): r * (d_in + d_out) parameters."""
    return rank * (layer.d_in + layer.d_out)


def lora_parameters(shape: TransformerShape, rank: int, targets: LoraTargets) -> int:
    """Trainable LoRA parameters over all blocks.

    ``targets`` are logical names (e.g. ``("q", "v")``) or ``"all linear"``.
    For GPT-style fused ``c_attn`` this counts q, k, v as separate d x d
    matrices, which is how the LoRA paper counts GPT-3 (Sec. 4.2: "We treat W_q
    (or W_k, W_v) as a single matrix of dimension d_model x d_model"); a PEFT
    adapter on the whole fused module would instead cost r * (d + 3d).
    """
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}")
    per_block = sum(lora_parameters_per_matrix(m, rank) for m in lora_target_layers(shape, targets))
    return shape.n_layers * per_block


# ---------------------------------------------------------------------------
# Bytes per parameter: storage formats and optimizer recipes
# ---------------------------------------------------------------------------

FP32_BYTES: int = 4
FP16_BYTES: int = 2
BF16_BYTES: int = 2

# Adam optimizer states kept by mixed-precision training, ZeRO Sec. 3.1:
# "an fp32 copy of the parameters, momentum and variance, with memory
# requirements of 4Psi, 4Psi, and 4Psi bytes".
ADAM_FP32_MASTER_BYTES: int = FP32_BYTES
ADAM_MOMENTUM_BYTES: int = FP32_BYTES
ADAM_VARIANCE_BYTES: int = FP32_BYTES
ZERO_ADAM_K: int = ADAM_FP32_MASTER_BYTES + ADAM_MOMENTUM_BYTES + ADAM_VARIANCE_BYTES
"""ZeRO's optimizer-state multiplier K for mixed-precision Adam (= 12)."""


@dataclass(frozen=True)
class TrainingRecipe:
    """Bytes per *trainable* parameter for its weight, gradient and optimizer states."""

    name: str
    weight_bytes: float
    gradient_bytes: float
    optimizer_bytes: float

    @property
    def bytes_per_param(self) -> float:
        """Total bytes per trainable parameter."""
        return self.weight_bytes + self.gradient_bytes + self.optimizer_bytes


MIXED_PRECISION_ADAM = TrainingRecipe(
    "mixed-precision Adam (ZeRO Sec. 3.1)",
    weight_bytes=FP16_BYTES, gradient_bytes=FP16_BYTES, optimizer_bytes=ZERO_ADAM_K,
)
"""2 + 2 + 12 = 16 bytes per parameter (arXiv 1910.02054 Sec. 3.1)."""

BF16_ADAM_FP32_MOMENTS = TrainingRecipe(
    "16-bit weights and gradients, fp32 Adam moments, no fp32 master copy",
    weight_bytes=BF16_BYTES, gradient_bytes=BF16_BYTES,
    optimizer_bytes=ADAM_MOMENTUM_BYTES + ADAM_VARIANCE_BYTES,
)
"""2 + 2 + 8 = 12 bytes per parameter.

This is how the released QLoRA code trains its adapters: LoRA layers are cast
to bf16 (qlora.py) and ``paged_adamw_32bit`` keeps two fp32 moments.  It is
also the only reading of QLoRA's ">780GB" for 16-bit fine-tuning of LLaMA-65B
that is a whole number of bytes: 780e9 / 65e9 = 12 (the paper gives no
breakdown; 12 is equally ZeRO's K alone).  See :data:`QLORA_16BIT_BYTES_PER_PARAM`.
"""

QLORA_ADAPTER_RECIPE: TrainingRecipe = BF16_ADAM_FP32_MOMENTS
"""Adapter recipe of QLoRA: BF16 L1, L2 (arXiv 2305.14314 Eq. 5), paged 32-bit AdamW."""

QLORA_16BIT_FULL_FINETUNE_GB: int = 780
"""QLoRA Sec. 1: 16-bit fine-tuning of LLaMA 65B "requires more than 780 GB"."""
QLORA_16BIT_BYTES_PER_PARAM: float = QLORA_16BIT_FULL_FINETUNE_GB * GB / (65 * 10**9)
"""780 GB / 65e9 parameters = 12 bytes per parameter (our inference, see above)."""

# --- 4-bit NormalFloat storage (QLoRA Sec. 3) --------------------------------

NF4_BITS_PER_WEIGHT: int = 4
QLORA_BLOCK_SIZE: int = 64
"""Weights per first-level quantization block ("a blocksize of 64 for W")."""
QLORA_CONSTANT_BITS: int = 32
"""First-level absmax constants are FP32."""
QLORA_DQ_CONSTANT_BITS: int = 8
"""Double quantization stores the first-level constants as FP8."""
QLORA_DQ_BLOCK_SIZE: int = 256
"""Constants per second-level block ("a blocksize of 256 for c2")."""
QLORA_DQ_SECOND_CONSTANT_BITS: int = 32
"""Each second-level block keeps one FP32 constant."""


def quantization_constant_bits_per_param(
    block_size: int = QLORA_BLOCK_SIZE, constant_bits: int = QLORA_CONSTANT_BITS
) -> float:
    """Overhead of one constant per block: 32/64 = 0.5 bits per parameter."""
    return constant_bits / block_size


def double_quantized_constant_bits_per_param(
    block_size: int = QLORA_BLOCK_SIZE,
    constant_bits: int = QLORA_DQ_CONSTANT_BITS,
    second_block_size: int = QLORA_DQ_BLOCK_SIZE,
    second_constant_bits: int = QLORA_DQ_SECOND_CONSTANT_BITS,
) -> float:
    """Overhead with double quantization: 8/64 + 32/(64*256) = 0.126953125 bits.

    QLoRA Sec. 3 rounds this to 0.127.  The one mean that bitsandbytes
    subtracts from all constants of a tensor before their 8-bit quantization
    (functional.quantize_4bit, compress_statistics=True) is not in the paper's
    formula and not counted here.
    """
    return constant_bits / block_size + second_constant_bits / (block_size * second_block_size)


def nf4_constant_bits_per_param(double_quant: bool = True) -> float:
    """Quantization-constant overhead per NF4 weight, in bits."""
    if double_quant:
        return double_quantized_constant_bits_per_param()
    return quantization_constant_bits_per_param()


def nf4_bits_per_param(double_quant: bool = True) -> float:
    """Storage of one NF4 weight including its share of the constants, in bits."""
    return NF4_BITS_PER_WEIGHT + nf4_constant_bits_per_param(double_quant)


def nf4_bytes_per_param(double_quant: bool = True) -> float:
    """Storage of one NF4 weight including its share of the constants, in bytes."""
    return nf4_bits_per_param(double_quant) / 8


# Storage of the parts QLoRA does not quantize (artidoro/qlora, qlora.py with
# --bf16): bitsandbytes replaces only nn.Linear layers and qlora.py skips
# lm_head; embed_tokens and lm_head are kept in bf16, modules named "norm" are
# cast to fp32.
QLORA_UNQUANTIZED_BYTES: int = BF16_BYTES
QLORA_NORM_BYTES: int = FP32_BYTES


# ---------------------------------------------------------------------------
# Memory breakdowns
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes of training memory by component (model states only).

    ``weights`` are the model's own weights: trained in full fine-tuning,
    frozen (16-bit or 4-bit data) in LoRA / QLoRA.  ``activations`` is not
    modelled and stays 0.0 -- it is the hook for a later activation term.
    """

    method: str
    model: str = ""
    #: How trainable parameters are counted: the `TrainingRecipe.name` of the method's trained
    #: weights (full fine-tuning) or adapters (LoRA, QLoRA). Two breakdowns of one model and
    #: method under one accounting give one total, in every chapter (tests/test_memory.py).
    accounting: str = ""
    weights: float = 0.0
    quantization_constants: float = 0.0
    gradients: float = 0.0
    optimizer_states: float = 0.0
    adapter_weights: float = 0.0
    adapter_gradients: float = 0.0
    adapter_optimizer_states: float = 0.0
    activations: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Components in display order, in bytes (the labels excluded)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _LABELS}

    @property
    def total(self) -> float:
        """Sum of all components, in bytes."""
        return sum(self.as_dict().values())

    @property
    def total_gb(self) -> float:
        """Sum of all components, in decimal GB."""
        return bytes_to_gb(self.total)


_LABELS = ("method", "model", "accounting")

MEMORY_COMPONENTS: tuple[str, ...] = tuple(
    f.name for f in fields(MemoryBreakdown) if f.name not in _LABELS
)
"""Component names in stacking order for figures."""


def full_finetune_memory(
    model: TransformerShape | int, recipe: TrainingRecipe = MIXED_PRECISION_ADAM
) -> MemoryBreakdown:
    """Model states of full fine-tuning; ``model`` is a shape or a raw parameter count.

    Default recipe: ZeRO's mixed-precision Adam, 2 + 2 + 12 = 16 bytes/param.
    """
    n = parameter_count(model) if isinstance(model, TransformerShape) else int(model)
    return MemoryBreakdown(
        method=f"full fine-tuning, {recipe.name}",
        model=model.name if isinstance(model, TransformerShape) else f"{n:,} parameters",
        accounting=recipe.name,
        weights=n * recipe.weight_bytes,
        gradients=n * recipe.gradient_bytes,
        optimizer_states=n * recipe.optimizer_bytes,
    )


def _targets_name(targets: LoraTargets) -> str:
    return targets if isinstance(targets, str) else ", ".join(targets)


def _adapter_terms(n_adapter: int, recipe: TrainingRecipe) -> dict[str, float]:
    """Adapter weight / gradient / optimizer bytes for ``n_adapter`` parameters."""
    return {
        "adapter_weights": n_adapter * recipe.weight_bytes,
        "adapter_gradients": n_adapter * recipe.gradient_bytes,
        "adapter_optimizer_states": n_adapter * recipe.optimizer_bytes,
    }


def lora_memory(
    shape: TransformerShape,
    rank: int,
    targets: LoraTargets = ("q", "v"),
    base_bytes: float = FP16_BYTES,
    adapter_recipe: TrainingRecipe = MIXED_PRECISION_ADAM,
) -> MemoryBreakdown:
    """Model states of LoRA on a frozen 16-bit base.

    Frozen weights cost ``base_bytes`` each and have no gradient or optimizer
    state; only the adapters are trained, with ``adapter_recipe``.
    """
    n_adapter = lora_parameters(shape, rank, targets)
    return MemoryBreakdown(
        method=f"LoRA r={rank} on {_targets_name(targets)}, {base_bytes:g}-byte frozen base",
        model=shape.name, accounting=adapter_recipe.name,
        weights=parameter_count(shape) * base_bytes,
        **_adapter_terms(n_adapter, adapter_recipe),
    )


def qlora_weight_storage(shape: TransformerShape) -> dict[str, float]:
    """Bytes of QLoRA's frozen weights by storage format: ``"nf4"``, the 4-bit data of every
    block linear weight (the matrices bitsandbytes quantizes), and ``"unquantized"``, what the
    released code keeps in 16 or 32 bit (token embedding, lm_head and biases in bf16, norms in
    fp32). Their sum is :func:`qlora_memory`'s ``weights``; the NF4 data's constants are its
    ``quantization_constants``."""
    groups = parameter_groups(shape)
    return {
        "nf4": groups["block_linear_weights"] * NF4_BITS_PER_WEIGHT / 8,
        "unquantized": ((groups["token_embedding"] + groups["position_embedding"]
                         + groups["lm_head"] + groups["block_linear_biases"])
                        * QLORA_UNQUANTIZED_BYTES + groups["norms"] * QLORA_NORM_BYTES),
    }


def qlora_memory(
    shape: TransformerShape,
    rank: int = 64,
    targets: LoraTargets = ALL_LINEAR,
    double_quant: bool = True,
    adapter_recipe: TrainingRecipe = QLORA_ADAPTER_RECIPE,
) -> MemoryBreakdown:
    """Model states of QLoRA: NF4 block linears, 16-bit rest, bf16 adapters.

    ``weights`` holds the 4-bit data of every block linear weight plus the
    unquantized parameters (embeddings, lm_head, biases in bf16; norms in
    fp32, as in qlora.py); ``quantization_constants`` holds the NF4 absmax
    constants (0.5 or 0.127 bits per quantized weight).  Defaults are the
    Guanaco configuration: r=64 on all linear layers (QLoRA App. B).
    """
    n_quantized = parameter_groups(shape)["block_linear_weights"]
    weight_bytes = sum(qlora_weight_storage(shape).values())
    n_adapter = lora_parameters(shape, rank, targets)
    return MemoryBreakdown(
        method=f"QLoRA r={rank} on {_targets_name(targets)}, NF4{' + DQ' if double_quant else ''}",
        model=shape.name, accounting=adapter_recipe.name,
        weights=weight_bytes,
        quantization_constants=n_quantized * nf4_constant_bits_per_param(double_quant) / 8,
        **_adapter_terms(n_adapter, adapter_recipe),
    )


METHODS: tuple[str, ...] = ("full fine-tuning", "LoRA", "QLoRA")
"""The three ways of fine-tuning :func:`compare_methods` sets side by side."""


def compare_methods(
    shapes, rank: int, targets: LoraTargets = ALL_LINEAR,
    full_recipe: TrainingRecipe = MIXED_PRECISION_ADAM,
) -> dict[str, dict[str, MemoryBreakdown]]:
    """{model name: {method: breakdown}} for full fine-tuning, LoRA on a 16-bit base and QLoRA,
    both with the same adapters (``rank`` on ``targets``), every trained parameter counted with
    one recipe (default: ZeRO's 16 bytes), so the methods differ only in what they store.

    This is the book's one accounting of training memory. A figure that reproduces a published
    setup with another recipe (QLoRA's released code trains its adapters at 12 bytes) names
    that recipe; the breakdown's ``accounting`` says which was used."""
    return {
        shape.name: dict(zip(METHODS, (
            full_finetune_memory(shape, full_recipe),
            lora_memory(shape, rank, targets, adapter_recipe=full_recipe),
            qlora_memory(shape, rank, targets, adapter_recipe=full_recipe),
        ), strict=True))
        for shape in shapes
    }


# ---------------------------------------------------------------------------
# ZeRO-DP: model states per device (arXiv 1910.02054, Fig. 1)
# ---------------------------------------------------------------------------


def zero_dp_bytes_per_device(
    n_params: float, dp_degree: int, stage: int, k: float = ZERO_ADAM_K
) -> float:
    """Per-device model-state bytes with ZeRO-DP stage 0 (plain DP) to 3.

    Stage 1 partitions optimizer states, 2 adds gradients, 3 adds parameters:
    (2+2+K)Psi, 2Psi+2Psi+K Psi/N_d, 2Psi+(2+K)Psi/N_d, (2+2+K)Psi/N_d.
    """
    psi, nd = float(n_params), dp_degree
    if stage == 0:
        return (2 + 2 + k) * psi
    if stage == 1:
        return 2 * psi + 2 * psi + k * psi / nd
    if stage == 2:
        return 2 * psi + (2 + k) * psi / nd
    if stage == 3:
        return (2 + 2 + k) * psi / nd
    raise ValueError(f"ZeRO stage must be 0, 1, 2 or 3, got {stage}")


# ---------------------------------------------------------------------------
# GPU memory capacities
# ---------------------------------------------------------------------------

GPU_MEMORY_GB: dict[str, int] = {
    "RTX 3090": 24,
    "RTX 4090": 24,
    "A100 40GB": 40,
    "RTX A6000": 48,
    "A100 80GB": 80,
}
"""Vendor-advertised capacities.

Vendors' memory sizes are binary in practice: nvidia-smi reports the totals in
:data:`GPU_REPORTED_MIB`, e.g. 81920 MiB = 85.9e9 bytes for the A100 80GB.  The
book's one unit is the decimal GB, so figures draw a GPU at
:func:`gpu_capacity_gb` and name it with :func:`gpu_label`; this table only
gives the advertised number in that label.
"""

GPU_REPORTED_MIB: dict[str, int] = {
    "RTX 3090": 24576,
    "RTX 4090": 24564,
    "A100 40GB": 40960,
    "RTX A6000": 49140,
    "A100 80GB": 81920,
}
"""Total memory as reported by ``nvidia-smi --query-gpu=memory.total`` (MiB),
taken from public nvidia-smi logs; part of it is reserved by driver/ECC."""


BOOK_GPUS: tuple[str, ...] = ("RTX 4090", "RTX A6000", "A100 80GB")
"""The GPUs every chapter draws as capacity lines: a 24 GiB consumer card, the 48 GiB card of
QLoRA's "single 48GB GPU", an 80 GiB data-centre card (a figure draws those it needs)."""


def gpu_capacity_bytes(gpu: str) -> int:
    """Total memory of ``gpu`` in bytes, from the nvidia-smi MiB figure."""
    return GPU_REPORTED_MIB[gpu] * MIB


def gpu_capacity_gb(gpu: str) -> float:
    """Total memory of ``gpu`` in decimal GB: the one capacity every chapter draws and tests
    against (a "24 GB" RTX 4090 holds 24564 MiB = 25.8 GB)."""
    return bytes_to_gb(gpu_capacity_bytes(gpu))


def gpu_label(gpu: str) -> str:
    """How figures name a GPU line: the card, its advertised size and its capacity in GB,
    e.g. "RTX 4090, 24 GiB = 25.8 GB"."""
    return f"{gpu}, {GPU_MEMORY_GB[gpu]} GiB = {gpu_capacity_gb(gpu):.1f} GB"


def fits_in_gpu(n_bytes: float, gpu: str) -> bool:
    """True if ``n_bytes`` is below the GPU's total memory (:func:`gpu_capacity_bytes`)."""
    return n_bytes < gpu_capacity_bytes(gpu)
