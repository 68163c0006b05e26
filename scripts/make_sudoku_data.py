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
from pathlib import Path

from remedi.cli import run_cli
from remedi.data.sudoku_puzzles import make_splits


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
