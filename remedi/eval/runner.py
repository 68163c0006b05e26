"""Batched sampling over a dataset for a grid of sampler settings, with what each run must be checked on.

For every (confidence source, remask, steps, block_length, kv_cache, threshold) the same problems are
answered, graded and timed, and each batch's trace is checked against LLaDA's schedule: with or without
remasking the masked count after every step must equal the schedule's, so a mismatch is a sampler bug, not
noise. With a confidence threshold or stop at EOS a step may settle more than the schedule, never less, so
the masked count must then be at most the schedule's. Each answer's forward passes
(remedi/sampler/parallel_decoding.py says what one is) are counted from the trace. A cached setting also reports
the share of its answers identical to the same setting without a cache.
"""

import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Optional

import torch
from tqdm.auto import tqdm

from remedi.eval.stats import accuracy_ci, bootstrap_indices, paired_difference_ci
from remedi.grading.answers import conventional_format, grade
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.sampler.config import SamplerConfig
from remedi.sampler.sampling import generate, scheduled_mask_counts
from remedi.sampler.step_runner import cache_layout_problem, layout_kwargs
from remedi.sampler.step_runner import model_ups_logits

BASELINE = ("tps_prob", False)  # LLaDA's low-confidence sampler: every difference is reported against it


@dataclass(frozen=True)
class Setting:
    source: str
    remask: bool
    steps: int
    block_length: int
    kv_cache: str = "none"
    threshold: Optional[float] = None

    @property
    def name(self):
        cache = "" if self.kv_cache == "none" else f" cache={self.kv_cache}"
        threshold = "" if self.threshold is None else f" threshold={self.threshold:g}"
        return (f"{self.source}{'+remask' if self.remask else ''} steps={self.steps} block={self.block_length}"
                f"{cache}{threshold}")

    def sampler_config(self, options, token_ids):
        """This grid point's `SamplerConfig`, with what stays fixed across the grid from `options`."""
        return SamplerConfig(
            steps=self.steps, gen_length=options.gen_length, block_length=self.block_length,
            temperature=options.temperature, cfg_scale=options.cfg_scale,
            confidence_eos_eot_inf=options.confidence_eos_eot_inf, confidence_source=self.source, remask=self.remask,
            kv_cache=self.kv_cache, threshold=self.threshold, stop_at_eos=options.stop_at_eos,
        ).with_token_ids(token_ids)


@dataclass
class SamplerOptions:
    """What stays fixed across the grid."""

    gen_length: int = 32
    batch_size: int = 8
    temperature: float = 0.0
    cfg_scale: float = 0.0
    confidence_eos_eot_inf: bool = False
    stop_at_eos: bool = False


def parse_steps(values, gen_length):
    """Step budgets from strings: '64' is 64 steps, '1/2' or '0.5' is that fraction of gen_length."""
    budgets = []
    for value in values:
        try:
            steps = Fraction(value) * gen_length if "/" in value or "." in value else Fraction(int(value))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"--steps {value} is neither a whole number nor a fraction such as 1/2") from None
        if steps.denominator != 1 or steps <= 0:
            raise ValueError(f"--steps {value} is not a positive whole number of steps (a fraction counts "
                             f"of --gen-length {gen_length})")
        budgets.append(int(steps))
    return list(dict.fromkeys(budgets))


def model_has_ups(model, token_id):
    """Whether the model's output carries UPS scores, from a one-token forward."""
    device = getattr(model, "device", torch.device("cpu"))
    with torch.no_grad():
        probe = torch.tensor([[token_id]], device=device)
        return model_ups_logits(model(probe, **layout_kwargs(model, 1))) is not None


def usable_caches(kv_caches, config):
    """(caches the model can serve, notes): exact needs a block-causal model, prefix/dual a bidirectional one."""
    usable, notes = [], []
    for mode in kv_caches:
        problem = cache_layout_problem(mode, config)
        if problem is None:
            usable.append(mode)
        else:
            notes.append(f"skipped kv_cache={mode}: {problem}")
    return usable, notes


def build_grid(sources, remask_modes, steps, block_lengths, gen_length, has_ups, kv_caches=("none",),
               thresholds=(None,)):
    """(settings, notes): every valid combination, and why the others were left out."""
    notes = []
    if "ups" in sources and not has_ups:
        notes.append("skipped source 'ups': the model has no UPS head (pass --ups DIR with its weights)")
        sources = [s for s in sources if s != "ups"]
    settings = []
    for block_length in block_lengths:
        for budget in steps:
            try:
                SamplerConfig(steps=budget, gen_length=gen_length, block_length=block_length).validate()
            except ValueError as error:
                notes.append(f"skipped steps={budget} with block_length={block_length}: {error}")
                continue
            settings += [Setting(s, r, budget, block_length, c, t) for t in thresholds for c in kv_caches
                         for s in sources for r in remask_modes]
    return settings, notes


