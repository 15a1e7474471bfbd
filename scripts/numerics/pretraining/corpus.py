"""The corpus the pre-training chapter ships: Tiny Shakespeare (data/pretraining/corpus/, see its
SOURCE.md for origin and licence), verified by its SHA-256 and split once for every experiment.

The split is by position, not by random sampling: the first `TRAIN_SHARE` of the text trains
(tokenizers and language models alike), the rest is held out, so no line of held-out dialogue
was ever seen in training and the split needs no seed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PATH = ROOT / "data" / "pretraining" / "corpus" / "tinyshakespeare.txt"
#: SHA-256 of the shipped file (karpathy/char-rnn, data/tinyshakespeare/input.txt).
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
#: Share of the text (by characters, cut at a line break) that trains; the rest is held out.
TRAIN_SHARE = 0.9


class CorpusError(Exception):
    """The corpus file is missing or is not the shipped one."""


@dataclass(frozen=True)
class Corpus:
    train: str
    held_out: str

    @property
    def text(self) -> str:
        return self.train + self.held_out


def verified_text(path: Path = PATH, sha256: str = SHA256) -> str:
    """The corpus as text, after checking that it is the shipped file."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CorpusError(f"{path}: cannot read the corpus ({error.strerror})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise CorpusError(f"{path}: SHA-256 {digest} is not the shipped corpus's {sha256}")
    return data.decode("ascii")


def split(text: str, train_share: float = TRAIN_SHARE) -> Corpus:
    """`text` cut after the line break nearest below `train_share` of its length."""
    if not 0 < train_share < 1:
        raise ValueError(f"train_share must be between 0 and 1, got {train_share}")
    cut = text.rfind("\n", 0, int(len(text) * train_share)) + 1
    if cut <= 0:
        raise ValueError("the text has no line break before the cut")
    return Corpus(train=text[:cut], held_out=text[cut:])


@cache
def load() -> Corpus:
    """The shipped corpus, verified and split."""
    return split(verified_text())
