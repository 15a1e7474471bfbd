"""LoRA's published numbers and the arithmetic behind them, on real transformer shapes.

1. :data:`MODULE_SELECTION` / :func:`module_selection_parameters` -- LoRA Table 5 (which
   attention weights to adapt under an 18M budget) and the trainable count of each choice.
2. :data:`INFERENCE_LATENCY` -- LoRA Table 1 (GPT-2 medium latency, adapters vs LoRA);
   :func:`extra_compute_per_token` / :func:`base_flops_per_token` -- operation counts.
3. :data:`VARIANTS` -- trainable parameters of one weight matrix under LoRA, QLoRA, DoRA,
   AdaLoRA, LoRA+ and VeRA, each from its paper's formula.
4. :func:`headline_reduction` -- the "10,000 times" and "350GB -> 35MB" of the LoRA paper.

Sources
-------
* LoRA: Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang, Chen 2021, arXiv 2106.09685 (v2).
  Abstract ("10,000 times", "3 times"); Sec. 2 (|Theta| "as small as 0.01% of |Phi_0|");
  Sec. 3 and Table 1 (latency); Sec. 4.1 (h = W_0 x + BAx, W_0 in R^{d x k}, B in R^{d x r},
  A in R^{r x k}, output scaled by alpha/r; merged W = W_0 + BA adds no latency); Sec. 4.2
  (1.2TB -> 350GB VRAM, r = 4 on W_q, W_v: 350GB -> 35MB checkpoint); Sec. 5.1 (Adapter^H,
  Adapter^L and |Theta| = L_Adpt (2 d_model r + r + d_model) + 2 L_LN d_model); Table 4
  (GPT-3 FT: 175,255.8M trainable); Sec. 7.1 and Table 5; App. B (latency study setup).
* Houlsby et al. 2019, arXiv 1902.00751: two bottleneck adapters per Transformer layer
  (down-projection d -> m, nonlinearity, up-projection m -> d, residual).
  Lin, Madotto, Fung 2020 (Findings of EMNLP, "Adapter^L"): one adapter per block, after
  the MLP, with an extra LayerNorm (as described in LoRA Sec. 3 and 5.1).
* Kaplan et al. 2020, arXiv 2001.08361, Sec. 2.1: C_forward ~ 2N + 2 n_layer n_ctx d_attn.
* QLoRA: Dettmers et al. 2023, arXiv 2305.14314 (LoRA adapters on a frozen NF4 base).
* DoRA: Liu et al. 2024, arXiv 2402.09353 (ICML 2024), Eq. 2 and 5 (m in R^{1 x k},
  "vector-wise norm of a matrix across each column"), Sec. 5.1 ("marginal increase of
  0.01%" from the magnitude, "parameter of size 1 x k"), Table 1 (#Params %), Table 5
  (VeRA / DVoRA rows), Tables 8 and 11 (ranks and target modules).  Released code
  NVlabs/DoRA ``commonsense_reasoning/peft/src/peft/tuners/dora.py``:
  ``weight_m_wdecomp = nn.Linear(1, out_features)`` with the norm taken over ``dim=1`` of
  the (out x in) weight, i.e. one magnitude per output feature.
* AdaLoRA: Zhang et al. 2023, arXiv 2303.10512 (ICLR 2023), Sec. 3.1 (W = W0 + P Lambda Q,
  P in R^{d1 x r}, Q in R^{r x d2}, Lambda stored "as a vector in R^r"), Sec. 3.3 (budget
  b = total number of singular values; initial b(0) e.g. 1.5 x target b(T); initial rank
  r = b(0)/n; pruning zeroes singular values, singular vectors are kept).
* LoRA+: Hayou, Ghosh, Yu 2024, arXiv 2402.12354 (ICML 2024): same adapters as LoRA,
  eta_B = lambda eta_A.  Reference code nikhil-ghosh-berkeley/loraplus README:
  ``loraplus_lr_ratio`` is eta_B / eta_A, ">= 1", "model and task dependent"; its code
  example uses 20.  The value 2^4 = 16 is the paper's recommendation as quoted by axolotl's
  ``docs/config.qmd`` ("Recommended value is 2^4"); we did not read that sentence in the
  paper itself.
* VeRA: Kopiczko, Blankevoort, Asano 2024, arXiv 2310.11454 (ICLR 2024): h = W0 x +
  Lambda_b B Lambda_d A x, A and B frozen, random, shared; trainable b (one per output
  feature) and d (one per rank).  Sizes checked in huggingface/peft
  ``src/peft/tuners/vera/layer.py``: ``vera_lambda_b`` has ``out_features`` entries,
  ``vera_lambda_d`` has ``r``.

Counting conventions
--------------------
Parameters count weights only (no biases), as in the papers' formulas.  "d" is the output
and "k" the input dimension of W (LoRA Sec. 4.1 notation, h = W_0 x).  Percentages of
trainable parameters follow the ``print_trainable_parameters`` convention of PEFT-based
code: trainable / (base + trainable), i.e. the adapters are counted in "all params".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from numerics.memory import (
    FP16_BYTES,
    GPT2_MEDIUM,
    GPT3_175B,
    LinearLayer,
    LLAMA_7B,
    LoraTargets,
    TransformerShape,
    linear_layers,
    lora_parameters,
    lora_target_layers,
    parameter_count,
    parameter_groups,
)

# ====================================================== 1. module selection (Table 5)

MODULE_SELECTION_BUDGET: int = 18_000_000
"""LoRA Sec. 7.1: "a parameter budget of 18M (roughly 35MB if stored in FP16)"."""
WIKISQL_SEED_STD_PCT: float = 0.5
"""LoRA Table 5, first column: WikiSQL (+-0.5%), std across random seeds."""
MULTINLI_SEED_STD_PCT: float = 0.1
"""LoRA Table 5, first column: MultiNLI (+-0.1%)."""


@dataclass(frozen=True)
class ModuleSelectionRow:
    """One column of LoRA Table 5 (GPT-3 175B, 18M trainable parameters, all 96 layers).

    ``weight_types`` are the adapted attention matrices (memory.py names q, k, v, o);
    ``wikisql`` / ``multinli`` are validation accuracies in percent.
    """

    weight_types: tuple[str, ...]
    rank: int
    wikisql: float
    multinli: float

    @property
    def label(self) -> str:
        """Plain-text label, e.g. "Wq, Wv"."""
        return ", ".join(f"W{t}" for t in self.weight_types)


MODULE_SELECTION: tuple[ModuleSelectionRow, ...] = (
    ModuleSelectionRow(("q",), 8, 70.4, 91.0),
    ModuleSelectionRow(("k",), 8, 70.0, 90.8),
    ModuleSelectionRow(("v",), 8, 73.0, 91.0),
    ModuleSelectionRow(("o",), 8, 73.2, 91.3),
    ModuleSelectionRow(("q", "k"), 4, 71.4, 91.3),
    ModuleSelectionRow(("q", "v"), 4, 73.7, 91.3),
    ModuleSelectionRow(("q", "k", "v", "o"), 2, 73.7, 91.7),
)
"""LoRA (arXiv 2106.09685) Table 5: "Validation accuracy on WikiSQL and MultiNLI after
applying LoRA to different types of attention weights in GPT-3, given the same number of
trainable parameters."  Ranks r = 8, 8, 8, 8, 4, 4, 2.  (App. D.4 lists
r_q = r_k = r_v = r_o = 2 under the 37.7M budget; Table 5 and the formula give 18.9M.)"""


def module_selection_parameters(shape: TransformerShape = GPT3_175B) -> dict[str, int]:
    """{Table 5 label: trainable LoRA parameters} for ``shape`` at Table 5's ranks.

    On GPT-3 every choice is 18,874,368 = 96 layers x r x 2 x 12288 x (number of types).
    """
    return {row.label: lora_parameters(shape, row.rank, row.weight_types) for row in MODULE_SELECTION}


# ============================================== 2. inference latency (Table 1, App. B)

LATENCY_MODEL: TransformerShape = GPT2_MEDIUM
"""Table 1 measures GPT-2 medium."""
LATENCY_GPU: str = "NVIDIA Quadro RTX8000"
"""LoRA Table 1 caption and App. B: "We use an NVIDIA Quadro RTX8000"."""
LATENCY_TRIALS: int = 100
"""LoRA Table 1 caption: latency "averaged over 100 trials"."""
LATENCY_MAX_SLOWDOWN_PCT: float = 30.0
"""LoRA App. B, Fig. 5 caption: "the slow-down can be as high as over 30%"."""


@dataclass(frozen=True)
class LatencySetting:
    """One column of LoRA Table 1: batch size, sequence length, adapter |Theta|."""

    batch_size: int
    sequence_length: int
    adapter_parameters: float


LATENCY_SETTINGS: tuple[LatencySetting, ...] = (
    LatencySetting(32, 512, 0.5e6),
    LatencySetting(16, 256, 11e6),
    LatencySetting(1, 128, 11e6),
)
"""LoRA Table 1 header: batch 32 / 16 / 1, sequence length 512 / 256 / 128, "|Theta|"
(trainable parameters in adapter layers) 0.5M / 11M / 11M."""


@dataclass(frozen=True)
class LatencyRow:
    """One method of LoRA Table 1: mean +- std (ms) per setting, and the printed increase.

    ``increase_pct`` is the percentage printed next to each adapter latency (None for
    the Fine-Tune/LoRA baseline, which merged LoRA matches by construction).
    """

    method: str
    mean_ms: tuple[float, float, float]
    std_ms: tuple[float, float, float]
    increase_pct: tuple[float, float, float] | None


INFERENCE_LATENCY: tuple[LatencyRow, ...] = (
    LatencyRow("Fine-Tune/LoRA", (1449.4, 338.0, 19.8), (0.8, 0.6, 2.7), None),
    LatencyRow("AdapterL", (1482.0, 354.8, 23.9), (1.0, 0.5, 2.1), (2.2, 5.0, 20.7)),
    LatencyRow("AdapterH", (1492.2, 366.3, 25.8), (1.0, 0.5, 2.2), (3.0, 8.4, 30.3)),
)
"""LoRA (arXiv 2106.09685) Table 1: inference latency of a single forward pass in GPT-2
medium (ms), columns as :data:`LATENCY_SETTINGS`."""


def latency_increase_pct(row: LatencyRow, baseline: LatencyRow = INFERENCE_LATENCY[0]) -> tuple[float, ...]:
    """Increase of ``row`` over ``baseline`` in percent, per Table 1 setting."""
    return tuple(100.0 * (m / b - 1.0) for m, b in zip(row.mean_ms, baseline.mean_ms))


# --- operation counts -------------------------------------------------------------

ComputeMethod = Literal["lora_unmerged", "lora_merged", "adapter_houlsby", "adapter_lin"]
COMPUTE_METHODS: tuple[str, ...] = ("lora_unmerged", "lora_merged", "adapter_houlsby", "adapter_lin")
ADAPTERS_PER_BLOCK: dict[str, int] = {"adapter_houlsby": 2, "adapter_lin": 1}
"""Houlsby et al. 2019: two adapters per block; Lin et al. 2020 (Adapter^L): one."""


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


def _lora_extra(layers: tuple[LinearLayer, ...], rank: int, n_layers: int) -> tuple[int, int, int]:
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
            return ExtraCompute(method, 0, 0, 0, 0)
        macs, elementwise, matmuls = _lora_extra(layers, rank_or_bottleneck, shape.n_layers)
        return ExtraCompute(method, macs, elementwise, 0, matmuls)
    if method in ADAPTERS_PER_BLOCK:
        if targets is not None:
            raise ValueError("adapters are inserted per block; targets must be None")
        d, m = shape.d_model, rank_or_bottleneck
        n = ADAPTERS_PER_BLOCK[method] * shape.n_layers
        return ExtraCompute(method, n * 2 * m * d, n * (m + 2 * d), n, 2 * n)
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


@dataclass(frozen=True)
class LoraVariant:
    """A LoRA-family method: name, one-line idea (plain ASCII), citation, count formula.

    ``formula`` uses d = output and k = input dimension of W, r = rank.
    ``count(d_out, d_in, rank)`` gives the trainable parameters of one adapted matrix.
    """

    name: str
    key_idea: str
    citation: str
    arxiv: str
    formula: str
    count: Callable[[int, int, int], int]

    def parameters(self, layer: LinearLayer, rank: int) -> int:
        """Trainable parameters for one :class:`~numerics.memory.LinearLayer`."""
        return self.count(layer.d_out, layer.d_in, rank)


LORA_PLUS_LR_RATIO: int = 2**4
"""LoRA+ eta_B / eta_A = 2^4 = 16: the paper's recommendation as quoted by axolotl
docs/config.qmd; the authors' README only says >= 1, model and task dependent."""

