"""The Monte-Carlo log-likelihood (remedi/eval/likelihood.py) against its exact expectation, computed by hand.

For answers of at most 4 tokens every mask set can be enumerated, so the expectation of the estimator is a
finite sum: -(1/L) sum_k (L/k) mean_{|S|=k} sum_{i in S} CE_i(S). The tests compute it with plain model
calls, independently of the library's batching, padding and two-copy layout.
"""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from remedi import RemeDiModel, UPSHead, UPSStream
from remedi.eval.likelihood import (get_log_likelihood, greedy_matches, log_likelihoods, masked_token_loss,
                               random_answer_masks, stratified_mask_counts)
from tests.helpers import MASK_ID, ScriptedModel, tiny_backbone

PROMPT = torch.tensor([7, 12, 30, 5, 21])
ANSWER = torch.tensor([9, 33, 14, 26])


def token_nll(model, ids, position, target, cfg_scale, prompt_length, **layout):
    """-log p(target at position | ids), with unsupervised CFG computed directly from two passes."""
    with torch.no_grad():
        logits = model(ids[None], **layout).logits[0, position].float()
        if cfg_scale > 0:
            unconditional = ids.clone()
            unconditional[:prompt_length] = MASK_ID
            other = model(unconditional[None], **layout).logits[0, position].float()
            logits = other + (cfg_scale + 1) * (logits - other)
    return -F.log_softmax(logits, dim=-1)[target].item()


def exact_elbo(model, prompt, answer, cfg_scale=0.0, context=None, **layout):
    """-(1/L) sum_k (L/k) mean over k-subsets S of sum_{i in S} CE_i(S): the estimator's expectation when k
    is uniform on 1..L. `context` (clean ids between prompt and answer) is conditioned on, never masked."""
    context = torch.tensor([], dtype=torch.long) if context is None else context
    length, start = answer.numel(), prompt.numel() + context.numel()
    total = 0.0
    for k in range(1, length + 1):
        subsets = list(itertools.combinations(range(length), k))
        for subset in subsets:
            noisy = answer.clone()
            noisy[list(subset)] = MASK_ID
            ids = torch.cat([prompt, context, noisy])
            nll = sum(token_nll(model, ids, start + i, answer[i], cfg_scale, prompt.numel(), **layout) for i in subset)
            total += (length / k) * nll / len(subsets)
    return -total / length


def estimates(model, prompt, answer, seeds, mc_num, batch_size, cfg_scale=0.0):
    return torch.tensor([log_likelihoods(model, [(prompt, answer)], mc_num, batch_size, cfg_scale, MASK_ID,
                                         seed=seed, max_rows=mc_num)[0] for seed in seeds])


@pytest.mark.parametrize("cfg_scale", [0.0, 0.5])
def test_monte_carlo_mean_matches_the_exact_expectation(cfg_scale, one_thread):
    model = tiny_backbone(seed=3)
    exact = exact_elbo(model, PROMPT, ANSWER, cfg_scale)
    values = estimates(model, PROMPT, ANSWER, range(48), mc_num=64, batch_size=4, cfg_scale=cfg_scale)
    standard_error = values.std().item() / math.sqrt(len(values))
    assert standard_error > 0
    assert abs(values.mean().item() - exact) < 3 * standard_error, (values.mean().item(), exact, standard_error)


def test_mini_batch_of_one_row_per_ratio_is_exact_for_one_token():
    """With L = 1 every row masks the one answer token with ratio 1: the estimate is its exact log-probability."""
    model = tiny_backbone(seed=4)
    answer = ANSWER[:1]
    expected = exact_elbo(model, PROMPT, answer)
    assert get_log_likelihood(model, PROMPT, answer, mc_num=1, batch_size=1, mask_id=MASK_ID) == pytest.approx(
        expected, abs=1e-5)


def confidence_falls_with_masks(x):
    """Stand-in logits: at answer position i the true token ANSWER[i] gets a logit that falls by 2 with every
    [MASK] in the row, so a row's cross-entropy depends on its mask count k, as a trained model's does."""
    logits = torch.zeros(*x.shape, 40)
    masked = (x == MASK_ID).sum(dim=1).float()  # (B,)
    for i, token in enumerate(ANSWER.tolist()):
        logits[:, PROMPT.numel() + i, token] = 6.0 - 2.0 * masked
    return logits