def check_mask_counts(trace, gen_length, block_length, steps, at_most=False):
    """{ok, max_error}: every row's masked count after every step vs the schedule.

    With at_most (threshold or stop at EOS: steps may settle more than scheduled, blocks may end early)
    a count only has to be at most the schedule's at the same step of the same block; max_error is then
    the largest excess.
    """
    expected = torch.tensor(scheduled_mask_counts(gen_length, block_length, steps))
    if at_most:
        per_block = steps // (gen_length // block_length)
        at = torch.tensor([record["block"] * per_block + record["step"] for record in trace])
        observed = torch.tensor([record["masked_count"] for record in trace])  # (records, B)
        error = int((observed - expected[at][:, None]).clamp(min=0).max())
        return {"ok": error == 0, "max_error": error}
    if len(trace) != len(expected):  # a different number of steps than the schedule has
        return {"ok": False, "max_error": None}
    observed = torch.tensor([record["masked_count"] for record in trace])  # (steps, B)
    error = int((observed - expected[:, None]).abs().max())
    return {"ok": error == 0, "max_error": error}


def forward_passes_per_row(trace):
    """Forward passes each row of a batch needed: the steps in which its block still held a [MASK], doubled
    with CFG. A row the batch waits for (done early, or its answer over at EOS) is not charged."""
    return [sum(record["forward_passes"] for record in trace if record["active"][row])
            for row in range(len(trace[0]["active"]))] if trace else []


def sample(model, tokenizer, questions, setting, options):
    """(completions, answer token ids, trace) for a batch of questions under one setting.

    Every trace record holds `tokens`, each row's answer ids after that step, for trajectory replays.
    """
    config = setting.sampler_config(options, special_token_ids(tokenizer))
    device = getattr(model, "device", torch.device("cpu"))
    input_ids, attention_mask = encode_prompts(tokenizer, questions)
    prompt_len = input_ids.shape[1]
    out, trace = generate(model, input_ids.to(device), attention_mask.to(device), config=config, return_trace=True)
    answers = out[:, prompt_len:]
    return tokenizer.batch_decode(answers, skip_special_tokens=True), answers.cpu(), trace


def _synchronize(model):
    device = getattr(model, "device", torch.device("cpu"))
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _per_row(trace, key, steps_per_block, total_steps, missing):
    """(B, total_steps) lists of a per-step trace field: masked counts as they are, position lists as
    lengths. Steps that did not run (a block ended early, or every answer was over at EOS) take
    `missing(last value)`: the count carried forward for masks, 0 for remasks; after the last record
    every answer is complete, so masks are 0 there."""
    rows = [[None] * total_steps for _ in trace[0][key]]
    for record in trace:
        at = record["block"] * steps_per_block + record["step"]
        for row, value in zip(rows, record[key]):
            row[at] = value if isinstance(value, int) else len(value)
    last = trace[-1]["block"] * steps_per_block + trace[-1]["step"]
    for row in rows:
        for at in range(total_steps):
            if row[at] is None:
                row[at] = 0 if at > last else missing(row[at - 1])
    return rows


def run_setting(model, tokenizer, problems, setting, options, seed=0, bar=None):
    """Answer, grade and time every problem (question, reference, answer_format) under one setting.

    Each completion is also graded in the conventional format of its answer_format
    (`correct_conventional`), so a strict score can be shown next to the usual one.
    Latency includes the trace bookkeeping (a few small copies per step), the same for every source.
    """
    torch.manual_seed(seed)
    correct, conventional, predictions, completions, masked, remasked, errors = [], [], [], [], [], [], []
    seconds, batch_steps, passes = 0.0, 0, []
    steps_per_block = setting.steps // (options.gen_length // setting.block_length)
    at_most = setting.threshold is not None or options.stop_at_eos
    for start in range(0, len(problems), options.batch_size):
        batch = problems[start : start + options.batch_size]
        _synchronize(model)
        begin = time.perf_counter()
        texts, _, trace = sample(model, tokenizer, [q for q, _, _ in batch], setting, options)
        _synchronize(model)
        seconds += time.perf_counter() - begin
        batch_steps += len(trace)
        passes += forward_passes_per_row(trace)
        for text, (question, reference, fmt) in zip(texts, batch):
            prediction, right = grade(text, reference, fmt, question)
            predictions.append(prediction)
            correct.append(bool(right))
            usual = conventional_format(fmt)
            conventional.append(bool(right if usual == fmt else grade(text, reference, usual, question)[1]))
        completions += texts
        errors.append(check_mask_counts(trace, options.gen_length, setting.block_length, setting.steps,
                                        at_most)["max_error"])
        masked += _per_row(trace, "masked_count", steps_per_block, setting.steps, lambda last: last)
        remasked += _per_row(trace, "remasked", steps_per_block, setting.steps, lambda last: 0)
        if bar is not None:
            bar.update(1)
    remasked = torch.tensor(remasked, dtype=torch.float)  # (N, steps)
    return {
        **asdict(setting),
        "name": setting.name,
        "n": len(problems),
        "correct": correct,
        "correct_conventional": conventional,
        "predictions": predictions,
        "completions": completions,
        "mask_schedule_ok": all(e == 0 for e in errors),
        "mask_schedule_max_error": None if None in errors else max(errors),
        "masked_expected": scheduled_mask_counts(options.gen_length, setting.block_length, setting.steps),
        "masked_observed_mean": torch.tensor(masked, dtype=torch.float).mean(dim=0).tolist(),
        "remasks_per_step": remasked.mean(dim=0).tolist(),
        "remasks_per_answer": float(remasked.sum(dim=1).mean()),
        "seconds": seconds,
        "sampler_steps": batch_steps,  # batched denoising steps run
        "forward_passes": passes,  # per answer
        "forward_passes_per_answer": sum(passes) / len(passes),
        "tokens": len(problems) * options.gen_length,
        "seconds_per_step": seconds / batch_steps,
        "tokens_per_second": len(problems) * options.gen_length / seconds,
    }


