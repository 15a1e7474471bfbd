"""LoRA figures: how low-rank adaptation works, from real layer shapes and a real toy model.

Run `python scripts/lora.py --help`. Shapes and byte accounting come from numerics.memory,
published LoRA tables and the variants' formulas from numerics.lora_published, and the toy
model (an 8-16-16-k MLP with LoRA, hand-written backprop) from numerics.lora.
Source: Hu et al. 2021, LoRA: Low-Rank Adaptation of Large Language Models, arXiv 2106.09685.
"""
from __future__ import annotations

import sys

import numpy as np
from matplotlib.patches import Polygon, Rectangle

from figkit import Registry, diagram
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.charts import grouped_bars, reference_lines
from figkit.palette import (BLUE, CYAN, GREEN, GREY, INK, LIGHT, MUTED, PURPLE, RED,
                            SEQUENTIAL_CMAP, YELLOW, series, tint)
from numerics import memory, qlora_runs

FIGURES = Registry("lora")

MODEL = memory.LLAMA_7B
RANK = 8
#: The layer drawn in the architecture figures: LLaMA-7B's query projection.
LAYER = next(layer for layer in memory.linear_layers(MODEL) if layer.name == "q")
FROZEN, TRAINED, MERGED = GREY, GREEN, PURPLE


def fmt_int(n) -> str:
    return f"{int(n):,}"


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The LoRA block for LLaMA-7B's query projection: the frozen weight $W$ beside the "
            "trainable down-projection $A$ and up-projection $B$, whose product, scaled by "
            "$\\alpha/r$, is added to the output: $h = Wx + \\frac{\\alpha}{r}BAx$.",
    width=1.0, height=2.9)
def lora_architecture(fig, numbers):
    d, k, r = LAYER.d_out, LAYER.d_in, RANK
    n_w = numbers.add("LayerParams", d * k, ",d")
    n_a = numbers.add("AParams", r * k, ",d")
    n_b = numbers.add("BParams", d * r, ",d")
    share = numbers.add("AdapterShare", 100 * r * (d + k) / (d * k), ".2f")
    numbers.add("Rank", r, "d")
    numbers.add("LayerRows", d, ",d")
    ax = diagram.canvas(fig, (0, 12), (0, 8))
    # frozen W: a square block
    ax.add_patch(Rectangle((0.9, 2.6), 3.2, 2.8, facecolor=tint(FROZEN, 0.7), edgecolor=INK,
                           lw=0.8))
    ax.text(2.5, 4.35, "$W \\in \\mathbb{R}^{d \\times k}$", ha="center", va="center")
    ax.text(2.5, 3.6, f"frozen\n{n_w} weights", ha="center", va="center", fontsize=7)
    # A: k -> r (narrowing), B: r -> d (widening)
    ax.add_patch(Polygon([(5.8, 2.6), (9.4, 2.6), (8.2, 3.8), (7.0, 3.8)], closed=True,
                         facecolor=tint(TRAINED, 0.6), edgecolor=INK, lw=0.8))
    ax.add_patch(Polygon([(7.0, 4.2), (8.2, 4.2), (9.4, 5.4), (5.8, 5.4)], closed=True,
                         facecolor=tint(TRAINED, 0.6), edgecolor=INK, lw=0.8))
    ax.text(7.6, 3.12, f"$A$: $r \\times k$, {n_a}", ha="center", va="center", fontsize=7)
    ax.text(7.6, 4.88, f"$B$: $d \\times r$, {n_b}", ha="center", va="center", fontsize=7)
    ax.text(9.7, 3.2, "random\nGaussian", ha="left", va="center", fontsize=7, color=MUTED)
    ax.text(9.7, 4.8, "zero at\nthe start", ha="left", va="center", fontsize=7, color=MUTED)
    ax.text(7.6, 4.0, f"$r$ = {r}", ha="center", va="center", fontsize=7)
    # input, output, sum
    ax.text(5.0, 0.9, f"input $x \\in \\mathbb{{R}}^{{k}}$, $k$ = {k:,}", ha="center",
            va="center")
    ax.text(5.0, 7.4, f"output $h \\in \\mathbb{{R}}^{{d}}$, $d$ = {d:,}", ha="center",
            va="center")
    ax.text(5.0, 6.35, "+", ha="center", va="center",
            bbox=dict(boxstyle="circle,pad=0.15", facecolor="white", edgecolor=INK, lw=0.8))
    for start, end in (((5.0, 1.2), (2.5, 2.55)), ((5.0, 1.2), (7.6, 2.55)),
                       ((2.5, 5.45), (4.75, 6.3)), ((7.6, 5.45), (5.25, 6.3)),
                       ((5.0, 6.6), (5.0, 7.1))):
        diagram.arrow(ax, start, end, shrink=0)
    ax.text(6.9, 5.95, "$\\times\\,\\alpha / r$", ha="left", va="center", fontsize=7)
    ax.text(11.8, 1.0, f"adapters: $r(d + k)$ = {fmt_int(r * (d + k))} trainable\n"
            f"weights, {share} % of the layer's {n_w}", ha="right", va="center", fontsize=7)


# --------------------------------------------------------------------------------------------
SCALE_RANK = 64  # QLoRA's rank: the largest in common use, so the thin matrices stay visible


@FIGURES.figure(
    caption="The update $\\Delta W = BA$ drawn to scale for LLaMA-7B's query projection at "
            "$r = 64$: the update has $d \\times k$ entries, its factors only $r(d + k)$; the saving for each "
            "rank is on the right.",
    width=1.0, aspect=0.4)
