"""The Unmasking Policy Stream (UPS): a per-token confidence h_i beside the token predictions.

`UPSHead` maps the backbone's last hidden state to one logit per position; sigmoid(h_i) estimates
"the token at i is (or will be) right". `RemeDiModel` attaches a head to any mask predictor whose
forward returns `.logits`, using one backbone pass for both streams.
"""

import json
import os
import warnings
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from transformers.utils import ModelOutput

from .ups_stream import UPSStream

UPS_CONFIG_NAME = "ups_config.json"
UPS_WEIGHTS_NAME = "ups_head.safetensors"
# Module names that, in common HF models, hold the normalised state the output head reads.
FINAL_NORM_NAMES = ("ln_f", "norm", "final_layernorm", "final_layer_norm", "norm_f")


class UPSHead(nn.Module):
    """Linear -> GELU -> Linear to a scalar logit per token; `ups_width=0` is a single Linear."""

    def __init__(self, hidden_size: int, ups_width: int = 256):
        super().__init__()
        self.hidden_size, self.ups_width = hidden_size, ups_width
        if ups_width == 0:
            self.net = nn.Linear(hidden_size, 1)
        else:
            self.net = nn.Sequential(nn.Linear(hidden_size, ups_width), nn.GELU(), nn.Linear(ups_width, 1))

    def forward(self, hidden):  # (B, L, d) -> (B, L)
        if hidden.shape[-1] != self.hidden_size:
            raise ValueError(
                f"UPS head expects hidden size {self.hidden_size}, the backbone gave {hidden.shape[-1]}"
            )
        weight = next(self.parameters())
        return self.net(hidden.to(weight.dtype)).squeeze(-1)

    def config_dict(self):
        return {"arch": "mlp", "hidden_size": self.hidden_size, "ups_width": self.ups_width}

    def save(self, directory):
        save_ups(self, directory)

    @classmethod
    def load(cls, directory, map_location="cpu"):
        """Load saved UPS weights; the saved config decides the class (MLP head or dual stream)."""
        return load_ups(directory, map_location)


class UPSPosition(nn.Module):
    """A control, not a UPS: one learned logit per absolute position, blind to what the tokens say.

    Trained by Remask RL like a real head, it finds the best *fixed* unmasking order for a task. On a
    task whose answers share one layout, comparing it with the content-reading head shows how much of
    a learned policy's gain comes from reading the tokens rather than from their positions.
    """

    def __init__(self, hidden_size: int, max_positions: int = 512):
        super().__init__()
        self.hidden_size, self.max_positions = hidden_size, max_positions
        self.logits = nn.Parameter(torch.zeros(max_positions))

    def forward(self, hidden):  # (B, L, d) -> (B, L)
        batch, length = hidden.shape[:2]
        if length > self.max_positions:
            raise ValueError(f"the position-only UPS covers {self.max_positions} positions, the input has {length}")
        return self.logits[:length].expand(batch, length)

    def config_dict(self):
        return {"arch": "position", "hidden_size": self.hidden_size, "max_positions": self.max_positions}

    def save(self, directory):
        save_ups(self, directory)


