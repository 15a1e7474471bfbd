"""Measurements on grokking runs: when training and validation accuracy cross thresholds, the
phases of training with a fitted sigmoid, the window where the generalization gap is wide, the
peak of a logged quantity after a step, and the Fourier structure of learned embeddings.

Everything works on plain arrays (any metrics.csv's columns), not on one particular run.

Phases, after Nanda et al. 2023 (Progress measures for grokking via mechanistic
interpretability, arXiv 2301.05217), located here from accuracy alone:
- memorization: from the start until training accuracy first reaches `train_threshold` (S1);
- circuit formation: from S1 until validation accuracy starts its rise, taken as the step where
  the fitted sigmoid reaches 10 % of its rise;
- cleanup: the rise itself, until validation accuracy reaches `val_threshold` and holds it
  (S2);
after which the model has generalized. S2 is the first logged step from which validation
accuracy stays at least `val_threshold` for `hold` steps (the recorder's stop rule: a run that
touches the threshold once and falls back has not generalized). The sigmoid is fitted to
validation accuracy against log10(step), so its width is the transition's sharpness in decades
of steps; its 90 % point (`rise_end`) is kept as a measurement of where the rise flattens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOG_10_TO_90 = 2 * np.log(9)  # a logistic rises from 10 % to 90 % over 2 ln 9 widths
#: The project's criterion: a run has memorized (S1) once training accuracy reaches this...
TRAIN_THRESHOLD = 0.99
#: ...and generalized (S2) once validation accuracy reaches this...
VAL_THRESHOLD = 0.95
#: ...and stays there for this many steps (the sweep recorder's `stop_hold`).
VAL_HOLD = 500


def first_step_at_least(steps, values, threshold: float):
    """First step whose value is >= threshold (NaN entries skipped), or None."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    hit = np.flatnonzero(np.nan_to_num(values, nan=-np.inf) >= threshold)
    return None if len(hit) == 0 else float(steps[hit[0]])


def first_held_step(steps, values, threshold: float, hold: float):
    """First logged step s whose value is >= threshold at every logged step from s to s + hold,
    with s + hold no later than the last logged step; None when there is none (NaN entries are
    not logged values and are skipped). hold = 0 gives `first_step_at_least`."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    logged = np.isfinite(values)
    steps, values = steps[logged], values[logged]
    if len(steps) == 0:
        return None
    low = np.concatenate([[0], np.cumsum(values < threshold)])  # low values before each index
    ends = np.searchsorted(steps, steps + hold, side="right")   # one past the window's end
    held = ((values >= threshold) & (steps + hold <= steps[-1])
            & (low[ends] - low[np.arange(len(steps))] == 0))
    hit = np.flatnonzero(held)
    return None if len(hit) == 0 else float(steps[hit[0]])


@dataclass(frozen=True)
class Sigmoid:
    """y = low + (high - low) / (1 + exp(-(x - center) / width)), x = log10(step)."""

    low: float
    high: float
    center: float
    width: float
    rmse: float

    def __call__(self, x):
        return self.low + (self.high - self.low) / (1 + np.exp(-(np.asarray(x) - self.center)
                                                             / self.width))

    def step_at(self, fraction: float) -> float:
        """Step where the curve has completed `fraction` of its rise."""
        return float(10 ** (self.center + self.width * np.log(fraction / (1 - fraction))))

    @property
    def rise_decades(self) -> float:
        """Width of the 10 %-90 % rise in decades of steps."""
        return float(self.width * LOG_10_TO_90)


_CHUNK = 8  # centers per block of the grid: small blocks stay in the CPU cache, 3x faster


def _fit_grid(x, y, centers, widths):
    """For every (center, width) of the grid: the best low and high (linear least squares, the
    2 x 2 normal equations solved exactly) and the root mean square residual; (rmse, low, high),
    each of shape (len(centers), len(widths))."""
    blocks = [_fit_block(x, y, centers[i:i + _CHUNK], widths)
              for i in range(0, len(centers), _CHUNK)]
    return tuple(np.concatenate(parts) for parts in zip(*blocks, strict=True))


def _fit_block(x, y, centers, widths):
    s = 1 / (1 + np.exp(-(x[None, None, :] - centers[:, None, None]) / widths[None, :, None]))
    r = 1 - s
    a, b, c = np.sum(r * r, axis=2), np.sum(r * s, axis=2), np.sum(s * s, axis=2)
    u, v = r @ y, s @ y
    det = a * c - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = (c * u - b * v) / det, (a * v - b * u) / det
        residual = y - low[..., None] * r - high[..., None] * s
        rmse = np.sqrt(np.mean(residual**2, axis=2))
    return np.where(det > 0, rmse, np.inf), low, high


def fit_sigmoid(x, y, refinements: int = 3) -> Sigmoid:
    """Least-squares logistic fit: grid search over center and width (low and high solved
    exactly for each), refined on ever finer grids around the best. Deterministic, no SciPy."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 4:
        raise ValueError("need at least 4 points to fit a sigmoid")
    span = x.max() - x.min()
    centers = np.linspace(x.min(), x.max(), 121)
    log_widths = np.linspace(np.log(span / 500), np.log(span), 61)
    best = None
    for _ in range(refinements + 1):
        rmse, low, high = _fit_grid(x, y, centers, np.exp(log_widths))
        i, j = np.unravel_index(np.argmin(rmse), rmse.shape)  # the first of equal minima
        if best is None or rmse[i, j] < best[0]:
            best = (float(rmse[i, j]), centers[i], log_widths[j], low[i, j], high[i, j])
        _, c, lw, _, _ = best
        dc, dlw = centers[1] - centers[0], log_widths[1] - log_widths[0]
        centers = np.linspace(c - 2 * dc, c + 2 * dc, 21)
        log_widths = np.linspace(lw - 2 * dlw, lw + 2 * dlw, 21)
    rmse, c, lw, low, high = best
    return Sigmoid(float(low), float(high), float(c), float(np.exp(lw)), rmse)


