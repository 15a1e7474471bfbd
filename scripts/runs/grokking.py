"""Record the grokking runs (modular addition, :mod:`numerics.modular`) into data/grokking/.

    python scripts/runs/grokking.py            record runs that are missing or out of date
    python scripts/runs/grokking.py --force    re-record every run
    python scripts/runs/grokking.py --run main frac_0.5
    python scripts/runs/grokking.py --check    record nothing; exit 1 listing out-of-date runs
    python scripts/runs/grokking.py --list

A run is out of date when its config.json is missing or its ``code_hash`` differs from the
hash of the current experiment code (this file, numerics/modular.py, numerics/mlp.py) and the
run's parameters.  Each run is written with :func:`figkit.runs.write_run`.

The runs (all parameters in :data:`RUNS`):

* ``main``: trained for a fixed ``max_steps``, no early stop; checkpoints of the embedding at
  step 0 and 11 log-spaced steps from 10 to the last step.
* sweeps around ``main`` (which is their shared centre point, see :data:`SWEEPS`):
  ``frac_*`` vary the training fraction, ``wd_*`` the AdamW weight decay.  A sweep run stops
  at the first logged step at which validation accuracy has been >= 95 % at every logged step
  of the last ``stop_hold`` = 500 steps, or after ``max_steps`` = 8000 steps; the config's
  ``stopped_reason`` says which.  No checkpoints.  Stopping early changes nothing before the
  stop, so the sweeps' steps-to-generalise compare directly with ``main``'s.

Each config.json also holds ``train_acc_0.99_step`` and ``val_acc_0.95_step``: the first logged
step at which training accuracy reached 99 % and validation accuracy 95 % (null: never).
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import dataclasses
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parents[1]
if str(SCRIPTS) not in sys.path:  # run as `python scripts/runs/grokking.py`
    sys.path.insert(0, str(SCRIPTS))

from figkit import runs  # noqa: E402
from numerics import modular  # noqa: E402

ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "grokking"
SOURCES = (SCRIPTS / "runs" / "grokking.py", SCRIPTS / "numerics" / "modular.py",
           SCRIPTS / "numerics" / "mlp.py")

# ---- the run specifications: every parameter of every run ------------------------------------
BASE = {
    "p": 59, "d": 64, "hidden": [128], "train_fraction": 0.4,
    "lr": 3e-3, "weight_decay": 1.0, "beta1": 0.9, "beta2": 0.98,
    "init_scale": 1.0, "seed": 0,
}
MAIN = {**BASE, "max_steps": 7000, "stop_hold": None, "n_checkpoints": 12}
SWEEP = {**BASE, "max_steps": 8000, "stop_hold": 500, "n_checkpoints": 0}

RUNS: dict[str, dict] = {
    "main": MAIN,
    **{f"wd_{w:g}": {**SWEEP, "weight_decay": w} for w in (0.0, 0.3, 2.0, 3.0, 5.0)},
    **{f"frac_{f}": {**SWEEP, "train_fraction": f} for f in (0.3, 0.5, 0.6, 0.7)},
}
# Each sweep in order of its parameter; `main` is the centre point of both.
SWEEPS: dict[str, list[str]] = {
    "train_fraction": ["frac_0.3", "main", "frac_0.5", "frac_0.6", "frac_0.7"],
    "weight_decay": ["wd_0", "wd_0.3", "main", "wd_2", "wd_3", "wd_5"],
}


def grok_config(params: dict) -> modular.GrokConfig:
    """The training configuration of a run specification (everything but `n_checkpoints`)."""
    fields = {k: v for k, v in params.items() if k != "n_checkpoints"}
    return modular.GrokConfig(**{**fields, "hidden": tuple(fields["hidden"])})


def current_hash(params: dict) -> str:
    """`figkit.runs.code_hash` of the experiment sources and one run's parameters."""
    return runs.code_hash(SOURCES, params)


