"""Reuse what did not change: a figure is drawn again only when something it depends on changed.

Two caches under `.build/cache/<topic>/`, both keyed by a sha256 of everything that decides what
they hold:

- **results**: `<name>.result.json` holds a digest of the figure's result and the numbers it
  exports, keyed by the code of its result function (and every project function, class and
  constant that code reaches), every file under data/, and the pinned package versions. A hit
  means the result function need not run at all.
- **images**: `<name>.<key>.<fmt>` holds the rendered bytes, keyed by the digest of the result,
  the code the drawing and result functions reach (their helpers in the topic module and in the
  toolkit, the result's class and its methods), the caption and size, the text width, the style
  sheet, the toolkit's build and save path, and the pinned package versions.

What code a function reaches is read from its bytecode: every global name it (or a function
nested in it) uses, resolved in its module; project functions and classes are followed, their
source hashed; project constants are hashed by value; a project module used as `module.name`
contributes the names used on it. A function that looks names up dynamically (`getattr`,
`globals`, `eval`, `exec`, `importlib`) brings in the whole source of its module instead. Other
libraries are covered by their pinned versions. Nothing here imports matplotlib.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import platform
import sys
import types
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from records.atomic import write_atomic

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
#: The toolkit files every figure is built and saved through.
BUILD_PATH = ("figkit/study.mplstyle", "figkit/style.py", "figkit/save.py", "figkit/registry.py",
              "figkit/sizes.py", "figkit/cache.py")
#: Distributions whose version decides the bytes of a figure (requirements.txt pins them).
PACKAGES = ("matplotlib", "numpy", "seaborn", "pillow", "fonttools", "pandas", "contourpy",
            "kiwisolver", "pyparsing", "cycler")
_DYNAMIC = {"getattr", "globals", "eval", "exec", "importlib", "__import__", "vars"}


class Uncacheable(Exception):
    """A value without a stable digest (its text names a memory address, say)."""


# ---- digests of values --------------------------------------------------------------------
def digest(value) -> str:
    """sha256 of a value's content: numbers, strings, arrays, containers, dataclasses, paths and
    `figkit.numbers.Numbers`; anything else only when its repr is stable."""
    hasher = hashlib.sha256()
    _feed(hasher, value, depth=0)
    return hasher.hexdigest()


def _feed(hasher, value, depth: int) -> None:
    if depth > 50:
        raise Uncacheable("value nested too deeply")
    update = hasher.update
    if value is None or isinstance(value, (bool, int, str, bytes)):
        update(f"{type(value).__name__}:{value!r};".encode())
    elif isinstance(value, float):
        update(f"float:{value.hex() if math.isfinite(value) else value!r};".encode())
    elif isinstance(value, (np.generic, np.ndarray)):
        array = np.ascontiguousarray(value)
        if array.dtype == object:
            update(f"objects{array.shape};".encode())
            for item in array.ravel():
                _feed(hasher, item, depth + 1)
        else:
            update(f"array:{array.dtype.str}{array.shape};".encode())
            update(array.tobytes())
    elif isinstance(value, (list, tuple)):
        update(f"{type(value).__name__}[{len(value)}];".encode())
        for item in value:
            _feed(hasher, item, depth + 1)
    elif isinstance(value, (set, frozenset)):
        update(f"set[{len(value)}];".encode())
        for item in sorted(digest(v) for v in value):
            update(item.encode())
    elif isinstance(value, dict):
        update(f"dict[{len(value)}];".encode())
        for key, item in value.items():
            _feed(hasher, key, depth + 1)
            _feed(hasher, item, depth + 1)
    elif isinstance(value, Path):  # inside the project: relative, so a moved checkout reuses
        shown = value.relative_to(ROOT) if value.is_relative_to(ROOT) else value
        update(f"path:{shown.as_posix()};".encode())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        update(f"dataclass:{type(value).__qualname__};".encode())
        for field in dataclasses.fields(value):
            update(field.name.encode())
            _feed(hasher, getattr(value, field.name), depth + 1)
    elif type(value).__name__ == "Numbers" and hasattr(value, "tex_items"):
        update(b"numbers;")
        _feed(hasher, value.tex_items(), depth + 1)
    elif isinstance(value, (types.FunctionType, type, types.ModuleType)):
        update(f"{type(value).__name__}:{getattr(value, '__qualname__', value.__name__)};"
               .encode())
    else:
        text = repr(value)
        if " at 0x" in text or " object at " in text:
            raise Uncacheable(f"no stable digest for {type(value).__qualname__}")
        update(f"{type(value).__qualname__}:{text};".encode())


# ---- the code a function reaches ------------------------------------------------------------
def _in_project(obj) -> bool:
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return False
    if path is None or not path.endswith(".py"):  # code made at run time says "<string>"
        return False
    path = Path(path).resolve()
    return path.is_file() and path.is_relative_to(SCRIPTS)


def _names(code: types.CodeType) -> set[str]:
    """Every global or attribute name a code object and the code nested in it use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


@cache
def _module_source(module_name: str) -> str:
    module = sys.modules[module_name]
    return Path(inspect.getsourcefile(module)).read_text()


@cache
def _source(obj) -> str:
    return inspect.getsource(obj)


