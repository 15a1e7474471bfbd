"""4-bit code books (NF4, FP4, INT4), blockwise absmax quantization and double quantization.

What this module models
-----------------------
The storage side of QLoRA (Dettmers et al. 2023, arXiv 2305.14314, Sec. 3):
a weight tensor is flattened, cut into blocks of 64 values, each block is
divided by its absolute maximum ("absmax") so that it lies in [-1, 1], and
every value is replaced by the index of the nearest entry of a 16-value code
book.  Double quantization then stores the fp32 absmax constants themselves
in 8 bits, in blocks of 256.  Everything is simulated in float64 numpy;
bitsandbytes does the same arithmetic in float32 on the GPU, so results agree
with it to float32 rounding, not bit for bit.

Code books are 1-D arrays sorted ascending, with values in [-1, 1]; a
``QuantizedTensor``'s codes are indices into that sorted array (for NF4 the
sorted order is also bitsandbytes' bit pattern 0b0000 = -1 ... 0b1111 = 1; for
FP4 it is not, see :func:`fp4_code_table`).

Sources
-------
All bitsandbytes references are to github.com/bitsandbytes-foundation/bitsandbytes.

* NF4: ``create_normal_map(offset=0.9677083, use_extra_value=True)`` in
  ``bitsandbytes/functional.py`` (commit 01327aa0): 8 positive quantiles
  ``norm.ppf(linspace(offset, 0.5, 9)[:-1])``, 7 negative ones
  ``-norm.ppf(linspace(offset, 0.5, 8)[:-1])`` and zero, sorted and divided by
  the maximum.  (The library pads the zero to 241 copies to fill an 8-bit
  map; the 4-bit type is the 16 distinct values.)  The resulting table is
  hard-coded in ``get_4bit_type("nf4")`` of the same file and in the CUDA
  kernel ``dDequantizeNF4`` of ``csrc/kernels.cu`` (commit c037a306).
* FP4: ``dDequantizeFP4`` / ``dDequantizeFP4Tree`` / ``dQuantizeFP4`` in
  ``csrc/kernels.cu`` (commit c037a306) and ``get_4bit_type("fp4")``: one sign
  bit, then magnitudes 0, 0.0625 (subnormals) and {2, 4, 8} x {1, 1.5}; the
  kernel divides by 12, the largest magnitude.
* INT4: the usual symmetric absmax integer quantization, x_int = round(7 x /
  absmax(x)) for 4 bits, as LLM.int8() defines absmax quantization for 8 bits
  (Dettmers et al. 2022, arXiv 2208.07339, Sec. 2.1: round(127 x / absmax))
  and QLoRA states it for Int8 (Sec. 2, Eq. 1);
  bitsandbytes' ``get_4bit_type("int4")`` lists the same values 7, 6, ..., 0,
  -0, ..., -7 and divides by 7 (our :func:`int4_codebook`).
* Double quantization: ``quantize_4bit(..., compress_statistics=True)`` in
  ``functional.py`` (commit 01327aa0): ``offset = absmax.mean(); absmax -=
  offset; quantize_blockwise(absmax, blocksize=256)``, and
  ``quantize_blockwise`` uses ``create_dynamic_map()`` (signed, 7 maximum
  exponent bits, 8 bits; Dettmers 2015, arXiv 1511.04561) when no code is
  given.  QLoRA Sec. 3 describes the second level as "8-bit Floats"; what the
  released library stores is this dynamic map, which is what we implement.
* Nearest-value rounding: bitsandbytes' kernels compare against the midpoints
  of adjacent code values (the thresholds in ``dQuantizeNF4`` are those
  midpoints, e.g. 0.03979014977812767 = 0.07958029955625534 / 2) and send a
  value equal to a midpoint to the lower code (``if (x > threshold)``); so do we.
* The normal distribution functions use only ``math.erfc``; :func:`norm_ppf`
  is Acklam's rational approximation (P. J. Acklam, "An algorithm for
  computing the inverse normal cumulative distribution function", 2003;
  relative error below 1.15e-9) refined by two Halley steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------
# Standard normal distribution without scipy
# ---------------------------------------------------------------------------

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)

# Acklam's coefficients (central region and tails), as published with the algorithm.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_P_LOW = 0.02425
"""Acklam's break point between the central and the tail approximation."""

