"""numerics.portable: logarithms and powers from basic IEEE arithmetic, the same bits on every
CPU, as its docstring promises: within 2 ulp of numpy's log, exact at the powers of the base, the
special values as numpy gives them, and one value (the path matplotlib's transforms take for a
single point) exactly as in an array."""
import numpy as np
import pytest

from numerics import portable

BASES = (np.e, 2, 10, 7.5)


def _values(rng):
    return np.concatenate([rng.random(20_000) * 1e3, 10.0 ** rng.uniform(-300, 300, 20_000),
                           rng.uniform(0.5, 2.0, 20_000), [5e-324, 1e-310, 1.7e308]])


def _reference(x, base):
    if base == np.e:
        return np.log(x)
    if base == 2:
        return np.log2(x)
    return np.log10(x) if base == 10 else np.log(x) / np.log(base)


@pytest.mark.parametrize(("base", "ulps"), [(np.e, 2), (2, 4), (10, 4), (7.5, 6)])
def test_log_is_within_a_few_ulp_of_numpys(base, ulps):
    """ln within 2 ulp; log2 and log10 within 4 (just above 1, where the result is small)."""
    x = _values(np.random.default_rng(0))
    ours, theirs = portable.log(x, base), _reference(x, base)
    assert np.all(np.abs(ours - theirs) <= ulps * np.spacing(np.abs(theirs)))


def test_log_is_exact_at_the_powers_of_its_base():
    decades = np.array([float(f"1e{k}") for k in range(-300, 301)])  # the nearest doubles
    assert np.array_equal(portable.log(decades, 10), np.arange(-300, 301, dtype=float))
    assert np.array_equal(portable.log(2.0 ** np.arange(-1000, 1001), 2),
                          np.arange(-1000, 1001, dtype=float))
    assert portable.log(np.array(1.0)) == 0.0


@pytest.mark.parametrize("base", BASES)
def test_one_value_gives_the_bits_of_the_array_path(base):
    """log of a single value runs on Python floats: bit for bit what the array path gives."""
    x = np.concatenate([_values(np.random.default_rng(1))[::40], 10.0 ** np.arange(-5, 6),
                        [0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0]])
    whole = portable.log(x, base)
    alone = np.array([portable.log(np.array([value]), base)[0] for value in x])
    assert np.array_equal(whole.view(np.int64), alone.view(np.int64))
    assert portable.log(np.array(100.0), base).shape == ()


def test_special_values_are_numpys():
    x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.log(x)
    for base in BASES:
        assert np.array_equal(portable.log(x, base), expected, equal_nan=True)


def test_power_is_close_to_numpys_and_exact_at_integers():
    y = np.random.default_rng(2).uniform(-30, 30, 10_000)
    for base in (2, 10, np.e):
        assert np.allclose(portable.power(base, y), np.power(base, y), rtol=1e-13, atol=0)
    assert np.array_equal(portable.power(10, np.arange(-300, 301.0)),
                          np.array([float(f"1e{k}") for k in range(-300, 301)]))
