"""LoRA figures: how low-rank adaptation works, from real layer shapes and a real toy model.

Run `python scripts/lora.py --help`. Shapes and byte accounting come from numerics.memory,
published LoRA tables and the variants' formulas from numerics.lora_published, and the toy
model (an 8-16-16-k MLP with LoRA, hand-written backprop) from numerics.lora.
Source: Hu et al. 2021, LoRA: Low-Rank Adaptation of Large Language Models, arXiv 2106.09685.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.ticker import LogLocator
from matplotlib.patches import Polygon, Rectangle

from figkit import Registry, diagram
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.numbers import Numbers, spell
from figkit.charts import grouped_bars, reference_lines
from figkit.palette import (BLUE, CYAN, DIVERGING_CMAP, GREEN, GREY, INK, LIGHT, MUTED, PURPLE,
                            RED, SEQUENTIAL_CMAP, YELLOW, series, tint)
from numerics import lora_published as published
from numerics import lora as toy
from numerics import memory, qlora_runs

FIGURES = Registry("lora")

MODEL = memory.LLAMA_7B
RANK = 8
#: The layer drawn in the architecture figures: LLaMA-7B's query projection.
LAYER = next(layer for layer in memory.linear_layers(MODEL) if layer.name == "q")
FROZEN, TRAINED, MERGED = GREY, GREEN, BLUE


# The toy model's experiments: pre-trained once per process, shared by the figures.
@lru_cache(maxsize=1)
def pretrained():
    return toy.pretrain()


@lru_cache(maxsize=None)
def experiment(name: str):
    """One of numerics.lora's experiments on the shared pre-trained base."""
    return getattr(toy, name)(pretrained=pretrained())


def signed_norm(*arrays):
    """A colour norm centred on zero spanning the largest magnitude in `arrays`."""
    reach = max(float(np.abs(a).max()) for a in arrays) or 1.0
    return TwoSlopeNorm(0.0, -reach, reach)


def fmt_int(n) -> str:
    return f"{int(n):,}"


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoraBlock:
    """LLaMA-7B's query projection with a rank-`rank` adapter: the sizes the block diagram labels."""
    d: int                # output features of W (rows)
    k: int                # input features of W (columns)
    rank: int
    numbers: Numbers


def lora_architecture_result() -> LoraBlock:
    d, k, r = LAYER.d_out, LAYER.d_in, RANK
    numbers = Numbers()
    numbers.add("LayerParams", d * k, ",d")
    numbers.add("AParams", r * k, ",d")
    numbers.add("BParams", d * r, ",d")
    numbers.add("AdapterParams", r * (d + k), ",d")
    numbers.add("AdapterShare", 100 * r * (d + k) / (d * k), ".2f")
    numbers.add("Rank", r, "d")
    numbers.add("LayerRows", d, ",d")
    return LoraBlock(d, k, r, numbers)


@FIGURES.figure(
    caption="The LoRA block for LLaMA-7B's query projection: the frozen weight $W$ beside the "
            "trainable down-projection $A$ and up-projection $B$, whose product, scaled by "
            "$\\alpha/r$, is added to the output: $h = Wx + \\frac{\\alpha}{r}BAx$.",
    result=lora_architecture_result, width=1.0, height=2.9)
def lora_architecture(fig, block: LoraBlock):
    d, k, r = block.d, block.k, block.rank
    n_w, n_a, n_b = (block.numbers[key] for key in ("LayerParams", "AParams", "BParams"))
    share = block.numbers["AdapterShare"]
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
    ax.text(11.8, 1.0, f"adapters: $r(d + k)$ = {block.numbers['AdapterParams']} trainable\n"
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


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Trainable parameters against rank for LLaMA-7B's real layer shapes, and the test "
            "accuracy the toy model reaches with LoRA at each rank on its sentiment task "
            "(three seeds), beside full fine-tuning.",
    width=1.0, aspect=0.38)
