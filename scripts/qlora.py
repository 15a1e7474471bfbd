"""QLoRA figures: 4-bit NormalFloat, double quantization, paged optimizers and memory.

Run `python scripts/qlora.py --help`. Numbers come from numerics.qlora.quantization (NF4/FP4/INT4
code books and real blockwise quantization), numerics.memory (byte accounting),
numerics.qlora.paging (the paging simulation, with activations from numerics.activations),
numerics.qlora.guanaco_memory (published memory against ours) and published.qlora (the
paper's numbers: Guanaco results, the Guanaco rank, the memory claims).
Source: Dettmers et al. 2023, QLoRA: Efficient Finetuning of Quantized LLMs, arXiv 2305.14314.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from figkit import Registry, diagram
from figkit.annotate import legend_above, panel_title
from figkit.charts import grouped_bars, reference_lines
from figkit.numbers import Numbers, spell
from figkit.palette import BLUE, CYAN, GREEN, GREY, INK, LIGHT, MUTED, PURPLE, RED
from figkit.style import SMALL
from numerics import memory
from numerics.qlora import guanaco_memory, paging
from numerics.qlora import quantization as quant
from published import qlora as published

FIGURES = Registry("qlora")

MODELS = (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B)
RANK = published.GUANACO_RANK  # Guanaco: r = 64 on all linear layers (QLoRA App. B)
BLOCK_SIZE = memory.QLORA_BLOCK_SIZE  # weights per absmax constant (QLoRA Sec. 3)

#: The GPUs whose capacities are drawn as reference lines, labelled with their memory.
REFERENCE_GPUS = ("RTX 3090", "RTX A6000", "A100 80GB")
GPUS = tuple((memory.GPU_MEMORY_GB[gpu], f"{memory.GPU_MEMORY_GB[gpu]} GB")
             for gpu in REFERENCE_GPUS)

#: One colour per 4-bit data type, in every figure of the topic.
DTYPE_COLORS = {"INT4": BLUE, "FP4": RED, "NF4": GREEN}
DTYPE_MARKERS = {"INT4": "s", "FP4": "^", "NF4": "o"}
DTYPES = ("INT4", "FP4", "NF4")  # in the order the figures list them
SAMPLES = ("normal", "heavy-tailed")  # the weight distributions quantized
SAMPLE_SIZE = 2**16  # weights per sample distribution
HEAVY_TAIL_DF = 5  # degrees of freedom of the heavy-tailed (Student t) sample

# The paging scenario (numerics.qlora.paging.simulate_paging): model, card, run.
PAGING_MODEL = memory.LLAMA_33B
PAGING_GPU = "RTX 3090"
PAGING_BATCH = 1
PAGING_STEPS = 1000
PAGING_MEDIAN_LENGTH = 400  # tokens, median of the log-normal sequence lengths (an assumption)


def short(name: str) -> str:
    return name.replace("LLaMA-", "")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QloraStorage:
    """The storage of the frozen base that the architecture diagram labels."""
    block_size: int          # weights per 8-bit absmax constant
    constant_bits: int       # bits of each double-quantized constant
    second_block_size: int   # constants per fp32 second-level constant
    numbers: Numbers         # BitsPerWeight: NF4 bits per weight, constants included


def qlora_architecture_result() -> QloraStorage:
    numbers = Numbers()
    numbers.add("BitsPerWeight", memory.nf4_bits_per_param(True), ".3f")
    numbers.add("BlockSize", memory.QLORA_BLOCK_SIZE, "d")
    numbers.add("SecondBlockSize", memory.QLORA_DQ_BLOCK_SIZE, "d")
    return QloraStorage(block_size=memory.QLORA_BLOCK_SIZE,
                        constant_bits=memory.QLORA_DQ_CONSTANT_BITS,
                        second_block_size=memory.QLORA_DQ_BLOCK_SIZE, numbers=numbers)


@FIGURES.figure(
    caption="One QLoRA training step: the frozen base weights are stored in 4-bit NF4 with "
            "double-quantized block constants and dequantized to bf16 on the fly, the bf16 "
            "LoRA adapters alone receive gradients, and their Adam states live in paged memory.",
    result=qlora_architecture_result, width=1.0, height=2.6)
def qlora_architecture(fig, storage: QloraStorage):
    bits = storage.numbers["BitsPerWeight"]
    ax = diagram.canvas(fig, (0, 10), (0, 6))
    x_in = diagram.box(ax, 0.8, 3.3, "input $x$\nbf16", color=BLUE)
    weight = diagram.box(ax, 3.6, 5.1, f"$W$ ($d \\times k$) frozen\nNF4, {bits} bits/weight",
                         color=MUTED)
    dequant = diagram.box(ax, 3.6, 3.3, "dequantize\nto bf16", color=MUTED, fill=0.92)
    lora_a = diagram.box(ax, 3.6, 1.75, "$A$ ($r \\times k$)\nbf16, trained", color=GREEN)
    lora_b = diagram.box(ax, 6.0, 1.75, "$B$ ($d \\times r$)\nbf16, trained", color=GREEN)
    total = diagram.box(ax, 8.7, 3.3, "$h = Wx + \\frac{\\alpha}{r}BAx$\nbf16", color=BLUE)
    states = diagram.box(ax, 4.8, 0.35, "Adam states of $A$, $B$: paged GPU $\\leftrightarrow$ CPU",
                         color=PURPLE, fontsize=SMALL)
    blocks = diagram.box(
        ax, 6.9, 5.1, f"block constants: {storage.constant_bits}-bit absmax\n"
        f"per {storage.block_size} weights, fp32 per {storage.second_block_size}", color=MUTED,
        fill=0.95, fontsize=SMALL)
    diagram.link(ax, weight, dequant, (0.5, 0), (0.5, 1))
    diagram.link(ax, blocks, weight, (0, 0.5), (1, 0.5))
    diagram.link(ax, x_in, dequant, (1, 0.5), (0, 0.5))
    diagram.link(ax, dequant, total, (1, 0.5), (0, 0.5))
    diagram.link(ax, x_in, lora_a, (0.5, 0), (0, 0.5))
    diagram.link(ax, lora_a, lora_b, (1, 0.62), (0, 0.62))
    diagram.link(ax, lora_b, total, (1, 0.5), (0.3, 0))
    diagram.link(ax, total, lora_b, (0.55, 0), (1, 0.15), color=RED, linestyle="--",
                 connectionstyle="arc3,rad=-0.3")
    diagram.link(ax, lora_b, lora_a, (0, 0.2), (1, 0.2), color=RED, linestyle="--")
    diagram.link(ax, states, lora_a, (0.25, 1), (0.5, 0), color=PURPLE)
    diagram.link(ax, states, lora_b, (0.75, 1), (0.5, 0), color=PURPLE)
    ax.text(0.1, 5.95, "solid: forward pass\ndashed: gradients,\nadapters only",
            ha="left", va="top", fontsize=SMALL, color=MUTED)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConstantCost:
    """What the quantization constants cost per parameter with one level and with double
    quantization, and the memory double quantization saves on each LLaMA model."""
    single_bits: float              # fp32 absmax per block: 32/64
    first_level_bits: float         # 8-bit absmax per block: 8/64
    second_level_bits: float        # fp32 absmax per 256 constants: 32/(64 * 256)
    models: tuple[str, ...]         # LLaMA sizes, "7B" ... "65B"
    saved_gb: tuple[float, ...]     # memory saved per model, GB
    numbers: Numbers


def double_quantization_result() -> ConstantCost:
    single = memory.quantization_constant_bits_per_param()
    first = memory.QLORA_DQ_CONSTANT_BITS / memory.QLORA_BLOCK_SIZE
    second = memory.double_quantized_constant_bits_per_param() - first
    n_params = [memory.parameter_count(shape) for shape in MODELS]
    saved_gb = tuple(n * (single - first - second) / 8 / memory.GB for n in n_params)
    numbers = Numbers()
    numbers.add("ConstBitsSingle", single, ".3f")
    numbers.add("ConstBitsDouble", first + second, ".3f")
    numbers.add("ConstBitsSaved", single - first - second, ".3f")
    numbers.add("SavedSixtyFiveGB", saved_gb[-1], ".1f")
    return ConstantCost(single_bits=single, first_level_bits=first, second_level_bits=second,
                        models=tuple(short(shape.name) for shape in MODELS), saved_gb=saved_gb,
                        numbers=numbers)


@FIGURES.figure(
    caption=f"Double quantization: quantizing the block constants to "
            f"{memory.QLORA_DQ_CONSTANT_BITS} bits in blocks of {memory.QLORA_DQ_BLOCK_SIZE} "
            f"cuts their cost from {published.CONSTANT_BITS_SINGLE:g} to "
            f"{published.CONSTANT_BITS_DOUBLE:g} bits per parameter, which saves about "
            f"{published.DOUBLE_QUANT_SAVING_65B_GB:g} GB on a {short(MODELS[-1].name)} model "
            "(QLoRA, section 3).",
    result=double_quantization_result, width=1.0, aspect=0.36)
def double_quantization(fig, cost: ConstantCost):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.1]})
    single, first, second = cost.single_bits, cost.first_level_bits, cost.second_level_bits
    rows = [0, 1]
    ax_a.barh(rows[1], single, 0.55, color=RED)
    ax_a.barh(rows[0], first, 0.55, color=BLUE)
    ax_a.barh(rows[0], second, 0.55, left=first, color=CYAN)
    ax_a.text(single + 0.01, rows[1], f"32/64 = {cost.numbers['ConstBitsSingle']}\n"
              "(fp32 absmax per 64)", va="center", fontsize=SMALL)
    ax_a.text(first + second + 0.01, rows[0], f"8/64 + 32/(64$\\cdot$256) = "
              f"{cost.numbers['ConstBitsDouble']}\n(8-bit per 64, fp32 per 256 of those)",
              va="center", fontsize=SMALL)
    ax_a.set_yticks(rows, ["double\nquantization", "one level"])
    ax_a.set_ylim(-0.5, 1.5)
    ax_a.set_xlim(0, 1.0)
    ax_a.set_xticks([0, 0.25, 0.5])
    ax_a.set_xlabel("bits of constants per parameter")
    panel_title(ax_a, "a", "Cost of the constants")

    ax_b.bar(range(len(cost.models)), cost.saved_gb, 0.6, color=GREEN)
    for i, gb in enumerate(cost.saved_gb):
        ax_b.text(i, gb + 0.05, f"{gb:.2f} GB", ha="center", va="bottom", fontsize=SMALL)
    ax_b.set_xticks(range(len(cost.models)), cost.models)
    ax_b.set_ylim(0, max(cost.saved_gb) * 1.25)
    ax_b.set_xlabel("LLaMA model")
    ax_b.set_ylabel("memory saved (GB)")
    panel_title(ax_b, "b", f"Saved: {cost.numbers['ConstBitsSaved']} bits/parameter")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodMemory:
    """Model-state memory of full fine-tuning, LoRA and QLoRA for each LLaMA model, in GB."""
    models: tuple[str, ...]                      # "7B" ... "65B"
    totals_gb: dict[str, tuple[float, ...]]      # method (memory.METHODS) -> GB per model
    numbers: Numbers


def memory_comparison_result() -> MethodMemory:
    table = memory.compare_methods(MODELS, RANK, memory.ALL_LINEAR,
                                   full_recipe=memory.BF16_ADAM_FP32_MOMENTS)
    totals = {method: tuple(memory.bytes_to_gb(row[method].total) for row in table.values())
              for method in memory.METHODS}
    numbers = Numbers()
    numbers.add("FullSixtyFiveGB", totals["full fine-tuning"][-1], ",.0f")
    numbers.add("QloraSixtyFiveGB", totals["QLoRA"][-1], ".1f")
    numbers.add("FullBytesPerParam", memory.BF16_ADAM_FP32_MOMENTS.bytes_per_param, "g")
    return MethodMemory(models=tuple(short(name) for name in table), totals_gb=totals,
                        numbers=numbers)


@FIGURES.figure(
    caption=f"Memory of the model states to fine-tune LLaMA models in 16-bit (the QLoRA paper's "
            f"{memory.BF16_ADAM_FP32_MOMENTS.bytes_per_param:g} bytes per parameter, over "
            f"{memory.QLORA_16BIT_FULL_FINETUNE_GB} GB for {short(MODELS[-1].name)}), with LoRA "
            "on a 16-bit base, and with QLoRA, against common GPU capacities; activations are "
            "not included.",
    result=memory_comparison_result, width=1.0, aspect=0.42)
def memory_comparison(fig, methods: MethodMemory):
    ax = fig.subplots()
    colors = (RED, BLUE, GREEN)
    grouped_bars(ax, list(methods.models), methods.totals_gb, colors, ("", "////", "...."),
                 width=0.78)
    reference_lines(ax, GPUS)
    width = 0.78 / 3
    for i, gb in enumerate(methods.totals_gb["QLoRA"]):
        ax.text(i + width, gb * 1.1, f"{gb:.0f}", ha="center", va="bottom", fontsize=SMALL)
    full = methods.totals_gb["full fine-tuning"]
    ax.text(len(methods.models) - 1 - width, full[-1] * 1.1, methods.numbers["FullSixtyFiveGB"],
            ha="center", va="bottom", fontsize=SMALL)
    ax.set_yscale("log")
    ax.set_ylim(3, 4000)
    ax.set_xlabel("LLaMA model")
    ax.set_ylabel("GB (model states)")
    ax.legend(loc="upper left")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PagedMemory:
    """The paging simulation (bytes) and what the figure draws of it, in GB."""
    simulation: paging.PagingSimulation
    steps: np.ndarray          # (n,) training step
    demand_gb: np.ndarray      # (n,) model states + activations
    resident_gb: np.ndarray    # (n,) on the GPU with paged optimizers
    paged_gb: np.ndarray       # (n,) optimizer states paged out to CPU memory
    pages_out: np.ndarray      # (n,) True where a step pages out
    static_gb: float           # model states alone
    capacity_gb: float         # the card, as nvidia-smi reports it
    pageable_gb: float         # the adapters' Adam states, which may move
    oom_step: int              # first step that exceeds the card without paging
    gpu: str
    rank: int
    numbers: Numbers


def paged_optimizers_result() -> PagedMemory:
    sim = paging.simulate_paging(shape=PAGING_MODEL, gpu=PAGING_GPU, batch=PAGING_BATCH,
                                 steps=PAGING_STEPS, median_seq_len=PAGING_MEDIAN_LENGTH,
                                 rank=RANK)
    gb = memory.GB
    paged = sim.paged_bytes / gb
    pages_out = paged > 0
    numbers = Numbers()
    numbers.add("OomStep", sim.oom_step, "d")
    numbers.add("OomSeqLen", sim.oom_seq_len, "d")
    numbers.add("PageableGB", sim.pageable_bytes / gb, ".1f")
    numbers.add("MaxPagedGB", paged.max(), ".2f")
    numbers.add("PagedSteps", int(pages_out.sum()), "d")
    numbers.add("StaticGB", sim.static_bytes / gb, ".1f")
    numbers.add("CapacityGB", sim.capacity_bytes / gb, ".1f")
    return PagedMemory(
        simulation=sim, steps=sim.steps, demand_gb=sim.demand_bytes / gb,
        resident_gb=sim.resident_bytes / gb, paged_gb=paged, pages_out=pages_out,
        static_gb=sim.static_bytes / gb, capacity_gb=sim.capacity_bytes / gb,
        pageable_gb=sim.pageable_bytes / gb, oom_step=sim.oom_step,
        gpu=sim.assumptions["gpu"], rank=RANK, numbers=numbers)


@FIGURES.figure(
    caption=f"Simulated GPU memory of QLoRA on {PAGING_MODEL.name} (micro-batch {PAGING_BATCH}, "
            f"gradient checkpointing) on a {memory.GPU_MEMORY_GB[PAGING_GPU]} GB {PAGING_GPU} "
            f"over {PAGING_STEPS} steps with log-normal sequence lengths (median "
            f"{PAGING_MEDIAN_LENGTH}, at most {PAGING_MODEL.context_length} tokens, an "
            "assumption) and activations after Korthikanti et al. (2022): a long sequence "
            "exceeds the card, which ends the run without paging, while paged optimizers move "
            "part of the Adam states to CPU memory instead.",
    result=paged_optimizers_result, width=1.0, height=3.0)
def paged_optimizers(fig, run: PagedMemory):
    numbers = run.numbers
    ax_a, ax_b = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.6, 1]})
    ax_a.plot(run.steps, run.demand_gb, color=GREY, lw=0.8,
              label="needed: model states + activations")
    ax_a.plot(run.steps, run.resident_gb, color=BLUE, lw=0.8,
              label="on the GPU with paged optimizers")
    ax_a.axhline(run.static_gb, color=INK, lw=0.6, ls="--",
                 label=f"model states alone (QLoRA, $r$ = {run.rank})")
    reference_lines(ax_a, [(run.capacity_gb, f"{run.gpu}\n{numbers['CapacityGB']} GB")])
    ax_a.plot(run.oom_step, run.demand_gb[run.oom_step], "x", color=RED, markersize=6, mew=1.2,
              label=f"out of memory without paging (step {numbers['OomStep']})")
    ax_a.set_ylim(run.static_gb - 0.4, run.capacity_gb + 1.5)
    ax_a.set_ylabel("GPU memory (GB)")
    legend_above(fig, ax_a, ncols=2, narrow_ncols=1, fontsize=SMALL)
    panel_title(ax_a, "a", "Memory per step")

    ax_b.vlines(run.steps[run.pages_out], 0, run.paged_gb[run.pages_out], color=PURPLE, lw=1.2)
    ax_b.axhline(run.pageable_gb, color=MUTED, lw=0.6, ls=":")
    ax_b.text(run.steps[-1], run.pageable_gb,
              f"Adam states that can move: {numbers['PageableGB']} GB",
              ha="right", va="bottom", fontsize=SMALL, color=MUTED)
    ax_b.text(0.01, 0.55, f"{numbers['PagedSteps']} of {len(run.steps)} steps page out; "
              f"at most {numbers['MaxPagedGB']} GB",
              transform=ax_b.transAxes, ha="left", va="bottom", fontsize=SMALL)
    ax_b.set_ylim(0, run.pageable_gb * 1.35)
    ax_b.set_xlim(0, run.steps[-1])
    ax_b.set_xlabel("training step")
    ax_b.set_ylabel("paged to CPU (GB)")
    panel_title(ax_b, "b", "Optimizer states paged out")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GuanacoPanels:
    """Guanaco's published Vicuna scores and memory (QLoRA Table 6) beside our prediction."""
    models: tuple[str, ...]               # "7B" ... "65B"
    vicuna_mean: tuple[float, ...]        # % of ChatGPT's score
    vicuna_ci: tuple[float, ...]          # 95 % CI half-width, percentage points
    published_gb: tuple[float, ...]       # Table 6 "Memory"
    deployed_gb: tuple[float, ...]        # ours: 4-bit base + adapters
    training_gb: tuple[float, ...]        # ours: model states of QLoRA training
    numbers: Numbers


