"""`make bench`: wall times of the figure build, printed (never asserted: this machine is shared).

1. Regenerating the fine-tuning topic, PNG + PDF, into a scratch folder (parallel, the default,
   and with --jobs 1), with each figure's own time from the progress lines.
2. A no-op `make figures` (everything up to date).
3. Recording the grokking chapter (issue 16): each group's time as recorded (the wall times the
   runs' config.json files hold); `--record` records every grokking run afresh into a scratch
   folder and times it against the 15-minute budget.
4. The test loop against a full render: `make test` (ruff, then pytest on both cores) against
   regenerating every topic as `make figures -B` does (issue 12: at most 1.5 times).
Times are the best of a few runs; compare them as ratios within one run.
5. Editing one figure: `make figures` after an edit to one drawing function against that
   figure's `--only` time, a no-op `make figures`, and the cost of keeping the cache.
6. Logs at scale (issue 14): a 1,000,000-row Lightning CSV log and a TensorBoard event file
   of 1,000,000 scalars, every dashboard of each drawn (process start to files), against
   reading the same file alone with pandas (or TensorBoard's EventAccumulator): wall and CPU
   time, peak memory, the share of it that the same dashboards of a 10,000-row log take, and
   for the CSV the floor: a bare pandas + matplotlib script writing three figures of the same
   sizes (bench/floor_dashboards.py).
`bench/bench.py --suite` runs only part 4, `--edit` only part 5, `--scale` only part 6,
`--record` only part 3 with every grokking run recorded afresh.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3


def timed(cmd, **kwargs) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, **kwargs)
    return time.perf_counter() - t0, done.stdout


def topic_run(jobs: int) -> tuple[float, dict[str, float]]:
    best, per_figure = float("inf"), {}
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as out:
            seconds, stdout = timed([sys.executable, "scripts/fine_tuning.py", "--outdir", out,
                                     "--jobs", str(jobs), "--no-cache"])
        if seconds < best:
            best = seconds
            per_figure = {m.group(1): float(m.group(2)) for m in
                          re.finditer(r"fine_tuning/(\w+)\s+([\d.]+) s", stdout)}
    return best, per_figure


def dashboard_versus_pandas(rows: int = 100_000) -> None:
    """Issue #8: a 100k-row run's dashboard against a plain pandas + matplotlib script."""
    import numpy as np

    from records import write_run

    rng = np.random.default_rng(0)
    steps = np.arange(rows)
    loss = 3 * np.exp(-steps / 20_000) + 1 + rng.normal(0, 0.02, rows)
    val = np.where(steps % 100 == 99, loss + 0.1, np.nan)
    with tempfile.TemporaryDirectory() as scratch:
        run = write_run(Path(scratch) / "huge", {"task": "causal language modelling"},
                        {"step": steps, "train_loss": loss, "val_loss": val,
                         "learning_rate": 3e-4 * np.minimum(1, steps / 2000),
                         "grad_norm": 1 + rng.random(rows),
                         "tokens_per_second": 2e4 + rng.normal(0, 500, rows)})
        ours = min(timed([sys.executable, "scripts/experiments.py", str(run), "--outdir",
                          str(Path(scratch) / "out"), "--only", "dashboard_huge",
                          "--format", "png", "--jobs", "1"])[0] for _ in range(REPEATS))
        plain = min(timed([sys.executable, "bench/pandas_dashboard.py",
                           str(run / "logs" / "metrics.csv"),
                           str(Path(scratch) / "plain.png")])[0] for _ in range(REPEATS))
    print(f"\n{rows:,}-row run, dashboard as 300-DPI PNG (process start to file):")
    print(f"  experiments.py (statistics on all rows, drawing downsampled) {ours:6.2f} s")
    print(f"  plain pandas + matplotlib, every row drawn                  {plain:6.2f} s"
          f"   (ours/plain = {ours / plain:.2f})")


@dataclass(frozen=True)
class Measured:
    """One process from start to exit: wall seconds, CPU seconds (user + system: what the
    process itself spent, less sensitive than the wall time to others' work on a shared
    machine) and peak resident memory (MiB)."""
    wall: float
    cpu: float
    peak: float


def measured(cmd) -> Measured:
    t0 = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - t0
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{cmd} failed: {process.stderr.read().decode()[-2000:]}")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def best(runs: list[Measured]) -> Measured:
    """The least wall time and the least CPU time of several runs, and the largest peak."""
    return Measured(min(m.wall for m in runs), min(m.cpu for m in runs),
                    max(m.peak for m in runs))


