"""Gradio demo: watch a (RemeDi) masked diffusion model denoise its answer, step by step.

python app.py [--model DIR] [--ups DIR] [--host 127.0.0.1] [--port 7860]

The page offers the examples, scope note and starting steps / answer length / block length of the model
directory's demo.json (remedi/demo/settings.py), so each shipped model brings the prompts it can answer.

Every step streams to the page as coloured tokens (masked / filled / remasked / kept, shaded by the
sampler's confidence) next to the masked-count curve and LLaDA's schedule. The server listens on
localhost unless --host says otherwise, runs one generation at a time (others queue) and keeps prompt
and answer inside the model's context. Settings the sampler would reject are flagged while they are
being typed, and a refused run says why on the page, never in a traceback.
"""

import argparse
import os
import queue
import threading
import time
import warnings
from dataclasses import dataclass, replace

import gradio as gr
import torch

from remedi.cli import add_model_arguments, confidence_threshold, positive_float, positive_int, run_cli
from remedi.demo.memory import release_freed_memory
from remedi.demo.settings import DEMO_FILE, load_demo_settings
from remedi.grading.sudoku import sudoku_givens
from remedi.model.loading import DEFAULT_MODEL, TINY_RANDOM, load_model_and_tokenizer
from remedi.model.tokenizer import decode_answer, encode_prompts, special_token_ids
from remedi.model.ups import RemeDiModel
from remedi.sampler.config import CONFIDENCE_SOURCES, SamplerConfig
from remedi.sampler.sampling import generate, scheduled_mask_counts
from remedi.sampler.step_runner import KV_CACHE_MODES, cache_layout_problem
from remedi.demo.viz import (MASK_TEXT, MASKED, SUDOKU_ANSWER_TOKENS, mask_count_figure, past_end, render_step_html,
                        render_sudoku_grid, step_view, update_confidences)

MAX_SEED = 2**32 - 1
PARTIAL_MASK = "_"  # stands for a still-masked token in the answer of a stopped run
HANDOVER_STEPS = 2  # sampled steps that may wait for rendering before the sampler pauses


@dataclass
class Limits:
    """What one request may ask for, so that a shared demo cannot be kept busy for hours, and how much the
    server keeps for the visitors it has seen, so that a long-running demo is not killed for memory.

    A session holds its last run's step history (for the slider) and Gradio's copy of every output shown to
    it (step HTML, the plot's PNG): about 0.6 MB after a default run, more after longer ones (one HTML view
    per step). It is dropped when its page goes away, its history `history_ttl_s` seconds
    after its last run, and the least recently used session once more than `max_sessions` are open.
    """

    max_prompt_chars: int = 2000
    max_prompt_tokens: int = 1024
    max_gen_length: int = 256
    max_steps: int = 256
    max_queue: int = 16
    max_sessions: int = 64
    history_ttl_s: float = 1800.0

    def fitted_to(self, context, template_tokens):
        """These limits, lowered where the model's context is tighter.

        Prompt (its chat template included) and answer share `context` tokens, so neither may take all
        of it: the answer leaves room for the template and one character, the prompt for one answer token.
        """
        max_gen_length = min(self.max_gen_length, context - template_tokens - 1)
        if max_gen_length < 1:
            raise ValueError(f"the model's context of {context} tokens leaves no room for an answer after "
                             f"the {template_tokens} tokens of its chat template")
        return replace(self, max_prompt_tokens=min(self.max_prompt_tokens, context - 1), max_gen_length=max_gen_length)


def prompt_token_count(tokenizer, prompt):
    """Tokens the model sees for `prompt`: the chat template wraps it, and that counts against the context."""
    return encode_prompts(tokenizer, [prompt])[0].shape[1]


