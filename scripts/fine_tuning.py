"""Fine-tuning figures: schedules, per-layer rates, gradient flow, forgetting, memory, convergence.

Run `python scripts/fine_tuning.py --help`. Every curve comes from a cited formula
(numerics.fine_tuning.schedules and .quadratic, numerics.memory), a cited table
(published.hyperparameters) or a seeded run of the project's own numpy code
(numerics.fine_tuning.experiments). Each figure is a result function that computes what the
figure shows and a drawing function that only draws it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import NullFormatter

from figkit import Registry, diagram
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.charts import grouped_bars, reference_lines
from figkit.numbers import Numbers, format_number
from figkit.palette import (
    BLUE,
    CYAN,
    GREEN,
    INK,
    LIGHT,
    MUTED,
    PURPLE,
    RED,
    SEQUENTIAL_CMAP,
    YELLOW,
    series,
    tint,
)
from figkit.style import NORMAL, SMALL
from numerics import memory
from numerics.fine_tuning import experiments, quadratic, schedules
from published import hyperparameters
from recorders import fine_tuning as recorded

FIGURES = Registry("fine_tuning")


# --------------------------------------------------------------------------------------------
#: Fine-tuning steps drawn for the linear schedule, and ULMFiT's T for the slanted triangle.
FINETUNE_STEPS = 1000
STLR_STEPS = 1000


@dataclass(frozen=True)
class ScheduleComparison:
    """Pre-training against fine-tuning schedules (a) and ULMFiT's slanted triangle (b)."""
    progress: np.ndarray            # fraction of training, 0..1
    pretrain_rate: np.ndarray       # LLaMA's warmup + cosine schedule at `progress`
    finetune_rate: np.ndarray       # warmup + linear decay at `progress`
    pretrain_peak: float
    finetune_peak: float
    finetune_warmup_fraction: float
    stlr_total: int                 # T
    stlr_steps: np.ndarray          # t = 0..T
    stlr_rate: np.ndarray           # ULMFiT eq. (3) at `stlr_steps`
    stlr_cut: int                   # iteration of the peak
    stlr_cut_fraction: float
    stlr_eta_max: float
    stlr_ratio: int
    numbers: Numbers


def learning_rate_comparison_result() -> ScheduleComparison:
    progress = np.linspace(0, 1, 2001)
    pretrain = schedules.warmup_cosine(progress * schedules.LLAMA_TOTAL_STEPS,
                                       schedules.LLAMA_TOTAL_STEPS, schedules.LLAMA_WARMUP_STEPS,
                                       schedules.LLAMA_PEAK_LR, schedules.LLAMA_FINAL_RATIO)
    finetune = schedules.warmup_linear(progress * FINETUNE_STEPS, FINETUNE_STEPS,
                                       int(schedules.FINETUNE_WARMUP_FRACTION * FINETUNE_STEPS),
                                       schedules.FINETUNE_PEAK_LR)
    stlr_steps = np.arange(STLR_STEPS + 1)
    numbers = Numbers()
    numbers.add("PeakRatio", schedules.LLAMA_PEAK_LR / schedules.FINETUNE_PEAK_LR, ".0f")
    numbers.add("PretrainPeak", schedules.LLAMA_PEAK_LR, "sci0")
    numbers.add("FinetunePeak", schedules.FINETUNE_PEAK_LR, "sci0")
    numbers.add("StlrMin", schedules.STLR_ETA_MAX / schedules.STLR_RATIO, "sci1")
    return ScheduleComparison(
        progress=progress, pretrain_rate=pretrain, finetune_rate=finetune,
        pretrain_peak=schedules.LLAMA_PEAK_LR, finetune_peak=schedules.FINETUNE_PEAK_LR,
        finetune_warmup_fraction=schedules.FINETUNE_WARMUP_FRACTION,
        stlr_total=STLR_STEPS, stlr_steps=stlr_steps,
        stlr_rate=schedules.slanted_triangular(stlr_steps, STLR_STEPS),
        stlr_cut=int(schedules.STLR_CUT_FRAC * STLR_STEPS),
        stlr_cut_fraction=schedules.STLR_CUT_FRAC, stlr_eta_max=schedules.STLR_ETA_MAX,
        stlr_ratio=schedules.STLR_RATIO, numbers=numbers)


@FIGURES.figure(
    caption=rf"Learning-rate schedules: LLaMA's pre-training schedule (peak "
            rf"{format_number(schedules.LLAMA_PEAK_LR, 'sci0')[0]}, cosine to "
            rf"{100 * schedules.LLAMA_FINAL_RATIO:.0f}\,\%) against a fine-tuning schedule with "
            r"a ten times lower peak, and ULMFiT's slanted triangular schedule.",
    result=learning_rate_comparison_result, width=1.0, aspect=0.36)
