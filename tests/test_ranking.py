"""The sampler ranks positions in the order of the confidence it names, also where float32 would round it.

sigmoid(h) is exactly 1.0 in float32 for every UPS logit above about 17 and exactly 0.0 below about -104,
and a softmax gives exactly 1.0 to every near-certain token; ranking those values ties whole stretches of
positions, and topk then picks among them by index, whatever the model says. These tests use logits far
into those ranges.
"""

import math

import pytest
import torch

from remedi import RemeDiModel
from remedi.eval.detection import _scores
from remedi.model.ups_heads import UPSPosition
from remedi.sampler.confidence import confidence_value, score_threshold, token_confidence
from remedi.sampler.sampling import generate
from tests.helpers import MASK_ID, VOCAB, ScriptedModel, random_prompt, tiny_backbone

PROMPT_LENGTH, GEN_LENGTH = 4, 256  # answer positions 4..259: past 200 the -arange logits are < -200


def left_to_right_model(attention_block):
    """A block-causal backbone with a position-only UPS whose logits are -position: a strict left-to-right order."""
    backbone = tiny_backbone(0, attention_layout="block_causal", attention_block_length=attention_block,
                             max_sequence_length=PROMPT_LENGTH + GEN_LENGTH)
    head = UPSPosition(backbone.config.hidden_size, PROMPT_LENGTH + GEN_LENGTH)
    with torch.no_grad():
        head.logits.copy_(-torch.arange(PROMPT_LENGTH + GEN_LENGTH, dtype=torch.float32))
    return RemeDiModel(backbone, head).eval()


def decided_positions_after_each_step(trace, remask, block_length):
    """Per step, the answer positions the sampler has settled (kept or filled) so far, as a sorted list."""
    settled, decided = set(), []
    for record in trace:
        block_start = record["block"] * block_length
        if remask:  # a step keeps exactly its selected positions of the block; earlier blocks are settled
            settled = {p for p in settled if p < block_start} | set(record["selected"][0])
        else:
            settled |= set(record["selected"][0])
        decided.append(sorted(settled))
    return decided


@pytest.mark.parametrize("remask", [False, True])
@pytest.mark.parametrize("kv_cache,block_length", [("none", 256), ("none", 32), ("exact", 32)])
@pytest.mark.parametrize("threshold", [None, 0.5])
def test_a_left_to_right_position_ups_decodes_left_to_right_past_position_200(remask, kv_cache, block_length,
                                                                              threshold):
    model = left_to_right_model(attention_block=32)
    out, trace = generate(model, random_prompt(batch=1, length=PROMPT_LENGTH), steps=64, gen_length=GEN_LENGTH,
                          block_length=block_length, mask_id=MASK_ID, confidence_source="ups", remask=remask,
                          kv_cache=kv_cache, threshold=threshold, return_trace=True)
    for decided in decided_positions_after_each_step(trace, remask, block_length):
        assert decided == list(range(len(decided)))
    assert len(decided) == GEN_LENGTH


def test_ups_logits_of_20_and_25_keep_their_order():
    """sigmoid(20) == sigmoid(25) == 1.0 in float32; the logit 25 must still come first."""
    ups = torch.tensor([[20.0, 25.0, 18.0, 30.0]])
    score = token_confidence("ups", None, ups, torch.zeros(1, 4, dtype=torch.long))
    assert torch.argsort(score, descending=True).tolist() == [[3, 1, 0, 2]]
    scripted = ScriptedModel(lambda x: torch.zeros(*x.shape, VOCAB),
                             ups_fn=lambda x: torch.cat([torch.zeros(1, 2), ups], dim=1).expand(x.shape[0], -1))
    _, trace = generate(scripted, random_prompt(batch=1, length=2), steps=4, gen_length=4, block_length=4,
                        mask_id=MASK_ID, confidence_source="ups", remask=True, return_trace=True)
    assert [record["selected"][0] for record in trace] == [[3], [1, 3], [0, 1, 3], [0, 1, 2, 3]]


