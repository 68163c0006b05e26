"""The LLaDA-8B path, checked and measured in one command: what to run first on a new GPU machine.

    python scripts/gpu_check.py --out gpu_check.json               # one H100/H200, LLaDA-8B shapes
    python scripts/gpu_check.py --preset tiny --device cpu --threads 1   # every code path, seconds, on the CPU

Four parts, in order; every check inside a part is timed and guarded, so a failure (an out-of-memory
error, say) is recorded with its traceback and the next check runs:

1. model    LLaDAModelLM with LLaDA-8B's config.json shapes and random weights, built on the meta device,
            given storage on the target device (to_empty) and initialised there in bf16, so 8B fp32 weights
            never exist on the host; an MLP UPS head and, on the same backbone, the dual-stream UPS.
            Parameter counts and device memory after load.
2. forward  logits of SDPA against flash-attn on an unpadded batch (when flash-attn is importable), and a
            left-padded batch, which must take SDPA's masked path and give the unpadded row's logits.
3. sampler  `generate` seconds per step and tokens/s for tps_prob without remask (the plain backbone, as
            LLaDA samples) and ups + remask (the backbone + UPS head), their ratio, and one stochastic
            Remask RL rollout (position_temperature > 0, return_rollout=True).
4. trainer  one Remask SFT optimizer step per --train ups|lora|full and one Remask RL step (a group of 4),
            with the trainers' own flags (train_mdm.py / train_mdm_rl.py parse_args), data loading, Fabric
            (FSDP on one GPU, bf16-true) and step functions, in this process on a freshly built backbone:
            step time and peak device memory. The trainers' checkpoints and model export are not run: for
            --train full on the 8B they would write 16 GB of weights and 32 GB of AdamW state, then export the
            16 GB of weights again.

The JSON report is rewritten after every check, so a run cut short keeps what it measured; a table is printed
at the end. Exit status 0 when no check failed or raised, 1 otherwise (a skipped check is neither).
"""

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

# The check never needs the hub, and a GPU node often cannot reach it: fail fast instead of waiting on timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
# The check also runs from a bare copy of the tree, where this package is not pip-installed.
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from remedi import LLaDAConfig, LLaDAModelLM, RemeDiModel, UPSHead, UPSStream  # noqa: E402
from remedi.model import llada as modeling  # noqa: E402
from remedi.train import rl, training  # noqa: E402
from remedi.cli import run_cli  # noqa: E402
from remedi.model.loading import load_tokenizer  # noqa: E402
from remedi.sampler.sampling import generate  # noqa: E402
from remedi.train.rewards import correctness_reward, score_completions  # noqa: E402

DTYPE = torch.bfloat16
UPS_WIDTH = 256  # train_mdm.py's default --ups-width
STREAM_DIM, STREAM_HEADS = 64, 4  # train_mdm.py's default dual stream: width 64, width // 16 heads
# Two bf16 attention kernels, or a masked and an unmasked one, may differ by rounding; 5% of the largest logit
# is the bound tests/test_model.py holds bf16 against float32 to.
LOGIT_TOLERANCE = 0.05
GIB = 2**30

# LLaDA-8B's config.json (tests/test_model.py has it field for field); its safetensors hold 16,031,162,368 bytes
# of bf16, i.e. 8,015,581,184 parameters.
LLADA_8B = dict(d_model=4096, n_heads=32, n_kv_heads=32, n_layers=32, mlp_ratio=4, mlp_hidden_size=12288,
                vocab_size=126464, embedding_size=126464, max_sequence_length=4096, rope_theta=500000.0,
                rms_norm_eps=1e-5, init_std=0.02, mask_token_id=126336, eos_token_id=126081, pad_token_id=126081,
                eot_token_id=126348)
LLADA_8B_PARAMETERS = 8_015_581_184
# The same architecture at a size where every part runs on 2 CPU cores in seconds; the vocabulary is large
# enough for the character tokenizer the trainer parts use.
TINY = dict(d_model=64, n_heads=4, n_kv_heads=4, n_layers=2, mlp_hidden_size=128, vocab_size=256,
            max_sequence_length=1024, rope_theta=500000.0, mask_token_id=250, eos_token_id=251, pad_token_id=251,
            eot_token_id=252)


