"""Sudoku grids as text: read a puzzle's givens, a completion's '####' grid, and check a grid.

A completion's grid is '#### ' then the 81 digits in reading order, either in one run or as nine rows
of nine separated by single spaces (what scripts/make_sudoku_data.py writes: its cells keep the
question's row stride).

Its own module, apart from the eval's graders, so the app can draw a puzzle without importing the
MATH grader's dependencies (math-verify and sympy, which the app would carry for nothing).
"""

import re

_SUDOKU_ENDING = re.compile(r"####\s*([1-9]{81}|(?:[1-9]{9} ){8}[1-9]{9})\Z")
_SUDOKU_ROW = re.compile(r"[1-9.0]{9}")


def extract_sudoku(text):
    """The 81 digits of a completion that ends in a '####' grid of digits 1-9, or None."""
    if text is None:
        return None
    found = _SUDOKU_ENDING.search(text.strip())
    return found.group(1).replace(" ", "") if found else None


def sudoku_givens(text):
    """81 ints (0 = empty) of the puzzle in `text`: its last 9 lines of 9 cells ('1'-'9', '.' or '0'),
    else a trailing '####' grid (a solution: every cell given); None when there is neither."""
    rows = [line.strip() for line in text.splitlines() if _SUDOKU_ROW.fullmatch(line.strip())]
    if len(rows) >= 9:
        return [int(ch) if ch.isdigit() else 0 for ch in "".join(rows[-9:])]
    digits = extract_sudoku(text)
    return None if digits is None else [int(ch) for ch in digits]


def _units(digits):
    """The 27 units of a grid (9 rows, 9 columns, 9 boxes), each a list of 9 ints."""
    grid = [[int(ch) for ch in digits[9 * r : 9 * r + 9]] for r in range(9)]
    units = grid + [list(column) for column in zip(*grid)]
    units += [[grid[r][c] for r in range(br, br + 3) for c in range(bc, bc + 3)] for br in (0, 3, 6) for bc in (0, 3, 6)]
    return units


def valid_sudoku(digits):
    """Whether 81 digits (reading order) fill every row, column and 3x3 box with 1..9."""
    return all(sorted(unit) == list(range(1, 10)) for unit in _units(digits))


def complete_unit_share(digits, givens):
    """Share of the 27 rows, columns and boxes that hold 1..9, or 0 when the grid is missing or changes a
    given: 1 exactly when `sudoku_solves`. A graded signal for Remask RL, where whole solutions are rare."""
    if digits is None or givens is None or any(g != 0 and int(d) != g for d, g in zip(digits, givens)):
        return 0.0
    return sum(sorted(unit) == list(range(1, 10)) for unit in _units(digits)) / 27


def sudoku_solves(digits, givens):
    """Whether a filled grid (81 digits or None) is valid and keeps every given (0 = empty) cell."""
    if digits is None or givens is None or not valid_sudoku(digits):
        return False
    return all(g == 0 or int(d) == g for d, g in zip(digits, givens))
