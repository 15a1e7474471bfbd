"""Fine-tuning figures: schedules, per-layer rates, gradient flow, forgetting, memory, convergence.

Run `python scripts/fine_tuning.py --help`. Every curve comes from a cited formula
(numerics.fine_tuning.schedules and .quadratic, numerics.memory), a cited table
(published.hyperparameters) or a seeded run of the project's own numpy code
(numerics.fine_tuning.experiments). Each figure is a result function that computes what the
figure shows and a drawing function that only draws it. Every colour comes from the book's
table of meanings (figkit.meanings).
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullFormatter, NullLocator
from matplotlib.transforms import ScaledTranslation

from figkit import Registry, diagram, latex, meanings
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.charts import straight_series
from figkit.numbers import Numbers, spell
from figkit.palette import GREY, INK, LIGHT, MUTED, SEQUENTIAL_CMAP, tint
from figkit.style import NORMAL, SMALL
from numerics import memory
from numerics.fine_tuning import experiments, quadratic, schedules
from published import hyperparameters
from recorders import fine_tuning as recorded

FIGURES = Registry("fine_tuning")


# ---- numbers and text as LaTeX (the table, and labels that quote the published values) ---
def _math_number(value: float) -> str:
    """A number as math: rates below 0.001 as 2\\times10^{-5}, the rest as written (0.01,
    1{,}875)."""
    if value != 0 and abs(value) < 1e-3:
        exponent = int(np.floor(np.log10(abs(value))))
        return rf"{value / 10**exponent:g}\times10^{{{exponent}}}"
    return f"{int(value):,}".replace(",", "{,}") if float(value).is_integer() else f"{value:g}"


def _tex_number(value: float) -> str:
    """A number as the table prints it: rates below 0.001 as $2\\times10^{-5}$, the rest as
    written (0.01, 16, 1,875)."""
    if value != 0 and abs(value) < 1e-3:
        return f"${_math_number(value)}$"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _tex_values(values: tuple[float, ...]) -> str:
    """One number, or several as a set: {16, 32}; rates that share a power of ten as
    {2, 3, 5}x10^-5 (a set, never a range with a hyphen that reads as a minus)."""
    if len(values) == 1:
        return _tex_number(values[0])
    exponents = {int(np.floor(np.log10(abs(v)))) for v in values if v != 0}
    if all(0 < abs(v) < 1e-3 for v in values) and len(exponents) == 1:
        (exponent,) = exponents
        mantissas = r",\,".join(f"{v / 10**exponent:g}" for v in values)
        return rf"$\{{{mantissas}\}}\times10^{{{exponent}}}$"
    return r"$\{" + r",\,".join(map(_math_number, values)) + r"\}$"


def _tex_text(text: str) -> str:
    """Plain text with math between dollar signs: the text escaped (a thin space before %, an
    inter-word space after abbreviations such as "Sec."), the math kept."""
    pieces = text.split("$")
    if len(pieces) % 2 == 0:
        raise ValueError(f"unbalanced $ in {text!r}")

    def plain(piece: str) -> str:
        piece = latex.escape(piece).replace(r" \%", r"\,\%")
        return re.sub(r"\b(Sec|App|al|Fig)\. ", r"\1.\\ ", piece)

    return "".join(f"${piece}$" if i % 2 else plain(piece) for i, piece in enumerate(pieces))


# --------------------------------------------------------------------------------------------
#: ULMFiT's T for the slanted triangle.
STLR_STEPS = 1000
#: Panel (a) draws learning rates in units of this (a linear axis, so that a decay to zero
#: reaches zero on the figure).
RATE_UNIT = 1e-4
#: Points per schedule of panel (a), over the fraction of training 0..1.
SCHEDULE_POINTS = 2001
#: Panel (a)'s markers: every MARKER_EVERY points from MARKER_START, staggered from schedule
#: to schedule so that no two coincide.
MARKER_START, MARKER_STAGGER, MARKER_EVERY = 100, 60, 400
#: Gap between a schedule's line and a label beside it, clear of the line's markers (points).
LABEL_CLEARANCE_PT = 4
#: Where BERT's label starts: right of its warm-up, below QLoRA's lower line.
BERT_LABEL_AT = 0.12
#: Panel (b) draws ULMFiT's rates in units of this.
STLR_RATE_UNIT = 1e-3
#: The published peaks of LoRA and QLoRA (both model-size groups), and how many times BERT's
#: grid they lie above: from the lowest adapter peak over BERT's highest, to the highest over
#: BERT's lowest (learning_rate_comparison's caption states it).
ADAPTER_PEAKS = (hyperparameters.LORA_LEARNING_RATE, hyperparameters.QLORA_LEARNING_RATE,
                 hyperparameters.QLORA_LARGE_LEARNING_RATE)
ADAPTER_OVER_BERT = (min(ADAPTER_PEAKS) / max(hyperparameters.BERT_LEARNING_RATES),
                     max(ADAPTER_PEAKS) / min(hyperparameters.BERT_LEARNING_RATES))


@dataclass(frozen=True)
class PublishedSchedule:
    """One fine-tuning schedule as its source publishes it, over the fraction of training."""
    method: str                     # key in the table of meanings: full, lora, qlora
    label: str                      # what it was published for, and by whom
    peak: float
    rate: np.ndarray                # at ScheduleComparison.progress
    shape: str                      # "linear decay to 0" or "constant"


@dataclass(frozen=True)
class ScheduleComparison:
    """Published fine-tuning schedules (a) and ULMFiT's slanted triangle (b)."""
    progress: np.ndarray            # fraction of training, 0..1
    schedules: tuple[PublishedSchedule, ...]
    pretrain_peak: float            # LLaMA-7B/13B's pre-training peak, a reference line
    rate_unit: float                # panel (a) draws rates in units of this
    stlr_rate_unit: float           # ... and panel (b) in units of this
    stlr_total: int                 # T
    stlr_steps: np.ndarray          # t = 0..T
    stlr_rate: np.ndarray           # ULMFiT eq. (3) at `stlr_steps`
    stlr_cut: int                   # iteration of the peak
    stlr_cut_fraction: float
    stlr_eta_max: float
    stlr_ratio: int
    numbers: Numbers

    @property
    def bert_peaks(self) -> tuple[float, ...]:
        return tuple(sorted(s.peak for s in self.schedules if s.method == "full"))

    @property
    def lora_peak(self) -> float:
        return next(s.peak for s in self.schedules if s.method == "lora")


def learning_rate_comparison_result() -> ScheduleComparison:
    hp = hyperparameters
    # the grid holds the ends of the warm-ups, so every drawn schedule reaches its peak
    progress = np.union1d(np.linspace(0, 1, SCHEDULE_POINTS),
                          [hp.BERT_WARMUP_FRACTION, hp.LORA_WARMUP_STEPS / hp.LORA_TOTAL_STEPS])
    bert_steps = SCHEDULE_POINTS - 1  # BERT's warm-up is a share of its steps: any count will do
    published = [PublishedSchedule(
        "full", "full fine-tuning, BERT's grid", lr,
        schedules.warmup_linear(progress * bert_steps, bert_steps,
                                round(hp.BERT_WARMUP_FRACTION * bert_steps), lr),
        "linear decay to 0") for lr in sorted(hp.BERT_LEARNING_RATES, reverse=True)]
    published.append(PublishedSchedule(
        "lora", "LoRA, GPT-2 M on E2E", hp.LORA_LEARNING_RATE,
        schedules.warmup_linear(progress * hp.LORA_TOTAL_STEPS, hp.LORA_TOTAL_STEPS,
                                hp.LORA_WARMUP_STEPS, hp.LORA_LEARNING_RATE),
        "linear decay to 0"))
    for lr, sizes in ((hp.QLORA_LEARNING_RATE, "7B, 13B"),
                      (hp.QLORA_LARGE_LEARNING_RATE, "33B, 65B")):
        published.append(PublishedSchedule("qlora", f"QLoRA, Guanaco {sizes}", lr,
                                           schedules.constant(progress, lr), "constant"))
    stlr_steps = np.arange(STLR_STEPS + 1)
    numbers = Numbers()
    numbers.add("PretrainPeak", schedules.LLAMA_PEAK_LR, "sci0")
    numbers.add("PretrainLargePeak", schedules.LLAMA_LARGE_PEAK_LR, "sci1")
    numbers.add("BertPeakMin", min(hp.BERT_LEARNING_RATES), "sci0")
    numbers.add("BertPeakMax", max(hp.BERT_LEARNING_RATES), "sci0")
    numbers.add("LoraPeak", hp.LORA_LEARNING_RATE, "sci0")
    numbers.add("LoraWarmupPercent", 100 * hp.LORA_WARMUP_STEPS / hp.LORA_TOTAL_STEPS, ".1f")
    numbers.add("QloraPeak", hp.QLORA_LEARNING_RATE, "sci0")
    numbers.add("QloraLargePeak", hp.QLORA_LARGE_LEARNING_RATE, "sci0")
    numbers.add("AdapterOverBertMin", ADAPTER_OVER_BERT[0], ".0f")
    numbers.add("AdapterOverBertMax", ADAPTER_OVER_BERT[1], ".0f")
    numbers.add("StlrMin", schedules.STLR_ETA_MAX / schedules.STLR_RATIO, "sci1")
    numbers.add("StlrEtaMax", schedules.STLR_ETA_MAX, "g")
    numbers.add("StlrEtaMaxSci", schedules.STLR_ETA_MAX, "sci0")  # as (b) prints it
    numbers.add("RateUnit", RATE_UNIT, "sci0")
    numbers.add("StlrRateUnit", STLR_RATE_UNIT, "sci0")
    numbers.add("StlrCutFrac", schedules.STLR_CUT_FRAC, "g")
    numbers.add("StlrRatio", schedules.STLR_RATIO, "d")
    numbers.add("StlrSteps", STLR_STEPS, "d")
    return ScheduleComparison(
        progress=progress, schedules=tuple(published), pretrain_peak=schedules.LLAMA_PEAK_LR,
        rate_unit=RATE_UNIT, stlr_rate_unit=STLR_RATE_UNIT, stlr_total=STLR_STEPS,
        stlr_steps=stlr_steps,
        stlr_rate=schedules.slanted_triangular(stlr_steps, STLR_STEPS),
        stlr_cut=int(schedules.STLR_CUT_FRAC * STLR_STEPS),
        stlr_cut_fraction=schedules.STLR_CUT_FRAC, stlr_eta_max=schedules.STLR_ETA_MAX,
        stlr_ratio=schedules.STLR_RATIO, numbers=numbers)


@FIGURES.figure(
    caption=r"Learning-rate schedules as published, on linear axes: (a) full fine-tuning with "
            r"BERT's grid of peaks (Devlin et al.\ 2019), LoRA on GPT-2 M (Hu et al.\ 2021, "
            r"Table 11) and QLoRA's Guanaco runs (Dettmers et al.\ 2023), beside LLaMA-7B's "
            r"and -13B's pre-training peak (Touvron et al.\ 2023); the adapter methods peak "
            rf"{ADAPTER_OVER_BERT[0]:.0f} to "
            rf"{ADAPTER_OVER_BERT[1]:.0f} times higher than BERT's grid; (b) ULMFiT's slanted "
            r"triangular schedule.",
    result=learning_rate_comparison_result, width=1.0, height=4.3)
