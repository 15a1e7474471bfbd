"""Tests for numerics.fine_tuning.experiments: EWC/Fisher building blocks, measured claims."""

import dataclasses

import numpy as np
import pytest

from models import mlp
from numerics.fine_tuning import experiments

# ----------------------------------------------------------------- building blocks


def _tiny_net(seed=0, sizes=(3, 4, 4, 3)):
    rng = np.random.default_rng(seed)
    params = mlp.init_params(list(sizes), rng, "xavier")
    for layer in params:
        layer["b"] = rng.normal(scale=0.5, size=layer["b"].shape)
    return params, rng


def test_ewc_penalty_value_by_hand():
    params = [{"W": np.array([[1.0, 2.0]]), "b": np.array([3.0])}]
    anchor = [{"W": np.array([[0.0, 2.5]]), "b": np.array([1.0])}]
    fisher = [{"W": np.array([[2.0, 4.0]]), "b": np.array([0.5])}]
    # (lam/2) * (2*1^2 + 4*0.5^2 + 0.5*2^2) = (3/2) * 5
    assert experiments.ewc_penalty(params, anchor, fisher, lam=3.0) == pytest.approx(7.5)
    assert experiments.ewc_penalty(anchor, anchor, fisher, lam=3.0) == 0.0


def test_ewc_penalty_grad_matches_finite_differences():
    params, rng = _tiny_net(1)
    anchor = mlp.map_params(lambda p: p + rng.normal(size=p.shape), params)
    fisher = mlp.map_params(lambda p: rng.uniform(0.0, 2.0, size=p.shape), params)
    lam, eps = 7.0, 1e-6
    grad = mlp.flatten(experiments.ewc_penalty_grad(params, anchor, fisher, lam))
    theta = mlp.flatten(params)
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = eps
        up = experiments.ewc_penalty(mlp.unflatten(theta + e, params), anchor, fisher, lam)
        down = experiments.ewc_penalty(mlp.unflatten(theta - e, params), anchor, fisher, lam)
        numeric[i] = (up - down) / (2 * eps)
    assert np.linalg.norm(grad - numeric) / np.linalg.norm(grad) < 1e-7


@pytest.mark.parametrize("activation,residual",
                         [("relu", False), ("tanh", True), ("sigmoid", False)])
def test_fisher_diagonal_matches_brute_force_loop(activation, residual):
    params, rng = _tiny_net(2)
    x = rng.normal(size=(7, 3))
    fisher = experiments.fisher_diagonal(params, x, activation, residual)
    # brute force: every sample, every class, one backward pass each
    brute = np.zeros(mlp.num_params(params))
    for i in range(x.shape[0]):
        logits, _ = mlp.forward(params, x[i : i + 1], activation, residual)
        probs = mlp.softmax(logits)[0]
        for c in range(probs.size):
            _, g = mlp.loss_and_grads(params, x[i : i + 1], np.array([c]), "xent", activation,
                                      residual)
            # (d log p(c|x) / d theta)^2 = (-d l / d theta)^2
            brute += probs[c] * mlp.flatten(g) ** 2
    brute /= x.shape[0]
    np.testing.assert_allclose(mlp.flatten(fisher), brute, rtol=1e-10, atol=1e-15)
    # and equal to the model-label second moment of the vectorised per-sample log-lik gradients
    total = np.zeros_like(brute)
    probs = mlp.softmax(mlp.forward(params, x, activation, residual)[0])
    for c in range(probs.shape[1]):
        g = mlp.per_sample_loglik_grads(params, x, np.full(x.shape[0], c), "xent", activation,
                                        residual)
        flat = np.concatenate([layer[k].reshape(x.shape[0], -1)
                               for layer in g for k in sorted(layer)], axis=1)
        total += (probs[:, c : c + 1] * flat**2).mean(axis=0)
    np.testing.assert_allclose(total, brute, rtol=1e-10, atol=1e-15)


