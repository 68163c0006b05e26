"""Train a LLaDA-architecture masked diffusion model, or RemeDi's UPS on top of one, with Lightning Fabric.

The same command runs on one CPU and on many GPUs/nodes (--devices, --num-nodes, --strategy, --precision).

    --objective mdm         LLaDA/SMDM masked diffusion: --mode pretrain (packed text) or --mode sft
    --objective remask_sft  RemeDi Remask SFT: masked CE + lambda * UPS BCE on mask + incorrect-token noise
    --train ups|lora|full   what trains (remask_sft default: ups, the backbone stays frozen)

The script reads as setup() -> main() -> fit() / validate(); the pieces it wires together live in
remedi/ (training.py: loss, step, optimizer, schedule; checkpoint.py; tracking.py; metrics.py; data/).
Outputs in --out-dir: metrics.csv, checkpoints/step-N.ckpt (--resume continues from the newest readable one),
and at the end a model directory (config, weights, tokenizer, ups/) that `generate.py --model` loads.
"""

import argparse
import inspect
import math
import time
from dataclasses import fields
from pathlib import Path

import torch
from tqdm import tqdm

from remedi import LLaDAModelLM, RemeDiModel, UPSHead, UPSStream, load_ups
from remedi.cli import HelpFormatter, add_hardware_arguments, ensure_writable_dir, run_cli
from remedi.data.pretrain import random_length_crop
from remedi.data.resolve import DEFAULT_VAL_FRACTION, load_packed_rows, load_sft_rows, split_validation
from remedi.model.loading import load_backbone, load_tokenizer
from remedi.model.tiny import tiny_config
from remedi.model.tokenizer import special_token_ids
from remedi.model.ups_registry import build_ups
from remedi.train import checkpoint as ckpt, training
from remedi.train.arguments import LoRAArgs, OptimisationArgs, RemaskSFTArgs, RunArgs, add_arguments, from_args
from remedi.train.losses import ups_labels
from remedi.train.metrics import expected_calibration_error, roc_auc, ups_scored_positions
from remedi.train.noise import EPS
from remedi.train.smdm import DIFF_LLAMA_SHAPES, SMDM_SEQ_LEN, diff_llama_dims, steps_for_budget
from remedi.train.tracking import MetricsLogger, plain_args

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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
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
    if args.val_data is not None and args.val_fraction is not None:
        raise ValueError("give either --val-data or --val-fraction, not both")
    if args.val_fraction is None:
        args.val_fraction = 0.0 if args.val_data is not None else DEFAULT_VAL_FRACTION
    if args.min_lr is None:
        args.min_lr = args.lr / 10
    return args


def setup(args):
    """Create Fabric for the requested hardware and run `main` on every process; returns main's state."""
    ensure_writable_dir(args.out_dir, "--out-dir")
    fabric = training.make_fabric(args.accelerator, args.devices, args.num_nodes, args.strategy, args.precision)
    return fabric.launch(main, args)


