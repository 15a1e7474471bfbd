"""Fine-tuning figures: schedules, per-layer rates, gradient flow, forgetting, memory, convergence.

Run `python scripts/fine_tuning.py --help`. Every curve comes from a cited formula (numerics.*)
or a seeded run of the project's own numpy code (numerics.fine_tuning_runs); this module only
calls those and draws.
"""
from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
from matplotlib.ticker import NullFormatter

from matplotlib.patches import Rectangle

from figkit import Registry, diagram
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.charts import grouped_bars, reference_lines
from figkit.palette import (BLUE, CYAN, GREEN, INK, LIGHT, MUTED, PURPLE, RED, SEQUENTIAL_CMAP,
                            YELLOW, series, tint)
from numerics import fine_tuning_runs, hyperparameters, memory, quadratic, schedules

FIGURES = Registry("fine_tuning")


# Seeded experiments, run once per process and shared by the figures that show them.
forgetting_run = lru_cache(maxsize=1)(fine_tuning_runs.forgetting)
gradient_flow_run = lru_cache(maxsize=1)(fine_tuning_runs.gradient_flow)
loss_curve_runs = lru_cache(maxsize=1)(fine_tuning_runs.loss_curve_runs)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption=r"Learning-rate schedules: LLaMA's pre-training schedule (peak $3\times10^{-4}$, "
            r"cosine to 10\,\%) against a fine-tuning schedule with a ten times lower peak, and "
            r"ULMFiT's slanted triangular schedule.",
    width=1.0, aspect=0.36)
def learning_rate_comparison(fig, numbers):
    ax_a, ax_b = fig.subplots(1, 2)

    frac = np.linspace(0, 1, 2001)
    pre = schedules.warmup_cosine(frac * schedules.LLAMA_TOTAL_STEPS, schedules.LLAMA_TOTAL_STEPS,
                                  schedules.LLAMA_WARMUP_STEPS, schedules.LLAMA_PEAK_LR,
                                  schedules.LLAMA_FINAL_RATIO)
    ft_total = 1000
    ft = schedules.warmup_linear(frac * ft_total, ft_total,
                                 int(schedules.FINETUNE_WARMUP_FRACTION * ft_total),
                                 schedules.FINETUNE_PEAK_LR)
    s1, s2 = series(2)
    ax_a.plot(frac, pre, color=s1["color"])
    ax_a.plot(frac, ft, color=s2["color"], linestyle="--")
    ax_a.text(0.97, 4.2e-4, "pre-training (cosine)", ha="right", va="bottom",
              color=s1["color"])
    ax_a.text(0.42, 3.5e-6, "fine-tuning (linear decay)", ha="center", va="bottom",
              color=s2["color"])
    ax_a.set_yscale("log")
    ax_a.set_ylim(1e-6, 1e-3)
    ax_a.set_xlim(0, 1)
    ax_a.set_xlabel("fraction of training")
    ax_a.set_ylabel("learning rate")
    ratio = numbers.add("PeakRatio", schedules.LLAMA_PEAK_LR / schedules.FINETUNE_PEAK_LR, ".0f")
    numbers.add("PretrainPeak", schedules.LLAMA_PEAK_LR, "sci0")
    numbers.add("FinetunePeak", schedules.FINETUNE_PEAK_LR, "sci0")
    x_arrow = schedules.FINETUNE_WARMUP_FRACTION
    ax_a.annotate("", xy=(x_arrow, schedules.FINETUNE_PEAK_LR * 0.98),
                  xytext=(x_arrow, schedules.LLAMA_PEAK_LR * 0.99),
                  arrowprops=arrow_props(arrowstyle="<->", shrinkA=0, shrinkB=0))
    ax_a.text(x_arrow + 0.02, np.sqrt(schedules.LLAMA_PEAK_LR * schedules.FINETUNE_PEAK_LR),
              rf"{ratio}$\times$ lower" "\npeak", va="center")
    panel_title(ax_a, "a", "Pre-training vs. fine-tuning")

    total = 1000
    t = np.arange(total + 1)
    stlr = schedules.slanted_triangular(t, total)
    ax_b.plot(t, stlr, color=s1["color"])
    cut = int(schedules.STLR_CUT_FRAC * total)
    ax_b.axvline(cut, color=MUTED, lw=0.6, ls=":")
    ax_b.set_xlim(0, total)
    ax_b.set_ylim(0, schedules.STLR_ETA_MAX * 1.25)
    ax_b.set_xlabel("iteration $t$ (of $T$ = 1000)")
    ax_b.set_ylabel("learning rate")
    ax_b.text(cut + 15, schedules.STLR_ETA_MAX * 1.04,
              rf"peak at $t = {schedules.STLR_CUT_FRAC:g}\,T$: $\eta_{{\max}} = "
              rf"{schedules.STLR_ETA_MAX:g}$", va="bottom")
    low = numbers.add("StlrMin", schedules.STLR_ETA_MAX / schedules.STLR_RATIO, "sci1")
    ax_b.annotate(rf"end: $\eta_{{\max}}/{schedules.STLR_RATIO}$ = {low}", xy=(total, stlr[-1]),
                  xytext=(0.7 * total, 0.85 * schedules.STLR_ETA_MAX), ha="center",
                  va="bottom", arrowprops=arrow_props())
    panel_title(ax_b, "b", "Slanted triangular (ULMFiT)")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption=r"Discriminative fine-tuning and gradual unfreezing (ULMFiT): each layer's rate is "
            r"the rate of the layer above divided by 2.6, and one more layer is unfrozen per epoch.",
    width=1.0, aspect=0.36)