def status(name: str, data: Path = DATA) -> str:
    """'ok', 'missing' (no config.json) or 'stale' (recorded with other code or parameters)."""
    path = Path(data) / name / runs.CONFIG
    if not path.is_file():
        return "missing"
    try:
        recorded = runs.load_run(path.parent).config.get("code_hash")
    except runs.RunError:
        return "stale"
    return "ok" if recorded == current_hash(RUNS[name]) else "stale"


def record(name: str, params: dict, data: Path = DATA) -> dict:
    """Train one run and write it with `figkit.runs.write_run`; return its config."""
    cfg = grok_config(params)
    steps = modular.log_spaced_checkpoints(cfg.max_steps, params["n_checkpoints"])
    split = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    result = modular.train(cfg, steps, split)
    m = result.metrics
    config = {
        "name": name,
        "task": "(a + b) mod p, all p*p pairs; seeded random train/validation split",
        "model": "shared embedding E (p x d); [E[a], E[b]] -> ReLU MLP -> p logits; float64",
        "optimizer": "AdamW, full batch (numerics.mlp.Adam, decoupled decay on all parameters)",
        "loss": "mean softmax cross-entropy",
        **dataclasses.asdict(cfg),
        "hidden": list(cfg.hidden),
        "n_checkpoints": params["n_checkpoints"],
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
    runs.write_run(Path(data) / name, config, m, result.checkpoints)
    return config


def _record_task(task: tuple[str, Path]) -> dict:
    name, data = task
    return record(name, RUNS[name], data)


def _reuse_freed_memory() -> None:
    """Speed only, results unchanged: let glibc keep freed numpy buffers instead of unmapping
    them after every step (page faults otherwise take about a third of the wall time)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _line(config: dict) -> str:
    s1, s2 = config["train_acc_0.99_step"], config["val_acc_0.95_step"]
    return (f"{config['name']:10s} train>=99% at {s1}, val>=95% at {s2}, {config['steps']} steps "
            f"({config['stopped_reason']}), wall {config['wall_time_s']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit code (0, 1 for --check with stale runs, 2 usage)."""
    parser = argparse.ArgumentParser(prog="grokking.py", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-record every selected run")
    parser.add_argument("--run", nargs="+", metavar="NAME", help="only these runs")
    parser.add_argument("--check", action="store_true",
                        help="record nothing; exit 1 listing runs that are missing or stale")
    parser.add_argument("--list", action="store_true", help="list the runs and their status")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                        help="runs trained in parallel processes (default: 2)")
    parser.add_argument("--data", type=Path, default=DATA, help="output folder (default: data/grokking)")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.run or RUNS))
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        print(f"grokking.py: unknown run(s) {', '.join(unknown)}; known: {', '.join(RUNS)}",
              file=sys.stderr)
        return 2
    if args.list or args.check:
        states = {name: status(name, args.data) for name in names}
        if args.list:
            for name in names:
                print(f"{name:10s} {states[name]:8s} {RUNS[name]}")
            return 0
        bad = [name for name in names if states[name] != "ok"]
        for name in bad:
            print(f"{name}: {states[name]} (recorded code_hash differs from the current code)"
                  if states[name] == "stale" else f"{name}: missing")
        return 1 if bad else 0

    todo = [n for n in names if args.force or status(n, args.data) != "ok"]
    for name in names:
        if name not in todo:
            print(f"{name:10s} up to date")
    if not todo:
        return 0
    _reuse_freed_memory()
    start = time.perf_counter()
    tasks = [(name, args.data) for name in todo]
    jobs = max(1, min(args.jobs, len(tasks)))
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for config in pool.imap_unordered(_record_task, tasks):
                print(_line(config), flush=True)
    else:
        for task in tasks:
            print(_line(_record_task(task)), flush=True)
    print(f"recorded {len(todo)} run(s) in {time.perf_counter() - start:.1f} s -> {args.data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
