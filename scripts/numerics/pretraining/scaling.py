"""Scaling laws of language-model loss: Kaplan et al.'s three power laws and Hoffmann et al.'s
("Chinchilla") parametric fit, its isoFLOP curves and its compute-optimal frontier.

* Kaplan et al. 2020, arXiv 2001.08361, Eqs. (1.1)-(1.3): L(X) = (X_c / X)^alpha_X for
  X = N (non-embedding parameters), D (tokens), C_min (PF-days).
* Hoffmann et al. 2022, arXiv 2203.15556, Eq. (2) with the constants of Eq. (10):
  L(N, D) = E + A / N^alpha + B / D^beta; at a compute budget C = 6 N D the loss along
  N is an isoFLOP curve, and Eq. (4) gives its minimum in closed form:
  N_opt(C) = G (C/6)^a, D_opt(C) = (C/6)^b / G, G = (alpha A / (beta B))^(1/(alpha+beta)),
  a = beta / (alpha+beta), b = alpha / (alpha+beta).

Powers and logarithms go through numerics.portable (basic IEEE arithmetic only), so every
curve is the same to the last bit on every CPU. Constants: published.pretraining. Nothing
here imports matplotlib.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics import portable
from numerics.pretraining.compute import training_flops
from published import pretraining as published

PF_DAY_FLOPS: float = 1e15 * 86_400
"""One petaflop/s-day in FLOPs (Kaplan Sec. 1.3: "PF-days"; GPT-3 Table D.1 converts
3.64e3 PF-days to 3.14e23 FLOPs)."""


def _power(x, exponent: float) -> np.ndarray:
    """x ** exponent for positive x, elementwise and reproducible (numerics.portable)."""
    return portable.exp(exponent * portable.log(np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class PowerLaw:
    """L(x) = (x_c / x)^alpha: one of Kaplan's laws."""

    name: str        # "N", "D", "C_min"
    alpha: float
    scale: float     # x_c, in the unit of x

    def loss(self, x) -> np.ndarray:
        return _power(self.scale / np.asarray(x, dtype=np.float64), self.alpha)


KAPLAN_N = PowerLaw("N", published.KAPLAN_ALPHA_N, published.KAPLAN_N_C)
KAPLAN_D = PowerLaw("D", published.KAPLAN_ALPHA_D, published.KAPLAN_D_C)
KAPLAN_C = PowerLaw("C_min", published.KAPLAN_ALPHA_C_MIN, published.KAPLAN_C_C_MIN_PF_DAYS)
KAPLAN_LAWS: tuple[PowerLaw, ...] = (KAPLAN_N, KAPLAN_D, KAPLAN_C)


@dataclass(frozen=True)
class ParametricLoss:
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, Eq. 2)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def loss(self, n, d) -> np.ndarray:
        n = np.asarray(n, dtype=np.float64)
        d = np.asarray(d, dtype=np.float64)
        return self.E + self.A * _power(n, -self.alpha) + self.B * _power(d, -self.beta)

    def isoflop_loss(self, n, compute: float) -> np.ndarray:
        """The loss of N-parameter models trained on the D = C / (6N) tokens a budget of C
        FLOPs allows (an isoFLOP curve)."""
        n = np.asarray(n, dtype=np.float64)
        return self.loss(n, compute / (6.0 * n))

    @property
    def a(self) -> float:
        """N_opt grows as C^a, a = beta / (alpha + beta) (Eq. 4)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """D_opt grows as C^b, b = alpha / (alpha + beta) (Eq. 4)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """G = (alpha A / (beta B))^(1 / (alpha + beta)) (Eq. 4)."""
        ratio = self.alpha * self.A / (self.beta * self.B)
        return float(_power(ratio, 1.0 / (self.alpha + self.beta)))

    def optimal_params(self, compute) -> np.ndarray:
        """N_opt(C) = G (C/6)^a: the model size that minimises L at C = 6 N D."""
        return self.G * _power(np.asarray(compute, dtype=np.float64) / 6.0, self.a)

    def optimal_tokens(self, compute) -> np.ndarray:
        """D_opt(C) = (C/6)^b / G."""
        return _power(np.asarray(compute, dtype=np.float64) / 6.0, self.b) / self.G


CHINCHILLA = ParametricLoss(published.CHINCHILLA_E, published.CHINCHILLA_A,
                            published.CHINCHILLA_B, published.CHINCHILLA_ALPHA,
                            published.CHINCHILLA_BETA)
"""Approach 3 of Hoffmann et al. 2022 with the constants of their Eq. (10)."""


def log_grid(low: float, high: float, n: int) -> np.ndarray:
    """n points evenly spaced in log10 from low to high (end points exact)."""
    exponents = np.linspace(float(portable.log(np.array(low), 10)),
                            float(portable.log(np.array(high), 10)), n)
    grid = portable.power(10, exponents)
    grid[0], grid[-1] = low, high
    return grid


@dataclass(frozen=True)
class IsoflopCurve:
    """The parametric loss along N at one compute budget, and its minimum."""

    compute: float
    params: np.ndarray
    loss: np.ndarray
    optimal_params: float
    optimal_tokens: float
    optimal_loss: float


def isoflop_curve(fit: ParametricLoss, compute: float, params: np.ndarray,
                  loss_below: float | None = None) -> IsoflopCurve:
    """The isoFLOP curve of `fit` at `compute` over `params`, cut to the points whose loss is
    below `loss_below` (where given), with its closed-form minimum."""
    loss = fit.isoflop_loss(params, compute)
    keep = np.ones(len(params), bool) if loss_below is None else loss < loss_below
    n_opt = float(fit.optimal_params(compute))
    return IsoflopCurve(compute=compute, params=params[keep], loss=loss[keep],
                        optimal_params=n_opt, optimal_tokens=float(fit.optimal_tokens(compute)),
                        optimal_loss=float(fit.isoflop_loss(n_opt, compute)))


def allocation(fit: ParametricLoss, params: float, tokens: float) -> dict[str, float]:
    """Where a model trained on `tokens` stands against the frontier of `fit` at its own
    budget C = 6 N D: the compute, the optimal size and token count for it, the size ratio
    N / N_opt and the loss the fit gives the model and the optimal model."""
    compute = training_flops(params, tokens)
    n_opt = float(fit.optimal_params(compute))
    return {"compute": compute, "optimal_params": n_opt,
            "optimal_tokens": float(fit.optimal_tokens(compute)),
            "size_ratio": params / n_opt,
            "loss": float(fit.loss(params, tokens)),
            "optimal_loss": float(fit.isoflop_loss(n_opt, compute))}
