"""Two sampler benchmarks on random LLaDA-architecture models, each a ratio measured in one run.

`--section ups` (default): seconds per sampling step of `ups` + remask over `tps_prob` without remask,
same model and prompt. The UPS head and the remasking rule should cost next to nothing next to the
backbone (target ratio <= 1.05). Runs alternate between the two settings in ABBA order so that drift
hits both alike.

`--section cache`: answer tokens per second of `generate(kv_cache=...)` over no cache, ups + remask at
temperature 0. On a block-causal model `exact` must give the same tokens (asserted) at >= 5x the speed
(prompt 64, gen 512, block 32, 512 steps, batch 2); on its bidirectional twin (the same weights) the
approximate `prefix`/`dual` caches are timed too, with the share of answer tokens that agree with no cache.
The cache section runs in float64 by default: a chunked pass sums in another order than the full pass,
and a random model's confidences are so close that float32 rounding flips a near-tie now and then (we saw
95.6% of tokens agree at 512 steps); in float64 such a flip would need a gap below ~1e-15.
`--models` runs one of the two models only, e.g. to run both at once in two processes.

    python bench/bench_sampler.py                    # a ~17M-parameter model on the CPU
    python bench/bench_sampler.py --section cache    # the same model size, block-causal and bidirectional
"""

import argparse
import time

import torch

from remedi import LLaDAConfig, LLaDAModelLM, RemeDiModel, UPSHead
from remedi.cli import positive_int, run_cli
from remedi.sampler.sampling import generate


def time_generation(model, prompt, settings, steps):
    start = time.perf_counter()
    generate(model, prompt, steps=steps, **settings)
    return (time.perf_counter() - start) / steps


def build_config(args, **layout):
    return LLaDAConfig(d_model=args.d_model, n_heads=args.d_model // 64, n_layers=args.layers,
                       mlp_hidden_size=int(args.d_model * 8 / 3), vocab_size=4096, max_sequence_length=1024,
                       mask_token_id=4095, eos_token_id=1, pad_token_id=1, eot_token_id=2, **layout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("ups", "cache"), default="ups")
    parser.add_argument("--d-model", type=positive_int, default=384)
    parser.add_argument("--layers", type=positive_int, default=8)
    parser.add_argument("--batch", type=positive_int, default=None, help="default: 4 (ups), 2 (cache)")
    parser.add_argument("--prompt-length", type=positive_int, default=64)
    parser.add_argument("--gen-length", type=positive_int, default=None, help="default: 128 (ups), 512 (cache)")
    parser.add_argument("--block-length", type=positive_int, default=32, help="cache section only")
    parser.add_argument("--steps", type=positive_int, default=None, help="default: 32 (ups), 512 (cache)")
    parser.add_argument("--repeats", type=positive_int, default=6, help="ups section only")
    parser.add_argument("--ups-width", type=positive_int, default=256)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="cache section only")
    parser.add_argument("--models", choices=("both", "block_causal", "bidirectional"), default="both",
                        help="cache section only")
    args = parser.parse_args(argv)
    cache = args.section == "cache"
    args.batch = args.batch or (2 if cache else 4)
    args.gen_length = args.gen_length or (512 if cache else 128)
    args.steps = args.steps or (512 if cache else 32)
    if cache:
        bench_cache(args)
    else:
        bench_ups(args)


def bench_ups(args):
    torch.manual_seed(0)
    backbone = LLaDAModelLM(build_config(args)).eval()
    model = RemeDiModel(backbone, UPSHead(backbone.config.hidden_size, args.ups_width)).eval()
    prompt = torch.randint(3, 4000, (args.batch, args.prompt_length))
    common = dict(gen_length=args.gen_length, block_length=args.gen_length // 4, mask_id=4095)
    baseline = dict(common, confidence_source="tps_prob", remask=False)
    remedi = dict(common, confidence_source="ups", remask=True)
    params = sum(p.numel() for p in backbone.parameters()) / 1e6
    print(f"model: {params:.1f}M parameters, batch {args.batch}, prompt {args.prompt_length}, "
          f"gen {args.gen_length}, {args.steps} steps, torch threads {torch.get_num_threads()}")

    time_generation(backbone, prompt, baseline, args.steps)  # warm-up
    base_times, ups_times = [], []
    for i in range(args.repeats):
        # ABBA order, so that drift during the run (heat, other processes) does not favour either side.
        if i % 2 == 0:
            base_times.append(time_generation(backbone, prompt, baseline, args.steps))
            ups_times.append(time_generation(model, prompt, remedi, args.steps))
        else:
            ups_times.append(time_generation(model, prompt, remedi, args.steps))
            base_times.append(time_generation(backbone, prompt, baseline, args.steps))
    base, ups = min(base_times), min(ups_times)
    print(f"tps_prob, no remask : {base * 1e3:8.2f} ms/step (best of {args.repeats})")
    print(f"ups + remask        : {ups * 1e3:8.2f} ms/step (best of {args.repeats})")
    print(f"ratio ups+remask / tps_prob = {ups / base:.3f}   (target <= 1.05)")


def timed_generation(model, prompt, settings, kv_cache):
    start = time.perf_counter()
    ids = generate(model, prompt, **settings, kv_cache=kv_cache)
    return ids[:, prompt.shape[1]:], time.perf_counter() - start


def bench_cache(args):
    torch.manual_seed(0)
    block_causal = LLaDAModelLM(build_config(args, attention_layout="block_causal",
                                             attention_block_length=args.block_length)).eval()
    twin = LLaDAModelLM(build_config(args)).eval()
    twin.load_state_dict(block_causal.state_dict())
    head = UPSHead(block_causal.config.hidden_size, args.ups_width).eval()
    dtype = getattr(torch, args.dtype)
    for module in (block_causal, twin, head):
        module.to(dtype)
    prompt = torch.randint(3, 4000, (args.batch, args.prompt_length))
    settings = dict(gen_length=args.gen_length, block_length=args.block_length, steps=args.steps, mask_id=4095,
                    confidence_source="ups", remask=True)
    params = sum(p.numel() for p in block_causal.parameters()) / 1e6
    answer_tokens = args.batch * args.gen_length
    print(f"model: {params:.1f}M parameters, batch {args.batch}, prompt {args.prompt_length}, gen {args.gen_length}, "
          f"block {args.block_length}, {args.steps} steps, ups + remask, {args.dtype}, "
          f"torch threads {torch.get_num_threads()}")
    runs = {"block_causal": ("block-causal", block_causal, ("none", "exact")),
            "bidirectional": ("bidirectional", twin, ("none", "prefix", "dual"))}
    chosen = list(runs) if args.models == "both" else [args.models]
    for name, backbone, modes in (runs[key] for key in chosen):
        model = RemeDiModel(backbone, head).eval()
        reference, base_seconds = timed_generation(model, prompt, settings, "none")
        print(f"{name:13s} kv_cache=none  : {answer_tokens / base_seconds:8.1f} tokens/s")
        for mode in modes[1:]:
            ids, seconds = timed_generation(model, prompt, settings, mode)
            agreement = (ids == reference).float().mean().item()
            print(f"{name:13s} kv_cache={mode:6s}: {answer_tokens / seconds:8.1f} tokens/s, "
                  f"{base_seconds / seconds:5.2f}x no cache, tokens agreeing with no cache {agreement:.1%}")
            if mode == "exact":
                assert torch.equal(ids, reference), "kv_cache='exact' changed the tokens"
                print(f"ratio exact / none tokens/s = {base_seconds / seconds:.2f}   (target >= 5, identical tokens)")


if __name__ == "__main__":
    run_cli(main)
