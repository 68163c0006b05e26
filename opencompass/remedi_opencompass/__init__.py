"""OpenCompass plugin: LLaDA/RemeDi model wrappers, an offline GSM8K loader, a strict final-answer
evaluator and a Sudoku evaluator (givens read from the question) for the pip-installed OpenCompass."""

from .datasets import GSM8KJsonlDataset
from .dllm import RemeDiBaseModel, RemeDiChatModel
from .grading import StrictFinalAnswerEvaluator, SudokuEvaluator, strict_correct

__all__ = ["GSM8KJsonlDataset", "RemeDiBaseModel", "RemeDiChatModel", "StrictFinalAnswerEvaluator", "SudokuEvaluator",
           "strict_correct"]
