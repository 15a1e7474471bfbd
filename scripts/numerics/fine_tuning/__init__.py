"""Numerics of the fine-tuning topic: learning-rate schedules and per-layer rates as published
(`schedules`), gradient descent on a quadratic where the theory is exact (`quadratic`), and the
seeded in-process experiments on the project's numpy MLP (`experiments`: gradient flow,
forgetting and EWC, the Fisher diagonal, training-loss curves). Nothing here imports matplotlib.
"""
