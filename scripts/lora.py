"""LoRA figures: how low-rank adaptation works, from real layer shapes and a real toy model.

Run `python scripts/lora.py --help`. Shapes and byte accounting come from numerics.memory and
numerics.activations, the LoRA paper's tables from published.lora, the variants' parameter
counts and the operation counts from numerics.lora.costs, and the toy model (an 8-16-16-2 MLP
with LoRA and hand-written backprop, models.lora_mlp) and its experiments from numerics.lora.
Each figure is a result function (`<name>_result`, computes) and a drawing function (`<name>`,
draws), in figure order.
Source: Hu et al. 2021, LoRA: Low-Rank Adaptation of Large Language Models, arXiv 2106.09685.
"""
from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import LogLocator

from figkit import Registry, diagram
from figkit.annotate import legend_above, panel_title
from figkit.charts import grouped_bars, straight_series
from figkit.numbers import Numbers, spell
from figkit.palette import (
    BLUE,
    CYAN,
    DIVERGING_CMAP,
    GREEN,
    GREY,
    INK,
    LIGHT,
    MUTED,
    PURPLE,
    RED,
    YELLOW,
    series,
    tint,
)
from figkit.style import SMALL
from models import lora_mlp
from numerics import memory
from numerics.activations import activation_bytes
from numerics.lora import costs, experiments
from numerics.lora.data import GROUPS, LABELS
from published import lora as published
from recorders import lora as toy_runs

FIGURES = Registry("lora")

MODEL = memory.LLAMA_7B
RANK = 8
#: The layer drawn in the architecture figures: LLaMA-7B's query projection.
LAYER = next(layer for layer in memory.linear_layers(MODEL) if layer.name == "q")
FROZEN, TRAINED, MERGED = GREY, GREEN, BLUE
TRAIN_COLOR, TEST_COLOR = series(2)[0]["color"], series(2)[1]["color"]




def signed_norm(*arrays):
    """A colour norm centred on zero spanning the largest magnitude in `arrays`."""
    reach = max(float(np.abs(a).max()) for a in arrays) or 1.0
    return TwoSlopeNorm(0.0, -reach, reach)


def wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoraBlock:
    """LLaMA-7B's query projection with a rank-`rank` adapter: the sizes the block diagram
    labels."""
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
    return LoraBlock(d=d, k=k, rank=r, numbers=numbers)