def settings_problem(limits, steps, gen_length, block_length, seed=0):
    """Why the sampler would refuse these numbers (in words a visitor can act on), or None.

    The numbers may be raw page input (an emptied box is None, a typed one any float), checked here
    rather than by Gradio, whose own range errors are tracebacks in the server log.
    """
    for name, value in (("steps", steps), ("answer length", gen_length), ("block length", block_length)):
        if value is None or value != int(value):
            return f"The {name} must be a whole number."
    if not 1 <= gen_length <= limits.max_gen_length or not 1 <= steps <= limits.max_steps:
        return f"Use 1-{limits.max_gen_length} answer tokens and 1-{limits.max_steps} steps."
    if not 1 <= block_length <= gen_length:
        return f"Use a block length from 1 to the answer length ({gen_length})."
    try:
        SamplerConfig(steps=int(steps), gen_length=int(gen_length), block_length=int(block_length)).validate()
    except ValueError as error:
        return f"{error}{layout_choices(int(steps), int(gen_length), int(block_length))}."
    if seed is None or seed != int(seed) or not 0 <= seed <= MAX_SEED:
        return f"The seed must be a whole number from 0 to {MAX_SEED}."
    return None


def layout_choices(steps, gen_length, block_length):
    """Values that would work, to follow the sampler's refusal of a layout."""
    if gen_length % block_length:
        return ": " + ", ".join(str(d) for d in range(1, gen_length + 1) if gen_length % d == 0)
    blocks = gen_length // block_length
    lower, higher = steps - steps % blocks, steps - steps % blocks + blocks
    return f", such as {lower} or {higher}" if lower > 0 else f", such as {higher}"


def prompt_problem(limits, context, tokenizer, prompt, gen_length):
    """(why this prompt cannot be answered in `gen_length` tokens, or None; its token count, or None)."""
    if not prompt or not prompt.strip():
        return "Type a prompt first.", None
    if len(prompt) > limits.max_prompt_chars:  # checked first: tokenizing a huge paste is itself work
        return f"The prompt has {len(prompt)} characters; this demo takes at most {limits.max_prompt_chars}.", None
    tokens = prompt_token_count(tokenizer, prompt)
    if tokens > limits.max_prompt_tokens:
        return (f"The prompt is {tokens} tokens (chat template included); this demo takes at most "
                f"{limits.max_prompt_tokens}."), tokens
    if tokens + gen_length > context:
        return (f"The prompt is {tokens} tokens (chat template included) and the answer {gen_length}: "
                f"{tokens + gen_length} in all, more than the model's context of {context} tokens. Shorten the "
                f"prompt to at most {context - gen_length} tokens or lower the answer length."), tokens
    return None, tokens


def check_request(limits, context, tokenizer, prompt, steps, gen_length, block_length, seed=0):
    """Markdown for the line under the Generate button: what is wrong, or what the run will use."""
    problem = settings_problem(limits, steps, gen_length, block_length, seed)
    if problem is not None:
        return f"**Cannot run:** {problem}"
    layout = f"{gen_length // block_length} block(s) of {block_length} tokens, {steps} steps"
    if not (prompt or "").strip():
        return f"{layout}. Type a prompt."
    problem, tokens = prompt_problem(limits, context, tokenizer, prompt, gen_length)
    if problem is not None:
        return f"**Cannot run:** {problem}"
    total = tokens + gen_length
    return f"OK: prompt {tokens} tokens + answer {gen_length} = {total} of the model's {context}; {layout}."


class _Stopped(Exception):
    """Raised in the sampler's step callback when Stop was pressed or the page went away, so the
    sampling thread ends."""


def partial_answer(tokenizer, answer_ids, mask_id, stop_ids):
    """The answer as far as it is decided: up to the first EOS/EoT, each [MASK] shown as PARTIAL_MASK."""
    pieces, run = [], []
    for token in answer_ids:
        if token in stop_ids:
            break
        if token == mask_id:
            pieces.append(tokenizer.decode(run, skip_special_tokens=True) + PARTIAL_MASK)
            run = []
        else:
            run.append(token)
    pieces.append(tokenizer.decode(run, skip_special_tokens=True))
    return "".join(pieces)


