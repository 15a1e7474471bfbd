"""Pre-training figures: scaling laws, training compute, data mixtures, tokenization, and a tiny
character-level language model pre-trained by the project's own numpy code.

Run `python scripts/pretraining.py --help`. Published constants and counts live in
`published.pretraining` (each cited by paper and table); the formulas in
`numerics.pretraining`; the recorded runs in data/pretraining/ (recorded by
scripts/recorders/pretraining*.py with `make data`). The shipped corpus is
data/pretraining/corpus/ (Tiny Shakespeare, public domain; see its SOURCE.md).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
from matplotlib import transforms
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from figkit import Registry, charts, diagram, latex, meanings
from figkit.annotate import arrow_props, panel_title
from figkit.numbers import Numbers, spell
from figkit.palette import INK, LIGHT, MUTED, tint
from figkit.registry import ROOT
from figkit.style import NORMAL, SMALL
from numerics import memory, portable
from numerics.pretraining import compute, scaling
from numerics.pretraining.bpe import UNK
from numerics.qlora import paging
from published import hyperparameters
from published import pretraining as published_pt
from published import qlora as qlora_published
from recorders import pretraining as lm_runs
from recorders import pretraining_tokenizer as tokenizer_runs
from records import Run, RunError, load_run

FIGURES = Registry("pretraining")


# ============================================================================================
# Published scaling laws, compute, data mixtures, the two stages and the pipeline.
# ============================================================================================


#: The published models the scaling and compute figures place (published.pretraining), with
#: the parameter count the book uses for each: LLaMA's from its shape (numerics.memory, the
#: book's one count), the others' as their papers name them.
PUBLISHED_MODELS = published_pt.PUBLISHED_MODELS


def model_params(model: published_pt.PublishedModel) -> float:
    """The book's parameter count of a published model: counted from its shape where the book
    has it (LLaMA), else the paper's nominal count."""
    return float(memory.parameter_count(model.shape)) if model.shape else model.nominal_params


def book_name(label: str) -> str:
    """A model's name as the book writes it in figures and captions: "LLaMA-7B" (the published
    tables' labels keep the papers' "LLaMA 7B")."""
    return label.replace("LLaMA ", "LLaMA-")


def _tex(text: str) -> str:
    """A figure text from Numbers without its $...$, to nest it in mathtext."""
    return text.strip("$")


# --------------------------------------------------------------------------------------------
#: Compute budgets of the isoFLOP curves (FLOPs), low to high (the ordered colour map).
SCALING_BUDGETS = (1e19, 1e21, 1e23, 1e25)
SCALING_PARAM_GRID = (1e7, 3e12, 241)  # N from, to, points (log-spaced)
SCALING_LOSS_CEILING = 3.2  # isoFLOP curves are drawn where the fit's loss is below this
#: The x ranges the three Kaplan panels draw each law over (N, D: the studied range is shaded).
KAPLAN_DRAWN = {"N": (1e3, 1e12), "D": (1e7, 1e13), "C_min": (1e-8, 1e4)}
#: Gopher's budget the caption speaks of: Hoffmann et al.'s "Gopher unit" (Table 3), 5.76e23.
GOPHER = published_pt.GOPHER
GOPHER_OPTIMAL_B = float(scaling.CHINCHILLA.optimal_params(
    published_pt.CHINCHILLA_GOPHER_BUDGET_FLOPS)) / 1e9


@dataclass(frozen=True)
class KaplanPanel:
    """One of Kaplan et al.'s laws, sampled at the ends of its drawn range (a straight line on
    log-log axes)."""
    law: str                 # "N", "D", "C_min"
    x: np.ndarray            # the two end points
    loss: np.ndarray
    studied: tuple[float, float] | None  # Kaplan's range of models / data, shaded


@dataclass(frozen=True)
class PlacedModel:
    """A published model against the fit's frontier at its own budget."""
    label: str
    params: float
    tokens: float
    compute: float           # 6 N D
    optimal_params: float    # N_opt at that compute
    size_ratio: float        # params / optimal_params
    loss: float              # the fit's loss for the model (not comparable across papers)


@dataclass(frozen=True)
class ScalingLaws:
    """Kaplan's three power laws, the isoFLOP curves and frontier of Hoffmann et al.'s
    approach-3 fit, and the published models placed against that frontier."""
    kaplan: tuple[KaplanPanel, ...]
    curves: tuple[scaling.IsoflopCurve, ...]
    frontier_compute: np.ndarray     # two end points of the frontier in panel (e)
    frontier_params: np.ndarray
    models: tuple[PlacedModel, ...]
    gopher_budget: float
    gopher_optimal_params: float
    numbers: Numbers


def scaling_laws_result() -> ScalingLaws:
    fit = scaling.CHINCHILLA
    studied = {"N": published_pt.KAPLAN_N_RANGE, "D": published_pt.KAPLAN_D_RANGE,
               "C_min": None}
    kaplan = tuple(KaplanPanel(law.name, np.array(KAPLAN_DRAWN[law.name]),
                               law.loss(np.array(KAPLAN_DRAWN[law.name])), studied[law.name])
                   for law in scaling.KAPLAN_LAWS)
    grid = scaling.log_grid(*SCALING_PARAM_GRID[:2], SCALING_PARAM_GRID[2])
    curves = tuple(scaling.isoflop_curve(fit, budget, grid, SCALING_LOSS_CEILING)
                   for budget in SCALING_BUDGETS)
    models = []
    for model in PUBLISHED_MODELS:
        placed = scaling.allocation(fit, model_params(model), model.tokens)
        models.append(PlacedModel(model.label, model_params(model), model.tokens,
                                  placed["compute"], placed["optimal_params"],
                                  placed["size_ratio"], placed["loss"]))
    computes = np.array([m.compute for m in models])
    frontier_compute = np.array([computes.min() / 5, computes.max() * 3])
    # every Gopher number at ONE budget: Hoffmann et al.'s "Gopher unit", 5.76e23 FLOPs (their
    # Table 3; 6ND gives 5.04e23), where their approaches project 40B and 67B
    gopher_budget = published_pt.CHINCHILLA_GOPHER_BUDGET_FLOPS
    gopher = {"compute": gopher_budget,
              "optimal_params": float(fit.optimal_params(gopher_budget)),
              "optimal_tokens": float(fit.optimal_tokens(gopher_budget))}
    gopher["size_ratio"] = GOPHER.nominal_params / gopher["optimal_params"]
    chinchilla = next(m for m in models if m.label == published_pt.CHINCHILLA.label)
    numbers = Numbers()
    numbers.add("ScalingKaplanAlphaN", published_pt.KAPLAN_ALPHA_N, ".3f")
    numbers.add("ScalingKaplanNc", published_pt.KAPLAN_N_C, "sci1")
    numbers.add("ScalingKaplanAlphaD", published_pt.KAPLAN_ALPHA_D, ".3f")
    numbers.add("ScalingKaplanDc", published_pt.KAPLAN_D_C, "sci1")
    numbers.add("ScalingKaplanAlphaC", published_pt.KAPLAN_ALPHA_C_MIN, ".3f")
    numbers.add("ScalingKaplanCc", published_pt.KAPLAN_C_C_MIN_PF_DAYS, "sci1")
    numbers.add("ScalingKaplanNMin", published_pt.KAPLAN_N_RANGE[0], ",d")
    numbers.add("ScalingKaplanNMax", published_pt.KAPLAN_N_RANGE[1], "sci1")
    numbers.add("ScalingKaplanDMin", published_pt.KAPLAN_D_RANGE[0], "sci1")
    numbers.add("ScalingKaplanDMax", published_pt.KAPLAN_D_RANGE[1], "sci1")
    numbers.add("ScalingFitE", fit.E, ".2f")
    numbers.add("ScalingFitA", fit.A, ".1f")
    numbers.add("ScalingFitB", fit.B, ".1f")
    numbers.add("ScalingFitAlpha", fit.alpha, ".2f")
    numbers.add("ScalingFitBeta", fit.beta, ".2f")
    numbers.add("ScalingFrontierExponentA", fit.a, ".3f")
    numbers.add("ScalingFrontierExponentB", fit.b, ".3f")
    for budget in SCALING_BUDGETS:
        numbers.add(f"ScalingBudget{spell(round(np.log10(budget)))}", budget, "sci0")
    numbers.add("ScalingGopherBudget", gopher["compute"], "sci2")
    # approach 1 (Table 3) projects 67B at that budget: Chinchilla's 70B is on its frontier
    numbers.add("ScalingChinchillaOverApproachOne",
                chinchilla.params / published_pt.CHINCHILLA_GOPHER_APPROACH1_N, ".2f")
    numbers.add("ScalingGopherOptimalB", gopher["optimal_params"] / 1e9, ".0f")
    numbers.add("ScalingGopherOptimalTokensT", gopher["optimal_tokens"] / 1e12, ".1f")
    numbers.add("ScalingGopherSizeRatio", gopher["size_ratio"], ".1f")
    numbers.add("ScalingPaperGopherApproachThreeB",
                published_pt.CHINCHILLA_GOPHER_APPROACH3_N / 1e9, ".0f")
    numbers.add("ScalingPaperGopherApproachOneB",
                published_pt.CHINCHILLA_GOPHER_APPROACH1_N / 1e9, ".0f")
    for m in models:
        numbers.add(f"ScalingSizeRatio{spell(m.label)}", m.size_ratio, ".1f")
    return ScalingLaws(kaplan=kaplan, curves=curves, frontier_compute=frontier_compute,
                       frontier_params=fit.optimal_params(frontier_compute),
                       models=tuple(models), gopher_budget=gopher["compute"],
                       gopher_optimal_params=gopher["optimal_params"], numbers=numbers)


#: Where each model's label sits from its marker, in points (drawing only: three markers
#: nearly coincide near 6e23 FLOPs).
MODEL_LABEL_OFFSETS = {"GPT-3": (-5, 0, "right"), "Gopher": (5, 0, "left"),
                       "Chinchilla": (-5, 6, "right"), "LLaMA 7B": (5, -8, "left"),
                       "LLaMA 13B": (-5, 3, "right"), "LLaMA 33B": (-5, 3, "right"),
                       "LLaMA 65B": (-5, -7, "right"), "Llama 2 70B": (5, 3, "left")}
KAPLAN_TITLES = {"N": ("a", "Parameters"), "D": ("b", "Data"), "C_min": ("c", "Compute")}
KAPLAN_AXES = {"N": "$N$ (non-embedding)", "D": "$D$ (tokens)",
               "C_min": "$C_{\\min}$ (PF-days)"}