@FIGURES.figure(
    caption=f"The LoRA block for {MODEL.name}'s query projection: the frozen weight $W$ beside "
            "the trainable down-projection $A$ and up-projection $B$, whose product, scaled by "
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
    ax.text(2.5, 3.6, f"frozen\n{n_w} weights", ha="center", va="center", fontsize=SMALL)
    # A: k -> r (narrowing), B: r -> d (widening)
    ax.add_patch(Polygon([(5.8, 2.6), (9.4, 2.6), (8.2, 3.8), (7.0, 3.8)], closed=True,
                         facecolor=tint(TRAINED, 0.6), edgecolor=INK, lw=0.8))
    ax.add_patch(Polygon([(7.0, 4.2), (8.2, 4.2), (9.4, 5.4), (5.8, 5.4)], closed=True,
                         facecolor=tint(TRAINED, 0.6), edgecolor=INK, lw=0.8))
    ax.text(7.6, 3.12, f"$A$: $r \\times k$, {n_a}", ha="center", va="center", fontsize=SMALL)
    ax.text(7.6, 4.88, f"$B$: $d \\times r$, {n_b}", ha="center", va="center", fontsize=SMALL)
    ax.text(9.7, 3.2, "random\nGaussian", ha="left", va="center", fontsize=SMALL, color=MUTED)
    ax.text(9.7, 4.8, "zero at\nthe start", ha="left", va="center", fontsize=SMALL, color=MUTED)
    ax.text(7.6, 4.0, f"$r$ = {r}", ha="center", va="center", fontsize=SMALL)
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
    ax.text(6.9, 5.95, "$\\times\\,\\alpha / r$", ha="left", va="center", fontsize=SMALL)
    ax.text(11.8, 1.0, f"adapters: $r(d + k)$ = {block.numbers['AdapterParams']} trainable\n"
            f"weights, {share} % of the layer's {n_w}", ha="right", va="center", fontsize=SMALL)


# --------------------------------------------------------------------------------------------
SCALE_RANK = 64  # QLoRA's rank: the largest in common use, so the thin matrices stay visible
#: The ranks the LLaMA-7B panels sweep.
RANK_AXIS = np.array([1, 2, 4, 8, 16, 32, 64, 128])
#: Macro names of the annotated ranks (LaTeX macro names take letters only).
RANK_WORDS = {RANK: "Eight", SCALE_RANK: "SixtyFour"}


@dataclass(frozen=True)
class LowRankFactors:
    """The update of LLaMA-7B's query projection against its factors, in entries per rank."""
    d: int
    k: int
    scale_rank: int                 # the rank drawn to scale
    update_entries: int             # d k
    factor_entries: int             # r (d + k) at scale_rank
    ranks: np.ndarray
    factors: np.ndarray             # r (d + k) for each of `ranks`
    annotated_ranks: tuple[int, ...]
    annotated_entries: tuple[int, ...]
    savings: tuple[str, ...]        # d k / (r (d + k)) as the figure prints it
    numbers: Numbers


def matrix_decomposition_result() -> LowRankFactors:
    d, k = LAYER.d_out, LAYER.d_in
    numbers = Numbers()
    annotated = (RANK, SCALE_RANK)
    savings = tuple(numbers.add(f"SavingRank{RANK_WORDS[rank]}", d * k / (rank * (d + k)),
                                ",.0f") for rank in annotated)
    return LowRankFactors(d=d, k=k, scale_rank=SCALE_RANK, update_entries=d * k,
                          factor_entries=SCALE_RANK * (d + k), ranks=RANK_AXIS,
                          factors=RANK_AXIS * (d + k), annotated_ranks=annotated,
                          annotated_entries=tuple(rank * (d + k) for rank in annotated),
                          savings=savings, numbers=numbers)


@FIGURES.figure(
    caption=f"The update $\\Delta W = BA$ drawn to scale for {MODEL.name}'s query projection at "
            f"$r = {SCALE_RANK}$: the update has $d \\times k$ entries, its factors only "
            "$r(d + k)$; the saving for each rank is on the right.",
    result=matrix_decomposition_result, width=1.0, aspect=0.4)
def matrix_decomposition(fig, factors: LowRankFactors):
    d, k, r = factors.d, factors.k, factors.scale_rank
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    side = 4.0
    thin_w, thin_h = side * r / k, side * r / d
    ax_a.add_patch(Rectangle((0, 0), side, side, facecolor=tint(MERGED, 0.75), edgecolor=INK,
                             lw=0.8))
    ax_a.add_patch(Rectangle((side + 0.9, 0), thin_w, side, facecolor=TRAINED, edgecolor=INK,
                             lw=0.5))
    ax_a.add_patch(Rectangle((side + 1.9, side - thin_h), side, thin_h, facecolor=TRAINED,
                             edgecolor=INK, lw=0.5))
    ax_a.text(side / 2, side / 2,
              f"$\\Delta W$\n{d:,} $\\times$ {k:,}\n{factors.update_entries:,} entries",
              ha="center", va="center", fontsize=SMALL)
    ax_a.text(side + 0.45, side / 2, "=", ha="center", va="center")
    ax_a.text(side + 1.45, side / 2, "$\\times$", ha="center", va="center")
    ax_a.text(side + 0.9 + thin_w / 2, -0.15, f"$B$\n{d:,} $\\times$ {r}", ha="center",
              va="top", fontsize=SMALL)
    ax_a.text(side * 1.5 + 1.9, side - thin_h - 0.15, f"$A$: {r} $\\times$ {k:,}", ha="center",
              va="top", fontsize=SMALL)
    ax_a.text(side * 1.5 + 1.9, side / 2 - 0.6, f"together {factors.factor_entries:,} entries",
              ha="center", va="center", fontsize=SMALL)
    ax_a.set_xlim(-0.1, 2 * side + 2.0)
    ax_a.set_ylim(-1.1, side + 0.1)
    ax_a.set_aspect("equal")
    ax_a.set_axis_off()
    panel_title(ax_a, "a", f"To scale, $r$ = {r}")

    ranks = factors.ranks
    ax_b.plot(ranks, factors.factors, color=TRAINED, marker="o", label="$r(d + k)$: $B$ and $A$")
    ax_b.axhline(factors.update_entries, color=MERGED, lw=1.0, ls="--",
                 label="$dk$: $\\Delta W$ itself")
    ax_b.set_xscale("log", base=2)
    ax_b.set_yscale("log")
    ax_b.set_xticks(ranks, [str(v) for v in ranks])
    ax_b.set_xlabel("rank $r$")
    ax_b.set_ylabel("entries")
    ax_b.set_ylim(factors.factors[0] / 3, factors.update_entries * 60)
    for rank, entries, saving in zip(factors.annotated_ranks, factors.annotated_entries,
                                     factors.savings, strict=True):
        ax_b.annotate(f"$r$ = {rank}: {saving}$\\times$ fewer", xy=(rank, entries),
                      xytext=(-6, 8), textcoords="offset points", fontsize=SMALL, va="bottom",
                      ha="right")
    ax_b.legend(loc="upper left", fontsize=SMALL)
    panel_title(ax_b, "b", "Entries against rank")


# --------------------------------------------------------------------------------------------
ACT_BATCH, ACT_SEQ = 1, 2048  # one full-context sequence, gradient checkpointing
#: Stacking order of the components: name -> fields of memory.MemoryBreakdown summed into it.
MEMORY_COMPONENTS = {
    "weights": ("weights",),
    "gradients": ("gradients",),
    "optimizer_states": ("optimizer_states",),
    "adapters": ("adapter_weights", "adapter_gradients", "adapter_optimizer_states"),
}


@dataclass(frozen=True)
class TrainingMemory:
    """LLaMA-7B's training memory per setup, by component, in GB (stacked in dict order)."""
    setups: tuple[str, ...]
    components: dict[str, np.ndarray]   # component -> GB per setup, activations last
    totals: np.ndarray                  # GB per setup
    numbers: Numbers


def training_memory_breakdown_result() -> TrainingMemory:
    gb = memory.GB
    activations = activation_bytes(MODEL, ACT_BATCH, ACT_SEQ, checkpointing=True)
    setups = {"full fine-tuning": memory.full_finetune_memory(MODEL),
              f"LoRA $r$ = {RANK}, $W_q, W_v$": memory.lora_memory(MODEL, RANK, ("q", "v")),
              f"LoRA $r$ = {SCALE_RANK}, all linear":
                  memory.lora_memory(MODEL, SCALE_RANK, memory.ALL_LINEAR)}
    breakdowns = list(setups.values())
    components = {name: np.array([sum(getattr(b, key) for key in keys) for b in breakdowns]) / gb
                  for name, keys in MEMORY_COMPONENTS.items()}
    components["activations"] = np.full(len(breakdowns), activations / gb)
    totals = np.zeros(len(breakdowns))
    for widths in components.values():
        totals += widths
    numbers = Numbers()
    numbers.add("FullTotalGB", totals[0], ".0f")
    numbers.add("LoraTotalGB", totals[1], ".1f")
    numbers.add("LoraAllTotalGB", totals[2], ".1f")
    numbers.add("ActivationGB", activations / gb, ".1f")
    return TrainingMemory(setups=tuple(setups), components=components,
                          totals=totals, numbers=numbers)


@FIGURES.figure(
    caption=f"Training memory of {MODEL.name} by component: full fine-tuning with "
            f"mixed-precision Adam ({memory.MIXED_PRECISION_ADAM.bytes_per_param:g} bytes per "
            "parameter) against LoRA on a frozen 16-bit base, with the activations of one "
            f"{ACT_SEQ:,}-token sequence under gradient checkpointing (Korthikanti et al. "
            "2022), which LoRA needs as much as full fine-tuning.",
    result=training_memory_breakdown_result, width=1.0, aspect=0.34)
def training_memory_breakdown(fig, breakdown: TrainingMemory):
    styles = {"weights": ("weights (16-bit)", BLUE), "gradients": ("gradients", RED),
              "optimizer_states": ("optimizer states", YELLOW),
              "adapters": ("adapters: weights, gradients, Adam", GREEN),
              "activations": ("activations", CYAN)}
    ax = fig.subplots()
    rows = np.arange(len(breakdown.setups))[::-1]
    lefts = np.zeros(len(breakdown.setups))
    for name, widths in breakdown.components.items():
        label, color = styles[name]
        ax.barh(rows, widths, 0.6, left=lefts, color=color, label=label, edgecolor="white",
                linewidth=0.3)
        lefts += widths
    for row, total in zip(rows, breakdown.totals, strict=True):
        ax.text(total + breakdown.totals.max() * 0.01, row, f"{total:.1f} GB", va="center",
                fontsize=SMALL)
    ax.set_yticks(rows, list(breakdown.setups))
    ax.set_xlim(0, breakdown.totals.max() * 1.12)
    ax.set_xlabel(f"GB ({MODEL.name})")
    legend_above(fig, ax, ncols=3, narrow_ncols=2, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
#: The choices of adapted matrices compared on LLaMA-7B: (targets, label).
MODULE_CHOICES = ((("q",), "$W_q$"), (("v",), "$W_v$"), (("q", "v"), "$W_q, W_v$"),
                  (("q", "k", "v", "o"), "attention (4)"), (("gate", "up", "down"), "MLP (3)"),
                  (memory.ALL_LINEAR, "all linear (7)"))


@dataclass(frozen=True)
class ModuleSelection:
    """Trainable parameters of each choice of adapted matrices on LLaMA-7B, and LoRA Table 5."""
    choices: tuple[str, ...]
    trainable_millions: np.ndarray      # per choice, at rank RANK
    table: tuple[published.ModuleSelectionRow, ...]
    wikisql_std: float                  # seed spread, percentage points
    multinli_std: float
    numbers: Numbers


def module_selection_result() -> ModuleSelection:
    counts = [memory.lora_parameters(MODEL, RANK, targets) for targets, _ in MODULE_CHOICES]
    table = published.MODULE_SELECTION
    best = max(table, key=lambda row: row.wikisql + row.multinli)
    numbers = Numbers()
    numbers.add("QvParamsSevenB", counts[2], ",d")
    numbers.add("AllLinearParamsSevenB", counts[-1], ",d")
    numbers.add("BestWikiSql", best.wikisql, ".1f")
    numbers.add("BestMultiNli", best.multinli, ".1f")
    numbers.add("BudgetParams", costs.module_selection_parameters()[table[0].label], ",d")
    return ModuleSelection(choices=tuple(label for _, label in MODULE_CHOICES),
                           trainable_millions=np.array(counts) / 1e6, table=table,
                           wikisql_std=published.WIKISQL_SEED_STD_PCT,
                           multinli_std=published.MULTINLI_SEED_STD_PCT, numbers=numbers)


@FIGURES.figure(
    caption="Which weight matrices to adapt: the trainable parameters of each choice at rank "
            f"{RANK} for {MODEL.name}, and the LoRA paper's results for GPT-3 when every choice "
            f"gets the same {published.MODULE_SELECTION_BUDGET / 1e6:.0f}M-parameter budget "
            f"(Table 5; seed spread $\\pm${published.WIKISQL_SEED_STD_PCT:g} and "
            f"$\\pm${published.MULTINLI_SEED_STD_PCT:g} points).",
    result=module_selection_result, width=1.0, aspect=0.42)
def module_selection(fig, selection: ModuleSelection):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    millions = selection.trainable_millions
    rows = np.arange(len(selection.choices))[::-1]
    ax_a.barh(rows, millions, 0.6, color=TRAINED)
    for row, value in zip(rows, millions, strict=True):
        ax_a.text(value * 1.02, row, f"{value:.1f}M", va="center", fontsize=SMALL)
    ax_a.set_yticks(rows, list(selection.choices))
    ax_a.set_xlim(0, max(millions) * 1.3)
    ax_a.set_xlabel(f"trainable parameters (millions), $r$ = {RANK}")
    panel_title(ax_a, "a", f"Cost per choice, {MODEL.name}")

    table = selection.table
    names = [row.label.replace("W", "W_").replace("W_q, W_k, W_v, W_o", "all four")
             for row in table]
    names = [f"${n}$" if n != "all four" else n for n in names]
    names = [f"{n} ($r$={row.rank})" for n, row in zip(names, table, strict=True)]
    scores = {"WikiSQL": [row.wikisql for row in table],
              "MultiNLI": [row.multinli for row in table]}
    y = np.arange(len(table))[::-1]
    for (task, values), color, marker, std in zip(
            scores.items(), (BLUE, RED), ("o", "s"),
            (selection.wikisql_std, selection.multinli_std), strict=True):
        ax_b.errorbar(values, y, xerr=std, ls="none", marker=marker, color=color, capsize=2,
                      label=task, markersize=3.5)
    ax_b.set_yticks(y, names)
    ax_b.set_xlabel("validation accuracy (%)")
    ax_b.set_xlim(68, 94)
    ax_b.legend(loc="center", fontsize=SMALL)
    panel_title(ax_b, "b", "GPT-3, same budget (Table 5)")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VariantTable:
    """The LoRA variants with their trainable parameters on one real layer at one rank."""
    rank: int
    variants: tuple[published.LoraVariant, ...]
    trainable: tuple[int, ...]          # per variant, on costs.EXAMPLE_LAYER
    numbers: Numbers


def lora_variants_result() -> VariantTable:
    layer, rank = costs.EXAMPLE_LAYER, costs.EXAMPLE_RANK
    numbers = Numbers()
    trainable = []
    for variant in published.VARIANTS:
        count = costs.layer_parameters(variant, layer, rank)
        key = "".join(ch for ch in variant.name if ch.isalpha())
        numbers.add(f"Params{key}{'Plus' if '+' in variant.name else ''}", count, ",d")
        trainable.append(count)
    return VariantTable(rank=rank, variants=published.VARIANTS, trainable=tuple(trainable),
                        numbers=numbers)


@FIGURES.figure(
    caption="Six LoRA variants side by side: the key idea of each, its trainable parameters for "
            f"one real layer ({MODEL.name}'s $W_q$, {costs.EXAMPLE_LAYER.d_out} $\\times$ "
            f"{costs.EXAMPLE_LAYER.d_in}, at rank {costs.EXAMPLE_RANK}) from its paper's "
            "formula, and the paper.",
    result=lora_variants_result, width=1.0, height=3.0)
def lora_variants(fig, table: VariantTable):
    ax = diagram.canvas(fig, (0, 1), (0, 1))
    variants = table.variants
    columns = (0.0, 0.25, 0.77, 1.0)
    header_h, row_h = 0.1, 0.9 / len(variants)
    for x, text, ha in zip(columns, ("method", "key idea", "formula",
                                     f"trainable at $r$ = {table.rank}"),
                           ("left", "left", "center", "right"), strict=True):
        ax.text(x, 1 - header_h / 2, text, ha=ha, va="center", fontsize=SMALL, color=MUTED)
    ax.axhline(1 - header_h, color=INK, lw=0.6)
    for i, (variant, count) in enumerate(zip(variants, table.trainable, strict=True)):
        top = 1 - header_h - i * row_h
        middle = top - row_h / 2
        if i % 2 == 0:
            ax.axhspan(top - row_h, top, color=LIGHT, lw=0, zorder=0)
        ax.text(columns[0], middle, f"{variant.name}\n{variant.citation}\narXiv {variant.arxiv}",
                ha="left", va="center", fontsize=SMALL, linespacing=1.15)
        ax.text(columns[1], middle, wrap(variant.key_idea, 32), ha="left", va="center",
                fontsize=SMALL)
        ax.text(columns[2], middle, f"${variant.formula}$", ha="center", va="center",
                fontsize=SMALL)
        ax.text(columns[3], middle, f"{count:,}", ha="right", va="center", fontsize=SMALL)
    ax.axhline(1 - header_h - len(variants) * row_h, color=INK, lw=0.6)


# --------------------------------------------------------------------------------------------
LATENCY_RANK, BOTTLENECK, POSITIONS = 8, 64, 128
#: The methods whose extra operations are counted: (method, label, rank or bottleneck).
COUNTED_METHODS = (("lora_merged", "LoRA, merged", LATENCY_RANK),
                   ("lora_unmerged", "LoRA, unmerged", LATENCY_RANK),
                   ("adapter_lin", "adapter, one per block", BOTTLENECK),
                   ("adapter_houlsby", "adapter, two per block", BOTTLENECK))


@dataclass(frozen=True)
class InferenceCost:
    """Extra operations per token on LLaMA-7B (counted) and LoRA Table 1's latencies."""
    methods: tuple[str, ...]            # labels of the counted methods
    is_lora: tuple[bool, ...]
    extra_pct: tuple[float, ...]        # extra operations per token, % of the base model's
    serial_layers: tuple[int, ...]      # layers the method adds in sequence
    settings: tuple[str, ...]           # Table 1's columns
    one_adapter_increase: tuple[float, ...]   # latency increase (%), AdapterL
    two_adapter_increase: tuple[float, ...]   # latency increase (%), AdapterH
    numbers: Numbers


def inference_speed_comparison_result() -> InferenceCost:
    targets = {m: ("q", "v") if m.startswith("lora") else None for m, _, _ in COUNTED_METHODS}
    percents = tuple(costs.extra_compute_pct(MODEL, m, size, POSITIONS, targets[m])
                     for m, _, size in COUNTED_METHODS)
    serial = tuple(costs.extra_compute_per_token(MODEL, m, size, targets[m]).serial_layers
                   for m, _, size in COUNTED_METHODS)
    increase = {row.method: costs.latency_increase_pct(row)
                for row in published.INFERENCE_LATENCY[1:]}
    numbers = Numbers()
    numbers.add("UnmergedExtraPct", percents[1], ".3f")
    numbers.add("HoulsbyExtraPct", percents[3], ".2f")
    numbers.add("LatencyWorstPct", max(increase["AdapterH"]), ".1f")
    return InferenceCost(
        methods=tuple(label for _, label, _ in COUNTED_METHODS),
        is_lora=tuple(m.startswith("lora") for m, _, _ in COUNTED_METHODS),
        extra_pct=percents, serial_layers=serial,
        settings=tuple(f"batch {s.batch_size}, length {s.sequence_length}"
                       for s in published.LATENCY_SETTINGS),
        one_adapter_increase=increase["AdapterL"], two_adapter_increase=increase["AdapterH"],
        numbers=numbers)


@FIGURES.figure(
    caption=f"Extra inference cost of adapters: extra operations per token for {MODEL.name} from "
            f"operation counts (LoRA $r$ = {LATENCY_RANK} on $W_q, W_v$; adapter bottleneck "
            f"{BOTTLENECK}), and the latency increase the LoRA paper measured for "
            f"{published.LATENCY_MODEL.name} (Table 1); a merged LoRA adds nothing.",
    result=inference_speed_comparison_result, width=1.0, height=3.6)
def inference_speed_comparison(fig, cost: InferenceCost):
    ax_a, ax_b = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.25]})
    rows = np.arange(len(cost.methods))[::-1]
    percents = cost.extra_pct
    ax_a.barh(rows, percents, 0.6, color=[TRAINED if lora else RED for lora in cost.is_lora])
    for row, pct, extra_layers in zip(rows, percents, cost.serial_layers, strict=True):
        label = f"{pct:.3f} %" + (f", {extra_layers} more layers in sequence"
                                  if extra_layers else "")
        ax_a.text(pct + max(percents) * 0.02, row, label, va="center", fontsize=SMALL)
    ax_a.set_yticks(rows, list(cost.methods))
    ax_a.set_xlim(0, max(percents) * 2.6)
    ax_a.set_xlabel(f"extra operations per token (%), {MODEL.name}, {POSITIONS} positions")
    panel_title(ax_a, "a", "Counted")

    values = {"one adapter per block (AdapterL)": cost.one_adapter_increase,
              "two adapters per block (AdapterH)": cost.two_adapter_increase}
    containers = grouped_bars(ax_b, list(cost.settings), values, (tint(RED, 0.45), RED),
                              ("////", ""), width=0.75, horizontal=True)
    for container, increases in zip(containers, values.values(), strict=True):
        for bar, v in zip(container, increases, strict=True):
            ax_b.text(v + 0.4, bar.get_y() + bar.get_height() / 2, f"{v:.1f} %",
                      va="center", fontsize=SMALL)
    ax_b.invert_yaxis()
    ax_b.set_xlim(0, max(cost.two_adapter_increase) * 1.25)
    ax_b.set_xlabel("latency increase over the fine-tuned (or merged LoRA) model (%)")
    ax_b.legend(loc="upper right", fontsize=SMALL)
    panel_title(ax_b, "b", f"Measured, {published.LATENCY_MODEL.name} (LoRA Table 1)")


