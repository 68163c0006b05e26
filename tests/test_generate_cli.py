import json
import re
import os
import subprocess
import sys

import pytest
import torch

import generate
from remedi.cli import run_cli
from remedi.model.loading import DEFAULT_MODEL, load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from tests.helpers import save_tiny_random_dir


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
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.splitlines()) == 1 and bad.stderr.startswith("error: ")


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
        status, lines = errors_of(["--trace", str(bad)], capsys)
        # one line, and no model loaded, no denoising progress bar: nothing sampled
        assert status == 2 and len(lines) == 1
        assert lines[0].startswith("error: cannot write the trace") and reason in lines[0]
    status, lines = errors_of(["--trace-confidences"], capsys)
    assert status == 2 and lines == ["error: --trace-confidences writes into the trace file; pass --trace FILE as well"]


def errors_of(argv, capsys):
    """(exit status, stderr lines) of the CLI as `python generate.py ARGV` runs it."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(generate.main, argv)
    return exit_info.value.code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("argv, message", [
    (["--model", "/no/such/dir"], "model directory '/no/such/dir' does not exist"),
    (["--model", os.path.join(DEFAULT_MODEL, "ups")], "has no config.json"),
    (["--ups", DEFAULT_MODEL], "no UPS weights in"),
    (["--steps", "6", "--gen-length", "32", "--block-length", "8"], "use a multiple of 4"),
    (["--gen-length", "30", "--block-length", "8"], "gen_length=30 is not divisible by block_length=8"),
    (["--steps", "0"], "must be positive, got steps=0"),
    (["--gen-length", "100000"], "exceeds the model's context of 512 tokens"),
    (["--temperature", "-1"], "temperature=-1.0 is negative"),
    (["--cfg-scale", "-0.5"], "cfg_scale=-0.5 is negative"),
    (["--kv-cache", "exact"], "kv_cache='exact' needs a block-causal model"),
])
def test_user_mistakes_give_one_error_line_before_any_sampling(argv, message, capsys):
    status, lines = errors_of(argv, capsys)
    assert status == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]  # no progress bar either


def test_short_gen_length_is_one_block_and_idle_steps_warn(capsys):
    generate.main(["--gen-length", "8", "--steps", "11"])
    captured = capsys.readouterr()
    assert "block 0: masked after each step [7 6 5 4 3 2 1 0 0 0 0]" in captured.out
    assert "block 1" not in captured.out
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "the 3 extra steps" in warnings[0] and "--steps 8 or fewer" in warnings[0]


def test_bugs_keep_their_traceback_and_remedi_debug_shows_user_errors_too(monkeypatch):
    with pytest.raises(TypeError):
        run_cli(lambda argv: len(argv), None)
    monkeypatch.setenv("REMEDI_DEBUG", "1")
    with pytest.raises(ValueError, match="steps=0"):
        run_cli(generate.main, ["--steps", "0"])


def test_kv_cache_flag_reaches_the_sampler(capsys):
    """The shipped model is bidirectional: with one step per block, dual's refresh pass is the whole step,
    so its answer equals the uncached one (remedi/sampler/step_runner.py)."""
    argv = ["--gen-length", "16", "--block-length", "8", "--steps", "2", "--prompt", "Compute 1 + 2."]
    generate.main(argv)
    plain = [line for line in capsys.readouterr().out.splitlines() if line.startswith("answer:")]
    generate.main(argv + ["--kv-cache", "dual"])
    dual = [line for line in capsys.readouterr().out.splitlines() if line.startswith("answer:")]
    assert plain == dual and plain


SUDOKU_PUZZLE = "\n".join(["Sudoku:", "53..7....", "6..195...", ".98....6.", "8...6...3", "4..8.3..1", "7...2...6",
                           ".6....28.", "...419..5", "....8..79"])


def test_a_model_directory_other_than_the_default_answers_in_96_tokens_and_96_steps(tmp_path, one_thread):
    """What a Sudoku model needs (README): --gen-length 96 holds the 94-character grid, --steps 96 decides one
    token per step; --block-length then defaults to one block of 96."""
    model_dir = str(save_tiny_random_dir(tmp_path / "model"))
    result = subprocess.run([sys.executable, generate.__file__, "--model", model_dir, "--gen-length", "96", "--steps",
                             "96", "--prompt", SUDOKU_PUZZLE], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 0, result.stderr
    printed = result.stdout
    assert "block 0: masked after each step [" + " ".join(str(n) for n in range(95, -1, -1)) + "]" in printed
    model, tokenizer = load_model_and_tokenizer(model_dir)
    ids = special_token_ids(tokenizer)
    input_ids, attention_mask = encode_prompts(tokenizer, [SUDOKU_PUZZLE])
    torch.manual_seed(0)
    out = generate.generate(model, input_ids, attention_mask, steps=96, gen_length=96, block_length=96,
                            mask_id=ids["mask_id"], eos_id=ids["eos_id"], eot_id=ids["eot_id"])
    answer = tokenizer.decode(out[0, input_ids.shape[1]:], skip_special_tokens=True)
    assert f"prompt: {SUDOKU_PUZZLE}\nanswer: {answer}\n" in printed  # the directory's model, sampled alike
