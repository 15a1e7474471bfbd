"""Sparse training figures: adaptive sample gating with a PI-controlled threshold, measured.

Run `python scripts/sparse_training.py --help`. The runs are recorded by
scripts/recorders/sparse_training.py (`make data`) into data/sparse_training/<run>/ and read with the
toolkit's run loader. Cost is counted, not timed: every forward pass (the scoring pass over every
sample included) and every backward pass, in FLOPs from the model's shapes. Related work:
Selective-Backprop (Jiang et al. 2019, arXiv 1910.00762).
"""
from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
from matplotlib.ticker import LogLocator, NullFormatter

from figkit import Registry, diagram
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.charts import log_if_wide
from figkit.palette import (BLUE, CYAN, GREEN, GREY, INK, LIGHT, MUTED, PURPLE, RED, YELLOW,
                            series, tint)
from figkit.registry import ROOT
from records import RunError, load_run

FIGURES = Registry("sparse_training")
DATA = ROOT / "data" / "sparse_training"


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Adaptive sample gating: a cheap forward pass scores every sample of the batch, "
            "a threshold steered by a PI controller towards a target activation rate selects "
            "the significant ones, and only those are back-propagated.",
    width=1.0, height=2.2)
def architecture_diagram(fig, numbers):
    ax = diagram.canvas(fig, (0, 12), (0, 5))
    batch = diagram.box(ax, 1.0, 3.2, "batch\n$B$ samples", color=BLUE)
    score = diagram.box(ax, 3.6, 3.2, "scoring forward\npass on all $B$:\nloss per sample",
                        color=BLUE, fontsize=7)
    gate = diagram.box(ax, 6.4, 3.2, "gate:\nscore $>$ threshold", color=YELLOW, fontsize=7)
    mask = diagram.box(ax, 8.8, 3.2, "active mask\n($\\approx$ target share)", color=GREEN,
                       fontsize=7)
    step = diagram.box(ax, 11.0, 3.2, "backward and\nupdate on the\nactive samples",
                       color=GREEN, fontsize=7)
    pi = diagram.box(ax, 6.4, 0.9, "PI controller: threshold $+$= "
                     "$K_p e + K_i \\sum e$,\n$e$ = smoothed rate $-$ target", color=PURPLE,
                     fontsize=7)
    for a, b in ((batch, score), (score, gate), (gate, mask), (mask, step)):
        diagram.link(ax, a, b, (1, 0.5), (0, 0.5))
    diagram.link(ax, mask, pi, (0.5, 0), (1, 0.6), connectionstyle="arc3,rad=-0.3")
    diagram.link(ax, pi, gate, (0.5, 1), (0.5, 0))
    ax.text(9.3, 2.05, "activation rate", ha="left", va="center", fontsize=7, color=MUTED)
    ax.text(0.1, 4.85, "every sample costs a forward pass; only active ones a backward pass",
            ha="left", va="top", fontsize=7, color=MUTED)


# --------------------------------------------------------------------------------------------
MAIN = "gated_0.1"
TARGETS = (0.05, 0.1, 0.2, 0.4)


@lru_cache(maxsize=None)
def run(name: str):
    return load_run(DATA / name)


def seeds(name: str) -> list:
    """The run and its seed replicas (<name>_s1, ...)."""
    paths = [DATA / name] + sorted(DATA.glob(f"{name}_s*"))
    return [run(p.name) for p in paths if p.is_dir()]


