"""Gradio demo: watch a (RemeDi) masked diffusion model denoise its answer, step by step.

python app.py [--model DIR] [--ups DIR] [--host 127.0.0.1] [--port 7860]

Every step streams to the page as coloured tokens (masked / filled / remasked / kept) next to the
masked-count curve and LLaDA's schedule. The server listens on localhost unless --host says otherwise,
runs one generation at a time (others queue) and caps prompt and answer lengths.
"""

import argparse
import queue
import threading
import time
from dataclasses import dataclass

import gradio as gr
import torch

from chat import decode_answer
from remedi.tokenizer import encode_prompts
from remedi.loading import DEFAULT_MODEL, DTYPES, TINY_RANDOM, load_model_and_tokenizer
from remedi.sampling import CONFIDENCE_SOURCES, generate
from remedi.tokenizer import special_token_ids
from remedi.ups import RemeDiModel
from remedi.sampling import scheduled_mask_counts
from remedi.viz import MASK_TEXT, MASKED, mask_count_figure, render_step_html, step_view


@dataclass
class Limits:
    """What one request may ask for, so that a shared demo cannot be kept busy for hours."""

    max_prompt_chars: int = 2000
    max_prompt_tokens: int = 1024
    max_gen_length: int = 256
    max_steps: int = 256
    max_queue: int = 16


class _Stopped(Exception):
    """Raised in the sampler's step callback when the page went away, so the sampling thread ends."""