def test_greedy_inference_keeps_what_plackett_luce_keeps_as_its_temperature_goes_to_zero():
    """Logits 1 apart spanning +60..-200: at position temperature 1e-3 the sampled order is the sorted one."""
    answer_logits = 60.0 - torch.arange(GEN_LENGTH, dtype=torch.float32)
    answer_logits = answer_logits[torch.randperm(GEN_LENGTH, generator=torch.Generator().manual_seed(0))]
    scripted = ScriptedModel(lambda x: torch.randn(*x.shape, VOCAB, generator=torch.Generator().manual_seed(1)),
                             ups_fn=lambda x: torch.cat([torch.zeros(1, PROMPT_LENGTH), answer_logits[None]], 1))
    settings = dict(steps=16, gen_length=GEN_LENGTH, block_length=GEN_LENGTH, mask_id=MASK_ID,
                    confidence_source="ups", remask=True)
    prompt = random_prompt(batch=1, length=PROMPT_LENGTH)
    greedy, trace = generate(scripted, prompt, **settings, return_trace=True)
    torch.manual_seed(0)
    sampled, rollout = generate(scripted, prompt, **settings, position_temperature=1e-3, return_rollout=True)
    assert torch.equal(greedy, sampled)
    expected_order = torch.argsort(answer_logits, descending=True)
    for record, step in zip(trace, rollout.steps, strict=True):
        assert torch.equal(step.order[0, : step.keep], expected_order[: step.keep])
        assert record["selected"][0] == sorted(step.order[0, : step.keep].tolist())


def near_certain_logits():
    """(1, 4, VOCAB): position i's top token leads every other by 20 + 5 i, so every probability is 1.0 in float32."""
    logits = torch.zeros(1, 4, VOCAB)
    for i, lead in enumerate([30.0, 20.0, 35.0, 25.0]):
        logits[0, i, 5 + i] = lead
    return logits


@pytest.mark.parametrize("source", ["tps_prob", "tps_margin"])
def test_tps_scores_keep_the_order_of_near_certain_tokens(source):
    logits = near_certain_logits()
    candidates = logits.argmax(dim=-1)
    assert (torch.softmax(logits, dim=-1).amax(dim=-1) == 1.0).all()  # the float32 tie this is about
    score = token_confidence(source, logits, None, candidates)
    assert torch.argsort(score, descending=True).tolist() == [[2, 0, 3, 1]]
    scripted = ScriptedModel(lambda x: torch.cat([torch.zeros(1, 2, VOCAB), logits], dim=1))
    _, trace = generate(scripted, random_prompt(batch=1, length=2), steps=4, gen_length=4, block_length=4,
                        mask_id=MASK_ID, confidence_source=source, remask=False, return_trace=True)
    assert [record["selected"][0] for record in trace] == [[2], [0], [3], [1]]


@pytest.mark.parametrize("source", ["tps_prob", "tps_margin"])
def test_tps_scores_are_the_confidences_they_name(source):
    """confidence_value(score) equals the float64 probability (or margin), and score_threshold agrees with it."""
    logits = 3 * torch.randn(2, 6, VOCAB, generator=torch.Generator().manual_seed(2))
    candidates = torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(3))
    candidates[0] = logits[0].argmax(dim=-1)
    probs = torch.softmax(logits.double(), dim=-1)
    chosen = probs.gather(-1, candidates.unsqueeze(-1)).squeeze(-1)
    best_other = probs.scatter(-1, candidates.unsqueeze(-1), -1.0).amax(dim=-1)
    expected = chosen if source == "tps_prob" else chosen - best_other
    score = token_confidence(source, logits, None, candidates)
    assert torch.allclose(confidence_value(source, score), expected, atol=1e-6)
    for threshold in (-0.5, 0.01, 0.3, 0.6, 0.9):
        clear = (expected - threshold).abs() > 1e-5
        assert torch.equal((score >= score_threshold(source, threshold))[clear], (expected >= threshold)[clear])


def test_thresholds_near_one_still_separate_near_certain_ups_positions():
    """A threshold of 1 - 1e-9 separates the logits 25 and 15: sigmoid would read both as 1.0."""
    threshold = score_threshold("ups", 1 - 1e-9)
    assert 15.0 < threshold < 25.0
    assert score_threshold("ups", 1.5) == math.inf and score_threshold("ups", 0.0) == -math.inf


def test_detection_ranks_by_the_logit_not_its_saturated_sigmoid():
    """Clean tokens at logits 30 and 40, incorrect ones at 18 and 20: all sigmoid to 1.0, yet AUC is 1."""
    scores = _scores(torch.tensor([30.0, 18.0, 40.0, 20.0]).numpy(), torch.tensor([False, True, False, True]).numpy(),
                     threshold=1 - 1e-10)
    assert scores["roc_auc"] == 1.0
    assert scores["confusion"]["tp"] == 2 and scores["confusion"]["fp"] == 0
