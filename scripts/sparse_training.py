"""Sparse training figures: adaptive sample gating with a PI-controlled threshold, measured.

Run `python scripts/sparse_training.py --help`. The runs are recorded by
scripts/recorders/sparse_training.py (`make data`, with the experiment code of
numerics.sparse_training) into data/sparse_training/<run>/ and read with the toolkit's run
loader; which runs exist (targets, seeds, checkpoints) is the recorder's specification. Cost is
counted, not timed: every forward pass (the scoring pass over every sample included) and every
backward pass, in FLOPs from the model's shapes. Related work: Selective-Backprop (Jiang et al.
2019, arXiv 1910.00762).

Colours (figkit.meanings): the gated run is the method "gated"; its control, random selection,
the method "random" (ink, dash-dot; its x drawn as a filled "X" in accuracy_vs_compute, whose
clean-label runs need a face to empty); the run that back-propagates every sample is the
role "baseline" (called "all samples": "full" names full fine-tuning in this book); targets, the
Bayes ceiling, the loss of predicting the class frequencies and the gate's threshold (in every
figure, as the experiments dashboards draw it) are "reference" lines (dotted ink); the training
loss and the validation accuracy take the "training" and "validation" line styles in their run's
colour. Flipped (mislabelled) samples are an ink outline over the correctly labelled ones, grey
bars (kinds of data, not methods); runs on clean
labels are open markers beside the filled ones of the same run with flipped labels.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from figkit import Registry, diagram, meanings
from figkit.annotate import panel_title
from figkit.numbers import Numbers
from figkit.palette import GREY, INK, MUTED, tint
from figkit.registry import ROOT
from figkit.style import SMALL
from numerics.sparse_training.controller import PIController
from numerics.sparse_training.task import make_task
from recorders.sparse_training import PARTNERS, RUNS, SEEDS, TARGETS, configs
from records import Run, load_run

FIGURES = Registry("sparse_training")
DATA = ROOT / "data" / "sparse_training"
#: The target activation rate of the recorded gated run that the single-run figures show.
MAIN_TARGET = 0.1
MAIN = f"gated_{MAIN_TARGET:g}"
MAIN_PERCENT = f"{100 * MAIN_TARGET:g}\\,\\%"  # as the captions write it
#: The run that back-propagates every sample of every batch: the baseline of every comparison.
BASELINE = "full"
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten")
#: Height of the bars of training_results (c), in rows.
BAR_HEIGHT = 0.42
#: The step where training_results (a) names each run on its line.
NAME_AT_STEP = 400
#: How the legends name the two runs of training_results (not "full": that is full fine-tuning).
RUN_LABELS = {"baseline": "all samples", "gated": f"gated, {100 * MAIN_TARGET:g} % target"}


@cache
def run(name: str) -> Run:
    return load_run(DATA / name)


def seeds(name: str) -> list[Run]:
    """The run and its seed replicas (<name>_s1, ...)."""
    paths = [DATA / name] + sorted(DATA.glob(f"{name}_s*"))
    return [run(path.name) for path in paths if path.is_dir()]


@dataclass(frozen=True)
class Curve:
    """One logged metric against the training step."""
    steps: np.ndarray
    values: np.ndarray


def percent(recorded: Run, column: str) -> Curve:
    """A logged share (0 to 1) as a percentage, on the steps where it was logged."""
    steps, values = recorded.series(column)
    return Curve(steps, 100 * values)


def faint(color: str, amount: float) -> tuple[float, float, float, float]:
    """`palette.tint` as an RGBA tuple: the meaning check of the toolkit (figkit.checks.
    drawn_colours) reads a line's colour as RGBA and fails on the RGB triple `tint` returns."""
    return (*tint(color, amount), 1.0)


def run_meaning(key: str) -> meanings.Meaning:
    """The meaning a run of this chapter is drawn in: the methods "gated" and "random" (its
    control), or the role "baseline" (every sample back-propagated)."""
    return meanings.method(key) if key in ("gated", "random") else meanings.role("baseline")


# --------------------------------------------------------------------------------------------
#: The control law of `numerics.sparse_training.controller.PIController.update`, one assignment
#: a line in the order it computes them, as Python arithmetic over the controller's names
#: (`*_before`: the value after the previous batch; `clip(x, limit)` clamps x to +-limit). The
#: architecture diagram prints it (`law_latex`); tests/test_sparse_training.py runs it against
#: `PIController.update`, so the printed law is the implemented one.
CONTROL_LAW = (
    ("smoothed", "(1 - smoothing) * smoothed_before + smoothing * rate"),
    ("error", "smoothed - target"),
    ("integral", "clip(integral_before + error, integral_limit)"),
    ("log_threshold", "log_threshold0 + kp * error + ki * integral"),
)
#: How the diagram writes each name of CONTROL_LAW (t counts batches; theta_t gates batch t + 1).
LAW_SYMBOLS = {
    "smoothed": r"\bar r_t", "smoothed_before": r"\bar r_{t-1}", "smoothing": r"\alpha",
    "rate": "r_t", "target": "r^*", "error": "e_t", "integral": "I_t",
    "integral_before": "I_{t-1}", "integral_limit": r"I_{\max}",
    "log_threshold": r"\log\theta_t", "log_threshold0": r"\log\theta_0", "kp": "K_p",
    "ki": "K_i",
}
#: The controller's constants the diagram prints, by their names in PIController and the
#: recorded runs' configurations (in the order printed), with the numbers.tex key of each.
LAW_CONSTANTS = (("kp", "ControllerKp"), ("ki", "ControllerKi"), ("smoothing", "ControllerEma"),
                 ("integral_limit", "ControllerClamp"))


def _latex(node: ast.expr) -> str:
    """Mathtext for one expression of CONTROL_LAW: + and -, products (thin space), numbers,
    names (LAW_SYMBOLS) and clip(x, limit)."""
    def operand(child: ast.expr) -> str:
        text = _latex(child)
        sum_ = isinstance(child, ast.BinOp) and isinstance(child.op, (ast.Add, ast.Sub))
        return f"({text})" if sum_ else text

    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return f"{_latex(node.left)} + {_latex(node.right)}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
        return f"{_latex(node.left)} - {operand(node.right)}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return f"{operand(node.left)}\\,{operand(node.right)}"
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return f"{node.value:g}"
    if isinstance(node, ast.Name):
        return LAW_SYMBOLS[node.id]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "clip":
        value, limit = node.args
        return f"\\mathrm{{clip}}({_latex(value)},\\ \\pm {_latex(limit)})"
    raise ValueError(f"no mathtext for {ast.dump(node)}")


