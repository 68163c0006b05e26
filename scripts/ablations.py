"""Ablations on the tiny arithmetic model: Remask SFT knobs and sampler settings, one table.

Remask SFT knobs are varied one at a time around the shipped model's recipe (r_incorrect 0.3, label
smoothing 0.1, replacements from the batch, lambda_ups 1, ups_width 256), each a short `--train ups`
run on the same trained backbone, scored at a reduced step budget. Sampler settings (steps x block length, EOS/EoT gating, CFG, temperature) are scored on
the default UPS without retraining. Every row comes from the trainer and `python -m remedi.eval`:

    python scripts/ablations.py --backbone out/arith-mdm --default-ups out/arith-ups-mlp

writes runs/ablations/ablations.json, ablations.md and paper/generated/ablations.{tex,md}.
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from remedi.cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
TRAINER = [sys.executable, str(ROOT / "SMDM" / "pretrain" / "train_mdm.py")]
EVALUATOR = [sys.executable, "-m", "remedi.eval"]

RECIPE = {"--r-incorrect": "0.3", "--ups-label-smoothing": "0.1", "--replacement": "batch", "--lambda-ups": "1",
          "--ups-width": "256"}
TRAINING_VARIANTS = [
    ("shipped recipe", []),
    ("r_incorrect=0.05", ["--r-incorrect", "0.05"]),
    ("r_incorrect=0.1", ["--r-incorrect", "0.1"]),
    ("r_incorrect=0.2", ["--r-incorrect", "0.2"]),
    ("no label smoothing", ["--ups-label-smoothing", "0"]),
    ("uniform replacements", ["--replacement", "uniform"]),
    ("lambda_ups=0.5", ["--lambda-ups", "0.5"]),
    ("lambda_ups=2", ["--lambda-ups", "2"]),
    ("ups_width=0 (linear)", ["--ups-width", "0"]),
    ("ups_width=64", ["--ups-width", "64"]),
    ("ups_width=1024", ["--ups-width", "1024"]),
]

SAMPLER_VARIANTS = [
    ("steps=8 block=32", ["--steps", "8", "--block-lengths", "32"]),
    ("steps=8 block=16", ["--steps", "8", "--block-lengths", "16"]),
    ("steps=8 block=8", ["--steps", "8", "--block-lengths", "8"]),
    ("steps=16 block=8", ["--steps", "16", "--block-lengths", "8"]),
    ("steps=8 EOS/EoT gating", ["--steps", "8", "--confidence-eos-eot-inf"]),
    ("steps=8 cfg=1", ["--steps", "8", "--cfg-scale", "1"]),
    ("steps=8 temperature=0.5", ["--steps", "8", "--temperature", "0.5"]),
]


COLUMNS = ["random", "random+remask", "tps_prob", "tps_prob+remask", "ups", "ups+remask",
           "ups_remasks_per_answer", "ups_auc"]


GROUP_TITLES = {"Remask SFT": "Remask SFT: one knob changed from the shipped recipe, UPS retrained",
                "sampler": "Sampler settings: the shipped UPS, no retraining"}


def cell(row, column):
    value = row.get(column)
    if value is None:
        return "--"
    return f"{value:.2f}" if column in ("ups_remasks_per_answer", "ups_auc") else f"{100 * value:.1f}"


def latex_table(rows, limit, eval_steps):
    """The table of the paper, as narrow as the page: remask off/on under each source, one block per group."""
    header = [r"\begin{table}[!htbp]\centering\small", r"\begin{tabular}{lrrrrrrrr}", r"\toprule",
              r" & \multicolumn{2}{c}{random} & \multicolumn{2}{c}{tps\_prob} & \multicolumn{2}{c}{ups} & & \\",
              r"\cmidrule(lr){2-3}\cmidrule(lr){4-5}\cmidrule(lr){6-7}",
              r"variant & off & on & off & on & off & on & remasks & AUC \\"]
    body = []
    for group in dict.fromkeys(r["group"] for r in rows):
        body += [r"\midrule", rf"\multicolumn{{9}}{{l}}{{\emph{{{GROUP_TITLES.get(group, group)}}}}} \\"]
        body += [r["variant"].replace("_", r"\_") + " & " + " & ".join(cell(r, c) for c in COLUMNS) + r" \\"
                 for r in rows if r["group"] == group]
    footer = [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{Ablations: accuracy (\%) on the first {limit} test problems with remasking off and on "
              rf"for each confidence source (Remask SFT rows at {eval_steps} steps for 32 tokens). remasks: tokens "
              r"remasked per answer by ups with remasking; AUC: UPS detection ROC-AUC. Source: "
              r"\texttt{runs/ablations/ablations.json}, written by \texttt{scripts/ablations.py}.}",
              r"\label{tab:ablations}", r"\end{table}"]
    return "\n".join(header + body + footer) + "\n"


def run(command):
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def summarise(results_path):
    """One row: accuracy of each (source, remask) setting, remasks per answer, detection AUC."""
    results = json.loads(Path(results_path).read_text())
    row = {}
    for s in results["settings"]:
        key = f"{s['source']}{'+remask' if s['remask'] else ''}"
        row[key] = s["accuracy"]["mean"]
        if s["source"] == "ups" and s["remask"]:
            row["ups_remasks_per_answer"] = s["remasks_per_answer"]
    detection = results.get("detection")
    row["ups_auc"] = None if not detection else detection["pooled"]["roc_auc"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="out/arith-mdm", help="the trained TPS model directory")
    parser.add_argument("--default-ups", default="models/remedi-tiny-arith", help="model used for the sampler rows")
    parser.add_argument("--data", default="data/arith")
    parser.add_argument("--steps", type=int, default=300, help="Remask SFT steps per training variant")
    parser.add_argument("--eval-steps", default="8", help="step budget of the training-variant rows")
    parser.add_argument("--limit", type=int, default=500, help="test problems per row")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "ablations")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    common_eval = ["--data", f"{args.data}/test.jsonl", "--gen-length", "32", "--limit", str(args.limit),
                   "--batch-size", "100", "--seed", "0", "--n-boot", "1000", "--answer-format", "strict"]
    rows = []
    for name, flags in TRAINING_VARIANTS:
        slug = name.replace(" ", "-").replace("=", "-")
        recipe = dict(RECIPE)
        recipe.update(zip(flags[::2], flags[1::2]))
        model_dir = args.out / f"train-{slug}"
        if not (model_dir / "ups").is_dir():
            run(TRAINER + ["--objective", "remask_sft", "--train", "ups", "--model-path", args.backbone,
                           "--mode", "sft", "--data", f"{args.data}/train.jsonl", "--val-fraction", "0",
                           "--prompt-column", "question", "--response-column", "answer", "--seq-len", "81",
                           "--micro-batch-size", "64", "--max-steps", str(args.steps), "--lr", "3e-3",
                           "--warmup-steps", "30", "--save-every", str(args.steps), "--seed", "0",
                           "--out-dir", str(model_dir), *[x for item in recipe.items() for x in item]])
        eval_dir = args.out / f"eval-{slug}"
        run(EVALUATOR + ["--model", str(model_dir), "--steps", args.eval_steps, "--sources", "tps_prob", "ups",
                         "--out", str(eval_dir), *common_eval])
        rows.append({"group": "Remask SFT", "variant": name, **summarise(eval_dir / "results.json")})
    for name, flags in SAMPLER_VARIANTS:
        slug = name.replace(" ", "_").replace("/", "").replace("=", "-")
        eval_dir = args.out / f"sampler-{slug}"
        run(EVALUATOR + ["--model", args.default_ups, "--sources", "random", "tps_prob", "ups", "--no-detection",
                         "--out", str(eval_dir), *common_eval, *flags])
        rows.append({"group": "sampler", "variant": name, **summarise(eval_dir / "results.json")})

    (args.out / "ablations.json").write_text(json.dumps(rows, indent=2))
    md = ["| group | variant | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    md += [f"| {r['group']} | {r['variant']} | " + " | ".join(cell(r, c) for c in COLUMNS) + " |" for r in rows]
    (args.out / "ablations.md").write_text(
        f"Accuracy (%) on the first {args.limit} test problems; training rows at steps={args.eval_steps}.\n\n"
        + "\n".join(md) + "\n")
    generated = ROOT / "paper" / "generated"
    generated.mkdir(parents=True, exist_ok=True)
    (generated / "ablations.tex").write_text(latex_table(rows, args.limit, args.eval_steps))
    shutil.copy(args.out / "ablations.md", generated / "ablations.md")
    print((args.out / "ablations.md").read_text())


if __name__ == "__main__":
    run_cli(main)
