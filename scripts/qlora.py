"""QLoRA figures: 4-bit NormalFloat, double quantization, paged optimizers and memory.

Run `python scripts/qlora.py --help`. Numbers come from numerics.quantization (NF4/FP4/INT4
code books and real blockwise quantization), numerics.memory (byte accounting) and
numerics.qlora_runs (published Guanaco results, activation memory, the paging simulation).
Source: Dettmers et al. 2023, QLoRA: Efficient Finetuning of Quantized LLMs, arXiv 2305.14314.
"""
from __future__ import annotations

import sys

import numpy as np

from figkit import Registry, diagram
from figkit.annotate import arrow_props, legend_above, panel_title
from figkit.charts import grouped_bars, reference_lines
from figkit.palette import (BLUE, CYAN, GREEN, GREY, INK, LIGHT, MUTED, PURPLE, RED, YELLOW,
                            series, tint)
from numerics import memory, qlora_runs, quantization as quant

FIGURES = Registry("qlora")

MODELS = (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B)
RANK = 64  # Guanaco: r = 64 on all linear layers (QLoRA App. B)
GPUS = ((24, "24 GB"), (48, "48 GB"), (80, "80 GB"))


#: One colour per 4-bit data type, in every figure of the topic.
DTYPE_COLORS = {"INT4": BLUE, "FP4": RED, "NF4": GREEN}
DTYPE_MARKERS = {"INT4": "s", "FP4": "^", "NF4": "o"}
SAMPLE_SIZE = 2**16  # weights per sample distribution


def short(name: str) -> str:
    return name.replace("LLaMA-", "")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="One QLoRA training step: the frozen base weights are stored in 4-bit NF4 with "
            "double-quantized block constants and dequantized to bf16 on the fly, the bf16 "
            "LoRA adapters alone receive gradients, and their Adam states live in paged memory.",
    width=1.0, height=2.6)
def qlora_architecture(fig, numbers):
    bits = numbers.add("BitsPerWeight", memory.nf4_bits_per_param(True), ".3f")
    numbers.add("BlockSize", memory.QLORA_BLOCK_SIZE, "d")
    numbers.add("SecondBlockSize", memory.QLORA_DQ_BLOCK_SIZE, "d")
    ax = diagram.canvas(fig, (0, 10), (0, 6))
    x_in = diagram.box(ax, 0.8, 3.3, "input $x$\nbf16", color=BLUE)
    weight = diagram.box(ax, 3.6, 5.1, f"$W$ ($d \\times k$) frozen\nNF4, {bits} bits/weight",
                         color=MUTED)
    dequant = diagram.box(ax, 3.6, 3.3, "dequantize\nto bf16", color=MUTED, fill=0.92)
    lora_a = diagram.box(ax, 3.6, 1.75, "$A$ ($r \\times k$)\nbf16, trained", color=GREEN)
    lora_b = diagram.box(ax, 6.0, 1.75, "$B$ ($d \\times r$)\nbf16, trained", color=GREEN)
    total = diagram.box(ax, 8.7, 3.3, "$h = Wx + \\frac{\\alpha}{r}BAx$\nbf16", color=BLUE)
    states = diagram.box(ax, 4.8, 0.35, "Adam states of $A$, $B$: paged GPU $\\leftrightarrow$ CPU",
                         color=PURPLE, fontsize=7)
    blocks = diagram.box(
        ax, 6.9, 5.1, f"block constants: 8-bit absmax\nper {memory.QLORA_BLOCK_SIZE} weights, "
        f"fp32 per {memory.QLORA_DQ_BLOCK_SIZE}", color=MUTED, fill=0.95, fontsize=7)
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
            ha="left", va="top", fontsize=7, color=MUTED)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Double quantization: quantizing the block constants to 8 bits in blocks of 256 "
            "cuts their cost from 0.5 to 0.127 bits per parameter, which saves about 3 GB "
            "on a 65B model (QLoRA, section 3).",
    width=1.0, aspect=0.36)
