"""A small multilayer perceptron in plain numpy with hand-written backprop.

Conventions (float64 throughout)
--------------------------------
* A batch ``x`` has shape ``(n, d_in)``; one row per sample.
* Parameters are a list of layers, each a dict ``{"W": (d_in, d_out), "b": (d_out,)}``,
  so a layer computes ``z = h @ W + b``.  The list type is :data:`Params`; the helpers
  :func:`map_params`, :func:`flatten` and :func:`unflatten` work on any such list.
* Every layer except the last applies the hidden activation; the last layer is linear
  (its output is the logits for classification, or the prediction for regression).
* With ``residual=True`` every hidden layer whose input and output widths are equal
  becomes ``h_{l+1} = h_l + act(h_l @ W_l + b_l)``; other layers stay plain.
* Losses are means over the batch.  Softmax cross-entropy takes integer labels;
  mean squared error is the mean over all entries of ``(pred - target) ** 2``.
* Optimizers are pure: ``step(params, grads, state) -> (new_params, new_state)``,
  nothing is modified in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Layer = dict[str, np.ndarray]
Params = list[Layer]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
LOSSES = ("xent", "mse")


# --------------------------------------------------------------------------- params


def map_params(fn: Callable[..., np.ndarray], *trees: Params) -> Params:
    """Apply ``fn`` leaf-wise to one or more parameter lists of identical structure."""
    return [{k: fn(*(t[i][k] for t in trees)) for k in trees[0][i]} for i in range(len(trees[0]))]


def flatten(params: Params) -> np.ndarray:
    """Concatenate all parameters into one vector (layer order, then W before b)."""
    return np.concatenate([layer[k].ravel() for layer in params for k in sorted(layer)])


def unflatten(vector: np.ndarray, like: Params) -> Params:
    """Inverse of :func:`flatten`: cut ``vector`` into arrays shaped like ``like``."""
    out: Params = []
    pos = 0
    for layer in like:
        new = {}
        for k in sorted(layer):
            size = layer[k].size
            new[k] = vector[pos : pos + size].reshape(layer[k].shape).copy()
            pos += size
        out.append(new)
    if pos != vector.size:
        raise ValueError(f"vector has {vector.size} entries, parameters need {pos}")
    return out


def num_params(params: Params) -> int:
    """Total number of scalar parameters."""
    return sum(a.size for layer in params for a in layer.values())


def init_params(
    sizes: list[int],
    seed: int | Sequence[int] | np.random.Generator,
    scheme: str = "auto",
    activation: str = "relu",
) -> Params:
    """Seeded Gaussian initialisation, biases zero.

    ``sizes = [d_in, h_1, ..., d_out]``; ``seed`` is anything ``np.random.default_rng``
    accepts.  Schemes (per layer, fan_in/fan_out of ``W``):

    * ``"xavier"`` (Glorot & Bengio 2010): ``W ~ N(0, 2 / (fan_in + fan_out))`` --
      keeps activation and gradient variance roughly constant for sigmoid/tanh/linear.
    * ``"he"`` (He et al. 2015): ``W ~ N(0, 2 / fan_in)`` -- compensates for ReLU
      zeroing half of its inputs.
    * ``"auto"``: He for ``activation="relu"``, Xavier otherwise.  The linear output
      layer always uses Xavier under ``"auto"``.
    """
    if scheme not in ("auto", "xavier", "he"):
        raise ValueError(f"unknown init scheme {scheme!r}")
    rng = np.random.default_rng(seed)
    params: Params = []
    n_layers = len(sizes) - 1
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layer_scheme = scheme
        if scheme == "auto":
            is_hidden = i < n_layers - 1
            layer_scheme = "he" if (activation == "relu" and is_hidden) else "xavier"
        var = 2.0 / fan_in if layer_scheme == "he" else 2.0 / (fan_in + fan_out)
        W = rng.normal(0.0, np.sqrt(var), size=(fan_in, fan_out))
        params.append({"W": W, "b": np.zeros(fan_out)})
    return params


# ---------------------------------------------------------------------- activations


def activate(z: np.ndarray, activation: str) -> np.ndarray:
    """Elementwise hidden activation."""
    if activation == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free form of 1 / (1 + e^-z)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "identity":
        return z.copy()
    raise ValueError(f"unknown activation {activation!r}")


def activate_grad(z: np.ndarray, a: np.ndarray, activation: str) -> np.ndarray:
    """Derivative of the activation at pre-activation ``z`` (``a = act(z)`` given for reuse)."""
    if activation == "sigmoid":
        return a * (1.0 - a)
    if activation == "tanh":
        return 1.0 - a * a
    if activation == "relu":
        return (z > 0.0).astype(z.dtype)
    if activation == "identity":
        return np.ones_like(z)
    raise ValueError(f"unknown activation {activation!r}")


# -------------------------------------------------------------------------- forward


@dataclass
class Cache:
    """What backward needs: each layer's input ``h``, pre-activation ``z`` and output ``a``."""

    inputs: list[np.ndarray]
    preacts: list[np.ndarray]
    acts: list[np.ndarray]
    activation: str
    residual: list[bool]


