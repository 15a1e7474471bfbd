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

import dataclasses
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import LogLocator

from figkit import Registry, diagram, latex, meanings
from figkit.annotate import NARROW_IN, arrow_props, panel_title
from figkit.charts import grouped_bars, straight_series
from figkit.numbers import Numbers, spell
from figkit.palette import DIVERGING_CMAP, GREY, INK, LIGHT, MUTED, tint
from figkit.style import SMALL
from models import lora_mlp
from numerics import memory
from numerics.activations import activation_bytes
from numerics.lora import costs, experiments
from numerics.lora.data import GROUPS, LABELS, TEACHER_TEST, TEACHER_TRAIN, load_sentiment
from published import lora as published
from recorders import lora as toy_runs

FIGURES = Registry("lora")

MODEL = memory.LLAMA_7B
RANK = 8
#: Parameters of the toy model (all trained by full fine-tuning).
TOY_PARAMS = experiments.toy_model().base_params
#: The layer drawn in the architecture figures: LLaMA-7B's query projection.
LAYER = next(layer for layer in memory.linear_layers(MODEL) if layer.name == "q")
#: Every colour comes from the book's table of meanings (figkit.meanings), looked up when a
#: figure is drawn: frozen base weights are neutral grey, LoRA's adapters and everything LoRA
#: trains are LoRA's colour, and a merged weight W + (alpha/r) BA is a pale tint of it.
MERGED_TINT = 0.85
#: Diagram boxes: frozen weights pale grey, adapters a strong tint of LoRA's colour, merged
#: weights a paler one (told apart under colour-vision deficiency too).
FROZEN_FILL, ADAPTER_FILL, MERGED_FILL = 0.6, 0.3, 0.55


def lora_colour() -> str:
    return meanings.method("lora").color


def frozen_colour() -> str:
    """Frozen base weights: the table's frozen role (neutral grey)."""
    return meanings.role("frozen").color


def signed_norm(*arrays):
    """A colour norm centred on zero spanning the largest magnitude in `arrays`."""
    reach = max(float(np.abs(a).max()) for a in arrays) or 1.0
    return TwoSlopeNorm(0.0, -reach, reach)


def spread_apart(values, gap: float) -> np.ndarray:
    """Positions for labels at ``values`` (any order), moved as little as possible so that
    neighbours are at least ``gap`` apart (centred on the original block of each cluster)."""
    values = np.asarray(values, float)
    order = np.argsort(values)
    placed = values[order].copy()
    for _ in range(len(placed)):
        for i in range(1, len(placed)):
            if placed[i] - placed[i - 1] < gap:
                middle = (placed[i] + placed[i - 1]) / 2
                placed[i - 1], placed[i] = middle - gap / 2, middle + gap / 2
    result = np.empty_like(placed)
    result[order] = placed
    return result


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
    result=lora_architecture_result, width=1.0, height=2.45)
def lora_architecture(fig, block: LoraBlock):
    d, k, r = block.d, block.k, block.rank
    n_w, n_a, n_b = (block.numbers[key] for key in ("LayerParams", "AParams", "BParams"))
    share = block.numbers["AdapterShare"]
    lora = lora_colour()
    ax = diagram.canvas(fig, (0, 12), (0.45, 7.75))
    w_mid, ab_mid, sum_x = 2.15, 7.15, 4.75
    # frozen W: a square block
    ax.add_patch(Rectangle((0.1, 2.6), 4.1, 2.8, facecolor=tint(frozen_colour(), 0.7),
                           edgecolor=INK, lw=0.8))
    ax.text(w_mid, 4.35, "$W \\in \\mathbb{R}^{d \\times k}$", ha="center", va="center")
    ax.text(w_mid, 3.6, f"frozen\n{n_w} weights", ha="center", va="center", fontsize=SMALL)
    # A: k -> r (narrowing), B: r -> d (widening); each labelled inside, with its initialisation
    ax.add_patch(Polygon([(5.2, 2.6), (9.1, 2.6), (7.8, 3.8), (6.5, 3.8)], closed=True,
                         facecolor=tint(lora, 0.6), edgecolor=INK, lw=0.8))
    ax.add_patch(Polygon([(6.5, 4.2), (7.8, 4.2), (9.1, 5.4), (5.2, 5.4)], closed=True,
                         facecolor=tint(lora, 0.6), edgecolor=INK, lw=0.8))
    ax.text(ab_mid, 2.92, f"$A$: $r \\times k$, {n_a}", ha="center", va="center",
            fontsize=SMALL)
    ax.text(ab_mid, 3.32, "random Gaussian", ha="center", va="center", fontsize=SMALL,
            color=MUTED)
    ax.text(ab_mid, 5.08, f"$B$: $d \\times r$, {n_b}", ha="center", va="center",
            fontsize=SMALL)
    ax.text(ab_mid, 4.68, "zero at the start", ha="center", va="center", fontsize=SMALL,
            color=MUTED)
    ax.text(ab_mid, 4.0, f"$r$ = {r}", ha="center", va="center", fontsize=SMALL)
    # a bracket around A and B, with what the pair costs
    ax.plot([9.3, 9.5, 9.5, 9.3], [2.6, 2.6, 5.4, 5.4], color=INK, lw=0.6)
    ax.text(9.7, 4.0, f"$A$ and $B$:\n$r(d + k)$ = {block.numbers['AdapterParams']}\n"
            f"trainable, {share} %\nof the layer's {n_w}", ha="left", va="center",
            fontsize=SMALL)
    # input, output, sum
    ax.text(sum_x, 0.9, f"input $x \\in \\mathbb{{R}}^{{k}}$, $k$ = {k:,}", ha="center",
            va="center")
    ax.text(sum_x, 7.4, f"output $h \\in \\mathbb{{R}}^{{d}}$, $d$ = {d:,}", ha="center",
            va="center")
    ax.text(sum_x, 6.35, "+", ha="center", va="center",
            bbox=dict(boxstyle="circle,pad=0.15", facecolor="white", edgecolor=INK, lw=0.8))
    for start, end in (((sum_x, 1.2), (w_mid, 2.55)), ((sum_x, 1.2), (ab_mid, 2.55)),
                       ((w_mid, 5.45), (sum_x - 0.25, 6.3)), ((ab_mid, 5.45), (sum_x + 0.25, 6.3)),
                       ((sum_x, 6.6), (sum_x, 7.1))):
        diagram.arrow(ax, start, end, shrink=0)
    ax.text(6.2, 6.0, "$\\times\\,\\alpha / r$", ha="left", va="center", fontsize=SMALL)


# --------------------------------------------------------------------------------------------
SCALE_RANK = 64  # QLoRA's rank: the largest in common use, so the thin matrices stay visible
#: The ranks of the saving panel, and their names in macro keys (LaTeX macro names take letters).
RANK_AXIS = np.array([1, 2, 4, 8, 16, 32, 64, 128])
RANK_WORDS = {1: "One", 2: "Two", 4: "Four", 8: "Eight", 16: "Sixteen", 32: "ThirtyTwo",
              64: "SixtyFour", 128: "OneHundredTwentyEight"}
#: The rectangular matrix the saving panel sets beside the square query projection: LLaMA-7B's
#: MLP up-projection (gate and down have the same size).
MLP_LAYER = next(layer for layer in memory.linear_layers(MODEL) if layer.name == "up")


@dataclass(frozen=True)
class LowRankFactors:
    """The update of LLaMA-7B's query projection against its factors at `scale_rank`, and the
    saving d k / (r (d + k)) per rank for it and for the MLP's rectangular matrices."""
    d: int
    k: int
    scale_rank: int                 # the rank drawn to scale
    update_entries: int             # d k
    factor_entries: int             # r (d + k) at scale_rank
    ranks: np.ndarray
    saving: np.ndarray              # d k / (r (d + k)) of the query projection, per rank
    mlp_shape: tuple[int, int]      # (d, k) of the MLP up-projection
    mlp_saving: np.ndarray          # the same for it, per rank
    saving_labels: tuple[str, ...]  # the query projection's savings as the figure prints them
    numbers: Numbers


def saving(d: int, k: int, ranks) -> np.ndarray:
    """How many times fewer entries the factors B (d x r) and A (r x k) hold than Delta W."""
    return d * k / (np.asarray(ranks) * (d + k))


def matrix_decomposition_result() -> LowRankFactors:
    d, k = LAYER.d_out, LAYER.d_in
    mlp = (MLP_LAYER.d_out, MLP_LAYER.d_in)
    numbers = Numbers()
    query_saving = saving(d, k, RANK_AXIS)
    labels = tuple(numbers.add(f"SavingRank{RANK_WORDS[int(rank)]}", value, ",.0f")
                   for rank, value in zip(RANK_AXIS, query_saving, strict=True))
    numbers.add("FactorEntries", SCALE_RANK * (d + k), ",d")
    numbers.add("UpdateEntries", d * k, ",d")
    numbers.add("MlpRows", mlp[0], ",d")
    numbers.add("MlpColumns", mlp[1], ",d")
    numbers.add("MlpSavingRankEight", float(saving(*mlp, [RANK])[0]), ",.0f")
    return LowRankFactors(d=d, k=k, scale_rank=SCALE_RANK, update_entries=d * k,
                          factor_entries=SCALE_RANK * (d + k), ranks=RANK_AXIS,
                          saving=query_saving, mlp_shape=mlp, mlp_saving=saving(*mlp, RANK_AXIS),
                          saving_labels=labels, numbers=numbers)


@FIGURES.figure(
    caption=f"The update $\\Delta W = BA$ drawn to scale for {MODEL.name}'s query projection at "
            f"$r = {SCALE_RANK}$: the update has $d \\times k$ entries, its factors only "
            "$r(d + k)$; and how many times fewer that is at each rank, for this square matrix "
            "and for the wider matrices of the MLP, which save more.",
    result=matrix_decomposition_result, width=1.0, aspect=0.4)
def matrix_decomposition(fig, factors: LowRankFactors):
    d, k, r = factors.d, factors.k, factors.scale_rank
    lora = meanings.method("lora")
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
    side = 4.0
    thin_w, thin_h = side * r / k, side * r / d
    # the update BA is LoRA's, drawn pale; its factors B and A in LoRA's full colour
    ax_a.add_patch(Rectangle((0, 0), side, side, facecolor=tint(lora.color, 0.8), edgecolor=INK,
                             lw=0.8))
    ax_a.add_patch(Rectangle((side + 0.9, 0), thin_w, side, facecolor=lora.color, edgecolor=INK,
                             lw=0.5))
    a_left = side + 1.9
    ax_a.add_patch(Rectangle((a_left, side - thin_h), side, thin_h, facecolor=lora.color,
                             edgecolor=INK, lw=0.5))
    ax_a.text(side / 2, side / 2,
              f"$\\Delta W$\n{d:,} $\\times$ {k:,}\n{factors.numbers['UpdateEntries']} entries",
              ha="center", va="center", fontsize=SMALL)
    ax_a.text(side + 0.45, side / 2, "=", ha="center", va="center")
    ax_a.text(side + 1.45, side / 2, "$\\times$", ha="center", va="center")
    ax_a.text(side + 0.9 + thin_w / 2, -0.15, f"$B$: {d:,} $\\times$ {r}", ha="center",
              va="top", fontsize=SMALL)
    ax_a.text(a_left + side / 2, side - thin_h - 0.15, f"$A$: {r} $\\times$ {k:,}",
              ha="center", va="top", fontsize=SMALL)
    # what the pair holds, in the room below A
    ax_a.text(a_left + side / 2, side / 2 - 0.3,
              f"$B$ and $A$ together:\n{factors.numbers['FactorEntries']} entries,\n"
              f"{factors.numbers['SavingRankSixtyFour']}$\\times$ fewer than $\\Delta W$",
              ha="center", va="center", fontsize=SMALL)
    ax_a.set_xlim(-0.1, a_left + side + 0.1)
    ax_a.set_ylim(-0.75, side + 0.1)
    ax_a.set_aspect("equal")
    ax_a.set_anchor("N")
    ax_a.set_axis_off()
    panel_title(ax_a, "a", f"To scale, $r$ = {r}")

    ranks = factors.ranks
    query, mlp = meanings.unnamed(2)
    handles = [straight_series(ax_b, ranks, values, label, style["color"], style["linestyle"],
                               style["marker"], xlog=True, ylog=True, markersize=3.5)
               for values, label, style in (
                   (factors.saving, f"$W_q$, {d:,} $\\times$ {k:,}", query),
                   (factors.mlp_saving, f"MLP, {factors.numbers['MlpRows']} $\\times$ "
                                        f"{factors.numbers['MlpColumns']}", mlp))]
    # every saving of the query projection below its point, left of the falling line
    for rank, value, label in zip(ranks, factors.saving, factors.saving_labels, strict=True):
        ax_b.annotate(f"{label}$\\times$", (rank, value), xytext=(-3, -3),
                      textcoords="offset points", ha="right", va="top", fontsize=SMALL)
    ax_b.legend(handles=handles, loc="lower left", fontsize=SMALL)
    ax_b.set_xscale("log", base=2)
    ax_b.set_yscale("log")
    ax_b.set_xticks(ranks, [str(v) for v in ranks])
    ax_b.set_xlim(ranks[0] / 2.6, ranks[-1] * 1.4)
    ax_b.set_xlabel("rank $r$")
    ax_b.set_ylabel("$dk \\,/\\, r(d + k)$: times fewer")
    ax_b.set_ylim(factors.saving.min() / 2.5, factors.mlp_saving.max() * 1.6)
    panel_title(ax_b, "b", "Saving against rank")


# --------------------------------------------------------------------------------------------
ACT_BATCH, ACT_SEQ = 1, 2048  # one full-context sequence, gradient checkpointing
#: The book's one accounting of a trained parameter: 16 bytes (ZeRO's mixed-precision Adam),
#: for full fine-tuning and for LoRA's adapters alike.
RECIPE = memory.MIXED_PRECISION_ADAM
#: The GPUs drawn as capacity lines: the book's three (numerics.memory.BOOK_GPUS), each at
#: numerics.memory.gpu_capacity_gb (GB = 1e9 bytes).
MEMORY_GPUS = memory.BOOK_GPUS
#: Stacking order of the drawn segments: (field of memory.MemoryBreakdown, memory component,
#: whether it is the adapters' share, drawn hatched in its component's colour).
MEMORY_SEGMENTS = (("weights", "weights", False), ("gradients", "gradients", False),
                   ("optimizer_states", "optimizer_states", False),
                   ("adapter_weights", "weights", True),
                   ("adapter_gradients", "gradients", True),
                   ("adapter_optimizer_states", "optimizer_states", True))


@dataclass(frozen=True)
class TrainingMemory:
    """LLaMA-7B's training memory per setup: the model states (numerics.memory, 16 bytes per
    trained parameter) and the activations of one sequence, in GB."""
    setups: tuple[str, ...]
    breakdowns: tuple[memory.MemoryBreakdown, ...]    # model states, one per setup
    segments: dict[str, np.ndarray]     # MemoryBreakdown field -> GB per setup
    model_states_gb: np.ndarray         # GB per setup
    adapters_gb: np.ndarray             # the adapters' share of the model states, GB per setup
    activations_gb: float               # the same for every setup
    totals: np.ndarray                  # GB per setup, activations included
    gpus: tuple[tuple[float, str], ...]     # (capacity in GB, label)
    numbers: Numbers