def learning_rate_comparison(fig, schedule: ScheduleComparison):
    ax_a, ax_b = fig.subplots(1, 2)

    s1, s2 = series(2)
    ax_a.plot(schedule.progress, schedule.pretrain_rate, color=s1["color"])
    ax_a.plot(schedule.progress, schedule.finetune_rate, color=s2["color"], linestyle="--")
    ax_a.text(0.97, 4.2e-4, "pre-training (cosine)", ha="right", va="bottom",
              color=s1["color"])
    ax_a.text(0.42, 3.5e-6, "fine-tuning (linear decay)", ha="center", va="bottom",
              color=s2["color"])
    ax_a.set_yscale("log")
    ax_a.set_ylim(1e-6, 1e-3)
    ax_a.set_xlim(0, 1)
    ax_a.set_xlabel("fraction of training")
    ax_a.set_ylabel("learning rate")
    x_arrow = schedule.finetune_warmup_fraction
    ax_a.annotate("", xy=(x_arrow, schedule.finetune_peak * 0.98),
                  xytext=(x_arrow, schedule.pretrain_peak * 0.99),
                  arrowprops=arrow_props(arrowstyle="<->", shrinkA=0, shrinkB=0))
    # the label sits halfway between the peaks on the log axis
    ax_a.text(x_arrow + 0.02, np.sqrt(schedule.pretrain_peak * schedule.finetune_peak),
              rf"{schedule.numbers['PeakRatio']}$\times$ lower" "\npeak", va="center")
    panel_title(ax_a, "a", "Pre-training vs. fine-tuning")

    total, cut, eta_max = schedule.stlr_total, schedule.stlr_cut, schedule.stlr_eta_max
    ax_b.plot(schedule.stlr_steps, schedule.stlr_rate, color=s1["color"])
    ax_b.axvline(cut, color=MUTED, lw=0.6, ls=":")
    ax_b.set_xlim(0, total)
    ax_b.set_ylim(0, eta_max * 1.25)
    ax_b.set_xlabel(f"iteration $t$ (of $T$ = {total})")
    ax_b.set_ylabel("learning rate")
    ax_b.text(cut + 15, eta_max * 1.04,
              rf"peak at $t = {schedule.stlr_cut_fraction:g}\,T$: $\eta_{{\max}} = "
              rf"{eta_max:g}$", va="bottom")
    ax_b.annotate(rf"end: $\eta_{{\max}}/{schedule.stlr_ratio}$ = {schedule.numbers['StlrMin']}",
                  xy=(total, schedule.stlr_rate[-1]), xytext=(0.7 * total, 0.85 * eta_max),
                  ha="center", va="bottom", arrowprops=arrow_props())
    panel_title(ax_b, "b", "Slanted triangular (ULMFiT)")


# --------------------------------------------------------------------------------------------
DISCRIMINATIVE_LAYERS = 12


@dataclass(frozen=True)
class DiscriminativeRates:
    """ULMFiT's per-layer rates (a) and which layers train in which epoch (b)."""
    layers: np.ndarray              # 1 = bottom
    rates: np.ndarray               # learning rate of each layer
    top_rate: float
    layer_factor: float             # eta^{l-1} = eta^l / layer_factor
    unfrozen_log_rates: np.ndarray  # (epoch, layer) log10 rate of trainable layers, NaN if frozen
    numbers: Numbers


def discriminative_learning_rates_result() -> DiscriminativeRates:
    top = schedules.FINETUNE_PEAK_LR
    rates = schedules.discriminative_rates(top, DISCRIMINATIVE_LAYERS)
    trainable = schedules.gradual_unfreezing(DISCRIMINATIVE_LAYERS, DISCRIMINATIVE_LAYERS)
    numbers = Numbers()
    numbers.add("LayerRateSpread", rates[-1] / rates[0], ",.0f")
    numbers.add("LayerFactor", schedules.ULMFIT_LAYER_FACTOR, ".1f")
    return DiscriminativeRates(
        layers=np.arange(1, DISCRIMINATIVE_LAYERS + 1), rates=rates, top_rate=top,
        layer_factor=schedules.ULMFIT_LAYER_FACTOR,
        unfrozen_log_rates=np.where(trainable, np.log10(rates)[None, :], np.nan),
        numbers=numbers)


@FIGURES.figure(
    caption=r"Discriminative fine-tuning and gradual unfreezing (ULMFiT): each layer's rate is "
            r"the rate of the layer above divided by "
            rf"{schedules.ULMFIT_LAYER_FACTOR:g}, and one more layer is unfrozen per epoch.",
    result=discriminative_learning_rates_result, width=1.0, aspect=0.36)