_erfc = np.vectorize(math.erfc, otypes=[float])


def norm_pdf(x):
    """Standard normal density exp(-x^2/2) / sqrt(2 pi), elementwise."""
    x = np.asarray(x, float)
    return np.exp(-0.5 * x * x) / _SQRT2PI


def norm_cdf(x):
    """Standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, elementwise (accurate in both tails)."""
    x = np.asarray(x, float)
    return 0.5 * _erfc(-x / _SQRT2)


def _acklam_lower(q: np.ndarray) -> np.ndarray:
    """Acklam's approximation of Phi^-1(q) for 0 < q <= 0.5."""
    out = np.empty_like(q)
    tail = q < _P_LOW
    if tail.any():
        t = np.sqrt(-2.0 * np.log(q[tail]))
        c, d = _C, _D
        out[tail] = ((((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5])
                     / ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0))
    mid = ~tail
    if mid.any():
        s = q[mid] - 0.5
        r = s * s
        a, b = _A, _B
        out[mid] = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * s
                    / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0))
    return out


def norm_ppf(p, halley_steps: int = 2):
    """Inverse standard normal CDF Phi^-1(p), elementwise; 0 and 1 give -inf and +inf.

    Works on the lower half q = min(p, 1 - p) (1 - p is exact for p >= 0.5) so
    both tails keep full relative precision, starts from Acklam's rational
    approximation and applies ``halley_steps`` Halley corrections
    x <- x - u / (1 + x u / 2), u = (Phi(x) - q) / phi(x).
    """
    p_arr = np.asarray(p, float)
    if np.any(np.isnan(p_arr)) or np.any((p_arr < 0.0) | (p_arr > 1.0)):
        raise ValueError("norm_ppf needs probabilities in [0, 1]")
    flat = p_arr.ravel()
    q = np.minimum(flat, 1.0 - flat)
    x = np.full_like(q, -np.inf)
    inner = q > 0.0
    if inner.any():
        qi = q[inner]
        xi = _acklam_lower(qi)
        for _ in range(halley_steps):
            density = norm_pdf(xi)
            ok = density > 0.0
            u = np.zeros_like(xi)
            u[ok] = (norm_cdf(xi[ok]) - qi[ok]) / density[ok]
            xi = xi - u / (1.0 + 0.5 * xi * u)
        x[inner] = xi
    x = np.where(flat > 0.5, -x, x)
    out = x.reshape(p_arr.shape)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------
# Code books
# ---------------------------------------------------------------------------

NF4_OFFSET: float = 0.9677083
"""Default ``offset`` of bitsandbytes' ``create_normal_map``: the largest probability used.

Numerically it equals the mean of 1 - 1/30 and 1 - 1/32 (0.96770833...) to
the 7 digits given; bitsandbytes does not document a derivation.
"""