#: Labelled ticks of the Kaplan panels (none at the ends, where neighbours' labels meet).
KAPLAN_TICKS = {"N": (1e4, 1e7, 1e10), "D": (1e8, 1e10, 1e12), "C_min": (1e-6, 1e-2, 1e2)}


@FIGURES.figure(
    caption="Scaling laws: (a-c) Kaplan et al.'s power laws (shaded: sizes trained); "
            "(d) isoflop curves of Hoffmann et al.'s fit (approach 3), whose minima "
            "form the compute-optimal frontier; (e) published models against it: for Gopher's "
            f"budget the fit's optimal model has {GOPHER_OPTIMAL_B:.0f}B parameters, not "
            "280B (approach 1: 67B, near Chinchilla). Losses were measured on different data "
            "and tokenizers: they are not comparable.",
    result=scaling_laws_result, width=1.0, height=4.8)
def scaling_laws(fig, laws: ScalingLaws):
    numbers = laws.numbers
    grid = fig.add_gridspec(2, 6, height_ratios=[1, 1.45])
    ink = meanings.role("ours")  # a single computed quantity: ink
    formulas = {
        "N": f"$L = (N_c/N)^{{\\alpha_N}}$\n$N_c = {_tex(numbers['ScalingKaplanNc'])}$\n"
             f"$\\alpha_N = {numbers['ScalingKaplanAlphaN']}$",
        "D": f"$L = (D_c/D)^{{\\alpha_D}}$\n$D_c = {_tex(numbers['ScalingKaplanDc'])}$\n"
             f"$\\alpha_D = {numbers['ScalingKaplanAlphaD']}$",
        "C_min": f"$L = (C_c/C_{{\\min}})^{{\\alpha_C}}$\n"
                 f"$C_c = {_tex(numbers['ScalingKaplanCc'])}$\n"
                 f"$\\alpha_C = {numbers['ScalingKaplanAlphaC']}$"}
    studied_labels = {"N": "models trained", "D": "data trained"}
    top = []
    for i, panel in enumerate(laws.kaplan):
        ax = fig.add_subplot(grid[0, 2 * i:2 * i + 2], sharey=top[0] if top else None)
        top.append(ax)
        if panel.studied is not None:
            ax.axvspan(*panel.studied, color=LIGHT, lw=0, zorder=0)
            ax.text(np.sqrt(panel.studied[0] * panel.studied[1]), 0.04,
                    studied_labels[panel.law], transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=SMALL, color=MUTED)
        ax.plot(panel.x, panel.loss, color=ink.color, lw=1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(*panel.x)
        ax.text(0.97, 0.95, formulas[panel.law], transform=ax.transAxes, ha="right", va="top",
                fontsize=SMALL)
        ax.set_xlabel(KAPLAN_AXES[panel.law])
        panel_title(ax, *KAPLAN_TITLES[panel.law])
    top[0].set_ylabel("loss (nats/token)")
    for ax in top[1:]:
        ax.tick_params(labelleft=False)
    lows = [p.loss.min() for p in laws.kaplan]
    highs = [p.loss.max() for p in laws.kaplan]
    top[0].set_ylim(min(lows) / 1.15, max(highs) * 1.5)
    top[0].yaxis.set_major_locator(FixedLocator([1, 2, 5, 10]))
    top[0].yaxis.set_major_formatter(FixedFormatter(["1", "2", "5", "10"]))
    top[0].yaxis.set_minor_locator(NullLocator())
    for ax, panel in zip(top, laws.kaplan, strict=True):
        ax.set_xticks(KAPLAN_TICKS[panel.law])
        ax.xaxis.set_minor_locator(NullLocator())

    ax_d = fig.add_subplot(grid[1, :3])
    colours = meanings.ordered(len(laws.curves))
    for curve, colour in zip(laws.curves, colours, strict=True):
        exponent = spell(round(np.log10(curve.compute)))
        ax_d.plot(curve.params, curve.loss, color=colour, lw=1.0)
        # each curve named at its right end: below the ceiling where it leaves the top,
        # above its end where it leaves the right edge
        label = f"$C = {_tex(numbers[f'ScalingBudget{exponent}'])}$"
        end = (curve.params[-1], curve.loss[-1])
        if curve.loss[-1] > SCALING_LOSS_CEILING - 0.1:
            ax_d.annotate(label, end, xytext=(4, -3), textcoords="offset points", ha="left",
                          va="top", fontsize=SMALL, color=colour)
        else:
            ax_d.annotate(label, end, xytext=(-2, 4), textcoords="offset points", ha="right",
                          va="bottom", fontsize=SMALL, color=colour)
    optimal_n = [c.optimal_params for c in laws.curves]
    optimal_loss = [c.optimal_loss for c in laws.curves]
    ax_d.plot(optimal_n, optimal_loss, color=ink.color, lw=0.8, marker="o", markersize=3)
    ax_d.set_xscale("log")
    ax_d.set_xlim(laws.curves[0].params.min() / 1.5, max(c.params.max() for c in laws.curves))
    ax_d.set_ylim(min(optimal_loss) - 0.08, SCALING_LOSS_CEILING)
    ax_d.set_xlabel("parameters $N$ (trained on $D = C/6N$ tokens)")
    ax_d.set_ylabel("loss of the fit (nats/token)")
    panel_title(ax_d, "d", "Isoflop curves and their minima")

    ax_e = fig.add_subplot(grid[1, 3:])
    ax_e.plot(laws.frontier_compute, laws.frontier_params, color=ink.color, lw=1.0)
    published = meanings.role("published")
    for m in laws.models:
        ax_e.plot([m.compute], [m.params], **published.line, markersize=4.5)
        dx, dy, ha = MODEL_LABEL_OFFSETS[m.label]
        ax_e.annotate(book_name(m.label), (m.compute, m.params), xytext=(dx, dy),
                      textcoords="offset points", ha=ha, va="center", fontsize=SMALL)
    ax_e.set_xscale("log")
    ax_e.set_yscale("log")
    ax_e.set_xlim(*laws.frontier_compute)
    ax_e.set_ylim(min(m.params for m in laws.models) / 2.5,
                  max(m.params for m in laws.models) * 2.2)
    # the optimal model for Gopher's budget, on the frontier
    ax_e.plot([laws.gopher_budget], [laws.gopher_optimal_params], color=ink.color,
              marker=ink.marker, ls="none", markersize=3.5)
    ax_e.annotate(f"{numbers['ScalingGopherOptimalB']}B", (laws.gopher_budget,
                                                           laws.gopher_optimal_params),
                  xytext=(3, -5), textcoords="offset points", ha="left", va="top",
                  fontsize=SMALL)
    ax_e.text(0.02, 0.98, f"at {numbers['ScalingGopherBudget']} FLOPs:\n"
              f"fit {numbers['ScalingGopherOptimalB']}B (dot),\n"
              f"approach 3: {numbers['ScalingPaperGopherApproachThreeB']}B,\n"
              f"approach 1: {numbers['ScalingPaperGopherApproachOneB']}B",
              transform=ax_e.transAxes, ha="left", va="top", fontsize=SMALL)
    ax_e.set_xlabel("training compute $6ND$ (FLOPs)")
    ax_e.set_ylabel("parameters $N$")
    panel_title(ax_e, "e", "Published models, frontier")


# --------------------------------------------------------------------------------------------
GPU = published_pt.A100_NAME
PEAK_TFLOPS = published_pt.A100_BF16_DENSE_TFLOPS
STATED_MFU = published_pt.PALM_MFU[published_pt.STATED_MFU_SOURCE] / 100


@dataclass(frozen=True)
class ComputeRow:
    """One published model: its training compute, and the A100 hours it takes."""
    label: str
    params: float
    tokens: float
    flops: float                  # 6 N D
    published_flops: float | None  # where the paper prints its compute (GPT-3, Table D.1)
    hours: float                  # at the stated utilisation
    published_hours: float | None
    implied_mfu: float | None     # what the published hours imply


@dataclass(frozen=True)
class ComputeRequirements:
    rows: tuple[ComputeRow, ...]
    peak_tflops: float
    mfu: float
    throughput_mfu: float         # LLaMA 65B's stated tokens/s per GPU, as a utilisation
    numbers: Numbers


def compute_requirements_result() -> ComputeRequirements:
    rows = []
    for model in PUBLISHED_MODELS:
        n = model_params(model)
        flops = compute.training_flops(n, model.tokens)
        implied = (compute.implied_utilisation(flops, model.gpu_hours, PEAK_TFLOPS)
                   if model.gpu_hours else None)
        rows.append(ComputeRow(
            label=model.label, params=n, tokens=model.tokens, flops=flops,
            published_flops=published_pt.GPT3_TABLE_D1_FLOPS if model is published_pt.GPT3
            else None,
            hours=compute.gpu_hours(flops, PEAK_TFLOPS, STATED_MFU),
            published_hours=model.gpu_hours, implied_mfu=implied))
    llama_65b = published_pt.LLAMA_MODELS[-1]
    throughput = compute.throughput_utilisation(
        model_params(llama_65b), published_pt.LLAMA_65B_TOKENS_PER_GPU_SECOND, PEAK_TFLOPS)
    numbers = Numbers()
    numbers.add("ComputePeakTflops", PEAK_TFLOPS, "d")
    numbers.add("ComputeStatedMfuPct", 100 * STATED_MFU, ".1f")
    for row in rows:
        word = spell(row.label)
        numbers.add(f"Compute{word}Flops", row.flops, "sci2")
        numbers.add(f"Compute{word}Hours", row.hours, ",.0f")
        if row.published_hours:
            numbers.add(f"Compute{word}PublishedHours", row.published_hours, ",d")
            numbers.add(f"Compute{word}ImpliedMfuPct", 100 * row.implied_mfu, ".0f")
    for row in rows:
        if row.published_flops is not None:
            numbers.add(f"Compute{spell(row.label)}PublishedFlops", row.published_flops, "sci2")
    implied = [r.implied_mfu for r in rows if r.implied_mfu is not None]
    numbers.add("ComputeImpliedMfuMinPct", 100 * min(implied), ".0f")
    numbers.add("ComputeImpliedMfuMaxPct", 100 * max(implied), ".0f")
    numbers.add("ComputeLlamaThroughput", published_pt.LLAMA_65B_TOKENS_PER_GPU_SECOND, "d")
    numbers.add("ComputeThroughputMfuPct", 100 * throughput, ".0f")
    return ComputeRequirements(rows=tuple(rows), peak_tflops=PEAK_TFLOPS, mfu=STATED_MFU,
                               throughput_mfu=throughput, numbers=numbers)


@FIGURES.figure(
    caption="Training compute of published models: (a) $C = 6ND$ (for GPT-3 as its paper "
            f"counts); (b) {GPU} hours at the {PEAK_TFLOPS:g} TFLOPS dense BF16 peak and the "
            f"{100 * STATED_MFU:.1f}\\,\\% model FLOPs utilisation of Megatron-Turing NLG "
            "(A100s; PaLM's Table 3) "
            "(A100-equivalent for GPT-3, Gopher, Chinchilla), beside the hours the LLaMA "
            "papers publish, which imply the utilisation labelled at each.",
    result=compute_requirements_result, width=1.0, aspect=0.46)
def compute_requirements(fig, result: ComputeRequirements):
    numbers = result.numbers
    ax_a, ax_b = fig.subplots(1, 2, sharey=True)
    rows = np.arange(len(result.rows))[::-1]
    ours = meanings.role("ours")
    published = meanings.role("published")
    for y, row in zip(rows, result.rows, strict=True):
        word = spell(row.label)
        label = numbers[f"Compute{word}Flops"]
        if row.published_flops is not None:  # the paper's own count, an open diamond
            ax_a.plot([row.published_flops], [y], **published.line, markersize=5)
            label += f" (paper: {numbers[f'Compute{word}PublishedFlops']})"
        ax_a.plot([row.flops], [y], color=ours.color, marker=ours.marker, ls="none",
                  markersize=3)
        ax_a.annotate(label, (row.flops, y), xytext=(6, 0), textcoords="offset points",
                      ha="left", va="center", fontsize=SMALL)
        ax_b.plot([row.hours], [y], color=ours.color, marker=ours.marker, ls="none",
                  markersize=4)
        if row.published_hours is not None:
            ax_b.plot([row.published_hours], [y], **published.line, markersize=5)
            ax_b.annotate(f"MFU {numbers[f'Compute{word}ImpliedMfuPct']} %",
                          (min(row.published_hours, row.hours), y), xytext=(-6, 0),
                          textcoords="offset points", ha="right", va="center",
                          fontsize=SMALL)
    flops = [r.flops for r in result.rows]
    ax_a.set_xscale("log")
    ax_a.set_xlim(min(flops) / 2, max(flops) * 8)
    ax_a.set_yticks(rows, [book_name(r.label) for r in result.rows])
    ax_a.tick_params(axis="y", length=0)
    ax_a.set_ylim(rows.min() - 0.6, rows.max() + 2.4)  # room above for (b)'s legend
    ax_a.set_xlabel("training compute (FLOPs)")
    panel_title(ax_a, "a", "Compute, $C = 6ND$")
    hours = [r.hours for r in result.rows] + [r.published_hours for r in result.rows
                                              if r.published_hours]
    ax_b.set_xscale("log")
    ax_b.set_xlim(min(hours) / 12, max(hours) * 2)
    ax_b.set_xlabel(f"{GPU} GPU hours")
    ax_b.legend(handles=[
        Line2D([], [], color=ours.color, marker=ours.marker, ls="none",
               label=f"MT-NLG's {numbers['ComputeStatedMfuPct']} % MFU"),
        Line2D([], [], **published.line, label="published")],
        loc="upper left", handletextpad=0.3)
    panel_title(ax_b, "b", "A100 hours")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mixture:
    """One published pre-training mixture, its sources sorted by their share of the samples."""
    key: str                           # "Llama", "GptThree": the numbers' prefix
    title: str
    source: str                        # the paper and table
    sources: tuple[published_pt.MixtureSource, ...]
    size_header: str                   # what `size` is ("disk size", "tokens")
    epochs_note: str                   # what the epochs count


@dataclass(frozen=True)
class DataMixtures:
    mixtures: tuple[Mixture, ...]
    numbers: Numbers


#: The sources as the book spells them (the pipeline figure too); the papers' tables print
#: "Github", "ArXiv", "StackExchange".
MIXTURE_NAMES = {"Github": "GitHub", "ArXiv": "arXiv", "StackExchange": "Stack Exchange"}


def mixture_name(source: published_pt.MixtureSource) -> str:
    return MIXTURE_NAMES.get(source.name, source.name)


def _mixture_size(source: published_pt.MixtureSource) -> str:
    return (f"{source.size:g}B tokens" if source.size_unit == "B tokens"
            else f"{source.size:g} {source.size_unit}")


def data_mixture_result() -> DataMixtures:
    mixtures = (
        Mixture("Llama", "LLaMA", "LLaMA, arXiv 2302.13971, Table 1",
                tuple(sorted(published_pt.LLAMA_MIXTURE, key=lambda s: -s.share_pct)),
                "disk size", "epochs on 1.4T tokens"),
        Mixture("GptThree", "GPT-3", "GPT-3, arXiv 2005.14165, Table 2.2",
                tuple(sorted(published_pt.GPT3_MIXTURE, key=lambda s: -s.share_pct)),
                "tokens", "epochs in 300B tokens"),
    )
    numbers = Numbers()
    for mixture in mixtures:
        for source in mixture.sources:
            word = f"Mixture{mixture.key}{spell(source.name)}"
            numbers.add(f"{word}Share", source.share_pct, ".1f" if mixture.key == "Llama"
                        else ".0f")
            numbers.add(f"{word}Epochs", source.epochs, ".2f" if mixture.key == "Llama"
                        else "g")
        numbers.add(f"Mixture{mixture.key}Sources", len(mixture.sources), "d")
        numbers.add(f"Mixture{mixture.key}MaxEpochs", max(s.epochs for s in mixture.sources),
                    ".2f" if mixture.key == "Llama" else "g")
    llama_disk_tb = sum(s.size * (1 if s.size_unit == "TB" else 1e-3)
                        for s in published_pt.LLAMA_MIXTURE)
    numbers.add("MixtureLlamaDiskTB", llama_disk_tb, ".1f")
    numbers.add("MixtureGptThreeShareSum", sum(s.share_pct for s in published_pt.GPT3_MIXTURE),
                ".0f")
    return DataMixtures(mixtures=mixtures, numbers=numbers)


@FIGURES.figure(
    caption="Published pre-training mixtures, each source's share of the training samples "
            "and the epochs over it (LLaMA's in 1.4T tokens, GPT-3's in 300B): web crawls make "
            "up most of the samples and are seen about once or less, while small curated "
            "sources are repeated up to "
            f"{max(s.epochs for s in published_pt.GPT3_MIXTURE):g} times (LLaMA Table 1, "
            "GPT-3 Table 2.2; tables tab:pretraining:data\\_mixture\\_llama and "
            "tab:pretraining:data\\_mixture\\_gptthree).",
    result=data_mixture_result, width=1.0, height=3.5)
def data_mixture(fig, result: DataMixtures):
    numbers = result.numbers
    sizes = [len(m.sources) for m in result.mixtures]
    grid = fig.add_gridspec(2, 2, height_ratios=sizes, width_ratios=[1.7, 1])
    bar_colour = tint(INK, 0.6)
    ink = meanings.role("ours")
    share_axes, epoch_axes = [], []
    for row, (mixture, letters) in enumerate(zip(result.mixtures, ("ab", "cd"), strict=True)):
        ax_s = fig.add_subplot(grid[row, 0], sharex=share_axes[0] if share_axes else None)
        ax_e = fig.add_subplot(grid[row, 1], sharey=ax_s,
                               sharex=epoch_axes[0] if epoch_axes else None)
        share_axes.append(ax_s)
        epoch_axes.append(ax_e)
        ys = np.arange(len(mixture.sources))[::-1]
        for y, source in zip(ys, mixture.sources, strict=True):
            word = f"Mixture{mixture.key}{spell(source.name)}"
            ax_s.barh(y, source.share_pct, 0.65, color=bar_colour, lw=0)
            ax_s.text(source.share_pct + 1, y, f"{numbers[word + 'Share']} %", va="center",
                      ha="left", fontsize=SMALL)
            ax_e.plot([source.epochs], [y], color=ink.color, marker=ink.marker, ls="none",
                      markersize=4)
            ax_e.annotate(numbers[word + "Epochs"], (source.epochs, y), xytext=(5, 0),
                          textcoords="offset points", ha="left", va="center", fontsize=SMALL)
        ax_e.axvspan(0, 1, color=LIGHT, lw=0, zorder=0)  # less than one pass
        ax_s.set_yticks(ys, [f"{mixture_name(s)}\n{_mixture_size(s)}"
                             for s in mixture.sources],
                        linespacing=1.0)
        ax_s.tick_params(axis="y", length=0)
        ax_e.tick_params(axis="y", length=0, labelleft=False)
        ax_s.set_ylim(ys.min() - 0.6, ys.max() + 0.6)
        panel_title(ax_s, letters[0], f"{mixture.title}: share of samples")
        panel_title(ax_e, letters[1], f"{mixture.title}: epochs")
    # the share axes end a little past the largest share (67 %), room for its label
    share_axes[0].set_xlim(0, 80)
    share_axes[0].set_xticks([0, 20, 40, 60, 80])
    epoch_axes[0].set_xlim(0, 4)
    share_axes[-1].set_xlabel("share of the samples (%)")
    epoch_axes[-1].set_xlabel("epochs (shaded: $<$1)")
    for ax in share_axes[:-1] + epoch_axes[:-1]:
        ax.tick_params(labelbottom=False)


def mixture_table(mixture: Mixture, numbers: Numbers) -> latex.Table:
    """One mixture as a booktabs table: source, share, epochs, size, as the paper prints it."""
    rows = tuple((latex.escape(mixture_name(s)),
                  numbers[f"Mixture{mixture.key}{spell(s.name)}Share"] + r"\,\%",
                  numbers[f"Mixture{mixture.key}{spell(s.name)}Epochs"],
                  latex.escape(_mixture_size(s))) for s in mixture.sources)
    return latex.Table(
        name=f"data_mixture_{mixture.key.lower()}",
        caption=f"The pre-training mixture of {mixture.title}: each source's share of the "
                f"training samples, the {mixture.epochs_note} and its {mixture.size_header} "
                f"({mixture.source}).",
        header=("Source", "Share", "Epochs", mixture.size_header.capitalize()),
        rows=rows, align="lrrr")


# --------------------------------------------------------------------------------------------
#: The two stages compared: LLaMA-7B's pre-training (LLaMA paper) and the Guanaco 7B recipe of
#: QLoRA's released scripts (published.hyperparameters, published.qlora), which fine-tunes it.
STAGE_MODEL = published_pt.LLAMA_MODELS[0]
STAGE_ADAPTER_RANK = qlora_published.GUANACO_RANK
#: The Guanaco scripts truncate each sample to 16 source + 512 target tokens: a sequence holds
#: at most this many tokens (numerics.qlora.paging.RELEASED_MAX_LEN).
STAGE_MAX_SEQUENCE = paging.RELEASED_MAX_LEN


@dataclass(frozen=True)
class StageQuantity:
    """One quantity of both stages (fine-tuning's are upper bounds where `at_most`)."""
    key: str
    label: str
    pretraining: float
    finetuning: float
    at_most: bool
    fmt: str


@dataclass(frozen=True)
class TwoStages:
    """LLaMA-7B pre-training against the Guanaco 7B QLoRA fine-tuning of it."""
    quantities: tuple[StageQuantity, ...]
    pretraining_lr: float
    finetuning_lr: float
    #: learning rate against the optimizer step, each stage's published schedule
    pretraining_steps: np.ndarray
    pretraining_schedule: np.ndarray
    finetuning_steps: np.ndarray
    finetuning_schedule: np.ndarray
    numbers: Numbers


def llama_schedule(share_pct: np.ndarray, steps: float, peak: float) -> np.ndarray:
    """LLaMA's schedule (Sec. 2.3): linear warm-up over 2,000 steps, then a cosine from the peak
    to 10 % of it at the last step."""
    step = share_pct / 100 * steps
    warmup = published_pt.LLAMA_WARMUP_STEPS
    floor = published_pt.LLAMA_FINAL_LR_FRACTION
    progress = np.clip((step - warmup) / (steps - warmup), 0, 1)
    cosine = peak * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * progress)))
    return np.where(step < warmup, peak * step / warmup, cosine)


