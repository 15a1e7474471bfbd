"""Grokking figures: delayed generalization on modular addition, from recorded runs.

Run `python scripts/grokking.py --help`. The runs are recorded once by scripts/recorders/grokking.py
and scripts/recorders/grokking_transformer.py (`make data`) into data/grokking/<run>/ and
data/grokking_transformer/main/, and read here with the run loader `records.load_run`. Each
figure is a result function (`<name>_result`: the recorded arrays it draws and every number
it shows) and a drawing function (`<name>`); the measurements (thresholds, phases, fitted
sigmoid, gap window, norm peak, Fourier spectrum, circle planes) are numerics.grokking.analysis.
Sources: Power et al. 2022 (arXiv 2201.02177), Nanda et al. 2023 (arXiv 2301.05217), Liu et al.
2022, Omnigrok (arXiv 2210.01117).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from figkit import Registry
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.numbers import Numbers, spell
from figkit.palette import BLUE, GREY, INK, MUTED, PURPLE, SEQUENTIAL_CMAP, series, tint
from figkit.registry import ROOT
from figkit.style import SMALL
from numerics.grokking import analysis
from numerics.grokking.analysis import TRAIN_THRESHOLD, VAL_THRESHOLD
from records import Run, RunError, load_run

FIGURES = Registry("grokking")
DATA = ROOT / "data" / "grokking"
#: The recorded one-layer transformer on the same task (scripts/recorders/grokking_transformer.py).
TRANSFORMER_DATA = ROOT / "data" / "grokking_transformer"
MAIN = "main"
TRAIN_COLOR, VAL_COLOR = series(2)[0]["color"], series(2)[1]["color"]
#: Thresholds as the captions and labels print them (99 and 95 %).
TRAIN_PERCENT, VAL_PERCENT = f"{100 * TRAIN_THRESHOLD:.0f}", f"{100 * VAL_THRESHOLD:.0f}"
SHOWN_CHECKPOINTS = 5  # checkpoints drawn side by side: the first, then 4 from the middle on
GAP_WIDE = 95  # points of accuracy: the generalization gap counted as wide
KEY_SHARE = 0.8  # key frequencies: the fewest that hold this share of the embedding's power
POSITIONS = ("$a$", "$b$", "$=$")  # the transformer's input tokens


# ---- the recorded runs, read once per process -------------------------------------------------
@cache
def recorded_run(name: str) -> Run:
    """The MLP run data/grokking/<name>."""
    return load_run(DATA / name)


@cache
def main_phases() -> analysis.Phases:
    run = recorded_run(MAIN)
    return analysis.detect_phases(run.column("step"), run.column("train_acc"),
                                  run.column("val_acc"))


def sweep_runs(prefix: str) -> list[Run]:
    """The recorded runs named <prefix>*, in name order."""
    paths = sorted(path for path in DATA.glob(f"{prefix}*") if path.is_dir())
    if not paths:
        raise RunError(f"{DATA}: no recorded runs named {prefix}*; run `make data`")
    return [recorded_run(path.name) for path in paths]


@cache
def transformer_run() -> Run:
    return load_run(TRANSFORMER_DATA / MAIN)


@cache
def transformer_phases() -> analysis.Phases:
    run = transformer_run()
    return analysis.detect_phases(run.column("step"), run.column("train_acc"),
                                  run.column("val_acc"))


def shown_checkpoints(run: Run) -> list[int]:
    """The checkpoints drawn side by side: the first, then evenly from the middle to the last."""
    steps = sorted(run.checkpoints)
    middle_on = np.linspace(len(steps) // 2, len(steps) - 1, SHOWN_CHECKPOINTS - 1, dtype=int)
    return [steps[0]] + [steps[i] for i in middle_on]


def add_s1_s2(numbers: Numbers, phases: analysis.Phases, prefix: str = "") -> None:
    numbers.add(f"{prefix}SOne", phases.s1, ",.0f")
    numbers.add(f"{prefix}STwo", phases.s2, ",.0f")


# ---- drawing helpers --------------------------------------------------------------------------
def log_steps(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("training step")


def mark_s1_s2(ax, phases: analysis.Phases, numbers: Numbers | None = None,
               prefix: str = "") -> None:
    """Dotted lines at S1 and S2, labelled with their steps when `numbers` holds them."""
    for step in (phases.s1, phases.s2):
        ax.axvline(step, color=MUTED, lw=0.6, ls=":")
    if numbers is not None:
        ax.text(phases.s1, 1.02, f"$S_1$ = {numbers[f'{prefix}SOne']}",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=SMALL)
        ax.text(phases.s2, 1.02, f"$S_2$ = {numbers[f'{prefix}STwo']}",
                transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunCurves:
    """A recorded run's accuracy and loss against step, with the steps S1 and S2."""
    run: Run
    phases: analysis.Phases
    prefix: str       # of its numbers' keys: <prefix>SOne, <prefix>STwo, <prefix>DelayRatio
    numbers: Numbers


