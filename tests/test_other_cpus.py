"""The committed images and numbers.tex come out byte for byte the same on other x86-64 CPUs.

Each test regenerates one topic as `make check` does, in a process whose numpy is kept from the
SIMD kernels of this machine's CPU (`NPY_DISABLE_CPU_FEATURES`), whose OpenBLAS uses another
CPU's kernels (`OPENBLAS_CORETYPE`) and whose C library (the math functions matplotlib's
renderer calls) sees fewer CPU features (`GLIBC_TUNABLES`), and requires identical bytes.
Together with the tests that compare a fresh render on this CPU, that covers AVX-512 (with and
without the Ice Lake extensions), AVX2 and AVX machines. Not covered: arm64 (other numpy and
OpenBLAS kernels; see the README).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

TOPICS = ("fine_tuning", "pretraining", "qlora", "grokking", "lora", "sparse_training",
          "experiments")
CHECK = ROOT / "scripts" / "tools" / "check_images.py"
#: name -> (numpy SIMD features masked, OpenBLAS core type, glibc features masked): a Skylake-SP
#: server (AVX-512 without the Ice Lake extensions), a Haswell desktop or AMD Zen 2/3 server
#: (AVX2, FMA3, no AVX-512), and a Sandy Bridge (AVX only: numpy's SSE4.2 baseline, OpenBLAS's
#: Sandy Bridge kernels, and glibc's math library without its FMA and AVX2 variants).
CPUS = {
    "skylake-avx512": ("AVX512_ICL,AVX512_SPR", "SkylakeX", ""),
    "haswell-avx2": ("X86_V4,AVX512_ICL,AVX512_SPR", "Haswell", "-AVX512F"),
    "sandybridge-avx": ("X86_V3,X86_V4,AVX512_ICL,AVX512_SPR", "Sandybridge",
                        "-AVX2,-FMA,-AVX512F"),
}


def emulated(cpu: str) -> dict:
    features, core, glibc = CPUS[cpu]
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": features, "OPENBLAS_CORETYPE": core,
           "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    if glibc:
        env["GLIBC_TUNABLES"] = f"glibc.cpu.hwcaps={glibc}"
    return env


PROBE = """
import ctypes, glob, os, numpy
from numpy._core import _multiarray_umath as umath
blas = glob.glob(os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs",
                              "libscipy_openblas64_*.so"))
core = ctypes.CDLL(blas[0]).scipy_openblas_get_corename64_
core.restype = ctypes.c_char_p
features = umath.__cpu_features__
print(" ".join(f for f in umath.__cpu_dispatch__ if features[f]))
print(core().decode())
"""


@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_the_emulated_cpu_is_the_one_named(cpu):
    """numpy runs without the masked kernels, and OpenBLAS reports the requested core."""
    done = subprocess.run([sys.executable, "-c", PROBE], env=emulated(cpu), capture_output=True,
                          text=True, check=True)
    in_use, core = done.stdout.splitlines()
    masked = set(CPUS[cpu][0].split(","))
    assert not set(in_use.split()) & masked, in_use
    assert core == CPUS[cpu][1]


@pytest.mark.parametrize("cpu", [cpu for cpu in sorted(CPUS) if CPUS[cpu][2]])
def test_the_c_library_sees_the_masked_features_as_absent(cpu):
    """glibc's loader reports the features it will use: masking changes them."""
    loader = "/lib64/ld-linux-x86-64.so.2"

    def active(env):
        done = subprocess.run([loader, "--list-diagnostics"], env=env, capture_output=True,
                              text=True, check=True)
        return [line for line in done.stdout.splitlines() if ".active[" in line]

    assert active(emulated(cpu)) != active({k: v for k, v in emulated(cpu).items()
                                             if k != "GLIBC_TUNABLES"})


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("cpu", sorted(CPUS))
def test_images_are_byte_identical_on_another_cpu(cpu, topic, tmp_path):
    done = subprocess.run([sys.executable, str(CHECK), topic, "--report", str(tmp_path)],
                          env=emulated(cpu), capture_output=True, text=True)
    assert done.returncode == 0, f"on {cpu}:\n{done.stdout}{done.stderr}"