def main(fabric, args):
    """Data, model, optimizer and (with --resume) the newest checkpoint; train; export the model directory."""
    fabric.seed_everything(args.seed, verbose=False)  # the same initial weights on every rank
    tokenizer = load_tokenizer(args.model_path, args.tokenizer)
    train_rows, val_rows = load_data(args, tokenizer)
    if val_rows is not None and len(val_rows) < fabric.world_size:
        raise ValueError(f"{len(val_rows)} validation rows cannot give each of {fabric.world_size} devices one")
    model, build_empty = build_model(fabric, args, tokenizer)
    trainable = training.set_trainable(model, args.train)
    n_total = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    fabric.print(f"model: {n_total / 1e6:.2f}M parameters, {n_trainable / 1e6:.3f}M trainable (--train {args.train}); "
                 f"{len(train_rows)} train / {len(val_rows) if val_rows else 0} val rows of {args.seq_len} tokens; "
                 f"global batch {args.micro_batch_size * args.grad_accum_steps * fabric.world_size} rows")

    model = fabric.setup(model)
    optimizer = training.build_optimizer(model, args.lr, args.weight_decay)
    optimizer = fabric.setup_optimizers(optimizer)
    # Noise differs across ranks; the data generator (random-length crops) lives on the CPU with the data.
    generators = {
        "noise": torch.Generator(fabric.device).manual_seed(args.seed * 1000 + fabric.global_rank),
        "data": torch.Generator().manual_seed(args.seed * 1000 + fabric.global_rank),
    }
    state = {"model": model, "optimizer": optimizer, "step": 0, "trainable": trainable,
             "world_size": fabric.world_size, "n_train": len(train_rows), "rng": [], "args": plain_args(args)}

    checkpoint_dir = args.out_dir / "checkpoints"
    if ckpt.latest_checkpoint(checkpoint_dir) is not None and not args.resume:
        raise FileExistsError(f"{checkpoint_dir} already holds checkpoints: pass --resume or choose another --out-dir")
    resume_from = ckpt.resume_training_state(fabric, checkpoint_dir, state, generators) if args.resume else None
    if args.resume and resume_from is None:
        fabric.print(f"--resume: no checkpoint in {checkpoint_dir}, starting from step 0")

    logger = None
    if fabric.is_global_zero:
        fields = ["lr", "loss", "diffusion"] + (["ups"] if args.objective == "remask_sft" else [])
        fields += ["grad_norm", "step_time_s"] + (validation_fields(args.objective) if val_rows else [])
        logger = MetricsLogger(args.out_dir / "metrics.csv", fields,
                               resume_step=state["step"] if resume_from is not None else None,
                               wandb_mode=args.wandb, wandb_project=args.wandb_project, run_name=args.run_name,
                               config=plain_args(args))
    try:
        fit(fabric, args, state, train_rows, val_rows, loss_config(args, tokenizer, model.config), generators, logger,
            special_token_ids(tokenizer)["eos_id"])
    finally:
        if logger is not None:
            logger.close()

    weights = ckpt.full_state_dict(model)
    if fabric.is_global_zero:
        ckpt.export_model(weights, build_empty, tokenizer, args.out_dir)
        fabric.print(f"model saved to {args.out_dir} (python generate.py --model {args.out_dir})")
    fabric.barrier()
    return state