def training_memory_breakdown_result() -> TrainingMemory:
    gb = memory.GB
    activations = activation_bytes(MODEL, ACT_BATCH, ACT_SEQ, checkpointing=True) / gb
    setups = {"full fine-tuning": memory.full_finetune_memory(MODEL, RECIPE),
              f"LoRA $r$ = {RANK}, $W_q, W_v$":
                  memory.lora_memory(MODEL, RANK, ("q", "v"), adapter_recipe=RECIPE),
              f"LoRA $r$ = {SCALE_RANK}, all linear":
                  memory.lora_memory(MODEL, SCALE_RANK, memory.ALL_LINEAR, adapter_recipe=RECIPE)}
    breakdowns = tuple(setups.values())
    segments = {field: np.array([getattr(b, field) for b in breakdowns]) / gb
                for field, _, _ in MEMORY_SEGMENTS}
    states = np.array([b.total_gb for b in breakdowns])
    adapters = sum(segments[field] for field, _, share in MEMORY_SEGMENTS if share)
    totals = states + activations
    numbers = Numbers()
    numbers.add("FullTotalGB", totals[0], ".1f")
    numbers.add("LoraTotalGB", totals[1], ".1f")
    numbers.add("LoraAllTotalGB", totals[2], ".1f")
    numbers.add("FullStatesGB", states[0], ".1f")
    numbers.add("LoraStatesGB", states[1], ".1f")
    numbers.add("LoraAllStatesGB", states[2], ".1f")
    numbers.add("LoraAdaptersGB", adapters[1], ".2f")
    numbers.add("LoraAllAdaptersGB", adapters[2], ".2f")
    for field, key in (("adapter_weights", "Weights"), ("adapter_gradients", "Gradients"),
                       ("adapter_optimizer_states", "OptimizerStates")):
        numbers.add(f"LoraAllAdapter{key}GB", segments[field][2], ".2f")
    numbers.add("ActivationGB", activations, ".1f")
    numbers.add("BytesPerTrainedParam", RECIPE.bytes_per_param, "g")
    return TrainingMemory(setups=tuple(setups), breakdowns=breakdowns, segments=segments,
                          model_states_gb=states, adapters_gb=adapters,
                          activations_gb=activations, totals=totals,
                          gpus=tuple((memory.gpu_capacity_gb(gpu), memory.gpu_label(gpu))
                                     for gpu in MEMORY_GPUS),
                          numbers=numbers)


def stacked_gpu_label(label: str) -> str:
    """'RTX 4090, 24 GiB = 25.8 GB' (numerics.memory.gpu_label) on three short lines."""
    name, size = label.split(", ", 1)
    return "\n".join([name, *size.replace(" = ", "\n= ").split("\n")])


@FIGURES.figure(
    caption=f"Training memory of {MODEL.name} by component (GB = $10^9$ bytes; every trained "
            f"parameter at {RECIPE.bytes_per_param:g} bytes, ZeRO), showing what no other figure "
            f"does: the activations of one {ACT_SEQ:,}-token sequence under gradient "
            "checkpointing (Korthikanti et al. 2022), which LoRA needs as much as full "
            "fine-tuning, and how the adapted matrices move LoRA's total (adapters hatched); "
            "dotted: three GPUs.",
    result=training_memory_breakdown_result, width=1.0, aspect=0.42)
def training_memory_breakdown(fig, breakdown: TrainingMemory):
    ax = fig.subplots()
    numbers = breakdown.numbers
    rows = np.arange(len(breakdown.setups))[::-1]
    lefts = np.zeros(len(breakdown.setups))
    labelled = set()
    for field, component, adapters in MEMORY_SEGMENTS:
        widths = breakdown.segments[field]
        fill = meanings.adapter_share(component) if adapters else meanings.component(
            component).fill
        label = None if adapters or component in labelled else meanings.component(
            component).label
        labelled.add(component)
        drawn = widths > 0     # no zero-width bar: its hatch outline would draw a stray line
        ax.barh(rows[drawn], widths[drawn], 0.55, left=lefts[drawn], label=label, **fill)
        lefts += widths
    activations = meanings.component("activations")
    ax.barh(rows, np.full(len(rows), breakdown.activations_gb), 0.55, left=lefts,
            label=activations.label, **activations.fill)
    adapters = meanings.component("adapters")
    ax.barh([rows[0]], [0], 0.55, label=f"{adapters.label}' share (hatched)", **adapters.fill)
    # the GPUs: dotted lines, named above the axes
    reference = meanings.role("reference")
    for capacity, _ in breakdown.gpus:
        ax.axvline(capacity, color=reference.color, ls=reference.linestyle, lw=0.6)
    top = ax.secondary_xaxis("top")
    top.set_xticks([capacity for capacity, _ in breakdown.gpus],
                   [stacked_gpu_label(label) for _, label in breakdown.gpus], fontsize=SMALL)
    top.tick_params(length=0, pad=2)
    top.spines["top"].set_visible(False)
    # the r = 8 adapters are a hairline: named beside the bar, between two GPU lines
    hairline = breakdown.segments["weights"][1] + breakdown.adapters_gb[1]
    ax.annotate(f"adapters:\n{numbers['LoraAdaptersGB']} GB", (hairline, rows[1] + 0.2),
                xytext=(breakdown.gpus[0][0] + 2, rows[1] + 0.05), ha="left", va="center",
                fontsize=SMALL, arrowprops=arrow_props())
    # the r = 64 adapters by component (their weights and gradients are thin slivers), named
    # between the second and third GPU lines
    block = breakdown.segments["weights"][2] + breakdown.adapters_gb[2] / 2
    ax.annotate(f"adapters: {numbers['LoraAllAdaptersGB']} GB\n"
                f"{numbers['LoraAllAdapterWeightsGB']} weights\n"
                f"{numbers['LoraAllAdapterGradientsGB']} gradients\n"
                f"{numbers['LoraAllAdapterOptimizerStatesGB']} optimizer states",
                (block, rows[2] - 0.2), xytext=(breakdown.gpus[1][0] + 2, rows[2] - 0.05),
                ha="left", va="center", fontsize=SMALL, arrowprops=arrow_props())
    # each row: its setup, its model states and the activations they all need
    keys = ("FullStatesGB", "LoraStatesGB", "LoraAllStatesGB")
    ax.set_yticks(rows, [f"{setup}\n{numbers[key]} GB model states\n"
                         f"+ {numbers['ActivationGB']} GB activations"
                         for setup, key in zip(breakdown.setups, keys, strict=True)])
    ax.set_xlim(0, breakdown.totals.max() * 1.04)
    ax.set_xlabel(f"GB ({MODEL.name}), GB = $10^9$ bytes")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
               ncols=3 if fig.get_figwidth() < NARROW_IN else 5, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
#: The choices of adapted matrices compared on LLaMA-7B: (targets, label).
MODULE_CHOICES = ((("q",), "$W_q$"), (("v",), "$W_v$"), (("q", "v"), "$W_q, W_v$"),
                  (("q", "k", "v", "o"), "attention (4)"), (("gate", "up", "down"), "MLP (3)"),
                  (memory.ALL_LINEAR, "all linear (7)"))


@dataclass(frozen=True)
class ModuleSelection:
    """Trainable parameters of each choice of adapted matrices on LLaMA-7B, and LoRA Table 5
    with its per-task seed s.d. and the WikiSQL gap the caption weighs against it."""
    choices: tuple[str, ...]
    trainable_millions: np.ndarray      # per choice, at rank RANK
    table: tuple[published.ModuleSelectionRow, ...]
    wikisql_std: float                  # seed s.d. of one run, percentage points
    multinli_std: float
    wikisql_gap: float                  # worst W_v-or-W_o choice minus best W_q or W_k alone
    gap_single_sds: float               # the gap in seed s.d. of one run
    gap_difference_sds: float           # the gap in s.d. of a difference of two runs
    accuracy_span: float                # the x span panels b and c both show, points
    numbers: Numbers


def wikisql_gap(table=published.MODULE_SELECTION) -> float:
    """How far every Table 5 choice with W_v or W_o is ahead of W_q or W_k alone on WikiSQL:
    the worst of the first minus the best of the second, in points (73.0 - 70.4 = 2.6)."""
    with_v_or_o = [row.wikisql for row in table if {"v", "o"} & set(row.weight_types)]
    alone = [row.wikisql for row in table if row.weight_types in (("q",), ("k",))]
    return round(min(with_v_or_o) - max(alone), 10)


#: The caption's comparison: the gap in s.d. of a difference of two runs, each with the seed
#: s.d. of Table 5 (sqrt(2) times one run's).
GAP_DIFFERENCE_SDS = wikisql_gap() / (published.WIKISQL_SEED_STD_PCT * np.sqrt(2))


def module_selection_result() -> ModuleSelection:
    counts = [memory.lora_parameters(MODEL, RANK, targets) for targets, _ in MODULE_CHOICES]
    table = published.MODULE_SELECTION
    best = max(table, key=lambda row: row.wikisql + row.multinli)
    gap = wikisql_gap(table)
    single = gap / published.WIKISQL_SEED_STD_PCT
    # one x span for both tasks, so that a seed s.d. of 0.5 and one of 0.1 look as they are
    span = 1.24 * max(max(values) - min(values) + 2 * std for values, std in (
        ([row.wikisql for row in table], published.WIKISQL_SEED_STD_PCT),
        ([row.multinli for row in table], published.MULTINLI_SEED_STD_PCT)))
    numbers = Numbers()
    numbers.add("QvParamsSevenB", counts[2], ",d")
    numbers.add("AllLinearParamsSevenB", counts[-1], ",d")
    numbers.add("BestWikiSql", best.wikisql, ".1f")
    numbers.add("BestMultiNli", best.multinli, ".1f")
    numbers.add("BudgetParams", costs.module_selection_parameters()[table[0].label], ",d")
    numbers.add("WikiSqlSeedSd", published.WIKISQL_SEED_STD_PCT, ".1f")
    numbers.add("MultiNliSeedSd", published.MULTINLI_SEED_STD_PCT, ".1f")
    numbers.add("WikiSqlGap", gap, ".1f")
    numbers.add("WikiSqlGapSingleSds", single, ".1f")
    numbers.add("WikiSqlGapDifferenceSds", GAP_DIFFERENCE_SDS, ".1f")
    numbers.add("AccuracySpan", span, ".1f")
    return ModuleSelection(choices=tuple(label for _, label in MODULE_CHOICES),
                           trainable_millions=np.array(counts) / 1e6, table=table,
                           wikisql_std=published.WIKISQL_SEED_STD_PCT,
                           multinli_std=published.MULTINLI_SEED_STD_PCT, wikisql_gap=gap,
                           gap_single_sds=single, gap_difference_sds=GAP_DIFFERENCE_SDS,
                           accuracy_span=span, numbers=numbers)


@FIGURES.figure(
    caption=f"Which matrices to adapt: (a) cost at a fixed rank ({MODEL.name}, $r$ = "
            f"{RANK}); (b, c) GPT-3 175B accuracies at a fixed "
            f"{published.MODULE_SELECTION_BUDGET / 1e6:.0f}M-parameter budget, rank falling "
            "as matrices are added (LoRA Table 5; bars: per-task seed s.d.; equal axis "
            "widths): on WikiSQL every choice with $W_v$ or $W_o$ beats $W_q$ or $W_k$ alone by "
            f"at least {wikisql_gap():.1f} points, {GAP_DIFFERENCE_SDS:.1f} s.d. of a difference "
            "of two runs; on MultiNLI all lie within one point.",
    result=module_selection_result, width=1.0, aspect=0.62)
def module_selection(fig, selection: ModuleSelection):
    # (a) is another model and setting than (b, c): a row of its own, above them
    grid = fig.add_gridspec(2, 2, height_ratios=[0.75, 1])
    ax_a = fig.add_subplot(grid[0, :])
    ax_b = fig.add_subplot(grid[1, 0])
    ax_c = fig.add_subplot(grid[1, 1], sharey=ax_b)
    millions = selection.trainable_millions
    rows = np.arange(len(selection.choices))[::-1]
    ax_a.barh(rows, millions, 0.6, **meanings.method("lora").fill)
    for row, value in zip(rows, millions, strict=True):
        ax_a.text(value + max(millions) * 0.02, row, f"{value:.1f}M", va="center",
                  fontsize=SMALL)
    ax_a.set_yticks(rows, list(selection.choices))
    ax_a.set_xlim(0, max(millions) * 1.12)
    ax_a.set_xlabel("trainable parameters (millions)")
    panel_title(ax_a, "a", f"Cost at a fixed rank: {MODEL.name}, $r$ = {RANK}")

    table = selection.table
    names = [row.label.replace("W", "W_").replace("W_q, W_k, W_v, W_o", "all four")
             for row in table]
    names = [f"${n}$" if n != "all four" else n for n in names]
    names = [f"{n} ($r$ = {row.rank})" for n, row in zip(names, table, strict=True)]
    y = np.arange(len(table))[::-1]
    published_style = meanings.role("published").line
    numbers = selection.numbers
    half = selection.accuracy_span / 2
    for ax, letter, task, values, std, key in (
            (ax_b, "b", "WikiSQL", [row.wikisql for row in table], selection.wikisql_std,
             "WikiSqlSeedSd"),
            (ax_c, "c", "MultiNLI", [row.multinli for row in table], selection.multinli_std,
             "MultiNliSeedSd")):
        ax.errorbar(values, y, xerr=std, capsize=2, markersize=4, elinewidth=0.8,
                    **published_style)
        # the same width on both axes, each centred on its task's values
        middle = (min(values) + max(values)) / 2
        ax.set_xlim(middle - half, middle + half)
        # what the bars are, under the axis they are read on (not mistaken for a data point)
        ax.set_xlabel(f"accuracy (%), {published.MODULE_SELECTION_BUDGET / 1e6:.0f}M trained\n"
                      f"bars: $\\pm${numbers[key]}, seed s.d.")
        panel_title(ax, letter, f"{task}, GPT-3 175B")
    ax_b.set_yticks(y, names)
    ax_b.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax_c.tick_params(labelleft=False)


# --------------------------------------------------------------------------------------------
#: The configuration the variants are compared in: QLoRA's, rank 64 on all linear layers.
VARIANT_RANK, VARIANT_TARGETS = SCALE_RANK, memory.ALL_LINEAR
#: How each variant's count is written beside its dot (LaTeX), from its formula.
VARIANT_FORMULAS = {"AdaLoRA": "r_0(d+k) + r_0"}


@dataclass(frozen=True)
class VariantComparison:
    """The LoRA variants on one model and rank: trainable parameters from each paper's formula
    (numerics.lora.costs), their model states in the book's accounting (16 bytes per trained
    parameter), and what each variant's trained parameters add to LoRA's model states on the
    same frozen base (the totals themselves are the memory figures')."""
    rank: int
    targets: str
    variants: tuple[published.LoraVariant, ...]
    allocated_ranks: tuple[int, ...]    # the rank each variant's tensors have (AdaLoRA: 1.5 r)
    trainable: tuple[int, ...]          # per variant, the whole model
    breakdowns: tuple[memory.MemoryBreakdown, ...]
    count_labels: tuple[str, ...]       # the counts as the figure prints them
    share_of_lora_pct: np.ndarray       # per variant: trainable parameters, % of LoRA's
    share_labels: tuple[str, ...]       # the same as the figure prints them
    over_lora_gb: np.ndarray            # per variant: adapter model states minus LoRA's, GB
    over_lora_labels: tuple[str, ...]   # the same as the figure prints them (signed)
    numbers: Numbers


def variant_key(name: str) -> str:
    """'LoRA+' -> 'LoRAPlus' (macro keys take letters only)."""
    return "".join(ch for ch in name if ch.isalpha()) + ("Plus" if "+" in name else "")


def adapter_states(breakdown: memory.MemoryBreakdown) -> float:
    """Bytes of a breakdown's trained parameters: weights, gradients and optimizer states."""
    return (breakdown.adapter_weights + breakdown.adapter_gradients
            + breakdown.adapter_optimizer_states)


