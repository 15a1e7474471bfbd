"""Modular addition ``(a + b) mod p`` learned by a one-layer transformer (Nanda et al. 2023,
arXiv 2301.05217, scaled down), in numpy with a hand-written backward pass.

Model
-----
* Input: the 3 tokens ``a b =`` (vocabulary ``p + 1``; id ``p`` is "=").
  ``x_j = W_E[token_j] + W_pos[j]`` (``W_E``: ``(p+1) x d``, ``W_pos``: ``3 x d``).
* One attention layer with ``H`` heads of width ``d_head = d / H``, no biases:
  ``q = x_2 W_Q``, ``k_j = x_j W_K``, ``v_j = x_j W_V`` (split into heads),
  ``A_h = softmax_j(q_h . k_{j,h} / sqrt(d_head))``, ``z_h = sum_j A_{h,j} v_{j,h}``,
  ``r = x_2 + concat_h(z_h) W_O``.
* ReLU MLP with residual: ``r' = r + ReLU(r W_in + b_in) W_out + b_out``.
* No LayerNorm (as Nanda).  Logits ``r' W_U`` (``d x p``) at the final position, mean softmax
  cross-entropy on ``(a + b) mod p``.

Attention is *causal* (as Nanda's).  Only the final ("=") position is read out and there is
one layer, so only the query of position 2 matters; under the causal mask it attends to all
3 positions, so causal and full attention give the *same* logits.  The residual streams of
positions 0 and 1 are needed only as keys and values, and their queries/MLP are not computed.

Parameters are a :data:`models.mlp.Params` list
``[{"W_E", "W_pos"}, {"W_Q", "W_K", "W_V", "W_O"}, {"W_in", "b_in", "W_out", "b_out"}, {"W_U"}]``
so :class:`models.mlp.Adam` (AdamW: decay on every parameter) works on it unchanged.

Initialisation (Nanda's code): every weight ``~ N(0, 1/d)`` (std ``1/sqrt(d)``), ``W_U`` std
``1/sqrt(p)``, biases zero; then every parameter times ``init_scale``.  ``dtype`` is float64
or float32 (all arrays, including the optimizer state, stay in that dtype).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models import mlp, modular
from models.mlp import Params

THRESHOLD = modular.THRESHOLD


@dataclass(frozen=True)
class TransformerConfig:
    """Every parameter of one training run."""

    p: int = 53
    d: int = 64
    n_heads: int = 4
    d_mlp: int = 256
    train_fraction: float = 0.4
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    init_scale: float = 1.0
    seed: int = 0
    max_steps: int = 10_000
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.d % self.n_heads:
            raise ValueError(f"d={self.d} is not divisible by n_heads={self.n_heads}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")


@dataclass
class TrainResult:
    metrics: dict[str, np.ndarray]
    checkpoints: dict[int, dict[str, np.ndarray]]
    params: Params
    steps: int
    stopped_reason: str
    wall_time: float = 0.0
    #: All parameters at the logged steps asked for (`train(snapshot_every=...)`), kept in memory
    #: (None when none were asked for).
    snapshots: dict[int, Params] | None = None


# ------------------------------------------------------------------------------ model


def tokens(p: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The ``(n, 3)`` token ids ``a b =`` ("=" is id ``p``)."""
    a = np.asarray(a)
    return np.stack([a, np.asarray(b), np.full_like(a, p)], axis=1)


def init_params(cfg: TransformerConfig) -> Params:
    rng = np.random.default_rng([cfg.seed, 2])
    d, p, s = cfg.d, cfg.p, cfg.init_scale
    dt = np.dtype(cfg.dtype)

    def normal(shape, std):
        return (s * std * rng.normal(size=shape)).astype(dt)

    return [
        {"W_E": normal((p + 1, d), d**-0.5), "W_pos": normal((3, d), d**-0.5)},
        {"W_Q": normal((d, d), d**-0.5), "W_K": normal((d, d), d**-0.5),
         "W_V": normal((d, d), d**-0.5), "W_O": normal((d, d), d**-0.5)},
        {"W_in": normal((d, cfg.d_mlp), d**-0.5), "b_in": np.zeros(cfg.d_mlp, dt),
         "W_out": normal((cfg.d_mlp, d), cfg.d_mlp**-0.5), "b_out": np.zeros(d, dt)},
        {"W_U": normal((d, p), p**-0.5)},
    ]


