"""The UPS head that reads the TPS's confidence: its features, its start at the tps_margin order, and Remask RL
on it (cached and uncached re-scoring agree)."""

import math

import pytest
import torch

from remedi import RemeDiModel, load_ups, save_ups
from remedi.model.ups_heads import UPSTPSHead, tps_confidence_features
from remedi.sampler.sampling import generate
from tests.helpers import MASK_ID, random_prompt, tiny_backbone
from tests.test_rl import ups_updates_with_and_without_the_hidden_cache


def tps_head_model(seed=0, start_feature="margin", start_scale=10.0):
    backbone = tiny_backbone(seed)
    torch.manual_seed(seed + 1)
    return RemeDiModel(backbone, UPSTPSHead(backbone.config.hidden_size, ups_width=8, start_feature=start_feature,
                                            start_scale=start_scale)).eval()


def test_features_equal_a_hand_computation_on_three_tokens():
    """Vocabulary of 3 plus [MASK]=3. Position 0 is masked (candidate = argmax 0), position 1 holds token 2,
    position 2 holds token 1."""
    probs = torch.tensor([[[0.5, 0.3, 0.2, 0.0], [0.6, 0.1, 0.3, 0.0], [0.25, 0.25, 0.5, 0.0]]])
    logits = torch.log(probs.clamp_min(1e-12))
    features = tps_confidence_features(logits, torch.tensor([[3, 2, 1]]), mask_id=3)

    def neg_entropy(row):
        return sum(p * math.log(p) for p in row if p > 0)

    expected = torch.tensor([[[0.5, 0.5 - 0.3, neg_entropy([0.5, 0.3, 0.2])],
                              [0.3, 0.3 - 0.6, neg_entropy([0.6, 0.1, 0.3])],
                              [0.25, 0.25 - 0.5, neg_entropy([0.25, 0.25, 0.5])]]])
    assert torch.allclose(features, expected, atol=1e-6)


@pytest.mark.parametrize("remask", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("feature, source", [("prob", "tps_prob"), ("margin", "tps_margin"),
                                             ("neg_entropy", "tps_entropy")])
def test_untrained_head_decodes_exactly_as_its_heuristic(feature, source, remask, seed):
    model = tps_head_model(seed, start_feature=feature)
    prompt = random_prompt(batch=3, length=5, seed=seed)
    common = dict(steps=8, gen_length=16, block_length=8, temperature=0.0, mask_id=MASK_ID, remask=remask)
    with torch.no_grad():
        by_ups = generate(model, prompt, confidence_source="ups", **common)
        by_heuristic = generate(model, prompt, confidence_source=source, **common)
    assert torch.equal(by_ups, by_heuristic)


def test_an_unknown_start_feature_is_an_error():
    with pytest.raises(ValueError, match="start_feature"):
        UPSTPSHead(8, start_feature="logit")


def test_a_trained_head_leaves_the_margin_order():
    """The equality above must be able to fail: once the hidden-state part is not zero, the orders differ."""
    model = tps_head_model(0, start_scale=0.0)
    with torch.no_grad():
        model.ups_head.hidden_net[-1].weight.normal_(0, 5.0)
    prompt = random_prompt(batch=3, length=5, seed=0)
    common = dict(steps=8, gen_length=16, block_length=8, temperature=0.0, mask_id=MASK_ID, remask=True)
    with torch.no_grad():
        assert not torch.equal(generate(model, prompt, confidence_source="ups", **common),
                               generate(model, prompt, confidence_source="tps_margin", **common))


def test_round_trip_and_precomputed_inputs(tmp_path):
    model = tps_head_model(3)
    with torch.no_grad():
        model.ups_head.feature_map.weight.fill_(0.5)
    save_ups(model.ups_head, tmp_path)
    loaded = load_ups(tmp_path)
    assert isinstance(loaded, UPSTPSHead) and loaded.config_dict() == model.ups_head.config_dict()
    prompt = random_prompt(batch=2, length=9, seed=3)
    with torch.no_grad():
        out = model(prompt)
        again = model(None, ups_hidden=out.last_hidden_state, ups_tps_features=out.ups_tps_features)
        assert torch.equal(out.ups_logits, again.ups_logits)
        assert torch.equal(loaded(out.last_hidden_state, out.ups_tps_features), out.ups_logits)
    with pytest.raises(ValueError, match="ups_tps_features"):
        model(None, ups_hidden=out.last_hidden_state)


def test_remask_rl_updates_are_equal_with_and_without_the_hidden_cache():
    model = tps_head_model(4)
    uncached, cached = ups_updates_with_and_without_the_hidden_cache(model, seed=4, epochs=2)
    assert any(not torch.equal(uncached[name], model.ups_head.state_dict()[name]) for name in uncached)
    for name in uncached:
        assert torch.allclose(uncached[name], cached[name], atol=1e-5)
