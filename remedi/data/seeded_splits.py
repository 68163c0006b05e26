"""Train/val/test splits of a generated task drawn from one seeded stream, so no test problem is trained on,
and a fresh test set from an independent stream: what the arith-chain and Sudoku generators share."""

import random


def seeded_splits(draw, seed, n_train, n_val, n_test, fresh_seed=None):
    """Dict split name -> list of records; 'test_fresh' is present when fresh_seed is given.

    `draw(rng, n, exclude)` returns n records with distinct questions, none of them in `exclude` (a set of
    question strings); the fresh test set excludes the train and val questions.
    """
    records = draw(random.Random(seed), n_train + n_val + n_test, ())
    splits = {
        "train": records[:n_train],
        "val": records[n_train : n_train + n_val],
        "test": records[n_train + n_val :],
    }
    if fresh_seed is not None:
        if fresh_seed == seed:
            raise ValueError("--fresh-seed must differ from --seed, or the fresh test set is not fresh")
        exclude = {r["question"] for r in splits["train"] + splits["val"]}
        splits["test_fresh"] = draw(random.Random(fresh_seed), n_test, exclude)
    return splits