def rank_comparison(fig, numbers):
    ax_a, ax_b = fig.subplots(1, 2)
    ranks = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    total = memory.parameter_count(MODEL)
    for targets, label, style in ((("q", "v"), "$W_q, W_v$", series(2)[0]),
                                  (memory.ALL_LINEAR, "all linear layers", series(2)[1])):
        counts = np.array([memory.lora_parameters(MODEL, r, targets) for r in ranks])
        ax_a.plot(ranks, 100 * counts / total, color=style["color"], ls=style["linestyle"],
                  marker=style["marker"], label=label)
    share = numbers.add("QvShareRankEight",
                        100 * memory.lora_parameters(MODEL, RANK, ("q", "v")) / total, ".3f")
    ax_a.set_xscale("log", base=2)
    ax_a.set_yscale("log")
    ax_a.set_xticks(ranks, [str(r) for r in ranks])
    ax_a.set_xlabel("rank $r$")
    ax_a.set_ylabel(f"trainable, % of {total / 1e9:.1f}B")
    ax_a.legend(loc="upper left", fontsize=7)
    ax_a.text(0.97, 0.05, f"$r$ = {RANK} on $W_q, W_v$: {share} %", transform=ax_a.transAxes,
              ha="right", va="bottom", fontsize=7)
    panel_title(ax_a, "a", MODEL.name)

    sweep = experiment("rank_sweep")
    r = np.array(sweep.ranks)
    for seed_values in sweep.test_accuracy.T:
        ax_b.plot(r, 100 * seed_values, ls="none", marker="o", markersize=2.5, color=GREY)
    ax_b.plot(r, 100 * sweep.mean_test_accuracy, color=TRAINED, marker="o",
              label="LoRA, mean of seeds")
    ax_b.axhline(100 * sweep.full_test_accuracy, color=PURPLE, ls="--", lw=1.0,
                 label=f"full fine-tuning ({sweep.full_params} parameters)")
    ax_b.axhline(100 * sweep.base_test_accuracy, color=INK, ls=":", lw=1.0,
                 label="base model, no fine-tuning")
    ax_b.set_xscale("log", base=2)
    ax_b.set_xticks(r, [f"{v}\n({n})" for v, n in zip(r, sweep.trainable_params)])
    ax_b.set_xlabel("rank $r$ (trainable parameters)")
    ax_b.set_ylabel("test accuracy (%)")
    ax_b.set_ylim(0, 115)
    ax_b.legend(loc="lower right", fontsize=7)
    numbers.add("ToyFullAccuracy", 100 * sweep.full_test_accuracy, ".0f")
    for rank, acc in zip(r, sweep.mean_test_accuracy):
        numbers.add(f"ToyAccuracyRank{spell(int(rank))}", 100 * acc, ".0f")
    panel_title(ax_b, "b", "Toy model, sentiment")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The effect of the scaling $\\alpha/r$, measured on the toy model: with $\\alpha$ "
            "fixed, the size of the first update and the training loss after 50 steps vary less "
            "with the rank than with $\\alpha = r$, where larger ranks take larger steps.",
    width=1.0, aspect=0.38)
def scaling_factor_impact(fig, numbers):
    exp = experiment("scaling_experiment")
    ranks = np.array(exp.ranks)
    ax_a, ax_b = fig.subplots(1, 2)
    labels = (f"$\\alpha$ = {exp.alpha_fixed:g} fixed", "$\\alpha = r$")
    early = 50
    for scheme, (label, style) in enumerate(zip(labels, series(2))):
        first = exp.first_step_norm[scheme]
        ax_a.plot(ranks, first, color=style["color"], ls=style["linestyle"],
                  marker=style["marker"], label=label)
        loss = exp.loss[scheme, :, :, early].mean(axis=-1)
        ax_b.plot(ranks, loss, color=style["color"], ls=style["linestyle"],
                  marker=style["marker"], label=label)
        key = "Fixed" if scheme == 0 else "Rank"
        numbers.add(f"FirstStepSpread{key}", first.max() / first.min(), ".1f")
    for ax in (ax_a, ax_b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [str(r) for r in ranks])
        ax.set_xlabel("rank $r$")
    ax_a.set_yscale("log")
    ax_a.set_ylabel("$\\|\\Delta W\\|_F$ after one step")
    ax_b.set_ylabel(f"training loss after {early} steps")
    ax_b.set_ylim(0, None)
    legend_above(fig, ax_a, ncols=2, narrow_ncols=2, fontsize=7)
    numbers.add("EarlyStep", early, "d")
    panel_title(ax_a, "a", "Size of the first update")
    panel_title(ax_b, "b", "Early training")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Merging $W' = W + \\frac{\\alpha}{r}BA$ on the toy model: the outputs before and "
            "after merging agree to float precision, and two adapters trained for different "
            "tasks are swapped on one base model by merging and unmerging.",
    width=1.0, aspect=0.36)
