"""Baseline for `make bench`: the plain way to draw a training dashboard, pandas + pyplot, every
row plotted. Usage: pandas_dashboard.py METRICS_CSV OUT_PNG"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

frame = pd.read_csv(sys.argv[1])
fig, axes = plt.subplots(2, 3, figsize=(6.67, 3.2))
for column in ("train_loss", "val_loss"):
    part = frame[["step", column]].dropna()
    axes[0, 0].plot(part["step"], part[column], label=column)
    axes[0, 1].plot(part["step"], np.exp(part[column]))
axes[0, 0].set_yscale("log")
axes[0, 0].legend()
for ax, column in zip((axes[0, 2], axes[1, 0], axes[1, 1]),
                      ("learning_rate", "grad_norm", "tokens_per_second"), strict=True):
    part = frame[["step", column]].dropna()
    ax.plot(part["step"], part[column])
    ax.plot(part["step"], part[column].ewm(alpha=0.2).mean())
axes[1, 2].axis("off")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=300)
