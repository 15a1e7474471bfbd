"""FLOP accounting of the sparse-training runs: counted, never timed.

Per sample, forward: each dense layer ``2 d_in d_out`` (multiply-adds) ``+ d_out`` (bias);
each hidden unit ``1`` (ReLU); the softmax cross-entropy ``3`` per logit (shift, exp, sum;
the log and the pick are per sample and neglected).  Backward ``= 2 x forward`` per sample,
the convention of Kaplan et al. 2020 (arXiv 2001.08361, Sec. 2.1: "the backwards pass is
approximately twice the compute as the forwards pass", C ≈ 6N per token).  For the matrix
products it is exact for :func:`models.mlp.backward` (``h^T dz`` and ``dz W^T`` per layer,
the first layer's input gradient included).  Evaluation on the validation set is not training
compute and is not counted (the same for every run).  Hence per step, with ``k`` of ``B``
trained samples and ``F`` = forward FLOPs per sample::

    full    B F + 2 B F          = 3 B F
    gated   B F + 2 k F          (reuse of the scoring activations)
    random  k F + 2 k F          = 3 k F

and a gated run at activation rate ``r`` costs ``(1 + 2r) / 3`` of the full run
(:func:`gated_cost_fraction`): at most 2/3 can ever be saved, however small ``r``.
"""
from __future__ import annotations

XENT_FLOPS_PER_LOGIT = 3
BACKWARD_FACTOR = 2


def forward_flops(sizes: list[int] | tuple[int, ...]) -> int:
    """Forward FLOPs per sample of an MLP ``sizes = [d_in, h_1, ..., n_classes]`` (module
    docstring)."""
    dense = sum(2 * a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    relu = sum(sizes[1:-1])
    return dense + relu + XENT_FLOPS_PER_LOGIT * sizes[-1]


def backward_flops(sizes: list[int] | tuple[int, ...]) -> int:
    """Backward FLOPs per sample: ``BACKWARD_FACTOR`` (2, Kaplan et al. 2020) x forward."""
    return BACKWARD_FACTOR * forward_flops(sizes)


def step_flops(sizes: list[int] | tuple[int, ...], n_forward: int,
               n_backward: int) -> tuple[int, int]:
    """(forward, backward) FLOPs of a step that runs ``n_forward`` samples forward and
    back-propagates ``n_backward`` of them."""
    return n_forward * forward_flops(sizes), n_backward * backward_flops(sizes)


def gated_cost_fraction(rate: float, reforward: bool = False) -> float:
    """Compute of a gated step relative to a full step at activation rate ``rate``:
    ``(1 + 2 rate) / 3`` reusing the scoring activations, ``(1 + 3 rate) / 3`` if the active
    samples were run forward a second time (as in a framework that scores without a graph)."""
    return (1.0 + (3.0 if reforward else 2.0) * rate) / (1.0 + BACKWARD_FACTOR)


def compute_matched_rate(target: float, reforward: bool = False) -> float:
    """Random-selection rate with the same expected compute as gating at ``target``."""
    return gated_cost_fraction(target, reforward)
