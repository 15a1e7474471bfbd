"""Seeded numpy experiments behind the fine-tuning figures (no drawing here).

1. :func:`gradient_flow`      -- per-layer gradient norms, deep sigmoid MLP vs residual ReLU MLP.
2. :func:`forgetting`         -- catastrophic forgetting on permuted tasks, plain SGD vs EWC.
3. :func:`fisher_information` -- how the task-A Fisher diagonal is distributed over parameters.
4. :func:`loss_curve_runs`    -- train/validation loss curves: converging, overfitting, diverging.

Every function is deterministic given its ``seed`` (all randomness goes through
``np.random.default_rng``) and returns a frozen dataclass of plain numpy arrays and numbers.
The networks are the project's numpy MLP (:mod:`models.mlp`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models import mlp
from models.mlp import Params

# =============================================================== 1. gradient flow

#: Hidden layers of both networks of :func:`gradient_flow` (the caption names it).
GRADIENT_FLOW_DEPTH = 20


@dataclass(frozen=True)
class GradientFlowResult:
    """Frobenius norms ``||dL/dW_l||`` at initialisation, layer 1 = input layer, last = output
    layer."""

    layer: np.ndarray  # (n_layers,) layer numbers 1..depth+1
    sigmoid_norms: np.ndarray  # (n_seeds, n_layers) plain sigmoid MLP, Xavier init
    residual_norms: np.ndarray  # (n_seeds, n_layers) residual ReLU MLP, He init (branches scaled)
    sigmoid_mean: np.ndarray  # (n_layers,) geometric mean over seeds
    residual_mean: np.ndarray  # (n_layers,) geometric mean over seeds
    sigmoid_ratio: float  # sigmoid_mean[0] / sigmoid_mean[-1]
    residual_ratio: float  # residual_mean[0] / residual_mean[-1]
    sigmoid_init_loss: np.ndarray  # (n_seeds,) cross-entropy at init
    residual_init_loss: np.ndarray  # (n_seeds,)
    config: dict = field(default_factory=dict)


def _weight_grad_norms(params: Params, x: np.ndarray, y: np.ndarray, activation: str,
                       residual: bool) -> tuple[float, np.ndarray]:
    loss, grads = mlp.loss_and_grads(params, x, y, "xent", activation, residual)
    return loss, np.array([np.linalg.norm(g["W"]) for g in grads])


def gradient_flow(
    depth: int = GRADIENT_FLOW_DEPTH,
    width: int = 64,
    d_in: int = 32,
    n_classes: int = 10,
    batch: int = 256,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    branch_scale: float | None = None,
) -> GradientFlowResult:
    """Measure per-layer gradient norms by backprop at initialisation.

    Both networks have ``depth`` hidden layers of ``width`` units and a linear output
    layer, and see the same batch per seed: ``x ~ N(0, I)``, labels ``argmax(x @ T)`` for
    a random linear teacher ``T``, softmax cross-entropy.

    * sigmoid: plain MLP, Xavier/Glorot init.
    * residual ReLU: ``h <- h + relu(h W + b)`` on every width->width layer, He init with the
      residual-branch weights multiplied by ``branch_scale`` (default ``1/sqrt(#blocks)``,
      the GPT-2 residual scaling; ``1.0`` gives plain He and exploding activations).

    Norms are averaged over seeds geometrically (they span orders of magnitude).
    """
    sizes = [d_in] + [width] * depth + [n_classes]
    n_blocks = depth - 1 if d_in != width else depth
    scale = 1.0 / np.sqrt(n_blocks) if branch_scale is None else branch_scale
    sigmoid_norms, residual_norms, sigmoid_loss, residual_loss = [], [], [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(batch, d_in))
        y = np.argmax(x @ rng.normal(size=(d_in, n_classes)), axis=1)

        sigmoid_net = mlp.init_params(sizes, rng, "xavier")
        loss, norms = _weight_grad_norms(sigmoid_net, x, y, "sigmoid", residual=False)
        sigmoid_loss.append(loss)
        sigmoid_norms.append(norms)

        residual_net = mlp.init_params(sizes, rng, "auto", "relu")
        for layer in residual_net[:-1]:
            if layer["W"].shape[0] == layer["W"].shape[1]:
                layer["W"] *= scale
        loss, norms = _weight_grad_norms(residual_net, x, y, "relu", residual=True)
        residual_loss.append(loss)
        residual_norms.append(norms)

    sigmoid_norms_arr, residual_norms_arr = np.array(sigmoid_norms), np.array(residual_norms)
    sigmoid_mean = np.exp(np.log(sigmoid_norms_arr).mean(axis=0))
    residual_mean = np.exp(np.log(residual_norms_arr).mean(axis=0))
    return GradientFlowResult(
        layer=np.arange(1, depth + 2),
        sigmoid_norms=sigmoid_norms_arr,
        residual_norms=residual_norms_arr,
        sigmoid_mean=sigmoid_mean,
        residual_mean=residual_mean,
        sigmoid_ratio=float(sigmoid_mean[0] / sigmoid_mean[-1]),
        residual_ratio=float(residual_mean[0] / residual_mean[-1]),
        sigmoid_init_loss=np.array(sigmoid_loss),
        residual_init_loss=np.array(residual_loss),
        config=dict(depth=depth, width=width, d_in=d_in, n_classes=n_classes, batch=batch,
                    seeds=tuple(seeds), sigmoid_init="xavier",
                    residual_init="he hidden, xavier output",
                    residual_branch_scale=float(scale)),
    )


# ============================================================ 2. forgetting / EWC


def fisher_diagonal(params: Params, x: np.ndarray, activation: str = "relu",
                    residual: bool = False) -> Params:
    """Diagonal of the *expected* Fisher of a softmax classifier, averaged over inputs ``x``.

    ``F = (1/n) sum_i sum_c p(c|x_i) (d/dtheta log p(c|x_i))^2`` -- labels are drawn from the
    model's own predictive distribution and the expectation over classes is done exactly
    (no sampling, no empirical labels).  Vectorised: for weights,
    ``(g_ic)_W = outer(h_i, delta_ic)``, so ``F_W = (1/n) sum_i h_i^2 (sum_c p_ic delta_ic^2)``.
    """
    logits, cache = mlp.forward(params, x, activation, residual)
    probs = mlp.softmax(logits)
    n, n_classes = probs.shape
    weighted_sq = [np.zeros_like(z) for z in cache.preacts]  # sum_c p_ic * delta_ic^2, per layer
    for c in range(n_classes):
        dloglik = -probs.copy()
        dloglik[:, c] += 1.0  # d log p(c|x) / d logits
        for layer, delta in enumerate(mlp.layer_deltas(params, cache, dloglik)):
            weighted_sq[layer] += probs[:, c : c + 1] * delta * delta
    return [{"W": (h * h).T @ s / n, "b": s.sum(axis=0) / n}
            for h, s in zip(cache.inputs, weighted_sq, strict=True)]


def ewc_penalty(params: Params, anchor: Params, fisher: Params, lam: float) -> float:
    """EWC penalty ``(lam/2) * sum_i F_i (theta_i - theta*_i)^2`` (Kirkpatrick et al. 2017)."""
    diff, f = mlp.flatten(params) - mlp.flatten(anchor), mlp.flatten(fisher)
    return float(0.5 * lam * np.sum(f * diff * diff))


def ewc_penalty_grad(params: Params, anchor: Params, fisher: Params, lam: float) -> Params:
    """Gradient of :func:`ewc_penalty`: ``lam * F * (theta - theta*)``."""
    return mlp.map_params(lambda p, a, f: lam * f * (p - a), params, anchor, fisher)


@dataclass(frozen=True)
class Split:
    """Inputs and integer labels of one data split."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Task:
    """Train / validation / test splits of one classification task."""

    train: Split
    val: Split
    test: Split


def make_permuted_tasks(
    seed: int, d_in: int = 50, n_classes: int = 10, noise: float = 1.25, n_train: int = 2000,
    n_eval: int = 500,
) -> tuple[Task, Task, np.ndarray]:
    """Two tasks in the spirit of permuted MNIST.

    Each class ``c`` has a random template ``mu_c ~ N(0, I_d)`` (a synthetic "digit"); a sample
    is ``x = mu_c + noise * eps`` with label ``c``.  Task A sees ``x``; task B sees
    ``x[perm]`` for one fixed random feature permutation, with the label of the un-permuted
    ``x``.  The permuted templates are nearly orthogonal to the originals, so one network
    can in principle solve both tasks.  Returns ``(task_a, task_b, perm)``.
    """
    rng = np.random.default_rng(seed)
    templates = rng.normal(size=(n_classes, d_in))
    perm = rng.permutation(d_in)

    def split(n: int, permute: bool) -> Split:
        y = rng.integers(0, n_classes, n)
        x = templates[y] + noise * rng.normal(size=(n, d_in))
        return Split(x=x[:, perm] if permute else x, y=y)

    task_a = Task(train=split(n_train, False), val=split(n_eval, False), test=split(n_eval, False))
    task_b = Task(train=split(n_train, True), val=split(n_eval, True), test=split(n_eval, True))
    return task_a, task_b, perm


def _train_sgd(
    params: Params,
    data: Split,
    *,
    steps: int,
    lr: float,
    batch: int,
    rng: np.random.Generator,
    eval_sets: list[Split],
    log_every: int,
    ewc: tuple[Params, Params, float] | None = None,
) -> tuple[Params, np.ndarray, np.ndarray]:
    """Minibatch SGD of a ReLU classifier on cross-entropy (+ optional EWC
    ``(anchor, fisher, lam)``).

    Logs accuracy on each of ``eval_sets`` at step 0 and every ``log_every`` steps.
    Returns ``(params, logged_steps, accuracies[n_logs, n_sets])``.
    """
    opt = mlp.SGD(lr)
    state = opt.init(params)
    logged, accs = [], []
    for t in range(steps + 1):
        if t % log_every == 0 or t == steps:
            logged.append(t)
            accs.append([mlp.accuracy(mlp.forward(params, s.x, "relu")[0], s.y)
                         for s in eval_sets])
        if t == steps:
            break
        idx = rng.integers(0, data.x.shape[0], batch)
        _, grads = mlp.loss_and_grads(params, data.x[idx], data.y[idx], "xent", "relu")
        if ewc is not None:
            grads = mlp.map_params(np.add, grads, ewc_penalty_grad(params, *ewc))
        params, state = opt.step(params, grads, state)
    return params, np.array(logged), np.array(accs)


FORGETTING_DEFAULTS = dict(
    d_in=50, n_classes=10, noise=1.25, hidden=(32, 32), lr=0.1, batch=32, steps_a=300,
    steps_b=300, log_every=10,
)


def _train_task_a(seed: int, cfg: dict
                  ) -> tuple[Task, Task, np.ndarray, Params, np.ndarray, np.ndarray]:
    """Shared first phase of :func:`forgetting` and :func:`fisher_information`."""
    task_a, task_b, perm = make_permuted_tasks(seed, cfg["d_in"], cfg["n_classes"], cfg["noise"])
    rng = np.random.default_rng((seed, 1))
    params = mlp.init_params([cfg["d_in"], *cfg["hidden"], cfg["n_classes"]], rng, "auto", "relu")
    params, steps, accs = _train_sgd(
        params, task_a.train, steps=cfg["steps_a"], lr=cfg["lr"], batch=cfg["batch"], rng=rng,
        eval_sets=[task_a.test, task_b.test], log_every=cfg["log_every"],
    )
    return task_a, task_b, perm, params, steps, accs


@dataclass(frozen=True)
class ForgettingResult:
    """Test accuracies (fractions) during both phases; phase-B steps continue the global count."""

    steps_a: np.ndarray  # (n_logs_a,) global steps logged during task-A training
    phase_a_acc_a: np.ndarray  # test accuracy on A during phase A
    phase_a_acc_b: np.ndarray  # test accuracy on B during phase A (chance level)
    steps_b: np.ndarray  # (n_logs_b,) global steps during task-B training (first = end of A)
    plain_acc_a: np.ndarray  # phase B without EWC
    plain_acc_b: np.ndarray
    ewc_acc_a: np.ndarray  # phase B with EWC at the chosen lambda
    ewc_acc_b: np.ndarray
    lam: float  # chosen EWC strength
    sweep_lambdas: np.ndarray  # (n_lam,) all lambdas tried (0 = plain)
    sweep_val_acc_a: np.ndarray  # (n_lam,) final validation accuracy on A
    sweep_val_acc_b: np.ndarray  # (n_lam,) final validation accuracy on B
    sweep_test_acc_a: np.ndarray  # (n_lam, n_logs_b) test curves on A for every lambda
    sweep_test_acc_b: np.ndarray  # (n_lam, n_logs_b)
    lam_max_stable: float  # 2 / (lr * max F): above it SGD on the penalty alone diverges
    fisher: Params  # diagonal Fisher of the task-A model, per layer
    params_a: Params  # task-A solution (EWC anchor)
    permutation: np.ndarray
    config: dict = field(default_factory=dict)


def forgetting(seed: int = 0, lambdas: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0)
               ) -> ForgettingResult:
    """Train on task A, then on task B plainly and with EWC; sweep lambda.

    Network ``50-32-32-10`` ReLU (He init), minibatch SGD (lr 0.1, batch 32), 300 steps per
    task.  The Fisher is :func:`fisher_diagonal` of the task-A model over the task-A
    training inputs.  Every phase-B run uses the same minibatch sequence.  The reported
    lambda maximises the mean of the final *validation* accuracies on A and B among the
    positive lambdas; test curves are reported for all of them.  Lambdas with
    ``lr * lam * max(F) >= 2`` are rejected (the penalty alone would make SGD diverge).
    """
    cfg = dict(FORGETTING_DEFAULTS)
    task_a, task_b, perm, params_a, steps_a, accs_a = _train_task_a(seed, cfg)
    fisher = fisher_diagonal(params_a, task_a.train.x)
    lam_max_stable = 2.0 / (cfg["lr"] * mlp.flatten(fisher).max())
    if max(lambdas) >= lam_max_stable:
        raise ValueError(f"lambda {max(lambdas)} >= stability limit {lam_max_stable:.3g} "
                         f"for lr={cfg['lr']}")

    val_a, val_b, curves_a, curves_b = [], [], [], []
    for lam in lambdas:
        params_b, steps_b, accs = _train_sgd(
            params_a, task_b.train, steps=cfg["steps_b"], lr=cfg["lr"], batch=cfg["batch"],
            rng=np.random.default_rng((seed, 2)), eval_sets=[task_a.test, task_b.test],
            log_every=cfg["log_every"], ewc=(params_a, fisher, lam) if lam > 0 else None,
        )
        curves_a.append(accs[:, 0])
        curves_b.append(accs[:, 1])
        val_a.append(mlp.accuracy(mlp.forward(params_b, task_a.val.x, "relu")[0], task_a.val.y))
        val_b.append(mlp.accuracy(mlp.forward(params_b, task_b.val.x, "relu")[0], task_b.val.y))

    lam_arr, val_a_arr, val_b_arr = np.array(lambdas, dtype=float), np.array(val_a), np.array(val_b)
    score = np.where(lam_arr > 0, (val_a_arr + val_b_arr) / 2, -np.inf)
    best, plain = int(np.argmax(score)), int(np.flatnonzero(lam_arr == 0)[0])
    return ForgettingResult(
        steps_a=steps_a,
        phase_a_acc_a=accs_a[:, 0],
        phase_a_acc_b=accs_a[:, 1],
        steps_b=steps_b + cfg["steps_a"],
        plain_acc_a=curves_a[plain],
        plain_acc_b=curves_b[plain],
        ewc_acc_a=curves_a[best],
        ewc_acc_b=curves_b[best],
        lam=float(lam_arr[best]),
        sweep_lambdas=lam_arr,
        sweep_val_acc_a=val_a_arr,
        sweep_val_acc_b=val_b_arr,
        sweep_test_acc_a=np.array(curves_a),
        sweep_test_acc_b=np.array(curves_b),
        lam_max_stable=float(lam_max_stable),
        fisher=fisher,
        params_a=params_a,
        permutation=perm,
        config=dict(cfg, seed=seed, activation="relu", init="he hidden, xavier output",
                    optimizer="sgd", fisher="expected, exact over classes, task-A train inputs",
                    lambda_rule="argmax of mean final val accuracy (A, B) over lambda > 0"),
    )


