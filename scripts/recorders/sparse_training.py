"""Record the adaptive sample gating runs (:mod:`numerics.sparse_training`) into
data/sparse_training/.

    python scripts/recorders/sparse_training.py          record runs missing or out of date
    python scripts/recorders/sparse_training.py --force  re-record every run
    python scripts/recorders/sparse_training.py --run gated_0.1 random_0.4
    python scripts/recorders/sparse_training.py --check  record nothing; exit 1 listing
                                                         out-of-date runs
    python scripts/recorders/sparse_training.py --list

A run is out of date when its config.json is missing or its ``code_hash`` differs from the
hash of the current experiment code (:data:`SOURCES`: this file, the modules of
numerics/sparse_training/ and models/mlp.py) and the run's parameters.  Each run is written
with :func:`records.write_run`.

The runs (all parameters in :data:`RUNS`; synthetic Gaussian-mixture task with 3 % label
noise, see :mod:`numerics.sparse_training.task`).  Every run trains for the same number of steps
(``epochs`` x ``n_train / batch_size``) on the same batches in the same order; what differs is
which samples of a batch are back-propagated, and therefore the counted compute:

* ``full``: every sample (compute 1, by definition).
* ``gated_<t>``: PI-controlled loss threshold, target activation rate ``t`` in
  :data:`TARGETS` (compute ``(1 + 2t) / 3`` of full: the scoring pass runs on every sample).
* ``random_<r>``: a uniformly random share ``r`` of each batch, no scoring pass (compute
  ``r``); ``r`` is each target (equal number of trained samples) and each target's
  compute-matched rate ``(1 + 2t) / 3`` rounded to 4 decimals (equal expected compute;
  0.1 -> 0.4 coincides with the equal-rate partner of 0.4).  :data:`PARTNERS` pairs them.
* ``clean_*``: the same for ``full``, ``gated_0.1`` and its two random partners on the task
  *without* label noise (an ablation: does loss-based selection fail only because of noise?).

Hyperparameters (:data:`TASK`, :data:`TRAIN`), fixed before comparing the modes and shared by
all of them: ``mean_scale`` 0.8 gives a Bayes accuracy of about 0.93 (a learnable task with
overlap); 3 % label noise is the average label-error rate Northcutt et al. 2021 (arXiv
2103.14749) found in common test sets; Adam with lr 3e-3 brings the full run to its plateau
within the 20 epochs (in unrecorded trials lr 1e-3 was still improving at 20 epochs and 1e-2
lost validation accuracy after an early peak); the controller gains were
chosen on tracking alone (bias and spread of the rate, not accuracy): ``kp = 5``, ``ki = 1``,
EMA weight 0.1, integral clamp 10 (never reached in the recorded runs).

The seed-0 runs are logged at every step; ``<run>_s<k>`` (k = 1..4) repeat them with training
seed k (initialisation, batch order, random selection; same data), logged once per epoch
(its last step; cumulative counts stay exact) to keep the record small.  Only ``gated_0.1``
has checkpoints: the scores of a fixed probe set of training samples and the threshold at 5
log-spaced steps.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
from pathlib import Path

import numpy as np

import records
from numerics.sparse_training import flops, selection
from numerics.sparse_training.task import TaskConfig, make_task
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "sparse_training"
NUMERICS = SCRIPTS / "numerics" / "sparse_training"
SOURCES = (SCRIPTS / "recorders" / "sparse_training.py", NUMERICS / "task.py",
           NUMERICS / "flops.py", NUMERICS / "controller.py", NUMERICS / "selection.py",
           SCRIPTS / "models" / "mlp.py")

# ---- the run specifications: every parameter of every run ------------------------------------
TASK = {
    "d_in": 20, "n_classes": 5, "clusters_per_class": 3, "mean_scale": 0.8, "class_decay": 0.6,
    "label_noise": 0.03, "n_train": 8192, "n_val": 4096, "data_seed": 0,
}
TRAIN = {
    "hidden": [64], "batch_size": 256, "epochs": 20, "lr": 3e-3, "beta1": 0.9, "beta2": 0.999,
    "weight_decay": 0.0, "kp": 5.0, "ki": 1.0, "smoothing": 0.1, "integral_limit": 10.0,
    "eval_every": 8, "log_every": 1, "probe_size": 1024, "n_checkpoints": 0, "seed": 0,
}
BASE = {**TASK, **TRAIN}
TARGETS = (0.05, 0.1, 0.2, 0.4)
SEEDS = (0, 1, 2, 3, 4)


def matched_rate(target: float) -> float:
    """Random-selection rate with the compute of gating at ``target``, to 4 decimals."""
    return round(flops.compute_matched_rate(target), 4)


def _spec(mode: str, rate: float, **changes) -> dict:
    return {**BASE, "mode": mode, "rate": rate, **changes}


MAIN: dict[str, dict] = {
    "full": _spec("full", 1.0),
    **{f"gated_{t:g}": _spec("gated", t) for t in TARGETS},
    **{f"random_{r:g}": _spec("random", r)
       for r in sorted({*TARGETS, *(matched_rate(t) for t in TARGETS)})},
}
MAIN["gated_0.1"]["n_checkpoints"] = 5
CLEAN: dict[str, dict] = {
    f"clean_{name}": {**MAIN[name], "label_noise": 0.0, "n_checkpoints": 0}
    for name in ("full", "gated_0.1", "random_0.1", "random_0.4")
}
# For each gated target: the random run with the same activation rate and the one with the
# same expected compute.
PARTNERS: dict[str, dict[str, str]] = {
    **{f"gated_{t:g}": {"equal_rate": f"random_{t:g}",
                         "equal_compute": f"random_{matched_rate(t):g}"}
       for t in TARGETS},
    "clean_gated_0.1": {"equal_rate": "clean_random_0.1", "equal_compute": "clean_random_0.4"},
}


def replicas(name: str) -> list[str]:
    """The run and its seed replicas, seed order."""
    return [name if seed == 0 else f"{name}_s{seed}" for seed in SEEDS]


RUNS: dict[str, dict] = {}
for _name, _params in {**MAIN, **CLEAN}.items():
    RUNS[_name] = _params
    for _seed in SEEDS[1:]:
        RUNS[f"{_name}_s{_seed}"] = {**_params, "seed": _seed, "n_checkpoints": 0,
                                     "log_every": _params["n_train"] // _params["batch_size"]}

_TASK_KEYS = tuple(f.name for f in dataclasses.fields(TaskConfig))
_TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(selection.TrainConfig))


def configs(params: dict) -> tuple[TaskConfig, selection.TrainConfig]:
    """The task and training configurations of a run specification."""
    task = TaskConfig(**{k: params[k] for k in _TASK_KEYS})
    fields = {k: params[k] for k in _TRAIN_KEYS}
    return task, selection.TrainConfig(**{**fields, "hidden": tuple(fields["hidden"])})


def current_hash(params: dict) -> str:
    """`records.code_hash` of the experiment sources and one run's parameters."""
    return records.code_hash(SOURCES, params)


