"""The masked-diffusion sampler, with RemeDi's remasking rule.

A generation starts from `gen_length` [MASK] tokens after the prompt and, block by block (semi-
autoregressive when block_length < gen_length), runs `steps / num_blocks` denoising steps per block.
`get_num_transfer_tokens` splits each block's masks evenly over its steps (LLaDA's linear schedule).

Two update rules share that schedule:
- no remask (LLaDA, `fill_step`): at step n, the k_n most confident *masked* positions are filled from the
  Token Prediction Stream (TPS); a filled token is never revisited.
- remask (RemeDi, `remask_step`): at step n, the K_n = k_1 + ... + k_n most confident positions of the
  current block, masked or not, are kept (or filled from TPS if masked); every other position of the block
  goes back to [MASK]. A wrong early token is thereby revisited as soon as something else is more
  confident, while the masked count after step n is exactly block_length - K_n, as in LLaDA.

With `position_temperature` > 0 the remask rule becomes stochastic for Remask RL: the K_n kept positions
are drawn from the Plackett–Luce distribution of the UPS logits (remedi/sampler/policy.py) instead of taken
as the top K_n. What the sampler did at each step (trace, rollout, UI stream) is recorded by observers
(remedi/sampler/observers.py); the settings are a `SamplerConfig` (remedi/sampler/config.py).
"""

from dataclasses import dataclass, fields
from typing import Optional

import torch

from remedi.model.config import LLADA_MASK_ID
from remedi.sampler.confidence import score_threshold, window_confidence
from remedi.sampler.config import SamplerConfig
from remedi.sampler.observers import ProgressBar, RolloutRecorder, StepEvent, TraceRecorder
from remedi.sampler.parallel_decoding import block_done, ends_in_eos, filled_counts, kept_counts
from remedi.sampler.policy import sample_order
from remedi.sampler.step_runner import make_step_runner

def add_gumbel_noise(logits, temperature):
    """Perturb logits so that argmax samples from softmax(logits / temperature).

    exp(logits) / (-log u)^T has the same argmax as logits/T + Gumbel noise. It is done in float64
    because low-precision Gumbel sampling is known to hurt masked-diffusion generation quality.
    """
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    uniform = torch.rand_like(logits, dtype=torch.float64)
    return logits.exp() / (-torch.log(uniform)) ** temperature


def get_num_transfer_tokens(mask_index, steps):
    """(B, steps) tokens to unmask at each step: an even split, the remainder going to the first steps."""
    mask_num = mask_index.sum(dim=1, keepdim=True)  # (B, 1)
    base, remainder = mask_num // steps, mask_num % steps
    step_ids = torch.arange(steps, device=mask_index.device).unsqueeze(0)  # (1, steps)
    return (base + (step_ids < remainder).long()).to(torch.int64)


