"""train_mdm.py's command line: its flags, upstream SMDM's flags read as this trainer's, and the checks that
refuse a contradictory combination before any model or data is loaded.

A library module so that the trainer, scripts/gpu_check.py (which times a step with the trainer's own
settings) and the tests parse flags the same way.
"""

import argparse
import inspect
from dataclasses import fields

from remedi.cli import HelpFormatter, add_hardware_arguments
from remedi.data.resolve import DEFAULT_VAL_FRACTION
from remedi.model.tiny import tiny_config
from remedi.model.ups_heads import UPSHead
from remedi.model.ups_stream import UPSStream
from remedi.train import training
from remedi.train.arguments import (LoRAArgs, OptimisationArgs, RemaskSFTArgs, RunArgs, add_arguments,
                                    fill_shared_defaults)
from remedi.train.noise import EPS
from remedi.train.smdm import DIFF_LLAMA_SHAPES, SMDM_SEQ_LEN, diff_llama_dims, steps_for_budget

DESCRIPTION = "Train a LLaDA-architecture masked diffusion model, or RemeDi's UPS on top of one, with Lightning Fabric."


DEFAULT_SEQ_LEN = 256


TINY_DEFAULTS = {name: parameter.default for name, parameter in inspect.signature(tiny_config).parameters.items()}


def is_remask_sft(args):
    return args.objective == "remask_sft"


def is_fresh_ups(arch):
    return lambda a: a.objective == "remask_sft" and a.ups_path is None and a.ups_arch == arch


# Flags that only mean something in some configurations: None by default, so that giving one where it
# does not apply is an error instead of being silently ignored. Value: (applies?, what it needs, default).
CONDITIONAL_FLAGS = {
    **{spec.name: (is_remask_sft, "--objective remask_sft", spec.default) for spec in fields(RemaskSFTArgs)},
    "ups_path": (is_remask_sft, "--objective remask_sft", None),
    "ups_arch": (lambda a: a.objective == "remask_sft" and a.ups_path is None, "a fresh UPS head", "mlp"),
    "ups_width": (is_fresh_ups("mlp"), "a fresh --ups-arch mlp head",
                  inspect.signature(UPSHead).parameters["ups_width"].default),
    "ups_read_layers": (is_fresh_ups("stream"), "a fresh --ups-arch stream", None),
    "ups_stream_dim": (is_fresh_ups("stream"), "a fresh --ups-arch stream",
                       inspect.signature(UPSStream).parameters["stream_dim"].default),
    **{spec.name: (lambda a: a.train == "lora", "--train lora", spec.default) for spec in fields(LoRAArgs)},
    "random_length_prob": (lambda a: a.mode == "pretrain", "--mode pretrain", 0.01),
    "text_column": (lambda a: a.mode == "pretrain", "--mode pretrain", "text"),
    "prompt_column": (lambda a: a.mode == "sft", "--mode sft", None),
    "response_column": (lambda a: a.mode == "sft", "--mode sft", None),
    **{name: (lambda a: a.model_path is None, "--model-config tiny", TINY_DEFAULTS[name])
       for name in ("d_model", "n_layers", "n_heads", "n_kv_heads", "mlp_hidden_size")},
    "wandb_project": (lambda a: a.wandb != "disabled", "--wandb offline|online", RunArgs.wandb_project),
    "run_name": (lambda a: a.wandb != "disabled", "--wandb offline|online", None),
}


