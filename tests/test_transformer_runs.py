"""The one-layer transformer (models.transformer) and its grokking run in
data/grokking_transformer."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import records
from conftest import central_differences, relative_errors
from models import mlp, modular, transformer
from numerics.grokking import analysis
from recorders import grokking_transformer as gt

TINY = transformer.TransformerConfig(p=7, d=8, n_heads=2, d_mlp=12, train_fraction=0.5, seed=3,
                                     max_steps=30, dtype="float64")


def _fd_errors(cfg: transformer.TransformerConfig,
               eps: float = 1e-6) -> dict[tuple[int, str], float]:
    params = transformer.init_params(cfg)
    data = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    tok = transformer.tokens(cfg.p, data.a_train, data.b_train)
    _, grads = transformer.loss_and_grads(params, tok, data.y_train, cfg.n_heads)
    fd = central_differences(
        lambda shifted: transformer.loss_and_grads(shifted, tok, data.y_train, cfg.n_heads)[0],
        params, eps)
    return relative_errors(fd, grads)


@pytest.mark.parametrize("n_heads,init_scale", [(2, 1.0), (4, 2.0)])
def test_gradients_match_central_finite_differences(n_heads, init_scale):
    cfg = dataclasses.replace(TINY, n_heads=n_heads, init_scale=init_scale, train_fraction=0.6,
                              seed=1)
    errors = _fd_errors(cfg)
    assert len(errors) == 11  # W_E W_pos | W_Q W_K W_V W_O | W_in b_in W_out b_out | W_U
    assert max(errors.values()) < 1e-5, errors


def test_biases_get_gradients_too():
    """The zero-initialised MLP biases are exercised by the FD test only after a step."""
    cfg = TINY
    params = transformer.init_params(cfg)
    params[2]["b_in"] += 0.1
    params[2]["b_out"] -= 0.05
    data = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    tok = transformer.tokens(cfg.p, data.a_train, data.b_train)
    _, grads = transformer.loss_and_grads(params, tok, data.y_train, cfg.n_heads)
    eps = 1e-6
    for key in ("b_in", "b_out"):
        idx = (0,)
        up, down = mlp.map_params(np.copy, params), mlp.map_params(np.copy, params)
        up[2][key][idx] += eps
        down[2][key][idx] -= eps
        fd = (transformer.loss_and_grads(up, tok, data.y_train, cfg.n_heads)[0]
              - transformer.loss_and_grads(down, tok, data.y_train, cfg.n_heads)[0]) / (2 * eps)
        assert abs(fd - grads[2][key][idx]) <= 1e-6 * max(1e-3, abs(fd))


def test_attention_probabilities_are_a_distribution():
    params = transformer.init_params(dataclasses.replace(TINY, init_scale=3.0))
    a, b = np.divmod(np.arange(TINY.p**2), TINY.p)
    logits, cache = transformer.forward(params, transformer.tokens(TINY.p, a, b), TINY.n_heads)
    assert logits.shape == (TINY.p**2, TINY.p)
    assert cache.attn.shape == (TINY.p**2, TINY.n_heads, 3)
    assert np.all(cache.attn >= 0)
    np.testing.assert_allclose(cache.attn.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    ck = transformer.checkpoint(params, TINY)
    np.testing.assert_allclose(ck["attention"].sum(axis=1), 1.0, atol=1e-12)
    assert 0 <= ck["head_fourier_share"].min() and ck["head_fourier_share"].max() <= 1 + 1e-12


def test_final_position_output_equals_a_dense_causal_reference():
    """The model only builds the query of '='; a dense causal implementation over all 3
    positions (masked softmax) gives the same logits at the final position."""
    params = transformer.init_params(TINY)
    a, b = np.divmod(np.arange(TINY.p**2), TINY.p)
    tok = transformer.tokens(TINY.p, a, b)
    logits, _ = transformer.forward(params, tok, TINY.n_heads)
    emb, att, ml, un = params
    H, d = TINY.n_heads, TINY.d
    dh = d // H
    x = emb["W_E"][tok] + emb["W_pos"]
    split = lambda t: t.reshape(len(tok), 3, H, dh)  # noqa: E731
    q, k, v = split(x @ att["W_Q"]), split(x @ att["W_K"]), split(x @ att["W_V"])
    s = np.einsum("nihe,njhe->nhij", q, k) / np.sqrt(dh)
    s = np.where(np.tril(np.ones((3, 3), bool)), s, -np.inf)
    A = np.exp(s - s.max(axis=3, keepdims=True))
    A /= A.sum(axis=3, keepdims=True)
    r = x + np.einsum("nhij,njhe->nihe", A, v).reshape(len(tok), 3, d) @ att["W_O"]
    r = r + np.maximum(r @ ml["W_in"] + ml["b_in"], 0) @ ml["W_out"] + ml["b_out"]
    np.testing.assert_allclose(logits, r[:, 2] @ un["W_U"], rtol=1e-12, atol=1e-12)


def test_fourier_share_of_a_pure_frequency_is_one():
    p, H, d = 11, 2, 3
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    w = 2 * np.pi * 3 / p
    contrib = np.zeros((H, p, p, d))
    contrib[0, ..., 0] = np.cos(w * (a + b))
    contrib[0, ..., 1] = np.sin(w * a) + 5.0
    contrib[1] = np.random.default_rng(0).normal(size=(p, p, d))
    share = transformer.head_fourier_share(contrib, top_k=1)
    power = transformer.frequency_power(contrib)
    assert power.shape == (H, (p - 1) // 2) and np.argmax(power[0]) == 2
    np.testing.assert_allclose(share[0], 1.0, rtol=1e-12)
    assert share[1] < 0.5


def test_tiny_training_run_is_deterministic():
    steps = modular.log_spaced_checkpoints(TINY.max_steps, 4)
    first, second = transformer.train(TINY, steps), transformer.train(TINY, steps)
    assert list(first.metrics) == ["step", "train_loss", "train_acc", "val_loss", "val_acc",
                                   "weight_norm", "embedding_norm"]
    for name in first.metrics:
        assert np.array_equal(first.metrics[name], second.metrics[name]), name
    assert sorted(first.checkpoints) == sorted(second.checkpoints) == list(steps)
    for step in steps:
        for key, value in first.checkpoints[step].items():
            assert np.array_equal(value, second.checkpoints[step][key]), (step, key)
    assert np.array_equal(mlp.flatten(first.params), mlp.flatten(second.params))
    other = transformer.train(dataclasses.replace(TINY, seed=4))
    assert not np.array_equal(other.metrics["train_loss"], first.metrics["train_loss"])


def test_record_writes_the_run_format(tmp_path):
    spec = {**gt.MAIN, "p": 7, "d": 8, "n_heads": 2, "d_mlp": 12, "max_steps": 120,
            "n_checkpoints": 4}
    config = gt.record("tiny", spec, tmp_path)
    run = records.load_run(tmp_path / "tiny")
    assert run.columns[:6] == ["step", "train_loss", "train_acc", "val_loss", "val_acc",
                               "weight_norm"]
    assert list(run.column("step")) == [s for s in range(121) if modular.is_logged(s)]
    assert run.config == config and config["code_hash"] == gt.current_hash(spec)
    assert sorted(run.checkpoints) == config["checkpoint_steps"]
    assert run.checkpoints.keys() >= {0, 120}
    ck = run.load_checkpoint(120)
    assert set(ck) == set(gt.CHECKPOINT_KEYS)
    assert ck["W_E"].shape == (7, 8) and ck["attention"].shape == (2, 3)
    assert ck["head_fourier_share"].shape == (2,) and ck["head_freq_power"].shape == (2, 3)
    assert gt.main(["--check", "--data", str(tmp_path)]) == 1  # `main` is missing there


# ---- the recorded run -------------------------------------------------------------------------
def _load(name: str = "main") -> records.Run:
    return records.load_run(gt.DATA / name)


@pytest.mark.parametrize("name", list(gt.RUNS))
def test_recorded_run_matches_the_current_code_and_its_spec(name):
    run = _load(name)
    assert run.config["code_hash"] == gt.current_hash(gt.RUNS[name]), \
        f"{name} is stale: run `python scripts/recorders/grokking_transformer.py`"
    for key, value in gt.RUNS[name].items():
        assert run.config[key] == value, key
    assert list(run.column("step")) == [s for s in range(run.config["steps"] + 1)
                                        if modular.is_logged(s)]


def test_cli_check_passes_on_the_recorded_runs(capsys):
    assert gt.main(["--check"]) == 0, capsys.readouterr().out


def test_recorded_main_run_groks():
    """Memorise first (train_acc >= 99 % at S1), generalise much later (val_acc >= 95 % only
    from S2 >= 5 S1), read from the recorded metrics.csv."""
    run = _load()
    steps, train_acc = run.series("train_acc")
    _, val_acc = run.series("val_acc")
    s1 = modular.first_step(steps, train_acc, 0.99)
    s2 = modular.first_step(steps, val_acc, 0.95)
    assert s1 is not None and s2 is not None, (s1, s2)
    assert s2 >= 5 * s1, (s1, s2)
    assert np.all(val_acc[steps < s2] < 0.95)
    assert val_acc[-1] >= 0.95 and train_acc[-1] >= 0.99
    assert run.config["train_acc_0.99_step"] == s1 and run.config["val_acc_0.95_step"] == s2


def test_recorded_checkpoints():
    run = _load()
    last = run.config["steps"]
    cfg = gt.transformer_config(gt.RUNS["main"])
    assert len(run.checkpoints) >= 10 and {0, last} <= run.checkpoints.keys()
    assert set(run.checkpoints) <= set(run.column("step").astype(int))
    # the log-spaced ones and a grid every `checkpoint_every` steps, several between S1 and S2
    every = run.config["checkpoint_every"]
    assert set(range(0, last + 1, every)) <= run.checkpoints.keys()
    assert set(modular.log_spaced_checkpoints(last, run.config["n_checkpoints"])) <= (
        run.checkpoints.keys())
    assert sorted(run.checkpoints) == list(gt.checkpoint_steps(gt.RUNS["main"]))
    s1, s2 = run.config["train_acc_0.99_step"], run.config["val_acc_0.95_step"]
    assert sum(s1 < step < s2 for step in run.checkpoints) >= 10
    first, final = run.load_checkpoint(0), run.load_checkpoint(last)
    assert set(first) == set(final) == set(gt.CHECKPOINT_KEYS)
    np.testing.assert_array_equal(first["W_E"], transformer.init_params(cfg)[0]["W_E"][: cfg.p])
    assert final["W_E"].shape == (cfg.p, cfg.d)
    assert final["attention"].shape == (cfg.n_heads, 3)
    np.testing.assert_allclose(final["attention"].sum(axis=1), 1.0, atol=1e-6)
    assert final["head_fourier_share"].shape == (cfg.n_heads,)


def test_main_run_log_reproduces():
    """The first logged rows of the record are what the code computes now (float32: loose)."""
    run = _load()
    cfg = gt.transformer_config({**gt.RUNS["main"], "max_steps": 5})
    fresh = transformer.train(cfg).metrics
    for name, values in fresh.items():
        np.testing.assert_allclose(run.column(name)[:6], values, rtol=1e-5, err_msg=name)


def test_checkpoints_change_nothing_in_the_training():
    """The same run with and without checkpoints logs the same metrics (the recording with
    the checkpoint grid could replace the one without it)."""
    cfg = dataclasses.replace(TINY, max_steps=40)
    plain = transformer.train(cfg)
    checked = transformer.train(cfg, (0, 10, 25, 40))
    for name in plain.metrics:
        assert np.array_equal(plain.metrics[name], checked.metrics[name]), name


def test_the_loss_floor_before_the_first_spike_is_float32_rounding():
    """transformer_grokking_curves' caption: the training loss jumps from about 2e-7, where
    float32 rounds the right answer's probability to exactly 1 for some training pairs.
    Replays the recorded run (float32, as recorded) to the logged step before its first spike
    (about 20 s on a free core) and checks it there: the loss is at its floor, part of the
    training pairs have a float32 log-probability of exactly 0 for the right answer (so the
    gradient on that logit is exactly 0), and Adam's normaliser sqrt(v) has fallen below its
    epsilon for most parameters (the regime of the slingshot, Thilak et al. 2022)."""
    run = _load()
    steps, loss = run.column("step"), run.column("train_loss")
    spike = analysis.loss_spikes(steps, loss, below=1e-6)[0]
    before = int(steps[steps < spike.step][-1])
    cfg = gt.transformer_config({**gt.RUNS["main"], "max_steps": before})
    data = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    tok = transformer.tokens(cfg.p, data.a_train, data.b_train)
    params = transformer.init_params(cfg)
    opt = mlp.Adam(lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, weight_decay=cfg.weight_decay)
    state = opt.init(params)
    for _ in range(before):  # the loop of models.transformer.train, without its logging
        logits, cache = transformer.forward(params, tok, cfg.n_heads)
        _, dlogits = mlp.softmax_cross_entropy(logits, data.y_train)
        grads = transformer.backward(params, cache, dlogits.astype(logits.dtype))
        params, state = opt.step(params, grads, state)
    logits, _ = transformer.forward(params, tok, cfg.n_heads)
    assert logits.dtype == np.float32
    replayed, _ = mlp.softmax_cross_entropy(logits.astype(np.float64), data.y_train)
    assert replayed < 1e-6 and replayed == pytest.approx(spike.floor, rel=0.5)
    right = mlp.log_softmax(logits)[np.arange(len(data.y_train)), data.y_train]
    rounded = np.mean(right == 0)  # float32: probability exactly 1
    assert 0.02 < rounded < 1
    assert np.all(mlp.log_softmax(logits.astype(np.float64))[
        np.arange(len(data.y_train)), data.y_train] < 0)  # in float64 it is not
    v_hat = mlp.flatten(state.v).astype(np.float64) / (1 - cfg.beta2 ** state.t)
    assert np.mean(np.sqrt(v_hat) < opt.eps) > 0.5