def double_quantization(fig, numbers):
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.1]})
    single = memory.quantization_constant_bits_per_param()
    first = memory.QLORA_DQ_CONSTANT_BITS / memory.QLORA_BLOCK_SIZE
    second = memory.double_quantized_constant_bits_per_param() - first
    rows = [0, 1]
    ax_a.barh(rows[1], single, 0.55, color=RED)
    ax_a.barh(rows[0], first, 0.55, color=BLUE)
    ax_a.barh(rows[0], second, 0.55, left=first, color=CYAN)
    t_single = numbers.add("ConstBitsSingle", single, ".3f")
    t_double = numbers.add("ConstBitsDouble", first + second, ".3f")
    t_saved = numbers.add("ConstBitsSaved", single - first - second, ".3f")
    ax_a.text(single + 0.01, rows[1], f"32/64 = {t_single}\n(fp32 absmax per 64)",
              va="center", fontsize=7)
    ax_a.text(first + second + 0.01, rows[0], f"8/64 + 32/(64$\\cdot$256) = {t_double}\n"
              "(8-bit per 64, fp32 per 256 of those)", va="center", fontsize=7)
    ax_a.set_yticks(rows, ["double\nquantization", "one level"])
    ax_a.set_ylim(-0.5, 1.5)
    ax_a.set_xlim(0, 1.0)
    ax_a.set_xticks([0, 0.25, 0.5])
    ax_a.set_xlabel("bits of constants per parameter")
    panel_title(ax_a, "a", "Cost of the constants")

    n_params = [memory.parameter_count(shape) for shape in MODELS]
    saved_gb = [n * (single - first - second) / 8 / memory.GB for n in n_params]
    ax_b.bar(range(len(MODELS)), saved_gb, 0.6, color=GREEN)
    for i, gb in enumerate(saved_gb):
        ax_b.text(i, gb + 0.05, f"{gb:.2f} GB", ha="center", va="bottom", fontsize=7)
    numbers.add("SavedSixtyFiveGB", saved_gb[-1], ".1f")
    ax_b.set_xticks(range(len(MODELS)), [short(s.name) for s in MODELS])
    ax_b.set_ylim(0, max(saved_gb) * 1.25)
    ax_b.set_xlabel("LLaMA model")
    ax_b.set_ylabel("memory saved (GB)")
    panel_title(ax_b, "b", f"Saved: {t_saved} bits/parameter")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Memory of the model states to fine-tune LLaMA models in 16-bit (the QLoRA paper's "
            "12 bytes per parameter, over 780 GB for 65B), with LoRA on a 16-bit base, and with "
            "QLoRA, against common GPU capacities; activations are not included.",
    width=1.0, aspect=0.42)