def write_big_csv(folder: Path, rows: int) -> Path:
    """A Lightning CSVLogger-style log: step and epoch columns, a training loss, learning rate
    and gradient norm every row, a validation loss every 1000th row."""
    import numpy as np
    import pandas

    rng = np.random.default_rng(0)
    steps = np.arange(rows)
    frame = pandas.DataFrame({
        "epoch": steps // 10_000,
        "lr-AdamW": 3e-4 * np.minimum(1, steps / 2000) * (1 - steps / rows) + 1e-6,
        "step": steps,
        "train_loss_step": 3 * np.exp(-steps / 200_000) + 1 + rng.normal(0, 0.02, rows),
        "grad_norm": 1 + rng.random(rows),
        "val_loss": np.where(steps % 1000 == 999, 2.5 * np.exp(-steps / 200_000) + 1.1,
                             np.nan)})
    folder.mkdir(parents=True)
    frame.to_csv(folder / "metrics.csv", index=False, na_rep="", float_format="%.6g")
    (folder / "hparams.yaml").write_text("learning_rate: 0.0003\nbatch_size: 32\n")
    return folder / "metrics.csv"


def write_big_event_file(folder: Path, scalars: int) -> Path:
    """An event file of `scalars` scalars (a loss every step, a validation loss every 1000th),
    written with TensorBoard's own writer."""
    script = (
        "import math, sys\n"
        "from tensorboard.compat.proto import event_pb2, summary_pb2\n"
        "from tensorboard.summary.writer.event_file_writer import EventFileWriter\n"
        "n = int(sys.argv[2]); writer = EventFileWriter(sys.argv[1], max_queue_size=100000)\n"
        "Value, Summary, Event = summary_pb2.Summary.Value, summary_pb2.Summary, "
        "event_pb2.Event\n"
        "for i in range(n):\n"
        "    values = [Value(tag='train/loss', simple_value=3 * math.exp(-i / 200000) + 1 + "
        "0.02 * math.sin(i))]\n"
        "    if i % 1000 == 999:\n"
        "        values.append(Value(tag='eval/loss', simple_value=2.5 * math.exp(-i / 200000)"
        " + 1.1))\n"
        "    writer.add_event(Event(step=i, wall_time=1.7e9 + 0.01 * i, "
        "summary=Summary(value=values)))\n"
        "writer.close()\n")
    folder.mkdir(parents=True)
    subprocess.run([sys.executable, "-c", script, str(folder), str(scalars * 1000 // 1001)],
                   check=True, cwd=ROOT)
    return next(folder.glob("events.out.tfevents.*"))


def logs_at_scale(rows: int = 1_000_000, repeats: int = 3) -> None:
    """Issue 14: a million logged rows draw their dashboards in at most 3 times the time of
    reading the file alone (pandas, or TensorBoard's own reader), in bounded memory. Each
    command runs `repeats` times, the commands of a case in turn (so a burst of load on the
    shared machine falls on both), and the best of each is compared."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        csv = write_big_csv(scratch / "lightning_logs" / "version_0", rows)
        events = write_big_event_file(scratch / "tb", rows)
        cases = [
            ("Lightning CSV", csv.parent, [sys.executable, "-c",
             f"import pandas; pandas.read_csv({str(csv)!r})"]),
            ("TensorBoard events", events.parent, [sys.executable, "-c",
             "from tensorboard.backend.event_processing import event_accumulator as ea; "
             f"a = ea.EventAccumulator({str(events.parent)!r}, size_guidance={{ea.SCALARS: 0}}); "
             "a.Reload(); a.Scalars('train/loss')"]),
        ]
        small = write_big_csv(scratch / "small" / "lightning_logs" / "version_0", 10_000)

        def dashboards(folder):
            return measured([sys.executable, "scripts/experiments.py", str(folder), "--outdir",
                             str(scratch / "out"), "--format", "png", "--jobs", "1",
                             "--no-cache"])

        print(f"\n{rows:,} logged values: every dashboard as 300-DPI PNG, process start to "
              f"files (--jobs 1), against reading the file alone (best of {repeats}; wall "
              "time, and CPU time in brackets):")
        floor_out = scratch / "floor"
        floor_out.mkdir()
        for name, folder, alone in cases:
            ours_runs, plain_runs, fixed_runs, floor_runs = [], [], [], []
            for _ in range(repeats):
                ours_runs.append(dashboards(folder))
                plain_runs.append(measured(alone))
                fixed_runs.append(dashboards(small.parent))
                if name == "Lightning CSV":
                    floor_runs.append(measured([sys.executable, "bench/floor_dashboards.py",
                                                str(csv), str(floor_out)]))
            ours, plain, fixed = best(ours_runs), best(plain_runs), best(fixed_runs)
            size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
            print(f"  {name} ({size:.0f} MB): dashboards {ours.wall:6.2f} s ({ours.cpu:.2f} s),"
                  f" {ours.peak:5.0f} MiB; reading alone {plain.wall:6.2f} s ({plain.cpu:.2f} s),"
                  f" {plain.peak:5.0f} MiB   (ours/alone = {ours.wall / plain.wall:.2f} "
                  f"({ours.cpu / plain.cpu:.2f}); target at most 3)")
            print(f"    of which the fixed cost of drawing (the same dashboards of a 10,000-row "
                  f"log: {fixed.wall:.2f} s ({fixed.cpu:.2f} s) = {fixed.wall / plain.wall:.2f} "
                  f"({fixed.cpu / plain.cpu:.2f}) x reading alone); beyond it "
                  f"{(ours.wall - fixed.wall) / plain.wall:.2f} "
                  f"({(ours.cpu - fixed.cpu) / plain.cpu:.2f}) x reading alone")
            if floor_runs:
                floor = best(floor_runs)
                print(f"    the floor: reading it with pandas and writing three bare matplotlib "
                      f"figures of the same sizes and panels (bench/floor_dashboards.py) "
                      f"{floor.wall:.2f} s ({floor.cpu:.2f} s) = {floor.wall / plain.wall:.2f} "
                      f"({floor.cpu / plain.cpu:.2f}) x reading alone; ours/floor = "
                      f"{ours.wall / floor.wall:.2f} ({ours.cpu / floor.cpu:.2f})")


def edit_one_figure() -> None:
    """Issue 18: `make figures` after an edit to one drawing function, against that figure's
    `--only` time; a no-op `make figures`; a full build with an empty cache against one that
    never uses it."""
    module = ROOT / "scripts" / "lora.py"
    original = module.read_text()
    anchor = "def rank_comparison(fig"
    start = original.index(anchor)
    body = original.index("\n", start) + 1
    subprocess.run(["make", "figures"], check=True, cwd=ROOT, capture_output=True)
    edits, onlys = [], []
    try:
        for i in range(REPEATS):
            module.write_text(original[:body] + f"    # an edit ({i})\n" + original[body:])
            edits.append(timed(["make", "figures"])[0])
            module.write_text(original)
            subprocess.run(["make", "figures"], check=True, cwd=ROOT, capture_output=True)
            with tempfile.TemporaryDirectory() as out:
                onlys.append(timed([sys.executable, "scripts/lora.py", "--only",
                                    "rank_comparison", "--no-cache", "--outdir", out])[0])
    finally:
        module.write_text(original)
    subprocess.run(["make", "figures"], check=True, cwd=ROOT, capture_output=True)
    noop = min(timed(["make", "figures"])[0] for _ in range(REPEATS))
    edit, only = min(edits), min(onlys)
    print("\nedit one drawing function (lora.rank_comparison), then `make figures`: "
          f"{edit:.2f} s")
    print(f"  python scripts/lora.py --only rank_comparison: {only:.2f} s"
          f"   (make/only = {edit / only:.2f}; target at most 1.5)")
    print(f"  no-op `make figures`: {noop:.3f} s (target under 0.2 s)")
    with tempfile.TemporaryDirectory() as out:
        cold, never = [], []
        for _ in range(REPEATS):
            shutil.rmtree(ROOT / ".build" / "cache" / "lora", ignore_errors=True)
            cold.append(timed([sys.executable, "scripts/lora.py", "--outdir", out])[0])
            never.append(timed([sys.executable, "scripts/lora.py", "--outdir", out,
                                "--no-cache"])[0])
    print(f"  lora topic, empty cache {min(cold):.2f} s against no cache {min(never):.2f} s"
          f"   (ratio {min(cold) / min(never):.2f}: what keeping the cache costs)")
    subprocess.run(["make", "figures"], check=True, cwd=ROOT, capture_output=True)


def suite_versus_full_render() -> None:
    """Issue 12: `make test` against `make figures -B` (every topic regenerated), in one run.
    The figure cache is cleared first, so every figure is drawn as it was before the cache."""
    shutil.rmtree(ROOT / ".build" / "cache", ignore_errors=True)
    render = timed(["make", "figures", "-B"])[0]
    suite = timed(["make", "test"])[0]
    print(f"\nmake figures -B (every topic regenerated):     {render:6.1f} s")
    print(f"make test (ruff + every test on {os.cpu_count()} cores):   {suite:6.1f} s"
          f"   (test/render = {suite / render:.2f}; target at most 1.5)")


#: Every recorder of the grokking chapter (issue 16: all of them within 15 minutes).
GROKKING_RECORDERS = ("grokking", "grokking_transformer", "grokking_progress", "simplicity_bias")
GROKKING_BUDGET_S = 15 * 60
GROUPS = {"main": "main configuration (seeds)", "wd": "weight-decay sweep",
          "frac": "training-fraction sweep", "lr": "learning-rate sweep",
          "batch": "batch-size sweep"}


def grokking_recordings(afresh: bool) -> None:
    """Issue 16: the grokking recordings per group, as recorded (each run's own time, from its
    config.json; the recorder runs two at a time); with `afresh`, every recorder run again into
    a scratch folder, timed from process start (the 15-minute budget)."""
    groups: dict[str, list[float]] = {}
    for recorder in GROKKING_RECORDERS:
        for config in sorted((ROOT / "data" / recorder).glob("*/config.json")):
            name = config.parent.name
            group = (GROUPS.get(re.sub(r"_s\d+$", "", name).split("_")[0], name)
                     if recorder == "grokking" else recorder.replace("_", " "))
            groups.setdefault(group, []).append(json.loads(config.read_text())["wall_time_s"])
    print("\ngrokking recordings as recorded (each run's own time, two run at a time):")
    for group, times in groups.items():
        print(f"  {group:30s} {len(times):3d} run(s) {sum(times):7.1f} s")
    print(f"  {'all':30s} {sum(map(len, groups.values())):3d} run(s) "
          f"{sum(map(sum, groups.values())):7.1f} s of compute")
    if not afresh:
        return
    total = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for recorder in GROKKING_RECORDERS:
            seconds, _ = timed([sys.executable, f"scripts/recorders/{recorder}.py", "--force",
                                "--data", str(Path(scratch) / recorder)])
            total += seconds
            print(f"  recorded afresh: {recorder:24s} {seconds:7.1f} s")
    print(f"  every grokking recording afresh: {total:.1f} s "
          f"(budget {GROKKING_BUDGET_S} s; ratio {total / GROKKING_BUDGET_S:.2f})")


def main() -> int:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    os.environ.update(env)
    if "--suite" in sys.argv[1:]:
        suite_versus_full_render()
        return 0
    if "--edit" in sys.argv[1:]:
        edit_one_figure()
        return 0
    if "--scale" in sys.argv[1:]:
        logs_at_scale()
        return 0
    if "--record" in sys.argv[1:]:
        grokking_recordings(afresh=True)
        return 0
    print(f"machine: {os.cpu_count()} CPUs; best of {REPEATS} runs each\n")
    parallel, per_figure = topic_run(os.cpu_count() or 1)
    serial, _ = topic_run(1)
    print("fine_tuning topic, 10 figures, PNG (300 DPI) + PDF, computation included:")
    print(f"  parallel (--jobs {os.cpu_count()}) {parallel:6.2f} s")
    print(f"  serial   (--jobs 1) {serial:6.2f} s   (parallel/serial = {parallel / serial:.2f})")
    print("  per figure (build + both formats, from the parallel run):")
    for name, seconds in sorted(per_figure.items(), key=lambda kv: -kv[1]):
        print(f"    {name:34s} {seconds:5.2f} s")
    subprocess.run(["make", "figures"], check=True, cwd=ROOT, capture_output=True)
    noop = min(timed(["make", "figures"])[0] for _ in range(REPEATS))
    print(f"\nno-op `make figures` (all up to date): {noop:.3f} s")
    grokking_recordings(afresh=False)
    dashboard_versus_pandas()
    logs_at_scale()
    edit_one_figure()
    suite_versus_full_render()
    print("\nFor scale (issue #2): a plain script rendering these ten figures as PNG only at "
          "12-14 in wide takes about 6 s on this machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
