"""Recorded training runs: the format (`records.format`), its one loader and writer, and the
command line that records experiments (`records.recorder`). Nothing here imports matplotlib.

    data/<topic>/<run>/config.json          every parameter, the seed, and `code_hash`
    data/<topic>/<run>/logs/metrics.csv     `step` first, then one column per metric
    data/<topic>/<run>/checkpoints/step_<N>.npz

A small seeded experiment is recorded as its result instead (`records.results`):

    data/<topic>/<name>/config.json, result.json, result.npz
"""
from .format import (
                     CHECKPOINTS,
                     CONFIG,
                     METRICS,
                     MissingConfigWarning,
                     Run,
                     RunError,
                     code_hash,
                     discover_runs,
                     format_value,
                     load_run,
                     npz_bytes,
                     read_metrics,
                     write_run,
)

# The folders training libraries leave behind, read into the same Run (records.readers).
from .readers import discover, find_runs, read_run, read_runs, select
from .results import read_config, read_result, write_result

__all__ = ["CHECKPOINTS", "CONFIG", "METRICS", "MissingConfigWarning", "Run", "RunError",
           "code_hash", "discover_runs", "format_value", "load_run", "npz_bytes", "read_config",
           "read_metrics", "read_result", "write_result", "write_run",
           "discover", "find_runs", "read_run", "read_runs", "select"]
