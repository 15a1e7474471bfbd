"""Hugging Face Trainer output folders.

    <output_dir>/trainer_state.json            `log_history`: training rows (loss, grad_norm,
                                                learning_rate, epoch, step), evaluation rows
                                                (eval_* keys) and a final summary row
                                                (train_runtime, train_loss, ...)
    <output_dir>/checkpoint-<N>/trainer_state.json   the same, as of step N
    <output_dir>/config.json                   the model's configuration (not the run's)
    <output_dir>/training_args.json            the arguments, where a script saved them as JSON
    <output_dir>/runs/*/events.out.tfevents.*  with report_to="tensorboard": the arguments as
                                                the text summary "args"

The history is read from the top-level trainer_state.json, or from the latest checkpoint-*/
when the run saved no final state (a run killed or still going). The settings come from what
the folder holds as JSON: training_args.json, else the "args" text the Trainer's TensorBoard
callback wrote, plus trainer_state.json's own fields and the model's name from config.json.
training_args.bin is a pickle and is never opened.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np

from ..format import Run, RunError
from .table import Assembly, Logged, build_run

STATE = "trainer_state.json"
ARGS = "training_args.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: Fields of trainer_state.json that describe the run (the rest is bookkeeping).
STATE_SETTINGS = ("train_batch_size", "num_train_epochs", "max_steps", "logging_steps",
                  "eval_steps", "save_steps", "global_step", "best_metric",
                  "best_model_checkpoint")
#: Keys of the model's config.json that name the model.
MODEL_KEYS = ("_name_or_path", "model_type", "architectures")
#: Keys only the final summary row holds.
SUMMARY_KEYS = ("train_runtime", "total_flos")


def state_file(folder: Path) -> Path | None:
    """trainer_state.json at the top of `folder`, or in its latest checkpoint-*/ (the one
    with the largest step) when the top has none."""
    top = folder / STATE
    if top.is_file():
        return top
    latest = latest_checkpoint(folder, STATE)
    return latest / STATE if latest else None


def latest_checkpoint(folder: Path, holding: str) -> Path | None:
    """The checkpoint-<N>/ folder with the largest N that holds the file `holding`."""
    checkpoints = sorted((int(m.group(1)), p) for p in Path(folder).glob("checkpoint-*")
                         if (m := _CHECKPOINT.match(p.name)) and (p / holding).is_file())
    return checkpoints[-1][1] if checkpoints else None


def is_trainer_folder(folder: Path) -> bool:
    return state_file(folder) is not None


def read_json(path: Path, what: str):
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path}: not UTF-8 text ({what})") from None
    if not text.strip():
        raise RunError(f"{path}: empty ({what})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RunError(f"{path}, line {error.lineno}: invalid JSON ({error.msg}; {what})"
                       ) from None


def read(folder: Path) -> Run:
    folder = Path(folder)
    path = state_file(folder)
    if path is None:
        raise RunError(f"{folder}: no {STATE} here or in a checkpoint-*/ folder "
                       "(a Hugging Face Trainer output folder holds one)")
    state = read_json(path, "a Trainer state")
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise RunError(f"{path}: no 'log_history' list of rows (not a Trainer state file?)")
    assembly = Assembly(folder, "huggingface", config=settings(folder, state))
    if path.parent != folder:
        assembly.notes.append(f"read from {path.parent.name}/ (no final {STATE} at the top)")
    series: dict[str, tuple[list, list]] = {}
    for row in history:
        step = row.get("step")
        if not isinstance(step, (int, float)) or isinstance(step, bool):
            continue
        if any(key in row for key in SUMMARY_KEYS):  # the final summary row: totals
            assembly.totals.update((k, float(v)) for k, v in row.items()
                                   if k != "step" and _number(v))
            continue
        for key, value in row.items():
            if key != "step" and _number(value):
                steps, values = series.setdefault(key, ([], []))
                steps.append(step)
                values.append(float(value))
    if not series:
        raise RunError(f"{path}: 'log_history' holds no logged values yet")
    logged = {name: Logged(np.array(steps, float), np.array(values, float))
              for name, (steps, values) in series.items()}
    return build_run(assembly, logged)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def settings(folder: Path, state: dict) -> dict:
    """The run's settings from what the folder holds as JSON (never training_args.bin)."""
    config: dict = {}
    args = folder / ARGS
    if args.is_file():
        loaded = read_json(args, "the Trainer's arguments")
        if isinstance(loaded, dict):
            config.update(loaded)
    else:
        config.update(arguments_from_events(folder))
    for key in STATE_SETTINGS:
        if state.get(key) is not None and key not in config:
            config[key] = state[key]
    model = folder / "config.json"
    if not model.is_file():  # saved only with the model; every checkpoint holds one
        latest = latest_checkpoint(folder, "config.json")
        model = latest / "config.json" if latest else model
    if model.is_file():
        loaded = read_json(model, "the model's configuration")
        if isinstance(loaded, dict):
            for key in MODEL_KEYS:
                if loaded.get(key):
                    config.setdefault(key, loaded[key])
    return {key: value for key, value in config.items()
            if not (isinstance(value, float) and math.isnan(value))}


def arguments_from_events(folder: Path) -> dict:
    """The TrainingArguments the Trainer's TensorBoard callback wrote as the text "args"
    (JSON) into runs/*/ (or wherever logging went inside the folder); {} when there is none."""
    from .tensorboard import text_summaries

    for events in sorted(folder.rglob("events.out.tfevents.*")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a cut-off file is reported when read as a log
            texts = text_summaries(events, ("args",))
        if "args" in texts:
            try:
                loaded = json.loads(texts["args"])
            except json.JSONDecodeError:
                continue
            if isinstance(loaded, dict):
                return loaded
    return {}
