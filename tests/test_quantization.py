"""Tests for numerics.qlora.quantization against published tables and measured round trips.

Published values are typed only here, each with a comment saying where it
comes from.  bitsandbytes references are to
github.com/bitsandbytes-foundation/bitsandbytes: ``bitsandbytes/functional.py``
at commit 01327aa0119fa503ea16322dd72f69f202e4502e and ``csrc/kernels.cu`` at
commit c037a306e97ced3c452570132f66aac4e2964056.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import pytest

from numerics import memory
from numerics.qlora import quantization as qz

# ---------------------------------------------------------------------------
# Published reference tables
# ---------------------------------------------------------------------------

# bitsandbytes functional.py get_4bit_type("nf4") and kernels.cu dDequantizeNF4
# (4-bit pattern 0b0000 ... 0b1111, i.e. sorted ascending).
PUBLISHED_NF4 = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]

# kernels.cu dQuantizeNF4: the 15 decision thresholds of the binary tree, sorted.
PUBLISHED_NF4_THRESHOLDS = [
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
    0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
]

# functional.py get_4bit_type("fp4"), indexed by 4-bit pattern, before "data /= data.abs().max()".
PUBLISHED_FP4_BY_PATTERN = [0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0,
                            -0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0]

# kernels.cu dDequantizeFP4Tree: magnitude (times absmax) of the low three bits 0b000 ... 0b111.
PUBLISHED_FP4_TREE = [0.00000000, 5.208333333e-03, 0.66666667, 1.00000000,
                      0.33333333, 0.50000000, 0.16666667, 0.25000000]

# kernels.cu dQuantizeFP4: thresholds on |x| (comment: "the pivots are divided by 12").
PUBLISHED_FP4_THRESHOLDS = [0.00260417, 0.0859375, 0.20833333, 0.29166667,
                            0.4166667, 0.583333, 0.8333333]

# functional.py get_4bit_type("int4"), before division by the absolute maximum 7.
PUBLISHED_INT4 = [7, 6, 5, 4, 3, 2, 1, 0, -0, -1, -2, -3, -4, -5, -6, -7]

# ---------------------------------------------------------------------------
# Normal distribution
# ---------------------------------------------------------------------------

# Standard quantiles as printed by scipy.stats.norm.ppf (and standard tables);
# all agree with Python's statistics.NormalDist().inv_cdf (Wichura's AS241) to 1e-15.
KNOWN_QUANTILES = [
    (0.975, 1.959963984540054),
    (0.5, 0.0),
    (0.8413447460685429, 1.0),  # = Phi(1) = (1 + erf(1/sqrt 2)) / 2
    (1e-10, -6.361340902404056),
    (0.95, 1.6448536269514722),
    (0.99, 2.3263478740408408),
    (0.999, 3.090232306167813),
    (0.9, 1.2815515655446004),
]


@pytest.mark.parametrize(("p", "x"), KNOWN_QUANTILES)
def test_norm_ppf_known_quantiles(p, x):
    assert qz.norm_ppf(p) == pytest.approx(x, abs=1e-12)


def test_known_quantile_table_is_consistent_with_stdlib():
    # guards the reference values themselves against typos
    nd = statistics.NormalDist()
    for p, x in KNOWN_QUANTILES:
        assert nd.inv_cdf(p) == pytest.approx(x, abs=1e-14)


def _grid() -> np.ndarray:
    return np.concatenate([np.logspace(-300, -2, 300), np.linspace(0.001, 0.999, 999),
                           1.0 - np.logspace(-15, -2, 60)])


def test_norm_ppf_matches_stdlib_inv_cdf_on_grid():
    p = _grid()
    ours = qz.norm_ppf(p)
    ref = np.array([statistics.NormalDist().inv_cdf(v) for v in p])
    assert np.max(np.abs(ours - ref) / np.maximum(1.0, np.abs(ref))) < 1e-14


def test_norm_cdf_inverts_norm_ppf():
    p = _grid()
    assert np.max(np.abs(qz.norm_cdf(qz.norm_ppf(p)) - p)) < 1e-14
    central = np.linspace(0.01, 0.99, 99)
    assert np.max(np.abs(qz.norm_cdf(qz.norm_ppf(central)) - central) / central) < 1e-14


def test_norm_ppf_symmetry():
    # dyadic p: 1 - p is exact, so the two calls see exact complements
    p = np.arange(1, 1024) / 1024.0
    np.testing.assert_array_equal(qz.norm_ppf(1.0 - p), -qz.norm_ppf(p))
    # 1 - 1e-10 is not exact (relative rounding ~1e-6 of the tail mass), hence rtol 1e-6
    small = np.array([1e-10, 1e-5])
    np.testing.assert_allclose(qz.norm_ppf(1.0 - small), -qz.norm_ppf(small), rtol=1e-6)


def test_acklam_start_meets_its_published_accuracy():
    # Acklam (2003): relative error of the rational approximation below 1.15e-9;
    # the Halley steps then bring it to machine precision.
    p = np.linspace(1e-6, 1 - 1e-6, 2001)
    ref = np.array([statistics.NormalDist().inv_cdf(v) for v in p])
    nonzero = ref != 0
    raw = qz.norm_ppf(p, halley_steps=0)
    assert np.max(np.abs(raw[nonzero] - ref[nonzero]) / np.abs(ref[nonzero])) < 1.15e-9
    refined = qz.norm_ppf(p, halley_steps=1)
    assert np.max(np.abs(refined - ref)) < 1e-14


def test_norm_ppf_edges_and_shapes():
    assert qz.norm_ppf(0.0) == -math.inf and qz.norm_ppf(1.0) == math.inf
    assert isinstance(qz.norm_ppf(0.3), float)
    assert qz.norm_ppf(np.full((2, 3), 0.5)).shape == (2, 3)
    for bad in (-0.1, 1.1, math.nan):
        with pytest.raises(ValueError):
            qz.norm_ppf(bad)


def test_norm_pdf_and_cdf_basics():
    assert qz.norm_pdf(0.0) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-15)
    assert qz.norm_cdf(0.0) == 0.5
    x = np.linspace(-12, 12, 24001)
    assert np.trapezoid(qz.norm_pdf(x), x) == pytest.approx(1.0, abs=1e-12)
    # tail CDF keeps relative precision: Phi(-10) = 7.619853024160527e-24
    assert qz.norm_cdf(-10.0) == pytest.approx(0.5 * math.erfc(10 / math.sqrt(2)), rel=1e-15)


# ---------------------------------------------------------------------------
# Code books
# ---------------------------------------------------------------------------


def test_nf4_matches_published_table():
    cb = qz.nf4_codebook()
    assert cb.shape == (16,)
    np.testing.assert_allclose(cb, PUBLISHED_NF4, rtol=0, atol=1e-6)


def test_nf4_matches_kernel_thresholds():
    cb = qz.nf4_codebook()
    np.testing.assert_allclose((cb[:-1] + cb[1:]) / 2, PUBLISHED_NF4_THRESHOLDS, rtol=0, atol=1e-6)


def test_nf4_construction_pieces():
    c = qz.normal_map_construction()
    assert c.offset == qz.NF4_OFFSET == 0.9677083  # create_normal_map default
    assert c.positive_probabilities.size == 8 and c.negative_probabilities.size == 7
    np.testing.assert_allclose(c.positive_probabilities, np.linspace(0.9677083, 0.5, 9)[:-1])
    np.testing.assert_allclose(c.negative_probabilities, np.linspace(0.9677083, 0.5, 8)[:-1])
    assert np.all(c.positive_probabilities > 0.5) and np.all(c.negative_probabilities > 0.5)
    assert np.all(c.positive_quantiles > 0) and np.all(c.negative_quantiles < 0)
    assert c.scale == qz.norm_ppf(0.9677083) == c.positive_quantiles[0]
    assert c.scale == pytest.approx(1.848, abs=1e-3)
    # values are the quantiles over the scale, with one zero
    quantiles = np.concatenate([c.positive_quantiles, [0.0], c.negative_quantiles])
    expected = np.sort(quantiles) / c.scale
    np.testing.assert_array_equal(c.values, expected)
    assert np.all(np.diff(c.values) > 0) and np.sum(c.values == 0) == 1
    assert (c.values.min(), c.values.max()) == (-1.0, 1.0)
    assert np.sum(c.values > 0) == 8 and np.sum(c.values < 0) == 7
    with pytest.raises(ValueError):
        c.values[0] = 0.0  # read-only


def test_normal_map_without_extra_value_is_symmetric_with_two_zeros():
    c = qz.normal_map_construction(use_extra_value=False)
    assert c.values.size == 16 and np.sum(c.values == 0) == 2
    np.testing.assert_allclose(c.values, -c.values[::-1], atol=1e-15)


def test_nf4_offset_observation():
    # documented as a numerical coincidence to the 7 digits bitsandbytes gives
    assert round((1 - 1 / 30 + 1 - 1 / 32) / 2, 7) == qz.NF4_OFFSET


def test_fp4_table_matches_published_values():
    table = qz.fp4_code_table()
    np.testing.assert_array_equal(table, np.array(PUBLISHED_FP4_BY_PATTERN) / 12.0)
    np.testing.assert_allclose(np.abs(table[:8]), PUBLISHED_FP4_TREE, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(table[8:], -table[:8])
    assert np.signbit(table[8])  # pattern 0b1000 is -0


def test_fp4_codebook_and_kernel_thresholds():
    cb = qz.fp4_codebook()
    assert cb.size == 15 and np.all(np.diff(cb) > 0)
    assert not np.any(np.signbit(cb[cb == 0]))
    np.testing.assert_array_equal(cb, -cb[::-1])
    positive = cb[cb >= 0]
    np.testing.assert_allclose((positive[:-1] + positive[1:]) / 2, PUBLISHED_FP4_THRESHOLDS,
                               rtol=0, atol=1e-6)


def test_int4_is_the_usual_symmetric_absmax_int4():
    s = qz.int4_codebook()
    np.testing.assert_array_equal(s, np.unique(np.array(PUBLISHED_INT4) / 7.0))
    assert s.size == 15 and 0.0 in s and (s[0], s[-1]) == (-1.0, 1.0)
    np.testing.assert_allclose(np.diff(s), 1 / 7, rtol=1e-12)
    assert qz.code_bits(s) == 4 and qz.max_rounding_error(s) == pytest.approx(1 / 14)


def test_int4_rounds_like_absmax_quantization():
    # LLM.int8() (arXiv 2208.07339) Sec. 2.1 / QLoRA Eq. 1 with 7 for 127: q = round(7 x / absmax)
    x = qz.normal_weights(64 * 200, seed=5)
    blocks = x.reshape(-1, 64)
    absmax = np.abs(blocks).max(axis=1, keepdims=True)
    by_formula = (np.round(7 * blocks / absmax) * absmax / 7).ravel()
    np.testing.assert_allclose(qz.roundtrip(x, qz.int4_codebook(), 64), by_formula, rtol=1e-12)
    # the uniform 16-level grid without zero that the figures once called "INT4" differs
    uniform = qz.roundtrip(x, np.linspace(-1.0, 1.0, 16), 64)
    assert not np.allclose(uniform, by_formula)


def test_dynamic_map_structure():
    d = qz.dynamic_map()
    assert d.size == 256 and np.all(np.diff(d) > 0)
    assert d[-1] == 1.0 and 0.0 in d
    # most negative: -(mean of the last two points of linspace(0.1, 1, 65)) = -(1 - 0.9/128)
    assert d[0] == pytest.approx(-0.99296875, abs=1e-15)
    # smallest positive: 1e-6 * (0.1 + 1) / 2
    assert d[d > 0][0] == pytest.approx(5.5e-7, rel=1e-12)
    assert np.sum(d > 0) == 128 and np.sum(d < 0) == 127
    assert qz.max_rounding_error(d) == pytest.approx(0.9 / 128, rel=1e-12)
    unsigned = qz.dynamic_map(signed=False)
    assert unsigned.size == 256 and unsigned.min() == 0.0 and unsigned.max() == 1.0


def test_codebook_checks_and_bits():
    assert qz.code_bits(qz.nf4_codebook()) == qz.code_bits(qz.fp4_codebook()) == 4
    assert qz.code_bits(qz.dynamic_map()) == 8
    for bad in ([0.5, -0.5], [-2.0, 1.0], [[0.0, 1.0]], [1.0]):
        with pytest.raises(ValueError):
            qz.quantize_blockwise(np.ones(4), bad)


@pytest.mark.parametrize("name", ["NF4", "FP4", "INT4"])
def test_max_rounding_error_is_half_the_largest_gap(name):
    cb = qz.codebooks()[name]
    assert qz.max_rounding_error(cb) == np.max(np.diff(cb)) / 2


# ---------------------------------------------------------------------------
# Blockwise quantization
# ---------------------------------------------------------------------------

ALL_CODEBOOKS = {**qz.codebooks(), "uniform-16": np.linspace(-1.0, 1.0, 16),
                 "dynamic-8bit": qz.dynamic_map()}


@pytest.mark.parametrize("name", list(ALL_CODEBOOKS))
def test_code_values_times_absmax_survive_exactly(name):
    cb = ALL_CODEBOOKS[name]
    rng = np.random.default_rng(1)
    n, bs = 64 * 5 + 17, 64  # last block padded
    idx = rng.integers(0, cb.size, n)
    idx[::bs] = cb.size - 1  # every block contains +1 * absmax, the block maximum
    scales = rng.uniform(0.1, 10.0, -(-n // bs))
    x = cb[idx] * np.repeat(scales, bs)[:n]
    q = qz.quantize_blockwise(x, cb, bs)
    np.testing.assert_array_equal(q.absmax, scales)
    np.testing.assert_array_equal(q.codes.ravel()[:n], idx)
    np.testing.assert_array_equal(qz.dequantize_blockwise(q), x)


@pytest.mark.parametrize("name", list(ALL_CODEBOOKS))
@pytest.mark.parametrize("block_size", [1, 7, 64, 256])
def test_error_is_within_half_gap_times_block_absmax(name, block_size):
    cb = ALL_CODEBOOKS[name]
    x = qz.heavy_tailed_weights(3 * 1000 + 5, seed=2).reshape(-1, 5)  # 2-D, ragged last block
    q = qz.quantize_blockwise(x, cb, block_size)
    rec = qz.dequantize_blockwise(q)
    assert rec.shape == x.shape
    bound = np.repeat(q.absmax, q.block_size)[: x.size].reshape(x.shape) * qz.max_rounding_error(cb)
    assert np.all(np.abs(rec - x) <= bound * (1 + 1e-12))
    if block_size == 1 and name != "dynamic-8bit":
        # one value per block is its own absmax: reconstructed exactly (+-1 is a code)
        np.testing.assert_allclose(rec, x, rtol=1e-15)


def test_quantized_tensor_layout():
    x = np.arange(1, 201, dtype=float)
    q = qz.quantize_blockwise(x, qz.nf4_codebook(), 64)
    assert q.codes.dtype == np.uint8 and q.codes.shape == (4, 64)
    assert q.n_blocks == 4 and q.n_elements == 200 and q.shape == (200,)
    np.testing.assert_array_equal(q.absmax, [64, 128, 192, 200])
    assert q.storage_bits() == 200 * 4 + 4 * 32


def test_global_absmax_when_block_covers_everything():
    x = qz.outlier_vector()
    for bs in (x.size, 10 * x.size):
        q = qz.quantize_blockwise(x, qz.nf4_codebook(), bs)
        assert q.n_blocks == 1 and q.absmax[0] == np.max(np.abs(x)) and q.block_size == x.size
    np.testing.assert_array_equal(qz.roundtrip(x, qz.nf4_codebook(), x.size),
                                  qz.roundtrip(x, qz.nf4_codebook(), 10 * x.size))


def test_midpoint_ties_go_to_the_lower_code():
    # as bitsandbytes' kernels: a value moves to the upper code only if x > threshold
    q = qz.quantize_blockwise([1.0, 0.5, -0.5, 0.25], [-1.0, 0.0, 1.0], 4)
    np.testing.assert_array_equal(q.codes.ravel(), [2, 1, 0, 1])


def test_zero_block_reconstructs_to_zero_even_without_a_zero_code():
    x = np.concatenate([np.zeros(64), np.ones(64)])
    no_zero = np.linspace(-1.0, 1.0, 16)  # 16 evenly spaced values, none of them 0
    q = qz.quantize_blockwise(x, no_zero, 64)
    assert q.absmax[0] == 0.0
    np.testing.assert_array_equal(qz.dequantize_blockwise(q), x)


def test_nonfinite_input_is_rejected():
    with pytest.raises(ValueError):
        qz.quantize_blockwise([1.0, math.inf], qz.nf4_codebook())
    with pytest.raises(ValueError):
        qz.quantize_blockwise([], qz.nf4_codebook())


def test_our_nf4_codes_equal_those_from_the_published_table():
    # the 1e-7 differences between float64 construction and the float32 table
    # do not move any of a million normal samples to another code
    x = qz.normal_weights(2**20, seed=1)
    ours = qz.quantize_blockwise(x, qz.nf4_codebook(), 64)
    published = qz.quantize_blockwise(x, np.array(PUBLISHED_NF4), 64)
    np.testing.assert_array_equal(ours.codes, published.codes)


def test_storage_matches_memory_module():
    e = qz.quantization_error(qz.normal_weights(64 * 128, seed=0), qz.nf4_codebook(), 64)
    assert e["bits_per_value"] == memory.nf4_bits_per_param(double_quant=False) == 4.5


# ---------------------------------------------------------------------------
# Error metrics and the data-type comparison
# ---------------------------------------------------------------------------


def test_quantization_error_fields_are_consistent():
    x = qz.normal_weights(10_000, seed=3)
    e = qz.quantization_error(x, qz.nf4_codebook(), 64)
    err = qz.roundtrip(x, qz.nf4_codebook(), 64) - x
    assert e["rmse"] == pytest.approx(np.sqrt(np.mean(err**2)), rel=1e-12)
    assert e["mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-12)
    assert e["max_abs"] == np.max(np.abs(err)) <= e["max_abs_bound"]
    assert e["mae"] <= e["rmse"] <= e["max_abs"]
    assert e["rel_rmse"] == pytest.approx(e["rmse"] / np.sqrt(np.mean(x**2)), rel=1e-12)
    assert e["sqnr_db"] == pytest.approx(-20 * math.log10(e["rel_rmse"]), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_nf4_beats_fp4_and_int4_on_normal_weights(seed):
    # measured, not assumed: block size 64, 65,536 N(0, 1) weights per seed
    x = qz.normal_weights(2**16, seed)
    rmse = {name: qz.quantization_error(x, cb, 64)["rmse"] for name, cb in qz.codebooks().items()}
    assert rmse["NF4"] < rmse["INT4"] < rmse["FP4"]


def test_nf4_beats_fp4_and_int4_on_heavy_tailed_weights():
    x = qz.heavy_tailed_weights(2**18, seed=0)
    rmse = {name: qz.quantization_error(x, cb, 64)["rmse"] for name, cb in qz.codebooks().items()}
    assert rmse["NF4"] < rmse["INT4"] < rmse["FP4"]


def test_smaller_blocks_give_smaller_error():
    x = qz.normal_weights(2**16, seed=0)
    rmse = [qz.quantization_error(x, qz.nf4_codebook(), bs)["rmse"] for bs in (16, 64, 256, 4096)]
    assert rmse == sorted(rmse)


# ---------------------------------------------------------------------------
# Double quantization
# ---------------------------------------------------------------------------


def _first_level_constants(n_constants: int, seed: int = 0) -> np.ndarray:
    x = qz.normal_weights(64 * n_constants, seed)
    return qz.quantize_blockwise(x, qz.nf4_codebook(), 64).absmax


def test_double_quantization_bits_per_parameter():
    dq = qz.double_quantize(_first_level_constants(4096))
    assert dq.bits_per_parameter(64) == 8 / 64 + 32 / (64 * 256) == 0.126953125
    assert dq.bits_per_parameter(64) == memory.double_quantized_constant_bits_per_param()
    assert dq.storage_bits() == 8 * 4096 + 32 * 16 + 32  # codes, 16 fp32 absmax, one fp32 mean
    assert dq.bits_per_parameter(64, include_offset=True) == 0.126953125 + 32 / (4096 * 64)
    assert dq.quantized.codes.dtype == np.uint8 and dq.quantized.block_size == 256


def test_double_quantization_reconstruction_error_is_bounded():
    c = _first_level_constants(64 * 256)
    dq = qz.double_quantize(c)
    assert dq.offset == pytest.approx(np.mean(c), rel=1e-15)
    # Bound: each centred constant is rounded to the nearest dynamic-map value
    # after division by its block's absmax; the map's largest half-gap (and its
    # distance to -1) is 0.9/128 = 0.703125 %, so the error is at most that
    # fraction of max |c - mean| over the block of 256.
    centred = (c - dq.offset).reshape(-1, 256)
    bound = np.repeat(np.max(np.abs(centred), axis=1), 256) * (0.9 / 128)
    err = np.abs(dq.constants - c)
    assert np.all(err <= bound * (1 + 1e-12))
    # For absmax constants of normal blocks this is below 1 % of each constant
    # (measured worst case about 0.69 %, mean about 0.16 %).
    assert np.max(err / c) < 0.01
    assert np.mean(err / c) < 0.003


def test_double_quantization_barely_changes_the_weights():
    x = qz.normal_weights(64 * 4096, seed=0)
    q = qz.quantize_blockwise(x, qz.nf4_codebook(), 64)
    dq = qz.double_quantize(q.absmax)
    rmse_plain = np.sqrt(np.mean((qz.dequantize_blockwise(q) - x) ** 2))
    with_dq = dataclasses.replace(q, absmax=dq.constants)
    rmse_dq = np.sqrt(np.mean((qz.dequantize_blockwise(with_dq) - x) ** 2))
    assert rmse_plain <= rmse_dq < 1.001 * rmse_plain


def test_double_quantization_effect_is_measured_with_the_same_codes():
    x = qz.normal_weights(64 * 4096, seed=1)
    effect = qz.double_quantization_effect(x, qz.nf4_codebook(), 64)
    q = qz.quantize_blockwise(x, qz.nf4_codebook(), 64)
    np.testing.assert_array_equal(effect.constants, q.absmax)
    np.testing.assert_array_equal(effect.dq_constants, qz.double_quantize(q.absmax).constants)
    np.testing.assert_allclose(effect.relative_error, effect.dq_constants / q.absmax - 1)
    assert effect.rmse_fp32 == pytest.approx(qz.quantization_error(x, qz.nf4_codebook())["rmse"])
    with_dq = dataclasses.replace(q, absmax=effect.dq_constants)
    assert effect.rmse_dq == pytest.approx(
        np.sqrt(np.mean((qz.dequantize_blockwise(with_dq) - x) ** 2)))
    # under 1 % per constant, a few hundredths of a percent on the weights
    assert np.abs(effect.relative_error).max() < 0.01
    assert 0 < effect.rmse_increase < 1e-3
    # a coarse second-level code makes it measurably worse: the measurement can fail
    coarse = qz.double_quantization_effect(x, qz.nf4_codebook(), 64, dq_block_size=4096)
    assert coarse.rmse_increase >= effect.rmse_increase


def test_double_quantization_with_another_codebook():
    c = _first_level_constants(1000)
    dq = qz.double_quantize(c, codebook=np.linspace(-1, 1, 255))
    assert dq.quantized.n_blocks == 4
    assert np.max(np.abs(dq.constants - c)) <= np.max(np.abs(c - c.mean())) / 254 * (1 + 1e-12)


# ---------------------------------------------------------------------------
# Sample weights and the outlier example
# ---------------------------------------------------------------------------


def test_normal_weights_are_seeded_and_standard():
    a, b = qz.normal_weights(2**20, 7), qz.normal_weights(2**20, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, qz.normal_weights(2**20, 8))
    # standard errors: mean 1e-3, std 7e-4
    assert abs(a.mean()) < 5e-3 and abs(a.std() - 1) < 5e-3
    assert qz.normal_weights(10, 0, std=0.02).std() < 0.1


def test_heavy_tailed_weights_have_unit_variance_and_heavy_tails():
    w = qz.heavy_tailed_weights(2**20, seed=0)
    np.testing.assert_array_equal(w, qz.heavy_tailed_weights(2**20, seed=0))
    # Var of the sample variance ~ (kurtosis - 1)/n = 8/2^20 -> sd 2.8e-3
    assert w.var() == pytest.approx(1.0, abs=0.02)
    excess_kurtosis = np.mean((w - w.mean()) ** 4) / w.var() ** 2 - 3  # theory: 6 for df = 5
    assert excess_kurtosis > 2
    with pytest.raises(ValueError):
        qz.heavy_tailed_weights(10, df=2.0)


def test_outlier_vector():
    x = qz.outlier_vector()
    assert x.size == 256 and x[100] == 20.0
    np.testing.assert_array_equal(np.delete(x, 100), np.delete(qz.normal_weights(256, 0), 100))
    assert np.max(np.abs(np.delete(x, 100))) < 4
    with pytest.raises(ValueError):
        qz.outlier_vector(outlier_index=256)


def test_global_versus_blockwise_absmax():
    x = qz.outlier_vector()
    cmp = qz.compare_global_and_blockwise(x, qz.nf4_codebook(), 64)
    assert cmp.global_absmax == 20.0 and cmp.block_absmax.size == 4
    assert cmp.block_absmax[1] == 20.0 and np.all(np.delete(cmp.block_absmax, 1) < 4)
    np.testing.assert_array_equal(cmp.global_error, cmp.global_reconstruction - x)
    np.testing.assert_array_equal(cmp.blockwise_error, cmp.blockwise_reconstruction - x)
    # the outlier itself is a code value (+1 * absmax) either way
    assert cmp.global_reconstruction[100] == cmp.blockwise_reconstruction[100] == 20.0
    # in the outlier's block both schemes use the same absmax, hence the same values
    np.testing.assert_array_equal(cmp.global_reconstruction[64:128],
                                  cmp.blockwise_reconstruction[64:128])
    # elsewhere blockwise scaling is far more accurate (measured: RMSE 0.086 vs 0.48)
    outside = np.r_[0:64, 128:256]
    rmse_global = np.sqrt(np.mean(cmp.global_error[outside] ** 2))
    rmse_block = np.sqrt(np.mean(cmp.blockwise_error[outside] ** 2))
    assert rmse_block < rmse_global / 4
    # with a global absmax of 20, over half of the ordinary weights collapse to 0
    assert np.mean(cmp.global_reconstruction[outside] == 0) > 0.5