def pretraining_vs_finetuning_result() -> TwoStages:
    hp = hyperparameters
    pre_tokens = STAGE_MODEL.tokens
    pre_batch = published_pt.LLAMA_BATCH_TOKENS
    pre_steps = pre_tokens / pre_batch
    pre_params = model_params(STAGE_MODEL)
    ft_steps = hp.QLORA_STEPS
    ft_batch = hp.QLORA_BATCH_SIZE * STAGE_MAX_SEQUENCE
    ft_tokens = ft_steps * ft_batch
    adapters = memory.lora_parameters(STAGE_MODEL.shape, STAGE_ADAPTER_RANK, memory.ALL_LINEAR)
    pre_flops = compute.training_flops(pre_params, pre_tokens)
    ft_flops = compute.adapter_training_flops(pre_params, adapters, ft_tokens)
    pre_lr = published_pt.LLAMA_LEARNING_RATES[STAGE_MODEL.label]
    quantities = (
        StageQuantity("Tokens", "tokens seen", pre_tokens, ft_tokens, True, "sci1"),
        StageQuantity("BatchTokens", "tokens per step", pre_batch, ft_batch, True, "sci1"),
        StageQuantity("Steps", "optimizer steps", pre_steps, ft_steps, False, ",.0f"),
        StageQuantity("TrainedParams", "trained parameters", pre_params, adapters, False,
                      "sci1"),
        StageQuantity("Flops", "model FLOPs", pre_flops, ft_flops, True, "sci1"),
    )
    numbers = Numbers()
    for q in quantities:
        numbers.add(f"StagePre{q.key}", q.pretraining, q.fmt)
        numbers.add(f"StageFine{q.key}", q.finetuning, q.fmt)
        # the ratio to two significant digits: the fine-tuning side is an upper bound
        numbers.add(f"StageRatio{q.key}", float(f"{q.pretraining / q.finetuning:.2g}"), ",.0f")
    numbers.add("StagePreLr", pre_lr, "sci1")
    numbers.add("StageFineLr", hp.QLORA_LEARNING_RATE, "sci0")
    numbers.add("StageRatioLr", pre_lr / hp.QLORA_LEARNING_RATE, ".1f")
    numbers.add("StagePreWarmupSteps", published_pt.LLAMA_WARMUP_STEPS, ",d")
    numbers.add("StagePreFinalLrPct", 100 * published_pt.LLAMA_FINAL_LR_FRACTION, ".0f")
    numbers.add("StageFineBatch", hp.QLORA_BATCH_SIZE, "d")
    numbers.add("StageFineMaxSequence", STAGE_MAX_SEQUENCE, "d")
    numbers.add("StageFineRank", STAGE_ADAPTER_RANK, "d")
    # both schedules on one axis of optimizer steps (log: the whole fine-tuning run is shorter
    # than pre-training's warm-up)
    pre_axis = np.geomspace(1, pre_steps, 1200)
    fine_axis = np.geomspace(1, ft_steps, 400)
    return TwoStages(quantities=quantities, pretraining_lr=pre_lr,
                     finetuning_lr=hp.QLORA_LEARNING_RATE, pretraining_steps=pre_axis,
                     pretraining_schedule=llama_schedule(100 * pre_axis / pre_steps, pre_steps,
                                                         pre_lr),
                     finetuning_steps=fine_axis,
                     finetuning_schedule=np.full_like(fine_axis, hp.QLORA_LEARNING_RATE),
                     numbers=numbers)


