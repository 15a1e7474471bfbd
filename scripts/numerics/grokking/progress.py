"""The progress measures of Nanda et al. 2023 (Progress measures for grokking via mechanistic
interpretability, arXiv 2301.05217, section 5.1) for the grokking MLP of :mod:`models.modular`.

The network represents a token by waves of a few *key frequencies* k and computes
cos(w_k (a + b)) and sin(w_k (a + b)), w_k = 2 pi k / p, in its neurons (the last hidden
layer's post-ReLU activations, the input of the output layer). Seen as a function of the pair
(a, b) over all p^2 pairs, every neuron's activation splits into its components along the unit
vectors cos(w_k (a + b)) / ||.|| and sin(w_k (a + b)) / ||.|| of the key frequencies, along the
constant direction (its mean), and the rest. Following the authors' code:

* key frequencies: the fewest frequencies holding `share` of the *final* embedding's
  non-constant Fourier power (:func:`numerics.grokking.analysis.key_frequencies`);
* restricted loss: keep only the mean and the key components of every neuron, map them through
  the output layer, shift the logits so that their mean over all pairs equals the real logits'
  mean (the authors' "bias term"; zero for this MLP, whose output layer is affine, see
  :func:`restricted_logits`), cross-entropy on the *validation* pairs. It falls once the
  Fourier circuit alone computes the answer;
* excluded loss: remove the key components (the mean stays), cross-entropy on the *training*
  pairs. It falls with the training loss while the network fits the training pairs without
  needing the key frequencies, and rises once it relies on them;
* Fourier sparsity: the Gini coefficient of the embedding's Fourier power over the frequencies
  k = 1 .. p // 2 (the authors track the Gini coefficient of the norms of the embedding's
  Fourier components); 0 for a flat spectrum, 1 - 1 / (p // 2) for a single frequency.

The same measures for the one-layer transformer of :mod:`models.transformer` (the
``transformer_*`` functions, after the authors' code): the neurons are the MLP's post-ReLU
activations at the final position ("="); the restricted and excluded activations go through
W_out and b_out into the residual stream, whose attention part (the residual after attention)
is kept unchanged, and through the unembedding W_U; the Fourier sparsity and the key
frequencies are those of the number tokens' embedding W_E[:p]. Computed in float64 from the
float32 parameters.

Plain numpy, no drawing. :func:`detect_phases` locates the three phases from these measures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import mlp, modular, transformer
from models.mlp import Params
from numerics.grokking import analysis

#: Key frequencies: the fewest that hold this share of the final embedding's non-constant
#: Fourier power (the share the fourier_features figure uses).
KEY_SHARE = 0.8


# ---- the p x p grid and its Fourier directions ------------------------------------------------
def pair_grid(p: int) -> tuple[np.ndarray, np.ndarray]:
    """All p * p pairs (a, b) in the order of :func:`models.modular.split`: index a * p + b."""
    a, b = np.divmod(np.arange(p * p), p)
    return a, b


def key_directions(p: int, key) -> np.ndarray:
    """(p * p, 2 * len(key)) unit vectors over the grid: for each frequency k of `key`,
    cos(w_k (a + b)) and sin(w_k (a + b)), each divided by its norm. For 1 <= k < p / 2 they are
    orthonormal and orthogonal to the constant direction."""
    key = np.asarray(key, int)
    if np.any((key < 1) | (2 * key >= p)):
        raise ValueError(f"key frequencies must lie in 1 .. {(p - 1) // 2}, got {key}")
    a, b = pair_grid(p)
    angle = 2 * np.pi * np.outer((a + b) % p, key) / p
    columns = np.stack([np.cos(angle), np.sin(angle)], axis=2).reshape(p * p, -1)
    return columns / np.linalg.norm(columns, axis=0)


def key_component(acts: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """The part of every neuron's activation (the columns of `acts`, rows over the grid) that
    lies in the span of `directions` (orthonormal columns): D (D^T acts)."""
    return directions @ (directions.T @ acts)


def restricted_activations(acts: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Every neuron's mean over the grid plus its key components."""
    return acts.mean(axis=0) + key_component(acts, directions)