def training_efficiency_result() -> GuanacoPanels:
    results = published.GUANACO_RESULTS
    compared = guanaco_memory.predicted_vs_published(results, RANK)
    numbers = Numbers()
    numbers.add("VicunaSixtyFive", results[-1].vicuna_mean, ".1f")
    numbers.add("PublishedSixtyFiveGB", compared[-1].published_gb, "g")
    numbers.add("PredictedSixtyFiveGB", compared[-1].predicted_gb, ".1f")
    numbers.add("DeployedSixtyFiveGB", compared[-1].predicted_deployed_gb, ".1f")
    return GuanacoPanels(
        models=tuple(short(result.shape.name) for result in results),
        vicuna_mean=tuple(result.vicuna_mean for result in results),
        vicuna_ci=tuple(result.vicuna_ci for result in results),
        published_gb=tuple(c.published_gb for c in compared),
        deployed_gb=tuple(c.predicted_deployed_gb for c in compared),
        training_gb=tuple(c.predicted_gb for c in compared),
        numbers=numbers)


@FIGURES.figure(
    caption="Guanaco results by model size as published in the QLoRA paper (Vicuna benchmark "
            "score relative to ChatGPT, Table 6, and the memory column of Table 6) beside the "
            "memory our byte accounting predicts for the same models.",
    result=training_efficiency_result, width=1.0, aspect=0.38)
