"""The PI controller that steers the gating threshold towards a target activation rate.

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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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
