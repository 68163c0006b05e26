"""The arithmetic-chain generator: deterministic, GSM8K schema, correct answers, disjoint splits."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from remedi.data import arith_chains as arith
from remedi.model.tokenizer import build_char_tokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_arith_data.py"

SMALL = dict(n_train=300, n_val=50, n_test=100)


def _questions(records):
    return [r["question"] for r in records]


def test_same_seed_same_data_and_other_seed_other_data():
    assert arith.make_splits(seed=5, **SMALL) == arith.make_splits(seed=5, **SMALL)
    assert _questions(arith.make_splits(seed=6, **SMALL)["test"]) != _questions(arith.make_splits(seed=5, **SMALL)["test"])


def run_script(*argv):
    """`python scripts/make_arith_data.py ARGV`: (exit status, stderr)."""
    result = subprocess.run([sys.executable, str(SCRIPT), *map(str, argv)], capture_output=True, text=True, timeout=300)
    return result.returncode, result.stderr


def test_cli_writes_gsm8k_schema(tmp_path):
    assert run_script("--out-dir", tmp_path, "--n-train", 40, "--n-val", 10, "--n-test", 20, "--fresh-seed", 9)[0] == 0
    sizes = {"train": 40, "val": 10, "test": 20, "test_fresh": 20}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.jsonl" for name in sizes)
    for name, n in sizes.items():
        rows = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert len(rows) == n
        for row in rows:
            assert set(row) == {"question", "answer"}
            assert re.fullmatch(r"Compute \d+( [+-] \d+)+\.", row["question"])
            assert re.search(r"\n#### \d+$", row["answer"])


@pytest.mark.parametrize("fixed_width", [False, True])
@pytest.mark.parametrize("num_ops,max_value", [(1, 9), (2, 99), (3, 50)])  # (1, 9) has only 110 valid chains
def test_answers_recompute_and_stay_in_range(num_ops, max_value, fixed_width):
    splits = arith.make_splits(seed=1, n_train=100, n_val=0, n_test=0, num_ops=num_ops, max_value=max_value,
                               fixed_width=fixed_width)
    n = (lambda v: str(v).zfill(len(str(max_value)))) if fixed_width else str
    for row in splits["train"]:
        tokens = row["question"][len("Compute ") : -1].split(" ")
        assert tokens[::2] == [n(int(t)) for t in tokens[::2]]
        numbers, operators = [int(t) for t in tokens[::2]], tokens[1::2]
        assert len(operators) == num_ops and all(0 <= n <= max_value for n in numbers)
        *steps, final = row["answer"].split("\n")
        value = numbers[0]
        for line, op, b in zip(steps, operators, numbers[1:], strict=True):
            left, right = re.fullmatch(r"(\d+)[+-](\d+)=(\d+)", line).group(1, 3)
            expected = value + b if op == "+" else value - b
            assert line == f"{n(value)}{op}{n(b)}={n(expected)}" and int(left) == value and int(right) == expected
            assert 0 <= expected <= max_value
            value = expected
        assert final == f"#### {value}"


def test_splits_are_disjoint_and_fresh_test_excludes_training_questions():
    # A small problem space (462 chains), so that a missing exclusion would show up as overlap.
    splits = arith.make_splits(seed=2, fresh_seed=3, n_train=200, n_val=50, n_test=50, num_ops=1, max_value=20)
    sets = {name: set(_questions(records)) for name, records in splits.items()}
    for name, records in splits.items():
        assert len(sets[name]) == len(records), f"duplicate questions in {name}"
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert not sets["test_fresh"] & (sets["train"] | sets["val"])
    assert _questions(splits["test_fresh"]) != _questions(splits["test"])


def test_fresh_seed_must_differ_and_impossible_requests_fail():
    with pytest.raises(ValueError, match="differ"):
        arith.make_splits(seed=4, fresh_seed=4, **SMALL)
    with pytest.raises(ValueError, match="distinct"):
        arith.make_splits(seed=0, n_train=200, n_val=0, n_test=0, num_ops=1, max_value=3)  # only 30 chains exist


def test_default_answers_fit_a_32_token_answer_window():
    tokenizer = build_char_tokenizer()
    answers = [r["answer"] for r in arith.make_splits(seed=0, n_train=2000, n_val=0, n_test=0)["train"]]
    longest = max(len(ids) for ids in tokenizer(answers, add_special_tokens=False)["input_ids"])
    assert longest + 1 <= 32  # + <|eot_id|>; the demo samples with gen_length=32


def test_fixed_width_gives_every_problem_one_layout():
    records = arith.make_splits(seed=0, n_train=500, n_val=0, n_test=0, num_ops=2, max_value=99,
                                fixed_width=True)["train"]
    layout = lambda text: re.sub(r"\d", "0", text)
    assert len({layout(r["question"]) for r in records}) == 4  # + +, + -, - +, - -
    assert len({layout(r["answer"].rsplit("\n", 1)[0]) for r in records}) == 4  # worked lines; '#### n' is plain


def test_default_flags_still_write_the_shipped_test_split():
    # tests/fixtures/arith_test50.jsonl holds the first rows of the seed-0 test split as written before
    # --min-ops existed; the default flags must keep writing exactly those problems.
    fixture = Path(__file__).resolve().parent / "fixtures" / "arith_test50.jsonl"
    expected = [json.loads(line) for line in fixture.read_text().splitlines()]
    assert arith.make_splits(seed=0)["test"][: len(expected)] == expected
    assert arith.make_splits(seed=0, min_ops=4)["test"][: len(expected)] == expected


def _operation_counts_and_result_columns(records):
    counts, columns = set(), set()
    for row in records:
        *steps, final = row["answer"].split("\n")
        counts.add(len(steps))
        columns.add(row["answer"].index("\n####"))  # where the last worked line ends
    return counts, columns


def test_variable_layout_chains_mix_lengths_and_widths_and_stay_correct():
    splits = arith.make_splits(seed=3, fresh_seed=4, n_train=600, n_val=50, n_test=100, min_ops=3, num_ops=6,
                               max_value=99)
    counts, columns = _operation_counts_and_result_columns(splits["train"])
    assert counts == {3, 4, 5, 6}
    assert len(columns) > 10  # the answer's last worked line ends at many different character offsets
    numbers = set()
    for row in splits["train"] + splits["test_fresh"]:
        tokens = row["question"][len("Compute ") : -1].split(" ")
        operands, operators = [int(t) for t in tokens[::2]], tokens[1::2]
        numbers.update(operands)
        value = operands[0]
        for op, b in zip(operators, operands[1:]):
            value = value + b if op == "+" else value - b
            assert 0 <= value <= 99
        assert row["answer"].endswith(f"\n#### {value}")
    assert any(n < 10 for n in numbers) and any(n >= 10 for n in numbers)  # one- and two-digit operands
    sets = {name: {r["question"] for r in records} for name, records in splits.items()}
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert not sets["test_fresh"] & (sets["train"] | sets["val"])


def test_variable_layout_answers_fit_a_64_token_answer_window():
    tokenizer = build_char_tokenizer()
    answers = [r["answer"] for r in arith.make_splits(seed=0, n_train=2000, n_val=0, n_test=0, min_ops=3, num_ops=6,
                                                      max_value=99)["train"]]
    longest = max(len(ids) for ids in tokenizer(answers, add_special_tokens=False)["input_ids"])
    assert 32 < longest + 1 <= 64  # + <|eot_id|>; the chains model samples with gen_length=64


def test_min_ops_out_of_range_is_one_error_line():
    status, err = run_script("--min-ops", 5, "--num-ops", 4)
    assert status == 2 and "--min-ops must lie in 1..--num-ops" in err


def _parse_labelled(row):
    """(operands, operators) read back from a labelled question 'Compute a=17 b=-2 c=+13.'."""
    terms = row["question"][len("Compute ") : -1].split(" ")
    assert [t.split("=")[0] for t in terms] == list("abcdefghijklmnopqrstuvwxyz"[: len(terms)])
    values = [t.split("=")[1] for t in terms]
    return [int(values[0])] + [int(v[1:]) for v in values[1:]], [v[0] for v in values[1:]]


def test_labelled_chains_name_each_operand_and_its_worked_line():
    splits = arith.make_splits(seed=3, n_train=400, n_val=0, n_test=0, min_ops=3, num_ops=6, max_value=19,
                               labels=True)
    for row in splits["train"]:
        operands, operators = _parse_labelled(row)
        *steps, final = row["answer"].split("\n")
        value = operands[0]
        for i, (line, op, b) in enumerate(zip(steps, operators, operands[1:], strict=True)):
            expected = value + b if op == "+" else value - b
            assert line == f"{'abcdefg'[i + 1]}:{value}{op}{b}={expected}" and 0 <= expected <= 19
            value = expected
        assert final == f"#### {value}"
    counts, columns = _operation_counts_and_result_columns(splits["train"])
    assert counts == {3, 4, 5, 6} and len(columns) > 10


def test_labels_do_not_change_which_chains_are_drawn():
    plain = arith.make_splits(seed=7, **SMALL, min_ops=3, num_ops=6, max_value=19)
    labelled = arith.make_splits(seed=7, **SMALL, min_ops=3, num_ops=6, max_value=19, labels=True)
    for name in plain:
        for p, q in zip(plain[name], labelled[name], strict=True):
            tokens = p["question"][len("Compute ") : -1].split(" ")
            assert _parse_labelled(q) == ([int(t) for t in tokens[::2]], tokens[1::2])
            assert p["answer"].split("\n")[-1] == q["answer"].split("\n")[-1]


def test_labelled_chains_fit_an_80_token_answer_window():
    tokenizer = build_char_tokenizer()
    answers = [r["answer"] for r in arith.make_splits(seed=0, n_train=2000, n_val=0, n_test=0, min_ops=3, num_ops=6,
                                                      max_value=19, labels=True)["train"]]
    longest = max(len(ids) for ids in tokenizer(answers, add_special_tokens=False)["input_ids"])
    assert 64 < longest + 1 <= 80  # + <|eot_id|>; the labelled chains model samples with gen_length=80


def test_too_many_operands_to_label_is_one_error_line():
    status, err = run_script("--labels", "--num-ops", 26)
    assert status == 2 and "--labels names at most 26 operands" in err


def test_labelled_chains_command_still_writes_the_fixture_test_rows():
    # tests/fixtures/chains19l_test20.jsonl: the first rows of data/chains19l/test.jsonl, which the shipped
    # chains model and the OpenCompass chains config are scored on (the test split follows the 100,000
    # training and 500 validation problems in the seeded stream).
    fixture = Path(__file__).resolve().parent / "fixtures" / "chains19l_test20.jsonl"
    expected = [json.loads(line) for line in fixture.read_text().splitlines()]
    splits = arith.make_splits(seed=0, n_train=100_000, n_val=500, n_test=len(expected), min_ops=3, num_ops=6,
                               max_value=19, labels=True)
    assert splits["test"] == expected