def training_efficiency(fig, guanaco: GuanacoPanels):
    ax_a, ax_b = fig.subplots(1, 2)
    x = np.arange(len(guanaco.models))
    ax_a.errorbar(x, guanaco.vicuna_mean, yerr=guanaco.vicuna_ci, color=BLUE, marker="o",
                  capsize=2.5, lw=1.0)
    ax_a.axhline(100, color=MUTED, lw=0.6, ls=":")
    ax_a.text(x[0], 100.8, "ChatGPT = 100 %", va="bottom", ha="left", fontsize=SMALL,
              color=MUTED)
    ax_a.set_xticks(x, guanaco.models)
    ax_a.set_xlim(-0.4, len(guanaco.models) - 0.3)
    ax_a.set_ylim(75, 108)
    ax_a.set_xlabel("Guanaco model")
    ax_a.set_ylabel("% of ChatGPT's score")
    panel_title(ax_a, "a", "Vicuna score, 95 % CI")

    bars = {"published (Table 6)": guanaco.published_gb,
            "ours: 4-bit base + adapters": guanaco.deployed_gb,
            "ours: training model states": guanaco.training_gb}
    grouped_bars(ax_b, list(guanaco.models), bars, (INK, CYAN, GREEN), ("", "////", ""),
                 width=0.8)
    for i, gb in enumerate(guanaco.published_gb):
        ax_b.text(i - 0.8 / 3, gb + 0.8, f"{gb:g}", ha="center", va="bottom", fontsize=SMALL)
    ax_b.set_ylim(0, max(guanaco.training_gb) * 1.15)
    ax_b.set_xlabel("Guanaco model")
    ax_b.set_ylabel("GB")
    legend_above(fig, ax_b, ncols=3, narrow_ncols=2, fontsize=SMALL)
    panel_title(ax_b, "b", "Memory: published vs. predicted")


