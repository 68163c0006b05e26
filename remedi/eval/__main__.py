"""Evaluate a (RemeDi) masked diffusion model: accuracy per sampler setting, UPS detection, trajectories.

    python -m remedi.eval --limit 4 --out runs/eval-tiny     # the shipped default model, 4 GSM8K problems

writes to --out: results.json (everything, per-problem scores included), results.md (tables),
accuracy.png, mask_counts.png, remasks.png, trajectory.html and trajectory.png; with --thresholds,
passes.png (accuracy against forward passes per answer).

LLaDA-8B-Instruct with a trained UPS head on one GPU (download the checkpoint into a folder first,
e.g. `huggingface-cli download GSAI-ML/LLaDA-8B-Instruct --local-dir checkpoints/LLaDA-8B-Instruct`):

    python -m remedi.eval --model checkpoints/LLaDA-8B-Instruct --ups checkpoints/ups \\
        --data gsm8k --limit 200 --gen-length 256 --steps 1/1 1/2 1/4 --block-lengths 32 \\
        --batch-size 16 --device cuda --dtype bfloat16 --out runs/eval-llada-gsm8k

That is 3 sources x 2 remask modes x 3 step budgets = 18 runs over 200 answers: 13 batches x
(256 + 128 + 64) steps x 6 = about 35k batched forward passes. Without --limit every problem of the
data is scored; MATH-500 is `--data math500 --gen-length 512`; any JSONL is `--data FILE.jsonl
--question-column ... --answer-column ...`. `--answer-format strict` counts an answer only when the
completion ends in `#### <number>` (tasks trained to write it); GSM8K's lenient score is then reported
beside it wherever the two differ. Without --ups (and no ups/ folder in the model
directory) the `ups` source is skipped with a note in the results, and detection is not run.
"""

import argparse
import json
import os
import platform

import torch

from remedi.cli import add_model_arguments, confidence_threshold, finite_float, positive_int, run_cli
from remedi.data import build_sft_examples, load_gsm8k, load_local_pairs, load_math500
from remedi.eval import plots
from remedi.eval.detection import ups_detection
from remedi.eval.report import interval, percent
from remedi.grading import answers
from remedi.model.tokenizer import encode_prompts
from remedi.sampler.step_runner import KV_CACHE_MODES
from remedi.train.arguments import REPLACEMENTS, RemaskSFTArgs
from remedi.eval.runner import (BASELINE, SamplerOptions, add_confidence_intervals, build_grid, usable_caches,
                                conventional_grading_differs, latency_by_source, model_has_ups, parse_steps,
                                run_grid, sample)
from remedi.eval.trajectory import first_corrected, trajectory_figure, trajectory_html
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import special_token_ids, warn_unknown_characters
from remedi.sampler.config import CONFIDENCE_SOURCES


