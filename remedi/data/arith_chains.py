"""Arithmetic chains in GSM8K's schema, worked one operation per line and drawn from a seeded stream: the
generator behind scripts/make_arith_data.py (whose docstring describes the ranges and splits).

A library module so that the data script and the tests draw the same problems.
"""

from remedi.data.seeded_splits import seeded_splits


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

    def draw(rng, n, exclude):
        return draw_unique(rng, n, num_ops, max_value, width, exclude, min_ops, labels)

    return seeded_splits(draw, seed, n_train, n_val, n_test, fresh_seed)