def adapter_merging(fig, numbers):
    swap = experiment("adapter_swap")
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    eps = np.finfo(float).eps
    x = np.arange(len(swap.tasks))
    width = 0.35
    ax_a.bar(x - width / 2, swap.merge_error, width, color=MERGED, label="outputs: merged vs not")
    ax_a.bar(x + width / 2, swap.unmerge_error, width, color=FROZEN, hatch="////",
             edgecolor="white", label="$W$ after unmerging vs $W_0$")
    ax_a.axhline(eps, color=INK, lw=0.6, ls=":")
    ax_a.text(1.02, eps, "float64\nepsilon", transform=ax_a.get_yaxis_transform(), va="center",
              fontsize=7)
    ax_a.set_yscale("log")
    ax_a.set_ylim(1e-17, 1e-12)
    ax_a.set_xticks(x, [f"{t} adapter" for t in swap.tasks])
    ax_a.set_ylabel("largest absolute difference")
    ax_a.legend(loc="upper left", fontsize=7)
    numbers.add("MergeErrorMax", float(np.max(swap.merge_error)), "sci1")
    numbers.add("UnmergeErrorMax", float(max(np.max(swap.unmerge_error), swap.final_error)),
                "sci1")
    panel_title(ax_a, "a", "Exactness")

    values = {"base alone": 100 * swap.base_accuracy,
              "adapter, unmerged": 100 * swap.adapter_accuracy,
              "adapter merged into $W$": 100 * swap.merged_accuracy}
    grouped_bars(ax_b, [f"{t} task" for t in swap.tasks], values, (FROZEN, TRAINED, MERGED),
                 ("", "", "...."), width=0.75)
    ax_b.set_ylim(0, 100)
    ax_b.set_ylabel("test accuracy (%)")
    legend_above(fig, ax_b, ncols=3, narrow_ncols=2, fontsize=7)
    panel_title(ax_b, "b", "Two adapters, one base")


# ============================================================================================
# B. The LoRA simulator's views, as static figures of the real toy model (numerics.lora)
# --------------------------------------------------------------------------------------------
def draw_network(ax, sizes, y_gap=1.0):
    """Units as circles, layer by layer, joined by light lines; returns unit positions."""
    xs = np.linspace(0, 1, len(sizes))
    tallest = max(sizes)
    positions = []
    for x, n in zip(xs, sizes):
        ys = (np.arange(n) - (n - 1) / 2) * y_gap / tallest
        positions.append(np.column_stack([np.full(n, x), ys]))
    for left, right in zip(positions[:-1], positions[1:]):
        for a in left:
            for b in right:
                ax.plot([a[0], b[0]], [a[1], b[1]], color="#CCCCCC", lw=0.3, zorder=1)
    for layer in positions:
        ax.scatter(layer[:, 0], layer[:, 1], s=14, color=BLUE, zorder=3, linewidths=0)
    return positions


@FIGURES.figure(
    caption="The toy base network of the LoRA figures: 8 input features of a sentence, two "
            "hidden ReLU layers of 16 units and 2 outputs, with the shape and parameter count "
            "of every layer.",
    width=1.0, aspect=0.42)
