"""Record the tiny language model's pre-training runs (:mod:`numerics.pretraining.language_model`)
into data/pretraining/.

    python scripts/recorders/pretraining.py          record runs missing or out of date
    python scripts/recorders/pretraining.py --force  re-record every run
    python scripts/recorders/pretraining.py --run sweep_adamw_lr0.01 tuned_adamw_s1
    python scripts/recorders/pretraining.py --check  record nothing; exit 1 listing stale runs
    python scripts/recorders/pretraining.py --list

A run is out of date when its config.json is missing or its ``code_hash`` differs from the hash
of the current experiment code (:data:`SOURCES`) and the run's parameters.  Each run is written
with :func:`records.write_run`: ``logs/metrics.csv`` holds per update the learning rate, the
training loss of the batch, the gradient norm and the tokens seen, and the held-out loss every
``eval_every`` updates (:data:`numerics.pretraining.language_model.COLUMNS`); logged values are
rounded to 6 significant digits (the batch loss varies in its second), which keeps the record
small.  No checkpoints: no figure reads one.

The runs (every parameter in :data:`BASE` and the run's own):

* ``sweep_<optimizer>_lr<lr>``: a learning-rate sweep, seed 0, for each optimizer of
  :data:`SWEEP_LRS` (SGD, SGD with momentum 0.9 and Adam, all three without weight decay, the
  standard default; AdamW with the decoupled weight decay 0.1 of GPT-3 and LLaMA), with the
  updates, batch size and schedule of the tuned runs;
* ``tuned_<optimizer>_s<k>``: the optimizer at the peak learning rate whose sweep run ended
  with the lowest held-out loss (:func:`best_lr`, read from the recorded sweep: a diverged run
  never wins), for the seeds :data:`TUNED_SEEDS` -- fresh seeds, not the seed the rate was
  chosen on.  They are recorded after the sweep, from its records (:func:`main` runs the two
  phases in turn), and their ``code_hash`` covers the chosen rate: a sweep that chooses
  another rate makes them stale.

The shared setting (:data:`BASE`): a 2-block, 4-head, width-64 pre-LayerNorm transformer over
characters (112,000 parameters), context 64, batches of 32 windows (2,048 tokens) for 600
updates (1.2 million tokens, about 1.2 passes over the training split), warmup over the first
60 updates then cosine decay to 10 % of the peak (GPT-3, LLaMA); Adam's betas 0.9 and 0.95
(GPT-3, LLaMA), weight decay 0.1 (GPT-3, LLaMA; AdamW only) on the weight matrices only, no
gradient clipping; float32.  Sized to the recording budget: one update takes about 50 ms of one
core, a run about 30 s; the 28 runs took 840 s of one core in all (about 7 minutes on two idle
cores; the configs hold each run's wall time).
How the sweep grids were placed (unrecorded trials, 600 updates, seed 0): SGD at 3 diverged
within 100 updates and reached 2.42 at 1; AdamW reached 1.98 at 1e-2, 2.09 at 3e-3, 2.32 at 3e-2;
so each grid spans 1.5 decades in half-decade steps around those.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import records
from numerics.pretraining import language_model as lmexp
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "pretraining"
SOURCES = (SCRIPTS / "recorders" / "pretraining.py",
           SCRIPTS / "numerics" / "pretraining" / "language_model.py",
           SCRIPTS / "numerics" / "pretraining" / "corpus.py",
           SCRIPTS / "models" / "language_model.py", SCRIPTS / "models" / "optimizers.py",
           SCRIPTS / "models" / "mlp.py")

# ---- the run specifications --------------------------------------------------------------------
BASE = dataclasses.asdict(lmexp.RunConfig())
#: Peak learning rates of each optimizer's sweep (seed 0), low to high.
SWEEP_LRS = {
    "sgd": (0.1, 0.3, 1.0, 3.0),
    "momentum": (0.03, 0.1, 0.3, 1.0),
    "adam": (0.001, 0.003, 0.01, 0.03),
    "adamw": (0.001, 0.003, 0.01, 0.03),
}
SWEEP_SEED = 0
TUNED_SEEDS = (1, 2, 3)
#: Significant digits of the logged values.
DIGITS = 6


def sweep_name(optimizer: str, lr: float) -> str:
    return f"sweep_{optimizer}_lr{lr:g}"


def tuned_name(optimizer: str, seed: int) -> str:
    return f"tuned_{optimizer}_s{seed}"


def spec(optimizer: str, lr: float | None, seed: int) -> dict:
    """A run's parameters: BASE with the optimizer, its peak rate and the seed; weight decay
    (decoupled) for AdamW only.  SGD, momentum and Adam run without any: an L2 penalty of 0.1
    would shrink every SGD matrix by lr x 0.1 per update (10 % at lr 1), and Adam with the L2
    penalty 0.1 is not the like-for-like partner of AdamW (untuned trials, seed 0, lr 1e-2:
    held-out 1.987 / 2.05 / 2.35 / 2.51 at L2 0 / 0.001 / 0.01 / 0.1, AdamW 1.989): the penalty
    alone, not its coupling, would decide the comparison."""
    decay = BASE["weight_decay"] if optimizer == "adamw" else 0.0
    return {**BASE, "optimizer": optimizer, "lr": lr, "seed": seed, "weight_decay": decay}


SWEEP: dict[str, dict] = {sweep_name(opt, lr): spec(opt, lr, SWEEP_SEED)
                          for opt, lrs in SWEEP_LRS.items() for lr in lrs}
TUNED_NAMES = tuple(tuned_name(opt, seed) for opt in SWEEP_LRS for seed in TUNED_SEEDS)


def final_val_loss(config: dict) -> float:
    """A recorded run's final held-out loss (inf when it diverged)."""
    value = config.get("final_val_loss")
    return math.inf if value is None else float(value)


