"""LoRA on a toy MLP in plain numpy: adapters, hand-written backprop, merging, and the runs behind the figures.

What this module models
-----------------------
LoRA (Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang, Chen 2021, "LoRA: Low-Rank Adaptation of
Large Language Models", arXiv 2106.09685) freezes a pre-trained weight ``W0`` and learns a
low-rank update ``Delta W = B A`` beside it (Sec. 4.1, Eq. 3)::

    h = W0 x + Delta W x = W0 x + (alpha / r) B A x

with ``W0 in R^{d x k}`` (d outputs, k inputs), ``B in R^{d x r}``, ``A in R^{r x k}``,
``r << min(d, k)``.  Sec. 4.1: "We use a random Gaussian initialization for A and zero for B,
so Delta W = BA is zero at the beginning of training.  We then scale Delta W x by alpha/r,
where alpha is a constant in r. [...] This scaling helps to reduce the need to retune
hyperparameters when we vary r."  Sec. 4.2: merging ``W = W0 + BA`` gives no inference
latency, and one switches task "by recovering W0 by subtracting BA and then adding a
different B'A'".

Conventions (float64 throughout)
--------------------------------
* The base model is an :mod:`models.mlp` parameter list (:data:`models.mlp.Params`) of
  sizes :data:`SIZES` = 8 -> 16 -> 16 -> 2, ReLU hidden layers, linear output, softmax
  cross-entropy.  **mlp.py stores the transpose of the paper's matrix**: ``base[l]["W"]`` has
  shape ``(k, d)`` = (inputs, outputs) and a layer computes ``z = h @ W + b`` with one
  sample per row, so ``base[l]["W"] = W0.T``.
* Adapters are stored in the **paper's** layout: ``A`` is ``(r, k)``, ``B`` is ``(d, r)``.
  For a batch ``X`` (n, k) the LoRA path is ``(alpha/r) (X @ A.T) @ B.T``, i.e. row ``i`` is
  ``(alpha/r) B A x_i``.  :func:`delta_weights` returns ``Delta W = (alpha/r) B A`` as
  ``(d, k)`` (paper layout); :func:`merge` adds its transpose to the stored ``W``.
* :class:`LoRAConfig` names the adapted layers explicitly (``layers``, 0-based indices; the
  output layer is index 2).  An :data:`Adapters` list holds one ``{"A", "B"}`` dict per entry
  of ``config.layers``, in that order.  During LoRA training only these ``A`` and ``B`` are
  handed to the optimizer; every base ``W`` and ``b`` (also of adapted layers) is frozen.
* Initialisation: ``B = 0``; ``A ~ N(0, 1 / (3 k))``.  The paper says "random Gaussian"
  without a scale; the reference code (microsoft/LoRA, ``loralib/layers.py``,
  ``Linear.reset_parameters``) uses ``nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5))``,
  i.e. U(-1/sqrt(k), 1/sqrt(k)) whose standard deviation is 1/sqrt(3k).  We keep the paper's
  Gaussian and the reference code's standard deviation.
* Losses are batch means; optimizers are :class:`models.mlp.Adam` (default; the paper
  trains with AdamW) or :class:`models.mlp.SGD`, full batch, so a run is deterministic given
  its seed.  Pass one :class:`Pretrained` to every experiment to pre-train only once.

Data and tasks
--------------
* ``data/lora/sentiment.tsv``: 128 short English sentences written for this project (CC0), a
  2 x 2 design -- sentiment (positive / negative) x topic (food / film), 32 per cell; sentence
  ``j`` of a negative cell mirrors sentence ``j`` of the positive cell of the same topic.  12 of
  the 32 pairs per topic carry a negation ("The soup was not bad." / "The soup was not good.").
  See ``data/lora/README.md`` for the constructions.
* Features (:func:`sentence_features`): **lexicon counts**.  ``data/lora/lexicon.tsv`` (CC0,
  written for this project) assigns 89 words to the :data:`GROUPS` = (positive, negative,
  negation, intensifier, food, film, contrast, hedge); feature ``g`` of a sentence is the number
  of its :func:`tokens` (lower-case runs of ``a-z``, minus :data:`STOPWORDS`) that belong to group
  ``g``; other words are ignored.  No normalisation: "The soup was not bad." -> negative 1,
  negation 1, food 1, i.e. ``(0, 1, 1, 0, 1, 0, 0, 0)``.  The counts say *that* a sentence holds a
  negation, not *what* it negates, so sentiment is not a sum of word polarities: with every
  sentence of the set, "positive" = (more positive than negative words) XOR (a negation is
  present) -- an interaction a linear read-out of the counts cannot represent ("good",
  "bad", "not good", "not bad" form an XOR), which the MLP has to learn.  As this rule holds
  for all 128 sentences, the label is a function of the features and test accuracy 1 is
  attainable; the sentences avoid what counts cannot express (mixed-polarity clauses joined by
  "but", negations that do not scope over the evaluative word).
* Split (:func:`load_sentiment`): sentence ``j`` (0-based, file order) of the (label, topic)
  cell is test when ``(j + 2 * label + topic) % 4 == 3`` (label 0 negative / 1 positive, topic
  0 food / 1 film) -- 8 of 32 per cell, 96 train / 32 test, balanced in labels and topics.  The
  offset keeps the two halves of a positive / negative pair out of the test set together; as
  the file lists the pairs in blocks of four (one construction per block, see the README), each
  block has one test sentence per cell, and 12 of the 32 test sentences are negated.  The sentences were written so that none of the 32 test
  feature vectors occurs in the training split (unseen combinations of group counts; every
  lexicon word of a test sentence also occurs in a training sentence), so a test sentence
  cannot be answered by looking up a training sentence with the same features.
* Pre-training (:func:`pretraining_task`, :func:`pretrain`): LoRA adapts a *pre-trained*
  model, so the base MLP first learns a related but different task on the same feature space:
  **lexical polarity**.  1,000 synthetic count vectors (plus 500 validation, 500 test) drawn
  like the sentences' counts -- 1 to 3 evaluative words, each positive or negative with
  probability 1/2; negation, intensifier, contrast, hedge present (count 1) with probability
  0.3 each; 0 to 2 words of one topic -- labelled 1 when ``positive - negative + 0.5 eps``
  (``eps ~ N(0, 1)``, label noise that decides ties) exceeds its median over the training draws.
  The teacher ignores negation: the base learns which words are positive and negative, not what
  "not" does, so it gets plain sentences right and negated ones wrong.  Fine-tuning re-uses the
  same 2-way output layer for sentiment (0 = negative, 1 = positive) -- LoRA has to add the
  negation interaction -- and, for the adapter-swap demonstration, topic (0 = food, 1 = film),
  which the base does not know at all.

Other sources: effective rank of Roy & Vetterli 2007 ("The effective rank: a measure of
effective dimensionality", EUSIPCO), ``exp`` of the entropy of the normalised singular values.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from models.mlp import SGD, Adam, Params, activate, activate_grad, init_params, softmax, softmax_cross_entropy

Adapter = dict[str, np.ndarray]
Adapters = list[Adapter]
Optimizer = Adam | SGD

SIZES: tuple[int, ...] = (8, 16, 16, 2)
"""Layer widths ``[d_in, h_1, h_2, n_classes]`` of the toy model."""
ALL_LAYERS: tuple[int, ...] = (0, 1, 2)
HIDDEN_LAYERS: tuple[int, ...] = (0, 1)
RANKS: tuple[int, ...] = (1, 2, 4, 8, 16)
N_FEATURES = 8
ACTIVATION = "relu"

DATA_PATH = Path(__file__).resolve().parents[2] / "data" / "lora" / "sentiment.tsv"
LEXICON_PATH = DATA_PATH.parent / "lexicon.tsv"
LABELS = ("negative", "positive")
TOPICS = ("food", "film")
GROUPS: tuple[str, ...] = ("positive", "negative", "negation", "intensifier", "food", "film", "contrast", "hedge")
"""The lexicon's word groups, in feature order: feature ``g`` counts the words of ``GROUPS[g]``."""
POSITIVE, NEGATIVE, NEGATION, INTENSIFIER, FOOD, FILM, CONTRAST, HEDGE = range(8)

