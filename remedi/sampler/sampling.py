"""The masked-diffusion sampler, with RemeDi's remasking rule.

A generation starts from `gen_length` [MASK] tokens after the prompt and, block by block (semi-
autoregressive when block_length < gen_length), runs `steps / num_blocks` denoising steps per block.
`get_num_transfer_tokens` splits each block's masks evenly over its steps (LLaDA's linear schedule).

Two update rules share that schedule:
- no remask (LLaDA): at step n, the k_n most confident *masked* positions are filled from the
  Token Prediction Stream (TPS); a filled token is never revisited.
- remask (RemeDi): at step n, the K_n = k_1 + ... + k_n most confident positions of the current block,
  masked or not, are kept (or filled from TPS if masked); every other position of the block goes back
  to [MASK]. A wrong early token is thereby revisited as soon as something else is more confident, while
  the masked count after step n is exactly block_length - K_n, as in LLaDA.

With `position_temperature` > 0 the remask rule becomes stochastic for Remask RL: the K_n kept positions
are drawn from the Plackett–Luce distribution of the UPS logits (remedi/sampler/policy.py) instead of taken as the
top K_n, and `return_rollout=True` records each step's decisions and their log-probabilities.
"""

import math
from typing import Optional

import torch
import torch.nn.functional as F

from remedi.model.config import LLADA_EOS_ID, LLADA_EOT_ID, LLADA_MASK_ID
from remedi.sampler.parallel_decoding import block_done, ends_in_eos, filled_counts, kept_counts, validate_threshold
from remedi.sampler.policy import Rollout, RolloutStep, plackett_luce_log_prob, position_entropy, sample_order, token_log_prob
from remedi.sampler.step_runner import KV_CACHE_MODES, make_step_runner, model_ups_logits  # noqa: F401 (re-exported)

CONFIDENCE_SOURCES = ("ups", "tps_prob", "tps_margin", "tps_entropy", "random")
UPSTREAM_REMASKING = {"low_confidence": "tps_prob", "random": "random"}
LOWEST_SCORE = torch.finfo(torch.float32).min  # a gated position: below every real score, above -inf


def add_gumbel_noise(logits, temperature):
    """Perturb logits so that argmax samples from softmax(logits / temperature).

    exp(logits) / (-log u)^T has the same argmax as logits/T + Gumbel noise. It is done in float64
    because low-precision Gumbel sampling is known to hurt masked-diffusion generation quality.
    """
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    uniform = torch.rand_like(logits, dtype=torch.float64)
    return logits.exp() / (-torch.log(uniform)) ** temperature


def get_num_transfer_tokens(mask_index, steps):
    """(B, steps) tokens to unmask at each step: an even split, the remainder going to the first steps."""
    mask_num = mask_index.sum(dim=1, keepdim=True)  # (B, 1)
    base, remainder = mask_num // steps, mask_num % steps
    step_ids = torch.arange(steps, device=mask_index.device).unsqueeze(0)  # (1, steps)
    return (base + (step_ids < remainder).long()).to(torch.int64)


