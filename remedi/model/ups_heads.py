"""UPS heads that read one hidden state: `sigmoid(h_i)` estimates "the token at i is (or will be) right".

`UPSHead` maps the backbone's last hidden state to one logit per position; `UPSTPSHead` also reads the
TPS's own confidence in each position's token and starts as one heuristic order (tps_margin by default);
`UPSPosition` is a control that ignores the content. The dual-stream UPS, which reads several layers, is `ups_stream.UPSStream`;
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


TPS_FEATURES = ("prob", "margin", "neg_entropy")


def tps_confidence_features(logits, input_ids, mask_id):
    """(B, L, 3) the TPS's confidence in each position's candidate: its probability, its margin over the best
    other token, and the negative entropy of the distribution (the three heuristic orders' scores).

    The candidate is the current token where the input is not [MASK] (what remasking keeps or drops) and the
    TPS argmax where it is (what a greedy fill would place), so at temperature 0 these equal the scores the
    sampler's tps_prob, tps_margin and tps_entropy sources give the same candidates (without EOS gating).
    """
    probs = torch.softmax(logits.float(), dim=-1)
    candidates = torch.where(input_ids == mask_id, probs.argmax(dim=-1), input_ids)
    chosen = probs.gather(-1, candidates.unsqueeze(-1)).squeeze(-1)
    best_other = probs.scatter(-1, candidates.unsqueeze(-1), -1.0).amax(dim=-1)
    neg_entropy = (probs * torch.log(probs.clamp_min(1e-30))).sum(dim=-1)
    return torch.stack([chosen, chosen - best_other, neg_entropy], dim=-1)


class UPSTPSHead(nn.Module):
    """A UPS that reads the last hidden state *and* the TPS's confidence features of each position.

    logit = start_scale * feature[start_feature] + MLP(hidden) + a learned linear map of the features, with
    the MLP's last layer and the feature map starting at zero: untrained, it orders positions exactly as the
    heuristic of that feature (tps_prob, tps_margin or tps_entropy), except among near-certain candidates:
    its features are float32 probabilities and margins, which read 1.0 for all of them, where the sampler's
    own tps_prob and tps_margin scores still tell them apart. A small head on a small backbone cannot
    easily compute a softmax statistic from hidden states, so this gives Remask RL the heuristic as its
    starting point and asks it only for corrections.
    """

    reads_tps = True

    def __init__(self, hidden_size: int, ups_width: int = 64, start_feature: str = "margin", start_scale: float = 10.0):
        super().__init__()
        if start_feature not in TPS_FEATURES:
            raise ValueError(f"start_feature {start_feature!r} is none of {TPS_FEATURES}")
        self.hidden_size, self.ups_width = hidden_size, ups_width
        self.start_feature, self.start_scale = start_feature, start_scale
        self.hidden_net = nn.Sequential(nn.Linear(hidden_size, ups_width), nn.GELU(), nn.Linear(ups_width, 1))
        self.feature_map = nn.Linear(len(TPS_FEATURES), 1)
        for layer in (self.hidden_net[-1], self.feature_map):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, hidden, tps_features):  # (B, L, d), (B, L, 3) -> (B, L)
        if hidden.shape[-1] != self.hidden_size:
            raise ValueError(
                f"UPS head expects hidden size {self.hidden_size}, the backbone gave {hidden.shape[-1]}"
            )
        weight = next(self.parameters())
        features = tps_features.to(weight.dtype)
        start = features[..., TPS_FEATURES.index(self.start_feature)]
        return (self.start_scale * start + self.hidden_net(hidden.to(weight.dtype)).squeeze(-1)
                + self.feature_map(features).squeeze(-1))

    def config_dict(self):
        return {"arch": "mlp_tps", "hidden_size": self.hidden_size, "ups_width": self.ups_width,
                "start_feature": self.start_feature, "start_scale": self.start_scale}


class UPSPosition(nn.Module):
    """A control, not a UPS: one learned logit per absolute position, blind to what the tokens say.

    Trained by Remask RL like a real head, it finds the best *fixed* unmasking order for a task. On a
    task whose answers share one layout, comparing it with the content-reading head shows how much of
    a learned policy's gain comes from reading the tokens rather than from their positions.
    """

    reads_positions = True  # a chunk run against a KV cache starts past position 0: it needs position_ids

    def __init__(self, hidden_size: int, max_positions: int = 512):
        super().__init__()
        self.hidden_size, self.max_positions = hidden_size, max_positions
        self.logits = nn.Parameter(torch.zeros(max_positions))

    def forward(self, hidden, position_ids=None):  # (B, L, d), (B, L) or None for 0..L-1 -> (B, L)
        batch, length = hidden.shape[:2]
        if position_ids is None:
            position_ids = torch.arange(length, device=hidden.device).expand(batch, length)
        if int(position_ids.max()) >= self.max_positions:
            raise ValueError(f"the position-only UPS covers {self.max_positions} positions, the input reaches "
                             f"position {int(position_ids.max())}")
        return self.logits[position_ids]

    def config_dict(self):
        return {"arch": "position", "hidden_size": self.hidden_size, "max_positions": self.max_positions}
