"""Keys and values of already-encoded tokens, so a forward pass can run on a chunk of the sequence only.

A masked-diffusion sampler changes one block at a time. Running only that block, with every other
token's keys/values taken from a cache, turns a step's cost from the whole sequence into one block.
The cache stores, per layer, keys after the rotary embedding, plus the position and padding flag of
each cached token; the model derives who may see whom from those positions (remedi/model/attention.py).
It does not care about the order of the cached tokens: attention is a weighted sum over a set.
"""

from dataclasses import dataclass
from typing import List

import torch


@dataclass
class KVCache:
    keys: List[torch.Tensor]  # per layer (B, Hkv, Lc, head_dim), rotary already applied
    values: List[torch.Tensor]  # per layer (B, Hkv, Lc, head_dim)
    positions: torch.Tensor  # (B, Lc) long, the position of each cached token
    key_padding: torch.Tensor  # (B, Lc) bool, False for left padding (never attended to)

    @property
    def length(self):
        return self.positions.shape[1]

    @classmethod
    def from_pass(cls, present, positions, key_padding):
        """A cache holding what one forward pass with `return_kv=True` produced (`present`: per-layer (k, v))."""
        keys, values = zip(*present)
        return cls(list(keys), list(values), positions, key_padding.bool())

    def append(self, other):
        """This cache followed by `other` (e.g. a block that has just been decoded)."""
        return KVCache(
            keys=[torch.cat([a, b], dim=2) for a, b in zip(self.keys, other.keys)],
            values=[torch.cat([a, b], dim=2) for a, b in zip(self.values, other.values)],
            positions=torch.cat([self.positions, other.positions], dim=1),
            key_padding=torch.cat([self.key_padding, other.key_padding], dim=1),
        )

    def select(self, index):
        """Only the cached tokens at `index` (a 1-D tensor of slots, shared by the batch)."""
        return KVCache(
            keys=[k[:, :, index] for k in self.keys],
            values=[v[:, :, index] for v in self.values],
            positions=self.positions[:, index],
            key_padding=self.key_padding[:, index],
        )
