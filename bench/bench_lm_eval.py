"""lm-eval benchmarks on the shipped tiny models and the offline tasks, each a ratio measured in one run.

`--section generate`: the 50 arithmetic chains of `remedi_arith` answered by eval_llada.py's `remedi` model on
the block-causal model (32 answer tokens in blocks of 8, 32 steps, all prompts in one sampler call), with
`kv_cache=exact` and without: the answers must be identical (asserted) at >= 5x the answer tokens per second
of sampling. Each is also run through remedi.eval's runner (what `python -m remedi.eval` times) on the same rows
and settings, with the same answers (asserted): the whole lm-eval evaluation (data, requests, sampling, filters,
metrics) may cost at most 1.15x remedi.eval's sampling.

`--section choice`: `remedi_arith_mc` (200 requests) scored one mini-batch per forward pass, as upstream scores
one request at a time, and with the mini-batches of many requests packed into passes of --rows rows: the same
estimates under the same seed (asserted), and the speed ratio (target >= 3), for mc_num 32 in mini-batches of 8
and for LLaDA's one-row setting of one-token benchmarks (mc_num 1, batch_size 1).

Runs alternate in ABBA order, best of --repeats; the models are loaded once, outside the timings.

    python bench/bench_lm_eval.py                       # both sections, offline on the CPU
"""

import argparse
import logging
import math
import time
from pathlib import Path

import torch
from lm_eval.evaluator import evaluate
from lm_eval.tasks import TaskManager

from remedi.cli import positive_int, run_cli
from remedi.data import load_local_pairs
from remedi.eval.lm_eval_harness import RemeDiHarness
from remedi.eval.runner import SamplerOptions, Setting, run_setting

ROOT = Path(__file__).resolve().parent.parent
BLOCK_CAUSAL = ROOT / "models" / "remedi-tiny-arith-blockcausal"
ARITH = ROOT / "models" / "remedi-tiny-arith"
ROWS = ROOT / "tests" / "fixtures" / "arith_test50.jsonl"
TASKS = TaskManager(include_path=str(ROOT / "lm_eval_tasks"))


def through_lm_eval(lm, task):
    """(seconds, logged samples, seconds inside the model's request method) of one lm-eval evaluation of `task`
    with a loaded model: the task's data, its requests, the model's answers, filters and metrics. Not timed:
    `simple_evaluate`'s report of the environment (pip packages and the like, once per run, whatever the rows)."""
    method = "generate_until" if TASKS.load([task])["tasks"][task].OUTPUT_TYPE == "generate_until" else "loglikelihood"
    inside = []
    original = getattr(lm, method)

    def timed(requests):
        start = time.perf_counter()
        answers = original(requests)
        inside.append(time.perf_counter() - start)
        return answers

    setattr(lm, method, timed)
    try:
        start = time.perf_counter()
        out = evaluate(lm, TASKS.load([task]), apply_chat_template=True, log_samples=True, verbosity="ERROR")
        seconds = time.perf_counter() - start
    finally:
        delattr(lm, method)
    return seconds, sorted(out["samples"][task], key=lambda sample: sample["doc_id"]), sum(inside)


def abba(runs, repeats):
    """{name: best outcome} of zero-argument runs returning (seconds, ...), called in ABBA... order `repeats` times
    each; the best outcome is the one with the fewest seconds."""
    best = {}
    names = list(runs)
    for i in range(repeats):
        for name in names if i % 2 == 0 else names[::-1]:
            outcome = runs[name]()
            if name not in best or outcome[0] < best[name][0]:
                best[name] = outcome
    return best


