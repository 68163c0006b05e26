"""Sample from a (RemeDi) masked diffusion model: `from generate import generate`, or run as a script.

The sampler itself lives in `remedi/sampler/sampling.py`; this file keeps LLaDA's entry point and adds a CLI.
"""

import argparse
import json
import os
import sys

import torch

from remedi.cli import add_model_arguments, add_sampler_arguments, run_cli
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids, warn_unknown_characters
from remedi.sampler.config import SamplerConfig
from remedi.sampler.sampling import add_gumbel_noise, generate, get_num_transfer_tokens
from remedi.sampler.trace import summarise_trace

__all__ = ["generate", "get_num_transfer_tokens", "add_gumbel_noise", "encode_prompts"]

DEFAULT_PROMPT = "Compute 7 - 3 + 5 - 8 + 2."


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    add_sampler_arguments(parser, block_length=None)
    parser.add_argument("--prompt", action="append", help="a prompt; repeat for a batch")
    parser.add_argument("--no-chat-template", action="store_true", help="feed prompts raw (base models)")
    parser.add_argument("--logits-eos-inf", action="store_true", help="never predict EOS")
    parser.add_argument("--confidence-eos-eot-inf", action="store_true", help="fill EOS/EoT positions last")
    parser.add_argument("--trace", default=None,
                        help="write one JSON line per step to this file: positions filled and remasked, masked "
                             "count, and the answer's token ids and text after the step, per prompt")
    parser.add_argument("--trace-confidences", action="store_true",
                        help="also write each step's confidences of the current block into the --trace file")
    return parser.parse_args(argv)


def open_trace(path):
    """The --trace file, opened before the model loads, so that a bad path costs no sampling time."""
    try:
        return open(path, "w")
    except OSError as error:
        raise ValueError(f"cannot write the trace to {path!r} ({error.strerror}); pass a writable --trace FILE") from None


def write_trace(trace_file, trace, tokenizer):
    """One JSON line per step; the answer ids are also decoded, special tokens such as [MASK] kept."""
    with trace_file:
        for record in trace:
            record = dict(record, text=tokenizer.batch_decode(record["tokens"]))
            trace_file.write(json.dumps(record, allow_nan=False) + "\n")


def warn_about_idle_steps(config):
    """A block of B tokens is fully unmasked after B steps, so steps beyond --gen-length only repeat forwards."""
    steps, gen_length = config.steps, config.gen_length
    if steps > gen_length:
        print(f"warning: --steps {steps} is more than --gen-length {gen_length}: the {steps - gen_length} extra "
              f"steps find no [MASK] left and only cost forward passes; use --steps {gen_length} or fewer",
              file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)
    if args.trace_confidences and not args.trace:
        raise ValueError("--trace-confidences writes into the trace file; pass --trace FILE as well")
    trace_file = open_trace(args.trace) if args.trace else None
    try:
        sample_and_report(args, trace_file)
    except BaseException:
        if trace_file is not None:  # a refused or interrupted run leaves no empty trace behind
            trace_file.close()
            os.remove(args.trace)
        raise


def sample_and_report(args, trace_file):
    """Load the model, sample the prompts, print the answers and the per-block summary, write the trace."""
    config = SamplerConfig.from_args(args).validate()
    warn_about_idle_steps(config)
    torch.manual_seed(args.seed)
    model, tokenizer = load_model_and_tokenizer(args.model, args.ups, args.device, args.dtype)
    config = config.with_token_ids(special_token_ids(tokenizer))
    prompts = args.prompt or [DEFAULT_PROMPT]
    warn_unknown_characters(tokenizer, prompts)
    input_ids, attention_mask = encode_prompts(tokenizer, prompts, chat_template=not args.no_chat_template)
    out, trace = generate(model, input_ids.to(args.device), attention_mask.to(args.device), config=config,
                          return_trace=True, trace_confidences=args.trace_confidences, progress=True)
    answers = tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)
    for prompt, answer in zip(prompts, answers):
        print(f"prompt: {prompt}\nanswer: {answer}\n")
    print(summarise_trace(trace))
    if trace_file is not None:
        write_trace(trace_file, trace, tokenizer)
        print(f"trace written to {args.trace}")


if __name__ == "__main__":
    run_cli(main)