def scheduled_mask_counts(gen_length, block_length, steps):
    """Masked answer tokens after each step of a whole generation under the linear schedule.

    Both update rules (with or without remasking) must produce exactly these counts; the evaluation
    checks traces against them and the app draws them as the reference curve.
    """
    num_blocks = gen_length // block_length
    per_block = get_num_transfer_tokens(torch.ones(1, block_length, dtype=torch.bool), steps // num_blocks)[0]
    counts = []
    for block in range(num_blocks):
        left = gen_length - block * block_length
        counts += [left - done for done in per_block.cumsum(0).tolist()]
    return counts


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


def _validate(model, prompt, attention_mask, steps, gen_length, block_length, mask_id, confidence_source,
              temperature, cfg_scale):
    if prompt.dim() != 2:
        raise ValueError(f"prompt must be a (batch, length) tensor of token ids, got shape {tuple(prompt.shape)}")
    if attention_mask is not None and attention_mask.shape != prompt.shape:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} must equal prompt shape {tuple(prompt.shape)}"
        )
    if gen_length <= 0 or block_length <= 0 or steps <= 0:
        raise ValueError(f"steps, gen_length and block_length must be positive, got steps={steps}, "
                         f"gen_length={gen_length}, block_length={block_length}")
    if temperature < 0:
        raise ValueError(f"temperature={temperature} is negative; use 0 for argmax or a positive value to sample")
    if cfg_scale < 0:
        raise ValueError(f"cfg_scale={cfg_scale} is negative; use 0 for no guidance or a positive weight")
    if gen_length % block_length != 0:
        raise ValueError(
            f"gen_length={gen_length} is not divisible by block_length={block_length}; "
            "choose a block_length that divides gen_length"
        )
    num_blocks = gen_length // block_length
    if steps % num_blocks != 0:
        raise ValueError(
            f"steps={steps} is not divisible by the number of blocks ({num_blocks} = gen_length / block_length); "
            f"use a multiple of {num_blocks}"
        )
    if confidence_source is not None and confidence_source not in CONFIDENCE_SOURCES:
        raise ValueError(f"unknown confidence_source {confidence_source!r}; choose one of {CONFIDENCE_SOURCES}")
    is_mask = prompt == mask_id
    if is_mask.any():
        if attention_mask is not None and not is_mask[attention_mask.bool()].any():
            raise ValueError(
                f"the padding token id equals mask_id={mask_id}: pad with another token (LLaDA pads with EOS)"
            )
        raise ValueError(f"the prompt contains mask_id={mask_id}; the prompt must be fully observed")
    max_len = getattr(getattr(model, "config", None), "max_sequence_length", None)
    if max_len is not None and prompt.shape[1] + gen_length > max_len:
        raise ValueError(
            f"prompt ({prompt.shape[1]} tokens) + gen_length ({gen_length}) exceeds the model's context "
            f"of {max_len} tokens; shorten the prompt or gen_length"
        )
    return num_blocks, steps // num_blocks


def _positions(mask_row):
    return mask_row.nonzero().flatten().tolist()