STOPWORDS: frozenset[str] = frozenset(
    "a an the and or of to in on at for with this that it i we was were is are be "
    "have has had will would such".split()
)
"""Function words dropped by :func:`tokens` (negations and the contrast word "but" are kept);
none of them is in the lexicon, so they never count."""

LR = 1e-2
"""Adam learning rate for pre-training and both kinds of fine-tuning."""
PRETRAIN_MAX_STEPS = 200
"""Upper bound for pre-training; :func:`pretrain` keeps the step with the lowest validation loss."""
FINETUNE_STEPS = 200
"""Full-batch steps of every fine-tuning run.  Chosen by 5-fold cross-validation on the 96
sentiment *train* sentences (fold = index mod 5; LoRA r = 4, alpha = 8 and full fine-tuning;
50 / 100 / 200 / 400 steps at the learning rates 3e-3 / 1e-2 / 3e-2).  At lr 1e-2 the held-out
accuracy was 0.99 / 1.00 / 1.00 / 1.00 (LoRA) and 0.94 / 1.00 / 1.00 / 1.00 (full), the
held-out cross-entropy 0.097 / 0.012 / 0.005 / 0.003 (LoRA) and 0.217 / 0.017 / 0.003 / 0.001
(full): 200 steps is past the accuracy plateau, 400 gains little.  :data:`LR` = 1e-2 kept (3e-3
needed 200 steps to plateau, 3e-2 reached it within 50).  The test split played no part."""
DEFAULT_ALPHA = 8.0
DEFAULT_RANK = 4


# =========================================================================== data


def tokens(text: str) -> list[str]:
    """Lower-case runs of ``a-z`` in ``text``, without :data:`STOPWORDS`."""
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOPWORDS]


@lru_cache(maxsize=None)
def lexicon(path: Path | str = LEXICON_PATH) -> dict[str, int]:
    """Read ``word<TAB>group`` rows of ``lexicon.tsv``: word -> index into :data:`GROUPS`.

    Raises ``ValueError`` for a bad header, an unknown group, a repeated word, or a word that
    :func:`tokens` could not produce (not lower-case ``a-z``, or a stop word).  Cached; treat the
    returned dict as read-only.
    """
    rows = Path(path).read_text(encoding="utf-8").splitlines()
    if rows[0].split("\t") != ["word", "group"]:
        raise ValueError(f"{path}: header must be word, group")
    out: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        word, group = row.split("\t")
        if group not in GROUPS or word in out or not re.fullmatch(r"[a-z]+", word) or word in STOPWORDS:
            raise ValueError(f"{path}:{lineno}: bad entry {word!r} -> {group!r}")
        out[word] = GROUPS.index(group)
    return out


def sentence_features(text: str, n: int = N_FEATURES) -> np.ndarray:
    """Lexicon counts: entry ``g`` is the number of :func:`tokens` of ``text`` in group ``GROUPS[g]``.

    Words outside :func:`lexicon` are ignored; no normalisation.  ``n`` must equal
    ``len(GROUPS)`` = :data:`N_FEATURES` (the parameter is kept from the hashing rule this replaced).
    Example: "The film was not good." -> tokens film, not, good -> ``(1, 0, 1, 0, 0, 1, 0, 0)``.
    """
    if n != len(GROUPS):
        raise ValueError(f"the lexicon has {len(GROUPS)} groups, not {n}")
    v = np.zeros(n)
    lex = lexicon()
    for word in tokens(text):
        g = lex.get(word)
        if g is not None:
            v[g] += 1.0
    return v


@dataclass(frozen=True)
class Split:
    """Sentences with features ``x`` (n, 8), sentiment ``y`` (0 neg, 1 pos) and ``topic`` (0 food, 1 film)."""

    texts: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    topic: np.ndarray

    @property
    def negated(self) -> np.ndarray:
        """Boolean mask of the sentences with at least one negation word."""
        return self.x[:, NEGATION] > 0

    @property
    def lexical_polarity(self) -> np.ndarray:
        """1 where a sentence has more positive than negative words, else 0 (what the pre-training teacher sees)."""
        return (self.x[:, POSITIVE] > self.x[:, NEGATIVE]).astype(int)


