"""Sudoku: the puzzle generator (valid grids, givens, disjoint splits) and the `sudoku` answer format."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from remedi.data import sudoku_puzzles as sudoku
from remedi.data.sudoku_difficulty import measure
from remedi.grading import sudoku as grids, answers
from remedi.model.tokenizer import build_char_tokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_sudoku_data.py"

# A well-known puzzle and its unique solution, typed by hand (not produced by the code under test).
PUZZLE_ROWS = ["53..7....", "6..195...", ".98....6.", "8...6...3", "4..8.3..1", "7...2...6", ".6....28.",
               "...419..5", "....8..79"]
SOLUTION_ROWS = ["534678912", "672195348", "198342567", "859761423", "426853791", "713924856", "961537284",
                 "287419635", "345286179"]
QUESTION = "\n".join(["Sudoku:"] + PUZZLE_ROWS)
SOLUTION = "".join(SOLUTION_ROWS)
REFERENCE = "#### " + SOLUTION


def _cells(rows):
    return [int(ch) if ch.isdigit() else 0 for ch in "".join(rows)]


# ---- the answer format ------------------------------------------------------------------------------------

def test_the_solution_is_right_and_keeps_the_givens():
    assert answers.grade("#### " + SOLUTION, REFERENCE, "sudoku", QUESTION) == (SOLUTION, True)
    assert answers.grade("#### " + " ".join(SOLUTION_ROWS), REFERENCE, "sudoku", QUESTION) == (SOLUTION, True)
    assert answers.grade("  #### " + SOLUTION + "\n", REFERENCE, "sudoku", QUESTION)[1]


def test_a_broken_row_column_or_box_is_wrong():
    swapped_in_row = SOLUTION[:2] + SOLUTION[3] + SOLUTION[2] + SOLUTION[4:]  # row 1 still 1..9, columns 3, 4 not
    assert not grids.valid_sudoku(swapped_in_row)
    one_cell_changed = SOLUTION[:2] + ("5" if SOLUTION[2] != "5" else "6") + SOLUTION[3:]  # row 1 has a double
    assert not grids.valid_sudoku(one_cell_changed)
    latin_square = "".join(str((r + c) % 9 + 1) for r in range(9) for c in range(9))  # rows, columns fine; boxes not
    assert not grids.valid_sudoku(latin_square)
    rows_only = "123456789" * 9  # every row fine, every column a single digit
    assert not grids.valid_sudoku(rows_only)
    for grid in (swapped_in_row, one_cell_changed, latin_square, rows_only):
        assert answers.grade("#### " + grid, REFERENCE, "sudoku", QUESTION) == (grid, False)


def test_a_valid_grid_that_changes_a_given_is_wrong():
    relabelled = SOLUTION.translate(str.maketrans("12", "21"))  # still a valid Sudoku grid
    assert grids.valid_sudoku(relabelled)
    assert answers.grade("#### " + relabelled, REFERENCE, "sudoku", QUESTION) == (relabelled, False)


def test_any_valid_grid_consistent_with_the_givens_counts():
    # With no givens every valid grid solves the puzzle, the reference's or another one.
    empty_question = "\n".join(["Sudoku:"] + ["........."] * 9)
    relabelled = SOLUTION.translate(str.maketrans("12", "21"))
    assert answers.grade("#### " + relabelled, REFERENCE, "sudoku", empty_question)[1]
    # Without a question the reference's 81 digits are the givens: only the reference solution counts.
    assert answers.grade("#### " + SOLUTION, REFERENCE, "sudoku")[1]
    assert not answers.grade("#### " + relabelled, REFERENCE, "sudoku")[1]


@pytest.mark.parametrize("completion", [
    SOLUTION,                            # no '####'
    "#### " + SOLUTION + " done",        # words after the grid
    "#### " + SOLUTION[:80],             # a cell short
    "#### " + SOLUTION[:80] + "0",       # 0 is not a digit of a filled grid
    "#### " + "\n".join(SOLUTION_ROWS),  # rows on separate lines
    "#### " + "  ".join(SOLUTION_ROWS),  # two spaces between rows
    "#### " + " ".join(SOLUTION_ROWS[:8]) + SOLUTION_ROWS[8],  # a space missing
    "",
])
def test_malformed_completions_are_wrong(completion):
    assert answers.grade(completion, REFERENCE, "sudoku", QUESTION)[1] is False


def test_givens_are_read_from_dot_or_zero_rows_after_other_text():
    assert grids.sudoku_givens(QUESTION) == _cells(PUZZLE_ROWS)
    assert grids.sudoku_givens(QUESTION.replace(".", "0")) == _cells(PUZZLE_ROWS)
    assert grids.sudoku_givens("no grid here") is None


# ---- the exact solver and the generator ------------------------------------------------------------------

def test_solution_counts_on_hand_made_puzzles():
    assert sudoku.count_solutions(_cells(SOLUTION_ROWS)) == 1
    assert sudoku.count_solutions(_cells(PUZZLE_ROWS)) == 1
    # Rows 4-5, columns 6 and 9 of the solution hold 1 3 / 3 1 (same band, two stacks): emptied, the two
    # digits can swap in both rows, columns and boxes, so the grid has exactly two completions.
    swappable = _cells(SOLUTION_ROWS)
    assert [swappable[i] for i in (32, 35, 41, 44)] == [1, 3, 3, 1]
    for i in (32, 35, 41, 44):
        swappable[i] = 0
    assert sudoku.count_solutions(swappable, limit=5) == 2
    clash = _cells(PUZZLE_ROWS)
    clash[2] = 5  # a second 5 in row 1
    assert sudoku.count_solutions(clash) == 0
    assert sudoku.count_solutions([0] * 81, limit=3) == 3


SMALL = dict(n_train=60, n_val=10, n_test=20)


def test_same_seed_same_puzzles_and_other_seed_other_puzzles():
    assert sudoku.make_splits(seed=5, **SMALL) == sudoku.make_splits(seed=5, **SMALL)
    assert sudoku.make_splits(seed=6, **SMALL)["test"] != sudoku.make_splits(seed=5, **SMALL)["test"]


@pytest.mark.parametrize("givens, unique", [(40, False), (30, False), (81, False), (36, True)])
def test_every_record_is_a_valid_solution_of_its_puzzle_with_the_stated_givens(givens, unique):
    splits = sudoku.make_splits(seed=1, n_train=30, n_val=0, n_test=0, givens=givens, unique=unique)
    for row in splits["train"]:
        assert row["question"].startswith("Sudoku:\n")
        givens_cells = grids.sudoku_givens(row["question"])
        answer_rows = row["answer"].removeprefix("#### ").split(" ")
        solution = "".join(answer_rows)
        assert [len(r) for r in answer_rows] == [9] * 9 and grids.valid_sudoku(solution)
        assert sum(g != 0 for g in givens_cells) == givens
        assert answers.grade(row["answer"], row["answer"], "sudoku", row["question"]) == (solution, True)
        if unique:
            assert sudoku.count_solutions(givens_cells) == 1


def test_every_answer_cell_sits_at_one_fixed_distance_from_the_same_cell_of_the_puzzle():
    """The layout's point: cell (r, c) is as far from its question cell as every other cell is from its own."""
    row = sudoku.make_splits(seed=5, n_train=1, n_val=0, n_test=0, givens=81)["train"][0]
    text = row["question"] + "\n" + row["answer"]
    question_at = [text.index("\n") + 1 + 10 * r + c for r in range(9) for c in range(9)]
    answer_at = [text.index("#### ") + 5 + 10 * r + c for r in range(9) for c in range(9)]
    assert all(text[q] == text[a] for q, a in zip(question_at, answer_at))  # every cell given: same digits
    assert len({a - q for q, a in zip(question_at, answer_at)}) == 1


