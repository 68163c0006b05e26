"""Confidence scores that rank the positions of a block: which tokens to keep or fill first.

Each source's score is a strictly increasing function of the confidence it names, written so that float32
keeps the order where the confidence itself rounds to a tie (see `token_confidence`). Thresholds are compared
on the same scale (`score_threshold`), and `confidence_value` turns a score back into the probability a trace
or the app shows.
"""

import math

import torch
import torch.nn.functional as F

from remedi.sampler.config import CONFIDENCE_SOURCES

LOWEST_SCORE = torch.finfo(torch.float32).min  # a gated position: below every real score, above -inf


def token_confidence(source, logits, ups_logits, candidates, gate_ids=()):
    """Ranking score (B, L) of each position's `candidates` (B, L): higher = keep/fill first.

    Each score is a strictly increasing function of the confidence its source names, written so that
    float32 keeps the order where the confidence itself would round to a tie. sigmoid(h) is exactly 1.0
    in float32 for every UPS logit h above about 17, and softmax gives exactly 1.0 to every token whose
    rivals hold less than about 6e-8 of the mass; ranking such ties falls back on topk's index order,
    which has nothing to do with the model. So the scores are:
    - ups: the UPS logit h itself (the order Remask RL's Plackett-Luce policy samples from);
    - tps_prob: the candidate's log-odds log(p / (1 - p)) = l_c - logsumexp_{j != c} l_j;
    - tps_margin: -log(1 - margin), margin = p_c - max_{j != c} p_j, computed as
      log sum_j e^{l_j} - log(sum_{j != c} e^{l_j} + e^{l_o}) with o the best other token;
    - tps_entropy: sum_j p_j log p_j (the negative entropy; near-certain rows still differ in their small
      terms, which float32 keeps);
    - random: uniform draws.
    `confidence_value` maps a score back to the confidence (a probability for ups and tps_prob) and
    `score_threshold` maps a threshold on the confidence to one on the score.

    TPS-based scores are read after setting the logits of `gate_ids` (EOS/EoT when gating is on) to -inf:
    positions whose candidate is a gated token then score lowest and the other positions are scored
    without the gated tokens' mass, as LLaDA's Appendix B.4 gating does. Gated positions score the float32
    minimum, not -inf: the rule without remasking gives -inf to the positions it must never pick.
    """
    if source == "random":
        return torch.rand(candidates.shape, device=candidates.device)
    if source == "ups":
        if ups_logits is None:
            raise ValueError(
                "confidence_source='ups' needs a model with a UPS head (its output has no `ups_logits` or "
                "`confidences`); load UPS weights or use confidence_source='tps_prob'"
            )
        score = ups_logits.float()
        if gate_ids:
            gated = torch.isin(candidates, torch.tensor(gate_ids, device=candidates.device))
            score = score.masked_fill(gated, LOWEST_SCORE)
        return score
    logits = logits.float()
    if gate_ids:
        logits = logits.clone()
        logits[:, :, list(gate_ids)] = -torch.inf
    if source == "tps_entropy":
        probs = F.softmax(logits, dim=-1)
        return (probs * torch.log(probs.clamp_min(1e-30))).sum(dim=-1)
    if source not in ("tps_prob", "tps_margin"):
        raise ValueError(f"unknown confidence_source {source!r}; choose one of {CONFIDENCE_SOURCES}")
    index = candidates.unsqueeze(-1)
    chosen = torch.gather(logits, -1, index).squeeze(-1)  # l_c
    others = logits.scatter(-1, index, -torch.inf)
    others_mass = torch.logsumexp(others, dim=-1)  # log sum_{j != c} e^{l_j}
    if source == "tps_prob":
        return (chosen - others_mass).clamp_min(LOWEST_SCORE)  # a gated candidate has p = 0
    best_other = others.amax(dim=-1)  # l_o
    return torch.logaddexp(chosen, others_mass) - torch.logaddexp(others_mass, best_other)


def confidence_value(source, score):
    """The confidence a `token_confidence` score stands for, in float64 (what a trace or the app shows).

    -inf, the rule's mark for a position it does not rank, stays -inf.
    """
    score = score.double()
    if source in ("ups", "tps_prob"):
        value = torch.sigmoid(score)
    elif source == "tps_margin":
        value = -torch.expm1(-score)
    else:
        return score
    return torch.where(torch.isneginf(score), score, value)


def score_threshold(source, threshold):
    """The score at or above which a position's confidence is >= `threshold` (see `token_confidence`).

    For the probability sources this is logit(threshold), so thresholds near 0 and 1 keep their meaning
    where float32 probabilities would all read 1.0; a threshold above every possible confidence (above 1
    for probabilities and margins) becomes +inf, below every one -inf.
    """
    if threshold is None or source not in ("ups", "tps_prob", "tps_margin"):
        return threshold
    if source == "tps_margin":
        if threshold <= -1:
            return -math.inf
        return math.inf if threshold >= 1 else -math.log1p(-threshold)
    if threshold <= 0:
        return -math.inf
    return math.inf if threshold >= 1 else math.log(threshold) - math.log1p(-threshold)


def window_confidence(source, logits, ups_logits, candidates, gate_ids, lo, length):
    """`token_confidence` of a window starting at position `lo` of a `length`-token sequence.

    'random' draws one number per position of the whole sequence and keeps the window's, so that a step run
    on a cached window draws the same numbers as the same step run on the whole sequence.
    """
    if source == "random":
        draws = torch.rand(candidates.shape[0], length, device=candidates.device)
        return draws[:, lo : lo + candidates.shape[1]]
    return token_confidence(source, logits, ups_logits, candidates, gate_ids)