# ============================================================ 3. Fisher information


@dataclass(frozen=True)
class FisherInfoResult:
    """How concentrated the task-A Fisher diagonal is."""

    fisher: Params  # per layer, same shapes as the parameters
    first_layer_W: np.ndarray  # (d_in, hidden) Fisher of the first weight matrix, for a heatmap
    frac_params: np.ndarray  # (N,) k/N for the k largest entries
    frac_mass: np.ndarray  # (N,) share of total Fisher mass held by those k entries
    top_fraction_for_half_mass: float  # smallest k/N whose top-k entries hold >= 50 % of the mass
    layer_mass_share: np.ndarray  # (n_layers,) share of the total mass in each layer (W and b)
    layer_param_share: np.ndarray  # (n_layers,) share of the parameters in each layer
    n_params: int


def fisher_information(result: ForgettingResult | None = None, seed: int = 0
                       ) -> FisherInfoResult:
    """Summarise the task-A Fisher of :func:`forgetting` (recomputed from task A if not given)."""
    if result is None:
        task_a, _, _, params_a, _, _ = _train_task_a(seed, dict(FORGETTING_DEFAULTS))
        fisher = fisher_diagonal(params_a, task_a.train.x)
    else:
        fisher = result.fisher
    flat = mlp.flatten(fisher)
    n = flat.size
    mass = np.cumsum(np.sort(flat)[::-1]) / flat.sum()
    k_half = int(np.searchsorted(mass, 0.5)) + 1  # first k with mass[k-1] >= 0.5
    layer_mass = np.array([layer["W"].sum() + layer["b"].sum() for layer in fisher])
    layer_size = np.array([layer["W"].size + layer["b"].size for layer in fisher])
    return FisherInfoResult(
        fisher=fisher,
        first_layer_W=fisher[0]["W"],
        frac_params=np.arange(1, n + 1) / n,
        frac_mass=mass,
        top_fraction_for_half_mass=k_half / n,
        layer_mass_share=layer_mass / flat.sum(),
        layer_param_share=layer_size / n,
        n_params=n,
    )


