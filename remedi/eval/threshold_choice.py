"""Choosing a confidence threshold per decoding rule on validation runs and reporting it on test runs: the rule
and the table behind scripts/threshold_report.py (its docstring states the rule)."""

import json
from pathlib import Path

from remedi.eval.report import interval
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


def report(val, test, margin, max_pass_ratio, n_boot=2000, seed=0):
    """(markdown text, test settings, names of the chosen test settings)."""
    chosen = choose_thresholds(val, margin, max_pass_ratio)
    val_by_key = {(rule(s), s["steps"], s.get("threshold")): s for s in val}
    base_val, base_test = baseline_of(val), baseline_of(test)
    indices = bootstrap_indices(base_test["n"], n_boot, seed)
    lines = [
        f"Baseline: tps_prob without remask at {base_test['steps']} steps: validation "
        f"{interval(base_val['accuracy'], '%')}, test {interval(base_test['accuracy'], '%')}, "
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
        difference = None if s is base_test else paired_difference_ci(s["correct"], base_test["correct"], indices)
        delta = "—" if difference is None else interval(difference, "%")
        validation = "—" if on_val is None else interval(on_val["accuracy"], "%")
        lines.append(
            f"| {key[0]} | {f'none, {key[1]} steps' if key[2] is None else f'{key[2]:g}'} "
            f"| {'**yes**' if is_chosen else ''} "
            f"| {validation} | {interval(s['accuracy'], '%')} | {delta} "
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
