"""The LLaDA architecture: a bidirectional LLaMA-style Transformer used as a mask predictor.

Parameter names mirror the published LLaDA-8B safetensors (`model.transformer.blocks.N.q_proj.weight`
and so on), so `LLaDAModelLM.from_pretrained(path)` reads those checkpoints without remote code.
The only difference from a causal LLaMA is that attention is not causal: every position sees the
whole sequence, except keys switched off by `attention_mask` (left padding). With
`attention_layout="block_causal"` (the RemeDi release's layout, see remedi/model/attention.py) the answer is
split into blocks and a block sees only the prompt, the blocks before it and itself; forward then needs
`answer_start`, and a chunk of the sequence can be run against a `KVCache` of the other tokens.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from remedi.model.attention import block_causal_mask, block_index, key_padding_mask
from remedi.model.config import LLaDAConfig
from remedi.model.kv_cache import KVCache

try:  # optional GPU kernel (requirements-gpu.txt); PyTorch SDPA is used whenever it is absent
    from flash_attn import flash_attn_func
except ImportError:
    flash_attn_func = None


@dataclass
class LLaDAOutput(ModelOutput):
    logits: torch.FloatTensor = None
    hidden_states: Optional[Tuple[torch.FloatTensor, ...]] = None
    present_key_values: Optional[Tuple[Tuple[torch.Tensor, torch.Tensor], ...]] = None  # per layer, with return_kv


class RMSNorm(nn.Module):
    """RMSNorm computed in float32 (bf16 mean-of-squares loses too much), scaled after casting back."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (half-split rotation), angles computed in float32.

    The frequencies are not a buffer: `model.to(torch.bfloat16)` (and Fabric's bf16-true) would round
    them to bf16 and shift every angle; computing 64 values per forward keeps them float32 at no cost.
    """

    def __init__(self, head_dim, theta):
        super().__init__()
        self.head_dim, self.theta = head_dim, theta

    def forward(self, q, k, positions=None):
        # q, k: (B, H, L, hd); positions: (B, L), or None for 0..L-1
        seq_len = q.shape[-2]
        exponents = torch.arange(0, self.head_dim, 2, device=q.device, dtype=torch.float32) / self.head_dim
        inv_freq = 1.0 / (self.theta ** exponents)  # (hd/2,)
        if positions is None:
            positions = torch.arange(seq_len, device=q.device, dtype=torch.float32)
            angles = torch.outer(positions, inv_freq)  # (L, hd/2)
        else:
            angles = (positions.float()[..., None] * inv_freq)[:, None]  # (B, 1, L, hd/2)
        angles = torch.cat((angles, angles), dim=-1)  # (..., L, hd)
        cos, sin = angles.cos(), angles.sin()
        return self._rotate(q, cos, sin), self._rotate(k, cos, sin)

    @staticmethod
    def _rotate(x, cos, sin):
        x32 = x.float()
        first, second = x32.chunk(2, dim=-1)
        rotated_half = torch.cat((-second, first), dim=-1)
        return (x32 * cos + rotated_half * sin).to(x.dtype)


class LLaDABlock(nn.Module):
    """Pre-norm block: x + Attn(norm(x)), then x + SwiGLU(norm(x)); names as in LLaDA-8B."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        d, hd = config.d_model, config.d_model // config.n_heads
        qkv_bias = config.include_bias or config.include_qkv_bias
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, hd
        self.attn_norm = RMSNorm(d, config.rms_norm_eps)
        self.q_proj = nn.Linear(d, config.n_heads * hd, bias=qkv_bias)
        self.k_proj = nn.Linear(d, config.n_kv_heads * hd, bias=qkv_bias)
        self.v_proj = nn.Linear(d, config.n_kv_heads * hd, bias=qkv_bias)
        self.attn_out = nn.Linear(d, d, bias=config.include_bias)
        self.ff_norm = RMSNorm(d, config.rms_norm_eps)
        self.ff_proj = nn.Linear(d, config.ffn_hidden_size, bias=config.include_bias)  # gate branch (SiLU)
        self.up_proj = nn.Linear(d, config.ffn_hidden_size, bias=config.include_bias)  # linear branch
        self.ff_out = nn.Linear(config.ffn_hidden_size, d, bias=config.include_bias)
        self.rotary = RotaryEmbedding(hd, config.rope_theta)

    def forward(self, x, attn_mask=None, positions=None, past_kv=None, return_kv=False, use_flash=False):
        """`past_kv` (keys, values) of cached tokens are attended to besides x's own; with `return_kv`
        the output is (x, (k, v)) of x's own tokens, ready to be cached."""
        B, L, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(B, L, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, L, hd)
        k = self.k_proj(h).view(B, L, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, L, hd)
        v = self.v_proj(h).view(B, L, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rotary(q, k, positions)
        present = (k, v)
        if past_kv is not None:
            k, v = torch.cat([past_kv[0], k], dim=2), torch.cat([past_kv[1], v], dim=2)
        if use_flash:  # flash-attn takes (B, L, H, hd) and handles grouped KV heads itself
            y = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), causal=False).transpose(1, 2)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, is_causal=False, enable_gqa=self.n_kv_heads != self.n_heads
            )
        x = x + self.attn_out(y.transpose(1, 2).reshape(B, L, -1))
        h = self.ff_norm(x)
        x = x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))
        return (x, present) if return_kv else x