def run_curves(run: Run, phases: analysis.Phases, prefix: str = "") -> RunCurves:
    numbers = Numbers()
    add_s1_s2(numbers, phases, prefix)
    numbers.add(f"{prefix}DelayRatio", phases.delay_ratio, ".0f")
    return RunCurves(run=run, phases=phases, prefix=prefix, numbers=numbers)


def grokking_curves_result() -> RunCurves:
    run = recorded_run(MAIN)
    curves = run_curves(run, main_phases())
    curves.numbers.add("Prime", run.config["p"], "d")
    curves.numbers.add("TrainFraction", 100 * run.config["train_fraction"], ".0f")
    return curves


def draw_grokking_curves(fig, curves: RunCurves) -> None:
    """Accuracy and loss of a recorded run against log step, S1 and S2 marked and their ratio
    drawn."""
    phases, numbers = curves.phases, curves.numbers
    ax_a, ax_b = fig.subplots(1, 2)
    for ax, metric in ((ax_a, "acc"), (ax_b, "loss")):
        for split, color, line_style, label in (("train", TRAIN_COLOR, "-", "training"),
                                                ("val", VAL_COLOR, "--", "validation")):
            steps, values = curves.run.series(f"{split}_{metric}")
            keep = steps > 0
            scale = 100 if metric == "acc" else 1
            ax.plot(steps[keep], scale * values[keep], color=color, ls=line_style, label=label)
        log_steps(ax)
        mark_s1_s2(ax, phases, numbers if ax is ax_a else None, prefix=curves.prefix)
    ratio = numbers[f"{curves.prefix}DelayRatio"]
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


@FIGURES.figure(
    caption="A recorded grokking run on $(a+b) \\bmod p$: training accuracy reaches "
            f"{TRAIN_PERCENT}\\,\\% at step $S_1$, validation accuracy reaches "
            f"{VAL_PERCENT}\\,\\% only at step $S_2$, many times later.",
    result=grokking_curves_result, width=1.0, aspect=0.38)
def grokking_curves(fig, curves: RunCurves):
    draw_grokking_curves(fig, curves)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneralizationGap:
    """Training minus validation accuracy of the main run, and the window where it is wide."""
    steps: np.ndarray
    gap: np.ndarray          # points of accuracy
    wide_start: float        # first and last step with a gap of GAP_WIDE points or more
    wide_end: float
    phases: analysis.Phases
    numbers: Numbers


def generalization_gap_result() -> GeneralizationGap:
    run, phases = recorded_run(MAIN), main_phases()
    steps = run.column("step")
    gap = 100 * (run.column("train_acc") - run.column("val_acc"))
    wide_start, wide_end = analysis.gap_window(steps, gap, GAP_WIDE)
    numbers = Numbers()
    numbers.add("GapWideStart", wide_start, ",.0f")
    numbers.add("GapWideEnd", wide_end, ",.0f")
    add_s1_s2(numbers, phases)
    return GeneralizationGap(steps=steps, gap=gap, wide_start=wide_start, wide_end=wide_end,
                             phases=phases, numbers=numbers)


