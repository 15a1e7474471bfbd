"""Record the grokking runs (modular addition, :mod:`models.modular`) into data/grokking/.

    python scripts/recorders/grokking.py            record runs that are missing or out of date
    python scripts/recorders/grokking.py --force    re-record every run
    python scripts/recorders/grokking.py --run main frac_0.5
    python scripts/recorders/grokking.py --check    record nothing; exit 1 listing out-of-date runs
    python scripts/recorders/grokking.py --list

A run is out of date when its config.json is missing or its ``code_hash`` differs from the
hash of the current experiment code (this file, models/modular.py, models/mlp.py) and the
run's parameters.  Each run is written with :func:`records.write_run`.

The runs (all parameters in :data:`RUNS`):

* ``main``: trained for a fixed ``max_steps``, no early stop; checkpoints of the embedding at
  the steps in its ``checkpoints``: step 0, step 100 (just after memorization) and every 500
  steps, a grid that resolves the rise of validation accuracy (recorded: 10 % to 90 % of the
  fitted rise between steps 2,475 and 4,329) in several checkpoints.
* sweeps around ``main`` (which is their shared centre point, see :data:`SWEEPS`):
  ``frac_*`` vary the training fraction, ``wd_*`` the AdamW weight decay, ``lr_*`` the AdamW
  learning rate, ``batch_*`` the number of training pairs per step (minibatches from seeded
  shuffles; ``main`` is full batch, all 1,392 pairs).  A sweep run stops
  at the first logged step at which validation accuracy has been >= 95 % at every logged step
  of the last ``stop_hold`` = 500 steps, or after ``max_steps`` = 8000 steps; the config's
  ``stopped_reason`` says which.  No checkpoints.  Stopping early changes nothing before the
  stop, so the sweeps' steps-to-generalise compare directly with ``main``'s.
* seeds: every sweep point is recorded with the seeds in :data:`SEEDS` (the seed draws both the
  train/validation split and the initialisation).  Seed 0 keeps the plain name (``wd_2``,
  ``main``); seed s is ``<name>_s<s>`` (``wd_2_s1``).  The centre point's other seeds
  ``main_s1`` ... ``main_s4`` are ``main`` with another seed and no checkpoints: the centre
  point has the five seeds of :data:`MAIN_SEEDS` (its spread over seeds is a figure of its own);
  the sweeps use its first three, like every other point.

Each config.json also holds ``train_acc_0.99_step`` and ``val_acc_0.95_step``: the first logged
step at which training accuracy reached 99 % and validation accuracy 95 % (null: never).

Recording every run takes about 10 minutes with two processes on two cores (``--jobs 2``,
the default); the config's ``wall_time_s`` holds each run's time (``make bench`` sums them per
group).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
from pathlib import Path

import numpy as np

import records
from models import modular
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "grokking"
SOURCES = (SCRIPTS / "recorders" / "grokking.py", SCRIPTS / "models" / "modular.py",
           SCRIPTS / "models" / "mlp.py")

# ---- the run specifications: every parameter of every run ------------------------------------
BASE = {
    "p": 59, "d": 64, "hidden": [128], "train_fraction": 0.4,
    "lr": 3e-3, "weight_decay": 1.0, "beta1": 0.9, "beta2": 0.98,
    "init_scale": 1.0, "seed": 0,
}
#: Checkpoints of `main`: step 0, just after memorization, and every 500 steps (see above).
MAIN_CHECKPOINTS = [0, 100, *range(500, 7001, 500)]
MAIN = {**BASE, "max_steps": 7000, "stop_hold": None, "checkpoints": MAIN_CHECKPOINTS}
SWEEP = {**BASE, "max_steps": 8000, "stop_hold": 500, "checkpoints": []}
#: Seeds of every sweep point; seed 0 is the run without a suffix.
SEEDS = (0, 1, 2)
#: Seeds of the centre point `main`.
MAIN_SEEDS = (0, 1, 2, 3, 4)
WEIGHT_DECAYS = (0.0, 0.3, 2.0, 3.0, 5.0)
TRAIN_FRACTIONS = (0.3, 0.5, 0.6, 0.7)
LEARNING_RATES = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2)
#: Minibatch sizes; below 64 the training pairs are not memorized within the budget (32: the
#: training accuracy never reaches 99 %), so the runs would have no S1.
BATCH_SIZES = (64, 128, 256, 512)


def seeded(name: str, seed: int) -> str:
    """The run name of `name` with another seed: 'wd_2', 2 -> 'wd_2_s2' (seed 0: unchanged)."""
    return name if seed == 0 else f"{name}_s{seed}"


_POINTS: dict[str, dict] = {
    "main": MAIN,
    **{f"wd_{w:g}": {**SWEEP, "weight_decay": w} for w in WEIGHT_DECAYS},
    **{f"frac_{f}": {**SWEEP, "train_fraction": f} for f in TRAIN_FRACTIONS},
    **{f"lr_{r:g}": {**SWEEP, "lr": r} for r in LEARNING_RATES},
    **{f"batch_{b}": {**SWEEP, "batch_size": b} for b in BATCH_SIZES},
}
RUNS: dict[str, dict] = {
    seeded(name, seed): {**params, "seed": seed,
                         "checkpoints": params["checkpoints"] if seed == 0 else []}
    for name, params in _POINTS.items()
    for seed in (MAIN_SEEDS if name == "main" else SEEDS)
}


def _sweep(parameter: str, points: dict[str, float]) -> list[list[str]]:
    """The runs of one sweep in order of its parameter, `main` at its own value, every point
    with the seeds in SEEDS."""
    centre = MAIN[parameter] if parameter != "batch_size" else float("inf")  # full batch last
    ordered = sorted({**points, "main": centre}.items(), key=lambda item: item[1])
    return [[seeded(name, seed) for seed in SEEDS] for name, _ in ordered]


# Each sweep in order of its parameter, every point with its seeds; `main` is the centre of all.
SWEEPS: dict[str, list[list[str]]] = {
    "train_fraction": _sweep("train_fraction", {f"frac_{f}": f for f in TRAIN_FRACTIONS}),
    "weight_decay": _sweep("weight_decay", {f"wd_{w:g}": w for w in WEIGHT_DECAYS}),
    "lr": _sweep("lr", {f"lr_{r:g}": r for r in LEARNING_RATES}),
    "batch_size": _sweep("batch_size", {f"batch_{b}": b for b in BATCH_SIZES}),
}


def grok_config(params: dict) -> modular.GrokConfig:
    """The training configuration of a run specification (everything but `checkpoints`)."""
    fields = {k: v for k, v in params.items() if k != "checkpoints"}
    return modular.GrokConfig(**{**fields, "hidden": tuple(fields["hidden"])})


def current_hash(params: dict) -> str:
    """`records.code_hash` of the experiment sources and one run's parameters."""
    return records.code_hash(SOURCES, params)


