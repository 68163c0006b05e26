"""The Remask RL trainer (SMDM/pretrain/train_mdm_rl.py): runs, exports, exact resume, DDP, clear errors.

Runs use a randomly initialised tiny RemeDi model with the character tokenizer and a handful of
arithmetic prompts in GSM8K's schema; a few RL steps each, in-process except the DDP and CLI tests.
"""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.fabric import Fabric
from safetensors.torch import load_file

from remedi.model.tiny import build_tiny_random
from remedi.model.tokenizer import build_char_tokenizer, special_token_ids
from remedi.train import rl, rl_args, rl_setup
from tests.helpers import ScriptedModel, run_trainer_on_two_ranks

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "SMDM" / "pretrain" / "train_mdm_rl.py"
SMALL = ["--group-size", 4, "--prompts-per-step", 2, "--steps", 4, "--gen-length", 8, "--accelerator", "cpu",
         "--warmup-steps", 1, "--lr", 1e-2]


def _import_path(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing must not parse argv or start anything
    return module


train_mdm_rl = _import_path(SCRIPT, "train_mdm_rl")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def setup_dir(tmp_path_factory):
    """A tiny RemeDi model directory (backbone, tokenizer, ups/), 24 + 6 one-step sums in GSM8K schema, and a
    reward hook. An untrained model never answers right, so the runs reward the share of digits in the
    completion instead: it differs between completions, so advantages are not all zero."""
    root = tmp_path_factory.mktemp("rl")
    model, tokenizer = build_tiny_random(seed=0, ups_width=16)
    model.backbone.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    model.save_ups(root / "model" / "ups")
    for name, rows in (("train", range(24)), ("val", range(24, 30))):
        with open(root / f"{name}.jsonl", "w") as f:
            for i in rows:
                a, b = i % 5, (i // 5) % 5
                f.write(json.dumps({"question": f"{a}+{b}", "answer": f"#### {a + b}"}) + "\n")
    (root / "digits.py").write_text("def share(completion, reference):\n"
                                    "    return sum(c.isdigit() for c in completion) / max(len(completion), 1)\n")
    return root


def run(setup_dir, out, *extra):
    argv = ["--model-path", setup_dir / "model", "--data", setup_dir / "train.jsonl", "--val-data",
            setup_dir / "val.jsonl", "--out-dir", out, "--reward", f"{setup_dir / 'digits.py'}:share", *SMALL, *extra]
    return train_mdm_rl.setup(rl_args.parse_args([str(a) for a in argv]))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_run_logs_each_step_and_exports_a_model_with_only_the_ups_changed(setup_dir, tmp_path):
    run(setup_dir, tmp_path, "--max-steps", 3, "--val-every", 3, "--steps", 2, 4, "--temperature", 1.0)
    rows = read_csv(tmp_path / "metrics.csv")
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert [r["rollout_steps"] for r in rows] == ["2", "4", "2"]  # several budgets are taken in turn
    for r in rows:
        assert 0.0 <= float(r["reward"]) <= 1.0 and float(r["zero_advantage_groups"]) < 1.0
        assert 0.0 <= float(r["clip_frac_position"]) <= 1.0 and float(r["position_entropy"]) > 0
        assert float(r["rollout_s"]) > 0 and float(r["update_s"]) > 0
        assert r["clip_frac_token"] == ""  # --train ups: no token term
    assert rows[-1]["val_accuracy_2_steps"] != "" and rows[-1]["val_accuracy_4_steps"] != ""
    start, end = (load_file(d / "model.safetensors") for d in (setup_dir / "model", tmp_path))
    assert all(torch.equal(start[k], end[k]) for k in start)  # the backbone is frozen
    start, end = (load_file(d / "ups" / "ups_head.safetensors") for d in (setup_dir / "model", tmp_path))
    assert any(not torch.equal(start[k], end[k]) for k in start)  # the policy moved
    # the last checkpoint, exported by the script that picks validation's favourite, is the run's own export
    rl_setup.export(tmp_path, 3, tmp_path / "exported")
    for name in ("model.safetensors", "ups/ups_head.safetensors"):
        ours, theirs = load_file(tmp_path / "exported" / name), load_file(tmp_path / name)
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    with pytest.raises(FileNotFoundError, match="step-00000003.ckpt"):
        rl_setup.export(tmp_path, 2, tmp_path / "none")


class Killed(Exception):
    pass


def test_resume_continues_the_same_rollouts_and_updates(setup_dir, tmp_path, monkeypatch):
    """4 steps straight vs killed in step 4 (checkpoint at 2) + --resume: the same CSV and weights, bit for bit.

    Tokens and positions are both sampled, so the rollouts depend on the saved random state.
    """
    argv = ["--max-steps", 4, "--save-every", 2, "--val-every", 2, "--temperature", 1.0, "--train", "full"]
    run(setup_dir, tmp_path / "straight", *argv)
    calls, real_update = [0], rl.policy_update

    def dies_in_step_4(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 7:  # --ppo-epochs 2: the 7th update is step 4's first
            raise Killed
        return real_update(*args, **kwargs)

    monkeypatch.setattr(rl, "policy_update", dies_in_step_4)
    with pytest.raises(Killed):
        run(setup_dir, tmp_path / "resumed", *argv)
    monkeypatch.setattr(rl, "policy_update", real_update)
    with pytest.raises(FileExistsError, match="--resume"):
        run(setup_dir, tmp_path / "resumed", *argv)
    run(setup_dir, tmp_path / "resumed", *argv, "--resume")
    straight, resumed = (read_csv(tmp_path / d / "metrics.csv") for d in ("straight", "resumed"))
    timing = ("rollout_s", "update_s")
    assert [r["step"] for r in resumed] == ["1", "2", "3", "4"]
    for a, b in zip(straight, resumed):
        assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}
    weights = [load_file(tmp_path / d / "model.safetensors") for d in ("straight", "resumed")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_non_finite_loss_stops_before_the_update_and_names_the_last_good_checkpoint(setup_dir, tmp_path,
                                                                                    monkeypatch):
    from remedi.train.training import NonFiniteLossError

    calls, real_objective = [0], rl.step_objective

    def nan_in_step_3(*args, **kwargs):
        loss, stats = real_objective(*args, **kwargs)
        calls[0] += 1
        return (loss * float("nan"), stats) if calls[0] > 2 * 3 * 2 else (loss, stats)  # 3 steps x 2 epochs each

    monkeypatch.setattr(rl, "step_objective", nan_in_step_3)
    with pytest.raises(NonFiniteLossError, match=r"step 3: non-finite RL loss nan.*step-00000002\.ckpt"):
        run(setup_dir, tmp_path, "--max-steps", 4, "--save-every", 2, "--steps", 4, "--temperature", 1.0)
    assert [r["step"] for r in read_csv(tmp_path / "metrics.csv")] == ["1", "2"]
    assert not (tmp_path / "model.safetensors").exists()  # no export of a broken run


def test_lora_trains_the_tps_through_the_token_term_and_kl_starts_at_zero(setup_dir, tmp_path):
    run(setup_dir, tmp_path, "--max-steps", 1, "--train", "lora", "--temperature", 1.0, "--kl-coef", 0.1,
        "--ppo-epochs", 1)
    row = read_csv(tmp_path / "metrics.csv")[0]
    assert 0.0 <= float(row["clip_frac_token"]) <= 1.0
    assert float(row["kl"]) == 0.0  # the reference is the starting policy and the only update is on-policy
    start, end = (load_file(d / "model.safetensors") for d in (setup_dir / "model", tmp_path))
    moved = [k for k in start if not torch.equal(start[k], end[k])]
    assert moved and all(".blocks." in k for k in moved)  # merged LoRA updates: block projections only


@pytest.mark.parametrize("flags, message", [
    (["--group-size", 1], "at least 2"),
    (["--steps", 3, "--gen-length", 8, "--block-length", 4], "not divisible by the number of blocks"),
    (["--block-length", 3], "not divisible by block_length"),
    (["--reward", "no_such_module:f"], "cannot import"),
    (["--train", "full", "--temperature", 0], "--temperature > 0"),
    (["--position-temperature", 0], "must be > 0"),
    (["--ssl_ratio", 0.5], "random-length-prob"),
    (["--prompt-template", "Q: {q}"], "not a format string"),
    (["--prompt-template", "no question here"], "must contain"),
    (["--train", "lora", "--temperature", 0], "--temperature > 0"),
    (["--reference-path", "/nonexistent"], "give --kl-coef > 0"),
    (["--kl-coef", 0.1, "--reference-path", "/nonexistent"], "needs a reference model"),
])
def test_bad_flags_are_refused_before_any_work(flags, message):
    with pytest.raises(ValueError, match=message):
        rl_args.parse_args([str(f) for f in flags])


def test_prompts_are_built_from_the_template_and_must_fit_the_context(setup_dir):
    args = rl_args.parse_args(["--data", str(setup_dir / "train.jsonl"), "--val-data", str(setup_dir / "val.jsonl"),
                                    "--prompt-template", "Q: {question} = ?"])
    tokenizer = build_tiny_random()[1]
    train, val = rl_setup.load_problems(args, tokenizer, context=512)
    assert (len(train), len(val)) == (24, 6) and train[0] == ("Q: 0+0 = ?", "#### 0")
    prompt_tokens = len(tokenizer.apply_chat_template([{"role": "user", "content": "Q: 0+0 = ?"}],
                                                      add_generation_prompt=True))
    with pytest.raises(ValueError, match="fits the model's context"):  # every prompt 1 token too long
        rl_setup.load_problems(args, tokenizer, context=prompt_tokens + args.gen_length - 1)


def save_tiny_block_causal(directory):
    """A tiny random RemeDi model in the block-causal layout (blocks of 8), saved with its UPS head."""
    model, tokenizer = build_tiny_random(seed=0, ups_width=16)
    model.backbone.config.attention_layout, model.backbone.config.attention_block_length = "block_causal", 8
    model.backbone.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    model.save_ups(directory / "ups")
    return directory


def test_a_block_causal_model_trains_and_a_layout_flag_must_match_it(setup_dir, tmp_path):
    directory = save_tiny_block_causal(tmp_path / "block_causal")
    argv = ["--model-path", directory, "--data", setup_dir / "train.jsonl", "--val-data", setup_dir / "val.jsonl",
            "--reward", f"{setup_dir / 'digits.py'}:share", *SMALL, "--max-steps", 1, "--val-every", 1,
            "--attention-layout", "block_causal"]
    state = train_mdm_rl.setup(rl_args.parse_args([str(a) for a in argv + ["--out-dir", tmp_path / "run"]]))
    assert state["step"] == 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["attention_layout"] == "block_causal"
    with pytest.raises(ValueError, match="has block_causal"):
        argv[-1] = "bidirectional"
        train_mdm_rl.setup(rl_args.parse_args([str(a) for a in argv + ["--out-dir", tmp_path / "bad"]]))


def test_whole_model_rl_through_the_exact_cache_reports_both_terms(setup_dir, tmp_path):
    directory = save_tiny_block_causal(tmp_path / "block_causal")
    argv = ["--model-path", directory, "--data", setup_dir / "train.jsonl", "--val-data", setup_dir / "val.jsonl",
            "--reward", f"{setup_dir / 'digits.py'}:share", *SMALL, "--max-steps", 2, "--val-every", 2,
            "--gen-length", 16, "--block-length", 8, "--steps", 4, 2, "--train", "full", "--temperature", 1.0,
            "--kv-cache", "exact", "--kl-coef", 0.1, "--reference-path", directory, "--ppo-epochs", 1,
            "--out-dir", tmp_path / "run"]
    train_mdm_rl.setup(train_mdm_rl.parse_args([str(a) for a in argv]))
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert [(r["accuracy_4_steps"] != "", r["accuracy_2_steps"] != "") for r in rows] == [(True, False), (False, True)]
    assert float(rows[0]["position_entropy"]) > 0  # at 2 steps each step fills its whole block: nothing to choose
    for row in rows:
        assert float(row["token_entropy"]) > 0
        assert row["loss_token"] != "" and row["loss_position"] != "" and row["clip_frac_token"] != ""
    assert float(rows[0]["kl"]) == 0.0  # the reference is the starting model, the first update on-policy
    assert rows[-1]["val_accuracy_2_steps"] != ""


def test_a_model_without_a_ups_head_is_a_one_line_error(setup_dir, tmp_path):
    bare = tmp_path / "bare"
    model, tokenizer = build_tiny_random()
    model.backbone.save_pretrained(bare)
    tokenizer.save_pretrained(bare)
    result = subprocess.run([sys.executable, str(SCRIPT), "--model-path", str(bare), "--data",
                             str(setup_dir / "train.jsonl"), "--out-dir", str(tmp_path / "out")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: no UPS head at") and "Traceback" not in result.stderr


def test_ddp_on_two_cpu_processes_ends_with_identical_parameters(setup_dir, tmp_path):
    out = tmp_path / "run"
    argv = ["--model-path", setup_dir / "model", "--data", setup_dir / "train.jsonl", "--val-data",
            setup_dir / "val.jsonl", "--max-steps", 2, "--val-every", 2, "--save-every", 1, "--temperature", 1.0,
            "--reward", f"{setup_dir / 'digits.py'}:share", "--out-dir", out, *SMALL]
    rank0, rank1 = run_trainer_on_two_ranks(SCRIPT, argv, tmp_path)
    assert set(rank0) == set(rank1) and all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    after_step_1 = torch.load(out / "checkpoints" / "step-00000001.ckpt", weights_only=True)["model"]
    assert any(not torch.equal(after_step_1[k], rank0[k]) for k in after_step_1)  # the policy did move
    assert [r["step"] for r in read_csv(out / "metrics.csv")] == ["1", "2"]


def test_validation_accuracy_is_the_share_of_problems_answered_right():
    """A stand-in model that always writes '#### 4' is right on exactly the 3 of 5 problems whose answer is 4,
    at every budget, over batches of 2 (the last one short)."""
    tokenizer = build_char_tokenizer()
    answer = tokenizer("#### 4", add_special_tokens=False)["input_ids"] + [special_token_ids(tokenizer)["eos_id"]] * 2

    def logits(x):  # the answer region (its last 8 positions) says '#### 4' then EOS, whatever the input
        target = torch.zeros(x.shape, dtype=torch.long)
        target[:, -len(answer):] = torch.tensor(answer)
        return torch.nn.functional.one_hot(target, len(tokenizer)).float()

    model = ScriptedModel(logits, ups_fn=lambda x: torch.zeros(x.shape))
    problems = [(f"{a}+{b}", f"#### {a + b}") for a, b in ((1, 3), (2, 2), (0, 1), (4, 0), (1, 1))]
    args = SimpleNamespace(reward="strict", prompts_per_step=2, group_size=1, gen_length=len(answer), block_length=4,
                           val_steps=[8, 4], kv_cache="none")
    fabric = Fabric(accelerator="cpu", devices=1)
    metrics = train_mdm_rl.validate(fabric, model, tokenizer, problems, args)
    assert metrics == {"val_accuracy_8_steps": 0.6, "val_accuracy_4_steps": 0.6}