# --------------------------------------------------------------------------------------------
def rmse_key(dtype: str, sample: str) -> str:
    """numbers.tex key of a measured RMSE, e.g. RmseNfFourNormal, RmseIntFourHeavy."""
    return f"Rmse{spell(dtype)}{'Normal' if sample == 'normal' else 'Heavy'}"


@dataclass(frozen=True, eq=False)
class DataTypeErrors:
    """The three 4-bit code books, the normalised weights they quantize, and the RMSE each one
    measurably makes on normal and heavy-tailed weights (blockwise absmax)."""
    codebooks: dict[str, np.ndarray]          # INT4, FP4, NF4 -> code values in [-1, 1]
    histogram_edges: np.ndarray               # bins over [-1, 1]
    histogram_density: np.ndarray             # density of normal weights / block absmax
    rmse: dict[str, tuple[float, float]]      # data type -> RMSE per sample (SAMPLES order)
    block_size: int
    heavy_tail_df: float
    numbers: Numbers


def quantization_comparison_result() -> DataTypeErrors:
    books = quant.codebooks()
    weights = {"normal": quant.normal_weights(SAMPLE_SIZE, seed=0),
               "heavy-tailed": quant.heavy_tailed_weights(SAMPLE_SIZE, seed=0, df=HEAVY_TAIL_DF)}
    normal = weights["normal"].reshape(-1, BLOCK_SIZE)
    normalised = (normal / np.abs(normal).max(axis=1, keepdims=True)).ravel()
    density, edges = np.histogram(normalised, bins=np.linspace(-1, 1, 81), density=True)
    rmse = {name: tuple(quant.quantization_error(weights[sample], books[name], BLOCK_SIZE)["rmse"]
                        for sample in SAMPLES) for name in DTYPES}
    numbers = Numbers()
    for name in DTYPES:
        for sample, error in zip(SAMPLES, rmse[name], strict=True):
            numbers.add(rmse_key(name, sample), error, ".3f")
    return DataTypeErrors(codebooks={name: books[name] for name in DTYPES},
                          histogram_edges=edges, histogram_density=density, rmse=rmse,
                          block_size=BLOCK_SIZE, heavy_tail_df=HEAVY_TAIL_DF, numbers=numbers)


