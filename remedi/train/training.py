"""The pieces of one training step, shared by `SMDM/pretrain/train_mdm.py` and `bench/bench_trainer.py`.

- `compute_loss`: noise a batch with the objective's forward process, run the model, return the loss.
- `train_step`: one optimizer step with gradient accumulation, clipping and a non-finite-loss stop.
- `set_trainable` / `add_lora`: which parameters train (`ups`, `lora` or `full`).
- `build_optimizer`, `lr_at`: AdamW over the trainable parameters only, linear warmup + cosine decay.
- `Rows`, `micro_batch_indices`: an in-memory dataset whose batch order is a pure function of the
  micro-step, so resuming needs the step counter and nothing else to continue the same order.
- `make_fabric`, `gather_cat`: the hardware flags turned into Fabric, and a gather of ragged tensors.
"""

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import lightning as L
import torch
from lightning.fabric.strategies import FSDPStrategy

from remedi.model.attention import two_copy_training_mask
from remedi.train.arguments import LoRAArgs, RemaskSFTArgs
from remedi.train.losses import masked_diffusion_loss, remask_sft_loss
from remedi.train.noise import EPS, NoisyBatch, mdm_forward_process, per_block_times, remask_forward_process

OBJECTIVES = ("mdm", "remask_sft")
TRAIN_MODES = ("ups", "lora", "full")
# LoRA goes on the projections inside the Transformer blocks. The pattern is anchored on `blocks.N.`
# because `ff_out` also names the LM head (model.transformer.ff_out): the head stays frozen, as in
# LoRA fine-tuning of LLaMA-style models, since a rank-r update of a 126k-row output matrix adds
# optimizer state for little gain and the UPS head is what Remask SFT adds on top.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "attn_out", "ff_proj", "up_proj", "ff_out")
LORA_PATTERN = r".*\.blocks\.\d+\.(" + "|".join(LORA_TARGETS) + ")"


class NonFiniteLossError(RuntimeError):
    """Raised before the optimizer step when the loss or the gradient norm is NaN or infinite."""


@dataclass
class LossConfig:
    objective: str  # "mdm" | "remask_sft"
    mask_id: int
    eps: float = EPS
    # remask_sft only
    vocab_size: Optional[int] = None  # len(tokenizer): replacements are drawn below it
    special_ids: tuple = ()  # never drawn as an incorrect replacement
    remask: RemaskSFTArgs = field(default_factory=RemaskSFTArgs)
    # block-causal models: the answer block length; None trains the bidirectional layout
    block_length: Optional[int] = None


@dataclass
class LossOutput:
    loss: torch.Tensor  # the scalar to backpropagate
    parts: dict  # name -> detached scalar, for logging ("diffusion", and "ups" for remask_sft)
    noisy: NoisyBatch
    logits: torch.Tensor  # (B, L, V)
    ups_logits: Optional[torch.Tensor]  # (B, L), None for mdm


def compute_loss(model, input_ids, prompt_lengths, cfg, generator=None):
    """Loss of `model` on one batch of clean rows (B, L); `prompt_lengths` (B,) for SFT, None for pretraining.

    mdm: LLaDA's process on every position (pretraining, loss / (B*L)) or on the answer only (SFT,
    loss / answer length). remask_sft: RemeDi's process on the answer, masked CE + lambda * UPS BCE.
    With `cfg.block_length` (block-causal models) each answer block gets its own noise level and the model
    sees the clean and the noisy row in one pass (`block_causal_forward`); losses read the noisy copy.
    """
    t = None
    if cfg.block_length is not None:
        if prompt_lengths is None:
            raise ValueError("block-causal training needs prompts (--mode sft): blocks are counted from the answer")
        t = per_block_times(prompt_lengths, input_ids.shape[1], cfg.block_length, generator)
    if cfg.objective == "mdm":
        noisy = mdm_forward_process(
            input_ids, mask_id=cfg.mask_id, eps=cfg.eps, prompt_lengths=prompt_lengths, t=t, generator=generator
        )
        logits = _model_outputs(model, input_ids, noisy.noisy_ids, prompt_lengths, cfg).logits
        answer_lengths = None if prompt_lengths is None else input_ids.shape[1] - prompt_lengths
        loss = masked_diffusion_loss(logits, input_ids, noisy.masked, noisy.p_mask, answer_lengths)
        return LossOutput(loss, {"diffusion": loss.detach()}, noisy, logits, None)
    if cfg.objective != "remask_sft":
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {cfg.objective!r}")
    noisy = remask_forward_process(
        input_ids, prompt_lengths, mask_id=cfg.mask_id, vocab_size=cfg.vocab_size, special_ids=cfg.special_ids,
        r_incorrect=cfg.remask.r_incorrect, eps=cfg.eps, replacement=cfg.remask.replacement, t=t, generator=generator,
    )
    out = _model_outputs(model, input_ids, noisy.noisy_ids, prompt_lengths, cfg)
    losses = remask_sft_loss(
        out.logits, out.ups_logits, input_ids, noisy.masked, noisy.incorrect, noisy.p_mask, prompt_lengths,
        lambda_ups=cfg.remask.lambda_ups, label_smoothing=cfg.remask.ups_label_smoothing,
        ups_on_all_positions=cfg.remask.ups_on_all_positions,
    )
    parts = {"diffusion": losses.diffusion.detach(), "ups": losses.ups.detach()}
    return LossOutput(losses.total, parts, noisy, out.logits, out.ups_logits)


