"""Things that watch the sampler work without changing it: the per-step trace, Remask RL's rollout, a progress bar.

`generate` hands every observer a `StepEvent` after each denoising step, so the loop itself only decides
tokens; what a UI streams, what the evaluation records and what RL re-scores are built here from the same
event. An observer must only read the event's tensors: they are the sampler's own.
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch

from remedi.sampler.confidence import confidence_value
from remedi.sampler.policy import Rollout, RolloutStep, plackett_luce_log_prob, position_entropy, token_log_prob


@dataclass
class StepEvent:
    """One denoising step: x before and after it, and what the rule decided.

    `selected` (B, L) marks the positions the step kept or filled; `confidence` holds the rule's scores of the
    window x[:, lo:lo + W] the model ran on, in which the block is s:e (start:end of the whole sequence).
    `order`, `scores` and `keep` are set when positions were sampled (Remask RL): the drawn order, the UPS
    logits / position_temperature it was drawn from, and how many of it were kept.
    """

    block: int
    step: int
    x: torch.Tensor
    new_x: torch.Tensor
    selected: torch.Tensor
    confidence: torch.Tensor
    block_logits: torch.Tensor
    start: int
    end: int
    s: int
    e: int
    source: str
    remask: bool
    done: torch.Tensor
    order: Optional[torch.Tensor] = None
    scores: Optional[torch.Tensor] = None
    keep: Optional[int] = None


class Observer:
    """What `generate` calls: `begin` once with the starting sequence, `step` after every step, `end` once."""

    def begin(self, x, attention_mask, prompt_length, config):
        pass

    def step(self, event):
        pass

    def end(self, x):
        pass


class TraceRecorder(Observer):
    """One JSON-serialisable record per step (see `trace_record`); kept in `records` and/or passed to `callback`.

    `callback(record, new_x)` lets a UI stream the denoising; an exception raised there stops sampling.
    """

    def __init__(self, with_confidence=False, keep=True, callback=None):
        self.with_confidence, self.keep, self.callback = with_confidence, keep, callback
        self.records = []

    def begin(self, x, attention_mask, prompt_length, config):
        self.prompt_length, self.config = prompt_length, config

    def step(self, event):
        record = trace_record(event, self.prompt_length, self.config.mask_id, self.with_confidence)
        record["forward_passes"] = 2 if self.config.cfg_scale > 0 else 1
        record["active"] = (~event.done).tolist()
        if self.keep:
            self.records.append(record)
        if self.callback is not None:
            self.callback(record, event.new_x)


class RolloutRecorder(Observer):
    """Remask RL's record of a sampled generation (`rollout`): every step's inputs, order, tokens, log-probs."""

    def begin(self, x, attention_mask, prompt_length, config):
        if not config.samples_positions:
            raise ValueError("return_rollout=True records a stochastic policy: give position_temperature > 0")
        self.temperature = config.temperature
        self.rollout = Rollout(attention_mask=attention_mask, prompt_length=prompt_length,
                               temperature=config.temperature, position_temperature=config.position_temperature,
                               cfg_scale=config.cfg_scale, logits_eos_inf=config.logits_eos_inf,
                               eos_id=config.eos_id, mask_id=config.mask_id)

    def step(self, event):
        start, end = event.start, event.end
        new_tokens = event.selected[:, start:end] & (event.x[:, start:end] == self.rollout.mask_id)
        tokens = event.new_x[:, start:end]
        if self.temperature > 0:
            token_lp = torch.where(new_tokens, token_log_prob(event.block_logits, tokens, self.temperature), 0.0)
        else:  # argmax tokens are not sampled: they carry no log-probability
            token_lp = torch.zeros(new_tokens.shape, device=tokens.device)
        self.rollout.steps.append(RolloutStep(
            x=event.x, start=start, end=end, keep=event.keep, order=event.order, tokens=tokens.clone(),
            new_tokens=new_tokens, position_log_prob=plackett_luce_log_prob(event.scores, event.order, event.keep),
            token_log_prob=token_lp, position_entropy=position_entropy(event.scores)))


class ProgressBar(Observer):
    """A tqdm bar over the denoising steps."""

    def begin(self, x, attention_mask, prompt_length, config):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=config.steps, desc="denoising", leave=False)

    def step(self, event):
        self.bar.update(1)

    def end(self, x):
        self.bar.close()


def trace_record(event, prompt_length, mask_id, with_confidence):
    """Per-row positions (relative to the answer start) of what this step did, and the answer ids it left.

    Confidences that are not finite (positions LLaDA's order no longer ranks) become None, so every
    record is plain JSON.
    """
    was_masked, is_masked = event.x == mask_id, event.new_x == mask_id
    filled = was_masked & ~is_masked
    remasked = ~was_masked & is_masked
    answer = slice(prompt_length, None)
    record = {
        "block": event.block,
        "step": event.step,
        "confidence_source": event.source,
        "remask": event.remask,
        "selected": [_positions(row) for row in event.selected[:, answer]],
        "filled": [_positions(row) for row in filled[:, answer]],
        "remasked": [_positions(row) for row in remasked[:, answer]],
        "masked_count": is_masked[:, answer].sum(dim=1).tolist(),
        "tokens": event.new_x[:, answer].tolist(),
    }
    if with_confidence:
        values = confidence_value(event.source, event.confidence[:, event.s:event.e]).round(decimals=6).tolist()
        record["confidence"] = [[v if math.isfinite(v) else None for v in row] for row in values]
    return record


def _positions(mask_row):
    return mask_row.nonzero().flatten().tolist()
