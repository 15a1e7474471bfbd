"""Record the progress measures of Nanda et al. 2023 (arXiv 2301.05217) over the main grokking
run into data/grokking_progress/main/, and over the recorded transformer run into
data/grokking_progress/transformer/.

    python scripts/recorders/grokking_progress.py            record it if missing or out of date
    python scripts/recorders/grokking_progress.py --force    record it again
    python scripts/recorders/grokking_progress.py --check    record nothing; exit 1 if stale

The one run, ``main``, trains the network of :mod:`models.modular` with the parameters of the
main grokking run (:data:`recorders.grokking.MAIN`, imported, so the two cannot drift apart) and
keeps all its parameters at every logged step that is a multiple of ``snapshot_every`` = 50 and
at the last step (in memory only: no checkpoints are written). Then
:func:`numerics.grokking.progress.measures_over_training` computes at each of those steps the
training and validation loss, the restricted loss (validation pairs, only the key frequencies'
components of the neurons kept), the excluded loss (training pairs, those components removed),
the Gini coefficient of the embedding's Fourier power, the accuracies of the real, restricted and
excluded logits, and the share of the embedding's power in the key frequencies. The key
frequencies are the fewest that hold ``key_share`` = 80 % of the *final* embedding's
non-constant Fourier power (as the fourier_features figure chooses them), the same at every step.

The second run, ``transformer``, trains the one-layer transformer of :mod:`models.transformer`
with the parameters of :data:`recorders.grokking_transformer.MAIN` (imported; its checkpoint
schedule left out: no checkpoints are written) and the same snapshot interval and key share, and
computes the same columns with the ``transformer_*`` functions of
:mod:`numerics.grokking.progress` (neurons: the MLP's post-ReLU activations at the final
position; Fourier sparsity and key frequencies: the number tokens' embedding W_E[:p]).

config.json holds every parameter, the key frequencies, the code_hash, the wall time and the
machine; logs/metrics.csv the measures, ``step`` first. Recording takes well under a minute for
``main`` and about a minute and a half for ``transformer`` (on one core).
"""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import records
from models import modular, transformer
from numerics.grokking import progress
from recorders import grokking, grokking_transformer
from records import recorder

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
DATA = ROOT / "data" / "grokking_progress"
SOURCES = (SCRIPTS / "recorders" / "grokking_progress.py", SCRIPTS / "models" / "modular.py",
           SCRIPTS / "models" / "mlp.py", SCRIPTS / "models" / "transformer.py",
           SCRIPTS / "numerics" / "grokking" / "progress.py",
           SCRIPTS / "numerics" / "grokking" / "analysis.py")

#: The main grokking run's parameters (without its checkpoints: none are written here), the
#: snapshot interval, and the share of the final embedding's power the key frequencies hold.
MAIN = {**{k: v for k, v in grokking.MAIN.items() if k != "checkpoints"},
        "snapshot_every": 50, "key_share": progress.KEY_SHARE}
#: The recorded transformer run's parameters (without its checkpoint schedule: none are written
#: here), with the same snapshot interval and key share.
TRANSFORMER = {**{k: v for k, v in grokking_transformer.MAIN.items()
                  if k not in grokking_transformer.SCHEDULE},
               "snapshot_every": MAIN["snapshot_every"], "key_share": progress.KEY_SHARE}
RUNS = {"main": MAIN, "transformer": TRANSFORMER}
#: The entries of a run specification that say what is measured, not how the network trains.
MEASURING = ("snapshot_every", "key_share")

MEASURES = {
    "train_loss": "cross-entropy of the logits on the training pairs",
    "val_loss": "cross-entropy of the logits on the validation pairs",
    "restricted_loss": "cross-entropy on the validation pairs of the logits of the restricted "
                       "activations (each neuron's mean over all p*p pairs plus its components "
                       "along cos and sin of w_k (a + b) for the key frequencies k), shifted to "
                       "the real logits' mean over all pairs",
    "excluded_loss": "cross-entropy on the training pairs of the logits of the activations "
                     "minus their key-frequency components",
    "fourier_gini": "Gini coefficient of the embedding's Fourier power over k = 1 .. p // 2",
    "train_acc": "accuracy on the training pairs",
    "val_acc": "accuracy on the validation pairs",
    "restricted_acc": "accuracy of the restricted logits on the validation pairs",
    "excluded_acc": "accuracy of the excluded logits on the training pairs",
    "key_share": "share of the embedding's non-constant Fourier power in the key frequencies",
}


def grok_config(params: dict) -> modular.GrokConfig:
    """The training configuration of the run specification."""
    return grokking.grok_config({k: v for k, v in params.items()
                                 if k not in ("snapshot_every", "key_share")})


