"""Remask RL: train RemeDi's unmasking policy (and optionally the token predictor) on a verifiable reward.

The UPS is treated as a policy over which positions to keep: rollouts run the project's sampler with
the K_n kept positions drawn from Plackett–Luce on the UPS logits and tokens drawn from the TPS; each
prompt gets a group of G completions, each completion a reward (the final answer checked against the
reference), and the policy takes clipped policy-gradient steps on the group-normalised advantages
(remedi/train/rl.py states the objective). The same command runs on one CPU and on many GPUs/nodes.

    --train ups    only the UPS trains (the position policy); the backbone stays frozen (default)
    --train lora   LoRA adapters + UPS: the token term trains the TPS too
    --train full   every weight

The script reads as setup() -> main() -> fit() / validate(), like train_mdm.py, with the pieces in
remedi/ (rl_args.py: the flags; rl_setup.py: model, problems, rollouts; rl.py for the objective,
rewards.py, checkpoint.py, tracking.py).
Outputs in --out-dir: metrics.csv, checkpoints/step-N.ckpt (--resume continues from the newest,
rollout randomness included), and at the end a model directory that `generate.py --model` loads.
"""

import copy
import time

import torch
from tqdm import tqdm

from remedi.cli import ensure_writable_dir, run_cli
from remedi.eval.runner import SamplerOptions, Setting, sample
from remedi.model.loading import load_tokenizer
from remedi.train import checkpoint as ckpt, rl, training
from remedi.train.rewards import correctness_reward, score_completions
from remedi.train.rl_args import parse_args
from remedi.train.rl_setup import build_model, load_problems, sample_group
from remedi.train.tracking import plain_args, run_logger

# Per RL step; loss, grad_norm, clip fractions and KL are those of the last --ppo-epochs update (the first
# update is on-policy, its ratios are all 1).
METRICS = ["lr", "rollout_steps", "reward", "accuracy", "groups_all_right", "groups_all_wrong", "zero_advantage_groups", "loss",
           "grad_norm", "clip_frac_position", "clip_frac_token", "kl", "position_entropy", "remasks_per_answer",
           "rollout_s", "update_s"]


def setup(args):
    """Create Fabric for the requested hardware and run `main` on every process; returns main's state."""
    ensure_writable_dir(args.out_dir, "--out-dir")
    fabric = training.make_fabric(args.accelerator, args.devices, args.num_nodes, args.strategy, args.precision)
    return fabric.launch(main, args)


def main(fabric, args):
    """Data, model (+ frozen reference for the KL term), optimizer, resume; train; export the model directory."""
    fabric.seed_everything(args.seed)
    model, build_empty = build_model(args)  # first: a wrong --model-path is named as such, not as a tokenizer id
    tokenizer = load_tokenizer(args.model_path, args.tokenizer)
    context = model.config.max_sequence_length
    train_problems, val_problems = load_problems(args, tokenizer, context)
    if len(train_problems) < args.prompts_per_step * fabric.world_size:
        raise ValueError(f"{len(train_problems)} training prompts cannot fill one step of "
                         f"{args.prompts_per_step} x {fabric.world_size} devices")
    trainable = training.set_trainable(model, args.train)
    reference = None
    if args.kl_coef > 0:  # a frozen full copy on every device (not sharded: it never trains)
        reference = fabric.to_device(copy.deepcopy(model).requires_grad_(False).eval())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    fabric.print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
                 f"{n_trainable / 1e6:.3f}M trainable (--train {args.train}); {len(train_problems)} train / "
                 f"{len(val_problems)} val problems; {args.prompts_per_step * fabric.world_size} prompts x "
                 f"{args.group_size} completions per step")

    model = fabric.setup(model)
    optimizer = fabric.setup_optimizers(training.build_optimizer(model, args.lr, args.weight_decay, betas=(0.9, 0.99)))
    generators = {}  # rollouts draw from torch's global generator, which checkpoints capture and restore
    state = {"model": model, "optimizer": optimizer, "step": 0, "trainable": trainable,
             "world_size": fabric.world_size, "n_train": len(train_problems), "rng": [], "args": plain_args(args)}
    torch.manual_seed(args.seed * 1000 + fabric.global_rank)  # rollouts differ across ranks

    checkpoint_dir = args.out_dir / "checkpoints"
    if ckpt.latest_checkpoint(checkpoint_dir) is not None and not args.resume:
        raise FileExistsError(f"{checkpoint_dir} already holds checkpoints: pass --resume or choose another --out-dir")
    resume_from = ckpt.resume_training_state(fabric, checkpoint_dir, state, generators) if args.resume else None
    if args.resume and resume_from is None:
        fabric.print(f"--resume: no checkpoint in {checkpoint_dir}, starting from step 0")

    fields = METRICS + (validation_fields(args) if val_problems else [])
    with run_logger(fabric, args, fields, state["step"] if resume_from is not None else None) as logger:
        fit(fabric, args, state, tokenizer, train_problems, val_problems, reference, generators, logger)

    ckpt.export_trained_model(fabric, model, build_empty, tokenizer, args.out_dir)
    return state


