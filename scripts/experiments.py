"""Experiment dashboards: figures from any training run, or several, whatever wrote it.

    python scripts/experiments.py                          the project's own recorded runs
    python scripts/experiments.py RUN [...] --outdir DIR   a user's runs (folders or log files)
    python scripts/experiments.py --discover BASE --pattern 'gpt2_*' --outdir DIR

A run is what a training library leaves behind, detected from the folder (records.readers): a
Hugging Face Trainer output folder (trainer_state.json, also in checkpoint-*/), a PyTorch
Lightning lightning_logs/ folder or one version_N/ of it (CSVLogger or TensorBoardLogger),
TensorBoard event files from any writer, a W&B run history exported as CSV, or this project's
logs/metrics.csv with config.json. `--format` forces a reader. A malformed log stops with the
file and line and exit code 2, and nothing is written.

Per run: dashboard_<run> (a panel per kind of metric logged, and the settings),
training_curves_<run> (every metric), loss_distribution_<run> (the spread of the training loss
around its trend, per epoch) and optimization_dynamics_<run> (gap against an aggregate or
interval-mean training loss, norms, improvement rate), each where the run logged what it
needs, and summary_<run>.tex; for several runs comparison_dashboard (at a common step, or
steps to a threshold) and training_curves_comparison, runs that differ only in their seed drawn
as one group. Curves get TensorBoard's smoothing (`--smoothing`, default 0.6) over the faint
logged values; sparse evaluation metrics, schedules and series of fewer than 50 logged points
are drawn as logged, and so is every curve of a comparison (single runs like group medians).
`--x wall_time` draws against wall time where the logs recorded it. Long logs are downsampled
for drawing only.

Each figure is a result computed from its run(s) (`<kind>_result(run)`, statistics from
numerics.run_stats) and a drawing function that only draws it (`<kind>(fig, result)`); the
summary tables are written from the dashboards' results. The Python API (README: "Dashboards
for your own runs"): records.read_run, records.discover, records.select, metric_table and
quick_plot below.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from functools import lru_cache, partial, update_wrapper
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from figkit import Registry, latex
from figkit.annotate import NARROW_IN, panel_title
from figkit.charts import log_if_wide
from figkit.cli import UsageError
from figkit.numbers import Numbers, spell
from figkit.palette import (
    BLUE,
    CYAN,
    GREEN,
    INK,
    LINESTYLES,
    MARKERS,
    MUTED,
    PURPLE,
    RED,
    SERIES_COLORS,
    YELLOW,
    tint,
)
from figkit.registry import ROOT
from figkit.style import SMALL
from numerics import portable, run_stats
from numerics.run_stats import Band, BoxStats, Curve, RunSummary
from records import Run, RunError, discover_runs, load_run
from records.readers import FORMATS, find_runs, read_runs
from records.settings import NOT_SETTINGS, SECONDARY, headline

TOPIC = "experiments"
#: The project's own recorded runs shown by default: the main grokking run and the gated
#: sparse-training run, each with its own dashboards.
DEFAULT_RUNS = ("grokking/main", "sparse_training/gated_0.1")
#: The default comparisons: (figure name suffix, run folders under data/, how to compare).
#: The grokking weight-decay sweep stopped at different steps, so it is compared by the steps
#: each run took to generalize (validation accuracy 0.95, the recorder's own criterion); the
#: sparse-training methods, five seeds each, on validation accuracy at a common step, each
#: method as one seed group: gated 0.1 beside random selection at the same rate (0.1) and at
#: equal compute (0.4, the chapter's fair partner: scripts/recorders/sparse_training.PARTNERS),
#: each entry labelled with its share of full training's compute.
DEFAULT_COMPARISONS = (
    ("", ("grokking/wd_*", "grokking/main"), {"metric": "val_acc", "threshold": 0.95}),
    ("_sparse_training", tuple(f"sparse_training/{method}{seeds}"
                               for method in ("full", "random_0.1", "random_0.4", "gated_0.1")
                               for seeds in ("", "_s*")),
     {"metric": "val_acc"}),
)
#: Configuration keys holding a run's compute as a fraction of full training's.
COMPUTE_SHARE_KEYS = ("flops_fraction_of_full",)
#: Lines a comparison draws legibly (a seed group is one line).
MAX_COMPARED = 8
#: TensorBoard's smoothing weight, its default (the slider of its scalar dashboard).
SMOOTHING = run_stats.TENSORBOARD_WEIGHT
#: Columns taken as the training and the validation loss, in preference order.
TRAIN_LOSSES = ("train_loss", "loss", "training_loss", "train/loss", "train_loss_step")
VALIDATION_LOSSES = ("val_loss", "eval_loss", "validation_loss", "eval/loss", "val/loss",
                     "validation/loss", "test_loss")
#: The improvement rate is a derivative of the smoothed training loss: at least this much
#: smoothing weight, or the step-to-step noise is all it shows.
RATE_SMOOTHING = 0.9
#: Panels of the comparison of training curves.
MAX_SHARED_METRICS = 6
#: The font of the settings panel: keys are printed as each library spells them, underscores
#: included, which the text font (cmr10) has no glyph for.
SETTINGS_FONT = "DejaVu Sans Mono"
#: Lines of settings beyond the headline ones (model, learning rate, batch size, ...).
MAX_OTHER_SETTINGS = 6


# ---- names as text -----------------------------------------------------------------------------
def display(name: str) -> str:
    """A metric or run name as text: the TeX text font prints '_' as an accent."""
    return name.replace("_", " ")


def panel_name(name: str, width: int = 20) -> str:
    """A metric name as a small panel's title, wrapped to fit a third of a narrow page."""
    return "\n".join(textwrap.wrap(display(name), width))


def slug(name: str) -> str:
    """A run name as part of a figure file name: 'wd_0.3' -> 'wd_0_3'."""
    text = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return text if text and text[0].isalpha() else f"run_{text}"


def run_label(run: Run) -> str:
    """'grokking/main' for the project's recorded runs, the run's name for a user's."""
    try:
        return run.path.resolve().relative_to(ROOT / "data").as_posix()
    except ValueError:
        return run.name


# ---- drawing pieces every figure uses ----------------------------------------------------------
#: Lines of neither role (a learning rate, a weight norm): colours and styles after the roles'.
OTHER_STYLES = tuple(zip((GREEN, YELLOW, CYAN, PURPLE), LINESTYLES[2:], strict=False))
#: The legend entry of a loss of the selected samples only (run_stats.selected_loss).
SELECTED_LABEL = "loss of selected samples"


class Styles:
    """One style per series of a figure: training blue and solid, evaluation red and dashed
    (the table of meanings' roles), the others green, yellow, cyan, purple in order of first
    use; and the legend entries they need, collected while drawing."""

    def __init__(self, selected: str | None = None):
        self.selected = selected        # the loss of selected samples only (run_stats)
        self.others: dict[str, tuple] = {}
        self.entries: dict[str, object] = {}
        self.faint: dict[str, object] = {}      # last in the legend

    def of(self, name: str, alone: bool = False) -> tuple[str, object, str]:
        """(colour, line style, legend label) of the series `name`; a series of neither role
        `alone` in its panel (a learning rate, a gradient norm) is measured on the training side
        and drawn as training."""
        if name == self.selected:
            color, linestyle = OTHER_STYLES[1]
            return color, linestyle, SELECTED_LABEL
        r = run_stats.role(name)
        if r == "training" or (r is None and alone):
            return BLUE, "-", "training"
        if r == "evaluation":
            return RED, "--", "evaluation"
        if name not in self.others:
            self.others[name] = OTHER_STYLES[len(self.others) % len(OTHER_STYLES)]
        color, linestyle = self.others[name]
        return color, linestyle, display(name)

    def legend(self, fig, **kwargs) -> None:
        """The entries used, above the panels (fewer columns when the figure is narrow)."""
        entries = {**self.entries, **self.faint}
        if not entries:
            return
        narrow = fig.get_figwidth() < NARROW_IN
        columns = min(len(entries), 3 if narrow else 5)
        fig.legend(list(entries.values()), list(entries), loc="outside upper center",
                   ncols=columns, fontsize=SMALL, **kwargs)


