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
training_curves_<run> (every metric), loss_distribution_<run> (training loss per epoch) and
optimization_dynamics_<run> (gap, norms, improvement rate), each where the run logged what it
needs, and summary_<run>.tex; for several runs comparison_dashboard (at a common step, or
steps to a threshold) and training_curves_comparison, runs that differ only in their seed drawn
as one group. Curves get TensorBoard's smoothing (`--smoothing`, default 0.6) over the faint
logged values; sparse evaluation metrics are drawn as logged. `--x wall_time` draws against
wall time where the logs recorded it. Long logs are downsampled for drawing only.

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
from dataclasses import dataclass
from functools import lru_cache, partial, update_wrapper
from pathlib import Path

import numpy as np

from figkit import Registry
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
from records.settings import NOT_SETTINGS, headline

TOPIC = "experiments"
#: The project's own recorded runs shown by default: the main grokking run and the gated
#: sparse-training run, each with its own dashboards.
DEFAULT_RUNS = ("grokking/main", "sparse_training/gated_0.1")
#: The default comparisons: (figure name suffix, run folders under data/, how to compare).
#: The grokking weight-decay sweep stopped at different steps, so it is compared by the steps
#: each run took to generalize (validation accuracy 0.95, the recorder's own criterion); the
#: sparse-training methods, five seeds each, at a common step, each method as one seed group.
DEFAULT_COMPARISONS = (
    ("", ("grokking/wd_*", "grokking/main"), {"metric": "val_acc", "threshold": 0.95}),
    ("_sparse_training", ("sparse_training/full*", "sparse_training/random_0.1*",
                          "sparse_training/gated_0.1*"), {"metric": "val_loss"}),
)
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


class Styles:
    """One style per series of a figure: training blue and solid, evaluation red and dashed
    (the table of meanings' roles), the others green, yellow, cyan, purple in order of first
    use; and the legend entries they need, collected while drawing."""

    def __init__(self):
        self.others: dict[str, tuple] = {}
        self.entries: dict[str, object] = {}
        self.faint: dict[str, object] = {}      # last in the legend

    def of(self, name: str, alone: bool = False) -> tuple[str, object, str]:
        """(colour, line style, legend label) of the series `name`; a series of neither role
        `alone` in its panel (a learning rate, a gradient norm) is measured on the training side
        and drawn as training."""
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
            faint, = ax.plot(curve.drawn.steps, curve.drawn.values, color=color, alpha=0.3,
                             lw=0.5)
            if styles is not None:
                styles.faint.setdefault("logged values (faint)", faint)
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
    extra = []
    for key in sorted(config):
        value = config[key]
        if key in shown or key in NOT_SETTINGS or key.startswith("_") or value is None \
                or isinstance(value, (dict, list)) or value == "":
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
        settings=settings_lines(run.config), notes=list(run.notes), smoothing=smoothing,
        summary=summary, numbers=numbers)


def dashboard_shape(n_panels: int) -> tuple[int, int]:
    """(rows, columns) for n metric panels and the settings panel, which takes the rest of
    the last row."""
    total = n_panels + 1
    rows = 1 if total <= 3 else 2 if total <= 6 else 3
    return rows, math.ceil(total / rows)