@FIGURES.figure(
    caption="LLaMA-7B's pre-training against its Guanaco 7B QLoRA fine-tuning "
            f"({hyperparameters.QLORA_STEPS:,} steps of {hyperparameters.QLORA_BATCH_SIZE} "
            f"sequences of at most {STAGE_MAX_SEQUENCE} tokens): (a) fine-tuning's tokens and "
            "model FLOPs ($6ND$; $4ND$ through the frozen model plus $6ND$ for the adapters; "
            "upper bounds) are four to five orders of magnitude smaller; (b) the learning rates "
            "are alike, and the whole fine-tuning run is shorter than pre-training's warm-up.",
    result=pretraining_vs_finetuning_result, width=1.0, aspect=0.44)
def pretraining_vs_finetuning(fig, stages: TwoStages):
    numbers = stages.numbers
    ax_a, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    qlora = meanings.method("qlora")
    pre_look = {"color": INK, "marker": "o", "linestyle": "none"}
    fine_look = {"color": qlora.color, "marker": qlora.marker, "linestyle": "none"}
    pairs = [(q.label, q.pretraining, q.finetuning, numbers["StageRatio" + q.key])
             for q in stages.quantities]
    pairs.append(("peak learning rate", stages.pretraining_lr, stages.finetuning_lr,
                  numbers["StageRatioLr"]))
    for y, (_label, pre, fine, ratio) in enumerate(pairs):
        ax_a.plot([fine, pre], [y, y], color=LIGHT, lw=1.0, zorder=1)
        ax_a.plot([pre], [y], ms=4, zorder=3, **pre_look)
        ax_a.plot([fine], [y], ms=4.5, zorder=3, **fine_look)
        ax_a.annotate(f"$\\times${ratio}", xy=(pre, y), xytext=(6, 0),
                      textcoords="offset points", ha="left", va="center", fontsize=SMALL)
    ax_a.set_yticks(range(len(pairs)), [p[0] for p in pairs])
    ax_a.set_ylim(len(pairs) - 0.4, -1.5)
    ax_a.set_xscale("log")
    ax_a.set_xlim(1e-5, 1e27)
    ax_a.xaxis.set_major_locator(FixedLocator([1e-4, 1e0, 1e4, 1e8, 1e12, 1e16, 1e20, 1e24]))
    ax_a.xaxis.set_minor_locator(NullLocator())
    ax_a.set_xlabel("value (log scale)")
    ax_a.legend(handles=[Line2D([], [], ms=4, label="pre-training", **pre_look),
                         Line2D([], [], ms=4.5, label="QLoRA fine-tuning", **fine_look)],
                loc="upper left", ncol=2, fontsize=SMALL, handletextpad=0.2,
                columnspacing=1.0)
    panel_title(ax_a, "a", "The two stages")

    ax_b.plot(stages.pretraining_steps, stages.pretraining_schedule * 1e4, color=INK, lw=1.2)
    ax_b.plot(stages.finetuning_steps, stages.finetuning_schedule * 1e4, color=qlora.color,
              ls=qlora.linestyle, lw=1.2)
    ax_b.plot([stages.finetuning_steps[-1]], [stages.finetuning_lr * 1e4], ms=4.5,
              **fine_look)
    warmup = published_pt.LLAMA_WARMUP_STEPS
    ax_b.plot([warmup, warmup], [0, stages.pretraining_lr * 1e4],
              **meanings.role("reference").line, lw=0.8)
    ax_b.text(1.4, stages.finetuning_lr * 1e4 * 0.95, f"QLoRA:\nconstant to\nstep "
              f"{numbers['StageFineSteps']}", ha="left", va="top", fontsize=SMALL,
              color=qlora.color)
    ax_b.text(1.4, stages.pretraining_lr * 1e4 * 1.04, f"pre-training: warm-up\nto step "
              f"{numbers['StagePreWarmupSteps']}, then cosine\nto "
              f"{numbers['StagePreFinalLrPct']} % of the peak", ha="left", va="bottom",
              fontsize=SMALL)
    ax_b.set_xscale("log")
    ax_b.set_xlim(1, stages.pretraining_steps[-1] * 1.3)
    ax_b.set_ylim(0, stages.pretraining_lr * 1e4 * 1.5)
    ax_b.set_yticks([0, 1, 2, 3])
    ax_b.set_xlabel("optimizer step (log scale)")
    ax_b.set_ylabel("learning rate ($10^{-4}$)")
    panel_title(ax_b, "b", "Learning rate")


