"""A Weights & Biases run history exported as CSV.

    <run>/history.csv   (any name)  `_step`, `_runtime` (seconds), `_timestamp` (Unix time),
                                    then one column per logged key (`train/loss`, ...), empty
                                    where a row did not log the key: the layout of a run's
                                    history export (the API's `run.history()` written with
                                    to_csv, an index column first or not)
    <run>/config.yaml               the run's config as wandb writes it (`key: {desc, value}`)

A chart panel's "Export CSV" (`Step`, then `<run> - <key>`, `<run> - <key>__MIN`, `__MAX`)
is read too: the run prefix is dropped, and so are the __MIN/__MAX columns of sampled charts.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from ..format import Run, RunError
from .lightning import read_hparams
from .table import Assembly, read_table, run_from_table

STEP_COLUMNS = ("_step", "Step")
CONFIG = "config.yaml"
_PANEL = re.compile(r"^.+? - (.+)$")


def header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return [cell.strip() for cell in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError):
        return []


def is_export(path: Path) -> bool:
    """A CSV whose header names W&B's step column."""
    return path.suffix == ".csv" and any(name in header(path) for name in STEP_COLUMNS)


def exports(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).glob("*.csv") if is_export(p))


def read_config(path: Path) -> dict:
    """config.yaml as wandb writes it: {key: {desc: ..., value: ...}} -> {key: value}."""
    loaded = read_hparams(path)
    config = {}
    for key, entry in loaded.items():
        if str(key).startswith("_wandb") or key == "wandb_version":
            continue
        config[key] = entry.get("value") if isinstance(entry, dict) and "value" in entry \
            else entry
    return config


def read(path: Path) -> Run:
    """A run from one exported CSV (or the one export in a folder)."""
    path = Path(path)
    if path.is_dir():
        found = exports(path)
        if len(found) != 1:
            raise RunError(f"{path}: expected one W&B history CSV (a header with _step), "
                           f"found {len(found)}")
        path = found[0]
    table = read_table(path, "a W&B history export (CSV with _step)")
    names = []
    for name in table.header:
        panel = _PANEL.match(name)
        names.append(panel.group(1) if panel and "Step" in table.header else name)
    table.header = ["" if name.endswith(("__MIN", "__MAX")) or name.startswith("Unnamed")
                    else name for name in names]
    step = next((name for name in STEP_COLUMNS if name in table.header), None)
    if step is None:
        raise RunError(f"{path}, line 1: no _step column (not a W&B history export)")
    clock = next((name for name in ("_runtime", "_timestamp") if name in table.header), None)
    label = path.parent.name if path.stem == "history" else path.stem
    assembly = Assembly(path.parent if path.stem == "history" else path, "wandb",
                        config=read_config(path.parent / CONFIG), label=label)
    return run_from_table(table, assembly, step=step, clock=clock,
                          drop=("_runtime", "_timestamp"))
