"""Pretraining data for `--objective mdm`: packed fixed-length rows and LLaDA's random-length crop."""

import numpy as np
import torch


def pack_texts(texts, tokenizer, seq_len):
    """(N, seq_len) long rows cut from the token stream text_1 EOS text_2 EOS ...; the last partial row is dropped.

    Packing wastes no compute on padding; the EOS separators tell the model where documents end,
    since a bidirectional model sees across the boundaries.
    """
    eos = tokenizer.eos_token_id
    docs = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    stream = np.concatenate([np.asarray(d + [eos], dtype=np.int64) for d in docs]) if docs else np.zeros(0, np.int64)
    n_rows = len(stream) // seq_len
    if n_rows == 0:
        raise ValueError(f"{len(stream)} tokens cannot fill one row of {seq_len}")
    return torch.from_numpy(stream[: n_rows * seq_len].copy()).view(n_rows, seq_len)


def random_length_crop(input_ids, prob=0.01, generator=None):
    """With probability `prob`, cut the batch (B, L) to a length drawn uniformly from [1, L].

    LLaDA trains 1% of its pretraining data at random lengths so the model also sees short
    sequences. The whole batch shares one length, as in LLaDA's reference code, so it stays a
    rectangle and needs no padding.
    """
    if torch.rand(1, generator=generator).item() >= prob:
        return input_ids
    length = int(torch.randint(1, input_ids.shape[1] + 1, (1,), generator=generator).item())
    return input_ids[:, :length]
