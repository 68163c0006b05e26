"""How many positions a sampler step commits, and when an answer is over: the speed rules of the sampler.

The linear schedule fixes in advance how many positions are settled after step n of a block (K_n).
Two options spend fewer forward passes than that schedule:

- `threshold` (dynamic parallel decoding, as in Fast-dLLM and WINO): a step may settle *more* positions
  than the schedule when the model is confident about more of them. Each step settles at least the
  schedule's k_n positions more than the previous step did, and more if more are confident:
  with remasking the kept count after step n is max(kept after step n-1 + k_n, positions of the block
  whose confidence >= threshold), capped at the block length, and the rest of the block goes back to
  [MASK] as usual; without remasking (LLaDA's rule, Fast-dLLM's) the step fills max(k_n, masked
  positions whose confidence >= threshold) masks. Either way the settled count never falls and is never
  below the schedule's K_n = k_1 + ... + k_n (by induction), and equals it exactly when nothing reaches
  the threshold (threshold > 1 for probabilities is the plain schedule). The "+ k_n" matters: a rule that
  only promises max(K_n, previous count) lets a step keep as many as the one before, and at temperature 0
  such a step often reproduces its input, so the steps until K_n catches up are wasted passes (with the
  shipped model's UPS at threshold 0.5 a validation answer stopped changing after its fourth step and
  still took all 32: the UPS scores the masked '####' positions low, so only the schedule fills them).
  A row whose block holds no [MASK] any more is done; the block ends when every row of the batch is
  done, and a done row stays exactly as it is while the others finish (so a row's answer does not
  depend on its batch-mates).
- `stop_at_eos`: once a finished block holds EOS/EoT followed only by EOS/EoT, the row's answer is
  over; the rest of it is filled with EOS and never run through the model again.

A forward pass is one evaluation of the model on one row's sequence. A step runs one per row, or two
with classifier-free guidance (the conditional and the prompt-masked sequence). With a KV cache a step's
pass covers a window of the sequence and counts the same; the extra pass that appends a finished block
to the cache is not a denoising step and is not counted.

With threshold=None and stop_at_eos=False every function here returns the schedule's own numbers, so the
sampler is bit for bit the one without these options.
"""

import math

import torch


def validate_threshold(threshold):
    if threshold is not None and (not isinstance(threshold, (int, float)) or math.isnan(threshold)):
        raise ValueError(f"threshold must be a number or None, got {threshold!r}")


def kept_counts(scheduled_keep, scheduled_step, block_confidence, previous_kept, done, threshold):
    """Positions of the block to keep after this step, with remasking: an int (the schedule) or a (B,) tensor.

    `scheduled_keep` is the schedule's K_n and `scheduled_step` its k_n; `block_confidence` (B, block)
    scores every position of the block, `previous_kept` (B,) is what the previous step kept, `done` (B,)
    marks rows whose block is already complete (they keep everything). Scores and `threshold` are on the
    ranking scale of `remedi.sampler.confidence.token_confidence` (its `score_threshold` converts a threshold).
    """
    if threshold is None and not done.any():
        return scheduled_keep
    block_length = block_confidence.shape[1]
    counts = torch.full_like(previous_kept, scheduled_keep)
    if threshold is not None:
        confident = (block_confidence >= threshold).sum(dim=1)
        counts = torch.maximum(previous_kept + scheduled_step, confident).clamp(max=block_length)
    return torch.where(done, block_length, counts)


def filled_counts(scheduled_fill, block_confidence, masked_left, threshold):
    """Masked positions to fill this step without remasking: an int (the schedule) or a (B,) tensor.

    `block_confidence` (B, block) is -inf at positions that are not masked; `masked_left` (B,) counts the
    block's masks, so a done row (none left) fills nothing.
    """
    if threshold is None and bool((masked_left >= scheduled_fill).all()):
        return scheduled_fill
    counts = torch.full_like(masked_left, scheduled_fill)
    if threshold is not None:
        counts = torch.maximum(counts, (block_confidence >= threshold).sum(dim=1))
    return torch.minimum(counts, masked_left)


def block_done(block_tokens, mask_id):
    """(B,) whether each row's block holds no [MASK]."""
    return (block_tokens != mask_id).all(dim=1)


def ends_in_eos(block_tokens, eos_id, eot_id):
    """(B,) whether each row's block holds EOS/EoT followed only by EOS/EoT (the answer is over)."""
    is_end = (block_tokens == eos_id) | (block_tokens == eot_id)
    seen_end = is_end.long().cummax(dim=1).values.bool()  # True from the first EOS/EoT on
    return is_end.any(dim=1) & (is_end | ~seen_end).all(dim=1)