def _model_outputs(model, input_ids, noisy_ids, prompt_lengths, cfg):
    """The model's outputs on the noisy rows: one plain pass, or the block-causal two-copy pass."""
    if cfg.block_length is None:
        return model(noisy_ids)
    return block_causal_forward(model, input_ids, noisy_ids, prompt_lengths, cfg.block_length)


@dataclass
class TwoCopyOutput:
    logits: torch.Tensor  # (B, L, V) of the noisy copy
    ups_logits: Optional[torch.Tensor]  # (B, L) of the noisy copy, None without a UPS


def block_causal_forward(model, clean_ids, noisy_ids, prompt_lengths, block_length, attention_mask=None):
    """Outputs for every noisy block, each seen as at sampling time, from one pass over [clean row; noisy row].

    Noisy block j attends to the prompt, the clean blocks before it and itself (remedi/model/attention.py); both
    copies sit at positions 0..L-1. This trains all blocks of a row at once, each at its own noise level.
    `prompt_lengths` (B,) are where the answers start; with left padding, `attention_mask` (B, L) hides the
    padded positions of both copies.
    """
    length = clean_ids.shape[1]
    both = torch.cat([clean_ids, noisy_ids], dim=1)
    positions = torch.arange(length, device=clean_ids.device).repeat(2).expand(clean_ids.shape[0], -1)
    attend = two_copy_training_mask(prompt_lengths, length, block_length)
    padding = {} if attention_mask is None else {"attention_mask": torch.cat([attention_mask, attention_mask], dim=1)}
    out = model(both, position_ids=positions, attend_mask=attend, **padding)
    ups_logits = getattr(out, "ups_logits", None)
    return TwoCopyOutput(out.logits[:, length:], None if ups_logits is None else ups_logits[:, length:])


@dataclass
class StepResult:
    loss: float  # mean over micro-batches and ranks
    parts: dict  # name -> float, same averaging
    grad_norm: Optional[float]  # before clipping; None when clipping is off


def train_step(fabric, model, optimizer, micro_batches, cfg, generator, grad_clip=1.0):
    """One optimizer step over `micro_batches` [(input_ids, prompt_lengths or None), ...] on this rank.

    Gradients of all but the last micro-batch stay local (no all-reduce) under DDP/FSDP. The loss is
    averaged over ranks before the update, so every rank sees the same value and all of them stop
    together, without updating, if it (or the gradient norm) is not finite.
    """
    n = len(micro_batches)
    sums = None
    for i, (input_ids, prompt_lengths) in enumerate(micro_batches):
        input_ids = input_ids.to(fabric.device)
        prompt_lengths = None if prompt_lengths is None else prompt_lengths.to(fabric.device)
        with fabric.no_backward_sync(model, enabled=i < n - 1):
            out = compute_loss(model, input_ids, prompt_lengths, cfg, generator)
            fabric.backward(out.loss / n)
        values = torch.stack([out.loss.detach().float()] + [v.float() for v in out.parts.values()]) / n
        sums = values if sums is None else sums + values
    sums = fabric.all_reduce(sums, reduce_op="mean")
    loss, parts = float(sums[0]), dict(zip(out.parts, sums[1:].tolist()))
    grad_norm = None
    if math.isfinite(loss) and grad_clip > 0:
        grad_norm = float(fabric.clip_gradients(model, optimizer, max_norm=grad_clip, error_if_nonfinite=False))
    if not math.isfinite(loss) or (grad_norm is not None and not math.isfinite(grad_norm)):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteLossError(
            f"non-finite training loss {loss} (gradient norm {grad_norm}); the update was not applied"
        )
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return StepResult(loss=loss, parts=parts, grad_norm=grad_norm)


