import re
import threading

import gradio as gr
import pytest
import torch

import app
from chat import decode_answer
from remedi.tokenizer import encode_prompts
from remedi.loading import DEFAULT_MODEL, load_model_and_tokenizer
from remedi.sampling import generate
from remedi.tokenizer import special_token_ids
from tests.helpers import MASK_ID, random_prompt, tiny_remedi

SETTINGS = dict(steps=8, gen_length=16, block_length=8, temperature=0.0, cfg_scale=0.0,
                confidence_source="ups", remask=True, seed=0)


@pytest.fixture(scope="module")
def tiny():
    return load_model_and_tokenizer()


def run(model, tokenizer, prompt="Compute 1 + 2.", limits=None, **overrides):
    settings = {**SETTINGS, **overrides}
    return list(app.denoise(model, tokenizer, limits or app.Limits(), prompt, *settings.values(), plot_interval_s=0))


def count(html_text, state):
    return len(re.findall(rf'class="tok tok-{state}"', html_text))


def test_step_callback_sees_every_step_and_the_final_ids():
    model, prompt = tiny_remedi(), random_prompt()
    seen = []
    out, trace = generate(model, prompt, steps=4, gen_length=8, block_length=4, mask_id=MASK_ID, return_trace=True,
                          step_callback=lambda record, x: seen.append((record, x.clone())))
    assert [record for record, _ in seen] == trace
    assert torch.equal(seen[-1][1], out)
    masked_rows = [(x[:, prompt.shape[1]:] == MASK_ID).sum(1).tolist() for _, x in seen]
    assert masked_rows == [record["masked_count"] for record in trace]


def test_denoise_streams_each_step_and_ends_with_the_answer(tiny):
    model, tokenizer = tiny
    outputs = run(model, tokenizer)
    assert len(outputs) == SETTINGS["steps"]  # steps 1..7 as they come, then step 8 with answer and history
    view, figure, answer, status, history, slider = outputs[-1]
    assert count(view, "masked") == 0 and count(view, "filled") > 0 and "Step 8/8" in status
    assert len(history) == SETTINGS["steps"] + 1 and count(history[0], "masked") == SETTINGS["gen_length"]
    assert history[-1] == view and slider.maximum == SETTINGS["steps"]
    assert figure.axes[0].lines[1].get_ydata()[-1] == 0
    for step, output in enumerate(outputs[:-1], start=1):
        assert f"Step {step}/8" in output[3] and output[0] == history[step]
        assert count(output[0], "masked") + count(output[0], "remasked") == 16 - 2 * step  # the schedule

    # The same answer as sampling directly, cut at the first EOS/EoT.
    ids = special_token_ids(tokenizer)
    input_ids, attention_mask = encode_prompts(tokenizer, ["Compute 1 + 2."])
    torch.manual_seed(0)
    out = generate(model, input_ids, attention_mask, steps=8, gen_length=16, block_length=8, mask_id=ids["mask_id"],
                   remask=True, confidence_source="ups")
    assert answer == decode_answer(tokenizer, out[0, input_ids.shape[1]:].tolist(), {ids["eos_id"], ids["eot_id"]})
    assert app.show_step(history, 0) == history[0] and app.show_step(history, 99) == history[-1]


@pytest.mark.parametrize("prompt, overrides, message", [
    ("  ", {}, "Type a prompt"),
    ("x" * 2001, {}, "at most 2000"),
    ("hi", {"gen_length": 512}, "1-256 answer tokens"),
    ("hi", {"block_length": 5}, "not divisible by block_length"),
    ("hi", {"steps": 3}, "not divisible by the number of blocks"),
])
def test_bad_requests_become_messages(tiny, prompt, overrides, message):
    with pytest.raises(gr.Error, match=message):
        run(*tiny, prompt, **overrides)


def test_prompt_token_cap_and_missing_ups_head(tiny):
    with pytest.raises(gr.Error, match="at most 10"):
        run(*tiny, "a long prompt", limits=app.Limits(max_prompt_tokens=10))
    with pytest.raises(gr.Error, match="needs a model with a UPS head"):
        run(tiny[0].backbone, tiny[1], "hi")  # the bare LLaDA model, without its UPS head


def test_closing_the_stream_stops_the_sampler(tiny):
    model, tokenizer = tiny
    before, calls = threading.active_count(), []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        stream = app.denoise(model, tokenizer, app.Limits(), "hi",
                             *{**SETTINGS, "steps": 64, "gen_length": 64, "block_length": 64}.values())
        next(stream)
        stream.close()  # what Gradio does when the page goes away or Stop is pressed
    finally:
        hook.remove()
    assert threading.active_count() == before and len(calls) < 8  # not the 64 forward passes of a full run


def test_demo_builds_and_listens_on_localhost_by_default(tiny):
    assert isinstance(app.build_demo(*tiny, app.Limits()), gr.Blocks)
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.model == DEFAULT_MODEL