def learning_rate_comparison(fig, schedule: ScheduleComparison):
    ax_a, ax_b = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.9, 1]})
    unit, numbers = schedule.rate_unit, schedule.numbers
    reference = meanings.role("reference")
    ax_a.axhline(schedule.pretrain_peak / unit, color=reference.color,
                 ls=reference.linestyle, lw=0.6)
    ax_a.text(0.99, schedule.pretrain_peak / unit * 1.02,
              f"LLaMA-7B, 13B pre-training peak, {numbers['PretrainPeak']} "
              f"(33B, 65B: {numbers['PretrainLargePeak']})", ha="right", va="bottom",
              fontsize=SMALL)
    for i, published in enumerate(schedule.schedules):
        meaning = meanings.method(published.method)
        ax_a.plot(schedule.progress, published.rate / unit, color=meaning.color, lw=1.0,
                  marker=meaning.marker, markersize=3,
                  markevery=(MARKER_START + MARKER_STAGGER * i, MARKER_EVERY),
                  clip_on=False)  # a marker at the axis edge shows whole
    # direct labels, each where its lines leave room and clear of every line and marker:
    # QLoRA's above their lines at the right, BERT's below QLoRA's lower line at the left
    qlora = meanings.method("qlora")
    for k, published in enumerate(s for s in schedule.schedules if s.method == "qlora"):
        sizes = published.label.split("Guanaco ")[1]
        text = (f"QLoRA (Guanaco {sizes}): {_tex_number(published.peak)}, constant" if k == 0
                else f"QLoRA ({sizes}): {_tex_number(published.peak)}")
        ax_a.annotate(text, xy=(0.99, published.peak / unit), xytext=(0, LABEL_CLEARANCE_PT),
                      textcoords="offset points", ha="right", va="bottom", fontsize=SMALL,
                      color=qlora.color)
    lora = next(s for s in schedule.schedules if s.method == "lora")
    at = int(np.searchsorted(schedule.progress, 0.42))
    ax_a.annotate(f"LoRA (GPT-2 M): {_tex_number(lora.peak)},\nlinear decay",
                  xy=(schedule.progress[at], lora.rate[at] / unit), xytext=(0.62, 1.5),
                  textcoords="data", ha="left", va="center", fontsize=SMALL,
                  color=meanings.method("lora").color, arrowprops=arrow_props())
    below = min(s.peak for s in schedule.schedules if s.method == "qlora")
    ax_a.annotate(f"full fine-tuning (BERT's grid):\npeaks {_tex_values(schedule.bert_peaks)}, "
                  "linear decay", xy=(BERT_LABEL_AT, below / unit),
                  xytext=(0, -LABEL_CLEARANCE_PT), textcoords="offset points", ha="left",
                  va="top", fontsize=SMALL, color=meanings.method("full").color)
    ax_a.set_xlim(0, 1)
    ax_a.set_ylim(0, schedule.pretrain_peak / unit * 1.12)
    ax_a.set_xlabel("fraction of training")
    ax_a.set_ylabel(rf"learning rate ($\times {numbers['RateUnit'].strip('$')}$)")
    panel_title(ax_a, "a", "Fine-tuning schedules as published")

    total, cut, eta_max = schedule.stlr_total, schedule.stlr_cut, schedule.stlr_eta_max
    b_unit = schedule.stlr_rate_unit
    ax_b.plot(schedule.stlr_steps, schedule.stlr_rate / b_unit, color=INK)
    ax_b.axvline(cut, color=reference.color, ls=reference.linestyle, lw=0.6)
    ax_b.set_xlim(0, total)
    ax_b.set_ylim(0, eta_max / b_unit * 1.2)
    ax_b.set_yticks(np.arange(0, eta_max / b_unit + 1e-9, 2))
    ax_b.set_xlabel(f"iteration $t$ (of $T$ = {numbers['StlrSteps']})")
    ax_b.set_ylabel(rf"learning rate ($\times {numbers['StlrRateUnit'].strip('$')}$)")
    ax_b.text(cut + 15, eta_max / b_unit * 1.03,
              rf"peak at $t = {numbers['StlrCutFrac']}\,T$: $\eta_{{\max}} = "
              rf"{numbers['StlrEtaMaxSci'].strip('$')}$", va="bottom", fontsize=SMALL)
    ax_b.annotate(rf"end: $\eta_{{\max}}/{numbers['StlrRatio']}$" "\n"
                  f"= {numbers['StlrMin']}",
                  xy=(total, schedule.stlr_rate[-1] / b_unit),
                  xytext=(0.85 * total, 0.6 * eta_max / b_unit),
                  ha="center", va="bottom", fontsize=SMALL, arrowprops=arrow_props())
    panel_title(ax_b, "b", "Slanted triangular (ULMFiT)")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerRates:
    """Each layer's learning rate relative to the model's top layer, under one recipe."""
    depth_below_top: np.ndarray     # 0 = the top layer
    relative_rate: np.ndarray       # rate / the top layer's rate
    step: float                     # the ratio of a layer's rate to the rate of the layer above


@dataclass(frozen=True)
class DiscriminativeRates:
    """ULMFiT's discriminative rates and Sun et al.'s layer-wise decay for BERT-base (a), and
    ULMFiT's gradual unfreezing (b)."""
    ulmfit: LayerRates              # ULMFiT's five layer groups: embedding, 3 LSTMs, head
    bert: LayerRates                # BERT-base's 12 encoder layers
    ulmfit_groups: tuple[str, ...]  # bottom to top
    unfrozen: np.ndarray            # (epoch, group) True where the group trains that epoch
    group_rate_power: np.ndarray    # (group,) k in eta / 2.6^k, bottom first
    numbers: Numbers


def discriminative_learning_rates_result() -> DiscriminativeRates:
    groups = schedules.ULMFIT_LAYER_GROUPS
    n_groups, n_bert = len(groups), schedules.BERT_BASE_LAYERS
    ulmfit = schedules.discriminative_rates(1.0, n_groups, schedules.ULMFIT_LAYER_FACTOR)
    bert = schedules.layerwise_decay_rates(1.0, n_bert, schedules.SUN_LAYER_DECAY)
    numbers = Numbers()
    numbers.add("LayerFactor", schedules.ULMFIT_LAYER_FACTOR, ".1f")
    numbers.add("UlmfitGroups", n_groups, "d")
    numbers.add("UlmfitLstmLayers", schedules.ULMFIT_LSTM_LAYERS, "d")
    numbers.add("UlmfitBottomShare", ulmfit[0], ".3f")
    numbers.add("BertLayerDecay", schedules.SUN_LAYER_DECAY, ".2f")
    numbers.add("BertLayers", n_bert, "d")
    numbers.add("BertBottomShare", bert[0], ".2f")
    return DiscriminativeRates(
        ulmfit=LayerRates(np.arange(n_groups), ulmfit[::-1], 1 / schedules.ULMFIT_LAYER_FACTOR),
        bert=LayerRates(np.arange(n_bert), bert[::-1], schedules.SUN_LAYER_DECAY),
        ulmfit_groups=groups,
        unfrozen=schedules.gradual_unfreezing(n_groups, n_groups),
        group_rate_power=np.arange(n_groups - 1, -1, -1), numbers=numbers)


@FIGURES.figure(
    caption=r"Discriminative fine-tuning: (a) each layer's learning rate relative to the top "
            r"layer's, in ULMFiT (divided by "
            rf"{schedules.ULMFIT_LAYER_FACTOR:g} per layer group down its classifier: embedding, "
            rf"{schedules.ULMFIT_LSTM_LAYERS} AWD-LSTM layers, head) and in fine-tuning the "
            rf"{schedules.BERT_BASE_LAYERS}-layer BERT-base (multiplied by "
            rf"{schedules.SUN_LAYER_DECAY:g} per layer down, Sun et al.\ 2019); (b) ULMFiT's "
            r"gradual unfreezing: one more layer group trains each epoch, from the top.",
    result=discriminative_learning_rates_result, width=1.0, aspect=0.38)
def discriminative_learning_rates(fig, rates: DiscriminativeRates):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    numbers = rates.numbers

    ulmfit_style, bert_style = meanings.unnamed(2)
    for layers, style in ((rates.ulmfit, ulmfit_style), (rates.bert, bert_style)):
        straight_series(ax_a, layers.depth_below_top, layers.relative_rate,
                        color=style["color"], linestyle=style["linestyle"],
                        marker=style["marker"], ylog=True)
    ax_a.set_yscale("log")
    ax_a.set_ylim(0.015, 1.3)
    ax_a.set_yticks([0.02, 0.05, 0.1, 0.2, 0.5, 1], ["0.02", "0.05", "0.1", "0.2", "0.5", "1"])
    ax_a.yaxis.set_minor_formatter(NullFormatter())
    ax_a.set_xlim(-0.5, len(rates.bert.depth_below_top) - 0.5)
    ax_a.set_xticks(rates.bert.depth_below_top[::2])
    ax_a.set_xlabel("layers below the top layer")
    ax_a.set_ylabel("rate / top layer's rate")
    bottom = rates.ulmfit.depth_below_top[-1], rates.ulmfit.relative_rate[-1]
    ax_a.annotate(rf"ULMFiT: $\eta^{{l-1}} = \eta^{{l}}/{numbers['LayerFactor']}$" "\n"
                  f"embedding: {numbers['UlmfitBottomShare']}\nof the head's rate",
                  xy=bottom, xytext=(8, 0), textcoords="offset points", ha="left",
                  va="center", fontsize=SMALL, color=ulmfit_style["color"])
    last = rates.bert.depth_below_top[-1], rates.bert.relative_rate[-1]
    ax_a.annotate(rf"BERT-base: $\eta^{{l-1}} = {numbers['BertLayerDecay']}\,\eta^{{l}}$" "\n"
                  f"layer 1: {numbers['BertBottomShare']} of layer "
                  f"{numbers['BertLayers']}'s rate", xy=last, xytext=(4, -9),
                  textcoords="offset points", ha="right", va="top", fontsize=SMALL,
                  color=bert_style["color"])
    panel_title(ax_a, "a", "Rate per layer")

    n_epochs, n_groups = rates.unfrozen.shape
    shades = meanings.ordered(n_groups)  # darkest: the lowest rate
    for group in range(n_groups):
        power = rates.group_rate_power[group]
        for epoch in range(n_epochs):
            trains = rates.unfrozen[epoch, group]
            ax_b.add_patch(Rectangle((epoch + 0.55, group + 0.55), 0.9, 0.9,
                                     facecolor=shades[n_groups - 1 - power] if trains
                                     else "none", edgecolor="none" if trains else LIGHT,
                                     lw=0.6))
        # the group's rate, once per row, right of the grid
        text = r"$\eta$" if power == 0 else (
            rf"$\eta/{numbers['LayerFactor']}$" if power == 1 else
            rf"$\eta/{numbers['LayerFactor']}^{power}$")
        ax_b.text(n_epochs + 0.6, group + 1, text, ha="left", va="center", fontsize=SMALL)
    ax_b.text(1.0, 1.0, "frozen", ha="center", va="center", fontsize=SMALL, color=MUTED)
    ax_b.set_xlim(0.5, n_epochs + 0.5)
    ax_b.set_ylim(0.5, n_groups + 0.5)
    ax_b.set_xticks(np.arange(1, n_epochs + 1),
                    [str(e) for e in range(1, n_epochs)] + [f"{n_epochs} on"])
    ax_b.set_yticks(np.arange(1, n_groups + 1),
                    [group.replace("classifier head", "head") for group in rates.ulmfit_groups])
    ax_b.tick_params(length=0)
    for side in ("left", "bottom"):
        ax_b.spines[side].set_visible(False)
    ax_b.set_xlabel("epoch")
    panel_title(ax_b, "b", "Gradual unfreezing")


