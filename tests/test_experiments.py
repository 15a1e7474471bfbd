"""Experiment dashboards on real-world messy logs: every case has a test, errors name the file
(and line) with exit code 2, and nothing is half-written. The figures' claims are checked on
their results (nothing drawn), the command line end to end."""
from __future__ import annotations

import numpy as np
import pytest

import experiments
from conftest import ROOT, build_strict, run_main
from figkit import checks, registry, style
from figkit.numbers import Numbers
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
    a, b = lm_run(tmp_path / "gpt2_small"), lm_run(tmp_path / "gpt2_medium", seed=1)
    out = tmp_path / "out"
    result = run_cli(a, b, "--outdir", out, "--format", "png", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    names = files(out)
    for run in ("gpt2_small", "gpt2_medium"):
        for kind in ("dashboard", "training_curves", "loss_distribution",
                     "optimization_dynamics"):
            assert f"{kind}_{run}.png" in names
        assert f"summary_{run}.tex" in names
    assert {"comparison_dashboard.png", "training_curves_comparison.png"} <= set(names)
    assert "val_loss" in result.stdout and "best step" in result.stdout  # printed summary


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
    many = [lm_run(tmp_path / f"r{i}") for i in range(9)]
    result = run_cli(*many, "--outdir", tmp_path / "out")
    assert result.returncode == 2 and "at most 8" in result.stderr
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
    assert board.settings[:5] == [f"model: {config['model']}", "lr: 0.003", "max_steps: 7000",
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
def test_training_curves_show_every_logged_metric_but_the_clock(label):
    run = default_run(label)
    curves = FIGURES.result(f"training_curves_{experiments.slug(label)}")
    logged, never_logged = run_stats.logged_metrics(run)
    drawn = [m for m in logged if m != "epoch"]
    assert sorted(curve.name for curve in curves.curves) == sorted(drawn)
    # losses first, then evaluation metrics, then the rest (each in log order)
    names = [curve.name for curve in curves.curves]
    kinds = [(run_stats.family(n) != "loss",
              run_stats.family(n) != "loss" and run_stats.role(n) != "evaluation")
             for n in names]
    assert kinds == sorted(kinds) and run_stats.family(names[0]) == "loss"
    assert curves.never_logged == never_logged
    for curve in curves.curves:
        steps, values = run.series(curve.name)
        assert np.array_equal(curve.values, values) and np.array_equal(curve.steps, steps)
        if curve.smoothed is not None:
            assert np.all(np.isfinite(curve.smoothed.values))
        else:  # drawn as logged: sparse, a counter or too short
            assert not run_stats.smoothed_metric(run, curve.name)


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
    """Grokking: the training loss falls long before the validation loss, so the gap is large
    and then closes; the training loss improves overall; the norms logged are drawn."""
    dynamics = FIGURES.result("optimization_dynamics_grokking_main")
    assert (dynamics.train, dynamics.validation) == ("train_loss", "val_loss")
    assert [curve.name for curve in dynamics.norms] == ["weight_norm", "embedding_norm"]
    assert dynamics.gap.values.max() > 1 and abs(dynamics.gap.values[-1]) < 1e-2
    rate = dynamics.rate
    assert np.sum(rate.values * np.diff(default_run("grokking/main").series("train_loss")[0])) > 0
    assert dynamics.panels == 3


def test_the_weight_decay_sweep_is_compared_by_steps_to_generalize():
    """The grokking runs stopped at different steps (the recorder stops a run once it has
    generalized): they are compared by the steps each took to reach a validation accuracy of
    0.95, in the order of their weight decay, never by a best value over unequal lengths."""
    comparison = FIGURES.result("comparison_dashboard")
    _, compared = experiments.default_runs()
    runs = compared[0].runs
    assert comparison.mode == "threshold" and comparison.metric == "val_acc"
    assert comparison.varying == "weight_decay"
    decays = [entry.setting for entry in comparison.entries]
    assert decays == sorted(decays) == sorted(run.config["weight_decay"] for run in runs)
    for entry in comparison.entries:
        run = next(r for r in runs if r.config["weight_decay"] == entry.setting)
        recorded = run.config["val_acc_0.95_step"]  # the recorder's own count
        steps, values = run.series("val_acc")
        first = steps[np.argmax(values >= 0.95)] if np.any(values >= 0.95) else np.nan
        assert entry.value == first or (np.isnan(entry.value) and np.isnan(first))
        if recorded is not None and not np.isnan(entry.value):
            assert entry.value <= recorded  # reached first; the recorder also holds it
        assert entry.last_step == steps[-1]


def test_seed_groups_are_compared_at_a_common_step():
    comparison = FIGURES.result("comparison_dashboard_sparse_training")
    _, compared = experiments.default_runs()
    runs = compared[1].runs
    # the chapter's comparison: accuracy, gated 0.1 beside random 0.1 and the compute-matched
    # random 0.4, each entry with its compute share
    assert comparison.mode == "common step" and comparison.metric == "val_acc"
    assert [(entry.n, entry.band is not None) for entry in comparison.entries] == [(5, True)] * 4
    stems = [entry.label.split(" (n=")[0] for entry in comparison.entries]
    assert stems == ["full", "random 0.1", "random 0.4", "gated 0.1"]
    shares = [entry.label.rsplit(", ", 1)[1] for entry in comparison.entries]
    assert shares == ["100 % compute)", "10 % compute)", "40 % compute)", "40 % compute)"]
    assert comparison.step == min(run.series("val_acc")[0][-1] for run in runs)
    for entry in comparison.entries:
        stem = entry.label.split(" (n=")[0].replace(" ", "_")
        members = [r for r in runs if run_stats.seed_stem(r.name) == stem]
        at = [run_stats.value_at(*r.series("val_acc"), comparison.step) for r in members]
        assert len(members) == 5 and entry.value == np.median(at)
        assert (entry.low, entry.high) == (min(at), max(at))
    assert FIGURES.numbers("comparison_dashboard_sparse_training")["CommonStep"] == \
        f"{comparison.step:,.0f}"


def test_training_curves_comparison_shows_only_shared_metrics():
    comparison = FIGURES.result("training_curves_comparison")
    _, compared = experiments.default_runs()
    runs = compared[0].runs
    names = [metric.name for metric in comparison.metrics]
    assert 0 < len(names) <= experiments.MAX_SHARED_METRICS and "epoch" not in names
    for metric in comparison.metrics:
        assert sum(entry.n for entry in metric.entries) == len(runs)
        assert all(metric.name in run_stats.logged_metrics(run)[0] for run in runs)


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
    # like with like: each evaluation against the mean training loss since the one before
    train_steps, train = run.series("train_loss")
    val_steps, val = run.series("val_loss")
    edges = np.concatenate([[-np.inf], val_steps])
    means = [train[(train_steps > a) & (train_steps <= b)].mean()
             for a, b in zip(edges[:-1], edges[1:], strict=True)]
    assert dynamics.interval_mean and np.array_equal(dynamics.gap.steps, val_steps)
    assert np.allclose(dynamics.gap.values, val - np.array(means))
    assert np.mean(dynamics.rate.values) > 0      # the loss falls


def test_an_all_nan_metric_is_skipped_with_a_note(tmp_path):
    path = lm_run(tmp_path / "nan_metric", bleu=lambda n: np.full(n, np.nan))
    curves = results_of([load_run(path)], "training_curves_nan_metric")
    names = [curve.name for curve in curves.curves]
    assert "bleu" not in names and "train_loss" in names
    assert curves.never_logged == ["bleu"]


def test_the_moving_average_does_not_bridge_a_gap_in_the_log(tmp_path):
    steps = np.concatenate([np.arange(50), np.arange(500, 550)])
    loss = np.where(steps < 500, 3.0, 1.0)
    run = load_run(write_run(tmp_path / "gap", {}, {"step": steps, "train_loss": loss}))
    curve = results_of([run], "training_curves_gap").curves[0]
    after = curve.smoothed.steps >= 500
    assert np.allclose(curve.smoothed.values[after], 1.0)
    assert np.allclose(curve.smoothed.values[~after], 3.0)


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
    curve = results_of([run], "training_curves_huge").curves[0]
    assert max(len(curve.drawn.steps), len(curve.smoothed.steps)) <= 2000
    assert 0.5 in curve.drawn.values  # the dip survives downsampling
    assert len(curve.values) == len(run)
    metric = results_of([run], "dashboard_huge").summary.metrics[0]
    assert metric.best == 0.5 and metric.best_step == 77_777 and metric.rows == len(run)


def test_compared_runs_must_share_a_loss(tmp_path):
    a = load_run(write_run(tmp_path / "a", {}, {"step": [0, 1], "train_loss": [2.0, 1.0]}))
    b = load_run(write_run(tmp_path / "b", {}, {"step": [0, 1], "val_loss": [2.0, 1.0]}))
    with pytest.raises(experiments.RunError, match="share none"):
        results_of([a, b], "comparison_dashboard")


# ---- a user's messy logs: layout ---------------------------------------------------------------
# tests/test_figures.py checks the layout of the project's own runs' figures; these edge cases of
# a user's logs exist only here, so their layout is checked here (the one place this file draws).
def layout_problems(runs, name):
    registry_ = experiments.build_registry(runs, runs)
    with style.applied():
        fig = build_strict(registry_, name, 6.0)
        return checks.layout_problems(fig) + checks.colour_problems(fig)


def test_edge_cases_of_a_users_logs_lay_out_cleanly(tmp_path):
    nan_metric = load_run(lm_run(tmp_path / "nan_metric", bleu=lambda n: np.full(n, np.nan)))
    one = load_run(write_run(tmp_path / "one", {}, {"step": [5], "train_loss": [2.0],
                                                    "val_loss": [2.5]}))
    eight = [load_run(lm_run(tmp_path / f"run{i}", seed=i)) for i in range(8)]
    cases = [([nan_metric], "training_curves_nan_metric"), ([huge_run(tmp_path)],
                                                             "training_curves_huge")]
    cases += [([one], name) for name in experiments.build_registry([one]).names]
    cases += [(eight, name) for name in ("comparison_dashboard", "training_curves_comparison")]
    for runs, name in cases:
        assert layout_problems(runs, name) == [], name


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
    from records import read_runs

    runs = [run for folder in LIBRARY_FOLDERS[library] for run in read_runs(folder)]
    registry_ = experiments.build_registry(runs, runs)
    assert len(registry_.names) >= 4
    with style.applied():
        for name in registry_.names:
            fig = build_strict(registry_, name, width)
            problems = checks.layout_problems(fig) + checks.colour_problems(fig)
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


def test_weight_decay_5_only_touched_the_threshold():
    """The review's defect: wd 5 touched 0.95 at 7,580 and ended at 0.943; it must not read as
    stable: its entry is marked not held, the stable runs held, and the panel says 'first'."""
    comparison = FIGURES.result("comparison_dashboard")
    by_label = {entry.label: entry for entry in comparison.entries}
    assert not by_label["weight decay 5 (n=1)"].held
    assert by_label["weight decay 2 (n=1)"].held and by_label["weight decay 3 (n=1)"].held
    assert "first reached" in experiments.comparison_title(comparison)
    assert "not held" in FIGURES["comparison_dashboard"].caption


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
    assert "drawn as logged" in registry_["training_curves_comparison"].caption
    assert "drawn as logged" in registry_["comparison_dashboard"].caption


def test_captions_name_what_is_drawn():
    """Norms: the kind drawn (grokking logs weight norms only); 'ordered by the setting they
    vary' only when one varies (the sparse-training methods vary none)."""
    caption = FIGURES["optimization_dynamics_grokking_main"].caption
    assert "gradient" not in caption and "weight norms" in caption
    assert "ordered by the setting they vary (weight\\_decay)" in \
        FIGURES["comparison_dashboard"].caption
    assert "ordered by" not in FIGURES["comparison_dashboard_sparse_training"].caption
    assert "compute as a share" in FIGURES["comparison_dashboard_sparse_training"].caption
    sparse = FIGURES["dashboard_sparse_training_gated_0_1"].caption
    assert "loss of selected samples only" in sparse and "batch\\_loss\\_mean" in sparse


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


def test_training_curves_draw_each_metric_in_its_role_colour():
    """Evaluation metrics red, training ones blue (the table of roles), the selected samples'
    loss in its own colour, on the drawn figure."""
    from matplotlib.colors import to_hex

    from figkit.palette import BLUE, RED
    with style.applied():
        fig = build_strict(FIGURES, "training_curves_sparse_training_gated_0_1", 6.0)
        curves = FIGURES.result("training_curves_sparse_training_gated_0_1")
        for ax, curve in zip(fig.axes, curves.curves, strict=False):
            colours = {to_hex(line.get_color()) for line in ax.get_lines()}
            if curve.name.startswith("val_"):
                assert colours == {to_hex(RED)}
            elif curve.name == "train_loss":  # the selected samples' loss
                assert to_hex(BLUE) not in colours and to_hex(RED) not in colours
            elif curve.name == "batch_loss_mean":
                assert colours == {to_hex(BLUE)}


def test_the_sparse_comparison_draws_whole_batch_training_losses():
    """The gated run's train_loss is the loss of its selected (hard) samples: beside the other
    methods' losses it is replaced by its batch mean, and the panel says 'training loss'."""
    comparison = FIGURES.result("training_curves_comparison_sparse_training")
    _, compared = experiments.default_runs()
    runs = compared[1].runs
    first = comparison.metrics[0]
    assert first.name == "train_loss" and first.title == "training loss"
    gated = next(e for e in first.entries if e.label.startswith("gated 0.1"))
    members = [r for r in runs if run_stats.seed_stem(r.name) == "gated_0.1"]
    expected = run_stats.band([r.series("batch_loss_mean") for r in members])
    assert np.array_equal(gated.band.median, expected.median)
    assert "batch_loss_mean" not in [metric.name for metric in comparison.metrics]
    assert "batch\\_loss\\_mean for the runs" in \
        FIGURES["training_curves_comparison_sparse_training"].caption


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
