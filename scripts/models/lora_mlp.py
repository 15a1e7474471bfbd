"""The toy model of the LoRA figures: a small MLP with LoRA adapters and hand-written backprop.

LoRA (Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang, Chen 2021, "LoRA: Low-Rank Adaptation of
Large Language Models", arXiv 2106.09685) freezes a pre-trained weight ``W0`` and learns a
low-rank update ``Delta W = B A`` beside it (Sec. 4.1, Eq. 3)::

    h = W0 x + Delta W x = W0 x + (alpha / r) B A x

with ``W0 in R^{d x k}`` (d outputs, k inputs), ``B in R^{d x r}``, ``A in R^{r x k}``,
``r << min(d, k)``.  Sec. 4.1: "We use a random Gaussian initialization for A and zero for B,
so Delta W = BA is zero at the beginning of training.  We then scale Delta W x by alpha/r,
where alpha is a constant in r. [...] This scaling helps to reduce the need to retune
hyperparameters when we vary r."  Sec. 4.2: merging ``W = W0 + BA`` gives no inference
latency, and one switches task "by recovering W0 by subtracting BA and then adding a
different B'A'".

Conventions (float64 throughout)
--------------------------------
* The base model is an :mod:`models.mlp` parameter list (:data:`models.mlp.Params`) of
  sizes :data:`SIZES` = 8 -> 16 -> 16 -> 2, ReLU hidden layers, linear output, softmax
  cross-entropy.  **mlp.py stores the transpose of the paper's matrix**: ``base[l]["W"]`` has
  shape ``(k, d)`` = (inputs, outputs) and a layer computes ``z = h @ W + b`` with one
  sample per row, so ``base[l]["W"] = W0.T``.
* Adapters are stored in the **paper's** layout: ``A`` is ``(r, k)``, ``B`` is ``(d, r)``.
  For a batch ``X`` (n, k) the LoRA path is ``(alpha/r) (X @ A.T) @ B.T``, i.e. row ``i`` is
  ``(alpha/r) B A x_i``.  :func:`delta_weights` returns ``Delta W = (alpha/r) B A`` as
  ``(d, k)`` (paper layout); :func:`merge` adds its transpose to the stored ``W``.
* :class:`LoRAConfig` names the adapted layers explicitly (``layers``, 0-based indices; the
  output layer is index 2).  An :data:`Adapters` list holds one ``{"A", "B"}`` dict per entry
  of ``config.layers``, in that order.  During LoRA training only these ``A`` and ``B`` are
  handed to the optimizer; every base ``W`` and ``b`` (also of adapted layers) is frozen.
* Initialisation: ``B = 0``; ``A ~ N(0, 1 / (3 k))``.  The paper says "random Gaussian"
  without a scale; the reference code (microsoft/LoRA, ``loralib/layers.py``,
  ``Linear.reset_parameters``) uses ``nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5))``,
  i.e. U(-1/sqrt(k), 1/sqrt(k)) whose standard deviation is 1/sqrt(3k).  We keep the paper's
  Gaussian and the reference code's standard deviation.
* Losses are batch means of the softmax cross-entropy.  Nothing here imports matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.mlp import Params, activate, activate_grad, softmax, softmax_cross_entropy

Adapter = dict[str, np.ndarray]
Adapters = list[Adapter]

SIZES: tuple[int, ...] = (8, 16, 16, 2)
"""Layer widths ``[d_in, h_1, h_2, n_classes]`` of the toy model."""
ACTIVATION = "relu"
ALL_LAYERS: tuple[int, ...] = (0, 1, 2)
HIDDEN_LAYERS: tuple[int, ...] = (0, 1)
DEFAULT_RANK = 4
DEFAULT_ALPHA = 8.0


@dataclass(frozen=True)
class LoRAConfig:
    """Rank ``r``, ``alpha`` and the (0-based) indices of the adapted layers;
    ``scale = alpha / r``."""

    rank: int = DEFAULT_RANK
    alpha: float = DEFAULT_ALPHA
    layers: tuple[int, ...] = ALL_LAYERS

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if list(self.layers) != sorted(set(self.layers)) or any(i < 0 for i in self.layers):
            raise ValueError(f"layers must be distinct, ascending, non-negative: {self.layers}")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


DEFAULT_CONFIG = LoRAConfig()
"""Rank :data:`DEFAULT_RANK`, alpha :data:`DEFAULT_ALPHA`, every layer adapted."""
NO_ADAPTERS = LoRAConfig(layers=())
"""A configuration adapting nothing: the plain base model (used for full fine-tuning)."""


def _check(base: Params, adapters: Adapters, config: LoRAConfig) -> None:
    if len(adapters) != len(config.layers):
        raise ValueError(f"{len(adapters)} adapters for {len(config.layers)} adapted layers")
    if config.layers and config.layers[-1] >= len(base):
        raise ValueError(f"layer index {config.layers[-1]} out of range for {len(base)} layers")


def init_adapters(base: Params, config: LoRAConfig,
                  seed: int | np.random.Generator = 0) -> Adapters:
    """``A ~ N(0, 1/(3k))`` of shape (r, k), ``B = 0`` of shape (d, r) for every adapted layer."""
    rng = np.random.default_rng(seed)
    adapters: Adapters = []
    for index in config.layers:
        k, d = base[index]["W"].shape
        adapters.append({"A": rng.normal(0.0, 1.0 / np.sqrt(3.0 * k), size=(config.rank, k)),
                         "B": np.zeros((d, config.rank))})
    return adapters


def trainable_parameters(config: LoRAConfig, sizes: Sequence[int] = SIZES) -> int:
    """``sum over adapted layers of r (d + k)``: the entries of ``A`` and ``B``."""
    return sum(config.rank * (sizes[index] + sizes[index + 1]) for index in config.layers)


def delta_weights(adapters: Adapters, config: LoRAConfig) -> tuple[np.ndarray, ...]:
    """``Delta W = (alpha/r) B A`` per adapted layer, paper layout ``(d, k)``."""
    return tuple(config.scale * (adapter["B"] @ adapter["A"]) for adapter in adapters)


def merge(base: Params, adapters: Adapters, config: LoRAConfig) -> Params:
    """New parameters with ``W' = W0 + (alpha/r) B A`` (stored transposed, as mlp.py does)."""
    _check(base, adapters, config)
    out = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in base]
    for index, delta in zip(config.layers, delta_weights(adapters, config), strict=True):
        out[index]["W"] = out[index]["W"] + delta.T
    return out


