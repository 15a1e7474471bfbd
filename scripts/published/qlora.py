"""Numbers printed in the QLoRA paper: the Guanaco results (Tables 1, 5 and 6), the Guanaco
recipe's rank, and the memory claims of Sections 1 and 3 that the figures reproduce.

Source: Dettmers, Pagnoni, Holtzman, Zettlemoyer 2023, "QLoRA: Efficient Finetuning of
Quantized LLMs", arXiv 2305.14314.  Table 1 (Elo, GPT-4 judge, Vicuna benchmark, with a "Size"
column), Table 5 (MMLU 5-shot), Table 6 (Vicuna benchmark as % of ChatGPT, with a "Memory"
column), Sec. 1 (">780GB" to "<48GB"; double quantization saves "approximately 3 GB for a 65B
model"), Sec. 2 ("the 4-bit base model consumes 5,048 MB"), Sec. 3 (the cost of the
quantization constants), App. B (Guanaco: LoRA r = 64 on all linear layers).  The 16-bit
baseline of Sec. 1 (780 GB) is :data:`numerics.memory.QLORA_16BIT_FULL_FINETUNE_GB`.

Values only, as printed; GB as the paper prints it.
"""
from __future__ import annotations

from dataclasses import dataclass

from numerics.memory import LLAMA_7B, LLAMA_13B, LLAMA_33B, LLAMA_65B, TransformerShape

GUANACO_RANK: int = 64
"""LoRA rank of every Guanaco model, on all linear layers (App. B)."""

QLORA_65B_GPU_GB: int = 48
"""Abstract and Sec. 1: QLoRA fine-tunes a 65B model "on a single 48GB GPU" ("<48GB")."""

CONSTANT_BITS_SINGLE: float = 0.5
"""Sec. 3: one fp32 constant per block of 64 weights costs "32/64 = 0.5 bits" per parameter."""
CONSTANT_BITS_DOUBLE: float = 0.127
"""Sec. 3: with double quantization "8/64 + 32/(64 * 256) = 0.127 bits" per parameter."""
CONSTANT_BITS_SAVED: float = 0.373
"""Sec. 3: double quantization is "a reduction of 0.373 bits per parameter"."""
DOUBLE_QUANT_SAVING_65B_GB: float = 3
"""Sec. 1: double quantization saves "approximately 3 GB for a 65B model"."""

QLORA_7B_4BIT_BASE_MB: int = 5048
"""Sec. 2: for LLaMA 7B trained on FLAN v2 with batch size 1, "the 4-bit base model consumes
5,048 MB of memory" (measured; the paper does not say whether MB is 1e6 or 2**20)."""


@dataclass(frozen=True)
class GuanacoResult:
    """One Guanaco model (LLaMA + 4-bit QLoRA on OASST1) as printed in QLoRA (arXiv 2305.14314).

    * ``memory_gb`` -- Table 6, column "Memory".  The paper does not say how it was measured;
      the text reads it as the deployed footprint (Sec. 1: "When deployed, our smallest
      Guanaco model (7B parameters) requires just 5 GB of memory"; Sec. 5.3: "Guanaco 7B
      easily fits on modern phones at a 5 GB footprint").  The 16-bit rows of the same
      column are 2 bytes x parameters (Vicuna 13B: 26 GB, Open Assistant 33B: 66 GB).
    * ``size_gb`` -- Table 1, column "Size".  Same as ``memory_gb`` except Guanaco 7B,
      which Table 1 prints as 6 GB and Table 6 (and the text) as 5 GB.
    * ``elo`` / ``elo_ci`` -- Table 1: Elo of a tournament on the Vicuna benchmark (80
      prompts) judged by GPT-4, averaged over 10,000 random orderings, +- 95 % CI.  (Table 7,
      GPT-4 / Vicuna column, prints 913 instead of 916 for Guanaco 13B; we keep Table 1.)
    * ``vicuna_chatgpt_first`` / ``vicuna_system_first`` / ``vicuna_mean`` / ``vicuna_ci`` --
      Table 6: GPT-4 scores each response out of 10; the model's total as a percentage of
      ChatGPT's, with ChatGPT's answer shown first ("ChatGPT vs Sys"), the model's first
      ("Sys vs ChatGPT"), their mean, and the 95 % CI half-width, all in percent.
    * ``mmlu`` -- Table 5, row "Guanaco (OASST1)": MMLU 5-shot test accuracy in percent.
    """

    name: str
    shape: TransformerShape
    model_bits: int
    memory_gb: float
    size_gb: float
    elo: int
    elo_ci: int
    vicuna_chatgpt_first: float
    vicuna_system_first: float
    vicuna_mean: float
    vicuna_ci: float
    mmlu: float


