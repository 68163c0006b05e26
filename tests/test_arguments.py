"""Argument groups: one default per knob, the same in both trainers' flags, their help and LossConfig."""

import argparse
from pathlib import Path

import pytest

from remedi.model.tokenizer import build_char_tokenizer
from remedi.train import mdm_args, mdm_setup, rl_args
from remedi.train.arguments import RemaskSFTArgs, add_arguments, from_args

SHARED = ("max_steps", "lr", "min_lr", "warmup_steps", "weight_decay", "grad_clip", "seed", "out_dir", "resume",
          "save_every", "val_every", "wandb", "run_name")


def test_trainers_share_optimisation_and_run_flags_with_their_own_defaults():
    sft, rl = vars(mdm_args.parse_args([])), vars(rl_args.parse_args([]))
    # min_lr is filled in as lr / 10 by both scripts
    assert [sft[name] for name in SHARED] == [1000, 1e-4, 1e-5, 50, 0.1, 1.0, 42, Path("out/train_mdm"), False, 500,
                                              200, "disabled", None]
    assert [rl[name] for name in SHARED] == [200, 1e-4, 1e-5, 10, 0.0, 1.0, 42, Path("out/train_mdm_rl"), False, 50,
                                             25, "disabled", None]
    assert rl["wandb_project"] == "remedi"


def test_remask_sft_flags_build_the_loss_config_in_one_call():
    args = mdm_args.parse_args(["--objective", "remask_sft", "--r-incorrect", "0.3", "--replacement", "batch",
                                 "--ups-on-all-positions"])
    cfg = mdm_setup.loss_config(args, build_char_tokenizer())
    assert cfg.remask == RemaskSFTArgs(r_incorrect=0.3, replacement="batch", lambda_ups=1.0, ups_label_smoothing=0.0,
                                       ups_on_all_positions=True)
    assert mdm_setup.loss_config(mdm_args.parse_args([]), build_char_tokenizer()).vocab_size is None


def test_optional_flags_default_to_none_and_name_their_default_in_the_help():
    parser = argparse.ArgumentParser()
    add_arguments(parser, RemaskSFTArgs, "remask", optional=["r_incorrect"])
    args = parser.parse_args([])
    assert args.r_incorrect is None and args.replacement == "uniform" and args.ups_on_all_positions is False
    assert "(default 0.1)" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--replacement", "nearby"])
    given = parser.parse_args(["--r-incorrect", "0.25", "--ups-on-all-positions"])
    assert from_args(RemaskSFTArgs, given) == RemaskSFTArgs(r_incorrect=0.25, ups_on_all_positions=True)
