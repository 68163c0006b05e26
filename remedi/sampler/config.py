"""Every setting of the sampler in one place, with its default written once and one check of the whole.

`generate()` keeps LLaDA's positional arguments for upstream callers; everything else in the project (the CLI
flags, the evaluation grid, the OpenCompass and lm-eval wrappers, the RL trainer) builds a `SamplerConfig` and
calls `validate()`, so a layout the sampler cannot run is refused with the same words wherever it is typed.
"""

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

from remedi.model.config import LLADA_EOS_ID, LLADA_EOT_ID, LLADA_MASK_ID
from remedi.sampler.parallel_decoding import validate_threshold
from remedi.sampler.step_runner import KV_CACHE_MODES

CONFIDENCE_SOURCES = ("ups", "tps_prob", "tps_margin", "tps_entropy", "random")
UPSTREAM_REMASKING = {"low_confidence": "tps_prob", "random": "random"}


@dataclass(frozen=True)
class SamplerConfig:
    """How to turn gen_length [MASK] tokens into an answer (see remedi/sampler/sampling.py for the rules).

    steps: total denoising steps, a multiple of the number of blocks.
    gen_length: answer length in tokens; block_length: tokens per semi-autoregressive block (divides it).
    temperature: 0 for argmax tokens, > 0 samples them with Gumbel noise.
    cfg_scale: unsupervised classifier-free guidance weight; 0 disables it.
    remasking: LLaDA's name for the order when confidence_source is None: 'low_confidence' or 'random'.
    logits_eos_inf: never predict EOS; confidence_eos_eot_inf: rank EOS/EoT candidates last (LLaDA App. B.4).
    confidence_source: 'ups', 'tps_prob', 'tps_margin', 'tps_entropy' or 'random'; None picks 'ups' for a
        model with a UPS head, else the one `remasking` names.
    remask: RemeDi's rule; None means on with 'ups', off otherwise.
    position_temperature: > 0 samples the kept positions from the UPS (Plackett-Luce), Remask RL's policy.
    kv_cache: 'none', 'exact' (block-causal models), 'prefix' or 'dual' (bidirectional, approximate).
    threshold: dynamic parallel decoding (a step also settles every position at least this confident).
    stop_at_eos: stop a row once a finished block ends its answer with EOS/EoT.
    """

    steps: int = 128
    gen_length: int = 128
    block_length: int = 128
    temperature: float = 0.0
    cfg_scale: float = 0.0
    remasking: str = "low_confidence"
    mask_id: int = LLADA_MASK_ID
    logits_eos_inf: bool = False
    confidence_eos_eot_inf: bool = False
    confidence_source: Optional[str] = None
    remask: Optional[bool] = None
    eos_id: int = LLADA_EOS_ID
    eot_id: int = LLADA_EOT_ID
    position_temperature: float = 0.0
    kv_cache: str = "none"
    threshold: Optional[float] = None
    stop_at_eos: bool = False

    @property
    def num_blocks(self):
        return self.gen_length // self.block_length

    @property
    def steps_per_block(self):
        return self.steps // self.num_blocks

    @property
    def samples_positions(self):
        """Whether the kept positions are drawn from the UPS (Remask RL's policy) rather than taken as the top K."""
        return self.position_temperature > 0

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def with_token_ids(self, ids):
        """The same settings with a tokenizer's [MASK], EOS and EoT ids (`remedi.model.tokenizer.special_token_ids`)."""
        return self.replace(mask_id=ids["mask_id"], eos_id=ids["eos_id"], eot_id=ids["eot_id"])

    def resolve(self, has_ups):
        """(confidence source, remask on?) for a model whose output does or does not carry UPS scores."""
        if self.samples_positions and not has_ups:
            raise ValueError("position_temperature > 0 samples positions from the UPS, but the model's output has no "
                             "`ups_logits`: load UPS weights")
        source = self.confidence_source or ("ups" if has_ups else UPSTREAM_REMASKING[self.remasking])
        if source == "ups" and not has_ups:
            raise ValueError("confidence_source='ups' needs a model with a UPS head (its output has no `ups_logits` "
                             "or `confidences`); load UPS weights or use confidence_source='tps_prob'")
        return source, source == "ups" if self.remask is None else self.remask

    def validate(self):
        """Refuse settings the sampler cannot run, each with what to change; returns self."""
        if min(self.gen_length, self.block_length, self.steps) <= 0:
            raise ValueError(f"steps, gen_length and block_length must be positive, got steps={self.steps}, "
                             f"gen_length={self.gen_length}, block_length={self.block_length}")
        if self.gen_length % self.block_length:
            raise ValueError(f"gen_length={self.gen_length} is not divisible by block_length={self.block_length}; "
                             "choose a block_length that divides gen_length")
        if self.steps % self.num_blocks:
            raise ValueError(f"steps={self.steps} is not divisible by the number of blocks ({self.num_blocks} = "
                             f"gen_length / block_length); use a multiple of {self.num_blocks}")
        for name in ("temperature", "cfg_scale", "position_temperature"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name}={value} must be a finite number >= 0 (0 turns it off)")
            if value < 0:
                raise ValueError(f"{name}={value} is negative; it must be >= 0 (0 turns it off)")
        if self.remasking not in UPSTREAM_REMASKING:
            raise ValueError(f"unknown remasking {self.remasking!r}; choose one of {tuple(UPSTREAM_REMASKING)}")
        if self.confidence_source is not None and self.confidence_source not in CONFIDENCE_SOURCES:
            raise ValueError(f"unknown confidence_source {self.confidence_source!r}; choose one of {CONFIDENCE_SOURCES}")
        if self.kv_cache not in KV_CACHE_MODES:
            raise ValueError(f"unknown kv_cache {self.kv_cache!r}; choose one of {KV_CACHE_MODES}")
        validate_threshold(self.threshold)
        if self.samples_positions:
            self._validate_sampled_positions()
        return self

    def _validate_sampled_positions(self):
        if self.confidence_source not in (None, "ups") or self.remask is False:
            raise ValueError("position_temperature > 0 samples positions from the UPS: use confidence_source='ups' "
                             "with remask=True (the defaults for a model with a UPS head)")
        if self.confidence_eos_eot_inf:
            raise ValueError("confidence_eos_eot_inf is not defined for sampled positions; turn it off with "
                             "position_temperature > 0")
        if self.threshold is not None or self.stop_at_eos:
            raise ValueError("threshold and stop_at_eos change the number of steps, which Remask RL's sampled "
                             "policy assumes fixed: use them with position_temperature=0")

    @classmethod
    def from_args(cls, args, **overrides):
        """The config of an entry point's sampler flags (`remedi.cli.add_sampler_arguments`); `overrides` set the
        rest (token ids of the tokenizer, for instance). --block-length left out means one block."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}
        values.setdefault("block_length", values.get("gen_length", cls.block_length))
        values.update(overrides)
        return cls(**values)
