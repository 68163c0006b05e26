"""How hard Sudoku puzzles with N givens are for an order, measured with a solver before any training.

For each number of givens, on puzzles from make_sudoku_data.py's generator, it prints:
  - singles-solvable: the share solved by naked singles alone (fill every empty cell that has one
    candidate left, repeat): what a model that knows the rules can solve in a good order;
  - initial singles: the share of the empty cells that have one candidate at the start;
  - random-order fill: the share of puzzles for which filling the empty cells in a random order, each
    with a candidate drawn uniformly, ends in a valid grid (none left without a candidate): a rough
    picture of random-order decoding by a model that only knows the rules;
  - several solutions: the share of puzzles with more than one solution.

    python scripts/sudoku_difficulty.py --givens 40 45 50 55 --puzzles 200
"""

import argparse

from remedi.cli import positive_int, run_cli
from remedi.data.sudoku_difficulty import measure
from remedi.eval.report import markdown_table, percent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--givens", type=int, nargs="+", default=[40, 45, 50, 55])
    parser.add_argument("--puzzles", type=positive_int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not all(17 <= givens <= 81 for givens in args.givens):
        parser.error("--givens must lie in 17..81 (a 9x9 Sudoku needs at least 17 givens)")
    rows = [[givens, *(f"{percent(v)}%" for v in measure(givens, args.puzzles, args.seed).values())]
            for givens in args.givens]
    header = ["givens", "singles-solvable", "initial singles", "random-order fill", "several solutions"]
    print("\n".join(markdown_table(header, rows)))


if __name__ == "__main__":
    run_cli(main)