def denoise(model, tokenizer, limits, prompt, steps, gen_length, block_length, temperature, cfg_scale,
            confidence_source, remask, seed, plot_interval_s=1.0, stop_requested=None, kv_cache="none",
            threshold=None, stop_at_eos=False):
    """Gradio callback: sample an answer and yield, after each step, (step view HTML, mask-count figure,
    answer, status, per-step HTML history, step slider).

    The sampler runs in a thread and hands each step over through a queue; this generator renders them.
    Outputs that did not change are `gr.skip()`; the answer comes with the last step. The history is
    server-side State, updated every step, so that the slider can scrub through it. The curve is
    redrawn at most every `plot_interval_s` seconds (and at the end): a redraw costs about 0.1 s of CPU,
    more than a step of a small model. A request the sampler would refuse raises gr.Error with the reason.

    `stop_requested` (a threading.Event) is Stop: the sampler ends after the step under way, and this
    generator itself yields the stopped page as its last output. Stopping here, rather than by cancelling
    the event, keeps one writer per run, so no late step can overwrite the "Stopped" status. The sampler
    waits while HANDOVER_STEPS steps are not rendered yet: on a busy CPU it would otherwise finish the
    run long before the page shows it, and Stop would find nothing left to stop.

    A prompt that holds a Sudoku puzzle (9 rows of 9 cells) gets, under the tokens of every step, the
    answer drawn as the 9x9 grid it fills, when gen_length leaves room for the '####' grid.

    `threshold` and `stop_at_eos` (app.py --threshold / --stop-at-eos) are the sampler's speed options; with
    them a run may end before `steps`, so the last step is the one the sampler ends on.
    """
    context = model.config.max_sequence_length
    ids = special_token_ids(tokenizer)
    mask_id, stop_ids = ids["mask_id"], {ids["eos_id"], ids["eot_id"]}
    limits = limits.fitted_to(context, prompt_token_count(tokenizer, ""))
    problem = settings_problem(limits, steps, gen_length, block_length, seed)
    if problem is None:
        problem, _ = prompt_problem(limits, context, tokenizer, prompt, gen_length)
    if problem is not None:
        raise gr.Error(problem, print_exception=False)
    steps, gen_length, block_length, seed = int(steps), int(gen_length), int(block_length), int(seed)
    config = SamplerConfig(steps=steps, gen_length=gen_length, block_length=block_length,
                           temperature=float(temperature), cfg_scale=float(cfg_scale),
                           confidence_source=confidence_source, remask=bool(remask), kv_cache=kv_cache,
                           threshold=threshold, stop_at_eos=stop_at_eos).with_token_ids(ids)
    show_grid = gen_length >= SUDOKU_ANSWER_TOKENS and sudoku_givens(prompt) is not None
    input_ids, attention_mask = encode_prompts(tokenizer, [prompt])
    prompt_len = input_ids.shape[1]

    updates = queue.Queue(maxsize=HANDOVER_STEPS)
    stop = threading.Event()

    def hand_over(item):
        """Queue `item` for rendering; give up once this generator has ended and reads no more."""
        while not stop.is_set():
            try:
                updates.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def on_step(record, x):
        if stop.is_set() or (stop_requested is not None and stop_requested.is_set()):
            raise _Stopped
        hand_over((record, x[0, prompt_len:].tolist()))

    def sample():
        torch.manual_seed(seed)
        try:
            generate(model, input_ids.to(model.device), attention_mask.to(model.device), config=config,
                     trace_confidences=True, step_callback=on_step)
            hand_over(None)
        except _Stopped:
            hand_over(_Stopped())
        except Exception as error:  # handed to the generator, which shows it on the page
            hand_over(error)

    worker = threading.Thread(target=sample, daemon=True)
    worker.start()
    try:
        answer_ids = [mask_id] * gen_length
        confidences = [None] * gen_length
        history = [render_step_html([MASK_TEXT] * gen_length, [MASKED] * gen_length)]  # step 0: all masked
        if show_grid:
            history[0] += render_sudoku_grid([MASK_TEXT] * gen_length, [MASKED] * gen_length)
        schedule, trace, so_far = None, [], None
        last_plot = time.monotonic()
        while (item := updates.get()) is not None:
            if isinstance(item, _Stopped):
                yield stopped_page(history, so_far, trace, schedule)
                return
            if isinstance(item, ValueError):  # the sampler's own checks, e.g. `ups` without a UPS head
                raise gr.Error(str(item), print_exception=False)
            if isinstance(item, Exception):
                raise item
            if schedule is None:  # the sampler has validated the layout by now
                schedule = scheduled_mask_counts(gen_length, block_length, steps)
            record, previous_ids, answer_ids = item[0], answer_ids, item[1]
            trace.append(record)
            confidences = update_confidences(confidences, record, block_length)
            texts, states = step_view(tokenizer, previous_ids, answer_ids, record, mask_id)
            view = render_step_html(texts, states, confidences=confidences, source=record["confidence_source"],
                                    ended=past_end(answer_ids, stop_ids))
            if show_grid:
                view += render_sudoku_grid(texts, states, confidences=confidences, source=record["confidence_source"])
            history.append(view)
            status = _status(record, len(trace), steps, gen_length // block_length)
            so_far = partial_answer(tokenizer, answer_ids, mask_id, stop_ids)
            last = len(trace) == steps
            if last or len(trace) == 1 or time.monotonic() - last_plot >= plot_interval_s:
                figure, last_plot = mask_count_figure(trace, schedule), time.monotonic()
            else:
                figure = gr.skip()
            if len(trace) == 1:  # clear the previous run's answer and lock its step slider
                locked = gr.Slider(minimum=0, maximum=1, value=0, interactive=False)
                yield history[-1], figure, "", status, history, locked
            elif not last:
                yield history[-1], figure, gr.skip(), status, history, gr.skip()
        answer = decode_answer(tokenizer, answer_ids, stop_ids)
        if not last:  # the sampler ended early (threshold, stop at EOS): draw the curve of the steps that ran
            figure = mask_count_figure(trace, schedule)
        slider = gr.Slider(minimum=0, maximum=len(trace), value=len(trace), interactive=True)
        yield history[-1], figure, answer, status, history, slider
    finally:
        stop.set()
        worker.join()


def _status(record, done, steps, num_blocks):
    masked = record["masked_count"][0]
    return (f"Step {done}/{steps} (block {record['block'] + 1}/{num_blocks}): {masked} masked, "
            f"{len(record['filled'][0])} filled, {len(record['remasked'][0])} remasked · "
            f"confidence `{record['confidence_source']}`, remask {'on' if record['remask'] else 'off'}")


def show_step(history, step):
    """The stored view after `step` steps (0: all masked), for the slider that scrubs through a run."""
    if not history or step is None:
        return gr.skip()
    return history[min(max(int(step), 0), len(history) - 1)]


def shown_step_status(history, step):
    """The status line while scrubbing, so it names the step on show rather than the run's last one."""
    if not history or step is None:
        return gr.skip()
    shown = min(max(int(step), 0), len(history) - 1)
    return f"Showing step {shown} of {len(history) - 1} (0: before the first step); the slider scrubs through the run."


def stopped_page(history, so_far, trace, schedule):
    """The outputs of a run stopped after `len(trace)` steps: its last step, the full mask-count curve,
    the answer as far as it was decided, a status saying so, and a slider over the steps that ran."""
    if not trace:
        return (gr.skip(),) * 3 + ("Stopped before the first step.",) + (gr.skip(),) * 2
    done = len(trace)
    slider = gr.Slider(minimum=0, maximum=done, value=done, interactive=True)
    status = (f"Stopped after step {done}. The answer below is what was decided by then "
              f"(`{PARTIAL_MASK}` = still masked); the slider scrubs through the steps that ran.")
    return history[-1], mask_count_figure(trace, schedule), so_far, status, history, slider


def _is_default_model(model_name):
    return os.path.realpath(model_name) == os.path.realpath(DEFAULT_MODEL)


def scope_note(model_name, demo_settings):
    """What the loaded model can be asked: its demo.json's scope, or the note on the built-in untrained model."""
    if model_name == TINY_RANDOM:
        return "**Scope:** `tiny-random` is untrained; its answers are noise. It is here to show the machinery."
    return f"**Scope:** {demo_settings.scope}" if demo_settings.scope else ""


def build_demo(model, tokenizer, limits, model_name=DEFAULT_MODEL, kv_cache="none", threshold=None,
               stop_at_eos=False, demo_settings=None):
    """The page for `model`. `demo_settings` (DemoSettings) default to `model_name`'s demo.json; a starting
    budget the sampler would refuse under these limits is a ValueError, found at start-up, not by a visitor."""
    has_ups = isinstance(model, RemeDiModel)
    context = model.config.max_sequence_length
    template_tokens = prompt_token_count(tokenizer, "")
    limits = limits.fitted_to(context, template_tokens)
    if demo_settings is None:
        demo_settings = load_demo_settings(model_name)
    start_block_length = demo_settings.block_length or demo_settings.gen_length
    problem = settings_problem(limits, demo_settings.steps, demo_settings.gen_length, start_block_length)
    if problem is not None:
        raise ValueError(f"{DEMO_FILE} of {model_name}: steps={demo_settings.steps}, gen_length="
                         f"{demo_settings.gen_length}, block_length={start_block_length} do not fit this demo: "
                         f"{problem} Change them in {DEMO_FILE}, or the limits (--max-gen-length, --max-steps)")
    shown_name = model_name
    if _is_default_model(model_name):  # the repository-relative path, not this machine's
        shown_name = os.path.relpath(DEFAULT_MODEL, os.path.dirname(os.path.abspath(__file__)))
    with gr.Blocks(title="RemeDi denoising", analytics_enabled=False) as demo:
        gr.Markdown(
            f"## RemeDi: watch the answer denoise\nModel `{shown_name}` "
            f"({'with' if has_ups else 'without'} a UPS head, context {context} tokens: prompt and answer "
            "share it). Green: filled this step; blue: kept; red, struck out: sent back to [MASK] this step; "
            "grey: still masked. Filled and kept tokens are shaded by the sampler's confidence, palest = least "
            "trusted (hover a token for its value); tokens after EOS/EoT are faded.\n\n"
            + scope_note(model_name, demo_settings)
        )
        with gr.Row():
            with gr.Column(scale=1):
                example_lines = max([example.count("\n") + 1 for example in demo_settings.examples], default=1)
                prompt = gr.Textbox(label="Prompt", lines=max(3, example_lines),
                                    info=f"Prompt, chat template ({template_tokens} tokens) and answer share the "
                                         f"model's {context} tokens; the line under Generate counts them.",
                                    elem_id="prompt")
                if demo_settings.examples:
                    gr.Examples([[example] for example in demo_settings.examples], inputs=prompt,
                                label="Examples (click one)")
                with gr.Row():
                    run = gr.Button("Generate", variant="primary", elem_id="generate")
                    stop = gr.Button("Stop", elem_id="stop")
                check = gr.Markdown(elem_id="settings-check")
                steps = gr.Slider(1, limits.max_steps, value=demo_settings.steps, step=1, label="Steps",
                                  elem_id="steps")
                gen_length = gr.Slider(1, limits.max_gen_length, value=demo_settings.gen_length, step=1,
                                       label="Answer length (tokens)", elem_id="gen-length")
                block_length = gr.Slider(1, limits.max_gen_length, value=start_block_length, step=1,
                                         label="Block length", elem_id="block-length")
                temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="Temperature")
                cfg_scale = gr.Slider(0.0, 5.0, value=0.0, step=0.1, label="CFG scale")
                confidence_source = gr.Dropdown(list(CONFIDENCE_SOURCES), value="ups" if has_ups else "tps_prob",
                                                label="Confidence source")
                remask = gr.Checkbox(value=has_ups, label="Remask (RemeDi)")
                usable = [mode for mode in KV_CACHE_MODES if cache_layout_problem(mode, model.config) is None]
                cache = gr.Dropdown(usable, value=kv_cache, label="KV cache",
                                    info="exact: block-causal models, same tokens; prefix/dual: approximate")
                seed = gr.Number(value=0, precision=0, label="Seed", elem_id="seed")
            with gr.Column(scale=2, elem_id="run-view"):
                status = gr.Markdown(elem_id="status")
                view = gr.HTML(elem_id="step-view")
                step_slider = gr.Slider(0, 1, value=0, step=1, label="Show step", interactive=False,
                                        elem_id="step-slider")
                answer = gr.Textbox(label="Answer", interactive=False, elem_id="answer")
                plot = gr.Plot(label="Masked tokens per step", format="png")
        history = gr.State([], time_to_live=limits.history_ttl_s)

        inputs = [prompt, steps, gen_length, block_length, temperature, cfg_scale, confidence_source, remask, seed,
                  cache]
        outputs = [view, plot, answer, status, history, step_slider]

        stop_requests = {}  # session -> the Stop flag of its run under way; an entry lives as long as the run

        def run_on_page(prompt_text, steps_value, gen_length_value, block_length_value, temperature_value,
                        cfg_scale_value, source, remask_value, seed_value, cache_value, request: gr.Request):
            """denoise, with a refused request shown in the status line (where it stays) instead of a toast.

            The parameters are spelled out because Gradio passes the request only to a named parameter."""
            stop_requested = stop_requests[request.session_hash] = threading.Event()
            try:
                yield from denoise(model, tokenizer, limits, prompt_text, steps_value, gen_length_value,
                                   block_length_value, temperature_value, cfg_scale_value, source, remask_value,
                                   seed_value, stop_requested=stop_requested, kv_cache=cache_value,
                                   threshold=threshold, stop_at_eos=stop_at_eos)
            except gr.Error as refusal:
                yield (gr.skip(),) * 3 + (f"**Cannot run:** {refusal.message}",) + (gr.skip(),) * 2
            finally:
                if stop_requests.get(request.session_hash) is stop_requested:
                    del stop_requests[request.session_hash]
                release_freed_memory()  # else the run's freed buffers stay resident (see remedi/demo/memory.py)

        def stop_on_page(request: gr.Request):
            """Stop: the session's run ends after its current step and shows what it reached."""
            if request.session_hash in stop_requests:
                stop_requests[request.session_hash].set()

        def forget_session(request: gr.Request):
            """The page went away (tab closed or reloaded): stop its run and drop its session now.

            Gradio alone keeps a closed session's State for an hour and the session itself until 10,000
            sessions; a session held ~0.6 MB after a default run (tracemalloc over 24 visitors: 8.8 MB of
            step-history HTML, 5.5 MB of the plot's PNG in Gradio's per-session copies of the outputs).
            `state_holder` is Gradio's (6.17) store of sessions; it has no public call that deletes one.
            """
            if request.session_hash in stop_requests:
                stop_requests[request.session_hash].set()
            with demo.state_holder.lock:
                demo.state_holder.session_data.pop(request.session_hash, None)

        def check_on_page(prompt_text, steps_value, gen_length_value, block_length_value, seed_value):
            return check_request(limits, context, tokenizer, prompt_text, steps_value, gen_length_value,
                                 block_length_value, seed_value)

        for trigger in (run.click, prompt.submit):
            trigger(run_on_page, inputs, outputs)
        stop.click(stop_on_page, None, None, concurrency_limit=None, show_progress="hidden")
        # The slider and the check see numbers as typed (preprocess=False), out of range or emptied too: they
        # check them themselves, so a half-typed value is a message, not a Gradio range error.
        step_slider.input(show_step, [history, step_slider], view, concurrency_limit=None, show_progress="hidden",
                          preprocess=False)
        step_slider.input(shown_step_status, [history, step_slider], status, concurrency_limit=None,
                          show_progress="hidden", preprocess=False)
        checked = [prompt, steps, gen_length, block_length, seed]
        # One event for all of them, run again after the one under way with the latest values: separate
        # events can finish out of order and leave the check of older values on the page.
        gr.on([component.change for component in checked], check_on_page, checked, check,
              concurrency_limit=None, show_progress="hidden", preprocess=False, trigger_mode="always_last")

        # Runs once the page is connected, so a visitor (or a browser test) knows typing now is safe.
        def on_load(*values):
            return "Ready: type a prompt and press Generate.", check_on_page(*values)

        demo.load(on_load, checked, [status, check], concurrency_limit=None, show_progress="hidden")
        demo.unload(forget_session)
    # One generation at a time (the model is shared); later requests wait, and beyond max_queue are refused.
    return demo.queue(default_concurrency_limit=1, max_size=limits.max_queue)