@dataclass(frozen=True)
class Preset:
    model: dict  # LLaDAConfig fields
    expected_parameters: int  # of the backbone; 0: not checked
    forward_shape: tuple  # (batch, length) of the forward checks
    prompt_length: int
    gen_length: int
    block_length: int
    sampler_steps: tuple  # denoising steps of a whole answer
    sampler_batches: tuple
    rollout_steps: int  # the Remask RL rollout runs at the largest sampler batch
    seq_len: int  # Remask SFT rows
    train_steps: int  # optimizer steps per --train mode; the first one warms up and is reported apart
    rl_gen_length: int
    rl_block_length: int
    rl_steps: int


PRESETS = {
    "8b": Preset(model=LLADA_8B, expected_parameters=LLADA_8B_PARAMETERS, forward_shape=(2, 512), prompt_length=128,
                 gen_length=256, block_length=32, sampler_steps=(256, 64), sampler_batches=(1, 8), rollout_steps=64,
                 seq_len=1024, train_steps=3, rl_gen_length=256, rl_block_length=32, rl_steps=64),
    "tiny": Preset(model=TINY, expected_parameters=0, forward_shape=(2, 32), prompt_length=16, gen_length=64,
                   block_length=32, sampler_steps=(64, 16), sampler_batches=(1, 8), rollout_steps=16, seq_len=1024,
                   train_steps=3, rl_gen_length=32, rl_block_length=32, rl_steps=8),
}
PART_NAMES = ("model", "forward", "sampler", "trainer")


# --- guarding, timing, memory -------------------------------------------------------------------------------


class Skipped(Exception):
    """A check that cannot run here (flash-attn absent, CUDA needed, an earlier part failed); not a failure."""


def guarded(check, *args):
    """Run one check: its values plus status and seconds. status: ok, failed (it ran and returned passed=False),
    skipped (it raised Skipped) or error (any other exception, recorded with its traceback)."""
    start = time.perf_counter()
    try:
        values = check(*args)
        status = "ok" if values.get("passed", True) else "failed"
    except Skipped as reason:
        values, status = {"reason": str(reason)}, "skipped"
    except Exception as error:  # an out-of-memory error too: recorded, and the next check runs
        values = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        status = "error"
    return {"status": status, "seconds": round(time.perf_counter() - start, 3), **values}


class Report:
    """The JSON report, rewritten after every check so that a run cut short keeps what it measured, and one
    progress line per check on stdout (a batch job's log shows how far it got)."""

    def __init__(self, path, header):
        self.path, self.start = path, time.perf_counter()
        self.data = {**header, "parts": {}, "total_seconds": 0.0}

    def begin_part(self, part):
        self.data["parts"][part] = {"status": "running", "checks": {}}
        self.save()

    def end_part(self, part, result):
        self.data["parts"][part].update(result)
        self.save()

    def check(self, part, name, check, *args):
        """Run `check(*args)` guarded, record it as `name` in `part`; returns the record."""
        result = guarded(check, *args)
        self.data["parts"][part]["checks"][name] = result
        self.save()
        elapsed = self.data["total_seconds"]
        print(f"gpu_check [{elapsed:6.1f} s] {part} {name}: {result['status']} ({result['seconds']:.1f} s)", flush=True)
        return result

    def save(self):
        self.data["total_seconds"] = round(time.perf_counter() - self.start, 3)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device, run):
    """(run(), seconds), with the device's queued work counted in."""
    synchronize(device)
    start = time.perf_counter()
    result = run()
    synchronize(device)
    return result, time.perf_counter() - start


def reset_peak_memory(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def allocated_gib(device):
    return round(torch.cuda.memory_allocated(device) / GIB, 3) if device.type == "cuda" else None


def peak_gib(device):
    return round(torch.cuda.max_memory_allocated(device) / GIB, 3) if device.type == "cuda" else None


def release(device):
    """Give back what dropped objects held: memory of one check must not count in the next one's peak."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def count(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def format_memory(gib):
    return "" if gib is None else f", peak {gib:.2f} GiB"


def format_count(n):
    """8015581184 -> '8.016B', 16897 -> '16.9K': one format for the 8B and the tiny preset."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.{3 if suffix == 'B' else 1}f}{suffix}"
    return str(n)


# --- building the model on the device -------------------------------------------------------------------------


def build_backbone(config, device, dtype=DTYPE):
    """LLaDAModelLM with random weights made on `device` in `dtype`, never materialised on the host.

    The module is built on the meta device (shapes only), cast there (free), given uninitialised storage on
    `device` by to_empty and initialised in place with the model's own `_init_weights`. The model has no
    buffers (rotary frequencies are computed in float32 in forward), so nothing is left uninitialised.
    """
    with torch.device("meta"):
        model = LLaDAModelLM(config).to(dtype)
    model.to_empty(device=device)
    with torch.no_grad():
        model.apply(model._init_weights)
    return model


def build_on(device, make, dtype=DTYPE):
    """A small module (a UPS head) made directly on `device`, then cast, as the trainer casts a fresh head."""
    with torch.device(device):
        module = make()
    return module.to(dtype=dtype)


def ordinary_ids(config, shape, device, seed):
    """Random token ids below every special id of `config` (the weights are random: any ordinary id will do)."""
    high = min(config.mask_token_id, config.eos_token_id, config.eot_token_id, config.pad_token_id)
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=generator).to(device)


