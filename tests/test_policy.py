"""The UPS as a stochastic policy: Plackett–Luce sampling and log-probabilities, and the sampler's
stochastic remask mode that Remask RL's rollouts run (remedi/sampler/policy.py, remedi/sampler/sampling.py)."""

import itertools
import math

import pytest
import torch

from remedi.sampler.policy import plackett_luce_log_prob, position_entropy, sample_order, token_log_prob
from remedi.sampler.sampling import generate, scheduled_mask_counts
from tests.helpers import EOS_ID, MASK_ID, random_prompt, tiny_backbone, tiny_remedi


def test_plackett_luce_log_prob_matches_a_hand_computation():
    # weights 1, 2, 3: pick 2 first (3/6), then 1 (2/3 of what is left) -> 1/3
    scores = torch.log(torch.tensor([[1.0, 2.0, 3.0]]))
    order = torch.tensor([[2, 1, 0]])
    assert plackett_luce_log_prob(scores, order, 2).item() == pytest.approx(math.log(1 / 3), abs=1e-6)
    assert plackett_luce_log_prob(scores, order, 1).item() == pytest.approx(math.log(1 / 2), abs=1e-6)
    # the last pick of a full order has probability 1
    assert plackett_luce_log_prob(scores, order, 3).item() == pytest.approx(math.log(1 / 3), abs=1e-6)


def test_plackett_luce_is_a_distribution_over_ordered_picks():
    scores = torch.tensor([[0.3, -1.2, 2.0, 0.0]])
    for k in (1, 2, 3):
        total = 0.0
        for picked in itertools.permutations(range(4), k):
            rest = [i for i in range(4) if i not in picked]
            order = torch.tensor([list(picked) + rest])
            total += plackett_luce_log_prob(scores, order, k).exp().item()
        assert total == pytest.approx(1.0, abs=1e-5)


def test_gumbel_top_k_samples_plackett_luce():
    torch.manual_seed(0)
    scores = torch.tensor([0.0, 1.0, 2.0])
    orders = sample_order(scores.expand(20000, 3))
    for first, second in itertools.permutations(range(3), 2):
        expected = plackett_luce_log_prob(scores[None], torch.tensor([[first, second, 3 - first - second]]), 2).exp()
        observed = ((orders[:, 0] == first) & (orders[:, 1] == second)).float().mean()
        assert observed.item() == pytest.approx(expected.item(), abs=0.012)  # ~4 standard errors


def test_position_entropy_and_token_log_prob_hand_values():
    assert position_entropy(torch.zeros(1, 4)).item() == pytest.approx(math.log(4), abs=1e-6)
    logits = torch.log(torch.tensor([[[1.0, 3.0]]]))  # p = (1/4, 3/4) at temperature 1
    assert token_log_prob(logits, torch.tensor([[1]]), 1.0).item() == pytest.approx(math.log(0.75), abs=1e-6)
    # temperature 2 on logits log(1), log(3): p proportional to 1, sqrt(3)
    expected = math.log(math.sqrt(3) / (1 + math.sqrt(3)))
    assert token_log_prob(logits, torch.tensor([[1]]), 2.0).item() == pytest.approx(expected, abs=1e-6)


def stochastic(model, prompt, attention_mask=None, **kwargs):
    options = dict(steps=8, gen_length=16, block_length=8, temperature=1.0, mask_id=MASK_ID,
                   position_temperature=1.0, return_rollout=True, return_trace=True)
    options.update(kwargs)
    return generate(model, prompt, attention_mask, **options)