# --------------------------------------------------------------------------------------------
CONVERGENCE_PROBLEM = quadratic.Quadratic((1.0, 10.0))
CONVERGENCE_STEPS = 40
CONVERGENCE_START = (1.0, 1.0)
#: Iterations of the stiff coordinate drawn in panel (b).
STIFF_ITERATIONS_SHOWN = 13


@dataclass(frozen=True)
class StepSizeRun:
    """Gradient descent with one step size."""
    name: str                       # slow, fast, oscillating or diverging
    step: float
    label: str
    iterates: np.ndarray            # (iteration, coordinate)
    suboptimality: np.ndarray       # f(x_k) - f*


@dataclass(frozen=True)
class ConvergenceRuns:
    """Gradient descent on the quadratic with four step sizes, smallest first."""
    iterations: np.ndarray          # k = 0..steps
    runs: tuple[StepSizeRun, ...]
    shown: int                      # iterations of panel (b)
    stiff_reach: float              # largest |x_{k,2}| over the shown iterations of every run
    suboptimality_limits: tuple[float, float]  # panel (a): the decades around every run's values
    numbers: Numbers


def convergence_analysis_result() -> ConvergenceRuns:
    problem = CONVERGENCE_PROBLEM
    L = problem.L
    steps = [("slow", 0.2 / L, r"$\eta = 0.2/L$: slow"),
             ("fast", problem.optimal_step(), r"$\eta^* = 2/(L+\mu)$: fastest"),
             ("oscillating", 2.0 / L, r"$\eta = 2/L$: oscillates"),
             ("diverging", 2.2 / L, r"$\eta = 2.2/L$: diverges")]
    numbers = Numbers()
    runs, reach = [], 0.0
    for name, eta, label in steps:
        xs = quadratic.gradient_descent(problem, np.array(CONVERGENCE_START), eta,
                                        CONVERGENCE_STEPS)
        runs.append(StepSizeRun(name=name, step=eta, label=label, iterates=xs,
                                suboptimality=problem.value(xs)))
        reach = max(reach, np.abs(xs[:STIFF_ITERATIONS_SHOWN, 1]).max())
        numbers.add(f"Rate{name.capitalize()}", problem.contraction(eta), ".2f")
    values = np.concatenate([run.suboptimality for run in runs])
    limits = (float(10 ** np.floor(np.log10(values.min()))),
              float(10 ** np.ceil(np.log10(values.max()))))
    return ConvergenceRuns(iterations=np.arange(CONVERGENCE_STEPS + 1), runs=tuple(runs),
                           shown=STIFF_ITERATIONS_SHOWN, stiff_reach=float(reach),
                           suboptimality_limits=limits, numbers=numbers)


@FIGURES.figure(
    caption=r"Gradient descent on $f(x)=\frac{1}{2}\sum_i\lambda_i x_i^2$ with "
            rf"$\mu={CONVERGENCE_PROBLEM.mu:g}$, $L={CONVERGENCE_PROBLEM.L:g}$: "
            r"a small step converges slowly, $\eta^*=2/(L+\mu)$ fastest, $\eta=2/L$ oscillates "
            r"without converging, and any larger step diverges.",
    result=convergence_analysis_result, width=1.0, aspect=0.38)
def convergence_analysis(fig, convergence: ConvergenceRuns):
    ax_a, ax_b = fig.subplots(1, 2)
    k, shown = convergence.iterations, convergence.shown
    n = len(convergence.runs)
    # step sizes are ordered values: the sequential colours, with line styles and markers
    styles = [dict(style, color=to_hex(color))
              for style, color in zip(meanings.unnamed(n), meanings.ordered(n), strict=True)]
    for run, style in zip(convergence.runs, styles, strict=True):
        ax_a.plot(k, run.suboptimality, color=style["color"], ls=style["linestyle"],
                  label=run.label, marker=style["marker"], markersize=2.5, markevery=5)
        ax_b.plot(k[:shown], run.iterates[:shown, 1], color=style["color"],
                  ls=style["linestyle"], marker=style["marker"], markersize=2.5)
    ax_a.set_yscale("log")
    ax_a.set_xlim(0, k[-1])
    ax_a.set_xlabel("iteration $k$")
    ax_a.set_ylabel(r"$f(x_k) - f^*$")
    legend_above(fig, ax_a, ncols=4, columnspacing=1.2)
    ax_a.set_ylim(*convergence.suboptimality_limits)
    panel_title(ax_a, "a", "Suboptimality")

    reach = convergence.stiff_reach
    ax_b.axhline(0, color=MUTED, lw=0.5)
    ax_b.set_xlabel("iteration $k$")
    ax_b.set_ylabel(r"$x_{k,2}$")
    ax_b.set_xlim(0, shown - 1)
    ax_b.set_ylim(-1.1 * reach, 1.1 * reach)
    panel_title(ax_b, "b", r"Stiff coordinate, $\lambda_2 = L$")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransferStage:
    """One ULMFiT stage: its data, its layers and where their weights come from."""
    title: str
    data: str
    layers: tuple[str, ...]         # bottom first, the head last
    new: tuple[bool, ...]           # per layer: freshly initialised (else copied from the
                                    # stage before)
    note: str                       # how it trains


@dataclass(frozen=True)
class TransferStages:
    """ULMFiT's three stages (arXiv 1801.06146 Sec. 3)."""
    stages: tuple[TransferStage, TransferStage, TransferStage]
    numbers: Numbers


def transfer_learning_process_result() -> TransferStages:
    body = schedules.ULMFIT_LAYER_GROUPS[:-1]  # embedding and the three LSTM layers
    n = len(body)
    stages = (
        TransferStage("1  General-domain LM", "Wikitext-103, 103M words", (*body, "LM head"),
                      (True,) * (n + 1), "next-word prediction;\nall layers, one rate"),
        TransferStage("2  Target-task LM", "the task's text, no labels", (*body, "LM head"),
                      (False,) * (n + 1),
                      "next-word prediction;\ndiscriminative and slanted\ntriangular rates"),
        TransferStage("3  Classifier", "the task's labelled examples",
                      (*body, "classifier head"), (False,) * n + (True,),
                      "classification; rates as in 2;\nlayers unfrozen one by one,\nfrom the top"),
    )
    numbers = Numbers()
    numbers.add("UlmfitLayerGroups", n + 1, "d")
    return TransferStages(stages=stages, numbers=numbers)


@FIGURES.figure(
    caption="Transfer learning in three stages, as in ULMFiT: a language model is pre-trained "
            "on general-domain text, fine-tuned on the target task's text, then given a new "
            "classifier head and fine-tuned on the labelled examples; each later stage starts "
            "from the weights of the one before (tinted), only the classifier head afresh. "
            "The rates and the unfreezing schedule: the figure on discriminative fine-tuning.",
    result=transfer_learning_process_result, width=1.0, height=2.3)
