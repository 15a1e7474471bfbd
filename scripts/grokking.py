"""Grokking figures: delayed generalization on modular addition, from recorded runs.

Run `python scripts/grokking.py --help`. The runs are recorded once by scripts/recorders/grokking.py
and scripts/recorders/grokking_transformer.py (`make data`) into data/grokking/<run>/ and
data/grokking_transformer/main/, and read here with the run loader `records.load_run`. Each
figure is a result function (`<name>_result`: the recorded arrays it draws and every number
it shows) and a drawing function (`<name>`); the measurements (thresholds, phases, fitted
sigmoid, Fourier spectrum, circle planes, medians over seeds) are numerics.grokking.analysis.

Each figure shows what no other figure shows:
- grokking_curves: the main run's accuracy and loss, the one place they are drawn;
- generalization_gap: the gap between training and validation accuracy through the two sweeps
  (median and range of three seeds per setting);
- phase_transitions: the phases of every one of those runs between S1 and S2, located from its
  accuracies;
- weight_norm: the parameter norm of the weight-decay sweep, and S2 against the norm at S1;
- fourier_features, embedding_evolution: the main run's learned embedding;
- progress_measures: the main run's restricted and excluded loss and the Fourier sparsity of
  its embedding (Nanda et al. 2023), the phases located from them beside those from accuracy;
- seed_spread: the main configuration over five seeds, its accuracies' spread, each seed's S1
  and S2;
- train_fraction_sweep, weight_decay_sweep, learning_rate_sweep, batch_size_sweep: S1, S2 and
  the delay S2/S1 against one setting (median and min-max of three seeds);
- transition_sharpness: the width of the validation rise of every sweep run against its delay;
- simplicity_bias: a second delayed generalization, a spurious cue learned before the rule;
- transformer_grokking_curves, attention_evolution, head_specialization: the recorded
  transformer (its loss spikes from the float32 floor are counted and explained);
- transformer_progress_measures: the transformer's restricted and excluded loss and the
  phases located from them (cleanup without a lasting end).
S1: training accuracy first >= 99 %; S2: validation accuracy >= 95 % from there on for 500
steps (the sweep recorder's stop rule; a run that touches 95 % once has not generalized).
Colours come from figkit.meanings: training and validation are roles; the values of a sweep are
ordered colours (with the book's markers of their rank, meanings.ordered_markers, or direct
labels in ink as a second channel); single quantities are ink. S1 is a square, S2 a thin
diamond: neither is a marker of an ordered setting.
Sources: Power et al. 2022 (arXiv 2201.02177), Nanda et al. 2023 (arXiv 2301.05217), Liu et al.
2022, Omnigrok (arXiv 2210.01117), Thilak et al. 2022, the slingshot mechanism (arXiv
2206.04817), Prieto et al. 2025, softmax collapse in float32 (arXiv 2501.04697).
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
from matplotlib import colormaps
from matplotlib.ticker import LogLocator, NullFormatter, NullLocator, StrMethodFormatter

from figkit import Registry, meanings
from figkit.annotate import NARROW_IN, arrow_props, legend_above, panel_title
from figkit.numbers import Numbers, spell
from figkit.palette import GREY, INK, MUTED, SEQUENTIAL_CMAP, tint
from figkit.registry import ROOT
from figkit.style import SMALL
from numerics.grokking import analysis, progress
from numerics.grokking.analysis import TRAIN_THRESHOLD, VAL_HOLD, VAL_THRESHOLD
from recorders import simplicity_bias as cue_recorder
from recorders.grokking import MAIN as MAIN_SPEC
from recorders.grokking import MAIN_SEEDS, SEEDS, SWEEP, SWEEPS, TRAIN_FRACTIONS, seeded
from recorders.grokking_transformer import MAIN as TRANSFORMER_SPEC
from recorders.grokking_transformer import TOP_K
from records import Run, RunError, load_run

FIGURES = Registry("grokking")
DATA = ROOT / "data" / "grokking"
#: The recorded one-layer transformer on the same task (scripts/recorders/grokking_transformer.py).
TRANSFORMER_DATA = ROOT / "data" / "grokking_transformer"
MAIN = "main"
#: Thresholds as the captions and labels print them (99 and 95 %).
TRAIN_PERCENT, VAL_PERCENT = f"{100 * TRAIN_THRESHOLD:.0f}", f"{100 * VAL_THRESHOLD:.0f}"
SEED_COUNT = len(SEEDS)


def spell_count(n: int) -> str:
    """A small count as captions and labels print it: 5 -> 'five'."""
    return {3: "three", 4: "four", 5: "five", 6: "six"}.get(n, f"{n:,}")


SEED_WORDS = spell_count(SEED_COUNT)  # as captions print it
SMALLEST_FRACTION = f"{100 * min(TRAIN_FRACTIONS):.0f}\\,\\%"  # of the pairs, as captions print it
#: The step budgets of the sweeps, as their captions state them: a sweep run stops once it has
#: generalized (held VAL_HOLD steps) or at its budget; the centre point (main and its seeds)
#: has a shorter budget and no early stop.
#: The centre point of both sweeps (the main run's settings), as captions print it.
CENTRE_FRACTION = f"{100 * MAIN_SPEC['train_fraction']:.0f}\\,\\%"
CENTRE_DECAY = f"$\\lambda$ = {MAIN_SPEC['weight_decay']:g}"
CENTRE_LR = f"{MAIN_SPEC['lr']:g}"
#: The main run's batch: every training pair, round(train_fraction * p^2) of them.
FULL_BATCH = round(MAIN_SPEC["train_fraction"] * MAIN_SPEC["p"] ** 2)


def budgets(centre: str) -> str:
    """The sweeps' stop rule and budgets as a caption states them; `centre`: the centre
    setting as the caption prints it."""
    return (f"$S_2$: validation accuracy {100 * VAL_THRESHOLD:.0f}\\,\\% held "
            f"{SWEEP['stop_hold']:,} steps; budget {SWEEP['max_steps']:,} steps, "
            f"{MAIN_SPEC['max_steps']:,} for {centre}")
GAP_WIDE = 95  # points of accuracy: a gap this wide means memorization without generalization
KEY_SHARE = progress.KEY_SHARE  # key frequencies: the fewest that hold this share of the power
POSITIONS = ("$a$", "$b$", "$=$")  # the transformer's input tokens
#: The settings the sweeps vary, as labels print them, and their numbers' key prefixes.
PARAMETERS = {"weight_decay": ("weight decay $\\lambda$", "Wd"),
              "train_fraction": ("training fraction", "Frac"),
              "lr": ("AdamW learning rate", "Lr"),
              "batch_size": ("training pairs per step (batch size)", "Batch")}


def setting_text(parameter: str, value: float) -> str:
    """A sweep's setting as a label prints it: '0.3' (weight decay), '40 %' (fraction),
    '0.005' (learning rate), '256' or '1,392 (all)' (batch size; main is full batch)."""
    if parameter == "train_fraction":
        return f"{100 * value:.0f} %"
    if parameter == "batch_size":
        return f"{value:,.0f}" + (" (all)" if value == FULL_BATCH else "")
    return f"{value:g}"


# ---- the recorded runs, read once per process -------------------------------------------------
@cache
def recorded_run(name: str) -> Run:
    """The MLP run data/grokking/<name>."""
    return load_run(DATA / name)


@cache
def run_phases(name: str) -> analysis.Phases:
    run = recorded_run(name)
    return analysis.detect_phases(run.column("step"), run.column("train_acc"),
                                  run.column("val_acc"))


def main_phases() -> analysis.Phases:
    return run_phases(MAIN)


@dataclass(frozen=True)
class Timing:
    """When one recorded run memorized and generalized."""
    name: str
    seed: int
    s1: float | None         # training accuracy first >= TRAIN_THRESHOLD; None: never
    s2: float | None         # validation accuracy >= VAL_THRESHOLD from here for VAL_HOLD
                             # steps (analysis.first_held_step); None: not within the budget
    last_step: float         # the last logged step: the budget of a run that did not generalize
    final_val: float         # validation accuracy at the last logged step


@cache
def timing(name: str) -> Timing:
    run = recorded_run(name)
    steps = run.column("step")
    return Timing(name=name, seed=int(run.config["seed"]),
                  s1=analysis.first_step_at_least(steps, run.column("train_acc"),
                                                  TRAIN_THRESHOLD),
                  s2=analysis.first_held_step(steps, run.column("val_acc"), VAL_THRESHOLD,
                                              VAL_HOLD),
                  last_step=float(steps[-1]), final_val=float(run.column("val_acc")[-1]))


def setting_of(run: Run, parameter: str) -> float:
    """A run's value of a swept parameter; a full-batch run's batch size is its number of
    training pairs."""
    value = run.config[parameter]
    if parameter == "batch_size" and value is None:
        return float(run.config["n_train"])
    return float(value)


def sweep_settings(parameter: str) -> list[tuple[float, tuple[str, ...]]]:
    """The recorded sweep over `parameter` (recorders.grokking.SWEEPS): (value, its runs, one per
    seed), in the order of the value."""
    points = []
    for names in SWEEPS[parameter]:
        values = {float(setting_of(recorded_run(name), parameter)) for name in names}
        if len(values) != 1:
            raise RunError(f"runs {names} of the {parameter} sweep differ in {parameter}")
        points.append((values.pop(), tuple(names)))
    return points


@cache
def transformer_run() -> Run:
    return load_run(TRANSFORMER_DATA / MAIN)


@cache
def transformer_phases() -> analysis.Phases:
    run = transformer_run()
    return analysis.detect_phases(run.column("step"), run.column("train_acc"),
                                  run.column("val_acc"))


#: The moments of the transformer's run whose attention is drawn.
ATTENTION_MOMENTS = ("initialization", "memorized", "rise starts", "mid-rise", "generalized")


def attention_checkpoints(run: Run, phases: analysis.Phases) -> list[int]:
    """The checkpoints of ATTENTION_MOMENTS: the first; the first at or after S1; those nearest
    (in log step) to the start and the middle of the fitted rise of validation accuracy; the
    first at or after S2."""
    steps = np.array(sorted(run.checkpoints))

    def nearest(step: float) -> int:
        return int(steps[np.argmin(np.abs(np.log(np.maximum(steps, 1) / step)))])

    chosen = [int(steps[0]), int(steps[steps >= phases.s1][0]), nearest(phases.rise_start),
              nearest(10 ** phases.sigmoid.center), int(steps[steps >= phases.s2][0])]
    if chosen != sorted(set(chosen)):
        raise RunError(f"{run.path}: checkpoints {list(steps)} do not resolve the transition "
                       f"(chosen {chosen}); record more of them")
    return chosen


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


#: S1 and S2 as every figure of the chapter marks them: a square and a thin diamond (a
#: milestone), neither of them one of the markers of ordered settings
#: (meanings.ORDERED_MARKERS: o ^ v h P *), so no shape means a setting in one figure and a
#: moment of a run in another.
S1_MARKER, S2_MARKER = "s", "d"


def s1_marker(label: str | None = None) -> dict:
    """S1 (memorized) as every figure of the chapter marks it: an ink square."""
    return {"ls": "none", "marker": S1_MARKER, "ms": 3.5,
            "color": meanings.role("training").color, "label": label}


def s2_marker(label: str | None = None) -> dict:
    """S2 (generalized) as every figure of the chapter marks it: a thin diamond of the
    validation colour."""
    return {"ls": "none", "marker": S2_MARKER, "ms": 4.5,
            "color": meanings.role("validation").color, "label": label}


def censored_marker(label: str | None = None) -> dict:
    """A run that did not generalize within its budget, at its last step: an open triangle of
    the validation colour, pointing to the later S2 it did not reach."""
    return {**s2_marker(label), "marker": "^", "ms": 4, "mfc": "white"}


def setting_legend(ax, parameter: str, **kwargs) -> None:
    """The panel's own legend: one entry per value of the sweep, titled with the setting."""
    ax.legend(title=PARAMETERS[parameter][0], fontsize=SMALL, title_fontsize=SMALL,
              handlelength=1.5, **kwargs)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunCurves:
    """A recorded run's accuracy and loss against step, with the steps S1 and S2."""
    run: Run
    phases: analysis.Phases
    prefix: str       # of its numbers' keys: <prefix>SOne, <prefix>STwo, <prefix>DelayRatio
    numbers: Numbers
    spikes: tuple[analysis.Spike, ...] = ()  # jumps of the training loss from its floor
    zoom: tuple[float, float] | None = None  # steps of the spikes, drawn on a linear step axis


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
    drawn; with `curves.zoom`, a third panel below draws the loss of those steps on a linear
    axis, its spikes marked."""
    phases, numbers = curves.phases, curves.numbers
    if curves.zoom is None:
        ax_a, ax_b = fig.subplots(1, 2)
        ax_c = None
    else:
        grid = fig.add_gridspec(2, 2, height_ratios=[1, 0.8])
        ax_a, ax_b = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
        ax_c = fig.add_subplot(grid[1, :])
    for ax, metric in ((ax_a, "acc"), (ax_b, "loss"), (ax_c, "loss")):
        if ax is None:
            continue
        for split, role in (("train", "training"), ("val", "validation")):
            style = meanings.role(role)
            steps, values = curves.run.series(f"{split}_{metric}")
            keep = steps > 0
            if ax is ax_c:
                keep &= (steps >= curves.zoom[0]) & (steps <= curves.zoom[1])
            scale = 100 if metric == "acc" else 1
            ax.plot(steps[keep], scale * values[keep], color=style.color, ls=style.linestyle,
                    label=style.label, lw=0.9 if ax is ax_c else None)
        if ax is not ax_c:
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
    if ax_c is None:
        return
    # panel (b): where panel (c) zooms in, shaded
    ax_b.axvspan(*curves.zoom, color=tint(GREY, 0.6), lw=0, zorder=0)
    ax_b.text(np.sqrt(curves.zoom[0] * curves.zoom[1]), 1.02, "(c)", ha="center", va="bottom",
              transform=ax_b.get_xaxis_transform(), fontsize=SMALL)
    ax_c.set_yscale("log")
    ax_c.set_xlim(*curves.zoom)
    ax_c.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax_c.set_xlabel("training step (linear)")
    ax_c.set_ylabel("cross-entropy loss")
    ax_c.axvline(phases.s2, color=MUTED, lw=0.6, ls=":")
    ax_c.text(phases.s2, 1.02, f"$S_2$ = {numbers[f'{curves.prefix}STwo']}",
              transform=ax_c.get_xaxis_transform(), ha="center", va="bottom", fontsize=SMALL)
    # each jump of the training loss from its floor, marked above its peak
    ax_c.plot([spike.step for spike in curves.spikes],
              [3 * spike.peak for spike in curves.spikes], ls="none", marker="v", ms=3,
              color=INK)
    first = curves.spikes[0]
    ax_c.annotate(f"{len(curves.spikes)} spikes",
                  xy=(first.step, 3 * first.peak), xytext=(6, 0), textcoords="offset points",
                  ha="left", va="center", fontsize=SMALL)
    panel_title(ax_c, "c", "Loss around the spikes")


@FIGURES.figure(
    caption="A recorded grokking run on $(a+b) \\bmod p$: training accuracy reaches "
            f"{TRAIN_PERCENT}\\,\\% at step $S_1$, validation accuracy reaches "
            f"{VAL_PERCENT}\\,\\% (and holds it for {VAL_HOLD:,} steps) only at step $S_2$, "
            "many times later.",
    result=grokking_curves_result, width=1.0, aspect=0.38)
def grokking_curves(fig, curves: RunCurves):
    draw_grokking_curves(fig, curves)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GapRun:
    """Training minus validation accuracy of one recorded run, in points of accuracy."""
    value: float             # the setting its sweep varies
    seed: int
    steps: np.ndarray
    gap: np.ndarray
    widest: float            # the largest gap logged
    s2: float | None         # validation accuracy held >= VAL_THRESHOLD; None: not in budget


@dataclass(frozen=True)
class GapSetting:
    """The gap of one setting's seeds: median and range over the steps of its longest seed, a
    seed that stopped early (VAL_HOLD steps after it generalized, the sweep's stop rule)
    counting with its last gap from there on (as experiments.carried_forward does)."""
    value: float
    steps: np.ndarray        # the logged steps of the setting's longest seed
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    stops: tuple[float, ...]  # the last logged step of each seed carried forward, ascending


@dataclass(frozen=True)
class GapPanel:
    """The gap of every run of one sweep, in the order of its setting."""
    parameter: str
    values: tuple[float, ...]
    runs: tuple[GapRun, ...]
    settings: tuple[GapSetting, ...]  # one per value


@dataclass(frozen=True)
class GeneralizationGap:
    panels: tuple[GapPanel, ...]  # weight decay, training fraction
    numbers: Numbers


def gap_setting(value: float, runs: list[GapRun]) -> GapSetting:
    longest = max(runs, key=lambda run: len(run.steps))
    steps = longest.steps
    if any(not np.array_equal(run.steps, steps[:len(run.steps)]) for run in runs):
        raise RunError(f"the seeds of setting {value} were logged at different steps")
    for run in runs:
        if len(run.steps) < len(steps) and (run.s2 is None
                                            or run.steps[-1] != run.s2 + VAL_HOLD):
            raise RunError(f"seed {run.seed} of setting {value} stopped at step "
                           f"{run.steps[-1]:,.0f} without its stop rule holding")
    gaps = np.stack([np.concatenate([run.gap, np.full(len(steps) - len(run.gap), run.gap[-1])])
                     for run in runs])
    stops = tuple(sorted(float(run.steps[-1]) for run in runs if len(run.steps) < len(steps)))
    return GapSetting(value=value, steps=steps, median=np.median(gaps, axis=0),
                      low=gaps.min(axis=0), high=gaps.max(axis=0), stops=stops)


def gap_panel(parameter: str) -> GapPanel:
    runs = []
    for value, names in sweep_settings(parameter):
        for name in names:
            run = recorded_run(name)
            gap = 100 * (run.column("train_acc") - run.column("val_acc"))
            runs.append(GapRun(value=value, seed=timing(name).seed, steps=run.column("step"),
                               gap=gap, widest=float(gap.max()), s2=timing(name).s2))
    values = tuple(v for v, _ in sweep_settings(parameter))
    settings = tuple(gap_setting(value, [run for run in runs if run.value == value])
                     for value in values)
    return GapPanel(parameter=parameter, values=values, runs=tuple(runs), settings=settings)


def generalization_gap_result() -> GeneralizationGap:
    panels = (gap_panel("weight_decay"), gap_panel("train_fraction"))
    runs = [run for panel in panels for run in panel.runs]
    strong = [run for run in panels[0].runs if run.value == max(panels[0].values)]
    numbers = Numbers()
    numbers.add("GapWide", GAP_WIDE, "d")
    numbers.add("GapRuns", len(runs), "d")
    numbers.add("GapWideRuns", sum(run.widest >= GAP_WIDE for run in runs), "d")
    numbers.add("GapStrongDecay", max(panels[0].values), "g")
    numbers.add("GapStrongDecayWidest", max(run.widest for run in strong), ".0f")
    numbers.add("GapNotGeneralizedRuns", sum(run.s2 is None for run in runs), "d")
    numbers.add("GapCarriedRuns", sum(len(setting.stops) for panel in panels
                                      for setting in panel.settings), "d")
    return GeneralizationGap(panels=panels, numbers=numbers)


@FIGURES.figure(
    caption="Training minus validation accuracy in both sweeps, median (line) and range "
            f"(band) of {SEED_WORDS} seeds per setting (a seed stopped {VAL_HOLD:,} steps after "
            "it generalized keeps its last gap): the gap opens to nearly 100 points as the "
            "network memorizes and stays open until it generalizes, all budget long without "
            f"weight decay or with {SMALLEST_FRACTION} of the pairs; with the strongest decay it "
            "never opens fully.",
    result=generalization_gap_result, width=1.0, aspect=0.6)
def generalization_gap(fig, result: GeneralizationGap):
    axes = fig.subplots(2, 1, sharex=True, sharey=True)
    for ax, letter, panel in zip(axes, "ab", result.panels, strict=True):
        colours = meanings.ordered(len(panel.values))
        markers = meanings.ordered_markers(len(panel.values))  # by rank, as in every chapter
        for setting, colour in zip(panel.settings, colours, strict=True):  # bands under lines
            keep = setting.steps > 0
            ax.fill_between(setting.steps[keep], setting.low[keep], setting.high[keep],
                            color=tint(colour, 0.7), lw=0)
        for i, (setting, colour, marker) in enumerate(zip(panel.settings, colours, markers,
                                                          strict=True)):
            keep = setting.steps > 0
            steps = setting.steps[keep]
            # markers at half-decade steps, each setting shifted so they do not stack
            marks = 10 ** (0.5 + 0.5 * np.arange(8) + 0.06 * i)
            where = np.unique(np.searchsorted(steps, marks[marks <= steps[-1]]))
            ax.plot(steps, setting.median[keep], color=colour, lw=1.0, marker=marker,
                    markevery=list(where.clip(max=len(steps) - 1)),
                    ms=4.5 if marker == "*" else 3.5,
                    label=setting_text(panel.parameter, setting.value))
        ax.set_ylim(-3, 103)
        ax.set_ylabel("training $-$ validation\naccuracy (points)")
        setting_legend(ax, panel.parameter, loc="center left", bbox_to_anchor=(1.02, 0.5))
        panel_title(ax, letter, f"{PARAMETERS[panel.parameter][0].split(' $')[0].capitalize()}"
                    " sweep")
    log_steps(axes[1])


# --------------------------------------------------------------------------------------------
#: The phases of a run that generalized, in order (numerics.grokking.analysis.Phases.spans);
#: the figure draws the two between S1 and S2 as bars, S1 and S2 as markers.
PHASES = ("memorization", "circuit formation", "cleanup", "generalized")
BARS = PHASES[1:3]
NOT_GENERALIZED = "not generalized within the step budget"
S1_LABEL = f"$S_1$: training accuracy {TRAIN_PERCENT} %"
S2_LABEL = f"$S_2$: validation accuracy {VAL_PERCENT} %, held {VAL_HOLD:,} steps"


@dataclass(frozen=True)
class RunPhases:
    """The phases of one recorded run, located from its accuracies."""
    value: float
    seed: int
    s1: float                               # memorized: memorization ends here
    s2: float | None                        # generalized (held); None: not within the budget
    last_step: float                        # the run's budget, or where it stopped
    spans: dict[str, tuple[float, float]]   # BARS from S1 to S2; a run that did not
                                            # generalize: NOT_GENERALIZED from S1 to its last step
    final_key: str | None = None            # a run that did not generalize: the numbers key
                                            # of its final validation accuracy (%)


@dataclass(frozen=True)
class PhasePanel:
    parameter: str
    values: tuple[float, ...]
    runs: tuple[RunPhases, ...]             # by value, then seed


@dataclass(frozen=True)
class PhaseTransitions:
    panels: tuple[PhasePanel, ...]          # weight decay, training fraction
    decades: dict[str, tuple[float, float]]  # {bar phase: (shortest, longest)} over runs that
                                            # generalized, in decades of steps
    numbers: Numbers


def phases_of(name: str, value: float) -> RunPhases:
    """The phases of a run from its accuracies (numerics.grokking.analysis.detect_phases); a run
    that never generalized has no rise to fit, only memorization and the rest of its budget."""
    times = timing(name)
    if times.s2 is None:
        spans = {NOT_GENERALIZED: (times.s1, times.last_step)}
    else:
        every = run_phases(name).spans(times.last_step)
        spans = {phase: every[phase] for phase in BARS}
    return RunPhases(value=value, seed=times.seed, s1=times.s1, s2=times.s2,
                     last_step=times.last_step, spans=spans)


def final_key(parameter: str, value: float, seed: int) -> str:
    """The numbers key of the final validation accuracy of a run that did not generalize."""
    return f"Final{PARAMETERS[parameter][1]}{spell(value)}Seed{spell(seed)}"


def phase_panel(parameter: str, numbers: Numbers) -> PhasePanel:
    runs = []
    for value, names in sweep_settings(parameter):
        for name in names:
            run = phases_of(name, value)
            if run.s2 is None:
                key = final_key(parameter, value, run.seed)
                numbers.add(key, 100 * timing(name).final_val, ".0f")
                run = dataclasses.replace(run, final_key=key)
            runs.append(run)
    runs = tuple(runs)
    return PhasePanel(parameter=parameter, values=tuple(v for v, _ in sweep_settings(parameter)),
                      runs=runs)


def strong_decay_numbers(numbers: Numbers) -> None:
    """How far validation accuracy got with the strongest weight decay, whose seeds all memorized
    last and did not generalize: the range of their peaks and of their final accuracies, how
    many reached VAL_THRESHOLD at all, and the earliest of them: at which step, and the most
    steps any of them stayed there (fewer than VAL_HOLD: none held it)."""
    value, names = sweep_settings("weight_decay")[-1]
    peaks, finals, reached = [], [], []
    for name in names:
        run = recorded_run(name)
        steps, val = run.column("step"), run.column("val_acc")
        peaks.append(100 * float(val.max()))
        finals.append(100 * float(val[-1]))
        first = analysis.first_step_at_least(steps, val, VAL_THRESHOLD)
        if first is not None:
            reached.append((first, analysis.longest_hold(steps, val, VAL_THRESHOLD)))
    numbers.add("StrongDecayValue", value, "g")
    numbers.add("StrongDecayPeakMin", min(peaks), ".0f")
    numbers.add("StrongDecayPeakMax", max(peaks), ".0f")
    numbers.add("StrongDecayFinalMin", min(finals), ".0f")
    numbers.add("StrongDecayFinalMax", max(finals), ".0f")
    numbers.add("StrongDecayReachedRuns", len(reached), "d")
    if reached:
        numbers.add("StrongDecayReachedStep", min(step for step, _ in reached), ",.0f")
        numbers.add("StrongDecayLongestHold", max(hold for _, hold in reached), ",.0f")


def phase_transitions_result() -> PhaseTransitions:
    numbers = Numbers()
    panels = (phase_panel("weight_decay", numbers), phase_panel("train_fraction", numbers))
    runs = [run for panel in panels for run in panel.runs]
    generalized = [run for run in runs if run.s2 is not None]
    strong_decay_numbers(numbers)
    decades = {}
    for phase in BARS:
        lengths = [np.log10(run.spans[phase][1] / run.spans[phase][0]) for run in generalized]
        decades[phase] = (float(min(lengths)), float(max(lengths)))
    numbers.add("RiseStart", main_phases().rise_start, ",.0f")
    numbers.add("PhaseRuns", len(generalized), "d")
    numbers.add("PhaseNotGeneralizedRuns", len(runs) - len(generalized), "d")
    numbers.add("Hold", VAL_HOLD, ",d")
    for phase, key in zip(BARS, ("Circuit", "Cleanup"), strict=True):
        numbers.add(f"{key}DecadesMin", decades[phase][0], ".1f")
        numbers.add(f"{key}DecadesMax", decades[phase][1], ".1f")
    return PhaseTransitions(panels=panels, decades=decades, numbers=numbers)


#: The two phases between S1 and S2 are not ordered values of a setting but two stages of one
#: run: circuit formation in a dark tint of ink, cleanup in light grey.
PHASE_COLOURS = {"circuit formation": tint(INK, 0.35), "cleanup": GREY}


@FIGURES.figure(
    caption="Phases of each sweep run, read from accuracy alone: memorization until "
            f"training accuracy reaches {TRAIN_PERCENT}\\,\\% ($S_1$), circuit formation "
            f"until validation accuracy rises, cleanup until it holds {VAL_PERCENT}\\,\\% for "
            f"{VAL_HOLD:,} steps ($S_2$); more weight decay (1 to 3) or data (40 to "
            "70\\,\\%) shortens circuit formation in every seed. Located from the progress "
            "measures, every phase of the main run ends later.",
    result=phase_transitions_result, width=1.0, aspect=0.5)
def phase_transitions(fig, result: PhaseTransitions):
    # The rest of a run that did not generalize is a thin ink line, not a phase.
    axes = fig.subplots(1, 2, sharex=True)
    for ax, letter, panel in zip(axes, "ab", result.panels, strict=True):
        ticks, labels, row = [], [], 0.0
        for value in panel.values:
            runs = [run for run in panel.runs if run.value == value]
            rows = row + np.arange(len(runs))
            for y, run in zip(rows, runs, strict=True):
                for phase, (start, end) in run.spans.items():
                    if phase == NOT_GENERALIZED:
                        ax.hlines(y, start, end, color=INK, lw=0.6, label=phase)
                        ax.plot(end, y, **censored_marker(NOT_GENERALIZED))
                    elif end > start:
                        ax.hlines(y, start, end, color=PHASE_COLOURS[phase], lw=4.5,
                                  label=phase)
                ax.plot(run.s1, y, **s1_marker(S1_LABEL), zorder=3)
                if run.s2 is not None:
                    ax.plot(run.s2, y, **s2_marker(S2_LABEL), zorder=3)
            finals = [result.numbers[run.final_key] for run in runs if run.final_key]
            if finals:  # right of the setting's triangles, top to bottom
                ax.annotate(", ".join(finals) + " %", xy=(max(run.last_step for run in runs),
                                                          rows.mean()),
                            xytext=(6, 0), textcoords="offset points", ha="left",
                            va="center", fontsize=SMALL)
            ticks.append(rows.mean())
            labels.append(setting_text(panel.parameter, value))
            row = rows[-1] + 1.8
        log_steps(ax)
        ax.set_yticks(ticks, labels)
        ax.set_ylim(row - 1.2, -0.8)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_ylabel(PARAMETERS[panel.parameter][0])
        panel_title(ax, letter, f"{PARAMETERS[panel.parameter][0].split(' $')[0].capitalize()}"
                    " sweep")
    start = min(run.s1 for panel in result.panels for run in panel.runs)
    # room right of the last triangles for their final validation accuracy
    axes[0].set_xlim(start / 1.6, max(run.last_step for panel in result.panels
                                      for run in panel.runs) * 4)
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, []).append(handle)
    # filled column by column: S1, the two bars, then S2 and the runs that did not generalize
    order = ([S1_LABEL, S2_LABEL, BARS[0], NOT_GENERALIZED, BARS[1]]
             if fig.get_figwidth() > 5 else [S1_LABEL, *BARS, S2_LABEL, NOT_GENERALIZED])
    labels = [f"{NOT_GENERALIZED}\n(right: final validation accuracy, top to bottom)"
              if name == NOT_GENERALIZED else name for name in order]
    fig.legend([tuple(handles[name][:2]) if name == NOT_GENERALIZED else handles[name][0]
                for name in order], labels, loc="outside upper center",
               ncols=3 if fig.get_figwidth() > 5 else 2, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NormRun:
    """The parameter norm of one run of the weight-decay sweep, and when it memorized and
    generalized."""
    value: float             # its weight decay
    seed: int
    steps: np.ndarray
    norm: np.ndarray
    s1: float
    s2: float | None         # None: not generalized within the budget...
    last_step: float         # ...which ends here (S2 is later, if it comes at all)
    norm_at_s1: float


@dataclass(frozen=True)
class WeightNorm:
    values: tuple[float, ...]                # the weight decays, ascending
    runs: tuple[NormRun, ...]                # by weight decay, then seed
    numbers: Numbers


def weight_norm_result() -> WeightNorm:
    runs = []
    for value, names in sweep_settings("weight_decay"):
        for name in names:
            run, times = recorded_run(name), timing(name)
            steps, norm = run.column("step"), run.column("weight_norm")
            runs.append(NormRun(
                value=value, seed=times.seed, steps=steps, norm=norm, s1=times.s1, s2=times.s2,
                last_step=times.last_step, norm_at_s1=float(np.interp(times.s1, steps, norm))))
    values = tuple(v for v, _ in sweep_settings("weight_decay"))
    numbers = Numbers()
    numbers.add("NormStart", runs[0].norm[0], ".0f")
    for value in values:
        mine = [run for run in runs if run.value == value]
        key = f"Wd{spell(value)}"
        numbers.add(f"NormAtSOne{key}Min", min(run.norm_at_s1 for run in mine), ".0f")
        numbers.add(f"NormAtSOne{key}Max", max(run.norm_at_s1 for run in mine), ".0f")
    numbers.add("NormBudget", max(run.last_step for run in runs if run.s2 is None), ",.0f")
    return WeightNorm(values=values, runs=tuple(runs), numbers=numbers)


#: A column of triangles of weight_norm (b) closer than this (in units of the norm) to the next
#: on its right is labelled on its left.
CLOSE_COLUMNS = 6.0


@FIGURES.figure(
    caption=f"Parameter norm in the weight-decay sweep ({SEED_WORDS} seeds each; squares: "
            "$S_1$, diamonds: $S_2$) and $S_2$ against the norm at $S_1$ (bar: median; above "
            "the break: not generalized): the stronger the decay, the smaller the norm at "
            "memorization; from 1 to 3 the median $S_2$ falls, though the seeds of 2 and 3 "
            "overlap; with 0 and 0.3 no seed generalizes, nor with 5, whose network memorizes "
            "last.",
    result=weight_norm_result, width=1.0, aspect=0.42)
def weight_norm(fig, result: WeightNorm):
    grid = fig.add_gridspec(1, 2, width_ratios=[1.25, 1])
    ax_a = fig.add_subplot(grid[0])
    # panel (b): S2 below an axis break; the runs without an S2 in a strip above it
    strip_grid = grid[1].subgridspec(2, 1, height_ratios=[0.3, 1], hspace=0.05)
    ax_strip = fig.add_subplot(strip_grid[0])
    ax_b = fig.add_subplot(strip_grid[1], sharex=ax_strip)
    colours = dict(zip(result.values, meanings.ordered(len(result.values)), strict=True))
    labelled = set()
    row: dict[float, int] = {}  # the strip's row of a setting's next triangle, from the bottom
    for run in result.runs:
        keep = run.steps > 0
        colour = colours[run.value]
        label = None if run.value in labelled else setting_text("weight_decay", run.value)
        labelled.add(run.value)
        ax_a.plot(run.steps[keep], run.norm[keep], color=colour, lw=0.7, label=label)
        ax_a.plot(run.s1, run.norm_at_s1, **{**s1_marker(), "ms": 3, "color": colour})
        if run.s2 is not None:
            ax_a.plot(run.s2, np.interp(run.s2, run.steps, run.norm),
                      **{**s2_marker(), "ms": 4, "color": colour})
            ax_b.plot(run.norm_at_s1, run.s2, **{**s2_marker(), "ms": 5, "color": colour})
        else:  # S2 lies beyond the budget: in the strip, the seeds' triangles stacked
            row[run.value] = row.get(run.value, -1) + 1
            ax_strip.plot(run.norm_at_s1, row[run.value],
                          **{**censored_marker(), "color": colour})
    for value in result.values:  # each setting's median S2, where every seed generalized
        mine = [run for run in result.runs if run.value == value]
        if all(run.s2 is not None for run in mine):
            ax_b.plot(float(np.median([run.norm_at_s1 for run in mine])),
                      float(np.median([run.s2 for run in mine])), ls="none", marker="_",
                      ms=11, mew=1.2, color=colours[value])
    log_steps(ax_a)
    # beside the panel, in the order the lines take around S1 (the squares)
    setting_legend(ax_a, "weight_decay", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax_a.set_ylabel(r"parameter norm $\|\theta\|_2$")
    panel_title(ax_a, "a", "Parameter norm")
    # each setting's lambda in ink (the light end of the colour map is too pale for text):
    # above its diamonds; beside its triangles, to the right unless the next column of
    # triangles stands too close for the label, then to the left
    centre = {value: float(np.mean([run.norm_at_s1 for run in result.runs
                                     if run.value == value])) for value in result.values}
    columns = sorted(centre[value] for value in row)  # the settings with triangles
    for value in result.values:
        mine = [run for run in result.runs if run.value == value]
        generalized = [run.s2 for run in mine if run.s2 is not None]
        text, x = setting_text("weight_decay", value), centre[value]
        if generalized:
            ax_b.annotate(text, xy=(x, max(generalized)), xytext=(0, 5),
                          textcoords="offset points", ha="center", va="bottom", color=INK,
                          fontsize=SMALL)
            continue
        right = not any(0 < other - x < CLOSE_COLUMNS for other in columns)
        ax_strip.annotate(text, xy=(x, row[value] / 2), xytext=(5 if right else -5, 0),
                          textcoords="offset points", ha="left" if right else "right",
                          va="center", color=INK, fontsize=SMALL)
    ax_b.set_yscale("log")
    shown = [run.s2 for run in result.runs if run.s2 is not None]
    low, high = min(shown) / 1.15, max(shown) * 1.3  # room for the labels above
    ticks = [tick for tick in (1000, 2000, 3000, 4000, 6000, 8000) if low <= tick <= high]
    ax_b.set_yticks(ticks, [f"{tick:,}" for tick in ticks])
    ax_b.set_ylim(low, high)
    ax_b.yaxis.set_minor_locator(NullLocator())
    norms = [run.norm_at_s1 for run in result.runs]
    ax_b.set_xlim(min(norms) - 2.5, max(norms) + (5 if row else 2.5))  # room for a label
    ax_b.set_xlabel(r"$\|\theta\|_2$ at $S_1$" + ("\n" if fig.get_figwidth() < NARROW_IN
                                                   else " ") + "(memorized)")
    ax_b.set_ylabel("$S_2$ (training step)")
    # the strip: no scale, one tick saying where it lies, and what its triangles mean
    rows = max(row.values(), default=0) + 1
    ax_strip.set_ylim(-0.8, rows - 0.2)
    ax_strip.set_yticks([(rows - 1) / 2], [f"$>$ {result.numbers['NormBudget']}"])
    ax_strip.yaxis.set_minor_locator(NullLocator())
    ax_strip.tick_params(axis="x", bottom=False, labelbottom=False)
    ax_strip.spines["bottom"].set_visible(False)
    if fig.get_figwidth() >= NARROW_IN:  # between the columns, where there is room for it
        ax_strip.text(0.5, 0.5, f"not generalized\nin {result.numbers['NormBudget']} steps",
                      transform=ax_strip.transAxes, ha="center", va="center", fontsize=SMALL)
    # the break: two short slashes across the left spine
    slash = {"marker": [(-1, -0.5), (1, 0.5)], "ms": 5, "ls": "none", "color": INK,
             "mew": 0.8, "clip_on": False}
    ax_strip.plot([0], [0], transform=ax_strip.transAxes, **slash)
    ax_b.plot([0], [1], transform=ax_b.transAxes, **slash)
    panel_title(ax_strip, "b", "Generalization")


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
    """The embedding's spectrum at initialization and at the end of the main run."""
    start: Spectrum
    end: Spectrum
    uniform: float           # the share of each frequency in a flat spectrum: 1 / (p // 2)
    numbers: Numbers


def fourier_features_result() -> FourierFeatures:
    run = recorded_run(MAIN)
    start, end = embedding_spectrum(min(run.checkpoints)), embedding_spectrum(max(run.checkpoints))
    uniform = 1 / (len(start.power) - 1)
    numbers = Numbers()
    numbers.add("FrequencyCount", len(start.power) - 1, "d")
    numbers.add("UniformShare", 100 * uniform, ".1f")
    numbers.add("StartShareMin", 100 * start.power[1:].min(), ".1f")
    numbers.add("StartShareMax", 100 * start.power[1:].max(), ".1f")
    numbers.add("KeyCountEnd", len(end.key), "d")
    numbers.add_list("KeyFrequencies", end.key, "d")
    numbers.add("KeyShare", 100 * KEY_SHARE, ".0f")
    numbers.add("KeyShareEnd", 100 * end.power[end.key].sum(), ".0f")
    return FourierFeatures(start=start, end=end, uniform=uniform, numbers=numbers)


@FIGURES.figure(
    caption="Fourier spectrum of the operand embedding along the token axis at initialization "
            "and at the end of the recorded run: from a random embedding's flat spectrum (every "
            "frequency near the uniform share, dotted) the power concentrates on a few key "
            f"frequencies (black: the fewest that hold {100 * KEY_SHARE:.0f}\\,\\% of it).",
    result=fourier_features_result, width=1.0, aspect=0.36)
def fourier_features(fig, result: FourierFeatures):
    axes = fig.subplots(1, 2, sharey=True)
    numbers = result.numbers
    for ax, letter, spectrum in zip(axes, "ab", (result.start, result.end), strict=True):
        k = np.arange(1, len(spectrum.power))
        share = 100 * spectrum.power[1:]
        ax.axhline(100 * result.uniform, **{**meanings.role("reference").line, "lw": 0.7},
                   zorder=3)
        ax.set_xlabel("frequency $k$ (cycles over the $p$ tokens)")
        ax.set_xlim(0, len(spectrum.power))
        if spectrum is result.start:  # a random spectrum: no frequency is key
            ax.bar(k, share, 0.8, color=GREY)
            ax.annotate(f"uniform share: 1/{len(k)} = {numbers['UniformShare']} %",
                        xy=(2.5, 100 * result.uniform), xytext=(1, 1.6 * share.max()),
                        textcoords="data", va="bottom", fontsize=SMALL,
                        arrowprops=arrow_props())
            panel_title(ax, letter, f"Step {spectrum.step:,}\nrandom initialization")
            continue
        key = np.isin(k, spectrum.key)
        ax.bar(k[~key], share[~key], 0.8, color=GREY)
        ax.bar(k[key], share[key], 0.8, color=INK)
        for frequency, height in zip(k[key], share[key], strict=True):
            ax.text(frequency, height, f"{frequency}", ha="center", va="bottom",
                    fontsize=SMALL)
        panel_title(ax, letter, f"Step {spectrum.step:,}\n{numbers['KeyCountEnd']} key "
                    f"frequencies hold {numbers['KeyShareEnd']} %")
        ax.set_ylim(0, 100 * spectrum.power[1:].max() * 1.12)  # room for the labels
    axes[0].set_ylabel("share of power (%)")


# --------------------------------------------------------------------------------------------
#: The moments of the main run whose embedding is drawn: (name, what picks its checkpoint).
MOMENTS = ("initialization", "circuit formation", "rise starts", "mid-rise", "rise ends",
           "last step")


@dataclass(frozen=True)
class CirclePlane:
    """The operand embedding at one checkpoint on the plane of the circle frequency."""
    moment: str              # one of MOMENTS
    step: int
    points: np.ndarray       # (p, 2) tokens in the order a * k mod p
    share: float             # share of the embedding's centred variance in the plane
    spread: float            # analysis.ring_spread of the points: 0 on a circle
    val_acc: float           # validation accuracy at the checkpoint


@dataclass(frozen=True)
class EmbeddingEvolution:
    """The main run's embeddings through its transition on the plane of its strongest final
    frequency k."""
    frequency: int
    p: int
    planes: tuple[CirclePlane, ...]
    numbers: Numbers


def moment_checkpoints(run: Run, phases: analysis.Phases) -> list[int]:
    """The checkpoints of MOMENTS: the first; the one nearest the middle of circuit formation
    (halfway from S1 to the start of the rise); those nearest (in log step) to the start, the
    middle and the end of the fitted rise of validation accuracy; the last."""
    steps = np.array(sorted(run.checkpoints))

    def nearest(step: float) -> int:
        return int(steps[np.argmin(np.abs(np.log(np.maximum(steps, 1) / step)))])

    forming = steps[(steps > phases.s1) & (steps < phases.rise_start)]
    middle = (phases.s1 + phases.rise_start) / 2
    chosen = [int(steps[0]), int(forming[np.argmin(np.abs(forming - middle))]) if len(forming)
              else int(steps[0]), nearest(phases.rise_start),
              nearest(10 ** phases.sigmoid.center), nearest(phases.rise_end), int(steps[-1])]
    if chosen != sorted(set(chosen)):
        raise RunError(f"{run.path}: checkpoints {list(steps)} do not resolve the transition "
                       f"(chosen {chosen}); record more of them")
    return chosen


def embedding_evolution_result() -> EmbeddingEvolution:
    run = recorded_run(MAIN)
    frequency = analysis.strongest_frequency(embedding_spectrum(max(run.checkpoints)).power)
    p = run.config["p"]
    order = analysis.circle_order(p, frequency)  # neighbours on the circle of frequency k
    steps, val_acc = run.column("step"), run.column("val_acc")
    planes = []
    numbers = Numbers()
    numbers.add("CircleFrequency", frequency, "d")
    for moment, step in zip(MOMENTS, moment_checkpoints(run, main_phases()), strict=True):
        coords, share = analysis.fourier_plane(run.load_checkpoint(step)["embedding"], frequency)
        plane = CirclePlane(moment=moment, step=step, points=coords[order], share=share,
                            spread=analysis.ring_spread(coords),
                            val_acc=float(val_acc[np.flatnonzero(steps == step)[0]]))
        planes.append(plane)
        key = spell(moment.replace("-", " "))
        numbers.add(f"Circle{key}Step", step, ",.0f")
        numbers.add(f"Circle{key}Validation", 100 * plane.val_acc, ".0f")
        numbers.add(f"Circle{key}Spread", 100 * plane.spread, ".0f")
    return EmbeddingEvolution(frequency=frequency, p=p, planes=tuple(planes), numbers=numbers)


@FIGURES.figure(
    caption="The operand embeddings of the recorded run from initialization through its "
            "transition, projected on the plane of the strongest final Fourier frequency $k$, "
            "each token $a$ coloured by $a \\cdot k \\bmod p$ (dark 0 to light $p-1$) and "
            "joined to its neighbours in that order: a ring forms during circuit formation, "
            "while validation accuracy is still near zero, and sharpens while it rises.",
    result=embedding_evolution_result, width=1.0, aspect=0.52)
def embedding_evolution(fig, result: EmbeddingEvolution):
    k, p, numbers = result.frequency, result.p, result.numbers
    axes = fig.subplots(2, 3).ravel()
    for ax, plane in zip(axes, result.planes, strict=True):
        xy = plane.points
        key = spell(plane.moment.replace("-", " "))
        ax.plot(np.append(xy[:, 0], xy[0, 0]), np.append(xy[:, 1], xy[0, 1]), color=GREY,
                lw=0.5)
        ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(p), cmap=SEQUENTIAL_CMAP, s=6, zorder=3,
                   linewidths=0)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[["left", "bottom"]].set_visible(False)
        ax.set_title(f"{plane.moment}, step {numbers[f'Circle{key}Step']}\nvalidation "
                     f"accuracy {numbers[f'Circle{key}Validation']} %", fontsize=SMALL)
    axes[len(axes) - 2].set_xlabel(f"plane of frequency $k$ = {k}\ntoken $a$ coloured by "
                                   f"$a \\cdot {k}$ mod {p} (dark 0, light {p - 1}), joined "
                                   "in that order")


