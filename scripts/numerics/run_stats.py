"""Statistics of logged training metrics, for the experiment dashboards: which metrics a run
logged, smoothing that respects gaps, downsampling for drawing (never for statistics), curves
ready to draw, the generalization gap and the improvement rate, per-epoch groups and their box
statistics, and summaries.

Logs are messy: evaluation rows leave training columns empty and the reverse, steps repeat
(train and eval rows at one step), metrics can be missing entirely. Everything here takes the
columns of records.Run (float arrays with NaN for "not logged") and never invents values.
Nothing here imports matplotlib.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from numerics import portable

#: Metrics where larger is better; every other metric is taken as smaller-is-better (losses).
HIGHER_IS_BETTER = ("acc", "accuracy", "f1", "bleu", "rouge", "exact_match", "score",
                    "tokens_per_second", "throughput")
#: Columns that describe the run's clock rather than its quality.
BOOKKEEPING = ("step", "epoch", "time_elapsed_seconds", "learning_rate", "lr")
#: Most points a line keeps for drawing (a few thousand: more are invisible at print size).
MAX_DRAWN_POINTS = 2000
#: Whiskers of a box reach the furthest value within this many interquartile ranges of the box
#: (Tukey's convention, matplotlib's default).
WHISKER_REACH = 1.5


def higher_is_better(name: str) -> bool:
    return any(key in name.lower() for key in HIGHER_IS_BETTER)


def is_language_model_loss(name: str, config: dict) -> bool:
    """Perplexity exp(loss) is meaningful only for a token-level language-model cross-entropy:
    the run's config must say so (task/objective naming language modelling or next-token
    prediction), and the metric must be a loss."""
    if "loss" not in name.lower():
        return False
    text = " ".join(str(config.get(key, "")) for key in ("task", "objective", "loss", "model",
                                                          "model_type", "type")).lower()
    return any(word in text for word in ("language model", "language-model", "causal",
                                         "next-token", "next token", "lm", "gpt"))


# ---- which metrics a run logged ----------------------------------------------------------------
def logged_metrics(run) -> tuple[list[str], list[str]]:
    """(metrics with values, metrics never logged), in column order, without `step`."""
    logged, never_logged = [], []
    for name in run.columns[1:]:
        (logged if np.any(~np.isnan(run.metrics[name])) else never_logged).append(name)
    return logged, never_logged


def first_logged(run, *candidates: str) -> str | None:
    """The first of `candidates` the run logged, or None."""
    logged, _ = logged_metrics(run)
    return next((name for name in candidates if name in logged), None)


def loss_columns(run) -> list[str]:
    """The logged metrics whose name says they are losses, in column order."""
    logged, _ = logged_metrics(run)
    return [name for name in logged if "loss" in name.lower()]


# ---- smoothing and downsampling ----------------------------------------------------------------
def debiased_ema(x: np.ndarray, alpha: float) -> np.ndarray:
    """m_t = (1 - alpha) m_{t-1} + alpha x_t from m_{-1} = 0, divided by 1 - (1 - alpha)^(t+1):
    the weighted mean of x_0..x_t with weights (1 - alpha)^(t - i), which is what pandas'
    `ewm(alpha, adjust=True)` computes, one row after the other in compiled code. A sequential
    sum of basic operations gives the same bits on every CPU (a blocked matrix product or
    numpy's `power` would not: their kernels differ between CPUs in the last bit)."""
    import pandas  # seaborn's dependency

    return pandas.Series(np.asarray(x, float)).ewm(alpha=alpha, adjust=True).mean().to_numpy()


def ema_with_gaps(steps, values, alpha: float = 0.1, gap_factor: float = 3.0) -> np.ndarray:
    """Exponential moving average over the logged (non-NaN) values of a metric; unlogged rows
    stay NaN. The average restarts wherever the metric's step gap exceeds `gap_factor` times its
    median step gap, so nothing is smeared across a missing stretch of the log. Debiased (as
    Adam's moments are) at every (re)start, so the first values are not pulled towards zero."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    out = np.full(len(values), np.nan)
    logged = np.flatnonzero(~np.isnan(values))
    if len(logged) == 0:
        return out
    gaps = np.diff(steps[logged])
    limit = gap_factor * np.median(gaps[gaps > 0]) if np.any(gaps > 0) else np.inf
    starts = np.concatenate([[0], np.flatnonzero(gaps > limit) + 1, [len(logged)]])
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        segment = values[logged[a:b]]
        out[logged[a:b]] = debiased_ema(segment, alpha)
    return out


def downsample(x, y, max_points: int = MAX_DRAWN_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most max_points points for drawing a line: in each of max_points/2 consecutive
    buckets keep the minimum and the maximum (in x order), so spikes survive. NaN values are
    dropped first; short series are returned as they are."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    if len(x) <= max_points:
        return x, y
    n_buckets = max_points // 2
    size = -(-len(x) // n_buckets)  # ceiling
    padded = np.full(n_buckets * size, np.nan)
    padded[:len(y)] = y
    grid = padded.reshape(n_buckets, size)
    valid = ~np.all(np.isnan(grid), axis=1)
    base = np.arange(n_buckets)[valid] * size
    lo = base + np.nanargmin(grid[valid], axis=1)
    hi = base + np.nanargmax(grid[valid], axis=1)
    index = np.unique(np.concatenate([lo, hi]))
    return x[index], y[index]


# ---- curves ready to draw ----------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """Points of a line as drawn: at most MAX_DRAWN_POINTS, extremes kept."""
    steps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Curve:
    """A series against step: every value (for scales and statistics) and what a line of it
    draws (downsampled), with the gap-respecting moving average where one is drawn."""
    name: str
    steps: np.ndarray
    values: np.ndarray
    drawn: Line
    smoothed: Line | None = None

    @property
    def single(self) -> bool:
        """One point only: drawn as a marker, not a line."""
        return len(self.steps) == 1


def plain_curve(name: str, steps, values) -> Curve:
    """A derived series (perplexity, gap, rate): its values downsampled for drawing."""
    return Curve(name=name, steps=steps, values=values, drawn=Line(*downsample(steps, values)))


def metric_curve(run, name: str, smoothing: float) -> Curve:
    """A logged metric against step, with its moving average (weight `smoothing` on the newest
    value) restarted at gaps in the log; both downsampled for drawing only."""
    steps, values = run.series(name)
    smoothed = ema_with_gaps(steps, values, alpha=smoothing)
    return Curve(name=name, steps=steps, values=values, drawn=Line(*downsample(steps, values)),
                 smoothed=Line(*downsample(steps, smoothed)))


def generalization_gap(run, train: str, validation: str) -> Curve:
    """Validation loss minus the training loss interpolated at the validation steps."""
    train_steps, train_values = run.series(train)
    validation_steps, validation_values = run.series(validation)
    gap = validation_values - np.interp(validation_steps, train_steps, train_values)
    return plain_curve(f"{validation} - {train}", validation_steps, gap)


def improvement_rate(run, name: str, smoothing: float) -> Curve | None:
    """-d log(loss) / d step of the smoothed loss, at the midpoints between logged steps; None
    when there are too few values or a smoothed value is not positive."""
    steps, values = run.series(name)
    smoothed = ema_with_gaps(steps, values, alpha=smoothing)
    if len(steps) <= 2 or not np.all(smoothed > 0):
        return None
    rate = -np.diff(portable.log(smoothed)) / np.diff(steps)
    midpoints = (steps[1:] + steps[:-1]) / 2
    return plain_curve(f"improvement rate of {name}", midpoints, rate)


# ---- distributions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class EpochGroups:
    """Logged values grouped per epoch, or per tenth of the run when no epoch is logged with
    them; groups without any logged value are dropped."""
    labels: list[int]          # epoch numbers, or tenths 1..10
    groups: list[np.ndarray]
    by_epoch: bool


def epoch_groups(steps, values, epochs=None, n_groups: int = 10) -> EpochGroups:
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    logged = ~np.isnan(values)
    if epochs is not None and np.any(~np.isnan(np.asarray(epochs, float)[logged])):
        epochs = np.floor(np.asarray(epochs, float))
        labels = sorted({e for e in epochs[logged] if not np.isnan(e)})
        groups = [values[logged & (epochs == e)] for e in labels]
        return EpochGroups(labels=[int(e) for e in labels], groups=groups, by_epoch=True)
    edges = np.linspace(np.nanmin(steps[logged]), np.nanmax(steps[logged]), n_groups + 1)
    index = np.clip(np.searchsorted(edges, steps, side="right") - 1, 0, n_groups - 1)
    labels, groups = [], []
    for g in range(n_groups):
        chosen = values[logged & (index == g)]
        if len(chosen):
            labels.append(g + 1)
            groups.append(chosen)
    return EpochGroups(labels=labels, groups=groups, by_epoch=False)


@dataclass(frozen=True)
class BoxStats:
    """What a box of a box plot shows (the statistics matplotlib's boxplot computes)."""
    median: float
    lower_quartile: float
    upper_quartile: float
    whisker_low: float         # lowest value within WHISKER_REACH IQRs below the box
    whisker_high: float        # highest value within WHISKER_REACH IQRs above the box
    outliers: np.ndarray       # values beyond the whiskers, those below first
    mean: float


def box_stats(values, reach: float = WHISKER_REACH) -> BoxStats:
    """Quartiles, whiskers and outliers of non-empty `values` (as matplotlib.cbook.boxplot_stats
    computes them, without notches)."""
    x = np.asarray(values, float).ravel()
    lower, median, upper = np.percentile(x, [25, 50, 75])
    spread = upper - lower
    within_high = x[x <= upper + reach * spread]
    high = upper if len(within_high) == 0 or np.max(within_high) < upper else np.max(within_high)
    within_low = x[x >= lower - reach * spread]
    low = lower if len(within_low) == 0 or np.min(within_low) > lower else np.min(within_low)
    outliers = np.concatenate([x[x < low], x[x > high]])
    return BoxStats(median=median, lower_quartile=lower, upper_quartile=upper, whisker_low=low,
                    whisker_high=high, outliers=outliers, mean=np.mean(x))


# ---- summaries ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSummary:
    name: str
    rows: int            # rows where the metric was logged
    final: float         # last logged value
    best: float          # min (or max for higher-is-better metrics)
    best_step: float
    at_best: float       # value at the run's reference best step (see summarize)


@dataclass(frozen=True)
class RunSummary:
    """Final, best and at-best-step values of every logged metric of a run."""
    rows: int                      # rows of the log
    metrics: list[MetricSummary]   # in column order
    reference: str | None          # the metric whose best value defines the best step
    best_step: float               # NaN without a reference metric


def summarize(run, reference: str | None = None) -> RunSummary:
    """Final, best and at-best-step values of every numeric metric of a run. The reference
    metric (default: val_loss, eval_loss, else the first loss-like metric) defines the best
    step; at_best is each metric's last logged value at or before that step."""
    steps = run.column("step")
    names = [n for n in run.columns if n not in ("step",)
             and np.any(~np.isnan(run.metrics[n]))]
    if reference is None:
        for candidate in ("val_loss", "eval_loss", "validation_loss", "test_loss"):
            if candidate in names:
                reference = candidate
                break
        else:
            losses = [n for n in names if "loss" in n.lower()]
            reference = losses[0] if losses else None
    best_step = np.nan
    if reference is not None:
        values = run.metrics[reference]
        pick = np.nanargmax if higher_is_better(reference) else np.nanargmin
        best_step = float(steps[pick(values)])
    summaries = []
    for name in names:
        values = run.metrics[name]
        logged = ~np.isnan(values)
        pick = np.nanargmax if higher_is_better(name) else np.nanargmin
        i = pick(values)
        at_best = np.nan
        if not np.isnan(best_step):
            before = logged & (steps <= best_step)
            if before.any():
                at_best = float(values[np.flatnonzero(before)[-1]])
        summaries.append(MetricSummary(name=name, rows=int(logged.sum()),
                                       final=float(values[np.flatnonzero(logged)[-1]]),
                                       best=float(values[i]), best_step=float(steps[i]),
                                       at_best=at_best))
    return RunSummary(rows=len(run), metrics=summaries, reference=reference, best_step=best_step)
