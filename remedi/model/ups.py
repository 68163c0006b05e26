"""RemeDiModel: a mask predictor plus a UPS, both streams from one forward pass.

The Token Prediction Stream is any backbone whose forward returns `.logits`; the Unmasking Policy
Stream is any UPS of `ups_registry` (a head on the last hidden state, or the dual stream beside the
backbone's layers). How the UPS gets its input is decided once, when the model is built.
"""

import inspect
import warnings
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
from transformers.utils import ModelOutput

from remedi.model.config import LLADA_MASK_ID
from remedi.model.release import is_release_checkpoint, load_release_parts, local_checkpoint
from remedi.model.ups_heads import UPSHead, tps_confidence_features
from remedi.model.ups_registry import load_ups, save_ups
from remedi.model.ups_stream import UPSStream

# Module names that, in common HF models, hold the normalised state the output head reads.
FINAL_NORM_NAMES = ("ln_f", "norm", "final_layernorm", "final_layer_norm", "norm_f")


@dataclass
class RemeDiOutput(ModelOutput):
    logits: torch.FloatTensor = None  # (B, L, V): the Token Prediction Stream
    ups_logits: torch.FloatTensor = None  # (B, L): the Unmasking Policy Stream, before sigmoid
    hidden_states: Optional[Tuple[torch.FloatTensor, ...]] = None
    last_hidden_state: Optional[torch.FloatTensor] = None  # (B, L, d): what the UPS head read (None for a stream)
    present_key_values: Optional[Tuple] = None  # the backbone's per-layer (k, v) of input_ids, with return_kv
    ups_tps_features: Optional[torch.FloatTensor] = None  # (B, L, 3): a TPS-reading head's confidence features


