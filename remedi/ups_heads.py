"""UPS heads that read one hidden state: `sigmoid(h_i)` estimates "the token at i is (or will be) right".

`UPSHead` maps the backbone's last hidden state to one logit per position; `UPSPosition` is a control
that ignores the content. The dual-stream UPS, which reads several layers, is `ups_stream.UPSStream`;
`ups_registry` builds, saves and loads all of them.
"""

import torch
import torch.nn as nn


class UPSHead(nn.Module):
    """Linear -> GELU -> Linear to a scalar logit per token; `ups_width=0` is a single Linear."""

    def __init__(self, hidden_size: int, ups_width: int = 256):
        super().__init__()
        self.hidden_size, self.ups_width = hidden_size, ups_width
        if ups_width == 0:
            self.net = nn.Linear(hidden_size, 1)
        else:
            self.net = nn.Sequential(nn.Linear(hidden_size, ups_width), nn.GELU(), nn.Linear(ups_width, 1))

    def forward(self, hidden):  # (B, L, d) -> (B, L)
        if hidden.shape[-1] != self.hidden_size:
            raise ValueError(
                f"UPS head expects hidden size {self.hidden_size}, the backbone gave {hidden.shape[-1]}"
            )
        weight = next(self.parameters())
        return self.net(hidden.to(weight.dtype)).squeeze(-1)

    def config_dict(self):
        return {"arch": "mlp", "hidden_size": self.hidden_size, "ups_width": self.ups_width}


class UPSPosition(nn.Module):
    """A control, not a UPS: one learned logit per absolute position, blind to what the tokens say.

    Trained by Remask RL like a real head, it finds the best *fixed* unmasking order for a task. On a
    task whose answers share one layout, comparing it with the content-reading head shows how much of
    a learned policy's gain comes from reading the tokens rather than from their positions.
    """

    def __init__(self, hidden_size: int, max_positions: int = 512):
        super().__init__()
        self.hidden_size, self.max_positions = hidden_size, max_positions
        self.logits = nn.Parameter(torch.zeros(max_positions))

    def forward(self, hidden):  # (B, L, d) -> (B, L)
        batch, length = hidden.shape[:2]
        if length > self.max_positions:
            raise ValueError(f"the position-only UPS covers {self.max_positions} positions, the input has {length}")
        return self.logits[:length].expand(batch, length)

    def config_dict(self):
        return {"arch": "position", "hidden_size": self.hidden_size, "max_positions": self.max_positions}
