"""Train a LLaDA-architecture masked diffusion model, or RemeDi's UPS on top of one, with Lightning Fabric.

The same command runs on one CPU and on many GPUs/nodes (--devices, --num-nodes, --strategy, --precision).

    --objective mdm         LLaDA/SMDM masked diffusion: --mode pretrain (packed text) or --mode sft
    --objective remask_sft  RemeDi Remask SFT: masked CE + lambda * UPS BCE on mask + incorrect-token noise
    --train ups|lora|full   what trains (remask_sft default: ups, the backbone stays frozen)

The script reads as setup() -> main() -> fit() / validate(); the pieces it wires together live in
remedi/ (mdm_args.py: the flags; mdm_setup.py: data, model, loss; training.py: step, optimizer, schedule;
checkpoint.py; tracking.py; metrics.py; data/).
Outputs in --out-dir: metrics.csv, checkpoints/step-N.ckpt (--resume continues from the newest readable one),
and at the end a model directory (config, weights, tokenizer, ups/) that `generate.py --model` loads.
"""

import math
import time

import torch
from tqdm import tqdm

from remedi.cli import ensure_writable_dir, run_cli
from remedi.data.pretrain import random_length_crop
from remedi.model.loading import load_tokenizer
from remedi.model.tokenizer import special_token_ids
from remedi.train import checkpoint as ckpt, training
from remedi.train.losses import ups_labels
from remedi.train.mdm_args import parse_args
from remedi.train.mdm_setup import build_model, load_data, loss_config
from remedi.train.metrics import expected_calibration_error, roc_auc, ups_scored_positions
from remedi.train.tracking import plain_args, run_logger


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

    fields = ["lr", "loss", "diffusion"] + (["ups"] if args.objective == "remask_sft" else [])
    fields += ["grad_norm", "step_time_s"] + (validation_fields(args.objective) if val_rows else [])
    with run_logger(fabric, args, fields, state["step"] if resume_from is not None else None) as logger:
        fit(fabric, args, state, train_rows, val_rows, loss_config(args, tokenizer, model.config), generators, logger,
            special_token_ids(tokenizer)["eos_id"])

    ckpt.export_trained_model(fabric, model, build_empty, tokenizer, args.out_dir)
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


def cli(argv=None):
    """The command line: flags, then the run; `run_cli` turns a user's mistake into one `error:` line."""
    return setup(parse_args(argv))


if __name__ == "__main__":
    run_cli(cli)