def _one_pattern_class(grid):
    """Whether a grid is a symmetry of the pattern grid: there, in every band, the nine three-cell runs of the
    rows inside the three boxes hold only three digit sets (or, for a transposed grid, the columns' runs do)."""
    def runs_repeat(rows):
        return all(len({frozenset(rows[r][c : c + 3]) for r in range(b, b + 3) for c in (0, 3, 6)}) == 3
                   for b in (0, 3, 6))
    return runs_repeat(grid) or runs_repeat([list(column) for column in zip(*grid)])


def test_pattern_grids_are_valid_symmetries_of_one_grid():
    assert grids.valid_sudoku("".join(str(v) for row in sudoku.pattern_grid() for v in row))
    rng = random.Random(0)
    solutions = [sudoku.random_solution(rng, "pattern") for _ in range(50)]
    assert len({str(g) for g in solutions}) == 50
    assert all(grids.valid_sudoku("".join(str(v) for row in g for v in row)) and _one_pattern_class(g) for g in solutions)


def test_backtracking_grids_are_valid_varied_and_mostly_outside_the_pattern_class():
    rng = random.Random(0)
    solutions = [sudoku.random_solution(rng) for _ in range(50)]
    assert len({str(g) for g in solutions}) == 50
    assert all(grids.valid_sudoku("".join(str(v) for row in g for v in row)) for g in solutions)
    assert sum(_one_pattern_class(g) for g in solutions) <= 5


