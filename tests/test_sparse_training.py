"""The sparse-training topic: every caption's claim and published number checked on the results
the figures draw, read from the recorded runs; nothing is rendered here (two tests build a
figure, without drawing it, to see where its legends are)."""
from __future__ import annotations

import ast
import math

import matplotlib.colors
import numpy as np
import pytest

import figkit.registry
import sparse_training as st
from conftest import build_strict
from numerics.sparse_training import controller, selection
from numerics.sparse_training.task import class_priors, make_task
from recorders import sparse_training as recorded


def test_every_figure_has_a_result_and_its_numbers_need_no_drawing(monkeypatch):
    def no_figure(*args, **kwargs):
        raise AssertionError("FIGURES.numbers built a Figure")

    monkeypatch.setattr(figkit.registry, "Figure", no_figure)
    for spec in st.FIGURES.specs:
        assert spec.result is not None, spec.name
        assert spec.result.__name__ == f"{spec.name}_result"
        assert st.FIGURES.numbers(spec.name) is st.FIGURES.result(spec.name).numbers


def test_captions_state_the_recorded_target_seeds_and_checkpoints():
    gated = st.run(st.MAIN)
    assert gated.config["mode"] == "gated" and gated.config["rate"] == st.MAIN_TARGET
    for name in ("training_results", "threshold_adaptation", "significance_distribution"):
        assert "10\\,\\%" in st.FIGURES[name].caption
    # "mean and standard deviation over five seeds": every point averages five recorded runs
    assert "over five seeds" in st.FIGURES["accuracy_vs_compute"].caption
    comparison = st.accuracy_vs_compute_result()
    for group in (comparison.gated, comparison.random, comparison.full):
        for name in group.runs:
            assert len(st.seeds(name)) == len(recorded.SEEDS) == 5, name
    # "at five steps" of "one recorded 10 % run (seed 0)"
    caption = st.FIGURES["significance_distribution"].caption
    assert "at five steps" in caption and "(seed 0)" in caption and gated.config["seed"] == 0
    assert "(seed 0)" in st.FIGURES["threshold_adaptation"].caption
    assert len(st.significance_distribution_result().snapshots) == len(gated.checkpoints) == 5


def test_targets_on_the_figures_come_from_the_configs():
    gated = st.run(st.MAIN)
    for name in ("training_results", "threshold_adaptation"):
        assert st.FIGURES.numbers(name).value("TargetRate") == 100 * gated.config["rate"]
    assert st.FIGURES.result("training_results").target_percent == 100 * gated.config["rate"]
    assert st.threshold_adaptation_result().rate.target_percent == 100 * gated.config["rate"]


def test_the_controller_reaches_its_target_on_the_recorded_run():
    adaptation = st.threshold_adaptation_result()
    smoothed = adaptation.rate.smoothed
    last_third = smoothed.values[smoothed.steps >= smoothed.steps.max() * 2 / 3]
    assert abs(last_third.mean() - adaptation.rate.target_percent) < 1  # percentage point
    assert adaptation.numbers.value("RateLastThird") == pytest.approx(
        adaptation.rate.target_percent, abs=1)


def test_compute_is_counted_with_the_scoring_pass():
    gated, full = st.run(st.MAIN), st.run(st.BASELINE)
    forward, backward = (gated.config["forward_flops_per_sample"],
                         gated.config["backward_flops_per_sample"])
    processed, trained = gated.config["samples_processed"], gated.config["samples_trained"]
    assert gated.config["flops_total"] == forward * processed + backward * trained
    assert full.config["flops_total"] == (forward + backward) * full.config["samples_trained"]
    comparison = st.training_results_result()
    baseline, split = comparison.compute["baseline"], comparison.compute["gated"]
    assert baseline.total_percent == pytest.approx(100) and baseline.total_sd_percent == 0
    # both runs pay a forward pass on every sample: the gated run's is its scoring pass, a third
    # of the baseline's compute (backward = 2 x forward), which no target can save
    assert split.forward_percent == pytest.approx(100 / 3) == baseline.forward_percent
    for name_split in (baseline, split):
        assert name_split.forward_percent + name_split.backward_percent \
            == pytest.approx(name_split.total_percent)
    # the backward passes of the 10 % gated run: 2/3 of the baseline's, times the realised rate
    rates = [replica.config["activation_rate_mean"] for replica in st.seeds(st.MAIN)]
    assert split.backward_percent == pytest.approx(100 * 2 / 3 * np.mean(rates))
    numbers = comparison.numbers
    assert numbers["GatedForwardPercent"] == "33" and numbers["FullBackwardPercent"] == "67"
    assert numbers["GatedBackwardPercent"] == "7" and numbers["GatedComputePercent"] == "40"
    assert numbers.value("SavedPercent") == pytest.approx(100 - split.total_percent)
    assert numbers["SavedPercent"] == "60"
    # the seeds agree on the cost to well below the printed precision
    assert split.total_sd_percent < 0.1


