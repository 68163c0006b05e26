"""RemeDi: remasking-enabled diffusion language models on top of LLaDA."""

from .config import LLaDAConfig
from .model import LLaDAModelLM
from .ups import RemeDiModel
from .ups_heads import UPSHead
from .ups_registry import build_ups, load_ups, save_ups
from .ups_stream import UPSStream

__all__ = ["LLaDAConfig", "LLaDAModelLM", "RemeDiModel", "UPSHead", "UPSStream", "build_ups", "load_ups", "save_ups"]
