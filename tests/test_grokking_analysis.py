"""Phase detection and embedding measurements on synthetic data with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from numerics.grokking import analysis
from recorders import grokking as recorder


def synthetic_run(s1=200.0, center=3.5, width=0.08, noise=0.0, seed=0):
    """Training accuracy reaches 1 at s1; validation accuracy is a logistic in log10(step)."""
    steps = np.unique(np.round(np.logspace(0, 5, 400)))
    train = np.clip(steps / s1, 0, 1)
    val = 0.01 + 0.99 / (1 + np.exp(-(np.log10(steps) - center) / width))
    val += np.random.default_rng(seed).normal(0, noise, len(steps))
    return steps, train, val


def test_first_step_at_least():
    assert analysis.first_step_at_least([1, 2, 3, 4], [0.1, np.nan, 0.99, 1.0], 0.99) == 3
    assert analysis.first_step_at_least([1, 2], [0.1, 0.2], 0.99) is None


def test_first_held_step_needs_the_whole_window():
    steps = np.arange(0, 110, 10)
    #                  0    10   20    30    40    50   60    70    80    90   100
    values = np.array([0.1, 0.5, 0.96, 0.94, 0.96, 0.97, 0.99, 0.95, 0.96, 0.97, 0.98])
    assert analysis.first_held_step(steps, values, 0.95, 30) == 40  # 20 falls back at 30
    assert analysis.first_held_step(steps, values, 0.95, 60) == 40  # 40 .. 100 all hold
    assert analysis.first_held_step(steps, values, 0.95, 70) is None  # no window fits in
    assert analysis.first_held_step(steps, values, 0.95, 0) == analysis.first_step_at_least(
        steps, values, 0.95) == 20
    # touched once at the end of the budget: not held
    assert analysis.first_held_step(steps, np.r_[np.zeros(10), 1.0], 0.95, 10) is None
    # unlogged (NaN) rows are skipped, not failures
    gappy = np.array([0.1, np.nan, 0.96, np.nan, 0.97, 0.98, np.nan, 0.99, 0.99, 0.99, 0.99])
    assert analysis.first_held_step(steps, gappy, 0.95, 50) == 20
    assert analysis.VAL_HOLD == recorder.SWEEP["stop_hold"]  # the recorder's stop rule


def test_loss_spikes_are_jumps_from_the_floor():
    steps = np.arange(0, 200, 10)
    loss = np.full(len(steps), 2e-7)
    loss[:3] = [4.0, 1.0, 1e-3]            # the first descent is no spike
    loss[8:11] = [3e-5, 0.3, 0.01]         # from 2e-7: peak 0.3, over six decades
    loss[15] = 1e-5                        # 50 times: below the factor
    spikes = analysis.loss_spikes(steps, loss, below=1e-6, factor=100, window=3)
    assert [spike.step for spike in spikes] == [80]
    assert spikes[0].floor == 2e-7 and spikes[0].peak == 0.3
    assert spikes[0].decades == pytest.approx(np.log10(0.3 / 2e-7))
    assert analysis.loss_spikes(steps, loss, below=1e-6, factor=1e6) == []


@pytest.mark.parametrize("center,width", [(3.5, 0.08), (2.8, 0.2), (4.2, 0.05)])
def test_sigmoid_fit_recovers_a_known_transition(center, width):
    steps, _, val = synthetic_run(center=center, width=width, noise=0.01)
    fit = analysis.fit_sigmoid(np.log10(steps), val)
    assert fit.center == pytest.approx(center, abs=0.02)
    assert fit.width == pytest.approx(width, rel=0.15)
    assert fit.low == pytest.approx(0.01, abs=0.02) and fit.high == pytest.approx(1.0, abs=0.02)
    assert fit.rise_decades == pytest.approx(width * 2 * np.log(9), rel=0.15)


def test_phases_of_a_synthetic_grokking_run():
    steps, train, val = synthetic_run(s1=200, center=3.5, width=0.08)
    phases = analysis.detect_phases(steps, train, val)
    assert phases.s1 == pytest.approx(200, rel=0.03)
    # validation reaches 95 % where the logistic does: center + width * ln(0.94/0.05)
    expected_s2 = 10 ** (3.5 + 0.08 * np.log((0.95 - 0.01) / (1 - 0.95)))
    assert phases.s2 == pytest.approx(expected_s2, rel=0.05)
    assert phases.rise_start == pytest.approx(10 ** (3.5 - 0.08 * np.log(9)), rel=0.05)
    assert phases.rise_end == pytest.approx(10 ** (3.5 + 0.08 * np.log(9)), rel=0.05)
    spans = phases.spans(steps[-1])
    assert list(spans) == ["memorization", "circuit formation", "cleanup", "generalized"]
    assert spans["memorization"][1] == spans["circuit formation"][0]
    assert spans["cleanup"] == (spans["circuit formation"][1], phases.s2)  # cleanup ends at S2
    assert spans["generalized"] == (phases.s2, steps[-1])
    assert phases.delay_ratio > 5


def test_a_run_that_touches_the_threshold_once_has_not_generalized():
    steps, train, val = synthetic_run(center=3.5, width=0.08)
    late = val.copy()
    late[steps >= 3000] = 0.5
    late[steps == steps[steps >= 3000][0]] = 0.96  # one logged step at 96 %
    phases = analysis.detect_phases(steps, train, late)
    assert phases.s2 is None
    assert analysis.detect_phases(steps, train, late, hold=0).s2 == steps[steps >= 3000][0]
    with pytest.raises(ValueError):
        phases.spans(steps[-1])


def test_no_generalization_is_reported_as_none():
    steps, train, _ = synthetic_run()
    phases = analysis.detect_phases(steps, train, np.full(len(steps), 0.02) + 1e-3 * np.sin(steps))
    assert phases.s2 is None and phases.delay_ratio is None


def test_gap_window_is_the_first_and_last_wide_step():
    steps = np.array([0, 10, 20, 30, 40, 50])
    gap = np.array([0, 96, 99, 90, 95, 3])
    assert analysis.gap_window(steps, gap, 95) == (10.0, 40.0)  # the dip at 30 stays inside
    assert analysis.gap_window(steps, gap, 99.5) is None


def test_peak_after_a_step():
    steps = np.array([0, 10, 20, 30, 40])
    values = np.array([9.0, 5.0, 7.0, 7.0, 6.0])
    assert analysis.peak_after(steps, values, 5) == (20.0, 7.0)  # the first of tied peaks
    assert analysis.peak_after(steps, values, -1) == (0.0, 9.0)
    with pytest.raises(ValueError):
        analysis.peak_after(steps, values, 40)


def test_fourier_power_finds_planted_frequencies():
    p, d = 59, 16
    t = np.arange(p)[:, None]
    rng = np.random.default_rng(0)
    embedding = (np.cos(2 * np.pi * 7 * t / p + rng.uniform(0, 6, d))
                 + np.cos(2 * np.pi * 23 * t / p + rng.uniform(0, 6, d)))
    power = analysis.fourier_power(embedding)
    assert power[1:].sum() == pytest.approx(1)
    assert analysis.key_frequencies(power, 0.8).tolist() == [7, 23]
    noise = rng.normal(size=(p, d))
    assert len(analysis.key_frequencies(analysis.fourier_power(noise), 0.8)) > 15


def test_strongest_frequency_and_circle_order():
    p, k = 13, 5
    t = np.arange(p)[:, None]
    embedding = np.column_stack([np.cos(2 * np.pi * k * t / p), np.sin(2 * np.pi * k * t / p),
                                 0.1 * np.cos(2 * np.pi * 2 * t / p)])
    assert analysis.strongest_frequency(analysis.fourier_power(embedding)) == k
    order = analysis.circle_order(p, k)
    assert sorted(order) == list(range(p))
    assert ((k * order) % p).tolist() == list(range(p))  # a * k mod p = 0, 1, 2, ...


def test_fourier_plane_puts_a_planted_frequency_on_a_circle():
    p, k = 31, 5
    angle = 2 * np.pi * k * np.arange(p) / p
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(8, 8)))
    circle = np.column_stack([np.cos(angle), np.sin(angle), np.zeros(p)]) @ rotation[:3]
    coords, share = analysis.fourier_plane(circle, k)
    radius = np.hypot(*coords.T)
    assert np.allclose(radius, 1.0) and share == pytest.approx(1.0)
    # the angle advances by 2 pi k / p from token to token
    steps = np.angle(np.exp(1j * (np.arctan2(coords[1:, 1], coords[1:, 0])
                                  - np.arctan2(coords[:-1, 1], coords[:-1, 0]))))
    assert np.allclose(np.abs(steps), 2 * np.pi * k / p)
    noisy = circle + np.random.default_rng(2).normal(0, 1, circle.shape)
    assert analysis.fourier_plane(noisy, k)[1] < 0.5


def test_ring_spread_tells_a_circle_from_a_cloud():
    angle = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    circle = np.column_stack([3 + 2 * np.cos(angle), -1 + 2 * np.sin(angle)])
    assert analysis.ring_spread(circle) == pytest.approx(0, abs=1e-12)
    cloud = np.random.default_rng(0).normal(size=(2000, 2))
    assert analysis.ring_spread(cloud) == pytest.approx(np.sqrt(4 / np.pi - 1), abs=0.03)


def test_censored_median_counts_missing_runs_as_later():
    assert analysis.censored_median([300, 100, 200]) == 200
    assert analysis.censored_median([300, None, 200]) == 300    # the middle of 200, 300, later
    assert analysis.censored_median([None, None, 200]) is None  # the middle run never did
    assert analysis.censored_median([100, 200, 300, None]) == 250