def default_note(name):
    """' (default X)' for the help of a conditional flag, from CONDITIONAL_FLAGS, where its default lives."""
    return f" (default {CONDITIONAL_FLAGS[name][2]!r})"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=DESCRIPTION, formatter_class=HelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model-path", default=None, help="existing LLaDA checkpoint directory (e.g. LLaDA-8B-Instruct)")
    g.add_argument("--model-config", choices=["tiny"], default=None,
                   help="fresh model from remedi.model.tiny.tiny_config (the default without --model-path)")
    g.add_argument("--d-model", type=int, default=None, help="tiny: width" + default_note("d_model"))
    g.add_argument("--n-layers", type=int, default=None, help="tiny: blocks" + default_note("n_layers"))
    g.add_argument("--n-heads", type=int, default=None, help="tiny: attention heads" + default_note("n_heads"))
    g.add_argument("--n-kv-heads", type=int, default=None, help="tiny: key/value heads" + default_note("n_kv_heads"))
    g.add_argument("--mlp-hidden-size", type=int, default=None,
                   help="tiny: SwiGLU width" + default_note("mlp_hidden_size"))
    g.add_argument("--tokenizer", default=None,
                   help="HF tokenizer directory (default: the model directory's, else the character tokenizer)")
    g.add_argument("--ups-path", default=None, help="start from these UPS weights (default: MODEL_PATH/ups if present)")
    g.add_argument("--ups-arch", choices=["mlp", "stream"], default=None,
                   help="fresh UPS: mlp head on the last hidden state, or the dual stream" + default_note("ups_arch"))
    g.add_argument("--ups-width", type=int, default=None,
                   help="hidden width of a fresh mlp UPS head" + default_note("ups_width"))
    g.add_argument("--ups-read-layers", type=int, nargs="+", default=None,
                   help="stream: backbone layers it reads and writes back to (default: the second half)")
    g.add_argument("--ups-stream-dim", type=int, default=None,
                   help="stream: width of the UPS stream" + default_note("ups_stream_dim"))
    g.add_argument("--attention-layout", choices=["bidirectional", "block_causal"], default=None,
                   help="block_causal: answer block j sees the prompt and blocks <= j (exact KV cache at sampling); "
                        "trained in one pass over [prompt; clean answer; noisy answer], one noise level per block "
                        "(needs --mode sft). Default: the model's own (a fresh model is bidirectional)")
    g.add_argument("--attention-block-length", type=int, default=None,
                   help="tokens per answer block of the block-causal layout (default: the model's, 32 when fresh)")

    g = p.add_argument_group("objective")
    g.add_argument("--objective", choices=training.OBJECTIVES, default="mdm", help="training objective")
    g.add_argument("--mode", choices=["pretrain", "sft"], default="sft",
                   help="pretrain: packed text, every position noised; sft: the prompt is never noised")
    g.add_argument("--train", choices=training.TRAIN_MODES, default=None,
                   help="default: ups for remask_sft, full for mdm")
    g.add_argument("--eps", type=float, default=EPS, help="p_mask = (1 - eps) t + eps")
    g.add_argument("--random-length-prob", type=float, default=None,
                   help="pretrain: share of batches cut to a random length, as LLaDA"
                        + default_note("random_length_prob"))
    add_arguments(p, RemaskSFTArgs, "Remask SFT (--objective remask_sft)",
                  optional=[spec.name for spec in fields(RemaskSFTArgs)])
    add_arguments(p, LoRAArgs, "LoRA (--train lora)", optional=[spec.name for spec in fields(LoRAArgs)])

    g = p.add_argument_group("data")
    g.add_argument("--data", default="gsm8k", help="gsm8k | math500 | s1k | opc:<config> | PATH.jsonl/.json/.parquet")
    g.add_argument("--val-data", default=None, help="validation set, same forms as --data")
    g.add_argument("--val-fraction", type=float, default=None,
                   help="share of --data held out for validation when --val-data is not given "
                        f"(default {DEFAULT_VAL_FRACTION}; 0: none)")
    g.add_argument("--prompt-column", default=None, help="sft, local files and opc (default 'prompt')")
    g.add_argument("--response-column", default=None, help="sft, local files and opc (default 'response')")
    g.add_argument("--text-column", default=None,
                   help="pretrain: text column of a local file" + default_note("text_column"))
    g.add_argument("--seq-len", type=int, default=None,
                   help=f"tokens per row (prompt + answer + EOS padding; default {DEFAULT_SEQ_LEN}, "
                        f"{SMDM_SEQ_LEN} with --model N as SMDM)")

    g = add_arguments(p, OptimisationArgs, "optimisation", optional=["max_steps"])
    g.add_argument("--micro-batch-size", type=int, default=8, help="rows per device per forward pass")
    g.add_argument("--grad-accum-steps", type=int, default=None, help="micro-batches per optimizer step (default 1)")

    g = add_arguments(p, RunArgs, "run", optional=["wandb_project", "run_name"])
    g.add_argument("--val-batches", type=int, default=20, help="at most this many validation batches per device")

    add_hardware_arguments(p)

    g = p.add_argument_group("upstream SMDM's flags", "pretrain/train_mdm.py's command line, with its meaning")
    g.add_argument("--model", type=int, default=None,
                   help="a fresh LLaDA-architecture model of the shape of SMDM's Diff_LLaMA_<N>M config (N: "
                        f"{', '.join(map(str, DIFF_LLAMA_SHAPES))})")
    g.add_argument("--flops", type=float, default=None,
                   help="compute budget in 1e18 FLOPs (needs --model): sets --max-steps to F 1e18 / (6 N rows "
                        "--seq-len), N the model's non-embedding parameters, rows the global batch")
    g.add_argument("--batch_size", type=int, default=None,
                   help="global batch in rows per optimizer step: sets --grad-accum-steps to "
                        "batch / (--micro-batch-size x --devices x --num-nodes)")
    g.add_argument("--nodes_num", type=int, default=None, help="machines, as --num-nodes")
    return check_args(p.parse_args(argv))