# --------------------------------------------------------------------------------------------
#: The target sets of the parameter-share panel: (targets, label).
SHARE_TARGETS = ((("q", "v"), "$W_q, W_v$"), (memory.ALL_LINEAR, "all linear layers"))


@dataclass(frozen=True)
class RankComparison:
    """Trainable share of LLaMA-7B against rank, and the toy model's accuracy against rank."""
    ranks: np.ndarray
    share_pct: dict[str, np.ndarray]    # target set -> trainable, % of the model, per rank
    model_billions: float               # LLaMA-7B's parameters, billions
    toy_ranks: np.ndarray
    toy_trainable: np.ndarray           # trainable parameters per toy rank
    seed_accuracy_pct: np.ndarray       # (rank, seed), held-out accuracy in %
    mean_accuracy_pct: np.ndarray       # per rank, mean over seeds
    full_accuracy_pct: float
    full_params: int
    base_accuracy_pct: float
    numbers: Numbers


def rank_comparison_result() -> RankComparison:
    total = memory.parameter_count(MODEL)
    share = {label: 100 * np.array([memory.lora_parameters(MODEL, r, targets)
                                    for r in RANK_AXIS]) / total
             for targets, label in SHARE_TARGETS}
    numbers = Numbers()
    numbers.add("QvShareRankEight",
                100 * memory.lora_parameters(MODEL, RANK, ("q", "v")) / total, ".3f")
    sweep = toy_runs.load("rank_sweep")
    mean_pct = 100 * sweep.mean_test_accuracy
    numbers.add("ToyFullAccuracy", 100 * sweep.full_test_accuracy, ".0f")
    for rank, accuracy in zip(sweep.ranks, mean_pct, strict=True):
        numbers.add(f"ToyAccuracyRank{spell(int(rank))}", accuracy, ".0f")
    return RankComparison(
        ranks=RANK_AXIS, share_pct=share, model_billions=total / 1e9,
        toy_ranks=np.array(sweep.ranks), toy_trainable=sweep.trainable_params,
        seed_accuracy_pct=100 * sweep.test_accuracy, mean_accuracy_pct=mean_pct,
        full_accuracy_pct=100 * sweep.full_test_accuracy, full_params=sweep.full_params,
        base_accuracy_pct=100 * sweep.base_test_accuracy, numbers=numbers)