def scheduled_mask_counts(gen_length, block_length, steps):
    """Masked answer tokens after each step of a whole generation under the linear schedule.

    Both update rules (with or without remasking) must produce exactly these counts; the evaluation
    checks traces against them and the app draws them as the reference curve.
    """
    num_blocks = gen_length // block_length
    per_block = get_num_transfer_tokens(torch.ones(1, block_length, dtype=torch.bool), steps // num_blocks)[0]
    counts = []
    for block in range(num_blocks):
        left = gen_length - block * block_length
        counts += [left - done for done in per_block.cumsum(0).tolist()]
    return counts


@torch.no_grad()
def generate(model, prompt, attention_mask=None, steps=128, gen_length=128, block_length=128, temperature=0.0,
             cfg_scale=0.0, remasking="low_confidence", mask_id=LLADA_MASK_ID, logits_eos_inf=False,
             confidence_eos_eot_inf=False, *, config: Optional[SamplerConfig] = None, observers=(),
             return_trace=False, trace_confidences=False, step_callback=None, progress=False, return_rollout=False,
             **settings):
    """Sample answers for a batch of prompts with a mask predictor.

    Args:
        model: mask predictor; `model(x, attention_mask=...)` returns `.logits` (B, L, V) and, if it has a
            UPS head, `.ups_logits` (or `.confidences`) of shape (B, L).
        prompt: (B, P) token ids, left-padded when prompts differ in length.
        attention_mask: (B, P) 1 for real tokens, 0 for padding; None means no padding.
        steps ... confidence_eos_eot_inf: LLaDA's own arguments, in LLaDA's order (see `SamplerConfig`).
        config: a `SamplerConfig` instead of those arguments (give one or the other).
        observers: `remedi.sampler.observers.Observer`s, told about every step.
        return_trace: also return one record per step (`observers.trace_record`); trace_confidences adds
            the block's confidences to each.
        step_callback: called as `step_callback(record, x)` after every step, so a UI can stream the
            denoising; `x` is the sampler's own tensor: read it, do not modify it.
        progress: show a tqdm bar over steps.
        return_rollout: also return Remask RL's `remedi.sampler.policy.Rollout` (needs position_temperature > 0).
        **settings: the other `SamplerConfig` fields (confidence_source, remask, kv_cache, threshold, ...).

    Returns:
        (B, P + gen_length) token ids; with return_trace and/or return_rollout, a tuple
        (ids, trace, rollout) of the ones asked for, in that order.
    """
    llada_arguments = dict(steps=steps, gen_length=gen_length, block_length=block_length, temperature=temperature,
                           cfg_scale=cfg_scale, remasking=remasking, mask_id=mask_id, logits_eos_inf=logits_eos_inf,
                           confidence_eos_eot_inf=confidence_eos_eot_inf)
    config = _resolve_config(config, llada_arguments, settings).validate()
    _check_inputs(model, prompt, attention_mask, config)
    recorders = _requested_observers(return_trace, trace_confidences, step_callback, progress, return_rollout)
    observers = [*observers, *recorders.values()]
    x, attention_mask, prompt_index = _starting_sequence(model, prompt, attention_mask, config)
    prompt_len = prompt.shape[1]
    runner = make_step_runner(config.kv_cache, model, attention_mask, prompt_index, prompt_len, config.block_length,
                              config.mask_id, config.cfg_scale, config.logits_eos_inf, config.eos_id)
    for observer in observers:
        observer.begin(x, attention_mask, prompt_len, config)
    source = remask = None  # the first step's output tells whether the model has a UPS
    for block in range(config.num_blocks):
        start = prompt_len + block * config.block_length
        end = start + config.block_length
        done = block_done(x[:, start:end], config.mask_id)  # rows whose answer stop_at_eos already ended
        if done.all():
            continue
        # The answer starts fully masked, so every running row shares one schedule; a scalar k keeps topk
        # batched. Rows that stop_at_eos ended are read past: they keep their block as it is.
        running = int((~done).nonzero()[0])
        schedule = get_num_transfer_tokens(x[:, start:end] == config.mask_id, config.steps_per_block)[running]
        schedule = schedule.tolist()
        kept = (x[:, start:end] != config.mask_id).sum(dim=1)
        scheduled_keep = int(kept[running])
        runner.begin_block(x, start, end)
        for step in range(config.steps_per_block):
            logits, ups_logits, lo = runner.step(x, start, end)
            if source is None:
                source, remask = config.resolve(has_ups=ups_logits is not None)
            view = StepView(x, logits, ups_logits, lo, start, end, source)
            x0 = torch.argmax(add_gumbel_noise(logits, config.temperature), dim=-1)  # (B, W)
            scheduled_keep += schedule[step]
            if remask:
                decision = remask_step(view, x0, config, scheduled_keep, schedule[step], kept, done)
            else:
                decision = fill_step(view, x0, config, schedule[step])
            new_x = x.clone()
            new_x[:, lo : lo + logits.shape[1]] = decision.window
            event = decision.event(block, step, view, new_x, remask, done)
            for observer in observers:
                observer.step(event)
            x = new_x
            done = block_done(x[:, start:end], config.mask_id)
            kept = (x[:, start:end] != config.mask_id).sum(dim=1)
            if config.threshold is not None and done.all():
                break
        runner.end_block(x, start, end)
        if config.stop_at_eos:
            x[ends_in_eos(x[:, start:end], config.eos_id, config.eot_id), end:] = config.eos_id
    for observer in observers:
        observer.end(x)
    return _outputs(x, recorders, return_trace, return_rollout)


@dataclass
class StepView:
    """One step's model outputs over the window x[:, lo:lo + W] that holds the block (all of x without a cache)."""

    x: torch.Tensor
    logits: torch.Tensor
    ups_logits: Optional[torch.Tensor]
    lo: int
    start: int
    end: int
    source: str

    @property
    def window(self):
        return self.x[:, self.lo : self.lo + self.logits.shape[1]]

    @property
    def block(self):
        """The block's slice inside the window."""
        return slice(self.start - self.lo, self.end - self.lo)

    def confidence(self, candidates, gate_ids):
        return window_confidence(self.source, self.logits, self.ups_logits, candidates, gate_ids, self.lo,
                                 self.x.shape[1])


@dataclass
class StepDecision:
    """What a step rule decided: the new window, the positions it kept or filled, and the scores it ranked by."""

    window: torch.Tensor
    selected: torch.Tensor  # (B, W)
    confidence: torch.Tensor  # (B, W)
    order: Optional[torch.Tensor] = None
    scores: Optional[torch.Tensor] = None
    keep: Optional[int] = None

    def event(self, block, step, view, new_x, remask, done):
        selected = torch.zeros_like(view.x, dtype=torch.bool)
        selected[:, view.lo : view.lo + self.selected.shape[1]] = self.selected
        b = view.block
        return StepEvent(block=block, step=step, x=view.x, new_x=new_x, selected=selected, confidence=self.confidence,
                         block_logits=view.logits[:, b], start=view.start, end=view.end, s=b.start, e=b.stop,
                         source=view.source, remask=remask, done=done, order=self.order, scores=self.scores,
                         keep=self.keep)


def fill_step(view, x0, config, n_fill):
    """LLaDA's rule: fill the n_fill most confident masked positions of the block (and earlier) from the TPS."""
    window, b = view.window, view.block
    mask_index = window == config.mask_id
    gates = _gate_ids(config) if view.source != "random" else ()
    confidence = view.confidence(x0, gates)
    confidence[:, b.stop :] = -torch.inf
    confidence = torch.where(mask_index, confidence, -torch.inf)
    fill = filled_counts(n_fill, confidence[:, b], mask_index[:, b].sum(dim=1),
                         score_threshold(view.source, config.threshold))
    selected = _topk_mask(confidence, fill)
    return StepDecision(torch.where(selected, x0, window), selected, confidence)


def remask_step(view, x0, config, scheduled_keep, scheduled_step, kept, done):
    """RemeDi's rule: rank every position of the block by the confidence of what it would hold (its token if
    unmasked, the TPS candidate if masked); keep the top K_n (or K_n drawn from the UPS), mask the rest."""
    window, b = view.window, view.block
    mask_index = window == config.mask_id
    candidates = torch.where(mask_index, x0, window)
    confidence = view.confidence(candidates, _gate_ids(config))
    keep = kept_counts(scheduled_keep, scheduled_step, confidence[:, b], kept, done,
                       score_threshold(view.source, config.threshold))
    order = scores = None
    if config.samples_positions:
        scores = view.ups_logits[:, b].float() / config.position_temperature  # (B, block)
        order = sample_order(scores)
        block_selected = torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, order[:, :keep], True)
    else:
        block_selected = _topk_mask(confidence[:, b], keep)
    selected = torch.zeros_like(mask_index)
    selected[:, b] = block_selected
    new_window = window.clone()
    new_window[:, b] = torch.where(block_selected, candidates[:, b], config.mask_id)
    return StepDecision(new_window, selected, confidence, order, scores, keep)