def test_training_loss_compares_like_with_like():
    """Panel (a) gives both runs the mean loss over every sample of the batch: for the baseline
    that is its training loss, for the gated run it is not the loss it trains on (the mean over
    the samples above the threshold, far higher) -- the old panel compared those two."""
    comparison = st.training_results_result()
    for key, name in (("baseline", st.BASELINE), ("gated", st.MAIN)):
        band = comparison.loss[key]
        assert band.seeds == len(recorded.SEEDS)
        last = [replica.series("batch_loss_mean")[1][-1] for replica in st.seeds(name)]
        assert band.steps[-1] == 640 and band.mean[-1] == pytest.approx(np.mean(last))
    full = st.run(st.BASELINE)
    np.testing.assert_array_equal(full.column("train_loss"), full.column("batch_loss_mean"))
    gated = st.run(st.MAIN)
    selected = gated.series("train_loss")[1][-1]
    assert selected > comparison.loss["gated"].mean[-1] + 0.3
    numbers = comparison.numbers
    assert numbers["GatedBatchLoss"] == f"{comparison.loss['gated'].mean[-1]:.2f}"
    assert numbers["FullBatchLoss"] == f"{comparison.loss['baseline'].mean[-1]:.2f}"
    # the gated run ends with a higher like-for-like training loss and a lower accuracy
    assert comparison.loss["gated"].mean[-1] > 2 * comparison.loss["baseline"].mean[-1]
    assert comparison.accuracy["gated"].mean[-1] < comparison.accuracy["baseline"].mean[-1] - 5


def test_training_results_show_every_seed_and_their_spread():
    """"mean and standard deviation over five seeds": the bands average every seed at every
    epoch (and the initialisation, for the accuracy)."""
    assert "over five seeds" in st.FIGURES["training_results"].caption
    comparison = st.training_results_result()
    epochs = st.run(st.MAIN).config["epochs"]
    for bands in (comparison.loss, comparison.accuracy):
        for band in bands.values():
            assert band.seeds == 5 and np.all(band.sd[band.steps > 0] > 0)
    for band in comparison.accuracy.values():
        assert len(band.steps) == epochs + 1 and band.steps[0] == 0
    for band in comparison.loss.values():
        assert len(band.steps) == epochs  # no loss before the first step


def test_one_quantity_has_one_value_across_the_chapter():
    """Final accuracy and compute of the gated 10 % run and of the baseline: the same numbers in
    training_results and accuracy_vs_compute (both the mean over the five seeds)."""
    results, points = st.FIGURES.numbers("training_results"), \
        st.FIGURES.numbers("accuracy_vs_compute")
    assert results["GatedAcc"] == points["GatedTenAcc"]
    assert results["GatedComputePercent"] == points["GatedTenCompute"]
    comparison = st.accuracy_vs_compute_result()
    assert results["FullAcc"] == f"{comparison.full.accuracy_percent[0]:.1f}"


def test_threshold_lies_between_the_batch_mean_and_the_active_mean():
    """The caption of threshold_adaptation: at every step the threshold is above the batch's mean
    loss and below the mean loss of the samples it lets through."""
    adaptation = st.threshold_adaptation_result()
    batch, threshold, active = (adaptation.batch_loss, adaptation.threshold,
                                adaptation.selected_loss)
    assert np.array_equal(batch.steps, threshold.steps) and np.array_equal(batch.steps,
                                                                           active.steps)
    assert np.all(batch.values < threshold.values) and np.all(threshold.values < active.values)
    numbers = adaptation.numbers
    assert (numbers["FinalBatchLoss"], numbers["FinalThreshold"], numbers["FinalSelectedLoss"]) \
        == ("1.12", "1.37", "1.52")


