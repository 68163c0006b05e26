"""The UPS as a stochastic policy over which positions to keep, and the TPS as one over tokens.

At inference the remasking rule keeps the K_n most confident positions of the block (a top-k of the UPS
scores). Remask RL needs the same rule as a distribution it can sample from and differentiate. The
natural one is Plackett–Luce on the scores h / tau: draw the first kept position from softmax(h / tau),
the second from the softmax over the rest, and so on, K_n times. Adding Gumbel noise to h / tau and
taking the top K_n draws exactly that ordered sample in one vectorised step, and as tau -> 0 it turns
back into the deterministic top-k of inference.

    log P(o_1, ..., o_K) = sum_j [ s_{o_j} - logsumexp_{i not in o_1..o_{j-1}} s_i ],   s = h / tau

We score the sampled *order*; the probability of the unordered set would sum over K! orders. The order
is what the sampler draws, so its log-probability is a valid score function for the set it decides.

Token candidates are sampled from softmax(logits / T) at masked positions; `token_log_prob` gives the
log-probability of the token each position took.
"""

from dataclasses import dataclass, field
from typing import List, Optional

import torch
import torch.nn.functional as F


def sample_order(scores):
    """(B, N) long: every row's positions in a Plackett–Luce order of `scores` (B, N) (Gumbel top-k)."""
    uniform = torch.rand_like(scores, dtype=torch.float32).clamp_(min=1e-20)
    gumbel = -torch.log(-torch.log(uniform))
    return torch.argsort(scores.float() + gumbel, dim=-1, descending=True, stable=True)


def plackett_luce_log_prob(scores, order, k):
    """(B,) log-probability that Plackett–Luce on `scores` (B, N) picks `order[:, :k]` first, in that order.

    The denominator of pick j is the logsumexp of the scores not yet picked, i.e. of order[:, j:]: a
    reversed cumulative logsumexp along the full order computes all of them at once and stays stable.
    """
    ordered = torch.gather(scores.float(), -1, order)  # (B, N)
    remaining = torch.logcumsumexp(ordered.flip(-1), dim=-1).flip(-1)  # (B, N): logsumexp of ordered[:, j:]
    return (ordered[:, :k] - remaining[:, :k]).sum(dim=-1)


def position_entropy(scores):
    """(B,) entropy of the first pick, softmax(scores): how spread the policy still is over the block."""
    log_p = F.log_softmax(scores.float(), dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def token_log_prob(logits, tokens, temperature):
    """(B, N) log softmax(logits / temperature) of `tokens` (B, N): what sampling them had as probability."""
    log_p = F.log_softmax(logits.float() / temperature, dim=-1)
    return torch.gather(log_p, -1, tokens.unsqueeze(-1)).squeeze(-1)


@dataclass
class RolloutStep:
    """What one denoising step of a stochastic generation decided, enough to score it again later.

    Positions are relative to the block [start, end). `order` is the full sampled order of the block's
    positions; the first `keep` were kept (or filled). `new_tokens` marks the kept positions that were
    masked before the step: they took `tokens`, sampled with log-probability `token_log_prob`.
    """

    x: torch.Tensor  # (B, T) ids the model saw at this step
    start: int
    end: int
    keep: int
    order: torch.Tensor  # (B, block) long
    tokens: torch.Tensor  # (B, block) long: the block after the step (mask_id where remasked)
    new_tokens: torch.Tensor  # (B, block) bool
    position_log_prob: torch.Tensor  # (B,) log P(order[:, :keep]) under the UPS policy
    token_log_prob: torch.Tensor  # (B, block), 0 where no token was newly placed
    position_entropy: torch.Tensor  # (B,)

    @property
    def decides_positions(self):
        """False on a step that keeps the whole block: every order gives the same set, so nothing is chosen."""
        return self.keep < self.end - self.start


@dataclass
class Rollout:
    """The steps of one batched stochastic generation, in order, and the settings that shaped them."""

    attention_mask: Optional[torch.Tensor]  # (B, T) or None
    prompt_length: int
    temperature: float
    position_temperature: float
    cfg_scale: float
    logits_eos_inf: bool
    eos_id: int
    mask_id: int
    steps: List[RolloutStep] = field(default_factory=list)

    def remasks_per_row(self):
        """(B,) tokens sent back to [MASK] over the whole generation, per row."""
        total = torch.zeros(self.steps[0].x.shape[0], device=self.steps[0].x.device)
        for step in self.steps:
            before = step.x[:, step.start : step.end]
            total += ((before != self.mask_id) & (step.tokens == self.mask_id)).sum(dim=-1)
        return total
