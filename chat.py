"""Chat with a (RemeDi) masked diffusion model in the terminal.

Each turn puts the whole conversation through the tokenizer's chat template and samples the reply with
`remedi.sampler.sampling.generate`. Type one message per line; an empty line, end of input (Ctrl-D) or Ctrl-C
ends the chat, so `printf 'hi\\nand then?\\n' | python chat.py` runs two turns. With --multiline a message
is every line up to an empty line, for prompts laid out on several lines (a Sudoku puzzle, one row per
line); an empty message then ends the chat. Messages are text: special-token names typed into them stay
characters, and bytes that are not UTF-8 become U+FFFD.
"""

import argparse
import json
import sys

import torch

from remedi.cli import add_model_arguments, add_sampler_arguments, run_cli
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import decode_answer, encode_chat, special_token_ids, warn_unknown_characters
from remedi.sampler.config import SamplerConfig
from remedi.sampler.sampling import generate
from remedi.sampler.trace import summarise_trace


def build_prompt(tokenizer, conversation):
    """The conversation in the chat template as text, ending with the assistant header the reply follows.

    For showing only: the model gets `encode_chat`'s ids, in which message text cannot be special tokens.
    """
    return tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


def fit_to_context(tokenizer, conversation, max_prompt_tokens):
    """Drop the oldest (user, assistant) pairs until the prompt fits; returns (conversation, pairs dropped).

    The model sees prompt + gen_length tokens at once, so a long chat must forget its start. A last
    user message that does not fit on its own raises ValueError: dropping it would answer nothing.
    """
    dropped = 0
    while True:
        length = len(encode_chat(tokenizer, conversation))
        if length <= max_prompt_tokens:
            return conversation, dropped
        if len(conversation) == 1:
            raise ValueError(
                f"this message makes a prompt of {length} tokens, but only {max_prompt_tokens} fit "
                "(the model's context minus --gen-length); send a shorter message or lower --gen-length"
            )
        conversation = conversation[2:]
        dropped += 1


def read_message(ask, multiline):
    """The next message typed, or None when the chat is over (an empty message, end of input).

    One line; with `multiline`, the lines up to the next empty line or the end of input, joined by newlines.
    """
    lines = []
    while True:
        try:
            line = input(ask if not lines else "")
        except EOFError:
            break
        if not line.strip():
            break
        lines.append(line)
        if not multiline:
            break
    return "\n".join(lines) or None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    add_sampler_arguments(parser)
    parser.add_argument("--max-turns", type=int, default=None, help="stop after this many replies")
    parser.add_argument("--multiline", action="store_true",
                        help="a message is every line up to an empty line (e.g. a Sudoku puzzle, one row per line)")
    parser.add_argument("--show-prompt", action="store_true",
                        help="print each templated prompt as a JSON string before sampling")
    parser.add_argument("--verbose", action="store_true",
                        help="after each reply, print the masked count and remasks of every step")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if hasattr(sys.stdin, "reconfigure"):  # a stray non-UTF-8 byte must not end the chat
        sys.stdin.reconfigure(errors="replace")
    try:
        run_chat(args)
    except KeyboardInterrupt:  # Ctrl-C ends the chat as Ctrl-D does
        print()


def run_chat(args):
    config = SamplerConfig.from_args(args).validate()
    torch.manual_seed(args.seed)
    model, tokenizer = load_model_and_tokenizer(args.model, args.ups, args.device, args.dtype)
    ids = special_token_ids(tokenizer)
    config = config.with_token_ids(ids)
    context = model.config.max_sequence_length
    max_prompt_tokens = context - args.gen_length
    if max_prompt_tokens <= 0:
        raise ValueError(f"--gen-length {args.gen_length} leaves no room for a prompt in the model's "
                         f"context of {context} tokens")
    ending = "An empty line ends a message; an empty message" if args.multiline else "An empty line"
    print(f"model {args.model}: {args.gen_length} tokens per reply, {args.steps} steps, context {context} "
          f"tokens. {ending} or Ctrl-D ends the chat.")

    conversation, turns = [], 0
    ask = "user: " if sys.stdin.isatty() else ""  # piped input gets no prompts mixed into the output
    while args.max_turns is None or turns < args.max_turns:
        message = read_message(ask, args.multiline)
        if message is None:
            break
        warn_unknown_characters(tokenizer, [message])
        try:
            candidate, dropped = fit_to_context(
                tokenizer, conversation + [{"role": "user", "content": message}], max_prompt_tokens
            )
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            continue
        if dropped:
            print(f"note: dropped the {dropped} oldest exchange(s) to fit the model's context of {context} "
                  "tokens", file=sys.stderr)
        if args.show_prompt:
            print("prompt: " + json.dumps(build_prompt(tokenizer, candidate)))
        input_ids = torch.tensor([encode_chat(tokenizer, candidate)])
        out, trace = generate(model, input_ids.to(args.device), config=config, return_trace=True)
        reply = decode_answer(tokenizer, out[0, input_ids.shape[1]:].tolist(), {ids["eos_id"], ids["eot_id"]})
        conversation = candidate + [{"role": "assistant", "content": reply}]
        turns += 1
        print(f"assistant: {reply}")
        if args.verbose:
            print(summarise_trace(trace))


if __name__ == "__main__":
    run_cli(main)
