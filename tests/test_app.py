import json
import os
import re
import threading
import time

import gradio as gr
import pytest
import torch

import app
from remedi.model.loading import DEFAULT_MODEL, load_model_and_tokenizer
from remedi.model.tokenizer import decode_answer, encode_prompts
from remedi.model.tokenizer import special_token_ids
from remedi.sampler.sampling import generate
from tests.helpers import MASK_ID, random_prompt, save_tiny_random_dir, tiny_remedi

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


def test_the_sampler_waits_for_the_page(tiny):
    """On a busy machine rendering is slower than sampling; a sampler running ahead would finish the run
    before the page shows it, and Stop would have nothing left to stop."""
    model, tokenizer = tiny
    before, calls = threading.active_count(), []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        stream = app.denoise(model, tokenizer, app.Limits(), "hi",
                             *{**SETTINGS, "steps": 64, "gen_length": 64, "block_length": 64}.values())
        next(stream)  # the page shows step 1 and renders nothing more for now
        seen, deadline = -1, time.monotonic() + 30
        while len(calls) != seen and time.monotonic() < deadline:  # until the sampler stops advancing
            seen = len(calls)
            time.sleep(0.5)
        # step 1 shown, HANDOVER_STEPS queued, one more sampled and waiting for room
        assert len(calls) <= 1 + app.HANDOVER_STEPS + 1
        stream.close()
    finally:
        hook.remove()
    assert threading.active_count() == before


def test_demo_builds_and_listens_on_localhost_by_default(tiny):
    assert isinstance(app.build_demo(*tiny, app.Limits()), gr.Blocks)
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.model == DEFAULT_MODEL


def test_kv_cache_choice_reaches_the_sampler_and_a_wrong_one_stops_the_launch(tiny, monkeypatch, capsys):
    model, tokenizer = tiny
    plain = run(model, tokenizer, steps=2)[-1][2]
    dual = list(app.denoise(model, tokenizer, app.Limits(), "Compute 1 + 2.", *{**SETTINGS, "steps": 2}.values(),
                            plot_interval_s=0, kv_cache="dual"))[-1][2]
    assert plain == dual  # one step per block: dual's refresh pass is that step
    with pytest.raises(gr.Error, match="needs a block-causal model"):
        list(app.denoise(model, tokenizer, app.Limits(), "Compute 1 + 2.", *SETTINGS.values(), plot_interval_s=0,
                         kv_cache="exact"))
    with pytest.raises(ValueError, match="--kv-cache exact: kv_cache='exact' needs a block-causal model"):
        app.main(["--kv-cache", "exact"])


EXAMPLE = "Compute 7 - 3 + 5 - 8 + 2."  # 26 characters; the chat template adds 23 tokens: 49 in all


def test_limits_fit_the_model_context():
    fitted = app.Limits().fitted_to(context=512, template_tokens=23)
    assert fitted.max_prompt_tokens == 511 and fitted.max_gen_length == 256  # 512 - 23 - 1 = 488 leaves 256
    assert app.Limits(max_gen_length=1000).fitted_to(512, 23).max_gen_length == 488
    assert app.Limits(max_prompt_tokens=10).fitted_to(512, 23).max_prompt_tokens == 10
    with pytest.raises(ValueError, match="leaves no room for an answer"):
        app.Limits().fitted_to(context=24, template_tokens=23)


def test_settings_problems_say_what_to_pick():
    limits = app.Limits()
    assert app.settings_problem(limits, 32, 32, 16) is None
    assert "divides gen_length: 1, 2, 4, 8, 16, 32." in app.settings_problem(limits, 32, 32, 5)
    assert "use a multiple of 2, such as 2 or 4" in app.settings_problem(limits, 3, 16, 8)
    assert "such as 4." in app.settings_problem(limits, 3, 32, 8)  # no positive multiple of 4 below 3
    assert "block length from 1 to the answer length (16)" in app.settings_problem(limits, 8, 16, 32)
    assert "1-256 answer tokens and 1-256 steps" in app.settings_problem(limits, 300, 32, 32)
    assert "seed must be a whole number" in app.settings_problem(limits, 32, 32, 32, seed=None)
    assert app.settings_problem(limits, None, 32, 32) == "The steps must be a whole number."  # an emptied box
    assert app.settings_problem(limits, 32, 31.5, 32) == "The answer length must be a whole number."
    assert "seed must be a whole number" in app.settings_problem(limits, 32, 32, 32, seed=-1)


