import math

import pytest
import torch

from remedi.train.noise import answer_mask, mdm_forward_process, remask_forward_process

MASK = 99
SPECIAL = [0, 1, 2]  # stand-ins for bos / eos / eot


def _batch(B, L, vocab=50, max_prompt=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(len(SPECIAL), vocab, (B, L), generator=g)
    prompt_lengths = torch.randint(0, max_prompt + 1, (B,), generator=g)
    return input_ids, prompt_lengths


def _within(observed, expected, n, sigmas=5.0):
    """Binomial tolerance: |observed rate - p| < sigmas * sqrt(p (1 - p) / n)."""
    return abs(observed - expected) < sigmas * math.sqrt(expected * (1 - expected) / n)


def test_answer_mask():
    m = answer_mask(torch.tensor([0, 2, 4]), 4)
    assert m.tolist() == [[True] * 4, [False, False, True, True], [False] * 4]


def test_mdm_mask_rate_matches_p_mask():
    input_ids, _ = _batch(2000, 64)
    t = torch.full((2000,), 0.3)
    nb = mdm_forward_process(input_ids, mask_id=MASK, t=t, generator=torch.Generator().manual_seed(1))
    p = 0.3 * (1 - 1e-3) + 1e-3
    assert torch.allclose(nb.p_mask, torch.full_like(nb.p_mask, p))
    assert _within(nb.masked.float().mean().item(), p, nb.masked.numel())
    assert (nb.noisy_ids[nb.masked] == MASK).all()
    assert torch.equal(nb.noisy_ids[~nb.masked], input_ids[~nb.masked])
    assert not nb.incorrect.any()


def test_mdm_sft_mode_never_masks_prompt():
    input_ids, prompt_lengths = _batch(256, 32)
    nb = mdm_forward_process(input_ids, mask_id=MASK, prompt_lengths=prompt_lengths, t=torch.ones(256))
    prompt = ~answer_mask(prompt_lengths, 32)
    assert torch.equal(nb.noisy_ids[prompt], input_ids[prompt])
    assert nb.masked[~prompt].all()  # t = 1 masks every answer token


def test_p_mask_is_clamped_away_from_zero():
    input_ids, prompt_lengths = _batch(4, 8)
    nb = remask_forward_process(
        input_ids, prompt_lengths, mask_id=MASK, vocab_size=50, special_ids=SPECIAL, t=torch.zeros(4), eps=1e-3
    )
    assert torch.allclose(nb.p_mask, torch.full_like(nb.p_mask, 1e-3))


@pytest.mark.parametrize("t_value", [0.2, 0.5, 0.9])
def test_remask_rates(t_value):
    """rho_mask = (1-eps) t + eps over answer tokens; rho_incorrect = 4 r t (1-t) among *unmasked* answer tokens."""
    B, L, r = 3000, 64, 0.2
    input_ids, prompt_lengths = _batch(B, L)
    nb = remask_forward_process(
        input_ids, prompt_lengths, mask_id=MASK, vocab_size=50, special_ids=SPECIAL, r_incorrect=r,
        t=torch.full((B,), t_value), generator=torch.Generator().manual_seed(2),
    )
    answer = answer_mask(prompt_lengths, L)
    n_answer = answer.sum().item()
    rho_mask = (1 - 1e-3) * t_value + 1e-3
    assert _within(nb.masked[answer].float().mean().item(), rho_mask, n_answer)
    unmasked = answer & ~nb.masked
    rho_incorrect = 4 * r * t_value * (1 - t_value)
    assert _within(nb.incorrect[unmasked].float().mean().item(), rho_incorrect, unmasked.sum().item())


def test_remask_prompt_untouched_and_fields_consistent():
    input_ids, prompt_lengths = _batch(512, 48)
    nb = remask_forward_process(
        input_ids, prompt_lengths, mask_id=MASK, vocab_size=50, special_ids=SPECIAL, r_incorrect=1.0,
        t=torch.full((512,), 0.5),
    )
    prompt = ~answer_mask(prompt_lengths, 48)
    assert torch.equal(nb.noisy_ids[prompt], input_ids[prompt])
    assert not (nb.masked | nb.incorrect)[prompt].any()
    assert not (nb.masked & nb.incorrect).any()
    assert (nb.noisy_ids[nb.masked] == MASK).all()
    clean = ~nb.masked & ~nb.incorrect
    assert torch.equal(nb.noisy_ids[clean], input_ids[clean])
    assert nb.incorrect.sum() > 1000


def test_uniform_replacement_differs_is_not_special_and_is_uniform():
    B, L, vocab = 4000, 16, 10
    input_ids = torch.full((B, L), 5)
    input_ids[:, -2:] = 1  # EOS padding in the answer may be corrupted too, never into a special id
    nb = remask_forward_process(
        input_ids, torch.zeros(B, dtype=torch.long), mask_id=MASK, vocab_size=vocab, special_ids=SPECIAL,
        r_incorrect=1.0, t=torch.full((B,), 0.5), generator=torch.Generator().manual_seed(3),
    )
    new = nb.noisy_ids[nb.incorrect]
    assert (new != input_ids[nb.incorrect]).all()
    assert not torch.isin(new, torch.tensor(SPECIAL + [MASK])).any()
    # originals equal to 5: the 6 allowed others {3, 4, 6, 7, 8, 9} are equally likely
    from_five = nb.noisy_ids[nb.incorrect & (input_ids == 5)]
    counts = torch.bincount(from_five, minlength=vocab).float()
    assert counts[[0, 1, 2, 5]].sum() == 0
    n = from_five.numel()
    for c in counts[[3, 4, 6, 7, 8, 9]].tolist():
        assert _within(c / n, 1 / 6, n)


def test_batch_replacement_draws_only_answer_tokens_of_the_batch():
    B, L = 512, 24
    g = torch.Generator().manual_seed(4)
    input_ids = torch.randint(10, 13, (B, L), generator=g)  # answers use ids 10..12 only
    input_ids[:, :4] = 20  # prompt token: not a candidate
    input_ids[:, -3:] = 1  # EOS padding: special, not a candidate
    nb = remask_forward_process(
        input_ids, torch.full((B,), 4), mask_id=MASK, vocab_size=50, special_ids=SPECIAL,
        r_incorrect=1.0, replacement="batch", t=torch.full((B,), 0.5), generator=g,
    )
    new = nb.noisy_ids[nb.incorrect]
    assert new.numel() > 500
    assert torch.isin(new, torch.tensor([10, 11, 12])).all()
    assert (new != input_ids[nb.incorrect]).all()


def test_batch_replacement_without_alternatives_stays_clean():
    input_ids = torch.full((64, 8), 7)
    nb = remask_forward_process(
        input_ids, torch.zeros(64, dtype=torch.long), mask_id=MASK, vocab_size=50, special_ids=SPECIAL,
        r_incorrect=1.0, replacement="batch", t=torch.full((64,), 0.5),
    )
    assert not nb.incorrect.any()
    assert torch.equal(nb.noisy_ids[~nb.masked], input_ids[~nb.masked])


def test_generator_makes_it_reproducible():
    input_ids, prompt_lengths = _batch(32, 16)
    kw = dict(mask_id=MASK, vocab_size=50, special_ids=SPECIAL, r_incorrect=0.5)
    a = remask_forward_process(input_ids, prompt_lengths, generator=torch.Generator().manual_seed(7), **kw)
    b = remask_forward_process(input_ids, prompt_lengths, generator=torch.Generator().manual_seed(7), **kw)
    assert torch.equal(a.noisy_ids, b.noisy_ids) and torch.equal(a.t, b.t)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_ids=torch.zeros(4, 8)),  # float ids
        dict(input_ids=torch.zeros(8, dtype=torch.long)),  # 1-D
        dict(prompt_lengths=torch.zeros(3, dtype=torch.long)),  # wrong batch size
        dict(prompt_lengths=torch.zeros(4)),  # float lengths
        dict(t=torch.full((4,), 1.5)),  # t out of range
        dict(t=torch.zeros(4, 1)),  # wrong shape
        dict(replacement="random"),
        dict(r_incorrect=1.5),
    ],
)
def test_remask_rejects_bad_inputs(kwargs):
    args = dict(
        input_ids=torch.zeros(4, 8, dtype=torch.long), prompt_lengths=torch.zeros(4, dtype=torch.long),
        mask_id=MASK, vocab_size=50, special_ids=SPECIAL,
    )
    args.update(kwargs)
    with pytest.raises(ValueError):
        remask_forward_process(**args)
