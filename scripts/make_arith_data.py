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
import random
from pathlib import Path

from remedi.cli import run_cli


def sample_chain(rng, num_ops, max_value):
    """Operands and operators of one valid chain (all partial results in [0, max_value])."""
    while True:
        operands = [rng.randint(0, max_value) for _ in range(num_ops + 1)]
        operators = [rng.choice("+-") for _ in range(num_ops)]
        value, ok = operands[0], True
        for op, b in zip(operators, operands[1:]):
            value = value + b if op == "+" else value - b
            ok = ok and 0 <= value <= max_value
        if ok:
            return operands, operators


def format_problem(operands, operators, width=0, labels=False):
    """The GSM8K-schema record: question, and one worked line per operation then '#### result'.

    width > 0 zero-pads every number of the question and of the worked lines to that many digits, so
    that all problems share one character layout; the final '#### result' stays a plain integer.
    labels=True names the operands a, b, c, ... in the question ("Compute a=36 b=+54 c=-7.") and starts
    the worked line of operand b with "b:", so a line finds its operand by matching the letter instead
    of counting operators in a question whose layout varies.
    """
    n = lambda v: str(v).zfill(width)
    letters = "abcdefghijklmnopqrstuvwxyz"
    if labels and len(operands) > len(letters):
        raise ValueError(f"labels name at most {len(letters)} operands, got {len(operands)}")
    if labels:
        terms = [f"a={n(operands[0])}"] + [f"{letters[i + 1]}={op}{n(b)}" for i, (op, b) in
                                           enumerate(zip(operators, operands[1:]))]
    else:
        terms = [n(operands[0])]
        for op, b in zip(operators, operands[1:]):
            terms += [op, n(b)]
    lines, value = [], operands[0]
    for i, (op, b) in enumerate(zip(operators, operands[1:])):
        result = value + b if op == "+" else value - b
        label = f"{letters[i + 1]}:" if labels else ""
        lines.append(f"{label}{n(value)}{op}{n(b)}={n(result)}")
        value = result
    lines.append(f"#### {value}")
    return {"question": f"Compute {' '.join(terms)}.", "answer": "\n".join(lines)}


def draw_unique(rng, n, num_ops, max_value, width=0, exclude=(), min_ops=None, labels=False):
    """n records with distinct questions, none of them in `exclude` (a set of question strings).

    min_ops (default num_ops) < num_ops draws each problem's operation count uniformly from
    min_ops..num_ops; with min_ops == num_ops the random stream is the one-length stream of before.
    """
    min_ops = num_ops if min_ops is None else min_ops
    seen, records = set(exclude), []
    attempts = 0
    while len(records) < n:
        attempts += 1
        if attempts > 100 * n + 10_000:
            raise ValueError(f"cannot draw {n} distinct new problems with num_ops={num_ops}, max_value={max_value}")
        ops = num_ops if min_ops == num_ops else rng.randint(min_ops, num_ops)
        record = format_problem(*sample_chain(rng, ops, max_value), width, labels)
        if record["question"] not in seen:
            seen.add(record["question"])
            records.append(record)
    return records


def make_splits(seed=0, n_train=20_000, n_val=500, n_test=1_000, num_ops=4, max_value=9, fresh_seed=None,
                fixed_width=False, min_ops=None, labels=False):
    """Dict split name -> list of records; 'test_fresh' is present when fresh_seed is given."""
    width = len(str(max_value)) if fixed_width else 0
    records = draw_unique(random.Random(seed), n_train + n_val + n_test, num_ops, max_value, width,
                          min_ops=min_ops, labels=labels)
    splits = {
        "train": records[:n_train],
        "val": records[n_train : n_train + n_val],
        "test": records[n_train + n_val :],
    }
    if fresh_seed is not None:
        if fresh_seed == seed:
            raise ValueError("--fresh-seed must differ from --seed, or the fresh test set is not fresh")
        exclude = {r["question"] for r in splits["train"] + splits["val"]}
        splits["test_fresh"] = draw_unique(random.Random(fresh_seed), n_test, num_ops, max_value, width, exclude,
                                           min_ops, labels)
    return splits


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