@FIGURES.figure(
    caption="The generalization gap, training minus validation accuracy, of the recorded run: "
            "it opens as the network memorizes and closes only when it groks.",
    result=generalization_gap_result, width=1.0, aspect=0.32)
def generalization_gap(fig, result: GeneralizationGap):
    steps, gap, phases, numbers = result.steps, result.gap, result.phases, result.numbers
    keep = steps > 0
    ax = fig.subplots()
    ax.fill_between(steps[keep], 0, gap[keep], color=tint(PURPLE, 0.6), lw=0)
    ax.plot(steps[keep], gap[keep], color=PURPLE)
    ax.text(np.sqrt(phases.s1 * phases.s2), 50,
            f"gap of {GAP_WIDE} points or more\nfrom step {numbers['GapWideStart']} "
            f"to step {numbers['GapWideEnd']}", ha="center", va="center", fontsize=SMALL)
    mark_s1_s2(ax, phases, numbers)
    log_steps(ax)
    ax.set_ylim(min(0, gap.min()) - 2, 110)
    ax.set_ylabel("train $-$ validation\naccuracy (points)")


# --------------------------------------------------------------------------------------------
FITTED_POINTS = 400  # points on the drawn sigmoid


@dataclass(frozen=True)
class PhaseTransitions:
    """The main run's accuracies, its phases and the sigmoid fitted to validation accuracy."""
    steps: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray
    phases: analysis.Phases
    spans: dict[str, tuple[float, float]]   # {phase: (first step, last step)}
    fitted_steps: np.ndarray                # log-spaced from the first logged step > 0
    fitted_val_acc: np.ndarray              # the fitted sigmoid there
    numbers: Numbers


def phase_transitions_result() -> PhaseTransitions:
    run, phases = recorded_run(MAIN), main_phases()
    steps = run.column("step")
    first = steps[steps > 0][0]
    fitted_steps = np.logspace(np.log10(first), np.log10(steps[-1]), FITTED_POINTS)
    numbers = Numbers()
    numbers.add("RiseDecades", phases.sigmoid.rise_decades, ".2f")
    numbers.add("RiseStart", phases.rise_start, ",.0f")
    numbers.add("RiseEnd", phases.rise_end, ",.0f")
    return PhaseTransitions(steps=steps, train_acc=run.column("train_acc"),
                            val_acc=run.column("val_acc"), phases=phases,
                            spans=phases.spans(float(steps[-1])), fitted_steps=fitted_steps,
                            fitted_val_acc=phases.sigmoid(np.log10(fitted_steps)),
                            numbers=numbers)


@FIGURES.figure(
    caption="Phases of the recorded run found from its accuracies: memorization until training "
            f"accuracy reaches {TRAIN_PERCENT}\\,\\%, circuit formation until validation "
            "accuracy starts to rise, and cleanup during the rise, located with a sigmoid "
            "fitted against log(step).",
    result=phase_transitions_result, width=1.0, aspect=0.36)
def phase_transitions(fig, result: PhaseTransitions):
    steps, phases, numbers = result.steps, result.phases, result.numbers
    keep = steps > 0
    strip, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [0.09, 1]})
    # The phases come in order, so they take ordered colours of a colour-blind-safe map.
    shades = colormaps[SEQUENTIAL_CMAP](np.linspace(0.1, 1.0, len(result.spans)))
    for (name, (start, end)), shade in zip(result.spans.items(), shades, strict=True):
        strip.axvspan(max(start, steps[keep][0]), end, color=tint(to_hex(shade), 0.4), lw=0,
                      label=name)
        if start > steps[keep][0]:
            ax.axvline(start, color=MUTED, lw=0.5, ls=":")
    strip.set_yticks([])
    strip.spines[["left", "bottom"]].set_visible(False)
    strip.tick_params(axis="x", which="both", length=0, labelbottom=False)
    ax.plot(steps[keep], 100 * result.train_acc[keep], color=TRAIN_COLOR, lw=0.9,
            label="training accuracy")
    ax.plot(steps[keep], 100 * result.val_acc[keep], color=VAL_COLOR, lw=0.9, ls="--",
            label="validation accuracy")
    ax.plot(result.fitted_steps, 100 * result.fitted_val_acc, color=INK, lw=0.8, ls=":",
            label="fitted sigmoid (validation)")
    ax.text(np.sqrt(phases.s1 * phases.rise_start), 50, f"validation rise (10 to 90 %):\n"
            f"steps {numbers['RiseStart']} to {numbers['RiseEnd']},\n"
            f"{numbers['RiseDecades']} decades of steps", ha="center", va="center",
            fontsize=SMALL)
    log_steps(ax)
    ax.set_ylim(0, 105)
    ax.set_xlim(steps[keep][0], steps[-1])
    ax.set_ylabel("accuracy (%)")
    legend_above(fig, strip, ncols=4, narrow_ncols=2, fontsize=SMALL)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightNorm:
    """The main run's parameter norm and validation accuracy, the norm at S1, S2 and its peak."""
    steps: np.ndarray
    norm: np.ndarray
    val_acc: np.ndarray
    phases: analysis.Phases
    weight_decay: float
    norm_at_s1: float
    norm_at_s2: float
    peak_step: float         # the largest norm logged after S1, and its step
    peak_norm: float
    numbers: Numbers


