import json
import re
import subprocess
import sys

import pytest

import generate


def test_cli_runs_default_model_and_writes_a_trace(tmp_path, capsys):
    trace_file = tmp_path / "trace.jsonl"
    generate.main(["--prompt", "Compute 1 + 2.", "--prompt", "Hi", "--steps", "8", "--gen-length", "16",
                   "--block-length", "8", "--trace", str(trace_file)])
    printed = capsys.readouterr().out
    assert printed.count("answer:") == 2
    assert "block 1: masked after each step [6 4 2 0]" in printed
    records = [json.loads(line) for line in trace_file.read_text().splitlines()]
    assert len(records) == 8 and records[-1]["masked_count"] == [0, 0]


def test_cli_rejects_unknown_flags_and_bad_layouts():
    script = generate.__file__
    unknown = subprocess.run([sys.executable, script, "--stepz", "4"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "unrecognized arguments" in unknown.stderr
    bad = subprocess.run([sys.executable, script, "--gen-length", "10", "--block-length", "4"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "not divisible by block_length" in bad.stderr


def test_trace_holds_answer_ids_text_and_confidences(tmp_path, capsys):
    trace_file = tmp_path / "trace.jsonl"
    generate.main(["--prompt", "Compute 1 + 2.", "--prompt", "Hi", "--steps", "4", "--gen-length", "16",
                   "--block-length", "8", "--trace", str(trace_file), "--trace-confidences"])
    printed = capsys.readouterr().out
    records = [json.loads(line) for line in trace_file.read_text().splitlines()]
    mask = "<|mdm_mask|>"
    for record in records:
        assert len(record["tokens"]) == len(record["text"]) == 2 and len(record["tokens"][0]) == 16
        assert [text.count(mask) for text in record["text"]] == record["masked_count"]
        assert len(record["confidence"]) == 2 and len(record["confidence"][0]) == 8  # one block
    for text in records[-1]["text"]:  # the final text, special tokens removed, is the printed answer
        assert f"answer: {re.sub(r'<[|][a-z_]+[|]>', '', text)}\n" in printed


def test_characters_outside_the_alphabet_are_named_once(capsys):
    generate.main(["--prompt", "Compute 1 + 2 €", "--prompt", "déjà €", "--steps", "2", "--gen-length", "8",
                   "--block-length", "8"])
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: characters not in the tokenizer's alphabet become <|unk|>: '€', 'é', 'à'"]


def test_unwritable_trace_fails_before_sampling_with_one_line(tmp_path, capsys):
    for bad, reason in ((tmp_path / "missing" / "t.jsonl", "No such file"), (tmp_path, "Is a directory")):
        with pytest.raises(SystemExit, match=f"^error: cannot write the trace .*{reason}") as stop:
            generate.main(["--trace", str(bad)])
        assert "\n" not in str(stop.value)
        assert capsys.readouterr() == ("", "")  # no model loaded, no denoising progress bar: nothing sampled
    with pytest.raises(SystemExit, match="^error: --trace-confidences .* --trace FILE"):
        generate.main(["--trace-confidences"])