def memory_comparison(fig, numbers):
    table = memory.compare_methods(MODELS, RANK, memory.ALL_LINEAR,
                                   full_recipe=memory.BF16_ADAM_FP32_MOMENTS)
    ax = fig.subplots()
    totals = {method: [memory.bytes_to_gb(row[method].total) for row in table.values()]
              for method in memory.METHODS}
    colors = (RED, BLUE, GREEN)
    grouped_bars(ax, [short(name) for name in table], totals, colors, ("", "////", "...."),
                 width=0.78)
    reference_lines(ax, GPUS)
    width = 0.78 / 3
    for i, gb in enumerate(totals["QLoRA"]):
        ax.text(i + width, gb * 1.1, f"{gb:.0f}", ha="center", va="bottom", fontsize=7)
    full65 = numbers.add("FullSixtyFiveGB", totals["full fine-tuning"][-1], ",.0f")
    q65 = numbers.add("QloraSixtyFiveGB", totals["QLoRA"][-1], ".1f")
    numbers.add("FullBytesPerParam", memory.BF16_ADAM_FP32_MOMENTS.bytes_per_param, "g")
    ax.text(len(MODELS) - 1 - width, totals["full fine-tuning"][-1] * 1.1, full65,
            ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(3, 4000)
    ax.set_xlabel("LLaMA model")
    ax.set_ylabel("GB (model states)")
    ax.legend(loc="upper left")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Simulated GPU memory of QLoRA on LLaMA-33B (micro-batch 1, gradient "
            "checkpointing) on a 24 GB RTX 3090 over 1000 steps with log-normal sequence lengths "
            "(median 400, at most 2048 tokens, an assumption) and activations after Korthikanti "
            "et al. (2022): a long sequence exceeds the card, which ends the run without paging, "
            "while paged optimizers move part of the Adam states to CPU memory instead.",
    width=1.0, height=3.0)
def paged_optimizers(fig, numbers):
    sim = qlora_runs.simulate_paging()
    gb = memory.GB
    ax_a, ax_b = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.6, 1]})
    capacity = sim.capacity_bytes / gb
    ax_a.plot(sim.steps, sim.demand_bytes / gb, color=GREY, lw=0.8,
              label="needed: model states + activations")
    ax_a.plot(sim.steps, sim.resident_bytes / gb, color=BLUE, lw=0.8,
              label="on the GPU with paged optimizers")
    ax_a.axhline(sim.static_bytes / gb, color=INK, lw=0.6, ls="--",
                 label="model states alone (QLoRA, $r$ = 64)")
    reference_lines(ax_a, [(capacity, f"{sim.assumptions['gpu']}\n{capacity:.1f} GB")])
    oom = sim.oom_step
    step = numbers.add("OomStep", oom, "d")
    numbers.add("OomSeqLen", sim.oom_seq_len, "d")
    ax_a.plot(oom, sim.demand_bytes[oom] / gb, "x", color=RED, markersize=6, mew=1.2,
              label=f"out of memory without paging (step {step})")
    ax_a.set_ylim(sim.static_bytes / gb - 0.4, capacity + 1.5)
    ax_a.set_ylabel("GPU memory (GB)")
    legend_above(fig, ax_a, ncols=2, narrow_ncols=1, fontsize=7)
    panel_title(ax_a, "a", "Memory per step")

    paged = sim.paged_bytes / gb
    hit = paged > 0
    ax_b.vlines(sim.steps[hit], 0, paged[hit], color=PURPLE, lw=1.2)
    pageable = numbers.add("PageableGB", sim.pageable_bytes / gb, ".1f")
    most = numbers.add("MaxPagedGB", paged.max(), ".2f")
    numbers.add("PagedSteps", int(hit.sum()), "d")
    numbers.add("StaticGB", sim.static_bytes / gb, ".1f")
    numbers.add("CapacityGB", capacity, ".1f")
    ax_b.axhline(sim.pageable_bytes / gb, color=MUTED, lw=0.6, ls=":")
    ax_b.text(sim.steps[-1], sim.pageable_bytes / gb, f"Adam states that can move: {pageable} GB",
              ha="right", va="bottom", fontsize=7, color=MUTED)
    ax_b.text(0.01, 0.55, f"{int(hit.sum())} of {len(sim.steps)} steps page out; at most {most} GB",
              transform=ax_b.transAxes, ha="left", va="bottom", fontsize=7)
    ax_b.set_ylim(0, sim.pageable_bytes / gb * 1.35)
    ax_b.set_xlim(0, sim.steps[-1])
    ax_b.set_xlabel("training step")
    ax_b.set_ylabel("paged to CPU (GB)")
    panel_title(ax_b, "b", "Optimizer states paged out")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="Guanaco results by model size as published in the QLoRA paper (Vicuna benchmark "
            "score relative to ChatGPT, Table 6, and the memory column of Table 6) beside the "
            "memory our byte accounting predicts for the same models.",
    width=1.0, aspect=0.38)
def training_efficiency(fig, numbers):
    results = qlora_runs.GUANACO_RESULTS
    compared = qlora_runs.predicted_vs_published(results, RANK)
    ax_a, ax_b = fig.subplots(1, 2)
    sizes = [short(r.shape.name) for r in results]
    x = np.arange(len(results))
    ax_a.errorbar(x, [r.vicuna_mean for r in results], yerr=[r.vicuna_ci for r in results],
                  color=BLUE, marker="o", capsize=2.5, lw=1.0)
    ax_a.axhline(100, color=MUTED, lw=0.6, ls=":")
    ax_a.text(x[0], 100.8, "ChatGPT = 100 %", va="bottom", ha="left", fontsize=7, color=MUTED)
    numbers.add("VicunaSixtyFive", results[-1].vicuna_mean, ".1f")
    ax_a.set_xticks(x, sizes)
    ax_a.set_xlim(-0.4, len(results) - 0.3)
    ax_a.set_ylim(75, 108)
    ax_a.set_xlabel("Guanaco model")
    ax_a.set_ylabel("% of ChatGPT's score")
    panel_title(ax_a, "a", "Vicuna score, 95 % CI")

    bars = {"published (Table 6)": [c.published_gb for c in compared],
            "ours: 4-bit base + adapters": [c.predicted_deployed_gb for c in compared],
            "ours: training model states": [c.predicted_gb for c in compared]}
    grouped_bars(ax_b, sizes, bars, (INK, CYAN, GREEN), ("", "////", ""), width=0.8)
    for i, c in enumerate(compared):
        ax_b.text(i - 0.8 / 3, c.published_gb + 0.8, f"{c.published_gb:g}", ha="center",
                  va="bottom", fontsize=7)
    numbers.add("PublishedSixtyFiveGB", compared[-1].published_gb, "g")
    numbers.add("PredictedSixtyFiveGB", compared[-1].predicted_gb, ".1f")
    numbers.add("DeployedSixtyFiveGB", compared[-1].predicted_deployed_gb, ".1f")
    ax_b.set_ylim(0, max(c.predicted_gb for c in compared) * 1.15)
    ax_b.set_xlabel("Guanaco model")
    ax_b.set_ylabel("GB")
    legend_above(fig, ax_b, ncols=3, narrow_ncols=2, fontsize=7)
    panel_title(ax_b, "b", "Memory: published vs. predicted")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="The three 4-bit data types over absmax-normalised normal weights, and the error "
            "each one measurably makes when it quantizes normal and heavy-tailed weights "
            "blockwise (absmax, blocks of 64).",
    width=1.0, aspect=0.42)
