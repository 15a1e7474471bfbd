"""Logarithms and powers that give the same bits on every CPU.

numpy's `log`, `log10`, `exp` and `power` run SIMD kernels chosen for the CPU at hand (AVX-512,
AVX2, SSE), whose results differ in the last bit. Figures drawn through them (every log-scaled
axis) can then differ by a pixel from one machine to the next. These use only IEEE-754 basic
arithmetic (add, multiply, divide, exactly rounded on every CPU) and `frexp` / `ldexp` (exact),
so they are reproducible bit for bit: `log` within 2 ulp of numpy's (4 ulp in base 2 and 10,
just above 1: tests/test_portable.py), `power` within 1e-13
(relative; it places ticks and limits), both exact at the powers of the base: log10(1000) is 3.0
and 10 ** 3.0 is 1000.0.

Method (Cody & Waite argument reduction, then series): x = m 2^e with m in [sqrt(1/2), sqrt(2)),
ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172; 2^f for |f| <= 1/2 from the Taylor series
of exp. See J.-M. Muller, *Elementary Functions: Algorithms and Implementation* (3rd ed.,
2016), ch. 11.
"""
from __future__ import annotations

import math

import numpy as np

# ln 2 and log2(10) split into a head with trailing zero bits and a tail, so that e * head is
# exact for every exponent e of a double (|e| < 2^11).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046
_LOG2_10 = 3.321928094887362
_LOG2_E = 1.4426950408889634
_SQRT_HALF = 0.7071067811865476
#: Every power of ten a double can hold, each the nearest double (parsed from its decimal).
_POW10_EXPONENTS = np.arange(-307, 309)
_POW10 = np.array([float(f"1e{k}") for k in _POW10_EXPONENTS])
_ATANH_TERMS = 13   # 1/(2k+1) z^k for z < 0.0295: the last term is below 1e-20 of the first
_EXP_TERMS = 18     # g^k / k! for |g| <= ln2 / 2: the last term is below 1e-21


def _reduce(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x = m 2^e with m in [sqrt(1/2), sqrt(2)): (ln m, e), for finite x > 0."""
    m, e = np.frexp(x)
    small = m < _SQRT_HALF
    m[small] *= 2.0
    s = m - 1.0
    m += 1.0
    s /= m
    z = s * s
    series = np.full_like(z, 1.0 / (2 * _ATANH_TERMS - 1))
    for k in range(_ATANH_TERMS - 2, -1, -1):  # in place: the same operations, no new arrays
        series *= z
        series += 1.0 / (2 * k + 1)
    s *= 2.0
    s *= series
    return s, (e - small).astype(np.float64)


def _ln(x: np.ndarray) -> np.ndarray:
    """ln x for finite x > 0 (float64)."""
    ln_m, e = _reduce(x)
    return e * _LN2_HI + (ln_m + e * _LN2_LO)


def log(x, base: float = np.e) -> np.ndarray:
    """log_base(x), elementwise: nan below zero and for nan, -inf at zero, inf at inf."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 1:  # a single point (matplotlib transforms many): plain floats, ten times faster
        return np.full(x.shape, _log_one(float(x.reshape(-1)[0]), base))
    out = np.full(x.shape, np.nan)
    finite = np.isfinite(x) & (x > 0)
    if base == 2:
        ln_m, e = _reduce(x[finite])
        out[finite] = e + ln_m / _LN2   # exact for powers of two
    else:
        out[finite] = _ln(x[finite]) / (_LN10 if base == 10 else np.log(base).item())
        if base == 10:
            out[finite] = _exact_decades(x[finite], out[finite])
    out[x == 0] = -np.inf
    out[x == np.inf] = np.inf
    return out


def _log_one(x: float, base: float) -> float:
    """log(x, base) of one value: the very operations of the array path, in the same order, on
    Python floats (IEEE doubles, exactly rounded like numpy's elementwise arithmetic), so the
    same bits (tested)."""
    if not (math.isfinite(x) and x > 0):
        return -math.inf if x == 0 else math.inf if x == math.inf else math.nan
    m, e = math.frexp(x)
    small = m < _SQRT_HALF
    if small:
        m *= 2.0
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    series = 1.0 / (2 * _ATANH_TERMS - 1)
    for k in range(_ATANH_TERMS - 2, -1, -1):
        series = series * z + 1.0 / (2 * k + 1)
    ln_m, e = 2.0 * s * series, float(e - small)
    if base == 2:
        return e + ln_m / _LN2
    out = (e * _LN2_HI + (ln_m + e * _LN2_LO)) / (_LN10 if base == 10
                                                   else np.log(base).item())
    if base == 10:
        k = min(max(round(out), int(_POW10_EXPONENTS[0])), int(_POW10_EXPONENTS[-1]))
        if _POW10[k - _POW10_EXPONENTS[0]] == x:  # round() halves to even, as np.rint
            return float(k)
    return out


def _exact_decades(x: np.ndarray, logs: np.ndarray) -> np.ndarray:
    k = np.clip(np.rint(logs), _POW10_EXPONENTS[0], _POW10_EXPONENTS[-1]).astype(int)
    exact = _POW10[k - _POW10_EXPONENTS[0]] == x
    return np.where(exact, k.astype(np.float64), logs)


def _exp2(t: np.ndarray) -> np.ndarray:
    """2^t for finite t (float64)."""
    t = np.clip(t, -1100.0, 1100.0)
    k = np.rint(t)
    g = (t - k) * _LN2                  # |g| <= ln2 / 2
    series = np.full_like(g, 1.0)
    for n in range(_EXP_TERMS, 0, -1):
        series = series * (g / n) + 1.0
    return np.ldexp(series, k.astype(np.int64))


def power(base: float, y) -> np.ndarray:
    """base ** y, elementwise (base 2, 10 or e; exact at integers for 2 and 10)."""
    y = np.asarray(y, dtype=np.float64)
    if base == 2:
        out = _exp2(y)
    elif base == 10:
        out = _exp2(y * _LOG2_10)
        integer = (y == np.rint(y)) & (np.abs(y) <= 308)
        k = np.where(integer, y, 0).astype(int) - _POW10_EXPONENTS[0]
        out = np.where(integer, _POW10[np.clip(k, 0, _POW10.size - 1)], out)
    else:
        out = _exp2(y * (_LOG2_E if base == np.e else 1.0 / log(np.array(2.0), base).item()))
    out = np.where(np.isnan(y), np.nan, out)
    out = np.where(y == np.inf, np.inf, out)
    return np.where(y == -np.inf, 0.0, out)


def exp(y) -> np.ndarray:
    """e ** y, elementwise."""
    return power(np.e, y)
