"""Accuracy of every setting of `python -m remedi.eval` runs, split by the number of worked lines in the
reference answer (the operations of a chain), with 95% bootstrap intervals.

    python scripts/accuracy_by_length.py --data data/chains19l/val.jsonl --runs runs/chains19l-val500-ups-s10-s5
"""

import argparse
import json
from pathlib import Path

from remedi.cli import run_cli
from remedi.eval.by_length import accuracy_by_group, worked_lines
from remedi.eval.report import interval, markdown_table
from remedi.eval.sudoku_orders import read_jsonl


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the jsonl the runs answered (its 'answer' column)")
    parser.add_argument("--runs", nargs="+", required=True, help="eval output folders (each with results.json)")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args(argv)
    rows_of_data = read_jsonl(args.data)
    if any("answer" not in row for row in rows_of_data):
        raise ValueError(f"{args.data}: every line needs an 'answer' (the reference answer with its worked lines)")
    answers = [row["answer"] for row in rows_of_data]
    rows, header = [], None
    for run in args.runs:
        path = Path(run) / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"no results.json in {run}: pass folders written by python -m remedi.eval --out")
        report = json.loads(path.read_text())
        for setting in report["settings"]:
            groups = [worked_lines(a) for a in answers[: len(setting["correct"])]]
            by_group = accuracy_by_group(setting["correct"], groups, args.n_boot)
            columns = ["setting", "all"] + [f"{g} lines (n={v['n']})" for g, v in by_group.items()]
            if header is not None and columns != header:
                raise ValueError(f"{run}: {setting['name']} answered other problems than the first run; "
                                 "pass runs over the same problems")
            header = columns
            rows.append([setting["name"], f"{100 * sum(setting['correct']) / len(setting['correct']):.1f}"]
                        + [interval(v) for v in by_group.values()])
    text = "\n".join(markdown_table(header, rows))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    run_cli(main)