GUANACO_RESULTS: tuple[GuanacoResult, ...] = (
    GuanacoResult(name="Guanaco 7B", shape=LLAMA_7B, model_bits=4, memory_gb=5, size_gb=6,
                  elo=879, elo_ci=1, vicuna_chatgpt_first=84.1, vicuna_system_first=89.8,
                  vicuna_mean=87.0, vicuna_ci=5.4, mmlu=36.6),
    GuanacoResult(name="Guanaco 13B", shape=LLAMA_13B, model_bits=4, memory_gb=10, size_gb=10,
                  elo=916, elo_ci=1, vicuna_chatgpt_first=87.3, vicuna_system_first=93.4,
                  vicuna_mean=90.4, vicuna_ci=5.2, mmlu=46.4),
    GuanacoResult(name="Guanaco 33B", shape=LLAMA_33B, model_bits=4, memory_gb=21, size_gb=21,
                  elo=992, elo_ci=1, vicuna_chatgpt_first=96.5, vicuna_system_first=99.2,
                  vicuna_mean=97.8, vicuna_ci=4.4, mmlu=57.0),
    GuanacoResult(name="Guanaco 65B", shape=LLAMA_65B, model_bits=4, memory_gb=41, size_gb=41,
                  elo=1022, elo_ci=1, vicuna_chatgpt_first=96.7, vicuna_system_first=101.9,
                  vicuna_mean=99.3, vicuna_ci=4.4, mmlu=62.2),
)
"""Guanaco rows of QLoRA (arXiv 2305.14314) Tables 1, 5 and 6, smallest model first.

Reference rows of the same tables (not Guanaco): Table 1 Elo GPT-4 1348, ChatGPT 966,
Bard 902, Vicuna 13B 974; Table 6 GPT-4 114.5 %, Bard 94.8 %, Vicuna 13B 94.9 % (26 GB,
:data:`VICUNA_13B`).
"""


@dataclass(frozen=True)
class Table6Row:
    """A row of QLoRA Table 6 that is not a Guanaco model: the columns of
    :class:`GuanacoResult` that Table 6 prints (memory in GB as printed, Vicuna-benchmark scores
    in % of ChatGPT's)."""

    name: str
    params_billion: int
    model_bits: int
    memory_gb: float
    vicuna_chatgpt_first: float
    vicuna_system_first: float
    vicuna_mean: float
    vicuna_ci: float


VICUNA_13B = Table6Row(name="Vicuna 13B", params_billion=13, model_bits=16, memory_gb=26,
                       vicuna_chatgpt_first=91.2, vicuna_system_first=98.7, vicuna_mean=94.9,
                       vicuna_ci=4.5)
"""QLoRA Table 6, row "Vicuna 13B": the 16-bit model the paper compares Guanaco with (its memory,
26 GB, is 2 bytes x 13e9 parameters). The row "Open Assistant 33B" (16-bit, 66 GB) prints the
same four scores, digit for digit; we leave it out rather than guess which row is right."""

CHATGPT_VICUNA_SCORE: float = 100.0
"""Table 6 scores every system relative to ChatGPT: ChatGPT itself is 100 %."""

TABLE_2_MEAN_PERPLEXITY: dict[str, float] = {
    "Int4": 34.34,
    "Float4 (E2M1)": 31.07,
    "Float4 (E3M0)": 29.48,
    "NFloat4 + DQ": 27.41,
}
"""QLoRA Table 2: mean Pile Common Crawl perplexity of OPT, BLOOM, LLaMA and Pythia models of
125M to 13B parameters quantized to each 4-bit data type (lower is better).  By this measure
Int4 is the worst type, Float4 in between and NF4 the best -- an order that differs from the
RMSE of quantization_comparison, where FP4 (E2M1) errs most."""
