"""Experiment dashboards: figures from any recorded training run, or several.

    python scripts/experiments.py                          the project's own recorded runs
    python scripts/experiments.py RUN_DIR [...] --outdir DIR   a user's runs
    python scripts/experiments.py --discover BASE --pattern 'gpt2_*' --outdir DIR

A run is a folder with logs/metrics.csv (`step` first; empty cells where a row did not log a
metric) and, optionally, config.json; it is read with the toolkit's loader, so a malformed log
stops with the file and line and exit code 2. Per run: dashboard_<run>, training_curves_<run>,
loss_distribution_<run>, optimization_dynamics_<run> and summary_<run>.tex (final, best and
at-best-step value of every metric); for several runs also comparison_dashboard and
training_curves_comparison. Long logs are downsampled for drawing only, never for statistics.

Each figure is a result computed from its run(s) (`<kind>_result(run)`, statistics from
numerics.run_stats) and a drawing function that only draws it (`<kind>(fig, result)`); the
summary tables are written from the dashboards' results.
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
from figkit.annotate import legend_above, panel_title
from figkit.charts import log_if_wide
from figkit.cli import UsageError
from figkit.numbers import Numbers, spell
from figkit.palette import BLUE, GREEN, INK, LINESTYLES, MUTED, PURPLE, RED, SERIES_COLORS, tint
from figkit.registry import ROOT
from figkit.style import SMALL
from numerics import portable, run_stats
from numerics.run_stats import BoxStats, Curve, RunSummary
from records import MissingConfigWarning, Run, RunError, discover_runs, load_run

TOPIC = "experiments"
#: The project's own recorded runs shown by default: the main grokking run and the gated
#: sparse-training run, each with its own dashboards; the comparison figures set the grokking
#: weight-decay sweep beside the main grokking run.
DEFAULT_RUNS = ("grokking/main", "sparse_training/gated_0.1")
DEFAULT_COMPARISON = "grokking/wd_*"
MAX_COMPARED = 8
#: Weight of the newest value in the moving average drawn over every logged metric.
SMOOTHING = 0.2
#: Loss columns drawn in the dashboard's loss and perplexity panels.
MAX_LOSSES = 4
#: The dashboard's three metric panels and the columns each may come from, in preference order.
STANDARD_PANELS = (("Learning rate", ("learning_rate", "lr")),
                   ("Gradient norm", ("grad_norm", "gradient_norm")),
                   ("Throughput", ("tokens_per_second", "samples_per_second")))
#: Configuration entries the dashboard lists.
CONFIG_LINES = 6
#: Columns taken as the training and the validation loss, in preference order.
TRAIN_LOSSES = ("train_loss", "loss", "training_loss")
VALIDATION_LOSSES = ("val_loss", "eval_loss", "validation_loss")
#: Norms the optimization-dynamics figure draws (the first two logged).
NORMS = ("grad_norm", "gradient_norm", "weight_norm", "param_norm")
#: The metric the comparison dashboard compares: the first that every run logged.
COMPARED_LOSSES = ("val_loss", "eval_loss", "train_loss", "loss")
#: Panels of the comparison of training curves.
MAX_SHARED_METRICS = 6


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
    """'grokking/main' for the project's recorded runs, the folder name for a user's."""
    try:
        return run.path.resolve().relative_to(ROOT / "data").as_posix()
    except ValueError:
        return run.name


# ---- drawing pieces every figure uses ----------------------------------------------------------
def loss_style(name: str, index: int) -> tuple[str, object]:
    """Training losses solid blue, validation/evaluation losses dashed red, others after."""
    lowered = name.lower()
    if lowered.startswith(("train", "loss")):
        return BLUE, "-"
    if lowered.startswith(("val", "eval", "valid", "test")):
        return RED, "--"
    return SERIES_COLORS[2 + index % 4], LINESTYLES[2 + index % 4]


def draw_curve(ax, curve: Curve, color, label=None, linestyle="-", raw=True) -> None:
    """A metric against step: the logged values faint, the gap-respecting average on top."""
    if curve.single:
        ax.plot(curve.steps, curve.values, "o", color=color, label=label)
        return
    if raw:  # same colour, faint: one series, not two
        ax.plot(curve.drawn.steps, curve.drawn.values, color=color, alpha=0.3, lw=0.5)
    ax.plot(curve.smoothed.steps, curve.smoothed.values, color=color, lw=1.1, ls=linestyle,
            label=label)


def note(ax, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=SMALL, color=MUTED,
            transform=ax.transAxes, wrap=False)


def bind(result_function, *runs):
    """`result_function(*runs)` as a figure's result function, under its own name."""
    return update_wrapper(partial(result_function, *runs), result_function)