def _gate_ids(config):
    return (config.eos_id, config.eot_id) if config.confidence_eos_eot_inf else ()


def _resolve_config(config, llada_arguments, settings):
    if config is None:
        return SamplerConfig(**llada_arguments, **settings)
    defaults = {f.name: f.default for f in fields(SamplerConfig)}
    if settings or any(value != defaults[name] for name, value in llada_arguments.items()):
        raise TypeError("give the sampler's settings either as arguments or as config=, not both")
    return config


def _check_inputs(model, prompt, attention_mask, config):
    """Refuse a prompt the sampler cannot start from (the settings themselves are `SamplerConfig.validate`'s)."""
    if prompt.dim() != 2:
        raise ValueError(f"prompt must be a (batch, length) tensor of token ids, got shape {tuple(prompt.shape)}")
    if attention_mask is not None and attention_mask.shape != prompt.shape:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} must equal prompt shape {tuple(prompt.shape)}"
        )
    is_mask = prompt == config.mask_id
    if is_mask.any():
        if attention_mask is not None and not is_mask[attention_mask.bool()].any():
            raise ValueError(
                f"the padding token id equals mask_id={config.mask_id}: pad with another token (LLaDA pads with EOS)"
            )
        raise ValueError(f"the prompt contains mask_id={config.mask_id}; the prompt must be fully observed")
    max_len = getattr(getattr(model, "config", None), "max_sequence_length", None)
    if max_len is not None and prompt.shape[1] + config.gen_length > max_len:
        raise ValueError(
            f"prompt ({prompt.shape[1]} tokens) + gen_length ({config.gen_length}) exceeds the model's context "
            f"of {max_len} tokens; shorten the prompt or gen_length"
        )