FP4_MAX_MAGNITUDE: float = 12.0
"""Largest bitsandbytes FP4 magnitude (8 x 1.5); ``dDequantizeFP4Tree`` divides by it."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class NormalMapConstruction:
    """The pieces of bitsandbytes' ``create_normal_map`` (all arrays read-only).

    ``positive_probabilities`` / ``negative_probabilities`` are the
    probabilities whose normal quantiles are taken (8 and 7 of them for NF4);
    ``positive_quantiles`` and ``negative_quantiles`` are those quantiles in
    units of the standard deviation (the negative ones already negated);
    ``scale`` = Phi^-1(offset) is the largest quantile, which the
    normalisation maps to 1; ``values`` is the sorted, normalised code book.
    """

    offset: float
    use_extra_value: bool
    positive_probabilities: np.ndarray
    negative_probabilities: np.ndarray
    positive_quantiles: np.ndarray
    negative_quantiles: np.ndarray
    scale: float
    values: np.ndarray


def normal_map_construction(offset: float = NF4_OFFSET,
                            use_extra_value: bool = True) -> NormalMapConstruction:
    """Build the 4-bit normal map step by step, as ``create_normal_map`` does.

    With ``use_extra_value`` (NF4) the positive side gets one value more
    (``linspace(offset, 0.5, 9)[:-1]``, 8 values) than the negative side
    (``linspace(offset, 0.5, 8)[:-1]``, 7 values), plus one exact zero: 16
    distinct values.  Without it both sides get 7 values and zero appears
    twice.  Probabilities are computed in float64 (bitsandbytes uses
    ``torch.linspace`` in float32; the resulting table differs by ~1e-7).
    """
    n_pos = 9 if use_extra_value else 8
    pos_p = np.linspace(offset, 0.5, n_pos)[:-1]
    neg_p = np.linspace(offset, 0.5, 8)[:-1]
    pos_q = norm_ppf(pos_p)
    neg_q = -norm_ppf(neg_p)
    zeros = [0.0] if use_extra_value else [0.0, 0.0]
    raw = np.sort(np.concatenate([pos_q, zeros, neg_q]))
    scale = float(raw.max())
    return NormalMapConstruction(
        offset=offset, use_extra_value=use_extra_value,
        positive_probabilities=_readonly(pos_p), negative_probabilities=_readonly(neg_p),
        positive_quantiles=_readonly(pos_q), negative_quantiles=_readonly(neg_q),
        scale=scale, values=_readonly(raw / scale),
    )


def nf4_codebook() -> np.ndarray:
    """The 16 NF4 values (QLoRA Sec. 3), sorted: -1, ..., 0, ..., 1."""
    return np.array(normal_map_construction().values)


def fp4_code_table() -> np.ndarray:
    """bitsandbytes FP4 value of each 4-bit pattern 0..15, divided by 12.

    Decoded as ``dDequantizeFP4`` in ``csrc/kernels.cu`` does: bit 3 is the
    sign; if bits 2 and 1 are both 0 the value is subnormal, 0 or 0.0625
    (bit 0); otherwise it is (2 if bit 2 else 8) + (0 if bit 1 else 2) times
    (1.5 if bit 0 else 1).  Pattern 0b1000 is -0.0.
    """
    values = []
    for code in range(16):
        sign = -1.0 if code & 0b1000 else 1.0
        if code & 0b0110 == 0:
            magnitude = 0.0625 if code & 0b0001 else 0.0
        else:
            exponent = (2.0 if code & 0b0100 else 8.0) + (0.0 if code & 0b0010 else 2.0)
            magnitude = exponent * (1.5 if code & 0b0001 else 1.0)
        values.append(sign * magnitude)
    return np.array(values) / FP4_MAX_MAGNITUDE


def fp4_codebook() -> np.ndarray:
    """The 15 distinct bitsandbytes FP4 values, sorted (+0 and -0 are one value).

    FP4 spends two of its 16 patterns on zero, so it has 15 levels where NF4
    has 16.  Magnitudes / 12: 0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1.
    """
    return np.unique(fp4_code_table()) + 0.0  # + 0.0 turns a surviving -0.0 into +0.0


def int4_codebook() -> np.ndarray:
    """Symmetric absmax INT4: the 15 values k/7, k = -7..7, with an exact zero.

    The usual signed 4-bit integer quantization with absmax scaling, q = round(7 x / absmax),
    x ~ q absmax / 7 (LLM.int8(), arXiv 2208.07339, Sec. 2.1, with 7 in place of 127 for 4
    bits); the values of bitsandbytes' ``get_4bit_type("int4")`` (7, ..., 0, -0, ..., -7
    divided by 7). Of the 16 patterns one is spent on -0 (or, as a two's complement int4, the
    value -8 goes unused so that the grid stays symmetric), so INT4 has 15 levels where NF4
    has 16. Rounding to the nearest value is round(7 x / absmax) except that a tie goes to
    the lower value, as in bitsandbytes' kernels.
    """
    return np.arange(-7, 8) / 7.0


def dynamic_map(signed: bool = True, max_exponent_bits: int = 7,
                total_bits: int = 8) -> np.ndarray:
    """bitsandbytes' 8-bit dynamic quantization map (``create_dynamic_map``), sorted.

    For i = 0 .. max_exponent_bits-1: split [0.1, 1] into 2**(i + non_sign_bits
    - max_exponent_bits) equal bins (twice as many if unsigned), take the bin
    centres and scale them by 10**(i - (max_exponent_bits - 1)); add their
    negatives if signed; add 0 and 1.  For the defaults this gives 256 values
    from -0.99296875 to 1 (the map is not symmetric).  Computed in float64;
    the library's table is the float32 rounding of these values.  Unlike the
    library, maps with fewer than 8 bits are not padded with zeros to 256.
    """
    data: list[float] = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    i = 0
    for i in range(max_exponent_bits):
        n_bins = 2 ** (i + non_sign_bits - max_exponent_bits) * (1 if signed else 2)
        bounds = np.linspace(0.1, 1.0, n_bins + 1)
        means = (bounds[:-1] + bounds[1:]) / 2.0
        scale = 10.0 ** (-(max_exponent_bits - 1) + i)
        data += (scale * means).tolist()
        if signed:
            data += (-scale * means).tolist()
    if additional_items > 0:  # as in the library, at the scale of the last loop step
        bounds = np.linspace(0.1, 1.0, additional_items + 1)
        means = (bounds[:-1] + bounds[1:]) / 2.0
        scale = 10.0 ** (-(max_exponent_bits - 1) + i)
        data += (scale * means).tolist()
        if signed:
            data += (-scale * means).tolist()
    data += [0.0, 1.0]
    if len(data) != 2**total_bits:
        raise ValueError(f"dynamic map has {len(data)} values, expected {2**total_bits}")
    return np.sort(np.array(data))


def codebooks() -> dict[str, np.ndarray]:
    """The three 4-bit data types compared in the figures: NF4, FP4 and symmetric absmax INT4."""
    return {"NF4": nf4_codebook(), "FP4": fp4_codebook(), "INT4": int4_codebook()}


def _check_codebook(codebook) -> np.ndarray:
    cb = np.asarray(codebook, float)
    if cb.ndim != 1 or not 2 <= cb.size <= 256:
        raise ValueError("a code book is a 1-D array of 2 to 256 values")
    if np.any(np.diff(cb) < 0):
        raise ValueError("code book must be sorted ascending")
    if cb[0] < -1.0 or cb[-1] > 1.0:
        raise ValueError("code book values must lie in [-1, 1]")
    return cb


def code_bits(codebook) -> int:
    """Bits needed to index the code book: ceil(log2(len)); 4 for 15 or 16 values."""
    return max(1, math.ceil(math.log2(len(codebook))))


def max_rounding_error(codebook) -> float:
    """Largest distance from any t in [-1, 1] to its nearest code value.

    Half the largest gap between adjacent values, or the distance from an end
    of [-1, 1] to the nearest extreme value if that is larger.  Times a
    block's absmax it bounds the error of every element of that block.
    """
    cb = _check_codebook(codebook)
    half_gap = float(np.max(np.diff(cb))) / 2.0
    return max(half_gap, 1.0 - float(cb[-1]), float(cb[0]) + 1.0)


# ---------------------------------------------------------------------------
# Blockwise absmax quantization
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    """Blockwise-quantized tensor.

    ``codes`` (uint8, shape (n_blocks, block_size)) index ``codebook``; the
    last block is padded with zeros, whose codes are never read back.
    ``absmax`` holds one scale per block; ``shape`` is the original shape.
    ``block_size`` is the requested one, or the element count if that is smaller.
    """

    codes: np.ndarray
    absmax: np.ndarray
    block_size: int
    shape: tuple[int, ...]
    codebook: np.ndarray

    @property
    def n_elements(self) -> int:
        """Number of quantized values (padding excluded)."""
        return math.prod(self.shape)

    @property
    def n_blocks(self) -> int:
        """Number of blocks, i.e. of absmax constants."""
        return int(self.absmax.size)

    def storage_bits(self, absmax_bits: int = 32) -> int:
        """Codes for the real elements plus one ``absmax_bits`` constant per block."""
        return self.n_elements * code_bits(self.codebook) + self.n_blocks * absmax_bits


def quantize_blockwise(x, codebook, block_size: int = 64) -> QuantizedTensor:
    """Absmax-quantize ``x`` (any shape, flattened row-major) in blocks of ``block_size``.

    Each block is divided by max |x| over the block (an all-zero block keeps
    absmax 0) and every value goes to the nearest code value: ``searchsorted``
    on the midpoints of adjacent values, a value on a midpoint going to the
    lower code, as in bitsandbytes' kernels.  ``block_size >= x.size`` gives a
    single global absmax (the stored ``block_size`` is then ``x.size``).
    """
    cb = _check_codebook(codebook)
    if block_size < 1:
        raise ValueError("block_size must be positive")
    arr = np.asarray(x, float)
    if not np.all(np.isfinite(arr)):
        raise ValueError("cannot quantize non-finite values")
    flat = arr.ravel()
    n = flat.size
    if n == 0:
        raise ValueError("cannot quantize an empty array")
    size = min(block_size, n)
    n_blocks = -(-n // size)
    padded = np.zeros(n_blocks * size)
    padded[:n] = flat
    blocks = padded.reshape(n_blocks, size)
    absmax = np.max(np.abs(blocks), axis=1)
    divisor = np.where(absmax > 0.0, absmax, 1.0)
    normalized = blocks / divisor[:, None]
    midpoints = (cb[:-1] + cb[1:]) / 2.0
    codes = np.searchsorted(midpoints, normalized, side="left").astype(np.uint8)
    return QuantizedTensor(codes=codes, absmax=absmax, block_size=size,
                           shape=arr.shape, codebook=cb.copy())


def dequantize_blockwise(q: QuantizedTensor) -> np.ndarray:
    """Code value times block absmax, padding dropped, original shape restored."""
    values = q.codebook[q.codes] * q.absmax[:, None]
    return values.ravel()[: q.n_elements].reshape(q.shape)


def roundtrip(x, codebook, block_size: int = 64) -> np.ndarray:
    """dequantize_blockwise(quantize_blockwise(x, codebook, block_size))."""
    return dequantize_blockwise(quantize_blockwise(x, codebook, block_size))


def quantization_error(x, codebook, block_size: int = 64) -> dict[str, float]:
    """Measured round-trip error of ``x``.

    Keys: ``rmse``, ``mae``, ``max_abs``; ``rel_rmse`` = rmse / rms(x);
    ``sqnr_db`` = 10 log10(mean x^2 / mse); ``max_abs_bound`` = the largest
    block absmax times :func:`max_rounding_error` (an upper bound of
    ``max_abs``); ``bits_per_value`` = storage (codes + one fp32 absmax per
    block) / number of values, 4 + 32/64 = 4.5 for 4-bit codes in full blocks of 64.
    """
    arr = np.asarray(x, float)
    q = quantize_blockwise(arr, codebook, block_size)
    err = dequantize_blockwise(q) - arr
    mse = float(np.mean(err**2))
    ms = float(np.mean(arr**2))
    return {
        "rmse": math.sqrt(mse),
        "mae": float(np.mean(np.abs(err))),
        "max_abs": float(np.max(np.abs(err))),
        "rel_rmse": math.sqrt(mse / ms) if ms > 0 else 0.0,
        "sqnr_db": 10.0 * math.log10(ms / mse) if mse > 0 else math.inf,
        "max_abs_bound": float(np.max(q.absmax)) * max_rounding_error(codebook),
        "bits_per_value": q.storage_bits() / q.n_elements,
    }


# ---------------------------------------------------------------------------
# Double quantization (QLoRA Sec. 3; bitsandbytes compress_statistics=True)
# ---------------------------------------------------------------------------

DQ_BLOCK_SIZE: int = 256
"""Second-level block size ("a blocksize of 256 for c2", QLoRA Sec. 3)."""


@dataclass(frozen=True, eq=False)
class DoubleQuantized:
    """First-level constants after double quantization.

    ``constants`` are the reconstructed constants (dequantized + ``offset``);
    ``offset`` is the mean subtracted before quantizing (one per tensor, as in
    bitsandbytes); ``quantized`` holds the 8-bit codes and the fp32
    second-level absmax of each block of ``block_size`` constants.
    """

    constants: np.ndarray
    offset: float
    quantized: QuantizedTensor

    @property
    def n_constants(self) -> int:
        """Number of first-level constants."""
        return self.quantized.n_elements

    def storage_bits(self, include_offset: bool = True) -> int:
        """8 bits per constant + 32 per second-level block (+ 32 for the offset)."""
        return self.quantized.storage_bits(absmax_bits=32) + (32 if include_offset else 0)

    def bits_per_parameter(self, block_size: int = 64, include_offset: bool = False) -> float:
        """Constant storage per quantized weight, each constant covering ``block_size`` weights.

        Without the offset and with a multiple of 256 constants this is QLoRA's
        8/64 + 32/(64*256) = 0.126953125 bits.
        """
        return self.storage_bits(include_offset) / (self.n_constants * block_size)


def double_quantize(absmax, block_size: int = DQ_BLOCK_SIZE, codebook=None) -> DoubleQuantized:
    """Quantize first-level absmax constants to 8 bits, as bitsandbytes' ``quantize_4bit`` does.

    Subtract the mean of all constants, absmax-quantize the centred values in
    blocks of ``block_size`` with ``codebook`` (default :func:`dynamic_map`),
    and reconstruct.  Each reconstructed constant is within
    ``max_rounding_error(codebook)`` times its second-level block's absmax of
    the original.
    """
    c = np.asarray(absmax, float).ravel()
    if c.size == 0:
        raise ValueError("no constants to quantize")
    cb = dynamic_map() if codebook is None else codebook
    offset = float(np.mean(c))
    q = quantize_blockwise(c - offset, cb, block_size)
    return DoubleQuantized(constants=dequantize_blockwise(q) + offset, offset=offset, quantized=q)


# ---------------------------------------------------------------------------
# Sample weights and the outlier example
# ---------------------------------------------------------------------------


def normal_weights(n: int, seed: int = 0, std: float = 1.0) -> np.ndarray:
    """``n`` i.i.d. N(0, std^2) values from ``np.random.default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal(n) * std