def parse_args(argv=None):
    limits = Limits()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 exposes the demo to the network")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-prompt-chars", type=positive_int, default=limits.max_prompt_chars)
    parser.add_argument("--max-prompt-tokens", type=positive_int, default=limits.max_prompt_tokens,
                        help="lowered to fit the model's context if that is smaller")
    parser.add_argument("--max-gen-length", type=positive_int, default=limits.max_gen_length,
                        help="lowered to fit the model's context if that is smaller")
    parser.add_argument("--max-steps", type=positive_int, default=limits.max_steps)
    parser.add_argument("--max-queue", type=positive_int, default=limits.max_queue,
                        help="requests waiting beyond this many are refused")
    parser.add_argument("--max-sessions", type=positive_int, default=limits.max_sessions,
                        help="open sessions kept; beyond this many the least recently used one is dropped")
    parser.add_argument("--history-ttl", type=positive_float, default=limits.history_ttl_s,
                        help="seconds a session keeps its last run's steps for the slider")
    parser.add_argument("--kv-cache", choices=KV_CACHE_MODES, default="none",
                        help="the KV cache preselected on the page (exact: block-causal models; prefix/dual: "
                             "bidirectional, approximate)")
    parser.add_argument("--threshold", type=confidence_threshold, default=None,
                        help="every run decodes in parallel: a step also settles every position at least this "
                             "confident, and a block ends once nothing in it is masked (default: the fixed schedule)")
    parser.add_argument("--stop-at-eos", action="store_true",
                        help="every run stops once a finished block holds only EOS/EoT after its first EOS/EoT")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    limits = Limits(max_prompt_chars=args.max_prompt_chars, max_prompt_tokens=args.max_prompt_tokens,
                    max_gen_length=args.max_gen_length, max_steps=args.max_steps, max_queue=args.max_queue,
                    max_sessions=args.max_sessions, history_ttl_s=args.history_ttl)
    try:
        demo_settings = load_demo_settings(args.model)  # before the weights: a broken demo.json fails at once
        model, tokenizer = load_model_and_tokenizer(args.model, args.ups, args.device, args.dtype)
        problem = cache_layout_problem(args.kv_cache, model.config)
        if problem is not None:
            raise ValueError(f"--kv-cache {args.kv_cache}: {problem}")
        demo = build_demo(model, tokenizer, limits, args.model, args.kv_cache, args.threshold, args.stop_at_eos,
                          demo_settings)
    except OSError as error:  # tokenizer files missing or unreadable
        raise ValueError(str(error)) from None
    # Gradio 6.17 reads a status constant that newer Starlette deprecates, once per queued event: noise.
    warnings.filterwarnings("ignore", message="'HTTP_422_UNPROCESSABLE_ENTITY' is deprecated")
    try:
        demo.launch(server_name=args.host, server_port=args.port, prevent_thread_lock=True,
                    state_session_capacity=limits.max_sessions)
    except OSError:
        raise ValueError(f"cannot listen on {args.host}:{args.port} (in use, or not an address of this machine); "
                         "choose another with --port or --host") from None
    demo.block_thread()


if __name__ == "__main__":
    run_cli(main)