def _requested_observers(return_trace, trace_confidences, step_callback, progress, return_rollout):
    """The observers that generate's own keyword arguments ask for, by name."""
    recorders = {}
    if return_trace or step_callback is not None:
        recorders["trace"] = TraceRecorder(trace_confidences, keep=return_trace, callback=step_callback)
    if return_rollout:
        recorders["rollout"] = RolloutRecorder()
    if progress:
        recorders["progress"] = ProgressBar()
    return recorders


def _starting_sequence(model, prompt, attention_mask, config):
    """The prompt followed by gen_length [MASK]s, its attention mask and where the prompt is."""
    device = getattr(model, "device", prompt.device)
    batch, prompt_len = prompt.shape
    x = torch.full((batch, prompt_len + config.gen_length), config.mask_id, dtype=torch.long, device=device)
    x[:, :prompt_len] = prompt.to(device)
    if attention_mask is not None:
        answer_ones = torch.ones(batch, config.gen_length, dtype=attention_mask.dtype, device=device)
        attention_mask = torch.cat([attention_mask.to(device), answer_ones], dim=-1)
    return x, attention_mask, x != config.mask_id


def _outputs(x, recorders, return_trace, return_rollout):
    outputs = (x,)
    if return_trace:
        outputs += (recorders["trace"].records,)
    if return_rollout:
        outputs += (recorders["rollout"].rollout,)
    return outputs if len(outputs) > 1 else x


def _topk_mask(confidence, k):
    """Boolean mask of the k highest entries per row (torch.topk's tie order, as upstream uses); k is an int
    or a (B,) tensor of per-row counts."""
    selected = torch.zeros_like(confidence, dtype=torch.bool)
    if isinstance(k, torch.Tensor):  # a count per row: the first k[b] of row b's descending order
        largest = int(k.max())
        if largest > 0:
            _, index = torch.topk(confidence, k=largest, dim=-1)
            take = torch.arange(largest, device=k.device) < k.unsqueeze(1)
            selected.scatter_(-1, index, take)
        return selected
    if k > 0:
        _, index = torch.topk(confidence, k=k, dim=-1)
        selected.scatter_(-1, index, True)
    return selected
