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
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from figkit import Registry
from figkit.annotate import legend_above, panel_title
from figkit.charts import log_if_wide
from figkit.cli import UsageError
from figkit.numbers import spell
from figkit.palette import (BLUE, CYAN, GREEN, GREY, INK, LIGHT, LINESTYLES, MUTED, PURPLE,
                            RED, SERIES_COLORS, YELLOW, tint)
from figkit.registry import ROOT
from records import MissingConfigWarning, Run, RunError, discover_runs, load_run
from numerics import run_stats as rs

TOPIC = "experiments"
#: The project's own recorded runs shown by default: the main grokking run and the gated
#: sparse-training run, each with its own dashboards; the comparison figures set the grokking
#: weight-decay sweep beside the main grokking run.
DEFAULT_RUNS = ("grokking/main", "sparse_training/gated_0.1")
DEFAULT_COMPARISON = "grokking/wd_*"
MAX_COMPARED = 8


def display(name: str) -> str:
    """A metric or run name as text: the TeX text font prints '_' as an accent."""
    return name.replace("_", " ")


def panel_name(name: str, width: int = 20) -> str:
    """A metric name as a small panel's title, wrapped to fit a third of a narrow page."""
    import textwrap

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


def numeric_metrics(run: Run) -> tuple[list[str], list[str]]:
    """(metrics with values, metrics never logged), in column order, without `step`."""
    logged, empty = [], []
    for name in run.columns[1:]:
        (logged if np.any(~np.isnan(run.metrics[name])) else empty).append(name)
    return logged, empty


def first_of(run: Run, *candidates: str) -> str | None:
    logged, _ = numeric_metrics(run)
    return next((c for c in candidates if c in logged), None)


def loss_columns(run: Run) -> list[str]:
    logged, _ = numeric_metrics(run)
    return [name for name in logged if "loss" in name.lower()]


def loss_style(name: str, index: int) -> tuple[str, object]:
    """Training losses solid blue, validation/evaluation losses dashed red, others after."""
    lowered = name.lower()
    if lowered.startswith(("train", "loss")):
        return BLUE, "-"
    if lowered.startswith(("val", "eval", "valid", "test")):
        return RED, "--"
    return SERIES_COLORS[2 + index % 4], LINESTYLES[2 + index % 4]


def plot_metric(ax, run: Run, name: str, color, label=None, linestyle="-", raw=True):
    """A metric against step: the logged values faint, the gap-respecting average on top;
    downsampled to a few thousand points for drawing."""
    steps, values = run.series(name)
    if len(steps) == 1:
        ax.plot(steps, values, "o", color=color, label=label)
        return
    smooth = rs.ema_with_gaps(steps, values, alpha=0.2)
    if raw:  # same colour, faint: one series, not two
        ax.plot(*rs.downsample(steps, values), color=color, alpha=0.3, lw=0.5)
    ax.plot(*rs.downsample(steps, smooth), color=color, lw=1.1, ls=linestyle, label=label)


def note(ax, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=7, color=MUTED,
            transform=ax.transAxes, wrap=False)


def config_lines(config: dict, limit: int = 9, width: int = 34) -> list[str]:
    """Scalar configuration entries as 'key: value' lines, the first `limit` in key order."""
    lines = []
    for key in sorted(config):
        value = config[key]
        if isinstance(value, (dict, list)) or key == "code_hash":
            continue
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        text = re.sub(r"[\"<>\\\\_{|}~]", " ", f"{key}: {text}")
        lines.append(text if len(text) <= width else text[:width - 3] + "...")
    return lines[:limit]


