"""Wall time of one Remask RL step: against G greedy `generate` calls, and with against without the exact KV cache.

A group's G completions are sampled in one batched generation and scored again in batched updates, so
one RL step for a prompt should cost about as much as answering it G times greedily, one call each
(target ratio <= 2.0 for --train ups). With --compare-cache the same RL step (the same flags) runs with
rollouts and re-scoring through the exact KV cache and without it, on a block-causal model; the cached
step should cost at most a third of the other (target ratio <= 0.333 at 256 tokens in blocks of 32). Runs
alternate between the two sides in ABBA order so that drift hits both alike.

    python bench/bench_rl.py                 # the shipped tiny model, G = 16, 8 steps, --train ups
    python bench/bench_rl.py --compare-cache --model models/remedi-tiny-arith-blockcausal \
        --gen-length 256 --block-length 32 --steps 64 --train full
"""

import argparse
import time

import torch
from lightning.fabric import Fabric

from remedi.cli import positive_int, run_cli
from remedi.model.loading import DEFAULT_MODEL, load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.sampler.sampling import generate
from remedi.sampler.step_runner import runner_problem
from remedi.train import rl
from remedi.train.training import build_optimizer, set_trainable


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--group-size", type=positive_int, default=16)
    parser.add_argument("--steps", type=positive_int, default=8)
    parser.add_argument("--gen-length", type=positive_int, default=32)
    parser.add_argument("--block-length", type=positive_int, default=None, help="default: --gen-length")
    parser.add_argument("--ppo-epochs", type=positive_int, default=2)
    parser.add_argument("--train", choices=("ups", "full"), default="ups")
    parser.add_argument("--compare-cache", action="store_true",
                        help="time the RL step with --kv-cache exact against the same step without a cache "
                             "(a block-causal model) instead of against greedy generate calls")
    parser.add_argument("--repeats", type=positive_int, default=6)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    args.block_length = args.block_length or args.gen_length
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = load_model_and_tokenizer(args.model)
    if args.compare_cache:
        problem = runner_problem("exact", model, args.block_length, 0.0)
        if problem is not None:
            raise ValueError(f"--compare-cache: {problem}")
    ids = special_token_ids(tokenizer)
    set_trainable(model, args.train)
    fabric = Fabric(accelerator="cpu", devices=1)
    model, optimizer = fabric.setup(model, build_optimizer(model, lr=1e-6, weight_decay=0.0))
    model.eval()
    prompt, mask = encode_prompts(tokenizer, ["Compute 7 - 3 + 5 - 8 + 2."])
    common = dict(steps=args.steps, gen_length=args.gen_length, block_length=args.block_length, mask_id=ids["mask_id"])
    loss_cfg = rl.PolicyLossConfig(token_term=args.train != "ups")
    print(f"model: {args.model}, G = {args.group_size}, {args.steps} steps for {args.gen_length} tokens in blocks of "
          f"{args.block_length}, --train {args.train}, {args.ppo_epochs} PPO epochs, torch threads "
          f"{torch.get_num_threads()}")

    def greedy_calls():
        start = time.perf_counter()
        for _ in range(args.group_size):
            generate(model, prompt, mask, **common)
        return time.perf_counter() - start

    def rl_step(kv_cache="none"):
        start = time.perf_counter()
        with torch.no_grad():
            _, rollout = generate(model, prompt.repeat(args.group_size, 1), mask.repeat(args.group_size, 1),
                                  temperature=1.2, position_temperature=1.2, return_rollout=True, kv_cache=kv_cache,
                                  **common)
        rewards = torch.arange(args.group_size, dtype=torch.float) % 2  # any non-constant reward: a full update
        advantages = rl.group_advantages(rewards, args.group_size)
        middle = time.perf_counter()
        hidden_cache = {} if rl.can_cache_hidden(model, loss_cfg, rollout) else None  # as train_mdm_rl.py does
        for _ in range(args.ppo_epochs):
            rl.policy_update(fabric, model, optimizer, rollout, advantages, loss_cfg, args.gen_length,
                             hidden_cache=hidden_cache)
        return middle - start, time.perf_counter() - middle

    if args.compare_cache:
        sides = {"none": lambda: rl_step("none"), "exact": lambda: rl_step("exact")}
    else:
        sides = {"greedy": lambda: (greedy_calls(), 0.0), "none": lambda: rl_step("none")}
    for side in sides.values():  # warm-up
        side()
    times = {name: [] for name in sides}
    names = list(sides)
    for i in range(args.repeats):
        for name in (names if i % 2 == 0 else names[::-1]):
            times[name].append(sides[name]())

    def best(name):
        return min(times[name], key=sum)

    for name in names:
        if name == "greedy":
            print(f"G greedy generate calls         : {sum(best(name)) * 1e3:9.1f} ms (best of {args.repeats})")
            continue
        rollout_s, update_s = best(name)
        label = "RL step, no cache" if name == "none" else "RL step, --kv-cache exact"
        print(f"{label:<32}: {(rollout_s + update_s) * 1e3:9.1f} ms (rollout {rollout_s * 1e3:.1f} + update "
              f"{update_s * 1e3:.1f}; best of {args.repeats})")
    if args.compare_cache:
        ratio = sum(best("exact")) / sum(best("none"))
        print(f"ratio RL step with / without the exact cache = {ratio:.3f}   (target <= 0.333)")
    else:
        ratio = sum(best("none")) / sum(best("greedy"))
        print(f"ratio RL step / (G x generate) = {ratio:.3f}   (target <= 2.0)")


if __name__ == "__main__":
    run_cli(main)
