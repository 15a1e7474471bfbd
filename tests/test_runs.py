"""The recorded-run format: one writer, one loader, clear errors naming file and line."""
from __future__ import annotations

import numpy as np
import pytest

from records import (
    MissingConfigWarning,
    RunError,
    code_hash,
    discover_runs,
    load_run,
    npz_bytes,
    write_run,
)


def _record(path, **extra):
    metrics = {"step": [0, 10, 10, 20], "train_loss": [2.0, 1.0, np.nan, 0.5],
               "val_acc": [np.nan, np.nan, 0.25, 0.5]}
    checkpoints = {
        0: {"embedding": np.arange(6.0).reshape(3, 2)},
        20: {"embedding": np.ones((3, 2))},
    }
    return write_run(path, {"seed": 0, "lr": 1e-3, **extra}, metrics, checkpoints)


def test_round_trip(tmp_path):
    run = load_run(_record(tmp_path / "run_a"))
    assert run.name == "run_a" and run.config == {"seed": 0, "lr": 1e-3}
    assert run.columns == ["step", "train_loss", "val_acc"] and len(run) == 4
    steps, values = run.series("val_acc")  # train and eval rows share step 10
    assert steps.tolist() == [10, 20] and values.tolist() == [0.25, 0.5]
    assert sorted(run.checkpoints) == [0, 20]
    assert run.load_checkpoint(0)["embedding"].tolist() == [[0, 1], [2, 3], [4, 5]]


def test_writing_twice_gives_identical_bytes(tmp_path):
    a, b = _record(tmp_path / "a"), _record(tmp_path / "b")
    for rel in ("config.json", "logs/metrics.csv", "checkpoints/step_0.npz"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert npz_bytes({"x": np.zeros(3)}) == npz_bytes({"x": np.zeros(3)})


def test_metrics_are_written_exactly(tmp_path):
    text = (_record(tmp_path / "r") / "logs" / "metrics.csv").read_text()
    assert text.splitlines() == [
        "step,train_loss,val_acc",
        "0,2,",
        "10,1,",
        "10,,0.25",
        "20,0.5,0.5",
    ]


def _broken(tmp_path, csv=None, config='{"seed": 0}', name="broken"):
    path = tmp_path / name
    (path / "logs").mkdir(parents=True)
    if config is not None:
        (path / "config.json").write_text(config)
    if csv is not None:
        (path / "logs" / "metrics.csv").write_text(csv)
    return path


@pytest.mark.parametrize(
    "csv,message",
    [
        ("", "metrics.csv: empty"),
        ("step,loss\n", "no rows after the header"),
        ("loss,step\n1,2\n", "line 1: the first column must be 'step'"),
        ("step,loss\n0,1.0\n1,abc\n", "line 3: column 'loss' holds 'abc', not a number"),
        ("step,loss\n0,1.0\n1\n", "line 3: 1 cells, the header has 2"),
        # as many commas in all as rows need, but not on every row (the fast path counts
        # them in total)
        ("step,loss\n0,1.0,7\n1\n", "line 2: 3 cells, the header has 2"),
        ("step,loss\n0\n1,1.0,7\n", "line 2: 1 cells, the header has 2"),
        ("step,loss\n0,1\n1,1.0,7\n2\n", "line 3: 3 cells, the header has 2"),
        ("step,loss,loss\n0,1,2\n", "repeated column names"),
        ("step,loss\n,1.0\n", "line 2: every row needs a finite step"),
    ],
)
def test_malformed_metrics_name_file_and_line(tmp_path, csv, message):
    with pytest.raises(RunError, match="metrics.csv") as error:
        load_run(_broken(tmp_path, csv))
    assert message in str(error.value)


def test_missing_files_and_bad_json(tmp_path):
    with pytest.raises(RunError, match="not a run folder"):
        load_run(tmp_path / "nothing")
    with pytest.raises(RunError, match="metrics.csv: missing"):
        load_run(_broken(tmp_path))
    with pytest.raises(RunError, match=r"config.json, line 2: invalid JSON"):
        load_run(_broken(tmp_path, "step\n0\n", config='{\n "seed": ,\n}', name="json"))


def test_missing_config_is_an_error_or_a_warning(tmp_path):
    path = _broken(tmp_path, "step,loss\n0,1\n", config=None)
    with pytest.raises(RunError, match="config.json: missing"):
        load_run(path)
    with pytest.warns(MissingConfigWarning):
        run = load_run(path, require_config=False)
    assert run.config == {} and run.column("loss").tolist() == [1.0]
    with pytest.raises(RunError, match="no column 'acc'"):
        run.column("acc")


def test_code_hash_changes_with_code_and_parameters(tmp_path):
    source = tmp_path / "exp.py"
    source.write_text("x = 1\n")
    first = code_hash([source], {"lr": 1e-3})
    assert code_hash([source], {"lr": 1e-3}) == first
    assert code_hash([source], {"lr": 2e-3}) != first
    source.write_text("x = 2\n")
    assert code_hash([source], {"lr": 1e-3}) != first


def test_discover_runs_by_pattern(tmp_path):
    for name in ("gpt2_small", "gpt2_large", "bert"):
        _record(tmp_path / "base" / name)
    found = discover_runs(tmp_path / "base", "gpt2_*")
    assert [p.name for p in found] == ["gpt2_large", "gpt2_small"]
    with pytest.raises(RunError):
        discover_runs(tmp_path / "missing")


def test_floats_round_trip_exactly(tmp_path):
    values = np.random.default_rng(0).normal(size=5000) * 10.0 ** np.arange(-150, 150, 0.06)
    path = write_run(tmp_path / "floats", {}, {"step": np.arange(5000), "x": values})
    assert np.array_equal(load_run(path).column("x"), values)
