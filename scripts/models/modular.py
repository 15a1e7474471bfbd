"""Modular addition ``(a + b) mod p`` learned by an embedding + MLP: the grokking experiment.

Model (float64, hand-written backprop)
--------------------------------------
* One embedding matrix ``E`` (``p x d``) is shared by both operands; the input of the MLP is
  the concatenation ``x = [E[a], E[b]]`` (``2d`` entries).
* Then ReLU hidden layer(s) and a linear output layer with ``p`` logits, softmax cross-entropy
  (mean over the batch).  The first layer is computed here (see :func:`forward`); the layers
  after it, the loss and the optimizer are :mod:`models.mlp` unchanged.
* Parameters are an :data:`models.mlp.Params` list ``[{"E": E}, layer_1, ..., layer_out]``,
  so :func:`models.mlp.map_params`, :func:`~models.mlp.flatten` and the optimizer
  :class:`models.mlp.Adam` (``weight_decay > 0``: AdamW, decay on every parameter, biases
  and embeddings included) work on it directly.
* Training is on a seeded random fraction of all ``p * p`` pairs (the other pairs are the
  validation set): full batch, or with ``batch_size`` set, minibatches drawn from seeded
  shuffles of the training pairs, one epoch after another.

Initialisation: ``E ~ N(0, 1)``, MLP weights He (hidden) / Xavier (output), biases zero, then
every parameter is multiplied by ``init_scale`` (Omnigrok, Liu et al. 2022: a larger initial
weight norm lengthens the delay between memorisation and generalisation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models import mlp
from models.mlp import Params

THRESHOLD = 0.95  # validation accuracy that counts as "generalised"


@dataclass(frozen=True)
class GrokConfig:
    """Every parameter of one training run."""

    p: int = 59
    d: int = 64  # embedding width per operand
    hidden: tuple[int, ...] = (128,)
    train_fraction: float = 0.4
    lr: float = 3e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    init_scale: float = 1.0
    seed: int = 0
    max_steps: int = 10_000
    stop_hold: int | None = None  # stop once val_acc >= THRESHOLD for this many steps (None: never)
    batch_size: int | None = None  # training pairs per step (None: all of them, full batch)

    def __post_init__(self) -> None:
        if not self.hidden:
            raise ValueError("the MLP needs at least one hidden layer")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class Split:
    """Operand indices and labels of the training and validation pairs."""

    a_train: np.ndarray
    b_train: np.ndarray
    y_train: np.ndarray
    a_val: np.ndarray
    b_val: np.ndarray
    y_val: np.ndarray


@dataclass
class TrainResult:
    """Logged metrics (columns in order, ``step`` first), checkpoints and how training ended."""

    metrics: dict[str, np.ndarray]
    checkpoints: dict[int, dict[str, np.ndarray]]
    params: Params
    steps: int  # optimizer steps taken
    stopped_reason: str
    wall_time: float = 0.0
    #: All parameters at the logged steps asked for (`train(snapshot_every=...)`), kept in memory
    #: for measurements after training (never written: they are large).
    snapshots: dict[int, Params] | None = None


# ------------------------------------------------------------------------------- data


def split(p: int, train_fraction: float, seed: int) -> Split:
    """All ``p * p`` pairs, a seeded random ``round(train_fraction * p^2)`` of them for training."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    a, b = np.divmod(np.arange(p * p), p)
    order = np.random.default_rng([seed, 0]).permutation(p * p)
    n_train = round(train_fraction * p * p)
    tr, va = np.sort(order[:n_train]), np.sort(order[n_train:])
    y = (a + b) % p
    return Split(a[tr], b[tr], y[tr], a[va], b[va], y[va])


# ------------------------------------------------------------------------------ model


def init_params(cfg: GrokConfig) -> Params:
    """Seeded initialisation (see the module docstring), scaled by ``cfg.init_scale``."""
    rng = np.random.default_rng([cfg.seed, 1])
    embedding = rng.normal(0.0, 1.0, size=(cfg.p, cfg.d))
    layers = mlp.init_params([2 * cfg.d, *cfg.hidden, cfg.p], rng, activation="relu")
    return mlp.map_params(lambda w: cfg.init_scale * w, [{"E": embedding}, *layers])


@dataclass(frozen=True)
class Cache:
    """What backward needs: the pairs, the first layer's pre-activation, the rest's cache."""

    a: np.ndarray
    b: np.ndarray
    z1: np.ndarray
    rest: mlp.Cache