def quantization_comparison(fig, numbers):
    books = quant.codebooks()
    weights = {"normal": quant.normal_weights(SAMPLE_SIZE, seed=0),
               "heavy-tailed\n(Student $t$, 5 d.o.f.)": quant.heavy_tailed_weights(SAMPLE_SIZE,
                                                                              seed=0)}
    grid = fig.add_gridspec(2, 2, width_ratios=[1.25, 1], height_ratios=[1, 1.3])
    ax_hist = fig.add_subplot(grid[0, 0])
    ax_codes = fig.add_subplot(grid[1, 0], sharex=ax_hist)
    ax_err = fig.add_subplot(grid[:, 1])

    block = memory.QLORA_BLOCK_SIZE
    normal = weights["normal"].reshape(-1, block)
    normalised = (normal / np.abs(normal).max(axis=1, keepdims=True)).ravel()
    ax_hist.hist(normalised, bins=np.linspace(-1, 1, 81), color=GREY, density=True)
    ax_hist.set_ylabel("density")
    ax_hist.tick_params(labelbottom=False)
    panel_title(ax_hist, "a", f"Normal weights / block absmax ({block})")

    for row, name in enumerate(("INT4", "FP4", "NF4")):
        values = books[name]
        ax_codes.plot(values, np.full(len(values), row), ls="none",
                      marker=DTYPE_MARKERS[name], color=DTYPE_COLORS[name], markersize=3.5)
    ax_codes.set_yticks(range(3), ["INT4", "FP4", "NF4"])
    ax_codes.set_ylim(-0.6, 2.6)
    ax_codes.set_xlim(-1.08, 1.08)
    ax_codes.set_xlabel("code value")
    ax_codes.spines["left"].set_visible(False)
    ax_codes.tick_params(axis="y", length=0)

    errors = {name: [quant.quantization_error(w, books[name], block)["rmse"]
                     for w in weights.values()] for name in ("INT4", "FP4", "NF4")}
    grouped_bars(ax_err, list(weights), errors, [DTYPE_COLORS[n] for n in errors],
                 ("////", "\\\\\\\\", ""), width=0.75)
    for j, name in enumerate(errors):
        for i, rmse in enumerate(errors[name]):
            kind = "Normal" if i == 0 else "Heavy"
            key = {"INT4": "IntFour", "FP4": "FpFour", "NF4": "NfFour"}[name]
            text = numbers.add(f"Rmse{key}{kind}", rmse, ".3f")
            ax_err.text(i + (j - 1) * 0.25, rmse + 0.003, text, ha="center", va="bottom",
                        fontsize=7, rotation=90)
    ax_err.set_ylim(0, max(max(v) for v in errors.values()) * 1.5)
    ax_err.set_ylabel("RMSE (unit-variance weights)")
    ax_err.legend(loc="upper left", ncols=3, fontsize=7, handlelength=1.2, columnspacing=0.8)
    panel_title(ax_err, "b", "Measured error")


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="NF4's 16 values are quantiles of the standard normal distribution, normalised to "
            "$[-1, 1]$, so they are dense where weights are dense; INT4's 16 values are evenly "
            "spaced.",
    width=1.0, aspect=0.42)