def _window_means(curve, edges):
    return np.array([curve.values[(curve.steps >= low) & (curve.steps < high)].mean()
                     for low, high in zip(edges[:-1], edges[1:], strict=True)])


def test_after_step_50_the_batch_loss_is_flat_while_the_threshold_sinks():
    """"after about step 50 the batch's mean loss stays flat while the threshold keeps sinking
    towards it": over 100-step windows from step 50 on, the batch's mean loss moves by less than
    0.03 (it fell by more than 0.5 before), while the threshold falls in every window, by 0.2
    in all; the old caption ("falls with the losses") said the threshold followed the loss."""
    adaptation = st.threshold_adaptation_result()
    edges = [50, 150, 250, 350, 450, 550, 641]
    batch = _window_means(adaptation.batch_loss, edges)
    threshold = _window_means(adaptation.threshold, edges)
    assert np.ptp(batch) < 0.03
    assert adaptation.batch_loss.values[0] - batch[0] > 0.5
    assert np.all(np.diff(threshold) < 0) and threshold[0] - threshold[-1] > 0.2
    # towards it: the gap between threshold and batch mean narrows
    gap = threshold - batch
    assert gap[-1] < 0.6 * gap[0]


def test_threshold_adaptation_axes_hold_their_data_without_empty_room():
    """The loss axis is logarithmic from 1 (a tick) to just above the highest loss; the rate axis
    ends at 1.5 x the highest per-batch rate, room for its legend only."""
    adaptation = st.threshold_adaptation_result()
    fig = build_strict(st.FIGURES, "threshold_adaptation", 6.0)
    ax_loss, ax_rate = fig.axes
    highest = max(np.max(curve.values) for curve in (adaptation.selected_loss,
                                                     adaptation.threshold,
                                                     adaptation.batch_loss))
    assert ax_loss.get_yscale() == "log"
    assert ax_loss.get_ylim() == pytest.approx((1, 1.05 * highest))
    assert ax_rate.get_ylim()[1] == pytest.approx(1.5 * np.max(adaptation.rate.per_batch.values))
    assert ax_rate.get_ylim()[1] < 2.6 * adaptation.rate.target_percent


# ---- the control law the diagram prints -------------------------------------------------------
def _run_law(law, ctrl: controller.PIController, state: controller.PIState, rate: float) -> dict:
    """Evaluate a printed law (assignments of Python arithmetic) for one update."""
    names = {"smoothing": ctrl.smoothing, "target": ctrl.target, "kp": ctrl.kp, "ki": ctrl.ki,
             "integral_limit": ctrl.integral_limit, "smoothed_before": state.smoothed,
             "integral_before": state.integral, "log_threshold_before": state.log_threshold,
             "log_threshold0": state.log_threshold0, "rate": rate,
             "clip": lambda value, limit: min(max(value, -limit), limit)}
    for name, expression in law:
        code = compile(ast.parse(expression, mode="eval"), "<law>", "eval")
        names[name] = eval(code, {"__builtins__": {}}, names)
    return names


