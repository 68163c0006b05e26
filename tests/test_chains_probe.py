"""The chains probe masks the probed number and the whole tail, and leaves the prompt and the rest alone."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from remedi.eval import chains_probe as probe
from remedi.model.tokenizer import build_char_tokenizer, special_token_ids
from tests.helpers import ScriptedModel

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "chains_probe.py"

ANSWER = "b:17-2=15\nc:15-12=3\nd:3+4=7\n#### 7"


@pytest.mark.parametrize("part,number,prefix", [("lookup", "12", "b:17-2=15\nc:15-"),
                                                ("arithmetic", "3", "b:17-2=15\nc:15-12=")])
def test_probe_input_masks_the_number_and_everything_after_it(part, number, prefix):
    tokenizer = build_char_tokenizer()
    mask_id = special_token_ids(tokenizer)["mask_id"]
    prompt = [7, 8, 9]
    x, positions, target = probe.probe_input(prompt, ANSWER, tokenizer, 1, part, 48, mask_id)
    assert x.shape == (3 + 48,)
    assert x[:3].tolist() == prompt
    start = 3 + len(prefix)
    assert tokenizer.decode(x[3:start].tolist()) == prefix
    assert (x[start:] == mask_id).all()
    assert positions == list(range(start, start + len(number)))
    assert tokenizer.decode(target.tolist()) == number


def test_probe_input_reads_plain_lines_and_refuses_short_windows():
    tokenizer = build_char_tokenizer()
    mask_id = special_token_ids(tokenizer)["mask_id"]
    _, _, target = probe.probe_input([5], "36+54=90\n90-7=83\n#### 83", tokenizer, 0, "lookup", 32, mask_id)
    assert tokenizer.decode(target.tolist()) == "54"
    with pytest.raises(ValueError, match="gen-length"):
        probe.probe_input([5], ANSWER, tokenizer, 2, "arithmetic", 10, mask_id)


def test_cli_runs_on_the_tiny_random_model_and_bad_input_is_one_error_line(tmp_path):
    data = tmp_path / "chains.jsonl"
    data.write_text("".join(json.dumps({"question": f"Compute a={v} b=+1 c=-2.",
                                        "answer": f"b:{v}+1={v + 1}\nc:{v + 1}-2={v - 1}\n#### {v - 1}"}) + "\n"
                            for v in range(2, 8)))
    out = tmp_path / "probe.json"
    command = [sys.executable, str(SCRIPT), "--model", "tiny-random"]
    ran = subprocess.run([*command, "--data", str(data), "--gen-length", "32", "--out", str(out)], capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(out.read_text())
    assert result["n"] == 6 and all(0 <= result[part]["mean"] <= 1 for part in ("lookup", "arithmetic"))
    (tmp_path / "bad.jsonl").write_text(json.dumps({"question": "q", "answer": "no lines here\n#### 1"}) + "\n")
    bad = subprocess.run([*command, "--data", str(tmp_path / "bad.jsonl")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.startswith("error: worked line")


def test_a_training_checkpoint_replaces_the_weights_and_a_foreign_one_is_refused(tmp_path):
    from remedi.model.loading import load_model_and_tokenizer

    trained, _ = load_model_and_tokenizer("tiny-random")
    backbone = lambda m: getattr(m, "backbone", m)  # the tiny-random model carries a UPS head around it
    weights = {name: torch.randn_like(t) for name, t in backbone(trained).state_dict().items()}
    torch.save({"model": weights, "step": 3}, tmp_path / "step.ckpt")
    model, _ = load_model_and_tokenizer("tiny-random")
    probe.load_training_checkpoint(model, tmp_path / "step.ckpt")
    assert all(torch.equal(backbone(model).state_dict()[name], t) for name, t in weights.items())
    torch.save({"model": {"head.weight": torch.zeros(2)}}, tmp_path / "ups.ckpt")
    with pytest.raises(ValueError, match="full weights"):
        probe.load_training_checkpoint(model, tmp_path / "ups.ckpt")


def test_run_probe_scores_a_stand_in_that_knows_a_known_share_of_the_answers():
    """The stand-in predicts, at every position, the answer it believes: the reference on problems 0-2, the
    reference with every result digit changed on problem 3 (operands still right), every digit changed on 4-5.
    So lookup is right on 0-3 and arithmetic on 0-2."""
    tokenizer = build_char_tokenizer()
    records = [{"question": f"Compute a={v} b=+1 c=-2.", "answer": f"b:{v}+1={v + 1}\nc:{v + 1}-2={v - 1}\n#### {v - 1}"}
               for v in range(2, 8)]

    def shift(digits):
        return "".join(str((int(d) + 1) % 10) if d.isdigit() else d for d in digits)

    def results_shifted(answer):
        return "\n".join(re.sub(r"=(\d+)$", lambda m: "=" + shift(m.group(1)), line) for line in answer.split("\n"))

    believed = [r["answer"] for r in records[:3]] + [results_shifted(records[3]["answer"])]
    believed += [shift(r["answer"]) for r in records[4:]]
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": r["question"]}], add_generation_prompt=True,
                                             tokenize=True) for r in records]
    known = {tuple(p): p + tokenizer(a, add_special_tokens=False)["input_ids"] for p, a in zip(prompts, believed)}

    def logits(x):  # (1, L) -> (1, L, vocab): one-hot of the believed prompt + answer, [MASK] after it
        ids = next(ids for prompt, ids in known.items() if x[0, :len(prompt)].tolist() == list(prompt))
        target = torch.full((x.shape[1],), special_token_ids(tokenizer)["mask_id"])
        target[:len(ids)] = torch.tensor(ids)
        return torch.nn.functional.one_hot(target, len(tokenizer)).float()[None]

    correct = probe.run_probe(ScriptedModel(logits), tokenizer, records, gen_length=32)
    assert correct == {"lookup": [True] * 4 + [False] * 2, "arithmetic": [True] * 3 + [False] * 3}