def test_splits_are_disjoint_and_fresh_test_excludes_training_puzzles():
    splits = sudoku.make_splits(seed=2, fresh_seed=3, **SMALL)
    sets = {name: {r["question"] for r in records} for name, records in splits.items()}
    for name, records in splits.items():
        assert len(sets[name]) == len(records), f"duplicate puzzles in {name}"
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert not sets["test_fresh"] & (sets["train"] | sets["val"])
    assert sets["test_fresh"] != sets["test"]
    with pytest.raises(ValueError, match="differ"):
        sudoku.make_splits(seed=4, fresh_seed=4, **SMALL)


def run_script(*argv):
    """`python scripts/make_sudoku_data.py ARGV`: (exit status, stderr)."""
    result = subprocess.run([sys.executable, str(SCRIPT), *map(str, argv)], capture_output=True, text=True, timeout=300)
    return result.returncode, result.stderr


def test_cli_writes_gsm8k_schema_and_the_answer_fits_96_tokens(tmp_path):
    assert run_script("--out-dir", tmp_path, "--n-train", 20, "--n-val", 5, "--n-test", 5, "--fresh-seed", 9)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.jsonl", "test_fresh.jsonl", "train.jsonl", "val.jsonl"]
    tokenizer = build_char_tokenizer()
    for line in (tmp_path / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert set(row) == {"question", "answer"}
        assert len(tokenizer(row["answer"], add_special_tokens=False)["input_ids"]) + 1 <= 96  # + <|eot_id|>


@pytest.mark.parametrize("argv, message", [
    (["--givens", "16"], "--givens must lie in 17..81"),
    (["--fresh-seed", "0"], "--fresh-seed must differ"),
])
def test_cli_mistakes_are_one_error_line(argv, message):
    status, err = run_script(*argv)
    assert status == 2 and message in err


def test_the_opencompass_fixture_is_the_start_of_the_documented_fresh_test_set():
    # tests/fixtures/sudoku_test20.jsonl (opencompass/configs/eval_remedi_tiny_sudoku.py) holds the first 20 rows
    # of test_fresh.jsonl from `make_sudoku_data.py --givens 50 --n-train 200000 --fresh-seed 1234`: a stream of
    # its own (seed 1234), so it is checked without drawing the 200,000 training puzzles; the training and
    # validation puzzles it must avoid are excluded by the command, and none of these 20 needed it.
    fixture = Path(__file__).resolve().parent / "fixtures" / "sudoku_test20.jsonl"
    expected = [json.loads(line) for line in fixture.read_text().splitlines()]
    assert len(expected) == 20
    assert sudoku.draw_unique(random.Random(1234), 20, 50) == expected


def test_difficulty_probe_on_puzzles_whose_answer_is_forced():
    """One empty cell: its only candidate is forced, so every measure is at its extreme."""
    assert measure(80, 10) == {"singles-solvable": 1.0, "initial singles": 1.0, "random-order fill": 1.0,
                                          "several solutions": 0.0}
    empty = measure(17, 3)  # almost empty grids: few forced cells, random fills fail
    assert empty["initial singles"] < 0.2 and empty["several solutions"] == 1.0