def draw_curve(ax, curve: Curve, color, label=None, linestyle="-", raw=True, styles=None):
    """A metric against step. Smoothed: the logged values faint, TensorBoard's average on top.
    Not smoothed (a sparse evaluation metric, a schedule): the logged values as a line, with a
    marker per point when there are few. Steps where NaN or inf was logged: an x on the top
    edge of the panel."""
    if curve.single:
        line, = ax.plot(curve.steps, curve.values, "o", color=color, label=label)
    elif curve.smoothed is not None:
        if raw:  # same colour, faint: one series, not two
            ax.plot(curve.drawn.steps, curve.drawn.values, color=color, alpha=0.3, lw=0.5)
            if styles is not None:  # one neutral key for every series' faint values
                styles.faint.setdefault("logged values (faint)",
                                        Line2D([], [], color=INK, alpha=0.3, lw=0.5))
        line, = ax.plot(curve.smoothed.steps, curve.smoothed.values, color=color, lw=1.1,
                        ls=linestyle, label=label)
    else:
        marker = "o" if curve.sparse and run_stats.family(curve.name) != "learning_rate" \
            else None
        line, = ax.plot(curve.drawn.steps, curve.drawn.values, color=color, lw=0.9,
                        ls=linestyle, marker=marker, markersize=2.2, label=label)
    if styles is not None and label is not None:
        styles.entries.setdefault(label, line)
    if curve.nonfinite is not None and len(curve.nonfinite):
        marks, = ax.plot(curve.nonfinite, np.ones(len(curve.nonfinite)), "x", color=INK,
                         markersize=3, clip_on=False, transform=ax.get_xaxis_transform())
        if styles is not None:
            styles.entries.setdefault("NaN or inf logged", marks)
    return line


def bind(result_function, *runs, **options):
    """`result_function(*runs, **options)` as a figure's result function, under its name."""
    return update_wrapper(partial(result_function, *runs, **options), result_function)


def log_scale(ax, values, axis: str = "y") -> bool:
    """A log scale when the positive `values` span two decades or more (so that at least two
    decades are labelled), a linear one otherwise."""
    return log_if_wide(ax, values, axis=axis, decades=2.0)


