"""Probe what a chains backbone has learned: operand lookup and arithmetic, one at a time.

Strict accuracy says only that whole chains fail. This probe says which skill is missing. For problem
i it takes worked line k = i mod (number of lines), e.g. "c:15-2=13", feeds the reference answer up to
one number of that line and masks that number *and everything after it*, then checks the one-pass
greedy prediction of the number's digits:
  - lookup: operand b ("2"), read from the question;
  - arithmetic: the result ("13"), computed from the two operands just before it.
Masking the whole tail matters: every result is repeated at the start of the next line (and after
'####'), so with the tail visible a model scores well by copying and learns nothing about either skill.

    python scripts/chains_probe.py --model out/chains-mdm-l6 --data data/chains/val.jsonl --gen-length 64
    python scripts/chains_probe.py --model out/chains19l-mdm --checkpoint out/chains19l-mdm/checkpoints/step-00002000.ckpt \
        --data data/chains19l/val.jsonl --gen-length 80    # an earlier step of the same training run

Works for plain ("36+54=90") and labelled ("b:36+54=90") worked lines.
"""

import argparse
import json
import re
from pathlib import Path

import torch

from remedi.cli import run_cli
from remedi.data.sources import check_json_lines
from remedi.eval.stats import accuracy_ci, bootstrap_indices
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import special_token_ids

LINE = re.compile(r"(?:[a-z]:)?\d+[+-](\d+)=(\d+)")


def probe_input(prompt_ids, answer, tokenizer, line_index, part, gen_length, mask_id):
    """(input ids, target positions, target ids) for one problem; part is 'lookup' or 'arithmetic'.

    The answer region is gen_length tokens, as at sampling time: the reference answer's tokens up to
    the probed number, then [MASK] to the end.
    """
    lines = answer.split("\n")[:-1]
    match = LINE.fullmatch(lines[line_index])
    if match is None:
        raise ValueError(f"worked line {lines[line_index]!r} is not a chains line like '36+54=90' or 'b:36+54=90'")
    group = 1 if part == "lookup" else 2
    line_start = sum(len(line) + 1 for line in lines[:line_index])
    start, end = line_start + match.start(group), line_start + match.end(group)
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
    before, number = encode(answer[:start]), encode(answer[start:end])
    if before + number != encode(answer[:end]):
        raise ValueError("the tokenizer merges characters across the probed number; the probe needs a tokenizer "
                         "that splits digits (such as the chains models' character tokenizer)")
    if len(before) + len(number) > gen_length:
        raise ValueError(f"--gen-length {gen_length} is shorter than the answers: raise it")
    answer_region = before + [mask_id] * (gen_length - len(before))
    positions = list(range(len(prompt_ids) + len(before), len(prompt_ids) + len(before) + len(number)))
    return torch.tensor(prompt_ids + answer_region), positions, torch.tensor(number)


@torch.no_grad()
def run_probe(model, tokenizer, records, gen_length):
    """Dict part -> list of per-problem booleans (all digits of the probed number right)."""
    mask_id = special_token_ids(tokenizer)["mask_id"]
    correct = {"lookup": [], "arithmetic": []}
    for i, record in enumerate(records):
        prompt_ids = tokenizer.apply_chat_template([{"role": "user", "content": record["question"]}],
                                                   add_generation_prompt=True, tokenize=True)
        n_lines = len(record["answer"].split("\n")) - 1
        for part in correct:
            x, positions, target = probe_input(prompt_ids, record["answer"], tokenizer, i % n_lines, part,
                                               gen_length, mask_id)
            logits = model(x[None]).logits[0]
            correct[part].append(bool((logits[positions].argmax(-1) == target).all()))
    return correct


def load_training_checkpoint(model, path):
    """Put the weights of a full-training checkpoint of train_mdm.py into `model` (same architecture)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    backbone = getattr(model, "backbone", model)
    missing, unexpected = backbone.load_state_dict(saved["model"], strict=False)
    if missing or unexpected:
        raise ValueError(f"{path} does not hold the full weights of --model's architecture (missing {len(missing)}, "
                         f"unexpected {len(unexpected)} tensors): give a checkpoint of a --train full run of it")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a chains backbone directory")
    parser.add_argument("--data", required=True, help="jsonl of chains problems (question, answer)")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--gen-length", type=int, default=64, help="answer tokens, as when sampling")
    parser.add_argument("--checkpoint", default=None,
                        help="a train_mdm.py checkpoint (.ckpt, full training) to probe instead of --model's weights")
    parser.add_argument("--out", default=None, help="also write the result as json here")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    check_json_lines(args.data)
    with open(args.data) as f:
        records = [json.loads(line) for line in f if line.strip()][: args.limit]
    if not records:
        raise ValueError(f"{args.data} holds no problems")
    model, tokenizer = load_model_and_tokenizer(args.model)
    if args.checkpoint:
        load_training_checkpoint(model, args.checkpoint)
    correct = run_probe(model, tokenizer, records, args.gen_length)
    indices = bootstrap_indices(len(records))
    result = {"model": args.model, "data": args.data, "n": len(records)}
    for part, scores in correct.items():
        result[part] = accuracy_ci(scores, indices)
        print(f"{part:>10}: {100 * result[part]['mean']:.1f}% [{100 * result[part]['lo']:.1f}, "
              f"{100 * result[part]['hi']:.1f}] of {len(records)} problems")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    run_cli(main)
