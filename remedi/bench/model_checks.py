"""Parts 1 and 2 of gpu_check: the backbone with both UPS kinds built on the device, and its forward passes
(SDPA against flash-attn, a left-padded batch against its row alone)."""

from contextlib import contextmanager

import torch

from remedi.bench.build import DTYPE, build_backbone, build_on, ordinary_ids
from remedi.bench.measure import allocated_gib, count, format_count, peak_gib, reset_peak_memory
from remedi.bench.presets import STREAM_DIM, STREAM_HEADS, UPS_WIDTH
from remedi.bench.record import Skipped, needs
from remedi.model import llada as modeling
from remedi.model.config import LLaDAConfig
from remedi.model.ups import RemeDiModel
from remedi.model.ups_heads import UPSHead
from remedi.model.ups_stream import UPSStream


# Two bf16 attention kernels, or a masked and an unmasked one, may differ by rounding; 5% of the largest logit
# is the bound tests/test_model.py holds bf16 against float32 to.
LOGIT_TOLERANCE = 0.05


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
