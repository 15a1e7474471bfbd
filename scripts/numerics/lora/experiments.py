"""The toy-model experiments the LoRA figures show, each on the shared pre-trained base.

Every experiment takes the :class:`~numerics.lora.training.Pretrained` base (pre-trained once
when omitted), fine-tunes it on the sentiment sentences of :mod:`numerics.lora.data` and
returns a frozen dataclass of what it measured; :func:`delta_w_spectra` instead pre-trains one
base per seed, so its spread covers different base models.  Runs are full-batch and seeded, so
every result is deterministic.

Other sources: effective rank of Roy & Vetterli 2007 ("The effective rank: a measure of
effective dimensionality", EUSIPCO), ``exp`` of the entropy of the normalised singular values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models import lora_mlp
from models.lora_mlp import (
    ALL_LAYERS,
    DEFAULT_ALPHA,
    DEFAULT_CONFIG,
    NO_ADAPTERS,
    SIZES,
    LayerTrace,
    LoRAConfig,
)
from models.mlp import softmax
from numerics.lora.data import NEGATION, Split, load_sentiment, teacher_task, tokens
from numerics.lora.training import (
    DEFAULT_OPTIMIZER,
    FINETUNE_STEPS,
    Optimizer,
    Pretrained,
    pretrain,
    train_full,
    train_lora,
)

RANKS: tuple[int, ...] = (1, 2, 4, 8, 16)
"""The ranks of the scaling sweep."""
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
"""The seeds of every sweep (a seed draws the adapters' ``A``)."""
ENERGY_SHARE = 0.9
"""The share of ``||Delta W||_F^2`` a truncation must keep (:attr:`Spectra.rank_90`)."""


# ====================================================================== the toy model


@dataclass(frozen=True)
class ToyModel:
    """Shapes and parameter counts of the toy model and of its LoRA adapters per rank.

    ``shapes[l] = (d, k)`` is the paper's shape of ``W0`` (outputs, inputs) of layer ``l``;
    ``layer_params[l] = weight_params[l] + bias_params[l]``;
    ``lora_params[i, l] = r_i (d_l + k_l)`` if layer ``l`` is adapted, else 0;
    ``max_delta_rank[i, l] = min(r_i, d_l, k_l)``, the largest rank ``Delta W`` can have.
    """

    sizes: tuple[int, ...]
    shapes: tuple[tuple[int, int], ...]
    weight_params: tuple[int, ...]
    bias_params: tuple[int, ...]
    layer_params: tuple[int, ...]
    base_params: int
    adapted_layers: tuple[int, ...]
    ranks: tuple[int, ...]
    lora_params: np.ndarray
    lora_total: np.ndarray
    max_delta_rank: np.ndarray


def toy_model(ranks: Sequence[int] = RANKS, layers: tuple[int, ...] = ALL_LAYERS) -> ToyModel:
    """Describe :data:`~models.lora_mlp.SIZES` and the LoRA adapters of each rank on
    ``layers``."""
    shapes = tuple((d, k) for k, d in zip(SIZES[:-1], SIZES[1:], strict=True))
    weights = tuple(d * k for d, k in shapes)
    biases = tuple(d for d, _ in shapes)
    lora_params = np.array([[rank * (d + k) if index in layers else 0
                             for index, (d, k) in enumerate(shapes)] for rank in ranks])
    max_rank = np.array([[min(rank, d, k) for d, k in shapes] for rank in ranks])
    return ToyModel(sizes=SIZES, shapes=shapes, weight_params=weights, bias_params=biases,
                    layer_params=tuple(w + b for w, b in zip(weights, biases, strict=True)),
                    base_params=sum(weights) + sum(biases), adapted_layers=tuple(layers),
                    ranks=tuple(ranks), lora_params=lora_params,
                    lora_total=lora_params.sum(axis=1), max_delta_rank=max_rank)


# ================================================================= the base model


@dataclass(frozen=True)
class BaseModel:
    """What the pre-trained base model learned before any fine-tuning.

    The pre-training task (:func:`~numerics.lora.data.pretraining_task`): ``n_train`` /
    ``n_val`` / ``n_test`` synthetic count vectors, early-stopped at ``best_step`` of at most
    ``max_steps`` full-batch steps, and the base's accuracy on each split.  On the 128 sentiment
    sentences (train and test splits together; the base has seen none of them):
    ``sentence_negated`` and ``sentence_correct`` (the base's answer is the label).
    ``dead_on_pretraining[l]`` / ``dead_on_sentences[l]``: units of hidden layer ``l`` whose
    pre-activation is never positive on the pre-training inputs / on any sentence (dead ReLUs:
    no gradient reaches their incoming weights).
    """

    seed: int
    n_train: int
    n_val: int
    n_test: int
    best_step: int
    max_steps: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    sentence_negated: np.ndarray
    sentence_correct: np.ndarray
    dead_on_pretraining: tuple[np.ndarray, ...]
    dead_on_sentences: tuple[np.ndarray, ...]


def _dead_units(params, x: np.ndarray) -> tuple[np.ndarray, ...]:
    _, cache = lora_mlp.forward(params, [], NO_ADAPTERS, x)
    return tuple(np.all(layer.z <= 0, axis=0) for layer in cache.layers[:-1])


def base_model(pretrained: Pretrained | None = None) -> BaseModel:
    """The base's pre-training record, its answers on every sentence and its dead units."""
    pre = pretrained or pretrain()
    data = load_sentiment()
    x = np.concatenate([data.train.x, data.test.x])
    y = np.concatenate([data.train.y, data.test.y])
    probs = lora_mlp.evaluate(pre.params, [], NO_ADAPTERS, x, y).probs
    task = pre.task
    return BaseModel(
        seed=pre.seed, n_train=len(task.y_train), n_val=len(task.y_val), n_test=len(task.y_test),
        best_step=pre.best_step, max_steps=len(pre.val_loss) - 1,
        train_accuracy=pre.train_accuracy, val_accuracy=pre.val_accuracy,
        test_accuracy=pre.test_accuracy, sentence_negated=x[:, NEGATION] > 0,
        sentence_correct=np.argmax(probs, axis=1) == y,
        dead_on_pretraining=_dead_units(pre.params, task.x_train),
        dead_on_sentences=_dead_units(pre.params, x))


# ================================================================= knowledge change


@dataclass(frozen=True)
class KnowledgeChange:
    """LoRA fine-tuning of the pre-trained base on sentiment (see :func:`knowledge_change`).

    ``loss`` / ``test_loss``: curves of ``steps + 1`` points; ``example_*``: one test sentence
    per (label, topic) cell with ``p(negative), p(positive)`` before (``B = 0``, the base model)
    and after training; ``delta_w[j]``: learned ``(alpha/r) B A`` of ``config.layers[j]``,
    ``(d, k)``; ``pretrain_accuracy_*``: the base's synthetic task with the adapter off and on;
    ``test_*``: every test sentence, its label, whether it is negated, and its class
    probabilities before and after.
    """

    config: LoRAConfig
    loss: np.ndarray
    test_loss: np.ndarray
    train_accuracy_before: float
    train_accuracy_after: float
    test_accuracy_before: float
    test_accuracy_after: float
    example_texts: tuple[str, ...]
    example_labels: np.ndarray
    probs_before: np.ndarray
    probs_after: np.ndarray
    delta_w: tuple[np.ndarray, ...]
    pretrain_accuracy_base: float
    pretrain_accuracy_adapted: float
    trainable_params: int
    test_labels: np.ndarray
    test_negated: np.ndarray
    test_probs_before: np.ndarray
    test_probs_after: np.ndarray


def example_indices(test: Split) -> np.ndarray:
    """Index of the first test sentence of each (label, topic) cell, ordered (neg food,
    neg film, pos food, pos film)."""
    return np.array([int(np.flatnonzero((test.y == label) & (test.topic == topic))[0])
                     for label in (0, 1) for topic in (0, 1)])


def knowledge_change(pretrained: Pretrained | None = None,
                     config: LoRAConfig = DEFAULT_CONFIG, seed: int = 0,
                     steps: int = FINETUNE_STEPS,
                     optimizer: Optimizer = DEFAULT_OPTIMIZER) -> KnowledgeChange:
    """Fine-tune with LoRA on the sentiment train split; what changes on the test split."""
    pre = pretrained or pretrain()
    data = load_sentiment()
    train, test = data.train, data.test
    run = train_lora(pre.params, config, train.x, train.y, seed=seed, steps=steps,
                     optimizer=optimizer, eval_x=test.x, eval_y=test.y)
    initial = lora_mlp.init_adapters(pre.params, config, seed)
    examples = example_indices(test)
    before, after = (lora_mlp.evaluate(pre.params, adapters, config, test.x, test.y)
                     for adapters in (initial, run.adapters))
    task = pre.task
    return KnowledgeChange(
        config=config, loss=run.loss, test_loss=run.eval_loss,
        train_accuracy_before=lora_mlp.evaluate(pre.params, initial, config, train.x,
                                                train.y).accuracy,
        train_accuracy_after=lora_mlp.evaluate(pre.params, run.adapters, config, train.x,
                                               train.y).accuracy,
        test_accuracy_before=before.accuracy, test_accuracy_after=after.accuracy,
        example_texts=tuple(test.texts[i] for i in examples),
        example_labels=test.y[examples],
        probs_before=before.probs[examples], probs_after=after.probs[examples],
        delta_w=lora_mlp.delta_weights(run.adapters, config),
        pretrain_accuracy_base=lora_mlp.evaluate(pre.params, [], NO_ADAPTERS, task.x_test,
                                                 task.y_test).accuracy,
        pretrain_accuracy_adapted=lora_mlp.evaluate(pre.params, run.adapters, config,
                                                    task.x_test, task.y_test).accuracy,
        trainable_params=lora_mlp.trainable_parameters(config),
        test_labels=test.y, test_negated=test.negated, test_probs_before=before.probs,
        test_probs_after=after.probs,
    )


# ======================================================================= rank sweep


@dataclass(frozen=True)
class RankSweep:
    """Final results per rank (rows) and seed (columns) plus full fine-tuning, on one ``task``
    (:data:`SWEEP_TASKS`) with ``n_train`` / ``n_test`` examples.

    ``alphas[i]``: the alpha of rank ``ranks[i]`` (one fixed alpha, or ``alpha = r`` so that
    ``alpha / r = 1`` at every rank); ``train_curve[i, j, t]``: the training loss before step
    ``t`` (``t = steps``: after the last); ``full_train_curve`` the same for full fine-tuning.
    The seed only draws ``A``; the base and the full-batch data are the same for every run, so
    full fine-tuning (no random initialisation) is one deterministic run.
    """

    task: str
    n_train: int
    n_test: int
    ranks: tuple[int, ...]
    alphas: np.ndarray
    seeds: tuple[int, ...]
    steps: int
    trainable_params: np.ndarray
    test_accuracy: np.ndarray
    test_loss: np.ndarray
    train_loss: np.ndarray
    train_curve: np.ndarray
    full_params: int
    full_test_accuracy: float
    full_test_loss: float
    full_train_loss: float
    full_train_curve: np.ndarray
    base_test_accuracy: float

    @property
    def mean_test_accuracy(self) -> np.ndarray:
        return self.test_accuracy.mean(axis=1)

    @property
    def mean_test_loss(self) -> np.ndarray:
        return self.test_loss.mean(axis=1)


SWEEP_TASKS = ("sentiment", "teacher")
"""Tasks of :func:`rank_sweep`: the sentiment sentences (96 train / 32 test), or
:func:`numerics.lora.data.teacher_task` (2,000 / 4,000), which a low rank cannot learn."""


def sweep_data(task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` of a task of :data:`SWEEP_TASKS`."""
    if task == "sentiment":
        data = load_sentiment()
        return data.train.x, data.train.y, data.test.x, data.test.y
    if task == "teacher":
        teacher = teacher_task()
        return teacher.x_train, teacher.y_train, teacher.x_test, teacher.y_test
    raise ValueError(f"unknown task {task!r}; known: {SWEEP_TASKS}")


def rank_sweep(ranks: Sequence[int] = RANKS, alpha: float = DEFAULT_ALPHA,
               seeds: Sequence[int] = (0, 1, 2), pretrained: Pretrained | None = None,
               layers: tuple[int, ...] = ALL_LAYERS, steps: int = FINETUNE_STEPS,
               optimizer: Optimizer = DEFAULT_OPTIMIZER, task: str = "sentiment",
               alpha_equals_rank: bool = False) -> RankSweep:
    """LoRA on ``task`` for every rank and seed (same steps and optimizer; ``alpha`` fixed, or
    ``alpha = r`` with ``alpha_equals_rank``) and the full fine-tuning baseline."""
    pre = pretrained or pretrain()
    x_train, y_train, x_test, y_test = sweep_data(task)
    alphas = np.array([float(rank) if alpha_equals_rank else alpha for rank in ranks])
    accuracy, loss, train_loss = (np.zeros((len(ranks), len(seeds))) for _ in range(3))
    curves = np.zeros((len(ranks), len(seeds), steps + 1))
    for i, rank in enumerate(ranks):
        config = LoRAConfig(rank, float(alphas[i]), layers)
        for j, seed in enumerate(seeds):
            run = train_lora(pre.params, config, x_train, y_train, seed=seed, steps=steps,
                             optimizer=optimizer)
            evaluation = lora_mlp.evaluate(pre.params, run.adapters, config, x_test, y_test)
            accuracy[i, j], loss[i, j] = evaluation.accuracy, evaluation.loss
            train_loss[i, j] = run.loss[-1]
            curves[i, j] = run.loss
    full = train_full(pre.params, x_train, y_train, steps=steps, optimizer=optimizer)
    full_eval = lora_mlp.evaluate(full.params, [], NO_ADAPTERS, x_test, y_test)
    base_eval = lora_mlp.evaluate(pre.params, [], NO_ADAPTERS, x_test, y_test)
    return RankSweep(
        task=task, n_train=len(y_train), n_test=len(y_test),
        ranks=tuple(ranks), alphas=alphas, seeds=tuple(seeds), steps=steps,
        trainable_params=np.array([lora_mlp.trainable_parameters(LoRAConfig(rank, alpha, layers))
                                   for rank in ranks]),
        test_accuracy=accuracy, test_loss=loss, train_loss=train_loss, train_curve=curves,
        full_params=toy_model().base_params, full_test_accuracy=full_eval.accuracy,
        full_test_loss=full_eval.loss, full_train_loss=float(full.loss[-1]),
        full_train_curve=np.asarray(full.loss), base_test_accuracy=base_eval.accuracy)


# =================================================================== alpha / r scaling


@dataclass(frozen=True)
class ScalingExperiment:
    """alpha fixed vs alpha = r, per rank and seed.  First axis: scheme (0:
    ``alpha = alpha_fixed``, 1: ``alpha = r``).

    ``delta_norm[s, i, j, t]`` = ``sqrt(sum_l ||Delta W_l||_F^2)`` over the adapted layers after
    ``t`` steps (index 1: after the first step, -1: after training); ``loss[s, i, j, t]`` the
    training loss at the same points; ``test_accuracy[s, i, j]`` after training;
    ``layers``: the adapted layers (0-based), ``trainable_params[i]``: the adapters' parameters
    at rank ``ranks[i]``.
    """

    ranks: tuple[int, ...]
    alpha_fixed: float
    seeds: tuple[int, ...]
    layers: tuple[int, ...]
    trainable_params: np.ndarray
    alphas: np.ndarray
    delta_norm: np.ndarray
    loss: np.ndarray
    test_accuracy: np.ndarray

    @property
    def scales(self) -> np.ndarray:
        return self.alphas / np.array(self.ranks)

    @property
    def first_step_norm(self) -> np.ndarray:
        """``||Delta W||_F`` after one step, mean over seeds: (scheme, rank)."""
        return self.delta_norm[..., 1].mean(axis=2)

    @property
    def final_norm(self) -> np.ndarray:
        return self.delta_norm[..., -1].mean(axis=2)

    @property
    def final_loss(self) -> np.ndarray:
        return self.loss[..., -1].mean(axis=2)


def scaling_experiment(ranks: Sequence[int] = RANKS, alpha_fixed: float = DEFAULT_ALPHA,
                       seeds: Sequence[int] = SEEDS, pretrained: Pretrained | None = None,
                       layers: tuple[int, ...] = ALL_LAYERS, steps: int = FINETUNE_STEPS,
                       optimizer: Optimizer = DEFAULT_OPTIMIZER) -> ScalingExperiment:
    """Train LoRA on sentiment for each rank with ``alpha = alpha_fixed`` and with
    ``alpha = r``.

    Five seeds by default (50 runs of 200 full-batch steps, a few seconds), so every point
    has its spread.  ``layers`` chooses the adapted layers: adapting only the 16 x 16 hidden
    layer (index 1) keeps every rank up to 8 below its full rank, where "rank" still means a
    low-rank update.
    """
    pre = pretrained or pretrain()
    data = load_sentiment()
    train, test = data.train, data.test
    alphas = np.array([[alpha_fixed] * len(ranks), [float(rank) for rank in ranks]])
    shape = (2, len(ranks), len(seeds))
    norm, loss = np.zeros(shape + (steps + 1,)), np.zeros(shape + (steps + 1,))
    accuracy = np.zeros(shape)
    for scheme in range(2):
        for i, rank in enumerate(ranks):
            config = LoRAConfig(rank, float(alphas[scheme, i]), layers)
            for j, seed in enumerate(seeds):
                run = train_lora(pre.params, config, train.x, train.y, seed=seed, steps=steps,
                                 optimizer=optimizer)
                norm[scheme, i, j] = np.sqrt((run.delta_norms ** 2).sum(axis=1))
                loss[scheme, i, j] = run.loss
                accuracy[scheme, i, j] = lora_mlp.evaluate(pre.params, run.adapters, config,
                                                           test.x, test.y).accuracy
    trainable = np.array([lora_mlp.trainable_parameters(LoRAConfig(rank, alpha_fixed, layers))
                          for rank in ranks])
    return ScalingExperiment(ranks=tuple(ranks), alpha_fixed=alpha_fixed, seeds=tuple(seeds),
                             layers=tuple(layers), trainable_params=trainable, alphas=alphas,
                             delta_norm=norm, loss=loss, test_accuracy=accuracy)


# ========================================================== the spectrum of Delta W


def effective_rank(singular_values: np.ndarray) -> float:
    """Roy & Vetterli (2007): ``exp(-sum p_i log p_i)`` with ``p = sigma / sum(sigma)``."""
    p = singular_values / singular_values.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def energy(singular_values: np.ndarray) -> np.ndarray:
    """Cumulative fraction of ``||M||_F^2`` captured by the top ``1, 2, ...`` singular
    values."""
    squares = np.sort(singular_values)[::-1] ** 2
    return np.cumsum(squares) / squares.sum()


def rank_for_energy(cumulative_energy: np.ndarray, share: float = ENERGY_SHARE) -> int:
    """The smallest rank whose truncation keeps ``share`` of the squared Frobenius norm."""
    return int(np.searchsorted(cumulative_energy, share) + 1)


@dataclass(frozen=True)
class Spectra:
    """Singular values of real full fine-tuning updates against two kinds of random matrix, one
    base model per pre-training seed.

    For seed ``s``: ``delta_w = W_after - W_before`` of hidden layer ``layer``, paper layout
    ``(d, k)``.  A unit that never fires on the training sentences (a dead ReLU) gets no gradient,
    so its row (an output unit of the layer) or column (an input unit) of ``delta_w`` stays
    exactly zero: ``live_rows[s]`` / ``live_cols[s]`` mark the others.  Singular values are those
    of the live block (its zero rows and columns removed), zero-padded to ``min(d, k)``; each of
    the ``n_random`` random draws is a Gaussian matrix of the live block's shape rescaled to the
    same Frobenius norm (so dead units are left out of both).  ``*_energy[s, m-1]``: fraction of
    ``||.||_F^2`` in the top ``m`` singular values (random: mean over the draws);
    ``rank_90``: smallest ``m`` reaching :data:`ENERGY_SHARE`; ``relative_update[s] =
    ||Delta W||_F / ||W0||_F``.

    The isotropic null is not like for like: a gradient step on ``W`` is ``sum_n delta_n
    h_n^T``, so every update lies in the row space of the layer's inputs ``H`` (the base's
    activations on the training sentences, ``(n, k)``) and its spectrum follows theirs.  The
    ``input_*`` draws are that null: ``G H`` with a Gaussian ``G`` of shape ``(live rows, n)``
    on the live columns of ``H``, rescaled to the same norm; ``activation_singular_values[s]``
    are those of ``H`` itself (live columns), ``activation_energy`` their energy.  Every
    spectrum has at most ``live_rank[s] = min(live rows, live columns)`` non-zero values; the
    rest is zero padding, not singular values.
    """

    layer: int
    seeds: tuple[int, ...]
    delta_w: tuple[np.ndarray, ...]
    live_rows: np.ndarray               # (S, d) bool
    live_cols: np.ndarray               # (S, k) bool
    singular_values: np.ndarray         # (S, n)
    energy: np.ndarray                  # (S, n)
    effective_rank: np.ndarray          # (S,)
    rank_90: np.ndarray                 # (S,)
    random_singular_values: np.ndarray  # (S, n_random, n)
    random_energy: np.ndarray           # (S, n)
    random_effective_rank: np.ndarray   # (S, n_random)
    random_rank_90: np.ndarray          # (S, n_random)
    relative_update: np.ndarray         # (S,)
    activation_singular_values: np.ndarray  # (S, n)
    activation_energy: np.ndarray           # (S, n)
    input_singular_values: np.ndarray       # (S, n_random, n)
    input_energy: np.ndarray                # (S, n)
    input_effective_rank: np.ndarray        # (S, n_random)
    input_rank_90: np.ndarray               # (S, n_random)

    @property
    def live_rank(self) -> np.ndarray:
        """``min(live rows, live columns)`` per seed: the most non-zero singular values."""
        return np.minimum(self.live_rows.sum(axis=1), self.live_cols.sum(axis=1))


def _rescaled_values(matrix: np.ndarray, frobenius: float, n: int) -> np.ndarray:
    return padded(np.linalg.svd(matrix * (frobenius / np.linalg.norm(matrix)),
                                compute_uv=False), n)


def padded(values: np.ndarray, n: int) -> np.ndarray:
    """``values`` followed by zeros up to length ``n``."""
    return np.concatenate([values, np.zeros(n - len(values))])


def delta_w_spectra(pretrain_seeds: Sequence[int] = SEEDS, layer: int = 1,
                    steps: int = FINETUNE_STEPS, optimizer: Optimizer = DEFAULT_OPTIMIZER,
                    n_random: int = 200) -> Spectra:
    """For every seed: pre-train a base (:func:`~numerics.lora.training.pretrain`), fine-tune it
    in full on sentiment, and compare the SVD of ``layer``'s update, dead units left out, with
    ``n_random`` Gaussian matrices of the same live shape and norm and with ``n_random``
    input-shaped updates ``G H`` of the same norm (both drawn with the same seed)."""
    train = load_sentiment().train
    deltas, live_rows, live_cols, values, randoms, relative = [], [], [], [], [], []
    activations, inputs = [], []
    for seed in pretrain_seeds:
        pre = pretrain(seed=seed)
        full = train_full(pre.params, train.x, train.y, steps=steps, optimizer=optimizer)
        w0 = pre.params[layer]["W"].T
        delta = full.params[layer]["W"].T - w0
        rows, cols = np.any(delta != 0, axis=1), np.any(delta != 0, axis=0)
        live = delta[np.ix_(rows, cols)]
        _, cache = lora_mlp.forward(pre.params, [], NO_ADAPTERS, train.x)
        h = cache.layers[layer].x[:, cols]                 # the layer's live inputs (n, k_live)
        n = min(delta.shape)
        frobenius = np.linalg.norm(delta)
        rng = np.random.default_rng(seed)
        draws = [_rescaled_values(rng.normal(size=live.shape), frobenius, n)
                 for _ in range(n_random)]
        shaped = [_rescaled_values(rng.normal(size=(live.shape[0], len(h))) @ h, frobenius, n)
                  for _ in range(n_random)]
        deltas.append(delta)
        live_rows.append(rows)
        live_cols.append(cols)
        values.append(padded(np.linalg.svd(live, compute_uv=False), n))
        randoms.append(np.array(draws))
        inputs.append(np.array(shaped))
        activations.append(padded(np.linalg.svd(h, compute_uv=False)[:n], n))
        relative.append(frobenius / np.linalg.norm(w0))
    values, randoms, inputs = np.array(values), np.array(randoms), np.array(inputs)
    real_energy = np.array([energy(v) for v in values])
    random_energy = np.array([[energy(v) for v in draws] for draws in randoms])
    input_energy = np.array([[energy(v) for v in draws] for draws in inputs])
    return Spectra(
        layer=layer, seeds=tuple(pretrain_seeds), delta_w=tuple(deltas),
        live_rows=np.array(live_rows), live_cols=np.array(live_cols), singular_values=values,
        energy=real_energy, effective_rank=np.array([effective_rank(v) for v in values]),
        rank_90=np.array([rank_for_energy(e) for e in real_energy]),
        random_singular_values=randoms, random_energy=random_energy.mean(axis=1),
        random_effective_rank=np.array([[effective_rank(v) for v in draws]
                                        for draws in randoms]),
        random_rank_90=np.array([[rank_for_energy(e) for e in draws]
                                 for draws in random_energy]),
        relative_update=np.array(relative),
        activation_singular_values=np.array(activations),
        activation_energy=np.array([energy(v) for v in activations]),
        input_singular_values=inputs, input_energy=input_energy.mean(axis=1),
        input_effective_rank=np.array([[effective_rank(v) for v in draws] for draws in inputs]),
        input_rank_90=np.array([[rank_for_energy(e) for e in draws] for draws in input_energy]))


# =================================================================== one backward step


@dataclass(frozen=True)
class BackwardComparison:
    """Gradients of one step on the whole sentiment train split: full fine-tuning vs LoRA.

    Matrices in paper layout: ``full_W[l] = dL/dW0`` (d, k), ``full_b[l]`` (d,), ``lora_A[j]``
    (r, k), ``lora_B[j]`` (d, r) for ``config.layers[j]``.  ``groups`` / ``norms`` / ``sizes``:
    one entry per parameter group (``"W1"``, ``"b1"``, ... for full fine-tuning, ``"A1"``,
    ``"B1"``, ... for LoRA, layers numbered from 1), its gradient's Frobenius norm and its
    number of entries.  The LoRA gradient is taken at the adapters after ``lora_steps`` LoRA
    steps (0: at initialisation, where ``B = 0`` and hence ``dL/dA = 0`` exactly); the full
    gradient at the pre-trained base.
    """

    config: LoRAConfig
    lora_steps: int
    loss: float
    full_W: tuple[np.ndarray, ...]
    full_b: tuple[np.ndarray, ...]
    lora_A: tuple[np.ndarray, ...]
    lora_B: tuple[np.ndarray, ...]
    groups: tuple[str, ...]
    norms: np.ndarray
    sizes: np.ndarray

    @property
    def full_norm(self) -> float:
        return float(np.sqrt(sum(float(np.sum(g ** 2)) for g in self.full_W + self.full_b)))

    @property
    def lora_norm(self) -> float:
        return float(np.sqrt(sum(float(np.sum(g ** 2)) for g in self.lora_A + self.lora_B)))


def backward_comparison(pretrained: Pretrained | None = None,
                        config: LoRAConfig = DEFAULT_CONFIG, seed: int = 0, lora_steps: int = 0,
                        optimizer: Optimizer = DEFAULT_OPTIMIZER) -> BackwardComparison:
    """Per-group gradient norms and matrices for one step: full fine-tuning vs LoRA."""
    pre = pretrained or pretrain()
    train = load_sentiment().train
    if lora_steps:
        adapters = train_lora(pre.params, config, train.x, train.y, seed=seed, steps=lora_steps,
                              optimizer=optimizer).adapters
    else:
        adapters = lora_mlp.init_adapters(pre.params, config, seed)
    loss, full = lora_mlp.loss_and_grads(pre.params, [], NO_ADAPTERS, train.x, train.y)
    _, lora = lora_mlp.loss_and_grads(pre.params, adapters, config, train.x, train.y)
    full_w = tuple(g["W"].T for g in full.base)
    full_b = tuple(g["b"] for g in full.base)
    lora_a = tuple(g["A"] for g in lora.adapters)
    lora_b = tuple(g["B"] for g in lora.adapters)
    groups, matrices = [], []
    for index in range(len(full_w)):
        groups += [f"W{index + 1}", f"b{index + 1}"]
        matrices += [full_w[index], full_b[index]]
    for j, index in enumerate(config.layers):
        groups += [f"A{index + 1}", f"B{index + 1}"]
        matrices += [lora_a[j], lora_b[j]]
    return BackwardComparison(
        config=config, lora_steps=lora_steps, loss=loss, full_W=full_w, full_b=full_b,
        lora_A=lora_a, lora_B=lora_b, groups=tuple(groups),
        norms=np.array([np.linalg.norm(m) for m in matrices]),
        sizes=np.array([m.size for m in matrices]))


# ==================================================================== one forward pass


@dataclass(frozen=True)
class ForwardTrace:
    """One test sentence through the LoRA-trained model, layer by layer (rows of
    :class:`~models.lora_mlp.LayerTrace`, n = 1).

    ``probs_base``: the base model's probabilities (adapter off), ``probs``: with the adapter.
    """

    text: str
    label: int
    tokens: tuple[str, ...]
    x: np.ndarray
    config: LoRAConfig
    layers: tuple[LayerTrace, ...]
    logits: np.ndarray
    probs: np.ndarray
    probs_base: np.ndarray


def forward_trace(pretrained: Pretrained | None = None, config: LoRAConfig = DEFAULT_CONFIG,
                  seed: int = 0, steps: int = FINETUNE_STEPS, sentence: int = 0,
                  optimizer: Optimizer = DEFAULT_OPTIMIZER) -> ForwardTrace:
    """Train LoRA on sentiment, then trace test sentence ``sentence`` through both paths of
    every layer.

    The default, test sentence 0, is "The bread and the coffee were never stale." (positive,
    features ``(0, 1, 1, 0, 2, 0, 0, 0)``): the base says negative (p(positive) = 0.006), the
    default LoRA run (r = 4, alpha = 8, seed 0, 200 steps) positive (p(positive) = 0.9996).
    """
    pre = pretrained or pretrain()
    data = load_sentiment()
    train, test = data.train, data.test
    run = train_lora(pre.params, config, train.x, train.y, seed=seed, steps=steps,
                     optimizer=optimizer)
    x = test.x[sentence : sentence + 1]
    logits, cache = lora_mlp.forward(pre.params, run.adapters, config, x)
    base_logits, _ = lora_mlp.forward(pre.params, [], NO_ADAPTERS, x)
    return ForwardTrace(text=test.texts[sentence], label=int(test.y[sentence]),
                        tokens=tuple(tokens(test.texts[sentence])), x=x[0], config=config,
                        layers=cache.layers, logits=logits[0], probs=softmax(logits)[0],
                        probs_base=softmax(base_logits)[0])


# ====================================================================== adapter swap


@dataclass(frozen=True)
class AdapterSwap:
    """Two adapters (``tasks``: sentiment, topic) on one frozen base, each merged then
    unmerged in turn.

    Per task: test accuracy of the base alone, with its adapter (unmerged) and merged;
    ``merge_error``: max |logits unmerged - merged| on its test set; ``unmerge_error``: max
    |W restored - W0| over all layers after unmerging it; ``final_error``: the same after both
    swaps.  The swap as a sequence of ``stages`` (the base, then each adapter merged and
    unmerged): ``stage_accuracy[i, t]`` is the test accuracy of the weights of stage ``i`` on
    task ``t``, ``stage_weight_change[i]`` their largest ``|W - W0|`` over all layers.
    """

    tasks: tuple[str, ...]
    config: LoRAConfig
    base_accuracy: np.ndarray
    adapter_accuracy: np.ndarray
    merged_accuracy: np.ndarray
    merge_error: np.ndarray
    unmerge_error: np.ndarray
    final_error: float
    stages: tuple[str, ...]
    stage_accuracy: np.ndarray
    stage_weight_change: np.ndarray


def _largest_weight_change(weights, base) -> float:
    return max(float(np.max(np.abs(w["W"] - p["W"]))) for w, p in zip(weights, base, strict=True))


def adapter_swap(pretrained: Pretrained | None = None, config: LoRAConfig = DEFAULT_CONFIG,
                 seed: int = 0, steps: int = FINETUNE_STEPS,
                 optimizer: Optimizer = DEFAULT_OPTIMIZER) -> AdapterSwap:
    """Train a sentiment and a topic adapter; merge / unmerge each on the same base weights."""
    pre = pretrained or pretrain()
    data = load_sentiment()
    train, test = data.train, data.test
    tasks = (("sentiment", train.y, test.y), ("topic", train.topic, test.topic))
    weights = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in pre.params]
    base_accuracy, adapter_accuracy, merged_accuracy = [], [], []
    merge_errors, unmerge_errors = [], []
    stages, stage_accuracy, stage_change = [], [], []

    def stage(name: str, stage_weights) -> None:
        stages.append(name)
        stage_accuracy.append([lora_mlp.evaluate(stage_weights, [], NO_ADAPTERS, test.x,
                                                 test_y).accuracy for _, _, test_y in tasks])
        stage_change.append(_largest_weight_change(stage_weights, pre.params))

    stage("base", weights)
    for i, (name, train_y, test_y) in enumerate(tasks):
        adapters = train_lora(pre.params, config, train.x, train_y, seed=seed + i, steps=steps,
                              optimizer=optimizer).adapters
        base_accuracy.append(lora_mlp.evaluate(weights, [], NO_ADAPTERS, test.x, test_y).accuracy)
        adapter_accuracy.append(lora_mlp.evaluate(weights, adapters, config, test.x,
                                                  test_y).accuracy)
        merge_errors.append(lora_mlp.merge_error(weights, adapters, config, test.x))
        merged = lora_mlp.merge(weights, adapters, config)
        merged_accuracy.append(lora_mlp.evaluate(merged, [], NO_ADAPTERS, test.x,
                                                 test_y).accuracy)
        stage(f"{name} merged", merged)
        weights = lora_mlp.unmerge(merged, adapters, config)
        unmerge_errors.append(_largest_weight_change(weights, pre.params))
        stage(f"{name} unmerged", weights)
    return AdapterSwap(tasks=tuple(name for name, _, _ in tasks), config=config,
                       base_accuracy=np.array(base_accuracy),
                       adapter_accuracy=np.array(adapter_accuracy),
                       merged_accuracy=np.array(merged_accuracy),
                       merge_error=np.array(merge_errors),
                       unmerge_error=np.array(unmerge_errors),
                       final_error=_largest_weight_change(weights, pre.params),
                       stages=tuple(stages), stage_accuracy=np.array(stage_accuracy),
                       stage_weight_change=np.array(stage_change))