def model_overview(fig, numbers):
    model = toy.toy_model()
    ax = diagram.canvas(fig, (-0.12, 1.12), (-1.22, 0.62))
    positions = draw_network(ax, model.sizes)
    names = ["input", "hidden 1", "hidden 2", "output"]
    for layer, name, n in zip(positions, names, model.sizes):
        ax.text(layer[0, 0], 0.56, f"{name}\n{n} units", ha="center", va="bottom", fontsize=7)
    for i, ((d_out, d_in), w, b) in enumerate(zip(model.shapes, model.weight_params,
                                                  model.bias_params)):
        x = (positions[i][0, 0] + positions[i + 1][0, 0]) / 2
        ax.text(x, -0.62, f"$W_{i + 1}$: {d_out} $\\times$ {d_in}\n$b_{i + 1}$: {d_out}\n"
                f"{w + b} parameters", ha="center", va="top", fontsize=7)
    total = numbers.add("ToyBaseParams", model.base_params, ",d")
    ax.text(0.5, -1.12, f"{total} parameters in all", ha="center", va="bottom", fontsize=7,
            color=MUTED)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Where LoRA attaches in the toy model: each frozen weight $W_l$ gets a trainable "
            "pair $A_l$ ($r \\times k$) and $B_l$ ($d \\times r$), and inference can use the "
            "merged weight $W_l + \\frac{\\alpha}{r}B_lA_l$ instead.",
    width=1.0, height=2.5)
def lora_injection(fig, numbers):
    model = toy.toy_model()
    config = toy.LoRAConfig()
    r = config.rank
    ax = diagram.canvas(fig, (0, 12), (0, 6))
    columns = np.linspace(2.0, 10.0, len(model.shapes))
    for l, ((d, k), x) in enumerate(zip(model.shapes, columns), start=1):
        frozen = diagram.box(ax, x - 0.8, 4.1, f"$W_{l}$\n{d} $\\times$ {k}\nfrozen",
                             color=FROZEN, fill=0.6, fontsize=7)
        a = diagram.box(ax, x + 0.8, 4.9, f"$A_{l}$: {r} $\\times$ {k}", color=TRAINED,
                        fill=0.55, fontsize=7)
        b = diagram.box(ax, x + 0.8, 3.3, f"$B_{l}$: {d} $\\times$ {r}", color=TRAINED,
                        fill=0.55, fontsize=7)
        merged = diagram.box(ax, x, 1.1, f"$W_{l} + \\frac{{\\alpha}}{{r}}B_{l}A_{l}$\n"
                             "merged", color=MERGED, fill=0.7, fontsize=7)
        diagram.link(ax, a, b, (0.5, 0), (0.5, 1))
        diagram.link(ax, frozen, merged, (0.5, 0), (0.25, 1), color=MUTED, linestyle=":")
        diagram.link(ax, b, merged, (0.5, 0), (0.75, 1), color=MUTED, linestyle=":")
    ax.text(0.05, 5.9, f"$r$ = {r}, $\\alpha$ = {config.alpha:g}", ha="left", va="top",
            fontsize=7)
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor=c)
               for c in (FROZEN, TRAINED, MERGED)]
    fig.legend(handles, ["frozen base weight", "trainable adapter", "effective weight"],
               loc="outside lower center", ncols=3, fontsize=7)
    numbers.add("ToyRank", r, "d")
    numbers.add("ToyAlpha", config.alpha, "g")
    numbers.add("ToyAdapterParams", toy.trainable_parameters(config), ",d")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The real forward pass of one test sentence through the LoRA-trained toy model: "
            "at every layer the base path $W_0x$ and the LoRA path $\\frac{\\alpha}{r}BAx$ "
            "add up to the pre-activation.",
    width=1.0, aspect=0.5)
