"""The Fabric trainer (SMDM/pretrain/train_mdm.py) and the remedi pieces it is built from.

Runs are tiny (d_model 32, 2 layers, 64-token rows, a handful of steps) and mostly in-process; one
test launches the CLI as 2 DDP processes on the CPU (gloo).
"""

import csv
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.fabric import Fabric
from safetensors.torch import load_file

from remedi import LLaDAModelLM, RemeDiModel, UPSStream, load_ups
from remedi.cli import run_cli
from remedi.data.resolve import load_pairs, load_packed_rows, split_validation
from remedi.data.sft import build_sft_examples
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tiny import tiny_config
from remedi.model.tokenizer import build_char_tokenizer, special_token_ids
from remedi.train import checkpoint as ckpt, mdm_args, mdm_setup, training
from remedi.train.arguments import RemaskSFTArgs
from remedi.train.metrics import expected_calibration_error, roc_auc, ups_scored_positions
from remedi.train.tracking import MetricsLogger
from tests.helpers import ScriptedModel, run_trainer_on_two_ranks

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "SMDM" / "pretrain" / "train_mdm.py"
SMALL = ["--seq-len", "64", "--micro-batch-size", "4", "--accelerator", "cpu", "--warmup-steps", "2", "--lr", "1e-3"]
TINY = ["--d-model", "32", "--n-layers", "2", "--n-heads", "4", "--n-kv-heads", "2", "--mlp-hidden-size", "64", *SMALL]