def matrix_decomposition(fig, numbers):
    d, k = LAYER.d_out, LAYER.d_in
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    r = SCALE_RANK
    side = 4.0
    thin_w, thin_h = side * r / k, side * r / d
    ax_a.add_patch(Rectangle((0, 0), side, side, facecolor=tint(MERGED, 0.75), edgecolor=INK,
                             lw=0.8))
    ax_a.add_patch(Rectangle((side + 0.9, 0), thin_w, side, facecolor=TRAINED, edgecolor=INK,
                             lw=0.5))
    ax_a.add_patch(Rectangle((side + 1.9, side - thin_h), side, thin_h, facecolor=TRAINED,
                             edgecolor=INK, lw=0.5))
    ax_a.text(side / 2, side / 2, f"$\\Delta W$\n{d:,} $\\times$ {k:,}\n{d * k:,} entries",
              ha="center", va="center", fontsize=7)
    ax_a.text(side + 0.45, side / 2, "=", ha="center", va="center")
    ax_a.text(side + 1.45, side / 2, "$\\times$", ha="center", va="center")
    ax_a.text(side + 0.9 + thin_w / 2, -0.15, f"$B$\n{d:,} $\\times$ {r}", ha="center",
              va="top", fontsize=7)
    ax_a.text(side * 1.5 + 1.9, side - thin_h - 0.15, f"$A$: {r} $\\times$ {k:,}", ha="center",
              va="top", fontsize=7)
    ax_a.text(side * 1.5 + 1.9, side / 2 - 0.6, f"together {r * (d + k):,} entries",
              ha="center", va="center", fontsize=7)
    ax_a.set_xlim(-0.1, 2 * side + 2.0)
    ax_a.set_ylim(-1.1, side + 0.1)
    ax_a.set_aspect("equal")
    ax_a.set_axis_off()
    panel_title(ax_a, "a", f"To scale, $r$ = {r}")

    ranks = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    factors = ranks * (d + k)
    ax_b.plot(ranks, factors, color=TRAINED, marker="o", label="$r(d + k)$: $B$ and $A$")
    ax_b.axhline(d * k, color=MERGED, lw=1.0, ls="--", label="$dk$: $\\Delta W$ itself")
    ax_b.set_xscale("log", base=2)
    ax_b.set_yscale("log")
    ax_b.set_xticks(ranks, [str(v) for v in ranks])
    ax_b.set_xlabel("rank $r$")
    ax_b.set_ylabel("entries")
    ax_b.set_ylim(factors[0] / 3, d * k * 60)
    for rank in (RANK, SCALE_RANK):
        ratio = d * k / (rank * (d + k))
        text = numbers.add(f"SavingRank{'Eight' if rank == 8 else 'SixtyFour'}", ratio, ",.0f")
        ax_b.annotate(f"$r$ = {rank}: {text}$\\times$ fewer", xy=(rank, rank * (d + k)),
                      xytext=(-6, 8), textcoords="offset points", fontsize=7, va="bottom",
                      ha="right")
    ax_b.legend(loc="upper left", fontsize=7)
    panel_title(ax_b, "b", "Entries against rank")


# --------------------------------------------------------------------------------------------
ACT_BATCH, ACT_SEQ = 1, 2048  # one full-context sequence, gradient checkpointing


@FIGURES.figure(
    caption="Training memory of LLaMA-7B by component: full fine-tuning with mixed-precision "
            "Adam (16 bytes per parameter) against LoRA on a frozen 16-bit base, with the "
            "activations of one 2,048-token sequence under gradient checkpointing (Korthikanti "
            "et al. 2022), which LoRA needs as much as full fine-tuning.",
    width=1.0, aspect=0.34)
def training_memory_breakdown(fig, numbers):
    gb = memory.GB
    acts = qlora_runs.activation_bytes(MODEL, ACT_BATCH, ACT_SEQ, checkpointing=True)
    setups = [("full fine-tuning", memory.full_finetune_memory(MODEL)),
              (f"LoRA $r$ = {RANK}, $W_q, W_v$", memory.lora_memory(MODEL, RANK, ("q", "v"))),
              (f"LoRA $r$ = {SCALE_RANK}, all linear",
               memory.lora_memory(MODEL, SCALE_RANK, memory.ALL_LINEAR))]
    components = [("weights (16-bit)", ("weights",), BLUE), ("gradients", ("gradients",), RED),
                  ("optimizer states", ("optimizer_states",), YELLOW),
                  ("adapters: weights, gradients, Adam", ("adapter_weights", "adapter_gradients",
                                                          "adapter_optimizer_states"), GREEN)]
    ax = fig.subplots()
    rows = np.arange(len(setups))[::-1]
    lefts = np.zeros(len(setups))
    for label, keys, color in components:
        widths = np.array([sum(getattr(b, key) for key in keys) for _, b in setups]) / gb
        ax.barh(rows, widths, 0.6, left=lefts, color=color, label=label, edgecolor="white",
                linewidth=0.3)
        lefts += widths
    ax.barh(rows, np.full(len(setups), acts / gb), 0.6, left=lefts, color=CYAN,
            label="activations", edgecolor="white", linewidth=0.3)
    lefts += acts / gb
    for (name, _), row, total in zip(setups, rows, lefts):
        ax.text(total + lefts.max() * 0.01, row, f"{total:.1f} GB", va="center", fontsize=7)
    numbers.add("FullTotalGB", lefts[0], ".0f")
    numbers.add("LoraTotalGB", lefts[1], ".1f")
    numbers.add("LoraAllTotalGB", lefts[2], ".1f")
    numbers.add("ActivationGB", acts / gb, ".1f")
    ax.set_yticks(rows, [name for name, _ in setups])
    ax.set_xlim(0, lefts.max() * 1.12)
    ax.set_xlabel(f"GB ({MODEL.name})")
    legend_above(fig, ax, ncols=3, narrow_ncols=2, fontsize=7)


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