@dataclass(frozen=True)
class Phases:
    s1: float                     # training accuracy first >= train_threshold
    s2: float | None              # validation accuracy >= val_threshold, held (first step)
    sigmoid: Sigmoid              # fitted to validation accuracy against log10(step)
    rise_start: float             # 10 % of the fitted rise
    rise_end: float               # 90 % of the fitted rise

    @property
    def delay_ratio(self) -> float | None:
        return None if self.s2 is None else self.s2 / self.s1

    def spans(self, last_step: float) -> dict[str, tuple[float, float]]:
        """{phase: (start, end)} in steps of a run that generalized: memorization until S1,
        circuit formation until the rise starts, cleanup until S2, generalized from S2 to
        `last_step` (a rise start the fit puts outside [S1, S2] is clipped to it)."""
        if self.s2 is None:
            raise ValueError("a run that did not generalize has no cleanup phase")
        rise = min(max(self.s1, self.rise_start), self.s2)
        return {"memorization": (0.0, self.s1),
                "circuit formation": (self.s1, rise),
                "cleanup": (rise, self.s2),
                "generalized": (self.s2, max(self.s2, last_step))}


def detect_phases(steps, train_acc, val_acc, train_threshold: float = TRAIN_THRESHOLD,
                  val_threshold: float = VAL_THRESHOLD, hold: float = VAL_HOLD) -> Phases:
    """Phases of a grokking run from its logged accuracies (see the module docstring)."""
    steps = np.asarray(steps, float)
    s1 = first_step_at_least(steps, train_acc, train_threshold)
    if s1 is None:
        raise ValueError(f"training accuracy never reaches {train_threshold}")
    s2 = first_held_step(steps, val_acc, val_threshold, hold)
    val = np.asarray(val_acc, float)
    positive = (steps > 0) & np.isfinite(val)
    sigmoid = fit_sigmoid(np.log10(steps[positive]), val[positive])
    return Phases(s1, s2, sigmoid, sigmoid.step_at(0.1), sigmoid.step_at(0.9))


def gap_window(steps, gap, threshold: float) -> tuple[float, float] | None:
    """(first, last) step at which `gap` (e.g. training minus validation accuracy) is at least
    `threshold`, or None when it never is. Steps in between may dip below the threshold."""
    steps, gap = np.asarray(steps, float), np.asarray(gap, float)
    wide = np.flatnonzero(gap >= threshold)
    return None if len(wide) == 0 else (float(steps[wide[0]]), float(steps[wide[-1]]))


@dataclass(frozen=True)
class Spike:
    """A jump of a logged loss from a floor: at `step` it is at least `factor` times `floor`,
    its value at the logged step before; `peak` is the largest value from `step` on, over
    `window` logged steps."""
    step: float
    floor: float
    peak: float

    @property
    def decades(self) -> float:
        return float(np.log10(self.peak / self.floor))


def loss_spikes(steps, loss, below: float, factor: float = 100.0, window: int = 3
                ) -> list[Spike]:
    """Every logged step at which `loss` is at least `factor` times its value at the logged step
    before, that value being under `below`; a jump inside the window of the one before is part
    of the same spike."""
    steps, loss = np.asarray(steps, float), np.asarray(loss, float)
    spikes, until = [], -1
    for i in range(1, len(loss)):
        if i > until and loss[i - 1] < below and loss[i] >= factor * loss[i - 1]:
            spikes.append(Spike(float(steps[i]), float(loss[i - 1]),
                                float(np.nanmax(loss[i:i + window]))))
            until = i + window - 1
    return spikes