@dataclass(frozen=True)
class SentimentData:
    """The sentiment set, split deterministically into train and test (see module docstring)."""

    train: Split
    test: Split


def load_sentiment(path: Path | str = DATA_PATH) -> SentimentData:
    """Read ``label<TAB>topic<TAB>text`` rows; sentence ``j`` of cell (label, topic) is test iff ``(j + 2 label + topic) % 4 == 3``."""
    rows = Path(path).read_text(encoding="utf-8").splitlines()
    if rows[0].split("\t") != ["label", "topic", "text"]:
        raise ValueError(f"{path}: header must be label, topic, text")
    seen: dict[tuple[str, str], int] = {}
    parts: dict[bool, list[tuple[str, int, int]]] = {False: [], True: []}
    for lineno, row in enumerate(rows[1:], start=2):
        label, topic, text = row.split("\t")
        if label not in LABELS or topic not in TOPICS:
            raise ValueError(f"{path}:{lineno}: unknown label {label!r} or topic {topic!r}")
        pos = seen.get((label, topic), 0)
        seen[(label, topic)] = pos + 1
        lab, top = LABELS.index(label), TOPICS.index(topic)
        parts[(pos + 2 * lab + top) % 4 == 3].append((text, lab, top))

    def split(items: list[tuple[str, int, int]]) -> Split:
        texts = tuple(t for t, _, _ in items)
        return Split(texts, np.array([sentence_features(t) for t in texts]),
                     np.array([l for _, l, _ in items]), np.array([p for _, _, p in items]))

    return SentimentData(split(parts[False]), split(parts[True]))


@dataclass(frozen=True)
class PretrainingTask:
    """Synthetic lexicon-count vectors labelled by lexical polarity: train, validation (early stopping) and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


PRETRAIN_NOISE = 0.5
"""Standard deviation of the Gaussian label noise added to ``positive - negative`` by the pre-training teacher."""
PRETRAIN_MARKER_P = 0.3
"""Probability that a synthetic pre-training example has a negation (and, independently, an intensifier, a contrast
word, a hedge)."""


def pretraining_task(seed: int = 0, n_train: int = 1000, n_val: int = 500, n_test: int = 500, width: int = 32
                     ) -> PretrainingTask:
    """Synthetic count vectors (feature order :data:`GROUPS`) labelled by a noisy lexical-polarity teacher.

    Per example: ``m ~ U{1, 2, 3}`` evaluative words, ``positive ~ Bin(m, 1/2)``,
    ``negative = m - positive``; negation, intensifier, contrast, hedge each ``Bernoulli(0.3)``;
    one topic (food or film, probability 1/2) with ``U{0, 1, 2}`` words.  Label 1 when
    ``positive - negative + 0.5 eps`` (``eps ~ N(0, 1)``) exceeds the median over the training
    draws (so exactly half of the training labels are 1).  The teacher ignores negation.
    ``width`` is ignored (it sized the random teacher of an earlier version).
    """
    del width
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    x = np.zeros((n, N_FEATURES))
    m = rng.integers(1, 4, size=n)
    x[:, POSITIVE] = rng.binomial(m, 0.5)
    x[:, NEGATIVE] = m - x[:, POSITIVE]
    for g in (NEGATION, INTENSIFIER, CONTRAST, HEDGE):
        x[:, g] = rng.random(n) < PRETRAIN_MARKER_P
    topic = rng.integers(0, 2, size=n)
    x[np.arange(n), np.where(topic == 0, FOOD, FILM)] = rng.integers(0, 3, size=n)
    score = x[:, POSITIVE] - x[:, NEGATIVE] + PRETRAIN_NOISE * rng.normal(size=n)
    y = (score > np.median(score[:n_train])).astype(int)
    a, b = n_train, n_train + n_val
    return PretrainingTask(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


# ========================================================================= the model


@dataclass(frozen=True)
class LoRAConfig:
    """Rank ``r``, ``alpha`` and the (0-based) indices of the adapted layers; ``scale = alpha / r``."""

    rank: int = DEFAULT_RANK
    alpha: float = DEFAULT_ALPHA
    layers: tuple[int, ...] = ALL_LAYERS

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")
        if list(self.layers) != sorted(set(self.layers)) or any(l < 0 for l in self.layers):
            raise ValueError(f"layers must be distinct, ascending, non-negative: {self.layers}")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


NO_ADAPTERS = LoRAConfig(layers=())
"""A configuration adapting nothing: the plain base model (used for full fine-tuning)."""


def _check(base: Params, adapters: Adapters, config: LoRAConfig) -> None:
    if len(adapters) != len(config.layers):
        raise ValueError(f"{len(adapters)} adapters for {len(config.layers)} adapted layers")
    if config.layers and config.layers[-1] >= len(base):
        raise ValueError(f"layer index {config.layers[-1]} out of range for {len(base)} layers")


def init_adapters(base: Params, config: LoRAConfig, seed: int | np.random.Generator = 0) -> Adapters:
    """``A ~ N(0, 1/(3k))`` of shape (r, k), ``B = 0`` of shape (d, r) for every adapted layer."""
    rng = np.random.default_rng(seed)
    adapters: Adapters = []
    for l in config.layers:
        k, d = base[l]["W"].shape
        adapters.append({"A": rng.normal(0.0, 1.0 / np.sqrt(3.0 * k), size=(config.rank, k)),
                         "B": np.zeros((d, config.rank))})
    return adapters


def trainable_parameters(config: LoRAConfig, sizes: Sequence[int] = SIZES) -> int:
    """``sum over adapted layers of r (d + k)``: the entries of ``A`` and ``B``."""
    return sum(config.rank * (sizes[l] + sizes[l + 1]) for l in config.layers)


def delta_weights(adapters: Adapters, config: LoRAConfig) -> tuple[np.ndarray, ...]:
    """``Delta W = (alpha/r) B A`` per adapted layer, paper layout ``(d, k)``."""
    return tuple(config.scale * (ad["B"] @ ad["A"]) for ad in adapters)


def merge(base: Params, adapters: Adapters, config: LoRAConfig) -> Params:
    """New parameters with ``W' = W0 + (alpha/r) B A`` (stored transposed, as mlp.py does)."""
    _check(base, adapters, config)
    out = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in base]
    for l, dw in zip(config.layers, delta_weights(adapters, config)):
        out[l]["W"] = out[l]["W"] + dw.T
    return out


