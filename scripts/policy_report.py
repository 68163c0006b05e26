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
from pathlib import Path

from remedi.cli import run_cli
from remedi.eval.policy_comparison import latex_table, load_run, report_tables, write_json


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="DIR:label of the run holding the policy's ups + remask rows")
    parser.add_argument("--policy-block", type=int, required=True, help="block length the policy is reported at")
    parser.add_argument("--runs", nargs="*", default=[], help="more DIR or DIR:label results to compare with")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--out", default=None, help="also write the tables to this markdown file")
    parser.add_argument("--json", default=None,
                        help="also write the numbers of the tables to this file (what paper/make_report.py "
                             "--policy-report reads)")
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
    if args.json:
        write_json(policy_run[0], args.policy_block, runs, args.json, args.n_boot)
    if args.latex:
        Path(args.latex).write_text(latex_table(policy_run[0], args.policy_block, runs, args.n_boot,
                                                label=args.latex_label, caption=args.latex_caption) + "\n")


if __name__ == "__main__":
    run_cli(main)