ADALORA_INITIAL_BUDGET_FACTOR: float = 1.5
"""AdaLoRA Sec. 3.3: b(0) "slightly higher than the target budget b(T) (e.g., 1.5 times)"."""

VARIANTS: tuple[LoraVariant, ...] = (
    LoraVariant("LoRA", "Freeze W and train a low-rank update BA",
                "Hu et al. 2021", "2106.09685", "r(d+k)", _lora),
    LoraVariant("QLoRA", "LoRA adapters on a frozen 4-bit NF4 base model",
                "Dettmers et al. 2023", "2305.14314", "r(d+k)", _lora),
    LoraVariant("DoRA", "LoRA on the direction, train the magnitude vector",
                "Liu et al. 2024", "2402.09353", "r(d+k) + d", _dora),
    LoraVariant("AdaLoRA", "SVD-form update, prune singular values to a budget",
                "Zhang et al. 2023", "2303.10512", "r(d+k) + r", _adalora),
    LoraVariant("LoRA+", "LoRA with a larger learning rate for B than for A",
                "Hayou et al. 2024", "2402.12354", "r(d+k)", _lora),
    LoraVariant("VeRA", "Frozen shared random A and B, train two scaling vectors",
                "Kopiczko et al. 2024", "2310.11454", "d + r", _vera),
)
"""The six methods of the comparison, in display order.

QLoRA trains the same adapters as LoRA (its base is 4-bit NF4, frozen).  DoRA's magnitude
is "m in R^{1 x k}" in the paper's notation; the released code sizes it by the layer's
output features.  AdaLoRA's count is at the initial rank; pruning zeroes singular values
but keeps P and Q.  LoRA+ changes only learning rates.  VeRA's A and B are not trained."""