@dataclass(frozen=True)
class Cache:
    tok: np.ndarray     # (n, 3)
    x: np.ndarray       # (n, 3, d) embeddings
    q: np.ndarray       # (n, H, dh) query of the final position
    k: np.ndarray       # (n, 3, H, dh)
    v: np.ndarray       # (n, 3, H, dh)
    attn: np.ndarray    # (n, H, 3) attention probabilities of the final position
    z: np.ndarray       # (n, H, dh) attention-weighted values
    r: np.ndarray       # (n, d) residual after attention
    pre: np.ndarray     # (n, d_mlp) MLP pre-activation
    h: np.ndarray       # (n, d_mlp) ReLU(pre)
    r2: np.ndarray      # (n, d) residual after the MLP


def forward(params: Params, tok: np.ndarray, n_heads: int) -> tuple[np.ndarray, Cache]:
    """Logits ``(n, p)`` at the final position for token rows ``tok`` ``(n, 3)``."""
    emb, att, ml, un = params
    n = len(tok)
    d = emb["W_E"].shape[1]
    dh = d // n_heads
    x = emb["W_E"][tok] + emb["W_pos"]                        # (n, 3, d)
    x2 = x[:, 2]
    q = (x2 @ att["W_Q"]).reshape(n, n_heads, dh)
    k = (x @ att["W_K"]).reshape(n, 3, n_heads, dh)
    v = (x @ att["W_V"]).reshape(n, 3, n_heads, dh)
    scores = np.einsum("nhe,njhe->nhj", q, k) / np.sqrt(dh).astype(x.dtype)
    scores = scores - scores.max(axis=2, keepdims=True)
    e = np.exp(scores)
    attn = e / e.sum(axis=2, keepdims=True)                   # (n, H, 3)
    z = np.einsum("nhj,njhe->nhe", attn, v)
    r = x2 + z.reshape(n, d) @ att["W_O"]
    pre = r @ ml["W_in"] + ml["b_in"]
    h = np.maximum(pre, 0)
    r2 = r + h @ ml["W_out"] + ml["b_out"]
    logits = r2 @ un["W_U"]
    return logits, Cache(tok, x, q, k, v, attn, z, r, pre, h, r2)


def backward(params: Params, cache: Cache, dlogits: np.ndarray) -> Params:
    """Gradients of every parameter given ``dlogits = dL/d(logits)``."""
    emb, att, ml, un = params
    c = cache
    n, H, dh = c.q.shape
    d = H * dh
    dW_U = c.r2.T @ dlogits
    dr2 = dlogits @ un["W_U"].T
    dW_out = c.h.T @ dr2
    db_out = dr2.sum(axis=0)
    dpre = (dr2 @ ml["W_out"].T) * (c.pre > 0)
    dW_in = c.r.T @ dpre
    db_in = dpre.sum(axis=0)
    dr = dr2 + dpre @ ml["W_in"].T
    zflat = c.z.reshape(n, d)
    dW_O = zflat.T @ dr
    dz = (dr @ att["W_O"].T).reshape(n, H, dh)
    dattn = np.einsum("nhe,njhe->nhj", dz, c.v)
    dv = np.einsum("nhj,nhe->njhe", c.attn, dz)
    dscores = c.attn * (dattn - (c.attn * dattn).sum(axis=2, keepdims=True))
    dscores = dscores / np.sqrt(dh).astype(dscores.dtype)
    dq = np.einsum("nhj,njhe->nhe", dscores, c.k).reshape(n, d)
    dk = np.einsum("nhj,nhe->njhe", dscores, c.q).reshape(n, 3, d)
    dv = dv.reshape(n, 3, d)
    x2 = c.x[:, 2]
    xf = c.x.reshape(n * 3, d)
    dW_Q = x2.T @ dq
    dW_K = xf.T @ dk.reshape(n * 3, d)
    dW_V = xf.T @ dv.reshape(n * 3, d)
    dx = dk @ att["W_K"].T + dv @ att["W_V"].T               # (n, 3, d)
    dx[:, 2] += dr + dq @ att["W_Q"].T
    dW_pos = dx.sum(axis=0)
    dW_E = np.zeros_like(emb["W_E"])
    np.add.at(dW_E, c.tok.ravel(), dx.reshape(n * 3, d))
    return [{"W_E": dW_E, "W_pos": dW_pos},
            {"W_Q": dW_Q, "W_K": dW_K, "W_V": dW_V, "W_O": dW_O},
            {"W_in": dW_in, "b_in": db_in, "W_out": dW_out, "b_out": db_out},
            {"W_U": dW_U}]


