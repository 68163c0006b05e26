"""One denoising step's model outputs, with or without a KV cache: the only place the sampler runs the model.

`generate` asks a runner for the TPS logits and UPS scores of a *window* of the sequence that contains
the current block, and tells it when a block begins and ends. What the window is depends on the cache:

- "none": the whole sequence, every step (LLaDA's sampler; the window starts at 0).
- "exact" (block-causal models only): the prompt is encoded once; each step runs the current block alone
  against the cached keys/values of the prompt and the finished blocks; a finished block is appended
  with one more pass over it. A block-causal block never sees anything after it, so this computes the
  same function as "none", and tokens match it.
- "prefix" (bidirectional models, approximate, Fast-dLLM's prefix cache): at each block start one full
  pass refreshes the cache of everything before the block and serves as the block's first step; later
  steps run the block and the still-masked suffix against that prefix, whose keys/values go stale as
  the block changes.
- "dual" (bidirectional, approximate, Fast-dLLM's dual cache): as "prefix", but the suffix after the
  block is cached too, and later steps run the current block alone.

The UPS is computed in the same pass: the MLP head is per token, so it scores the window's final hidden
states exactly as it would in a full pass. The dual-stream and position-only UPS have no cached form and
are refused with a cache, as is classifier-free guidance.
"""

import torch

from remedi.model.kv_cache import KVCache
from remedi.model.ups_heads import UPSHead, UPSPosition, UPSTPSHead

KV_CACHE_MODES = ("none", "exact", "prefix", "dual")


def model_ups_logits(output):
    """UPS scores by duck typing: ours are `ups_logits`, the official RemeDi checkpoints' `confidences`."""
    for name in ("ups_logits", "confidences"):
        value = getattr(output, name, None)
        if value is not None:
            return value.squeeze(-1) if value.dim() == 3 else value
    return None


def layout_kwargs(model, prompt_length):
    """What the model needs to know about the layout: where the answer starts, for a block-causal model."""
    config = getattr(model, "config", None)
    if getattr(config, "attention_layout", "bidirectional") == "block_causal":
        return {"answer_start": prompt_length}
    return {}


def step_outputs(model, x, attention_mask, prompt_index, mask_id, cfg_scale, logits_eos_inf, eos_id, layout=None):
    """(TPS logits, UPS logits or None) of one full-sequence denoising step, after CFG and EOS suppression.

    The sampler and Remask RL's re-scoring of a rollout both call this, so a step scored again with
    unchanged weights reproduces the sampler's log-probabilities exactly. `layout`: `layout_kwargs(...)`.
    """
    logits, ups_logits = _forward(model, x, attention_mask, prompt_index, mask_id, cfg_scale, layout or {})
    if logits_eos_inf:
        logits[:, :, eos_id] = -torch.inf
    return logits, ups_logits


def _forward(model, x, attention_mask, prompt_index, mask_id, cfg_scale, layout):
    """TPS logits and UPS scores for x; with CFG, logits are extrapolated away from a prompt-free pass."""
    if cfg_scale > 0.0:
        unconditional = x.clone()
        unconditional[prompt_index] = mask_id
        both = torch.cat([x, unconditional], dim=0)
        mask_both = None if attention_mask is None else torch.cat([attention_mask, attention_mask], dim=0)
        out = _call(model, both, mask_both, layout)
        logits, un_logits = torch.chunk(out.logits, 2, dim=0)
        logits = un_logits + (cfg_scale + 1) * (logits - un_logits)
        ups = model_ups_logits(out)
        return logits, None if ups is None else ups[: x.shape[0]]
    out = _call(model, x, attention_mask, layout)
    return out.logits, model_ups_logits(out)


def _call(model, x, attention_mask, layout):
    kwargs = dict(layout)
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask
    return model(x, **kwargs)


class FullSequenceRunner:
    """kv_cache="none": the whole sequence through the model at every step."""

    def __init__(self, model, attention_mask, prompt_index, prompt_length, mask_id, cfg_scale, logits_eos_inf, eos_id):
        self.model, self.attention_mask, self.prompt_index = model, attention_mask, prompt_index
        self.mask_id, self.cfg_scale, self.logits_eos_inf, self.eos_id = mask_id, cfg_scale, logits_eos_inf, eos_id
        self.layout = layout_kwargs(model, prompt_length)

    def begin_block(self, x, start, end):
        pass

    def step(self, x, start, end):
        """(logits (B, W, V), UPS logits (B, W) or None, first position W covers) for the current x."""
        logits, ups_logits = step_outputs(self.model, x, self.attention_mask, self.prompt_index, self.mask_id,
                                          self.cfg_scale, self.logits_eos_inf, self.eos_id, self.layout)
        return logits, ups_logits, 0

    def end_block(self, x, start, end):
        pass


