"""The synthetic classification task of the sparse-training runs (seeded: :func:`make_task`).

``n_classes`` classes, each a mixture of ``clusters_per_class`` isotropic unit Gaussians in
``d_in`` dimensions with means ``~ N(0, mean_scale^2 I)``; imbalanced class priors
``p_k ∝ class_decay^k``; a fraction ``label_noise`` of the *training* labels is replaced by a
uniformly chosen *other* class.  Validation labels are the true (clean) classes, so validation
accuracy measures agreement with the generating class, and :attr:`Task.bayes_val_acc` (the
accuracy of the exact posterior of the generating model) is its ceiling.  "Hard" samples are
therefore of three kinds: near overlapping clusters, of rare classes, or mislabelled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    """Exact class posterior of the generating mixture (unit covariances, equal cluster
    weights)."""
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
