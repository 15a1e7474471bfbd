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
from numerics import lora_published as published
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


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Which weight matrices to adapt: the trainable parameters of each choice at rank 8 "
            "for LLaMA-7B, and the LoRA paper's results for GPT-3 when every choice gets the "
            "same 18M-parameter budget (Table 5; seed spread $\\pm$0.5 and $\\pm$0.1 points).",
    width=1.0, aspect=0.42)
def module_selection(fig, numbers):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    choices = [("q",), ("v",), ("q", "v"), ("q", "k", "v", "o"),
               ("gate", "up", "down"), memory.ALL_LINEAR]
    labels = ["$W_q$", "$W_v$", "$W_q, W_v$", "attention (4)", "MLP (3)", "all linear (7)"]
    counts = [memory.lora_parameters(MODEL, RANK, c) for c in choices]
    rows = np.arange(len(choices))[::-1]
    ax_a.barh(rows, np.array(counts) / 1e6, 0.6, color=TRAINED)
    for row, count in zip(rows, counts):
        ax_a.text(count / 1e6 * 1.02, row, f"{count / 1e6:.1f}M", va="center", fontsize=7)
    ax_a.set_yticks(rows, labels)
    ax_a.set_xlim(0, max(counts) / 1e6 * 1.3)
    ax_a.set_xlabel(f"trainable parameters (millions), $r$ = {RANK}")
    numbers.add("QvParamsSevenB", counts[2], ",d")
    numbers.add("AllLinearParamsSevenB", counts[-1], ",d")
    panel_title(ax_a, "a", f"Cost per choice, {MODEL.name}")

    table = published.MODULE_SELECTION
    names = [row.label.replace("W", "W_").replace("W_q, W_k, W_v, W_o", "all four")
             for row in table]
    names = [f"${n}$" if n != "all four" else n for n in names]
    names = [f"{n} ($r$={row.rank})" for n, row in zip(names, table)]
    scores = {"WikiSQL": [row.wikisql for row in table],
              "MultiNLI": [row.multinli for row in table]}
    y = np.arange(len(table))[::-1]
    for (task, values), color, marker, std in zip(
            scores.items(), (BLUE, RED), ("o", "s"),
            (published.WIKISQL_SEED_STD_PCT, published.MULTINLI_SEED_STD_PCT)):
        ax_b.errorbar(values, y, xerr=std, ls="none", marker=marker, color=color, capsize=2,
                      label=task, markersize=3.5)
    ax_b.set_yticks(y, names)
    ax_b.set_xlabel("validation accuracy (%)")
    ax_b.set_xlim(68, 94)
    best = max(table, key=lambda row: row.wikisql + row.multinli)
    numbers.add("BestWikiSql", best.wikisql, ".1f")
    numbers.add("BestMultiNli", best.multinli, ".1f")
    numbers.add("BudgetParams", published.module_selection_parameters()[table[0].label], ",d")
    ax_b.legend(loc="center", fontsize=7)
    panel_title(ax_b, "b", "GPT-3, same budget (Table 5)")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Six LoRA variants side by side: the key idea of each, its trainable parameters for "
            "one real layer (LLaMA-7B's $W_q$, 4096 $\\times$ 4096, at rank 16) from its "
            "paper's formula, and the paper.",
    width=1.0, height=3.0)
def lora_variants(fig, numbers):
    import textwrap

    ax = diagram.canvas(fig, (0, 1), (0, 1))
    layer, rank = published.EXAMPLE_LAYER, published.EXAMPLE_RANK
    variants = published.VARIANTS
    columns = (0.0, 0.25, 0.77, 1.0)
    header_h, row_h = 0.1, 0.9 / len(variants)
    for x, text, ha in zip(columns, ("method", "key idea", "formula",
                                     f"trainable at $r$ = {rank}"),
                           ("left", "left", "center", "right")):
        ax.text(x, 1 - header_h / 2, text, ha=ha, va="center", fontsize=7, color=MUTED)
    ax.axhline(1 - header_h, color=INK, lw=0.6)
    for i, variant in enumerate(variants):
        top = 1 - header_h - i * row_h
        middle = top - row_h / 2
        if i % 2 == 0:
            ax.axhspan(top - row_h, top, color=LIGHT, lw=0, zorder=0)
        ax.text(columns[0], middle, f"{variant.name}\n{variant.citation}\narXiv {variant.arxiv}",
                ha="left", va="center", fontsize=7, linespacing=1.15)
        ax.text(columns[1], middle, "\n".join(textwrap.wrap(variant.key_idea, 32)),
                ha="left", va="center", fontsize=7)
        ax.text(columns[2], middle, f"${variant.formula}$", ha="center", va="center", fontsize=7)
        count = variant.parameters(layer, rank)
        ax.text(columns[3], middle, f"{count:,}", ha="right", va="center", fontsize=7)
        numbers.add(f"Params{''.join(ch for ch in variant.name if ch.isalpha())}"
                    f"{'Plus' if '+' in variant.name else ''}", count, ",d")
    ax.axhline(1 - header_h - len(variants) * row_h, color=INK, lw=0.6)


