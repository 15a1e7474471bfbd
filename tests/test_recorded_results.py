"""Recorded results (records.results): the format round-trips exactly and refuses bad files,
the fine-tuning and LoRA experiments are recorded and current, and their figures train nothing."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import records
from models import lora_mlp, mlp
from numerics.lora import training
from recorders import fine_tuning as fine_tuning_runs
from recorders import lora as lora_runs

RECORDERS = {"fine_tuning": fine_tuning_runs, "lora": lora_runs}


@dataclasses.dataclass(frozen=True)
class Inner:
    name: str
    weights: tuple[np.ndarray, ...]


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner
    steps: np.ndarray
    counts: np.ndarray
    loss: float
    never: float
    best: int
    flag: bool
    missing: np.ndarray | None
    layers: tuple[Inner, ...]
    shape: tuple[int, int]
    params: list[dict[str, np.ndarray]]
    config: dict = dataclasses.field(default_factory=dict)


def example() -> Outer:
    rng = np.random.default_rng(0)
    inner = Inner("a", (rng.normal(size=(2, 3)), np.arange(4.0)))
    return Outer(inner=inner, steps=np.arange(5), counts=np.array([1, 2], np.int32),
                 loss=0.1 + 0.2, never=float("inf"), best=3, flag=True, missing=None,
                 layers=(inner, Inner("b", ())), shape=(2, 3),
                 params=[{"W": rng.normal(size=(3, 2)), "b": np.zeros(2)}],
                 config={"hidden": [32, 32], "lr": 0.05, "note": None})


def assert_identical(a, b, where="result"):
    assert type(a) is type(b), (where, type(a), type(b))
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=True), where
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    else:
        assert a == b, (where, a, b)


def test_a_result_round_trips_exactly_with_its_types(tmp_path):
    records.write_result(tmp_path / "r", {"seed": 0}, example())
    assert_identical(records.read_result(tmp_path / "r", Outer), example())
    assert records.read_config(tmp_path / "r") == {"seed": 0}


def test_the_same_result_gives_the_same_bytes(tmp_path):
    for name in ("one", "two"):
        records.write_result(tmp_path / name, {"seed": 0}, example())
    for file in ("config.json", "result.json", "result.npz"):
        assert (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes()


def test_what_cannot_be_recorded_is_refused(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Odd:
        value: object

    for value in (object(), np.array(["text"]), {1: 2.0}):
        with pytest.raises(TypeError):
            records.write_result(tmp_path / "odd", {}, Odd(value))
    with pytest.raises(TypeError):
        records.write_result(tmp_path / "odd", {}, {"not": "a dataclass"})


@pytest.mark.parametrize("damage,message", [
    (lambda path: (path / "result.json").write_text('{"inner": '), "result.json, line 1"),
    (lambda path: (path / "result.json").unlink(), "result.json: missing"),
    (lambda path: (path / "result.npz").write_bytes(b"PK\x03\x04cut"), "result.npz: unreadable"),
    (lambda path: (path / "result.json").write_text(json.dumps({"steps": 1})),
     "does not hold a Outer"),
], ids=["truncated json", "no result", "truncated arrays", "other fields"])
def test_a_damaged_record_is_a_run_error_naming_the_file(tmp_path, damage, message):
    path = records.write_result(tmp_path / "r", {}, example())
    damage(path)
    with pytest.raises(records.RunError, match=message.replace("(", r"\(")):
        records.read_result(path, Outer)


@pytest.mark.parametrize("topic", sorted(RECORDERS))
def test_every_result_is_recorded_with_the_current_code(topic):
    recorder = RECORDERS[topic]
    for name in recorder.RUNS:
        assert recorder.EXPERIMENT.status(name) == "ok", \
            f"data/{topic}/{name}: run `make data` (status {recorder.EXPERIMENT.status(name)})"


@pytest.mark.parametrize("topic", sorted(RECORDERS))
def test_a_recorded_result_is_what_its_experiment_computes(topic):
    """Recomputed here, on whatever CPU runs the tests: equal up to the last bits."""
    recorder = RECORDERS[topic]
    for name, params in recorder.RUNS.items():
        recorded = recorder.load(name)
        fresh = recorder.compute(name, params)
        assert type(recorded) is type(fresh)
        for field in dataclasses.fields(fresh):
            a, b = getattr(recorded, field.name), getattr(fresh, field.name)
            if isinstance(b, np.ndarray) and b.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12,
                                           err_msg=f"{name}.{field.name}")


def test_the_figures_that_show_recorded_results_train_nothing(monkeypatch):
    """Every result of the fine-tuning and LoRA figures, computed with training disabled."""
    import fine_tuning
    import lora

    def refuse(*args, **kwargs):
        raise AssertionError("a figure trained a model")

    for module, name in ((training, "pretrain"), (training, "train_lora"),
                         (training, "train_full"), (mlp, "loss_and_grads"),
                         (lora_mlp, "loss_and_grads")):
        monkeypatch.setattr(module, name, refuse)
    for registry in (fine_tuning.FIGURES, lora.FIGURES):
        for spec in registry.specs:
            if spec.result is not None:
                spec.result()
