"""Who may attend to whom: the attention layouts of the model, as boolean masks.

A bidirectional LLaDA lets every token see every other (padding aside). The block-causal layout of the
RemeDi release splits the answer into blocks of `block_length` tokens counted from where the answer
starts: the prompt sees the prompt, and answer block j sees the prompt and blocks 0..j. A block never
sees the blocks after it, so once it is decoded its keys and values never change again: they can be
cached exactly.

The masks here are built from each token's *block index* (-1 for the prompt, j for answer block j),
which is a function of its position and of where the answer starts. Positions are passed explicitly
(rather than assumed to be 0..L-1) so the same rule holds for a chunk run against a KV cache.
Every mask is (B, 1, Lq, Lk) with True = "may attend", the convention of PyTorch's SDPA.
"""

import torch

ATTENTION_LAYOUTS = ("bidirectional", "block_causal")
PROMPT_BLOCK = -1


def block_index(positions, answer_start, block_length):
    """(B, L) block of each position: -1 before `answer_start` (int or (B,) tensor), else its answer block."""
    start = torch.as_tensor(answer_start, device=positions.device).reshape(-1, 1)  # (B or 1, 1)
    offset = positions - start
    return torch.where(offset < 0, PROMPT_BLOCK, torch.div(offset, block_length, rounding_mode="floor"))


def block_causal_mask(query_blocks, key_blocks, key_padding=None):
    """(B, 1, Lq, Lk): a query sees keys of its own block or an earlier one (the prompt is block -1)."""
    visible = key_blocks[:, None, :] <= query_blocks[:, :, None]  # (B, Lq, Lk)
    if key_padding is not None:
        visible = visible & key_padding.bool()[:, None, :]
    return visible[:, None]


def key_padding_mask(key_padding):
    """(B, 1, 1, Lk): the bidirectional layout's only restriction, padded keys are invisible."""
    return key_padding.bool()[:, None, None, :]


def two_copy_training_mask(prompt_lengths, seq_len, block_length):
    """Visibility over [clean row; noisy row] (length 2L) for block-causal training in one forward pass.

    Both copies hold the whole row (prompt + answer) at the same positions 0..L-1. The clean copy uses the
    inference layout (clean block j sees the prompt and clean blocks <= j). Noisy answer block j sees the
    prompt and clean blocks < j of the clean copy, and noisy block j itself: exactly what block j sees at
    sampling time, when the earlier blocks are decoded and block j is being denoised. The noisy copy's
    prompt positions only see each other, so nothing else depends on them (they carry no loss).
    """
    positions = torch.arange(seq_len, device=prompt_lengths.device).expand(prompt_lengths.shape[0], -1)
    blocks = block_index(positions, prompt_lengths, block_length)  # (B, L)
    clean_to_clean = blocks[:, None, :] <= blocks[:, :, None]
    noisy_to_clean = blocks[:, None, :] < blocks[:, :, None]
    noisy_to_noisy = blocks[:, None, :] == blocks[:, :, None]
    clean_to_noisy = torch.zeros_like(clean_to_clean)
    top = torch.cat([clean_to_clean, clean_to_noisy], dim=2)
    bottom = torch.cat([noisy_to_clean, noisy_to_noisy], dim=2)
    return torch.cat([top, bottom], dim=1)[:, None]  # (B, 1, 2L, 2L)
