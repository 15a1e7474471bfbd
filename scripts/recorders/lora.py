"""Record the LoRA toy-model experiments (:mod:`numerics.lora.experiments`) into data/lora/.

    python scripts/recorders/lora.py            record results that are missing or out of date
    python scripts/recorders/lora.py --force    re-record every result
    python scripts/recorders/lora.py --check    record nothing; exit 1 listing out-of-date results
    python scripts/recorders/lora.py --list

Every experiment fine-tunes the same pre-trained 8-16-16-2 MLP (:func:`numerics.lora.training.
pretrain`, seed 0) on the sentiment sentences of data/lora/, except the spectrum of full
fine-tuning updates, which pre-trains one base per seed; each is recorded as its result
dataclass (:mod:`records.results`), which the LoRA figures read, so `make figures` trains
nothing and every CPU draws the same bytes. A result is out of date when its ``code_hash``
differs from the hash of :data:`SOURCES` (this file, the toy model, its training and
experiments, the sentence files) and its parameters.
"""
from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from numerics.lora import experiments, training
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "lora"
SOURCES = (SCRIPTS / "recorders" / "lora.py", SCRIPTS / "models" / "lora_mlp.py",
           SCRIPTS / "models" / "mlp.py", SCRIPTS / "numerics" / "lora" / "data.py",
           SCRIPTS / "numerics" / "lora" / "training.py",
           SCRIPTS / "numerics" / "lora" / "experiments.py",
           DATA / "sentiment.tsv", DATA / "lexicon.tsv")

#: LoRA steps before the second gradient of `lora/backward_pass` (b).
LATER_STEPS = 10
PRETRAIN = {"seed": 0}
SEEDS = [0, 1, 2, 3, 4]
#: The ranks of `lora/rank_comparison` (b): every one trains fewer parameters (74 r) than full
#: fine-tuning of the toy model (450); from rank 8 on LoRA would train more.
SWEEP_RANKS = [1, 2, 3, 4, 6]
#: The scaling sweep adapts only the 16 x 16 hidden layer W2 (index 1), at ranks that stay low
#: for it (r = 8 is half its full rank and trains as many parameters as W2 itself, 256); more
#: seeds than elsewhere, since one seed's early loss varies a lot at r = 1.
SCALING = {"ranks": [1, 2, 4, 8], "layers": [1], "seeds": list(range(10))}
#: Full-batch steps on the teacher task (2,000 examples), with alpha = r (alpha / r = 1 at every
#: rank). Checked against 1,000 steps (same ranks, 5 seeds, alpha = r): the mean held-out
#: accuracies move by 0.0 to 1.1 points (82.4 -> 83.5 % at r = 1) and their order by rank is
#: kept, while the training loss keeps falling (r = 6: 0.140 -> 0.087; full fine-tuning 0.045
#: -> 0.014): `lora/rank_comparison` (b) draws the curves and says so.
TEACHER_STEPS = 400
#: Each recorded result: the experiment function and its arguments (the rest are its defaults).
RUNS: dict[str, dict] = {
    "base_model": {"experiment": "base_model", "pretrain": PRETRAIN, "args": {}},
    "knowledge_change": {"experiment": "knowledge_change", "pretrain": PRETRAIN, "args": {}},
    "rank_sweep": {"experiment": "rank_sweep", "pretrain": PRETRAIN,
                   "args": {"task": "teacher", "ranks": SWEEP_RANKS, "seeds": SEEDS,
                            "steps": TEACHER_STEPS, "alpha_equals_rank": True}},
    "scaling_experiment": {"experiment": "scaling_experiment", "pretrain": PRETRAIN,
                           "args": SCALING},
    "delta_w_spectrum": {"experiment": "delta_w_spectra", "pretrain": None,
                         "args": {"pretrain_seeds": SEEDS}},
    "backward_at_init": {"experiment": "backward_comparison", "pretrain": PRETRAIN,
                         "args": {"lora_steps": 0}},
    "backward_after_steps": {"experiment": "backward_comparison", "pretrain": PRETRAIN,
                             "args": {"lora_steps": LATER_STEPS}},
    "forward_trace": {"experiment": "forward_trace", "pretrain": PRETRAIN, "args": {}},
    "adapter_swap": {"experiment": "adapter_swap", "pretrain": PRETRAIN, "args": {}},
}
DESCRIPTION = {
    "base_model": "the pre-trained base: its pre-training record, sentences, dead units",
    "knowledge_change": "LoRA (r 4, alpha 8) on sentiment: curves, test sentences, Delta W",
    "rank_sweep": "teacher task, alpha = r: accuracy, loss curves per rank and seed, and full",
    "scaling_experiment": "alpha fixed vs alpha = r per rank, W2 only: ||Delta W||, loss",
    "delta_w_spectrum": "singular values of full fine-tuning updates (5 bases) vs random",
    "backward_at_init": "gradients of one step, full vs LoRA at initialisation",
    "backward_after_steps": f"gradients of one step, full vs LoRA after {LATER_STEPS} steps",
    "forward_trace": "one test sentence through every layer, base and LoRA paths",
    "adapter_swap": "sentiment and topic adapters merged and unmerged on one base",
}
#: The dataclass each result is read back as.
RESULT_TYPES = {name: getattr(experiments, cls) for name, cls in (
    ("base_model", "BaseModel"), ("knowledge_change", "KnowledgeChange"),
    ("rank_sweep", "RankSweep"), ("scaling_experiment", "ScalingExperiment"),
    ("delta_w_spectrum", "Spectra"),
    ("backward_at_init", "BackwardComparison"), ("backward_after_steps", "BackwardComparison"),
    ("forward_trace", "ForwardTrace"), ("adapter_swap", "AdapterSwap"))}


@cache
def pretrained(seed: int) -> training.Pretrained:
    return training.pretrain(seed=seed)


def compute(name: str, params: dict):
    """Run one experiment (JSON lists become the tuples the functions take) on the shared base,
    or, when its "pretrain" is None, on the bases it pre-trains itself."""
    args = {key: tuple(value) if isinstance(value, list) else value
            for key, value in params["args"].items()}
    function = getattr(experiments, params["experiment"])
    if params["pretrain"] is None:
        return function(**args)
    return function(pretrained=pretrained(**params["pretrain"]), **args)


EXPERIMENT = recorder.result_experiment("lora.py", RUNS, DATA, SOURCES, compute, DESCRIPTION,
                                        RESULT_TYPES)
#: The recorded result `name` as its dataclass (what the LoRA figures read).
load = EXPERIMENT.load


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder): --force, --run, --check, --list, --jobs, --data."""
    return recorder.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
