"""The tiny language model (models.language_model), its optimizers and schedule
(models.optimizers) and its data and training loop (numerics.pretraining.language_model)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from conftest import central_differences
from models import language_model as lm
from models import mlp, optimizers
from numerics.pretraining import language_model as lmexp

TINY = lm.ModelConfig(vocab_size=7, context=6, d_model=8, n_heads=2, n_layers=2, d_mlp=12,
                      init_std=0.4, dtype="float64")


def perturbed(cfg: lm.ModelConfig, seed: int = 1) -> mlp.Params:
    """Parameters with every LayerNorm gain and offset and every bias moved off its initial
    1 or 0, so that the gradient check exercises them."""
    rng = np.random.default_rng(seed)
    params = lm.init_params(cfg, seed)
    return mlp.map_params(lambda a: a + 0.2 * rng.normal(size=a.shape), params)


def tokens(cfg: lm.ModelConfig, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, cfg.vocab_size, (batch, cfg.context)),
            rng.integers(0, cfg.vocab_size, (batch, cfg.context)))


# ---- the model ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n_layers,n_heads", [(2, 2), (1, 4)])
def test_every_gradient_matches_central_finite_differences(n_layers, n_heads):
    cfg = dataclasses.replace(TINY, n_layers=n_layers, n_heads=n_heads)
    params = perturbed(cfg)
    x, y = tokens(cfg, 3)
    _, grads = lm.loss_and_grads(params, x, y, cfg.n_heads)
    fd = central_differences(lambda shifted: lm.loss_and_grads(shifted, x, y, cfg.n_heads)[0],
                             params)
    checked = 0
    for i, layer in enumerate(params):
        for key, array in layer.items():
            grad = grads[i][key]
            assert grad.shape == array.shape and grad.dtype == np.float64, (i, key)
            assert np.linalg.norm(fd[i][key]) > 0, (i, key)  # the parameter matters to the loss
            error = np.linalg.norm(fd[i][key] - grad) / np.linalg.norm(fd[i][key])
            assert error < 1e-6, (i, key, error)
            checked += 1
    # W_E W_pos | 12 per block | lnf_g lnf_b W_U: every parameter of the model
    assert checked == 2 + 12 * n_layers + 3 == sum(len(layer) for layer in params)


def test_a_window_shorter_than_the_context_uses_the_first_positions():
    params = perturbed(TINY)
    x, y = tokens(TINY, 2)
    short = x[:, :4]
    _, grads = lm.loss_and_grads(params, short, y[:, :4], TINY.n_heads)
    np.testing.assert_array_equal(grads[0]["W_pos"][4:], 0)
    full, _ = lm.forward(params, x, TINY.n_heads)
    part, _ = lm.forward(params, short, TINY.n_heads)
    np.testing.assert_allclose(part, full[:, :4], rtol=1e-12, atol=1e-12)


def test_changing_a_later_token_never_changes_an_earlier_position():
    params = perturbed(TINY)
    x, _ = tokens(TINY, 4)
    logits, _ = lm.forward(params, x, TINY.n_heads)
    for j in range(TINY.context):
        changed = x.copy()
        changed[:, j] = (changed[:, j] + 1) % TINY.vocab_size
        other, _ = lm.forward(params, changed, TINY.n_heads)
        np.testing.assert_array_equal(other[:, :j], logits[:, :j])  # exactly: never seen
        assert np.all(np.abs(other[:, j] - logits[:, j]).max(axis=-1) > 1e-6)


def test_attention_is_causal_and_a_distribution():
    params = perturbed(TINY)
    x, _ = tokens(TINY, 2)
    _, cache = lm.forward(params, x, TINY.n_heads)
    for block in cache.blocks:
        probs = block.probs
        assert probs.shape == (2, TINY.n_heads, TINY.context, TINY.context)
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
        upper = np.triu(np.ones((TINY.context, TINY.context), bool), k=1)
        assert np.all(probs[..., upper] == 0) and np.all(probs[..., ~upper] > 0)


def test_layer_norm_and_gelu_against_their_definitions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 8)) * 3 + 1
    g, b = rng.normal(size=8), rng.normal(size=8)
    y, _ = lm.layer_norm(x, g, b)
    ref = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + lm.LN_EPS) * g + b
    np.testing.assert_allclose(y, ref, rtol=1e-12)
    z = np.linspace(-4, 4, 81)
    value, _ = lm.gelu(z)
    exact = 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))  # GELU, Hendrycks & Gimpel
    assert np.abs(value - exact).max() < 1e-3  # the tanh form approximates it closely


def test_initialisation_is_gpt2s_and_float32_stays_float32():
    cfg = lm.ModelConfig(vocab_size=65, context=64, d_model=64, n_heads=4, n_layers=2,
                         d_mlp=256)
    params = lm.init_params(cfg, 0)
    assert lm.num_params(params) == 112_000
    assert {a.dtype for layer in params for a in layer.values()} == {np.dtype(np.float32)}
    assert abs(params[1]["W_Q"].std() - 0.02) < 0.002
    assert abs(params[1]["W_O"].std() - 0.02 / 2) < 0.001  # 1/sqrt(2 L), L = 2
    assert np.all(params[1]["ln1_g"] == 1) and np.all(params[-1]["lnf_b"] == 0)
    x = np.random.default_rng(0).integers(0, 65, (2, 64))
    _, grads = lm.loss_and_grads(params, x, x, cfg.n_heads)
    assert {a.dtype for layer in grads for a in layer.values()} == {np.dtype(np.float32)}
    with pytest.raises(ValueError):
        lm.ModelConfig(vocab_size=5, d_model=10, n_heads=4)


# ---- the optimizers ----------------------------------------------------------------------------
def two_params() -> tuple[mlp.Params, mlp.Params, mlp.Params]:
    """A matrix (decayed) and a vector (never decayed), and two gradients."""
    params = [{"W": np.array([[1.0, -2.0], [0.5, 0.0]]), "b": np.array([0.3, -0.1])}]
    g1 = [{"W": np.array([[0.1, 0.2], [-0.3, 0.4]]), "b": np.array([1.0, -0.5])}]
    g2 = [{"W": np.array([[-0.2, 0.1], [0.3, 0.0]]), "b": np.array([0.5, 0.5])}]
    return params, g1, g2


def test_sgd_and_momentum_steps_by_hand():
    params, g1, g2 = two_params()
    new, _ = optimizers.SGD().step(params, g1, optimizers.SGD().init(params), 0.5)
    np.testing.assert_allclose(new[0]["W"], [[0.95, -2.1], [0.65, -0.2]])
    np.testing.assert_allclose(new[0]["b"], [-0.2, 0.15])
    heavy = optimizers.SGD(momentum=0.9)
    p1, state = heavy.step(params, g1, heavy.init(params), 0.5)
    p2, state = heavy.step(p1, g2, state, 0.25)
    # v1 = g1; v2 = 0.9 g1 + g2; p2 = p0 - 0.5 v1 - 0.25 v2
    w = params[0]["W"] - 0.5 * g1[0]["W"] - 0.25 * (0.9 * g1[0]["W"] + g2[0]["W"])
    np.testing.assert_allclose(p2[0]["W"], w)
    np.testing.assert_allclose(state.velocity[0]["b"], 0.9 * g1[0]["b"] + g2[0]["b"])
    # an L2 penalty adds l2 * theta to the gradient of the matrix only
    l2, _ = optimizers.SGD(l2=0.1).step(params, g1, optimizers.SGD().init(params), 0.5)
    np.testing.assert_allclose(l2[0]["W"], params[0]["W"] - 0.5 * (g1[0]["W"]
                                                                  + 0.1 * params[0]["W"]))
    np.testing.assert_allclose(l2[0]["b"], new[0]["b"])
    assert params[0]["W"][0, 0] == 1.0  # nothing changed in place


def adam_by_hand(p, grads, lr, b1=0.9, b2=0.95, eps=1e-8, wd=0.0):
    """Kingma & Ba's Algorithm 1 step by step, for a scalar, with a decoupled decay wd."""
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr[t - 1] * ((m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps) + wd * p)
    return p


