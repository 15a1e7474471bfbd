"""The readers of the folders training libraries leave behind, on logs those libraries wrote
(tests/fixtures/logs/, made by make_fixtures.py with the versions in VERSIONS), and on broken
copies of them made here. Errors name the file (and line); a cut-off event file is read up to
the cut with a warning."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import experiments
from conftest import ROOT, run_main
from numerics import run_stats
from records import Run, RunError, read_run, read_runs, select
from records.readers import detect, find_runs, tensorboard
from records.readers.lightning import UnsafeSettingsWarning
from records.readers.table import standing

LOGS = ROOT / "tests" / "fixtures" / "logs"
TRAINER = LOGS / "huggingface" / "trainer_run"
RESUMED = LOGS / "huggingface" / "trainer_resumed"
LIGHTNING_CSV = LOGS / "lightning" / "csv" / "lightning_logs"
LIGHTNING_TB = LOGS / "lightning" / "tensorboard" / "lightning_logs"
TORCH = LOGS / "tensorboard" / "torch"
TENSORBOARDX = LOGS / "tensorboard" / "tensorboardx"
WANDB = LOGS / "wandb"


def cli(*args):
    return run_main(experiments, *args, "--no-cache")


def files(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


# ---- the real libraries' folders ---------------------------------------------------------------
def test_the_fixtures_are_small_and_hold_no_weights_or_pickles():
    every = [p for p in LOGS.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in every) < 600_000
    assert not [p for p in every if p.suffix in (".bin", ".safetensors", ".pt", ".pth",
                                                 ".ckpt", ".pkl")]
    versions = (LOGS / "VERSIONS").read_text()
    for package in ("torch", "transformers", "lightning", "tensorboard", "tensorboardX"):
        assert f"\n{package} " in versions


def test_trainer_folder_training_and_evaluation_rows_and_settings():
    run = read_run(TRAINER)
    assert run.format == "huggingface" and run.name == "trainer_run"
    state = json.loads((TRAINER / "trainer_state.json").read_text())
    history = state["log_history"]
    train = [row for row in history if "loss" in row]
    evaluation = [row for row in history if "eval_loss" in row]
    steps, values = run.series("loss")
    assert list(steps) == [row["step"] for row in train]
    assert list(values) == [row["loss"] for row in train]
    assert list(run.series("eval_loss")[0]) == [row["step"] for row in evaluation]
    assert run.totals["train_runtime"] == history[-1]["train_runtime"]
    assert "train_runtime" not in run.metrics  # the summary row is no point of a curve
    epochs = run.series("epoch")[1]
    assert not np.all(epochs == np.round(epochs))  # epochs as floats
    # settings: the TrainingArguments the Trainer's TensorBoard callback wrote as text, never
    # training_args.bin; the state's own fields; the model's type from config.json
    assert run.config["learning_rate"] == 3e-3 and run.config["weight_decay"] == 0.01
    assert run.config["train_batch_size"] == 8 and run.config["model_type"] == "gpt2"


def test_trainer_folder_without_final_state_reads_the_latest_checkpoint(tmp_path):
    folder = copy(TRAINER, tmp_path)
    (folder / "trainer_state.json").unlink()
    run = read_run(folder)
    latest = json.loads((folder / "checkpoint-80" / "trainer_state.json").read_text())
    assert run.series("loss")[0][-1] == latest["global_step"]
    assert any("checkpoint-80" in note for note in run.notes)
    shutil.rmtree(folder / "checkpoint-80")
    assert read_run(folder).series("loss")[0][-1] == 70


def test_trainer_settings_from_training_args_json():
    run = read_run(RESUMED)
    assert run.config["per_device_train_batch_size"] == 8
    assert run.config["seed"] == 1 and run.config["max_steps"] == 80


def test_a_resumed_tensorboard_run_keeps_the_later_values():
    """The Trainer was killed after step 45 and resumed from checkpoint-40 into the same
    folder: two event files, steps 42-44 logged twice; TensorBoard's own rule keeps the later
    ones."""
    run = read_run(RESUMED / "tensorboard", format="tensorboard")
    steps, values = run.series("train/loss")
    assert np.all(np.diff(steps) > 0) and steps[-1] == 80
    assert any("steps logged again from step 42" in note for note in run.notes)
    state = json.loads((RESUMED / "trainer_state.json").read_text())
    resumed = {row["step"]: row["loss"] for row in state["log_history"] if "loss" in row}
    for step in (42, 44):  # the values of the resumed run, not of the killed one
        assert values[list(steps).index(step)] == pytest.approx(resumed[step], rel=1e-6)
    assert "wall_time" in run.metrics


def test_lightning_logs_give_every_version_with_its_hparams():
    runs = read_runs(LIGHTNING_CSV)
    assert [run.name for run in runs] == ["lightning_logs/version_0", "lightning_logs/version_1"]
    assert [run.config["learning_rate"] for run in runs] == [0.01, 0.003]
    run = runs[0]
    assert {"epoch", "step", "train_loss_step", "val_loss", "val_acc"} <= set(run.columns)
    assert run.columns[0] == "step"  # wherever Lightning put it
    assert len(run.series("val_loss")[0]) == 4  # one per epoch
    assert read_runs(LIGHTNING_CSV.parent)[1].config == runs[1].config  # the folder above


def test_lightning_tensorboard_logger():
    run = read_run(LIGHTNING_TB / "version_0")
    assert run.format == "lightning" and run.config["model"] == "mlp-16"
    assert "hp_metric" not in run.columns  # TensorBoardLogger's placeholder
    assert {"train_loss_step", "val_loss", "lr-AdamW"} <= set(run.columns)


def test_torch_and_tensorboardx_writers_with_slash_tags():
    torch_run, x_run = read_run(TORCH), read_run(TENSORBOARDX)
    for run in (torch_run, x_run):
        assert {"train/loss", "train/lr", "eval/loss", "eval/accuracy"} <= set(run.columns)
        assert len(run.series("train/loss")[0]) == 120
        assert len(run.series("eval/accuracy")[0]) == 12
    # add_scalars wrote loss_pair/eval/ as a sub-folder: merged into the run
    assert np.array_equal(x_run.series("loss_pair/eval")[1], x_run.series("eval/loss")[1])


def test_wandb_exports_with_their_config():
    runs = read_runs(WANDB)
    assert len(runs) == 4 and all(run.format == "wandb" for run in runs)
    run = read_run(WANDB / "lr_0.2_seed_1")
    assert run.config == {"model": "mlp-32", "learning_rate": 0.2, "batch_size": 32,
                          "momentum": 0.9, "max_steps": 100, "seed": 1}
    assert "_runtime" not in run.columns and "wall_time" in run.columns
    assert len(run.series("eval/loss")[0]) == 10


def test_the_format_can_be_forced():
    assert read_run(TRAINER).format == "huggingface"
    forced = read_run(TRAINER / "runs", format="tensorboard")
    assert forced.format == "tensorboard" and "train/loss" in forced.columns
    with pytest.raises(RunError, match="unknown format"):
        detect(TRAINER, format="excel")
    with pytest.raises(RunError, match="no training log recognised"):
        detect(TRAINER, format="wandb")


def test_find_runs_by_glob_and_select_by_settings():
    found = find_runs(LOGS, "lr_0.2_*")
    assert [p.name for p in found] == ["lr_0.2_seed_0", "lr_0.2_seed_1", "lr_0.2_seed_2"]
    assert len(find_runs(LOGS, "version_*")) == 3
    runs = [run for path in find_runs(LOGS) for run in read_runs(path)]
    assert {run.format for run in runs} == {"huggingface", "lightning", "tensorboard", "wandb"}
    assert [run.name for run in select(runs, model="mlp-32", learning_rate=0.05)] == [
        "lr_0.05_seed_0"]
    assert {run.name for run in select(runs, model="gpt2")} == {"trainer_run",
                                                               "trainer_resumed"}


# ---- the rules every reader follows --------------------------------------------------------------
def test_a_value_stands_only_if_every_later_one_is_at_a_later_step():
    steps = np.array([0, 1, 2, 3, 2, 3, 4, 4, 5])
    assert list(standing(steps)) == [1, 1, 0, 0, 1, 1, 0, 1, 1]


def write_state(folder: Path, history) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"log_history": history, "global_step": 3})  # NaN -> NaN, as Python
    (folder / "trainer_state.json").write_text(text)
    return folder


def test_nan_and_inf_are_kept_apart_from_the_curve(tmp_path):
    folder = write_state(tmp_path / "diverged", [
        {"step": 1, "loss": 2.0, "epoch": 0.5}, {"step": 2, "loss": float("nan"), "epoch": 1.0},
        {"step": 3, "loss": float("inf"), "epoch": 1.5}, {"step": 3, "eval_loss": 2.5}])
    run = read_run(folder)
    assert list(run.series("loss")[1]) == [2.0]
    assert list(run.nonfinite["loss"]) == [2.0, 3.0]
    curve = run_stats.metric_curve(run, "loss")
    assert list(curve.nonfinite) == [2.0, 3.0]
    csv = tmp_path / "lightning" / "version_0"
    csv.mkdir(parents=True)
    (csv / "metrics.csv").write_text("epoch,train_loss,step\n0,1.5,0\n0,nan,1\n0,-inf,2\n")
    run = read_run(csv)
    assert list(run.series("train_loss")[1]) == [1.5]
    assert list(run.nonfinite["train_loss"]) == [1.0, 2.0]


def test_duplicate_steps_keep_the_last_value(tmp_path):
    folder = write_state(tmp_path / "dup", [
        {"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}, {"step": 2, "loss": 1.9},
        {"step": 3, "loss": 1.0}])
    run = read_run(folder)
    assert list(run.series("loss")[1]) == [3.0, 1.9, 1.0]
    assert any("logged twice" in note for note in run.notes)


def test_wall_time_as_the_x_axis():
    run = read_run(TORCH).with_x("wall_time")
    assert run.x_label == "wall time (min)"
    steps, _ = run.series("train/loss")
    assert steps[0] == 0 and np.all(np.diff(steps) >= 0)
    with pytest.raises(RunError, match="no wall time"):
        read_run(TRAINER).with_x("wall_time")


# ---- bad input -----------------------------------------------------------------------------------
def assert_exit_2(tmp_path, folder, message):
    out = tmp_path / "out"
    result = cli(folder, "--outdir", out)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and files(out) == []


def test_truncated_trainer_state_exits_2_naming_file_and_line(tmp_path):
    folder = copy(TRAINER, tmp_path)
    state = folder / "trainer_state.json"
    text = state.read_text()
    state.write_text(text[:len(text) // 2])
    lines = text[:len(text) // 2].count("\n") + 1
    assert_exit_2(tmp_path, folder, f"trainer_state.json, line {lines}: invalid JSON")


def test_a_trainer_state_without_history_exits_2(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "trainer_state.json").write_text('{"global_step": 3}')
    assert_exit_2(tmp_path, folder, "no 'log_history' list")


def test_invalid_hparams_yaml_exits_2_naming_file_and_line(tmp_path):
    folder = copy(LIGHTNING_CSV / "version_0", tmp_path)
    (folder / "hparams.yaml").write_text("batch_size: 16\nlearning_rate: [0.01\nseed: 0\n")
    assert_exit_2(tmp_path, folder, "hparams.yaml, line 3: invalid YAML")


def test_hparams_holding_python_objects_are_never_loaded(tmp_path):
    folder = copy(LIGHTNING_CSV / "version_0", tmp_path)
    (folder / "hparams.yaml").write_text(
        "args: !!python/object/apply:os.system ['echo owned > owned.txt']\n")
    with pytest.warns(UnsafeSettingsWarning, match="line 1: holds Python objects"):
        run = read_run(folder)
    assert run.config == {} and not Path("owned.txt").exists()


@pytest.mark.parametrize("content,message", [
    ("epoch,train_loss,step\n0,1.0,0\n0,oops,1\n", "line 3: column 'train_loss' holds 'oops'"),
    ("epoch,train_loss,step\n0,1.0,0\n0,0.9\n", "line 3: 2 cells, the header has 3"),
    ("epoch,train_loss,step\n0,1.0,0,5\n0,0.9\n", "line 2: 4 cells, the header has 3"),
    ("epoch,train_loss,step\n0,1.0\n0,0.9,1,5\n", "line 2: 2 cells, the header has 3"),
    ("epoch,train_loss,step\n0,1.0,0\n0,0.9,\n", "line 3: every row needs a finite 'step'"),
    ("", "metrics.csv: empty"),
])
def test_a_broken_lightning_csv_exits_2_naming_file_and_line(tmp_path, content, message):
    folder = tmp_path / "version_0"
    folder.mkdir()
    (folder / "metrics.csv").write_text(content)
    assert_exit_2(tmp_path, folder, message)


def test_a_broken_wandb_csv_exits_2(tmp_path):
    export = tmp_path / "run.csv"
    export.write_text("_step,_runtime,train/loss\n0,0.1,1.0\n1,0.2,x\n")
    assert_exit_2(tmp_path, export, "run.csv, line 3: column 'train/loss' holds 'x'")


def test_an_event_file_cut_mid_record_is_read_up_to_the_cut(tmp_path):
    folder = copy(TORCH, tmp_path)
    events = tensorboard.event_files(folder)[0]
    data = events.read_bytes()
    events.write_bytes(data[:len(data) * 2 // 3 + 5])  # a killed run: a record cut short
    with pytest.warns(tensorboard.TruncatedLogWarning, match="after .* complete records"):
        run = read_run(folder)
    full = read_run(TORCH)
    steps = run.series("train/loss")[0]
    assert 40 < len(steps) < 120
    assert np.array_equal(run.series("train/loss")[1],
                          full.series("train/loss")[1][:len(steps)])
    out = tmp_path / "out"
    result = cli(folder, "--outdir", out, "--only", "dashboard_torch", "--format", "png")
    assert result.returncode == 0 and "warning:" in result.stderr
    assert "dashboard_torch.png" in files(out)


def test_an_empty_event_file_says_what_it_read(tmp_path):
    folder = tmp_path / "empty_run"
    folder.mkdir()
    (folder / "events.out.tfevents.1700000000.host").write_bytes(b"")
    assert_exit_2(tmp_path, folder, "hold no scalars (0 events read")


def test_an_unrecognised_folder_says_what_was_looked_for_and_where(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("hello")
    assert_exit_2(tmp_path, folder, f"{folder}: no training log recognised; looked for "
                                    "logs/metrics.csv (this project), trainer_state.json")


def test_nothing_is_written_when_one_of_several_runs_is_broken(tmp_path):
    broken = tmp_path / "version_9"
    broken.mkdir()
    (broken / "metrics.csv").write_text("step,loss\n0,1\n1,?\n")
    out = tmp_path / "out"
    result = cli(TORCH, broken, "--outdir", out)
    assert result.returncode == 2 and files(out) == []


# ---- the command line and the Python API on every library's folder ---------------------------
@pytest.mark.parametrize("folder,names", [
    (TRAINER, ["dashboard_trainer_run", "loss_distribution_trainer_run",
               "optimization_dynamics_trainer_run"]),
    (LIGHTNING_CSV, ["dashboard_lightning_logs_version_0", "dashboard_lightning_logs_version_1",
                     "comparison_dashboard", "training_curves_comparison"]),
    (LIGHTNING_TB, ["dashboard_lightning_logs_version_0"]),
    (TENSORBOARDX, ["dashboard_tensorboardx", "optimization_dynamics_tensorboardx"]),
    (WANDB, ["dashboard_lr_0_2_seed_0", "comparison_dashboard"]),
])
def test_every_library_folder_gets_its_figures(tmp_path, folder, names):
    out = tmp_path / "out"
    result = cli(folder, "--outdir", out, "--list")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()
              and not line.startswith((" ", str(folder)))]
    assert set(names) <= set(listed), listed


def test_quick_plot_writes_every_figure_of_a_run(tmp_path):
    written = experiments.quick_plot(TORCH, outdir=tmp_path / "figs", formats=("png",))
    names = {p.name for p in written}
    assert {"dashboard_torch.png", "optimization_dynamics_torch.png",
            "summary_torch.tex"} <= names
    assert all(path.is_file() for path in written)
    # its dashboard draws every metric it logged: no training_curves restating it
    assert "training_curves_torch.png" not in names


def test_metric_table_at_common_steps():
    runs = read_runs(WANDB)
    table = experiments.metric_table(runs, "eval/loss", steps=[9, 49, 99])
    assert list(table.columns) == [9, 49, 99] and len(table) == 4
    run = runs[0]
    steps, values = run.series("eval/loss")
    assert table.iloc[0][49] == values[list(steps).index(49)]
    default = experiments.metric_table(runs, "eval/loss")
    assert default.columns[-1] == 99  # the last step every run reached


def test_settings_under_each_librarys_own_names():
    lines = {
        "huggingface": experiments.settings_lines(read_run(RESUMED).config),
        "lightning": experiments.settings_lines(read_runs(LIGHTNING_CSV)[0].config),
        "wandb": experiments.settings_lines(read_run(WANDB / "lr_0.2_seed_0").config),
    }
    assert lines["huggingface"][:7] == [
        "model_type: gpt2", "learning_rate: 0.003", "per_device_train_batch_size: 8",
        "num_train_epochs: 3", "max_steps: 80", "weight_decay: 0.01", "seed: 1"]
    assert lines["lightning"][:6] == ["model: mlp-16", "learning_rate: 0.01", "batch_size: 16",
                                      "max_epochs: 4", "weight_decay: 0.01", "seed: 0"]
    assert lines["wandb"][:5] == ["model: mlp-32", "learning_rate: 0.2", "batch_size: 32",
                                  "max_steps: 100", "seed: 0"]


def test_no_dashboard_panel_is_empty_and_panels_follow_what_was_logged():
    expected = {
        TRAINER: ["loss", "learning_rate", "norm", "throughput"],
        LIGHTNING_CSV / "version_0": ["loss", "accuracy", "learning_rate"],
        TORCH: ["loss", "accuracy", "learning_rate", "norm"],
    }
    for folder, kinds in expected.items():
        board = experiments.dashboard_result(read_run(folder))
        assert [panel.kind for panel in board.panels] == kinds
        assert all(panel.curves and all(len(c.steps) for c in panel.curves)
                   for panel in board.panels)


def test_sparse_evaluation_metrics_are_never_smoothed():
    run = read_run(TORCH)
    assert run_stats.metric_curve(run, "train/loss").smoothed is not None
    assert run_stats.metric_curve(run, "eval/loss").smoothed is None      # every 10 steps
    assert run_stats.metric_curve(run, "train/lr").smoothed is None       # a schedule
    lightning = read_runs(LIGHTNING_CSV)[0]
    assert run_stats.metric_curve(lightning, "val_loss").smoothed is None  # once an epoch


def test_comparison_orders_by_the_varying_setting_and_groups_seeds():
    runs = read_runs(WANDB)
    comparison = experiments.comparison_dashboard_result(runs)
    assert comparison.varying == "learning_rate" and comparison.metric == "eval/loss"
    # every entry says how many seeds it has, one as well
    assert [entry.label for entry in comparison.entries] == ["learning rate 0.05 (n=1)",
                                                            "learning rate 0.2 (n=3)"]
    group = comparison.entries[1]
    at = [run_stats.value_at(*run.series("eval/loss"), comparison.step) for run in runs[1:]]
    assert group.value == np.median(at) and (group.low, group.high) == (min(at), max(at))
    assert group.band.n == 3 and np.all(group.band.low <= group.band.median)


def test_tensorboard_reader_is_not_a_hand_written_parser():
    source = (ROOT / "scripts" / "records" / "readers" / "tensorboard.py").read_text()
    assert "event_pb2" in source and "PyRecordReader_New" in source
    assert "struct.unpack" not in source


def test_read_run_gives_the_dashboards_run_type():
    assert isinstance(read_run(TORCH), Run)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in find_runs(LOGS):
            for run in read_runs(path):
                assert run.columns[0] == "step" and len(run) > 0


def write_keras_like(folder: Path) -> Path:
    """What Keras' TensorBoard callback writes: train/ and validation/ sub-folders, scalars as
    tensors of the "scalars" plugin (its metadata on a tag's first value only), one per epoch;
    written here with TensorBoard's own writer and summary protos."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.scalar import summary_v2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    for split, offset in (("train", 0.0), ("validation", 0.2)):
        (folder / split).mkdir(parents=True)
        writer = EventFileWriter(str(folder / split))
        for epoch in range(5):
            summary = summary_v2.scalar_pb("epoch_loss", 1.0 / (epoch + 1) + offset)
            if epoch:
                summary.value[0].ClearField("metadata")
            writer.add_event(event_pb2.Event(step=epoch, wall_time=1e9 + epoch,
                                             summary=summary))
        writer.close()
    return folder


def test_keras_like_split_folders_and_tensor_scalars(tmp_path):
    run = read_run(write_keras_like(tmp_path / "logs"))
    assert run.format == "tensorboard"
    assert set(run.columns) == {"step", "train/epoch_loss", "validation/epoch_loss",
                                "wall_time"}
    assert run.series("validation/epoch_loss")[1] == pytest.approx([1.2, 0.7, 1 / 3 + 0.2,
                                                                    0.45, 0.4])
    assert run_stats.role("validation/epoch_loss") == "evaluation"


def test_training_args_bin_is_never_unpickled(tmp_path):
    """A run folder is untrusted input: training_args.bin is a pickle, and unpickling it would
    run whatever it holds."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (tmp_path / "unpickled.txt", "ran"))

    folder = copy(TRAINER, tmp_path)
    (folder / "training_args.bin").write_bytes(pickle.dumps(Payload()))
    run = read_run(folder)
    assert not (tmp_path / "unpickled.txt").exists()
    assert run.config["learning_rate"] == 3e-3  # from the JSON the Trainer also wrote


def test_a_plain_lightning_csv_reads_as_the_careful_parser_reads_it(tmp_path):
    """The fast path (pandas' C parser, column by column) gives the same run as the careful
    parser that a quoted cell sends the file to, each column a writable array of its own."""
    rows = "epoch,train_loss,step,val_loss\n" + "".join(
        f"{i // 4},{1 + 0.25 * (i % 3)},{i},{'' if i % 4 else 0.5 * i}\n" for i in range(40))
    plain, quoted = tmp_path / "plain" / "version_0", tmp_path / "quoted" / "version_0"
    for folder, text in ((plain, rows), (quoted, rows.replace("\n0,1.0,0,", '\n0,"1.0",0,'))):
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text(text)
    fast, careful = read_run(plain), read_run(quoted)
    assert fast.columns == careful.columns
    for name in fast.columns:
        assert np.array_equal(fast.metrics[name], careful.metrics[name], equal_nan=True)
        assert fast.metrics[name].flags.writeable
    fast.metrics["train_loss"][0] = 7.0  # no other column shares its memory
    assert all(fast.metrics[name][0] != 7.0 for name in fast.columns if name != "train_loss")


def test_a_csv_rewritten_while_read_is_read_again(tmp_path, monkeypatch):
    """pandas reads the file by its path, after its bytes were checked; if a run still logging
    rewrote it meanwhile (its size changed), it is read again: one consistent table, of the
    file as it is now."""
    import pandas

    from records.readers import table

    folder = tmp_path / "version_0"
    folder.mkdir()
    csv = folder / "metrics.csv"
    csv.write_text("epoch,train_loss,step\n" + "".join(f"0,{1 + i / 8},{i}\n"
                                                       for i in range(20)))
    read_csv, calls = pandas.read_csv, []

    def logging_on(source, **options):
        calls.append(source)
        if len(calls) == 1:  # the run logs two more rows just now
            with open(source, "a") as log:
                log.write("0,0.5,20\n0,0.25,21\n")
        return read_csv(source, **options)

    def careful(*args):
        raise AssertionError("the file is well formed: no need for the careful parser")

    monkeypatch.setattr(pandas, "read_csv", logging_on)
    monkeypatch.setattr(table, "_read_careful", careful)
    run = read_run(folder)
    assert len(calls) == 2
    assert list(run.metrics["step"]) == list(range(22))
    assert list(run.series("train_loss")[1]) == [1 + i / 8 for i in range(20)] + [0.5, 0.25]


def test_a_csv_rewritten_at_every_read_goes_to_the_careful_parser(tmp_path, monkeypatch):
    """Read again once; rewritten again, its bytes are read once more and parsed carefully."""
    import pandas

    folder = tmp_path / "version_0"
    folder.mkdir()
    (folder / "metrics.csv").write_text("epoch,train_loss,step\n0,1.0,0\n0,0.5,1\n")
    read_csv, calls = pandas.read_csv, []

    def logging_on(source, **options):
        calls.append(source)
        with open(source, "a") as log:
            log.write(f"0,0.25,{len(calls) + 1}\n")
        return read_csv(source, **options)

    monkeypatch.setattr(pandas, "read_csv", logging_on)
    run = read_run(folder)
    assert len(calls) == 2 and list(run.metrics["step"]) == [0, 1, 2, 3]
