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
remedi/ (sampling.py for rollouts, rl.py for the objective, rewards.py, checkpoint.py, tracking.py).
Outputs in --out-dir: metrics.csv, checkpoints/step-N.ckpt (--resume continues from the newest,
rollout randomness included), and at the end a model directory that `generate.py --model` loads.
"""

import argparse
import copy
import time
from pathlib import Path

import torch
from tqdm import tqdm

from remedi import LLaDAModelLM, RemeDiModel, load_ups
from remedi.cli import HelpFormatter, add_hardware_arguments, ensure_writable_dir, run_cli
from remedi.data.resolve import DEFAULT_VAL_FRACTION, load_pairs, split_validation
from remedi.eval.runner import SamplerOptions, Setting, sample
from remedi.model.loading import DEFAULT_MODEL, load_backbone, load_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.model.ups_registry import UPS_CONFIG_NAME, build_ups
from remedi.sampler.sampling import generate
from remedi.train import checkpoint as ckpt, rl, training
from remedi.train.arguments import LoRAArgs, OptimisationArgs, RunArgs, add_arguments
from remedi.train.rewards import REWARDS, correctness_reward, score_completions
from remedi.train.tracking import MetricsLogger, plain_args

# Per RL step; loss, grad_norm, clip fractions and KL are those of the last --ppo-epochs update (the first
# update is on-policy, its ratios are all 1).
METRICS = ["lr", "rollout_steps", "reward", "accuracy", "groups_all_right", "groups_all_wrong", "zero_advantage_groups", "loss",
           "grad_norm", "clip_frac_position", "clip_frac_token", "kl", "position_entropy", "remasks_per_answer",
           "rollout_s", "update_s"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model-path", default=DEFAULT_MODEL, help="model directory (LLaDA checkpoint, e.g. a Remask SFT output)")
    g.add_argument("--ups-path", default=None, help="UPS weights to start from (default: MODEL_PATH/ups)")
    g.add_argument("--tokenizer", default=None, help="tokenizer directory (default: the model directory's)")
    g.add_argument("--attention-layout", choices=["bidirectional", "block_causal"], default=None,
                   help="the layout the model was trained with (read from its config.json); given, it must match: "
                        "rollouts and their re-scoring both use the model's attention mask")
    g.add_argument("--attention-block-length", type=int, default=None,
                   help="block-causal models: must match the model's attention_block_length")

    g = p.add_argument_group("rollouts")
    g.add_argument("--group-size", type=int, default=16, help="completions per prompt (G)")
    g.add_argument("--prompts-per-step", type=int, default=4, help="prompts per device per RL step")
    g.add_argument("--steps", type=int, nargs="+", default=[8],
                   help="denoising steps of a whole answer; several values: RL step i uses the (i mod n)-th, so one "
                        "policy learns every budget")
    g.add_argument("--gen-length", type=int, default=32, help="answer tokens")
    g.add_argument("--block-length", type=int, default=None, help="semi-autoregressive block (default: gen-length)")
    g.add_argument("--temperature", type=float, default=1.2, help="TPS sampling temperature of the rollouts (0: argmax)")
    g.add_argument("--position-temperature", type=float, default=1.2,
                   help="Plackett-Luce temperature on the UPS logits")
    g.add_argument("--cfg-scale", type=float, default=0.0, help="classifier-free guidance of the rollouts")
    g.add_argument("--reward", default="auto",
                   help=f"one of {REWARDS} or MODULE:FUNCTION / FILE.py:FUNCTION, called as f(completion, reference); sudoku reads the puzzle's givens from the question")
    g.add_argument("--format-reward", type=float, default=0.0,
                   help="added for a well-formed final answer, right or wrong (0: off)")

    g = p.add_argument_group("objective")
    g.add_argument("--train", choices=training.TRAIN_MODES, default="ups", help="what trains")
    g.add_argument("--clip-eps", type=float, default=0.2, help="PPO clipping of the probability ratios")
    g.add_argument("--ppo-epochs", type=int, default=2, help="optimizer steps per rollout batch")
    g.add_argument("--kl-coef", type=float, default=0.0, help="weight of KL to the starting policy (0: off)")
    g.add_argument("--update-micro-batch", type=int, default=None,
                   help="rows per forward pass in the update (default: all of this device's rollouts)")
    g.add_argument("--lora-r", type=int, default=LoRAArgs.lora_r, help="--train lora")
    g.add_argument("--lora-alpha", type=int, default=LoRAArgs.lora_alpha, help="--train lora")

    g = p.add_argument_group("data")
    g.add_argument("--data", default="gsm8k", help="gsm8k | math500 | PATH.jsonl/.json/.parquet (prompt + reference)")
    g.add_argument("--prompt-column", default=None, help="local files (default 'question')")
    g.add_argument("--prompt-template", default="{question}",
                   help="the user turn built from each question, e.g. '{question} Put the final answer in \\boxed{{}}.'")
    g.add_argument("--response-column", default=None, help="reference column of local files (default 'answer')")
    g.add_argument("--val-data", default=None, help="validation set, same forms as --data")
    g.add_argument("--val-fraction", type=float, default=None,
                   help=f"share of --data held out when --val-data is not given "
                        f"(default {DEFAULT_VAL_FRACTION}; 0: none)")
    g.add_argument("--val-limit", type=int, default=200, help="validation problems (0: all)")
    g.add_argument("--val-steps", type=int, nargs="+", default=None,
                   help="greedy UPS + remask step budgets to validate at (default: the --steps values)")

    add_arguments(p, OptimisationArgs, "optimisation", defaults=dict(max_steps=200, warmup_steps=10, weight_decay=0.0))
    add_arguments(p, RunArgs, "run", defaults=dict(out_dir=Path("out/train_mdm_rl"), save_every=50, val_every=25))

    add_hardware_arguments(p)
    p.add_argument("--ssl_ratio", type=float, default=None, help=argparse.SUPPRESS)
    return check_args(p.parse_args(argv))


def check_args(args):
    """Reject settings that cannot run (before any model is loaded) and fill in dependent defaults."""
    if args.ssl_ratio is not None:
        raise ValueError("--ssl_ratio is upstream SMDM's random-length pretraining (its train_mdm_rl.py); here that "
                         "is `train_mdm.py --mode pretrain --random-length-prob R`, and train_mdm_rl.py is Remask RL")
    if args.group_size < 2:
        raise ValueError(f"--group-size {args.group_size}: advantages compare completions of one prompt, so a "
                         "group needs at least 2")
    for name in ("prompts_per_step", "gen_length", "ppo_epochs", "max_steps", "save_every", "val_every"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    args.block_length = args.block_length or args.gen_length
    if args.gen_length % args.block_length:
        raise ValueError(f"--block-length {args.block_length} must divide --gen-length {args.gen_length}")
    num_blocks = args.gen_length // args.block_length
    args.val_steps = args.val_steps or list(args.steps)
    for steps in args.steps + args.val_steps:
        if steps < 1:
            raise ValueError(f"--steps/--val-steps {steps}: step budgets must be at least 1")
        if steps % num_blocks:
            raise ValueError(f"--steps/--val-steps {steps} is not a multiple of the {num_blocks} blocks "
                             f"(--gen-length / --block-length)")
    if args.position_temperature <= 0:
        raise ValueError("--position-temperature must be > 0: the position policy has to be stochastic to learn")
    if args.temperature < 0 or args.cfg_scale < 0:
        raise ValueError("--temperature and --cfg-scale must be >= 0")
    if args.train != "ups" and args.temperature == 0:
        raise ValueError(f"--train {args.train} trains the TPS on the tokens it sampled: use --temperature > 0")
    if not 0 < args.clip_eps < 1 or args.kl_coef < 0:
        raise ValueError("--clip-eps must lie in (0, 1) and --kl-coef be >= 0")
    if args.val_data is not None and args.val_fraction is not None:
        raise ValueError("give either --val-data or --val-fraction, not both")
    if args.val_fraction is None:
        args.val_fraction = 0.0 if args.val_data is not None else DEFAULT_VAL_FRACTION
    if args.min_lr is None:
        args.min_lr = args.lr / 10
    correctness_reward(args.reward)  # a missing hook fails here, not after the model is loaded
    try:
        args.prompt_template.format(question="")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"--prompt-template {args.prompt_template!r} is not a format string with only "
                         f"{{question}} ({error!r}); write literal braces as {{{{ }}}}") from None
    if "{question}" not in args.prompt_template:
        raise ValueError(f"--prompt-template {args.prompt_template!r} must contain {{question}}")
    return args


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

    logger = None
    if fabric.is_global_zero:
        fields = METRICS + (validation_fields(args) if val_problems else [])
        logger = MetricsLogger(args.out_dir / "metrics.csv", fields,
                               resume_step=state["step"] if resume_from is not None else None,
                               wandb_mode=args.wandb, wandb_project=args.wandb_project, run_name=args.run_name,
                               config=plain_args(args))
    try:
        fit(fabric, args, state, tokenizer, train_problems, val_problems, reference, generators, logger)
    finally:
        if logger is not None:
            logger.close()

    weights = ckpt.full_state_dict(model)
    if fabric.is_global_zero:
        ckpt.export_model(weights, build_empty, tokenizer, args.out_dir)
        fabric.print(f"model saved to {args.out_dir} (python generate.py --model {args.out_dir})")
    fabric.barrier()
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


@torch.no_grad()
def sample_group(fabric, model, tokenizer, questions, steps, args):
    """One batched stochastic generation of G completions per question: (Rollout, decoded completions).

    The G copies of a prompt are consecutive rows, which is what `group_advantages` expects.
    """
    ids = special_token_ids(tokenizer)
    input_ids, attention_mask = encode_prompts(tokenizer, questions)
    input_ids = input_ids.repeat_interleave(args.group_size, dim=0).to(fabric.device)
    attention_mask = attention_mask.repeat_interleave(args.group_size, dim=0).to(fabric.device)
    out, rollout = generate(
        model, input_ids, attention_mask, steps=steps, gen_length=args.gen_length,
        block_length=args.block_length, temperature=args.temperature, cfg_scale=args.cfg_scale,
        mask_id=ids["mask_id"], eos_id=ids["eos_id"], eot_id=ids["eot_id"], confidence_source="ups", remask=True,
        position_temperature=args.position_temperature, return_rollout=True,
    )
    completions = tokenizer.batch_decode(out[:, input_ids.shape[1]:], skip_special_tokens=True)
    return rollout, completions


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


def load_problems(args, tokenizer, context):
    """([(question, reference)] train, [...] val): prompts whose chat-formatted length + --gen-length fit."""
    columns = {}
    if Path(args.data).suffix in (".json", ".jsonl", ".parquet"):
        columns = {"prompt_column": args.prompt_column or "question", "response_column": args.response_column or "answer"}
    pairs = load_pairs(args.data, **columns)
    if args.val_data is not None:
        val_columns = {}
        if Path(args.val_data).suffix in (".json", ".jsonl", ".parquet"):
            val_columns = {"prompt_column": args.prompt_column or "question",
                           "response_column": args.response_column or "answer"}
        train, val = pairs, load_pairs(args.val_data, **val_columns)
    elif args.val_fraction > 0:
        train_idx, val_idx = split_validation(len(pairs), args.val_fraction, args.seed)
        train, val = [pairs[i] for i in train_idx.tolist()], [pairs[i] for i in val_idx.tolist()]
    else:
        train, val = pairs, []
    if args.val_limit:
        val = val[: args.val_limit]
    train = fitting(train, tokenizer, context, args.gen_length, args.prompt_template)
    val = fitting(val, tokenizer, context, args.gen_length, args.prompt_template)
    if not train:
        raise ValueError(f"no training prompt of {args.data} fits the model's context of {context} tokens "
                         f"with --gen-length {args.gen_length}")
    return train, val


def fitting(pairs, tokenizer, context, gen_length, template):
    """(prompt, reference) for the pairs with a usable reference whose templated prompt + answer fit the context."""
    kept = []
    for question, reference in pairs:
        if not question or not reference:
            continue
        prompt = template.format(question=question)
        if encode_prompts(tokenizer, [prompt])[0].shape[1] + gen_length <= context:
            kept.append((prompt, reference))
    return kept


def build_model(args):
    """(RemeDi model to train, a function building the same structure empty, for the export)."""
    model_dir = Path(args.model_path)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"--model-path {args.model_path}: no config.json there (a directory written by "
                                "train_mdm.py or a LLaDA checkpoint)")
    ups_path = Path(args.ups_path) if args.ups_path is not None else model_dir / "ups"
    if not (ups_path / UPS_CONFIG_NAME).is_file():
        raise FileNotFoundError(f"no UPS head at {ups_path}: Remask RL trains the UPS of a model that has one "
                                "(train it first with train_mdm.py --objective remask_sft, or pass --ups-path)")
    dtype = torch.bfloat16 if args.precision == "bf16-true" else torch.float32
    backbone = load_backbone(args.model_path, dtype)
    head = load_ups(ups_path).to(dtype=dtype)
    config, ups_config = backbone.config, head.config_dict()
    check_layout(args, config)

    def assemble(backbone, head):
        if args.train == "lora":
            backbone = training.add_lora(backbone, args.lora_r, args.lora_alpha, dropout=0.0)
        return RemeDiModel(backbone, head)

    def build_empty():
        return assemble(LLaDAModelLM(config), build_ups(ups_config))

    return assemble(backbone, head), build_empty


def check_layout(args, config):
    """RL keeps the backbone's attention layout: a flag that disagrees with the model's config is a mistake."""
    asked = {"--attention-layout": (args.attention_layout, config.attention_layout),
             "--attention-block-length": (args.attention_block_length, config.attention_block_length)}
    for flag, (given, own) in asked.items():
        if given is not None and given != own:
            raise ValueError(f"{flag} {given}: the model at {args.model_path} has {own}; Remask RL trains under the "
                             "backbone's own layout (train a block-causal model with train_mdm.py --attention-layout "
                             "block_causal first)")


def cli(argv=None):
    """The command line: flags, then the run; `run_cli` turns a user's mistake into one `error:` line."""
    return setup(parse_args(argv))


if __name__ == "__main__":
    run_cli(cli)