def unmerge(merged: Params, adapters: Adapters, config: LoRAConfig) -> Params:
    """Inverse of :func:`merge`: ``W0 = W' - (alpha/r) B A`` (exact up to float rounding)."""
    _check(merged, adapters, config)
    out = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in merged]
    for l, dw in zip(config.layers, delta_weights(adapters, config)):
        out[l]["W"] = out[l]["W"] - dw.T
    return out


@dataclass(frozen=True)
class LayerTrace:
    """One layer's forward pass, one row per sample; ``x`` is the input ``(n, k)``.

    ``base_path = x W0^T`` (n, d); ``down = x A^T`` (n, r) and ``lora_path = (alpha/r) x A^T B^T``
    (n, d), both ``None`` when the layer is not adapted; ``z = base_path + lora_path + bias``;
    ``out = relu(z)`` (hidden) or ``z`` (output layer, the logits).
    """

    x: np.ndarray
    base_path: np.ndarray
    down: np.ndarray | None
    lora_path: np.ndarray | None
    bias: np.ndarray
    z: np.ndarray
    out: np.ndarray
    adapted: bool


@dataclass(frozen=True)
class LoRACache:
    """Every layer's :class:`LayerTrace`; what :func:`lora_backward` needs."""

    layers: tuple[LayerTrace, ...]


def lora_forward(base: Params, adapters: Adapters, config: LoRAConfig, x: np.ndarray) -> tuple[np.ndarray, LoRACache]:
    """Logits of the adapted model and the cache with both paths of every layer (Eq. 3)."""
    _check(base, adapters, config)
    by_layer = dict(zip(config.layers, adapters))
    h = np.asarray(x, dtype=np.float64)
    last = len(base) - 1
    traces = []
    for l, layer in enumerate(base):
        base_path = h @ layer["W"]
        ad = by_layer.get(l)
        if ad is None:
            down = lora_path = None
            z = base_path + layer["b"]
        else:
            down = h @ ad["A"].T
            lora_path = config.scale * (down @ ad["B"].T)
            z = base_path + lora_path + layer["b"]
        out = z if l == last else activate(z, ACTIVATION)
        traces.append(LayerTrace(h, base_path, down, lora_path, layer["b"], z, out, ad is not None))
        h = out
    return h, LoRACache(tuple(traces))


@dataclass(frozen=True)
class LoRAGrads:
    """Gradients: ``base`` like the base params (``W`` in mlp layout (k, d), ``b``); ``adapters`` like the adapters."""

    base: Params
    adapters: Adapters


def lora_backward(base: Params, adapters: Adapters, config: LoRAConfig, cache: LoRACache, dout: np.ndarray) -> LoRAGrads:
    """Hand-written backprop of ``dout = dL/dlogits`` through both paths of every layer.

    With ``dz = dL/dz`` (n, d) of a layer and its input ``x`` (n, k):
    ``dL/dW0^T = x^T dz``, ``dL/db = sum_n dz``, ``dL/dB = (alpha/r) dz^T (x A^T)``,
    ``dL/dA = (alpha/r) (dz B)^T x``, ``dL/dx = dz W0 + (alpha/r) (dz B) A``.
    Equivalently, with ``G = dL/dW`` (paper layout) of the merged weight:
    ``dL/dB = (alpha/r) G A^T`` and ``dL/dA = (alpha/r) B^T G`` -- so ``dL/dA = 0`` while ``B = 0``.
    """
    _check(base, adapters, config)
    by_layer = dict(zip(config.layers, range(len(adapters))))
    s = config.scale
    grads_base: Params = [{} for _ in base]
    grads_ad: Adapters = [{} for _ in adapters]
    g = dout
    last = len(base) - 1
    for l in range(last, -1, -1):
        t = cache.layers[l]
        dz = g if l == last else g * activate_grad(t.z, t.out, ACTIVATION)
        grads_base[l] = {"W": t.x.T @ dz, "b": dz.sum(axis=0)}
        g = dz @ base[l]["W"].T
        i = by_layer.get(l)
        if i is not None:
            A, B = adapters[i]["A"], adapters[i]["B"]
            dz_b = s * (dz @ B)  # dL/d(down), (n, r)
            grads_ad[i] = {"A": dz_b.T @ t.x, "B": s * (dz.T @ t.down)}
            g = g + dz_b @ A
    return LoRAGrads(grads_base, grads_ad)