def transfer_learning_process(fig, transfer: TransferStages):
    ax = diagram.canvas(fig, (0, 3), (0, 1))
    layer_h, gap, base, half_w = 0.082, 0.016, 0.3, 0.25
    # copied weights train on: a light tint of the first colour of the stages' order, never the
    # grey that marks frozen parts in the LoRA and QLoRA diagrams
    copied, new = to_hex(tint(meanings.ordered(1)[0], 0.6)), "white"
    for i, stage in enumerate(transfer.stages):
        cx = 0.5 + i
        ax.text(cx, 0.99, stage.title, ha="center", va="top", fontsize=NORMAL)
        ax.text(cx, 0.905, stage.data, ha="center", va="top", fontsize=SMALL, color=MUTED)
        for level, (name, fresh) in enumerate(zip(stage.layers, stage.new, strict=True)):
            y = base + level * (layer_h + gap)
            ax.add_patch(Rectangle((cx - half_w, y), 2 * half_w, layer_h,
                                   facecolor=new if fresh else copied, edgecolor=INK, lw=0.6))
            ax.text(cx, y + layer_h / 2, name, ha="center", va="center", fontsize=SMALL)
        ax.text(cx, base - 0.03, stage.note, ha="center", va="top", fontsize=SMALL)
        if i < 2:
            top_body = base + (len(stage.layers) - 2) * (layer_h + gap) + layer_h
            mid = (base + top_body) / 2
            diagram.arrow(ax, (cx + half_w + 0.04, mid), (cx + 1 - half_w - 0.04, mid))
            ax.text(cx + 0.5, mid + 0.03, "copy\nweights" if i == 0 else
                    "copy the body;\nLM head dropped", ha="center", va="bottom",
                    fontsize=SMALL, color=MUTED)
    # what the fills mean, once, below the stages: the two keys side by side
    for x, fill, label in ((0.95, copied, "copied, then trained"),
                           (1.8, new, "freshly initialised")):
        ax.add_patch(Rectangle((x - 0.09, 0.015), 0.07, 0.05, facecolor=fill, edgecolor=INK,
                               lw=0.6))
        ax.text(x, 0.04, label, ha="left", va="center", fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientFlow:
    """Per-layer gradient norms of a sigmoid network, and of the same weights with one thing
    changed: tanh for the sigmoid, or skip connections."""
    run: experiments.GradientFlowResult
    labels: tuple[str, ...]         # per network, for the figure
    low: np.ndarray                 # (network, layer) smallest norm over the seeds
    high: np.ndarray                # (network, layer) largest norm over the seeds
    shrink_per_layer: float         # the sigmoid network's mean factor from layer to layer
    spread: np.ndarray              # (network,) largest over smallest of its mean norms
    skip_wrapped: tuple[int, int]   # first and last layer (W_l) that a skip connection wraps
    skip_wrapped_ratio: float       # the skip network's norm at the first over the last of them
    skip_output_jump: float         # its output layer's norm over the last wrapped layer's
    numbers: Numbers


#: How the figure names each network of experiments.GRADIENT_FLOW_NETWORKS.
GRADIENT_FLOW_LABELS = {"sigmoid": "sigmoid (the baseline)",
                        "tanh": "tanh instead",
                        "sigmoid with skip connections": "sigmoid with skip connections"}
#: Room above the largest norm for the labels (a factor on the log axis).
GRADIENT_FLOW_HEADROOM = 3e4
#: The network with skip connections, in experiments.GRADIENT_FLOW_NETWORKS.
SKIP_NETWORK = "sigmoid with skip connections"


def gradient_flow_analysis_result() -> GradientFlow:
    run = recorded.load("gradient_flow")
    baseline = run.mean[0]
    shrink = float((baseline[-1] / baseline[0]) ** (1 / (len(run.layer) - 1)))
    spread = run.mean.max(axis=1) / run.mean.min(axis=1)
    # the skips wrap the hidden layers whose input is as wide as their output: every hidden
    # layer but the first when the input is narrower (mlp.forward); never the output layer
    depth, blocks = run.config["depth"], run.config["skip_blocks"]
    wrapped = (depth - blocks + 1, depth)
    skip = run.mean[run.networks.index(SKIP_NETWORK)]
    first, last = (int(np.flatnonzero(run.layer == layer)[0]) for layer in wrapped)
    wrapped_ratio, jump = float(skip[first] / skip[last]), float(skip[-1] / skip[last])
    numbers = Numbers()
    for key, ratio, total in zip(("Sigmoid", "Tanh", "Skip"), run.ratio, spread, strict=True):
        numbers.add(f"GradRatio{key}", ratio, ".2g" if 0.1 <= ratio < 100 else "sci1")
        numbers.add(f"GradSpread{key}", total,
                    "sci1" if total > 1e4 else ".0f" if total >= 10 else ".1f")
    numbers.add("GradRatioSkipWrapped", wrapped_ratio, ".2f")
    numbers.add("GradSkipWrappedFirst", wrapped[0], "d")
    numbers.add("GradSkipWrappedLast", wrapped[1], "d")
    numbers.add("GradSkipOutputJump", jump, ".0f")
    numbers.add("GradShrinkPerLayer", shrink, ".1f")
    numbers.add("GradFlowSeeds", run.norms.shape[1], "d")
    numbers.add("GradFlowHiddenLayers", depth, "d")
    numbers.add("GradFlowMatrices", len(run.layer), "d")
    numbers.add("GradFlowSkipBlocks", blocks, "d")
    return GradientFlow(run=run, labels=tuple(GRADIENT_FLOW_LABELS[n] for n in run.networks),
                        low=run.norms.min(axis=1), high=run.norms.max(axis=1),
                        shrink_per_layer=shrink, spread=spread, skip_wrapped=wrapped,
                        skip_wrapped_ratio=wrapped_ratio, skip_output_jump=jump,
                        numbers=numbers)


@FIGURES.figure(
    caption="Gradient norms of an MLP with "
            f"{experiments.GRADIENT_FLOW_DEPTH} hidden layers "
            f"({experiments.GRADIENT_FLOW_DEPTH + 1} weight matrices) at initialisation: with "
            r"sigmoids they shrink about fourfold per layer towards the input "
            r"($\sigma' \le 1/4$); tanh, or skip connections, on the same weights and data, "
            "keep them within a few orders of magnitude (numbers: input over output layer, with "
            "skips over the wrapped layers; lines: geometric mean of "
            f"{len(recorded.RUNS['gradient_flow']['seeds'])} seeds, bands: range).",
    result=gradient_flow_analysis_result, width=1.0, height=3.0)
def gradient_flow_analysis(fig, flow: GradientFlow):
    run, numbers = flow.run, flow.numbers
    ax = fig.subplots()
    # the sigmoid network is the book's baseline (grey); the two changes of it are unnamed
    # series in ink, told apart by line style and marker
    baseline = meanings.role("baseline")
    variants = meanings.unnamed(3)
    styles = [{"color": baseline.color, "linestyle": baseline.linestyle,
               "marker": baseline.marker}, variants[0], variants[2]]
    for i, style in enumerate(styles):
        ax.fill_between(run.layer, flow.low[i], flow.high[i], color=tint(style["color"], 0.8),
                        lw=0)
        ax.plot(run.layer, run.mean[i], color=style["color"], ls=style["linestyle"],
                marker=style["marker"], markersize=3.5, label=flow.labels[i])
    # direct labels with each network's ratio, each where its line leaves room: above the
    # skip network's line, below the tanh network's, right of the sigmoid's
    left = run.layer[1]
    skip = run.networks.index(SKIP_NETWORK)
    first, last = flow.skip_wrapped
    ratios = {0: numbers["GradRatioSigmoid"], 1: numbers["GradRatioTanh"],
              skip: f"{numbers['GradRatioSkipWrapped']}\n(layer {first} over {last}: the "
                    "layers the skips wrap)"}
    places = {skip: (left, run.mean[skip][1:8].max(), (0, 6), "left", "bottom"),
              1: (left, run.mean[1][1:8].min(), (0, -6), "left", "top"),
              0: (run.layer[11], run.mean[0][11], (10, -14), "left", "top")}
    for i in range(len(styles)):
        x, y, offset, ha, va = places[i]
        ax.annotate(f"{flow.labels[i]}: {ratios[i]}", xy=(x, y), xytext=offset,
                    textcoords="offset points", ha=ha, va=va, fontsize=SMALL,
                    color=styles[i]["color"])
    # why the skip network's output layer stands out
    ax.annotate(rf"output layer: linear, no $\sigma' \leq 1/4$" "\n"
                f"damps its gradient: {numbers['GradSkipOutputJump']} times layer {last}'s",
                xy=(run.layer[-1], run.mean[skip][-1]), xytext=(-4, 22),
                textcoords="offset points", ha="right", va="bottom", fontsize=SMALL,
                color=styles[skip]["color"], arrowprops=arrow_props())
    ax.set_yscale("log")
    ax.set_xlabel(f"weight matrix $W_l$ (1 = input layer, {numbers['GradFlowMatrices']} = "
                  "output layer)")
    ax.set_ylabel(r"$\|\partial L / \partial W_l\|_F$")
    ax.set_xticks(run.layer[::2])
    ax.set_xlim(run.layer[0] - 0.5, run.layer[-1] + 0.5)
    ax.set_ylim(flow.low.min() / 5, flow.high.max() * GRADIENT_FLOW_HEADROOM)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accuracies:
    """Test accuracies (%) on both tasks over one phase of training, per seed."""
    steps: np.ndarray               # SGD steps of the phase
    accuracy_a: np.ndarray          # (seed, step)
    accuracy_b: np.ndarray

    @property
    def mean_a(self) -> np.ndarray:
        return self.accuracy_a.mean(axis=0)

    @property
    def mean_b(self) -> np.ndarray:
        return self.accuracy_b.mean(axis=0)


@dataclass(frozen=True)
class ForgettingPanel(Accuracies):
    """Training on task B one way, from the end of training on A."""
    key: str = ""                   # "Plain" or "Ewc": prefix of the panel's numbers
    lam: float = 0.0                # EWC strength (0: plain SGD)


@dataclass(frozen=True)
class Forgetting:
    """Training on task A (one phase, the same for both ways of going on), then on task B with
    plain SGD or with EWC, over several seeds."""
    task_a: Accuracies              # phase A: steps 0 to the switch
    switch_step: int                # the step at which training moves from A to B
    seeds: int
    plain: ForgettingPanel          # phase B, from the switch on
    ewc: ForgettingPanel
    numbers: Numbers


def catastrophic_forgetting_result() -> Forgetting:
    run = recorded.load("forgetting")
    panels = []
    for key, lam in (("Plain", 0.0), ("Ewc", run.lam)):
        k = int(np.flatnonzero(run.lambdas == lam)[0])
        panels.append(ForgettingPanel(steps=run.steps_b, accuracy_a=100 * run.test_acc_a[:, k],
                                      accuracy_b=100 * run.test_acc_b[:, k], key=key, lam=lam))
    numbers = Numbers()
    numbers.add("EwcLambda", run.lam, "g")
    numbers.add("ForgettingSeeds", len(run.seeds), "d")
    for panel in panels:
        final_a, final_b = panel.accuracy_a[:, -1], panel.accuracy_b[:, -1]
        numbers.add(f"{panel.key}AccA", final_a.mean(), ".0f")
        numbers.add(f"{panel.key}AccB", final_b.mean(), ".0f")
        numbers.add(f"{panel.key}AccAMin", final_a.min(), ".0f")
        numbers.add(f"{panel.key}AccAMax", final_a.max(), ".0f")
    numbers.add("TaskAAcc", 100 * run.phase_a_acc_a[:, -1].mean(), ".0f")
    numbers.add("TaskAAccBeforeB", 100 * run.phase_a_acc_b[:, -1].mean(), ".0f")
    return Forgetting(task_a=Accuracies(steps=run.steps_a, accuracy_a=100 * run.phase_a_acc_a,
                                        accuracy_b=100 * run.phase_a_acc_b),
                      switch_step=int(run.steps_b[0]), seeds=len(run.seeds),
                      plain=panels[0], ewc=panels[1], numbers=numbers)


@FIGURES.figure(
    caption="Catastrophic forgetting on two permuted classification tasks (test accuracy; "
            f"lines: mean of {len(recorded.RUNS['forgetting']['seeds'])} seeds, bands: their "
            "range, task B's lighter): (a) training on task A, then on task B (b) with plain "
            "SGD, which loses much of A, or (c) with EWC's penalty, where every seed keeps more "
            "of A than any seed without it, at a small cost on B.",
    result=catastrophic_forgetting_result, width=1.0, aspect=0.42)
def catastrophic_forgetting(fig, forgetting: Forgetting):
    axes = fig.subplots(1, 3, sharey=True)
    numbers = forgetting.numbers
    style_a, style_b = meanings.unnamed(2)
    phases = [("Training on A", forgetting.task_a), ("On B: plain SGD", forgetting.plain),
              ("On B: EWC", forgetting.ewc)]
    for ax, letter, (title, phase) in zip(axes, "abc", phases, strict=True):
        # both ranges as bands, task B's lighter and beneath task A's; the mean lines on top
        ax.fill_between(phase.steps, phase.accuracy_b.min(axis=0),
                        phase.accuracy_b.max(axis=0), color=tint(style_b["color"], 0.85), lw=0)
        ax.fill_between(phase.steps, phase.accuracy_a.min(axis=0),
                        phase.accuracy_a.max(axis=0), color=tint(style_a["color"], 0.72), lw=0)
        ax.plot(phase.steps, phase.mean_a, color=style_a["color"], ls=style_a["linestyle"])
        ax.plot(phase.steps, phase.mean_b, color=style_b["color"], ls=style_b["linestyle"])
        ax.set_xlim(phase.steps[0], phase.steps[-1])
        ax.set_ylim(0, 102)
        ax.set_xlabel("SGD step")
        panel_title(ax, letter, title)
    ax_a, ax_plain, ax_ewc = axes
    task_a = forgetting.task_a
    ax_a.text(0.97, task_a.accuracy_a[:, -12:].min() - 3, f"task A: {numbers['TaskAAcc']} %",
              transform=ax_a.get_yaxis_transform(), ha="right", va="top",
              color=style_a["color"], fontsize=SMALL)
    ax_a.text(0.97, task_a.accuracy_b[:, -12:].max() + 3,
              f"task B: {numbers['TaskAAccBeforeB']} %, chance", ha="right", va="bottom",
              transform=ax_a.get_yaxis_transform(), color=style_b["color"], fontsize=SMALL)
    ax_ewc.text(0.97, 4, rf"EWC strength $\lambda$ = {numbers['EwcLambda']}", ha="right",
                va="bottom", transform=ax_ewc.get_yaxis_transform(), fontsize=SMALL)
    for ax, panel in ((ax_plain, forgetting.plain), (ax_ewc, forgetting.ewc)):
        key, end = panel.key, panel.steps[-1]
        ax.text(end - 0.01 * (end - panel.steps[0]), panel.accuracy_a[:, -12:].min() - 3,
                f"A: {numbers[key + 'AccA']} %\n(seeds {numbers[key + 'AccAMin']}"
                f"$-${numbers[key + 'AccAMax']} %)", ha="right", va="top", fontsize=SMALL,
                color=style_a["color"])
    end = forgetting.plain.steps[-1]
    ax_plain.text(end * 0.99, forgetting.plain.accuracy_b[:, -12:].min() - 3,
                  f"B: {numbers['PlainAccB']} %", ha="right", va="top", fontsize=SMALL,
                  color=style_b["color"])
    ax_ewc.text(end * 0.99, forgetting.ewc.accuracy_a[:, -12:].min() - 25,
                f"B: {numbers['EwcAccB']} %\n(plain SGD: {numbers['PlainAccB']} %)",
                ha="right", va="top", fontsize=SMALL, color=style_b["color"])
    ax_a.set_ylabel("test accuracy (%)")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FisherConcentration:
    """The task-A Fisher diagonal of several seeds' models: the first layer of one of them by
    hidden unit (a), and how concentrated the mass is (b)."""
    seeds: int
    log_first_layer: np.ndarray     # log10 F_ii of the first seed's W_1, (hidden unit, input
                                    # feature), units sorted by their mean, largest first
    unit_order: np.ndarray          # the hidden unit of each row
    unit_share_percent: np.ndarray  # (seed,) variation of log10 F_ii of W_1 the hidden unit
    input_share_percent: np.ndarray  # (seed,) ... and the input feature explain
    params_percent: np.ndarray      # k/N in %, the k largest entries first
    mass_percent: np.ndarray        # (seed, k) share of the total Fisher those k entries hold
    top_share_percent: np.ndarray   # (seed,) smallest share of parameters holding half the mass
    unit_factor: float              # seed 0: highest over lowest geometric-mean F_ii of a unit
    numbers: Numbers


def fisher_information_matrix_result() -> FisherConcentration:
    info = recorded.load("fisher_information")
    log_f = np.log10(info.first_layer_W[0].T)  # (hidden unit, input feature) of seed 0
    order = np.argsort(-log_f.mean(axis=1), kind="stable")
    # first_layer_W is (input, unit): its columns are the units
    shares = np.array([experiments.variance_shares(np.log10(w))
                       for w in info.first_layer_W]) * 100
    top = 100 * info.top_fraction_for_half_mass
    unit_means = log_f.mean(axis=1)  # log10 of each unit's geometric-mean F_ii
    unit_factor = float(10 ** (unit_means.max() - unit_means.min()))
    numbers = Numbers()
    numbers.add("FisherSeeds", len(info.seeds), "d")
    numbers.add("FisherUnitFactor", unit_factor, ".1f")
    numbers.add("FisherTopShare", np.median(top), ".1f")
    numbers.add("FisherTopShareMin", top.min(), ".1f")
    numbers.add("FisherTopShareMax", top.max(), ".1f")
    numbers.add("FisherParams", info.n_params, ",d")
    numbers.add("FisherUnitShare", np.median(shares[:, 0]), ".0f")
    numbers.add("FisherUnitShareMin", shares[:, 0].min(), ".0f")
    numbers.add("FisherUnitShareMax", shares[:, 0].max(), ".0f")
    numbers.add("FisherInputShare", np.median(shares[:, 1]), ".0f")
    numbers.add("FisherFirstLayerUnitShare", shares[0, 0], ".0f")
    numbers.add("FisherFirstLayerInputShare", shares[0, 1], ".0f")
    return FisherConcentration(seeds=len(info.seeds), log_first_layer=log_f[order],
                               unit_order=order, unit_share_percent=shares[:, 0],
                               input_share_percent=shares[:, 1],
                               params_percent=100 * info.frac_params,
                               mass_percent=100 * info.frac_mass, top_share_percent=top,
                               unit_factor=unit_factor, numbers=numbers)


#: The gap between the Fisher figure's panels, a fraction of the figure's width.
FISHER_PANEL_GAP = 0.06


def _fisher_caption_numbers() -> dict[str, str]:
    """The numbers the Fisher caption states, computed from the recorded result."""
    numbers = fisher_information_matrix_result().numbers
    return {key: numbers[key] for key in numbers.keys()}


_FISHER = _fisher_caption_numbers()


@FIGURES.figure(
    caption=r"Diagonal Fisher $F_{ii}$, EWC's anchor strength, of the forgetting runs' "
            rf"task-A models ({_FISHER['FisherSeeds']} seeds): "
            r"(a) seed 0, layer 1, graded mainly by the unit a weight feeds "
            r"(unit means up to a factor of "
            rf"{_FISHER['FisherUnitFactor']} apart; the unit explains "
            rf"{_FISHER['FisherFirstLayerUnitShare']}\,\% of the variance of $\log F_{{ii}}$, "
            rf"the input {_FISHER['FisherFirstLayerInputShare']}\,\%; over the "
            rf"seeds, the unit {_FISHER['FisherUnitShareMin']} to "
            rf"{_FISHER['FisherUnitShareMax']}\,\%); (b) half the total sits in "
            rf"{_FISHER['FisherTopShare']}\,\% of the parameters (median; "
            rf"{_FISHER['FisherTopShareMin']} to {_FISHER['FisherTopShareMax']}\,\%).",
    result=fisher_information_matrix_result, width=1.0, aspect=0.4)
def fisher_information_matrix(fig, fisher: FisherConcentration):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    # room between (a)'s colour-bar label and (b)'s axis label: two labels, not one stack
    fig.get_layout_engine().set(wspace=FISHER_PANEL_GAP)
    numbers = fisher.numbers
    image = ax_a.imshow(fisher.log_first_layer, aspect="auto", cmap=SEQUENTIAL_CMAP,
                        interpolation="nearest", rasterized=True)
    n_units = fisher.log_first_layer.shape[0]
    ax_a.set_yticks([0, n_units - 1], ["highest", "lowest"])
    ax_a.set_xlabel("input feature")
    ax_a.set_ylabel("hidden unit (sorted)")
    bar = fig.colorbar(image, ax=ax_a, pad=0.02)
    bar.set_label(r"$\log_{10} F_{ii}$")
    panel_title(ax_a, "a", r"First layer (seed 0): $\log F_{ii}$ per weight")

    top = float(np.median(fisher.top_share_percent))
    reference = meanings.role("reference")
    ax_b.fill_between(fisher.params_percent, fisher.mass_percent.min(axis=0),
                      fisher.mass_percent.max(axis=0), color=tint(INK, 0.75), lw=0)
    ax_b.plot(fisher.params_percent, np.median(fisher.mass_percent, axis=0), color=INK)
    ax_b.plot([0, 100], [0, 100], color=reference.color, lw=0.6, ls=reference.linestyle)
    ax_b.plot([top, top, 0], [0, 50, 50], color=MUTED, lw=0.6)
    ax_b.annotate(f"{numbers['FisherTopShare']} % of the\nparameters hold half\n"
                  f"the Fisher mass\n(seeds {numbers['FisherTopShareMin']} to "
                  f"{numbers['FisherTopShareMax']} %)", xy=(top, 50), xytext=(32, 30), va="top",
                  fontsize=SMALL, arrowprops=arrow_props())
    ax_b.text(72, 62, "equal shares", color=MUTED, ha="left", va="top", fontsize=SMALL)
    ax_b.set_xlim(0, 100)
    ax_b.set_ylim(0, 102)
    ax_b.set_xlabel("parameters, largest $F_{ii}$ first (%)")
    ax_b.set_ylabel("share of total Fisher (%)")
    panel_title(ax_b, "b", "Cumulative share")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossBand:
    """One loss over the seeds: median and range at each logged step."""
    steps: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _band(runs, field: str) -> LossBand:
    values = np.array([getattr(run, field) for run in runs])
    return LossBand(steps=runs[0].steps, median=np.median(values, axis=0),
                    low=values.min(axis=0), high=values.max(axis=0))


#: Panel (c): seeds that overflow within this many steps of an earlier seed are marked above
#: it, this far apart (printed points; the marks are this large); room above the float64 line
#: (log10 units).
OVERFLOW_NEAR_STEPS = 5
OVERFLOW_MARK_PT, OVERFLOW_STACK_PT = 4, 5.5
OVERFLOW_HEADROOM = 30


@dataclass(frozen=True)
class LossCurves:
    """Three kinds of SGD run, each over several seeds: converging, overfitting (the same run on
    32 training points), diverging (the same run at ten times the learning rate)."""
    seeds: int
    converges: tuple[LossBand, LossBand]   # training, validation
    overfits: tuple[LossBand, LossBand]
    overfit_best_steps: np.ndarray  # (seed,) step of each seed's lowest validation loss
    overfit_best_losses: np.ndarray  # (seed,) and that loss
    unstable_steps: tuple[np.ndarray, ...]  # per seed: the steps logged before the overflow
    unstable_log_train: tuple[np.ndarray, ...]  # per seed: log10 of the losses
    unstable_log_val: tuple[np.ndarray, ...]
    diverged_steps: np.ndarray      # (seed,) the step at which each seed overflowed
    overflow_stack: np.ndarray      # (seed,) how many seeds before it overflowed at its step
    float_max_log10: float          # log10 of the largest float64: where the losses overflow
    noise_floor: float              # the noise variance: the lowest expected validation MSE
    hyperparams: dict[str, dict]    # per run kind, seed 0's settings (the same for every seed)
    numbers: Numbers


def training_loss_curves_result() -> LossCurves:
    recorded_runs = recorded.load("loss_curves")
    runs = recorded_runs.runs
    converges = [r.converges for r in runs]
    overfits = [r.overfits for r in runs]
    unstable = [r.unstable for r in runs]
    best = np.array([int(np.argmin(r.val_loss)) for r in overfits])
    best_steps = np.array([r.steps[i] for r, i in zip(overfits, best, strict=True)])
    diverged = np.array([r.diverged_at for r in unstable])
    numbers = Numbers()
    numbers.add("NoiseFloor", runs[0].noise_floor, "g")
    numbers.add("LossCurveSeeds", len(runs), "d")
    numbers.add("OverfitValMinStep", np.median(best_steps), ".0f")
    numbers.add("OverfitValMinStepMin", best_steps.min(), "d")
    numbers.add("OverfitValMinStepMax", best_steps.max(), "d")
    numbers.add("OverfitTrainPoints", overfits[0].hyperparams["n_train"], "d")
    numbers.add("ConvergeTrainPoints", converges[0].hyperparams["n_train"], "d")
    numbers.add("DivergedStep", np.median(diverged), ".0f")
    numbers.add("DivergedStepMin", diverged.min(), "d")
    numbers.add("DivergedStepMax", diverged.max(), "d")
    numbers.add("DivergedLr", unstable[0].hyperparams["lr"], "g")
    float_max_log10 = float(np.log10(np.finfo(np.float64).max))
    numbers.add("FloatMaxLog", np.floor(float_max_log10), ".0f")
    numbers.add("ConvergedLr", converges[0].hyperparams["lr"], "g")
    return LossCurves(
        seeds=len(runs),
        converges=(_band(converges, "train_loss"), _band(converges, "val_loss")),
        overfits=(_band(overfits, "train_loss"), _band(overfits, "val_loss")),
        overfit_best_steps=best_steps,
        overfit_best_losses=np.array([r.val_loss[i] for r, i in zip(overfits, best,
                                                                    strict=True)]),
        unstable_steps=tuple(r.steps for r in unstable),
        unstable_log_train=tuple(np.log10(r.train_loss) for r in unstable),
        unstable_log_val=tuple(np.log10(r.val_loss) for r in unstable),
        diverged_steps=diverged,
        overflow_stack=np.array([np.sum(np.abs(diverged[:i] - step) <= OVERFLOW_NEAR_STEPS)
                                 for i, step in enumerate(diverged)]),
        float_max_log10=float_max_log10, noise_floor=runs[0].noise_floor,
        hyperparams={"converges": converges[0].hyperparams, "overfits": overfits[0].hyperparams,
                     "unstable": unstable[0].hyperparams},
        numbers=numbers)


@FIGURES.figure(
    caption="A tanh MLP trained by SGD on noisy regression data, "
            f"{len(recorded.RUNS['loss_curves']['seeds'])} seeds each (steps on a logarithmic "
            "axis in (a) and (b); lines: median over the seeds, bands: their range; dots in "
            "(b): each seed's validation minimum; (c): every seed to its last finite loss, x: "
            "its overflow; numbers: median (range)): it converges; on only "
            f"{experiments.OVERFIT_TRAIN_POINTS} training points it overfits; with a ten "
            "times larger learning rate it diverges.",
    result=training_loss_curves_result, width=1.0, height=2.3)
def training_loss_curves(fig, curves: LossCurves):
    axes = fig.subplots(1, 3)
    train, val = meanings.role("training"), meanings.role("validation")
    reference = meanings.role("reference")
    numbers = curves.numbers
    panels = [("Converges", curves.converges), ("Overfits", curves.overfits)]
    for ax, letter, (title, bands) in zip(axes[:2], "ab", panels, strict=True):
        for band, role, label in zip(bands, (train, val), ("training loss", "validation loss"),
                                     strict=True):
            shown = band.steps >= 1  # step 0 has no place on a log axis
            ax.fill_between(band.steps[shown], band.low[shown], band.high[shown],
                            color=tint(role.color, 0.75), lw=0)
            ax.plot(band.steps[shown], band.median[shown], color=role.color,
                    ls=role.linestyle, label=label)
        ax.axhline(curves.noise_floor, color=reference.color, lw=0.6, ls=reference.linestyle)
        ax.set_xscale("log")
        ax.set_xlim(1, bands[0].steps[-1])
        ax.set_ylim(0, max(band.high[band.steps >= 1].max() for band in bands) * 1.05)
        ax.set_xticks([1, 10, 100, 1000], ["1", "10", "100", "1000"])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("SGD step (log scale)")
        below = ax is axes[0]  # (a): the curves end just above the line; (b): far above it
        ax.text(bands[0].steps[-1] * 0.9, curves.noise_floor * (0.9 if below else 1.1),
                f"noise{' variance' if below else ''} {numbers['NoiseFloor']}", ha="right",
                va="top" if below else "bottom", fontsize=SMALL, color=MUTED)
        panel_title(ax, letter, title)
    axes[0].set_ylabel("mean squared error")
    axes[1].plot(curves.overfit_best_steps, curves.overfit_best_losses, "o", color=val.color,
                 markersize=2.5)
    best = (np.median(curves.overfit_best_steps),
            np.interp(np.median(curves.overfit_best_steps), curves.overfits[1].steps,
                      curves.overfits[1].median))
    axes[1].annotate(f"validation minimum (dots:\neach seed's): step "
                     f"{numbers['OverfitValMinStep']}\n({numbers['OverfitValMinStepMin']} to "
                     f"{numbers['OverfitValMinStepMax']})", xy=best, xytext=(0.97, 0.95),
                     textcoords="axes fraction", va="top", ha="right", fontsize=SMALL,
                     arrowprops=arrow_props())

    ax = axes[2]
    for steps, log_train, log_val in zip(curves.unstable_steps, curves.unstable_log_train,
                                         curves.unstable_log_val, strict=True):
        ax.plot(steps, log_train, color=train.color, ls=train.linestyle, lw=0.7)
        ax.plot(steps, log_val, color=val.color, ls=val.linestyle, lw=0.7)
    # each seed's overflow step, an x on the line where float64 ends; seeds that overflow
    # within a few steps of one another stacked above one another
    limit = curves.float_max_log10
    ax.axhline(limit, color=reference.color, ls=reference.linestyle, lw=0.6)
    for level in np.unique(curves.overflow_stack):  # one artist per level, one line of data
        at = curves.overflow_stack == level
        ax.plot(curves.diverged_steps[at], np.full(at.sum(), limit), "x", color=INK,
                markersize=OVERFLOW_MARK_PT, mew=0.8, clip_on=False,
                transform=ax.transData + ScaledTranslation(
                    0, level * OVERFLOW_STACK_PT / 72, fig.dpi_scale_trans))
    ax.set_xlim(0, curves.diverged_steps.max() * 1.06)
    ax.set_ylim(min(values.min() for values in curves.unstable_log_train) - 5,
                limit + OVERFLOW_HEADROOM)
    ax.set_xlabel("SGD step")
    ax.set_ylabel(r"$\log_{10}$ mean squared error")
    ax.text(0.03, limit, " float64 limit", transform=ax.get_yaxis_transform(), ha="left",
            va="bottom", fontsize=SMALL, color=MUTED)
    # where the lines end: the last finite loss logged, pointed at on the seed that ends
    # first (its end lies left of and above every other line)
    end = int(np.argmin([steps[-1] for steps in curves.unstable_steps]))
    ax.annotate("last finite\nloss logged",
                xy=(curves.unstable_steps[end][-1], curves.unstable_log_train[end][-1]),
                xytext=(0.05, 0.8), textcoords="axes fraction", ha="left", va="top",
                fontsize=SMALL, arrowprops=arrow_props())
    ax.text(0.97, 0.04, f"learning rate {numbers['DivergedLr']}:\n"
            "overflows (x) at\nstep "
            f"{numbers['DivergedStep']}\n({numbers['DivergedStepMin']} to "
            f"{numbers['DivergedStepMax']})", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=SMALL)
    panel_title(ax, "c", "Diverges")
    legend_above(fig, axes[0], ncols=2, narrow_ncols=2)


# --------------------------------------------------------------------------------------------
MEMORY_MODELS = (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B)
BREAKDOWN_MODEL = memory.LLAMA_7B
LORA_RANK = 64  # QLoRA's Guanaco setting, used for both adapter methods
#: The book's accounting: every trained parameter at ZeRO's 16 bytes (numerics.memory).
ACCOUNTING = memory.MIXED_PRECISION_ADAM
#: The QLoRA paper's count for 16-bit full fine-tuning ("more than 780 GB" for LLaMA-65B):
#: 12 bytes per parameter, drawn beside ZeRO's, each labelled with its source.
PAPER_ACCOUNTING = memory.BF16_ADAM_FP32_MOMENTS
PAPER_MODEL = memory.LLAMA_65B
#: GPUs drawn as capacity lines: the book's (numerics.memory.BOOK_GPUS).
GPUS = memory.BOOK_GPUS
#: The methods of both panels: their key in numerics.memory.METHODS and in the table of
#: meanings.
METHOD_KEYS = (("full fine-tuning", "full"), ("LoRA", "lora"), ("QLoRA", "qlora"))
#: Value axis of (a): totals in GB (a log scale, every value inside, no empty decade).
MEMORY_TOTAL_LIMITS_GB = (3.0, 2500.0)
#: Panel (b)'s stacked bars, left to right: (MemoryBreakdown field, component, adapters' share).
#: A linear axis in bytes per model parameter, the bars standing on zero.
PER_PARAMETER_SEGMENTS = (
    ("weights", "weights", False),
    ("quantization_constants", "quantization_constants", False),
    ("gradients", "gradients", False),
    ("optimizer_states", "optimizer_states", False),
    ("adapter_weights", "weights", True),
    ("adapter_gradients", "gradients", True),
    ("adapter_optimizer_states", "optimizer_states", True),
)
#: Panel (b)'s rows, top first: (label, the MemoryBreakdown fields it sums).
PER_PARAMETER_PARTS = (
    ("model weights", ("weights",)),
    ("quantization constants", ("quantization_constants",)),
    ("adapter weights", ("adapter_weights",)),
    ("gradients", ("gradients", "adapter_gradients")),
    ("optimizer states", ("optimizer_states", "adapter_optimizer_states")),
    ("total", ("weights", "quantization_constants", "adapter_weights", "gradients",
               "adapter_gradients", "optimizer_states", "adapter_optimizer_states")),
)


@dataclass(frozen=True)
class MemoryComparison:
    """Model-state memory of full fine-tuning, LoRA and QLoRA: totals over model size (a) and
    the bytes each component costs per parameter of one model (b), from the book's one
    accounting (numerics.memory)."""
    models: tuple[str, ...]         # "7B", "13B", ...
    parameters: np.ndarray          # (model,) parameter counts: panel (a)'s x axis
    breakdowns: dict[str, dict[str, memory.MemoryBreakdown]]  # model -> method -> breakdown
    paper_breakdown: memory.MemoryBreakdown  # 65B full fine-tuning at 12 B/param
    paper_claim_gb: float           # the QLoRA paper's "more than 780 GB"
    totals_gb: dict[str, np.ndarray]  # method -> GB per model (ZeRO's 16 B per trained param)
    gpus: tuple[tuple[float, str], ...]  # (capacity in GB, label)
    breakdown_model: str            # the model of panel (b)
    parts: tuple[str, ...]          # panel (b)'s rows, top first
    bytes_per_parameter: np.ndarray  # (part, method) bytes per parameter of the model; 0: none
    segments: tuple[tuple[str, str, bool], ...]  # panel (b): PER_PARAMETER_SEGMENTS
    segment_bytes: np.ndarray       # (segment, method) bytes per parameter of the model
    numbers: Numbers


def memory_comparison_result() -> MemoryComparison:
    table = memory.compare_methods(MEMORY_MODELS, LORA_RANK, memory.ALL_LINEAR, ACCOUNTING)
    paper = memory.full_finetune_memory(PAPER_MODEL, PAPER_ACCOUNTING)
    totals = {method: np.array([row[method].total for row in table.values()]) / memory.GB
              for method in memory.METHODS}
    numbers = Numbers()
    full65, lora65, qlora65 = table[memory.LLAMA_65B.name].values()
    numbers.add("FullSixtyFiveGB", memory.bytes_to_gb(full65.total), ",.0f")
    numbers.add("LoraSixtyFiveGB", memory.bytes_to_gb(lora65.total), ",.0f")
    numbers.add("QloraSixtyFiveGB", memory.bytes_to_gb(qlora65.total), ".1f")
    numbers.add("PaperFullSixtyFiveGB", paper.total_gb, ",.0f")
    numbers.add("PaperClaimSixtyFiveGB", memory.QLORA_16BIT_FULL_FINETUNE_GB, "d")
    numbers.add("BytesPerParamFull", ACCOUNTING.bytes_per_param, "g")
    numbers.add("BytesPerParamPaper", PAPER_ACCOUNTING.bytes_per_param, "g")

    seven = table[BREAKDOWN_MODEL.name]
    n_model = memory.parameter_count(BREAKDOWN_MODEL)
    per_parameter = np.array([[sum(getattr(seven[method], f) for f in fields) / n_model
                               for method in memory.METHODS]
                              for _, fields in PER_PARAMETER_PARTS])
    segment_bytes = np.array([[getattr(seven[method], field) / n_model
                               for method in memory.METHODS]
                              for field, _, _ in PER_PARAMETER_SEGMENTS])
    for (method, _), key in zip(METHOD_KEYS, ("Full", "Lora", "Qlora"), strict=True):
        numbers.add(f"{key}SevenGB", seven[method].total_gb, ".1f" if key == "Qlora" else ".0f")
        numbers.add(f"{key}BytesPerParam", seven[method].total / n_model,
                    ".0f" if key == "Full" else ".2f")
        # what (b) prints beside each bar: its parts in bytes per model parameter
        item = seven[method]
        numbers.add(f"{key}WeightBytes", item.weights / n_model, ".2g")
        if key == "Full":
            numbers.add("FullGradientBytes", item.gradients / n_model, "g")
            numbers.add("FullOptimizerBytes", item.optimizer_states / n_model, "g")
        else:
            numbers.add(f"{key}AdapterBytes", (item.adapter_weights + item.adapter_gradients
                                               + item.adapter_optimizer_states) / n_model,
                        ".2f")
    numbers.add("QloraConstantsBytes", seven["QLoRA"].quantization_constants / n_model, ".3f")
    numbers.add("QloraSevenConstantsGB", memory.bytes_to_gb(seven["QLoRA"].quantization_constants),
                ".1f")
    numbers.add("AdapterShareSevenPercent",
                100 * memory.lora_parameters(BREAKDOWN_MODEL, LORA_RANK, memory.ALL_LINEAR)
                / n_model, ".1f")
    for gpu in GPUS:  # the capacities the GPU lines are drawn at and labelled with
        numbers.add(f"Gpu{spell(gpu)}GB", memory.gpu_capacity_gb(gpu), ".1f")
    return MemoryComparison(
        models=tuple(name.replace("LLaMA-", "") for name in table),
        parameters=np.array([memory.parameter_count(shape) for shape in MEMORY_MODELS], float),
        breakdowns=table, paper_breakdown=paper,
        paper_claim_gb=float(memory.QLORA_16BIT_FULL_FINETUNE_GB), totals_gb=totals,
        gpus=tuple((memory.gpu_capacity_gb(gpu), memory.gpu_label(gpu)) for gpu in GPUS),
        breakdown_model=BREAKDOWN_MODEL.name,
        parts=tuple(label for label, _ in PER_PARAMETER_PARTS),
        bytes_per_parameter=per_parameter, segments=PER_PARAMETER_SEGMENTS,
        segment_bytes=segment_bytes, numbers=numbers)


@FIGURES.figure(
    caption="Model-state memory of fine-tuning LLaMA, every trained parameter at "
            f"{ACCOUNTING.bytes_per_param:g} bytes (mixed-precision Adam, ZeRO), LoRA and "
            f"QLoRA with $r={LORA_RANK}$ adapters on all linear layers: (a) totals in GB "
            "($10^9$ bytes), with the QLoRA paper's own count and GPU capacities; (b) per "
            f"parameter of {BREAKDOWN_MODEL.name}, by component (adapters hatched): 16-bit "
            "weights keep LoRA above 2 bytes, QLoRA's 4-bit weights bring it below 1.",
    result=memory_comparison_result, width=1.0, height=4.5)
def memory_comparison(fig, comparison: MemoryComparison):
    ax_a, ax_b = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.25, 1]})
    numbers = comparison.numbers
    params = comparison.parameters / 1e9
    shown = {"full": "FullSixtyFiveGB", "lora": "LoraSixtyFiveGB", "qlora": "QloraSixtyFiveGB"}
    for method, key in METHOD_KEYS:
        meaning = meanings.method(key)
        totals = comparison.totals_gb[method]
        ax_a.plot(params, totals, **meaning.line, markersize=4, label=meaning.label)
        ax_a.annotate(f"{numbers[shown[key]]} GB", xy=(params[-1], totals[-1]),
                      xytext=(6, -3 if key == "qlora" else 0), textcoords="offset points",
                      va="top" if key == "qlora" else "center", fontsize=SMALL,
                      color=meaning.color)
    full = meanings.method("full")
    claim = (params[-1], comparison.paper_claim_gb)
    ax_a.plot(*claim, **meanings.role("published").on(full.color), markersize=5)
    ax_a.annotate(f"QLoRA paper: more than\n{numbers['PaperClaimSixtyFiveGB']} GB "
                  f"({numbers['BytesPerParamPaper']} bytes per parameter)", xy=claim,
                  xytext=(6, -4),
                  textcoords="offset points", ha="left", va="top", fontsize=SMALL,
                  color=full.color)
    reference = meanings.role("reference")
    for capacity, label in comparison.gpus:
        ax_a.axhline(capacity, color=reference.color, ls=reference.linestyle, lw=0.5)
        ax_a.text(1.01, capacity, label, transform=ax_a.get_yaxis_transform(), va="center",
                  ha="left", fontsize=SMALL)
    ax_a.set_xscale("log")
    ax_a.set_yscale("log")
    ax_a.yaxis.set_minor_formatter(NullFormatter())
    ax_a.set_ylim(*MEMORY_TOTAL_LIMITS_GB)
    ax_a.set_xlim(params[0] / 1.25, params[-1] * 2.7)
    ax_a.set_xticks(params, comparison.models)
    ax_a.xaxis.set_minor_locator(NullLocator())
    ax_a.set_xlabel("LLaMA model (parameters, log scale)")
    ax_a.set_ylabel("GB (model states)")
    ax_a.legend(loc="upper left", ncols=1)
    panel_title(ax_a, "a", f"Total, every trained parameter at "
                           f"{numbers['BytesPerParamFull']} bytes")

    rows = dict(zip((key for _, key in METHOD_KEYS), (2, 1, 0), strict=True))  # full on top
    lefts = np.zeros(len(METHOD_KEYS))
    for (_, component, adapters), widths in zip(comparison.segments,
                                                     comparison.segment_bytes, strict=True):
        fill = (meanings.adapter_share(component) if adapters
                else meanings.component(component).fill)
        drawn = widths > 0  # no zero-width bar: its hatch outline would draw a stray line
        ax_b.barh(np.array(list(rows.values()))[drawn], widths[drawn], 0.6, left=lefts[drawn],
                  **fill)
        lefts += widths
    # each bar's parts in bytes per parameter: above full fine-tuning's, which fills the
    # axis; beside the adapter methods', too short to hold them
    ax_b.text(comparison.bytes_per_parameter[-1, 0], rows["full"] + 0.38,
              f"{numbers['FullBytesPerParam']} bytes: weights {numbers['FullWeightBytes']} + "
              f"gradients {numbers['FullGradientBytes']} + optimizer states "
              f"{numbers['FullOptimizerBytes']}", ha="right", va="bottom", fontsize=SMALL,
              color=meanings.method("full").color)
    beside = {"lora": f"{numbers['LoraBytesPerParam']} bytes: frozen 16-bit weights "
                      f"{numbers['LoraWeightBytes']} + adapters {numbers['LoraAdapterBytes']}",
              "qlora": f"{numbers['QloraBytesPerParam']} bytes: frozen weights, mostly 4-bit, "
                       f"{numbers['QloraWeightBytes']} + constants "
                       f"{numbers['QloraConstantsBytes']} + adapters "
                       f"{numbers['QloraAdapterBytes']}"}
    for j, (_, key) in enumerate(METHOD_KEYS[1:], start=1):
        ax_b.text(comparison.bytes_per_parameter[-1, j], rows[key], "  " + beside[key],
                  ha="left", va="center", fontsize=SMALL, color=meanings.method(key).color)
    handles = [meanings.component(key).legend_patch() for key in
               ("weights", "quantization_constants", "gradients", "optimizer_states")]
    handles.append(meanings.component("adapters").legend_patch("adapters' share"))
    ax_b.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), ncols=1,
                handlelength=1.2)
    ax_b.set_xlim(0, comparison.bytes_per_parameter[-1].max())
    ax_b.set_yticks(list(rows.values()), [meanings.method(key).label for key in rows])
    ax_b.set_ylim(-0.5, 2.9)
    ax_b.tick_params(axis="y", length=0)
    ax_b.set_xlabel(f"bytes per parameter of {comparison.breakdown_model}")
    panel_title(ax_b, "b", "Where the bytes go, per model parameter")