def loss_and_grads(
    params: Params, tok: np.ndarray, y: np.ndarray, n_heads: int
) -> tuple[float, Params]:
    logits, cache = forward(params, tok, n_heads)
    loss, dlogits = mlp.softmax_cross_entropy(logits, y)
    return float(loss), backward(params, cache, dlogits.astype(logits.dtype))


def param_norm(params: Params) -> float:
    return float(np.linalg.norm(mlp.flatten(params).astype(np.float64)))


# ------------------------------------------------------------------ head measures


def head_contributions(params: Params, n_heads: int) -> tuple[np.ndarray, np.ndarray]:
    """For all ``p^2`` pairs (``a`` major): attention probabilities ``(p, p, H, 3)`` of the
    final position, and each head's contribution to the final residual,
    ``c_h(a, b) = z_h(a, b) W_O[h]`` as an array ``(H, p, p, d)`` (float64)."""
    params = mlp.map_params(lambda w: w.astype(np.float64), params)
    p = params[3]["W_U"].shape[1]
    a, b = np.divmod(np.arange(p * p), p)
    _, cache = forward(params, tokens(p, a, b), n_heads)
    n, H, dh = cache.z.shape
    W_O = params[1]["W_O"].reshape(H, dh, -1)
    contrib = np.einsum("nhe,hed->hnd", cache.z, W_O).reshape(H, p, p, -1)
    return cache.attn.reshape(p, p, H, 3), contrib