def lora_loss_and_grads(base: Params, adapters: Adapters, config: LoRAConfig, x: np.ndarray, y: np.ndarray
                        ) -> tuple[float, LoRAGrads]:
    """Mean softmax cross-entropy and its gradients with respect to base and adapter parameters."""
    logits, cache = lora_forward(base, adapters, config, x)
    loss, dout = softmax_cross_entropy(logits, y)
    return loss, lora_backward(base, adapters, config, cache, dout)


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy, accuracy and class probabilities ``(n, 2)`` on one set."""

    loss: float
    accuracy: float
    probs: np.ndarray


def evaluate(base: Params, adapters: Adapters, config: LoRAConfig, x: np.ndarray, y: np.ndarray) -> Evaluation:
    """Loss, accuracy and probabilities of the (unmerged) adapted model."""
    logits, _ = lora_forward(base, adapters, config, x)
    loss, _ = softmax_cross_entropy(logits, y)
    return Evaluation(loss, float(np.mean(np.argmax(logits, axis=1) == y)), softmax(logits))


def merge_error(base: Params, adapters: Adapters, config: LoRAConfig, x: np.ndarray) -> float:
    """Max |logits unmerged - logits merged| on ``x``: what merging costs in float64."""
    unmerged, _ = lora_forward(base, adapters, config, x)
    merged, _ = lora_forward(merge(base, adapters, config), [], NO_ADAPTERS, x)
    return float(np.max(np.abs(unmerged - merged)))


# ========================================================================== training


@dataclass(frozen=True)
class LoRARun:
    """A LoRA training run: final adapters, losses before each step and after the last (``steps + 1``).

    ``delta_norms[t, j] = ||Delta W||_F`` of the ``j``-th adapted layer after ``t`` steps;
    ``eval_loss`` is the loss on the evaluation set at the same points (empty without one).
    """

    config: LoRAConfig
    adapters: Adapters
    loss: np.ndarray
    eval_loss: np.ndarray
    delta_norms: np.ndarray


def train_lora(base: Params, config: LoRAConfig, x: np.ndarray, y: np.ndarray, *, seed: int = 0,
               steps: int = FINETUNE_STEPS, optimizer: Optimizer = Adam(lr=LR),
               eval_x: np.ndarray | None = None, eval_y: np.ndarray | None = None) -> LoRARun:
    """Full-batch LoRA fine-tuning: only ``A`` and ``B`` are given to the optimizer; ``base`` is never written."""
    adapters = init_adapters(base, config, seed)
    state = optimizer.init(adapters)
    losses, eval_losses, norms = [], [], []

    def record() -> None:
        norms.append([np.linalg.norm(dw) for dw in delta_weights(adapters, config)])
        if eval_x is not None:
            eval_losses.append(evaluate(base, adapters, config, eval_x, eval_y).loss)

    for _ in range(steps):
        record()
        loss, grads = lora_loss_and_grads(base, adapters, config, x, y)
        losses.append(loss)
        adapters, state = optimizer.step(adapters, grads.adapters, state)
    record()
    losses.append(evaluate(base, adapters, config, x, y).loss)
    return LoRARun(config, adapters, np.array(losses), np.array(eval_losses),
                   np.array(norms).reshape(steps + 1, len(config.layers)))


@dataclass(frozen=True)
class FullRun:
    """A full fine-tuning run: every ``W`` and ``b`` trained; losses before each step and after the last."""

    params: Params
    loss: np.ndarray
    eval_loss: np.ndarray


def train_full(base: Params, x: np.ndarray, y: np.ndarray, *, steps: int = FINETUNE_STEPS,
               optimizer: Optimizer = Adam(lr=LR), eval_x: np.ndarray | None = None,
               eval_y: np.ndarray | None = None) -> FullRun:
    """Full-batch full fine-tuning of all base parameters (gradients from :func:`lora_backward`)."""
    params = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in base]
    state = optimizer.init(params)
    losses, eval_losses = [], []
    for _ in range(steps):
        if eval_x is not None:
            eval_losses.append(evaluate(params, [], NO_ADAPTERS, eval_x, eval_y).loss)
        loss, grads = lora_loss_and_grads(params, [], NO_ADAPTERS, x, y)
        losses.append(loss)
        params, state = optimizer.step(params, grads.base, state)
    if eval_x is not None:
        eval_losses.append(evaluate(params, [], NO_ADAPTERS, eval_x, eval_y).loss)
    losses.append(evaluate(params, [], NO_ADAPTERS, x, y).loss)
    return FullRun(params, np.array(losses), np.array(eval_losses))


@dataclass(frozen=True)
class Pretrained:
    """The pre-trained base model and how well it learned the synthetic task.

    ``loss`` / ``val_loss``: training / validation loss before each step and after the last
    (``max_steps + 1`` points); ``params`` are those after ``best_step`` steps, where the
    validation loss is lowest (early stopping).
    """

    params: Params
    loss: np.ndarray
    val_loss: np.ndarray
    best_step: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    task: PretrainingTask
    seed: int


def pretrain(seed: int = 0, max_steps: int = PRETRAIN_MAX_STEPS, optimizer: Optimizer = Adam(lr=LR)) -> Pretrained:
    """Full-batch training of the base MLP (He init, seed ``seed``) on :func:`pretraining_task` ``(seed)``, early-stopped.

    With seed 0 the validation loss is lowest after 35 steps (0.151; accuracy 0.93 train and
    validation, 0.91 test -- the label noise caps it).  Training on to 300 steps raises the
    validation loss to 0.181 and makes the base more confident in its mistakes: its
    cross-entropy on the sentiment train sentences grows from 1.67 (step 35) to 2.26 nats.
    """
    task = pretraining_task(seed)
    params = init_params(list(SIZES), seed, activation=ACTIVATION)
    state = optimizer.init(params)
    losses, val_losses = [], []
    best, best_step = params, 0
    for step in range(max_steps + 1):
        val_losses.append(evaluate(params, [], NO_ADAPTERS, task.x_val, task.y_val).loss)
        if val_losses[-1] < val_losses[best_step]:
            best, best_step = params, step
        loss, grads = lora_loss_and_grads(params, [], NO_ADAPTERS, task.x_train, task.y_train)
        losses.append(loss)
        if step < max_steps:
            params, state = optimizer.step(params, grads.base, state)

    def acc(x: np.ndarray, y: np.ndarray) -> float:
        return evaluate(best, [], NO_ADAPTERS, x, y).accuracy

    return Pretrained(best, np.array(losses), np.array(val_losses), best_step, acc(task.x_train, task.y_train),
                      acc(task.x_val, task.y_val), acc(task.x_test, task.y_test), task, seed)


# ======================================================================= experiments


@dataclass(frozen=True)
class ToyModel:
    """Shapes and parameter counts for the figure ``model_overview``.

    ``shapes[l] = (d, k)`` is the paper's shape of ``W0`` (outputs, inputs) of layer ``l``;
    ``lora_params[i, l] = r_i (d_l + k_l)`` if layer ``l`` is adapted, else 0;
    ``max_delta_rank[i, l] = min(r_i, d_l, k_l)``, the largest rank ``Delta W`` can have.
    """

    sizes: tuple[int, ...]
    shapes: tuple[tuple[int, int], ...]
    weight_params: tuple[int, ...]
    bias_params: tuple[int, ...]
    base_params: int
    adapted_layers: tuple[int, ...]
    ranks: tuple[int, ...]
    lora_params: np.ndarray
    lora_total: np.ndarray
    max_delta_rank: np.ndarray


def toy_model(ranks: Sequence[int] = RANKS, layers: tuple[int, ...] = ALL_LAYERS) -> ToyModel:
    """Describe :data:`SIZES` and the LoRA adapters of each rank on ``layers``."""
    shapes = tuple((d, k) for k, d in zip(SIZES[:-1], SIZES[1:]))
    w = tuple(d * k for d, k in shapes)
    b = tuple(d for d, _ in shapes)
    lp = np.array([[r * (d + k) if l in layers else 0 for l, (d, k) in enumerate(shapes)] for r in ranks])
    mr = np.array([[min(r, d, k) for d, k in shapes] for r in ranks])
    return ToyModel(SIZES, shapes, w, b, sum(w) + sum(b), tuple(layers), tuple(ranks), lp, lp.sum(axis=1), mr)


@dataclass(frozen=True)
class KnowledgeChange:
    """LoRA fine-tuning of the pre-trained base on sentiment (see :func:`knowledge_change`).

    ``loss`` / ``test_loss``: curves of ``steps + 1`` points; ``example_*``: one test sentence per
    (label, topic) cell with ``p(negative), p(positive)`` before (``B = 0``, the base model) and
    after training; ``delta_w[j]``: learned ``(alpha/r) B A`` of ``config.layers[j]``, ``(d, k)``;
    ``pretrain_accuracy_*``: the base's synthetic task with the adapter off and on.
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


