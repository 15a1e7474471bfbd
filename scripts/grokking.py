"""Grokking figures: delayed generalization on modular addition, from recorded runs.

Run `python scripts/grokking.py --help`. The runs are recorded once by scripts/recorders/grokking.py
(`make data`) into data/grokking/<run>/ and read here with the toolkit's run loader; the
measurements (thresholds, phases, fitted sigmoid, Fourier spectrum, principal components) are
numerics.grokking_analysis. Sources: Power et al. 2022 (arXiv 2201.02177), Nanda et al. 2023
(arXiv 2301.05217), Liu et al. 2022, Omnigrok (arXiv 2210.01117).
"""
from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from figkit import Registry
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.numbers import spell
from figkit.palette import (BLUE, CYAN, GREEN, GREY, INK, LIGHT, MUTED, PURPLE, RED,
                            SEQUENTIAL_CMAP, YELLOW, series, tint)
from figkit.registry import ROOT
from records import RunError, load_run
from numerics import grokking_analysis as ga

FIGURES = Registry("grokking")
DATA = ROOT / "data" / "grokking"
MAIN = "main"
TRAIN, VAL = series(2)[0]["color"], series(2)[1]["color"]


@lru_cache(maxsize=None)
def run(name: str):
    return load_run(DATA / name)


@lru_cache(maxsize=1)
def main_phases() -> ga.Phases:
    r = run(MAIN)
    return ga.detect_phases(r.column("step"), r.column("train_acc"), r.column("val_acc"))


def sweep(prefix: str):
    """The recorded runs named <prefix>*, in name order."""
    paths = sorted(p for p in DATA.glob(f"{prefix}*") if p.is_dir())
    if not paths:
        raise RunError(f"{DATA}: no recorded runs named {prefix}*; run `make data`")
    return [run(p.name) for p in paths]


def log_steps(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("training step")


def mark_s1_s2(ax, phases: ga.Phases, numbers, label: bool = True, prefix: str = "") -> None:
    for step in (phases.s1, phases.s2):
        ax.axvline(step, color=MUTED, lw=0.6, ls=":")
    if label:
        s1 = numbers.add(f"{prefix}SOne", phases.s1, ",.0f")
        s2 = numbers.add(f"{prefix}STwo", phases.s2, ",.0f")
        ax.text(phases.s1, 1.02, f"$S_1$ = {s1}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7)
        ax.text(phases.s2, 1.02, f"$S_2$ = {s2}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="A recorded grokking run on $(a+b) \\bmod p$: training accuracy reaches 99\\,\\% at "
            "step $S_1$, validation accuracy reaches 95\\,\\% only at step $S_2$, many times "
            "later.",
    width=1.0, aspect=0.38)
def grokking_curves(fig, numbers):
    r = run(MAIN)
    draw_grokking_curves(fig, numbers, r, main_phases())
    numbers.add("Prime", r.config["p"], "d")
    numbers.add("TrainFraction", 100 * r.config["train_fraction"], ".0f")


def draw_grokking_curves(fig, numbers, r, phases: ga.Phases, prefix: str = "") -> None:
    """Accuracy and loss of a recorded run against log step, S1 and S2 marked and their ratio
    drawn; numbers exported as <prefix>SOne, <prefix>STwo, <prefix>DelayRatio."""
    ax_a, ax_b = fig.subplots(1, 2)
    for ax, metric in ((ax_a, "acc"), (ax_b, "loss")):
        for split, color, ls, label in (("train", TRAIN, "-", "training"),
                                        ("val", VAL, "--", "validation")):
            steps, values = r.series(f"{split}_{metric}")
            keep = steps > 0
            scale = 100 if metric == "acc" else 1
            ax.plot(steps[keep], scale * values[keep], color=color, ls=ls, label=label)
        log_steps(ax)
        mark_s1_s2(ax, phases, numbers, label=ax is ax_a, prefix=prefix)
    ratio = numbers.add(f"{prefix}DelayRatio", phases.delay_ratio, ".0f")
    ax_a.set_ylabel("accuracy (%)")
    ax_a.set_ylim(0, 104)
    ax_a.annotate("", xy=(phases.s2, 50), xytext=(phases.s1, 50),
                  arrowprops=arrow_props(arrowstyle="<->", shrinkA=0, shrinkB=0))
    ax_a.text(np.sqrt(phases.s1 * phases.s2), 53, f"$S_2 / S_1$ = {ratio}", ha="center",
              va="bottom")
    ax_b.set_yscale("log")
    ax_b.set_ylabel("cross-entropy loss")
    panel_title(ax_a, "a", "Accuracy")
    panel_title(ax_b, "b", "Loss")
    legend_above(fig, ax_a, ncols=2, narrow_ncols=2)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The generalization gap, training minus validation accuracy, of the recorded run: "
            "it opens as the network memorizes and closes only when it groks.",
    width=1.0, aspect=0.32)
def generalization_gap(fig, numbers):
    r, phases = run(MAIN), main_phases()
    steps = r.column("step")
    gap = 100 * (r.column("train_acc") - r.column("val_acc"))
    keep = steps > 0
    ax = fig.subplots()
    ax.fill_between(steps[keep], 0, gap[keep], color=tint(PURPLE, 0.6), lw=0)
    ax.plot(steps[keep], gap[keep], color=PURPLE)
    wide = np.flatnonzero(gap >= 95)
    first = numbers.add("GapWideStart", steps[wide[0]], ",.0f")
    last = numbers.add("GapWideEnd", steps[wide[-1]], ",.0f")
    ax.text(np.sqrt(phases.s1 * phases.s2), 50, f"gap of 95 points or more\nfrom step {first} "
            f"to step {last}", ha="center", va="center", fontsize=7)
    mark_s1_s2(ax, phases, numbers)
    log_steps(ax)
    ax.set_ylim(min(0, gap.min()) - 2, 110)
    ax.set_ylabel("train $-$ validation\naccuracy (points)")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Phases of the recorded run found from its accuracies: memorization until training "
            "accuracy reaches 99\\,\\%, circuit formation until validation accuracy starts to rise, "
            "and cleanup during the rise, located with a sigmoid fitted against log(step).",
    width=1.0, aspect=0.36)