def best_lr(optimizer: str, data: Path = DATA) -> float | None:
    """The sweep's peak learning rate with the lowest final held-out loss, read from the recorded
    sweep runs; None while any of them is missing or stale."""
    losses = {}
    for lr in SWEEP_LRS[optimizer]:
        name = sweep_name(optimizer, lr)
        if EXPERIMENT.status(name, data) != "ok":
            return None
        losses[lr] = final_val_loss(records.read_config(Path(data) / name))
    best = min(losses, key=losses.get)
    return best if math.isfinite(losses[best]) else None


def tuned_runs(data: Path = DATA) -> dict[str, dict]:
    """The tuned runs' specifications at the rates the recorded sweep chooses (lr None where it
    cannot choose yet)."""
    return {tuned_name(opt, seed): spec(opt, best_lr(opt, data), seed)
            for opt in SWEEP_LRS for seed in TUNED_SEEDS}


def run_config(params: dict) -> lmexp.RunConfig:
    if params["lr"] is None:
        raise ValueError("the sweep has not chosen this optimizer's learning rate yet")
    return lmexp.RunConfig(**params)


def current_hash(params: dict) -> str:
    return records.code_hash(SOURCES, params)


def rounded(values: np.ndarray, digits: int = DIGITS) -> np.ndarray:
    """Each value rounded to `digits` significant digits (NaN stays NaN)."""
    return np.array([float(f"{v:.{digits}g}") if math.isfinite(v) else v for v in values])


