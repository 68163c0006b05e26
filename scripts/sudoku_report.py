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
import json
from pathlib import Path

from remedi.cli import run_cli
from remedi.data.sources import check_json_lines
from remedi.eval.stats import accuracy_ci, bootstrap_indices, paired_difference_ci
from remedi.grading.sudoku import complete_unit_share, extract_sudoku, sudoku_givens, sudoku_solves


def read_jsonl(path):
    check_json_lines(path)
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def puzzle_scores(completion, question, answer):
    """(solved, right empty cells / empty cells, complete unit share) of one completion."""
    givens = sudoku_givens(question)
    digits = extract_sudoku(completion)
    reference = extract_sudoku(answer)
    empty = [i for i, given in enumerate(givens) if given == 0]
    right = 0 if digits is None else sum(digits[i] == reference[i] for i in empty)
    return float(sudoku_solves(digits, givens)), right / max(len(empty), 1), complete_unit_share(digits, givens)


def setting_rows(spec, puzzles):
    """One row per setting of the eval run at 'DIR' or 'DIR:label', with per-puzzle scores."""
    path, _, label = spec.partition(":")
    with open(Path(path) / "results.json") as f:
        report = json.load(f)
    rows = []
    for setting in report["settings"]:
        completions = setting["completions"]
        if len(completions) > len(puzzles):
            raise ValueError(f"{path}: {len(completions)} completions but only {len(puzzles)} puzzles in the data")
        scores = [puzzle_scores(c, p["question"], p["answer"]) for c, p in zip(completions, puzzles)]
        order = f"{label or setting['source']}{' + remask' if setting['remask'] else ''}"
        rows.append({"order": order, "steps": setting["steps"], "scores": [list(column) for column in zip(*scores)]})
    return rows


def percent(ci):
    return f"{100 * ci['mean']:.1f} [{100 * ci['lo']:.1f}, {100 * ci['hi']:.1f}]"


def table_cells(rows, baseline_order="random", n_boot=2000, seed=0):
    """(number of puzzles, one list of cell texts per row: order, steps, solved, Δ, cells, Δ, units, Δ)."""
    sizes = {len(row["scores"][0]) for row in rows}
    if len(sizes) != 1:
        raise ValueError(f"the runs answered different numbers of puzzles: {sorted(sizes)}")
    if not any(row["order"] == baseline_order for row in rows):
        raise ValueError(f"--baseline {baseline_order!r} is none of: {sorted({row['order'] for row in rows})}")
    baselines = {row["steps"]: row for row in rows if row["order"] == baseline_order}
    indices = bootstrap_indices(sizes.pop(), n_boot, seed)
    table = []
    for row in sorted(rows, key=lambda r: (-r["steps"], r["order"] != baseline_order, r["order"])):
        solved, cells, units = row["scores"]
        baseline = baselines.get(row["steps"])
        if baseline is None or baseline is row:
            solved_diff = cell_diff = unit_diff = "—"
        else:
            solved_diff, cell_diff, unit_diff = (percent(paired_difference_ci(ours, theirs, indices))
                                                 for ours, theirs in zip(row["scores"], baseline["scores"]))
        table.append([row["order"], str(row["steps"]), percent(accuracy_ci(solved, indices)), solved_diff,
                      percent(accuracy_ci(cells, indices)), cell_diff, percent(accuracy_ci(units, indices)), unit_diff])
    return len(indices[0]), table


def report_table(rows, baseline_order="random", n_boot=2000, seed=0):
    n, table = table_cells(rows, baseline_order, n_boot, seed)
    lines = [f"{n} puzzles; Δ: paired difference with {baseline_order} at the same steps, 95% bootstrap.",
             "", "| order | steps | solved | Δ | empty cells right | Δ | complete units | Δ |",
             "|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in table]
    return "\n".join(lines)


def latex_table(rows, baseline_order="random", n_boot=2000, seed=0, label="tab:sudoku-orders"):
    """The same table as a LaTeX float for the report, labelled `label`."""
    n, table = table_cells(rows, baseline_order, n_boot, seed)

    def tex(text):
        return text.replace("_", "\\_").replace("—", "--").replace("[", "{\\footnotesize[").replace("]", "]}")

    body = [" & ".join(tex(cell) for cell in cells) + " \\\\" for cells in table]
    return "\n".join([
        "\\begin{table}[!htbp]", "\\centering\\small",
        f"\\caption{{Sudoku, 50 givens, {n} test puzzles: solved (\\%), empty cells right (\\%) and complete rows, "
        f"columns and boxes (\\%), with paired 95\\% bootstrap differences against {tex(baseline_order)} order at "
        "the same number of steps.}", f"\\label{{{label}}}",
        "\\resizebox{\\linewidth}{!}{\\begin{tabular}{lrrrrrrr}", "\\toprule",
        "order & steps & solved & $\\Delta$ & empty cells right & $\\Delta$ & complete units & $\\Delta$ \\\\",
        "\\midrule",
        *body, "\\bottomrule", "\\end{tabular}}", "\\end{table}"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the jsonl the runs answered, in the same order")
    parser.add_argument("--runs", nargs="+", required=True, help="eval output folders, DIR or DIR:label")
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