def forward(
    params: Params, x: np.ndarray, activation: str = "relu", residual: bool = False
) -> tuple[np.ndarray, Cache]:
    """Run the network on ``x``; return the linear output (logits) and the backward cache."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}")
    h = np.asarray(x, dtype=np.float64)
    cache = Cache([], [], [], activation, [])
    last = len(params) - 1
    for i, layer in enumerate(params):
        z = h @ layer["W"] + layer["b"]
        skip = residual and i < last and layer["W"].shape[0] == layer["W"].shape[1]
        a = z if i == last else activate(z, activation)
        cache.inputs.append(h)
        cache.preacts.append(z)
        cache.acts.append(a)
        cache.residual.append(skip)
        h = h + a if skip else a
    return h, cache


# ------------------------------------------------------------------------- backward


def layer_deltas(params: Params, cache: Cache, dout: np.ndarray) -> list[np.ndarray]:
    """Backpropagate ``dout = dL/d(output)`` to ``delta_l = dL/dz_l`` for every layer.

    Rows stay samples, so ``dL/dW_l = h_l^T delta_l`` with ``h_l = cache.inputs[l]``.
    Residual layers pass the incoming gradient through the skip path unchanged.
    """
    deltas: list[np.ndarray] = [np.empty(0)] * len(params)
    g = dout  # gradient with respect to the current layer's output h_{l+1}
    last = len(params) - 1
    for i in range(last, -1, -1):
        if i == last:
            dz = g
        else:
            dz = g * activate_grad(cache.preacts[i], cache.acts[i], cache.activation)
        deltas[i] = dz
        g_in = dz @ params[i]["W"].T
        g = g_in + g if cache.residual[i] else g_in
    return deltas


def backward(params: Params, cache: Cache, dout: np.ndarray) -> Params:
    """Gradients of the loss with respect to every ``W`` and ``b`` given ``dout = dL/d(output)``."""
    deltas = layer_deltas(params, cache, dout)
    return [
        {"W": h.T @ dz, "b": dz.sum(axis=0)} for h, dz in zip(cache.inputs, deltas, strict=True)
    ]


def per_sample_backward(params: Params, cache: Cache, dout: np.ndarray) -> Params:
    """Per-sample gradients: row ``i`` of ``dout`` is ``d l_i / d(output_i)``.

    Returns arrays with a leading sample axis, ``W: (n, d_in, d_out)``, ``b: (n, d_out)``.
    Backprop is linear in ``dout`` and samples do not interact, so one vectorised pass
    gives all of them: ``dl_i/dW_l = outer(h_{l,i}, delta_{l,i})``.
    """
    deltas = layer_deltas(params, cache, dout)
    return [
        {"W": np.einsum("ni,nj->nij", h, dz), "b": dz.copy()}
        for h, dz in zip(cache.inputs, deltas, strict=True)
    ]


# --------------------------------------------------------------------------- losses


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax via the max-shifted log-sum-exp."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax probabilities."""
    return np.exp(log_softmax(logits))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy ``-log p(y_i | x_i)`` and its gradient wrt the logits."""
    n = logits.shape[0]
    logp = log_softmax(logits)
    loss = -logp[np.arange(n), labels].mean()
    dlogits = np.exp(logp)
    dlogits[np.arange(n), labels] -= 1.0
    return float(loss), dlogits / n


def mse(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over all entries of ``(pred - target)^2`` and its gradient wrt ``pred``."""
    target = np.asarray(target, dtype=np.float64).reshape(pred.shape)
    diff = pred - target
    return float(np.mean(diff * diff)), 2.0 * diff / diff.size


