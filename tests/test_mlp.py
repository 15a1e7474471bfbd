"""Tests for models.mlp: backprop vs finite differences, per-sample grads, optimizers, init."""

import numpy as np
import pytest

from models import mlp

SIZES = [4, 5, 5, 5, 3]  # layers 1 and 2 are 5->5, so residual connections are exercised


def _problem(loss: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, SIZES[0]))
    y = rng.integers(0, SIZES[-1], 6) if loss == "xent" else rng.normal(size=(6, SIZES[-1]))
    params = mlp.init_params(SIZES, seed + 1, "xavier")
    for layer in params:  # non-zero biases so their gradients are tested too
        layer["b"] = rng.normal(scale=0.3, size=layer["b"].shape)
    return params, x, y


def _numeric_grads(params, x, y, loss, activation, residual, eps=1e-6):
    def f(p):
        out, _ = mlp.forward(p, x, activation, residual)
        return mlp.loss_fn(loss)(out, y)[0]

    grads = mlp.map_params(np.zeros_like, params)
    for layer, g in zip(params, grads, strict=True):
        for k in layer:
            for idx in np.ndindex(layer[k].shape):
                old = layer[k][idx]
                layer[k][idx] = old + eps
                up = f(params)
                layer[k][idx] = old - eps
                down = f(params)
                layer[k][idx] = old
                g[k][idx] = (up - down) / (2 * eps)
    return grads


@pytest.mark.parametrize("loss", mlp.LOSSES)
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("activation", mlp.ACTIVATIONS)
def test_backprop_matches_finite_differences(activation, residual, loss):
    params, x, y = _problem(loss)
    _, grads = mlp.loss_and_grads(params, x, y, loss, activation, residual)
    numeric = _numeric_grads(params, x, y, loss, activation, residual)
    for i, (g, n) in enumerate(zip(grads, numeric, strict=True)):
        for k in ("W", "b"):
            rel = np.linalg.norm(g[k] - n[k]) / max(
                np.linalg.norm(g[k]), np.linalg.norm(n[k]), 1e-300
            )
            assert rel < 1e-6, (i, k, rel)


def test_residual_only_on_square_hidden_layers():
    params, x, _ = _problem("xent")
    out_plain, cache_plain = mlp.forward(params, x, "tanh", residual=False)
    out_res, cache_res = mlp.forward(params, x, "tanh", residual=True)
    assert cache_plain.residual == [False] * 4
    assert cache_res.residual == [False, True, True, False]
    h2 = cache_res.inputs[2]
    assert np.allclose(
        h2, cache_res.inputs[1] + np.tanh(cache_res.inputs[1] @ params[1]["W"] + params[1]["b"])
    )
    assert not np.allclose(out_plain, out_res)


