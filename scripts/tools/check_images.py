"""`make check`: regenerate each topic into a temporary folder, compare it with images/<topic>/,
and explain every difference.

    python scripts/tools/check_images.py TOPIC [...] [--root DIR] [--report DIR]

For each committed file that differs from what the code produces it prints where and by how much:
for an image, the pixels changed, the largest change of a colour channel (0-255) and the box that
holds every change; for a PDF the same on its pages rendered at 150 DPI (with pdftoppm, when it is
installed); for numbers.tex and figures.tex the changed lines. Each changed figure gets one
picture, committed, code and difference (stacked for a figure wider than tall), at
<report>/<topic>/<name>.png, and <report>/summary.md lists every changed file (the workflow shows
it as the job summary). The report folder (default .build/check/) is emptied first, so it holds
exactly this run's changes.

Exit code 0 when everything matches byte for byte, 1 otherwise.
"""
from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
#: Resolution at which PDF pages are compared when the PNGs of a figure agree.
PDF_DPI = 150
#: The longest side, in pixels, of the panels of a comparison picture (larger ones are shrunk).
PANEL_SIZE = 2000
#: Height in pixels of the strip that names a panel, and its font size.
HEADER, HEADER_FONT = 40, 28
TEXT_LINES = 12
#: Changed pixels, by what changed: lighter in the code's image (ink removed), darker (ink
#: added), and about the same lightness in another colour.
LOST, GAINED, RECOLOURED = (214, 39, 40), (31, 119, 180), (230, 140, 0)
#: A pixel is ink when it is this far (0-255) from white; shapes are compared by their ink.
INK = 40


@dataclass(frozen=True)
class PixelChange:
    """How two renderings of a figure differ."""
    changed: int                    # pixels with any channel different
    total: int
    largest: int                    # largest absolute change of one channel, 0-255
    box: tuple[int, int, int, int] | None   # (left, top, right, bottom) of the changes, px
    size_old: tuple[int, int]
    size_new: tuple[int, int]
    reshaped: int = 0               # pixels that are ink in one image and not in the other

    def describe(self) -> str:
        if self.size_old != self.size_new:
            return (f"size changed from {self.size_old[0]}x{self.size_old[1]} to "
                    f"{self.size_new[0]}x{self.size_new[1]} px")
        if not self.changed:
            return "no pixel changed"
        left, top, right, bottom = self.box
        width, height = self.size_old
        text = (f"{self.changed:,} of {self.total:,} pixels changed "
                f"({100 * self.changed / self.total:.2g} %), largest channel change "
                f"{self.largest}/255, within x {left}-{right}, y {top}-{bottom} px "
                f"({100 * left / width:.0f}-{100 * right / width:.0f} % across, "
                f"{100 * top / height:.0f}-{100 * bottom / height:.0f} % down)")
        if self.reshaped <= 0.02 * self.changed:
            text += "; the same shapes in other colours or shades"
        return text


def rgb(image: Image.Image) -> np.ndarray:
    """An image as an (h, w, 3) uint8 array, transparency composited on white."""
    image = image.convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"))


def ink(image: np.ndarray) -> np.ndarray:
    return (255 - image.min(axis=2)) > INK


def compare_pixels(old: np.ndarray, new: np.ndarray) -> PixelChange:
    size_old, size_new = (old.shape[1], old.shape[0]), (new.shape[1], new.shape[0])
    if old.shape != new.shape:
        return PixelChange(0, old.shape[0] * old.shape[1], 255, None, size_old, size_new)
    delta = np.abs(old.astype(np.int16) - new.astype(np.int16)).max(axis=2)
    rows, cols = np.nonzero(delta)
    box = None
    if rows.size:
        box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    return PixelChange(int(rows.size), int(delta.size), int(delta.max(initial=0)), box,
                       size_old, size_new, int(np.count_nonzero(ink(old) != ink(new))))