def forward_pass(fig, numbers):
    trace = experiment("forward_trace")
    layers = trace.layers
    axes = fig.subplots(1, len(layers) + 1, gridspec_kw={"width_ratios":
                                                        [0.6] + [1.0] * len(layers)})
    ax_in = axes[0]
    features = np.arange(len(trace.x))
    ax_in.barh(features, trace.x, color=MUTED)
    ax_in.invert_yaxis()
    ax_in.set_yticks(features, list(toy.GROUPS))
    ax_in.set_xlabel("word count")
    panel_title(ax_in, "a", "Input")
    styles = [("base path $W_0x$", FROZEN), ("LoRA path", TRAINED)]
    for j, (ax, layer) in enumerate(zip(axes[1:], layers), start=1):
        units = np.arange(layer.base_path.shape[-1])
        base = layer.base_path.ravel()
        lora_path = (layer.lora_path.ravel() if layer.lora_path is not None
                     else np.zeros_like(base))
        ax.barh(units - 0.2, base, 0.4, color=FROZEN, label=styles[0][0])
        ax.barh(units + 0.2, lora_path, 0.4, color=TRAINED, label=styles[1][0])
        ax.plot(layer.z.ravel(), units, ls="none", marker="|", color=INK, markersize=5,
                label="sum + bias")
        ax.axvline(0, color=INK, lw=0.4)
        ax.invert_yaxis()
        if j < len(layers):
            ax.set_yticks(units[::4])
        else:
            ax.set_yticks(units, list(toy.LABELS))
        ax.set_xlabel("pre-activation")
        title = f"Layer {j}" if j < len(layers) else "Output logits"
        panel_title(ax, "abcd"[j], title)
    legend_above(fig, axes[1], ncols=3, narrow_ncols=3, fontsize=7)
    label = toy.LABELS[trace.label]
    p_after = numbers.add("TracePositiveAfter", 100 * trace.probs[1], ".0f")
    p_before = numbers.add("TracePositiveBefore", 100 * trace.probs_base[1], ".0f")
    note = (f"`{trace.text}' ({label}): p(positive) is {p_before} % without the adapter, "
            f"{p_after} % with it")
    fig.supxlabel(wrap(note, 70 if fig.get_figwidth() < 5.5 else 120), fontsize=7)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The real gradients of one step of the toy model on its sentiment training set: "
            "full fine-tuning sends gradient to every weight and bias, LoRA only to its "
            "adapters, and at the start, while $B = 0$, only to $B$.",
    width=1.0, aspect=0.42)
def backward_pass(fig, numbers):
    start = experiment("backward_comparison")
    later = toy.backward_comparison(pretrained=pretrained(), lora_steps=LATER_STEPS)
    ax_full, ax_lora = fig.subplots(1, 2, sharex=True)
    full = [(g, n, size) for g, n, size in zip(start.groups, start.norms, start.sizes)
            if g[0] in "Wb"]
    rows = np.arange(len(full))[::-1]
    ax_full.barh(rows, [n for _, n, _ in full], 0.6,
                 color=[FROZEN if g[0] == "b" else BLUE for g, _, _ in full])
    ax_full.set_yticks(rows, [f"${g[0]}_{g[1:]}$ ({size})" for g, _, size in full])
    ax_full.set_xlabel("gradient norm $\\|\\partial L/\\partial\\theta\\|_F$")
    panel_title(ax_full, "a", f"Full fine-tuning: {sum(s for *_, s in full)} parameters")

    def lora_groups(comparison):
        return [(g, n, size) for g, n, size in zip(comparison.groups, comparison.norms,
                                                   comparison.sizes) if g[0] in "AB"]
    first, after = lora_groups(start), lora_groups(later)
    rows = np.arange(len(first))[::-1]
    ax_lora.barh(rows + 0.18, [n for _, n, _ in first], 0.36, color=TRAINED,
                 label="first step ($B = 0$, so $\\partial L/\\partial A = 0$)")
    ax_lora.barh(rows - 0.18, [n for _, n, _ in after], 0.36, color=tint(TRAINED, 0.5),
                 hatch="////", edgecolor="white", label=f"after {LATER_STEPS} steps")
    ax_lora.set_yticks(rows, [f"${g[0]}_{g[1:]}$ ({size})" for g, _, size in first])
    ax_lora.set_xlabel("gradient norm")
    legend_above(fig, ax_lora, ncols=2, narrow_ncols=2, fontsize=7)
    panel_title(ax_lora, "b", f"LoRA: {sum(s for *_, s in first)} parameters")
    numbers.add("FullGradNorm", start.full_norm, ".2f")
    numbers.add("LoraGradNorm", start.lora_norm, ".2f")


