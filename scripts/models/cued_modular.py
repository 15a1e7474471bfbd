"""Modular addition with a spurious cue: ``(a + b) mod p`` from three tokens ``a, b, c``, where
the cue ``c`` equals the answer for most training pairs. The simplicity-bias experiment.

Task
----
* The pairs and their training/held-out split are :func:`models.modular.split` (a seeded random
  ``train_fraction`` of all ``p * p`` pairs is trained on).
* A third token, the cue ``c``, comes with every pair. In training it is drawn afresh at every
  step (:func:`draw_cues`): for a random ``round(rho * n_train)`` of the pairs ``c = y = (a + b)
  mod p`` (cue-aligned), for the others ``c`` is a random *other* label, uniform over the
  ``p - 1`` wrong ones (cue-conflicting); Nam et al. 2020 (arXiv 2007.02561) call these the
  bias-aligned and bias-conflicting samples. Drawn afresh, so that the cue is a feature that is
  right ``rho`` of the time, not a fixed random tag that tells the pairs apart: with a fixed
  wrong cue per pair the network memorizes the exceptions with the tag's help and never learns
  the rule (see scripts/recorders/simplicity_bias.py for the runs tried).
* Every held-out pair is evaluated twice: with ``c = y`` (aligned) and with a fixed seeded
  other label (conflicting: the cue broken, pointing to a wrong answer); the training pairs are
  evaluated with a fixed wrong cue of their own too (their answers memorized beyond the cue).

The cue is a one-table lookup (label = ``c``); the rule needs both operands (the Fourier
circuit of the grokking chapter). Reading the cue gets a fraction ``rho`` of the training pairs
right; only the rule, or memorizing each pair's answer, gets all of them right.

Model (float64, hand-written backprop)
--------------------------------------
* The operand embedding ``E`` (``p x d``, shared by ``a`` and ``b``) as in
  :mod:`models.modular`, and a cue embedding ``C`` (``p x d``) of its own; the MLP's input is
  ``x = [E[a], E[b], C[c]]`` (``3d`` entries), then ReLU hidden layer(s) and ``p`` logits,
  softmax cross-entropy (mean over the batch).
* Parameters ``[{"C": C, "E": E}, layer_1, ..., layer_out]``, a :data:`models.mlp.Params`
  list, so :class:`models.mlp.Adam` (AdamW with ``weight_decay > 0``, decay on every
  parameter) trains it unchanged.
* The first layer is computed from three ``p x h`` tables, as :func:`models.modular.forward`
  does with two; the layers after it, the loss and the optimizer are :mod:`models.mlp`.

Initialisation: ``E, C ~ N(0, 1)``, MLP weights He (hidden) / Xavier (output), biases zero,
everything times ``init_scale``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models import mlp, modular
from models.mlp import Params

THRESHOLD = modular.THRESHOLD  # held-out conflicting accuracy that counts as "generalised"


@dataclass(frozen=True)
class CuedConfig:
    """Every parameter of one training run."""

    p: int = 59
    d: int = 64  # embedding width per token
    hidden: tuple[int, ...] = (128,)
    train_fraction: float = 0.4
    rho: float = 0.9  # share of the training pairs whose cue is the answer
    lr: float = 3e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    init_scale: float = 1.0
    seed: int = 0
    max_steps: int = 10_000
    stop_hold: int | None = None  # stop once val_acc_conflicting >= THRESHOLD this many steps

    def __post_init__(self) -> None:
        if not self.hidden:
            raise ValueError("the MLP needs at least one hidden layer")
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"rho must be in [0, 1], got {self.rho}")


@dataclass(frozen=True)
class CuedSplit:
    """The training and held-out pairs, each with a fixed wrong cue for evaluation (the cues
    trained on are drawn afresh every step, :func:`draw_cues`)."""

    a_train: np.ndarray
    b_train: np.ndarray
    y_train: np.ndarray
    c_train: np.ndarray  # a wrong cue of each training pair (never y_train)
    a_val: np.ndarray
    b_val: np.ndarray
    y_val: np.ndarray
    c_val: np.ndarray  # a wrong cue of each held-out pair (never y_val): the cue broken


@dataclass
class TrainResult:
    """Logged metrics (columns in order, ``step`` first), final parameters, how training ended."""

    metrics: dict[str, np.ndarray]
    params: Params
    steps: int
    stopped_reason: str
    wall_time: float = 0.0


# ------------------------------------------------------------------------------- data


def other_label(y: np.ndarray, p: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random label other than ``y`` for each entry: ``(y + k) mod p``,
    ``k`` uniform in ``1 .. p - 1``."""
    return (y + rng.integers(1, p, size=len(y))) % p


