"""9x9 Sudoku puzzles in GSM8K's schema, drawn from a seeded stream: the generator behind
scripts/make_sudoku_data.py (whose docstring describes the record layout and how a puzzle is made).

A library module so that the data script, the difficulty measures and the tests draw the same puzzles.
"""

from remedi.data.seeded_splits import seeded_splits

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

    def draw(rng, n, exclude):
        return draw_unique(rng, n, givens, unique, exclude, grids)

    return seeded_splits(draw, seed, n_train, n_val, n_test, fresh_seed)
