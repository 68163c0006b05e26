"""Generate 9x9 Sudoku puzzles in GSM8K's schema: train/val/test (and a fresh test) jsonl.

A record is the puzzle row by row ('.' for an empty cell) and its solution's rows after '####', one
space between rows:

    {"question": "Sudoku:\\n5.3..7...\\n...(9 rows)", "answer": "#### 513247869 627195348 ..."}

The answer is 94 characters, so a tiny model with a character tokenizer decodes it in one 96-token
window. Cell (r, c) is answer character 5 + 10 r + c: the same stride as the question's rows (9 cells and
a newline), so every cell of the answer sits at one fixed distance from the same cell of the puzzle, and a
model with relative positions (RoPE) learns to copy the givens with a single offset.
`python -m remedi.eval --answer-format sudoku` grades a completion against the question's givens: any
valid grid that keeps every given counts, not only the reference solution.

How a puzzle is made:
  - a solved grid: a randomized backtracking fill (reading order, each cell's allowed digits tried in
    random order), then the validity-preserving symmetries drawn at random: relabel the digits, shuffle
    the rows inside each band and the bands, the columns inside each stack and the stacks, transpose with
    probability 1/2. Every valid grid can be drawn (about 6.7e21 of them). `--grids pattern` starts from
    one pattern grid instead, cell(r, c) = (3 (r mod 3) + r div 3 + c) mod 9 + 1, so every grid is one of
    its about 1.2e12 symmetries (the data the first Sudoku backbone was trained on);
  - givens: `--givens N` cells (default 40) are kept, the others emptied. Without `--unique` the kept
    cells are a uniform random subset, and a puzzle may have several solutions (the grader accepts any);
    with `--unique` cells are emptied one at a time in random order, skipping any whose removal would
    allow a second solution (checked by a small exact solver), so every puzzle has exactly one solution.

Splits: puzzles are unique within and across train/val/test (drawn from one seeded stream), so no test
puzzle is trained on. `--fresh-seed S` also writes `test_fresh.jsonl` from an independent stream seeded
with S, excluding the train and val puzzles.

    python scripts/make_sudoku_data.py --out-dir data/sudoku --fresh-seed 1234
"""

import argparse
import json
import random
from pathlib import Path

from remedi.cli import run_cli

QUESTION_HEADER = "Sudoku:"


