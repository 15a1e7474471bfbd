"""The tiny language model's recorded runs (data/pretraining/, scripts/recorders/pretraining.py)
and the two figures drawn from them, training_dynamics and optimizer_comparison: every caption
claim and every number they print, checked on the results read from the records; nothing is
rendered here."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import figkit.registry
import pretraining as pt
import records
from models import language_model, mlp, optimizers
from numerics.pretraining import corpus
from numerics.pretraining import language_model as lmexp
from recorders import pretraining as rec

FIGURES = ("training_dynamics", "optimizer_comparison")


@pytest.fixture(scope="module")
def runs() -> dict[str, dict]:
    """Every run specification, the tuned ones at the rates the recorded sweep chooses."""
    return rec.all_runs()


def _load(name: str) -> records.Run:
    return records.load_run(rec.DATA / name)


# ---- the records match the code --------------------------------------------------------------
def test_every_run_is_recorded_by_the_current_code(runs):
    assert len(runs) == 16 + 12
    for name, params in runs.items():
        run = _load(name)
        assert run.config["code_hash"] == rec.current_hash(params), \
            f"{name} is stale: run `python scripts/recorders/pretraining.py`"
        for key, value in params.items():
            assert run.config[key] == value, (name, key)
    assert rec.main(["--check"]) == 0


def test_the_log_holds_every_update(runs):
    for name, params in runs.items():
        run = _load(name)
        assert run.columns == list(lmexp.COLUMNS)
        steps = run.column("step")
        last = params["steps"] if run.config["diverged_at"] is None \
            else run.config["diverged_at"]
        assert run.config["updates_done"] == (last if run.config["diverged_at"] is None
                                              else last - 1)
        np.testing.assert_array_equal(steps, np.arange(last + 1))
        lr = rec.rounded(np.array([optimizers.warmup_cosine(s, params["lr"], params["warmup"],
                                                            params["steps"],
                                                            params["final_lr_ratio"])
                                   for s in range(1, last + 1)]))
        np.testing.assert_array_equal(run.column("lr")[1:], lr)  # the schedule, as recorded
        if run.config["diverged_at"] is None:
            np.testing.assert_array_equal(run.column("tokens"), steps * 2048)
            assert not np.isnan(run.column("train_loss")[1:]).any()
            logged = np.flatnonzero(~np.isnan(run.column("val_loss")))
            np.testing.assert_array_equal(logged, np.arange(0, 601, 25))
            assert run.config["final_val_loss"] == run.column("val_loss")[-1]


def test_a_recorded_run_matches_its_code():
    """The first 25 updates of a tuned AdamW run, trained again now, log what was recorded (to
    the 6 significant digits kept; float32)."""
    run = _load("tuned_adamw_s1")
    cfg = rec.run_config(rec.all_runs()["tuned_adamw_s1"])
    fresh = lmexp.train(cfg, max_steps=25).metrics
    for name, values in fresh.items():
        np.testing.assert_allclose(run.column(name)[:26], values, rtol=2e-5, err_msg=name)


def test_diverged_runs_are_recorded_as_such():
    for name in ("sweep_sgd_lr3", "sweep_momentum_lr1"):
        config = _load(name).config
        assert config["diverged_at"] is not None and config["final_val_loss"] is None
        assert config["updates_done"] == config["diverged_at"] - 1 < config["steps"] == 600
    assert rec.final_val_loss(_load("sweep_sgd_lr3").config) == math.inf


def test_the_tuned_rate_is_the_sweeps_best_and_the_seeds_are_fresh(runs):
    for optimizer, lrs in rec.SWEEP_LRS.items():
        losses = {lr: rec.final_val_loss(_load(rec.sweep_name(optimizer, lr)).config)
                  for lr in lrs}
        best = min(losses, key=losses.get)
        assert rec.best_lr(optimizer) == best
        for seed in rec.TUNED_SEEDS:
            assert runs[rec.tuned_name(optimizer, seed)]["lr"] == best
    assert rec.SWEEP_SEED not in rec.TUNED_SEEDS and len(rec.TUNED_SEEDS) >= 3


def test_the_shared_setting_is_gpt3s_and_llamas():
    """GPT-3 (arXiv 2005.14165, Appendix B): Adam beta2 0.95, cosine decay to 10 % of the rate,
    linear warmup, weight decay 0.1; LLaMA (arXiv 2302.13971, Section 2.2): AdamW, beta1 0.9,
    beta2 0.95, final rate 10 % of the maximum, weight decay 0.1. (Both also clip gradients at
    1.0, which these runs leave out on purpose.)"""
    base = rec.BASE
    assert (base["beta1"], base["beta2"], base["weight_decay"]) == (0.9, 0.95, 0.1)
    assert base["final_lr_ratio"] == 0.1 and 0 < base["warmup"] < base["steps"]
    assert rec.spec("sgd", 1.0, 0)["weight_decay"] == rec.spec("momentum", 1.0, 0)[
        "weight_decay"] == 0.0
    assert rec.spec("adam", 1.0, 0)["weight_decay"] == 0.0  # plain Adam, the default
    assert rec.spec("adamw", 1.0, 0)["weight_decay"] == 0.1


def test_recorded_data_stays_small():
    size = sum(path.stat().st_size for name in rec.all_runs()
               for path in (rec.DATA / name).rglob("*") if path.is_file())
    assert size < 3e6
    assert not any((rec.DATA / name / records.CHECKPOINTS).exists() for name in rec.all_runs())


def test_the_code_hash_covers_the_experiment_code():
    """Every module the training imports from the project is hashed into each run."""
    used = {Path(m.__file__).resolve() for m in (language_model, mlp, optimizers, lmexp, corpus,
                                                 rec)}
    assert used == {Path(p).resolve() for p in rec.SOURCES}
    project = Path(rec.SCRIPTS).resolve()
    for module in (language_model, optimizers, lmexp, corpus):  # and nothing else of ours
        imported = {name for name in vars(module).values() if hasattr(name, "__file__")}
        for other in imported:
            path = Path(other.__file__).resolve()
            if project in path.parents and path.name != "__init__.py":
                assert path in used, (module.__name__, path)


# ---- the figures' results --------------------------------------------------------------------
def test_results_need_no_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("FIGURES.numbers built a Figure")

    monkeypatch.setattr(figkit.registry, "Figure", no_figure)
    for name in FIGURES:
        spec = pt.FIGURES[name]
        assert spec.result.__name__ == f"{name}_result"
        assert pt.FIGURES.numbers(name) is pt.FIGURES.result(name).numbers


def test_number_keys_are_this_parts_own():
    for name in FIGURES:
        assert all(key.startswith("Lm") for key in pt.FIGURES.numbers(name).keys())


def test_training_dynamics_shows_three_tuned_adamw_seeds():
    dynamics = pt.training_dynamics_result()
    caption = pt.FIGURES["training_dynamics"].caption
    assert "AdamW at its tuned rate" in caption and "three seeds" in caption
    assert dynamics.train.seeds == dynamics.val.seeds == len(rec.TUNED_SEEDS) == 3
    assert pt.LM_MAIN == "adamw"
    config = _load("tuned_adamw_s1").config
    assert dynamics.numbers.value("LmPeakLr") == config["lr"] == rec.best_lr("adamw")
    # every update's training loss and every logged held-out loss of every seed
    assert len(dynamics.train.tokens) == 600 and len(dynamics.val.tokens) == 25
    np.testing.assert_array_equal(dynamics.train.tokens, np.arange(600) * 2048 / 1e6)
    seeds = [_load(rec.tuned_name("adamw", s)) for s in rec.TUNED_SEEDS]
    values = np.array([run.series("val_loss")[1] for run in seeds])
    np.testing.assert_array_equal(dynamics.val.median, np.median(values, axis=0))
    np.testing.assert_array_equal(dynamics.val.high, values.max(axis=0))


def test_training_dynamics_caption_claims():
    """From the loss of a uniform guess, far below that of predicting each character by its
    frequency; the held-out loss ends LmValTrainGap (0.14) nats above the training loss."""
    dynamics = pt.training_dynamics_result()
    numbers = dynamics.numbers
    assert dynamics.uniform_loss == pytest.approx(math.log(65), rel=1e-15)
    assert numbers["LmUniformLoss"] == "4.17" and numbers["LmVocab"] == "65"
    assert abs(dynamics.val.median[0] - dynamics.uniform_loss) < 0.05  # where it starts
    assert abs(dynamics.train.median[0] - dynamics.uniform_loss) < 0.05
    source = lmexp.data()
    unigram = lmexp.unigram_cross_entropy(source.train, source.held_out, 65)
    assert dynamics.unigram_loss == pytest.approx(unigram, rel=1e-12)
    assert numbers["LmUnigramLoss"] == "3.35"
    assert numbers.value("LmUnigramEntropy") == pytest.approx(
        lmexp.unigram_entropy(source.train, 65), rel=1e-12)
    # "far below": every seed ends more than a nat below the frequency baseline
    final = [_load(rec.tuned_name("adamw", s)).config["final_val_loss"]
             for s in rec.TUNED_SEEDS]
    assert max(final) < unigram - 1.0
    assert numbers.value("LmFinalValLoss") == np.median(final) == dynamics.val.median[-1]
    assert numbers.value("LmBelowUnigram") > 1.0
    # "held-out ends 0.14 nats above training (its last 50 updates)"
    final_train = [_load(rec.tuned_name("adamw", s)).config["final_train_loss_last_50"]
                   for s in rec.TUNED_SEEDS]
    assert numbers.value("LmFinalTrainLoss") == np.median(final_train)
    assert numbers.value("LmValTrainGap") == pytest.approx(
        np.median(final) - np.median(final_train))
    assert numbers["LmValTrainGap"] == "0.14"
    assert "ends 0.14 nats above training (last 50 updates)" in \
        pt.FIGURES["training_dynamics"].caption
    assert np.all(np.diff(dynamics.val.median) < 0)


def test_training_dynamics_draws_the_recorded_schedule():
    """(b): a linear warmup and a cosine decay to a tenth of the peak, as GPT-3 and LLaMA."""
    dynamics = pt.training_dynamics_result()
    run = _load("tuned_adamw_s1")
    steps, lr = run.series("lr")
    warmup = run.config["warmup"]
    # the warmup is drawn by its two end points: the recorded rates lie on that line
    line = np.interp(steps[:warmup], [1, warmup], [lr[0], lr[warmup - 1]])
    np.testing.assert_allclose(lr[:warmup], line, rtol=1e-5)
    np.testing.assert_array_equal(dynamics.lr, np.concatenate([lr[:1], lr[warmup - 1:]]))
    assert dynamics.lr.max() == lr[warmup - 1] == run.config["lr"]
    assert dynamics.lr[-1] == pytest.approx(0.1 * run.config["lr"], rel=1e-5)
    assert dynamics.numbers["LmFinalLrPercent"] == "10"
    assert "a tenth of the peak" in pt.FIGURES["training_dynamics"].caption
    for seed in rec.TUNED_SEEDS:
        np.testing.assert_array_equal(_load(rec.tuned_name("adamw", seed)).series("lr")[1], lr)


def test_optimizer_comparison_caption_claims():
    comparison = pt.optimizer_comparison_result()
    numbers = comparison.numbers
    final = comparison.final
    median = {opt: float(np.median(v)) for opt, v in final.items()}
    caption = pt.FIGURES["optimizer_comparison"].caption
    # "Adam without weight decay and AdamW with decoupled decay 0.1"
    for seed in rec.TUNED_SEEDS:
        assert _load(rec.tuned_name("adam", seed)).config["weight_decay"] == 0.0
        assert _load(rec.tuned_name("adamw", seed)).config["weight_decay"] == 0.1
    # (a)'s "Adam and AdamW coincide": within LM_COINCIDE at every rate up to the chosen one
    for opt in ("adam", "adamw"):
        assert comparison.sweeps[opt].chosen_lr == 0.01
    lrs = comparison.sweeps["adam"].lrs
    np.testing.assert_array_equal(comparison.coincide, lrs[lrs <= 0.01])
    assert np.all(np.abs(comparison.sweeps["adam"].final_loss[lrs <= 0.01]
                         - comparison.sweeps["adamw"].final_loss[lrs <= 0.01]) < pt.LM_COINCIDE)
    # "end within 0.01 of each other, under the seeds' spread"
    gap = abs(median["adam"] - median["adamw"])
    assert numbers.value("LmOptAdamAdamwGap") == pytest.approx(gap)
    assert numbers["LmOptAdamAdamwGap"] == "0.01" and "within 0.01 of each other" in caption
    assert gap < min(np.ptp(final["adam"]), np.ptp(final["adamw"]))
    # "at the chosen rate decay neither helps nor hurts": the seeds' ranges overlap (the
    # second review: at lr 0.03 AdamW ends 0.13 below Adam, so the claim is the chosen rate's)
    assert "at the chosen rate decay neither helps nor hurts" in caption
    assert final["adam"].min() < final["adamw"].max() and \
        final["adamw"].min() < final["adam"].max()
    # the two lead the others on every seed
    assert set(comparison.ranking[:2]) == {"adam", "adamw"}
    assert max(final["adam"].max(), final["adamw"].max()) < min(
        final["momentum"].min(), final["sgd"].min())
    # "(e) the runs of the training-dynamics figure"
    assert pt.LM_MAIN == pt.LM_OPTIMIZERS[-1] == "adamw"
    np.testing.assert_array_equal(comparison.tuned["adamw"].median,
                                  pt.training_dynamics_result().val.median)
    # three fresh seeds, drawn one by one
    values = np.array([_load(rec.tuned_name("sgd", s)).series("val_loss")[1]
                       for s in rec.TUNED_SEEDS])
    np.testing.assert_array_equal(comparison.tuned["sgd"].values, values)
    # "one SGD seed stalls at the frequency baseline" (its rate borders divergence; the loss
    # of predicting characters by their frequency, the dotted line)
    sgd = comparison.sweeps["sgd"]
    chosen = int(np.flatnonzero(sgd.lrs == sgd.chosen_lr)[0])
    assert sgd.diverged_at[chosen + 1] is not None
    assert comparison.stalled == {"sgd": 1, "momentum": 0, "adam": 0, "adamw": 0}
    assert "one SGD seed stalls at the frequency baseline" in caption
    assert final["sgd"].max() > comparison.unigram_loss - pt.LM_STALL_MARGIN
    stalled = values[np.argmax(values[:, -1])]
    assert np.all(stalled[1:] > comparison.unigram_loss - pt.LM_STALL_MARGIN)  # the whole run
    assert numbers["LmOptSgdStalledLoss"] == "3.33"
    # "three fresh seeds", "(x: diverged; ring: chosen, lowest final held-out loss)"
    assert all(s.seeds == 3 for s in comparison.tuned.values())
    for sweep in comparison.sweeps.values():
        assert sweep.chosen_lr == sweep.lrs[np.nanargmin(sweep.final_loss)]
        assert all(np.isnan(loss) == (d is not None)
                   for loss, d in zip(sweep.final_loss, sweep.diverged_at, strict=True))
    assert numbers["LmOptDiverged"] == "2"


def test_optimizer_comparison_numbers():
    comparison = pt.optimizer_comparison_result()
    numbers = comparison.numbers
    for opt, key in pt.LM_KEYS.items():
        assert numbers.value(f"LmOpt{key}Lr") == comparison.sweeps[opt].chosen_lr
        assert numbers[f"LmOpt{key}Loss"] == f"{np.median(comparison.final[opt]):.2f}"
        assert comparison.tuned[opt].median[-1] == np.median(comparison.final[opt])
    assert numbers["LmOptAdamwLr"] == "0.01" and numbers["LmOptSgdLr"] == "1"
