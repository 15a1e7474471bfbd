"""`make check` (scripts/tools/check_images.py) explains each difference: where and by how
much, with one side-by-side picture per changed figure, and a summary for the workflow."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_process
from demo_project import make_demo_project
from tools import check_images

CHECK = ROOT / "scripts" / "tools" / "check_images.py"
pytestmark = pytest.mark.xdist_group("check")


def test_one_changed_pixel_is_counted_measured_and_boxed():
    old = np.full((40, 60, 3), 255, np.uint8)
    new = old.copy()
    new[10, 20] = (255, 155, 255)
    change = check_images.compare_pixels(old, new)
    assert (change.changed, change.total, change.largest) == (1, 2400, 100)
    assert change.box == (20, 10, 21, 11)
    assert "1 of 2,400 pixels changed" in change.describe() and "100/255" in change.describe()
    assert check_images.compare_pixels(old, old).changed == 0


def test_a_size_change_is_reported_as_such():
    change = check_images.compare_pixels(np.zeros((4, 6, 3), np.uint8),
                                         np.zeros((5, 6, 3), np.uint8))
    assert change.describe() == "size changed from 6x4 to 6x5 px"


def test_the_picture_shows_committed_code_and_what_changed():
    old = np.full((50, 80, 3), 255, np.uint8)
    new = old.copy()
    new[20:25, 30:35] = 0            # ink only in the code's image
    old[5:10, 60:70] = 0             # ink only in the committed image
    picture = np.asarray(check_images.side_by_side(old, new))
    head, gap = check_images.HEADER, 16
    assert picture.shape == (3 * (head + 50) + 2 * gap, 80, 3)      # wider than tall: stacked
    panels = [picture[i * (head + 50 + gap) + head:][:50] for i in range(3)]
    assert np.array_equal(panels[0], old) and np.array_equal(panels[1], new)
    diff = panels[2].astype(int)

    def is_colour(region, colour):
        return np.all(np.abs(region - np.array(colour)).max(axis=-1) < 60)

    assert is_colour(diff[21:24, 31:34], check_images.GAINED)
    assert is_colour(diff[6:9, 61:69], check_images.LOST)
    assert diff[30:45, 5:25].min() > 200      # unchanged white stays white
    tall = check_images.side_by_side(old.transpose(1, 0, 2), new.transpose(1, 0, 2))
    assert tall.size == (3 * 50 + 2 * gap, 80 + head)                 # taller: side by side


def test_a_change_of_colour_alone_is_named():
    old = np.full((30, 30, 3), 255, np.uint8)
    old[10:20, 5:25] = (31, 119, 180)
    new = old.copy()
    new[10:20, 5:25] = (0, 0, 0)
    assert "the same shapes in other colours" in check_images.compare_pixels(old, new).describe()
    moved = np.full((30, 30, 3), 255, np.uint8)
    moved[12:22, 5:25] = (31, 119, 180)
    assert "the same shapes" not in check_images.compare_pixels(old, moved).describe()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The demo project with its images built and committed."""
    root = make_demo_project(tmp_path_factory.mktemp("check"))
    done = run_process(root / "scripts" / "demo.py", "--jobs", "1", "--no-cache")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def scratch(project, tmp_path):
    shutil.copytree(project, tmp_path / "copy")
    return tmp_path / "copy"


def check(root):
    return run_process(CHECK, "demo", "--root", root)


def test_matching_images_pass_and_leave_no_picture(scratch):
    done = check(scratch)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "match the code" in done.stdout
    report = scratch / ".build" / "check"
    assert sorted(p.name for p in report.rglob("*") if p.is_file()) == ["summary.md"]
    assert "match the code" in (report / "summary.md").read_text()


def test_a_change_to_one_figure_pictures_exactly_that_figure(scratch):
    (scratch / ".build" / "check" / "demo").mkdir(parents=True)
    (scratch / ".build" / "check" / "demo" / "left_over.png").write_bytes(b"old run")
    demo = scratch / "scripts" / "demo.py"
    text = demo.read_text()
    drawing = ("def second(fig, series):\n    ax = fig.subplots()\n"
               "    ax.plot(series.x, series.y, color=BLUE)")
    assert drawing in text
    demo.write_text(text.replace(drawing, drawing.replace("color=BLUE", 'color="black"')))
    done = check(scratch)
    assert done.returncode == 1
    stale = re.findall(r"^(images/\S+): differs", done.stdout, re.MULTILINE)
    assert stale == ["images/demo/second.png", "images/demo/second.pdf"], done.stdout
    png_line = next(line for line in done.stdout.splitlines() if "second.png" in line)
    changed, largest = re.search(r"([\d,]+) of [\d,]+ pixels changed .*largest channel change "
                                 r"(\d+)/255", png_line).groups()
    assert int(changed.replace(",", "")) > 50 and int(largest) > 100
    pdf_line = next(line for line in done.stdout.splitlines() if "second.pdf" in line)
    if shutil.which("pdftoppm"):  # CI installs it (.ci/run): the page is compared as pixels
        assert re.search(r"rendered at 150 DPI, [\d,]+ of [\d,]+ pixels changed", pdf_line)
    else:
        assert "install poppler-utils" in pdf_line
    report = scratch / ".build" / "check"
    pictures = sorted(p.relative_to(report).as_posix() for p in report.rglob("*.png"))
    assert pictures == ["demo/second.png"]
    with Image.open(scratch / "images" / "demo" / "second.png") as committed, \
            Image.open(report / "demo" / "second.png") as picture:
        assert picture.width == committed.width and picture.height > 3 * committed.height
    summary = (report / "summary.md").read_text()
    assert "`images/demo/second.png`" in summary and "`images/demo/second.pdf`" in summary
    assert "first" not in summary


def test_a_changed_number_shows_the_changed_line(scratch):
    data = scratch / "data" / "demo" / "third.csv"
    data.write_text(data.read_text() + "2.5\n")
    done = check(scratch)
    assert done.returncode == 1
    numbers = next(line for line in done.stdout.splitlines() if "numbers.tex" in line)
    assert "1 line(s) of the committed file replaced by 1" in numbers
    lines = done.stdout.replace(" ", "")
    assert "-\\newcommand{\\DemoThirdPeak}{0.99}" in lines
    assert "+\\newcommand{\\DemoThirdPeak}{2.50}" in lines


def test_a_missing_and_an_extra_file_are_named(scratch):
    (scratch / "images" / "demo" / "first.png").unlink()
    (scratch / "images" / "demo" / "old_figure.png").write_bytes(b"x")
    done = check(scratch)
    assert done.returncode == 1
    assert "images/demo/first.png: produced by the code but not committed" in done.stdout
    assert "images/demo/old_figure.png: no longer produced by the code" in done.stdout