class CachedRunner:
    """The cached modes: runs a chunk of the sequence against a `KVCache` of the rest (see the module doc)."""

    def __init__(self, mode, model, attention_mask, prompt_length, logits_eos_inf, eos_id):
        self.mode, self.model, self.prompt_length = mode, model, prompt_length
        self.logits_eos_inf, self.eos_id = logits_eos_inf, eos_id
        self.attention_mask = attention_mask  # (B, P + gen_length) or None
        self.layout = layout_kwargs(model, prompt_length)
        self.cache = None
        self.first_step = None  # the refresh pass's outputs, served as the block's first step

    def begin_block(self, x, start, end):
        if self.mode == "exact":
            if self.cache is None:
                self.cache = self._encode(x, 0, self.prompt_length)
            return
        length = x.shape[1]
        out = self._run(x, torch.arange(length, device=x.device), None, self.attention_mask, True)
        full = KVCache.from_pass(out.present_key_values, self._positions(x, 0, length), self._padding(x, 0, length))
        before, after = torch.arange(start, device=x.device), torch.arange(end, length, device=x.device)
        self.cache = full.select(before if self.mode == "prefix" else torch.cat([before, after]))
        hi = length if self.mode == "prefix" else end
        ups = model_ups_logits(out)
        self.first_step = (self._suppress(out.logits[:, start:hi]), None if ups is None else ups[:, start:hi], start)

    def step(self, x, start, end):
        if self.first_step is not None:
            outputs, self.first_step = self.first_step, None
            return outputs
        hi = x.shape[1] if self.mode == "prefix" else end
        out = self._run(x[:, start:hi], torch.arange(start, hi, device=x.device), self.cache, None, False)
        return self._suppress(out.logits), model_ups_logits(out), start

    def end_block(self, x, start, end):
        if self.mode == "exact":
            self.cache = self.cache.append(self._encode(x, start, end))

    def _encode(self, x, lo, hi):
        """A cache of positions lo..hi-1, computed against the cache so far (the prompt: against nothing)."""
        mask = None if self.attention_mask is None else self.attention_mask[:, lo:hi]
        out = self._run(x[:, lo:hi], torch.arange(lo, hi, device=x.device), self.cache, mask, True)
        return KVCache.from_pass(out.present_key_values, self._positions(x, lo, hi), self._padding(x, lo, hi))

    def _run(self, ids, positions, cache, attention_mask, return_kv):
        kwargs = dict(self.layout, position_ids=positions.expand(ids.shape[0], -1), return_kv=return_kv)
        if cache is not None:
            kwargs["kv_cache"] = cache
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        return self.model(ids, **kwargs)

    def _suppress(self, logits):
        if self.logits_eos_inf:
            logits[:, :, self.eos_id] = -torch.inf
        return logits

    @staticmethod
    def _positions(x, lo, hi):
        return torch.arange(lo, hi, device=x.device).expand(x.shape[0], -1)

    def _padding(self, x, lo, hi):
        if self.attention_mask is None:
            return torch.ones(x.shape[0], hi - lo, dtype=torch.bool, device=x.device)
        return self.attention_mask[:, lo:hi].bool()


def cache_layout_problem(kv_cache, config):
    """Why a model with this config cannot use `kv_cache` (one sentence with the fix), or None if it can."""
    if kv_cache not in KV_CACHE_MODES:
        return f"unknown kv_cache {kv_cache!r}; choose one of {KV_CACHE_MODES}"
    if kv_cache == "none":
        return None
    layout = getattr(config, "attention_layout", None)
    if layout is None:
        return (f"kv_cache={kv_cache!r} needs a remedi LLaDA model (LLaDAModelLM, alone or in RemeDiModel); "
                "use kv_cache='none' for other models")
    if kv_cache == "exact" and layout != "block_causal":
        return ("kv_cache='exact' needs a block-causal model (attention_layout='block_causal'): in a bidirectional "
                "model every token sees the future blocks, so nothing can be cached exactly; use kv_cache='prefix' "
                "or 'dual' (approximate) or 'none'")
    if kv_cache in ("prefix", "dual") and layout != "bidirectional":
        return (f"kv_cache={kv_cache!r} approximates a bidirectional model; this model is block-causal, where "
                "kv_cache='exact' is both faster and exact")
    return None


def make_step_runner(kv_cache, model, attention_mask, prompt_index, prompt_length, block_length, mask_id, cfg_scale,
                     logits_eos_inf, eos_id):
    """The runner for `kv_cache`, after refusing combinations it cannot serve (with how to fix them)."""
    problem = cache_layout_problem(kv_cache, getattr(model, "config", None))
    if problem is not None:
        raise ValueError(problem)
    if kv_cache == "none":
        return FullSequenceRunner(model, attention_mask, prompt_index, prompt_length, mask_id, cfg_scale,
                                  logits_eos_inf, eos_id)
    attention_block = model.config.attention_block_length
    if kv_cache == "exact" and block_length % attention_block != 0:
        raise ValueError(f"kv_cache='exact' caches whole attention blocks: block_length={block_length} must be a "
                         f"multiple of the model's attention_block_length={attention_block}")
    if cfg_scale > 0:
        raise ValueError(f"classifier-free guidance is not supported with kv_cache={kv_cache!r}: "
                         "use cfg_scale=0 or kv_cache='none'")
    head = getattr(model, "ups_head", None)
    if head is not None and not isinstance(head, (UPSHead, UPSTPSHead, UPSPosition)):
        raise ValueError(f"a {type(head).__name__} UPS has no cached form (only heads that score each token on its "
                         "own do): use kv_cache='none'")
    return CachedRunner(kv_cache, model, attention_mask, prompt_length, logits_eos_inf, eos_id)
