"""Cell and unit scores of Sudoku completions (remedi/eval/sudoku_orders.py, behind scripts/sudoku_report.py),
checked on hand-made grids."""

import json

import pytest

from remedi.eval import sudoku_orders as report

ROWS = ["534678912", "672195348", "198342567", "859761423", "426853791", "713924856", "961537284", "287419635",
        "345286179"]
ANSWER = "#### " + " ".join(ROWS)
QUESTION = "\n".join(["Sudoku:"] + [row[:5] + "...." for row in ROWS])  # columns 6-9 empty: 36 empty cells
# Row 1's last two cells swapped: 34 of 36 empty cells right; columns 8 and 9 broken, 25 of 27 units whole.
SWAPPED = "#### " + " ".join([ROWS[0][:7] + ROWS[0][8] + ROWS[0][7]] + ROWS[1:])


def test_puzzle_scores_by_hand():
    assert report.puzzle_scores(ANSWER, QUESTION, ANSWER) == (1.0, 1.0, 1.0)
    assert report.puzzle_scores(SWAPPED, QUESTION, ANSWER) == (0.0, pytest.approx(34 / 36), pytest.approx(25 / 27))
    assert report.puzzle_scores("no grid at all", QUESTION, ANSWER) == (0.0, 0.0, 0.0)


def write_run(directory, settings):
    directory.mkdir()
    (directory / "results.json").write_text(json.dumps({"settings": [
        {"source": source, "remask": remask, "steps": steps, "completions": completions}
        for source, remask, steps, completions in settings]}))
    return str(directory)


def test_table_pairs_each_order_with_random_at_the_same_steps(tmp_path):
    data = tmp_path / "puzzles.jsonl"
    data.write_text("".join(json.dumps({"question": QUESTION, "answer": ANSWER}) + "\n" for _ in range(2)))
    heuristics = write_run(tmp_path / "heuristics", [("random", False, 8, [SWAPPED, "garbage"]),
                                                     ("tps_margin", False, 8, [ANSWER, SWAPPED])])
    policy = write_run(tmp_path / "policy", [("ups", True, 8, [ANSWER, ANSWER]), ("ups", True, 4, [SWAPPED, ANSWER])])
    rows = [row for spec in (heuristics, policy + ":RL") for row in report.setting_rows(spec, report.read_jsonl(data))]
    table = report.report_table(rows, "random", n_boot=200).splitlines()
    by_order = {(line.split(" | ")[0].lstrip("| "), line.split(" | ")[1]): line for line in table if line.startswith("| ")}
    # tps_margin: solved 1 of 2 (random 0 of 2: +50.0); cells (1 + 34/36) / 2 = 97.2%, random (34/36 + 0) / 2
    # = 47.2%: +50.0 exactly
    assert by_order[("tps_margin", "8")].split(" | ")[2].startswith("50.0")
    assert by_order[("tps_margin", "8")].split(" | ")[3].startswith("50.0")
    assert by_order[("tps_margin", "8")].split(" | ")[4].startswith("97.2")
    assert by_order[("tps_margin", "8")].split(" | ")[5].startswith("50.0")
    assert by_order[("RL + remask", "8")].split(" | ")[2].startswith("100.0")
    assert by_order[("RL + remask", "8")].split(" | ")[3].startswith("100.0")
    assert by_order[("RL + remask", "4")].split(" | ")[3] == by_order[("RL + remask", "4")].split(" | ")[5] == "—"
    with pytest.raises(ValueError, match="none of"):
        report.report_table(rows, "tps_prob")


def test_latex_table_holds_every_row_with_escaped_names(tmp_path):
    data = tmp_path / "puzzles.jsonl"
    data.write_text(json.dumps({"question": QUESTION, "answer": ANSWER}) + "\n")
    run = write_run(tmp_path / "run", [("random", False, 8, [SWAPPED]), ("tps_margin", True, 8, [ANSWER])])
    latex = report.latex_table(report.setting_rows(run, report.read_jsonl(data)), "random", n_boot=50)
    assert "\\label{tab:sudoku-orders}" in latex and latex.count("\\\\\n") == 3  # header + 2 rows
    assert "tps\\_margin + remask & 8 & 100.0" in latex and "_margin" not in latex.replace("\\_", "")


