"""The sentiment sentences and the lexicon of the LoRA toy model (data/lora/), their features,
the train / test split, and the synthetic pre-training task.

* ``data/lora/sentiment.tsv``: 128 short English sentences written for this project (CC0), a
  2 x 2 design -- sentiment (positive / negative) x topic (food / film), 32 per cell; sentence
  ``j`` of a negative cell mirrors sentence ``j`` of the positive cell of the same topic.  12 of
  the 32 pairs per topic carry a negation ("The soup was not bad." / "The soup was not good.").
  See ``data/lora/README.md`` for the constructions.
* Features (:func:`sentence_features`): **lexicon counts**.  ``data/lora/lexicon.tsv`` (CC0,
  written for this project) assigns 89 words to the :data:`GROUPS` = (positive, negative,
  negation, intensifier, food, film, contrast, hedge); feature ``g`` of a sentence is the
  number of its :func:`tokens` (lower-case runs of ``a-z``, minus :data:`STOPWORDS`) that
  belong to group ``g``; other words are ignored.  No normalisation: "The soup was not bad."
  -> negative 1, negation 1, food 1, i.e. ``(0, 1, 1, 0, 1, 0, 0, 0)``.  The counts say *that*
  a sentence holds a negation, not *what* it negates, so sentiment is not a sum of word
  polarities: with every sentence of the set, "positive" = (more positive than negative
  words) XOR (a negation is present) -- an interaction a linear read-out of the counts cannot
  represent ("good", "bad", "not good", "not bad" form an XOR), which the MLP has to learn.
  As this rule holds for all 128 sentences, the label is a function of the features and test
  accuracy 1 is attainable; the sentences avoid what counts cannot express (mixed-polarity
  clauses joined by "but", negations that do not scope over the evaluative word).
* Split (:func:`load_sentiment`): sentence ``j`` (0-based, file order) of the (label, topic)
  cell is test when ``(j + 2 * label + topic) % 4 == 3`` (label 0 negative / 1 positive, topic
  0 food / 1 film) -- 8 of 32 per cell, 96 train / 32 test, balanced in labels and topics.  The
  offset keeps the two halves of a positive / negative pair out of the test set together; as
  the file lists the pairs in blocks of four (one construction per block, see the README),
  each block has one test sentence per cell, and 12 of the 32 test sentences are negated.  The
  sentences were written so that none of the 32 test feature vectors occurs in the training
  split (unseen combinations of group counts; every lexicon word of a test sentence also
  occurs in a training sentence), so a test sentence cannot be answered by looking up a
  training sentence with the same features.
* Pre-training task (:func:`pretraining_task`): LoRA adapts a *pre-trained* model, so the base
  MLP first learns a related but different task on the same feature space: **lexical
  polarity**.  1,000 synthetic count vectors (plus 500 validation, 500 test) drawn like the
  sentences' counts -- 1 to 3 evaluative words, each positive or negative with probability
  1/2; negation, intensifier, contrast, hedge present (count 1) with probability 0.3 each; 0 to
  2 words of one topic -- labelled 1 when ``positive - negative + 0.5 eps`` (``eps ~ N(0, 1)``,
  label noise that decides ties) exceeds its median over the training draws.  The teacher
  ignores negation: the base learns which words are positive and negative, not what "not"
  does, so it gets plain sentences right and negated ones wrong.  Fine-tuning re-uses the same
  2-way output layer for sentiment (0 = negative, 1 = positive) -- LoRA has to add the negation
  interaction -- and, for the adapter-swap demonstration, topic (0 = food, 1 = film), which the
  base does not know at all.
* Teacher task (:func:`teacher_task`): sentiment needs one new interaction, which LoRA learns at
  every rank; to show what a low rank cannot learn, the rank sweep fine-tunes on inputs of the
  pre-training distribution (jittered, 2,000 train / 4,000 test) labelled by a random ReLU
  teacher network whose decision boundary bends along many input directions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

DATA_PATH = Path(__file__).resolve().parents[3] / "data" / "lora" / "sentiment.tsv"
LEXICON_PATH = DATA_PATH.parent / "lexicon.tsv"
LABELS = ("negative", "positive")
TOPICS = ("food", "film")
GROUPS: tuple[str, ...] = ("positive", "negative", "negation", "intensifier", "food", "film",
                           "contrast", "hedge")
"""The lexicon's word groups, in feature order: feature ``g`` counts the words of
``GROUPS[g]``."""
POSITIVE, NEGATIVE, NEGATION, INTENSIFIER, FOOD, FILM, CONTRAST, HEDGE = range(8)
N_FEATURES = 8

STOPWORDS: frozenset[str] = frozenset(
    "a an the and or of to in on at for with this that it i we was were is are be "
    "have has had will would such".split()
)
"""Function words dropped by :func:`tokens` (negations and the contrast word "but" are kept);
none of them is in the lexicon, so they never count."""


def tokens(text: str) -> list[str]:
    """Lower-case runs of ``a-z`` in ``text``, without :data:`STOPWORDS`."""
    return [word for word in re.findall(r"[a-z]+", text.lower()) if word not in STOPWORDS]


@cache
def lexicon(path: Path | str = LEXICON_PATH) -> dict[str, int]:
    """Read ``word<TAB>group`` rows of ``lexicon.tsv``: word -> index into :data:`GROUPS`.

    Raises ``ValueError`` for a bad header, an unknown group, a repeated word, or a word that
    :func:`tokens` could not produce (not lower-case ``a-z``, or a stop word).  Cached; treat
    the returned dict as read-only.
    """
    rows = Path(path).read_text(encoding="utf-8").splitlines()
    if rows[0].split("\t") != ["word", "group"]:
        raise ValueError(f"{path}: header must be word, group")
    out: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        word, group = row.split("\t")
        if (group not in GROUPS or word in out or not re.fullmatch(r"[a-z]+", word)
                or word in STOPWORDS):
            raise ValueError(f"{path}:{lineno}: bad entry {word!r} -> {group!r}")
        out[word] = GROUPS.index(group)
    return out


def sentence_features(text: str, n: int = N_FEATURES) -> np.ndarray:
    """Lexicon counts: entry ``g`` is the number of :func:`tokens` of ``text`` in group
    ``GROUPS[g]``.

    Words outside :func:`lexicon` are ignored; no normalisation.  ``n`` must equal
    ``len(GROUPS)`` = :data:`N_FEATURES` (the parameter is kept from the hashing rule this
    replaced).  Example: "The film was not good." -> tokens film, not, good ->
    ``(1, 0, 1, 0, 0, 1, 0, 0)``.
    """
    if n != len(GROUPS):
        raise ValueError(f"the lexicon has {len(GROUPS)} groups, not {n}")
    features = np.zeros(n)
    groups = lexicon()
    for word in tokens(text):
        group = groups.get(word)
        if group is not None:
            features[group] += 1.0
    return features


@dataclass(frozen=True)
class Split:
    """Sentences with features ``x`` (n, 8), sentiment ``y`` (0 neg, 1 pos) and ``topic``
    (0 food, 1 film)."""

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
        """1 where a sentence has more positive than negative words, else 0 (what the
        pre-training teacher sees)."""
        return (self.x[:, POSITIVE] > self.x[:, NEGATIVE]).astype(int)


@dataclass(frozen=True)
class SentimentData:
    """The sentiment set, split deterministically into train and test (see the module
    docstring)."""

    train: Split
    test: Split


def _split(items: list[tuple[str, int, int]]) -> Split:
    texts = tuple(text for text, _, _ in items)
    return Split(texts=texts, x=np.array([sentence_features(text) for text in texts]),
                 y=np.array([label for _, label, _ in items]),
                 topic=np.array([topic for _, _, topic in items]))


def load_sentiment(path: Path | str = DATA_PATH) -> SentimentData:
    """Read ``label<TAB>topic<TAB>text`` rows; sentence ``j`` of cell (label, topic) is test
    iff ``(j + 2 label + topic) % 4 == 3``."""
    rows = Path(path).read_text(encoding="utf-8").splitlines()
    if rows[0].split("\t") != ["label", "topic", "text"]:
        raise ValueError(f"{path}: header must be label, topic, text")
    seen: dict[tuple[str, str], int] = {}
    parts: dict[bool, list[tuple[str, int, int]]] = {False: [], True: []}
    for lineno, row in enumerate(rows[1:], start=2):
        label, topic, text = row.split("\t")
        if label not in LABELS or topic not in TOPICS:
            raise ValueError(f"{path}:{lineno}: unknown label {label!r} or topic {topic!r}")
        position = seen.get((label, topic), 0)
        seen[(label, topic)] = position + 1
        label_index, topic_index = LABELS.index(label), TOPICS.index(topic)
        is_test = (position + 2 * label_index + topic_index) % 4 == 3
        parts[is_test].append((text, label_index, topic_index))
    return SentimentData(train=_split(parts[False]), test=_split(parts[True]))


@dataclass(frozen=True)
class PretrainingTask:
    """Synthetic lexicon-count vectors labelled by lexical polarity: train, validation (early
    stopping) and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