def loss_fn(name: str) -> Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]:
    """Look up a loss by name: ``"xent"`` or ``"mse"``."""
    if name == "xent":
        return softmax_cross_entropy
    if name == "mse":
        return mse
    raise ValueError(f"unknown loss {name!r}")


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max logit equals the label."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


# ----------------------------------------------------------------- convenience APIs


def loss_and_grads(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    loss: str = "xent",
    activation: str = "relu",
    residual: bool = False,
) -> tuple[float, Params]:
    """Batch loss and its gradient with respect to all parameters."""
    out, cache = forward(params, x, activation, residual)
    value, dout = loss_fn(loss)(out, y)
    return value, backward(params, cache, dout)


def per_sample_grads(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    loss: str = "xent",
    activation: str = "relu",
    residual: bool = False,
) -> Params:
    """Gradients of each sample's own loss ``l_i``; their mean over samples is the batch
    gradient."""
    out, cache = forward(params, x, activation, residual)
    _, dout = loss_fn(loss)(out, y)
    return per_sample_backward(params, cache, dout * out.shape[0])


def per_sample_loglik_grads(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    loss: str = "xent",
    activation: str = "relu",
    residual: bool = False,
) -> Params:
    """Per-sample gradients of the log-likelihood ``log p(y_i | x_i, theta)``.

    ``"xent"``: categorical model ``p = softmax(logits)``, so this is ``-grad l_i``.
    ``"mse"``: Gaussian model with unit variance, ``log p = -||y - f||^2 / 2 + const``.
    """
    out, cache = forward(params, x, activation, residual)
    if loss == "xent":
        p = softmax(out)
        dloglik = -p
        dloglik[np.arange(out.shape[0]), y] += 1.0
    elif loss == "mse":
        dloglik = np.asarray(y, dtype=np.float64).reshape(out.shape) - out
    else:
        raise ValueError(f"unknown loss {loss!r}")
    return per_sample_backward(params, cache, dloglik)


# ----------------------------------------------------------------------- optimizers


@dataclass
class SGDState:
    """Momentum buffers (``None`` when momentum is off)."""

    velocity: Params | None = None


@dataclass(frozen=True)
class SGD:
    """SGD with optional heavy-ball momentum (PyTorch convention).

    ``v <- mu * v + g``;  ``theta <- theta - lr * v``  (plain SGD when ``mu = 0``).
    """

    lr: float
    momentum: float = 0.0

    def init(self, params: Params) -> SGDState:
        return SGDState(map_params(np.zeros_like, params) if self.momentum else None)

    def step(self, params: Params, grads: Params, state: SGDState) -> tuple[Params, SGDState]:
        if not self.momentum:
            return map_params(lambda p, g: p - self.lr * g, params, grads), state
        v = map_params(lambda v, g: self.momentum * v + g, state.velocity, grads)
        return map_params(lambda p, v: p - self.lr * v, params, v), SGDState(v)


@dataclass
class AdamState:
    """First/second moment estimates and the step counter ``t``."""

    m: Params
    v: Params
    t: int = 0


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015); with ``weight_decay > 0`` it is AdamW (Loshchilov & Hutter 2019).

    ``m <- b1 m + (1-b1) g``;  ``v <- b2 v + (1-b2) g^2``;
    ``m_hat = m / (1-b1^t)``;  ``v_hat = v / (1-b2^t)``;
    ``theta <- theta - lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * theta)``.
    The decay is decoupled from the gradient and applied to every parameter.
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def init(self, params: Params) -> AdamState:
        return AdamState(map_params(np.zeros_like, params), map_params(np.zeros_like, params), 0)

    def step(self, params: Params, grads: Params, state: AdamState) -> tuple[Params, AdamState]:
        t = state.t + 1
        b1, b2 = self.beta1, self.beta2
        m = map_params(lambda m, g: b1 * m + (1.0 - b1) * g, state.m, grads)
        v = map_params(lambda v, g: b2 * v + (1.0 - b2) * g * g, state.v, grads)
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t

        def update(p: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
            return p - self.lr * ((m / c1) / (np.sqrt(v / c2) + self.eps) + self.weight_decay * p)

        return map_params(update, params, m, v), AdamState(m, v, t)
