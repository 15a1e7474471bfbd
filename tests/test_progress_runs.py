"""The recorded progress measures of the main grokking run (data/grokking_progress/main) and of
the transformer (data/grokking_progress/transformer): current, reproducible from the code, and
the same training as data/grokking/main and data/grokking_transformer/main."""
from __future__ import annotations

import dataclasses

import numpy as np

import records
from models import modular, transformer
from numerics.grokking import progress
from recorders import grokking, grokking_progress, grokking_transformer


def _load() -> records.Run:
    return records.load_run(grokking_progress.DATA / "main")


def test_recording_is_current(capsys):
    assert grokking_progress.main(["--check"]) == 0, \
        "stale: run `python scripts/recorders/grokking_progress.py`"
    assert capsys.readouterr().out == ""


def test_the_run_is_the_main_grokking_run_with_no_checkpoints():
    run = _load()
    spec = grokking_progress.RUNS["main"]
    assert {k: v for k, v in spec.items() if k not in ("snapshot_every", "key_share")} == \
        {k: v for k, v in grokking.MAIN.items() if k != "checkpoints"}
    for key, value in spec.items():
        assert run.config[key] == value, key
    assert run.config["code_hash"] == grokking_progress.EXPERIMENT.current_hash(spec)
    assert not run.checkpoints
    assert run.columns == list(progress.COLUMNS)
    steps = run.column("step")
    every = spec["snapshot_every"]
    assert list(steps) == [s for s in range(run.config["steps"] + 1)
                           if modular.is_logged(s) and (s % every == 0 or s == run.config["steps"])]
    assert all(name in run.config and run.config[name] is not None
               for name in ("key_frequencies", "wall_time_s", "machine", "code_hash"))


def test_losses_equal_the_main_runs_log():
    """Trained afresh with the same code and parameters, the run's losses and accuracies are the
    main run's, logged by another process, at every shared step."""
    run, main = _load(), records.load_run(grokking.DATA / "main")
    steps = run.column("step")
    index = np.searchsorted(main.column("step"), steps)
    assert np.array_equal(main.column("step")[index], steps)
    for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
        np.testing.assert_allclose(run.column(name), main.column(name)[index], rtol=1e-9,
                                   err_msg=name)


def test_first_rows_reproduce():
    """The first rows of the record are what the code computes now (with the recorded key
    frequencies: they come from the last step, which this short run does not reach)."""
    run = _load()
    cfg = dataclasses.replace(grokking_progress.grok_config(grokking_progress.RUNS["main"]),
                              max_steps=100)
    split = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    result = modular.train(cfg, data=split, snapshot_every=run.config["snapshot_every"])
    fresh = progress.measures_with_key(result.snapshots, split, run.config["key_frequencies"])
    assert list(fresh["step"]) == [0, 50, 100]
    for name, values in fresh.items():
        np.testing.assert_allclose(run.column(name)[:3], values, rtol=1e-9, err_msg=name)


def test_record_writes_the_run_format(tmp_path):
    spec = {**grokking_progress.MAIN, "p": 7, "d": 3, "hidden": [5], "max_steps": 120}
    config = grokking_progress.record("tiny", spec, tmp_path)
    run = records.load_run(tmp_path / "tiny")
    assert run.config == config and not run.checkpoints
    assert list(run.column("step")) == [0, 50, 100, 120]
    assert config["key_frequencies"] and max(config["key_frequencies"]) <= 3
    for name in ("train_acc", "val_acc", "restricted_acc", "excluded_acc", "key_share"):
        assert np.all((run.column(name) >= 0) & (run.column(name) <= 1)), name
    assert grokking_progress.main(["--check", "--data", str(tmp_path)]) == 1  # main is missing


# ---- the transformer run ----------------------------------------------------------------------
def _load_transformer() -> records.Run:
    return records.load_run(grokking_progress.DATA / "transformer")


def test_the_transformer_run_is_the_recorded_transformer_with_no_checkpoints():
    run = _load_transformer()
    spec = grokking_progress.RUNS["transformer"]
    assert {k: v for k, v in spec.items() if k not in grokking_progress.MEASURING} == \
        {k: v for k, v in grokking_transformer.MAIN.items()
         if k not in grokking_transformer.SCHEDULE}
    assert spec["snapshot_every"] == grokking_progress.MAIN["snapshot_every"]
    for key, value in spec.items():
        assert run.config[key] == value, key
    assert run.config["code_hash"] == grokking_progress.EXPERIMENT.current_hash(spec)
    assert not run.checkpoints
    assert run.columns == _load().columns == list(progress.COLUMNS)
    steps = run.column("step")
    every = spec["snapshot_every"]
    assert list(steps) == [s for s in range(run.config["steps"] + 1)
                           if modular.is_logged(s) and (s % every == 0 or s == run.config["steps"])]


def test_transformer_losses_follow_the_recorded_transformer_run():
    """Trained afresh in float32 (bit-identical training), measured in float64: accuracies
    equal the recorded run's at every shared step, losses agree to float32 rounding where they
    are above the float32 floor."""
    run = _load_transformer()
    recorded = records.load_run(grokking_transformer.DATA / "main")
    steps = run.column("step")
    index = np.searchsorted(recorded.column("step"), steps)
    assert np.array_equal(recorded.column("step")[index], steps)
    for name in ("train_acc", "val_acc"):
        np.testing.assert_array_equal(run.column(name), recorded.column(name)[index], name)
    np.testing.assert_allclose(run.column("val_loss"), recorded.column("val_loss")[index],
                               rtol=1e-3)
    train, logged = run.column("train_loss"), recorded.column("train_loss")[index]
    above = logged > 1e-3
    np.testing.assert_allclose(train[above], logged[above], rtol=1e-3)


def test_transformer_first_rows_reproduce():
    """The first two rows (steps 0 and 50) are what the code computes now. float32 training
    follows BLAS's summation order, which depends on its thread count (`make test` runs one
    thread, as the recorder did; a bare pytest may run several): 50 steps stay within 1e-3
    (accuracies within a few pairs), 100 would not."""
    run = _load_transformer()
    spec = grokking_progress.RUNS["transformer"]
    cfg = dataclasses.replace(grokking_progress.transformer_config(spec), max_steps=50)
    split = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    result = transformer.train(cfg, data=split, snapshot_every=run.config["snapshot_every"])
    fresh = progress.transformer_measures_with_key(result.snapshots, split,
                                                   run.config["key_frequencies"], cfg.n_heads)
    assert list(fresh["step"]) == [0, 50]
    for name, values in fresh.items():
        # accuracies: within a few pairs (each is 1 / n of it)
        np.testing.assert_allclose(run.column(name)[:2], values, rtol=1e-3,
                                   atol=2e-3 if "acc" in name else 0, err_msg=name)
    np.testing.assert_allclose(run.column("restricted_loss")[0], fresh["restricted_loss"][0],
                               rtol=1e-9)  # step 0: no training, exact


def test_record_writes_a_transformer_run(tmp_path):
    spec = {**grokking_progress.TRANSFORMER, "p": 7, "d": 8, "n_heads": 2, "d_mlp": 12,
            "max_steps": 60}
    config = grokking_progress.record("tiny", spec, tmp_path)
    run = records.load_run(tmp_path / "tiny")
    assert run.config == config and not run.checkpoints
    assert list(run.column("step")) == [0, 50, 60]
    assert config["key_frequencies"] and max(config["key_frequencies"]) <= 3
    assert run.columns == list(progress.COLUMNS)