def discriminative_learning_rates(fig, rates: DiscriminativeRates):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    layers, n_layers, top = rates.layers, len(rates.layers), rates.top_rate

    ax_a.bar(layers, rates.rates, color=BLUE, width=0.7)
    ax_a.set_yscale("log")
    ax_a.set_xticks(layers)
    ax_a.set_xlabel("layer $l$ (1 = bottom)")
    ax_a.set_ylabel(r"learning rate $\eta^{l}$")
    ax_a.set_ylim(rates.rates[0] / 3, top * 8)
    ax_a.text(1, top * 2.2, rf"$\eta^{{l-1}} = \eta^{{l}}/{rates.layer_factor:g}$: "
              rf"top/bottom = {rates.numbers['LayerRateSpread']}", va="bottom")
    panel_title(ax_a, "a", "Discriminative rates")

    image = ax_b.imshow(rates.unfrozen_log_rates.T, origin="lower", aspect="auto",
                        cmap=SEQUENTIAL_CMAP, extent=(0.5, n_layers + 0.5, 0.5, n_layers + 0.5))
    ax_b.set_xlabel("epoch")
    ax_b.set_ylabel("layer")
    ax_b.set_xticks(layers[::2])
    ax_b.set_yticks(layers[::2])
    bar = fig.colorbar(image, ax=ax_b, pad=0.02)
    bar.set_label(r"$\log_{10}$ learning rate")
    ax_b.text(1, 1.2, "frozen layers\nare blank", ha="left", va="bottom", color=INK)
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
    """Gradient descent on the quadratic with four step sizes."""
    iterations: np.ndarray          # k = 0..steps
    runs: tuple[StepSizeRun, ...]
    shown: int                      # iterations of panel (b)
    stiff_reach: float              # largest |x_{k,2}| over the shown iterations of every run
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
    return ConvergenceRuns(iterations=np.arange(CONVERGENCE_STEPS + 1), runs=tuple(runs),
                           shown=STIFF_ITERATIONS_SHOWN, stiff_reach=float(reach),
                           numbers=numbers)


@FIGURES.figure(
    caption=r"Gradient descent on $f(x)=\frac{1}{2}\sum_i\lambda_i x_i^2$ with "
            rf"$\mu={CONVERGENCE_PROBLEM.mu:g}$, $L={CONVERGENCE_PROBLEM.L:g}$: "
            r"a small step converges slowly, $\eta^*=2/(L+\mu)$ fastest, $\eta=2/L$ oscillates "
            r"without converging, and any larger step diverges.",
    result=convergence_analysis_result, width=1.0, aspect=0.38)
def convergence_analysis(fig, convergence: ConvergenceRuns):
    ax_a, ax_b = fig.subplots(1, 2)
    k, shown = convergence.iterations, convergence.shown
    for run, style in zip(convergence.runs, series(len(convergence.runs)), strict=True):
        ax_a.plot(k, run.suboptimality, color=style["color"], ls=style["linestyle"],
                  label=run.label, marker=style["marker"], markersize=2.5, markevery=5)
        ax_b.plot(k[:shown], run.iterates[:shown, 1], color=style["color"],
                  ls=style["linestyle"], marker=style["marker"], markersize=2.5)
    ax_a.set_yscale("log")
    ax_a.set_xlim(0, k[-1])
    ax_a.set_xlabel("iteration $k$")
    ax_a.set_ylabel(r"$f(x_k) - f^*$")
    legend_above(fig, ax_a, ncols=4, columnspacing=1.2)
    ax_a.set_ylim(1e-9, 1e8)
    panel_title(ax_a, "a", "Suboptimality")

    reach = convergence.stiff_reach
    ax_b.axhline(0, color=MUTED, lw=0.5)
    ax_b.set_xlabel("iteration $k$")
    ax_b.set_ylabel(r"$x_{k,2}$")
    ax_b.set_xlim(0, shown - 1)
    ax_b.set_ylim(-1.1 * reach, 1.1 * reach)
    panel_title(ax_b, "b", r"Stiff coordinate, $\lambda_2 = L$")


# --------------------------------------------------------------------------------------------
TRANSFER_LAYERS = 4


@dataclass(frozen=True)
class TransferStages:
    """The three ULMFiT stages: how strongly each stage trains each layer (1 = full rate)."""
    layer_strength: tuple[np.ndarray, np.ndarray, np.ndarray]  # per stage, bottom layer first
    layer_factor: float
    numbers: Numbers


def transfer_learning_process_result() -> TransferStages:
    numbers = Numbers()
    numbers.add("PretrainPeak", schedules.LLAMA_PEAK_LR, "sci0")
    numbers.add("FinetunePeak", schedules.FINETUNE_PEAK_LR, "sci0")
    # Stage 3 shades each layer by its discriminative rate (ULMFiT: /2.6 per layer down).
    rates = schedules.discriminative_rates(1.0, TRANSFER_LAYERS)
    return TransferStages(
        layer_strength=(np.ones(TRANSFER_LAYERS), np.ones(TRANSFER_LAYERS), rates / rates.max()),
        layer_factor=schedules.ULMFIT_LAYER_FACTOR, numbers=numbers)


@FIGURES.figure(
    caption="Transfer learning in three stages, as in ULMFiT: general-domain pre-training, "
            "target-domain fine-tuning of the language model, then task fine-tuning of a new "
            "head with discriminative learning rates and gradual unfreezing.",
    result=transfer_learning_process_result, width=1.0, height=2.0)
