"""Verifiable rewards for Remask RL: a completion and the reference solution in, a number out.

    strict   1 if the completion ends in `#### <number>` and the number is the reference's (GSM8K schema)
    gsm8k    1 if GSM8K's conventional extraction (number after the last ####, else the last number) is right
    math     1 if the last \\boxed{} equals the reference's answer (math-verify's symbolic comparison); the
             reference's answer is its \\boxed{} or, for GSM8K-schema references, the number after ####
    auto     math for references with a \\boxed{} answer, else strict
    sudoku   1 if the completion's '####' grid is a valid Sudoku that keeps the puzzle's givens (read from
             the question, so any solution of a puzzle with several counts, as in the eval)
    sudoku_units   graded: the share of the grid's 27 rows, columns and boxes that hold 1..9, 0 if a given
             is changed; 1 exactly when `sudoku` is 1 (for tasks where whole solutions are rare at first)
    MODULE:FUNCTION or FILE.py:FUNCTION   your own `FUNCTION(completion, reference) -> float`

A reward is called as `reward(completion, reference, question)`; a user's two-argument function is
wrapped so that it never sees the question.

`FILE.py:FUNCTION` loads the user's file by its path: a plug-in named on the command line, the one place the
library imports a file that is not a module of an installed package.

Rewards are binary by default. `format_weight` > 0 adds that much for a well-formed final answer
(`#### <number>` at the end, or a \\boxed{}), right or not; it is off by default because it can be
earned without solving anything.
"""

import importlib
import importlib.util
import re
from pathlib import Path

from remedi.grading.answers import answer_format, extract_boxed, extract_gsm8k, grade
from remedi.grading.sudoku import complete_unit_share, extract_sudoku, sudoku_givens

REWARDS = ("auto", "strict", "gsm8k", "math", "sudoku", "sudoku_units")
_FINAL_NUMBER = re.compile(r"####\s*-?[\d,]*\.?\d+\s*$")


def correctness_reward(name):
    """`reward(completion, reference, question=None) -> float` for a built-in name or a user's hook."""
    if name in REWARDS:
        def reward(completion, reference, question=None):
            if name == "sudoku_units":
                givens = sudoku_givens(question) if question is not None else None
                return complete_unit_share(extract_sudoku(completion), givens or sudoku_givens(reference))
            fmt = name
            if name == "auto":
                fmt = "math" if answer_format(reference) == "math" else "strict"
            if fmt == "math" and extract_boxed(reference) is None:  # a GSM8K reference: compare with its number
                reference = "\\boxed{" + str(extract_gsm8k(reference)) + "}"
            return float(grade(completion, reference, fmt, question)[1])

        reward.__name__ = f"{name}_reward"
        return reward
    hook = _user_reward(name)

    def user_reward(completion, reference, question=None):
        return hook(completion, reference)

    user_reward.__name__ = getattr(hook, "__name__", "user_reward")
    return user_reward


def _user_reward(spec):
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise ValueError(f"--reward {spec!r}: use one of {REWARDS} or MODULE:FUNCTION / FILE.py:FUNCTION")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise FileNotFoundError(f"--reward {spec!r}: no file {path}")
        loader_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(loader_spec)
        loader_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise ValueError(f"--reward {spec!r}: cannot import {module_name!r} ({error})") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"--reward {spec!r}: {module_name} has no function {function_name!r}")
    return function


def well_formed(completion, reference):
    """Whether the completion ends in the reference's answer format (right or wrong)."""
    if answer_format(reference) == "math":
        return extract_boxed(completion) is not None
    if extract_sudoku(reference) is not None:
        return extract_sudoku(completion) is not None
    return _FINAL_NUMBER.search(completion.strip()) is not None


def score_completions(reward, completions, references, format_weight=0.0, questions=None):
    """(rewards, correct): `reward` of every completion, plus `format_weight` if well formed, and the
    correctness part alone (what accuracy is computed from). `questions`, one per completion, reach the
    rewards that read them (sudoku)."""
    questions = [None] * len(completions) if questions is None else questions
    correct = [float(reward(c, r, q)) for c, r, q in zip(completions, references, questions)]
    if format_weight == 0:
        return correct, correct
    total = [c + format_weight * well_formed(text, ref) for c, text, ref in zip(correct, completions, references)]
    return total, correct
