"""QLoRA figures: 4-bit NormalFloat, double quantization, paged optimizers and memory.

Run `python scripts/qlora.py --help`. Numbers come from numerics.qlora.quantization (NF4/FP4/INT4
code books, real blockwise and double quantization), numerics.memory (the book's one byte
accounting, 16 bytes per trained parameter, and the GPU capacities of memory.BOOK_GPUS),
numerics.qlora.paging (the paging simulation, with activations from numerics.activations) and
published.qlora (the paper's numbers: Guanaco and Vicuna results, the Guanaco rank, the memory
claims).
Colours come from figkit.meanings: methods (QLoRA; LoRA for the adapters), memory components
(gradients, optimizer states, activations, quantization constants), roles (frozen weights in
grey as in the LoRA chapter, published values as open diamonds, reference lines dotted); the
4-bit formats are unnamed series in greys, except NF4 where it is labelled as QLoRA's.
Source: Dettmers et al. 2023, QLoRA: Efficient Finetuning of Quantized LLMs, arXiv 2305.14314.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from figkit import Registry, diagram, meanings
from figkit.annotate import NARROW_IN, arrow_props, legend_above, panel_title
from figkit.numbers import Numbers, spell
from figkit.palette import GREY, INK, MUTED, tint
from figkit.style import SMALL
from numerics import memory
from numerics.qlora import paging
from numerics.qlora import quantization as quant
from published import qlora as published

FIGURES = Registry("qlora")

MODELS = (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B)
#: Macro words of the model sizes (LaTeX macro names take letters only).
SIZE_WORDS = {"7B": "Seven", "13B": "Thirteen", "33B": "ThirtyThree", "65B": "SixtyFive"}
RANK = published.GUANACO_RANK  # Guanaco: r = 64 on all linear layers (QLoRA App. B)
BLOCK_SIZE = memory.QLORA_BLOCK_SIZE  # weights per absmax constant (QLoRA Sec. 3)

#: The GPUs memory_comparison draws, of the book's three (numerics.memory.BOOK_GPUS): the 24 GiB
#: consumer card and the "single 48GB GPU" of the QLoRA paper (48 GiB), drawn at
#: numerics.memory.gpu_capacity_gb (GB = 1e9 bytes) and labelled by numerics.memory.gpu_label.
REFERENCE_GPUS = ("RTX 4090", "RTX A6000")
PAPER_GPU = "RTX A6000"  # QLoRA: 65B fine-tuned "on a single 48GB GPU"
GPUS = tuple((memory.gpu_capacity_gb(gpu), memory.gpu_label(gpu)) for gpu in REFERENCE_GPUS)

DTYPES = ("INT4", "FP4", "NF4")  # in the order the figures list them
SAMPLES = ("normal", "heavy-tailed")  # the weight distributions quantized
SAMPLE_SIZE = 2**16  # weights per sample
SEEDS = (0, 1, 2, 3, 4)  # samples per distribution; the figures show their mean and spread
HEAVY_TAIL_DF = 5  # degrees of freedom of the heavy-tailed (Student t) sample
DQ_SAMPLE_SIZE = 2**18  # weights per double-quantization sample: 4096 constants, 16 blocks of 256

# The paging scenario (numerics.qlora.paging.simulate_paging): the released Guanaco 33B recipe
# (finetune_guanaco_33b.sh: micro-batch 4, samples truncated to 16 + 512 tokens, grouped by
# length, adapters at 12 bytes per parameter) on the 24 GiB card, several runs.
PAGING_MODEL = memory.LLAMA_33B
PAGING_GPU = "RTX 4090"
PAGING_BATCH = paging.RELEASED_BATCH
PAGING_MAX_LEN = paging.RELEASED_MAX_LEN
PAGING_RECIPE = paging.RELEASED_RECIPE
PAGING_STEPS = 1000  # micro-batches per simulated run (5 of the sampler's mega-batches)
PAGING_SEEDS = tuple(range(10))  # simulated runs (sequence-length draws)
PAGING_SHOWN_STEPS = 400  # the micro-batches of the first run that panel (a) draws
PAGING_Y_FROM = 21.0  # GB: where panel (a)'s and (b)'s y axis starts (zoomed, stated on it)
PAGING_X_ROOM = 0.05  # panel (a)'s x axis starts this share of the drawn steps before the first
PAGING_Y_ROOM_GB = 0.25  # and its y axis ends this far above the highest demand
PAGING_MEDIAN_LENGTH = 400  # tokens, median of the log-normal sequence lengths (an assumption)


def short(name: str) -> str:
    return name.replace("LLaMA-", "")


def dtype_styles() -> dict[str, dict]:
    """How the 4-bit formats are drawn: INT4 and FP4 as unnamed series (they mean nothing beyond
    their panel), NF4 in QLoRA's colour, always labelled as QLoRA's data type."""
    int4, _, _, fp4 = meanings.unnamed(4)  # FP4: down triangles, NF4 (QLoRA) points up
    nf4 = meanings.method("qlora")
    return {"INT4": int4, "FP4": fp4, "NF4": {"color": nf4.color, "linestyle": nf4.linestyle,
                                              "marker": nf4.marker}}


#: Legend names of the formats: NF4 is named as QLoRA's.
DTYPE_LABELS = {"INT4": "INT4 (absmax)", "FP4": "FP4", "NF4": "NF4 (QLoRA)"}


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QloraStorage:
    """The storage of the frozen base that the architecture diagram labels, and the paths the
    forward and backward passes take through the layer (QLoRA Sec. 3, Eqs. 5-6)."""
    block_size: int          # weights per 8-bit absmax constant
    constant_bits: int       # bits of each double-quantized constant
    second_block_size: int   # constants per fp32 second-level constant
    #: (from, to) of every forward arrow: the NF4 weights and their constants are dequantized
    #: to a bf16 copy of W, which (not x) enters the product W x.
    forward: tuple[tuple[str, str], ...]
    #: (from, to) of every gradient arrow: dE/dh flows back to the adapters B, A and, through
    #: the product with the dequantized W, to the input x; W itself gets no gradient.
    backward: tuple[tuple[str, str], ...]
    trained: tuple[str, ...]  # the parameters that receive a gradient
    numbers: Numbers         # BitsPerWeight: NF4 bits per weight, constants included


def qlora_architecture_result() -> QloraStorage:
    numbers = Numbers()
    numbers.add("BitsPerWeight", memory.nf4_bits_per_param(True), ".3f")
    numbers.add("BlockSize", memory.QLORA_BLOCK_SIZE, "d")
    numbers.add("SecondBlockSize", memory.QLORA_DQ_BLOCK_SIZE, "d")
    # QLoRA Eq. 5: Y = X doubleDequant(c1, c2, W_NF4) + X L1 L2. The dequantized bf16 copy of W
    # is what multiplies x; the constants and the 4-bit data only feed the dequantization.
    forward = (("W", "dequantize"), ("constants", "dequantize"), ("dequantize", "W16"),
               ("W16", "matmul"), ("x", "matmul"), ("matmul", "h"), ("x", "A"), ("A", "B"),
               ("B", "h"))
    # QLoRA Sec. 3: only dE/dL_i of the adapters is needed, not dE/dW of the 4-bit weights, but
    # the backward pass through the layer dequantizes W to BF16 (Eq. 5, doubleDequant Eq. 6) to
    # pass dE/dx = dequant(W)^T dE/dh (+ the adapter path) on to the layers below.
    backward = (("h", "matmul"), ("matmul", "x"), ("h", "B"), ("B", "A"), ("A", "x"))
    return QloraStorage(block_size=memory.QLORA_BLOCK_SIZE,
                        constant_bits=memory.QLORA_DQ_CONSTANT_BITS,
                        second_block_size=memory.QLORA_DQ_BLOCK_SIZE, forward=forward,
                        backward=backward, trained=("A", "B"), numbers=numbers)


@FIGURES.figure(
    caption="One QLoRA layer in training: the frozen weights $W$ are stored in 4-bit NF4 with "
            "double-quantized block constants and dequantized to a bf16 copy for every product, "
            "forward and backward; the gradient reaches the input $x$ through that copy and "
            "through the adapters, but only the bf16 LoRA adapters $A$, $B$ receive weight "
            "gradients, and their Adam states live in paged memory.",
    result=qlora_architecture_result, width=1.0, height=3.0)
def qlora_architecture(fig, storage: QloraStorage):
    bits = storage.numbers["BitsPerWeight"]
    meanings.role("frozen")  # frozen base weights: neutral grey, as in the LoRA chapter
    frozen = GREY
    constants = meanings.component("quantization_constants").color
    activations = meanings.component("activations").color
    states = meanings.component("optimizer_states").color
    gradient = meanings.component("gradients").color
    lora = meanings.method("lora").color
    ax = diagram.canvas(fig, (0, 10), (0, 6.4))
    boxes = {
        "W": diagram.box(ax, 1.9, 5.9, f"$W$ ($d \\times k$): NF4, frozen\n{bits} bits/weight, "
                         "no $\\partial E/\\partial W$", color=frozen),
        "constants": diagram.box(
            ax, 8.0, 5.9, f"block constants: {storage.constant_bits}-bit absmax per\n"
            f"{storage.block_size} weights, fp32 per {storage.second_block_size} constants",
            color=constants, fontsize=SMALL),
        "dequantize": diagram.box(ax, 5.0, 5.9, "dequantize", color=MUTED, fill=0.92),
        "W16": diagram.box(ax, 5.0, 4.55, "$W$ in bf16\n(temporary copy)", color=frozen),
        "matmul": diagram.box(ax, 5.0, 3.2, "$W x$\nbf16 product", color=MUTED, fill=0.92),
        "x": diagram.box(ax, 0.8, 3.2, "input $x$\nbf16", color=activations),
        "h": diagram.box(ax, 8.75, 3.2, "$h = Wx + (\\alpha/r)\\,BAx$\nbf16",
                         color=activations),
        "A": diagram.box(ax, 3.4, 1.6, "LoRA adapter $A$\n$r \\times k$, bf16, trained",
                         color=lora),
        "B": diagram.box(ax, 6.6, 1.6, "LoRA adapter $B$\n$d \\times r$, bf16, trained",
                         color=lora),
    }
    adam = diagram.box(ax, 5.0, 0.3, "Adam states of $A$, $B$: paged GPU $\\leftrightarrow$ CPU",
                       color=states, fontsize=SMALL)
    sides = {("W", "dequantize"): ((1, 0.5), (0, 0.5)),
             ("constants", "dequantize"): ((0, 0.5), (1, 0.5)),
             ("dequantize", "W16"): ((0.5, 0), (0.5, 1)), ("W16", "matmul"): ((0.5, 0), (0.5, 1)),
             ("x", "matmul"): ((1, 0.28), (0, 0.28)), ("matmul", "h"): ((1, 0.28), (0, 0.28)),
             ("x", "A"): ((0.5, 0), (0.15, 1)), ("A", "B"): ((1, 0.7), (0, 0.7)),
             ("B", "h"): ((0.85, 1), (0.35, 0))}
    # forward pass: ink
    for edge in storage.forward:
        start, end = sides[edge]
        diagram.link(ax, boxes[edge[0]], boxes[edge[1]], start, end)
    diagram.link(ax, adam, boxes["A"], (0.25, 1), (0.5, 0), color=states)
    diagram.link(ax, adam, boxes["B"], (0.75, 1), (0.5, 0), color=states)
    # backward pass: in the colour of gradients (solid: dashes mean held-out data in this book)
    # (above the forward arrows between x, W x and h, so the label of dE/dx sits on its arrow)
    back = {("h", "matmul"): ((0, 0.72), (1, 0.72)), ("matmul", "x"): ((0, 0.72), (1, 0.72)),
            ("h", "B"): ((0.6, 0), (1, 0.3)), ("B", "A"): ((0, 0.3), (1, 0.3)),
            ("A", "x"): ((0, 0.75), (0.2, 0))}
    for edge in storage.backward:
        start, end = back[edge]
        diagram.link(ax, boxes[edge[0]], boxes[edge[1]], start, end, color=gradient,
                     connectionstyle="arc3,rad=-0.3" if edge == ("h", "B") else "arc3")
    ax.text(2.75, 3.65, "$\\partial E/\\partial x = W^\\top \\partial E/\\partial h$\n"
            "(with the bf16 copy of $W$)", ha="center", va="bottom", fontsize=SMALL, color=INK)
    ax.legend(handles=[Line2D([], [], color=INK, lw=0.9, label="forward pass"),
                       Line2D([], [], color=gradient, lw=0.9, label="gradients (backward)"),
                       Line2D([], [], color=states, lw=0.9,
                              label="Adam update of $A$, $B$")],
              loc="lower right", bbox_to_anchor=(1.0, 0.0), fontsize=SMALL, handlelength=2.2)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ConstantCost:
    """What the quantization constants cost per weight with one level and with double
    quantization (QLoRA Sec. 3), and what double quantization measurably costs in accuracy:
    the error of the 8-bit constants and the growth of the NF4 weights' round-trip error, over
    several samples of normal weights."""
    single_bits: float              # fp32 absmax per block: 32/64
    first_level_bits: float         # 8-bit absmax per block: 8/64
    second_level_bits: float        # fp32 absmax per 256 constants: 32/(64 * 256)
    saved_model: str                # the LLaMA model whose saving panel (a) states, "65B"
    saved_gb: float                 # memory double quantization saves on it, GB
    #: relative error of every double-quantized constant, in %, all samples pooled
    constant_error_pct: np.ndarray
    histogram_edges: np.ndarray     # bins of constant_error_pct, %
    histogram_counts: np.ndarray    # constants per bin, all samples
    rmse_fp32: np.ndarray           # (len(SEEDS),) NF4 weight RMSE with fp32 constants
    rmse_dq: np.ndarray             # (len(SEEDS),) the same with double-quantized constants
    seeds: tuple[int, ...]
    sample_size: int
    numbers: Numbers


def double_quantization_result() -> ConstantCost:
    single = memory.quantization_constant_bits_per_param()
    first = memory.QLORA_DQ_CONSTANT_BITS / memory.QLORA_BLOCK_SIZE
    second = memory.double_quantized_constant_bits_per_param() - first
    largest = MODELS[-1]
    saved_gb = memory.parameter_count(largest) * (single - first - second) / 8 / memory.GB
    effects = [quant.double_quantization_effect(quant.normal_weights(DQ_SAMPLE_SIZE, seed=seed),
                                                quant.nf4_codebook(), BLOCK_SIZE)
               for seed in SEEDS]
    # rounded to what the figure can show, so the histogram is the same on every CPU
    errors = np.round(100 * np.concatenate([e.relative_error for e in effects]), 6)
    reach = float(np.ceil(np.abs(errors).max() * 10) / 10)
    counts, edges = np.histogram(errors, bins=np.linspace(-reach, reach, 41))
    rmse_fp32 = np.array([e.rmse_fp32 for e in effects])
    rmse_dq = np.array([e.rmse_dq for e in effects])
    increase = 100 * (rmse_dq / rmse_fp32 - 1)
    numbers = Numbers()
    numbers.add("ConstBitsSingle", single, ".3f")
    numbers.add("ConstBitsDouble", first + second, ".3f")
    numbers.add("ConstBitsFirstLevel", first, ".3f")
    numbers.add("ConstBitsSecondLevel", second, ".3f")
    numbers.add("ConstBitsSaved", single - first - second, ".3f")
    numbers.add("SavedSixtyFiveGB", saved_gb, ".2f")
    numbers.add("ConstErrorRmsPct", np.sqrt(np.mean(errors ** 2)), ".2f")
    numbers.add("ConstErrorMaxPct", np.abs(errors).max(), ".1f")
    numbers.add("DqRmseIncreasePct", increase.mean(), ".2f")
    numbers.add("DqRmseIncreaseMinPct", increase.min(), ".2f")
    numbers.add("DqRmseIncreaseMaxPct", increase.max(), ".2f")
    numbers.add("DqWeightRmse", rmse_fp32.mean(), ".4f")
    numbers.add("DqSamples", len(SEEDS), "d")
    numbers.add("DqConstants", len(errors), ",d")
    return ConstantCost(single_bits=single, first_level_bits=first, second_level_bits=second,
                        saved_model=short(largest.name), saved_gb=saved_gb,
                        constant_error_pct=errors, histogram_edges=edges,
                        histogram_counts=counts, rmse_fp32=rmse_fp32, rmse_dq=rmse_dq,
                        seeds=SEEDS, sample_size=DQ_SAMPLE_SIZE, numbers=numbers)


@FIGURES.figure(
    caption=f"Double quantization: storing the block constants in "
            f"{memory.QLORA_DQ_CONSTANT_BITS} bits, in blocks of {memory.QLORA_DQ_BLOCK_SIZE}, "
            f"cuts their cost from {published.CONSTANT_BITS_SINGLE:g} to "
            f"{published.CONSTANT_BITS_DOUBLE:g} bits per weight, about "
            f"{published.DOUBLE_QUANT_SAVING_65B_GB:g} GB on {short(MODELS[-1].name)} (QLoRA, "
            f"section 3), and measurably costs almost nothing: each constant moves by under "
            f"1 \\%, the weights' error grows by a few hundredths of a percent ({len(SEEDS)} "
            f"samples of {DQ_SAMPLE_SIZE:,} normal weights).",
    result=double_quantization_result, width=1.0, aspect=0.4)
def double_quantization(fig, cost: ConstantCost):
    constants = meanings.component("quantization_constants")
    numbers = cost.numbers
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    x = [0, 1]
    ax_a.bar(x[0], cost.single_bits, 0.5, **constants.fill)
    # one bar for both levels (the fp32 second level, 0.002 bits, would be an invisible
    # sliver): its two parts are written above it
    top_double = cost.first_level_bits + cost.second_level_bits
    ax_a.bar(x[1], top_double, 0.5, **constants.fill)
    ax_a.text(x[0], cost.single_bits + 0.01, f"32/64 = {numbers['ConstBitsSingle']}",
              ha="center", va="bottom", fontsize=SMALL)
    ax_a.text(x[1], top_double + 0.01, f"8-bit: 8/64 = {numbers['ConstBitsFirstLevel']}\n"
              f"+ fp32: 32/(64$\\cdot$256) = {numbers['ConstBitsSecondLevel']}\n"
              f"= {numbers['ConstBitsDouble']}", ha="center", va="bottom", fontsize=SMALL)
    # the saving, as a bracket from the one-level bar down to the double-quantized one
    ax_a.annotate("", xy=(0.38, top_double), xytext=(0.38, cost.single_bits),
                  arrowprops=arrow_props())
    ax_a.plot([x[0] + 0.25, 0.43], [cost.single_bits] * 2, color=INK, lw=0.5)
    ax_a.plot([0.33, x[1] - 0.25], [top_double] * 2, color=INK, lw=0.5)
    ax_a.text(0.43, (cost.single_bits + top_double) / 2 + 0.08,
              f"$-${numbers['ConstBitsSaved']} bits\n= {numbers['SavedSixtyFiveGB']} GB\n"
              f"on {cost.saved_model}", ha="left", va="center", fontsize=SMALL)
    ax_a.set_xticks(x, [f"one level:\nfp32 per {BLOCK_SIZE}",
                        f"double: 8-bit per {BLOCK_SIZE},\nfp32 per 256 constants"])
    ax_a.set_xlim(-0.45, 1.45)
    ax_a.set_ylim(0, cost.single_bits * 1.18)
    ax_a.set_ylabel("bits of constants per weight")
    panel_title(ax_a, "a", "What the constants cost")

    edges = cost.histogram_edges
    ax_b.stairs(cost.histogram_counts, edges, fill=True, color=constants.color, lw=0)
    ax_b.set_xlim(edges[0], edges[-1])
    ax_b.set_ylim(0, cost.histogram_counts.max() * 1.08)
    ax_b.set_xlabel("error of each 8-bit constant (%)")
    ax_b.set_ylabel(f"constants ({numbers['DqConstants']} in all)")
    ax_b.text(0.02, 0.97, f"constants:\nRMS {numbers['ConstErrorRmsPct']} %,\nlargest "
              f"{numbers['ConstErrorMaxPct']} %", transform=ax_b.transAxes, ha="left",
              va="top", fontsize=SMALL)
    ax_b.text(0.98, 0.97, f"weights' RMSE\n({numbers['DqWeightRmse']})\ngrows by\n"
              f"{numbers['DqRmseIncreaseMinPct']}$-${numbers['DqRmseIncreaseMaxPct']} %\n"
              f"({numbers['DqSamples']} samples)", transform=ax_b.transAxes, ha="right",
              va="top", fontsize=SMALL)
    panel_title(ax_b, "b", "What it costs in accuracy")


# --------------------------------------------------------------------------------------------
#: How every trained parameter is counted in memory_comparison: the book's one accounting
#: (numerics.memory.compare_methods, 16 bytes, ZeRO), as in fine_tuning/memory_comparison.
ACCOUNTING = memory.MIXED_PRECISION_ADAM
#: The stacks of memory_comparison, bottom to top: (key, legend label, memory component, drawn
#: as: "plain", "tint" (the weights QLoRA leaves unquantized: bf16 embeddings and head, fp32
#: norms) or "adapters" (hatched)).
QLORA_PARTS = (
    ("nf4", "4-bit NF4 weights (block linears)", "weights", "plain"),
    ("quantization_constants", "quantization constants", "quantization_constants", "plain"),
    ("unquantized", "unquantized weights (embeddings, head, norms)", "weights", "tint"),
    ("adapter_weights", "adapter weights", "weights", "adapters"),
    ("adapter_gradients", "adapter gradients", "gradients", "adapters"),
    ("adapter_optimizer_states", "adapter optimizer states", "optimizer_states", "adapters"),
)
UNQUANTIZED_TINT = 0.55  # the unquantized weights: a pale tint of the weights' colour
#: Macro words of QLORA_PARTS, and the model whose parts memory_comparison writes out (its
#: small parts are slivers of its bar).
PART_WORDS = {"nf4": "NfFour", "quantization_constants": "Constants",
              "unquantized": "Unquantized", "adapter_weights": "AdapterWeights",
              "adapter_gradients": "AdapterGradients",
              "adapter_optimizer_states": "AdapterStates"}
SPELLED_OUT_MODEL = "7B"
#: memory_comparison's key starts this far below the larger card's line, and its paragraph on
#: the 7B bar this far below the key's top (the key's two lines at line spacing 1.2 and a blank
#: half line), in font sizes: in points, so the two never touch at any text width.
KEY_DROP_LINES = 1.5
KEY_GAP_LINES = 2 * 1.2 + 0.6


@dataclass(frozen=True)
class QloraBytes:
    """Where QLoRA's model-state memory goes, for each LLaMA model: the QLoRA breakdowns of the
    book's one accounting (numerics.memory.compare_methods, every trained parameter at 16
    bytes), with the frozen weights split by storage (numerics.memory.qlora_weight_storage),
    and what the cards leave for activations."""
    models: tuple[str, ...]                      # "7B" ... "65B"
    breakdowns: tuple[memory.MemoryBreakdown, ...]  # QLoRA, one per model
    parts_gb: dict[str, np.ndarray]              # QLORA_PARTS key -> GB per model
    totals_gb: np.ndarray                        # GB per model
    bits_per_param: np.ndarray                   # total bits / parameters of the model
    adapter_share: np.ndarray                    # adapters' weights + gradients + states / total
    gpus: tuple[tuple[float, str], ...]          # (capacity in GB, label), REFERENCE_GPUS order
    #: model -> (index into gpus, GB the card leaves for activations): the largest model each
    #: card holds
    headroom: dict[str, tuple[int, float]]
    paper_gpu: int                               # index into gpus: the QLoRA paper's 48 GiB card
    paper_model: str                             # "65B": what the paper fine-tunes on it
    numbers: Numbers


def qlora_training_states(shape: memory.TransformerShape) -> memory.MemoryBreakdown:
    """QLoRA's model states for training `shape` in the book's one accounting
    (numerics.memory.compare_methods, adapters of rank RANK on all linear layers): one bar of
    memory_comparison, and what training_efficiency's caption sets against Table 6's memory."""
    return memory.compare_methods((shape,), RANK, memory.ALL_LINEAR, ACCOUNTING)[shape.name][
        "QLoRA"]


def memory_comparison_result() -> QloraBytes:
    breakdowns = tuple(qlora_training_states(shape) for shape in MODELS)
    storage = [memory.qlora_weight_storage(shape) for shape in MODELS]
    parts = {key: np.array([split[key] if key in split else getattr(b, key)
                            for b, split in zip(breakdowns, storage, strict=True)]) / memory.GB
             for key, *_ in QLORA_PARTS}
    totals = np.array([b.total_gb for b in breakdowns])
    n_params = np.array([memory.parameter_count(shape) for shape in MODELS])
    bits = np.array([b.total for b in breakdowns]) * 8 / n_params
    adapters = sum(parts[key] for key, *_, drawn in QLORA_PARTS if drawn == "adapters")
    share = adapters / totals
    models = tuple(short(shape.name) for shape in MODELS)
    headroom = {}
    for g, (capacity, _) in enumerate(GPUS):  # the largest model that fits each card
        fits = [i for i, total in enumerate(totals) if total < capacity]
        if fits:
            headroom[models[fits[-1]]] = (g, capacity - totals[fits[-1]])
    paper_model = short(memory.LLAMA_65B.name)
    numbers = Numbers()
    for i, model in enumerate(models):
        word = SIZE_WORDS[model]
        numbers.add(f"Qlora{word}GB", totals[i], ".1f")
        numbers.add(f"Qlora{word}Bits", bits[i], ".1f")
        numbers.add(f"Qlora{word}AdapterPct", 100 * share[i], ".0f")
        numbers.add(f"Qlora{word}AdapterGB", adapters[i], ".1f")
        for key, part in PART_WORDS.items():
            numbers.add(f"Qlora{word}{part}GB", parts[key][i], ".2f")
    for model, (_, gb) in headroom.items():
        numbers.add(f"Left{SIZE_WORDS[model]}GB", gb, ".1f")
    numbers.add("QloraBytesPerTrainedParam", ACCOUNTING.bytes_per_param, "g")
    numbers.add("PaperClaimSixtyFiveGB", published.QLORA_65B_GPU_GB, "d")
    for gpu in REFERENCE_GPUS:
        numbers.add(f"Gpu{spell(gpu)}GB", memory.gpu_capacity_gb(gpu), ".1f")
    return QloraBytes(models=models, breakdowns=breakdowns, parts_gb=parts, totals_gb=totals,
                      bits_per_param=bits, adapter_share=share, gpus=GPUS, headroom=headroom,
                      paper_gpu=REFERENCE_GPUS.index(PAPER_GPU), paper_model=paper_model,
                      numbers=numbers)


def qlora_part_fill(component: str, drawn: str) -> dict:
    """Bar fill of one of QLORA_PARTS: its component's fill, a pale tint of it for the weights
    QLoRA leaves unquantized, hatched for the adapters' share."""
    if drawn == "adapters":
        return meanings.adapter_share(component)
    fill = meanings.component(component).fill
    if drawn == "tint":
        fill = {**fill, "facecolor": tint(fill["facecolor"], UNQUANTIZED_TINT)}
    return fill


