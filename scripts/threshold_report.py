"""Choose a confidence threshold per decoding rule on validation runs; report it on test runs.

    python scripts/threshold_report.py --val runs/threshold-val-tps runs/threshold-val-ups \\
        --test runs/threshold-test-tps runs/threshold-test-ups --out runs/threshold-report.md \\
        --figure docs/threshold_passes.png

The inputs are results.json files of `python -m remedi.eval --thresholds ...` over one split each
(several runs of a split are merged; they must score the same problems in the same order). The
baseline is LLaDA's sampler at the full step budget (tps_prob, no remask, no threshold) on the same
split. The rule, fixed before any test run is read: for each (source, remask), take the threshold with
the fewest forward passes per answer on validation among those whose validation accuracy is within
--margin points of the baseline's and whose passes are at most --max-pass-ratio of the baseline's.
--margin defaults to 0.5, half the 1 point the claim allows, as slack for the test split's noise.
The test table lists every threshold (the whole curve) with the chosen one marked, the paired 95%
interval of its difference to the baseline, and its passes as a fraction of the baseline's. Runs at
smaller fixed step budgets (no threshold) may be given too: they are listed and drawn, never chosen.
"""

import argparse
from pathlib import Path

from remedi.cli import run_cli
from remedi.eval.plots import passes_figure
from remedi.eval.threshold_choice import load_settings, report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", nargs="+", required=True, help="eval output folders of the validation split")
    parser.add_argument("--test", nargs="+", required=True, help="eval output folders of the test split")
    parser.add_argument("--margin", type=float, default=0.5, help="accuracy points below the baseline allowed")
    parser.add_argument("--max-pass-ratio", type=float, default=1 / 3, help="passes allowed, as a fraction")
    parser.add_argument("--out", required=True, help="markdown file for the table")
    parser.add_argument("--figure", default=None, help="PNG of test accuracy against passes, chosen points ringed")
    args = parser.parse_args(argv)
    text, test, chosen = report(load_settings(args.val), load_settings(args.test), args.margin, args.max_pass_ratio)
    Path(args.out).write_text(text)
    if args.figure:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        passes_figure(test, chosen=set(chosen)).savefig(args.figure, dpi=120)
    print(text)


if __name__ == "__main__":
    run_cli(main)