def transfer_learning_process(fig, stages: TransferStages):
    ax = diagram.canvas(fig, (0, 3), (0, 1))
    pretrain, finetune = stages.numbers["PretrainPeak"], stages.numbers["FinetunePeak"]
    boxes = [
        ("1  Pre-training", "general text, next token", BLUE, "LM head",
         f"all layers trained\npeak lr {pretrain}"),
        ("2  Domain adaptation", "target-domain text", PURPLE, "LM head",
         f"all layers trained\npeak lr {finetune}"),
        ("3  Task fine-tuning", "labelled task data", GREEN, "new task head",
         f"lr / {stages.layer_factor:g} per layer down,\nunfrozen top-down"),
    ]
    n_layers = len(stages.layer_strength[0])
    layer_h, gap, base, half_w = 0.09, 0.024, 0.2, 0.2
    for i, ((title, data, color, head, note), shade) in enumerate(
            zip(boxes, stages.layer_strength, strict=True)):
        cx = 0.5 + i
        ax.text(cx, 0.97, title, ha="center", va="top", fontsize=NORMAL)
        ax.text(cx, 0.86, data, ha="center", va="top", fontsize=SMALL, color=MUTED)
        for level, strength in enumerate(shade):
            y = base + level * (layer_h + gap)
            ax.add_patch(Rectangle((cx - half_w, y), 2 * half_w, layer_h,
                                   facecolor=tint(color, 0.85 - 0.75 * strength),
                                   edgecolor=color, lw=0.7))
        y_head = base + n_layers * (layer_h + gap)
        ax.add_patch(Rectangle((cx - half_w, y_head), 2 * half_w, layer_h * 0.9,
                               facecolor="white", edgecolor=color, lw=0.9,
                               linestyle="--" if i == 2 else "-"))
        ax.text(cx, y_head + layer_h * 0.45, head, ha="center", va="center", fontsize=SMALL)
        ax.text(cx, base - 0.04, note, ha="center", va="top", fontsize=SMALL)
        if i < 2:
            mid = base + 2 * (layer_h + gap)
            diagram.arrow(ax, (cx + half_w + 0.06, mid), (cx + 1 - half_w - 0.06, mid))
            ax.text(cx + 0.5, mid + 0.03, "copy weights", ha="center", va="bottom",
                    fontsize=SMALL, color=MUTED)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GradientFlow:
    """Per-layer gradient norms of the sigmoid and the residual network, per seed."""
    run: experiments.GradientFlowResult
    residual_blocks: int            # residual branches are scaled by 1/sqrt(residual_blocks)
    lowest_norm: float              # smallest norm of the sigmoid network (any seed, any layer)
    highest_norm: float             # largest norm of the residual network
    numbers: Numbers


def gradient_flow_analysis_result() -> GradientFlow:
    run = recorded.load("gradient_flow")
    numbers = Numbers()
    numbers.add("GradRatioSigmoid", run.sigmoid_ratio, "sci1")
    numbers.add("GradRatioResidual", run.residual_ratio, "sci1")
    numbers.add("GradFlowSeeds", len(run.sigmoid_norms), "d")
    return GradientFlow(run=run, residual_blocks=round(run.config["residual_branch_scale"] ** -2),
                        lowest_norm=float(run.sigmoid_norms.min()),
                        highest_norm=float(run.residual_norms.max()), numbers=numbers)


@FIGURES.figure(
    caption=f"Per-layer gradient norms measured by backpropagation through a "
            f"{experiments.GRADIENT_FLOW_DEPTH}-layer sigmoid MLP and a "
            f"{experiments.GRADIENT_FLOW_DEPTH}-layer residual ReLU MLP on the same data: the "
            "sigmoid network's gradient vanishes towards the input, the residual network's "
            "does not.",
    result=gradient_flow_analysis_result, width=1.0, aspect=0.36)
def gradient_flow_analysis(fig, flow: GradientFlow):
    run = flow.run
    ax = fig.subplots()
    nets = [(run.sigmoid_norms, run.sigmoid_mean, flow.numbers["GradRatioSigmoid"],
             "plain sigmoid MLP (Xavier init)"),
            (run.residual_norms, run.residual_mean, flow.numbers["GradRatioResidual"],
             rf"residual ReLU MLP (He init, branches $\times 1/\sqrt{{{flow.residual_blocks}}}$)")]
    for (per_seed, mean, ratio, label), style in zip(nets, series(2), strict=True):
        for norms in per_seed:
            ax.plot(run.layer, norms, color=style["color"], lw=0.5, alpha=0.35)
        ax.plot(run.layer, mean, color=style["color"], ls=style["linestyle"],
                marker=style["marker"], label=label)
        ax.annotate(f"first / last layer = {ratio}", xy=(run.layer[0], mean[0]),
                    xytext=(8, -5), textcoords="offset points", va="top", color=INK)
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel(r"$\|\partial L / \partial W_l\|_F$")
    ax.set_xticks(run.layer[::2])
    ax.set_ylim(flow.lowest_norm / 1e3, flow.highest_norm * 30)
    legend_above(fig, ax, ncols=2, title=f"thin lines: {flow.numbers['GradFlowSeeds']} seeds; "
                                         "thick: their geometric mean")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForgettingPanel:
    """Test accuracies (%) on both tasks over both phases, for one way of training on B."""
    key: str                        # "Plain" or "Ewc": prefix of the panel's numbers
    steps: np.ndarray               # SGD steps of phase A, then of phase B
    accuracy_a: np.ndarray
    accuracy_b: np.ndarray