def weight_norm_result() -> WeightNorm:
    run, phases = recorded_run(MAIN), main_phases()
    steps, norm = run.column("step"), run.column("weight_norm")
    norm_at_s1 = float(np.interp(phases.s1, steps, norm))
    norm_at_s2 = float(np.interp(phases.s2, steps, norm))
    peak_step, peak_norm = analysis.peak_after(steps, norm, phases.s1)
    numbers = Numbers()
    numbers.add("NormAtSOne", norm_at_s1, ".0f")
    numbers.add("NormAtSTwo", norm_at_s2, ".0f")
    numbers.add("WeightDecay", run.config["weight_decay"], "g")
    numbers.add("NormPeak", peak_norm, ".0f")
    numbers.add("NormPeakStep", peak_step, ",.0f")
    add_s1_s2(numbers, phases)
    return WeightNorm(steps=steps, norm=norm, val_acc=run.column("val_acc"), phases=phases,
                      weight_decay=run.config["weight_decay"], norm_at_s1=norm_at_s1,
                      norm_at_s2=norm_at_s2, peak_step=peak_step, peak_norm=peak_norm,
                      numbers=numbers)


@FIGURES.figure(
    caption="The parameter norm of the recorded run beside its validation accuracy: after "
            "memorization the norm grows to a peak, and validation accuracy rises while weight "
            "decay shrinks it again.",
    result=weight_norm_result, width=1.0, aspect=0.42)
def weight_norm(fig, result: WeightNorm):
    steps, phases, numbers = result.steps, result.phases, result.numbers
    keep = steps > 0
    ax_a, ax_b = fig.subplots(2, 1, sharex=True)
    ax_a.plot(steps[keep], result.norm[keep], color=PURPLE)
    for step, value, text in ((phases.s1, result.norm_at_s1, numbers["NormAtSOne"]),
                              (result.peak_step, result.peak_norm, numbers["NormPeak"]),
                              (phases.s2, result.norm_at_s2, numbers["NormAtSTwo"])):
        ax_a.plot(step, value, "o", color=PURPLE, markersize=3)
        ax_a.annotate(text, xy=(step, value), xytext=(6, 6), textcoords="offset points",
                      fontsize=SMALL)
    ax_a.set_ylabel(r"$\|\theta\|_2$")
    panel_title(ax_a, "a", f"Parameter norm (weight decay {result.weight_decay:g})")
    ax_b.plot(steps[keep], 100 * result.val_acc[keep], color=VAL_COLOR, ls="--")
    ax_b.set_ylabel("validation\naccuracy (%)")
    ax_b.set_ylim(0, 105)
    panel_title(ax_b, "b", "Validation accuracy")
    for ax in (ax_a, ax_b):
        mark_s1_s2(ax, phases, numbers if ax is ax_a else None)
    log_steps(ax_b)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spectrum:
    """Fourier power of the main run's operand embedding at one checkpoint."""
    step: int
    power: np.ndarray        # share of the non-constant power of each frequency k = 0 .. p // 2
    key: np.ndarray          # the fewest frequencies that hold KEY_SHARE of it, ascending