def fit(fabric, args, state, tokenizer, train_problems, val_problems, reference, generators, logger):
    """RL steps from state["step"] to --max-steps: rollouts, rewards, --ppo-epochs clipped updates."""
    model, optimizer = state["model"], state["optimizer"]
    reward = correctness_reward(args.reward)
    loss_cfg = rl.PolicyLossConfig(clip_eps=args.clip_eps, kl_coef=args.kl_coef,
                                   token_term=args.train != "ups" and args.temperature > 0)
    model.eval()  # rollouts and their re-scoring must see the same network: no dropout anywhere
    progress = tqdm(total=args.max_steps, initial=state["step"], desc="remask rl", disable=not fabric.is_global_zero)
    while state["step"] < args.max_steps:
        step = state["step"]
        lr = training.lr_at(step, args.lr, args.min_lr, args.warmup_steps, args.max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        indices = training.micro_batch_indices(step, len(train_problems), args.prompts_per_step,
                                               fabric.global_rank, fabric.world_size, args.seed)
        batch = [train_problems[i] for i in indices.tolist()]

        begin = time.perf_counter()
        steps = args.steps[step % len(args.steps)]
        rollout, completions = sample_group(fabric, model, tokenizer, [q for q, _ in batch], steps, args)
        references = [ref for _, ref in batch for _ in range(args.group_size)]
        questions = [q for q, _ in batch for _ in range(args.group_size)]
        rewards, correct = score_completions(reward, completions, references, args.format_reward, questions)
        rewards = torch.tensor(rewards, device=fabric.device)
        advantages = rl.group_advantages(rewards, args.group_size)
        ref_log_probs = None
        if reference is not None:
            ref_log_probs = rl.reference_log_probs(reference, rollout, loss_cfg, args.update_micro_batch)
        rollout_s = time.perf_counter() - begin

        begin = time.perf_counter()
        hidden_cache = {} if rl.can_cache_hidden(model, loss_cfg, rollout) else None  # frozen backbone: run it once
        try:
            for _ in range(args.ppo_epochs):
                update = rl.policy_update(fabric, model, optimizer, rollout, advantages, loss_cfg, args.gen_length,
                                          args.grad_clip, args.update_micro_batch, ref_log_probs, hidden_cache)
        except training.NonFiniteLossError as error:
            last = ckpt.latest_checkpoint(args.out_dir / "checkpoints")
            raise training.NonFiniteLossError(
                f"step {step + 1}: {error}. Training stopped; the last good checkpoint is "
                f"{last if last is not None else 'none (none was written yet)'}") from None
        update_s = time.perf_counter() - begin

        state["step"] += 1
        metrics = {"lr": lr, "rollout_steps": steps, **update, **group_statistics(fabric, rewards, correct, args.group_size),
                   **rollout_statistics(fabric, rollout), "rollout_s": rollout_s, "update_s": update_s}
        last_step = state["step"] == args.max_steps
        if val_problems and (state["step"] % args.val_every == 0 or last_step):
            metrics.update(validate(fabric, model, tokenizer, val_problems, args))
        if logger is not None:
            logger.log(state["step"], metrics)
        if state["step"] % args.save_every == 0 or last_step:
            ckpt.save_training_state(fabric, args.out_dir / "checkpoints", state, generators, args.train)
        progress.update(1)
        progress.set_postfix(reward=f"{metrics['reward']:.3f}", clip=f"{update['clip_frac_position']:.2f}")
    progress.close()


def group_statistics(fabric, rewards, correct, group_size):
    """Reward and accuracy means, and how many groups were all right, all wrong, or gave no signal."""
    correct = torch.tensor(correct, device=rewards.device).view(-1, group_size)
    grouped = rewards.view(-1, group_size)
    sums = torch.stack([rewards.sum(), correct.sum(), (correct.min(dim=1).values == 1).sum(),
                        (correct.max(dim=1).values == 0).sum(), (grouped.std(dim=1) == 0).sum(),
                        torch.tensor(float(len(grouped)), device=rewards.device)]).double()
    total_reward, total_correct, all_right, all_wrong, flat, groups = fabric.all_reduce(sums, reduce_op="sum").tolist()
    completions = groups * group_size
    return {"reward": total_reward / completions, "accuracy": total_correct / completions,
            "groups_all_right": all_right / groups, "groups_all_wrong": all_wrong / groups,
            "zero_advantage_groups": flat / groups}


def rollout_statistics(fabric, rollout):
    """Mean first-pick entropy of the position policy over deciding steps, and remasks per answer."""
    entropies = [step.position_entropy.mean() for step in rollout.steps if step.decides_positions]
    entropy = torch.stack(entropies).mean() if entropies else torch.zeros((), device=fabric.device)
    values = torch.stack([entropy.float(), rollout.remasks_per_row().mean().float()])
    entropy, remasks = (fabric.all_reduce(values, reduce_op="mean")).tolist()
    return {"position_entropy": entropy, "remasks_per_answer": remasks}


def validate(fabric, model, tokenizer, val_problems, args):
    """Accuracy (the reward's correctness part) of greedy UPS + remask decoding, what inference runs, at every
    --val-steps budget.

    Each rank answers its share of the problems; the global random state is left as it was, so the
    rollouts after a validation are the ones an uninterrupted run would draw.
    """
    reward = correctness_reward(args.reward)
    per_rank = len(val_problems) // fabric.world_size
    mine = val_problems[fabric.global_rank * per_rank : (fabric.global_rank + 1) * per_rank]
    batch_size = max(1, args.prompts_per_step * args.group_size)
    options = SamplerOptions(gen_length=args.gen_length, batch_size=batch_size)
    metrics = {}
    with torch.random.fork_rng(devices=[fabric.device] if fabric.device.type == "cuda" else []):
        for steps in args.val_steps:
            setting = Setting("ups", True, steps, args.block_length)
            right = 0.0
            for start in range(0, len(mine), batch_size):
                batch = mine[start : start + batch_size]
                completions = sample(model, tokenizer, [q for q, _ in batch], setting, options)[0]
                right += sum(float(reward(c, ref, q)) for c, (q, ref) in zip(completions, batch))
            counts = torch.tensor([right, len(mine)], dtype=torch.float64, device=fabric.device)
            right, total = fabric.all_reduce(counts, reduce_op="sum").tolist()
            metrics[f"val_accuracy_{steps}_steps"] = right / max(total, 1.0)
    return metrics


def validation_fields(args):
    return [f"val_accuracy_{steps}_steps" for steps in args.val_steps]


def cli(argv=None):
    """The command line: flags, then the run; `run_cli` turns a user's mistake into one `error:` line."""
    return setup(parse_args(argv))


if __name__ == "__main__":
    run_cli(cli)
