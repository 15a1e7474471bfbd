"""Adaptive sample gating: score every sample, back-propagate only the significant ones.

The idea
--------
Every training step runs a *scoring* forward pass over the whole mini-batch, gives each sample
a significance score (its own cross-entropy loss), and back-propagates only the samples whose
score exceeds a threshold ("active" samples).  A PI controller moves the threshold so that the
share of active samples -- the activation rate -- tracks a target such as 10 %.  Selecting by
loss is Selective-Backprop (Jiang et al. 2019, arXiv 1910.00762); importance sampling by the
loss or gradient norm is Katharopoulos & Fleuret 2018 (arXiv 1803.00942).  Public write-ups of
the idea often compare wall times against a hard-coded baseline and leave out the scoring pass,
which runs on *every* sample.  Here every pass is counted (:func:`step_flops`).

Task (synthetic, seeded: :func:`make_task`)
-------------------------------------------
``n_classes`` classes, each a mixture of ``clusters_per_class`` isotropic unit Gaussians in
``d_in`` dimensions with means ``~ N(0, mean_scale^2 I)``; imbalanced class priors
``p_k ∝ class_decay^k``; a fraction ``label_noise`` of the *training* labels is replaced by a
uniformly chosen *other* class.  Validation labels are the true (clean) classes, so validation
accuracy measures agreement with the generating class, and :attr:`Task.bayes_val_acc` (the
accuracy of the exact posterior of the generating model) is its ceiling.  "Hard" samples are
therefore of three kinds: near overlapping clusters, of rare classes, or mislabelled.

Model and training
------------------
An MLP ``d_in -> hidden -> n_classes`` (ReLU, softmax cross-entropy) from :mod:`models.mlp`,
trained with :class:`models.mlp.Adam` (AdamW if ``weight_decay > 0``).  Three modes share the data, the initialisation
and the order of the mini-batches (common random numbers, one seed):

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

Controller (:class:`PIController`)
----------------------------------
Error ``e_t = rbar_t - target`` with ``rbar`` an exponential moving average of the batch
activation rate; position-form PI on the *logarithm* of the threshold,
``log theta_t = log theta_0 + Kp e_t + Ki I_t``, ``I_t = clip(I_{t-1} + e_t, ±I_max)``
(anti-windup: the integral is clamped).  The log makes the gain relative: per-sample losses
shrink by orders of magnitude during training, and a fixed additive gain would be too slow
early and unstable late.  ``theta_0`` is the ``(1 - target)`` quantile of the first batch's
scores (the scoring pass of step 1, nothing extra).  This is the textbook position form of PI
control (Astrom & Murray, *Feedback Systems*, 2008, ch. 10); the incremental form
``theta <- theta + Kp e + Ki sum(e)`` would integrate the error twice.  With the threshold
following falling losses (a ramp in ``log theta``), the integral term leaves a steady error of
about ``slope / Ki``, which the default ``Ki = 1`` keeps far below the binomial noise of one
batch's rate, ``sqrt(r (1 - r) / B)``.

Cost (:func:`forward_flops`, counted, never timed)
---------------------------------------------------
Per sample, forward: each dense layer ``2 d_in d_out`` (multiply-adds) ``+ d_out`` (bias);
each hidden unit ``1`` (ReLU); the softmax cross-entropy ``3`` per logit (shift, exp, sum;
the log and the pick are per sample and neglected).  Backward ``= 2 x forward`` per sample,
the convention of Kaplan et al. 2020 (arXiv 2001.08361, Sec. 2.1: "the backwards pass is
approximately twice the compute as the forwards pass", C ≈ 6N per token).  For the matrix
products it is exact for :func:`models.mlp.backward` (``h^T dz`` and ``dz W^T`` per layer,
the first layer's input gradient included).  Evaluation on the validation set is not training
compute and is not counted (the same for every run).  Hence per step, with ``k`` of ``B``
trained samples and ``F`` = forward FLOPs per sample::

    full    B F + 2 B F          = 3 B F
    gated   B F + 2 k F          (reuse of the scoring activations)
    random  k F + 2 k F          = 3 k F

and a gated run at activation rate ``r`` costs ``(1 + 2r) / 3`` of the full run
(:func:`gated_cost_fraction`): at most 2/3 can ever be saved, however small ``r``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from models import mlp
from models.mlp import Params

MODES = ("full", "gated", "random")
COLUMNS = ("step", "epoch", "train_loss", "batch_loss_mean", "val_loss", "val_acc",
           "val_balanced_acc", "threshold", "activation_rate", "activation_rate_smoothed",
           "active_noisy_fraction", "samples_processed", "samples_trained",
           "flops_forward", "flops_backward", "flops_total")
XENT_FLOPS_PER_LOGIT = 3
BACKWARD_FACTOR = 2


# ------------------------------------------------------------------------------------- task


@dataclass(frozen=True)
class TaskConfig:
    """The synthetic classification task (see the module docstring)."""

    d_in: int = 20
    n_classes: int = 5
    clusters_per_class: int = 3
    mean_scale: float = 0.8
    class_decay: float = 0.6
    label_noise: float = 0.03
    n_train: int = 8192
    n_val: int = 4096
    data_seed: int = 0


@dataclass(frozen=True)
class Task:
    """Training set (noisy labels, ``noisy`` marks the flipped ones) and clean validation set."""

    x_train: np.ndarray
    y_train: np.ndarray
    y_train_clean: np.ndarray
    noisy: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    priors: np.ndarray
    bayes_val_acc: float


def class_priors(cfg: TaskConfig) -> np.ndarray:
    """``p_k ∝ class_decay^k``, normalised."""
    p = cfg.class_decay ** np.arange(cfg.n_classes, dtype=float)
    return p / p.sum()


def bayes_posterior(x: np.ndarray, means: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Exact class posterior of the generating mixture (unit covariances, equal cluster weights)."""
    n_classes = len(priors)
    sq = ((x[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)  # (n, clusters)
    logs = -0.5 * sq.reshape(len(x), n_classes, -1)
    top = logs.max(axis=(1, 2), keepdims=True)
    joint = np.exp(logs - top).mean(axis=2) * priors
    return joint / joint.sum(axis=1, keepdims=True)


def make_task(cfg: TaskConfig) -> Task:
    """Seeded draw of the Gaussian-mixture task, label noise on the training set only."""
    rng = np.random.default_rng([cfg.data_seed, 7])
    c, m = cfg.n_classes, cfg.clusters_per_class
    means = rng.normal(0.0, cfg.mean_scale, size=(c * m, cfg.d_in))
    priors = class_priors(cfg)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.choice(c, size=n, p=priors)
        cluster = y * m + rng.integers(0, m, size=n)
        return means[cluster] + rng.normal(size=(n, cfg.d_in)), y

    x_train, y_clean = draw(cfg.n_train)
    x_val, y_val = draw(cfg.n_val)
    noisy = rng.random(cfg.n_train) < cfg.label_noise
    y_train = y_clean.copy()
    y_train[noisy] = (y_clean[noisy] + rng.integers(1, c, size=int(noisy.sum()))) % c
    bayes = float(np.mean(np.argmax(bayes_posterior(x_val, means, priors), axis=1) == y_val))
    return Task(x_train, y_train, y_clean, noisy, x_val, y_val, priors, bayes)


# ------------------------------------------------------------------------------------- cost


def forward_flops(sizes: list[int] | tuple[int, ...]) -> int:
    """Forward FLOPs per sample of an MLP ``sizes = [d_in, h_1, ..., n_classes]`` (docstring)."""
    dense = sum(2 * a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    relu = sum(sizes[1:-1])
    return dense + relu + XENT_FLOPS_PER_LOGIT * sizes[-1]


def backward_flops(sizes: list[int] | tuple[int, ...]) -> int:
    """Backward FLOPs per sample: ``BACKWARD_FACTOR`` (2, Kaplan et al. 2020) x forward."""
    return BACKWARD_FACTOR * forward_flops(sizes)


def step_flops(sizes: list[int] | tuple[int, ...], n_forward: int, n_backward: int) -> tuple[int, int]:
    """(forward, backward) FLOPs of a step that runs ``n_forward`` samples forward and
    back-propagates ``n_backward`` of them."""
    return n_forward * forward_flops(sizes), n_backward * backward_flops(sizes)


def gated_cost_fraction(rate: float, reforward: bool = False) -> float:
    """Compute of a gated step relative to a full step at activation rate ``rate``:
    ``(1 + 2 rate) / 3`` reusing the scoring activations, ``(1 + 3 rate) / 3`` if the active
    samples were run forward a second time (as in a framework that scores without a graph)."""
    return (1.0 + (3.0 if reforward else 2.0) * rate) / (1.0 + BACKWARD_FACTOR)


def compute_matched_rate(target: float, reforward: bool = False) -> float:
    """Random-selection rate with the same expected compute as gating at ``target``."""
    return gated_cost_fraction(target, reforward)


# ------------------------------------------------------------------------------- controller


@dataclass(frozen=True)
class PIState:
    """Controller state after ``t`` updates; ``log_threshold`` gates the next batch."""

    log_threshold: float
    log_threshold0: float
    smoothed: float
    integral: float

    @property
    def threshold(self) -> float:
        return math.exp(self.log_threshold)


@dataclass(frozen=True)
class PIController:
    """PI control of the activation rate through ``log threshold`` (module docstring).

    ``rbar_t = (1 - smoothing) rbar_{t-1} + smoothing r_t`` (``rbar_0 = target``),
    ``e_t = rbar_t - target``, ``I_t = clip(I_{t-1} + e_t, -integral_limit, integral_limit)``,
    ``log theta_t = log theta_0 + kp e_t + ki I_t``.  A rate above target raises the threshold.
    """

    target: float
    kp: float = 5.0
    ki: float = 1.0
    smoothing: float = 0.1
    integral_limit: float = 10.0

    def init(self, threshold: float) -> PIState:
        log0 = math.log(threshold)
        return PIState(log0, log0, self.target, 0.0)

    def update(self, state: PIState, rate: float) -> PIState:
        smoothed = (1.0 - self.smoothing) * state.smoothed + self.smoothing * rate
        error = smoothed - self.target
        integral = min(max(state.integral + error, -self.integral_limit), self.integral_limit)
        log_threshold = state.log_threshold0 + self.kp * error + self.ki * integral
        return PIState(log_threshold, state.log_threshold0, smoothed, integral)


def initial_threshold(scores: np.ndarray, target: float) -> float:
    """The ``(1 - target)`` quantile of the first batch's scores (floored at 1e-12)."""
    return max(float(np.quantile(scores, 1.0 - target)), 1e-12)


# --------------------------------------------------------------------------------- numerics


def per_sample_losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy ``-log p(y_i | x_i)`` of every row: the significance score."""
    return -mlp.log_softmax(logits)[np.arange(len(labels)), labels]


def subset_cache(cache: mlp.Cache, rows: np.ndarray) -> mlp.Cache:
    """The cache of the samples ``rows`` only: backward on it equals backward after a forward
    pass on those samples alone (samples do not interact in an MLP)."""
    return mlp.Cache([h[rows] for h in cache.inputs], [z[rows] for z in cache.preacts],
                     [a[rows] for a in cache.acts], cache.activation, list(cache.residual))


def masked_loss_and_grads(params: Params, cache: mlp.Cache, logits: np.ndarray, labels: np.ndarray,
                          active: np.ndarray) -> tuple[float, Params] | tuple[None, None]:
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
    f_fwd, f_bwd = forward_flops(shape), backward_flops(shape)
    init_rng, order_rng, select_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(3))
    params = mlp.init_params(shape, init_rng, activation="relu")
    opt = mlp.Adam(lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay)
    opt_state = opt.init(params)
    controller = cfg.controller()
    ctrl: PIState | None = None
    wanted = set(checkpoint_steps(total, cfg.n_checkpoints)) if cfg.mode == "gated" else set()
    probe = np.arange(min(cfg.probe_size, n))
    checkpoints: dict[int, dict[str, np.ndarray]] = {}
    rows = np.full((total + 1, len(COLUMNS)), np.nan)
    col = {name: j for j, name in enumerate(COLUMNS)}
    counts = np.zeros(4)  # samples_processed, samples_trained, flops_forward, flops_backward
    integral_max, clamped, idle = 0.0, 0, 0

    def evaluate(row: np.ndarray) -> None:
        logits, _ = mlp.forward(params, task.x_val)
        row[col["val_loss"]] = mlp.softmax_cross_entropy(logits, task.y_val)[0]
        row[col["val_acc"]] = mlp.accuracy(logits, task.y_val)
        row[col["val_balanced_acc"]] = balanced_accuracy(logits, task.y_val, task_cfg.n_classes)

    rows[0, col["step"]] = rows[0, col["epoch"]] = 0
    rows[0, col["samples_processed"]:] = 0
    evaluate(rows[0])
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        order = order_rng.permutation(n)
        for i in range(per_epoch):
            step += 1
            idx = order[i * b:(i + 1) * b]
            x, y = task.x_train[idx], task.y_train[idx]
            row = rows[step]
            row[col["step"]], row[col["epoch"]] = step, epoch
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
                row[col["batch_loss_mean"]] = scores.mean()
                if cfg.mode == "gated":
                    if ctrl is None:
                        ctrl = controller.init(initial_threshold(scores, cfg.rate))
                    if step in wanted:
                        probe_logits, _ = mlp.forward(params, task.x_train[probe])
                        checkpoints[step] = {
                            "scores": per_sample_losses(probe_logits, task.y_train[probe]),
                            "threshold": np.array([ctrl.threshold]),  # shape (1,)
                            "noisy": task.noisy[probe].astype(np.int8),
                            "labels": task.y_train[probe].astype(np.int64)}
                    row[col["threshold"]] = ctrl.threshold
                    active = scores > ctrl.threshold
                else:
                    active = np.ones(b, bool)
                n_forward = b
                loss, grads = masked_loss_and_grads(params, cache, logits, y, active)
            k = int(active.sum())
            rate = k / b
            row[col["activation_rate"]] = rate
            if cfg.mode == "gated":
                ctrl = controller.update(ctrl, rate)
                row[col["activation_rate_smoothed"]] = ctrl.smoothed
                integral_max = max(integral_max, abs(ctrl.integral))
                clamped += abs(ctrl.integral) >= cfg.integral_limit
            if k:
                row[col["train_loss"]] = loss
                row[col["active_noisy_fraction"]] = task.noisy[idx][active].mean()
                params, opt_state = opt.step(params, grads, opt_state)
            else:
                idle += 1
            fwd, bwd = step_flops(shape, n_forward, k)
            counts += (n_forward, k, fwd, bwd)
            row[col["samples_processed"]:col["flops_backward"] + 1] = counts
            row[col["flops_total"]] = counts[2] + counts[3]
            if step % cfg.eval_every == 0 or step == total:
                evaluate(row)
    assert counts[2] == counts[0] * f_fwd and counts[3] == counts[1] * f_bwd
    steps = np.arange(total + 1)
    kept = (steps % cfg.log_every == 0) | (steps == total)
    metrics = {name: rows[kept, j].copy() for j, name in enumerate(COLUMNS)}
    full_flops = total * b * (f_fwd + f_bwd)
    stats = {"samples_processed": int(counts[0]), "samples_trained": int(counts[1]),
             "flops_forward": int(counts[2]), "flops_backward": int(counts[3]),
             "flops_total": int(counts[2] + counts[3]),
             "flops_fraction_of_full": float((counts[2] + counts[3]) / full_flops),
             "activation_rate_mean": float(counts[1] / (total * b)),
             "steps_without_update": idle}
    if cfg.mode == "gated":
        stats.update(integral_max_abs=integral_max, integral_clamped_steps=int(clamped))
    return TrainResult(metrics, checkpoints, params, total, time.perf_counter() - start, stats)
