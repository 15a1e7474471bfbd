"""Published fine-tuning hyperparameters of full fine-tuning (BERT), LoRA and QLoRA.

Every value was read in the cited source:

* Full fine-tuning -- BERT, arXiv 1810.04805.  App. A.3: "Batch size: 16, 32;
  Learning rate (Adam): 5e-5, 3e-5, 2e-5; Number of epochs: 2, 3, 4" (a grid
  searched per task) and "most model hyperparameters are the same as in
  pre-training", i.e. App. A.2: "L2 weight decay of 0.01 ... and linear decay
  of the learning rate".  (arXiv v1 listed epochs 3, 4.)  The released code
  (github.com/google-research/bert) fine-tunes with ``--warmup_proportion 0.1``
  (run_classifier.py), decays the rate linearly to 0 (optimization.py:
  ``polynomial_decay(..., end_learning_rate=0.0, power=1.0)``) and clips the
  global gradient norm at 1.0 (optimization.py: "This is how the model was
  pre-trained").
* LoRA -- arXiv 2106.09685.  App. D.3, Table 11 (GPT-2 M on E2E): AdamW,
  weight decay 0.01, batch size 8, 5 epochs, 500 warm-up steps, linear
  schedule, learning rate 2e-4, r_q = r_v = 4, alpha 32 (GPT-3 also uses
  2e-4, Table 12).  Sec. 5.1: full fine-tuning updates "all model
  parameters"; LoRA is applied "to W_q and W_v in most experiments".  The
  released E2E command (github.com/microsoft/LoRA, examples/NLG/README.md)
  sets ``--lora_dropout 0.1`` (Table 11's "Dropout Prob 0.1"), ``--clip 0.0``
  (no gradient clipping), ``--scheduler linear --warmup_step 500`` (warm-up,
  then linear decay to 0 at the last step: src/optimizer.py) and names its
  final checkpoint ``model.26289.pt``: 26,289 steps in all.
* QLoRA -- arXiv 2305.14314.  Sec. 5.1 (details in App. B): "We halve the
  learning rate for 33B and 65B while doubling the batch size."  App. B (same
  wording in the Guanaco model card): LoRA r = 64, alpha = 16 on all linear
  layers, max grad norm 0.3, LoRA dropout 0.1 up to 13B and 0.05 for 33B and
  65B, constant learning-rate schedule; learning rate 2e-4 (7B, 13B) and 1e-4
  (33B, 65B).  The released Guanaco (OASST1) scripts
  (github.com/artidoro/qlora, scripts/finetune_guanaco_7b.sh ... _65b.sh) use
  a batch of 4 per device with 4 accumulation steps (16) for every size,
  1875 steps, ``--lr_scheduler_type constant``, ``--warmup_ratio 0.03`` and
  ``--weight_decay 0.0``.  Hugging Face's ``get_scheduler`` returns the plain
  constant schedule for "constant" without reading the warm-up, so the
  scripts train at the full rate from the first step.

Cells are plain text, with math between dollar signs; numbers are Python numbers, set by the
figures' code (as $2\\times10^{-5}$ in LaTeX). Values only: no computation here.
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
#: What each regime's values were published for.
REGIME_SETUPS: dict[Regime, str] = {
    "full": "BERT",
    "lora": "GPT-2 M on E2E",
    "qlora": "Guanaco, LLaMA 7B to 65B",
}

#: A setting the regime does not have (LoRA's rank in full fine-tuning).
NOT_APPLICABLE = "not applicable"
#: A setting the regime has but its sources do not state.
NOT_STATED = "not stated"

SOURCES: dict[str, str] = {
    "bert": "BERT (Devlin et al. 2019), arXiv 1810.04805, App. A.3, and App. A.2 for the "
            "settings A.3 keeps from pre-training",
    "bert_code": "BERT's released code, github.com/google-research/bert: run_classifier.py "
                 "(warm-up) and optimization.py (decay to 0, gradient clipping)",
    "lora": "LoRA (Hu et al. 2021), arXiv 2106.09685, Sec. 5.1 and App. D.3, Table 11 "
            "(GPT-2 M on E2E)",
    "lora_code": "LoRA's released code, github.com/microsoft/LoRA: the E2E command of "
                 "examples/NLG/README.md, and its schedule in examples/NLG/src/optimizer.py",
    "qlora": "QLoRA (Dettmers et al. 2023), arXiv 2305.14314, Sec. 5.1 and App. B",
    "qlora_code": "QLoRA's released Guanaco scripts, github.com/artidoro/qlora, "
                  "scripts/finetune_guanaco_7b.sh to 65b.sh",
}

# ---- the numbers ----------------------------------------------------------------------------
#: BERT App. A.3: the grid searched per task.
BERT_LEARNING_RATES: tuple[float, ...] = (2e-5, 3e-5, 5e-5)
BERT_BATCH_SIZES: tuple[int, ...] = (16, 32)
BERT_EPOCHS: tuple[int, ...] = (2, 3, 4)
BERT_WEIGHT_DECAY = 0.01
#: BERT's run_classifier.py: warm-up over this share of the steps; optimization.py: clip norm.
BERT_WARMUP_FRACTION = 0.1
BERT_MAX_GRAD_NORM = 1.0

#: LoRA Table 11 (GPT-2 M on E2E) and its released E2E command.
LORA_LEARNING_RATE = 2e-4
LORA_BATCH_SIZE = 8
LORA_EPOCHS = 5
LORA_WARMUP_STEPS = 500
LORA_TOTAL_STEPS = 26_289
LORA_WEIGHT_DECAY = 0.01
LORA_RANK = 4
LORA_ALPHA = 32
LORA_DROPOUT = 0.1

#: QLoRA App. B and the Guanaco scripts: 7B and 13B, and the halved rate of 33B and 65B.
QLORA_LEARNING_RATE = 2e-4
QLORA_LARGE_LEARNING_RATE = 1e-4
QLORA_BATCH_SIZE = 16
QLORA_STEPS = 1875
QLORA_WEIGHT_DECAY = 0.0
QLORA_MAX_GRAD_NORM = 0.3
QLORA_RANK = 64
QLORA_ALPHA = 16
QLORA_DROPOUT = 0.1
QLORA_LARGE_DROPOUT = 0.05
#: The scripts' --warmup_ratio, which the constant schedule ignores.
QLORA_IGNORED_WARMUP_RATIO = 0.03


@dataclass(frozen=True)
class Cell:
    """One table entry: number(s) with an optional unit, or text; the key of its source and
    of its footnote."""

    values: tuple[float, ...] = ()  # several values are a set (a grid, or a list of choices)
    unit: str = ""                  # words after the number(s): "epochs"
    text: str = ""                  # the entry when it is words ("linear decay to 0")
    source: str | None = None
    note: str | None = None         # key into NOTES: a footnote on this entry

    @property
    def applicable(self) -> bool:
        return self.text not in (NOT_APPLICABLE, NOT_STATED)


NA = Cell(text=NOT_APPLICABLE)


@dataclass(frozen=True)
class Note:
    """A footnote: text with `{}` where each of `values` is set as a number."""

    text: str
    values: tuple[float, ...] = ()


NOTES: dict[str, Note] = {
    "qlora_large_lr": Note("{} for 33B and 65B (Sec. 5.1 halves the rate).",
                           (QLORA_LARGE_LEARNING_RATE,)),
    "qlora_batch": Note("4 per device, with 4 gradient-accumulation steps, for every model size."),
    "qlora_warmup": Note("The scripts set a warm-up ratio of {}, which Hugging Face's constant "
                         "schedule ignores.", (QLORA_IGNORED_WARMUP_RATIO,)),
    "qlora_large_dropout": Note("{} for 33B and 65B.", (QLORA_LARGE_DROPOUT,)),
}


@dataclass(frozen=True)
class HyperparameterRow:
    """One hyperparameter across the three regimes."""

    name: str
    full: Cell
    lora: Cell
    qlora: Cell
    symbol: str = ""                # its symbol, set in math after the name ("r")

    def cell(self, regime: Regime) -> Cell:
        """The cell of this row for ``regime``."""
        return getattr(self, regime)


HYPERPARAMETERS: tuple[HyperparameterRow, ...] = (
    HyperparameterRow(
        "Learning rate",
        full=Cell(BERT_LEARNING_RATES, source="bert"),
        lora=Cell((LORA_LEARNING_RATE,), source="lora"),
        qlora=Cell((QLORA_LEARNING_RATE,), source="qlora", note="qlora_large_lr"),
    ),
    HyperparameterRow(
        "Batch size",
        full=Cell(BERT_BATCH_SIZES, source="bert"),
        lora=Cell((LORA_BATCH_SIZE,), source="lora"),
        qlora=Cell((QLORA_BATCH_SIZE,), source="qlora_code", note="qlora_batch"),
    ),
    HyperparameterRow(
        "Training length",
        full=Cell(BERT_EPOCHS, "epochs", source="bert"),
        lora=Cell((LORA_EPOCHS,), "epochs", source="lora"),
        qlora=Cell((QLORA_STEPS,), "steps", source="qlora_code"),
    ),
    HyperparameterRow(
        "Schedule",
        full=Cell(text="linear decay to 0", source="bert_code"),
        lora=Cell(text="linear decay to 0", source="lora_code"),
        qlora=Cell(text="constant", source="qlora"),
    ),
    HyperparameterRow(
        "Warm-up",
        full=Cell((100 * BERT_WARMUP_FRACTION,), "% of the steps", source="bert_code"),
        lora=Cell((LORA_WARMUP_STEPS,), "steps", source="lora"),
        qlora=Cell(text="none", source="qlora_code", note="qlora_warmup"),
    ),
    HyperparameterRow(
        "Weight decay",
        full=Cell((BERT_WEIGHT_DECAY,), source="bert"),
        lora=Cell((LORA_WEIGHT_DECAY,), source="lora"),
        qlora=Cell((QLORA_WEIGHT_DECAY,), source="qlora_code"),
    ),
    HyperparameterRow(
        "Max. gradient norm",
        full=Cell((BERT_MAX_GRAD_NORM,), source="bert_code"),
        lora=Cell(text="no clipping", source="lora_code"),
        qlora=Cell((QLORA_MAX_GRAD_NORM,), source="qlora"),
    ),
    HyperparameterRow(
        "LoRA rank", symbol="r",
        full=NA,
        lora=Cell((LORA_RANK,), source="lora"),
        qlora=Cell((QLORA_RANK,), source="qlora"),
    ),
    HyperparameterRow(
        "LoRA scaling", symbol=r"\alpha",
        full=NA,
        lora=Cell((LORA_ALPHA,), source="lora"),
        qlora=Cell((QLORA_ALPHA,), source="qlora"),
    ),
    HyperparameterRow(
        "LoRA dropout",
        full=NA,
        lora=Cell((LORA_DROPOUT,), source="lora_code"),
        qlora=Cell((QLORA_DROPOUT,), source="qlora", note="qlora_large_dropout"),
    ),
    HyperparameterRow(
        "Trained weights",
        full=Cell(text="all", source="lora"),
        lora=Cell(text="adapters on $W_q$, $W_v$", source="lora"),
        qlora=Cell(text="adapters on all linear layers", source="qlora"),
    ),
)


@dataclass(frozen=True)
class Point:
    """One published value of a setting, for the figure that relates the recipes."""

    regime: Regime
    value: float
    label: str                      # what it was published for ("7B, 13B")
    source: str


#: The published values of the four settings whose ratios relate the recipes, per regime (the
#: figure of the same data; the learning rates are related by another figure, as schedules).
#: Keys: rows of HYPERPARAMETERS; each point is its table cell's value, with the cell's source.
POINTS: dict[str, tuple[Point, ...]] = {
    "Batch size": (
        *(Point("full", b, "BERT's grid", "bert") for b in BERT_BATCH_SIZES),
        Point("lora", LORA_BATCH_SIZE, "GPT-2 M", "lora"),
        Point("qlora", QLORA_BATCH_SIZE, "7B to 65B", "qlora_code"),
    ),
    "LoRA rank": (
        Point("lora", LORA_RANK, "GPT-2 M", "lora"),
        Point("qlora", QLORA_RANK, "7B to 65B", "qlora"),
    ),
    "LoRA scaling": (
        Point("lora", LORA_ALPHA, "GPT-2 M", "lora"),
        Point("qlora", QLORA_ALPHA, "7B to 65B", "qlora"),
    ),
    "Max. gradient norm": (
        Point("full", BERT_MAX_GRAD_NORM, "BERT", "bert_code"),
        Point("qlora", QLORA_MAX_GRAD_NORM, "7B to 65B", "qlora"),
    ),
}


def _first_used(field: str) -> list[str]:
    """Keys of the cells' `field` ("source" or "note") in order of first use (row by row, left
    to right)."""
    keys: list[str] = []
    for row in HYPERPARAMETERS:
        for regime in REGIMES:
            key = getattr(row.cell(regime), field)
            if key is not None and key not in keys:
                keys.append(key)
    return keys


def cited_sources() -> list[str]:
    """Source keys in order of first use (row by row, left to right)."""
    return _first_used("source")


def cited_notes() -> list[str]:
    """Footnote keys in order of first use (row by row, left to right)."""
    return _first_used("note")