def lora_variants_result() -> VariantComparison:
    numbers = Numbers()
    ranks, trainable, breakdowns, count_labels = [], [], [], []
    for variant in published.VARIANTS:
        rank = costs.allocated_rank(variant, VARIANT_RANK)
        count = costs.model_variant_parameters(MODEL, variant, rank, VARIANT_TARGETS)
        breakdown = costs.variant_memory(MODEL, variant, VARIANT_RANK, VARIANT_TARGETS, RECIPE)
        count_labels.append(numbers.add(f"Params{variant_key(variant.name)}", count / 1e6,
                                        ".4g"))
        ranks.append(rank)
        trainable.append(count)
        breakdowns.append(breakdown)
    numbers.add("VariantRank", VARIANT_RANK, "d")
    numbers.add("AdaLoraStartRank", ranks[[v.name for v in published.VARIANTS].index("AdaLoRA")],
                "d")
    names = [variant.name for variant in published.VARIANTS]
    lora_index = names.index("LoRA")
    share = 100 * np.array(trainable) / trainable[lora_index]
    share_labels = tuple(numbers.add(f"Params{variant_key(name)}OfLoraPct", pct,
                                     ".2g" if pct < 10 else ".1f")
                         for name, pct in zip(names, share, strict=True))
    over = np.array([adapter_states(b) - adapter_states(breakdowns[lora_index])
                     for b in breakdowns]) / memory.GB
    over_labels = tuple(numbers.add(f"States{variant_key(name)}OverLoraGB", gb, "+.2f")
                        for name, gb in zip(names, over, strict=True))
    numbers.add("BytesPerVariantParam", RECIPE.bytes_per_param, "g")
    return VariantComparison(
        rank=VARIANT_RANK, targets=VARIANT_TARGETS, variants=published.VARIANTS,
        allocated_ranks=tuple(ranks), trainable=tuple(trainable), breakdowns=tuple(breakdowns),
        count_labels=tuple(count_labels), share_of_lora_pct=share, share_labels=share_labels,
        over_lora_gb=over, over_lora_labels=over_labels, numbers=numbers)


@FIGURES.figure(
    caption=f"Six LoRA variants on {MODEL.name} at rank {VARIANT_RANK} on all linear layers (ideas "
            "and papers: the table of the same name): trainable parameters by each paper's "
            "formula, as a share of LoRA's (AdaLoRA starts at $r_0 = 1.5r$), and the model "
            "states they add to LoRA's or save at "
            f"{RECIPE.bytes_per_param:g} bytes per trained parameter on the same frozen base "
            "(QLoRA stores that base in 4 bits: the memory figures).",
    result=lora_variants_result, width=1.0, aspect=0.36)
def lora_variants(fig, comparison: VariantComparison):
    ax = fig.subplots()
    rows = np.arange(len(comparison.variants))[::-1]
    millions = np.array(comparison.trainable, float) / 1e6
    ours = meanings.role("ours")
    # a linear axis from 0: equal counts sit on one line, and each dot is labelled with its
    # count, its share of LoRA's and the model states it adds to LoRA's, so the nearly equal
    # ones can still be read apart
    ax.plot(millions, rows, ls="none", marker=ours.marker, color=ours.color, markersize=4.5)
    for row, count, label, share, gb, label_over, variant in zip(
            rows, millions, comparison.count_labels, comparison.share_labels,
            comparison.over_lora_gb, comparison.over_lora_labels, comparison.variants,
            strict=True):
        if variant.name == "LoRA":
            text = f"{label}M, the reference"
        else:
            states = (f"model states {label_over} GB" if gb
                      else "the same adapter states")
            base = ", 4-bit base" if variant.name == "QLoRA" else ""
            text = f"{label}M, {share} % of LoRA's\n{states}{base}"
        ax.annotate(text, (count, row), xytext=(6, 0), textcoords="offset points",
                    ha="left", va="center", fontsize=SMALL)
    # the axis starts a little left of 0, so that VeRA's dot near 0 is not cut by it
    reach = millions.max() * (2.0 if fig.get_figwidth() < NARROW_IN else 1.75)
    ax.set_xlim(-0.02 * reach, reach)
    # each variant with its count per matrix ($d$ outputs, $k$ inputs, rank $r$)
    ax.set_yticks(rows, [f"{variant.name}: "
                         f"${VARIANT_FORMULAS.get(variant.name, variant.formula)}$"
                         for variant in comparison.variants])
    ax.set_ylim(rows.min() - 0.6, rows.max() + 0.6)
    ax.set_xlabel("trainable parameters (millions)")


def lora_variants_table(comparison: VariantComparison) -> latex.Table:
    """The same variants as a LaTeX booktabs table (images/lora/tables.tex): idea, paper,
    formula and the counts of the figure."""
    rows = tuple((latex.escape(variant.name),
                  f"{latex.escape(variant.citation)}\\newline arXiv {latex.escape(variant.arxiv)}",
                  latex.escape(variant.key_idea), f"${variant.formula}$", f"{label}M")
                 for variant, label in zip(comparison.variants, comparison.count_labels,
                                           strict=True))
    adalora = comparison.allocated_ranks[[v.name for v in comparison.variants].index("AdaLoRA")]
    return latex.Table(
        name="lora_variants",
        caption="Six LoRA variants: the key idea of each, its trainable parameters per adapted "
                "matrix ($d$ outputs, $k$ inputs, rank $r$) from its paper's formula, and their "
                f"sum over {MODEL.name}'s linear layers at rank {comparison.rank}.",
        header=("Method", "Paper", "Key idea", "Per matrix",
                f"{MODEL.name}, $r = {comparison.rank}$"),
        rows=rows, align="lp{3.2cm}p{5.2cm}cr",
        notes=(f"AdaLoRA is counted at its initial rank $r_0 = {adalora}$: it starts with 1.5 "
               "times the final budget of singular values and prunes to it, keeping $P$ and "
               "$Q$.",))


FIGURES.add_file(lambda: {"tables.tex": latex.tables_tex(
    FIGURES.topic, [lora_variants_table(lora_variants_result())])})


# --------------------------------------------------------------------------------------------
LATENCY_RANK, LATENCY_TARGETS, POSITIONS = 8, ("q", "v"), 128
#: The weights LoRA r = 8 on W_q, W_v trains on LLaMA-7B; each adapter design is counted at the
#: bottleneck whose two matrices hold as many (numerics.lora.costs.equal_weight_bottleneck).
LATENCY_WEIGHTS = memory.lora_parameters(MODEL, LATENCY_RANK, LATENCY_TARGETS)
BOTTLENECKS = {design: costs.equal_weight_bottleneck(MODEL, design, LATENCY_WEIGHTS)
               for design in ("adapter_lin", "adapter_houlsby")}
#: The methods whose extra operations are counted: (method, label, rank or bottleneck).
COUNTED_METHODS = (("lora_merged", f"LoRA $r$ = {LATENCY_RANK}, merged", LATENCY_RANK),
                   ("lora_unmerged", f"LoRA $r$ = {LATENCY_RANK}, unmerged", LATENCY_RANK),
                   ("adapter_lin", "AdapterL, one per block", BOTTLENECKS["adapter_lin"]),
                   ("adapter_houlsby", "AdapterH, two per block", BOTTLENECKS["adapter_houlsby"]))
#: LoRA Table 1's slow-downs at batch 1 (the largest), AdapterL and AdapterH: the caption's.
BATCH_ONE_INCREASE = tuple(
    costs.latency_increase_pct(row)[[s.batch_size for s in published.LATENCY_SETTINGS].index(1)]
    for row in published.INFERENCE_LATENCY[1:])
#: The bound the caption gives every counted method's extra operations.
EXTRA_PCT_BOUND = 0.1
#: Shade of the adapters' colour per counted method: Houlsby's two adapters per block (the
#: book's "adapter layers") in full, Lin et al.'s one per block (AdapterL) pale, in both panels.
ONE_ADAPTER_TINT = 0.5


@dataclass(frozen=True)
class InferenceCost:
    """Extra operations per token on LLaMA-7B (counted), every method at the same weights in its
    matrices, and LoRA Table 1's latencies with their trial spread."""
    methods: tuple[str, ...]            # labels of the counted methods
    keys: tuple[str, ...]               # their numerics.lora.costs names
    sizes: tuple[int, ...]              # rank (LoRA) or bottleneck (adapters)
    is_lora: tuple[bool, ...]
    matrix_weights: tuple[int, ...]     # weights of the trained matrices (equal by design)
    trained: tuple[int, ...]            # every trained parameter, adapters' biases and norms too
    trained_labels: tuple[str, ...]     # the same in millions, as the figure prints them
    extra_pct: tuple[float, ...]        # extra operations per token, % of the base model's
    extra_labels: tuple[str, ...]
    serial_layers: tuple[int, ...]      # layers the method adds in sequence
    settings: tuple[str, ...]           # Table 1's columns, with its adapters' parameters
    one_adapter_increase: tuple[float, ...]   # latency increase (%), AdapterL
    two_adapter_increase: tuple[float, ...]   # latency increase (%), AdapterH
    one_adapter_sd: tuple[float, ...]         # +-1 s.d. of one trial's increase (%), AdapterL
    two_adapter_sd: tuple[float, ...]         # the same, AdapterH
    increase_labels: tuple[tuple[str, ...], ...]  # (AdapterL, AdapterH) as printed
    numbers: Numbers


def inference_speed_comparison_result() -> InferenceCost:
    keys = tuple(m for m, _, _ in COUNTED_METHODS)
    sizes = tuple(size for _, _, size in COUNTED_METHODS)
    targets = {m: LATENCY_TARGETS if m.startswith("lora") else None for m in keys}
    percents = tuple(costs.extra_compute_pct(MODEL, m, size, POSITIONS, targets[m])
                     for m, size in zip(keys, sizes, strict=True))
    serial = tuple(costs.extra_compute_per_token(MODEL, m, size, targets[m]).serial_layers
                   for m, size in zip(keys, sizes, strict=True))
    weights = tuple(memory.lora_parameters(MODEL, size, LATENCY_TARGETS) if m.startswith("lora")
                    else costs.adapter_weight_parameters(MODEL, m, size)
                    for m, size in zip(keys, sizes, strict=True))
    trained = tuple(w if m.startswith("lora") else costs.adapter_parameters(MODEL, m, size)
                    for m, size, w in zip(keys, sizes, weights, strict=True))
    rows = {row.method: row for row in published.INFERENCE_LATENCY[1:]}
    increase = {name: costs.latency_increase_pct(row) for name, row in rows.items()}
    spread = {name: costs.latency_increase_sd_pct(row) for name, row in rows.items()}
    numbers = Numbers()
    numbers.add("EqualWeights", LATENCY_WEIGHTS, ",d")
    numbers.add("AdapterLBottleneck", BOTTLENECKS["adapter_lin"], "d")
    numbers.add("AdapterHBottleneck", BOTTLENECKS["adapter_houlsby"], "d")
    trained_labels = tuple(numbers.add(f"Trained{key}", n / 1e6, ".2f") for key, n in zip(
        ("LoraMerged", "LoraUnmerged", "AdapterL", "AdapterH"), trained, strict=True))
    extra_labels = tuple(numbers.add(f"ExtraPct{key}", pct, ".3f") for key, pct in zip(
        ("LoraMerged", "LoraUnmerged", "AdapterL", "AdapterH"), percents, strict=True))
    numbers.add("UnmergedExtraPct", percents[1], ".3f")
    numbers.add("HoulsbyExtraPct", percents[3], ".3f")
    numbers.add("ExtraPctBound", EXTRA_PCT_BOUND, "g")
    numbers.add("LatencyBatchOneAdapterLPct", BATCH_ONE_INCREASE[0], ".1f")
    numbers.add("LatencyWorstPct", max(increase["AdapterH"]), ".1f")
    increase_labels = tuple(tuple(f"{v:.1f}" for v in increase[name])
                            for name in ("AdapterL", "AdapterH"))
    return InferenceCost(
        methods=tuple(label for _, label, _ in COUNTED_METHODS), keys=keys, sizes=sizes,
        is_lora=tuple(m.startswith("lora") for m in keys), matrix_weights=weights,
        trained=trained, trained_labels=trained_labels, extra_pct=percents,
        extra_labels=extra_labels, serial_layers=serial,
        settings=tuple(f"batch {s.batch_size}, length {s.sequence_length}\n"
                       f"adapters: {s.adapter_parameters / 1e6:g}M parameters"
                       for s in published.LATENCY_SETTINGS),
        one_adapter_increase=increase["AdapterL"], two_adapter_increase=increase["AdapterH"],
        one_adapter_sd=spread["AdapterL"], two_adapter_sd=spread["AdapterH"],
        increase_labels=increase_labels, numbers=numbers)


@FIGURES.figure(
    caption="Inference cost of adapters at equal weights "
            f"({LATENCY_WEIGHTS:,} in their matrices: LoRA $r$ = {LATENCY_RANK} on "
            f"$W_q, W_v$, bottleneck {BOTTLENECKS['adapter_lin']} for AdapterL, "
            f"{BOTTLENECKS['adapter_houlsby']} for AdapterH; all they train under each name): "
            f"(a) each adds under {EXTRA_PCT_BOUND:g}\\,\\% operations per token on "
            f"{MODEL.name}; (b) yet {published.LATENCY_MODEL.name}'s latency rose "
            f"{BATCH_ONE_INCREASE[0]:.1f}\\,\\% and {BATCH_ONE_INCREASE[1]:.1f}\\,\\% at "
            "batch 1 (LoRA Table 1; whiskers: $\\pm 1$ s.d. of a trial), as adapter layers run "
            "in sequence.",
    result=inference_speed_comparison_result, width=1.0, height=3.9)
def inference_speed_comparison(fig, cost: InferenceCost):
    ax_a, ax_b = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.25]})
    rows = np.arange(len(cost.methods))[::-1]
    percents = cost.extra_pct
    lora, adapter = meanings.method("lora").color, meanings.method("adapter_layers").color
    # one colour per design in both panels: LoRA green, AdapterL pale wine, AdapterH wine
    design = {"adapter_lin": tint(adapter, ONE_ADAPTER_TINT), "adapter_houlsby": adapter}
    ax_a.barh(rows, percents, 0.6, color=[design.get(key, lora) for key in cost.keys])
    for row, pct, label in zip(rows, percents, cost.extra_labels, strict=True):
        ax_a.text(pct + max(percents) * 0.02, row, f"{label} %", va="center", fontsize=SMALL)
    # each method with its size, what it trains and the layers it adds one after another
    names = []
    for method, key, size, trained, extra in zip(cost.methods, cost.keys, cost.sizes,
                                                 cost.trained_labels, cost.serial_layers,
                                                 strict=True):
        head = method if key.startswith("lora") else method.replace(", ", f", $m$ = {size}, ")
        tail = f", +{extra} layers in sequence" if extra else ""
        names.append(f"{head}\n{trained}M trained{tail}")
    ax_a.set_yticks(rows, names)
    ax_a.set_xlim(0, max(percents) * 1.25)
    ax_a.set_xlabel(f"extra operations per token (%), {POSITIONS} positions")
    panel_title(ax_a, "a", f"Counted on {MODEL.name}, equal weights")

    # the two adapter designs in the colours of (a), named as there
    values = {cost.methods[2]: cost.one_adapter_increase,
              cost.methods[3]: cost.two_adapter_increase}
    containers = grouped_bars(ax_b, list(cost.settings), values,
                              (design["adapter_lin"], design["adapter_houlsby"]), width=0.75,
                              horizontal=True)
    reach = max(v + sd for v, sd in zip(cost.two_adapter_increase, cost.two_adapter_sd,
                                        strict=True))
    for container, increases, spreads, labels in zip(
            containers, values.values(), (cost.one_adapter_sd, cost.two_adapter_sd),
            cost.increase_labels, strict=True):
        centres = [bar.get_y() + bar.get_height() / 2 for bar in container]
        ax_b.errorbar(increases, centres, xerr=spreads, fmt="none", color=INK, ecolor=INK,
                      elinewidth=0.7, capsize=1.5, capthick=0.7)
        for y, v, sd, label in zip(centres, increases, spreads, labels, strict=True):
            ax_b.text(v + sd + reach * 0.015, y, f"{label} %", va="center", fontsize=SMALL)
    ax_b.invert_yaxis()
    ax_b.set_xlim(0, reach * 1.12)
    ax_b.set_xlabel("latency increase over merged LoRA (%)")
    ax_b.legend(loc="upper right", fontsize=SMALL)
    panel_title(ax_b, "b", f"Measured, {published.LATENCY_MODEL.name} (LoRA Table 1)")


# --------------------------------------------------------------------------------------------
#: Where rank_comparison (c) starts on the sequential map: its darkest colours are too near
#: full fine-tuning's indigo under colour-vision deficiency.
RANK_MAP_LOW = 0.25