def run_grid(model, tokenizer, problems, settings, options, seed=0):
    """One result dict per setting (see run_setting), after a short untimed warm-up run."""
    if not problems or not settings:
        return []
    warm = settings[0]
    blocks = options.gen_length // warm.block_length
    sample(model, tokenizer, [problems[0][0]],
           Setting(warm.source, warm.remask, blocks, warm.block_length, warm.kv_cache), options)
    n_batches = -(-len(problems) // options.batch_size)
    results = []
    with tqdm(total=len(settings) * n_batches, desc="evaluating", unit="batch") as bar:
        for setting in settings:
            bar.set_postfix_str(setting.name)
            results.append(run_setting(model, tokenizer, problems, setting, options, seed, bar))
    return results


def conventional_grading_differs(results):
    """Whether grading in the conventional format changes any problem's score in any setting."""
    return any(r["correct_conventional"] != r["correct"] for r in results)


def add_confidence_intervals(results, n_boot=2000, seed=0, alpha=0.05):
    """Accuracy CIs for every setting and paired CIs of its difference to LLaDA's sampler (tps_prob, no
    remask, the fixed schedule: no threshold) at the same steps and block length, without a KV cache when
    the grid has that, all from one shared set of problem resamples. Results that carry
    `correct_conventional` get `accuracy_conventional` too, and cached ones `same_as_no_cache`, the share of
    answers identical to their uncached setting's (same threshold)."""
    if not results:
        return results
    indices = bootstrap_indices(results[0]["n"], n_boot, seed)
    baselines = {}
    for r in sorted(results, key=lambda r: r["kv_cache"] == "none"):  # uncached baselines are kept over cached
        if (r["source"], r["remask"]) == BASELINE and r.get("threshold") is None:
            baselines[(r["steps"], r["block_length"])] = r
    uncached = {(r["source"], r["remask"], r["steps"], r["block_length"], r.get("threshold")): r
                for r in results if r["kv_cache"] == "none"}
    for result in results:
        result["accuracy"] = accuracy_ci(result["correct"], indices, alpha)
        if "correct_conventional" in result:
            result["accuracy_conventional"] = accuracy_ci(result["correct_conventional"], indices, alpha)
        baseline = baselines.get((result["steps"], result["block_length"]))
        result["vs_baseline"] = None if baseline is None or baseline is result else \
            paired_difference_ci(result["correct"], baseline["correct"], indices, alpha)
        twin = uncached.get((result["source"], result["remask"], result["steps"], result["block_length"],
                             result.get("threshold")))
        result["same_as_no_cache"] = None if twin is None or twin is result else \
            sum(a == b for a, b in zip(result["completions"], twin["completions"])) / result["n"]
    return results


def latency_by_source(results):
    """Seconds per step and tokens per second per confidence source (and KV cache), pooled over its settings."""

    def key(r):
        return r["source"] if r["kv_cache"] == "none" else f"{r['source']} cache={r['kv_cache']}"

    summary = {}
    for source in dict.fromkeys(key(r) for r in results):
        runs = [r for r in results if key(r) == source]
        seconds = sum(r["seconds"] for r in runs)
        summary[source] = {"seconds_per_step": seconds / sum(r["sampler_steps"] for r in runs),
                           "tokens_per_second": sum(r["tokens"] for r in runs) / seconds}
    return summary
