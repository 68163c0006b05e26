"""--threshold and --stop-at-eos reach the sampler from generate.py, chat.py and app.py."""

import io
import sys

import pytest
import torch

import app
import chat
import generate
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import decode_answer, encode_prompts, special_token_ids
from remedi.sampler.sampling import generate as sample

PROMPT = "Compute 7 - 3 + 5 - 8 + 2."  # = 3; the shipped model solves it at every setting used here


@pytest.fixture(scope="module")
def shipped():
    return load_model_and_tokenizer()


def test_generate_cli_threshold_ends_in_fewer_steps_with_the_same_answer(capsys):
    flags = ["--prompt", PROMPT, "--confidence-source", "tps_prob", "--no-remask"]
    generate.main(flags)
    full = capsys.readouterr().out
    generate.main(flags + ["--threshold", "0.9", "--stop-at-eos"])
    fast = capsys.readouterr().out
    assert "in 32 steps" in full and "in 32 steps" not in fast
    def answer(printed):
        return printed.split("answer: ")[1].split("\n\n")[0]

    assert answer(full) == answer(fast) and answer(fast).endswith("#### 3")


def test_generate_cli_refuses_a_threshold_that_is_not_a_number(capsys):
    with pytest.raises(SystemExit) as exit_info:
        generate.main(["--threshold", "high"])
    assert exit_info.value.code == 2
    assert "--threshold: invalid confidence_threshold value: 'high'" in capsys.readouterr().err


def test_chat_threshold_reaches_the_sampler(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(PROMPT + "\n"))
    chat.main(["--confidence-source", "tps_prob", "--no-remask", "--threshold", "0.9", "--stop-at-eos", "--verbose"])
    out = capsys.readouterr().out
    assert "#### 3" in out and "remasked in 32 steps" not in out and "remasked in" in out


def test_app_run_with_a_threshold_ends_early_with_the_samplers_answer(shipped):
    model, tokenizer = shipped
    settings = dict(steps=32, gen_length=32, block_length=32, temperature=0.0, cfg_scale=0.0,
                    confidence_source="tps_prob", remask=False, seed=0)
    outputs = list(app.denoise(model, tokenizer, app.Limits(), PROMPT, *settings.values(), plot_interval_s=60,
                               threshold=0.9, stop_at_eos=True))
    view, figure, answer, status, history, slider = outputs[-1]
    ids = special_token_ids(tokenizer)
    input_ids, attention_mask = encode_prompts(tokenizer, [PROMPT])
    out, trace = sample(model, input_ids, attention_mask, steps=32, gen_length=32, block_length=32,
                        mask_id=ids["mask_id"], confidence_source="tps_prob", remask=False, threshold=0.9,
                        stop_at_eos=True, eos_id=ids["eos_id"], eot_id=ids["eot_id"], return_trace=True)
    # The sampler may end on any step, so each step streams as it comes and the end adds the answer's page.
    assert 1 < len(trace) < 32 and len(outputs) == len(trace) + 1
    assert answer == decode_answer(tokenizer, out[0, input_ids.shape[1]:].tolist(), {ids["eos_id"], ids["eot_id"]})
    assert slider.maximum == len(trace) == len(history) - 1
    assert figure.axes[0].lines[1].get_ydata()[-1] == 0  # the last curve is drawn though the plot interval is long


def test_app_runs_llada_rule_whose_trace_has_no_score_for_decided_positions(shipped):
    """Without remasking, decided positions are not ranked: the trace holds None there (once a crash)."""
    model, tokenizer = shipped
    outputs = list(app.denoise(model, tokenizer, app.Limits(), PROMPT, 8, 16, 8, 0.0, 0.0, "tps_prob", False, 0,
                               plot_interval_s=0))
    assert len(outputs) == 8 and "Step 8/8" in outputs[-1][3]


def test_app_cli_flags_parse():
    args = app.parse_args(["--threshold", "0.8", "--stop-at-eos"])
    assert args.threshold == 0.8 and args.stop_at_eos
    assert app.parse_args([]).threshold is None and not app.parse_args([]).stop_at_eos