def law_latex(law=CONTROL_LAW) -> tuple[str, ...]:
    """One mathtext equation per assignment of `law`."""
    return tuple(f"${LAW_SYMBOLS[name]} = {_latex(ast.parse(expr, mode='eval').body)}$"
                 for name, expr in law)


#: Padding of the diagram's boxes, in font sizes (diagram.box's default 0.45 leaves the text
#: almost touching the frame); the controller's lines of mathematics reach further than their
#: text extent (sub- and superscripts), so its box takes more.
BOX_PAD = 0.6
CONTROLLER_PAD = 0.8


@dataclass(frozen=True)
class GatingDiagram:
    """The gating loop: the batch size and the controller the recorded run used, and the
    control law as printed."""
    batch_size: int
    controller: PIController
    law: tuple[str, ...]               # mathtext, one equation a line (law_latex)
    constants: str                     # "$K_p = 5$, ..." from the run's configuration
    numbers: Numbers


def architecture_diagram_result() -> GatingDiagram:
    config = run(MAIN).config
    numbers = Numbers()
    numbers.add("BatchSize", config["batch_size"], "d")
    parts = []
    for name, key in LAW_CONSTANTS:
        text = numbers.add(key, config[name], "g")
        parts.append(f"${LAW_SYMBOLS[name]} = {text}$")
    controller = PIController(config["rate"], **{name: config[name] for name, _ in LAW_CONSTANTS})
    return GatingDiagram(batch_size=config["batch_size"], controller=controller,
                         law=law_latex(), constants=", ".join(parts), numbers=numbers)


@FIGURES.figure(
    caption="Adaptive sample gating: a forward pass scores every sample of the batch by its "
            "loss, a gate lets through those above a threshold, and only they are "
            "back-propagated; a PI controller on the logarithm of the threshold steers the "
            "share let through towards a target rate, with the law and constants of the "
            "recorded runs.",
    result=architecture_diagram_result, width=1.0, height=2.1)
def architecture_diagram(fig, gating: GatingDiagram):
    gated = meanings.method("gated").color
    ax = diagram.canvas(fig, (0, 12), (0, 5))
    size = gating.numbers["BatchSize"]
    batch = diagram.box(ax, 0.9, 4.35, f"batch of\n$B = {size}$\nsamples", color=MUTED,
                        fontsize=SMALL, pad=BOX_PAD)
    score = diagram.box(ax, 3.5, 4.35, "forward pass on\nall $B$: the loss\n$\\ell_i$ of each",
                        color=MUTED, fontsize=SMALL, pad=BOX_PAD)
    gate = diagram.box(ax, 6.5, 4.35, "gate: sample $i$\nis active iff\n$\\ell_i > \\theta$",
                       color=gated, fontsize=SMALL, pad=BOX_PAD)
    step = diagram.box(ax, 10.1, 4.35, "backward pass and\nupdate on the $k$\nactive samples only",
                       color=MUTED, fontsize=SMALL, pad=BOX_PAD)
    control = diagram.box(ax, 6.5, 1.3, "\n".join(["PI controller on $\\log\\theta$:",
                                                    *gating.law, gating.constants,
                                                    "$\\theta_0$: the $(1 - r^*)$ quantile of "
                                                    "the first batch's losses"]),
                          color=gated, fontsize=SMALL, pad=CONTROLLER_PAD)
    for start, end in ((batch, score), (score, gate), (gate, step)):
        diagram.link(ax, start, end, (1, 0.5), (0, 0.5))
    diagram.link(ax, gate, control, (0.3, 0), (0.44, 1))
    diagram.link(ax, control, gate, (0.56, 1), (0.7, 0))
    # labels beside the two arrows, placed relative to the gate's box (out of the layout: the
    # box has no position until the figure is drawn)
    for text, x, ha in (("rate $r_t = k / B$ ", 0.3, "right"),
                        (" threshold $\\theta_t$\n for the next batch", 0.7, "left")):
        label = ax.annotate(text, xy=(x, -0.5), xycoords=gate.get_bbox_patch(), ha=ha,
                            va="center", fontsize=SMALL)
        label.set_in_layout(False)


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedBand:
    """A logged metric of one run over its seeds: mean and standard deviation at the steps every
    seed logged (the seed replicas log the last step of each epoch)."""
    steps: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    seeds: int


def seed_band(name: str, column: str, scale: float = 1.0) -> SeedBand:
    """`column` x `scale` of run `name` and its seed replicas, at the steps all of them logged
    (missing values, such as a loss before the first step, left out)."""
    replicas = seeds(name)
    series = [dict(zip(*replica.series(column), strict=True)) for replica in replicas]
    steps = np.array(sorted(set.intersection(*(set(values) for values in series))))
    values = scale * np.array([[values[step] for step in steps] for values in series])
    return SeedBand(steps=steps, mean=values.mean(axis=0), sd=values.std(axis=0, ddof=1),
                    seeds=len(replicas))


@dataclass(frozen=True)
class ComputeSplit:
    """The counted compute of one run and its seeds (mean), in % of the baseline run's total."""
    forward_percent: float             # forward passes (for the gated run: the scoring pass)
    backward_percent: float
    total_percent: float
    total_sd_percent: float            # standard deviation of the total over the seeds


def compute_split(name: str) -> ComputeSplit:
    full_flops = run(BASELINE).config["flops_total"]
    forward, backward = (np.array([100 * replica.config[column] / full_flops
                                   for replica in seeds(name)])
                         for column in ("flops_forward", "flops_backward"))
    total = forward + backward
    return ComputeSplit(forward_percent=float(forward.mean()),
                        backward_percent=float(backward.mean()),
                        total_percent=float(total.mean()),
                        total_sd_percent=float(total.std(ddof=1)))