def discriminative_learning_rates(fig, numbers):
    n_layers = 12
    top = schedules.FINETUNE_PEAK_LR
    rates = schedules.discriminative_rates(top, n_layers)
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})

    layers = np.arange(1, n_layers + 1)
    ax_a.bar(layers, rates, color=BLUE, width=0.7)
    ax_a.set_yscale("log")
    ax_a.set_xticks(layers)
    ax_a.set_xlabel("layer $l$ (1 = bottom)")
    ax_a.set_ylabel(r"learning rate $\eta^{l}$")
    ax_a.set_ylim(rates[0] / 3, top * 8)
    spread = numbers.add("LayerRateSpread", rates[-1] / rates[0], ",.0f")
    numbers.add("LayerFactor", schedules.ULMFIT_LAYER_FACTOR, ".1f")
    ax_a.text(1, top * 2.2, rf"$\eta^{{l-1}} = \eta^{{l}}/{schedules.ULMFIT_LAYER_FACTOR:g}$: "
              rf"top/bottom = {spread}", va="bottom")
    panel_title(ax_a, "a", "Discriminative rates")

    trainable = schedules.gradual_unfreezing(n_layers, n_layers)
    lr_grid = np.where(trainable, np.log10(rates)[None, :], np.nan)
    image = ax_b.imshow(lr_grid.T, origin="lower", aspect="auto", cmap=SEQUENTIAL_CMAP,
                        extent=(0.5, n_layers + 0.5, 0.5, n_layers + 0.5))
    ax_b.set_xlabel("epoch")
    ax_b.set_ylabel("layer")
    ax_b.set_xticks(layers[::2])
    ax_b.set_yticks(layers[::2])
    bar = fig.colorbar(image, ax=ax_b, pad=0.02)
    bar.set_label(r"$\log_{10}$ learning rate")
    ax_b.text(1, 1.2, "frozen layers\nare blank", ha="left", va="bottom", color=INK)
    panel_title(ax_b, "b", "Gradual unfreezing")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption=r"Gradient descent on $f(x)=\frac{1}{2}\sum_i\lambda_i x_i^2$ with $\mu=1$, $L=10$: "
            r"a small step converges slowly, $\eta^*=2/(L+\mu)$ fastest, $\eta=2/L$ oscillates "
            r"without converging, and any larger step diverges.",
    width=1.0, aspect=0.38)