@cache
def embedding_spectrum(step: int) -> Spectrum:
    embedding = recorded_run(MAIN).load_checkpoint(step)["embedding"]
    power = analysis.fourier_power(embedding)
    return Spectrum(step=step, power=power, key=analysis.key_frequencies(power, KEY_SHARE))


@dataclass(frozen=True)
class FourierFeatures:
    """The embedding's spectrum at initialisation and at the end of the main run."""
    start: Spectrum
    end: Spectrum
    numbers: Numbers


def fourier_features_result() -> FourierFeatures:
    run = recorded_run(MAIN)
    start, end = embedding_spectrum(min(run.checkpoints)), embedding_spectrum(max(run.checkpoints))
    numbers = Numbers()
    numbers.add("KeyCountStart", len(start.key), "d")
    numbers.add("KeyCountEnd", len(end.key), "d")
    numbers.add_list("KeyFrequencies", end.key, "d")
    numbers.add("KeyShare", 100 * KEY_SHARE, ".0f")
    return FourierFeatures(start=start, end=end, numbers=numbers)


@FIGURES.figure(
    caption="Fourier spectrum of the learned operand embedding along the token axis at "
            "initialisation and at the end of the recorded run: the power concentrates on a few "
            "key frequencies.",
    result=fourier_features_result, width=1.0, aspect=0.36)
def fourier_features(fig, result: FourierFeatures):
    axes = fig.subplots(1, 2, sharey=True)
    for ax, letter, spectrum in zip(axes, "ab", (result.start, result.end), strict=True):
        power, key = spectrum.power, spectrum.key
        k = np.arange(1, len(power))
        is_key = np.isin(k, key)
        ax.bar(k[~is_key], 100 * power[1:][~is_key], 0.8, color=GREY, label="other")
        ax.bar(k[is_key], 100 * power[1:][is_key], 0.8, color=BLUE,
               label=f"key: {len(key)} frequencies hold {KEY_SHARE:.0%}")
        ax.set_xlabel("frequency $k$ (cycles over the $p$ tokens)")
        ax.set_xlim(0, len(power))
        ax.legend(loc="upper right", fontsize=SMALL)
        panel_title(ax, letter, f"Step {spectrum.step:,}")
    axes[0].set_ylabel("share of power (%)")
    axes[0].set_ylim(0, 100 * max(result.end.power[1:]) * 1.45)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CirclePlane:
    """The operand embedding at one checkpoint on the plane of the circle frequency."""
    step: int
    points: np.ndarray       # (p, 2) tokens in the order a * k mod p
    share: float             # share of the embedding's centred variance in the plane


@dataclass(frozen=True)
class EmbeddingEvolution:
    """The main run's embeddings at several checkpoints on the plane of its strongest final
    frequency k."""
    frequency: int
    p: int
    planes: tuple[CirclePlane, ...]
    numbers: Numbers


def embedding_evolution_result() -> EmbeddingEvolution:
    run = recorded_run(MAIN)
    frequency = analysis.strongest_frequency(embedding_spectrum(max(run.checkpoints)).power)
    p = run.config["p"]
    order = analysis.circle_order(p, frequency)  # neighbours on the circle of frequency k
    planes = []
    for step in shown_checkpoints(run):
        coords, share = analysis.fourier_plane(run.load_checkpoint(step)["embedding"], frequency)
        planes.append(CirclePlane(step=step, points=coords[order], share=share))
    numbers = Numbers()
    numbers.add("CircleFrequency", frequency, "d")
    numbers.add("CircleShareStart", 100 * planes[0].share, ".0f")
    numbers.add("CircleShareEnd", 100 * planes[-1].share, ".0f")
    return EmbeddingEvolution(frequency=frequency, p=p, planes=tuple(planes), numbers=numbers)