def test_sampled_positions_keep_the_schedule_and_the_prompt():
    model = tiny_remedi()
    prompt = random_prompt(batch=3, length=5)
    torch.manual_seed(1)
    out, trace, rollout = stochastic(model, prompt)
    assert torch.equal(out[:, :5], prompt)
    observed = torch.tensor([record["masked_count"] for record in trace])  # (steps, B)
    assert (observed == torch.tensor(scheduled_mask_counts(16, 8, 8))[:, None]).all()
    assert len(rollout.steps) == 8 and not (out == MASK_ID).any()
    # each record replays: new tokens were masked before and hold their token after; the rest of the
    # block is either kept from before or masked again
    for step in rollout.steps:
        before = step.x[:, step.start : step.end]
        assert ((before == MASK_ID) | ~step.new_tokens).all()
        assert (step.tokens[step.new_tokens] != MASK_ID).all()
        kept = torch.zeros_like(step.new_tokens).scatter_(-1, step.order[:, : step.keep], True)
        assert torch.equal(step.tokens != MASK_ID, kept)
        assert torch.equal(step.new_tokens, kept & (before == MASK_ID))


def test_sampled_positions_turn_into_the_greedy_rule_as_the_temperature_vanishes():
    model = tiny_remedi(seed=3)
    prompt = random_prompt(batch=2, length=6, seed=3)
    greedy = generate(model, prompt, steps=8, gen_length=16, block_length=8, mask_id=MASK_ID)
    torch.manual_seed(0)
    sampled, _ = generate(model, prompt, steps=8, gen_length=16, block_length=8, mask_id=MASK_ID,
                          position_temperature=1e-6, return_rollout=True)
    assert torch.equal(sampled, greedy)


def test_sampled_positions_differ_between_draws():
    model = tiny_remedi()
    prompt = random_prompt(batch=1, length=5).repeat(8, 1)
    torch.manual_seed(0)
    _, _, rollout = stochastic(model, prompt, temperature=0.0, position_temperature=5.0)
    first_keep = rollout.steps[0].order[:, : rollout.steps[0].keep]
    assert len({tuple(row.tolist()) for row in first_keep}) > 1


@pytest.mark.parametrize("case", ["plain", "padded+cfg", "eos_inf+blocks"])
def test_a_rollout_step_scored_again_reproduces_its_log_probs_exactly(case):
    from remedi.train.rl import rescore_step

    model = tiny_remedi(seed=5)
    prompt, mask, kwargs = random_prompt(batch=4, length=6, seed=5), None, {}
    if case == "padded+cfg":
        prompt[:2, :2] = 2  # left padding with EOS
        mask = torch.ones_like(prompt)
        mask[:2, :2] = 0
        kwargs = dict(cfg_scale=1.5)
    if case == "eos_inf+blocks":
        kwargs = dict(logits_eos_inf=True, eos_id=EOS_ID, block_length=4, steps=8)
    torch.manual_seed(2)
    _, _, rollout = stochastic(model, prompt, mask, temperature=1.3, position_temperature=0.7, **kwargs)
    assert any(step.new_tokens.any() for step in rollout.steps)
    for step in rollout.steps:
        with torch.no_grad():
            position_lp, token_lp = rescore_step(model, rollout, step)
        assert torch.equal(position_lp, step.position_log_prob)
        assert torch.equal(token_lp, step.token_log_prob)
        assert (step.token_log_prob[step.new_tokens] < 0).all()  # sampled tokens carry a log-probability


def test_stochastic_positions_refuse_settings_where_they_mean_nothing():
    model = tiny_remedi()
    prompt = random_prompt()
    common = dict(steps=4, gen_length=8, block_length=8, mask_id=MASK_ID)
    with pytest.raises(ValueError, match="position_temperature > 0"):
        generate(model, prompt, **common, return_rollout=True)
    with pytest.raises(ValueError, match="confidence_source='ups'"):
        generate(model, prompt, **common, position_temperature=1.0, confidence_source="tps_prob")
    with pytest.raises(ValueError, match="remask=True"):
        generate(model, prompt, **common, position_temperature=1.0, remask=False)
    with pytest.raises(ValueError, match=">= 0"):
        generate(model, prompt, **common, position_temperature=-1.0)
    with pytest.raises(ValueError, match="no `ups_logits`"):
        generate(tiny_backbone(), prompt, **common, position_temperature=1.0)
