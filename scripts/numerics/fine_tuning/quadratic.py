"""Gradient descent on a quadratic, where the theory is exact.

f(x) = 1/2 sum_i lambda_i x_i^2 with curvatures in [mu, L]. Gradient descent with step eta
multiplies coordinate i by (1 - eta lambda_i) each step, so it converges iff eta < 2/L, fastest at
eta* = 2/(L + mu) with rate (kappa - 1)/(kappa + 1), kappa = L/mu (e.g. Nesterov, Introductory
Lectures on Convex Optimization, 2004, Thm. 2.1.15; Boyd & Vandenberghe 2004, 9.3).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Quadratic:
    curvatures: tuple[float, ...]

    @property
    def L(self) -> float:
        return max(self.curvatures)

    @property
    def mu(self) -> float:
        return min(self.curvatures)

    @property
    def kappa(self) -> float:
        return self.L / self.mu

    def value(self, x: np.ndarray) -> np.ndarray:
        """f at each row of x (minimum f* = 0 at x = 0)."""
        return 0.5 * np.sum(np.asarray(self.curvatures) * np.asarray(x) ** 2, axis=-1)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.curvatures) * np.asarray(x)

    def optimal_step(self) -> float:
        return 2.0 / (self.L + self.mu)

    def stability_limit(self) -> float:
        return 2.0 / self.L

    def contraction(self, eta: float) -> float:
        """Worst-case factor by which |x_i| shrinks per step: max_i |1 - eta lambda_i|."""
        return float(np.max(np.abs(1 - eta * np.asarray(self.curvatures))))


def gradient_descent(problem: Quadratic, x0, eta: float, steps: int) -> np.ndarray:
    """Iterates x_0 .. x_steps of x <- x - eta grad f(x), shape (steps + 1, dim)."""
    xs = [np.asarray(x0, float)]
    for _ in range(steps):
        xs.append(xs[-1] - eta * problem.gradient(xs[-1]))
    return np.array(xs)