PRETRAIN_NOISE = 0.5
"""Standard deviation of the Gaussian label noise added to ``positive - negative`` by the
pre-training teacher."""
PRETRAIN_MARKER_P = 0.3
"""Probability that a synthetic pre-training example has a negation (and, independently, an
intensifier, a contrast word, a hedge)."""


def pretraining_task(seed: int = 0, n_train: int = 1000, n_val: int = 500, n_test: int = 500,
                     width: int = 32) -> PretrainingTask:
    """Synthetic count vectors (feature order :data:`GROUPS`) labelled by a noisy
    lexical-polarity teacher.

    Per example: ``m ~ U{1, 2, 3}`` evaluative words, ``positive ~ Bin(m, 1/2)``,
    ``negative = m - positive``; negation, intensifier, contrast, hedge each
    ``Bernoulli(0.3)``; one topic (food or film, probability 1/2) with ``U{0, 1, 2}`` words.
    Label 1 when ``positive - negative + 0.5 eps`` (``eps ~ N(0, 1)``) exceeds the median over
    the training draws (so exactly half of the training labels are 1).  The teacher ignores
    negation.  ``width`` is ignored (it sized the random teacher of an earlier version).
    """
    del width
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    x = np.zeros((n, N_FEATURES))
    evaluative = rng.integers(1, 4, size=n)
    x[:, POSITIVE] = rng.binomial(evaluative, 0.5)
    x[:, NEGATIVE] = evaluative - x[:, POSITIVE]
    for group in (NEGATION, INTENSIFIER, CONTRAST, HEDGE):
        x[:, group] = rng.random(n) < PRETRAIN_MARKER_P
    topic = rng.integers(0, 2, size=n)
    x[np.arange(n), np.where(topic == 0, FOOD, FILM)] = rng.integers(0, 3, size=n)
    score = x[:, POSITIVE] - x[:, NEGATIVE] + PRETRAIN_NOISE * rng.normal(size=n)
    y = (score > np.median(score[:n_train])).astype(int)
    val_start, test_start = n_train, n_train + n_val
    return PretrainingTask(x_train=x[:val_start], y_train=y[:val_start],
                           x_val=x[val_start:test_start], y_val=y[val_start:test_start],
                           x_test=x[test_start:], y_test=y[test_start:])


