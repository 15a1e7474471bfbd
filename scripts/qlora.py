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
from numerics import memory

FIGURES = Registry("qlora")

MODELS = (memory.LLAMA_7B, memory.LLAMA_13B, memory.LLAMA_33B, memory.LLAMA_65B)
RANK = 64  # Guanaco: r = 64 on all linear layers (QLoRA App. B)
GPUS = ((24, "24 GB"), (48, "48 GB"), (80, "80 GB"))


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


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
