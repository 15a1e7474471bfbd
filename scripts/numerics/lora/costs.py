"""What LoRA and its alternatives cost on real transformer shapes: trainable parameters, the
operations they add at inference, and the LoRA paper's headline reduction, from formulas.

1. :func:`module_selection_parameters` -- the trainable count of each choice of LoRA Table 5.
2. :func:`latency_increase_pct` -- LoRA Table 1's slow-downs from its latencies;
   :func:`extra_compute_per_token` / :func:`base_flops_per_token` -- operation counts;
   :func:`adapter_parameters` -- LoRA Sec. 5.1's adapter count;
   :func:`equal_weight_bottleneck` -- the bottleneck at which adapters hold LoRA's weights;
   :func:`latency_increase_sd_pct` -- the spread of Table 1's slow-downs.
3. :func:`matrix_parameters` -- trainable parameters of one weight matrix under LoRA, QLoRA,
   DoRA, AdaLoRA, LoRA+ and VeRA (:data:`published.lora.VARIANTS`), each from its paper's
   formula; :func:`allocated_rank` -- the rank AdaLoRA starts from for a final budget;
   :func:`variant_memory` -- their model states in the book's one accounting.
4. :func:`headline_reduction` -- the "10,000 times" and "350GB -> 35MB" of the LoRA paper.

Sources are cited in :mod:`published.lora`, and Kaplan et al. 2020, arXiv 2001.08361,
Sec. 2.1: C_forward ~ 2N + 2 n_layer n_ctx d_attn.

Counting conventions
--------------------
Parameters count weights only (no biases), as in the papers' formulas.  "d" is the output
and "k" the input dimension of W (LoRA Sec. 4.1 notation, h = W_0 x).  Percentages of
trainable parameters follow the ``print_trainable_parameters`` convention of PEFT-based
code: trainable / (base + trainable), i.e. the adapters are counted in "all params".
Nothing here imports matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from numerics.memory import (
    FP16_BYTES,
    GPT3_175B,
    LLAMA_7B,
    MIXED_PRECISION_ADAM,
    LinearLayer,
    LoraTargets,
    MemoryBreakdown,
    TrainingRecipe,
    TransformerShape,
    linear_layers,
    lora_memory,
    lora_parameters,
    lora_target_layers,
    parameter_count,
    parameter_groups,
    qlora_memory,
)
from published.lora import (
    ADALORA_INITIAL_BUDGET_FACTOR,
    ADAPTERS_PER_BLOCK,
    HEADLINE_RANK,
    HEADLINE_TARGETS,
    INFERENCE_LATENCY,
    MODULE_SELECTION,
    VARIANTS,
    LatencyRow,
    LoraVariant,
)

# ====================================================== 1. module selection (Table 5)


def module_selection_parameters(shape: TransformerShape = GPT3_175B) -> dict[str, int]:
    """{Table 5 label: trainable LoRA parameters} for ``shape`` at Table 5's ranks.

    On GPT-3 every choice is 18,874,368 = 96 layers x r x 2 x 12288 x (number of types).
    """
    return {row.label: lora_parameters(shape, row.rank, row.weight_types)
            for row in MODULE_SELECTION}


# ============================================== 2. inference latency and operation counts


def latency_increase_pct(row: LatencyRow,
                         baseline: LatencyRow = INFERENCE_LATENCY[0]) -> tuple[float, ...]:
    """Increase of ``row`` over ``baseline`` in percent, per Table 1 setting."""
    return tuple(100.0 * (m / b - 1.0)
                 for m, b in zip(row.mean_ms, baseline.mean_ms, strict=True))


ComputeMethod = Literal["lora_unmerged", "lora_merged", "adapter_houlsby", "adapter_lin"]
COMPUTE_METHODS: tuple[str, ...] = ("lora_unmerged", "lora_merged", "adapter_houlsby",
                                    "adapter_lin")


@dataclass(frozen=True)
class ExtraCompute:
    """Work one token adds to a forward pass, summed over all blocks.

    ``macs``: multiply-accumulates of the added matmuls (a row vector x of length k times
    a k x n matrix costs k*n MACs).  ``elementwise_flops``: bias adds, branch/residual adds
    and the LoRA alpha/r scaling, one FLOP per element.  Nonlinearities and the
    Adapter^L LayerNorm are not counted as FLOPs (O(m) and O(d) per adapter); they are part
    of ``serial_layers``: adapter layers inserted in series on the block's path (LoRA's
    branch runs in parallel with W_0, LoRA App. B).  ``extra_matmuls``: added matmul
    kernels per token-forward.
    """

    method: str
    macs: int
    elementwise_flops: int
    serial_layers: int
    extra_matmuls: int

    @property
    def flops(self) -> int:
        """2 FLOPs per MAC plus the element-wise FLOPs."""
        return 2 * self.macs + self.elementwise_flops


def _lora_extra(layers: tuple[LinearLayer, ...], rank: int,
                n_layers: int) -> tuple[int, int, int]:
    """(MACs, element-wise FLOPs, matmuls) of unmerged LoRA, summed over blocks.

    Per adapted matrix (d_out x d_in): A x costs r*d_in MACs, B(Ax) costs d_out*r MACs;
    the alpha/r scaling of the d_out outputs (PEFT multiplies the B output) and the add to
    W_0 x cost d_out FLOPs each.
    """
    macs = sum(rank * (m.d_in + m.d_out) for m in layers)
    elementwise = sum(2 * m.d_out for m in layers)
    return n_layers * macs, n_layers * elementwise, n_layers * 2 * len(layers)


def extra_compute_per_token(
    shape: TransformerShape,
    method: ComputeMethod,
    rank_or_bottleneck: int,
    targets: LoraTargets | None = None,
) -> ExtraCompute:
    """Extra work per token of an adapted model over the base model.

    * ``lora_unmerged``: LoRA kept as a side branch (``targets``, default ("q", "v") as in
      LoRA Sec. 4.2); see :func:`_lora_extra`.
    * ``lora_merged``: W = W_0 + BA is computed once, so nothing is added (LoRA Sec. 4.1).
    * ``adapter_houlsby`` / ``adapter_lin``: per adapter (bottleneck m, width d = d_model)
      2 m d MACs, plus m + d bias adds and d residual adds; 2 (Houlsby) or 1 (Lin)
      adapters per block, each a serial layer of two matmuls.  ``targets`` must be None.
    """
    if rank_or_bottleneck < 0:
        raise ValueError(f"rank_or_bottleneck must be >= 0, got {rank_or_bottleneck}")
    if method in ("lora_unmerged", "lora_merged"):
        layers = lora_target_layers(shape, ("q", "v") if targets is None else targets)
        if method == "lora_merged" or rank_or_bottleneck == 0:
            return ExtraCompute(method=method, macs=0, elementwise_flops=0, serial_layers=0,
                                extra_matmuls=0)
        macs, elementwise, matmuls = _lora_extra(layers, rank_or_bottleneck, shape.n_layers)
        return ExtraCompute(method=method, macs=macs, elementwise_flops=elementwise,
                            serial_layers=0, extra_matmuls=matmuls)
    if method in ADAPTERS_PER_BLOCK:
        if targets is not None:
            raise ValueError("adapters are inserted per block; targets must be None")
        d, m = shape.d_model, rank_or_bottleneck
        n = ADAPTERS_PER_BLOCK[method] * shape.n_layers
        return ExtraCompute(method=method, macs=n * 2 * m * d, elementwise_flops=n * (m + 2 * d),
                            serial_layers=n, extra_matmuls=2 * n)
    raise ValueError(f"method must be one of {COMPUTE_METHODS}, got {method!r}")


def extra_flops_per_token(
    shape: TransformerShape,
    method: ComputeMethod,
    rank_or_bottleneck: int,
    targets: LoraTargets | None = None,
) -> int:
    """FLOPs one token adds (see :class:`ExtraCompute` for what is counted)."""
    return extra_compute_per_token(shape, method, rank_or_bottleneck, targets).flops


def base_flops_per_token(shape: TransformerShape, attended_positions: int) -> int:
    """Matmul FLOPs of one token's forward pass through the base model (2 per MAC).

    Every block linear (d_out x d_in: d_out*d_in MACs), the attention scores q.K^T and the
    weighted sum of values (each attended_positions x d_model MACs per block) and the
    output projection to the vocabulary (d_model x vocab).  Biases, norms, softmax and
    activations are not counted.  ``attended_positions`` is the number of keys the token
    attends to (for causal attention over a length-T sequence the mean is (T + 1)/2).
    Compare Kaplan et al. 2020 Sec. 2.1, :func:`kaplan_forward_flops_per_token`.
    """
    if attended_positions < 0:
        raise ValueError(f"attended_positions must be >= 0, got {attended_positions}")
    block = sum(m.n_weights for m in linear_layers(shape))
    attention = 2 * attended_positions * shape.d_model
    head = shape.d_model * shape.vocab_size
    return 2 * (shape.n_layers * (block + attention) + head)


def kaplan_forward_flops_per_token(shape: TransformerShape, n_ctx: int) -> int:
    """Kaplan et al. 2020 (arXiv 2001.08361) Sec. 2.1: C_forward ~ 2N + 2 n_layer n_ctx d_attn.

    N is the non-embedding parameter count, taken here as the block linear weights;
    d_attn = d_model for GPT-2/3 and LLaMA.
    """
    n = parameter_groups(shape)["block_linear_weights"]
    return 2 * n + 2 * shape.n_layers * n_ctx * shape.d_model


def extra_compute_pct(
    shape: TransformerShape,
    method: ComputeMethod,
    rank_or_bottleneck: int,
    attended_positions: int,
    targets: LoraTargets | None = None,
) -> float:
    """Extra FLOPs per token as a percentage of :func:`base_flops_per_token`."""
    extra = extra_flops_per_token(shape, method, rank_or_bottleneck, targets)
    return 100.0 * extra / base_flops_per_token(shape, attended_positions)


AdapterDesign = Literal["adapter_houlsby", "adapter_lin"]


def adapter_parameters(shape: TransformerShape, method: AdapterDesign, bottleneck: int) -> int:
    """LoRA Sec. 5.1: |Theta| = L_Adpt (2 d_model r + r + d_model) + 2 L_LN d_model.

    L_Adpt = adapters per block x layers; a trainable LayerNorm per adapter for Adapter^L
    (Lin et al.), none for Adapter^H (Houlsby).
    """
    d, r = shape.d_model, bottleneck
    n_adapters = ADAPTERS_PER_BLOCK[method] * shape.n_layers
    n_norms = n_adapters if method == "adapter_lin" else 0
    return n_adapters * (2 * d * r + r + d) + 2 * n_norms * d


def adapter_weight_parameters(shape: TransformerShape, method: AdapterDesign,
                              bottleneck: int) -> int:
    """The weights of the adapters' two matrices (d_model x m and m x d_model) in every block:
    :func:`adapter_parameters` without the biases and LayerNorms, the part that compares with
    LoRA's r (d + k) per matrix."""
    return ADAPTERS_PER_BLOCK[method] * shape.n_layers * 2 * shape.d_model * bottleneck