def forward(params: Params, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Logits ``(n, p)`` for the pairs ``(a_i, b_i)`` and the backward cache.

    The first layer ``z1 = [E[a], E[b]] @ W1 + b1`` is computed exactly as
    ``(E @ W1_a)[a] + (E @ W1_b)[b] + b1`` with ``W1 = [W1_a; W1_b]``: two ``p x h`` tables
    instead of an ``n x 2d`` input matrix.  The layers after it are :func:`models.mlp.forward`.
    """
    E, W1, b1 = params[0]["E"], params[1]["W"], params[1]["b"]
    d = E.shape[1]
    z1 = (E @ W1[:d])[a] + (E @ W1[d:])[b] + b1
    logits, rest = mlp.forward(params[2:], mlp.activate(z1, "relu"), "relu")
    return logits, Cache(a, b, z1, rest)


def backward(params: Params, cache: Cache, dlogits: np.ndarray) -> Params:
    """Gradients of every parameter given ``dlogits = dL/d(logits)``.

    With ``S_a = onehot(a)^T dz1`` (``p x h``, the rows of ``dz1`` summed per operand value):
    ``dW1_a = E^T S_a``, ``dW1_b = E^T S_b``, ``dE = S_a W1_a^T + S_b W1_b^T``.
    """
    E, W1 = params[0]["E"], params[1]["W"]
    p, d = E.shape
    rest = params[2:]
    deltas = mlp.layer_deltas(rest, cache.rest, dlogits)
    grads = [{"W": h.T @ dz, "b": dz.sum(axis=0)}
             for h, dz in zip(cache.rest.inputs, deltas, strict=True)]
    dh1 = deltas[0] @ rest[0]["W"].T
    dz1 = dh1 * mlp.activate_grad(cache.z1, cache.rest.inputs[0], "relu")
    S_a, S_b = segment_sum(dz1, cache.a, p), segment_sum(dz1, cache.b, p)
    dW1 = np.concatenate([E.T @ S_a, E.T @ S_b], axis=0)
    dE = S_a @ W1[:d].T + S_b @ W1[d:].T
    return [{"E": dE}, {"W": dW1, "b": dz1.sum(axis=0)}, *grads]


def segment_sum(values: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
    """Rows of ``values`` summed per ``index`` value: ``out[v] = sum(values[index == v])``,
    ``(size, columns)``; zero for values that do not occur. (``onehot(index).T @ values``
    without the one-hot matrix: a stable sort and ``np.add.reduceat``, 2x faster.)"""
    order = np.argsort(index, kind="stable")
    counts = np.bincount(index, minlength=size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # A zero row after the sorted rows: a value that does not occur after the last one that
    # does starts there (reduceat needs every start inside the array), and the segment before
    # it still ends at the last real row.
    rows = np.concatenate([values[order], np.zeros((1, values.shape[1]))])
    out = np.add.reduceat(rows, starts, axis=0)
    out[counts == 0] = 0.0  # reduceat gives an empty segment the row at its start
    return out


def loss_and_grads(
    params: Params, a: np.ndarray, b: np.ndarray, y: np.ndarray
) -> tuple[float, Params]:
    """Mean softmax cross-entropy and its gradient with respect to every parameter."""
    loss, grads, _ = _loss_grads_logits(params, a, b, y)
    return loss, grads


def _loss_grads_logits(
    params: Params, a: np.ndarray, b: np.ndarray, y: np.ndarray
) -> tuple[float, Params, np.ndarray]:
    logits, cache = forward(params, a, b)
    loss, dlogits = mlp.softmax_cross_entropy(logits, y)
    return loss, backward(params, cache, dlogits), logits


def evaluate(params: Params, a: np.ndarray, b: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the given pairs."""
    logits, _ = forward(params, a, b)
    loss, _ = mlp.softmax_cross_entropy(logits, y)
    return loss, mlp.accuracy(logits, y)


def param_norm(params: Params) -> float:
    """L2 norm of all parameters together."""
    return float(np.linalg.norm(mlp.flatten(params)))


# ---------------------------------------------------------------------------- training


def is_logged(step: int) -> bool:
    """Log schedule: every step below 100, every 10 below 10 000, then every 100."""
    if step < 100:
        return True
    if step < 10_000:
        return step % 10 == 0
    return step % 100 == 0


def log_spaced_checkpoints(last: int, count: int = 12) -> tuple[int, ...]:
    """Step 0 and ``count - 1`` log-spaced steps from 10 to ``last``, each snapped down to a
    logged step (so every checkpoint has a row in the log); ``()`` when ``count`` is 0."""
    if count <= 0:
        return ()
    steps = {0, last}
    for s in np.geomspace(10, last, count - 1):
        s = int(round(s))
        while not is_logged(s):
            s -= 1
        steps.add(s)
    return tuple(sorted(steps))


def batches(n: int, batch_size: int, seed: int):
    """Index arrays of ``batch_size`` training pairs, endlessly: the pairs of a seeded shuffle
    in order, then of the next shuffle (a batch may span two epochs)."""
    rng = np.random.default_rng([seed, 2])
    queue = np.empty(0, dtype=np.int64)
    while True:
        while len(queue) < batch_size:
            queue = np.concatenate([queue, rng.permutation(n)])
        batch, queue = queue[:batch_size], queue[batch_size:]
        yield np.sort(batch)


def train(
    cfg: GrokConfig, checkpoint_steps: tuple[int, ...] = (), data: Split | None = None,
    snapshot_every: int | None = None,
) -> TrainResult:
    """AdamW on the training pairs (full batch, or ``cfg.batch_size`` pairs a step); log by
    :func:`is_logged`.

    Logged columns: step, train_loss, train_acc, val_loss, val_acc, weight_norm (all
    parameters), embedding_norm (``||E||_F``), all measured on the parameters *after* ``step``
    optimizer steps (step 0 = initialisation).  Stops at ``cfg.max_steps``, or (if
    ``cfg.stop_hold``) at the first logged step where val_acc has been >= ``THRESHOLD`` at every
    logged step of the last ``stop_hold`` steps.  Checkpoints (at ``checkpoint_steps`` and, if
    any are asked for, the final step) hold ``{"embedding": E}``. With ``snapshot_every``, the
    result's ``snapshots`` hold every parameter at the logged steps that are multiples of it and
    at the last step. With minibatches, the logged training loss and accuracy are measured on
    every training pair, like the validation metrics.
    """
    start = time.perf_counter()
    data = data or split(cfg.p, cfg.train_fraction, cfg.seed)
    params = init_params(cfg)
    opt = mlp.Adam(lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay)
    state = opt.init(params)
    names = (
        "step",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "weight_norm",
        "embedding_norm",
    )
    rows: list[tuple[float, ...]] = []
    checkpoints: dict[int, dict[str, np.ndarray]] = {}
    held_since: int | None = None  # first step of the current run of logged val_acc >= THRESHOLD
    stopped: str | None = None
    step = 0
    snapshots: dict[int, Params] = {}
    stream = None if cfg.batch_size is None else batches(len(data.y_train), cfg.batch_size,
                                                         cfg.seed)
    while True:
        if stream is None:
            train_loss, grads, logits = _loss_grads_logits(
                params, data.a_train, data.b_train, data.y_train
            )
        else:
            batch = next(stream)
            _, grads, _ = _loss_grads_logits(
                params, data.a_train[batch], data.b_train[batch], data.y_train[batch]
            )
        if is_logged(step) or step == cfg.max_steps:
            if stream is None:
                train_acc = mlp.accuracy(logits, data.y_train)
            else:
                train_loss, train_acc = evaluate(params, data.a_train, data.b_train, data.y_train)
            val_loss, val_acc = evaluate(params, data.a_val, data.b_val, data.y_val)
            rows.append(
                (
                    step,
                    train_loss,
                    train_acc,
                    val_loss,
                    val_acc,
                    param_norm(params),
                    float(np.linalg.norm(params[0]["E"])),
                )
            )
            held_since = (
                (step if held_since is None else held_since) if val_acc >= THRESHOLD else None
            )
            if (
                cfg.stop_hold is not None
                and held_since is not None
                and step - held_since >= cfg.stop_hold
            ):
                stopped = f"val_acc>={THRESHOLD} held {step - held_since} steps"
        done = step == cfg.max_steps or stopped is not None
        if step in checkpoint_steps or (done and checkpoint_steps):
            checkpoints[step] = {"embedding": params[0]["E"].copy()}
        if snapshot_every and is_logged(step) and (step % snapshot_every == 0 or done):
            snapshots[step] = params  # never modified in place: each step makes new arrays
        if done:
            break
        params, state = opt.step(params, grads, state)
        step += 1
    metrics = {
        name: np.array([row[i] for row in rows], dtype=float) for i, name in enumerate(names)
    }
    reason = stopped or f"max_steps={cfg.max_steps}"
    return TrainResult(metrics, checkpoints, params, step, reason, time.perf_counter() - start,
                       snapshots if snapshot_every else None)


def first_step(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """First logged step whose value is >= ``threshold`` (None if never)."""
    hit = np.flatnonzero(values >= threshold)
    return int(steps[hit[0]]) if hit.size else None
