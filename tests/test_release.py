"""The RemeDi release's checkpoints (RemeDi-Instruct / RemeDi-RL) in our classes: names, shapes, wiring,
round trip, the real config's size, and the entry points taking such a directory.

The numerical comparison with the release's own modeling code is `tools/compare_with_remedi_release.py`
(the release's files are not shipped); README reports its output.
"""

import io
import json
import sys

import pytest
import torch
from safetensors import safe_open

import chat
import generate
from remedi import LLaDAConfig, RemeDiModel, UPSStream
from remedi.cli import run_cli
from remedi.eval.__main__ import main as eval_main
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.release import build_release_parts, is_release_checkpoint, load_release_parts, save_release
from remedi.model.tiny import tiny_config
from remedi.model.tokenizer import build_char_tokenizer

# d_model 8, 2 query heads of 4 dims, 1 KV head, SwiGLU width 12, 16 embedding rows, 31 layers (the
# release's UPS reads after layers 0/10/20/30, so it needs layer 30).
TINY = dict(d_model=8, n_heads=2, n_kv_heads=1, n_layers=31, mlp_hidden_size=12, vocab_size=16,
            max_sequence_length=128, rope_theta=500000.0, mask_token_id=15, eos_token_id=1, pad_token_id=1)


def block_shapes(prefix):
    """One LLaDALlamaBlock of TINY as the release builds it: attn_norm/ff_norm are RMSLayerNorm(d_model)
    without bias (include_bias False); q_proj is d_model -> d_model; k_proj and v_proj are d_model ->
    n_kv_heads * head_dim = 1 * 4; attn_out d_model -> d_model; ff_proj (SiLU gate) and up_proj
    d_model -> mlp_hidden_size; ff_out mlp_hidden_size -> d_model; no biases anywhere."""
    return {f"{prefix}.attn_norm.weight": (8,), f"{prefix}.ff_norm.weight": (8,),
            f"{prefix}.q_proj.weight": (8, 8), f"{prefix}.k_proj.weight": (4, 8), f"{prefix}.v_proj.weight": (4, 8),
            f"{prefix}.attn_out.weight": (8, 8), f"{prefix}.ff_proj.weight": (12, 8),
            f"{prefix}.up_proj.weight": (12, 8), f"{prefix}.ff_out.weight": (8, 12)}


def release_names_and_shapes():
    """Read off the release's LLaDAUPMModel.__init__: the transformer ModuleDict (wte = Embedding(embedding_size
    or vocab_size, d_model), ln_f, ff_out = Linear(d_model, vocab) as weight_tying is False, blocks.0..30), then
    blocks_upm (4 blocks of the same shape, one per UPM position), backprop_linears (4 x Linear(d_model,
    d_model), default bias=True), backprop_norms (4 x LayerNorm.build = RMSLayerNorm(d_model)), ln_f_upm
    (RMSLayerNorm(d_model)) and linear_confidence (Linear(d_model, 1), bias=True)."""
    shapes = {"model.transformer.wte.weight": (16, 8), "model.transformer.ln_f.weight": (8,),
              "model.transformer.ff_out.weight": (16, 8), "model.ln_f_upm.weight": (8,),
              "model.linear_confidence.weight": (1, 8), "model.linear_confidence.bias": (1,)}
    for i in range(31):
        shapes.update(block_shapes(f"model.transformer.blocks.{i}"))
    for j in range(4):
        shapes.update(block_shapes(f"model.blocks_upm.{j}"))
        shapes.update({f"model.backprop_linears.{j}.weight": (8, 8), f"model.backprop_linears.{j}.bias": (8,),
                       f"model.backprop_norms.{j}.weight": (8,)})
    return shapes


def perturbed_release_model(config, seed=0):
    """Every parameter moved off its init, so zero-initialised write-backs and unit norms matter."""
    torch.manual_seed(seed)
    model = RemeDiModel(*build_release_parts(config)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


def test_saved_names_and_shapes_are_the_releases(tmp_path):
    model = perturbed_release_model(LLaDAConfig(**TINY))
    save_release(model.backbone, model.ups_head, tmp_path)
    with safe_open(tmp_path / "model.safetensors", framework="pt") as f:
        saved = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    expected = release_names_and_shapes()
    assert len(expected) == 31 * 9 + 3 + 4 * 9 + 4 * 3 + 3 == 333
    assert saved == expected
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["LLaDAUPMModelLM"] and config["n_layers"] == 31
    assert config["attention_dropout"] == 0.0 and config["layer_norm_type"] == "rms"


def test_save_load_round_trip_keeps_both_streams(tmp_path):
    model = perturbed_release_model(LLaDAConfig(**TINY))
    save_release(model.backbone, model.ups_head, tmp_path)
    assert is_release_checkpoint(tmp_path)
    loaded = RemeDiModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded.ups_head, UPSStream) and loaded.hidden_source == "stream"
    ids = torch.randint(0, 15, (2, 9))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    with torch.no_grad():
        a, b = model(ids, attention_mask=mask), loaded(ids, attention_mask=mask)
    assert torch.equal(a.logits, b.logits)
    assert torch.allclose(a.ups_logits, b.ups_logits, atol=1e-6, rtol=0)
    assert a.ups_logits.shape == (2, 9)


