"""Numbers printed in the pre-training papers the pre-training chapter draws: scaling-law
constants, model sizes and token counts, training compute and GPU hours, data mixtures, the
LLaMA pre-training recipe, and the accelerator and utilisation the compute figure states.

Every value was read in the cited source and is kept as printed (no arithmetic here):

* Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv 2001.08361.  Sec. 1.2,
  Eqs. (1.1)-(1.3): L(N) = (N_c/N)^alpha_N with alpha_N ~ 0.076, N_c ~ 8.8e13 (non-embedding
  parameters); L(D) = (D_c/D)^alpha_D with alpha_D ~ 0.095, D_c ~ 5.4e13 (tokens);
  L(C_min) = (C_c^min/C_min)^alpha_C^min with alpha_C^min ~ 0.050, C_c^min ~ 3.1e8 (PF-days).
  Losses in nats per token on WebText2 with GPT-2's byte-pair encoding (Sec. 2.2), N excluding
  embeddings (Sec. 1.3).
* Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" ("Chinchilla"),
  arXiv 2203.15556.  Sec. 3.3, Eq. (2): L(N, D) = E + A/N^alpha + B/D^beta, fitted (approach 3)
  in App. D.2, Eq. (10): E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28, N counting
  all parameters; Eq. (4): the efficient frontier N_opt(C) = G (C/6)^a with
  G = (alpha A / (beta B))^(1/(alpha+beta)), a = beta/(alpha+beta).  Fig. 4 caption: approach 3
  projects "40B" parameters as optimal for Gopher's budget; Table 3 (approach 1): 67B
  parameters and 1.5T tokens at 5.76e23 FLOPs ("1 Gopher unit"); Table 1: Gopher 280B on 300B
  tokens, Chinchilla 70B on 1.4T tokens, GPT-3 175B on 300B tokens.
* Brown et al. 2020, "Language Models are Few-Shot Learners" (GPT-3), arXiv 2005.14165.  Table
  D.1: GPT-3 175B, 174,600M parameters, 300B tokens, total train compute 3.14E+23 FLOPs
  (3.64E+03 PF-days).  Table 2.2: the training mixture (tokens, weight in the mix, epochs
  elapsed when training for 300B tokens).
* Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models", arXiv
  2302.13971.  Table 1 (sampling proportion, epochs on 1.4T tokens, disk size per source),
  Table 2 (6.7B / 13.0B / 32.5B / 65.2B parameters, learning rates 3.0e-4 / 3.0e-4 / 1.5e-4 /
  1.5e-4, batch size 4M tokens, 1.0T / 1.0T / 1.4T / 1.4T tokens), Sec. 2.1 ("roughly 1.4T
  tokens after tokenization"; BPE with SentencePiece, digits split, byte fallback; CCNet:
  line-level deduplication, fastText language identification, n-gram quality filter), Sec. 2.3
  (AdamW beta1 0.9, beta2 0.95, cosine schedule to 10 % of the maximal rate, weight decay 0.1,
  clipping 1.0, 2,000 warm-up steps), Sec. 2.4 (65B: "around 380 tokens/sec/GPU on 2048 A100
  GPU with 80GB of RAM"), Table 15 (GPU hours on A100-80GB: 82,432 / 135,168 / 530,432 /
  1,022,362).
* Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models", arXiv 2307.09288.
  Table 1: Llama 2 70B on 2.0T tokens, context length 4k (LLaMA 1: 2k); Sec. 2.2: the
  tokenizer of Llama 1, "total vocabulary size is 32k tokens"; Table 2: 1,720,320 GPU hours for
  70B, on A100-80GB (Sec. 2.2.1).
* Chowdhery et al. 2022, "PaLM: Scaling Language Modeling with Pathways", arXiv 2204.02311.
  Table 3: model FLOPs utilisation (MFU) of Megatron-Turing NLG 530B on 2240 A100 GPUs, 30.2 %
  (GPT-3 on V100 21.3 %, Gopher on TPU v3 32.5 %, PaLM on TPU v4 46.2 %).
* NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/a100): "BFLOAT16 Tensor
  Core 312 TFLOPS | 624 TFLOPS*", "*With sparsity"; 312 TFLOPS is the dense peak.
"""
from __future__ import annotations

from dataclasses import dataclass

from numerics.memory import LLAMA_7B, LLAMA_13B, LLAMA_33B, LLAMA_65B, TransformerShape

