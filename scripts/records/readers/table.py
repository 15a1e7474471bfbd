"""What every reader shares: a CSV table read with its line numbers, and the values a library
logged turned into a `Run` (one float column per metric, `step` first).

Logs repeat themselves. A run resumed from a checkpoint logs the steps after that checkpoint a
second time; a writer flushed twice logs one step twice. For each metric, a value stands only
if every value logged after it is at a later step: the rule TensorBoard applies to "orphaned"
data after a restart (tensorboard/backend/event_processing/event_accumulator.py, `_Purge`, per
tag), which also keeps the last of duplicate steps. Values logged as NaN or +-inf are kept
apart (`Run.nonfinite`), so a diverged run shows where it diverged instead of a broken line.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..format import Run, RunError


# ---- CSV tables ----------------------------------------------------------------------------
@dataclass
class Table:
    """A CSV log as read: its header and a float array per column (NaN = empty cell), with the
    cells that held NaN or +-inf as text (`nonfinite`, a row per line, a column per column; None
    when there were none) and the line number of each row."""
    path: Path
    header: list[str]
    columns: list[np.ndarray]
    nonfinite: np.ndarray | None = None
    lines: np.ndarray | None = None           # None: row i is on line i + 2

    def column(self, name: str) -> np.ndarray:
        return self.columns[self.header.index(name)]

    def line_of(self, row: int) -> int:
        return int(self.lines[row]) if self.lines is not None else row + 2


_NOT_SPACE = re.compile(rb"\S")


def read_table(path: Path, what: str, again: bool = True) -> Table:
    """A CSV log with a header line and numeric (or empty) cells. RunError naming the file and
    line for anything else (`what` says which file was expected, for the message)."""
    if not path.is_file():
        raise RunError(f"{path}: missing (expected {what})")
    data = path.read_bytes()
    end = data.find(b"\n")
    end = len(data) if end == -1 else end
    try:
        head = data[:end].decode("utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path}, line 1: not UTF-8 text (expected {what})") from None
    header = [cell.strip() for cell in next(csv.reader([head]), [])]
    if not any(header):
        raise RunError(f"{path}: empty (expected {what} with a header line)")
    repeated = sorted({name for name in header if header.count(name) > 1 and name})
    if repeated:
        raise RunError(f"{path}, line 1: repeated column names {repeated}")
    start = end + 1
    if _NOT_SPACE.search(data, start) is None:  # (a search: no copy of a large file)
        raise RunError(f"{path}: no rows after the header")
    # Numeric cells hold digits, signs, '.', 'e' and 'E': any other letter (one memchr each,
    # fast on a million rows) may be 'nan' or 'inf' written as text, or a broken cell, which
    # the careful parser reads and names; so do quotes and carriage returns.
    if not any(data.find(byte, start) != -1 for byte in (b"n", b"N", b"i", b"I", b"\r")) \
            and data.find(b'"') == -1:
        size, commas = len(data), data.count(b",", start)
        del data  # pandas reads the file itself: no second copy of it in memory meanwhile
        columns = _read_plain(path, size, commas, len(header))
        if columns is not None:
            return Table(path, header, columns)
        if again and path.stat().st_size != size:  # rewritten meanwhile (a run still logging)
            return read_table(path, what, again=False)
        data = path.read_bytes()
    try:
        body = data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[:start + error.start].count(b"\n") + 1
        raise RunError(f"{path}, line {line}: not UTF-8 text (expected {what})") from None
    return _read_careful(path, header, body)


def _read_plain(path: Path, size: int, commas: int, width: int) -> list[np.ndarray] | None:
    """pandas' C parser for well-formed logs (a million rows in a tenth of a second: it reads
    a file by its path twice as fast as from memory), on the rows after the header; None when
    anything is unusual or the file is no longer the `size` bytes holding `commas` commas after
    its header that were checked, and the careful parser then finds and names the problem."""
    import pandas  # a dependency of seaborn; imported here, where a table is read

    try:
        frame = pandas.read_csv(path, header=None, skiprows=1, dtype=float, compression=None,
                                skip_blank_lines=True, keep_default_na=False, na_values=[""],
                                engine="c")
        if path.stat().st_size != size:
            return None
    except (OSError, ValueError, pandas.errors.ParserError, pandas.errors.EmptyDataError):
        return None
    # pandas pads a short row with NaN: every row has width - 1 commas, or the careful parser
    # names the line that has not
    if frame.shape[1] != width or commas != (width - 1) * len(frame):
        return None
    # column by column, no copy of the whole table into one matrix: each a writable copy
    # (pandas hands out read-only views), its column dropped from the frame once copied
    return [np.array(frame.pop(j).to_numpy(dtype=float)) for j in list(frame.columns)]


def _read_careful(path: Path, header: list[str], body: str) -> Table:
    rows, lines, nonfinite = [], [], []
    for number, row in enumerate(csv.reader(io.StringIO(body)), start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise RunError(f"{path}, line {number}: {len(row)} cells, the header has "
                           f"{len(header)}")
        parsed, odd = [], []
        for j, cell in enumerate(row):
            cell = cell.strip()
            if not cell:
                parsed.append(np.nan)
                odd.append(False)
                continue
            try:
                value = float(cell)
            except ValueError:
                raise RunError(f"{path}, line {number}: column {header[j]!r} holds {cell!r}, "
                               "not a number") from None
            parsed.append(value)
            odd.append(not np.isfinite(value))
        rows.append(parsed)
        nonfinite.append(odd)
        lines.append(number)
    if not rows:
        raise RunError(f"{path}: no rows after the header")
    mask = np.array(nonfinite, bool)
    values = np.array(rows, float)
    return Table(path, header, [values[:, j].copy() for j in range(len(header))],
                 mask if mask.any() else None, np.array(lines))


# ---- from logged values to a Run -------------------------------------------------------------
def standing(steps: np.ndarray) -> np.ndarray:
    """Which values of a metric, in the order logged, stand: those logged at a step before
    every later value's step (TensorBoard's purge of orphaned data after a restart; the last of
    duplicates). O(n): a suffix minimum."""
    steps = np.asarray(steps, float)
    keep = np.ones(len(steps), bool)
    if len(steps) > 1:
        later = np.minimum.accumulate(steps[::-1])[::-1]  # min over steps[i:]
        keep[:-1] = steps[:-1] < later[1:]
    return keep


@dataclass
class Logged:
    """The values of one metric in the order they were logged (NaN and inf included)."""
    steps: np.ndarray
    values: np.ndarray
    wall: np.ndarray | None = None            # seconds, when the writer recorded them


@dataclass
class Assembly:
    """A run being read: what each metric logged, the settings, and what was noticed."""
    path: Path
    format: str
    config: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    label: str | None = None


def build_run(assembly: Assembly, logged: dict[str, Logged]) -> Run:
    """One row per logged step (sorted), one column per metric, in the order first logged;
    `wall_time` (seconds since the first value) when the writer recorded one."""
    if not logged:
        raise RunError(f"{assembly.path}: no metric values logged")
    kept: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    restarts, replaced, changed = set(), 0, 0
    for name, series in logged.items():
        keep = standing(series.steps)
        if not keep.all():
            back = _restart_steps(series.steps)
            restarts.update(int(step) for step in back)
            if len(back):
                replaced += int((~keep).sum())
            else:  # the same step logged twice: the last value stands
                dropped = np.flatnonzero(~keep)
                changed += int(np.sum(series.values[dropped] != series.values[dropped + 1]))
        wall = series.wall[keep] if series.wall is not None else None
        kept[name] = (series.steps[keep], series.values[keep], wall)
    if restarts:
        assembly.notes.append(
            f"steps logged again from step {', '.join(map(str, sorted(restarts)[:3]))} (a "
            f"resumed run): the later values stand, {replaced} earlier ones are replaced")
    if changed:
        assembly.notes.append(f"{changed} values logged twice at one step with different "
                              "values: the last stands")
    steps = np.unique(np.concatenate([s for s, _, _ in kept.values()]))
    metrics = {"step": steps.astype(float)}
    nonfinite = {}
    wall_time = np.full(len(steps), np.nan)
    for name, (at, values, wall) in kept.items():
        column = np.full(len(steps), np.nan)
        rows = np.searchsorted(steps, at)
        finite = np.isfinite(values)
        column[rows[finite]] = values[finite]
        if not finite.all():
            nonfinite[name] = at[~finite].astype(float)
        if wall is not None:
            wall_time[rows] = np.fmax(wall_time[rows], wall)
        metrics[name] = column
    columns = ["step", *kept]
    if np.any(~np.isnan(wall_time)):
        metrics["wall_time"] = wall_time - np.nanmin(wall_time)
        columns.append("wall_time")
    return Run(assembly.path, assembly.config, columns, metrics, format=assembly.format,
               nonfinite=nonfinite, notes=assembly.notes, totals=assembly.totals,
               label=assembly.label)


def _restart_steps(steps: np.ndarray) -> np.ndarray:
    """Steps at which a metric's log went back (the first value of each restart)."""
    steps = np.asarray(steps, float)
    back = np.flatnonzero(np.diff(steps) < 0) + 1
    return steps[back]