def pattern_grid():
    """A solved grid (list of 9 rows of ints 1..9): each row is the one above shifted by 3, each band by 1."""
    return [[(3 * (r % 3) + r // 3 + c) % 9 + 1 for c in range(9)] for r in range(9)]


def _shuffled_lines(rng):
    """A permutation of 0..8 that keeps the three groups of three (bands or stacks) together."""
    groups = rng.sample(range(3), 3)
    return [3 * g + i for g in groups for i in rng.sample(range(3), 3)]


def backtracking_fill(rng):
    """A solved grid (9 rows of ints 1..9) filled cell by cell in reading order, each cell trying the
    digits its row, column and box allow in random order and backing up at a dead end.

    Any valid grid can come out (unlike the symmetries of one pattern grid), so a model trained on these
    has to learn the rules rather than one grid's structure.
    """
    cells, rows, cols, boxes = [0] * 81, [0] * 9, [0] * 9, [0] * 9

    def place(i):
        if i == 81:
            return True
        r, c = divmod(i, 9)
        b = 3 * (r // 3) + c // 3
        used = rows[r] | cols[c] | boxes[b]
        digits = [v for v in range(1, 10) if not used >> v & 1]
        rng.shuffle(digits)
        for v in digits:
            bit = 1 << v
            cells[i] = v
            rows[r], cols[c], boxes[b] = rows[r] | bit, cols[c] | bit, boxes[b] | bit
            if place(i + 1):
                return True
            rows[r], cols[c], boxes[b] = rows[r] & ~bit, cols[c] & ~bit, boxes[b] & ~bit
        cells[i] = 0
        return False

    place(0)
    return [cells[9 * r : 9 * r + 9] for r in range(9)]


def random_solution(rng, grids="random"):
    """A solved grid: a random backtracking fill (grids='random') or the pattern grid (grids='pattern'),
    then random Sudoku symmetries on top (relabel the digits, shuffle rows inside bands and the bands,
    columns inside stacks and the stacks, transpose with probability 1/2). On a fill they undo its bias
    towards small digits early in reading order; on the pattern grid they are all the variety there is."""
    base = backtracking_fill(rng) if grids == "random" else pattern_grid()
    labels = rng.sample(range(1, 10), 9)
    rows, cols = _shuffled_lines(rng), _shuffled_lines(rng)
    grid = [[labels[base[r][c] - 1] for c in cols] for r in rows]
    if rng.random() < 0.5:
        grid = [list(column) for column in zip(*grid)]
    return grid


def count_solutions(cells, limit=2):
    """Number of ways (at most `limit`) to fill the zeros of `cells` (81 ints, 0 = empty) into a valid grid."""
    cells = list(cells)
    rows, cols, boxes = [0] * 9, [0] * 9, [0] * 9
    for i, v in enumerate(cells):
        if v:
            bit = 1 << v
            r, c = divmod(i, 9)
            if rows[r] & bit or cols[c] & bit or boxes[3 * (r // 3) + c // 3] & bit:
                return 0
            rows[r] |= bit
            cols[c] |= bit
            boxes[3 * (r // 3) + c // 3] |= bit
    empty = [i for i, v in enumerate(cells) if v == 0]

    def search(found):
        best, best_free = None, None
        for i in empty:
            if cells[i] == 0:
                r, c = divmod(i, 9)
                free = [v for v in range(1, 10) if not (rows[r] | cols[c] | boxes[3 * (r // 3) + c // 3]) & (1 << v)]
                if best is None or len(free) < len(best_free):
                    best, best_free = i, free
                    if len(free) <= 1:
                        break
        if best is None:
            return found + 1
        r, c = divmod(best, 9)
        b = 3 * (r // 3) + c // 3
        for v in best_free:
            bit = 1 << v
            cells[best] = v
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            found = search(found)
            cells[best] = 0
            rows[r] &= ~bit
            cols[c] &= ~bit
            boxes[b] &= ~bit
            if found >= limit:
                break
        return found

    return search(0)


def make_puzzle(rng, givens, unique=False, tries=50, grids="random"):
    """(puzzle, solution) as 81-int lists, the puzzle with 0 for empty cells and `givens` cells kept.

    With unique=True cells whose removal would admit a second solution stay given, so a grid can keep
    more than `givens` cells when no more can go; it is then redrawn, at most `tries` times.
    """
    for _ in range(tries):
        solution = [v for row in random_solution(rng, grids) for v in row]
        order = rng.sample(range(81), 81)
        if not unique:
            keep = set(order[:givens])
            return [v if i in keep else 0 for i, v in enumerate(solution)], solution
        puzzle = list(solution)
        remaining = 81
        for i in order:
            if remaining == givens:
                return puzzle, solution
            puzzle[i] = 0
            if count_solutions(puzzle) == 1:
                remaining -= 1
            else:
                puzzle[i] = solution[i]
        if remaining == givens:
            return puzzle, solution
    raise ValueError(f"no puzzle with a unique solution and {givens} givens in {tries} grids; ask for more givens")


def format_problem(puzzle, solution):
    """The GSM8K-schema record: the puzzle as 9 rows ('.' = empty), the answer '#### <row> ... <row>'."""
    rows = ["".join(str(v) if v else "." for v in puzzle[9 * r : 9 * r + 9]) for r in range(9)]
    solution_rows = ["".join(map(str, solution[9 * r : 9 * r + 9])) for r in range(9)]
    return {"question": "\n".join([QUESTION_HEADER] + rows), "answer": "#### " + " ".join(solution_rows)}


def draw_unique(rng, n, givens, unique=False, exclude=(), grids="random"):
    """n records with distinct puzzles, none of them in `exclude` (a set of question strings)."""
    seen, records = set(exclude), []
    while len(records) < n:
        record = format_problem(*make_puzzle(rng, givens, unique, grids=grids))
        if record["question"] not in seen:
            seen.add(record["question"])
            records.append(record)
    return records


def make_splits(seed=0, n_train=20_000, n_val=500, n_test=1_000, givens=40, unique=False, fresh_seed=None,
                grids="random"):
    """Dict split name -> list of records; 'test_fresh' is present when fresh_seed is given."""
    if not 17 <= givens <= 81:
        raise ValueError(f"givens={givens}: a 9x9 Sudoku keeps 17 to 81 given cells")
    records = draw_unique(random.Random(seed), n_train + n_val + n_test, givens, unique, grids=grids)
    splits = {
        "train": records[:n_train],
        "val": records[n_train : n_train + n_val],
        "test": records[n_train + n_val :],
    }
    if fresh_seed is not None:
        if fresh_seed == seed:
            raise ValueError("--fresh-seed must differ from --seed, or the fresh test set is not fresh")
        exclude = {r["question"] for r in splits["train"] + splits["val"]}
        splits["test_fresh"] = draw_unique(random.Random(fresh_seed), n_test, givens, unique, exclude, grids)
    return splits


def write_jsonl(records, path):
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="data/sudoku")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh-seed", type=int, default=None, help="also write test_fresh.jsonl from this seed")
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-val", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=1_000)
    parser.add_argument("--givens", type=int, default=40, help="filled cells per puzzle, 17..81 (default 40)")
    parser.add_argument("--unique", action="store_true", help="only puzzles with exactly one solution (slower)")
    parser.add_argument("--grids", choices=["random", "pattern"], default="random",
                        help="solved grids from randomized backtracking (any valid grid; default) or the symmetries "
                             "of one pattern grid (the data of the first Sudoku backbone)")
    args = parser.parse_args(argv)
    if not 17 <= args.givens <= 81:
        parser.error("--givens must lie in 17..81 (a 9x9 Sudoku needs at least 17 givens)")
    if args.fresh_seed is not None and args.fresh_seed == args.seed:
        parser.error("--fresh-seed must differ from --seed, or the fresh test set is not fresh")

    splits = make_splits(args.seed, args.n_train, args.n_val, args.n_test, args.givens, args.unique, args.fresh_seed,
                         args.grids)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, records in splits.items():
        path = out_dir / f"{name}.jsonl"
        write_jsonl(records, path)
        print(f"{path}: {len(records)} puzzles, {path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    run_cli(main)
