"""What an unmasking order achieves on Sudoku beyond solved puzzles: right empty cells and complete units,
with paired intervals against a baseline order (scripts/sudoku_report.py's tables; its docstring defines
each column)."""

import json
from pathlib import Path

from remedi.data.sources import check_json_lines
from remedi.eval.report import interval, markdown_table
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


def _setting_key(setting):
    return setting["source"], setting["remask"], setting["steps"], setting.get("block_length")


def read_run_parts(paths):
    """(config of the first part, settings with the parts' completions joined) for one evaluation run in
    consecutive pieces (`remedi.eval --skip`), so 1000 puzzles can be scored as two runs of 500."""
    reports = []
    for path in paths:
        with open(Path(path) / "results.json") as f:
            reports.append(json.load(f))
    config = reports[0].get("config", {})
    settings = [dict(setting, completions=list(setting["completions"])) for setting in reports[0]["settings"]]
    next_problem = config.get("skip", 0) + len(settings[0]["completions"]) if settings else 0
    for path, report in zip(paths[1:], reports[1:]):
        skip = report.get("config", {}).get("skip", 0)
        if skip != next_problem:
            raise ValueError(f"{path} starts at problem {skip + 1}, not {next_problem + 1}: its parts must be "
                             "consecutive (--skip of one part = --skip + --limit of the part before)")
        if [_setting_key(s) for s in report["settings"]] != [_setting_key(s) for s in settings]:
            raise ValueError(f"{path} ran other settings than {paths[0]}; join only parts of the same evaluation")
        for joined, setting in zip(settings, report["settings"]):
            joined["completions"] += setting["completions"]
        next_problem = skip + len(report["settings"][0]["completions"])
    return config, settings


def setting_rows(spec, puzzles):
    """One row per setting of the eval run at 'DIR' or 'DIR:label' (parts joined as 'DIR1+DIR2'), with
    per-puzzle scores; a run made with --skip N is graded against the puzzles from N on."""
    paths, _, label = spec.partition(":")
    config, settings = read_run_parts(paths.split("+"))
    gen_length = config.get("gen_length")
    puzzles = puzzles[config.get("skip", 0):]
    rows = []
    for setting in settings:
        completions = setting["completions"]
        if len(completions) > len(puzzles):
            raise ValueError(f"{paths}: {len(completions)} completions but only {len(puzzles)} puzzles in the data")
        scores = [puzzle_scores(c, p["question"], p["answer"]) for c, p in zip(completions, puzzles)]
        block = setting.get("block_length")
        # LLaDA's semi-autoregressive blocks are another order: name them, or two rows would share one name
        blocks = f", blocks of {block}" if block and gen_length and block < gen_length else ""
        order = f"{label or setting['source']}{blocks}{' + remask' if setting['remask'] else ''}"
        rows.append({"order": order, "steps": setting["steps"], "scores": [list(column) for column in zip(*scores)]})
    return rows


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
            solved_diff, cell_diff, unit_diff = (interval(paired_difference_ci(ours, theirs, indices))
                                                 for ours, theirs in zip(row["scores"], baseline["scores"]))
        table.append([row["order"], str(row["steps"]), interval(accuracy_ci(solved, indices)), solved_diff,
                      interval(accuracy_ci(cells, indices)), cell_diff, interval(accuracy_ci(units, indices)), unit_diff])
    return len(indices[0]), table


def report_table(rows, baseline_order="random", n_boot=2000, seed=0):
    n, table = table_cells(rows, baseline_order, n_boot, seed)
    lines = [f"{n} puzzles; Δ: paired difference with {baseline_order} at the same steps, 95% bootstrap.",
             ""]
    lines += markdown_table(["order", "steps", "solved", "Δ", "empty cells right", "Δ", "complete units", "Δ"], table)
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