@dataclass(frozen=True)
class Forgetting:
    """Plain SGD against EWC on task B, after training on task A."""
    switch_step: int                # the step at which training moves from A to B
    plain: ForgettingPanel
    ewc: ForgettingPanel
    numbers: Numbers


def catastrophic_forgetting_result() -> Forgetting:
    run = recorded.load("forgetting")
    steps = np.concatenate([run.steps_a, run.steps_b[1:]])

    def panel(key: str, acc_a: np.ndarray, acc_b: np.ndarray) -> ForgettingPanel:
        return ForgettingPanel(key=key, steps=steps,
                               accuracy_a=100 * np.concatenate([run.phase_a_acc_a, acc_a[1:]]),
                               accuracy_b=100 * np.concatenate([run.phase_a_acc_b, acc_b[1:]]))

    panels = (panel("Plain", run.plain_acc_a, run.plain_acc_b),
              panel("Ewc", run.ewc_acc_a, run.ewc_acc_b))
    numbers = Numbers()
    numbers.add("EwcLambda", run.lam, "g")
    for forgetting in panels:
        numbers.add(f"{forgetting.key}AccA", forgetting.accuracy_a[-1], ".0f")
        numbers.add(f"{forgetting.key}AccB", forgetting.accuracy_b[-1], ".0f")
    numbers.add("TaskAAcc", 100 * run.phase_a_acc_a[-1], ".0f")
    return Forgetting(switch_step=int(run.steps_b[0]), plain=panels[0], ewc=panels[1],
                      numbers=numbers)


@FIGURES.figure(
    caption="Catastrophic forgetting measured on two permuted classification tasks: after "
            "training on task A, plain SGD on task B loses most of A, while EWC's penalty keeps "
            "A while B is learned.",
    result=catastrophic_forgetting_result, width=1.0, aspect=0.42)
def catastrophic_forgetting(fig, forgetting: Forgetting):
    axes = fig.subplots(1, 2, sharey=True)
    switch = forgetting.switch_step
    panels = [("Plain SGD on task B", forgetting.plain),
              (rf"EWC on task B ($\lambda$ = {forgetting.numbers['EwcLambda']})", forgetting.ewc)]
    styles = series(2)
    for ax, letter, (title, panel) in zip(axes, "ab", panels, strict=True):
        steps = panel.steps
        ax.axvspan(switch, steps[-1], color=LIGHT, lw=0)
        ax.plot(steps, panel.accuracy_a, color=styles[0]["color"], label="task A (test)")
        ax.plot(steps, panel.accuracy_b, color=styles[1]["color"], ls="--",
                label="task B (test)")
        ax.annotate(f"A: {forgetting.numbers[panel.key + 'AccA']} %",
                    xy=(steps[-1], panel.accuracy_a[-1]), xytext=(-4, -10),
                    textcoords="offset points", ha="right", va="top", color=INK)
        ax.set_xlim(0, steps[-1])
        ax.set_ylim(0, 105)
        ax.set_xlabel("SGD step")
        ax.text(switch / 2, 50, "train on A", ha="center", va="center", color=MUTED)
        ax.text((switch + steps[-1]) / 2, 8, "train on B", ha="center", va="center",
                color=MUTED)
        panel_title(ax, letter, title)
    axes[0].set_ylabel("accuracy (%)")
    legend_above(fig, axes[0], ncols=2, narrow_ncols=2)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FisherConcentration:
    """The task-A Fisher diagonal: its first layer (a) and how concentrated its mass is (b)."""
    log_first_layer: np.ndarray     # log10 F_ii of W_1, (hidden unit, input feature)
    params_percent: np.ndarray      # k/N in %, the k largest entries first
    mass_percent: np.ndarray        # share of the total Fisher held by those k entries, in %
    top_share_percent: float        # smallest share of parameters holding half the mass
    numbers: Numbers


def fisher_information_matrix_result() -> FisherConcentration:
    info = recorded.load("fisher_information")
    numbers = Numbers()
    numbers.add("FisherTopShare", 100 * info.top_fraction_for_half_mass, ".1f")
    numbers.add("FisherParams", info.n_params, ",d")
    return FisherConcentration(log_first_layer=np.log10(info.first_layer_W.T),
                               params_percent=100 * info.frac_params,
                               mass_percent=100 * info.frac_mass,
                               top_share_percent=100 * info.top_fraction_for_half_mass,
                               numbers=numbers)


@FIGURES.figure(
    caption="The diagonal Fisher information of the task-A model from the forgetting "
            "experiment: a small share of the parameters carries most of it, and EWC anchors "
            "those most strongly.",
    result=fisher_information_matrix_result, width=1.0, aspect=0.4)
