"""Forward (noising) processes for masked diffusion training.

`mdm_forward_process` is the LLaDA/SMDM process: every token is replaced by the mask token
independently with probability p_mask = (1 - eps) * t + eps, t ~ U(0, 1) per row.

`remask_forward_process` is RemeDi's Remask SFT process. On answer positions only it
  1. masks each token with rho_mask(t) = (1 - eps) * t + eps (the same clamp as p_mask, so the
     1/p_mask weight of the diffusion loss never divides by zero), and
  2. replaces each answer token that was *not* masked by a wrong token with probability
     rho_incorrect(t) = 4 * r * t * (1 - t), i.e. the rate is conditional on "not masked".
     Among all answer tokens the incorrect fraction is therefore 4rt(1-t) * (1 - rho_mask(t));
     the conditional form stays a valid probability for every r in [0, 1] and t in [0, 1].
The replacement never equals the original token (so the UPS label "incorrect" is always true)
and is never a special token. A consequence to keep in mind: an EOS/EoT seen in x_t is always the
original one, so the UPS is never shown a premature EOS labelled incorrect.

Everything is vectorised: per-token choices come from one uniform draw per position.
"""

from dataclasses import dataclass

import torch

from remedi.model.attention import block_index
from remedi.train.arguments import REPLACEMENTS, RemaskSFTArgs

# The floor of the masking probability p_mask = (1 - eps) t + eps, LLaDA's and SMDM's 1e-3: no row is left clean.
EPS = 1e-3


@dataclass
class NoisyBatch:
    noisy_ids: torch.Tensor  # (B, L) long, model input x_t
    masked: torch.Tensor  # (B, L) bool, positions replaced by the mask token
    incorrect: torch.Tensor  # (B, L) bool, positions replaced by a wrong token (all False for MDM)
    p_mask: torch.Tensor  # (B, L) float, masking probability used for each position
    t: torch.Tensor  # (B,) float, diffusion time of each row; (B, L) when drawn per block


def answer_mask(prompt_lengths, seq_len):
    """(B, L) bool, True on answer positions (index >= prompt_length): the only ones SFT noises."""
    positions = torch.arange(seq_len, device=prompt_lengths.device)
    return positions[None, :] >= prompt_lengths[:, None]


def _check_inputs(input_ids, prompt_lengths, t):
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"input_ids must be a (B, L) integer tensor, got {input_ids.dtype} {tuple(input_ids.shape)}")
    B = input_ids.shape[0]
    if prompt_lengths is not None:
        if prompt_lengths.shape != (B,) or prompt_lengths.dtype not in (torch.int32, torch.int64):
            got = f"{prompt_lengths.dtype} {tuple(prompt_lengths.shape)}"
            raise ValueError(f"prompt_lengths must be a ({B},) integer tensor, got {got}")
    if t is not None:
        if t.shape not in ((B,), tuple(input_ids.shape)) or not t.is_floating_point():
            raise ValueError(f"t must be a ({B},) or {tuple(input_ids.shape)} float tensor, "
                             f"got {t.dtype} {tuple(t.shape)}")
        if (t < 0).any() or (t > 1).any():
            raise ValueError("t must lie in [0, 1]")


def _sample_t(input_ids, t, generator):
    if t is not None:
        return t.to(device=input_ids.device, dtype=torch.float32)
    return torch.rand(input_ids.shape[0], device=input_ids.device, generator=generator)


def _per_position(t, shape):
    """t as (B, L): a row's time repeated along the row, or per-position times (one per block) as given."""
    return t[:, None].expand(shape) if t.dim() == 1 else t