@FIGURES.figure(
    caption="The operand embeddings of the recorded run at several checkpoints, projected on the "
            "plane of the strongest final Fourier frequency $k$ and joined in the order "
            "$a \\cdot k \\bmod p$: a circle forms as the network groks.",
    result=embedding_evolution_result, width=1.0, aspect=0.3)
def embedding_evolution(fig, result: EmbeddingEvolution):
    k, p = result.frequency, result.p
    axes = fig.subplots(1, len(result.planes))
    for ax, plane in zip(axes, result.planes, strict=True):
        xy = plane.points
        ax.plot(np.append(xy[:, 0], xy[0, 0]), np.append(xy[:, 1], xy[0, 1]), color=GREY,
                lw=0.5)
        ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(p), cmap=SEQUENTIAL_CMAP, s=6, zorder=3,
                   linewidths=0)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[["left", "bottom"]].set_visible(False)
        ax.set_title(f"step {plane.step:,}\n{100 * plane.share:.0f} % of variance",
                     fontsize=SMALL)
    axes[len(axes) // 2].set_xlabel(f"plane of frequency $k$ = {k}; tokens joined in the order "
                                    f"of $a \\cdot {k}$ mod {p}")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepPoint:
    """One recorded run of a sweep: when it memorized and when it generalized."""
    value: float             # the swept parameter
    s1: float | None         # training accuracy first >= TRAIN_THRESHOLD
    s2: float | None         # validation accuracy first >= VAL_THRESHOLD; None: not in budget
    last_step: float
    key: str                 # numbers key of its S2, or of its step budget when s2 is None


@dataclass(frozen=True)
class Sweep:
    """S1 and S2 of recorded runs that differ in one parameter, in the order of its value."""
    parameter: str
    points: tuple[SweepPoint, ...]
    numbers: Numbers


def sweep_result(runs: list[Run], parameter: str, prefix: str) -> Sweep:
    """S1 and S2 of `runs`, sorted by `parameter` in their config; each run's S2 (or its step
    budget, when it never generalized) exported as <prefix><value>[Budget]."""
    points, numbers = [], Numbers()
    for run in sorted(runs, key=lambda run: float(run.config[parameter])):
        steps = run.column("step")
        value = float(run.config[parameter])
        s2 = analysis.first_step_at_least(steps, run.column("val_acc"), VAL_THRESHOLD)
        key = prefix + spell(value) + ("" if s2 is not None else "Budget")
        numbers.add(key, s2 if s2 is not None else steps[-1], ",.0f")
        points.append(SweepPoint(
            value=value, s1=analysis.first_step_at_least(steps, run.column("train_acc"),
                                                         TRAIN_THRESHOLD),
            s2=s2, last_step=float(steps[-1]), key=key))
    return Sweep(parameter=parameter, points=tuple(points), numbers=numbers)


def draw_sweep(ax, sweep: Sweep, labels) -> None:
    """S1 and S2 of each run at categorical positions; runs that never generalized get an
    upward triangle at their last step."""
    points = sweep.points
    x = np.arange(len(points))
    s1 = [point.s1 for point in points]
    ax.plot(x, s1, ls="none", marker="s", color=TRAIN_COLOR,
            label=f"$S_1$: training accuracy {TRAIN_PERCENT} %")
    done = [i for i, point in enumerate(points) if point.s2 is not None]
    ax.plot(x[done], [points[i].s2 for i in done], ls="none", marker="o", color=VAL_COLOR,
            label=f"$S_2$: validation accuracy {VAL_PERCENT} %")
    never = [i for i, point in enumerate(points) if point.s2 is None]
    if never:
        ax.plot(x[never], [points[i].last_step for i in never], ls="none", marker="^",
                mfc="white", color=VAL_COLOR, label="not within the step budget")
    for i, point in enumerate(points):
        text = sweep.numbers[point.key]
        if point.s2 is None:
            text = "$>$ " + text
        ax.annotate(text, xy=(i, point.s2 if point.s2 is not None else point.last_step),
                    xytext=(5, 0), textcoords="offset points", va="center", fontsize=SMALL)
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.5, len(points) - 0.1)
    ax.set_ylabel("training step")
    ax.set_ylim(min(s1) / 2, max(point.last_step for point in points) * 2)


