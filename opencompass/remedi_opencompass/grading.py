"""Strict grading of GSM8K-schema answers, for tasks whose answer format is part of what is learned.

OpenCompass's GSM8K path takes the last number anywhere in a completion, so a bare '3' counts as
right. The arithmetic demo task trains the model to finish with '#### <number>', and a
completion that does not is wrong. `strict_correct` applies remedi.eval's strict rule in the plugin;
`StrictFinalAnswerEvaluator` applies it to raw completions (no prediction postprocessor).

A Sudoku puzzle may have several solutions, so the reference grid alone cannot grade it:
`SudokuEvaluator` reads each row's givens from its question, as `python -m remedi.eval
--answer-format sudoku` does, through the same `grade` function.
"""

from typing import List

from opencompass.openicl.icl_evaluator import BaseEvaluator

from remedi.grading.answers import extract_strict, grade


def strict_correct(completion: str, reference: str) -> bool:
    """Whether `completion` ends in '#### <number>' with the reference's final number, graded by the same
    function as `python -m remedi.eval --answer-format strict`. `reference` must end in '#### N'."""
    if extract_strict(reference) is None:
        raise ValueError(f"reference does not end in '#### <number>': {reference[-40:]!r}")
    return bool(grade(completion, reference, "strict")[1])


class StrictFinalAnswerEvaluator(BaseEvaluator):
    """Accuracy (percent) under `strict_correct`; give it raw completions and raw reference solutions."""

    def score(self, predictions: List[str], references: List[str]) -> dict:
        if len(predictions) != len(references):
            return {"error": f"{len(predictions)} predictions for {len(references)} references"}
        details = [
            {"pred": completion, "answer": extract_strict(reference), "correct": strict_correct(completion, reference)}
            for completion, reference in zip(predictions, references)
        ]
        correct = sum(detail["correct"] for detail in details)
        return {"accuracy": 100 * correct / len(details), "details": details}


class SudokuEvaluator(BaseEvaluator):
    """Accuracy (percent) under remedi.eval's sudoku format: a completion is right when it ends in a '####'
    grid that is a valid Sudoku and keeps every given of its row's question.

    `score` names `test_set`, so OpenCompass passes the dataset rows and the questions come with them
    (the reader's output column holds only the reference solution). Give it raw completions.
    """

    def score(self, predictions: List[str], references: List[str], test_set) -> dict:
        questions = test_set["question"]
        if not len(predictions) == len(references) == len(questions):
            return {"error": f"{len(predictions)} predictions for {len(references)} references "
                             f"and {len(questions)} questions"}
        details = []
        for completion, reference, question in zip(predictions, references, questions):
            grid, correct = grade(completion, reference, "sudoku", question)
            details.append({"pred": completion, "grid": grid, "answer": reference, "correct": correct})
        correct = sum(detail["correct"] for detail in details)
        return {"accuracy": 100 * correct / len(details), "details": details}
