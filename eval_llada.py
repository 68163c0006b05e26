"""Evaluate a masked diffusion model with lm-evaluation-harness, as LLaDA's `eval_llada.py` does:

    accelerate launch eval_llada.py --tasks gsm8k --model llada_dist \\
        --model_args model_path=GSAI-ML/LLaDA-8B-Base,gen_length=1024,steps=1024,block_length=1024

The arguments are lm-eval's own (`--tasks`, `--model_args`, `--batch_size`, `--include_path`,
`--apply_chat_template`, `--output_path`, ...). The models, `llada_dist` (LLaDA's sampler) and `remedi` (the
model's UPS with remasking), live in `remedi/eval/lm_eval_harness.py`, which lists their model_args.
Needs the evaluation extras: `pip install -r requirements-eval.txt`.
"""

import importlib
import sys

from remedi.cli import run_cli


def main(argv=None):
    for package in ("lm_eval", "accelerate"):
        try:
            importlib.import_module(package)
        except ImportError:
            raise ValueError(f"{package} is not installed; install the evaluation extras with "
                             "pip install -r requirements-eval.txt") from None
    harness = importlib.import_module("remedi.eval.lm_eval_harness")  # registers llada_dist and remedi with lm-eval
    argv = sys.argv[1:] if argv is None else argv
    harness.check_command_line(argv)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = [sys.argv[0], *argv]
    cli_evaluate()


if __name__ == "__main__":
    run_cli(main)