LATER_STEPS = 10


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Fine-tuning the toy model on its sentiment sentences with LoRA: the loss falls, the "
            "predictions for held-out sentences change, and the learned update "
            "$\\Delta W = \\frac{\\alpha}{r}BA$ of the second layer has rank $r$.",
    width=1.0, height=3.0)
def knowledge_change(fig, numbers):
    kc = experiment("knowledge_change")
    ax_loss, ax_pred, ax_dw = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.3, 0.9]})
    steps = np.arange(len(kc.loss))
    ax_loss.plot(steps, kc.loss, color=TRAIN_COLOR, label="training")
    ax_loss.plot(np.arange(len(kc.test_loss)), kc.test_loss, color=TEST_COLOR, ls="--",
                 label="held-out")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("LoRA step")
    ax_loss.set_ylabel("cross-entropy")
    legend_above(fig, ax_loss, ncols=2, narrow_ncols=2, fontsize=7)
    panel_title(ax_loss, "a", "Loss")

    rows = np.arange(len(kc.example_texts))[::-1]
    ax_pred.barh(rows + 0.18, 100 * kc.probs_before[:, 1], 0.36, color=FROZEN, label="before")
    ax_pred.barh(rows - 0.18, 100 * kc.probs_after[:, 1], 0.36, color=TRAINED, label="after")
    ax_pred.axvline(50, color=INK, lw=0.5, ls=":")
    labels = [f"{wrap(text, 24)}\n({toy.LABELS[y]})" for text, y in
              zip(kc.example_texts, kc.example_labels)]
    ax_pred.set_yticks(rows, labels, fontsize=7)
    ax_pred.set_xlim(0, 100)
    ax_pred.set_xlabel("p(positive) (%)")
    ax_pred.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=2, fontsize=7)
    panel_title(ax_pred, "b", "Held-out sentences")

    layer = 1
    delta = kc.delta_w[layer]
    image = ax_dw.imshow(delta, cmap=DIVERGING_CMAP, norm=signed_norm(delta), aspect="auto")
    ax_dw.set_xlabel("input unit")
    ax_dw.set_ylabel("output unit")
    bar = fig.colorbar(image, ax=ax_dw, pad=0.03)
    bar.set_label("$\\Delta W_{ij}$")
    rank = numbers.add("DeltaRank", np.linalg.matrix_rank(delta), "d")
    panel_title(ax_dw, "c", f"$\\Delta W_2$, rank {rank}")
    numbers.add("KnowledgeTestBefore", 100 * kc.test_accuracy_before, ".0f")
    numbers.add("KnowledgeTestAfter", 100 * kc.test_accuracy_after, ".0f")
    numbers.add("KnowledgeTrainAfter", 100 * kc.train_accuracy_after, ".0f")


TRAIN_COLOR, TEST_COLOR = series(2)[0]["color"], series(2)[1]["color"]


def wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Trainable parameters and training memory of full fine-tuning, LoRA and QLoRA, for "
            "the toy model and for LLaMA-7B, by the byte accounting of the fine-tuning figures "
            "(model states, activations not included).",
    width=1.0, height=3.4)