@FIGURES.figure(
    caption=f"Trainable parameters against rank for {MODEL.name}'s real layer shapes, and the "
            "test accuracy the toy model reaches with LoRA at each rank on its sentiment task "
            "(three seeds), beside full fine-tuning.",
    result=rank_comparison_result, width=1.0, aspect=0.38)
def rank_comparison(fig, comparison: RankComparison):
    ax_a, ax_b = fig.subplots(1, 2)
    ranks = comparison.ranks
    handles = [straight_series(ax_a, ranks, share, label, style["color"], style["linestyle"],
                               style["marker"], xlog=True, ylog=True)  # share is r times a constant
               for (label, share), style in zip(comparison.share_pct.items(), series(2),
                                                strict=True)]
    ax_a.set_xscale("log", base=2)
    ax_a.set_yscale("log")
    ax_a.set_xticks(ranks, [str(r) for r in ranks])
    ax_a.set_xlabel("rank $r$")
    ax_a.set_ylabel(f"trainable, % of {comparison.model_billions:.1f}B")
    ax_a.legend(handles=handles, loc="upper left", fontsize=SMALL)
    ax_a.text(0.97, 0.05, f"$r$ = {RANK} on $W_q, W_v$: "
              f"{comparison.numbers['QvShareRankEight']} %", transform=ax_a.transAxes,
              ha="right", va="bottom", fontsize=SMALL)
    panel_title(ax_a, "a", MODEL.name)

    r = comparison.toy_ranks
    for seed_values in comparison.seed_accuracy_pct.T:
        ax_b.plot(r, seed_values, ls="none", marker="o", markersize=2.5, color=GREY)
    ax_b.plot(r, comparison.mean_accuracy_pct, color=TRAINED, marker="o",
              label="LoRA, mean of seeds")
    ax_b.axhline(comparison.full_accuracy_pct, color=PURPLE, ls="--", lw=1.0,
                 label=f"full fine-tuning ({comparison.full_params} parameters)")
    ax_b.axhline(comparison.base_accuracy_pct, color=INK, ls=":", lw=1.0,
                 label="base model, no fine-tuning")
    ax_b.set_xscale("log", base=2)
    ax_b.set_xticks(r, [f"{v}\n({n})" for v, n in zip(r, comparison.toy_trainable,
                                                       strict=True)])
    ax_b.set_xlabel("rank $r$ (trainable parameters)")
    ax_b.set_ylabel("test accuracy (%)")
    ax_b.set_ylim(0, 115)
    ax_b.legend(loc="lower right", fontsize=SMALL)
    panel_title(ax_b, "b", "Toy model, sentiment")


# --------------------------------------------------------------------------------------------
EARLY_STEP = 50  # the step at which panel b compares the training loss


@dataclass(frozen=True)
class ScalingImpact:
    """The toy model under alpha fixed and alpha = r: first update and early loss per rank.
    First axis of the arrays: scheme (0: alpha fixed, 1: alpha = r)."""
    ranks: np.ndarray
    alpha_fixed: float
    first_step_norm: np.ndarray         # (scheme, rank): ||Delta W||_F after one step
    early_loss: np.ndarray              # (scheme, rank): training loss after EARLY_STEP steps
    early_step: int
    numbers: Numbers


