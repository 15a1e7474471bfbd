"""The command line every experiment recorder shares: which runs are missing or stale, recording
them (two at a time), `--check` for `make check`, `--list`.

An experiment module (scripts/recorders/<topic>.py) holds its run specifications and its `record`
function and hands them to `Experiment`; it does not repeat this code. Nothing here affects a
recorded result, so this file is not part of any run's code_hash.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import records


@dataclass(frozen=True)
class Experiment:
    prog: str                                     # e.g. "grokking.py"
    runs: dict                                    # run name -> its parameters
    data: Path                                    # data/<topic>
    sources: tuple                                # files whose content decides the results
    record: Callable[[str, dict, Path], dict]     # records one run, returns its config
    line: Callable[[dict], str]                   # one progress line per recorded run
    describe: Callable[[str, dict], str] = lambda name, params: str(params)  # for --list
    result_types: dict | None = None              # recorded results: run name -> dataclass

    def current_hash(self, params: dict) -> str:
        """`records.code_hash` of the experiment sources and one run's parameters."""
        return records.code_hash(self.sources, params)

    def status(self, name: str, data: Path | None = None) -> str:
        """'ok', 'missing' (no config.json) or 'stale' (recorded with other code or parameters)."""
        path = Path(data or self.data) / name / records.CONFIG
        if not path.is_file():
            return "missing"
        try:
            recorded = records.read_config(path.parent).get("code_hash")
        except records.RunError:
            return "stale"
        return "ok" if recorded == self.current_hash(self.runs[name]) else "stale"

    def load(self, name: str):
        """A recorded result as its dataclass (RunError naming the file if unusable)."""
        return records.read_result(self.data / name, self.result_types[name])


def result_experiment(prog: str, runs: dict, data: Path, sources: tuple,
                      compute: Callable[[str, dict], object], description: dict,
                      result_types: dict) -> Experiment:
    """An `Experiment` whose runs are recorded results (`records.results`): `compute(name,
    params)` returns the result dataclass (`result_types[name]`, which `Experiment.load` reads
    back); its config.json holds the parameters, what each result is (`description[name]`), the
    code_hash, the wall time and the machine."""

    def record(name: str, params: dict, folder: Path) -> dict:
        start = time.perf_counter()
        result = compute(name, params)
        config = {"name": name, "result": description[name], "params": params,
                  "code_hash": records.code_hash(sources, params),
                  "wall_time_s": round(time.perf_counter() - start, 2),
                  "machine": {"numpy": np.__version__, "python": platform.python_version(),
                              "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}}
        records.write_result(Path(folder) / name, config, result)
        return config

    def line(config: dict) -> str:
        return f"{config['name']:24s} {config['wall_time_s']:6.2f} s  {config['result']}"

    return Experiment(prog, runs, data, sources, record, line,
                      describe=lambda name, params: description[name], result_types=result_types)


def reuse_freed_memory() -> None:
    """Speed only, results unchanged: let glibc keep freed numpy buffers instead of unmapping
    them after every step (page faults otherwise take about a third of the wall time)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


_ACTIVE: Experiment | None = None  # inherited by forked workers; nothing is pickled but names


def _record(task: tuple[str, Path]) -> dict:
    name, data = task
    return _ACTIVE.record(name, _ACTIVE.runs[name], data)


def main(experiment: Experiment, argv: list[str] | None = None) -> int:
    """The command line; returns the exit code (0, 1 for --check with stale runs, 2 usage)."""
    parser = argparse.ArgumentParser(prog=experiment.prog,
                                     description=f"Record the {experiment.prog} runs.")
    parser.add_argument("--force", action="store_true", help="re-record every selected run")
    parser.add_argument("--run", nargs="+", metavar="NAME", help="only these runs")
    parser.add_argument("--check", action="store_true",
                        help="record nothing; exit 1 listing runs that are missing or stale")
    parser.add_argument("--list", action="store_true", help="list the runs and their status")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                        help="runs trained in parallel processes (default: 2)")
    parser.add_argument("--data", type=Path, default=experiment.data,
                        help=f"output folder (default: {experiment.data})")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.run or experiment.runs))
    unknown = [n for n in names if n not in experiment.runs]
    if unknown:
        print(f"{experiment.prog}: unknown run(s) {', '.join(unknown)}; "
              f"known: {', '.join(experiment.runs)}", file=sys.stderr)
        return 2
    width = max(len(n) for n in names)
    if args.list or args.check:
        states = {name: experiment.status(name, args.data) for name in names}
        if args.list:
            for name in names:
                print(f"{name:{width}s} {states[name]:8s} "
                      f"{experiment.describe(name, experiment.runs[name])}")
            return 0
        bad = [name for name in names if states[name] != "ok"]
        for name in bad:
            print(f"{name}: {states[name]} (recorded code_hash differs from the current code)"
                  if states[name] == "stale" else f"{name}: missing")
        return 1 if bad else 0

    todo = [n for n in names if args.force or experiment.status(n, args.data) != "ok"]
    for name in names:
        if name not in todo:
            print(f"{name:{width}s} up to date")
    if not todo:
        return 0
    global _ACTIVE
    _ACTIVE = experiment
    reuse_freed_memory()
    start = time.perf_counter()
    # Longest first (by the time each took when last recorded; new runs first): the last runs
    # to finish are then short ones, and both processes stay busy to the end.
    todo.sort(key=lambda name: -previous_wall_time(Path(args.data) / name))
    tasks = [(name, args.data) for name in todo]
    jobs = max(1, min(args.jobs, len(tasks)))
    print(f"{experiment.prog}: recording {len(tasks)} run(s), {jobs} at a time", flush=True)
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            for done, config in enumerate(pool.imap_unordered(_record, tasks), 1):
                print(progress_line(done, len(tasks), time.perf_counter() - start,
                                    experiment.line(config)), flush=True)
    else:
        for done, task in enumerate(tasks, 1):
            print(progress_line(done, len(tasks), time.perf_counter() - start,
                                experiment.line(_record(task))), flush=True)
    print(f"recorded {len(todo)} run(s) in {time.perf_counter() - start:.1f} s -> {args.data}")
    return 0


def previous_wall_time(folder: Path) -> float:
    """The wall time a run's last recording took (its config.json's `wall_time_s`); infinity
    when it has none."""
    try:
        return float(records.read_config(folder)["wall_time_s"])
    except (records.RunError, KeyError, TypeError, ValueError):
        return float("inf")


def progress_line(done: int, total: int, elapsed: float, line: str) -> str:
    """'[ 3/12] <line>  (41 s, about 124 s left)': the estimate assumes the runs still to come
    take as long on average as those done."""
    left = elapsed / done * (total - done)
    width = len(str(total))
    estimate = "done" if done == total else f"about {left:.0f} s left"
    return f"[{done:{width}d}/{total}] {line}  ({elapsed:.0f} s, {estimate})"