def resolve_smdm_flags(args):
    """Turn upstream SMDM's --model, --flops, --batch_size and --nodes_num into this script's settings,
    or refuse a combination that gives two answers to one question or none."""
    if args.nodes_num is not None:
        if args.nodes_num < 1 or args.num_nodes not in (1, args.nodes_num):
            raise ValueError(f"--nodes_num {args.nodes_num} is SMDM's --num-nodes: give one of them, at least 1")
        args.num_nodes = args.nodes_num
    if args.model is not None:
        if args.model_path is not None or args.model_config is not None:
            raise ValueError("--model N builds a fresh Diff_LLaMA-shaped model: drop --model-path / --model-config")
        for name, value in diff_llama_dims(args.model).items():
            if getattr(args, name) is not None:
                raise ValueError(f"--{name.replace('_', '-')} sets a tiny model's shape, --model {args.model} takes "
                                 "SMDM's: give one of them")
            setattr(args, name, value)
    if args.seq_len is None:
        args.seq_len = DEFAULT_SEQ_LEN if args.model is None else SMDM_SEQ_LEN
    rows_per_pass = args.micro_batch_size * args.devices * args.num_nodes
    if args.batch_size is not None:
        if args.grad_accum_steps is not None:
            raise ValueError("--batch_size sets --grad-accum-steps (batch / rows per pass): give one of them")
        if args.batch_size < 1 or args.batch_size % rows_per_pass:
            raise ValueError(f"--batch_size {args.batch_size} is not a positive multiple of the {rows_per_pass} rows "
                             "of one pass (--micro-batch-size x --devices x --num-nodes): change one of them")
        args.grad_accum_steps = args.batch_size // rows_per_pass
    if args.grad_accum_steps is None:
        args.grad_accum_steps = 1
    if args.flops is not None:
        if args.model is None:
            raise ValueError("--flops counts 6 FLOPs per parameter and token of an SMDM size: give --model N too")
        if args.max_steps is not None:
            raise ValueError("--flops sets --max-steps: give one of them")
        batch_rows = rows_per_pass * args.grad_accum_steps
        args.max_steps = steps_for_budget(args.flops, args.model, batch_rows, args.num_nodes, args.seq_len)
        if args.max_steps < 1:
            raise ValueError(f"--flops {args.flops} buys no optimizer step of {batch_rows} rows x {args.seq_len} "
                             f"tokens for Diff_LLaMA_{args.model}M: raise --flops or lower --batch_size")
    if args.max_steps is None:
        args.max_steps = OptimisationArgs.max_steps


def check_args(args):
    """Reject contradictory flags and fill in the defaults that depend on other flags."""
    if args.model_path is not None and args.model_config is not None:
        raise ValueError("give either --model-path or --model-config, not both")
    resolve_smdm_flags(args)
    if args.objective == "remask_sft" and args.mode != "sft":
        raise ValueError("--objective remask_sft trains on prompt/answer pairs: use --mode sft")
    if args.train is None:
        args.train = "ups" if args.objective == "remask_sft" else "full"
    if args.objective == "mdm" and args.train == "ups":
        raise ValueError("--train ups needs a UPS head: use it with --objective remask_sft")
    for name, (applies, needs, default) in CONDITIONAL_FLAGS.items():
        if not applies(args):
            if getattr(args, name) is not None:
                raise ValueError(f"--{name.replace('_', '-')} only applies with {needs}")
        elif getattr(args, name) is None:
            setattr(args, name, default)
    counts = ("seq_len", "micro_batch_size", "grad_accum_steps", "max_steps", "save_every", "val_every", "val_batches")
    for name in counts:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.attention_block_length is not None and args.attention_block_length <= 0:
        raise ValueError(f"--attention-block-length must be positive, got {args.attention_block_length}")
    if args.attention_layout == "block_causal" and args.mode != "sft":
        raise ValueError("--attention-layout block_causal counts blocks from the answer: use it with --mode sft")
    fill_shared_defaults(args)
    return args