def save_ups(ups, directory):
    """`ups_config.json` (architecture and sizes) + `ups_head.safetensors`, apart from any backbone."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, UPS_CONFIG_NAME), "w") as f:
        json.dump(ups.config_dict(), f, indent=2)
    state = {k: v.detach().contiguous().cpu() for k, v in ups.state_dict().items()}
    save_file(state, os.path.join(directory, UPS_WEIGHTS_NAME))


def load_ups(directory, map_location="cpu"):
    config_path = os.path.join(directory, UPS_CONFIG_NAME)
    weights_path = os.path.join(directory, UPS_WEIGHTS_NAME)
    if not (os.path.isfile(config_path) and os.path.isfile(weights_path)):
        raise FileNotFoundError(
            f"no UPS weights in {str(directory)!r}: expected {UPS_CONFIG_NAME} and {UPS_WEIGHTS_NAME} "
            "(written by UPSHead.save or the trainer's UPS export)"
        )
    with open(config_path) as f:
        config = json.load(f)
    try:
        ups = build_ups(config)
    except ValueError as error:
        raise ValueError(f"{error} (in {config_path})") from None
    ups.load_state_dict(load_file(weights_path, device=str(map_location)))
    return ups


def build_ups(config):
    """An untrained UPS of the architecture and sizes in `config` (what `config_dict()` returns)."""
    sizes = dict(config)
    arch = sizes.pop("arch", "mlp")
    if arch not in UPS_ARCHS:
        raise ValueError(f"unknown UPS architecture {arch!r}; known: {sorted(UPS_ARCHS)}")
    return UPS_ARCHS[arch](**sizes)


UPS_ARCHS = {"mlp": UPSHead, "stream": UPSStream, "position": UPSPosition}


@dataclass
class RemeDiOutput(ModelOutput):
    logits: torch.FloatTensor = None  # (B, L, V): the Token Prediction Stream
    ups_logits: torch.FloatTensor = None  # (B, L): the Unmasking Policy Stream, before sigmoid
    hidden_states: Optional[Tuple[torch.FloatTensor, ...]] = None
    last_hidden_state: Optional[torch.FloatTensor] = None  # (B, L, d): what the UPS head read (None for a stream)
    present_key_values: Optional[Tuple] = None  # the backbone's per-layer (k, v) of input_ids, with return_kv


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


class RemeDiModel(nn.Module):
    """Backbone (any mask predictor returning `.logits`) plus a UPS head, from one forward pass.

    Hidden states are taken, in order of preference, from `output_hidden_states=True`, from a forward
    hook on the backbone's final norm, or, only if `allow_tps_fallback=True`, replaced by a heuristic
    (the logit of the top TPS probability) with a warning. Which one is used is decided on the first
    call and kept, so every step of a generation scores tokens the same way.
    """

    def __init__(self, backbone: nn.Module, ups_head: UPSHead, allow_tps_fallback: bool = False):
        super().__init__()
        expected = backbone_hidden_size(backbone)
        if expected is not None and expected != ups_head.hidden_size:
            raise ValueError(
                f"UPS head was built for hidden size {ups_head.hidden_size}, but the backbone's is {expected}"
            )
        self.backbone = backbone
        self.ups_head = ups_head
        self.allow_tps_fallback = allow_tps_fallback
        # "output_hidden_states" | "hook" | "tps_fallback", set on first call; "stream" for UPSStream
        self.hidden_source = None
        if isinstance(ups_head, UPSStream):
            ups_head.attach(backbone)
            self.hidden_source = "stream"

    @property
    def config(self):
        return self.backbone.config

    @property
    def device(self):
        return next(self.backbone.parameters()).device

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False, ups_hidden=None, **layout):
        """One pass of both streams. With `ups_hidden` (B, L, d), a last hidden state computed before, only the
        UPS head runs (no TPS logits): Remask RL re-scores a frozen backbone's steps this way.

        `layout` (answer_start, position_ids, attend_mask, kv_cache, return_kv) goes to the backbone as is; the
        MLP head is per token, so it scores a chunk run against a KV cache exactly like the full sequence."""
        if ups_hidden is not None:
            if self.hidden_source == "stream":
                raise ValueError("a dual-stream UPS reads the backbone's layers, not one hidden state: "
                                 "it cannot score a precomputed ups_hidden")
            return RemeDiOutput(ups_logits=self.ups_head(ups_hidden), last_hidden_state=ups_hidden)
        kwargs = {} if attention_mask is None else {"attention_mask": attention_mask}
        kwargs.update(layout)
        if self.hidden_source == "stream":
            self.ups_head.begin(attention_mask)
            try:
                out = self.backbone(input_ids, **kwargs)
            except BaseException:
                self.ups_head.finish_quietly()
                raise
            return RemeDiOutput(logits=out.logits, ups_logits=self.ups_head.finish())
        if self.hidden_source in (None, "output_hidden_states"):
            try:
                out = self.backbone(input_ids, output_hidden_states=True, **kwargs)
            except TypeError:
                out = None
            if out is not None and getattr(out, "hidden_states", None) is not None:
                self.hidden_source = "output_hidden_states"
                return self._output(out, out.hidden_states[-1], output_hidden_states)
            if self.hidden_source == "output_hidden_states":
                raise RuntimeError("the backbone stopped returning hidden_states")
        if self.hidden_source in (None, "hook"):
            norm = find_final_norm(self.backbone)
            if norm is not None:
                captured = []
                handle = norm.register_forward_hook(lambda module, args, output: captured.append(output))
                try:
                    out = self.backbone(input_ids, **kwargs)
                finally:
                    handle.remove()
                if captured:
                    self.hidden_source = "hook"
                    return self._output(out, captured[-1], False)
            if self.hidden_source == "hook":
                raise RuntimeError("the hooked final norm was not called")
        if not self.allow_tps_fallback:
            raise RuntimeError(
                "cannot get hidden states from this backbone: it returns no hidden_states with "
                f"output_hidden_states=True and has no final-norm module named one of {FINAL_NORM_NAMES}. "
                "Pass allow_tps_fallback=True to score tokens by TPS probability instead."
            )
        if self.hidden_source is None:
            warnings.warn("UPS: no hidden states available; using the TPS top-1 probability as confidence")
            self.hidden_source = "tps_fallback"
        logits = self.backbone(input_ids, **kwargs).logits
        top_p = torch.softmax(logits.float(), dim=-1).amax(dim=-1).clamp(1e-6, 1 - 1e-6)
        return RemeDiOutput(logits=logits, ups_logits=torch.logit(top_p))

    def _output(self, out, last_hidden, keep_hidden):
        return RemeDiOutput(
            last_hidden_state=last_hidden,
            logits=out.logits,
            ups_logits=self.ups_head(last_hidden),
            hidden_states=out.hidden_states if keep_hidden else None,
            present_key_values=getattr(out, "present_key_values", None),
        )

    def save_ups(self, directory):
        self.ups_head.save(directory)

    @classmethod
    def from_pretrained(cls, base_path, ups_path=None, ups_width=256, dtype=None, **kwargs):
        """Load an `LLaDAModelLM` checkpoint and attach saved UPS weights (or a fresh head)."""
        from .model import LLaDAModelLM

        backbone = LLaDAModelLM.from_pretrained(base_path, dtype=dtype, **kwargs)
        if ups_path is not None:
            head = load_ups(ups_path)
        else:
            head = UPSHead(backbone.config.hidden_size, ups_width)
        head.to(dtype=next(backbone.parameters()).dtype)
        return cls(backbone, head)