def ratio_format(value: float) -> str:
    """Two significant digits for a ratio under 10 (1.6), whole numbers above (47, 107)."""
    return ".1f" if value < 9.95 else ",.0f"


def plain_log_ticks(axis) -> None:
    """A log axis of ratios ticked 1 2 5 10 20 50 ..., printed as plain numbers."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepPoint:
    """The recorded runs of one setting of a sweep (one per seed): when they memorized and when
    they generalized."""
    value: float                  # the swept parameter
    runs: tuple[Timing, ...]
    s1: float                     # median over the seeds, and the min and max
    s1_low: float
    s1_high: float
    s2: float | None              # median, a run that never generalized counting as later than
                                  # all others; None: the median run did not generalize
    s2_low: float | None          # the earliest S2 (None: no run generalized)
    s2_high: float | None         # the latest S2 (None: some run did not generalize)
    generalized: int              # runs that generalized within their budget
    budget: float                 # the most steps a run was given
    key: str                      # numbers key of the median S2 (or of the budget: ...Budget)
    delays: tuple[float, ...]     # S2 / S1 of each run, in the order of `runs`; for a run that
                                  # did not generalize its lower bound, last step / S1
    delay: float                  # censored median of the delays (a lower bound when
    delay_censored: bool          # `delay_censored`: the median run did not generalize)
    delay_key: str                # numbers key of `delay` (...Delay or ...DelayAtLeast)
    final_key: str | None = None  # runs that did not generalize: numbers key of the lowest
                                  # final validation accuracy (%) among them (+ "Max": highest)


@dataclass(frozen=True)
class Sweep:
    """S1 and S2 of recorded runs that differ in one parameter, in the order of its value."""
    parameter: str
    points: tuple[SweepPoint, ...]
    numbers: Numbers


def sweep_point(value: float, names, prefix: str, numbers: Numbers) -> SweepPoint:
    runs = tuple(timing(name) for name in names)
    if any(run.s1 is None for run in runs):
        raise RunError(f"a run of {names} never memorized")
    s1 = [run.s1 for run in runs]
    done = [run.s2 for run in runs if run.s2 is not None]
    median = analysis.censored_median([run.s2 for run in runs])
    budget = max(run.last_step for run in runs)
    key = prefix + spell(value) + ("" if median is not None else "Budget")
    numbers.add(key, median if median is not None else budget, ",.0f")
    numbers.add(f"{prefix}{spell(value)}Generalized", len(done), "d")
    finals = [100 * run.final_val for run in runs if run.s2 is None]
    final = f"{prefix}{spell(value)}FinalValidation" if finals else None
    if finals:
        numbers.add(f"{final}Min", min(finals), ".0f")
        numbers.add(f"{final}Max", max(finals), ".0f")
    delays = tuple((run.s2 if run.s2 is not None else run.last_step) / run.s1 for run in runs)
    delay = analysis.censored_median([None if run.s2 is None else run.s2 / run.s1
                                      for run in runs])
    censored = delay is None
    if censored:  # the median run did not generalize: its delay is at least this
        delay = float(np.median(delays))
    delay_key = f"{prefix}{spell(value)}Delay" + ("AtLeast" if censored else "")
    numbers.add(delay_key, delay, ratio_format(delay))
    return SweepPoint(value=value, runs=runs, s1=float(np.median(s1)), s1_low=min(s1),
                      s1_high=max(s1), s2=median, s2_low=min(done) if done else None,
                      s2_high=max(done) if len(done) == len(runs) else None,
                      generalized=len(done), budget=budget, key=key, delays=delays,
                      delay=delay, delay_censored=censored, delay_key=delay_key,
                      final_key=final)


def sweep_result(parameter: str) -> Sweep:
    """S1 and S2 of every seed of every setting of the recorded sweep over `parameter`; each
    setting's median S2 (or its step budget, when the median run never generalized) exported
    as <prefix><value>[Budget], and how many of its seeds generalized."""
    prefix = PARAMETERS[parameter][1]
    numbers = Numbers()
    numbers.add("SweepSeeds", SEED_COUNT, "d")
    points = tuple(sweep_point(value, names, prefix, numbers)
                   for value, names in sweep_settings(parameter))
    return Sweep(parameter=parameter, points=points, numbers=numbers)


def final_label(sweep: Sweep, point: SweepPoint) -> str:
    """The final validation accuracy of a setting's runs that did not generalize, as the
    figure prints it under their triangles: '0 %' or '87$-$94 %'."""
    low, high = (sweep.numbers[f"{point.final_key}{end}"] for end in ("Min", "Max"))
    return f"{low} %" if low == high else f"{low}$-${high} %"


def even_spacing(values) -> bool:
    """Whether a sweep's settings are evenly spaced, so that a category axis is to scale."""
    return bool(np.allclose(np.diff(values), np.diff(values)[0]))