# ---- per-run figures -------------------------------------------------------------------------
def draw_dashboard(run: Run):
    def dashboard(fig, numbers):
        axes = fig.subplots(2, 3).ravel()
        losses = loss_columns(run)
        ax = axes[0]
        if losses:
            for i, name in enumerate(losses[:4]):
                color, linestyle = loss_style(name, i)
                plot_metric(ax, run, name, color, label=display(name), linestyle=linestyle)
            log_if_wide(ax, np.concatenate([run.series(n)[1] for n in losses[:4]]))
            ax.set_xlabel("step")
            legend_above(fig, ax, ncols=4, narrow_ncols=2, fontsize=7)
            panel_title(ax, "a", "Loss")
        else:
            note(ax, "no loss column logged")
        ax = axes[1]
        lm = [name for name in losses if rs.is_language_model_loss(name, run.config)]
        if lm:
            for i, name in enumerate(lm[:4]):
                steps, values = run.series(name)
                color, linestyle = loss_style(name, i)
                ax.plot(*rs.downsample(steps, np.exp(values)), color=color, ls=linestyle)
            log_if_wide(ax, np.exp(np.concatenate([run.series(n)[1] for n in lm[:4]])))
            ax.set_xlabel("step")
            panel_title(ax, "b", "Perplexity, exp(loss)")
        else:
            note(ax, "no perplexity: not a\nlanguage-model loss")
        standard = [("Learning rate", ("learning_rate", "lr")),
                    ("Gradient norm", ("grad_norm", "gradient_norm")),
                    ("Throughput", ("tokens_per_second", "samples_per_second"))]
        shown = [(title, first_of(run, *names)) for title, names in standard]
        missing = [title.lower() for title, name in shown if name is None]
        # Slots of metrics this run did not log show the run's other metrics instead.
        used = set(losses) | {name for _, name in shown if name}
        others = iter([m for m in numeric_metrics(run)[0]
                       if m not in used and m not in rs.BOOKKEEPING
                       and not m.startswith(("samples_", "flops_"))])
        for ax, letter, (title, name) in zip(axes[2:5], "cde", shown):
            if name is None:
                name = next(others, None)
                title = panel_name(name, 16).capitalize() if name else None
            if name is None:
                note(ax, "nothing else logged")
                continue
            plot_metric(ax, run, name, BLUE, raw=name != "learning_rate")
            ax.set_xlabel("step")
            panel_title(ax, letter, title)
        ax = axes[5]
        ax.set_axis_off()
        width = int(6 * fig.get_figwidth()) - 2  # characters that fit a third of the figure
        lines = config_lines(run.config, limit=6, width=width) or ["no config.json"]
        if missing:
            import textwrap

            lines += [""] + textwrap.wrap("not logged: " + ", ".join(missing), width)
        ax.text(0.0, 1.0, "\n".join(lines), ha="left", va="top", fontsize=7,
                transform=ax.transAxes, linespacing=1.3)
        ax.set_title("(f) Configuration", loc="left")
        numbers.add(f"Rows{spell(run_label(run))}", len(run), ",d")
    return dashboard


def draw_training_curves(run: Run):
    logged, empty = numeric_metrics(run)
    logged = [m for m in logged if m != "epoch"]  # the clock, not a metric

    def training_curves(fig, numbers):
        n = max(len(logged), 1)
        cols = 3
        axes = np.atleast_1d(fig.subplots(math.ceil(n / cols), cols)).ravel()
        for ax, name in zip(axes, logged):
            plot_metric(ax, run, name, BLUE)
            ax.set_title(panel_name(name), loc="left")
            ax.set_xlabel("step")
            if "loss" in name.lower():
                log_if_wide(ax, run.series(name)[1])
        for ax in axes[len(logged):]:
            ax.set_axis_off()
        if empty:
            fig.supxlabel("not drawn, never logged: " + ", ".join(e.replace("_", " ")
                                                                   for e in empty), fontsize=7)
    return training_curves, 0.75 * 2.0 * math.ceil(max(len(logged), 1) / 3) + 0.35 * bool(empty)


def draw_loss_distribution(run: Run):
    def loss_distribution(fig, numbers):
        ax = fig.subplots()
        name = first_of(run, "train_loss", "loss", "training_loss", *loss_columns(run))
        if name is None:
            note(ax, "no loss column logged")
            return
        epochs = run.metrics.get("epoch")
        labels, groups = rs.epoch_groups(run.column("step"), run.column(name), epochs)
        positive = all(np.all(g > 0) for g in groups)
        ax.boxplot(groups, positions=np.arange(len(groups)), widths=0.6, showfliers=True,
                   patch_artist=True, boxprops=dict(facecolor=tint(BLUE, 0.6), color=BLUE),
                   medianprops=dict(color=INK), whiskerprops=dict(color=BLUE),
                   capprops=dict(color=BLUE),
                   flierprops=dict(marker="o", markersize=2, markeredgecolor=MUTED))
        ax.set_xticks(np.arange(len(groups)), [str(l) for l in labels])
        by_epoch = epochs is not None and np.any(~np.isnan(epochs))
        ax.set_xlabel("epoch" if by_epoch else "tenth of the run (by step)")
        ax.set_ylabel(name.replace("_", " "))
        if positive:
            log_if_wide(ax, np.concatenate(groups))
    return loss_distribution


