"""Confidence-threshold parallel decoding and stop at EOS (remedi/sampler/parallel_decoding.py, via generate)."""

import math

import pytest
import torch

from remedi import RemeDiModel, UPSHead
from remedi.model.loading import load_model_and_tokenizer
from remedi.model.tokenizer import encode_prompts, special_token_ids
from remedi.sampler.config import CONFIDENCE_SOURCES
from remedi.sampler.parallel_decoding import ends_in_eos
from remedi.sampler.sampling import generate
from tests.helpers import EOS_ID, EOT_ID, MASK_ID, VOCAB, ScriptedModel, random_prompt, tiny_backbone, tiny_remedi
from tests.test_sampling import expected_masked_counts
from tests.test_shipped_model import held_out_problems

PADDED_PROMPT = torch.tensor([[EOS_ID, EOS_ID, 11, 12, 13], [21, 22, 23, 24, 25]])
PADDED_MASK = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])


def passes_per_row(trace):
    return [sum(r["forward_passes"] for r in trace if r["active"][row]) for row in range(len(trace[0]["active"]))]


class CountingModel(torch.nn.Module):
    """Wraps a model and counts the sequences it is run on (a CFG call runs two per row)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.sequences = model, 0
        self.config = model.config

    @property
    def device(self):
        return self.model.device

    def forward(self, x, attention_mask=None):
        self.sequences += x.shape[0]
        return self.model(x, attention_mask=attention_mask)


@pytest.mark.parametrize("source", CONFIDENCE_SOURCES)
@pytest.mark.parametrize("remask", [False, True])
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_threshold_above_every_confidence_is_the_fixed_schedule(source, remask, temperature):
    """Every source scores at most 1, so threshold 1.5 settles only what the schedule says: same tokens."""
    model = tiny_remedi(seed=3)
    kwargs = dict(steps=8, gen_length=16, block_length=8, mask_id=MASK_ID, confidence_source=source,
                  remask=remask, temperature=temperature, return_trace=True)
    torch.manual_seed(0)
    plain, plain_trace = generate(model, PADDED_PROMPT, PADDED_MASK, **kwargs)
    torch.manual_seed(0)
    fast, fast_trace = generate(model, PADDED_PROMPT, PADDED_MASK, threshold=1.5, **kwargs)
    assert torch.equal(plain, fast)
    assert [r["tokens"] for r in plain_trace] == [r["tokens"] for r in fast_trace]


@pytest.mark.parametrize("source", CONFIDENCE_SOURCES)
@pytest.mark.parametrize("remask", [False, True])
def test_threshold_minus_infinity_finishes_every_block_in_one_step(source, remask):
    model = tiny_remedi(seed=3)
    prompt = random_prompt(batch=2, length=5)
    out, trace = generate(model, prompt, steps=16, gen_length=16, block_length=4, mask_id=MASK_ID,
                          confidence_source=source, remask=remask, return_trace=True, threshold=-math.inf)
    assert [(r["block"], r["step"]) for r in trace] == [(b, 0) for b in range(4)]
    assert [r["masked_count"] for r in trace] == [[12, 12], [8, 8], [4, 4], [0, 0]]
    assert passes_per_row(trace) == [4, 4]
    assert torch.equal(out[:, :5], prompt) and not (out == MASK_ID).any()


@pytest.mark.parametrize("source,remask", [("tps_prob", False), ("ups", True)])
def test_threshold_zero_finishes_a_probability_block_in_one_step(source, remask):
    out, trace = generate(tiny_remedi(seed=1), random_prompt(), steps=8, gen_length=8, block_length=8,
                          mask_id=MASK_ID, confidence_source=source, remask=remask, return_trace=True, threshold=0.0)
    assert len(trace) == 1 and not (out == MASK_ID).any()


def test_remask_keeps_every_confident_position_then_at_least_one_more_per_step():
    """Hand-checked: 3 of 6 positions have UPS 0.95 >= 0.9, the schedule settles 1 per step.

    Step 1 keeps max(0 + 1, 3) = 3, then 4, 5, 6: four steps instead of six.
    """
    P, G = 2, 6
    model = ScriptedModel(lambda x: torch.zeros(*x.shape, VOCAB).index_fill_(-1, torch.tensor([7]), 5.0),
                          lambda x: torch.tensor([0.0] * P + [3.0, -3.0, 3.0, -3.0, 3.0, -3.0]).expand(x.shape[0], -1))
    out, trace = generate(model, torch.full((1, P), 9), steps=G, gen_length=G, block_length=G, mask_id=MASK_ID,
                          return_trace=True, threshold=0.9)
    assert trace[0]["selected"][0] == [0, 2, 4]
    assert [r["masked_count"][0] for r in trace] == [3, 2, 1, 0]
    assert passes_per_row(trace) == [4]
    assert torch.equal(out[0, P:], torch.full((G,), 7))


def test_no_remask_fills_every_confident_mask_and_at_least_the_scheduled_number():
    """Hand-checked (Fast-dLLM's rule): positions 1 and 4 predict token 7 with probability ~1, the others
    are spread evenly over the vocabulary; threshold 0.9 fills both at step 1, then one per step."""
    P, G = 2, 6

    def logits_fn(x):
        logits = torch.zeros(*x.shape, VOCAB)
        logits[:, P + 1, 7] = 50.0
        logits[:, P + 4, 7] = 50.0
        return logits

    out, trace = generate(ScriptedModel(logits_fn), torch.full((1, P), 9), steps=G, gen_length=G, block_length=G,
                          mask_id=MASK_ID, confidence_source="tps_prob", remask=False, return_trace=True,
                          threshold=0.9)
    assert trace[0]["filled"][0] == [1, 4]
    assert [r["masked_count"][0] for r in trace] == [4, 3, 2, 1, 0]
    assert not (out == MASK_ID).any()


@pytest.mark.parametrize("source,remask", [("ups", True), ("tps_prob", False), ("tps_prob", True), ("ups", False)])
@pytest.mark.parametrize("threshold", [0.2, 0.3, 0.55, 0.9])
def test_settled_counts_never_fall_and_never_lag_the_schedule(source, remask, threshold):
    gen, block, steps = 16, 8, 16
    _, trace = generate(tiny_remedi(seed=7), PADDED_PROMPT, PADDED_MASK, steps=steps, gen_length=gen,
                        block_length=block, mask_id=MASK_ID, confidence_source=source, remask=remask,
                        return_trace=True, threshold=threshold)
    schedule = expected_masked_counts(gen, block, steps)
    per_block = steps // (gen // block)
    for row in range(2):
        for b in range(gen // block):
            masked = [r["masked_count"][row] for r in trace if r["block"] == b and r["active"][row]]
            steps_run = [r["step"] for r in trace if r["block"] == b and r["active"][row]]
            assert masked == sorted(masked, reverse=True) and masked[-1] == gen - (b + 1) * block
            assert all(m <= schedule[b * per_block + s] for m, s in zip(masked, steps_run))


@pytest.mark.parametrize("cfg_scale", [0.0, 1.0])
def test_forward_passes_in_the_trace_are_the_passes_the_model_ran(cfg_scale):
    """The batch runs until its slowest row is done: the model sees (rows x passes) sequences per step."""
    model = CountingModel(tiny_remedi(seed=7))
    _, trace = generate(model, PADDED_PROMPT, PADDED_MASK, steps=16, gen_length=16, block_length=8, mask_id=MASK_ID,
                        confidence_source="tps_prob", remask=False, return_trace=True, threshold=0.2,
                        cfg_scale=cfg_scale)
    per_step = 2 if cfg_scale else 1
    assert all(r["forward_passes"] == per_step for r in trace)
    assert model.sequences == 2 * per_step * len(trace)
    assert len(trace) < 16  # the threshold ended some block early
    assert max(passes_per_row(trace)) == per_step * len(trace)


@pytest.mark.parametrize("source,remask,threshold", [("ups", True, 0.55), ("tps_prob", False, 0.2)])
def test_rows_that_finish_early_wait_unchanged_and_match_their_solo_run(source, remask, threshold):
    """Rows of a left-padded batch finish at different steps; the block ends when all are done, and a done
    row's tokens stay as they are, so each row's answer is what it would be sampled alone."""
    model = tiny_remedi(seed=7)
    kwargs = dict(steps=16, gen_length=16, block_length=8, mask_id=MASK_ID, confidence_source=source,
                  remask=remask, threshold=threshold)
    out, trace = generate(model, PADDED_PROMPT, PADDED_MASK, return_trace=True, **kwargs)
    assert passes_per_row(trace)[0] != passes_per_row(trace)[1]
    for row in range(2):
        solo = generate(model, PADDED_PROMPT[row:row + 1], PADDED_MASK[row:row + 1], **kwargs)
        assert torch.equal(out[row], solo[0])
        for before, after in zip(trace, trace[1:]):
            if after["block"] == before["block"] and not after["active"][row]:
                assert after["tokens"][row] == before["tokens"][row]
    assert torch.equal(out[:, :5], PADDED_PROMPT)


def test_ends_in_eos_on_hand_written_blocks():
    blocks = torch.tensor([[5, EOS_ID, EOT_ID, EOS_ID], [5, EOS_ID, 6, EOS_ID], [5, 6, 7, 8], [EOS_ID] * 4,
                           [5, 6, 7, EOT_ID], [EOS_ID, 6, 7, 8]])
    assert ends_in_eos(blocks, EOS_ID, EOT_ID).tolist() == [True, False, False, True, True, False]


@pytest.mark.parametrize("remask", [False, True])
def test_stop_at_eos_fills_the_rest_with_eos_and_runs_no_more_passes(remask):
    """A scripted model: row 0 writes '7 7 EOS EOS' in block 0 but would go on with 8s afterwards, row 1
    writes 8s throughout. Without stop_at_eos row 0 continues; with it, row 0's rest is EOS and stays
    EOS while row 1 runs its later blocks, which cost row 0 nothing."""
    P, G, B = 3, 12, 4

    def logits_fn(x):
        logits = torch.zeros(*x.shape, VOCAB)
        logits[:, P:, 8] = 9.0
        logits[0, P:P + 2, 7] = 19.0
        logits[0, P + 2:P + 4, EOS_ID] = 19.0
        return logits

    model = CountingModel(ScriptedModel(logits_fn, max_len=64))
    prompt = torch.tensor([[9] * P, [10] * P])
    kwargs = dict(steps=12, gen_length=G, block_length=B, mask_id=MASK_ID, confidence_source="tps_prob",
                  remask=remask, eos_id=EOS_ID, eot_id=EOT_ID, return_trace=True)
    full, _ = generate(model, prompt, **kwargs)
    full_sequences, model.sequences = model.sequences, 0
    stopped, trace = generate(model, prompt, stop_at_eos=True, **kwargs)
    assert full[0, P:].tolist() == [7, 7, EOS_ID, EOS_ID] + [8] * 8
    assert stopped[0, P:].tolist() == [7, 7, EOS_ID, EOS_ID] + [EOS_ID] * 8
    assert torch.equal(stopped[1], full[1])
    assert [r["masked_count"][0] for r in trace] == [11, 10, 9, 8] + [0] * 8
    assert passes_per_row(trace) == [4, 12] and model.sequences == full_sequences == 24
    assert torch.equal(stopped[:, :P], prompt)


def test_stop_at_eos_skips_the_blocks_after_every_answer_ended():
    P, G, B = 3, 12, 4
    model = CountingModel(ScriptedModel(lambda x: torch.zeros(*x.shape, VOCAB).index_fill_(-1, torch.tensor([EOS_ID]),
                                                                                         9.0), max_len=64))
    out, trace = generate(model, torch.full((2, P), 9), steps=12, gen_length=G, block_length=B, mask_id=MASK_ID,
                          confidence_source="tps_prob", remask=False, eos_id=EOS_ID, eot_id=EOT_ID,
                          return_trace=True, stop_at_eos=True)
    assert (out[:, P:] == EOS_ID).all() and {r["block"] for r in trace} == {0} and model.sequences == 2 * 4


@pytest.fixture(scope="module")
def shipped():
    model, tokenizer = load_model_and_tokenizer()
    return model, tokenizer, special_token_ids(tokenizer)


@pytest.mark.parametrize("threshold", [None, 0.9])
def test_stop_at_eos_on_the_shipped_model_keeps_the_answers_and_saves_passes(shipped, threshold):
    """The shipped model's answers fill exactly 32 tokens ('... #### n', EoT, EOS); given 40 in blocks of 8,
    block 3 ends the answer and the full run then writes more characters in block 4, which stop_at_eos
    never runs. Up to the block where the answer ended both runs computed the same thing (provably, at
    temperature 0), the rest is exactly EOS, and the answer text up to the first EOS/EoT is the same."""
    model, tokenizer, ids = shipped
    problems = held_out_problems(6)
    input_ids, attention_mask = encode_prompts(tokenizer, [p["question"] for p in problems])
    P = input_ids.shape[1]
    kwargs = dict(steps=40, gen_length=40, block_length=8, mask_id=ids["mask_id"], eos_id=ids["eos_id"],
                  eot_id=ids["eot_id"], return_trace=True, threshold=threshold)
    full, full_trace = generate(model, input_ids, attention_mask, **kwargs)
    stopped, trace = generate(model, input_ids, attention_mask, stop_at_eos=True, **kwargs)
    assert torch.equal(stopped[:, :P], input_ids)
    for row in range(len(problems)):
        blocks = stopped[row, P:].view(5, 8)
        ended = ends_in_eos(blocks, ids["eos_id"], ids["eot_id"]).nonzero().flatten()
        assert len(ended), tokenizer.decode(stopped[row, P:])
        stop = (int(ended[0]) + 1) * 8
        assert torch.equal(stopped[row, :P + stop], full[row, :P + stop])
        assert (stopped[row, P + stop:] == ids["eos_id"]).all()
    def answers(ids):
        return [text.split("<|eot_id|>")[0] for text in tokenizer.batch_decode(ids[:, P:])]

    assert answers(stopped) == answers(full)
    assert all("#### " in text for text in answers(stopped))
    assert sum(passes_per_row(trace)) < sum(passes_per_row(full_trace))
    assert len(trace) < len(full_trace)


def test_threshold_with_sampled_positions_is_refused():
    with pytest.raises(ValueError, match="position_temperature=0"):
        generate(tiny_remedi(), random_prompt(), steps=4, gen_length=4, block_length=4, mask_id=MASK_ID,
                 position_temperature=1.0, threshold=0.9)
    with pytest.raises(ValueError, match="threshold must be a number"):
        generate(tiny_remedi(), random_prompt(), steps=4, gen_length=4, block_length=4, mask_id=MASK_ID,
                 threshold="0.9")


@pytest.mark.parametrize("source,remask,threshold", [("ups", True, 0.4), ("tps_prob", False, 0.1),
                                                      ("tps_prob", True, 0.1)])
def test_threshold_and_stop_at_eos_with_the_exact_cache_give_the_uncached_tokens(source, remask, threshold):
    """The speed rule only decides which positions a step settles; the exact cache only changes how the
    logits are computed, so the two compose: same tokens, same steps, with or without the cache."""
    backbone = tiny_backbone(0, attention_layout="block_causal", attention_block_length=4)
    torch.manual_seed(1)
    model = RemeDiModel(backbone, UPSHead(backbone.config.hidden_size, 16)).eval()
    kwargs = dict(steps=12, gen_length=12, block_length=4, mask_id=MASK_ID, confidence_source=source, remask=remask,
                  threshold=threshold, stop_at_eos=True, eos_id=EOS_ID, eot_id=EOT_ID, return_trace=True)
    plain, plain_trace = generate(model, PADDED_PROMPT, PADDED_MASK, **kwargs)
    cached, cached_trace = generate(model, PADDED_PROMPT, PADDED_MASK, kv_cache="exact", **kwargs)
    assert torch.equal(plain, cached) and len(plain_trace) == len(cached_trace) < 12
