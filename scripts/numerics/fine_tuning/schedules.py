"""Learning-rate schedules and per-layer rates, as published.

- Linear warmup then cosine decay to 10 % of the peak: LLaMA (Touvron et al. 2023,
  arXiv 2302.13971, section 2.2: AdamW, 2,000 warmup steps, final rate 10 % of the maximum;
  peak 3.0e-4 for the 6.7B and 13B models, Table 2).
- Linear warmup then linear decay to zero: the schedule BERT fine-tuning uses (Devlin et al.
  2019, arXiv 1810.04805; 10 % warmup in its released run_classifier.py) and LoRA's E2E
  command (500 warm-up steps), e.g. Hugging Face's get_linear_schedule_with_warmup. Their peaks
  and warm-ups: published.hyperparameters.
- A constant rate: QLoRA's Guanaco scripts (published.hyperparameters).
- Slanted triangular learning rates and discriminative fine-tuning: ULMFiT (Howard & Ruder 2018,
  arXiv 1801.06146), section 3.2, eq. (2) and (3): cut_frac = 0.1, ratio = 32, eta_max = 0.01,
  and eta^{l-1} = eta^l / 2.6, found for its 3-layer AWD-LSTM (section 4: embedding size 400,
  3 layers, 1150 hidden units). Section 3.2 introduces both for fine-tuning the *language model*
  on the target task; section 3.3 keeps them for the classifier and adds gradual unfreezing
  (one more layer per epoch, from the top). The released classifier script
  (fastai courses/dl2/imdb_scripts/train_clas.py) applies 2.6 over five layer groups --
  embedding, the three LSTM layers, the classifier head: lrs = [lr/2.6^4, ..., lr/2.6, lr] --
  and unfreezes them with freeze_to(-1), freeze_to(-2), ...
- Layer-wise decreasing learning rates for the 12-layer BERT-base: Sun, Qiu, Xu & Huang 2019,
  "How to Fine-Tune BERT for Text Classification?" (arXiv 1905.05583), section 5.3.4:
  eta^{k-1} = xi * eta^k, best at xi = 0.95 with eta = 2.0e-5 for the top layer; their released
  run_classifier_discriminative.py (xuyige/BERT4doc-Classification) sets layer i = 0..11 to
  lr * 0.95^(11 - i), defaults --layer_learning_rate 2e-5, --layer_learning_rate_decay 0.95.
"""
from __future__ import annotations

import math

import numpy as np

#: LLaMA-7B pre-training: peak rate, warmup, and steps (1.0T tokens / 4M-token batches).
#: The peak is that of LLaMA-7B and -13B (Touvron et al. 2023, arXiv 2302.13971, Table 2).
LLAMA_PEAK_LR = 3.0e-4
#: LLaMA-33B's and -65B's pre-training peak (the same Table 2).
LLAMA_LARGE_PEAK_LR = 1.5e-4
LLAMA_WARMUP_STEPS = 2_000
LLAMA_TOTAL_STEPS = 1_000_000_000_000 // 4_000_000
LLAMA_FINAL_RATIO = 0.1

#: ULMFiT's published settings.
STLR_CUT_FRAC = 0.1
STLR_RATIO = 32
STLR_ETA_MAX = 0.01
ULMFIT_LAYER_FACTOR = 2.6
#: ULMFiT's classifier, bottom to top: the layer groups its released script gives a rate each.
ULMFIT_LAYER_GROUPS = ("embedding", "LSTM 1", "LSTM 2", "LSTM 3", "classifier head")
#: ULMFiT's language model: 3 AWD-LSTM layers (section 4).
ULMFIT_LSTM_LAYERS = 3

#: Sun et al. 2019: BERT-base's 12 encoder layers, top rate 2.0e-5, decay 0.95 per layer down.
BERT_BASE_LAYERS = 12
SUN_TOP_LR = 2.0e-5
SUN_LAYER_DECAY = 0.95


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


def constant(step, peak: float):
    """The same rate at every step (Hugging Face's "constant" schedule, which has no warm-up)."""
    return np.full(np.shape(step), float(peak))


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


def layerwise_decay_rates(top_lr: float, n_layers: int, decay: float = SUN_LAYER_DECAY):
    """Sun et al.'s layer-wise decreasing rates of layers 1..n_layers (bottom to top):
    eta^{k-1} = decay * eta^k, the top layer at `top_lr` (layer i of their code: top_lr *
    decay^(n_layers - 1 - i))."""
    depth_below_top = np.arange(n_layers - 1, -1, -1)
    return top_lr * decay**depth_below_top


def gradual_unfreezing(n_layers: int, n_epochs: int) -> np.ndarray:
    """ULMFiT's gradual unfreezing: trainable[e, l] for epoch e and layer l (bottom = 0).
    Epoch 1 trains the top layer only; each further epoch unfreezes the next layer down."""
    epochs = np.arange(1, n_epochs + 1)[:, None]
    layers_from_top = np.arange(n_layers - 1, -1, -1)[None, :]
    return layers_from_top < epochs
