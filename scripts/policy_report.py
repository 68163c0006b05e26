"""Compare one unmasking policy with every heuristic order, at each step budget, with paired intervals.

`python -m remedi.eval` scores every setting of its grid against LLaDA's sampler at the same block
length. The claim "the learned policy beats every heuristic order" needs more: each heuristic (random
and tps_prob, with and without remasking) at its *best* block length, and other policies (the SFT-only
UPS, a position-only control) evaluated in separate runs. This script reads the results.json files of
such runs, which must score the same problems in the same order, and writes one table per budget:

    python scripts/policy_report.py --policy runs/eval-rl:"RL policy" --policy-block 32 \\
        --runs runs/eval-heuristics runs/eval-sft:"SFT UPS" runs/eval-position:"position-only" \\
        --out runs/policy-report.md

Every row holds the accuracy with its bootstrap interval and the paired difference policy - row.
"""

import argparse
import json
from pathlib import Path

from remedi.cli import run_cli
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


def percent(ci):
    return f"{100 * ci['mean']:.1f} [{100 * ci['lo']:.1f}, {100 * ci['hi']:.1f}]"


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


def report_tables(policy_label, policy_block, runs, n_boot=2000, seed=0):
    rows = unique_rows(runs)
    indices = bootstrap_indices(runs[0][1]["n_problems"], n_boot, seed)
    lines, summary = [], []
    for steps in sorted({row["steps"] for row in rows}, reverse=True):
        policy = policy_row(rows, steps, policy_label, policy_block)
        if policy is None:
            continue
        others = sorted((r for r in rows if r["steps"] == steps and r is not policy),
                        key=lambda r: (r["kind"] != "heuristic", r["name"]))
        lines += [f"### {steps} steps", "", f"| setting | accuracy | {policy['name']} minus it |", "|---|---|---|",
                  f"| **{policy['name']}** | **{percent(accuracy_ci(policy['correct'], indices))}** | — |"]
        differences = []
        for row in others:
            diff = paired_difference_ci(policy["correct"], row["correct"], indices)
            if row["kind"] == "heuristic":
                differences.append((diff, row))
            lines.append(f"| {row['name']} | {percent(accuracy_ci(row['correct'], indices))} | {percent(diff)} |")
        lines.append("")
        if differences:
            best = max(differences, key=lambda d: sum(d[1]["correct"]))
            weakest = min(differences, key=lambda d: d[0]["lo"])
            summary.append(f"| {steps} | {percent(accuracy_ci(policy['correct'], indices))} | {best[1]['name']} "
                           f"{percent(accuracy_ci(best[1]['correct'], indices))} | {percent(best[0])} | "
                           f"{weakest[1]['name']}: {100 * weakest[0]['lo']:+.1f} |")
    head = ["| steps | policy | best heuristic | policy minus best | lowest lower bound over heuristics |",
            "|---|---|---|---|---|"]
    return "\n".join(head + summary + [""] + lines)


def latex_percent(ci):
    return f"{100 * ci['mean']:.1f} [{100 * ci['lo']:.1f}, {100 * ci['hi']:.1f}]"


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
            cells.append(latex_percent(accuracy_ci(row["correct"], indices)))
            same = policy is None or row is policy
            cells.append("" if same else latex_percent(paired_difference_ci(policy["correct"], row["correct"], indices)))
        lines.append(name.replace("_", "\\_") + " & " + " & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}}", "\\end{table}"]  # scaled to the text width (needs graphicx)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="DIR:label of the run holding the policy's ups + remask rows")
    parser.add_argument("--policy-block", type=int, required=True, help="block length the policy is reported at")
    parser.add_argument("--runs", nargs="*", default=[], help="more DIR or DIR:label results to compare with")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", default=None, help="also write the tables to this markdown file")
    parser.add_argument("--latex", default=None, help="also write one LaTeX table of every setting to this file")
    parser.add_argument("--latex-label", default="tab:policy", help="the LaTeX table's label")
    parser.add_argument("--latex-caption", default="", help="the LaTeX table's caption")
    args = parser.parse_args(argv)
    policy_run = load_run(args.policy)
    runs = [policy_run] + [load_run(spec) for spec in args.runs]
    text = report_tables(policy_run[0], args.policy_block, runs, args.n_boot)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.latex:
        Path(args.latex).write_text(latex_table(policy_run[0], args.policy_block, runs, args.n_boot,
                                                label=args.latex_label, caption=args.latex_caption) + "\n")


if __name__ == "__main__":
    run_cli(main)