@pytest.mark.parametrize("loss", mlp.LOSSES)
@pytest.mark.parametrize("residual", [False, True])
def test_per_sample_grads_average_to_batch_grad(loss, residual):
    params, x, y = _problem(loss, seed=3)
    _, batch = mlp.loss_and_grads(params, x, y, loss, "relu", residual)
    per = mlp.per_sample_grads(params, x, y, loss, "relu", residual)
    for b, p in zip(batch, per, strict=True):
        for k in ("W", "b"):
            assert p[k].shape == (x.shape[0],) + b[k].shape
            np.testing.assert_allclose(p[k].mean(axis=0), b[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", mlp.LOSSES)
def test_per_sample_grads_match_single_sample_backprop(loss):
    params, x, y = _problem(loss, seed=4)
    per = mlp.per_sample_grads(params, x, y, loss, "sigmoid", True)
    for i in range(x.shape[0]):
        _, single = mlp.loss_and_grads(params, x[i : i + 1], y[i : i + 1], loss, "sigmoid", True)
        for s, p in zip(single, per, strict=True):
            for k in ("W", "b"):
                np.testing.assert_allclose(p[k][i], s[k], rtol=1e-12, atol=1e-14)


def test_per_sample_loglik_grads():
    # categorical: log p(y|x) = -l_i, so the gradients are the negated per-sample loss gradients
    params, x, y = _problem("xent", seed=5)
    loglik = mlp.per_sample_loglik_grads(params, x, y, "xent", "tanh")
    per = mlp.per_sample_grads(params, x, y, "xent", "tanh")
    for a, b in zip(loglik, per, strict=True):
        for k in ("W", "b"):
            np.testing.assert_allclose(a[k], -b[k], rtol=1e-12, atol=1e-14)
    # unit-variance Gaussian: log p = -||y - f||^2 / 2, while l_i = mean_j (f_ij - y_ij)^2
    params, x, y = _problem("mse", seed=5)
    loglik = mlp.per_sample_loglik_grads(params, x, y, "mse", "tanh")
    per = mlp.per_sample_grads(params, x, y, "mse", "tanh")
    d_out = SIZES[-1]
    for a, b in zip(loglik, per, strict=True):
        for k in ("W", "b"):
            np.testing.assert_allclose(a[k], -(d_out / 2) * b[k], rtol=1e-12, atol=1e-14)


def test_losses_values_and_stability():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    labels = np.array([0, 2])
    loss, d = mlp.softmax_cross_entropy(logits, labels)
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    np.testing.assert_allclose(loss, (0.0 + np.log(3.0)) / 2, rtol=1e-12)
    np.testing.assert_allclose(d[1], np.array([1 / 3, 1 / 3, -2 / 3]) / 2, rtol=1e-12)
    np.testing.assert_allclose(mlp.softmax(logits).sum(axis=1), 1.0)
    loss, d = mlp.mse(np.array([[1.0, 2.0]]), np.array([[0.0, 4.0]]))
    assert loss == pytest.approx(2.5)
    np.testing.assert_allclose(d, [[1.0, -2.0]])
    assert mlp.accuracy(np.array([[0.1, 0.9], [2.0, 1.0]]), np.array([1, 1])) == 0.5


def test_sigmoid_is_overflow_free():
    z = np.array([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(mlp.activate(z, "sigmoid"), [0.0, 0.5, 1.0])


def _single_layer(W, b):
    return [{"W": np.array(W, dtype=float), "b": np.array(b, dtype=float)}]


def test_sgd_momentum_hand_computed():
    params = _single_layer([[1.0, 2.0]], [0.5])
    g1 = _single_layer([[0.1, -0.2]], [1.0])
    g2 = _single_layer([[0.3, 0.0]], [-1.0])
    opt = mlp.SGD(lr=0.1, momentum=0.9)
    state = opt.init(params)
    p1, state = opt.step(params, g1, state)
    # v1 = g1 ; p1 = p0 - 0.1 * g1
    np.testing.assert_allclose(p1[0]["W"], [[0.99, 2.02]])
    np.testing.assert_allclose(p1[0]["b"], [0.4])
    p2, state = opt.step(p1, g2, state)
    # v2 = 0.9 * g1 + g2 = [[0.39, -0.18]], [-0.1] ; p2 = p1 - 0.1 * v2
    np.testing.assert_allclose(state.velocity[0]["W"], [[0.39, -0.18]])
    np.testing.assert_allclose(p2[0]["W"], [[0.951, 2.038]])
    np.testing.assert_allclose(p2[0]["b"], [0.41])
    assert params[0]["W"][0, 0] == 1.0  # inputs are not modified
    plain, _ = mlp.SGD(lr=0.5).step(params, g1, mlp.SGD(lr=0.5).init(params))
    np.testing.assert_allclose(plain[0]["W"], [[0.95, 2.1]])


def test_adam_and_adamw_hand_computed():
    params = _single_layer([[1.0, -1.0]], [0.0])
    g1 = _single_layer([[0.5, -2.0]], [0.0])
    g2 = _single_layer([[-0.5, 1.0]], [3.0])
    opt = mlp.Adam(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    state = opt.init(params)
    p1, state = opt.step(params, g1, state)
    # step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps)
    np.testing.assert_allclose(
        p1[0]["W"], [[1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -1.0 + 0.1 * 2.0 / (2.0 + 1e-8)]], rtol=1e-15
    )
    np.testing.assert_allclose(p1[0]["b"], [0.0])
    p2, state = opt.step(p1, g2, state)
    # step 2, first weight: m = 0.9*0.05 + 0.1*(-0.5) = -0.005;
    #                       v = 0.999*0.00025 + 0.001*0.25 = 0.00049975
    m_hat, v_hat = -0.005 / (1 - 0.81), 0.00049975 / (1 - 0.999**2)
    expected = p1[0]["W"][0, 0] - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(p2[0]["W"][0, 0], expected, rtol=1e-13)
    assert state.t == 2
    # AdamW: decoupled decay lr * wd * theta on top of the Adam step
    adamw = mlp.Adam(lr=0.1, weight_decay=0.01)
    pw, _ = adamw.step(params, g1, adamw.init(params))
    np.testing.assert_allclose(pw[0]["W"], p1[0]["W"] - 0.1 * 0.01 * params[0]["W"], rtol=1e-15)


@pytest.mark.parametrize(
    "scheme,activation,expected_var",
    [
        ("xavier", "tanh", 2.0 / (400 + 300)),
        ("he", "relu", 2.0 / 400),
        ("auto", "relu", 2.0 / 400),
        ("auto", "sigmoid", 2.0 / (400 + 300)),
    ],
)
def test_init_scale_and_determinism(scheme, activation, expected_var):
    params = mlp.init_params([400, 300, 10], seed=7, scheme=scheme, activation=activation)
    assert params[0]["W"].shape == (400, 300) and params[1]["W"].shape == (300, 10)
    assert np.var(params[0]["W"]) == pytest.approx(expected_var, rel=0.02)
    assert np.var(params[1]["W"]) == pytest.approx(
        2.0 / 310, rel=0.1
    )  # linear output layer: Xavier
    assert all(np.all(layer["b"] == 0) for layer in params)
    again = mlp.init_params([400, 300, 10], seed=7, scheme=scheme, activation=activation)
    assert all(np.array_equal(a["W"], b["W"]) for a, b in zip(params, again, strict=True))


def test_flatten_roundtrip_and_map():
    params, _, _ = _problem("xent")
    vec = mlp.flatten(params)
    assert (
        vec.size
        == mlp.num_params(params)
        == sum(a * b + b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
    )
    back = mlp.unflatten(vec, params)
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(params, back, strict=True) for k in a)
    doubled = mlp.map_params(lambda p: 2 * p, params)
    np.testing.assert_array_equal(mlp.flatten(doubled), 2 * vec)
    with pytest.raises(ValueError):
        mlp.unflatten(vec[:-1], params)
