"""Score answers by their log-likelihood under a masked diffusion model: `from get_log_likelihood import
get_log_likelihood`, or run as a script.

The estimator lives in `remedi/eval/likelihood.py`; this file keeps LLaDA's entry point and adds a CLI that
scores a few answers to one prompt with the shipped default model (or any other).
"""

import argparse

import torch

from remedi.cli import add_model_arguments, run_cli
from remedi.eval.likelihood import get_log_likelihood, log_likelihoods
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids, warn_unknown_characters

__all__ = ["get_log_likelihood", "log_likelihoods"]

DEFAULT_PROMPT = "Compute 7 - 3 + 5 - 8 + 2."
# The worked answer, one with a slip in its second line carried to the end, and one whose last line is wrong.
DEFAULT_ANSWERS = ["7-3=4\n4+5=9\n9-8=1\n1+2=3\n#### 3",
                   "7-3=4\n4+5=8\n8-8=0\n0+2=2\n#### 2",
                   "7-3=4\n4+5=9\n9-8=1\n1+2=3\n#### 5"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--answer", action="append", help="an answer to score; repeat for several")
    parser.add_argument("--no-chat-template", action="store_true", help="feed the prompt raw (base models)")
    parser.add_argument("--mc-num", type=int, default=128, help="Monte-Carlo rows per estimate")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per mini-batch (a divisor of --mc-num)")
    parser.add_argument("--cfg-scale", type=float, default=0.0, help="unsupervised classifier-free guidance")
    parser.add_argument("--seed", type=int, default=0, help="every answer is scored with masks drawn from this seed")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    answers = args.answer or DEFAULT_ANSWERS
    model, tokenizer = load_model_and_tokenizer(args.model, args.ups, args.device, args.dtype)
    warn_unknown_characters(tokenizer, [args.prompt, *answers])
    prompt = encode_prompts(tokenizer, [args.prompt], chat_template=not args.no_chat_template)[0][0]
    answer_ids = [torch.tensor(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
    scores = log_likelihoods(model, [(prompt, ids) for ids in answer_ids], args.mc_num, args.batch_size,
                             args.cfg_scale, special_token_ids(tokenizer)["mask_id"], seed=args.seed)
    print(f"prompt: {args.prompt}\n")
    for answer, ids, score in sorted(zip(answers, answer_ids, scores), key=lambda item: -item[2]):
        print(f"log-likelihood {score:9.3f}  ({score / len(ids):.3f} per token)  answer: {answer!r}")


if __name__ == "__main__":
    run_cli(main)