def scaling_factor_impact_result() -> ScalingImpact:
    experiment = toy_runs.load("scaling_experiment")
    first = experiment.first_step_norm
    numbers = Numbers()
    for scheme, key in enumerate(("Fixed", "Rank")):
        numbers.add(f"FirstStepSpread{key}", first[scheme].max() / first[scheme].min(), ".1f")
    numbers.add("EarlyStep", EARLY_STEP, "d")
    return ScalingImpact(ranks=np.array(experiment.ranks),
                         alpha_fixed=experiment.alpha_fixed,
                         first_step_norm=first,
                         early_loss=experiment.loss[:, :, :, EARLY_STEP].mean(axis=-1),
                         early_step=EARLY_STEP, numbers=numbers)


@FIGURES.figure(
    caption="The effect of the scaling $\\alpha/r$, measured on the toy model: with $\\alpha$ "
            "fixed, the size of the first update and the training loss after "
            f"{EARLY_STEP} steps vary less with the rank than with $\\alpha = r$, where larger "
            "ranks take larger steps.",
    result=scaling_factor_impact_result, width=1.0, aspect=0.38)
def scaling_factor_impact(fig, impact: ScalingImpact):
    ranks = impact.ranks
    ax_a, ax_b = fig.subplots(1, 2)
    labels = (f"$\\alpha$ = {impact.alpha_fixed:g} fixed", "$\\alpha = r$")
    for scheme, (label, style) in enumerate(zip(labels, series(2), strict=True)):
        ax_a.plot(ranks, impact.first_step_norm[scheme], color=style["color"],
                  ls=style["linestyle"], marker=style["marker"], label=label)
        ax_b.plot(ranks, impact.early_loss[scheme], color=style["color"], ls=style["linestyle"],
                  marker=style["marker"], label=label)
    for ax in (ax_a, ax_b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [str(r) for r in ranks])
        ax.set_xlabel("rank $r$")
    ax_a.set_yscale("log")
    ax_a.set_ylabel("$\\|\\Delta W\\|_F$ after one step")
    ax_b.set_ylabel(f"training loss after {impact.early_step} steps")
    ax_b.set_ylim(0, None)
    legend_above(fig, ax_a, ncols=2, narrow_ncols=2, fontsize=SMALL)
    panel_title(ax_a, "a", "Size of the first update")
    panel_title(ax_b, "b", "Early training")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Merging:
    """Two adapters merged into and unmerged from one toy base: errors and accuracies."""
    tasks: tuple[str, ...]
    merge_error: np.ndarray             # per task: largest |logits merged - unmerged|
    unmerge_error: np.ndarray           # per task: largest |W after unmerging - W0|
    float_epsilon: float
    base_accuracy_pct: np.ndarray       # per task, test accuracy in %
    adapter_accuracy_pct: np.ndarray
    merged_accuracy_pct: np.ndarray
    numbers: Numbers


def adapter_merging_result() -> Merging:
    swap = toy_runs.load("adapter_swap")
    numbers = Numbers()
    numbers.add("MergeErrorMax", float(np.max(swap.merge_error)), "sci1")
    numbers.add("UnmergeErrorMax", float(max(np.max(swap.unmerge_error), swap.final_error)),
                "sci1")
    return Merging(tasks=swap.tasks, merge_error=swap.merge_error,
                   unmerge_error=swap.unmerge_error, float_epsilon=float(np.finfo(float).eps),
                   base_accuracy_pct=100 * swap.base_accuracy,
                   adapter_accuracy_pct=100 * swap.adapter_accuracy,
                   merged_accuracy_pct=100 * swap.merged_accuracy, numbers=numbers)


@FIGURES.figure(
    caption="Merging $W' = W + \\frac{\\alpha}{r}BA$ on the toy model: the outputs before and "
            "after merging agree to float precision, and two adapters trained for different "
            "tasks are swapped on one base model by merging and unmerging.",
    result=adapter_merging_result, width=1.0, aspect=0.36)
def adapter_merging(fig, merging: Merging):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    eps = merging.float_epsilon
    x = np.arange(len(merging.tasks))
    width = 0.35
    ax_a.bar(x - width / 2, merging.merge_error, width, color=MERGED,
             label="outputs: merged vs not")
    ax_a.bar(x + width / 2, merging.unmerge_error, width, color=FROZEN, hatch="////",
             edgecolor="white", label="$W$ after unmerging vs $W_0$")
    ax_a.axhline(eps, color=INK, lw=0.6, ls=":")
    ax_a.text(1.02, eps, "float64\nepsilon", transform=ax_a.get_yaxis_transform(), va="center",
              fontsize=SMALL)
    ax_a.set_yscale("log")
    ax_a.set_ylim(1e-17, 1e-12)
    ax_a.set_xticks(x, [f"{t} adapter" for t in merging.tasks])
    ax_a.set_ylabel("largest absolute difference")
    ax_a.legend(loc="upper left", fontsize=SMALL)
    panel_title(ax_a, "a", "Exactness")

    values = {"base alone": merging.base_accuracy_pct,
              "adapter, unmerged": merging.adapter_accuracy_pct,
              "adapter merged into $W$": merging.merged_accuracy_pct}
    grouped_bars(ax_b, [f"{t} task" for t in merging.tasks], values, (FROZEN, TRAINED, MERGED),
                 ("", "", "...."), width=0.75)
    ax_b.set_ylim(0, 100)
    ax_b.set_ylabel("test accuracy (%)")
    legend_above(fig, ax_b, ncols=3, narrow_ncols=2, fontsize=SMALL)
    panel_title(ax_b, "b", "Two adapters, one base")


# ============================================================================================
# B. The LoRA simulator's views, as static figures of the real toy model (numerics.lora)
# --------------------------------------------------------------------------------------------
def draw_network(ax, sizes, y_gap=1.0):
    """Units as circles, layer by layer, joined by light lines; returns unit positions."""
    xs = np.linspace(0, 1, len(sizes))
    tallest = max(sizes)
    positions = []
    for x, n in zip(xs, sizes, strict=True):
        ys = (np.arange(n) - (n - 1) / 2) * y_gap / tallest
        positions.append(np.column_stack([np.full(n, x), ys]))
    for left, right in zip(positions[:-1], positions[1:], strict=True):
        for a in left:
            for b in right:
                ax.plot([a[0], b[0]], [a[1], b[1]], color="#CCCCCC", lw=0.3, zorder=1)
    for layer in positions:
        ax.scatter(layer[:, 0], layer[:, 1], s=14, color=BLUE, zorder=3, linewidths=0)
    return positions


@dataclass(frozen=True)
class ToyNetwork:
    """The toy base network: widths, and the shape and parameter count of every layer."""
    model: experiments.ToyModel
    numbers: Numbers


def model_overview_result() -> ToyNetwork:
    model = experiments.toy_model()
    numbers = Numbers()
    numbers.add("ToyBaseParams", model.base_params, ",d")
    return ToyNetwork(model=model, numbers=numbers)


@FIGURES.figure(
    caption=f"The toy base network of the LoRA figures: {lora_mlp.SIZES[0]} input features of a "
            f"sentence, two hidden ReLU layers of {lora_mlp.SIZES[1]} units and "
            f"{lora_mlp.SIZES[-1]} outputs, with the shape and parameter count of every layer.",
    result=model_overview_result, width=1.0, aspect=0.42)
