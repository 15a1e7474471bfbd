"""Statistics of logged training metrics, for the experiment dashboards: which metrics a run
logged and what kind each is (loss, accuracy, learning rate, gradient norm, throughput, memory,
a clock or counter), TensorBoard's smoothing, downsampling for drawing (never for statistics),
curves ready to draw, the generalization gap and the improvement rate, per-epoch groups and
their box statistics, summaries, and fair comparisons of several runs (values at a common
step, steps to a threshold, seed groups as median and min-max band).

Logs are messy: evaluation rows leave training columns empty and the reverse, steps repeat
(train and eval rows at one step), metrics can be missing entirely. Everything here takes the
columns of records.Run (float arrays with NaN for "not logged") and never invents values.
Nothing here imports matplotlib.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import numpy as np

from numerics import portable
from records.settings import (
    NOT_SETTINGS,
    SEED_KEYS,
    SETTINGS,
    flatten,
    headline,
    headline_value,
)

#: Metrics where larger is better; every other quality metric is smaller-is-better (losses).
HIGHER_IS_BETTER = ("acc", "accuracy", "f1", "bleu", "rouge", "exact_match", "score",
                    "tokens_per_second", "throughput", "auc", "precision", "recall", "map",
                    "correct")
#: Most points a line keeps for drawing (a few thousand: more are invisible at print size).
MAX_DRAWN_POINTS = 2000
#: Whiskers of a box reach the furthest value within this many interquartile ranges of the box
#: (Tukey's convention, matplotlib's default).
WHISKER_REACH = 1.5
#: TensorBoard's default smoothing weight (the slider of its scalar dashboard).
TENSORBOARD_WEIGHT = 0.6
#: A metric logged at fewer points than this share of the run's densest metric is sparse (an
#: evaluation every N steps): drawn point by point, never smoothed.
SPARSE_SHARE = 0.5
#: ...and so is any metric with fewer logged points than this: on a short log the moving
#: average's lag is a large share of the run and misstates the train/evaluation gap (a 40-point
#: Trainer log), so it is drawn as logged.
MIN_SMOOTHED_POINTS = 50

#: Kinds of metric, each a dashboard panel, in panel order: (kind, title, name patterns).
#: A metric's name is matched in lower case, by its last part after '/' first.
FAMILIES = (
    ("loss", "Loss", (r"loss",)),
    ("accuracy", "Accuracy and other metrics",
     (r"acc", r"f1", r"bleu", r"rouge", r"exact_match", r"perplexity", r"ppl", r"auc",
      r"precision", r"recall", r"score", r"correct", r"error", r"mse", r"mae", r"wer")),
    ("learning_rate", "Learning rate", (r"^lr\b", r"^lr[-_]", r"learning_rate", r"^lr$")),
    ("norm", "Gradient norm", (r"grad(ient)?_?norm", r"grad/norm", r"weight_norm",
                               r"param(eter)?_?norm", r"_norm$", r"^norm")),
    ("throughput", "Throughput", (r"per_second", r"per_sec", r"/s$", r"throughput",
                                  r"it_?s$", r"tokens_per")),
    ("memory", "Memory", (r"mem", r"gpu_?mem", r"allocated", r"reserved", r"vram")),
)
#: Clocks and counters: what counts the run's progress, never "best" (epoch, samples, FLOPs).
CLOCK = (r"^epoch$", r"(^|/)epoch$", r"global_step", r"^_?step$", r"wall_time", r"_runtime$",
         r"^runtime$", r"/runtime$", r"_timestamp$", r"time_elapsed", r"^samples_",
         r"_samples$", r"samples_seen", r"tokens_seen", r"num_input_tokens", r"^flops",
         r"_flos$", r"total_flos", r"flops_", r"^n_", r"_count$", r"^time")
#: Prefixes and suffixes of evaluation metrics (and of training ones).
EVALUATION = (r"^eval", r"^val", r"^valid", r"^test", r"(^|/)eval[/_]", r"(^|/)val[/_]",
              r"(^|/)validation[/_]", r"(^|/)test[/_]", r"_val$", r"_eval$", r"_test$",
              r"^validation")
TRAINING = (r"^train", r"(^|/)train[/_]", r"^loss$", r"_train$", r"^training", r"^batch_loss")


def _matches(name: str, patterns) -> bool:
    return any(re.search(pattern, name) for pattern in patterns)


def family(name: str) -> str:
    """The kind of metric `name` is: a key of FAMILIES, 'clock' or 'other'."""
    lowered = name.lower()
    last = lowered.rsplit("/", 1)[-1]
    if _matches(lowered, CLOCK) or _matches(last, CLOCK):
        return "clock"
    if last in ("lr",) or last.startswith(("lr-", "lr_")) or "learning_rate" in lowered:
        return "learning_rate"
    for kind, _, patterns in FAMILIES:
        if kind in ("learning_rate",):
            continue
        if _matches(last, patterns) or _matches(lowered, patterns):
            return kind
    return "other"


def role(name: str) -> str | None:
    """'training', 'evaluation' or None (a metric of neither, e.g. a learning rate)."""
    lowered = name.lower()
    if _matches(lowered, EVALUATION):
        return "evaluation"
    if _matches(lowered, TRAINING):
        return "training"
    return None


def is_quality(name: str) -> bool:
    """A metric with a best value: a loss or an accuracy-like score."""
    return family(name) in ("loss", "accuracy")


def higher_is_better(name: str) -> bool:
    lowered = name.lower()
    if "loss" in lowered or "error" in lowered or "perplexity" in lowered:
        return False
    return any(key in lowered for key in HIGHER_IS_BETTER)


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
#: Words that make a metric a weighted variant of a plainer one the run may log beside it
#: (`val_balanced_acc` of `val_acc`, `eval_macro_f1` of `eval_f1`).
VARIANT_WORDS = ("balanced", "macro", "weighted", "micro")


def plain_variant(name: str, columns) -> str | None:
    """The plainer metric `name` is a variant of (`name` without one of VARIANT_WORDS) when the
    run logs it too, else None."""
    head, _, last = name.rpartition("/")
    words = last.split("_")
    for k, word in enumerate(words):
        if word in VARIANT_WORDS and len(words) > 1:
            plain = "_".join(words[:k] + words[k + 1:])
            plain = f"{head}/{plain}" if head else plain
            if plain in columns:
                return plain
    return None


def memo(run, key, compute):
    """`compute()`, kept on the run for the next caller (a run's columns do not change once
    read; `Run.with_x` makes a new run)."""
    store = run.__dict__.setdefault("_run_stats_memo", {})
    if key not in store:
        store[key] = compute()
    return store[key]


#: The costly statistics of the series asked about last (a trend, whether there is step noise),
#: each with a copy of its series: several figures ask about one training loss. A series is
#: recognised by its values, compared bit for bit (never by a hash).
_REMEMBERED: list[tuple[np.ndarray, dict]] = []
REMEMBERED_SERIES = 4


def remembered(series: np.ndarray, what: str, compute):
    """compute(), the statistic `what` of the 1-d float array `series`, kept for the next
    caller asking about the same values (an array result is handed out as a copy)."""
    bits = np.ascontiguousarray(series, float).view(np.int64)
    found = next((i for i, (seen, _) in enumerate(_REMEMBERED)
                  if len(seen) == len(bits) and np.array_equal(seen, bits)), None)
    if found is None:
        _REMEMBERED.insert(0, (bits.copy(), {}))
        del _REMEMBERED[REMEMBERED_SERIES:]
    else:  # the most recently used first
        _REMEMBERED.insert(0, _REMEMBERED.pop(found))
    results = _REMEMBERED[0][1]
    if what not in results:
        results[what] = compute()
    result = results[what]
    return result.copy() if isinstance(result, np.ndarray) else result


def logged_metrics(run) -> tuple[list[str], list[str]]:
    """(metrics with values, metrics never logged), in column order, without `step`."""
    def compute():
        logged, never_logged = [], []
        for name in run.columns[1:]:
            (logged if np.any(~np.isnan(run.metrics[name])) else never_logged).append(name)
        return logged, never_logged

    logged, never_logged = memo(run, "logged", compute)
    return list(logged), list(never_logged)


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
    Adam's moments are) at every (re)start, so the first values are not pulled towards zero.

    Within a stretch this is TensorBoard's smoothing with weight 1 - alpha: `classicSmoothing`
    in tensorflow/tensorboard, tensorboard/webapp/widgets/line_chart_v2/data_transformer.ts,
    last = last * weight + (1 - weight) * value, divided by 1 - weight**n after n values (see
    `tensorboard_smoothing`)."""
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
        if np.all(segment == segment[0]):  # TensorBoard draws a constant as it is
            out[logged[a:b]] = segment
            continue
        out[logged[a:b]] = debiased_ema(segment, alpha)
    return out