@torch.no_grad()
def generate(
    model,
    prompt,
    attention_mask=None,
    steps=128,
    gen_length=128,
    block_length=128,
    temperature=0.0,
    cfg_scale=0.0,
    remasking="low_confidence",
    mask_id=LLADA_MASK_ID,
    logits_eos_inf=False,
    confidence_eos_eot_inf=False,
    *,
    confidence_source: Optional[str] = None,
    remask: Optional[bool] = None,
    return_trace=False,
    eos_id=LLADA_EOS_ID,
    eot_id=LLADA_EOT_ID,
    trace_confidences=False,
    progress=False,
    step_callback=None,
    position_temperature=0.0,
    return_rollout=False,
    kv_cache="none",
    threshold=None,
    stop_at_eos=False,
):
    """Sample answers for a batch of prompts with a mask predictor.

    Args:
        model: mask predictor; `model(x, attention_mask=...)` returns `.logits` (B, L, V) and, if it has a
            UPS head, `.ups_logits` (or `.confidences`) of shape (B, L).
        prompt: (B, P) token ids, left-padded when prompts differ in length.
        attention_mask: (B, P) 1 for real tokens, 0 for padding; None means no padding.
        steps: total denoising steps, a multiple of the number of blocks.
        gen_length: answer length in tokens.
        block_length: tokens per semi-autoregressive block; gen_length must be a multiple of it.
        temperature: 0 for argmax, > 0 samples TPS tokens with Gumbel noise.
        cfg_scale: unsupervised classifier-free guidance weight (the prompt masked out for the
            unconditional pass); 0 disables it.
        remasking: LLaDA's name for the ordering when no confidence_source is given:
            'low_confidence' (= 'tps_prob') or 'random'.
        mask_id: id of [MASK].
        logits_eos_inf: never predict EOS (its logit is set to -inf before choosing tokens).
        confidence_eos_eot_inf: rank positions whose candidate is EOS or EoT last (LLaDA Appendix B.4).
        confidence_source: 'ups', 'tps_prob', 'tps_margin', 'tps_entropy' or 'random'. Default: 'ups'
            when the model's output carries UPS scores, else the one `remasking` names.
        remask: RemeDi's rule (see the module docstring). Default: True with 'ups', False otherwise.
        return_trace: also return a JSON-serialisable list with one record per step.
        eos_id, eot_id: token ids used by the two gating options.
        trace_confidences: store each step's block confidences in the trace.
        progress: show a tqdm bar over steps.
        step_callback: called as `step_callback(record, x)` after every step, with that step's trace record
            and the (B, P + gen_length) ids it produced, so a UI can stream the denoising. `x` is the
            sampler's own tensor: read it, do not modify it. An exception raised here stops sampling.
        position_temperature: 0 keeps the K_n most confident positions (inference). > 0 samples them
            without replacement from softmax(UPS logits / position_temperature) (Plackett–Luce), the
            policy Remask RL trains; needs the UPS with remasking.
        return_rollout: also return a `remedi.sampler.policy.Rollout` with every step's inputs, sampled order,
            new tokens and their log-probabilities (needs position_temperature > 0).
        kv_cache: 'none' runs the whole sequence every step. 'exact' (block-causal models) runs only the
            current block against cached keys/values and gives the same tokens as 'none' at temperature 0.
            'prefix' and 'dual' (bidirectional models) are Fast-dLLM's approximate caches, refreshed at
            each block start: faster, but their tokens may differ from 'none'. See remedi/sampler/step_runner.py.
        threshold: dynamic parallel decoding (remedi/sampler/parallel_decoding.py): a step also keeps (or fills)
            every position whose confidence >= threshold, never fewer than the schedule, and a block
            ends as soon as every row has no [MASK] left in it. None runs the schedule's fixed steps.
        stop_at_eos: once a finished block holds EOS/EoT followed only by EOS/EoT, fill the rest of that
            row's answer with EOS and run no more forward passes for it.

    Every trace record carries `forward_passes` (model evaluations per row in that step: 1, or 2 with
    CFG) and `active` (per row, whether its block still held a [MASK] before the step), so the passes an
    answer needed are the sum of `forward_passes` over the records where it was active.

    Returns:
        (B, P + gen_length) token ids; with return_trace and/or return_rollout, a tuple
        (ids, trace, rollout) of the ones asked for, in that order.
    """
    num_blocks, steps_per_block = _validate(
        model, prompt, attention_mask, steps, gen_length, block_length, mask_id, confidence_source,
        temperature, cfg_scale,
    )
    if remasking not in UPSTREAM_REMASKING:
        raise ValueError(f"unknown remasking {remasking!r}; choose one of {tuple(UPSTREAM_REMASKING)}")
    stochastic_positions = _validate_policy(position_temperature, return_rollout, confidence_source, remask,
                                            confidence_eos_eot_inf)
    validate_threshold(threshold)
    if stochastic_positions and (threshold is not None or stop_at_eos):
        raise ValueError("threshold and stop_at_eos change the number of steps, which Remask RL's sampled policy "
                         "assumes fixed: use them with position_temperature=0")
    device = getattr(model, "device", prompt.device)
    batch, prompt_len = prompt.shape
    x = torch.full((batch, prompt_len + gen_length), mask_id, dtype=torch.long, device=device)
    x[:, :prompt_len] = prompt.to(device)
    if attention_mask is not None:
        answer_ones = torch.ones(batch, gen_length, dtype=attention_mask.dtype, device=device)
        attention_mask = torch.cat([attention_mask.to(device), answer_ones], dim=-1)
    prompt_index = x != mask_id
    gate_ids = (eos_id, eot_id) if confidence_eos_eot_inf else ()
    source, use_remask = confidence_source, remask
    trace = []
    rollout = None
    if return_rollout:
        rollout = Rollout(attention_mask=attention_mask, prompt_length=prompt_len, temperature=temperature,
                          position_temperature=position_temperature, cfg_scale=cfg_scale,
                          logits_eos_inf=logits_eos_inf, eos_id=eos_id, mask_id=mask_id)
    runner = make_step_runner(kv_cache, model, attention_mask, prompt_index, prompt_len, block_length, mask_id,
                              cfg_scale, logits_eos_inf, eos_id)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="denoising", leave=False)

    for block in range(num_blocks):
        start = prompt_len + block * block_length
        end = start + block_length
        done = block_done(x[:, start:end], mask_id)  # rows whose answer stop_at_eos already ended
        if done.all():
            continue
        schedule = get_num_transfer_tokens(x[:, start:end] == mask_id, steps_per_block)  # (B, S)
        # The answer starts fully masked, so every running row shares one schedule; a scalar k keeps topk
        # batched. Rows that stop_at_eos ended are read past: they keep their block as it is.
        running = int((~done).nonzero()[0])
        schedule = schedule[running].tolist()
        kept = (x[:, start:end] != mask_id).sum(dim=1)
        kept_at_start = int(kept[running])
        runner.begin_block(x, start, end)
        for step in range(steps_per_block):
            # The runner's outputs cover a window x[:, lo:hi] holding the block (the whole x without a cache);
            # s:e is the block inside it.
            logits, ups_logits, lo = runner.step(x, start, end)
            hi = lo + logits.shape[1]
            s, e = start - lo, end - lo
            window = x[:, lo:hi]
            mask_index = window == mask_id
            if source is None:
                source = "ups" if ups_logits is not None else UPSTREAM_REMASKING[remasking]
            if use_remask is None:
                use_remask = source == "ups"
            if stochastic_positions and source != "ups":
                raise ValueError("position_temperature > 0 samples positions from the UPS, but the model's output "
                                 "has no `ups_logits`: load UPS weights")
            x0 = torch.argmax(add_gumbel_noise(logits, temperature), dim=-1)  # (B, W)

            if not use_remask:
                # LLaDA: rank masked positions of this block (and earlier) only; fill the top k.
                gates = gate_ids if source != "random" else ()
                confidence = _window_confidence(source, logits, ups_logits, x0, gates, lo, x.shape[1])
                confidence[:, e:] = -torch.inf
                confidence = torch.where(mask_index, confidence, -torch.inf)
                fill = filled_counts(schedule[step], confidence[:, s:e], mask_index[:, s:e].sum(dim=1),
                                     score_threshold(source, threshold))
                selected = _topk_mask(confidence, fill)
                new_window = torch.where(selected, x0, window)
            else:
                # RemeDi: rank every position of the block by the confidence of what it would hold
                # (its token if unmasked, the TPS candidate if masked); keep the top K, mask the rest.
                candidates = torch.where(mask_index, x0, window)
                confidence = _window_confidence(source, logits, ups_logits, candidates, gate_ids, lo, x.shape[1])
                keep = kept_counts(kept_at_start + sum(schedule[: step + 1]), schedule[step], confidence[:, s:e],
                                   kept, done, score_threshold(source, threshold))
                if stochastic_positions:
                    scores = ups_logits[:, s:e].float() / position_temperature  # (B, block)
                    order = sample_order(scores)
                    block_selected = torch.zeros_like(scores, dtype=torch.bool).scatter_(-1, order[:, :keep], True)
                else:
                    block_selected = _topk_mask(confidence[:, s:e], keep)
                selected = torch.zeros_like(mask_index)
                selected[:, s:e] = block_selected
                new_window = window.clone()
                new_window[:, s:e] = torch.where(block_selected, candidates[:, s:e], mask_id)
            new_x = x.clone()
            new_x[:, lo:hi] = new_window
            if rollout is not None:
                new_tokens = block_selected & mask_index[:, s:e]
                rollout.steps.append(_rollout_step(x, new_x, logits[:, s:e], scores, order, keep, start, end,
                                                   new_tokens, temperature))

            if return_trace or step_callback is not None:
                full_selected = torch.zeros_like(x, dtype=torch.bool)
                full_selected[:, lo:hi] = selected
                record = _trace_record(block, step, x, new_x, full_selected, mask_id, prompt_len, confidence, s,
                                       e, trace_confidences, source, use_remask)
                record["forward_passes"] = 2 if cfg_scale > 0 else 1
                record["active"] = (~done).tolist()
                if return_trace:
                    trace.append(record)
                if step_callback is not None:
                    step_callback(record, new_x)
            x = new_x
            if bar is not None:
                bar.update(1)
            done = block_done(x[:, start:end], mask_id)
            kept = (x[:, start:end] != mask_id).sum(dim=1)
            if threshold is not None and done.all():
                break
        runner.end_block(x, start, end)
        if stop_at_eos:
            x[ends_in_eos(x[:, start:end], eos_id, eot_id), end:] = eos_id
    if bar is not None:
        bar.close()
    outputs = (x,) + ((trace,) if return_trace else ()) + ((rollout,) if return_rollout else ())
    return outputs if len(outputs) > 1 else x