def equal_weight_bottleneck(shape: TransformerShape, method: AdapterDesign, weights: int) -> int:
    """The bottleneck m at which ``method``'s adapter matrices hold exactly ``weights`` weights
    (LLaMA-7B: LoRA r = 8 on W_q, W_v holds 4,194,304 = AdapterL at m = 16 = AdapterH at
    m = 8); an error when no whole m does."""
    per_unit = adapter_weight_parameters(shape, method, 1)
    bottleneck, rest = divmod(weights, per_unit)
    if rest or bottleneck < 1:
        raise ValueError(f"{weights:,} weights are no whole bottleneck of {method} on "
                         f"{shape.name} ({per_unit:,} per unit of m)")
    return bottleneck


def latency_increase_sd_pct(row: LatencyRow,
                            baseline: LatencyRow = INFERENCE_LATENCY[0]) -> tuple[float, ...]:
    """The standard deviation of one trial's increase over ``baseline`` in percent, per Table 1
    setting: the two rows' trial s.d. combined as independent, relative to the baseline's mean,
    100 sqrt(s_m^2 + (m / b)^2 s_b^2) / b (first-order propagation for the ratio m / b)."""
    return tuple(100.0 * math.hypot(sm, m / b * sb) / b
                 for m, sm, b, sb in zip(row.mean_ms, row.std_ms, baseline.mean_ms,
                                         baseline.std_ms, strict=True))


