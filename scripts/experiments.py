"""Experiment dashboards: figures from any training run, or several, whatever wrote it.

    python scripts/experiments.py                          the project's own recorded runs
    python scripts/experiments.py RUN [...] --outdir DIR   a user's runs (folders or log files)
    python scripts/experiments.py --discover BASE --pattern 'gpt2_*' --outdir DIR
    ... --compare val_acc [--threshold 0.95] [--along num_input_tokens_seen]
                                                           compare on one metric (at a common
                                                           step, or amount of a logged counter)

A run is what a training library leaves behind, detected from the folder (records.readers): a
Hugging Face Trainer output folder (trainer_state.json, also in checkpoint-*/), a PyTorch
Lightning lightning_logs/ folder or one version_N/ of it (CSVLogger or TensorBoardLogger),
TensorBoard event files from any writer, a W&B run history exported as CSV, or this project's
logs/metrics.csv with config.json. `--format` forces a reader. A malformed log stops with the
file and line and exit code 2, and nothing is written.

Per run, each figure showing what the others do not:
  dashboard_<run>              the one-page overview: a panel per kind of metric logged (at most
                               one training and one evaluation curve each) and the settings;
  training_curves_<run>        what the dashboard leaves out: every other metric in a panel of
                               its own (with the run's own average of it, if logged, and a
                               target or reference value from its settings), and how the
                               parameter norm divides among the parts the run logged a norm of;
  loss_distribution_<run>      the spread of the training loss around its trend, per epoch, and
                               in the caption how far it reaches and whether it changes;
  optimization_dynamics_<run>  rates, not levels: the generalization gap (like for like: the
                               training loss at each evaluation's step), how fast the training
                               loss falls, how fast the weight norms change against the pull of
                               weight decay, how far checkpointed parameters move per step (each
                               where the run logged what it needs);
  summary_<run>.tex            final, best and at-best-step values of every metric, the counters
                               (samples, FLOPs) included: they are numbers, not panels.
For several runs: comparison_dashboard (one metric: at a common step or amount of a logged
counter such as compute, or steps to a threshold) and training_curves_comparison (every other
metric they share like for like), runs that differ only in their seed drawn as one group
(median line, min-max band in a tint of its colour).

Colours mean what they mean in the whole book (figkit.meanings): training ink and solid,
validation (or evaluation, as the run names it) orange and dashed, drawn on top with a marker
per evaluation, or both in the colour of the method a run trains with (a gated run: the gated
method's; random selection: ink, dash-dot); runs compared in one figure take the sequential
colours of the setting they vary, each with its own marker (a method's run its method's colour,
a baseline the baseline's grey); series of no meaning the neutral unnamed styles. Metrics are
named in a reader's words (val_acc: validation accuracy), accuracies and shares in per cent.
Curves get TensorBoard's smoothing (`--smoothing`, default 0.6; on a log of more than the
1,000 points TensorBoard draws, the weight per value that amounts to) over the faint logged
values; sparse evaluation metrics, schedules and series of fewer than 50 logged points are drawn as
logged, and so is every curve of a comparison (single runs like group medians) but a noisy
metric every run's dashboard smooths, each run smoothed first. `--x wall_time`
draws against wall time where the logs recorded it. Long logs are downsampled for drawing only.

Each figure is a result computed from its run(s) (`<kind>_result(run)`, statistics from
numerics.run_stats) and a drawing function that only draws it (`<kind>(fig, result)`); the
summary tables are written from the dashboards' results. The Python API (README: "Dashboards
for your own runs"): records.read_run, records.discover, records.select, metric_table and
quick_plot below.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from functools import lru_cache, partial, update_wrapper
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullLocator, StrMethodFormatter

from figkit import Registry, latex, meanings
from figkit.annotate import NARROW_IN, panel_title
from figkit.charts import log_if_wide
from figkit.cli import UsageError
from figkit.numbers import Numbers, spell
from figkit.palette import GREY, INK, MUTED, tint
from figkit.registry import ROOT
from figkit.style import NORMAL, SMALL
from numerics import portable, run_stats
from numerics.run_stats import Band, BoxStats, Curve, NormSplit, ParameterChanges, RunSummary
from records import Run, RunError, discover_runs, load_run
from records.readers import FORMATS, find_runs, read_runs
from records.settings import NOT_SETTINGS, SECONDARY, flatten, headline, headline_value

TOPIC = "experiments"
#: The project's own recorded runs shown by default: the main grokking run and the gated
#: sparse-training run, each with its own dashboards.
DEFAULT_RUNS = ("grokking/main", "sparse_training/gated_0.1")
#: What the figures of the project's runs add to the book, whose chapters draw these runs too:
#: a sentence per figure, appended to its caption (keys: a run's folder, or "comparison" and the
#: comparison's suffix), or a function of the figure's result and runs that writes it from what
#: they hold; each claim is tested in tests/test_experiments.py.
BOOK = {
    "grokking/main": {
        "dashboard": "It is the tool's overview of the run grokking\\_curves draws.",
        "training_curves": "The grokking chapter draws only the total "
                           "(grokking/weight\\_norm); here the "
                           "embedding's share falls and the rest's rises until the rest's norm "
                           "peaks, then both parts shrink.",
        "optimization_dynamics": "Late on, Adam pushes the norm out about as fast as decay "
                                 "pulls it in; the embedding moves on after the loss "
                                 "flattens.",
    },
    "sparse_training/gated_0.1": {
        "dashboard": "It is the tool's overview of the run threshold\\_adaptation draws.",
        "training_curves": "Weighting every class alike (the classes are imbalanced), it "
                           "ends within a few points of the plain accuracy the dashboard "
                           "draws (grey).",
    },
    "comparison": {
        "comparison_dashboard": lambda result, runs: sweep_outcome(result, runs),
        "training_curves_comparison": "The chapter draws these for the main run only: at "
                                      "that step, the stronger the weight decay, the smaller "
                                      "the embedding's norm.",
    },
    "comparison_sparse_training": {
        "comparison_dashboard": "At every compute random selection leads all samples and "
                                "gated trails (finals: accuracy\\_vs\\_compute); compute is "
                                "FLOPs, so random 10\\,\\% takes ten times the steps.",
        "training_curves_comparison": "Gated's validation loss stalls early at several times "
                                      "the others' as its accuracy still rises.",
    },
}
#: Metrics of the project's runs that a chapter of the book draws already (run folder: {metric:
#: figure}): the BOOK's figures of those runs leave them out and say where they are (a user's
#: run folder draws every metric).
RUN_ELSEWHERE = {
    "sparse_training/gated_0.1": {
        "activation_rate": "threshold\\_adaptation",
        "activation_rate_smoothed": "threshold\\_adaptation",
        "active_noisy_fraction": "significance\\_distribution"},
}
#: The default comparisons: (figure name suffix, run folders under data/, how to compare).
#: The grokking weight-decay sweep, three seeds a setting (the centre point's first three of
#: its five), on validation accuracy at the last
#: step every run reached (the grokking chapter gives the steps each took to generalize); its
#: training accuracy and parameter norm are drawn by the chapter, not again. The
#: sparse-training methods, five seeds each, on validation accuracy against the compute spent
#: so far (the chapter gives the final accuracy against the total), each method as one seed
#: group: gated 0.1 beside random selection at the same rate (0.1) and at equal compute (0.4,
#: the chapter's fair partner: scripts/recorders/sparse_training.PARTNERS), each entry labelled
#: with its share of full training's compute. The run that trains on every sample is the
#: baseline (named so: "full" would name full fine-tuning, another method).
DEFAULT_COMPARISONS = (
    ("", ("grokking/wd_*", "grokking/main", "grokking/main_s1", "grokking/main_s2"),
     {"metric": "val_acc",
      "elsewhere": {"train_acc": "grokking/weight\\_decay\\_sweep",
                    "weight_norm": "grokking/weight\\_norm"}}),
    ("_sparse_training", tuple(f"sparse_training/{method}{seeds}"
                               for method in ("full", "random_0.1", "random_0.4", "gated_0.1")
                               for seeds in ("", "_s*")),
     {"metric": "val_acc", "baseline": "full",
      "names": {"full": "all samples", "random_0.1": "random 10 %", "random_0.4": "random 40 %",
                "gated_0.1": "gated, 10 % target"},
      "x": "flops_total", "x_name": "compute",
      "x_label": "compute spent, % of training on all samples",
      "x_short": "compute spent (%)",
      "x_caption": "the compute spent so far",
      "elsewhere": {"active_noisy_fraction": "significance\\_distribution"}}),
)
#: Configuration keys holding a run's compute as a fraction of full training's.
COMPUTE_SHARE_KEYS = ("flops_fraction_of_full",)
#: Configuration keys naming the method a run trains with (this project's `mode`; a PEFT or
#: LLaMA-Factory run's), matched against the table of meanings' methods.
METHOD_KEYS = ("method", "mode", "finetuning_type", "peft_type", "training_method")
#: Lines a comparison draws legibly (a seed group is one line): the table of meanings'
#: sequential colours keep six ordered values apart for colour-blind readers, not seven.
MAX_COMPARED = 6
#: TensorBoard's smoothing weight, its default (the slider of its scalar dashboard).
SMOOTHING = run_stats.TENSORBOARD_WEIGHT
#: Columns taken as the training and the validation loss, in preference order.
TRAIN_LOSSES = ("train_loss", "loss", "training_loss", "train/loss", "train_loss_step")
VALIDATION_LOSSES = ("val_loss", "eval_loss", "validation_loss", "eval/loss", "val/loss",
                     "validation/loss", "test_loss")
#: Rates of change are derivatives of smoothed series: at least this much smoothing weight for
#: a series with step noise, or the noise is all they show (none without step noise).
RATE_SMOOTHING = 0.9
#: Rates are drawn against a logarithmic step axis when the run's positive steps span this many
#: decades (a rate is largest at the start, which a linear axis crushes).
LOG_STEP_DECADES = 3.0
#: Panels of the comparison of training curves.
MAX_SHARED_METRICS = 6
#: Lines of settings beyond the headline ones (model, learning rate, batch size, ...).
MAX_OTHER_SETTINGS = 6


# ---- names as text -----------------------------------------------------------------------------
def display(name: str) -> str:
    """A metric or run name as text: the TeX text font prints '_' as an accent."""
    return name.replace("_", " ")


#: How the book's runs name what they logged, in the chapters' words (any other metric is named
#: by `readable` from the words of its name).
METRIC_NAMES = {
    "batch_loss_mean": "training loss (whole batch)",
    "activation_rate": "share of the batch trained",
    "activation_rate_smoothed": "share trained, the run's own average",
    "active_noisy_fraction": "trained samples mislabelled",
    "val_balanced_acc": "balanced validation accuracy",
    "weight_norm": "parameter norm",
    "flops_total": "compute (FLOPs counted)",
}
#: Words of metric names as a reader says them (prefixes: val_ is validation, eval_ evaluation).
WORDS = {"val": "validation", "valid": "validation", "eval": "evaluation", "train": "training",
         "acc": "accuracy", "lr": "learning rate", "grad": "gradient", "ppl": "perplexity",
         "f1": "F1", "avg": "mean", "num": "number of", "flos": "FLOPs", "flops": "FLOPs",
         "mem": "memory", "tokens_per_second": "tokens per second"}


def readable(name: str) -> str:
    """A metric's name for a reader: 'val_acc' -> 'validation accuracy', 'train/loss' ->
    'training loss' (the book's runs: METRIC_NAMES)."""
    if name in METRIC_NAMES:
        return METRIC_NAMES[name]
    monitor = re.fullmatch(r"lr-(\w+?)(?:/pg(\d+))?", name)  # Lightning's LearningRateMonitor
    if monitor:
        group = f", parameter group {monitor.group(2)}" if monitor.group(2) else ""
        return f"learning rate ({monitor.group(1)}{group})"
    words = [WORDS.get(word.lower(), word) for word in re.split(r"[/_\s]+", name) if word]
    return " ".join(words) or name


def evaluation_word(name: str) -> str:
    """What a run calls its held-out data, from the metric's prefix: 'validation' (val_),
    'test' (test_) or 'evaluation' (eval_, a Trainer's name for either)."""
    lowered = name.lower().rsplit("/", 1)
    prefix = lowered[-1] if len(lowered) == 1 else lowered[0] + "/" + lowered[-1]
    if re.search(r"(^|/)(val|valid|validation)([/_]|$)|_val$", prefix):
        return "validation"
    if re.search(r"(^|/)test([/_]|$)|_test$", prefix):
        return "test"
    return "evaluation"


#: Metrics drawn in per cent when every logged value lies in [0, 1]: accuracies and shares
#: (the chapters give accuracies in per cent).
PERCENT = (r"acc", r"fraction", r"share", r"activation_rate")


def in_percent(name: str, values) -> bool:
    """Whether metric `name` is an accuracy or a share logged in [0, 1], drawn in per cent."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return (run_stats.family(name) != "learning_rate" and bool(values.size)
            and any(re.search(pattern, name.lower()) for pattern in PERCENT)
            and bool(np.all((values >= 0) & (values <= 1))))


def axis_label(name: str, percent: bool = False) -> str:
    return readable(name) + (" (%)" if percent else "")


def panel_name(name: str, width: int = 20) -> str:
    """A name as a small panel's title, wrapped to fit a third of a narrow page."""
    return "\n".join(textwrap.wrap(name, width))


def slug(name: str) -> str:
    """A run name as part of a figure file name: 'wd_0.3' -> 'wd_0_3'."""
    text = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    return text if text and text[0].isalpha() else f"run_{text}"


def run_label(run: Run) -> str:
    """'grokking/main' for the project's recorded runs, the run's name for a user's."""
    try:
        return run.path.resolve().relative_to(ROOT / "data").as_posix()
    except ValueError:
        return run.name


def run_method(config: dict) -> str | None:
    """The key of the method (figkit.meanings) a run's configuration says it trains with
    (METHOD_KEYS: `mode: gated`), or None."""
    flat = flatten(config)
    for key in METHOD_KEYS:
        value = flat.get(key)
        if isinstance(value, str):
            named = meanings.named_in(display(value))
            if named is not None and named.group == "method":
                return named.key
    return None


# ---- drawing pieces every figure uses ----------------------------------------------------------
#: The legend entry of a loss of the selected samples only (run_stats.selected_loss).
SELECTED_LABEL = "loss of selected samples"
#: Markers a line carries at most (spaced out along it): a second channel beside colour and line
#: style that a long line does not turn into a thick one.
MARKERS_PER_LINE = 8


@dataclass(frozen=True)
class Look:
    """How one series is drawn: colour, line style, a marker (spaced out along the line) and its
    legend label; an evaluation series is drawn on top of the others, a marker at its
    evaluations (spaced out when there are many)."""
    color: object
    linestyle: object = "-"
    marker: str | None = None
    label: str | None = None
    evaluation: bool = False


def other_looks() -> list[tuple]:
    """(colour, line style, marker) of series of neither role, in order of first use: the table
    of meanings' unnamed styles after its first, solid one (solid is training's; dashes are
    validation's, dotted ink the reference lines')."""
    return [(style["color"], style["linestyle"], style["marker"])
            for style in meanings.unnamed(4)[1:]]


def spaced(n: int, index: int = 0) -> tuple[float, float] | None:
    """`markevery` for a line of n points: about MARKERS_PER_LINE markers at equal distances
    along the drawn line (steps logged at uneven intervals too), offset by the series' `index`
    so that the markers of lines lying on each other do not coincide; None (every point) for a
    line of MARKERS_PER_LINE points or fewer."""
    if n <= MARKERS_PER_LINE:
        return None
    every = 1 / MARKERS_PER_LINE
    return ((index * every / 3) % every, every)


def legend_columns(fig, labels: list[str], share: float = 1.0) -> int:
    """Columns of a legend of run labels that fit `share` of the figure's width (the whole width
    when the figure is narrow): about 3.3 pt a character of small text, and 33 pt of line
    sample and spacing an entry."""
    narrow = fig.get_figwidth() < NARROW_IN
    longest = max((len(re.sub(r"\$[^$]*\$", "x", label)) for label in labels), default=1)
    column = (3.3 * longest + 33) / 72
    fits = max(1, int(fig.get_figwidth() * (1.0 if narrow else share) // column))
    return max(1, min(len(labels), fits, 3 if narrow else 5))


#: Quantities of a method's own control, drawn as the reference role (dotted ink) whatever
#: colours the run, as the sparse-training chapter draws the gate's threshold: not a curve of
#: the method's training.
INK_QUANTITIES = (r"(^|[/_])threshold($|[/_])",)


class Styles:
    """One look per series of a figure, from the table of meanings: training ink and solid,
    validation orange and dashed (the roles), or both in the colour of the run's method with
    the roles' line styles; the others (the loss of selected samples first) neutral, told apart
    by the unnamed styles' line styles and markers; and the legend entries they need, collected
    while drawing."""

    def __init__(self, selected: str | None = None, method: str | None = None):
        self.selected = selected        # the loss of the selected samples only (run_stats)
        self.method = meanings.method(method) if method else None
        self.others: dict[str, tuple] = {}
        self.entries: dict[str, object] = {}
        self.faint: dict[str, object] = {}      # last in the legend

    def role(self, which: str) -> tuple[object, object]:
        """(colour, line style) of the role 'training' or 'validation'."""
        role = meanings.role(which)
        return (self.method.color if self.method else role.color), role.linestyle

    def other(self, name: str) -> tuple[object, object, str]:
        """(colour, line style, marker) of a series of neither role."""
        if name not in self.others:
            looks = other_looks()
            color, linestyle, marker = looks[len(self.others) % len(looks)]
            self.others[name] = (self.method.color if self.method else color, linestyle,
                                 marker)
        return self.others[name]

    def of(self, name: str, alone: bool = False) -> Look:
        """The look of the series `name`; a series of neither role `alone` in its panel (a
        learning rate, a gradient norm) is measured on the training side and drawn as
        training."""
        if name == self.selected:
            return Look(*self.other(name), label=SELECTED_LABEL)
        r = run_stats.role(name)
        if r is None and any(re.search(pattern, name) for pattern in INK_QUANTITIES):
            reference = meanings.role("reference")  # dotted ink, as the chapter draws it
            return Look(reference.color, reference.linestyle)  # its panel's title names it

        if r == "training" or (r is None and alone):
            return Look(*self.role("training"), label="training")
        if r == "evaluation":
            return Look(*self.role("validation"), marker=meanings.role("validation").marker,
                        label=evaluation_word(name), evaluation=True)
        return Look(*self.other(name), label=readable(name))

    def legend(self, fig, **kwargs) -> None:
        """The entries used, above the panels, which they all serve (fewer columns when the
        figure is narrow)."""
        entries = {**self.entries, **self.faint}
        if not entries:
            return
        labels = list(entries)
        columns = min(legend_columns(fig, labels), 5)
        fig.legend(list(entries.values()), labels, loc="outside upper center",
                   ncols=columns, fontsize=SMALL, **kwargs)


def draw_curve(ax, curve: Curve, look: Look, raw=True, styles=None, scale: float = 1.0,
               average: Curve | None = None, index: int = 0):
    """A metric against step, its values times `scale` (100: per cent). Smoothed: the logged
    values faint, TensorBoard's average on top, or the run's own `average` of it where it logged
    one. Not smoothed (a sparse evaluation metric, a schedule): the logged values as a line. An
    evaluation series is drawn on top, a marker at its evaluations (spaced out when there are
    many); a series of neither role carries its marker spaced out. Steps where NaN or inf was
    logged: an x on the top edge of the panel."""
    marker_kwargs = {}
    if look.marker:
        n = len(curve.drawn.steps)
        marker_kwargs = {"marker": look.marker, "markersize": 2.4 if look.evaluation else 3,
                         "markevery": spaced(n, index) if (n > 5 * MARKERS_PER_LINE
                                                           or not look.evaluation) else None}
    zorder = 3 if look.evaluation else 2
    if curve.single:
        line, = ax.plot(curve.steps, scale * curve.values, marker=look.marker or "o", ls="none",
                        color=look.color, label=look.label)
    elif curve.smoothed is not None or average is not None:
        if raw:  # same colour, faint: one series, not two
            ax.plot(curve.drawn.steps, scale * curve.drawn.values, color=look.color, alpha=0.3,
                    lw=0.5)
            if styles is not None:  # one neutral key for every series' faint values
                styles.faint.setdefault("logged values (faint)",
                                        Line2D([], [], color=INK, alpha=0.3, lw=0.5))
        top = average.drawn if average is not None else curve.smoothed
        line, = ax.plot(top.steps, scale * top.values, color=look.color, lw=1.1,
                        ls=look.linestyle, label=look.label, zorder=zorder, **marker_kwargs)
    else:
        line, = ax.plot(curve.drawn.steps, scale * curve.drawn.values, color=look.color, lw=0.9,
                        ls=look.linestyle, label=look.label, zorder=zorder, **marker_kwargs)
    if styles is not None and look.label is not None:
        styles.entries.setdefault(look.label, line)
    if curve.nonfinite is not None and len(curve.nonfinite):
        marks, = ax.plot(curve.nonfinite, np.ones(len(curve.nonfinite)), "x", color=INK,
                         markersize=3, clip_on=False, transform=ax.get_xaxis_transform())
        if styles is not None:
            styles.entries.setdefault("NaN or inf logged", marks)
    return line


def bind(result_function, *runs, **options):
    """`result_function(*runs, **options)` as a figure's result function, under its name,
    computed once (a caption that states what the result found asks for it first)."""
    computed = []

    def result():
        if not computed:
            computed.append(partial(result_function, *runs, **options)())
        return computed[0]

    return update_wrapper(result, result_function)


#: A loss panel whose values span this much (ln 5: perplexity over a factor of five) labels its
#: perplexity axis at 1, 2 and 5 of each decade; a narrower one evenly.
PERPLEXITY_FACTORS = math.log(5)


def log_scale(ax, values, axis: str = "y") -> bool:
    """A log scale when the positive `values` span two decades or more (so that at least two
    decades are labelled), a linear one otherwise."""
    return log_if_wide(ax, values, axis=axis, decades=2.0)


def legend_over(fig, ax, handles=None, labels=None, ncols: int | None = None) -> None:
    """A legend that serves one panel, above the figure's panels at that panel's side (left,
    centre or right, after its column), where constrained layout keeps room for it; inside the
    panel, where it hides the least, for a panel below the first row."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    spec = ax.get_subplotspec()
    if spec is None or spec.rowspan.start > 0:
        ax.legend(handles, labels, loc="best", fontsize=SMALL)
        return
    columns = spec.get_gridspec().ncols
    side = "left" if spec.colspan.start == 0 and columns > 1 else \
        "right" if spec.colspan.stop == columns and columns > 1 else "center"
    fig.legend(handles, labels, loc=f"outside upper {side}", fontsize=SMALL,
               ncols=ncols or min(len(labels), 3 if fig.get_figwidth() < NARROW_IN else 4))


def thousands(fig) -> None:
    """Tick labels of every linear axis of `fig` with thousands separators ('7,000', as the
    chapters print steps; '41,000' tokens per second), where its ticks are whole numbers
    from 1,000 to 10,000,000 (beyond, matplotlib's offset: '1e8')."""
    from matplotlib.ticker import FuncFormatter, StrMethodFormatter

    def signed(x, _):  # cmr10 has no minus sign: mathtext sets it, as for every other tick
        return "$\\mathdefault{" + f"{x:,.0f}".replace(",", "{,}").replace("-", "\u2212") + "}$"

    for ax in fig.axes:
        if not ax.axison:
            continue
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() != "linear":
                continue
            low, high = sorted(axis.get_view_interval())
            ticks = axis.get_ticklocs()
            ticks = ticks[(ticks >= low) & (ticks <= high)]  # the labelled ones
            if len(ticks) and 1000 <= np.max(np.abs(ticks)) <= 1e7 \
                    and np.all(ticks == np.round(ticks)):
                axis.set_major_formatter(FuncFormatter(signed) if np.min(ticks) < 0
                                         else StrMethodFormatter("{x:,.0f}"))


def with_thousands(draw):
    """A drawing function that ends with thousands(fig)."""
    def drawn(fig, result):
        out = draw(fig, result)
        thousands(fig)
        return out

    return update_wrapper(drawn, draw)


def grid(fig, n: int, cols: int = 3):
    """n panels in rows of `cols` (fewer when n is small); the last row's spare slots are not
    drawn. Returns the axes."""
    cols = 2 if n == 4 and cols == 3 else min(cols, n)  # four panels: two rows of two
    rows = math.ceil(n / cols)
    spec = fig.add_gridspec(rows, cols)
    return [fig.add_subplot(spec[i // cols, i % cols]) for i in range(n)]


# ---- dashboard_<run> ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Panel:
    """One dashboard panel: a kind of metric the run logged, and its curves."""
    kind: str                        # run_stats.FAMILIES kind, or "other"
    title: str
    curves: list[Curve]
    percent: bool = False            # accuracies or shares in [0, 1], drawn in per cent


@dataclass(frozen=True)
class Dashboard:
    """A run at a glance: a panel per kind of metric it logged, and its settings; its summary."""
    label: str
    path: Path
    format: str
    x_label: str
    panels: list[Panel]              # only kinds the run logged: never an empty panel
    perplexity: bool                 # the losses are a language model's: exp(loss) on the right
    settings: list[str]              # 'key: value', the headline settings first
    notes: list[str]                 # what reading the run found (a resume, a cut-off file)
    smoothing: float                 # TensorBoard's smoothing weight of the curves
    summary: RunSummary              # final, best and at-best-step values of every metric
    numbers: Numbers
    selected: str | None = None      # the loss of the selected samples only, if logged
    totals: dict = field(default_factory=dict)  # the run's final summary (a Trainer's last row:
                                                # train_runtime, total_flos, ...)
    method: str | None = None        # the method the run trains with (run_method)
    coincide: float = float("nan")   # per cent: the validation loss lies on the training loss,
                                     # within this at every evaluation (COINCIDE); NaN: apart
    validation: str | None = None    # the validation loss and the training loss it lies on
    train: str | None = None


#: The validation loss is said to lie on the training loss (which its panel then says: the
#: dashed line hides in the solid one) when every evaluation is within this share of it.
COINCIDE = 0.05


def _losses(run: Run) -> tuple[str | None, str | None]:
    """(the training loss a validation loss is compared with, the validation loss)."""
    drawn = run_stats.drawn_metrics(run)
    losses = [name for name in drawn if run_stats.family(name) == "loss"]
    train = run_stats.training_loss(run)
    validation = next((n for n in (*VALIDATION_LOSSES, *losses) if n in losses
                       and run_stats.role(n) == "evaluation"), None)
    return train, validation


def coinciding(run: Run) -> tuple[float, str | None, str | None]:
    """(the largest |validation - training loss| over the validation loss at an evaluation, in
    per cent, if below COINCIDE, else NaN; the validation loss; the training loss), the
    training loss read like for like at each evaluation (run_stats.generalization_gap)."""
    train, validation = _losses(run)
    if not (train and validation):
        return float("nan"), None, None
    gap, _ = run_stats.generalization_gap(run, train, validation)
    if not len(gap.steps):
        return float("nan"), None, None
    steps, values = run.series(validation)
    at = values[np.isin(steps, gap.steps)]
    worst = float(np.max(np.abs(gap.values) / np.abs(at)))
    return (100 * worst if worst < COINCIDE else float("nan")), validation, train


#: Keys of a configuration that record results, not settings (this project's recorder writes
#: both to config.json).
RESULT_KEYS = ("activation_rate_mean", "stopped_reason", "integral_clamped_steps",
               "integral_max_abs")
RESULT_PREFIXES = ("final_", "flops_", "smoothed_rate_", "best_")


def constant_lines(run: Run) -> list[str]:
    """'name: value (constant)' for each metric the run logged with one value throughout: a
    setting, not a panel."""
    return [f"{name}: {value:.4g} (logged, constant)"
            for name, value in run_stats.constant_metrics(run).items()]


def settings_lines(config: dict, others: int = MAX_OTHER_SETTINGS) -> list[str]:
    """The settings a reader looks for first (model, learning rate, batch size, epochs or
    steps, weight decay, seed: records.settings.SETTINGS), as 'key: value' under the key the run
    uses, then up to `others` more scalar settings in key order."""
    def text(value) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int) and abs(value) >= 1000:  # 7,000 as the chapters print it
            return f"{value:,d}"
        if isinstance(value, float):
            return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 \
                else f"{value:.4g}"
        return str(value)

    lines, shown = [], set()
    for _, key, value in headline(config):
        lines.append(f"{key}: {text(value)}")
        shown.add(key)
    for key in SECONDARY:
        value = config.get(key)
        if key in shown or value is None or isinstance(value, (dict, list)) or value == "":
            continue
        lines.append(f"{key}: {text(value)}")
        shown.add(key)
    extra = []
    for key in sorted(config):
        value = config[key]
        if key in shown or key in NOT_SETTINGS or key.startswith("_") or value is None \
                or isinstance(value, (dict, list)) or value == "" or key in RESULT_KEYS \
                or key.startswith(RESULT_PREFIXES):
            continue
        extra.append(f"{key}: {text(value)}")
    return lines + extra[:others]


def dashboard_panels(run: Run, smoothing: float = SMOOTHING) -> list[Panel]:
    return [Panel(kind=panel.kind, title=panel.title,
                  curves=[run_stats.metric_curve(run, name, smoothing) for name in panel.names],
                  percent=all(in_percent(name, run.series(name)[1]) for name in panel.names))
            for panel in run_stats.dashboard_panels(run)]


def dashboard_result(run: Run, smoothing: float = SMOOTHING) -> Dashboard:
    label = run_label(run)
    panels = dashboard_panels(run, smoothing)
    losses = next((panel.curves for panel in panels if panel.kind == "loss"), [])
    summary = run_stats.summarize(run)
    numbers = Numbers()
    numbers.add(f"Rows{spell(label)}", summary.rows, ",d")
    coincide, validation, train = coinciding(run)
    drawn = {curve.name for panel in panels if panel.kind == "loss" for curve in panel.curves}
    if not ({validation, train} <= drawn):
        coincide = float("nan")
    if not math.isnan(coincide):
        numbers.add(f"Coincide{spell(label)}", coincide, ".2g")
    return Dashboard(
        label=label, path=run.path, format=run.format, x_label=run.x_label, panels=panels,
        perplexity=bool(losses) and all(run_stats.is_language_model_loss(curve.name, run.config)
                                        for curve in losses),
        settings=settings_lines(run.config) + constant_lines(run), notes=list(run.notes),
        smoothing=smoothing, selected=run_stats.selected_loss(run),
        summary=summary, numbers=numbers, totals=dict(run.totals),
        method=run_method(run.config), coincide=coincide, validation=validation, train=train)


def has_settings(run: Run) -> bool:
    """Whether the dashboard has a settings panel: only when the run recorded settings (or
    logged a constant metric); no '(no settings recorded)' panel."""
    return bool(settings_lines(run.config) or run_stats.constant_metrics(run))


def dashboard_shape(n_panels: int, settings: bool = True) -> tuple[int, int]:
    """(rows, columns) for n metric panels and the settings panel, which takes the rest of
    the last row (without settings: the panels alone, two a row from four)."""
    if not settings:
        rows = 1 if n_panels <= 3 else 2 if n_panels <= 6 else 3
        return rows, math.ceil(n_panels / rows)
    total = n_panels + 1
    rows = 1 if total <= 3 else 2 if total <= 6 else 3
    return rows, math.ceil(total / rows)


def dashboard_height(run: Run) -> float:
    """Inches: a legend line and 1.45 in per row of panels."""
    rows, _ = dashboard_shape(len(run_stats.dashboard_panels(run)), has_settings(run))
    return 0.35 + 1.45 * rows


def panel_ylabel(panel: Panel) -> str:
    """The metric a panel shows, for a reader: its name, or the words its metrics' names share
    ('loss' for train_loss and eval_loss), '(%)' when drawn in per cent."""
    names = [readable(curve.name) for curve in panel.curves]
    if len(names) == 1:
        label = names[0]
    else:
        split = [name.split() for name in names]
        roles = ("training", "evaluation", "validation", "test", "step", "epoch")
        label = " ".join(word for word in split[0]
                         if all(word in other for other in split[1:]) and word not in roles)
    return label + (" (%)" if panel.percent else "")


#: Characters cmr10, the text font, prints as other glyphs (figkit.checks.MISPRINTED_BY_CMR10),
#: as the settings panel writes them (after escaping '\\' and '$').
SETTINGS_GLYPHS = (("->", "$\\to$"), ("_", " "), ("<", "$<$"), (">", "$>$"), ("|", "$|$"),
                   ("{", "("), ("}", ")"), ("~", "$\\sim$"), ('"', "''"))
#: Lines a setting's value takes at most in the settings panel; a longer value is cut after
#: its last clause (';' or ',') that fits, and '...' says so.
SETTING_LINES = 2


def _book_text(text: str) -> str:
    """A line of settings as the text font prints it."""
    text = text.replace("\\", "/").replace("$", "\\$")
    for plain, written in SETTINGS_GLYPHS:
        text = text.replace(plain, written)
    return text


def settings_text(settings: list[str], chars: int, max_lines: int) -> list[str]:
    """The settings ('key: value') as lines of the text font for a panel `chars` characters
    wide and `max_lines` lines high: keys with spaces for underscores, each setting wrapped
    (the value indented), a value longer than SETTING_LINES lines cut after its last clause
    that fits; settings that do not fit are left out from the end (the headline ones come
    first)."""
    out: list[str] = []
    for setting in settings:
        key, _, value = setting.partition(": ")
        text = f"{display(key)}: {value}"
        wrapped = textwrap.wrap(text, chars, subsequent_indent="    ", break_on_hyphens=False)
        if len(wrapped) > SETTING_LINES:
            room = chars * SETTING_LINES - 4 * (SETTING_LINES - 1) - 4
            cut = max(text.rfind(mark, 0, room) for mark in ("; ", ", ", " ("))
            if text.count("(", 0, cut) > text.count(")", 0, cut):  # never inside brackets
                cut = text.rfind(" (", 0, cut)
            text = (text[:cut] if cut > len(key) + 2 else text[:room].rsplit(" ", 1)[0]) + " ..."
            wrapped = textwrap.wrap(text, chars, subsequent_indent="    ",
                                    break_on_hyphens=False)[:SETTING_LINES]
        if len(out) + len(wrapped) > max_lines:
            break
        out += wrapped
    return [_book_text(line) for line in out]


#: ... of a panel title, with more room to spare (capitals, and the panel letter before it).
TITLE_CHAR_WIDTH = 0.56
#: Line spacing of the settings panel (in font sizes).
SETTINGS_SPACING = 1.12
#: Average width of a character of small text in the text font (cmr10), in points per point of
#: font size, with room to spare: a settings line never runs past its panel.
CHAR_WIDTH = 0.5


def title_width(fig, columns: int) -> int:
    """Characters of a panel title (8 pt, the text font) across one of `columns` panels."""
    return max(14, int(fig.get_figwidth() * 72 / columns / (TITLE_CHAR_WIDTH * NORMAL)) - 6)


def coinciding_title(fig, title: str, board: Dashboard, columns: int) -> str:
    """'Loss: validation (dashed) lies on training, within 3.8 %', wrapped to its panel: the
    dashed line hides in the solid one, so the panel says so (between the lines, or in a
    corner, a note would cover some run's curves)."""
    word = evaluation_word(board.validation or "")
    text = f"{title}: {word} (dashed) lies on training, within {board.coincide:.2g}\0%"
    # (the number and its unit are wrapped as one word)
    return "\n".join(textwrap.wrap(text, title_width(fig, columns))).replace("\0", " ")


@with_thousands
def dashboard(fig, board: Dashboard):
    rows, cols = dashboard_shape(len(board.panels), bool(board.settings))
    spec = fig.add_gridspec(rows, cols)
    styles = Styles(board.selected, board.method)
    letters = "abcdefghij"
    for i, panel in enumerate(board.panels):
        ax = fig.add_subplot(spec[i // cols, i % cols])
        roles = [run_stats.role(curve.name) for curve in panel.curves]
        alone = roles.count(None) == 1 and "training" not in roles
        for k, curve in enumerate(panel.curves):
            draw_curve(ax, curve, styles.of(curve.name, alone), styles=styles,
                       raw=panel.kind != "learning_rate", scale=100 if panel.percent else 1,
                       index=k)
        values = np.concatenate([curve.values for curve in panel.curves])
        if panel.kind in ("loss", "norm"):  # a schedule on a log axis looks like a cliff
            log_scale(ax, values)

        if panel.kind == "loss" and board.perplexity and np.all(values > 0):
            # exp and log that give the same bits on every CPU (numerics.portable)
            right = ax.secondary_yaxis("right", functions=(portable.exp, portable.log))
            span = np.ptp(values[np.isfinite(values)])
            if span >= PERPLEXITY_FACTORS:
                # along a linear loss axis perplexity grows by factors: ticks at 1, 2 and 5 of
                # each decade, or the decades alone beyond two (evenly spaced ticks crowd where
                # the loss is high)
                subs = (1.0, 2.0, 5.0) if span <= 2 * math.log(10) else (1.0,)
                right.yaxis.set_major_locator(LogLocator(subs=subs))
                right.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
                right.yaxis.set_minor_locator(NullLocator())
            right.set_ylabel("perplexity", fontsize=SMALL)
        ax.set_xlabel(board.x_label)
        ax.set_ylabel(panel_ylabel(panel))
        title = panel.title if len(panel.curves) > 1 or panel.kind != "other" \
            else panel_name(readable(panel.curves[0].name).capitalize(), 24)
        if panel.kind == "loss" and not math.isnan(board.coincide):
            title = coinciding_title(fig, title, board, cols)
        panel_title(ax, letters[i], title)
    i = len(board.panels)
    if not board.settings:
        styles.legend(fig)
        return
    ax = fig.add_subplot(spec[i // cols, i % cols:])
    ax.set_axis_off()
    span = cols - i % cols
    chars = int(fig.get_figwidth() * 72 * span / cols / (CHAR_WIDTH * SMALL)) - 2
    fits = int((fig.get_figheight() * 72 / rows - 22) / (SMALL * SETTINGS_SPACING * 1.2))
    ax.text(0.0, 1.0, "\n".join(settings_text(board.settings, chars, fits)), ha="left",
            va="top", fontsize=SMALL, transform=ax.transAxes, linespacing=SETTINGS_SPACING)
    panel_title(ax, letters[i], "Settings")
    styles.legend(fig)


# ---- training_curves_<run> ---------------------------------------------------------------------
#: What the parts of a split parameter norm are called: the logged part's name, and the rest.
REST_LABEL = "rest of the parameters"
#: Settings that give the target a logged metric is steered towards, or a value it is read
#: against: metric -> (what the line is, its short label beside the panel, settings keys in
#: preference order). Any metric `m` also takes a setting `target_m` or `m_target` as its target.
#: The book's gated runs steer their share of the batch trained to `rate`, and train on
#: mislabelled samples at some share, which random selection would pick at their share of
#: the training set (the recorder writes it; `label_noise` is the share asked for).
REFERENCES = {
    "activation_rate": ("target", "target", ("target_activation_rate", "target_rate", "rate")),
    "active_noisy_fraction": ("of flipped training labels", "label noise",
                              ("train_label_noise_share", "label_noise")),
}


@dataclass(frozen=True)
class Reference:
    """A value from a run's settings that a logged metric is read against (a dotted line)."""
    value: float
    what: str                        # 'target in the settings', ...
    short: str                       # beside the panel, at the line's height
    key: str                         # the setting it is read from
    late_mean: float                 # the metric's mean over the last third of the run
    late_from: float = float("nan")  # the first step of that last third
    late_to: float = float("nan")    # and its last


#: Shares whose mean over steps weighs each step by the size of what it is a share of (a logged
#: metric proportional to it): the mislabelled share of the samples trained, by the share of the
#: batch trained, pooled over the steps as the sparse-training chapter pools it.
REFERENCE_WEIGHTS = {"active_noisy_fraction": "activation_rate"}


def last_third(steps) -> np.ndarray:
    """The logged steps of the last third of a run (the sparse-training chapter's window, the
    recorder's: steps after last - last // 3)."""
    steps = np.asarray(steps, float)
    return steps > steps[-1] - steps[-1] // 3


def reference_of(config: dict, name: str, steps=None, values=None, weights=None
                 ) -> Reference | None:
    """The target or reference value of metric `name` in a run's settings (REFERENCES), with the
    mean of `values` (the metric, or the run's own average of it) over the last third of its
    logged steps, weighted by `weights` where given (REFERENCE_WEIGHTS); None without one."""
    what, short, keys = REFERENCES.get(name, ("target", "target", ()))
    flat = flatten(config)
    for key in (*keys, f"target_{name}", f"{name}_target"):
        value = flat.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            late = start = end = np.nan
            if steps is not None and len(steps):
                window = last_third(steps)
                start, end = (float(np.asarray(steps, float)[window][i]) for i in (0, -1))
                late = float(np.average(values[window], weights=None if weights is None
                                        else weights[window]))
            return Reference(float(value), what, short, key, late, start, end)
    return None


@dataclass(frozen=True)
class TrainingCurves:
    """What the dashboard leaves out: every metric worth a curve that its panels do not draw,
    each in a panel of its own (a metric the run also logged its own average of, in one panel
    with it; a target or reference from the settings as a dotted line), and how the parameter
    norm divides among the parts the run logged a norm of (run_stats.norm_split). The counters
    (samples, FLOPs) are numbers of the summary, not panels; the columns never logged are
    printed, not drawn."""
    curves: list[Curve]              # losses, evaluation metrics, then the rest (panel_order)
    split: NormSplit | None
    counters: list[str]
    never_logged: list[str]
    x_label: str
    smoothing: float
    numbers: Numbers
    selected: str | None = None      # the loss of the selected samples only, if logged
    method: str | None = None        # the method the run trains with (run_method)
    share_keys: dict = field(default_factory=dict)  # part: numbers keys of its first and last
                                                    # share, printed in the legend
    averages: dict = field(default_factory=dict)    # metric -> the run's own average of it
    references: dict = field(default_factory=dict)  # metric -> Reference
    percent: frozenset = frozenset()                # metrics drawn in per cent
    label: str = ""                                 # the run's label (run_label)
    elsewhere: dict = field(default_factory=dict)   # metric -> the book's figure drawing it
    variants: dict = field(default_factory=dict)    # metric -> the plainer metric it weights
                                                    # (run_stats.plain_variant), as a Curve
    variant_below: dict = field(default_factory=dict)  # metric -> it ends below its plainer
                                                       # metric (by numbers' VariantGap...)

    @property
    def panel_curves(self) -> list[Curve]:
        """The curves with a panel of their own (a run's own average shares its metric's)."""
        inside = set(self.averages.values())
        return [curve for curve in self.curves if curve.name not in inside]

    @property
    def panels(self) -> int:
        return len(self.panel_curves) + (2 if self.split is not None else 0)


def panel_order(names: list[str]) -> list[str]:
    """Losses first, then the other evaluation metrics, then the rest, each in log order."""
    def key(item):
        i, name = item
        loss = run_stats.family(name) == "loss"
        return (not loss, not loss and run_stats.role(name) != "evaluation", i)

    return [name for _, name in sorted(enumerate(names), key=key)]


def plotted_metrics(run: Run) -> tuple[list[str], list[str]]:
    """(metrics drawn, metrics never logged): the metrics the dashboard leaves out (never a
    clock or a counter), losses first, then evaluation metrics, then the rest."""
    _, never_logged = run_stats.logged_metrics(run)
    return panel_order(run_stats.left_out_metrics(run)), never_logged


def training_curves_metrics(run: Run, elsewhere=()) -> tuple[list[str], NormSplit | None]:
    """(the metrics training_curves draws, the norm split it draws): what the dashboard leaves
    out, a norm it left out only once (in the split, if it is a part), but for the metrics
    `elsewhere` (another figure of the book draws them for this run)."""
    drawn, _ = plotted_metrics(run)
    split = run_stats.norm_split(run)
    parts = set(split.parts) if split is not None else set()
    return [name for name in drawn if name not in parts and name not in elsewhere], split


def training_curves_panels(run: Run, elsewhere=()) -> int:
    drawn, split = training_curves_metrics(run, elsewhere)
    averages = run_stats.own_averages(drawn)
    inside = {average for average in averages.values()}
    return len([name for name in drawn if name not in inside]) + (2 if split is not None else 0)


def has_training_curves(run: Run, elsewhere=()) -> bool:
    """Whether the run has anything the dashboard (and the book, `elsewhere`) leaves out: the
    figure is made only then."""
    return training_curves_panels(run, elsewhere) > 0


def training_curves_height(run: Run, elsewhere=()) -> float:
    """Inches: three panels a row (two rows of two for four), and a legend line."""
    n = training_curves_panels(run, elsewhere)
    return max(0.3 + 1.5 * math.ceil(max(n, 1) / (2 if n == 4 else 3)), 1.8)


def training_curves_width(run: Run, elsewhere=()) -> float:
    """A share of the text width: a third a panel in a row of three, at least half."""
    n = training_curves_panels(run, elsewhere)
    return 1.0 if n >= 2 else 0.5


def part_label(name: str) -> str:
    return REST_LABEL if name == "rest" else readable(name)


def training_curves_result(run: Run, smoothing: float = SMOOTHING, elsewhere: dict | None = None
                           ) -> TrainingCurves:
    _, never_logged = plotted_metrics(run)
    elsewhere = dict(elsewhere or {})
    drawn, split = training_curves_metrics(run, elsewhere)
    numbers, keys = Numbers(), {}
    label = spell(run_label(run))
    if split is not None:  # each share's first and last value, in the legend
        for part, share in split.shares.items():
            keys[part] = (f"NormShare{spell(part)}First{label}",
                          f"NormShare{spell(part)}Last{label}")
            numbers.add(keys[part][0], 100 * share[0], ".0f")
            numbers.add(keys[part][1], 100 * share[-1], ".0f")
    averages = run_stats.own_averages(drawn)
    references, percent, variants, below = {}, set(), {}, {}
    for name in drawn:
        steps, values = run.series(name)
        if in_percent(name, values):
            percent.add(name)
        if name in averages.values():
            continue
        if name in averages:  # the run's own average of it: what the statistic is of
            steps, values = run.series(averages[name])
        weights = None
        if REFERENCE_WEIGHTS.get(name) in run.columns:
            at, by = run.series(REFERENCE_WEIGHTS[name])
            if np.array_equal(at, steps):
                weights = by
        plain = run_stats.plain_variant(name, run.columns)
        if plain is not None and plain not in drawn:  # drawn by the dashboard: compare here
            variants[name] = run_stats.metric_curve(run, plain, smoothing)
            at, plain_values = run.series(plain)
            scale = 100 if name in percent else 1
            late = scale * (np.mean(values[last_third(steps)])
                            - np.mean(plain_values[last_third(at)]))
            numbers.add(f"VariantGap{spell(name)}{label}", abs(late), ".1f")
            below[name] = bool(late < 0)
        found = reference_of(run.config, name, steps, values, weights)
        if found is not None:
            references[name] = found
            scale = 100 if name in percent else 1
            numbers.add(f"Reference{spell(name)}{label}", scale * found.value, ".3g")
            numbers.add(f"LastThird{spell(name)}{label}", scale * found.late_mean, ".3g")
    return TrainingCurves(
        curves=[run_stats.metric_curve(run, name, smoothing) for name in drawn], split=split,
        counters=run_stats.counters(run), never_logged=never_logged, x_label=run.x_label,
        smoothing=smoothing, numbers=numbers, selected=run_stats.selected_loss(run),
        method=run_method(run.config), share_keys=keys, averages=averages,
        references=references, percent=frozenset(percent), label=run_label(run),
        elsewhere=elsewhere, variants=variants, variant_below=below)


def draw_split(axes, curves: TrainingCurves, styles: Styles, letters) -> None:
    """(a) the norm of each logged part and of the rest, (b) each one's share of the squared
    parameter norm; the legend gives each share's first and last value."""
    ax_norm, ax_share = axes
    split = curves.split
    names = [*split.parts, "rest"]
    styles.other(split.total)  # the total's style first: the dashboard's norm panel's styles
    for k, name in enumerate(names):
        color, linestyle, marker = styles.other(name)
        first, last = (curves.numbers[key] for key in curves.share_keys[name])
        every = spaced(len(split.steps), k)
        line, = ax_norm.plot(split.steps, split.norms[name], color=color, ls=linestyle,
                             lw=1.1, marker=marker, markersize=3, markevery=every)
        styles.entries.setdefault(f"{part_label(name)}, share {first} % $\\to$ {last} %",
                                  line)
        ax_share.plot(split.steps, 100 * split.shares[name], color=color, ls=linestyle,
                      lw=1.1, marker=marker, markersize=3, markevery=every)
    ax_norm.set_ylabel("norm")
    ax_share.set_ylabel(f"share of the squared\n{readable(split.total)} (%)")
    ax_share.set_ylim(0, 100)
    narrow = ax_norm.figure.get_figwidth() < NARROW_IN
    for ax, title in ((ax_norm, "Norm of each part"),
                      (ax_share, "Share of the\nsquared norm" if narrow
                       else "Share of the squared norm")):
        ax.set_xlabel(curves.x_label)
        panel_title(ax, next(letters), title)


def unit_label(name: str, percent: bool) -> str:
    """A panel's y label where its title names the metric: what is measured, and in what."""
    if percent:
        return "accuracy (%)" if run_stats.family(name) == "accuracy" else "share (%)"
    if run_stats.family(name) in ("loss", "norm"):
        return run_stats.family(name)
    return panel_name(readable(name), 22)


def draw_reference(ax, reference: Reference, scale: float, mean: bool = False) -> None:
    """A target or reference from the settings: a dotted ink line across the panel (drawn after
    the data, whose limits it keeps), labelled with its value beside the panel at the line's
    height (above it near the bottom, below it near the top, so the label stays in the
    panel's height). With `mean`, the metric's mean over the last third of the run as a solid
    ink line over those steps, labelled beside the panel too (one label with the reference's
    where the two lie close)."""
    look = meanings.role("reference")
    value = scale * reference.value
    low, high = ax.get_ylim()
    ax.axhline(value, color=look.color, ls=look.linestyle, lw=0.8, zorder=4)
    ax.set_ylim(min(low, value), max(high, value))
    low, high = ax.get_ylim()

    def show(number: float, digits: str) -> str:
        return f"{number:{digits}} %" if scale == 100 else f"{number:.3g}"

    def label(text: str, at: float) -> None:
        where = (at - low) / (high - low) if high > low else 0.5
        ax.annotate(text, xy=(1, at), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", ha="left",
                    va="bottom" if where < 0.3 else "top" if where > 0.7 else "center",
                    fontsize=SMALL, linespacing=1.0)

    text = f"{reference.short}\n{show(value, '.2g')}"
    if not mean or math.isnan(reference.late_mean):
        label(text, value)
        return
    late = scale * reference.late_mean
    ax.plot([reference.late_from, reference.late_to], [late, late], color=INK, lw=1.2,
            solid_capstyle="butt", zorder=5)
    if abs(late - value) < 0.15 * (high - low):  # one label for both
        label(f"{text},\nlast third\n{show(late, '.3g')}", value)
    else:
        label(text, value)
        label(f"last third\n{show(late, '.3g')}", late)


@with_thousands
def training_curves(fig, curves: TrainingCurves):
    styles = Styles(curves.selected, curves.method)
    axes = grid(fig, curves.panels)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    if curves.split is not None:
        draw_split(axes[:2], curves, styles, letters)
    by_name = {curve.name: curve for curve in curves.curves}
    for ax, curve in zip(axes[2 if curves.split is not None else 0:], curves.panel_curves,
                         strict=True):
        look = styles.of(curve.name, alone=True)
        if look.label not in ("training", "validation", "evaluation", "test", SELECTED_LABEL) \
                or run_stats.role(curve.name) is None:  # neither role: not "training"
            look = Look(look.color, look.linestyle, look.marker)  # its panel title names it
        percent = curve.name in curves.percent
        scale = 100 if percent else 1
        average = by_name.get(curves.averages.get(curve.name, ""))
        draw_curve(ax, curve, look, styles=styles, scale=scale, average=average,
                   raw=run_stats.family(curve.name) != "learning_rate")
        if curve.name in curves.variants:  # the plainer metric the dashboard draws, behind
            plain = curves.variants[curve.name]
            line, = ax.plot(plain.drawn.steps, scale * plain.drawn.values, color=GREY, lw=0.9,
                            zorder=1)
            styles.entries.setdefault(f"plain {readable(plain.name)} (dashboard)", line)
        if curve.name in curves.references:
            draw_reference(ax, curves.references[curve.name], scale, mean=True)
        title = f"{readable(curve.name)} ({SELECTED_LABEL})" \
            if curve.name == curves.selected else readable(curve.name)
        if curve.name in curves.variants:  # how far it ends from the plainer metric
            key = f"VariantGap{spell(curve.name)}{spell(curves.label)}"
            unit = " points" if percent else ""
            title += (f": last third {curves.numbers[key]}{unit} "
                      f"{'below' if curves.variant_below[curve.name] else 'above'} plain")
        columns = ax.get_subplotspec().get_gridspec().ncols
        panel_title(ax, next(letters), panel_name(title[0].upper() + title[1:],
                                                  title_width(fig, columns)))
        ax.set_xlabel(curves.x_label)
        ax.set_ylabel(unit_label(curve.name, percent))
        if run_stats.family(curve.name) in ("loss", "norm"):
            log_scale(ax, curve.values)
    styles.legend(fig)


# ---- loss_distribution_<run> -------------------------------------------------------------------
#: The figure's size: a share of the text width and a height in inches (a box per epoch, a
#: finding the caption states: no need for the full width).
LOSS_DISTRIBUTION_WIDTH = 0.62
LOSS_DISTRIBUTION_HEIGHT = 1.75
#: The spread is said to stay about the same when the median interquartile range of the second
#: half of the groups is within this factor of the first half's.
STEADY_FACTOR = 1.5


@dataclass(frozen=True)
class LossDistribution:
    """The spread of the logged training loss around its trend (run_stats.relative_spread:
    each logged value over the centred running median), per epoch or per tenth of the run: a
    box shows how far single logged steps stray from the trend there, not how far the loss fell
    within the epoch. What it shows, in numbers: how far the middle half of each group's steps
    and its whiskers reach, and whether the spread narrows, widens or stays about the same from
    the first half of the groups to the second (their median interquartile ranges)."""
    metric: str
    labels: list[int]                # epoch numbers from 1, or tenths 1..10
    groups: list[np.ndarray]         # logged value / trend, of each group
    boxes: list[BoxStats]            # quartiles, whiskers and outliers of each group
    by_epoch: bool
    partial_last: bool               # the last epoch holds under 90 % of a full one's values
    window: int                      # points of the running median (the trend)
    numbers: Numbers
    method: str | None = None        # the method the run trains with (run_method)
    middle_half: float = float("nan")  # per cent: every box lies within 1 +- this
    whiskers: float = float("nan")     # per cent: every whisker ends within 1 +- this
    iqr_first: float = float("nan")    # per cent: median interquartile range, first half
    iqr_second: float = float("nan")   # ... and second half of the groups
    label: str = ""                    # the run's label (run_label)

    @property
    def trend(self) -> str:
        """'stays about the same', 'narrows' or 'widens' (STEADY_FACTOR)."""
        if self.iqr_second > STEADY_FACTOR * self.iqr_first:
            return "widens"
        if self.iqr_first > STEADY_FACTOR * self.iqr_second:
            return "narrows"
        return "stays about the same"


def distributed_loss(run: Run) -> str | None:
    """The training loss whose spread is drawn: the run's training loss (the whole batch's,
    never the selected samples' only) if logged at ten or more steps, else the first other
    training loss that is; None when there is none, or when it has no step noise (full-batch
    training: every box would be a line at 1), and the figure is then not made."""
    losses = [name for name in run_stats.drawn_metrics(run)
              if run_stats.family(name) == "loss" and run_stats.role(name) != "evaluation"
              and name != run_stats.selected_loss(run)]
    preferred = [name for name in (run_stats.training_loss(run, aggregate=False),)
                 if name in losses] + losses
    for name in preferred:
        steps, values = run.series(name)
        if len(steps) >= 10:
            return name if run_stats.has_step_noise(values) else None
    return None


def loss_distribution_result(run: Run) -> LossDistribution:
    metric = distributed_loss(run)
    if metric is None:
        raise RunError(f"{run.path}: no training loss logged at ten or more steps")
    epoch = run_stats.epoch_column(run)
    values = run.column(metric)
    logged = ~np.isnan(values)
    spread = np.full(len(values), np.nan)
    spread[logged] = run_stats.relative_spread(values[logged])
    epochs = None
    if epoch:
        epochs = np.full(len(values), np.nan)
        epochs[logged] = run_stats.epoch_labels(run.metrics[epoch][logged])
    grouped = run_stats.epoch_groups(run.column("step"), spread, epochs)
    # partial: the last epoch logged fewer values than the others (counted before the trend's
    # half windows are left out at the ends)
    logged_per_epoch = [len(group) for group in
                        run_stats.epoch_groups(run.column("step"), values, epochs).groups]
    partial = grouped.by_epoch and len(logged_per_epoch) > 2 and \
        logged_per_epoch[-1] < 0.9 * np.median(logged_per_epoch[:-1])
    n = int(logged.sum())
    window = run_stats.trend_window(n)
    boxes = [run_stats.box_stats(group) for group in grouped.groups]
    middle = 100 * max(max(b.upper_quartile - 1, 1 - b.lower_quartile) for b in boxes)
    whiskers = 100 * max(max(b.whisker_high - 1, 1 - b.whisker_low) for b in boxes)
    iqrs = [100 * (b.upper_quartile - b.lower_quartile) for b in boxes]
    half = max(1, len(iqrs) // 2)
    first, second = float(np.median(iqrs[:half])), float(np.median(iqrs[-half:]))
    numbers, label = Numbers(), spell(run_label(run))
    numbers.add(f"SpreadMiddleHalf{label}", middle, ".1f")
    numbers.add(f"SpreadWhiskers{label}", whiskers, ".1f")
    numbers.add(f"SpreadIqrFirstHalf{label}", first, ".1f")
    numbers.add(f"SpreadIqrSecondHalf{label}", second, ".1f")
    return LossDistribution(
        metric=metric, labels=grouped.labels, groups=grouped.groups, boxes=boxes,
        by_epoch=grouped.by_epoch, partial_last=bool(partial), window=window, numbers=numbers,
        method=run_method(run.config), middle_half=middle, whiskers=whiskers, iqr_first=first,
        iqr_second=second, label=run_label(run))


def loss_distribution(fig, distribution: LossDistribution):
    """A box per group of the logged loss's deviation from its trend, in per cent."""
    ax = fig.subplots()
    boxes = [{"med": 100 * (box.median - 1), "q1": 100 * (box.lower_quartile - 1),
              "q3": 100 * (box.upper_quartile - 1), "whislo": 100 * (box.whisker_low - 1),
              "whishi": 100 * (box.whisker_high - 1), "fliers": 100 * (box.outliers - 1),
              "mean": 100 * (box.mean - 1)} for box in distribution.boxes]
    positions = np.arange(len(boxes))
    color, _ = Styles(method=distribution.method).role("training")  # a training loss
    reference = meanings.role("reference")
    ax.axhline(0, color=reference.color, lw=0.6, ls=reference.linestyle)
    ax.bxp(boxes, positions=positions, widths=0.6, showfliers=True, patch_artist=True,
           boxprops=dict(facecolor=tint(color, 0.7), linestyle="solid", edgecolor=color,
                         linewidth=0.7),
           medianprops=dict(color=INK, linewidth=0.9), whiskerprops=dict(color=color,
                                                                          linewidth=0.7),
           capprops=dict(color=color, linewidth=0.7),
           flierprops=dict(marker="o", markersize=1.8, markeredgecolor=MUTED,
                           markerfacecolor="none", markeredgewidth=0.5))
    labels = [str(label) for label in distribution.labels]
    if len(labels) > 12:  # every fifth (and the first, unless a fifth is next to it) labelled:
        # they fit a narrow figure
        fifths = [i for i, text in enumerate(labels) if int(text) % 5 == 0]
        keep = set(fifths) | ({0} if not fifths or fifths[0] >= 3 else set())
        labels = [text if i in keep else "" for i, text in enumerate(labels)]
    if distribution.partial_last:
        labels[-1] = f"{distribution.labels[-1]}\n(part)"
    ax.set_xticks(positions, labels)
    ax.set_xlabel("epoch" if distribution.by_epoch else "tenth of the run (by step)")
    ax.set_ylabel("loss above its\ntrend (%)")  # the caption names the loss


# ---- optimization_dynamics_<run> ---------------------------------------------------------------
@dataclass(frozen=True)
class OptimizationDynamics:
    """Rates, not levels (the dashboard draws the levels): the generalization gap, like for
    like; how fast the training loss falls; how fast each weight norm changes, beside the pull
    of decoupled weight decay alone; how far each checkpointed parameter moves per step. The
    panels the run logged what they need for (at least one)."""
    train: str | None                # the training loss the gap uses (an aggregate first)
    validation: str | None           # the validation loss column, if logged
    gap: Curve | None                # validation minus training loss (needs both)
    rate: Curve | None               # -d ln(smoothed training loss) / d step
    norm_rates: list[Curve]          # d ln||w|| / d step of each weight norm, in `norms` order
    norms: list[str]                 # the weight norms those are of
    pull: Curve | None               # ln(1 - lr wd): decoupled weight decay alone, per step
    changes: list[ParameterChanges]  # net relative change per step between checkpoints
    x_label: str
    log_steps: bool                  # steps drawn on a logarithmic axis (LOG_STEP_DECADES)
    numbers: Numbers
    rate_of: str | None = None       # the training loss the rate is of (per step)
    gap_how: str = ""                # how the gap reads the training loss at an evaluation step
                                     # (run_stats.training_loss_at: aggregate, trend or value)
    gap_is_validation: bool = False  # no gap drawn: the training loss is negligible beside the
                                     # validation loss, so it would redraw the validation loss
    method: str | None = None        # the method the run trains with (run_method)
    gap_median: float = float("nan")  # the gap's median over the second half of its steps
                                      # (drawn as a dotted line over them)
    gap_late_from: float = float("nan")  # the first step of that second half
    rate_trend: Curve | None = None   # a noisy rate's centred running median (loss_trend)
    fall_step: float = float("nan")   # the step by which the training loss's trend had done
                                      # FALL_SHARE of its fall in log over the run (noisy only)
    label: str = ""                   # the run's label (run_label)
    rate_span: int = 1                # values the rate's moving average spans; the rate is
                                      # drawn from the span-th logged value (run_stats.log_slope)
    rate_from: float = float("nan")   # ...which was logged at this step
    norm_share_of_pull: float = float("nan")  # median |d ln||w||/d step| of the first norm over
                                              # the second half of the run, over |pull|

    @property
    def gap_label(self) -> str:
        """Two lines: it must fit a third of a narrow page."""
        return f"{evaluation_word(self.validation or '')} $-$\ntraining loss"

    @property
    def panels(self) -> int:
        return (self.gap is not None) + (self.rate is not None) + bool(self.norm_rates) \
            + bool(self.changes)


def log_steps(run: Run) -> bool:
    """Whether the run's positive steps span LOG_STEP_DECADES decades or more."""
    steps = run.column("step")
    steps = steps[np.isfinite(steps) & (steps > 0)]
    if len(steps) < 2 or run.x_label != "step":
        return False
    return bool(portable.log(steps.max() / steps.min(), 10) >= LOG_STEP_DECADES)


def learning_rate_series(run: Run) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """The logged learning rate (a schedule, or a constant logged at every step), if any."""
    logged, _ = run_stats.logged_metrics(run)
    name = next((n for n in logged if run_stats.family(n) == "learning_rate"), None)
    return run.series(name) if name else (None, None)


def _rate_weight(run: Run, name: str, smoothing: float) -> float:
    return run_stats.rate_weight(run.series(name)[1], max(smoothing, RATE_SMOOTHING))


#: The share of a noisy training loss's fall (in log, from its first logged value to its trend's
#: last) whose step the improvement rate panel marks: where the rest of the run is the tail.
FALL_SHARE = 0.9


def _optimization_dynamics(run: Run, smoothing: float) -> OptimizationDynamics:
    train, validation = _losses(run)
    per_step = run_stats.training_loss(run, aggregate=False)
    gap, how, redraws = None, "", False
    if train and validation:
        redraws = run_stats.gap_is_validation_loss(run, train, validation)
        if not redraws:
            gap, how = run_stats.generalization_gap(run, train, validation)
            gap = gap if len(gap.steps) else None
    rate = run_stats.improvement_rate(run, per_step, _rate_weight(run, per_step, smoothing)) \
        if per_step else None
    norm_rates, norms = [], []
    for name in run_stats.weight_norms(run)[:3]:
        curve = run_stats.norm_rate(run, name, _rate_weight(run, name, smoothing))
        if curve is not None:
            norm_rates.append(curve)
            norms.append(name)
    pull, share = None, float("nan")
    found = run_stats.decay_pull(run.config, *learning_rate_series(run)) if norm_rates else None
    if found is not None:
        steps, values = found
        if len(steps) == 0:  # a constant learning rate: a line across the norms' steps
            span = norm_rates[0].steps
            steps, values = np.array([span[0], span[-1]]), np.repeat(values, 2)
        pull = run_stats.plain_curve("weight decay alone", steps, values)
        first = norm_rates[0]
        late = first.steps >= first.steps[-1] / 2
        if late.any() and len(values) == 2 and values[0] != 0:
            share = float(np.median(np.abs(first.values[late])) / abs(values[0]))
    changes = run_stats.parameter_changes({step: run.load_checkpoint(step)
                                           for step in run.checkpoints})
    numbers = Numbers()
    if not math.isnan(share):
        numbers.add(f"NormRateShareOfPull{spell(run_label(run))}", 100 * share, ".1f")
    median = late_from = float("nan")
    if gap is not None:
        late_from = float(gap.steps[gap.steps >= gap.steps[-1] / 2][0])
        median = float(np.median(gap.values[gap.steps >= late_from]))
        numbers.add(f"GapLateMedian{spell(run_label(run))}", median, ".2g")
    rate_trend, fall = None, float("nan")
    if rate is not None and _rate_weight(run, per_step, smoothing) > 0:  # noisy: its trend
        rate_trend = run_stats.plain_curve(rate.name, rate.steps,
                                           run_stats.loss_trend(rate.values))
        fall = run_stats.fall_done_by(*run.series(per_step), FALL_SHARE)
        if not math.isnan(fall):  # NaN: a loss that does not fall (no line, no number)
            numbers.add(f"FallStep{spell(run_label(run))}", fall, ",.0f")
    if log_steps(run):  # each decade its share of the drawn points
        gap, rate, rate_trend = (curve and run_stats.on_log_axis(curve)
                                 for curve in (gap, rate, rate_trend))
        norm_rates = [run_stats.on_log_axis(curve) for curve in norm_rates]
    span, rate_from = 1, float("nan")
    if rate is not None:
        weight = _rate_weight(run, per_step, smoothing)
        steps = run.series(per_step)[0]
        span = run_stats.average_span(run_stats.per_value_weight(weight, len(steps)))
        rate_from = float(steps[span - 1])
    return OptimizationDynamics(
        rate_span=span, rate_from=rate_from,
        train=train, validation=validation, gap=gap, rate=rate, norm_rates=norm_rates,
        norms=norms, pull=pull, changes=changes, x_label=run.x_label, log_steps=log_steps(run),
        numbers=numbers, rate_of=per_step, gap_how=how if gap is not None else "",
        gap_is_validation=redraws,
        method=run_method(run.config), gap_median=median, norm_share_of_pull=share,
        label=run_label(run), gap_late_from=late_from, rate_trend=rate_trend, fall_step=fall)


def optimization_dynamics_result(run: Run, smoothing: float = SMOOTHING
                                 ) -> OptimizationDynamics:
    return run_stats.memo(run, ("optimization_dynamics", smoothing),
                          lambda: _optimization_dynamics(run, smoothing))


def optimization_dynamics_height(run: Run) -> float:
    """Inches: three panels a row, a legend line."""
    rows = math.ceil(max(optimization_dynamics_result(run).panels, 1) / 3)
    return 0.3 + 2.0 * rows


def labelled_log_ticks(ax, axis: str = "y") -> None:
    """Ticks at 1, 2 and 5 of each decade, each labelled, on a log axis spanning under two
    decades (where labels on the decades alone would leave one or none)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    def label(value, _):
        exponent = math.floor(math.log10(value) + 1e-9)
        mantissa = round(value / 10 ** exponent)
        return f"${mantissa}\\times 10^{{{exponent}}}$" if mantissa != 1 \
            else f"$10^{{{exponent}}}$"

    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(label))
    target.set_minor_locator(NullLocator())


@with_thousands
def optimization_dynamics(fig, dynamics: OptimizationDynamics):
    axes = iter(grid(fig, dynamics.panels))
    letters = iter("abcd")
    styles = Styles(method=dynamics.method)
    color, _ = styles.role("training")  # every rate is of a training-side quantity
    narrow = fig.get_figwidth() < NARROW_IN
    step = dynamics.x_label.split()[0]
    drawn = []
    reference = meanings.role("reference")
    if dynamics.gap is not None:
        ax = next(axes)
        ax.plot(dynamics.gap.drawn.steps, dynamics.gap.drawn.values, color=tint(color, 0.35),
                lw=0.8, marker="o" if dynamics.gap.sparse else None, markersize=2.2)
        ax.axhline(0, color=MUTED, lw=0.5)
        if not math.isnan(dynamics.gap_median):  # its median over the second half
            ax.plot([dynamics.gap_late_from, dynamics.gap.steps[-1]], [dynamics.gap_median] * 2,
                    color=reference.color, ls=reference.linestyle, lw=1.2, zorder=4)
            ax.annotate(f"median,\nsecond half:\n${dynamics.gap_median:.2g}$",
                        xy=(1, dynamics.gap_median), xycoords=("axes fraction", "data"),
                        xytext=(3, 0), textcoords="offset points", ha="left", va="center",
                        fontsize=SMALL, linespacing=1.0)
        ax.set_ylabel(dynamics.gap_label)
        panel_title(ax, next(letters), "Generalization\ngap" if narrow else "Generalization gap")
        drawn.append(ax)
    if dynamics.rate is not None:
        ax = next(axes)
        trend = dynamics.rate_trend
        ax.plot(dynamics.rate.drawn.steps, dynamics.rate.drawn.values,
                color=color, lw=0.5 if trend is not None else 0.8,
                alpha=0.3 if trend is not None else 1.0)  # a trend on top: the rate faint
        if trend is not None:
            ax.plot(trend.drawn.steps, trend.drawn.values, color=color, lw=1.2)
        if not math.isnan(dynamics.fall_step):
            ax.axvline(dynamics.fall_step, color=reference.color, ls=reference.linestyle,
                       lw=0.8)
        ax.axhline(0, color=MUTED, lw=0.5)
        ax.set_ylabel(f"$-\\,d \\ln(\\mathrm{{loss}}) / d\\,${step}")
        title = "Improvement\nrate" if narrow else "Improvement rate"
        if not math.isnan(dynamics.fall_step):  # what the dotted line marks (the caption: where)
            title = f"Improvement rate\n(dotted: {100 * FALL_SHARE:.0f} % of its fall)"
        panel_title(ax, next(letters), title)
        drawn.append(ax)
    if dynamics.norm_rates:
        ax = next(axes)
        for k, (curve, name) in enumerate(zip(dynamics.norm_rates, dynamics.norms,
                                               strict=True)):
            # as the dashboard draws these norms: styles of neither role, one alone solid
            look = styles.of(name, alone=len(dynamics.norms) == 1)
            ax.plot(curve.drawn.steps, curve.drawn.values, lw=0.9, label=readable(name),
                    color=look.color, ls=look.linestyle, marker=look.marker, markersize=3,
                    markevery=spaced(len(curve.drawn.steps), k) if look.marker else None)
        if dynamics.pull is not None:
            reference = meanings.role("reference")
            ax.plot(dynamics.pull.steps, dynamics.pull.values, color=reference.color,
                    ls=reference.linestyle, lw=0.9, label="weight decay alone")
        ax.axhline(0, color=MUTED, lw=0.5)
        ax.set_ylabel(f"$d \\ln\\|w\\| / d\\,${step}")
        panel_title(ax, next(letters), "Change of\nthe norms" if narrow
                    else "Change of the norms")
        if len(dynamics.norm_rates) > 1 or dynamics.pull is not None:
            legend_over(fig, ax)  # it serves this panel only
        drawn.append(ax)
    if dynamics.changes:
        ax = next(axes)
        looks = meanings.unnamed(3)
        changes = dynamics.changes[:len(looks)]
        for line_style, change in zip(looks, changes, strict=False):
            edges = change.edges.copy()
            if dynamics.log_steps and edges[0] <= 0:  # the updates 1..edges[1]
                edges[0] = 1 if edges[1] > 1 else edges[1] / 2
            ax.stairs(change.per_step, edges, color=color if dynamics.method
                      else line_style["color"], ls=line_style["linestyle"], lw=0.9,
                      baseline=None, label=display(change.name))
        values = np.concatenate([change.per_step for change in changes])
        if log_if_wide(ax, values, decades=1.0):
            labelled_log_ticks(ax)
        what = f"the {display(changes[0].name)}" if len(changes) == 1 else "the parameters"
        ax.set_ylabel("$\\|\\Delta\\theta\\| / \\|\\theta\\|$ per " + step
                      + (f",\n$\\theta$: {what}" if len(changes) == 1 else ""))
        panel_title(ax, next(letters), f"Movement of\n{what}" if narrow
                    else f"Movement of {what}")
        if len(changes) > 1:
            legend_over(fig, ax)
        drawn.append(ax)
    for ax in drawn:
        ax.set_xlabel(dynamics.x_label)
        if dynamics.log_steps:
            ax.set_xscale("log")
            low, high = portable.log(np.array(ax.get_xlim()), 10)
            if np.floor(high + 1e-9) - np.ceil(low - 1e-9) < 2:  # fewer than three decades
                labelled_log_ticks(ax, "x")                       # labelled: 1, 2 and 5 too


# ---- comparison_dashboard (several runs) -------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One line of a comparison: a run, or runs that differ only in their seed (a group)."""
    label: str
    n: int                           # runs in it
    curve: Curve | None              # a single run's curve
    band: Band | None                # a group's median and min-max band
    value: float                     # at the common step (a group: the median), or the steps
                                     # to the threshold (NaN: not reached by every run)
    low: float                       # a group's min and max of that value (a run: the value)
    high: float
    last_step: float                 # the last step logged (a group: the furthest)
    setting: object                  # the value of the varying setting, or None
    held: bool = True                # threshold mode: every run still met it at its last step
    meaning: str | None = None       # "baseline", a method's key (its runs train with it), or
                                     # None: an ordered value (entry_styles)
    short: str = ""                  # the label without n and compute (a legend beside panel b,
                                     # whose axis gives them)
    values: tuple = ()               # each run's value (common step), or first step at the
                                     # threshold (NaN: never), in run order
    budget: float | None = None      # the step budget its runs' settings give (max_steps)
    runs: tuple = ()                 # its runs' names
    carried: int = 0                 # common step: its runs that stopped early (their stop
                                     # rule held) before it, counted with their last value

    @property
    def reached(self) -> int:
        """Threshold mode: how many of its runs reached the threshold."""
        return int(np.sum(~np.isnan(np.asarray(self.values, float))))


@dataclass(frozen=True)
class Comparison:
    """Several runs on one metric: the curves, and a fair number per run: the value at the
    last step (or amount of a logged counter, such as compute) every run reached, or the steps
    each took to reach a threshold."""
    metric: str
    mode: str                        # "common step" or "threshold"
    step: float                      # the common step or counter value (mode "common step")
    threshold: float | None
    higher: bool                     # larger is better
    varying: str | None              # the setting the runs are ordered by
    entries: list[Entry]             # in the order of the varying setting (or as given)
    x_label: str
    numbers: Numbers
    x: str | None = None             # the counter the runs are compared along (None: step)
    x_name: str = "step"             # how a title names it ("compute")
    x_share: bool = False            # x in per cent of the baseline's final counter value
    percent: bool = False            # the metric is drawn in per cent

    @property
    def at_text(self) -> str:
        """Where the runs are compared: 'step 2,110', '10 % compute'."""
        if self.x is None:
            return f"step {self.step:,.0f}"
        if self.x_share:
            return f"{self.step:.3g} % {self.x_name}"
        return f"{self.x_name} {self.step:,.4g}"


#: A median below this share of its metric's range counts as far below the threshold.
FAR_BELOW = 0.1


def sweep_outcome(comparison: Comparison, runs: list[Run]) -> str:
    """One sentence on a sweep compared at its common step: the stop rule its runs' settings
    give (threshold and steps held), then which settings' medians reach the threshold, stay
    below it, or stay far below (under FAR_BELOW), in the order of the setting."""
    hold = {run.config.get("stop_hold") for run in runs} - {None}
    reasons = {run.config.get("stopped_reason") for run in runs} - {None}
    threshold = next(float(m.group(1)) for reason in sorted(reasons)
                     if (m := re.search(r">=\s*([\d.]+)", reason)))
    scale, unit = (100, "\\,\\%") if comparison.percent else (1, "")
    level = f"$\\geq$ {scale * threshold:g}{unit}"
    groups = {"reached": [], "below": [], "far": []}
    for entry in comparison.entries:
        kind = ("reached" if entry.value >= threshold
                else "far" if entry.value < FAR_BELOW else "below")
        groups[kind].append(f"{entry.setting:g}")
    parts = [f"{', '.join(settings)} {words}" for words, settings in
             ((level, groups["reached"]), ("below", groups["below"]),
              ("far below", groups["far"])) if settings]
    (steps,) = hold
    return f"Rule: {level} for {steps:,} steps. Medians: {', '.join(parts)}."


def common_metric(runs: list[Run], candidates=()) -> str:
    """The metric runs are compared on: the first of `candidates` every run logged, else the
    first loss every run logged (an evaluation loss first); RunError if none."""
    logged = [set(run_stats.curve_metrics(run)) for run in runs]
    shared = [name for name in run_stats.curve_metrics(runs[0])
              if all(name in other for other in logged[1:])]
    for name in candidates:
        if name in shared:
            return name
    losses = [name for name in shared if run_stats.family(name) == "loss"]
    ranked = sorted(losses, key=lambda n: run_stats.role(n) != "evaluation")
    if ranked:
        return ranked[0]
    raise RunError(f"runs {', '.join(run.name for run in runs)} share none of "
                   f"{list(candidates) or 'their losses'}")


def entries_of(runs: list[Run], varying: str | None, names: dict | None = None,
               baseline: str | None = None
               ) -> list[tuple[list[int], str, str, object, str | None]]:
    """Groups of runs (seed groups; single runs alone) with their label, short label (without
    n and compute), setting value and meaning, ordered by the varying setting. `names` renames
    a group (by its name without the seed suffix) in its label; the group of that name
    `baseline` is the baseline; a group whose label or configuration names a method of the
    table (run_method: random selection, gated selection, LoRA...) is that method's."""
    labels = [run_label(run) for run in runs]
    folders = {label.rpartition("/")[0] for label in labels}
    if len(folders) == 1 and folders != {""}:  # 'grokking/wd_0' -> 'wd_0' when all share it
        labels = [label.rpartition("/")[2] for label in labels]
    groups = run_stats.seed_groups([run.name for run in runs], [run.config for run in runs])
    found = []
    for members in groups:
        first = runs[members[0]]
        stem = run_stats.seed_stem(labels[members[0]]) if len(members) > 1 \
            else labels[members[0]]
        value = None
        if varying is not None:
            value = run_stats.flatten(first.config).get(varying)
            label = f"{display(varying)} {value:g}" if isinstance(value, (int, float)) \
                else f"{display(varying)} {display(str(value))}"
        else:
            label = display((names or {}).get(stem, stem))
        short = label
        shares = [runs[i].config.get(key) for i in members for key in COMPUTE_SHARE_KEYS
                  if isinstance(runs[i].config.get(key), (int, float))]
        if len(shares) == len(members):
            label += f" (n={len(members)}, {100 * float(np.median(shares)):.0f} % compute)"
        else:
            label += f" (n={len(members)})"
        named = meanings.named_in(label)
        meaning = "baseline" if baseline is not None and stem == baseline else \
            named.key if named is not None and named.group == "method" else \
            run_method(first.config)
        found.append((members, label, short, value, meaning))

    def order(item):
        value = item[3]
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return (0, value, "") if numeric else (1, 0, str(value) if value is not None else "")

    if varying is not None:
        found.sort(key=order)
    return found


def counter_series(run: Run, metric: str, x: str | None, total: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """`metric` against step, or against the logged counter `x` (its value in the rows where
    both were logged), in per cent of `total` when given."""
    if x is None:
        return run.series(metric)
    values, counter = run.column(metric), run.column(x)
    rows = ~np.isnan(values) & ~np.isnan(counter)
    along = counter[rows] if total is None else 100 * counter[rows] / total
    return along, values[rows]


def baseline_total(runs: list[Run], x: str, baseline: str | None) -> float | None:
    """The median final value of counter `x` over the baseline's runs (what 100 % is), or None
    without a baseline."""
    if baseline is None:
        return None
    finals = [run.series(x)[1][-1] for run in runs
              if run_stats.seed_stem(run.name) == baseline and len(run.series(x)[1])]
    return float(np.median(finals)) if finals else None


def group_band(runs: list[Run], metric: str, x: str | None, total: float | None) -> Band:
    """A seed group's median and min-max band of `metric` at the steps its runs share, drawn
    against step or, with a counter `x`, against the median of its runs' counter values at those
    steps (in per cent of `total` when given): the runs' counters differ a little (a selection
    trains a varying number of samples), their evaluation steps do not."""
    band = run_stats.band([run.series(metric) for run in runs])
    if x is None:
        return band
    counters = np.median([np.interp(band.steps, *run.series(x)) for run in runs], axis=0)
    along = counters if total is None else 100 * counters / total
    return Band(steps=along, median=band.median, low=band.low, high=band.high, n=band.n)


#: Settings keys in which a run records why it stopped; a reason that does not start with one of
#: STOPPED_AT_BUDGET means it stopped by its own rule (early stopping) before its step budget.
STOP_REASON_KEYS = ("stopped_reason", "stop_reason")
STOPPED_AT_BUDGET = ("max_steps", "max_epochs", "budget")


def stopped_early(run: Run) -> float | None:
    """The step budget of a run that stopped before it by its own stop rule (its settings say
    why it stopped, and not at its budget: an early stop that held, not a crash); else None."""
    flat = flatten(run.config)
    reason = next((flat[key] for key in STOP_REASON_KEYS if isinstance(flat.get(key), str)),
                  None)
    budget = headline_value(run.config, "max_steps")
    steps = run.column("step")
    steps = steps[np.isfinite(steps)]
    if reason is None or reason.startswith(STOPPED_AT_BUDGET) or not len(steps) \
            or not isinstance(budget, (int, float)) or budget <= steps.max():
        return None
    return float(budget)


def carried_forward(along: np.ndarray, values: np.ndarray, budget: float | None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A series, with its last value carried forward to `budget` (a run that stopped early once
    its stop rule held: what it would have shown at its budget, by that rule)."""
    if budget is None or not len(along) or budget <= along[-1]:
        return along, values
    return np.append(along, budget), np.append(values, values[-1])


def step_budget(runs: list[Run]) -> float | None:
    """The step budget the runs' settings give (max_steps, else steps), if they agree."""
    budgets = {headline_value(run.config, "max_steps") for run in runs}
    budget = budgets.pop() if len(budgets) == 1 else None
    return float(budget) if isinstance(budget, (int, float)) else None


def comparison_dashboard_result(runs: list[Run], metric: str | None = None,
                                threshold: float | None = None,
                                smoothing: float = SMOOTHING, baseline: str | None = None,
                                names: dict | None = None, x: str | None = None,
                                x_name: str | None = None, x_label: str | None = None
                                ) -> Comparison:
    metric = common_metric(runs, [metric] if metric else ())
    higher = run_stats.higher_is_better(metric)
    total = baseline_total(runs, x, baseline) if x is not None else None
    series = [counter_series(run, metric, x, total) for run in runs]
    for run, (along, _) in zip(runs, series, strict=True):
        if len(along) == 0:
            raise RunError(f"{run.path}: {metric!r} is never logged in a row with {x!r}")
    # along steps, a run that stopped early (its stop rule held) counts with its last value up
    # to its budget: the runs are compared at the smallest budget, not where one stopped
    early = [stopped_early(run) if x is None and threshold is None else None for run in runs]
    extended = [carried_forward(*pair, budget)
                for pair, budget in zip(series, early, strict=True)]
    step = run_stats.common_step(extended)
    if threshold is None:  # every run needs a value logged at or before the common step
        first = max(range(len(runs)), key=lambda i: extended[i][0][0])
        if extended[first][0][0] > step:
            ended = min(range(len(runs)), key=lambda i: extended[i][0][-1])
            raise RunError(f"the runs share no {x or 'step'} at which all logged {metric!r}: "
                           f"{runs[ended].path} logged it last at {step:,g}, "
                           f"{runs[first].path} first at {extended[first][0][0]:,g}")
    varying = run_stats.varying_setting([run.config for run in runs])
    entries = []
    for members, label, short, value, meaning in entries_of(runs, varying, names, baseline):
        if threshold is None:
            values = [run_stats.value_at(*extended[i], step) for i in members]
        else:
            values = [run_stats.steps_to(*series[i], threshold, higher) for i in members]
        finite = [v for v in values if not np.isnan(v)]
        held = threshold is None or all(
            (series[i][1][-1] >= threshold) if higher else (series[i][1][-1] <= threshold)
            for i in members)
        if threshold is not None and len(finite) < len(values):
            middle = low = high = np.nan  # a group reached it only if every run did
        else:
            middle, low, high = float(np.median(values)), min(values), max(values)
        single = len(members) == 1
        entries.append(Entry(
            label=label, n=len(members),
            curve=run_stats.plain_curve(metric, *series[members[0]]) if single
            else None,  # as logged, like a group's median: never one smoothed, one raw
            band=None if single else group_band([runs[i] for i in members], metric, x, total),
            value=middle, low=low, high=high,
            last_step=float(max(series[i][0][-1] for i in members)), setting=value,
            held=bool(held), meaning=meaning, short=short, values=tuple(values),
            budget=step_budget([runs[i] for i in members]),
            runs=tuple(runs[i].name for i in members),
            carried=sum(early[i] is not None and series[i][0][-1] < step for i in members)))
    if len(entries) > MAX_COMPARED:
        raise RunError(f"{len(entries)} runs or seed groups; at most {MAX_COMPARED} can be "
                       "compared legibly")
    numbers = Numbers()
    if threshold is None:
        if x is None:
            numbers.add("CommonStep", step, ",.0f")
        else:
            numbers.add(f"Common{spell(x)}", step, ".3g")
    name = x_name or (readable(x) if x is not None else "step")
    if x is None:
        label = runs[0].x_label
    else:
        label = x_label or (f"{readable(x)} (% of the baseline's total)" if total
                            else readable(x))
    return Comparison(metric=metric, mode="common step" if threshold is None else "threshold",
                      step=step, threshold=threshold, higher=higher, varying=varying,
                      entries=entries, x_label=label, numbers=numbers, x=x, x_name=name,
                      x_share=total is not None,
                      percent=all(in_percent(metric, values) for _, values in series))


#: Markers of a method's second, third... entry (its first: the method's own marker): none
#: another method's, none hollow (published).
METHOD_EXTRA_MARKERS = ("P", "*", "h", "p")
#: Markers of ordered values (a second channel beside the sequential colours, which are hard to
#: tell apart beyond three or four): the book's, so a setting keeps its marker in every chapter.
ORDERED_MARKERS = meanings.ORDERED_MARKERS


def entry_styles(entries: list[Entry]) -> list[dict]:
    """A colour, line style and marker per entry, from the table of meanings: the baseline's
    grey, solid, squares; a method's colour, line style and marker for the runs of a method
    (several entries of one method: its one colour, each after the first with a marker of its
    own, METHOD_EXTRA_MARKERS: a lighter tint would borrow the baseline's grey); the sequential
    colours of
    ordered values, in entry order (the order of the setting that varies), each with its own
    marker, for the rest."""
    from matplotlib.colors import to_hex

    rest = [i for i, entry in enumerate(entries) if entry.meaning is None]
    # as hex: figkit.checks reads a colour given as an RGB tuple as RGBA
    ordered = [to_hex(color) for color in meanings.ordered(len(rest))] if rest else []
    methods: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        if entry.meaning not in (None, "baseline"):
            methods.setdefault(entry.meaning, []).append(i)
    styles = []
    for i, entry in enumerate(entries):
        if entry.meaning == "baseline":
            baseline = meanings.role("baseline")
            styles.append({"color": to_hex(baseline.color), "linestyle": baseline.linestyle,
                           "marker": baseline.marker})
        elif entry.meaning is not None:
            method, same = meanings.method(entry.meaning), methods[entry.meaning]
            k = same.index(i)
            styles.append({"color": to_hex(method.color), "linestyle": method.linestyle,
                           "marker": method.marker if k == 0 else
                           METHOD_EXTRA_MARKERS[(k - 1) % len(METHOD_EXTRA_MARKERS)]})
        else:
            k = rest.index(i)
            styles.append({"color": ordered[k], "linestyle": "-",
                           "marker": ORDERED_MARKERS[k % len(ORDERED_MARKERS)]})
    return styles


#: Opacity of a seed group's min-max band: a light tint of its line's colour, where bands
#: overlap still seen through each other.
BAND_ALPHA = 0.22


def draw_entry(ax, entry: Entry, style: dict, scale: float = 1.0, index: int = 0,
               positive: bool = False, validation: bool = False):
    """A run's curve as logged, or a group's median with its min-max band, a light tint of the
    entry's colour; the entry's marker spaced out along the line (its second channel); only
    where x > 0 on a `positive` (log) axis; a `validation` (held-out) metric in the validation
    role's dashes, whatever the entry's own line style (colour and marker tell entries apart)."""
    if entry.band is None:
        steps, values = entry.curve.drawn.steps, entry.curve.drawn.values
        keep = steps > 0 if positive else slice(None)
    else:
        band = run_stats.thin_band(entry.band)  # for drawing only
        keep = band.steps > 0 if positive else slice(None)
        ax.fill_between(band.steps[keep], scale * band.low[keep], scale * band.high[keep],
                        color=style["color"], alpha=BAND_ALPHA, lw=0)
        steps, values = band.steps, band.median
    steps, values = steps[keep], values[keep]
    line, = ax.plot(steps, scale * values, color=style["color"], lw=1.1,
                    ls=meanings.role("validation").linestyle if validation
                    else style["linestyle"], marker=style["marker"],
                    markersize=4.5 if style["marker"] == "*" else 3,
                    markevery=spaced(len(steps), index), label=entry.label)
    return line


def comparison_title(comparison: Comparison) -> str:
    metric = readable(comparison.metric)
    if comparison.mode == "threshold":
        sign = "\\geq" if comparison.higher else "\\leq"
        value = (f"{100 * comparison.threshold:g} %" if comparison.percent
                 else f"{comparison.threshold:g}")
        return f"{comparison.x_name.capitalize()} {metric} first reached ${sign}$ {value}"
    return f"{metric[0].upper() + metric[1:]} at {comparison.at_text}"


#: The share of a comparison dashboard's width its curves take (the rest: the values).
CURVES_SHARE = 0.6


def draw_threshold_row(ax, row: int, entry: Entry, style: dict) -> None:
    """Panel (b) of a threshold comparison, one entry: where every run reached the threshold, a
    line to the median first step, filled if every run still met it at its end (else open,
    'not held'); where some did, each one's first step as a half-filled marker and 'k of n';
    where none did, a dotted line to its last step and an arrow."""
    color, marker = style["color"], style["marker"]
    if entry.reached == entry.n:
        ax.plot([0, entry.value], [row, row], color=color, lw=0.8)
        if entry.n > 1:
            ax.plot([entry.low, entry.high], [row, row], color=color, lw=0.8, marker="|",
                    ms=5)
        ax.plot([entry.value], [row], marker=marker, ms=4.5, color=color,
                mfc=color if entry.held else "white")
        if not entry.held:
            ax.annotate("not held", (entry.value, row), xytext=(0, 4),
                        textcoords="offset points", ha="center", va="bottom",
                        fontsize=SMALL, color=INK)
    elif entry.reached:
        firsts = np.sort(np.asarray(entry.values, float)[~np.isnan(entry.values)])
        ax.plot([0, entry.last_step], [row, row], color=color, lw=0.8, ls=":")
        ax.plot(firsts, np.full(len(firsts), row), ls="none", marker=marker, ms=4.5,
                color=color, fillstyle="left", mfc=color, mfcalt="white")
        ax.annotate(f"{entry.reached} of {entry.n}", (firsts[-1], row), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", fontsize=SMALL,
                    color=INK)
    else:
        ax.plot([0, entry.last_step], [row, row], color=color, lw=0.8, ls=":")
        ax.plot([entry.last_step], [row], marker=">", ms=4, color=color, mfc="white")


def to_hex_tint(color, amount: float = 0.5) -> str:
    """A light tint of a looked-up colour, as hex (the face of a run's dot)."""
    from matplotlib.colors import to_hex

    return to_hex(tint(color, amount))


def row_label(entry: Entry, narrow: bool = False) -> str:
    """An entry's row in panel (b): its name and runs, not its total compute (the panel
    compares the runs at one compute; the caption gives each total): 'random 0.1 (n=5)'."""
    label = f"{entry.short or entry.label} (n={entry.n})" if entry.n > 1 \
        else entry.short or entry.label
    return label.replace(" (", "\n(", 1) if narrow and len(label) > 24 else label


def narrow_labels(fig) -> bool:
    """Entry labels in two lines (the name, then n and compute): on a narrow page."""
    return fig.get_figwidth() < NARROW_IN


@with_thousands
def comparison_dashboard(fig, comparison: Comparison):
    ax_curve, ax_value = fig.subplots(
        1, 2, gridspec_kw={"width_ratios": [CURVES_SHARE, 1 - CURVES_SHARE]})
    styles = entry_styles(comparison.entries)
    scale = 100 if comparison.percent else 1
    along = np.concatenate([entry.curve.steps if entry.band is None else entry.band.steps
                            for entry in comparison.entries])
    # a counter from 0: its positive values decide; a log axis draws them alone
    positive = comparison.x is not None and log_scale(ax_curve, along[along > 0], axis="x")
    if positive and comparison.x_share:  # per cent: 1, 10, 100 as numbers, not powers of 10
        from matplotlib.ticker import FuncFormatter
        ax_curve.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    values = []
    for k, (entry, style) in enumerate(zip(comparison.entries, styles, strict=True)):
        draw_entry(ax_curve, entry, style, scale, k, positive,
                   validation=run_stats.role(comparison.metric) == "evaluation")
        values.append(entry.curve.values if entry.band is None else entry.band.median)
    values = np.concatenate(values)
    reference = meanings.role("reference")
    if comparison.mode == "threshold":
        ax_curve.axhline(scale * comparison.threshold, color=reference.color, lw=0.6,
                         ls=reference.linestyle)
    else:
        ax_curve.axvline(comparison.step, color=reference.color, lw=0.6,
                         ls=reference.linestyle)
    if run_stats.family(comparison.metric) == "loss":
        log_scale(ax_curve, values)
    ax_curve.set_xlabel(comparison.x_label)
    ax_curve.set_ylabel(axis_label(comparison.metric, comparison.percent))
    title = readable(comparison.metric)
    panel_title(ax_curve, "a", title[0].upper() + title[1:])

    rows = np.arange(len(comparison.entries))[::-1]
    for row, entry, style in zip(rows, comparison.entries, styles, strict=True):
        if comparison.mode == "threshold":
            draw_threshold_row(ax_value, row, entry, style)
            continue
        runs = scale * np.asarray(entry.values, float)
        if entry.n > 1:  # each run a small dot, the range a thin line, the median its marker
            ax_value.plot([scale * entry.low, scale * entry.high], [row, row],
                          color=style["color"], lw=0.8)
            ax_value.plot(runs, np.full(len(runs), row), ls="none", marker="o", ms=2.2,
                          color=style["color"], mfc=to_hex_tint(style["color"]), mew=0.5)
        ax_value.plot([scale * entry.value], [row], ls="none", marker=style["marker"], ms=5,
                      color=style["color"])
    ax_value.set_yticks(rows, [row_label(entry, narrow_labels(fig))
                               for entry in comparison.entries])
    ax_value.set_ylim(rows.min() - 0.6, rows.max() + 0.6)
    if comparison.mode == "threshold":
        ax_value.set_xlim(0, max(max(e.last_step for e in comparison.entries), 1) * 1.05)
        ax_value.set_xlabel(comparison.x_label)  # the caption says what the arrow means
    else:
        shown = scale * np.array([v for e in comparison.entries for v in (e.low, e.high)])
        if not log_scale(ax_value, shown, axis="x"):
            pad = 0.08 * (shown.max() - shown.min() or abs(shown.max()) or 1)
            ax_value.set_xlim(shown.min() - pad, shown.max() + pad)
        ax_value.set_xlabel(unit_label(comparison.metric, comparison.percent))  # title names it
    ax_value.grid(axis="x")
    title = comparison_title(comparison)
    narrow = fig.get_figwidth() < NARROW_IN
    if narrow or len(title) > 30:  # the values' panel is narrow: where it is compared, below
        width = 20 if narrow else 30
        what, at, where = title.partition(" at ") if comparison.mode == "common step" \
            else (title, "", "")
        title = "\n".join([*textwrap.wrap(what, width), *([at.strip() + " " + where]
                                                           if at else [])])
    panel_title(ax_value, "b", title)
    # the legend serves the curves (panel b names each entry in full on its axis): above them
    handles, _ = ax_curve.get_legend_handles_labels()
    labels = [entry.short or entry.label for entry in comparison.entries]
    legend_over(fig, ax_curve, handles, labels, legend_columns(fig, labels, CURVES_SHARE))


# ---- training_curves_comparison (several runs) -------------------------------------------------
@dataclass(frozen=True)
class SharedMetric:
    """One metric every compared run logged like for like (compared_column): a line per run or
    seed group, in entry order."""
    name: str
    entries: list[Entry]
    title: str = ""                  # the panel's title (default: the name)
    percent: bool = False            # drawn in per cent
    reference: Reference | None = None  # a value from the settings the metric is read against
    smoothed: bool = False           # every run's values smoothed as its dashboard draws them
                                     # (a noisy metric every run's dashboard smooths), else as
                                     # logged


@dataclass(frozen=True)
class CurvesComparison:
    """Every metric the compared runs share (the first MAX_SHARED_METRICS) but the one their
    comparison dashboard draws and those the book draws elsewhere, aligned on step."""
    labels: list[str]                # entry labels, in order
    metrics: list[SharedMetric]
    x_label: str
    numbers: Numbers
    left_out: str | None = None      # the metric of the comparison dashboard, not drawn again
    elsewhere: dict = field(default_factory=dict)  # metric -> the figure that draws it
    unlike: dict = field(default_factory=dict)     # metric -> entries without a like-for-like
                                                   # column of it (unlike_metrics): no panel
    x: str | None = None             # the counter the curves are drawn along (None: step), as
                                     # in the comparison dashboard of the same runs
    common_step: float = float("nan")  # step axis: the last step every run reached
    smoothing: float = 0.0           # TensorBoard's weight of the metrics drawn smoothed
    smoothed_counts: tuple = ()      # the logged values of each series drawn smoothed


def _shared(runs: list[Run], left_out: str | None, elsewhere) -> list[str]:
    logged = [set(run_stats.curve_metrics(run)) for run in runs]
    batch = set(run_stats.SELECTED_LOSSES.values())
    return [name for name in run_stats.curve_metrics(runs[0])
            if all(name in others for others in logged[1:]) and name not in batch
            and name != left_out and name not in elsewhere]


def compared_column(run: Run, name: str) -> str | None:
    """The column of `run` drawn for the shared metric `name`: the whole batch's training loss
    where `name` is the loss of its selected samples only (run_stats.selected_loss), or where the
    run trains on a selection of each batch and `name` is its training loss
    (run_stats.trains_on_a_selection); None when such a run logged no whole-batch loss (its
    training loss is not like for like with the others'); else `name`."""
    if name == run_stats.selected_loss(run):
        return run_stats.training_loss(run, aggregate=False) or name
    if run_stats.family(name) == "loss" and run_stats.role(name) == "training" \
            and run_stats.trains_on_a_selection(run):
        return run_stats.whole_batch_loss(run)
    return name


def shared_metrics(runs: list[Run], left_out: str | None = None, elsewhere=()) -> list[str]:
    """Metrics every run logged, the clocks and counters aside (the counters' last values are
    in each run's summary, their share of compute in the entries' labels), `left_out` (the
    metric the comparison dashboard draws) and `elsewhere` (metrics another figure of the book
    draws for these runs): losses first, then evaluation metrics, then the rest (panel_order).
    A run's loss of selected samples stands for its training loss (compared_column), so the
    batch losses it is drawn from are not listed again."""
    names = [name for name in _shared(runs, left_out, elsewhere)
             if all(compared_column(run, name) is not None for run in runs)]
    return panel_order(names)[:MAX_SHARED_METRICS]


def unlike_metrics(runs: list[Run], left_out: str | None = None, elsewhere=()
                   ) -> dict[str, list[str]]:
    """{metric: labels of the runs without a like-for-like column of it}: metrics the runs share
    by name that training_curves_comparison leaves out, since some runs logged only the loss of
    the samples they selected (compared_column)."""
    found = {}
    for name in _shared(runs, left_out, elsewhere):
        lacking = [run_label(run) for run in runs if compared_column(run, name) is None]
        if lacking:
            found[name] = lacking
    return found


#: The title of a training-loss panel that draws the whole batch's loss of runs that train on a
#: selection of each batch.
WHOLE_BATCH_TITLE = "Training loss, whole batch"


def compared_title(runs: list[Run], name: str) -> str:
    if any(compared_column(run, name) != name for run in runs):
        return WHOLE_BATCH_TITLE  # the caption says so
    title = readable(name)
    return title[0].upper() + title[1:]


def training_curves_comparison_height(runs: list[Run], left_out: str | None = None,
                                      elsewhere=()) -> float:
    """Inches: two legend lines, then three panels a row."""
    return 0.5 + 1.6 * math.ceil(max(len(shared_metrics(runs, left_out, elsewhere)), 1) / 3)


def shared_reference(runs: list[Run], name: str) -> Reference | None:
    """The reference value of `name` in the runs' settings (reference_of), if every run gives
    the same one."""
    found = [reference_of(run.config, name) for run in runs]
    if any(ref is None for ref in found) or len({ref.value for ref in found}) > 1:
        return None
    return found[0]


def along_counter(band: Band, runs: list[Run], x: str | None, total: float | None) -> Band:
    """A band drawn at steps, drawn instead against the median of its runs' counter `x` at those
    steps (in per cent of `total` when given), as group_band does; unchanged without `x`."""
    if x is None:
        return band
    counters = np.median([np.interp(band.steps, *run.series(x)) for run in runs], axis=0)
    along = counters if total is None else 100 * counters / total
    return Band(steps=along, median=band.median, low=band.low, high=band.high, n=band.n)


def training_curves_comparison_result(runs: list[Run], smoothing: float = SMOOTHING,
                                      left_out: str | None = None, baseline: str | None = None,
                                      names: dict | None = None, elsewhere: dict | None = None,
                                      x: str | None = None, x_label: str | None = None
                                      ) -> CurvesComparison:
    varying = run_stats.varying_setting([run.config for run in runs])
    groups = entries_of(runs, varying, names, baseline)
    total = baseline_total(runs, x, baseline) if x is not None else None
    metrics, labels, counts = [], [], []
    for name in shared_metrics(runs, left_out, elsewhere or {}):
        columns = [compared_column(run, name) for run in runs]  # each like for like
        # a noisy metric every run's dashboard smooths: each run's smoothed values, so that a
        # seed group's band is the spread between its runs, not the step noise within them
        smoothed = x is None and smoothing > 0 and all(
            run_stats.smoothed_metric(run, column) for run, column in zip(runs, columns,
                                                                          strict=True))
        series = [run_stats.smoothed_series(run, column, smoothing) if smoothed
                  else run.series(column) for run, column in zip(runs, columns, strict=True)]
        entries = []
        for members, label, short, value, meaning in groups:
            single = len(members) == 1
            first = runs[members[0]]
            entries.append(Entry(
                label=label, n=len(members),
                curve=(run_stats.plain_curve(columns[members[0]], *series[members[0]])
                       if smoothed else
                       run_stats.metric_curve(first, columns[members[0]], 0) if x is None
                       else run_stats.plain_curve(columns[members[0]], *counter_series(
                           first, columns[members[0]], x, total)))
                if single else None,  # drawn as a group's median is
                band=None if single else along_counter(
                    run_stats.band([series[i] for i in members]),
                    [runs[i] for i in members], x, total),
                value=np.nan, low=np.nan, high=np.nan,
                last_step=float(max(series[i][0][-1] for i in members)),
                setting=value, meaning=meaning, short=short))
        labels = [entry.label for entry in entries]
        metrics.append(SharedMetric(
            name=name, entries=entries, title=compared_title(runs, name),
            percent=all(in_percent(name, values) for _, values in series),
            reference=shared_reference(runs, name), smoothed=smoothed))
        counts += [len(values) for _, values in series] if smoothed else []
    unlike = {}
    for name, lacking in unlike_metrics(runs, left_out, elsewhere or {}).items():
        unlike[name] = [short for members, _, short, _, _ in groups
                        if any(run_label(runs[i]) in lacking for i in members)]
    numbers = Numbers()
    common = float("nan")
    if x is None:
        common = float(min(np.nanmax(run.column("step")) for run in runs))
        numbers.add("CurvesCommonStep", common, ",.0f")
    return CurvesComparison(labels=labels, metrics=metrics,
                            x_label=x_label or runs[0].x_label if x is not None
                            else runs[0].x_label,
                            numbers=numbers, left_out=left_out, elsewhere=dict(elsewhere or {}),
                            unlike=unlike, x=x, common_step=common, smoothing=smoothing,
                            smoothed_counts=tuple(counts))


def grid_with_room(fig, n: int, cols: int = 3):
    """grid(), and the spare slot of the last row (a legend's place), if any."""
    cols = 2 if n == 4 and cols == 3 else min(cols, n)
    rows = math.ceil(n / cols)
    spec = fig.add_gridspec(rows, cols)
    axes = [fig.add_subplot(spec[i // cols, i % cols]) for i in range(n)]
    spare = spec[rows - 1, n % cols:] if n % cols else None
    return axes, spare


@with_thousands
def training_curves_comparison(fig, comparison: CurvesComparison):
    axes, spare = grid_with_room(fig, len(comparison.metrics))
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    reference = meanings.role("reference")
    for ax, metric in zip(axes, comparison.metrics, strict=True):
        scale = 100 if metric.percent else 1
        positive = False
        if comparison.x is not None:  # as the comparison dashboard draws a counter from 0
            along = np.concatenate([entry.curve.steps if entry.band is None
                                    else entry.band.steps for entry in metric.entries])
            positive = log_scale(ax, along[along > 0], axis="x")
            if positive:
                from matplotlib.ticker import FuncFormatter
                ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        for k, (entry, style) in enumerate(zip(metric.entries, entry_styles(metric.entries),
                                               strict=True)):
            draw_entry(ax, entry, style, scale, k, positive,
                       validation=run_stats.role(metric.name) == "evaluation")
        if not math.isnan(comparison.common_step):  # where the runs are compared
            ax.axvline(comparison.common_step, color=reference.color, lw=0.6,
                       ls=reference.linestyle)
        if metric.reference is not None:
            draw_reference(ax, metric.reference, scale)
        columns = ax.get_subplotspec().get_gridspec().ncols
        panel_title(ax, next(letters), panel_name(metric.title, title_width(fig, columns)))
        ax.set_xlabel(comparison.x_label)
        ax.set_ylabel(unit_label(metric.name, metric.percent))
        if run_stats.family(metric.name) in ("loss", "learning_rate", "norm"):
            log_scale(ax, np.concatenate([e.curve.values if e.band is None else e.band.median
                                          for e in metric.entries]))
    # the panels' line styles are roles (solid training, dashed validation), not the entries':
    # where every panel is of one role, each entry as drawn (colour, marker, that role's
    # line); else each entry by colour and marker, and a key per role in ink
    roles = {"validation" if run_stats.role(metric.name) == "evaluation" else "training"
             for metric in comparison.metrics}
    one = roles.pop() if len(roles) == 1 else None
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, Line2D(
                [], [], ls=meanings.role(one).linestyle if one else "none", lw=1.1,
                color=handle.get_color(), marker=handle.get_marker(),
                markersize=handle.get_markersize()))
    labels = [label for label in comparison.labels if label in handles]
    if one is None:
        # the held-out data under the runs' own word (eval_: 'evaluation'), as the dashboard
        words = {evaluation_word(metric.name) for metric in comparison.metrics
                 if run_stats.role(metric.name) == "evaluation"}
        held_out = words.pop() if len(words) == 1 else "validation"
        for role in ("training", "validation"):
            look = meanings.role(role)
            label = held_out if role == "validation" else role
            handles[label] = Line2D([], [], color=INK, ls=look.linestyle, lw=1.1)
            labels.append(label)
    if spare is not None:  # the last row's empty slot holds the legend
        ax = fig.add_subplot(spare)
        ax.set_axis_off()
        ax.legend([handles[label] for label in labels], labels, loc="center",
                  fontsize=SMALL, ncols=1)
        return
    fig.legend([handles[label] for label in labels], labels, loc="outside upper center",
               ncols=legend_columns(fig, labels), fontsize=SMALL)


# ---- summary tables, from the dashboards' results ------------------------------------------------
def _cell(value: float, fmt: str) -> str:
    return "--" if np.isnan(value) else format(value, fmt)


def summary_printed(board: Dashboard) -> str:
    """The summary as printed on the terminal: one line per metric (a best value only for
    losses and scores; counters, schedules and norms have none)."""
    summary = board.summary
    head = (f"{board.path} ({board.format}): {summary.rows} rows; best step "
            f"{summary.best_step:g} by {summary.reference}")
    rows = []
    for metric in summary.metrics:
        line = f"  {metric.name:24s} final {metric.final:<12.6g}"
        if metric.has_best:
            line += f" best {metric.best:<12.6g} at step {metric.best_step:<10g}"
        else:
            line += f" {'(' + metric.kind + ': no best)':<36s}"
        rows.append(line + f" at best step {metric.at_best:.6g}")
    totals = [f"  {'run total: ' + name:24s} {value:<.6g}" for name, value in board.totals.items()]
    notes = [f"  note: {note}" for note in board.notes]
    return "\n".join([head, *rows, *totals, *notes])


def summary_tex(board: Dashboard) -> str:
    """The summary as a LaTeX tabular: final, best and at-best-step value of every metric;
    '--' where a metric has no best (a counter such as the epoch, a schedule, a norm)."""
    summary = board.summary
    best_step = summary.best_step
    tex = ["% Generated by scripts/experiments.py; do not edit.",
           f"% Run {board.label} ({board.format}): best step {best_step:g} by "
           f"{summary.reference}."]
    tex += [f"% Note: {note}" for note in board.notes]
    tex += ["\\begin{tabular}{lrrrr}", "  metric & final & best & best at step & "
            f"at step {best_step:g} \\\\", "  \\hline"]
    for metric in summary.metrics:
        name = metric.name.replace("_", "\\_")
        tex.append(f"  {name} & {metric.final:.4g} & {_cell(metric.best, '.4g')} & "
                   f"{_cell(metric.best_step, 'g')} & {_cell(metric.at_best, '.4g')} \\\\")
    if board.totals:  # the run's own final summary (a Trainer's last log row)
        tex.append("  \\hline")
        for name, value in board.totals.items():
            name = name.replace("_", "\\_")
            tex.append(f"  {name} (run total) & {value:.4g} & -- & -- & -- \\\\")
    tex.append("\\end{tabular}")
    return "\n".join(tex) + "\n"


# ---- registry ----------------------------------------------------------------------------------
def run_dashboard(registry: Registry, run: Run) -> Dashboard:
    """The dashboard result of `run` in `registry` (computed once per process)."""
    return registry.result(f"dashboard_{slug(run_label(run))}")


def _tex(text: str) -> str:
    return text.replace("_", "\\_").replace("%", "\\%").replace("&", "\\&").replace("#", "\\#")


def _weight_clause(weight: float, counts) -> str:
    """'weight 0.6', and on a series longer than TensorBoard draws, the weight per logged value
    with the same memory (run_stats.per_value_weight) for the longest of the smoothed series,
    whose logged values number `counts`, and the values it spans. (The same memory, not the
    same look: TensorBoard's line averages a few of its sampled points and stays noisier.)"""
    longest = max(counts, default=0)
    if longest <= run_stats.TENSORBOARD_POINTS:
        return f"weight {weight:g}"
    per_value = run_stats.per_value_weight(weight, longest)
    return (f"weight {weight:g} over the {run_stats.TENSORBOARD_POINTS:,} points it draws of a "
            f"series; here {per_value:.5g} per value, the same memory: "
            f"{run_stats.average_span(per_value):,} of the {longest:,} logged values")


def _run_clause(run: Run, smoothing: float, names=None) -> str:
    """How the curves of one run's figure are drawn: smoothed or as logged, as this run's
    metrics (`names`, default all) are drawn (a short or full-batch log as logged throughout;
    sparse evaluations always as logged, which their markers show)."""
    names = run_stats.drawn_metrics(run) if names is None else names
    smoothed = [name for name in names if run_stats.smoothed_metric(run, name)]
    if smoothing <= 0 or not smoothed:
        return ("curves as logged (too short or noiseless to smooth)" if smoothing > 0
                else "curves as logged")
    counts = [len(run.series(name)[1]) for name in smoothed]
    return (f"TensorBoard's smoothing ({_weight_clause(smoothing, counts)}) over the faint "
            "logged values")


def _listing(items: list[str], most: int | None = None) -> str:
    """'a, b and c'; beyond `most` items, the first ones and 'n more'."""
    if most is not None and len(items) > most:
        items = [*items[:most - 1], f"{len(items) - most + 1} more"]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _shared_prefix(labels: list[str]) -> list[str]:
    """['weight decay 2', 'weight decay 3'] -> ['weight decay 2', '3'] (as TeX)."""
    words = [label.split(" ") for label in labels]
    head = words[0][:-1]
    if len(labels) > 1 and head and all(w[:-1] == head for w in words):
        return [_tex(labels[0])] + [_tex(w[-1]) for w in words[1:]]
    return [_tex(label) for label in labels]


def _selected_clause(comparison: CurvesComparison) -> str:
    """Where compared runs train on a selection of each batch: that the training-loss panel
    draws the whole batch's loss, or why there is none (no like-for-like loss logged)."""
    parts = []
    if any(metric.title == WHOLE_BATCH_TITLE for metric in comparison.metrics):
        parts.append("every training loss is the whole batch's")
    for name, groups in comparison.unlike.items():
        parts.append(f"no {readable(name)} panel: {_listing(_shared_prefix(groups))} log "
                     "it for their trained samples only")
    return "".join(f"; {part}" for part in parts)


@dataclass(frozen=True)
class Compared:
    """Runs compared in one pair of comparison figures."""
    suffix: str                      # figure name suffix ("" for the first)
    runs: list[Run]
    metric: str | None = None        # default: common_metric
    threshold: float | None = None   # steps to this value, instead of a common step
    baseline: str | None = None      # the group (name without seed suffix) that is the baseline
    names: dict = field(default_factory=dict)  # group name -> how its label names it
    x: str | None = None             # a logged counter to compare along (default: step)
    x_name: str | None = None        # how a title names it ("compute")
    x_label: str | None = None       # its axis label
    x_caption: str | None = None     # how a caption names it ("the compute spent so far")
    x_short: str | None = None       # its axis label below a third of the page's width
    elsewhere: dict = field(default_factory=dict)  # metric -> the book's figure that draws it


def _number(numbers: Numbers, key: str) -> str:
    """A number of a result as numbers.tex writes it (for a caption)."""
    return dict(numbers.tex_items())[key]


def _percent(value: str | float) -> str:
    """'2.9\\,\\%' (a number, or a numbers.tex value already formatted)."""
    return f"{value if isinstance(value, str) else f'{value:.3g}'}\\,\\%"


def dashboard_caption(run: Run, label: str, smoothing: float,
                      board: Dashboard | None = None) -> str:
    kinds = [_tex(panel.title.lower()) for panel in run_stats.dashboard_panels(run)]
    selected_note = "; the loss of the selected samples beside the whole batch's" \
        if run_stats.selected_loss(run) else ""
    method = run_method(run.config)
    coloured = f" In the colour of its method, {meanings.TABLE[method].label}." if method \
        else ""
    if any(any(re.search(pattern, name) for pattern in INK_QUANTITIES)
           for panel in run_stats.dashboard_panels(run) for name in panel.names):
        coloured = coloured.rstrip(".") + ("; threshold dotted." if coloured else "")
    settings = " beside its settings" if has_settings(run) else ""
    noted = " ".join(_tex(note[0].upper() + note[1:]) + "." for note in run.notes[:1])
    return (f"Dashboard of the run {label} ({run.format} log): a panel per kind of metric "
            f"({_listing(kinds)}){settings}; {_run_clause(run, smoothing)}{selected_note}."
            f"{coloured} {noted}").rstrip()


def _reference_clause(curves: TrainingCurves, name: str) -> str:
    """': 9.99 % over the last third (ink), target 10 % (dotted)' or ': 23.3 % over the last
    third (ink), 8 times the 2.93 % of flipped training labels (dotted)'."""
    reference = curves.references.get(name)
    if reference is None:
        return ""
    label = spell(curves.label)
    late = _number(curves.numbers, f"LastThird{spell(name)}{label}")
    value = _number(curves.numbers, f"Reference{spell(name)}{label}")
    show = _percent if name in curves.percent else str
    ratio = reference.late_mean / reference.value if reference.value else np.nan
    if np.isfinite(ratio) and not 1 / STEADY_FACTOR <= ratio <= STEADY_FACTOR:
        times = f"{ratio:.0f}" if ratio >= 3 else f"{ratio:.1f}"
        return (f": {show(late)} over the last third, {times} times the "
                f"{show(value)} {reference.what} (dotted)")
    return f": {show(late)} over the last third, {reference.what} {show(value)} (dotted)"


def training_curves_caption(run: Run, label: str, smoothing: float,
                            curves: TrainingCurves) -> str:
    shown = []
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    split = curves.split
    if split is not None:
        shown.append(f"how the {readable(split.total)} divides between the "
                     f"{_listing([readable(p) for p in split.parts])} and the rest: "
                     f"({next(letters)}) the norm of each, ({next(letters)}) its share of the "
                     "squared total")
    for curve in curves.panel_curves:
        text = f"({next(letters)}) {readable(curve.name)}"
        if curve.name == curves.selected:
            text += f" ({SELECTED_LABEL})"
        if curve.name in curves.averages:
            text += " (faint) under the run's own average"
        shown.append(text + _reference_clause(curves, curve.name))
    figures: dict[str, list[str]] = {}
    inside = set(run_stats.own_averages(list(curves.elsewhere)).values())
    for name, figure in curves.elsewhere.items():
        if name not in inside:  # an average goes with its metric
            figures.setdefault(figure, []).append(readable(name))
    elsewhere = "; ".join(f"{_listing(names)}: {figure}" for figure, names in figures.items())
    if elsewhere:
        return (f"What the dashboard of the run {label} and the book's other figures leave out "
                f"({elsewhere}): {'; '.join(shown)}.")
    return f"What the dashboard of the run {label} leaves out: {'; '.join(shown)}."


def loss_distribution_caption(label: str, distribution: LossDistribution) -> str:
    groups = "epoch" if distribution.by_epoch else "tenth of the run"
    number = {key.split("Spread", 1)[1].removesuffix(spell(distribution.label)): value
              for key, value in distribution.numbers.tex_items()}
    return (f"Spread of the {readable(distribution.metric)} of the run {label} around its "
            f"trend (centred running median of 5\\,\\% of the points), per {groups}: half of "
            f"each {groups}'s steps lie within $\\pm${_percent(number['MiddleHalf'])} of it, all "
            f"but outliers within $\\pm${_percent(number['Whiskers'])}, and the spread "
            f"{distribution.trend} over the run (interquartile range "
            f"{_percent(number['IqrFirstHalf'])} in its first half, "
            f"{_percent(number['IqrSecondHalf'])} in its second).")


#: A gap is said to lie mostly below zero when at least this share of its values do.
MOSTLY = 0.75


def _gap_clause(run: Run, dynamics: OptimizationDynamics) -> str:
    validation = evaluation_word(dynamics.validation or "")
    how = {"trend": "its trend",
           "aggregate": "the aggregate logged there", "value": "as logged"}[dynamics.gap_how]
    clause = (f"the {validation} loss minus the {readable(dynamics.train or '')} at each "
              f"evaluation ({how})")
    noise = run.config.get("label_noise")
    if isinstance(noise, (int, float)) and noise > 0 and \
            np.mean(dynamics.gap.values < 0) >= MOSTLY:
        median = _number(dynamics.numbers, f"GapLateMedian{spell(dynamics.label)}")
        clause += (f", mostly below zero (second-half median {median}, dotted): "
                   f"{_percent(100 * noise)} of training labels flipped, no {validation} label")
    return clause


def dynamics_caption(run: Run, dynamics: OptimizationDynamics, label: str,
                     smoothing: float) -> str:
    """What the optimization dynamics figure of `run` draws, panel by panel (short: the axes
    give the formulas)."""
    letters = iter("abcd")
    shown = []
    if dynamics.gap is not None:
        shown.append(f"({next(letters)}) {_gap_clause(run, dynamics)}")
    if dynamics.rate is not None:
        text = f"({next(letters)}) how fast " + (
            "it falls" if dynamics.gap is not None and readable(dynamics.rate_of or "")
            == readable(dynamics.train or "") else
            f"the {readable(dynamics.rate_of or '')} falls")
        if dynamics.rate_span > 1:
            text += f" from step {dynamics.rate_from:,.0f} on"  # its average spans its memory
        if dynamics.rate_trend is not None:
            text += ", faint under its running median"
        if not math.isnan(dynamics.fall_step):
            fall = _number(dynamics.numbers, f"FallStep{spell(dynamics.label)}")
            text += f": {100 * FALL_SHARE:.0f}\\,\\% of its log fall by step {fall} (dotted)"
        shown.append(text)
    if dynamics.norm_rates:
        pull = (", beside weight decay alone, $\\ln(1 - \\mathrm{lr}\\,\\mathrm{wd})$"
                if dynamics.pull is not None else "")
        shown.append(f"({next(letters)}) how fast the "
                     f"{_listing([readable(n) for n in dynamics.norms])} change{pull}")
    if dynamics.changes:
        shown.append(f"({next(letters)}) how far the checkpointed "
                     f"{_listing([_tex(c.name) for c in dynamics.changes])} moves per step, "
                     "over its size")
    noisy = [name for name in (dynamics.rate_of, *dynamics.norms) if name and
             run_stats.rate_weight(run.series(name)[1], 1.0) > 0]
    counts = [len(run.series(name)[1]) for name in noisy]
    smoothed = (f"; rates of smoothed values "
                f"({_weight_clause(max(smoothing, RATE_SMOOTHING), counts)})"
                if noisy and (dynamics.rate is not None or dynamics.norm_rates)
                and dynamics.rate_trend is None else "")
    return f"Optimization dynamics of the run {label}: {'; '.join(shown)}{smoothed}."


def _members(entry: Entry) -> str:
    """' (runs main*)' where an entry's runs are named otherwise than its label."""
    stem = run_stats.seed_stem(entry.runs[0]) if entry.runs else ""
    if not stem or display(stem) in entry.short:
        return ""
    return f" (runs {_tex(stem)}*)" if entry.n > 1 else f" (run {_tex(stem)})"


def _budget_clause(comparison: Comparison) -> str:
    """Where the entries' step budgets differ or runs stopped before theirs: which."""
    budgets = {entry.budget for entry in comparison.entries}
    clause = ""
    if len(budgets) > 1 and None not in budgets:
        common = max(budgets, key=lambda b: sum(e.budget == b for e in comparison.entries))
        odd = [entry for entry in comparison.entries if entry.budget != common]
        odd_budgets = _listing([f"{e.budget:,.0f} steps for {_tex(e.short)}{_members(e)}"
                                for e in odd])
        clause = f" Budgets: {odd_budgets}, {common:,.0f} for the others"
    early = [entry.short for entry in comparison.entries if entry.budget is not None
             and comparison.x is None and entry.last_step < entry.budget]
    if early:
        carried = all(entry.carried for entry in comparison.entries
                      if entry.short in early)
        stopped = _listing(_shared_prefix(early))
        stopped = stopped if clause else stopped[0].upper() + stopped[1:]  # a sentence of its own
        clause += ("; " if clause else " ") + f"{stopped} stopped " \
            "early" + (" (stop rule held), counted with their last value"
                       if carried and comparison.mode == "common step" else "")
    return clause + "." if clause else ""


def _totals_clause(comparison: Comparison) -> str:
    """Where the entries' labels give different total compute (the rows of panel b do not:
    row_label): where the reader sees each total."""
    totals = []
    for entry in comparison.entries:
        found = re.search(r", ([\d.]+) % compute\)$", entry.label)
        if found is None:
            return ""
        totals.append(found.group(1))
    return " Each curve ends at its runs' total compute." if len(set(totals)) > 1 else ""


def comparison_caption(compared: Compared, comparison: Comparison) -> str:
    if comparison.mode == "threshold":
        how = (f"the {comparison.x_name} at which each first reached {compared.threshold:g} "
               "(a group: its median if all runs did, open if some fell back by their end; "
               "half-filled: some runs did; arrow: none did)")
    elif comparison.x is None:
        where = "the smallest budget" if any(e.carried for e in comparison.entries) \
            else "the last all runs reached"
        how = f"values at step {comparison.step:,.0f}, {where}"
    else:
        at = _tex(comparison.at_text).replace(" \\%", "\\,\\%")
        how = f"the value at {at}, which every run reached"
    along = ""
    if comparison.x is not None:
        along = compared.x_caption or (
            f"the {_tex(readable(comparison.x))} so far"
            + (", in per cent of the baseline's total" if comparison.x_share else ""))
        along = f" against {along}"
    return (f"Runs compared on one metric: (a) curves as logged{along}, seed groups as median "
            f"and range; (b) {how}, a dot per run.{_totals_clause(comparison)}"
            f"{_budget_clause(comparison)}")


def curves_comparison_caption(compared: Compared, comparison: CurvesComparison) -> str:
    elsewhere = "".join(f"; {readable(name)}: {figure}"
                        for name, figure in comparison.elsewhere.items())
    letters = "abcdefghijklmnopqrstuvwxyz"
    references = "".join(
        f"; ({letters[i]}) against the "
        f"{_percent(100 * metric.reference.value) if metric.percent else metric.reference.value}"
        f" {metric.reference.what}"
        for i, metric in enumerate(comparison.metrics) if metric.reference is not None)
    along = dotted = ""
    if comparison.x is not None:  # the comparison dashboard's caption says what 100 % is
        along = f" against {_tex(compared.x_name or readable(comparison.x))}"
    elif not math.isnan(comparison.common_step):
        dotted = (f"; dotted: step {_number(comparison.numbers, 'CurvesCommonStep')}, the last "
                  "all runs reached")
    smoothed = [letters[i] for i, metric in enumerate(comparison.metrics) if metric.smoothed]
    how = "as logged"
    if smoothed:
        logged = [letters[i] for i, metric in enumerate(comparison.metrics)
                  if not metric.smoothed]
        how = (f"{_listing([f'({letter})' for letter in logged])} as logged; " if logged
               else "") + (
            f"{_listing([f'({letter})' for letter in smoothed]) if logged else 'all'} "
            f"smoothed as each run's dashboard (TensorBoard's "
            f"{_weight_clause(comparison.smoothing, comparison.smoothed_counts)})")
    return (f"The other metrics the runs share ({readable(comparison.left_out or '')}: "
            f"comparison dashboard{elsewhere}), {how}{along}, a seed group's median and "
            f"min-max band{dotted}{_selected_clause(comparison)}{references}.")


def build_registry(runs: list[Run], comparisons: list[Compared] | list[Run] = (),
                   smoothing: float = SMOOTHING, book: dict | None = None,
                   elsewheres: dict | None = None) -> Registry:
    """The figures of `runs` and of each comparison; `book` adds a sentence per figure to the
    captions of the project's runs (BOOK: what each adds to the chapters); `elsewheres` names
    the metrics of a run that the book draws in other figures (RUN_ELSEWHERE), left out."""
    registry = Registry(TOPIC)
    book = book or {}
    elsewheres = elsewheres or {}
    if comparisons and isinstance(comparisons[0], Run):
        comparisons = [Compared("", list(comparisons))]
    for run in runs:
        name = slug(run_label(run))
        label = _tex(run_label(run))
        adds = book.get(run_label(run), {})

        def added(kind: str, adds=adds) -> str:
            return f" {adds[kind]}" if kind in adds else ""  # a run's: sentences, not functions

        result = bind(dashboard_result, run, smoothing=smoothing)
        registry.add(f"dashboard_{name}", dashboard,
                     dashboard_caption(run, label, smoothing, result()) + added("dashboard"),
                     result=result, width=1.0, height=dashboard_height(run))
        elsewhere = elsewheres.get(run_label(run), {})
        if has_training_curves(run, elsewhere):
            result = bind(training_curves_result, run, smoothing=smoothing, elsewhere=elsewhere)
            registry.add(f"training_curves_{name}", training_curves,
                         training_curves_caption(run, label, smoothing, result())
                         + added("training_curves"), result=result,
                         width=training_curves_width(run, elsewhere),
                         height=training_curves_height(run, elsewhere))
        if distributed_loss(run) is not None:
            result = bind(loss_distribution_result, run)
            registry.add(f"loss_distribution_{name}", loss_distribution,
                         loss_distribution_caption(label, result()) + added("loss_distribution"),
                         result=result, width=LOSS_DISTRIBUTION_WIDTH,
                         height=LOSS_DISTRIBUTION_HEIGHT)
        dynamics = optimization_dynamics_result(run, smoothing)
        if dynamics.panels:
            registry.add(f"optimization_dynamics_{name}", optimization_dynamics,
                         dynamics_caption(run, dynamics, label, smoothing)
                         + added("optimization_dynamics"),
                         result=bind(optimization_dynamics_result, run, smoothing=smoothing),
                         width=1.0, height=optimization_dynamics_height(run))
    for compared in comparisons:
        if len(compared.runs) < 2:
            continue
        adds = book.get(f"comparison{compared.suffix}", {})
        options = {"baseline": compared.baseline, "names": compared.names or None}
        result = bind(comparison_dashboard_result, compared.runs, metric=compared.metric,
                      threshold=compared.threshold, smoothing=smoothing, x=compared.x,
                      x_name=compared.x_name, x_label=compared.x_label, **options)
        caption = comparison_caption(compared, result())
        sentence = adds.get("comparison_dashboard", "")
        if callable(sentence):
            sentence = sentence(result(), compared.runs)
        registry.add(f"comparison_dashboard{compared.suffix}", comparison_dashboard,
                     caption + (f" {sentence}" if sentence else ""),
                     result=result, width=1.0, aspect=0.42)
        metric = common_metric(compared.runs, [compared.metric] if compared.metric else ())
        if not shared_metrics(compared.runs, metric, compared.elsewhere):
            continue
        result = bind(training_curves_comparison_result, compared.runs, smoothing=smoothing,
                      left_out=metric, elsewhere=compared.elsewhere, x=compared.x,
                      x_label=compared.x_short or compared.x_label, **options)
        registry.add(f"training_curves_comparison{compared.suffix}",
                     training_curves_comparison,
                     curves_comparison_caption(compared, result())
                     + (f" {adds['training_curves_comparison']}"
                        if "training_curves_comparison" in adds else ""),
                     result=result, width=1.0,
                     height=training_curves_comparison_height(compared.runs, metric,
                                                              compared.elsewhere))

    def summaries() -> dict[str, str]:
        return {f"summary_{slug(run_label(run))}.tex": summary_tex(run_dashboard(registry, run))
                for run in runs}
    registry.add_file(summaries)
    return registry


@lru_cache(maxsize=1)
def default_runs() -> tuple[list[Run], list[Compared]]:
    data = ROOT / "data"
    runs = [load_run(data / name) for name in DEFAULT_RUNS if (data / name).is_dir()]
    comparisons = []
    for suffix, patterns, how in DEFAULT_COMPARISONS:
        compared = []
        for pattern in patterns:
            base, _, name = pattern.rpartition("/")
            if (data / base).is_dir():
                compared += [load_run(path) for path in discover_runs(data / base, name)]
        comparisons.append(Compared(suffix, compared, **how))
    return runs, comparisons


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The figures of the project's own runs (built on first use: a user's runs never pay for
    loading them)."""
    return build_registry(*default_runs(), book=BOOK, elsewheres=RUN_ELSEWHERE)


def __getattr__(name: str):
    if name == "FIGURES":  # the registry every topic module exposes
        return default_registry()
    raise AttributeError(name)


# ---- the Python API ----------------------------------------------------------------------------
def metric_table(runs: list[Run], metric: str, steps=None):
    """One metric across runs at common steps, as a pandas DataFrame (a row per run, a column
    per step): by default ten steps up to the last step every run reached, each run's last
    value logged at or before each step (numerics.run_stats.metric_table)."""
    import pandas

    table = run_stats.metric_table(runs, metric, steps, labels=[run_label(r) for r in runs])
    frame = pandas.DataFrame(table.values, index=table.runs,
                             columns=[int(s) if float(s).is_integer() else s
                                      for s in table.steps])
    frame.index.name, frame.columns.name = "run", "step"
    return frame


def for_users_folder(registry: Registry, outdir) -> Registry:
    """A user's figures: figures.tex includes them from `outdir` (as a document compiled in
    the current folder finds it) and names labels (`fig:<folder>:<name>`) and numbers.tex
    macros after the folder, so that they never point at or redefine the book's."""
    registry.graphics_dir = latex.graphics_dir(outdir)
    registry.namespace = Path(outdir).resolve().name or "runs"
    return registry


def quick_plot(*paths, outdir, format: str | None = None, formats=("png", "pdf"),
               textwidth: str | None = None, smoothing: float = SMOOTHING, x: str = "step",
               jobs: int = 1) -> list[Path]:
    """Every figure of the runs at `paths` (folders of any supported format, or Run objects)
    and their summary tables, written into `outdir`; returns the files written. Raises
    RunError for a log it cannot read, UsageError for bad options."""
    runs = []
    for path in paths:
        runs += [path] if isinstance(path, Run) else read_runs(path, format)
    runs = [run.with_x(x) for run in runs]
    outdir = Path(outdir)
    argv = ["--outdir", str(outdir), "--format", ",".join(formats), "--jobs", str(jobs),
            "--no-cache"] + (["--textwidth", textwidth] if textwidth else [])
    registry = for_users_folder(build_registry(runs, runs, smoothing=smoothing), outdir)
    code = registry.main(argv)
    if code:
        raise UsageError(f"quick_plot: the figures could not be written (exit code {code})")
    names = [f"{name}.{fmt}" for name in registry.names for fmt in formats]
    names += [*registry.extra_files(), "figures.tex", "numbers.tex"]
    return [outdir / name for name in names]


# ---- command line ------------------------------------------------------------------------------
def read_paths(paths: list[Path], format: str | None, x: str) -> list[Run]:
    """Every run at `paths`, warnings (a missing config.json, a cut-off event file) printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = [run for path in paths for run in read_runs(path, format)]
    for warning in caught:
        print(f"experiments.py: warning: {warning.message}", file=sys.stderr)
    return [run.with_x(x) for run in runs]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument("--discover", type=Path)
    parser.add_argument("--pattern", default="*")
    parser.add_argument("--log-format", "--reader", dest="reader", choices=FORMATS)
    parser.add_argument("--x", default="step", choices=("step", "wall_time"))
    parser.add_argument("--smoothing", type=float, default=SMOOTHING)
    parser.add_argument("--compare")
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--along")
    parser.add_argument("-h", "--help", action="store_true")
    # The toolkit's own options, passed on unchanged (declared here so that their values are
    # not mistaken for run folders).
    passed = {"--only": "+", "--outdir": None, "--format": None, "--textwidth": None,
              "--jobs": None}
    for option, nargs in passed.items():
        parser.add_argument(option, nargs=nargs)
    flags = ("--list", "--numbers", "--no-cache")
    for flag in flags:
        parser.add_argument(flag, action="store_true")
    try:
        own = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    # --format names image formats (png,pdf) for every topic; a log format given there is
    # taken as the reader to use, as the issue and users write it.
    if own.format in FORMATS:
        own.reader, own.format = own.format, None
    rest = [flag for flag in flags if getattr(own, flag[2:].replace("-", "_"))]
    for option in passed:
        value = getattr(own, option[2:])
        if value is not None:
            rest += [option, *(value if isinstance(value, list) else [value])]
    if own.help:
        print(__doc__)
        return default_registry().main(["--help"])
    if not own.runs and own.discover is None:
        registry = default_registry()
        for run in default_runs()[0]:
            print(summary_printed(run_dashboard(registry, run)))
        return registry.main(rest)
    try:
        if not 0 <= own.smoothing < 1:
            raise UsageError(f"--smoothing must be in [0, 1) (TensorBoard's slider), got "
                             f"{own.smoothing:g}")
        paths = list(own.runs)
        if own.discover is not None:
            found = find_runs(own.discover, own.pattern)
            if not found:
                raise UsageError(f"no runs under {own.discover} match {own.pattern!r}")
            paths += found
        if own.outdir is None:
            raise UsageError("give --outdir DIR for your own runs (images/experiments/ holds "
                             "the project's)")
        runs = read_paths(paths, own.reader, own.x)
        names = [slug(run_label(r)) for r in runs]
        if len(set(names)) != len(names):
            raise UsageError(f"two runs share a name: {', '.join(names)}")
        comparison = Compared("", runs, own.compare, own.threshold, x=own.along)
        if len(runs) > 1:  # fails here, before anything is drawn
            comparison_dashboard_result(runs, own.compare, own.threshold, own.smoothing,
                                        x=own.along)
    except (UsageError, RunError) as error:
        print(f"experiments.py: error: {error}", file=sys.stderr)
        return 2
    registry = for_users_folder(build_registry(runs, [comparison], smoothing=own.smoothing),
                                own.outdir)
    for run in runs:
        print(summary_printed(run_dashboard(registry, run)))
    return registry.main(rest)


if __name__ == "__main__":
    sys.exit(main())
