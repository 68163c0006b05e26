"""Argument groups as small dataclasses (litgpt style): each default is written once, in its field.

The trainers' command lines (flag, help) and the objects built from the parsed flags (`LossConfig`, LoRA)
both take the value from there, so a default cannot drift between a flag, its help and the library.
"""

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Optional

from remedi.data.resolve import DEFAULT_VAL_FRACTION
from remedi.train.tracking import WANDB_MODES

# Where Remask SFT's wrong tokens come from: any non-special id, or the batch's own answer tokens.
REPLACEMENTS = ("uniform", "batch")


def option(default, help, **add_argument_options):
    """A dataclass field that is also a flag: its help text and add_argument options (choices, type, ...)."""
    return field(default=default, metadata={"help": help, **add_argument_options})


@dataclass
class RemaskSFTArgs:
    """Remask SFT's noise and loss knobs (RemeDi Sec. 3): the trainer's flags, `LossConfig`, the eval's detection."""

    r_incorrect: float = option(0.1, "incorrect-token rate: an unmasked answer token is replaced with "
                                     "probability 4 r t (1-t)")
    replacement: str = option("uniform", "incorrect-token source: any non-special id, or the batch's own answer "
                                         "tokens", choices=REPLACEMENTS)
    lambda_ups: float = option(1.0, "weight of the UPS BCE")
    ups_label_smoothing: float = option(0.0, "UPS BCE targets pulled this far towards 1/2")
    ups_on_all_positions: bool = option(False, "UPS BCE over prompt positions too (otherwise answer positions only)")


@dataclass
class LoRAArgs:
    """peft LoRA on the backbone's block projections (`--train lora`)."""

    lora_r: int = option(8, "LoRA rank")
    lora_alpha: int = option(16, "LoRA scaling numerator (scale = alpha / r)")
    lora_dropout: float = option(0.05, "dropout on the LoRA input")


@dataclass
class OptimisationArgs:
    """AdamW with linear warmup and cosine decay, shared by both trainers (which override a few defaults)."""

    max_steps: int = option(1000, "training steps")
    lr: float = option(1e-4, "peak learning rate")
    min_lr: Optional[float] = option(None, "end of the cosine decay (default lr / 10)", type=float)
    warmup_steps: int = option(50, "linear warmup steps")
    weight_decay: float = option(0.1, "AdamW weight decay")
    grad_clip: float = option(1.0, "max gradient norm (0: off)")
    seed: int = option(42, "model init, data order, noise and rollouts")


@dataclass
class RunArgs:
    """Where a run writes, how often it checkpoints and validates, and its logging."""

    out_dir: Path = option(Path("out/train_mdm"), "checkpoints, metrics.csv, final model", type=Path)
    resume: bool = option(False, "continue from the newest checkpoint in OUT_DIR/checkpoints")
    save_every: int = option(500, "checkpoint interval in training steps (and at the end)")
    val_every: int = option(200, "validation interval in training steps (and at the end)")
    wandb: str = option("disabled", "Weights & Biases logging (needs wandb installed)", choices=WANDB_MODES)
    wandb_project: str = option("remedi", "wandb project")
    run_name: Optional[str] = option(None, "wandb run name")


def add_arguments(parser, group_class, title, *, defaults=None, optional=()):
    """One --flag-name per field of `group_class`, in a new argument group `title`; returns the group.

    `defaults` replaces field defaults for this parser only (a trainer whose runs are shorter, say).
    Flags named in `optional` default to None, so that the script can tell an omitted flag from a given
    one and refuse it where it does not apply; their help names the value the script then fills in
    (the field's default, which the class attribute holds: `RemaskSFTArgs.r_incorrect`).
    """
    group = parser.add_argument_group(title)
    for spec in fields(group_class):
        default = (defaults or {}).get(spec.name, spec.default)
        options = {key: value for key, value in spec.metadata.items() if key != "help"}
        help_text = spec.metadata["help"]
        if isinstance(default, bool):
            options["action"] = "store_true"
        elif default is not None:
            options.setdefault("type", type(default))
        if spec.name in optional:
            if default is not None and not isinstance(default, bool):
                help_text += f" (default {default})"
            default = None
        group.add_argument("--" + spec.name.replace("_", "-"), default=default, help=help_text, **options)
    return group


def from_args(group_class, args: argparse.Namespace):
    """An instance of `group_class` holding the parsed values of its flags."""
    return group_class(**{spec.name: getattr(args, spec.name) for spec in fields(group_class)})


def fill_shared_defaults(args):
    """What both trainers derive alike from the parsed flags: --val-fraction from whether --val-data is given
    (giving both is refused) and --min-lr as --lr / 10."""
    if args.val_data is not None and args.val_fraction is not None:
        raise ValueError("give either --val-data or --val-fraction, not both")
    if args.val_fraction is None:
        args.val_fraction = 0.0 if args.val_data is not None else DEFAULT_VAL_FRACTION
    if args.min_lr is None:
        args.min_lr = args.lr / 10
