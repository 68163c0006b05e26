"""Remask RL's objective (remedi/train/rl.py) and rewards (remedi/train/rewards.py), on hand examples and tiny models."""

import copy
import dataclasses
import math

import pytest
import torch
from lightning.fabric import Fabric

from remedi import RemeDiModel
from remedi.model.ups_heads import UPSHead
from remedi.model.ups_heads import UPSPosition
from remedi.sampler.policy import RolloutStep
from remedi.sampler.sampling import generate
from remedi.train import rl
from remedi.train.rewards import correctness_reward, score_completions, well_formed
from remedi.train.training import set_trainable
from tests.helpers import MASK_ID, random_prompt, tiny_backbone, tiny_remedi


def test_group_advantages_hand_example():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    advantages = rl.group_advantages(rewards, group_size=4)
    std = math.sqrt(0.25 * 0.75)  # population std of one 1 among four
    expected = torch.tensor([0.75 / std, -0.25 / std, -0.25 / std, -0.25 / std, 0, 0, 0, 0])
    assert torch.allclose(advantages, expected, atol=1e-4)
    with pytest.raises(RuntimeError):
        rl.group_advantages(torch.ones(6), group_size=4)  # rows must fill whole groups


def fake_step(position_lp_old, keep=1, block=3):
    """A one-row step whose recorded position log-prob is `position_lp_old` (no tokens placed)."""
    b = len(position_lp_old)
    return RolloutStep(x=torch.zeros(b, block, dtype=torch.long), start=0, end=block, keep=keep,
                       order=torch.arange(block).expand(b, block), tokens=torch.zeros(b, block, dtype=torch.long),
                       new_tokens=torch.zeros(b, block, dtype=torch.bool),
                       position_log_prob=torch.tensor(position_lp_old), token_log_prob=torch.zeros(b, block),
                       position_entropy=torch.zeros(b))


@pytest.mark.parametrize("advantage, ratio, gradient", [
    (1.0, 1.0, True),    # on-policy: the plain policy gradient
    (1.0, 1.5, False),   # already far more likely than at the rollout: clipped, no push further
    (-1.0, 1.5, True),   # more likely but bad: the unclipped branch is the minimum, keep pulling down
    (-1.0, 0.5, False),  # already far less likely and bad: clipped
    (1.0, 0.5, True),    # less likely but good: push up
])
def test_clipped_objective_stops_pushing_only_where_ppo_says(advantage, ratio, gradient):
    new_lp = torch.tensor([-1.0], requires_grad=True)
    step = fake_step([-1.0 - math.log(ratio)])
    cfg = rl.PolicyLossConfig(clip_eps=0.2, token_term=False)
    loss, stats = rl.step_objective(new_lp, torch.zeros(1, 3), step, slice(None), torch.tensor([advantage]), cfg,
                                    n_position_steps=2, gen_length=3)
    loss.backward()
    clipped_value = min(ratio * advantage, min(max(ratio, 0.8), 1.2) * advantage)
    assert loss.item() == pytest.approx(-clipped_value / 2, abs=1e-6)  # averaged over the 2 deciding steps
    assert (new_lp.grad.abs().item() > 0) == gradient
    if gradient:  # d/dlp of -(ratio * A) / 2 is -(ratio * A) / 2
        assert new_lp.grad.item() == pytest.approx(-ratio * advantage / 2, abs=1e-5)
    assert stats["position_clipped"] == float(abs(ratio - 1) > 0.2)


def test_a_step_that_keeps_the_whole_block_decides_nothing():
    step = fake_step([-0.5], keep=3, block=3)
    assert not step.decides_positions
    new_lp = torch.tensor([-0.1], requires_grad=True)
    loss, _ = rl.step_objective(new_lp, torch.zeros(1, 3), step, slice(None), torch.tensor([1.0]),
                                rl.PolicyLossConfig(token_term=False), n_position_steps=1, gen_length=3)
    assert loss.item() == 0.0