def record(name: str, params: dict, data: Path = DATA) -> dict:
    """Train one run and write it with `records.write_run`; return its config."""
    cfg = run_config(params)
    source = lmexp.data()
    result = lmexp.train(cfg, source=source)
    m = result.metrics
    metrics = {key: (values if key in ("step", "tokens") else rounded(values))
               for key, values in m.items()}
    val = metrics["val_loss"][~np.isnan(metrics["val_loss"])]
    train_loss = metrics["train_loss"][~np.isnan(metrics["train_loss"])]
    size = len(source.vocab)
    config = {
        "name": name,
        **params,
        "phase": "sweep" if name in SWEEP else "tuned",
        "task": "next-character prediction on the training split of Tiny Shakespeare "
                "(numerics.pretraining.corpus: first 90 % by position); held-out loss on "
                "eval_windows fixed windows spread evenly over the rest",
        "model": f"decoder-only transformer (models.language_model): token + position "
                 f"embeddings, {cfg.n_layers} pre-LayerNorm blocks of {cfg.n_heads}-head causal "
                 f"self-attention and a GELU MLP ({cfg.d_model} -> {cfg.d_mlp} -> {cfg.d_model}) "
                 "with residuals, final LayerNorm, untied unembedding; GPT-2 initialisation",
        "optimizer_rule": {
            "sgd": "SGD: theta -= lr g",
            "momentum": "SGD with heavy-ball momentum: v = momentum v + g; theta -= lr v",
            "adam": "Adam (Kingma & Ba 2015) on g, without weight decay",
            "adamw": "AdamW: Adam on g, then theta -= lr weight_decay theta (matrices), "
                     "decoupled (Loshchilov & Hutter 2019)",
        }[cfg.optimizer],
        "schedule": "linear warmup over `warmup` updates to lr, then cosine decay to "
                    "final_lr_ratio x lr at the last update (models.optimizers.warmup_cosine)",
        "loss": "mean next-character softmax cross-entropy over every position (nats)",
        "vocab_size": size,
        "n_params": result.n_params,
        "tokens_per_step": cfg.tokens_per_step,
        "train_chars": int(len(source.train)),
        "held_out_chars": int(len(source.held_out)),
        "unigram_entropy_train": lmexp.unigram_entropy(source.train, size),
        "unigram_cross_entropy_held_out": lmexp.unigram_cross_entropy(source.train,
                                                                       source.held_out, size),
        "log_schedule": "row 0 = initialisation (val_loss only); row s = update s: lr and "
                        "train_loss/grad_norm of its batch before the update, tokens and val_loss "
                        f"after it (val_loss every eval_every updates and the last); values "
                        f"rounded to {DIGITS} significant digits",
        "updates_done": result.steps,
        "diverged_at": result.diverged_at,
        "final_val_loss": float(val[-1]) if result.diverged_at is None else None,
        "final_train_loss_last_50": (float(train_loss[-50:].mean())
                                     if result.diverged_at is None else None),
        "wall_time_s": round(result.wall_time, 2),
        "machine": {"numpy": np.__version__, "python": platform.python_version(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "code_hash": current_hash(params),
    }
    records.write_run(Path(data) / name, config, metrics)
    return config


def _line(config: dict) -> str:
    outcome = (f"diverged at update {config['diverged_at']}" if config["diverged_at"]
               else f"held-out loss {config['final_val_loss']:.4f} (unigram "
                    f"{config['unigram_cross_entropy_held_out']:.4f})")
    return f"{config['name']:24s} {outcome}, wall {config['wall_time_s']:.1f} s"


def _describe(name: str, params: dict) -> str:
    return f"optimizer={params['optimizer']} lr={params['lr']} seed={params['seed']}"


def experiment(runs: dict[str, dict]) -> recorder.Experiment:
    return recorder.Experiment("pretraining.py", runs, DATA, SOURCES, record, _line,
                               describe=_describe)


#: The sweep (always known); the tuned runs join it in `all_runs`, once the sweep is recorded.
EXPERIMENT = experiment(SWEEP)


def all_runs(data: Path = DATA) -> dict[str, dict]:
    return {**SWEEP, **tuned_runs(data)}


def status(name: str, data: Path = DATA) -> str:
    """'ok', 'missing' or 'stale' (a tuned run is stale when the sweep would choose another
    rate, and missing while it cannot choose)."""
    return experiment(all_runs(data)).status(name, data)


def _with_runs(argv: list[str], names: list[str]) -> list[str]:
    """`argv` with its --run list replaced by `names`."""
    out, skipping = [], False
    for arg in argv:
        if arg == "--run":
            skipping = True
            continue
        if skipping and not arg.startswith("-"):
            continue
        skipping = False
        out.append(arg)
    return [*out, "--run", *names]


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder: --force, --run, --check, --list, --jobs, --data), in
    two phases: the sweep, then the tuned runs at the rates the recorded sweep chose."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--run", nargs="+")
    pre.add_argument("--data", type=Path, default=DATA)
    known, _ = pre.parse_known_args(argv)
    if known.run:
        unknown = [n for n in known.run if n not in SWEEP and n not in TUNED_NAMES]
        if unknown:
            print(f"pretraining.py: unknown run(s) {', '.join(unknown)}; known: "
                  f"{', '.join([*SWEEP, *TUNED_NAMES])}", file=sys.stderr)
            return 2
    code, start = 0, time.perf_counter()
    for phase in ("sweep", "tuned"):
        runs = SWEEP if phase == "sweep" else tuned_runs(known.data)
        args = argv
        if known.run:
            names = [n for n in known.run if n in runs]
            if not names:
                continue
            args = _with_runs(argv, names)
        if phase == "tuned" and "--check" not in args and "--list" not in args:
            undecided = sorted({p["optimizer"] for n, p in runs.items() if p["lr"] is None
                                and (not known.run or n in known.run)})
            if undecided:
                print(f"pretraining.py: the sweep of {', '.join(undecided)} is not recorded "
                      "(or diverged everywhere): no tuned rate to record", file=sys.stderr)
                return 1
        code = max(code, recorder.main(experiment(runs), args))
        if code == 2:
            return code
    if "--check" not in argv and "--list" not in argv:
        print(f"pretraining.py: both phases in {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