def test_the_printed_control_law_is_the_implemented_one():
    """CONTROL_LAW, which the diagram prints, computes what PIController.update computes, for
    random controllers, states and rates (the clamp included); the law the diagram printed
    before (threshold += Kp e + Ki sum e) does not."""
    rng = np.random.default_rng(0)
    incremental = (*st.CONTROL_LAW[:3],
                   ("log_threshold", "log_threshold_before + kp * error + ki * integral"))
    differs = 0
    for _ in range(200):
        ctrl = controller.PIController(target=rng.uniform(0.01, 0.5), kp=rng.uniform(0, 10),
                                       ki=rng.uniform(0, 3), smoothing=rng.uniform(0.01, 1),
                                       integral_limit=rng.uniform(0.1, 3))
        state = controller.PIState(log_threshold=rng.normal(), log_threshold0=rng.normal(),
                                   smoothed=rng.uniform(0, 1),
                                   integral=rng.uniform(-ctrl.integral_limit,
                                                        ctrl.integral_limit))
        rate = rng.uniform(0, 1)
        after = ctrl.update(state, rate)
        law = _run_law(st.CONTROL_LAW, ctrl, state, rate)
        assert law["smoothed"] == pytest.approx(after.smoothed, rel=1e-12, abs=1e-15)
        assert law["integral"] == pytest.approx(after.integral, rel=1e-12, abs=1e-15)
        assert law["log_threshold"] == pytest.approx(after.log_threshold, rel=1e-12, abs=1e-12)
        differs += not math.isclose(_run_law(incremental, ctrl, state, rate)["log_threshold"],
                                    after.log_threshold, rel_tol=1e-9)
    assert differs > 150


def test_the_diagram_prints_the_law_with_the_recorded_constants():
    diagram = st.architecture_diagram_result()
    assert diagram.law == st.law_latex(st.CONTROL_LAW)
    assert diagram.law[3] == r"$\log\theta_t = \log\theta_0 + K_p\,e_t + K_i\,I_t$"
    assert diagram.law[0] == r"$\bar r_t = (1 - \alpha)\,\bar r_{t-1} + \alpha\,r_t$"
    assert not any("+=" in line or r"\sum" in line for line in diagram.law)
    config = st.run(st.MAIN).config
    assert diagram.controller == recorded.configs(recorded.RUNS[st.MAIN])[1].controller()
    for name, key in st.LAW_CONSTANTS:
        assert diagram.numbers.value(key) == config[name] == getattr(diagram.controller, name)
        assert f"${st.LAW_SYMBOLS[name]} = {diagram.numbers[key]}$" in diagram.constants
    assert diagram.numbers.value("BatchSize") == config["batch_size"]
    # every name of the law is printed, and every symbol is one the law uses
    used = {node.id for _, expression in st.CONTROL_LAW
            for node in ast.walk(ast.parse(expression)) if isinstance(node, ast.Name)}
    assert used - {"clip"} | {name for name, _ in st.CONTROL_LAW} == set(st.LAW_SYMBOLS)


@pytest.mark.parametrize("name", ["training_results", "threshold_adaptation",
                                  "accuracy_vs_compute"])
def test_legends_sit_in_the_panel_they_serve(name):
    """No legend centred over the whole figure: each legend belongs to one panel."""
    fig = build_strict(st.FIGURES, name, 6.0)
    assert fig.legends == []
    assert any(ax.get_legend() is not None for ax in fig.axes)


def test_gating_is_worse_than_random_even_for_the_same_samples():
    """Caption (a): "worse than choosing them at random even for the same share of
    back-propagated samples, before paying for its scoring pass, and only draws level at 40 %":
    below the last target the gated run loses to the random run of the same rate by more than
    two standard errors of the difference; at the last target the two agree within one. The
    old caption ("does not beat random once the scoring pass is paid for") blamed the cost."""
    comparison = st.accuracy_vs_compute_result()
    gated, random = comparison.gated, comparison.random
    n = len(recorded.SEEDS)
    for g, r in enumerate(comparison.same_rate):
        assert random.runs[r] == recorded.PARTNERS[gated.runs[g]]["equal_rate"]
        assert st.run(random.runs[r]).config["rate"] == st.run(gated.runs[g]).config["rate"]
        gap = random.accuracy_percent[r] - gated.accuracy_percent[g]
        error = math.hypot(random.accuracy_sd_percent[r], gated.accuracy_sd_percent[g]) \
            / math.sqrt(n)
        if g < len(comparison.same_rate) - 1:
            assert gap > 2 * error and gap > 1, gated.runs[g]
        else:
            assert abs(gap) < error, gated.runs[g]
    # the figure's equal-compute points too: no gated run beats a random run that costs no more
    assert np.all(np.isfinite(comparison.best_random_at_most_compute))
    assert np.all(gated.accuracy_percent <= comparison.best_random_at_most_compute + 0.5)
    numbers = comparison.numbers
    assert (numbers["GatedTenAcc"], numbers["RandomSameRateAcc"]) == ("79.6", "88.3")