@dataclass(frozen=True)
class RankComparison:
    """The toy model fine-tuned with LoRA at several ranks, alpha = r (so alpha / r = 1 at every
    rank), on the teacher task (numerics.lora.data.teacher_task): held-out accuracy per rank and
    seed and the training-loss curves, against full fine-tuning (one deterministic run)."""
    toy_ranks: np.ndarray
    toy_trainable: np.ndarray           # trainable parameters per toy rank
    alphas: np.ndarray                  # per rank
    output_rank_cap: int                # the largest rank Delta W3 (2 x 16) can have
    seed_accuracy_pct: np.ndarray       # (rank, seed), held-out accuracy in %
    mean_accuracy_pct: np.ndarray       # per rank, mean over seeds
    seed_train_loss: np.ndarray         # (rank, seed), training loss after the last step
    mean_train_loss: np.ndarray
    steps_axis: np.ndarray              # 0 .. steps
    median_curve: np.ndarray            # (rank, step): median training loss over the seeds
    full_curve: np.ndarray              # (step,): full fine-tuning's training loss
    last_quarter_drop_pct: np.ndarray   # per rank: median loss fall over the last quarter, %
    full_accuracy_pct: float
    full_train_loss: float
    full_params: int
    base_accuracy_pct: float
    steps: int
    n_train: int
    n_test: int
    numbers: Numbers


def rank_comparison_result() -> RankComparison:
    sweep = toy_runs.load("rank_sweep")
    numbers = Numbers()
    mean_pct = 100 * sweep.mean_test_accuracy
    mean_loss = sweep.train_loss.mean(axis=1)
    median_curve = np.median(sweep.train_curve, axis=1)
    quarter = sweep.steps - sweep.steps // 4
    drop = 100 * (1 - median_curve[:, -1] / median_curve[:, quarter])
    output_shape = experiments.toy_model().shapes[-1]
    numbers.add("ToyFullAccuracy", 100 * sweep.full_test_accuracy, ".1f")
    numbers.add("ToyFullTrainLoss", sweep.full_train_loss, ".3f")
    numbers.add("ToyBaseAccuracy", 100 * sweep.base_test_accuracy, ".0f")
    numbers.add("ToyFullParams", sweep.full_params, "d")
    numbers.add("ToySeeds", len(sweep.seeds), "d")
    numbers.add("ToyTestInputs", sweep.n_test, ",d")
    numbers.add("ToyTrainInputs", sweep.n_train, ",d")
    numbers.add("ToySweepSteps", sweep.steps, "d")
    numbers.add("ToyLastQuarterDropMin", float(drop.min()), ".0f")
    for rank, accuracy, loss in zip(sweep.ranks, mean_pct, mean_loss, strict=True):
        numbers.add(f"ToyAccuracyRank{spell(int(rank))}", accuracy, ".1f")
        numbers.add(f"ToyTrainLossRank{spell(int(rank))}", loss, ".2f")
    return RankComparison(
        toy_ranks=np.array(sweep.ranks), toy_trainable=sweep.trainable_params,
        alphas=np.asarray(sweep.alphas), output_rank_cap=min(output_shape),
        seed_accuracy_pct=100 * sweep.test_accuracy, mean_accuracy_pct=mean_pct,
        seed_train_loss=sweep.train_loss, mean_train_loss=mean_loss,
        steps_axis=np.arange(sweep.steps + 1), median_curve=median_curve,
        full_curve=np.asarray(sweep.full_train_curve), last_quarter_drop_pct=drop,
        full_accuracy_pct=100 * sweep.full_test_accuracy, full_train_loss=sweep.full_train_loss,
        full_params=sweep.full_params, base_accuracy_pct=100 * sweep.base_test_accuracy,
        steps=sweep.steps, n_train=sweep.n_train, n_test=sweep.n_test, numbers=numbers)


@FIGURES.figure(
    caption="LoRA on a task new to the toy (teacher labels; "
            f"{TEACHER_TRAIN:,} inputs to train on, {TEACHER_TEST:,} to test), $\\alpha = r$, "
            f"{len(toy_runs.SEEDS)} seeds, vs full fine-tuning of all {TOY_PARAMS} parameters "
            "(one deterministic run): (a) held-out accuracy (mean) rises up to $r = 4$, then "
            "levels off ($\\Delta W_3$ has rank $\\leq 2$); (b) final training loss (median) "
            "falls with rank, seeds apart up to $r = 3$, then overlapping; (c) medians still "
            "falling.",
    result=rank_comparison_result, width=1.0, aspect=0.66)
def rank_comparison(fig, comparison: RankComparison):
    # the two panels over the rank side by side, the curves over the steps below them
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1])
    ax_a, ax_b = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_c = fig.add_subplot(grid[1, :])
    lora, full = meanings.method("lora"), meanings.method("full")
    r = comparison.toy_ranks
    numbers = comparison.numbers
    seeds = len(comparison.seed_accuracy_pct.T)
    ticks = [f"{v}\n({n})" for v, n in zip(r, comparison.toy_trainable, strict=True)]
    # (a) held-out accuracy per rank: every seed a dot, the mean a line
    for values in comparison.seed_accuracy_pct.T:
        ax_a.plot(r, values, ls="none", marker="o", markersize=2.5, color=tint(lora.color, 0.45))
    ax_a.plot(r, comparison.mean_accuracy_pct, color=lora.color, marker=lora.marker,
              markersize=4)
    ax_a.annotate(f"LoRA, mean of {seeds} seeds",
                  (r[1], comparison.mean_accuracy_pct[1]), xytext=(6, -4),
                  textcoords="offset points", ha="left", va="top", fontsize=SMALL,
                  color=lora.color)
    # full fine-tuning: one deterministic run, a level in its own colour
    ax_a.axhline(comparison.full_accuracy_pct, color=full.color, lw=1.0)
    ax_a.text(r[0], comparison.full_accuracy_pct,
              f"full fine-tuning (one run): {numbers['ToyFullAccuracy']} %", ha="left",
              va="bottom", fontsize=SMALL, color=full.color)
    ax_a.set_ylabel("held-out accuracy (%)")
    ax_a.set_ylim(np.floor(comparison.seed_accuracy_pct.min()) - 1,
                  np.ceil(comparison.full_accuracy_pct) + 1.5)
    ax_a.text(0.98, 0.04, f"base model alone: {numbers['ToyBaseAccuracy']} %",
              transform=ax_a.transAxes, ha="right", va="bottom", fontsize=SMALL, color=MUTED)
    panel_title(ax_a, "a", "Held-out accuracy")

    # (b) the training loss after the last step, as (a): every seed a dot, the median a line
    for values in comparison.seed_train_loss.T:
        ax_b.plot(r, values, ls="none", marker="o", markersize=2.5, color=tint(lora.color, 0.45))
    ax_b.plot(r, comparison.median_curve[:, -1], color=lora.color, marker=lora.marker,
              markersize=4)
    ax_b.annotate(f"LoRA, median of {seeds} seeds", (r[1], comparison.median_curve[1, -1]),
                  xytext=(6, 4), textcoords="offset points", ha="left", va="bottom",
                  fontsize=SMALL, color=lora.color)
    ax_b.axhline(comparison.full_train_loss, color=full.color, lw=1.0)
    ax_b.text(r[0], comparison.full_train_loss,
              f"full fine-tuning: {numbers['ToyFullTrainLoss']}", ha="left", va="bottom",
              fontsize=SMALL, color=full.color)
    ax_b.set_ylim(0, comparison.seed_train_loss.max() * 1.1)
    ax_b.set_ylabel("final training loss")
    panel_title(ax_b, "b", "Fit to the training inputs")
    for ax in (ax_a, ax_b):
        ax.set_xticks(r, ticks)
        ax.set_xlim(r[0] - 0.4, r[-1] + 0.4)
        ax.set_xlabel("rank $r$ (trainable parameters)")

    # (c) the training loss over the steps: every rank's median over the seeds a line in the
    # colour of its rank (ordered values; the map's dark end left out, as too near full
    # fine-tuning's indigo), each named in ink at its end; full fine-tuning in its own colour
    steps = comparison.steps_axis
    colours = list(meanings.ordered(len(r), low=RANK_MAP_LOW)) + [full.color]
    curves = list(comparison.median_curve) + [comparison.full_curve]
    names = [f"$r$ = {rank}" for rank in r] + ["full"]
    for curve, colour in zip(curves, colours, strict=True):
        ax_c.plot(steps, curve, color=colour, lw=1.1)
    # a log axis: the slow fall after the first 50 steps stays visible; room at the right for
    # each line's name at its end, the names pushed apart to one line of text each
    low, high = float(np.min(curves)) / 1.4, float(np.max(curves)) * 1.3
    ax_c.set_yscale("log")
    ax_c.set_ylim(low, high)
    ax_c.yaxis.set_major_formatter(lambda value, _: f"{value:g}")
    ax_c.yaxis.set_minor_formatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25"
                                   else "")
    ax_c.set_xlim(0, steps[-1] * 1.12)
    ax_c.set_xticks(np.arange(0, steps[-1] + 1, 100))
    # one line of text apart, in data units of the log axis (the panel is about 0.35 of the
    # figure's height), each name joined to its line's end by a short leader
    line = SMALL / 72 * 1.1 / (0.35 * fig.get_figheight())
    ends = 10 ** spread_apart([np.log10(curve[-1]) for curve in curves],
                              line * np.log10(high / low))
    for curve, colour, name, end in zip(curves, colours, names, ends, strict=True):
        ax_c.plot([steps[-1], steps[-1] * 1.03], [curve[-1], end], color=colour, lw=0.7)
        ax_c.text(steps[-1] * 1.035, end, name, ha="left", va="center", fontsize=SMALL,
                  color=INK)
    ax_c.set_xlabel("full-batch step")
    ax_c.set_ylabel("training loss")
    panel_title(ax_c, "c", f"Training loss, median of {seeds} seeds")



# --------------------------------------------------------------------------------------------
EARLY_STEP = 10  # the step at which panel b compares the training loss


@dataclass(frozen=True)
class ScalingImpact:
    """The toy model under alpha fixed and alpha = r, adapters on the hidden 16 x 16 layer only:
    first update and early loss per rank and seed. First axis of the arrays: scheme (0: alpha
    fixed, 1: alpha = r)."""
    ranks: np.ndarray
    trainable: np.ndarray               # adapter parameters per rank
    layer_shape: tuple[int, int]        # (d, k) of the adapted layer
    alpha_fixed: float
    seeds: int
    first_step_norm: np.ndarray         # (scheme, rank, seed): ||Delta W||_F after one step
    early_loss: np.ndarray              # (scheme, rank, seed): training loss after EARLY_STEP
    early_step: int
    slopes: np.ndarray                  # (scheme,): slope of log median first step on log r
    numbers: Numbers

    @property
    def median_first_step_norm(self) -> np.ndarray:
        return np.median(self.first_step_norm, axis=-1)

    @property
    def median_early_loss(self) -> np.ndarray:
        return np.median(self.early_loss, axis=-1)


def scaling_factor_impact_result() -> ScalingImpact:
    experiment = toy_runs.load("scaling_experiment")
    first = experiment.delta_norm[..., 1]
    early = experiment.loss[..., EARLY_STEP]
    ranks = np.array(experiment.ranks)
    (layer,) = experiment.layers
    shape = experiments.toy_model().shapes[layer]
    slopes = np.array([np.polyfit(np.log(ranks), np.log(np.median(first[scheme], axis=-1)), 1)[0]
                       for scheme in range(2)])
    numbers = Numbers()
    for scheme, key in enumerate(("Fixed", "Rank")):
        numbers.add(f"FirstStepSlope{key}", slopes[scheme], "+.2f")
        numbers.add(f"EarlyLossRange{key}", np.ptp(np.median(early[scheme], axis=-1)), ".2f")
    numbers.add("EarlyStep", EARLY_STEP, "d")
    numbers.add("ScalingSeeds", len(experiment.seeds), "d")
    numbers.add("ScalingAlpha", experiment.alpha_fixed, "g")
    numbers.add("ScalingMaxRank", ranks.max(), "d")
    numbers.add("ScalingMinParams", int(experiment.trainable_params.min()), "d")
    numbers.add("ScalingMaxParams", int(experiment.trainable_params.max()), "d")
    return ScalingImpact(ranks=ranks, trainable=experiment.trainable_params, layer_shape=shape,
                         alpha_fixed=experiment.alpha_fixed, seeds=len(experiment.seeds),
                         first_step_norm=first, early_loss=early, early_step=EARLY_STEP,
                         slopes=slopes, numbers=numbers)


@FIGURES.figure(
    caption="Scaling $\\alpha/r$ on the toy sentiment task, adapters on the "
            "16 $\\times$ 16 hidden layer only "
            f"({len(toy_runs.SCALING['seeds'])} seeds; lines: medians): (a) under Adam the "
            "first update goes as $\\alpha/\\sqrt{r}$; (b) after "
            f"{EARLY_STEP} steps the loss with $\\alpha$ fixed is about equal at every rank; "
            "with $\\alpha = r$ every seed of a rank below $\\alpha$ is behind every "
            "$\\alpha$-fixed seed of the same rank (same runs at "
            f"$r = \\alpha$ = {toy_runs.SCALING['ranks'][-1]}).",
    result=scaling_factor_impact_result, width=1.0, aspect=0.38)
def scaling_factor_impact(fig, impact: ScalingImpact):
    ranks = impact.ranks
    numbers = impact.numbers
    ax_a, ax_b = fig.subplots(1, 2)
    # two settings of one method: neutral greys, told apart by marker, shade and direct labels
    styles = meanings.unnamed(2)
    names = (f"$\\alpha$ = {impact.alpha_fixed:g} fixed", "$\\alpha = r$")
    # at r = alpha the two schemes are the same runs: one cloud, in ink, not nudged
    same = ranks == impact.alpha_fixed
    for ax, values in ((ax_a, impact.first_step_norm), (ax_b, impact.early_loss)):
        for scheme, style in enumerate(styles):
            # each seed a small dot, nudged sideways per scheme so the two clouds stay apart
            nudge = 2.0 ** ((scheme - 0.5) * 0.14)
            shown = ~same if scheme else np.ones_like(same)
            for seed_values in values[scheme].T:
                ax.plot(np.where(same, ranks, ranks * nudge)[shown], seed_values[shown],
                        ls="none", marker=style["marker"], markersize=2.2, color=style["color"],
                        alpha=0.4)
            ax.plot(ranks, np.median(values[scheme], axis=-1), color=style["color"],
                    ls=style["linestyle"], marker=style["marker"], markersize=4,
                    markevery=list(np.flatnonzero(shown)))
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [f"{r}\n({n})" for r, n in zip(ranks, impact.trainable,
                                                            strict=True)])
        ax.set_xlim(ranks[0] / 1.35, ranks[-1] * 1.35)
        ax.set_xlabel("rank $r$ (trainable parameters)")
    # each scheme named beside its cloud, with the slope of its median in (a)
    # the exported slopes, written as powers (inside math, so without the text's minus sign)
    slopes = tuple(f"{numbers.value(key):+.2f}" for key in ("FirstStepSlopeFixed",
                                                            "FirstStepSlopeRank"))
    for scheme, (name, slope, style) in enumerate(zip(names, slopes, styles, strict=True)):
        top = scheme == 0
        cloud = impact.first_step_norm[scheme, 1]
        ax_a.annotate(f"{name}: $\\propto r^{{{slope}}}$",
                      (ranks[1], cloud.max() if top else cloud.min()),
                      xytext=(4, 5 if top else -5), textcoords="offset points", ha="left",
                      va="bottom" if top else "top", fontsize=SMALL, color=style["color"])
        cloud = impact.early_loss[scheme, 0]
        ax_b.annotate(name, (ranks[0], cloud.min() if top else cloud.max()),
                      xytext=(4, -5 if top else 5), textcoords="offset points", ha="left",
                      va="top" if top else "bottom", fontsize=SMALL, color=style["color"])
    if same.any():
        (shared,) = np.flatnonzero(same)
        ax_a.annotate(f"$r = \\alpha$ = {impact.alpha_fixed:g}:\nthe same runs",
                      (ranks[shared], impact.first_step_norm[0, shared].max()), xytext=(0, 8),
                      textcoords="offset points", ha="center", va="bottom", fontsize=SMALL)
    ax_a.set_yscale("log")
    # plain numbers on the log axis: the decades, and 2 and 5 times them
    ax_a.yaxis.set_major_formatter(lambda value, _: f"{value:g}")
    ax_a.yaxis.set_minor_formatter(lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25"
                                   else "")
    ax_a.set_ylabel("$\\|\\Delta W\\|_F$ after one step")
    ax_b.set_ylabel(f"training loss after {impact.early_step} steps")
    ax_b.set_ylim(0, impact.early_loss.max() * 1.15)
    panel_title(ax_a, "a", "Size of the first update")
    panel_title(ax_b, "b", "Early training")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Merging:
    """Two adapters swapped on one toy base by merging and unmerging: per stage of the swap the
    accuracy on both tasks and the distance of the weights from the base."""
    tasks: tuple[str, ...]
    stages: tuple[str, ...]             # base, then each adapter merged and unmerged
    merged: np.ndarray                  # per stage: is an adapter merged into W?
    accuracy_pct: np.ndarray            # (stage, task) test accuracy in %
    weight_change: np.ndarray           # per stage: largest |W - W0| over all layers
    change_labels: tuple[str, ...]      # the same as the figure prints it
    merge_error: np.ndarray             # per task: largest |logits merged - adapter beside W|
    float_epsilon: float
    chance_pct: float                   # accuracy of always answering the commoner class
    numbers: Numbers


