"""Sparse training figures: adaptive sample gating with a PI-controlled threshold, measured.

Run `python scripts/sparse_training.py --help`. The runs are recorded by
scripts/recorders/sparse_training.py (`make data`, with the experiment code of
numerics.sparse_training) into data/sparse_training/<run>/ and read with the toolkit's run
loader; which runs exist (targets, seeds, checkpoints) is the recorder's specification. Cost is
counted, not timed: every forward pass (the scoring pass over every sample included) and every
backward pass, in FLOPs from the model's shapes. Related work: Selective-Backprop (Jiang et al.
2019, arXiv 1910.00762).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
from matplotlib.ticker import LogLocator, NullFormatter

from figkit import Registry, diagram
from figkit.annotate import legend_above, panel_title
from figkit.charts import log_if_wide
from figkit.numbers import Numbers
from figkit.palette import BLUE, GREEN, GREY, INK, MUTED, PURPLE, YELLOW, series, tint
from figkit.registry import ROOT
from figkit.style import SMALL
from recorders.sparse_training import RUNS, SEEDS, TARGETS
from records import Run, load_run

FIGURES = Registry("sparse_training")
DATA = ROOT / "data" / "sparse_training"
#: The target activation rate of the recorded gated run that the single-run figures show.
MAIN_TARGET = 0.1
MAIN = f"gated_{MAIN_TARGET:g}"
MAIN_PERCENT = f"{100 * MAIN_TARGET:g}\\,\\%"  # as the captions write it
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten")


@cache
def run(name: str) -> Run:
    return load_run(DATA / name)


def seeds(name: str) -> list[Run]:
    """The run and its seed replicas (<name>_s1, ...)."""
    paths = [DATA / name] + sorted(DATA.glob(f"{name}_s*"))
    return [run(path.name) for path in paths if path.is_dir()]


@dataclass(frozen=True)
class Curve:
    """One logged metric against the training step."""
    steps: np.ndarray
    values: np.ndarray


def percent(recorded: Run, column: str) -> Curve:
    """A logged share (0 to 1) as a percentage, on the steps where it was logged."""
    steps, values = recorded.series(column)
    return Curve(steps, 100 * values)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GatingDiagram:
    """The gating loop, drawn from its description: nothing is measured or exported."""
    numbers: Numbers


def architecture_diagram_result() -> GatingDiagram:
    return GatingDiagram(numbers=Numbers())


@FIGURES.figure(
    caption="Adaptive sample gating: a cheap forward pass scores every sample of the batch, "
            "a threshold steered by a PI controller towards a target activation rate selects "
            "the significant ones, and only those are back-propagated.",
    result=architecture_diagram_result, width=1.0, height=2.2)
def architecture_diagram(fig, gating: GatingDiagram):
    ax = diagram.canvas(fig, (0, 12), (0, 5))
    batch = diagram.box(ax, 1.0, 3.2, "batch\n$B$ samples", color=BLUE)
    score = diagram.box(ax, 3.6, 3.2, "scoring forward\npass on all $B$:\nloss per sample",
                        color=BLUE, fontsize=SMALL)
    gate = diagram.box(ax, 6.4, 3.2, "gate:\nscore $>$ threshold", color=YELLOW, fontsize=SMALL)
    mask = diagram.box(ax, 8.8, 3.2, "active mask\n($\\approx$ target share)", color=GREEN,
                       fontsize=SMALL)
    step = diagram.box(ax, 11.0, 3.2, "backward and\nupdate on the\nactive samples",
                       color=GREEN, fontsize=SMALL)
    pi = diagram.box(ax, 6.4, 0.9, "PI controller: threshold $+$= "
                     "$K_p e + K_i \\sum e$,\n$e$ = smoothed rate $-$ target", color=PURPLE,
                     fontsize=SMALL)
    for start, end in ((batch, score), (score, gate), (gate, mask), (mask, step)):
        diagram.link(ax, start, end, (1, 0.5), (0, 0.5))
    diagram.link(ax, mask, pi, (0.5, 0), (1, 0.6), connectionstyle="arc3,rad=-0.3")
    diagram.link(ax, pi, gate, (0.5, 1), (0.5, 0))
    ax.text(9.3, 2.05, "activation rate", ha="left", va="center", fontsize=SMALL, color=MUTED)
    ax.text(0.1, 4.85, "every sample costs a forward pass; only active ones a backward pass",
            ha="left", va="top", fontsize=SMALL, color=MUTED)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RateTracking:
    """The main gated run's activation rate against its target, in %."""
    per_batch: Curve
    smoothed: Curve
    target_percent: float


