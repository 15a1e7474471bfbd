"""Loss-gated sample selection: score every sample, back-propagate only the significant ones.

Every training step runs a *scoring* forward pass over the whole mini-batch, gives each sample
a significance score (its own cross-entropy loss), and back-propagates only the samples whose
score exceeds a threshold ("active" samples).  A PI controller (:mod:`.controller`) moves the
threshold so that the share of active samples -- the activation rate -- tracks a target such
as 10 %.  Selecting by loss is Selective-Backprop (Jiang et al. 2019, arXiv 1910.00762);
importance sampling by the loss or gradient norm is Katharopoulos & Fleuret 2018 (arXiv
1803.00942).  Public write-ups of the idea often compare wall times against a hard-coded
baseline and leave out the scoring pass, which runs on *every* sample.  Here every pass is
counted (:mod:`.flops`).

Model and training
------------------
An MLP ``d_in -> hidden -> n_classes`` (ReLU, softmax cross-entropy) from :mod:`models.mlp`,
trained with :class:`models.mlp.Adam` (AdamW if ``weight_decay > 0``) on the task of
:mod:`.task`.  Three modes share the data, the initialisation and the order of the
mini-batches (common random numbers, one seed):

* ``"full"``: forward and backward on every sample of the batch (no separate scoring pass:
  the training forward pass is the only one).
* ``"gated"``: scoring forward pass on all ``B`` samples; active iff ``loss_i > threshold``;
  the gradient is the mean over the ``k`` active samples (no update when ``k = 0``).  The
  backward pass *reuses the scoring pass's activations* (the rows of the active samples of
  :class:`models.mlp.Cache`), so no second forward pass is run or counted.  The parameters
  are the same at scoring and at the update, so the reuse is exact.
* ``"random"``: each sample is trained on independently with probability ``rate`` (same
  expected number of trained samples as a gated run with ``target = rate``).  It needs no
  scores, so it runs and pays forward and backward on the chosen samples only -- *no* scoring
  pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models import mlp
from models.mlp import Params
from numerics.sparse_training.controller import PIController, PIState, initial_threshold
from numerics.sparse_training.flops import backward_flops, forward_flops, step_flops
from numerics.sparse_training.task import Task, TaskConfig, make_task

MODES = ("full", "gated", "random")
COLUMNS = ("step", "epoch", "train_loss", "batch_loss_mean", "val_loss", "val_acc",
           "val_balanced_acc", "threshold", "activation_rate", "activation_rate_smoothed",
           "active_noisy_fraction", "samples_processed", "samples_trained",
           "flops_forward", "flops_backward", "flops_total")


# ------------------------------------------------------------------------- the gated step


def per_sample_losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy ``-log p(y_i | x_i)`` of every row: the significance score."""
    return -mlp.log_softmax(logits)[np.arange(len(labels)), labels]


def subset_cache(cache: mlp.Cache, rows: np.ndarray) -> mlp.Cache:
    """The cache of the samples ``rows`` only: backward on it equals backward after a forward
    pass on those samples alone (samples do not interact in an MLP)."""
    return mlp.Cache([h[rows] for h in cache.inputs], [z[rows] for z in cache.preacts],
                     [a[rows] for a in cache.acts], cache.activation, list(cache.residual))


def masked_loss_and_grads(params: Params, cache: mlp.Cache, logits: np.ndarray,
                          labels: np.ndarray, active: np.ndarray,
                          ) -> tuple[float, Params] | tuple[None, None]:
    """Mean cross-entropy over the ``active`` samples and its gradient, from the scoring pass's
    ``(logits, cache)``; ``(None, None)`` when no sample is active."""
    rows = np.flatnonzero(active)
    if rows.size == 0:
        return None, None
    loss, dlogits = mlp.softmax_cross_entropy(logits[rows], labels[rows])
    return loss, mlp.backward(params, subset_cache(cache, rows), dlogits)


