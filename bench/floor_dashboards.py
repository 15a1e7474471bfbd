"""Floor for `make bench --scale` (issue 14): the least a pandas + matplotlib program pays to read
a Lightning CSV log and write three 300-DPI PNG figures of the sizes and panel counts of the
dashboards experiments.py draws for it (the dashboard 2 x 2, the loss distribution 1, the
optimization dynamics 1 x 2, all at the default \\textwidth), each column a line of at most 2,000
points (every n-th row), constrained layout, no statistics, no captions, no checks.
Usage: floor_dashboards.py METRICS_CSV OUT_DIR"""
import sys
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

frame = pd.read_csv(sys.argv[1])
out = Path(sys.argv[2])
step = frame["step"].to_numpy()
columns = [name for name in frame.columns if name not in ("step", "epoch")]
# (file, width and height in inches, rows and columns of panels)
FIGURES = [("dashboard", (6.67, 3.25), (2, 2)), ("loss_distribution", (4.13, 1.75), (1, 1)),
           ("optimization_dynamics", (6.67, 2.3), (1, 2))]
for name, size, grid in FIGURES:
    fig = Figure(figsize=size, dpi=300, layout="constrained")
    axes = fig.subplots(*grid, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        column = frame[columns[i % len(columns)]].to_numpy()
        keep = ~pd.isna(column)
        thin = slice(None, None, max(1, int(keep.sum()) // 2000))
        ax.plot(step[keep][thin], column[keep][thin], lw=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel(columns[i % len(columns)])
        ax.set_title(f"({'abcd'[i]}) {columns[i % len(columns)]}", loc="left")
    fig.savefig(out / f"{name}.png", dpi=300)
