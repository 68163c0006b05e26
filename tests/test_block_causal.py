"""The block-causal attention layout: what a token may see, padding, the KV cache and the training layout."""

import pytest
import torch

from remedi import LLaDAConfig, LLaDAModelLM, RemeDiModel
from remedi.model.attention import block_index
from remedi.model.kv_cache import KVCache
from remedi.model.ups_stream import UPSStream
from remedi.train.noise import per_block_times
from remedi.train.training import block_causal_forward
from tests.helpers import VOCAB, tiny_backbone

PROMPT, BLOCK = 5, 4


def block_causal(seed=0):
    return tiny_backbone(seed, attention_layout="block_causal", attention_block_length=BLOCK)


def ids(batch=2, length=PROMPT + 3 * BLOCK, seed=0):
    return torch.randint(5, VOCAB - 1, (batch, length), generator=torch.Generator().manual_seed(seed))


def changed_at(x, positions):
    y = x.clone()
    y[:, positions] = (y[:, positions] + 1 - 5) % (VOCAB - 6) + 5
    return y


def test_default_layout_is_bidirectional_and_layout_round_trips(tmp_path):
    assert LLaDAConfig().attention_layout == "bidirectional"
    model = block_causal()
    model.save_pretrained(tmp_path)
    loaded = LLaDAModelLM.from_pretrained(tmp_path).eval()
    assert (loaded.config.attention_layout, loaded.config.attention_block_length) == ("block_causal", BLOCK)
    x = ids()
    assert torch.equal(model(x, answer_start=PROMPT).logits, loaded(x, answer_start=PROMPT).logits)


def test_bad_layout_settings_raise():
    with pytest.raises(ValueError, match="attention_layout"):
        LLaDAConfig(attention_layout="causal")
    with pytest.raises(ValueError, match="attention_block_length"):
        LLaDAConfig(attention_block_length=0)
    with pytest.raises(ValueError, match="answer_start"):
        block_causal()(ids())