def model_overview(fig, network: ToyNetwork):
    model = network.model
    ax = diagram.canvas(fig, (-0.12, 1.12), (-1.22, 0.62))
    positions = draw_network(ax, model.sizes)
    names = ["input", "hidden 1", "hidden 2", "output"]
    for layer, name, n in zip(positions, names, model.sizes, strict=True):
        ax.text(layer[0, 0], 0.56, f"{name}\n{n} units", ha="center", va="bottom",
                fontsize=SMALL)
    for i, ((d_out, d_in), params) in enumerate(zip(model.shapes, model.layer_params,
                                                    strict=True)):
        x = (positions[i][0, 0] + positions[i + 1][0, 0]) / 2
        ax.text(x, -0.62, f"$W_{i + 1}$: {d_out} $\\times$ {d_in}\n$b_{i + 1}$: {d_out}\n"
                f"{params} parameters", ha="center", va="top", fontsize=SMALL)
    ax.text(0.5, -1.12, f"{network.numbers['ToyBaseParams']} parameters in all", ha="center",
            va="bottom", fontsize=SMALL, color=MUTED)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Injection:
    """Where the toy model's adapters attach: the layer shapes, the rank and alpha."""
    shapes: tuple[tuple[int, int], ...]     # (d, k) of every W_l
    rank: int
    alpha: float
    numbers: Numbers


def lora_injection_result() -> Injection:
    config = lora_mlp.DEFAULT_CONFIG
    numbers = Numbers()
    numbers.add("ToyRank", config.rank, "d")
    numbers.add("ToyAlpha", config.alpha, "g")
    numbers.add("ToyAdapterParams", lora_mlp.trainable_parameters(config), ",d")
    return Injection(shapes=experiments.toy_model().shapes, rank=config.rank, alpha=config.alpha,
                     numbers=numbers)


@FIGURES.figure(
    caption="Where LoRA attaches in the toy model: each frozen weight $W_l$ gets a trainable "
            "pair $A_l$ ($r \\times k$) and $B_l$ ($d \\times r$), and inference can use the "
            "merged weight $W_l + \\frac{\\alpha}{r}B_lA_l$ instead.",
    result=lora_injection_result, width=1.0, height=2.5)