def test_kl_term_is_zero_against_itself_and_positive_otherwise():
    step = fake_step([-1.0])
    cfg = rl.PolicyLossConfig(kl_coef=1.0, token_term=False)
    args = (torch.zeros(1, 3), step, slice(None), torch.tensor([0.0]), cfg, 1, 3)
    _, same = rl.step_objective(torch.tensor([-1.0]), *args, reference=(torch.tensor([-1.0]), torch.zeros(1, 3)))
    _, other = rl.step_objective(torch.tensor([-1.0]), *args, reference=(torch.tensor([-2.0]), torch.zeros(1, 3)))
    assert same["kl"] == pytest.approx(0.0, abs=1e-7)
    assert other["kl"] == pytest.approx(math.exp(-1) + 1 - 1, abs=1e-6)  # k3 with log(p_ref / p_new) = -1


def rollout_of(model, rows=4, temperature=0.0, seed=0):
    prompt = random_prompt(batch=1, length=5, seed=seed).repeat(rows, 1)
    torch.manual_seed(seed)
    _, rollout = generate(model, prompt, steps=4, gen_length=8, block_length=8, temperature=temperature,
                          mask_id=MASK_ID, position_temperature=1.0, return_rollout=True)
    return rollout


def on_fabric(model, optimizer):
    fabric = Fabric(accelerator="cpu", devices=1)
    model, optimizer = fabric.setup(model, optimizer)
    return fabric, model, optimizer


def sum_position_log_prob(model, rollout, row):
    with torch.no_grad():
        return sum(rl.rescore_step(model, rollout, step)[0][row].item()
                   for step in rollout.steps if step.decides_positions)


@pytest.mark.parametrize("advantages, row, direction", [([1.0, 0.0], 0, 1), ([0.0, -1.0], 1, -1)])
def test_an_update_moves_the_order_with_its_advantage_and_trains_only_the_ups(advantages, row, direction):
    model = tiny_remedi(seed=7)
    set_trainable(model, "ups")
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    rollout = rollout_of(model, rows=2)
    # plain SGD with a small step: to first order the log-prob moves by lr * A * |gradient|^2
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    fabric, wrapped, optimizer = on_fabric(model, optimizer)
    before = sum_position_log_prob(model, rollout, row)
    result = rl.policy_update(fabric, wrapped, optimizer, rollout, torch.tensor(advantages),
                              rl.PolicyLossConfig(token_term=False), gen_length=8)
    after = sum_position_log_prob(model, rollout, row)
    assert direction * (after - before) > 0
    assert result["clip_frac_position"] == 0.0  # the first update is on-policy: every ratio is 1
    assert all(torch.equal(backbone_before[k], v) for k, v in model.backbone.state_dict().items())