def draw_optimization_dynamics(run: Run):
    def optimization_dynamics(fig, numbers):
        axes = fig.subplots(1, 3)
        train = first_of(run, "train_loss", "loss", "training_loss")
        val = first_of(run, "val_loss", "eval_loss", "validation_loss")
        ax = axes[0]
        if train and val:
            ts, tv = run.series(train)
            vs, vv = run.series(val)
            gap = vv - np.interp(vs, ts, tv)
            ax.plot(*rs.downsample(vs, gap), color=PURPLE)
            ax.axhline(0, color=MUTED, lw=0.5)
            ax.set_xlabel("step")
            ax.set_ylabel(f"{val} $-$ {train}".replace("_", " "))
            panel_title(ax, "a", "Generalization gap")
        else:
            note(ax, "gap: needs a training\nand a validation loss")
        ax = axes[1]
        norms = [n for n in ("grad_norm", "gradient_norm", "weight_norm", "param_norm")
                 if first_of(run, n)]
        if norms:
            for i, name in enumerate(norms[:2]):
                plot_metric(ax, run, name, SERIES_COLORS[i], label=display(name),
                            linestyle=LINESTYLES[i])
            ax.set_xlabel("step")
            if len(norms) > 1:
                legend_above(fig, ax, ncols=2, narrow_ncols=1, fontsize=7)
                panel_title(ax, "b", "Norms")
            else:
                panel_title(ax, "b", display(norms[0]).capitalize())
        else:
            note(ax, "no gradient or weight\nnorm logged")
        ax = axes[2]
        if train:
            steps, values = run.series(train)
            smooth = rs.ema_with_gaps(steps, values, alpha=0.2)
            if len(steps) > 2 and np.all(smooth > 0):
                rate = -np.diff(np.log(smooth)) / np.diff(steps)
                mid = (steps[1:] + steps[:-1]) / 2
                ax.plot(*rs.downsample(mid, rate), color=GREEN, lw=0.8)
                ax.axhline(0, color=MUTED, lw=0.5)
                ax.set_xlabel("step")
                ax.set_ylabel("$-\\,d \\log(\\mathrm{loss}) / d\\,$step")
                panel_title(ax, "c", "Improvement rate")
            else:
                note(ax, "too few positive loss\nvalues for a rate")
        else:
            note(ax, "no training loss logged")
    return optimization_dynamics


