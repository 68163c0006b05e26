import json

import pytest
import torch

from remedi import LLaDAConfig, LLaDAModelLM
from tests.helpers import VOCAB, tiny_backbone, tiny_config

# The published LLaDA-8B config.json, field for field (values as released on the hub).
LLADA_8B_CONFIG = {
    "activation_type": "silu", "alibi": False, "alibi_bias_max": 8.0, "architectures": ["LLaDAModelLM"],
    "attention_dropout": 0.0, "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
    "auto_map": {"AutoConfig": "configuration_llada.LLaDAConfig", "AutoModel": "modeling_llada.LLaDAModelLM",
                 "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM"},
    "bias_for_layer_norm": False, "block_group_size": 1, "block_type": "llama", "d_model": 4096,
    "embedding_dropout": 0.0, "embedding_size": 126464, "eos_token_id": 126081, "flash_attention": False,
    "include_bias": False, "include_qkv_bias": False, "init_cutoff_factor": None, "init_device": "meta",
    "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": False, "layer_norm_type": "rms",
    "layer_norm_with_affine": True, "mask_token_id": 126336, "max_sequence_length": 4096, "mlp_hidden_size": 12288,
    "mlp_ratio": 4, "model_type": "llada", "multi_query_attention": None, "n_heads": 32, "n_kv_heads": 32,
    "n_layers": 32, "pad_token_id": 126081, "precision": "amp_bf16", "residual_dropout": 0.0, "rms_norm_eps": 1e-05,
    "rope": True, "rope_full_precision": True, "rope_theta": 500000.0, "scale_logits": False,
    "transformers_version": "4.46.3", "use_cache": False, "vocab_size": 126464, "weight_tying": False,
}


def test_llada_8b_config_and_parameter_names(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLADA_8B_CONFIG))
    config = LLaDAConfig.from_pretrained(tmp_path)
    assert (config.hidden_size, config.n_layers, config.ffn_hidden_size) == (4096, 32, 12288)
    with torch.device("meta"):
        model = LLaDAModelLM(config)
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    assert len(shapes) == 291  # 9 tensors per block x 32 blocks + wte, ln_f, ff_out
    assert shapes["model.transformer.wte.weight"] == (126464, 4096)
    assert shapes["model.transformer.ff_out.weight"] == (126464, 4096)
    assert shapes["model.transformer.blocks.31.ff_proj.weight"] == (12288, 4096)
    assert shapes["model.transformer.blocks.0.attn_out.weight"] == (4096, 4096)
    assert sum(torch.Size(s).numel() for s in shapes.values()) == 16031162368 // 2  # bf16 bytes / 2


def test_save_load_round_trip(tmp_path):
    model = tiny_backbone()
    model.save_pretrained(tmp_path)
    loaded = LLaDAModelLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, VOCAB, (2, 9))
    assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_attention_is_bidirectional():
    model = tiny_backbone()
    ids = torch.randint(0, VOCAB, (1, 8))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % VOCAB
    assert not torch.allclose(model(ids).logits[0, 0], model(changed).logits[0, 0])


def test_left_padding_matches_unpadded_sequence():
    model = tiny_backbone()
    ids = torch.randint(5, VOCAB - 1, (1, 7))
    padded = torch.cat([torch.full((1, 3), 2), ids], dim=1)
    mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 7, dtype=torch.long)], dim=1)
    alone = model(ids).logits
    with_padding = model(padded, attention_mask=mask).logits[:, 3:]
    ignoring_mask = model(padded).logits[:, 3:]
    # Rotary embeddings are relative, so masked padding must leave the real tokens' logits unchanged.
    assert torch.allclose(alone, with_padding, atol=1e-5)
    assert not torch.allclose(alone, ignoring_mask, atol=1e-3)


def test_hidden_states_follow_hf_convention():
    model = tiny_backbone()
    out = model(torch.randint(0, VOCAB, (2, 5)), output_hidden_states=True)
    assert len(out.hidden_states) == model.config.n_layers + 1
    head = model.model.transformer.ff_out
    assert torch.allclose(head(out.hidden_states[-1]), out.logits, atol=1e-6)


def test_grouped_query_attention_equals_repeated_heads():
    gqa = tiny_backbone(n_kv_heads=2)
    full = LLaDAModelLM(tiny_config(n_kv_heads=4)).eval()
    state = gqa.state_dict()
    head_dim = 32 // 4
    for name in list(state):
        if name.endswith(("k_proj.weight", "v_proj.weight")):
            heads = state[name].view(2, head_dim, -1)
            state[name] = heads.repeat_interleave(2, dim=0).reshape(4 * head_dim, -1)
    full.load_state_dict(state)
    ids = torch.randint(0, VOCAB, (2, 6))
    assert torch.allclose(gqa(ids).logits, full(ids).logits, atol=1e-5)


def test_bf16_forward_close_to_float32():
    model = tiny_backbone()
    ids = torch.randint(0, VOCAB, (2, 6))
    reference = model(ids).logits
    low = model.to(torch.bfloat16)(ids).logits
    assert low.dtype == torch.bfloat16
    assert (low.float() - reference).abs().max() < 0.05 * reference.abs().max()


def test_bad_inputs_raise():
    model = tiny_backbone()
    with pytest.raises(ValueError, match="KV cache"):
        model(torch.zeros(1, 4, dtype=torch.long), use_cache=True)
    with pytest.raises(ValueError, match="max_sequence_length"):
        model(torch.zeros(1, 129, dtype=torch.long))
    with pytest.raises(ValueError, match="batch, length"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        LLaDAConfig(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="not implemented"):
        LLaDAConfig(alibi=True)


def test_flash_attention_path_uses_the_kernel_layout(monkeypatch):
    """flash-attn is GPU-only; a stand-in with its (B, L, H, hd) contract checks our transposes and GQA."""
    import remedi.model.llada as modeling

    calls = []

    def fake_flash_attn_func(q, k, v, causal):
        calls.append(q.shape)
        assert not causal and q.shape[2] == 4 and k.shape[2] == 2
        out = torch.nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), enable_gqa=True)
        return out.transpose(1, 2)

    model = tiny_backbone()
    ids = torch.randint(0, VOCAB, (2, 6))
    reference = model(ids).logits
    monkeypatch.setattr(modeling, "flash_attn_func", fake_flash_attn_func)
    model.config._attn_implementation = "flash_attention_2"
    assert torch.allclose(model(ids).logits, reference, atol=1e-5)
    assert calls and calls[0] == (2, 6, 4, 8)
    padded_mask = torch.ones_like(ids)
    padded_mask[0, 0] = 0
    calls.clear()
    model(ids, attention_mask=padded_mask)
    assert not calls  # padded batches go through SDPA


def test_rotary_angles_stay_float32_in_a_bf16_model():
    """A bf16 cast must not round the rotary frequencies: at position 4000 a bf16 frequency is off by up
    to 0.4% of its value, i.e. whole radians of angle."""
    from remedi.model.llada import RotaryEmbedding

    head_dim, theta, length = 64, 500000.0, 4096
    rotary = RotaryEmbedding(head_dim, theta).to(torch.bfloat16)  # what model.to(bfloat16) does to it
    q = torch.randn(1, 1, length, head_dim)
    rotated, _ = rotary(q.to(torch.bfloat16), q.to(torch.bfloat16))
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    first, second = q.double().chunk(2, dim=-1)
    expected = q.double() * angles.cos() + torch.cat((-second, first), dim=-1) * angles.sin()
    reference = expected.to(torch.bfloat16).double()  # the best a bf16 output can be
    assert (rotated.double() - reference).abs().max() < 0.05