def sweep_label(sweep: Sweep, point: SweepPoint) -> str:
    """The median S2 as the figure prints it: '1,220', or '> 8,000' when the median run did
    not generalize within its budget."""
    text = sweep.numbers[point.key]
    return text if point.s2 is not None else "$>$ " + text


#: The narrowest figure (inches) whose legend of long entries fits in two columns.
LEGEND_TWO_COLUMNS_IN = 4.5
#: Spacing on the category axis of the triangles of runs that did not generalize.
CENSORED_SPACING = 0.13


def setting_axis(ax, sweep: Sweep) -> None:
    """The settings of a sweep as categories, said to be out of scale when they are."""
    ax.set_xticks(range(len(sweep.points)),
                  [setting_text(sweep.parameter, point.value) for point in sweep.points])
    ax.set_xlim(-0.5, len(sweep.points) - 0.2)
    values = [point.value for point in sweep.points]
    ax.set_xlabel(PARAMETERS[sweep.parameter][0] + ("" if even_spacing(values) else
                                                    "; settings not to scale"))


def censored_offsets(never: int, done: int) -> np.ndarray:
    """Category-axis offsets of the triangles of runs that did not generalize: side by side,
    right of the diamonds when some runs generalized, centred when none did."""
    return CENSORED_SPACING * (np.arange(never) + 1 if done else
                               np.arange(never) - (never - 1) / 2)


