"""Conditional log-likelihood of an answer under a masked diffusion model: LLaDA's Monte-Carlo ELBO.

A masked diffusion model gives no exact log p(answer | prompt), only the lower bound it was trained on.
For an answer of L tokens,

    log p(answer | prompt) >= - E_k E_S [ (L / k) * sum_{i in S} CE_i ],

with k uniform on 1..L, S a uniformly random set of k answer positions put to [MASK] (the prompt is never
masked) and CE_i the cross-entropy of the true token at i given the masked sequence. Each term is divided
by the mask ratio k / L. The estimate averages `mc_num` such rows, `batch_size` per mini-batch.

Within a mini-batch the ratios are stratified rather than independent: k is drawn once, and row r takes
k + round(r * L / batch_size), wrapped back into 1..L, so the rows cover the range of ratios evenly and
the estimate varies less. Where some r * L / batch_size is a half-integer, round() sends it to the even
neighbour and that row's k is no longer uniform, so the estimate is slightly biased (upstream's rule, kept
for its numbers; the smallest case is L = 3, batch_size = 2). This never happens when batch_size is odd or
divides L.

The random stream is consumed as LLaDA's `get_log_likelihood.py` consumes it (per mini-batch: one
`randint` for k on the model's device, then one `randperm(L)` per row), so `get_log_likelihood` with the
same torch seed and arguments returns upstream's number (`tools/compare_likelihood_with_upstream.py`).

`log_likelihoods` scores many pairs at once: each pair's masks are drawn from its own generator seeded
with `seed`, so every estimate equals `get_log_likelihood` after `torch.manual_seed(seed)` whatever else
is in the batch, and forward passes pack mini-batches of different pairs, left-padded, up to `max_rows`.

Block-causal models (remedi/model/attention.py) are scored in the layout they were trained in: answer block j
is predicted from the prompt, the clean blocks before it and its own masked copy (the two-copy pass of
remedi/train/training.py). A block's predictions then depend only on the masks inside it, and the same
estimator has expectation sum_j ELBO_j, where ELBO_j is the bound above for block j alone given the
earlier blocks: a lower bound on log p(answer | prompt) = sum_j log p(block_j | prompt, blocks < j), the
block-by-block factorisation the model samples with.
"""

from dataclasses import dataclass
from typing import List

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from remedi.model.config import LLADA_MASK_ID
from remedi.model.ups import RemeDiModel
from remedi.sampler.sampling import generate
from remedi.train.training import block_causal_forward


def stratified_mask_counts(answer_length, batch_size, generator=None, device=None):
    """(batch_size,) numbers of masked answer tokens, one per row: a random start k, then evenly spaced.

    Computed with upstream's float32 linspace and round, so the counts are upstream's bit for bit.
    """
    first = torch.randint(1, answer_length + 1, (), generator=generator, device=device)
    last = first + (batch_size - 1) * (answer_length / batch_size)  # 0-d float32, as upstream forms it
    counts = torch.linspace(float(first), last, steps=batch_size, device=device).round().long()
    return (counts - 1) % answer_length + 1


def random_answer_masks(counts, answer_length, generator=None):
    """(rows, L) masks with counts[r] masked positions in row r, each set uniformly random: a random
    permutation's entries below the count. One `randperm` per row, on the CPU (as upstream draws them)."""
    rows = [torch.randperm(answer_length, generator=generator) < int(count) for count in counts.tolist()]
    return torch.stack(rows)


@dataclass
class MiniBatch:
    """One mini-batch of one (prompt, answer) pair: the rows that share one stratified draw."""

    pair: int  # index into the scored pairs
    prompt: torch.Tensor  # (P,) token ids
    answer: torch.Tensor  # (L,) token ids
    masks: torch.Tensor  # (rows, L) bool, True = [MASK]
    counts: torch.Tensor  # (rows,) masked tokens per row

    @property
    def length(self):
        return self.prompt.numel() + self.answer.numel()


