"""Wall time of one Remask RL step for one prompt's group against G greedy `generate` calls of that prompt.

A group's G completions are sampled in one batched generation and scored again in batched updates, so
one RL step for a prompt should cost about as much as answering it G times greedily, one call each
(target ratio <= 2.0). Runs alternate between the two in ABBA order so that drift hits both alike.

    python bench/bench_rl.py                 # the shipped tiny model, G = 16, 8 steps, --train ups
"""

import argparse
import time

import torch
from lightning.fabric import Fabric

from remedi.cli import positive_int, run_cli
from remedi.model.loading import DEFAULT_MODEL, load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.sampler.sampling import generate
from remedi.train import rl
from remedi.train.training import build_optimizer, set_trainable


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--group-size", type=positive_int, default=16)
    parser.add_argument("--steps", type=positive_int, default=8)
    parser.add_argument("--gen-length", type=positive_int, default=32)
    parser.add_argument("--ppo-epochs", type=positive_int, default=2)
    parser.add_argument("--train", choices=("ups", "full"), default="ups")
    parser.add_argument("--repeats", type=positive_int, default=6)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = load_model_and_tokenizer(args.model)
    ids = special_token_ids(tokenizer)
    set_trainable(model, args.train)
    fabric = Fabric(accelerator="cpu", devices=1)
    model, optimizer = fabric.setup(model, build_optimizer(model, lr=1e-6, weight_decay=0.0))
    model.eval()
    prompt, mask = encode_prompts(tokenizer, ["Compute 7 - 3 + 5 - 8 + 2."])
    common = dict(steps=args.steps, gen_length=args.gen_length, block_length=args.gen_length, mask_id=ids["mask_id"])
    loss_cfg = rl.PolicyLossConfig(token_term=args.train != "ups")
    print(f"model: {args.model}, G = {args.group_size}, {args.steps} steps for {args.gen_length} tokens, "
          f"--train {args.train}, {args.ppo_epochs} PPO epochs, torch threads {torch.get_num_threads()}")

    def greedy_calls():
        start = time.perf_counter()
        for _ in range(args.group_size):
            generate(model, prompt, mask, **common)
        return time.perf_counter() - start

    def rl_step():
        start = time.perf_counter()
        with torch.no_grad():
            _, rollout = generate(model, prompt.repeat(args.group_size, 1), mask.repeat(args.group_size, 1),
                                  temperature=1.2, position_temperature=1.2, return_rollout=True, **common)
        rewards = torch.arange(args.group_size, dtype=torch.float) % 2  # any non-constant reward: a full update
        advantages = rl.group_advantages(rewards, args.group_size)
        middle = time.perf_counter()
        hidden_cache = {} if rl.can_cache_hidden(model, loss_cfg, rollout) else None  # as train_mdm_rl.py does
        for _ in range(args.ppo_epochs):
            rl.policy_update(fabric, model, optimizer, rollout, advantages, loss_cfg, args.gen_length,
                             hidden_cache=hidden_cache)
        return middle - start, time.perf_counter() - middle

    greedy_calls(), rl_step()  # warm-up
    greedy, rollouts, updates = [], [], []
    for i in range(args.repeats):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for which in order:
            if which == 0:
                greedy.append(greedy_calls())
            else:
                rollout_s, update_s = rl_step()
                rollouts.append(rollout_s)
                updates.append(update_s)
    steps = [r + u for r, u in zip(rollouts, updates)]
    best = min(range(len(steps)), key=steps.__getitem__)
    print(f"rollout of one group      : {rollouts[best] * 1e3:8.1f} ms")
    print(f"update of one group       : {updates[best] * 1e3:8.1f} ms ({args.ppo_epochs} optimizer steps)")
    print(f"one RL step               : {steps[best] * 1e3:8.1f} ms (best of {args.repeats})")
    print(f"G greedy generate calls   : {min(greedy) * 1e3:8.1f} ms (best of {args.repeats})")
    print(f"ratio RL step / (G x generate) = {steps[best] / min(greedy):.3f}   (target <= 2.0)")


if __name__ == "__main__":
    run_cli(main)