def lora_injection(fig, injection: Injection):
    r = injection.rank
    ax = diagram.canvas(fig, (0, 12), (0, 6))
    columns = np.linspace(2.0, 10.0, len(injection.shapes))
    for i, ((d, k), x) in enumerate(zip(injection.shapes, columns, strict=True), start=1):
        frozen = diagram.box(ax, x - 0.8, 4.1, f"$W_{i}$\n{d} $\\times$ {k}\nfrozen",
                             color=FROZEN, fill=0.6, fontsize=SMALL)
        a = diagram.box(ax, x + 0.8, 4.9, f"$A_{i}$: {r} $\\times$ {k}", color=TRAINED,
                        fill=0.55, fontsize=SMALL)
        b = diagram.box(ax, x + 0.8, 3.3, f"$B_{i}$: {d} $\\times$ {r}", color=TRAINED,
                        fill=0.55, fontsize=SMALL)
        merged = diagram.box(ax, x, 1.1, f"$W_{i} + \\frac{{\\alpha}}{{r}}B_{i}A_{i}$\n"
                             "merged", color=MERGED, fill=0.7, fontsize=SMALL)
        diagram.link(ax, a, b, (0.5, 0), (0.5, 1))
        diagram.link(ax, frozen, merged, (0.5, 0), (0.25, 1), color=MUTED, linestyle=":")
        diagram.link(ax, b, merged, (0.5, 0), (0.75, 1), color=MUTED, linestyle=":")
    ax.text(0.05, 5.9, f"$r$ = {r}, $\\alpha$ = {injection.alpha:g}", ha="left", va="top",
            fontsize=SMALL)
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor=c)
               for c in (FROZEN, TRAINED, MERGED)]
    fig.legend(handles, ["frozen base weight", "trainable adapter", "effective weight"],
               loc="outside lower center", ncols=3, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForwardPass:
    """One test sentence through the LoRA-trained toy model: input, and per layer the base
    path, the LoRA path and their sum with the bias (the pre-activation), one entry per unit."""
    features: tuple[str, ...]           # names of the input features
    x: np.ndarray                       # the sentence's word counts per feature
    base_paths: tuple[np.ndarray, ...]
    lora_paths: tuple[np.ndarray, ...]  # zero where a layer is not adapted
    pre_activations: tuple[np.ndarray, ...]
    classes: tuple[str, ...]            # names of the output units
    text: str
    label: str
    numbers: Numbers


def forward_pass_result() -> ForwardPass:
    trace = toy_runs.load("forward_trace")
    base = tuple(layer.base_path.ravel() for layer in trace.layers)
    lora = tuple(layer.lora_path.ravel() if layer.lora_path is not None else np.zeros_like(b)
                 for layer, b in zip(trace.layers, base, strict=True))
    numbers = Numbers()
    numbers.add("TracePositiveAfter", 100 * trace.probs[1], ".0f")
    numbers.add("TracePositiveBefore", 100 * trace.probs_base[1], ".0f")
    return ForwardPass(features=GROUPS, x=trace.x, base_paths=base, lora_paths=lora,
                       pre_activations=tuple(layer.z.ravel() for layer in trace.layers),
                       classes=LABELS, text=trace.text, label=LABELS[trace.label],
                       numbers=numbers)


@FIGURES.figure(
    caption="The real forward pass of one test sentence through the LoRA-trained toy model: "
            "at every layer the base path $W_0x$ and the LoRA path $\\frac{\\alpha}{r}BAx$ "
            "add up to the pre-activation.",
    result=forward_pass_result, width=1.0, aspect=0.5)
def forward_pass(fig, forward: ForwardPass):
    n_layers = len(forward.base_paths)
    axes = fig.subplots(1, n_layers + 1, gridspec_kw={"width_ratios":
                                                      [0.6] + [1.0] * n_layers})
    ax_in = axes[0]
    features = np.arange(len(forward.x))
    ax_in.barh(features, forward.x, color=MUTED)
    ax_in.invert_yaxis()
    ax_in.set_yticks(features, list(forward.features))
    ax_in.set_xlabel("word count")
    panel_title(ax_in, "a", "Input")
    layers = zip(axes[1:], forward.base_paths, forward.lora_paths, forward.pre_activations,
                 strict=True)
    for j, (ax, base, lora_path, z) in enumerate(layers, start=1):
        units = np.arange(base.shape[-1])
        ax.barh(units - 0.2, base, 0.4, color=FROZEN, label="base path $W_0x$")
        ax.barh(units + 0.2, lora_path, 0.4, color=TRAINED, label="LoRA path")
        ax.plot(z, units, ls="none", marker="|", color=INK, markersize=5, label="sum + bias")
        ax.axvline(0, color=INK, lw=0.4)
        ax.invert_yaxis()
        if j < n_layers:
            ax.set_yticks(units[::4])
        else:
            ax.set_yticks(units, list(forward.classes))
        ax.set_xlabel("pre-activation")
        title = f"Layer {j}" if j < n_layers else "Output logits"
        panel_title(ax, "abcd"[j], title)
    legend_above(fig, axes[1], ncols=3, narrow_ncols=3, fontsize=SMALL)
    note = (f"`{forward.text}' ({forward.label}): p(positive) is "
            f"{forward.numbers['TracePositiveBefore']} % without the adapter, "
            f"{forward.numbers['TracePositiveAfter']} % with it")
    fig.supxlabel(wrap(note, 70 if fig.get_figwidth() < 5.5 else 120), fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackwardStep:
    """Gradient norms of one step on the toy model's training set, per parameter group:
    full fine-tuning (W_l, b_l) at the base, LoRA (A_l, B_l) at the start and later."""
    full_groups: tuple[str, ...]        # "W1", "b1", ...
    full_norms: tuple[float, ...]
    full_sizes: tuple[int, ...]         # entries per group
    full_params: int
    lora_groups: tuple[str, ...]        # "A1", "B1", ...
    lora_norms_first: tuple[float, ...]  # at initialisation, B = 0
    lora_norms_later: tuple[float, ...]  # after later_steps LoRA steps
    lora_sizes: tuple[int, ...]
    lora_params: int
    later_steps: int
    numbers: Numbers


def backward_pass_result() -> BackwardStep:
    start = toy_runs.load("backward_at_init")
    later = toy_runs.load("backward_after_steps")
    full = [i for i, group in enumerate(start.groups) if group[0] in "Wb"]
    lora = [i for i, group in enumerate(start.groups) if group[0] in "AB"]
    numbers = Numbers()
    numbers.add("FullGradNorm", start.full_norm, ".2f")
    numbers.add("LoraGradNorm", start.lora_norm, ".2f")
    return BackwardStep(
        full_groups=tuple(start.groups[i] for i in full),
        full_norms=tuple(start.norms[i] for i in full),
        full_sizes=tuple(start.sizes[i] for i in full),
        full_params=sum(start.sizes[i] for i in full),
        lora_groups=tuple(start.groups[i] for i in lora),
        lora_norms_first=tuple(start.norms[i] for i in lora),
        lora_norms_later=tuple(later.norms[i] for i in lora),
        lora_sizes=tuple(start.sizes[i] for i in lora),
        lora_params=sum(start.sizes[i] for i in lora),
        later_steps=later.lora_steps, numbers=numbers)


def group_label(group: str, size: int) -> str:
    """'W1', 128 -> '$W_1$ (128)'."""
    return f"${group[0]}_{group[1:]}$ ({size})"


@FIGURES.figure(
    caption="The real gradients of one step of the toy model on its sentiment training set: "
            "full fine-tuning sends gradient to every weight and bias, LoRA only to its "
            "adapters, and at the start, while $B = 0$, only to $B$.",
    result=backward_pass_result, width=1.0, aspect=0.42)
def backward_pass(fig, step: BackwardStep):
    ax_full, ax_lora = fig.subplots(1, 2, sharex=True)
    rows = np.arange(len(step.full_groups))[::-1]
    ax_full.barh(rows, list(step.full_norms), 0.6,
                 color=[FROZEN if g[0] == "b" else BLUE for g in step.full_groups])
    ax_full.set_yticks(rows, [group_label(g, size)
                              for g, size in zip(step.full_groups, step.full_sizes, strict=True)])
    ax_full.set_xlabel("gradient norm $\\|\\partial L/\\partial\\theta\\|_F$")
    panel_title(ax_full, "a", f"Full fine-tuning: {step.full_params} parameters")

    rows = np.arange(len(step.lora_groups))[::-1]
    ax_lora.barh(rows + 0.18, list(step.lora_norms_first), 0.36, color=TRAINED,
                 label="first step ($B = 0$, so $\\partial L/\\partial A = 0$)")
    ax_lora.barh(rows - 0.18, list(step.lora_norms_later), 0.36, color=tint(TRAINED, 0.5),
                 hatch="////", edgecolor="white", label=f"after {step.later_steps} steps")
    ax_lora.set_yticks(rows, [group_label(g, size)
                              for g, size in zip(step.lora_groups, step.lora_sizes, strict=True)])
    ax_lora.set_xlabel("gradient norm")
    legend_above(fig, ax_lora, ncols=2, narrow_ncols=2, fontsize=SMALL)
    panel_title(ax_lora, "b", f"LoRA: {step.lora_params} parameters")


# --------------------------------------------------------------------------------------------
DELTA_LAYER = 1  # the layer whose learned update panel c shows (0-based: the second layer)


@dataclass(frozen=True)
class FineTuningOutcome:
    """LoRA fine-tuning of the toy model: loss curves, held-out predictions before and after,
    and the learned update of one layer with its rank."""
    loss: np.ndarray                    # training loss per step
    test_loss: np.ndarray               # held-out loss per step
    example_texts: tuple[str, ...]
    example_labels: tuple[str, ...]
    positive_before_pct: np.ndarray     # p(positive) per example, in %
    positive_after_pct: np.ndarray
    layer: int                          # 0-based index of the layer of `delta`
    delta: np.ndarray                   # its learned (alpha/r) B A, (d, k)
    delta_rank: int                     # its rank, computed
    adapter_rank: int                   # the adapters' rank r
    numbers: Numbers


def knowledge_change_result() -> FineTuningOutcome:
    change = toy_runs.load("knowledge_change")
    delta = change.delta_w[DELTA_LAYER]
    rank = int(np.linalg.matrix_rank(delta))
    numbers = Numbers()
    numbers.add("DeltaRank", rank, "d")
    numbers.add("KnowledgeTestBefore", 100 * change.test_accuracy_before, ".0f")
    numbers.add("KnowledgeTestAfter", 100 * change.test_accuracy_after, ".0f")
    numbers.add("KnowledgeTrainAfter", 100 * change.train_accuracy_after, ".0f")
    return FineTuningOutcome(
        loss=change.loss, test_loss=change.test_loss, example_texts=change.example_texts,
        example_labels=tuple(LABELS[y] for y in change.example_labels),
        positive_before_pct=100 * change.probs_before[:, 1],
        positive_after_pct=100 * change.probs_after[:, 1], layer=DELTA_LAYER, delta=delta,
        delta_rank=rank, adapter_rank=change.config.rank, numbers=numbers)


@FIGURES.figure(
    caption="Fine-tuning the toy model on its sentiment sentences with LoRA: the loss falls, the "
            "predictions for held-out sentences change, and the learned update "
            "$\\Delta W = \\frac{\\alpha}{r}BA$ of the second layer has rank $r$.",
    result=knowledge_change_result, width=1.0, height=3.0)
def knowledge_change(fig, change: FineTuningOutcome):
    ax_loss, ax_pred, ax_dw = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.3, 0.9]})
    steps = np.arange(len(change.loss))
    ax_loss.plot(steps, change.loss, color=TRAIN_COLOR, label="training")
    ax_loss.plot(np.arange(len(change.test_loss)), change.test_loss, color=TEST_COLOR, ls="--",
                 label="held-out")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("LoRA step")
    ax_loss.set_ylabel("cross-entropy")
    legend_above(fig, ax_loss, ncols=2, narrow_ncols=2, fontsize=SMALL)
    panel_title(ax_loss, "a", "Loss")

    rows = np.arange(len(change.example_texts))[::-1]
    ax_pred.barh(rows + 0.18, change.positive_before_pct, 0.36, color=FROZEN, label="before")
    ax_pred.barh(rows - 0.18, change.positive_after_pct, 0.36, color=TRAINED, label="after")
    ax_pred.axvline(50, color=INK, lw=0.5, ls=":")
    labels = [f"{wrap(text, 24)}\n({label})" for text, label in
              zip(change.example_texts, change.example_labels, strict=True)]
    ax_pred.set_yticks(rows, labels, fontsize=SMALL)
    ax_pred.set_xlim(0, 100)
    ax_pred.set_xlabel("p(positive) (%)")
    ax_pred.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncols=2, fontsize=SMALL)
    panel_title(ax_pred, "b", "Held-out sentences")

    delta = change.delta
    image = ax_dw.imshow(delta, cmap=DIVERGING_CMAP, norm=signed_norm(delta), aspect="auto")
    ax_dw.set_xlabel("input unit")
    ax_dw.set_ylabel("output unit")
    bar = fig.colorbar(image, ax=ax_dw, pad=0.03)
    bar.set_label("$\\Delta W_{ij}$")
    panel_title(ax_dw, "c",
                f"$\\Delta W_{change.layer + 1}$, rank {change.numbers['DeltaRank']}")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryDashboard:
    """Trainable parameters and training memory (model states) of full fine-tuning, LoRA and
    QLoRA, for the toy model and for LLaMA-7B; one entry per method."""
    methods: tuple[str, ...]
    toy_rank: int
    toy_params: tuple[int, ...]
    toy_bytes: tuple[float, ...]
    model_params: tuple[int, ...]
    model_bytes: tuple[float, ...]
    numbers: Numbers