def memory_dashboard(fig, numbers):
    methods = memory.METHODS
    colors = (RED, BLUE, GREEN)
    hatches = ("", "////", "....")
    model = toy.toy_model()
    config = toy.LoRAConfig()
    n_base = model.base_params
    n_lora = toy.trainable_parameters(config)
    # The toy model is a parameter count, not a transformer shape: the same per-parameter
    # recipes as numerics.memory, applied to its counts.
    toy_bytes = [memory.full_finetune_memory(n_base).total,
                 n_base * memory.FP16_BYTES + n_lora * memory.MIXED_PRECISION_ADAM.bytes_per_param,
                 n_base * memory.nf4_bytes_per_param(True)
                 + n_lora * memory.QLORA_ADAPTER_RECIPE.bytes_per_param]
    table = memory.compare_methods((MODEL,), SCALE_RANK, memory.ALL_LINEAR)[MODEL.name]
    big_params = [memory.parameter_count(MODEL),
                  memory.lora_parameters(MODEL, SCALE_RANK, memory.ALL_LINEAR),
                  memory.lora_parameters(MODEL, SCALE_RANK, memory.ALL_LINEAR)]
    big_bytes = [b.total for b in table.values()]
    panels = [
        (f"Toy model ($r$ = {config.rank}): trainable", [n_base, n_lora, n_lora], fmt_count),
        ("Toy model: training memory", toy_bytes, fmt_bytes),
        (f"{MODEL.name} ($r$ = {SCALE_RANK}): trainable", big_params, fmt_count),
        (f"{MODEL.name}: training memory", big_bytes, fmt_bytes),
    ]
    axes = fig.subplots(2, 2).ravel()
    for ax, letter, (title, values, fmt) in zip(axes, "abcd", panels):
        x = np.arange(len(methods))
        for i, (value, color, hatch) in enumerate(zip(values, colors, hatches)):
            ax.bar(i, value, 0.65, color=color, hatch=hatch, edgecolor="white", lw=0.3,
                   label=methods[i])
            ax.text(i, value * 1.25, fmt(value), ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.set_ylim(min(values) / 4, max(values) * 30)
        ax.set_xticks(x, ["full", "LoRA", "QLoRA"])
        ax.yaxis.set_major_locator(LogLocator(numticks=4))
        panel_title(ax, letter, title)
    numbers.add("ToyFullBytes", toy_bytes[0], ",.0f")
    numbers.add("ToyLoraBytes", toy_bytes[1], ",.0f")
    numbers.add("ToyLoraParams", n_lora, ",d")


def fmt_count(n) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:,.0f}"


def fmt_bytes(n) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:,.0f} B"


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Singular values of a real full-fine-tuning update $\\Delta W$ of the toy model's "
            "second layer against random Gaussian matrices of the same size and norm: the real "
            "update concentrates its energy in fewer directions, which is why a low rank can "
            "capture it.",
    width=1.0, aspect=0.38)
def delta_w_spectrum(fig, numbers):
    spec = experiment("delta_w_spectrum")
    top1 = numbers.add("TopOneEnergy", 100 * spec.energy_at(1), ".0f")
    ax_sv, ax_energy = fig.subplots(1, 2)
    k = np.arange(1, len(spec.singular_values) + 1)
    low, high = np.percentile(spec.random_singular_values, [5, 95], axis=0)
    ax_sv.fill_between(k, low, high, color=tint(GREY, 0.4), lw=0,
                       label="random: 5-95 % of draws")
    ax_sv.plot(k, np.median(spec.random_singular_values, axis=0), color=INK, ls="--",
               label="random: median")
    ax_sv.plot(k, spec.singular_values, color=RED, marker="o", markersize=3,
               label="real update")
    ax_sv.set_xlabel("index $i$")
    ax_sv.set_ylabel("singular value $\\sigma_i$")
    legend_above(fig, ax_sv, ncols=3, narrow_ncols=2, fontsize=7)
    panel_title(ax_sv, "a", f"Singular values (top: {top1} %)")

    ax_energy.plot(np.concatenate([[0], k]), 100 * np.concatenate([[0], spec.energy]),
                   color=RED, marker="o", markersize=3)
    ax_energy.plot(np.concatenate([[0], k]),
                   100 * np.concatenate([[0], spec.random_energy]),
                   color=INK, ls="--")
    ax_energy.axhline(90, color=INK, lw=0.5, ls=":")
    r90 = numbers.add("RankNinetyReal", spec.rank_90, "d")
    r90_random = numbers.add("RankNinetyRandom", float(np.median(spec.random_rank_90)), ".0f")
    numbers.add("EffectiveRankReal", spec.effective_rank, ".1f")
    numbers.add("EffectiveRankRandom", float(np.median(spec.random_effective_rank)), ".1f")

    ax_energy.set_xlabel("rank $r$ kept")
    ax_energy.set_ylabel("share of $\\|\\Delta W\\|_F^2$ (%)")
    ax_energy.set_ylim(0, 105)
    panel_title(ax_energy, "b", f"90 % at rank {r90} (random: {r90_random})")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