# --------------------------------------------------------------------------------------------
#: Footnote marks of the hyperparameter table, in order of first use.
NOTE_MARKS = "abcdefgh"


@dataclass(frozen=True)
class TableCell:
    """One entry of the table: its LaTeX, its source's number and its footnote's mark."""
    tex: str                        # the entry alone ("$2\times10^{-4}$")
    source: int | None              # number of its source, None for "not applicable"
    mark: str | None                # letter of its footnote
    applicable: bool

    @property
    def full_tex(self) -> str:
        """The entry with its bracketed source and its footnote mark: the source first, so
        that the mark never reads as a power of the number."""
        source = f"~[{self.source}]" if self.source is not None else ""
        mark = rf"\textsuperscript{{{self.mark}}}" if self.mark else ""
        return self.tex + source + mark


#: The relations between the recipes that the figure draws, top first: (key of its numbers,
#: the recipe it is about (its colour), what it relates, numerator, denominator). A numerator
#: or denominator is a published value, (its table row's name, regime) in
#: hyperparameters.POINTS, or the key of a relation above. The learning rates are not here:
#: learning_rate_comparison relates them, as schedules.
RELATIONS = (
    ("ScalingLora", "lora", r"LoRA: scaling $\alpha/r$",
     ("LoRA scaling", "lora"), ("LoRA rank", "lora")),
    ("ScalingQlora", "qlora", r"QLoRA: scaling $\alpha/r$",
     ("LoRA scaling", "qlora"), ("LoRA rank", "qlora")),
    ("ScalingQloraOverLora", "qlora", r"QLoRA / LoRA: $\alpha/r$", "ScalingQlora", "ScalingLora"),
    ("BatchLoraOverFull", "lora", "LoRA / full: batch size",
     ("Batch size", "lora"), ("Batch size", "full")),
    ("BatchQloraOverFull", "qlora", "QLoRA / full: batch size",
     ("Batch size", "qlora"), ("Batch size", "full")),
    ("ClipQloraOverFull", "qlora", "QLoRA / full: max. gradient norm",
     ("Max. gradient norm", "qlora"), ("Max. gradient norm", "full")),
)
#: Rows drawn after this many relations sit a little lower: the recipes against full
#: fine-tuning's, below the adapter recipes' scalings.
RELATION_GROUP = 3
#: The value axis of the relations: powers of two around every ratio.
RATIO_AXIS_MARGIN = 1.6