def test_a_model_saved_in_our_own_layout_is_not_taken_for_a_release(tmp_path):
    backbone, _ = build_release_parts(LLaDAConfig(**TINY))
    backbone.save_pretrained(tmp_path)
    assert not is_release_checkpoint(tmp_path)
    assert not is_release_checkpoint(tmp_path / "missing")


def test_full_width_stream_follows_the_releases_wiring():
    """The release's forward, written out by hand: after backbone layer l in 0/10/20/30 the stream becomes
    block_j(h) at the first read and block_j(h + s) after, and h gets + Linear_j(RMSNorm_j(s)); the
    confidence is Linear(RMSNorm(s)); the logits come from ln_f and ff_out of the written-back h."""
    model = perturbed_release_model(LLaDAConfig(**TINY), seed=3)
    backbone, stream = model.backbone.model.transformer, model.ups_head
    ids = torch.randint(0, 15, (2, 7))
    with torch.no_grad():
        h, s = backbone.wte(ids), None
        for layer, block in enumerate(backbone.blocks):
            h = block(h, None)
            if layer in (0, 10, 20, 30):
                j = (0, 10, 20, 30).index(layer)
                s = stream.blocks[j](h if s is None else h + s, None)
                h = h + stream.write[j](stream.write_norms[j](s))
        logits = backbone.ff_out(backbone.ln_f(h))
        confidence = stream.head(stream.norm(s)).squeeze(-1)
        out = model(ids)
    assert torch.allclose(out.logits, logits, atol=1e-6) and torch.allclose(out.ups_logits, confidence, atol=1e-6)


def test_zero_write_back_leaves_the_backbone_unchanged():
    model = perturbed_release_model(LLaDAConfig(**TINY))
    with torch.no_grad():
        for write in model.ups_head.write:
            write.weight.zero_()
            write.bias.zero_()
    ids = torch.randint(0, 15, (1, 6))
    assert torch.equal(model(ids).logits, model.backbone(ids).logits)


def test_the_real_config_has_the_releases_parameter_count():
    """LLaDA-8B's shapes (d 4096, 32 layers, 32 heads, SwiGLU 12288, 126464 rows), by hand:
    one block = 2 norms (2 * 4096) + q, k, v, attn_out (4 * 4096^2) + ff_proj, up_proj, ff_out (3 * 4096 * 12288)
              = 8192 + 67108864 + 150994944 = 218112000;
    backbone = 32 blocks 6979584000 + wte and ff_out 2 * 126464 * 4096 = 1035993088 + ln_f 4096 = 8015581184;
    UPS stream = 4 blocks 872448000 + 4 write Linears (4096^2 + 4096) 67125248 + 4 write norms 16384
               + ln_f_upm 4096 + linear_confidence 4097 = 939597825; total 8955179009."""
    config = LLaDAConfig(d_model=4096, n_heads=32, n_kv_heads=32, n_layers=32, mlp_hidden_size=12288,
                         vocab_size=126464, embedding_size=126464, rope_theta=500000.0)
    with torch.device("meta"):
        backbone, stream = build_release_parts(config)
    assert sum(p.numel() for p in backbone.parameters()) == 8015581184
    assert sum(p.numel() for p in stream.parameters()) == 939597825
    assert stream.read_layers == [0, 10, 20, 30]


def test_too_few_layers_for_the_releases_ups_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 31 layers"):
        build_release_parts(LLaDAConfig(**{**TINY, "n_layers": 30}))


def drop_our_attention_fields(directory):
    """config.json as the release writes it: without our attention_layout / attention_block_length."""
    path = directory / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in config.items() if not k.startswith("attention_layout")
                                and k != "attention_block_length"}))