@FIGURES.figure(
    caption=f"The three 4-bit data types over absmax-normalised normal weights, and the error "
            f"each one measurably makes when it quantizes normal and heavy-tailed weights "
            f"blockwise (absmax, blocks of {BLOCK_SIZE}).",
    result=quantization_comparison_result, width=1.0, aspect=0.42)
def quantization_comparison(fig, errors: DataTypeErrors):
    grid = fig.add_gridspec(2, 2, width_ratios=[1.25, 1], height_ratios=[1, 1.3])
    ax_hist = fig.add_subplot(grid[0, 0])
    ax_codes = fig.add_subplot(grid[1, 0], sharex=ax_hist)
    ax_err = fig.add_subplot(grid[:, 1])

    edges = errors.histogram_edges
    ax_hist.hist(edges[:-1], bins=edges, weights=errors.histogram_density, color=GREY)
    ax_hist.set_ylabel("density")
    ax_hist.tick_params(labelbottom=False)
    panel_title(ax_hist, "a", f"Normal weights / block absmax ({errors.block_size})")

    for row, name in enumerate(errors.codebooks):
        values = errors.codebooks[name]
        ax_codes.plot(values, np.full(len(values), row), ls="none",
                      marker=DTYPE_MARKERS[name], color=DTYPE_COLORS[name], markersize=3.5)
    ax_codes.set_yticks(range(len(errors.codebooks)), list(errors.codebooks))
    ax_codes.set_ylim(-0.6, 2.6)
    ax_codes.set_xlim(-1.08, 1.08)
    ax_codes.set_xlabel("code value")
    ax_codes.spines["left"].set_visible(False)
    ax_codes.tick_params(axis="y", length=0)

    labels = ["normal", f"heavy-tailed\n(Student $t$, {errors.heavy_tail_df:g} d.o.f.)"]
    grouped_bars(ax_err, labels, errors.rmse, [DTYPE_COLORS[name] for name in errors.rmse],
                 ("////", "\\\\\\\\", ""), width=0.75)
    for j, name in enumerate(errors.rmse):
        for i, (sample, rmse) in enumerate(zip(SAMPLES, errors.rmse[name], strict=True)):
            ax_err.text(i + (j - 1) * 0.25, rmse + 0.003, errors.numbers[rmse_key(name, sample)],
                        ha="center", va="bottom", fontsize=SMALL, rotation=90)
    ax_err.set_ylim(0, max(max(v) for v in errors.rmse.values()) * 1.5)
    ax_err.set_ylabel("RMSE (unit-variance weights)")
    ax_err.legend(loc="upper left", ncols=3, fontsize=SMALL, handlelength=1.2, columnspacing=0.8)
    panel_title(ax_err, "b", "Measured error")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NormalLevels:
    """NF4's and INT4's code values over the density of normal weights divided by NF4's scale."""
    grid: np.ndarray                  # normalised weight w / absmax
    density: np.ndarray               # density of z / scale, z ~ N(0, 1), on the grid
    levels: dict[str, np.ndarray]     # NF4, INT4 -> code values
    heights: dict[str, np.ndarray]    # the density at each code value
    numbers: Numbers                  # NfOffset, NfScale = Phi^-1(offset)


