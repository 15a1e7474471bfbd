"""The topic command line: bad input gives a clear message, exit code 2 and no file."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_main, run_process

SCRIPT = ROOT / "scripts" / "fine_tuning.py"
CHEAP = "transfer_learning_process"  # the quickest figure to draw


def run(*args):
    """The topic's command line, in this process (see conftest.run_main)."""
    import fine_tuning

    return run_main(fine_tuning, *args, "--no-cache")  # the project's cache stays untouched


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("args,message", [
    (["--only", "no_such_figure"], "unknown figure name(s): no_such_figure"),
    (["--only", CHEAP, "also_missing"], "unknown figure name(s): also_missing"),
    (["--textwidth", "6.5 furlongs"], "cannot read text width"),
    (["--textwidth", "2in"], "expected 3 to 8.5 in"),
    (["--textwidth", "6.5"], "give a number with a unit"),
    (["--format", "png,svg"], "unknown format"),
])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, args, message):
    outdir = tmp_path / "out"
    result = run(*args, "--outdir", outdir)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not outdir.exists()


def test_unwritable_output_folder_exits_2(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = run("--only", CHEAP, "--outdir", blocker / "images")
    assert result.returncode == 2
    assert "cannot write to output folder" in result.stderr
    assert files_under(tmp_path) == ["a_file"]


def test_argparse_errors_also_exit_2(tmp_path):
    result = run_process(SCRIPT, "--no-such-option", "--outdir", tmp_path / "out")
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr
    assert not (tmp_path / "out").exists()


def test_list_names_every_figure_with_its_caption():
    from fine_tuning import FIGURES

    result = run_process(SCRIPT, "--list")  # the entry point, as a process of its own
    assert result.returncode == 0
    for spec in FIGURES.specs:
        assert spec.name in result.stdout


def test_only_writes_the_chosen_figure_and_keeps_other_numbers(tmp_path):
    first = run("--only", "learning_rate_comparison", "--outdir", tmp_path)
    assert first.returncode == 0, first.stderr
    second = run("--only", CHEAP, "--format", "png", "--textwidth", "16cm", "--outdir", tmp_path)
    assert second.returncode == 0, second.stderr
    assert files_under(tmp_path) == sorted([  # tables.tex: the figures that are tables
        "figures.tex", "numbers.tex", "tables.tex", "learning_rate_comparison.pdf",
        "learning_rate_comparison.png", f"{CHEAP}.png"])
    numbers = (tmp_path / "numbers.tex").read_text()
    # the first run's block survives the second; shared values are defined once
    assert "% figure: learning_rate_comparison" in numbers
    assert r"\newcommand{\FineTuningAdapterOverBertMax}{10}" in numbers
    assert numbers.count(r"\newcommand{\FineTuningPretrainPeak}") == 1
    # one progress line per figure, with its time
    assert second.stdout.count("fine_tuning/") == 1 and " s" in second.stdout


def test_numbers_writes_numbers_tex_from_results_without_drawing(tmp_path):
    result = run("--numbers", "--outdir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path) == ["numbers.tex"]
    assert (tmp_path / "numbers.tex").read_text() == \
        (ROOT / "images" / "fine_tuning" / "numbers.tex").read_text()


def test_textwidth_sets_the_saved_size(tmp_path):
    from PIL import Image

    result = run("--only", CHEAP, "--format", "png", "--textwidth", "5in", "--outdir", tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / f"{CHEAP}.png") as image:
        assert image.size[0] == 5 * 300


def test_parallel_and_serial_runs_write_identical_bytes(tmp_path):
    names = ["transfer_learning_process", "convergence_analysis"]
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert run("--only", *names, "--jobs", "1", "--outdir", serial).returncode == 0
    assert run("--only", *names, "--jobs", "2", "--outdir", parallel).returncode == 0
    assert files_under(serial) == files_under(parallel)
    for name in files_under(serial):
        assert (serial / name).read_bytes() == (parallel / name).read_bytes(), name


def test_jobs_must_be_positive(tmp_path):
    result = run("--jobs", "0", "--outdir", tmp_path / "out")
    assert result.returncode == 2 and "--jobs must be at least 1" in result.stderr
    assert not (tmp_path / "out").exists()


BROKEN_TOPIC = '''
import sys
from figkit import Registry
from records import load_run

FIGURES = Registry("broken")

@FIGURES.figure(caption="Draws fine.", result=lambda: [0, 1])
def first(fig, values):
    fig.subplots().plot(values, values)

def second_result():
    return load_run(sys.argv[-1] + "/no_such_run")

@FIGURES.figure(caption="Reads a run that is not there.", result=second_result)
def second(fig, run):
    fig.subplots().plot(run.column("step"))

if __name__ == "__main__":
    sys.exit(FIGURES.main(sys.argv[1:-1]))
'''


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failing_figure_writes_nothing_and_exits_2(tmp_path, jobs):
    script = tmp_path / "broken.py"
    script.write_text(BROKEN_TOPIC)
    outdir = tmp_path / "out"
    env = dict(os.environ)
    result = subprocess.run([sys.executable, str(script), "--outdir", str(outdir), "--jobs", jobs,
                             str(tmp_path)], capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr
    assert "no_such_run: not a run folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert files_under(outdir) == []  # not even the figure that drew fine