def backbone_hidden_size(backbone):
    config = getattr(backbone, "config", None)
    for name in ("hidden_size", "d_model", "n_embd"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def find_final_norm(backbone):
    """The last module named like a final norm; its output is the hidden state the LM head reads."""
    found = None
    for name, module in backbone.named_modules():
        if name.split(".")[-1] in FINAL_NORM_NAMES:
            found = module
    return found


def accepts_output_hidden_states(backbone):
    """Whether the backbone's forward takes `output_hidden_states` (by name or through **kwargs)."""
    parameters = inspect.signature(backbone.forward).parameters.values()
    return any(p.name == "output_hidden_states" or p.kind is p.VAR_KEYWORD for p in parameters)


def choose_hidden_source(backbone, ups_head, allow_tps_fallback):
    """How the UPS gets its input, in order of preference; decided once so every step scores tokens alike."""
    if isinstance(ups_head, UPSStream):
        return "stream"
    if accepts_output_hidden_states(backbone):
        return "output_hidden_states"
    if find_final_norm(backbone) is not None:
        return "hook"
    if allow_tps_fallback:
        return "tps_fallback"
    raise RuntimeError(
        "cannot get hidden states from this backbone: its forward takes no output_hidden_states and it "
        f"has no final-norm module named one of {FINAL_NORM_NAMES}. "
        "Pass allow_tps_fallback=True to score tokens by TPS probability instead."
    )


class RemeDiModel(nn.Module):
    """Backbone (any mask predictor returning `.logits`) plus a UPS, from one forward pass.

    `hidden_source` says where the UPS reads from, chosen at construction in this order: a dual-stream
    UPS hooks the backbone's layers ("stream"); a backbone whose forward takes `output_hidden_states`
    gives its last hidden state ("output_hidden_states"); else a forward hook on its final norm captures
    it ("hook"); else, only with `allow_tps_fallback=True`, the log-odds of the top TPS probability stand in
    for the UPS ("tps_fallback", with a warning). Errors raised by the backbone always propagate.
    """

    def __init__(self, backbone: nn.Module, ups_head: nn.Module, allow_tps_fallback: bool = False):
        super().__init__()
        expected = backbone_hidden_size(backbone)
        if expected is not None and expected != ups_head.hidden_size:
            raise ValueError(
                f"UPS head was built for hidden size {ups_head.hidden_size}, but the backbone's is {expected}"
            )
        self.backbone = backbone
        self.ups_head = ups_head
        self.allow_tps_fallback = allow_tps_fallback
        self.hidden_source = choose_hidden_source(backbone, ups_head, allow_tps_fallback)
        if self.hidden_source == "stream":
            ups_head.attach(backbone)

    @property
    def config(self):
        return self.backbone.config

    @property
    def device(self):
        return next(self.backbone.parameters()).device

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False, ups_hidden=None,
                ups_tps_features=None, **layout):
        """One pass of both streams. With `ups_hidden` (B, L, d), a last hidden state computed before, only the
        UPS head runs (no TPS logits): Remask RL re-scores a frozen backbone's steps this way. A head that reads
        the TPS's confidence (`reads_tps`) needs the `ups_tps_features` of the same pass with it.

        `layout` (answer_start, position_ids, attend_mask, kv_cache, return_kv) goes to the backbone as is; the
        MLP head is per token, so it scores a chunk run against a KV cache exactly like the full sequence."""
        if ups_hidden is not None:
            if self.hidden_source == "stream":
                raise ValueError("a dual-stream UPS reads the backbone's layers, not one hidden state: "
                                 "it cannot score a precomputed ups_hidden")
            if self.reads_tps:
                if ups_tps_features is None:
                    raise ValueError(f"a {type(self.ups_head).__name__} UPS reads the TPS's confidence: pass the "
                                     "ups_tps_features of the pass that gave ups_hidden")
                return RemeDiOutput(ups_logits=self.ups_head(ups_hidden, ups_tps_features),
                                    last_hidden_state=ups_hidden, ups_tps_features=ups_tps_features)
            return RemeDiOutput(ups_logits=self.ups_head(ups_hidden), last_hidden_state=ups_hidden)
        kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
        kwargs.update(layout)
        if self.hidden_source == "stream":
            return self._forward_stream(input_ids, kwargs)
        if self.hidden_source == "output_hidden_states":
            return self._forward_output_hidden_states(input_ids, kwargs, output_hidden_states)
        if self.hidden_source == "hook":
            return self._forward_hook(input_ids, kwargs)
        return self._forward_tps_fallback(input_ids, kwargs)

    def _forward_stream(self, input_ids, kwargs):
        self.ups_head.begin(kwargs.get("attention_mask"))
        try:
            out = self.backbone(input_ids, **kwargs)
        except BaseException:
            self.ups_head.finish_quietly()
            raise
        return RemeDiOutput(logits=out.logits, ups_logits=self.ups_head.finish())

    def _forward_output_hidden_states(self, input_ids, kwargs, keep_hidden):
        out = self.backbone(input_ids, output_hidden_states=True, **kwargs)
        if getattr(out, "hidden_states", None) is None:
            raise RuntimeError("the backbone takes output_hidden_states but returned no hidden_states")
        return self._output(out, input_ids, out.hidden_states[-1], keep_hidden, kwargs.get("position_ids"))

    def _forward_hook(self, input_ids, kwargs):
        captured = []
        norm = find_final_norm(self.backbone)
        handle = norm.register_forward_hook(lambda module, args, output: captured.append(output))
        try:
            out = self.backbone(input_ids, **kwargs)
        finally:
            handle.remove()
        if not captured:
            raise RuntimeError("the hooked final norm was not called")
        return self._output(out, input_ids, captured[-1], False, kwargs.get("position_ids"))

    def _forward_tps_fallback(self, input_ids, kwargs):
        warnings.warn("UPS: no hidden states available; using the TPS top-1 probability as confidence")
        logits = self.backbone(input_ids, **kwargs).logits
        scores = logits.float()
        top, top_index = scores.max(dim=-1)
        rest = torch.logsumexp(scores.scatter(-1, top_index.unsqueeze(-1), -torch.inf), dim=-1)
        return RemeDiOutput(logits=logits, ups_logits=top - rest)  # logit(p_top), never rounded to a tie

    @property
    def reads_tps(self):
        return getattr(self.ups_head, "reads_tps", False)

    def _output(self, out, input_ids, last_hidden, keep_hidden, position_ids):
        features = None
        if self.reads_tps:
            mask_id = getattr(self.config, "mask_token_id", None)
            features = tps_confidence_features(out.logits.detach(), input_ids,
                                               LLADA_MASK_ID if mask_id is None else mask_id)
            ups_logits = self.ups_head(last_hidden, features)
        elif getattr(self.ups_head, "reads_positions", False):
            ups_logits = self.ups_head(last_hidden, position_ids)
        else:
            ups_logits = self.ups_head(last_hidden)
        return RemeDiOutput(
            last_hidden_state=last_hidden,
            logits=out.logits,
            ups_logits=ups_logits,
            hidden_states=out.hidden_states if keep_hidden else None,
            present_key_values=getattr(out, "present_key_values", None),
            ups_tps_features=features,
        )

    def save_ups(self, directory):
        save_ups(self.ups_head, directory)

    @classmethod
    def from_pretrained(cls, base_path, ups_path=None, ups_width=256, dtype=None, **kwargs):
        """Load an `LLaDAModelLM` checkpoint and attach saved UPS weights (or a fresh head).

        A checkpoint saved by the RemeDi release (`iiiutch/RemeDi-Instruct`, `-RL`; a directory or a hub
        id) carries its own dual stream and loads whole, its parameter names unchanged (`remedi/model/release.py`)."""
        from remedi.model.llada import LLaDAModelLM

        base_path = local_checkpoint(base_path, kwargs.get("cache_dir"), kwargs.get("revision"))
        if is_release_checkpoint(base_path):
            if ups_path is not None:
                raise ValueError(f"{str(base_path)!r} is a RemeDi release checkpoint with its own UPS stream; "
                                 "do not pass a separate UPS (ups_path / --ups)")
            return cls(*load_release_parts(base_path, dtype))
        backbone = LLaDAModelLM.from_pretrained(base_path, dtype=dtype, **kwargs)
        if ups_path is not None:
            head = load_ups(ups_path)
        else:
            head = UPSHead(backbone.config.hidden_size, ups_width)
        head.to(dtype=next(backbone.parameters()).dtype)
        return cls(backbone, head)
