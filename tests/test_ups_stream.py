import pytest
import torch

from remedi import RemeDiModel, UPSStream, load_ups
from remedi.sampler.sampling import generate
from tests.helpers import MASK_ID, VOCAB, random_prompt, tiny_backbone


def stream_model(seed=0):
    backbone = tiny_backbone(seed)
    torch.manual_seed(seed + 7)
    return backbone, RemeDiModel(backbone, UPSStream(32, read_layers=[0, 1], stream_dim=16, n_heads=2)).eval()


def test_training_starts_from_the_unchanged_backbone():
    backbone, model = stream_model()
    ids = torch.randint(0, VOCAB, (2, 7))
    reference = backbone(ids).logits
    out = model(ids)
    assert torch.equal(out.logits, reference)
    assert out.ups_logits.shape == (2, 7)


def test_write_back_changes_tps_only_inside_the_wrapper():
    backbone, model = stream_model()
    ids = torch.randint(0, VOCAB, (2, 7))
    reference = backbone(ids).logits
    with torch.no_grad():
        model.ups_head.write[0].weight.normal_(std=0.5)
    assert not torch.allclose(model(ids).logits, reference, atol=1e-4)
    assert torch.equal(backbone(ids).logits, reference)  # hooks are idle outside RemeDiModel.forward


def test_both_losses_reach_the_stream():
    _, model = stream_model()
    with torch.no_grad():
        model.ups_head.write[1].weight.normal_(std=0.1)
    out = model(torch.randint(0, VOCAB, (2, 7)))
    (out.ups_logits.sum() + out.logits.logsumexp(-1).sum()).backward()
    stream = model.ups_head
    assert stream.read[0].weight.grad.abs().sum() > 0 and stream.head.weight.grad.abs().sum() > 0
    assert stream.write[1].weight.grad.abs().sum() > 0


def test_left_padding_leaves_real_positions_unchanged():
    _, model = stream_model()
    ids = torch.randint(5, VOCAB - 1, (1, 6))
    padded = torch.cat([torch.full((1, 2), 2), ids], dim=1)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1]])
    alone = model(ids).ups_logits
    assert torch.allclose(alone, model(padded, attention_mask=mask).ups_logits[:, 2:], atol=1e-5)


def test_save_load_round_trip_and_sampling(tmp_path):
    backbone, model = stream_model()
    with torch.no_grad():
        model.ups_head.write[0].weight.normal_(std=0.1)
    model.save_ups(tmp_path)
    loaded = RemeDiModel(tiny_backbone(0), load_ups(tmp_path)).eval()
    ids = torch.randint(0, VOCAB, (2, 7))
    assert torch.equal(loaded(ids).ups_logits, model(ids).ups_logits)
    _, trace = generate(loaded, random_prompt(2, 4), steps=4, gen_length=8, block_length=8, mask_id=MASK_ID,
                        return_trace=True)
    assert trace[0]["confidence_source"] == "ups" and trace[-1]["masked_count"] == [0, 0]


def test_bad_read_layers():
    with pytest.raises(ValueError, match="increasing"):
        UPSStream(32, read_layers=[1, 0])
    with pytest.raises(ValueError, match="exceed"):
        RemeDiModel(tiny_backbone(), UPSStream(32, read_layers=[0, 5]))