# ===================================== 3. LoRA variants: trainable parameters per matrix


def _lora(d_out: int, d_in: int, rank: int) -> int:
    """B (d_out x r) and A (r x d_in)."""
    return rank * (d_in + d_out)


def _dora(d_out: int, d_in: int, rank: int) -> int:
    """LoRA on the direction plus one magnitude per output feature (NVlabs/DoRA code)."""
    return _lora(d_out, d_in, rank) + d_out


def _adalora(d_out: int, d_in: int, rank: int) -> int:
    """P (d_out x r), Lambda (r, stored as a vector), Q (r x d_in) at the initial rank."""
    return _lora(d_out, d_in, rank) + rank


def _vera(d_out: int, d_in: int, rank: int) -> int:
    """Trainable b (d_out) and d (r); A (r x d_in) and B (d_out x r) are frozen and shared."""
    return d_out + rank


MATRIX_COUNTS: dict[str, Callable[[int, int, int], int]] = {
    "LoRA": _lora, "QLoRA": _lora, "DoRA": _dora, "AdaLoRA": _adalora, "LoRA+": _lora,
    "VeRA": _vera,
}
"""Each variant's formula (:attr:`published.lora.LoraVariant.formula`) as a function of
(d_out, d_in, rank)."""

EXAMPLE_LAYER: LinearLayer = next(m for m in linear_layers(LLAMA_7B) if m.name == "q")
"""LLaMA-7B ``self_attn.q_proj``, a 4096 x 4096 weight: the layer the variants are compared
on."""
EXAMPLE_RANK: int = 16