def nf4_levels_result() -> NormalLevels:
    nf4 = quant.normal_map_construction()
    scale = nf4.scale
    grid = np.linspace(-1.08, 1.08, 601)
    levels = {"NF4": nf4.values, "INT4": quant.int4_codebook()}
    numbers = Numbers()
    numbers.add("NfOffset", nf4.offset, ".7f")
    numbers.add("NfScale", scale, ".3f")
    return NormalLevels(
        grid=grid, density=quant.norm_pdf(grid * scale) * scale, levels=levels,
        heights={name: quant.norm_pdf(values * scale) * scale for name, values in levels.items()},
        numbers=numbers)


@FIGURES.figure(
    caption="NF4's 16 values are quantiles of the standard normal distribution, normalised to "
            "$[-1, 1]$, so they are dense where weights are dense; INT4's 16 values are evenly "
            "spaced.",
    result=nf4_levels_result, width=1.0, aspect=0.42)
def nf4_levels(fig, nf4: NormalLevels):
    offset, scale = nf4.numbers["NfOffset"], nf4.numbers["NfScale"]
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (name, values) in zip(axes, nf4.levels.items(), strict=True):
        heights = nf4.heights[name]
        ax.fill_between(nf4.grid, nf4.density, color=LIGHT, lw=0)
        ax.plot(nf4.grid, nf4.density, color=MUTED, lw=0.8)
        ax.vlines(values, 0, heights, color=DTYPE_COLORS[name], lw=0.9)
        ax.plot(values, heights, ls="none", marker=DTYPE_MARKERS[name],
                color=DTYPE_COLORS[name], markersize=3.5)
        ax.set_ylim(0, nf4.density.max() * 1.25)
        ax.set_ylabel("density")
        ax.text(0.99, 0.95, f"{name}: {len(values)} values", transform=ax.transAxes,
                ha="right", va="top")
    axes[0].text(0.01, 0.95, f"$q_i = \\Phi^{{-1}}(p_i)/\\Phi^{{-1}}({offset})$,\n"
                 "$p_i$ evenly spaced", transform=axes[0].transAxes, ha="left", va="top",
                 fontsize=SMALL)
    axes[1].text(0.01, 0.95, "$q_i = -1 + 2i/15$", transform=axes[1].transAxes, ha="left",
                 va="top", fontsize=SMALL)
    axes[1].set_xlabel(f"normalised weight $w / \\mathrm{{absmax}}$ (density of $z/{scale}$, "
                       "$z \\sim N(0, 1)$)")
    axes[1].set_xlim(-1.08, 1.08)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class OutlierQuantization:
    """A weight vector with one outlier, quantized to NF4 with one absmax and per block."""
    weights: np.ndarray
    outlier: int                     # index of the outlier
    block_size: int
    global_values: np.ndarray        # reconstruction with one absmax for the vector
    blockwise_values: np.ndarray     # reconstruction with one absmax per block
    global_abs_error: np.ndarray
    blockwise_abs_error: np.ndarray
    largest_ordinary_weight: float   # max |weight| apart from the outlier
    largest_ordinary_error: float    # max global error apart from the outlier
    numbers: Numbers                 # RMSEs and zeroed share outside the outlier's block


