"""Trainer costs: Remask SFT step time over MDM, forward-process time, peak memory of --train ups vs full.

1. Seconds per optimizer step of `--objective remask_sft` over `--objective mdm` (both `--train full`,
   SFT rows), same backbone weights and batch, through the trainer's own `remedi.train.training.train_step`
   on a one-device CPU Fabric. Remask SFT adds the UPS head, the incorrect-token noise, the UPS labels
   and the BCE: target ratio <= 1.15. Runs alternate so that machine noise hits both alike.
2. Milliseconds of the forward (noising) processes alone at batch 8 x 2048 with LLaDA's vocabulary.
3. Peak memory of a few remask_sft steps with `--train ups` and with `--train full`, each in a fresh
   process: the peak RSS during the steps minus the RSS after setup (Linux: VmHWM of /proc/self/status,
   reset through /proc/self/clear_refs after setup, minus VmRSS), i.e. activations kept for backward,
   gradients and AdamW state. tracemalloc would not see them: torch allocates outside Python's allocator.

    python bench/bench_trainer.py
"""

import argparse
import multiprocessing
import time

import torch
from lightning.fabric import Fabric

from remedi import LLaDAConfig, LLaDAModelLM, RemeDiModel, UPSHead
from remedi.cli import positive_int, run_cli
from remedi.train import training
from remedi.train.noise import mdm_forward_process, remask_forward_process

LLADA_VOCAB = 126464


def build(args, objective, train):
    """(model, LossConfig) with a backbone seeded identically every call, so both objectives share weights."""
    torch.manual_seed(0)
    config = LLaDAConfig(d_model=args.d_model, n_heads=args.d_model // 64, n_layers=args.layers,
                         mlp_hidden_size=int(args.d_model * 8 / 3), vocab_size=args.vocab, max_sequence_length=4096,
                         mask_token_id=args.vocab - 1, eos_token_id=1, pad_token_id=1, eot_token_id=2)
    model = LLaDAModelLM(config)
    if objective == "remask_sft":
        model = RemeDiModel(model, UPSHead(config.hidden_size, args.ups_width))
    training.set_trainable(model, train)
    cfg = training.LossConfig(objective=objective, mask_id=args.vocab - 1, vocab_size=args.vocab,
                              special_ids=(0, 1, 2, args.vocab - 1))
    return model, cfg


def sft_batch(args):
    g = torch.Generator().manual_seed(1)
    input_ids = torch.randint(3, args.vocab - 1, (args.batch, args.seq_len), generator=g)
    return input_ids, torch.full((args.batch,), args.prompt_length)


def setup_fabric_objects(args, objective, train):
    fabric = Fabric(accelerator="cpu", devices=1)
    model, cfg = build(args, objective, train)
    model = fabric.setup(model)
    optimizer = fabric.setup_optimizers(training.build_optimizer(model, lr=1e-4))
    return fabric, model, optimizer, cfg


def seconds_per_step(run, steps):
    start = time.perf_counter()
    for _ in range(steps):
        run()
    return (time.perf_counter() - start) / steps


def step_time_ratio(args):
    batch = [sft_batch(args)]
    runs = {}
    for objective in ("mdm", "remask_sft"):
        fabric, model, optimizer, cfg = setup_fabric_objects(args, objective, "full")
        generator = torch.Generator().manual_seed(2)
        runs[objective] = lambda f=fabric, m=model, o=optimizer, c=cfg, g=generator: training.train_step(
            f, m, o, batch, c, g)
        runs[objective]()  # warm-up
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            times[name].append(seconds_per_step(run, args.steps))
    mdm, remask = min(times["mdm"]), min(times["remask_sft"])
    print(f"mdm         : {mdm * 1e3:8.1f} ms/step (best of {args.repeats} x {args.steps} steps)")
    print(f"remask_sft  : {remask * 1e3:8.1f} ms/step")
    print(f"ratio remask_sft / mdm = {remask / mdm:.3f}   (target <= 1.15)")


def forward_process_time(args):
    g = torch.Generator().manual_seed(3)
    input_ids = torch.randint(3, LLADA_VOCAB - 1, (8, 2048), generator=g)
    prompt_lengths = torch.full((8,), 256)
    specials = (0, 1, 2, LLADA_VOCAB - 1)
    cases = {
        "mdm_forward_process (sft)": lambda: mdm_forward_process(input_ids, mask_id=LLADA_VOCAB - 1,
                                                                 prompt_lengths=prompt_lengths, generator=g),
        "remask_forward_process uniform": lambda: remask_forward_process(
            input_ids, prompt_lengths, mask_id=LLADA_VOCAB - 1, vocab_size=LLADA_VOCAB, special_ids=specials,
            replacement="uniform", generator=g),
        "remask_forward_process batch": lambda: remask_forward_process(
            input_ids, prompt_lengths, mask_id=LLADA_VOCAB - 1, vocab_size=LLADA_VOCAB, special_ids=specials,
            replacement="batch", generator=g),
    }
    for name, run in cases.items():
        run()
        best = min(seconds_per_step(run, 5) for _ in range(3))
        print(f"{name:32s}: {best * 1e3:7.1f} ms at batch 8 x 2048 (vocab {LLADA_VOCAB})")


def proc_status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # the file gives kB
    raise KeyError(key)


def peak_memory_child(args, train, queue):
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    fabric, model, optimizer, cfg = setup_fabric_objects(args, "remask_sft", train)
    batch, generator = [sft_batch(args)], torch.Generator().manual_seed(2)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    before = proc_status_mib("VmRSS")
    for _ in range(3):
        training.train_step(fabric, model, optimizer, batch, cfg, generator)
    queue.put((proc_status_mib("VmHWM") - before, before))


def peak_memory(args):
    context = multiprocessing.get_context("spawn")  # a fresh process each: peak RSS never goes down
    for train in ("ups", "full"):
        queue = context.Queue()
        child = context.Process(target=peak_memory_child, args=(args, train, queue))
        child.start()
        growth, before = queue.get()
        child.join()
        print(f"--train {train:4s}: peak RSS during 3 steps {growth:7.1f} MiB above the {before:.0f} MiB after setup")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-model", type=positive_int, default=256)
    parser.add_argument("--layers", type=positive_int, default=4)
    parser.add_argument("--vocab", type=positive_int, default=4096)
    parser.add_argument("--batch", type=positive_int, default=4)
    parser.add_argument("--seq-len", type=positive_int, default=256)
    parser.add_argument("--prompt-length", type=positive_int, default=32)
    parser.add_argument("--ups-width", type=positive_int, default=256)
    parser.add_argument("--steps", type=positive_int, default=3, help="steps per timing")
    parser.add_argument("--repeats", type=positive_int, default=5)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    model, _ = build(args, "mdm", "full")
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: {params:.1f}M parameters, batch {args.batch} x {args.seq_len} (prompt {args.prompt_length}), "
          f"CPU, torch threads {torch.get_num_threads()}")
    step_time_ratio(args)
    forward_process_time(args)
    print("memory: peak RSS (Linux /proc/self/status VmHWM, reset after setup) minus RSS after setup, "
          "a fresh process each")
    peak_memory(args)


if __name__ == "__main__":
    run_cli(main)