VARIANTS_BY_NAME: dict[str, LoraVariant] = {v.name: v for v in VARIANTS}

EXAMPLE_LAYER: LinearLayer = next(m for m in linear_layers(LLAMA_7B) if m.name == "q")
"""LLaMA-7B ``self_attn.q_proj``, a 4096 x 4096 weight."""
EXAMPLE_RANK: int = 16


def variant_parameters(layer: LinearLayer = EXAMPLE_LAYER, rank: int = EXAMPLE_RANK) -> dict[str, int]:
    """{method name: trainable parameters of ``layer`` at ``rank``} for :data:`VARIANTS`."""
    return {v.name: v.parameters(layer, rank) for v in VARIANTS}


def model_variant_parameters(
    shape: TransformerShape, variant: LoraVariant, rank: int, targets: LoraTargets
) -> int:
    """Trainable parameters of ``variant`` on ``targets`` in every block of ``shape``."""
    return shape.n_layers * sum(variant.parameters(m, rank) for m in lora_target_layers(shape, targets))


def trainable_percent(shape: TransformerShape, n_trainable: int) -> float:
    """100 * trainable / (base + trainable): adapters counted in "all params" (PEFT style)."""
    return 100.0 * n_trainable / (parameter_count(shape) + n_trainable)


# =========================================================== 4. the headline reduction

PAPER_PARAMETER_REDUCTION: int = 10_000
"""LoRA abstract: "reduce the number of trainable parameters by 10,000 times"."""
PAPER_GPU_MEMORY_REDUCTION: int = 3
"""LoRA abstract: "... and the GPU memory requirement by 3 times"."""
PAPER_TRAINING_VRAM_BYTES: tuple[float, float] = (1.2e12, 350e9)
"""LoRA Sec. 4.2: GPT-3 175B training VRAM "from 1.2TB to 350GB" (ratio 3.43)."""
PAPER_CHECKPOINT_BYTES: tuple[float, float] = (350e9, 35e6)
"""LoRA Sec. 4.2: "With r = 4 and only the query and value projection matrices being
adapted, the checkpoint size is reduced by roughly 10,000x (from 350GB to 35MB)"."""
PAPER_GPT3_FT_TRAINABLE: float = 175_255.8e6
"""LoRA Table 4, GPT-3 (FT) "# Trainable Parameters": 175,255.8M."""
HEADLINE_RANK: int = 4
HEADLINE_TARGETS: tuple[str, ...] = ("q", "v")


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
    return HeadlineReduction(parameter_count(shape), lora_parameters(shape, rank, targets), bytes_per_param)
