"""Dual-stream UPS: a small Transformer stream beside the backbone instead of an MLP on its output.

The MLP head (`UPSHead`) only sees the backbone's last hidden state. The stream variant
(`ups_arch="stream"`) reads the TPS hidden states after chosen backbone layers, carries its own
narrower residual stream through a few bidirectional blocks, and writes back into the TPS through
projections that start at zero, so that training begins from the unchanged backbone:

    after backbone layer l_j:   s <- s + read_j(h)        (s: UPS stream, h: TPS hidden state)
                                s <- block_j(s)
                                h <- h + write_j(s)       (write_j zero-initialised)
    UPS logit:                  head(norm(s))

It attaches to any backbone that keeps its layers in a ModuleList named `blocks` or `layers`, through
forward hooks that are active only while `RemeDiModel.forward` runs. On our LLaDA backbone the stream's
blocks reuse the attention mask and positions the backbone layer was called with, so the stream follows
the backbone's attention layout (bidirectional or block-causal); it keeps no KV cache of its own, so a
backbone layer run against one is refused.
"""

import torch.nn as nn

from .config import LLaDAConfig
from .model import LLaDABlock, RMSNorm


class UPSStream(nn.Module):
    def __init__(self, hidden_size, read_layers, stream_dim=64, n_heads=4, mlp_ratio=2):
        super().__init__()
        if not read_layers or sorted(set(read_layers)) != list(read_layers):
            raise ValueError(f"read_layers must be distinct and increasing, got {read_layers}")
        self.hidden_size, self.read_layers = hidden_size, list(read_layers)
        self.stream_dim, self.n_heads, self.mlp_ratio = stream_dim, n_heads, mlp_ratio
        block_config = LLaDAConfig(d_model=stream_dim, n_heads=n_heads, n_layers=1, mlp_hidden_size=mlp_ratio * stream_dim,
                                   vocab_size=1, rope_theta=10000.0)
        self.read = nn.ModuleList(nn.Linear(hidden_size, stream_dim, bias=False) for _ in read_layers)
        self.blocks = nn.ModuleList(LLaDABlock(block_config) for _ in read_layers)
        self.write = nn.ModuleList(nn.Linear(stream_dim, hidden_size, bias=False) for _ in read_layers)
        self.norm = RMSNorm(stream_dim, 1e-5)
        self.head = nn.Linear(stream_dim, 1)
        for module in list(self.read) + list(self.blocks):
            for p in module.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)
        for write in self.write:
            nn.init.zeros_(write.weight)
        self._state = None  # (stream tensor, attention mask) during a forward pass

    def config_dict(self):
        return {"arch": "stream", "hidden_size": self.hidden_size, "read_layers": self.read_layers,
                "stream_dim": self.stream_dim, "n_heads": self.n_heads, "mlp_ratio": self.mlp_ratio}

    def attach(self, backbone):
        """Hook the backbone's layers named in `read_layers`; returns the hook handles."""
        layers = _find_layers(backbone)
        if self.read_layers[-1] >= len(layers):
            raise ValueError(f"read_layers {self.read_layers} exceed the backbone's {len(layers)} layers")
        return [layers[layer].register_forward_hook(self._make_hook(j), with_kwargs=True)
                for j, layer in enumerate(self.read_layers)]

    def begin(self, attention_mask):
        self._state = {"stream": None, "mask": attention_mask}

    def finish_quietly(self):
        """Drop the per-call state after a failed forward pass."""
        self._state = None

    def finish(self):
        stream = self._state["stream"]
        self._state = None
        if stream is None:
            raise RuntimeError("the UPS stream's hooks did not run: is it attached to this backbone?")
        return self.head(self.norm(stream)).squeeze(-1)  # (B, L)

    def _make_hook(self, j):
        def hook(module, args, kwargs, output):
            if self._state is None:  # the backbone is being used on its own
                return output
            if kwargs.get("past_kv") is not None:
                raise ValueError("the dual-stream UPS keeps no KV cache: sample it with kv_cache='none'")
            hidden = output[0] if isinstance(output, tuple) else output  # (B, L, d)
            if "attn_mask" in kwargs:  # our LLaDA block: attend exactly as the backbone layer did
                attn_mask, positions = kwargs["attn_mask"], kwargs.get("positions")
            else:
                mask = self._state["mask"]
                attn_mask = None if mask is None or bool(mask.all()) else mask.bool()[:, None, None, :]
                positions = None
            read = self.read[j](hidden.to(self.read[j].weight.dtype))
            stream = read if self._state["stream"] is None else self._state["stream"] + read
            stream = self.blocks[j](stream, attn_mask, positions)
            self._state["stream"] = stream
            hidden = hidden + self.write[j](stream).to(hidden.dtype)
            return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden

        return hook


def _find_layers(backbone):
    for name, module in backbone.named_modules():
        if name.split(".")[-1] in ("blocks", "layers") and isinstance(module, nn.ModuleList):
            return module
    raise ValueError("UPS stream needs a backbone whose layers are a ModuleList named `blocks` or `layers`")