def test_without_flipped_labels_most_of_the_gap_closes():
    """Caption (b): on clean labels the gap at the main target shrinks to under a quarter (8.7
    to 1.5 points): label noise makes most of it; what remains is still more than two standard
    errors (the bias of training on hard samples). Label noise costs the random runs and the
    baseline less than half a point."""
    comparison = st.accuracy_vs_compute_result()
    rows = {row.runs[0]: row for row in comparison.ablation}
    partners = recorded.PARTNERS[st.MAIN]
    assert list(rows) == [st.MAIN, partners["equal_rate"], partners["equal_compute"], st.BASELINE]
    assert sorted(row.runs[1] for row in comparison.ablation) == sorted(recorded.CLEAN)
    for row in comparison.ablation:
        assert st.run(row.runs[1]).config["label_noise"] == 0
        assert st.run(row.runs[0]).config["label_noise"] == comparison.label_noise_percent / 100
        assert len(st.seeds(row.runs[1])) == len(recorded.SEEDS)
    gated, same = rows[st.MAIN], rows[partners["equal_rate"]]
    noisy_gap = same.accuracy_percent[0] - gated.accuracy_percent[0]
    clean_gap = same.accuracy_percent[1] - gated.accuracy_percent[1]
    assert clean_gap < 0.25 * noisy_gap
    error = math.hypot(same.accuracy_sd_percent[1], gated.accuracy_sd_percent[1]) \
        / math.sqrt(len(recorded.SEEDS))
    assert clean_gap > 2 * error
    for name in (partners["equal_rate"], partners["equal_compute"], st.BASELINE):
        cost = rows[name].accuracy_percent[1] - rows[name].accuracy_percent[0]
        assert 0 <= cost < 0.5, name
    numbers = comparison.numbers
    assert (numbers["CleanGatedTenAcc"], numbers["CleanRandomSameRateAcc"]) == ("87.2", "88.7")
    assert numbers["LabelNoisePercent"] == "3"
    for row in comparison.ablation:  # every printed value is exported
        for key, value in zip(row.number_keys, row.accuracy_percent, strict=True):
            assert numbers[key] == f"{value:.1f}"


def test_the_matched_random_run_is_the_recorded_equal_compute_partner():
    comparison = st.accuracy_vs_compute_result()
    partner = recorded.PARTNERS[st.MAIN]["equal_compute"]
    assert f"random_{comparison.matched_random_rate:g}" == partner
    index = comparison.random.runs.index(partner)
    numbers = comparison.numbers
    assert numbers["RandomMatchedAcc"] == f"{comparison.random.accuracy_percent[index]:.1f}"
    assert numbers.value("BayesAcc") == pytest.approx(
        100 * st.run("full").config["bayes_val_acc"])
    assert np.all(comparison.gated.accuracy_percent < comparison.bayes_percent)


def test_significance_figure_shows_the_recorded_threshold():
    gated = st.run(st.MAIN)
    distribution = st.significance_distribution_result()
    snapshots = distribution.snapshots
    assert [s.step for s in snapshots] == sorted(gated.checkpoints)
    last = snapshots[-1]
    assert last.threshold == gated.load_checkpoint(last.step)["threshold"][0]
    assert last.above_percent == pytest.approx(100 * gated.config["rate"], abs=5)
    # "the threshold the controller had set": it falls as the losses fall
    assert snapshots[0].threshold > 2 * last.threshold