@dataclass(frozen=True)
class TrainingComparison:
    """The main gated run against the baseline (every sample back-propagated) on the same
    batches, each over its seeds; keyed "baseline" and "gated", in drawing order."""
    loss: dict[str, SeedBand]          # mean cross-entropy over ALL samples of the batch
    accuracy: dict[str, SeedBand]      # validation accuracy, %
    compute: dict[str, ComputeSplit]
    target_percent: float
    #: the loss of predicting the training labels' class frequencies, whatever the input
    class_frequency_loss: float
    validation_loss: dict[str, float]  # final validation loss, mean over the seeds
    #: per seed, the least-squares slope of the validation accuracy over the second half of the
    #: steps, in points per 100 steps: is the run still learning when the step budget ends?
    accuracy_slope: dict[str, np.ndarray]
    numbers: Numbers


def class_frequency_loss(name: str) -> float:
    """Mean cross-entropy, over the training set of run `name`, of the model that ignores its
    input and predicts the training labels' class frequencies: their entropy (nats)."""
    task = make_task(configs(RUNS[name])[0])
    counts = np.bincount(task.y_train)
    shares = counts[counts > 0] / counts.sum()
    return float(-np.sum(shares * np.log(shares)))


def accuracy_slopes(name: str) -> np.ndarray:
    """Per seed of run `name`: the slope of a straight line fitted to its validation accuracy
    (%) over the second half of its steps, in points per 100 steps."""
    slopes = []
    for replica in seeds(name):
        steps, accuracy = replica.series("val_acc")
        late = steps > steps[-1] / 2
        slopes.append(100 * 100 * np.polyfit(steps[late], accuracy[late], 1)[0])
    return np.array(slopes)


def training_results_result() -> TrainingComparison:
    names = {"baseline": BASELINE, "gated": MAIN}
    loss = {key: seed_band(name, "batch_loss_mean") for key, name in names.items()}
    accuracy = {key: seed_band(name, "val_acc", 100) for key, name in names.items()}
    compute = {key: compute_split(name) for key, name in names.items()}
    numbers = Numbers()
    numbers.add("TargetRate", 100 * run(MAIN).config["rate"], "g")
    numbers.add("GatedBatchLoss", loss["gated"].mean[-1], ".2f")
    numbers.add("FullBatchLoss", loss["baseline"].mean[-1], ".2f")
    numbers.add("GatedAcc", accuracy["gated"].mean[-1], ".1f")
    numbers.add("FullAcc", accuracy["baseline"].mean[-1], ".1f")
    for key, prefix in (("baseline", "Full"), ("gated", "Gated")):
        numbers.add(f"{prefix}ForwardPercent", compute[key].forward_percent, ".0f")
        numbers.add(f"{prefix}BackwardPercent", compute[key].backward_percent, ".0f")
    numbers.add("GatedComputePercent", compute["gated"].total_percent, ".0f")
    numbers.add("SavedPercent", 100 - compute["gated"].total_percent, ".0f")
    numbers.add("AccuracyCost", accuracy["baseline"].mean[-1] - accuracy["gated"].mean[-1], ".1f")
    guess = class_frequency_loss(MAIN)
    if guess != class_frequency_loss(BASELINE):
        raise ValueError("the gated and the baseline run train on different labels")
    numbers.add("ClassFrequencyLoss", guess, ".2f")
    validation_loss = {key: float(np.mean([replica.config["final_val_loss"]
                                           for replica in seeds(name)]))
                       for key, name in names.items()}
    slopes = {key: accuracy_slopes(name) for key, name in names.items()}
    numbers.add("GatedAccSlope", slopes["gated"].mean(), ".1f")
    numbers.add("FullAccSlope", slopes["baseline"].mean(), ".1f")
    return TrainingComparison(loss=loss, accuracy=accuracy, compute=compute,
                              target_percent=100 * run(MAIN).config["rate"],
                              class_frequency_loss=guess, validation_loss=validation_loss,
                              accuracy_slope=slopes, numbers=numbers)


