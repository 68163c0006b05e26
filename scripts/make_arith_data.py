"""Generate the arithmetic-chain demo task in GSM8K's schema: train/val/test (and a fresh test) jsonl.

A problem is a chain of `--num-ops` additions/subtractions worked one operation per line, e.g.

    {"question": "Compute 4 - 1 - 3 + 1 + 4.", "answer": "4-1=3\n3-3=0\n0+1=1\n1+4=5\n#### 5"}

The last line is GSM8K's `#### <number>`, so the evaluation path that scores GSM8K (take the number
after '####') scores this task unchanged.

Ranges:
  - operands: integers drawn uniformly from [0, max_value] (default 9);
  - operators: '+' or '-' with equal probability; `--num-ops` of them (default 4), or, with
    `--min-ops M`, a count drawn uniformly from M..num_ops per problem (then a valid chain of that length);
  - every intermediate and final result must lie in [0, max_value]; chains that leave it are redrawn,
    so problems are uniform over the valid chains (10 * 11**4 = 146,410 for the defaults, whose
    final answers are uniform over 0..9).
Why these defaults: each worked line is a one-digit lookup given the line above, which the shipped
0.76M-parameter model learns in ~1,600 steps on the CPU, while the final result depends on all five
operands, which it mostly fails to compute in one parallel step (measured numbers, with the commands
that produce them, in models/remedi-tiny-arith/README.md). Two-digit chains (`--max-value 99
--num-ops 2`) were not learned in 1,000 steps in our probes.
`--fixed-width` zero-pads numbers to max_value's digit count so every problem of a given operator
pattern has the same character layout.
Variable-layout chains (`--min-ops 3 --num-ops 6 --max-value 99`) do the opposite: the number of lines
and the width of every number change from problem to problem, so where a result digit sits in the
answer depends on the problem, and an unmasking order cannot be learned from positions alone.
`--labels` names the operands ("Compute a=17 b=-2 c=+13.", worked lines "b:17-2=15"): a worked line
then finds its operand by matching a letter instead of counting operators. A 1.1M-parameter backbone
trained 6000 steps on unlabelled 0..99 chains found the operand of a line 2% of the time and its result
6% (scripts/chains_probe.py, tail masked), so the labelled chains use `--labels --max-value 19`.

Splits: questions are unique within and across train/val/test (drawn without replacement from one
seeded stream), so no test question is ever trained on. `--fresh-seed S` additionally writes
`test_fresh.jsonl` from an independent stream seeded with S, excluding the train and val questions:
a second sample of the test distribution, whose accuracy must match test.jsonl within noise.

    python scripts/make_arith_data.py                     # data/arith/{train,val,test}.jsonl
    python scripts/make_arith_data.py --fresh-seed 1234   # ... and test_fresh.jsonl
    python scripts/make_arith_data.py --min-ops 3 --num-ops 6 --max-value 99 --fresh-seed 1234 --out-dir data/chains
    python scripts/make_arith_data.py --min-ops 3 --num-ops 6 --max-value 19 --labels --n-train 100000 \
        --fresh-seed 1234 --out-dir data/chains19l
"""

import argparse
import json
from pathlib import Path

from remedi.cli import run_cli
from remedi.data.arith_chains import make_splits


def write_jsonl(records, path):
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="data/arith")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh-seed", type=int, default=None, help="also write test_fresh.jsonl from this seed")
    parser.add_argument("--n-train", type=int, default=20_000)
    parser.add_argument("--n-val", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=1_000)
    parser.add_argument("--num-ops", type=int, default=4, help="operations per chain (the most, with --min-ops)")
    parser.add_argument("--min-ops", type=int, default=None,
                        help="draw each chain's operation count uniformly from MIN_OPS..NUM_OPS (default: NUM_OPS)")
    parser.add_argument("--max-value", type=int, default=9, help="operands and all results lie in [0, max_value]")
    parser.add_argument("--fixed-width", action="store_true", help="zero-pad numbers to max_value's digit count")
    parser.add_argument("--labels", action="store_true",
                        help="name the operands a, b, c, ... in the question and start each worked line with its letter")
    args = parser.parse_args(argv)
    if args.num_ops < 1 or args.max_value < 1:
        parser.error("--num-ops and --max-value must be at least 1")
    if args.min_ops is not None and not 1 <= args.min_ops <= args.num_ops:
        parser.error("--min-ops must lie in 1..--num-ops")
    if args.labels and args.num_ops > 25:
        parser.error("--labels names at most 26 operands: use --num-ops 25 or less")

    splits = make_splits(args.seed, args.n_train, args.n_val, args.n_test, args.num_ops, args.max_value,
                         args.fresh_seed, args.fixed_width, args.min_ops, args.labels)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, records in splits.items():
        path = out_dir / f"{name}.jsonl"
        write_jsonl(records, path)
        print(f"{path}: {len(records)} problems, {path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    run_cli(main)
