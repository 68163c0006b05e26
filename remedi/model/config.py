"""Configuration of the LLaDA architecture.

Field names follow the published GSAI-ML/LLaDA-8B checkpoints' `config.json`, so those files load
into `LLaDAConfig` unchanged. Fields that only matter to upstream's training code (init_fn, flash
flags, dropouts we do not use) are accepted and kept as plain attributes by `PretrainedConfig`.
"""

from transformers import PretrainedConfig

from remedi.model.attention import ATTENTION_LAYOUTS

LLADA_MASK_ID = 126336
LLADA_EOS_ID = 126081
LLADA_EOT_ID = 126348


class LLaDAConfig(PretrainedConfig):
    model_type = "llada"
    # Generic names used by HF utilities (and by our UPS head) mapped onto LLaDA's own names.
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "n_heads",
        "num_key_value_heads": "n_kv_heads",
        "num_hidden_layers": "n_layers",
        "intermediate_size": "mlp_hidden_size",
        "max_position_embeddings": "max_sequence_length",
    }

    def __init__(
        self,
        d_model=4096,
        n_heads=32,
        n_kv_heads=None,
        n_layers=32,
        mlp_ratio=4,
        mlp_hidden_size=None,
        vocab_size=126464,
        embedding_size=None,
        max_sequence_length=4096,
        rope_theta=500000.0,
        rms_norm_eps=1e-5,
        include_bias=False,
        include_qkv_bias=False,
        weight_tying=False,
        scale_logits=False,
        input_emb_norm=False,
        activation_type="silu",
        block_type="llama",
        layer_norm_type="rms",
        rope=True,
        mask_token_id=LLADA_MASK_ID,
        eos_token_id=LLADA_EOS_ID,
        pad_token_id=LLADA_EOS_ID,
        eot_token_id=LLADA_EOT_ID,
        attention_layout="bidirectional",
        attention_block_length=32,
        **kwargs,
    ):
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        self.n_layers = n_layers
        self.mlp_ratio = mlp_ratio
        self.mlp_hidden_size = mlp_hidden_size
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.max_sequence_length = max_sequence_length
        self.rope_theta = rope_theta
        self.rms_norm_eps = rms_norm_eps
        self.include_bias = include_bias
        self.include_qkv_bias = include_qkv_bias
        self.weight_tying = weight_tying
        self.scale_logits = scale_logits
        self.input_emb_norm = input_emb_norm
        self.activation_type = activation_type
        self.block_type = block_type
        self.layer_norm_type = layer_norm_type
        self.rope = rope
        self.mask_token_id = mask_token_id
        self.eot_token_id = eot_token_id
        # "bidirectional" (LLaDA-8B) or "block_causal" (RemeDi release: answer block j sees the prompt and
        # blocks <= j, which makes an exact KV cache possible); blocks are counted from the answer start.
        self.attention_layout = attention_layout
        self.attention_block_length = attention_block_length
        # LLaDA-8B's config.json carries `use_cache`, an HF-style flag this model does not use.
        kwargs.pop("use_cache", None)
        super().__init__(eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kwargs)
        self._check()

    @property
    def ffn_hidden_size(self):
        """Width of each SwiGLU branch: LLaDA-8B states it explicitly (12288), else mlp_ratio * d_model."""
        return self.mlp_hidden_size if self.mlp_hidden_size is not None else self.mlp_ratio * self.d_model

    @property
    def padded_vocab_size(self):
        """Rows of the embedding and output head; LLaDA pads them beyond the tokenizer's vocab."""
        return self.embedding_size if self.embedding_size is not None else self.vocab_size

    def _check(self):
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if self.n_heads % self.n_kv_heads != 0:
            raise ValueError(f"n_heads={self.n_heads} must be a multiple of n_kv_heads={self.n_kv_heads}")
        if (self.d_model // self.n_heads) % 2 != 0:
            raise ValueError("the head dimension must be even for rotary embeddings")
        if self.block_type != "llama" or self.layer_norm_type != "rms" or self.activation_type != "silu":
            raise ValueError(
                "only LLaDA-8B's block (block_type='llama', layer_norm_type='rms', activation_type='silu') "
                f"is implemented, got {self.block_type!r}/{self.layer_norm_type!r}/{self.activation_type!r}"
            )
        if self.attention_layout not in ATTENTION_LAYOUTS:
            raise ValueError(f"attention_layout must be one of {ATTENTION_LAYOUTS}, got {self.attention_layout!r}")
        if not isinstance(self.attention_block_length, int) or self.attention_block_length <= 0:
            raise ValueError(f"attention_block_length must be a positive integer, got {self.attention_block_length!r}")
        if not self.rope:
            raise ValueError("only rotary position embeddings (rope=True) are implemented")
        unsupported = [name for name in ("alibi", "attention_layer_norm") if getattr(self, name, False)]
        if getattr(self, "block_group_size", 1) != 1:
            unsupported.append("block_group_size")
        if unsupported:
            raise ValueError(f"LLaDA options not implemented here (LLaDA-8B leaves them off): {unsupported}")
