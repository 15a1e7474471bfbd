"""The command line every topic module shares: `python scripts/<topic>.py [options]`."""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

from records import RunError

from . import cache, latex, save, style
from .registry import ROOT
from .sizes import DEFAULT_TEXTWIDTH, LengthError, textwidth_inches


class UsageError(Exception):
    """Bad input from the user: reported as one clear line, exit code 2, nothing written."""


def parse_args(registry, argv):
    parser = argparse.ArgumentParser(
        prog=f"{registry.topic}.py",
        description=f"Write the {registry.topic} figures (PNG 300 DPI + PDF) with figures.tex "
                    f"and numbers.tex into images/{registry.topic}/.")
    parser.add_argument("--list", action="store_true",
                        help="list figure names and captions, then exit")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build only these figures")
    parser.add_argument("--outdir", type=Path, default=registry.default_outdir,
                        help=f"output folder (default: images/{registry.topic})")
    parser.add_argument("--format", default=",".join(save.FORMATS),
                        help="comma-separated formats among png,pdf (default: png,pdf)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="figures drawn in parallel (default: one per CPU)")
    parser.add_argument("--no-cache", action="store_true",
                        help="draw every figure afresh, neither reading nor writing the cache "
                             "in .build/cache (make check does this)")
    parser.add_argument("--numbers", action="store_true",
                        help="write only numbers.tex, from the figures' results, drawing nothing")
    parser.add_argument("--textwidth", default=None, metavar="W",
                        help=f"the document's \\textwidth, e.g. 6.5in, 16cm, 165mm "
                             f"(default: {DEFAULT_TEXTWIDTH})")
    return parser.parse_args(argv)


def validate(registry, args):
    """Check every input before anything is drawn or written; raise UsageError."""
    names = args.only or registry.names
    unknown = [name for name in names if name not in registry.names]
    if unknown:
        raise UsageError(f"unknown figure name(s): {', '.join(unknown)}; "
                         f"known: {', '.join(registry.names)}")
    formats = [fmt.strip() for fmt in args.format.split(",") if fmt.strip()]
    bad = [fmt for fmt in formats if fmt not in save.FORMATS]
    if bad or not formats:
        raise UsageError(f"unknown format(s) {args.format!r}; choose from {','.join(save.FORMATS)}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    try:
        textwidth_in = textwidth_inches(args.textwidth)
    except LengthError as error:
        raise UsageError(str(error)) from None
    return list(dict.fromkeys(names)), formats, textwidth_in


def prepare_outdir(outdir: Path) -> Path:
    """Create the output folder and prove it writable, or raise UsageError."""
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=outdir):
            pass
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise UsageError(f"cannot write to output folder {outdir}: {reason}") from None
    return outdir


def run(registry, argv=None) -> None:
    args = parse_args(registry, argv)
    if args.list:
        for spec in registry.specs:
            print(f"{spec.name:32s} {spec.caption}")
        return
    names, formats, textwidth_in = validate(registry, args)
    outdir = prepare_outdir(args.outdir)

    numbers_path = outdir / "numbers.tex"
    blocks: dict = {}
    if set(names) != set(registry.names) and numbers_path.is_file():
        blocks.update(latex.parse_numbers_tex(numbers_path.read_text()))  # keep the others
    if args.numbers:
        blocks.update((name, registry.numbers(name)) for name in names)
        save.write_atomic(numbers_path,
                          latex.numbers_tex(registry.topic, registry.names, blocks,
                                           registry.namespace).encode())
        print(f"{registry.topic}: numbers of {len(names)} figure(s) -> {_shown(numbers_path)}")
        return

    start = time.perf_counter()
    jobs = min(args.jobs, len(names))
    use_cache = not args.no_cache
    tasks = [(name, textwidth_in, formats, use_cache) for name in names]
    rendered: dict[str, dict[str, bytes]] = {}
    global _REGISTRY
    _REGISTRY = registry  # forked workers inherit it: drawing functions are never pickled
    if use_cache:  # computed once here, inherited by every worker
        cache.environment()
        cache.data_digest()
    if jobs > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs) as pool:
            drawn = _collect(registry, pool.imap_unordered(_render, tasks), len(names), blocks,
                             rendered)
    else:
        drawn = _collect(registry, map(_render, tasks), len(names), blocks, rendered)

    # Every figure drew without error: only now is anything written (each file atomically).
    for name in names:
        for fmt, data in rendered[name].items():
            save.write_atomic(outdir / f"{name}.{fmt}", data)
    for file_name, text in registry.extra_files().items():
        save.write_atomic(outdir / file_name, text.encode())
    save.write_atomic(outdir / "figures.tex",
                      latex.figures_tex(registry.topic, registry.specs, registry.graphics_dir,
                                        registry.namespace).encode())
    save.write_atomic(numbers_path,
                      latex.numbers_tex(registry.topic, registry.names, blocks,
                                           registry.namespace).encode())
    if outdir.resolve() == registry.default_outdir.resolve():
        _write_gallery_list(registry)
    print(f"{registry.topic}: {len(names)} figure(s) in {time.perf_counter() - start:.2f} s "
          f"({drawn} rendered, {len(names) - drawn} reused) -> {_shown(outdir)}", flush=True)


