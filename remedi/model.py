"""The LLaDA architecture: a bidirectional LLaMA-style Transformer used as a mask predictor.

Parameter names mirror the published LLaDA-8B safetensors (`model.transformer.blocks.N.q_proj.weight`
and so on), so `LLaDAModelLM.from_pretrained(path)` reads those checkpoints without remote code.
The only difference from a causal LLaMA is that attention is not causal: every position sees the
whole sequence, except keys switched off by `attention_mask` (left padding).
"""

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .config import LLaDAConfig

try:  # optional GPU kernel (requirements-gpu.txt); PyTorch SDPA is used whenever it is absent
    from flash_attn import flash_attn_func
except ImportError:
    flash_attn_func = None


@dataclass
class LLaDAOutput(ModelOutput):
    logits: torch.FloatTensor = None
    hidden_states: Optional[Tuple[torch.FloatTensor, ...]] = None


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

    def forward(self, q, k):
        # q, k: (B, H, L, hd)
        seq_len = q.shape[-2]
        exponents = torch.arange(0, self.head_dim, 2, device=q.device, dtype=torch.float32) / self.head_dim
        inv_freq = 1.0 / (self.theta ** exponents)  # (hd/2,)
        positions = torch.arange(seq_len, device=q.device, dtype=torch.float32)
        angles = torch.outer(positions, inv_freq)  # (L, hd/2)
        angles = torch.cat((angles, angles), dim=-1)  # (L, hd)
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

    def forward(self, x, attn_mask, use_flash=False):
        B, L, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(B, L, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, L, hd)
        k = self.k_proj(h).view(B, L, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, L, hd)
        v = self.v_proj(h).view(B, L, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rotary(q, k)
        if use_flash:  # flash-attn takes (B, L, H, hd) and handles grouped KV heads itself
            y = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), causal=False).transpose(1, 2)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, is_causal=False, enable_gqa=self.n_kv_heads != self.n_heads
            )
        x = x + self.attn_out(y.transpose(1, 2).reshape(B, L, -1))
        h = self.ff_norm(x)
        x = x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))
        return x


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

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
        x = self.transformer.wte(input_ids)  # (B, L, d)
        if self.config.input_emb_norm:
            x = x * self.config.d_model**0.5
        has_padding = attention_mask is not None and not bool(attention_mask.all())
        # A boolean key mask (B, 1, 1, L): padded keys are invisible to every query.
        attn_mask = attention_mask.bool()[:, None, None, :] if has_padding else None
        # flash-attn, when asked for, serves unpadded batches; padded ones take SDPA's masked path.
        use_flash = self.config._attn_implementation == "flash_attention_2" and not has_padding
        if use_flash and flash_attn_func is None:
            raise ImportError("attn_implementation='flash_attention_2' needs flash-attn: "
                              "pip install -r requirements-gpu.txt --no-build-isolation")
        hidden_states = [x] if output_hidden_states else None
        for block in self.transformer.blocks:
            x = block(x, attn_mask, use_flash)
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
        return LLaDAOutput(logits=logits, hidden_states=tuple(hidden_states) if output_hidden_states else None)


class LLaDAModelLM(LLaDAPreTrainedModel):
    """The mask predictor: `forward(input_ids)` returns `.logits` over the vocabulary at every position."""

    def __init__(self, config: LLaDAConfig):
        super().__init__(config)
        self.model = LLaDAModel(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.transformer.wte

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False, past_key_values=None, use_cache=False):
        if past_key_values is not None or use_cache:
            raise ValueError("LLaDA is bidirectional and has no KV cache: do not pass past_key_values/use_cache")
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        if input_ids.shape[1] > self.config.max_sequence_length:
            raise ValueError(
                f"sequence of {input_ids.shape[1]} tokens exceeds max_sequence_length={self.config.max_sequence_length}"
            )
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask shape {tuple(attention_mask.shape)} must equal input_ids shape {tuple(input_ids.shape)}"
            )
        return self.model(input_ids, attention_mask=attention_mask, output_hidden_states=output_hidden_states)
