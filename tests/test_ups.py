import pytest
import torch

from remedi import RemeDiModel, UPSHead, load_ups, save_ups
from remedi.model.loading import load_model_and_tokenizer
from tests.helpers import VOCAB, tiny_backbone


class NoHiddenStatesBackbone(torch.nn.Module):
    """Wraps a backbone so it refuses `output_hidden_states`, like many third-party mask predictors."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def forward(self, input_ids, attention_mask=None):
        return self.inner(input_ids, attention_mask=attention_mask)


class OpaqueBackbone(torch.nn.Module):
    """No hidden states and no final-norm module to hook."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Embedding(VOCAB, VOCAB)

    def forward(self, input_ids):
        return type("Out", (), {"logits": self.proj(input_ids)})()


def test_head_shapes_and_single_linear_variant():
    hidden = torch.randn(2, 5, 32)
    assert UPSHead(32, 16)(hidden).shape == (2, 5)
    linear = UPSHead(32, 0)
    assert isinstance(linear.net, torch.nn.Linear) and linear(hidden).shape == (2, 5)


def test_ups_logits_come_from_the_last_hidden_state():
    backbone = tiny_backbone()
    head = UPSHead(32, 8)
    model = RemeDiModel(backbone, head)
    ids = torch.randint(0, VOCAB, (2, 6))
    out = model(ids)
    assert torch.equal(out.logits, backbone(ids).logits)
    assert torch.allclose(out.ups_logits, head(backbone(ids, output_hidden_states=True).hidden_states[-1]))


def test_hook_path_equals_output_hidden_states_path():
    backbone = tiny_backbone()
    head = UPSHead(32, 8)
    direct = RemeDiModel(backbone, head)
    hooked = RemeDiModel(NoHiddenStatesBackbone(backbone), head)
    ids = torch.randint(0, VOCAB, (2, 6))
    mask = torch.ones_like(ids)
    mask[0, 0] = 0
    a, b = direct(ids, attention_mask=mask), hooked(ids, attention_mask=mask)
    assert direct.hidden_source == "output_hidden_states" and hooked.hidden_source == "hook"
    assert torch.equal(a.ups_logits, b.ups_logits) and torch.equal(a.logits, b.logits)


def test_opaque_backbone_errors_unless_fallback_is_asked_for():
    ids = torch.randint(0, VOCAB, (1, 4))
    with pytest.raises(RuntimeError, match="cannot get hidden states"):
        RemeDiModel(OpaqueBackbone(), UPSHead(VOCAB, 4))(ids)
    model = RemeDiModel(OpaqueBackbone(), UPSHead(VOCAB, 4), allow_tps_fallback=True)
    with pytest.warns(UserWarning, match="TPS"):
        out = model(ids)
    top_p = torch.softmax(out.logits, -1).amax(-1)
    assert torch.allclose(torch.sigmoid(out.ups_logits), top_p, atol=1e-5)


def test_hidden_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="hidden size 64"):
        RemeDiModel(tiny_backbone(), UPSHead(64, 8))


def test_save_load_round_trip_and_attach_to_base(tmp_path):
    backbone = tiny_backbone()
    head = UPSHead(32, 8)
    save_ups(head, tmp_path / "ups")
    backbone.save_pretrained(tmp_path / "base")
    loaded = RemeDiModel.from_pretrained(tmp_path / "base", ups_path=tmp_path / "ups")
    ids = torch.randint(0, VOCAB, (2, 6))
    assert torch.equal(loaded(ids).ups_logits, RemeDiModel(backbone, head)(ids).ups_logits)
    with pytest.raises(FileNotFoundError, match="no UPS weights"):
        load_ups(tmp_path / "base")


def test_loader_picks_up_bundled_ups_folder(tmp_path):
    model, tokenizer = load_model_and_tokenizer("tiny-random")
    model.backbone.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    plain, _ = load_model_and_tokenizer(str(tmp_path))
    assert not isinstance(plain, RemeDiModel)
    model.save_ups(tmp_path / "ups")
    bundled, _ = load_model_and_tokenizer(str(tmp_path))
    assert isinstance(bundled, RemeDiModel)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model_and_tokenizer(str(tmp_path / "nowhere"))


def test_position_only_control_ignores_the_content_and_round_trips(tmp_path):
    from remedi.model.ups_heads import UPSPosition

    head = UPSPosition(hidden_size=8, max_positions=6)
    with torch.no_grad():
        head.logits.copy_(torch.arange(6.0))
    hidden = torch.randn(3, 5, 8)
    assert torch.equal(head(hidden), torch.arange(5.0).expand(3, 5))
    assert torch.equal(head(hidden), head(torch.randn(3, 5, 8)))  # the same scores whatever the tokens
    save_ups(head, tmp_path)
    loaded = load_ups(tmp_path)
    assert isinstance(loaded, UPSPosition) and torch.equal(loaded.logits, head.logits)
    with pytest.raises(ValueError, match="covers 6 positions"):
        head(torch.randn(1, 7, 8))


class BrokenHiddenStatesBackbone(torch.nn.Module):
    """Takes output_hidden_states but has a bug on that path: a TypeError from inside the backbone."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.config = inner.config

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
        if output_hidden_states:
            raise TypeError("bug inside the backbone")
        return self.inner(input_ids, attention_mask=attention_mask)


def test_a_type_error_from_the_backbone_propagates():
    model = RemeDiModel(BrokenHiddenStatesBackbone(tiny_backbone()), UPSHead(32, 8))
    with pytest.raises(TypeError, match="bug inside the backbone"):
        model(torch.randint(0, VOCAB, (1, 4)))


def test_hidden_source_is_decided_at_construction():
    backbone = tiny_backbone()
    assert RemeDiModel(backbone, UPSHead(32, 8)).hidden_source == "output_hidden_states"
    assert RemeDiModel(NoHiddenStatesBackbone(backbone), UPSHead(32, 8)).hidden_source == "hook"
    fallback = RemeDiModel(OpaqueBackbone(), UPSHead(VOCAB, 4), allow_tps_fallback=True)
    assert fallback.hidden_source == "tps_fallback"
    with pytest.raises(RuntimeError, match="cannot get hidden states"):
        RemeDiModel(OpaqueBackbone(), UPSHead(VOCAB, 4))
