"""`make preview`: a LaTeX document with the study document's geometry that includes every topic's
figures.tex and numbers.tex, compiled with pdflatex into .build/preview/preview.pdf.

Each \\includegraphics reports the figure's natural width and the text width to the log
(PREVIEW-FIGURE lines), so the tests can check that every figure is placed at scale 1.0 and
fits. A page lists every figure by \\ref, so a missing label is an undefined reference.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".build" / "preview"
TEXINPUTS_HINT = ("install Debian's texlive-latex-base, texlive-latex-recommended and "
                  "texlive-fonts-recommended")

TITLES = {"fine_tuning": "Fine-tuning", "pretraining": "Pre-training", "qlora": "QLoRA",
          "lora": "LoRA", "grokking": "Grokking", "sparse_training": "Sparse training",
          "experiments": "Experiment dashboards"}

PREAMBLE = r"""\documentclass[a4paper,11pt]{article}
\usepackage[margin=0.8in]{geometry}
\usepackage{graphicx}
\usepackage{booktabs}
\usepackage[T1]{fontenc}
\graphicspath{{%(root)s/}}
%% Every figure is included at natural size; log its width against the text width.
\let\previewincludegraphics\includegraphics
\renewcommand{\includegraphics}[2][]{%%
  \sbox0{\previewincludegraphics[#1]{#2}}%%
  \typeout{PREVIEW-FIGURE #2 options=[#1] width=\the\wd0; textwidth=\the\textwidth}%%
  \usebox0}
%% In the preview, figures stay where they are written, in order, each kept on one page.
\makeatletter
\renewenvironment{figure}[1][]{\par\medskip\noindent\begin{minipage}{\textwidth}%%
  \def\@captype{figure}}{\end{minipage}\par\medskip}
\renewenvironment{table}[1][]{\par\medskip\noindent\begin{minipage}{\textwidth}%%
  \def\@captype{table}}{\end{minipage}\par\medskip}
\makeatother
%(numbers)s
\title{LLM Study Figures: preview}
\author{}
\date{}
\begin{document}
\maketitle
Every figure at its natural size, with the study document's geometry (A4, 11\,pt, margins
0.8\,in; \texttt{\textbackslash textwidth} = \the\textwidth).
"""


def document(topics: list[str]) -> str:
    numbers = "\n".join(rf"\input{{{ROOT.as_posix()}/images/{t}/numbers.tex}}" for t in topics)
    parts = [PREAMBLE % {"root": ROOT.as_posix(), "numbers": numbers}]
    for topic in topics:
        title = TITLES.get(topic, topic.replace("_", " ").capitalize())
        parts.append(rf"\clearpage\section{{{title}}}")
        parts.append(rf"\input{{{ROOT.as_posix()}/images/{topic}/figures.tex}}")
        if (ROOT / "images" / topic / "tables.tex").exists():  # figures that are tables
            parts.append(rf"\input{{{ROOT.as_posix()}/images/{topic}/tables.tex}}")
        names = _names(topic)
        parts.append(r"\par\medskip\noindent Figures of this section: " +
                     ", ".join(rf"\ref{{fig:{topic}:{n}}}" for n in names) + ".")
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"


def _names(topic: str) -> list[str]:
    text = (ROOT / "images" / topic / "figures.tex").read_text()
    return [line.split(f"fig:{topic}:")[1].rstrip("}") for line in text.splitlines()
            if r"\label{fig:" in line]


def build(topics: list[str], outdir: Path = OUT) -> Path:
    """Write preview.tex and run pdflatex twice (for the references); return the log path."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise FileNotFoundError(f"pdflatex not found; {TEXINPUTS_HINT}")
    outdir.mkdir(parents=True, exist_ok=True)
    tex = outdir / "preview.tex"
    tex.write_text(document(topics))
    for _ in range(2):
        subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error",
                        "-no-shell-escape", f"-output-directory={outdir}", str(tex)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, max_print_line="10000"))  # unwrapped log lines
    return outdir / "preview.log"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="+")
    args = parser.parse_args(argv)
    try:
        log = build(args.topics)
    except FileNotFoundError as error:
        print(f"preview.py: error: {error}", file=sys.stderr)
        return 2
    text = log.read_text(encoding="latin-1")
    errors = [line for line in text.splitlines() if line.startswith("!")]
    pdf = log.with_suffix(".pdf")
    if errors or not pdf.is_file():
        print(f"preview.py: error: LaTeX failed: {errors[0] if errors else 'no PDF'} "
              f"(see {log.relative_to(ROOT)})", file=sys.stderr)
        return 1
    figures = text.count("PREVIEW-FIGURE ")
    print(f"{pdf.relative_to(ROOT)}: {figures} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
