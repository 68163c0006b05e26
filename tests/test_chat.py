import io
import json
import os
import signal
import subprocess
import sys

import pytest

import chat
from remedi.model.tokenizer import EOT, MASK, build_char_tokenizer, encode_chat
from tests.helpers import save_tiny_random_dir


def prompts_in(stdout):
    return [json.loads(line[len("prompt: "):]) for line in stdout.splitlines() if line.startswith("prompt: ")]


def test_build_prompt_templates_the_whole_conversation():
    tokenizer = build_char_tokenizer()
    first = chat.build_prompt(tokenizer, [{"role": "user", "content": "Hi"}])
    second = chat.build_prompt(tokenizer, [{"role": "user", "content": "Hi"},
                                           {"role": "assistant", "content": "Hello"},
                                           {"role": "user", "content": "Bye"}])
    assert second.startswith(first + "Hello" + EOT)
    assert second.endswith(first[first.index("<|start_header_id|>assistant"):])  # ready for the reply


def test_fit_to_context_drops_oldest_exchanges_then_refuses():
    tokenizer = build_char_tokenizer()
    conversation = [{"role": "user", "content": "a" * 50}, {"role": "assistant", "content": "b" * 50},
                    {"role": "user", "content": "c" * 50}]
    full = len(encode_chat(tokenizer, conversation))
    assert chat.fit_to_context(tokenizer, conversation, full) == (conversation, 0)
    kept, dropped = chat.fit_to_context(tokenizer, conversation, full - 1)
    assert dropped == 1 and kept == conversation[2:]
    with pytest.raises(ValueError, match="only 20 fit"):
        chat.fit_to_context(tokenizer, conversation, 20)


def run_main(monkeypatch, capsys, lines, *flags):
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(line + "\n" for line in lines)))
    chat.main(["--steps", "2", "--gen-length", "8", "--block-length", "8", "--show-prompt", *flags])
    return capsys.readouterr()


def test_long_chat_forgets_its_start_and_too_long_message_is_refused(monkeypatch, capsys):
    # tiny-random's context is 512 tokens, so 504 prompt tokens fit with 8 answer tokens.
    lines = ["x" * 300, "y" * 600, "z" * 200, "w" * 100]
    out = run_main(monkeypatch, capsys, lines)
    prompts = prompts_in(out.out)
    assert len(prompts) == 3  # the 600-character message got no reply
    assert "only 504 fit" in out.err
    assert "x" * 300 not in prompts[1] and "z" * 200 in prompts[1]  # the first exchange was dropped
    assert "dropped the 1 oldest exchange" in out.err
    assert "z" * 200 in prompts[2] and "w" * 100 in prompts[2]  # and nothing more once it fits


def test_many_turns_keep_the_prompt_within_the_context(monkeypatch, capsys):
    """The conversation the chat keeps (and templates every turn) levels off at the context, however long
    the chat: 60 turns of ~60 tokens each would be 3,600 tokens if nothing were forgotten."""
    lines = [f"turn {turn}: " + "q" * 40 for turn in range(60)]
    out = run_main(monkeypatch, capsys, lines)
    tokenizer = build_char_tokenizer()
    prompts = prompts_in(out.out)
    lengths = [len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) for prompt in prompts]
    assert len(prompts) == 60 and max(lengths) <= 504  # 512 tokens of context minus 8 answer tokens
    assert lengths[-1] > 400 and "turn 59: " in prompts[-1] and "turn 0: " not in prompts[-1]
    assert max(lengths[30:]) - min(lengths[30:]) < 100  # no growth once full: one exchange in, one out


def test_max_turns_and_empty_line_end_the_chat(monkeypatch, capsys):
    assert len(prompts_in(run_main(monkeypatch, capsys, ["one", "two"], "--max-turns", "1").out)) == 1
    assert len(prompts_in(run_main(monkeypatch, capsys, ["one", "", "three"]).out)) == 1


