"""A logarithmic axis that places every point the same on every CPU.

matplotlib's "log" scale transforms data with numpy's `log10` and `power`, whose SIMD kernels
differ in the last bit between CPUs; a last-bit difference can move a line's anti-aliased edge
by one shade of one pixel. `reproducible_log_scale()` (entered by `figkit.style.applied()`)
makes "log" this scale, whose transforms use `numerics.portable` (basic IEEE arithmetic only),
and restores matplotlib's afterwards. Everything else about the scale is matplotlib's own.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
from matplotlib import scale

from numerics import portable


class PortableLogTransform(scale.LogTransform):
    def transform_non_affine(self, values):
        values = np.asarray(values, dtype=np.float64)
        out = portable.log(values, self.base)
        if self._clip:
            out[values <= 0] = -1000   # as matplotlib's LogTransform
        return out

    def inverted(self):
        return PortableInvertedLogTransform(self.base)


class PortableInvertedLogTransform(scale.InvertedLogTransform):
    def transform_non_affine(self, values):
        return portable.power(self.base, values)

    def inverted(self):
        return PortableLogTransform(self.base)


class PortableLogScale(scale.LogScale):
    """matplotlib's LogScale with the portable transforms."""
    name = "log"

    def __init__(self, *, base=10, subs=None, nonpositive="clip"):
        super().__init__(base=base, subs=subs, nonpositive=nonpositive)
        self._transform = PortableLogTransform(base, nonpositive)


@contextmanager
def reproducible_log_scale():
    """Within the block, `set_xscale("log")` and friends build a PortableLogScale."""
    scale.register_scale(PortableLogScale)
    try:
        yield
    finally:
        with warnings.catch_warnings():  # matplotlib's own scale still takes `axis`
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            scale.register_scale(scale.LogScale)
