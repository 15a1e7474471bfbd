"""Byte-pair encoding, written by the project, and the two tokenizers it is compared with.

Byte-pair encoding (BPE) for subwords is Sennrich, Haddow and Birch (2016), "Neural Machine
Translation of Rare Words with Subword Units", arXiv 1508.07909, section 3.2: start from single
symbols, count every pair of adjacent symbols over the words of the training text (each word
weighted by its frequency), merge the most frequent pair into a new symbol, repeat. As in GPT-2
(Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", section 2.2 "Input
Representation"; the code is openai/gpt-2, src/encoder.py):

- the base symbols are the 256 byte values, so every text, in any script, is encoded without
  an unknown token (ids 0-255 are the bytes; merge i makes id 256 + i);
- the text is first cut into pieces by GPT-2's regular expression (`GPT2_PATTERN`), and merges
  never cross a piece: a word with its leading space, a run of digits, a run of punctuation, a
  run of white space. Python's `re` has no `\\p{L}` / `\\p{N}`; `PATTERN` writes letters as
  `[^\\W\\d_]` and digits as `\\d`, which cuts every ASCII text as GPT-2's pattern does (the
  corpus is ASCII; tested, apart from the control characters 0x1C-0x1F, which Python counts as
  white space) and, on other text, differs only for the few numeric characters that are not
  decimal digits (superscripts, Roman numerals), which it counts as letters. Every character
  falls in one of its classes, so the pieces always join back to the text.

Training updates the pair counts incrementally: a merge touches only the words that contain the
merged pair (an index from each pair to those words), subtracting their old pairs and adding
their new ones, and the most frequent pair is taken from a heap whose outdated entries are
skipped when popped. Ties go to the pair with the smallest ids (first token, then second), so
the merges are the same on every run. Training to a vocabulary of several thousand on the
megabyte of Tiny Shakespeare takes seconds.

Encoding applies the merges as GPT-2's `Encoder.bpe` does: within each piece, merge the
adjacent pair of lowest rank (earliest merge) until none of the learned pairs is left; this
reproduces the training segmentation (tested). `decode(encode(text)) == text` for every text.

The comparison (`compare`) measures, on the held-out text: BPE at several vocabulary sizes of
one training run (the run's first merges), characters (a vocabulary of the distinct characters
of the training text) and words (one token per piece of the same pre-tokenizer, a vocabulary of
`<unk>` and the most frequent training pieces). Nothing here imports matplotlib.
"""
from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

#: GPT-2's pre-tokenizer (openai/gpt-2, src/encoder.py, `Encoder.__init__`), written for the
#: `regex` module (not a dependency here): the reference `PATTERN` follows.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
#: The same for Python's `re`: letters `[^\W\d_]`, digits `\d`, the rest (not white space, not a
#: letter or digit, or the underscore) `(?:[^\s\w]|_)`.
PATTERN = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")
#: Byte values: the base vocabulary, ids 0-255.
BASE = 256

Pair = tuple[int, int]


def pretokenize(text: str) -> list[str]:
    """The pieces of `text` (they join back to `text`)."""
    return PATTERN.findall(text)


def pair_counts(words: Sequence[Sequence[int]], freqs: Sequence[int]) -> Counter:
    """Every adjacent pair of every word, counted with the word's frequency (a recount from
    scratch; overlapping pairs such as the two (a, a) of "aaa" both count, as in Sennrich et
    al.'s `get_stats`)."""
    counts: Counter = Counter()
    for word, freq in zip(words, freqs, strict=True):
        for pair in pairwise(word):
            counts[pair] += freq
    return counts


def merge_word(word: Sequence[int], pair: Pair, new: int) -> list[int]:
    """`word` with every occurrence of `pair`, left to right and not overlapping, replaced by
    `new`."""
    a, b = pair
    out: list[int] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