def fisher_information_matrix(fig, fisher: FisherConcentration):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    image = ax_a.imshow(fisher.log_first_layer, aspect="auto", cmap=SEQUENTIAL_CMAP,
                        interpolation="nearest", rasterized=True)
    ax_a.set_xlabel("input feature")
    ax_a.set_ylabel("hidden unit")
    bar = fig.colorbar(image, ax=ax_a, pad=0.02)
    bar.set_label(r"$\log_{10} F_{ii}$")
    panel_title(ax_a, "a", "First layer, $W_1$")

    top = fisher.top_share_percent
    ax_b.plot(fisher.params_percent, fisher.mass_percent, color=BLUE)
    ax_b.plot([0, 100], [0, 100], color=MUTED, lw=0.6, ls=":")
    ax_b.plot([top] * 2, [0, 50], color=INK, lw=0.6, ls="--")
    ax_b.plot([0, top], [50, 50], color=INK, lw=0.6, ls="--")
    ax_b.annotate(f"top {fisher.numbers['FisherTopShare']} % of parameters\n"
                  "hold half the Fisher mass", xy=(top, 50), xytext=(32, 24), va="top",
                  arrowprops=arrow_props())
    ax_b.text(72, 62, "equal shares", color=MUTED, ha="left", va="top")
    ax_b.set_xlim(0, 100)
    ax_b.set_ylim(0, 102)
    ax_b.set_xlabel("parameters, largest $F_{ii}$ first (%)")
    ax_b.set_ylabel("share of total Fisher (%)")
    panel_title(ax_b, "b", "Cumulative share")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossCurves:
    """Three real SGD runs: converging, overfitting, diverging."""
    converges: experiments.LossCurveRun
    overfits: experiments.LossCurveRun
    unstable: experiments.LossCurveRun
    unstable_log_train: np.ndarray  # log10 of the diverging run's losses (they span 300 decades)
    unstable_log_val: np.ndarray
    noise_floor: float              # the noise variance: the lowest expected validation MSE
    overfit_best_step: int          # the overfitting run's lowest validation loss: where ...
    overfit_best_loss: float        # ... and how low
    numbers: Numbers


def training_loss_curves_result() -> LossCurves:
    runs = recorded.load("loss_curves")
    over, bad = runs.overfits, runs.unstable
    best = int(np.argmin(over.val_loss))
    numbers = Numbers()
    numbers.add("NoiseFloor", runs.noise_floor, "g")
    numbers.add("OverfitValMinStep", over.val_min_step, "d")
    numbers.add("OverfitTrainPoints", over.hyperparams["n_train"], "d")
    numbers.add("DivergedStep", bad.diverged_at, "d")
    numbers.add("DivergedLr", bad.hyperparams["lr"], "g")
    numbers.add("ConvergedLr", runs.converges.hyperparams["lr"], "g")
    return LossCurves(converges=runs.converges, overfits=over, unstable=bad,
                      unstable_log_train=np.log10(bad.train_loss),
                      unstable_log_val=np.log10(bad.val_loss), noise_floor=runs.noise_floor,
                      overfit_best_step=int(over.steps[best]),
                      overfit_best_loss=float(over.val_loss[best]), numbers=numbers)


@FIGURES.figure(
    caption="Three real training runs of a small tanh MLP on noisy regression data: one "
            f"converges, one overfits its {experiments.OVERFIT_TRAIN_POINTS} training points, "
            "and one with a ten times larger learning rate diverges.",
    result=training_loss_curves_result, width=1.0, height=2.3)
def training_loss_curves(fig, curves: LossCurves):
    axes = fig.subplots(1, 3)
    styles = series(2)
    panels = [("Converges", curves.converges.steps, curves.converges.train_loss,
               curves.converges.val_loss),
              ("Overfits", curves.overfits.steps, curves.overfits.train_loss,
               curves.overfits.val_loss),
              ("Diverges", curves.unstable.steps, curves.unstable_log_train,
               curves.unstable_log_val)]
    for ax, letter, (title, steps, train, val) in zip(axes, "abc", panels, strict=True):
        ax.plot(steps, train, color=styles[0]["color"], label="training loss")
        ax.plot(steps, val, color=styles[1]["color"], ls="--", label="validation loss")
        if ax is not axes[2]:  # the diverging panel shows the loss's exponent instead
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("SGD step")
        panel_title(ax, letter, title)
    axes[0].set_ylabel("mean squared error")
    for ax in axes[:2]:
        ax.axhline(curves.noise_floor, color=MUTED, lw=0.6, ls=":")
    axes[0].set_ylim(0.15, 5)
    axes[0].set_yticks([0.3, 1, 3], ["0.3", "1", "3"])
    axes[0].text(curves.converges.hyperparams["steps"], curves.noise_floor * 0.93,
                 f"noise variance {curves.numbers['NoiseFloor']}", ha="right", va="top",
                 color=MUTED)
    axes[2].set_ylabel(r"$\log_{10}$ mean squared error")
    axes[2].set_ylim(-10, 480)

    best = (curves.overfit_best_step, curves.overfit_best_loss)
    axes[1].plot(*best, "o", color=styles[1]["color"])
    axes[1].annotate(f"val. minimum\nat step {curves.numbers['OverfitValMinStep']}", xy=best,
                     xytext=(0.06, 0.06), textcoords="axes fraction", va="bottom", ha="left",
                     arrowprops=arrow_props())

    numbers = curves.numbers
    axes[2].text(0.04, 0.97, f"lr {numbers['DivergedLr']}, not {numbers['ConvergedLr']}:\n"
                 f"float64 overflow\nat step {numbers['DivergedStep']}",
                 transform=axes[2].transAxes, ha="left", va="top")
    legend_above(fig, axes[0], ncols=2, narrow_ncols=2)


