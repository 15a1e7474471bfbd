"""Experiment dashboards on real-world messy logs: every case has a test, errors name the file
(and line) with exit code 2, and nothing is half-written."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import experiments
from conftest import ROOT, build_strict
from figkit import checks, style
from records import load_run, write_run

SCRIPT = ROOT / "scripts" / "experiments.py"


def run_cli(*args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, env=env)


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


def _build(runs, name):
    registry = experiments.build_registry(runs, runs)
    with style.applied():
        fig, _ = build_strict(registry, name, 6.0)
        return fig, checks.layout_problems(fig) + checks.colour_problems(fig)


def test_an_all_nan_metric_is_skipped_with_a_note(tmp_path):
    path = lm_run(tmp_path / "nan_metric", bleu=lambda n: np.full(n, np.nan))
    run = load_run(path)
    fig, problems = _build([run], "training_curves_nan_metric")
    assert problems == []
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert "bleu" not in titles and "train loss" in titles
    assert "never logged: bleu" in fig.get_supxlabel()


def test_a_single_row_run_draws(tmp_path):
    path = write_run(tmp_path / "one", {}, {"step": [5], "train_loss": [2.0], "val_loss": [2.5]})
    run = load_run(path)
    for kind in ("dashboard", "training_curves", "loss_distribution", "optimization_dynamics"):
        _, problems = _build([run], f"{kind}_one")
        assert problems == [], kind


def test_duplicate_steps_keep_train_and_eval_values_apart(tmp_path):
    run = load_run(lm_run(tmp_path / "dup"))
    steps, values = run.series("val_loss")
    assert len(steps) == 10 and np.all(np.isfinite(values))
    summaries, reference, best_step = experiments.rs.summarize(run)
    assert reference == "val_loss" and best_step in steps


def test_a_huge_run_is_downsampled_for_drawing_only(tmp_path):
    n = 100_000
    rng = np.random.default_rng(0)
    loss = 3 * np.exp(-np.arange(n) / 20_000) + rng.normal(0, 0.02, n) + 1
    loss[77_777] = 0.5  # a dip that the statistics must see
    run = load_run(write_run(tmp_path / "huge", {}, {"step": np.arange(n), "train_loss": loss}))
    fig, problems = _build([run], "training_curves_huge")
    assert problems == []
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    assert lines and max(len(line.get_xdata()) for line in lines) <= 2000
    summaries, _, _ = experiments.rs.summarize(run)
    assert summaries[0].best == 0.5 and summaries[0].best_step == 77_777 and \
        summaries[0].rows == n


def test_up_to_eight_runs_stay_legible(tmp_path):
    runs = [load_run(lm_run(tmp_path / f"run{i}", seed=i)) for i in range(8)]
    for name in ("comparison_dashboard", "training_curves_comparison"):
        _, problems = _build(runs, name)
        assert problems == [], name
