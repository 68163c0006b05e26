"""train_mdm_rl.py's command line: its flags and the checks that refuse a setting that cannot run before any
model is loaded.

A library module so that the trainer, scripts/gpu_check.py (which times an RL step with the trainer's own
settings) and the tests parse flags the same way.
"""

import argparse
from pathlib import Path

from remedi.cli import HelpFormatter, add_hardware_arguments
from remedi.data.resolve import DEFAULT_VAL_FRACTION
from remedi.model.loading import DEFAULT_MODEL
from remedi.train import training
from remedi.train.arguments import LoRAArgs, OptimisationArgs, RunArgs, add_arguments, fill_shared_defaults
from remedi.train.rewards import REWARDS, correctness_reward
from remedi.train.rl_setup import rollout_config

DESCRIPTION = "Remask RL: train RemeDi's unmasking policy (and optionally the token predictor) on a verifiable reward."


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=HelpFormatter)
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
    args.val_steps = args.val_steps or list(args.steps)
    if args.position_temperature <= 0:
        raise ValueError("--position-temperature must be > 0: the position policy has to be stochastic to learn")
    for steps in args.steps + args.val_steps:
        try:
            rollout_config(args, steps).validate()
        except ValueError as error:
            raise ValueError(f"--steps/--val-steps {steps} with --gen-length {args.gen_length} and --block-length "
                             f"{args.block_length}: {error}") from None
    if args.train != "ups" and args.temperature == 0:
        raise ValueError(f"--train {args.train} trains the TPS on the tokens it sampled: use --temperature > 0")
    if not 0 < args.clip_eps < 1 or args.kl_coef < 0:
        raise ValueError("--clip-eps must lie in (0, 1) and --kl-coef be >= 0")
    fill_shared_defaults(args)
    correctness_reward(args.reward)  # a missing hook fails here, not after the model is loaded
    try:
        args.prompt_template.format(question="")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"--prompt-template {args.prompt_template!r} is not a format string with only "
                         f"{{question}} ({error!r}); write literal braces as {{{{ }}}}") from None
    if "{question}" not in args.prompt_template:
        raise ValueError(f"--prompt-template {args.prompt_template!r} must contain {{question}}")
    return args
