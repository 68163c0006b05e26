"""Validation metrics for the UPS: how well it ranks clean above incorrect tokens, and how calibrated it is.

Both take flat tensors gathered over a whole validation pass, so they need no state between batches.
"""

import torch

from remedi.train.noise import answer_mask


def ups_scored_positions(input_ids, prompt_lengths, masked, eos_id):
    """(B, L) bool: the tokens the UPS is judged on, in the trainer's validation and the eval's detection alike.

    The answer's written tokens (clean or replaced by the noise): response and end of turn. Not the prompt
    (never noised), not the masked positions (nothing written to judge), and not the EOS padding after the
    answer, a run of one token that is easy to call clean and would lift an AUC that included it.
    """
    return answer_mask(prompt_lengths, input_ids.shape[1]) & (input_ids != eos_id) & ~masked


def roc_auc(scores, labels):
    """ROC-AUC of `scores` separating labels 1 from labels 0: P(score_pos > score_neg), ties counting 1/2.

    Computed from ranks (the Mann-Whitney U statistic divided by n_pos * n_neg), with tied scores
    sharing their average rank, so it is exact for any number of ties and costs one sort. Returns nan
    when one of the two classes is absent, since the AUC is then undefined.
    """
    scores = scores.detach().flatten().double()
    labels = labels.detach().flatten().bool()
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels differ in size: {scores.numel()} vs {labels.numel()}")
    n_pos = int(labels.sum())
    n_neg = labels.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    sorted_scores, order = scores.sort()
    _, group, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()  # 1-based rank of the last member of each tie group
    average_rank = last - (counts.double() - 1) / 2  # (groups,)
    ranks = torch.empty_like(scores)
    ranks[order] = average_rank[group]
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def expected_calibration_error(probs, targets, n_bins=10):
    """Binned ECE: sum over equal-width probability bins of (bin share) * |mean prob - mean target|.

    `targets` may be soft (the UPS label of a masked position is p_theta(true token | x_t)), so a bin
    compares the average predicted confidence with the average probability of being right.
    Returns nan for empty input.
    """
    probs = probs.detach().flatten().double()
    targets = targets.detach().flatten().double()
    if probs.shape != targets.shape:
        raise ValueError(f"probs and targets differ in size: {probs.numel()} vs {targets.numel()}")
    if probs.numel() == 0:
        return float("nan")
    bins = (probs * n_bins).long().clamp(0, n_bins - 1)  # (N,), prob 1.0 falls in the last bin
    gap = torch.bincount(bins, weights=probs - targets, minlength=n_bins)  # (n_bins,) sum of (p - y) per bin
    return float(gap.abs().sum() / probs.numel())  # sum_b (n_b / N) * |sum_b(p - y) / n_b|