def split(p: int, train_fraction: float, seed: int) -> CuedSplit:
    """The pairs of :func:`models.modular.split`, and a seeded wrong cue for each of them."""
    pairs = modular.split(p, train_fraction, seed)
    rng = np.random.default_rng([seed, 3])
    return CuedSplit(pairs.a_train, pairs.b_train, pairs.y_train,
                     other_label(pairs.y_train, p, rng), pairs.a_val, pairs.b_val, pairs.y_val,
                     other_label(pairs.y_val, p, rng))


def draw_cues(y: np.ndarray, rho: float, p: int, rng: np.random.Generator) -> np.ndarray:
    """One step's cues for the training labels ``y``: a random ``round(rho * len(y))`` of the
    pairs get their answer (cue-aligned), the others a random other label (cue-conflicting)."""
    n = len(y)
    aligned = np.zeros(n, dtype=bool)
    aligned[rng.permutation(n)[: round(rho * n)]] = True
    return np.where(aligned, y, other_label(y, p, rng))


# ------------------------------------------------------------------------------ model


def init_params(cfg: CuedConfig) -> Params:
    """Seeded initialisation (see the module docstring), scaled by ``cfg.init_scale``."""
    rng = np.random.default_rng([cfg.seed, 1])
    embedding = rng.normal(0.0, 1.0, size=(cfg.p, cfg.d))
    layers = mlp.init_params([3 * cfg.d, *cfg.hidden, cfg.p], rng, activation="relu")
    cue = rng.normal(0.0, 1.0, size=(cfg.p, cfg.d))
    return mlp.map_params(lambda w: cfg.init_scale * w, [{"C": cue, "E": embedding}, *layers])


