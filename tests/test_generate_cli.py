import json
import subprocess
import sys

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
