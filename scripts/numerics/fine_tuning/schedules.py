"""Learning-rate schedules and per-layer rates, as published.

- Linear warmup then cosine decay to 10 % of the peak: LLaMA (Touvron et al. 2023,
  arXiv 2302.13971, section 2.2: AdamW, 2,000 warmup steps, final rate 10 % of the maximum;
  peak 3.0e-4 for the 6.7B and 13B models, Table 2).
- Linear warmup then linear decay to zero: the schedule BERT fine-tuning uses (Devlin et al.
  2019, arXiv 1810.04805; 10 % warmup in its released run_classifier.py), e.g. Hugging Face's
  get_linear_schedule_with_warmup.
- Slanted triangular learning rates and discriminative fine-tuning: ULMFiT (Howard & Ruder 2018,
  arXiv 1801.06146), section 3.2, eq. (2) and (3): cut_frac = 0.1, ratio = 32, eta_max = 0.01,
  and eta^{l-1} = eta^l / 2.6.
"""
from __future__ import annotations

import math

import numpy as np

#: LLaMA-7B pre-training: peak rate, warmup, and steps (1.0T tokens / 4M-token batches).
LLAMA_PEAK_LR = 3.0e-4
LLAMA_WARMUP_STEPS = 2_000
LLAMA_TOTAL_STEPS = 1_000_000_000_000 // 4_000_000
LLAMA_FINAL_RATIO = 0.1

#: A typical fine-tuning peak, from BERT's grid {5e-5, 3e-5, 2e-5}; 10 % warmup.
FINETUNE_PEAK_LR = 3.0e-5
FINETUNE_WARMUP_FRACTION = 0.1

#: ULMFiT's published settings.
STLR_CUT_FRAC = 0.1
STLR_RATIO = 32
STLR_ETA_MAX = 0.01
ULMFIT_LAYER_FACTOR = 2.6


def warmup_cosine(step, total: int, warmup: int, peak: float, final_ratio: float = 0.1):
    """Linear warmup from 0 to `peak` over `warmup` steps, then cosine decay to final_ratio*peak."""
    step = np.asarray(step, float)
    progress = np.clip((step - warmup) / max(total - warmup, 1), 0.0, 1.0)
    cosine = final_ratio + (1 - final_ratio) * 0.5 * (1 + np.cos(math.pi * progress))
    return np.where(step < warmup, peak * step / warmup, peak * cosine)


def warmup_linear(step, total: int, warmup: int, peak: float):
    """Linear warmup from 0 to `peak` over `warmup` steps, then linear decay to 0 at `total`."""
    step = np.asarray(step, float)
    decay = np.clip((total - step) / max(total - warmup, 1), 0.0, 1.0)
    return np.where(step < warmup, peak * step / warmup, peak * decay)


def slanted_triangular(t, total: int, cut_frac: float = STLR_CUT_FRAC, ratio: float = STLR_RATIO,
                       eta_max: float = STLR_ETA_MAX):
    """ULMFiT eq. (3): a short linear increase for cut_frac of the T iterations, then a long
    linear decay; the lowest rate is eta_max / ratio."""
    t = np.asarray(t, float)
    cut = math.floor(total * cut_frac)
    p = np.where(t < cut, t / cut, 1 - (t - cut) / (cut * (1 / cut_frac - 1)))
    return eta_max * (1 + p * (ratio - 1)) / ratio


def discriminative_rates(top_lr: float, n_layers: int = 12, factor: float = ULMFIT_LAYER_FACTOR):
    """ULMFiT's discriminative fine-tuning: rate of layers 1..n_layers (bottom to top), with
    eta^{l-1} = eta^l / factor and the top layer at `top_lr`."""
    depth_below_top = np.arange(n_layers - 1, -1, -1)
    return top_lr / factor**depth_below_top


def gradual_unfreezing(n_layers: int, n_epochs: int) -> np.ndarray:
    """ULMFiT's gradual unfreezing: trainable[e, l] for epoch e and layer l (bottom = 0).
    Epoch 1 trains the top layer only; each further epoch unfreezes the next layer down."""
    epochs = np.arange(1, n_epochs + 1)[:, None]
    layers_from_top = np.arange(n_layers - 1, -1, -1)[None, :]
    return layers_from_top < epochs
