"""Optimizers with a learning rate given at every step, and the warmup-cosine schedule of
large-model pre-training.

Every optimizer is pure: ``step(params, grads, state, lr) -> (new_params, new_state)`` on a
:data:`models.mlp.Params` list, nothing modified in place; ``lr`` is the schedule's value for
this update.  Weight decay reaches only the parameters :func:`decayed` names (the weight
matrices and embeddings; never biases or LayerNorm gains and offsets, as nanoGPT's
``configure_optimizers`` chooses them, karpathy/nanoGPT ``model.py``).

* :class:`SGD` -- ``g' = g + l2 theta``; ``v <- mu v + g'``; ``theta <- theta - lr v``
  (heavy-ball momentum in PyTorch's form; plain SGD when ``mu = 0``).
* :class:`Adam` -- Kingma & Ba 2015 (arXiv 1412.6980, Algorithm 1), with an optional L2
  penalty added to the gradient (``g' = g + l2 theta``, "Adam with L2 regularization") and an
  optional *decoupled* weight decay (AdamW, Loshchilov & Hutter 2019, arXiv 1711.05101,
  Algorithm 2, line 12): ``m <- b1 m + (1-b1) g'``, ``v <- b2 v + (1-b2) g'^2``,
  ``m_hat = m / (1-b1^t)``, ``v_hat = v / (1-b2^t)``,
  ``theta <- theta - lr (m_hat / (sqrt(v_hat) + eps) + weight_decay theta)``.
  The L2 term passes through Adam's normalisation (large weights with small gradients are
  pulled to zero at the rate ``lr`` itself); the decoupled decay does not (a weight shrinks by
  ``lr weight_decay`` of itself per step, whatever its gradient), which is AdamW's point.

:func:`warmup_cosine` is the schedule of GPT-3 (Brown et al. 2020, arXiv 2005.14165,
Appendix B: linear warmup, then cosine decay to 10 % of the peak) and LLaMA (Touvron et al.
2023, arXiv 2302.13971, Section 2.2: cosine, final learning rate 10 % of the maximum, 2,000
warmup steps).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.mlp import Params, map_params


def decayed(key: str, array: np.ndarray) -> bool:
    """Whether weight decay (L2 or decoupled) reaches a parameter: matrices only."""
    return array.ndim >= 2


def _with_l2(params: Params, grads: Params, l2: float) -> Params:
    if not l2:
        return grads
    return [{k: g[k] + l2 * p[k] if decayed(k, p[k]) else g[k] for k in g}
            for p, g in zip(params, grads, strict=True)]


@dataclass
class SGDState:
    velocity: Params | None = None


@dataclass(frozen=True)
class SGD:
    """SGD, with heavy-ball momentum ``momentum`` and an L2 penalty ``l2`` (see module)."""

    momentum: float = 0.0
    l2: float = 0.0

    def init(self, params: Params) -> SGDState:
        return SGDState(map_params(np.zeros_like, params) if self.momentum else None)

    def step(self, params: Params, grads: Params, state: SGDState, lr: float
             ) -> tuple[Params, SGDState]:
        grads = _with_l2(params, grads, self.l2)
        if not self.momentum:
            return map_params(lambda p, g: p - p.dtype.type(lr) * g, params, grads), state
        mu = self.momentum
        v = map_params(lambda v, g: v.dtype.type(mu) * v + g, state.velocity, grads)
        return map_params(lambda p, v: p - p.dtype.type(lr) * v, params, v), SGDState(v)


@dataclass
class AdamState:
    m: Params
    v: Params
    t: int = 0


@dataclass(frozen=True)
class Adam:
    """Adam with an L2 penalty ``l2`` in the gradient and/or decoupled ``weight_decay``
    (AdamW); see the module docstring for the update."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    l2: float = 0.0
    weight_decay: float = 0.0

    def init(self, params: Params) -> AdamState:
        return AdamState(map_params(np.zeros_like, params), map_params(np.zeros_like, params))

    def step(self, params: Params, grads: Params, state: AdamState, lr: float
             ) -> tuple[Params, AdamState]:
        t = state.t + 1
        b1, b2 = self.beta1, self.beta2
        grads = _with_l2(params, grads, self.l2)
        m = map_params(lambda m, g: b1 * m + (1.0 - b1) * g, state.m, grads)
        v = map_params(lambda v, g: b2 * v + (1.0 - b2) * (g * g), state.v, grads)
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        new = []
        for p_layer, m_layer, v_layer in zip(params, m, v, strict=True):
            layer = {}
            for key, p in p_layer.items():
                dt = p.dtype.type
                update = (m_layer[key] / dt(c1)) / (np.sqrt(v_layer[key] / dt(c2)) + dt(self.eps))
                if self.weight_decay and decayed(key, p):
                    update = update + dt(self.weight_decay) * p
                layer[key] = p - dt(lr) * update
            new.append(layer)
        return new, AdamState(m, v, t)


def warmup_cosine(step: int, peak: float, warmup: int, total: int,
                  final_ratio: float = 0.1) -> float:
    """Learning rate of update ``step`` (1 .. ``total``): ``peak * step / warmup`` during the
    warmup, then a cosine from ``peak`` down to ``final_ratio * peak`` at ``step = total``."""
    if not 1 <= step <= total:
        raise ValueError(f"step {step} outside 1..{total}")
    if not 0 <= warmup < total:
        raise ValueError(f"warmup {warmup} must be in 0..{total - 1}")
    if step <= warmup:
        return peak * step / warmup
    progress = (step - warmup) / (total - warmup)
    floor = final_ratio * peak
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))