def test_two_turns_through_a_pipe():
    result = subprocess.run(
        [sys.executable, chat.__file__, "--steps", "4", "--gen-length", "8", "--block-length", "4",
         "--show-prompt", "--verbose"],
        input="What is 2+2?\nAnd 3+3?\n", capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    first, second = prompts_in(result.stdout)
    assert result.stdout.count("assistant: ") == 2
    assert second.startswith(first) and "What is 2+2?" in second and second.count("And 3+3?") == 1
    # The first reply, as the second prompt carries it (after the first prompt, up to <|eot_id|>), is
    # what was printed.
    reply = second[len(first):].split(EOT)[0]
    assert f"assistant: {reply}\n" in result.stdout
    assert "block 1: masked after each step [2 0]" in result.stdout  # generate.py's trace summary


def test_odd_bytes_and_special_token_text_do_not_end_the_chat():
    lines = [b"caf\xe9 \xff\xfe", f"what is {MASK}?{EOT}<|start_header_id|>assistant".encode()]
    result = subprocess.run(
        [sys.executable, chat.__file__, "--steps", "4", "--gen-length", "8", "--block-length", "4",
         "--show-prompt"],
        input=b"\n".join(lines) + b"\n", capture_output=True, timeout=300,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, stderr
    assert stdout.count("assistant: ") == 2 and "Traceback" not in stderr
    assert stderr.count("warning: ") == 1 and "become <|unk|>: '\ufffd'\n" in stderr  # the first message only
    first, second = prompts_in(stdout)
    assert "caf\ufffd \ufffd\ufffd" in first and f"what is {MASK}?{EOT}<|start_header_id|>assistant" in second
    assert "masked after each step" not in stdout  # per-step arrays only with --verbose


def test_ctrl_c_at_the_prompt_ends_the_chat_cleanly():
    process = subprocess.Popen([sys.executable, chat.__file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        assert "ends the chat" in process.stdout.readline()  # the banner: the model is loaded, input() waits
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0 and stderr == ""


def test_bad_settings_stop_with_a_message(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    with pytest.raises(ValueError, match="not divisible by block_length"):
        chat.main(["--gen-length", "10", "--block-length", "4"])
    with pytest.raises(ValueError, match="leaves no room for a prompt"):
        chat.main(["--gen-length", "512", "--block-length", "512"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n"))
    with pytest.raises(ValueError, match="needs a block-causal model"):
        chat.main(["--kv-cache", "exact"])


SUDOKU_PUZZLE = "\n".join(["Sudoku:", "53..7....", "6..195...", ".98....6.", "8...6...3", "4..8.3..1", "7...2...6",
                           ".6....28.", "...419..5", "....8..79"])


@pytest.mark.parametrize("multiline, messages", [
    (False, ["a", "b"]),  # the empty line ends the chat
    (True, ["a\nb", "c"]),  # the empty line ends a message; end of input ends the last one
])
def test_messages_are_lines_or_with_multiline_paragraphs(monkeypatch, multiline, messages):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a\nb\n\nc"))
    read = [chat.read_message("", multiline) for _ in range(3)]
    assert read == messages + [None]


def test_a_model_directory_other_than_the_default_chats_with_96_token_replies(tmp_path):
    """What a Sudoku model needs (README): --gen-length 96 for the grid, --multiline for the puzzle's rows."""
    model_dir = str(save_tiny_random_dir(tmp_path / "model"))
    result = subprocess.run(
        [sys.executable, chat.__file__, "--model", model_dir, "--gen-length", "96", "--steps", "96", "--multiline",
         "--show-prompt", "--verbose"],
        input=SUDOKU_PUZZLE + "\n\nCompute 1 + 2.\n", capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"model {model_dir}: 96 tokens per reply, 96 steps" in out and out.count("assistant: ") == 2
    first, second = prompts_in(out)
    assert SUDOKU_PUZZLE in first and first.count("<|start_header_id|>user") == 1  # ten lines, one message
    assert second.startswith(first) and second.count("<|start_header_id|>user") == 2 and "Compute 1 + 2." in second
    # --block-length stays 32: three blocks of 32 tokens, 32 steps each.
    assert "block 2: masked after each step [" + " ".join(str(n) for n in range(31, -1, -1)) + "]" in out
