"""Pre-training the tiny character-level language model (:mod:`models.language_model`) on the
shipped corpus (:mod:`numerics.pretraining.corpus`): the data, the training loop and the
evaluation on held-out text.

Data.  The vocabulary is every character of the training split (65 for Tiny Shakespeare; the
held-out text uses no other).  A training batch is ``batch_size`` windows of ``context + 1``
characters starting at uniformly random positions of the training split (seeded, drawn with
replacement): the model reads the first ``context`` and predicts the next character at every
position.  The held-out loss is the mean next-character cross-entropy over ``eval_windows``
fixed windows spread evenly over the held-out split (no randomness), measured every
``eval_every`` updates and after the last.

Training.  One optimizer of :mod:`models.optimizers` (``"sgd"``, ``"momentum"``, ``"adam"``,
all three with ``weight_decay`` as an L2 penalty, or ``"adamw"`` with it decoupled) driven by
the warmup-cosine schedule :func:`models.optimizers.warmup_cosine` peaking at ``lr``; no
gradient clipping, so the optimizers' update rules are compared as they are.  A run whose
training loss becomes non-finite stops there (``diverged_at`` says when).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache

import numpy as np

from models import language_model as lm
from models import optimizers
from models.mlp import Params
from numerics.pretraining import corpus

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
#: Metric columns of a run, in order (see :func:`train`).
COLUMNS = ("step", "tokens", "lr", "train_loss", "grad_norm", "val_loss")


# ------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Vocabulary:
    """Characters in code-point order; a character's id is its position."""

    chars: str

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        table = np.full(128, -1, dtype=np.int64)
        table[np.frombuffer(self.chars.encode("ascii"), np.uint8)] = np.arange(len(self.chars))
        ids = table[np.frombuffer(text.encode("ascii"), np.uint8)]
        if (ids < 0).any():
            unknown = sorted({ch for ch in text if ch not in self.chars})
            raise ValueError(f"characters outside the vocabulary: {unknown!r}")
        return ids

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def vocabulary(text: str) -> Vocabulary:
    return Vocabulary("".join(sorted(set(text))))


@dataclass(frozen=True)
class Data:
    vocab: Vocabulary
    train: np.ndarray       # ids of the training split
    held_out: np.ndarray    # ids of the held-out split


@cache
def data() -> Data:
    """The shipped corpus as character ids, the vocabulary from its training split."""
    text = corpus.load()
    vocab = vocabulary(text.train)
    return Data(vocab, vocab.encode(text.train), vocab.encode(text.held_out))


def unigram_entropy(ids: np.ndarray, size: int) -> float:
    """Entropy (nats) of the character frequencies of ``ids``: the loss of the best model that
    ignores the context, on the text it was counted on."""
    counts = np.bincount(ids, minlength=size)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def unigram_cross_entropy(train: np.ndarray, held_out: np.ndarray, size: int) -> float:
    """Mean loss (nats) on ``held_out`` of predicting every character by its frequency in
    ``train``, whatever came before: the held-out loss of a model without context."""
    counts = np.bincount(train, minlength=size)
    logp = np.full(size, -np.inf)
    seen = counts > 0
    logp[seen] = np.log(counts[seen] / counts.sum())
    return float(-logp[held_out].mean())