# ---- dashboard_<run> ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricPanel:
    """One of the dashboard's metric panels: a standard metric, or another one standing in."""
    title: str | None        # the standard panel's title; None for a metric standing in
    curve: Curve | None      # None: the run logged nothing else to show


@dataclass(frozen=True)
class Dashboard:
    """A run at a glance: losses, perplexity, three metrics, configuration; and its summary."""
    label: str
    path: Path
    losses: list[Curve]              # the first MAX_LOSSES loss columns
    perplexities: list[Curve]        # exp(loss) of the language-model losses, named by loss
    panels: list[MetricPanel]        # one per STANDARD_PANELS entry
    not_logged: list[str]            # standard panels the run logged no column for
    config: list[str]                # 'key: value' of the configuration's scalars, key order
    summary: RunSummary              # final, best and at-best-step values of every metric
    numbers: Numbers


def config_entries(config: dict) -> list[str]:
    """Scalar configuration entries as 'key: value' text, in key order (characters the TeX
    text font cannot print replaced by spaces)."""
    lines = []
    for key in sorted(config):
        value = config[key]
        if isinstance(value, (dict, list)) or key == "code_hash":
            continue
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(re.sub(r"[\"<>\\\\_{|}~]", " ", f"{key}: {text}"))
    return lines


def dashboard_result(run: Run) -> Dashboard:
    label = run_label(run)
    logged, _ = run_stats.logged_metrics(run)
    losses = run_stats.loss_columns(run)
    language_model = [name for name in losses
                      if run_stats.is_language_model_loss(name, run.config)]
    perplexities = []
    for name in language_model[:MAX_LOSSES]:
        steps, values = run.series(name)
        perplexities.append(run_stats.plain_curve(name, steps, portable.exp(values)))
    shown = [(title, run_stats.first_logged(run, *names)) for title, names in STANDARD_PANELS]
    # Slots of metrics this run did not log show the run's other metrics instead.
    used = set(losses) | {name for _, name in shown if name}
    others = iter([name for name in logged
                   if name not in used and name not in run_stats.BOOKKEEPING
                   and not name.startswith(("samples_", "flops_"))])
    panels = []
    for title, name in shown:
        if name is None:
            title, name = None, next(others, None)
        curve = run_stats.metric_curve(run, name, SMOOTHING) if name else None
        panels.append(MetricPanel(title=title, curve=curve))
    summary = run_stats.summarize(run)
    numbers = Numbers()
    numbers.add(f"Rows{spell(label)}", summary.rows, ",d")
    return Dashboard(
        label=label, path=run.path,
        losses=[run_stats.metric_curve(run, name, SMOOTHING) for name in losses[:MAX_LOSSES]],
        perplexities=perplexities, panels=panels,
        not_logged=[title.lower() for title, name in shown if name is None],
        config=config_entries(run.config), summary=summary, numbers=numbers)


def dashboard(fig, board: Dashboard):
    axes = fig.subplots(2, 3).ravel()
    ax = axes[0]
    if board.losses:
        for i, curve in enumerate(board.losses):
            color, linestyle = loss_style(curve.name, i)
            draw_curve(ax, curve, color, label=display(curve.name), linestyle=linestyle)
        log_if_wide(ax, np.concatenate([curve.values for curve in board.losses]))
        ax.set_xlabel("step")
        legend_above(fig, ax, ncols=4, narrow_ncols=2, fontsize=SMALL)
        panel_title(ax, "a", "Loss")
    else:
        note(ax, "no loss column logged")
    ax = axes[1]
    if board.perplexities:
        for i, curve in enumerate(board.perplexities):
            color, linestyle = loss_style(curve.name, i)
            ax.plot(curve.drawn.steps, curve.drawn.values, color=color, ls=linestyle)
        log_if_wide(ax, np.concatenate([curve.values for curve in board.perplexities]))
        ax.set_xlabel("step")
        panel_title(ax, "b", "Perplexity, exp(loss)")
    else:
        note(ax, "no perplexity: not a\nlanguage-model loss")
    for ax, letter, panel in zip(axes[2:5], "cde", board.panels, strict=True):
        if panel.curve is None:
            note(ax, "nothing else logged")
            continue
        draw_curve(ax, panel.curve, BLUE, raw=panel.curve.name != "learning_rate")
        ax.set_xlabel("step")
        panel_title(ax, letter, panel.title or panel_name(panel.curve.name, 16).capitalize())
    ax = axes[5]
    ax.set_axis_off()
    width = int(6 * fig.get_figwidth()) - 2  # characters that fit a third of the figure
    lines = [line if len(line) <= width else line[:width - 3] + "..."
             for line in board.config[:CONFIG_LINES]] or ["no config.json"]
    if board.not_logged:
        lines += [""] + textwrap.wrap("not logged: " + ", ".join(board.not_logged), width)
    ax.text(0.0, 1.0, "\n".join(lines), ha="left", va="top", fontsize=SMALL,
            transform=ax.transAxes, linespacing=1.3)
    ax.set_title("(f) Configuration", loc="left")