@FIGURES.figure(
    caption=f"Where QLoRA's model states go for each LLaMA model (GB = $10^9$ bytes; adapters "
            f"of rank {RANK} on all linear layers, every trained parameter at "
            f"{ACCOUNTING.bytes_per_param:g} bytes, the book's accounting): mostly the 4-bit "
            "weights, then the adapters' share (hatched), most of it optimizer states; "
            f"{short(MODELS[-1].name)} fits a {published.QLORA_65B_GPU_GB} GiB card (the QLoRA "
            f"paper's ``single {published.QLORA_65B_GPU_GB}GB GPU''), 33B a 24 GiB card, each "
            "with little room left for activations.",
    result=memory_comparison_result, width=1.0, height=3.15)
def memory_comparison(fig, qbytes: QloraBytes):
    ax = fig.subplots()
    numbers = qbytes.numbers
    x = np.arange(len(qbytes.models), dtype=float)
    width = 0.5
    bottom = np.zeros(len(x))
    handles = []
    for key, label, component, drawn in QLORA_PARTS:
        fill = qlora_part_fill(component, drawn)
        ax.bar(x, qbytes.parts_gb[key], width, bottom=bottom, **fill)
        handles.append(Patch(**fill, label=label))
        if key == "adapter_weights":
            start = bottom.copy()
        bottom = bottom + qbytes.parts_gb[key]
    # each model's share of adapters beside its hatched stack, on the right of the bar
    for i, model in enumerate(qbytes.models):
        middle = (start[i] + bottom[i]) / 2
        ax.text(x[i] + width / 2 + 0.04, middle,
                f"{numbers[f'Qlora{SIZE_WORDS[model]}AdapterPct']} %", ha="left",
                va="center", fontsize=SMALL)
    reference = meanings.role("reference")
    for g, (capacity, label) in enumerate(qbytes.gpus):
        ax.axhline(capacity, color=reference.color, ls=reference.linestyle, lw=0.6)
        if g == qbytes.paper_gpu:
            label += (f"; the QLoRA paper: {qbytes.paper_model} on a single "
                      f"{numbers['PaperClaimSixtyFiveGB']}GB GPU")  # its words, no card named
        ax.text(x[0] - width / 2, capacity + 0.6, label, ha="left", va="bottom",
                fontsize=SMALL)
    # what each card leaves for activations above the largest model it holds
    for model, (g, _) in qbytes.headroom.items():
        i = qbytes.models.index(model)
        capacity, total = qbytes.gpus[g][0], qbytes.totals_gb[i]
        left = x[i] - width / 2 - 0.06
        text = f"{numbers[f'Left{SIZE_WORDS[model]}GB']} GB left for activations"
        if capacity - total > 3:  # room for an arrow between the bar and the line
            ax.annotate("", xy=(left, total), xytext=(left, capacity),
                        arrowprops=arrow_props(arrowstyle="<|-|>"))
            ax.text(left - 0.04, (capacity + total) / 2, text, ha="right", va="center",
                    fontsize=SMALL)
        else:  # a label below the line, pointing at the gap
            ax.annotate(text, xy=(x[i] - width / 2, (capacity + total) / 2),
                        xytext=(left - 0.1, total - 2.5), ha="right", va="center",
                        fontsize=SMALL, arrowprops=arrow_props())
    # between the two cards' lines (above 33B, left of 65B's headroom note): the key to the
    # hatching and the percentages, and below it, a paragraph apart, the smallest model's
    # parts, too thin to read off its bar
    low, high = (capacity for capacity, _ in qbytes.gpus)
    corner = (x[0] - width / 2, high)
    ax.annotate("hatched: the adapters; beside each bar,\ntheir share of the total", xy=corner,
                xytext=(0, -KEY_DROP_LINES * SMALL), textcoords="offset points", ha="left",
                va="top", fontsize=SMALL)
    word = SIZE_WORDS[SPELLED_OUT_MODEL]

    def part(key):
        return numbers[f"Qlora{word}{PART_WORDS[key]}GB"]

    ax.annotate(f"the {SPELLED_OUT_MODEL} bar in GB: NF4 weights {part('nf4')}, constants "
                f"{part('quantization_constants')},\nunquantized weights {part('unquantized')}; "
                f"adapter weights {part('adapter_weights')},\ngradients "
                f"{part('adapter_gradients')}, optimizer states "
                f"{part('adapter_optimizer_states')}", xy=corner,
                xytext=(0, -(KEY_DROP_LINES + KEY_GAP_LINES) * SMALL),
                textcoords="offset points", ha="left", va="top", fontsize=SMALL)
    ax.set_xticks(x, [f"{model}\n{numbers[f'Qlora{SIZE_WORDS[model]}GB']} GB\n"
                      f"{numbers[f'Qlora{SIZE_WORDS[model]}Bits']} bits/param"
                      for model in qbytes.models])
    ax.set_xlim(-0.5, len(x) - 0.35)
    ax.set_ylim(0, max(qbytes.gpus)[0] * 1.12)
    ax.set_xlabel("LLaMA model: total model states, and bits per model parameter")
    ax.set_ylabel("model states (GB)")
    # the figure's one panel: its legend above it, the frozen parts in one row (column when
    # narrow) and the adapters' (hatched) in the other
    narrow = fig.get_figwidth() < NARROW_IN
    fig.legend(handles=handles if narrow else [handles[i] for i in (0, 3, 1, 4, 2, 5)],
               loc="outside upper center", ncols=2 if narrow else 3, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PagedMemory:
    """The paging simulation over several runs (sequence-length draws), what panel (a) draws of
    the first run, and GPU memory against padded sequence length (panel (b)), in GB."""
    runs: tuple[paging.PagingSimulation, ...]  # one per seed of PAGING_SEEDS
    book_static: memory.MemoryBreakdown  # the same model states under the book's 16 bytes
    steps: np.ndarray          # (n,) the micro-batches of the first run that are drawn
    demand_gb: np.ndarray      # (n,) model states + activations
    resident_gb: np.ndarray    # (n,) on the GPU with paged optimizers
    paged_gb: np.ndarray       # (n,) optimizer states paged out to CPU memory
    lengths: np.ndarray        # padded sequence lengths 1 ... PAGING_MAX_LEN
    demand_by_length_gb: np.ndarray  # model states + activations at each length
    static_gb: float           # model states alone (the released recipe's accounting)
    capacity_gb: float         # the card, as nvidia-smi reports it
    pageable_gb: float         # the adapters' optimizer states, which may move
    oom_seq_len: int           # the shortest padded length that does not fit
    paged_share: np.ndarray    # (runs,) share of each run's micro-batches that page out
    oom_steps: np.ndarray      # (runs,) first micro-batch that exceeds the card without paging
    gpu: str
    gpu_label: str             # numerics.memory.gpu_label: the card and its capacity in GB
    rank: int
    numbers: Numbers


def paged_optimizers_result() -> PagedMemory:
    runs = tuple(paging.simulate_paging(shape=PAGING_MODEL, gpu=PAGING_GPU, batch=PAGING_BATCH,
                                        steps=PAGING_STEPS, seed=seed,
                                        median_seq_len=PAGING_MEDIAN_LENGTH, rank=RANK,
                                        adapter_recipe=PAGING_RECIPE, max_len=PAGING_MAX_LEN)
                 for seed in PAGING_SEEDS)
    first = runs[0]
    book = paging.qlora_model_states(PAGING_MODEL, RANK, ACCOUNTING)
    gb = memory.GB
    shown = slice(0, PAGING_SHOWN_STEPS)
    lengths, by_length = paging.demand_by_length(PAGING_MODEL, first.static_bytes, PAGING_BATCH,
                                                 max_len=PAGING_MAX_LEN)
    by_length = by_length / gb
    share = np.array([run.n_oom_steps / len(run.steps) for run in runs])
    oom_steps = np.array([run.oom_step for run in runs])
    worst = by_length[-1] - first.capacity_bytes / gb  # at the longest padded length
    numbers = Numbers()
    numbers.add("StaticGB", first.static_bytes / gb, ".1f")
    numbers.add("BookStaticGB", book.total / gb, ".1f")
    numbers.add("AdapterBytesPerParam", PAGING_RECIPE.bytes_per_param, "g")
    numbers.add("BookBytesPerParam", ACCOUNTING.bytes_per_param, "g")
    numbers.add("CapacityGB", first.capacity_bytes / gb, ".1f")
    numbers.add("HeadroomGB", first.capacity_bytes / gb - first.static_bytes / gb, ".1f")
    numbers.add("OomSeqLen", first.oom_seq_len, "d")
    numbers.add("MaxSeqLen", PAGING_MAX_LEN, "d")
    numbers.add("MicroBatch", PAGING_BATCH, "d")
    numbers.add("PageableGB", first.pageable_bytes / gb, ".1f")
    numbers.add("MaxPagedGB", worst, ".1f")
    numbers.add("PagingRuns", len(runs), "d")
    numbers.add("PagingRunSteps", PAGING_STEPS, ",d")
    numbers.add("PagingShownSteps", PAGING_SHOWN_STEPS, "d")
    numbers.add("PagedShareMinPct", 100 * share.min(), ".0f")
    numbers.add("PagedShareMaxPct", 100 * share.max(), ".0f")
    numbers.add("OomStepShown", first.oom_step + 1, "d")  # counted from 1 for the reader
    numbers.add("OomWithinSteps", oom_steps.max() + 1, "d")
    numbers.add("YFromGB", PAGING_Y_FROM, "g")
    return PagedMemory(
        runs=runs, book_static=book, steps=first.steps[shown],
        demand_gb=first.demand_bytes[shown] / gb,
        resident_gb=first.resident_bytes[shown] / gb, paged_gb=first.paged_bytes[shown] / gb,
        lengths=lengths, demand_by_length_gb=by_length, static_gb=first.static_bytes / gb,
        capacity_gb=first.capacity_bytes / gb, pageable_gb=first.pageable_bytes / gb,
        oom_seq_len=first.oom_seq_len, paged_share=share, oom_steps=oom_steps,
        gpu=first.assumptions["gpu"], gpu_label=memory.gpu_label(first.assumptions["gpu"]),
        rank=RANK, numbers=numbers)


@FIGURES.figure(
    caption=f"Simulated GPU memory of QLoRA on {PAGING_MODEL.name} on an "
            f"{memory.gpu_label(PAGING_GPU)}, with the released Guanaco 33B recipe "
            f"(micro-batch {PAGING_BATCH}, at most 16 + 512 = {PAGING_MAX_LEN} tokens, grouped "
            f"by length; {PAGING_RECIPE.bytes_per_param:g}-byte adapters; assumed log-normal "
            f"lengths of median {PAGING_MEDIAN_LENGTH} tokens): micro-batches padded past the "
            "length marked in (b) overflow the card by a few tenths of a GB, and paging Adam "
            "states out to CPU memory absorbs that (a).",
    result=paged_optimizers_result, width=1.0, height=2.9)
def paged_optimizers(fig, run: PagedMemory):
    numbers = run.numbers
    qlora = meanings.method("qlora")
    states = meanings.component("optimizer_states")
    reference = meanings.role("reference")
    ax_a, ax_b = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.15, 1]})
    # each micro-batch drawn as a flat stretch one step wide; what overflows is paged out
    edges = np.repeat(np.append(run.steps, run.steps[-1] + 1) - 0.5, 2)[1:-1]
    ax_a.fill_between(edges, run.capacity_gb, np.repeat(np.maximum(run.demand_gb,
                                                                   run.capacity_gb), 2),
                      color=states.color, lw=0,
                      label=f"Adam states paged out to CPU (at most {numbers['MaxPagedGB']} of "
                            f"their {numbers['PageableGB']} GB)")
    ax_a.plot(edges, np.repeat(run.demand_gb, 2), color=MUTED, lw=0.6,
              label="needed: model states + activations")
    ax_a.plot(edges, np.repeat(run.resident_gb, 2), color=qlora.color, lw=0.9,
              label="on the GPU with paged optimizers")
    first = int(run.runs[0].oom_step)
    ax_a.plot(run.steps[first], run.demand_gb[first], "x", color=INK, markersize=5, mew=1.1,
              label=f"out of memory without paging (micro-batch {numbers['OomStepShown']} "
                    f"in all {numbers['PagingRuns']} runs)")
    # room left of the first micro-batch and above the highest demand, so that the x of the
    # first micro-batch stands clear of the y axis and the top of the panel
    room = PAGING_X_ROOM * len(run.steps)
    ax_a.set_xlim(run.steps[0] - room, run.steps[-1] + 1)
    ax_a.set_xlabel("micro-batch (one simulated run)")
    ax_a.set_ylabel(f"GPU memory (GB; axis from {numbers['YFromGB']})")
    panel_title(ax_a, "a", f"The first {numbers['PagingShownSteps']} micro-batches")

    lengths, demand = run.lengths, run.demand_by_length_gb
    ax_b.fill_between(lengths, run.capacity_gb, np.maximum(demand, run.capacity_gb),
                      color=states.color, lw=0)
    ax_b.plot(lengths, demand, color=MUTED, lw=0.8)
    ax_b.plot(run.oom_seq_len, run.capacity_gb, "o", color=INK, markersize=2.5)
    ax_b.annotate(f"from {numbers['OomSeqLen']} tokens on,\na micro-batch pages\nout: "
                  f"{numbers['PagedShareMinPct']}$-${numbers['PagedShareMaxPct']} % of the\n"
                  f"micro-batches in {numbers['PagingRuns']}\nruns of "
                  f"{numbers['PagingRunSteps']}\n(assumed lengths)",
                  xy=(run.oom_seq_len, run.capacity_gb),
                  xytext=(0.97, 0.04), textcoords="axes fraction",
                  ha="right", va="bottom", fontsize=SMALL, arrowprops=arrow_props())
    # the model states' accounting, named in the figure (it reproduces a published setup)
    ax_a.text(0.02, 0.03, f"model states: adapters at\n{numbers['AdapterBytesPerParam']} bytes "
              "per parameter, as\nthe released QLoRA code trains\nthem; the book's "
              f"{numbers['BookBytesPerParam']}-byte\naccounting gives {numbers['BookStaticGB']} GB",
              transform=ax_a.transAxes, ha="left", va="bottom", fontsize=SMALL)
    ax_b.set_xlim(0, lengths[-1])
    ax_b.set_xlabel("padded sequence length (tokens)")
    panel_title(ax_b, "b", "Per padded sequence length")
    for ax in (ax_a, ax_b):
        ax.axhline(run.capacity_gb, color=reference.color, ls=reference.linestyle, lw=0.6)
        ax.axhline(run.static_gb, color=GREY, lw=0.8)
    ax_b.text(1.02, run.capacity_gb, run.gpu_label.replace(", ", "\n", 1),
              transform=ax_b.get_yaxis_transform(), ha="left", va="center", fontsize=SMALL)
    ax_b.text(1.02, run.static_gb, f"model states\n{numbers['StaticGB']} GB",
              transform=ax_b.get_yaxis_transform(), ha="left", va="center", fontsize=SMALL)
    ax_a.set_ylim(numbers.value("YFromGB"), demand.max() + PAGING_Y_ROOM_GB)
    legend_above(fig, ax_a, ncols=2, narrow_ncols=1, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreAndMemory:
    """What the QLoRA paper's Table 6 prints for the Guanaco models and for the 16-bit Vicuna
    13B: the Vicuna-benchmark score (GPT-4 judge, % of ChatGPT's score, 95 % CI) and the memory
    of each model, in one column of one table, measured one way for all. That memory is the
    model's own footprint, not what training it takes: the caption sets one model's Table 6
    memory against its training states in the book's accounting (memory_comparison's bar)."""
    models: tuple[str, ...]               # "7B" ... "65B"
    memory_gb: tuple[float, ...]          # Table 6 "Memory" of the Guanaco models (4-bit)
    vicuna_mean: tuple[float, ...]        # % of ChatGPT's score
    vicuna_ci: tuple[float, ...]          # 95 % CI half-width, percentage points
    other: published.Table6Row            # the 16-bit model of the same table
    chatgpt: float                        # 100 %: every score is relative to ChatGPT
    #: QLoRA's model states for training TRAINED_EXAMPLE (book's accounting): caption only
    training: memory.MemoryBreakdown
    numbers: Numbers


#: The Guanaco model whose Table 6 memory training_efficiency's caption sets against the memory
#: of training it (memory_comparison's bar of the same model).
TRAINED_EXAMPLE = memory.LLAMA_33B
_TRAINED_WORD = SIZE_WORDS[short(TRAINED_EXAMPLE.name)]
_TRAINED_ROW = next(r for r in published.GUANACO_RESULTS if r.shape == TRAINED_EXAMPLE)


def training_efficiency_result() -> ScoreAndMemory:
    results = published.GUANACO_RESULTS
    other = published.VICUNA_13B
    models = tuple(short(result.shape.name) for result in results)
    numbers = Numbers()
    for model, result in zip(models, results, strict=True):
        word = SIZE_WORDS[model]
        numbers.add(f"Published{word}GB", result.memory_gb, "g")
        numbers.add(f"Vicuna{word}", result.vicuna_mean, ".1f")
    numbers.add("VicunaOtherGB", other.memory_gb, "g")
    numbers.add("VicunaOther", other.vicuna_mean, ".1f")
    numbers.add("VicunaOtherBits", other.model_bits, "d")
    training = qlora_training_states(TRAINED_EXAMPLE)
    numbers.add(f"Training{_TRAINED_WORD}GB", training.total_gb, ".1f")
    return ScoreAndMemory(models=models, memory_gb=tuple(r.memory_gb for r in results),
                          vicuna_mean=tuple(r.vicuna_mean for r in results),
                          vicuna_ci=tuple(r.vicuna_ci for r in results), other=other,
                          chatgpt=published.CHATGPT_VICUNA_SCORE, training=training,
                          numbers=numbers)


@FIGURES.figure(
    caption=f"Chatbot quality against the model's own memory, both as the QLoRA paper's Table 6 "
            f"prints them (Vicuna benchmark judged by GPT-4, \\% of ChatGPT's score, 95 \\% "
            f"intervals), not the memory training takes ({short(TRAINED_EXAMPLE.name)}: "
            f"{_TRAINED_ROW.memory_gb:g} GB here, "
            f"{qlora_training_states(TRAINED_EXAMPLE).total_gb:.1f} GB of model states in the "
            f"memory breakdown by model): Guanaco gains with size, and Guanaco 33B scores as high "
            f"as the 16-bit Vicuna 13B, within the intervals, in less memory.",
    result=training_efficiency_result, width=1.0, aspect=0.42)
def training_efficiency(fig, table: ScoreAndMemory):
    numbers = table.numbers
    published_mark = meanings.role("published")
    qlora = meanings.method("qlora")
    reference = meanings.role("reference")
    ax = fig.subplots()
    ax.errorbar(table.memory_gb, table.vicuna_mean, yerr=table.vicuna_ci, capsize=2.5, lw=0.8,
                markersize=5, **published_mark.on(qlora.color))
    # labels beside each point, where no other error bar runs: right of the point, but left of
    # Guanaco 33B (Vicuna 13B's bar is to its right), below 13B's bar for 7B and below the
    # ChatGPT line for 65B
    places = {"7B": (0.8, -3.4, "left"), "13B": (0.8, 0.0, "left"), "33B": (-0.8, 0.0, "right"),
              "65B": (0.8, -1.6, "left")}
    for model, gb, score in zip(table.models, table.memory_gb, table.vicuna_mean, strict=True):
        word = SIZE_WORDS[model]
        dx, dy, ha = places[model]
        ax.text(gb + dx, score + dy, f"Guanaco {model}, 4-bit\n{numbers[f'Vicuna{word}']} % in "
                f"{numbers[f'Published{word}GB']} GB", ha=ha, va="center", fontsize=SMALL)
    other = table.other
    ax.errorbar([other.memory_gb], [other.vicuna_mean], yerr=[other.vicuna_ci], capsize=2.5,
                lw=0.8, markersize=5, **published_mark.line)
    ax.text(other.memory_gb + 0.8, other.vicuna_mean,
            f"{other.name}, {numbers['VicunaOtherBits']}-bit\n{numbers['VicunaOther']} % in "
            f"{numbers['VicunaOtherGB']} GB", ha="left", va="center", fontsize=SMALL)
    ax.axhline(table.chatgpt, color=reference.color, ls=reference.linestyle, lw=0.6)
    ax.text(0.5, table.chatgpt + 0.4, "ChatGPT = 100 %", ha="left", va="bottom",
            fontsize=SMALL)
    ax.set_xlim(0, max(table.memory_gb) * 1.25)
    ax.set_xlabel("memory of the model itself, not of training it (GB, as Table 6 prints it)")
    ax.set_ylabel("Vicuna benchmark score\n(% of ChatGPT's, 95 % CI)")
    handles = [Line2D([], [], **published_mark.on(qlora.color), markersize=5,
                      label="QLoRA: Guanaco, 4-bit (published)"),
               Line2D([], [], **published_mark.line, markersize=5,
                      label=f"{other.name}, 16-bit (published)")]
    ax.legend(handles=handles, loc="lower right", fontsize=SMALL)


# --------------------------------------------------------------------------------------------
def rmse_key(dtype: str, sample: str) -> str:
    """numbers.tex key of a measured RMSE, e.g. RmseNfFourNormal, RmseIntFourHeavy."""
    return f"Rmse{spell(dtype)}{'Normal' if sample == 'normal' else 'Heavy'}"


@dataclass(frozen=True, eq=False)
class DataTypeErrors:
    """The RMSE each 4-bit code book measurably makes on normal and heavy-tailed weights
    (blockwise absmax), over several samples."""
    #: data type -> (len(SAMPLES), len(SEEDS)) RMSE of every sample
    rmse_by_seed: dict[str, np.ndarray]
    rmse: dict[str, tuple[float, float]]      # data type -> mean RMSE per sample (SAMPLES order)
    seeds: tuple[int, ...]
    sample_size: int
    block_size: int
    heavy_tail_df: float
    numbers: Numbers


def quantization_comparison_result() -> DataTypeErrors:
    books = quant.codebooks()

    def sample(kind: str, seed: int) -> np.ndarray:
        if kind == "normal":
            return quant.normal_weights(SAMPLE_SIZE, seed=seed)
        return quant.heavy_tailed_weights(SAMPLE_SIZE, seed=seed, df=HEAVY_TAIL_DF)

    weights = {(kind, seed): sample(kind, seed) for kind in SAMPLES for seed in SEEDS}
    by_seed = {name: np.array([[quant.quantization_error(weights[kind, seed], books[name],
                                                         BLOCK_SIZE)["rmse"] for seed in SEEDS]
                               for kind in SAMPLES]) for name in DTYPES}
    rmse = {name: tuple(float(v) for v in by_seed[name].mean(axis=1)) for name in DTYPES}
    spread = max(float(np.ptp(errors, axis=1).max()) for errors in by_seed.values())
    numbers = Numbers()
    for name in DTYPES:
        for kind, error in zip(SAMPLES, rmse[name], strict=True):
            numbers.add(rmse_key(name, kind), error, ".3f")
    for i, kind in enumerate(SAMPLES):  # how much less error NF4 makes than INT4
        numbers.add(f"NfFourGain{'Normal' if kind == 'normal' else 'Heavy'}Pct",
                    100 * (1 - rmse["NF4"][i] / rmse["INT4"][i]), ".0f")
    numbers.add("RmseLargestSpread", spread, ".3f")
    numbers.add("RmseSamples", len(SEEDS), "d")
    numbers.add("RmseSampleSize", SAMPLE_SIZE, ",d")
    return DataTypeErrors(rmse_by_seed=by_seed, rmse=rmse, seeds=SEEDS, sample_size=SAMPLE_SIZE,
                          block_size=BLOCK_SIZE, heavy_tail_df=HEAVY_TAIL_DF, numbers=numbers)


_PPL = published.TABLE_2_MEAN_PERPLEXITY  # QLoRA Table 2, quoted in the caption

#: Bar faces of the formats: INT4 and FP4 as two shades of grey (hatching is reserved for the
#: adapters' share of memory), NF4 in QLoRA's colour.
DTYPE_SHADES = {"INT4": 0.45, "FP4": 0.75}


def dtype_faces() -> dict[str, tuple | str]:
    """Face colour of each format's bars (quantization_comparison) and markers (nf4_levels), the
    same in both figures: INT4 and FP4 as shades of their grey, edged in that grey; NF4 in
    QLoRA's colour."""
    styles = dtype_styles()
    faces = {name: tint(styles[name]["color"], DTYPE_SHADES[name]) for name in DTYPE_SHADES}
    faces["NF4"] = styles["NF4"]["color"]
    return faces


NEAR_ZERO = 0.01  # FP4's values this close to 0 print as one marker (nf4_levels)


def fp4_near_zero() -> np.ndarray:
    """FP4's values closer to 0 than NEAR_ZERO, from the code's FP4 table: 0 and +-1/192, three
    of its 15 values spent where INT4 and NF4 spend one (nf4_levels marks them; the caption of
    quantization_comparison names them as why FP4's RMSE is the largest)."""
    fp4 = quant.codebooks()["FP4"]
    return fp4[np.abs(fp4) < NEAR_ZERO]


_FP4_NEAR_ZERO = fp4_near_zero()


@FIGURES.figure(
    caption=f"RMSE of 4-bit data types on synthetic normal and heavy-tailed weights (absmax per "
            f"block of {BLOCK_SIZE}; mean and range of {len(SEEDS)} samples of {SAMPLE_SIZE:,}): "
            f"NF4 is the most accurate on both, symmetric absmax INT4 second, "
            f"FP4 last, as it spends {len(_FP4_NEAR_ZERO)} of its "
            f"{len(quant.codebooks()['FP4'])} values on 0 and $\\pm${_FP4_NEAR_ZERO.max():.4f}; "
            f"QLoRA's Table 2, by perplexity of real models, a different measure, puts INT4 last "
            f"(Int4 {_PPL['Int4']:g}, Float4 E2M1 {_PPL['Float4 (E2M1)']:g}, NF4 + DQ "
            f"{_PPL['NFloat4 + DQ']:g}).",
    result=quantization_comparison_result, width=0.8, aspect=0.5)
def quantization_comparison(fig, errors: DataTypeErrors):
    styles = dtype_styles()
    ax = fig.subplots()
    numbers = errors.numbers
    faces = dtype_faces()
    bar = 0.8 / len(errors.rmse)
    for j, name in enumerate(errors.rmse):
        centres = np.arange(len(SAMPLES)) + (j - (len(errors.rmse) - 1) / 2) * bar
        ax.bar(centres, errors.rmse[name], bar * 0.92, color=faces[name],
               edgecolor=styles[name]["color"], linewidth=0.6, label=DTYPE_LABELS[name])
        low, high = errors.rmse_by_seed[name].min(axis=1), errors.rmse_by_seed[name].max(axis=1)
        ax.errorbar(centres, errors.rmse[name], yerr=(errors.rmse[name] - low,
                                                      high - errors.rmse[name]),
                    ls="none", color=INK, lw=0.8, capsize=2)
        for i, (kind, top) in enumerate(zip(SAMPLES, high, strict=True)):
            ax.text(centres[i], top + 0.003, f"{DTYPE_LABELS[name].split()[0]}\n"
                    f"{numbers[rmse_key(name, kind)]}", ha="center", va="bottom",
                    fontsize=SMALL)
    labels = [f"normal weights\nNF4: {numbers['NfFourGainNormalPct']} % less\nerror than INT4",
              f"heavy-tailed (Student $t_{{{errors.heavy_tail_df:g}}}$)\nNF4: "
              f"{numbers['NfFourGainHeavyPct']} % less\nerror than INT4"]
    ax.set_xticks(range(len(SAMPLES)), labels)
    ax.set_xlim(-0.55, len(SAMPLES) - 0.45)
    ax.set_ylim(0, max(max(v) for v in errors.rmse.values()) * 1.25)
    ax.set_ylabel("RMSE\n(unit-variance weights)")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NormalLevels:
    """How NF4's 16 values are built from normal quantiles (bitsandbytes' create_normal_map,
    QLoRA Sec. 3), and where the values of the three 4-bit formats lie among synthetic normal
    weights divided by their block's absmax."""
    grid: np.ndarray                  # NF4 value q in [-1, 1]
    cdf: np.ndarray                   # Phi(q * scale): the probability below each q
    values: np.ndarray                # NF4's 16 values, sorted
    probabilities: np.ndarray         # Phi(value * scale) of each: the evenly spaced p
    positive: int                     # quantiles above 0 (8)
    negative: int                     # quantiles below 0 (7)
    codebooks: dict[str, np.ndarray]  # INT4, FP4, NF4 -> code values in [-1, 1]
    histogram_edges: np.ndarray       # bins over [-1, 1]
    histogram_density: np.ndarray     # density of normal weights / block absmax
    near_zero: np.ndarray             # FP4's values closer to 0 than NEAR_ZERO
    numbers: Numbers


def nf4_levels_result() -> NormalLevels:
    nf4 = quant.normal_map_construction()
    scale = nf4.scale
    grid = np.linspace(-1, 1, 401)
    books = quant.codebooks()
    normal = quant.normal_weights(SAMPLE_SIZE, seed=SEEDS[0]).reshape(-1, BLOCK_SIZE)
    normalised = (normal / np.abs(normal).max(axis=1, keepdims=True)).ravel()
    density, edges = np.histogram(np.round(normalised, 9), bins=np.linspace(-1, 1, 81),
                                  density=True)
    step_positive = nf4.positive_probabilities[0] - nf4.positive_probabilities[1]
    step_negative = nf4.negative_probabilities[0] - nf4.negative_probabilities[1]
    near_zero = fp4_near_zero()
    numbers = Numbers()
    numbers.add("NfOffset", nf4.offset, ".7f")
    numbers.add("NfScale", scale, ".3f")
    numbers.add("NfLevels", len(nf4.values), "d")
    numbers.add("NfPositive", len(nf4.positive_quantiles), "d")
    numbers.add("NfNegative", len(nf4.negative_quantiles), "d")
    numbers.add("NfStepPositive", step_positive, ".4f")
    numbers.add("NfStepNegative", step_negative, ".4f")
    for name in DTYPES:
        numbers.add(f"{spell(name)}Levels", len(books[name]), "d")
    numbers.add("FpFourNearZero", len(near_zero), "d")
    numbers.add("FpFourSmallest", near_zero.max(), ".4f")
    numbers.add("HistogramSize", SAMPLE_SIZE, ",d")
    return NormalLevels(
        grid=grid, cdf=quant.norm_cdf(grid * scale), values=np.array(nf4.values),
        probabilities=quant.norm_cdf(np.array(nf4.values) * scale),
        positive=len(nf4.positive_quantiles), negative=len(nf4.negative_quantiles),
        codebooks={name: books[name] for name in DTYPES}, histogram_edges=edges,
        histogram_density=density, near_zero=near_zero, numbers=numbers)


@FIGURES.figure(
    caption="Where the values of three 4-bit types lie: NF4 takes normal quantiles of evenly "
            "spaced probabilities (8 above zero, 7 below, and an exact zero), scaled to "
            "$[-1, 1]$, so its values crowd where normal weights, divided by their block's absmax, "
            "are dense; INT4's "
            "are evenly spaced and FP4's thin out towards $\\pm 1$.",
    result=nf4_levels_result, width=1.0, height=2.9)
def nf4_levels(fig, nf4: NormalLevels):
    styles = dtype_styles()
    numbers = nf4.numbers
    nf4_style = styles["NF4"]
    grid = fig.add_gridspec(2, 2, width_ratios=[1.1, 1.2], height_ratios=[1, 1.5])
    ax_a = fig.add_subplot(grid[:, 0])
    ax_hist = fig.add_subplot(grid[0, 1])
    ax_rows = fig.add_subplot(grid[1, 1], sharex=ax_hist)

    ax_a.plot(nf4.grid, nf4.cdf, color=MUTED, lw=0.9)
    ax_a.plot(nf4.values, nf4.probabilities, ls="none", marker=nf4_style["marker"],
              color=nf4_style["color"], markersize=3.5)
    left, bottom = -1.12, -0.05
    ax_a.hlines(nf4.probabilities, left, left + 0.07, color=nf4_style["color"], lw=0.8)
    ax_a.vlines(nf4.values, bottom, bottom + 0.05, color=nf4_style["color"], lw=0.8)
    ax_a.set_xlim(left, 1.06)
    ax_a.set_ylim(bottom, 1.0)
    ax_a.text(-1.0, 0.96, f"even steps of $p$:\n{numbers['NfPositive']} above 0.5,\n"
              f"{numbers['NfNegative']} below, and 0.5", ha="left", va="top", fontsize=SMALL)
    ax_a.text(1.0, 0.04, f"$q = \\Phi^{{-1}}(p)\\,/\\,{numbers['NfScale']}$", ha="right",
              va="bottom", fontsize=SMALL)
    ax_a.set_xlabel("NF4 value $q$")
    ax_a.set_ylabel("probability $p = \\Phi(q \\cdot " f"{numbers['NfScale']})$")
    panel_title(ax_a, "a", "NF4 from normal quantiles")

    edges = nf4.histogram_edges
    ax_hist.stairs(nf4.histogram_density, edges, fill=True, color=GREY, lw=0)
    ax_hist.set_ylabel(f"density\n({numbers['HistogramSize']}\nnormal weights)")
    ax_hist.tick_params(labelbottom=False)
    top = nf4.histogram_density.max()
    ax_hist.set_ylim(0, 1.45 * top)  # a line above the bars for the note on the spikes
    ax_hist.annotate("each block's largest weight: $\\pm 1$",
                     xy=(0.985, 1.05 * nf4.histogram_density[-1]), xytext=(1.0, 1.42 * top),
                     ha="right", va="top", fontsize=SMALL, arrowprops=arrow_props())
    panel_title(ax_hist, "b", "Among normal weights")

    names = ("INT4", "FP4", "NF4")  # bottom to top
    faces = dtype_faces()  # the shades of quantization_comparison's bars
    for row, name in enumerate(names):
        values = nf4.codebooks[name]
        ax_rows.plot(values, np.full(len(values), row), ls="none",
                     marker=styles[name]["marker"], markerfacecolor=faces[name],
                     markeredgecolor=styles[name]["color"], markeredgewidth=0.6,
                     markersize=3.8)
    fp4_row = names.index("FP4")
    ax_rows.annotate(f"{numbers['FpFourNearZero']} values: 0, $\\pm${numbers['FpFourSmallest']}",
                     xy=(0.0, fp4_row - 0.12), xytext=(0.06, fp4_row - 0.5), ha="left",
                     va="center", fontsize=SMALL, arrowprops=arrow_props())
    ax_rows.set_yticks(range(len(names)),
                       [f"{DTYPE_LABELS[name]}\n{numbers[spell(name) + 'Levels']} values"
                        for name in names])
    ax_rows.set_ylim(-0.5, len(names) - 0.5)
    ax_rows.set_xlim(-1.06, 1.06)
    ax_rows.set_xlabel("$w$ / block absmax")
    ax_rows.spines["left"].set_visible(False)
    ax_rows.tick_params(axis="y", length=0)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class OutlierQuantization:
    """A weight vector with one outlier, quantized to NF4 with one absmax and per block."""
    weights: np.ndarray
    outlier: int                     # index of the outlier
    block_size: int
    global_values: np.ndarray        # reconstruction with one absmax for the vector
    blockwise_values: np.ndarray     # reconstruction with one absmax per block
    others: np.ndarray               # True outside the outlier's block
    block_rmse_global: np.ndarray    # RMSE of each block with one absmax for the vector
    block_rmse_blockwise: np.ndarray  # RMSE of each block with its own absmax
    outlier_block: int               # index of the block that holds the outlier
    numbers: Numbers                 # RMSEs and zeroed share outside the outlier's block


def blockwise_quantization_result() -> OutlierQuantization:
    x = quant.outlier_vector()
    compared = quant.compare_global_and_blockwise(x, quant.nf4_codebook(), BLOCK_SIZE)
    outlier = int(np.argmax(np.abs(x)))
    others = np.ones(len(x), bool)  # outside the outlier's block
    others[outlier // BLOCK_SIZE * BLOCK_SIZE:(outlier // BLOCK_SIZE + 1) * BLOCK_SIZE] = False
    numbers = Numbers()
    numbers.add("OutlierValue", x[outlier], ".0f")
    numbers.add("OutlierIndex", outlier, "d")
    numbers.add("VectorLength", len(x), "d")
    numbers.add("OtherWeights", int(others.sum()), "d")
    numbers.add("RmseGlobal", np.sqrt(np.mean(compared.global_error[others] ** 2)), ".3f")
    numbers.add("RmseBlockwise", np.sqrt(np.mean(compared.blockwise_error[others] ** 2)), ".3f")
    numbers.add("ZeroedShare", 100 * np.mean(compared.global_reconstruction[others] == 0), ".0f")
    return OutlierQuantization(
        weights=x, outlier=outlier, block_size=BLOCK_SIZE,
        global_values=compared.global_reconstruction,
        blockwise_values=compared.blockwise_reconstruction,
        others=others,
        block_rmse_global=np.sqrt(np.mean(compared.global_error.reshape(-1, BLOCK_SIZE) ** 2,
                                          axis=1)),
        block_rmse_blockwise=np.sqrt(np.mean(
            compared.blockwise_error.reshape(-1, BLOCK_SIZE) ** 2, axis=1)),
        outlier_block=outlier // BLOCK_SIZE, numbers=numbers)


@FIGURES.figure(
    caption=f"A vector of normal weights with one outlier, quantized to NF4 with one absmax for "
            f"the whole vector, which rounds most weights to zero, and with one absmax per block "
            f"of {BLOCK_SIZE} as in QLoRA, which keeps the other blocks accurate and confines "
            f"the damage to the outlier's block.",
    result=blockwise_quantization_result, width=1.0, aspect=0.42)
def blockwise_quantization(fig, vector: OutlierQuantization):
    block, numbers = vector.block_size, vector.numbers
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    one, per_block = meanings.unnamed(1)[0], meanings.method("qlora")
    reference = meanings.role("reference")
    others = vector.others
    original = vector.weights[others]
    reach = 1.08 * np.abs(original).max()
    ax_a.plot([-reach, reach], [-reach, reach], color=reference.color, ls=reference.linestyle,
              lw=0.5)
    ax_a.plot(original, vector.blockwise_values[others], ls="none", marker="o", markersize=2.4,
              color=per_block.color, label=f"one absmax per block of {block} (QLoRA)")
    ax_a.plot(original, vector.global_values[others], ls="none", marker=one["marker"],
              markersize=2.4, markerfacecolor="white", markeredgewidth=0.6, color=one["color"],
              label=f"one absmax for all {numbers['VectorLength']} weights "
                    f"(set by the outlier, {numbers['OutlierValue']})")
    ax_a.set_xlim(-reach, reach)
    ax_a.set_ylim(-reach, reach)
    ax_a.set_xlabel("original weight")
    ax_a.set_ylabel("dequantized weight")
    ax_a.annotate(f"with one absmax,\n{numbers['ZeroedShare']} % become 0",
                  xy=(0.45, -0.12), xytext=(0.95 * reach, -0.95 * reach), ha="right",
                  va="bottom", fontsize=SMALL, arrowprops=arrow_props())
    panel_title(ax_a, "a", "The other blocks' weights")

    blocks = np.arange(len(vector.block_rmse_global))
    bar = 0.38
    ax_b.bar(blocks - bar / 2, vector.block_rmse_global, bar * 0.95, facecolor="white",
             edgecolor=one["color"], linewidth=0.8)
    ax_b.bar(blocks + bar / 2, vector.block_rmse_blockwise, bar * 0.95, color=per_block.color)
    ax_b.set_xticks(blocks, [f"{k * block}$-${(k + 1) * block - 1}" + (
        "\noutlier" if k == vector.outlier_block else "") for k in blocks])
    ax_b.set_xlim(-0.6, len(blocks) - 0.4)
    ax_b.set_ylim(0, max(vector.block_rmse_global.max(), vector.block_rmse_blockwise.max()) * 1.1)
    ax_b.set_xlabel(f"block of {block} weights (index)")
    ax_b.set_ylabel("RMSE of the block")
    panel_title(ax_b, "b", "Error per block")
    legend_above(fig, ax_a, ncols=2, narrow_ncols=1, fontsize=SMALL)


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