def convergence_analysis(fig, numbers):
    problem = quadratic.Quadratic((1.0, 10.0))
    L = problem.L
    steps = 40
    x0 = np.array([1.0, 1.0])
    runs = [
        ("slow", 0.2 / L, r"$\eta = 0.2/L$: slow"),
        ("fast", problem.optimal_step(), r"$\eta^* = 2/(L+\mu)$: fastest"),
        ("oscillating", 2.0 / L, r"$\eta = 2/L$: oscillates"),
        ("diverging", 2.2 / L, r"$\eta = 2.2/L$: diverges"),
    ]
    ax_a, ax_b = fig.subplots(1, 2)
    k = np.arange(steps + 1)
    shown, reach = 13, 0.0
    for (key, eta, label), style in zip(runs, series(4)):
        xs = quadratic.gradient_descent(problem, x0, eta, steps)
        ax_a.plot(k, problem.value(xs), color=style["color"], ls=style["linestyle"], label=label,
                  marker=style["marker"], markersize=2.5, markevery=5)
        ax_b.plot(k[:shown], xs[:shown, 1], color=style["color"], ls=style["linestyle"],
                  marker=style["marker"], markersize=2.5)
        reach = max(reach, np.abs(xs[:shown, 1]).max())
        numbers.add(f"Rate{key.capitalize()}", problem.contraction(eta), ".2f")
    ax_a.set_yscale("log")
    ax_a.set_xlim(0, steps)
    ax_a.set_xlabel("iteration $k$")
    ax_a.set_ylabel(r"$f(x_k) - f^*$")
    legend_above(fig, ax_a, ncols=4, columnspacing=1.2)
    ax_a.set_ylim(1e-9, 1e8)
    panel_title(ax_a, "a", "Suboptimality")

    ax_b.axhline(0, color=MUTED, lw=0.5)
    ax_b.set_xlabel("iteration $k$")
    ax_b.set_ylabel(r"$x_{k,2}$")
    ax_b.set_xlim(0, shown - 1)
    ax_b.set_ylim(-1.1 * reach, 1.1 * reach)
    panel_title(ax_b, "b", r"Stiff coordinate, $\lambda_2 = L$")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Transfer learning in three stages, as in ULMFiT: general-domain pre-training, "
            "target-domain fine-tuning of the language model, then task fine-tuning of a new "
            "head with discriminative learning rates and gradual unfreezing.",
    width=1.0, height=2.0)
def transfer_learning_process(fig, numbers):
    ax = diagram.canvas(fig, (0, 3), (0, 1))
    pre = numbers.add("PretrainPeak", schedules.LLAMA_PEAK_LR, "sci0")
    ft = numbers.add("FinetunePeak", schedules.FINETUNE_PEAK_LR, "sci0")
    n_layers = 4
    # Stage 3 shades each layer by its discriminative rate (ULMFiT: /2.6 per layer down).
    rates = schedules.discriminative_rates(1.0, n_layers)
    stages = [
        ("1  Pre-training", "general text, next token", BLUE, np.ones(n_layers), "LM head",
         f"all layers trained\npeak lr {pre}"),
        ("2  Domain adaptation", "target-domain text", PURPLE, np.ones(n_layers), "LM head",
         f"all layers trained\npeak lr {ft}"),
        ("3  Task fine-tuning", "labelled task data", GREEN, rates / rates.max(), "new task head",
         f"lr / {schedules.ULMFIT_LAYER_FACTOR:g} per layer down,\nunfrozen top-down"),
    ]
    layer_h, gap, base, half_w = 0.09, 0.024, 0.2, 0.2
    for i, (title, data, color, shade, head, note) in enumerate(stages):
        cx = 0.5 + i
        ax.text(cx, 0.97, title, ha="center", va="top", fontsize=8)
        ax.text(cx, 0.86, data, ha="center", va="top", fontsize=7, color=MUTED)
        for level, strength in enumerate(shade):
            y = base + level * (layer_h + gap)
            ax.add_patch(Rectangle((cx - half_w, y), 2 * half_w, layer_h,
                                   facecolor=tint(color, 0.85 - 0.75 * strength),
                                   edgecolor=color, lw=0.7))
        y_head = base + n_layers * (layer_h + gap)
        ax.add_patch(Rectangle((cx - half_w, y_head), 2 * half_w, layer_h * 0.9,
                               facecolor="white", edgecolor=color, lw=0.9,
                               linestyle="--" if i == 2 else "-"))
        ax.text(cx, y_head + layer_h * 0.45, head, ha="center", va="center", fontsize=7)
        ax.text(cx, base - 0.04, note, ha="center", va="top", fontsize=7)
        if i < 2:
            mid = base + 2 * (layer_h + gap)
            diagram.arrow(ax, (cx + half_w + 0.06, mid), (cx + 1 - half_w - 0.06, mid))
            ax.text(cx + 0.5, mid + 0.03, "copy weights", ha="center", va="bottom", fontsize=7,
                    color=MUTED)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Per-layer gradient norms measured by backpropagation through a 20-layer sigmoid "
            "MLP and a 20-layer residual ReLU MLP on the same data: the sigmoid network's "
            "gradient vanishes towards the input, the residual network's does not.",
    width=1.0, aspect=0.36)
