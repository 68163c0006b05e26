"""One unmasking policy against every heuristic order, per step budget, with paired intervals: the numbers
behind scripts/policy_report.py and the paper's policy tables (paper/make_report.py builds its LaTeX from
`compare`'s numbers, which policy_report.py --json writes).
"""

import json
from pathlib import Path

from remedi.eval.report import interval, latex_row, markdown_table
from remedi.eval.stats import accuracy_ci, bootstrap_indices, paired_difference_ci


HEURISTICS = ("random", "tps_prob", "tps_margin", "tps_entropy")


def load_run(spec):
    """(label, results dict) from 'DIR' or 'DIR:label'; without a label, ups settings are called 'ups'."""
    path, _, label = spec.partition(":")
    with open(Path(path) / "results.json") as f:
        return label, json.load(f)


def rows_of(label, report):
    """One row per setting: what it is called in the table and its per-problem scores."""
    rows = []
    for s in report["settings"]:
        if s["source"] in HEURISTICS:
            name = f"{s['source']}{' + remask' if s['remask'] else ''}, block {s['block_length']}"
            kind = "heuristic"
        else:
            name = f"{label or s['source']}{' + remask' if s['remask'] else ''}, block {s['block_length']}"
            kind = "policy"
        rows.append({"name": name, "kind": kind, "steps": s["steps"], "source": s["source"], "remask": s["remask"],
                     "block": s["block_length"], "correct": s["correct"], "label": label})
    return rows


def same_problems(reports):
    keys = {(r["config"]["data"], r["n_problems"]) for r in reports}
    if len(keys) != 1:
        raise ValueError(f"the runs scored different problem sets: {sorted(keys)}; paired differences need the same")


def unique_rows(runs):
    """Every setting of the runs once: a heuristic evaluated in several runs (same backbone) keeps its first copy."""
    same_problems([report for _, report in runs])
    unique = {}
    for label, report in runs:
        for row in rows_of(label, report):
            key = (row["name"], row["steps"]) if row["kind"] == "heuristic" else (row["label"], row["name"], row["steps"])
            unique.setdefault(key, row)
    return list(unique.values())


def policy_row(rows, steps, policy_label, policy_block):
    """The policy's ups + remask row at this budget, or None where the policy was not run at it."""
    return next((r for r in rows if r["steps"] == steps and r["label"] == policy_label and r["source"] == "ups"
                 and r["remask"] and r["block"] == policy_block), None)


def compare(policy_label, policy_block, runs, n_boot=2000, seed=0):
    """Per step budget (largest first, budgets the policy ran at): {"steps", "policy": {"name", "accuracy"},
    "others": [{"name", "kind", "accuracy", "difference"}] (difference: policy minus the row, paired), and
    "best" / "weakest": the heuristic rows with the most right answers / the lowest lower bound of the
    difference (None without heuristics)}. Intervals are {mean, lo, hi, ...} fractions."""
    rows = unique_rows(runs)
    indices = bootstrap_indices(runs[0][1]["n_problems"], n_boot, seed)
    budgets = []
    for steps in sorted({row["steps"] for row in rows}, reverse=True):
        policy = policy_row(rows, steps, policy_label, policy_block)
        if policy is None:
            continue
        others = sorted((r for r in rows if r["steps"] == steps and r is not policy),
                        key=lambda r: (r["kind"] != "heuristic", r["name"]))
        scored = [{"name": r["name"], "kind": r["kind"], "n_correct": sum(r["correct"]),
                   "accuracy": accuracy_ci(r["correct"], indices),
                   "difference": paired_difference_ci(policy["correct"], r["correct"], indices)} for r in others]
        heuristics = [r for r in scored if r["kind"] == "heuristic"]
        budgets.append({"steps": steps, "policy": {"name": policy["name"],
                                                   "accuracy": accuracy_ci(policy["correct"], indices)},
                        "others": scored,
                        "best": max(heuristics, key=lambda r: r["n_correct"]) if heuristics else None,
                        "weakest": min(heuristics, key=lambda r: r["difference"]["lo"]) if heuristics else None})
    return budgets