# ---- training_curves_<run> ---------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingCurves:
    """Every metric a run logged against step, and the columns it never logged."""
    curves: list[Curve]              # in column order, without the epoch (the clock)
    never_logged: list[str]
    numbers: Numbers


def plotted_metrics(run: Run) -> tuple[list[str], list[str]]:
    """(metrics drawn, metrics never logged): the epoch is the clock, not a metric."""
    logged, never_logged = run_stats.logged_metrics(run)
    return [name for name in logged if name != "epoch"], never_logged


def training_curves_height(run: Run) -> float:
    """Inches: three panels a row, and a line for the metrics never logged."""
    drawn, never_logged = plotted_metrics(run)
    height = 0.75 * 2.0 * math.ceil(max(len(drawn), 1) / 3) + 0.35 * bool(never_logged)
    return max(height, 1.6)


def training_curves_result(run: Run) -> TrainingCurves:
    drawn, never_logged = plotted_metrics(run)
    return TrainingCurves(
        curves=[run_stats.metric_curve(run, name, SMOOTHING) for name in drawn],
        never_logged=never_logged, numbers=Numbers())


def training_curves(fig, curves: TrainingCurves):
    cols = 3
    rows = math.ceil(max(len(curves.curves), 1) / cols)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, curve in zip(axes, curves.curves, strict=False):  # spare panels stay empty
        draw_curve(ax, curve, BLUE)
        ax.set_title(panel_name(curve.name), loc="left")
        ax.set_xlabel("step")
        if "loss" in curve.name.lower():
            log_if_wide(ax, curve.values)
    for ax in axes[len(curves.curves):]:
        ax.set_axis_off()
    if curves.never_logged:
        fig.supxlabel("not drawn, never logged: " + ", ".join(display(name)
                                                               for name in curves.never_logged),
                      fontsize=SMALL)


# ---- loss_distribution_<run> -------------------------------------------------------------------
@dataclass(frozen=True)
class LossDistribution:
    """The training loss per epoch (or per tenth of the run): its values and their boxes."""
    metric: str | None               # None: the run logged no loss
    labels: list[int]                # epoch numbers, or tenths 1..10
    groups: list[np.ndarray]         # the logged values of each group
    boxes: list[BoxStats]            # quartiles, whiskers and outliers of each group
    by_epoch: bool
    positive: bool                   # every value > 0: a log scale is possible
    numbers: Numbers


def loss_distribution_result(run: Run) -> LossDistribution:
    metric = run_stats.first_logged(run, *TRAIN_LOSSES, *run_stats.loss_columns(run))
    if metric is None:
        return LossDistribution(metric=None, labels=[], groups=[], boxes=[], by_epoch=False,
                                positive=False, numbers=Numbers())
    grouped = run_stats.epoch_groups(run.column("step"), run.column(metric),
                                     run.metrics.get("epoch"))
    return LossDistribution(
        metric=metric, labels=grouped.labels, groups=grouped.groups,
        boxes=[run_stats.box_stats(group) for group in grouped.groups],
        by_epoch=grouped.by_epoch, positive=all(np.all(group > 0) for group in grouped.groups),
        numbers=Numbers())


def loss_distribution(fig, distribution: LossDistribution):
    ax = fig.subplots()
    if distribution.metric is None:
        note(ax, "no loss column logged")
        return
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
        log_if_wide(ax, np.concatenate(distribution.groups))


# ---- optimization_dynamics_<run> ---------------------------------------------------------------
@dataclass(frozen=True)
class OptimizationDynamics:
    """Generalization gap, norms, and the rate at which the training loss improves."""
    train: str | None                # the training loss column, if logged
    validation: str | None           # the validation loss column, if logged
    gap: Curve | None                # validation minus training loss (needs both)
    norms: list[Curve]               # the first two gradient or weight norms logged
    rate: Curve | None               # -d log(smoothed training loss) / d step
    numbers: Numbers