def status(name: str, data: Path = DATA) -> str:
    """'ok', 'missing' or 'stale'; see records.recorder.Experiment.status."""
    return EXPERIMENT.status(name, data)


def _last_third(values: np.ndarray, steps: np.ndarray, total: int) -> np.ndarray:
    keep = (steps > total - total // 3) & ~np.isnan(values)
    return values[keep]


def record(name: str, params: dict, data: Path = DATA) -> dict:
    """Train one run and write it with `records.write_run`; return its config."""
    task_cfg, cfg = configs(params)
    task = make_task(task_cfg)
    result = selection.train(task_cfg, cfg, task)
    m = result.metrics
    shape = selection.sizes(task_cfg, cfg)
    steps_per_epoch = task_cfg.n_train // cfg.batch_size
    config = {
        "name": name,
        **params,
        "task": "SYNTHETIC: Gaussian mixture, n_classes classes x clusters_per_class unit-variance "
                "clusters in d_in dimensions, means ~ N(0, mean_scale^2 I), class priors "
                "p_k ∝ class_decay^k, a label_noise share of training labels flipped to another "
                "class uniformly; validation labels clean",
        "model": f"MLP {' -> '.join(map(str, shape))}, ReLU, softmax cross-entropy; float64; "
                 "models.mlp (He init hidden, Xavier output)",
        "optimizer": "Adam (models.mlp.Adam), gradient = mean over the trained samples of the "
                     "batch; no update when none is trained",
        "selection": {
            "full": "every sample; one forward pass (no separate scoring pass)",
            "gated": "scoring forward pass on every sample, score = its cross-entropy; trained iff "
                     "score > threshold; the backward pass reuses the scoring activations",
            "random": "each sample trained independently with probability rate; forward and "
                      "backward on the chosen samples only, no scoring pass",
        }[cfg.mode],
        "controller": "PI on log threshold: rbar = (1-smoothing) rbar + smoothing rate (rbar_0 = "
                      "target); e = rbar - target; I = clip(I + e, +-integral_limit); log theta = "
                      "log theta_0 + kp e + ki I; theta_0 = (1-target) quantile of step 1's scores"
                      if cfg.mode == "gated" else None,
        "budget": "same number of steps and the same batches for every run; compute counted",
        "flop_convention": "forward per sample: dense 2*d_in*d_out + d_out (bias), ReLU 1 per "
                           "hidden unit, softmax cross-entropy 3 per logit; backward = 2 x forward "
                           "(Kaplan et al. 2020, arXiv 2001.08361); validation not counted",
        "sizes": shape,
        "forward_flops_per_sample": flops.forward_flops(shape),
        "backward_flops_per_sample": flops.backward_flops(shape),
        "steps": result.steps,
        "steps_per_epoch": steps_per_epoch,
        "full_flops_per_epoch": steps_per_epoch * cfg.batch_size
                                * (flops.forward_flops(shape) + flops.backward_flops(shape)),
        "expected_flops_fraction_of_full": flops.gated_cost_fraction(cfg.rate)
                                           if cfg.mode == "gated" else cfg.rate,
        "bayes_val_acc": task.bayes_val_acc,
        "train_label_noise_share": float(task.noisy.mean()),
        "val_class_shares": np.bincount(task.y_val,
                                        minlength=task_cfg.n_classes).astype(int).tolist(),
        "log_schedule": "row 0 = initialisation, then every log_every-th step and the last; "
                        "val_* after the step's update, every eval_every steps and the last",
        "final_val_acc": float(m["val_acc"][-1]),
        "final_val_balanced_acc": float(m["val_balanced_acc"][-1]),
        "final_val_loss": float(m["val_loss"][-1]),
        **result.stats,
        "checkpoint_steps": sorted(result.checkpoints),
        "checkpoint_keys": {
            "scores": "cross-entropy of each probe sample (the first probe_size training samples, "
                      "noisy labels) under the parameters that scored that step",
            "threshold": "the threshold used at that step, shape (1,)",
            "noisy": "1 where the probe sample's training label was flipped",
            "labels": "the probe samples' training labels"} if result.checkpoints else {},
        "wall_time_s": round(result.wall_time, 2),
        "machine": {"numpy": np.__version__, "python": platform.python_version(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "code_hash": current_hash(params),
    }
    if cfg.mode == "gated":
        smoothed = _last_third(m["activation_rate_smoothed"], m["step"], result.steps)
        config["smoothed_rate_last_third_mean"] = float(smoothed.mean())
        config["smoothed_rate_last_third_std"] = float(smoothed.std())
        config["final_threshold"] = float(m["threshold"][-1])
    records.write_run(Path(data) / name, config, m, result.checkpoints)
    return config


def _describe(name: str, params: dict) -> str:
    return (f"mode={params['mode']} rate={params['rate']} label_noise={params['label_noise']} "
            f"seed={params['seed']}")


def _line(config: dict) -> str:
    extra = (f", rate(last third) {config['smoothed_rate_last_third_mean']:.4f}"
             if config["mode"] == "gated" else "")
    return (f"{config['name']:22s} val_acc {config['final_val_acc']:.4f}, "
            f"{config['flops_total']:.4g} FLOPs ({config['flops_fraction_of_full']:.3f} of full)"
            f"{extra}, wall {config['wall_time_s']:.1f} s")


EXPERIMENT = recorder.Experiment("sparse_training.py", RUNS, DATA, SOURCES, record, _line,
                                 describe=_describe)


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder): --force, --run, --check, --list, --jobs, --data."""
    return recorder.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