def test_adam_adamw_and_adam_with_l2_by_hand():
    params, g1, g2 = two_params()
    lrs = (0.01, 0.02)
    for name, opt in (("adamw", optimizers.Adam(0.9, 0.95, weight_decay=0.1)),
                      ("adam_l2", optimizers.Adam(0.9, 0.95, l2=0.1)),
                      ("adam", optimizers.Adam(0.9, 0.95))):
        state = opt.init(params)
        p1, state = opt.step(params, g1, state, lrs[0])
        p2, state = opt.step(p1, g2, state, lrs[1])
        assert state.t == 2
        for key in ("W", "b"):
            for idx in np.ndindex(params[0][key].shape):
                p0 = params[0][key][idx]
                gs = [g1[0][key][idx], g2[0][key][idx]]
                decays = key == "W"
                if name == "adamw":
                    expected = adam_by_hand(p0, gs, lrs, wd=0.1 if decays else 0.0)
                elif name == "adam_l2" and decays:  # the penalty enters the moments
                    q1 = p0 - lrs[0] * (gs[0] + 0.1 * p0) / (abs(gs[0] + 0.1 * p0) + 1e-8)
                    m = 0.9 * 0.1 * (gs[0] + 0.1 * p0) + 0.1 * (gs[1] + 0.1 * q1)
                    v = 0.95 * 0.05 * (gs[0] + 0.1 * p0) ** 2 + 0.05 * (gs[1] + 0.1 * q1) ** 2
                    expected = q1 - lrs[1] * (m / (1 - 0.9**2)) / (
                        math.sqrt(v / (1 - 0.95**2)) + 1e-8)
                else:
                    expected = adam_by_hand(p0, gs, lrs)
                assert p2[0][key][idx] == pytest.approx(expected, rel=1e-12), (name, key, idx)
    # Adam's first step moves every parameter by about lr, whatever its gradient's size
    p1, _ = optimizers.Adam().step(params, g1, optimizers.Adam().init(params), 0.01)
    np.testing.assert_allclose(np.abs(mlp.flatten(p1) - mlp.flatten(params)), 0.01, rtol=1e-6)