def test_prompt_and_answer_must_fit_the_context_together(tiny):
    model, tokenizer = tiny
    assert app.prompt_token_count(tokenizer, EXAMPLE) == 49
    limits = app.Limits().fitted_to(512, 23)
    assert app.prompt_problem(limits, 512, tokenizer, EXAMPLE, 32) == (None, 49)
    problem, tokens = app.prompt_problem(limits, 512, tokenizer, "x" * 470, 32)  # 493 + 32 = 525 > 512
    assert tokens == 493 and "525 in all, more than the model's context of 512" in problem
    assert "at most 480 tokens" in problem
    assert app.prompt_problem(limits, 512, tokenizer, "x" * 457, 32) == (None, 480)  # exactly fills the context
    assert "at most 511" in app.prompt_problem(limits, 512, tokenizer, "x" * 489, 1)[0]  # 512 tokens
    with pytest.raises(gr.Error, match="more than the model's context of 512"):
        run(model, tokenizer, "x" * 470, steps=32, gen_length=32, block_length=32)


def test_check_line_says_what_the_run_will_use_or_why_not(tiny):
    model, tokenizer = tiny
    limits = app.Limits().fitted_to(512, 23)
    line = app.check_request(limits, 512, tokenizer, EXAMPLE, 32, 32, 16)
    assert line == "OK: prompt 49 tokens + answer 32 = 81 of the model's 512; 2 block(s) of 16 tokens, 32 steps."
    assert app.check_request(limits, 512, tokenizer, "", 32, 32, 16).endswith("Type a prompt.")
    line = app.check_request(limits, 512, tokenizer, EXAMPLE, 32, 32, 5)
    assert line.startswith("**Cannot run:**") and "not divisible by block_length=5" in line


def test_step_view_carries_the_samplers_confidences_and_fades_after_the_end(tiny):
    model, tokenizer = tiny
    settings = dict(steps=8, gen_length=32, block_length=16)
    view = run(model, tokenizer, EXAMPLE, **settings)[-1][0]

    ids = special_token_ids(tokenizer)
    input_ids, attention_mask = encode_prompts(tokenizer, [EXAMPLE])
    torch.manual_seed(0)
    out, trace = generate(model, input_ids, attention_mask, mask_id=ids["mask_id"], remask=True,
                          confidence_source="ups", return_trace=True, trace_confidences=True, **settings)
    # Block 0 was last scored at its 4th step, block 1 at the 8th.
    expected = trace[3]["confidence"][0] + trace[7]["confidence"][0]
    shown = [float(value) for value in re.findall(r'data-confidence="([^"]+)"', view)]
    assert shown == pytest.approx(expected, abs=1e-6) and len(set(shown)) > 1
    assert len(re.findall(r'title="(?:kept|filled) · ups confidence 0\.\d{3}', view)) == 32

    answer = out[0, input_ids.shape[1]:].tolist()
    first_stop = min(answer.index(token) for token in (ids["eos_id"], ids["eot_id"]) if token in answer)
    assert view.count('data-past-end="true"') == 32 - first_stop > 0


def test_partial_answer_marks_masks_and_stops_at_the_end(tiny):
    tokenizer = tiny[1]
    ids = special_token_ids(tokenizer)
    one, plus, equals, nine = tokenizer.convert_tokens_to_ids(["1", "+", "=", "9"])
    answer = [one, plus, ids["mask_id"], equals, ids["eot_id"], nine]
    assert app.partial_answer(tokenizer, answer, ids["mask_id"], {ids["eos_id"], ids["eot_id"]}) == "1+_="