def example_indices(test: Split) -> np.ndarray:
    """Index of the first test sentence of each (label, topic) cell, ordered (neg food, neg film, pos food, pos film)."""
    return np.array([int(np.flatnonzero((test.y == lab) & (test.topic == top))[0]) for lab in (0, 1) for top in (0, 1)])


def knowledge_change(pretrained: Pretrained | None = None, config: LoRAConfig = LoRAConfig(), seed: int = 0,
                     steps: int = FINETUNE_STEPS, optimizer: Optimizer = Adam(lr=LR)) -> KnowledgeChange:
    """Fine-tune with LoRA on the sentiment train split; what changes on the test split."""
    pre = pretrained or pretrain()
    data = load_sentiment()
    tr, te = data.train, data.test
    run = train_lora(pre.params, config, tr.x, tr.y, seed=seed, steps=steps, optimizer=optimizer, eval_x=te.x, eval_y=te.y)
    init = init_adapters(pre.params, config, seed)
    ex = example_indices(te)
    before, after = (evaluate(pre.params, ad, config, te.x, te.y) for ad in (init, run.adapters))
    return KnowledgeChange(
        config, run.loss, run.eval_loss,
        evaluate(pre.params, init, config, tr.x, tr.y).accuracy, evaluate(pre.params, run.adapters, config, tr.x, tr.y).accuracy,
        before.accuracy, after.accuracy,
        tuple(te.texts[i] for i in ex), te.y[ex], before.probs[ex], after.probs[ex],
        delta_weights(run.adapters, config),
        evaluate(pre.params, [], NO_ADAPTERS, pre.task.x_test, pre.task.y_test).accuracy,
        evaluate(pre.params, run.adapters, config, pre.task.x_test, pre.task.y_test).accuracy,
        trainable_parameters(config),
    )


@dataclass(frozen=True)
class RankSweep:
    """Final sentiment results per rank (rows) and seed (columns), alpha fixed, plus full fine-tuning.

    The seed only draws ``A``; the base and the full-batch data are the same for every run, so
    full fine-tuning (no random initialisation) has one value.
    """

    ranks: tuple[int, ...]
    alpha: float
    seeds: tuple[int, ...]
    trainable_params: np.ndarray
    test_accuracy: np.ndarray
    test_loss: np.ndarray
    train_loss: np.ndarray
    full_params: int
    full_test_accuracy: float
    full_test_loss: float
    full_train_loss: float
    base_test_accuracy: float

    @property
    def mean_test_accuracy(self) -> np.ndarray:
        return self.test_accuracy.mean(axis=1)

    @property
    def mean_test_loss(self) -> np.ndarray:
        return self.test_loss.mean(axis=1)


def rank_sweep(ranks: Sequence[int] = RANKS, alpha: float = DEFAULT_ALPHA, seeds: Sequence[int] = (0, 1, 2),
               pretrained: Pretrained | None = None, layers: tuple[int, ...] = ALL_LAYERS,
               steps: int = FINETUNE_STEPS, optimizer: Optimizer = Adam(lr=LR)) -> RankSweep:
    """LoRA on sentiment for every rank and seed (same alpha, steps, optimizer) and the full fine-tuning baseline."""
    pre = pretrained or pretrain()
    data = load_sentiment()
    tr, te = data.train, data.test
    acc, loss, train_loss = (np.zeros((len(ranks), len(seeds))) for _ in range(3))
    for i, r in enumerate(ranks):
        config = LoRAConfig(r, alpha, layers)
        for j, seed in enumerate(seeds):
            run = train_lora(pre.params, config, tr.x, tr.y, seed=seed, steps=steps, optimizer=optimizer)
            ev = evaluate(pre.params, run.adapters, config, te.x, te.y)
            acc[i, j], loss[i, j], train_loss[i, j] = ev.accuracy, ev.loss, run.loss[-1]
    full = train_full(pre.params, tr.x, tr.y, steps=steps, optimizer=optimizer)
    fev = evaluate(full.params, [], NO_ADAPTERS, te.x, te.y)
    return RankSweep(tuple(ranks), alpha, tuple(seeds),
                     np.array([trainable_parameters(LoRAConfig(r, alpha, layers)) for r in ranks]),
                     acc, loss, train_loss, toy_model().base_params, fev.accuracy, fev.loss, float(full.loss[-1]),
                     evaluate(pre.params, [], NO_ADAPTERS, te.x, te.y).accuracy)