def test_the_token_term_trains_the_tps_toward_rewarded_tokens():
    model = tiny_remedi(seed=8)
    set_trainable(model, "full")
    rollout = rollout_of(model, rows=2, temperature=1.5, seed=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    fabric, wrapped, optimizer = on_fabric(model, optimizer)

    def token_lp(row):
        with torch.no_grad():
            return sum(rl.rescore_step(model, rollout, step)[1][row].sum().item() for step in rollout.steps)

    before = token_lp(0)
    rl.policy_update(fabric, wrapped, optimizer, rollout, torch.tensor([1.0, 0.0]), rl.PolicyLossConfig(), 8)
    assert token_lp(0) > before


def test_update_micro_batches_give_the_same_gradient_as_one_batch():
    model = tiny_remedi(seed=9)
    set_trainable(model, "ups")
    rollout = rollout_of(model, rows=4, seed=9)
    advantages = torch.tensor([1.0, -0.5, 0.25, -0.75])
    updated = []
    for micro in (None, 1):  # one plain SGD step with lr 1 moves every weight by minus its gradient
        copied = copy.deepcopy(model)
        optimizer = torch.optim.SGD([p for p in copied.parameters() if p.requires_grad], lr=1.0)
        fabric, wrapped, optimizer = on_fabric(copied, optimizer)
        rl.policy_update(fabric, wrapped, optimizer, rollout, advantages, rl.PolicyLossConfig(token_term=False), 8,
                         grad_clip=0, micro_batch_size=micro)
        updated.append(copied.ups_head.state_dict())
    start = model.ups_head.state_dict()
    assert any(not torch.equal(start[k], updated[0][k]) for k in start)
    for name in start:
        assert torch.allclose(updated[0][name], updated[1][name], atol=1e-6)


def updates_without_and_with_the_hidden_cache(model, rollout, advantages, cfg, block_length, epochs):
    """The UPS states and backbone forward counts after `epochs` PPO epochs on copies of `model`, without the
    hidden cache and with it (later epochs then reuse the first's hidden states)."""
    updated, forwards = [], []
    for cache in (None, {}):
        copied = copy.deepcopy(model)
        calls = [0]
        copied.backbone.register_forward_hook(lambda *args: calls.__setitem__(0, calls[0] + 1))
        optimizer = torch.optim.SGD([p for p in copied.parameters() if p.requires_grad], lr=1.0)
        fabric, wrapped, optimizer = on_fabric(copied, optimizer)
        for _ in range(epochs):
            rl.policy_update(fabric, wrapped, optimizer, rollout, advantages, cfg, block_length, grad_clip=0,
                             hidden_cache=cache)
        updated.append({name: value.detach().clone() for name, value in copied.ups_head.state_dict().items()})
        forwards.append(calls[0])
    return updated, forwards


def test_reusing_a_frozen_backbones_hidden_states_gives_the_same_updates():
    model = tiny_remedi(seed=10)
    set_trainable(model, "ups")
    rollout = rollout_of(model, rows=4, seed=10)
    advantages = torch.tensor([1.0, -0.5, 0.25, -0.75])
    cfg = rl.PolicyLossConfig(token_term=False)
    assert rl.can_cache_hidden(model, cfg, rollout)
    updated, forwards = updates_without_and_with_the_hidden_cache(model, rollout, advantages, cfg, 8, epochs=2)
    assert forwards == [6, 3]  # 3 deciding steps per epoch; the cache runs the backbone in the first only
    for name in updated[0]:
        assert torch.allclose(updated[0][name], updated[1][name], atol=1e-5)
    set_trainable(model, "full")
    assert not rl.can_cache_hidden(model, cfg, rollout)  # a training backbone changes its hidden states


def ups_updates_with_and_without_the_hidden_cache(model, seed, epochs=1):
    """The UPS state after `epochs` PPO epochs on one rollout of `model`, re-scored without and with the cache."""
    set_trainable(model, "ups")
    rollout = rollout_of(model, rows=4, seed=seed)
    advantages = torch.tensor([1.0, -0.5, 0.25, -0.75])
    cfg = rl.PolicyLossConfig(token_term=False)
    assert rl.can_cache_hidden(model, cfg, rollout)
    return updates_without_and_with_the_hidden_cache(model, rollout, advantages, cfg, 8, epochs)[0]


def test_a_position_only_head_trains_the_answer_positions_with_and_without_the_hidden_cache():
    """The prompt has 5 tokens and the answer 8: only positions 5..12 are ever chosen, so only their logits
    may move, and the cached re-scoring must score those positions, not positions 0..7 of a slice."""
    backbone = tiny_remedi(seed=11).backbone
    model = RemeDiModel(backbone, UPSPosition(backbone.config.hidden_size, max_positions=32)).eval()
    uncached, cached = ups_updates_with_and_without_the_hidden_cache(model, seed=11)
    moved = (uncached["logits"] != 0).nonzero().flatten().tolist()
    assert moved and set(moved) <= set(range(5, 13))
    assert torch.allclose(uncached["logits"], cached["logits"], atol=1e-6)


# ---------------------------------------------------------------------------------------------- rewards


def test_built_in_rewards():
    strict, gsm8k, auto = correctness_reward("strict"), correctness_reward("gsm8k"), correctness_reward("auto")
    reference = "1+2=3\n#### 3"
    assert strict("1+2=3\n#### 3", reference) == 1.0
    assert strict("1+2=3\n#### 4", reference) == 0.0
    assert strict("the answer is 3", reference) == 0.0 and gsm8k("the answer is 3", reference) == 1.0
    assert auto("1+2=3\n#### 3", reference) == 1.0
    math_reference = "So the answer is $\\boxed{\\frac{1}{2}}$."
    assert auto("... \\boxed{0.5}", math_reference) == 1.0
    assert auto("... \\boxed{0.6}", math_reference) == 0.0
    math_on_gsm8k = correctness_reward("math")  # \boxed{} answers against a GSM8K reference's number
    assert math_on_gsm8k("so \\boxed{3.0}", reference) == 1.0 and math_on_gsm8k("#### 3", reference) == 0.0


def test_sudoku_reward_reads_the_givens_from_the_question():
    # A hand-typed valid grid; swapping the labels 1 and 2 gives another valid grid.
    rows = ["534678912", "672195348", "198342567", "859761423", "426853791", "713924856", "961537284",
            "287419635", "345286179"]
    relabelled = [row.translate(str.maketrans("12", "21")) for row in rows]
    reference = "#### " + " ".join(rows)
    keeps_no_one_or_two = "\n".join(["Sudoku:"] + [row.translate(str.maketrans("12", "..")) for row in rows])
    keeps_a_two = "\n".join(["Sudoku:"] + ["5346789.2"] + [row.translate(str.maketrans("12", "..")) for row in rows[1:]])
    reward = correctness_reward("sudoku")
    assert reward(reference, reference, keeps_no_one_or_two) == 1.0
    assert reward("#### " + " ".join(relabelled), reference, keeps_no_one_or_two) == 1.0  # another solution
    assert reward("#### " + " ".join(relabelled), reference, keeps_a_two) == 0.0          # breaks a given
    assert reward("#### " + " ".join(relabelled), reference) == 0.0  # no question: the reference's grid only
    questions = [keeps_no_one_or_two, keeps_a_two]
    completions = ["#### " + " ".join(relabelled)] * 2
    assert score_completions(reward, completions, [reference] * 2, questions=questions) == ([1.0, 0.0], [1.0, 0.0])
    assert well_formed(completions[0], reference) and not well_formed("#### 3", reference)


def test_sudoku_units_reward_counts_complete_units_and_is_one_only_for_a_solution():
    rows = ["534678912", "672195348", "198342567", "859761423", "426853791", "713924856", "961537284",
            "287419635", "345286179"]
    reference = "#### " + " ".join(rows)
    question = "\n".join(["Sudoku:"] + [row[:4] + "....." for row in rows])  # columns 1-4 given
    reward = correctness_reward("sudoku_units")
    assert reward(reference, reference, question) == 1.0
    # Swap the last two cells of row 1 (not givens): row 1 and box 3 still hold 1..9, columns 8 and 9 do not.
    swapped = [rows[0][:7] + rows[0][8] + rows[0][7]] + rows[1:]
    assert reward("#### " + " ".join(swapped), reference, question) == pytest.approx(25 / 27)
    assert correctness_reward("sudoku")("#### " + " ".join(swapped), reference, question) == 0.0
    # Changing a given scores 0 however many units hold: relabel 5 <-> 3 everywhere (a valid grid).
    relabelled = [row.translate(str.maketrans("53", "35")) for row in rows]
    assert reward("#### " + " ".join(relabelled), reference, question) == 0.0
    assert reward("no grid", reference, question) == 0.0


def test_format_reward_is_off_by_default_and_pays_for_form_only():
    reward = correctness_reward("strict")
    completions, references = ["#### 4", "#### 3", "3"], ["#### 3"] * 3
    assert score_completions(reward, completions, references) == ([0.0, 1.0, 0.0], [0.0, 1.0, 0.0])
    total, correct = score_completions(reward, completions, references, format_weight=0.1)
    assert total == pytest.approx([0.1, 1.1, 0.0]) and correct == [0.0, 1.0, 0.0]
    assert well_formed("\\boxed{2}", "\\boxed{3}") and not well_formed("2", "\\boxed{3}")


def test_user_reward_hook_from_a_file_and_its_errors(tmp_path):
    hook = tmp_path / "my_reward.py"
    hook.write_text("def length_bonus(completion, reference):\n    return len(completion) / 10\n")
    assert correctness_reward(f"{hook}:length_bonus")("abcde", "") == 0.5
    assert correctness_reward(f"{hook}:length_bonus")("abcde", "", "a question it never sees") == 0.5
    with pytest.raises(ValueError, match="no function 'missing'"):
        correctness_reward(f"{hook}:missing")
    with pytest.raises(FileNotFoundError):
        correctness_reward(f"{tmp_path / 'absent.py'}:f")
    with pytest.raises(ValueError, match="MODULE:FUNCTION"):
        correctness_reward("exact")
    with pytest.raises(ValueError, match="cannot import"):
        correctness_reward("no_such_module_here:f")


def block_causal_rollout(kv_cache="exact", rows=4, seed=12):
    backbone = tiny_backbone(seed, attention_layout="block_causal", attention_block_length=4)
    torch.manual_seed(seed + 1)
    model = RemeDiModel(backbone, UPSHead(backbone.config.hidden_size, 16)).eval()
    prompt = random_prompt(batch=1, length=5, seed=seed).repeat(rows, 1)
    torch.manual_seed(seed)
    _, rollout = generate(model, prompt, steps=6, gen_length=12, block_length=4, temperature=1.0, mask_id=MASK_ID,
                          position_temperature=1.0, return_rollout=True, kv_cache=kv_cache)
    return model, rollout


def test_a_cached_rollouts_update_equals_the_whole_sequence_update_and_trains_through_the_context():
    """The same rollout re-scored through the exact cache and on the whole sequence: one SGD step (lr 1, so the
    step is minus the gradient) moves every weight alike. Were the cached context's graph cut, the weights
    that only act through the prompt and the finished blocks' keys/values would get other gradients."""
    model, rollout = block_causal_rollout()
    set_trainable(model, "full")
    advantages = torch.tensor([1.0, -0.5, 0.25, -0.75])
    updated, lengths = [], []
    for kv_cache in ("exact", "none"):
        copied = copy.deepcopy(model)
        seen = []
        copied.backbone.model.transformer.wte.register_forward_hook(lambda m, a, out: seen.append(out.shape[1]))
        optimizer = torch.optim.SGD(copied.parameters(), lr=1.0)
        fabric, wrapped, optimizer = on_fabric(copied, optimizer)
        rl.policy_update(fabric, wrapped, optimizer, dataclasses.replace(rollout, kv_cache=kv_cache), advantages,
                         rl.PolicyLossConfig(), 12, grad_clip=0)
        updated.append(copied.state_dict())
        lengths.append(seen)
    # the prompt once, each step its block, each finished block appended once; the whole sequence every step
    assert lengths == [[5] + [4, 4, 4] * 2 + [4, 4], [17] * 6]
    start = model.state_dict()
    assert all(not torch.equal(start[k], updated[0][k]) for k in start if "ups_head" not in k)
    for name in start:
        assert torch.allclose(updated[0][name], updated[1][name], atol=1e-5), name


def test_a_cached_frozen_backbone_update_reuses_its_hidden_states():
    model, rollout = block_causal_rollout(seed=13)
    set_trainable(model, "ups")
    cfg = rl.PolicyLossConfig(token_term=False)
    assert rl.can_cache_hidden(model, cfg, rollout)
    advantages = torch.tensor([1.0, -0.5, 0.25, -0.75])
    updated, passes = updates_without_and_with_the_hidden_cache(model, rollout, advantages, cfg, 12, epochs=2)
    # per epoch: the prompt, the 3 deciding steps (the last of each block keeps it whole) and 2 appends
    assert passes == [12, 6]
    for name in updated[0]:
        assert torch.allclose(updated[0][name], updated[1][name], atol=1e-5)