def phase_transitions(fig, numbers):
    r, phases = run(MAIN), main_phases()
    steps = r.column("step")
    keep = steps > 0
    strip, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [0.09, 1]})
    spans = phases.spans(float(steps[-1]))
    # The phases come in order, so they take ordered colours of a colour-blind-safe map.
    shades = colormaps[SEQUENTIAL_CMAP](np.linspace(0.1, 1.0, len(spans)))
    for (name, (start, end)), shade in zip(spans.items(), shades):
        strip.axvspan(max(start, steps[keep][0]), end, color=tint(to_hex(shade), 0.4), lw=0,
                      label=name)
        if start > steps[keep][0]:
            ax.axvline(start, color=MUTED, lw=0.5, ls=":")
    strip.set_yticks([])
    strip.spines[["left", "bottom"]].set_visible(False)
    strip.tick_params(axis="x", which="both", length=0, labelbottom=False)
    ax.plot(steps[keep], 100 * r.column("train_acc")[keep], color=TRAIN, lw=0.9,
            label="training accuracy")
    ax.plot(steps[keep], 100 * r.column("val_acc")[keep], color=VAL, lw=0.9, ls="--",
            label="validation accuracy")
    x = np.logspace(np.log10(steps[keep][0]), np.log10(steps[-1]), 400)
    ax.plot(x, 100 * phases.sigmoid(np.log10(x)), color=INK, lw=0.8, ls=":",
            label="fitted sigmoid (validation)")
    decades = numbers.add("RiseDecades", phases.sigmoid.rise_decades, ".2f")
    start = numbers.add("RiseStart", phases.rise_start, ",.0f")
    end = numbers.add("RiseEnd", phases.rise_end, ",.0f")
    ax.text(np.sqrt(phases.s1 * phases.rise_start), 50, f"validation rise (10 to 90 %):\n"
            f"steps {start} to {end},\n{decades} decades of steps", ha="center", va="center",
            fontsize=7)
    log_steps(ax)
    ax.set_ylim(0, 105)
    ax.set_xlim(steps[keep][0], steps[-1])
    ax.set_ylabel("accuracy (%)")
    legend_above(fig, strip, ncols=4, narrow_ncols=2, fontsize=7)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize=7)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The parameter norm of the recorded run beside its validation accuracy: after "
            "memorization the norm grows to a peak, and validation accuracy rises while weight "
            "decay shrinks it again.",
    width=1.0, aspect=0.42)