def _import_script():
    spec = importlib.util.spec_from_file_location("train_mdm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing must not parse argv or start anything
    return module


train_mdm = _import_script()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine threads spin-wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(*argv):
    return train_mdm.setup(mdm_args.parse_args([str(a) for a in argv]))


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """40 prompt/response pairs with distinct prompts, and a text file for pretraining."""
    root = tmp_path_factory.mktemp("data")
    pairs = [(f"{a}+{b}=? #{i}", f"{a}+{b}={a + b}") for i, (a, b) in enumerate(zip(range(10, 90, 2), range(57, 97)))]
    with open(root / "pairs.jsonl", "w") as f:
        for prompt, response in pairs:
            f.write(json.dumps({"prompt": prompt, "response": response}) + "\n")
    with open(root / "val.jsonl", "w") as f:
        for i in range(8):
            f.write(json.dumps({"prompt": f"{i}*3=? val", "response": f"{i}*3={3 * i}"}) + "\n")
    with open(root / "text.jsonl", "w") as f:
        for i in range(80):
            f.write(json.dumps({"text": f"{i} plus {i + 7} is {2 * i + 7}."}) + "\n")
    return {"root": root, "pairs": pairs}


def prompt_prefixes(pairs):
    """Token tuples of every chat-formatted prompt, as the trainer lays them out."""
    examples = build_sft_examples(pairs, build_char_tokenizer(), 64)
    return {tuple(row[:n].tolist()) for row, n in zip(examples.input_ids, examples.prompt_lengths)}


def record_model_inputs(monkeypatch):
    """Every input_ids tensor any LLaDAModelLM receives while patched."""
    seen, forward = [], LLaDAModelLM.forward

    def spy(self, input_ids, *args, **kwargs):
        seen.append(input_ids.detach().clone())
        return forward(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(LLaDAModelLM, "forward", spy)
    return seen


def assert_prompts_clean(seen, prefixes, mask_id):
    rows = torch.cat(seen)
    for row in rows.tolist():
        assert any(tuple(row[: len(p)]) == p for p in prefixes), "a prompt token was noised"
    assert (rows == mask_id).any(), "nothing was masked: the check above proves nothing"


# ---------------------------------------------------------------------------------------------- metrics


def test_roc_auc_matches_a_hand_example_and_pair_counting():
    assert roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == pytest.approx(0.75)
    # ties count one half: positives {1, 2} vs negatives {1, 1} -> (0.5 + 0.5 + 1 + 1) / 4
    assert roc_auc(torch.tensor([1.0, 1.0, 1.0, 2.0]), torch.tensor([1, 0, 0, 1])) == pytest.approx(0.75)
    g = torch.Generator().manual_seed(0)
    scores, labels = torch.randint(0, 5, (300,), generator=g).float(), torch.rand(300, generator=g) < 0.3
    pos, neg = scores[labels][:, None], scores[~labels][None, :]
    brute = ((pos > neg).double() + 0.5 * (pos == neg).double()).mean().item()
    assert roc_auc(scores, labels) == pytest.approx(brute, abs=1e-12)
    assert math.isnan(roc_auc(torch.tensor([0.3, 0.4]), torch.tensor([1, 1])))


def test_expected_calibration_error_hand_example():
    # bin [0.1, 0.2): probs 0.12 + 0.18 vs targets 0 + 1 -> |-0.7|; bin [0.8, 0.9): 0.86 + 0.82 vs 1 + 0 -> |0.68|
    probs, targets = torch.tensor([0.12, 0.18, 0.86, 0.82]), torch.tensor([0.0, 1.0, 1.0, 0.0])
    assert expected_calibration_error(probs, targets) == pytest.approx((0.7 + 0.68) / 4)
    assert expected_calibration_error(torch.tensor([0.55, 0.55]), torch.tensor([0.55, 0.55])) == pytest.approx(0.0)


def test_ups_scored_positions_are_the_written_answer_tokens_without_eos_padding():
    tokenizer = build_char_tokenizer()
    ids = special_token_ids(tokenizer)
    p, a, b = tokenizer.convert_tokens_to_ids(["?", "1", "2"])
    # prompt p p | answer a b a EOT | padding EOS EOS; position 3 is masked
    input_ids = torch.tensor([[p, p, a, b, a, ids["eot_id"], ids["eos_id"], ids["eos_id"]]])
    masked = torch.tensor([[False, False, False, True, False, False, False, False]])
    scored = ups_scored_positions(input_ids, torch.tensor([2]), masked, ids["eos_id"])
    assert scored.tolist() == [[False, False, True, False, True, True, False, False]]


def test_validation_auc_scores_the_detection_tokens_not_the_eos_padding():
    """A UPS sure of every EOS it sees and undecided elsewhere separates nothing but the padding: 0.5 on
    the scored tokens; an AUC that counted the (clean) padding would rise above 0.5."""
    tokenizer = build_char_tokenizer()
    ids = special_token_ids(tokenizer)
    examples = build_sft_examples([("1+1", "2"), ("2+3", "5")] * 4, tokenizer, 64)
    rows = training.Rows(examples.input_ids, examples.prompt_lengths)
    assert (examples.input_ids == ids["eos_id"]).any()
    model = ScriptedModel(lambda x: torch.zeros(*x.shape, len(tokenizer)),
                          lambda x: 10.0 * (x == ids["eos_id"]).float())
    cfg = training.LossConfig("remask_sft", ids["mask_id"], vocab_size=len(tokenizer),
                              special_ids=tuple(tokenizer.all_special_ids), remask=RemaskSFTArgs(r_incorrect=1.0))
    args = SimpleNamespace(seed=0, micro_batch_size=4, val_batches=2)
    metrics = train_mdm.validate(Fabric(accelerator="cpu", devices=1), model, rows, cfg, args, ids["eos_id"])
    assert metrics["val_ups_auc"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------- training pieces


def test_lr_warms_up_linearly_then_decays_by_cosine_to_min_lr():
    lrs = [training.lr_at(s, 1.0, 0.1, warmup_steps=4, max_steps=20) for s in range(20)]
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    assert training.lr_at(20, 1.0, 0.1, 4, 20) == pytest.approx(0.1)
    assert training.lr_at(12, 1.0, 0.1, 4, 20) == pytest.approx(0.55)  # halfway through the decay


def test_micro_batches_are_disjoint_across_ranks_and_cover_an_epoch():
    n, mb, world = 21, 2, 3  # 3 global batches of 6 per epoch, 3 rows left out
    epoch = [training.micro_batch_indices(s, n, mb, r, world, seed=5) for s in range(3) for r in range(world)]
    rows = torch.cat(epoch)
    assert len(set(rows.tolist())) == 18
    again = training.micro_batch_indices(1, n, mb, 2, world, seed=5)
    assert torch.equal(again, epoch[1 * world + 2])  # a pure function of (step, rank): resumable
    assert not torch.equal(training.micro_batch_indices(3, n, mb, 0, world, 5), epoch[0])  # next epoch reshuffles
    with pytest.raises(ValueError, match="cannot fill one batch"):
        training.micro_batch_indices(0, 5, mb, 0, world, 5)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    fabric = Fabric(accelerator="cpu", devices=1)
    state = {"model": torch.nn.Linear(3, 2), "step": 1}
    good = ckpt.checkpoint_path(tmp_path, 1)
    ckpt.save_checkpoint(fabric, good, state)
    assert ckpt.latest_checkpoint(tmp_path) == good

    def dies_mid_write(path, state, filter=None):
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(fabric, "save", dies_mid_write)
    state["step"] = 2
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(fabric, ckpt.checkpoint_path(tmp_path, 2), state)
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.name]
    (tmp_path / "step-00000003.ckpt.tmp").write_bytes(b"left by a SIGKILL")
    assert ckpt.latest_checkpoint(tmp_path) == good
    assert torch.load(good, weights_only=True)["step"] == 1


def test_resume_skips_a_truncated_newest_checkpoint(tmp_path, capsys):
    fabric = Fabric(accelerator="cpu", devices=1)
    model = torch.nn.Linear(3, 2)
    generators = {"noise": torch.Generator().manual_seed(0)}
    state = {"model": model, "step": 0, "trainable": ["weight", "bias"], "world_size": 1, "n_train": 10, "rng": [],
             "args": {}}
    for step in (1, 2, 3):
        with torch.no_grad():
            model.weight.fill_(step)
        state["step"] = step
        ckpt.save_training_state(fabric, tmp_path, state, generators, "full")
    newest = ckpt.checkpoint_path(tmp_path, 3)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a copy cut short
    with torch.no_grad():
        model.weight.zero_()
    state["step"] = 0

    assert ckpt.resume_training_state(fabric, tmp_path, state, generators) == ckpt.checkpoint_path(tmp_path, 2)
    assert state["step"] == 2 and model.weight.eq(2).all()
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "step-00000003.ckpt is damaged or incomplete" in warnings[0]
    for path in ckpt.checkpoints(tmp_path):
        path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"no checkpoint in .* can be read \(3 tried\)"):
        ckpt.resume_training_state(fabric, tmp_path, state, generators)
    assert ckpt.resume_training_state(fabric, tmp_path / "none_yet", state, generators) is None


def cli_errors(argv, capsys):
    """(exit status, stderr lines) of `python train_mdm.py ARGV`, run in this process."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(train_mdm.cli, [str(a) for a in argv])
    return exit_info.value.code, capsys.readouterr().err.splitlines()


def test_cli_mistakes_are_one_error_line_before_the_model_loads(data, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for argv, message in [
        (["--max-steps", 0], "--max-steps must be at least 1, got 0"),
        (["--out-dir", a_file], "is a file, not a folder"),
        (["--out-dir", a_file / "run"], "is not a writable folder (Not a directory)"),
        (["--data", tmp_path / "missing.jsonl", "--out-dir", tmp_path / "run"], "missing.jsonl does not exist"),
        # prompts take 33-34 tokens, prompt + answer 42-44
        (["--data", data["root"] / "pairs.jsonl", "--seq-len", 36, "--out-dir", tmp_path / "run"],
         "40 of 40 answers"),
    ]:
        status, lines = cli_errors(argv, capsys)
        errors = [line for line in lines if line.startswith("error: ")]  # besides datasets' progress bar
        assert status == 2 and len(errors) == 1 and message in errors[0], lines
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_cli_names_a_malformed_jsonl_line_without_a_traceback(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "q", "response": "a"}\n{"prompt": "q", "response": }\n')
    result = subprocess.run([sys.executable, SCRIPT, "--data", path, "--out-dir", tmp_path / "run", *TINY],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: line 2 of {path} is not valid JSON (Expecting value at column "
                                          "29); fix or delete that line"]


def test_flags_that_do_not_apply_are_errors():
    for argv, message in [
        (["--r-incorrect", "0.2"], "--r-incorrect only applies"),
        (["--objective", "remask_sft", "--mode", "pretrain"], "use --mode sft"),
        (["--train", "ups"], "needs a UPS head"),
        (["--lora-r", "4"], "--lora-r only applies"),
        (["--text-column", "body"], "--text-column only applies"),
        (["--model-path", "x", "--model-config", "tiny"], "not both"),
        (["--model-path", "x", "--d-model", "64"], "--d-model only applies"),
        (["--val-data", "v.jsonl", "--val-fraction", "0.1"], "not both"),
    ]:
        with pytest.raises(ValueError, match=message):
            mdm_args.parse_args(argv)
    args = mdm_args.parse_args(["--objective", "remask_sft"])
    assert (args.train, args.r_incorrect, args.replacement, args.lambda_ups) == ("ups", 0.1, "uniform", 1.0)
    assert (args.ups_label_smoothing, args.ups_on_all_positions, args.val_fraction) == (0.0, False, 0.05)


def test_data_specs(data):
    fixture = ROOT / "tests" / "fixtures" / "opc_sft_stage2_educational_instruct_sample.jsonl"
    pairs = load_pairs(str(fixture), "instruction", "output")
    assert len(pairs) == 5 and pairs[0][0].startswith("Write a Python function")
    for spec, message in [("gsm8k:main", "fixed columns"), ("wikitext", "--data must be one of")]:
        with pytest.raises(ValueError, match=message):
            load_pairs(spec)
    rows = load_packed_rows(str(data["root"] / "text.jsonl"), build_char_tokenizer(), 32)
    assert rows.shape[1] == 32 and rows.shape[0] > 20
    with pytest.raises(ValueError, match="local"):
        load_packed_rows("gsm8k", build_char_tokenizer(), 32)
    train_idx, val_idx = split_validation(40, 0.1, seed=0)
    assert len(val_idx) == 4 and not set(train_idx.tolist()) & set(val_idx.tolist())


def test_wandb_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` raise ImportError
    with pytest.raises(RuntimeError, match="pip install wandb"):
        MetricsLogger(tmp_path / "metrics.csv", ["loss"], wandb_mode="offline")


# ------------------------------------------------------------------------------------------- full runs


@pytest.fixture(scope="module")
def ups_run(data, tmp_path_factory):
    """Remask SFT, --train ups: 4 steps, validation and a checkpoint every 2, model inputs recorded."""
    out = tmp_path_factory.mktemp("ups_run")
    with pytest.MonkeyPatch.context() as mp:
        seen = record_model_inputs(mp)
        state = run("--objective", "remask_sft", "--data", data["root"] / "pairs.jsonl", "--val-fraction", "0.2",
                    "--max-steps", 4, "--val-every", 2, "--save-every", 2, "--ups-width", 16, "--out-dir", out, *TINY)
    return {"out": out, "state": state, "seen": seen}


def test_metrics_csv_has_one_row_per_step_and_validation_metrics(ups_run):
    rows = read_csv(ups_run["out"] / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("loss", "diffusion", "ups", "lr", "grad_norm"))
    assert all(float(r["loss"]) == pytest.approx(float(r["diffusion"]) + float(r["ups"])) for r in rows)
    assert [r["val_loss"] != "" for r in rows] == [False, True, False, True]
    for r in rows[1::2]:
        assert 0.0 <= float(r["val_ups_auc"]) <= 1.0
        assert 0.0 <= float(r["val_ups_ece_masked"]) <= float(r["val_ups_mae_masked"]) + 1e-6  # ECE <= MAE
        assert 0.0 <= float(r["val_masked_acc"]) <= 1.0


def test_wandb_offline_logs_the_run_without_network(data, tmp_path, monkeypatch):
    """wandb is in the default install: --wandb offline must work out of the box and write a local run."""
    pytest.importorskip("wandb", reason="wandb is not installed (it is part of requirements.txt)")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run("--data", data["root"] / "pairs.jsonl", "--val-fraction", "0.2", "--max-steps", 2, "--val-every", 2,
        "--wandb", "offline", "--run-name", "offline-test", "--out-dir", tmp_path, *TINY)
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, "no offline wandb run was written"
    logged = runs[0].read_bytes()
    for key in (b"diffusion", b"val_loss", b"offline-test"):  # logged metrics and the run name are in the file
        assert key in logged
    assert [int(r["step"]) for r in read_csv(tmp_path / "metrics.csv")] == [1, 2]  # the CSV is still written


def test_train_ups_freezes_the_backbone(ups_run, data):
    model, optimizer = ups_run["state"]["model"].module, ups_run["state"]["optimizer"].optimizer
    head = {n: p for n, p in model.named_parameters() if n.startswith("ups_head.")}
    frozen = [p for n, p in model.named_parameters() if n not in head]
    assert head and frozen and all(p.requires_grad for p in head.values()) and not any(p.requires_grad for p in frozen)
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in head.values()}
    assert {id(p) for p in optimizer.state} == optimized  # Adam state only for the head
    tokenizer = build_char_tokenizer()
    examples = build_sft_examples(data["pairs"][:4], tokenizer, 64)
    cfg = mdm_setup.loss_config(mdm_args.parse_args(["--objective", "remask_sft"]), tokenizer)
    training.compute_loss(model, examples.input_ids, examples.prompt_lengths, cfg).loss.backward()
    assert all(p.grad is None for p in frozen) and all(p.grad is not None for p in head.values())
    model.zero_grad(set_to_none=True)
    saved = torch.load(ups_run["out"] / "checkpoints" / "step-00000004.ckpt", weights_only=True)["model"]
    assert set(saved) == set(head)  # checkpoints skip the frozen weights


def test_sft_prompt_is_never_noised_by_remask_sft(ups_run, data):
    mask_id = special_token_ids(build_char_tokenizer())["mask_id"]
    assert_prompts_clean(ups_run["seen"], prompt_prefixes(data["pairs"]), mask_id)


def test_export_loads_as_ups_head_and_runs_generate(ups_run, capsys):
    out, model = ups_run["out"], ups_run["state"]["model"].module
    head = load_ups(out / "ups")
    for name, value in head.state_dict().items():
        assert torch.equal(value, model.ups_head.state_dict()[name])
    loaded, _ = load_model_and_tokenizer(str(out))
    assert isinstance(loaded, RemeDiModel)  # OUT_DIR/ups picked up by the sampler's loader
    for name, value in loaded.backbone.state_dict().items():
        assert torch.equal(value, model.backbone.state_dict()[name])
    import generate

    generate.main(["--model", str(out), "--steps", "4", "--gen-length", "8", "--block-length", "8"])
    assert "ups confidence, remask=True" in capsys.readouterr().out


def test_mdm_sft_never_noises_the_prompt(data, tmp_path, monkeypatch):
    seen = record_model_inputs(monkeypatch)
    run("--objective", "mdm", "--data", data["root"] / "pairs.jsonl", "--val-fraction", 0, "--max-steps", 3,
        "--out-dir", tmp_path, *TINY)
    assert_prompts_clean(seen, prompt_prefixes(data["pairs"]), special_token_ids(build_char_tokenizer())["mask_id"])


def test_remask_sft_starts_from_a_trained_model_directory_in_bf16(data, tmp_path):
    run("--objective", "mdm", "--data", data["root"] / "pairs.jsonl", "--val-fraction", 0, "--max-steps", 2,
        "--out-dir", tmp_path / "base", *TINY)
    state = run("--objective", "remask_sft", "--model-path", tmp_path / "base", "--precision", "bf16-true",
                "--data", data["root"] / "pairs.jsonl", "--val-fraction", 0.2, "--max-steps", 2, "--ups-width", 16,
                "--out-dir", tmp_path / "remask", *SMALL)
    base = load_file(tmp_path / "base" / "model.safetensors")
    trained = state["model"].module.backbone.state_dict()
    assert all(trained[k].dtype == torch.bfloat16 and torch.equal(trained[k], base[k].bfloat16()) for k in base)
    assert all(math.isfinite(float(r["loss"])) for r in read_csv(tmp_path / "remask" / "metrics.csv"))
    loaded, _ = load_model_and_tokenizer(str(tmp_path / "remask"))
    assert isinstance(loaded, RemeDiModel) and loaded.config.d_model == 32


def test_remask_sft_trains_a_dual_stream_ups_and_exports_it(data, tmp_path):
    state = run("--objective", "remask_sft", "--ups-arch", "stream", "--ups-read-layers", "0", "1",
                "--ups-stream-dim", "16", "--data", data["root"] / "pairs.jsonl", "--val-fraction", 0.2,
                "--max-steps", 3, "--out-dir", tmp_path, *TINY)
    stream = state["model"].module.ups_head
    assert stream.read_layers == [0, 1]
    # --train ups: the write-back projections start at zero and are trained, the backbone is not.
    assert any(w.weight.abs().sum() > 0 for w in stream.write)
    loaded, _ = load_model_and_tokenizer(str(tmp_path))
    assert isinstance(loaded.ups_head, UPSStream)
    with pytest.raises(ValueError, match="only applies"):
        mdm_args.parse_args(["--objective", "remask_sft", "--ups-stream-dim", "16"])


def test_fsdp_is_refused_on_cpu_with_lightnings_message():
    with pytest.raises(ValueError, match="FSDP is only available on GPU"):
        train_mdm.setup(mdm_args.parse_args(["--strategy", "fsdp", "--accelerator", "cpu"]))


def test_train_lora_trains_block_adapters_and_the_ups_head_only(data, tmp_path):
    state = run("--objective", "remask_sft", "--train", "lora", "--lora-r", 2, "--data", data["root"] / "pairs.jsonl",
                "--val-data", data["root"] / "val.jsonl", "--prompt-column", "prompt", "--response-column", "response",
                "--max-steps", 2, "--val-every", 2, "--ups-width", 16, "--out-dir", tmp_path, *TINY)
    model, optimizer = state["model"].module, state["optimizer"].optimizer
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("ups_head.") or ".blocks." in n and ".lora_" in n for n in trainable)
    assert any(".blocks.0.ff_out.lora_A" in n for n in trainable)  # the block's ff_out gets LoRA ...
    lm_head = model.backbone.get_base_model().model.transformer.ff_out
    assert type(lm_head) is torch.nn.Linear  # ... the LM head of the same name does not
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert optimized == {id(named[n]) for n in trainable} and {id(p) for p in optimizer.state} <= optimized
    assert all(named[n].grad is None for n in named if n not in trainable)
    # The export merges the adapters: a plain LLaDA checkpoint whose logits equal the adapted model's.
    loaded, _ = load_model_and_tokenizer(str(tmp_path))
    x = torch.randint(7, 100, (2, 16))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, model(x).logits, rtol=1e-5, atol=1e-5)
    assert read_csv(tmp_path / "metrics.csv")[-1]["val_ups_auc"] != ""


class Killed(Exception):
    pass


@pytest.mark.parametrize("mode", ["remask_lora", "pretrain", "block_causal_mdm", "block_causal_remask"])
def test_resumed_run_reproduces_the_uninterrupted_losses(data, tmp_path, monkeypatch, mode):
    """6 steps straight vs killed during step 6 (checkpoints at 2 and 4) + --resume: the same CSV, bit for bit."""
    if mode == "remask_lora":  # exercises the noise generator, LoRA dropout (torch RNG), accumulation, validation
        argv = ["--objective", "remask_sft", "--train", "lora", "--lora-dropout", 0.2, "--replacement", "batch",
                "--data", data["root"] / "pairs.jsonl", "--val-fraction", 0.2, "--val-every", 3, "--ups-width", 16,
                "--grad-accum-steps", 2]
    elif mode.startswith("block_causal"):  # the two-copy block layout, per-block noise, for both objectives
        objective = ["--objective", "mdm"] if mode.endswith("mdm") else ["--objective", "remask_sft", "--train", "full",
                                                                            "--ups-width", 16]
        argv = [*objective, "--attention-layout", "block_causal", "--attention-block-length", 8,
                "--data", data["root"] / "pairs.jsonl", "--val-fraction", 0.2, "--val-every", 3]
    else:  # exercises the data generator (random-length crops)
        argv = ["--mode", "pretrain", "--data", data["root"] / "text.jsonl", "--random-length-prob", 0.5,
                "--val-fraction", 0]
    argv += ["--max-steps", 6, "--save-every", 2, *TINY]
    run(*argv, "--out-dir", tmp_path / "straight")

    calls, real_step = [0], training.train_step

    def dies_in_step_6(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 6:
            raise Killed
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", dies_in_step_6)
    with pytest.raises(Killed):
        run(*argv, "--out-dir", tmp_path / "resumed")
    monkeypatch.setattr(training, "train_step", real_step)
    assert [int(r["step"]) for r in read_csv(tmp_path / "resumed" / "metrics.csv")] == [1, 2, 3, 4, 5]
    with pytest.raises(FileExistsError, match="--resume"):
        run(*argv, "--out-dir", tmp_path / "resumed")
    run(*argv, "--out-dir", tmp_path / "resumed", "--resume")

    straight, resumed = (read_csv(tmp_path / d / "metrics.csv") for d in ("straight", "resumed"))
    assert [r["step"] for r in resumed] == ["1", "2", "3", "4", "5", "6"]
    for a, b in zip(straight, resumed):
        assert {k: v for k, v in a.items() if k != "step_time_s"} == {k: v for k, v in b.items() if k != "step_time_s"}
    weights = [load_file(tmp_path / d / "model.safetensors") for d in ("straight", "resumed")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    exported = json.loads((tmp_path / "resumed" / "config.json").read_text())
    expected = ("block_causal", 8) if mode.startswith("block_causal") else ("bidirectional", 32)
    assert (exported["attention_layout"], exported["attention_block_length"]) == expected


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch):
    calls, real_loss = [0], training.compute_loss

    def nan_in_step_3(*args, **kwargs):
        calls[0] += 1
        out = real_loss(*args, **kwargs)
        if calls[0] == 3:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(training, "compute_loss", nan_in_step_3)
    with pytest.raises(training.NonFiniteLossError, match=r"step 3: non-finite training loss nan.*step-00000002\.ckpt"):
        run("--objective", "remask_sft", "--train", "full", "--data", data["root"] / "pairs.jsonl", "--val-fraction", 0,
            "--max-steps", 6, "--save-every", 2, "--ups-width", 16, "--out-dir", tmp_path, *TINY)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000002.ckpt"]
    saved = torch.load(tmp_path / "checkpoints" / "step-00000002.ckpt", weights_only=True)
    assert saved["step"] == 2 and all(torch.isfinite(v).all() for v in saved["model"].values())
    assert [r["step"] for r in read_csv(tmp_path / "metrics.csv")] == ["1", "2"]
    assert not (tmp_path / "model.safetensors").exists()  # no export of a broken run


# ---------------------------------------------------------------------------------------- distributed


def test_ddp_on_two_cpu_processes_ends_with_identical_parameters(data, tmp_path):
    out = tmp_path / "run"
    argv = ["--objective", "remask_sft", "--train", "full", "--data", data["root"] / "pairs.jsonl",
            "--val-fraction", 0.2, "--max-steps", 3, "--val-every", 3, "--save-every", 1, "--ups-width", 16,
            "--out-dir", out, *TINY]
    rank0, rank1 = run_trainer_on_two_ranks(SCRIPT, argv, tmp_path)
    assert set(rank0) == set(rank1)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    exported = load_file(out / "model.safetensors")
    assert all(torch.equal(exported[k], rank0["backbone." + k]) for k in exported)
    after_step_1 = torch.load(out / "checkpoints" / "step-00000001.ckpt", weights_only=True)["model"]
    assert not all(torch.equal(after_step_1[k], rank0[k]) for k in rank0)  # the weights did move
    assert [r["step"] for r in read_csv(out / "metrics.csv")] == ["1", "2", "3"]


def test_block_causal_layout_reaches_the_loss_and_needs_sft():
    tokenizer = build_char_tokenizer()
    args = mdm_args.parse_args(["--objective", "remask_sft"])
    block_causal = LLaDAModelLM(tiny_config(tokenizer, d_model=32, n_layers=1, n_heads=4, n_kv_heads=2,
                                                      mlp_hidden_size=32, attention_layout="block_causal",
                                                      attention_block_length=8))
    assert mdm_setup.loss_config(args, tokenizer, block_causal.config).block_length == 8
    assert mdm_setup.loss_config(args, tokenizer).block_length is None
    cfg = mdm_setup.loss_config(mdm_args.parse_args([]), tokenizer, block_causal.config)
    input_ids = torch.randint(7, 100, (2, 24))
    out = training.compute_loss(block_causal, input_ids, torch.tensor([4, 6]), cfg, torch.Generator().manual_seed(0))
    assert out.noisy.t.shape == (2, 24) and out.logits.shape[:2] == (2, 24)
    with pytest.raises(ValueError, match="--mode sft"):
        mdm_args.check_args(mdm_args.parse_args(["--mode", "pretrain", "--attention-layout", "block_causal"]))