def balanced_accuracy(logits: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """Mean over classes (present in ``labels``) of the per-class recall."""
    pred = np.argmax(logits, axis=1)
    recalls = [np.mean(pred[labels == c] == c) for c in range(n_classes) if np.any(labels == c)]
    return float(np.mean(recalls))


# --------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """Every parameter of one run besides the task.  ``rate`` is the target activation rate
    (gated) or the selection probability (random); it must be 1 for ``full``."""

    mode: str = "gated"
    rate: float = 0.1
    hidden: tuple[int, ...] = (64,)
    batch_size: int = 256
    epochs: int = 20
    lr: float = 3e-3
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    kp: float = 5.0
    ki: float = 1.0
    smoothing: float = 0.1
    integral_limit: float = 10.0
    eval_every: int = 8
    log_every: int = 1
    probe_size: int = 1024
    n_checkpoints: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; expected one of {MODES}")
        if self.mode == "full" and self.rate != 1.0:
            raise ValueError("the full run trains on every sample: rate must be 1")
        if not 0.0 < self.rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], got {self.rate}")
        if self.log_every < 1 or self.eval_every < 1:
            raise ValueError("log_every and eval_every must be positive")

    def controller(self) -> PIController:
        return PIController(self.rate, self.kp, self.ki, self.smoothing, self.integral_limit)


@dataclass
class TrainResult:
    """Logged metrics (columns :data:`COLUMNS`), checkpoints, final parameters, wall time and
    counts over *every* step (also the unlogged ones when ``log_every > 1``)."""

    metrics: dict[str, np.ndarray]
    checkpoints: dict[int, dict[str, np.ndarray]]
    params: Params
    steps: int
    wall_time: float
    stats: dict[str, float]


def sizes(task_cfg: TaskConfig, cfg: TrainConfig) -> list[int]:
    """Layer widths ``[d_in, *hidden, n_classes]``."""
    return [task_cfg.d_in, *cfg.hidden, task_cfg.n_classes]


def checkpoint_steps(total: int, count: int) -> tuple[int, ...]:
    """``count`` log-spaced steps from 1 to ``total`` (deduplicated), ``()`` for 0."""
    if count <= 0:
        return ()
    return tuple(sorted({int(round(s)) for s in np.geomspace(1, total, count)}))


def train(task_cfg: TaskConfig, cfg: TrainConfig, task: Task | None = None) -> TrainResult:
    """Train one run; one row per step plus row 0 (the initialisation).

    Row ``t >= 1`` describes step ``t``: its batch, scores, gate and threshold (the threshold
    *used* at step ``t``), the controller's smoothed rate after seeing it, the cumulative
    counts including it; ``val_*`` are measured after its update, every ``eval_every`` steps
    and at the last step.  ``epoch`` is 1-based (0 on row 0).  Checkpoints (gated runs) hold the
    scores of a fixed probe set (the first ``probe_size`` training samples) under the
    parameters that scored step ``t``, and the threshold used at step ``t``; scoring the probe
    is instrumentation and is not counted.  With ``log_every > 1`` only row 0, the rows of
    steps divisible by ``log_every`` and the last row are returned (cumulative columns stay
    exact; per-step columns describe the logged step only).
    """
    start = time.perf_counter()
    task = task or make_task(task_cfg)
    n, b = len(task.y_train), cfg.batch_size
    if n % b:
        raise ValueError(f"n_train={n} is not a multiple of batch_size={b}")
    per_epoch = n // b
    total = per_epoch * cfg.epochs
    shape = sizes(task_cfg, cfg)
    forward_per_sample, backward_per_sample = forward_flops(shape), backward_flops(shape)
    init_rng, order_rng, select_rng = (np.random.default_rng(s)
                                       for s in np.random.SeedSequence(cfg.seed).spawn(3))
    params = mlp.init_params(shape, init_rng, activation="relu")
    opt = mlp.Adam(lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay)
    opt_state = opt.init(params)
    controller = cfg.controller()
    control: PIState | None = None
    wanted = set(checkpoint_steps(total, cfg.n_checkpoints)) if cfg.mode == "gated" else set()
    probe = np.arange(min(cfg.probe_size, n))
    checkpoints: dict[int, dict[str, np.ndarray]] = {}
    rows = np.full((total + 1, len(COLUMNS)), np.nan)
    column = {name: j for j, name in enumerate(COLUMNS)}
    counts = np.zeros(4)  # samples_processed, samples_trained, flops_forward, flops_backward
    integral_max, clamped, idle = 0.0, 0, 0

    def evaluate(row: np.ndarray) -> None:
        logits, _ = mlp.forward(params, task.x_val)
        row[column["val_loss"]] = mlp.softmax_cross_entropy(logits, task.y_val)[0]
        row[column["val_acc"]] = mlp.accuracy(logits, task.y_val)
        row[column["val_balanced_acc"]] = balanced_accuracy(logits, task.y_val,
                                                            task_cfg.n_classes)

    rows[0, column["step"]] = rows[0, column["epoch"]] = 0
    rows[0, column["samples_processed"]:] = 0
    evaluate(rows[0])
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        order = order_rng.permutation(n)
        for i in range(per_epoch):
            step += 1
            idx = order[i * b:(i + 1) * b]
            x, y = task.x_train[idx], task.y_train[idx]
            row = rows[step]
            row[column["step"]], row[column["epoch"]] = step, epoch
            if cfg.mode == "random":
                active = select_rng.random(b) < cfg.rate
                rows_active = np.flatnonzero(active)
                n_forward = rows_active.size
                if n_forward:
                    logits, cache = mlp.forward(params, x[rows_active])
                    loss, grads = masked_loss_and_grads(params, cache, logits, y[rows_active],
                                                        np.ones(n_forward, bool))
            else:
                logits, cache = mlp.forward(params, x)
                scores = per_sample_losses(logits, y)
                row[column["batch_loss_mean"]] = scores.mean()
                if cfg.mode == "gated":
                    if control is None:
                        control = controller.init(initial_threshold(scores, cfg.rate))
                    if step in wanted:
                        probe_logits, _ = mlp.forward(params, task.x_train[probe])
                        checkpoints[step] = {
                            "scores": per_sample_losses(probe_logits, task.y_train[probe]),
                            "threshold": np.array([control.threshold]),  # shape (1,)
                            "noisy": task.noisy[probe].astype(np.int8),
                            "labels": task.y_train[probe].astype(np.int64)}
                    row[column["threshold"]] = control.threshold
                    active = scores > control.threshold
                else:
                    active = np.ones(b, bool)
                n_forward = b
                loss, grads = masked_loss_and_grads(params, cache, logits, y, active)
            k = int(active.sum())
            rate = k / b
            row[column["activation_rate"]] = rate
            if cfg.mode == "gated":
                control = controller.update(control, rate)
                row[column["activation_rate_smoothed"]] = control.smoothed
                integral_max = max(integral_max, abs(control.integral))
                clamped += abs(control.integral) >= cfg.integral_limit
            if k:
                row[column["train_loss"]] = loss
                row[column["active_noisy_fraction"]] = task.noisy[idx][active].mean()
                params, opt_state = opt.step(params, grads, opt_state)
            else:
                idle += 1
            fwd, bwd = step_flops(shape, n_forward, k)
            counts += (n_forward, k, fwd, bwd)
            row[column["samples_processed"]:column["flops_backward"] + 1] = counts
            row[column["flops_total"]] = counts[2] + counts[3]
            if step % cfg.eval_every == 0 or step == total:
                evaluate(row)
    assert counts[2] == counts[0] * forward_per_sample
    assert counts[3] == counts[1] * backward_per_sample
    steps = np.arange(total + 1)
    kept = (steps % cfg.log_every == 0) | (steps == total)
    metrics = {name: rows[kept, j].copy() for j, name in enumerate(COLUMNS)}
    full_flops = total * b * (forward_per_sample + backward_per_sample)
    stats = {"samples_processed": int(counts[0]), "samples_trained": int(counts[1]),
             "flops_forward": int(counts[2]), "flops_backward": int(counts[3]),
             "flops_total": int(counts[2] + counts[3]),
             "flops_fraction_of_full": float((counts[2] + counts[3]) / full_flops),
             "activation_rate_mean": float(counts[1] / (total * b)),
             "steps_without_update": idle}
    if cfg.mode == "gated":
        stats.update(integral_max_abs=integral_max, integral_clamped_steps=int(clamped))
    return TrainResult(metrics, checkpoints, params, total, time.perf_counter() - start, stats)