def heavy_tailed_weights(n: int, seed: int = 0, df: float = 5.0, std: float = 1.0) -> np.ndarray:
    """``n`` Student-t(df) values scaled to standard deviation ``std`` (needs df > 2).

    A t(df) variable has variance df / (df - 2); multiplying by
    sqrt((df - 2) / df) gives unit variance.  df = 5 is an illustrative choice
    of a heavier-than-normal tail (kurtosis 9), not a fit to any model.
    """
    if df <= 2:
        raise ValueError("Student-t variance is finite only for df > 2")
    t = np.random.default_rng(seed).standard_t(df, n)
    return t * math.sqrt((df - 2.0) / df) * std


def outlier_vector(n: int = 256, seed: int = 0, outlier_index: int = 100,
                   outlier_value: float = 20.0) -> np.ndarray:
    """``n`` standard normal values (seeded), element ``outlier_index`` set to ``outlier_value``.

    The default (one value at 20 standard deviations among 256) is an
    illustration chosen for the figure, not a measured property of a model.
    """
    if not 0 <= outlier_index < n:
        raise ValueError("outlier_index out of range")
    x = normal_weights(n, seed)
    x[outlier_index] = outlier_value
    return x


@dataclass(frozen=True, eq=False)
class AbsmaxComparison:
    """One vector quantized with a single global absmax and with blockwise absmax.

    Errors are reconstruction minus original, per element.
    """

    x: np.ndarray
    block_size: int
    global_absmax: float
    block_absmax: np.ndarray
    global_reconstruction: np.ndarray
    blockwise_reconstruction: np.ndarray
    global_error: np.ndarray
    blockwise_error: np.ndarray