def mini_batch_values(model, counts_fn, n_batches, batch_size, generator):
    """One value per mini-batch (the estimator's unit), with mask counts from `counts_fn`; one forward pass."""
    length = ANSWER.numel()
    counts = [counts_fn(generator) for _ in range(n_batches)]
    masks = [random_answer_masks(c, length, generator) for c in counts]
    noisy = torch.cat([PROMPT.expand(n_batches * batch_size, -1), ANSWER.masked_fill(torch.cat(masks), MASK_ID)], 1)
    with torch.no_grad():
        logits = model(noisy).logits[:, PROMPT.numel():].split(batch_size)
    values = [-masked_token_loss(lg, ANSWER, m, c, length).item() for lg, m, c in zip(logits, masks, counts)]
    return torch.tensor(values)


def test_stratified_ratios_vary_less_than_independent_ones():
    """A random tiny model's cross-entropy hardly depends on how much is masked, so neither would the choice of k
    matter; the stand-in's does, as a trained model's, and stratifying k must then lower the variance."""
    model = ScriptedModel(confidence_falls_with_masks)
    length, batch_size = ANSWER.numel(), 4
    generator = torch.Generator().manual_seed(0)
    stratified = mini_batch_values(model, lambda g: stratified_mask_counts(length, batch_size, g), 300,
                                   batch_size, generator)
    independent = mini_batch_values(model, lambda g: torch.randint(1, length + 1, (batch_size,), generator=g), 300,
                                    batch_size, generator)
    assert float(stratified.mean()) == pytest.approx(float(independent.mean()), rel=0.05)  # same expectation
    assert stratified.var() < 0.5 * independent.var(), (stratified.var(), independent.var())