def test_adamw_equals_the_projects_adam_on_matrices():
    """models.mlp.Adam decays every parameter (decoupled): on matrices alone the two agree."""
    rng = np.random.default_rng(0)
    params = [{"W": rng.normal(size=(3, 4))}, {"V": rng.normal(size=(4, 2))}]
    ours, theirs = optimizers.Adam(0.9, 0.98, weight_decay=0.3), mlp.Adam(
        lr=0.01, beta1=0.9, beta2=0.98, weight_decay=0.3)
    a, sa = params, ours.init(params)
    b, sb = params, theirs.init(params)
    for _ in range(5):
        grads = mlp.map_params(lambda p: rng.normal(size=p.shape), params)
        a, sa = ours.step(a, grads, sa, 0.01)
        b, sb = theirs.step(b, grads, sb)
    np.testing.assert_allclose(mlp.flatten(a), mlp.flatten(b), rtol=1e-12)


def test_only_matrices_are_decayed():
    params = lm.init_params(TINY, 0)
    decayed = {key for layer in params for key, a in layer.items()
               if optimizers.decayed(key, a)}
    assert decayed == {"W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "W_out", "W_U"}


def test_the_float32_state_stays_float32():
    params = lm.init_params(dataclasses.replace(TINY, dtype="float32"), 0)
    grads = mlp.map_params(np.ones_like, params)
    for opt in (optimizers.SGD(momentum=0.9, l2=0.1), optimizers.Adam(weight_decay=0.1),
                optimizers.Adam(l2=0.1)):
        new, state = opt.step(params, grads, opt.init(params), 1e-3)
        assert {a.dtype for layer in new for a in layer.values()} == {np.dtype(np.float32)}


# ---- the schedule ------------------------------------------------------------------------------
def test_warmup_then_cosine_to_a_tenth():
    peak, warmup, total = 3e-3, 60, 600
    lr = np.array([optimizers.warmup_cosine(s, peak, warmup, total) for s in range(1, total + 1)])
    np.testing.assert_allclose(lr[:warmup], peak * np.arange(1, warmup + 1) / warmup, rtol=1e-15)
    assert lr.max() == lr[warmup - 1] == peak
    assert np.all(np.diff(lr[:warmup]) > 0) and np.all(np.diff(lr[warmup - 1:]) < 0)
    assert lr[-1] == pytest.approx(0.1 * peak, rel=1e-12)
    # halfway through the decay the cosine is halfway between the peak and the floor
    assert optimizers.warmup_cosine(330, peak, warmup, total) == pytest.approx(0.55 * peak)
    # and symmetric about that point
    assert lr[warmup + 100 - 1] - 0.55 * peak == pytest.approx(0.55 * peak - lr[total - 100 - 1])
    for step in (0, total + 1):
        with pytest.raises(ValueError):
            optimizers.warmup_cosine(step, peak, warmup, total)


# ---- data and training -------------------------------------------------------------------------
def test_vocabulary_and_windows_of_the_shipped_corpus():
    source = lmexp.data()
    assert len(source.vocab) == 65 and source.vocab.chars[0] == "\n"
    assert source.vocab.decode(source.train[:14]) == "First Citizen:"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        source.vocab.encode("caf\u00e9".encode("ascii", "replace").decode() + "~")
    x, y = lmexp.windows(source.train, np.array([0, 100]), 8)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    assert source.vocab.decode(y[0]) == "irst Cit"
    starts = lmexp.evaluation_starts(len(source.held_out), 256, 64)
    assert starts[0] == 0 and starts[-1] == len(source.held_out) - 65
    assert np.all(np.diff(starts) > 64)  # the held-out windows do not overlap


def test_unigram_entropies():
    ids = np.array([0, 0, 1, 2])
    assert lmexp.unigram_entropy(ids, 4) == pytest.approx(-(0.5 * math.log(0.5)
                                                            + 2 * 0.25 * math.log(0.25)))
    assert lmexp.unigram_cross_entropy(ids, np.array([1, 0]), 4) == pytest.approx(
        -(math.log(0.25) + math.log(0.5)) / 2)


SHORT = lmexp.RunConfig(steps=12, warmup=3, batch_size=4, context=16, d_model=16, n_heads=2,
                        n_layers=1, d_mlp=32, eval_every=5, eval_windows=8)


def test_training_is_seeded_and_a_cut_run_is_its_prefix():
    full = lmexp.train(SHORT)
    again = lmexp.train(SHORT)
    cut = lmexp.train(SHORT, max_steps=6)
    assert list(full.metrics) == list(lmexp.COLUMNS)
    for name in lmexp.COLUMNS:
        np.testing.assert_array_equal(full.metrics[name], again.metrics[name])
        np.testing.assert_array_equal(cut.metrics[name], full.metrics[name][:7])
    m = full.metrics
    assert list(np.flatnonzero(~np.isnan(m["val_loss"]))) == [0, 5, 10, 12]
    np.testing.assert_array_equal(m["tokens"], np.arange(13) * 64)
    np.testing.assert_allclose(m["lr"][1:], [optimizers.warmup_cosine(s, SHORT.lr, 3, 12)
                                             for s in range(1, 13)])
    assert full.diverged_at is None and full.steps == 12
    other = lmexp.train(dataclasses.replace(SHORT, seed=1))
    assert not np.array_equal(other.metrics["train_loss"][1:], m["train_loss"][1:])


def test_a_diverging_run_stops():
    result = lmexp.train(dataclasses.replace(SHORT, optimizer="sgd", lr=1e4, weight_decay=0.0))
    assert result.diverged_at is not None and result.steps == result.diverged_at - 1
    assert len(result.metrics["step"]) == result.diverged_at + 1
