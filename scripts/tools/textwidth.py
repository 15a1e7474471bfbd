"""`make textwidth DOC=path/to/main.tex`: measure a document's \\textwidth with LaTeX itself and
store it in textwidth.txt, the project's default, so the figures follow the real document.

The document is compiled only up to \\begin{document} (its preamble decides the text width), in a
scratch folder, with the document's own folder as the working directory so its \\input paths and
local packages resolve. Bad input (no such file, no pdflatex, a preamble that fails) gives one
line on stderr and exit code 2; textwidth.txt is then left as it was.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from figkit.save import write_atomic
from figkit.sizes import TEXTWIDTH_FILE, LengthError, textwidth_inches

MARK = "FIGKIT-TEXTWIDTH="
# Runs before the document: print \textwidth once the preamble is done, then stop.
HOOK = r"\AtBeginDocument{\typeout{" + MARK + r"\the\textwidth}\csname @@end\endcsname}"


class MeasureError(Exception):
    pass


def measure(document: Path, pdflatex: str = "pdflatex") -> str:
    """The \\textwidth of `document`, as LaTeX prints it (e.g. '481.89pt')."""
    document = Path(document).resolve()
    if not document.is_file():
        raise MeasureError(f"{document}: no such file")
    if shutil.which(pdflatex) is None:
        raise MeasureError("pdflatex not found; install Debian's texlive-latex-base, "
                           "texlive-latex-recommended and texlive-fonts-recommended")
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            [pdflatex, "-interaction=batchmode", "-halt-on-error", "-no-shell-escape",
             f"-output-directory={scratch}", "-jobname=textwidth",
             HOOK + r"\input{" + document.name + "}"],
            cwd=document.parent, capture_output=True, text=True, timeout=300)
        log = Path(scratch, "textwidth.log")
        text = log.read_text(encoding="latin-1") if log.is_file() else result.stdout
    found = re.search(re.escape(MARK) + r"([0-9.]+pt)", text)
    if not found:
        errors = [line for line in text.splitlines() if line.startswith("!")]
        reason = errors[0] if errors else "no \\begin{document} reached"
        raise MeasureError(f"{document}: LaTeX did not report a text width ({reason})")
    return found.group(1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("document", type=Path, help="the LaTeX document (its main .tex file)")
    parser.add_argument("--print-only", action="store_true",
                        help="print the width without storing it")
    args = parser.parse_args(argv)
    try:
        width = measure(args.document)
        textwidth_inches(width)  # the same range check as every figure command
    except (MeasureError, LengthError, subprocess.TimeoutExpired) as error:
        print(f"textwidth.py: error: {error}", file=sys.stderr)
        return 2
    if not args.print_only:
        write_atomic(TEXTWIDTH_FILE, (width + "\n").encode())
    print(f"{args.document}: \\textwidth = {width}" +
          ("" if args.print_only else f" -> {TEXTWIDTH_FILE.name}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
