"""Does the UPS spot wrong tokens? Measured on held-out answers noised by Remask SFT's own process.

Reference answers are laid out as SFT rows, then noised with `remask_forward_process` at a few fixed
diffusion times t (fixed rather than sampled so numbers are comparable across checkpoints: small t
means few masks and some wrong tokens in a mostly written answer, large t a mostly masked one). On the
tokens `remedi.train.metrics.ups_scored_positions` chooses (the answer's written tokens, response and end of
turn, without the EOS padding: the same ones the trainer's validation AUC scores) the UPS confidence
sigmoid(h) is scored as a detector of the replaced tokens:
- ROC-AUC of -h for incorrect vs clean tokens (threshold-free; the logit, because float32 sigmoid ties
  every h above about 17 at 1.0),
- a confusion matrix at `threshold` (confidence < threshold, i.e. h < logit(threshold) = flagged
  incorrect) and its accuracy.
The TPS accuracy on the masked answer tokens of the same inputs is reported beside it as context.
"""

import numpy as np
import torch

from remedi.eval.stats import confusion_matrix, roc_auc
from remedi.sampler.confidence import score_threshold
from remedi.sampler.step_runner import layout_kwargs
from remedi.sampler.step_runner import model_ups_logits
from remedi.train.arguments import RemaskSFTArgs
from remedi.train.metrics import ups_scored_positions
from remedi.train.noise import answer_mask, remask_forward_process


def _scores(ups_logit, incorrect, threshold):
    """Detection summary for flat arrays: UPS logits h, incorrect bool (the positive class)."""
    flagged = ups_logit < score_threshold("ups", threshold)
    confidence = 1.0 / (1.0 + np.exp(-ups_logit.astype(np.float64)))
    return {
        "n_clean": int((~incorrect).sum()),
        "n_incorrect": int(incorrect.sum()),
        "roc_auc": roc_auc(-ups_logit, incorrect),
        "confusion": confusion_matrix(flagged, incorrect),
        "token_accuracy": float((flagged == incorrect).mean()) if incorrect.size else None,
        "mean_confidence_clean": float(confidence[~incorrect].mean()) if (~incorrect).any() else None,
        "mean_confidence_incorrect": float(confidence[incorrect].mean()) if incorrect.any() else None,
    }


@torch.no_grad()
def ups_detection(model, input_ids, prompt_lengths, *, t_values, mask_id, eos_id, vocab_size, special_ids,
                  r_incorrect=RemaskSFTArgs.r_incorrect, replacement=RemaskSFTArgs.replacement, threshold=0.5,
                  batch_size=8, seed=0):
    """Detection metrics per t and pooled over t for SFT rows `input_ids` (N, L), `prompt_lengths` (N,).

    `model(x)` must return UPS scores (`ups_logits` or `confidences`); vocab_size and special_ids are
    what `remask_forward_process` needs to draw replacement tokens (len(tokenizer), all special ids);
    replacement is its "uniform" (random ids) or "batch" (the batch's own answer tokens, harder to spot).
    """
    device = getattr(model, "device", torch.device("cpu"))
    generator = torch.Generator().manual_seed(seed)
    answer = answer_mask(prompt_lengths, input_ids.shape[1]) & (input_ids != eos_id)  # where TPS accuracy counts
    per_t, pooled_logits, pooled_incorrect = [], [], []
    tps_right = tps_total = 0
    for t in t_values:
        noisy = remask_forward_process(
            input_ids, prompt_lengths, mask_id=mask_id, vocab_size=vocab_size, special_ids=special_ids,
            r_incorrect=r_incorrect, replacement=replacement, t=torch.full((input_ids.shape[0],), float(t)),
            generator=generator,
        )
        ups_logit = torch.empty(input_ids.shape, dtype=torch.float32)
        predicted = torch.empty(input_ids.shape, dtype=torch.long)
        for start in range(0, input_ids.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            out = model(noisy.noisy_ids[rows].to(device), **layout_kwargs(model, prompt_lengths[rows].to(device)))
            ups = model_ups_logits(out)
            if ups is None:
                raise ValueError("UPS detection needs a model with a UPS head")
            ups_logit[rows] = ups.float().cpu()
            predicted[rows] = out.logits.argmax(dim=-1).cpu()
        scored = ups_scored_positions(input_ids, prompt_lengths, noisy.masked, eos_id)
        scored_logits = ups_logit[scored].numpy()
        incorrect = noisy.incorrect[scored].numpy()
        masked = answer & noisy.masked
        right = int((predicted[masked] == input_ids[masked]).sum())
        result = {"t": float(t), **_scores(scored_logits, incorrect, threshold)}
        result["tps_masked_accuracy"] = right / int(masked.sum()) if masked.any() else None
        per_t.append(result)
        pooled_logits.append(scored_logits)
        pooled_incorrect.append(incorrect)
        tps_right, tps_total = tps_right + right, tps_total + int(masked.sum())
    pooled = _scores(np.concatenate(pooled_logits), np.concatenate(pooled_incorrect), threshold)
    pooled["tps_masked_accuracy"] = tps_right / tps_total if tps_total else None
    return {"threshold": threshold, "r_incorrect": r_incorrect, "replacement": replacement,
            "n_answers": int(input_ids.shape[0]),
            "per_t": per_t, "pooled": pooled}
