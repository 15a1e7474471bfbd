"""Numerics of the sparse-training topic: adaptive sample gating, which scores every sample of a
mini-batch by its loss and back-propagates only those above a threshold. `task` draws the
seeded synthetic classification task (a Gaussian mixture with label noise), `flops` counts the
compute of every forward and backward pass (the scoring pass included), `controller` is the PI
controller that steers the threshold towards a target activation rate, and `selection` trains
one run with loss-gated, random or full selection on shared batches. Nothing here imports
matplotlib.
"""