def adapter_merging_result() -> Merging:
    swap = toy_runs.load("adapter_swap")
    numbers = Numbers()
    numbers.add("MergeErrorMax", float(np.max(swap.merge_error)), "sci1")
    numbers.add("UnmergeErrorMax", float(max(np.max(swap.unmerge_error), swap.final_error)),
                "sci1")
    merged = np.array([stage.endswith(" merged") for stage in swap.stages])
    test = load_sentiment().test             # both tasks' labels are balanced on the test split
    chance = 100 * max(max(np.mean(labels == 1), np.mean(labels == 0))
                       for labels in (test.y, test.topic))
    numbers.add("ChancePct", chance, ".0f")
    labels = []
    for stage, change in zip(swap.stages, swap.stage_weight_change, strict=True):
        labels.append(numbers.add(f"WeightChange{spell(stage)}", change,
                                  "sci1" if 0 < change < 1e-6 else ".1f"))
    for task, error in zip(swap.tasks, swap.merge_error, strict=True):
        numbers.add(f"MergeError{task.capitalize()}", error, "sci1")
    for stage, row in zip(swap.stages, 100 * swap.stage_accuracy, strict=True):
        for task, value in zip(swap.tasks, row, strict=True):
            numbers.add(f"Accuracy{spell(stage)}{task.capitalize()}", value, ".1f")
    return Merging(tasks=swap.tasks, stages=swap.stages, merged=merged,
                   accuracy_pct=100 * swap.stage_accuracy,
                   weight_change=swap.stage_weight_change, change_labels=tuple(labels),
                   merge_error=swap.merge_error, float_epsilon=float(np.finfo(float).eps),
                   chance_pct=chance, numbers=numbers)


@FIGURES.figure(
    caption="Swapping two adapters on one toy base by merging, $W' = W_0 + "
            "\\frac{\\alpha}{r}BA$, and unmerging (shaded: merged): (a) the merged model does "
            "its adapter's task and unmerging restores the base's accuracy (on the topic task "
            "trivially: the base is at chance, 50\\,\\%); (b) the weights return to $W_0$ "
            "within float64 rounding, and merged outputs equal those with the adapter beside "
            "$W_0$ to $10^{-14}$.",
    result=adapter_merging_result, width=1.0, height=3.5)
def adapter_merging(fig, merging: Merging):
    ax_a, ax_b = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.1]})
    x = np.arange(len(merging.stages))
    lora = meanings.method("lora").color
    for ax in (ax_a, ax_b):
        for stage in x[merging.merged]:
            ax.axvspan(stage - 0.4, stage + 0.4, color=tint(lora, 0.85), lw=0, zorder=0)
    # (a) the two tasks: series that mean nothing beyond this panel, greys told apart by marker
    for task, values, style in zip(merging.tasks, merging.accuracy_pct.T, meanings.unnamed(2),
                                   strict=True):
        ax_a.plot(x, values, **style, markersize=4.5)
        ax_a.annotate(f"{task} task", (x[-1], values[-1]), xytext=(8, 0),
                      textcoords="offset points", ha="left", va="center", fontsize=SMALL,
                      color=style["color"])
    reference = meanings.role("reference")
    # up to the last stage only: the series' names sit to its right
    ax_a.hlines(merging.chance_pct, -0.5, x[-1], color=reference.color, ls=reference.linestyle,
                lw=0.6)
    ax_a.text(x[0] + 0.45, merging.chance_pct - 1.5, f"chance: {merging.chance_pct:.0f} %",
              ha="left", va="top", fontsize=SMALL, color=MUTED)
    ax_a.set_ylim(40, 105)
    ax_a.set_ylabel("test accuracy (%)")
    panel_title(ax_a, "a", "What the model does")

    # (b) how far the weights are from the base, and how exact a merge is: two measurements,
    # in markers the panel above does not use (ink diamonds, open ink squares), each value
    # written beside it
    weights_style = meanings.unnamed(3)[2]
    outputs_style = {"color": INK, "marker": "s", "markerfacecolor": "white"}
    shown = merging.weight_change > 0
    ax_b.plot(x[shown], merging.weight_change[shown], ls="none", marker=weights_style["marker"],
              color=weights_style["color"], markersize=4.5)
    for stage, change, label in zip(x[shown], merging.weight_change[shown],
                                    np.array(merging.change_labels)[shown], strict=True):
        ax_b.annotate(f"{label}", (stage, change), xytext=(0, 5), textcoords="offset points",
                      ha="center", va="bottom", fontsize=SMALL)
    first = int(np.flatnonzero(merging.merged)[0])
    ax_b.annotate("weights: $|W - W_0|$", (x[first], merging.weight_change[first]),
                  xytext=(8, 0), textcoords="offset points", ha="left", va="center",
                  fontsize=SMALL)
    ax_b.plot(x[merging.merged], merging.merge_error, ls="none", markersize=4.5,
              **outputs_style)
    for task, stage, error in zip(merging.tasks, x[merging.merged], merging.merge_error,
                                  strict=True):
        ax_b.annotate(f"outputs vs unmerged:\n{merging.numbers[f'MergeError{task.capitalize()}']}",
                      (stage, error), xytext=(0, 5), textcoords="offset points", ha="center",
                      va="bottom", fontsize=SMALL, color=outputs_style["color"])
    ax_b.text(x[0], merging.float_epsilon * 30, "exactly 0", ha="center", va="center",
              fontsize=SMALL)
    ax_b.axhline(merging.float_epsilon, color=reference.color, ls=reference.linestyle, lw=0.6)
    ax_b.text(1.01, merging.float_epsilon, "float64\nepsilon",
              transform=ax_b.get_yaxis_transform(), va="center", fontsize=SMALL)
    ax_b.set_yscale("log")
    ax_b.set_ylim(merging.float_epsilon / 30, 300)
    ax_b.set_ylabel("largest absolute difference")
    ax_b.set_xticks(x, [stage.replace(" ", "\n") if stage != "base" else "base $W_0$"
                        for stage in merging.stages])
    ax_b.set_xlim(-0.5, len(x) - 0.5)
    panel_title(ax_b, "b", "Exactness: the weights and the outputs")


# ============================================================================================
# B. The LoRA simulator's views, as static figures of the real toy model (numerics.lora)
# --------------------------------------------------------------------------------------------
def point_to_box(ax, point, box, side=(0.0, 0.5), connection="arc3"):
    """A solid arrow from a data `point` to a side of `box` (a diagram.box), as diagram.link
    draws them between boxes."""
    return ax.annotate("", xy=side, xycoords=box.get_bbox_patch(), xytext=point,
                       textcoords="data",
                       arrowprops=dict(arrowstyle="-|>", mutation_scale=8, color=INK,
                                       linewidth=0.9, shrinkA=0, shrinkB=1,
                                       connectionstyle=connection))


def box_to_point(ax, box, point, side=(1.0, 0.5), connection="arc3"):
    """A solid arrow from a side of `box` to a data `point`."""
    return ax.annotate("", xy=point, xycoords="data", xytext=side,
                       textcoords=box.get_bbox_patch(),
                       arrowprops=dict(arrowstyle="-|>", mutation_scale=8, color=INK,
                                       linewidth=0.9, shrinkA=1, shrinkB=0,
                                       connectionstyle=connection))


def unit_column(ax, x, n, top, bottom, dead=None, size=11):
    """n units as dots spread evenly from `top` to `bottom` at `x` (hollow where `dead`);
    returns their heights."""
    ys = np.linspace(top, bottom, n) if n > 1 else np.array([(top + bottom) / 2])
    dead = np.zeros(n, bool) if dead is None else np.asarray(dead)
    ax.scatter(np.full(n, x)[~dead], ys[~dead], s=size, color=INK, linewidths=0, zorder=3)
    if dead.any():
        ax.scatter(np.full(n, x)[dead], ys[dead], s=size, facecolor="white", edgecolor=INK,
                   linewidths=0.7, zorder=3)
    return ys


@dataclass(frozen=True)
class ToyNetwork:
    """The toy base network: widths and every layer's shape and parameter count, and what the
    pre-trained base can do before any fine-tuning (numerics.lora.experiments.base_model)."""
    model: experiments.ToyModel
    features: tuple[str, ...]           # the input features
    classes: tuple[str, ...]            # the output units
    dead: tuple[np.ndarray, ...]        # per hidden layer: units never active on any sentence
    skills: tuple[str, ...]             # what panel b measures
    skill_pct: np.ndarray               # the base's accuracy on each, %
    pretraining_steps: int
    numbers: Numbers


def model_overview_result() -> ToyNetwork:
    model = experiments.toy_model()
    base = toy_runs.load("base_model")
    negated, correct = base.sentence_negated, base.sentence_correct
    numbers = Numbers()
    numbers.add("ToyBaseParams", model.base_params, ",d")
    numbers.add("PretrainTrain", base.n_train, ",d")
    numbers.add("PretrainTest", base.n_test, ",d")
    numbers.add("PretrainSteps", base.best_step, "d")
    numbers.add("PretrainAccuracy", 100 * base.test_accuracy, ".0f")
    numbers.add("PlainSentences", int(np.sum(~negated)), "d")
    numbers.add("NegatedSentences", int(np.sum(negated)), "d")
    numbers.add("PlainRight", 100 * np.mean(correct[~negated]), ".0f")
    numbers.add("NegatedRight", 100 * np.mean(correct[negated]), ".0f")
    for layer, dead in enumerate(base.dead_on_sentences, start=1):
        numbers.add(f"DeadUnitsLayer{spell(layer)}", int(dead.sum()), "d")
    skills = (f"pre-training\ntask ({numbers['PretrainTest']})",
              f"{numbers['PlainSentences']} plain\nsentences",
              f"{numbers['NegatedSentences']} negated\nsentences")
    skill_pct = np.array([100 * base.test_accuracy, 100 * np.mean(correct[~negated]),
                          100 * np.mean(correct[negated])])
    return ToyNetwork(model=model, features=GROUPS, classes=LABELS,
                      dead=base.dead_on_sentences, skills=skills, skill_pct=skill_pct,
                      pretraining_steps=base.best_step, numbers=numbers)


@FIGURES.figure(
    caption=f"The toy base network of the LoRA figures: {lora_mlp.SIZES[0]} input features of a "
            f"sentence (word counts), two hidden ReLU layers of {lora_mlp.SIZES[1]} units and "
            f"{lora_mlp.SIZES[-1]} outputs, with every layer's parameters (hollow: units that "
            "never fire on any sentence); and what it can do before fine-tuning: pre-trained to "
            "tell positive from negative words, it is right on every sentence without a "
            "negation and wrong on every negated one.",
    result=model_overview_result, width=1.0, height=2.2)
def model_overview(fig, network: ToyNetwork):
    model, numbers = network.model, network.numbers
    ax, ax_skill = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.4, 1]})
    ax.set_xlim(0, 10)
    ax.set_ylim(-1.35, 1.25)
    ax.set_axis_off()
    columns = (1.55, 4.15, 6.75, 9.0)
    top, bottom = 0.85, -0.85
    dead = (None, *network.dead, None)
    heights = [unit_column(ax, x, n, top, bottom, units)
               for x, n, units in zip(columns, model.sizes, dead, strict=True)]
    for y, name in zip(heights[0], network.features, strict=True):
        ax.text(columns[0] - 0.15, y, name, ha="right", va="center", fontsize=SMALL)
    for y, name in zip(heights[-1], network.classes, strict=True):
        ax.text(columns[-1] + 0.15, y, name, ha="left", va="center", fontsize=SMALL)
    names = (f"{model.sizes[0]} word counts", f"{model.sizes[1]} ReLU", f"{model.sizes[2]} ReLU",
             f"{model.sizes[3]} logits")
    for x, name in zip(columns, names, strict=True):
        ax.text(x, top + 0.2, name, ha="center", va="bottom", fontsize=SMALL)
    # one arrow per layer, with its weight, bias and parameter count
    for i, ((d_out, d_in), params) in enumerate(zip(model.shapes, model.layer_params,
                                                    strict=True), start=1):
        left, right = columns[i - 1] + 0.35, columns[i] - 0.35
        diagram.arrow(ax, (left, 0), (right, 0), shrink=0)
        ax.text((left + right) / 2, 0.08, f"$W_{i}$: {d_out}$\\times${d_in}",
                ha="center", va="bottom", fontsize=SMALL)
        ax.text((left + right) / 2, -0.08, f"+ $b_{i}$: {d_out}\n= {params}", ha="center",
                va="top", fontsize=SMALL)
    ax.text(columns[0], bottom - 0.25, f"{numbers['ToyBaseParams']} parameters in all; "
            "hollow: never fires on a sentence", ha="left", va="top", fontsize=SMALL,
            color=MUTED)
    panel_title(ax, "a", "The base network")

    before = meanings.role("before")
    rows = np.arange(len(network.skills))[::-1]
    ax_skill.barh(rows, network.skill_pct, 0.6, color=before.color)
    for row, value in zip(rows, network.skill_pct, strict=True):
        ax_skill.text(value + 3, row, f"{value:.0f} %", va="center", fontsize=SMALL)
    ax_skill.set_yticks(rows, list(network.skills))
    ax_skill.set_xlim(0, 125)
    ax_skill.set_xticks([0, 50, 100])
    ax_skill.set_xlabel("answered right (%)")
    panel_title(ax_skill, "b", "The base alone")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Injection:
    """Where the toy model's adapters attach: the layer shapes, the rank and alpha, and the
    parameter counts."""
    shapes: tuple[tuple[int, int], ...]     # (d, k) of every W_l
    rank: int
    alpha: float
    adapter_params: tuple[int, ...]         # r (d + k) per layer
    rank_bound: tuple[int, ...]             # min(r, d, k) per layer: the rank B_l A_l can have
    base_params: int
    numbers: Numbers


def lora_injection_result() -> Injection:
    config = lora_mlp.DEFAULT_CONFIG
    model = experiments.toy_model(ranks=(config.rank,), layers=config.layers)
    numbers = Numbers()
    numbers.add("ToyRank", config.rank, "d")
    numbers.add("ToyAlpha", config.alpha, "g")
    numbers.add("ToyScale", config.scale, "g")
    numbers.add("ToyAdapterParams", lora_mlp.trainable_parameters(config), ",d")
    per_layer = tuple(int(n) for n in model.lora_params[0])
    for layer, count in enumerate(per_layer, start=1):
        numbers.add(f"ToyAdapterParamsLayer{spell(layer)}", count, "d")
    numbers.add("ToyFrozenParams", model.base_params, ",d")
    bound = tuple(int(b) for b in model.max_delta_rank[0])
    for layer, b in enumerate(bound, start=1):
        numbers.add(f"ToyRankBoundLayer{spell(layer)}", b, "d")
    return Injection(shapes=model.shapes, rank=config.rank, alpha=config.alpha,
                     adapter_params=per_layer, rank_bound=bound, base_params=model.base_params,
                     numbers=numbers)