def denoise(model, tokenizer, limits, prompt, steps, gen_length, block_length, temperature, cfg_scale,
            confidence_source, remask, seed, plot_interval_s=1.0):
    """Gradio callback: sample an answer and yield, after each step,
    (step view HTML, mask-count figure, answer, status, per-step HTML history, step slider).

    The sampler runs in a thread and hands each step over through a queue; this generator renders them.
    Outputs that did not change are `gr.skip()`; the history and the answer come with the last step.
    The curve is redrawn at most every `plot_interval_s` seconds (and at the end): a redraw costs about
    0.1 s of CPU, more than a step of a small model.
    """
    steps, gen_length, block_length, seed = int(steps), int(gen_length), int(block_length), int(seed)
    if not prompt or not prompt.strip():
        raise gr.Error("Type a prompt first.")
    if len(prompt) > limits.max_prompt_chars:
        raise gr.Error(f"The prompt has {len(prompt)} characters; this demo takes at most "
                       f"{limits.max_prompt_chars}.")
    if not 0 < gen_length <= limits.max_gen_length or not 0 < steps <= limits.max_steps:
        raise gr.Error(f"Use 1-{limits.max_gen_length} answer tokens and 1-{limits.max_steps} steps.")
    ids = special_token_ids(tokenizer)
    mask_id = ids["mask_id"]
    input_ids, attention_mask = encode_prompts(tokenizer, [prompt])
    prompt_len = input_ids.shape[1]
    if prompt_len > limits.max_prompt_tokens:
        raise gr.Error(f"The prompt is {prompt_len} tokens; this demo takes at most {limits.max_prompt_tokens}.")

    updates = queue.Queue()
    stop = threading.Event()

    def on_step(record, x):
        if stop.is_set():
            raise _Stopped
        updates.put((record, x[0, prompt_len:].tolist()))

    def sample():
        torch.manual_seed(seed)
        try:
            generate(
                model, input_ids.to(model.device), attention_mask.to(model.device), steps=steps,
                gen_length=gen_length, block_length=block_length, temperature=float(temperature),
                cfg_scale=float(cfg_scale), mask_id=mask_id, confidence_source=confidence_source,
                remask=bool(remask), eos_id=ids["eos_id"], eot_id=ids["eot_id"], step_callback=on_step,
            )
            updates.put(None)
        except Exception as error:  # handed to the generator, which shows it on the page
            updates.put(error)

    worker = threading.Thread(target=sample, daemon=True)
    worker.start()
    try:
        answer_ids = [mask_id] * gen_length
        history = [render_step_html([MASK_TEXT] * gen_length, [MASKED] * gen_length)]  # step 0: all masked
        schedule, trace = None, []
        last_plot = time.monotonic()
        while (item := updates.get()) is not None:
            if isinstance(item, ValueError):  # the sampler's checks: layout, context, confidence source
                raise gr.Error(str(item))
            if isinstance(item, Exception):
                raise item
            if schedule is None:  # the sampler has validated the layout by now
                schedule = scheduled_mask_counts(gen_length, block_length, steps)
            record, previous_ids, answer_ids = item[0], answer_ids, item[1]
            trace.append(record)
            history.append(render_step_html(*step_view(tokenizer, previous_ids, answer_ids, record, mask_id)))
            status = _status(record, len(trace), steps, gen_length // block_length)
            last = len(trace) == steps
            if last or len(trace) == 1 or time.monotonic() - last_plot >= plot_interval_s:
                figure, last_plot = mask_count_figure(trace, schedule), time.monotonic()
            else:
                figure = gr.skip()
            if len(trace) == 1:  # clear the previous run's answer and lock its step slider
                locked = gr.Slider(minimum=0, maximum=1, value=0, interactive=False)
                yield history[-1], figure, "", status, [], locked
            elif not last:
                yield history[-1], figure, gr.skip(), status, gr.skip(), gr.skip()
        answer = decode_answer(tokenizer, answer_ids, {ids["eos_id"], ids["eot_id"]})
        slider = gr.Slider(minimum=0, maximum=steps, value=steps, interactive=True)
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
    if not history:
        return gr.skip()
    return history[min(max(int(step), 0), len(history) - 1)]


def build_demo(model, tokenizer, limits, model_name=DEFAULT_MODEL):
    has_ups = isinstance(model, RemeDiModel)
    context = model.config.max_sequence_length
    with gr.Blocks(title="RemeDi denoising", analytics_enabled=False) as demo:
        gr.Markdown(
            f"## RemeDi: watch the answer denoise\nModel `{model_name}` "
            f"({'with' if has_ups else 'without'} a UPS head, context {context} tokens). "
            "Green: filled this step; red, struck out: sent back to [MASK] this step; grey: still masked."
        )
        with gr.Row():
            with gr.Column(scale=1):
                prompt = gr.Textbox(label="Prompt", lines=3, max_length=limits.max_prompt_chars,
                                    placeholder="Compute 48 + 37 - 12.", elem_id="prompt")
                with gr.Row():
                    run = gr.Button("Generate", variant="primary", elem_id="generate")
                    stop = gr.Button("Stop")
                steps = gr.Slider(1, limits.max_steps, value=32, step=1, label="Steps", elem_id="steps")
                gen_length = gr.Slider(1, limits.max_gen_length, value=32, step=1, label="Answer length (tokens)")
                block_length = gr.Slider(1, limits.max_gen_length, value=32, step=1, label="Block length",
                                         elem_id="block-length")
                temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="Temperature")
                cfg_scale = gr.Slider(0.0, 5.0, value=0.0, step=0.1, label="CFG scale")
                confidence_source = gr.Dropdown(list(CONFIDENCE_SOURCES), value="ups" if has_ups else "tps_prob",
                                                label="Confidence source")
                remask = gr.Checkbox(value=has_ups, label="Remask (RemeDi)")
                seed = gr.Number(value=0, precision=0, label="Seed")
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="status")
                view = gr.HTML(elem_id="step-view")
                step_slider = gr.Slider(0, 1, value=0, step=1, label="Show step", interactive=False,
                                        elem_id="step-slider")
                answer = gr.Textbox(label="Answer", interactive=False, elem_id="answer")
                plot = gr.Plot(label="Masked tokens per step", format="png")
        history = gr.State([])

        inputs = [prompt, steps, gen_length, block_length, temperature, cfg_scale, confidence_source, remask, seed]
        outputs = [view, plot, answer, status, history, step_slider]

        def callback(*values):
            yield from denoise(model, tokenizer, limits, *values)

        events = [trigger(callback, inputs, outputs) for trigger in (run.click, prompt.submit)]
        stop.click(None, cancels=events)
        step_slider.input(show_step, [history, step_slider], view, concurrency_limit=None, show_progress="hidden")
        # Runs once the page is connected, so a visitor (or a browser test) knows typing now is safe.
        demo.load(lambda: "Ready: type a prompt and press Generate.", None, status, concurrency_limit=None,
                  show_progress="hidden")
    # One generation at a time (the model is shared); later requests wait, and beyond max_queue are refused.
    return demo.queue(default_concurrency_limit=1, max_size=limits.max_queue)


def parse_args(argv=None):
    limits = Limits()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model directory, or {TINY_RANDOM!r}")
    parser.add_argument("--ups", default=None, help="directory with UPS head weights (ups_config.json)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 exposes the demo to the network")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--max-prompt-chars", type=int, default=limits.max_prompt_chars)
    parser.add_argument("--max-prompt-tokens", type=int, default=limits.max_prompt_tokens)
    parser.add_argument("--max-gen-length", type=int, default=limits.max_gen_length)
    parser.add_argument("--max-steps", type=int, default=limits.max_steps)
    parser.add_argument("--max-queue", type=int, default=limits.max_queue,
                        help="requests waiting beyond this many are refused")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    limits = Limits(max_prompt_chars=args.max_prompt_chars, max_prompt_tokens=args.max_prompt_tokens,
                    max_gen_length=args.max_gen_length, max_steps=args.max_steps, max_queue=args.max_queue)
    model, tokenizer = load_model_and_tokenizer(args.model, args.ups, args.device, args.dtype)
    build_demo(model, tokenizer, limits, args.model).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