def draw_sweep_steps(ax, sweep: Sweep) -> None:
    """Per setting: S1 and S2, each as the median over the seeds (large marker) and the min-max
    (line); each run that generalized as a small diamond, each that did not as an open
    triangle at its last step (side by side, so they can be counted, and right of the
    diamonds)."""
    train, val = meanings.role("training"), meanings.role("validation")
    for i, point in enumerate(sweep.points):
        ax.vlines(i, point.s1_low, point.s1_high, color=train.color, lw=0.8)
        ax.plot(i, point.s1, **{**s1_marker(S1_LABEL), "ms": 4})
        if point.s2_low is not None:
            top = point.s2_high if point.s2_high is not None else point.s2_low
            ax.vlines(i, point.s2_low, top, color=val.color, lw=0.8)
        if point.s2 is not None:
            ax.plot(i, point.s2, **{**s2_marker(S2_LABEL), "ms": 5.5})
        done = [run.s2 for run in point.runs if run.s2 is not None]
        ax.plot([i] * len(done), done, **{**s2_marker(), "ms": 3})
        never = [run.last_step for run in point.runs if run.s2 is None]
        offsets = censored_offsets(len(never), len(done))
        if never:
            ax.plot(i + offsets, never, **censored_marker(
                "a run not generalized within its step budget\n(under the triangles: its "
                "final validation accuracy)"))
        if point.s2 is not None:  # right of the median
            ax.annotate(sweep_label(sweep, point), xy=(i, point.s2), xytext=(5, 0),
                        textcoords="offset points", va="center", fontsize=SMALL)
        else:  # above the triangles
            ax.annotate(sweep_label(sweep, point), xy=(i + offsets.mean(), point.budget),
                        xytext=(0, 4), textcoords="offset points", ha="center", va="bottom",
                        fontsize=SMALL)
        if never:  # under the triangles: how far validation accuracy got
            ax.annotate(final_label(sweep, point), xy=(i + offsets.mean(), point.budget),
                        xytext=(0, -5), textcoords="offset points", ha="center", va="top",
                        fontsize=SMALL)
    ax.set_yscale("log")
    ax.set_ylim(min(point.s1_low for point in sweep.points) / 1.6,
                max(point.budget for point in sweep.points) * 2.4)  # room for "> budget"


def draw_sweep_delays(ax, sweep: Sweep) -> None:
    """Per setting: the delay S2 / S1 of each seed that generalized (a short ink tick), their
    median (a long bold tick, labelled) and range. A run that did not generalize has no delay,
    only a lower bound: it is not drawn, and the setting says how many seeds are missing. No
    circles: "o" is the first marker of ordered settings."""
    for i, point in enumerate(sweep.points):
        done = [d for d, run in zip(point.delays, point.runs, strict=True) if run.s2 is not None]
        if done:
            ax.vlines(i, min(done), max(done), color=INK, lw=0.8)
            ax.plot([i] * len(done), done, ls="none", marker="_", ms=6, mew=1, color=INK,
                    label="$S_2/S_1$ of a seed (b)")
        if not point.delay_censored:
            ax.plot(i, point.delay, ls="none", marker="_", ms=12, mew=2, color=INK,
                    label="$S_2/S_1$, median (b)")
            ax.annotate(sweep.numbers[point.delay_key], xy=(i, point.delay), xytext=(9, 0),
                        textcoords="offset points", fontsize=SMALL, va="center")
        missing = len(point.runs) - len(done)
        if missing:
            ax.text(i, 0.96, "none\ngeneralized" if not done else f"{missing} not\ngeneralized",
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=SMALL,
                    color=MUTED)
    ax.set_yscale("log")
    measured = [d for point in sweep.points
                for d, run in zip(point.delays, point.runs, strict=True) if run.s2 is not None]
    ax.set_ylim(min(measured) / 1.6, max(measured) * 3.0)  # room for the notes above
    plain_log_ticks(ax.yaxis)