# ---- several runs ------------------------------------------------------------------------------
def run_style(i: int) -> dict:
    """Up to 8 runs: six colour-blind-safe colours, then again with another line style."""
    return {"color": SERIES_COLORS[i % len(SERIES_COLORS)],
            "linestyle": LINESTYLES[(i // len(SERIES_COLORS)) * 2 % len(LINESTYLES)]}


def draw_comparison_dashboard(runs: list[Run]):
    def comparison_dashboard(fig, numbers):
        ax_curve, ax_best = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
        metric = common_metric(runs, ("val_loss", "eval_loss", "train_loss", "loss"))
        for i, run in enumerate(runs):
            style = run_style(i)
            plot_metric(ax_curve, run, metric, style["color"], label=display(run_label(run)),
                        linestyle=style["linestyle"], raw=False)
        log_if_wide(ax_curve, np.concatenate([r.series(metric)[1] for r in runs]))
        ax_curve.set_xlabel("step")
        ax_curve.set_ylabel(display(metric))
        panel_title(ax_curve, "a", metric.replace("_", " ").capitalize())
        best = [np.nanmin(run.column(metric)) for run in runs]
        rows = np.arange(len(runs))[::-1]
        ax_best.barh(rows, best, 0.6, color=[run_style(i)["color"] for i in range(len(runs))])
        for row, value in zip(rows, best):
            ax_best.text(value, row, f" {value:.3g}", va="center", fontsize=7)
        ax_best.set_yticks(rows, [display(run_label(r)) for r in runs])
        ax_best.set_xscale("log")
        ax_best.set_xlim(min(best) / 3, max(best) * 20)
        ax_best.set_xlabel(f"best {metric.replace('_', ' ')}")
        panel_title(ax_best, "b", "Best value")
        legend_above(fig, ax_curve, ncols=4, narrow_ncols=2, fontsize=7)
    return comparison_dashboard


def draw_training_curves_comparison(runs: list[Run]):
    shared = [m for m in numeric_metrics(runs[0])[0] if m != "epoch"
              and all(m in numeric_metrics(r)[0] for r in runs[1:])][:6]

    def training_curves_comparison(fig, numbers):
        cols = 3
        axes = np.atleast_1d(fig.subplots(math.ceil(len(shared) / cols), cols)).ravel()
        for ax, name in zip(axes, shared):
            for i, run in enumerate(runs):
                style = run_style(i)
                plot_metric(ax, run, name, style["color"], label=display(run_label(run)),
                            linestyle=style["linestyle"], raw=False)
            ax.set_xscale("symlog", linthresh=10)
            ax.set_title(panel_name(name), loc="left")
            ax.set_xlabel("step")
        for ax in axes[len(shared):]:
            ax.set_axis_off()
        legend_above(fig, axes[0], ncols=4, narrow_ncols=2, fontsize=7)
    return training_curves_comparison, 0.35 + 1.9 * math.ceil(len(shared) / 3)


def common_metric(runs, candidates) -> str:
    for name in candidates:
        if all(name in numeric_metrics(r)[0] for r in runs):
            return name
    raise RunError(f"runs {', '.join(r.name for r in runs)} share none of {candidates}")


# ---- summary tables ------------------------------------------------------------------------------
def summary_text(run: Run) -> tuple[str, str]:
    """(printed table, LaTeX tabular) of final, best and at-best-step values of every metric."""
    summaries, reference, best_step = rs.summarize(run)
    head = f"{run.path}: {len(run)} rows; best step {best_step:g} by {reference}"
    rows = [f"  {s.name:24s} final {s.final:<12.6g} best {s.best:<12.6g} at step "
            f"{s.best_step:<10g} at best step {s.at_best:.6g}" for s in summaries]
    tex = ["% Generated by scripts/experiments.py; do not edit.",
           f"% Run {run.path.name}: best step {best_step:g} by {reference}.",
           "\\begin{tabular}{lrrrr}", "  metric & final & best & best at step & "
           f"at step {best_step:g} \\\\", "  \\hline"]
    for s in summaries:
        name = s.name.replace("_", "\\_")
        tex.append(f"  {name} & {s.final:.4g} & {s.best:.4g} & {s.best_step:g} & "
                   f"{s.at_best:.4g} \\\\")
    tex.append("\\end{tabular}")
    return "\n".join([head, *rows]), "\n".join(tex) + "\n"


# ---- registry ----------------------------------------------------------------------------------
def build_registry(runs: list[Run], comparison: list[Run]) -> Registry:
    registry = Registry(TOPIC)
    for run in runs:
        name = slug(run_label(run))
        label = run_label(run).replace("_", "\\_")
        registry.add(f"dashboard_{name}", draw_dashboard(run),
                     f"Dashboard of the recorded run {label}: loss, perplexity where the loss "
                     "is a language-model loss, learning rate, gradient norm, throughput and "
                     "the configuration.", width=1.0, height=3.2)
        draw, height = draw_training_curves(run)
        registry.add(f"training_curves_{name}", draw,
                     f"Every metric logged by the run {label} against step, each with a "
                     "light moving average that does not bridge gaps in the log.",
                     width=1.0, height=max(height, 1.6))
        registry.add(f"loss_distribution_{name}", draw_loss_distribution(run),
                     f"Distribution of the training loss of the run {label} per epoch (or per "
                     "tenth of the run when no epoch is logged).", width=1.0, aspect=0.36)
        registry.add(f"optimization_dynamics_{name}", draw_optimization_dynamics(run),
                     f"Optimization dynamics of the run {label}: generalization gap, parameter "
                     "and gradient norms, and the rate at which the training loss improves.",
                     width=1.0, aspect=0.34)
    if len(comparison) > 1:
        registry.add("comparison_dashboard", draw_comparison_dashboard(comparison),
                     "Several recorded runs compared: the shared loss against step, aligned on "
                     "step, and the best value each run reached.", width=1.0, aspect=0.4)
        draw, height = draw_training_curves_comparison(comparison)
        registry.add("training_curves_comparison", draw,
                     "Every metric the compared runs share, aligned on step, one colour and "
                     "line style per run.", width=1.0, height=height)

    def summaries():
        files = {}
        for run in runs:
            printed, tex = summary_text(run)
            files[f"summary_{slug(run_label(run))}.tex"] = tex
        return files
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
    parser.add_argument("--list", action="store_true")
    try:
        own = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    rest = ["--list"] if own.list else []
    for option in passed:
        value = getattr(own, option[2:])
        if value is not None:
            rest += [option, *(value if isinstance(value, list) else [value])]
    if own.help:
        print(__doc__)
        return default_registry().main(["--help"])
    if not own.runs and own.discover is None:
        for run in default_runs()[0]:
            print(summary_text(run)[0])
        return default_registry().main(rest)
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
    for run in runs:
        print(summary_text(run)[0])
    return build_registry(runs, runs).main(rest)


if __name__ == "__main__":
    sys.exit(main())