def stages_table(stages: TwoStages) -> latex.Table:
    """The two stages as a booktabs table, from the same result as the figure."""
    numbers = stages.numbers

    rows = [(latex.escape(q.label), numbers["StagePre" + q.key],
             (r"$\leq$\," if q.at_most else "") + numbers["StageFine" + q.key])
            for q in stages.quantities]
    rows.append(("peak learning rate", numbers["StagePreLr"], numbers["StageFineLr"]))
    rows.append(("schedule", f"{numbers['StagePreWarmupSteps']} warm-up steps, cosine to "
                 f"{numbers['StagePreFinalLrPct']}\\,\\%", "constant, no warm-up"))
    rows.append(("trained weights", "all", f"LoRA adapters, $r = {numbers['StageFineRank']}$, "
                 "on all linear layers of the 4-bit base"))
    return latex.Table(
        name="pretraining_vs_finetuning",
        caption="LLaMA-7B's pre-training against the Guanaco 7B recipe that fine-tunes it with "
                "QLoRA.",
        header=("", "Pre-training (LLaMA-7B)", "Fine-tuning (Guanaco 7B)"),
        rows=tuple(rows), align="lp{4.2cm}p{4.2cm}",
        notes=("Pre-training: LLaMA, arXiv 2302.13971, Table 2 and Sec. 2.3 (1.0T tokens, "
               "batches of 4M tokens, AdamW); parameters counted from LLaMA-7B's shape. "
               "Fine-tuning: QLoRA, arXiv 2305.14314, App. B, and its released "
               f"finetune\\_guanaco\\_7b.sh ({numbers['StageFineBatch']} sequences per step, "
               f"each cut to at most {numbers['StageFineMaxSequence']} tokens, so its token "
               "counts are upper bounds). Compute: pre-training $6ND$; fine-tuning $4ND$ "
               "through the frozen model (the forward pass and the gradient to its "
               "activations, no weight gradients) plus $6ND$ for the adapters, without "
               "recomputation or dequantization.",))


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PipelineStage:
    key: str
    title: str
    detail: str            # with {Number} fields filled from the result's numbers


@dataclass(frozen=True)
class Pipeline:
    """The stages from raw text to a base model, with LLaMA's published numbers."""
    stages: tuple[PipelineStage, ...]
    numbers: Numbers


def pretraining_pipeline_result() -> Pipeline:
    shape = STAGE_MODEL.shape
    numbers = Numbers()
    llama_disk_tb = sum(s.size * (1 if s.size_unit == "TB" else 1e-3)
                        for s in published_pt.LLAMA_MIXTURE)
    numbers.add("PipelineDiskTB", llama_disk_tb, ".1f")
    numbers.add("PipelineSources", len(published_pt.LLAMA_MIXTURE), "d")
    numbers.add("PipelineVocabulary", shape.vocab_size, ",d")
    numbers.add("PipelineDatasetTokensT", published_pt.LLAMA_DATASET_TOKENS / 1e12, ".1f")
    numbers.add("PipelineContext", shape.context_length, ",d")
    numbers.add("PipelineBatchTokensM", published_pt.LLAMA_BATCH_TOKENS / 1e6, ".0f")
    tokens = [m.tokens for m in published_pt.LLAMA_MODELS]
    numbers.add("PipelineTokensMinT", min(tokens) / 1e12, ".1f")
    numbers.add("PipelineTokensMaxT", max(tokens) / 1e12, ".1f")
    n = numbers
    stages = (
        PipelineStage("collect", "1. Collect raw text",
                      f"{n['PipelineSources']} public sources:\nweb crawls, GitHub,\n"
                      f"Wikipedia, books, arXiv,\nStack Exchange: {n['PipelineDiskTB']} TB"),
        PipelineStage("filter", "2. Filter, deduplicate",
                      "duplicate lines and\nfiles removed, language\nidentified, "
                      "low-quality\npages dropped"),
        PipelineStage("tokenize", "3. Tokenize",
                      "byte-pair encoding\n(SentencePiece) with a\n"
                      f"{n['PipelineVocabulary']}-token vocabulary:\n"
                      f"{n['PipelineDatasetTokensT']}T tokens in all"),
        PipelineStage("pack", "4. Pack sequences",
                      "documents joined by an\nend-of-text token, cut\ninto sequences of\n"
                      f"{n['PipelineContext']} tokens (context)"),
        PipelineStage("train", "5. Predict next token",
                      f"AdamW on batches of\n{n['PipelineBatchTokensM']}M tokens; "
                      f"{n['PipelineTokensMinT']}T to\n{n['PipelineTokensMaxT']}T tokens seen"),
        PipelineStage("model", "6. Base model",
                      "LLaMA-7B, 13B, 33B\nand 65B: ready for\nfine-tuning"),
    )
    return Pipeline(stages=stages, numbers=numbers)


#: The pipeline's box padding (in font sizes): room between the text and the box edge.
PIPELINE_BOX_PAD = 0.9


@FIGURES.figure(
    caption="From raw text to a base model, the stages of pre-training with LLaMA's published "
            "numbers: its sources and their size on disk (Table 1), filtering and "
            "deduplication, byte-pair encoding into 1.4T tokens, packing into sequences of the "
            "context length (as the GPT-3 paper describes it), and next-token prediction "
            "(Table 2 and Sec. 2).",
    result=pretraining_pipeline_result, width=1.0, height=2.1)
def pretraining_pipeline(fig, pipeline: Pipeline):
    ax = diagram.canvas(fig, (0, 3), (0.05, 1.9))
    # a snake: stages 1-3 left to right on top, 4-6 right to left below
    places = [(0.5, 1.45), (1.5, 1.45), (2.5, 1.45), (2.5, 0.5), (1.5, 0.5), (0.5, 0.5)]
    boxes = []
    for stage, (x, y) in zip(pipeline.stages, places, strict=True):
        colour = INK if stage.key == "model" else MUTED
        # the title in Computer Modern bold (cmb10, as mathtext's \bf): one text per box, so
        # that the arrows join the box (diagram.box takes no separate title line)
        title = "\\ ".join(stage.title.split())
        boxes.append(diagram.box(ax, x, y, f"$\\bf{{{title}}}$\n{stage.detail}", color=colour,
                                 fill=0.85 if stage.key == "model" else 0.92,
                                 fontsize=SMALL, pad=PIPELINE_BOX_PAD))
    sides = [((1, 0.5), (0, 0.5)), ((1, 0.5), (0, 0.5)), ((0.5, 0), (0.5, 1)),
             ((0, 0.5), (1, 0.5)), ((0, 0.5), (1, 0.5))]
    for (a, b), (side_a, side_b) in zip(zip(boxes[:-1], boxes[1:], strict=True), sides,
                                        strict=True):
        diagram.link(ax, a, b, side_a, side_b)


def pretraining_tables() -> list[latex.Table]:
    """tables.tex of the topic: the data mixtures and the two stages, from the figures'
    results."""
    mixtures = FIGURES.result("data_mixture")
    return [*(mixture_table(m, mixtures.numbers) for m in mixtures.mixtures),
            stages_table(FIGURES.result("pretraining_vs_finetuning"))]


FIGURES.add_file(lambda: {"tables.tex": latex.tables_tex(FIGURES.topic, pretraining_tables())})



# ============================================================================================
# Tokenization: the project's byte-pair encoding against characters and words.
# ============================================================================================
# The recorded experiment (numerics.pretraining.bpe.compare, recorded by
# scripts/recorders/pretraining_tokenizer.py): the project's BPE along one training run, a
# character and a word tokenizer, all measured on the held-out text. The tokenizers are unnamed
# series (figkit.meanings.unnamed: BPE ink, solid, dots; words grey, dash-dot, triangles;
# characters one ink plus), named by direct labels.

#: The recorded tokenizer experiment (scripts/recorders/pretraining_tokenizer.py).
TOKENIZER_RUN = "tokenizer"
#: How the figures write the unknown-word token (cmr10 prints "<" and ">" as other glyphs).
TOKEN_UNK_TEXT = r"$\langle$unk$\rangle$"
#: Tokens are printed in a monospaced font, a token's leading space as U+2423 (open box).
#: cmtt10 (Computer Modern typewriter, shipped with matplotlib) has no visible-space glyph
#: U+2423, which every row of panel (c) needs: DejaVu Sans Mono has it.
TOKEN_FONT = "DejaVu Sans Mono"
#: Space between panels (a) and (b), in axes widths.
TOKEN_PANEL_GAP = 0.12
TOKEN_VISIBLE_SPACE = "\u2423"


@dataclass(frozen=True)
class TokenRow:
    """One tokenizer's tokens of the example line, as panel (c) prints them."""
    label: str                       # the tokenizer and its vocabulary size
    tokens: tuple[str, ...]          # leading spaces made visible
    unknown: tuple[bool, ...]        # which tokens are <unk> (drawn framed)
    count: str                       # "11 tokens"


@dataclass(frozen=True)
class TokenizationComparison:
    """BPE along one training run, characters and words on the held-out text (the recorded
    `numerics.pretraining.bpe.TokenizerComparison`), per held-out word."""
    bpe_vocab: np.ndarray
    bpe_tokens_per_word: np.ndarray
    bytes_per_word: float            # held-out bytes per word: bytes per token = this / tokens
    char_vocab: int
    char_tokens_per_word: float
    word_vocab: np.ndarray
    word_tokens_per_word: float      # the same at every vocabulary size
    word_unknown_pct: np.ndarray     # held-out words with at least one <unk>, %
    char_unknown: int                # held-out characters outside the character vocabulary
    example_words: int
    example_rows: tuple[TokenRow, ...]
    numbers: Numbers


def _token_shown(token: str) -> str:
    """A token as panel (c) prints it: its leading space visible."""
    return TOKEN_VISIBLE_SPACE + token[1:] if token.startswith(" ") else token


