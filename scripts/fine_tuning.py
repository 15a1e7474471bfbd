"""Fine-tuning figures: schedules, per-layer rates, gradient flow, forgetting, memory, convergence.

Run `python scripts/fine_tuning.py --help`. Every curve comes from a cited formula (numerics.*)
or a seeded run of the project's own numpy code (numerics.fine_tuning_runs); this module only
calls those and draws.
"""
from __future__ import annotations

import sys

import numpy as np

from figkit import Registry, diagram
from figkit.palette import BLUE, GREEN, INK, MUTED, PURPLE, RED, SEQUENTIAL_CMAP, YELLOW, series
from numerics import quadratic, schedules

FIGURES = Registry("fine_tuning")


def panel_title(ax, letter: str, text: str) -> None:
    ax.set_title(f"({letter}) {text}", loc="left")


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
                  arrowprops=dict(arrowstyle="<->", color=INK, lw=0.7, shrinkA=0, shrinkB=0))
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
    ax_b.text(cut + 15, schedules.STLR_ETA_MAX * 1.04, rf"cut = {schedules.STLR_CUT_FRAC:g}$\,T$, "
              rf"$\eta_{{\max}}$ = {schedules.STLR_ETA_MAX:g}", va="bottom")
    low = numbers.add("StlrMin", schedules.STLR_ETA_MAX / schedules.STLR_RATIO, "sci1")
    ax_b.annotate(rf"end: $\eta_{{\max}}/{schedules.STLR_RATIO}$ = {low}", xy=(total, stlr[-1]),
                  xytext=(0.7 * total, 0.85 * schedules.STLR_ETA_MAX), ha="center",
                  va="bottom", arrowprops=dict(arrowstyle="-|>", color=INK, lw=0.6,
                                               mutation_scale=6, shrinkA=1, shrinkB=2))
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
    fig.legend(*ax_a.get_legend_handles_labels(), loc="outside upper center",
               ncols=4 if fig.get_figwidth() > 6 else 2, columnspacing=1.2)
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
            "target-domain fine-tuning of the language model, then task fine-tuning of a new head.",
    width=1.0, aspect=0.3)
def transfer_learning_process(fig, numbers):
    ax = diagram.canvas(fig, (0, 3), (0, 1))
    pre = numbers.add("PretrainPeak", schedules.LLAMA_PEAK_LR, "sci0")
    ft = numbers.add("FinetunePeak", schedules.FINETUNE_PEAK_LR, "sci0")
    stages = [
        ("1  Pre-training", "large general corpus\nnext-token prediction\n"
         f"all weights, peak lr {pre}", BLUE),
        ("2  Domain adaptation", "unlabelled target text\nsame objective\n"
         f"all weights, peak lr {ft}", PURPLE),
        ("3  Task fine-tuning", "labelled task data\nnew task head\n"
         "discriminative rates,\ngradual unfreezing", GREEN),
    ]
    boxes = []
    for i, (title, body, color) in enumerate(stages):
        boxes.append(diagram.box(ax, 0.5 + i, 0.5, f"{title}\n\n{body}", color=color, fontsize=8))
    for a, b in zip(boxes[:-1], boxes[1:]):
        diagram.link(ax, a, b, (1, 0.5), (0, 0.5))


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
