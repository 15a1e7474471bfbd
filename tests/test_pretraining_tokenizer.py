"""The tokenizer figure of the pre-training chapter (`pretraining/tokenization_comparison`): the
recorded experiment is current and what the code computes now, and every claim of the caption
and every number the figure prints hold on the result (nothing is rendered here)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import figkit.registry
import pretraining as pt
from numerics.pretraining import bpe, corpus
from recorders import pretraining_tokenizer as recorded

NAME = "tokenization_comparison"


@pytest.fixture(scope="module")
def result() -> pt.TokenizationComparison:
    return pt.tokenization_comparison_result()


@pytest.fixture(scope="module")
def run() -> bpe.TokenizerComparison:
    return recorded.load(pt.TOKENIZER_RUN)


def test_the_result_and_its_numbers_need_no_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("the result built a Figure")

    monkeypatch.setattr(figkit.registry, "Figure", no_figure)
    spec = pt.FIGURES[NAME]
    assert spec.result is pt.tokenization_comparison_result
    numbers = pt.tokenization_comparison_result().numbers
    assert all(key.startswith("Token") for key in numbers.keys())


def test_the_recording_is_current_and_reproduced_by_the_code(run):
    """Token counts are integers: the recording equals a fresh run exactly, on any CPU."""
    assert recorded.EXPERIMENT.status(pt.TOKENIZER_RUN) == "ok"
    fresh = recorded.compute(pt.TOKENIZER_RUN, recorded.RUNS[pt.TOKENIZER_RUN])
    for field in dataclasses.fields(fresh):
        a, b = getattr(run, field.name), getattr(fresh, field.name)
        if isinstance(b, np.ndarray):
            assert a.dtype.kind == b.dtype.kind == "i", field.name
            np.testing.assert_array_equal(a, b, field.name)
        else:
            assert a == b, field.name


def test_the_figure_trains_no_tokenizer(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the figure trained a tokenizer")

    for owner, name in ((bpe, "train"), (bpe, "compare"), (bpe.Trainer, "step")):
        monkeypatch.setattr(owner, name, refuse)
    pt.tokenization_comparison_result()


def test_caption_states_the_recorded_training_run(run):
    caption = pt.FIGURES[NAME].caption
    shipped = corpus.load()
    # "trained once on the first 90 % of Tiny Shakespeare ... on the held-out rest"
    assert "first 90\\,\\% of Tiny Shakespeare" in caption
    assert recorded.RUNS[pt.TOKENIZER_RUN]["train_share"] == corpus.TRAIN_SHARE == 0.9
    assert run.train_bytes == len(shipped.train) and run.held_out_bytes == len(shipped.held_out)
    assert run.held_out_words == len(shipped.held_out.split())
    # "the 256 bytes, then up to 7,936 merges": one run, measured at its first merges
    assert "the 256 bytes, then up to 7,936 merges" in caption
    assert run.bpe_vocab[0] == bpe.BASE == 256 and run.bpe_vocab[-1] - 256 == 7936
    assert list(run.bpe_vocab) == sorted(set(run.bpe_vocab))


def test_every_number_on_panel_a(result, run):
    numbers = result.numbers
    words = run.held_out_words
    # the character tokenizer: the distinct characters of the training text, and the BPE's start
    # (the 256 bytes): one token per character of this ASCII text, the same count
    assert run.char_vocab == len(set(corpus.load().train)) == 65
    assert run.char_tokens == run.bpe_tokens[0] == run.held_out_bytes
    assert result.char_tokens_per_word == result.bpe_tokens_per_word[0]
    assert numbers["TokenCharTokensPerWord"] == numbers["TokenBytesPerWord"] == "5.53"
    # "8,192 tokens: 1.74 per word, 3.19 bytes per token", on both axes of (a)
    assert numbers["TokenBpeVocabMax"] == "8,192"
    assert numbers.value("TokenBpeTokensPerWordMax") == run.bpe_tokens[-1] / words
    assert numbers["TokenBpeTokensPerWordMax"] == "1.74"
    assert numbers["TokenBpeBytesPerTokenMax"] == "3.19"
    assert result.bytes_per_word / result.bpe_tokens_per_word[-1] == pytest.approx(
        numbers.value("TokenBpeBytesPerTokenMax"))
    # "words: 1.53 at every size": an unknown piece still costs one token, <unk>
    assert numbers["TokenWordTokensPerWord"] == "1.53"
    assert run.word_tokens == run.held_out_pieces


def test_caption_a_tokens_per_word_fall_towards_the_words_count(result):
    per_word = result.bpe_tokens_per_word
    assert np.all(np.diff(per_word) < 0)                       # fall as the vocabulary grows
    assert np.all(per_word > result.word_tokens_per_word)      # stay above the words' count
    gaps = per_word - result.word_tokens_per_word
    assert gaps[-1] < gaps[0] / 15                             # and come close to it


def test_caption_b_words_leave_held_out_words_unknown_bpe_none(result, run):
    # every word vocabulary, up to every piece of the training text, leaves words unknown
    assert np.all(result.word_unknown_pct > 0)
    assert np.all(np.diff(result.word_unknown_pct) < 0)
    assert run.word_vocab[-1] == len(set(bpe.pretokenize(corpus.load().train))) + 1
    assert result.numbers["TokenTrainPieces"] == "14,134"
    assert result.numbers["TokenWordUnknownAll"] == "7.0"
    # "9.0 %" at the word vocabulary of BPE's largest size
    at_max = int(np.flatnonzero(run.word_vocab == run.bpe_vocab[-1])[0])
    assert result.numbers["TokenWordUnknownAtMax"] == "9.0"
    assert result.word_unknown_pct[at_max] == 100 * run.word_unknown_words[at_max] / \
        run.held_out_words
    # characters: every held-out character occurs in the training text
    assert run.char_unknown == result.char_unknown == 0
    # BPE: byte-level, so any text is spelled with its tokens (a short run stands for the
    # recorded one: unknown tokens cannot arise at any size)
    held_out = corpus.load().held_out
    tokenizer = bpe.train(corpus.load().train[:100_000], 300)
    assert tokenizer.decode(tokenizer.encode(held_out)) == held_out


def test_caption_c_one_held_out_line(result, run):
    shipped = corpus.load()
    assert run.example in shipped.held_out.split("\n")
    assert result.example_words == len(run.example.split()) == 5
    rows = result.example_rows
    assert [row.label for row in rows] == ["BPE, 1,024", "BPE, 8,192", "words, 8,192"]
    # every row spells the line (leading spaces printed as U+2423) but the unknown word
    for row, tokens in zip(rows[:2], run.example_bpe, strict=True):
        assert "".join(tokens) == run.example
        assert "".join(row.tokens).replace(pt.TOKEN_VISIBLE_SPACE, " ") == run.example
        assert row.count == f"{len(tokens)} tokens" and not any(row.unknown)
    # "spiriting" never occurs in the training text: the word tokenizer maps it to <unk>, BPE
    # spells it from pieces it learned
    assert "spiriting" not in shipped.train
    words = rows[2]
    assert words.unknown == (False, False, False, True, False, False)
    assert words.count == "6 tokens, 1 unknown"
    assert run.example_bpe[1] == ("And", " do", " my", " spirit", "ing", " gently", ".")
    assert result.numbers["TokenExampleBpeSmall"] == str(len(rows[0].tokens)) == "11"
    assert result.numbers["TokenExampleBpeLarge"] == "7"
    assert run.example_vocab == run.bpe_vocab[-1] == run.example_bpe_vocab[-1]