def test_permuted_tasks_share_labels_rule():
    task_a, task_b, perm = experiments.make_permuted_tasks(seed=3)
    assert sorted(perm) == list(range(task_a.train.x.shape[1]))
    unpermuted = np.empty_like(task_b.train.x)
    unpermuted[:, perm] = task_b.train.x  # undo x -> x[:, perm]
    for c in range(10):
        mean_a = task_a.train.x[task_a.train.y == c].mean(axis=0)
        mean_b = unpermuted[task_b.train.y == c].mean(axis=0)
        mean_b_permuted = task_b.train.x[task_b.train.y == c].mean(axis=0)
        assert np.linalg.norm(mean_a - mean_b) < 0.3 * np.linalg.norm(mean_a - mean_b_permuted)


# -------------------------------------------------------------- the experiments


@pytest.fixture(scope="module")
def grad_flow():
    return experiments.gradient_flow()


@pytest.fixture(scope="module")
def forgetting_run():
    return experiments.forgetting(seed=0)


@pytest.fixture(scope="module")
def fisher_info(forgetting_run):
    return experiments.fisher_information(forgetting_run)


@pytest.fixture(scope="module")
def loss_curves():
    return experiments.loss_curve_runs(seed=0)


def test_gradient_flow_vanishes_only_in_the_sigmoid_net(grad_flow):
    flow = grad_flow
    n_layers = flow.config["depth"] + 1
    assert flow.norms.shape == (len(experiments.GRADIENT_FLOW_NETWORKS),
                                len(flow.config["seeds"]), n_layers)
    assert np.allclose(flow.ratio, flow.mean[:, 0] / flow.mean[:, -1])
    sigmoid, tanh, skips = range(3)
    assert flow.ratio[sigmoid] < 1e-10  # many orders of magnitude
    # every seed separately: the sigmoid norms shrink layer by layer towards the input
    assert np.all(np.diff(np.log(flow.norms[sigmoid]), axis=1) > 0)
    for network in (tanh, skips):  # within three orders of magnitude, every seed
        norms = flow.norms[network]
        assert np.all(norms.min(axis=1) > 1e-3 * norms.max(axis=1))


def test_gradient_flow_networks_share_weights_and_data():
    """One thing changed at a time: the same weights and batch give the same output-layer
    gradient to the sigmoid network with and without skip connections only when no skip acts,
    and the networks differ exactly in activation or skips."""
    names = [name for name, _, _ in experiments.GRADIENT_FLOW_NETWORKS]
    assert names[0] == "sigmoid" and len(set(names)) == len(names)
    base = experiments.GRADIENT_FLOW_NETWORKS[0]
    for _, activation, skips in experiments.GRADIENT_FLOW_NETWORKS[1:]:
        assert (activation != base[1]) + (skips != base[2]) == 1
    # with one hidden layer there is no equal-width layer to skip: the skip network is the
    # sigmoid network, on the same weights and data, to the last bit
    small = experiments.gradient_flow(depth=1, seeds=(0,))
    assert np.array_equal(small.norms[0], small.norms[2])
    assert not np.array_equal(small.norms[0], small.norms[1])


def test_forgetting_plain_forgets_and_ewc_retains(forgetting_run):
    run = forgetting_run
    acc_a_after_a = run.phase_a_acc_a[-1]
    assert acc_a_after_a > 0.95  # task A learned
    assert run.phase_a_acc_b[-1] < 0.3  # A's solution does not solve B (10 classes)
    assert run.steps_b[0] == run.steps_a[-1]
    assert run.plain_acc_a[0] == acc_a_after_a == run.ewc_acc_a[0]
    assert acc_a_after_a - run.plain_acc_a[-1] > 0.3  # plain SGD on B forgets A
    assert run.plain_acc_b[-1] > 0.95
    assert run.ewc_acc_a[-1] - run.plain_acc_a[-1] > 0.2  # EWC keeps much more of A ...
    assert run.ewc_acc_b[-1] > 0.9  # ... while still learning B
    assert 0 < run.lam < run.lam_max_stable and run.lam in run.sweep_lambdas
    mean_val = run.sweep_val_acc_a + run.sweep_val_acc_b
    best = np.argmax(np.where(run.sweep_lambdas > 0, mean_val, -np.inf))
    assert run.lam == run.sweep_lambdas[best]
    assert run.sweep_val_acc_a[-1] > run.sweep_val_acc_a[0]  # stronger anchoring retains more A
    np.testing.assert_array_equal(run.sweep_test_acc_a[run.sweep_lambdas == 0][0], run.plain_acc_a)