@dataclass(frozen=True)
class Cache:
    """What backward needs: the tokens, the first layer's pre-activation, the rest's cache."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    z1: np.ndarray
    rest: mlp.Cache


def forward(params: Params, a: np.ndarray, b: np.ndarray, c: np.ndarray
            ) -> tuple[np.ndarray, Cache]:
    """Logits ``(n, p)`` for the inputs ``(a_i, b_i, c_i)`` and the backward cache.

    ``z1 = [E[a], E[b], C[c]] @ W1 + b1 = (E @ W1_a)[a] + (E @ W1_b)[b] + (C @ W1_c)[c] + b1``
    with ``W1 = [W1_a; W1_b; W1_c]``; the layers after it are :func:`models.mlp.forward`.
    """
    E, C = params[0]["E"], params[0]["C"]
    W1, b1 = params[1]["W"], params[1]["b"]
    d = E.shape[1]
    z1 = (E @ W1[:d])[a] + (E @ W1[d:2 * d])[b] + (C @ W1[2 * d:])[c] + b1
    logits, rest = mlp.forward(params[2:], mlp.activate(z1, "relu"), "relu")
    return logits, Cache(a, b, c, z1, rest)


def backward(params: Params, cache: Cache, dlogits: np.ndarray) -> Params:
    """Gradients of every parameter given ``dlogits = dL/d(logits)``.

    With ``S_t = onehot(t)^T dz1`` for each token ``t`` in ``a, b, c`` (``p x h``, the rows of
    ``dz1`` summed per token value, :func:`models.modular.segment_sum`):
    ``dW1 = [E^T S_a; E^T S_b; C^T S_c]``, ``dE = S_a W1_a^T + S_b W1_b^T``,
    ``dC = S_c W1_c^T``.
    """
    E, C, W1 = params[0]["E"], params[0]["C"], params[1]["W"]
    p, d = E.shape
    rest = params[2:]
    deltas = mlp.layer_deltas(rest, cache.rest, dlogits)
    grads = [{"W": h.T @ dz, "b": dz.sum(axis=0)}
             for h, dz in zip(cache.rest.inputs, deltas, strict=True)]
    dh1 = deltas[0] @ rest[0]["W"].T
    dz1 = dh1 * mlp.activate_grad(cache.z1, cache.rest.inputs[0], "relu")
    S_a, S_b, S_c = (modular.segment_sum(dz1, t, p) for t in (cache.a, cache.b, cache.c))
    dW1 = np.concatenate([E.T @ S_a, E.T @ S_b, C.T @ S_c], axis=0)
    dE = S_a @ W1[:d].T + S_b @ W1[d:2 * d].T
    dC = S_c @ W1[2 * d:].T
    return [{"C": dC, "E": dE}, {"W": dW1, "b": dz1.sum(axis=0)}, *grads]


def loss_and_grads(params: Params, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                   y: np.ndarray) -> tuple[float, Params]:
    """Mean softmax cross-entropy and its gradient with respect to every parameter."""
    logits, cache = forward(params, a, b, c)
    loss, dlogits = mlp.softmax_cross_entropy(logits, y)
    return loss, backward(params, cache, dlogits)


# -------------------------------------------------------------------------- measures


#: The logged columns, in order (see :func:`measure`).
COLUMNS = ("step", "train_loss", "train_acc", "train_acc_conflicting", "val_acc_aligned",
           "val_acc_conflicting", "val_follows_cue", "val_cue_margin", "weight_norm",
           "cue_norm")


def measure(params: Params, data: CuedSplit) -> dict[str, float]:
    """What is logged at one step besides the step and the training loss and accuracy (those are
    on the step's own cues, see :func:`train`):

    * train_acc_conflicting: training pairs, each with its fixed wrong cue, predicted as
      ``(a + b) mod p`` (their answers memorized beyond the cue, or the rule learned);
    * val_acc_aligned: held-out pairs with the answer as their cue;
    * val_acc_conflicting: held-out pairs with their fixed wrong cue, predicted as
      ``(a + b) mod p`` (they follow the rule); val_follows_cue: predicted as the cue; the rest
      (neither) is ``1 - val_acc_conflicting - val_follows_cue``;
    * val_cue_margin: on those pairs, the mean of ``logit[c] - logit[y]`` (positive: the cue's
      answer is preferred to the rule's);
    * weight_norm: all parameters; cue_norm: ``||C||_F``.
    """
    train_conflict, _ = forward(params, data.a_train, data.b_train, data.c_train)
    aligned, _ = forward(params, data.a_val, data.b_val, data.y_val)
    conflict, _ = forward(params, data.a_val, data.b_val, data.c_val)
    guess = np.argmax(conflict, axis=1)
    rows = np.arange(len(data.y_val))
    return {
        "train_acc_conflicting": mlp.accuracy(train_conflict, data.y_train),
        "val_acc_aligned": mlp.accuracy(aligned, data.y_val),
        "val_acc_conflicting": float(np.mean(guess == data.y_val)),
        "val_follows_cue": float(np.mean(guess == data.c_val)),
        "val_cue_margin": float(np.mean(conflict[rows, data.c_val] - conflict[rows, data.y_val])),
        "weight_norm": float(np.linalg.norm(mlp.flatten(params))),
        "cue_norm": float(np.linalg.norm(params[0]["C"])),
    }


# ---------------------------------------------------------------------------- training


def train(cfg: CuedConfig, data: CuedSplit | None = None) -> TrainResult:
    """Full-batch AdamW on the training pairs, their cues drawn afresh every step
    (:func:`draw_cues`, from the generator seeded ``[cfg.seed, 4]``); log by
    :func:`models.modular.is_logged` the columns :data:`COLUMNS`, measured on the parameters
    after ``step`` optimizer steps (0 = initialisation): train_loss and train_acc on the cues
    that step draws, the rest by :func:`measure`.

    Stops at ``cfg.max_steps``, or (with ``cfg.stop_hold``) at the first logged step at which
    val_acc_conflicting has been >= :data:`THRESHOLD` at every logged step of the last
    ``stop_hold`` steps (the stop rule of the grokking sweeps, on the cue-conflicting pairs).
    """
    start = time.perf_counter()
    data = data or split(cfg.p, cfg.train_fraction, cfg.seed)
    params = init_params(cfg)
    opt = mlp.Adam(lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay)
    state = opt.init(params)
    cues = np.random.default_rng([cfg.seed, 4])
    rows: list[dict[str, float]] = []
    held_since: int | None = None
    stopped: str | None = None
    step = 0
    while True:
        c = draw_cues(data.y_train, cfg.rho, cfg.p, cues)
        logits, cache = forward(params, data.a_train, data.b_train, c)
        loss, dlogits = mlp.softmax_cross_entropy(logits, data.y_train)
        if modular.is_logged(step) or step == cfg.max_steps:
            row = {"step": float(step), "train_loss": loss,
                   "train_acc": mlp.accuracy(logits, data.y_train), **measure(params, data)}
            rows.append(row)
            if row["val_acc_conflicting"] >= THRESHOLD:
                held_since = step if held_since is None else held_since
            else:
                held_since = None
            if (cfg.stop_hold is not None and held_since is not None
                    and step - held_since >= cfg.stop_hold):
                stopped = f"val_acc_conflicting>={THRESHOLD} held {step - held_since} steps"
        if step == cfg.max_steps or stopped is not None:
            break
        params, state = opt.step(params, backward(params, cache, dlogits), state)
        step += 1
    metrics = {name: np.array([row[name] for row in rows]) for name in COLUMNS}
    return TrainResult(metrics, params, step, stopped or f"max_steps={cfg.max_steps}",
                       time.perf_counter() - start)