def _ratio_text(value: float) -> str:
    """A ratio as the figure prints it: 8, 0.25, 0.3; below 0.1 as a fraction, 1/32."""
    if value < 0.1:
        inverse = 1 / value
        if abs(inverse - round(inverse)) > 1e-9:
            raise ValueError(f"{value!r} is not one over a whole number")
        return f"1/{round(inverse)}"
    return f"{value:g}"


def _plain_values(values: tuple[float, ...]) -> str:
    """Values as the figure's labels print them: 32, or a set as $\\{16, 32\\}$."""
    if len(values) == 1:
        return f"{values[0]:g}"
    return r"$\{" + ", ".join(f"{v:g}" for v in values) + r"\}$"


@dataclass(frozen=True)
class RecipeRelation:
    """One relation between published values: the ratio of two cells of the table (or of two
    relations above it), with the values it relates and their sources."""
    key: str                        # prefix of its numbers: "ScalingLora"
    method: str                     # the recipe it is about (the table of meanings' key)
    name: str                       # what it relates: "LoRA: scaling $\alpha/r$"
    relates: str                    # the two values with their sources: "32 [2] / 4 [2] = 8"
    ratios: tuple[float, ...]       # one per pair of values, ascending (BERT's two batches: two)
    labels: tuple[str, ...]         # each ratio as printed


