"""Record the simplicity-bias runs (modular addition with a spurious cue,
:mod:`models.cued_modular`) into data/simplicity_bias/.

    python scripts/recorders/simplicity_bias.py            record runs missing or out of date
    python scripts/recorders/simplicity_bias.py --force    re-record every run
    python scripts/recorders/simplicity_bias.py --run main_s1
    python scripts/recorders/simplicity_bias.py --check    record nothing; exit 1 listing stale runs
    python scripts/recorders/simplicity_bias.py --list

A run is out of date when its config.json is missing or its ``code_hash`` differs from the
hash of the current experiment code (this file, models/cued_modular.py, models/modular.py,
models/mlp.py) and the run's parameters. Recorded with OPENBLAS_NUM_THREADS=1 (the config says
which); each run holds its wall and CPU time.

The setting follows the spurious-feature experiments of Qiu, Kuang & Goel 2024 ("Complexity
matters: dynamics of feature learning in the presence of spurious correlations", ICML 2024,
arXiv 2403.03375: a spurious feature simpler than the core feature, its correlation with the
label set by a confounder strength, the learning of both tracked over training) with the
grokking chapter's task as the hard core rule, and the cue-aligned / cue-conflicting evaluation
of Nam et al. 2020 (arXiv 2007.02561, "bias-aligned" and "bias-conflicting" samples; Colored
MNIST of Arjovsky et al. 2019, arXiv 1907.02893, breaks its colour cue the same way at test
time). The simplicity bias itself, a network relying on the simplest predictive feature, is
Shah et al. 2020 (arXiv 2006.07710).

The runs (all parameters in :data:`RUNS`): the main grokking run's settings
(:data:`recorders.grokking.BASE`: p = 59, 40 % of the pairs, full-batch AdamW with weight decay
1, lr 3e-3) with a cue token that is the answer for RHO = 90 % of the training pairs, drawn
afresh every step; three seeds, each stopped once held-out accuracy with a broken cue has held
95 % for 500 steps (the sweeps' stop rule) or at ``max_steps``. Recording the three takes
about 100 s of CPU on one core (each run's config.json holds its ``cpu_time_s``).

How the setting was chosen (seed 0; "conflicting" = held-out pairs with a wrong cue, their
accuracy at the last step tried):

* A fixed wrong cue per conflicting training pair (drawn once, as a colour is fixed per image):
  the network reads the cue within 20 steps, memorizes the conflicting training pairs by step
  50 to 100 and never learns the rule: conflicting accuracy 0 % after 6,000 steps at rho = 0.9
  (the cue followed on 96 %), and 0 % at rho 0.7 (3,000 steps), 0.5 (5,000), 0.8 with 50 % of
  the pairs (3,000), 0.8 with 70 % (2,000), 0.7 with 90 % (2,000), 0.9 with weight decay 3
  (2,000) and 0.9 with 60 % and decay 2 (2,000). The control with an uninformative cue (rho =
  0.02, 70 % of the pairs) had not generalized at step 1,500 either, where the two-token runs
  generalize at 540: a fixed random third token is a tag that makes each pair easy to memorize.
  With the cue added after the hidden ReLU instead (no tag: it cannot combine with the
  operands; an uninformative cue there let the rule rise as in the two-token runs, 6 % at step
  2,500), rho = 0.9 still gave 0 % after 4,500 steps: the cue solves 90 % of the pairs and the
  rest are memorized.
* Cues drawn afresh every step (kept): the cue is right on 90 % of each step's pairs but tags
  none, so the exceptions can only be fitted by memorizing every pair's answer or by the rule.
  With each pair's cue drawn independently (a first version; now exactly round(rho * n) pairs
  are aligned at every step), rho = 0.9 generalized at step 4,750 (95 %, logged every 250
  steps), rho = 0.95 reached only 23 % by step 7,000 (its training accuracy stayed at 95 %
  until step 4,000: the stronger the cue, the longer the plateau), rho = 0.9 with 50 % of the
  pairs at about 2,600 (each step 1.25x as costly).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import records
from models import cued_modular, modular
from recorders.grokking import BASE, seeded
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "simplicity_bias"
SOURCES = (SCRIPTS / "recorders" / "simplicity_bias.py", SCRIPTS / "models" / "cued_modular.py",
           SCRIPTS / "models" / "modular.py", SCRIPTS / "models" / "mlp.py")

#: Share of the training pairs whose cue is the answer (at every step).
RHO = 0.9
SEEDS = (0, 1, 2)
#: The main grokking run's settings, the cue's share, the step budget and the sweeps' stop rule.
MAIN = {**{key: BASE[key] for key in ("p", "d", "hidden", "train_fraction", "lr",
                                      "weight_decay", "beta1", "beta2", "init_scale")},
        "rho": RHO, "seed": 0, "max_steps": 8000, "stop_hold": 500}


RUNS: dict[str, dict] = {seeded("main", seed): {**MAIN, "seed": seed} for seed in SEEDS}


def cued_config(params: dict) -> cued_modular.CuedConfig:
    """The training configuration of a run specification."""
    return cued_modular.CuedConfig(**{**params, "hidden": tuple(params["hidden"])})


def current_hash(params: dict) -> str:
    """`records.code_hash` of the experiment sources and one run's parameters."""
    return records.code_hash(SOURCES, params)


