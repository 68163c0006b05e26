"""Probing what a chains backbone has learned, operand lookup and arithmetic one at a time: the probe inputs
(the probed number and the whole tail masked) and their one-pass scoring, behind scripts/chains_probe.py
(whose docstring explains why the tail is masked)."""

import re
from pathlib import Path

import torch

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