class Trainer:
    """BPE training state: the distinct pieces of the training text as token sequences with
    their frequencies, the count of every adjacent pair, and for each pair the pieces that hold
    it. `step()` makes one merge and updates the counts of the pieces it touches only."""

    def __init__(self, piece_counts: Mapping[str, int]):
        pieces = sorted(piece_counts, key=lambda p: p.encode("utf-8"))
        self.words: list[list[int]] = [list(p.encode("utf-8")) for p in pieces]
        self.freqs: list[int] = [piece_counts[p] for p in pieces]
        self.pairs: dict[Pair, int] = dict(pair_counts(self.words, self.freqs))
        self.where: dict[Pair, set[int]] = {}
        for i, word in enumerate(self.words):
            for pair in pairwise(word):
                self.where.setdefault(pair, set()).add(i)
        self.merges: list[Pair] = []
        # max-heap by count, ties to the smallest (first, second) ids; outdated entries (the
        # count changed since) are skipped when they come up
        self._heap = [(-count, a, b) for (a, b), count in self.pairs.items()]
        heapq.heapify(self._heap)

    @classmethod
    def from_text(cls, text: str) -> Trainer:
        return cls(Counter(pretokenize(text)))

    def best(self) -> tuple[Pair, int] | None:
        """The pair the next merge makes and its count (None when no pair is left)."""
        while self._heap:
            negative, a, b = self._heap[0]
            if self.pairs.get((a, b), 0) == -negative:
                return (a, b), -negative
            heapq.heappop(self._heap)
        return None

    def step(self, min_count: int = 2) -> Pair | None:
        """Merge the most frequent pair (if it occurs at least `min_count` times) into a new
        token; returns the pair, or None when no pair is frequent enough."""
        found = self.best()
        if found is None or found[1] < min_count:
            return None
        pair, _ = found
        new = BASE + len(self.merges)
        changed: set[Pair] = set()
        for i in sorted(self.where.pop(pair)):
            old, freq = self.words[i], self.freqs[i]
            word = merge_word(old, pair, new)
            old_pairs, new_pairs = list(pairwise(old)), list(pairwise(word))
            for p in old_pairs:
                self.pairs[p] -= freq
            for p in new_pairs:
                self.pairs[p] = self.pairs.get(p, 0) + freq
            for p in set(old_pairs) - set(new_pairs):
                if p != pair:
                    self.where[p].discard(i)
            for p in new_pairs:
                self.where.setdefault(p, set()).add(i)
            changed.update(old_pairs, new_pairs)
            self.words[i] = word
        for p in changed:
            count = self.pairs[p]
            if count > 0:
                heapq.heappush(self._heap, (-count, *p))
            else:
                del self.pairs[p]
                if not self.where.get(p, True):
                    del self.where[p]
        self.merges.append(pair)
        return pair

    def recount(self) -> dict[Pair, int]:
        """The pair counts recounted from the pieces as they now are (what the incremental
        updates must equal)."""
        return dict(pair_counts(self.words, self.freqs))


def train(text: str, vocab_size: int, min_count: int = 2) -> Tokenizer:
    """A BPE tokenizer with `vocab_size` tokens (256 bytes and vocab_size - 256 merges) learned
    from `text`; fewer when no pair occurs `min_count` times any more."""
    if vocab_size < BASE:
        raise ValueError(f"a byte-level vocabulary has at least {BASE} tokens, got {vocab_size}")
    trainer = Trainer.from_text(text)
    while len(trainer.merges) < vocab_size - BASE and trainer.step(min_count) is not None:
        pass
    return Tokenizer(tuple(trainer.merges))