def blockwise_quantization_result() -> OutlierQuantization:
    x = quant.outlier_vector()
    compared = quant.compare_global_and_blockwise(x, quant.nf4_codebook(), BLOCK_SIZE)
    outlier = int(np.argmax(np.abs(x)))
    others = np.ones(len(x), bool)  # outside the outlier's block
    others[outlier // BLOCK_SIZE * BLOCK_SIZE:(outlier // BLOCK_SIZE + 1) * BLOCK_SIZE] = False
    numbers = Numbers()
    numbers.add("OutlierValue", x[outlier], ".0f")
    numbers.add("RmseGlobal", np.sqrt(np.mean(compared.global_error[others] ** 2)), ".3f")
    numbers.add("RmseBlockwise", np.sqrt(np.mean(compared.blockwise_error[others] ** 2)), ".3f")
    numbers.add("ZeroedShare", 100 * np.mean(compared.global_reconstruction[others] == 0), ".0f")
    return OutlierQuantization(
        weights=x, outlier=outlier, block_size=BLOCK_SIZE,
        global_values=compared.global_reconstruction,
        blockwise_values=compared.blockwise_reconstruction,
        global_abs_error=np.abs(compared.global_error),
        blockwise_abs_error=np.abs(compared.blockwise_error),
        largest_ordinary_weight=np.abs(np.delete(x, outlier)).max(),
        largest_ordinary_error=np.abs(np.delete(compared.global_error, outlier)).max(),
        numbers=numbers)


@FIGURES.figure(
    caption=f"A weight vector with one outlier quantized to NF4 with one absmax for the whole "
            f"vector, which rounds most weights to zero, against one absmax per block of "
            f"{BLOCK_SIZE}, which confines the damage to the outlier's block.",
    result=blockwise_quantization_result, width=1.0, aspect=0.5)
def blockwise_quantization(fig, vector: OutlierQuantization):
    block, numbers = vector.block_size, vector.numbers
    index = np.arange(len(vector.weights))
    ax_a, ax_b = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    ax_a.plot(index, vector.weights, ls="none", marker="o", markersize=2.2, color=GREY,
              label="weights")
    ax_a.plot(index, vector.global_values, ls="none", marker="_", markersize=4,
              color=RED, label="one absmax")
    ax_a.plot(index, vector.blockwise_values, ls="none", marker="_", markersize=4,
              color=BLUE, label=f"absmax per {block}")
    reach = 1.15 * vector.largest_ordinary_weight
    ax_a.set_ylim(-reach, reach)
    ax_a.plot([vector.outlier], [reach], marker="^", color=INK, markersize=4, clip_on=False)
    panel_title(ax_a, "a", f"Weights and NF4 values (outlier {numbers['OutlierValue']} at the "
                "triangle, off scale)")
    ax_a.set_ylabel("weight")
    legend_above(fig, ax_a, ncols=3)

    for k in range(block, len(index), block):
        ax_a.axvline(k - 0.5, color=MUTED, lw=0.5, ls=":")
    ax_b.plot(index, vector.global_abs_error, color=RED, lw=0.8)
    ax_b.plot(index, vector.blockwise_abs_error, color=BLUE, lw=0.8, ls="--")
    ax_b.text(0.01, 0.97, f"outside the outlier's block: RMSE {numbers['RmseGlobal']} with one "
              f"absmax\n({numbers['ZeroedShare']} % of weights become 0), "
              f"{numbers['RmseBlockwise']} with one per block", transform=ax_b.transAxes,
              ha="left", va="top", fontsize=SMALL)
    ax_b.set_ylim(0, vector.largest_ordinary_error * 2.3)
    panel_title(ax_b, "b", "Absolute error")
    ax_b.set_xlim(-1, len(index))
    ax_b.set_xticks(range(0, len(index) + 1, block))
    ax_b.set_xlabel(f"weight index (dotted: blocks of {block})")
    ax_b.set_ylabel("absolute error")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
