"""Recorded training runs: one folder per run, written once by experiment code, read by figures.

    data/<topic>/<run>/config.json          every parameter, the seed, and `code_hash`
    data/<topic>/<run>/logs/metrics.csv     one row per logged step: `step` first, then metrics;
                                            an empty cell means "not logged in this row"
    data/<topic>/<run>/checkpoints/step_<N>.npz   model state where a figure needs it

Training is too slow, and too sensitive to each CPU's floating point, to redo on every build, so
figures read the record. `write_run` writes byte-identical files for identical inputs; `load_run`
is the one reader every topic uses, and any problem with a file is a `RunError` naming the file
(and the line), which the command line reports with exit code 2.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import write_atomic

CONFIG = "config.json"
METRICS = Path("logs") / "metrics.csv"
CHECKPOINTS = "checkpoints"
_CHECKPOINT = re.compile(r"^step_(\d+)\.npz$")


class RunError(Exception):
    """A recorded run that cannot be used; the message names the file and line."""


class MissingConfigWarning(UserWarning):
    """A run without config.json, read anyway because the caller allowed it."""


@dataclass
class Run:
    """A training run as the dashboards read it, whatever wrote it (`records.readers` reads the
    libraries' folders into this form): one row per logged step, one float column per metric,
    `step` first, NaN where a row logged no finite value of the metric."""
    path: Path
    config: dict
    columns: list[str]
    metrics: dict[str, np.ndarray]            # float64, NaN where a row left the cell empty
    checkpoints: dict[int, Path] = field(default_factory=dict)
    #: What wrote the run: "project", "huggingface", "lightning", "tensorboard" or "wandb".
    format: str = "project"
    #: {metric: steps at which it was logged as NaN or +-inf} (those values are NaN in
    #: `metrics`, and drawn as marks, never as line points).
    nonfinite: dict[str, np.ndarray] = field(default_factory=dict)
    #: What reading the run changed or found, one sentence each (a restart after a resume, a
    #: file cut off mid-record...).
    notes: list[str] = field(default_factory=list)
    #: Totals a library logged once for the whole run (the Trainer's final summary row).
    totals: dict[str, float] = field(default_factory=dict)
    #: What the `step` column counts: "step", or "wall time (min)" after `with_x("wall_time")`.
    x_label: str = "step"
    #: The run's name as the dashboards print it (default: the folder name).
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.path.name

    def __len__(self) -> int:
        return len(self.metrics["step"])

    def column(self, name: str) -> np.ndarray:
        if name not in self.metrics:
            raise RunError(f"{self.path / METRICS}: no column {name!r} "
                           f"(columns: {', '.join(self.columns)})")
        return self.metrics[name]

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of the rows where `name` was logged."""
        values = self.column(name)
        logged = ~np.isnan(values)
        return self.metrics["step"][logged], values[logged]

    def with_x(self, clock: str) -> Run:
        """The same run against another x axis: "step" (itself) or "wall_time" (minutes since
        the first logged row; rows without a wall time are dropped). RunError when the run did
        not record that clock."""
        if clock == "step":
            return self
        if clock != "wall_time":
            raise RunError(f"unknown x axis {clock!r}; choose step or wall_time")
        if "wall_time" not in self.metrics or np.all(np.isnan(self.metrics["wall_time"])):
            raise RunError(f"{self.path}: no wall time recorded ({self.format} logs of this "
                           "run hold steps only; TensorBoard events and W&B exports record it)")
        seconds = self.metrics["wall_time"]
        rows = ~np.isnan(seconds)
        order = np.argsort(seconds[rows], kind="stable")
        metrics = {name: values[rows][order] for name, values in self.metrics.items()}
        metrics["step"] = (seconds[rows][order] - np.nanmin(seconds)) / 60
        nonfinite = {}
        for name, steps in self.nonfinite.items():  # mark each at the wall time of its step
            at = np.searchsorted(self.metrics["step"][rows][order], steps)
            nonfinite[name] = metrics["step"][np.clip(at, 0, len(order) - 1)]
        return Run(self.path, self.config, self.columns, metrics, self.checkpoints, self.format,
                   nonfinite, self.notes, self.totals, "wall time (min)", self.label)

    def load_checkpoint(self, step: int) -> dict[str, np.ndarray]:
        if step not in self.checkpoints:
            raise RunError(f"{self.path / CHECKPOINTS}: no checkpoint for step {step} "
                           f"(have {sorted(self.checkpoints)})")
        path = self.checkpoints[step]
        try:
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise RunError(f"{path}: unreadable checkpoint ({error})") from None


# ---- reading ---------------------------------------------------------------------------------
def load_run(path, require_config: bool = True) -> Run:
    """Read a run folder. Without config.json: RunError, or a warning and an empty config when
    `require_config` is False (a user's own logs often have none)."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: not a run folder (expected {CONFIG} and {METRICS} inside)")
    config = _read_config(path / CONFIG, require_config)
    columns, metrics = read_metrics(path / METRICS)
    checkpoints = {}
    folder = path / CHECKPOINTS
    if folder.is_dir():
        for file in sorted(folder.iterdir()):
            match = _CHECKPOINT.match(file.name)
            if match:
                checkpoints[int(match.group(1))] = file
    return Run(path, config, columns, metrics, dict(sorted(checkpoints.items())))


def _read_config(path: Path, required: bool) -> dict:
    if not path.is_file():
        if required:
            raise RunError(f"{path}: missing")
        warnings.warn(f"{path}: missing; reading the run without a configuration",
                      MissingConfigWarning, stacklevel=3)
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RunError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise RunError(f"{path}, line {error.lineno}: invalid JSON ({error.msg})") from None
    if not isinstance(config, dict):
        raise RunError(f"{path}: expected a JSON object, found {type(config).__name__}")
    return config


def read_metrics(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Parse a metrics.csv: header with `step` first, numeric or empty cells."""
    if not path.is_file():
        raise RunError(f"{path}: missing")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path}: not UTF-8 text") from None
    fast = _parse_plain(text)
    if fast is not None:
        return fast
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise RunError(f"{path}: empty (expected a header line starting with 'step')")
    header = [cell.strip() for cell in rows[0]]
    if header[0] != "step":
        raise RunError(f"{path}, line 1: the first column must be 'step', found {header[0]!r}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated or "" in header:
        raise RunError(f"{path}, line 1: empty or repeated column names {duplicated}")
    body = [(number, row) for number, row in enumerate(rows[1:], start=2)
            if any(cell.strip() for cell in row)]
    if not body:
        raise RunError(f"{path}: no rows after the header")
    values = np.full((len(body), len(header)), np.nan)
    for i, (number, row) in enumerate(body):
        if len(row) != len(header):
            raise RunError(f"{path}, line {number}: {len(row)} cells, the header has "
                           f"{len(header)}")
        for j, cell in enumerate(row):
            cell = cell.strip()
            if not cell:
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise RunError(f"{path}, line {number}: column {header[j]!r} holds "
                               f"{cell!r}, not a number") from None
    steps = values[:, 0]
    if np.isnan(steps).any() or np.isinf(steps).any():
        number = body[int(np.flatnonzero(~np.isfinite(steps))[0])][0]
        raise RunError(f"{path}, line {number}: every row needs a finite step")
    return header, {name: values[:, j].copy() for j, name in enumerate(header)}


def _parse_plain(text: str):
    """Fast path for well-formed logs (no quotes, numeric cells): pandas' C parser, empty cells
    as NaN. Returns None whenever anything is unusual, and the careful parser below then finds
    and names the problem."""
    if '"' in text or "\r" in text:
        return None
    head, _, body = text.partition("\n")
    header = [cell.strip() for cell in head.split(",")]
    if (not header or header[0] != "step" or "" in header or len(set(header)) != len(header)
            or not body.strip() or "\n\n" in body.strip()):
        return None
    # Every line must hold len(header) - 1 commas. Counted in total here (one pass, not one per
    # line): pandas then rejects a line with more cells than the first, and a first line of
    # another length gives a table of another width, so none can have fewer.
    if body.count(",") != (len(header) - 1) * (body.rstrip("\n").count("\n") + 1):
        return None
    import pandas  # seaborn's dependency: its C parser reads 100k-row logs in milliseconds

    try:
        frame = pandas.read_csv(io.StringIO(body), header=None, dtype=float,
                                skip_blank_lines=False)
    except (ValueError, pandas.errors.ParserError, pandas.errors.EmptyDataError):
        return None
    if frame.shape[1] != len(header):
        return None
    # column by column, each a writable copy (pandas hands out read-only views), its column
    # dropped from the frame once copied
    columns = [np.array(frame.pop(j).to_numpy(dtype=float)) for j in list(frame.columns)]
    if not np.all(np.isfinite(columns[0])):
        return None
    return header, dict(zip(header, columns, strict=True))


def discover_runs(base, pattern: str = "*") -> list[Path]:
    """Run folders (holding logs/metrics.csv) under `base` whose name matches `pattern`."""
    base = Path(base)
    if not base.is_dir():
        raise RunError(f"{base}: no such folder")
    return sorted(p.parent.parent for p in base.rglob(str(METRICS))
                  if p.parent.parent.match(pattern))


# ---- writing ---------------------------------------------------------------------------------
def code_hash(files, params: dict) -> str:
    """sha256 of the experiment code (file contents, in the given order) and its parameters."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(Path(file).name.encode())
        digest.update(Path(file).read_bytes())
    digest.update(json.dumps(params, sort_keys=True).encode())
    return digest.hexdigest()


def format_value(value) -> str:
    """A metric cell: integers as integers, floats in shortest round-trip form, NaN empty."""
    if value is None:
        return ""
    value = float(value)
    if math.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def write_run(path, config: dict, metrics: dict, checkpoints: dict | None = None) -> Path:
    """Record a run: config.json, logs/metrics.csv (columns in `metrics` order, `step` first),
    checkpoints/step_<N>.npz. Same inputs give the same bytes; files are written atomically."""


    path = Path(path)
    names = list(metrics)
    if not names or names[0] != "step":
        raise ValueError("metrics must start with the 'step' column")
    length = {len(np.asarray(v)) for v in metrics.values()}
    if len(length) != 1:
        raise ValueError(f"metric columns differ in length: {length}")
    (path / METRICS).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path / CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    columns = [np.asarray(metrics[name], float) for name in names]
    lines = [",".join(names)]
    lines += [",".join(format_value(col[i]) for col in columns) for i in range(len(columns[0]))]
    write_atomic(path / METRICS, ("\n".join(lines) + "\n").encode())
    if checkpoints:
        (path / CHECKPOINTS).mkdir(exist_ok=True)
        for step, arrays in checkpoints.items():
            write_atomic(path / CHECKPOINTS / f"step_{int(step)}.npz", npz_bytes(arrays))
    return path


def npz_bytes(arrays: dict) -> bytes:
    """An .npz archive (readable by np.load) with fixed timestamps, so it is reproducible."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            array = io.BytesIO()
            np.lib.format.write_array(array, np.ascontiguousarray(arrays[key]),
                                      allow_pickle=False)
            archive.writestr(info, array.getvalue())
    return buffer.getvalue()
