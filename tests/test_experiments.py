"""Experiment dashboards on real-world messy logs: every case has a test, errors name the file
(and line) with exit code 2, and nothing is half-written. The figures' claims are checked on
their results (nothing drawn), the command line end to end."""
from __future__ import annotations

import re

import numpy as np
import pytest

import experiments
from conftest import ROOT, build_strict, run_main
from figkit import checks, registry, style
from figkit.numbers import Numbers
from figkit.palette import INK
from numerics import run_stats
from records import load_run, read_run, write_run

SCRIPT = ROOT / "scripts" / "experiments.py"


def run_cli(*args):
    """experiments.py's command line, in this process (see conftest.run_main)."""
    return run_main(experiments, *args, "--no-cache")  # the project's cache stays untouched


def files(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def lm_run(path, rows=200, seed=0, config=True, **extra):
    """A language-model style log: training rows and evaluation rows sharing steps."""
    rng = np.random.default_rng(seed)
    steps = np.repeat(np.arange(rows) * 10, 1)
    train = 4 * np.exp(-steps / 800) + 1.5 + rng.normal(0, 0.05, rows)
    metrics = {"step": [], "epoch": [], "train_loss": [], "val_loss": [], "learning_rate": [],
               "grad_norm": [], "tokens_per_second": []}
    for i, s in enumerate(steps):
        metrics["step"].append(s)
        metrics["epoch"].append(s / (steps[-1] + 10) * 3)
        metrics["train_loss"].append(train[i])
        metrics["val_loss"].append(np.nan)
        metrics["learning_rate"].append(3e-4 * min(1, s / 100))
        metrics["grad_norm"].append(1 + rng.random())
        metrics["tokens_per_second"].append(2e4 + rng.normal(0, 500))
        if i % 20 == 19:  # an evaluation row at the same step, training columns empty
            metrics["step"].append(s)
            for key in ("epoch", "train_loss", "learning_rate", "grad_norm",
                        "tokens_per_second"):
                metrics[key].append(np.nan)
            metrics["val_loss"].append(train[i] + 0.2)
    for key, values in extra.items():
        metrics[key] = values(len(metrics["step"]))
    write_run(path, {"task": "causal language modelling", "model": "gpt2"} if config else {},
              metrics)
    if not config:
        (path / "config.json").unlink()
    return path


def test_a_users_runs_give_every_figure_and_a_summary(tmp_path):
    a = lm_run(tmp_path / "gpt2_small")
    b = lm_run(tmp_path / "gpt2_medium", seed=1,
               eval_accuracy=lambda n: np.linspace(0.2, 0.8, n),
               eval_f1=lambda n: np.linspace(0.1, 0.7, n))
    out = tmp_path / "out"
    result = run_cli(a, b, "--outdir", out, "--format", "png", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    names = files(out)
    for run in ("gpt2_small", "gpt2_medium"):
        for kind in ("dashboard", "loss_distribution", "optimization_dynamics"):
            assert f"{kind}_{run}.png" in names
        assert f"summary_{run}.tex" in names
    # training_curves holds what the dashboard leaves out: nothing for the first run (its
    # dashboard draws every metric), a second evaluation score for the other
    assert "training_curves_gpt2_small.png" not in names
    assert "training_curves_gpt2_medium.png" in names
    assert {"comparison_dashboard.png", "training_curves_comparison.png"} <= set(names)
    assert "val_loss" in result.stdout and "best step" in result.stdout  # printed summary


def test_runs_compared_along_a_logged_counter(tmp_path):
    """`--along COUNTER` compares runs at the amount of a logged counter every run reached
    (tokens seen, FLOPs), not at a step; a run that never logs it stops with exit code 2."""
    a = lm_run(tmp_path / "slow", tokens_seen=lambda n: np.arange(n) * 100.0)
    b = lm_run(tmp_path / "fast", seed=1, tokens_seen=lambda n: np.arange(n) * 300.0)
    out = tmp_path / "out"
    result = run_cli(a, b, "--outdir", out, "--format", "png", "--only",
                     "comparison_dashboard", "--compare", "val_loss", "--along", "tokens_seen")
    assert result.returncode == 0, result.stderr
    comparison = experiments.comparison_dashboard_result(
        [load_run(a), load_run(b)], "val_loss", x="tokens_seen")
    assert comparison.x == "tokens_seen" and not comparison.x_share
    finals = [load_run(p).column("tokens_seen")[~np.isnan(load_run(p).column("val_loss"))][-1]
              for p in (a, b)]
    assert comparison.step == min(finals)
    assert "at tokens seen" in experiments.comparison_title(comparison)
    result = run_cli(a, b, "--outdir", tmp_path / "o2", "--compare", "val_loss", "--along",
                     "flops")
    assert result.returncode == 2 and "no column 'flops'" in result.stderr


def test_discovery_by_pattern(tmp_path):
    for name in ("gpt2_a", "gpt2_b", "bert_c"):
        lm_run(tmp_path / "base" / name)
    out = tmp_path / "out"
    result = run_cli("--discover", tmp_path / "base", "--pattern", "gpt2_*", "--outdir", out,
                     "--only", "comparison_dashboard", "--format", "png")
    assert result.returncode == 0, result.stderr
    assert "summary_gpt2_a.tex" in files(out) and "summary_bert_c.tex" not in files(out)


def test_missing_config_warns_and_continues(tmp_path):
    run = lm_run(tmp_path / "noconfig", config=False)
    result = run_cli(run, "--outdir", tmp_path / "out", "--format", "png",
                     "--only", "dashboard_noconfig")
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "config.json: missing" in result.stderr


def test_numbers_only_writes_numbers_tex_and_draws_nothing(tmp_path):
    run = lm_run(tmp_path / "lm")
    out = tmp_path / "out"
    result = run_cli(run, "--outdir", out, "--numbers")
    assert result.returncode == 0, result.stderr
    assert files(out) == ["numbers.tex"]
    assert "\\OutRowsLm}{210}" in (out / "numbers.tex").read_text()  # named after the folder


@pytest.mark.parametrize("content,message", [
    (None, "metrics.csv: missing"),
    ("", "metrics.csv: empty"),
    ("step,train_loss\n0,1.0\n10,oops\n", "line 3: column 'train_loss' holds 'oops'"),
])
def test_broken_logs_exit_2_and_write_nothing(tmp_path, content, message):
    run = tmp_path / "broken"
    (run / "logs").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    if content is not None:
        (run / "logs" / "metrics.csv").write_text(content)
    out = tmp_path / "out"
    result = run_cli(run, "--outdir", out)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and files(out) == []


def test_usage_errors(tmp_path):
    run = lm_run(tmp_path / "r")
    assert run_cli(run).returncode == 2  # no --outdir for a user's run
    many = [lm_run(tmp_path / f"r{i}") for i in range(experiments.MAX_COMPARED + 1)]
    result = run_cli(*many, "--outdir", tmp_path / "out")
    assert result.returncode == 2 and f"at most {experiments.MAX_COMPARED}" in result.stderr
    result = run_cli("--discover", tmp_path, "--pattern", "nothing_*", "--outdir", tmp_path / "o")
    assert result.returncode == 2 and "no runs" in result.stderr


# ---- the project's own runs: every figure's result, nothing drawn ------------------------------
FIGURES = experiments.FIGURES
KINDS = ("dashboard", "training_curves", "loss_distribution", "optimization_dynamics")


def default_run(label):
    runs, _ = experiments.default_runs()
    return next(run for run in runs if experiments.run_label(run) == label)


def test_every_figure_has_a_result_and_its_numbers_need_no_drawing(monkeypatch):
    def no_drawing(*args, **kwargs):
        raise AssertionError("a figure was built")

    monkeypatch.setattr(registry, "Figure", no_drawing)
    monkeypatch.setattr(experiments.Registry, "build", no_drawing)
    assert FIGURES.names
    for name in FIGURES.names:
        spec = FIGURES[name]
        assert spec.result is not None, name
        kind = spec.draw.__name__
        assert name.startswith(kind) and spec.source.endswith(f"{kind}_result, {kind}"), name
        assert isinstance(FIGURES.numbers(name), Numbers), name
        assert isinstance(FIGURES.result(name).numbers, Numbers), name


def test_the_project_runs_have_every_figure():
    for run in ("grokking_main", "sparse_training_gated_0_1"):
        for kind in KINDS:  # the full-batch grokking loss has no step noise to spread
            if (kind, run) != ("loss_distribution", "grokking_main"):
                assert f"{kind}_{run}" in FIGURES.names
    assert {"comparison_dashboard", "training_curves_comparison"} <= set(FIGURES.names)


@pytest.mark.parametrize("label", experiments.DEFAULT_RUNS)
def test_dashboard_exports_the_rows_of_the_log(label):
    run = default_run(label)
    name = experiments.slug(label)
    board = FIGURES.result(f"dashboard_{name}")
    key = f"Rows{experiments.spell(label)}"
    assert FIGURES.numbers(f"dashboard_{name}")[key] == f"{len(run):,}"
    assert board.summary.rows == len(run)


def test_grokking_dashboard_has_a_panel_per_kind_of_metric_logged():
    """The grokking run logged losses, accuracies and two norms, no learning rate, gradient
    norm or throughput: three panels and the settings, none empty, none saying what is
    missing; its loss is a cross-entropy over residues, not tokens: no perplexity axis."""
    board = FIGURES.result("dashboard_grokking_main")
    assert [(panel.kind, [c.name for c in panel.curves]) for panel in board.panels] == [
        ("loss", ["train_loss", "val_loss"]), ("accuracy", ["train_acc", "val_acc"]),
        ("norm", ["weight_norm", "embedding_norm"])]
    assert [panel.title for panel in board.panels] == ["Loss", "Accuracy", "Norms"]
    assert not board.perplexity
    assert FIGURES["dashboard_grokking_main"].size(6.0)[1] == pytest.approx(
        experiments.dashboard_height(default_run("grokking/main")))


def test_dashboard_settings_start_with_what_a_reader_looks_for():
    board = FIGURES.result("dashboard_grokking_main")
    config = default_run("grokking/main").config
    assert board.settings[:5] == [f"model: {config['model']}", "lr: 0.003", "max_steps: 7,000",
                                  "weight_decay: 1", "seed: 0"]
    # then what a grokking reader wants (optimizer, p, train fraction), before leftovers
    secondary = [key for key in experiments.SECONDARY if key in config]
    assert [line.split(":")[0] for line in board.settings[5:5 + len(secondary)]] == secondary
    assert secondary[:3] == ["p", "train_fraction", "optimizer"]
    rest = board.settings[5 + len(secondary):]
    assert rest == sorted(rest) and len(rest) == experiments.MAX_OTHER_SETTINGS
    assert not any(line.startswith(("code_hash", "name:", "machine")) for line in rest)


def test_trainer_settings_after_the_headline_are_the_schedule_and_precision():
    """A Trainer's lr schedule, warmup, accumulation, optimizer and precision come before the
    alphabetical leftovers (activation_checkpointing...)."""
    config = {"learning_rate": 5e-5, "per_device_train_batch_size": 8, "num_train_epochs": 3,
              "weight_decay": 0.0, "seed": 42, "activation_checkpointing": False,
              "adam_beta1": 0.9, "lr_scheduler_type": "cosine", "warmup_steps": 10,
              "warmup_ratio": 0.0, "gradient_accumulation_steps": 4, "optim": "adamw_torch",
              "bf16": True, "fp16": False}
    lines = experiments.settings_lines(config)
    assert [line.split(":")[0] for line in lines[5:12]] == [
        "lr_scheduler_type", "warmup_steps", "warmup_ratio", "gradient_accumulation_steps",
        "optim", "bf16", "fp16"]
    assert lines[12:] == ["activation_checkpointing: False", "adam_beta1: 0.9"]


def test_the_sparse_run_settings_show_the_target_rate_not_a_result():
    board = FIGURES.result("dashboard_sparse_training_gated_0_1")
    # right after the headline settings, within the lines the panel has room for
    assert board.settings[7:9] == ["rate: 0.1", "mode: gated"]
    assert not any(line.startswith(("activation_rate_mean", "final_", "flops_"))
                   for line in board.settings)


@pytest.mark.parametrize("label", experiments.DEFAULT_RUNS)
def test_every_metric_is_drawn_once_and_counters_are_numbers(label):
    """Each metric a run logged is in one place: a dashboard panel, a panel of
    training_curves (what the dashboard leaves out) or, for a counter (samples, FLOPs: the
    review's five straight panels), the summary table; never two panels."""
    run = default_run(label)
    name = experiments.slug(label)
    board = FIGURES.result(f"dashboard_{name}")
    curves = FIGURES.result(f"training_curves_{name}")
    on_board = [curve.name for panel in board.panels for curve in panel.curves]
    drawn = [curve.name for curve in curves.curves]
    assert not set(on_board) & set(drawn)
    elsewhere = list(curves.elsewhere)  # drawn by another figure of the book (RUN_ELSEWHERE)
    assert not set(elsewhere) & set(on_board + drawn)
    assert sorted(on_board + drawn + elsewhere + curves.counters) == \
        sorted(run_stats.drawn_metrics(run))
    assert all(run_stats.family(n) != "clock" for n in on_board + drawn)
    assert all(run_stats.family(n) == "clock" for n in curves.counters)
    summarized = {metric.name for metric in board.summary.metrics}
    assert set(curves.counters) <= summarized
    tex = FIGURES.extra_files()[f"summary_{name}.tex"]
    assert all(counter.replace("_", "\\_") in tex for counter in curves.counters)
    for curve in curves.curves:
        steps, values = run.series(curve.name)
        assert np.array_equal(curve.values, values) and np.array_equal(curve.steps, steps)
        if curve.smoothed is not None:
            assert np.all(np.isfinite(curve.smoothed.values))
        else:  # drawn as logged: sparse, a schedule, too short or without step noise
            assert not run_stats.smoothed_metric(run, curve.name)


def test_the_sparse_run_has_no_counter_panels():
    user = experiments.build_registry([default_run("sparse_training/gated_0.1")])
    curves = user.result("training_curves_sparse_training_gated_0_1")
    assert [curve.name for curve in curves.curves] == [
        "val_balanced_acc", "activation_rate", "activation_rate_smoothed",
        "active_noisy_fraction"]
    assert curves.counters == ["samples_processed", "samples_trained", "flops_forward",
                               "flops_backward", "flops_total"]
    assert curves.split is None


def test_the_sparse_runs_rate_is_one_panel_against_its_target():
    """The review's redesign: the activation rate and the controller's own average of it were
    two panels at two scales, the average smoothed again, with no target. Now one panel: the
    logged rate faint under the run's own average (never smoothed again), the target read from
    the run's settings as a dotted line; the mislabelled share against the share of flipped
    training labels, and the caption's numbers are the result's."""
    run = default_run("sparse_training/gated_0.1")
    user = experiments.build_registry([run])  # a user's folder: the book leaves these out
    curves = user.result("training_curves_sparse_training_gated_0_1")
    assert curves.averages == {"activation_rate": "activation_rate_smoothed"}
    assert [c.name for c in curves.panel_curves] == [
        "val_balanced_acc", "activation_rate", "active_noisy_fraction"]
    assert curves.panels == 3
    target = curves.references["activation_rate"]
    assert (target.key, target.value) == ("rate", run.config["rate"]) and target.what == "target"
    noise = curves.references["active_noisy_fraction"]
    assert (noise.key, noise.value) == ("train_label_noise_share",
                                        run.config["train_label_noise_share"])
    # the statistics over the sparse-training chapter's window (the last third) and as it
    # computes them: the share of flipped labels pooled over the samples trained, the rate by
    # the controller's own average (the review: 23.7 % and 9.97 % over the second half)
    steps, shares = run.series("active_noisy_fraction")
    _, rate = run.series("activation_rate")
    window = steps > steps[-1] - steps[-1] // 3
    trained = np.round(rate * run.config["batch_size"])
    late = np.round(shares * trained)[window].sum() / trained[window].sum()
    assert noise.late_mean == pytest.approx(late) and late > 5 * noise.value
    assert (noise.late_from, noise.late_to) == (steps[window][0], steps[-1])
    smoothed_steps, smoothed = run.series("activation_rate_smoothed")
    assert target.late_mean == pytest.approx(smoothed[window].mean())
    assert target.late_mean == pytest.approx(run.config["smoothed_rate_last_third_mean"])
    assert abs(target.late_mean - target.value) < 0.01  # the controller holds its target
    assert curves.percent == {"val_balanced_acc", "activation_rate", "activation_rate_smoothed",
                              "active_noisy_fraction"}
    numbers = user.numbers("training_curves_sparse_training_gated_0_1")
    key = "ActiveNoisyFractionSparseTrainingGatedZeroPointOne"
    assert numbers.value(f"LastThird{key}") == pytest.approx(100 * late)
    caption = user["training_curves_sparse_training_gated_0_1"].caption
    ratio = f"{late / noise.value:.0f} times the {numbers[f'Reference{key}']}\\,\\% of " \
        "flipped training labels (dotted)"
    assert f"{numbers[f'LastThird{key}']}\\,\\% over the last third, {ratio}" in caption
    assert "target 10\\,\\%" in caption and "own average" in caption
    # drawn: the faint logged rate, the run's own average on it, the target as a dotted line
    from matplotlib.colors import to_hex

    from figkit import meanings
    with style.applied():
        fig = build_strict(user, "training_curves_sparse_training_gated_0_1", 6.0)
    ax = fig.axes[1]
    lines = ax.get_lines()
    average = run.series("activation_rate_smoothed")
    assert any(np.allclose(line.get_ydata(), 100 * average[1]) for line in lines)
    dotted = [line for line in lines if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and np.allclose(dotted[0].get_ydata(), 100 * run.config["rate"])
    assert to_hex(dotted[0].get_color()) == to_hex(meanings.role("reference").color)
    # the last third's mean, an ink line over its steps, labelled with the target (they lie
    # close); in (c) apart from the label noise's
    solid = [line for line in lines if line.get_color() == INK and line.get_linestyle() == "-"]
    assert len(solid) == 1 and list(solid[0].get_xdata()) == [target.late_from, target.late_to]
    assert np.allclose(solid[0].get_ydata(), 100 * target.late_mean)
    assert [text.get_text() for text in ax.texts] == [
        f"target\n10 %,\nlast third\n{100 * target.late_mean:.3g} %"]
    assert sorted(text.get_text() for text in fig.axes[2].texts) == [
        "label noise\n2.9 %", f"last third\n{100 * late:.3g} %"]
    assert all(axis.get_ylabel() for axis in fig.axes)  # every panel says what it measures
    # the rate and the mislabelled share are neither training nor validation: not "training"
    assert [text.get_text() for text in fig.legends[0].get_texts()] == [
        "validation", "plain validation accuracy (dashboard)", "logged values (faint)"]


def test_the_books_sparse_run_curves_repeat_no_chapter_figure():
    """The third review: (b) was threshold_adaptation (b) (the same 9.99 %), (c)
    significance_distribution (b) (the same 23.3 %), under a legend calling both "training".
    The book's figure leaves out what the chapter draws and says where it is; its claim holds:
    the balanced accuracy ends within a few points of the plain accuracy."""
    run = default_run("sparse_training/gated_0.1")
    curves = FIGURES.result("training_curves_sparse_training_gated_0_1")
    assert [c.name for c in curves.panel_curves] == ["val_balanced_acc"]
    assert set(curves.elsewhere) == {"activation_rate", "activation_rate_smoothed",
                                     "active_noisy_fraction"}
    caption = FIGURES["training_curves_sparse_training_gated_0_1"].caption
    assert "share of the batch trained: threshold\\_adaptation" in caption
    assert "trained samples mislabelled: significance\\_distribution" in caption
    assert "ends within a few points of the plain accuracy" in caption
    steps, balanced = run.series("val_balanced_acc")
    plain = run.series("val_acc")[1]
    late = steps > steps[-1] - steps[-1] // 3
    gap = 100 * (balanced[late].mean() - plain[late].mean())
    assert abs(gap) < 5
    # The fourth review: one curve alone did not show the claim. The plain accuracy the
    # dashboard draws is drawn behind it, and the title gives the gap over the last third.
    assert curves.variants["val_balanced_acc"].name == "val_acc"
    key = "VariantGapValBalancedAccSparseTrainingGatedZeroPointOne"
    assert curves.numbers[key] == f"{abs(gap):.1f}"
    assert curves.variant_below["val_balanced_acc"] == (gap < 0)
    with style.applied():
        fig = build_strict(FIGURES, "training_curves_sparse_training_gated_0_1", 3.3)
    assert len([ax for ax in fig.axes if ax.axison]) == 1
    ax = next(ax for ax in fig.axes if ax.axison)
    assert len(ax.get_lines()) >= 2
    assert "plain validation accuracy (dashboard)" in [
        t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "training" not in [t.get_text() for legend in fig.legends
                              for t in legend.get_texts()]


def test_the_grokking_norm_split():
    """The grokking run logs the norm of all parameters and of the embedding: training_curves
    divides the first into the second and the rest (which no other figure shows), and its
    caption's claims hold: the embedding's share falls and the rest's rises until the rest's
    norm peaks; then both parts shrink."""
    run = default_run("grokking/main")
    curves = FIGURES.result("training_curves_grokking_main")
    split = curves.split
    assert curves.curves == [] and curves.panels == 2
    assert (split.total, split.parts) == ("weight_norm", ["embedding_norm"])
    total = run.series("weight_norm")[1]
    embedding = run.series("embedding_norm")[1]
    assert np.allclose(split.norms["embedding_norm"] ** 2 + split.norms["rest"] ** 2, total ** 2)
    assert np.array_equal(split.norms["embedding_norm"], embedding)
    assert np.allclose(split.shares["embedding_norm"] + split.shares["rest"], 1)
    peak = int(np.argmax(split.norms["rest"]))
    assert 0 < peak < len(split.steps) - 1
    embedding_share, rest_share = split.shares["embedding_norm"], split.shares["rest"]
    assert embedding_share[peak] < embedding_share[0] - 0.5 and rest_share[peak] > 0.5
    assert np.argmin(embedding_share) >= peak * 0.9  # falling all the way to the peak
    for part in ("embedding_norm", "rest"):
        assert split.norms[part][-1] < split.norms[part][peak]
    caption = FIGURES["training_curves_grokking_main"].caption
    assert "the embedding's share falls and the rest's rises until the rest's norm peaks, " \
        "then both parts shrink" in caption
    numbers = FIGURES.numbers("training_curves_grokking_main")
    assert numbers.value("NormShareEmbeddingNormFirstGrokkingMain") == \
        pytest.approx(100 * embedding_share[0])
    assert numbers.value("NormShareRestLastGrokkingMain") == pytest.approx(100 * rest_share[-1])


def test_the_settings_panel_is_in_the_book_font_and_never_cut_mid_word():
    """The review: settings cut off mid-word ('(models.mlp....') in a monospace font unlike the
    book's. Now keys with spaces for underscores, each setting wrapped (its value indented), a
    value longer than two lines cut after its last clause that fits, and characters the text
    font lacks written so that it prints them; the headline settings first, and lines dropped
    from the end when the panel is full, never cut."""
    board = FIGURES.result("dashboard_sparse_training_gated_0_1")
    lines = experiments.settings_text(board.settings, 50, 12)
    assert lines[0].startswith("model: MLP 20 $\\to$ 64 $\\to$ 5, ReLU")
    assert lines[1].startswith("    ") and "batch size: 256" in lines
    assert "rate: 0.1" in lines and "mode: gated" in lines
    assert all(len(line.replace("$\\to$", ">")) <= 50 for line in lines)
    from figkit.checks import MISPRINTED_BY_CMR10
    for line in lines:
        plain = re.sub(r"(?<!\\)\$.*?(?<!\\)\$", "", line)
        assert not set(plain) & MISPRINTED_BY_CMR10, line
    long = ["optimizer: AdamW, full batch (models.mlp.Adam, decoupled decay on all parameters)"]
    cut = experiments.settings_text(long, 30, 10)
    assert len(cut) == 2 and cut[-1].endswith("...")
    assert "(models.mlp" not in "".join(cut)  # cut after a clause, not inside one
    assert experiments.settings_text(board.settings, 50, 3) == lines[:3]
    with style.applied():
        fig = build_strict(FIGURES, "dashboard_grokking_main", 6.0)
    settings = fig.axes[-1].texts[0]
    assert settings.get_fontfamily() == ["serif"] and "..." not in settings.get_text()[:200]


def test_metrics_are_named_for_a_reader():
    """Not raw column names ('val acc', 'activation rate smoothed'): the chapters' words for
    the book's runs, the words of a name for any other; held-out data named as the run names
    it (val_: validation, as the chapters say; eval_: evaluation); accuracies and shares in
    per cent, as the chapters give them."""
    assert experiments.readable("val_acc") == "validation accuracy"
    assert experiments.readable("train/loss") == "training loss"
    assert experiments.readable("eval_f1") == "evaluation F1"
    assert experiments.readable("activation_rate") == "share of the batch trained"
    assert experiments.readable("weight_norm") == "parameter norm"
    assert [experiments.evaluation_word(n) for n in ("val_loss", "eval/loss", "test_acc",
                                                      "validation/loss", "loss_val")] == [
        "validation", "evaluation", "test", "validation", "validation"]
    assert experiments.in_percent("val_acc", [0.2, 0.9])
    assert not experiments.in_percent("val_acc", [20, 90])  # already in per cent
    assert not experiments.in_percent("learning_rate", [0.1, 0.01])
    assert not experiments.in_percent("val_loss", [0.2, 0.9])
    for name in FIGURES.names:  # no panel title or axis label is a raw column name
        if not name.startswith(("dashboard", "training_curves", "comparison")):
            continue
        with style.applied():
            fig = build_strict(FIGURES, name, 6.0)
        for ax in fig.axes:
            for text in (ax.get_title(loc="left"), ax.get_ylabel(), ax.get_xlabel()):
                assert not re.search(r"\b(val|acc|activation rate smoothed)\b", text), \
                    (name, text)


def test_the_loss_distribution_states_its_finding():
    """The review: a full-width figure of twenty near-identical boxes with no message. Now a
    compact figure whose caption states what the boxes show, each number computed from them:
    how far the middle half of each epoch's steps and the whiskers reach, and that the spread
    stays about the same over the run."""
    distribution = FIGURES.result("loss_distribution_sparse_training_gated_0_1")
    boxes = distribution.boxes
    middle = 100 * max(max(b.upper_quartile - 1, 1 - b.lower_quartile) for b in boxes)
    whiskers = 100 * max(max(b.whisker_high - 1, 1 - b.whisker_low) for b in boxes)
    assert distribution.middle_half == pytest.approx(middle) and middle < 3
    assert distribution.whiskers == pytest.approx(whiskers) and whiskers < 8
    iqrs = [100 * (b.upper_quartile - b.lower_quartile) for b in boxes]
    assert distribution.iqr_first == pytest.approx(np.median(iqrs[:10]))
    assert distribution.iqr_second == pytest.approx(np.median(iqrs[10:]))
    assert distribution.trend == "stays about the same"
    spec = FIGURES["loss_distribution_sparse_training_gated_0_1"]
    numbers = dict(distribution.numbers.tex_items())
    key = "SparseTrainingGatedZeroPointOne"
    assert f"within $\\pm${numbers['SpreadMiddleHalf' + key]}\\,\\% of it" in spec.caption
    assert f"within $\\pm${numbers['SpreadWhiskers' + key]}\\,\\%" in spec.caption
    assert "the spread stays about the same over the run" in spec.caption
    width, height = spec.size(6.0)
    assert width < 0.7 * 6.0 and height < 2.0


def test_loss_distribution_per_epoch_or_per_tenth():
    """The sparse-training run logs its epoch: one box per epoch; the torch TensorBoard log
    does not: one box per tenth of the run. Every logged training loss (the whole batch's for
    the gated run, never the selected samples') is in exactly one box, as its ratio to the
    trend."""
    by_epoch = FIGURES.result("loss_distribution_sparse_training_gated_0_1")
    torch_log = read_run(FIXTURES / "tensorboard" / "torch")
    by_tenth = experiments.loss_distribution_result(torch_log)
    assert by_epoch.by_epoch and not by_tenth.by_epoch
    assert by_tenth.labels == list(range(1, 11))
    for run, distribution, metric in (
            (default_run("sparse_training/gated_0.1"), by_epoch, "batch_loss_mean"),
            (torch_log, by_tenth, "train/loss")):
        assert distribution.metric == metric
        values = run.series(metric)[1]
        ratio = values / run_stats.loss_trend(values)
        # every value with a centred trend (all but the first and last half window)
        half = distribution.window // 2
        assert np.all(np.isnan(ratio[:half])) and np.all(np.isfinite(ratio[half:-half]))
        assert sum(len(group) for group in distribution.groups) == len(values) - 2 * half
        assert np.array_equal(np.concatenate(distribution.groups), ratio[half:-half])
        for box, group in zip(distribution.boxes, distribution.groups, strict=True):
            assert box.whisker_low <= box.lower_quartile <= box.median <= box.upper_quartile \
                <= box.whisker_high
            assert group.min() <= box.whisker_low and box.whisker_high <= group.max()
            outside = (group < box.whisker_low) | (group > box.whisker_high)
            assert np.array_equal(np.sort(box.outliers), np.sort(group[outside]))
            # the spread around the trend, not the trend: every box straddles 1
            assert box.lower_quartile <= 1.05 and box.upper_quartile >= 0.95
    epochs = default_run("sparse_training/gated_0.1").column("epoch")
    assert by_epoch.labels == sorted({int(e) for e in epochs[~np.isnan(epochs)] if e > 0})


def test_the_first_tenth_no_longer_spans_the_fall_of_the_loss():
    """The review's defect: the first tenth's box mixed the fall of the loss with the noise.
    Around the trend, the boxes are far narrower than the fall within the first tenth."""
    run = read_run(FIXTURES / "tensorboard" / "torch")
    by_tenth = experiments.loss_distribution_result(run)
    raw = run.series("train/loss")[1]
    first = raw[:len(raw) // 10]
    assert first.max() / first.min() > 1.3  # the trend within the first tenth
    first_box = by_tenth.boxes[0]
    assert first_box.upper_quartile / first_box.lower_quartile < 1.1


def test_optimization_dynamics_of_the_grokking_run():
    """Rates, never the levels the dashboard draws (no norms panel): no loss gap (the training
    loss is negligible beside the validation loss, so the gap would redraw it), the training
    loss's improvement rate, the norms' rates beside decoupled weight decay's pull alone, and
    how far the checkpointed embedding moves per step. The caption's claims hold."""
    run = default_run("grokking/main")
    dynamics = FIGURES.result("optimization_dynamics_grokking_main")
    assert dynamics.gap is None and dynamics.gap_is_validation
    assert dynamics.norms == ["weight_norm", "embedding_norm"] and dynamics.panels == 3
    assert dynamics.log_steps
    # full-batch training: every rate of the logged values, with no smoothing lag
    steps, loss = run.series("train_loss")
    assert np.allclose(dynamics.rate.values, -np.diff(np.log(loss)) / np.diff(steps))
    steps, norm = run.series("weight_norm")
    assert np.allclose(dynamics.norm_rates[0].values, np.diff(np.log(norm)) / np.diff(steps))
    config = run.config
    pull = np.log(1 - config["lr"] * config["weight_decay"])
    assert np.allclose(dynamics.pull.values, pull)
    # late on the norm changes by a few per cent of the decay's pull: the steps push it out
    # about as fast as decay pulls it in
    late = dynamics.norm_rates[0].steps >= steps[-1] / 2
    share = np.median(np.abs(dynamics.norm_rates[0].values[late])) / abs(pull)
    assert share == pytest.approx(dynamics.norm_share_of_pull) and share < 0.05
    assert FIGURES.numbers("optimization_dynamics_grokking_main").value(
        "NormRateShareOfPullGrokkingMain") == pytest.approx(100 * share)
    # the embedding moves on after the loss has flattened
    (change,) = dynamics.changes
    assert change.name == "embedding" and list(change.edges) == config["checkpoint_steps"]
    a, b = (run.load_checkpoint(int(step))["embedding"] for step in change.edges[-2:])
    assert change.per_step[-1] * (change.edges[-1] - change.edges[-2]) == \
        pytest.approx(np.linalg.norm(b - a) / np.linalg.norm(a))
    rate = dynamics.rate
    flat = rate.steps[np.flatnonzero(rate.values > 0.01 * rate.values.max())[-1] + 1]
    after = [int(step) for step in change.edges if step >= flat]
    assert np.all(np.abs(rate.values[rate.steps >= flat]) < 0.01 * rate.values.max())
    assert change.edges[-1] - after[0] > 0.5 * change.edges[-1]  # long after
    start, end = (run.load_checkpoint(step)["embedding"] for step in (after[0], after[-1]))
    assert np.linalg.norm(end - start) / np.linalg.norm(start) > 0.1  # a tenth of its size
    caption = FIGURES["optimization_dynamics_grokking_main"].caption
    assert "generalization gap" not in caption and "smoothed" not in caption
    assert "Adam pushes the norm out about as fast as decay pulls it in" in caption


def test_the_sparse_runs_gap_is_like_for_like():
    """The gated run's train_loss is the loss of the hard samples it selected: the gap uses its
    whole batch's loss at each evaluation step, read from its centred running median. The
    review's defect: a mean since the previous evaluation put steps 1-8 of the loss's first fall
    against a validation loss after step 8 (-0.175, an artefact). Now the gap starts no further
    below zero than it stays; it lies mostly below zero, and the caption's reason holds on the
    run's probe checkpoint: the clean training samples score below the validation loss, the
    flipped ones lift the mean above it."""
    run = default_run("sparse_training/gated_0.1")
    dynamics = FIGURES.result("optimization_dynamics_sparse_training_gated_0_1")
    assert run_stats.selected_loss(run) == "train_loss"
    assert (dynamics.train, dynamics.validation) == ("batch_loss_mean", "val_loss")
    assert dynamics.rate_of == "batch_loss_mean" and dynamics.gap_how == "trend"
    assert dynamics.norm_rates == [] and dynamics.changes == [] and dynamics.panels == 2
    train_steps, train = run.series("batch_loss_mean")
    val_steps, val = run.series("val_loss")
    trend = run_stats.loss_trend(train)
    at = np.searchsorted(train_steps, val_steps, side="right") - 1
    known = ~np.isnan(trend[at])
    assert np.allclose(dynamics.gap.values, val[known] - trend[at][known])
    gap = dynamics.gap.values
    assert abs(gap[0]) < 2 * np.max(np.abs(gap[len(gap) // 2:]))  # no early artefact
    keep, means = run_stats.interval_means(train_steps, train, val_steps)
    assert val[keep][0] - means[0] < -0.15  # what the mean since the last evaluation gave
    assert np.mean(gap < 0) >= experiments.MOSTLY and np.median(gap) < 0
    late = dynamics.gap.steps >= dynamics.gap.steps[-1] / 2
    assert dynamics.gap_late_from == dynamics.gap.steps[late][0]
    assert dynamics.gap_median == pytest.approx(np.median(gap[late])) and dynamics.gap_median < 0
    # the reason: on the probe at the last step, the clean samples' mean loss is below the
    # validation loss, the mean over all of them (3 % flipped) above it
    last = run.load_checkpoint(max(run.checkpoints))
    noisy = last["noisy"].astype(bool)
    assert last["scores"][~noisy].mean() < val[-1] < last["scores"].mean()
    caption = FIGURES["optimization_dynamics_sparse_training_gated_0_1"].caption
    median = dict(dynamics.numbers.tex_items())["GapLateMedianSparseTrainingGatedZeroPointOne"]
    assert f"mostly below zero (second-half median {median}, dotted): 3\\,\\% of training " \
        "labels flipped, no validation label" in caption
    assert "training loss (whole batch) at each evaluation" in caption


def test_the_weight_decay_sweep_is_compared_at_a_common_step():
    """The grokking chapter gives the steps each run took to generalize (weight_decay_sweep);
    the comparison gives what it does not: every run's validation accuracy at the smallest step
    budget (7,000, weight decay 1's: the runs main*), in the order of their weight decay, a dot
    per run. A run that stopped early did so because its stop rule held (validation accuracy
    >= 0.95 for 500 steps): it counts with its last value, so no early stop sets the ranking
    (the review: compared at step 2,110, where one seed of weight decay 2 stopped, weight decay
    5 ranked above 1, the reverse of the chapter). Its claims hold: at 7,000 the medians of
    weight decay 1, 2 and 3 are >= 95 %, 5's below, 0's and 0.3's far below."""
    comparison = FIGURES.result("comparison_dashboard")
    _, compared = experiments.default_runs()
    runs = compared[0].runs
    assert comparison.mode == "common step" and comparison.metric == "val_acc"
    assert comparison.varying == "weight_decay" and comparison.percent
    early = {r.name for r in runs if r.config["stopped_reason"].startswith("val_acc>=0.95")}
    assert early and all(r.config["steps"] < r.config["max_steps"] for r in runs
                         if r.name in early)
    assert all(experiments.stopped_early(r) == (r.config["max_steps"] if r.name in early
                                                else None) for r in runs)
    assert comparison.step == min(r.config["max_steps"] for r in runs) == 7000
    decays = [entry.setting for entry in comparison.entries]
    assert decays == sorted(set(run.config["weight_decay"] for run in runs))
    generalized, far = [], []
    for entry in comparison.entries:
        members = [r for r in runs if r.config["weight_decay"] == entry.setting]
        assert entry.n == len(members) and f"(n={len(members)})" in entry.label
        at = []
        for r in members:
            steps, values = r.series("val_acc")
            if r.name in early:  # held >= 0.95 to its end: its last value, carried
                assert steps[-1] < comparison.step and np.all(values[steps >= steps[-1] - 500]
                                                              >= 0.95)
                at.append(values[-1])
            else:
                at.append(run_stats.value_at(steps, values, comparison.step))
        assert list(entry.values) == at and entry.value == np.median(at)
        assert entry.carried == sum(r.name in early for r in members)
        if entry.value >= 0.95:
            generalized.append(entry.setting)
        if entry.value < 0.1:
            far.append(entry.setting)
        assert entry.budget == members[0].config["max_steps"]
    assert generalized == [1.0, 2.0, 3.0] and far == [0.0, 0.3]
    caption = FIGURES["comparison_dashboard"].caption
    assert "Rule: $\\geq$ 95\\,\\% for 500 steps. Medians: 1, 2, 3 $\\geq$ 95\\,\\%, 5 " \
        "below, 0, 0.3 far below." in caption
    assert f"values at step {comparison.step:,.0f}, the smallest budget" in caption
    assert "Budgets: 7,000 steps for weight decay 1 (runs main*), 8,000 for the others" \
        in caption and "weight decay 2 and 3 stopped early (stop rule held), counted with " \
        "their last value" in caption
    assert FIGURES.numbers("comparison_dashboard")["CommonStep"] == f"{comparison.step:,.0f}"
    # the sentence is written from the result, not typed: another outcome, another sentence
    import dataclasses
    lifted = dataclasses.replace(comparison, entries=[
        dataclasses.replace(entry, value=0.97) for entry in comparison.entries])
    assert experiments.sweep_outcome(lifted, runs) == (
        "Rule: $\\geq$ 95\\,\\% for 500 steps. Medians: 0, 0.3, 1, 2, 3, 5 $\\geq$ 95\\,\\%.")
    # a run that says not why it stopped (a crash?) is not carried: compared where it ended
    plain = [dataclasses.replace(r, config={k: v for k, v in r.config.items()
                                            if k != "stopped_reason"}) for r in runs]
    unexplained = experiments.comparison_dashboard_result(plain, "val_acc")
    assert unexplained.step == min(r.series("val_acc")[0][-1] for r in runs) < 7000
    assert not any(entry.carried for entry in unexplained.entries)


def test_steps_to_a_threshold_say_how_many_runs_reached_it():
    """The review's false 'never': weight decay 5 (three seeds) was drawn as never reaching
    0.95, though one seed did (it touches 0.95 and falls back). A threshold comparison now has
    three states: every
    run reached it (the median, held or not), some did ('k of n', each one's step half-filled),
    none did (the arrow, only then). On the book's sweep, and drawn cleanly."""
    _, compared = experiments.default_runs()
    runs = compared[0].runs
    comparison = experiments.comparison_dashboard_result(runs, "val_acc", 0.95)
    by_decay = {entry.setting: entry for entry in comparison.entries}
    for decay, entry in by_decay.items():
        members = [r for r in runs if r.config["weight_decay"] == decay]
        firsts = [run_stats.steps_to(*r.series("val_acc"), 0.95, True) for r in members]
        assert np.array_equal(np.asarray(entry.values), np.asarray(firsts), equal_nan=True)
        assert entry.reached == int(np.sum(~np.isnan(firsts)))
        if entry.reached == entry.n:
            assert entry.value == np.median(firsts)
        else:
            assert np.isnan(entry.value)
    assert by_decay[5.0].reached == 1 and by_decay[5.0].n == 3
    reached = [value for value in by_decay[5.0].values if not np.isnan(value)]
    assert len(reached) == 1 and reached[0] < by_decay[5.0].budget
    assert by_decay[0.0].reached == 0 and by_decay[0.3].reached == 0
    with style.applied():
        registry_ = experiments.build_registry([], [experiments.Compared(
            "", runs, metric="val_acc", threshold=0.95)])
        for width in (4.5, 7.0):
            fig = build_strict(registry_, "comparison_dashboard", width)
            assert checks.layout_problems(fig) == []
        panel = fig.axes[1]
        notes = [text.get_text() for text in panel.texts]
        assert notes.count("1 of 3") == 1
        arrows = [line for line in panel.get_lines() if line.get_marker() == ">"]
        assert len(arrows) == 2  # weight decay 0 and 0.3: no run reached it
        half = [line for line in panel.get_lines() if line.get_fillstyle() == "left"]
        assert len(half) == 1 and list(half[0].get_xdata()) == reached


def test_compared_runs_take_the_colours_of_what_they_are():
    """The weight decays are ordered values: the sequential colours in their order, each with
    its own marker (six shades alone are hard to tell apart). In the sparse-training comparison
    the run on every sample is the baseline (named so: "full" would name full fine-tuning,
    another method of the table), the gated runs take the gated method's colour, line style and
    marker, random selection (its settings say `mode: random`) random selection's: ink,
    dash-dot, x, its second entry lighter. A seed group's band is a tint of its line's colour."""
    from matplotlib.colors import to_hex, to_rgb

    from figkit import meanings
    sweep = FIGURES.result("comparison_dashboard")
    assert all(entry.meaning is None for entry in sweep.entries)
    styles = experiments.entry_styles(sweep.entries)
    assert [s["color"] for s in styles] == [to_hex(c) for c in
                                            meanings.ordered(len(sweep.entries))]
    assert len({s["marker"] for s in styles}) == len(styles)
    sparse = FIGURES.result("comparison_dashboard_sparse_training")
    assert [(e.short, e.meaning) for e in sparse.entries] == [
        ("all samples", "baseline"), ("random 10 %", "random"), ("random 40 %", "random"),
        ("gated, 10 % target", "gated")]
    styles = experiments.entry_styles(sparse.entries)
    baseline, random, gated = (meanings.role("baseline"), meanings.method("random"),
                               meanings.method("gated"))
    assert (styles[0]["color"], styles[0]["marker"]) == (to_hex(baseline.color), "s")
    assert (styles[3]["color"], styles[3]["linestyle"], styles[3]["marker"]) == (
        to_hex(gated.color), gated.linestyle, gated.marker)
    # both random rates as random selection (ink), told apart by marker (the third review:
    # ink and a light grey beside the grey baseline)
    assert [s["linestyle"] for s in styles[1:3]] == ["-."] * 2
    assert [s["marker"] for s in styles[1:3]] == [meanings.method("random").marker,
                                                  experiments.METHOD_EXTRA_MARKERS[0]]
    assert styles[1]["color"] == styles[2]["color"] == to_hex(random.color)
    # several entries of one method: its one colour, a marker each
    three = [experiments.Entry(f"LoRA r={r}", 1, None, None, 0, 0, 0, 0, r, meaning="lora")
             for r in (4, 8, 16)]
    styles = experiments.entry_styles(three)
    assert {s["color"] for s in styles} == {to_hex(meanings.method("lora").color)}
    assert len({s["marker"] for s in styles}) == 3
    # drawn: each band a tint of its line's colour (the review: all the same grey)
    with style.applied():
        fig = build_strict(FIGURES, "comparison_dashboard", 6.0)
    ax = fig.axes[0]
    bands = [c for c in ax.collections if len(c.get_paths())]
    lines = {to_hex(line.get_color()) for line in ax.get_lines()}
    assert len(bands) == len(sweep.entries)
    for band in bands:
        face = band.get_facecolor()[0]
        assert any(checks._is_tint_of(face[:3] * face[3] + (1 - face[3]), to_rgb(line))
                   for line in lines)


def test_the_sparse_methods_are_compared_at_equal_compute():
    """The chapter gives each method's final accuracy against its total compute
    (accuracy_vs_compute); the comparison follows the accuracy over training against the
    compute spent so far (flops_total, in per cent of the all-samples runs' median total), seed
    groups drawn at the steps they share against their median compute there, and compares the
    values at the compute every run reached. The caption's claim holds wherever two entries'
    curves overlap: random selection ahead of training on all samples, gated selection behind."""
    comparison = FIGURES.result("comparison_dashboard_sparse_training")
    _, compared = experiments.default_runs()
    runs = compared[1].runs
    assert comparison.mode == "common step" and comparison.metric == "val_acc"
    assert comparison.x == "flops_total" and comparison.x_share
    assert [(entry.n, entry.band is not None) for entry in comparison.entries] == [(5, True)] * 4
    stems = [entry.label.split(" (n=")[0] for entry in comparison.entries]
    assert stems == ["all samples", "random 10 %", "random 40 %", "gated, 10 % target"]
    assert [entry.short for entry in comparison.entries] == stems
    shares = [entry.label.rsplit(", ", 1)[1] for entry in comparison.entries]
    assert shares == ["100 % compute)", "10 % compute)", "40 % compute)", "40 % compute)"]
    full = float(np.median([r.series("flops_total")[1][-1] for r in runs
                            if run_stats.seed_stem(r.name) == "full"]))
    series = {r.name: experiments.counter_series(r, "val_acc", "flops_total", full)
              for r in runs}
    assert comparison.step == min(x[-1] for x, _ in series.values())
    assert comparison.step == pytest.approx(10, abs=0.5)  # random 0.1's whole budget
    for entry, stem in zip(comparison.entries, ("full", "random_0.1", "random_0.4",
                                                 "gated_0.1"), strict=True):
        members = [r for r in runs if run_stats.seed_stem(r.name) == stem]
        at = [run_stats.value_at(*series[r.name], comparison.step) for r in members]
        assert len(members) == 5 and entry.value == np.median(at)
        assert (entry.low, entry.high) == (min(at), max(at))
        band = entry.band  # at shared steps, against the median compute there
        steps = run_stats.band([r.series("val_acc") for r in members]).steps
        along = np.median([np.interp(steps, *r.series("flops_total")) for r in members], 0)
        assert np.allclose(band.steps, 100 * along / full)
    numbers = FIGURES.numbers("comparison_dashboard_sparse_training")
    assert numbers["CommonFlopsTotal"] == f"{comparison.step:.3g}"
    medians = {entry.short: entry.band for entry in comparison.entries}

    def ahead(a, b):  # a's median above b's wherever both have a curve
        a, b = medians[a], medians[b]
        xs = np.union1d(a.steps, b.steps)
        xs = xs[(xs >= max(a.steps[1], b.steps[1])) & (xs <= min(a.steps[-1], b.steps[-1]))]
        return np.all(np.interp(xs, a.steps, a.median) > np.interp(xs, b.steps, b.median))

    assert ahead("random 10 %", "all samples") and ahead("random 40 %", "all samples")
    assert ahead("all samples", "gated, 10 % target")
    caption = FIGURES["comparison_dashboard_sparse_training"].caption
    assert "At every compute random selection leads all samples and gated trails" in caption
    # The fourth review: an axis of compute hides that the cheap runs take more steps for it.
    assert "compute is FLOPs, so random 10\\,\\% takes ten times the steps" in caption
    per_step = {stem: np.median([r.series("flops_total")[1][-1] / r.series("flops_total")[0][-1]
                                 for r in runs if run_stats.seed_stem(r.name) == stem])
                for stem in ("full", "random_0.1")}
    assert round(per_step["full"] / per_step["random_0.1"]) == 10
    # panel (b) compares at one compute: its rows do not give each run's total (the third
    # review: "at 10 % compute" over rows saying 100 / 10 / 40 / 40 % compute); the caption does
    with style.applied():
        fig = build_strict(FIGURES, "comparison_dashboard_sparse_training", 6.0)
    rows = [label.get_text() for label in fig.axes[1].get_yticklabels()]
    assert rows == [f"{stem} (n=5)" for stem in stems]
    assert "Each curve ends at its runs' total compute." in caption
    for entry in comparison.entries:  # where it ends: its runs' total, as the label gives it
        total = float(re.search(r"([\d.]+) % compute", entry.label).group(1))
        assert entry.band.steps[-1] == pytest.approx(total, abs=1.5)


def test_training_curves_comparison_shows_only_shared_metrics():
    """Every metric the runs share but the one their comparison dashboard draws (no panel
    twice) and the counters (straight lines whose ends the summaries and the compute shares
    give)."""
    for suffix, runs in ((c.suffix, c.runs) for c in experiments.default_runs()[1]):
        comparison = FIGURES.result(f"training_curves_comparison{suffix}")
        dashboard = FIGURES.result(f"comparison_dashboard{suffix}")
        names = [metric.name for metric in comparison.metrics]
        assert 0 < len(names) <= experiments.MAX_SHARED_METRICS
        assert dashboard.metric not in names and comparison.left_out == dashboard.metric
        assert all(run_stats.family(name) != "clock" for name in names)
        for metric in comparison.metrics:
            assert sum(entry.n for entry in metric.entries) == len(runs)
            assert all(metric.name in run_stats.logged_metrics(run)[0] for run in runs)


def test_the_curves_comparisons_draw_what_the_chapters_do_not():
    """The grokking sweep: not the parameter norm (grokking/weight_norm draws it) nor the
    training accuracy (weight_decay_sweep's S1): the losses and the embedding's norm, three
    panels in a row, none empty; its claim holds: the stronger the weight decay, the smaller
    the embedding's norm at the last step all runs reached (median run; the review: the ends
    of runs that stopped at different steps are not comparable), marked by a dotted line in
    every panel; the validation loss dashed (the validation role), the others solid."""
    comparison = FIGURES.result("training_curves_comparison")
    _, compared = experiments.default_runs()
    runs = compared[0].runs
    assert [metric.name for metric in comparison.metrics] == ["train_loss", "val_loss",
                                                              "embedding_norm"]
    assert set(comparison.elsewhere) == {"weight_norm", "train_acc"}
    assert comparison.common_step == min(r.series("embedding_norm")[0][-1] for r in runs)
    assert comparison.common_step < max(r.series("embedding_norm")[0][-1] for r in runs)
    norms = next(metric for metric in comparison.metrics if metric.name == "embedding_norm")
    at = [run_stats.value_at(entry.band.steps, entry.band.median, comparison.common_step)
          for entry in norms.entries]
    assert [entry.setting for entry in norms.entries] == sorted(e.setting
                                                                for e in norms.entries)
    assert np.all(np.diff(at) < 0)
    caption = FIGURES["training_curves_comparison"].caption
    assert "parameter norm: grokking/weight\\_norm" in caption
    step = FIGURES.numbers("training_curves_comparison")["CurvesCommonStep"]
    assert step == f"{comparison.common_step:,.0f}"
    assert f"dotted: step {step}, the last all runs reached" in caption
    assert "at that step, the stronger the weight decay, the smaller the embedding's norm" \
        in caption
    with style.applied():
        fig = build_strict(FIGURES, "training_curves_comparison", 6.0)
    assert len(fig.axes) == 3 and all(ax.get_ylabel() for ax in fig.axes)
    for ax, dashed in zip(fig.axes, (False, True, False), strict=True):
        lines = [line for line in ax.get_lines() if line.get_label().startswith("weight")]
        assert lines and all((line.get_linestyle() == "--") == dashed for line in lines)
        assert any(list(line.get_xdata()) == [comparison.common_step] * 2
                   for line in ax.get_lines())


def test_the_sparse_curves_comparison_is_like_for_like():
    """The random runs log the loss of their trained samples only (about 26 or 102 of 256), not
    a whole-batch loss: no training-loss panel rather than one that compares unlike losses, and
    the caption says why; the mislabelled share is read against the share of flipped training
    labels (the review: 20-25 % against 3 %), and the caption's claim holds: the gate trains on
    them several times as often as they occur, every other run at about their rate."""
    comparison = FIGURES.result("training_curves_comparison_sparse_training")
    _, compared = experiments.default_runs()
    runs = compared[1].runs
    # along the compute spent, as the comparison dashboard of these runs (the review: against
    # step, all samples was ahead of random 0.1 here, behind it there)
    dashboard = FIGURES.result("comparison_dashboard_sparse_training")
    assert comparison.x == dashboard.x == "flops_total" and comparison.x_label == \
        "compute spent (%)"
    accuracy = next(metric for metric in comparison.metrics
                    if metric.name == "val_balanced_acc")
    for entry, other in zip(accuracy.entries, dashboard.entries, strict=True):
        assert np.allclose(entry.band.steps, other.band.steps)
    medians = {entry.short: entry.band for entry in accuracy.entries}
    full, random_01 = medians["all samples"], medians["random 10 %"]
    xs = np.linspace(max(full.steps[1], random_01.steps[1]), random_01.steps[-1], 20)
    assert np.all(np.interp(xs, random_01.steps, random_01.median)
                  > np.interp(xs, full.steps, full.median))
    random = [r for r in runs if r.config["mode"] == "random"]
    assert all(run_stats.trains_on_a_selection(r) for r in random)
    lacking = [r for r in random if run_stats.whole_batch_loss(r) is None]
    names = [metric.name for metric in comparison.metrics]
    caption = FIGURES["training_curves_comparison_sparse_training"].caption
    if lacking:
        assert "train_loss" not in names
        assert comparison.unlike == {"train_loss": ["random 10 %", "random 40 %"]}
        assert "no training loss panel: random 10 \\% and random 40 \\% log it for their " \
            "trained samples only" in caption
    else:  # every run logged its whole batch's loss: like for like
        assert names[0] == "train_loss" and "every training loss is the whole batch's" in caption
    # the mislabelled share is significance_distribution (b)'s: left out, named (third review)
    assert names == ["val_loss", "val_balanced_acc"]
    assert "trained samples mislabelled: significance\\_distribution" in caption
    # the claim: gated selection's validation loss stops falling early (from its third
    # evaluation on, within 10 % of its lowest), at several times the others' final loss,
    # while its accuracy still rises
    loss = {entry.short: entry.band.median for entry in comparison.metrics[0].entries}
    gated = loss.pop("gated, 10 % target")
    assert np.all(gated[2:] < 1.1 * gated.min()) and len(gated) > 20
    assert all(gated[-1] > 3 * other[-1] for other in loss.values())
    assert all(other[-1] < 0.5 * other[0] for other in loss.values())
    rising = next(e.band.median for e in accuracy.entries if e.short == "gated, 10 % target")
    assert rising[-1] - rising[1] > 0.1
    assert "Gated's validation loss stalls early at several times the others' as its " \
        "accuracy still rises" in caption
    # one line-style convention (every panel held out: dashed) and a legend that shows it
    with style.applied():
        fig = build_strict(FIGURES, "training_curves_comparison_sparse_training", 6.0)
    drawn = {line.get_linestyle() for ax in fig.axes for line in ax.get_lines()
             if line.get_label() in comparison.labels}
    handles = fig.legends[0].legend_handles
    assert drawn == {"--"} and {handle.get_linestyle() for handle in handles} == {"--"}


def test_summary_tables_come_from_the_dashboards():
    for label in experiments.DEFAULT_RUNS:
        board = FIGURES.result(f"dashboard_{experiments.slug(label)}")
        tex = experiments.summary_tex(board)
        assert tex == FIGURES.extra_files()[f"summary_{experiments.slug(label)}.tex"]
        summary = board.summary
        assert summary.reference == "val_loss"
        assert len([line for line in tex.splitlines() if line.endswith("\\\\")]) == \
            1 + len(summary.metrics)
        reference = next(m for m in summary.metrics if m.name == summary.reference)
        assert reference.best_step == summary.best_step and reference.at_best == reference.best
        assert f"best step {summary.best_step:g} by val_loss" in experiments.summary_printed(board)


# ---- a user's messy logs: results -------------------------------------------------------------
def results_of(runs, name):
    return experiments.build_registry(runs, runs).result(name)


def test_a_language_model_run_gets_a_panel_per_kind_and_perplexity(tmp_path):
    run = load_run(lm_run(tmp_path / "lm"))
    board = results_of([run], "dashboard_lm")
    assert [(panel.title, [c.name for c in panel.curves]) for panel in board.panels] == [
        ("Loss", ["train_loss", "val_loss"]), ("Learning rate", ["learning_rate"]),
        ("Gradient norm", ["grad_norm"]), ("Throughput", ["tokens_per_second"])]
    assert board.perplexity  # a causal language model's loss: exp(loss) on the right axis
    losses = board.panels[0].curves
    assert losses[0].smoothed is not None and losses[1].smoothed is None  # eval: sparse
    assert board.panels[1].curves[0].smoothed is None  # a schedule is drawn as logged
    dynamics = results_of([run], "optimization_dynamics_lm")
    # like with like: each evaluation against the training loss at the same step, read from
    # its centred running median (no lag), where that is centred
    train_steps, train = run.series("train_loss")
    val_steps, val = run.series("val_loss")
    trend = run_stats.loss_trend(train)
    at = np.searchsorted(train_steps, val_steps, side="right") - 1
    known = ~np.isnan(trend[at])
    assert dynamics.gap_how == "trend" and known.sum() >= len(val_steps) - 1
    assert np.array_equal(dynamics.gap.steps, val_steps[known])
    assert np.allclose(dynamics.gap.values, val[known] - trend[at][known])
    assert abs(np.median(dynamics.gap.values) - 0.2) < 0.03  # the log's eval: train + 0.2
    assert np.mean(dynamics.rate.values) > 0      # the loss falls


def test_an_all_nan_metric_is_skipped_with_a_note(tmp_path):
    path = lm_run(tmp_path / "nan_metric", bleu=lambda n: np.full(n, np.nan))
    run = load_run(path)
    curves = experiments.training_curves_result(run)
    board = results_of([run], "dashboard_nan_metric")
    assert "bleu" not in [c.name for panel in board.panels for c in panel.curves]
    assert curves.curves == [] and curves.never_logged == ["bleu"]
    assert "training_curves_nan_metric" not in experiments.build_registry([run]).names


def test_the_moving_average_does_not_bridge_a_gap_in_the_log(tmp_path):
    steps = np.concatenate([np.arange(60), np.arange(500, 560)])
    noise = 0.01 * np.resize([1.0, -1.0, 0.5, -0.5], len(steps))  # a mini-batch loss's noise
    loss = np.where(steps < 500, 3.0, 1.0) + noise
    run = load_run(write_run(tmp_path / "gap", {}, {"step": steps, "train_loss": loss}))
    curve = results_of([run], "dashboard_gap").panels[0].curves[0]
    after = curve.smoothed.steps >= 500
    assert np.allclose(curve.smoothed.values[after], 1.0, atol=0.02)
    assert np.allclose(curve.smoothed.values[~after], 3.0, atol=0.02)


def test_a_curve_without_step_noise_is_drawn_as_logged(tmp_path):
    """Full-batch training logs smooth curves: a moving average would only make them lag (the
    grokking run's loss, norms and accuracies), so they are drawn as logged, and the caption
    says so; a mini-batch loss is smoothed."""
    board = FIGURES.result("dashboard_grokking_main")
    assert all(curve.smoothed is None for panel in board.panels for curve in panel.curves)
    assert "curves as logged (too short or noiseless to smooth)" in \
        FIGURES["dashboard_grokking_main"].caption
    sparse = FIGURES.result("dashboard_sparse_training_gated_0_1")
    assert sparse.panels[0].curves[0].smoothed is not None
    assert run_stats.has_step_noise(default_run("sparse_training/gated_0.1")
                                    .series("batch_loss_mean")[1])


def test_a_single_row_run_has_the_figures_it_can_fill(tmp_path):
    path = write_run(tmp_path / "one", {}, {"step": [5], "train_loss": [2.0], "val_loss": [2.5]})
    run = load_run(path)
    board = results_of([run], "dashboard_one")
    assert all(curve.single for curve in board.panels[0].curves)
    assert results_of([run], "optimization_dynamics_one").rate is None
    names = experiments.build_registry([run]).names
    assert "loss_distribution_one" not in names  # one value is no distribution
    assert board.summary.best_step == 5


def test_duplicate_steps_keep_train_and_eval_values_apart(tmp_path):
    run = load_run(lm_run(tmp_path / "dup"))
    steps, values = run.series("val_loss")
    assert len(steps) == 10 and np.all(np.isfinite(values))
    summary = results_of([run], "dashboard_dup").summary
    assert summary.reference == "val_loss" and summary.best_step in steps


def huge_run(tmp_path):
    n = 100_000
    rng = np.random.default_rng(0)
    loss = 3 * np.exp(-np.arange(n) / 20_000) + rng.normal(0, 0.02, n) + 1
    loss[77_777] = 0.5  # a dip that the statistics must see
    return load_run(write_run(tmp_path / "huge", {}, {"step": np.arange(n), "train_loss": loss}))


def test_a_huge_run_is_downsampled_for_drawing_only(tmp_path):
    run = huge_run(tmp_path)
    curve = results_of([run], "dashboard_huge").panels[0].curves[0]
    assert max(len(curve.drawn.steps), len(curve.smoothed.steps)) <= 2000
    assert 0.5 in curve.drawn.values  # the dip survives downsampling
    assert len(curve.values) == len(run)
    metric = results_of([run], "dashboard_huge").summary.metrics[0]
    assert metric.best == 0.5 and metric.best_step == 77_777 and metric.rows == len(run)


def test_a_long_noisy_log_is_smoothed_as_tensorboard_draws_it(tmp_path):
    """200,000 logged gradient norms, white noise in [1, 2]: TensorBoard smooths the 1,000 it
    samples, so its line at weight 0.6 is nearly flat; smoothed at 0.6 per logged value (a
    handful of values) the drawn line would span most of the noise, a solid band in print.
    The caption states the weight per logged value."""
    n = 200_000
    rng = np.random.default_rng(3)
    steps = np.arange(n)
    run = load_run(write_run(tmp_path / "long", {}, {
        "step": steps, "train_loss": 2 * np.exp(-steps / 50_000) + 1 + rng.normal(0, 0.02, n),
        "grad_norm": 1 + rng.random(n)}))
    registry_ = experiments.build_registry([run])
    board = registry_.result("dashboard_long")
    norm = next(curve for panel in board.panels for curve in panel.curves
                if curve.name == "grad_norm")
    late = norm.smoothed.steps > n / 100                  # past the average's first values
    spread = np.ptp(norm.smoothed.values[late])
    assert np.ptp(norm.values) > 0.99 and spread < 0.1    # flat at 1.5, the noise faint
    as_logged = run_stats.downsample(steps, run_stats.ema_with_gaps(steps, norm.values, 0.4))[1]
    assert np.ptp(as_logged[as_logged.size // 100:]) > 0.6  # what per-value 0.6 would draw
    weight = run_stats.per_value_weight(0.6, n)
    assert (f"here {weight:.5g} per value, the same memory: "
            f"{run_stats.average_span(weight):,} of the 200,000 logged values"
            in registry_["dashboard_long"].caption)


def test_compared_runs_must_share_a_step_of_their_metric(tmp_path, capsys):
    """A run that crashed after 3 steps beside one that logs from step 10: no step holds a
    value of both (the comparison drew NaN before and failed in matplotlib): exit 2, the one
    line naming both, nothing written."""
    a = write_run(tmp_path / "crashed", {}, {"step": [1, 2, 3], "train_loss": [3.0, 2.9, 2.8]})
    b = write_run(tmp_path / "long", {}, {"step": np.arange(10, 1001, 10.0),
                                          "train_loss": np.linspace(3, 1, 100)})
    out = tmp_path / "out"
    assert experiments.main([str(a), str(b), "--outdir", str(out)]) == 2
    error = capsys.readouterr().err
    assert "share no step at which all logged 'train_loss'" in error
    assert "crashed logged it last at 3" in error and "long first at 10" in error
    assert not out.exists()


def test_compared_runs_must_share_a_loss(tmp_path):
    a = load_run(write_run(tmp_path / "a", {}, {"step": [0, 1], "train_loss": [2.0, 1.0]}))
    b = load_run(write_run(tmp_path / "b", {}, {"step": [0, 1], "val_loss": [2.0, 1.0]}))
    with pytest.raises(experiments.RunError, match="share none"):
        results_of([a, b], "comparison_dashboard")


# ---- a user's messy logs: layout ---------------------------------------------------------------
# tests/test_figures.py checks the layout of the project's own runs' figures; these edge cases of
# a user's logs exist only here, so their layout is checked here (the one place this file draws).
def layout_problems(runs, name):
    """Layout, colour-blindness and meaning problems of one figure of `runs` (at 6 in)."""
    from figkit import meanings

    registry_ = experiments.build_registry(runs, runs)
    with style.applied(), meanings.tracking() as used:
        fig = build_strict(registry_, name, 6.0)
        return (checks.layout_problems(fig) + checks.colour_problems(fig)
                + checks.meaning_problems(fig, used))


def everything_run(path, rows=300, seed=0):
    """A user's run that logs every kind of thing the figures use: training and validation
    losses, a learning-rate schedule, a gradient norm, the norm of all parameters and of a
    part of them, a second evaluation score, a counter, AdamW settings, the loss of selected
    samples beside the batch's, and checkpoints of a weight matrix."""
    rng = np.random.default_rng(seed)
    steps = np.arange(rows) * 10.0
    batch = 2 * np.exp(-steps / 800) + 0.5 + rng.normal(0, 0.05, rows)
    part = 20 + 5 * np.exp(-steps / 500)
    metrics = {"step": steps, "train_loss": batch * 1.4, "batch_loss_mean": batch,
               "val_loss": np.where(np.arange(rows) % 10 == 9, batch + 0.1, np.nan),
               "val_acc": np.where(np.arange(rows) % 10 == 9, 1 - batch / 3, np.nan),
               "val_f1": np.where(np.arange(rows) % 10 == 9, 0.9 - batch / 3, np.nan),
               "learning_rate": 1e-3 * np.minimum(1, (steps + 10) / 500),
               "grad_norm": 1 + rng.random(rows), "weight_norm": np.hypot(part, 30.0),
               "embedding_norm": part, "samples_seen": (steps + 10) * 32}
    weights = rng.normal(size=(8, 4))
    checkpoints = {}
    for step in (0, 100, 1000, 2990):
        weights = weights + rng.normal(scale=0.1, size=weights.shape)
        checkpoints[step] = {"layer": weights.copy(), "scores": rng.random(16)}
    write_run(path, {"optim": "adamw_torch", "learning_rate": 1e-3, "weight_decay": 0.1,
                     "mode": "gated"}, metrics, checkpoints)
    return path


def test_edge_cases_of_a_users_logs_lay_out_cleanly(tmp_path):
    nan_metric = load_run(lm_run(tmp_path / "nan_metric", bleu=lambda n: np.full(n, np.nan)))
    one = load_run(write_run(tmp_path / "one", {}, {"step": [5], "train_loss": [2.0],
                                                    "val_loss": [2.5]}))
    most = [load_run(lm_run(tmp_path / f"run{i}", seed=i))
            for i in range(experiments.MAX_COMPARED)]
    everything = load_run(everything_run(tmp_path / "everything"))
    cases = [([nan_metric], "dashboard_nan_metric"), ([huge_run(tmp_path)], "dashboard_huge")]
    cases += [([one], name) for name in experiments.build_registry([one]).names]
    cases += [(most, name) for name in ("comparison_dashboard", "training_curves_comparison")]
    cases += [([everything], name) for name in experiments.build_registry([everything]).names]
    for runs, name in cases:
        assert layout_problems(runs, name) == [], name


def test_no_grid_cell_of_a_comparison_is_left_empty(tmp_path):
    """The review: the sixth cell of a grid of five panels was empty. The last row's spare
    cells hold the legend instead."""
    extra = {"eval_accuracy": lambda n: np.linspace(0.2, 0.8, n)}
    runs = [load_run(lm_run(tmp_path / f"r{i}", seed=i, **extra)) for i in range(2)]
    registry_ = experiments.build_registry(runs, runs)
    comparison = registry_.result("training_curves_comparison")
    assert len(comparison.metrics) == 5
    with style.applied():
        fig = build_strict(registry_, "training_curves_comparison", 6.0)
        assert checks.layout_problems(fig) == []
    drawn = [ax for ax in fig.axes if ax.get_lines()]
    spare = [ax for ax in fig.axes if not ax.get_lines()]
    assert len(drawn) == 5 and len(spare) == 1 and spare[0].get_legend() is not None
    assert not fig.legends


def test_a_run_that_logs_everything_gets_every_panel(tmp_path):
    """The figures follow what a run logged: a norm split and a second evaluation score in
    training_curves, the gap (of the batch's loss, never the selected samples'), the loss's
    and the norms' rates beside AdamW's decay (at the logged learning rate) and the movement of
    the checkpointed weight matrix (not of the scores) in optimization_dynamics; the run's
    `mode` names the gated method, whose colour it is drawn in."""
    run = load_run(everything_run(tmp_path / "everything"))
    registry_ = experiments.build_registry([run])
    assert set(registry_.names) == {f"{kind}_everything" for kind in (
        "dashboard", "training_curves", "loss_distribution", "optimization_dynamics")}
    curves = registry_.result("training_curves_everything")
    assert [c.name for c in curves.curves] == ["val_f1"] and curves.panels == 3
    assert curves.counters == ["samples_seen"] and curves.method == "gated"
    assert curves.split.parts == ["embedding_norm"]
    assert np.allclose(curves.split.norms["rest"], 30.0)
    dynamics = registry_.result("optimization_dynamics_everything")
    assert dynamics.panels == 4 and dynamics.train == "batch_loss_mean"
    assert [c.name for c in dynamics.changes] == ["layer"]
    lr_steps, lr = run.series("learning_rate")
    assert np.array_equal(dynamics.pull.steps, lr_steps)
    assert np.allclose(dynamics.pull.values, np.log(1 - lr * 0.1))
    assert np.isnan(dynamics.norm_share_of_pull)  # a schedule: no one pull to compare with
    caption = registry_["optimization_dynamics_everything"].caption
    assert caption.startswith("Optimization dynamics of the run everything: (a) the "
                              "validation loss minus the training loss (whole batch)")
    assert "(d) how far" in caption


# ---- the real libraries' folders: every figure lays out cleanly --------------------------------
FIXTURES = ROOT / "tests" / "fixtures" / "logs"
LIBRARY_FOLDERS = {
    "huggingface": [FIXTURES / "huggingface" / "trainer_run"],
    "huggingface_resumed_tensorboard": [FIXTURES / "huggingface" / "trainer_resumed" /
                                        "tensorboard"],
    "lightning_csv": [FIXTURES / "lightning" / "csv" / "lightning_logs"],
    "lightning_tensorboard": [FIXTURES / "lightning" / "tensorboard"],
    "torch_and_tensorboardx": [FIXTURES / "tensorboard" / "torch",
                               FIXTURES / "tensorboard" / "tensorboardx"],
    "wandb": [FIXTURES / "wandb"],
}


@pytest.mark.parametrize("width", [4.5, 7.0])
@pytest.mark.parametrize("library", list(LIBRARY_FOLDERS))
def test_every_figure_of_a_librarys_folder_lays_out_cleanly(library, width):
    """...and draws every colour through the table of meanings, as the book's figures do."""
    from figkit import meanings
    from records import read_runs

    runs = [run for folder in LIBRARY_FOLDERS[library] for run in read_runs(folder)]
    registry_ = experiments.build_registry(runs, runs)
    assert len(registry_.names) >= 3
    with style.applied():
        for name in registry_.names:
            with meanings.tracking() as used:
                fig = build_strict(registry_, name, width)
            problems = checks.layout_problems(fig) + checks.colour_problems(fig)
            if width == 7.0:
                problems += checks.meaning_problems(fig, used)
            assert problems == [], (name, problems)


def test_wall_time_as_the_x_axis_on_the_command_line(tmp_path):
    out = tmp_path / "out"
    result = run_cli(FIXTURES / "tensorboard" / "torch", "--x", "wall_time", "--outdir", out,
                     "--only", "dashboard_torch", "--format", "png")
    assert result.returncode == 0, result.stderr
    board = experiments.dashboard_result(
        __import__("records").read_run(FIXTURES / "tensorboard" / "torch").with_x("wall_time"))
    assert board.x_label == "wall time (min)"
    result = run_cli(FIXTURES / "huggingface" / "trainer_run", "--x", "wall_time",
                     "--outdir", out)
    assert result.returncode == 2 and "no wall time recorded" in result.stderr


def test_format_forces_a_reader_on_the_command_line(tmp_path):
    out = tmp_path / "out"
    trainer = FIXTURES / "huggingface" / "trainer_run"
    result = run_cli(trainer / "runs", "--format", "tensorboard", "--outdir", out, "--list")
    assert result.returncode == 0 and "(tensorboard)" in result.stdout
    result = run_cli(trainer, "--format", "wandb", "--outdir", out)
    assert result.returncode == 2 and "no training log recognised" in result.stderr
    assert files(out) == []


def test_a_run_that_only_touched_the_threshold_is_not_held(tmp_path):
    """The review's defect: wd 5 touched 0.95 late and ended below it; it must not read as
    stable: an entry is held only if every one of its runs still meets the threshold at its last
    step, and the panel says 'first'."""
    steps = np.arange(0, 100.0)
    touched = np.minimum(steps / 50, 1) * 0.96 - np.where(steps > 60, 0.02, 0)
    stays = np.minimum(steps / 40, 1)
    runs = [load_run(write_run(tmp_path / name, {"weight_decay": wd},
                               {"step": steps, "val_acc": acc}))
            for name, wd, acc in (("touched", 5.0, touched), ("stays", 2.0, stays))]
    comparison = experiments.comparison_dashboard_result(runs, "val_acc", 0.95)
    by_setting = {entry.setting: entry for entry in comparison.entries}
    assert by_setting[5.0].value == 50 and not by_setting[5.0].held
    assert by_setting[2.0].value == 38 and by_setting[2.0].held
    assert "first reached" in experiments.comparison_title(comparison)
    registry_ = experiments.build_registry([], [experiments.Compared(
        "", runs, metric="val_acc", threshold=0.95)])
    assert "open if some fell back by their end" in registry_["comparison_dashboard"].caption
    _, compared = experiments.default_runs()
    sweep = experiments.comparison_dashboard_result(compared[0].runs, "val_acc", 0.95)
    for entry in sweep.entries:  # the book's sweep: held exactly when every seed holds
        members = [r for r in compared[0].runs if r.config["weight_decay"] == entry.setting]
        assert entry.held == all(r.series("val_acc")[1][-1] >= 0.95 for r in members)


def test_comparisons_draw_single_runs_and_group_medians_alike():
    """A single run smoothed beside a raw group median made lr 0.2 look noisier: every entry of
    a comparison is drawn as logged, and the caption says so."""
    from records.readers import read_runs
    runs = read_runs(ROOT / "tests" / "fixtures" / "logs" / "wandb")
    comparison = experiments.training_curves_comparison_result(runs)
    for metric in comparison.metrics:
        for entry in metric.entries:
            assert entry.curve is None or entry.curve.smoothed is None
    registry_ = experiments.build_registry(runs, runs)
    assert "as logged" in registry_["training_curves_comparison"].caption
    assert "(a) curves as logged" in registry_["comparison_dashboard"].caption
    assert ". Learning rate 0.05 and 0.2 stopped early." in \
        registry_["comparison_dashboard"].caption


def test_captions_name_what_is_drawn():
    """Rates of the weight norms (grokking logs weight norms only, no gradient norm), the
    metrics in a reader's words, the selected samples' loss where a run logs one, and what the
    book's figures add to the chapters (every sentence of BOOK ends its figure's caption)."""
    caption = FIGURES["optimization_dynamics_grokking_main"].caption
    assert "gradient" not in caption and "the parameter norm and embedding norm change" in caption
    sparse = FIGURES["dashboard_sparse_training_gated_0_1"].caption
    assert "the loss of the selected samples beside the whole batch's" in sparse
    assert "In the colour of its method, gated selection" in sparse
    for key, sentences in experiments.BOOK.items():
        for kind, sentence in sentences.items():
            name = f"{kind}{key.removeprefix('comparison')}" if key.startswith("comparison") \
                else f"{kind}_{experiments.slug(key)}"
            if callable(sentence):  # written from the figure's result and runs
                runs = next(c.runs for c in experiments.default_runs()[1]
                            if f"comparison{c.suffix}" == key)
                sentence = sentence(FIGURES.result(name), runs)
            assert FIGURES[name].caption.endswith(sentence), name
    assert "overview of the run grokking\\_curves draws" in \
        FIGURES["dashboard_grokking_main"].caption
    assert "overview of the run threshold\\_adaptation draws" in sparse


def test_a_run_without_settings_has_no_settings_panel(tmp_path):
    path = lm_run(tmp_path / "bare")
    (path / "config.json").write_text("{}")  # nothing recorded (a bare TensorBoard log)
    run = load_run(path)
    assert not experiments.has_settings(run)
    board = results_of([run], "dashboard_bare")
    assert board.settings == []
    assert experiments.dashboard_shape(4, settings=False) == (2, 2)
    registry_ = experiments.build_registry([run])
    assert "settings" not in registry_["dashboard_bare"].caption


def test_dashboards_draw_roles_and_the_runs_method():
    """Training ink and solid, evaluation orange and dashed (the table of meanings' roles) for
    the grokking run; the gated run in the gated method's colour, told apart by the roles'
    line styles, its selected samples' loss in the first style of neither role; on the drawn
    figures."""
    from matplotlib.colors import to_hex

    from figkit import meanings
    with style.applied():
        grokking = build_strict(FIGURES, "dashboard_grokking_main", 6.0)
        gated = build_strict(FIGURES, "dashboard_sparse_training_gated_0_1", 6.0)
    loss = grokking.axes[0]
    styles = {(to_hex(line.get_color()), line.get_linestyle()) for line in loss.get_lines()}
    assert styles == {(to_hex(meanings.role("training").color), "-"),
                      (to_hex(meanings.role("validation").color), "--")}
    steel = to_hex(meanings.method("gated").color)
    loss = gated.axes[0]
    colours = {to_hex(line.get_color()) for line in loss.get_lines()}
    assert colours == {steel}
    by_label = {text.get_text(): handle for text, handle in zip(
        gated.legends[0].get_texts(), gated.legends[0].legend_handles, strict=True)}
    assert by_label["training"].get_linestyle() == "-"
    assert by_label["validation"].get_linestyle() == "--"  # val_: the chapters' word
    assert by_label[experiments.SELECTED_LABEL].get_linestyle() == \
        experiments.other_looks()[0][1]
    # the review: the validation loss lay on the whole batch's loss in the same colour, unseen;
    # it is drawn on top, a marker at its evaluations
    validation = next(line for line in loss.get_lines() if line.get_linestyle() == "--")
    others = [line for line in loss.get_lines() if line is not validation]
    assert validation.get_zorder() > max(line.get_zorder() for line in others)
    assert validation.get_marker() == meanings.role("validation").marker
    assert [ax.get_ylabel() for ax in gated.axes[:3]] == [
        "loss", "validation accuracy (%)", "threshold"]


def test_compared_training_losses_are_whole_batch_losses(tmp_path):
    """A run that trains on a selection of each batch logs the loss of its selected samples as
    train_loss: beside another run's, a gated run's is replaced by its whole batch's
    (batch_loss_mean); a run that logged no whole-batch loss (random selection, say) leaves the
    training-loss panel out altogether, and the caption says why: never a partial or unlike
    comparison."""
    steps = np.arange(1, 80.0)
    noise = 0.02 * np.resize([1.0, -1.0, 0.5, -0.5], len(steps))
    def run(name, mode, batch, rate):
        metrics = {"step": steps, "train_loss": 2 / np.sqrt(steps) + 0.5 + noise,
                   "val_loss": 2 / np.sqrt(steps) + 0.6, "activation_rate": np.full_like(
                       steps, rate) + np.where(rate < 1, noise, 0)}
        if batch:
            metrics["batch_loss_mean"] = 1.5 / np.sqrt(steps) + 0.4 + noise
        return load_run(write_run(tmp_path / name, {"mode": mode, "seed": 0}, metrics))

    full, gated = run("all", "full", True, 1.0), run("gated", "gated", True, 0.1)
    compared = experiments.training_curves_comparison_result([full, gated], left_out="val_loss")
    first = compared.metrics[0]
    assert first.name == "train_loss" and first.title == experiments.WHOLE_BATCH_TITLE
    gated_entry = next(e for e in first.entries if e.short == "gated")
    assert first.smoothed  # noisy: each run's values smoothed as its dashboard draws them
    assert np.array_equal(gated_entry.curve.values,
                          run_stats.smoothed_series(gated, "batch_loss_mean")[1])
    assert compared.unlike == {}
    random = run("random", "random", False, 0.1)
    assert run_stats.trains_on_a_selection(random) and run_stats.whole_batch_loss(random) is None
    compared = experiments.training_curves_comparison_result([full, gated, random],
                                                             left_out="val_loss")
    assert "train_loss" not in [metric.name for metric in compared.metrics]
    assert compared.unlike == {"train_loss": ["random"]}
    caption = experiments.curves_comparison_caption(
        experiments.Compared("", [full, gated, random]), compared)
    assert "no training loss panel: random log it for their trained samples only" in caption


def test_a_full_last_epoch_is_not_marked_partial(tmp_path):
    """Lightning's fixture logs 6 steps in each of 4 epochs: no '(part)'; a last epoch cut
    short is marked."""
    from records.readers import read_runs
    run = read_runs(ROOT / "tests" / "fixtures" / "logs" / "lightning" / "csv")[0]
    distribution = experiments.loss_distribution_result(run)
    assert distribution.by_epoch and distribution.labels == [1, 2, 3, 4]
    assert not distribution.partial_last
    sparse = FIGURES.result("loss_distribution_sparse_training_gated_0_1")
    assert not sparse.partial_last  # 20 epochs of 32 logged steps each
    rows = 33
    epochs = np.repeat([1.0, 2, 3, 4], 10)[:rows]
    path = write_run(tmp_path / "cut", {}, {"step": np.arange(rows), "epoch": epochs,
                                             "train_loss": 2 + np.cos(np.arange(rows))})
    cut = experiments.loss_distribution_result(load_run(path))
    assert cut.labels == [1, 2, 3, 4] and cut.partial_last


def test_a_users_figures_tex_points_at_their_folder_not_the_books(tmp_path, monkeypatch):
    """figures.tex and numbers.tex written for a user's runs can be \\input beside the book's:
    their images, labels and macros are the user's folder's."""
    monkeypatch.chdir(tmp_path)
    done = run_cli(str(FIXTURES / "lightning" / "csv"), "--outdir", "night-run", "--format", "png",
                   "--only", "dashboard_lightning_logs_version_0")
    assert done.returncode == 0, done.stderr
    figures = (tmp_path / "night-run" / "figures.tex").read_text()
    assert "\\includegraphics{night-run/dashboard_lightning_logs_version_0}" in figures
    assert "\\label{fig:night-run:dashboard_lightning_logs_version_0}" in figures
    assert "images/experiments" not in figures and "fig:experiments:" not in figures
    numbers = (tmp_path / "night-run" / "numbers.tex").read_text()
    assert "\\newcommand{\\NightRun" in numbers and "\\newcommand{\\Experiments" not in numbers


def test_a_loss_without_step_noise_gets_no_spread_figure():
    """The full-batch grokking run's loss follows its trend exactly: a spread figure would be
    ten boxes collapsed on 1. The gated sparse run trains on mini-batches and gets one."""
    registry = experiments.default_registry()
    assert "loss_distribution_grokking_main" not in registry.names
    assert "loss_distribution_sparse_training_gated_0_1" in registry.names


def test_a_trainers_final_summary_row_reaches_the_summary_table():
    """The Trainer's last log row (runtime, throughput, total FLOPs) is not a curve: it is
    listed under the metrics of summary_<run>.tex and of the printed summary."""
    run = read_run(FIXTURES / "huggingface" / "trainer_run")
    board = experiments.dashboard_result(run)
    assert board.totals["total_flos"] == run.totals["total_flos"] > 0
    tex = experiments.summary_tex(board)
    assert "total\\_flos (run total) & " in tex and "train\\_runtime (run total)" in tex
    assert "run total: train_samples_per_second" in experiments.summary_printed(board)


# ---- round 3 of the review ----------------------------------------------------------------------
def test_the_sparse_runs_dynamics_draw_their_message():
    """The review: two noisy lines with no visible message, a median quoted but not drawn.
    (a) the gap, with its median over the second half as a dotted line over those steps,
    labelled with its value; (b) the noisy rate faint under its centred running median, and a
    dotted line at the step by which the trend of the training loss had done 90 % of its fall
    in log (from its value at initialisation to the trend's last value); both in the caption."""
    run = default_run("sparse_training/gated_0.1")
    dynamics = FIGURES.result("optimization_dynamics_sparse_training_gated_0_1")
    steps, loss = run.series(dynamics.rate_of)
    trend = run_stats.loss_trend(loss)
    start, end = np.log(loss[0]), np.log(trend[~np.isnan(trend)][-1])
    done = np.flatnonzero(np.log(trend) <= start - experiments.FALL_SHARE * (start - end))
    assert dynamics.fall_step == steps[done[0]] and dynamics.fall_step < steps[-1] / 10
    assert run_stats.fall_done_by([0, 1, 2], [1.0, 1.0, 1.0], 0.9) != \
        run_stats.fall_done_by([0, 1, 2], [1.0, 1.0, 1.0], 0.9)  # never falls: NaN
    assert np.allclose(dynamics.rate_trend.values, run_stats.loss_trend(dynamics.rate.values),
                       equal_nan=True)
    fall = FIGURES.numbers("optimization_dynamics_sparse_training_gated_0_1")[
        "FallStepSparseTrainingGatedZeroPointOne"]
    assert fall == f"{dynamics.fall_step:,.0f}"
    caption = FIGURES["optimization_dynamics_sparse_training_gated_0_1"].caption
    assert dynamics.rate_span == 10 and dynamics.rate_from < dynamics.rate.steps[0]
    assert (f"(b) how fast it falls from step {dynamics.rate_from:,.0f} on, faint under its "
            "running median: "
            f"90\\,\\% of its log fall by step {fall} (dotted)" in caption)
    with style.applied():
        fig = build_strict(FIGURES, "optimization_dynamics_sparse_training_gated_0_1", 6.0)
    gap_ax, rate_ax = fig.axes[:2]
    dotted = [line for line in gap_ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 1 and np.allclose(dotted[0].get_ydata(), dynamics.gap_median)
    assert list(dotted[0].get_xdata()) == [dynamics.gap_late_from, dynamics.gap.steps[-1]]
    assert any(f"{dynamics.gap_median:.2g}" in text.get_text() for text in gap_ax.texts)
    faint = [line for line in rate_ax.get_lines() if (line.get_alpha() or 1) < 1]
    assert len(faint) == 1
    marks = [line for line in rate_ax.get_lines() if line.get_linestyle() == ":"]
    assert [list(line.get_xdata()) for line in marks] == [[dynamics.fall_step] * 2]
    assert "dotted: 90 % of its fall" in rate_ax.get_title(loc="left")


def test_the_gated_dashboard_says_where_its_losses_coincide():
    """The review: the validation loss lies exactly under the training loss in the same colour
    (the method's): its panel says so, with the largest gap at an evaluation (computed like for
    like); a run whose losses lie apart says nothing. The threshold, a quantity of the gate,
    is drawn dotted in ink (the reference role), as the sparse-training chapter draws it."""
    board = FIGURES.result("dashboard_sparse_training_gated_0_1")
    run = default_run("sparse_training/gated_0.1")
    gap, _ = run_stats.generalization_gap(run, board.train, board.validation)
    steps, values = run.series(board.validation)
    worst = 100 * np.max(np.abs(gap.values) / values[np.isin(steps, gap.steps)])
    assert board.coincide == pytest.approx(worst) and worst < 100 * experiments.COINCIDE
    assert (board.train, board.validation) == ("batch_loss_mean", "val_loss")
    assert np.isnan(FIGURES.result("dashboard_grokking_main").coincide)
    within = FIGURES.numbers("dashboard_sparse_training_gated_0_1")[
        "CoincideSparseTrainingGatedZeroPointOne"]
    caption = FIGURES["dashboard_sparse_training_gated_0_1"].caption
    assert "gated selection; threshold dotted" in caption
    with style.applied():
        fig = build_strict(FIGURES, "dashboard_sparse_training_gated_0_1", 6.0)
    loss_ax = fig.axes[0]
    assert f"lies on training, within {within} %" in \
        loss_ax.get_title(loc="left").replace("\n", " ")
    threshold_ax = next(ax for ax in fig.axes if "Threshold" in ax.get_title(loc="left"))
    assert {line.get_color() for line in threshold_ax.get_lines()} == {INK}
    assert {line.get_linestyle() for line in threshold_ax.get_lines()
            if (line.get_alpha() or 1) == 1} == {":"}  # the faint logged values aside


def test_a_noisy_loss_that_never_falls_gets_its_dynamics_without_a_fall_step(tmp_path):
    """A training loss that starts below where it ends (a flat, noisy loss): no step by which
    it fell, so no dotted line and no number, and the figure is drawn (it raised before)."""
    n = 400
    loss = 2 + np.random.default_rng(6).normal(0, 0.05, n)
    loss[0] = 1.5
    run = load_run(write_run(tmp_path / "flat", {}, {"step": np.arange(1, n + 1),
                                                     "train_loss": loss}))
    registry_ = experiments.build_registry([run])
    dynamics = registry_.result("optimization_dynamics_flat")
    assert dynamics.rate_trend is not None and np.isnan(dynamics.fall_step)
    assert not any("FallStep" in key for key, _ in dynamics.numbers.tex_items())
    assert "fall by step" not in registry_["optimization_dynamics_flat"].caption
    with style.applied():
        build_strict(registry_, "optimization_dynamics_flat", 6.0)


@pytest.mark.parametrize("shape", ["zero_trend", "diverges", "huge"])
def test_odd_losses_draw_without_warnings(tmp_path, shape):
    """A loss logged as 0 for its first half (its trend 0 there), one that diverges to inf
    (logged as such), one of 1e12 whose gap to its validation loss goes negative by 1e11:
    every figure is computed and drawn with no numpy warning on the user's terminal and no
    missing glyph (a minus sign in a tick label of thousands; pytest makes warnings errors)."""
    n = 500
    rng = np.random.default_rng(7)
    steps = np.arange(1, n + 1, dtype=float)
    loss = {"zero_trend": np.where(steps < n / 2, 0.0, 1 + rng.random(n)),
            "diverges": np.where(steps > 0.8 * n, np.inf, 1 + rng.random(n)),
            "huge": 1e12 * (1 + rng.random(n))}[shape]
    run = load_run(write_run(tmp_path / shape, {}, {
        "step": steps, "train_loss": loss,
        "val_loss": np.where(np.arange(n) % 10 == 9, loss + 0.1, np.nan)}))
    registry_ = experiments.build_registry([run])
    with style.applied():
        for name in registry_.names:
            build_strict(registry_, name, 6.0).canvas.draw()


def test_the_comparison_legend_names_held_out_data_as_the_runs_do(tmp_path):
    """Runs that log eval_ metrics (a Trainer's) get 'evaluation' in the comparison's key of
    line styles, as in their dashboards, not 'validation'."""
    runs = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        steps = np.arange(1, 201, dtype=float)
        loss = 2 * np.exp(-steps / 50) + 1 + rng.normal(0, 0.02, 200)
        runs.append(load_run(write_run(tmp_path / f"lr_{seed + 1}", {"learning_rate": seed + 1}, {
            "step": steps, "train_loss": loss, "grad_norm": 1 + rng.random(200),
            "eval_loss": np.where(steps % 20 == 0, loss + 0.1, np.nan),
            "eval_accuracy": np.where(steps % 20 == 0, 1 - loss / 4, np.nan)})))
    registry_ = experiments.build_registry(runs, runs)
    with style.applied():
        fig = build_strict(registry_, "training_curves_comparison", 6.0)
    texts = [text.get_text() for legend in fig.legends + [ax.get_legend() for ax in fig.axes
                                                           if ax.get_legend()]
             for text in legend.get_texts()]
    assert "evaluation" in texts and "validation" not in texts and "training" in texts


@pytest.mark.parametrize(("top", "spaced"), [(5.7, "125"), (2.3, "even"), (10.8, "decades")])
def test_perplexity_ticks_follow_its_factors(tmp_path, top, spaced):
    """A language model's loss falling from 5.7 to 2.0 spans perplexities 7 to 300: ticks at
    1, 2 and 5 of each decade (evenly spaced ones crowded 100-400 at the top and left the
    curves' 10-20 bare); from 10.8 (a model trained from scratch; 7 to 49,000) the decades
    alone (1, 2 and 5 printed 11 labels, '10,000' on '5,000'); a loss within 2.0-2.3 keeps
    evenly spaced ticks."""
    n = 300
    steps = np.arange(1, n + 1, dtype=float)
    loss = 2.0 + (top - 2.0) * np.exp(-steps / 60)
    run = load_run(write_run(tmp_path / "lm", {"model": "gpt2"}, {"step": steps,
                                                                  "train_loss": loss}))
    registry_ = experiments.build_registry([run])
    with style.applied():
        fig = build_strict(registry_, "dashboard_lm", 6.0)
        fig.canvas.draw()
    right = next(child for child in fig.axes[0].child_axes)
    low, high = sorted(right.get_ylim())
    ticks = [t for t in right.yaxis.get_majorticklocs() if low <= t <= high]
    assert len(ticks) >= 2
    mantissas = {round(t / 10 ** np.floor(np.log10(t)), 6) for t in ticks}
    expected = {"125": {1.0, 2.0, 5.0}, "decades": {1.0}}.get(spaced)
    assert mantissas == expected if expected else not mantissas <= {1.0, 2.0, 5.0}


def test_many_epochs_label_every_fifth_and_the_first_only_where_it_has_room(tmp_path):
    """Forty epochs of 20 steps from epoch 3 (the first box epoch 4: the centred trend has no
    value in the first half window): '5', '10', ... and no '4' crowding the '5' beside it;
    from epoch 0 the first box (epoch 2, counting from 1) is labelled too, three boxes before
    the '5'."""
    def labels(first):
        epochs = np.repeat(np.arange(first, first + 40.0), 20)
        n = len(epochs)
        loss = 2 + np.random.default_rng(first).normal(0, 0.05, n)
        run = load_run(write_run(tmp_path / f"from_{first}", {}, {
            "step": np.arange(n, dtype=float), "epoch": epochs, "train_loss": loss}))
        registry_ = experiments.build_registry([run])
        with style.applied():
            fig = build_strict(registry_, f"loss_distribution_from_{first}", 6.0)
            fig.canvas.draw()
        return [label.get_text() for label in fig.axes[0].get_xticklabels() if label.get_text()]

    from_three, from_zero = labels(3), labels(0)
    assert from_three[0] == "5" and all(int(text) % 5 == 0 for text in from_three)
    assert from_zero[:2] == ["2", "5"]


def test_seeds_of_a_noisy_metric_are_compared_smoothed(tmp_path):
    """Three seeds of 5,000 noisy steps: the band of a metric each run's dashboard smooths is
    the spread between the runs' smoothed values, not the step noise within them (its min-max
    over the seeds spans most of [1, 2] at every step); the sparse evaluation metric stays
    as logged; the caption says which panels are smoothed and how."""
    n = 5000
    runs = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        steps = np.arange(1, n + 1, dtype=float)
        runs.append(load_run(write_run(tmp_path / f"run_s{seed}", {"seed": seed}, {
            "step": steps, "train_loss": 2 * np.exp(-steps / 1000) + 1 + rng.normal(0, .05, n),
            "grad_norm": 1 + rng.random(n),
            "val_loss": np.where(steps % 500 == 0, 1.2 + np.exp(-steps / 1000), np.nan)})))
    registry_ = experiments.build_registry(runs, runs)
    comparison = registry_.result("training_curves_comparison")
    by_name = {metric.name: metric for metric in comparison.metrics}
    norm = by_name["grad_norm"]
    band = norm.entries[0].band
    raw = run_stats.band([run.series("grad_norm") for run in runs])
    assert norm.smoothed and np.mean(band.high - band.low) < 0.25 * np.mean(raw.high - raw.low)
    assert all(not metric.smoothed for name, metric in by_name.items() if name != "grad_norm"
               and run_stats.role(name) == "evaluation")
    caption = registry_["training_curves_comparison"].caption
    assert ("), all smoothed as each run's dashboard (TensorBoard's weight 0.6 over the 1,000"
            in caption)


def test_a_wrapped_title_keeps_a_number_with_its_unit():
    """'within 2.1 %' wraps as one word at every panel width (a '%' alone on a third line)."""
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    board = SimpleNamespace(validation="eval_loss", coincide=2.1)
    for width in np.linspace(3, 8, 60):
        text = experiments.coinciding_title(Figure(figsize=(width, 2)), "Loss", board, 3)
        assert "2.1 %" in text and not any(line.startswith("%") for line in text.splitlines())


def test_lightnings_learning_rate_monitor_reads_as_a_learning_rate():
    assert experiments.readable("lr-AdamW") == "learning rate (AdamW)"
    assert experiments.readable("lr-SGD/pg1") == "learning rate (SGD, parameter group 1)"


def test_large_whole_numbers_on_a_value_axis_get_separators_too(tmp_path):
    """Tokens per second around 40,000 print as '40,000' on the y axis, as steps do on x."""
    n = 400
    rng = np.random.default_rng(4)
    run = load_run(write_run(tmp_path / "fast", {}, {
        "step": np.arange(n), "train_loss": 2 + rng.normal(0, 0.05, n),
        "tokens_per_second": 4e4 + rng.normal(0, 800, n)}))
    registry_ = experiments.build_registry([run])
    with style.applied():
        fig = build_strict(registry_, "dashboard_fast", 6.0)
        fig.canvas.draw()
    ax = next(ax for ax in fig.axes if "Throughput" in ax.get_title(loc="left"))
    labels = [label.get_text() for label in ax.get_yticklabels() if label.get_text()]
    assert labels and all(re.fullmatch(r"\d{1,2},\d{3}", label) for label in labels)


def test_the_grokking_dynamics_name_theta_and_steps_read_as_the_chapters():
    """Panel (c) says what theta is (the embedding); linear step axes and settings print
    thousands with separators ('7,000'), as the chapters do."""
    with style.applied():
        fig = build_strict(FIGURES, "optimization_dynamics_grokking_main", 6.0)
        assert "$\\theta$: the embedding" in fig.axes[-1].get_ylabel()
        fig = build_strict(FIGURES, "dashboard_grokking_main", 6.0)
        fig.canvas.draw()
    labels = [label.get_text() for label in fig.axes[0].get_xticklabels()]
    assert any("," in label for label in labels)
    assert not any(re.search(r"\d{4}", label) for label in labels)
    assert "max_steps: 7,000" in FIGURES.result("dashboard_grokking_main").settings