def test_fisher_information_summary(forgetting_run, fisher_info):
    info = fisher_info
    flat = mlp.flatten(forgetting_run.fisher)
    assert np.all(flat >= 0)
    assert info.n_params == flat.size == mlp.num_params(forgetting_run.params_a)
    assert info.first_layer_W.shape == forgetting_run.params_a[0]["W"].shape
    # recompute "top k carry half the mass" directly
    k = int(round(info.top_fraction_for_half_mass * flat.size))
    top = np.sort(flat)[::-1]
    assert top[:k].sum() >= 0.5 * flat.sum() > top[: k - 1].sum()
    assert info.top_fraction_for_half_mass < 0.25  # concentrated: far fewer than half of them
    assert np.all(np.diff(info.frac_mass) >= 0) and info.frac_mass[-1] == pytest.approx(1.0)
    assert info.layer_mass_share.sum() == pytest.approx(1.0)
    assert info.layer_param_share.sum() == pytest.approx(1.0)
    # recomputing from task A alone gives the same Fisher
    np.testing.assert_array_equal(mlp.flatten(experiments.fisher_information(seed=0).fisher), flat)


def test_loss_curve_converges(loss_curves):
    run = loss_curves.converges
    assert run.diverged_at is None and np.all(np.isfinite(run.train_loss))
    assert run.steps[-1] == run.hyperparams["steps"]
    assert run.train_loss[-1] < 0.2 * run.train_loss[0]
    assert run.val_loss[-1] < 0.2 * run.val_loss[0]
    assert run.val_loss[-1] < 1.1 * run.val_loss.min()  # no late rise of the validation loss
    assert run.val_loss[-1] < 1.5 * loss_curves.noise_floor  # close to the irreducible noise


def test_loss_curve_overfits(loss_curves):
    run = loss_curves.overfits
    i_min = int(np.argmin(run.val_loss))
    assert run.val_min_step == run.steps[i_min] and 0 < i_min < len(run.steps) - 1
    assert run.val_loss[-1] > 1.3 * run.val_loss[i_min]  # validation loss rises after its min ...
    assert run.train_loss[-1] < 0.01 * run.train_loss[i_min]  # ... while training loss falls on
    # like for like: only the number of training points differs from the converging run
    converging = loss_curves.converges.hyperparams
    assert {k for k in converging if converging[k] != run.hyperparams[k]} == {"n_train"}
    assert run.hyperparams["weight_decay"] == 0.0


def test_loss_curve_seeds_repeat_the_single_seed_runs():
    many = experiments.loss_curve_seeds(seeds=(0, 1))
    assert many.seeds.tolist() == [0, 1]
    one = experiments.loss_curve_runs(seed=1)
    np.testing.assert_array_equal(many.runs[1].overfits.val_loss, one.overfits.val_loss)
    assert not np.array_equal(many.runs[0].converges.val_loss, many.runs[1].converges.val_loss)


def test_fisher_seeds_keep_each_seeds_summary():
    many = experiments.fisher_information_seeds(seeds=(0, 1))
    one = experiments.fisher_information(seed=1)
    np.testing.assert_array_equal(many.first_layer_W[1], one.first_layer_W)
    np.testing.assert_array_equal(many.frac_mass[1], one.frac_mass)
    np.testing.assert_array_equal(many.frac_params, one.frac_params)
    assert many.top_fraction_for_half_mass[1] == one.top_fraction_for_half_mass
    assert many.n_params == one.n_params