def run_from_table(table: Table, assembly: Assembly, step: str, clock: str | None = None,
                   drop: tuple[str, ...] = ()) -> Run:
    """A Run from a CSV log whose column `step` counts steps (and `clock`, if given, holds
    seconds). A table whose steps never go back and which logs no metric twice at one step
    keeps its rows as they are (training and evaluation rows at one step stay apart, as
    written); otherwise it is rebuilt with one row per step (see `standing`)."""
    if step not in table.header:
        raise RunError(f"{table.path}, line 1: no {step!r} column (columns: "
                       f"{', '.join(table.header)})")
    steps = table.column(step)
    missing = np.flatnonzero(~np.isfinite(steps))
    if len(missing):
        raise RunError(f"{table.path}, line {table.line_of(int(missing[0]))}: every row needs "
                       f"a finite {step!r}")
    names = [name for name in table.header if name not in (step, clock, *drop) and name]
    wall = table.column(clock) if clock in table.header else None
    simple = bool(np.all(np.diff(steps) >= 0))
    present = {}
    for name in names:
        j = table.header.index(name)
        present[name] = ~np.isnan(table.columns[j])
        if table.nonfinite is not None:
            present[name] |= table.nonfinite[:, j]
            if table.nonfinite[:, j].any():
                simple = False
        if simple:  # a metric logged twice at one step: rebuilt
            at = steps[present[name]]
            simple = not (len(at) > 1 and np.any(at[1:] == at[:-1]))
    if not simple:
        logged = {}
        for name in names:
            rows = np.flatnonzero(present[name])
            logged[name] = Logged(steps[rows], table.column(name)[rows],
                                  wall[rows] if wall is not None else None)
        return build_run(assembly, logged)
    metrics = {"step": steps.copy()}
    metrics.update((name, table.column(name)) for name in names)
    columns = ["step", *names]
    if wall is not None and np.any(~np.isnan(wall)):
        metrics["wall_time"] = wall - np.nanmin(wall)
        columns.append("wall_time")
    return Run(assembly.path, assembly.config, columns, metrics, format=assembly.format,
               notes=assembly.notes, totals=assembly.totals, label=assembly.label)
