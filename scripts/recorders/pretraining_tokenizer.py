"""Record the tokenizer experiment of the pre-training chapter (:func:`numerics.pretraining.bpe.
compare`) into data/pretraining/tokenizer/.

    python scripts/recorders/pretraining_tokenizer.py          record it if missing or out of date
    python scripts/recorders/pretraining_tokenizer.py --force  record it again
    python scripts/recorders/pretraining_tokenizer.py --check  record nothing; exit 1 if out of date
    python scripts/recorders/pretraining_tokenizer.py --list

The project's byte-pair encoding is trained once on the training part of the shipped corpus
(Tiny Shakespeare, :mod:`numerics.pretraining.corpus`) and measured on the held-out part at
several vocabulary sizes of that one run, beside a character and a word tokenizer learned from
the same training text. The result (a few kilobytes: token counts, no merges table) is what
`pretraining/tokenization_comparison` draws, so `make figures` trains nothing. It is out of
date when its ``code_hash`` differs from the hash of :data:`SOURCES` (this file, the BPE and the
corpus loader) and its parameters (which hold the corpus's SHA-256). The language-model runs of
the chapter are recorded into the same folder by scripts/recorders/pretraining.py, under other
names.
"""
from __future__ import annotations

import sys
from pathlib import Path

from numerics.pretraining import bpe, corpus
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "pretraining"
SOURCES = (SCRIPTS / "recorders" / "pretraining_tokenizer.py",
           SCRIPTS / "numerics" / "pretraining" / "bpe.py",
           SCRIPTS / "numerics" / "pretraining" / "corpus.py")

#: Vocabulary sizes at which the one BPE run is measured: the 256 bytes, then about two sizes
#: per doubling up to 8,192 (7,936 merges).
BPE_VOCAB = [256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192]
#: Vocabulary sizes of the word tokenizer (<unk> and the most frequent training pieces); the
#: experiment adds the size that holds every piece of the training text.
WORD_VOCAB = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
#: A held-out line (The Tempest, Ariel) with a word that the word tokenizer of 8,192 entries
#: does not know ("spiriting"), tokenized by BPE at two sizes and by words.
EXAMPLE = "And do my spiriting gently."
EXAMPLE_BPE_VOCAB = [1024, 8192]
EXAMPLE_VOCAB = 8192

RUNS: dict[str, dict] = {
    "tokenizer": {"bpe_vocab": BPE_VOCAB, "word_vocab": WORD_VOCAB, "example": EXAMPLE,
                  "example_bpe_vocab": EXAMPLE_BPE_VOCAB, "example_vocab": EXAMPLE_VOCAB,
                  "corpus_sha256": corpus.SHA256, "train_share": corpus.TRAIN_SHARE},
}
DESCRIPTION = {
    "tokenizer": "BPE (one run to 8,192 tokens), characters and words on the held-out text",
}
RESULT_TYPES = {"tokenizer": bpe.TokenizerComparison}


def compute(name: str, params: dict) -> bpe.TokenizerComparison:
    if name != "tokenizer":
        raise KeyError(name)
    shipped = corpus.load()
    return bpe.compare(shipped.train, shipped.held_out, params["bpe_vocab"],
                       params["word_vocab"], params["example"], params["example_bpe_vocab"],
                       params["example_vocab"])


EXPERIMENT = recorder.result_experiment("pretraining_tokenizer.py", RUNS, DATA, SOURCES, compute,
                                        DESCRIPTION, RESULT_TYPES)
#: The recorded result `name` as its dataclass (what the tokenizer figure reads).
load = EXPERIMENT.load


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder): --force, --run, --check, --list, --jobs, --data."""
    return recorder.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
