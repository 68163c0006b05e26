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
import json
from pathlib import Path

from remedi.cli import run_cli
from remedi.eval.plots import passes_figure
from remedi.eval.runner import BASELINE
from remedi.eval.stats import bootstrap_indices, paired_difference_ci


def load_settings(directories):
    """Every setting of the given runs, checked to be over the same number of problems."""
    settings = []
    for directory in directories:
        with open(Path(directory) / "results.json") as f:
            settings += json.load(f)["settings"]
    if len({s["n"] for s in settings}) != 1:
        raise ValueError(f"runs {directories} score different numbers of problems; give runs of one split")
    return settings


def rule(setting):
    return setting["source"] + (" + remask" if setting["remask"] else "")


def baseline_of(settings):
    """LLaDA's sampler at the largest step budget among the runs, without a threshold."""
    fixed = [s for s in settings if (s["source"], s["remask"]) == BASELINE and s.get("threshold") is None]
    if not fixed:
        raise ValueError("no baseline run (tps_prob, no remask, --thresholds none) among the given runs")
    return max(fixed, key=lambda s: s["steps"])


def choose_thresholds(settings, margin, max_pass_ratio):
    """{rule: chosen setting or None}: the cheapest threshold within `margin` points of the baseline."""
    base = baseline_of(settings)
    floor = base["accuracy"]["mean"] - margin / 100
    budget = max_pass_ratio * base["forward_passes_per_answer"]
    chosen = {}
    for name in dict.fromkeys(rule(s) for s in settings if s.get("threshold") is not None):
        fits = [s for s in settings if rule(s) == name and s.get("threshold") is not None
                and s["accuracy"]["mean"] >= floor and s["forward_passes_per_answer"] <= budget]
        chosen[name] = min(fits, key=lambda s: s["forward_passes_per_answer"]) if fits else None
    return chosen


def _pct(interval):
    return f"{100 * interval['mean']:.1f}% [{100 * interval['lo']:.1f}, {100 * interval['hi']:.1f}]"


def report(val, test, margin, max_pass_ratio, n_boot=2000, seed=0):
    """(markdown text, test settings, names of the chosen test settings)."""
    chosen = choose_thresholds(val, margin, max_pass_ratio)
    val_by_key = {(rule(s), s["steps"], s.get("threshold")): s for s in val}
    base_val, base_test = baseline_of(val), baseline_of(test)
    indices = bootstrap_indices(base_test["n"], n_boot, seed)
    lines = [
        f"Baseline: tps_prob without remask at {base_test['steps']} steps: validation "
        f"{_pct(base_val['accuracy'])}, test {_pct(base_test['accuracy'])}, "
        f"{base_test['forward_passes_per_answer']:.2f} forward passes per answer.",
        f"Chosen on validation ({base_val['n']} problems): the fewest passes among thresholds within {margin:g} "
        f"points of the baseline's validation accuracy and at most {max_pass_ratio:.3g} of its passes.",
        "",
        f"| rule | threshold | chosen | validation accuracy | test accuracy ({base_test['n']}) | Δ vs baseline "
        "(paired 95%) | passes/answer | passes / baseline | tok/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    chosen_test = []
    for s in sorted(test, key=lambda s: (rule(s), -s["forward_passes_per_answer"])):
        key = (rule(s), s["steps"], s.get("threshold"))
        is_chosen = chosen.get(key[0]) is not None and chosen[key[0]]["threshold"] == key[2]
        if is_chosen:
            chosen_test.append(s["name"])
        on_val = val_by_key.get(key)
        delta = "—" if s is base_test else _pct(paired_difference_ci(s["correct"], base_test["correct"], indices))
        lines.append(
            f"| {key[0]} | {f'none, {key[1]} steps' if key[2] is None else f'{key[2]:g}'} "
            f"| {'**yes**' if is_chosen else ''} "
            f"| {'—' if on_val is None else _pct(on_val['accuracy'])} | {_pct(s['accuracy'])} | {delta} "
            f"| {s['forward_passes_per_answer']:.2f} "
            f"| {s['forward_passes_per_answer'] / base_test['forward_passes_per_answer']:.3f} "
            f"| {s['tokens_per_second']:.0f} |")
    missing = [name for name, s in chosen.items() if s is None]
    if missing:
        lines += ["", "No threshold met the rule on validation for: " + ", ".join(missing) + "."]
    unrun = [name for name, s in chosen.items() if s is not None and s["name"] not in {t["name"] for t in test}]
    if unrun:
        lines += ["", "Chosen but not run on test: " + ", ".join(unrun) + "."]
    return "\n".join(lines) + "\n", test, chosen_test


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