def gradient_flow_analysis(fig, numbers):
    run = gradient_flow_run()
    ax = fig.subplots()
    blocks = round(run.config["residual_branch_scale"] ** -2)
    nets = [("sigmoid", run.sigmoid_norms, run.sigmoid_mean, run.sigmoid_ratio,
             "plain sigmoid MLP (Xavier init)"),
            ("residual", run.residual_norms, run.residual_mean, run.residual_ratio,
             rf"residual ReLU MLP (He init, branches $\times 1/\sqrt{{{blocks}}}$)")]
    for (key, per_seed, mean, ratio, label), style in zip(nets, series(2)):
        for norms in per_seed:
            ax.plot(run.layer, norms, color=style["color"], lw=0.5, alpha=0.35)
        ax.plot(run.layer, mean, color=style["color"], ls=style["linestyle"],
                marker=style["marker"], label=label)
        text = numbers.add(f"GradRatio{key.capitalize()}", ratio, "sci1")
        ax.annotate(f"first / last layer = {text}", xy=(run.layer[0], mean[0]),
                    xytext=(8, -5), textcoords="offset points", va="top", color=INK)
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel(r"$\|\partial L / \partial W_l\|_F$")
    ax.set_xticks(run.layer[::2])
    ax.set_ylim(run.sigmoid_norms.min() / 1e3, run.residual_norms.max() * 30)
    n_seeds = numbers.add("GradFlowSeeds", len(run.sigmoid_norms), "d")
    legend_above(fig, ax, ncols=2, title=f"thin lines: {n_seeds} seeds; thick: their "
                                         "geometric mean")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Catastrophic forgetting measured on two permuted classification tasks: after "
            "training on task A, plain SGD on task B loses most of A, while EWC's penalty keeps "
            "A while B is learned.",
    width=1.0, aspect=0.42)