def dashboard_height(run: Run) -> float:
    """Inches: a legend line and 1.45 in per row of panels."""
    rows, _ = dashboard_shape(len(run_stats.dashboard_panels(run)))
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
    rows, cols = dashboard_shape(len(board.panels))
    spec = fig.add_gridspec(rows, cols)
    styles = Styles()
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
        if panel.kind in ("loss", "learning_rate", "norm"):
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
    ax = fig.add_subplot(spec[i // cols, i % cols:])
    ax.set_axis_off()
    span = cols - i % cols
    width = int(13.5 * fig.get_figwidth() * span / cols) - 1  # characters of the mono font
    lines = [line if len(line) <= width else line[:width - 3] + "..."
             for line in board.settings] or [f"({board.format} log: no settings recorded)"]
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
    curves: list[Curve]              # in column order
    never_logged: list[str]
    x_label: str
    smoothing: float
    numbers: Numbers


def plotted_metrics(run: Run) -> tuple[list[str], list[str]]:
    """(metrics drawn, metrics never logged): the epoch and wall time are clocks, not
    metrics."""
    _, never_logged = run_stats.logged_metrics(run)
    return run_stats.drawn_metrics(run), never_logged


def training_curves_height(run: Run) -> float:
    """Inches: three panels a row, and a legend line."""
    drawn, _ = plotted_metrics(run)
    return max(0.3 + 1.5 * math.ceil(max(len(drawn), 1) / 3), 1.6)


def training_curves_result(run: Run, smoothing: float = SMOOTHING) -> TrainingCurves:
    drawn, never_logged = plotted_metrics(run)
    return TrainingCurves(
        curves=[run_stats.metric_curve(run, name, smoothing) for name in drawn],
        never_logged=never_logged, x_label=run.x_label, smoothing=smoothing, numbers=Numbers())


def training_curves(fig, curves: TrainingCurves):
    styles = Styles()
    for ax, curve in zip(grid(fig, len(curves.curves)), curves.curves, strict=True):
        color, linestyle, _ = styles.of(curve.name)
        label = f"smoothed (weight {curves.smoothing:g})" if curve.smoothed is not None \
            else None  # drawn as logged: no entry
        draw_curve(ax, curve, BLUE, label=label, styles=styles,
                   raw=run_stats.family(curve.name) != "learning_rate")
        ax.set_title(panel_name(curve.name), loc="left")
        ax.set_xlabel(curves.x_label)
        if run_stats.family(curve.name) in ("loss", "learning_rate", "norm"):
            log_scale(ax, curve.values)
    styles.legend(fig)


# ---- loss_distribution_<run> -------------------------------------------------------------------
@dataclass(frozen=True)
class LossDistribution:
    """The training loss per epoch (or per tenth of the run): its values and their boxes."""
    metric: str
    labels: list[int]                # epoch numbers, or tenths 1..10
    groups: list[np.ndarray]         # the logged values of each group
    boxes: list[BoxStats]            # quartiles, whiskers and outliers of each group
    by_epoch: bool
    positive: bool                   # every value > 0: a log scale is possible
    numbers: Numbers


def distributed_loss(run: Run) -> str | None:
    """The training loss whose distribution is drawn: the first training loss logged at ten or
    more steps; None when there is none (the figure is then not made)."""
    losses = [name for name in run_stats.drawn_metrics(run)
              if run_stats.family(name) == "loss" and run_stats.role(name) != "evaluation"]
    preferred = [name for name in TRAIN_LOSSES if name in losses] + losses
    for name in preferred:
        if len(run.series(name)[0]) >= 10:
            return name
    return None


def loss_distribution_result(run: Run) -> LossDistribution:
    metric = distributed_loss(run)
    if metric is None:
        raise RunError(f"{run.path}: no training loss logged at ten or more steps")
    epoch = run_stats.epoch_column(run)
    grouped = run_stats.epoch_groups(run.column("step"), run.column(metric),
                                     run.metrics.get(epoch) if epoch else None)
    return LossDistribution(
        metric=metric, labels=grouped.labels, groups=grouped.groups,
        boxes=[run_stats.box_stats(group) for group in grouped.groups],
        by_epoch=grouped.by_epoch, positive=all(np.all(group > 0) for group in grouped.groups),
        numbers=Numbers())


def loss_distribution(fig, distribution: LossDistribution):
    ax = fig.subplots()
    boxes = [{"med": box.median, "q1": box.lower_quartile, "q3": box.upper_quartile,
              "whislo": box.whisker_low, "whishi": box.whisker_high, "fliers": box.outliers,
              "mean": box.mean} for box in distribution.boxes]
    positions = np.arange(len(boxes))
    ax.bxp(boxes, positions=positions, widths=0.6, showfliers=True, patch_artist=True,
           boxprops=dict(facecolor=tint(BLUE, 0.6), linestyle="solid", edgecolor=BLUE),
           medianprops=dict(color=INK), whiskerprops=dict(color=BLUE),
           capprops=dict(color=BLUE),
           flierprops=dict(marker="o", markersize=2, markeredgecolor=MUTED))
    ax.set_xticks(positions, [str(label) for label in distribution.labels])
    ax.set_xlabel("epoch" if distribution.by_epoch else "tenth of the run (by step)")
    ax.set_ylabel(display(distribution.metric))
    if distribution.positive:
        log_scale(ax, np.concatenate(distribution.groups))


# ---- optimization_dynamics_<run> ---------------------------------------------------------------
@dataclass(frozen=True)
class OptimizationDynamics:
    """Generalization gap, norms, and the rate at which the training loss improves: the
    panels the run logged what they need for (at least one)."""
    train: str | None                # the training loss column, if logged
    validation: str | None           # the validation loss column, if logged
    gap: Curve | None                # validation minus training loss (needs both)
    norms: list[Curve]               # the first two gradient or weight norms logged
    rate: Curve | None               # -d log(smoothed training loss) / d step
    x_label: str
    numbers: Numbers

    @property
    def panels(self) -> int:
        return (self.gap is not None) + bool(self.norms) + (self.rate is not None)


def _losses(run: Run) -> tuple[str | None, str | None]:
    drawn = run_stats.drawn_metrics(run)
    losses = [name for name in drawn if run_stats.family(name) == "loss"]
    train = next((n for n in (*TRAIN_LOSSES, *losses) if n in losses
                  and run_stats.role(n) == "training"), None)
    validation = next((n for n in (*VALIDATION_LOSSES, *losses) if n in losses
                       and run_stats.role(n) == "evaluation"), None)
    return train, validation


def optimization_dynamics_result(run: Run, smoothing: float = SMOOTHING
                                 ) -> OptimizationDynamics:
    train, validation = _losses(run)
    norms = [name for name in run_stats.drawn_metrics(run) if run_stats.family(name) == "norm"]
    return OptimizationDynamics(
        train=train, validation=validation,
        gap=run_stats.generalization_gap(run, train, validation) if train and validation
        else None,
        norms=[run_stats.metric_curve(run, name, smoothing) for name in norms[:2]],
        rate=run_stats.improvement_rate(run, train, max(smoothing, RATE_SMOOTHING)) if train
        else None,
        x_label=run.x_label, numbers=Numbers())


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
        ax.set_ylabel(display(f"{dynamics.validation} $-$ {dynamics.train}"))
        panel_title(ax, next(letters), "Generalization gap")
    if dynamics.norms:
        ax = next(axes)
        for curve in dynamics.norms:
            color, linestyle, label = styles.of(curve.name, alone=len(dynamics.norms) == 1)
            draw_curve(ax, curve, color, label=label, linestyle=linestyle, styles=styles)
        ax.set_xlabel(dynamics.x_label)
        names = [curve.name for curve in dynamics.norms]
        title = "Norms" if len(names) > 1 else display(names[0]).capitalize()
        panel_title(ax, next(letters), title)
    if dynamics.rate is not None:
        ax = next(axes)
        ax.plot(dynamics.rate.drawn.steps, dynamics.rate.drawn.values, color=GREEN, lw=0.8)
        ax.axhline(0, color=MUTED, lw=0.5)
        ax.set_xlabel(dynamics.x_label)
        ax.set_ylabel(f"$-\\,d \\log(\\mathrm{{loss}}) / d\\,${dynamics.x_label.split()[0]}")
        panel_title(ax, next(letters), "Improvement rate")
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
        if len(members) > 1:
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
        if threshold is not None and len(finite) < len(values):
            middle = low = high = np.nan  # a group reached it only if every run did
        else:
            middle, low, high = float(np.median(values)), min(values), max(values)
        single = len(members) == 1
        entries.append(Entry(
            label=label, n=len(members),
            curve=run_stats.metric_curve(runs[members[0]], metric, smoothing) if single
            else None,
            band=None if single else run_stats.band([series[i] for i in members]),
            value=middle, low=low, high=high,
            last_step=float(max(series[i][0][-1] for i in members)), setting=value))
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
        return f"Steps to {display(comparison.metric)} ${sign}$ {comparison.threshold:g}"
    return f"{display(comparison.metric).capitalize()} at step {comparison.step:,.0f}"


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
            ax_value.plot([end], [row], marker=MARKERS[0] if ok else ">", ms=4,
                          color=color, mfc=color if ok else "white")
        else:
            if entry.n > 1:
                ax_value.plot([entry.low, entry.high], [row, row], color=color, lw=0.8)
            ax_value.plot([entry.value], [row], marker=MARKERS[0], ms=4, color=color)
    ax_value.set_yticks(rows, [entry.label for entry in comparison.entries])
    ax_value.set_ylim(rows.min() - 0.6, rows.max() + 0.6)
    if comparison.mode == "threshold":
        ax_value.set_xlim(0, max(max(e.last_step for e in comparison.entries), 1) * 1.05)
        ax_value.set_xlabel(f"{comparison.x_label} (open: not reached)")
    else:
        shown = np.array([v for e in comparison.entries for v in (e.low, e.high)])
        if not log_scale(ax_value, shown, axis="x"):
            pad = 0.08 * (shown.max() - shown.min() or abs(shown.max()) or 1)
            ax_value.set_xlim(shown.min() - pad, shown.max() + pad)
        ax_value.set_xlabel(display(comparison.metric))
    ax_value.grid(axis="x")
    title = comparison_title(comparison)
    if fig.get_figwidth() < NARROW_IN:  # a third of a narrow page: two lines
        title = "\n".join(textwrap.wrap(title, 24))
    panel_title(ax_value, "b", title)
    handles, labels = ax_curve.get_legend_handles_labels()
    narrow = fig.get_figwidth() < NARROW_IN
    fig.legend(handles, labels, loc="outside upper center", ncols=3 if narrow else 4,
               fontsize=SMALL)


# ---- training_curves_comparison (several runs) -------------------------------------------------
@dataclass(frozen=True)
class SharedMetric:
    """One metric every compared run logged: a line per run or seed group, in entry order."""
    name: str
    entries: list[Entry]


@dataclass(frozen=True)
class CurvesComparison:
    """Every metric the compared runs share (the first MAX_SHARED_METRICS), aligned on step."""
    labels: list[str]                # entry labels, in order
    metrics: list[SharedMetric]
    x_label: str
    numbers: Numbers


def shared_metrics(runs: list[Run]) -> list[str]:
    """Metrics every run logged, in the first run's column order, the clocks aside."""
    logged = [set(run_stats.drawn_metrics(run)) for run in runs]
    return [name for name in run_stats.drawn_metrics(runs[0])
            if all(name in others for others in logged[1:])][:MAX_SHARED_METRICS]


def training_curves_comparison_height(runs: list[Run]) -> float:
    """Inches: two legend lines, then three panels a row."""
    return 0.5 + 1.6 * math.ceil(max(len(shared_metrics(runs)), 1) / 3)


def training_curves_comparison_result(runs: list[Run], smoothing: float = SMOOTHING
                                      ) -> CurvesComparison:
    varying = run_stats.varying_setting([run.config for run in runs])
    metrics = []
    labels = []
    for name in shared_metrics(runs):
        series = [run.series(name) for run in runs]
        entries = []
        for members, label, value in entries_of(runs, varying):
            single = len(members) == 1
            entries.append(Entry(
                label=label, n=len(members),
                curve=run_stats.metric_curve(runs[members[0]], name, smoothing) if single
                else None,
                band=None if single else run_stats.band([series[i] for i in members]),
                value=np.nan, low=np.nan, high=np.nan,
                last_step=float(max(series[i][0][-1] for i in members)), setting=value))
        labels = [entry.label for entry in entries]
        metrics.append(SharedMetric(name=name, entries=entries))
    return CurvesComparison(labels=labels, metrics=metrics, x_label=runs[0].x_label,
                            numbers=Numbers())


def training_curves_comparison(fig, comparison: CurvesComparison):
    axes = grid(fig, len(comparison.metrics))
    for ax, metric in zip(axes, comparison.metrics, strict=True):
        for i, entry in enumerate(metric.entries):
            draw_entry(ax, entry, run_style(i), raw=False)
        ax.set_title(panel_name(metric.name), loc="left")
        ax.set_xlabel(comparison.x_label)
        if run_stats.family(metric.name) in ("loss", "learning_rate", "norm"):
            log_scale(ax, np.concatenate([e.curve.values if e.band is None else e.band.median
                                          for e in metric.entries]))
    handles, labels = axes[0].get_legend_handles_labels()
    narrow = fig.get_figwidth() < NARROW_IN
    fig.legend(handles, labels, loc="outside upper center", ncols=3 if narrow else 4,
               fontsize=SMALL)


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
    notes = [f"  note: {note}" for note in board.notes]
    return "\n".join([head, *rows, *notes])


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
    return (f"TensorBoard's debiased moving average (weight {smoothing:g}) over the faint "
            "logged values; sparse evaluation metrics and schedules drawn as logged")


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
    clause = _smoothing_clause(smoothing)
    for run in runs:
        name = slug(run_label(run))
        label = _tex(run_label(run))
        kinds = [panel.title.lower() for panel in run_stats.dashboard_panels(run)]
        noted = " ".join(_tex(note[0].upper() + note[1:]) + "." for note in run.notes[:1])
        registry.add(f"dashboard_{name}", dashboard,
                     f"Dashboard of the run {label} ({run.format} log): a panel for each kind "
                     f"of metric it logged ({', '.join(kinds)}) and its settings; curves show "
                     f"{clause}. {noted}",
                     result=bind(dashboard_result, run, smoothing=smoothing), width=1.0,
                     height=dashboard_height(run))
        registry.add(f"training_curves_{name}", training_curves,
                     f"Every metric logged by the run {label} against "
                     f"{_tex(run.x_label)}, with {clause}.",
                     result=bind(training_curves_result, run, smoothing=smoothing),
                     width=1.0, height=training_curves_height(run))
        if distributed_loss(run) is not None:
            registry.add(f"loss_distribution_{name}", loss_distribution,
                         f"Distribution of the training loss of the run {label} per epoch (or "
                         "per tenth of the run when no epoch is logged).",
                         result=bind(loss_distribution_result, run), width=1.0, aspect=0.36)
        train, validation = _losses(run)
        norms = any(run_stats.family(n) == "norm" for n in run_stats.drawn_metrics(run))
        if (train and validation) or norms or train:
            shown = [what for what, present in (
                ("generalization gap", train and validation), ("parameter and gradient norms",
                                                               norms),
                ("the rate at which the training loss improves (of the loss smoothed with "
                 f"weight {max(smoothing, RATE_SMOOTHING):g})", train)) if present]
            registry.add(f"optimization_dynamics_{name}", optimization_dynamics,
                         f"Optimization dynamics of the run {label}: {', '.join(shown)}.",
                         result=bind(optimization_dynamics_result, run, smoothing=smoothing),
                         width=1.0, aspect=0.34)
    for compared in comparisons:
        if len(compared.runs) < 2:
            continue
        how = (f"the steps each took to reach {compared.threshold:g} (open marks: not reached "
               "by the run's last step)" if compared.threshold is not None else
               "each one's value at the last step all runs reached, not at their own ends")
        registry.add(f"comparison_dashboard{compared.suffix}", comparison_dashboard,
                     f"Runs compared on one metric: its curves ({clause}), and {how}; runs "
                     "ordered by the setting they vary, runs differing only in their seed "
                     "drawn as one group (median, min-max band, n runs).",
                     result=bind(comparison_dashboard_result, compared.runs,
                                 metric=compared.metric, threshold=compared.threshold,
                                 smoothing=smoothing),
                     width=1.0, aspect=0.42)
        registry.add(f"training_curves_comparison{compared.suffix}",
                     training_curves_comparison,
                     "Every metric the compared runs share, aligned on step, a line per run "
                     "(or per seed group: median and min-max band), in the order of the "
                     "setting they vary.",
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
    registry = build_registry(runs, runs, smoothing=smoothing)
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
    registry = build_registry(runs, [comparison], smoothing=own.smoothing)
    for run in runs:
        print(summary_printed(run_dashboard(registry, run)))
    return registry.main(rest)


if __name__ == "__main__":
    sys.exit(main())
