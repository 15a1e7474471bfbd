"""The preview document compiles with the study document's geometry, and every figure sits at
natural size within the text width. Needs pdflatex (Debian's texlive-latex-base,
texlive-latex-recommended and texlive-fonts-recommended; .ci/run installs them)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, topic_modules
from figkit.sizes import STUDY_TEXTWIDTH
from tools import preview

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex not found: apt-get install texlive-latex-base texlive-latex-recommended "
           "texlive-fonts-recommended")

FIGURE = re.compile(r"^PREVIEW-FIGURE (\S+) options=\[(.*?)\] width=([\d.]+)pt; "
                    r"textwidth=([\d.]+)pt$", re.MULTILINE)


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    topics = [m.FIGURES.topic for m in topic_modules()]
    return preview.build(topics, tmp_path_factory.mktemp("preview")).read_text("latin-1")


def test_compiles_without_errors_or_undefined_references(log):
    assert not [line for line in log.splitlines() if line.startswith("!")]
    assert "undefined" not in log.lower()
    assert "Overfull" not in log and "Underfull \\hbox" not in log


def test_every_figure_is_placed_at_natural_size_and_fits(log):
    placed = FIGURE.findall(log)
    registered = {f"images/{m.FIGURES.topic}/{name}" for m in topic_modules()
                  for name in m.FIGURES.names}
    assert {path for path, *_ in placed} == registered
    for path, options, width, textwidth in placed:
        assert options == "", f"{path} is scaled: [{options}]"
        assert float(width) <= float(textwidth) + 1e-3, f"{path}: {width}pt > {textwidth}pt"


def test_the_preview_has_the_study_documents_text_width(log):
    widths = {tw for *_, tw in FIGURE.findall(log)}
    assert widths == {STUDY_TEXTWIDTH.removesuffix("pt")}


def test_textwidth_is_measured_by_latex(tmp_path):
    """`make textwidth` measures with LaTeX: the study geometry and US letter with 1 in margins."""
    from tools import textwidth

    study = tmp_path / "study.tex"
    study.write_text("\\documentclass[a4paper,11pt]{article}\n\\usepackage[margin=0.8in]"
                     "{geometry}\n\\begin{document}\nText.\n\\end{document}\n")
    assert textwidth.measure(study) == STUDY_TEXTWIDTH
    letter = tmp_path / "sub" / "letter.tex"
    letter.parent.mkdir()
    (letter.parent / "preamble.tex").write_text("\\usepackage[margin=1in]{geometry}\n")
    letter.write_text("\\documentclass[letterpaper]{article}\n\\input{preamble}\n"
                      "\\begin{document}\nText.\n\\end{document}\n")
    assert textwidth.measure(letter) == "469.75502pt"  # 6.5 in


def test_textwidth_command_rejects_bad_documents(tmp_path):
    broken = tmp_path / "broken.tex"
    broken.write_text("\\documentclass{article}\n\\usepackage{no-such-package-here}\n"
                      "\\begin{document}\nx\n\\end{document}\n")
    before = (ROOT / "textwidth.txt").read_bytes()
    for doc in (broken, tmp_path / "missing.tex"):
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "tools" / "textwidth.py"),
                                 str(doc)], capture_output=True, text=True)
        assert result.returncode == 2 and "textwidth.py: error:" in result.stderr
    assert (ROOT / "textwidth.txt").read_bytes() == before
