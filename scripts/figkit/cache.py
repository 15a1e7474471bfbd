"""Reuse what did not change: a figure is drawn again only when something it depends on changed.

`.build/cache/<topic>/<name>.<key>.<fmt>` holds a figure's rendered bytes, keyed by a sha256 of
everything that decides them: the digest of its result (the values the result function returns,
computed afresh on every build: what a result reads is in its values), the code the drawing and
result functions reach (their helpers in the topic module and in the toolkit, the result's class
and its methods), the caption and size, the text width, the style sheet, the toolkit's build and
save path, and the pinned package versions.

What code a function reaches is read from its bytecode: every global name it (or a function
nested in it) uses, resolved in its module; project functions and classes are followed, their
source hashed; partials, cache wrappers and decorators are seen through (their arguments
hashed); functions and classes kept in tables are followed; project constants and callable
objects are hashed by value (a value without a stable digest makes the figure uncacheable: it
is always drawn); a project module used as `module.name` contributes the names used on it; a
module's top-level statements that act at import (a seed) count for each of its functions; a
function that imports inside its body brings in the imported module's source, and one that looks
names up dynamically (`getattr`, `globals`, `eval`, `exec`, `importlib`) the whole source of its
module and of the project modules it holds. Other libraries are covered by their pinned
versions. Nothing here imports matplotlib.
"""
from __future__ import annotations

import ast
import dataclasses
import dis
import functools
import hashlib
import importlib
import importlib.util
import inspect
import math
import platform
import re
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
BUILD_PATH = ("figkit/study.mplstyle", "figkit/style.py", "figkit/scales.py",
              "numerics/portable.py", "figkit/save.py", "figkit/registry.py",
              "figkit/sizes.py", "figkit/cache.py", "figkit/cli.py")
#: Distributions whose version decides the bytes of a figure (requirements.txt pins them).
PACKAGES = ("matplotlib", "numpy", "seaborn", "pillow", "fonttools", "pandas", "contourpy",
            "kiwisolver", "pyparsing", "cycler", "python-dateutil", "tzdata", "packaging")
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
        shown = value.relative_to(ROOT) if value.is_absolute() and value.is_relative_to(ROOT) \
            else value
        update(f"path:{shown.as_posix()};".encode())
        if value.is_file():  # what a drawing may read from it
            update(hashlib.sha256(value.read_bytes()).digest())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        update(f"dataclass:{type(value).__qualname__};".encode())
        for field in dataclasses.fields(value):
            update(field.name.encode())
            _feed(hasher, getattr(value, field.name), depth + 1)
    elif type(value).__name__ == "Numbers" and hasattr(value, "_items"):
        update(b"numbers;")
        _feed(hasher, value._items, depth + 1)  # figure text, LaTeX text and the value itself
    elif isinstance(value, (types.FunctionType, type, types.ModuleType)):
        # code: followed by code_closure where it matters; here its name stands for it
        update(f"{type(value).__name__}:{value.__module__}.{value.__qualname__};".encode()
               if not isinstance(value, types.ModuleType) else f"module:{value.__name__};"
               .encode())
    elif isinstance(value, (np.dtype, np.random.BitGenerator, np.random.Generator)):
        state = value.str if isinstance(value, np.dtype) else (
            value.bit_generator.state if isinstance(value, np.random.Generator) else value.state)
        update(f"numpy:{type(value).__qualname__};".encode())
        _feed(hasher, state, depth + 1)
    elif isinstance(value, re.Pattern):
        update(f"regex:{value.pattern!r}:{value.flags};".encode())
    elif isinstance(value, (types.BuiltinFunctionType, np.ufunc)):  # library code: its name
        update(f"builtin:{getattr(value, '__module__', '')}.{value.__name__};".encode())
    elif type(value).__module__.startswith("pandas"):
        import pandas as pd  # only when a result holds pandas objects

        update(f"pandas:{type(value).__qualname__};".encode())
        _feed(hasher, pd.util.hash_pandas_object(value, index=True).to_numpy(), depth + 1)
        _feed(hasher, [str(c) for c in getattr(value, "columns", [])], depth + 1)
    elif hasattr(value, "__dict__") or hasattr(value, "__slots__"):
        state = dict(vars(value)) if hasattr(value, "__dict__") else {}
        for slot in getattr(type(value), "__slots__", ()):
            if hasattr(value, slot):
                state[slot] = getattr(value, slot)
        update(f"object:{type(value).__module__}.{type(value).__qualname__};".encode())
        _feed(hasher, state, depth + 1)
    else:
        raise Uncacheable(f"no stable digest for {type(value).__qualname__}")


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