def tokenization_comparison_result() -> TokenizationComparison:
    run = tokenizer_runs.load(TOKENIZER_RUN)
    words = run.held_out_words
    bpe_per_word = run.bpe_tokens / words
    unknown_pct = 100 * run.word_unknown_words / words
    at_max = int(np.flatnonzero(run.word_vocab == run.bpe_vocab[-1])[0])
    numbers = Numbers()
    numbers.add("TokenTrainBytes", run.train_bytes, ",d")
    numbers.add("TokenHeldOutBytes", run.held_out_bytes, ",d")
    numbers.add("TokenHeldOutWords", words, ",d")
    numbers.add("TokenBytesPerWord", run.held_out_bytes / words, ".2f")
    numbers.add("TokenCharVocab", run.char_vocab, "d")
    numbers.add("TokenCharTokensPerWord", run.char_tokens / words, ".2f")
    numbers.add("TokenBpeVocabMax", run.bpe_vocab[-1], ",d")
    numbers.add("TokenBpeMerges", run.bpe_vocab[-1] - 256, ",d")
    numbers.add("TokenBpeTokensPerWordMax", bpe_per_word[-1], ".2f")
    numbers.add("TokenBpeBytesPerTokenMax", run.held_out_bytes / run.bpe_tokens[-1], ".2f")
    numbers.add("TokenWordTokensPerWord", run.word_tokens / words, ".2f")
    numbers.add("TokenWordUnknownAtMax", unknown_pct[at_max], ".1f")
    numbers.add("TokenWordUnknownAll", unknown_pct[-1], ".1f")
    numbers.add("TokenWordVocabAll", run.word_vocab[-1], ",d")
    numbers.add("TokenTrainPieces", run.word_vocab[-1] - 1, ",d")
    rows = []
    for vocab, tokens in zip(run.example_bpe_vocab, run.example_bpe, strict=True):
        rows.append(TokenRow(f"BPE, {vocab:,}", tuple(_token_shown(t) for t in tokens),
                             (False,) * len(tokens), f"{len(tokens)} tokens"))
    unknown = tuple(t == UNK for t in run.example_word)
    rows.append(TokenRow(f"words, {run.example_vocab:,}", tuple(_token_shown(t) for t in
                                                                 run.example_word),
                         unknown, f"{len(unknown)} tokens, {sum(unknown)} unknown"))
    numbers.add("TokenExampleWords", len(run.example.split()), "d")
    numbers.add("TokenExampleBpeSmall", len(run.example_bpe[0]), "d")
    numbers.add("TokenExampleBpeLarge", len(run.example_bpe[-1]), "d")
    return TokenizationComparison(
        bpe_vocab=run.bpe_vocab, bpe_tokens_per_word=bpe_per_word,
        bytes_per_word=run.held_out_bytes / words, char_vocab=run.char_vocab,
        char_tokens_per_word=run.char_tokens / words, word_vocab=run.word_vocab,
        word_tokens_per_word=run.word_tokens / words, word_unknown_pct=unknown_pct,
        char_unknown=run.char_unknown, example_words=len(run.example.split()),
        example_rows=tuple(rows), numbers=numbers)