def _rollout_step(x, new_x, block_logits, scores, order, keep, start, end, new_tokens, temperature):
    """The record of one stochastic remask step (see RolloutStep); `block_logits` cover x[:, start:end]."""
    if temperature > 0:
        token_lp = torch.where(new_tokens, token_log_prob(block_logits, new_x[:, start:end], temperature), 0.0)
    else:  # argmax tokens are not sampled: they carry no log-probability
        token_lp = torch.zeros(new_tokens.shape, device=x.device)
    return RolloutStep(x=x, start=start, end=end, keep=keep, order=order, tokens=new_x[:, start:end].clone(),
                       new_tokens=new_tokens, position_log_prob=plackett_luce_log_prob(scores, order, keep),
                       token_log_prob=token_lp, position_entropy=position_entropy(scores))


def _validate_policy(position_temperature, return_rollout, confidence_source, remask, gated):
    """Whether positions are sampled (Remask RL's policy); rejects settings where that means nothing."""
    if position_temperature < 0:
        raise ValueError(f"position_temperature must be >= 0, got {position_temperature}")
    if return_rollout and position_temperature == 0:
        raise ValueError("return_rollout=True records a stochastic policy: give position_temperature > 0")
    if position_temperature == 0:
        return False
    if confidence_source not in (None, "ups") or remask is False:
        raise ValueError("position_temperature > 0 samples positions from the UPS: use confidence_source='ups' "
                         "with remask=True (the defaults for a model with a UPS head)")
    if gated:
        raise ValueError("confidence_eos_eot_inf is not defined for sampled positions; turn it off with "
                         "position_temperature > 0")
    return True


