"""Record the fine-tuning experiments (:mod:`numerics.fine_tuning.experiments`) into
data/fine_tuning/.

    python scripts/recorders/fine_tuning.py          record results missing or out of date
    python scripts/recorders/fine_tuning.py --force  re-record every result
    python scripts/recorders/fine_tuning.py --check  record nothing; exit 1 listing out-of-date
                                                     results
    python scripts/recorders/fine_tuning.py --list

Each experiment trains the project's numpy MLP (:mod:`models.mlp`), seeded; each is recorded as
its result dataclass (:mod:`records.results`), which the fine-tuning figures read, so
`make figures` trains nothing and every CPU draws the same bytes. A result is out of date when
its ``code_hash`` differs from the hash of :data:`SOURCES` (this file, the experiments, the MLP)
and its parameters.
"""
from __future__ import annotations

import sys
from pathlib import Path

from numerics.fine_tuning import experiments
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "fine_tuning"
SOURCES = (SCRIPTS / "recorders" / "fine_tuning.py",
           SCRIPTS / "numerics" / "fine_tuning" / "experiments.py",
           SCRIPTS / "models" / "mlp.py")

#: Each recorded result: its arguments (the rest are the experiment function's defaults).
RUNS: dict[str, dict] = {
    "gradient_flow": {"seeds": [0, 1, 2, 3, 4]},
    "forgetting": {"seeds": [0, 1, 2, 3, 4]},
    "fisher_information": {"seeds": [0, 1, 2, 3, 4]},
    "loss_curves": {"seeds": [0, 1, 2, 3, 4]},
}
DESCRIPTION = {
    "gradient_flow": "per-layer gradient norms at initialisation: a sigmoid MLP, and the same "
                     "weights with tanh or with skip connections, five seeds",
    "forgetting": "two permuted tasks in turn: plain SGD vs EWC over a sweep of lambda, "
                  "five seeds",
    "fisher_information": "how the diagonal Fisher of the task-A model is distributed, five "
                          "seeds",
    "loss_curves": "train / validation loss: a converging, an overfitting, a diverging run, "
                   "five seeds",
}
#: The dataclass each result is read back as.
RESULT_TYPES = {"gradient_flow": experiments.GradientFlowResult,
                "forgetting": experiments.ForgettingSeedsResult,
                "fisher_information": experiments.FisherSeedsResult,
                "loss_curves": experiments.LossCurveSeeds}


def compute(name: str, params: dict):
    if name == "gradient_flow":
        return experiments.gradient_flow(seeds=tuple(params["seeds"]))
    if name == "forgetting":
        return experiments.forgetting_seeds(seeds=tuple(params["seeds"]))
    if name == "fisher_information":
        return experiments.fisher_information_seeds(seeds=tuple(params["seeds"]))
    if name == "loss_curves":
        return experiments.loss_curve_seeds(seeds=tuple(params["seeds"]))
    raise KeyError(name)


EXPERIMENT = recorder.result_experiment("fine_tuning.py", RUNS, DATA, SOURCES, compute,
                                        DESCRIPTION, RESULT_TYPES)
#: The recorded result `name` as its dataclass (what the fine-tuning figures read).
load = EXPERIMENT.load


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder): --force, --run, --check, --list, --jobs, --data."""
    return recorder.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