def test_a_release_config_loads_block_causal_and_later_blocks_stay_invisible(tmp_path):
    """The release samples block diffusion with blocks of 32: a prompt token and answer block j must not
    see the blocks after j, in the backbone and in the UPS stream alike."""
    model = perturbed_release_model(LLaDAConfig(**TINY))
    save_release(model.backbone, model.ups_head, tmp_path)
    drop_our_attention_fields(tmp_path)
    loaded = RemeDiModel.from_pretrained(tmp_path).eval()
    assert (loaded.config.attention_layout, loaded.config.attention_block_length) == ("block_causal", 32)
    prompt_length, ids = 5, torch.randint(0, 15, (1, 5 + 64))  # the prompt, then two answer blocks of 32
    changed = ids.clone()
    changed[0, prompt_length + 32:] = (ids[0, prompt_length + 32:] + 1) % 15  # only the second block differs
    with torch.no_grad():
        a, b = loaded(ids, answer_start=prompt_length), loaded(changed, answer_start=prompt_length)
    first = slice(0, prompt_length + 32)
    assert torch.equal(a.logits[:, first], b.logits[:, first]) and torch.equal(a.ups_logits[:, first], b.ups_logits[:, first])
    assert not torch.allclose(a.ups_logits[:, prompt_length + 32:], b.ups_logits[:, prompt_length + 32:])
    save_release(loaded.backbone, loaded.ups_head, tmp_path / "again")  # our saved config keeps the layout
    assert RemeDiModel.from_pretrained(tmp_path / "again").config.attention_layout == "block_causal"


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    """A tiny random model in the release's layout (config.json as the release writes it, so the model loads
    block-causal), with the character tokenizer beside it."""
    tokenizer = build_char_tokenizer()
    config = tiny_config(tokenizer, d_model=32, n_layers=31, n_heads=4, n_kv_heads=2, mlp_hidden_size=48)
    model = perturbed_release_model(config)
    directory = tmp_path_factory.mktemp("release")
    save_release(model.backbone, model.ups_head, directory)
    drop_our_attention_fields(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_loader_and_entry_points_take_a_release_directory(release_dir, monkeypatch, capsys):
    model, _ = load_model_and_tokenizer(str(release_dir))
    assert isinstance(model, RemeDiModel) and model.hidden_source == "stream"
    assert model.config.attention_layout == "block_causal"
    loaded, _ = load_release_parts(release_dir, dtype=torch.bfloat16)
    assert {p.dtype for p in loaded.parameters()} == {torch.bfloat16}

    generate.main(["--model", str(release_dir), "--prompt", "Compute 1 + 2.", "--steps", "4", "--gen-length", "8",
                   "--block-length", "8"])
    printed = capsys.readouterr().out
    assert printed.count("answer:") == 1 and "masked after each step [6 4 2 0]" in printed

    monkeypatch.setattr(sys, "stdin", io.StringIO("Hi\n"))
    chat.main(["--model", str(release_dir), "--steps", "2", "--gen-length", "8", "--block-length", "8"])
    assert "Traceback" not in capsys.readouterr().err


def test_app_builds_its_demo_on_a_release_directory(release_dir):
    gr = pytest.importorskip("gradio")
    import app

    model, tokenizer = load_model_and_tokenizer(str(release_dir))
    assert isinstance(app.build_demo(model, tokenizer, app.Limits(), str(release_dir)), gr.Blocks)


def test_eval_takes_a_release_directory(release_dir, tmp_path):
    data = tmp_path / "mini.jsonl"
    data.write_text(json.dumps({"question": "What is 1 + 2?", "answer": "#### 3"}) + "\n")
    report = eval_main(["--model", str(release_dir), "--data", str(data), "--gen-length", "8", "--steps", "1/2",
                        "--out", str(tmp_path / "out")])
    assert "ups" in {r["source"] for r in report["settings"]}


def test_a_separate_ups_for_a_release_directory_is_one_error_line(release_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        run_cli(generate.main, ["--model", str(release_dir), "--ups", str(tmp_path), "--steps", "2",
                                "--gen-length", "8", "--block-length", "8"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1
    assert "own UPS stream" in err


def test_opencompass_wrapper_takes_a_release_directory(release_dir):
    pytest.importorskip("opencompass.openicl", reason="OpenCompass is not installed (pip install -r requirements-eval.txt)")
    from remedi_opencompass import RemeDiChatModel

    wrapper = RemeDiChatModel(path=str(release_dir), gen_steps=4, gen_length=8, gen_blocksize=8)
    assert isinstance(wrapper.model, RemeDiModel) and wrapper.model.hidden_source == "stream"
    answers = wrapper.generate(["Compute 1 + 2."], max_out_len=8)
    assert len(answers) == 1 and isinstance(answers[0], str)


def test_a_hub_id_of_a_release_is_read_through_the_hub_cache(tmp_path, monkeypatch):
    """The hub cache's own layout (models--owner--name/snapshots/REV + refs/main), read offline."""
    model = perturbed_release_model(LLaDAConfig(**TINY))
    revision = "0" * 40
    repo = tmp_path / "models--someone--tiny-remedi"
    save_release(model.backbone, model.ups_head, repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = RemeDiModel.from_pretrained("someone/tiny-remedi", cache_dir=str(tmp_path))
    assert loaded.hidden_source == "stream"
    ids = torch.randint(0, 15, (1, 5))
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_a_release_directory_with_missing_tensors_is_a_clear_error(tmp_path):
    model = perturbed_release_model(LLaDAConfig(**TINY))
    save_release(model.backbone, model.ups_head, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_layers": 32}))  # one block more than saved
    with pytest.raises(ValueError, match="lacks 9 tensors .* 'model.transformer.blocks.31"):
        RemeDiModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "mlp_hidden_size": 12, "n_layers": 31,
                                                      "weight_tying": True}))  # no output head
    with pytest.raises(ValueError, match="has 1 tensors .* 'model.transformer.ff_out.weight'"):
        RemeDiModel.from_pretrained(tmp_path)
