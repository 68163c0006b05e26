"""scripts/gpu_check.py, the first command of a session with a lent GPU, kept working on the CPU.

The whole check runs here with `--preset tiny --device cpu`: every part must finish, and only the checks that
need CUDA (flash-attn, device memory) may be skipped. Parameter counts are worked out by hand from the tiny
preset's shapes (d_model 64, 2 blocks, SwiGLU 128, vocabulary 256).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from remedi import LLaDAConfig, RemeDiModel, UPSHead
from remedi.bench.build import build_backbone
from remedi.bench.parts import run_part
from remedi.bench.presets import LLADA_8B, LLADA_8B_PARAMETERS, PRESETS, TINY
from remedi.bench.record import Report, Skipped, failures, guarded

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"

# Embedding 256x64 + output head 256x64 + final norm 64, and per block: two norms 2x64, q/k/v/out 4x64x64,
# SwiGLU 2x64x128 + 128x64.
TINY_BACKBONE = 2 * 256 * 64 + 64 + 2 * (2 * 64 + 4 * 64 * 64 + 3 * 64 * 128)
TINY_MLP_HEAD = 64 * 256 + 256 + 256 + 1  # Linear(64, 256) -> GELU -> Linear(256, 1)
# LoRA r=8 on q/k/v/attn_out (8x64 + 64x8 each), ff_proj/up_proj (8x64 + 128x8), ff_out (8x128 + 64x8), 2 blocks.
TINY_LORA = 2 * (4 * (8 * 64 + 64 * 8) + 2 * (8 * 64 + 128 * 8) + (8 * 128 + 64 * 8))
CUDA_ONLY = {("forward", "sdpa_vs_flash_attn"), ("trainer", "remask_sft/memory_ratio")}


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "report.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--preset", "tiny", "--device", "cpu", "--threads", "1",
                             "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    return result, json.loads(out.read_text())


def test_cpu_run_finishes_every_part_and_skips_only_what_needs_cuda(cpu_run):
    result, report = cpu_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(report["parts"]) == ["model", "forward", "sampler", "trainer"]
    for name, part in report["parts"].items():
        assert part["status"] == "ok" and part["checks"], name
        for check, record in part["checks"].items():
            if (name, check) in CUDA_ONLY:
                assert record["status"] == "skipped" and record["reason"], (name, check)
            else:
                assert record["status"] == "ok", (name, check, record.get("error"), record.get("traceback"))
    assert "not importable" in report["parts"]["forward"]["checks"]["sdpa_vs_flash_attn"]["reason"]
    for name, part in report["parts"].items():  # the printed table names every check
        assert all(check in result.stdout for check in part["checks"]), name
    assert report["environment"]["torch"] == torch.__version__ and report["device"] == "cpu"


def test_cpu_run_model_part_counts_by_hand(cpu_run):
    _, report = cpu_run
    model = report["parts"]["model"]["checks"]["backbone_and_mlp_head"]
    assert model["backbone_parameters"] == TINY_BACKBONE == 115008
    assert model["ups_head_parameters"] == TINY_MLP_HEAD
    assert model["dtypes"] == ["torch.bfloat16"]
    stream = report["parts"]["model"]["checks"]["dual_stream_ups"]
    assert stream["finite"] and stream["ups_logits_shape"] == [1, 64] and stream["read_layers"] == [1, 1]


def test_cpu_run_forward_and_sampler_values_are_consistent(cpu_run):
    _, report = cpu_run
    padded = report["parts"]["forward"]["checks"]["left_padded_batch"]
    assert padded["relative_max_diff"] <= padded["tolerance"] < padded["relative_max_diff_without_mask"]
    assert padded["attn_implementation"] == "sdpa" and padded["flash_calls_on_padded_batch"] is None
    checks = report["parts"]["sampler"]["checks"]
    preset = PRESETS["tiny"]
    for steps in preset.sampler_steps:
        for batch in preset.sampler_batches:
            tps, ups = checks[f"tps_prob/steps{steps}/batch{batch}"], checks[f"ups_remask/steps{steps}/batch{batch}"]
            for run in (tps, ups):
                assert (run["steps"], run["batch"], run["gen_length"]) == (steps, batch, preset.gen_length)
                seconds = run["seconds_per_step"] * steps
                assert run["tokens_per_second"] == pytest.approx(batch * preset.gen_length / seconds)
            ratio = checks[f"ratio/steps{steps}/batch{batch}"]["ups_remask_over_tps_prob"]
            assert ratio == pytest.approx(ups["seconds_per_step"] / tps["seconds_per_step"])
    rollout = checks[f"rl_rollout/steps{preset.rollout_steps}/batch{max(preset.sampler_batches)}"]
    assert rollout["steps"] == preset.rollout_steps and rollout["seconds_per_step"] > 0
    steps = max(preset.sampler_steps)
    bidirectional = checks[f"kv_cache/bidirectional/steps{steps}"]
    block_causal = checks[f"kv_cache/block_causal/steps{steps}"]
    assert {"prefix_speedup", "dual_speedup", "prefix_agreement", "dual_agreement"} <= set(bidirectional)
    assert block_causal["exact_speedup"] > 0 and 0 <= block_causal["exact_agreement"] <= 1


def test_cpu_run_trainer_trains_what_each_mode_says(cpu_run):
    _, report = cpu_run
    checks = report["parts"]["trainer"]["checks"]
    expected_trainable = {"ups": TINY_MLP_HEAD, "lora": TINY_LORA + TINY_MLP_HEAD,
                          "full": TINY_BACKBONE + TINY_MLP_HEAD}
    for train, trainable in expected_trainable.items():
        step = checks[f"remask_sft/{train}"]
        assert step["trainable_parameters"] == trainable, train
        assert step["strategy"] == "SingleDeviceStrategy" and "FSDP" in step["strategy_note"]
        assert step["precision"] == "bf16-true" and step["seq_len"] == 1024
        assert f"--train {train}" in " ".join(step["argv"])
        assert len(step["losses"]) == PRESETS["tiny"].train_steps
        assert step["peak_memory_gib"] is None  # measured on CUDA only
    rl_step = checks["remask_rl/ups"]
    assert len(rl_step["rewards"]) == 4 and len(rl_step["losses"]) == rl_step["ppo_epochs"] == 2
    assert rl_step["rollout_s"] > 0 and rl_step["update_s"] > 0


def test_a_check_that_fails_is_recorded_and_the_next_one_runs(tmp_path):
    """A backbone whose context is shorter than prompt + answer makes every sampler run raise (the sampler's own
    ValueError); the part records each error with its traceback, skips the ratios and still runs the rollout."""
    config = LLaDAConfig(**dict(TINY, max_sequence_length=32))
    backbone = build_backbone(config, torch.device("cpu")).eval()
    state = {"backbone": backbone, "remedi": RemeDiModel(backbone, UPSHead(config.hidden_size, 16)).eval()}
    report = Report(tmp_path / "report.json", {})
    run_part(report, "sampler", PRESETS["tiny"], torch.device("cpu"), state)
    written = json.loads((tmp_path / "report.json").read_text())
    checks = written["parts"]["sampler"]["checks"]
    assert written["parts"]["sampler"]["status"] == "ok"
    runs = [c for name, c in checks.items() if name.startswith(("tps_prob/", "ups_remask/", "rl_rollout/"))]
    assert len(runs) == 9 and all(c["status"] == "error" for c in runs)
    assert "exceeds the model's context" in runs[0]["error"] and "Traceback" in runs[0]["traceback"]
    assert all(c["status"] == "skipped" for name, c in checks.items() if name.startswith("ratio/"))
    assert ("sampler", "ups_remask/steps16/batch1", "error") in failures(written)


def test_guarded_statuses():
    assert guarded(lambda: {"x": 1})["status"] == "ok"
    assert guarded(lambda: {"passed": False})["status"] == "failed"

    def needs_cuda():
        raise Skipped("CUDA only")

    skipped = guarded(needs_cuda)
    assert (skipped["status"], skipped["reason"]) == ("skipped", "CUDA only")
    broken = guarded(lambda: 1 / 0)
    assert broken["status"] == "error" and broken["error"].startswith("ZeroDivisionError")


def test_build_backbone_initialises_every_tensor_on_the_target_device():
    """meta -> to_empty -> init: nothing may keep to_empty's uninitialised memory."""
    config = LLaDAConfig(**TINY)
    built = build_backbone(config, torch.device("cpu"))
    assert not list(built.buffers())  # a buffer would keep to_empty's garbage: the model must have none
    for name, param in built.named_parameters():
        assert param.dtype == torch.bfloat16 and torch.isfinite(param).all(), name
        if name.endswith("norm.weight") or name.endswith("ln_f.weight"):
            assert torch.equal(param, torch.ones_like(param)), name
        else:
            assert param.float().std().item() == pytest.approx(0.02, rel=0.15), name


def test_llada_8b_preset_builds_on_the_meta_device_with_8b_parameters():
    backbone = build_backbone(LLaDAConfig(**LLADA_8B), torch.device("meta"))
    assert sum(p.numel() for p in backbone.parameters()) == LLADA_8B_PARAMETERS == 16031162368 // 2
    assert {p.dtype for p in backbone.parameters()} == {torch.bfloat16}
    assert PRESETS["8b"].seq_len == 1024 and PRESETS["8b"].sampler_steps == (256, 64)


def test_a_user_mistake_is_one_error_line():
    result = subprocess.run([sys.executable, str(SCRIPT), "--preset", "8b", "--device", "cpu"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "error: --preset 8b needs a GPU (16 GB of bf16 weights); on the CPU use --preset tiny\n"


@pytest.mark.parametrize("argv, message", [
    (["--device", "mps"], "error: --device mps: only cuda and cpu are supported"),
    (["--device", "gpu0"], "error: --device 'gpu0' is not a device name: use cuda, cuda:N or cpu"),
    pytest.param([], "error: --device cuda, but torch sees no GPU here: run on a GPU machine, or use --preset tiny "
                     "--device cpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")),
])
def test_device_mistakes_are_one_error_line(argv, message):
    result = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == message + "\n"