def excluded_activations(acts: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Every neuron's activation minus its key components (its mean stays)."""
    return acts - key_component(acts, directions)


# ---- the network ------------------------------------------------------------------------------
def neurons_and_logits(params: Params, p: int) -> tuple[np.ndarray, np.ndarray]:
    """(activations (p * p, hidden) of the last hidden layer after ReLU, logits (p * p, p)) of
    the :mod:`models.modular` network on every pair of the grid."""
    a, b = pair_grid(p)
    logits, cache = modular.forward(params, a, b)
    return cache.rest.inputs[-1], logits


def output_layer(acts: np.ndarray, params: Params) -> np.ndarray:
    """Logits of last-hidden-layer activations: acts @ W_out + b_out."""
    return acts @ params[-1]["W"] + params[-1]["b"]


def restricted_logits(acts: np.ndarray, logits: np.ndarray, params: Params,
                      directions: np.ndarray) -> np.ndarray:
    """Logits of the restricted activations, shifted so that their mean over the grid equals
    the real logits' mean. (The restricted activations keep each neuron's mean and the output
    layer is affine, so the shift is zero up to rounding; the authors need it for the
    transformer's skip connection around the MLP.)"""
    restricted = output_layer(restricted_activations(acts, directions), params)
    return restricted + logits.mean(axis=0) - restricted.mean(axis=0)


def excluded_logits(acts: np.ndarray, params: Params, directions: np.ndarray) -> np.ndarray:
    """Logits of the activations without their key components."""
    return output_layer(excluded_activations(acts, directions), params)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy (:func:`models.mlp.softmax_cross_entropy`)."""
    return mlp.softmax_cross_entropy(logits, labels)[0]


def gini(values) -> float:
    """Gini coefficient of non-negative values (Hurley & Rickard 2009, the measure of sparsity
    Nanda et al. use): sum_i (2 i - n - 1) x_(i) / (n sum x) over the values sorted ascending;
    0 when all are equal, 1 - 1 / n when one holds everything."""
    x = np.sort(np.asarray(values, float))
    if x.ndim != 1 or len(x) == 0 or np.any(x < 0) or x.sum() <= 0:
        raise ValueError("gini needs a non-empty vector of non-negative values, not all zero")
    n = len(x)
    return float(np.dot(2 * np.arange(1, n + 1) - n - 1, x) / (n * x.sum()))


# ---- over training ----------------------------------------------------------------------------
#: The columns of :func:`measures_over_training`, in order.
COLUMNS = ("step", "train_loss", "val_loss", "restricted_loss", "excluded_loss",
           "fourier_gini", "train_acc", "val_acc", "restricted_acc", "excluded_acc",
           "key_share")


def measures(params: Params, split: modular.Split, directions: np.ndarray, key) -> dict:
    """The progress measures of one set of parameters (the columns of :data:`COLUMNS` but
    `step`): losses and accuracies of the real, restricted (validation pairs) and excluded
    (training pairs) logits, the Gini coefficient of the embedding's Fourier power and the
    share of that power in the key frequencies."""
    p = params[-1]["W"].shape[1]
    acts, logits = neurons_and_logits(params, p)
    train = split.a_train * p + split.b_train
    val = split.a_val * p + split.b_val
    restricted = restricted_logits(acts, logits, params, directions)
    excluded = excluded_logits(acts, params, directions)
    power = analysis.fourier_power(params[0]["E"])
    return _columns(logits, restricted, excluded, power, split, train, val, key)


def _columns(logits, restricted, excluded, power, split, train, val, key) -> dict:
    """The measures of one snapshot from its real, restricted and excluded logits over all
    pairs (rows `train` and `val` of them) and its embedding's Fourier power."""
    return {
        "train_loss": cross_entropy(logits[train], split.y_train),
        "val_loss": cross_entropy(logits[val], split.y_val),
        "restricted_loss": cross_entropy(restricted[val], split.y_val),
        "excluded_loss": cross_entropy(excluded[train], split.y_train),
        "fourier_gini": gini(power[1:]),
        "train_acc": mlp.accuracy(logits[train], split.y_train),
        "val_acc": mlp.accuracy(logits[val], split.y_val),
        "restricted_acc": mlp.accuracy(restricted[val], split.y_val),
        "excluded_acc": mlp.accuracy(excluded[train], split.y_train),
        "key_share": float(power[np.asarray(key, int)].sum()),
    }


def measures_over_training(snapshots: dict[int, Params], split: modular.Split, share: float
                           ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(key frequencies, {column: values over the snapshots' steps, ascending}): the key
    frequencies are chosen once, from the embedding of the last snapshot, and used at every
    step (as the authors do with the final model's)."""
    last = snapshots[max(snapshots)][0]["E"]
    key = analysis.key_frequencies(analysis.fourier_power(last), share)
    return key, measures_with_key(snapshots, split, key)


def measures_with_key(snapshots: dict[int, Params], split: modular.Split, key
                      ) -> dict[str, np.ndarray]:
    """The columns of :data:`COLUMNS` over the snapshots' steps, ascending, for given key
    frequencies."""
    steps = sorted(snapshots)
    p = snapshots[steps[0]][0]["E"].shape[0]
    directions = key_directions(p, key)
    rows = [measures(snapshots[step], split, directions, key) for step in steps]
    columns = {"step": np.array(steps, float)}
    columns.update({name: np.array([row[name] for row in rows], float)
                    for name in COLUMNS[1:]})
    return columns


# ---- the one-layer transformer (models.transformer) ------------------------------------------
def transformer_neurons(params: Params, n_heads: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neurons (p * p, d_mlp): the MLP's post-ReLU activations at the final position, residual
    (p * p, d) after attention at that position, logits (p * p, p)) of the
    :mod:`models.transformer` network on every pair of the grid, in float64."""
    params = mlp.map_params(lambda w: np.asarray(w, np.float64), params)
    p = params[3]["W_U"].shape[1]
    a, b = pair_grid(p)
    logits, cache = transformer.forward(params, transformer.tokens(p, a, b), n_heads)
    return cache.h, cache.r, logits


def transformer_output(acts: np.ndarray, residual: np.ndarray, params: Params) -> np.ndarray:
    """Logits of neuron activations, as :func:`models.transformer.forward` computes them after
    the MLP: (residual + acts @ W_out + b_out) @ W_U, the residual after attention unchanged."""
    ml, un = mlp.map_params(lambda w: np.asarray(w, np.float64), params[2:])
    return (residual + acts @ ml["W_out"] + ml["b_out"]) @ un["W_U"]


def transformer_restricted_logits(acts: np.ndarray, residual: np.ndarray, logits: np.ndarray,
                                  params: Params, directions: np.ndarray) -> np.ndarray:
    """Logits of the restricted activations (the residual after attention kept), shifted so
    that their mean over the grid equals the real logits' mean (the authors' bias term; zero up
    to rounding here too, since the restricted activations keep each neuron's mean)."""
    restricted = transformer_output(restricted_activations(acts, directions), residual, params)
    return restricted + logits.mean(axis=0) - restricted.mean(axis=0)


def transformer_excluded_logits(acts: np.ndarray, residual: np.ndarray, params: Params,
                                directions: np.ndarray) -> np.ndarray:
    """Logits of the activations without their key components (the residual kept)."""
    return transformer_output(excluded_activations(acts, directions), residual, params)


def transformer_embedding_power(params: Params) -> np.ndarray:
    """:func:`numerics.grokking.analysis.fourier_power` of the number tokens' embedding
    W_E[:p] (the "=" row left out)."""
    p = params[3]["W_U"].shape[1]
    return analysis.fourier_power(np.asarray(params[0]["W_E"][:p], np.float64))


def transformer_measures(params: Params, split: modular.Split, directions: np.ndarray, key,
                         n_heads: int) -> dict:
    """The columns of :data:`COLUMNS` but `step` for one set of transformer parameters, as
    :func:`measures` computes them for the MLP."""
    p = params[3]["W_U"].shape[1]
    acts, residual, logits = transformer_neurons(params, n_heads)
    train = split.a_train * p + split.b_train
    val = split.a_val * p + split.b_val
    restricted = transformer_restricted_logits(acts, residual, logits, params, directions)
    excluded = transformer_excluded_logits(acts, residual, params, directions)
    power = transformer_embedding_power(params)
    return _columns(logits, restricted, excluded, power, split, train, val, key)


def transformer_measures_over_training(snapshots: dict[int, Params], split: modular.Split,
                                       share: float, n_heads: int
                                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(key frequencies, columns): :func:`measures_over_training` for the transformer; the key
    frequencies from the last snapshot's W_E[:p]."""
    power = transformer_embedding_power(snapshots[max(snapshots)])
    key = analysis.key_frequencies(power, share)
    return key, transformer_measures_with_key(snapshots, split, key, n_heads)


def transformer_measures_with_key(snapshots: dict[int, Params], split: modular.Split, key,
                                  n_heads: int) -> dict[str, np.ndarray]:
    """The columns of :data:`COLUMNS` over the snapshots' steps, ascending, for given key
    frequencies."""
    steps = sorted(snapshots)
    p = snapshots[steps[0]][3]["W_U"].shape[1]
    directions = key_directions(p, key)
    rows = [transformer_measures(snapshots[step], split, directions, key, n_heads)
            for step in steps]
    columns = {"step": np.array(steps, float)}
    columns.update({name: np.array([row[name] for row in rows], float)
                    for name in COLUMNS[1:]})
    return columns


# ---- the three phases, located from the measures ----------------------------------------------
#: Cleanup ends once the validation loss is within this factor of the restricted loss (within a
#: decade of it on a log axis): the whole network's loss on unseen pairs has come down close to
#: that of its Fourier circuit alone.
MEET_FACTOR = 10.0


@dataclass(frozen=True)
class MeasurePhases:
    """The boundaries of the three phases in steps (None: not reached in the run).

    memorization_end: the step at which the excluded loss is lowest: until then it falls with
        the training loss (what the network learns fits the training pairs even without the
        key frequencies); after it, it rises (the fit comes to rely on them).
    circuit_end: the first step after memorization_end from which the validation loss stays
        below ln p, the loss of a uniform guess over the p answers, to the end of the run: until
        then the validation loss is "still high" while the excluded loss rises and the
        restricted loss falls (circuit formation).
    cleanup_end: the first step after circuit_end from which the validation loss stays within
        MEET_FACTOR of the restricted loss to the end of the run: the validation loss has come
        down to meet the restricted loss (cleanup).
    """

    memorization_end: float | None
    circuit_end: float | None
    cleanup_end: float | None
    chance_loss: float        # ln p
    meet_factor: float

    def spans(self, last_step: float) -> dict[str, tuple[float, float]]:
        """{phase: (start, end)} of the phases the run reached; after cleanup, "generalized"
        until `last_step`."""
        names = ("memorization", "circuit formation", "cleanup", "generalized")
        ends = (self.memorization_end, self.circuit_end, self.cleanup_end, last_step)
        spans, start = {}, 0.0
        for name, end in zip(names, ends, strict=True):
            if end is None:
                spans[name] = (start, last_step)
                break
            spans[name] = (start, float(end))
            start = float(end)
        return spans


def first_step_from_which(steps, holds, after: float) -> float | None:
    """The first step later than `after` from which `holds` is true at every logged step to the
    end of the run; None when it is false at the last step."""
    steps, holds = np.asarray(steps, float), np.asarray(holds, bool)
    if len(holds) == 0 or not holds[-1]:
        return None
    failing = np.flatnonzero(~holds)
    start = failing[-1] + 1 if len(failing) else 0
    later = np.flatnonzero(steps > after)
    if len(later) == 0:
        return None
    return float(steps[max(start, later[0])])


def detect_phases(columns: dict[str, np.ndarray], p: int,
                  meet_factor: float = MEET_FACTOR) -> MeasurePhases:
    """The three phases of a run from its progress measures (see :class:`MeasurePhases`);
    `columns` as :func:`measures_over_training` returns them."""
    steps = np.asarray(columns["step"], float)
    excluded = np.asarray(columns["excluded_loss"], float)
    val = np.asarray(columns["val_loss"], float)
    restricted = np.asarray(columns["restricted_loss"], float)
    chance = float(np.log(p))
    lowest = int(np.argmin(excluded))
    memorization_end = float(steps[lowest]) if lowest < len(steps) - 1 else None
    circuit_end = cleanup_end = None
    if memorization_end is not None:
        circuit_end = first_step_from_which(steps, val < chance, memorization_end)
    if circuit_end is not None:
        cleanup_end = first_step_from_which(steps, val <= meet_factor * restricted, circuit_end)
    return MeasurePhases(memorization_end, circuit_end, cleanup_end, chance, meet_factor)


def meetings(columns: dict[str, np.ndarray], after: float, meet_factor: float = MEET_FACTOR
             ) -> tuple[np.ndarray, np.ndarray]:
    """(steps at which the validation loss comes within `meet_factor` of the restricted loss,
    steps at which it leaves that band), both later than `after`: where the cleanup rule of
    :func:`detect_phases` finds no lasting end (the transformer, whose restricted loss sinks
    with its training loss and jumps with its loss spikes)."""
    steps = np.asarray(columns["step"], float)
    meets = (np.asarray(columns["val_loss"], float)
             <= meet_factor * np.asarray(columns["restricted_loss"], float))
    later = steps > after
    change = np.flatnonzero(np.diff(meets.astype(int)) != 0) + 1
    change = change[later[change]]
    return steps[change[meets[change]]], steps[change[~meets[change]]]