def optimization_dynamics_result(run: Run) -> OptimizationDynamics:
    train = run_stats.first_logged(run, *TRAIN_LOSSES)
    validation = run_stats.first_logged(run, *VALIDATION_LOSSES)
    norms = [name for name in NORMS if run_stats.first_logged(run, name)]
    return OptimizationDynamics(
        train=train, validation=validation,
        gap=run_stats.generalization_gap(run, train, validation) if train and validation
        else None,
        norms=[run_stats.metric_curve(run, name, SMOOTHING) for name in norms[:2]],
        rate=run_stats.improvement_rate(run, train, SMOOTHING) if train else None,
        numbers=Numbers())


def optimization_dynamics(fig, dynamics: OptimizationDynamics):
    axes = fig.subplots(1, 3)
    ax = axes[0]
    if dynamics.gap is not None:
        ax.plot(dynamics.gap.drawn.steps, dynamics.gap.drawn.values, color=PURPLE)
        ax.axhline(0, color=MUTED, lw=0.5)
        ax.set_xlabel("step")
        ax.set_ylabel(display(f"{dynamics.validation} $-$ {dynamics.train}"))
        panel_title(ax, "a", "Generalization gap")
    else:
        note(ax, "gap: needs a training\nand a validation loss")
    ax = axes[1]
    if dynamics.norms:
        for i, curve in enumerate(dynamics.norms):
            draw_curve(ax, curve, SERIES_COLORS[i], label=display(curve.name),
                       linestyle=LINESTYLES[i])
        ax.set_xlabel("step")
        if len(dynamics.norms) > 1:
            legend_above(fig, ax, ncols=2, narrow_ncols=1, fontsize=SMALL)
            panel_title(ax, "b", "Norms")
        else:
            panel_title(ax, "b", display(dynamics.norms[0].name).capitalize())
    else:
        note(ax, "no gradient or weight\nnorm logged")
    ax = axes[2]
    if dynamics.rate is not None:
        ax.plot(dynamics.rate.drawn.steps, dynamics.rate.drawn.values, color=GREEN, lw=0.8)
        ax.axhline(0, color=MUTED, lw=0.5)
        ax.set_xlabel("step")
        ax.set_ylabel("$-\\,d \\log(\\mathrm{loss}) / d\\,$step")
        panel_title(ax, "c", "Improvement rate")
    elif dynamics.train:
        note(ax, "too few positive loss\nvalues for a rate")
    else:
        note(ax, "no training loss logged")


# ---- comparison_dashboard (several runs) -------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """Several runs on the loss they share: the curves aligned on step, each run's best."""
    metric: str
    labels: list[str]                # run labels, in the order given
    curves: list[Curve]              # the metric of each run
    best: list[float]                # the lowest value each run reached
    numbers: Numbers


def common_metric(runs: list[Run], candidates) -> str:
    """The first of `candidates` that every run logged; RunError if none."""
    for name in candidates:
        if all(name in run_stats.logged_metrics(run)[0] for run in runs):
            return name
    raise RunError(f"runs {', '.join(run.name for run in runs)} share none of {candidates}")


def comparison_dashboard_result(runs: list[Run]) -> Comparison:
    metric = common_metric(runs, COMPARED_LOSSES)
    return Comparison(
        metric=metric, labels=[run_label(run) for run in runs],
        curves=[run_stats.metric_curve(run, metric, SMOOTHING) for run in runs],
        best=[float(np.nanmin(run.column(metric))) for run in runs], numbers=Numbers())


