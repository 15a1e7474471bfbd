"""Shared test helpers: discovery of every topic module and its registered figures."""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def topic_modules():
    """Every scripts/<topic>.py that registers figures (a module-level `FIGURES` Registry)."""
    from figkit import Registry

    modules = []
    for path in sorted(SCRIPTS.glob("*.py")):
        module = importlib.import_module(path.stem)
        if isinstance(getattr(module, "FIGURES", None), Registry):
            modules.append(module)
    return modules


def all_figures():
    return [pytest.param(m.FIGURES, name, id=f"{m.FIGURES.topic}/{name}")
            for m in topic_modules() for name in m.FIGURES.names]


def build_strict(registry, name, textwidth_in):
    """Build a figure with every warning an error (missing glyphs, layout failures...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return registry.build(name, textwidth_in)
