"""PyTorch Lightning logger folders.

    lightning_logs/version_<N>/metrics.csv     CSVLogger: `epoch` and `step` columns anywhere,
                                               training and validation rows interleaved, each
                                               leaving the other's cells empty
    lightning_logs/version_<N>/hparams.yaml    the hyperparameters (save_hyperparameters)
    lightning_logs/version_<N>/events.out.tfevents.*   TensorBoardLogger (with hparams.yaml)

Pointing at lightning_logs/ (or the folder holding it) gives every version as a run.
hparams.yaml is read with yaml.safe_load only: a file that stores Python objects (tags such as
!!python/object) is reported and skipped, never executed.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..format import Run, RunError
from . import tensorboard
from .table import Assembly, read_table, run_from_table

METRICS = "metrics.csv"
HPARAMS = "hparams.yaml"
_VERSION = re.compile(r"^version_(\d+)$")


class UnsafeSettingsWarning(UserWarning):
    """A settings file holding Python objects: skipped, since loading it would run code."""


def is_version(folder: Path) -> bool:
    """A logger's version folder: metrics.csv, or event files beside hparams.yaml."""
    folder = Path(folder)
    if (folder / METRICS).is_file():
        return True
    return (folder / HPARAMS).is_file() and bool(tensorboard.event_files(folder))


def versions(folder: Path) -> list[Path]:
    """The version_<N> folders of a lightning_logs/ folder (or of the folder holding
    lightning_logs/), in version order."""
    folder = Path(folder)
    if (folder / "lightning_logs").is_dir() and not any(_VERSION.match(p.name)
                                                         for p in folder.iterdir()):
        folder = folder / "lightning_logs"
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if p.is_dir() and (m := _VERSION.match(p.name)) and is_version(p)]
    return [p for _, p in sorted(found)]


def read_hparams(path: Path) -> dict:
    """hparams.yaml as a dict ({} when absent); RunError with the line for invalid YAML."""
    import yaml

    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path}: not UTF-8 text") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else "?"
        warnings.warn(f"{path}, line {line}: holds Python objects ({error.problem}); not "
                      "loaded (that would run code), the run is read without its settings",
                      UnsafeSettingsWarning, stacklevel=3)
        return {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise RunError(f"{path}{where}: invalid YAML ({problem})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise RunError(f"{path}: expected a mapping of hyperparameters, found "
                       f"{type(loaded).__name__}")
    return loaded


def label(folder: Path) -> str:
    """'lightning_logs/version_0', or '<name>/version_0' for a logger given a name."""
    return f"{folder.parent.name}/{folder.name}"


def read(folder: Path) -> Run:
    folder = Path(folder)
    assembly = Assembly(folder, "lightning", config=read_hparams(folder / HPARAMS),
                        label=label(folder) if _VERSION.match(folder.name) else None)
    if (folder / METRICS).is_file():
        table = read_table(folder / METRICS, "a Lightning CSVLogger metrics.csv")
        return run_from_table(table, assembly, step="step")
    if tensorboard.event_files(folder):
        run = tensorboard.read(folder, assembly=assembly)
        placeholder = run.metrics.get("hp_metric")
        if placeholder is not None and np.all(placeholder[~np.isnan(placeholder)] == -1):
            del run.metrics["hp_metric"]  # TensorBoardLogger's default_hp_metric: -1, no value
            run.columns.remove("hp_metric")
        return run
    raise RunError(f"{folder}: no {METRICS} (CSVLogger) or event files (TensorBoardLogger) here")