@dataclass(frozen=True)
class TeacherTask:
    """A fine-tuning task far from what the base knows, for the rank sweep: inputs on the
    pre-training distribution (plus jitter, so no test input repeats a training input),
    labelled by a random teacher network the base has never seen (see :func:`teacher_task`)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


TEACHER_SIZES: tuple[int, ...] = (N_FEATURES, 32, 32, 1)
"""Widths of the random teacher network (ReLU hidden layers, one linear output: a score)."""
TEACHER_GAIN = 1.5
"""Factor on the teacher's He / Xavier initial weights (larger: a more wiggly decision
boundary)."""
TEACHER_BIAS_STD = 0.5
TEACHER_JITTER = 0.5
"""Standard deviation of the Gaussian noise added to every count of a teacher-task input."""


TEACHER_TRAIN, TEACHER_TEST = 2000, 4000
"""Inputs of the teacher task to train on and to test on."""


def teacher_task(seed: int = 0, n_train: int = TEACHER_TRAIN,
                 n_test: int = TEACHER_TEST) -> TeacherTask:
    """Inputs drawn like :func:`pretraining_task`'s count vectors (training inputs with seed
    ``seed + 1``, test inputs with ``seed + 2``) plus ``N(0, 0.5^2)`` jitter on every feature,
    labelled 1 when a random ReLU network of :data:`TEACHER_SIZES` (weights from
    :func:`models.mlp.init_params` with seed ``seed`` times :data:`TEACHER_GAIN`, biases
    ``N(0, 0.5^2)``) scores them above its median over the training inputs.

    Unlike the sentiment task, which needs one new interaction (negation), this teacher's
    decision boundary bends along many directions of the input: the task the rank sweep uses
    to show what a low rank cannot learn.
    """
    from models import mlp

    rng = np.random.default_rng(seed)
    teacher = mlp.init_params(list(TEACHER_SIZES), rng)
    for layer in teacher:
        layer["W"] = layer["W"] * TEACHER_GAIN
        layer["b"] = rng.normal(0.0, TEACHER_BIAS_STD, size=layer["b"].shape)

    def inputs(draw_seed: int, n: int) -> np.ndarray:
        counts = pretraining_task(draw_seed, n_train=n, n_val=0, n_test=0).x_train
        jitter = np.random.default_rng([draw_seed, 1]).normal(0.0, TEACHER_JITTER,
                                                              size=counts.shape)
        return counts + jitter

    def score(x: np.ndarray) -> np.ndarray:
        return mlp.forward(teacher, x, "relu")[0][:, 0]

    x_train, x_test = inputs(seed + 1, n_train), inputs(seed + 2, n_test)
    threshold = np.median(score(x_train))
    return TeacherTask(x_train=x_train, y_train=(score(x_train) > threshold).astype(int),
                       x_test=x_test, y_test=(score(x_test) > threshold).astype(int))