def transformer_config(params: dict) -> transformer.TransformerConfig:
    """The training configuration of a transformer run specification."""
    return transformer.TransformerConfig(**{k: v for k, v in params.items()
                                            if k not in MEASURING})


def record(name: str, params: dict, data: Path = DATA) -> dict:
    """Train the run (the transformer when the specification has ``n_heads``, else the MLP),
    compute the measures at its snapshots, write them with `records.write_run` (no
    checkpoints); return the config."""
    if "n_heads" in params:
        return record_transformer(name, params, data)
    start = time.perf_counter()
    cfg = grok_config(params)
    split = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    result = modular.train(cfg, data=split, snapshot_every=params["snapshot_every"])
    key, columns = progress.measures_over_training(result.snapshots, split, params["key_share"])
    config = {
        "name": name,
        "task": "(a + b) mod p, all p*p pairs; seeded random train/validation split",
        "model": "shared embedding E (p x d); [E[a], E[b]] -> ReLU MLP -> p logits; float64",
        "training": "the main grokking run (recorders.grokking.MAIN), trained afresh",
        **dataclasses.asdict(cfg),
        "hidden": list(cfg.hidden),
        "snapshot_every": params["snapshot_every"],
        "key_share": params["key_share"],
        "key_frequencies": [int(k) for k in key],
        "key_frequency_rule": "the fewest frequencies k >= 1 holding key_share of the final "
                              "embedding's non-constant Fourier power "
                              "(numerics.grokking.analysis.key_frequencies)",
        "neurons": "post-ReLU activations of the last hidden layer (the output layer's input)",
        "measures": MEASURES,
    }
    return _write(name, params, data, config, split, result, columns, start)


def record_transformer(name: str, params: dict, data: Path = DATA) -> dict:
    """`record` for a transformer run specification."""
    start = time.perf_counter()
    cfg = transformer_config(params)
    split = modular.split(cfg.p, cfg.train_fraction, cfg.seed)
    result = transformer.train(cfg, data=split, snapshot_every=params["snapshot_every"])
    key, columns = progress.transformer_measures_over_training(
        result.snapshots, split, params["key_share"], cfg.n_heads)
    config = {
        "name": name,
        "task": "(a + b) mod p, all p*p pairs; seeded random train/validation split",
        "model": "one-layer transformer on 'a b =' (models.transformer), no LayerNorm; "
                 f"{cfg.dtype}, the measures computed in float64",
        "training": "the recorded transformer run (recorders.grokking_transformer.MAIN), "
                    "trained afresh",
        **dataclasses.asdict(cfg),
        "snapshot_every": params["snapshot_every"],
        "key_share": params["key_share"],
        "key_frequencies": [int(k) for k in key],
        "key_frequency_rule": "the fewest frequencies k >= 1 holding key_share of the final "
                              "number-token embedding W_E[:p]'s non-constant Fourier power "
                              "(numerics.grokking.analysis.key_frequencies)",
        "neurons": "post-ReLU MLP activations at the final position ('='); restricted and "
                   "excluded logits: (residual after attention + acts W_out + b_out) W_U",
        "measures": {**MEASURES, "fourier_gini": "Gini coefficient of the number tokens' "
                     "embedding W_E[:p]'s Fourier power over k = 1 .. p // 2",
                     "key_share": "share of W_E[:p]'s non-constant Fourier power in the key "
                                  "frequencies"},
    }
    return _write(name, params, data, config, split, result, columns, start)


def _write(name: str, params: dict, data: Path, config: dict, split, result, columns,
           start: float) -> dict:
    """`config` with what every run of this recorder records last (sizes, steps, wall time,
    machine, code hash), written with the measured `columns`; returns the config."""
    config = {
        **config,
        "n_train": int(len(split.y_train)),
        "n_val": int(len(split.y_val)),
        "steps": result.steps,
        "stopped_reason": result.stopped_reason,
        "measured_steps": "every logged step that is a multiple of snapshot_every, and the last",
        "wall_time_s": round(time.perf_counter() - start, 2),
        "machine": {"numpy": np.__version__, "python": platform.python_version(),
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
        "code_hash": EXPERIMENT.current_hash(params),
    }
    records.write_run(Path(data) / name, config, columns)
    return config


def _line(config: dict) -> str:
    return (f"{config['name']:11s} key frequencies {config['key_frequencies']}, "
            f"{config['steps']} steps, wall {config['wall_time_s']:.1f} s")


EXPERIMENT = recorder.Experiment("grokking_progress.py", RUNS, DATA, SOURCES, record, _line)


def main(argv: list[str] | None = None) -> int:
    """The command line (records.recorder): --force, --run, --check, --list, --data."""
    return recorder.main(EXPERIMENT, argv)


if __name__ == "__main__":
    sys.exit(main())
