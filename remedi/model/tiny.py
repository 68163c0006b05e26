"""Tiny LLaDA-architecture configs: the same classes as LLaDA-8B, small enough for 2 CPU cores."""

import torch

from remedi.model.config import LLaDAConfig
from remedi.model.llada import LLaDAModelLM
from remedi.model.tokenizer import build_char_tokenizer, special_token_ids
from remedi.model.ups import RemeDiModel
from remedi.model.ups_heads import UPSHead


def tiny_config(tokenizer, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2, mlp_hidden_size=352,
                max_sequence_length=512, **overrides) -> LLaDAConfig:
    """About 0.8M parameters with the character tokenizer; ids of the special tokens taken from it."""
    ids = special_token_ids(tokenizer)
    return LLaDAConfig(
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        mlp_hidden_size=mlp_hidden_size,
        vocab_size=len(tokenizer),
        max_sequence_length=max_sequence_length,
        rope_theta=10000.0,
        mask_token_id=ids["mask_id"],
        eos_token_id=ids["eos_id"],
        pad_token_id=ids["pad_id"],
        eot_token_id=ids["eot_id"],
        bos_token_id=tokenizer.bos_token_id,
        **overrides,
    )


def build_tiny_random(seed=0, ups_width=64):
    """A randomly initialised tiny RemeDi model and its tokenizer: a fixture, not a trained model."""
    tokenizer = build_char_tokenizer()
    torch.manual_seed(seed)
    backbone = LLaDAModelLM(tiny_config(tokenizer)).eval()
    model = RemeDiModel(backbone, UPSHead(backbone.config.hidden_size, ups_width)).eval()
    return model, tokenizer
