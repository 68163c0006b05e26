"""RemeDi: remasking-enabled diffusion language models on top of LLaDA."""

from remedi.model.config import LLaDAConfig
from remedi.model.llada import LLaDAModelLM
from remedi.model.ups import RemeDiModel
from remedi.model.ups_heads import UPSHead
from remedi.model.ups_registry import build_ups, load_ups, save_ups
from remedi.model.ups_stream import UPSStream
from remedi.sampler.sampling import generate

__all__ = ["LLaDAConfig", "LLaDAModelLM", "RemeDiModel", "UPSHead", "UPSStream", "build_ups", "generate", "load_ups",
           "save_ups"]