def test_every_column_on_scores_whose_intervals_are_exact(tmp_path):
    """Two copies of one puzzle answered alike give intervals of zero width, so every cell is known by hand:
    SWAPPED has 34 of 36 empty cells right (94.4%) and 25 of 27 units whole (92.6%); the full answer 100%;
    text without a grid 0; each difference is against random at the same steps."""
    data = tmp_path / "puzzles.jsonl"
    data.write_text(2 * (json.dumps({"question": QUESTION, "answer": ANSWER}) + "\n"))
    run = write_run(tmp_path / "run", [("random", False, 8, [SWAPPED, SWAPPED]),
                                       ("tps_margin", True, 8, [ANSWER, ANSWER]), ("ups", True, 8, ["none", "none"])])
    rows = report.setting_rows(run, report.read_jsonl(data))
    zero = "0.0 [0.0, 0.0]"
    full = "100.0 [100.0, 100.0]"
    assert report.report_table(rows, "random", n_boot=200).splitlines()[4:] == [
        f"| random | 8 | {zero} | — | 94.4 [94.4, 94.4] | — | 92.6 [92.6, 92.6] | — |",
        f"| tps_margin + remask | 8 | {full} | {full} | {full} | 5.6 [5.6, 5.6] | {full} | 7.4 [7.4, 7.4] |",
        f"| ups + remask | 8 | {zero} | {zero} | {zero} | -94.4 [-94.4, -94.4] | {zero} | -92.6 [-92.6, -92.6] |",
    ]


def test_semi_autoregressive_blocks_name_their_rows(tmp_path):
    """One run with blocks of 8 and of 32 out of 96 tokens: two rows, each named by its block length; the
    whole answer as one block keeps the plain name."""
    data = tmp_path / "puzzles.jsonl"
    data.write_text(json.dumps({"question": QUESTION, "answer": ANSWER}) + "\n")
    directory = tmp_path / "blocks"
    directory.mkdir()
    settings = [{"source": "tps_prob", "remask": remask, "steps": 12, "block_length": block, "completions": [ANSWER]}
                for block, remask in ((8, False), (32, True), (96, False))]
    (directory / "results.json").write_text(json.dumps({"config": {"gen_length": 96}, "settings": settings}))
    orders = [row["order"] for row in report.setting_rows(str(directory), report.read_jsonl(data))]
    assert orders == ["tps_prob, blocks of 8", "tps_prob, blocks of 32 + remask", "tps_prob"]


def write_part(directory, skip, completions):
    directory.mkdir()
    settings = [{"source": "tps_margin", "remask": False, "steps": 8, "completions": completions}]
    (directory / "results.json").write_text(json.dumps({"config": {"skip": skip}, "settings": settings}))
    return str(directory)


def test_parts_of_one_run_are_graded_against_their_own_puzzles(tmp_path):
    """Three puzzles, the third with another answer; a run in two parts (puzzle 1, then 2-3 with --skip 1)
    scores like one run over all three, and the second part alone is graded against puzzles 2-3."""
    other_rows = ROWS[3:] + ROWS[:3]  # the bands rotated: still a valid grid, another solution
    other_answer = "#### " + " ".join(other_rows)
    other_question = "\n".join(["Sudoku:"] + [row[:5] + "...." for row in other_rows])
    data = tmp_path / "puzzles.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n"
                            for q, a in [(QUESTION, ANSWER), (QUESTION, ANSWER), (other_question, other_answer)]))
    puzzles = report.read_jsonl(data)
    first = write_part(tmp_path / "first", 0, [ANSWER])
    second = write_part(tmp_path / "second", 1, [SWAPPED, other_answer])
    joined = report.setting_rows(f"{first}+{second}", puzzles)
    assert joined[0]["scores"][0] == [1.0, 0.0, 1.0]
    assert report.setting_rows(second, puzzles)[0]["scores"][0] == [0.0, 1.0]
    with pytest.raises(ValueError, match="consecutive"):
        report.setting_rows(f"{second}+{first}", puzzles)
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.json").write_text(json.dumps({"config": {"skip": 1}, "settings": [
        {"source": "random", "remask": False, "steps": 8, "completions": [ANSWER, ANSWER]}]}))
    with pytest.raises(ValueError, match="other settings"):
        report.setting_rows(f"{first}+{other}", puzzles)
