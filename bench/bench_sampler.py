"""Seconds per sampling step of `ups` + remask over `tps_prob` without remask, same model and prompt.

The UPS head and the remasking rule should cost next to nothing next to the backbone (target ratio
<= 1.05). Runs alternate between the two settings in ABBA order so that drift hits both alike.

    python bench/bench_sampler.py            # a ~20M-parameter LLaDA-architecture model on the CPU
"""

import argparse
import time

import torch

from remedi import LLaDAConfig, LLaDAModelLM, RemeDiModel, UPSHead
from remedi.sampling import generate


def time_generation(model, prompt, settings, steps):
    start = time.perf_counter()
    generate(model, prompt, steps=steps, **settings)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-model", type=int, default=384)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--prompt-length", type=int, default=64)
    parser.add_argument("--gen-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--ups-width", type=int, default=256)
    args = parser.parse_args()

    torch.manual_seed(0)
    config = LLaDAConfig(d_model=args.d_model, n_heads=args.d_model // 64, n_layers=args.layers,
                         mlp_hidden_size=int(args.d_model * 8 / 3), vocab_size=4096, max_sequence_length=1024,
                         mask_token_id=4095, eos_token_id=1, pad_token_id=1, eot_token_id=2)
    backbone = LLaDAModelLM(config).eval()
    model = RemeDiModel(backbone, UPSHead(config.hidden_size, args.ups_width)).eval()
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


if __name__ == "__main__":
    main()
