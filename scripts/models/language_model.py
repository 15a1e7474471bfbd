"""A decoder-only transformer language model (GPT-style, scaled down) in numpy, with a
hand-written backward pass.

Model
-----
Token ids ``tok`` of shape ``(B, T)`` (``T <= context``), vocabulary ``V``, width ``d``,
``H`` heads of width ``d_head = d / H``, ``L`` blocks:

* ``x = W_E[tok] + W_pos[:T]`` (token and learned position embeddings, ``(B, T, d)``).
* Each block is pre-LayerNorm (GPT-2, Radford et al. 2019):
  ``x <- x + Attn(LN_1(x)) W_O``;  ``x <- x + GELU(LN_2(x) W_in + b_in) W_out + b_out``.
  ``Attn``: per head ``q = a W_Q``, ``k = a W_K``, ``v = a W_V`` (no biases),
  ``P = softmax(q k^T / sqrt(d_head) + M)`` with the causal mask ``M_ij = -inf`` for
  ``j > i`` (position ``i`` sees positions ``0..i`` only), heads concatenated.
* A final LayerNorm, then the unembedding ``logits = LN_f(x) W_U`` (``(B, T, V)``; not tied to
  ``W_E``).  The loss is the mean softmax cross-entropy of the next token at every position.

LayerNorm: ``LN(x) = g (x - mean) / sqrt(var + eps) + b`` over the last axis, ``eps = 1e-5``.
GELU: the tanh approximation of GPT-2, ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

Parameters are a :data:`models.mlp.Params` list (so ``mlp.map_params``/``flatten`` work):
``[{"W_E", "W_pos"}, block_1, ..., block_L, {"lnf_g", "lnf_b", "W_U"}]`` with
``block = {"ln1_g", "ln1_b", "W_Q", "W_K", "W_V", "W_O", "ln2_g", "ln2_b", "W_in", "b_in",
"W_out", "b_out"}``.

Initialisation: every weight matrix ``~ N(0, init_std^2)`` with ``init_std = 0.02`` (GPT-1,
Radford et al. 2018: "N(0, 0.02)"); the two projections that write into the residual stream
(``W_O``, ``W_out``) scaled by ``1 / sqrt(N)`` for ``N = 2 L`` residual layers (GPT-2, Radford
et al. 2019, Section 2.3; two per block as in nanoGPT's ``model.py``); LayerNorm gains one, all
biases zero.  ``dtype`` float32 (training) or
float64 (the gradient check): every array, cache and gradient stays in it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import mlp
from models.mlp import Params

LN_EPS = 1e-5
_GELU_C = float(np.sqrt(2.0 / np.pi))
_GELU_A = 0.044715
BLOCK_KEYS = ("ln1_g", "ln1_b", "W_Q", "W_K", "W_V", "W_O", "ln2_g", "ln2_b", "W_in", "b_in",
              "W_out", "b_out")


@dataclass(frozen=True)
class ModelConfig:
    """The shape of the model and its initialisation."""

    vocab_size: int
    context: int = 64
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_mlp: int = 256
    init_std: float = 0.02
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by "
                             f"n_heads={self.n_heads}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")


def init_params(cfg: ModelConfig, seed) -> Params:
    """Seeded GPT-2 initialisation (see the module docstring); ``seed`` is anything
    ``np.random.default_rng`` accepts."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(cfg.dtype)
    d, std = cfg.d_model, cfg.init_std
    residual_std = std / np.sqrt(2 * cfg.n_layers)

    def normal(shape, scale=std):
        return (scale * rng.normal(size=shape)).astype(dt)

    params: Params = [{"W_E": normal((cfg.vocab_size, d)), "W_pos": normal((cfg.context, d))}]
    for _ in range(cfg.n_layers):
        params.append({
            "ln1_g": np.ones(d, dt), "ln1_b": np.zeros(d, dt),
            "W_Q": normal((d, d)), "W_K": normal((d, d)), "W_V": normal((d, d)),
            "W_O": normal((d, d), residual_std),
            "ln2_g": np.ones(d, dt), "ln2_b": np.zeros(d, dt),
            "W_in": normal((d, cfg.d_mlp)), "b_in": np.zeros(cfg.d_mlp, dt),
            "W_out": normal((cfg.d_mlp, d), residual_std), "b_out": np.zeros(d, dt),
        })
    params.append({"lnf_g": np.ones(d, dt), "lnf_b": np.zeros(d, dt),
                   "W_U": normal((d, cfg.vocab_size))})
    return params


def num_params(params: Params) -> int:
    return mlp.num_params(params)


# ----------------------------------------------------------------------------- pieces


def layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """LayerNorm over the last axis; returns the output and what its backward needs."""
    mu = x.mean(axis=-1, keepdims=True)
    centred = x - mu
    inv = 1.0 / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + LN_EPS)
    xhat = centred * inv
    return xhat * g + b, (xhat, inv)


def layer_norm_backward(dy: np.ndarray, g: np.ndarray, saved: tuple
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dg, db) of :func:`layer_norm` given ``dy``."""
    xhat, inv = saved
    axes = tuple(range(dy.ndim - 1))
    dg = (dy * xhat).sum(axis=axes)
    db = dy.sum(axis=axes)
    dxhat = dy * g
    dx = inv * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return dx, dg, db


def gelu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GELU (tanh approximation) and its tanh term, kept for the backward pass."""
    t = np.tanh(_GELU_C * (x + _GELU_A * x * x * x))
    return 0.5 * x * (1.0 + t), t


def gelu_grad(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d GELU(x) / dx given ``t`` from :func:`gelu`."""
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * _GELU_A * x * x)


def causal_mask(T: int, dtype) -> np.ndarray:
    """``(T, T)``: 0 where position i may see j (j <= i), -inf above the diagonal."""
    return np.where(np.tril(np.ones((T, T), dtype=bool)), 0.0, -np.inf).astype(dtype)


# ---------------------------------------------------------------------------- forward


@dataclass
class BlockCache:
    x_in: np.ndarray        # (B, T, d) residual stream entering the block
    ln1: tuple
    a: np.ndarray           # (B*T, d) LN_1 output
    q: np.ndarray           # (B, H, T, dh)
    k: np.ndarray
    v: np.ndarray
    probs: np.ndarray       # (B, H, T, T) attention probabilities
    z: np.ndarray           # (B*T, d) heads concatenated
    ln2: tuple
    m: np.ndarray           # (B*T, d) LN_2 output
    pre: np.ndarray         # (B*T, d_mlp)
    tanh: np.ndarray        # (B*T, d_mlp) GELU's tanh term
    h: np.ndarray           # (B*T, d_mlp) GELU(pre)


@dataclass
class Cache:
    tok: np.ndarray         # (B, T)
    blocks: list[BlockCache]
    lnf: tuple
    xf: np.ndarray          # (B*T, d) final LayerNorm output


def _heads(t: np.ndarray, B: int, T: int, H: int) -> np.ndarray:
    """(B*T, d) -> (B, H, T, dh)."""
    return t.reshape(B, T, H, -1).transpose(0, 2, 1, 3)


def _merge(t: np.ndarray) -> np.ndarray:
    """(B, H, T, dh) -> (B*T, d)."""
    B, H, T, dh = t.shape
    return t.transpose(0, 2, 1, 3).reshape(B * T, H * dh)


def forward(params: Params, tok: np.ndarray, n_heads: int) -> tuple[np.ndarray, Cache]:
    """Logits ``(B, T, V)`` of the next token at every position of ``tok`` ``(B, T)``."""
    tok = np.asarray(tok)
    B, T = tok.shape
    emb, *blocks, head = params
    dt = emb["W_E"].dtype
    d = emb["W_E"].shape[1]
    dh = d // n_heads
    scale = dt.type(1.0 / np.sqrt(dh))
    mask = causal_mask(T, dt)
    x = emb["W_E"][tok] + emb["W_pos"][:T]
    caches = []
    for blk in blocks:
        x_in = x
        a, ln1 = layer_norm(x, blk["ln1_g"], blk["ln1_b"])
        a = a.reshape(B * T, d)
        q, k, v = (_heads(a @ blk[key], B, T, n_heads) for key in ("W_Q", "W_K", "W_V"))
        scores = (q @ k.transpose(0, 1, 3, 2)) * scale + mask
        scores -= scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        probs = e / e.sum(axis=-1, keepdims=True)
        z = _merge(probs @ v)
        x = x + (z @ blk["W_O"]).reshape(B, T, d)
        m, ln2 = layer_norm(x, blk["ln2_g"], blk["ln2_b"])
        m = m.reshape(B * T, d)
        pre = m @ blk["W_in"] + blk["b_in"]
        h, tanh = gelu(pre)
        x = x + (h @ blk["W_out"] + blk["b_out"]).reshape(B, T, d)
        caches.append(BlockCache(x_in, ln1, a, q, k, v, probs, z, ln2, m, pre, tanh, h))
    xf, lnf = layer_norm(x, head["lnf_g"], head["lnf_b"])
    xf = xf.reshape(B * T, d)
    logits = (xf @ head["W_U"]).reshape(B, T, -1)
    return logits, Cache(tok, caches, lnf, xf)


# --------------------------------------------------------------------------- backward


def backward(params: Params, cache: Cache, dlogits: np.ndarray) -> Params:
    """Gradients of every parameter given ``dlogits = dL/d(logits)`` ``(B, T, V)``."""
    emb, *blocks, head = params
    B, T = cache.tok.shape
    d = emb["W_E"].shape[1]
    dl = dlogits.reshape(B * T, -1)
    g_head = {"W_U": cache.xf.T @ dl}
    dxf = (dl @ head["W_U"].T).reshape(B, T, d)
    dx, g_head["lnf_g"], g_head["lnf_b"] = layer_norm_backward(dxf, head["lnf_g"], cache.lnf)
    g_head = {key: g_head[key] for key in head}
    g_blocks = []
    for blk, c in zip(reversed(blocks), reversed(cache.blocks), strict=True):
        H = c.q.shape[1]
        dh = c.q.shape[3]
        scale = dx.dtype.type(1.0 / np.sqrt(dh))
        g = {}
        # MLP: x_out = x_mid + GELU(LN_2(x_mid) W_in + b_in) W_out + b_out
        dmlp = dx.reshape(B * T, d)
        g["W_out"] = c.h.T @ dmlp
        g["b_out"] = dmlp.sum(axis=0)
        dpre = (dmlp @ blk["W_out"].T) * gelu_grad(c.pre, c.tanh)
        g["W_in"] = c.m.T @ dpre
        g["b_in"] = dpre.sum(axis=0)
        dm = (dpre @ blk["W_in"].T).reshape(B, T, d)
        dln2, g["ln2_g"], g["ln2_b"] = layer_norm_backward(dm, blk["ln2_g"], c.ln2)
        dx = dx + dln2
        # attention: x_mid = x_in + concat_h(P_h v_h) W_O
        dattn = dx.reshape(B * T, d)
        g["W_O"] = c.z.T @ dattn
        dz = _heads(dattn @ blk["W_O"].T, B, T, H)
        dprobs = dz @ c.v.transpose(0, 1, 3, 2)
        dv = c.probs.transpose(0, 1, 3, 2) @ dz
        dscores = c.probs * (dprobs - (c.probs * dprobs).sum(axis=-1, keepdims=True)) * scale
        dq = dscores @ c.k
        dk = dscores.transpose(0, 1, 3, 2) @ c.q
        da = np.zeros_like(c.a)
        for key, grad in (("W_Q", dq), ("W_K", dk), ("W_V", dv)):
            flat = _merge(grad)
            g[key] = c.a.T @ flat
            da += flat @ blk[key].T
        dln1, g["ln1_g"], g["ln1_b"] = layer_norm_backward(da.reshape(B, T, d), blk["ln1_g"],
                                                           c.ln1)
        dx = dx + dln1
        g_blocks.append({key: g[key] for key in blk})
    g_blocks.reverse()
    flat_dx = dx.reshape(B * T, d)
    onehot = np.zeros((B * T, emb["W_E"].shape[0]), dx.dtype)
    onehot[np.arange(B * T), cache.tok.ravel()] = 1
    g_emb = {"W_E": onehot.T @ flat_dx, "W_pos": np.zeros_like(emb["W_pos"])}
    g_emb["W_pos"][:T] = dx.sum(axis=0)
    return [g_emb, *g_blocks, g_head]


def loss(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean next-token cross-entropy over every position, and its gradient wrt the logits."""
    B, T, V = logits.shape
    value, dlogits = mlp.softmax_cross_entropy(logits.reshape(B * T, V), targets.reshape(-1))
    return value, dlogits.reshape(B, T, V).astype(logits.dtype, copy=False)


def loss_and_grads(params: Params, tok: np.ndarray, targets: np.ndarray, n_heads: int
                   ) -> tuple[float, Params]:
    logits, cache = forward(params, tok, n_heads)
    value, dlogits = loss(logits, targets)
    return value, backward(params, cache, dlogits)


def mean_loss(params: Params, tok: np.ndarray, targets: np.ndarray, n_heads: int,
              batch: int = 64) -> float:
    """Mean next-token cross-entropy (nats) over all windows of ``tok`` (forward only, in
    chunks of ``batch`` windows; the log-probabilities summed in float64)."""
    total, count = 0.0, 0
    for start in range(0, len(tok), batch):
        logits, _ = forward(params, tok[start:start + batch], n_heads)
        B, T, V = logits.shape
        logp = mlp.log_softmax(logits.reshape(B * T, V))
        picked = logp[np.arange(B * T), targets[start:start + batch].reshape(-1)]
        total -= float(picked.astype(np.float64).sum())
        count += B * T
    return total / count