def memory_dashboard_result() -> MemoryDashboard:
    config = lora_mlp.DEFAULT_CONFIG
    n_base = experiments.toy_model().base_params
    n_lora = lora_mlp.trainable_parameters(config)
    # The toy model is a parameter count, not a transformer shape: the same per-parameter
    # recipes as numerics.memory, applied to its counts.
    toy_bytes = (memory.full_finetune_memory(n_base).total,
                 n_base * memory.FP16_BYTES
                 + n_lora * memory.MIXED_PRECISION_ADAM.bytes_per_param,
                 n_base * memory.nf4_bytes_per_param(True)
                 + n_lora * memory.QLORA_ADAPTER_RECIPE.bytes_per_param)
    table = memory.compare_methods((MODEL,), SCALE_RANK, memory.ALL_LINEAR)[MODEL.name]
    n_adapters = memory.lora_parameters(MODEL, SCALE_RANK, memory.ALL_LINEAR)
    numbers = Numbers()
    numbers.add("ToyFullBytes", toy_bytes[0], ",.0f")
    numbers.add("ToyLoraBytes", toy_bytes[1], ",.0f")
    numbers.add("ToyLoraParams", n_lora, ",d")
    return MemoryDashboard(
        methods=memory.METHODS, toy_rank=config.rank, toy_params=(n_base, n_lora, n_lora),
        toy_bytes=toy_bytes,
        model_params=(memory.parameter_count(MODEL), n_adapters, n_adapters),
        model_bytes=tuple(b.total for b in table.values()), numbers=numbers)


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


@FIGURES.figure(
    caption="Trainable parameters and training memory of full fine-tuning, LoRA and QLoRA, for "
            f"the toy model and for {MODEL.name}, by the byte accounting of the fine-tuning "
            "figures (model states, activations not included).",
    result=memory_dashboard_result, width=1.0, height=3.4)
def memory_dashboard(fig, dashboard: MemoryDashboard):
    methods = dashboard.methods
    colors = (RED, BLUE, GREEN)
    hatches = ("", "////", "....")
    panels = [
        (f"Toy model ($r$ = {dashboard.toy_rank}): trainable", dashboard.toy_params, fmt_count),
        ("Toy model: training memory", dashboard.toy_bytes, fmt_bytes),
        (f"{MODEL.name} ($r$ = {SCALE_RANK}): trainable", dashboard.model_params, fmt_count),
        (f"{MODEL.name}: training memory", dashboard.model_bytes, fmt_bytes),
    ]
    axes = fig.subplots(2, 2).ravel()
    for ax, letter, (title, values, fmt) in zip(axes, "abcd", panels, strict=True):
        x = np.arange(len(methods))
        for i, (value, color, hatch) in enumerate(zip(values, colors, hatches, strict=True)):
            ax.bar(i, value, 0.65, color=color, hatch=hatch, edgecolor="white", lw=0.3,
                   label=methods[i])
            ax.text(i, value * 1.25, fmt(value), ha="center", va="bottom", fontsize=SMALL)
        ax.set_yscale("log")
        ax.set_ylim(min(values) / 4, max(values) * 30)
        ax.set_xticks(x, ["full", "LoRA", "QLoRA"])
        ax.yaxis.set_major_locator(LogLocator(numticks=4))
        panel_title(ax, letter, title)


# --------------------------------------------------------------------------------------------
RANDOM_BAND = (5, 95)  # percentiles of the random draws shaded in panel a


@dataclass(frozen=True)
class DeltaSpectrum:
    """Singular values and energy of a real full-fine-tuning update of the toy model's second
    layer against random Gaussian matrices of the same size and norm."""
    index: np.ndarray                   # 1 .. n
    singular_values: np.ndarray
    random_low: np.ndarray              # RANDOM_BAND percentiles of the random draws
    random_high: np.ndarray
    random_mean: np.ndarray             # mean over the draws, as panel b's energy
    kept: np.ndarray                    # 0 .. n: ranks kept
    energy_pct: np.ndarray              # share of ||Delta W||_F^2 kept, %, per rank kept
    random_energy_pct: np.ndarray       # the same, mean over the random draws
    energy_share_pct: float             # the share the ranks of panel b reach
    numbers: Numbers


def delta_w_spectrum_result() -> DeltaSpectrum:
    spectrum = toy_runs.load("delta_w_spectrum")
    numbers = Numbers()
    numbers.add("TopOneEnergy", 100 * spectrum.energy_at(1), ".0f")
    numbers.add("RankNinetyReal", spectrum.rank_90, "d")
    numbers.add("RankNinetyRandom", float(np.median(spectrum.random_rank_90)), ".0f")
    numbers.add("EffectiveRankReal", spectrum.effective_rank, ".1f")
    numbers.add("EffectiveRankRandom", float(np.median(spectrum.random_effective_rank)), ".1f")
    index = np.arange(1, len(spectrum.singular_values) + 1)
    low, high = np.percentile(spectrum.random_singular_values, RANDOM_BAND, axis=0)
    return DeltaSpectrum(
        index=index, singular_values=spectrum.singular_values, random_low=low, random_high=high,
        random_mean=spectrum.random_singular_values.mean(axis=0),
        kept=np.concatenate([[0], index]),
        energy_pct=100 * np.concatenate([[0], spectrum.energy]),
        random_energy_pct=100 * np.concatenate([[0], spectrum.random_energy]),
        energy_share_pct=100 * experiments.ENERGY_SHARE, numbers=numbers)


@FIGURES.figure(
    caption="Singular values of a real full-fine-tuning update $\\Delta W$ of the toy model's "
            "second layer against random Gaussian matrices of the same size and norm: the real "
            "update concentrates its energy in fewer directions, which is why a low rank can "
            "capture it.",
    result=delta_w_spectrum_result, width=1.0, aspect=0.38)
def delta_w_spectrum(fig, spectrum: DeltaSpectrum):
    ax_sv, ax_energy = fig.subplots(1, 2)
    k = spectrum.index
    low, high = RANDOM_BAND
    ax_sv.fill_between(k, spectrum.random_low, spectrum.random_high, color=tint(GREY, 0.4), lw=0,
                       label=f"random: {low}-{high} % of draws")
    ax_sv.plot(k, spectrum.random_mean, color=INK, ls="--", label="random: mean")
    ax_sv.plot(k, spectrum.singular_values, color=RED, marker="o", markersize=3,
               label="real update")
    ax_sv.set_xlabel("index $i$")
    ax_sv.set_ylabel("singular value $\\sigma_i$")
    legend_above(fig, ax_sv, ncols=3, narrow_ncols=2, fontsize=SMALL)
    panel_title(ax_sv, "a", f"Singular values (top: {spectrum.numbers['TopOneEnergy']} %)")

    ax_energy.plot(spectrum.kept, spectrum.energy_pct, color=RED, marker="o", markersize=3)
    ax_energy.plot(spectrum.kept, spectrum.random_energy_pct, color=INK, ls="--")
    ax_energy.axhline(spectrum.energy_share_pct, color=INK, lw=0.5, ls=":")
    ax_energy.set_xlabel("rank $r$ kept")
    ax_energy.set_ylabel("share of $\\|\\Delta W\\|_F^2$ (%)")
    ax_energy.set_ylim(0, 105)
    share = f"{spectrum.energy_share_pct:.0f} %"
    panel_title(ax_energy, "b", f"{share} at rank {spectrum.numbers['RankNinetyReal']} "
                                f"(random: {spectrum.numbers['RankNinetyRandom']})")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