def bench_generate(args):
    sampler = dict(gen_length=32, block_length=8, steps=32, batch_size=50, mc_num=50, device="cpu")
    models = {cache: RemeDiHarness(model_path=str(BLOCK_CAUSAL), kv_cache=cache, **sampler)
              for cache in ("none", "exact")}
    problems = [(question, answer, "strict") for question, answer in load_local_pairs(str(ROWS), "question", "answer")]
    options = SamplerOptions(gen_length=32, batch_size=50)

    def remedi_eval(cache):
        lm = models[cache]
        result = run_setting(lm.model, lm.tokenizer, problems, Setting("ups", True, 32, 8, cache), options)
        return result["seconds"], result["completions"]

    runs = {}
    for cache in models:
        runs[f"lm-eval {cache}"] = lambda cache=cache: through_lm_eval(models[cache], "remedi_arith")
        runs[f"remedi.eval {cache}"] = lambda cache=cache: remedi_eval(cache)
    through_lm_eval(models["exact"], "remedi_arith")  # warm-up
    best = abba(runs, args.repeats)
    answers = {cache: [s["resps"][0][0] for s in best[f"lm-eval {cache}"][1]] for cache in models}
    assert answers["exact"] == answers["none"], "kv_cache=exact changed the answers"
    assert answers["none"] == best["remedi.eval none"][1], "lm-eval and remedi.eval answered differently"
    tokens = len(problems) * 32
    print(f"block-causal tiny model, {len(problems)} prompts, gen 32, blocks of 8, 32 steps, ups + remask, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    for cache in models:
        seconds, _, sampling = best[f"lm-eval {cache}"]
        print(f"  lm-eval     kv_cache={cache:5s}: {seconds:7.3f} s in all, {sampling:7.3f} s sampling "
              f"({tokens / sampling:7.1f} answer tokens/s)")
        seconds, _ = best[f"remedi.eval {cache}"]
        print(f"  remedi.eval kv_cache={cache:5s}: {seconds:7.3f} s sampling ({tokens / seconds:7.1f} answer tokens/s)")
    speedup = best["lm-eval none"][2] / best["lm-eval exact"][2]
    print(f"ratio lm-eval answer tokens/s exact / none = {speedup:.2f}   (target >= 5, identical answers)")
    for cache in models:
        ratio = best[f"lm-eval {cache}"][0] / best[f"remedi.eval {cache}"][0]
        print(f"ratio lm-eval in all / remedi.eval seconds, kv_cache={cache} = {ratio:.3f}   (target <= 1.15)")


def bench_choice(args):
    common = dict(model_path=str(ARITH), is_check_greedy=False, gen_length=32, steps=32, block_length=32, device="cpu")
    for mc_num, batch_size in ((32, 8), (1, 1)):  # ours, and LLaDA's setting for one-token answers (MMLU)
        settings = dict(common, mc_num=mc_num, batch_size=batch_size)
        models = {"one mini-batch per pass": RemeDiHarness(**settings),
                  f"batched, {args.rows} rows per pass": RemeDiHarness(**settings, max_batch_size=args.rows)}
        runs = {name: lambda lm=lm: through_lm_eval(lm, "remedi_arith_mc") for name, lm in models.items()}
        best = abba(runs, args.repeats)
        scores = {name: [float(r[0][0]) for s in samples for r in s["resps"]] for name, (_, samples, _) in best.items()}
        one, batched = scores.values()
        assert all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5) for a, b in zip(one, batched)), "estimates differ"
        accuracy = {name: sum(s["acc"] for s in samples) / len(samples) for name, (_, samples, _) in best.items()}
        print(f"remedi_arith_mc on the tiny arithmetic model: {len(one)} requests, mc_num {mc_num}, mini-batches of "
              f"{batch_size}, torch threads {torch.get_num_threads()}, best of {args.repeats}")
        for name, (seconds, _, _) in best.items():
            print(f"  {name:26s}: {seconds:7.3f} s  accuracy {accuracy[name]:.3f}")
        (slow, _, _), (fast, _, _) = best.values()
        print(f"ratio one mini-batch per pass / batched seconds = {slow / fast:.2f}   (target >= 3, same estimates)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("both", "generate", "choice"), default="both")
    parser.add_argument("--repeats", type=positive_int, default=2)
    parser.add_argument("--rows", type=positive_int, default=64, help="choice section: rows per batched pass")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch threads (default: torch's); 1 is steadier on a machine busy with other work")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    if args.section in ("both", "generate"):
        bench_generate(args)
    if args.section in ("both", "choice"):
        bench_choice(args)


if __name__ == "__main__":
    run_cli(main)
