"""figkit: the shared toolkit of the study figures.

- `sizes`    text width parsing and figure sizes (fractions of \\textwidth)
- `style`    the study style (study.mplstyle over seaborn's "ticks"), applied per build
- `palette`  colour-blind-safe colours, line styles, markers
- `save`     the one save path: PNG 300 DPI + PDF Type 42, deterministic, atomic
- `numbers`  annotated numbers exported to numbers.tex
- `latex`    figures.tex and numbers.tex
- `registry` the per-topic figure registry; `cli` its command line
- `annotate` panel titles, legends above the panels, annotation arrows
- `diagram`  boxes and arrows for schematic figures
- `checks`   layout and colour checks the tests apply to every figure
"""
from .registry import Registry

__all__ = ["Registry"]