def record(name: str, params: dict, data: Path = DATA) -> dict:
    """Train one run and write it with `records.write_run`; return its config."""
    cfg = cued_config(params)
    split = cued_modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    cpu = time.process_time()
    result = cued_modular.train(cfg, split)
    cpu = time.process_time() - cpu
    m = result.metrics
    steps = m["step"]
    config = {
        "name": name,
        "task": "(a + b) mod p from the tokens a, b and a cue c; all p*p pairs, a seeded random "
                "train/held-out split (models.modular.split)",
        "cue": f"training: drawn afresh every step, the answer for round(rho * n_train) random "
               f"pairs (rho = {cfg.rho}), a uniformly random other label for the rest; held-out: "
               "every pair evaluated with the answer (aligned) and with a fixed seeded other "
               "label (conflicting); training pairs also with a fixed seeded other label",
        "model": "operand embedding E (p x d, shared by a and b), cue embedding C (p x d); "
                 "[E[a], E[b], C[c]] -> ReLU MLP -> p logits; float64",
        "optimizer": "AdamW (models.mlp.Adam, decoupled decay on all parameters), full batch",
        "loss": "mean softmax cross-entropy",
        **dataclasses.asdict(cfg),
        "hidden": list(cfg.hidden),
        "n_train": int(len(split.y_train)),
        "n_val": int(len(split.y_val)),
        "columns": {
            "train_loss": "on the step's cues", "train_acc": "on the step's cues",
            "train_acc_conflicting": "training pairs with their fixed wrong cue",
            "val_acc_aligned": "held-out pairs, cue = answer",
            "val_acc_conflicting": "held-out pairs with their fixed wrong cue, predicted as "
                                   "(a + b) mod p",
            "val_follows_cue": "the same pairs predicted as their cue",
            "val_cue_margin": "the same pairs: mean of logit[cue] - logit[answer]",
            "weight_norm": "L2 norm of all parameters", "cue_norm": "||C||_F"},
        "log_schedule": "every step below 100, every 10 below 10000, then every 100; "
                        "metrics after `step` optimizer steps (0 = initialisation)",
        "stop_rule": None if cfg.stop_hold is None else
                     f"stop at the first logged step at which val_acc_conflicting >= "
                     f"{cued_modular.THRESHOLD} at every logged step of the last "
                     f"{cfg.stop_hold} steps",
        "stopped_reason": result.stopped_reason,
        "steps": result.steps,
        "val_follows_cue_0.9_step": modular.first_step(steps, m["val_follows_cue"], 0.9),
        "train_acc_0.99_step": modular.first_step(steps, m["train_acc"], 0.99),
        "val_acc_conflicting_0.95_step": modular.first_step(steps, m["val_acc_conflicting"],
                                                            cued_modular.THRESHOLD),
        "wall_time_s": round(result.wall_time, 2),
        "cpu_time_s": round(cpu, 2),
        "machine": {"numpy": np.__version__, "python": platform.python_version(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "code_hash": current_hash(params),
    }
    records.write_run(Path(data) / name, config, m)
    return config


def _line(config: dict) -> str:
    return (f"{config['name']:8s} cue followed >= 90% at {config['val_follows_cue_0.9_step']}, "
            f"train >= 99% at {config['train_acc_0.99_step']}, conflicting >= 95% at "
            f"{config['val_acc_conflicting_0.95_step']}, {config['steps']} steps "
            f"({config['stopped_reason']}), cpu {config['cpu_time_s']:.1f} s")


EXPERIMENT = recorder.Experiment("simplicity_bias.py", RUNS, DATA, SOURCES, record, _line)


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder): --force, --run, --check, --list, --jobs, --data."""
    return recorder.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
