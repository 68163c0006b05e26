"""Numbers and tables as every report writes them: a fraction as a percentage, an estimate with its 95%
interval, Markdown pipe tables and LaTeX-escaped text.

One home, so that the eval CLI, the report scripts and the paper builder print the same number the same way;
each builds its tables from the numbers, never from another report's text.
"""

from pathlib import Path

MISSING = "--"

# LaTeX's special characters, for labels, paths and names written by users or other scripts.
TEX_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "%": r"\%", "#": r"\#",
               "_": r"\_", "^": r"\^{}", "~": r"\~{}", "\u2014": "--", "\u2212": "-"}


def percent(fraction):
    """'12.3' for 0.123 (one decimal, no sign); '--' for a missing value."""
    return MISSING if fraction is None else f"{100 * fraction:.1f}"


def interval(estimate, unit=""):
    """'12.3 [10.1, 14.5]' from {'mean', 'lo', 'hi'} fractions (as remedi.eval.stats computes them), with `unit`
    after the estimate ('%': '12.3% [10.1, 14.5]'); '--' for a missing estimate."""
    if estimate is None:
        return MISSING
    return f"{percent(estimate['mean'])}{unit} [{percent(estimate['lo'])}, {percent(estimate['hi'])}]"


def markdown_table(header, rows):
    """The lines of a pipe table: the header, its rule, one line per row (cells written with str)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def tex(text):
    """`text` with LaTeX's special characters escaped."""
    return "".join(TEX_ESCAPES.get(character, character) for character in str(text))


def tex_path(path):
    """A path for \\texttt, escaped, that may break after each '/' rather than run into the margin."""
    return tex(Path(path).as_posix()).replace("/", r"/\allowbreak{}")


def latex_row(cells):
    """One tabular row: the cells (already LaTeX) joined by ' & ', ended by '\\\\'."""
    return " & ".join(cells) + r" \\"