@cache
def _names(code: types.CodeType) -> frozenset[str]:
    """Every global or attribute name a code object and the code nested in it use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return frozenset(names)


@cache
def _module_source(module_name: str) -> str:
    module = sys.modules[module_name]
    return Path(inspect.getsourcefile(module)).read_text()


@cache
def _module_statements(module_name: str) -> str:
    """A module's top-level statements that run for their effect at import (a seed, an rcParams
    change...): they can change what any of its functions does."""
    tree = ast.parse(_module_source(module_name))
    effects = [node for node in tree.body
               if isinstance(node, (ast.Expr, ast.AugAssign, ast.If, ast.For, ast.While,
                                    ast.With, ast.Try))
               and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
               and not _registers(node)]
    return "\n".join(ast.unparse(node) for node in effects)


def _project_module(name: str):
    """The project module `name` (imported now if the function would import it later)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not Path(spec.origin).resolve().is_relative_to(
            SCRIPTS):
        return None
    return importlib.import_module(name)


def _registers(node) -> bool:
    """`FIGURES.add(...)`: registering a figure changes nothing another figure draws (the
    figure's own key holds its drawing, result and any arguments bound to them)."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr in {"add", "add_file"})


@cache
def _source(obj) -> str:
    return inspect.getsource(obj)


@cache
def _imported_modules(code: types.CodeType) -> frozenset[str]:
    """Modules a code object (or code nested in it) imports while it runs."""
    found = set()
    for instruction in dis.get_instructions(code):
        if instruction.opname == "IMPORT_NAME":
            found.add(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _imported_modules(const)
    return frozenset(found)


def _callable_parts(obj) -> list:
    """What a callable is made of: a partial's function and arguments, the function a cache or
    decorator wraps (and the wrapper itself), a callable instance's class."""
    if isinstance(obj, functools.partial):
        return [obj.func, *obj.args, *obj.keywords.values()]
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None:
        return [wrapped] + ([obj] if isinstance(obj, types.FunctionType) else [])
    if isinstance(obj, (types.FunctionType, type, types.ModuleType, types.BuiltinFunctionType,
                        types.MethodType)):
        return [obj.__func__] if isinstance(obj, types.MethodType) else [obj]
    if callable(obj):
        return [type(obj)]
    return [obj]