def nf4_levels(fig, numbers):
    nf4 = quant.normal_map_construction()
    scale = nf4.scale
    offset = numbers.add("NfOffset", nf4.offset, ".7f")
    numbers.add("NfScale", scale, ".3f")
    x = np.linspace(-1.08, 1.08, 601)
    density = quant.norm_pdf(x * scale) * scale  # density of z / scale, z ~ N(0, 1)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (name, values) in zip(axes, (("NF4", nf4.values), ("INT4", quant.int4_codebook()))):
        ax.fill_between(x, density, color=LIGHT, lw=0)
        ax.plot(x, density, color=MUTED, lw=0.8)
        heights = quant.norm_pdf(values * scale) * scale
        ax.vlines(values, 0, heights, color=DTYPE_COLORS[name], lw=0.9)
        ax.plot(values, heights, ls="none", marker=DTYPE_MARKERS[name],
                color=DTYPE_COLORS[name], markersize=3.5)
        ax.set_ylim(0, density.max() * 1.25)
        ax.set_ylabel("density")
        ax.text(0.99, 0.95, f"{name}: {len(values)} values", transform=ax.transAxes,
                ha="right", va="top")
    axes[0].text(0.01, 0.95, f"$q_i = \\Phi^{{-1}}(p_i)/\\Phi^{{-1}}({offset})$,\n"
                 "$p_i$ evenly spaced", transform=axes[0].transAxes, ha="left", va="top",
                 fontsize=7)
    axes[1].text(0.01, 0.95, "$q_i = -1 + 2i/15$", transform=axes[1].transAxes, ha="left",
                 va="top", fontsize=7)
    axes[1].set_xlabel(f"normalised weight $w / \\mathrm{{absmax}}$ (density of $z/{scale:.3f}$, "
                       "$z \\sim N(0, 1)$)")
    axes[1].set_xlim(-1.08, 1.08)


# --------------------------------------------------------------------------------------------
@FIGURES.figure(
    caption="A weight vector with one outlier quantized to NF4 with one absmax for the whole "
            "vector, which rounds most weights to zero, against one absmax per block of 64, "
            "which confines the damage to the outlier's block.",
    width=1.0, aspect=0.5)
def blockwise_quantization(fig, numbers):
    block = memory.QLORA_BLOCK_SIZE
    x = quant.outlier_vector()
    result = quant.compare_global_and_blockwise(x, quant.nf4_codebook(), block)
    outlier = int(np.argmax(np.abs(x)))
    index = np.arange(len(x))
    others = np.ones(len(x), bool)
    others[outlier // block * block:(outlier // block + 1) * block] = False
    ax_a, ax_b = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    ax_a.plot(index, x, ls="none", marker="o", markersize=2.2, color=GREY, label="weights")
    ax_a.plot(index, result.global_reconstruction, ls="none", marker="_", markersize=4,
              color=RED, label="one absmax")
    ax_a.plot(index, result.blockwise_reconstruction, ls="none", marker="_", markersize=4,
              color=BLUE, label=f"absmax per {block}")
    reach = 1.15 * np.abs(np.delete(x, outlier)).max()
    ax_a.set_ylim(-reach, reach)
    value = numbers.add("OutlierValue", x[outlier], ".0f")
    ax_a.plot([outlier], [reach], marker="^", color=INK, markersize=4, clip_on=False)
    panel_title(ax_a, "a", f"Weights and NF4 values (outlier {value} at the triangle, off "
                "scale)")
    ax_a.set_ylabel("weight")
    legend_above(fig, ax_a, ncols=3)

    for k in range(block, len(x), block):
        ax_a.axvline(k - 0.5, color=MUTED, lw=0.5, ls=":")
    ax_b.plot(index, np.abs(result.global_error), color=RED, lw=0.8)
    ax_b.plot(index, np.abs(result.blockwise_error), color=BLUE, lw=0.8, ls="--")
    rmse_global = np.sqrt(np.mean(result.global_error[others] ** 2))
    rmse_block = np.sqrt(np.mean(result.blockwise_error[others] ** 2))
    zeros = np.mean(result.global_reconstruction[others] == 0)
    g = numbers.add("RmseGlobal", rmse_global, ".3f")
    b = numbers.add("RmseBlockwise", rmse_block, ".3f")
    z = numbers.add("ZeroedShare", 100 * zeros, ".0f")
    ax_b.text(0.01, 0.97, f"outside the outlier's block: RMSE {g} with one absmax\n"
              f"({z} % of weights become 0), {b} with one per block", transform=ax_b.transAxes,
              ha="left", va="top", fontsize=7)
    ax_b.set_ylim(0, np.abs(np.delete(result.global_error, outlier)).max() * 2.3)
    panel_title(ax_b, "b", "Absolute error")
    ax_b.set_xlim(-1, len(x))
    ax_b.set_xticks(range(0, len(x) + 1, block))
    ax_b.set_xlabel(f"weight index (dotted: blocks of {block})")
    ax_b.set_ylabel("absolute error")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
