"""Dual-stream UPS: a small Transformer stream beside the backbone instead of an MLP on its output.

The MLP head (`UPSHead`) only sees the backbone's last hidden state. The stream variant
(`ups_arch="stream"`) reads the TPS hidden states after chosen backbone layers, carries its own
narrower residual stream through a few bidirectional blocks, and writes back into the TPS through
projections that start at zero, so that training begins from the unchanged backbone:

    after backbone layer l_j:   s <- s + read_j(h)        (s: UPS stream, h: TPS hidden state)
                                s <- block_j(s)
                                h <- h + write_j(s)       (write_j zero-initialised)
    UPS logit:                  head(norm(s))

The published RemeDi checkpoints use a second wiring of the same idea (`wiring="full_width"`): the
stream has the backbone's own width and block shape, reads the hidden state unprojected, and writes
back through a norm and a biased Linear (zero-initialised):

    after backbone layer l_j:   s <- h if j == 0 else s + h
                                s <- block_j(s)
                                h <- h + write_j(write_norm_j(s))
    UPS logit:                  head(norm(s))

`remedi/model/release.py` maps the release's parameter names onto this module.

It attaches to any backbone that keeps its layers in a ModuleList named `blocks` or `layers`, through
forward hooks that are active only while `RemeDiModel.forward` runs. On our LLaDA backbone the stream's
blocks reuse the attention mask and positions the backbone layer was called with, so the stream follows
the backbone's attention layout (bidirectional or block-causal); it keeps no KV cache of its own, so a
backbone layer run against one is refused.
"""

import torch.nn as nn

from remedi.model.config import LLaDAConfig
from remedi.model.llada import LLaDABlock, RMSNorm


WIRINGS = ("projected", "full_width")


class UPSStream(nn.Module):
    """`wiring="projected"`: our narrow stream (read/write Linears); `"full_width"`: the release's layout."""

    def __init__(self, hidden_size, read_layers, stream_dim=64, n_heads=4, mlp_ratio=2, wiring="projected",
                 n_kv_heads=None, mlp_hidden_size=None, rope_theta=10000.0, rms_norm_eps=1e-5):
        super().__init__()
        if not read_layers or sorted(set(read_layers)) != list(read_layers):
            raise ValueError(f"read_layers must be distinct and increasing, got {read_layers}")
        if wiring not in WIRINGS:
            raise ValueError(f"unknown UPS stream wiring {wiring!r}; known: {list(WIRINGS)}")
        if wiring == "full_width" and stream_dim != hidden_size:
            raise ValueError(f"a full-width stream has the backbone's width {hidden_size}, got stream_dim={stream_dim}")
        self.hidden_size, self.read_layers = hidden_size, list(read_layers)
        self.stream_dim, self.n_heads, self.mlp_ratio = stream_dim, n_heads, mlp_ratio
        self.wiring, self.n_kv_heads, self.mlp_hidden_size = wiring, n_kv_heads, mlp_hidden_size
        self.rope_theta, self.rms_norm_eps = rope_theta, rms_norm_eps
        block_config = LLaDAConfig(d_model=stream_dim, n_heads=n_heads, n_kv_heads=n_kv_heads, n_layers=1,
                                   mlp_hidden_size=mlp_ratio * stream_dim if mlp_hidden_size is None else mlp_hidden_size,
                                   vocab_size=1, rope_theta=rope_theta, rms_norm_eps=rms_norm_eps)
        if wiring == "projected":
            self.read = nn.ModuleList(nn.Linear(hidden_size, stream_dim, bias=False) for _ in read_layers)
            self.blocks = nn.ModuleList(LLaDABlock(block_config) for _ in read_layers)
            self.write = nn.ModuleList(nn.Linear(stream_dim, hidden_size, bias=False) for _ in read_layers)
        else:
            self.blocks = nn.ModuleList(LLaDABlock(block_config) for _ in read_layers)
            self.write = nn.ModuleList(nn.Linear(stream_dim, hidden_size) for _ in read_layers)
            self.write_norms = nn.ModuleList(RMSNorm(stream_dim, rms_norm_eps) for _ in read_layers)
        self.norm = RMSNorm(stream_dim, rms_norm_eps)
        self.head = nn.Linear(stream_dim, 1)
        for module in list(getattr(self, "read", [])) + list(self.blocks):
            for p in module.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)
        for write in self.write:
            for p in write.parameters():
                nn.init.zeros_(p)
        self._state = None  # (stream tensor, attention mask) during a forward pass

    def config_dict(self):
        return {"arch": "stream", "hidden_size": self.hidden_size, "read_layers": self.read_layers,
                "stream_dim": self.stream_dim, "n_heads": self.n_heads, "mlp_ratio": self.mlp_ratio,
                "wiring": self.wiring, "n_kv_heads": self.n_kv_heads, "mlp_hidden_size": self.mlp_hidden_size,
                "rope_theta": self.rope_theta, "rms_norm_eps": self.rms_norm_eps}

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
            stream = self._read(j, hidden)
            stream = self.blocks[j](stream, attn_mask, positions)
            self._state["stream"] = stream
            hidden = hidden + self._write(j, stream).to(hidden.dtype)
            return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden

        return hook

    def _read(self, j, hidden):
        """The stream after adding what it reads from the backbone's hidden state at its j-th layer."""
        previous = self._state["stream"]
        if self.wiring == "projected":
            read = self.read[j](hidden.to(self.read[j].weight.dtype))
        else:
            read = hidden.to(self.head.weight.dtype)
        return read if previous is None else previous + read

    def _write(self, j, stream):
        if self.wiring == "projected":
            return self.write[j](stream)
        return self.write[j](self.write_norms[j](stream))


def _find_layers(backbone):
    for name, module in backbone.named_modules():
        if name.split(".")[-1] in ("blocks", "layers") and isinstance(module, nn.ModuleList):
            return module
    raise ValueError("UPS stream needs a backbone whose layers are a ModuleList named `blocks` or `layers`")
