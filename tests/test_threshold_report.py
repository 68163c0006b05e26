"""The validation rule that picks a threshold, and the test table (remedi/eval/threshold_choice.py, behind
scripts/threshold_report.py, whose command line runs here as a subprocess)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from remedi.eval import threshold_choice as threshold_report

ROOT = Path(__file__).resolve().parents[1]


def setting(source, remask, threshold, passes, correct):
    accuracy = sum(correct) / len(correct)
    name = f"{source}{'+remask' if remask else ''} threshold={threshold}"
    return {"name": name, "source": source, "remask": remask, "threshold": threshold, "steps": 32, "n": len(correct),
            "correct": correct, "forward_passes_per_answer": passes, "tokens_per_second": 100.0,
            "accuracy": {"mean": accuracy, "lo": accuracy - 0.01, "hi": accuracy + 0.01}}


def right(n_correct, n=1000):
    return [True] * n_correct + [False] * (n - n_correct)


def write_run(folder, settings):
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"settings": settings}))
    return str(folder)


VALIDATION = [
    setting("tps_prob", False, None, 32.0, right(960)),
    setting("tps_prob", False, 0.99, 8.0, right(960)),
    setting("tps_prob", False, 0.9, 4.0, right(956)),   # 0.4 points below: within 0.5, fewest passes
    setting("tps_prob", False, 0.7, 3.0, right(950)),   # 1 point below: out
    setting("ups", True, 0.9, 12.0, right(970)),        # better, but more than 32 / 3 passes: out
    setting("ups", True, 0.3, 9.0, right(940)),         # 2 points below: out
]


def test_the_cheapest_threshold_within_the_margin_and_the_pass_budget_is_chosen():
    chosen = threshold_report.choose_thresholds(VALIDATION, margin=0.5, max_pass_ratio=1 / 3)
    assert chosen["tps_prob"]["threshold"] == 0.9 and chosen["ups + remask"] is None
    wider = threshold_report.choose_thresholds(VALIDATION, margin=2.0, max_pass_ratio=1 / 3)
    assert wider["tps_prob"]["threshold"] == 0.7 and wider["ups + remask"]["threshold"] == 0.3


def test_report_marks_the_chosen_threshold_and_pairs_test_scores_with_the_baseline(tmp_path):
    test = [setting("tps_prob", False, None, 32.0, right(970)), setting("tps_prob", False, 0.9, 4.1, right(965)),
            setting("ups", True, 0.3, 9.5, right(950))]
    out, figure = tmp_path / "report.md", tmp_path / "curve.png"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "threshold_report.py"), "--val",
                             write_run(tmp_path / "val", VALIDATION), "--test", write_run(tmp_path / "test", test),
                             "--out", str(out), "--figure", str(figure)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| tps_prob | 0.9 |"))
    # 5 problems right only in the baseline, none the other way: the paired difference is exactly -0.5 points.
    assert "**yes**" in row and "| 95.6% [" in row and "| -0.5% [" in row and "| 0.128 |" in row
    assert "No threshold met the rule on validation for: ups + remask." in text
    assert figure.stat().st_size > 0


def test_runs_of_different_splits_are_refused(tmp_path):
    small = write_run(tmp_path / "small", [setting("tps_prob", False, None, 32.0, right(90, n=100))])
    with pytest.raises(ValueError, match="different numbers of problems"):
        threshold_report.load_settings([small, write_run(tmp_path / "big", VALIDATION)])


def test_smaller_fixed_budgets_are_listed_but_never_the_baseline_or_chosen(tmp_path):
    four_steps = dict(setting("tps_prob", False, None, 4.0, right(900)), steps=4, name="tps_prob steps=4")
    ups_four = dict(setting("ups", True, None, 4.0, right(980)), steps=4, name="ups+remask steps=4")
    runs = VALIDATION + [four_steps, ups_four]
    assert threshold_report.baseline_of(runs)["steps"] == 32
    assert threshold_report.choose_thresholds(runs, margin=0.5, max_pass_ratio=1 / 3)["ups + remask"] is None
    text, _, chosen = threshold_report.report(runs, runs, margin=0.5, max_pass_ratio=1 / 3)
    assert "| ups + remask | none, 4 steps |  |" in text and chosen == ["tps_prob threshold=0.9"]


def test_every_column_of_the_test_table_on_scores_whose_intervals_are_exact():
    """Test scores all right or all wrong make the paired intervals zero-wide, so each cell is known by hand:
    tps_prob at 0.9 is chosen on validation (within the margin, fewest passes), answers all 4 like the baseline
    (difference 0) in 8 of its 32 passes (0.250); ups + remask at 0.3 answers none (difference -100)."""
    val = [setting("tps_prob", False, None, 32.0, right(4, n=4)), setting("tps_prob", False, 0.9, 8.0, right(4, n=4)),
           setting("ups", True, 0.3, 6.0, right(0, n=4))]
    test = [setting("tps_prob", False, None, 32.0, right(4, n=4)), setting("tps_prob", False, 0.9, 8.0, right(4, n=4)),
            setting("ups", True, 0.3, 6.0, right(0, n=4))]
    text, _, chosen = threshold_report.report(val, test, margin=0.5, max_pass_ratio=1 / 3, n_boot=200)
    full, none = "100.0% [99.0, 101.0]", "0.0% [-1.0, 1.0]"  # the accuracies as the runs reported them
    assert chosen == ["tps_prob threshold=0.9"]
    assert text.splitlines()[5:8] == [
        f"| tps_prob | none, 32 steps |  | {full} | {full} | — | 32.00 | 1.000 | 100 |",
        f"| tps_prob | 0.9 | **yes** | {full} | {full} | 0.0% [0.0, 0.0] | 8.00 | 0.250 | 100 |",
        f"| ups + remask | 0.3 |  | {none} | {none} | -100.0% [-100.0, -100.0] | 6.00 | 0.188 | 100 |",
    ]
    assert text.splitlines()[0] == (f"Baseline: tps_prob without remask at 32 steps: validation {full}, test {full}, "
                                    "32.00 forward passes per answer.")