def draw_sweep(fig, sweep: Sweep) -> None:
    """(a) S1 and S2 per setting, (b) the delay S2 / S1 below it, on the same categories."""
    steps_ax, delay_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1.5, 1))
    draw_sweep_steps(steps_ax, sweep)
    draw_sweep_delays(delay_ax, sweep)
    for ax, letter, title in ((steps_ax, "a", "when the seeds memorize and generalize"),
                              (delay_ax, "b", "the delay $S_2 / S_1$")):
        panel_title(ax, letter, title)
    setting_axis(delay_ax, sweep)
    steps_ax.tick_params(axis="x", labelbottom=False)
    n = len(sweep.points[0].runs)
    steps_ax.set_ylabel(f"training step\n(median, min$-$max\nof {n} seeds)")
    delay_ax.set_ylabel("$S_2 / S_1$")
    handles, labels = [sum(pair, []) for pair in zip(steps_ax.get_legend_handles_labels(),
                                                     delay_ax.get_legend_handles_labels(),
                                                     strict=True)]
    unique = dict(sorted(zip(labels, handles, strict=True),
                         key=lambda item: not item[0].startswith("$S")))  # S1, S2, then the rest
    fig.legend(unique.values(), unique.keys(), loc="outside upper center",
               ncols=2 if fig.get_figwidth() >= LEGEND_TWO_COLUMNS_IN else 1, fontsize=SMALL)


def sweep_caption(setting: str, centre: str) -> str:
    """The opening every sweep's caption shares: what is drawn, over what, and the budgets."""
    return (f"When {SEED_WORDS} seeds memorize ($S_1$) and generalize ($S_2$) (a), and the delay "
            f"$S_2/S_1$ (b), by {setting}, median and range ({budgets(centre)})")


def train_fraction_sweep_result() -> Sweep:
    return sweep_result("train_fraction")


@FIGURES.figure(
    caption=sweep_caption("the share of pairs trained on", CENTRE_FRACTION) + ": less "
            "data delays generalization, in steps and against $S_1$; with "
            f"{SMALLEST_FRACTION} no seed generalizes. The {CENTRE_FRACTION} point is the main "
            "run.",
    result=train_fraction_sweep_result, width=0.8, aspect=0.95)
def train_fraction_sweep(fig, sweep: Sweep):
    draw_sweep(fig, sweep)


def weight_decay_sweep_result() -> Sweep:
    sweep = sweep_result("weight_decay")
    strong_decay_numbers(sweep.numbers)
    return sweep


@FIGURES.figure(
    caption=sweep_caption("weight decay", CENTRE_DECAY) + ": with 0 or 0.3 none "
            "generalizes in the budget (0.3 still rising); more decay, a shorter delay; the "
            "strongest delays memorization tenfold and ends at 83 to 94\\,\\%.",
    result=weight_decay_sweep_result, width=0.8, aspect=0.95)
def weight_decay_sweep(fig, sweep: Sweep):
    draw_sweep(fig, sweep)


def learning_rate_sweep_result() -> Sweep:
    return sweep_result("lr")


@FIGURES.figure(
    caption=sweep_caption("AdamW learning rate", CENTRE_LR) + ": a larger rate brings "
            "both forward, $S_2$ more, so the delay falls from 53 at 0.002 to 19 at 0.02; at "
            "0.001 no seed generalizes in the budget (still rising).",
    result=learning_rate_sweep_result, width=0.8, aspect=0.95)
def learning_rate_sweep(fig, sweep: Sweep):
    draw_sweep(fig, sweep)


def batch_size_sweep_result() -> Sweep:
    """The batch-size sweep, and S1 in passes over the training pairs (median S1 times the
    batch over the training pairs): steps of different batches see different amounts of data."""
    sweep = sweep_result("batch_size")
    epochs = [point.s1 * point.value / recorded_run(point.runs[0].name).config["n_train"]
              for point in sweep.points]
    sweep.numbers.add("BatchSOneEpochsMin", min(epochs), ".0f")
    sweep.numbers.add("BatchSOneEpochsMax", max(epochs), ".0f")
    return sweep


@FIGURES.figure(
    caption=sweep_caption("training pairs per step", "the full batch") + ": $S_2$ stays "
            "at 4,170 to 4,950 steps while $S_1$ falls from 2,700 to 89 (72 to 124 passes over "
            "the pairs): the delay grows with the batch, 1.6 to 47.",
    result=batch_size_sweep_result, width=0.8, aspect=0.95)
def batch_size_sweep(fig, sweep: Sweep):
    draw_sweep(fig, sweep)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedSpread:
    """The main configuration over its seeds: accuracies per logged step (median and range),
    and each seed's S1 and S2."""
    steps: np.ndarray
    train: tuple[np.ndarray, np.ndarray, np.ndarray]   # median, min, max over the seeds
    val: tuple[np.ndarray, np.ndarray, np.ndarray]
    runs: tuple[Timing, ...]
    numbers: Numbers


