"""remedi/eval/report.py: how every report writes a number and a table, against values worked out by hand."""

from remedi.eval.report import interval, latex_row, markdown_table, percent, tex, tex_path


def test_percent_rounds_to_one_decimal_and_marks_a_missing_value():
    assert percent(0.123) == "12.3"
    assert percent(0.1234) == "12.3" and percent(0.1236) == "12.4"
    assert percent(1.0) == "100.0" and percent(0.0) == "0.0" and percent(-0.005) == "-0.5"
    assert percent(None) == "--"


def test_interval_puts_the_estimate_before_its_bounds():
    estimate = {"mean": 0.625, "lo": 0.5, "hi": 0.75, "n": 8}
    assert interval(estimate) == "62.5 [50.0, 75.0]"
    assert interval(estimate, "%") == "62.5% [50.0, 75.0]"
    assert interval({"mean": -0.005, "lo": -0.01, "hi": 0.0}) == "-0.5 [-1.0, 0.0]"
    assert interval(None) == "--"


def test_markdown_table_has_a_rule_under_the_header_and_one_line_per_row():
    assert markdown_table(["order", "steps"], [["random", 8], ["ups + remask", 4]]) == [
        "| order | steps |", "|---|---|", "| random | 8 |", "| ups + remask | 4 |"]
    assert markdown_table(["a"], []) == ["| a |", "|---|"]


def test_tex_escapes_every_special_character_and_paths_may_break_at_slashes():
    assert tex("tps_prob & 50% #1 {x} $y ~z ^w") == r"tps\_prob \& 50\% \#1 \{x\} \$y \~{}z \^{}w"
    assert tex("a\\b") == r"a\textbackslash{}b" and tex("\u2014") == "--" and tex(3) == "3"
    assert tex_path("runs/rl_a/x.md") == r"runs/\allowbreak{}rl\_a/\allowbreak{}x.md"


def test_latex_row_joins_cells_and_ends_the_row():
    assert latex_row(["a", "12.5 [0.0, 25.0]"]) == r"a & 12.5 [0.0, 25.0] \\"
