"""Seeded numpy experiments behind the fine-tuning figures (no drawing here).

1. :func:`gradient_flow`      -- per-layer gradient norms of a deep sigmoid MLP, and of the
   same network with tanh or with skip connections.
2. :func:`forgetting`         -- catastrophic forgetting on permuted tasks, plain SGD vs EWC;
   :func:`forgetting_seeds` repeats it over seeds with one lambda for all of them.
3. :func:`fisher_information` -- how the task-A Fisher diagonal is distributed over parameters;
   :func:`fisher_information_seeds` repeats it over seeds.
4. :func:`loss_curve_runs`    -- train/validation loss curves: converging, overfitting, diverging;
   :func:`loss_curve_seeds` repeats them over seeds.

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

#: Hidden layers of every network of :func:`gradient_flow` (the caption names it).
GRADIENT_FLOW_DEPTH = 20
#: The networks of :func:`gradient_flow`, as (name, hidden activation, skip connections). The
#: first is the baseline; each other one changes one thing of it: the activation (tanh, the
#: activation Xavier initialisation was derived for), or skip connections around every hidden
#: layer of equal width. All three start from the same weights.
GRADIENT_FLOW_NETWORKS: tuple[tuple[str, str, bool], ...] = (
    ("sigmoid", "sigmoid", False),
    ("tanh", "tanh", False),
    ("sigmoid with skip connections", "sigmoid", True),
)


@dataclass(frozen=True)
class GradientFlowResult:
    """Frobenius norms ``||dL/dW_l||`` at initialisation, layer 1 = input layer, last = output
    layer, for each network of :data:`GRADIENT_FLOW_NETWORKS`."""

    layer: np.ndarray  # (n_layers,) layer numbers 1..depth+1
    networks: tuple[str, ...]  # names, baseline first
    activations: tuple[str, ...]  # each network's hidden activation
    skip_connections: tuple[bool, ...]  # whether each network has skip connections
    norms: np.ndarray  # (n_networks, n_seeds, n_layers)
    mean: np.ndarray  # (n_networks, n_layers) geometric mean over seeds
    ratio: np.ndarray  # (n_networks,) mean[:, 0] / mean[:, -1]: first layer over output layer
    init_loss: np.ndarray  # (n_networks, n_seeds) cross-entropy at initialisation
    config: dict = field(default_factory=dict)


def gradient_flow(
    depth: int = GRADIENT_FLOW_DEPTH,
    width: int = 64,
    d_in: int = 32,
    n_classes: int = 10,
    batch: int = 256,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    networks: tuple[tuple[str, str, bool], ...] = GRADIENT_FLOW_NETWORKS,
) -> GradientFlowResult:
    """Measure per-layer gradient norms by backprop at initialisation, one thing changed at a
    time.

    Every network has ``depth`` hidden layers of ``width`` units and a linear output layer, is
    initialised with Xavier/Glorot (biases zero) and sees the same batch per seed:
    ``x ~ N(0, I)``, labels ``argmax(x @ T)`` for a random linear teacher ``T``, softmax
    cross-entropy. Per seed, all networks share the very same weights and batch; they differ
    only in what :data:`GRADIENT_FLOW_NETWORKS` names: the hidden activation, or skip
    connections ``h <- h + act(h W + b)`` around the hidden layers whose input and output widths
    are equal (no normalisation layers).

    Norms are averaged over seeds geometrically (they span orders of magnitude).
    """
    sizes = [d_in] + [width] * depth + [n_classes]
    norms = np.zeros((len(networks), len(seeds), depth + 1))
    losses = np.zeros((len(networks), len(seeds)))
    for j, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(batch, d_in))
        y = np.argmax(x @ rng.normal(size=(d_in, n_classes)), axis=1)
        weights = mlp.init_params(sizes, rng, "xavier")
        for i, (_, activation, skips) in enumerate(networks):
            loss, grads = mlp.loss_and_grads(weights, x, y, "xent", activation, skips)
            losses[i, j] = loss
            norms[i, j] = [np.linalg.norm(g["W"]) for g in grads]
    mean = np.exp(np.log(norms).mean(axis=1))
    return GradientFlowResult(
        layer=np.arange(1, depth + 2),
        networks=tuple(name for name, _, _ in networks),
        activations=tuple(activation for _, activation, _ in networks),
        skip_connections=tuple(skips for _, _, skips in networks),
        norms=norms,
        mean=mean,
        ratio=mean[:, 0] / mean[:, -1],
        init_loss=losses,
        config=dict(depth=depth, width=width, d_in=d_in, n_classes=n_classes, batch=batch,
                    seeds=tuple(seeds), init="xavier (all layers), biases zero",
                    skip_blocks=depth - 1 if d_in != width else depth,
                    weights="the same per seed for every network"),
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


@dataclass(frozen=True)
class ForgettingSeedsResult:
    """:func:`forgetting` over several seeds (each seed draws its own tasks, initialisation and
    minibatches), with one lambda for every seed. Accuracies are fractions; the step axes are
    the same for every seed."""

    seeds: np.ndarray  # (n_seeds,)
    steps_a: np.ndarray  # (n_logs_a,) global steps logged during task-A training
    phase_a_acc_a: np.ndarray  # (n_seeds, n_logs_a) test accuracy on A during phase A
    phase_a_acc_b: np.ndarray  # (n_seeds, n_logs_a) test accuracy on B during phase A
    steps_b: np.ndarray  # (n_logs_b,) global steps during task-B training (first = end of A)
    lambdas: np.ndarray  # (n_lam,) every lambda tried, 0 = plain SGD
    val_acc_a: np.ndarray  # (n_seeds, n_lam) final validation accuracy on A
    val_acc_b: np.ndarray  # (n_seeds, n_lam) final validation accuracy on B
    test_acc_a: np.ndarray  # (n_seeds, n_lam, n_logs_b) test curves on A during phase B
    test_acc_b: np.ndarray  # (n_seeds, n_lam, n_logs_b) test curves on B during phase B
    lam: float  # the lambda of the figure, chosen on validation accuracy over all seeds
    lam_max_stable: np.ndarray  # (n_seeds,) 2 / (lr * max F) of each seed's task-A Fisher
    config: dict = field(default_factory=dict)

    def curves(self, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """Test accuracy on A and on B over both phases, (n_seeds, n_logs_a + n_logs_b - 1),
        when task B is trained with EWC strength `lam` (0: plain SGD)."""
        k = int(np.flatnonzero(self.lambdas == lam)[0])
        return (np.concatenate([self.phase_a_acc_a, self.test_acc_a[:, k, 1:]], axis=1),
                np.concatenate([self.phase_a_acc_b, self.test_acc_b[:, k, 1:]], axis=1))

    @property
    def steps(self) -> np.ndarray:
        """The steps of :meth:`curves`: phase A, then phase B."""
        return np.concatenate([self.steps_a, self.steps_b[1:]])


def forgetting_seeds(seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
                     lambdas: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0)
                     ) -> ForgettingSeedsResult:
    """:func:`forgetting` for every seed. The reported lambda maximises the mean over seeds of
    the mean final validation accuracy on A and B, among the positive lambdas (one setting for
    all seeds, chosen without the test sets)."""
    runs = [forgetting(seed=seed, lambdas=lambdas) for seed in seeds]
    lam_arr = np.array(lambdas, dtype=float)
    val_a = np.array([run.sweep_val_acc_a for run in runs])
    val_b = np.array([run.sweep_val_acc_b for run in runs])
    score = np.where(lam_arr > 0, ((val_a + val_b) / 2).mean(axis=0), -np.inf)
    first = runs[0]
    return ForgettingSeedsResult(
        seeds=np.array(seeds),
        steps_a=first.steps_a,
        phase_a_acc_a=np.array([run.phase_a_acc_a for run in runs]),
        phase_a_acc_b=np.array([run.phase_a_acc_b for run in runs]),
        steps_b=first.steps_b,
        lambdas=lam_arr,
        val_acc_a=val_a,
        val_acc_b=val_b,
        test_acc_a=np.array([run.sweep_test_acc_a for run in runs]),
        test_acc_b=np.array([run.sweep_test_acc_b for run in runs]),
        lam=float(lam_arr[int(np.argmax(score))]),
        lam_max_stable=np.array([run.lam_max_stable for run in runs]),
        config={key: value for key, value in first.config.items() if key != "seed"}
        | {"seeds": list(seeds),
           "lambda_rule": "argmax over lambda > 0 of the mean over seeds of the mean final "
                          "validation accuracy (A, B)"},
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


@dataclass(frozen=True)
class FisherSeedsResult:
    """What the figures need of :func:`fisher_information` for several seeds (each seed trains
    its own task-A model, as in :func:`forgetting_seeds`): the first layer's Fisher and how
    concentrated the whole Fisher is."""

    seeds: np.ndarray  # (n_seeds,)
    first_layer_W: np.ndarray  # (n_seeds, d_in, hidden) Fisher of the first weight matrix
    frac_mass: np.ndarray  # (n_seeds, N) share of the total mass held by the k largest entries
    top_fraction_for_half_mass: np.ndarray  # (n_seeds,)
    layer_mass_share: np.ndarray  # (n_seeds, n_layers)
    n_params: int

    @property
    def frac_params(self) -> np.ndarray:
        """k/N for the k largest entries (the same for every seed)."""
        return np.arange(1, self.n_params + 1) / self.n_params


def fisher_information_seeds(seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> FisherSeedsResult:
    """:func:`fisher_information` for every seed, keeping what the figures draw."""
    runs = [fisher_information(seed=seed) for seed in seeds]
    return FisherSeedsResult(
        seeds=np.array(seeds),
        first_layer_W=np.array([run.first_layer_W for run in runs]),
        frac_mass=np.array([run.frac_mass for run in runs]),
        top_fraction_for_half_mass=np.array([run.top_fraction_for_half_mass for run in runs]),
        layer_mass_share=np.array([run.layer_mass_share for run in runs]),
        n_params=runs[0].n_params,
    )


def variance_shares(log_values: np.ndarray) -> tuple[float, float]:
    """How much of the variation of a matrix (e.g. ``log10 F`` of a weight matrix, rows = inputs,
    columns = units) its columns and its rows explain on their own: ``1 - SS_within / SS_total``
    when each entry is predicted by its column's mean, and by its row's mean."""
    values = np.asarray(log_values, float)
    total = np.sum((values - values.mean()) ** 2)
    by_column = 1 - np.sum((values - values.mean(axis=0, keepdims=True)) ** 2) / total
    by_row = 1 - np.sum((values - values.mean(axis=1, keepdims=True)) ** 2) / total
    return float(by_column), float(by_row)


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


#: Logged steps per decade of the loss-curve runs: their dynamics span steps 1 to 1000, so they
#: are logged (and drawn) on a logarithmic step axis.
LOSS_LOG_PER_DECADE = 20


def logged_steps(steps: int, per_decade: int = LOSS_LOG_PER_DECADE) -> np.ndarray:
    """Step 0, then steps spaced evenly on a log scale from 1 to `steps` (every step at first,
    where the steps are closer than one apart), ending at `steps`."""
    n = int(np.ceil(per_decade * np.log10(steps))) + 1
    return np.unique(np.concatenate([[0], np.round(np.geomspace(1, steps, n))]).astype(int))


def _regression_run(
    name: str, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
    hidden: tuple[int, ...], lr: float, steps: int, batch: int, log_per_decade: int, seed: int,
) -> LossCurveRun:
    """Plain minibatch SGD on MSE for a tanh MLP, losses logged at :func:`logged_steps`; stops
    logging at the first non-finite loss."""
    hyperparams = dict(n_train=x.shape[0], hidden=hidden, activation="tanh", init="xavier",
                       optimizer="sgd", lr=lr, momentum=0.0, batch=min(batch, x.shape[0]),
                       steps=steps, log_per_decade=log_per_decade, weight_decay=0.0)
    log_at = set(logged_steps(steps, log_per_decade).tolist())
    rng = np.random.default_rng(seed)
    params = mlp.init_params([x.shape[1], *hidden, 1], rng, "xavier")
    opt = mlp.SGD(lr)
    state = opt.init(params)
    logged, train_loss, val_loss = [], [], []
    diverged_at = None
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run overflows on purpose
        for t in range(steps + 1):
            if t in log_at:
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
    """Three real SGD runs of one 2-hidden-layer tanh MLP (width 32, Xavier init, batch 32,
    1000 steps, no regularisation) on one noisy regression dataset; each differs from
    "converges" in one setting:

    * converges: 2048 training points, lr 0.05.
    * overfits:  as "converges" but 32 training points (so each batch is the whole set).
    * unstable:  as "converges" but lr 0.5 (10x) -- the loss blows up and overflows.
    Validation: 1024 held-out points from the same distribution. Losses are logged at
    :func:`logged_steps` (step 0, then evenly on a log scale).
    """
    noise = 0.5
    x, y = make_regression_data(seed, noise=noise)
    x_val, y_val = x[-1024:], y[-1024:]
    common = dict(x_val=x_val, y_val=y_val, batch=32, steps=1000,
                  log_per_decade=LOSS_LOG_PER_DECADE, seed=seed + 1)
    converges = _regression_run("converges", x[:2048], y[:2048], hidden=(32, 32),
                                lr=CONVERGING_LR, **common)
    overfits = _regression_run("overfits", x[:OVERFIT_TRAIN_POINTS], y[:OVERFIT_TRAIN_POINTS],
                               hidden=(32, 32), lr=CONVERGING_LR, **common)
    unstable = _regression_run("unstable", x[:2048], y[:2048], hidden=(32, 32), lr=UNSTABLE_LR,
                               **common)
    data_config = dict(seed=seed, d_in=8, teacher="2 * tanh MLP 8-16-1 (Xavier)",
                       noise_std=noise, n_val=1024, loss="mse")
    return LossCurveResult(converges=converges, overfits=overfits, unstable=unstable,
                           noise_floor=noise**2, data_config=data_config)


@dataclass(frozen=True)
class LossCurveSeeds:
    """:func:`loss_curve_runs` for several seeds: each seed draws its own dataset (teacher,
    inputs, noise), initialisation and minibatches."""

    seeds: np.ndarray  # (n_seeds,)
    runs: tuple[LossCurveResult, ...]  # one per seed


def loss_curve_seeds(seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> LossCurveSeeds:
    """:func:`loss_curve_runs` for every seed."""
    return LossCurveSeeds(seeds=np.array(seeds), runs=tuple(loss_curve_runs(seed=s)
                                                              for s in seeds))
