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
import importlib.util
import random
from pathlib import Path

from remedi.cli import positive_int, run_cli

_spec = importlib.util.spec_from_file_location("make_sudoku_data", Path(__file__).with_name("make_sudoku_data.py"))
make_sudoku_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_sudoku_data)


def peers(cell):
    """The 20 cells that share a row, column or box with `cell` (0..80)."""
    r, c = divmod(cell, 9)
    return [j for j in range(81) if j != cell and (j // 9 == r or j % 9 == c or (j // 27, j % 9 // 3) == (r // 3, c // 3))]


PEERS = [peers(cell) for cell in range(81)]


def candidates(grid, cell):
    return set(range(1, 10)) - {grid[j] for j in PEERS[cell]}


def solved_by_singles(puzzle):
    grid = list(puzzle)
    while True:
        singles = [(i, candidates(grid, i)) for i in range(81) if grid[i] == 0]
        singles = [(i, c) for i, c in singles if len(c) == 1]
        if not singles:
            return all(grid)
        for i, _ in singles:
            left = candidates(grid, i)
            if len(left) == 1:
                grid[i] = left.pop()


def random_fill_is_valid(puzzle, rng):
    grid = list(puzzle)
    for i in rng.sample([i for i in range(81) if grid[i] == 0], 81 - sum(v != 0 for v in grid)):
        left = sorted(candidates(grid, i))
        if not left:
            return False
        grid[i] = rng.choice(left)
    return True


def measure(givens, n_puzzles, seed=0):
    rng = random.Random(seed)
    solvable = single_cells = empty_cells = valid_fills = several = 0
    for _ in range(n_puzzles):
        puzzle, _ = make_sudoku_data.make_puzzle(rng, givens)
        empty = [i for i in range(81) if puzzle[i] == 0]
        empty_cells += len(empty)
        single_cells += sum(len(candidates(puzzle, i)) == 1 for i in empty)
        solvable += solved_by_singles(puzzle)
        valid_fills += random_fill_is_valid(puzzle, rng)
        several += make_sudoku_data.count_solutions(puzzle) > 1
    return {"singles-solvable": solvable / n_puzzles, "initial singles": single_cells / empty_cells,
            "random-order fill": valid_fills / n_puzzles, "several solutions": several / n_puzzles}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--givens", type=int, nargs="+", default=[40, 45, 50, 55])
    parser.add_argument("--puzzles", type=positive_int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not all(17 <= givens <= 81 for givens in args.givens):
        parser.error("--givens must lie in 17..81 (a 9x9 Sudoku needs at least 17 givens)")
    print("| givens | singles-solvable | initial singles | random-order fill | several solutions |")
    print("|---|---|---|---|---|")
    for givens in args.givens:
        m = measure(givens, args.puzzles, args.seed)
        print(f"| {givens} | " + " | ".join(f"{100 * v:.1f}%" for v in m.values()) + " |")


if __name__ == "__main__":
    run_cli(main)
