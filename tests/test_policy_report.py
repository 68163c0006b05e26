"""The policy against every heuristic (remedi/eval/policy_comparison.py, behind scripts/policy_report.py), from
results.json files of separate runs."""

import json

import pytest

from remedi.eval import policy_comparison as policy_report


def write_run(directory, settings, data="test.jsonl"):
    directory.mkdir()
    report = {"config": {"data": data}, "n_problems": len(settings[0][4]),
              "settings": [dict(source=s, remask=r, steps=n, block_length=b, correct=c) for s, r, n, b, c in settings]}
    (directory / "results.json").write_text(json.dumps(report))
    return str(directory)


def test_differences_are_paired_and_the_best_heuristic_is_named(tmp_path):
    rl = write_run(tmp_path / "rl", [("ups", True, 4, 32, [1, 1, 1, 1]), ("random", False, 4, 32, [1, 0, 0, 0])])
    other = write_run(tmp_path / "blocks", [("tps_prob", True, 4, 8, [1, 1, 0, 0]), ("ups", True, 4, 32, [0, 0, 0, 1])])
    text = policy_report.report_tables("RL", 32, [policy_report.load_run(rl + ":RL"),
                                                  policy_report.load_run(other + ":SFT")], n_boot=200)
    summary = text.splitlines()[2]
    # best heuristic: tps_prob + remask at block 8 (2 of 4); the policy is 2 of 4 above it
    assert summary.startswith("| 4 | 100.0") and "tps_prob + remask, block 8 50.0" in summary
    assert "| 50.0 [" in summary
    assert "| random, block 32 | 25.0" in text and "| 75.0 [" in text  # 4/4 - 1/4
    assert "| SFT + remask, block 32 | 25.0" in text


def test_runs_on_different_problems_are_refused(tmp_path):
    a = write_run(tmp_path / "a", [("ups", True, 4, 32, [1, 0])])
    b = write_run(tmp_path / "b", [("random", False, 4, 32, [1, 0])], data="other.jsonl")
    with pytest.raises(ValueError, match="different problem sets"):
        policy_report.report_tables("", 32, [policy_report.load_run(a), policy_report.load_run(b)])


def test_latex_table_has_a_row_per_setting_and_paired_differences_only_where_the_policy_ran(tmp_path):
    rl = write_run(tmp_path / "rl", [("ups", True, 4, 32, [1, 1, 1, 1]), ("random", False, 4, 32, [1, 0, 0, 0])])
    full = write_run(tmp_path / "full", [("random", False, 32, 32, [1, 1, 0, 0])])
    table = policy_report.latex_table("RL", 32, [policy_report.load_run(rl + ":RL"), policy_report.load_run(full)],
                                      n_boot=200, label="tab:x", caption="c")
    rows = {line.split(" & ")[0]: line.removesuffix(" \\\\").split(" & ")[1:] for line in table.splitlines()
            if line.startswith(("random", "RL"))}
    # columns: 32 steps (accuracy, difference), then 4 steps (accuracy, difference)
    assert rows["random, block 32"][0].startswith("50.0") and rows["random, block 32"][1] == ""
    assert rows["random, block 32"][2].startswith("25.0") and rows["random, block 32"][3].startswith("75.0 [")
    assert rows["RL + remask, block 32"][:2] == ["", ""] and rows["RL + remask, block 32"][3] == ""
    assert "\\label{tab:x}" in table and table.count("\\\\") >= 4


def test_every_summary_column_on_scores_whose_intervals_are_exact(tmp_path):
    """Scores that are all right or all wrong give intervals of zero width, so every cell is known by hand.

    At 4 steps the policy answers 4 of 4; tps_prob + remask also 4 of 4 (difference 0 on every problem), random
    0 of 4 (difference 1 on every problem). The best heuristic is tps_prob + remask, and the lowest lower bound
    over heuristics is its +0.0, not random's +100.0.
    """
    run = write_run(tmp_path / "rl", [("ups", True, 4, 32, [1, 1, 1, 1]), ("random", False, 4, 32, [0, 0, 0, 0]),
                                      ("tps_prob", True, 4, 32, [1, 1, 1, 1])])
    text = policy_report.report_tables("RL", 32, [policy_report.load_run(run + ":RL")], n_boot=200)
    lines = text.splitlines()
    exact = "100.0 [100.0, 100.0]"
    assert lines[2] == (f"| 4 | {exact} | tps_prob + remask, block 32 {exact} | 0.0 [0.0, 0.0] | "
                        "tps_prob + remask, block 32: +0.0 |")
    assert f"| random, block 32 | 0.0 [0.0, 0.0] | {exact} |" in lines
    assert f"| tps_prob + remask, block 32 | {exact} | 0.0 [0.0, 0.0] |" in lines