def matrix_parameters(variant: LoraVariant, d_out: int, d_in: int, rank: int) -> int:
    """Trainable parameters of one adapted ``d_out x d_in`` matrix under ``variant``."""
    return MATRIX_COUNTS[variant.name](d_out, d_in, rank)


def layer_parameters(variant: LoraVariant, layer: LinearLayer, rank: int) -> int:
    """Trainable parameters of ``variant`` on one :class:`~numerics.memory.LinearLayer`."""
    return matrix_parameters(variant, layer.d_out, layer.d_in, rank)


def variant_parameters(layer: LinearLayer = EXAMPLE_LAYER,
                       rank: int = EXAMPLE_RANK) -> dict[str, int]:
    """{method name: trainable parameters of ``layer`` at ``rank``} for
    :data:`published.lora.VARIANTS`."""
    return {v.name: layer_parameters(v, layer, rank) for v in VARIANTS}


def model_variant_parameters(
    shape: TransformerShape, variant: LoraVariant, rank: int, targets: LoraTargets
) -> int:
    """Trainable parameters of ``variant`` on ``targets`` in every block of ``shape``."""
    return shape.n_layers * sum(layer_parameters(variant, m, rank)
                                for m in lora_target_layers(shape, targets))


def allocated_rank(variant: LoraVariant, rank: int) -> int:
    """The rank at which ``variant`` allocates its trainable tensors when it is to end with
    ``rank`` per adapted matrix on average.

    AdaLoRA (Sec. 3.3) starts from a budget b(0) of singular values "slightly higher than the
    target budget b(T) (e.g., 1.5 times)" and prunes singular values down to b(T); pruning
    zeroes them but keeps P and Q, so its tensors stay at the initial rank 1.5 r (PEFT's
    defaults, init_r = 12 for target_r = 8, have the same ratio).  The other variants train at
    ``rank`` throughout.
    """
    if variant.name == "AdaLoRA":
        return math.ceil(ADALORA_INITIAL_BUDGET_FACTOR * rank)
    return rank


