"""The figure cache (figkit.cache): exactly the figures that depend on an edit are drawn again,
and what is reused is byte for byte what an uncached build draws.

Each test edits a scratch copy of the toolkit and a small topic of three figures, then runs the
topic's command line as a process (the copy's modules shadow the installed ones because a
script's own folder comes first on the module path).
"""
from __future__ import annotations

import re
import shutil

import pytest

from conftest import run_process
from demo_project import NAMES, make_demo_project

#: One worker runs these tests, so the warm build is made once.
pytestmark = pytest.mark.xdist_group("cache")


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A copy of the toolkit, the record format and the text width, with the demo topic, built
    once: its cache holds every figure."""
    root = make_demo_project(tmp_path_factory.mktemp("warm"))
    assert drawn(build(root)) == set(NAMES)
    return root


@pytest.fixture
def scratch(warm, tmp_path):
    """A test's own copy of the warm build, to edit."""
    shutil.copytree(warm, tmp_path / "copy")
    return tmp_path / "copy"


def build(scratch, *args, outdir="images/demo"):
    """Run the demo topic; {figure: 'rendered' | 'reused'} from its progress lines."""
    done = run_process(scratch / "scripts" / "demo.py", "--jobs", "1", "--outdir",
                       scratch / outdir, *args)
    assert done.returncode == 0, done.stderr
    return dict(re.findall(r"demo/(\w+)\s+[\d.]+ s\s+(rendered|reused)", done.stdout))


def drawn(states: dict) -> set[str]:
    return {name for name, how in states.items() if how == "rendered"}


def assert_same_as_uncached(scratch, *args):
    """What the cached build left equals, byte for byte, a build that never saw the cache."""
    assert drawn(build(scratch, *args, "--no-cache", outdir="fresh")) == set(NAMES)
    for path in sorted((scratch / "fresh").iterdir()):
        assert path.read_bytes() == (scratch / "images" / "demo" / path.name).read_bytes(), \
            path.name
    shutil.rmtree(scratch / "fresh")


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_a_second_build_reuses_everything(scratch):
    assert drawn(build(scratch)) == set()
    assert_same_as_uncached(scratch)


@pytest.mark.parametrize("where,old,new,expected", [
    ("scripts/demo.py", "    ax.plot(series.x, series.y, color=BLUE)\n\n\n@FIGURES.figure("
     'caption="Second."', "    ax.plot(series.x, series.y, color=BLUE, lw=2)\n\n\n"
     '@FIGURES.figure(caption="Second."', {"first"}),                     # a drawing function
    ("scripts/demo.py", 'ax.set_xlabel("step")', 'ax.set_xlabel("training step")',
     {"second"}),                                                         # a helper of one
    ("scripts/figkit/annotate.py", 'ax.set_title(f"({letter}) {text}", loc="left")',
     'ax.set_title(f"[{letter}] {text}", loc="left")', {"third"}),        # a toolkit helper
    ("data/demo/second.csv", "\n", "\n0.5\n", {"second"}),                # a result's data
    ("scripts/figkit/study.mplstyle", "lines.linewidth:", "lines.linewidth: 2.0\n#",
     set(NAMES)),                                                         # the style sheet
    ("scripts/demo.py", 'caption="Third."', 'caption="The third."', {"third"}),  # a caption
    ("scripts/demo.py", "return 1.0", "return 2.0", {"fourth"}),       # a cached helper
    ("scripts/demo.py", "ax.grid(False)", "ax.grid(True)", {"fourth"}),  # a function in a table
    ("scripts/demo.py", "color=BLUE), ", 'color="k"), ', {"fourth"}),  # an argument a partial binds
], ids=["drawing function", "helper of one figure", "toolkit helper", "data of one result",
        "style sheet", "caption", "cached helper", "function in a table", "bound argument"])
def test_an_edit_redraws_exactly_what_depends_on_it(scratch, where, old, new, expected):
    edit(scratch / where, old, new)
    assert drawn(build(scratch)) == expected
    assert_same_as_uncached(scratch)


def test_another_text_width_redraws_everything(scratch):
    assert drawn(build(scratch, "--textwidth", "5in")) == set(NAMES)
    assert drawn(build(scratch, "--textwidth", "5in")) == set()
    assert_same_as_uncached(scratch, "--textwidth", "5in")


def test_the_check_never_reads_the_cache(monkeypatch):
    from tools import check_images

    seen = []

    def record(command, **kwargs):
        seen.append(command)
        raise RuntimeError("stop here")

    monkeypatch.setattr(check_images.subprocess, "run", record)
    with pytest.raises(RuntimeError, match="stop here"):
        check_images.stale_files("fine_tuning")
    assert "--no-cache" in seen[0]
