"""Recommended fine-tuning hyperparameters for full fine-tuning, LoRA and QLoRA.

A compact table (at most 9 rows) for a 6.7 in wide figure.  Every cell is a
short display string with a key into :data:`SOURCES`; "n/a" marks a setting
that does not apply or that the source does not state.  Each value was read in
the cited source:

* Full fine-tuning -- BERT, arXiv 1810.04805.  App. A.3: "Batch size: 16, 32;
  Learning rate (Adam): 5e-5, 3e-5, 2e-5; Number of epochs: 2, 3, 4" and "most
  model hyperparameters are the same as in pre-training", i.e. App. A.2: "L2
  weight decay of 0.01 ... and linear decay of the learning rate".  A.2's
  warm-up (first 10,000 of 1M pre-training steps) is not restated for
  fine-tuning, so it is not carried over.  (arXiv v1 listed epochs 3, 4.)
* LoRA -- arXiv 2106.09685.  App. D.3, Table 11 (GPT-2 M on E2E): AdamW,
  weight decay 0.01, batch size 8, 5 epochs, 500 warm-up steps, linear
  schedule, learning rate 2e-4, r_q = r_v = 4, alpha 32 (GPT-3 also uses 2e-4,
  Table 12).  Sec. 5.1: full fine-tuning updates "all model parameters"; LoRA
  is applied "to W_q and W_v in most experiments".  Table 11's "Dropout Prob
  0.1" is ``--lora_dropout 0.1`` in the released E2E command
  (microsoft/LoRA examples/NLG/README.md), which also sets ``--clip 0.0``
  (no gradient clipping).
* QLoRA -- arXiv 2305.14314.  Sec. 5.1 (details in App. B): NF4 + double
  quantization, paged optimizers; "We halve the learning rate for 33B and 65B
  while doubling the batch size."  App. B (same wording in the authors'
  Guanaco model card): LoRA r = 64, alpha = 16 on all linear layers, Adam
  beta2 0.999, max grad norm 0.3, LoRA dropout 0.1 up to 13B and 0.05 for
  33B/65B, constant learning-rate schedule; learning rate 2e-4 (7B/13B) and
  1e-4 (33B/65B).  The released Guanaco (OASST1) scripts
  (artidoro/qlora scripts/finetune_guanaco_{7b,65b}.sh) use batch 4 x 4
  accumulation = 16, 1875 steps, ``warmup_ratio 0.03``, ``weight_decay 0.0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Regime = Literal["full", "lora", "qlora"]

REGIMES: tuple[Regime, ...] = ("full", "lora", "qlora")
REGIME_LABELS: dict[Regime, str] = {
    "full": "Full fine-tuning",
    "lora": "LoRA",
    "qlora": "QLoRA",
}

NOT_APPLICABLE = "n/a"
MAX_CELL_CHARS = 14
MAX_ROWS = 9

SOURCES: dict[str, str] = {
    "bert_a3": "BERT (Devlin et al. 2019), arXiv 1810.04805, App. A.3",
    "bert_a2": "BERT (Devlin et al. 2019), App. A.2, kept for fine-tuning per A.3",
    "lora_t11": "LoRA (Hu et al. 2021), arXiv 2106.09685, App. D.3, Table 11 (GPT-2 M, E2E)",
    "lora_s51": "LoRA (Hu et al. 2021), Sec. 5.1",
    "lora_code": "LoRA code, microsoft/LoRA examples/NLG/README.md (E2E command)",
    "qlora_b": "QLoRA (Dettmers et al. 2023), arXiv 2305.14314, Sec. 5.1 and App. B",
    "qlora_code": "QLoRA code, artidoro/qlora, Guanaco fine-tuning scripts",
}


@dataclass(frozen=True)
class Cell:
    """One table entry: a short display string and the key of its source."""

    text: str
    source: str | None = None


NA = Cell(NOT_APPLICABLE)


@dataclass(frozen=True)
class HyperparameterRow:
    """One hyperparameter across the three regimes, with an optional footnote."""

    name: str
    full: Cell
    lora: Cell
    qlora: Cell
    note: str = ""

    def cell(self, regime: Regime) -> Cell:
        """The cell of this row for ``regime``."""
        return getattr(self, regime)


HYPERPARAMETERS: tuple[HyperparameterRow, ...] = (
    HyperparameterRow(
        "Learning rate",
        full=Cell("2e-5 - 5e-5", "bert_a3"),
        lora=Cell("2e-4", "lora_t11"),
        qlora=Cell("2e-4 / 1e-4", "qlora_b"),
        note="QLoRA: 2e-4 for 7B/13B, 1e-4 for 33B/65B.",
    ),
    HyperparameterRow(
        "Batch size",
        full=Cell("16, 32", "bert_a3"),
        lora=Cell("8", "lora_t11"),
        qlora=Cell("16", "qlora_code"),
        note="QLoRA: Guanaco/OASST1 scripts; Sec. 5.1 doubles the batch for 33B/65B elsewhere.",
    ),
    HyperparameterRow(
        "Training length",
        full=Cell("2, 3, 4 epochs", "bert_a3"),
        lora=Cell("5 epochs", "lora_t11"),
        qlora=Cell("1875 steps", "qlora_code"),
    ),
    HyperparameterRow(
        "LR schedule",
        full=Cell("linear decay", "bert_a2"),
        lora=Cell("linear, wu 500", "lora_t11"),
        qlora=Cell("const., wu 3%", "qlora_code"),
        note="wu = warm-up: 500 steps (LoRA), 3% of steps (QLoRA).",
    ),
    HyperparameterRow(
        "Weight decay",
        full=Cell("0.01", "bert_a2"),
        lora=Cell("0.01", "lora_t11"),
        qlora=Cell("0.0", "qlora_code"),
    ),
    HyperparameterRow(
        "Max grad norm",
        full=NA,
        lora=Cell("none", "lora_code"),
        qlora=Cell("0.3", "qlora_b"),
    ),
    HyperparameterRow(
        "LoRA r / alpha",
        full=NA,
        lora=Cell("4 / 32", "lora_t11"),
        qlora=Cell("64 / 16", "qlora_b"),
    ),
    HyperparameterRow(
        "LoRA dropout",
        full=NA,
        lora=Cell("0.1", "lora_code"),
        qlora=Cell("0.1 / 0.05", "qlora_b"),
        note="QLoRA: 0.1 up to 13B, 0.05 for 33B/65B.",
    ),
    HyperparameterRow(
        "Target modules",
        full=Cell("all params", "lora_s51"),
        lora=Cell("Wq, Wv", "lora_s51"),
        qlora=Cell("all linear", "qlora_b"),
    ),
)


def table_strings() -> list[list[str]]:
    """Header plus one list of strings per row: [name, full, LoRA, QLoRA]."""
    header = ["", *(REGIME_LABELS[r] for r in REGIMES)]
    body = [[row.name, *(row.cell(r).text for r in REGIMES)] for row in HYPERPARAMETERS]
    return [header, *body]


def cited_sources() -> list[str]:
    """Source keys in order of first use (row by row, left to right)."""
    keys: list[str] = []
    for row in HYPERPARAMETERS:
        for regime in REGIMES:
            key = row.cell(regime).source
            if key is not None and key not in keys:
                keys.append(key)
    return keys