@dataclass(frozen=True)
class ScalingExperiment:
    """alpha fixed vs alpha = r, per rank and seed.  First axis: scheme (0: ``alpha = alpha_fixed``, 1: ``alpha = r``).

    ``delta_norm[s, i, j, t]`` = ``sqrt(sum_l ||Delta W_l||_F^2)`` over the adapted layers after
    ``t`` steps (index 1: after the first step, -1: after training); ``loss[s, i, j, t]`` the
    training loss at the same points; ``test_accuracy[s, i, j]`` after training.
    """

    ranks: tuple[int, ...]
    alpha_fixed: float
    seeds: tuple[int, ...]
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


def scaling_experiment(ranks: Sequence[int] = RANKS, alpha_fixed: float = DEFAULT_ALPHA, seeds: Sequence[int] = (0,),
                       pretrained: Pretrained | None = None, layers: tuple[int, ...] = ALL_LAYERS,
                       steps: int = FINETUNE_STEPS, optimizer: Optimizer = Adam(lr=LR)) -> ScalingExperiment:
    """Train LoRA on sentiment for each rank with ``alpha = alpha_fixed`` and with ``alpha = r``.

    One seed by default to stay fast (10 runs); the first scheme repeats :func:`rank_sweep`'s runs
    for the same seeds and alpha.
    """
    pre = pretrained or pretrain()
    data = load_sentiment()
    tr, te = data.train, data.test
    alphas = np.array([[alpha_fixed] * len(ranks), [float(r) for r in ranks]])
    shape = (2, len(ranks), len(seeds))
    norm, loss, acc = np.zeros(shape + (steps + 1,)), np.zeros(shape + (steps + 1,)), np.zeros(shape)
    for s in range(2):
        for i, r in enumerate(ranks):
            config = LoRAConfig(r, float(alphas[s, i]), layers)
            for j, seed in enumerate(seeds):
                run = train_lora(pre.params, config, tr.x, tr.y, seed=seed, steps=steps, optimizer=optimizer)
                norm[s, i, j] = np.sqrt((run.delta_norms ** 2).sum(axis=1))
                loss[s, i, j] = run.loss
                acc[s, i, j] = evaluate(pre.params, run.adapters, config, te.x, te.y).accuracy
    return ScalingExperiment(tuple(ranks), alpha_fixed, tuple(seeds), alphas, norm, loss, acc)


def effective_rank(singular_values: np.ndarray) -> float:
    """Roy & Vetterli (2007): ``exp(-sum p_i log p_i)`` with ``p = sigma / sum(sigma)``."""
    p = singular_values / singular_values.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def energy(singular_values: np.ndarray) -> np.ndarray:
    """Cumulative fraction of ``||M||_F^2`` captured by the top ``1, 2, ...`` singular values."""
    s2 = np.sort(singular_values)[::-1] ** 2
    return np.cumsum(s2) / s2.sum()


@dataclass(frozen=True)
class Spectrum:
    """Singular values of a real full fine-tuning update against random Gaussian matrices.

    ``delta_w = W_after - W_before`` of hidden layer ``layer`` in paper layout ``(d, k)``;
    ``random_singular_values[i]``: draw ``i`` of a Gaussian matrix of the same shape rescaled to
    the same Frobenius norm; ``*_energy[m-1]``: fraction of ``||.||_F^2`` in the top ``m``
    singular values (random: mean over draws); ``rank_90``: smallest ``m`` reaching 90 %;
    ``relative_update = ||Delta W||_F / ||W0||_F``.
    """

    layer: int
    delta_w: np.ndarray
    singular_values: np.ndarray
    energy: np.ndarray
    effective_rank: float
    rank_90: int
    random_singular_values: np.ndarray
    random_energy: np.ndarray
    random_effective_rank: np.ndarray
    random_rank_90: np.ndarray
    relative_update: float

    def energy_at(self, r: int) -> float:
        """Fraction of the update's squared Frobenius norm a rank-``r`` truncation keeps."""
        return float(self.energy[min(r, self.energy.size) - 1])


def delta_w_spectrum(pretrained: Pretrained | None = None, layer: int = 1, steps: int = FINETUNE_STEPS,
                     optimizer: Optimizer = Adam(lr=LR), n_random: int = 200, seed: int = 0) -> Spectrum:
    """SVD of the full fine-tuning update of ``layer`` on sentiment vs ``n_random`` Gaussian matrices (seed ``seed``)."""
    pre = pretrained or pretrain()
    tr = load_sentiment().train
    full = train_full(pre.params, tr.x, tr.y, steps=steps, optimizer=optimizer)
    w0 = pre.params[layer]["W"].T
    dw = full.params[layer]["W"].T - w0
    sv = np.linalg.svd(dw, compute_uv=False)
    rng = np.random.default_rng(seed)
    fro = np.linalg.norm(dw)
    rand = []
    for _ in range(n_random):
        g = rng.normal(size=dw.shape)
        rand.append(np.linalg.svd(g * (fro / np.linalg.norm(g)), compute_uv=False))
    rand = np.array(rand)
    r_energy = np.array([energy(s) for s in rand])
    return Spectrum(layer, dw, sv, energy(sv), effective_rank(sv), int(np.searchsorted(energy(sv), 0.9) + 1),
                    rand, r_energy.mean(axis=0), np.array([effective_rank(s) for s in rand]),
                    np.array([int(np.searchsorted(e, 0.9) + 1) for e in r_energy]),
                    float(fro / np.linalg.norm(w0)))