class LLaDAPreTrainedModel(PreTrainedModel):
    config_class = LLaDAConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = False
    _no_split_modules = ["LLaDABlock"]
    _supports_sdpa = True
    _supports_flash_attn = True

    def _init_weights(self, module):
        std = getattr(self.config, "init_std", 0.02)
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)


class LLaDAModel(nn.Module):
    """Embedding, blocks and final norm, kept in a `transformer` ModuleDict as upstream names them."""

    def __init__(self, config: LLaDAConfig):
        super().__init__()
        self.config = config
        modules = dict(
            wte=nn.Embedding(config.padded_vocab_size, config.d_model),
            blocks=nn.ModuleList(LLaDABlock(config) for _ in range(config.n_layers)),
            ln_f=RMSNorm(config.d_model, config.rms_norm_eps),
        )
        if not config.weight_tying:
            modules["ff_out"] = nn.Linear(config.d_model, config.padded_vocab_size, bias=config.include_bias)
        self.transformer = nn.ModuleDict(modules)

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False, answer_start=None,
                position_ids=None, attend_mask=None, kv_cache: Optional[KVCache] = None, return_kv=False):
        x = self.transformer.wte(input_ids)  # (B, L, d)
        if self.config.input_emb_norm:
            x = x * self.config.d_model**0.5
        attn_mask = self._attention_mask(input_ids, attention_mask, answer_start, position_ids, attend_mask, kv_cache)
        # flash-attn, when asked for, serves unmasked full-sequence passes; the rest take SDPA's masked path.
        use_flash = self.config._attn_implementation == "flash_attention_2" and attn_mask is None and kv_cache is None
        if use_flash and flash_attn_func is None:
            raise ImportError("attn_implementation='flash_attention_2' needs flash-attn: "
                              "pip install -r requirements-gpu.txt --no-build-isolation")
        hidden_states = [x] if output_hidden_states else None
        present = [] if return_kv else None
        for i, block in enumerate(self.transformer.blocks):
            past_kv = None if kv_cache is None else (kv_cache.keys[i], kv_cache.values[i])
            x = block(x, attn_mask=attn_mask, positions=position_ids, past_kv=past_kv, return_kv=return_kv,
                      use_flash=use_flash)
            if return_kv:
                x, kv = x
                present.append(kv)
            if output_hidden_states:
                hidden_states.append(x)
        x = self.transformer.ln_f(x)
        if output_hidden_states:
            # As in HF models, the last entry is the normalised state the output head reads.
            hidden_states[-1] = x
        head = self.transformer.wte if self.config.weight_tying else self.transformer.ff_out
        logits = F.linear(x, head.weight, getattr(head, "bias", None))
        if self.config.scale_logits:
            logits = logits * (1.0 / self.config.d_model**0.5)
        return LLaDAOutput(logits=logits, hidden_states=tuple(hidden_states) if output_hidden_states else None,
                           present_key_values=tuple(present) if return_kv else None)

    def _attention_mask(self, input_ids, attention_mask, answer_start, position_ids, attend_mask, kv_cache):
        """The (B, 1, Lq, Lk) boolean mask for SDPA, or None when every token may see every other."""
        batch, length = input_ids.shape
        own_padding = attention_mask.bool() if attention_mask is not None else None
        if attend_mask is not None:
            mask = attend_mask.bool() if attend_mask.dim() == 4 else attend_mask.bool()[:, None]
            return mask if own_padding is None else mask & own_padding[:, None, None, :]
        if kv_cache is not None:
            if own_padding is None:
                own_padding = torch.ones(batch, length, dtype=torch.bool, device=input_ids.device)
            key_padding = torch.cat([kv_cache.key_padding, own_padding], dim=1)
        else:
            key_padding = own_padding
        if self.config.attention_layout == "bidirectional":
            if key_padding is None or bool(key_padding.all()):
                return None
            # A boolean key mask (B, 1, 1, L): padded keys are invisible to every query.
            return key_padding_mask(key_padding)
        if position_ids is None:
            position_ids = torch.arange(length, device=input_ids.device).expand(batch, -1)
        key_positions = position_ids if kv_cache is None else torch.cat([kv_cache.positions, position_ids], dim=1)
        block_length = self.config.attention_block_length
        return block_causal_mask(block_index(position_ids, answer_start, block_length),
                                 block_index(key_positions, answer_start, block_length), key_padding)