# ============================================================== 4. loss curves

#: Training points of the overfitting run (the caption names it).
OVERFIT_TRAIN_POINTS = 32
#: Learning rates of the converging run and of the unstable one (ten times larger).
CONVERGING_LR = 0.05
UNSTABLE_LR = 0.5


@dataclass(frozen=True)
class LossCurveRun:
    """One logged training run (MSE on the full train set and on the validation set)."""

    name: str
    steps: np.ndarray  # logged steps (only finite losses)
    train_loss: np.ndarray
    val_loss: np.ndarray
    val_min_step: int  # step of the lowest logged validation loss
    # first step whose minibatch or logged loss was inf/nan (logging stops), else None
    diverged_at: int | None
    hyperparams: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LossCurveResult:
    """The three runs of :func:`loss_curve_runs` plus the data's noise floor."""

    converges: LossCurveRun
    overfits: LossCurveRun
    unstable: LossCurveRun
    noise_floor: float  # noise variance = lowest achievable expected validation MSE
    data_config: dict = field(default_factory=dict)


def make_regression_data(seed: int, d_in: int = 8, n: int = 4096, noise: float = 0.5
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``y = 2 * teacher(x) + noise * eps`` with ``x ~ N(0, I)`` and a random tanh teacher
    ``d_in-16-1``."""
    rng = np.random.default_rng(seed)
    teacher = mlp.init_params([d_in, 16, 1], rng, "xavier")
    x = rng.normal(size=(n, d_in))
    clean, _ = mlp.forward(teacher, x, "tanh")
    return x, 2.0 * clean + noise * rng.normal(size=clean.shape)


def _regression_run(
    name: str, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
    hidden: tuple[int, ...], lr: float, steps: int, batch: int, log_every: int, seed: int,
) -> LossCurveRun:
    """Plain minibatch SGD on MSE for a tanh MLP; stops logging at the first non-finite loss."""
    hyperparams = dict(n_train=x.shape[0], hidden=hidden, activation="tanh", init="xavier",
                       optimizer="sgd", lr=lr, momentum=0.0, batch=min(batch, x.shape[0]),
                       steps=steps, log_every=log_every, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    params = mlp.init_params([x.shape[1], *hidden, 1], rng, "xavier")
    opt = mlp.SGD(lr)
    state = opt.init(params)
    logged, train_loss, val_loss = [], [], []
    diverged_at = None
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run overflows on purpose
        for t in range(steps + 1):
            if t % log_every == 0:
                train_value = mlp.mse(mlp.forward(params, x, "tanh")[0], y)[0]
                val_value = mlp.mse(mlp.forward(params, x_val, "tanh")[0], y_val)[0]
                if not (np.isfinite(train_value) and np.isfinite(val_value)):
                    diverged_at = t
                    break
                logged.append(t)
                train_loss.append(train_value)
                val_loss.append(val_value)
            if t == steps:
                break
            idx = rng.permutation(x.shape[0])[:batch]
            loss, grads = mlp.loss_and_grads(params, x[idx], y[idx], "mse", "tanh")
            if not np.isfinite(loss):
                diverged_at = t
                break
            params, state = opt.step(params, grads, state)
    val = np.array(val_loss)
    val_min_step = int(logged[int(np.argmin(val))]) if logged else -1
    return LossCurveRun(name=name, steps=np.array(logged), train_loss=np.array(train_loss),
                        val_loss=val, val_min_step=val_min_step, diverged_at=diverged_at,
                        hyperparams=hyperparams)


def loss_curve_runs(seed: int = 0) -> LossCurveResult:
    """Three real SGD runs of a 2-hidden-layer tanh MLP on one noisy regression dataset.

    * converges: 2048 training points, width 32, lr 0.05, batch 32, 1000 steps.
    * overfits:  32 training points (full batch), width 64, lr 0.05, 1000 steps, no regularisation.
    * unstable:  as "converges" but lr 0.5 (10x) -- the loss blows up and overflows.
    Validation: 1024 held-out points from the same distribution.
    """
    noise = 0.5
    x, y = make_regression_data(seed, noise=noise)
    x_val, y_val = x[-1024:], y[-1024:]
    common = dict(x_val=x_val, y_val=y_val, batch=32, steps=1000, log_every=10, seed=seed + 1)
    converges = _regression_run("converges", x[:2048], y[:2048], hidden=(32, 32),
                                lr=CONVERGING_LR, **common)
    overfits = _regression_run("overfits", x[:OVERFIT_TRAIN_POINTS], y[:OVERFIT_TRAIN_POINTS],
                               hidden=(64, 64), lr=CONVERGING_LR, **common)
    unstable = _regression_run("unstable", x[:2048], y[:2048], hidden=(32, 32), lr=UNSTABLE_LR,
                               **common)
    data_config = dict(seed=seed, d_in=8, teacher="2 * tanh MLP 8-16-1 (Xavier)",
                       noise_std=noise, n_val=1024, loss="mse")
    return LossCurveResult(converges=converges, overfits=overfits, unstable=unstable,
                           noise_floor=noise**2, data_config=data_config)