def _token_vocabulary_axis(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlim(40, 25_000)
    ax.set_xticks([100, 1_000, 10_000], ["100", "1,000", "10,000"])
    ax.set_xlabel("vocabulary size (tokens)")


#: Panel (c): row pitch, the width of the row labels and the gap between token boxes (points).
TOKEN_ROW_PT, TOKEN_LABEL_PT, TOKEN_GAP_PT = 12.5, 50.0, 1.6


def _token_rows(fig, ax, rows) -> None:
    """Each row's tokens as boxes side by side, from the top left of `ax` (an empty axes)."""
    font = FontProperties(family=TOKEN_FONT, size=SMALL)
    measure = TextToPath()
    pad = 0.22  # of the font size, each side of a box
    for i, row in enumerate(rows):
        y = -(i + 0.5) * TOKEN_ROW_PT / 72
        anchor = fig.dpi_scale_trans + transforms.ScaledTranslation(0, 1, ax.transAxes)
        ax.text(0, y, row.label, transform=anchor, ha="left", va="center", fontsize=SMALL,
                color=INK)
        x = TOKEN_LABEL_PT / 72
        for token, unknown in zip(row.tokens, row.unknown, strict=True):
            width, _, _ = measure.get_text_width_height_descent(token, font, ismath=False)
            box = dict(boxstyle=f"square,pad={pad}", facecolor="white" if unknown else LIGHT,
                       edgecolor=INK if unknown else "none", linewidth=0.6)
            ax.text(x + pad * SMALL / 72, y, token, transform=anchor, ha="left", va="center",
                    fontproperties=font, color=INK, bbox=box)
            x += (width + 2 * pad * SMALL + TOKEN_GAP_PT) / 72
        ax.text(x + 3 / 72, y, row.count, transform=anchor, ha="left", va="center",
                fontsize=SMALL, color=MUTED)


#: What the caption states of the recorded run: the share of the corpus it trains on, and its
#: largest number of merges.
TOKEN_TRAIN_SHARE = tokenizer_runs.RUNS[TOKENIZER_RUN]["train_share"]
TOKEN_MERGES = max(tokenizer_runs.RUNS[TOKENIZER_RUN]["bpe_vocab"]) - 256


@FIGURES.figure(
    caption="The project's byte-pair encoding (BPE; one run on the first "
            f"{100 * TOKEN_TRAIN_SHARE:g}\\,\\% of Tiny Shakespeare: the 256 bytes, then up to "
            f"{TOKEN_MERGES:,} merges) against characters and words (one token per word, "
            "punctuation mark or line break), on the held-out rest: (a) tokens per word fall "
            "towards the words' count as the vocabulary grows; (b) but a word vocabulary leaves "
            "held-out words unknown, BPE none; (c) one held-out line.",
    result=tokenization_comparison_result, width=1.0, height=3.3)
def tokenization_comparison(fig, result: TokenizationComparison):
    # wide gap between (a) and (b): (a)'s right axis "bytes per token" and (b)'s y label
    grid = fig.add_gridspec(2, 2, height_ratios=(2.4, 0.62), wspace=TOKEN_PANEL_GAP)
    ax_a, ax_b = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_c = fig.add_subplot(grid[1, :])
    bpe, words, chars = meanings.unnamed(3)
    numbers = result.numbers
    vocab, per_word = result.bpe_vocab, result.bpe_tokens_per_word
    # (a) tokens per held-out word; the right axis reads the same points as bytes per token
    ax_a.plot(vocab, per_word, **bpe, markersize=3)
    charts.straight_series(ax_a, result.word_vocab,
                           np.full(len(result.word_vocab), result.word_tokens_per_word),
                           xlog=True, markersize=3, **words)
    ax_a.plot([result.char_vocab], [result.char_tokens_per_word], ls="none",
              marker=chars["marker"], color=chars["color"], markersize=5)
    _token_vocabulary_axis(ax_a)
    ax_a.set_ylim(0, 6.4)
    ax_a.set_ylabel("tokens per held-out word")
    per_byte = result.bytes_per_word
    right = ax_a.secondary_yaxis("right", functions=(
        lambda t: per_byte / np.maximum(t, 1e-9), lambda b: per_byte / np.maximum(b, 1e-9)))
    right.set_yticks([1, 1.5, 2, 3, 4], ["1", "1.5", "2", "3", "4"])
    right.set_ylabel("bytes per token")
    ax_a.annotate(f"characters ({result.char_vocab})", (result.char_vocab,
                  result.char_tokens_per_word), xytext=(-4, 6), textcoords="offset points",
                  ha="left", va="bottom", fontsize=SMALL, color=INK)
    ax_a.annotate("BPE: the 256 bytes,\nthen merges", (vocab[0], per_word[0]), xytext=(6, 0),
                  textcoords="offset points", ha="left", va="top", fontsize=SMALL, color=INK)
    ax_a.annotate(f"{numbers['TokenBpeVocabMax']} tokens:\n"
                  f"{numbers['TokenBpeTokensPerWordMax']} per word,\n"
                  f"{numbers['TokenBpeBytesPerTokenMax']} bytes per token",
                  (vocab[-1], per_word[-1]), xytext=(0.97, 0.5), textcoords="axes fraction",
                  ha="right", va="bottom", fontsize=SMALL, color=INK,
                  arrowprops=arrow_props(relpos=(0.7, 0.0)))
    ax_a.text(result.word_vocab[0], result.word_tokens_per_word - 0.25,
              f"words: {numbers['TokenWordTokensPerWord']} at every size",
              ha="left", va="top", fontsize=SMALL, color=MUTED)
    panel_title(ax_a, "a", "Tokens per word")

    # (b) held-out words with an <unk>: the word tokenizer's; BPE and characters have none
    ax_b.plot(result.word_vocab, result.word_unknown_pct, **words, markersize=3)
    charts.straight_series(ax_b, vocab, np.zeros(len(vocab)), xlog=True, markersize=3, **bpe)
    ax_b.plot([result.char_vocab], [0], ls="none", marker=chars["marker"], color=chars["color"],
              markersize=5)
    _token_vocabulary_axis(ax_b)
    ax_b.set_ylim(-3, 70)
    ax_b.set_ylabel(f"held-out words with an {TOKEN_UNK_TEXT} (%)")
    ax_b.text(0.02, 3, "BPE, characters: none", transform=ax_b.get_yaxis_transform(),
              ha="left", va="bottom", fontsize=SMALL, color=INK)
    at_max = int(np.flatnonzero(result.word_vocab == vocab[-1])[0])
    ax_b.annotate(f"{numbers['TokenWordUnknownAtMax']} %", (vocab[-1],
                  result.word_unknown_pct[at_max]), xytext=(-5, -2), textcoords="offset points",
                  ha="right", va="top", fontsize=SMALL, color=MUTED)
    ax_b.annotate(f"all {numbers['TokenTrainPieces']} training words:\n"
                  f"still {numbers['TokenWordUnknownAll']} % unknown",
                  (result.word_vocab[-1], result.word_unknown_pct[-1]),
                  xytext=(1.0, 0.62), textcoords="axes fraction", ha="right", va="bottom",
                  fontsize=SMALL, color=MUTED,
                  arrowprops=arrow_props(color=MUTED, relpos=(0.85, 0.0)))
    ax_b.annotate(f"words ({TOKEN_UNK_TEXT} for the rest)", (result.word_vocab[1],
                  result.word_unknown_pct[1]), xytext=(6, 3), textcoords="offset points",
                  ha="left", va="bottom", fontsize=SMALL, color=MUTED)
    panel_title(ax_b, "b", "Unknown words")

    # (c) one held-out line, token by token
    ax_c.set_axis_off()
    panel_title(ax_c, "c", f"One held-out line ({result.example_words} words)")
    _token_rows(fig, ax_c, result.example_rows)


# ============================================================================================
# A tiny language model pre-trained in numpy: training dynamics and optimizers.
# ============================================================================================


#: The recorded runs of the tiny language model (scripts/recorders/pretraining.py): a
#: learning-rate sweep per optimizer (seed 0), then each optimizer at its tuned rate (fresh seeds).
LM_DATA = ROOT / "data" / "pretraining"
#: The optimizers in the order the figures list them, and how their legends name them.
LM_OPTIMIZERS = tuple(lm_runs.SWEEP_LRS)
LM_LABELS = {"sgd": "SGD", "momentum": "SGD with momentum 0.9",
             "adam": "Adam, no weight decay", "adamw": "AdamW, decay 0.1 decoupled"}
#: The numbers.tex name of each optimizer (after "LmOpt").
LM_KEYS = {"sgd": "Sgd", "momentum": "Momentum", "adam": "Adam", "adamw": "Adamw"}
#: The optimizer whose tuned runs training_dynamics shows.
LM_MAIN = "adamw"
LM_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")


@cache
def lm_run(name: str) -> Run:
    return load_run(LM_DATA / name)


def lm_tuned(optimizer: str) -> list[Run]:
    """The runs of `optimizer` at its tuned learning rate, one per seed."""
    return [lm_run(lm_runs.tuned_name(optimizer, seed)) for seed in lm_runs.TUNED_SEEDS]


@dataclass(frozen=True)
class LmSweep:
    """One optimizer's learning-rate sweep (seed 0): the final held-out loss at each peak
    rate (NaN where the run diverged), and the rate chosen, the lowest final loss."""
    lrs: np.ndarray
    final_loss: np.ndarray
    diverged_at: tuple                 # the update a run diverged at, or None
    chosen_lr: float


def lm_sweep(optimizer: str) -> LmSweep:
    """The sweep read from its records; the tuned runs must be at the rate it chooses."""
    lrs = np.array(lm_runs.SWEEP_LRS[optimizer], float)
    configs = [lm_run(lm_runs.sweep_name(optimizer, lr)).config for lr in lrs]
    final = np.array([np.nan if c["final_val_loss"] is None else c["final_val_loss"]
                      for c in configs])
    chosen = float(lrs[np.nanargmin(final)])
    for run in lm_tuned(optimizer):
        if run.config["lr"] != chosen:
            raise RunError(f"{run.path}: recorded at lr {run.config['lr']}, but the recorded "
                           f"sweep chooses {chosen}: run scripts/recorders/pretraining.py")
    return LmSweep(lrs=lrs, final_loss=final,
                   diverged_at=tuple(c["diverged_at"] for c in configs), chosen_lr=chosen)


@dataclass(frozen=True)
class SeedSpread:
    """A logged metric of the seeds of one setting at the rows every seed logged: the median
    over the seeds and their range, against the tokens seen when it was measured."""
    tokens: np.ndarray                 # millions
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int
    values: np.ndarray                 # each seed's values (seeds x rows), in the order given


def seed_spread(runs: list[Run], column: str, before_update: bool = False) -> SeedSpread:
    """`column` over `runs`. A value measured on the batch of update s (`before_update`: the
    training loss, the learning rate) was measured after s - 1 updates, at (s - 1) x the
    tokens of an update; the held-out loss of row s after update s."""
    series = [dict(zip(*run.series(column), strict=True)) for run in runs]
    steps = np.array(sorted(set.intersection(*(set(s) for s in series))))
    values = np.array([[s[step] for step in steps] for s in series])
    per_step = {run.config["tokens_per_step"] for run in runs}
    if len(per_step) != 1:
        raise RunError(f"{runs[0].path.parent}: the seeds differ in tokens per update")
    tokens = (steps - 1 if before_update else steps) * per_step.pop() / 1e6
    return SeedSpread(tokens=tokens, median=np.median(values, axis=0),
                      low=values.min(axis=0), high=values.max(axis=0), seeds=len(runs),
                      values=values)


@dataclass(frozen=True)
class TrainingDynamics:
    """The tuned AdamW runs: training and held-out loss over the seeds, and the recorded
    learning rate (the same for every seed), against the tokens seen."""
    train: SeedSpread
    val: SeedSpread
    lr_tokens: np.ndarray              # millions; the linear warmup by its two end points
    lr: np.ndarray
    warmup_end: float                  # millions of tokens at the last warmup update
    uniform_loss: float                # ln V: the loss of a uniform guess
    unigram_loss: float                # held-out loss of predicting characters by frequency
    numbers: Numbers


def training_dynamics_result() -> TrainingDynamics:
    runs = lm_tuned(LM_MAIN)
    sweep = lm_sweep(LM_MAIN)
    config = runs[0].config
    lrs = [run.series("lr") for run in runs]
    if not all(np.array_equal(lr[1], lrs[0][1]) for lr in lrs):
        raise RunError(f"{runs[0].path}: the seeds' recorded schedules differ")
    steps, lr = lrs[0]
    keep = (steps == 1) | (steps >= config["warmup"])  # a straight warmup: its end points
    lr_tokens = (steps[keep] - 1) * config["tokens_per_step"] / 1e6
    train = seed_spread(runs, "train_loss", before_update=True)
    val = seed_spread(runs, "val_loss")
    uniform = float(portable.log(config["vocab_size"]))
    unigram = config["unigram_cross_entropy_held_out"]
    finals = [run.config["final_val_loss"] for run in runs]
    final_train = [run.config["final_train_loss_last_50"] for run in runs]
    numbers = Numbers()
    numbers.add("LmParams", config["n_params"], ",d")
    numbers.add("LmLayers", config["n_layers"], "d")
    numbers.add("LmHeads", config["n_heads"], "d")
    numbers.add("LmWidth", config["d_model"], "d")
    numbers.add("LmVocab", config["vocab_size"], "d")
    numbers.add("LmContext", config["context"], "d")
    numbers.add("LmBatchTokens", config["tokens_per_step"], ",d")
    numbers.add("LmSteps", config["steps"], ",d")
    numbers.add("LmTokensMillions", config["steps"] * config["tokens_per_step"] / 1e6, ".1f")
    numbers.add("LmEpochs", config["steps"] * config["tokens_per_step"] / config["train_chars"],
                ".1f")
    numbers.add("LmWarmup", config["warmup"], "d")
    numbers.add("LmPeakLr", sweep.chosen_lr, "g")
    numbers.add("LmFinalLrPercent", 100 * config["final_lr_ratio"], "g")
    numbers.add("LmSeeds", len(runs), "d")
    numbers.add("LmUniformLoss", uniform, ".2f")
    numbers.add("LmUnigramEntropy", config["unigram_entropy_train"], ".2f")
    numbers.add("LmUnigramLoss", unigram, ".2f")
    numbers.add("LmInitialLoss", val.median[0], ".2f")
    numbers.add("LmFinalValLoss", float(np.median(finals)), ".2f")
    numbers.add("LmFinalTrainLoss", float(np.median(final_train)), ".2f")
    numbers.add("LmBelowUnigram", unigram - float(np.median(finals)), ".2f")
    numbers.add("LmValTrainGap", numbers.value("LmFinalValLoss")
                - numbers.value("LmFinalTrainLoss"), ".2f")
    return TrainingDynamics(train=train, val=val, lr_tokens=lr_tokens, lr=lr[keep],
                            warmup_end=(config["warmup"] - 1) * config["tokens_per_step"] / 1e6,
                            uniform_loss=uniform, unigram_loss=unigram, numbers=numbers)


def lm_band(ax, spread: SeedSpread, look: dict, label: str, markevery=None, band=0.75):
    """The median of the seeds as a line in `look`, their range as a band in its tint."""
    ax.fill_between(spread.tokens, spread.low, spread.high, color=tint(look["color"], band),
                    linewidth=0)
    return ax.plot(spread.tokens, spread.median, **{**look, "label": label,
                                                    "markevery": markevery})[0]


def lm_reference(ax, value: float, text: str):
    """A dotted reference line across the panel, labelled above its right end."""
    reference = meanings.role("reference")
    ax.axhline(value, color=reference.color, ls=reference.linestyle, lw=0.7)
    ax.annotate(text, xy=(1, value), xycoords=("axes fraction", "data"), xytext=(0, 1.5),
                textcoords="offset points", ha="right", va="bottom", fontsize=SMALL)


@FIGURES.figure(
    caption="The tiny character-level transformer pre-trained on Tiny Shakespeare with AdamW at "
            "its tuned rate (three seeds: median and range): (a) the loss falls from that of a "
            "uniform guess to far below that of predicting characters by frequency; held-out "
            "ends 0.14 nats above training (last 50 updates); (b) the recorded learning rate: "
            "warmup, then cosine decay to a tenth of the peak, as for GPT-3 and LLaMA.",
    result=training_dynamics_result, width=1.0, height=3.0)
def training_dynamics(fig, dynamics: TrainingDynamics):
    ax, ax_lr = fig.subplots(2, 1, sharex=True, height_ratios=(2.3, 1.0))
    numbers = dynamics.numbers
    training, validation = meanings.role("training"), meanings.role("validation")
    seeds = LM_NUMBER_WORDS[dynamics.train.seeds]
    lm_band(ax, dynamics.train, {**training.line, "marker": "", "lw": 0.6},
            f"training batch ({numbers['LmBatchTokens']} tokens)")
    lm_band(ax, dynamics.val, {**validation.line, "markersize": 2.5, "lw": 1.0},
            "held-out text", band=0.7)
    lm_reference(ax, dynamics.uniform_loss,
                 f"uniform guess over {numbers['LmVocab']} characters: "
                 f"ln {numbers['LmVocab']} = {numbers['LmUniformLoss']}")
    lm_reference(ax, dynamics.unigram_loss,
                 f"each character by its frequency: {numbers['LmUnigramLoss']}")
    end = dynamics.val.tokens[-1]
    ax.annotate(f"held-out {numbers['LmFinalValLoss']}", xy=(end, dynamics.val.median[-1]),
                xytext=(0, 6), textcoords="offset points", ha="right", va="bottom",
                fontsize=SMALL)
    ax.annotate(f"training {numbers['LmFinalTrainLoss']}\n(last 50 updates)",
                xy=(end, dynamics.train.low[-1]), xytext=(0, -3), textcoords="offset points",
                ha="right", va="top", fontsize=SMALL)
    ax.set_ylim(dynamics.train.low.min() - 0.35, dynamics.uniform_loss + 0.3)
    ax.set_ylabel("loss (nats per character)")
    panel_title(ax, "a", "Next-character loss")
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.6), fontsize=SMALL,
              title=f"median of {seeds} seeds, band: their range")

    ax_lr.plot(dynamics.lr_tokens, dynamics.lr, color=INK, lw=1.0)
    ax_lr.set_ylim(0, 1.45 * dynamics.lr.max())
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("tokens seen (millions)")
    ax_lr.set_xlim(0, end)
    ax_lr.annotate(f"peak {numbers['LmPeakLr']} after {numbers['LmWarmup']} warmup updates",
                   xy=(dynamics.warmup_end, dynamics.lr.max()), xytext=(6, 2),
                   textcoords="offset points", ha="left", va="bottom", fontsize=SMALL)
    panel_title(ax_lr, "b", "Learning rate as recorded: linear warmup, then cosine decay to "
                f"{numbers['LmFinalLrPercent']} %")