def unmerge(merged: Params, adapters: Adapters, config: LoRAConfig) -> Params:
    """Inverse of :func:`merge`: ``W0 = W' - (alpha/r) B A`` (exact up to float rounding)."""
    _check(merged, adapters, config)
    out = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in merged]
    for index, delta in zip(config.layers, delta_weights(adapters, config), strict=True):
        out[index]["W"] = out[index]["W"] - delta.T
    return out


# -------------------------------------------------------------------------- forward


@dataclass(frozen=True)
class LayerTrace:
    """One layer's forward pass, one row per sample; ``x`` is the input ``(n, k)``.

    ``base_path = x W0^T`` (n, d); ``down = x A^T`` (n, r) and
    ``lora_path = (alpha/r) x A^T B^T`` (n, d), both ``None`` when the layer is not adapted;
    ``z = base_path + lora_path + bias``; ``out = relu(z)`` (hidden) or ``z`` (output layer,
    the logits).
    """

    x: np.ndarray
    base_path: np.ndarray
    down: np.ndarray | None
    lora_path: np.ndarray | None
    bias: np.ndarray
    z: np.ndarray
    out: np.ndarray
    adapted: bool


@dataclass(frozen=True)
class Cache:
    """Every layer's :class:`LayerTrace`; what :func:`backward` needs."""

    layers: tuple[LayerTrace, ...]