_REGISTRY = None


def _write_gallery_list(registry) -> None:
    """The topic's figures for `tools/gallery.py --from-build`, so the gallery is remade without
    importing every topic."""
    folder = ROOT / ".build" / "gallery"
    folder.mkdir(parents=True, exist_ok=True)
    figures = [{"name": spec.name, "caption": spec.caption, "source": spec.source}
               for spec in registry.specs]
    save.write_atomic(folder / f"{registry.topic}.json",
                      (json.dumps({"figures": figures}, indent=1) + "\n").encode())


def _render(task):
    """One figure in every format, from the cache when nothing it depends on changed; runs in a
    worker. Returns (name, numbers, {format: bytes}, seconds, 'rendered' or 'reused')."""
    registry = _REGISTRY
    name, textwidth_in, formats, use_cache = task
    t0 = time.perf_counter()
    spec = registry[name]
    store = cache.Store(registry.topic) if use_cache else None
    numbers = registry.numbers(name)  # results are always computed: they are the data
    if store is not None:
        result_digest = None
        if spec.result is not None:
            try:
                result_digest = cache.digest(registry.result(name))
            except cache.Uncacheable:
                result_digest = None
        keys = {fmt: cache.image_key(spec, result_digest, textwidth_in, fmt) for fmt in formats}
        files = {fmt: store.image(name, keys[fmt], fmt) for fmt in formats}
        if all(data is not None for data in files.values()):
            return name, numbers, files, time.perf_counter() - t0, "reused"
    with style.applied():
        fig = registry.build(name, textwidth_in)
        files = {fmt: save.render(fig, fmt) for fmt in formats}
    if store is not None:
        for fmt, data in files.items():
            store.put_image(name, keys[fmt], fmt, data)
    return name, numbers, files, time.perf_counter() - t0, "rendered"


def _collect(registry, results, total: int, blocks: dict, rendered: dict) -> int:
    """One progress line per figure, with its time and whether it was drawn or reused; returns
    how many were drawn."""
    drawn = 0
    for index, (name, numbers, files, seconds, how) in enumerate(results, 1):
        blocks[name] = numbers
        rendered[name] = files
        print(f"[{index:2d}/{total}] {registry.topic}/{name}  {seconds:5.2f} s  {how}",
              flush=True)
        drawn += how == "rendered"
    return drawn


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def main(registry, argv=None) -> int:
    try:
        run(registry, argv)
    except (UsageError, RunError) as error:
        print(f"{registry.topic}.py: error: {error}", file=sys.stderr)
        return 2
    return 0