@cache
def rate_tracking() -> RateTracking:
    gated = run(MAIN)
    return RateTracking(per_batch=percent(gated, "activation_rate"),
                        smoothed=percent(gated, "activation_rate_smoothed"),
                        target_percent=100 * gated.config["rate"])


def per_epoch(recorded: Run, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, increase of a cumulative column during each epoch) from the logged rows."""
    epoch, values = recorded.column("epoch"), recorded.column(column)
    keep = ~np.isnan(epoch) & ~np.isnan(values)
    epoch, values = epoch[keep], values[keep]
    epochs = np.unique(epoch[epoch >= 1]).astype(int)
    ends = np.array([values[epoch <= e].max() for e in np.concatenate([[0], epochs])])
    return epochs, np.diff(ends)


def gigaflops(recorded: Run, column: str) -> Curve:
    """A cumulative FLOP count in units of 10^9."""
    steps, flops = recorded.series(column)
    return Curve(steps, flops / 1e9)


@dataclass(frozen=True)
class TrainingComparison:
    """The main gated run against full training on the same batches; curves keyed "full" and
    "gated", in drawing order."""
    loss: dict[str, Curve]             # training loss of the trained samples
    accuracy: dict[str, Curve]         # validation accuracy, %
    rate: RateTracking
    epochs: np.ndarray
    saved_percent: np.ndarray          # compute saved in each epoch, % of full training's
    cumulative_gigaflops: dict[str, Curve]
    scoring_gigaflops: Curve           # the gated run's forward (scoring) passes alone
    trained: np.ndarray                # samples back-propagated in each epoch
    skipped: np.ndarray                # samples scored but not back-propagated in each epoch
    numbers: Numbers


def training_results_result() -> TrainingComparison:
    gated, full = run(MAIN), run("full")
    runs = {"full": full, "gated": gated}
    numbers = Numbers()
    numbers.add("GatedAcc", 100 * gated.config["final_val_acc"], ".1f")
    numbers.add("FullAcc", 100 * full.config["final_val_acc"], ".1f")
    rate = rate_tracking()
    numbers.add("TargetRate", rate.target_percent, "g")
    numbers.add("TrackedRate", 100 * gated.config["smoothed_rate_last_third_mean"], ".2f")
    epochs, gated_flops = per_epoch(gated, "flops_total")
    _, full_flops = per_epoch(full, "flops_total")
    numbers.add("SavedPercent", 100 * (1 - gated.config["flops_fraction_of_full"]), ".0f")
    _, processed = per_epoch(gated, "samples_processed")
    _, trained = per_epoch(gated, "samples_trained")
    return TrainingComparison(
        loss={label: Curve(*source.series("train_loss")) for label, source in runs.items()},
        accuracy={label: percent(source, "val_acc") for label, source in runs.items()},
        rate=rate,
        epochs=epochs,
        saved_percent=100 * (1 - gated_flops / full_flops),
        cumulative_gigaflops={label: gigaflops(source, "flops_total")
                              for label, source in runs.items()},
        scoring_gigaflops=gigaflops(gated, "flops_forward"),
        trained=trained,
        skipped=processed - trained,
        numbers=numbers)


@FIGURES.figure(
    caption=f"The recorded gated run at a {MAIN_PERCENT} target against full training on the "
            "same batches: training loss, validation accuracy, the activation rate against its "
            "target, compute saved per epoch, cumulative cost counted in FLOPs (scoring passes "
            "included), and samples processed against samples trained.",
    result=training_results_result, width=1.0, height=3.6)
def training_results(fig, comparison: TrainingComparison):
    axes = fig.subplots(2, 3).ravel()
    gated_style, full_style = series(2)
    styles = {"full": full_style, "gated": gated_style}

    ax = axes[0]
    for label, curve in comparison.loss.items():
        ax.plot(curve.steps, curve.values, color=styles[label]["color"],
                ls=styles[label]["linestyle"], lw=0.6, label=label)
    log_if_wide(ax, np.concatenate([curve.values for curve in comparison.loss.values()]))
    ax.set_xlabel("step")
    panel_title(ax, "a", "Training loss")

    ax = axes[1]
    for label, curve in comparison.accuracy.items():
        ax.plot(curve.steps, curve.values, color=styles[label]["color"],
                ls=styles[label]["linestyle"])
    ax.set_xlabel("step")
    ax.set_ylabel("%")
    panel_title(ax, "b", "Val. accuracy")

    ax = axes[2]
    rate = comparison.rate
    ax.plot(rate.per_batch.steps, rate.per_batch.values, color=tint(gated_style["color"], 0.6),
            lw=0.4)
    ax.plot(rate.smoothed.steps, rate.smoothed.values, color=gated_style["color"], lw=1.0)
    ax.axhline(rate.target_percent, color=INK, lw=0.7, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("%")
    ax.set_ylim(0, rate.target_percent * 3)
    panel_title(ax, "c", "Activation rate")

    ax = axes[3]
    ax.bar(comparison.epochs, comparison.saved_percent, 0.7, color=GREEN)
    ax.set_xlabel("epoch")
    ax.set_ylabel("% of full")
    ax.set_ylim(0, 100)
    panel_title(ax, "d", "Saved per epoch")

    ax = axes[4]
    for label, curve in comparison.cumulative_gigaflops.items():
        ax.plot(curve.steps, curve.values, color=styles[label]["color"],
                ls=styles[label]["linestyle"])
    scoring = comparison.scoring_gigaflops
    ax.plot(scoring.steps, scoring.values, color=INK, ls=":", lw=0.8,
            label="gated: scoring passes")
    ax.set_xlabel("step")
    ax.set_ylabel("GFLOP")
    panel_title(ax, "e", "Cumulative FLOPs")

    ax = axes[5]
    ax.bar(comparison.epochs, comparison.trained, 0.7, color=gated_style["color"],
           label="trained (backward)")
    ax.bar(comparison.epochs, comparison.skipped, 0.7, bottom=comparison.trained, color=GREY,
           label="skipped")
    ax.set_xlabel("epoch")
    ax.set_ylabel("samples")
    panel_title(ax, "f", "Trained, skipped")
    handles = axes[0].get_legend_handles_labels()
    extra = axes[4].get_legend_handles_labels()
    bars = axes[5].get_legend_handles_labels()
    fig.legend(handles[0] + extra[0], handles[1] + extra[1], loc="outside upper left",
               ncols=3, fontsize=SMALL)
    fig.legend(*bars, loc="outside upper right", ncols=2, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdAdaptation:
    """The controller's threshold (a per-sample loss) and the rate it steers, main gated run."""
    threshold: Curve
    rate: RateTracking
    numbers: Numbers