def longest_hold(steps, values, threshold: float) -> float:
    """The most steps `values` stayed at least `threshold` without a logged value below it:
    last minus first step of the longest stretch of consecutive logged values >= threshold
    (0 for a single one; -1 when none reaches it). A run holds the threshold for `hold` steps
    (`first_held_step`) exactly when this is at least `hold`."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    keep = np.isfinite(values)
    steps, above = steps[keep], values[keep] >= threshold
    best, start = -1.0, None
    for step, ok in zip(steps, above, strict=True):
        start = (step if start is None else start) if ok else None
        if start is not None:
            best = max(best, float(step - start))
    return best


def peak_after(steps, values, start: float) -> tuple[float, float]:
    """(step, value) of the largest value logged after step `start` (the first, on ties)."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    after = np.flatnonzero(steps > start)
    if len(after) == 0:
        raise ValueError(f"nothing logged after step {start}")
    index = after[int(np.argmax(values[after]))]
    return float(steps[index]), float(values[index])


# ---- embeddings -----------------------------------------------------------------------------
def fourier_power(embedding) -> np.ndarray:
    """Power of each frequency k = 0 .. p // 2 of a (p x d) embedding along the token axis,
    summed over dimensions, with k and p - k combined; normalised to sum 1 without k = 0."""
    spectrum = np.abs(np.fft.rfft(np.asarray(embedding, float), axis=0)) ** 2
    power = spectrum.sum(axis=1)
    p = len(embedding)
    power[1:(p + 1) // 2] *= 2  # rfft holds k and p - k once
    return power / power[1:].sum()


def key_frequencies(power, share: float = 0.8) -> np.ndarray:
    """The fewest frequencies (k >= 1) that together hold `share` of the non-constant power."""
    order = np.argsort(power[1:])[::-1] + 1
    cumulative = np.cumsum(power[order])
    return np.sort(order[: int(np.searchsorted(cumulative, share - 1e-12)) + 1])


def strongest_frequency(power) -> int:
    """The frequency k >= 1 with the most power in a `fourier_power` spectrum."""
    return int(np.argmax(np.asarray(power)[1:]) + 1)


def circle_order(p: int, k: int) -> np.ndarray:
    """Tokens 0 .. p-1 in the order of a * k mod p: neighbours on the circle that frequency k
    draws (each token once when k and p are coprime, as for a prime p)."""
    return np.argsort((k * np.arange(p)) % p)


def fourier_plane(embedding, k: int) -> tuple[np.ndarray, float]:
    """(p x 2 coordinates, share of the centred variance) of a (p x d) embedding projected on the
    plane of its frequency-k component: the real and imaginary parts of
    F_k = sum_a E_a exp(-2 pi i k a / p), orthonormalised. A network that represents token a
    by cos and sin of 2 pi k a / p (Nanda et al. 2023) puts its tokens on a circle here.

    These two directions are the top principal components of the embedding's frequency-k part;
    of the whole embedding too when frequency k dominates its power."""
    embedding = np.asarray(embedding, float)
    centred = embedding - embedding.mean(axis=0)
    p = len(embedding)
    phase = np.exp(-2j * np.pi * k * np.arange(p) / p)
    component = phase @ centred                       # F_k, a complex d-vector
    basis, _ = np.linalg.qr(np.column_stack([component.real, component.imag]))
    coords = centred @ basis
    signs = np.sign(coords[1]) * np.array([1.0, 1.0])  # orient so token 1 sits in y > 0
    coords[:, 1] *= signs[1] if signs[1] != 0 else 1.0
    share = float(np.sum(coords**2) / np.sum(centred**2))
    return coords, share


def ring_spread(coords) -> float:
    """How far points (n x 2) are from lying on a circle around their centroid: the standard
    deviation of their distances from it over the mean distance (0 for a perfect circle; about
    0.5 for a Gaussian cloud)."""
    coords = np.asarray(coords, float)
    radius = np.hypot(*(coords - coords.mean(axis=0)).T)
    return float(radius.std() / radius.mean())


# ---- several runs ---------------------------------------------------------------------------
def censored_median(values) -> float | None:
    """Median of values where None stands for "later than every value observed" (a run that did
    not reach the threshold within its budget); None when the median is such a run."""
    ordered = sorted(np.inf if v is None else float(v) for v in values)
    if not ordered:
        raise ValueError("no values")
    median = float(np.median(ordered))
    return None if not np.isfinite(median) else median