# --- part 1: the model --------------------------------------------------------------------------------------


def part_model(preset, device, state, check):
    """The 8B backbone + MLP UPS head that parts 2 and 3 use, then the dual-stream UPS on the same backbone."""
    config = LLaDAConfig(**preset.model)
    check("backbone_and_mlp_head", check_backbone, preset, config, device, state)
    check("dual_stream_ups", check_dual_stream, config, device, state)


def check_backbone(preset, config, device, state):
    reset_peak_memory(device)
    backbone = build_backbone(config, device).eval()
    backbone_gib = allocated_gib(device)
    head = build_on(device, lambda: UPSHead(config.hidden_size, UPS_WIDTH))
    state["backbone"], state["remedi"] = backbone, RemeDiModel(backbone, head).eval()
    n_backbone, n_head = count(backbone), count(head)
    dtypes = sorted({str(p.dtype) for p in backbone.parameters()})
    passed = dtypes == [str(DTYPE)] and (preset.expected_parameters in (0, n_backbone))
    values = {"backbone_parameters": n_backbone, "expected_backbone_parameters": preset.expected_parameters or None,
              "ups_head_parameters": n_head, "dtypes": dtypes, "memory_after_backbone_gib": backbone_gib,
              "memory_after_load_gib": allocated_gib(device), "peak_memory_gib": peak_gib(device)}
    summary = f"backbone {format_count(n_backbone)}, MLP head {format_count(n_head)} parameters"
    if device.type == "cuda":
        summary += f"; {values['memory_after_load_gib']:.2f} GiB after load"
    return {**values, "passed": passed, "summary": summary}


def check_dual_stream(config, device, state):
    """UPSStream reading the backbone's second half, as `train_mdm.py --ups-arch stream` builds it by default.

    Attaching it hooks the backbone's blocks for good; the hooks do nothing outside the stream model's own
    forward pass, so parts 2 and 3 see the plain backbone (both sampler settings pass through them alike).
    """
    backbone = needs(state, "backbone")
    read_layers = list(range(config.n_layers // 2, config.n_layers))
    stream = build_on(device, lambda: UPSStream(config.hidden_size, read_layers, STREAM_DIM, STREAM_HEADS))
    model = RemeDiModel(backbone, stream).eval()
    ids = ordinary_ids(config, (1, 64), device, seed=1)
    with torch.no_grad():
        out = model(ids)
    finite = bool(torch.isfinite(out.ups_logits).all())
    n_stream = count(stream)
    return {"parameters": n_stream, "read_layers": [read_layers[0], read_layers[-1]],
            "ups_logits_shape": list(out.ups_logits.shape), "finite": finite,
            "memory_after_load_gib": allocated_gib(device), "passed": finite and out.ups_logits.shape == ids.shape,
            "summary": f"{format_count(n_stream)} parameters over layers {read_layers[0]}-{read_layers[-1]}"}


def needs(state, key):
    if key not in state:
        raise Skipped("needs the model of part 'model', which did not load")
    return state[key]


# --- part 2: forward passes ---------------------------------------------------------------------------------


def part_forward(preset, device, state, check):
    check("sdpa_vs_flash_attn", check_flash_attention, preset, device, state)
    check("left_padded_batch", check_left_padding, preset, device, state)


@contextmanager
def attention_implementation(model, name):
    previous = model.config._attn_implementation
    model.config._attn_implementation = name
    try:
        yield
    finally:
        model.config._attn_implementation = previous


@contextmanager
def counted_flash_calls():
    """A list that grows by one per flash-attn kernel call while the block runs (None without flash-attn).

    The model reads the module-level `flash_attn_func` at call time, so wrapping it (the real kernel still
    runs) is how a run can show which path a batch took.
    """
    real = modeling.flash_attn_func
    if real is None:
        yield None
        return
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    modeling.flash_attn_func = counted
    try:
        yield calls
    finally:
        modeling.flash_attn_func = real


def logit_difference(logits, reference):
    """Largest and mean absolute difference, relative to the largest reference logit, and argmax agreement."""
    logits, reference = logits.float(), reference.float()
    diff = (logits - reference).abs()
    scale = float(reference.abs().max())
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()), "max_abs_logit": scale,
            "relative_max_diff": float(diff.max()) / scale,
            "argmax_agreement": float((logits.argmax(-1) == reference.argmax(-1)).float().mean())}