def tensorboard_smoothing(values, weight: float = TENSORBOARD_WEIGHT) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of a series, `weight` in [0, 1) (its
    dashboard's smoothing slider, default 0.6): classicSmoothing in tensorflow/tensorboard,
    tensorboard/webapp/widgets/line_chart_v2/data_transformer.ts. A constant series is returned
    as it is; NaN and inf values pass through and do not enter the average."""
    values = np.asarray(values, float)
    out = values.copy()
    finite = np.isfinite(values)
    if not finite.any() or np.all(values == values[0]):
        return out
    if weight > 0:  # weight 0: each value as it is
        out[finite] = debiased_ema(values[finite], 1 - weight)
    return out


#: Points of a series TensorBoard's scalar dashboard draws and smooths: at most this many, sampled
#: uniformly at random with the last kept (tensorboard/plugins/scalar/scalars_plugin.py,
#: _DEFAULT_DOWNSAMPLING; tensorboard/backend/event_processing/data_provider.py, _downsample).
TENSORBOARD_POINTS = 1000


def per_value_weight(weight: float, count: int) -> float:
    """The smoothing weight per logged value that does what TensorBoard's `weight` does to a
    series of `count` logged values. TensorBoard smooths the TENSORBOARD_POINTS values it samples,
    so on a longer series each of its smoothing steps spans count / TENSORBOARD_POINTS logged
    values, over which the average's memory decays by `weight`: weight ** (TENSORBOARD_POINTS /
    count). Unchanged up to TENSORBOARD_POINTS values. (Smoothing every logged value at the
    weight itself would average a million-step log over a handful of steps: the line would be
    as noisy as the values and, drawn at print size, a solid band.)"""
    if count <= TENSORBOARD_POINTS or not 0 < weight < 1:
        return weight
    exponent = TENSORBOARD_POINTS / count * portable.log(np.array(weight), 2).item()
    return float(portable.power(2, exponent))


def downsample(x, y, max_points: int = MAX_DRAWN_POINTS, log: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """At most max_points points for drawing a line: in each of max_points/2 consecutive
    buckets keep the minimum and the maximum (in x order), so spikes survive. The buckets hold
    equally many values, or with `log` (a line drawn on a logarithmic x axis) span equal widths
    of log x, so that each decade gets its share of the points (x <= 0, which such an axis
    cannot place, in a bucket of its own). NaN values are dropped first; short series are
    returned as they are."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    if len(x) <= max_points:
        return x, y
    n_buckets = max_points // 2
    positive = x > 0
    if log and positive.sum() > 1 and x[positive].min() < x[positive].max():
        low, high = portable.log(np.array([x[positive].min(), x[positive].max()]), 10)
        edges = log_bucket_edges(low, high, n_buckets - 1)
        bucket = np.where(positive, np.searchsorted(edges, x, side="right") + 1, 0)
        starts = np.flatnonzero(np.diff(bucket, prepend=-1))
        return _bucket_extremes(x, y, starts)
    size = -(-len(x) // n_buckets)  # ceiling
    whole = len(y) // size          # buckets of `size` values, then a shorter last one
    grid = y[:whole * size].reshape(whole, size)
    base = np.arange(whole) * size
    lo, hi = base + np.argmin(grid, axis=1), base + np.argmax(grid, axis=1)
    if whole * size < len(y):
        tail = y[whole * size:]
        lo = np.append(lo, whole * size + np.argmin(tail))
        hi = np.append(hi, whole * size + np.argmax(tail))
    index = np.unique(np.concatenate([lo, hi]))
    return x[index], y[index]


def log_bucket_edges(low: float, high: float, buckets: int) -> np.ndarray:
    """The inner edges of `buckets` buckets of equal width in log10 x from 10^low to 10^high."""
    return portable.power(10, low + (high - low) * np.arange(1, buckets) / buckets)


def _bucket_extremes(x: np.ndarray, y: np.ndarray, starts: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The first minimum and the first maximum of y in each bucket (the buckets begin at
    `starts`), in x order."""
    segment = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(y))))
    ends = []
    for reduce in (np.minimum, np.maximum):
        hits = np.flatnonzero(y == reduce.reduceat(y, starts)[segment])
        ends.append(hits[np.searchsorted(hits, starts)])
    index = np.unique(np.concatenate(ends))
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
    draws (downsampled), with TensorBoard's moving average where one is drawn (None: drawn as
    logged, e.g. a sparse evaluation metric or a learning-rate schedule), and the steps where
    the run logged NaN or inf for it."""
    name: str
    steps: np.ndarray
    values: np.ndarray
    drawn: Line
    smoothed: Line | None = None
    nonfinite: np.ndarray | None = None

    @property
    def single(self) -> bool:
        """One point only: drawn as a marker, not a line."""
        return len(self.steps) == 1

    @property
    def sparse(self) -> bool:
        """Few enough points to draw each as a marker."""
        return len(self.steps) <= 60

    @property
    def role(self) -> str | None:
        return role(self.name)


def plain_curve(name: str, steps, values) -> Curve:
    """A derived series (perplexity, gap, rate): its values downsampled for drawing."""
    return Curve(name=name, steps=steps, values=values, drawn=Line(*downsample(steps, values)))


def on_log_axis(curve: Curve) -> Curve:
    """A derived series (`plain_curve`) with its line thinned for a logarithmic x axis."""
    return replace(curve, drawn=Line(*downsample(curve.steps, curve.values, log=True)))


def densest(run) -> int:
    """Points of the run's most often logged metric (clocks aside)."""
    def compute():
        counts = [int(np.sum(~np.isnan(run.metrics[name]))) for name in run.columns[1:]
                  if family(name) != "clock"]
        return max(counts, default=0)

    return memo(run, "densest", compute)


def smoothed_metric(run, name: str) -> bool:
    """Whether a metric's curve gets a moving average: a densely logged training metric, not a
    schedule (learning rate) or a counter, and never a sparsely logged evaluation metric (an
    evaluation every N steps, or a metric logged at under SPARSE_SHARE of the densest one's
    points), nor a series without step noise (full-batch training: an average would only add
    lag)."""
    if family(name) in ("learning_rate", "clock"):
        return False
    values = run.metrics[name]
    count = int(np.sum(~np.isnan(values)))
    if count < MIN_SMOOTHED_POINTS or count < SPARSE_SHARE * densest(run):
        return False
    return memo(run, ("noisy", name), lambda: has_step_noise(values))


def metric_curve(run, name: str, weight: float = TENSORBOARD_WEIGHT) -> Curve:
    """A logged metric against step, with TensorBoard's moving average of smoothing weight
    `weight` (restarted at gaps in the log) where `smoothed_metric` allows one; both
    downsampled for drawing only."""
    return memo(run, ("curve", name, weight), lambda: _metric_curve(run, name, weight))


def smoothed_series(run, name: str, weight: float = TENSORBOARD_WEIGHT
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of `name` where logged, smoothed as its dashboard draws it: TensorBoard's
    average of weight `weight` (per_value_weight on a long series, restarted at gaps) where
    smoothed_metric allows one, else as logged."""
    steps, values = run.series(name)
    if weight > 0 and smoothed_metric(run, name):
        weight = per_value_weight(weight, len(values))
        values = ema_with_gaps(steps, values, alpha=1 - weight)
    return steps, values


def _metric_curve(run, name: str, weight: float) -> Curve:
    steps, values = run.series(name)
    smoothed = None
    if smoothed_metric(run, name) and weight > 0:
        smoothed = Line(*downsample(*smoothed_series(run, name, weight)))
    nonfinite = getattr(run, "nonfinite", {}).get(name)
    return Curve(name=name, steps=steps, values=values, drawn=Line(*downsample(steps, values)),
                 smoothed=smoothed, nonfinite=nonfinite)


#: Training losses aggregated over many samples, logged at the evaluation steps or every step:
#: the training loss a validation loss is compared with, in preference order. Lightning's
#: epoch mean; the gated sparse-training run's mean over the whole batch (its `train_loss` is
#: the loss of the selected samples only, see SELECTED_LOSSES).
TRAINING_LOSS_AGGREGATES = ("train_loss_epoch", "train/loss_epoch", "loss_epoch",
                            "epoch_loss", "train/epoch_loss", "batch_loss_mean")
#: Logged losses of the samples a method chose to train on (not of the batch), with the column
#: that holds the whole batch's loss: a run that logs both means `train_loss` is the selected
#: samples' loss (data/sparse_training: `train_loss` = loss of the gated hard samples).
SELECTED_LOSSES = {"train_loss": "batch_loss_mean"}
#: Training losses in preference order (single logged steps).
TRAINING_LOSSES = ("train_loss", "loss", "training_loss", "train/loss", "train_loss_step")


def selected_loss(run) -> str | None:
    """The column holding the loss of the selected (trained) samples only, when the run also
    logged the whole batch's loss (SELECTED_LOSSES); None otherwise."""
    logged, _ = logged_metrics(run)
    return next((name for name, batch in SELECTED_LOSSES.items()
                 if name in logged and batch in logged), None)


def training_loss(run, aggregate: bool = True) -> str | None:
    """The run's training loss: with `aggregate`, an aggregate over many samples first
    (TRAINING_LOSS_AGGREGATES); never the loss of selected samples only (selected_loss)."""
    logged, _ = logged_metrics(run)
    selected = selected_loss(run)
    candidates = (*TRAINING_LOSS_AGGREGATES, *TRAINING_LOSSES) if aggregate else \
        (*(name for name in TRAINING_LOSS_AGGREGATES if name in SELECTED_LOSSES.values()),
         *TRAINING_LOSSES)
    found = next((name for name in candidates if name in logged and name != selected), None)
    if found is None:
        found = next((name for name in logged if family(name) == "loss"
                      and role(name) == "training" and name != selected), None)
    return found


#: Logged shares of each batch that a run trained on (the book's sparse-training runs log it):
#: below 1, the run trains on a selection of the batch, and its training loss is the loss of
#: the selected samples unless it is a whole-batch loss (WHOLE_BATCH_LOSSES).
SELECTION_SHARES = ("activation_rate",)
#: Columns holding the loss of the whole batch where a run trains on a selection of it.
WHOLE_BATCH_LOSSES = ("batch_loss_mean",)


def trains_on_a_selection(run) -> bool:
    """Whether the run trains on a selection of each batch: it logged a share of the batch
    trained (SELECTION_SHARES) below 1 at some step."""
    logged, _ = logged_metrics(run)
    for name in SELECTION_SHARES:
        if name in logged:
            values = run.metrics[name]
            return bool(np.nanmin(values) < 1)
    return False


def whole_batch_loss(run) -> str | None:
    """The column holding the loss of the whole batch (WHOLE_BATCH_LOSSES), if logged."""
    return first_logged(run, *WHOLE_BATCH_LOSSES)


def interval_means(train_steps, train_values, at_steps) -> tuple[np.ndarray, np.ndarray]:
    """For each step s of `at_steps` (increasing), the mean of the training values logged in
    (previous step of at_steps, s]: like with like for an evaluation at s (an epoch aggregate
    logged at s is its own mean). Steps outside the training values' logged range, or whose
    interval holds no training value, are dropped: (kept steps, means)."""
    train_steps, train_values = np.asarray(train_steps, float), np.asarray(train_values, float)
    at_steps = np.asarray(at_steps, float)
    keep, means = [], []
    if len(train_steps) == 0:
        return np.array([]), np.array([])
    previous = -np.inf
    for i, step in enumerate(at_steps):
        inside = (train_steps > previous) & (train_steps <= step)
        previous = step
        if step < train_steps[0] or step > train_steps[-1] or not inside.any():
            continue
        keep.append(i)
        means.append(float(np.mean(train_values[inside])))
    return np.asarray(keep, int), np.asarray(means, float)


def isin(values, among) -> np.ndarray:
    """np.isin for float arrays, by binary search in the sorted `among`: a million values
    against a thousand in milliseconds (np.isin sorts both together)."""
    values, among = np.asarray(values, float), np.unique(np.asarray(among, float))
    if not len(among):
        return np.zeros(len(values), bool)
    return among[np.minimum(np.searchsorted(among, values), len(among) - 1)] == values


def training_loss_at(train_steps, train_values, at_steps) -> tuple[np.ndarray, np.ndarray, str]:
    """The training loss at each step of `at_steps` (the evaluation steps), like with like:
    (indices of the steps kept, values, how). How depends on what was logged:

    - 'aggregate': an aggregate logged at the evaluation steps (an epoch mean) is used as it is;
    - 'trend': a loss with step noise (a mini-batch loss) by its trend at that step, the centred
      running median (loss_trend): neither a moving average's lag nor the mean since the
      previous evaluation, which in the loss's first fall is far above the loss at the step;
      steps within half a window of either end, where the trend is not centred, are left out;
    - 'value': a loss without step noise (full batch) by its value logged at the step, or the
      last one before it.

    Steps outside the training loss's logged range are left out: nothing is extrapolated."""
    train_steps, train_values = np.asarray(train_steps, float), np.asarray(train_values, float)
    at_steps = np.asarray(at_steps, float)
    if len(train_steps) == 0:
        return np.array([], int), np.array([]), "value"
    inside = (at_steps >= train_steps[0]) & (at_steps <= train_steps[-1])
    if np.all(isin(train_steps, at_steps)):
        keep = np.flatnonzero(inside & isin(at_steps, train_steps))
        return keep, train_values[np.searchsorted(train_steps, at_steps[keep])], "aggregate"
    how = "trend" if has_step_noise(train_values) else "value"
    series = loss_trend(train_values) if how == "trend" else train_values
    at = np.searchsorted(train_steps, at_steps, side="right") - 1
    found = np.full(len(at_steps), np.nan)
    found[inside] = series[at[inside]]
    keep = np.flatnonzero(inside & ~np.isnan(found))
    return keep, found[keep], how


def generalization_gap(run, train: str, validation: str) -> tuple[Curve, str]:
    """Validation loss minus the training loss at the same step (training_loss_at), at each
    validation step where the training loss is known there; and how the training loss was read
    ('aggregate', 'trend' or 'value')."""
    train_steps, train_values = run.series(train)
    validation_steps, validation_values = run.series(validation)
    keep, values, how = training_loss_at(train_steps, train_values, validation_steps)
    gap = validation_values[keep] - values if len(keep) else np.array([])
    steps = validation_steps[keep] if len(keep) else np.array([])
    return plain_curve(f"{validation} - {train}", steps, gap), how


def average_span(weight: float) -> int:
    """The values a moving average of weight `weight` (per value) spans: 1 / (1 - weight),
    rounded up. Until it has seen that many, the debiased average is close to the mean of all
    values so far, and its changes are the noise of those few values divided by their count."""
    return math.ceil(1 / (1 - weight) - 1e-9) if weight > 0 else 1


def log_slope(steps, values, weight: float) -> tuple[np.ndarray, np.ndarray] | None:
    """d ln(value) / d step of a series smoothed with TensorBoard's average of weight `weight`
    (0: as logged; per_value_weight on a long series), at the midpoints between logged steps
    from the average_span-th value on (before, the slope of a filling average is noise over the
    count: at a million values it rang for the first thousand steps): (midpoints, slopes). None
    when fewer than two slopes remain, a smoothed value is not positive or the steps do not
    increase."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    weight = per_value_weight(weight, int(np.sum(~np.isnan(values))))
    smoothed = ema_with_gaps(steps, values, alpha=1 - weight) if weight > 0 else values
    first = average_span(weight) - 1   # the first slope kept ends at value number span
    if len(steps) - first <= 2 or not np.all(smoothed > 0) or np.any(np.diff(steps) <= 0):
        return None
    slopes = np.diff(portable.log(smoothed)) / np.diff(steps)
    return (steps[1:] + steps[:-1])[first:] / 2, slopes[first:]


def rate_weight(values, weight: float) -> float:
    """The smoothing weight a rate of change needs: `weight` for a series with step noise (a
    mini-batch loss), none for one without (full-batch training), where any moving average
    would only add lag."""
    return weight if has_step_noise(values) else 0.0


def improvement_rate(run, name: str, weight: float = TENSORBOARD_WEIGHT) -> Curve | None:
    """-d log(loss) / d step of the smoothed loss (TensorBoard's average, weight `weight`), at
    the midpoints between logged steps; None when there are too few values or a smoothed value
    is not positive."""
    slope = log_slope(*run.series(name), weight)
    if slope is None:
        return None
    midpoints, rate = slope
    return plain_curve(f"improvement rate of {name}", midpoints, -rate)


# ---- how the weights move ------------------------------------------------------------------------
def weight_norms(run) -> list[str]:
    """The norms of weights (not of gradients) the run logged as curves, in log order."""
    return [name for name in drawn_metrics(run)
            if family(name) == "norm" and "grad" not in name.lower()]


def norm_rate(run, name: str, weight: float = TENSORBOARD_WEIGHT) -> Curve | None:
    """d ln||w|| / d step of a logged weight norm (smoothed with `weight`): the radial part of
    the update relative to the weights, (w . dw) / ||w||^2 per step; None as log_slope."""
    slope = log_slope(*run.series(name), weight)
    return None if slope is None else plain_curve(f"rate of {name}", *slope)


#: Words of an optimizer's name or description that say its weight decay is decoupled from the
#: gradient (AdamW, Loshchilov & Hutter 2019, arXiv 1711.05101): theta <- theta - lr (update +
#: wd theta), so decay alone multiplies the weights by 1 - lr wd each step.
DECOUPLED_DECAY = ("adamw", "decoupled")


def decay_pull(config: dict, lr_steps=None, lr_values=None) -> tuple[np.ndarray, np.ndarray] | None:
    """ln(1 - lr wd): the change of ln||w|| per step that decoupled weight decay alone causes,
    as (steps, values): at the steps of a logged learning rate (`lr_steps`, `lr_values`, a
    schedule), else the settings' constant learning rate (steps left empty: a constant). None
    unless the settings give a weight decay > 0 and an optimizer named AdamW or said to decouple
    its decay (DECOUPLED_DECAY), and a learning rate is known."""
    wd = headline_value(config, "weight_decay")
    optimizer = " ".join(str(headline_value(config, key) or "") for key in ("optim", "optimizer"))
    if not isinstance(wd, (int, float)) or isinstance(wd, bool) or wd <= 0 \
            or not any(word in optimizer.lower() for word in DECOUPLED_DECAY):
        return None
    if lr_steps is not None and len(lr_steps):
        lr = np.asarray(lr_values, float)
        return np.asarray(lr_steps, float), portable.log(1 - lr * wd)
    lr = headline_value(config, "learning_rate")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not 0 < lr * wd < 1:
        return None
    return np.array([]), portable.log(np.array([1 - lr * wd]))


#: Names of a logged norm of all parameters (last part of the name, lower case).
NORM_TOTALS = ("weight_norm", "param_norm", "params_norm", "parameter_norm", "parameters_norm",
               "model_norm")
#: Rounding slack when checking that parts fit inside the total (relative).
PART_SLACK = 1e-9


@dataclass(frozen=True)
class NormSplit:
    """How the norm of all parameters divides among the parts of them the run logged a norm of
    and the rest: ||rest||^2 = ||total||^2 - sum of ||part||^2 (the parts are disjoint blocks of
    the parameters)."""
    total: str
    parts: list[str]                 # logged norms of parts, in log order; "rest" is derived
    steps: np.ndarray                # rows where the total and every part were logged
    norms: dict[str, np.ndarray]     # each part's norm and the rest's
    shares: dict[str, np.ndarray]    # each one's share of the squared total (sums to 1)


def norm_split(run, max_parts: int = 3) -> NormSplit | None:
    """The parameter norm divided among its logged parts (at most `max_parts`) and the rest;
    None unless the run logs a norm of all parameters (NORM_TOTALS) and norms of parts of them
    at the same rows, each part inside the total and the parts together too (their squares sum
    to at most the total's square): anything else is not a part."""
    norms = weight_norms(run)
    total = next((n for n in norms if n.lower().rsplit("/", 1)[-1] in NORM_TOTALS), None)
    if total is None:
        return None
    parts = [n for n in norms if n != total][:max_parts]
    if not parts:
        return None
    step = run.metrics["step"]
    rows = ~np.isnan(run.metrics[total])
    for part in parts:
        rows &= ~np.isnan(run.metrics[part])
    if rows.sum() < 2:
        return None
    squared_total = run.metrics[total][rows] ** 2
    squared = {part: run.metrics[part][rows] ** 2 for part in parts}
    inside = sum(squared.values())
    if np.any(inside > squared_total * (1 + PART_SLACK)) or np.any(squared_total <= 0):
        return None
    rest = np.maximum(squared_total - inside, 0.0)
    split = {**squared, "rest": rest}
    return NormSplit(total=total, parts=parts, steps=step[rows],
                     norms={name: np.sqrt(value) for name, value in split.items()},
                     shares={name: value / squared_total for name, value in split.items()})


def _norm(array: np.ndarray) -> float:
    """The Euclidean norm, summed exactly (math.fsum): the same bits on every CPU."""
    import math

    flat = np.asarray(array, float).ravel()
    return math.sqrt(math.fsum(flat * flat))


@dataclass(frozen=True)
class ParameterChanges:
    """A checkpointed parameter between consecutive checkpoints: its net change relative to its
    size, per step, ||theta_b - theta_a|| / ||theta_a|| / (b - a). A lower bound on the size of
    a single step's update: moves back and forth within an interval cancel."""
    name: str
    edges: np.ndarray                # checkpoint steps
    per_step: np.ndarray             # one value per interval (len(edges) - 1)


def parameter_changes(checkpoints: dict[int, dict[str, np.ndarray]]) -> list[ParameterChanges]:
    """The change per step of every parameter (a float array of two or more dimensions) that
    each of three or more checkpoints holds in the same shape, {step: {name: array}}; other
    arrays (scores, labels, a threshold) are not parameters."""
    steps = sorted(checkpoints)
    if len(steps) < 3:
        return []
    first = checkpoints[steps[0]]
    names = [name for name, array in first.items()
             if np.issubdtype(np.asarray(array).dtype, np.floating) and np.ndim(array) >= 2
             and all(name in checkpoints[s] and np.shape(checkpoints[s][name]) == np.shape(array)
                     for s in steps)]
    changes = []
    for name in names:
        per_step = []
        for a, b in zip(steps[:-1], steps[1:], strict=True):
            size = _norm(checkpoints[a][name])
            moved = _norm(np.asarray(checkpoints[b][name], float)
                          - np.asarray(checkpoints[a][name], float))
            per_step.append(moved / size / (b - a) if size > 0 else np.nan)
        changes.append(ParameterChanges(name=name, edges=np.asarray(steps, float),
                                        per_step=np.asarray(per_step, float)))
    return changes


#: A training loss below this share of the validation loss is negligible beside it: the gap is
#: then the validation loss itself.
NEGLIGIBLE_TRAINING_LOSS = 0.01


def gap_is_validation_loss(run, train: str, validation: str) -> bool:
    """Whether at most evaluations the training loss (at that step: training_loss_at) is under
    NEGLIGIBLE_TRAINING_LOSS of the validation loss: a generalization gap would then redraw the
    validation loss (a network that memorized its training set)."""
    train_steps, train_values = run.series(train)
    validation_steps, validation_values = run.series(validation)
    keep, values, _ = training_loss_at(train_steps, train_values, validation_steps)
    if len(keep) == 0:
        return False
    negligible = values < NEGLIGIBLE_TRAINING_LOSS * validation_values[keep]
    return bool(np.mean(negligible) > 0.5)


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
        chosen = logged & ~np.isnan(epochs)
        order = np.argsort(epochs[chosen], kind="stable")
        labels, starts = np.unique(epochs[chosen][order], return_index=True)
        groups = np.split(values[chosen][order], starts[1:])
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


#: The trend a logged training loss is compared with: its running median over this share of
#: its logged points (at least TREND_MIN_WINDOW), centred, so it does not lag.
TREND_SHARE = 0.05
TREND_MIN_WINDOW = 5


def trend_window(n: int) -> int:
    """The odd window of loss_trend for a series of `n` logged values."""
    return max(TREND_MIN_WINDOW, int(TREND_SHARE * n)) // 2 * 2 + 1


def loss_trend(values) -> np.ndarray:
    """The centred running median of the logged (non-NaN) `values` over an odd window of
    TREND_SHARE of them (at least TREND_MIN_WINDOW): the trend without the step-to-step noise
    and without a moving average's lag. NaN for the first and last half window (a truncated
    window is not centred: it would lag like an average), where nothing was logged and where
    the window holds an infinite value. A median selects a logged value: the same bits on
    every CPU."""
    values = np.asarray(values, float)
    logged = ~np.isnan(values)
    series = values[logged]
    out = np.full(len(values), np.nan)
    window = trend_window(len(series))
    if len(series) >= window:
        half = window // 2
        out[np.flatnonzero(logged)[half:len(series) - half]] = remembered(
            series, "trend", lambda: _trend(series, window))
    return out


def _trend(series: np.ndarray, window: int) -> np.ndarray:
    medians = window_medians(series, window)
    infinite = np.isinf(series)
    if infinite.any():  # no trend where a window holds +-inf (as pandas' rolling median)
        count = np.concatenate(([0], np.cumsum(infinite)))
        medians[count[window:] - count[:-window] > 0] = np.nan
    return medians


def window_medians(values, window: int) -> np.ndarray:
    """The median of each run of `window` (odd) consecutive `values` (no NaN): element i is
    the median of values[i:i + window], a value of the series itself (the same bits as sorting
    each window, on every CPU). bottleneck's `move_median` (a double heap in C, O(n log
    window)): a million logged losses with a window of fifty thousand in about a sixth of a
    second, half the time of the numpy rank-band algorithm the dashboards had before and a
    quarter of pandas' rolling median (a skip list)."""
    import bottleneck

    values = np.asarray(values, float)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"the window must be a positive odd number, got {window}")
    if len(values) < window:
        return np.empty(0)
    return bottleneck.move_median(values, window)[window - 1:]


def relative_spread(values) -> np.ndarray:
    """Each logged training loss divided by its trend (loss_trend): 1 on the trend, 1.2 a step
    20 % above it. What a box per epoch of it shows is the step-to-step spread, not the fall of
    the loss over the epoch. NaN where the trend is 0 or infinite (no ratio to it)."""
    values = np.asarray(values, float)
    trend = loss_trend(values)
    spread = np.full(len(values), np.nan)
    usable = np.isfinite(trend) & (trend != 0)
    spread[usable] = values[usable] / trend[usable]
    return spread


#: Largest deviation from the trend (as a fraction) below which a loss has no step noise.
NOISELESS = 1e-3
#: Least share of steps at which a noisy series turns back (the sign of its change flips): a
#: mini-batch loss turns back at about every other step, a full-batch curve at its few bumps.
REVERSALS = 0.1


def reversal_share(values) -> float:
    """The share of consecutive changes of the logged `values` that reverse the direction of
    the one before (changes of zero left out), over its finite values."""
    values = np.asarray(values, float)
    changes = np.diff(values[np.isfinite(values)])
    signs = np.sign(changes[changes != 0])
    return float(np.mean(signs[1:] != signs[:-1])) if len(signs) > 1 else 0.0


def has_step_noise(values) -> bool:
    """Whether single logged steps stray from the series' trend by more than NOISELESS and it
    turns back at REVERSALS of its steps or more: not so for full-batch training (the grokking
    runs), whose smooth curves bend at a few bumps only (a spread figure would be empty, a
    moving average would only add lag)."""
    values = np.asarray(values, float)
    values = values[~np.isnan(values)]
    return remembered(values, "noise", lambda: _has_step_noise(values))


#: Windows has_step_noise looks at before the whole trend: a noisy series strays from its trend
#: almost everywhere, so one of these settles it (a million values: no trend to compute).
NOISE_PROBES = 16


def _has_step_noise(values: np.ndarray) -> bool:
    if reversal_share(values) < REVERSALS:
        return False
    window = trend_window(len(values))
    with np.errstate(divide="ignore", invalid="ignore"):  # a trend of 0 (a share at zero)
        if len(values) >= window:
            half = window // 2
            for at in np.linspace(half, len(values) - half - 1, NOISE_PROBES).astype(int):
                around = values[at - half:at + half + 1]
                if np.isinf(around).any():  # no trend there (loss_trend)
                    continue
                stray = values[at] / np.partition(around, half)[half]
                if np.isfinite(stray) and abs(stray - 1) > NOISELESS:
                    return True
        spread = relative_spread(values)
    spread = spread[np.isfinite(spread)]
    return bool(spread.size) and float(np.max(np.abs(spread - 1))) > NOISELESS


def epoch_labels(epochs) -> np.ndarray:
    """Epoch numbers counted from 1, whatever the logger counts: a Trainer logs the fraction of
    training done (0.25 = a quarter into the first epoch), this project's recorder the epoch
    number from 1, Lightning the epoch index from 0."""
    epochs = np.asarray(epochs, float)
    finite = epochs[~np.isnan(epochs)]
    if len(finite) and np.any(finite != np.floor(finite)):   # progress in epochs: 0.25, 1.5
        return np.ceil(epochs)
    if len(finite) and finite.min() == 0:                       # an index from 0
        return epochs + 1
    return epochs


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


# ---- what a run logged, by kind ---------------------------------------------------------------
def epoch_column(run) -> str | None:
    """The column counting epochs ('epoch', 'train/epoch'), if the run logged one."""
    logged, _ = logged_metrics(run)
    return next((name for name in logged if name.lower().rsplit("/", 1)[-1] == "epoch"), None)


def drawn_metrics(run) -> list[str]:
    """Every logged metric worth a curve: all but the clocks that merely count time (epoch,
    wall time, a copy of the step); counters of work done (samples, FLOPs) stay."""
    return list(memo(run, "drawn", lambda: _drawn_metrics(run)))


def constant_metrics(run) -> dict[str, float]:
    """Metrics logged at two or more steps with one value throughout (a constant learning
    rate): a setting of the run, not a curve. {name: value}."""
    def compute():
        logged, _ = logged_metrics(run)
        found = {}
        for name in logged:
            values = run.metrics[name]
            values = values[~np.isnan(values)]
            if len(values) >= 2 and np.all(values == values[0]):
                found[name] = float(values[0])
        return found

    return dict(memo(run, "constant", compute))


#: Series that restate another logged at the same steps (a Trainer's evaluation speed is logged
#: three times): (suffix dropped, suffix of the series kept in its place).
RESTATED = (("_steps_per_second", "_samples_per_second"), ("_runtime", "_samples_per_second"))


def _drawn_metrics(run) -> list[str]:
    logged, _ = logged_metrics(run)
    step = run.metrics["step"]
    constant = constant_metrics(run)
    drawn = []
    for name in logged:
        lowered = name.lower()
        last = lowered.rsplit("/", 1)[-1]
        if last in ("epoch", "wall_time", "_runtime", "_timestamp", "runtime") or \
                "global_step" in lowered or last == "step" or name in constant:
            continue
        if any(name.endswith(dropped) and name[:-len(dropped)] + kept in logged
               for dropped, kept in RESTATED):
            continue
        values = run.metrics[name]
        rows = ~np.isnan(values)
        if np.array_equal(values[rows], step[rows]):  # the step again under another name
            continue
        drawn.append(name)
    return drawn


@dataclass(frozen=True)
class PanelMetrics:
    """One dashboard panel: a kind of metric and the metrics it draws (one per role, at most
    one training and one evaluation metric, and up to two of neither)."""
    kind: str
    title: str
    names: list[str]


def _pick(names: list[str], limit_other: int = 2, selected: str | None = None) -> list[str]:
    """At most one training metric, one evaluation metric and `limit_other` others, in log
    order: a panel's lines are told apart by role (colour and line style)."""
    chosen, roles, others = [], set(), 0
    for name in names:
        r = None if name == selected else role(name)
        if r is None:
            if others < limit_other:
                chosen.append(name)
                others += 1
        elif r not in roles:
            chosen.append(name)
            roles.add(r)
    return chosen


def dashboard_panels(run, max_losses: int = 2) -> list[PanelMetrics]:
    """The dashboard's panels, following the kinds of metric the run logged (losses, accuracy
    and other metrics, learning rate, gradient norm, throughput, memory) in that order; other
    metric (the first), when fewer than three kinds were logged, fills one last panel. No
    panel is ever empty; every metric is in training_curves."""
    names = drawn_metrics(run)
    selected, training = selected_loss(run), training_loss(run, aggregate=False)
    by_kind: dict[str, list[str]] = {}
    for name in names:
        by_kind.setdefault(family(name), []).append(name)
    panels = []
    for kind, title, _ in FAMILIES:
        members = by_kind.get(kind, [])
        if kind == "loss":  # the batch's loss first, the per-step loss before epoch summaries
            members = sorted(members, key=lambda n: (n == selected, n != training,
                                                     "epoch" in n.lower()))
        chosen = _pick(members, selected=selected)
        if not chosen:
            continue
        if kind == "norm" and not all("grad" in n.lower() for n in chosen):
            title = "Norms"
        if kind == "accuracy" and all(family(n) == "accuracy" and
                                      re.search("acc", n.lower()) for n in chosen):
            title = "Accuracy"
        panels.append(PanelMetrics(kind, title, chosen[:max_losses + 2]))
    if len(panels) < 3 and by_kind.get("other"):  # one: other metrics share no scale
        panels.append(PanelMetrics("other", by_kind["other"][0], by_kind["other"][:1]))
    return panels


def counters(run) -> list[str]:
    """The logged counters of work done (samples seen or trained, FLOPs, tokens): they rise in
    a straight line or nearly, so a panel of one says less than its last value, which the run's
    summary lists."""
    return [name for name in drawn_metrics(run) if family(name) == "clock"]


def curve_metrics(run) -> list[str]:
    """Every logged metric worth a curve of its own: drawn_metrics without the counters."""
    counted = set(counters(run))
    return [name for name in drawn_metrics(run) if name not in counted]


#: Names of a series that a run logged as its own moving average of another series it logged
#: (the book's gated runs: activation_rate_smoothed, the rate their controller steers).
AVERAGE_SUFFIXES = ("_smoothed", "_smooth", "_ema", "_running_mean")
AVERAGE_PREFIXES = ("smoothed_", "ema_")


def own_averages(names: list[str]) -> dict[str, str]:
    """{metric: the run's own average of it} among `names`: a series named after another with an
    average's suffix or prefix (AVERAGE_SUFFIXES, AVERAGE_PREFIXES). Drawn over the metric's
    logged values instead of TensorBoard's average (it is what the run itself acted on)."""
    found = {}
    for name in names:
        for suffix in AVERAGE_SUFFIXES:
            if name.endswith(suffix) and name[:-len(suffix)] in names:
                found[name[:-len(suffix)]] = name
        head, _, last = name.rpartition("/")
        for prefix in AVERAGE_PREFIXES:
            base = (head + "/" if head else "") + last[len(prefix):]
            if last.startswith(prefix) and base in names:
                found[base] = name
    return found


def left_out_metrics(run) -> list[str]:
    """The metrics worth a curve that the dashboard's panels leave out (a second evaluation
    score, a third metric of neither role, other metrics beyond the first), in log order."""
    shown = {name for panel in dashboard_panels(run) for name in panel.names}
    return [name for name in curve_metrics(run) if name not in shown]


# ---- summaries ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricSummary:
    name: str
    rows: int            # rows where the metric was logged
    final: float         # last logged value
    best: float          # min (or max for higher-is-better metrics); NaN: no "best" (a counter,
                         # a schedule, a norm: only losses and scores have one)
    best_step: float     # NaN where there is no best
    at_best: float       # value at the run's reference best step (see summarize)
    kind: str = "other"  # family(name)

    @property
    def has_best(self) -> bool:
        return not np.isnan(self.best)


@dataclass(frozen=True)
class RunSummary:
    """Final, best and at-best-step values of every logged metric of a run."""
    rows: int                      # rows of the log
    metrics: list[MetricSummary]   # in column order
    reference: str | None          # the metric whose best value defines the best step
    best_step: float               # NaN without a reference metric


def reference_metric(names: list[str]) -> str | None:
    """The metric whose best value marks a run's best step: an evaluation loss, else a
    training loss, else an evaluation score."""
    losses = [n for n in names if family(n) == "loss"]
    for group in ([n for n in losses if role(n) == "evaluation"], losses,
                  [n for n in names if family(n) == "accuracy" and role(n) == "evaluation"]):
        if group:
            return group[0]
    return None


def summarize(run, reference: str | None = None) -> RunSummary:
    """Final, best and at-best-step values of every numeric metric of a run. Only losses and
    scores have a best value: a counter's last value (epoch, samples, FLOPs), a schedule's or a
    norm's extreme is no "best". The reference metric (default: an evaluation loss, else a
    training loss) defines the best step; at_best is each metric's last logged value at or
    before that step."""
    steps = run.column("step")
    names = [n for n in run.columns if n not in ("step",)
             and np.any(~np.isnan(run.metrics[n]))]
    if reference is None:
        reference = reference_metric([n for n in names if n != "wall_time"])
    best_step = np.nan
    if reference is not None:
        values = run.metrics[reference]
        pick = np.nanargmax if higher_is_better(reference) else np.nanargmin
        best_step = float(steps[pick(values)])
    summaries = []
    for name in names:
        values = run.metrics[name]
        logged = ~np.isnan(values)
        best = best_at = np.nan
        if is_quality(name):
            pick = np.nanargmax if higher_is_better(name) else np.nanargmin
            i = pick(values)
            best, best_at = float(values[i]), float(steps[i])
        at_best = np.nan
        if not np.isnan(best_step):
            before = logged & (steps <= best_step)
            if before.any():
                at_best = float(values[np.flatnonzero(before)[-1]])
        summaries.append(MetricSummary(name=name, rows=int(logged.sum()),
                                       final=float(values[np.flatnonzero(logged)[-1]]),
                                       best=best, best_step=best_at, at_best=at_best,
                                       kind=family(name)))
    return RunSummary(rows=len(run), metrics=summaries, reference=reference, best_step=best_step)


# ---- comparing runs fairly ---------------------------------------------------------------------
def value_at(steps, values, step: float) -> float:
    """The last value logged at or before `step` (NaN if none)."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    i = np.searchsorted(steps, step, side="right") - 1
    return float(values[i]) if i >= 0 else np.nan


def common_step(series: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The last step every series reached: runs that stopped at different steps are compared
    there, not at their own ends."""
    return float(min(steps[-1] for steps, _ in series))


def steps_to(steps, values, threshold: float, higher: bool) -> float:
    """The first step at which a metric reached `threshold` (>= for scores, <= for losses);
    NaN if it never did."""
    values = np.asarray(values, float)
    reached = values >= threshold if higher else values <= threshold
    return float(np.asarray(steps, float)[np.argmax(reached)]) if reached.any() else np.nan


def _differing(configs: list[dict], ignore) -> set[str]:
    flat = [flatten(config) for config in configs]
    keys = set().union(*flat) - set(ignore)
    return {key for key in keys
            if len({repr(config.get(key)) for config in flat}) > 1}


def varying_setting(configs: list[dict]) -> str | None:
    """The key of the headline setting (records.settings.SETTINGS) that takes the most
    distinct values across `configs`, seeds aside: what a sweep varies; None if none does."""
    flat = [flatten(config) for config in configs]
    best, count = None, 1
    for setting, keys in SETTINGS:
        if setting == "seed":
            continue
        for key in keys:
            values = [config.get(key) for config in flat]
            if any(value is None for value in values):
                continue
            distinct = len({repr(value) for value in values})
            if distinct > count:
                best, count = key, distinct
            break
    return best


_SEED_SUFFIX = re.compile(r"[_\-.]?(s|seed)[_=\-]?\d+$", re.IGNORECASE)


def seed_stem(name: str) -> str:
    """A run's name without a seed suffix: 'gated_0.1_s3' -> 'gated_0.1'."""
    return _SEED_SUFFIX.sub("", name) or name


def seed_groups(names: list[str], configs: list[dict]) -> list[list[int]]:
    """Runs that differ only in their seed, as groups of indices (in first-seen order): their
    settings are equal once seed keys and run names are set aside, or their names differ only
    by a seed suffix ('_s1', '-seed2') and their headline settings agree."""
    ignore = set(SEED_KEYS) | set(NOT_SETTINGS)
    parent = list(range(len(names)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    flat = [flatten(config) for config in configs]
    # the keys a run's headline settings are read from: the first of each setting's keys it
    # holds (`max_steps` where a run records both it and the `steps` it took before stopping)
    headlines = [{key for setting, key, _ in headline(config) if setting != "seed"}
                 for config in configs]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            headline_keys = headlines[i] | headlines[j]
            differing = _differing([configs[i], configs[j]], ignore)
            seeds_differ = any(repr(flat[i].get(k)) != repr(flat[j].get(k)) for k in SEED_KEYS
                               if k in flat[i] or k in flat[j])
            same_settings = flat[i] and not differing and seeds_differ
            same_stem = (seed_stem(names[i]) == seed_stem(names[j])
                         and (seed_stem(names[i]) != names[i]
                              or seed_stem(names[j]) != names[j])
                         and not differing & headline_keys)
            if same_settings or same_stem:
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(names)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


@dataclass(frozen=True)
class Band:
    """Runs of one group on common steps: the median and the min-max band (n runs)."""
    steps: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: int


def band(series: list[tuple[np.ndarray, np.ndarray]]) -> Band:
    """Median and min-max of several runs' series at the steps all of them logged (or, where
    they share fewer than two steps, interpolated onto the first run's steps within the range
    all of them cover)."""
    shared = series[0][0]
    for steps, _ in series[1:]:
        shared = np.intersect1d(shared, steps)
    if len(shared) >= 2:
        stacked = np.array([values[np.searchsorted(steps, shared)] for steps, values in series])
    else:
        start = max(steps[0] for steps, _ in series)
        end = min(steps[-1] for steps, _ in series)
        shared = series[0][0][(series[0][0] >= start) & (series[0][0] <= end)]
        stacked = np.array([np.interp(shared, steps, values) for steps, values in series])
    return Band(steps=shared, median=np.median(stacked, axis=0), low=stacked.min(axis=0),
                high=stacked.max(axis=0), n=len(series))


#: Most steps a band keeps for drawing: a band is drawn as a filled polygon and three lines,
#: and a few hundred steps a panel are more than print shows.
MAX_BAND_POINTS = 150


def thin_band(band: Band, max_points: int = MAX_BAND_POINTS) -> Band:
    """A band with at most `max_points` (+1) steps, for drawing only: consecutive steps in
    buckets, each bucket drawn at its first step with the lowest low and the highest high
    within it (the envelope never shrinks) and the median there; the last step kept. Short
    bands are returned as they are."""
    n = len(band.steps)
    if n <= max_points:
        return band
    starts = np.arange(0, n, -(-n // max_points))
    keep = np.append(starts, n - 1)
    low = np.append(np.minimum.reduceat(band.low, starts), band.low[-1])
    high = np.append(np.maximum.reduceat(band.high, starts), band.high[-1])
    return Band(steps=band.steps[keep], median=band.median[keep], low=low, high=high,
                n=band.n)


@dataclass(frozen=True)
class MetricTable:
    """One metric across runs at common steps: `values[i, j]` is run i's last value logged at
    or before steps[j] (NaN after the run's last logged step)."""
    metric: str
    runs: list[str]
    steps: np.ndarray
    values: np.ndarray


def metric_table(runs, metric: str, steps=None, labels=None) -> MetricTable:
    """`metric` of every run at `steps` (default: ten steps evenly spread up to the common
    step, the last step every run reached)."""
    series = [run.series(metric) for run in runs]
    if any(len(s) == 0 for s, _ in series):
        missing = [run.name for run, (s, _) in zip(runs, series, strict=True) if len(s) == 0]
        raise ValueError(f"{metric!r} was never logged by {', '.join(missing)}")
    if steps is None:
        end = common_step(series)
        start = max(s[0] for s, _ in series)
        steps = np.unique(np.linspace(start, end, 10).round())
    steps = np.asarray(steps, float)
    values = np.array([[value_at(s, v, step) if step <= s[-1] else np.nan for step in steps]
                       for s, v in series])
    return MetricTable(metric=metric, runs=list(labels or [run.name for run in runs]),
                       steps=steps, values=values)


def fall_done_by(steps, values, share: float) -> float:
    """The first step at which a noisy loss's trend (loss_trend) had done `share` of its fall in
    log over the run: from its first logged value (the loss at initialisation, before any
    noise of training) to its trend's last value. NaN if the trend never falls or never gets
    there."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    trend = loss_trend(values)
    known = ~np.isnan(trend) & (trend > 0)
    if not known.any() or values[0] <= 0:
        return float("nan")
    start, end = portable.log(values[0]), portable.log(trend[known][-1])
    if end >= start:
        return float("nan")
    # the first known step below the share, a stretch at a time (the logarithm of a million
    # values is a tenth of a second; the step is usually early)
    threshold = start - share * (start - end)
    rows = np.flatnonzero(known)
    for first in range(0, len(rows), 1 << 16):
        part = rows[first:first + (1 << 16)]
        below = np.flatnonzero(portable.log(trend[part]) <= threshold)
        if len(below):
            return float(steps[part[below[0]]])
    return float("nan")