def weight_norm(fig, numbers):
    r, phases = run(MAIN), main_phases()
    steps = r.column("step")
    keep = steps > 0
    ax_a, ax_b = fig.subplots(2, 1, sharex=True)
    norm = r.column("weight_norm")
    ax_a.plot(steps[keep], norm[keep], color=PURPLE)
    at_s1 = float(np.interp(phases.s1, steps, norm))
    at_s2 = float(np.interp(phases.s2, steps, norm))
    n1 = numbers.add("NormAtSOne", at_s1, ".0f")
    n2 = numbers.add("NormAtSTwo", at_s2, ".0f")
    numbers.add("WeightDecay", r.config["weight_decay"], "g")
    after = steps > phases.s1
    peak_index = np.flatnonzero(after)[int(np.argmax(norm[after]))]
    peak = numbers.add("NormPeak", norm[peak_index], ".0f")
    numbers.add("NormPeakStep", steps[peak_index], ",.0f")
    for step, value, text in ((phases.s1, at_s1, n1), (steps[peak_index], norm[peak_index], peak),
                              (phases.s2, at_s2, n2)):
        ax_a.plot(step, value, "o", color=PURPLE, markersize=3)
        ax_a.annotate(text, xy=(step, value), xytext=(6, 6), textcoords="offset points",
                      fontsize=7)
    ax_a.set_ylabel(r"$\|\theta\|_2$")
    panel_title(ax_a, "a", f"Parameter norm (weight decay {r.config['weight_decay']:g})")
    ax_b.plot(steps[keep], 100 * r.column("val_acc")[keep], color=VAL, ls="--")
    ax_b.set_ylabel("validation\naccuracy (%)")
    ax_b.set_ylim(0, 105)
    panel_title(ax_b, "b", "Validation accuracy")
    for ax in (ax_a, ax_b):
        mark_s1_s2(ax, phases, numbers, label=ax is ax_a)
    log_steps(ax_b)


# --------------------------------------------------------------------------------------------
KEY_SHARE = 0.8  # key frequencies: the fewest that hold this share of the embedding's power


@FIGURES.figure(
    caption="Fourier spectrum of the learned operand embedding along the token axis at "
            "initialisation and at the end of the recorded run: the power concentrates on a few "
            "key frequencies.",
    width=1.0, aspect=0.36)
def fourier_features(fig, numbers):
    r = run(MAIN)
    first, last = min(r.checkpoints), max(r.checkpoints)
    axes = fig.subplots(1, 2, sharey=True)
    counts = []
    for ax, letter, step in zip(axes, "ab", (first, last)):
        power = ga.fourier_power(r.load_checkpoint(step)["embedding"])
        key = ga.key_frequencies(power, KEY_SHARE)
        counts.append(len(key))
        k = np.arange(1, len(power))
        is_key = np.isin(k, key)
        ax.bar(k[~is_key], 100 * power[1:][~is_key], 0.8, color=GREY, label="other")
        ax.bar(k[is_key], 100 * power[1:][is_key], 0.8, color=BLUE,
               label=f"key: {len(key)} frequencies hold {KEY_SHARE:.0%}")
        ax.set_xlabel("frequency $k$ (cycles over the $p$ tokens)")
        ax.set_xlim(0, len(power))
        ax.legend(loc="upper right", fontsize=7)
        panel_title(ax, letter, f"Step {step:,}")
    numbers.add("KeyCountStart", counts[0], "d")
    numbers.add("KeyCountEnd", counts[1], "d")
    final = ga.key_frequencies(ga.fourier_power(r.load_checkpoint(last)["embedding"]), KEY_SHARE)
    numbers.add_list("KeyFrequencies", final, "d")
    numbers.add("KeyShare", 100 * KEY_SHARE, ".0f")
    axes[0].set_ylabel("share of power (%)")
    axes[0].set_ylim(0, 100 * max(ga.fourier_power(r.load_checkpoint(last)["embedding"])[1:])
                     * 1.45)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The operand embeddings of the recorded run at several checkpoints, projected on the "
            "plane of the strongest final Fourier frequency $k$ and joined in the order "
            "$a \\cdot k \\bmod p$: a circle forms as the network groks.",
    width=1.0, aspect=0.3)
def embedding_evolution(fig, numbers):
    r = run(MAIN)
    steps = sorted(r.checkpoints)
    chosen = [steps[0]] + [steps[i] for i in np.linspace(len(steps) // 2, len(steps) - 1, 4,
                                                          dtype=int)]
    final = r.load_checkpoint(steps[-1])["embedding"]
    k = int(np.argmax(ga.fourier_power(final)[1:]) + 1)
    p = len(final)
    order = np.argsort((k * np.arange(p)) % p)  # neighbours on the circle of frequency k
    numbers.add("CircleFrequency", k, "d")
    axes = fig.subplots(1, len(chosen))
    for ax, step in zip(axes, chosen):
        coords, share = ga.fourier_plane(r.load_checkpoint(step)["embedding"], k)
        xy = coords[order]
        ax.plot(np.append(xy[:, 0], xy[0, 0]), np.append(xy[:, 1], xy[0, 1]), color=GREY,
                lw=0.5)
        ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(p), cmap=SEQUENTIAL_CMAP, s=6, zorder=3,
                   linewidths=0)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[["left", "bottom"]].set_visible(False)
        ax.set_title(f"step {step:,}\n{100 * share:.0f} % of variance", fontsize=7)
        if step == steps[-1]:
            numbers.add("CircleShareEnd", 100 * share, ".0f")
        if step == steps[0]:
            numbers.add("CircleShareStart", 100 * share, ".0f")
    axes[len(axes) // 2].set_xlabel(f"plane of frequency $k$ = {k}; tokens joined in the order "
                                    f"of $a \\cdot {k}$ mod {p}")