def test_stop_keeps_the_steps_so_far_and_the_partial_answer(tiny):
    model, tokenizer = tiny
    stop_requested, forwards = threading.Event(), []

    def press_stop_during_the_third_step(*_):
        forwards.append(1)
        if len(forwards) == 3:
            stop_requested.set()

    hook = model.register_forward_hook(press_stop_during_the_third_step)
    try:
        outputs = list(app.denoise(model, tokenizer, app.Limits(), EXAMPLE,
                                   *{**SETTINGS, "steps": 32, "gen_length": 32, "block_length": 32}.values(),
                                   stop_requested=stop_requested))
    finally:
        hook.remove()
    assert len(forwards) == 3  # the sampler ended with the step under way
    view, figure, answer, status, history, slider = outputs[-1]  # the stopped page is the run's last output
    assert "Stopped after step 2" in status and len(outputs) == 3
    assert len(history) == 3 and history[-1] == view == outputs[-2][0] and answer.count("_") >= 1
    assert slider.maximum == 2 and slider.interactive
    assert figure.axes[0].lines[1].get_ydata()[-1] == 32 - 2  # the curve ends at the step the run reached
    assert app.show_step(history, 1) == outputs[0][0] and app.show_step(history, None) == gr.skip()
    assert app.shown_step_status(history, 2).startswith("Showing step 2 of 2")


SUDOKU_PROMPT = "\n".join(["Sudoku:", "53..7....", "6..195...", ".98....6.", "8...6...3", "4..8.3..1", "7...2...6",
                           ".6....28.", "...419..5", "....8..79"])


def test_a_sudoku_prompt_shows_the_answer_as_a_grid_at_every_step(tiny):
    model, tokenizer = tiny
    outputs = run(model, tokenizer, SUDOKU_PROMPT, steps=12, gen_length=96, block_length=96, confidence_source="tps_prob",
                  remask=False)
    view, _, _, _, history, _ = outputs[-1]
    assert all(page.count('class="remedi-sudoku"') == 1 for page in history)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", history[0], re.S)
    assert len(cells) == 81 and all("tok-masked" in cell for cell in cells)  # step 0: an empty grid
    last_cells = re.findall(r"<td[^>]*>(.*?)</td>", view, re.S)  # a cell may hold a newline
    assert len(last_cells) == 81 and not any("tok-masked" in cell for cell in last_cells)
    # Other prompts, and answers too short for the '####' grid, keep the plain token view.
    assert "remedi-sudoku" not in run(model, tokenizer, steps=12, gen_length=96, block_length=96)[-1][0]
    assert "remedi-sudoku" not in run(model, tokenizer, SUDOKU_PROMPT, gen_length=16)[-1][0]


def shown(demo):
    """What a built page offers before any run: the header's Markdown, the examples, the starting sliders."""
    blocks = list(demo.blocks.values())
    header = next(b.value for b in blocks if isinstance(b, gr.Markdown) and (b.value or "").startswith("## RemeDi"))
    examples = [row[0] for b in blocks if isinstance(b, gr.Dataset) for row in b.samples]
    sliders = {b.elem_id: b.value for b in blocks if isinstance(b, gr.Slider) and b.elem_id}
    return header, examples, sliders


def test_the_page_shows_the_model_directorys_demo_json(tiny, tmp_path):
    demo_json = {"examples": [SUDOKU_PROMPT, "Compute 1 + 2."], "scope": "Only 9x9 puzzles.", "steps": 48,
                 "gen_length": 96}
    (tmp_path / "demo.json").write_text(json.dumps(demo_json))
    demo = app.build_demo(*tiny, app.Limits(), model_name=str(tmp_path))
    header, examples, sliders = shown(demo)
    assert header.endswith("**Scope:** Only 9x9 puzzles.") and examples == demo_json["examples"]
    assert sliders == {"steps": 48, "gen-length": 96, "block-length": 96, "step-slider": 0}
    prompt = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "prompt")
    assert prompt.lines == 10  # a whole puzzle (header and 9 rows) shows without scrolling