def draw_mini_batches(pair, prompt, answer, mc_num, batch_size, generator=None, device=None):
    """The mc_num // batch_size mini-batches of one pair, drawn in upstream's order."""
    answer_length = answer.numel()
    batches = []
    for _ in range(mc_num // batch_size):
        counts = stratified_mask_counts(answer_length, batch_size, generator, device).cpu()
        batches.append(MiniBatch(pair, prompt, answer, random_answer_masks(counts, answer_length, generator), counts))
    return batches


def masked_token_loss(logits, targets, masks, counts, answer_length):
    """Sum over masked tokens of cross-entropy / mask ratio, divided by the rows: one mini-batch's term.

    logits (rows, L, V) at the answer positions, targets (L,), masks (rows, L), counts (rows,).
    """
    ratio = counts / answer_length  # (rows,) float, the mask ratio k / L of each row
    per_token = F.cross_entropy(logits[masks], targets.expand_as(masks)[masks], reduction="none")
    return (per_token / ratio[:, None].expand_as(masks)[masks]).sum() / masks.shape[0]


@torch.no_grad()
def get_log_likelihood(model, prompt, answer, mc_num=128, batch_size=16, cfg_scale=0., mask_id=LLADA_MASK_ID):
    """Monte-Carlo estimate of log p(answer | prompt) (LLaDA's `get_log_likelihood`, same signature).

    Args:
        model: mask predictor; `model(ids).logits` is (B, L, V).
        prompt: (P,) token ids, never masked.
        answer: (L,) token ids, L >= 1.
        mc_num: rows in the estimate, a multiple of batch_size. LLaDA uses 128, and 1 for benchmarks
            scored on a single answer token (MMLU, CMMLU, C-Eval), where one row is exact.
        batch_size: rows per mini-batch (one stratified draw of mask ratios, one forward pass).
        cfg_scale: unsupervised classifier-free guidance: logits are pushed away from those of a pass
            with the prompt masked, by this weight; 0 disables it.
        mask_id: id of [MASK].

    Draws from torch's global random state, as upstream does: seed it for a reproducible estimate.
    """
    return _estimate(model, [(prompt, answer)], mc_num, batch_size, cfg_scale, mask_id, generators=None,
                     max_rows=batch_size)[0]


@torch.no_grad()
def log_likelihoods(model, pairs, mc_num=128, batch_size=16, cfg_scale=0., mask_id=LLADA_MASK_ID, *, seed=0,
                    max_rows=None, pad_id=None, progress=False) -> List[float]:
    """`get_log_likelihood` for many (prompt, answer) pairs of any lengths, batched for throughput.

    Each pair draws its masks from a generator seeded with `seed`, so result i equals
    `torch.manual_seed(seed); get_log_likelihood(model, *pairs[i], ...)` (up to float rounding where its
    rows share a forward pass with longer ones) and does not depend on the other pairs or their order.
    Forward passes hold whole mini-batches, shortest first, at most `max_rows` rows (default batch_size:
    upstream's memory use) unless one mini-batch alone is larger; shorter rows are left-padded with
    `pad_id` (default: the model config's pad token) and hidden by the attention mask. `progress` shows a
    bar over the forward passes.
    """
    generators = [torch.Generator().manual_seed(seed) for _ in pairs]
    return _estimate(model, pairs, mc_num, batch_size, cfg_scale, mask_id, generators, max_rows or batch_size,
                     pad_id, progress)


@torch.no_grad()
def greedy_matches(model, pairs, cfg_scale=0., mask_id=LLADA_MASK_ID, *, max_rows=16, pad_id=None) -> List[bool]:
    """For each (prompt, answer): does greedy decoding write exactly this answer? (LLaDA's `is_check_greedy`.)

    The answer starts fully masked and each step fills the one masked position whose argmax token is most
    probable (TPS probability, no remasking, with CFG if asked): `generate` with one token per step in one
    block. Pairs with answers of the same length are decoded together, at most `max_rows` at a time.
    """
    pad_id = _pad_id(model) if pad_id is None else pad_id
    device = _device(model)
    by_length = {}
    for index, (_, answer) in enumerate(pairs):
        by_length.setdefault(answer.numel(), []).append(index)
    matches = [False] * len(pairs)
    for length, indices in by_length.items():
        for start in range(0, len(indices), max_rows):
            chunk = indices[start : start + max_rows]
            ids, keep = left_pad([pairs[i][0].cpu() for i in chunk], pad_id)
            width = ids.shape[1]
            out = generate(tps_model(model), ids.to(device), keep.long().to(device), steps=length, gen_length=length,
                           block_length=length, temperature=0.0, cfg_scale=cfg_scale, mask_id=mask_id,
                           confidence_source="tps_prob", remask=False)
            for row, i in enumerate(chunk):
                matches[i] = bool(torch.equal(out[row, width:].cpu(), pairs[i][1].cpu()))
    return matches


def _estimate(model, pairs, mc_num, batch_size, cfg_scale, mask_id, generators, max_rows, pad_id=None,
              progress=False):
    _validate(pairs, mc_num, batch_size, cfg_scale, mask_id)
    device = _device(model)
    batches = []
    for index, (prompt, answer) in enumerate(pairs):
        generator = None if generators is None else generators[index]
        draw_device = device if generator is None else None  # upstream draws k on the model's device
        batches += draw_mini_batches(index, prompt.cpu(), answer.cpu(), mc_num, batch_size, generator, draw_device)
    terms = [[] for _ in pairs]
    groups = list(_pack(sorted(batches, key=lambda b: b.length), max_rows))
    for group in tqdm(groups, desc="log-likelihood", unit="pass", disable=not progress):
        for batch, loss in zip(group, _group_losses(model, group, cfg_scale, mask_id, pad_id, device)):
            terms[batch.pair].append(loss)
    return [-sum(values) / len(values) for values in terms]


def _validate(pairs, mc_num, batch_size, cfg_scale, mask_id):
    if batch_size < 1 or mc_num < batch_size or mc_num % batch_size:
        raise ValueError(f"mc_num={mc_num} must be a positive multiple of batch_size={batch_size} "
                         "(each mini-batch is one stratified draw of batch_size rows)")
    if cfg_scale < 0:
        raise ValueError(f"cfg_scale={cfg_scale} is negative; use 0 for no guidance or a positive weight")
    for prompt, answer in pairs:
        if prompt.dim() != 1 or answer.dim() != 1:
            raise ValueError("prompt and answer must be 1-D tensors of token ids")
        if answer.numel() == 0:
            raise ValueError("the answer is empty: there is nothing to score")
        if (prompt == mask_id).any() or (answer == mask_id).any():
            raise ValueError(f"the prompt or answer contains mask_id={mask_id}; both must be fully observed")


def _pack(batches, max_rows):
    """Consecutive mini-batches grouped into forward passes of at most max_rows rows (at least one each)."""
    group, rows = [], 0
    for batch in batches:
        if group and rows + batch.masks.shape[0] > max_rows:
            yield group
            group, rows = [], 0
        group.append(batch)
        rows += batch.masks.shape[0]
    if group:
        yield group


def _group_losses(model, group, cfg_scale, mask_id, pad_id, device):
    """One forward pass over a group of mini-batches, left-padded to its longest row; each one's loss."""
    width = max(batch.length for batch in group)
    rows = torch.tensor([batch.masks.shape[0] for batch in group])
    starts = (rows.cumsum(0) - rows).tolist()  # first row of each mini-batch
    sequences, keep = left_pad([torch.cat([b.prompt, b.answer]) for b in group],
                               _pad_id(model) if pad_id is None else pad_id)  # (G, W)
    answer_start = torch.tensor([width - batch.answer.numel() for batch in group])
    clean, keep, answer_start = (t.repeat_interleave(rows, dim=0) for t in (sequences, keep, answer_start))  # (R, W)
    masks = torch.zeros_like(clean, dtype=torch.bool)
    for batch, first in zip(group, starts):
        masks[first : first + batch.masks.shape[0], width - batch.answer.numel():] = batch.masks
    noisy = clean.masked_fill(masks, mask_id)
    logits = _logits(model, clean.to(device), noisy.to(device), keep.to(device), answer_start.to(device), cfg_scale,
                     mask_id)
    losses = []
    for batch, first in zip(group, starts):
        length = batch.answer.numel()
        answer_logits = logits[first : first + batch.masks.shape[0], width - length :]
        losses.append(masked_token_loss(answer_logits, batch.answer.to(device), batch.masks.to(device),
                                        batch.counts.to(device), length).item())
    return losses


def left_pad(sequences, pad_id, width=None):
    """(ids, keep): 1-D sequences left-padded to `width` (default: the longest), (B, width), and keep = True where
    a real token stands, as LLaDA's batched sampling and scoring expect them."""
    width = max(s.numel() for s in sequences) if width is None else width
    ids = torch.stack([torch.cat([torch.full((width - s.numel(),), pad_id, dtype=s.dtype), s]) for s in sequences])
    keep = torch.stack([torch.arange(width) >= width - s.numel() for s in sequences])
    return ids, keep


def _logits(model, clean, noisy, keep, answer_start, cfg_scale, mask_id):
    """TPS logits (R, W, V) of the noisy rows; with CFG, extrapolated away from a prompt-masked pass."""
    if cfg_scale == 0:
        return _layout_logits(model, clean, noisy, keep, answer_start)
    positions = torch.arange(noisy.shape[1], device=noisy.device)
    prompt = keep & (positions < answer_start[:, None])  # real prompt tokens, not padding
    rows = noisy.shape[0]
    logits = _layout_logits(model, torch.cat([clean, clean.masked_fill(prompt, mask_id)]),
                            torch.cat([noisy, noisy.masked_fill(prompt, mask_id)]),
                            torch.cat([keep, keep]), torch.cat([answer_start, answer_start]))
    conditional, unconditional = logits[:rows], logits[rows:]
    return unconditional + (cfg_scale + 1) * (conditional - unconditional)


def tps_model(model):
    """What computes the TPS logits: the backbone of a RemeDiModel whose UPS only reads it (an MLP head on the last
    hidden state), so that scoring does not run the head; the whole model when a dual stream writes into the TPS."""
    if isinstance(model, RemeDiModel) and model.hidden_source != "stream":
        return model.backbone
    return model


def _layout_logits(model, clean, noisy, keep, answer_start):
    """Logits of the noisy rows in the model's training layout: one plain pass (padding hidden), or for a
    block-causal model the two-copy pass in which each noisy block sees the clean blocks before it."""
    model = tps_model(model)
    padded = not bool(keep.all())
    config = getattr(model, "config", None)
    if getattr(config, "attention_layout", "bidirectional") == "block_causal":
        return block_causal_forward(model, clean, noisy, answer_start, config.attention_block_length,
                                    attention_mask=keep if padded else None).logits
    return model(noisy, attention_mask=keep.long()).logits if padded else model(noisy).logits


def _device(model):
    device = getattr(model, "device", None)
    return torch.device(device) if device is not None else next(model.parameters()).device


def _pad_id(model):
    config = getattr(model, "config", None)
    pad_id = getattr(config, "pad_token_id", None)
    return 0 if pad_id is None else pad_id