class LLaDAModelLM(LLaDAPreTrainedModel):
    """The mask predictor: `forward(input_ids)` returns `.logits` over the vocabulary at every position."""

    def __init__(self, config: LLaDAConfig):
        super().__init__(config)
        self.model = LLaDAModel(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.transformer.wte

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False, past_key_values=None, use_cache=False,
                *, answer_start=None, position_ids=None, attend_mask=None, kv_cache=None, return_kv=False):
        """Logits (B, L, V) for `input_ids` (B, L).

        Besides the HF-style arguments:
            answer_start: where the answer begins (int, or (B,) per row). A block-causal model needs it,
                because a token's block (and so what it may see) is counted from there; the sampler and
                the trainer know it, the model cannot guess it. Ignored by a bidirectional model.
            position_ids: (B, L) positions of `input_ids` (default 0..L-1); a chunk run against a cache,
                and the two copies of the block-causal training layout, sit elsewhere than 0..L-1.
            attend_mask: an explicit (B, L, L) or (B, 1, L, L) visibility (True = may attend) for layouts
                that positions cannot express, such as that training layout (remedi/model/attention.py).
            kv_cache: a `KVCache` of other tokens that `input_ids` also attends to (with position_ids).
            return_kv: also return each layer's keys/values of `input_ids` as `present_key_values`.
        """
        if past_key_values is not None or use_cache:
            raise ValueError("LLaDA has no HF-style KV cache (past_key_values/use_cache): "
                             "pass a remedi.model.kv_cache.KVCache as kv_cache= and return_kv=True instead")
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        last_position = input_ids.shape[1] if position_ids is None else int(position_ids.max()) + 1
        if last_position > self.config.max_sequence_length:
            raise ValueError(
                f"sequence of {last_position} tokens exceeds max_sequence_length={self.config.max_sequence_length}"
            )
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} must equal input_ids shape {tuple(input_ids.shape)}"
            )
        if kv_cache is not None and position_ids is None:
            raise ValueError("a chunk run against kv_cache needs its position_ids")
        if position_ids is not None and position_ids.dim() == 1:
            position_ids = position_ids.expand(input_ids.shape[0], -1)
        if self.config.attention_layout == "block_causal" and answer_start is None and attend_mask is None:
            raise ValueError("this model is block-causal: pass answer_start= (where the answer begins, an int or "
                             "one per row) so it knows which block each token is in")
        return self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states,
                          answer_start=answer_start, position_ids=position_ids, attend_mask=attend_mask,
                          kv_cache=kv_cache, return_kv=return_kv)
