"""The one map from a UPS architecture name to its class, and the UPS files on disk.

Every UPS type says what it is through `config_dict()` (`{"arch": ..., sizes...}`); that dict is
what `ups_config.json` holds and what `build_ups` turns back into an untrained module. The head
modules import nothing from here, so this module sits above all of them and no import goes in a circle.
"""

import json
import os

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from remedi.model.ups_heads import UPSHead, UPSPosition, UPSTPSHead
from remedi.model.ups_stream import UPSStream

UPS_CONFIG_NAME = "ups_config.json"
UPS_WEIGHTS_NAME = "ups_head.safetensors"
UPS_ARCHS = {"mlp": UPSHead, "mlp_tps": UPSTPSHead, "stream": UPSStream, "position": UPSPosition}


def build_ups(config):
    """An untrained UPS of the architecture and sizes in `config` (what `config_dict()` returns)."""
    sizes = dict(config)
    arch = sizes.pop("arch", "mlp")
    if arch not in UPS_ARCHS:
        raise ValueError(f"unknown UPS architecture {arch!r}; known: {sorted(UPS_ARCHS)}")
    return UPS_ARCHS[arch](**sizes)


def save_ups(ups, directory):
    """`ups_config.json` (architecture and sizes) + `ups_head.safetensors`, apart from any backbone."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, UPS_CONFIG_NAME), "w") as f:
        json.dump(ups.config_dict(), f, indent=2)
    state = {k: v.detach().contiguous().cpu() for k, v in ups.state_dict().items()}
    save_file(state, os.path.join(directory, UPS_WEIGHTS_NAME))


def load_ups(directory, map_location="cpu"):
    """The UPS saved in `directory`; its saved config decides the class (MLP head, stream, position)."""
    config_path = os.path.join(directory, UPS_CONFIG_NAME)
    weights_path = os.path.join(directory, UPS_WEIGHTS_NAME)
    if not (os.path.isfile(config_path) and os.path.isfile(weights_path)):
        raise FileNotFoundError(
            f"no UPS weights in {str(directory)!r}: expected {UPS_CONFIG_NAME} and {UPS_WEIGHTS_NAME} "
            "(written by save_ups or the trainer's UPS export)"
        )
    with open(config_path) as f:
        config = json.load(f)
    try:
        ups = build_ups(config)
    except ValueError as error:
        raise ValueError(f"{error} (in {config_path})") from None
    try:
        state = load_file(weights_path, device=str(map_location))
    except SafetensorError as error:
        raise ValueError(f"{weights_path} cannot be read ({error}): the file is damaged or incomplete; copy it "
                         "again or export the UPS anew") from None
    ups.load_state_dict(state)
    return ups