def summary_cells(budget):
    """The summary table's row of one budget, as text: steps, policy, best heuristic, difference, weakest bound."""
    best, weakest = budget["best"], budget["weakest"]
    return [str(budget["steps"]), interval(budget["policy"]["accuracy"]), best["name"], interval(best["accuracy"]),
            interval(best["difference"]), f"{weakest['name']}: {100 * weakest['difference']['lo']:+.1f}"]


def report_tables(policy_label, policy_block, runs, n_boot=2000, seed=0):
    """Markdown: the summary (one row per budget), then one table per budget of every setting against the policy."""
    lines, summary = [], []
    for budget in compare(policy_label, policy_block, runs, n_boot, seed):
        policy = budget["policy"]
        rows = [[f"**{policy['name']}**", f"**{interval(policy['accuracy'])}**", "—"]]
        rows += [[r["name"], interval(r["accuracy"]), interval(r["difference"])] for r in budget["others"]]
        lines += [f"### {budget['steps']} steps", ""]
        lines += markdown_table(["setting", "accuracy", f"{policy['name']} minus it"], rows) + [""]
        if budget["best"] is not None:
            steps, accuracy, best, best_accuracy, difference, weakest = summary_cells(budget)
            summary.append([steps, accuracy, f"{best} {best_accuracy}", difference, weakest])
    head = markdown_table(["steps", "policy", "best heuristic", "policy minus best",
                           "lowest lower bound over heuristics"], summary)
    return "\n".join(head + [""] + lines)


def write_json(policy_label, policy_block, runs, path, n_boot=2000, seed=0):
    """`compare`'s numbers as JSON, what paper/make_report.py --policy-report builds its tables from."""
    data = {"policy": policy_label, "policy_block": policy_block, "n_problems": runs[0][1]["n_problems"],
            "budgets": compare(policy_label, policy_block, runs, n_boot, seed)}
    Path(path).write_text(json.dumps(data, indent=2) + "\n")


def latex_table(policy_label, policy_block, runs, n_boot=2000, seed=0, label="tab:policy", caption=""):
    """One LaTeX table: a row per setting, for each budget its accuracy and the policy minus it (paired)."""
    rows = unique_rows(runs)
    indices = bootstrap_indices(runs[0][1]["n_problems"], n_boot, seed)
    budgets = sorted({row["steps"] for row in rows}, reverse=True)
    names = sorted({row["name"] for row in rows}, key=lambda n: (not any(n.startswith(h) for h in HEURISTICS), n))
    by_key = {(row["name"], row["steps"]): row for row in rows}
    head = " & ".join(f"\\multicolumn{{2}}{{c}}{{{steps} steps}}" for steps in budgets)
    lines = ["\\begin{table}[!htbp]", "\\centering", "\\scriptsize", f"\\caption{{{caption}}}", f"\\label{{{label}}}",
             "\\resizebox{\\linewidth}{!}{%", "\\begin{tabular}{l" + "rr" * len(budgets) + "}", "\\toprule", f"setting & {head} \\\\",
             " & " + " & ".join(["accuracy & policy $-$ it"] * len(budgets)) + " \\\\", "\\midrule"]
    for name in names:
        cells = []
        for steps in budgets:
            row, policy = by_key.get((name, steps)), policy_row(rows, steps, policy_label, policy_block)
            if row is None:
                cells += ["", ""]
                continue
            cells.append(interval(accuracy_ci(row["correct"], indices)))
            same = policy is None or row is policy
            cells.append("" if same else interval(paired_difference_ci(policy["correct"], row["correct"], indices)))
        lines.append(latex_row([name.replace("_", "\\_"), *cells]))
    lines += ["\\bottomrule", "\\end{tabular}}", "\\end{table}"]  # scaled to the text width (needs graphicx)
    return "\n".join(lines)