def run_style(i: int) -> dict:
    """Up to 8 runs: six colour-blind-safe colours, then again with another line style."""
    return {"color": SERIES_COLORS[i % len(SERIES_COLORS)],
            "linestyle": LINESTYLES[(i // len(SERIES_COLORS)) * 2 % len(LINESTYLES)]}


def comparison_dashboard(fig, comparison: Comparison):
    ax_curve, ax_best = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
    for i, (label, curve) in enumerate(zip(comparison.labels, comparison.curves,
                                           strict=True)):
        style = run_style(i)
        draw_curve(ax_curve, curve, style["color"], label=display(label),
                   linestyle=style["linestyle"], raw=False)
    log_if_wide(ax_curve, np.concatenate([curve.values for curve in comparison.curves]))
    ax_curve.set_xlabel("step")
    ax_curve.set_ylabel(display(comparison.metric))
    panel_title(ax_curve, "a", display(comparison.metric).capitalize())
    best = comparison.best
    rows = np.arange(len(best))[::-1]
    ax_best.barh(rows, best, 0.6, color=[run_style(i)["color"] for i in range(len(best))])
    for row, value in zip(rows, best, strict=True):
        ax_best.text(value, row, f" {value:.3g}", va="center", fontsize=SMALL)
    ax_best.set_yticks(rows, [display(label) for label in comparison.labels])
    ax_best.set_xscale("log")
    ax_best.set_xlim(min(best) / 3, max(best) * 20)
    ax_best.set_xlabel(f"best {display(comparison.metric)}")
    panel_title(ax_best, "b", "Best value")
    legend_above(fig, ax_curve, ncols=4, narrow_ncols=2, fontsize=SMALL)


# ---- training_curves_comparison (several runs) -------------------------------------------------
@dataclass(frozen=True)
class SharedMetric:
    """One metric every compared run logged: its curve in each run, in run order."""
    name: str
    curves: list[Curve]


@dataclass(frozen=True)
class CurvesComparison:
    """Every metric the compared runs share (the first MAX_SHARED_METRICS), aligned on step."""
    labels: list[str]                # run labels, in the order given
    metrics: list[SharedMetric]
    numbers: Numbers


def shared_metrics(runs: list[Run]) -> list[str]:
    """Metrics every run logged, in the first run's column order, without the epoch."""
    logged = [run_stats.logged_metrics(run)[0] for run in runs]
    return [name for name in logged[0] if name != "epoch"
            and all(name in others for others in logged[1:])][:MAX_SHARED_METRICS]


def training_curves_comparison_height(runs: list[Run]) -> float:
    """Inches: a legend line, then three panels a row."""
    return 0.35 + 1.9 * math.ceil(len(shared_metrics(runs)) / 3)


def training_curves_comparison_result(runs: list[Run]) -> CurvesComparison:
    metrics = [SharedMetric(name=name,
                            curves=[run_stats.metric_curve(run, name, SMOOTHING)
                                    for run in runs])
               for name in shared_metrics(runs)]
    return CurvesComparison(labels=[run_label(run) for run in runs], metrics=metrics,
                            numbers=Numbers())


def training_curves_comparison(fig, comparison: CurvesComparison):
    cols = 3
    axes = np.atleast_1d(fig.subplots(math.ceil(len(comparison.metrics) / cols), cols)).ravel()
    for ax, metric in zip(axes, comparison.metrics, strict=False):  # spare panels stay empty
        for i, (label, curve) in enumerate(zip(comparison.labels, metric.curves, strict=True)):
            style = run_style(i)
            draw_curve(ax, curve, style["color"], label=display(label),
                       linestyle=style["linestyle"], raw=False)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_title(panel_name(metric.name), loc="left")
        ax.set_xlabel("step")
    for ax in axes[len(comparison.metrics):]:
        ax.set_axis_off()
    legend_above(fig, axes[0], ncols=4, narrow_ncols=2, fontsize=SMALL)


# ---- summary tables, from the dashboards' results ------------------------------------------------
def summary_printed(board: Dashboard) -> str:
    """The summary as printed on the terminal: one line per metric."""
    summary = board.summary
    head = (f"{board.path}: {summary.rows} rows; best step {summary.best_step:g} by "
            f"{summary.reference}")
    rows = [f"  {metric.name:24s} final {metric.final:<12.6g} best {metric.best:<12.6g} at "
            f"step {metric.best_step:<10g} at best step {metric.at_best:.6g}"
            for metric in summary.metrics]
    return "\n".join([head, *rows])


def summary_tex(board: Dashboard) -> str:
    """The summary as a LaTeX tabular: final, best and at-best-step value of every metric."""
    summary = board.summary
    best_step = summary.best_step
    tex = ["% Generated by scripts/experiments.py; do not edit.",
           f"% Run {board.path.name}: best step {best_step:g} by {summary.reference}.",
           "\\begin{tabular}{lrrrr}", "  metric & final & best & best at step & "
           f"at step {best_step:g} \\\\", "  \\hline"]
    for metric in summary.metrics:
        name = metric.name.replace("_", "\\_")
        tex.append(f"  {name} & {metric.final:.4g} & {metric.best:.4g} & {metric.best_step:g} & "
                   f"{metric.at_best:.4g} \\\\")
    tex.append("\\end{tabular}")
    return "\n".join(tex) + "\n"


# ---- registry ----------------------------------------------------------------------------------
def run_dashboard(registry: Registry, run: Run) -> Dashboard:
    """The dashboard result of `run` in `registry` (computed once per process)."""
    return registry.result(f"dashboard_{slug(run_label(run))}")


def build_registry(runs: list[Run], comparison: list[Run]) -> Registry:
    registry = Registry(TOPIC)
    for run in runs:
        name = slug(run_label(run))
        label = run_label(run).replace("_", "\\_")
        registry.add(f"dashboard_{name}", dashboard,
                     f"Dashboard of the recorded run {label}: loss, perplexity where the loss "
                     "is a language-model loss, learning rate, gradient norm, throughput and "
                     "the configuration.",
                     result=bind(dashboard_result, run), width=1.0, height=3.2)
        registry.add(f"training_curves_{name}", training_curves,
                     f"Every metric logged by the run {label} against step, each with a "
                     "light moving average that does not bridge gaps in the log.",
                     result=bind(training_curves_result, run), width=1.0,
                     height=training_curves_height(run))
        registry.add(f"loss_distribution_{name}", loss_distribution,
                     f"Distribution of the training loss of the run {label} per epoch (or per "
                     "tenth of the run when no epoch is logged).",
                     result=bind(loss_distribution_result, run), width=1.0, aspect=0.36)
        registry.add(f"optimization_dynamics_{name}", optimization_dynamics,
                     f"Optimization dynamics of the run {label}: generalization gap, parameter "
                     "and gradient norms, and the rate at which the training loss improves.",
                     result=bind(optimization_dynamics_result, run), width=1.0, aspect=0.34)
    if len(comparison) > 1:
        registry.add("comparison_dashboard", comparison_dashboard,
                     "Several recorded runs compared: the shared loss against step, aligned on "
                     "step, and the best value each run reached.",
                     result=bind(comparison_dashboard_result, comparison), width=1.0,
                     aspect=0.4)
        registry.add("training_curves_comparison", training_curves_comparison,
                     "Every metric the compared runs share, aligned on step, one colour and "
                     "line style per run.",
                     result=bind(training_curves_comparison_result, comparison), width=1.0,
                     height=training_curves_comparison_height(comparison))

    def summaries() -> dict[str, str]:
        return {f"summary_{slug(run_label(run))}.tex": summary_tex(run_dashboard(registry, run))
                for run in runs}
    registry.add_file(summaries)
    return registry


@lru_cache(maxsize=1)
def default_runs() -> tuple[list[Run], list[Run]]:
    data = ROOT / "data"
    runs = [load_run(data / name) for name in DEFAULT_RUNS if (data / name).is_dir()]
    base, pattern = DEFAULT_COMPARISON.split("/")
    compared = [load_run(p) for p in discover_runs(data / base, pattern)]
    return runs, (compared + [runs[0]])[:MAX_COMPARED]


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The figures of the project's own runs (built on first use: a user's runs never pay for
    loading them)."""
    return build_registry(*default_runs())


def __getattr__(name: str):
    if name == "FIGURES":  # the registry every topic module exposes
        return default_registry()
    raise AttributeError(name)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--discover", type=Path)
    parser.add_argument("--pattern", default="*")
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
        paths = list(own.runs)
        if own.discover is not None:
            found = discover_runs(own.discover, own.pattern)
            if not found:
                raise UsageError(f"no runs under {own.discover} match {own.pattern!r}")
            paths += found
        if own.outdir is None:
            raise UsageError("give --outdir DIR for your own runs (images/experiments/ holds "
                             "the project's)")
        if len(paths) > MAX_COMPARED:
            raise UsageError(f"{len(paths)} runs; at most {MAX_COMPARED} can be compared legibly")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MissingConfigWarning)
            runs = [load_run(p, require_config=False) for p in paths]
        for warning in caught:
            print(f"experiments.py: warning: {warning.message}", file=sys.stderr)
        names = [slug(run_label(r)) for r in runs]
        if len(set(names)) != len(names):
            raise UsageError(f"two runs share a name: {', '.join(names)}")
    except (UsageError, RunError) as error:
        print(f"experiments.py: error: {error}", file=sys.stderr)
        return 2
    registry = build_registry(runs, runs)
    for run in runs:
        print(summary_printed(run_dashboard(registry, run)))
    return registry.main(rest)


if __name__ == "__main__":
    sys.exit(main())