# --------------------------------------------------------------------------------------------
MEMORY_MODELS = (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B)
BREAKDOWN_MODEL = memory.LLAMA_7B
LORA_RANK = 64  # QLoRA's Guanaco setting, used for both adapter methods
#: GPUs drawn as reference lines: their name in memory.GPU_MEMORY_GB and on the figure.
GPU_NAMES = (("RTX 4090", "RTX 4090"), ("RTX A6000", "A6000"), ("A100 80GB", "A100"))
GPUS = tuple((memory.GPU_MEMORY_GB[gpu], f"{memory.GPU_MEMORY_GB[gpu]} GB {shown}")
             for gpu, shown in GPU_NAMES)
#: The components of panel (b): the MemoryBreakdown fields each one sums.
BREAKDOWN_COMPONENTS = (
    ("weights", ("weights",)),
    ("quant. constants", ("quantization_constants",)),
    ("gradients", ("gradients",)),
    ("optimizer states", ("optimizer_states",)),
    ("adapters (all states)", ("adapter_weights", "adapter_gradients",
                               "adapter_optimizer_states")),
)
COMPONENT_COLORS = (BLUE, CYAN, RED, YELLOW, GREEN)
#: Greys for the methods, so that colour means one thing: the components of panel (b).
METHOD_GREYS = ("#4D4D4D", "#8C8C8C", "#C8C8C8")
METHOD_HATCHES = ("", "////", "....")


@dataclass(frozen=True)
class MemoryComparison:
    """Model-state memory of full fine-tuning, LoRA and QLoRA: totals per model (a) and the
    components of one model (b)."""
    models: tuple[str, ...]         # "7B", "13B", ...
    totals_gb: dict[str, list[float]]  # method -> GB per model
    gpus: tuple[tuple[int, str], ...]  # (capacity in GB, label)
    breakdown_model: str            # the model of panel (b)
    component_labels: tuple[str, ...]  # the constants' label names their size
    quantization_constants_gb: float  # QLoRA's quantization constants of the breakdown model
    component_gb: np.ndarray        # (component, method) GB of the breakdown model
    component_start_gb: np.ndarray  # (component, method) where each stacked bar starts
    method_total_gb: np.ndarray     # (method,) the stacked totals
    largest_total_gb: float         # the longest stack: sets the extent of panel (b)
    numbers: Numbers


def memory_comparison_result() -> MemoryComparison:
    table = memory.compare_methods(MEMORY_MODELS, LORA_RANK, memory.ALL_LINEAR)
    totals = {method: [memory.bytes_to_gb(row[method].total) for row in table.values()]
              for method in memory.METHODS}
    numbers = Numbers()
    full65, lora65, qlora65 = table[memory.LLAMA_65B.name].values()
    numbers.add("FullSixtyFiveGB", memory.bytes_to_gb(full65.total), ",.0f")
    numbers.add("LoraSixtyFiveGB", memory.bytes_to_gb(lora65.total), ",.0f")
    numbers.add("QloraSixtyFiveGB", memory.bytes_to_gb(qlora65.total), ".1f")
    numbers.add("BytesPerParamFull", memory.MIXED_PRECISION_ADAM.bytes_per_param, "g")

    breakdowns = table[BREAKDOWN_MODEL.name].values()
    widths, starts = [], []
    stacked = np.zeros(len(memory.METHODS))
    for _, fields in BREAKDOWN_COMPONENTS:
        width = np.array([sum(getattr(b, name) for name in fields)
                          for b in breakdowns]) / memory.GB
        widths.append(width)
        starts.append(stacked.copy())
        stacked += width
    numbers.add("FullSevenGB", stacked[0], ".0f")
    numbers.add("QloraSevenGB", stacked[2], ".1f")
    constants = memory.bytes_to_gb(table[BREAKDOWN_MODEL.name]["QLoRA"].quantization_constants)
    labels = tuple(f"{label} ({constants:.1f} GB)" if fields == ("quantization_constants",)
                   else label for label, fields in BREAKDOWN_COMPONENTS)
    return MemoryComparison(
        models=tuple(name.replace("LLaMA-", "") for name in table), totals_gb=totals, gpus=GPUS,
        breakdown_model=BREAKDOWN_MODEL.name.replace("LLaMA-", ""), component_labels=labels,
        quantization_constants_gb=constants, component_gb=np.array(widths),
        component_start_gb=np.array(starts),
        method_total_gb=stacked, largest_total_gb=float(stacked.max()), numbers=numbers)


@FIGURES.figure(
    caption="Memory of the model states (weights, gradients, optimizer states; activations "
            "not included) to fine-tune LLaMA models: 16-bit full fine-tuning with "
            "mixed-precision Adam (ZeRO's "
            f"{memory.MIXED_PRECISION_ADAM.bytes_per_param:g} bytes per parameter), LoRA on a "
            "frozen 16-bit base and QLoRA on a 4-bit NF4 base, both with "
            f"$r={LORA_RANK}$ adapters on all linear layers.",
    result=memory_comparison_result, width=1.0, height=3.9)