def test_significance_bins_split_at_the_threshold_and_no_score_sits_on_an_edge():
    """Each panel's edges are threshold x 10^(k/20), one of them the threshold itself, so no bin
    straddles it (the old shared edges at 10^(k/8) put the last threshold, 1.374, inside the bin
    [1.334, 1.778]) and the bars right of it add up to the share above it that the panel prints;
    every score is counted, and none lies within 1e-9 (relative) of an edge, where a last-bit
    difference could move it."""
    distribution = st.significance_distribution_result()
    numbers = distribution.numbers
    assert st.BINS_PER_DECADE == 20
    for word, snapshot in zip(st.NUMBER_WORDS[1:], distribution.snapshots, strict=False):
        scores, edges = snapshot.scores, snapshot.bins
        exponents = np.log10(edges / snapshot.threshold) * st.BINS_PER_DECADE
        assert np.allclose(exponents, np.round(exponents)) and np.all(np.diff(exponents) > 0.99)
        assert snapshot.threshold in edges
        assert edges[0] < scores.min() and scores.max() < edges[-1]
        closest = np.min(np.abs(scores[:, None] / edges[None, :] - 1))
        assert closest > 1e-9, closest
        right = edges[:-1] >= snapshot.threshold
        for kind, shown, key in ((~snapshot.flipped, snapshot.clean_above_percent, "Correct"),
                                 (snapshot.flipped, snapshot.flipped_above_percent, "Flipped")):
            counts = np.histogram(scores[kind], edges)[0]
            assert counts.sum() == kind.sum()
            assert 100 * counts[right].sum() / kind.sum() == pytest.approx(shown)
            assert numbers[f"{key}Above{word.capitalize()}"] == f"{shown:.0f}"
    first, last = distribution.snapshots[0], distribution.snapshots[-1]
    # the shares printed in (a): flipped labels above the threshold 23 -> 92 %, correct 12 -> 8 %
    assert (numbers["FlippedAboveOne"], numbers["FlippedAboveFive"]) == ("23", "92")
    assert (numbers["CorrectAboveOne"], numbers["CorrectAboveFive"]) == ("12", "8")
    assert last.flipped_above_percent > 3 * first.flipped_above_percent


def _lines_labelled(fig, start: str):
    return [line for ax in fig.axes for line in ax.get_lines()
            if line.get_label().startswith(start)]


def test_the_threshold_is_drawn_one_way_in_every_figure():
    """The gate's threshold is the reference role (dotted ink) in both figures that draw it, as
    in the experiments dashboards; threshold_adaptation drew it solid."""
    reference = st.meanings.role("reference")
    for name in ("threshold_adaptation", "significance_distribution"):
        lines = _lines_labelled(build_strict(st.FIGURES, name, 6.0), "threshold")
        assert lines, name
        for line in lines:
            assert line.get_linestyle() == reference.linestyle, name
            assert matplotlib.colors.same_color(line.get_color(), reference.color), name


def test_the_random_marks_are_one_x_and_the_coinciding_gated_point_is_on_top():
    """accuracy_vs_compute: the gated 40 % point costs and scores what a random run does (its
    compute partner, at about 60 % of the compute): where gating draws level. Its triangle was
    hidden under the random x; now the gated triangles are drawn on top, larger than the random
    X so that the X behind still shows. The random runs take one mark in both panels: a filled
    "X" (the clean-label runs of (b) need a face to empty), large enough to read as an x, not as
    a diamond; (a) drew a thin "x"."""
    comparison = st.accuracy_vs_compute_result()
    gated, random = comparison.gated, comparison.random
    partner = random.runs.index(recorded.PARTNERS[gated.runs[-1]]["equal_compute"])
    assert abs(np.log(gated.compute_percent[-1] / random.compute_percent[partner])) < 0.05
    assert abs(gated.accuracy_percent[-1] - random.accuracy_percent[partner]) < 1
    fig = build_strict(st.FIGURES, "accuracy_vs_compute", 6.0)
    ax, ax_clean = fig.axes
    marks = {line.get_label(): line for line in ax.get_lines()}
    triangle, cross = marks[gated.label], marks[random.label]
    assert triangle.get_zorder() > cross.get_zorder()
    assert triangle.get_markersize() > cross.get_markersize()
    black = [line for line in ax_clean.get_lines()
             if matplotlib.colors.same_color(line.get_color(), st.meanings.method("random").color)
             and line.get_marker() not in ("None", "none", "", None, "|", "_")]  # no caps
    assert len(black) == 4  # two random rows, each with and without flipped labels
    for line in (cross, *black):
        assert (line.get_marker(), line.get_markersize()) == ("X", 6.5)
    legend = ax.get_legend()
    handle = legend.legend_handles[[t.get_text() for t in legend.get_texts()].index(
        random.label)]
    assert handle.get_marker() == "X"