def fit(fabric, args, state, train_rows, val_rows, loss_cfg, generators, logger, eos_id):
    """Optimizer steps from state["step"] to --max-steps. Each step's row is logged before its checkpoint is
    written, so a run killed in between leaves extra rows that the resumed run's logger drops."""
    model, optimizer = state["model"], state["optimizer"]
    checkpoint_dir = args.out_dir / "checkpoints"

    def micro_batch(micro_step):
        indices = training.micro_batch_indices(micro_step, len(train_rows), args.micro_batch_size,
                                               fabric.global_rank, fabric.world_size, args.seed)
        input_ids, prompt_lengths = train_rows.take(indices)
        if args.mode == "pretrain":
            input_ids = random_length_crop(input_ids, args.random_length_prob, generators["data"])
        return input_ids, prompt_lengths

    progress = tqdm(total=args.max_steps, initial=state["step"], desc="train", disable=not fabric.is_global_zero)
    while state["step"] < args.max_steps:
        step = state["step"]  # 0-based index of the optimizer step about to run
        lr = training.lr_at(step, args.lr, args.min_lr, args.warmup_steps, args.max_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batches = [micro_batch(step * args.grad_accum_steps + i) for i in range(args.grad_accum_steps)]
        start = time.perf_counter()
        try:
            result = training.train_step(fabric, model, optimizer, batches, loss_cfg, generators["noise"],
                                         args.grad_clip)
        except training.NonFiniteLossError as error:
            last = ckpt.latest_checkpoint(checkpoint_dir)
            raise training.NonFiniteLossError(
                f"step {step + 1}: {error}. Training stopped; the last good checkpoint is "
                f"{last if last is not None else 'none (none was written yet)'}"
            ) from None
        state["step"] += 1
        metrics = {"lr": lr, "loss": result.loss, **result.parts, "step_time_s": time.perf_counter() - start}
        if result.grad_norm is not None:
            metrics["grad_norm"] = result.grad_norm
        last_step = state["step"] == args.max_steps
        if val_rows and (state["step"] % args.val_every == 0 or last_step):
            metrics.update(validate(fabric, model, val_rows, loss_cfg, args, eos_id))
        if logger is not None:
            logger.log(state["step"], metrics)
        if state["step"] % args.save_every == 0 or last_step:
            ckpt.save_training_state(fabric, checkpoint_dir, state, generators, args.train)
        progress.update(1)
        progress.set_postfix(loss=f"{result.loss:.4f}", lr=f"{lr:.2e}")
    progress.close()


@torch.no_grad()
def validate(fabric, model, val_rows, loss_cfg, args, eos_id):
    """Validation loss, masked-token accuracy and, for remask_sft, the UPS's AUC (on the tokens
    `ups_scored_positions` chooses, as the eval's detection does) and calibration.

    The noise is drawn from a generator re-seeded at every call, so successive validations score the
    same noisy inputs and the training random stream is left untouched. Every rank runs the same
    number of batches (collective forwards under FSDP need that).
    """
    model.eval()
    generator = torch.Generator(fabric.device).manual_seed(args.seed * 1000 + 999 - fabric.global_rank)
    per_rank = len(val_rows) // fabric.world_size
    first = fabric.global_rank * per_rank
    starts = list(range(first, first + per_rank, args.micro_batch_size))[: args.val_batches]
    totals = dict.fromkeys(["rows", "loss", "diffusion", "ups", "correct", "masked"], 0.0)
    scores, is_clean, probs, targets = [], [], [], []
    for start in starts:
        end = min(start + args.micro_batch_size, first + per_rank)
        input_ids, prompt_lengths = val_rows.take(torch.arange(start, end))
        input_ids = input_ids.to(fabric.device)
        prompt_lengths = None if prompt_lengths is None else prompt_lengths.to(fabric.device)
        out = training.compute_loss(model, input_ids, prompt_lengths, loss_cfg, generator)
        n, masked = input_ids.shape[0], out.noisy.masked
        totals["rows"] += n
        totals["loss"] += float(out.loss) * n  # batch losses are means over their rows
        totals["diffusion"] += float(out.parts["diffusion"]) * n
        totals["ups"] += float(out.parts.get("ups", 0.0)) * n
        totals["correct"] += float((out.logits.argmax(-1) == input_ids)[masked].sum())
        totals["masked"] += float(masked.sum())
        if out.ups_logits is not None:
            visible = ups_scored_positions(input_ids, prompt_lengths, masked, eos_id)  # as the eval's detection
            scores.append(out.ups_logits[visible].float())
            is_clean.append((~out.noisy.incorrect[visible]).float())
            labels = ups_labels(out.logits, input_ids, masked, out.noisy.incorrect)
            probs.append(torch.sigmoid(out.ups_logits[masked].float()))
            targets.append(labels[masked])
    summed = torch.tensor(list(totals.values()), dtype=torch.float64, device=fabric.device)
    summed = fabric.all_reduce(summed, reduce_op="sum")
    totals = dict(zip(totals, summed.tolist()))
    rows = max(totals["rows"], 1.0)
    metrics = {"val_loss": totals["loss"] / rows, "val_diffusion": totals["diffusion"] / rows,
               "val_masked_acc": totals["correct"] / max(totals["masked"], 1.0)}
    if loss_cfg.objective == "remask_sft":
        scores, is_clean, probs, targets = (training.gather_cat(fabric, torch.cat(x))
                                            for x in (scores, is_clean, probs, targets))
        metrics.update({"val_ups": totals["ups"] / rows, "val_ups_auc": roc_auc(scores, is_clean),
                        "val_ups_ece_masked": expected_calibration_error(probs, targets),
                        "val_ups_mae_masked": float((probs - targets).abs().mean()) if probs.numel() else math.nan})
    model.train()
    return metrics


def validation_fields(objective):
    fields = ["val_loss", "val_diffusion", "val_masked_acc"]
    if objective == "remask_sft":
        fields += ["val_ups", "val_ups_auc", "val_ups_ece_masked", "val_ups_mae_masked"]
    return fields










def load_data(args, tokenizer):
    """(train Rows, val Rows or None) from --data and --val-data / --val-fraction."""
    def rows(spec):
        if args.mode == "pretrain":
            return training.Rows(load_packed_rows(spec, tokenizer, args.seq_len, args.text_column))
        examples = load_sft_rows(spec, tokenizer, args.seq_len, args.prompt_column, args.response_column)
        return training.Rows(examples.input_ids, examples.prompt_lengths)

    train = rows(args.data)
    if args.val_data is not None:
        return train, rows(args.val_data)
    if args.val_fraction == 0:
        return train, None
    train_idx, val_idx = split_validation(len(train), args.val_fraction, args.seed)
    return training.Rows(*train.take(train_idx)), training.Rows(*train.take(val_idx))


def fresh_ups(args, config):
    if args.ups_arch == "mlp":
        return build_ups({"arch": "mlp", "hidden_size": config.hidden_size, "ups_width": args.ups_width})
    read_layers = args.ups_read_layers or list(range(config.n_layers // 2, config.n_layers))
    return build_ups({"arch": "stream", "hidden_size": config.hidden_size, "read_layers": read_layers,
                      "stream_dim": args.ups_stream_dim, "n_heads": max(1, args.ups_stream_dim // 16)})


def build_model(fabric, args, tokenizer):
    """(model to train, a function building the same structure empty, for the export)."""
    ids = special_token_ids(tokenizer)
    if args.model_path is not None:
        dtype = torch.bfloat16 if args.precision == "bf16-true" else torch.float32
        backbone = load_backbone(args.model_path, dtype)
    else:
        dims = dict(d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads, n_kv_heads=args.n_kv_heads,
                    mlp_hidden_size=args.mlp_hidden_size)
        config = tiny_config(tokenizer, max_sequence_length=max(512, args.seq_len), **dims)
        with fabric.init_module(empty_init=False):  # real initialisation, also under FSDP
            backbone = LLaDAModelLM(config)
    config = backbone.config
    # The layout is a property of the trained model (saved in its config.json), not of the run: a flag turns,
    # say, a bidirectional LLaDA into a block-causal one, which the export then records.
    if args.attention_layout is not None:
        config.attention_layout = args.attention_layout
    if args.attention_block_length is not None:
        config.attention_block_length = args.attention_block_length
    if len(tokenizer) > config.padded_vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, the model's embedding only "
                         f"{config.padded_vocab_size}")
    if config.mask_token_id != ids["mask_id"]:
        raise ValueError(f"the model's mask_token_id {config.mask_token_id} is not the tokenizer's {ids['mask_id']}")
    if args.seq_len > config.max_sequence_length:
        raise ValueError(f"--seq-len {args.seq_len} exceeds the model's max_sequence_length "
                         f"{config.max_sequence_length}")

    head = None
    if args.objective == "remask_sft":
        ups_path = args.ups_path
        if ups_path is None and args.model_path is not None and (Path(args.model_path) / "ups").is_dir():
            ups_path = Path(args.model_path) / "ups"
        head = load_ups(ups_path) if ups_path is not None else fresh_ups(args, config)
        head.to(dtype=next(backbone.parameters()).dtype)
    ups_config = None if head is None else head.config_dict()  # {"arch": "mlp" | "stream", sizes...}

    def assemble(backbone, head):
        if args.train == "lora":
            backbone = training.add_lora(backbone, args.lora_r, args.lora_alpha, args.lora_dropout)
        return backbone if head is None else RemeDiModel(backbone, head)

    def build_empty():
        if ups_config is None:
            return assemble(LLaDAModelLM(config), None)
        return assemble(LLaDAModelLM(config), build_ups(ups_config))

    return assemble(backbone, head), build_empty


def loss_config(args, tokenizer, model_config=None):
    """The loss settings; a block-causal `model_config` makes the loss use the block-causal training layout."""
    ids = special_token_ids(tokenizer)
    options = {}
    if getattr(model_config, "attention_layout", "bidirectional") == "block_causal":
        options["block_length"] = model_config.attention_block_length
    if args.objective == "remask_sft":
        options.update(vocab_size=len(tokenizer), remask=from_args(RemaskSFTArgs, args),
                       special_ids=tuple(sorted(set(tokenizer.all_special_ids) | set(ids.values()))))
    return training.LossConfig(objective=args.objective, mask_id=ids["mask_id"], eps=args.eps, **options)


def cli(argv=None):
    """The command line: flags, then the run; `run_cli` turns a user's mistake into one `error:` line."""
    return setup(parse_args(argv))


if __name__ == "__main__":
    run_cli(cli)