@dataclass(frozen=True)
class BackwardComparison:
    """Gradients of one step on the whole sentiment train split: full fine-tuning vs LoRA.

    Matrices in paper layout: ``full_W[l] = dL/dW0`` (d, k), ``full_b[l]`` (d,), ``lora_A[j]`` (r, k),
    ``lora_B[j]`` (d, r) for ``config.layers[j]``.  ``groups`` / ``norms`` / ``sizes``: one entry per
    parameter group (``"W1"``, ``"b1"``, ... for full fine-tuning, ``"A1"``, ``"B1"``, ... for LoRA,
    layers numbered from 1), its gradient's Frobenius norm and its number of entries.  The LoRA
    gradient is taken at the adapters after ``lora_steps`` LoRA steps (0: at initialisation, where
    ``B = 0`` and hence ``dL/dA = 0`` exactly); the full gradient at the pre-trained base.
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


def backward_comparison(pretrained: Pretrained | None = None, config: LoRAConfig = LoRAConfig(), seed: int = 0,
                        lora_steps: int = 0, optimizer: Optimizer = Adam(lr=LR)) -> BackwardComparison:
    """Per-group gradient norms and matrices for one step: full fine-tuning vs LoRA."""
    pre = pretrained or pretrain()
    tr = load_sentiment().train
    adapters = (train_lora(pre.params, config, tr.x, tr.y, seed=seed, steps=lora_steps, optimizer=optimizer).adapters
                if lora_steps else init_adapters(pre.params, config, seed))
    loss, full = lora_loss_and_grads(pre.params, [], NO_ADAPTERS, tr.x, tr.y)
    _, lora = lora_loss_and_grads(pre.params, adapters, config, tr.x, tr.y)
    fw = tuple(g["W"].T for g in full.base)
    fb = tuple(g["b"] for g in full.base)
    la = tuple(g["A"] for g in lora.adapters)
    lb = tuple(g["B"] for g in lora.adapters)
    groups, mats = [], []
    for l in range(len(fw)):
        groups += [f"W{l + 1}", f"b{l + 1}"]
        mats += [fw[l], fb[l]]
    for j, l in enumerate(config.layers):
        groups += [f"A{l + 1}", f"B{l + 1}"]
        mats += [la[j], lb[j]]
    return BackwardComparison(config, lora_steps, loss, fw, fb, la, lb, tuple(groups),
                              np.array([np.linalg.norm(m) for m in mats]), np.array([m.size for m in mats]))


@dataclass(frozen=True)
class ForwardTrace:
    """One test sentence through the LoRA-trained model, layer by layer (rows of :class:`LayerTrace`, n = 1).

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


def forward_trace(pretrained: Pretrained | None = None, config: LoRAConfig = LoRAConfig(), seed: int = 0,
                  steps: int = FINETUNE_STEPS, sentence: int = 0, optimizer: Optimizer = Adam(lr=LR)) -> ForwardTrace:
    """Train LoRA on sentiment, then trace test sentence ``sentence`` through both paths of every layer.

    The default, test sentence 0, is "The bread and the coffee were never stale." (positive,
    features ``(0, 1, 1, 0, 2, 0, 0, 0)``): the base says negative (p(positive) = 0.006), the
    default LoRA run (r = 4, alpha = 8, seed 0, 200 steps) positive (p(positive) = 0.9996).
    """
    pre = pretrained or pretrain()
    data = load_sentiment()
    tr, te = data.train, data.test
    run = train_lora(pre.params, config, tr.x, tr.y, seed=seed, steps=steps, optimizer=optimizer)
    x = te.x[sentence : sentence + 1]
    logits, cache = lora_forward(pre.params, run.adapters, config, x)
    base_logits, _ = lora_forward(pre.params, [], NO_ADAPTERS, x)
    return ForwardTrace(te.texts[sentence], int(te.y[sentence]), tuple(tokens(te.texts[sentence])), x[0], config,
                        cache.layers, logits[0], softmax(logits)[0], softmax(base_logits)[0])


@dataclass(frozen=True)
class AdapterSwap:
    """Two adapters (``tasks``: sentiment, topic) on one frozen base, each merged then unmerged in turn.

    Per task: test accuracy of the base alone, with its adapter (unmerged) and merged;
    ``merge_error``: max |logits unmerged - merged| on its test set; ``unmerge_error``: max
    |W restored - W0| over all layers after unmerging it; ``final_error``: the same after both swaps.
    """

    tasks: tuple[str, ...]
    config: LoRAConfig
    base_accuracy: np.ndarray
    adapter_accuracy: np.ndarray
    merged_accuracy: np.ndarray
    merge_error: np.ndarray
    unmerge_error: np.ndarray
    final_error: float


def adapter_swap(pretrained: Pretrained | None = None, config: LoRAConfig = LoRAConfig(), seed: int = 0,
                 steps: int = FINETUNE_STEPS, optimizer: Optimizer = Adam(lr=LR)) -> AdapterSwap:
    """Train a sentiment and a topic adapter; merge / unmerge each on the same base weights."""
    pre = pretrained or pretrain()
    data = load_sentiment()
    tr, te = data.train, data.test
    tasks = (("sentiment", tr.y, te.y), ("topic", tr.topic, te.topic))
    weights = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in pre.params]
    base_acc, ad_acc, m_acc, m_err, u_err = [], [], [], [], []
    for i, (_, y_tr, y_te) in enumerate(tasks):
        ad = train_lora(pre.params, config, tr.x, y_tr, seed=seed + i, steps=steps, optimizer=optimizer).adapters
        base_acc.append(evaluate(weights, [], NO_ADAPTERS, te.x, y_te).accuracy)
        ad_acc.append(evaluate(weights, ad, config, te.x, y_te).accuracy)
        m_err.append(merge_error(weights, ad, config, te.x))
        merged = merge(weights, ad, config)
        m_acc.append(evaluate(merged, [], NO_ADAPTERS, te.x, y_te).accuracy)
        weights = unmerge(merged, ad, config)
        u_err.append(max(float(np.max(np.abs(w["W"] - p["W"]))) for w, p in zip(weights, pre.params)))
    return AdapterSwap(tuple(t for t, _, _ in tasks), config, np.array(base_acc), np.array(ad_acc), np.array(m_acc),
                       np.array(m_err), np.array(u_err),
                       max(float(np.max(np.abs(w["W"] - p["W"]))) for w, p in zip(weights, pre.params)))
