"""The shipped corpus: verified by its hash, split by position without overlap."""
from __future__ import annotations

import pytest

from numerics.pretraining import corpus


def test_the_shipped_corpus_is_verified_and_split_at_a_line_break():
    shipped = corpus.load()
    assert len(shipped.text) == 1_115_394
    assert shipped.train.endswith("\n")
    assert 0.89 < len(shipped.train) / len(shipped.text) <= 0.9
    assert shipped.text == corpus.verified_text()


def test_a_changed_corpus_is_refused(tmp_path):
    changed = tmp_path / "input.txt"
    changed.write_text(corpus.PATH.read_text()[:-1])
    with pytest.raises(corpus.CorpusError, match="not the shipped corpus"):
        corpus.verified_text(changed)
    with pytest.raises(corpus.CorpusError, match="cannot read"):
        corpus.verified_text(tmp_path / "missing.txt")


def test_split_rejects_a_share_outside_zero_to_one():
    with pytest.raises(ValueError):
        corpus.split("a\nb\n", 1.0)
