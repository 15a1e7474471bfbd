"""Numbers printed in the LoRA paper and in the papers of its variants: the tables the figures
reproduce, the claims they check and the settings the papers used.

1. :data:`MODULE_SELECTION` -- LoRA Table 5 (which attention weights to adapt under an 18M
   budget, GPT-3), with its seed spreads.
2. :data:`INFERENCE_LATENCY` / :data:`LATENCY_SETTINGS` -- LoRA Table 1 (GPT-2 medium latency,
   adapters vs LoRA); :data:`ADAPTERS_PER_BLOCK` -- the two adapter designs it compares.
3. :data:`VARIANTS` -- LoRA, QLoRA, DoRA, AdaLoRA, LoRA+ and VeRA: idea, citation and the
   formula of the trainable parameters of one weight matrix (the counts themselves are
   computed in :mod:`numerics.lora.costs`).
4. The headline claims: "10,000 times" fewer trainable parameters, "3 times" less GPU memory,
   "350GB -> 35MB" checkpoints, and the configuration they were made for (r = 4 on W_q, W_v).

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

Values only, as printed; nothing here computes.
"""

from __future__ import annotations

from dataclasses import dataclass

from numerics.memory import GPT2_MEDIUM, TransformerShape

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
    ModuleSelectionRow(weight_types=("q",), rank=8, wikisql=70.4, multinli=91.0),
    ModuleSelectionRow(weight_types=("k",), rank=8, wikisql=70.0, multinli=90.8),
    ModuleSelectionRow(weight_types=("v",), rank=8, wikisql=73.0, multinli=91.0),
    ModuleSelectionRow(weight_types=("o",), rank=8, wikisql=73.2, multinli=91.3),
    ModuleSelectionRow(weight_types=("q", "k"), rank=4, wikisql=71.4, multinli=91.3),
    ModuleSelectionRow(weight_types=("q", "v"), rank=4, wikisql=73.7, multinli=91.3),
    ModuleSelectionRow(weight_types=("q", "k", "v", "o"), rank=2, wikisql=73.7, multinli=91.7),
)
"""LoRA (arXiv 2106.09685) Table 5: "Validation accuracy on WikiSQL and MultiNLI after
applying LoRA to different types of attention weights in GPT-3, given the same number of
trainable parameters."  Ranks r = 8, 8, 8, 8, 4, 4, 2.  (App. D.4 lists
r_q = r_k = r_v = r_o = 2 under the 37.7M budget; Table 5 and the formula give 18.9M.)"""


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
    LatencySetting(batch_size=32, sequence_length=512, adapter_parameters=0.5e6),
    LatencySetting(batch_size=16, sequence_length=256, adapter_parameters=11e6),
    LatencySetting(batch_size=1, sequence_length=128, adapter_parameters=11e6),
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
    LatencyRow(method="Fine-Tune/LoRA", mean_ms=(1449.4, 338.0, 19.8), std_ms=(0.8, 0.6, 2.7),
               increase_pct=None),
    LatencyRow(method="AdapterL", mean_ms=(1482.0, 354.8, 23.9), std_ms=(1.0, 0.5, 2.1),
               increase_pct=(2.2, 5.0, 20.7)),
    LatencyRow(method="AdapterH", mean_ms=(1492.2, 366.3, 25.8), std_ms=(1.0, 0.5, 2.2),
               increase_pct=(3.0, 8.4, 30.3)),
)
"""LoRA (arXiv 2106.09685) Table 1: inference latency of a single forward pass in GPT-2
medium (ms), columns as :data:`LATENCY_SETTINGS`."""

ADAPTERS_PER_BLOCK: dict[str, int] = {"adapter_houlsby": 2, "adapter_lin": 1}
"""Houlsby et al. 2019: two adapters per block; Lin et al. 2020 (Adapter^L): one."""


# ===================================================================== 3. LoRA variants


@dataclass(frozen=True)
class LoraVariant:
    """A LoRA-family method: name, one-line idea (plain ASCII), citation, and the formula of its
    trainable parameters per adapted matrix, with d = output and k = input dimension of W,
    r = rank (counted by :func:`numerics.lora.costs.matrix_parameters`)."""

    name: str
    key_idea: str
    citation: str
    arxiv: str
    formula: str


VARIANTS: tuple[LoraVariant, ...] = (
    LoraVariant(name="LoRA", key_idea="Freeze W and train a low-rank update BA",
                citation="Hu et al. 2021", arxiv="2106.09685", formula="r(d+k)"),
    LoraVariant(name="QLoRA", key_idea="LoRA adapters on a frozen 4-bit NF4 base model",
                citation="Dettmers et al. 2023", arxiv="2305.14314", formula="r(d+k)"),
    LoraVariant(name="DoRA", key_idea="LoRA on the direction, train the magnitude vector",
                citation="Liu et al. 2024", arxiv="2402.09353", formula="r(d+k) + d"),
    LoraVariant(name="AdaLoRA", key_idea="SVD-form update, prune singular values to a budget",
                citation="Zhang et al. 2023", arxiv="2303.10512", formula="r(d+k) + r"),
    LoraVariant(name="LoRA+", key_idea="LoRA with a larger learning rate for B than for A",
                citation="Hayou et al. 2024", arxiv="2402.12354", formula="r(d+k)"),
    LoraVariant(name="VeRA", key_idea="Frozen shared random A and B, train two scaling vectors",
                citation="Kopiczko et al. 2024", arxiv="2310.11454", formula="d + r"),
)
"""The six methods of the comparison, in display order.

QLoRA trains the same adapters as LoRA (its base is 4-bit NF4, frozen).  DoRA's magnitude
is "m in R^{1 x k}" in the paper's notation; the released code sizes it by the layer's
output features.  AdaLoRA's count is at the initial rank; pruning zeroes singular values
but keeps P and Q.  LoRA+ changes only learning rates.  VeRA's A and B are not trained."""

VARIANTS_BY_NAME: dict[str, LoraVariant] = {v.name: v for v in VARIANTS}

LORA_PLUS_LR_RATIO: int = 2**4
"""LoRA+ eta_B / eta_A = 2^4 = 16: the paper's recommendation as quoted by axolotl
docs/config.qmd; the authors' README only says >= 1, model and task dependent."""
ADALORA_INITIAL_BUDGET_FACTOR: float = 1.5
"""AdaLoRA Sec. 3.3: b(0) "slightly higher than the target budget b(T) (e.g., 1.5 times)"."""


# ======================================================== 4. the headline claims

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
"""LoRA Sec. 4.2: the headline checkpoint saving is for r = 4 ..."""
HEADLINE_TARGETS: tuple[str, ...] = ("q", "v")
"""... on the query and value projections only."""