# ---- Kaplan et al. 2020, Sec. 1.2, Eqs. (1.1)-(1.3) -------------------------------------------
KAPLAN_ALPHA_N: float = 0.076
"""Eq. (1.1): exponent of L(N), N the non-embedding parameters."""
KAPLAN_N_C: float = 8.8e13
"""Eq. (1.1): N_c, non-embedding parameters."""
KAPLAN_ALPHA_D: float = 0.095
"""Eq. (1.2): exponent of L(D), D in tokens."""
KAPLAN_D_C: float = 5.4e13
"""Eq. (1.2): D_c, tokens."""
KAPLAN_ALPHA_C_MIN: float = 0.050
"""Eq. (1.3): exponent of L(C_min)."""
KAPLAN_C_C_MIN_PF_DAYS: float = 3.1e8
"""Eq. (1.3): C_c^min in PF-days (1 PF-day = 1e15 FLOP/s x 86,400 s)."""
KAPLAN_N_RANGE: tuple[float, float] = (768, 1.5e9)
"""Sec. 3: the models studied, "ranging in size from 768 to 1.5 billion non-embedding
parameters"."""
KAPLAN_D_RANGE: tuple[float, float] = (22e6, 23e9)
"""Sec. 3: the datasets studied, "ranging from 22 million to 23 billion tokens"."""
KAPLAN_DATA = "WebText2, GPT-2 tokenizer"
"""Sec. 2.2: what Kaplan's losses were measured on."""

# ---- Hoffmann et al. 2022 (Chinchilla), App. D.2, Eq. (10) ------------------------------------
CHINCHILLA_E: float = 1.69
CHINCHILLA_A: float = 406.4
CHINCHILLA_B: float = 410.7
CHINCHILLA_ALPHA: float = 0.34
CHINCHILLA_BETA: float = 0.28
CHINCHILLA_DATA = "MassiveText, SentencePiece tokenizer"
"""Sec. 4.1: Chinchilla and the scaling runs train on MassiveText (Gopher's data) with a
SentencePiece tokenizer; its losses are not comparable with Kaplan's."""
CHINCHILLA_A_EXPONENT_PRINTED: float = 0.46
"""Table 2, approach 3: N_opt proportional to C^0.46 as printed (the rounded constants of
Eq. (10) give beta/(alpha+beta) = 0.452)."""
CHINCHILLA_GOPHER_APPROACH3_N: float = 40e9
"""Fig. 4 caption: approach 3 projects a 40B-parameter model as optimal for Gopher's budget."""
CHINCHILLA_GOPHER_APPROACH1_N: float = 67e9
"""Table 3 (approach 1): 67B parameters are optimal at 5.76e23 FLOPs, Gopher's budget."""
CHINCHILLA_GOPHER_APPROACH1_TOKENS: float = 1.5e12
"""Table 3 (approach 1): 1.5T tokens at 5.76e23 FLOPs."""
CHINCHILLA_GOPHER_BUDGET_FLOPS: float = 5.76e23
"""Table 3: the "Gopher unit" of compute, 5.76e23 FLOPs (counted by App. F, not by 6ND)."""

# ---- GPT-3, arXiv 2005.14165, Table D.1 -------------------------------------------------------
GPT3_TABLE_D1_PARAMS: float = 174_600e6
"""Table D.1: GPT-3 175B has 174,600 million parameters."""
GPT3_TABLE_D1_FLOPS: float = 3.14e23
"""Table D.1: total train compute of GPT-3 175B, 3.14E+23 FLOPs."""
GPT3_TABLE_D1_PF_DAYS: float = 3.64e3
"""Table D.1: the same compute, 3.64E+03 PF-days."""


@dataclass(frozen=True)
class PublishedModel:
    """A pre-trained model at its published size and token count.

    ``params`` is the count the book uses: for LLaMA, counted from ``shape`` (numerics.memory,
    the book's one parameter count, which rounds to the paper's 6.7B / 13.0B / 32.5B / 65.2B);
    for the others the paper's nominal count.  ``gpu_hours`` are A100-80GB hours where the paper
    prints them, else None."""

    name: str
    label: str                     # how figures name it ("LLaMA 65B")
    nominal_params: float          # as the paper names the model (175e9)
    tokens: float
    source: str
    shape: TransformerShape | None = None
    gpu_hours: float | None = None
    gpu_hours_source: str = ""


