"""Remask RL: a clipped policy-gradient step on rollouts of the stochastic remask sampler.

A rollout (`generate(..., position_temperature > 0, return_rollout=True)`) records, for every denoising
step, the input the model saw, the sampled order of kept positions (Plackett–Luce on the UPS logits)
and the tokens newly placed (sampled from the TPS). Each completion gets a verifiable reward r; within
the group of G completions of one prompt the advantage is A = (r - mean_G) / (std_G + eps).

The objective, to maximise, for completion i with advantage A_i (PPO's clipped ratio, eps = clip_eps):

    J_i = 1/S_i * sum_{steps s that choose positions} min(rho_is A_i, clip(rho_is, 1 - eps, 1 + eps) A_i)
        + 1/gen_length * sum_{tokens j newly placed at step s} min(rho_ijs A_i, clip(rho_ijs) A_i)

with rho_is = P_new(order_s) / P_old(order_s) for the position policy, rho_ijs the same ratio for token j,
S_i the number of steps that choose positions (a step that keeps the whole block chooses nothing). The
loss is -mean_i J_i over the completions of the batch, plus, optionally, kl_coef times the k3 estimate
of KL(new || reference) on the same decisions. Both normalisers are constants of the rollout, not counts
that depend on the completion, so a long or short answer is not weighted up or down. The token term is
used only when tokens were sampled (temperature > 0) and the TPS trains (`--train lora|full`).
"""

import math
from dataclasses import dataclass

import torch

from remedi.sampler.policy import plackett_luce_log_prob, token_log_prob
from remedi.sampler.step_runner import layout_kwargs, step_outputs
from remedi.train.training import NonFiniteLossError


@dataclass
class PolicyLossConfig:
    clip_eps: float = 0.2
    kl_coef: float = 0.0
    token_term: bool = True  # train the TPS on the tokens it placed (needs sampled tokens)


def group_advantages(rewards, group_size, eps=1e-6):
    """(N,) (r - group mean) / (group std + eps); the G rows of a group are consecutive in `rewards` (N,).

    The population std is used, so a group of two with rewards (1, 0) gets advantages close to (+1, -1),
    and a group whose rewards are all equal gets 0: it carries no signal about which choices were better.
    """
    grouped = rewards.float().view(-1, group_size)
    mean = grouped.mean(dim=1, keepdim=True)
    std = grouped.std(dim=1, unbiased=False, keepdim=True)
    return ((grouped - mean) / (std + eps)).flatten()


def rescore_step(model, rollout, step, rows=slice(None), hidden_cache=None):
    """(position log-prob (b,), token log-probs (b, block)) of a recorded step under the current weights.

    Runs the same `step_outputs` as the sampler on the same input, so with unchanged weights and the same
    batch the values equal the ones recorded during the rollout.

    `hidden_cache` (a dict, one per rollout) is for a frozen backbone under a UPS head that reads its last
    hidden state, with no token term and no CFG: the backbone then gives the same hidden states in every
    PPO epoch, so it runs once per step and rows, and later epochs run the head alone. The head sees the
    whole row, as in the sampler, so a head that reads positions (UPSPosition) scores the same positions;
    the values agree with the uncached ones up to float rounding.
    """
    x = step.x[rows]
    mask = None if rollout.attention_mask is None else rollout.attention_mask[rows]
    if hidden_cache is not None:
        key = (id(step), rows.start, rows.stop)
        if key not in hidden_cache:
            with torch.no_grad():
                kwargs = layout_kwargs(model, rollout.prompt_length)
                out = model(x, **kwargs) if mask is None else model(x, attention_mask=mask, **kwargs)
            hidden_cache[key] = (out.last_hidden_state, out.ups_tps_features)
        hidden, tps_features = hidden_cache[key]
        ups_logits = model(None, ups_hidden=hidden, ups_tps_features=tps_features).ups_logits
        scores = ups_logits[:, step.start : step.end].float() / rollout.position_temperature
        position_lp = plackett_luce_log_prob(scores, step.order[rows], step.keep)
        return position_lp, torch.zeros_like(step.token_log_prob[rows])
    prompt_index = (torch.arange(x.shape[1], device=x.device) < rollout.prompt_length).expand_as(x)
    logits, ups_logits = step_outputs(model, x, mask, prompt_index, rollout.mask_id, rollout.cfg_scale,
                                      rollout.logits_eos_inf, rollout.eos_id, layout_kwargs(model, rollout.prompt_length))
    scores = ups_logits[:, step.start : step.end].float() / rollout.position_temperature
    position_lp = plackett_luce_log_prob(scores, step.order[rows], step.keep)
    if rollout.temperature > 0:
        token_lp = token_log_prob(logits[:, step.start : step.end], step.tokens[rows], rollout.temperature)
        token_lp = torch.where(step.new_tokens[rows], token_lp, 0.0)
    else:
        token_lp = torch.zeros_like(step.token_log_prob[rows])
    return position_lp, token_lp


def _clipped(ratio, advantage, clip_eps):
    return torch.minimum(ratio * advantage, ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantage)


def _k3(log_ratio_ref):
    """k3 estimate of KL(new || ref) per sample, from log(p_ref / p_new): always >= 0, unbiased."""
    return log_ratio_ref.exp() - log_ratio_ref - 1