def catastrophic_forgetting(fig, numbers):
    run = forgetting_run()
    axes = fig.subplots(1, 2, sharey=True)
    switch = run.steps_b[0]
    lam = numbers.add("EwcLambda", run.lam, "g")
    panels = [("Plain", "Plain SGD on task B", run.plain_acc_a, run.plain_acc_b),
              ("Ewc", rf"EWC on task B ($\lambda$ = {lam})", run.ewc_acc_a, run.ewc_acc_b)]
    styles = series(2)
    for ax, letter, (key, title, acc_a, acc_b) in zip(axes, "ab", panels):
        steps = np.concatenate([run.steps_a, run.steps_b[1:]])
        curve_a = np.concatenate([run.phase_a_acc_a, acc_a[1:]])
        curve_b = np.concatenate([run.phase_a_acc_b, acc_b[1:]])
        ax.axvspan(switch, steps[-1], color=LIGHT, lw=0)
        ax.plot(steps, 100 * curve_a, color=styles[0]["color"], label="task A (test)")
        ax.plot(steps, 100 * curve_b, color=styles[1]["color"], ls="--", label="task B (test)")
        end_a = numbers.add(f"{key}AccA", 100 * acc_a[-1], ".0f")
        end_b = numbers.add(f"{key}AccB", 100 * acc_b[-1], ".0f")
        ax.annotate(f"A: {end_a} %", xy=(steps[-1], 100 * acc_a[-1]), xytext=(-4, -10),
                    textcoords="offset points", ha="right", va="top", color=INK)
        ax.set_xlim(0, steps[-1])
        ax.set_ylim(0, 105)
        ax.set_xlabel("SGD step")
        ax.text(switch / 2, 50, "train on A", ha="center", va="center", color=MUTED)
        ax.text((switch + steps[-1]) / 2, 8, "train on B", ha="center", va="center",
                color=MUTED)
        panel_title(ax, letter, title)
    numbers.add("TaskAAcc", 100 * run.phase_a_acc_a[-1], ".0f")
    axes[0].set_ylabel("accuracy (%)")
    legend_above(fig, axes[0], ncols=2, narrow_ncols=2)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The diagonal Fisher information of the task-A model from the forgetting "
            "experiment: a small share of the parameters carries most of it, and EWC anchors "
            "those most strongly.",
    width=1.0, aspect=0.4)
def fisher_information_matrix(fig, numbers):
    info = fine_tuning_runs.fisher_information(forgetting_run())
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    heat = np.log10(info.first_layer_W.T)
    image = ax_a.imshow(heat, aspect="auto", cmap=SEQUENTIAL_CMAP, interpolation="nearest",
                        rasterized=True)
    ax_a.set_xlabel("input feature")
    ax_a.set_ylabel("hidden unit")
    bar = fig.colorbar(image, ax=ax_a, pad=0.02)
    bar.set_label(r"$\log_{10} F_{ii}$")
    panel_title(ax_a, "a", "First layer, $W_1$")

    ax_b.plot(100 * info.frac_params, 100 * info.frac_mass, color=BLUE)
    ax_b.plot([0, 100], [0, 100], color=MUTED, lw=0.6, ls=":")
    top = numbers.add("FisherTopShare", 100 * info.top_fraction_for_half_mass, ".1f")
    ax_b.plot([100 * info.top_fraction_for_half_mass] * 2, [0, 50], color=INK, lw=0.6, ls="--")
    ax_b.plot([0, 100 * info.top_fraction_for_half_mass], [50, 50], color=INK, lw=0.6, ls="--")
    ax_b.annotate(f"top {top} % of parameters\nhold half the Fisher mass",
                  xy=(100 * info.top_fraction_for_half_mass, 50), xytext=(32, 24), va="top",
                  arrowprops=arrow_props())
    ax_b.text(72, 62, "equal shares", color=MUTED, ha="left", va="top")
    numbers.add("FisherParams", info.n_params, ",d")
    ax_b.set_xlim(0, 100)
    ax_b.set_ylim(0, 102)
    ax_b.set_xlabel("parameters, largest $F_{ii}$ first (%)")
    ax_b.set_ylabel("share of total Fisher (%)")
    panel_title(ax_b, "b", "Cumulative share")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Three real training runs of a small tanh MLP on noisy regression data: one "
            "converges, one overfits its 32 training points, and one with a ten times larger "
            "learning rate diverges.",
    width=1.0, height=2.3)