def train_fraction_sweep_result() -> Sweep:
    return sweep_result(sweep_runs("frac_") + [recorded_run(MAIN)], "train_fraction", "Frac")


@FIGURES.figure(
    caption="Steps until the network memorizes ($S_1$) and generalizes ($S_2$) against the "
            "share of all pairs used for training, one recorded run each: the smaller the "
            "training set, the longer the delay.",
    result=train_fraction_sweep_result, width=0.8, aspect=0.55)
def train_fraction_sweep(fig, sweep: Sweep):
    ax = fig.subplots()
    draw_sweep(ax, sweep, [f"{100 * point.value:.0f} %" for point in sweep.points])
    ax.set_xlabel("training fraction of the $p^2$ pairs")
    legend_above(fig, ax, ncols=2, narrow_ncols=2, fontsize=SMALL)


def weight_decay_sweep_result() -> Sweep:
    return sweep_result(sweep_runs("wd_") + [recorded_run(MAIN)], "weight_decay", "Wd")


@FIGURES.figure(
    caption="Steps until the network memorizes ($S_1$) and generalizes ($S_2$) against the "
            "AdamW weight decay, one recorded run each: without enough weight decay the "
            "network memorizes but does not generalize within the step budget.",
    result=weight_decay_sweep_result, width=0.8, aspect=0.55)
def weight_decay_sweep(fig, sweep: Sweep):
    ax = fig.subplots()
    draw_sweep(ax, sweep, [f"{point.value:g}" for point in sweep.points])
    ax.set_xlabel("weight decay $\\lambda$")
    legend_above(fig, ax, ncols=2, narrow_ncols=2, fontsize=SMALL)


# ============================================================================================
# A one-layer transformer on the same task (scripts/recorders/grokking_transformer.py)
def transformer_grokking_curves_result() -> RunCurves:
    run = transformer_run()
    curves = run_curves(run, transformer_phases(), prefix="Transformer")
    curves.numbers.add("TransformerPrime", run.config["p"], "d")
    curves.numbers.add("TransformerHeads", run.config["n_heads"], "d")
    return curves


@FIGURES.figure(
    caption="A recorded one-layer transformer (four attention heads, numpy, hand-written "
            "backpropagation) learning $(a+b) \\bmod p$: it too memorizes at $S_1$ and "
            "generalizes only at $S_2$, many times later.",
    result=transformer_grokking_curves_result, width=1.0, aspect=0.38)
def transformer_grokking_curves(fig, curves: RunCurves):
    draw_grokking_curves(fig, curves)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionEvolution:
    """Attention of the transformer's final position at several checkpoints."""
    steps: tuple[int, ...]
    attention: np.ndarray    # (checkpoint, head, position a / b / =), averaged over all pairs
    numbers: Numbers


def attention_evolution_result() -> AttentionEvolution:
    run = transformer_run()
    steps = shown_checkpoints(run)
    attention = np.stack([run.load_checkpoint(step)["attention"] for step in steps])
    final = run.load_checkpoint(max(run.checkpoints))["attention"]
    numbers = Numbers()
    numbers.add("AttentionOperandsEnd", 100 * final[:, :2].sum(axis=1).mean(), ".0f")
    return AttentionEvolution(steps=tuple(steps), attention=attention, numbers=numbers)


@FIGURES.figure(
    caption="Attention from the final position to the operands $a$, $b$ and to itself in each "
            "head of the recorded transformer, averaged over all pairs, at several checkpoints: "
            "from uniform at initialization to about half on each operand once it generalizes.",
    result=attention_evolution_result, width=1.0, aspect=0.36)