def status(name: str, data: Path = DATA) -> str:
    """'ok', 'missing' or 'stale'; see records.recorder.Experiment.status."""
    return EXPERIMENT.status(name, data)


def record(name: str, params: dict, data: Path = DATA) -> dict:
    """Train one run and write it with `records.write_run`; return its config."""
    cfg = grok_config(params)
    steps = tuple(params["checkpoints"])
    split = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    result = modular.train(cfg, steps, split)
    m = result.metrics
    config = {
        "name": name,
        "task": "(a + b) mod p, all p*p pairs; seeded random train/validation split",
        "model": "shared embedding E (p x d); [E[a], E[b]] -> ReLU MLP -> p logits; float64",
        "optimizer": "AdamW (models.mlp.Adam, decoupled decay on all parameters), "
                     + ("full batch" if cfg.batch_size is None else
                        f"minibatches of {cfg.batch_size} pairs from seeded shuffles"),
        "loss": "mean softmax cross-entropy",
        **dataclasses.asdict(cfg),
        "hidden": list(cfg.hidden),
        "checkpoints": list(params["checkpoints"]),
        "n_train": int(len(split.y_train)),
        "n_val": int(len(split.y_val)),
        "log_schedule": "every step below 100, every 10 below 10000, then every 100; "
                        "metrics after `step` optimizer steps (0 = initialisation)",
        "stop_rule": None if cfg.stop_hold is None else
                     f"stop at the first logged step at which val_acc >= {modular.THRESHOLD} "
                     f"at every logged step of the last {cfg.stop_hold} steps",
        "stopped_reason": result.stopped_reason,
        "steps": result.steps,
        "train_acc_0.99_step": modular.first_step(m["step"], m["train_acc"], 0.99),
        "val_acc_0.95_step": modular.first_step(m["step"], m["val_acc"], modular.THRESHOLD),
        "checkpoint_steps": sorted(result.checkpoints),
        "checkpoint_keys": {"embedding": "E, the p x d operand embedding (shared by a and b)"},
        "wall_time_s": round(result.wall_time, 2),
        "machine": {"numpy": np.__version__, "python": platform.python_version(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "code_hash": current_hash(params),
    }
    stale = Path(data) / name / records.CHECKPOINTS  # checkpoints of an earlier recording
    for path in stale.glob("step_*.npz") if stale.is_dir() else ():
        path.unlink()
    records.write_run(Path(data) / name, config, m, result.checkpoints)
    return config


def _line(config: dict) -> str:
    s1, s2 = config["train_acc_0.99_step"], config["val_acc_0.95_step"]
    return (f"{config['name']:10s} train>=99% at {s1}, val>=95% at {s2}, {config['steps']} steps "
            f"({config['stopped_reason']}), wall {config['wall_time_s']:.1f} s")


EXPERIMENT = recorder.Experiment("grokking.py", RUNS, DATA, SOURCES, record, _line)


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder): --force, --run, --check, --list, --jobs, --data."""
    return recorder.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
