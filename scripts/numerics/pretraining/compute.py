"""Training compute: FLOPs from parameters and tokens, and GPU hours from FLOPs.

* Pre-training: C = 6 N D FLOPs (Kaplan et al. 2020, arXiv 2001.08361, Sec. 2.1: a forward pass
  costs about 2N FLOPs per token, the backward pass twice that). GPT-3's Table D.1 counts the
  same way (arXiv 2005.14165: 3.14e23 FLOPs for 174.6B parameters and 300B tokens).
* Fine-tuning a frozen model with adapters (LoRA, QLoRA): the forward pass still costs 2N per
  token and the backward pass still carries the gradient through every frozen matrix to the
  activations (2N), but computes no weight gradient for the frozen matrices: about 4 N D, plus
  the adapters' own 6 N_adapter D. Recomputation by gradient checkpointing and dequantization
  are not counted (model FLOPs, as PaLM, arXiv 2204.02311, defines model FLOPs utilisation).
* GPU hours: C / (peak FLOP/s x utilisation) / 3600, the utilisation being model FLOPs per second
  over the accelerator's peak (MFU).

Nothing here imports matplotlib.
"""
from __future__ import annotations

FORWARD_FLOPS_PER_PARAM: int = 2
"""A forward pass: one multiply and one add per weight and token."""
BACKWARD_FLOPS_PER_PARAM: int = 4
"""The backward pass: the gradient to the activations (2) and to the weights (2)."""
ACTIVATION_GRADIENT_FLOPS_PER_PARAM: int = 2
"""The part of the backward pass a frozen weight still costs: the gradient to its input."""
SECONDS_PER_HOUR: int = 3600


def training_flops(params: float, tokens: float) -> float:
    """C = 6 N D: the FLOPs of training every one of `params` weights on `tokens` tokens."""
    return (FORWARD_FLOPS_PER_PARAM + BACKWARD_FLOPS_PER_PARAM) * float(params) * float(tokens)


def adapter_training_flops(frozen_params: float, adapter_params: float, tokens: float) -> float:
    """FLOPs of training adapters on a frozen model: 4 N_frozen D + 6 N_adapter D."""
    frozen = (FORWARD_FLOPS_PER_PARAM + ACTIVATION_GRADIENT_FLOPS_PER_PARAM) * float(
        frozen_params) * float(tokens)
    return frozen + training_flops(adapter_params, tokens)


def gpu_hours(flops: float, peak_tflops: float, utilisation: float) -> float:
    """Hours of one accelerator with `peak_tflops` (1e12 FLOP/s) running at `utilisation`
    (model FLOPs utilisation, a fraction of the peak) to do `flops`."""
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation is a fraction of the peak, got {utilisation}")
    return float(flops) / (peak_tflops * 1e12 * utilisation) / SECONDS_PER_HOUR


def implied_utilisation(flops: float, hours: float, peak_tflops: float) -> float:
    """The model FLOPs utilisation that doing `flops` in `hours` GPU hours implies."""
    return float(flops) / (float(hours) * SECONDS_PER_HOUR * peak_tflops * 1e12)


def throughput_utilisation(params: float, tokens_per_second: float, peak_tflops: float) -> float:
    """The utilisation of training `params` weights at `tokens_per_second` per accelerator:
    6 N tokens/s over the peak."""
    return training_flops(params, tokens_per_second) / (peak_tflops * 1e12)