# --------------------------------------------------------------------------------------------
LATENCY_RANK, BOTTLENECK, POSITIONS = 8, 64, 128


@FIGURES.figure(
    caption="Extra inference cost of adapters: extra operations per token for LLaMA-7B from "
            "operation counts (LoRA $r$ = 8 on $W_q, W_v$; adapter bottleneck 64), and the "
            "latency increase the LoRA paper measured for GPT-2 medium (Table 1); a merged LoRA "
            "adds nothing.",
    width=1.0, height=3.6)
def inference_speed_comparison(fig, numbers):
    ax_a, ax_b = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.25]})
    methods = [("lora_merged", "LoRA, merged", LATENCY_RANK),
               ("lora_unmerged", "LoRA, unmerged", LATENCY_RANK),
               ("adapter_lin", "adapter, one per block", BOTTLENECK),
               ("adapter_houlsby", "adapter, two per block", BOTTLENECK)]
    rows = np.arange(len(methods))[::-1]
    targets = {m: ("q", "v") if m.startswith("lora") else None for m, _, _ in methods}
    percents = [published.extra_compute_pct(MODEL, m, size, POSITIONS, targets[m])
                for m, _, size in methods]
    serial = [published.extra_compute_per_token(MODEL, m, size, targets[m]).serial_layers
              for m, _, size in methods]
    ax_a.barh(rows, percents, 0.6, color=[TRAINED, TRAINED, RED, RED])
    for row, pct, extra_layers in zip(rows, percents, serial):
        label = f"{pct:.3f} %" + (f", {extra_layers} more layers in sequence"
                                  if extra_layers else "")
        ax_a.text(pct + max(percents) * 0.02, row, label, va="center", fontsize=7)
    ax_a.set_yticks(rows, [label for _, label, _ in methods])
    ax_a.set_xlim(0, max(percents) * 2.6)
    ax_a.set_xlabel(f"extra operations per token (%), {MODEL.name}, {POSITIONS} positions")
    numbers.add("UnmergedExtraPct", percents[1], ".3f")
    numbers.add("HoulsbyExtraPct", percents[3], ".2f")
    panel_title(ax_a, "a", "Counted")

    settings = published.LATENCY_SETTINGS
    labels = [f"batch {s.batch_size}, length {s.sequence_length}" for s in settings]
    rows_by = {row.method: published.latency_increase_pct(row)
               for row in published.INFERENCE_LATENCY[1:]}
    values = {"one adapter per block (AdapterL)": rows_by["AdapterL"],
              "two adapters per block (AdapterH)": rows_by["AdapterH"]}
    containers = grouped_bars(ax_b, labels, values, (tint(RED, 0.45), RED), ("////", ""),
                              width=0.75, horizontal=True)
    for container, numbers_row in zip(containers, values.values()):
        for bar, v in zip(container, numbers_row):
            ax_b.text(v + 0.4, bar.get_y() + bar.get_height() / 2, f"{v:.1f} %",
                      va="center", fontsize=7)
    numbers.add("LatencyWorstPct", max(rows_by["AdapterH"]), ".1f")
    ax_b.invert_yaxis()
    ax_b.set_xlim(0, max(rows_by["AdapterH"]) * 1.25)
    ax_b.set_xlabel("latency increase over the fine-tuned (or merged LoRA) model (%)")
    ax_b.legend(loc="upper right", fontsize=7)
    panel_title(ax_b, "b", "Measured, GPT-2 medium (LoRA Table 1)")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