def attention_evolution(fig, result: AttentionEvolution):
    axes = fig.subplots(1, len(result.steps), sharey=True)
    heads = result.attention.shape[1]
    for ax, step, attention in zip(axes, result.steps, result.attention, strict=True):
        image = ax.imshow(100 * attention.T, cmap=SEQUENTIAL_CMAP, vmin=0, vmax=100,
                          aspect="auto")
        for head in range(heads):
            for position in range(len(POSITIONS)):
                value = 100 * attention[head, position]
                ax.text(head, position, f"{value:.0f}", ha="center", va="center",
                        fontsize=SMALL, color="white" if value < 50 else INK)
        ax.set_xticks(range(heads), [str(head + 1) for head in range(heads)])
        ax.set_xlabel("head")
        ax.set_title(f"step {step:,}", fontsize=SMALL)
    axes[0].set_yticks(range(len(POSITIONS)), POSITIONS)
    axes[0].set_ylabel("attends to")
    bar = fig.colorbar(image, ax=list(axes), pad=0.02)
    bar.set_label("attention (%)")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeadSpecialization:
    """How much of each transformer head's output its strongest Fourier frequencies carry."""
    steps: np.ndarray        # every checkpoint
    top_shares: np.ndarray   # (checkpoint, head): share of the head's power in its top 3
    spectrum_end: np.ndarray  # (head, k = 1 .. (p-1)/2): share of the head's power, last step
    dominant: np.ndarray     # (head,): the frequency with the most power at the last step
    s2: float
    numbers: Numbers


def head_specialization_result() -> HeadSpecialization:
    run = transformer_run()
    steps = np.array(sorted(run.checkpoints))
    top_shares = np.array([run.load_checkpoint(step)["head_fourier_share"] for step in steps])
    power_end = run.load_checkpoint(steps[-1])["head_freq_power"]
    dominant = np.argmax(power_end, axis=1) + 1
    numbers = Numbers()
    numbers.add_list("HeadDominantFrequencies", dominant, "d")
    numbers.add_list("TransformerKeyFrequencies", sorted(set(dominant)), "d")
    numbers.add("HeadShareEnd", 100 * top_shares[-1].mean(), ".0f")
    numbers.add("HeadShareStart", 100 * top_shares[0].mean(), ".0f")
    return HeadSpecialization(steps=steps, top_shares=top_shares,
                              spectrum_end=power_end / power_end.sum(axis=1, keepdims=True),
                              dominant=dominant, s2=transformer_phases().s2, numbers=numbers)


@FIGURES.figure(
    caption="Head specialization in the recorded transformer: the share of each head's output "
            "(as a function of $a$ and $b$) carried by its three strongest Fourier frequencies "
            "rises as the network generalizes, and at the end each head is dominated by one of "
            "a few key frequencies.",
    result=head_specialization_result, width=1.0, aspect=0.38)
def head_specialization(fig, result: HeadSpecialization):
    steps, top_shares = result.steps, result.top_shares
    heads = top_shares.shape[1]
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    for head, style in enumerate(series(heads)):
        ax_a.plot(np.maximum(steps, 1), 100 * top_shares[:, head], color=style["color"],
                  ls=style["linestyle"], marker=style["marker"], markersize=3,
                  label=f"head {head + 1}")
    ax_a.axvline(result.s2, color=MUTED, lw=0.6, ls=":")
    ax_a.text(result.s2, 1.02, "$S_2$", transform=ax_a.get_xaxis_transform(), ha="center",
              va="bottom", fontsize=SMALL)
    log_steps(ax_a)
    ax_a.set_ylabel("top-3 frequency share (%)")
    ax_a.set_ylim(0, 100)
    panel_title(ax_a, "a", "Fourier share per head")
    legend_above(fig, ax_a, ncols=4, narrow_ncols=4, fontsize=SMALL)
    frequencies = result.spectrum_end.shape[1]
    image = ax_b.imshow(100 * result.spectrum_end, aspect="auto", cmap=SEQUENTIAL_CMAP,
                        extent=(0.5, frequencies + 0.5, heads + 0.5, 0.5))
    ax_b.set_xlabel("frequency $k$")
    ax_b.set_ylabel("head")
    ax_b.set_yticks(range(1, heads + 1))
    bar = fig.colorbar(image, ax=ax_b, pad=0.03)
    bar.set_label("% of the head's power")
    panel_title(ax_b, "b", f"Spectrum at step {steps[-1]:,}")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