def grid(fig, n: int, cols: int = 3):
    """n panels in rows of `cols` (fewer when n is small); the last row's spare slots are not
    drawn. Returns the axes."""
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    spec = fig.add_gridspec(rows, cols)
    return [fig.add_subplot(spec[i // cols, i % cols]) for i in range(n)]


# ---- dashboard_<run> ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Panel:
    """One dashboard panel: a kind of metric the run logged, and its curves."""
    kind: str                        # run_stats.FAMILIES kind, or "other"
    title: str
    curves: list[Curve]


@dataclass(frozen=True)
class Dashboard:
    """A run at a glance: a panel per kind of metric it logged, and its settings; its summary."""
    label: str
    path: Path
    format: str
    x_label: str
    panels: list[Panel]              # only kinds the run logged: never an empty panel
    perplexity: bool                 # the losses are a language model's: exp(loss) on the right
    settings: list[str]              # 'key: value', the headline settings first
    notes: list[str]                 # what reading the run found (a resume, a cut-off file)
    smoothing: float                 # TensorBoard's smoothing weight of the curves
    summary: RunSummary              # final, best and at-best-step values of every metric
    numbers: Numbers
    selected: str | None = None      # the loss of the selected samples only, if logged
    totals: dict = field(default_factory=dict)  # the run's final summary (a Trainer's last row:
                                                # train_runtime, total_flos, ...)


#: Keys of a configuration that record results, not settings (this project's recorder writes
#: both to config.json).
RESULT_KEYS = ("activation_rate_mean", "stopped_reason", "integral_clamped_steps",
               "integral_max_abs")
RESULT_PREFIXES = ("final_", "flops_", "smoothed_rate_", "best_")


def constant_lines(run: Run) -> list[str]:
    """'name: value (constant)' for each metric the run logged with one value throughout: a
    setting, not a panel."""
    return [f"{name}: {value:.4g} (logged, constant)"
            for name, value in run_stats.constant_metrics(run).items()]


def settings_lines(config: dict, others: int = MAX_OTHER_SETTINGS) -> list[str]:
    """The settings a reader looks for first (model, learning rate, batch size, epochs or
    steps, weight decay, seed: records.settings.SETTINGS), as 'key: value' under the key the run
    uses, then up to `others` more scalar settings in key order."""
    def text(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines, shown = [], set()
    for _, key, value in headline(config):
        lines.append(f"{key}: {text(value)}")
        shown.add(key)
    for key in SECONDARY:
        value = config.get(key)
        if key in shown or value is None or isinstance(value, (dict, list)) or value == "":
            continue
        lines.append(f"{key}: {text(value)}")
        shown.add(key)
    extra = []
    for key in sorted(config):
        value = config[key]
        if key in shown or key in NOT_SETTINGS or key.startswith("_") or value is None \
                or isinstance(value, (dict, list)) or value == "" or key in RESULT_KEYS \
                or key.startswith(RESULT_PREFIXES):
            continue
        extra.append(f"{key}: {text(value)}")
    return lines + extra[:others]


def dashboard_panels(run: Run, smoothing: float = SMOOTHING) -> list[Panel]:
    return [Panel(kind=panel.kind, title=panel.title,
                  curves=[run_stats.metric_curve(run, name, smoothing) for name in panel.names])
            for panel in run_stats.dashboard_panels(run)]


def dashboard_result(run: Run, smoothing: float = SMOOTHING) -> Dashboard:
    label = run_label(run)
    panels = dashboard_panels(run, smoothing)
    losses = next((panel.curves for panel in panels if panel.kind == "loss"), [])
    summary = run_stats.summarize(run)
    numbers = Numbers()
    numbers.add(f"Rows{spell(label)}", summary.rows, ",d")
    return Dashboard(
        label=label, path=run.path, format=run.format, x_label=run.x_label, panels=panels,
        perplexity=bool(losses) and all(run_stats.is_language_model_loss(curve.name, run.config)
                                        for curve in losses),
        settings=settings_lines(run.config) + constant_lines(run), notes=list(run.notes),
        smoothing=smoothing, selected=run_stats.selected_loss(run),
        summary=summary, numbers=numbers, totals=dict(run.totals))


def has_settings(run: Run) -> bool:
    """Whether the dashboard has a settings panel: only when the run recorded settings (or
    logged a constant metric); no '(no settings recorded)' panel."""
    return bool(settings_lines(run.config) or run_stats.constant_metrics(run))


def dashboard_shape(n_panels: int, settings: bool = True) -> tuple[int, int]:
    """(rows, columns) for n metric panels and the settings panel, which takes the rest of
    the last row (without settings: the panels alone, two a row from four)."""
    if not settings:
        rows = 1 if n_panels <= 3 else 2 if n_panels <= 6 else 3
        return rows, math.ceil(n_panels / rows)
    total = n_panels + 1
    rows = 1 if total <= 3 else 2 if total <= 6 else 3
    return rows, math.ceil(total / rows)


def dashboard_height(run: Run) -> float:
    """Inches: a legend line and 1.45 in per row of panels."""
    rows, _ = dashboard_shape(len(run_stats.dashboard_panels(run)), has_settings(run))
    return 0.35 + 1.45 * rows


def panel_ylabel(panel: Panel) -> str:
    """The metric a panel shows: its name, or the part its metrics' names share ('loss' for
    train_loss and eval_loss)."""
    names = [curve.name for curve in panel.curves]
    if len(names) == 1:
        return display(names[0].rsplit("/", 1)[-1] if "/" in names[0] else names[0])
    parts = [set(re.split(r"[/_\-]", name.lower())) for name in names]
    common = [part for part in re.split(r"[/_\-]", names[0].lower())
              if all(part in other for other in parts)
              and part not in ("train", "eval", "val", "validation", "test", "step", "epoch")]
    return " ".join(common)


def dashboard(fig, board: Dashboard):
    rows, cols = dashboard_shape(len(board.panels), bool(board.settings))
    spec = fig.add_gridspec(rows, cols)
    styles = Styles(board.selected)
    letters = "abcdefghij"
    for i, panel in enumerate(board.panels):
        ax = fig.add_subplot(spec[i // cols, i % cols])
        roles = [run_stats.role(curve.name) for curve in panel.curves]
        alone = roles.count(None) == 1 and "training" not in roles
        for curve in panel.curves:
            color, linestyle, label = styles.of(curve.name, alone)
            draw_curve(ax, curve, color, label=label, linestyle=linestyle, styles=styles,
                       raw=panel.kind != "learning_rate")
        values = np.concatenate([curve.values for curve in panel.curves])
        if panel.kind in ("loss", "norm"):  # a schedule on a log axis looks like a cliff
            log_scale(ax, values)
        if panel.kind == "loss" and board.perplexity and np.all(values > 0):
            # exp and log that give the same bits on every CPU (numerics.portable)
            right = ax.secondary_yaxis("right", functions=(portable.exp, portable.log))
            right.set_ylabel("perplexity", fontsize=SMALL)
        ax.set_xlabel(board.x_label)
        ax.set_ylabel(panel_ylabel(panel))
        title = panel.title if len(panel.curves) > 1 or panel.kind != "other" \
            else panel_name(panel.curves[0].name, 24)
        panel_title(ax, letters[i], title)
    i = len(board.panels)
    if not board.settings:
        styles.legend(fig)
        return
    ax = fig.add_subplot(spec[i // cols, i % cols:])
    ax.set_axis_off()
    span = cols - i % cols
    width = int(13.5 * fig.get_figwidth() * span / cols) - 1  # characters of the mono font
    lines = [line if len(line) <= width else line[:width - 3] + "..."
             for line in board.settings]
    fits = int((fig.get_figheight() * 72 / rows - 30) / (SMALL * 1.25 * 1.17))
    ax.text(0.0, 1.0, "\n".join(lines[:fits]), ha="left", va="top", fontsize=SMALL,
            family=SETTINGS_FONT, transform=ax.transAxes, linespacing=1.25)
    panel_title(ax, letters[i], "Settings")
    styles.legend(fig)


# ---- training_curves_<run> ---------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingCurves:
    """Every metric a run logged against step (the clocks aside), and the columns it never
    logged (printed, not drawn)."""
    curves: list[Curve]              # losses, evaluation metrics, then the rest (panel_order)
    never_logged: list[str]
    x_label: str
    smoothing: float
    numbers: Numbers
    selected: str | None = None      # the loss of the selected samples only, if logged


def panel_order(names: list[str]) -> list[str]:
    """Losses first, then the other evaluation metrics, then the rest, each in log order."""
    def key(item):
        i, name = item
        loss = run_stats.family(name) == "loss"
        return (not loss, not loss and run_stats.role(name) != "evaluation", i)

    return [name for _, name in sorted(enumerate(names), key=key)]


def plotted_metrics(run: Run) -> tuple[list[str], list[str]]:
    """(metrics drawn, metrics never logged): the epoch and wall time are clocks, not
    metrics; losses first, then evaluation metrics, then the rest."""
    _, never_logged = run_stats.logged_metrics(run)
    return panel_order(run_stats.drawn_metrics(run)), never_logged


def training_curves_height(run: Run) -> float:
    """Inches: three panels a row, and a legend line."""
    drawn, _ = plotted_metrics(run)
    return max(0.3 + 1.5 * math.ceil(max(len(drawn), 1) / 3), 1.6)


def training_curves_result(run: Run, smoothing: float = SMOOTHING) -> TrainingCurves:
    drawn, never_logged = plotted_metrics(run)
    return TrainingCurves(
        curves=[run_stats.metric_curve(run, name, smoothing) for name in drawn],
        never_logged=never_logged, x_label=run.x_label, smoothing=smoothing, numbers=Numbers(),
        selected=run_stats.selected_loss(run))


def training_curves(fig, curves: TrainingCurves):
    styles = Styles(curves.selected)
    for ax, curve in zip(grid(fig, len(curves.curves)), curves.curves, strict=True):
        color, linestyle, label = styles.of(curve.name, alone=True)
        if label not in ("training", "evaluation", SELECTED_LABEL):
            label = None  # a metric of neither role: its panel title names it
        draw_curve(ax, curve, color, label=label, linestyle=linestyle, styles=styles,
                   raw=run_stats.family(curve.name) != "learning_rate")
        title = f"{curve.name} ({SELECTED_LABEL})" if curve.name == curves.selected \
            else curve.name
        ax.set_title(panel_name(title, 28), loc="left")
        ax.set_xlabel(curves.x_label)
        if run_stats.family(curve.name) in ("loss", "norm"):
            log_scale(ax, curve.values)
    styles.legend(fig)


# ---- loss_distribution_<run> -------------------------------------------------------------------
@dataclass(frozen=True)
class LossDistribution:
    """The spread of the logged training loss around its trend (run_stats.relative_spread:
    each logged value over the centred running median), per epoch or per tenth of the run: a
    box shows how far single logged steps stray from the trend there, not how far the loss fell
    within the epoch."""
    metric: str
    labels: list[int]                # epoch numbers from 1, or tenths 1..10
    groups: list[np.ndarray]         # logged value / trend, of each group
    boxes: list[BoxStats]            # quartiles, whiskers and outliers of each group
    by_epoch: bool
    partial_last: bool               # the last epoch holds under 90 % of a full one's values
    window: int                      # points of the running median (the trend)
    numbers: Numbers


def distributed_loss(run: Run) -> str | None:
    """The training loss whose spread is drawn: the run's training loss (the whole batch's,
    never the selected samples' only) if logged at ten or more steps, else the first other
    training loss that is; None when there is none, or when it has no step noise (full-batch
    training: every box would be a line at 1), and the figure is then not made."""
    losses = [name for name in run_stats.drawn_metrics(run)
              if run_stats.family(name) == "loss" and run_stats.role(name) != "evaluation"
              and name != run_stats.selected_loss(run)]
    preferred = [name for name in (run_stats.training_loss(run, aggregate=False),)
                 if name in losses] + losses
    for name in preferred:
        steps, values = run.series(name)
        if len(steps) >= 10:
            return name if run_stats.has_step_noise(values) else None
    return None


def loss_distribution_result(run: Run) -> LossDistribution:
    metric = distributed_loss(run)
    if metric is None:
        raise RunError(f"{run.path}: no training loss logged at ten or more steps")
    epoch = run_stats.epoch_column(run)
    values = run.column(metric)
    logged = ~np.isnan(values)
    spread = np.full(len(values), np.nan)
    spread[logged] = run_stats.relative_spread(values[logged])
    epochs = None
    if epoch:
        epochs = np.full(len(values), np.nan)
        epochs[logged] = run_stats.epoch_labels(run.metrics[epoch][logged])
    grouped = run_stats.epoch_groups(run.column("step"), spread, epochs)
    # partial: the last epoch logged fewer values than the others (counted before the trend's
    # half windows are left out at the ends)
    logged_per_epoch = [len(group) for group in
                        run_stats.epoch_groups(run.column("step"), values, epochs).groups]
    partial = grouped.by_epoch and len(logged_per_epoch) > 2 and \
        logged_per_epoch[-1] < 0.9 * np.median(logged_per_epoch[:-1])
    n = int(logged.sum())
    window = max(run_stats.TREND_MIN_WINDOW, int(run_stats.TREND_SHARE * n)) // 2 * 2 + 1
    return LossDistribution(
        metric=metric, labels=grouped.labels, groups=grouped.groups,
        boxes=[run_stats.box_stats(group) for group in grouped.groups],
        by_epoch=grouped.by_epoch, partial_last=bool(partial), window=window, numbers=Numbers())


def loss_distribution(fig, distribution: LossDistribution):
    ax = fig.subplots()
    boxes = [{"med": box.median, "q1": box.lower_quartile, "q3": box.upper_quartile,
              "whislo": box.whisker_low, "whishi": box.whisker_high, "fliers": box.outliers,
              "mean": box.mean} for box in distribution.boxes]
    positions = np.arange(len(boxes))
    ax.axhline(1, color=MUTED, lw=0.6, ls=":")
    ax.bxp(boxes, positions=positions, widths=0.6, showfliers=True, patch_artist=True,
           boxprops=dict(facecolor=tint(BLUE, 0.6), linestyle="solid", edgecolor=BLUE),
           medianprops=dict(color=INK), whiskerprops=dict(color=BLUE),
           capprops=dict(color=BLUE),
           flierprops=dict(marker="o", markersize=2, markeredgecolor=MUTED))
    labels = [str(label) for label in distribution.labels]
    if distribution.partial_last:
        labels[-1] += "\n(part)"
    ax.set_xticks(positions, labels)
    ax.set_xlabel("epoch" if distribution.by_epoch else "tenth of the run (by step)")
    ax.set_ylabel("logged / trend")  # the caption names the loss
    log_scale(ax, np.concatenate(distribution.groups))


# ---- optimization_dynamics_<run> ---------------------------------------------------------------
@dataclass(frozen=True)
class OptimizationDynamics:
    """Generalization gap, norms, and the rate at which the training loss improves: the
    panels the run logged what they need for (at least one)."""
    train: str | None                # the training loss the gap uses (an aggregate first)
    validation: str | None           # the validation loss column, if logged
    gap: Curve | None                # validation minus training loss (needs both)
    norms: list[Curve]               # the first two gradient or weight norms logged
    rate: Curve | None               # -d log(smoothed training loss) / d step
    x_label: str
    numbers: Numbers
    rate_of: str | None = None       # the training loss the rate is of (per step)
    interval_mean: bool = False      # the gap's training loss is a mean over each interval

    @property
    def gap_label(self) -> str:
        train = display(self.train or "")
        if self.interval_mean:  # two lines: it must fit a third of a narrow page
            return f"{display(self.validation or '')} $-$\nmean {train}"
        return f"{display(self.validation or '')} $-$ {train}"

    @property
    def panels(self) -> int:
        return (self.gap is not None) + bool(self.norms) + (self.rate is not None)


def _losses(run: Run) -> tuple[str | None, str | None]:
    """(the training loss a validation loss is compared with, the validation loss)."""
    drawn = run_stats.drawn_metrics(run)
    losses = [name for name in drawn if run_stats.family(name) == "loss"]
    train = run_stats.training_loss(run)
    validation = next((n for n in (*VALIDATION_LOSSES, *losses) if n in losses
                       and run_stats.role(n) == "evaluation"), None)
    return train, validation


def optimization_dynamics_result(run: Run, smoothing: float = SMOOTHING
                                 ) -> OptimizationDynamics:
    train, validation = _losses(run)
    per_step = run_stats.training_loss(run, aggregate=False)
    norms = [name for name in run_stats.drawn_metrics(run) if run_stats.family(name) == "norm"]
    gap = run_stats.generalization_gap(run, train, validation) if train and validation \
        else None
    if gap is not None and len(gap.steps) == 0:
        gap = None
    # a mean over each interval, unless the training loss is an aggregate logged at the
    # evaluation steps only (Lightning's train_loss_epoch)
    interval = gap is not None and not np.all(np.isin(run.series(train)[0],
                                                      run.series(validation)[0]))
    return OptimizationDynamics(
        train=train, validation=validation, gap=gap,
        norms=[run_stats.metric_curve(run, name, smoothing) for name in norms[:2]],
        rate=run_stats.improvement_rate(run, per_step, max(smoothing, RATE_SMOOTHING))
        if per_step else None,
        x_label=run.x_label, numbers=Numbers(), rate_of=per_step, interval_mean=interval)


def norm_kinds(names: list[str]) -> str:
    """What the norms drawn are: 'gradient norm', 'weight norms', 'gradient and weight
    norms'."""
    grads = [name for name in names if "grad" in name.lower()]
    kinds = [kind for kind, present in (("gradient", grads), ("weight", len(grads) < len(names)))
             if present]
    return f"{' and '.join(kinds)} norm{'s' if len(names) > 1 else ''}"


def optimization_dynamics(fig, dynamics: OptimizationDynamics):
    axes = iter(fig.subplots(1, dynamics.panels, squeeze=False)[0])
    letters = iter("abc")
    styles = Styles()
    if dynamics.gap is not None:
        ax = next(axes)
        ax.plot(dynamics.gap.drawn.steps, dynamics.gap.drawn.values, color=PURPLE,
                marker="o" if dynamics.gap.sparse else None, markersize=2.2)
        ax.axhline(0, color=MUTED, lw=0.5)
        ax.set_xlabel(dynamics.x_label)
        ax.set_ylabel(dynamics.gap_label)
        panel_title(ax, next(letters), "Generalization gap")
    if dynamics.norms:
        ax = next(axes)
        for curve in dynamics.norms:
            color, linestyle, label = styles.of(curve.name, alone=len(dynamics.norms) == 1)
            draw_curve(ax, curve, color, label=label, linestyle=linestyle, styles=styles)
        ax.set_xlabel(dynamics.x_label)
        names = [curve.name for curve in dynamics.norms]
        title = "Norms" if len(names) > 1 else display(names[0].rsplit("/", 1)[-1]).capitalize()
        ax.set_ylabel(norm_kinds(names))
        panel_title(ax, next(letters), title)
    if dynamics.rate is not None:
        ax = next(axes)
        ax.plot(dynamics.rate.drawn.steps, dynamics.rate.drawn.values, color=INK, lw=0.8)
        ax.axhline(0, color=MUTED, lw=0.5)
        ax.set_xlabel(dynamics.x_label)
        ax.set_ylabel(f"$-\\,d \\log(\\mathrm{{loss}}) / d\\,${dynamics.x_label.split()[0]}")
        narrow = fig.get_figwidth() < NARROW_IN
        panel_title(ax, next(letters), "Improvement\nrate" if narrow else "Improvement rate")
    if len(styles.entries) > 1:
        styles.legend(fig)


# ---- comparison_dashboard (several runs) -------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One line of a comparison: a run, or runs that differ only in their seed (a group)."""
    label: str
    n: int                           # runs in it
    curve: Curve | None              # a single run's curve
    band: Band | None                # a group's median and min-max band
    value: float                     # at the common step (a group: the median), or the steps
                                     # to the threshold (NaN: not reached)
    low: float                       # a group's min and max of that value (a run: the value)
    high: float
    last_step: float                 # the last step logged (a group: the furthest)
    setting: object                  # the value of the varying setting, or None
    held: bool = True                # threshold mode: every run still met it at its last step


@dataclass(frozen=True)
class Comparison:
    """Several runs on one metric: the curves, and a fair number per run: the value at the
    last step every run reached, or the steps each took to reach a threshold."""
    metric: str
    mode: str                        # "common step" or "threshold"
    step: float                      # the common step (mode "common step")
    threshold: float | None
    higher: bool                     # larger is better
    varying: str | None              # the setting the runs are ordered by
    entries: list[Entry]             # in the order of the varying setting (or as given)
    x_label: str
    numbers: Numbers


def common_metric(runs: list[Run], candidates=()) -> str:
    """The metric runs are compared on: the first of `candidates` every run logged, else the
    first loss every run logged (an evaluation loss first); RunError if none."""
    logged = [set(run_stats.drawn_metrics(run)) for run in runs]
    shared = [name for name in run_stats.drawn_metrics(runs[0])
              if all(name in other for other in logged[1:])]
    for name in candidates:
        if name in shared:
            return name
    losses = [name for name in shared if run_stats.family(name) == "loss"]
    ranked = sorted(losses, key=lambda n: run_stats.role(n) != "evaluation")
    if ranked:
        return ranked[0]
    raise RunError(f"runs {', '.join(run.name for run in runs)} share none of "
                   f"{list(candidates) or 'their losses'}")


def entries_of(runs: list[Run], varying: str | None) -> list[tuple[list[int], str, object]]:
    """Groups of runs (seed groups; single runs alone) with their label and setting value,
    ordered by the varying setting."""
    labels = [run_label(run) for run in runs]
    folders = {label.rpartition("/")[0] for label in labels}
    if len(folders) == 1 and folders != {""}:  # 'grokking/wd_0' -> 'wd_0' when all share it
        labels = [label.rpartition("/")[2] for label in labels]
    groups = run_stats.seed_groups([run.name for run in runs], [run.config for run in runs])
    found = []
    for members in groups:
        first = runs[members[0]]
        value = None
        if varying is not None:
            value = run_stats.flatten(first.config).get(varying)
        if varying is not None:
            label = f"{display(varying)} {value:g}" if isinstance(value, (int, float)) \
                else f"{display(varying)} {display(str(value))}"
        else:
            label = run_stats.seed_stem(labels[members[0]]) if len(members) > 1 \
                else labels[members[0]]
            label = display(label)
        shares = [runs[i].config.get(key) for i in members for key in COMPUTE_SHARE_KEYS
                  if isinstance(runs[i].config.get(key), (int, float))]
        if len(shares) == len(members):
            label += f" (n={len(members)}, {100 * float(np.median(shares)):.0f} % compute)"
        else:
            label += f" (n={len(members)})"
        found.append((members, label, value))

    def order(item):
        value = item[2]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return (0, value, "") if numeric else (1, 0, str(value) if value is not None else "")

    if varying is not None:
        found.sort(key=order)
    return found


def comparison_dashboard_result(runs: list[Run], metric: str | None = None,
                                threshold: float | None = None,
                                smoothing: float = SMOOTHING) -> Comparison:
    metric = common_metric(runs, [metric] if metric else ())
    higher = run_stats.higher_is_better(metric)
    series = [run.series(metric) for run in runs]
    step = run_stats.common_step(series)
    varying = run_stats.varying_setting([run.config for run in runs])
    entries = []
    for members, label, value in entries_of(runs, varying):
        if threshold is None:
            values = [run_stats.value_at(*series[i], step) for i in members]
        else:
            values = [run_stats.steps_to(*series[i], threshold, higher) for i in members]
        finite = [v for v in values if not np.isnan(v)]
        held = threshold is None or all(
            (series[i][1][-1] >= threshold) if higher else (series[i][1][-1] <= threshold)
            for i in members)
        if threshold is not None and len(finite) < len(values):
            middle = low = high = np.nan  # a group reached it only if every run did
        else:
            middle, low, high = float(np.median(values)), min(values), max(values)
        single = len(members) == 1
        entries.append(Entry(
            label=label, n=len(members),
            curve=run_stats.metric_curve(runs[members[0]], metric, 0) if single
            else None,  # as logged, like a group's median: never one smoothed, one raw
            band=None if single else run_stats.band([series[i] for i in members]),
            value=middle, low=low, high=high,
            last_step=float(max(series[i][0][-1] for i in members)), setting=value,
            held=bool(held)))
    if len(entries) > MAX_COMPARED:
        raise RunError(f"{len(entries)} runs or seed groups; at most {MAX_COMPARED} can be "
                       "compared legibly")
    numbers = Numbers()
    if threshold is None:
        numbers.add("CommonStep", step, ",.0f")
    return Comparison(metric=metric, mode="common step" if threshold is None else "threshold",
                      step=step, threshold=threshold, higher=higher, varying=varying,
                      entries=entries, x_label=runs[0].x_label, numbers=numbers)


def run_style(i: int) -> dict:
    """Up to 8 lines: six colour-blind-safe colours, then again with another line style."""
    return {"color": SERIES_COLORS[i % len(SERIES_COLORS)],
            "linestyle": LINESTYLES[(i // len(SERIES_COLORS)) * 2 % len(LINESTYLES)]}


def draw_entry(ax, entry: Entry, style: dict, raw: bool = True):
    """A run's curve (its logged values faint under TensorBoard's average), or a group's
    median with its min-max band."""
    if entry.band is None:
        return draw_curve(ax, entry.curve, style["color"], label=entry.label,
                          linestyle=style["linestyle"], raw=raw)
    ax.fill_between(entry.band.steps, entry.band.low, entry.band.high, color=style["color"],
                    alpha=0.2, lw=0)
    line, = ax.plot(entry.band.steps, entry.band.median, color=style["color"], lw=1.1,
                    ls=style["linestyle"], label=entry.label)
    return line


def comparison_title(comparison: Comparison) -> str:
    if comparison.mode == "threshold":
        sign = "\\geq" if comparison.higher else "\\leq"
        return (f"Step {display(comparison.metric)} first reached ${sign}$ "
                f"{comparison.threshold:g}")
    return f"{display(comparison.metric).capitalize()} at step {comparison.step:,.0f}"


def legend_columns(fig, labels: list[str]) -> int:
    """Columns of a legend of run labels that fit the figure's width (about 14 characters of
    small text an inch, and a line sample per entry)."""
    longest = max((len(label) for label in labels), default=1) + 6
    fits = max(1, int(fig.get_figwidth() * 14 // longest))
    return max(1, min(len(labels), fits, 3 if fig.get_figwidth() < NARROW_IN else 4))


def comparison_dashboard(fig, comparison: Comparison):
    ax_curve, ax_value = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
    values = []
    for i, entry in enumerate(comparison.entries):
        draw_entry(ax_curve, entry, run_style(i))
        values.append(entry.curve.values if entry.band is None else entry.band.median)
    values = np.concatenate(values)
    if comparison.mode == "threshold":
        ax_curve.axhline(comparison.threshold, color=INK, lw=0.6, ls=":")
    else:
        ax_curve.axvline(comparison.step, color=INK, lw=0.6, ls=":")
    if run_stats.family(comparison.metric) == "loss":
        log_scale(ax_curve, values)
    ax_curve.set_xlabel(comparison.x_label)
    ax_curve.set_ylabel(display(comparison.metric))
    panel_title(ax_curve, "a", display(comparison.metric).capitalize())

    rows = np.arange(len(comparison.entries))[::-1]
    reached = [not np.isnan(entry.value) for entry in comparison.entries]
    for row, entry, ok, i in zip(rows, comparison.entries, reached,
                                 range(len(rows)), strict=True):
        color = run_style(i)["color"]
        if comparison.mode == "threshold":
            end = entry.value if ok else entry.last_step
            ax_value.plot([0, end], [row, row], color=color, lw=0.8,
                          ls="-" if ok else ":")
            held = ok and entry.held  # reached and still met at the end: filled
            ax_value.plot([end], [row], marker=MARKERS[0] if ok else ">", ms=4,
                          color=color, mfc=color if held else "white")
            if ok and not entry.held:
                ax_value.annotate("not held", (end, row), xytext=(0, 4),
                                  textcoords="offset points", ha="center", va="bottom",
                                  fontsize=SMALL, color=color)
        else:
            ax_value.plot([entry.value], [row], marker=MARKERS[0], ms=3, color=color,
                          mfc="white")
            if entry.n > 1:
                ax_value.plot([entry.low, entry.high], [row, row], color=color, lw=0.8,
                              marker="|", ms=5)
    ax_value.set_yticks(rows, [entry.label for entry in comparison.entries])
    ax_value.set_ylim(rows.min() - 0.6, rows.max() + 0.6)
    if comparison.mode == "threshold":
        ax_value.set_xlim(0, max(max(e.last_step for e in comparison.entries), 1) * 1.05)
        ax_value.set_xlabel(f"{comparison.x_label} (arrow: not reached)")
    else:
        shown = np.array([v for e in comparison.entries for v in (e.low, e.high)])
        if not log_scale(ax_value, shown, axis="x"):
            pad = 0.08 * (shown.max() - shown.min() or abs(shown.max()) or 1)
            ax_value.set_xlim(shown.min() - pad, shown.max() + pad)
        ax_value.set_xlabel(display(comparison.metric))
    ax_value.grid(axis="x")
    title = comparison_title(comparison)
    if fig.get_figwidth() < NARROW_IN:  # a third of a narrow page: two lines
        longest = max(len(entry.label) for entry in comparison.entries)
        title = "\n".join(textwrap.wrap(title, 14 if longest > 24 else 24))
    panel_title(ax_value, "b", title)
    handles, labels = ax_curve.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center",
               ncols=legend_columns(fig, labels), fontsize=SMALL)



# ---- training_curves_comparison (several runs) -------------------------------------------------
@dataclass(frozen=True)
class SharedMetric:
    """One metric every compared run logged: a line per run or seed group, in entry order."""
    name: str
    entries: list[Entry]
    title: str = ""                  # the panel's title (default: the name)


@dataclass(frozen=True)
class CurvesComparison:
    """Every metric the compared runs share (the first MAX_SHARED_METRICS), aligned on step."""
    labels: list[str]                # entry labels, in order
    metrics: list[SharedMetric]
    x_label: str
    numbers: Numbers


def shared_metrics(runs: list[Run]) -> list[str]:
    """Metrics every run logged, the clocks aside: losses first, then evaluation metrics, then
    the rest (panel_order). A run's loss of selected samples stands for its training loss
    (compared_column), so the batch losses it is drawn from are not listed again."""
    logged = [set(run_stats.drawn_metrics(run)) for run in runs]
    batch = set(run_stats.SELECTED_LOSSES.values())
    names = [name for name in run_stats.drawn_metrics(runs[0])
             if all(name in others for others in logged[1:]) and name not in batch]
    return panel_order(names)[:MAX_SHARED_METRICS]


def compared_column(run: Run, name: str) -> str:
    """The column of `run` drawn for the shared metric `name`: its training loss (the whole
    batch's) where `name` is the loss of its selected samples only, else `name`."""
    if name == run_stats.selected_loss(run):
        return run_stats.training_loss(run, aggregate=False) or name
    return name


def compared_title(runs: list[Run], name: str) -> str:
    if any(compared_column(run, name) != name for run in runs):
        return "training loss"  # the caption says which column of which run
    return name


def training_curves_comparison_height(runs: list[Run]) -> float:
    """Inches: two legend lines, then three panels a row."""
    return 0.5 + 1.6 * math.ceil(max(len(shared_metrics(runs)), 1) / 3)


def training_curves_comparison_result(runs: list[Run], smoothing: float = SMOOTHING
                                      ) -> CurvesComparison:
    varying = run_stats.varying_setting([run.config for run in runs])
    metrics = []
    labels = []
    for name in shared_metrics(runs):
        columns = [compared_column(run, name) for run in runs]
        series = [run.series(column) for run, column in zip(runs, columns, strict=True)]
        entries = []
        for members, label, value in entries_of(runs, varying):
            single = len(members) == 1
            entries.append(Entry(
                label=label, n=len(members),
                curve=run_stats.metric_curve(runs[members[0]], columns[members[0]], 0)
                if single
                else None,  # as logged, like a group's median
                band=None if single else run_stats.band([series[i] for i in members]),
                value=np.nan, low=np.nan, high=np.nan,
                last_step=float(max(series[i][0][-1] for i in members)), setting=value))
        labels = [entry.label for entry in entries]
        metrics.append(SharedMetric(name=name, entries=entries,
                                    title=compared_title(runs, name)))
    return CurvesComparison(labels=labels, metrics=metrics, x_label=runs[0].x_label,
                            numbers=Numbers())


def training_curves_comparison(fig, comparison: CurvesComparison):
    axes = grid(fig, len(comparison.metrics))
    for ax, metric in zip(axes, comparison.metrics, strict=True):
        for i, entry in enumerate(metric.entries):
            draw_entry(ax, entry, run_style(i), raw=False)
        ax.set_title(panel_name(metric.title or metric.name, 26), loc="left")
        ax.set_xlabel(comparison.x_label)
        if run_stats.family(metric.name) in ("loss", "learning_rate", "norm"):
            log_scale(ax, np.concatenate([e.curve.values if e.band is None else e.band.median
                                          for e in metric.entries]))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center",
               ncols=legend_columns(fig, labels), fontsize=SMALL)


# ---- summary tables, from the dashboards' results ------------------------------------------------
def _cell(value: float, fmt: str) -> str:
    return "--" if np.isnan(value) else format(value, fmt)


def summary_printed(board: Dashboard) -> str:
    """The summary as printed on the terminal: one line per metric (a best value only for
    losses and scores; counters, schedules and norms have none)."""
    summary = board.summary
    head = (f"{board.path} ({board.format}): {summary.rows} rows; best step "
            f"{summary.best_step:g} by {summary.reference}")
    rows = []
    for metric in summary.metrics:
        line = f"  {metric.name:24s} final {metric.final:<12.6g}"
        if metric.has_best:
            line += f" best {metric.best:<12.6g} at step {metric.best_step:<10g}"
        else:
            line += f" {'(' + metric.kind + ': no best)':<36s}"
        rows.append(line + f" at best step {metric.at_best:.6g}")
    totals = [f"  {'run total: ' + name:24s} {value:<.6g}" for name, value in board.totals.items()]
    notes = [f"  note: {note}" for note in board.notes]
    return "\n".join([head, *rows, *totals, *notes])


def summary_tex(board: Dashboard) -> str:
    """The summary as a LaTeX tabular: final, best and at-best-step value of every metric;
    '--' where a metric has no best (a counter such as the epoch, a schedule, a norm)."""
    summary = board.summary
    best_step = summary.best_step
    tex = ["% Generated by scripts/experiments.py; do not edit.",
           f"% Run {board.label} ({board.format}): best step {best_step:g} by "
           f"{summary.reference}."]
    tex += [f"% Note: {note}" for note in board.notes]
    tex += ["\\begin{tabular}{lrrrr}", "  metric & final & best & best at step & "
            f"at step {best_step:g} \\\\", "  \\hline"]
    for metric in summary.metrics:
        name = metric.name.replace("_", "\\_")
        tex.append(f"  {name} & {metric.final:.4g} & {_cell(metric.best, '.4g')} & "
                   f"{_cell(metric.best_step, 'g')} & {_cell(metric.at_best, '.4g')} \\\\")
    if board.totals:  # the run's own final summary (a Trainer's last log row)
        tex.append("  \\hline")
        for name, value in board.totals.items():
            name = name.replace("_", "\\_")
            tex.append(f"  {name} (run total) & {value:.4g} & -- & -- & -- \\\\")
    tex.append("\\end{tabular}")
    return "\n".join(tex) + "\n"


# ---- registry ----------------------------------------------------------------------------------
def run_dashboard(registry: Registry, run: Run) -> Dashboard:
    """The dashboard result of `run` in `registry` (computed once per process)."""
    return registry.result(f"dashboard_{slug(run_label(run))}")


def _tex(text: str) -> str:
    return text.replace("_", "\\_").replace("%", "\\%").replace("&", "\\&").replace("#", "\\#")


def _smoothing_clause(smoothing: float) -> str:
    if smoothing <= 0:
        return "drawn as logged"
    return (f"TensorBoard's moving average (weight {smoothing:g}) over the faint logged "
            "values (sparse evaluation metrics, schedules and series of under "
            f"{run_stats.MIN_SMOOTHED_POINTS} points as logged)")


def _run_clause(run: Run, smoothing: float) -> str:
    """What the curves of one run's figure show: smoothed or as logged, as this run's metrics
    are drawn (a short log is drawn as logged throughout)."""
    if smoothing <= 0 or not any(run_stats.smoothed_metric(run, name)
                                 for name in run_stats.drawn_metrics(run)):
        return (f"drawn as logged (every series has under {run_stats.MIN_SMOOTHED_POINTS} "
                "points: no moving average)" if smoothing > 0 else "drawn as logged")
    return _smoothing_clause(smoothing)


def _selected_clause(runs: list[Run]) -> str:
    """Where compared runs logged the loss of their selected samples only: which column the
    'training loss' panel draws instead."""
    swapped = sorted({f"{_tex(run_stats.training_loss(run, False))} for the runs whose "
                      f"{_tex(name)} is the loss of the selected samples only"
                      for run in runs for name in [run_stats.selected_loss(run)] if name})
    return f" (training loss: {'; '.join(swapped)})" if swapped else ""


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


@dataclass(frozen=True)
class Compared:
    """Runs compared in one pair of comparison figures."""
    suffix: str                      # figure name suffix ("" for the first)
    runs: list[Run]
    metric: str | None = None        # default: common_metric
    threshold: float | None = None   # steps to this value, instead of a common step


def build_registry(runs: list[Run], comparisons: list[Compared] | list[Run] = (),
                   smoothing: float = SMOOTHING) -> Registry:
    registry = Registry(TOPIC)
    if comparisons and isinstance(comparisons[0], Run):
        comparisons = [Compared("", list(comparisons))]
    for run in runs:
        clause = _run_clause(run, smoothing)
        name = slug(run_label(run))
        label = _tex(run_label(run))
        kinds = [_tex(panel.title.lower()) for panel in run_stats.dashboard_panels(run)]
        noted = " ".join(_tex(note[0].upper() + note[1:]) + "." for note in run.notes[:1])
        selected = run_stats.selected_loss(run)
        selected_note = (f" ({_tex(selected)}: {SELECTED_LABEL} only; training loss: "
                         f"{_tex(run_stats.training_loss(run, aggregate=False))})"
                         if selected else "")
        settings = " and its settings" if has_settings(run) else ""
        registry.add(f"dashboard_{name}", dashboard,
                     f"Dashboard of the run {label} ({run.format} log): panels for "
                     f"{_listing(kinds)}{settings}; curves: {clause}{selected_note}. {noted}",
                     result=bind(dashboard_result, run, smoothing=smoothing), width=1.0,
                     height=dashboard_height(run))
        registry.add(f"training_curves_{name}", training_curves,
                     f"Every metric logged by the run {label} against "
                     f"{_tex(run.x_label)}, losses first, {clause}{selected_note}.",
                     result=bind(training_curves_result, run, smoothing=smoothing),
                     width=1.0, height=training_curves_height(run))
        if distributed_loss(run) is not None:
            registry.add(f"loss_distribution_{name}", loss_distribution,
                         "Spread of the logged training loss "
                         f"({_tex(distributed_loss(run))}) of the run {label} around its trend "
                         "(each value over the centred running median of 5 \\% of the points) "
                         "per epoch, or per tenth of the run when no epoch is logged: the noise "
                         "of single steps, not the fall of the loss.",
                         result=bind(loss_distribution_result, run), width=1.0, aspect=0.36)
        train, validation = _losses(run)
        per_step = run_stats.training_loss(run, aggregate=False)
        norms = [n for n in run_stats.drawn_metrics(run) if run_stats.family(n) == "norm"][:2]
        if (train and validation) or norms or per_step:
            gap = ""
            if train and validation:
                gap = (f"generalization gap ({_tex(validation)} minus the {_tex(train)} "
                       "logged at the evaluation steps"
                       if np.all(np.isin(run.series(train)[0], run.series(validation)[0]))
                       else f"generalization gap ({_tex(validation)} minus the mean "
                       f"{_tex(train)} over each interval between evaluations")
                gap += ", evaluations outside the training loss's logged range left out)"
            shown = [what for what, present in (
                (gap, bool(gap)),
                (norm_kinds(norms), bool(norms)),
                ("the rate at which the training loss "
                 f"({_tex(per_step or '')}) improves (of the loss smoothed with weight "
                 f"{max(smoothing, RATE_SMOOTHING):g})", bool(per_step))) if present]
            registry.add(f"optimization_dynamics_{name}", optimization_dynamics,
                         f"Optimization dynamics of the run {label}: {_listing(shown)}.",
                         result=bind(optimization_dynamics_result, run, smoothing=smoothing),
                         width=1.0, aspect=0.34)
    for compared in comparisons:
        if len(compared.runs) < 2:
            continue
        how = (f"the step each first reached {compared.threshold:g} (open, 'not held': "
               "below it again at the end; arrow: never reached)"
               if compared.threshold is not None else
               "each one's value at the last step all runs reached, not at their own ends")
        varying = run_stats.varying_setting([run.config for run in compared.runs])
        order = (f"runs ordered by the setting they vary ({_tex(varying)}), " if varying
                 else "")
        compute = (", each entry with its compute as a share of full training's"
                   if all(any(key in run.config for key in COMPUTE_SHARE_KEYS)
                          for run in compared.runs) else "")
        registry.add(f"comparison_dashboard{compared.suffix}", comparison_dashboard,
                     f"Runs compared on one metric: its curves (all drawn as logged), and "
                     f"{how}; {order}seed groups as median and min-max band; n runs per "
                     f"entry{compute}.",
                     result=bind(comparison_dashboard_result, compared.runs,
                                 metric=compared.metric, threshold=compared.threshold,
                                 smoothing=smoothing),
                     width=1.0, aspect=0.42)
        registry.add(f"training_curves_comparison{compared.suffix}",
                     training_curves_comparison,
                     "Every metric the compared runs share, aligned on step, a line per run "
                     "(or per seed group: median and min-max band), all drawn as logged"
                     f"{_selected_clause(compared.runs)}"
                     f"{' in the order of the setting they vary' if varying else ''}; n runs "
                     f"per entry{compute}.",
                     result=bind(training_curves_comparison_result, compared.runs,
                                 smoothing=smoothing),
                     width=1.0, height=training_curves_comparison_height(compared.runs))

    def summaries() -> dict[str, str]:
        return {f"summary_{slug(run_label(run))}.tex": summary_tex(run_dashboard(registry, run))
                for run in runs}
    registry.add_file(summaries)
    return registry


@lru_cache(maxsize=1)
def default_runs() -> tuple[list[Run], list[Compared]]:
    data = ROOT / "data"
    runs = [load_run(data / name) for name in DEFAULT_RUNS if (data / name).is_dir()]
    comparisons = []
    for suffix, patterns, how in DEFAULT_COMPARISONS:
        compared = []
        for pattern in patterns:
            base, _, name = pattern.rpartition("/")
            if (data / base).is_dir():
                compared += [load_run(path) for path in discover_runs(data / base, name)]
        comparisons.append(Compared(suffix, compared, **how))
    return runs, comparisons


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The figures of the project's own runs (built on first use: a user's runs never pay for
    loading them)."""
    return build_registry(*default_runs())


def __getattr__(name: str):
    if name == "FIGURES":  # the registry every topic module exposes
        return default_registry()
    raise AttributeError(name)


# ---- the Python API ----------------------------------------------------------------------------
def metric_table(runs: list[Run], metric: str, steps=None):
    """One metric across runs at common steps, as a pandas DataFrame (a row per run, a column
    per step): by default ten steps up to the last step every run reached, each run's last
    value logged at or before each step (numerics.run_stats.metric_table)."""
    import pandas

    table = run_stats.metric_table(runs, metric, steps, labels=[run_label(r) for r in runs])
    frame = pandas.DataFrame(table.values, index=table.runs,
                             columns=[int(s) if float(s).is_integer() else s
                                      for s in table.steps])
    frame.index.name, frame.columns.name = "run", "step"
    return frame


def for_users_folder(registry: Registry, outdir) -> Registry:
    """A user's figures: figures.tex includes them from `outdir` (as a document compiled in
    the current folder finds it) and names labels (`fig:<folder>:<name>`) and numbers.tex
    macros after the folder, so that they never point at or redefine the book's."""
    registry.graphics_dir = latex.graphics_dir(outdir)
    registry.namespace = Path(outdir).resolve().name or "runs"
    return registry


def quick_plot(*paths, outdir, format: str | None = None, formats=("png", "pdf"),
               textwidth: str | None = None, smoothing: float = SMOOTHING, x: str = "step",
               jobs: int = 1) -> list[Path]:
    """Every figure of the runs at `paths` (folders of any supported format, or Run objects)
    and their summary tables, written into `outdir`; returns the files written. Raises
    RunError for a log it cannot read, UsageError for bad options."""
    runs = []
    for path in paths:
        runs += [path] if isinstance(path, Run) else read_runs(path, format)
    runs = [run.with_x(x) for run in runs]
    outdir = Path(outdir)
    argv = ["--outdir", str(outdir), "--format", ",".join(formats), "--jobs", str(jobs),
            "--no-cache"] + (["--textwidth", textwidth] if textwidth else [])
    registry = for_users_folder(build_registry(runs, runs, smoothing=smoothing), outdir)
    code = registry.main(argv)
    if code:
        raise UsageError(f"quick_plot: the figures could not be written (exit code {code})")
    names = [f"{name}.{fmt}" for name in registry.names for fmt in formats]
    names += [*registry.extra_files(), "figures.tex", "numbers.tex"]
    return [outdir / name for name in names]


# ---- command line ------------------------------------------------------------------------------
def read_paths(paths: list[Path], format: str | None, x: str) -> list[Run]:
    """Every run at `paths`, warnings (a missing config.json, a cut-off event file) printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = [run for path in paths for run in read_runs(path, format)]
    for warning in caught:
        print(f"experiments.py: warning: {warning.message}", file=sys.stderr)
    return [run.with_x(x) for run in runs]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--discover", type=Path)
    parser.add_argument("--pattern", default="*")
    parser.add_argument("--log-format", "--reader", dest="reader", choices=FORMATS)
    parser.add_argument("--x", default="step", choices=("step", "wall_time"))
    parser.add_argument("--smoothing", type=float, default=SMOOTHING)
    parser.add_argument("--compare")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("-h", "--help", action="store_true")
    # The toolkit's own options, passed on unchanged (declared here so that their values are
    # not mistaken for run folders).
    passed = {"--only": "+", "--outdir": None, "--format": None, "--textwidth": None,
              "--jobs": None}
    for option, nargs in passed.items():
        parser.add_argument(option, nargs=nargs)
    flags = ("--list", "--numbers", "--no-cache")
    for flag in flags:
        parser.add_argument(flag, action="store_true")
    try:
        own = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    # --format names image formats (png,pdf) for every topic; a log format given there is
    # taken as the reader to use, as the issue and users write it.
    if own.format in FORMATS:
        own.reader, own.format = own.format, None
    rest = [flag for flag in flags if getattr(own, flag[2:].replace("-", "_"))]
    for option in passed:
        value = getattr(own, option[2:])
        if value is not None:
            rest += [option, *(value if isinstance(value, list) else [value])]
    if own.help:
        print(__doc__)
        return default_registry().main(["--help"])
    if not own.runs and own.discover is None:
        registry = default_registry()
        for run in default_runs()[0]:
            print(summary_printed(run_dashboard(registry, run)))
        return registry.main(rest)
    try:
        if not 0 <= own.smoothing < 1:
            raise UsageError(f"--smoothing must be in [0, 1) (TensorBoard's slider), got "
                             f"{own.smoothing:g}")
        paths = list(own.runs)
        if own.discover is not None:
            found = find_runs(own.discover, own.pattern)
            if not found:
                raise UsageError(f"no runs under {own.discover} match {own.pattern!r}")
            paths += found
        if own.outdir is None:
            raise UsageError("give --outdir DIR for your own runs (images/experiments/ holds "
                             "the project's)")
        runs = read_paths(paths, own.reader, own.x)
        names = [slug(run_label(r)) for r in runs]
        if len(set(names)) != len(names):
            raise UsageError(f"two runs share a name: {', '.join(names)}")
        comparison = Compared("", runs, own.compare, own.threshold)
        if len(runs) > 1:  # fails here, before anything is drawn
            comparison_dashboard_result(runs, own.compare, own.threshold, own.smoothing)
    except (UsageError, RunError) as error:
        print(f"experiments.py: error: {error}", file=sys.stderr)
        return 2
    registry = for_users_folder(build_registry(runs, [comparison], smoothing=own.smoothing),
                                own.outdir)
    for run in runs:
        print(summary_printed(run_dashboard(registry, run)))
    return registry.main(rest)


if __name__ == "__main__":
    sys.exit(main())