class _Walk:
    """The project code and values some roots reach (see `code_closure`)."""

    def __init__(self):
        self.parts: dict[str, str] = {}
        self.stack: list = []
        self.seen: set[int] = set()
        self.count = 0

    def add(self, owner: str, text: str) -> None:
        self.count += 1
        self.parts[f"{owner} #{self.count}"] = text

    def push(self, value, owner: str, depth: int = 0) -> None:
        """Follow project code; digest data by value (data without a stable digest raises
        Uncacheable: the figure is then always drawn afresh)."""
        if isinstance(value, types.ModuleType):
            if _in_project(value):
                self.parts[f"module {value.__name__}"] = _module_source(value.__name__)
            return
        if isinstance(value, (types.FunctionType, type)):
            if _in_project(value):  # code of other libraries: covered by their versions
                self.stack.append(value)
            return
        if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            return
        if isinstance(value, functools.partial):  # its function and the arguments it binds
            self.push(value.func, owner, depth + 1)
            for argument in (*value.args, *value.keywords.values()):
                self.push(argument, owner, depth + 1)
            return
        if isinstance(value, types.MethodType):
            self.push(value.__func__, owner, depth + 1)
            self.push(value.__self__, owner, depth + 1)
            return
        wrapped = getattr(value, "__wrapped__", None)
        if callable(value) and wrapped is not None:  # functools.cache and lru_cache wrappers
            self.push(wrapped, owner, depth + 1)
            return
        if callable(value):  # a callable object: its class's code and its state
            self.push(type(value), owner, depth + 1)
        self.add(owner, digest(value))
        if depth < 4:  # functions and classes kept in a table are code, not only data
            items = value.values() if isinstance(value, dict) else \
                value if isinstance(value, (list, tuple, set, frozenset)) else ()
            for item in items:
                if callable(item) or isinstance(item, (dict, list, tuple, set, frozenset)):
                    self.push(item, owner, depth + 1)

    def resolve(self, names: set[str], module_name: str, namespace: dict, owner: str) -> None:
        for name in sorted(names):
            if name not in namespace or name.startswith("__"):
                continue
            value = namespace[name]
            if isinstance(value, types.ModuleType):
                if _in_project(value):  # module.attribute: the names used on it here
                    self.resolve(names, value.__name__, vars(value), owner)
                continue
            self.push(value, f"{module_name}.{name}")

    def function(self, func: types.FunctionType) -> None:
        source = _source(func)  # labelled by content, not line: an edit above moves no key
        label = f"{func.__module__}.{func.__qualname__} " \
                f"{hashlib.sha256(source.encode()).hexdigest()[:12]}"
        self.parts[label] = source
        self.parts[f"module effects {func.__module__}"] = _module_statements(func.__module__)
        names = _names(func.__code__)
        if names & _DYNAMIC:  # looks names up at run time: its module and the project modules
            self.parts[f"module {func.__module__}"] = _module_source(func.__module__)
            for value in func.__globals__.values():  # it can reach count whole
                if isinstance(value, types.ModuleType) and _in_project(value):
                    self.parts[f"module {value.__name__}"] = _module_source(value.__name__)
        for module_name in _imported_modules(func.__code__):
            module = _project_module(module_name)
            if module is not None:
                self.parts[f"module {module_name}"] = _module_source(module_name)
                self.resolve(names, module_name, vars(module), label)
        if getattr(func, "__wrapped__", None) is not None:  # a decorator's wrapper: both count
            self.push(func.__wrapped__, label)
        for cell in func.__closure__ or ():
            self.push(cell.cell_contents, label)
        for default in (func.__defaults__ or ()) + tuple((func.__kwdefaults__ or {}).values()):
            self.push(default, label)
        self.resolve(names, func.__module__, func.__globals__, label)

    def cls(self, klass: type) -> None:
        label = f"{klass.__module__}.{klass.__qualname__}"
        self.parts[label] = _source(klass)
        module = sys.modules.get(klass.__module__)
        for base in klass.__mro__[1:]:
            if _in_project(base):
                self.stack.append(base)
        names: set[str] = set()
        for attribute, member in vars(klass).items():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                members = [m for m in (member.fget, member.fset, member.fdel) if m is not None]
            elif isinstance(member, functools.cached_property):
                members = [member.func]
            else:
                members = [member]
            for item in members:
                if isinstance(item, types.FunctionType):
                    if _in_project(item):
                        self.stack.append(item)
                        names |= _names(item.__code__)
                elif not attribute.startswith("__") and not callable(item):
                    self.push(item, f"{label}.{attribute}")
        for field in getattr(klass, "__dataclass_fields__", {}).values():
            if field.default is not dataclasses.MISSING:
                self.push(field.default, f"{label}.{field.name}")
        if module is not None:
            self.resolve(names, klass.__module__, vars(module), label)


@cache
def code_closure(*roots) -> tuple[str, ...]:
    """Sorted texts (sources, digests of constants) of the project code the `roots` reach, once
    per process (the code does not change while it runs). Raises Uncacheable when something
    reached cannot be told apart from a changed version of itself."""
    walk = _Walk()
    for root in roots:
        walk.push(root, "root")
    while walk.stack:
        obj = walk.stack.pop()
        if id(obj) in walk.seen or not _in_project(obj):  # generated code (dataclasses) has none
            continue
        walk.seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            walk.function(obj)
        elif isinstance(obj, type):
            walk.cls(obj)
    return tuple(f"{label}\n{text}" for label, text in sorted(walk.parts.items()))


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


def image_key(spec, result_digest: str | None, textwidth_in: float, fmt: str) -> str | None:
    """What decides a figure's bytes in format `fmt`; None when it cannot be told (the figure is
    then drawn afresh). `result_digest`: `digest` of the figure's result, None if it had none."""
    try:  # the result's code too: methods of its class may be called while drawing
        code = code_closure(spec.draw, *([spec.result] if spec.result is not None else []))
    except (OSError, TypeError, Uncacheable):
        return None
    inputs = result_digest if spec.result is not None else data_digest()  # it reads them itself
    if inputs is None:
        return None
    return _hash("image", spec.name, spec.caption, spec.width, spec.aspect, spec.height,
                 repr(float(textwidth_in)), fmt, inputs, *code, environment())


# ---- the store ---------------------------------------------------------------------------
class Store:
    """The cache of one topic under `.build/cache/<topic>/`."""

    def __init__(self, topic: str, root: Path | None = None):
        self.folder = Path(root or ROOT / ".build" / "cache") / topic

    def _ensure(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

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