@dataclass(frozen=True)
class Tokenizer:
    """A trained byte-level BPE: merge i joins the pair `merges[i]` into token 256 + i."""

    merges: tuple[Pair, ...]
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        for i, (a, b) in enumerate(self.merges):
            if not (0 <= a < BASE + i and 0 <= b < BASE + i):
                raise ValueError(f"merge {i} joins {a} and {b}: not tokens before it")

    @property
    def vocab_size(self) -> int:
        return BASE + len(self.merges)

    @property
    def vocab(self) -> tuple[bytes, ...]:
        """The bytes of every token, by id."""
        if "vocab" not in self._cache:
            table = [bytes([i]) for i in range(BASE)]
            for a, b in self.merges:
                table.append(table[a] + table[b])
            self._cache["vocab"] = tuple(table)
        return self._cache["vocab"]

    @property
    def ranks(self) -> dict[Pair, int]:
        if "ranks" not in self._cache:
            self._cache["ranks"] = {pair: i for i, pair in enumerate(self.merges)}
        return self._cache["ranks"]

    def truncated(self, vocab_size: int) -> Tokenizer:
        """The tokenizer of the same run stopped at `vocab_size` tokens (its first merges)."""
        if not BASE <= vocab_size <= self.vocab_size:
            raise ValueError(f"vocabulary size {vocab_size} outside {BASE}..{self.vocab_size}")
        return Tokenizer(self.merges[:vocab_size - BASE])

    def encode_piece(self, piece: str) -> tuple[int, ...]:
        """The tokens of one piece of the pre-tokenizer (cached)."""
        pieces = self._cache.setdefault("pieces", {})
        if piece in pieces:
            return pieces[piece]
        word = list(piece.encode("utf-8"))
        ranks = self.ranks
        while len(word) > 1:
            pair = min(pairwise(word), key=lambda p: ranks.get(p, len(ranks)))
            if pair not in ranks:
                break
            word = merge_word(word, pair, BASE + ranks[pair])
        pieces[piece] = tokens = tuple(word)
        return tokens

    def encode(self, text: str) -> list[int]:
        return [t for piece in pretokenize(text) for t in self.encode_piece(piece)]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; a sequence that `encode` did not make may split a character's
        bytes, which is then shown as U+FFFD (as GPT-2's errors="replace")."""
        vocab = self.vocab
        return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")

    def count(self, pieces: Mapping[str, int]) -> int:
        """Tokens of a text given as its pieces and their frequencies."""
        return sum(len(self.encode_piece(p)) * n for p, n in pieces.items())


# ---- the tokenizers BPE is compared with ---------------------------------------------------
UNK = "<unk>"


@dataclass(frozen=True)
class CharTokenizer:
    """One token per character; the vocabulary is the distinct characters of the training
    text, and a character outside it becomes `<unk>` (id 0)."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(tuple(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        index = {c: i + 1 for i, c in enumerate(self.chars)}
        return [index.get(c, 0) for c in text]


@dataclass(frozen=True)
class WordTokenizer:
    """One token per piece of the pre-tokenizer (a word with its leading space, a run of
    punctuation, a line break): a vocabulary of `vocab_size` entries, `<unk>` (id 0) and the
    vocab_size - 1 most frequent pieces of the training text (ties in alphabetical order); every
    other piece becomes `<unk>`. A BPE never merges across pieces, so this is the fewest tokens a
    BPE with this pre-tokenizer can reach, whatever its vocabulary."""

    pieces: tuple[str, ...]

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], vocab_size: int) -> WordTokenizer:
        if vocab_size < 1:
            raise ValueError(f"the vocabulary holds at least <unk>, got size {vocab_size}")
        return cls(tuple(by_frequency(counts)[:vocab_size - 1]))

    @property
    def vocab_size(self) -> int:
        return len(self.pieces) + 1

    def encode(self, text: str) -> list[int]:
        index = {p: i + 1 for i, p in enumerate(self.pieces)}
        return [index.get(p, 0) for p in pretokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.pieces[i - 1] if i else UNK for i in ids)


def by_frequency(counts: Mapping[str, int]) -> list[str]:
    """Keys by falling count, ties in alphabetical order."""
    return sorted(counts, key=lambda p: (-counts[p], p))


def words_with(text: str, flagged) -> tuple[int, int]:
    """(whitespace-separated words of `text`, those with at least one piece for which
    `flagged(piece)` is true). Every piece that is not white space lies inside one word: a
    piece with a leading space starts a word, a white-space piece ends one."""
    words = hits = 0
    inside = hit = False
    for piece in pretokenize(text):
        if piece.isspace():
            inside = False
            continue
        if piece[0].isspace() or not inside:
            words += 1
            hits += hit
            inside, hit = True, False
        hit = hit or bool(flagged(piece))
    hits += hit
    return words, hits


# ---- the comparison ------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenizerComparison:
    """Three tokenizers on the held-out text, all learned from the training text only."""

    train_bytes: int
    held_out_bytes: int                 # = characters: the corpus is ASCII
    held_out_words: int                 # whitespace-separated
    held_out_pieces: int                # pieces of the pre-tokenizer
    bpe_vocab: np.ndarray               # vocabulary sizes along one training run
    bpe_tokens: np.ndarray              # held-out tokens at each
    char_vocab: int                     # distinct characters of the training text
    char_tokens: int
    char_unknown: int                   # held-out characters not in that vocabulary
    word_vocab: np.ndarray              # vocabulary sizes (<unk> included); the last holds
    #                                     every piece of the training text
    word_tokens: int                    # held-out tokens, the same at every size
    word_unknown_pieces: np.ndarray     # held-out pieces mapped to <unk>, per size
    word_unknown_words: np.ndarray      # held-out words with at least one <unk>, per size
    example: str                        # a line of the held-out text
    example_vocab: int                  # the vocabulary size its tokens are shown at
    example_bpe: tuple[tuple[str, ...], ...]   # its BPE tokens at each of example_bpe_vocab
    example_bpe_vocab: np.ndarray
    example_word: tuple[str, ...]       # its word tokens at example_vocab (UNK for unknown)


def compare(train_text: str, held_out: str, bpe_vocab: Sequence[int],
            word_vocab: Sequence[int], example: str, example_bpe_vocab: Sequence[int],
            example_vocab: int) -> TokenizerComparison:
    """BPE trained once on `train_text` to the largest of `bpe_vocab` and measured on
    `held_out` at each size; characters; words at each of `word_vocab` and with every piece of
    the training text. `example` (a line of the held-out text) is tokenized by BPE at each of
    `example_bpe_vocab` and by words at `example_vocab`."""
    bpe_vocab = sorted(bpe_vocab)
    if example not in held_out.split("\n"):
        raise ValueError(f"{example!r} is not a line of the held-out text")
    full = train(train_text, bpe_vocab[-1])
    if full.vocab_size != bpe_vocab[-1]:
        raise ValueError(f"training stopped at {full.vocab_size} tokens")
    train_counts, held_counts = Counter(pretokenize(train_text)), Counter(pretokenize(held_out))
    chars = CharTokenizer.from_text(train_text)
    ranked = by_frequency(train_counts)
    word_vocab = sorted(v for v in word_vocab if v <= len(ranked)) + [len(ranked) + 1]
    unknown_pieces, unknown_words = [], []
    for size in word_vocab:
        known = set(ranked[:size - 1])
        unknown_pieces.append(sum(n for p, n in held_counts.items() if p not in known))
        unknown_words.append(words_with(held_out, lambda p, known=known: p not in known)[1])
    words, _ = words_with(held_out, lambda p: False)
    if words != len(held_out.split()):
        raise AssertionError("pieces and whitespace-separated words disagree")
    by_words = WordTokenizer.from_counts(train_counts, example_vocab)

    def spelled(tokenizer: Tokenizer) -> tuple[str, ...]:
        return tuple(tokenizer.decode([t]) for t in tokenizer.encode(example))

    return TokenizerComparison(
        train_bytes=len(train_text.encode("utf-8")), held_out_bytes=len(held_out.encode("utf-8")),
        held_out_words=words, held_out_pieces=sum(held_counts.values()),
        bpe_vocab=np.array(bpe_vocab),
        bpe_tokens=np.array([full.truncated(v).count(held_counts) for v in bpe_vocab]),
        char_vocab=chars.vocab_size, char_tokens=len(chars.encode(held_out)),
        char_unknown=chars.encode(held_out).count(0),
        word_vocab=np.array(word_vocab), word_tokens=len(by_words.encode(held_out)),
        word_unknown_pieces=np.array(unknown_pieces), word_unknown_words=np.array(unknown_words),
        example=example, example_vocab=example_vocab,
        example_bpe=tuple(spelled(full.truncated(v)) for v in example_bpe_vocab),
        example_bpe_vocab=np.array(example_bpe_vocab),
        example_word=tuple(by_words.decode([t]) for t in by_words.encode(example)))