def check_flash_attention(preset, device, state):
    backbone = needs(state, "backbone")
    if modeling.flash_attn_func is None:
        raise Skipped("flash-attn is not importable (pip install -r requirements-gpu.txt); SDPA serves every batch")
    if device.type != "cuda":
        raise Skipped("flash-attn runs on CUDA only")
    ids = ordinary_ids(backbone.config, preset.forward_shape, device, seed=2)
    with torch.no_grad():
        with attention_implementation(backbone, "sdpa"):
            sdpa = backbone(ids).logits
        with attention_implementation(backbone, "flash_attention_2"), counted_flash_calls() as calls:
            flash = backbone(ids).logits
    values = logit_difference(flash, sdpa)
    passed = values["relative_max_diff"] <= LOGIT_TOLERANCE and len(calls) == backbone.config.n_layers
    return {**values, "flash_calls": len(calls), "tolerance": LOGIT_TOLERANCE, "passed": passed,
            "summary": f"max |diff| {values['max_abs_diff']:.3g} ({values['relative_max_diff']:.2%} of max logit), "
                       f"argmax agrees {values['argmax_agreement']:.1%}"}


def check_left_padding(preset, device, state):
    """Row 0 left-padded under flash_attention_2 (when importable): its real tokens' logits must equal those of
    the row alone, no flash-attn call may happen, and dropping the mask must change them (the mask matters)."""
    backbone = needs(state, "backbone")
    config = backbone.config
    batch, length = preset.forward_shape
    pad = length // 4
    ids = ordinary_ids(config, (batch, length), device, seed=3)
    padded = ids.clone()
    padded[0, :pad] = config.pad_token_id
    attention_mask = torch.ones_like(ids)
    attention_mask[0, :pad] = 0
    implementation = "sdpa" if modeling.flash_attn_func is None else "flash_attention_2"
    with torch.no_grad(), attention_implementation(backbone, implementation):
        alone = backbone(ids[:1, pad:]).logits
        with counted_flash_calls() as calls:
            masked = backbone(padded, attention_mask=attention_mask).logits[:1, pad:]
        unmasked = backbone(padded).logits[:1, pad:]
    values = logit_difference(masked, alone)
    ignoring_mask = logit_difference(unmasked, alone)["relative_max_diff"]
    flash_calls = None if calls is None else len(calls)
    passed = values["relative_max_diff"] <= LOGIT_TOLERANCE and not flash_calls and ignoring_mask > LOGIT_TOLERANCE
    return {**values, "attn_implementation": implementation, "flash_calls_on_padded_batch": flash_calls,
            "relative_max_diff_without_mask": ignoring_mask, "padding": pad, "tolerance": LOGIT_TOLERANCE,
            "passed": passed,
            "summary": f"padded row vs alone {values['relative_max_diff']:.2%} of max logit "
                       f"({ignoring_mask:.0%} without the mask); flash calls: {flash_calls}"}


# --- part 3: the sampler --------------------------------------------------------------------------------------


def part_sampler(preset, device, state, check):
    """Every (steps, batch) for tps_prob without remask on the backbone and ups + remask on backbone + head."""
    backbone, remedi = needs(state, "backbone"), needs(state, "remedi")
    config = backbone.config
    common = dict(gen_length=preset.gen_length, block_length=preset.block_length, mask_id=config.mask_token_id)
    settings = {"tps_prob": (backbone, dict(common, confidence_source="tps_prob", remask=False)),
                "ups_remask": (remedi, dict(common, confidence_source="ups", remask=True))}
    largest = max(preset.sampler_batches)
    prompt = ordinary_ids(config, (largest, preset.prompt_length), device, seed=4)  # smaller batches: its first rows
    check("warm_up", warm_up, settings, prompt, preset)
    for steps in sorted(preset.sampler_steps):  # the short runs first: every ratio early, should time run out
        for batch in preset.sampler_batches:
            runs = {name: check(f"{name}/steps{steps}/batch{batch}", sample, model, prompt[:batch], steps, options,
                                device)
                    for name, (model, options) in settings.items()}
            check(f"ratio/steps{steps}/batch{batch}", step_time_ratio, runs)
    rollout = dict(common, temperature=1.0, position_temperature=1.0, return_rollout=True)
    check(f"rl_rollout/steps{preset.rollout_steps}/batch{largest}", sample, remedi, prompt, preset.rollout_steps,
          rollout, device)
    steps = max(preset.sampler_steps)
    ups_remask = settings["ups_remask"][1]
    check(f"kv_cache/bidirectional/steps{steps}", cache_modes, remedi, prompt, steps, ups_remask, device,
          ("prefix", "dual"))
    with block_causal_layout(backbone, preset.block_length):
        check(f"kv_cache/block_causal/steps{steps}", cache_modes, remedi, prompt, steps, ups_remask, device,
              ("exact",))