def difference(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The committed image faded to grey, every changed pixel coloured by what changed (ink
    lost, ink gained, recoloured), and a box around the changes."""
    height, width = old.shape[:2]
    delta = np.abs(old.astype(np.int16) - new.astype(np.int16)).max(axis=2)
    faded = (255 - (255 - old.mean(axis=2, keepdims=True)) * 0.2).astype(np.uint8)
    picture = np.repeat(faded, 3, axis=2)
    lightness_old, lightness_new = old.mean(axis=2), new.mean(axis=2)
    changed = delta > 0
    for colour, where in ((RECOLOURED, changed),
                          (LOST, changed & (lightness_new > lightness_old + 24)),
                          (GAINED, changed & (lightness_old > lightness_new + 24))):
        strength = np.clip(0.4 + delta[where] / 255, 0, 1)[:, None]
        picture[where] = (strength * np.array(colour) + (1 - strength) * 255).astype(np.uint8)
    rows, cols = np.nonzero(changed)
    if rows.size:  # a box around the changes, so one changed pixel is found at a glance
        top, bottom = max(rows.min() - 4, 0), min(rows.max() + 4, height - 1)
        left, right = max(cols.min() - 4, 0), min(cols.max() + 4, width - 1)
        for edge in (np.s_[top:top + 2, left:right + 1], np.s_[bottom - 1:bottom + 1,
                     left:right + 1], np.s_[top:bottom + 1, left:left + 2],
                     np.s_[top:bottom + 1, right - 1:right + 1]):
            picture[edge] = (0, 0, 0)
    return picture


def side_by_side(old: np.ndarray, new: np.ndarray) -> Image.Image:
    """committed, code and difference, each under its name: stacked for a figure wider than
    tall (so each keeps the page's width), side by side otherwise."""
    height = max(old.shape[0], new.shape[0])
    width = max(old.shape[1], new.shape[1])

    def pad(a: np.ndarray) -> np.ndarray:
        canvas = np.full((height, width, 3), 255, np.uint8)
        canvas[:a.shape[0], :a.shape[1]] = a
        return canvas

    old, new = pad(old), pad(new)
    scale = min(1.0, PANEL_SIZE / max(width, height))
    size = (round(width * scale), round(height * scale))
    font = ImageFont.load_default(size=HEADER_FONT)
    panels = []
    for label, array in (("committed", old), ("code", new),
                         ("difference: blue = darker in code (ink added), red = lighter "
                          "(ink removed), orange = another colour", difference(old, new))):
        image = Image.fromarray(array)
        if scale < 1:
            image = image.resize(size, Image.LANCZOS)
        panel = Image.new("RGB", (size[0], size[1] + HEADER), "white")
        panel.paste(image, (0, HEADER))
        ImageDraw.Draw(panel).text((6, 5), label, fill=(0, 0, 0), font=font)
        panels.append(panel)
    stacked = width >= height
    gap = 16
    total = ((size[0], 3 * (size[1] + HEADER) + 2 * gap) if stacked
             else (3 * size[0] + 2 * gap, size[1] + HEADER))
    picture = Image.new("RGB", total, (200, 200, 200))
    for i, panel in enumerate(panels):
        offset = i * ((size[1] + HEADER + gap) if stacked else (size[0] + gap))
        picture.paste(panel, (0, offset) if stacked else (offset, 0))
    return picture


def pdf_pages(path: Path, workdir: Path) -> np.ndarray | None:
    """The first page of a PDF at PDF_DPI, or None without pdftoppm."""
    if shutil.which("pdftoppm") is None:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = workdir / path.stem
    subprocess.run(["pdftoppm", "-png", "-r", str(PDF_DPI), "-f", "1", "-l", "1",
                    "-singlefile", str(path), str(prefix)], check=True,
                   capture_output=True)
    with Image.open(f"{prefix}.png") as image:
        return rgb(image)


def text_change(old: Path, new: Path) -> str:
    lines = list(difflib.unified_diff(old.read_text().splitlines(), new.read_text().splitlines(),
                                      "committed", "code", n=0, lineterm=""))[2:]
    changed = [line for line in lines if not line.startswith("@@")]
    shown = "\n".join("      " + line for line in changed[:TEXT_LINES])
    more = f"\n      ... {len(changed) - TEXT_LINES} more" if len(changed) > TEXT_LINES else ""
    removed = sum(line.startswith("-") for line in changed)
    return (f"{removed} line(s) of the committed file replaced by {len(changed) - removed} "
            f"(- committed, + code):\n{shown}{more}")


def explain(topic: str, committed: Path, fresh: Path, report: Path) -> list[str]:
    """One line per differing file, with the side-by-side pictures written to `report`."""
    order = {".png": 0, ".pdf": 1}  # a figure's PNG first: its picture is the PNG's
    names = sorted({p.name for p in fresh.iterdir()} |
                   {p.name for p in committed.glob("*") if p.is_file()},
                   key=lambda name: (Path(name).stem, order.get(Path(name).suffix, 2), name))
    lines, pictured = [], set()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for name in names:
            old, new = committed / name, fresh / name
            where = f"images/{topic}/{name}"
            if not new.exists():
                lines.append(f"{where}: no longer produced by the code")
                continue
            if not old.exists():
                lines.append(f"{where}: produced by the code but not committed")
                continue
            if old.read_bytes() == new.read_bytes():
                continue
            stem, suffix = Path(name).stem, Path(name).suffix
            if suffix == ".png":
                with Image.open(old) as a, Image.open(new) as b:
                    before, after = rgb(a), rgb(b)
                change = compare_pixels(before, after)
                detail = change.describe()
                if change.changed or change.size_old != change.size_new:
                    side_by_side(before, after).save(report / topic / f"{stem}.png")
                    pictured.add(stem)
                else:
                    detail += " (the file's bytes differ: metadata or compression)"
            elif suffix == ".pdf":
                before, after = pdf_pages(old, scratch / "old"), pdf_pages(new, scratch / "new")
                if before is None:
                    detail = "the PDF differs (install poppler-utils to see where)"
                else:
                    change = compare_pixels(before, after)
                    detail = f"rendered at {PDF_DPI} DPI, {change.describe()}"
                    if not change.changed and change.size_old == change.size_new:
                        detail += " (the drawing's coordinates or fonts differ below that)"
                    elif stem not in pictured:
                        side_by_side(before, after).save(report / topic / f"{stem}.png")
                        pictured.add(stem)
            else:
                detail = text_change(old, new)
            lines.append(f"{where}: differs from what the code produces: {detail}")
    return lines


def stale_files(topic: str, root: Path = ROOT, report: Path | None = None) -> list[str]:
    """Regenerate `topic` and explain each file that differs from images/<topic>/."""
    report = report or root / ".build" / "check"
    (report / topic).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / topic
        script = root / "scripts" / f"{topic}.py"
        subprocess.run([sys.executable, str(script), "--outdir", str(fresh), "--no-cache"],
                       check=True, stdout=subprocess.DEVNULL)
        return explain(topic, root / "images" / topic, fresh, report)


def summary(problems: list[str], topics: list[str]) -> str:
    """The Markdown the workflow writes into the job summary."""
    if not problems:
        return f"All images of {', '.join(topics)} match the code.\n"
    rows = "\n".join(f"- `{line.split(': ', 1)[0]}`: {line.split(': ', 1)[1]}"
                     for line in problems)
    return (f"### {len(problems)} committed file(s) differ from what the code produces\n\n"
            f"{rows}\n\nA picture of each changed figure (committed, code, difference) is in "
            "`.build/check/<topic>/<name>.png`; in CI, in the `figure-changes` artifact.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_images.py", description=__doc__.split("\n")[0])
    parser.add_argument("topics", nargs="+")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder")
    parser.add_argument("--report", type=Path, help="where the pictures and summary.md go "
                        "(default: <root>/.build/check)")
    args = parser.parse_args(argv)
    report = args.report or args.root / ".build" / "check"
    shutil.rmtree(report, ignore_errors=True)
    report.mkdir(parents=True)
    problems = [line for topic in args.topics
                for line in stale_files(topic, args.root, report)]
    (report / "summary.md").write_text(summary(problems, args.topics))
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} stale file(s): run `make figures` and commit the images; "
              f"side-by-side pictures in {report}")
        return 1
    print(f"images of {', '.join(args.topics)} match the code.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