def lr_at(step, lr, min_lr, warmup_steps, max_steps):
    """Learning rate of optimizer step `step` (0-based): linear warmup to `lr`, cosine decay to `min_lr`."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))) * (lr - min_lr)


def add_lora(backbone, r=LoRAArgs.lora_r, alpha=LoRAArgs.lora_alpha, dropout=LoRAArgs.lora_dropout):
    """Wrap `backbone` in a peft LoRA model on the block projections of LORA_PATTERN (LM head excluded)."""
    from peft import LoraConfig, get_peft_model  # imported here: peft is slow to import and only LoRA needs it

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_PATTERN)
    return get_peft_model(backbone, config)


def set_trainable(model, train):
    """requires_grad for `train`: ups (UPS head only), lora (LoRA weights + UPS head) or full; returns trainable names.

    Frozen parameters never enter the optimizer, so they get neither gradients nor Adam state.
    """
    if train not in TRAIN_MODES:
        raise ValueError(f"train must be one of {TRAIN_MODES}, got {train!r}")
    for name, param in model.named_parameters():
        if train == "full":
            param.requires_grad_(True)
        elif train == "ups":
            param.requires_grad_(name.startswith("ups_head."))
        else:
            param.requires_grad_(name.startswith("ups_head.") or ".lora_" in name)
    names = [name for name, param in model.named_parameters() if param.requires_grad]
    if not names:
        raise ValueError(f"--train {train} leaves nothing to train in this model")
    return names


def build_optimizer(model, lr, weight_decay=0.1, betas=(0.9, 0.95)):
    """AdamW over the parameters that require grad (call after `set_trainable`)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)


@dataclass
class Rows:
    input_ids: torch.Tensor  # (N, L) long
    prompt_lengths: Optional[torch.Tensor] = None  # (N,) long for SFT rows, None for packed pretraining rows

    def __len__(self):
        return self.input_ids.shape[0]

    def take(self, indices):
        """(input_ids, prompt_lengths or None) of the given row indices."""
        pl = None if self.prompt_lengths is None else self.prompt_lengths[indices]
        return self.input_ids[indices], pl


def micro_batch_indices(micro_step, n_rows, micro_batch_size, rank, world_size, seed):
    """Row indices of this rank's micro-batch number `micro_step` (0-based, counted over the whole run).

    Each epoch is a fresh permutation drawn from (seed, epoch); its rows are cut into global batches of
    micro_batch_size * world_size and rank r takes the r-th slice, so ranks never share a row within
    an epoch. The remainder of an epoch that fills no global batch is skipped.
    """
    global_batch = micro_batch_size * world_size
    per_epoch = n_rows // global_batch
    if per_epoch == 0:
        raise ValueError(f"{n_rows} training rows cannot fill one batch of {micro_batch_size} x {world_size} ranks")
    epoch, position = divmod(micro_step, per_epoch)
    order = _epoch_order(n_rows, seed, epoch)
    start = position * global_batch + rank * micro_batch_size
    return order[start : start + micro_batch_size]


@lru_cache(maxsize=2)
def _epoch_order(n_rows, seed, epoch):
    return torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed + epoch))


def make_fabric(accelerator="auto", devices=1, num_nodes=1, strategy="auto", precision="32-true"):
    """Lightning Fabric for the trainers' hardware flags; `strategy="fsdp"` shards whole LLaDA blocks."""
    from remedi.model.llada import LLaDABlock

    if strategy == "fsdp":
        # Whole blocks are the sharding unit; a full (unsharded) state dict keeps checkpoints single files.
        strategy = FSDPStrategy(auto_wrap_policy={LLaDABlock}, state_dict_type="full", limit_all_gathers=True)
        accelerator = "cuda" if accelerator == "auto" else accelerator  # Fabric's FSDP runs on GPUs only
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    return L.Fabric(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy,
                    precision=precision)


def gather_cat(fabric, x):
    """Concatenate the 1-D tensors `x` of all ranks (their lengths may differ)."""
    if fabric.world_size == 1:
        return x
    sizes = fabric.all_gather(torch.tensor([x.numel()], device=fabric.device)).flatten().tolist()
    padded = torch.zeros(max(sizes), dtype=x.dtype, device=x.device)
    padded[: x.numel()] = x
    gathered = fabric.all_gather(padded)  # (world_size, max_size)
    return torch.cat([gathered[r, :size] for r, size in enumerate(sizes)])
