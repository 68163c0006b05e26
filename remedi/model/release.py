"""The published RemeDi checkpoints (`iiiutch/RemeDi-Instruct`, `iiiutch/RemeDi-RL`) in our classes.

The release saves one `LLaDAUPMModelLM`: LLaDA-8B's backbone under `model.transformer.*` plus a
dual stream beside it under `model.*` (read off the release's `modelling_llada_bitowel.py`):

    model.blocks_upm.{j}.*          LLaDA blocks of the backbone's own shape, j = 0..3
    model.backprop_linears.{j}      Linear(d_model, d_model) with bias: writes the stream back
    model.backprop_norms.{j}        RMSNorm(d_model) before that write ("LayerNorm.build" of an rms config)
    model.ln_f_upm                  RMSNorm(d_model) on the stream's last state
    model.linear_confidence         Linear(d_model, 1): one confidence logit per token

The stream reads after backbone layers 0, 10, 20 and 30 (fixed in the release's code, not in its config).
That is `UPSStream(wiring="full_width")`; this module only renames parameters between the two layouts
and reads/writes the directory, so one dual-stream implementation serves both.
"""

import json
import os

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from remedi.model.config import LLaDAConfig
from remedi.model.llada import LLaDAModelLM
from remedi.model.ups_stream import UPSStream

RELEASE_READ_LAYERS = [0, 10, 20, 30]
# The release trains and samples block diffusion: answer block j of 32 tokens sees the prompt and blocks
# <= j (its SFT and RL configs, block_size 32). Its config.json does not say so; a loaded release gets it.
RELEASE_ATTENTION = {"attention_layout": "block_causal", "attention_block_length": 32}
RELEASE_ARCHITECTURE = "LLaDAUPMModelLM"
# A key only the release's checkpoints have; its presence is how a release directory is recognised.
RELEASE_MARKER_KEY = "model.linear_confidence.weight"
WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
# Release name prefix -> our name prefix inside RemeDiModel (backbone.* / ups_head.*), one per module.
RELEASE_TO_OURS = [
    ("model.transformer.", "backbone.model.transformer."),
    ("model.blocks_upm.", "ups_head.blocks."),
    ("model.backprop_linears.", "ups_head.write."),
    ("model.backprop_norms.", "ups_head.write_norms."),
    ("model.ln_f_upm.", "ups_head.norm."),
    ("model.linear_confidence.", "ups_head.head."),
]
OURS_TO_RELEASE = [(ours, release) for release, ours in RELEASE_TO_OURS]
# Fields of the release's ModelConfig whose defaults differ from LLaDA-8B's values, which our classes
# assume; written into a config we save so the release's code rebuilds the same network.
RELEASE_FIXED_FIELDS = {
    "attention_dropout": 0.0, "residual_dropout": 0.0, "embedding_dropout": 0.0, "rope_full_precision": True,
    "flash_attention": False, "block_group_size": 1, "alibi": False, "attention_layer_norm": False,
    "layer_norm_with_affine": True, "bias_for_layer_norm": False, "multi_query_attention": None,
}


def rename(name, prefixes):
    """`name` with its prefix swapped by the first matching (from, to) pair of `prefixes`."""
    for source, target in prefixes:
        if name.startswith(source):
            return target + name[len(source):]
    raise ValueError(f"parameter {name!r} is not part of the release's architecture")


def weight_files(directory):
    """The safetensors files of a checkpoint directory: one file, or the shards its index names."""
    index_path = os.path.join(directory, WEIGHTS_INDEX_NAME)
    if os.path.isfile(index_path):
        with open(index_path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        return [os.path.join(directory, shard) for shard in shards]
    single = os.path.join(directory, WEIGHTS_NAME)
    return [single] if os.path.isfile(single) else []


def local_checkpoint(path, cache_dir=None, revision=None):
    """`path` itself if it is a directory; an 'owner/name' hub id as its snapshot in the hub cache
    (downloaded if needed), so that a release is recognised by its files either way."""
    path = str(path)
    if os.path.isdir(path) or path.startswith((".", "/")) or path.count("/") != 1:
        return path
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=path, cache_dir=cache_dir, revision=revision)


