"""RemeDi: remasking-enabled diffusion language models on top of LLaDA."""

from .config import LLaDAConfig
from .model import LLaDAModelLM
from .ups import RemeDiModel, UPSHead

__all__ = ["LLaDAConfig", "LLaDAModelLM", "RemeDiModel", "UPSHead"]
