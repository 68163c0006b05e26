"""Part 3 of gpu_check: seconds per step and tokens/s of `generate` for LLaDA's sampler and RemeDi's, a
stochastic Remask RL rollout, and the KV cache modes against no cache."""

from contextlib import contextmanager

from remedi.bench.build import ordinary_ids
from remedi.bench.measure import format_memory, peak_gib, reset_peak_memory, timed
from remedi.bench.record import Skipped, needs
from remedi.sampler.sampling import generate


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