@cache
def code_closure(*roots) -> tuple[str, ...]:
    """Sorted texts (sources, constant digests) of the project code the `roots` reach (once per
    process: the code does not change while it runs)."""
    parts: dict[str, str] = {}
    stack = list(roots)
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        obj = inspect.unwrap(obj) if callable(obj) else obj
        if id(obj) in seen or not _in_project(obj):  # generated code (dataclasses) has none
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            label = f"{obj.__module__}.{obj.__qualname__}"
            parts[label] = _source(obj)
            names = _names(obj.__code__)
            if names & _DYNAMIC:  # looks names up at run time: its whole module counts
                parts[f"module {obj.__module__}"] = _module_source(obj.__module__)
            for cell in obj.__closure__ or ():
                stack.extend(_follow(cell.cell_contents, label, parts))
            for default in (obj.__defaults__ or ()) + tuple((obj.__kwdefaults__ or {}).values()):
                stack.extend(_follow(default, label, parts))
            stack.extend(_resolve(names, obj.__globals__, parts))
        elif isinstance(obj, type):
            label = f"{obj.__module__}.{obj.__qualname__}"
            parts[label] = _source(obj)
            module = sys.modules.get(obj.__module__)
            for member in vars(obj).values():
                member = member.__func__ if isinstance(member, (staticmethod, classmethod)) \
                    else member.fget if isinstance(member, property) else member
                if isinstance(member, types.FunctionType):
                    stack.append(member)
            if module is not None:
                names = set()
                for member in vars(obj).values():
                    if isinstance(member, types.FunctionType):
                        names |= _names(member.__code__)
                stack.extend(_resolve(names, vars(module), parts))
    return tuple(f"{label}\n{text}" for label, text in sorted(parts.items()))


def _follow(value, owner: str, parts: dict) -> list:
    """What to follow of a value a function holds: project code, or its digest."""
    if isinstance(value, (types.FunctionType, type)) and _in_project(value):
        return [value]
    if isinstance(value, (types.FunctionType, type, types.ModuleType)) or callable(value):
        return [value] if _in_project(value) else []
    parts[f"{owner} value {len(parts)}"] = digest(value)
    return []


def _resolve(names: set[str], namespace: dict, parts: dict) -> list:
    found = []
    for name in sorted(names):
        if name not in namespace:
            continue
        value = namespace[name]
        if isinstance(value, types.ModuleType):
            if _in_project(value):  # module.attribute: the attributes named anywhere here
                found.extend(_resolve(names, vars(value), parts))
        elif isinstance(value, (types.FunctionType, type)):
            if _in_project(value):
                found.append(value)
        elif callable(value):
            if _in_project(value):
                found.append(value)
        elif not name.startswith("__"):
            try:
                parts[f"constant {name}"] = digest(value)
            except Uncacheable:
                parts[f"constant {name}"] = repr(type(value))
    return found


# ---- the keys ----------------------------------------------------------------------------
@cache
def environment() -> str:
    """The toolkit's build path and the versions that decide a figure's bytes."""
    hasher = hashlib.sha256()
    for file in BUILD_PATH:
        hasher.update(file.encode())
        hasher.update((SCRIPTS / file).read_bytes())
    versions = [f"python {platform.python_version()}"]
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} missing")
    hasher.update("\n".join(versions).encode())
    return hasher.hexdigest()


@cache
def data_digest() -> str:
    """Every file under data/: the inputs a result function may read."""
    hasher = hashlib.sha256()
    for path in sorted((ROOT / "data").rglob("*")):
        if path.is_file():
            hasher.update(path.relative_to(ROOT).as_posix().encode())
            hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()


def _hash(*parts) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(str(part).encode())
        hasher.update(b"\x00")
    return hasher.hexdigest()


def result_key(spec) -> str | None:
    """What decides a figure's result; None when it cannot be told (nothing is reused)."""
    if spec.result is None:
        return _hash("no result", environment())
    try:
        return _hash("result", *code_closure(spec.result), data_digest(), environment())
    except (OSError, TypeError, Uncacheable):
        return None


def image_key(spec, result_digest: str | None, textwidth_in: float, fmt: str) -> str | None:
    """What decides a figure's bytes in format `fmt`; None when it cannot be told."""
    if result_digest is None:
        return None
    try:  # the result's code too: methods of its class may be called while drawing
        code = code_closure(spec.draw, *([spec.result] if spec.result is not None else []))
    except (OSError, TypeError, Uncacheable):
        return None
    return _hash("image", spec.name, spec.caption, spec.width, spec.aspect, spec.height,
                 repr(float(textwidth_in)), fmt, result_digest, *code, environment())


# ---- the store ---------------------------------------------------------------------------
class Store:
    """The cache of one topic under `.build/cache/<topic>/`."""

    def __init__(self, topic: str, root: Path | None = None):
        self.folder = Path(root or ROOT / ".build" / "cache") / topic

    def _ensure(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def result(self, name: str, key: str | None) -> dict | None:
        """{'digest': ..., 'numbers': [[key, tex], ...]} stored under `key`, or None."""
        path = self.folder / f"{name}.result.json"
        if key is None or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return entry if entry.get("key") == key else None

    def put_result(self, name: str, key: str | None, result_digest: str, numbers) -> None:
        if key is None:
            return
        self._ensure()
        entry = {"key": key, "digest": result_digest, "numbers": numbers}
        write_atomic(self.folder / f"{name}.result.json",
                     (json.dumps(entry, indent=1) + "\n").encode())

    def image(self, name: str, key: str | None, fmt: str) -> bytes | None:
        path = self.folder / f"{name}.{key}.{fmt}"
        if key is None or not path.is_file():
            return None
        return path.read_bytes()

    def put_image(self, name: str, key: str | None, fmt: str, data: bytes) -> None:
        if key is None:
            return
        self._ensure()
        for old in self.folder.glob(f"{name}.*.{fmt}"):  # one image per figure and format
            if old.name.count(".") == 2:
                old.unlink(missing_ok=True)
        write_atomic(self.folder / f"{name}.{key}.{fmt}", data)