def test_block_index_counts_blocks_from_the_answer_start():
    positions = torch.arange(12).expand(2, -1)
    blocks = block_index(positions, torch.tensor([3, 5]), 4)
    assert blocks[0].tolist() == [-1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert blocks[1].tolist() == [-1, -1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1]


def test_a_block_sees_the_prompt_and_earlier_blocks_only():
    model = block_causal()
    x = ids()
    logits = model(x, answer_start=PROMPT).logits
    block1 = slice(PROMPT + BLOCK, PROMPT + 2 * BLOCK)
    # changing block 2 (the future of block 1) leaves the prompt, block 0 and block 1 unchanged
    future = model(changed_at(x, [PROMPT + 2 * BLOCK + 1]), answer_start=PROMPT).logits
    assert torch.equal(future[:, : block1.stop], logits[:, : block1.stop])
    assert not torch.allclose(future[:, block1.stop:], logits[:, block1.stop:])
    # changing block 0 changes block 1 but not the prompt
    past = model(changed_at(x, [PROMPT]), answer_start=PROMPT).logits
    assert torch.equal(past[:, :PROMPT], logits[:, :PROMPT])
    assert not torch.allclose(past[:, block1], logits[:, block1])
    # inside a block attention is bidirectional: its last token changes its first one
    inside = model(changed_at(x, [block1.stop - 1]), answer_start=PROMPT).logits
    assert not torch.allclose(inside[:, block1.start], logits[:, block1.start])


def test_bidirectional_model_ignores_answer_start():
    model = tiny_backbone()
    x = ids()
    assert torch.equal(model(x).logits, model(x, answer_start=PROMPT).logits)


def test_left_padding_matches_the_unpadded_row():
    model = block_causal()
    x = ids(batch=1)
    pad = 3
    padded = torch.cat([torch.full((1, pad), 2), x], dim=1)
    mask = torch.cat([torch.zeros(1, pad, dtype=torch.long), torch.ones_like(x)], dim=1)
    alone = model(x, answer_start=PROMPT).logits
    with_pad = model(padded, attention_mask=mask, answer_start=PROMPT + pad).logits[:, pad:]
    assert torch.allclose(alone, with_pad, atol=1e-4)


def test_a_chunk_against_the_cache_matches_the_full_pass():
    model = block_causal()
    x = ids()
    full = model(x, answer_start=PROMPT).logits
    mask = torch.ones_like(x, dtype=torch.bool)
    prompt = model(x[:, :PROMPT], answer_start=PROMPT, return_kv=True)
    cache = KVCache.from_pass(prompt.present_key_values, torch.arange(PROMPT).expand(2, -1), mask[:, :PROMPT])
    for block in range(3):
        chunk = slice(PROMPT + block * BLOCK, PROMPT + (block + 1) * BLOCK)
        positions = torch.arange(chunk.start, chunk.stop).expand(2, -1)
        out = model(x[:, chunk], answer_start=PROMPT, position_ids=positions, kv_cache=cache, return_kv=True)
        assert torch.allclose(out.logits, full[:, chunk], atol=1e-5)
        cache = cache.append(KVCache.from_pass(out.present_key_values, positions, mask[:, chunk]))


def test_training_layout_hides_future_blocks_and_noisy_copies_of_earlier_blocks():
    model = block_causal()
    length = PROMPT + 3 * BLOCK
    clean = ids(length=length)
    noisy = ids(length=length, seed=1)
    prompt_lengths = torch.tensor([PROMPT, PROMPT])

    def noisy_logits(clean_ids, noisy_ids):
        return block_causal_forward(model, clean_ids, noisy_ids, prompt_lengths, BLOCK).logits

    reference = noisy_logits(clean, noisy)
    block1 = slice(PROMPT + BLOCK, PROMPT + 2 * BLOCK)
    hidden = [
        (changed_at(clean, [block1.start]), noisy),  # the clean copy of block 1 itself
        (changed_at(clean, [block1.stop + 1]), noisy),  # a future clean block
        (clean, changed_at(noisy, [PROMPT + 1])),  # the noisy copy of an earlier block
        (clean, changed_at(noisy, [block1.stop + 1])),  # a future noisy block
    ]
    for clean_ids, noisy_ids in hidden:
        assert torch.equal(noisy_logits(clean_ids, noisy_ids)[:, block1], reference[:, block1])
    seen = [(changed_at(clean, [PROMPT + 1]), noisy), (changed_at(clean, [0]), noisy), (clean, changed_at(noisy, [block1.start]))]
    for clean_ids, noisy_ids in seen:
        assert not torch.allclose(noisy_logits(clean_ids, noisy_ids)[:, block1], reference[:, block1])
    # the noisy block sees exactly what it sees at sampling time: the clean prefix and itself
    sampling_view = torch.cat([clean[:, : block1.start], noisy[:, block1]], dim=1)
    at_sampling = model(sampling_view, answer_start=PROMPT).logits[:, block1]
    assert torch.allclose(reference[:, block1], at_sampling, atol=1e-5)


def test_stream_ups_follows_the_block_causal_layout():
    backbone = block_causal()
    torch.manual_seed(3)
    stream = UPSStream(backbone.config.hidden_size, read_layers=[0, 1], stream_dim=16, n_heads=2)
    for write in stream.write:
        torch.nn.init.normal_(write.weight, std=0.1)  # a trained stream writes back into the backbone
    model = RemeDiModel(backbone, stream).eval()
    x = ids()
    out = model(x, answer_start=PROMPT)
    future = model(changed_at(x, [PROMPT + 2 * BLOCK]), answer_start=PROMPT)
    visible = slice(0, PROMPT + 2 * BLOCK)
    assert torch.equal(out.ups_logits[:, visible], future.ups_logits[:, visible])
    assert torch.equal(out.logits[:, visible], future.logits[:, visible])
    past = model(changed_at(x, [PROMPT]), answer_start=PROMPT)
    assert not torch.allclose(out.ups_logits[:, PROMPT + BLOCK:], past.ups_logits[:, PROMPT + BLOCK:])


def test_training_layout_with_different_prompt_lengths_per_row():
    model = block_causal()
    length = 3 + 3 * BLOCK
    clean, noisy = ids(length=length), ids(length=length, seed=1)
    prompt_lengths = torch.tensor([3, 6])
    logits = block_causal_forward(model, clean, noisy, prompt_lengths, BLOCK).logits
    for row, prompt in enumerate(prompt_lengths.tolist()):
        block = slice(prompt + BLOCK, prompt + 2 * BLOCK)
        view = torch.cat([clean[row:row + 1, : block.start], noisy[row:row + 1, block]], dim=1)
        expected = model(view, answer_start=prompt).logits[:, block]
        assert torch.allclose(logits[row:row + 1, block], expected, atol=1e-5)


def test_noise_level_is_drawn_per_answer_block():
    prompt_lengths = torch.tensor([2, 5])
    t = per_block_times(prompt_lengths, 2 + 3 * BLOCK, BLOCK, torch.Generator().manual_seed(0))
    for row, prompt in enumerate(prompt_lengths.tolist()):
        blocks = [t[row, prompt + j * BLOCK: prompt + (j + 1) * BLOCK] for j in range(2)]
        assert all(bool((b == b[0]).all()) for b in blocks)
        assert blocks[0][0] != blocks[1][0]
