"""OpenCompass plugin: LLaDA/RemeDi model wrappers and an offline GSM8K loader for the pip-installed OpenCompass."""

from .datasets import GSM8KJsonlDataset
from .dllm import RemeDiBaseModel, RemeDiChatModel

__all__ = ["GSM8KJsonlDataset", "RemeDiBaseModel", "RemeDiChatModel"]