def windows(ids: np.ndarray, starts: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``ids[s : s + context]`` and targets ``ids[s + 1 : s + context + 1]`` per start."""
    index = np.asarray(starts)[:, None] + np.arange(context)
    return ids[index], ids[index + 1]


def evaluation_starts(length: int, n: int, context: int) -> np.ndarray:
    """``n`` window starts spread evenly over a text of ``length`` ids (first at 0)."""
    last = length - context - 1
    if n < 1 or last < 0:
        raise ValueError(f"cannot place {n} windows of {context + 1} in {length} ids")
    return np.linspace(0, last, n).round().astype(np.int64)


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of one training run."""

    optimizer: str = "adamw"
    lr: float = 3e-3                # peak learning rate of the schedule
    steps: int = 600
    warmup: int = 60
    final_lr_ratio: float = 0.1
    batch_size: int = 32
    context: int = 64
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_mlp: int = 256
    init_std: float = 0.02
    momentum: float = 0.9           # "momentum" only
    beta1: float = 0.9              # "adam", "adamw"
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1       # "adamw": decoupled; the others: as an L2 penalty
    eval_every: int = 25
    eval_windows: int = 256
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")

    def model(self, vocab_size: int) -> lm.ModelConfig:
        return lm.ModelConfig(vocab_size=vocab_size, context=self.context, d_model=self.d_model,
                              n_heads=self.n_heads, n_layers=self.n_layers, d_mlp=self.d_mlp,
                              init_std=self.init_std, dtype=self.dtype)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context


def make_optimizer(cfg: RunConfig):
    """The run's optimizer (its learning rate comes from the schedule at every step)."""
    if cfg.optimizer == "sgd":
        return optimizers.SGD(l2=cfg.weight_decay)
    if cfg.optimizer == "momentum":
        return optimizers.SGD(momentum=cfg.momentum, l2=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return optimizers.Adam(cfg.beta1, cfg.beta2, cfg.eps, l2=cfg.weight_decay)
    return optimizers.Adam(cfg.beta1, cfg.beta2, cfg.eps, weight_decay=cfg.weight_decay)


def grad_norm(grads: Params) -> float:
    """Global L2 norm of all gradients (float64 sum)."""
    return math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64)))
                         for layer in grads for g in layer.values()))


@dataclass
class TrainResult:
    metrics: dict[str, np.ndarray]     # COLUMNS, float64, NaN where not logged
    params: Params
    steps: int                          # updates done
    diverged_at: int | None             # first update whose loss (training batch before it
                                        # or held-out after it) was not finite
    n_params: int
    wall_time: float


def train(cfg: RunConfig, max_steps: int | None = None, source: Data | None = None
          ) -> TrainResult:
    """Train one run for ``cfg.steps`` updates (or only the first ``max_steps`` of them: the
    same run, cut short).

    Row 0 is the initialisation (its held-out loss); row ``s`` (1..steps) holds the learning
    rate of update ``s``, the training loss of its batch and the norm of its gradient (both
    before the update), the tokens seen after it, and the held-out loss after it where
    measured (every ``eval_every`` updates and after update ``cfg.steps``, so a run cut short
    logs exactly the first rows of the full run).
    """
    start = time.perf_counter()
    source = source or data()
    model = cfg.model(len(source.vocab))
    params = lm.init_params(model, [cfg.seed, 0])
    batches = np.random.default_rng([cfg.seed, 1])
    high = len(source.train) - cfg.context - 1
    eval_x, eval_y = windows(source.held_out,
                             evaluation_starts(len(source.held_out), cfg.eval_windows,
                                               cfg.context), cfg.context)
    optimizer = make_optimizer(cfg)
    state = optimizer.init(params)
    last = cfg.steps if max_steps is None else min(max_steps, cfg.steps)
    rows = np.full((last + 1, len(COLUMNS)), np.nan)
    rows[:, 0] = np.arange(last + 1)
    rows[0, 1] = 0
    rows[0, 5] = lm.mean_loss(params, eval_x, eval_y, cfg.n_heads)
    diverged = None
    for step in range(1, last + 1):
        lr = optimizers.warmup_cosine(step, cfg.lr, cfg.warmup, cfg.steps, cfg.final_lr_ratio)
        x, y = windows(source.train, batches.integers(0, high + 1, cfg.batch_size), cfg.context)
        rows[step, 2] = lr
        finite = False
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run: checked here
            loss, grads = lm.loss_and_grads(params, x, y, cfg.n_heads)
            if math.isfinite(loss):
                rows[step, 3] = loss
                rows[step, 4] = grad_norm(grads)
                params, state = optimizer.step(params, grads, state, lr)
                rows[step, 1] = step * cfg.tokens_per_step
                finite = True
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    rows[step, 5] = lm.mean_loss(params, eval_x, eval_y, cfg.n_heads)
                    finite = math.isfinite(rows[step, 5])
        if not finite:
            diverged = step
            rows = rows[: step + 1]
            rows[step, 3:] = np.nan
            break
    metrics = {name: rows[:, j].copy() for j, name in enumerate(COLUMNS)}
    return TrainResult(metrics, params, int(rows[-1, 0]) if diverged is None else diverged - 1,
                       diverged, lm.num_params(params), time.perf_counter() - start)