@dataclass(frozen=True)
class OptimizerComparison:
    """Each optimizer's sweep and its tuned runs' held-out loss over the seeds."""
    sweeps: dict[str, LmSweep]
    tuned: dict[str, SeedSpread]
    final: dict[str, np.ndarray]       # final held-out loss of each tuned seed
    ranking: tuple[str, ...]           # best (lowest median final loss) first
    unigram_loss: float
    stalled: dict[str, int]            # tuned seeds that ended near the frequency baseline
    coincide: np.ndarray               # sweep rates where Adam and AdamW end within LM_COINCIDE
    numbers: Numbers


#: A tuned run "stalls" when its final held-out loss stays within this of the loss of
#: predicting each character by its frequency (nats).
LM_STALL_MARGIN = 0.1
#: Sweep end labels closer than this (nats) are pushed apart.
LM_LABEL_GAP = 0.06
#: Adam's and AdamW's sweep points "coincide" within this (nats; the markers overlap).
LM_COINCIDE = 0.01


def optimizer_comparison_result() -> OptimizerComparison:
    sweeps = {opt: lm_sweep(opt) for opt in LM_OPTIMIZERS}
    tuned = {opt: seed_spread(lm_tuned(opt), "val_loss") for opt in LM_OPTIMIZERS}
    final = {opt: np.array([run.config["final_val_loss"] for run in lm_tuned(opt)])
             for opt in LM_OPTIMIZERS}
    unigram = lm_tuned(LM_MAIN)[0].config["unigram_cross_entropy_held_out"]
    median = {opt: float(np.median(values)) for opt, values in final.items()}
    ranking = tuple(sorted(LM_OPTIMIZERS, key=median.get))
    stalled = {opt: int(np.sum(values > unigram - LM_STALL_MARGIN))
               for opt, values in final.items()}
    numbers = Numbers()
    numbers.add("LmOptSweepPoints", len(lm_runs.SWEEP_LRS[LM_MAIN]), "d")
    numbers.add("LmOptSeeds", len(lm_runs.TUNED_SEEDS), "d")
    for opt in LM_OPTIMIZERS:
        numbers.add(f"LmOpt{LM_KEYS[opt]}Lr", sweeps[opt].chosen_lr, "g")
        numbers.add(f"LmOpt{LM_KEYS[opt]}Loss", median[opt], ".2f")
    numbers.add("LmOptAdamAdamwGap", abs(median["adam"] - median["adamw"]), ".2f")
    same = np.abs(sweeps["adam"].final_loss - sweeps["adamw"].final_loss) < LM_COINCIDE
    if not np.array_equal(sweeps["adam"].lrs, sweeps["adamw"].lrs):
        raise RunError("Adam's and AdamW's sweeps differ in their rates")
    numbers.add("LmOptDiverged", sum(d is not None for s in sweeps.values()
                                     for d in s.diverged_at), "d")
    numbers.add("LmOptSgdStalled", stalled["sgd"], "d")
    numbers.add("LmOptSgdStalledLoss", final["sgd"].max(), ".2f")
    return OptimizerComparison(sweeps=sweeps, tuned=tuned, final=final, ranking=ranking,
                               unigram_loss=unigram, stalled=stalled,
                               coincide=sweeps["adam"].lrs[same], numbers=numbers)


#: Short names of the optimizers: direct labels in optimizer_comparison's sweep, panel titles.
LM_SHORT = {"sgd": "SGD", "momentum": "momentum", "adam": "Adam", "adamw": "AdamW"}


def _lm_sweep_labels(ax, comparison: OptimizerComparison, looks: dict, ceiling: float) -> None:
    """Each sweep line named at its last finite point (right of it; above or below it where
    another optimizer's line starts next to it, on the side away from that start), each diverged
    run's x by its optimizer; end labels closer than LM_LABEL_GAP nats are pushed apart, the
    higher one up."""
    starts = {s.lrs[0]: s.final_loss[0] for s in comparison.sweeps.values()}
    ends = {opt: (s.lrs[np.isfinite(s.final_loss)][-1], s.final_loss[np.isfinite(s.final_loss)][-1])
            for opt, s in comparison.sweeps.items()}
    for opt, (x, y) in ends.items():
        near = [o for o, (x2, y2) in ends.items() if o != opt and x2 == x
                and abs(y2 - y) < LM_LABEL_GAP]
        dy = 0 if not near else (5 if y >= ends[near[0]][1] else -5)
        if x in starts and x != comparison.sweeps[opt].lrs[0] \
                and abs(y - starts[x]) < LM_LABEL_GAP:
            up = y >= starts[x]
            place = {"xytext": (0, 5 if up else -5), "ha": "center",
                     "va": "bottom" if up else "top"}
        else:
            place = {"xytext": (5, dy), "ha": "left", "va": "center"}
        ax.annotate(LM_SHORT[opt], xy=(x, y), textcoords="offset points", fontsize=SMALL,
                    color=looks[opt]["color"], **place)
    for opt, sweep in comparison.sweeps.items():
        for lr in sweep.lrs[~np.isfinite(sweep.final_loss)]:
            ax.annotate(f"{LM_SHORT[opt]}\ndiverged", xy=(lr, ceiling), xytext=(0, -5),
                        textcoords="offset points", ha="center", va="top", fontsize=SMALL,
                        linespacing=1.0)


@FIGURES.figure(
    caption="Four optimizers, tiny language model: (a) learning-rate sweep, seed 0 (x: "
            "diverged; ring: chosen); (b-e) held-out loss at the chosen rate, three fresh seeds, "
            "(e) the runs of the training-dynamics figure. Adam without decay and AdamW "
            "with decay 0.1 end within 0.01 of each other, in the seeds' spread: at the "
            "chosen rate decay neither helps nor hurts; one SGD seed stalls at the "
            "frequency baseline.",
    result=optimizer_comparison_result, width=1.0, height=3.7)
def optimizer_comparison(fig, comparison: OptimizerComparison):
    top, bottom = fig.subfigures(2, 1, height_ratios=(1.25, 1.0))
    ax_sweep = top.subplots()
    axes = bottom.subplots(1, len(LM_OPTIMIZERS), sharey=True)
    numbers = comparison.numbers
    looks = dict(zip(LM_OPTIMIZERS, meanings.unnamed(len(LM_OPTIMIZERS)), strict=True))
    finite = np.concatenate([s.final_loss[np.isfinite(s.final_loss)]
                             for s in comparison.sweeps.values()])
    ceiling = finite.max() + 0.12
    for opt, sweep in comparison.sweeps.items():
        look, ok = looks[opt], np.isfinite(sweep.final_loss)
        ax_sweep.plot(sweep.lrs[ok], sweep.final_loss[ok], **look, markersize=3.5, lw=0.9)
        ax_sweep.plot(sweep.lrs[~ok], np.full((~ok).sum(), ceiling), ls="none", marker="x",
                      color=look["color"], markersize=4.5)
        best = sweep.final_loss[sweep.lrs == sweep.chosen_lr][0]
        ring, = ax_sweep.plot(sweep.chosen_lr, best, ls="none", marker="o", markersize=8,
                              markerfacecolor="none", markeredgecolor=INK, markeredgewidth=0.7)
    _lm_sweep_labels(ax_sweep, comparison, looks, ceiling)
    if len(comparison.coincide) > 1:
        first = comparison.coincide[0]
        high = comparison.sweeps["adam"].final_loss[comparison.sweeps["adam"].lrs == first][0]
        ax_sweep.annotate("Adam and AdamW coincide", xy=(first, high), xytext=(0, 8),
                          textcoords="offset points", ha="left", va="bottom", fontsize=SMALL)
    ax_sweep.legend([ring], ["rate chosen: lowest final loss"], loc="upper left",
                    fontsize=SMALL)
    ax_sweep.set_xscale("log")
    ax_sweep.set_xlim(comparison.sweeps["adamw"].lrs[0] / 1.6,
                      max(s.lrs[-1] for s in comparison.sweeps.values()) * 2.2)
    ax_sweep.set_ylim(finite.min() - 0.08, ceiling + 0.06)
    ax_sweep.set_xlabel("peak learning rate")
    ax_sweep.set_ylabel("final held-out loss")
    panel_title(ax_sweep, "a", "Learning-rate sweep, seed 0")

    reference, validation = meanings.role("reference"), meanings.role("validation")
    seed_look = {**validation.line, "marker": "", "lw": 0.7}
    for ax, opt, letter in zip(axes, LM_OPTIMIZERS, "bcde", strict=True):
        spread = comparison.tuned[opt]
        for values in spread.values:
            ax.plot(spread.tokens, values, **seed_look)
        ax.axhline(comparison.unigram_loss, color=reference.color, ls=reference.linestyle,
                   lw=0.7)
        ax.annotate(f"median {numbers[f'LmOpt{LM_KEYS[opt]}Loss']}",
                    xy=(spread.tokens[-1], spread.low[-1]), xytext=(0, -4),
                    textcoords="offset points", ha="right", va="top", fontsize=SMALL)
        ax.set_xlim(0, spread.tokens[-1])
        ax.set_xticks([0, 0.5, 1.0])
        panel_title(ax, letter, LM_SHORT[opt])
        ax.text(0.06, 0.05, f"lr {numbers[f'LmOpt{LM_KEYS[opt]}Lr']}", transform=ax.transAxes,
                ha="left", va="bottom", fontsize=SMALL)
    axes[0].annotate(f"one seed: {numbers['LmOptSgdStalledLoss']}",
                     xy=(1, comparison.final["sgd"].max()),
                     xycoords=("axes fraction", "data"), xytext=(0, 3),
                     textcoords="offset points", ha="right", va="bottom", fontsize=SMALL)
    axes[0].set_ylabel("held-out loss")
    bottom.supxlabel("tokens seen (millions)", fontsize=NORMAL)
    axes[0].set_ylim(min(s.low.min() for s in comparison.tuned.values()) - 0.32,
                     comparison.unigram_loss + 0.3)
    axes[-1].annotate("by frequency", xy=(1, comparison.unigram_loss),
                      xycoords=("axes fraction", "data"), xytext=(0, 1.5),
                      textcoords="offset points", ha="right", va="bottom", fontsize=SMALL)


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