def memory_comparison(fig, comparison: MemoryComparison):
    ax_a, ax_b = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.7, 1]})
    grouped_bars(ax_a, list(comparison.models), comparison.totals_gb, METHOD_GREYS,
                 METHOD_HATCHES, width=0.78)
    reference_lines(ax_a, comparison.gpus)
    ax_a.set_yscale("log")
    ax_a.set_ylim(3, 3000)
    ax_a.set_xlabel("LLaMA model")
    ax_a.set_ylabel("GB (model states)")
    ax_a.legend(loc="upper left", ncols=1)
    panel_title(ax_a, "a", "Total")

    rows = np.arange(len(comparison.method_total_gb))[::-1]  # full fine-tuning on top
    for label, width, start, color in zip(comparison.component_labels, comparison.component_gb,
                                          comparison.component_start_gb, COMPONENT_COLORS,
                                          strict=True):
        ax_b.barh(rows, width, 0.6, left=start, color=color, label=label, edgecolor="white",
                  linewidth=0.3)
    largest = comparison.largest_total_gb
    for row, total in zip(rows, comparison.method_total_gb, strict=True):
        ax_b.text(total + largest * 0.02, row, f"{total:.0f} GB" if total >= 10 else
                  f"{total:.1f} GB", ha="left", va="center", fontsize=SMALL)
    ax_b.set_yticks(rows, ["full", "LoRA", "QLoRA"])
    ax_b.set_xlabel("GB")
    ax_b.set_xlim(0, largest * 1.3)
    ax_b.legend(loc="lower right", ncols=2 if fig.get_figwidth() > 5.5 else 1)
    panel_title(ax_b, "b", comparison.breakdown_model + " by component")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableCell:
    """One cell of the table: its text and the number of its source's footnote."""
    text: str
    note: int | None                # footnote number, None when the cell cites nothing
    applicable: bool                # False for "n/a"


@dataclass(frozen=True)
class HyperparameterTable:
    """The cited hyperparameters of full fine-tuning, LoRA and QLoRA, with footnotes."""
    regime_labels: tuple[str, ...]
    rows: tuple[tuple[str, tuple[TableCell, ...]], ...]  # (setting, one cell per regime)
    footnotes: tuple[str, ...]      # "1  BERT (...)", in footnote order
    numbers: Numbers


def hyperparameter_recommendations_result() -> HyperparameterTable:
    sources = hyperparameters.cited_sources()
    note = {key: i + 1 for i, key in enumerate(sources)}
    rows = []
    for row in hyperparameters.HYPERPARAMETERS:
        cells = tuple(TableCell(text=cell.text, note=note[cell.source] if cell.source else None,
                                applicable=cell.text != hyperparameters.NOT_APPLICABLE)
                      for cell in map(row.cell, hyperparameters.REGIMES))
        rows.append((row.name, cells))
    return HyperparameterTable(
        regime_labels=tuple(hyperparameters.REGIME_LABELS[r] for r in hyperparameters.REGIMES),
        rows=tuple(rows),
        footnotes=tuple(f"{note[key]}  {hyperparameters.SOURCES[key]}" for key in sources),
        numbers=Numbers())


@FIGURES.figure(
    caption="Hyperparameters reported for full fine-tuning (BERT), LoRA and QLoRA in the "
            "papers and code that introduced them; superscripts name the source.",
    result=hyperparameter_recommendations_result, width=1.0, aspect=0.5, height=3.2)
def hyperparameter_recommendations(fig, table: HyperparameterTable):
    ax = diagram.canvas(fig, (0, 1), (0, 1))
    n = len(table.rows) + 1
    top, footer = 1.0, 0.33
    row_h = (top - footer) / n
    col_x = (0.0, 0.42, 0.63, 0.84)
    ys = [top - (i + 0.5) * row_h for i in range(n)]
    ax.text(col_x[0] + 0.01, ys[0], "Setting", ha="left", va="center")
    for x, label in zip(col_x[1:], table.regime_labels, strict=True):
        ax.text(x, ys[0], label, ha="center", va="center")
    ax.axhline(top - row_h, color=INK, lw=0.6)
    for i, ((name, cells), y) in enumerate(zip(table.rows, ys[1:], strict=True)):
        if i % 2 == 0:
            ax.axhspan(y - row_h / 2, y + row_h / 2, color=LIGHT, lw=0, zorder=0)
        ax.text(col_x[0] + 0.01, y, name, ha="left", va="center")
        for x, cell in zip(col_x[1:], cells, strict=True):
            mark = f"$^{{{cell.note}}}$" if cell.note is not None else ""
            ax.text(x, y, cell.text + mark, ha="center", va="center",
                    color=INK if cell.applicable else MUTED)
    ax.axhline(footer, color=INK, lw=0.6)
    ax.text(0.01, footer - 0.02, "\n".join(table.footnotes), ha="left", va="top",
            fontsize=SMALL, color=MUTED, linespacing=1.3)


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