GPT3 = PublishedModel("GPT-3 175B", "GPT-3", 175e9, 300e9,
                      "Brown et al. 2020, arXiv 2005.14165, Table D.1; Hoffmann et al. 2022, "
                      "Table 1")
GOPHER = PublishedModel("Gopher 280B", "Gopher", 280e9, 300e9,
                        "Rae et al. 2021 via Hoffmann et al. 2022, arXiv 2203.15556, Table 1")
CHINCHILLA = PublishedModel("Chinchilla 70B", "Chinchilla", 70e9, 1.4e12,
                            "Hoffmann et al. 2022, arXiv 2203.15556, Table 1")
LLAMA_MODELS: tuple[PublishedModel, ...] = (
    PublishedModel("LLaMA 7B", "LLaMA 7B", 7e9, 1.0e12,
                   "Touvron et al. 2023, arXiv 2302.13971, Table 2", LLAMA_7B, 82_432,
                   "LLaMA, arXiv 2302.13971, Table 15"),
    PublishedModel("LLaMA 13B", "LLaMA 13B", 13e9, 1.0e12,
                   "Touvron et al. 2023, arXiv 2302.13971, Table 2", LLAMA_13B, 135_168,
                   "LLaMA, arXiv 2302.13971, Table 15"),
    PublishedModel("LLaMA 33B", "LLaMA 33B", 33e9, 1.4e12,
                   "Touvron et al. 2023, arXiv 2302.13971, Table 2", LLAMA_33B, 530_432,
                   "LLaMA, arXiv 2302.13971, Table 15"),
    PublishedModel("LLaMA 65B", "LLaMA 65B", 65e9, 1.4e12,
                   "Touvron et al. 2023, arXiv 2302.13971, Table 2", LLAMA_65B, 1_022_362,
                   "LLaMA, arXiv 2302.13971, Table 15"),
)
LLAMA2_70B = PublishedModel("Llama 2 70B", "Llama 2 70B", 70e9, 2.0e12,
                            "Touvron et al. 2023, arXiv 2307.09288, Table 1", None, 1_720_320,
                            "Llama 2, arXiv 2307.09288, Table 2")
PUBLISHED_MODELS: tuple[PublishedModel, ...] = (GPT3, GOPHER, CHINCHILLA, *LLAMA_MODELS,
                                                LLAMA2_70B)
"""The models the scaling and compute figures place, in order of publication."""

LLAMA_PUBLISHED_PARAMS_BILLION: dict[str, float] = {
    "LLaMA 7B": 6.7, "LLaMA 13B": 13.0, "LLaMA 33B": 32.5, "LLaMA 65B": 65.2}
"""LLaMA Table 2, column "params", as printed."""

# ---- LLaMA's recipe, arXiv 2302.13971 ---------------------------------------------------------
LLAMA_BATCH_TOKENS: float = 4e6
"""Table 2: batch size "4M" tokens for every size (Fig. 1 caption: "a batch size of 4M
tokens"); the paper does not say whether M is 10^6 or 2^20, we take 10^6."""
LLAMA_LEARNING_RATES: dict[str, float] = {
    "LLaMA 7B": 3.0e-4, "LLaMA 13B": 3.0e-4, "LLaMA 33B": 1.5e-4, "LLaMA 65B": 1.5e-4}
"""Table 2: peak learning rates."""
LLAMA_WARMUP_STEPS: int = 2_000
"""Sec. 2.3: 2,000 warm-up steps."""
LLAMA_FINAL_LR_FRACTION: float = 0.10
"""Sec. 2.3: cosine schedule "such that the final learning rate is equal to 10% of the maximal
learning rate"."""
LLAMA_WEIGHT_DECAY: float = 0.1
LLAMA_GRAD_CLIP: float = 1.0
LLAMA_ADAM_BETAS: tuple[float, float] = (0.9, 0.95)
"""Sec. 2.3: AdamW with beta1 = 0.9, beta2 = 0.95, weight decay 0.1, gradient clipping 1.0."""
LLAMA_DATASET_TOKENS: float = 1.4e12
"""Sec. 2.1: "our entire training dataset contains roughly 1.4T tokens after tokenization"."""
LLAMA_65B_TOKENS_PER_GPU_SECOND: float = 380
"""Sec. 2.4: LLaMA-65B trains at "around 380 tokens/sec/GPU on 2048 A100 GPU with 80GB"."""
LLAMA_65B_GPUS: int = 2048
LLAMA_65B_DAYS: float = 21
"""Sec. 2.4: "training over our dataset containing 1.4T tokens takes approximately 21 days"."""
LLAMA_CONTEXT_LENGTH: int = 2048
"""Llama 2, arXiv 2307.09288, Table 1: LLaMA 1 (Llama 1) trained with a 2k context; the released
LLaMA configurations: 2048 (numerics.memory.LLAMA_7B.context_length)."""
LLAMA_VOCABULARY: int = 32_000
"""Llama 2, arXiv 2307.09288, Sec. 2.2: "We use the same tokenizer as Llama 1 ... The total
vocabulary size is 32k tokens"; the released configurations: 32000
(numerics.memory.LLAMA_7B.vocab_size)."""

