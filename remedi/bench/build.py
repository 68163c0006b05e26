"""Models with random weights made directly on the target device, and inputs for them.

An 8B model is never materialised on the host: it is built on the meta device and given storage where it runs.
"""

import torch

from remedi.model.llada import LLaDAModelLM

DTYPE = torch.bfloat16


def build_backbone(config, device, dtype=DTYPE):
    """LLaDAModelLM with random weights made on `device` in `dtype`, never materialised on the host.

    The module is built on the meta device (shapes only), cast there (free), given uninitialised storage on
    `device` by to_empty and initialised in place with the model's own `_init_weights`. The model has no
    buffers (rotary frequencies are computed in float32 in forward), so nothing is left uninitialised.
    """
    with torch.device("meta"):
        model = LLaDAModelLM(config).to(dtype)
    model.to_empty(device=device)
    with torch.no_grad():
        model.apply(model._init_weights)
    return model


def build_on(device, make, dtype=DTYPE):
    """A small module (a UPS head) made directly on `device`, then cast, as the trainer casts a fresh head."""
    with torch.device(device):
        module = make()
    return module.to(dtype=dtype)


def ordinary_ids(config, shape, device, seed):
    """Random token ids below every special id of `config` (the weights are random: any ordinary id will do)."""
    high = min(config.mask_token_id, config.eos_token_id, config.eot_token_id, config.pad_token_id)
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=generator).to(device)
