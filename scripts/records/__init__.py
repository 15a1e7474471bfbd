"""Recorded training runs: the format (`records.format`), its one loader and writer, and the
command line that records experiments (`records.recorder`). Nothing here imports matplotlib.

    data/<topic>/<run>/config.json          every parameter, the seed, and `code_hash`
    data/<topic>/<run>/logs/metrics.csv     `step` first, then one column per metric
    data/<topic>/<run>/checkpoints/step_<N>.npz
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

__all__ = ["CHECKPOINTS", "CONFIG", "METRICS", "MissingConfigWarning", "Run", "RunError",
           "code_hash", "discover_runs", "format_value", "load_run", "npz_bytes", "read_metrics",
           "write_run"]
