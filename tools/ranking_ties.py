"""How many answers change when positions are ranked by float32 probabilities instead of order-keeping scores.

Until the ranking fix the sampler ranked positions by float32 probabilities: sigmoid(h) for the UPS and
softmax(logits)[candidate] for tps_prob, both exactly 1.0 for near-certain positions, so topk broke those
ties by index. This decodes the same problems both ways and counts the completions that differ, to say
which reported numbers the fix can have moved.

    python tools/ranking_ties.py --model models/remedi-tiny-chains --data data/chains19l/test.jsonl \
        --limit 100 --gen-length 80 --steps 20
"""

import argparse
import json
from unittest import mock

import torch
import torch.nn.functional as F

from remedi.cli import run_cli
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.sampler import sampling


def float32_probability_confidence(source, logits, ups_logits, candidates, gate_ids=()):
    """The ranking before the fix, for the two sources it affected (no gating: the runs compared use none)."""
    if source == "ups":
        return torch.sigmoid(ups_logits.float())
    return torch.gather(F.softmax(logits.float(), dim=-1), -1, candidates.unsqueeze(-1)).squeeze(-1)


SETTINGS = {"tps_prob": ("tps_prob", False), "tps_prob+remask": ("tps_prob", True), "ups+remask": ("ups", True)}


def decode(model, tokenizer, questions, setting, args):
    source, remask = SETTINGS[setting]
    input_ids, attention_mask = encode_prompts(tokenizer, questions)
    return sampling.generate(model, input_ids, attention_mask, steps=args.steps, gen_length=args.gen_length,
                             block_length=args.block_length or args.gen_length,
                             mask_id=special_token_ids(tokenizer)["mask_id"], confidence_source=source, remask=remask)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="a .jsonl file with a 'question' column")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--gen-length", type=int, default=80)
    parser.add_argument("--block-length", type=int, default=None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--settings", nargs="+", choices=tuple(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args(argv)
    model, tokenizer = load_model_and_tokenizer(args.model)
    with open(args.data) as lines:
        questions = [json.loads(line)["question"] for line, _ in zip(lines, range(args.limit))]
    for setting in args.settings:
        fixed = decode(model, tokenizer, questions, setting, args)
        with mock.patch.object(sampling, "token_confidence", float32_probability_confidence):
            before = decode(model, tokenizer, questions, setting, args)
        differ = int((fixed != before).any(dim=1).sum())
        print(f"{setting}: {differ} of {len(questions)} completions differ between the two rankings")


if __name__ == "__main__":
    run_cli(main)
