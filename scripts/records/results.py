"""Recorded results: the outcome of a seeded experiment, computed once by `make data` and read by
the figures, so that no figure trains anything and every CPU draws the same bytes.

    data/<topic>/<name>/config.json    the experiment's parameters, `code_hash`, machine, time
    data/<topic>/<name>/result.json    the result's fields; arrays appear as {"array": "<key>"}
    data/<topic>/<name>/result.npz     the arrays (float64 exactly as computed)

A result is a frozen dataclass of numbers, strings, numpy arrays, and tuples, lists, dicts and
dataclasses of those. `write_result` stores one; `read_result(folder, cls)` rebuilds it as
`cls`, guided by the dataclass's type hints, never by the file: nothing is unpickled and no class
named in a file is ever imported. Small experiments whose last bits depend on the CPU (the
fine-tuning MLPs, the LoRA toy model) are recorded this way; long training runs, whose curves a
dashboard reads, keep the run format of `records.format`.
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import types
import typing
import zipfile
from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .format import CONFIG, RunError, _read_config, npz_bytes

RESULT = "result.json"
ARRAYS = "result.npz"
_ARRAY, _FLOAT = "array", "float"


# ---- writing ---------------------------------------------------------------------------------
def write_result(path, config: dict, result) -> Path:
    """Record `result` (a dataclass instance) with its `config` under `path`; the same inputs
    give the same bytes, each file is written atomically."""
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        raise TypeError(f"expected a dataclass instance, got {type(result).__name__}")
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(result, "", arrays)
    path.mkdir(parents=True, exist_ok=True)
    write_atomic(path / CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    write_atomic(path / RESULT, (json.dumps(tree, indent=1) + "\n").encode())
    write_atomic(path / ARRAYS, npz_bytes(arrays))
    return path


def _encode(value, key: str, arrays: dict):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name), _join(key, f.name), arrays)
                for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{key}: arrays of {value.dtype} cannot be recorded")
        arrays[key] = value
        return {_ARRAY: key}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {_FLOAT: repr(value)}
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return [_encode(item, _join(key, str(i)), arrays) for i, item in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{key}: only dicts with string keys can be recorded")
        return {k: _encode(v, _join(key, k), arrays) for k, v in value.items()}
    raise TypeError(f"{key}: a {type(value).__name__} cannot be recorded")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# ---- reading ---------------------------------------------------------------------------------
def read_config(path) -> dict:
    """The config.json of a recorded result (RunError naming the file when it is unusable)."""
    return _read_config(Path(path) / CONFIG, required=True)


def read_result(path, cls):
    """The result recorded under `path`, rebuilt as the dataclass `cls`."""
    path = Path(path)
    if not (path / RESULT).is_file():
        raise RunError(f"{path / RESULT}: missing (record it with `make data`)")
    try:
        tree = json.loads((path / RESULT).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RunError(f"{path / RESULT}: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise RunError(f"{path / RESULT}, line {error.lineno}: invalid JSON ({error.msg})"
                       ) from None
    try:  # read first: np.load leaves the file open when the archive is damaged
        content = io.BytesIO((path / ARRAYS).read_bytes())
        with np.load(content, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise RunError(f"{path / ARRAYS}: unreadable ({error})") from None
    try:
        return _decode(tree, cls, arrays)
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"{path / RESULT}: does not hold a {cls.__name__} ({error})") from None


def _decode(value, hint, arrays: dict):
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        if not isinstance(value, dict):
            raise TypeError(f"expected the fields of {hint.__name__}")
        fields = [f for f in dataclasses.fields(hint) if f.init]
        missing = [f.name for f in fields if f.name not in value]
        if missing:
            raise KeyError(f"{hint.__name__} lacks {', '.join(missing)}")
        return hint(**{f.name: _decode(value[f.name], hints[f.name], arrays) for f in fields})
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _decode(value, options[0] if len(options) == 1 else typing.Any, arrays)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(item, args[0], arrays) for item in value)
        return tuple(_decode(item, a, arrays) for item, a in zip(value, args, strict=True))
    if origin is list:
        return [_decode(item, args[0], arrays) for item in value]
    if origin is dict:
        return {k: _decode(v, args[1], arrays) for k, v in value.items()}
    if hint is float:
        value = _generic(value, arrays)
        return float(value)
    if hint is int and not isinstance(value, bool):
        return int(value)
    return _generic(value, arrays)


def _generic(value, arrays: dict):
    """Decode without a type hint: tagged arrays and floats, lists, dicts."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return arrays[value[_ARRAY]]
        if set(value) == {_FLOAT}:
            return float(value[_FLOAT])
        return {k: _generic(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_generic(item, arrays) for item in value]
    return value