def training_loss_curves(fig, numbers):
    result = loss_curve_runs()
    axes = fig.subplots(1, 3)
    styles = series(2)
    runs = [("Converges", result.converges), ("Overfits", result.overfits),
            ("Diverges", result.unstable)]
    for ax, letter, (title, run) in zip(axes, "abc", runs):
        log = ax is axes[2]  # the diverging loss spans 300 decades: plot its exponent
        train, val = (np.log10(run.train_loss), np.log10(run.val_loss)) if log else \
            (run.train_loss, run.val_loss)
        ax.plot(run.steps, train, color=styles[0]["color"], label="training loss")
        ax.plot(run.steps, val, color=styles[1]["color"], ls="--", label="validation loss")
        if not log:
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("SGD step")
        panel_title(ax, letter, title)
    axes[0].set_ylabel("mean squared error")
    floor = numbers.add("NoiseFloor", result.noise_floor, "g")
    for ax in axes[:2]:
        ax.axhline(result.noise_floor, color=MUTED, lw=0.6, ls=":")
    axes[0].set_ylim(0.15, 5)
    axes[0].set_yticks([0.3, 1, 3], ["0.3", "1", "3"])
    axes[0].text(1000, result.noise_floor * 0.93, f"noise variance {floor}", ha="right",
                 va="top", color=MUTED)
    axes[2].set_ylabel(r"$\log_{10}$ mean squared error")
    axes[2].set_ylim(-10, 480)

    over = result.overfits
    best = numbers.add("OverfitValMinStep", over.val_min_step, "d")
    i_best = int(np.argmin(over.val_loss))
    axes[1].plot(over.steps[i_best], over.val_loss[i_best], "o", color=styles[1]["color"])
    axes[1].annotate(f"val. minimum\nat step {best}", xy=(over.steps[i_best],
                     over.val_loss[i_best]), xytext=(0.06, 0.06), textcoords="axes fraction",
                     va="bottom", ha="left", arrowprops=arrow_props())
    numbers.add("OverfitTrainPoints", over.hyperparams["n_train"], "d")

    bad = result.unstable
    step = numbers.add("DivergedStep", bad.diverged_at, "d")
    lr_bad = numbers.add("DivergedLr", bad.hyperparams["lr"], "g")
    lr_good = numbers.add("ConvergedLr", result.converges.hyperparams["lr"], "g")
    axes[2].text(0.04, 0.97, f"lr {lr_bad}, not {lr_good}:\nfloat64 overflow\nat step {step}",
                 transform=axes[2].transAxes, ha="left", va="top")
    legend_above(fig, axes[0], ncols=2, narrow_ncols=2)


# --------------------------------------------------------------------------------------------
MEMORY_MODELS = (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B)
LORA_RANK = 64  # QLoRA's Guanaco setting, used for both adapter methods
#: Greys for the methods, so that colour means one thing: the components of panel (b).
METHOD_GREYS = ("#4D4D4D", "#8C8C8C", "#C8C8C8")
METHOD_HATCHES = ("", "////", "....")
GPUS = ((24, "24 GB RTX 4090"), (48, "48 GB A6000"), (80, "80 GB A100"))


@FIGURES.figure(
    caption="Memory of the model states (weights, gradients, optimizer states; activations "
            "not included) to fine-tune LLaMA models: 16-bit full fine-tuning with "
            "mixed-precision Adam (ZeRO's 16 bytes per parameter), LoRA on a frozen 16-bit base "
            "and QLoRA on a 4-bit NF4 base, both with $r=64$ adapters on all linear layers.",
    width=1.0, height=3.9)