def forward(base: Params, adapters: Adapters, config: LoRAConfig,
            x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Logits of the adapted model and the cache with both paths of every layer (Eq. 3)."""
    _check(base, adapters, config)
    by_layer = dict(zip(config.layers, adapters, strict=True))
    h = np.asarray(x, dtype=np.float64)
    last = len(base) - 1
    traces = []
    for index, layer in enumerate(base):
        base_path = h @ layer["W"]
        adapter = by_layer.get(index)
        if adapter is None:
            down = lora_path = None
            z = base_path + layer["b"]
        else:
            down = h @ adapter["A"].T
            lora_path = config.scale * (down @ adapter["B"].T)
            z = base_path + lora_path + layer["b"]
        out = z if index == last else activate(z, ACTIVATION)
        traces.append(LayerTrace(x=h, base_path=base_path, down=down, lora_path=lora_path,
                                 bias=layer["b"], z=z, out=out, adapted=adapter is not None))
        h = out
    return h, Cache(tuple(traces))


# ------------------------------------------------------------------------- backward


@dataclass(frozen=True)
class Grads:
    """Gradients: ``base`` like the base params (``W`` in mlp layout (k, d), ``b``);
    ``adapters`` like the adapters."""

    base: Params
    adapters: Adapters


def backward(base: Params, adapters: Adapters, config: LoRAConfig, cache: Cache,
             dout: np.ndarray) -> Grads:
    """Hand-written backprop of ``dout = dL/dlogits`` through both paths of every layer.

    With ``dz = dL/dz`` (n, d) of a layer and its input ``x`` (n, k):
    ``dL/dW0^T = x^T dz``, ``dL/db = sum_n dz``, ``dL/dB = (alpha/r) dz^T (x A^T)``,
    ``dL/dA = (alpha/r) (dz B)^T x``, ``dL/dx = dz W0 + (alpha/r) (dz B) A``.
    Equivalently, with ``G = dL/dW`` (paper layout) of the merged weight:
    ``dL/dB = (alpha/r) G A^T`` and ``dL/dA = (alpha/r) B^T G`` -- so ``dL/dA = 0`` while
    ``B = 0``.
    """
    _check(base, adapters, config)
    adapter_of_layer = dict(zip(config.layers, range(len(adapters)), strict=True))
    scale = config.scale
    base_grads: Params = [{} for _ in base]
    adapter_grads: Adapters = [{} for _ in adapters]
    grad_out = dout  # dL/d(output of the current layer)
    last = len(base) - 1
    for index in range(last, -1, -1):
        trace = cache.layers[index]
        dz = grad_out if index == last else grad_out * activate_grad(trace.z, trace.out,
                                                                     ACTIVATION)
        base_grads[index] = {"W": trace.x.T @ dz, "b": dz.sum(axis=0)}
        grad_out = dz @ base[index]["W"].T
        adapter = adapter_of_layer.get(index)
        if adapter is not None:
            A, B = adapters[adapter]["A"], adapters[adapter]["B"]
            d_down = scale * (dz @ B)  # dL/d(down), (n, r)
            adapter_grads[adapter] = {"A": d_down.T @ trace.x, "B": scale * (dz.T @ trace.down)}
            grad_out = grad_out + d_down @ A
    return Grads(base_grads, adapter_grads)


def loss_and_grads(base: Params, adapters: Adapters, config: LoRAConfig, x: np.ndarray,
                   y: np.ndarray) -> tuple[float, Grads]:
    """Mean softmax cross-entropy and its gradients with respect to base and adapter
    parameters."""
    logits, cache = forward(base, adapters, config, x)
    loss, dout = softmax_cross_entropy(logits, y)
    return loss, backward(base, adapters, config, cache, dout)


# ----------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy, accuracy and class probabilities ``(n, 2)`` on one set."""

    loss: float
    accuracy: float
    probs: np.ndarray


def evaluate(base: Params, adapters: Adapters, config: LoRAConfig, x: np.ndarray,
             y: np.ndarray) -> Evaluation:
    """Loss, accuracy and probabilities of the (unmerged) adapted model."""
    logits, _ = forward(base, adapters, config, x)
    loss, _ = softmax_cross_entropy(logits, y)
    return Evaluation(loss=loss, accuracy=float(np.mean(np.argmax(logits, axis=1) == y)),
                      probs=softmax(logits))


def merge_error(base: Params, adapters: Adapters, config: LoRAConfig, x: np.ndarray) -> float:
    """Max |logits unmerged - logits merged| on ``x``: what merging costs in float64."""
    unmerged, _ = forward(base, adapters, config, x)
    merged, _ = forward(merge(base, adapters, config), [], NO_ADAPTERS, x)
    return float(np.max(np.abs(unmerged - merged)))