def test_variance_shares_by_hand():
    # rows: inputs, columns: units; a pure column effect is explained wholly by the columns
    columns = np.array([[0.0, 2.0, 4.0]] * 3)
    assert experiments.variance_shares(columns) == pytest.approx((1.0, 0.0))
    assert experiments.variance_shares(columns.T) == pytest.approx((0.0, 1.0))
    mixed = np.array([[0.0, 1.0], [1.0, 0.0]])  # no row or column effect at all
    assert experiments.variance_shares(mixed) == pytest.approx((0.0, 0.0))


def test_loss_curves_are_logged_on_a_log_spaced_grid(loss_curves):
    steps = experiments.logged_steps(1000, 20)
    assert steps[0] == 0 and steps[-1] == 1000 and np.all(np.diff(steps) > 0)
    assert steps[:11].tolist() == list(range(11))  # every step while they are < 1 apart
    assert len(steps) == 51
    per_decade = [np.sum((steps >= 10**d) & (steps < 10 ** (d + 1))) for d in (1, 2)]
    assert per_decade == [20, 20]
    for run in (loss_curves.converges, loss_curves.overfits):
        np.testing.assert_array_equal(run.steps, steps)
    unstable = loss_curves.unstable.steps
    np.testing.assert_array_equal(unstable, steps[:len(unstable)])


def test_forgetting_over_seeds_repeats_the_single_seed_experiment():
    seeds = (0, 1)
    many = experiments.forgetting_seeds(seeds)
    assert many.seeds.tolist() == list(seeds)
    for i, seed in enumerate(seeds):
        one = experiments.forgetting(seed=seed)
        np.testing.assert_array_equal(many.test_acc_a[i], one.sweep_test_acc_a)
        np.testing.assert_array_equal(many.val_acc_b[i], one.sweep_val_acc_b)
        plain_a, plain_b = many.curves(0.0)
        np.testing.assert_array_equal(plain_a[i], np.concatenate([one.phase_a_acc_a,
                                                                  one.plain_acc_a[1:]]))
        np.testing.assert_array_equal(plain_b[i], np.concatenate([one.phase_a_acc_b,
                                                                  one.plain_acc_b[1:]]))
        assert many.lam_max_stable[i] == one.lam_max_stable > many.lambdas.max()
    assert len(many.steps) == plain_a.shape[1]
    score = ((many.val_acc_a + many.val_acc_b) / 2).mean(axis=0)
    assert many.lam == many.lambdas[1:][np.argmax(score[1:])]  # one lambda, on validation


def _without_lr(hyperparams: dict) -> dict:
    return {key: value for key, value in hyperparams.items() if key != "lr"}


def test_loss_curve_unstable(loss_curves):
    run, converging = loss_curves.unstable, loss_curves.converges
    assert run.hyperparams["lr"] > converging.hyperparams["lr"]
    assert _without_lr(run.hyperparams) == _without_lr(converging.hyperparams)
    assert np.any(np.diff(run.train_loss) > 0)  # not monotone
    assert run.diverged_at is not None and run.diverged_at >= run.steps[-1]
    assert np.all(np.isfinite(run.train_loss))
    assert run.train_loss.max() > 1e6 * run.train_loss[0]


# ------------------------------------------------------------------- determinism


def _assert_identical(a, b, path="result"):
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _assert_identical(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_identical(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_identical(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), path
    else:
        assert a == b, path


def test_experiments_are_deterministic(grad_flow, forgetting_run, loss_curves):
    _assert_identical(grad_flow, experiments.gradient_flow())
    _assert_identical(forgetting_run, experiments.forgetting(seed=0))
    _assert_identical(loss_curves, experiments.loss_curve_runs(seed=0))


def test_different_seed_changes_the_data(forgetting_run):
    other = experiments.forgetting(seed=1)
    assert not np.array_equal(mlp.flatten(other.params_a), mlp.flatten(forgetting_run.params_a))