def per_epoch(r, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, increase of a cumulative column during each epoch) from the logged rows."""
    epoch, values = r.column("epoch"), r.column(column)
    keep = ~np.isnan(epoch) & ~np.isnan(values)
    epoch, values = epoch[keep], values[keep]
    epochs = np.unique(epoch[epoch >= 1]).astype(int)
    ends = np.array([values[epoch <= e].max() for e in np.concatenate([[0], epochs])])
    return epochs, np.diff(ends)


@FIGURES.figure(
    caption="The recorded gated run at a 10\\,\\% target against full training on the same "
            "batches: training loss, validation accuracy, the activation rate against its "
            "target, compute saved per epoch, cumulative cost counted in FLOPs (scoring passes "
            "included), and samples processed against samples trained.",
    width=1.0, height=3.6)
def training_results(fig, numbers):
    gated, full = run(MAIN), run("full")
    target = gated.config["rate"]
    axes = fig.subplots(2, 3).ravel()
    g_style, f_style = series(2)

    ax = axes[0]
    for r, style, label in ((full, f_style, "full"), (gated, g_style, "gated")):
        steps, loss = r.series("train_loss")
        ax.plot(steps, loss, color=style["color"], ls=style["linestyle"], lw=0.6, label=label)
    log_if_wide(ax, np.concatenate([r.series("train_loss")[1] for r in (full, gated)]))
    ax.set_xlabel("step")
    panel_title(ax, "a", "Training loss")

    ax = axes[1]
    for r, style in ((full, f_style), (gated, g_style)):
        steps, acc = r.series("val_acc")
        ax.plot(steps, 100 * acc, color=style["color"], ls=style["linestyle"])
    ax.set_xlabel("step")
    ax.set_ylabel("%")
    panel_title(ax, "b", "Val. accuracy")
    numbers.add("GatedAcc", 100 * gated.config["final_val_acc"], ".1f")
    numbers.add("FullAcc", 100 * full.config["final_val_acc"], ".1f")

    ax = axes[2]
    steps, rate = gated.series("activation_rate")
    ax.plot(steps, 100 * rate, color=tint(g_style["color"], 0.6), lw=0.4)
    steps, smooth = gated.series("activation_rate_smoothed")
    ax.plot(steps, 100 * smooth, color=g_style["color"], lw=1.0)
    ax.axhline(100 * target, color=INK, lw=0.7, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100 * target * 3)
    panel_title(ax, "c", "Activation rate")
    numbers.add("TargetRate", 100 * target, "g")
    numbers.add("TrackedRate", 100 * gated.config["smoothed_rate_last_third_mean"], ".2f")

    ax = axes[3]
    epochs, gated_flops = per_epoch(gated, "flops_total")
    _, full_flops = per_epoch(full, "flops_total")
    saved = 100 * (1 - gated_flops / full_flops)
    ax.bar(epochs, saved, 0.7, color=GREEN)
    ax.set_xlabel("epoch")
    ax.set_ylabel("% of full")
    ax.set_ylim(0, 100)
    panel_title(ax, "d", "Saved per epoch")
    numbers.add("SavedPercent", 100 * (1 - gated.config["flops_fraction_of_full"]), ".0f")

    ax = axes[4]
    for r, style in ((full, f_style), (gated, g_style)):
        steps, flops = r.series("flops_total")
        ax.plot(steps, flops / 1e9, color=style["color"], ls=style["linestyle"])
    steps, forward = gated.series("flops_forward")
    ax.plot(steps, forward / 1e9, color=INK, ls=":", lw=0.8, label="gated: scoring passes")
    ax.set_xlabel("step")
    ax.set_ylabel("GFLOP")
    panel_title(ax, "e", "Cumulative FLOPs")

    ax = axes[5]
    epochs, processed = per_epoch(gated, "samples_processed")
    _, trained = per_epoch(gated, "samples_trained")
    ax.bar(epochs, trained, 0.7, color=g_style["color"], label="trained (backward)")
    ax.bar(epochs, processed - trained, 0.7, bottom=trained, color=GREY, label="skipped")
    ax.set_xlabel("epoch")
    ax.set_ylabel("samples")
    panel_title(ax, "f", "Trained, skipped")
    handles = axes[0].get_legend_handles_labels()
    extra = axes[4].get_legend_handles_labels()
    bars = axes[5].get_legend_handles_labels()
    fig.legend(handles[0] + extra[0], handles[1] + extra[1], loc="outside upper left",
               ncols=3, fontsize=7)
    fig.legend(*bars, loc="outside upper right", ncols=2, fontsize=7)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The PI controller at work in the recorded 10\\,\\% run: the threshold on the "
            "per-sample loss adapts while the smoothed activation rate settles on the target "
            "read from the run's configuration.",
    width=1.0, aspect=0.42)
def threshold_adaptation(fig, numbers):
    gated = run(MAIN)
    target = gated.config["rate"]
    ax_t, ax_r = fig.subplots(2, 1, sharex=True)
    steps, threshold = gated.series("threshold")
    ax_t.plot(steps, threshold, color=PURPLE)
    ax_t.set_ylabel("threshold\n(loss)")
    panel_title(ax_t, "a", "Threshold")
    steps, rate = gated.series("activation_rate")
    ax_r.plot(steps, 100 * rate, color=tint(BLUE, 0.6), lw=0.4, label="per batch")
    steps, smooth = gated.series("activation_rate_smoothed")
    ax_r.plot(steps, 100 * smooth, color=BLUE, lw=1.0, label="smoothed")
    ax_r.axhline(100 * target, color=INK, ls=":", lw=0.8, label=f"target {100 * target:g} %")
    ax_r.set_ylim(0, 100 * target * 3)
    ax_r.set_xlabel("step")
    ax_r.set_ylabel("activation\nrate (%)")
    last = gated.config["smoothed_rate_last_third_mean"]
    mean = numbers.add("RateLastThird", 100 * last, ".2f")
    numbers.add("RateLastThirdSd", 100 * gated.config["smoothed_rate_last_third_std"], ".2f")
    panel_title(ax_r, "b", f"Activation rate: {mean} % over the last third")
    legend_above(fig, ax_r, ncols=3, narrow_ncols=3, fontsize=7)


# --------------------------------------------------------------------------------------------
def final_points(name: str) -> tuple[float, float, float]:
    """(mean compute as a share of full training, mean and sd of final accuracy) over seeds."""
    runs = seeds(name)
    compute = np.mean([r.config["flops_fraction_of_full"] for r in runs])
    acc = np.array([r.config["final_val_acc"] for r in runs])
    return float(compute), float(acc.mean()), float(acc.std(ddof=1) if len(acc) > 1 else 0)


@FIGURES.figure(
    caption="Final validation accuracy against total counted compute (mean and standard "
            "deviation over five seeds): selecting samples by their loss does not beat choosing "
            "them at random at equal compute on this task, once the scoring pass is paid for.",
    width=1.0, aspect=0.45)
def accuracy_vs_compute(fig, numbers):
    ax = fig.subplots()
    styles = {"gated": series(3)[0], "random": series(3)[1], "full": series(3)[2]}
    random_rates = sorted({float(p.name.split("_")[1]) for p in DATA.glob("random_*")
                           if p.name.count("_") == 1})
    groups = {"gated by loss (scoring pass on every sample)": [f"gated_{t:g}" for t in TARGETS],
              "random selection (no scoring pass)": [f"random_{r:g}" for r in random_rates],
              "full training": ["full"]}
    for (label, names), style in zip(groups.items(), styles.values()):
        points = np.array([final_points(n) for n in names])
        ax.errorbar(100 * points[:, 0], 100 * points[:, 1], yerr=100 * points[:, 2],
                    ls=style["linestyle"] if len(names) > 1 else "none",
                    marker=style["marker"], color=style["color"], capsize=2, label=label,
                    markersize=4)
    for t in TARGETS:
        compute, acc, _ = final_points(f"gated_{t:g}")
        ax.annotate(f"{100 * t:g} %", xy=(100 * compute, 100 * acc), xytext=(5, -8),
                    textcoords="offset points", fontsize=7)
    gated_compute, gated_acc, _ = final_points("gated_0.1")
    matched = min(random_rates, key=lambda r: abs(final_points(f"random_{r:g}")[0]
                                                   - gated_compute))
    numbers.add("GatedTenAcc", 100 * gated_acc, ".1f")
    numbers.add("RandomMatchedAcc", 100 * final_points(f"random_{matched:g}")[1], ".1f")
    numbers.add("GatedTenCompute", 100 * gated_compute, ".0f")
    bayes = run("full").config["bayes_val_acc"]
    ax.axhline(100 * bayes, color=MUTED, ls=":", lw=0.7)
    ax.text(100, 100 * bayes + 0.4, f"Bayes accuracy {100 * bayes:.1f} %", fontsize=7,
            color=MUTED, va="bottom", ha="right")
    ax.set_xscale("log")
    ax.set_xlabel("total compute, % of full training (FLOPs counted)")
    ax.set_ylabel("final validation accuracy (%)")
    ax.set_ylim(65, 97)
    legend_above(fig, ax, ncols=3, narrow_ncols=1, fontsize=7)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Distribution of the significance score (per-sample loss) on a fixed probe of "
            "training samples at five points of the recorded 10\\,\\% run, with the threshold "
            "the controller had set at that moment.",
    width=1.0, aspect=0.36)
def significance_distribution(fig, numbers):
    gated = run(MAIN)
    steps = sorted(gated.checkpoints)
    axes = fig.subplots(1, len(steps), sharey=True)
    for ax, step in zip(axes, steps):
        checkpoint = gated.load_checkpoint(step)
        scores, threshold = checkpoint["scores"], float(checkpoint["threshold"][0])
        bins = np.logspace(np.log10(max(scores.min(), 1e-6)), np.log10(scores.max()), 30)
        ax.hist(scores, bins=bins, color=tint(BLUE, 0.3), edgecolor="white", linewidth=0.3)
        ax.axvline(threshold, color=RED, lw=1.0)
        above = 100 * np.mean(scores > threshold)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=4))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"step {step}\n{above:.0f} % above", fontsize=7)
        ax.set_xlabel("loss")
    axes[0].set_ylabel("samples")
    numbers.add("ProbeSize", len(gated.load_checkpoint(steps[-1])["scores"]), "d")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
