"""The project's byte-pair encoding (numerics.pretraining.bpe): GPT-2's pre-tokenizer, merges on
an example checked by hand, incremental pair counts against a recount, encoding that reproduces
the training segmentation, lossless round trips, and the character and word tokenizers it is
compared with."""
from __future__ import annotations

import random
import re
from collections import Counter
from itertools import pairwise

import pytest

from numerics.pretraining import bpe, corpus

#: GPT-2's pattern (bpe.GPT2_PATTERN) with its Unicode classes written out for ASCII: letters
#: \p{L} = [A-Za-z], numbers \p{N} = [0-9], white space the six ASCII white-space characters.
SPACE = r" \t\n\r\x0b\x0c"
ASCII_GPT2 = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+"
                        rf"| ?[^{SPACE}A-Za-z0-9]+|[{SPACE}]+(?![^{SPACE}])|[{SPACE}]+")
#: ASCII apart from 0x1C-0x1F (Python's `re` counts them as white space, GPT-2's `regex` not).
ASCII = [chr(c) for c in range(128) if not 0x1C <= c <= 0x1F]


def random_text(rng: random.Random, alphabet, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


#: Characters of many kinds: letters of several scripts, digits, non-decimal numerics,
#: punctuation, the underscore, apostrophes, white space of several kinds, combining marks,
#: emoji (4 UTF-8 bytes), CJK, a right-to-left script, the replacement character.
MIXED = list("aZ z09'_-.,;:!?\"\t\n\r \x0b\x0c\u00a0\u2003\u00e9\u00df\u0301\u00b2\u2167"
             "\u03a9\u0416\u05d0\u0627\u4e2d\u6587\U0001F600\U0001F9EA\ufffd\x00\x1f") + \
    ["'s", "'ll", " the", "\n\n"]


# ---- the pre-tokenizer -----------------------------------------------------------------------
def test_pieces_are_gpt2s_on_a_hand_checked_line():
    assert bpe.pretokenize("I'm here:  it's 42!\n") == [
        "I", "'m", " here", ":", " ", " it", "'s", " 42", "!", "\n"]
    assert bpe.pretokenize("First Citizen:\nBefore we proceed,\n\nAll:") == [
        "First", " Citizen", ":", "\n", "Before", " we", " proceed", ",", "\n", "\n", "All",
        ":"]


def test_pieces_are_gpt2s_on_any_ascii_text():
    rng = random.Random(0)
    alphabets = (ASCII, list("ab1 '\n.") + ["'s", "'re", "  "])
    for alphabet in alphabets:
        for _ in range(300):
            text = random_text(rng, alphabet, rng.randrange(1, 60))
            assert bpe.pretokenize(text) == ASCII_GPT2.findall(text), repr(text)
    text = corpus.load().held_out
    assert bpe.pretokenize(text) == ASCII_GPT2.findall(text)


def test_pieces_join_back_to_any_text():
    rng = random.Random(1)
    for _ in range(500):
        text = random_text(rng, MIXED, rng.randrange(0, 40))
        assert "".join(bpe.pretokenize(text)) == text, repr(text)


# ---- training --------------------------------------------------------------------------------
def test_merges_on_a_hand_checked_example():
    """Sennrich et al.'s example vocabulary (arXiv 1508.07909, Figure 1: low 5, lower 2, newest
    6, widest 3), here byte-level without their end-of-word symbol. By hand: e-s and s-t occur
    9 times (newest 6 + widest 3), the tie goes to the smaller ids, e (101) before s (115):
    "es"; then es-t, 9: "est"; l-o and o-w 7 (low 5 + lower 2), l (108) before o (111): "lo";
    lo-w 7: "low"; then n-e, e-w and w-est 6 each (newest), e (101) first: "ew"."""
    trainer = bpe.Trainer({"low": 5, "lower": 2, "newest": 6, "widest": 3})
    assert trainer.best() == ((ord("e"), ord("s")), 9)
    counts = []
    for _ in range(5):
        counts.append(trainer.best()[1])
        trainer.step()
    tokenizer = bpe.Tokenizer(tuple(trainer.merges))
    assert [tokenizer.vocab[256 + i] for i in range(5)] == [b"es", b"est", b"lo", b"low", b"ew"]
    assert counts == [9, 9, 7, 7, 6]
    assert trainer.merges[:2] == [(ord("e"), ord("s")), (256, ord("t"))]
    # the pieces as training left them
    spelled = {bytes(b"".join(tokenizer.vocab[t] for t in w)): [tokenizer.vocab[t] for t in w]
               for w in trainer.words}
    assert spelled[b"newest"] == [b"n", b"ew", b"est"]
    assert spelled[b"lower"] == [b"low", b"e", b"r"]


def test_overlapping_pairs_merge_left_to_right():
    assert bpe.merge_word([97, 97, 97], (97, 97), 256) == [256, 97]
    assert bpe.merge_word([97, 97, 97, 97], (97, 97), 256) == [256, 256]
    trainer = bpe.Trainer({"aaa": 1})
    assert trainer.pairs == {(97, 97): 2}   # both overlapping pairs count, as in get_stats
    trainer.step(min_count=1)
    assert trainer.words == [[256, 97]] and trainer.pairs == trainer.recount() == {(256, 97): 1}


def test_incremental_counts_equal_a_recount_after_every_merge():
    text = corpus.load().train[:60_000]
    trainer = bpe.Trainer.from_text(text)
    for _ in range(400):
        expected = trainer.recount()
        assert trainer.pairs == expected
        # the index from each pair to the pieces holding it
        holders: dict = {}
        for i, word in enumerate(trainer.words):
            for pair in pairwise(word):
                holders.setdefault(pair, set()).add(i)
        assert {p: s for p, s in trainer.where.items() if s} == holders
        # the merge is the most frequent pair of the recount, ties to the smallest ids
        best = min(expected, key=lambda p: (-expected[p], p))
        assert trainer.step() == best
    assert trainer.pairs == trainer.recount()


def test_training_stops_when_no_pair_repeats():
    tokenizer = bpe.train("ab ab cd", 300)
    # "ab" twice, " ab" once: a-b (2) merges; then no pair occurs twice
    assert tokenizer.vocab_size == 257 and tokenizer.vocab[256] == b"ab"
    with pytest.raises(ValueError):
        bpe.train("ab", 255)


def test_training_is_deterministic_and_fast_enough():
    text = corpus.load().train[:200_000]
    first, second = bpe.train(text, 1024), bpe.train(text, 1024)
    assert first == second and first.vocab_size == 1024


# ---- encoding --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained():
    text = corpus.load().train[:150_000]
    trainer = bpe.Trainer.from_text(text)
    for _ in range(600):
        trainer.step()
    return trainer


def test_encoding_reproduces_the_training_segmentation(trained):
    tokenizer = bpe.Tokenizer(tuple(trained.merges))
    for word in trained.words:
        piece = bytes(b"".join(tokenizer.vocab[t] for t in word)).decode("utf-8")
        assert list(tokenizer.encode_piece(piece)) == word, piece


def test_a_truncated_tokenizer_is_the_run_stopped_early(trained):
    tokenizer = bpe.Tokenizer(tuple(trained.merges))
    small = tokenizer.truncated(300)
    assert small.merges == tokenizer.merges[:44] and small.vocab == tokenizer.vocab[:300]
    text = corpus.load().held_out[:5000]
    counts = Counter(bpe.pretokenize(text))
    lengths = [tokenizer.truncated(v).count(counts) for v in (256, 300, 500, 856)]
    assert lengths[0] == len(text.encode())
    assert lengths == sorted(lengths, reverse=True)
    assert lengths[-1] == len(tokenizer.encode(text))
    with pytest.raises(ValueError):
        tokenizer.truncated(857)


def test_decode_encode_round_trips_any_text(trained):
    rng = random.Random(2)
    tokenizer = bpe.Tokenizer(tuple(trained.merges))
    unicode = bpe.train("".join(random_text(rng, MIXED, 3000) for _ in range(2)), 400)
    samples = [corpus.load().held_out[:3000], "", "\n", "  trailing   ", "\U0001F600" * 3]
    samples += [random_text(rng, MIXED, rng.randrange(0, 50)) for _ in range(300)]
    for text in samples:
        for model in (tokenizer, unicode):
            ids = model.encode(text)
            assert model.decode(ids) == text, repr(text)
            assert all(0 <= i < model.vocab_size for i in ids)


def test_tokens_of_the_byte_alphabet_and_merges():
    tokenizer = bpe.Tokenizer(((104, 105), (32, 256), (256, 33)))   # "hi", " hi", "hi!"
    # "!" is a piece of its own: "hi!" never forms (merges never cross pieces)
    assert tokenizer.encode("hi! hi") == [256, 33, 257]
    assert tokenizer.decode([256, 33, 257]) == "hi! hi"
    assert tokenizer.decode([258]) == "hi!"
    assert tokenizer.encode("\u00e9") == [0xC3, 0xA9]                # two UTF-8 bytes
    assert tokenizer.decode([0xC3]) == "\ufffd"                       # half a character
    with pytest.raises(ValueError, match="not tokens before it"):
        bpe.Tokenizer(((104, 257),))


# ---- the tokenizers BPE is compared with -----------------------------------------------------
def test_the_character_tokenizer():
    chars = bpe.CharTokenizer.from_text("abba\n")
    assert chars.chars == ("\n", "a", "b") and chars.vocab_size == 3
    assert chars.encode("abc\n") == [2, 3, 0, 1]


def test_the_word_tokenizer_keeps_the_most_frequent_pieces():
    counts = Counter(bpe.pretokenize("the cat, the dog, the cat.\n"))
    # " the" 2, "," 2, " cat" 2, "the" 1, " dog" 1, "." 1, "\n" 1: ties alphabetical
    words = bpe.WordTokenizer.from_counts(counts, 4)
    assert words.pieces == (" cat", " the", ",") and words.vocab_size == 4
    ids = words.encode("the cat, a cat.")
    assert ids == [0, 1, 3, 0, 1, 0]
    assert words.decode(ids) == "<unk> cat,<unk> cat<unk>"


def test_words_are_whitespace_separated_and_hold_their_pieces():
    text = "First Citizen:\nBefore we proceed,  any further,\n\nhear me speak.\n"
    words, hits = bpe.words_with(text, lambda piece: "," in piece)
    assert words == len(text.split()) == 10
    assert hits == 2                      # "proceed," and "further,"
    assert bpe.words_with(text, lambda piece: piece.strip() == "me") == (10, 1)
    assert bpe.words_with("", lambda piece: True) == (0, 0)


def test_the_comparison_on_a_small_split():
    text = corpus.load().train[:120_000]
    shipped = corpus.split(text)
    example = shipped.held_out.split("\n")[3]
    result = bpe.compare(shipped.train, shipped.held_out, [256, 300, 400], [16, 64, 10**9],
                         example, [256, 400], 400)
    held = shipped.held_out
    assert result.held_out_words == len(held.split())
    assert result.bpe_tokens[0] == result.held_out_bytes == result.char_tokens == len(held)
    assert list(result.bpe_tokens) == sorted(result.bpe_tokens, reverse=True)
    assert result.bpe_tokens[-1] >= result.held_out_pieces == result.word_tokens
    # the word vocabularies: the sizes asked for up to every training piece, and that one
    types = len(set(bpe.pretokenize(shipped.train)))
    assert list(result.word_vocab) == [16, 64, types + 1]
    assert list(result.word_unknown_words) == sorted(result.word_unknown_words, reverse=True)
    assert all(result.word_unknown_words <= result.word_unknown_pieces)
    assert "".join(result.example_bpe[0]) == "".join(result.example_bpe[1]) == example
    assert len(result.example_bpe[0]) == len(example)
    with pytest.raises(ValueError, match="not a line"):
        bpe.compare(shipped.train, held, [256, 300], [16], "no such line", [256], 300)
