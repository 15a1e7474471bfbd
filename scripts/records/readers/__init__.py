"""Readers for the folders training libraries leave behind, detected from the folder itself.

    read_runs(path)           every run in a folder (a lightning_logs/ folder holds several)
    read_run(path)            the one run in a folder
    find_runs(base, pattern)  run folders of any format under `base` matching a glob pattern
    select(runs, **settings)  the runs whose settings have the given values

Each returns (lists of) `records.Run`, the form the dashboards draw. What is recognised, in
this order (`format=` forces one reader):

    project      logs/metrics.csv (+ config.json): this project's recorded runs
    huggingface  trainer_state.json, at the top or in checkpoint-*/ (Hugging Face Trainer)
    lightning    version_*/metrics.csv or version_*/events.out.tfevents.* beside hparams.yaml,
                 a lightning_logs/ folder of versions (PyTorch Lightning CSV or TensorBoard
                 logger)
    tensorboard  events.out.tfevents.* (any writer); sub-folders of one run (Keras' train/ and
                 validation/, add_scalars' series) are merged into it with their names as tag
                 prefixes; a folder of run folders gives each
    wandb        a CSV with `_step` (a W&B run history export)
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..format import CONFIG, METRICS, Run, RunError, load_run
from ..settings import headline_value
from . import huggingface, lightning, tensorboard, wandb

FORMATS = ("project", "huggingface", "lightning", "tensorboard", "wandb")
#: Sub-folder names that hold one part of a single run (Keras writes train/ and validation/).
SPLITS = ("train", "training", "validation", "val", "valid", "eval", "evaluation", "test")
LOOKED_FOR = (f"{METRICS.as_posix()} (this project), trainer_state.json here or in "
              "checkpoint-*/ (Hugging Face Trainer), version_*/metrics.csv or hparams.yaml "
              "with event files (Lightning), events.out.tfevents.* (TensorBoard), a CSV with "
              "a _step column (W&B export)")


@dataclass(frozen=True)
class Found:
    """A run found in a folder: its format, where it is, and sub-folders merged into it."""
    format: str
    path: Path
    parts: tuple[tuple[str, Path], ...] = ()


def _tensorboard_parts(folder: Path) -> list[tuple[str, Path]]:
    """Sub-folders (any depth) holding event files, with their relative path as a prefix."""
    parts = []
    for sub in sorted(p for p in folder.rglob("*") if p.is_dir()):
        if tensorboard.event_files(sub):
            parts.append((sub.relative_to(folder).as_posix() + "/", sub))
    return parts


def detect(path, format: str | None = None) -> list[Found]:
    """The runs at `path` (a folder, or one log file), by the files they hold; RunError saying
    what was looked for, and where, when nothing is recognised."""
    path = Path(path)
    if format is not None and format not in FORMATS:
        raise RunError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    if not path.exists():
        raise RunError(f"{path}: no such file or folder")
    if path.is_file():
        return [_detect_file(path, format)]
    found = _detect_folder(path, format)
    if not found:
        wanted = LOOKED_FOR if format is None else f"a {format} log"
        raise RunError(f"{path}: no training log recognised; looked for {wanted}")
    return found


def _detect_file(path: Path, format: str | None) -> Found:
    name = path.name
    if name == "trainer_state.json" and format in (None, "huggingface"):
        return Found("huggingface", path.parent)  # a checkpoint's: that checkpoint's history
    if name.startswith("events.out.tfevents.") and format in (None, "tensorboard",
                                                              "lightning"):
        return Found("tensorboard", path)
    if name == "metrics.csv" and path.parent.name == METRICS.parent.name \
            and format in (None, "project"):
        return Found("project", path.parent.parent)
    if path.suffix == ".csv":
        if format == "wandb" or (format is None and wandb.is_export(path)):
            return Found("wandb", path)
        if format in (None, "lightning"):
            return Found("lightning", path.parent)
    raise RunError(f"{path}: not a log file this tool reads; looked for {LOOKED_FOR}")


def _detect_folder(folder: Path, format: str | None) -> list[Found]:
    want = (lambda name: format is None or format == name)
    if want("project") and ((folder / METRICS).is_file() or (
            (folder / CONFIG).is_file() and (folder / METRICS.parent).is_dir())):
        return [Found("project", folder)]
    if want("huggingface") and huggingface.is_trainer_folder(folder):
        return [Found("huggingface", folder)]
    if want("lightning"):
        if lightning.is_version(folder):
            return [Found("lightning", folder)]
        found = lightning.versions(folder)
        if found:
            return [Found("lightning", version) for version in found]
    if want("tensorboard"):
        own = tensorboard.event_files(folder)
        parts = _tensorboard_parts(folder)
        tops = {prefix.split("/")[0] for prefix, _ in parts}
        if own or (parts and tops <= set(SPLITS)):
            return [Found("tensorboard", folder, tuple(parts))]
        runs_below = [sub for sub in folder.iterdir() if sub.is_dir() and _holds_run(sub)
                      and not tensorboard.event_files(sub)]
        if parts and not runs_below:  # a log directory of several runs: each folder holding
            # events is one run
            runs = [sub for _, sub in parts
                    if not any(sub != other and other in sub.parents for _, other in parts)]
            return [Found("tensorboard", sub, tuple(_tensorboard_parts(sub))) for sub in runs]
    if want("wandb"):
        exports = wandb.exports(folder)
        if exports:
            return [Found("wandb", export) for export in exports]
    if format == "project" and (folder / CONFIG).is_file():
        return [Found("project", folder)]
    # A folder of run folders (an output folder of several trainings, a W&B project export).
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if _holds_run(sub):
            found += _detect_folder(sub, format)
    return found


def read(found: Found) -> Run:
    """The run `found` describes, read by its format's reader."""
    if found.format == "project":
        return load_run(found.path, require_config=False)
    if found.format == "huggingface":
        return huggingface.read(found.path)
    if found.format == "lightning":
        return lightning.read(found.path)
    if found.format == "tensorboard":
        return tensorboard.read(found.path, list(found.parts))
    return wandb.read(found.path)