def _window_confidence(source, logits, ups_logits, candidates, gate_ids, lo, length):
    """`token_confidence` of a window starting at position `lo` of a `length`-token sequence.

    'random' draws one number per position of the whole sequence and keeps the window's, so that a step run
    on a cached window draws the same numbers as the same step run on the whole sequence.
    """
    if source == "random":
        draws = torch.rand(candidates.shape[0], length, device=candidates.device)
        return draws[:, lo : lo + candidates.shape[1]]
    return token_confidence(source, logits, ups_logits, candidates, gate_ids)


def _topk_mask(confidence, k):
    """Boolean mask of the k highest entries per row (torch.topk's tie order, as upstream uses); k is an int
    or a (B,) tensor of per-row counts."""
    selected = torch.zeros_like(confidence, dtype=torch.bool)
    if isinstance(k, torch.Tensor):  # a count per row: the first k[b] of row b's descending order
        largest = int(k.max())
        if largest > 0:
            _, index = torch.topk(confidence, k=largest, dim=-1)
            take = torch.arange(largest, device=k.device) < k.unsqueeze(1)
            selected.scatter_(-1, index, take)
        return selected
    if k > 0:
        _, index = torch.topk(confidence, k=k, dim=-1)
        selected.scatter_(-1, index, True)
    return selected


def _trace_record(block, step, old_x, new_x, selected, mask_id, prompt_len, confidence, start, end,
                  with_confidence, source, remask):
    """Per-row positions (relative to the answer start) of what this step did, and the answer ids it left.

    Confidences that are not finite (positions LLaDA's order no longer ranks) become None, so every
    record is plain JSON.
    """
    was_masked, is_masked = old_x == mask_id, new_x == mask_id
    filled = was_masked & ~is_masked
    remasked = ~was_masked & is_masked
    answer = slice(prompt_len, None)
    record = {
        "block": block,
        "step": step,
        "confidence_source": source,
        "remask": remask,
        "selected": [_positions(row) for row in selected[:, answer]],
        "filled": [_positions(row) for row in filled[:, answer]],
        "remasked": [_positions(row) for row in remasked[:, answer]],
        "masked_count": is_masked[:, answer].sum(dim=1).tolist(),
        "tokens": new_x[:, answer].tolist(),
    }
    if with_confidence:
        values = confidence_value(source, confidence[:, start:end]).round(decimals=6).tolist()
        record["confidence"] = [[v if math.isfinite(v) else None for v in row] for row in values]
    return record