@contextmanager
def block_causal_layout(backbone, block_length):
    """The same weights read as a block-causal model (the layout is a config field read at every forward):
    an 8B model is not copied to time its exact cache."""
    saved = backbone.config.attention_layout, backbone.config.attention_block_length
    backbone.config.attention_layout, backbone.config.attention_block_length = "block_causal", block_length
    try:
        yield
    finally:
        backbone.config.attention_layout, backbone.config.attention_block_length = saved


def cache_modes(model, prompt, steps, options, device, modes):
    """Tokens/s of each kv_cache mode over no cache, and the share of answer tokens agreeing with no cache.

    A measurement, not a pass/fail: in bf16 even the exact cache's chunked passes round differently from the
    full pass, so its tokens can drift (the token identity is asserted in float32 by the tests)."""
    prompt_length = prompt.shape[1]
    reference, base = timed(device, lambda: generate(model, prompt, steps=steps, **options))
    answer_tokens = prompt.shape[0] * options["gen_length"]
    values = {"steps": steps, "batch": prompt.shape[0], "none_tokens_per_second": answer_tokens / base}
    parts = []
    for mode in modes:
        ids, seconds = timed(device, lambda: generate(model, prompt, steps=steps, **options, kv_cache=mode))
        agreement = (ids[:, prompt_length:] == reference[:, prompt_length:]).float().mean().item()
        values[f"{mode}_speedup"], values[f"{mode}_agreement"] = base / seconds, agreement
        values[f"{mode}_tokens_per_second"] = answer_tokens / seconds
        parts.append(f"{mode} {base / seconds:.2f}x ({agreement:.0%} same tokens)")
    return {**values, "summary": f"none {values['none_tokens_per_second']:.0f} tokens/s; " + ", ".join(parts)}