def variant_memory(shape: TransformerShape, variant: LoraVariant, rank: int,
                   targets: LoraTargets,
                   recipe: TrainingRecipe = MIXED_PRECISION_ADAM) -> MemoryBreakdown:
    """Model states of ``variant`` at (final) rank ``rank`` on ``targets``: the frozen base
    (16-bit; NF4 with double quantization for QLoRA) and every trainable parameter
    (:func:`model_variant_parameters` at :func:`allocated_rank`) at ``recipe``'s bytes.

    LoRA and QLoRA are numerics.memory's own breakdowns (the totals every chapter shows).
    Left out, as below what a GB scale shows: VeRA's one pair of frozen random matrices shared
    by all layers (huggingface/peft ``tuners/vera/model.py``: ``vera_A`` r x (largest input
    width), ``vera_B`` (largest output width) x r; 1.4M entries for LLaMA-7B at r = 64).  Not
    model states, so not counted either: DoRA's and AdaLoRA's extra activations and AdaLoRA's
    importance scores.
    """
    if variant.name == "LoRA":
        return lora_memory(shape, rank, targets, adapter_recipe=recipe)
    if variant.name == "QLoRA":
        return qlora_memory(shape, rank, targets, adapter_recipe=recipe)
    n = model_variant_parameters(shape, variant, allocated_rank(variant, rank), targets)
    where = targets if isinstance(targets, str) else ", ".join(targets)
    return MemoryBreakdown(
        method=f"{variant.name} r={rank} on {where}, {FP16_BYTES:g}-byte frozen base",
        model=shape.name, accounting=recipe.name, weights=parameter_count(shape) * FP16_BYTES,
        adapter_weights=n * recipe.weight_bytes, adapter_gradients=n * recipe.gradient_bytes,
        adapter_optimizer_states=n * recipe.optimizer_bytes)


def trainable_percent(shape: TransformerShape, n_trainable: int) -> float:
    """100 * trainable / (base + trainable): adapters counted in "all params" (PEFT style)."""
    return 100.0 * n_trainable / (parameter_count(shape) + n_trainable)


# =========================================================== 4. the headline reduction


@dataclass(frozen=True)
class HeadlineReduction:
    """Full fine-tuning vs LoRA: trainable parameters and 16-bit checkpoint bytes."""

    full_parameters: int
    lora_parameters: int
    bytes_per_param: float

    @property
    def parameter_ratio(self) -> float:
        """Full trainable parameters / LoRA trainable parameters."""
        return self.full_parameters / self.lora_parameters

    @property
    def full_checkpoint_bytes(self) -> float:
        return self.full_parameters * self.bytes_per_param

    @property
    def lora_checkpoint_bytes(self) -> float:
        return self.lora_parameters * self.bytes_per_param


def headline_reduction(
    shape: TransformerShape = GPT3_175B,
    rank: int = HEADLINE_RANK,
    targets: LoraTargets = HEADLINE_TARGETS,
    bytes_per_param: float = FP16_BYTES,
) -> HeadlineReduction:
    """The LoRA paper's headline configuration: r = 4 on W_q and W_v of GPT-3 175B, FP16.

    With memory.py's GPT-3 (174,604,259,328 parameters, tied embeddings) and 18,874,368
    LoRA parameters the ratio is 9,250.9; with Table 4's 175,255.8M it is 9,285.4 --
    "roughly 10,000x".  The checkpoints are 349.2 GB and 37.7 MB (36.0 MiB): the paper's
    "350GB" and "35MB".
    """
    return HeadlineReduction(full_parameters=parameter_count(shape),
                             lora_parameters=lora_parameters(shape, rank, targets),
                             bytes_per_param=bytes_per_param)