def is_release_checkpoint(directory):
    """True for a directory holding config.json and weights with the release's UPS names."""
    if not os.path.isfile(os.path.join(str(directory), "config.json")):
        return False
    index_path = os.path.join(str(directory), WEIGHTS_INDEX_NAME)
    if os.path.isfile(index_path):
        with open(index_path) as f:
            return RELEASE_MARKER_KEY in json.load(f)["weight_map"]
    for path in weight_files(str(directory)):
        with safe_open(path, framework="pt") as f:
            if RELEASE_MARKER_KEY in f.keys():
                return True
    return False


def release_stream(config: LLaDAConfig):
    """The release's dual stream for a backbone config: full-width blocks of the backbone's own shape."""
    if config.n_layers <= RELEASE_READ_LAYERS[-1]:
        raise ValueError(f"the release's UPS reads after layers {RELEASE_READ_LAYERS}: it needs at least "
                         f"{RELEASE_READ_LAYERS[-1] + 1} layers, the config has {config.n_layers}")
    return UPSStream(config.d_model, RELEASE_READ_LAYERS, stream_dim=config.d_model, n_heads=config.n_heads,
                     wiring="full_width", n_kv_heads=config.n_kv_heads, mlp_hidden_size=config.ffn_hidden_size,
                     rope_theta=config.rope_theta, rms_norm_eps=config.rms_norm_eps)


def build_release_parts(config: LLaDAConfig):
    """(backbone, stream) of the release's architecture, untrained."""
    return LLaDAModelLM(config), release_stream(config)


def load_release_parts(directory, dtype=None):
    """(backbone, stream) with the release checkpoint's weights, built on the meta device and filled once.
    Without an `attention_layout` in its config.json, the backbone takes the release's block-causal layout."""
    directory = str(directory)
    with open(os.path.join(directory, "config.json")) as f:
        saved_fields = json.load(f)
    defaults = {k: v for k, v in RELEASE_ATTENTION.items() if k not in saved_fields}
    config = LLaDAConfig.from_pretrained(directory, **defaults)
    with torch.device("meta"):
        backbone, stream = build_release_parts(config)
    state = {}
    for path in weight_files(directory):
        with safe_open(path, framework="pt") as f:
            for name in f.keys():
                tensor = f.get_tensor(name)
                state[rename(name, RELEASE_TO_OURS)] = tensor if dtype is None else tensor.to(dtype)
    for part, prefix in ((backbone, "backbone."), (stream, "ups_head.")):
        part_state = {name[len(prefix):]: tensor for name, tensor in state.items() if name.startswith(prefix)}
        missing = sorted(set(part.state_dict()) - set(part_state))
        unexpected = sorted(set(part_state) - set(part.state_dict()))
        if missing:
            raise ValueError(f"{directory!r} lacks {len(missing)} tensors of the release's architecture for its "
                             f"config.json, e.g. {rename(prefix + missing[0], OURS_TO_RELEASE)!r}")
        if unexpected:
            raise ValueError(f"{directory!r} has {len(unexpected)} tensors its config.json does not build, e.g. "
                             f"{rename(prefix + unexpected[0], OURS_TO_RELEASE)!r}")
        part.load_state_dict(part_state, strict=True, assign=True)
    return backbone.eval(), stream.eval()


def save_release(backbone, stream, directory):
    """Write `config.json` + `model.safetensors` in the release's layout, for its own code to load."""
    if getattr(stream, "wiring", None) != "full_width" or stream.read_layers != RELEASE_READ_LAYERS:
        raise ValueError(f"only a full-width UPS stream reading after layers {RELEASE_READ_LAYERS} has the "
                         "release's layout (build it with remedi.model.release.release_stream)")
    os.makedirs(directory, exist_ok=True)
    config = backbone.config.to_dict()
    for field, value in RELEASE_FIXED_FIELDS.items():
        config.setdefault(field, value)
    config["architectures"] = [RELEASE_ARCHITECTURE]
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    named = [("backbone." + k, v) for k, v in backbone.state_dict().items()]
    named += [("ups_head." + k, v) for k, v in stream.state_dict().items()]
    state = {rename(name, OURS_TO_RELEASE): v.detach().contiguous().cpu() for name, v in named}
    save_file(state, os.path.join(directory, WEIGHTS_NAME), metadata={"format": "pt"})
