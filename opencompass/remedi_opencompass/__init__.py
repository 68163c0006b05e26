"""OpenCompass plugin: LLaDA/RemeDi model wrappers, an offline GSM8K loader and a strict final-answer
evaluator for the pip-installed OpenCompass."""

from .datasets import GSM8KJsonlDataset
from .dllm import RemeDiBaseModel, RemeDiChatModel
from .grading import StrictFinalAnswerEvaluator, strict_correct

__all__ = ["GSM8KJsonlDataset", "RemeDiBaseModel", "RemeDiChatModel", "StrictFinalAnswerEvaluator", "strict_correct"]