def warm_up(settings, prompt, preset):
    """One block-per-step generation with each model, so kernel selection and allocator growth are not timed."""
    for model, options in settings.values():
        generate(model, prompt, steps=preset.gen_length // preset.block_length, **options)
    return {}


def sample(model, prompt, steps, options, device):
    reset_peak_memory(device)
    _, seconds = timed(device, lambda: generate(model, prompt, steps=steps, **options))
    batch, gen_length = prompt.shape[0], options["gen_length"]
    values = {"steps": steps, "batch": batch, "prompt_length": prompt.shape[1], "gen_length": gen_length,
              "block_length": options["block_length"], "seconds_per_step": seconds / steps,
              "tokens_per_second": batch * gen_length / seconds, "peak_memory_gib": peak_gib(device)}
    summary = f"{values['seconds_per_step'] * 1e3:.1f} ms/step, {values['tokens_per_second']:.0f} tokens/s"
    return {**values, "summary": summary + format_memory(values["peak_memory_gib"])}


def step_time_ratio(runs):
    if any(run["status"] != "ok" for run in runs.values()):
        raise Skipped("a run of this pair did not finish")
    ratio = runs["ups_remask"]["seconds_per_step"] / runs["tps_prob"]["seconds_per_step"]
    return {"ups_remask_over_tps_prob": ratio, "summary": f"ups+remask / tps_prob = {ratio:.3f}"}


# --- part 4: the trainers -------------------------------------------------------------------------------------


def import_trainer(name):
    """SMDM/pretrain/<name>.py as a module (importing it parses no argv and starts nothing)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "SMDM" / "pretrain" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_gsm8k_schema_rows(path, n_rows=16):
    """Question/answer rows in GSM8K's schema, worked steps ending in '#### <number>': SFT pairs and RL problems."""
    with open(path, "w") as f:
        for i in range(n_rows):
            apples, bought, eaten = 3 + i, 2 * i + 1, i % 3
            total = apples + bought - eaten
            question = (f"Tom has {apples} apples. He buys {bought} more at the market and eats {eaten} of them "
                        "on the way home. How many apples does Tom have when he gets home?")
            answer = (f"Tom starts with {apples} apples and buys {bought}, so he has {apples} + {bought} = "
                      f"{apples + bought}.\nHe eats {eaten}, so {apples + bought} - {eaten} = {total} are left.\n"
                      f"#### {total}")
            f.write(json.dumps({"question": question, "answer": answer}) + "\n")


CPU_STRATEGY_NOTE = "single-device strategy: Lightning runs FSDP on GPUs only, so FSDP is not checked on the CPU"


def hardware_flags(device):
    """Fabric flags: FSDP over one GPU in bf16, as the 8B runs use; on the CPU the single-device strategy."""
    if device.type == "cuda":
        return ["--accelerator", "cuda", "--devices", "1", "--strategy", "fsdp", "--precision", "bf16-true"]
    return ["--accelerator", "cpu", "--devices", "1", "--strategy", "auto", "--precision", "bf16-true"]


def strategy_record(fabric, args):
    record = {"strategy": type(fabric.strategy).__name__, "precision": args.precision}
    if fabric.device.type == "cpu":
        record["strategy_note"] = CPU_STRATEGY_NOTE
    return record


def part_trainer(preset, device, state, check):
    """Drops parts 1-3's model first: each trainer check builds its own backbone (FSDP wraps a module in place)."""
    state.clear()
    release(device)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "gsm8k_schema.jsonl"
        write_gsm8k_schema_rows(data)
        steps = {}
        for train in ("ups", "lora", "full"):
            steps[train] = check(f"remask_sft/{train}", remask_sft_step, preset, device, train, data)
            release(device)
        check("remask_sft/memory_ratio", memory_ratio, steps["ups"], steps["full"])
        check("remask_rl/ups", remask_rl_step, preset, device, data)
        release(device)


def remask_sft_step(preset, device, train, data):
    train_mdm = import_trainer("train_mdm")
    argv = ["--objective", "remask_sft", "--train", train, "--data", str(data), "--prompt-column", "question",
            "--response-column", "answer", "--val-fraction", "0", "--seq-len", str(preset.seq_len),
            "--micro-batch-size", "1", "--max-steps", str(preset.train_steps), *hardware_flags(device)]
    args = train_mdm.parse_args(argv)
    fabric = training.make_fabric(args.accelerator, args.devices, args.num_nodes, args.strategy, args.precision)
    values = fabric.launch(run_remask_sft, train_mdm, args, preset)
    return {**values, "argv": argv}


def run_remask_sft(fabric, train_mdm, args, preset):
    """train_mdm.main's setup (its data loading, fresh UPS, LoRA, trainable set, Fabric wrapping, optimizer and
    loss config) on an on-device backbone, then fit's optimizer steps through `training.train_step`."""
    device = fabric.device
    tokenizer = load_tokenizer(None, None)  # the character tokenizer: LLaDA's is not available offline
    train_rows, _ = train_mdm.load_data(args, tokenizer)
    config = LLaDAConfig(**preset.model)
    reset_peak_memory(device)
    backbone = build_backbone(config, device)
    head = build_on(device, lambda: train_mdm.fresh_ups(args, config))
    if args.train == "lora":
        backbone = training.add_lora(backbone, args.lora_r, args.lora_alpha, args.lora_dropout)
    model = RemeDiModel(backbone, head)
    training.set_trainable(model, args.train)
    n_total, n_trainable = count(model), count(model, trainable_only=True)
    model = fabric.setup(model)
    optimizer = fabric.setup_optimizers(training.build_optimizer(model, args.lr, args.weight_decay))
    loss_cfg = train_mdm.loss_config(args, tokenizer)
    generator = torch.Generator(device).manual_seed(args.seed)
    after_setup = allocated_gib(device)
    seconds, losses = [], []
    for step in range(args.max_steps):
        indices = training.micro_batch_indices(step, len(train_rows), args.micro_batch_size, fabric.global_rank,
                                               fabric.world_size, args.seed)
        batch = [train_rows.take(indices)]
        result, elapsed = timed(device, lambda: training.train_step(fabric, model, optimizer, batch, loss_cfg,
                                                                    generator, args.grad_clip))
        seconds.append(elapsed)
        losses.append(result.loss)
    step_s = sum(seconds[1:]) / len(seconds[1:]) if len(seconds) > 1 else seconds[0]
    peak = peak_gib(device)
    summary = f"{step_s:.3f} s/step{format_memory(peak)}, {format_count(n_trainable)} of {format_count(n_total)} train"
    return {**strategy_record(fabric, args), "seq_len": args.seq_len,
            "micro_batch_size": args.micro_batch_size, "tokenizer": "character (LLaDA's is not available offline)",
            "parameters": n_total, "trainable_parameters": n_trainable, "first_step_s": seconds[0],
            "step_s": step_s, "losses": losses, "memory_after_setup_gib": after_setup, "peak_memory_gib": peak,
            "summary": summary}


def memory_ratio(ups, full):
    """Peak memory of --train ups over --train full, whole and above the weights (what training itself adds)."""
    if ups["status"] != "ok" or full["status"] != "ok":
        raise Skipped("needs both the --train ups and the --train full step")
    if ups["peak_memory_gib"] is None:
        raise Skipped("device memory is measured on CUDA only")
    whole = ups["peak_memory_gib"] / full["peak_memory_gib"]
    above = ((ups["peak_memory_gib"] - ups["memory_after_setup_gib"])
             / (full["peak_memory_gib"] - full["memory_after_setup_gib"]))
    return {"ups_over_full_peak": whole, "ups_over_full_above_weights": above,
            "summary": f"ups / full peak = {whole:.3f} (above the weights {above:.3f})"}


def remask_rl_step(preset, device, data):
    train_mdm_rl = import_trainer("train_mdm_rl")
    argv = ["--data", str(data), "--val-fraction", "0", "--reward", "gsm8k", "--train", "ups", "--group-size", "4",
            "--prompts-per-step", "1", "--gen-length", str(preset.rl_gen_length), "--block-length",
            str(preset.rl_block_length), "--steps", str(preset.rl_steps), "--temperature", "1.2",
            "--position-temperature", "1.2", "--ppo-epochs", "2", "--max-steps", "1", *hardware_flags(device)]
    args = train_mdm_rl.parse_args(argv)
    fabric = training.make_fabric(args.accelerator, args.devices, args.num_nodes, args.strategy, args.precision)
    values = fabric.launch(run_remask_rl, train_mdm_rl, args, preset)
    return {**values, "argv": argv}


def run_remask_rl(fabric, train_mdm_rl, args, preset):
    """train_mdm_rl.main's setup on an on-device backbone with a fresh MLP UPS head (a real run starts from a
    Remask SFT head), then the body of one step of its fit: a group rollout, rewards, --ppo-epochs updates."""
    device = fabric.device
    tokenizer = load_tokenizer(None, None)
    config = LLaDAConfig(**preset.model)
    problems, _ = train_mdm_rl.load_problems(args, tokenizer, config.max_sequence_length)
    reset_peak_memory(device)
    head = build_on(device, lambda: UPSHead(config.hidden_size, UPS_WIDTH))
    model = RemeDiModel(build_backbone(config, device), head)
    training.set_trainable(model, args.train)
    model = fabric.setup(model)
    optimizer = fabric.setup_optimizers(training.build_optimizer(model, args.lr, args.weight_decay, betas=(0.9, 0.99)))
    model.eval()
    loss_cfg = rl.PolicyLossConfig(clip_eps=args.clip_eps, kl_coef=args.kl_coef,
                                   token_term=args.train != "ups" and args.temperature > 0)
    indices = training.micro_batch_indices(0, len(problems), args.prompts_per_step, fabric.global_rank,
                                           fabric.world_size, args.seed)
    batch = [problems[i] for i in indices.tolist()]

    def rollout_and_rewards():
        rollout, completions = train_mdm_rl.sample_group(fabric, model, tokenizer, [q for q, _ in batch],
                                                         args.steps[0], args)
        references = [ref for _, ref in batch for _ in range(args.group_size)]
        rewards, _ = score_completions(correctness_reward(args.reward), completions, references, args.format_reward)
        return rollout, torch.tensor(rewards, device=device)

    # Random weights earn no reward, so the advantages are 0; the updates still run every forward and backward pass.
    (rollout, rewards), rollout_s = timed(device, rollout_and_rewards)
    advantages = rl.group_advantages(rewards, args.group_size)

    def updates():
        return [rl.policy_update(fabric, model, optimizer, rollout, advantages, loss_cfg, args.gen_length,
                                 args.grad_clip, args.update_micro_batch) for _ in range(args.ppo_epochs)]

    results, update_s = timed(device, updates)
    peak = peak_gib(device)
    return {**strategy_record(fabric, args), "group_size": args.group_size,
            "rollout_steps": args.steps[0], "gen_length": args.gen_length, "block_length": args.block_length,
            "ppo_epochs": args.ppo_epochs, "rollout_s": rollout_s, "update_s": update_s,
            "rewards": rewards.tolist(), "losses": [r["loss"] for r in results], "peak_memory_gib": peak,
            "summary": f"rollout {rollout_s:.2f} s + {args.ppo_epochs} updates {update_s:.2f} s{format_memory(peak)}"}


# --- the run --------------------------------------------------------------------------------------------------

PARTS = {"model": part_model, "forward": part_forward, "sampler": part_sampler, "trainer": part_trainer}


def environment(device):
    """What produced the numbers: versions, the device, the date and the commit."""
    packages = {}
    for name in ("transformers", "lightning", "peft", "datasets", "tokenizers", "flash_attn"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    env = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
           "torch": torch.__version__, "cuda": torch.version.cuda, "packages": packages,
           "torch_threads": torch.get_num_threads(), "git_commit": git_commit()}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        env.update(device_name=properties.name, device_memory_gib=round(properties.total_memory / GIB, 2))
    else:
        env.update(device_name=platform.processor() or platform.machine(), device_memory_gib=None)
    return env


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None  # a copy of the tree without .git


def run_part(report, name, preset, device, state):
    """One part; an exception outside its checks (in its own setup) is recorded as the part's error."""
    print(f"gpu_check: part {name}", flush=True)
    report.begin_part(name)
    start = time.perf_counter()
    try:
        PARTS[name](preset, device, state, partial(report.check, name))
        result = {"status": "ok"}
    except Skipped as reason:
        result = {"status": "skipped", "reason": str(reason)}
    except Exception as error:
        result = {"status": "error", "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
    release(device)
    result.update(seconds=round(time.perf_counter() - start, 3), memory_allocated_after_gib=allocated_gib(device))
    report.end_part(name, result)


def failures(report):
    """(part, check, status) of every part or check that failed or raised."""
    found = []
    for name, part in report["parts"].items():
        if part["status"] == "error":
            found.append((name, "", "error"))
        found += [(name, check, c["status"]) for check, c in part["checks"].items()
                  if c["status"] in ("failed", "error")]
    return found


def print_table(report):
    print(f"\ngpu_check: preset {report['preset']} on {report['device']} "
          f"({report['environment']['device_name']}), torch {report['environment']['torch']}, "
          f"CUDA {report['environment']['cuda']}, {report['environment']['date_utc']} UTC")
    print(f"{'part':8s} {'check':32s} {'status':8s} {'seconds':>8s}  result")
    for name, part in report["parts"].items():
        if part["status"] != "ok":
            print(f"{name:8s} {'':32s} {part['status']:8s} {part['seconds']:8.1f}  "
                  f"{part.get('error') or part.get('reason')}")
        for check, c in part["checks"].items():
            text = c.get("summary") or c.get("error") or c.get("reason") or ""
            print(f"{name:8s} {check:32s} {c['status']:8s} {c['seconds']:8.1f}  {text}")
    print(f"total {report['total_seconds']:.1f} s")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="8b",
                   help="8b: LLaDA-8B's shapes and the issue's workloads; tiny: the same code paths in seconds")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--parts", nargs="+", choices=PART_NAMES, default=list(PART_NAMES),
                   help="run only these parts (forward and sampler need model)")
    p.add_argument("--out", type=Path, default=None, help="JSON report (default runs/gpu_check/PRESET-DEVICE.json)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return p.parse_args(argv)


def resolve_device(args):
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device!r} is not a device name: use cuda, cuda:N or cpu") from None
    if device.type not in ("cuda", "cpu"):
        raise ValueError(f"--device {args.device}: only cuda and cpu are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no GPU here: run on a GPU machine, or use "
                         "--preset tiny --device cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type == "cpu" and args.preset == "8b":
        raise ValueError("--preset 8b needs a GPU (16 GB of bf16 weights); on the CPU use --preset tiny")
    return device


def main(argv=None):
    args = parse_args(argv)
    device = resolve_device(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = args.out or ROOT / "runs" / "gpu_check" / f"{args.preset}-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    preset = PRESETS[args.preset]
    command = " ".join(["scripts/gpu_check.py"] + (sys.argv[1:] if argv is None else argv))
    header = {"preset": args.preset, "device": str(device), "command": command, "environment": environment(device)}
    report = Report(out, header)
    state = {}  # what part 1 hands to parts 2 and 3: the backbone and the backbone + UPS head
    for name in PART_NAMES:
        if name in args.parts:
            run_part(report, name, preset, device, state)
    print_table(report.data)
    print(f"wrote {out}")
    return 1 if failures(report.data) else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