@pytest.mark.parametrize("length,batch_size", [(4, 4), (8, 4), (5, 5), (16, 8)])
def test_stratified_counts_are_evenly_spaced_and_wrap(length, batch_size):
    generator = torch.Generator().manual_seed(length)
    for _ in range(20):
        counts = stratified_mask_counts(length, batch_size, generator)
        assert counts.min() >= 1 and counts.max() <= length
        steps = (counts[1:] - counts[:-1]) % length
        assert (steps == length // batch_size).all()  # batch_size divides length: exact spacing
        if batch_size == length:
            assert sorted(counts.tolist()) == list(range(1, length + 1))


def test_masks_hold_their_counts():
    counts = torch.tensor([1, 3, 4, 2])
    masks = random_answer_masks(counts, 4, torch.Generator().manual_seed(0))
    assert masks.sum(dim=1).tolist() == counts.tolist()


def test_block_causal_estimate_is_the_sum_of_block_elbos(one_thread):
    """Whole-answer masks scored in the two-copy layout: the expectation is sum_j ELBO_j, each block's bound given
    the clean blocks before it, computed here with the model's inference layout (answer_start) block by block."""
    model = tiny_backbone(seed=5, attention_layout="block_causal", attention_block_length=2)
    layout = {"answer_start": PROMPT.numel()}
    first, second = ANSWER[:2], ANSWER[2:]
    block_sum = exact_elbo(model, PROMPT, first, **layout) + exact_elbo(model, PROMPT, second, context=first, **layout)
    # The estimator's own expectation, enumerated over whole-answer mask sets: each token sees only its block's masks.
    whole = 0.0
    length = ANSWER.numel()
    for k in range(1, length + 1):
        subsets = list(itertools.combinations(range(length), k))
        for subset in subsets:
            nll = 0.0
            for i in subset:
                block = range(2 * (i // 2), 2 * (i // 2) + 2)
                noisy = ANSWER.clone()
                noisy[[j for j in subset if j in block]] = MASK_ID
                ids = torch.cat([PROMPT, ANSWER[: block.start], noisy[block.start : block.stop]])
                nll += token_nll(model, ids, PROMPT.numel() + i, ANSWER[i], 0.0, PROMPT.numel(), **layout)
            whole += (length / k) * nll / len(subsets)
    assert -whole / length == pytest.approx(block_sum, abs=1e-4)
    values = estimates(model, PROMPT, ANSWER, range(48), mc_num=64, batch_size=4)
    standard_error = values.std().item() / math.sqrt(len(values))
    assert abs(values.mean().item() - block_sum) < 3 * standard_error, (values.mean().item(), block_sum)


PAIRS = [(PROMPT, ANSWER[:3]),
         (torch.tensor([11, 4, 25, 8, 19, 6, 30, 13, 9]), torch.tensor([16, 22, 10, 5, 27, 8, 14])),
         (torch.tensor([31, 17]), torch.tensor([12, 6, 20, 28, 33, 9, 15, 24, 11, 7, 18])), (PROMPT, ANSWER[:1])]


@pytest.mark.parametrize("layout", ["bidirectional", "block_causal"])
@pytest.mark.parametrize("cfg_scale", [0.0, 0.8])
def test_batched_equals_one_at_a_time_under_the_same_seed(layout, cfg_scale, one_thread):
    model = tiny_backbone(seed=1, attention_layout=layout, attention_block_length=4)
    single = []
    for prompt, answer in PAIRS:
        torch.manual_seed(9)
        single.append(get_log_likelihood(model, prompt, answer, 16, 4, cfg_scale, MASK_ID))
    for max_rows in (4, 12, 64):  # one mini-batch per pass (no padding), or several pairs left-padded together
        batched = log_likelihoods(model, PAIRS, 16, 4, cfg_scale, MASK_ID, seed=9, max_rows=max_rows)
        assert batched == pytest.approx(single, rel=1e-5, abs=1e-5)
    reordered = log_likelihoods(model, PAIRS[::-1], 16, 4, cfg_scale, MASK_ID, seed=9, max_rows=64)
    assert reordered[::-1] == pytest.approx(single, rel=1e-5, abs=1e-5)


def test_left_padding_is_hidden():
    """A pair scored beside a much longer one (so left-padded by 40 tokens) keeps its estimate."""
    model = tiny_backbone(seed=2)
    long_prompt = torch.arange(5, 45) % 30 + 5
    alone = log_likelihoods(model, PAIRS[:1], 8, 4, 0.0, MASK_ID, seed=0)
    padded = log_likelihoods(model, [PAIRS[0], (long_prompt, ANSWER)], 8, 4, 0.0, MASK_ID, seed=0, max_rows=8)
    assert padded[0] == pytest.approx(alone[0], rel=1e-5)


def test_sequence_longer_than_the_context_is_refused():
    model = tiny_backbone(max_sequence_length=16)
    with pytest.raises(ValueError, match="exceeds max_sequence_length"):
        get_log_likelihood(model, torch.full((14,), 5), ANSWER, mc_num=4, batch_size=4, mask_id=MASK_ID)


@pytest.mark.parametrize("mc_num,batch_size", [(10, 4), (2, 4), (4, 0)])
def test_mc_num_must_be_a_multiple_of_batch_size(mc_num, batch_size):
    with pytest.raises(ValueError, match="multiple of batch_size"):
        get_log_likelihood(tiny_backbone(), PROMPT, ANSWER, mc_num=mc_num, batch_size=batch_size, mask_id=MASK_ID)


def test_bad_pairs_are_refused():
    model = tiny_backbone()
    with pytest.raises(ValueError, match="empty"):
        get_log_likelihood(model, PROMPT, ANSWER[:0], mask_id=MASK_ID)
    with pytest.raises(ValueError, match="mask_id"):
        get_log_likelihood(model, PROMPT, torch.tensor([MASK_ID]), mask_id=MASK_ID)
    with pytest.raises(ValueError, match="negative"):
        get_log_likelihood(model, PROMPT, ANSWER, cfg_scale=-1.0, mask_id=MASK_ID)


def test_greedy_check_accepts_exactly_the_greedy_answer():
    """A stand-in whose argmax in the last four columns is TAIL, whatever is masked: greedy decoding ends every row
    in TAIL, so only answers that are its end pass; pairs with different prompt and answer lengths go together."""
    tail = [11, 23, 17, 30]

    def logits_fn(x):
        logits = torch.zeros(*x.shape, 40)
        for i, token in enumerate(tail):
            logits[:, x.shape[1] - len(tail) + i, token] = 5.0 - i
        return logits

    pairs = [(PROMPT, torch.tensor(tail)), (PROMPT[1:], torch.tensor(tail)), (PROMPT, torch.tensor([11, 23, 17, 31])),
             (PROMPT[:3], torch.tensor(tail[2:]))]
    assert greedy_matches(ScriptedModel(logits_fn), pairs, mask_id=MASK_ID, pad_id=0) == [True, True, False, True]


def test_an_mlp_head_is_not_run_and_a_stream_that_writes_into_the_tps_is():
    """Scoring needs the TPS only: a head on the last hidden state cannot change it, a dual stream does (its writes
    start at zero; nudged here so that they count)."""
    backbone = tiny_backbone(seed=6)
    pair = [(PROMPT, ANSWER)]
    alone = log_likelihoods(backbone, pair, 8, 4, 0.0, MASK_ID, seed=1)
    with_head = RemeDiModel(backbone, UPSHead(backbone.config.hidden_size, 8)).eval()
    assert log_likelihoods(with_head, pair, 8, 4, 0.0, MASK_ID, seed=1) == alone
    stream = UPSStream(backbone.config.hidden_size, read_layers=[0, 1], stream_dim=16, n_heads=2)
    with torch.no_grad():
        for write in stream.write:
            write.weight.normal_(std=0.5)
    assert log_likelihoods(RemeDiModel(backbone, stream).eval(), pair, 8, 4, 0.0, MASK_ID, seed=1) != alone