# ---- accelerator and utilisation --------------------------------------------------------------
A100_NAME = "A100 80GB"
A100_BF16_DENSE_TFLOPS: float = 312
"""NVIDIA A100 datasheet: "BFLOAT16 Tensor Core 312 TFLOPS | 624 TFLOPS*" (*with sparsity)."""
A100_BF16_SPARSE_TFLOPS: float = 624
PALM_MFU: dict[str, float] = {
    "GPT-3 175B (V100)": 21.3,
    "Gopher 280B (TPU v3)": 32.5,
    "Megatron-Turing NLG 530B (A100)": 30.2,
    "PaLM 540B (TPU v4)": 46.2,
}
"""PaLM, arXiv 2204.02311, Table 3: model FLOPs utilisation in percent."""
STATED_MFU_SOURCE = "Megatron-Turing NLG 530B (A100)"
"""The utilisation the compute figure states: the one PaLM's Table 3 reports on A100s."""


@dataclass(frozen=True)
class MixtureSource:
    """One source of a published pre-training mixture, as the paper's table prints it.

    ``share_pct``: LLaMA's "sampling proportion" / GPT-3's "weight in training mix" (percent);
    ``epochs``: epochs performed on the source (LLaMA: when training on 1.4T tokens; GPT-3:
    "elapsed when training for 300B tokens"); ``size`` and ``size_unit``: LLaMA's disk size
    (TB or GB) or GPT-3's quantity in billions of tokens."""

    name: str
    share_pct: float
    epochs: float
    size: float
    size_unit: str


LLAMA_MIXTURE: tuple[MixtureSource, ...] = (
    MixtureSource("CommonCrawl", 67.0, 1.10, 3.3, "TB"),
    MixtureSource("C4", 15.0, 1.06, 783, "GB"),
    MixtureSource("Github", 4.5, 0.64, 328, "GB"),
    MixtureSource("Wikipedia", 4.5, 2.45, 83, "GB"),
    MixtureSource("Books", 4.5, 2.23, 85, "GB"),
    MixtureSource("ArXiv", 2.5, 1.06, 92, "GB"),
    MixtureSource("StackExchange", 2.0, 1.03, 78, "GB"),
)
"""LLaMA, arXiv 2302.13971, Table 1 ("Pre-training data"), in the paper's order: sampling
proportion, epochs on 1.4T tokens, disk size.  "The pre-training runs on 1T tokens have the same
sampling proportion."  (Sec. 2.1 names the books source "Gutenberg and Books3".)"""

GPT3_MIXTURE: tuple[MixtureSource, ...] = (
    MixtureSource("Common Crawl (filtered)", 60, 0.44, 410, "B tokens"),
    MixtureSource("WebText2", 22, 2.9, 19, "B tokens"),
    MixtureSource("Books1", 8, 1.9, 12, "B tokens"),
    MixtureSource("Books2", 8, 0.43, 55, "B tokens"),
    MixtureSource("Wikipedia", 3, 3.4, 3, "B tokens"),
)
"""GPT-3, arXiv 2005.14165, Table 2.2, in the paper's order: quantity (billions of tokens),
weight in training mix (%), epochs elapsed when training for 300B tokens.  The weights sum to
101 % as printed (rounding)."""
GPT3_TRAINING_TOKENS: float = 300e9
"""Table 2.2 caption / Table D.1: GPT-3 trains for 300 billion tokens."""