@FIGURES.figure(
    caption="Where LoRA attaches in the toy model: beside each frozen weight $W_l$ (and bias) "
            "a trainable pair $A_l$ ($r \\times k$), $B_l$ ($d \\times r$) whose output, scaled "
            "by $\\alpha/r$, joins the layer's output before the ReLU; for inference each pair "
            "can be merged into its weight. On the $2 \\times 16$ output layer $B_3A_3$ can "
            "have rank 2 at most: there $r = 4$ is no low-rank restriction.",
    result=lora_injection_result, width=1.0, height=2.3)
def lora_injection(fig, injection: Injection):
    r, numbers = injection.rank, injection.numbers
    lora, frozen = lora_colour(), frozen_colour()
    ax = diagram.canvas(fig, (0, 12), (-0.05, 3.95))
    main_y, branch_y = 1.5, 3.0
    starts = (0.85, 4.45, 8.05)
    ax.text(0.35, main_y, f"$x$\n{injection.shapes[0][1]}", ha="center", va="center",
            fontsize=SMALL)
    previous = (0.6, main_y)
    for i, ((d, k), x0, count) in enumerate(zip(injection.shapes, starts,
                                                injection.adapter_params, strict=True), start=1):
        base = diagram.box(ax, x0 + 1.3, main_y, f"$W_{i}$, $b_{i}$\n{d} $\\times$ {k}\nfrozen",
                           color=frozen, fill=FROZEN_FILL, fontsize=SMALL, pad=0.3)
        a = diagram.box(ax, x0 + 0.7, branch_y, f"$A_{i}$\n{r} $\\times$ {k}", color=lora,
                        fill=ADAPTER_FILL, fontsize=SMALL, pad=0.3)
        b = diagram.box(ax, x0 + 1.9, branch_y, f"$B_{i}$\n{d} $\\times$ {r}", color=lora,
                        fill=ADAPTER_FILL, fontsize=SMALL, pad=0.3)
        join = ax.text(x0 + 2.55, main_y, "+", ha="center", va="center", fontsize=SMALL,
                       bbox=dict(boxstyle="circle,pad=0.15", facecolor="white", edgecolor=INK,
                                 lw=0.8))
        if isinstance(previous, tuple):
            point_to_box(ax, previous, base)
        else:                            # from the previous layer's ReLU
            diagram.link(ax, previous, base, (1, 0.5), (0, 0.5))
        point_to_box(ax, (x0 + 0.15, main_y), a, connection="angle,angleA=90,angleB=180,rad=0")
        diagram.link(ax, a, b, (1, 0.5), (0, 0.5))
        diagram.link(ax, b, join, (1, 0.5), (0.5, 1),
                     connectionstyle="angle,angleA=0,angleB=90,rad=0")
        diagram.link(ax, base, join, (1, 0.5), (0, 0.5))
        ax.text(x0 + 2.47, (main_y + branch_y) / 2 + 0.1, "$\\times\\,\\alpha/r$",
                ha="right", va="center", fontsize=SMALL)
        bound = injection.rank_bound[i - 1]
        note = f"{count} trainable" + (f", but rank $\\leq$ {bound}" if bound < r else "")
        ax.text(x0 + 1.3, branch_y + 0.45, note, ha="center", va="bottom", fontsize=SMALL,
                color=MUTED)
        if i < len(injection.shapes):
            after = ax.text(x0 + 3.2, main_y, "ReLU", ha="center", va="center",
                            fontsize=SMALL, bbox=dict(boxstyle="round,pad=0.2",
                                                      facecolor="white", edgecolor=INK, lw=0.6))
            diagram.link(ax, join, after, (1, 0.5), (0, 0.5))
        else:
            ax.text(x0 + 3.4, main_y, f"logits\n{d}", ha="center", va="center", fontsize=SMALL)
            box_to_point(ax, join, (x0 + 3.1, main_y))
            after = None
        previous = after
    ax.text(6.0, 0.3,
            f"$r$ = {r}, $\\alpha$ = {injection.alpha:g}: {numbers['ToyAdapterParams']} "
            f"trainable beside {numbers['ToyFrozenParams']} frozen parameters.\n"
            "For inference, merge once: $W_l \\leftarrow W_l + (\\alpha/r)\\,B_lA_l$ "
            f"($\\alpha/r$ = {numbers['ToyScale']}), the same shape as $W_l$.",
            ha="center", va="center", fontsize=SMALL)


# --------------------------------------------------------------------------------------------
#: Hidden units shown per layer in the forward pass: those with the largest LoRA path.
SHOWN_UNITS = 5


@dataclass(frozen=True)
class LayerTerms:
    """One layer of the traced forward pass, for the units shown: the three terms that add up
    to each unit's pre-activation."""
    units: np.ndarray                   # indices of the units shown
    names: tuple[str, ...]              # their labels
    base_path: np.ndarray               # W0 x
    bias: np.ndarray                    # b
    lora_path: np.ndarray               # (alpha/r) B A x
    pre_activation: np.ndarray          # their sum, z
    width: int                          # units in the layer


@dataclass(frozen=True)
class ForwardPass:
    """One test sentence through the LoRA-trained toy model: input, and per layer the base
    path, the bias, the LoRA path and their sum, the pre-activation."""
    features: tuple[str, ...]           # names of the input features
    x: np.ndarray                       # the sentence's word counts per feature
    layers: tuple[LayerTerms, ...]
    text: str
    label: str
    numbers: Numbers


def forward_pass_result() -> ForwardPass:
    trace = toy_runs.load("forward_trace")
    layers = []
    for index, layer in enumerate(trace.layers):
        base, bias, z = layer.base_path.ravel(), layer.bias.ravel(), layer.z.ravel()
        lora = layer.lora_path.ravel() if layer.lora_path is not None else np.zeros_like(base)
        output = index == len(trace.layers) - 1
        units = (np.arange(len(base)) if output else
                 np.sort(np.argsort(-np.abs(lora), kind="stable")[:SHOWN_UNITS]))
        names = (tuple(LABELS) if output else tuple(f"unit {u}" for u in units))
        layers.append(LayerTerms(units=units, names=names, base_path=base[units],
                                 bias=bias[units], lora_path=lora[units],
                                 pre_activation=z[units], width=len(base)))
    numbers = Numbers()
    numbers.add("TracePositiveAfter", 100 * trace.probs[1], ".0f")
    numbers.add("TracePositiveBefore", 100 * trace.probs_base[1], ".0f")
    numbers.add("TraceShownUnits", SHOWN_UNITS, "d")
    return ForwardPass(features=GROUPS, x=trace.x, layers=tuple(layers), text=trace.text,
                       label=LABELS[trace.label], numbers=numbers)


def reach_a_tick(ax) -> None:
    """Widen the x axis to the ticks just beyond its data, so that the bars' extent has a tick
    to be read against (-4.4 on an axis ticked every 2.5 gets a tick at -5)."""
    low, high = ax.get_xlim()
    ticks = ax.xaxis.get_major_locator().tick_values(low, high)
    step = float(np.diff(ticks).min())
    ax.set_xlim(np.floor(low / step) * step, np.ceil(high / step) * step)


#: The terms of a pre-activation, drawn one after another from zero: (field, label, how).
FORWARD_TERMS = (("base_path", "base path $W_0x$", "frozen"), ("bias", "bias $b$", "bias"),
                 ("lora_path", "LoRA path $(\\alpha/r)\\,BAx$", "lora"))


@FIGURES.figure(
    caption="The real forward pass of one test sentence through the LoRA-trained toy model, for "
            f"the {SHOWN_UNITS} units of each hidden layer with the largest LoRA path and both "
            "outputs: from zero, the base path $W_0x$, the bias $b$ and the LoRA path "
            "$(\\alpha/r)\\,BAx$ follow one another and end at the unit's pre-activation "
            "(tick), for the outputs the logits that the softmax turns into probabilities.",
    result=forward_pass_result, width=1.0, aspect=0.5)
def forward_pass(fig, forward: ForwardPass):
    n_layers = len(forward.layers)
    axes = fig.subplots(1, n_layers + 1, gridspec_kw={"width_ratios":
                                                      [0.6] + [1.0] * n_layers})
    ax_in = axes[0]
    features = np.arange(len(forward.x))
    ax_in.barh(features, forward.x, color=INK, lw=0)
    ax_in.invert_yaxis()
    ax_in.set_yticks(features, list(forward.features))
    ax_in.set_xlabel("word count")
    panel_title(ax_in, "a", "Input")
    colours = {"frozen": frozen_colour(), "bias": MUTED, "lora": lora_colour()}
    offsets = (-0.25, 0.0, 0.25)        # the three terms of a unit, one below the other
    for j, (ax, layer) in enumerate(zip(axes[1:], forward.layers, strict=True), start=1):
        rows = np.arange(len(layer.units))
        for row in rows[::2]:           # every other unit on a pale band
            ax.axhspan(row - 0.5, row + 0.5, color=LIGHT, lw=0, zorder=0)
        start = np.zeros(len(rows))
        for (field, label, how), offset in zip(FORWARD_TERMS, offsets, strict=True):
            term = getattr(layer, field)
            ax.barh(rows + offset, term, 0.22, left=start, color=colours[how], lw=0,
                    label=label)
            start = start + term
        # the sum: a tick across the unit's three bars, where the last one ends
        ax.vlines(layer.pre_activation, rows - 0.4, rows + 0.4, color=INK, lw=1.4,
                  label="pre-activation (the sum)")
        ax.axvline(0, color=INK, lw=0.4)
        ax.set_yticks(rows, list(layer.names))
        ax.set_ylim(rows.max() + 0.5, -0.5)
        output = j == n_layers
        ax.set_xlabel("logit" if output else "pre-activation")
        if output:
            reach_a_tick(ax)
        panel_title(ax, "abcd"[j], "Logits" if output else
                    f"Layer {j}: {len(layer.units)} of {layer.width}")
    handles, labels = axes[1].get_legend_handles_labels()
    order = [labels.index(label) for _, label, _ in FORWARD_TERMS] + [
        labels.index("pre-activation (the sum)")]
    # above the three panels it serves, at the figure's right
    fig.legend([handles[i] for i in order], [labels[i] for i in order],
               loc="outside upper right", ncols=2 if fig.get_figwidth() < NARROW_IN else 4,
               fontsize=SMALL)
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
    # every norm printed on a bar: two significant digits, so the smallest ones still read
    for i in full:
        numbers.add(f"FullNorm{spell(start.groups[i])}", start.norms[i], "#.2g")
    for i in lora:
        numbers.add(f"LoraFirstNorm{spell(start.groups[i])}", start.norms[i], "#.2g")
        numbers.add(f"LoraLaterNorm{spell(start.groups[i])}", later.norms[i], "#.2g")
    numbers.add("LaterSteps", later.lora_steps, "d")
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
    caption="The real gradients of the toy model on its sentiment training set, one full-batch "
            "step at a time, norms written on the bars: (a) full fine-tuning, at the "
            "pre-trained base, sends gradient to every weight and bias; (b) LoRA sends it only "
            "to its adapters, at its first step, while $B = 0$, only to $B$, and after "
            f"{toy_runs.LATER_STEPS} steps to $A$ as well.",
    result=backward_pass_result, width=1.0, aspect=0.42)
def backward_pass(fig, step: BackwardStep):
    ax_full, ax_lora = fig.subplots(1, 2, sharex=True)
    numbers = step.numbers
    full, lora = meanings.method("full").color, meanings.method("lora").color
    largest = max(max(step.full_norms), max(step.lora_norms_first), max(step.lora_norms_later))

    def write(ax, rows, values, keys):
        for row, value, key in zip(rows, values, keys, strict=True):
            ax.text(value + 0.015 * largest, row, numbers[key] if value > 0 else "0",
                    va="center", fontsize=SMALL)

    rows = np.arange(len(step.full_groups))[::-1]
    ax_full.barh(rows, list(step.full_norms), 0.6, color=full)
    write(ax_full, rows, step.full_norms, [f"FullNorm{spell(g)}" for g in step.full_groups])
    ax_full.set_yticks(rows, [group_label(g, size)
                              for g, size in zip(step.full_groups, step.full_sizes, strict=True)])
    ax_full.set_xlim(0, largest * 1.18)
    ax_full.set_xlabel("gradient norm $\\|\\partial L/\\partial\\theta\\|_F$")
    panel_title(ax_full, "a", f"Full fine-tuning: {step.full_params} parameters")

    # two states of the adapters: the first step in LoRA's colour, a later one in a pale shade
    rows = np.arange(len(step.lora_groups))[::-1]
    ax_lora.barh(rows + 0.19, list(step.lora_norms_first), 0.36, color=lora,
                 label="first step ($B = 0$)")
    ax_lora.barh(rows - 0.19, list(step.lora_norms_later), 0.36, color=tint(lora, 0.55),
                 label=f"after {numbers['LaterSteps']} steps")
    write(ax_lora, rows + 0.19, step.lora_norms_first,
          [f"LoraFirstNorm{spell(g)}" for g in step.lora_groups])
    write(ax_lora, rows - 0.19, step.lora_norms_later,
          [f"LoraLaterNorm{spell(g)}" for g in step.lora_groups])
    ax_lora.set_yticks(rows, [group_label(g, size)
                              for g, size in zip(step.lora_groups, step.lora_sizes, strict=True)])
    ax_lora.set_xlabel("gradient norm")
    ax_lora.legend(loc="lower right", fontsize=SMALL)
    panel_title(ax_lora, "b", f"LoRA: {step.lora_params} parameters")


# --------------------------------------------------------------------------------------------
DELTA_LAYER = 1  # the layer whose learned update panel c shows (0-based: the second layer)


#: The groups of held-out sentences panel b sets apart: what the base already gets right
#: (no negation) and what LoRA has to teach it (a negation flips the polarity).
SENTENCE_GROUPS = ("plain", "negated")


@dataclass(frozen=True)
class SentenceRow:
    """One row of panel b: a group of held-out sentences before or after fine-tuning."""
    group: str                          # SENTENCE_GROUPS
    when: str                           # "before" or "after"
    correct_pct: np.ndarray             # per sentence, p(its own label) in %
    offsets: np.ndarray                 # per sentence, vertical spread of its dot in the row
    right: int                          # sentences classified right (p > 50 %)


@dataclass(frozen=True)
class FineTuningOutcome:
    """LoRA fine-tuning of the toy model: loss curves, every held-out sentence's probability of
    its label before and after, and the learned update of one layer with its rank."""
    loss: np.ndarray                    # training loss per step
    test_loss: np.ndarray               # held-out loss per step
    rows: tuple[SentenceRow, ...]       # plain before, plain after, negated before, after
    layer: int                          # 0-based index of the layer of `delta`
    delta: np.ndarray                   # its learned (alpha/r) B A, (d, k)
    delta_rank: int                     # its rank, computed
    dead_rows: np.ndarray               # its rows that stay zero: output units that never fire
    dead_cols: np.ndarray               # its columns whose input unit never fires: not zero
    adapter_rank: int                   # the adapters' rank r
    numbers: Numbers


def sentence_rows(change) -> tuple[SentenceRow, ...]:
    """Held-out sentences by group, before and after: p(own label) in %, dot offsets (spread
    by the order of the values, so equal values do not hide each other) and how many are
    right."""
    index = np.arange(len(change.test_labels))
    rows = []
    for group, members in zip(SENTENCE_GROUPS, (~change.test_negated, change.test_negated),
                              strict=True):
        for when, probs in (("before", change.test_probs_before),
                            ("after", change.test_probs_after)):
            correct = 100 * probs[index[members], change.test_labels[members]]
            order = np.argsort(np.argsort(correct, kind="stable"), kind="stable")
            offsets = (np.linspace(-0.13, 0.13, len(correct)) if len(correct) > 1
                       else np.zeros(1))[order]
            rows.append(SentenceRow(group=group, when=when, correct_pct=correct,
                                    offsets=offsets, right=int(np.sum(correct > 50))))
    return tuple(rows)