def seed_lines(ax, bands: dict[str, SeedBand], role: str, ends: dict[str, str]):
    """Each run's mean over its seeds in its colour, the role's line style, a marker at every
    point, its standard deviation as a band, and its last value (`ends`) beside the end."""
    line_style = meanings.role(role).linestyle
    for key, band in bands.items():
        look = run_meaning(key)
        ax.fill_between(band.steps, band.mean - band.sd, band.mean + band.sd,
                        color=tint(look.color, 0.7), linewidth=0)
        ax.plot(band.steps, band.mean, color=look.color, ls=line_style, marker=look.marker,
                markersize=2.5, lw=0.9, label=RUN_LABELS[key])
        ax.annotate(ends[key], xy=(band.steps[-1], band.mean[-1]), xytext=(4, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=SMALL)


@FIGURES.figure(
    caption=f"The gated run at a {MAIN_PERCENT} target against training on all samples, on the "
            f"same batches (mean and standard deviation over {NUMBER_WORDS[len(SEEDS)]} seeds): "
            "it saves over half the compute but ends about ten points less accurate, its "
            "accuracy still rising at the step budget; its loss stays flat at 1.14, far above "
            "the all-samples run's 0.38, as no sample below the threshold is trained: the model "
            "stays under-confident.",
    result=training_results_result, width=1.0, height=3.3)
def training_results(fig, comparison: TrainingComparison):
    grid = fig.add_gridspec(2, 2, height_ratios=(2.1, 1.0))
    ax_loss, ax_acc = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    numbers = comparison.numbers

    seed_lines(ax_loss, comparison.loss, "training",
               {"baseline": numbers["FullBatchLoss"], "gated": numbers["GatedBatchLoss"]})
    # (a) names its two runs on their lines (solid, the training role): (b)'s legend shows
    # them dashed, as validation curves
    for key, band in comparison.loss.items():
        i = int(np.searchsorted(band.steps, NAME_AT_STEP))
        above = key == "gated"  # above the gated band, below the all-samples band
        edge = band.mean[i] + (band.sd[i] if above else -band.sd[i])
        ax_loss.annotate(RUN_LABELS[key], xy=(band.steps[i], edge), xytext=(0, 3 if above else -3),
                         textcoords="offset points", ha="center",
                         va="bottom" if above else "top", fontsize=SMALL)
    reference = meanings.role("reference")
    ax_loss.axhline(comparison.class_frequency_loss, color=reference.color,
                    ls=reference.linestyle, lw=0.8)
    ax_loss.annotate("predicting the class frequencies", xy=(0, comparison.class_frequency_loss),
                     xycoords=("axes fraction", "data"), xytext=(3, 2),
                     textcoords="offset points", va="bottom", fontsize=SMALL)
    ax_loss.annotate(numbers["ClassFrequencyLoss"], xy=(1, comparison.class_frequency_loss),
                     xycoords=("axes fraction", "data"), xytext=(4, 0),
                     textcoords="offset points", va="center", ha="left", fontsize=SMALL)
    ax_loss.set_ylim(0, 1.15 * comparison.class_frequency_loss)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss, mean over the batch")
    panel_title(ax_loss, "a", "Loss over the whole batch")

    seed_lines(ax_acc, comparison.accuracy, "validation",
               {"baseline": f"{numbers['FullAcc']} %", "gated": f"{numbers['GatedAcc']} %"})
    ax_acc.set_xlabel("step")
    ax_acc.set_ylabel("validation accuracy (%)")
    panel_title(ax_acc, "b", "Validation accuracy")
    ax_acc.legend(loc="lower right", fontsize=SMALL)

    ax = fig.add_subplot(grid[1, :])
    rows = {key: len(comparison.compute) - 1 - i for i, key in enumerate(comparison.compute)}
    for key, row in rows.items():  # first run on top; each part labelled above its bar
        split, look = comparison.compute[key], run_meaning(key)
        prefix = "Gated" if key == "gated" else "Full"
        ax.barh(row, split.forward_percent, BAR_HEIGHT, color=tint(look.color, 0.55),
                linewidth=0)
        ax.barh(row, split.backward_percent, BAR_HEIGHT, left=split.forward_percent,
                color=look.color, linewidth=0)
        above = row + BAR_HEIGHT / 2 + 0.04
        forward = "scoring forward" if key == "gated" else "forward"
        ax.text(split.forward_percent / 2, above,
                f"{forward} {numbers[prefix + 'ForwardPercent']} %", ha="center",
                va="bottom", fontsize=SMALL)
        backward = f"backward {numbers[prefix + 'BackwardPercent']} %"
        if key == "gated":  # too narrow to hold its label: labelled beside it, with the total
            ax.annotate(f"{backward}; total {numbers['GatedComputePercent']} %: "
                        f"{numbers['SavedPercent']} % saved,\nbut {numbers['AccuracyCost']} "
                        "points less accurate (b)", xy=(split.total_percent, row), xytext=(3, 0),
                        textcoords="offset points", ha="left", va="center", fontsize=SMALL)
        else:
            ax.text(split.forward_percent + split.backward_percent / 2, above, backward,
                    ha="center", va="bottom", fontsize=SMALL)
    ax.set_yticks(list(rows.values()), [RUN_LABELS[key] for key in rows])
    ax.set_ylim(-0.5, len(rows) - 0.5 + 0.45)
    ax.set_xlim(0, 100)
    ax.set_xlabel("compute, % of the all-samples run (FLOPs counted)")
    panel_title(ax, "c", "Compute: forward and backward passes")


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RateTracking:
    """The main gated run's activation rate against its target, in %."""
    per_batch: Curve
    smoothed: Curve
    target_percent: float


@dataclass(frozen=True)
class ThresholdAdaptation:
    """The controller's threshold on the per-sample loss, the losses it separates, and the rate
    it steers, in the main gated run (seed 0, logged at every step)."""
    threshold: Curve
    batch_loss: Curve                  # mean loss over all samples of the batch
    selected_loss: Curve               # mean loss over the samples above the threshold
    rate: RateTracking
    numbers: Numbers


def threshold_adaptation_result() -> ThresholdAdaptation:
    gated = run(MAIN)
    rate = RateTracking(per_batch=percent(gated, "activation_rate"),
                        smoothed=percent(gated, "activation_rate_smoothed"),
                        target_percent=100 * gated.config["rate"])
    threshold = Curve(*gated.series("threshold"))
    batch_loss = Curve(*gated.series("batch_loss_mean"))
    selected_loss = Curve(*gated.series("train_loss"))
    numbers = Numbers()
    numbers.add("FinalThreshold", threshold.values[-1], ".2f")
    numbers.add("FinalBatchLoss", batch_loss.values[-1], ".2f")
    numbers.add("FinalSelectedLoss", selected_loss.values[-1], ".2f")
    numbers.add("RateLastThird", 100 * gated.config["smoothed_rate_last_third_mean"], ".2f")
    numbers.add("RateLastThirdSd", 100 * gated.config["smoothed_rate_last_third_std"], ".2f")
    numbers.add("TargetRate", rate.target_percent, "g")
    return ThresholdAdaptation(threshold=threshold, batch_loss=batch_loss,
                               selected_loss=selected_loss, rate=rate, numbers=numbers)


#: Labelled losses on the logarithmic loss axis of threshold_adaptation (a).
LOSS_TICKS = (1, 1.5, 2, 3, 4)


@FIGURES.figure(
    caption=f"The PI controller at work in one recorded run at a {MAIN_PERCENT} target (seed 0): "
            "the threshold on the per-sample loss always lies between the mean loss of the "
            "batch and that of the samples it lets through; after about step 50 the batch's "
            "mean loss stays flat while the threshold keeps sinking towards it, and the "
            "smoothed activation rate holds the target.",
    result=threshold_adaptation_result, width=1.0, height=3.7)
def threshold_adaptation(fig, adaptation: ThresholdAdaptation):
    ax_loss, ax_rate = fig.subplots(2, 1, sharex=True, height_ratios=(1.35, 1))
    gated, reference = meanings.method("gated"), meanings.role("reference")
    numbers = adaptation.numbers
    training = meanings.role("training").linestyle
    # the threshold is drawn as the chapter draws it everywhere: the reference role (dotted ink)
    curves = ((adaptation.selected_loss, "mean loss of the active samples",
               numbers["FinalSelectedLoss"],
               {"color": faint(gated.color, 0.45), "lw": 0.6, "ls": training}),
              (adaptation.threshold, "threshold", numbers["FinalThreshold"],
               {"color": reference.color, "lw": 1.1, "ls": reference.linestyle}),
              (adaptation.batch_loss, "mean loss of the whole batch", numbers["FinalBatchLoss"],
               {"color": gated.color, "lw": 0.8, "ls": training}))
    for curve, label, end, look in curves:
        ax_loss.plot(curve.steps, curve.values, label=f"{label}: {end}", **look)
    ax_loss.set_yscale("log")
    ax_loss.set_yticks(LOSS_TICKS, [f"{tick:g}" for tick in LOSS_TICKS])
    ax_loss.yaxis.set_minor_formatter(NullFormatter())
    values = np.concatenate([curve.values for curve, *_ in curves])
    ax_loss.set_ylim(min(LOSS_TICKS[0], 0.95 * values.min()), 1.05 * values.max())
    ax_loss.set_ylabel("loss (log scale)")
    panel_title(ax_loss, "a", "Threshold and the losses it separates")
    ax_loss.legend(loc="upper right", fontsize=SMALL, title="at the last step",
                   title_fontsize=SMALL, alignment="right")

    rate = adaptation.rate
    ax_rate.plot(rate.per_batch.steps, rate.per_batch.values, color=faint(gated.color, 0.55),
                 lw=0.4, label="per batch")
    ax_rate.plot(rate.smoothed.steps, rate.smoothed.values, color=gated.color, lw=1.0,
                 label="smoothed")
    ax_rate.axhline(rate.target_percent, color=reference.color, ls=reference.linestyle, lw=0.8,
                    label=f"target {numbers['TargetRate']} %")
    top = np.max(rate.per_batch.values)
    ax_rate.set_ylim(0, 1.5 * top)
    ax_rate.set_xlabel("step")
    ax_rate.set_ylabel("activation\nrate (%)")
    panel_title(ax_rate, "b", f"Activation rate: {numbers['RateLastThird']} % over the last "
                "third")
    ax_rate.legend(loc="upper right", ncols=3, fontsize=SMALL)


# --------------------------------------------------------------------------------------------
def final_points(name: str) -> tuple[float, float, float]:
    """(mean compute as a share of full training, mean and sd of final accuracy) over seeds."""
    runs = seeds(name)
    compute = np.mean([replica.config["flops_fraction_of_full"] for replica in runs])
    accuracy = np.array([replica.config["final_val_acc"] for replica in runs])
    spread = accuracy.std(ddof=1) if len(accuracy) > 1 else 0
    return float(compute), float(accuracy.mean()), float(spread)


def random_rates() -> list[float]:
    """The selection rates of the recorded random runs (seed 0, noisy task)."""
    return sorted({float(path.name.split("_")[1]) for path in DATA.glob("random_*")
                   if path.name.count("_") == 1})


@dataclass(frozen=True)
class SelectionPoints:
    """One way of choosing the trained samples: per run, mean compute and mean and standard
    deviation of the final validation accuracy over its seeds, all in %."""
    label: str
    runs: tuple[str, ...]
    compute_percent: np.ndarray
    accuracy_percent: np.ndarray
    accuracy_sd_percent: np.ndarray


def selection_points(label: str, names: list[str]) -> SelectionPoints:
    points = np.array([final_points(name) for name in names])
    return SelectionPoints(label=label, runs=tuple(names), compute_percent=100 * points[:, 0],
                           accuracy_percent=100 * points[:, 1],
                           accuracy_sd_percent=100 * points[:, 2])


@dataclass(frozen=True)
class AblationRow:
    """One run of the clean-label ablation beside its twin on the task with flipped labels:
    final validation accuracy over the seeds (mean and standard deviation, %)."""
    key: str                           # its meaning: "gated", "random" or "baseline"
    label: str
    runs: tuple[str, str]              # (with flipped labels, clean labels)
    accuracy_percent: tuple[float, float]
    accuracy_sd_percent: tuple[float, float]
    number_keys: tuple[str, str]       # the numbers.tex keys of the two accuracies


@dataclass(frozen=True)
class AccuracyVsCompute:
    """Final accuracy against counted compute for gated, random and all-samples selection, and
    the clean-label ablation at the main target."""
    gated: SelectionPoints
    random: SelectionPoints
    full: SelectionPoints
    targets_percent: np.ndarray        # the gated runs' targets, labelling their points
    #: per gated target, the index in `random` of the run that back-propagates the same share
    same_rate: tuple[int, ...]
    #: per gated target, the best mean accuracy (%) of the random runs that cost no more
    best_random_at_most_compute: np.ndarray
    matched_random_rate: float         # the random run whose compute is closest to MAIN's
    bayes_percent: float               # accuracy of the exact posterior: the ceiling
    ablation: tuple[AblationRow, ...]  # drawing order, top to bottom
    label_noise_percent: float         # share of flipped training labels in the noisy task
    numbers: Numbers


def ablation_rows() -> tuple[tuple[str, str, str, str], ...]:
    """The rows of the clean-label ablation, accuracy_vs_compute (b): the main gated run, its
    random partners (recorders.sparse_training.PARTNERS) and the baseline, each as (meaning,
    label, run on the task with flipped labels, numbers.tex stem); the clean twin of each run
    is "clean_<run>"."""
    partners = PARTNERS[MAIN]
    same_rate, same_compute = (run(partners[kind]).config["rate"]
                               for kind in ("equal_rate", "equal_compute"))
    return (("gated", f"gated, {100 * MAIN_TARGET:g} % target", MAIN, "GatedTen"),
            ("random", f"random {100 * same_rate:g} % (as many samples)",
             partners["equal_rate"], "RandomSameRate"),
            ("random", f"random {100 * same_compute:g} % (same compute)",
             partners["equal_compute"], "RandomMatched"),
            ("baseline", RUN_LABELS["baseline"], BASELINE, "Full"))


def accuracy_vs_compute_result() -> AccuracyVsCompute:
    rates = random_rates()
    gated = selection_points("gated by loss",
                             [f"gated_{t:g}" for t in TARGETS])
    random = selection_points(meanings.method("random").label,
                              [f"random_{rate:g}" for rate in rates])
    full = selection_points(RUN_LABELS["baseline"], [BASELINE])
    random_points = [final_points(f"random_{rate:g}") for rate in rates]
    best_random = []
    for target in TARGETS:
        compute = final_points(f"gated_{target:g}")[0]
        cheaper = [accuracy for cost, accuracy, _ in random_points if cost <= compute]
        best_random.append(100 * max(cheaper, default=-np.inf))
    same_rate = tuple(random.runs.index(PARTNERS[f"gated_{t:g}"]["equal_rate"])
                      for t in TARGETS)
    gated_compute, gated_accuracy, _ = final_points(MAIN)
    matched = min(rates, key=lambda rate: abs(final_points(f"random_{rate:g}")[0]
                                             - gated_compute))
    bayes = run(BASELINE).config["bayes_val_acc"]
    numbers = Numbers()
    numbers.add("GatedTenAcc", 100 * gated_accuracy, ".1f")
    numbers.add("RandomMatchedAcc", 100 * final_points(f"random_{matched:g}")[1], ".1f")
    numbers.add("GatedTenCompute", 100 * gated_compute, ".0f")
    numbers.add("BayesAcc", 100 * bayes, ".1f")
    label_noise = 100 * run(BASELINE).config["label_noise"]
    numbers.add("LabelNoisePercent", label_noise, "g")
    rows = []
    for key, label, name, stem in ablation_rows():
        noisy, clean = final_points(name), final_points(f"clean_{name}")
        keys = (f"{stem}Acc", f"Clean{stem}Acc")
        for number_key, (_, accuracy, _) in zip(keys, (noisy, clean), strict=True):
            numbers.add(number_key, 100 * accuracy, ".1f")
        rows.append(AblationRow(key=key, label=label, runs=(name, f"clean_{name}"),
                                accuracy_percent=(100 * noisy[1], 100 * clean[1]),
                                accuracy_sd_percent=(100 * noisy[2], 100 * clean[2]),
                                number_keys=keys))
    return AccuracyVsCompute(gated=gated, random=random, full=full,
                             targets_percent=100 * np.array(TARGETS), same_rate=same_rate,
                             best_random_at_most_compute=np.array(best_random),
                             matched_random_rate=matched, bayes_percent=100 * bayes,
                             ablation=tuple(rows), label_noise_percent=label_noise,
                             numbers=numbers)


#: Labelled compute shares (%) on the log axis of accuracy_vs_compute.
COMPUTE_TICKS = (5, 10, 20, 40, 100)


def errorbar_line(ax, x, y, error, look: dict, horizontal: bool = False, label: str = "",
                  **kwargs):
    """Points with their standard deviation as error bars, in `look` (a meaning's `line`);
    returns the line, labelled, as the legend handle: it shows the marker and the line (an
    errorbar's own handle is a LineCollection without a face, which the meaning check cannot
    read)."""
    bars = {"xerr": error} if horizontal else {"yerr": error}
    container = ax.errorbar(x, y, **bars, capsize=2, **{"markersize": 4, **look, **kwargs})
    line = container.lines[0]
    line.set_label(label)
    return line


#: The random runs' mark in both panels of accuracy_vs_compute: the meaning's "x" has no face
#: to empty for the clean-label runs of (b), so a filled "X", large enough that its four arms
#: read as an x (at the other markers' size it prints like a diamond).
RANDOM_MARK = {"marker": "X", "markersize": 6.5}
#: The gated triangles of accuracy_vs_compute (a): larger than the random X, so where the two
#: coincide (the last target) the X behind the triangle still shows.
GATED_SIZE = 8

#: Vertical offset (rows) of the two runs of a row of accuracy_vs_compute (b), so that their
#: markers and error bars never overlap.
ROW_SPLIT = 0.22


@FIGURES.figure(
    caption="Final validation accuracy (mean and standard deviation over "
            f"{NUMBER_WORDS[len(SEEDS)]} seeds): (a) choosing samples by their loss is worse "
            "than choosing them at random even for the same share of back-propagated samples "
            "(grey lines), before paying for its scoring pass, and only draws level at "
            f"{100 * TARGETS[-1]:g}\\,\\%; (b) without flipped labels most of that gap closes: "
            "it is label noise, plus the bias of training on hard samples only.",
    result=accuracy_vs_compute_result, width=1.0, height=3.9)
def accuracy_vs_compute(fig, comparison: AccuracyVsCompute):
    ax, ax_clean = fig.subplots(2, 1, height_ratios=(2.2, 1.15))
    numbers = comparison.numbers
    gated, random = comparison.gated, comparison.random
    pair_line = {"color": GREY, "lw": 0.7, "zorder": 1}
    for g, r in enumerate(comparison.same_rate):
        pair, = ax.plot([random.compute_percent[r], gated.compute_percent[g]],
                        [random.accuracy_percent[r], gated.accuracy_percent[g]], **pair_line)
    pair.set_label("same share trained")
    looks = (meanings.method("gated").line, meanings.method("random").line,
             meanings.role("baseline").line)
    handles = []
    # the gated 40 % point costs what a random run costs and is as accurate (where gating draws
    # level): the gated triangles are larger, outlined in white and drawn on top, so the
    # triangle shows whole and the random X behind it shows its lower arms
    outlined = {"markersize": GATED_SIZE, "markeredgecolor": "white", "markeredgewidth": 0.6}
    for group, look, zorder, extra in zip((gated, random, comparison.full), looks, (4, 3, 2),
                                          (outlined, RANDOM_MARK, {}), strict=True):
        style = look if len(group.runs) > 1 else {**look, "linestyle": "none"}
        handles.append(errorbar_line(ax, group.compute_percent, group.accuracy_percent,
                                     group.accuracy_sd_percent, {**style, **extra},
                                     label=group.label, zorder=zorder))
    for i, (target, compute, accuracy) in enumerate(zip(
            comparison.targets_percent, gated.compute_percent, gated.accuracy_percent,
            strict=True)):
        ax.annotate(f"{'target ' if i == 0 else ''}{target:g} %", xy=(compute, accuracy),
                    xytext=(5, -7), textcoords="offset points", fontsize=SMALL)
    bayes, reference = comparison.bayes_percent, meanings.role("reference")
    ax.axhline(bayes, color=reference.color, ls=reference.linestyle, lw=0.7)
    ax.text(100, bayes + 0.3, f"Bayes accuracy {numbers['BayesAcc']} %",
            fontsize=SMALL, color=MUTED, va="bottom", ha="right")
    ax.set_xscale("log")
    ax.set_xticks(COMPUTE_TICKS, [f"{tick:g}" for tick in COMPUTE_TICKS])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("total compute, % of training on all samples (FLOPs counted)")
    ax.set_ylabel("final validation\naccuracy (%)")
    low = np.min(gated.accuracy_percent - gated.accuracy_sd_percent)
    ax.set_ylim(np.floor(low) - 1, np.ceil(bayes) + 1)
    panel_title(ax, "a", f"Against compute, {numbers['LabelNoisePercent']} % of the labels "
                "flipped")
    full = comparison.full  # labelled beside its one point; the legend holds the lines
    ax.annotate(full.label, xy=(full.compute_percent[0], full.accuracy_percent[0]),
                xytext=(4, 3), textcoords="offset points", ha="right", va="bottom",
                fontsize=SMALL)
    ax.legend(handles=[*handles[:2], pair], loc="lower left", fontsize=SMALL)

    rows = comparison.ablation
    for position, row in enumerate(rows):
        y = len(rows) - 1 - position
        look = run_meaning(row.key)
        marker, size = ((RANDOM_MARK["marker"], RANDOM_MARK["markersize"])
                        if row.key == "random" else (look.marker, 4.5))
        noisy_edge = row.accuracy_percent[0] - row.accuracy_sd_percent[0]
        clean_edge = row.accuracy_percent[1] + row.accuracy_sd_percent[1]
        sides = ((y + ROW_SPLIT, {}, noisy_edge, -4, "right"),
                 (y - ROW_SPLIT, {"markerfacecolor": "white"}, clean_edge, 4, "left"))
        for index, (height, face, edge, offset, ha) in enumerate(sides):
            errorbar_line(ax_clean, row.accuracy_percent[index], height,
                          row.accuracy_sd_percent[index],
                          {"color": look.color, "marker": marker, "markersize": size,
                           "linestyle": "none", **face},
                          horizontal=True, zorder=3)
            ax_clean.annotate(numbers[row.number_keys[index]], xy=(edge, height),
                              xytext=(offset, 0), textcoords="offset points", ha=ha,
                              va="center", fontsize=SMALL)
    ax_clean.set_yticks(range(len(rows))[::-1], [row.label for row in rows])
    ax_clean.set_ylim(-0.5, len(rows) - 0.5)
    ax_clean.set_xlabel("final validation accuracy (%)")
    edges = [row.accuracy_percent[0] - row.accuracy_sd_percent[0] for row in rows]
    ax_clean.set_xlim(np.floor(min(edges)) - 3, np.ceil(bayes))
    panel_title(ax_clean, "b", "The same runs on clean training labels (open markers)")
    legend_marks = [Line2D([], [], color=INK, marker="o", ls="none", markersize=4,
                           label=f"{numbers['LabelNoisePercent']} % of labels flipped, as in (a)"),
                    Line2D([], [], color=INK, marker="o", ls="none", markersize=4,
                           markerfacecolor="white", label="no label flipped")]
    ax_clean.legend(handles=legend_marks, loc="lower left", fontsize=SMALL)


# --------------------------------------------------------------------------------------------
#: Histogram bins per decade of loss: every panel's bins are this wide on the shared log axis,
#: and one of their edges is that panel's threshold (`histogram_edges`).
BINS_PER_DECADE = 20
#: Labelled losses on the log axis of significance_distribution (a).
SCORE_TICKS = (0.1, 0.3, 1, 3)


@dataclass(frozen=True)
class ScoreSnapshot:
    """The probe's significance scores at one checkpoint of the main gated run, and which of
    the probe's training labels are flipped."""
    step: int
    scores: np.ndarray                 # per-sample loss of every probe sample
    flipped: np.ndarray                # True where the sample's training label was flipped
    threshold: float                   # the threshold the controller had set at that step
    bins: np.ndarray                   # histogram edges, one of them the threshold
    above_percent: float               # share of the probe above the threshold
    clean_above_percent: float         # share of the correctly labelled samples above it
    flipped_above_percent: float       # share of the flipped samples above it
    flipped_among_above_percent: float  # share of flipped labels among the samples above it

    @property
    def clean_median(self) -> float:
        return float(np.median(self.scores[~self.flipped]))


@dataclass(frozen=True)
class FlippedShare:
    """Per epoch of the main gated run (seed 0, every step logged): the share of flipped labels
    among the samples it back-propagated, from the logged per-step share and count."""
    epochs: np.ndarray
    steps: np.ndarray                  # each epoch's last step
    percent: np.ndarray
    trained: np.ndarray                # samples back-propagated in each epoch
    last_third_percent: float          # over the steps of the last third of training


@dataclass(frozen=True)
class SignificanceDistribution:
    """The score distribution at each recorded checkpoint, in step order (each over log-spaced
    histogram edges with one at its threshold), and the share of flipped labels the gate trained
    on."""
    snapshots: tuple[ScoreSnapshot, ...]
    flipped_share: FlippedShare
    training_flipped_percent: float    # share of flipped labels in the whole training set
    numbers: Numbers


def histogram_edges(scores: np.ndarray, threshold: float,
                    per_decade: int = BINS_PER_DECADE) -> np.ndarray:
    """Edges at threshold x 10^(k / per_decade) enclosing every score: one edge is the threshold
    itself (k = 0, exactly), so no bin straddles it and the bars right of it are the samples
    above it. An edge that a score came within the last bits of could put it in either bin on
    another CPU (numpy's power differs in its last bits between SIMD kernels); the tests check
    that none comes close."""
    low = np.floor(per_decade * np.log10(scores.min() / threshold))
    high = np.ceil(per_decade * np.log10(scores.max() / threshold))
    return threshold * 10.0 ** (np.arange(low, high + 1) / per_decade)


def score_snapshot(gated: Run, step: int) -> ScoreSnapshot:
    checkpoint = gated.load_checkpoint(step)
    scores, threshold = checkpoint["scores"], float(checkpoint["threshold"][0])
    flipped = checkpoint["noisy"].astype(bool)
    above = scores > threshold
    return ScoreSnapshot(step=step, scores=scores, flipped=flipped, threshold=threshold,
                         bins=histogram_edges(scores, threshold),
                         above_percent=100 * np.mean(above),
                         clean_above_percent=100 * np.mean(above[~flipped]),
                         flipped_above_percent=100 * np.mean(above[flipped]),
                         flipped_among_above_percent=100 * np.mean(flipped[above]))


def flipped_share(gated: Run) -> FlippedShare:
    """Flipped labels among the trained samples, per epoch and over the last third of the steps
    (the recorder's last third): `active_noisy_fraction` x the number trained
    (`activation_rate` x batch size), summed, over the number trained."""
    steps, share = gated.series("active_noisy_fraction")
    if len(steps) != gated.config["steps"]:
        raise ValueError(f"{gated.path}: the share needs every step logged")
    rate = dict(zip(*gated.series("activation_rate"), strict=True))
    epoch = dict(zip(*gated.series("epoch"), strict=True))
    trained = np.array([round(rate[step] * gated.config["batch_size"]) for step in steps])
    flipped = np.round(share * trained)
    epochs = np.array([epoch[step] for step in steps], int)
    numbers = np.unique(epochs)
    last_third = steps > steps[-1] - steps[-1] // 3
    return FlippedShare(
        epochs=numbers, steps=np.array([steps[epochs == e].max() for e in numbers]),
        percent=np.array([100 * flipped[epochs == e].sum() / trained[epochs == e].sum()
                          for e in numbers]),
        trained=np.array([trained[epochs == e].sum() for e in numbers]),
        last_third_percent=float(100 * flipped[last_third].sum() / trained[last_third].sum()))


def significance_distribution_result() -> SignificanceDistribution:
    gated = run(MAIN)
    snapshots = tuple(score_snapshot(gated, step) for step in sorted(gated.checkpoints))
    share = flipped_share(gated)
    training_flipped = 100 * gated.config["train_label_noise_share"]
    numbers = Numbers()
    last = snapshots[-1]
    numbers.add("ProbeSize", len(last.scores), "d")
    numbers.add("ProbeFlipped", int(last.flipped.sum()), "d")
    numbers.add("TrainingFlippedPercent", training_flipped, ".1f")
    numbers.add("FlippedShareLastThird", share.last_third_percent, ".1f")
    words = NUMBER_WORDS[1:len(snapshots) + 1]
    for word, snapshot in zip(words, snapshots, strict=True):  # printed above each panel of (a)
        numbers.add(f"FlippedAbove{word.capitalize()}", snapshot.flipped_above_percent, ".0f")
        numbers.add(f"CorrectAbove{word.capitalize()}", snapshot.clean_above_percent, ".0f")
    return SignificanceDistribution(snapshots=snapshots, flipped_share=share,
                                    training_flipped_percent=training_flipped, numbers=numbers)


@FIGURES.figure(
    caption=f"Which samples the gate picks in one recorded {MAIN_PERCENT} run (seed 0): (a) "
            "the per-sample loss of a fixed probe of training samples at "
            f"{NUMBER_WORDS[RUNS[MAIN]['n_checkpoints']]} steps, correct and flipped labels "
            "apart: the correct labels' losses narrow into a peak just below the threshold while "
            "the flipped ones move above it; (b) so nearly a quarter of those it back-propagates "
            "carry a flipped label, against under 3\\,\\% of the training set.",
    result=significance_distribution_result, width=1.0, height=3.5)
def significance_distribution(fig, distribution: SignificanceDistribution):
    snapshots = distribution.snapshots
    numbers = distribution.numbers
    gated, reference = meanings.method("gated"), meanings.role("reference")
    grid = fig.add_gridspec(2, len(snapshots), height_ratios=(1.5, 1))
    axes = [fig.add_subplot(grid[0, 0])]
    axes += [fig.add_subplot(grid[0, i], sharex=axes[0], sharey=axes[0])
             for i in range(1, len(snapshots))]
    # data categories, not methods: neutral shades (grey bars, an ink outline)
    clean_look = {"color": GREY, "edgecolor": "white", "linewidth": 0.2}
    flipped_look = {"histtype": "step", "color": INK, "linewidth": 0.9}
    for word, ax, snapshot in zip(NUMBER_WORDS[1:len(snapshots) + 1], axes, snapshots,
                                  strict=True):
        for selected, look, label in ((~snapshot.flipped, clean_look, "correct label"),
                                      (snapshot.flipped, flipped_look, "flipped label")):
            scores = snapshot.scores[selected]
            ax.hist(scores, bins=snapshot.bins, weights=np.full(len(scores), 100 / len(scores)),
                    label=label, **look)
        ax.axvline(snapshot.threshold, color=reference.color, ls=reference.linestyle, lw=1.0,
                   label="threshold")
        ax.set_xscale("log")
        ax.set_xticks(SCORE_TICKS, [f"{tick:g}" for tick in SCORE_TICKS])
        ax.xaxis.set_minor_formatter(NullFormatter())
        # under the step, the share of each kind above the threshold (said in the legend's
        # title): in the axes it would cross the threshold or the peak at narrow text widths
        ax.set_title(f"step {snapshot.step}\nflipped {numbers['FlippedAbove' + word.capitalize()]}"
                     f" %\ncorrect {numbers['CorrectAbove' + word.capitalize()]} %",
                     fontsize=SMALL, linespacing=1.25)
        ax.set_xlabel("loss")
        if ax is not axes[0]:
            ax.tick_params(labelleft=False)
    low = min(snapshot.bins[0] for snapshot in snapshots)
    high = max(snapshot.bins[-1] for snapshot in snapshots)
    axes[0].set_xlim(low, high)
    axes[0].set_ylabel("% of the samples\nof each kind")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper left", ncols=3,
               fontsize=SMALL, alignment="left",
               title=f"(a) Loss of the {numbers['ProbeSize']} probe samples "
                     f"({numbers['ProbeFlipped']} with a flipped label), {BINS_PER_DECADE} bins "
                     "per decade;\nunder each step, the share of each kind above the threshold",
               title_fontsize=SMALL)

    ax = fig.add_subplot(grid[1, :])
    share = distribution.flipped_share
    ax.plot(share.steps, share.percent, color=gated.color, marker=gated.marker, markersize=3,
            lw=1.0)
    ax.axhline(distribution.training_flipped_percent, color=reference.color,
               ls=reference.linestyle, lw=0.8)
    ax.annotate(f"{numbers['TrainingFlippedPercent']} % of all training labels are flipped",
                xy=(share.steps[-1], distribution.training_flipped_percent), xytext=(0, 3),
                textcoords="offset points", ha="right", va="bottom", fontsize=SMALL)
    ax.set_ylim(0, None)
    ax.set_xlim(0, None)
    ax.set_xlabel("step (each point: one epoch)")
    ax.set_ylabel("flipped labels\n(% of trained)")
    panel_title(ax, "b", f"Flipped labels among the back-propagated samples: "
                f"{numbers['FlippedShareLastThird']} % over the last third")


def main(argv=None) -> int:
    return FIGURES.main(argv)


if __name__ == "__main__":
    sys.exit(main())
