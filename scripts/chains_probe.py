"""Probe what a chains backbone has learned: operand lookup and arithmetic, one at a time.

Strict accuracy says only that whole chains fail. This probe says which skill is missing. For problem
i it takes worked line k = i mod (number of lines), e.g. "c:15-2=13", feeds the reference answer up to
one number of that line and masks that number *and everything after it*, then checks the one-pass
greedy prediction of the number's digits:
  - lookup: operand b ("2"), read from the question;
  - arithmetic: the result ("13"), computed from the two operands just before it.
Masking the whole tail matters: every result is repeated at the start of the next line (and after
'####'), so with the tail visible a model scores well by copying and learns nothing about either skill.

    python scripts/chains_probe.py --model out/chains-mdm-l6 --data data/chains/val.jsonl --gen-length 64
    python scripts/chains_probe.py --model out/chains19l-mdm --checkpoint out/chains19l-mdm/checkpoints/step-00002000.ckpt \
        --data data/chains19l/val.jsonl --gen-length 80    # an earlier step of the same training run

Works for plain ("36+54=90") and labelled ("b:36+54=90") worked lines.
"""

import argparse
import json

from remedi.cli import run_cli
from remedi.data.sources import check_json_lines
from remedi.eval.chains_probe import load_training_checkpoint, run_probe
from remedi.eval.report import interval
from remedi.eval.stats import accuracy_ci, bootstrap_indices
from remedi.model.loading import load_model_and_tokenizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a chains backbone directory")
    parser.add_argument("--data", required=True, help="jsonl of chains problems (question, answer)")
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--gen-length", type=int, default=64, help="answer tokens, as when sampling")
    parser.add_argument("--checkpoint", default=None,
                        help="a train_mdm.py checkpoint (.ckpt, full training) to probe instead of --model's weights")
    parser.add_argument("--out", default=None, help="also write the result as json here")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    check_json_lines(args.data)
    with open(args.data) as f:
        records = [json.loads(line) for line in f if line.strip()][: args.limit]
    if not records:
        raise ValueError(f"{args.data} holds no problems")
    model, tokenizer = load_model_and_tokenizer(args.model)
    if args.checkpoint:
        load_training_checkpoint(model, args.checkpoint)
    correct = run_probe(model, tokenizer, records, args.gen_length)
    indices = bootstrap_indices(len(records))
    result = {"model": args.model, "data": args.data, "n": len(records)}
    for part, scores in correct.items():
        result[part] = accuracy_ci(scores, indices)
        print(f"{part:>10}: {interval(result[part], '%')} of {len(records)} problems")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    run_cli(main)
