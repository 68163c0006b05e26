"""What an unmasking order achieves on Sudoku beyond solved puzzles: right empty cells and complete units.

When a tiny model solves few puzzles whole, the solved share alone cannot separate two orders. This
script reads `python -m remedi.eval --answer-format sudoku` results (their completions) and the puzzles
they answered, and reports per setting: solved puzzles, the share of the puzzle's empty cells filled
with the reference solution's digit, and the share of the 27 rows, columns and boxes that hold 1..9
(0 for a grid that changes a given: the `sudoku_units` reward). Differences are paired bootstrap
intervals over puzzles against the baseline order (`--baseline`, default random order without
remasking) at the same number of steps.

    python scripts/sudoku_report.py --data data/sudoku50/test.jsonl \\
        --runs runs/sudoku-test-heuristics runs/sudoku-test-ups:"SFT UPS" --out runs/sudoku-report.md

Empty-cell accuracy compares with one reference solution; a puzzle with several solutions can have a
right grid that differs from it, so that column is a lower bound there (the solved column is not).
"""

import argparse
from pathlib import Path

from remedi.cli import run_cli
from remedi.eval.sudoku_orders import latex_table, read_jsonl, report_table, setting_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the jsonl the runs answered, in the same order")
    parser.add_argument("--runs", nargs="+", required=True,
                        help="eval output folders, DIR or DIR:label; DIR1+DIR2 joins the parts of one run (--skip)")
    parser.add_argument("--baseline", default="random", help="order to compare with, e.g. 'tps_margin' (default: random)")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    parser.add_argument("--latex", default=None, help="also write it as a LaTeX table to this file")
    parser.add_argument("--latex-label", default="tab:sudoku-orders", help="the LaTeX table's label")
    args = parser.parse_args(argv)
    puzzles = read_jsonl(args.data)
    rows = [row for spec in args.runs for row in setting_rows(spec, puzzles)]
    text = report_table(rows, args.baseline, args.n_boot)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.latex:
        Path(args.latex).write_text(latex_table(rows, args.baseline, args.n_boot, label=args.latex_label) + "\n")


if __name__ == "__main__":
    run_cli(main)