def compare_global_and_blockwise(x, codebook, block_size: int = 64) -> AbsmaxComparison:
    """Quantize the 1-D ``x`` once with one absmax for the whole vector, once per block."""
    arr = np.asarray(x, float).ravel()
    q_global = quantize_blockwise(arr, codebook, block_size=arr.size)
    q_block = quantize_blockwise(arr, codebook, block_size=block_size)
    rec_global = dequantize_blockwise(q_global)
    rec_block = dequantize_blockwise(q_block)
    return AbsmaxComparison(
        x=arr, block_size=q_block.block_size, global_absmax=float(q_global.absmax[0]),
        block_absmax=q_block.absmax, global_reconstruction=rec_global,
        blockwise_reconstruction=rec_block, global_error=rec_global - arr,
        blockwise_error=rec_block - arr,
    )


@dataclass(frozen=True, eq=False)
class DoubleQuantizationEffect:
    """What double quantization does to one tensor's NF4 reconstruction.

    ``constants`` are the fp32 block absmax values, ``dq_constants`` the same after double
    quantization (:func:`double_quantize`); ``relative_error`` = dq / fp32 - 1 per constant.
    ``rmse_fp32`` and ``rmse_dq`` are the weights' round-trip RMSE with either set of constants
    (same codes: bitsandbytes quantizes the weights with the exact absmax and stores the
    constants double-quantized, so only the scale of each block changes).
    """

    constants: np.ndarray
    dq_constants: np.ndarray
    relative_error: np.ndarray
    rmse_fp32: float
    rmse_dq: float

    @property
    def rmse_increase(self) -> float:
        """Relative growth of the weights' RMSE caused by double quantization."""
        return self.rmse_dq / self.rmse_fp32 - 1.0


def double_quantization_effect(x, codebook, block_size: int = 64,
                               dq_block_size: int = DQ_BLOCK_SIZE) -> DoubleQuantizationEffect:
    """Quantize ``x`` blockwise, then double-quantize its constants, and measure both."""
    arr = np.asarray(x, float)
    q = quantize_blockwise(arr, codebook, block_size)
    dq = double_quantize(q.absmax, dq_block_size)
    with_dq = QuantizedTensor(codes=q.codes, absmax=dq.constants, block_size=q.block_size,
                              shape=q.shape, codebook=q.codebook)

    def rmse(tensor: QuantizedTensor) -> float:
        return math.sqrt(float(np.mean((dequantize_blockwise(tensor) - arr) ** 2)))

    return DoubleQuantizationEffect(
        constants=q.absmax, dq_constants=dq.constants,
        relative_error=dq.constants / q.absmax - 1.0, rmse_fp32=rmse(q), rmse_dq=rmse(with_dq))