def knowledge_change_result() -> FineTuningOutcome:
    change = toy_runs.load("knowledge_change")
    delta = change.delta_w[DELTA_LAYER]
    rank = int(np.linalg.matrix_rank(delta))
    rows = sentence_rows(change)
    dead = np.flatnonzero(np.all(delta == 0, axis=1))
    # the layer's input units that never fire (dead in the layer before): their columns of
    # Delta W are not zero, since A's column keeps its random start (it gets no gradient from an
    # input that is always 0) and B carries it; they only ever multiply that 0
    dead_cols = np.flatnonzero(toy_runs.load("base_model").dead_on_sentences[DELTA_LAYER - 1])
    numbers = Numbers()
    numbers.add("DeltaRank", rank, "d")
    numbers.add_list("DeadRows", dead, "d")
    numbers.add_list("DeadColumns", dead_cols, "d")
    numbers.add("KnowledgeTestBefore", 100 * change.test_accuracy_before, ".0f")
    numbers.add("KnowledgeTestAfter", 100 * change.test_accuracy_after, ".0f")
    numbers.add("KnowledgeTrainAfter", 100 * change.train_accuracy_after, ".0f")
    for row in rows:
        key = f"{row.group.capitalize()}{row.when.capitalize()}"
        numbers.add(f"Right{key}", row.right, "d")
        numbers.add(f"Sentences{key}", len(row.correct_pct), "d")
    return FineTuningOutcome(
        loss=change.loss, test_loss=change.test_loss, rows=rows, layer=DELTA_LAYER,
        delta=delta, delta_rank=rank, dead_rows=dead, dead_cols=dead_cols,
        adapter_rank=change.config.rank,
        numbers=numbers)


@FIGURES.figure(
    caption="LoRA on the toy's sentiment sentences: the loss falls; the base is right on "
            "plain held-out sentences, wrong on the negated ones, and after fine-tuning right "
            "on both (dots: sentences); the learned $\\Delta W = (\\alpha/r)\\,BA$ of layer 2 "
            "has rank $r$, empty rows for units that never fire (dead ReLUs), and the outlined "
            "column of a dead input is not empty: $A_2$ keeps its random start there, times 0.",
    result=knowledge_change_result, width=1.0, height=3.0)
def knowledge_change(fig, change: FineTuningOutcome):
    ax_loss, ax_pred, ax_dw = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.3, 0.9]})
    lora = meanings.method("lora")
    training, validation = meanings.role("training"), meanings.role("validation")
    steps = np.arange(len(change.loss))
    ax_loss.plot(steps, change.loss, color=lora.color, ls=training.linestyle, label="training")
    ax_loss.plot(np.arange(len(change.test_loss)), change.test_loss, color=lora.color,
                 ls=validation.linestyle, label="held-out")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("LoRA step")
    ax_loss.set_ylabel("cross-entropy")
    # each curve named near its end: held-out above it, training below it
    at = int(0.75 * (len(change.loss) - 1))
    # (both fall to the right: a label above extends right, one below extends left)
    for values, label, va, ha, dy in ((change.test_loss, "held-out", "bottom", "left", 6),
                                      (change.loss, "training", "top", "right", -6)):
        ax_loss.annotate(label, (at, values[at]), xytext=(0, dy), textcoords="offset points",
                         ha=ha, va=va, fontsize=SMALL)
    panel_title(ax_loss, "a", "Loss")

    before = meanings.role("before")
    positions = np.arange(len(change.rows))[::-1].astype(float)
    positions[: len(positions) // 2] += 0.4     # a gap between the two groups
    labels = []
    for y, row in zip(positions, change.rows, strict=True):
        color = lora.color if row.when == "after" else before.color
        ax_pred.plot(row.correct_pct, y + row.offsets, ls="none", marker="o", markersize=3,
                     color=color, alpha=0.8)
        labels.append(f"{row.group}, {row.when}\n{row.right} of {len(row.correct_pct)} right")
    ax_pred.axvline(50, color=INK, lw=0.5, ls=":")
    ax_pred.set_yticks(positions, labels, fontsize=SMALL)
    ax_pred.set_xlim(-4, 104)
    ax_pred.set_ylim(positions.min() - 0.5, positions.max() + 0.5)
    ax_pred.set_xlabel("probability of its own label (%)")
    panel_title(ax_pred, "b", "Held-out sentences")

    delta = change.delta
    image = ax_dw.imshow(delta, cmap=DIVERGING_CMAP, norm=signed_norm(delta), aspect="auto")
    ax_dw.set_xlabel("input unit")
    ax_dw.set_ylabel("output unit")
    # the first and last unit, and the dead ones, whose rows stay empty
    ticks = sorted({0, len(delta) - 1, *change.dead_rows.tolist()})
    ax_dw.set_yticks(ticks, [f"{u} dead" if u in change.dead_rows else f"{u}" for u in ticks])
    # the columns of the dead input units: outlined, as their entries only multiply a 0
    ticks = [0, *change.dead_cols.tolist()]     # and the last, unless a narrow panel crowds it
    last = delta.shape[1] - 1
    if fig.get_figwidth() >= NARROW_IN or min(abs(last - u) for u in ticks) >= 4:
        ticks.append(last)
    ax_dw.set_xticks(ticks, [f"{u}\ndead" if u in change.dead_cols else f"{u}" for u in ticks])
    for column in change.dead_cols:
        ax_dw.add_patch(Rectangle((column - 0.5, -0.5), 1, len(delta), fill=False,
                                  edgecolor=INK, lw=0.9, ls=(0, (2, 1))))
    bar = fig.colorbar(image, ax=ax_dw, pad=0.03)
    bar.set_label("$\\Delta W_{ij}$")
    panel_title(ax_dw, "c",
                f"$\\Delta W_{change.layer + 1}$, rank {change.numbers['DeltaRank']}")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryDashboard:
    """Parameters and training memory (model states, numerics.memory, 16 bytes per trained
    parameter) of the toy model under full fine-tuning, LoRA and QLoRA (one entry per method,
    numerics.memory.METHODS), and of LLaMA-7B under LoRA against the rank, for two choices of
    adapted matrices (SWEEP_TARGETS)."""
    methods: tuple[str, ...]
    toy_rank: int
    toy_params: tuple[int, ...]          # trained parameters per method
    toy_frozen: tuple[int, ...]          # frozen parameters per method
    toy_breakdowns: tuple[memory.MemoryBreakdown, ...]
    ranks: np.ndarray                    # (R,) every rank of the sweep, 1 ... SWEEP_MAX_RANK
    targets: tuple[str, ...]             # SWEEP_TARGETS labels
    #: lora_memory(MODEL, rank, targets) for every target set (outer) and rank (inner)
    sweep_breakdowns: tuple[tuple[memory.MemoryBreakdown, ...], ...]
    trainable: np.ndarray                # (targets, R) trainable parameters
    model_params: int                    # parameters of MODEL, all frozen under LoRA
    base_gb: float                       # MODEL's frozen 16-bit weights, GB
    adapter_gb: dict[str, np.ndarray]    # MemoryBreakdown adapter field -> (targets, R) GB
    totals_gb: np.ndarray                # (targets, R) model states, GB
    break_even: np.ndarray               # (targets,) rank where the adapters match the base
    numbers: Numbers

    @property
    def toy_bytes(self) -> tuple[float, ...]:
        return tuple(b.total for b in self.toy_breakdowns)


#: The LLaMA-7B rank sweep of memory_dashboard: every rank from 1 to SWEEP_MAX_RANK, far enough
#: to pass the rank where all-linear adapters cost as much memory as the frozen base.
SWEEP_MAX_RANK = 512
#: The adapted matrices of the sweep: (targets, label), the LoRA paper's W_q, W_v and QLoRA's
#: all linear layers.
SWEEP_TARGETS = ((("q", "v"), "$W_q, W_v$"), (memory.ALL_LINEAR, "all linear"))
#: Fields of memory.MemoryBreakdown that hold the adapters, stacked in this order.
ADAPTER_FIELDS = (("adapter_weights", "weights"), ("adapter_gradients", "gradients"),
                  ("adapter_optimizer_states", "optimizer_states"))
#: The toy's memory stacks, in order: (MemoryBreakdown field, component, adapters' share).
TOY_SEGMENTS = (("weights", "weights", False),
                ("quantization_constants", "quantization_constants", False),
                ("gradients", "gradients", False), ("optimizer_states", "optimizer_states", False),
                *((field, component, True) for field, component in ADAPTER_FIELDS))


def toy_breakdowns(n_base: int, n_adapters: int, name: str,
                   recipe: memory.TrainingRecipe = RECIPE) -> tuple[memory.MemoryBreakdown, ...]:
    """Full fine-tuning, LoRA on a 16-bit base and QLoRA (NF4 base with double quantization) of
    a model that is only a parameter count, every trained parameter counted with `recipe`: the
    accounting of numerics.memory.compare_methods, which needs a transformer shape."""
    adapters = {"adapter_weights": n_adapters * recipe.weight_bytes,
                "adapter_gradients": n_adapters * recipe.gradient_bytes,
                "adapter_optimizer_states": n_adapters * recipe.optimizer_bytes}
    full = memory.full_finetune_memory(n_base, recipe)
    lora = memory.MemoryBreakdown(
        method=f"LoRA, {n_adapters} adapter parameters, 16-bit frozen base", model=name,
        accounting=recipe.name, weights=n_base * memory.FP16_BYTES, **adapters)
    qlora = memory.MemoryBreakdown(
        method=f"QLoRA, {n_adapters} adapter parameters, NF4 + DQ", model=name,
        accounting=recipe.name, weights=n_base * memory.NF4_BITS_PER_WEIGHT / 8,
        quantization_constants=n_base * memory.nf4_constant_bits_per_param(True) / 8,
        **adapters)
    return (dataclasses.replace(full, model=name), lora, qlora)


def memory_dashboard_result() -> MemoryDashboard:
    config = lora_mlp.DEFAULT_CONFIG
    n_base = experiments.toy_model().base_params
    n_lora = lora_mlp.trainable_parameters(config)
    toy = toy_breakdowns(n_base, n_lora, "LoRA toy model")

    ranks = np.arange(1, SWEEP_MAX_RANK + 1)
    sweep = tuple(tuple(memory.lora_memory(MODEL, int(r), targets, adapter_recipe=RECIPE)
                        for r in ranks) for targets, _ in SWEEP_TARGETS)
    trainable = np.array([[memory.lora_parameters(MODEL, int(r), targets) for r in ranks]
                          for targets, _ in SWEEP_TARGETS])
    n_model = memory.parameter_count(MODEL)
    base_bytes = sweep[0][0].weights            # the same frozen 16-bit base at every rank
    adapter_gb = {field: np.array([[getattr(b, field) for b in row] for row in sweep]) / memory.GB
                  for field, _ in ADAPTER_FIELDS}
    totals = np.array([[b.total for b in row] for row in sweep]) / memory.GB
    # adapters cost RECIPE.bytes_per_param per trained parameter, linear in the rank: they
    # match the frozen base where rank * (their parameters at rank 1) * 16 = base bytes
    per_rank = trainable[:, 0] * RECIPE.bytes_per_param
    break_even = base_bytes / per_rank

    numbers = Numbers()
    numbers.add("ToyFullBytes", toy[0].total, ",.0f")
    numbers.add("ToyLoraBytes", toy[1].total, ",.0f")
    numbers.add("ToyQloraBytes", toy[2].total, ",.0f")
    numbers.add("ToyQloraConstantsBytes", toy[2].quantization_constants, ",.0f")
    numbers.add("ToyLoraParams", n_lora, ",d")
    numbers.add("ToyBaseParams", n_base, ",d")
    numbers.add("ToyAdapterShareOfBase", 100 * n_lora / n_base, ".0f")
    numbers.add("ToyLoraAdapterPct", 100 * sum(getattr(toy[1], f) for f, _ in ADAPTER_FIELDS)
                / toy[1].total, ".0f")
    numbers.add("SweepMaxRank", SWEEP_MAX_RANK, "d")
    numbers.add("SevenBParams", n_model / 1e9, ".2f")
    numbers.add("SevenBBaseGB", base_bytes / memory.GB, ".1f")
    for i, word in enumerate(("Qv", "All")):
        numbers.add(f"SweepTop{word}GB", totals[i, -1], ".1f")
        numbers.add(f"SweepTop{word}Pct", 100 * trainable[i, -1] / n_model, ".1f")
        numbers.add(f"BreakEvenRank{word}", break_even[i], ".0f")
    return MemoryDashboard(
        methods=memory.METHODS, toy_rank=config.rank, toy_params=(n_base, n_lora, n_lora),
        toy_frozen=(0, n_base, n_base), toy_breakdowns=toy, ranks=ranks,
        targets=tuple(label for _, label in SWEEP_TARGETS), sweep_breakdowns=sweep,
        trainable=trainable, model_params=n_model, base_gb=base_bytes / memory.GB,
        adapter_gb=adapter_gb, totals_gb=totals, break_even=break_even, numbers=numbers)


def fmt_count(n, _=None) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:,.0f}"


METHOD_KEYS = ("full", "lora", "qlora")   # numerics.memory.METHODS, as figkit.meanings keys
#: How SWEEP_TARGETS are told apart in LoRA's colour: W_q, W_v a pale shade with triangles,
#: all linear layers the full colour with circles (markers at the powers of two, labels at the
#: line ends); dashes mean held-out data in this book, so both lines are solid.
TARGET_SHADES = (0.5, 0.0)
TARGET_MARKERS = ("^", "o")
#: The ranks that carry a marker on the sweep lines.
MARKED_RANKS = (1, 4, 16, 64, 256)


@FIGURES.figure(
    caption="Parameters and training memory (model states: every trained parameter at "
            f"{RECIPE.bytes_per_param:g} bytes, frozen weights in 16 bit, or 4 for QLoRA; "
            "GB = $10^9$ bytes): (a) the toy model, whose adapters are two thirds the size "
            "of its base and take most of its memory; (b, c) "
            f"{MODEL.name} against the LoRA rank, whose frozen base takes more memory than the "
            "adapters up to ranks in the hundreds on all linear layers.",
    result=memory_dashboard_result, width=1.0, height=3.9)
