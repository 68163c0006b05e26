"""RemeDi: remasking-enabled diffusion language models on top of LLaDA."""

from .config import LLaDAConfig
from .model import LLaDAModelLM
from .ups import RemeDiModel, UPSHead, load_ups
from .ups_stream import UPSStream

__all__ = ["LLaDAConfig", "LLaDAModelLM", "RemeDiModel", "UPSHead", "UPSStream", "load_ups"]
