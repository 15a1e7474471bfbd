"""`make check`: regenerate each topic into a temporary folder and compare with images/<topic>/.

Exits 1 naming every committed file that differs from, is missing from, or is not produced by
the current code; 0 when everything matches byte for byte.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stale_files(topic: str) -> list[str]:
    committed = ROOT / "images" / topic
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / topic
        script = ROOT / "scripts" / f"{topic}.py"
        subprocess.run([sys.executable, str(script), "--outdir", str(fresh), "--no-cache"],
                       check=True, stdout=subprocess.DEVNULL)
        names = sorted({p.name for p in fresh.iterdir()} |
                       {p.name for p in committed.glob("*") if p.is_file()})
        problems = []
        for name in names:
            old, new = committed / name, fresh / name
            if not new.exists():
                problems.append(f"images/{topic}/{name}: no longer produced by the code")
            elif not old.exists():
                problems.append(f"images/{topic}/{name}: produced by the code but not committed")
            elif old.read_bytes() != new.read_bytes():
                problems.append(f"images/{topic}/{name}: differs from what the code produces")
        return problems


def main(topics: list[str]) -> int:
    problems = [line for topic in topics for line in stale_files(topic)]
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} stale file(s): run `make figures` and commit the images.")
        return 1
    print(f"images of {', '.join(topics)} match the code.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
