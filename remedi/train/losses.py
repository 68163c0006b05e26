"""Training losses: the masked-diffusion ELBO (LLaDA) and RemeDi's UPS confidence loss.

Masked diffusion: cross-entropy on masked positions only, each weighted by 1/p_mask (the ELBO
weight that makes the loss an upper bound on the negative log-likelihood). Normalisation:
  pretraining  sum over masked tokens / (B * L)
  SFT          per row: sum / answer_length (pad EOS included), then mean over rows
which are LLaDA's published conventions. CE is computed in float32 whatever the logits dtype.

UPS (unmasking policy stream) labels say how trustworthy each position of x_t is:
  clean token 1, incorrect (replaced) token 0, masked token p_theta(x0 = true token | x_t)
from the TPS logits, detached so the BCE trains the UPS only and never pushes the TPS towards
being more (or less) confident just to make the UPS target easier.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from remedi.train.arguments import RemaskSFTArgs
from remedi.train.noise import answer_mask


def _check_bl(name, x, B, L, dtype=None):
    if x.shape != (B, L):
        raise ValueError(f"{name} must have shape ({B}, {L}), got {tuple(x.shape)}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{name} must be {dtype}, got {x.dtype}")


def masked_diffusion_loss(logits, targets, masked, p_mask, answer_lengths=None):
    """ELBO cross-entropy on masked positions, each / p_mask; SFT normalisation when answer_lengths (B,) is given."""
    if logits.dim() != 3:
        raise ValueError(f"logits must be (B, L, V), got {tuple(logits.shape)}")
    B, L, _ = logits.shape
    _check_bl("targets", targets, B, L, torch.long)
    _check_bl("masked", masked, B, L, torch.bool)
    _check_bl("p_mask", p_mask, B, L)
    ce = F.cross_entropy(logits[masked].float(), targets[masked], reduction="none")  # (N,)
    ce = ce / p_mask[masked].float()
    if answer_lengths is None:
        return ce.sum() / (B * L)
    if answer_lengths.shape != (B,):
        raise ValueError(f"answer_lengths must have shape ({B},), got {tuple(answer_lengths.shape)}")
    row_len = answer_lengths.to(ce.dtype)[:, None].expand(B, L)[masked]  # (N,)
    return (ce / row_len).sum() / B


def ups_labels(logits, targets, masked, incorrect, label_smoothing=RemaskSFTArgs.ups_label_smoothing):
    """(B, L) float32 UPS targets: clean 1, incorrect 0, masked p_theta(true token); no gradient.

    Label smoothing eps maps a label y to y * (1 - 2 eps) + eps (1 -> 1-eps, 0 -> eps), which keeps
    the UPS logits finite on the many clean positions labelled 1.
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be (B, L, V), got {tuple(logits.shape)}")
    B, L, _ = logits.shape
    _check_bl("targets", targets, B, L, torch.long)
    _check_bl("masked", masked, B, L, torch.bool)
    _check_bl("incorrect", incorrect, B, L, torch.bool)
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must lie in [0, 0.5), got {label_smoothing}")
    if (masked & incorrect).any():
        raise ValueError("a position cannot be both masked and incorrect")
    with torch.no_grad():
        labels = torch.ones(B, L, dtype=torch.float32, device=logits.device)
        labels[incorrect] = 0.0
        logp = torch.log_softmax(logits[masked].float(), dim=-1)  # (N, V)
        labels[masked] = logp.gather(-1, targets[masked][:, None]).squeeze(-1).exp()
        labels = labels * (1 - 2 * label_smoothing) + label_smoothing
    return labels


def ups_bce_loss(ups_logits, labels, weight_mask):
    """BCE-with-logits averaged over the positions where weight_mask (B, L) bool is True."""
    if ups_logits.dim() != 2:
        raise ValueError(f"ups_logits must be (B, L), got {tuple(ups_logits.shape)}")
    B, L = ups_logits.shape
    _check_bl("labels", labels, B, L)
    _check_bl("weight_mask", weight_mask, B, L, torch.bool)
    bce = F.binary_cross_entropy_with_logits(ups_logits.float(), labels.float(), reduction="none")  # (B, L)
    return bce[weight_mask].sum() / weight_mask.sum().clamp(min=1)


@dataclass
class RemaskLoss:
    total: torch.Tensor  # diffusion + lambda_ups * ups, the tensor to backpropagate
    diffusion: torch.Tensor  # masked CE / p_mask, SFT normalisation
    ups: torch.Tensor  # UPS BCE
    labels: torch.Tensor  # (B, L) UPS targets, for logging calibration


def remask_sft_loss(
    logits,
    ups_logits,
    targets,
    masked,
    incorrect,
    p_mask,
    prompt_lengths,
    lambda_ups=RemaskSFTArgs.lambda_ups,
    label_smoothing=RemaskSFTArgs.ups_label_smoothing,
    ups_on_all_positions=RemaskSFTArgs.ups_on_all_positions,
):
    """RemeDi Remask SFT objective on one batch from `remask_forward_process`.

    logits (B, L, V) TPS output, ups_logits (B, L) UPS output, targets (B, L) clean ids. The BCE
    averages over answer positions, or over every position with ups_on_all_positions=True (prompt tokens
    are clean, label 1).
    """
    B, L = targets.shape
    answer = answer_mask(prompt_lengths, L)  # (B, L)
    diffusion = masked_diffusion_loss(logits, targets, masked, p_mask, answer_lengths=L - prompt_lengths)
    labels = ups_labels(logits, targets, masked, incorrect, label_smoothing)
    weight_mask = torch.ones_like(answer) if ups_on_all_positions else answer
    ups = ups_bce_loss(ups_logits, labels, weight_mask)
    return RemaskLoss(total=diffusion + lambda_ups * ups, diffusion=diffusion, ups=ups, labels=labels)