def threshold_value(text):
    """A --thresholds entry: a number, or 'none' for the fixed schedule (the grid's baseline)."""
    if text.lower() == "none":
        return None
    try:
        return confidence_threshold(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'none'") from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--data", default="gsm8k", help="gsm8k (test split), math500, or a .json/.jsonl/.parquet file")
    parser.add_argument("--question-column", default="question", help="with a data file")
    parser.add_argument("--answer-column", default="answer", help="with a data file")
    parser.add_argument("--answer-format", choices=("auto",) + answers.ANSWER_FORMATS, default="auto",
                        help="grading: auto = math when the reference has \\boxed{}, else gsm8k (the last "
                             "number counts when '####' is missing); strict = the completion must end in "
                             "'#### <number>' (then the gsm8k score is reported beside it where it differs)")
    parser.add_argument("--limit", type=int, default=None, help="first N problems (default and 0: all)")
    parser.add_argument("--skip", type=int, default=0,
                        help="leave out the first N problems of the data, so that a long evaluation can run in parts "
                             "(--skip 500 --limit 500: problems 501-1000)")
    parser.add_argument("--sources", nargs="+", choices=CONFIDENCE_SOURCES, default=["random", "tps_prob", "ups"])
    parser.add_argument("--remask-modes", nargs="+", choices=("on", "off"), default=["off", "on"])
    parser.add_argument("--steps", nargs="+", default=["1/1", "1/2", "1/4"],
                        help="step budgets: integers, or fractions of --gen-length such as 1/2 or 0.25")
    parser.add_argument("--block-lengths", nargs="+", type=positive_int, default=None, help="default: --gen-length")
    parser.add_argument("--thresholds", nargs="+", type=threshold_value, default=[None],
                        help="confidence thresholds for dynamic parallel decoding (a step also settles every "
                             "position at least this confident; a block ends when nothing is masked); 'none' "
                             "runs the fixed schedule, e.g. --thresholds none 0.9 0.7")
    parser.add_argument("--stop-at-eos", action="store_true",
                        help="end an answer once a finished block holds only EOS/EoT after its first EOS/EoT")
    parser.add_argument("--gen-length", type=positive_int, default=32)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--temperature", type=finite_float, default=0.0)
    parser.add_argument("--cfg-scale", type=finite_float, default=0.0)
    parser.add_argument("--kv-cache", nargs="+", default=["none"], choices=KV_CACHE_MODES,
                        help="cache modes to evaluate (exact: block-causal models; prefix/dual: bidirectional, "
                             "approximate); each is reported next to none")
    parser.add_argument("--confidence-eos-eot-inf", action="store_true", help="rank EOS/EoT candidates last")
    parser.add_argument("--detection-t", nargs="+", type=float, default=[0.25, 0.5, 0.75],
                        help="diffusion times at which held-out answers are noised for UPS detection")
    parser.add_argument("--detection-r", type=float, default=RemaskSFTArgs.r_incorrect,
                        help="Remask SFT r_incorrect for detection")
    parser.add_argument("--detection-replacement", choices=REPLACEMENTS, default=RemaskSFTArgs.replacement,
                        help="wrong tokens drawn from the whole vocabulary or from the answers' own tokens")
    parser.add_argument("--detection-threshold", type=confidence_threshold, default=0.5,
                        help="UPS confidence below this flags a token as incorrect")
    parser.add_argument("--no-detection", action="store_true")
    parser.add_argument("--trajectory-index", type=int, default=None,
                        help="which problem to draw (default: the first of the first --trajectory-search "
                             "problems whose trajectory shows a correction: wrong -> remasked -> corrected)")
    parser.add_argument("--trajectory-search", type=int, default=100,
                        help="problems searched for a correction, --batch-size at a time, without --trajectory-index")
    parser.add_argument("--n-boot", type=positive_int, default=2000, help="bootstrap resamples for the CIs")
    parser.add_argument("--out", default="eval_out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.temperature < 0 or args.cfg_scale < 0:
        raise ValueError("--temperature and --cfg-scale must be at least 0 (0: argmax, no guidance)")
    if args.limit is not None and args.limit < 0:
        raise ValueError(f"--limit {args.limit} is negative; give the number of problems to score, or leave it out "
                         "for all")
    if args.skip < 0:
        raise ValueError(f"--skip {args.skip} is negative; give the number of problems to leave out, or 0")
    if args.trajectory_index is not None and args.trajectory_index < 0:
        raise ValueError("--trajectory-index counts problems from 0; pass 0 or more")
    if args.trajectory_search < 1:
        raise ValueError("--trajectory-search must be at least 1 (problems searched for a correction)")
    return args


def load_problems(args, tokenizer, context):
    """([(question, reference, answer_format)], notes) for the first --limit problems after the first --skip
    whose chat-formatted prompt plus --gen-length fits the model's context; the others are left out and counted."""
    if args.data == "gsm8k":
        pairs, fmt = load_gsm8k(split="test"), "gsm8k"
    elif args.data == "math500":
        pairs, fmt = load_math500(), "math"
    elif os.path.isfile(args.data):
        pairs, fmt = load_local_pairs(args.data, args.question_column, args.answer_column), "auto"
    else:
        raise FileNotFoundError(f"--data {args.data!r} is neither gsm8k, math500 nor an existing file")
    if args.answer_format != "auto":
        fmt = args.answer_format
    if args.skip >= len(pairs):
        raise ValueError(f"--skip {args.skip} leaves nothing: {args.data} has {len(pairs)} problems")
    problems, too_long = [], 0
    for question, reference in pairs[args.skip:]:
        if args.limit and len(problems) == args.limit:
            break
        if context is not None and encode_prompts(tokenizer, [question])[0].shape[1] + args.gen_length > context:
            too_long += 1
            continue
        problems.append((question, reference, answers.answer_format(reference) if fmt == "auto" else fmt))
    warn_unknown_characters(tokenizer, [question for question, _, _ in problems])
    notes = [f"skipped {too_long} problems whose prompt + gen_length exceeds the context of {context} tokens"]
    return problems, notes if too_long else []


def run_detection(model, tokenizer, problems, args):
    ids = special_token_ids(tokenizer)
    # Answers get the sampler's budget (gen_length tokens; longer ones are cut), so the UPS is judged
    # on sequences of the length it scores during generation.
    prompt_tokens = encode_prompts(tokenizer, [q for q, _, _ in problems])[0].shape[1]
    examples = build_sft_examples([(q, a) for q, a, _ in problems], tokenizer, prompt_tokens + args.gen_length)
    return ups_detection(
        model, examples.input_ids, examples.prompt_lengths, t_values=args.detection_t, mask_id=ids["mask_id"],
        eos_id=ids["eos_id"], vocab_size=len(tokenizer), special_ids=tokenizer.all_special_ids,
        r_incorrect=args.detection_r, replacement=args.detection_replacement, threshold=args.detection_threshold,
        batch_size=args.batch_size, seed=args.seed,
    )


def trajectory_setting(settings):
    """The run worth drawing: UPS with remasking if evaluated, else a remasking run with a model-based
    order (not random), at the most steps."""
    def rank(s):
        return (s.source == "ups" and s.remask, s.remask, s.source != "random", s.steps)

    return max(settings, key=rank)


def draw_trajectory(model, tokenizer, problems, setting, options, args):
    """Sample the problem to draw with per-step tokens; write trajectory.html/.png; return its summary.

    With --trajectory-index that problem is sampled alone. Otherwise the first --trajectory-search problems
    are sampled, a batch at a time, until one shows a correction (wrong -> remasked -> corrected): the
    event the figure exists for, and rare with a well-trained model. Without one, problem 0 is drawn.
    """
    mask_id = special_token_ids(tokenizer)["mask_id"]
    if args.trajectory_index is not None:
        batches = [[min(args.trajectory_index, len(problems) - 1)]]
    else:
        n_searched = min(args.trajectory_search, len(problems))
        batches = [list(range(i, min(i + options.batch_size, n_searched)))
                   for i in range(0, n_searched, options.batch_size)]

    def traces():
        for batch in batches:
            torch.manual_seed(args.seed)
            yield batch, sample(model, tokenizer, [problems[i][0] for i in batch], setting, options)[2]

    index, trace, row, corrected = first_corrected(traces(), mask_id)
    if args.trajectory_index is not None:
        chosen_by = "--trajectory-index"
    elif corrected:
        chosen_by = f"the first of problems 0-{n_searched - 1} with a correction"
    else:
        chosen_by = f"no correction in problems 0-{n_searched - 1}"
    title = f"problem {index}, {setting.name}"
    with open(os.path.join(args.out, "trajectory.html"), "w") as f:
        f.write(trajectory_html(trace, tokenizer, mask_id, title, row))
    trajectory_figure(trace, mask_id, title, row).savefig(os.path.join(args.out, "trajectory.png"), dpi=120)
    return {"problem": index, "setting": setting.name, "corrected": corrected, "chosen_by": chosen_by}


def markdown_report(report):
    lines = [f"# Evaluation: {report['config']['model']} on {report['config']['data']} "
             f"({report['n_problems']} problems)", ""]
    lines += [f"- {note}" for note in report["notes"]] + [""] if report["notes"] else []
    grading = report["grading"]
    conventional = grading["conventional_formats"]
    lines += [
        "## Accuracy",
        "",
        f"95% bootstrap CIs; Δ is paired against {BASELINE[0]} without remask (LLaDA) at the same steps and block, "
        "with the fixed schedule (no threshold). Passes = forward passes per answer (model evaluations of its "
        "sequence while its block still held a [MASK]; two per step with CFG)"
        + (", with stop at EOS." if report["config"].get("stop_at_eos") else "."),
        "Graded as " + "; ".join(f"{fmt} ({answers.FORMAT_DESCRIPTIONS[fmt]})" for fmt in grading["formats"]) + ".",
    ]
    extra_header = ""
    if grading["conventional_differs"]:
        lines.append(f"The column accuracy ({'/'.join(conventional)}) grades the same completions as "
                     + "; ".join(f"{fmt} ({answers.FORMAT_DESCRIPTIONS[fmt]})" for fmt in conventional) + ".")
        extra_header = f" accuracy ({'/'.join(conventional)}) |"
    cached = any(r.get("kv_cache", "none") != "none" for r in report["settings"])
    if cached:
        lines.append("Δ vs LLaDA compares with LLaDA's sampler without a cache; 'same answers' is the share of "
                     "answers identical to the same setting without a cache.")
    cache_header = " kv cache | same answers |" if cached else ""
    lines += [
        "",
        f"| source | remask | steps | block |{cache_header} threshold | accuracy |{extra_header} Δ vs LLaDA "
        "| passes/answer | remasked/answer | mask schedule | s/step | tok/s |",
        "|---|---|---|---|" + "---|---|" * cached + "---|---|" + "---|" * bool(extra_header)
        + "---|---|---|---|---|---|",
    ]
    for r in report["settings"]:
        delta = "—" if r["vs_baseline"] is None else interval(r["vs_baseline"], "%")
        schedule = "ok" if r["mask_schedule_ok"] else f"OFF by {r['mask_schedule_max_error']}"
        extra = f" {interval(r['accuracy_conventional'], '%')} |" if extra_header else ""
        same = "—" if r.get("same_as_no_cache") is None else f"{percent(r['same_as_no_cache'])}%"
        cache = f" {r['kv_cache']} | {same} |" if cached else ""
        threshold = "—" if r.get("threshold") is None else f"{r['threshold']:g}"
        lines.append(f"| {r['source']} | {'on' if r['remask'] else 'off'} | {r['steps']} | {r['block_length']} |"
                     f"{cache} {threshold} | {interval(r['accuracy'], '%')} |{extra} {delta} | "
                     f"{r['forward_passes_per_answer']:.2f} | {r['remasks_per_answer']:.2f} | {schedule} | "
                     f"{r['seconds_per_step']:.4f} | {r['tokens_per_second']:.1f} |")
    lines += ["", "## Latency by confidence source", "", "| source | s/step | tok/s |", "|---|---|---|"]
    lines += [f"| {s} | {v['seconds_per_step']:.4f} | {v['tokens_per_second']:.1f} |"
              for s, v in report["latency_by_source"].items()]
    detection = report["detection"]
    if detection is not None:
        lines += ["", "## UPS detection of Remask-SFT-noised answers", "",
                  f"Positive = incorrect token; flagged when UPS confidence < {detection['threshold']}; "
                  f"r_incorrect = {detection['r_incorrect']}, {detection['replacement']} replacements; "
                  f"{detection['n_answers']} answers.", "",
                  "| t | clean | incorrect | ROC-AUC | TP | FP | FN | TN | token acc. | TPS acc. (masked) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for row in detection["per_t"] + [dict(detection["pooled"], t="all")]:
            c = row["confusion"]
            auc = "—" if row["roc_auc"] is None else f"{row['roc_auc']:.3f}"
            tps = "—" if row["tps_masked_accuracy"] is None else f"{row['tps_masked_accuracy']:.3f}"
            lines.append(f"| {row['t']} | {row['n_clean']} | {row['n_incorrect']} | {auc} | {c['tp']} | "
                         f"{c['fp']} | {c['fn']} | {c['tn']} | {row['token_accuracy']:.3f} | {tps} |")
    trajectory = report["trajectory"]
    lines += ["", "## Trajectory", "",
              f"Problem {trajectory['problem']} ({trajectory['chosen_by']}) under {trajectory['setting']}: "
              f"positions corrected "
              f"(wrong → remasked → final) {trajectory['corrected']}. See trajectory.html / trajectory.png.", ""]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    model, tokenizer = load_model_and_tokenizer(args.model, args.ups, args.device, args.dtype)
    ids = special_token_ids(tokenizer)
    problems, data_notes = load_problems(args, tokenizer, getattr(model.config, "max_sequence_length", None))
    if not problems:
        raise ValueError("no problems to evaluate: " + "; ".join(data_notes))
    has_ups = model_has_ups(model, ids["eos_id"])
    options = SamplerOptions(args.gen_length, args.batch_size, args.temperature, args.cfg_scale,
                             args.confidence_eos_eot_inf, args.stop_at_eos)
    steps = parse_steps(args.steps, args.gen_length)
    caches, cache_notes = usable_caches(list(dict.fromkeys(args.kv_cache)), model.config)
    settings, notes = build_grid(args.sources, [m == "on" for m in args.remask_modes], steps,
                                 args.block_lengths or [args.gen_length], args.gen_length, has_ups, caches,
                                 list(dict.fromkeys(args.thresholds)))
    notes = cache_notes + notes
    if not settings:
        raise ValueError("no valid sampler setting: " + "; ".join(notes))
    notes = data_notes + notes
    os.makedirs(args.out, exist_ok=True)  # only now: a refused run leaves no folder behind
    print(f"scoring {len(problems)} problems of {args.data} under {len(settings)} sampler settings")
    if "math" in {fmt for _, _, fmt in problems} and answers.math_verify is None:
        notes.append("math-verify is not installed: MATH answers were compared as normalised strings")

    results = run_grid(model, tokenizer, problems, settings, options, args.seed)
    formats = sorted({fmt for _, _, fmt in problems})
    grading = {"formats": formats,
               "conventional_formats": sorted({answers.conventional_format(fmt) for fmt in formats}),
               "conventional_differs": conventional_grading_differs(results)}
    if not grading["conventional_differs"]:  # one score per setting when both gradings agree
        for result in results:
            del result["correct_conventional"]
    results = add_confidence_intervals(results, args.n_boot, args.seed)
    detection = None
    if args.no_detection:
        notes.append("UPS detection not run (--no-detection)")
    elif not has_ups:
        notes.append("UPS detection not run: the model has no UPS head")
    else:
        detection = run_detection(model, tokenizer, problems, args)

    report = {
        "config": vars(args),
        "environment": {"torch": torch.__version__, "python": platform.python_version(),
                        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
                        "math_verify": answers.math_verify is not None},
        "n_problems": len(problems),
        "notes": notes,
        "grading": grading,
        "settings": results,
        "latency_by_source": latency_by_source(results),
        "detection": detection,
        "trajectory": draw_trajectory(model, tokenizer, problems, trajectory_setting(settings), options, args),
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(markdown_report(report))
    figures = {"accuracy": plots.accuracy_figure(results), "mask_counts": plots.mask_counts_by_setting_figure(results),
               "remasks": plots.remask_figure(results), "passes": plots.passes_figure(results)}
    for name, figure in figures.items():
        if figure is not None:
            figure.savefig(os.path.join(args.out, f"{name}.png"), dpi=120)
    print(markdown_report(report))
    print(f"results written to {args.out}")
    return report


if __name__ == "__main__":
    run_cli(main)