def threshold_adaptation_result() -> ThresholdAdaptation:
    gated = run(MAIN)
    rate = rate_tracking()
    numbers = Numbers()
    numbers.add("RateLastThird", 100 * gated.config["smoothed_rate_last_third_mean"], ".2f")
    numbers.add("RateLastThirdSd", 100 * gated.config["smoothed_rate_last_third_std"], ".2f")
    numbers.add("TargetRate", rate.target_percent, "g")
    return ThresholdAdaptation(threshold=Curve(*gated.series("threshold")), rate=rate,
                               numbers=numbers)


@FIGURES.figure(
    caption=f"The PI controller at work in the recorded {MAIN_PERCENT} run: the threshold on "
            "the per-sample loss adapts while the smoothed activation rate settles on the "
            "target read from the run's configuration.",
    result=threshold_adaptation_result, width=1.0, aspect=0.42)
def threshold_adaptation(fig, adaptation: ThresholdAdaptation):
    ax_threshold, ax_rate = fig.subplots(2, 1, sharex=True)
    ax_threshold.plot(adaptation.threshold.steps, adaptation.threshold.values, color=PURPLE)
    ax_threshold.set_ylabel("threshold\n(loss)")
    panel_title(ax_threshold, "a", "Threshold")
    rate = adaptation.rate
    ax_rate.plot(rate.per_batch.steps, rate.per_batch.values, color=tint(BLUE, 0.6), lw=0.4,
                 label="per batch")
    ax_rate.plot(rate.smoothed.steps, rate.smoothed.values, color=BLUE, lw=1.0,
                 label="smoothed")
    ax_rate.axhline(rate.target_percent, color=INK, ls=":", lw=0.8,
                    label=f"target {adaptation.numbers['TargetRate']} %")
    ax_rate.set_ylim(0, rate.target_percent * 3)
    ax_rate.set_xlabel("step")
    ax_rate.set_ylabel("activation\nrate (%)")
    mean = adaptation.numbers["RateLastThird"]
    panel_title(ax_rate, "b", f"Activation rate: {mean} % over the last third")
    legend_above(fig, ax_rate, ncols=3, narrow_ncols=3, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
def final_points(name: str) -> tuple[float, float, float]:
    """(mean compute as a share of full training, mean and sd of final accuracy) over seeds."""
    runs = seeds(name)
    compute = np.mean([replica.config["flops_fraction_of_full"] for replica in runs])
    accuracy = np.array([replica.config["final_val_acc"] for replica in runs])
    spread = accuracy.std(ddof=1) if len(accuracy) > 1 else 0
    return float(compute), float(accuracy.mean()), float(spread)


def random_rates() -> list[float]:
    """The selection rates of the recorded random runs (seed 0, noisy task)."""
    return sorted({float(path.name.split("_")[1]) for path in DATA.glob("random_*")
                   if path.name.count("_") == 1})


@dataclass(frozen=True)
class SelectionPoints:
    """One way of choosing the trained samples: per run, mean compute and mean and standard
    deviation of the final validation accuracy over its seeds, all in %."""
    label: str
    runs: tuple[str, ...]
    compute_percent: np.ndarray
    accuracy_percent: np.ndarray
    accuracy_sd_percent: np.ndarray


def selection_points(label: str, names: list[str]) -> SelectionPoints:
    points = np.array([final_points(name) for name in names])
    return SelectionPoints(label=label, runs=tuple(names), compute_percent=100 * points[:, 0],
                           accuracy_percent=100 * points[:, 1],
                           accuracy_sd_percent=100 * points[:, 2])


@dataclass(frozen=True)
class AccuracyVsCompute:
    """Final accuracy against counted compute for gated, random and full selection."""
    gated: SelectionPoints
    random: SelectionPoints
    full: SelectionPoints
    targets_percent: np.ndarray        # the gated runs' targets, labelling their points
    #: per gated target, the best mean accuracy (%) of the random runs that cost no more
    best_random_at_most_compute: np.ndarray
    matched_random_rate: float         # the random run whose compute is closest to MAIN's
    bayes_percent: float               # accuracy of the exact posterior: the ceiling
    numbers: Numbers


def accuracy_vs_compute_result() -> AccuracyVsCompute:
    rates = random_rates()
    gated = selection_points("gated by loss (scoring pass on every sample)",
                             [f"gated_{t:g}" for t in TARGETS])
    random = selection_points("random selection (no scoring pass)",
                              [f"random_{rate:g}" for rate in rates])
    full = selection_points("full training", ["full"])
    random_points = [final_points(f"random_{rate:g}") for rate in rates]
    best_random = []
    for target in TARGETS:
        compute = final_points(f"gated_{target:g}")[0]
        cheaper = [accuracy for cost, accuracy, _ in random_points if cost <= compute]
        best_random.append(100 * max(cheaper, default=-np.inf))
    gated_compute, gated_accuracy, _ = final_points(MAIN)
    matched = min(rates, key=lambda rate: abs(final_points(f"random_{rate:g}")[0]
                                             - gated_compute))
    bayes = run("full").config["bayes_val_acc"]
    numbers = Numbers()
    numbers.add("GatedTenAcc", 100 * gated_accuracy, ".1f")
    numbers.add("RandomMatchedAcc", 100 * final_points(f"random_{matched:g}")[1], ".1f")
    numbers.add("GatedTenCompute", 100 * gated_compute, ".0f")
    numbers.add("BayesAcc", 100 * bayes, ".1f")
    return AccuracyVsCompute(gated=gated, random=random, full=full,
                             targets_percent=100 * np.array(TARGETS),
                             best_random_at_most_compute=np.array(best_random),
                             matched_random_rate=matched, bayes_percent=100 * bayes,
                             numbers=numbers)


@FIGURES.figure(
    caption="Final validation accuracy against total counted compute (mean and standard "
            f"deviation over {NUMBER_WORDS[len(SEEDS)]} seeds): selecting samples by their loss "
            "does not beat choosing them at random at equal compute on this task, once the "
            "scoring pass is paid for.",
    result=accuracy_vs_compute_result, width=1.0, aspect=0.45)
def accuracy_vs_compute(fig, comparison: AccuracyVsCompute):
    ax = fig.subplots()
    groups = (comparison.gated, comparison.random, comparison.full)
    for group, style in zip(groups, series(3), strict=True):
        ax.errorbar(group.compute_percent, group.accuracy_percent,
                    yerr=group.accuracy_sd_percent,
                    ls=style["linestyle"] if len(group.runs) > 1 else "none",
                    marker=style["marker"], color=style["color"], capsize=2, label=group.label,
                    markersize=4)
    gated = comparison.gated
    for target, compute, accuracy in zip(comparison.targets_percent, gated.compute_percent,
                                         gated.accuracy_percent, strict=True):
        ax.annotate(f"{target:g} %", xy=(compute, accuracy), xytext=(5, -8),
                    textcoords="offset points", fontsize=SMALL)
    bayes = comparison.bayes_percent
    ax.axhline(bayes, color=MUTED, ls=":", lw=0.7)
    ax.text(100, bayes + 0.4, f"Bayes accuracy {comparison.numbers['BayesAcc']} %",
            fontsize=SMALL, color=MUTED, va="bottom", ha="right")
    ax.set_xscale("log")
    ax.set_xlabel("total compute, % of full training (FLOPs counted)")
    ax.set_ylabel("final validation accuracy (%)")
    ax.set_ylim(65, 97)
    legend_above(fig, ax, ncols=3, narrow_ncols=1, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
#: Histogram bins per decade of loss, shared by every panel.
BINS_PER_DECADE = 8


@dataclass(frozen=True)
class ScoreSnapshot:
    """The probe's significance scores at one checkpoint of the main gated run."""
    step: int
    scores: np.ndarray                 # per-sample loss of every probe sample
    threshold: float                   # the threshold the controller had set at that step
    above_percent: float               # share of the probe above the threshold


@dataclass(frozen=True)
class SignificanceDistribution:
    """The score distribution at each recorded checkpoint, in step order, over one set of
    log-spaced histogram edges."""
    snapshots: tuple[ScoreSnapshot, ...]
    bins: np.ndarray
    numbers: Numbers


def score_snapshot(gated: Run, step: int) -> ScoreSnapshot:
    checkpoint = gated.load_checkpoint(step)
    scores, threshold = checkpoint["scores"], float(checkpoint["threshold"][0])
    return ScoreSnapshot(step=step, scores=scores, threshold=threshold,
                         above_percent=100 * np.mean(scores > threshold))


def histogram_edges(scores: np.ndarray, per_decade: int = BINS_PER_DECADE) -> np.ndarray:
    """Edges at 10^(k / per_decade) enclosing every score. An edge that a score came within the
    last bits of could put it in either bin on another CPU (numpy's power differs in its last
    bits between SIMD kernels); the tests check that none comes close."""
    low = np.floor(per_decade * np.log10(scores.min()))
    high = np.ceil(per_decade * np.log10(scores.max()))
    return 10.0 ** (np.arange(low, high + 1) / per_decade)


def significance_distribution_result() -> SignificanceDistribution:
    gated = run(MAIN)
    snapshots = tuple(score_snapshot(gated, step) for step in sorted(gated.checkpoints))
    numbers = Numbers()
    numbers.add("ProbeSize", len(snapshots[-1].scores), "d")
    every_score = np.concatenate([snapshot.scores for snapshot in snapshots])
    return SignificanceDistribution(snapshots=snapshots, bins=histogram_edges(every_score),
                                    numbers=numbers)


@FIGURES.figure(
    caption="Distribution of the significance score (per-sample loss) on a fixed probe of "
            f"training samples at {NUMBER_WORDS[RUNS[MAIN]['n_checkpoints']]} points of the "
            f"recorded {MAIN_PERCENT} run, on one axis and one set of bins "
            f"({BINS_PER_DECADE} per decade), with the threshold the controller had set at "
            "that moment.",
    result=significance_distribution_result, width=1.0, aspect=0.36)
def significance_distribution(fig, distribution: SignificanceDistribution):
    snapshots = distribution.snapshots
    axes = fig.subplots(1, len(snapshots), sharex=True, sharey=True)
    for ax, snapshot in zip(axes, snapshots, strict=True):
        ax.hist(snapshot.scores, bins=distribution.bins, color=tint(BLUE, 0.3),
                edgecolor="white", linewidth=0.3)
        ax.axvline(snapshot.threshold, color=PURPLE, lw=1.0)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=4))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"step {snapshot.step}\n{snapshot.above_percent:.0f} % above",
                     fontsize=SMALL)
        ax.set_xlabel("loss")
    axes[0].set_ylabel("samples")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
