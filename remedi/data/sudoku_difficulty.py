"""How hard Sudoku puzzles with N givens are for a decoding order, measured with a solver before any training:
the measures scripts/sudoku_difficulty.py prints (its docstring defines each one)."""

import random

from remedi.data import sudoku_puzzles


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
        puzzle, _ = sudoku_puzzles.make_puzzle(rng, givens)
        empty = [i for i in range(81) if puzzle[i] == 0]
        empty_cells += len(empty)
        single_cells += sum(len(candidates(puzzle, i)) == 1 for i in empty)
        solvable += solved_by_singles(puzzle)
        valid_fills += random_fill_is_valid(puzzle, rng)
        several += sudoku_puzzles.count_solutions(puzzle) > 1
    return {"singles-solvable": solvable / n_puzzles, "initial singles": single_cells / empty_cells,
            "random-order fill": valid_fills / n_puzzles, "several solutions": several / n_puzzles}
