"""figkit: the shared toolkit of the study figures.

- `sizes`    text width parsing and figure sizes (fractions of \\textwidth)
- `style`    the study style (study.mplstyle over seaborn's "ticks"), applied per build
- `palette`  colour-blind-safe colours, line styles, markers
- `save`     the one save path: PNG 300 DPI + PDF Type 42, deterministic, atomic
- `numbers`  the numbers a result exports to numbers.tex (no matplotlib)
- `latex`    figures.tex and numbers.tex
- `registry` the per-topic registry binding each figure's result and drawing functions;
             `cli` its command line
- `annotate` panel titles, legends above the panels, annotation arrows
- `diagram`  boxes and arrows for schematic figures
- `checks`   layout and colour checks the tests apply to every figure
"""
__all__ = ["Registry"]


def __getattr__(name):
    # Imported on first use, so `figkit.numbers` can be used without loading matplotlib.
    if name == "Registry":
        from .registry import Registry

        return Registry
    raise AttributeError(f"module 'figkit' has no attribute {name!r}")