def frequency_power(contrib: np.ndarray) -> np.ndarray:
    """``(H, (p-1)//2)`` power of each head's contribution per frequency ``k = 1 .. (p-1)/2``.

    For each head: subtract the mean over all pairs, take the 2-D DFT over ``(a, b)`` of every
    residual dimension, sum ``|F(k1, k2)|^2`` over the dimensions, and give frequency ``k`` the
    power of the eight components ``(k1, k2)`` with ``k1, k2 in {0, k, -k}`` (not both 0):
    the terms ``cos/sin(w_k a)``, ``(w_k b)``, ``(w_k (a + b))`` and ``(w_k (a - b))``,
    ``w_k = 2 pi k / p``.  (For odd ``p`` the groups are disjoint; the rest of the spectrum,
    components mixing two different frequencies, belongs to no ``k``.)
    """
    H, p = contrib.shape[:2]
    centred = contrib - contrib.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(centred, axes=(1, 2))) ** 2).sum(axis=3)  # (H, p, p)
    ks = np.arange(1, (p - 1) // 2 + 1)
    out = np.zeros((H, len(ks)))
    for i, k in enumerate(ks):
        idx = {(k1 % p, k2 % p) for k1 in (0, k, -k) for k2 in (0, k, -k)} - {(0, 0)}
        rows, cols = zip(*sorted(idx), strict=True)
        out[:, i] = power[:, list(rows), list(cols)].sum(axis=1)
    return out


def head_fourier_share(contrib: np.ndarray, top_k: int = 3) -> np.ndarray:
    """``(H,)`` share of each head's total centred power (all ``p^2 - 1`` non-constant 2-D
    frequencies) that lies in its ``top_k`` frequencies of :func:`frequency_power`."""
    H, p = contrib.shape[:2]
    centred = contrib - contrib.mean(axis=(1, 2), keepdims=True)
    total = (centred**2).sum(axis=(1, 2, 3)) * p * p  # Parseval
    per_k = np.sort(frequency_power(contrib), axis=1)[:, ::-1]
    return per_k[:, :top_k].sum(axis=1) / np.maximum(total, 1e-300)


def checkpoint(params: Params, cfg: TransformerConfig, top_k: int = 3) -> dict[str, np.ndarray]:
    attn, contrib = head_contributions(params, cfg.n_heads)
    power = frequency_power(contrib)
    return {
        "attention": attn.mean(axis=(0, 1)),  # (H, 3)
        "W_E": params[0]["W_E"][: cfg.p].astype(np.float64),  # (p, d)
        "W_pos": params[0]["W_pos"].astype(np.float64),
        "head_freq_power": power,  # (H, (p-1)/2)
        "head_fourier_share": head_fourier_share(contrib, top_k),  # (H,)
        "head_contribution_norm": np.sqrt((contrib**2).sum(axis=(1, 2, 3)) / cfg.p**2),  # (H,)
    }


# ---------------------------------------------------------------------------- training


def train(
    cfg: TransformerConfig,
    checkpoint_steps: tuple[int, ...] = (),
    data: modular.Split | None = None,
    top_k: int = 3,
    snapshot_every: int | None = None,
) -> TrainResult:
    """Full-batch AdamW; logs by :func:`models.modular.is_logged`.

    Columns: step, train_loss, train_acc, val_loss, val_acc, weight_norm (all parameters),
    embedding_norm (``||W_E[:p]||_F``, the number tokens), measured after ``step`` optimizer
    steps.  Checkpoints (at ``checkpoint_steps`` and the final step) hold :func:`checkpoint`.
    With ``snapshot_every``, the result's ``snapshots`` hold every parameter at the logged steps
    that are multiples of it and at the last step (as :func:`models.modular.train`'s); they
    change nothing in the training.
    """
    start = time.perf_counter()
    data = data or modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    tok_tr, tok_va = (
        tokens(cfg.p, data.a_train, data.b_train),
        tokens(cfg.p, data.a_val, data.b_val),
    )
    params = init_params(cfg)
    opt = mlp.Adam(lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay)
    state = opt.init(params)
    names = (
        "step",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "weight_norm",
        "embedding_norm",
    )
    rows = []
    checkpoints = {}
    snapshots: dict[int, Params] = {}
    step = 0
    while True:
        logits, cache = forward(params, tok_tr, cfg.n_heads)
        train_loss, dlogits = mlp.softmax_cross_entropy(logits, data.y_train)
        if modular.is_logged(step) or step == cfg.max_steps:
            vlogits, _ = forward(params, tok_va, cfg.n_heads)
            val_loss, _ = mlp.softmax_cross_entropy(vlogits.astype(np.float64), data.y_val)
            tl, _ = mlp.softmax_cross_entropy(logits.astype(np.float64), data.y_train)
            rows.append(
                (
                    step,
                    float(tl),
                    mlp.accuracy(logits, data.y_train),
                    float(val_loss),
                    mlp.accuracy(vlogits, data.y_val),
                    param_norm(params),
                    float(np.linalg.norm(params[0]["W_E"][: cfg.p].astype(np.float64))),
                )
            )
        done = step == cfg.max_steps
        if step in checkpoint_steps or (done and checkpoint_steps):
            checkpoints[step] = checkpoint(params, cfg, top_k)
        if snapshot_every and modular.is_logged(step) and (step % snapshot_every == 0 or done):
            snapshots[step] = params  # never modified in place: each step makes new arrays
        if done:
            break
        grads = backward(params, cache, dlogits.astype(logits.dtype))
        params, state = opt.step(params, grads, state)
        step += 1
    metrics = {
        name: np.array([row[i] for row in rows], dtype=float) for i, name in enumerate(names)
    }
    return TrainResult(
        metrics,
        checkpoints,
        params,
        step,
        f"max_steps={cfg.max_steps}",
        time.perf_counter() - start,
        snapshots if snapshot_every else None,
    )