@dataclass(frozen=True)
class HyperparameterTable:
    """The published hyperparameters of full fine-tuning, LoRA and QLoRA with their sources: the
    table (tables.tex), and how the recipes relate, as ratios of its values (the figure)."""
    methods: tuple[str, ...]        # full, lora, qlora
    method_labels: tuple[str, ...]  # the table's column heads
    rows: tuple[tuple[str, tuple[TableCell, ...]], ...]  # (setting as LaTeX, one cell each)
    sources: tuple[str, ...]        # the cited sources, in the order of their numbers
    notes: tuple[tuple[str, str], ...]  # (mark, footnote as LaTeX), in the order of the marks
    relations: tuple[RecipeRelation, ...]  # the figure's rows, top first
    ratio_limits: tuple[float, float]  # the figure's value axis
    ratio_ticks: tuple[float, ...]  # its labelled ticks: powers of two
    ratio_tick_labels: tuple[str, ...]
    numbers: Numbers


def _recipe_relations(number: dict[str, int]) -> tuple[RecipeRelation, ...]:
    """RELATIONS computed from the published values (hyperparameters.POINTS: the table's cells);
    `number` maps a source key to its number."""
    hp = hyperparameters
    relations: dict[str, RecipeRelation] = {}
    for key, method, name, numerator, denominator in RELATIONS:
        sides = []
        for side in (numerator, denominator):
            if isinstance(side, str):  # a relation above: its one ratio, as printed
                (value,), (text,) = relations[side].ratios, relations[side].labels
                sides.append(((value,), text))
            else:  # a published value (or BERT's grid of them), with its source
                row, regime = side
                points = [p for p in hp.POINTS[row] if p.regime == regime]
                (source,) = {p.source for p in points}
                values = tuple(sorted(p.value for p in points))
                sides.append((values, f"{_plain_values(values)} [{number[source]}]"))
        (tops, top_text), (bottoms, bottom_text) = sides
        ratios = tuple(sorted({t / b for t in tops for b in bottoms}))
        labels = tuple(map(_ratio_text, ratios))
        relates = f"{top_text} / {bottom_text} = {', '.join(labels)}"
        relations[key] = RecipeRelation(key, method, name, relates, ratios, labels)
    return tuple(relations.values())