# ---- training_results: the cost beside the saving, and why the loss stays high ---------------
def test_the_saving_is_shown_with_its_accuracy_cost():
    """Caption: "saves more than half of the compute but ends about ten points less accurate";
    panel (c) prints both, from the same means as panel (b)."""
    comparison = st.training_results_result()
    numbers = comparison.numbers
    assert numbers.value("SavedPercent") > 50
    cost = comparison.accuracy["baseline"].mean[-1] - comparison.accuracy["gated"].mean[-1]
    assert 8 < cost < 12 and numbers["AccuracyCost"] == f"{cost:.1f}" == "10.4"
    assert numbers.value("AccuracyCost") == pytest.approx(
        numbers.value("FullAcc") - numbers.value("GatedAcc"))


def test_class_frequency_loss_is_the_entropy_of_the_training_labels():
    """The reference line of panel (a): a model that predicts the training labels' class
    frequencies whatever the input has the entropy of those frequencies as its mean loss,
    close to the entropy of the task's class priors (1.39 nats), a little above it because 3 %
    of the labels are flipped towards the rarer classes."""
    task = make_task(recorded.configs(recorded.RUNS[st.MAIN])[0])
    shares = np.bincount(task.y_train) / len(task.y_train)
    logits = np.log(np.broadcast_to(shares, (len(task.y_train), len(shares))))
    constant_model = float(np.mean(selection.per_sample_losses(logits, task.y_train)))
    comparison = st.training_results_result()
    assert comparison.class_frequency_loss == pytest.approx(constant_model, rel=1e-12)
    priors = class_priors(recorded.configs(recorded.RUNS[st.MAIN])[0])
    assert -np.sum(priors * np.log(priors)) == pytest.approx(1.386, abs=1e-3)
    assert comparison.numbers["ClassFrequencyLoss"] == "1.41"


def test_the_gated_model_is_right_but_under_confident():
    """Caption: "its loss stays flat at 1.14, far above the all-samples run's 0.38, as no sample
    below the threshold is trained: the model stays under-confident". From the second epoch on
    the gated run's whole-batch loss varies by less than 0.05 and ends more than twice the
    baseline's (the old caption said it stayed "near that of predicting the class frequencies":
    1.14 against 1.41); from the first epoch on it stays below the class-frequency loss and the
    threshold, while its accuracy climbs by more than 25 points; its validation loss is more than
    three times the baseline's although its accuracy is within 12 points of it."""
    comparison = st.training_results_result()
    loss, accuracy = comparison.loss["gated"], comparison.accuracy["gated"]
    numbers, caption = comparison.numbers, st.FIGURES["training_results"].caption
    assert np.ptp(loss.mean[1:]) < 0.05
    assert loss.mean[-1] > 2 * comparison.loss["baseline"].mean[-1]
    assert (numbers["GatedBatchLoss"], numbers["FullBatchLoss"]) == ("1.14", "0.38")
    assert (f"flat at {numbers['GatedBatchLoss']}, far above the all-samples run's "
            f"{numbers['FullBatchLoss']}") in caption
    guess = comparison.class_frequency_loss
    assert np.all(loss.mean < guess) and np.all(guess - loss.mean[1:] < 0.3)
    threshold = st.threshold_adaptation_result().threshold
    assert np.all(loss.mean < np.interp(loss.steps, threshold.steps, threshold.values))
    assert accuracy.mean[-1] - accuracy.mean[1] > 25
    assert comparison.validation_loss["gated"] > 3 * comparison.validation_loss["baseline"]
    baseline = comparison.accuracy["baseline"].mean[-1]
    assert baseline - accuracy.mean[-1] < 12


def test_the_gated_accuracy_is_still_rising_when_the_budget_ends():
    """Caption: "its accuracy still rising at the step budget": over the second half of
    the steps a line fitted to the validation accuracy rises in every seed of the gated run, on
    average more than twice as steeply as the baseline's (which has levelled off)."""
    comparison = st.training_results_result()
    assert "accuracy still rising at the step budget" in st.FIGURES["training_results"].caption
    gated, baseline = comparison.accuracy_slope["gated"], comparison.accuracy_slope["baseline"]
    assert len(gated) == len(baseline) == len(recorded.SEEDS)
    assert np.all(gated > 0) and gated.mean() > 2 * baseline.mean()
    numbers = comparison.numbers
    assert numbers["GatedAccSlope"] == f"{gated.mean():.1f}" == "0.7"