def step_objective(position_lp, token_lp, step, rows, advantages, cfg, n_position_steps, gen_length,
                   reference=None):
    """(loss contribution summed over rows, statistics) of one step for the rows `rows`.

    `reference` holds the reference policy's (position, token) log-probs for this step and rows when
    cfg.kl_coef > 0. The caller divides by the number of completions.
    """
    advantage = advantages[rows]
    decides = float(step.decides_positions)
    old_position, old_token = step.position_log_prob[rows], step.token_log_prob[rows]
    new_tokens = step.new_tokens[rows]

    position_ratio = torch.exp(position_lp - old_position)
    objective = decides * _clipped(position_ratio, advantage, cfg.clip_eps) / n_position_steps  # (b,)
    stats = {"position_clipped": decides * float(((position_ratio - 1).abs() > cfg.clip_eps).sum()),
             "position_decisions": decides * len(advantage)}
    if cfg.token_term:
        token_ratio = torch.exp(token_lp - old_token)  # 1 where no token was placed
        per_token = _clipped(token_ratio, advantage[:, None], cfg.clip_eps)
        objective = objective + torch.where(new_tokens, per_token, 0.0).sum(dim=-1) / gen_length
        stats["token_clipped"] = float((((token_ratio - 1).abs() > cfg.clip_eps) & new_tokens).sum())
        stats["token_decisions"] = float(new_tokens.sum())
    loss = -objective.sum()
    if cfg.kl_coef > 0:
        ref_position, ref_token = reference
        kl = decides * _k3(ref_position - position_lp) / n_position_steps
        if cfg.token_term:
            kl = kl + torch.where(new_tokens, _k3(ref_token - token_lp), 0.0).sum(dim=-1) / gen_length
        loss = loss + cfg.kl_coef * kl.sum()
        stats["kl"] = float(kl.detach().sum())
    return loss, stats


def steps_to_score(rollout, cfg):
    """Indices of the steps that carry a gradient: those choosing positions, and with the token term every step."""
    return [i for i, step in enumerate(rollout.steps) if step.decides_positions or cfg.token_term]


@torch.no_grad()
def reference_log_probs(reference_model, rollout, cfg, micro_batch_size):
    """{step index: (position log-probs (B,), token log-probs (B, block))} under the reference policy."""
    rows = row_chunks(rollout.steps[0].x.shape[0], micro_batch_size)
    values = {}
    for i in steps_to_score(rollout, cfg):
        parts = [rescore_step(reference_model, rollout, rollout.steps[i], r) for r in rows]
        values[i] = (torch.cat([p for p, _ in parts]), torch.cat([t for _, t in parts]))
    return values


def can_cache_hidden(model, cfg, rollout):
    """Whether `rescore_step` may reuse hidden states across PPO epochs: nothing but a head on the last hidden
    state trains, the token term is off, and the rollout used no CFG (whose UPS comes from a joint batch)."""
    ups_head = getattr(model, "ups_head", None)
    backbone = getattr(model, "backbone", None)
    if ups_head is None or backbone is None or getattr(model, "hidden_source", None) == "stream":
        return False
    frozen = not any(p.requires_grad for p in backbone.parameters())
    return frozen and not cfg.token_term and rollout.cfg_scale == 0


def row_chunks(n_rows, micro_batch_size):
    size = n_rows if not micro_batch_size else micro_batch_size
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def policy_update(fabric, model, optimizer, rollout, advantages, cfg, gen_length, grad_clip=1.0,
                  micro_batch_size=None, reference=None, hidden_cache=None):
    """One optimizer step of the clipped objective on this rank's rollout; returns the step's statistics.

    Gradients are accumulated over steps and row chunks (each scored and back-propagated on its own, so
    memory holds one step's graph at a time), synchronised across ranks only on the last backward.
    Every rank must call this the same number of times with the same number of steps and chunks.
    Pass the same `hidden_cache` dict to every PPO epoch of one rollout (see `rescore_step`).
    """
    indices = steps_to_score(rollout, cfg)
    n_position_steps = max(1, sum(rollout.steps[i].decides_positions for i in indices))
    chunks = row_chunks(len(advantages), micro_batch_size)
    n_rows = len(advantages)
    totals = {"loss": 0.0}
    n_backward, done = len(indices) * len(chunks), 0
    for i in indices:
        step = rollout.steps[i]
        for rows in chunks:
            done += 1
            with fabric.no_backward_sync(model, enabled=done < n_backward):
                position_lp, token_lp = rescore_step(model, rollout, step, rows, hidden_cache)
                ref = None if reference is None else (reference[i][0][rows], reference[i][1][rows])
                loss, stats = step_objective(position_lp, token_lp, step, rows, advantages, cfg, n_position_steps,
                                             gen_length, ref)
                fabric.backward(loss / n_rows)
            totals["loss"] += float(loss.detach()) / n_rows
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value
    summed = fabric.all_reduce(torch.tensor(list(totals.values()), dtype=torch.float64, device=fabric.device),
                               reduce_op="sum")
    totals = dict(zip(totals, summed.tolist()))
    loss = totals["loss"] / fabric.world_size
    grad_norm = None
    if math.isfinite(loss) and grad_clip > 0:
        grad_norm = float(fabric.clip_gradients(model, optimizer, max_norm=grad_clip, error_if_nonfinite=False))
    if not math.isfinite(loss) or (grad_norm is not None and not math.isfinite(grad_norm)):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteLossError(f"non-finite RL loss {loss} (gradient norm {grad_norm}); the update was not applied")
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    result = {"loss": loss, "grad_norm": grad_norm,
              "clip_frac_position": totals["position_clipped"] / max(totals["position_decisions"], 1.0)}
    if cfg.token_term:
        result["clip_frac_token"] = totals["token_clipped"] / max(totals["token_decisions"], 1.0)
    if cfg.kl_coef > 0:
        result["kl"] = totals["kl"] / (n_rows * fabric.world_size)
    return result
