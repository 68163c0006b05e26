"""The Python side of the tasks in this folder: offline data read from the repository, strict grading, and
the multiple-choice endings. lm-eval loads it through the YAML files' `!function` entries."""

import random
from pathlib import Path

from datasets import Dataset, DatasetDict

from remedi.data import load_local_pairs
from remedi.grading.answers import extract_strict, grade

TASK_DIR = Path(__file__).resolve().parent
WRONG_CHOICES = 3


def load_problems(data_file, **_ignored):
    """The `test` split from a JSONL file of GSM8K-style rows (`question`, `answer` ending in '#### <n>'),
    `data_file` relative to this folder, so the tasks run from any clone and any working directory.

    Each row also gets what the multiple-choice tasks need: `worked`, the reference solution up to the '='
    of its last line (the context the model continues), `choices`, the right final number and three wrong
    ones drawn from the other rows' final numbers (seeded by the row's index, so every run and process sees
    the same), in shuffled order, and `gold`, the index of the right one. lm-eval also passes the task's
    metadata and every model_arg as keywords (`_ignored`); none of them changes the data.
    """
    pairs = load_local_pairs(str(TASK_DIR / data_file), "question", "answer")
    finals = sorted({extract_strict(answer) for _, answer in pairs}, key=float)
    rows = []
    for index, (question, answer) in enumerate(pairs):
        right = extract_strict(answer)
        worked, tail = answer.rsplit("=", 1)
        if right is None or tail != answer_ending(right):
            raise ValueError(f"{data_file} row {index}: the answer must end in '<n>\\n#### <n>', got {tail!r}")
        rng = random.Random(index)
        choices = [right] + rng.sample([n for n in finals if n != right], WRONG_CHOICES)
        rng.shuffle(choices)
        rows.append({"question": question, "answer": answer, "worked": worked + "=", "choices": choices,
                     "gold": choices.index(right)})
    return DatasetDict({"test": Dataset.from_list(rows)})


def answer_ending(number):
    """How a solution ends after its last '=': the last line's result, then the '#### <n>' line."""
    return f"{number}\n#### {number}"


def answer_endings(doc):
    """The multiple-choice continuations of `worked`: each choice written as the model ends a solution."""
    return [answer_ending(number) for number in doc["choices"]]


def strict_match(doc, results):
    """exact_match 1 when the completion ends in '#### <the reference's number>', graded by the same function as
    `python -m remedi.eval --answer-format strict`."""
    return {"exact_match": float(grade(results[0], doc["answer"], "strict")[1])}