def spread(columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stacked = np.vstack(columns)
    return np.median(stacked, axis=0), stacked.min(axis=0), stacked.max(axis=0)


def seed_spread_result() -> SeedSpread:
    names = [seeded(MAIN, seed) for seed in MAIN_SEEDS]
    runs = [recorded_run(name) for name in names]
    steps = runs[0].column("step")
    for run in runs[1:]:
        if not np.array_equal(run.column("step"), steps):
            raise RunError(f"{run.path}: logged at other steps than {runs[0].path}")
    timings = tuple(timing(name) for name in names)
    if any(t.s1 is None or t.s2 is None for t in timings):
        raise RunError(f"a seed of {MAIN} did not memorize or generalize: {timings}")
    numbers = Numbers()
    numbers.add("SpreadSeeds", len(names), "d")
    for key, values in (("SOne", [t.s1 for t in timings]), ("STwo", [t.s2 for t in timings]),
                        ("Delay", [t.s2 / t.s1 for t in timings])):
        for end, value in (("Median", np.median(values)), ("Min", min(values)),
                           ("Max", max(values))):
            numbers.add(f"Spread{key}{end}", value, ",.0f")
    numbers.add("SpreadSTwoRatio", max(t.s2 for t in timings) / min(t.s2 for t in timings),
                ".1f")
    return SeedSpread(steps=steps, train=spread([r.column("train_acc") for r in runs]),
                      val=spread([r.column("val_acc") for r in runs]), runs=timings,
                      numbers=numbers)


@FIGURES.figure(
    caption="The main configuration with five seeds (a seed draws the training split and the "
            "initialization): training and validation accuracy as median and min$-$max, and "
            "each seed's $S_1$ and $S_2$. Memorization repeats to within a few steps ($S_1$ "
            "88$-$92); generalization does not: $S_2$ spans 2,450 to 4,410 steps, 1.8-fold.",
    result=seed_spread_result, width=0.8, aspect=0.8)
def seed_spread(fig, result: SeedSpread):
    curves, moments = fig.subplots(2, 1, sharex=True, height_ratios=(2.4, 1.2))
    for role, (median, low, high) in (("training", result.train), ("validation", result.val)):
        style = meanings.role(role)
        curves.fill_between(result.steps[1:], 100 * low[1:], 100 * high[1:],
                            color=tint(style.color, 0.7), lw=0, label=f"{role}, min$-$max")
        curves.plot(result.steps[1:], 100 * median[1:], color=style.color, ls=style.linestyle,
                    lw=1.2, label=f"{role}, median")
    curves.set_ylabel(f"accuracy (%), {spell_count(len(result.runs))} seeds")
    curves.set_ylim(0, 103)
    # one row per seed: S1 and S2 joined, so each seed's delay reads as a span
    for row, t in enumerate(result.runs):
        moments.plot([t.s1, t.s2], [row, row], color=MUTED, lw=0.6)
        moments.plot(t.s1, row, **s1_marker(S1_LABEL if row == 0 else None))
        moments.plot(t.s2, row, **s2_marker(S2_LABEL if row == 0 else None))
    for key, values in (("SpreadSOne", [t.s1 for t in result.runs]),
                        ("SpreadSTwo", [t.s2 for t in result.runs])):
        label = "$S_1$" if key == "SpreadSOne" else "$S_2$"
        moments.annotate(f"{label} {result.numbers[key + 'Min']}$-$"
                         f"{result.numbers[key + 'Max']}", xy=(float(np.median(values)), -1.1),
                         ha="center", va="center", fontsize=SMALL)
    moments.set_yticks(range(len(result.runs)), [f"seed {t.seed}" for t in result.runs])
    moments.set_ylim(len(result.runs) - 0.4, -1.6)
    moments.tick_params(axis="y", length=0)
    log_steps(moments)
    moments.set_xlim(1, result.steps[-1] * 1.3)
    handles, labels = [sum(pair, []) for pair in zip(curves.get_legend_handles_labels(),
                                                     moments.get_legend_handles_labels(),
                                                     strict=True)]
    fig.legend(handles, labels, loc="outside upper center", ncols=2)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sharpness:
    """One recorded run that generalized: its delay and the width of its validation rise."""
    name: str
    sweep: str            # the sweep it belongs to ("centre": the main configuration's seeds)
    delay: float          # S2 / S1
    width: float          # 10 %-90 % of the fitted sigmoid's rise, in decades of steps
    rmse: float           # of the fit, in accuracy (0-1)


@dataclass(frozen=True)
class TransitionSharpness:
    runs: tuple[Sharpness, ...]
    groups: tuple[str, ...]       # sweeps in drawing order, "centre" first
    numbers: Numbers


def rank_correlation(x, y) -> float:
    """Spearman's rank correlation (ties get the mean rank)."""
    def ranks(values):
        values = np.asarray(values, float)
        order = np.argsort(values, kind="stable")
        r = np.empty(len(values))
        r[order] = np.arange(len(values), dtype=float)
        for value in np.unique(values):  # mean rank of ties
            tied = values == value
            r[tied] = r[tied].mean()
        return r
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def transition_sharpness_result() -> TransitionSharpness:
    owner: dict[str, str] = {seeded(MAIN, seed): "centre" for seed in MAIN_SEEDS}
    for parameter, points in SWEEPS.items():
        for names in points:
            for name in names:
                owner.setdefault(name, parameter)
    runs, never = [], 0
    for name, group in owner.items():
        t = timing(name)
        if t.s2 is None:
            never += 1
            continue
        fit = run_phases(name).sigmoid
        runs.append(Sharpness(name=name, sweep=group, delay=t.s2 / t.s1,
                              width=fit.rise_decades, rmse=fit.rmse))
    numbers = Numbers()
    numbers.add("SharpRuns", len(runs), "d")
    numbers.add("SharpNeverRuns", never, "d")
    widths = [r.width for r in runs]
    numbers.add("SharpWidthMin", min(widths), ".2f")
    numbers.add("SharpWidthMax", max(widths), ".2f")
    numbers.add("SharpWidthMedian", float(np.median(widths)), ".2f")
    numbers.add("SharpRankCorrelation", rank_correlation([r.delay for r in runs], widths),
                ".2f")
    by_name = {r.name: r for r in runs}
    for parameter, points in SWEEPS.items():  # each sweep with its centre point (main's seeds)
        members = [by_name[name] for names in points for name in names if name in by_name]
        numbers.add(f"SharpRank{PARAMETERS[parameter][1]}",
                    rank_correlation([r.delay for r in members], [r.width for r in members]),
                    ".2f")
    numbers.add("SharpFitRmseMax", 100 * max(r.rmse for r in runs), ".1f")
    numbers.add("SharpFactorMin", 10 ** min(widths), ".1f")  # step at 90 % / step at 10 %
    numbers.add("SharpFactorMax", 10 ** max(widths), ".1f")
    delays = [r.delay for r in runs]
    numbers.add("SharpDelayMin", min(delays), ratio_format(min(delays)))
    numbers.add("SharpDelayMax", max(delays), ratio_format(max(delays)))
    groups = ("centre", *SWEEPS)
    return TransitionSharpness(runs=tuple(runs), groups=groups, numbers=numbers)


SWEEP_NAMES = {"centre": "main configuration, five seeds", "train_fraction": "training fraction",
               "weight_decay": "weight decay", "lr": "learning rate", "batch_size": "batch size"}


@FIGURES.figure(
    caption="The width of the validation rise (10 to 90\\,\\% of the sigmoid fitted "
            "against log step) in each of the 44 sweep runs that generalized (15 did not), "
            "against its delay $S_2/S_1$: 0.09 to 0.45 decades of steps (a factor of 1.2 to 2.8) "
            "for delays from 1.5 to 54, a weak trend (rank correlation 0.41), clear in the "
            "learning-rate and batch sweeps (0.80, 0.72), not in the training-fraction one "
            "($-$0.25).",
    result=transition_sharpness_result, width=0.8, aspect=0.62)
def transition_sharpness(fig, result: TransitionSharpness):
    ax = fig.subplots()
    for group, style in zip(result.groups, meanings.unnamed(len(result.groups)), strict=True):
        runs = [r for r in result.runs if r.sweep == group]
        ax.plot([r.delay for r in runs], [r.width for r in runs], ls="none",
                marker=style["marker"], color=style["color"], ms=4, mfc="none",
                label=SWEEP_NAMES[group])
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("delay $S_2 / S_1$")
    ax.set_ylabel("validation rise, 10$-$90 % of the\nfitted sigmoid (decades of steps)")
    fig.legend(title="recorded runs of the sweep over", loc="outside upper center",
               ncols=3 if fig.get_figwidth() >= LEGEND_TWO_COLUMNS_IN else 2, fontsize=SMALL,
               title_fontsize=SMALL)


# ============================================================================================
# Progress measures (Nanda et al. 2023) of the main run (scripts/recorders/grokking_progress.py)
#: The main run trained afresh, with its progress measures every 50 steps.
PROGRESS_DATA = ROOT / "data" / "grokking_progress"
#: The colours of the phases' bars: circuit formation and cleanup as in phase_transitions,
#: memorization a light grey, none after cleanup; the names on them in ink, on the dark bar of
#: circuit formation in white.
PROGRESS_COLOURS = {"memorization": tint(GREY, 0.6), **PHASE_COLOURS}
PROGRESS_TEXT = {"circuit formation": "white"}
#: The loss curves: (column, label, unnamed style); training and validation in their roles'
#: styles, the two measures in greys told apart by line style (meanings.unnamed, after the
#: first: the training loss's solid ink).
PROGRESS_LOSSES = (("train_loss", "training loss", None), ("val_loss", "validation loss", None),
                   ("restricted_loss", "restricted loss", 1), ("excluded_loss", "excluded loss", 2))
#: Where each loss curve is labelled: (step, offset in points, alignment); placed where no other
#: curve passes: training on its floor, validation over its peak, restricted under and left
#: of its fall, excluded under its lowest point.
PROGRESS_LABELS = {"train_loss": (4500, (0, 3), "center", "bottom"),
                   "val_loss": (1000, (0, 3), "center", "bottom"),
                   "restricted_loss": (5000, (-2, -3), "right", "top"),
                   "excluded_loss": (1500, (0, -4), "center", "top")}


@dataclass(frozen=True)
class ProgressMeasures:
    """The main run's losses and progress measures over its steps, and the phases located from
    the measures and from accuracy."""
    steps: np.ndarray
    losses: dict[str, np.ndarray]     # train_loss, val_loss, restricted_loss, excluded_loss
    gini: np.ndarray                  # of the embedding's Fourier power, k = 1 .. p // 2
    key: np.ndarray                   # the key frequencies
    gini_key_only: float              # the Gini of power spread evenly over the key frequencies
    chance: float                     # ln p: the loss of a uniform guess
    measured: dict[str, tuple[float, float]]  # {phase: (start, end)} from the measures
    accuracy: dict[str, tuple[float, float]]  # {phase: (start, end)} from accuracy
    numbers: Numbers


@cache
def progress_run() -> Run:
    return load_run(PROGRESS_DATA / MAIN)


def progress_measures_result() -> ProgressMeasures:
    run = progress_run()
    columns = {name: run.column(name) for name in run.columns}
    steps, p = columns["step"], run.config["p"]
    phases = progress.detect_phases(columns, p)
    last = float(steps[-1])
    if phases.cleanup_end is None:
        raise RunError(f"{run.path}: the validation loss never meets the restricted loss")
    accuracy = run_phases(MAIN)
    key = np.array(run.config["key_frequencies"])
    frequencies = p // 2
    numbers = Numbers()
    numbers.add_list("ProgressKeyFrequencies", key, "d")
    numbers.add("ProgressKeyCount", len(key), "d")
    numbers.add("ProgressKeyShare", 100 * run.config["key_share"], ".0f")
    numbers.add("ProgressSnapshotEvery", run.config["snapshot_every"], "d")
    numbers.add("ProgressMeetFactor", phases.meet_factor, ".0f")
    numbers.add("ProgressChanceLoss", phases.chance_loss, ".2f")
    ends = {"Memorization": phases.memorization_end, "Circuit": phases.circuit_end,
            "Cleanup": phases.cleanup_end}
    for name, step in ends.items():
        at = np.flatnonzero(steps == step)[0]
        numbers.add(f"Progress{name}End", step, ",.0f")
        for column, key_name in (("train_loss", "Train"), ("val_loss", "Val"),
                                 ("restricted_loss", "Restricted"),
                                 ("excluded_loss", "Excluded")):
            value = columns[column][at]
            numbers.add(f"Progress{name}End{key_name}Loss", value,
                        ".2g" if value >= 0.01 else "sci1")
        numbers.add(f"Progress{name}EndGini", columns["fourier_gini"][at], ".2f")
        numbers.add(f"Progress{name}EndValAcc", 100 * columns["val_acc"][at], ".0f")
        numbers.add(f"Progress{name}EndRestrictedAcc", 100 * columns["restricted_acc"][at],
                    ".0f")
    numbers.add("ProgressSOne", accuracy.s1, ",.0f")
    numbers.add("ProgressRiseStart", accuracy.rise_start, ",.0f")
    numbers.add("ProgressSTwo", accuracy.s2, ",.0f")
    numbers.add("ProgressMemorizationRatio", phases.memorization_end / accuracy.s1, ".0f")
    numbers.add("ProgressGiniStart", columns["fourier_gini"][0], ".2f")
    numbers.add("ProgressGiniEnd", columns["fourier_gini"][-1], ".2f")
    gini_key_only = 1 - len(key) / frequencies  # progress.gini of len(key) equal values in n
    numbers.add("ProgressGiniKeyOnly", gini_key_only, ".2f")
    numbers.add("ProgressExcludedLossEnd", columns["excluded_loss"][-1], ".1f")
    return ProgressMeasures(
        steps=steps, losses={name: columns[name] for name, _, _ in PROGRESS_LOSSES},
        gini=columns["fourier_gini"], key=key, gini_key_only=gini_key_only,
        chance=phases.chance_loss, measured=phases.spans(last), accuracy=accuracy.spans(last),
        numbers=numbers)


def progress_loss_style(column: str, unnamed: int | None) -> dict:
    """The line style of a loss curve (the roles' for training and validation)."""
    if unnamed is None:
        role = meanings.role("training" if column == "train_loss" else "validation")
        return {"color": role.color, "ls": role.linestyle}
    style = meanings.unnamed(3)[unnamed]
    return {"color": style["color"], "ls": style["linestyle"]}


def draw_phase_row(ax, y: float, spans: dict[str, tuple[float, float]], height: float,
                   names: dict[str, str] | None = None) -> None:
    """One row of a timeline: each phase a band (none after cleanup), named inside (by `names`
    where given) when it is wide enough."""
    width = ax.get_xlim()[1] - ax.get_xlim()[0]
    for phase, (start, end) in spans.items():
        if phase in PROGRESS_COLOURS:
            ax.broken_barh([(start, end - start)], (y - height / 2, height),
                           facecolors=PROGRESS_COLOURS[phase], lw=0)
        colour = PROGRESS_TEXT.get(phase, INK)
        if (end - start) / width > 0.12:
            name = (names or {}).get(phase, phase)
            ax.text((start + end) / 2, y, name.replace(" ", "\n") if
                    (end - start) / width < 0.24 else name, ha="center", va="center",
                    fontsize=SMALL, color=colour, linespacing=0.85)


def draw_phase_timelines(ax, measured: dict, accuracy: dict, numbers: Numbers,
                         prefix: str) -> None:
    """Panel (a) of both progress-measure figures: the phases from the measures (top row, each
    boundary's step centred over it) and from accuracy (bottom row, S1, rise start and S2);
    the numbers are `<prefix>MemorizationEnd`, `<prefix>SOne` and so on."""
    rows = {"measures and losses": (0.0, measured), "accuracy": (1.0, accuracy)}
    for y, spans in rows.values():
        draw_phase_row(ax, y, spans, 0.78)
    ax.set_yticks([y for y, _ in rows.values()], list(rows))
    ax.set_ylim(1.9, -0.9)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", bottom=False)
    ax.spines[["left", "bottom"]].set_visible(False)
    for name in ("Memorization", "Circuit", "Cleanup"):
        ax.text(numbers.value(f"{prefix}{name}End"), -0.42, numbers[f"{prefix}{name}End"],
                ha="center", va="bottom", fontsize=SMALL)
    ax.plot(accuracy["memorization"][1], 1.0, **s1_marker(), zorder=3)
    ax.plot(accuracy["cleanup"][1], 1.0, **s2_marker(), zorder=3)
    for text, step, ha in ((f"$S_1$ = {numbers[f'{prefix}SOne']}",
                            accuracy["memorization"][1], "left"),
                           (f"rise starts {numbers[f'{prefix}RiseStart']}",
                            accuracy["circuit formation"][1], "center"),
                           (f"$S_2$ = {numbers[f'{prefix}STwo']}", accuracy["cleanup"][1],
                            "center")):
        ax.text(step, 1.42, text, ha=ha, va="top", fontsize=SMALL)
    panel_title(ax, "a", "Phases located from the progress measures and from accuracy")


@FIGURES.figure(
    caption="Progress measures (Nanda et al.\\ 2023): restricted loss keeps only the neurons' "
            "parts at the key frequencies (the fewest with "
            f"{100 * KEY_SHARE:.0f}\\,\\% of the final embedding's Fourier power), excluded "
            "loss removes them; memorization lasts until excluded loss is lowest (step 1,500, "
            "not $S_1$ = 91), circuit formation until validation loss stays under $\\ln p$, "
            "cleanup until it is within 10$\\times$ restricted loss.",
    result=progress_measures_result, width=1.0, aspect=0.85)
def progress_measures(fig, result: ProgressMeasures):
    numbers = result.numbers
    ax_phase, ax_loss, ax_gini = fig.subplots(3, 1, sharex=True,
                                              height_ratios=(0.75, 1.6, 0.85))
    last = float(result.steps[-1])
    ax_phase.set_xlim(0, last)
    draw_phase_timelines(ax_phase, result.measured, result.accuracy, numbers, "Progress")
    # (b) the losses, the measures' phases shaded behind them
    for ax in (ax_loss, ax_gini):  # memorization unshaded: its tint is too close to cleanup's
        for phase, (start, end) in result.measured.items():
            if phase in PROGRESS_COLOURS and phase != "memorization":
                ax.axvspan(start, end, color=tint(PROGRESS_COLOURS[phase], 0.7), lw=0,
                           zorder=0)
    for column, label, unnamed in PROGRESS_LOSSES:
        ax_loss.plot(result.steps, result.losses[column], lw=1.0,
                     **progress_loss_style(column, unnamed))
        step, offset, ha, va = PROGRESS_LABELS[column]
        ax_loss.annotate(label, xy=(step, np.interp(step, result.steps, result.losses[column])),
                         xytext=offset, textcoords="offset points", ha=ha, va=va,
                         fontsize=SMALL)
    ax_loss.axhline(result.chance, **{**meanings.role("reference").line, "lw": 0.7})
    ax_loss.annotate(f"$\\ln p$ = {numbers['ProgressChanceLoss']} (uniform guess)",
                     xy=(last, result.chance), xytext=(-2, 2), textcoords="offset points",
                     ha="right", va="bottom", fontsize=SMALL)
    ax_loss.set_yscale("log")
    top = max(values.max() for values in result.losses.values())
    ax_loss.set_ylim(top=10 * top)  # room for the label over the validation loss's peak
    ax_loss.set_ylabel("cross-entropy loss")
    panel_title(ax_loss, "b", "Losses")
    # (c) the Fourier sparsity of the embedding
    ax_gini.plot(result.steps, result.gini, color=INK, lw=1.0)
    ax_gini.axhline(result.gini_key_only, **{**meanings.role("reference").line, "lw": 0.7})
    ax_gini.annotate(f"all power in the {numbers['ProgressKeyCount']} key frequencies, evenly",
                     xy=(0.01 * last, result.gini_key_only), xytext=(0, 2),
                     textcoords="offset points", ha="left", va="bottom", fontsize=SMALL)
    ax_gini.set_ylim(0, 1.15 * result.gini_key_only)  # room for the reference's label
    ax_gini.set_ylabel("Gini of the\nFourier power")
    ax_gini.set_xlabel("training step")
    ax_gini.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    panel_title(ax_gini, "c", "Fourier sparsity of the embedding")


# ============================================================================================
# A one-layer transformer on the same task (scripts/recorders/grokking_transformer.py)
#: A training loss under this is at its floor (float32: the right answer's probability rounds
#: to 1 for some pairs); a jump from it by SPIKE_FACTOR or more within SPIKE_WINDOW logged
#: steps is a spike.
LOSS_FLOOR, SPIKE_FACTOR, SPIKE_WINDOW = 1e-6, 100.0, 3


def transformer_grokking_curves_result() -> RunCurves:
    run = transformer_run()
    curves = run_curves(run, transformer_phases(), prefix="Transformer")
    steps, loss, train = run.column("step"), run.column("train_loss"), run.column("train_acc")
    spikes = tuple(analysis.loss_spikes(steps, loss, LOSS_FLOOR, SPIKE_FACTOR, SPIKE_WINDOW))
    numbers = curves.numbers
    numbers.add("TransformerPrime", run.config["p"], "d")
    numbers.add("TransformerHeads", run.config["n_heads"], "d")
    numbers.add("TransformerSpikes", len(spikes), "d")
    numbers.add_list("TransformerSpikeSteps", [spike.step for spike in spikes], ",.0f")
    numbers.add("TransformerSpikeDecadesMin", min(spike.decades for spike in spikes), ".0f")
    numbers.add("TransformerSpikeDecadesMax", max(spike.decades for spike in spikes), ".0f")
    during = np.concatenate([train[(steps >= spike.step) & (steps < spike.step + 100)]
                             for spike in spikes])
    numbers.add("TransformerSpikeTrainAccMin", 100 * during.min(), ".1f")
    # the spikes' steps, from the thousand before the first to the end of the run
    zoom = (1000 * np.floor(spikes[0].step / 1000), float(steps[-1]))
    numbers.add("TransformerZoomStart", zoom[0], ",.0f")
    return dataclasses.replace(curves, spikes=spikes, zoom=zoom)


@FIGURES.figure(
    caption="A one-layer transformer (4 heads; one seed, settings chosen from 4 tries) "
            "grokking: training loss jumps four times by five to six decades from about "
            "$2 \\cdot 10^{-7}$, where float32 rounds the right answer's probability to 1 for "
            "some pairs (softmax collapse, Prieto et al.\\ 2025) and Adam's normaliser is under "
            "epsilon (slingshot regime, Thilak et al.\\ 2022); training accuracy dips under 3 "
            "points.",
    result=transformer_grokking_curves_result, width=1.0, aspect=0.62)
def transformer_grokking_curves(fig, curves: RunCurves):
    draw_grokking_curves(fig, curves)


# --------------------------------------------------------------------------------------------
# The progress measures of the transformer (scripts/recorders/grokking_progress.py, run
# `transformer`: the recorded run trained afresh, measured every 50 steps)
#: Where each of the transformer's loss curves is labelled: (step, offset in points, alignment).
#: Training right of its first descent (clear of the first spike), validation over its
#: plateau, excluded over its rise; restricted in the empty space under its fall
#: (RESTRICTED_LABEL_AT, data coordinates) with an arrow; ln p (TRANSFORMER_CHANCE_LABEL)
#: under its line where only the excluded loss passes, above it.
TRANSFORMER_PROGRESS_LABELS = {"train_loss": (250, (4, 4), "left", "bottom"),
                               "val_loss": (1150, (0, 3), "center", "bottom"),
                               "restricted_loss": (2650, None, "center", "center"),
                               "excluded_loss": (5000, (0, 3), "center", "bottom")}
RESTRICTED_LABEL_AT = (2150, 0.07)
TRANSFORMER_CHANCE_LABEL = 4700


@dataclass(frozen=True)
class TransformerProgress:
    """The transformer's losses and progress measures over its steps, the phases located from
    the measures (cleanup without an end) and from accuracy, and where the validation loss
    meets and leaves the restricted loss after circuit formation."""
    steps: np.ndarray
    losses: dict[str, np.ndarray]     # train_loss, val_loss, restricted_loss, excluded_loss
    chance: float                     # ln p
    measured: dict[str, tuple[float, float]]  # memorization, circuit formation, cleanup (open)
    accuracy: dict[str, tuple[float, float]]  # {phase: (start, end)} from accuracy
    meets: np.ndarray                 # steps at which val comes within the factor of restricted
    leaves: np.ndarray                # steps at which it leaves that band
    ratio: np.ndarray                 # validation loss / restricted loss at every measured step
    meet_factor: float                # the band: ratio at most this
    numbers: Numbers


@cache
def transformer_progress_run() -> Run:
    return load_run(PROGRESS_DATA / "transformer")


def transformer_progress_measures_result() -> TransformerProgress:
    run = transformer_progress_run()
    columns = {name: run.column(name) for name in run.columns}
    steps, p = columns["step"], run.config["p"]
    last = float(steps[-1])
    phases = progress.detect_phases(columns, p)
    if phases.circuit_end is None:
        raise RunError(f"{run.path}: the validation loss never stays under ln p")
    meets, leaves = progress.meetings(columns, phases.circuit_end, phases.meet_factor)
    accuracy = transformer_phases()
    if phases.cleanup_end is None:
        raise RunError(f"{run.path}: the validation loss never stays within the band")
    measured = phases.spans(last)  # the MLP's rules: cleanup ends at the last entry (5,550)
    ratio = columns["val_loss"] / columns["restricted_loss"]
    numbers = Numbers()
    numbers.add("TransformerProgressCleanupEnd", phases.cleanup_end, ",.0f")
    numbers.add("TransformerProgressRatioEnd", ratio[-1], ".1f")
    after_last_meet = steps >= phases.cleanup_end
    numbers.add("TransformerProgressRatioPeakAfter", ratio[after_last_meet].max(), ".1f")
    numbers.add_list("TransformerProgressKeyFrequencies", run.config["key_frequencies"], "d")
    numbers.add("TransformerProgressKeyCount", len(run.config["key_frequencies"]), "d")
    numbers.add("TransformerProgressMemorizationEnd", phases.memorization_end, ",.0f")
    numbers.add("TransformerProgressCircuitEnd", phases.circuit_end, ",.0f")
    numbers.add("TransformerProgressSOne", accuracy.s1, ",.0f")
    numbers.add("TransformerProgressRiseStart", accuracy.rise_start, ",.0f")
    numbers.add("TransformerProgressSTwo", accuracy.s2, ",.0f")
    numbers.add("TransformerProgressMeetFactor", phases.meet_factor, ".0f")
    numbers.add("TransformerProgressChanceLoss", phases.chance_loss, ".2f")
    numbers.add_list("TransformerProgressMeetSteps", meets, ",.0f")
    numbers.add("TransformerProgressMeetCount", len(meets), "d")
    numbers.add("TransformerProgressLeaveCount", len(leaves), "d")
    numbers.add("TransformerProgressExcludedLossEnd", columns["excluded_loss"][-1], ".0f")
    return TransformerProgress(
        steps=steps, losses={name: columns[name] for name, _, _ in PROGRESS_LOSSES},
        chance=phases.chance_loss, measured=measured, accuracy=accuracy.spans(last),
        meets=meets, leaves=leaves, ratio=ratio, meet_factor=phases.meet_factor,
        numbers=numbers)


@FIGURES.figure(
    caption="Progress measures of the transformer (key frequencies 2, 8, 20; every 50 "
            "steps), by the MLP's rules: memorization until excluded loss is lowest "
            "(step 500, not $S_1$ = 76), circuit formation until validation loss stays under "
            "$\\ln p$ (2,750), cleanup until it stays within 10$\\times$ restricted loss "
            "(5,550); it enters that band three times, each after a float32 loss spike, and "
            "leaves it twice (c).",
    result=transformer_progress_measures_result, width=1.0, aspect=0.72)
def transformer_progress_measures(fig, result: TransformerProgress):
    numbers = result.numbers
    ax_phase, ax_loss, ax_ratio = fig.subplots(3, 1, sharex=True,
                                               height_ratios=(0.75, 1.8, 0.9))
    last = float(result.steps[-1])
    ax_phase.set_xlim(0, last)
    draw_phase_timelines(ax_phase, result.measured, result.accuracy, numbers,
                         "TransformerProgress")
    # (b) the losses, circuit formation and the open cleanup shaded behind them
    for phase, (start, end) in result.measured.items():
        if phase in ("circuit formation", "cleanup"):
            ax_loss.axvspan(start, end, color=tint(PROGRESS_COLOURS[phase], 0.7), lw=0,
                            zorder=0)
    for column, label, unnamed in PROGRESS_LOSSES:
        ax_loss.plot(result.steps, result.losses[column], lw=1.0,
                     **progress_loss_style(column, unnamed))
        step, offset, ha, va = TRANSFORMER_PROGRESS_LABELS[column]
        xy = (step, np.interp(step, result.steps, result.losses[column]))
        if offset is None:
            ax_loss.annotate(label, xy=xy, xytext=RESTRICTED_LABEL_AT, ha=ha, va=va,
                             fontsize=SMALL, arrowprops=arrow_props())
        else:
            ax_loss.annotate(label, xy=xy, xytext=offset, textcoords="offset points", ha=ha,
                             va=va, fontsize=SMALL)
    ax_loss.axhline(result.chance, **{**meanings.role("reference").line, "lw": 0.7})
    ax_loss.annotate(f"$\\ln p$ = {numbers['TransformerProgressChanceLoss']} (uniform guess)",
                     xy=(TRANSFORMER_CHANCE_LABEL, result.chance), xytext=(0, -2),
                     textcoords="offset points", ha="center", va="top", fontsize=SMALL)
    ax_loss.set_yscale("log")
    top = max(values.max() for values in result.losses.values())
    ax_loss.set_ylim(top=10 * top)  # room for the labels over the validation and excluded loss
    ax_loss.set_ylabel("cross-entropy loss")
    panel_title(ax_loss, "b", "Losses")
    # (c) validation over restricted loss: the band the cleanup rule reads, entries and exits
    for phase, (start, end) in result.measured.items():
        if phase in ("circuit formation", "cleanup"):
            ax_ratio.axvspan(start, end, color=tint(PROGRESS_COLOURS[phase], 0.7), lw=0,
                             zorder=0)
    ax_ratio.plot(result.steps, result.ratio, color=INK, lw=1.0)
    ax_ratio.axhline(result.meet_factor, **{**meanings.role("reference").line, "lw": 0.7})
    ax_ratio.annotate(f"{numbers['TransformerProgressMeetFactor']}$\\times$",
                      xy=(0, result.meet_factor), xytext=(2, 2), textcoords="offset points",
                      ha="left", va="bottom", fontsize=SMALL)
    at = {float(step): float(value) for step, value in zip(result.steps, result.ratio,
                                                            strict=True)}
    ax_ratio.plot(result.meets, [at[float(m)] for m in result.meets], ls="none", marker="v",
                  ms=3.5, color=INK, label="enters the band")
    ax_ratio.plot(result.leaves, [at[float(m)] for m in result.leaves], ls="none", marker="^",
                  ms=3.5, color=INK, mfc="white", label="leaves it")
    ax_ratio.legend(loc="upper left", fontsize=SMALL, handlelength=1)
    ax_ratio.set_yscale("log")
    ax_ratio.set_ylabel("validation /\nrestricted loss")
    ax_ratio.set_xlabel("training step")
    ax_ratio.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    panel_title(ax_ratio, "c", "The band of the cleanup rule")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionEvolution:
    """Attention of the transformer's final position at checkpoints chosen by phase."""
    moments: tuple[str, ...]  # ATTENTION_MOMENTS
    steps: tuple[int, ...]
    val_acc: tuple[float, ...]  # validation accuracy at each checkpoint
    attention: np.ndarray    # (checkpoint, head, position a / b / =), averaged over all pairs
    numbers: Numbers


#: A head favours one operand when it gives it more than this share of its attention.
FAVOURED = 0.55
#: The rows of the attention maps, in units of a row: the "=" token, attended to only at
#: initialization, gets a thinner row.
ROW_EDGES = (0.0, 1.0, 2.0, 2.5)


def attention_evolution_result() -> AttentionEvolution:
    run = transformer_run()
    steps = attention_checkpoints(run, transformer_phases())
    attention = np.stack([run.load_checkpoint(step)["attention"] for step in steps])
    logged, val = run.column("step"), run.column("val_acc")
    numbers = Numbers()
    for moment, step in zip(ATTENTION_MOMENTS, steps, strict=True):
        key = spell(moment.replace("-", " "))
        numbers.add(f"Attention{key}Step", step, ",d")
        numbers.add(f"Attention{key}Validation", 100 * val[logged == step][0], ".0f")
    memorized = attention[ATTENTION_MOMENTS.index("memorized")]
    favoured = memorized[:, :2].max(axis=1)
    favoured = favoured[favoured > FAVOURED]  # the heads that favour one operand
    numbers.add("AttentionFavoured", 100 * FAVOURED, ".0f")
    numbers.add("AttentionMemorizedFavouredHeads", len(favoured), "d")
    numbers.add("AttentionMemorizedFavouredMin", 100 * favoured.min(), ".0f")
    numbers.add("AttentionMemorizedFavouredMax", 100 * favoured.max(), ".0f")
    numbers.add("AttentionGeneralizedOperands", 100 * attention[-1][:, :2].mean(), ".0f")
    return AttentionEvolution(moments=ATTENTION_MOMENTS, steps=tuple(steps),
                              val_acc=tuple(float(val[logged == step][0]) for step in steps),
                              attention=attention, numbers=numbers)


def ink_on(rgb) -> str:
    """Text colour readable on a cell of colour `rgb`: ink on light cells, white on dark ones
    (by the cell's relative luminance, WCAG 2)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # the text colour of the larger contrast ratio: (L1 + 0.05) / (L2 + 0.05)
    return INK if (luminance + 0.05) / (0.0193 + 0.05) > 1.05 / (luminance + 0.05) else "white"


@FIGURES.figure(
    caption="Attention from the final position to the operands $a$, $b$ and to itself ($=$, "
            "thin row) per head of the recorded transformer, averaged over all pairs, at "
            "checkpoints chosen by phase: uniform at initialization; once memorized, none to "
            "$=$ and three of the four heads favour one operand (60 to 78\\,\\%); all move to "
            "half on each operand while validation accuracy rises.",
    result=attention_evolution_result, width=1.0, aspect=0.4)
def attention_evolution(fig, result: AttentionEvolution):
    cmap = colormaps[SEQUENTIAL_CMAP]
    axes = fig.subplots(1, len(result.steps), sharey=True)
    heads = result.attention.shape[1]
    edges = np.array(ROW_EDGES)
    centres = (edges[:-1] + edges[1:]) / 2
    for ax, moment, attention in zip(axes, result.moments, result.attention, strict=True):
        image = ax.pcolormesh(np.arange(heads + 1) - 0.5, edges, 100 * attention.T, cmap=cmap,
                              vmin=0, vmax=100)
        for head in range(heads):
            for position in range(len(POSITIONS)):
                value = attention[head, position]
                ax.text(head, centres[position], f"{100 * value:.0f}", ha="center",
                        va="center", fontsize=SMALL, color=ink_on(cmap(value)))
        ax.set_xticks(range(heads), [str(head + 1) for head in range(heads)])
        ax.set_xlabel("head")
        key = spell(moment.replace("-", " "))
        ax.set_title(f"{moment}\nstep {result.numbers[f'Attention{key}Step']}\nvalidation "
                     f"{result.numbers[f'Attention{key}Validation']} %", fontsize=SMALL)
    axes[0].set_ylim(edges[-1], edges[0])
    axes[0].set_yticks(centres, POSITIONS)
    axes[0].set_ylabel("attends to")
    bar = fig.colorbar(image, ax=list(axes), pad=0.02)
    bar.set_label("attention (%)")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeadSpecialization:
    """How much of each transformer head's output its strongest Fourier frequencies carry."""
    steps: np.ndarray        # step 0 and the checkpoints every `checkpoint_every` steps
    top_shares: np.ndarray   # (checkpoint, head): share of the head's power in its top 3
    spectrum_end: np.ndarray  # (head, k = 1 .. (p-1)/2): share of the head's power, last step
    dominant: np.ndarray     # (head,): the frequency with the most power at the last step
    s2: float
    numbers: Numbers


def head_specialization_result() -> HeadSpecialization:
    run = transformer_run()
    every = run.config["checkpoint_every"]
    steps = np.array([step for step in sorted(run.checkpoints) if step % every == 0])
    top_shares = np.array([run.load_checkpoint(step)["head_fourier_share"] for step in steps])
    power_end = run.load_checkpoint(steps[-1])["head_freq_power"]
    dominant = np.argmax(power_end, axis=1) + 1
    phases = transformer_phases()
    numbers = Numbers()
    numbers.add_list("HeadDominantFrequencies", dominant, "d")
    numbers.add_list("TransformerKeyFrequencies", sorted(set(dominant)), "d")
    numbers.add("HeadShareEnd", 100 * top_shares[-1].mean(), ".0f")
    numbers.add("HeadShareStart", 100 * top_shares[0].mean(), ".0f")
    add_s1_s2(numbers, phases, "Transformer")
    numbers.add("HeadCheckpointEvery", every, ",d")
    frequencies = power_end.shape[1]
    numbers.add("HeadFrequencies", frequencies, "d")
    numbers.add("HeadFlatShare", 100 * TOP_K / frequencies, ".0f")  # each k: 1 / frequencies
    return HeadSpecialization(steps=steps, top_shares=top_shares,
                              spectrum_end=power_end / power_end.sum(axis=1, keepdims=True),
                              dominant=dominant, s2=phases.s2, numbers=numbers)


@FIGURES.figure(
    caption="Head specialization in the recorded transformer: the share of each head's output "
            "(as a function of $a$ and $b$) carried by its three strongest Fourier frequencies "
            f"(dotted: {TOP_K}/{TRANSFORMER_SPEC['p'] // 2} in a flat spectrum), "
            f"at checkpoints every {TRANSFORMER_SPEC['checkpoint_every']} steps, creeps up while "
            "the network forms its circuit and rises steeply as it generalizes (around $S_2$); "
            "at the end each head is dominated by one of a few key frequencies.",
    result=head_specialization_result, width=1.0, aspect=0.38)
def head_specialization(fig, result: HeadSpecialization):
    steps, top_shares = result.steps, result.top_shares
    heads = top_shares.shape[1]
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    for head, style in enumerate(meanings.unnamed(heads)):
        ax_a.plot(steps, 100 * top_shares[:, head], color=style["color"],
                  ls=style["linestyle"], marker=style["marker"], markersize=2.5, lw=0.8,
                  label=f"head {head + 1}")
    ax_a.axvline(result.s2, **{**meanings.role("reference").line, "color": MUTED, "lw": 0.6})
    ax_a.text(result.s2, 0.45, f" $S_2$ = {result.numbers['TransformerSTwo']}",
              transform=ax_a.get_xaxis_transform(), ha="left", va="bottom", fontsize=SMALL)
    ax_a.set_xlabel("training step")
    ax_a.set_xlim(0, steps[-1])
    ax_a.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    frequencies = result.spectrum_end.shape[1]
    flat = 100 * TOP_K / frequencies
    ax_a.axhline(flat, **{**meanings.role("reference").line, "lw": 0.7})
    ax_a.annotate("flat spectrum", xy=(steps[-1], flat),  # 3/26: in the caption
                  xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom",
                  fontsize=SMALL)
    ax_a.set_ylabel("top-3 frequency share (%)")
    ax_a.set_ylim(0, 100)
    panel_title(ax_a, "a", "Fourier share per head")
    ax_a.legend(loc="upper left", fontsize=SMALL)
    image = ax_b.imshow(100 * result.spectrum_end, aspect="auto", cmap=SEQUENTIAL_CMAP,
                        extent=(0.5, frequencies + 0.5, heads + 0.5, 0.5), vmin=0)
    ax_b.set_xlabel("frequency $k$")
    ax_b.set_ylabel("head")
    ax_b.set_yticks(range(1, heads + 1))
    bar = fig.colorbar(image, ax=ax_b, pad=0.03)
    bar.set_label("% of the head's power")
    panel_title(ax_b, "b", f"Spectrum at step {steps[-1]:,}")


# ============================================================================================
# Simplicity bias: a spurious cue against the rule (scripts/recorders/simplicity_bias.py)
#: The recorded runs with a cue token: modular addition from a, b and a cue c that is the answer
#: for a share RHO of the training pairs at every step (models.cued_modular).
CUE_DATA = cue_recorder.DATA
CUE_RUNS = tuple(cue_recorder.seeded("main", seed) for seed in cue_recorder.SEEDS)
#: The cue is read once the network predicts it on this share of the held-out pairs whose cue
#: is wrong.
CUE_READ = 0.9
CUE_PERCENT = f"{100 * cue_recorder.RHO:.0f}"  # as the caption prints it


@dataclass(frozen=True)
class CueSeed:
    """When one recorded seed read the cue, memorized the pairs and followed the rule."""
    seed: int
    read: float          # held-out pairs with a wrong cue first predicted as the cue >= CUE_READ
    s1: float            # training accuracy (on the step's cues) first >= TRAIN_THRESHOLD
    s2: float            # held-out accuracy with a wrong cue >= VAL_THRESHOLD held VAL_HOLD steps
    last_step: float
    read_peak: float     # the largest share of those pairs predicted as the cue
    aligned_low: float   # the lowest held-out accuracy with the right cue after `read`
    aligned_low_step: float
    cue_at_s1: float     # share of the pairs with a wrong cue predicted as the cue, at S1
    rule_at_s1: float    # ... and as (a + b) mod p
    cue_end: float       # ... at the last step
    rule_end: float


@dataclass(frozen=True)
class SimplicityBias:
    """Median, min and max over the seeds at every logged step (a seed stopped by its stop rule
    counts with its last values from there on) of what the figure draws: training accuracy on
    the step's cues, held-out accuracy with the right cue, and the held-out pairs with a wrong
    cue predicted as the cue, as (a + b) mod p (the rule) and as neither."""
    steps: np.ndarray
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    exceptions: tuple[np.ndarray, np.ndarray, np.ndarray]  # training pairs with a wrong cue
    aligned: tuple[np.ndarray, np.ndarray, np.ndarray]
    cue: tuple[np.ndarray, np.ndarray, np.ndarray]
    rule: tuple[np.ndarray, np.ndarray, np.ndarray]
    neither: tuple[np.ndarray, np.ndarray, np.ndarray]
    rho: float
    seeds: tuple[CueSeed, ...]
    numbers: Numbers


def cue_seed(run: Run) -> CueSeed:
    steps = run.column("step")
    cue, rule = run.column("val_follows_cue"), run.column("val_acc_conflicting")
    aligned = run.column("val_acc_aligned")
    read = analysis.first_step_at_least(steps, cue, CUE_READ)
    s1 = analysis.first_step_at_least(steps, run.column("train_acc"), TRAIN_THRESHOLD)
    s2 = analysis.first_held_step(steps, rule, VAL_THRESHOLD, VAL_HOLD)
    if read is None or s1 is None or s2 is None:
        raise RunError(f"{run.path}: read the cue at {read}, memorized at {s1}, followed the "
                       f"rule at {s2}; the figure needs all three")
    after = steps >= read
    low = int(np.argmin(np.where(after, aligned, np.inf)))
    at_s1 = int(np.flatnonzero(steps == s1)[0])
    return CueSeed(seed=int(run.config["seed"]), read=read, s1=s1, s2=s2,
                   last_step=float(steps[-1]), read_peak=float(cue.max()),
                   aligned_low=float(aligned[low]), aligned_low_step=float(steps[low]),
                   cue_at_s1=float(cue[at_s1]), rule_at_s1=float(rule[at_s1]),
                   cue_end=float(cue[-1]), rule_end=float(rule[-1]))


def carried_spread(runs: list[Run], values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, min and max over `runs` of `values(run)` at the logged steps of the longest run,
    each shorter run counting with its last value after its last step."""
    length = max(len(run) for run in runs)
    stacked = np.stack([np.concatenate([v, np.full(length - len(v), v[-1])])
                        for v in (values(run) for run in runs)])
    return np.median(stacked, axis=0), stacked.min(axis=0), stacked.max(axis=0)


def simplicity_bias_result() -> SimplicityBias:
    runs = [load_run(CUE_DATA / name) for name in CUE_RUNS]
    seeds = tuple(cue_seed(run) for run in runs)
    longest = max(runs, key=len)
    steps = longest.column("step")
    for run, seed in zip(runs, seeds, strict=True):
        if not np.array_equal(run.column("step"), steps[:len(run)]):
            raise RunError(f"{run.path}: logged at other steps than {longest.path}")
        if len(run) < len(steps) and seed.last_step != seed.s2 + VAL_HOLD:
            raise RunError(f"{run.path}: stopped at step {seed.last_step:,.0f} without its stop "
                           "rule holding")
    rho = float(runs[0].config["rho"])
    if any(float(run.config["rho"]) != rho for run in runs):
        raise RunError(f"the runs in {CUE_DATA} differ in rho")
    numbers = Numbers()
    numbers.add("CueShare", 100 * rho, ".0f")
    numbers.add("CueSeeds", len(runs), "d")
    numbers.add("CueRead", 100 * CUE_READ, ".0f")
    numbers.add("CueReadStepMax", max(seed.read for seed in seeds), ",.0f")
    numbers.add("CueReadPeakMin", 100 * min(seed.read_peak for seed in seeds), ".1f")
    numbers.add("CueAlignedLowMin", 100 * min(seed.aligned_low for seed in seeds), ".0f")
    numbers.add("CueAlignedLowMax", 100 * max(seed.aligned_low for seed in seeds), ".0f")
    numbers.add("CueAtSOneMax", 100 * max(seed.cue_at_s1 for seed in seeds), ".0f")
    for key, values in (("SOne", [seed.s1 for seed in seeds]),
                        ("STwo", [seed.s2 for seed in seeds])):
        numbers.add(f"Cue{key}Median", float(np.median(values)), ",.0f")
        numbers.add(f"Cue{key}Min", min(values), ",.0f")
        numbers.add(f"Cue{key}Max", max(values), ",.0f")
    ratios = [seed.s2 / seed.s1 for seed in seeds]
    numbers.add("CueDelayMedian", float(np.median(ratios)), ".1f")
    numbers.add("CueDelayMin", min(ratios), ".1f")
    numbers.add("CueDelayMax", max(ratios), ".1f")
    # the same seed (split and operand initialization) without the cue: the main grokking run
    without = [timing(seeded(MAIN, seed.seed)).s2 for seed in seeds]
    later = [seed.s2 / s2 for seed, s2 in zip(seeds, without, strict=True)]
    numbers.add("CueLaterMin", min(later), ".1f")
    numbers.add("CueLaterMax", max(later), ".1f")
    numbers.add("CueRuleEndMin", 100 * min(seed.rule_end for seed in seeds), ".0f")
    numbers.add("CueFollowedEndMax", 100 * max(seed.cue_end for seed in seeds), ".1f")

    def spread_of(name: str):
        return carried_spread(runs, lambda run: run.column(name))

    return SimplicityBias(
        steps=steps, train=spread_of("train_acc"),
        exceptions=spread_of("train_acc_conflicting"), aligned=spread_of("val_acc_aligned"),
        cue=spread_of("val_follows_cue"), rule=spread_of("val_acc_conflicting"),
        neither=carried_spread(runs, lambda run: 1 - run.column("val_follows_cue")
                               - run.column("val_acc_conflicting")),
        rho=rho, seeds=seeds, numbers=numbers)


@FIGURES.figure(
    caption="Modular addition with a cue token that is the answer for "
            f"{CUE_PERCENT}\\,\\% of the training pairs, redrawn every step (after Qiu et "
            f"al.\\ 2024), median and range of {spell_count(len(CUE_RUNS))} seeds: the network "
            "reads the cue within 20 steps; memorizing the exceptions ($S_1$), it outvotes "
            "the cue on unseen pairs even where it is right; where it is wrong it follows the "
            "rule only at $S_2$, 1.2 to 1.6 times later than without the cue.",
    result=simplicity_bias_result, width=1.0, aspect=0.62)
def simplicity_bias(fig, result: SimplicityBias):
    """(a) training accuracy on the step's cues (at the cue's share while the network reads the
    cue), on the training pairs given a wrong cue (their answers memorized) and held-out
    accuracy with the right cue; (b) the held-out pairs with a wrong cue by the
    answer the network gives: the cue's, the rule's or neither. Medians (lines) and min-max
    (bands) over the seeds on one log step axis, each seed's S1 and S2 marked, their medians
    dotted; a seed stopped by its stop rule counts with its last values after its last step."""
    ax_a, ax_b = fig.subplots(2, 1, sharex=True)
    keep = result.steps > 0
    steps = result.steps[keep]
    training, held_out = meanings.role("training"), meanings.role("validation")
    reference = meanings.role("reference")
    cue_style = {"color": MUTED, "linestyle": "-."}   # ink is training's colour
    neither_style = {"color": GREY, "linestyle": "-"}

    def draw(ax, spread, style, label):
        median, low, high = (100 * values[keep] for values in spread)
        ax.fill_between(steps, low, high, color=tint(style["color"], 0.7), lw=0)
        ax.plot(steps, median, lw=1.1, label=label, **style)

    draw(ax_a, result.train, {"color": training.color, "linestyle": training.linestyle},
         "training pairs")
    draw(ax_a, result.exceptions, {"color": training.color, "linestyle": (0, (5, 1, 1, 1))},
         "training pairs with a\nwrong cue (memorized)")
    draw(ax_a, result.aligned, {"color": held_out.color, "linestyle": held_out.linestyle},
         "held-out pairs, cue right")
    ax_a.axhline(100 * result.rho, color=reference.color, ls=reference.linestyle, lw=0.7,
                 label=f"the cue alone: {result.numbers['CueShare']} %\nof the training pairs")
    draw(ax_b, result.cue, cue_style, "the cue's, $c$")
    draw(ax_b, result.rule, {"color": held_out.color, "linestyle": held_out.linestyle},
         "the rule's, $(a + b)$ mod $p$")
    draw(ax_b, result.neither, neither_style, "neither")
    numbers = result.numbers
    for ax in (ax_a, ax_b):
        for key in ("SOne", "STwo"):
            ax.axvline(numbers.value(f"Cue{key}Median"), color=MUTED, lw=0.6, ls=":")
        ax.set_ylim(0, 104)
    # S1 left of its line, S2 right of its: the two are half a decade apart
    for key, label, side in (("SOne", "$S_1$", "right"), ("STwo", "$S_2$", "left")):
        ax_a.text(numbers.value(f"Cue{key}Median"), 1.02,
                  f" {label} = {numbers[f'Cue{key}Median']} ", ha=side, va="bottom",
                  transform=ax_a.get_xaxis_transform(), fontsize=SMALL)
    for i, seed in enumerate(result.seeds):  # each seed's S1 on the training curve, S2 on the
        first = i == 0                         # rule's, named once in the legends
        ax_a.plot(seed.s1, 100 * TRAIN_THRESHOLD, **{**s1_marker(
            f"$S_1$ of a seed: training\naccuracy {TRAIN_PERCENT} %" if first else None), "ms": 3})
        ax_b.plot(seed.s2, 100 * VAL_THRESHOLD, **{**s2_marker(
            f"$S_2$ of a seed: {VAL_PERCENT} % held\n{VAL_HOLD:,} steps" if first else None),
            "ms": 4})
    for ax in (ax_a, ax_b):
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=SMALL,
                  handlelength=2.2)
    ax_a.set_ylabel("accuracy (%)")
    ax_b.set_ylabel("held-out pairs\nwith a wrong cue (%)")
    log_steps(ax_b)
    ax_b.set_xlim(1, steps[-1] * 1.1)
    panel_title(ax_a, "a", "Accuracy")
    panel_title(ax_b, "b", "Where the cue is wrong: whose answer the network gives")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