def memory_dashboard(fig, dashboard: MemoryDashboard):
    numbers = dashboard.numbers
    top, bottom = fig.subfigures(2, 1, height_ratios=[0.8, 1.25])
    ax_a = top.subplots()
    ax_b, ax_c = bottom.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    rows = np.arange(len(METHOD_KEYS))[::-1]   # full fine-tuning on top

    # (a) the toy: bytes by component, the adapters' share hatched; what each method trains in
    # its row's label
    left = np.zeros(len(rows))
    for field, component, adapters in TOY_SEGMENTS:
        widths = np.array([getattr(b, field) for b in dashboard.toy_breakdowns]) / 1e3
        fill = meanings.adapter_share(component) if adapters else meanings.component(
            component).fill
        drawn = widths > 0
        if drawn.any():
            ax_a.barh(rows[drawn], widths[drawn], 0.6, left=left[drawn], **fill)
        left += widths
    for row, key in zip(rows, ("ToyFullBytes", "ToyLoraBytes", "ToyQloraBytes"), strict=True):
        total = numbers.value(key) / 1e3
        ax_a.text(total + 0.08, row, f"{numbers[key]} B", va="center", fontsize=SMALL)
    names = ("full fine-tuning", "LoRA, 16-bit base", "QLoRA, 4-bit base")
    ax_a.set_yticks(rows, [f"{name}: {trained:,} trained" + (f", {frozen:,} frozen" if frozen
                                                             else "")
                           for name, trained, frozen in zip(names, dashboard.toy_params,
                                                            dashboard.toy_frozen, strict=True)])
    ax_a.set_xlim(0, left.max() * 1.13)
    # QLoRA's quantization constants are a few bytes, too thin to see: their size is named
    constants = meanings.component("quantization_constants")
    handles = [meanings.component("weights").legend_patch(),
               constants.legend_patch(f"{constants.label}\n({numbers['ToyQloraConstantsBytes']} B "
                                      "in the QLoRA row)")]
    handles += [meanings.component(key).legend_patch() for key in
                ("gradients", "optimizer_states")]
    handles.append(meanings.component("adapters").legend_patch("adapters (hatched)"))
    ax_a.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=SMALL)
    ax_a.set_xlabel("training memory (kB = $10^3$ bytes)")
    panel_title(ax_a, "a", f"Toy model, $r$ = {dashboard.toy_rank}")

    # (b) LLaMA-7B: trainable parameters against the rank, below the frozen model's
    lora = meanings.method("lora")
    ranks = dashboard.ranks
    marked = np.isin(ranks, MARKED_RANKS)
    styles = [dict(color=tint(lora.color, shade), marker=marker)
              for shade, marker in zip(TARGET_SHADES, TARGET_MARKERS, strict=True)]
    frozen = meanings.role("frozen")
    ax_b.axhline(dashboard.model_params, color=frozen.color, lw=0.8)
    ax_b.text(ranks[0] * 1.15, dashboard.model_params / 1.5,
              f"{numbers['SevenBParams']}B parameters, all frozen", ha="left", va="top",
              fontsize=SMALL)
    for ax, curves in ((ax_b, dashboard.trainable), (ax_c, dashboard.totals_gb)):
        handles = []
        for label, values, style in zip(dashboard.targets, curves, styles, strict=True):
            ax.plot(ranks, values, color=style["color"], lw=1.2)
            ax.plot(ranks[marked], values[marked], ls="none", marker=style["marker"],
                    color=style["color"], markersize=3.5)
            handles.append(Line2D([], [], color=style["color"], marker=style["marker"],
                                  markersize=3.5, lw=1.2, label=f"{lora.label}, {label}"))
        # all linear first, as it lies above; in (c) between the base and the note at the top
        placement = (dict(loc="lower right") if ax is ax_b else
                     dict(loc="center left", bbox_to_anchor=(0.0, 0.6)))
        ax.legend(handles=handles[::-1], fontsize=SMALL, **placement)
    ax_b.set_yscale("log")
    ax_b.set_ylim(dashboard.trainable.min() / 3, dashboard.model_params * 3)
    ax_b.yaxis.set_major_locator(LogLocator(numticks=6))
    ax_b.yaxis.set_major_formatter(fmt_count)
    share = ax_b.secondary_yaxis("right", functions=(
        lambda n: 100 * n / dashboard.model_params, lambda p: p * dashboard.model_params / 100))
    share.yaxis.set_major_formatter(lambda p, _: f"{p:g} %")
    share.set_ylabel("share of the model")
    ax_b.set_ylabel("trainable parameters")
    panel_title(ax_b, "b", f"{MODEL.name}: trainable")

    # (c) LLaMA-7B: model states against the rank, the frozen 16-bit base below; the adapters
    # are what each line adds above it
    weights = meanings.component("weights")
    ax_c.fill_between(ranks, 0, dashboard.base_gb, facecolor=weights.color, lw=0)
    ax_c.text(ranks[0] * 1.15, dashboard.base_gb / 2, f"frozen 16-bit\nweights: "
              f"{numbers['SevenBBaseGB']} GB", ha="left", va="center", fontsize=SMALL,
              color="white")
    reference = meanings.role("reference")
    even = dashboard.break_even[-1]
    ax_c.axvline(even, color=reference.color, ls=reference.linestyle, lw=0.6)
    # left of the line, above where the all-linear curve crosses it
    ax_c.text(even / 1.1, 2 * dashboard.base_gb * 1.04,
              f"all linear: adapters\n= base at $r$ = {numbers['BreakEvenRankAll']}",
              ha="right", va="bottom", fontsize=SMALL)
    ax_c.set_ylim(0, dashboard.totals_gb.max() * 1.08)
    ax_c.set_ylabel("model states (GB)")
    panel_title(ax_c, "c", f"{MODEL.name}: memory")
    for ax in (ax_b, ax_c):
        ax.set_xscale("log", base=2)
        ax.set_xlim(ranks[0], ranks[-1])
        ax.set_xticks(list(MARKED_RANKS), [str(r) for r in MARKED_RANKS])
        ax.set_xlabel("LoRA rank $r$")


# --------------------------------------------------------------------------------------------
RANDOM_BAND = (5, 95)  # percentiles of the input-shaped random draws shaded in both panels


#: The dashes of the G H_1 median: a dash pattern no meaning of the table uses (validation's
#: dashes are the default "--").
SHAPED_MEDIAN_DASHES = (0, (3.5, 1.5))


@dataclass(frozen=True)
class DeltaSpectrum:
    """Singular values and energy of real full-fine-tuning updates of the toy model's second
    layer, one per pre-trained base (seed), against two random nulls of the same live shape and
    norm (numerics.lora.experiments.delta_w_spectra): isotropic Gaussian matrices, and updates
    G H shaped like a gradient by the layer's inputs H; dead units left out of all.  Singular
    values are divided by ||Delta W||_F, so the seeds compare, and are NaN past each seed's
    live rank (the zero padding is not a singular value)."""
    index: np.ndarray                   # 1 .. max live rank
    live_rank: np.ndarray               # per seed: min(live rows, live columns)
    singular_values: np.ndarray         # (seed, n), sigma_i / ||Delta W||_F, NaN past live rank
    shaped_low: np.ndarray              # RANDOM_BAND percentiles of the input-shaped draws
    shaped_high: np.ndarray
    shaped_median: np.ndarray
    isotropic_median: np.ndarray        # median of the isotropic draws
    kept: np.ndarray                    # 0 .. max live rank: ranks kept
    energy_pct: np.ndarray              # (seed, kept): share of ||Delta W||_F^2 kept, %
    shaped_energy_low: np.ndarray       # (kept,) RANDOM_BAND percentiles of the draws' share
    shaped_energy_high: np.ndarray
    shaped_energy_median: np.ndarray
    isotropic_energy_median: np.ndarray
    energy_share_pct: float             # the share the ranks of panel b reach
    rank_90: np.ndarray                 # per seed
    shaped_rank_90: np.ndarray          # per seed: median over its input-shaped draws
    isotropic_rank_90: np.ndarray       # per seed: median over its isotropic draws
    input_top3_pct: np.ndarray          # per seed: share of ||H||_F^2 in H's top 3 directions
    relative_update_pct: np.ndarray     # per seed: ||Delta W||_F / ||W0||_F, %
    dead_units: np.ndarray              # per seed: rows + columns of Delta W left out
    numbers: Numbers


def with_zero(values: np.ndarray) -> np.ndarray:
    """A cumulative share that starts at 0 (rank 0 kept), along the last axis."""
    return np.concatenate([np.zeros(values.shape[:-1] + (1,)), values], axis=-1)


def past_live_rank(values: np.ndarray, live_rank: np.ndarray) -> np.ndarray:
    """``values`` (seed, ..., n) with every entry past its seed's live rank set to NaN."""
    index = np.arange(values.shape[-1])
    mask = index >= live_rank.reshape((-1,) + (1,) * (values.ndim - 1))
    return np.where(mask, np.nan, values)


def delta_w_spectrum_result() -> DeltaSpectrum:
    spectra = toy_runs.load("delta_w_spectrum")
    live = spectra.live_rank
    n = int(live.max())
    norms = np.sqrt(np.sum(spectra.singular_values ** 2, axis=1))
    values = past_live_rank(spectra.singular_values / norms[:, None], live)[:, :n]
    shaped = past_live_rank(spectra.input_singular_values / norms[:, None, None], live)[..., :n]
    isotropic = past_live_rank(spectra.random_singular_values / norms[:, None, None], live)
    pooled_shaped = shaped.reshape(-1, n)
    pooled_isotropic = isotropic[..., :n].reshape(-1, n)

    def shares(draws):            # (seed, draw, n) -> pooled energy kept at 0 .. n, %
        kept = np.array([[experiments.energy(v) for v in seed] for seed in draws])
        return 100 * with_zero(kept[..., :n].reshape(-1, n))

    shaped_energy = shares(spectra.input_singular_values)
    isotropic_energy = shares(spectra.random_singular_values)
    shaped_rank = np.median(spectra.input_rank_90, axis=1)
    isotropic_rank = np.median(spectra.random_rank_90, axis=1)
    top3 = 100 * spectra.activation_energy[:, 2]
    relative = 100 * spectra.relative_update
    dead = ((~spectra.live_rows).sum(axis=1) + (~spectra.live_cols).sum(axis=1))
    numbers = Numbers()
    numbers.add("SpectrumBases", len(spectra.seeds), "d")
    numbers.add("LiveRankLow", int(live.min()), "d")
    numbers.add("LiveRankHigh", int(live.max()), "d")
    numbers.add("RankNinetyRealLow", int(spectra.rank_90.min()), "d")
    numbers.add("RankNinetyRealHigh", int(spectra.rank_90.max()), "d")
    numbers.add("RankNinetyShapedLow", float(shaped_rank.min()), ".0f")
    numbers.add("RankNinetyShapedHigh", float(shaped_rank.max()), ".0f")
    numbers.add("RankNinetyRandomLow", float(isotropic_rank.min()), ".0f")
    numbers.add("RankNinetyRandomHigh", float(isotropic_rank.max()), ".0f")
    numbers.add("InputTopThreeLow", float(top3.min()), ".0f")
    numbers.add("InputTopThreeHigh", float(top3.max()), ".0f")
    numbers.add("EffectiveRankReal", float(np.median(spectra.effective_rank)), ".1f")
    numbers.add("EffectiveRankShaped", float(np.median(spectra.input_effective_rank)), ".1f")
    numbers.add("EffectiveRankRandom", float(np.median(spectra.random_effective_rank)), ".1f")
    numbers.add("TopOneEnergyMedian", 100 * float(np.median(spectra.energy[:, 0])), ".0f")
    numbers.add("RelativeUpdateLow", float(relative.min()), ".0f")
    numbers.add("RelativeUpdateHigh", float(relative.max()), ".0f")
    numbers.add("RelativeUpdateMedian", float(np.median(relative)), ".0f")
    numbers.add("RandomDraws", spectra.random_singular_values.shape[1], "d")
    low, high = RANDOM_BAND
    return DeltaSpectrum(
        index=np.arange(1, n + 1), live_rank=live, singular_values=values,
        shaped_low=np.nanpercentile(pooled_shaped, low, axis=0),
        shaped_high=np.nanpercentile(pooled_shaped, high, axis=0),
        shaped_median=np.nanmedian(pooled_shaped, axis=0),
        isotropic_median=np.nanmedian(pooled_isotropic, axis=0),
        kept=np.arange(n + 1), energy_pct=100 * with_zero(spectra.energy[:, :n]),
        shaped_energy_low=np.percentile(shaped_energy, low, axis=0),
        shaped_energy_high=np.percentile(shaped_energy, high, axis=0),
        shaped_energy_median=np.median(shaped_energy, axis=0),
        isotropic_energy_median=np.median(isotropic_energy, axis=0),
        energy_share_pct=100 * experiments.ENERGY_SHARE, rank_90=spectra.rank_90,
        shaped_rank_90=shaped_rank, isotropic_rank_90=isotropic_rank, input_top3_pct=top3,
        relative_update_pct=relative, dead_units=dead, numbers=numbers)


@FIGURES.figure(
    caption="Singular values (a) and energy (b) of full-fine-tuning updates $\\Delta W$ of "
            f"the toy's layer 2, {len(toy_runs.SEEDS)} bases (thin; thick: median; dead "
            "units left out, ending at the rank bound), against random matrices of equal shape "
            "and norm: isotropic (dotted) and $G H_1$, gradient-shaped by the inputs $H_1$ "
            f"(band: {RANDOM_BAND[0]}--{RANDOM_BAND[1]}\\,\\% of draws, dashed on top: "
            "median): real updates are only about as concentrated as $G H_1$.",
    result=delta_w_spectrum_result, width=1.0, aspect=0.38)
def delta_w_spectrum(fig, spectrum: DeltaSpectrum):
    ax_sv, ax_energy = fig.subplots(1, 2)
    numbers = spectrum.numbers
    full = meanings.method("full").color     # updates of full fine-tuning runs
    reference = meanings.role("reference")
    band = tint(GREY, 0.4)
    for ax, x, low, high, median, isotropic, real in (
            (ax_sv, spectrum.index, spectrum.shaped_low, spectrum.shaped_high,
             spectrum.shaped_median, spectrum.isotropic_median, spectrum.singular_values),
            (ax_energy, spectrum.kept, spectrum.shaped_energy_low, spectrum.shaped_energy_high,
             spectrum.shaped_energy_median, spectrum.isotropic_energy_median,
             spectrum.energy_pct)):
        ax.fill_between(x, low, high, color=band, lw=0)
        ax.plot(x, isotropic, color=reference.color, ls=reference.linestyle, lw=1.0)
        for seed_values in real:
            ax.plot(x, seed_values, color=full, lw=0.6, alpha=0.45, marker="o", markersize=2)
        ax.plot(x, np.nanmedian(real, axis=0), color=full, lw=1.6)
        # the median of G H_1, the comparison the caption rests on: dashed, above the real lines
        ax.plot(x, median, color=MUTED, ls=SHAPED_MEDIAN_DASHES, lw=1.3, zorder=4)
        ax.set_xlim(x[0] - 0.5, x[-1] + 0.5)
    ax_sv.set_xlabel("index $i$")
    ax_sv.set_ylabel("$\\sigma_i \\,/\\, \\|\\Delta W\\|_F$")
    ax_sv.set_ylim(0, None)
    # direct labels: the two nulls where they separate, the real updates at the top
    ax_sv.annotate("isotropic Gaussian", (spectrum.index[7], spectrum.isotropic_median[7]),
                   xytext=(4, 6), textcoords="offset points", ha="left", va="bottom",
                   fontsize=SMALL, color=INK)
    # the band shows below the real lines at i = 2: named from the empty space to the right
    ax_sv.annotate("input-shaped $G H_1$\n(band, dashed: median)",
                   (spectrum.index[1], spectrum.shaped_low[1] + 0.02),
                   xytext=(spectrum.index[5], 0.75 * spectrum.shaped_high[0]),
                   textcoords="data", ha="left", va="center", fontsize=SMALL, color=MUTED,
                   arrowprops=arrow_props())
    ax_sv.annotate("real updates", (spectrum.index[0], np.nanmax(spectrum.singular_values[:, 0])),
                   xytext=(8, 0), textcoords="offset points", ha="left", va="center",
                   fontsize=SMALL, color=full)
    panel_title(ax_sv, "a", f"Singular values, {numbers['SpectrumBases']} bases")

    share = spectrum.energy_share_pct
    ax_energy.axhline(share, color=GREY, lw=0.6)
    ax_energy.text(spectrum.kept[-1], share + 1.5, f"{share:.0f} %", ha="right", va="bottom",
                   fontsize=SMALL, color=MUTED)
    ax_energy.set_xlabel("rank $r$ kept")
    ax_energy.set_ylabel("share of $\\|\\Delta W\\|_F^2$ (%)")
    ax_energy.set_ylim(0, 102)
    def span(key: str) -> str:       # "3 to 4", or "3" when both ends agree
        low, high = numbers[f"{key}Low"], numbers[f"{key}High"]
        return low if low == high else f"{low} to {high}"

    ax_energy.text(0.97, 0.04, f"{share:.0f} % at rank\n"
                   f"real: {span('RankNinetyReal')}\n"
                   f"$G H_1$: {span('RankNinetyShaped')}\n"
                   f"isotropic: {span('RankNinetyRandom')}",
                   transform=ax_energy.transAxes, ha="right", va="bottom", fontsize=SMALL)
    panel_title(ax_energy, "b", "Energy of the top $r$")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