def test_training_results_names_its_runs_in_the_line_style_each_panel_draws():
    """(a) draws both runs solid (the training role) and had no legend; the only legend, in
    (b), shows them dashed (validation). (a) now names each run on its line, beside no legend,
    and (b)'s legend draws the line styles (b) draws."""
    fig = build_strict(st.FIGURES, "training_results", 6.0)
    ax_loss, ax_acc = fig.axes[:2]
    assert ax_loss.get_legend() is None
    named = [text.get_text() for text in ax_loss.texts]
    for key, label in st.RUN_LABELS.items():
        assert named.count(label) == 1, key
        line, = [line for line in ax_loss.get_lines() if line.get_label() == label]
        assert line.get_linestyle() == "-"
    legend = ax_acc.get_legend()
    drawn = {line.get_label(): line.get_linestyle() for line in ax_acc.get_lines()}
    for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True):
        assert handle.get_linestyle() == drawn[text.get_text()] == "--"


# ---- significance_distribution: what the gate picks ------------------------------------------
def test_correct_labels_bunch_below_the_threshold_and_flipped_ones_move_above():
    """Caption (a): at the last checkpoint the correct labels' losses form a narrow peak (the
    middle half of them within 0.3, around a loss of 1.1, five times narrower than at the first
    checkpoint) below the threshold, and most flipped labels lie above it; the share of flipped
    labels above the threshold never falls and ends above 80 %, the share of correct labels above
    it ends below 10 %. The split is the recorded one."""
    gated = st.run(st.MAIN)
    distribution = st.significance_distribution_result()
    snapshots = distribution.snapshots
    for snapshot in snapshots:
        checkpoint = gated.load_checkpoint(snapshot.step)
        np.testing.assert_array_equal(snapshot.flipped, checkpoint["noisy"].astype(bool))
    last = snapshots[-1]
    correct = last.scores[~last.flipped]
    low, high = np.quantile(correct, (0.25, 0.75))
    assert high - low < 0.3 and 1.0 < last.clean_median < 1.2 < last.threshold
    first = snapshots[0].scores[~snapshots[0].flipped]
    assert np.subtract(*np.quantile(first, (0.75, 0.25))) > 5 * (high - low)
    above = [snapshot.flipped_above_percent for snapshot in snapshots]
    assert np.all(np.diff(above) >= 0) and above[-1] > 80
    assert last.clean_above_percent < 10
    assert last.flipped_among_above_percent > 5 * 100 * last.flipped.mean()
    numbers = distribution.numbers
    assert numbers["ProbeFlipped"] == str(int(last.flipped.sum())) == "39"


def test_a_quarter_of_the_trained_samples_carry_a_flipped_label():
    """Caption (b): "nearly a quarter of those it back-propagates carry a flipped label, against
    under 3 % of the training set"; the per-epoch shares count every trained sample of the run
    (seed 0 logs every step) and agree with the logged per-step shares."""
    gated = st.run(st.MAIN)
    distribution = st.significance_distribution_result()
    share = distribution.flipped_share
    assert share.trained.sum() == gated.config["samples_trained"]
    assert list(share.epochs) == list(range(1, gated.config["epochs"] + 1))
    assert 20 < share.last_third_percent < 25 and distribution.training_flipped_percent < 3
    assert distribution.training_flipped_percent == pytest.approx(
        100 * make_task(recorded.configs(recorded.RUNS[st.MAIN])[0]).noisy.mean())
    assert np.all(share.percent > 4 * distribution.training_flipped_percent)
    steps, logged = gated.series("active_noisy_fraction")
    last_third = steps > 640 - 640 // 3
    assert share.last_third_percent == pytest.approx(100 * logged[last_third].mean(), abs=0.5)
    assert distribution.numbers["FlippedShareLastThird"] == f"{share.last_third_percent:.1f}"