def memory_comparison(fig, numbers):
    table = memory.compare_methods(MEMORY_MODELS, LORA_RANK, memory.ALL_LINEAR)
    ax_a, ax_b = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.7, 1]})
    totals = {method: [memory.bytes_to_gb(row[method].total) for row in table.values()]
              for method in memory.METHODS}
    grouped_bars(ax_a, [name.replace("LLaMA-", "") for name in table], totals, METHOD_GREYS,
                 METHOD_HATCHES, width=0.78)
    reference_lines(ax_a, GPUS)
    ax_a.set_yscale("log")
    ax_a.set_ylim(3, 3000)
    ax_a.set_xlabel("LLaMA model")
    ax_a.set_ylabel("GB (model states)")
    ax_a.legend(loc="upper left", ncols=1)
    panel_title(ax_a, "a", "Total")

    full65, lora65, qlora65 = table[memory.LLAMA_65B.name].values()
    numbers.add("FullSixtyFiveGB", memory.bytes_to_gb(full65.total), ",.0f")
    numbers.add("LoraSixtyFiveGB", memory.bytes_to_gb(lora65.total), ",.0f")
    numbers.add("QloraSixtyFiveGB", memory.bytes_to_gb(qlora65.total), ".1f")
    numbers.add("BytesPerParamFull", memory.MIXED_PRECISION_ADAM.bytes_per_param, "g")

    constants = memory.bytes_to_gb(table[memory.LLAMA_7B.name]["QLoRA"].quantization_constants)
    components = [("weights", ("weights",), BLUE),
                  (f"quant. constants ({constants:.1f} GB)", ("quantization_constants",), CYAN),
                  ("gradients", ("gradients",), RED),
                  ("optimizer states", ("optimizer_states",), YELLOW),
                  ("adapters (all states)", ("adapter_weights", "adapter_gradients",
                                             "adapter_optimizer_states"), GREEN)]
    model = memory.LLAMA_7B.name
    lefts = np.zeros(3)
    rows = np.arange(3)[::-1]  # full fine-tuning on top
    for label, keys, color in components:
        widths = np.array([sum(getattr(b, k) for k in keys)
                           for b in table[model].values()]) / memory.GB
        ax_b.barh(rows, widths, 0.6, left=lefts, color=color, label=label, edgecolor="white",
                  linewidth=0.3)
        lefts += widths
    for row, total in zip(rows, lefts):
        ax_b.text(total + lefts.max() * 0.02, row, f"{total:.0f} GB" if total >= 10 else
                  f"{total:.1f} GB", ha="left", va="center", fontsize=7)
    numbers.add("FullSevenGB", lefts[0], ".0f")
    numbers.add("QloraSevenGB", lefts[2], ".1f")
    ax_b.set_yticks(rows, ["full", "LoRA", "QLoRA"])
    ax_b.set_xlabel("GB")
    ax_b.set_xlim(0, lefts.max() * 1.3)
    ax_b.legend(loc="lower right", ncols=2 if fig.get_figwidth() > 5.5 else 1)
    panel_title(ax_b, "b", model.replace("LLaMA-", "") + " by component")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Hyperparameters reported for full fine-tuning (BERT), LoRA and QLoRA in the "
            "papers and code that introduced them; superscripts name the source.",
    width=1.0, aspect=0.5, height=3.2)
def hyperparameter_recommendations(fig, numbers):
    ax = diagram.canvas(fig, (0, 1), (0, 1))
    sources = hyperparameters.cited_sources()
    note = {key: i + 1 for i, key in enumerate(sources)}
    rows = hyperparameters.HYPERPARAMETERS
    regimes = hyperparameters.REGIMES
    n = len(rows) + 1
    top, footer = 1.0, 0.33
    row_h = (top - footer) / n
    col_x = (0.0, 0.42, 0.63, 0.84)
    ys = [top - (i + 0.5) * row_h for i in range(n)]
    ax.text(col_x[0] + 0.01, ys[0], "Setting", ha="left", va="center")
    for x, regime in zip(col_x[1:], regimes):
        ax.text(x, ys[0], hyperparameters.REGIME_LABELS[regime], ha="center", va="center")
    ax.axhline(top - row_h, color=INK, lw=0.6)
    for i, (row, y) in enumerate(zip(rows, ys[1:])):
        if i % 2 == 0:
            ax.axhspan(y - row_h / 2, y + row_h / 2, color=LIGHT, lw=0, zorder=0)
        ax.text(col_x[0] + 0.01, y, row.name, ha="left", va="center")
        for x, regime in zip(col_x[1:], regimes):
            cell = row.cell(regime)
            mark = f"$^{{{note[cell.source]}}}$" if cell.source else ""
            ax.text(x, y, cell.text + mark, ha="center", va="center",
                    color=MUTED if cell.text == hyperparameters.NOT_APPLICABLE else INK)
    ax.axhline(footer, color=INK, lw=0.6)
    lines = [f"{note[key]}  {hyperparameters.SOURCES[key]}" for key in sources]
    ax.text(0.01, footer - 0.02, "\n".join(lines), ha="left", va="top", fontsize=7,
            color=MUTED, linespacing=1.3)


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