def _ratio_axis(relations: tuple[RecipeRelation, ...]
                ) -> tuple[tuple[float, float], tuple[float, ...], tuple[str, ...]]:
    """The value axis of the relations: from a little below the smallest ratio to a little
    above the largest, labelled at every power of two."""
    ratios = [r for relation in relations for r in relation.ratios]
    low, high = min(ratios) / RATIO_AXIS_MARGIN, max(ratios) * RATIO_AXIS_MARGIN
    ticks = tuple(2.0 ** k for k in range(int(np.ceil(np.log2(low))),
                                          int(np.floor(np.log2(high))) + 1))
    labels = tuple(f"{t:g}" if t >= 1 else f"1/{round(1 / t)}" for t in ticks)
    return (low, high), ticks, labels


def hyperparameter_recommendations_result() -> HyperparameterTable:
    hp = hyperparameters
    source_keys, note_keys = hp.cited_sources(), hp.cited_notes()
    number = {key: i + 1 for i, key in enumerate(source_keys)}
    mark = dict(zip(note_keys, NOTE_MARKS, strict=False))
    rows = []
    for row in hp.HYPERPARAMETERS:
        name = latex.escape(row.name) + (f" ${row.symbol}$" if row.symbol else "")
        cells = []
        for cell in map(row.cell, hp.REGIMES):
            if cell.values:
                space = r"\," if cell.unit.startswith("%") else " "
                tex = _tex_values(cell.values) + (space + _tex_text(cell.unit) if cell.unit
                                                  else "")
            else:
                tex = _tex_text(cell.text)
            cells.append(TableCell(tex=tex, source=number.get(cell.source),
                                   mark=mark.get(cell.note), applicable=cell.applicable))
        rows.append((name, tuple(cells)))
    notes = tuple((mark[key], _tex_text(hp.NOTES[key].text.format(
        *map(_tex_number, hp.NOTES[key].values)))) for key in note_keys)
    relations = _recipe_relations(number)
    limits, ticks, tick_labels = _ratio_axis(relations)
    numbers = Numbers()
    for relation in relations:
        if len(relation.ratios) == 1:
            numbers.add(relation.key, relation.ratios[0], "g")
        else:
            numbers.add(f"{relation.key}Min", relation.ratios[0], "g")
            numbers.add(f"{relation.key}Max", relation.ratios[-1], "g")
    scaling = {r.key: r.ratios[0] for r in relations}
    numbers.add("ScalingLoraOverQlora", scaling["ScalingLora"] / scaling["ScalingQlora"], "g")
    # the numbers of the figure before it related the recipes, kept for the text that quotes them
    batches = hp.BERT_BATCH_SIZES + (hp.LORA_BATCH_SIZE, hp.QLORA_BATCH_SIZE)
    numbers.add("BatchMin", min(batches), "d")
    numbers.add("BatchMax", max(batches), "d")
    numbers.add("RankRatio", hp.QLORA_RANK / hp.LORA_RANK, ".0f")
    numbers.add("AlphaRatio", hp.LORA_ALPHA / hp.QLORA_ALPHA, ".0f")
    numbers.add("ClipRatio", hp.BERT_MAX_GRAD_NORM / hp.QLORA_MAX_GRAD_NORM, ".1f")
    return HyperparameterTable(
        methods=hp.REGIMES, method_labels=tuple(hp.REGIME_LABELS[r] for r in hp.REGIMES),
        rows=tuple(rows), sources=tuple(hp.SOURCES[key] for key in source_keys), notes=notes,
        relations=relations, ratio_limits=limits, ratio_ticks=ticks,
        ratio_tick_labels=tick_labels, numbers=numbers)


HYPERPARAMETER_TABLE_CAPTION = (
    "Hyperparameters published for full fine-tuning (BERT), LoRA (GPT-2 M on E2E) and QLoRA "
    "(Guanaco, LLaMA 7B to 65B) by the papers that introduced them and their released code; "
    "bracketed numbers name the source, letters a footnote.")


def _hyperparameter_caption() -> str:
    """The figure's caption, its numbers computed from the relations."""
    hp = hyperparameters
    relations = {r.key: r for r in _recipe_relations(
        {key: i + 1 for i, key in enumerate(hp.cited_sources())})}
    scaling = relations["ScalingLora"].ratios[0] / relations["ScalingQlora"].ratios[0]
    batches = relations["BatchLoraOverFull"].ratios + relations["BatchQloraOverFull"].ratios
    (clip,) = relations["ClipQloraOverFull"].labels
    return ("How the published recipes relate, each row a ratio of two values of the table of "
            "hyperparameters, [n] their sources: LoRA's scaling $\\alpha/r$, the factor on "
            f"every adapter output, is {scaling:g} times smaller in QLoRA's recipe "
            f"({hp.QLORA_RANK // hp.LORA_RANK} times the rank, half the $\\alpha$); the adapter "
            f"recipes' batches are {_ratio_text(min(batches))} to {_ratio_text(max(batches))} "
            f"times BERT's, and QLoRA clips at {clip} times its norm (LoRA does not clip).")


@FIGURES.figure(caption=_hyperparameter_caption(), result=hyperparameter_recommendations_result,
                width=1.0, height=2.45)
def hyperparameter_recommendations(fig, table: HyperparameterTable):
    ax = fig.subplots()
    relations = table.relations
    # top first; the relations to full fine-tuning a little apart from the scalings
    ys = [-(i + (0.35 if i >= RELATION_GROUP else 0)) for i in range(len(relations))]
    reference = meanings.role("reference")
    ax.axvline(1, color=reference.color, ls=reference.linestyle, lw=0.6, zorder=1)
    for y, relation in zip(ys, relations, strict=True):
        meaning = meanings.method(relation.method)
        ax.plot(relation.ratios, [y] * len(relation.ratios), ls="none", marker=meaning.marker,
                color=meaning.color, markersize=5, zorder=3, clip_on=False)
    ax.set_yticks(ys, [f"{r.name}\n{r.relates}" for r in relations])
    for label, relation in zip(ax.get_yticklabels(), relations, strict=True):
        label.set_color(meanings.method(relation.method).color)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(ys[-1] - 0.6, ys[0] + 0.6)
    ax.set_xscale("log", base=2)
    ax.set_xlim(*table.ratio_limits)
    ax.set_xticks(table.ratio_ticks, table.ratio_tick_labels)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.grid(color=GREY, lw=0.3)  # the powers of two, and each row from its label to its dots
    ax.set_axisbelow(True)
    ax.set_xlabel("ratio (log scale)")


def _table_notes_tex(table: HyperparameterTable) -> str:
    """The footnotes, then the sources, as one left-aligned block."""
    notes = " ".join(rf"\textsuperscript{{{mark}}}\,{text}" for mark, text in table.notes)
    sources = "; ".join(f"[{i}]~{_tex_text(source)}"
                        for i, source in enumerate(table.sources, 1))
    return notes + r"\par\smallskip Sources: " + sources + "."


def hyperparameter_table(table: HyperparameterTable) -> latex.Table:
    """The same data as a LaTeX booktabs table: every cell with its bracketed source (and its
    footnote mark); the footnotes and sources are set below it, as wide as the table."""
    header = ("Setting", *(latex.escape(label) for label in table.method_labels))
    rows = tuple((name, *(cell.full_tex for cell in cells)) for name, cells in table.rows)
    return latex.Table(name="hyperparameter_recommendations",
                       caption=HYPERPARAMETER_TABLE_CAPTION, header=header, rows=rows,
                       align="l" + "l" * len(table.method_labels),
                       notes=(_table_notes_tex(table),))


def hyperparameter_tables_tex() -> str:
    """tables.tex of this topic: the hyperparameter table with its notes."""
    table = FIGURES.result("hyperparameter_recommendations")
    return latex.tables_tex(FIGURES.topic, [hyperparameter_table(table)])


FIGURES.add_file(lambda: {"tables.tex": hyperparameter_tables_tex()})


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