def test_the_shipped_models_bring_their_demo_json_and_a_directory_without_one_has_none(tiny, tmp_path):
    header, examples, sliders = shown(app.build_demo(*tiny, app.Limits()))
    assert "trained only on chains of four additions" in header
    assert examples == ["Compute 7 - 3 + 5 - 8 + 2.", "Compute 9 - 9 + 1 + 6 + 1.", "Compute 2 + 5 - 4 + 6 - 3."]
    assert sliders == {"steps": 32, "gen-length": 32, "block-length": 32, "step-slider": 0}
    header, examples, sliders = shown(app.build_demo(*tiny, app.Limits(), model_name=str(tmp_path)))
    assert "**Scope:**" not in header and examples == []
    assert sliders == {"steps": 32, "gen-length": 32, "block-length": 32, "step-slider": 0}

    block_causal = os.path.join(os.path.dirname(DEFAULT_MODEL), "remedi-tiny-arith-blockcausal")
    header, examples, sliders = shown(app.build_demo(*tiny, app.Limits(), model_name=block_causal))
    assert "block-causal" in header and examples[0] == "Compute 7 - 3 + 5 - 8 + 2."
    assert sliders == {"steps": 32, "gen-length": 32, "block-length": 8, "step-slider": 0}  # its attention block

    chains = os.path.join(os.path.dirname(DEFAULT_MODEL), "remedi-tiny-chains")
    header, examples, sliders = shown(app.build_demo(*tiny, app.Limits(), model_name=chains))
    assert "labelled chains" in header and examples[0] == "Compute a=3 b=+13 c=-10 d=+12 e=-3."
    assert sliders == {"steps": 20, "gen-length": 80, "block-length": 80, "step-slider": 0}  # a quarter budget


@pytest.mark.parametrize("text, message", [
    ('{"examples": ["Compute 1 + 2."],}', "is not valid JSON"),
    ('["Compute 1 + 2."]', "must hold a JSON object"),
    ('{"example": ["Compute 1 + 2."]}', "unknown field(s) ['example']"),
    ('{"examples": "Compute 1 + 2."}', "'examples' must be a list of non-empty strings"),
    ('{"examples": ["Compute 1 + 2.", ""]}', "'examples' must be a list of non-empty strings"),
    ('{"scope": ["arithmetic"]}', "'scope' must be a string"),
    ('{"steps": "32"}', "'steps' must be a whole number of at least 1, got \"32\""),
    ('{"gen_length": 0}', "'gen_length' must be a whole number of at least 1, got 0"),
    ('{"block_length": 8.0}', "'block_length' must be a whole number of at least 1, got 8.0"),
    ('{"steps": true}', "'steps' must be a whole number of at least 1, got true"),
])
def test_a_bad_demo_json_stops_the_start_with_one_line(tmp_path, monkeypatch, text, message):
    # demo.json is read before any weights (the folder holds none), so its mistake is the one reported.
    monkeypatch.setattr(app, "load_model_and_tokenizer", lambda *args: pytest.fail("weights loaded first"))
    (tmp_path / "demo.json").write_text(text)
    with pytest.raises(ValueError) as stopped:
        app.main(["--model", str(tmp_path)])
    line = str(stopped.value)
    assert line.startswith(f"{tmp_path / 'demo.json'}") and message in line and "\n" not in line


def test_a_demo_json_budget_the_sampler_would_refuse_stops_the_start(tmp_path, monkeypatch):
    monkeypatch.setattr(gr.Blocks, "launch", lambda *args, **kwargs: pytest.fail("the demo started"))
    save_tiny_random_dir(tmp_path)
    (tmp_path / "demo.json").write_text('{"steps": 96, "gen_length": 300}')  # above the default 256-token cap
    with pytest.raises(ValueError, match=r"^demo.json of .*gen_length=300, block_length=300 do not fit "
                                         r"this demo: Use 1-256"):
        app.main(["--model", str(tmp_path)])
    (tmp_path / "demo.json").write_text('{"steps": 96, "gen_length": 96}')
    with pytest.raises(ValueError, match="--max-gen-length"):
        app.main(["--model", str(tmp_path), "--max-gen-length", "64"])
    (tmp_path / "demo.json").write_text('{"steps": 32, "gen_length": 32, "block_length": 5}')
    with pytest.raises(ValueError, match="block_length=5 do not fit this demo: gen_length=32 is not divisible"):
        app.main(["--model", str(tmp_path)])