# --------------------------------------------------------------------------------------------
def sweep_points(runs, key: str):
    """[(parameter value, S1, S2 or None, last step)] of runs, sorted by `key` in their config."""
    points = []
    for r in runs:
        steps = r.column("step")
        s1 = ga.first_step_at_least(steps, r.column("train_acc"), 0.99)
        s2 = ga.first_step_at_least(steps, r.column("val_acc"), 0.95)
        points.append((float(r.config[key]), s1, s2, float(steps[-1])))
    return sorted(points)


def draw_sweep(ax, points, labels, numbers, prefix: str) -> None:
    """S1 and S2 of each run at categorical positions; runs that never generalized get an
    upward triangle at their last step."""
    x = np.arange(len(points))
    s1 = [p[1] for p in points]
    ax.plot(x, s1, ls="none", marker="s", color=TRAIN, label="$S_1$: training accuracy 99 %")
    done = [i for i, p in enumerate(points) if p[2] is not None]
    ax.plot(x[done], [points[i][2] for i in done], ls="none", marker="o", color=VAL,
            label="$S_2$: validation accuracy 95 %")
    never = [i for i, p in enumerate(points) if p[2] is None]
    if never:
        ax.plot(x[never], [points[i][3] for i in never], ls="none", marker="^", mfc="white",
                color=VAL, label="not within the step budget")
    for i, (value, _, s2, last) in enumerate(points):
        key = prefix + spell(value)
        if s2 is not None:
            text = numbers.add(key, s2, ",.0f")
        else:
            text = "$>$ " + numbers.add(key + "Budget", last, ",.0f")
        ax.annotate(text, xy=(i, s2 if s2 is not None else last), xytext=(5, 0),
                    textcoords="offset points", va="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.5, len(points) - 0.1)
    ax.set_ylabel("training step")
    ax.set_ylim(min(s1) / 2, max(p[3] for p in points) * 2)


@FIGURES.figure(
    caption="Steps until the network memorizes ($S_1$) and generalizes ($S_2$) against the "
            "share of all pairs used for training, one recorded run each: the smaller the "
            "training set, the longer the delay.",
    width=0.8, aspect=0.55)
def train_fraction_sweep(fig, numbers):
    runs = sweep("frac_") + [run(MAIN)]
    points = sweep_points(runs, "train_fraction")
    ax = fig.subplots()
    draw_sweep(ax, points, [f"{100 * p[0]:.0f} %" for p in points], numbers, "Frac")
    ax.set_xlabel("training fraction of the $p^2$ pairs")
    legend_above(fig, ax, ncols=2, narrow_ncols=2, fontsize=7)


@FIGURES.figure(
    caption="Steps until the network memorizes ($S_1$) and generalizes ($S_2$) against the "
            "AdamW weight decay, one recorded run each: without enough weight decay the "
            "network memorizes but does not generalize within the step budget.",
    width=0.8, aspect=0.55)
def weight_decay_sweep(fig, numbers):
    runs = sweep("wd_") + [run(MAIN)]
    points = sweep_points(runs, "weight_decay")
    ax = fig.subplots()
    draw_sweep(ax, points, [f"{p[0]:g}" for p in points], numbers, "Wd")
    ax.set_xlabel("weight decay $\\lambda$")
    legend_above(fig, ax, ncols=2, narrow_ncols=2, fontsize=7)


# ============================================================================================
# A one-layer transformer on the same task (scripts/recorders/grokking_transformer.py)
TRANSFORMER = ROOT / "data" / "grokking_transformer" / "main"
POSITIONS = ("$a$", "$b$", "$=$")


@lru_cache(maxsize=1)
def transformer_run():
    return load_run(TRANSFORMER)


@lru_cache(maxsize=1)
def transformer_phases() -> ga.Phases:
    r = transformer_run()
    return ga.detect_phases(r.column("step"), r.column("train_acc"), r.column("val_acc"))


@FIGURES.figure(
    caption="A recorded one-layer transformer (four attention heads, numpy, hand-written "
            "backpropagation) learning $(a+b) \\bmod p$: it too memorizes at $S_1$ and "
            "generalizes only at $S_2$, many times later.",
    width=1.0, aspect=0.38)
def transformer_grokking_curves(fig, numbers):
    r = transformer_run()
    draw_grokking_curves(fig, numbers, r, transformer_phases(), prefix="Transformer")
    numbers.add("TransformerPrime", r.config["p"], "d")
    numbers.add("TransformerHeads", r.config["n_heads"], "d")


@FIGURES.figure(
    caption="Attention from the final position to the operands $a$, $b$ and to itself in each "
            "head of the recorded transformer, averaged over all pairs, at several checkpoints: "
            "from uniform at initialization to about half on each operand once it generalizes.",
    width=1.0, aspect=0.36)
def attention_evolution(fig, numbers):
    r = transformer_run()
    steps = sorted(r.checkpoints)
    chosen = [steps[0]] + [steps[i] for i in np.linspace(len(steps) // 2, len(steps) - 1, 4,
                                                          dtype=int)]
    axes = fig.subplots(1, len(chosen), sharey=True)
    heads = r.config["n_heads"]
    for ax, step in zip(axes, chosen):
        attention = r.load_checkpoint(step)["attention"]  # (heads, 3)
        image = ax.imshow(100 * attention.T, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=100,
                          aspect="auto")
        for h in range(heads):
            for q in range(3):
                value = 100 * attention[h, q]
                ax.text(h, q, f"{value:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if value < 50 else INK)
        ax.set_xticks(range(heads), [str(h + 1) for h in range(heads)])
        ax.set_xlabel("head")
        ax.set_title(f"step {step:,}", fontsize=7)
    axes[0].set_yticks(range(3), POSITIONS)
    axes[0].set_ylabel("attends to")
    final = r.load_checkpoint(steps[-1])["attention"]
    numbers.add("AttentionOperandsEnd", 100 * final[:, :2].sum(axis=1).mean(), ".0f")
    bar = fig.colorbar(image, ax=list(axes), pad=0.02)
    bar.set_label("attention (%)")


@FIGURES.figure(
    caption="Head specialization in the recorded transformer: the share of each head's output "
            "(as a function of $a$ and $b$) carried by its three strongest Fourier frequencies "
            "rises as the network generalizes, and at the end each head is dominated by one of "
            "a few key frequencies.",
    width=1.0, aspect=0.38)
def head_specialization(fig, numbers):
    r, phases = transformer_run(), transformer_phases()
    steps = np.array(sorted(r.checkpoints))
    shares = np.array([r.load_checkpoint(s)["head_fourier_share"] for s in steps])
    power_end = r.load_checkpoint(steps[-1])["head_freq_power"]
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    for h, style in enumerate(series(shares.shape[1])):
        ax_a.plot(np.maximum(steps, 1), 100 * shares[:, h], color=style["color"],
                  ls=style["linestyle"], marker=style["marker"], markersize=3,
                  label=f"head {h + 1}")
    ax_a.axvline(phases.s2, color=MUTED, lw=0.6, ls=":")
    ax_a.text(phases.s2, 1.02, "$S_2$", transform=ax_a.get_xaxis_transform(), ha="center",
              va="bottom", fontsize=7)
    log_steps(ax_a)
    ax_a.set_ylabel("top-3 frequency share (%)")
    ax_a.set_ylim(0, 100)
    panel_title(ax_a, "a", "Fourier share per head")
    legend_above(fig, ax_a, ncols=4, narrow_ncols=4, fontsize=7)
    k = np.arange(1, power_end.shape[1] + 1)
    share = power_end / power_end.sum(axis=1, keepdims=True)
    image = ax_b.imshow(100 * share, aspect="auto", cmap=SEQUENTIAL_CMAP,
                        extent=(0.5, k[-1] + 0.5, shares.shape[1] + 0.5, 0.5))
    ax_b.set_xlabel("frequency $k$")
    ax_b.set_ylabel("head")
    ax_b.set_yticks(range(1, shares.shape[1] + 1))
    bar = fig.colorbar(image, ax=ax_b, pad=0.03)
    bar.set_label("% of the head's power")
    panel_title(ax_b, "b", f"Spectrum at step {steps[-1]:,}")
    dominant = np.argmax(power_end, axis=1) + 1
    numbers.add_list("HeadDominantFrequencies", dominant, "d")
    numbers.add_list("TransformerKeyFrequencies", sorted(set(dominant)), "d")
    numbers.add("HeadShareEnd", 100 * shares[-1].mean(), ".0f")
    numbers.add("HeadShareStart", 100 * shares[0].mean(), ".0f")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
