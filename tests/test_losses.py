import math

import pytest
import torch

from remedi.train.losses import masked_diffusion_loss, remask_sft_loss, ups_bce_loss, ups_labels

LN2, LN3, E = math.log(2), math.log(3), math.e


def _tiny():
    """Two rows, three positions, vocabulary of three.

    row 0 (prompt length 0): position 0 masked, logits (0,0,0), target 0  -> CE = log 3
                             position 1 incorrect (not masked)
                             position 2 masked, logits (1,0,0), target 2  -> CE = log(e + 2) - 0
                             p_mask 0.5 on the row
    row 1 (prompt length 1): position 1 masked, logits (0, ln 2, 0), target 1 -> CE = log 4 - ln 2 = ln 2
                             p_mask 0.25 on the row; positions 0 and 2 clean
    """
    logits = torch.tensor(
        [[[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, LN2, 0.0], [0.0, 0.0, 0.0]]]
    )
    targets = torch.tensor([[0, 0, 2], [0, 1, 0]])
    masked = torch.tensor([[True, False, True], [False, True, False]])
    incorrect = torch.tensor([[False, True, False], [False, False, False]])
    p_mask = torch.tensor([[0.5] * 3, [0.25] * 3])
    prompt_lengths = torch.tensor([0, 1])
    return logits, targets, masked, incorrect, p_mask, prompt_lengths


def test_masked_diffusion_loss_by_hand():
    logits, targets, masked, _, p_mask, prompt_lengths = _tiny()
    # each masked CE divided by its p_mask
    row0 = LN3 / 0.5 + math.log(E + 2) / 0.5
    row1 = LN2 / 0.25
    pretrain = masked_diffusion_loss(logits, targets, masked, p_mask)
    assert pretrain.item() == pytest.approx((row0 + row1) / (2 * 3), rel=1e-6)  # sum / (B * L)
    sft = masked_diffusion_loss(logits, targets, masked, p_mask, answer_lengths=3 - prompt_lengths)
    assert sft.item() == pytest.approx((row0 / 3 + row1 / 2) / 2, rel=1e-6)  # per-row / answer length, mean


def test_masked_diffusion_loss_is_float32_for_bf16_logits():
    logits, targets, masked, _, p_mask, _ = _tiny()
    low = logits.bfloat16()
    loss = masked_diffusion_loss(low, targets, masked, p_mask)
    assert loss.dtype == torch.float32
    # equal to the float32 computation on the same (rounded) inputs; a bf16 CE would be off by ~1e-3
    assert loss.item() == pytest.approx(masked_diffusion_loss(low.float(), targets, masked, p_mask).item(), rel=1e-6)


def test_ups_labels_by_hand():
    logits, targets, masked, incorrect, _, _ = _tiny()
    # masked -> softmax probability of the true token; incorrect -> 0; clean -> 1
    expected = torch.tensor([[1 / 3, 0.0, 1 / (E + 2)], [1.0, 0.5, 1.0]])
    assert torch.allclose(ups_labels(logits, targets, masked, incorrect), expected, atol=1e-6)
    smoothed = ups_labels(logits, targets, masked, incorrect, label_smoothing=0.1)
    assert torch.allclose(smoothed, expected * 0.8 + 0.1, atol=1e-6)  # 1 -> 0.9, 0 -> 0.1


def test_ups_bce_by_hand():
    _, _, _, _, _, prompt_lengths = _tiny()
    labels = torch.tensor([[1 / 3, 0.0, 1 / (E + 2)], [1.0, 0.5, 1.0]])
    ups_logits = torch.tensor([[0.0, LN3, -LN3], [5.0, 0.0, LN3]])
    weight = torch.tensor([[True, True, True], [False, True, True]])
    # BCE(x, y) = -(y log s(x) + (1-y) log(1-s(x))), s(0) = 1/2, s(ln 3) = 3/4, s(-ln 3) = 1/4
    y = 1 / (E + 2)
    terms = [
        LN2,  # x = 0: both log terms are log 1/2
        -math.log(1 / 4),  # y = 0, 1 - s(ln 3) = 1/4
        -(y * math.log(1 / 4) + (1 - y) * math.log(3 / 4)),
        LN2,
        -math.log(3 / 4),  # y = 1, s(ln 3) = 3/4; row 1 position 0 (x = 5) is outside the weight mask
    ]
    assert ups_bce_loss(ups_logits, labels, weight).item() == pytest.approx(sum(terms) / 5, rel=1e-6)