def read_runs(path, format: str | None = None) -> list[Run]:
    """Every run at `path`, whatever library wrote it (`format` forces one reader)."""
    return [read(found) for found in detect(path, format)]


def read_run(path, format: str | None = None) -> Run:
    """The one run at `path`; RunError when the folder holds several (read_runs gives all)."""
    found = detect(path, format)
    if len(found) > 1:
        names = ", ".join(f.path.name for f in found)
        raise RunError(f"{path}: holds {len(found)} runs ({names}); use read_runs, or point "
                       "at one of them")
    return read(found[0])


def _holds_run(folder: Path) -> bool:
    return ((folder / METRICS).is_file() or huggingface.is_trainer_folder(folder)
            or lightning.is_version(folder) or bool(tensorboard.event_files(folder))
            or bool(wandb.exports(folder)))


def find_runs(base, pattern: str = "*") -> list[Path]:
    """Run folders of any format under `base` whose path (relative to `base`, or its last
    parts) matches the glob `pattern`: 'gpt2_*', 'sweep/*/lightning_logs/version_*'. A run's
    own sub-folders (checkpoints, logs/, runs/, train/) are not searched again."""
    base = Path(base)
    if not base.is_dir():
        raise RunError(f"{base}: no such folder")
    found, stack = [], [base]
    while stack:
        folder = stack.pop()
        if folder != base and _holds_run(folder):
            relative = PurePosixPath(folder.relative_to(base).as_posix())
            if relative.match(pattern) or fnmatch.fnmatch(str(relative), pattern):
                found.append(folder)
            continue
        stack.extend(sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True))
    return sorted(found)


def discover(base, pattern: str = "*", format: str | None = None) -> list[Run]:
    """Every run under `base` whose folder matches `pattern` (see find_runs), read."""
    return [run for folder in find_runs(base, pattern) for run in read_runs(folder, format)]


def select(runs, **settings) -> list[Run]:
    """The runs whose settings equal every given value: select(runs, model="distilgpt2").
    A key may name any synonym a library uses for it (model: _name_or_path,
    model_name_or_path...; see records.settings.SETTINGS)."""
    chosen = []
    for run in runs:
        if all(_matches(headline_value(run.config, key), value)
               for key, value in settings.items()):
            chosen.append(run)
    return chosen


def _matches(found, wanted) -> bool:
    if found is None:
        return False
    if isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
        try:
            return float(found) == float(wanted)
        except (TypeError, ValueError):
            return False
    return found == wanted or str(found) == str(wanted)
