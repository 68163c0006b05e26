"""Strict grading of GSM8K-schema answers, for tasks whose answer format is part of what is learned.

OpenCompass's GSM8K path takes the last number anywhere in a completion, so a bare '3' or '#### 03'
counts as right. The arithmetic demo task trains the model to finish with '#### <number>', and a
completion that does not is wrong. `strict_correct` is the one place that rule lives in the plugin;
`StrictFinalAnswerEvaluator` applies it to raw completions (no prediction postprocessor).
"""

import re
from typing import List, Optional

from opencompass.openicl.icl_evaluator import BaseEvaluator

# '####', then one answer token, then nothing but whitespace to the end of the text.
_FINAL_ANSWER = re.compile(r"####[ \t]*(\S+)\s*$")


def final_answer(text: str) -> Optional[str]:
    """The token after '####' when '#### <token>' ends the text, else None."""
    found = _FINAL_ANSWER.search(text)
    return found.group(1) if found else None


def strict_correct(completion: str, reference: str) -> bool:
    """Whether `completion` ends in '#### <answer>' with the reference's final answer, character for
    character ('#### 03' is not '#### 3'). `reference` is a GSM8K-schema solution ending in '#### N'."""
    gold = final_answer(reference)
    if gold is None:
        raise ValueError(f"reference does not end in '#### <answer>': {reference[-40:]!r}")
    return final_answer(completion) == gold


class StrictFinalAnswerEvaluator(BaseEvaluator):
    """Accuracy (percent) under `strict_correct`; give it raw completions and raw reference solutions."""

    def score(self, predictions: List[str], references: List[str]) -> dict:
        if len(predictions) != len(references):
            return {"error": f"{len(predictions)} predictions for {len(references)} references"}
        details = [
            {"pred": completion, "answer": final_answer(reference), "correct": strict_correct(completion, reference)}
            for completion, reference in zip(predictions, references)
        ]
        correct = sum(detail["correct"] for detail in details)
        return {"accuracy": 100 * correct / len(details), "details": details}