def test_remask_sft_loss_combines_the_parts():
    logits, targets, masked, incorrect, p_mask, prompt_lengths = _tiny()
    ups_logits = torch.tensor([[0.0, LN3, -LN3], [5.0, 0.0, LN3]])
    out = remask_sft_loss(logits, ups_logits, targets, masked, incorrect, p_mask, prompt_lengths, lambda_ups=0.5)
    diffusion = masked_diffusion_loss(logits, targets, masked, p_mask, answer_lengths=3 - prompt_lengths)
    labels = ups_labels(logits, targets, masked, incorrect)
    answer_only = ups_bce_loss(ups_logits, labels, torch.tensor([[True] * 3, [False, True, True]]))
    assert out.diffusion.item() == pytest.approx(diffusion.item())
    assert out.ups.item() == pytest.approx(answer_only.item())
    assert out.total.item() == pytest.approx(diffusion.item() + 0.5 * answer_only.item())
    everywhere = remask_sft_loss(
        logits, ups_logits, targets, masked, incorrect, p_mask, prompt_lengths, ups_on_all_positions=True
    )
    all_positions = torch.ones(2, 3, dtype=torch.bool)
    assert everywhere.ups.item() == pytest.approx(ups_bce_loss(ups_logits, labels, all_positions).item())


def test_ups_labels_carry_no_gradient():
    logits, targets, masked, incorrect, p_mask, prompt_lengths = _tiny()
    logits.requires_grad_(True)
    ups_logits = torch.zeros(2, 3, requires_grad=True)
    labels = ups_labels(logits, targets, masked, incorrect)
    assert not labels.requires_grad
    bce = ups_bce_loss(ups_logits, labels, torch.ones(2, 3, dtype=torch.bool))
    (grad,) = torch.autograd.grad(bce, logits, allow_unused=True)
    assert grad is None
    out = remask_sft_loss(logits, ups_logits, targets, masked, incorrect, p_mask, prompt_lengths)
    (grad,) = torch.autograd.grad(out.ups, logits, allow_unused=True, retain_graph=True)
    assert grad is None  # the BCE reaches the TPS logits through no path
    g_total, g_ups = torch.autograd.grad(out.total, (logits, ups_logits), retain_graph=True)
    (g_diff,) = torch.autograd.grad(out.diffusion, logits)
    assert torch.allclose(g_total, g_diff) and g_ups.abs().sum() > 0


def test_shape_and_dtype_errors():
    logits, targets, masked, incorrect, p_mask, _ = _tiny()
    with pytest.raises(ValueError):
        masked_diffusion_loss(logits[0], targets, masked, p_mask)  # 2-D logits
    with pytest.raises(ValueError):
        masked_diffusion_loss(logits, targets.float(), masked, p_mask)
    with pytest.raises(ValueError):
        masked_diffusion_loss(logits, targets, masked.long(), p_mask)
    with pytest.raises(ValueError):
        masked_diffusion_loss(logits, targets, masked, p_mask[:, :2])
    with pytest.raises(ValueError):
        masked_diffusion_loss(logits, targets, masked, p_mask, answer_lengths=torch.tensor([3]))
    with pytest.raises(ValueError):
        ups_labels(logits, targets, masked, masked)  # a position both masked and incorrect
    with pytest.raises(ValueError):
        ups_labels(logits, targets, masked, incorrect, label_smoothing=0.5)
    with pytest.raises(ValueError):
        ups_bce_loss(torch.zeros(2, 3, 1), torch.zeros(2, 3), masked)
    with pytest.raises(ValueError):
        ups_bce_loss(torch.zeros(2, 3), torch.zeros(2, 3), masked.float())
