"""Part 4 of gpu_check: one Remask SFT step per --train mode and one Remask RL step, set up as the trainers
set up theirs (their own flags, data loading, Fabric and step functions) around a backbone built on the device.

The trainers' checkpoints and model export are not run: for --train full on the 8B they would write 16 GB of
weights and 32 GB of AdamW state, then export the 16 GB of weights again."""

import json
import tempfile
from pathlib import Path

import torch

from remedi.bench.build import build_backbone, build_on
from remedi.bench.measure import (allocated_gib, count, format_count, format_memory, peak_gib, release,
                                  reset_peak_memory, timed)
from remedi.bench.presets import UPS_WIDTH
from remedi.bench.record import Skipped
from remedi.model.config import LLaDAConfig
from remedi.model.loading import load_tokenizer
from remedi.model.ups import RemeDiModel
from remedi.model.ups_heads import UPSHead
from remedi.train import mdm_args, mdm_setup, rl, rl_args, rl_setup, training
from remedi.train.rewards import correctness_reward, score_completions


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
    argv = ["--objective", "remask_sft", "--train", train, "--data", str(data), "--prompt-column", "question",
            "--response-column", "answer", "--val-fraction", "0", "--seq-len", str(preset.seq_len),
            "--micro-batch-size", "1", "--max-steps", str(preset.train_steps), *hardware_flags(device)]
    args = mdm_args.parse_args(argv)
    fabric = training.make_fabric(args.accelerator, args.devices, args.num_nodes, args.strategy, args.precision)
    values = fabric.launch(run_remask_sft, args, preset)
    return {**values, "argv": argv}


def run_remask_sft(fabric, args, preset):
    """train_mdm.main's setup (its data loading, fresh UPS, LoRA, trainable set, Fabric wrapping, optimizer and
    loss config) on an on-device backbone, then fit's optimizer steps through `training.train_step`."""
    device = fabric.device
    tokenizer = load_tokenizer(None, None)  # the character tokenizer: LLaDA's is not available offline
    train_rows, _ = mdm_setup.load_data(args, tokenizer)
    config = LLaDAConfig(**preset.model)
    reset_peak_memory(device)
    backbone = build_backbone(config, device)
    head = build_on(device, lambda: mdm_setup.fresh_ups(args, config))
    if args.train == "lora":
        backbone = training.add_lora(backbone, args.lora_r, args.lora_alpha, args.lora_dropout)
    model = RemeDiModel(backbone, head)
    training.set_trainable(model, args.train)
    n_total, n_trainable = count(model), count(model, trainable_only=True)
    model = fabric.setup(model)
    optimizer = fabric.setup_optimizers(training.build_optimizer(model, args.lr, args.weight_decay))
    loss_cfg = mdm_setup.loss_config(args, tokenizer)
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
    argv = ["--data", str(data), "--val-fraction", "0", "--reward", "gsm8k", "--train", "ups", "--group-size", "4",
            "--prompts-per-step", "1", "--gen-length", str(preset.rl_gen_length), "--block-length",
            str(preset.rl_block_length), "--steps", str(preset.rl_steps), "--temperature", "1.2",
            "--position-temperature", "1.2", "--ppo-epochs", "2", "--max-steps", "1", *hardware_flags(device)]
    args = rl_args.parse_args(argv)
    fabric = training.make_fabric(args.accelerator, args.devices, args.num_nodes, args.strategy, args.precision)
    values = fabric.launch(run_remask_rl, args, preset)
    return {**values, "argv": argv}


def run_remask_rl(fabric, args, preset):
    """train_mdm_rl.main's setup on an on-device backbone with a fresh MLP UPS head (a real run starts from a
    Remask SFT head), then the body of one step of its fit: a group rollout, rewards, --ppo-epochs updates."""
    device = fabric.device
    tokenizer = load_tokenizer(None, None)
    config = LLaDAConfig(**preset.model)
    problems, _ = rl_setup.load_problems(args, tokenizer, config.max_sequence_length)
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
        rollout, completions = rl_setup.sample_group(fabric, model, tokenizer, [q for q, _ in batch],
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
