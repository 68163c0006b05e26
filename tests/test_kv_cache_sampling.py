"""generate(kv_cache=...): the exact cache gives the uncached tokens; the approximate ones keep the schedule."""

import pytest
import torch

from remedi import RemeDiModel, UPSHead
from remedi.model.ups_stream import UPSStream
from remedi.sampler.config import CONFIDENCE_SOURCES
from remedi.sampler.sampling import generate, scheduled_mask_counts
from tests.helpers import EOS_ID, EOT_ID, MASK_ID, random_prompt, tiny_backbone

BLOCK = 4
SAMPLING = dict(gen_length=12, block_length=BLOCK, steps=6, mask_id=MASK_ID)


def remedi_model(layout, seed=0, attention_block=BLOCK):
    backbone = tiny_backbone(seed, attention_layout=layout, attention_block_length=attention_block)
    torch.manual_seed(seed + 1)
    return RemeDiModel(backbone, UPSHead(backbone.config.hidden_size, 16)).eval()


def left_padded_prompts():
    prompt = random_prompt(batch=3, length=7, seed=4)
    mask = torch.ones_like(prompt)
    prompt[0, :3], mask[0, :3] = EOS_ID, 0
    prompt[2, :1], mask[2, :1] = EOS_ID, 0
    return prompt, mask


@pytest.mark.parametrize("source", CONFIDENCE_SOURCES)
@pytest.mark.parametrize("remask", [False, True])
def test_exact_cache_gives_the_uncached_tokens(source, remask):
    model = remedi_model("block_causal")
    prompt, mask = left_padded_prompts()
    settings = dict(SAMPLING, attention_mask=mask, confidence_source=source, remask=remask)
    torch.manual_seed(0)
    plain = generate(model, prompt, **settings)
    torch.manual_seed(0)
    cached = generate(model, prompt, **settings, kv_cache="exact")
    assert torch.equal(plain, cached)
    assert not (cached == MASK_ID).any()


def test_exact_cache_with_gating_a_bare_backbone_and_two_attention_blocks_per_sampling_block():
    backbone = tiny_backbone(2, attention_layout="block_causal", attention_block_length=BLOCK // 2)
    prompt = random_prompt(batch=2, length=5, seed=1)
    settings = dict(SAMPLING, logits_eos_inf=True, confidence_eos_eot_inf=True, eos_id=EOS_ID, eot_id=EOT_ID)
    assert torch.equal(generate(backbone, prompt, **settings), generate(backbone, prompt, **settings, kv_cache="exact"))


def test_exact_cache_runs_one_block_per_step():
    model = remedi_model("block_causal")
    prompt = random_prompt(batch=2, length=7)
    lengths = []
    hook = model.backbone.model.transformer.wte.register_forward_hook(lambda m, args, out: lengths.append(out.shape[1]))
    generate(model, prompt, **SAMPLING, kv_cache="exact")
    hook.remove()
    # the prompt once, then per block: its steps and the pass that appends it to the cache
    blocks = SAMPLING["gen_length"] // BLOCK
    steps_per_block = SAMPLING["steps"] // blocks
    assert lengths == [7] + ([BLOCK] * (steps_per_block + 1)) * blocks


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_approximate_caches_keep_the_schedule_and_equal_no_cache_with_one_step_per_block(mode):
    model = remedi_model("bidirectional")
    prompt, mask = left_padded_prompts()
    ids, trace = generate(model, prompt, attention_mask=mask, **SAMPLING, kv_cache=mode, return_trace=True)
    expected = scheduled_mask_counts(SAMPLING["gen_length"], BLOCK, SAMPLING["steps"])
    assert [record["masked_count"][0] for record in trace] == expected
    assert not (ids == MASK_ID).any()
    # with one step per block, that step is the refresh pass over the whole sequence: no staleness yet
    one_step = dict(SAMPLING, steps=SAMPLING["gen_length"] // BLOCK)
    plain = generate(model, prompt, attention_mask=mask, **one_step)
    assert torch.equal(plain, generate(model, prompt, attention_mask=mask, **one_step, kv_cache=mode))


def test_approximate_caches_run_shorter_chunks_after_the_refresh():
    model = remedi_model("bidirectional")
    prompt = random_prompt(batch=1, length=7)
    total = 7 + SAMPLING["gen_length"]
    for mode, second_step in (("prefix", total - 7), ("dual", BLOCK)):
        lengths = []
        hook = model.backbone.model.transformer.wte.register_forward_hook(
            lambda m, args, out: lengths.append(out.shape[1]))
        generate(model, prompt, **SAMPLING, kv_cache=mode)
        hook.remove()
        assert lengths[:2] == [total, second_step]


def test_cache_refusals_say_what_to_do():
    prompt = random_prompt(batch=1, length=5)
    with pytest.raises(ValueError, match="block-causal"):
        generate(remedi_model("bidirectional"), prompt, **SAMPLING, kv_cache="exact")
    with pytest.raises(ValueError, match="exact"):
        generate(remedi_model("block_causal"), prompt, **SAMPLING, kv_cache="dual")
    with pytest.raises(ValueError, match="cfg_scale=0"):
        generate(remedi_model("block_causal"), prompt, **SAMPLING, kv_cache="exact", cfg_scale=1.0)
    with pytest.raises(ValueError, match="multiple of the model's attention_block_length=4"):
        generate(remedi_model("block_causal"), prompt, **dict(SAMPLING, block_length=2), kv_cache="exact")
    with pytest.raises(ValueError, match="choose one of"):
        generate(remedi_model("block_causal"), prompt, **SAMPLING, kv_cache="fast")
    backbone = tiny_backbone(attention_layout="block_causal", attention_block_length=BLOCK)
    stream = RemeDiModel(backbone, UPSStream(backbone.config.hidden_size, read_layers=[1], stream_dim=16, n_heads=2))
    with pytest.raises(ValueError, match="kv_cache='none'"):
        generate(stream, prompt, **SAMPLING, kv_cache="exact")


def test_stream_ups_samples_a_block_causal_model_without_cache():
    backbone = tiny_backbone(attention_layout="block_causal", attention_block_length=BLOCK)
    model = RemeDiModel(backbone, UPSStream(backbone.config.hidden_size, read_layers=[1], stream_dim=16, n_heads=2))
    ids = generate(model.eval(), random_prompt(batch=2, length=5), **SAMPLING)
    assert not (ids == MASK_ID).any()


@pytest.mark.parametrize("source, remask", [("ups", True), ("tps_prob", False)])
def test_exact_cache_over_many_blocks_in_float64(source, remask):
    """Six sampling blocks of two attention blocks each, positions up to 115: more room for a bookkeeping
    mistake to show. float64, because in float32 a chunked pass rounds differently from the full one and a
    random model's near-ties can flip (bench/bench_sampler.py saw that at 512 steps)."""
    model = remedi_model("block_causal", attention_block=BLOCK * 2).to(torch.float64)
    prompt, mask = left_padded_prompts()
    settings = dict(attention_mask=mask, gen_length=6 * BLOCK * 4, block_length=BLOCK * 4, steps=48, mask_id=MASK_ID,
                    confidence_source=source, remask=remask)
    assert torch.equal(generate(model, prompt, **settings), generate(model, prompt, **settings, kv_cache="exact"))
