"""Computations in plain numpy, nothing drawn: the byte accounting every chapter shares
(`memory`, `activations`), run statistics for the dashboards (`run_stats`), and one package per
topic (`fine_tuning`, `qlora`, `grokking`, `lora`, `sparse_training`). Nothing here imports
matplotlib.
"""
