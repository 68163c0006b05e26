"""Accuracy split by the reference answer's worked lines (remedi/eval/by_length.py, scripts/accuracy_by_length.py)."""

import importlib.util
import json
from pathlib import Path

import pytest

from remedi.eval.by_length import accuracy_by_group, worked_lines

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "accuracy_by_length.py"


def test_worked_lines_are_the_lines_before_the_answer_line():
    assert worked_lines("b:17+2=19\nc:19-10=9\nd:9+7=16\n#### 16") == 3
    assert worked_lines("#### 4") == 0
    assert worked_lines("b:1+1=2\nc:2+1=3") == 2  # no answer line: every line is worked


def test_accuracy_is_split_by_group_with_each_groups_own_count():
    by_group = accuracy_by_group([1, 0, 1, 1, 0], [3, 3, 4, 4, 6], n_boot=50)
    assert list(by_group) == [3, 4, 6]
    assert [by_group[g]["mean"] for g in (3, 4, 6)] == [0.5, 1.0, 0.0]
    assert [by_group[g]["n"] for g in (3, 4, 6)] == [2, 2, 1]
    assert by_group[4]["lo"] == by_group[4]["hi"] == 1.0  # every resample of an all-right group is all right


def test_scores_and_problems_must_match_in_number():
    with pytest.raises(ValueError, match="3 scores for 2 problems"):
        accuracy_by_group([1, 0, 1], [3, 4])


def test_the_script_writes_one_row_per_setting(tmp_path):
    answers = ["b:1+1=2\n#### 2", "b:1+1=2\nc:2+1=3\n#### 3", "b:2+2=4\nc:4-1=3\n#### 3", "b:1-1=0\n#### 0"]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"question": "q", "answer": a}) + "\n" for a in answers))
    run = tmp_path / "run"
    run.mkdir()
    settings = [{"name": "ups+remask steps=5", "correct": [True, False, False, True]},
                {"name": "ups+remask steps=10", "correct": [True, True, False, True]}]
    (run / "results.json").write_text(json.dumps({"settings": settings}))
    out = tmp_path / "by_length.md"
    spec = importlib.util.spec_from_file_location("accuracy_by_length", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--data", str(data), "--runs", str(run), "--n-boot", "50", "--out", str(out)])
    lines = out.read_text().splitlines()
    assert lines[0] == "| setting | all | 1 lines (n=2) | 2 lines (n=2) |"
    assert lines[2].startswith("| ups+remask steps=5 | 50.0 | 100.0 [100.0, 100.0] | 0.0 [0.0, 0.0] |")
    assert lines[3].startswith("| ups+remask steps=10 | 75.0 | 100.0 [100.0, 100.0] | 50.0 [")
