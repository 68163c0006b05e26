"""Load a model (+ optional UPS head) and its tokenizer from a name or a directory."""

import os
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoTokenizer

from remedi.model.llada import LLaDAModelLM
from remedi.model.release import is_release_checkpoint
from remedi.model.tiny import build_tiny_random
from remedi.model.tokenizer import build_char_tokenizer
from remedi.model.ups import RemeDiModel
from remedi.model.ups_registry import UPS_CONFIG_NAME, load_ups

TINY_RANDOM = "tiny-random"
# What generate.py, chat.py and app.py load when --model is not given: the tiny model trained on the
# arithmetic-chain task and shipped in the repository (see its README.md for how it was made).
DEFAULT_MODEL = str(Path(__file__).resolve().parents[2] / "models" / "remedi-tiny-arith")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_model_and_tokenizer(model_path=DEFAULT_MODEL, ups_path=None, device="cpu", dtype="float32"):
    """`model_path` is `tiny-random` (built in, untrained) or a directory with config.json, weights and
    tokenizer files. UPS weights come from `ups_path`, else from a `ups/` folder inside `model_path` if
    there is one; without them the model has no UPS head and the sampler falls back to TPS confidence.
    A RemeDi release checkpoint (RemeDi-Instruct / RemeDi-RL) brings its own UPS stream."""
    if model_path == TINY_RANDOM:
        model, tokenizer = build_tiny_random()
        if ups_path is not None:
            model = RemeDiModel(model.backbone, load_ups(ups_path))
        return model.to(device=device, dtype=DTYPES[dtype]).eval(), tokenizer
    if not os.path.isdir(model_path):
        raise FileNotFoundError(f"model directory {model_path!r} does not exist (or use {TINY_RANDOM!r})")
    if not os.path.isfile(os.path.join(model_path, "config.json")):
        raise FileNotFoundError(f"{model_path!r} is not a model directory (it has no config.json): give the folder "
                                f"that holds config.json and the weights, or {TINY_RANDOM!r}")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    with weights_read_from(model_path):
        release = is_release_checkpoint(model_path)
    if release:  # RemeDi-Instruct / RemeDi-RL: backbone and UPS stream in one file
        with weights_read_from(model_path):
            model = RemeDiModel.from_pretrained(model_path, ups_path=ups_path, dtype=DTYPES[dtype])
        return model.to(device=device).eval(), tokenizer
    model = load_backbone(model_path, DTYPES[dtype])
    bundled = os.path.join(model_path, "ups")
    if ups_path is None and os.path.isfile(os.path.join(bundled, UPS_CONFIG_NAME)):
        ups_path = bundled
    if ups_path is not None:
        model = RemeDiModel(model, load_ups(ups_path))
    return model.to(device=device, dtype=DTYPES[dtype]).eval(), tokenizer


@contextmanager
def weights_read_from(model_path):
    """A damaged weights file becomes a ValueError that names its folder (a user's file to replace), not
    safetensors' bare header error."""
    try:
        yield
    except SafetensorError as error:
        raise ValueError(f"the weights in {str(model_path)!r} cannot be read ({error}): the file is damaged or "
                         "incomplete; copy or download it again") from None


def load_backbone(model_path, dtype=torch.float32):
    """`LLaDAModelLM.from_pretrained` for the entry points: a damaged weights file is the user's error."""
    with weights_read_from(model_path):
        return LLaDAModelLM.from_pretrained(model_path, dtype=dtype)


def load_tokenizer(model_path=None, tokenizer_path=None):
    """The trainers' tokenizer: `tokenizer_path`, else the model's own (a directory holding tokenizer files,
    or a hub id), else the character tokenizer (fresh tiny models)."""
    source = tokenizer_path
    if source is None and model_path is not None:
        model_dir = Path(model_path)
        if not model_dir.is_dir() or (model_dir / "tokenizer_config.json").is_file():
            source = model_path
    return build_char_tokenizer() if source is None else AutoTokenizer.from_pretrained(source)