def per_block_times(prompt_lengths, seq_len, block_length, generator=None):
    """(B, L) diffusion times, one uniform draw per answer block (block-causal training, the release's choice).

    Blocks are counted from each row's answer start; prompt positions get their row's first block's time,
    which does nothing since SFT never noises the prompt.
    """
    positions = torch.arange(seq_len, device=prompt_lengths.device).expand(prompt_lengths.shape[0], -1)
    blocks = block_index(positions, prompt_lengths, block_length).clamp(min=0)  # (B, L)
    n_blocks = -(-seq_len // block_length)
    draws = torch.rand(prompt_lengths.shape[0], n_blocks, device=prompt_lengths.device, generator=generator)
    return draws.gather(1, blocks)


def mdm_forward_process(input_ids, *, mask_id, eps=EPS, prompt_lengths=None, t=None, generator=None):
    """Mask each token independently with p_mask = (1-eps)*t + eps.

    With `prompt_lengths` (B,) (SFT mode) prompt positions are never masked. `t` (B,) may be given
    to fix the diffusion time (tests, evaluation), or (B, L) to give each position its own (one per block
    for block-causal training); otherwise t ~ U(0, 1) per row.
    """
    _check_inputs(input_ids, prompt_lengths, t)
    B, L = input_ids.shape
    t = _sample_t(input_ids, t, generator)  # (B,) or (B, L)
    p_mask = (1 - eps) * _per_position(t, (B, L)) + eps  # (B, L)
    masked = torch.rand(B, L, device=input_ids.device, generator=generator) < p_mask
    if prompt_lengths is not None:
        masked &= answer_mask(prompt_lengths, L)
    noisy_ids = torch.where(masked, mask_id, input_ids)
    incorrect = torch.zeros_like(masked)
    return NoisyBatch(noisy_ids=noisy_ids, masked=masked, incorrect=incorrect, p_mask=p_mask, t=t)


def _draw_other_token(orig, pool, generator):
    """For each id in `orig` (N,), draw an entry of the sorted `pool` (P,) whose value differs from it.

    The entries equal to `orig` form one run [lo, hi) of the sorted pool; drawing k uniformly in
    [0, P - (hi - lo)) and taking pool[(hi + k) mod P] picks uniformly among the other entries
    without any rejection loop. Returns (ids, ok); ok is False where the pool holds no other value.
    """
    lo = torch.searchsorted(pool, orig, right=False)  # (N,)
    hi = torch.searchsorted(pool, orig, right=True)  # (N,)
    n_other = pool.numel() - (hi - lo)  # (N,)
    u = torch.rand(orig.shape, device=orig.device, generator=generator)
    k = (u * n_other).long().clamp(max=(n_other - 1).clamp(min=0))
    ids = pool[(hi + k) % pool.numel()]
    return ids, n_other > 0


def remask_forward_process(
    input_ids,
    prompt_lengths,
    *,
    mask_id,
    vocab_size,
    special_ids,
    r_incorrect=RemaskSFTArgs.r_incorrect,
    eps=EPS,
    replacement=RemaskSFTArgs.replacement,
    t=None,
    generator=None,
):
    """RemeDi Remask SFT noise: mask with rho_mask(t), corrupt unmasked tokens with 4*r*t*(1-t).

    Only answer positions (index >= prompt_length) are noised. `special_ids` lists ids that must
    never be drawn as a replacement (mask, eos, eot, pad, bos, chat headers, ...); mask_id is added.
    `vocab_size` is the tokenizer's size (len(tokenizer)), not the padded embedding size, so that no
    never-seen id is drawn. replacement="uniform" draws from all non-special ids in [0, vocab_size);
    "batch" draws from the non-special answer tokens present in this batch, weighted by their count
    (the batch's unigram distribution), which gives plausible rather than random-looking errors. A position whose only
    candidates equal its own token (degenerate "batch" pools) stays clean.
    """
    _check_inputs(input_ids, prompt_lengths, t)
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement must be 'uniform' or 'batch', got {replacement!r}")
    if not 0.0 <= r_incorrect <= 1.0:
        raise ValueError(f"r_incorrect must lie in [0, 1], got {r_incorrect}")
    B, L = input_ids.shape
    device = input_ids.device
    special = torch.tensor(sorted(set(special_ids) | {mask_id}), dtype=torch.long, device=device)

    t = _sample_t(input_ids, t, generator)  # (B,) or (B, L)
    answer = answer_mask(prompt_lengths, L)  # (B, L)
    t_pos = _per_position(t, (B, L))
    p_mask = (1 - eps) * t_pos + eps  # (B, L)
    rho_incorrect = 4 * r_incorrect * t_pos * (1 - t_pos)  # (B, L), conditional on not masked
    masked = answer & (torch.rand(B, L, device=device, generator=generator) < p_mask)
    incorrect = answer & ~masked & (torch.rand(B, L, device=device, generator=generator) < rho_incorrect)

    if replacement == "uniform":
        all_ids = torch.arange(vocab_size, device=device)
        pool = all_ids[~torch.isin(all_ids, special)]  # sorted, unique
        if pool.numel() < 2:
            raise ValueError("uniform replacement needs at least two non-special token ids")
    else:
        candidates = input_ids[answer & ~torch.isin(input_ids, special)]
        pool = torch.sort(candidates.long()).values  # sorted, with multiplicity

    noisy_ids = input_ids.clone()
    if pool.numel() > 0:
        orig = input_ids[incorrect].long()  # (N,)
        new_ids, ok = _draw_other_token(orig, pool, generator)
        noisy_ids[incorrect] = torch.where(ok, new_ids, orig).to(input_ids.dtype)
        incorrect[incorrect.clone()] = ok  # positions left without a different candidate stay clean
    else:
        incorrect.zero_()
    noisy_ids[masked] = mask_id
    return NoisyBatch(noisy_ids=noisy_ids, masked=masked, incorrect=incorrect, p_mask=p_mask, t=t)
