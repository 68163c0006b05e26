import json
from types import SimpleNamespace

import pytest
import torch

from generate import generate, get_num_transfer_tokens
from remedi.sampler.config import CONFIDENCE_SOURCES
from tests.helpers import EOS_ID, EOT_ID, MASK_ID, VOCAB, ScriptedModel, random_prompt, tiny_backbone, tiny_remedi


def reference_llada_generate(model, prompt, attention_mask, steps, gen_length, block_length, temperature,
                             cfg_scale, remasking, logits_eos_inf, confidence_eos_eot_inf):
    """LLaDA's sampling loop written out plainly, one row and one step at a time, for comparison.

    Follows upstream's generate.py (2025 version) including its quirks: with confidence_eos_eot_inf the
    EOS/EoT logits are set to -inf *after* the tokens are chosen, so at temperature 0 both tokens drop out
    of the softmax that scores positions; the prompt (padding included) is masked for the CFG pass.
    """
    B, P = prompt.shape
    x = torch.full((B, P + gen_length), MASK_ID, dtype=torch.long)
    x[:, :P] = prompt
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones(B, gen_length, dtype=attention_mask.dtype)], dim=1)
    prompt_index = x != MASK_ID
    num_blocks = gen_length // block_length
    per_block = steps // num_blocks
    for b in range(num_blocks):
        lo, hi = P + b * block_length, P + (b + 1) * block_length
        n_masked = int((x[0, lo:hi] == MASK_ID).sum())
        counts = [n_masked // per_block + (1 if i < n_masked % per_block else 0) for i in range(per_block)]
        for i in range(per_block):
            masked = x == MASK_ID
            if cfg_scale > 0:
                un_x = x.clone()
                un_x[prompt_index] = MASK_ID
                am = None if attention_mask is None else torch.cat([attention_mask, attention_mask])
                both = model(torch.cat([x, un_x]), attention_mask=am).logits
                cond, uncond = both[:B], both[B:]
                logits = uncond + (cfg_scale + 1) * (cond - uncond)
            else:
                logits = model(x, attention_mask=attention_mask).logits
            if logits_eos_inf:
                logits[:, :, EOS_ID] = -float("inf")
            if temperature > 0:
                noisy = logits.double().exp() / (-torch.log(torch.rand_like(logits, dtype=torch.float64))) ** temperature
            else:
                noisy = logits
            x0 = noisy.argmax(-1)
            if confidence_eos_eot_inf:
                noisy[:, :, EOS_ID] = -float("inf")
                logits[:, :, EOT_ID] = -float("inf")
            if remasking == "low_confidence":
                p = torch.softmax(logits, dim=-1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
            else:
                p = torch.rand(x0.shape)
            p[:, hi:] = -float("inf")
            x0 = torch.where(masked, x0, x)
            conf = torch.where(masked, p, -float("inf"))
            for row in range(B):
                _, idx = torch.topk(conf[row], k=counts[i])
                x[row, idx] = x0[row, idx]
    return x


UPSTREAM_CASES = {
    "one block": dict(steps=8, gen_length=16, block_length=16),
    "semi-autoregressive": dict(steps=8, gen_length=16, block_length=4),
    "uneven split": dict(steps=3, gen_length=10, block_length=10),
    "cfg": dict(steps=4, gen_length=8, block_length=4, cfg_scale=1.5),
    "eos gating": dict(steps=8, gen_length=16, block_length=8, logits_eos_inf=True, confidence_eos_eot_inf=True,
                       favour_eos=True),
    "eot gating": dict(steps=8, gen_length=16, block_length=8, confidence_eos_eot_inf=True, favour_eos=True),
    "random order": dict(steps=4, gen_length=8, block_length=8, remasking="random"),
    "padded batch": dict(steps=6, gen_length=12, block_length=4, padded=True),
    "padded batch with cfg": dict(steps=4, gen_length=8, block_length=4, padded=True, cfg_scale=1.0),
}


@pytest.mark.parametrize("case", list(UPSTREAM_CASES))
def test_no_remask_path_equals_upstream_llada(case):
    settings = dict(temperature=0.0, cfg_scale=0.0, remasking="low_confidence", logits_eos_inf=False,
                    confidence_eos_eot_inf=False)
    settings.update(UPSTREAM_CASES[case])
    padded = settings.pop("padded", False)
    model = tiny_backbone(seed=3)
    if settings.pop("favour_eos", False):
        # Make EOS/EoT frequent candidates so that gating changes which positions win.
        backbone = model

        def boosted(x, attention_mask=None):
            logits = backbone(x, attention_mask=attention_mask).logits
            wave = torch.arange(x.shape[1], dtype=torch.float)
            logits[..., EOS_ID] += 6.9 + torch.sin(wave)
            logits[..., EOT_ID] += 5.4 + torch.cos(wave)
            return logits

        model = ScriptedModel(boosted)
        model.forward = lambda x, attention_mask=None: SimpleNamespace(logits=boosted(x, attention_mask))
    prompt = random_prompt(batch=3, length=7, seed=1)
    attention_mask = None
    if padded:
        attention_mask = torch.ones_like(prompt)
        attention_mask[0, :3] = 0
        attention_mask[2, :1] = 0
        prompt = prompt.masked_fill(attention_mask == 0, EOS_ID)
    torch.manual_seed(0)
    expected = reference_llada_generate(model, prompt, attention_mask, **settings)
    source = {"low_confidence": "tps_prob", "random": "random"}[settings["remasking"]]
    torch.manual_seed(0)
    upstream_style = generate(model, prompt, attention_mask, mask_id=MASK_ID, eos_id=EOS_ID, eot_id=EOT_ID,
                              **settings)
    torch.manual_seed(0)
    explicit = generate(model, prompt, attention_mask, mask_id=MASK_ID, eos_id=EOS_ID, eot_id=EOT_ID,
                        confidence_source=source, remask=False, **settings)
    assert torch.equal(upstream_style, expected)
    assert torch.equal(explicit, expected)


def expected_masked_counts(gen_length, block_length, steps):
    per_block = steps // (gen_length // block_length)
    counts = []
    for block in range(gen_length // block_length):
        later = gen_length - (block + 1) * block_length
        split = get_num_transfer_tokens(torch.ones(1, block_length, dtype=torch.bool), per_block)[0].tolist()
        for step in range(per_block):
            counts.append(later + block_length - sum(split[: step + 1]))
    return counts




@pytest.mark.parametrize("source", CONFIDENCE_SOURCES)
@pytest.mark.parametrize("remask", [False, True])
@pytest.mark.parametrize("gen_length,block_length,steps", [(16, 16, 16), (16, 16, 5), (16, 4, 8), (12, 6, 6)])
def test_masked_count_follows_schedule(source, remask, gen_length, block_length, steps):
    model = tiny_remedi(seed=2)
    prompt = random_prompt(batch=2, length=5)
    out, trace = generate(model, prompt, steps=steps, gen_length=gen_length, block_length=block_length,
                          mask_id=MASK_ID, confidence_source=source, remask=remask, return_trace=True,
                          temperature=0.5)
    expected = expected_masked_counts(gen_length, block_length, steps)
    assert [r["masked_count"] for r in trace] == [[c, c] for c in expected]
    assert expected == sorted(expected, reverse=True) and expected[-1] == 0
    assert not (out == MASK_ID).any()
    assert torch.equal(out[:, :5], prompt)


def test_prompt_finished_and_later_blocks_are_left_alone():
    """Replays the trace: only the current block's positions ever change, later blocks stay masked."""
    model = tiny_remedi(seed=4)
    prompt = random_prompt(batch=2, length=5)
    # A UPS that prefers masked positions forces remasking inside the block on every step.
    gen, block = 12, 4
    _, trace = generate(model, prompt, steps=12, gen_length=gen, block_length=block, mask_id=MASK_ID,
                        confidence_source="random", remask=True, return_trace=True)
    for record in trace:
        lo, hi = record["block"] * block, (record["block"] + 1) * block
        for row in range(2):
            touched = record["filled"][row] + record["remasked"][row] + record["selected"][row]
            assert all(lo <= p < hi for p in touched)
            assert record["masked_count"][row] >= gen - hi


def test_remask_sends_low_confidence_tokens_back_and_refills_them():
    """UPS distrusts position 0 once decoded, so it must be remasked while the schedule still holds."""
    P, G = 3, 6

    def logits_fn(x):
        logits = torch.zeros(*x.shape, VOCAB)
        logits[..., 7] = 5.0
        return logits

    def ups_fn(x):
        scores = torch.zeros(x.shape)
        scores[:, P] = torch.where(x[:, P] == MASK_ID, 10.0, -10.0)  # confident while masked, not once filled
        scores[:, P + 1:] = torch.arange(G - 1, 0, -1, dtype=torch.float)  # earlier positions first
        return scores

    model = ScriptedModel(logits_fn, ups_fn)
    prompt = torch.full((1, P), 9)
    out, trace = generate(model, prompt, steps=3, gen_length=G, block_length=G, mask_id=MASK_ID,
                          return_trace=True)
    assert trace[0]["confidence_source"] == "ups" and trace[0]["remask"] is True
    assert trace[0]["filled"][0] == [0, 1]
    assert trace[1]["remasked"][0] == [0]
    assert [r["masked_count"][0] for r in trace] == [4, 2, 0]
    assert not (out == MASK_ID).any()


def test_remask_equals_no_remask_when_decoded_tokens_are_always_trusted():
    """If every decoded token outranks every mask, keeping the top K_n is LLaDA's rule exactly."""
    backbone = tiny_backbone(seed=5)
    ranking = torch.randn(64)

    def ups_fn(x):
        scores = ranking[: x.shape[1]].expand(x.shape[0], -1).clone()
        return torch.where(x == MASK_ID, scores, scores + 100.0)

    model = ScriptedModel(lambda x: backbone(x).logits, ups_fn)
    prompt = random_prompt(batch=2, length=4)
    kwargs = dict(steps=8, gen_length=16, block_length=8, mask_id=MASK_ID, confidence_source="ups")
    assert torch.equal(generate(model, prompt, remask=True, **kwargs), generate(model, prompt, remask=False, **kwargs))


def test_official_remedi_confidences_attribute_is_used():
    P = 2

    def logits_fn(x):
        return torch.zeros(*x.shape, VOCAB).index_fill_(-1, torch.tensor([8]), 3.0)

    def confidences(x):  # (B, L, 1): prefer the last answer position
        return torch.arange(x.shape[1], dtype=torch.float).expand(x.shape[0], -1).unsqueeze(-1)

    model = ScriptedModel(logits_fn, confidences, ups_name="confidences")
    _, trace = generate(model, torch.full((1, P), 9), steps=4, gen_length=4, block_length=4, mask_id=MASK_ID,
                        return_trace=True)
    assert trace[0]["confidence_source"] == "ups"
    assert trace[0]["selected"][0] == [3]


def test_default_source_without_ups_head_is_tps_prob():
    _, trace = generate(tiny_backbone(), random_prompt(1, 4), steps=2, gen_length=4, block_length=4,
                        mask_id=MASK_ID, return_trace=True)
    assert trace[0]["confidence_source"] == "tps_prob" and trace[0]["remask"] is False


def test_trace_is_json_serialisable_with_confidences():
    _, trace = generate(tiny_remedi(), random_prompt(2, 4), steps=4, gen_length=8, block_length=4,
                        mask_id=MASK_ID, return_trace=True, trace_confidences=True)
    decoded = json.loads(json.dumps(trace))
    assert len(decoded) == 4 and len(decoded[0]["confidence"][0]) == 4


@pytest.mark.parametrize("source, remask", [("tps_prob", False), ("ups", True), ("random", True)])
def test_trace_tokens_change_exactly_where_the_step_filled_or_remasked(source, remask):
    prompt = random_prompt(2, 5)
    out, trace = generate(tiny_remedi(seed=3), prompt, steps=8, gen_length=12, block_length=6, mask_id=MASK_ID,
                          confidence_source=source, remask=remask, return_trace=True)
    before = [[MASK_ID] * 12, [MASK_ID] * 12]
    for record in trace:
        for row in range(2):
            after = record["tokens"][row]
            changed = [p for p in range(12) if after[p] != before[row][p]]
            assert changed == sorted(record["filled"][row] + record["remasked"][row])
            assert all(after[p] == MASK_ID for p in record["remasked"][row])
            assert after.count(MASK_ID) == record["masked_count"][row]
            before[row] = after
    assert trace[-1]["tokens"] == out[:, 5:].tolist()
    if source == "random":
        assert any(r["remasked"] != [[], []] for r in trace)  # the replay above saw tokens go back to [MASK]


def test_trace_confidences_are_strict_json_with_none_where_llada_ranks_nothing():
    """Without remasking, LLaDA ranks only masked positions; the others had -inf and must read None."""
    _, trace = generate(tiny_backbone(), random_prompt(2, 4), steps=4, gen_length=8, block_length=8,
                        mask_id=MASK_ID, confidence_source="tps_prob", remask=False, return_trace=True,
                        trace_confidences=True)
    decoded = json.loads(json.dumps(trace, allow_nan=False))
    before = [[MASK_ID] * 8, [MASK_ID] * 8]
    for record in decoded:
        for row in range(2):
            confidence = record["confidence"][row]
            assert [p for p, v in enumerate(confidence) if v is None] == \
                [p for p in range(8) if before[row][p] != MASK_ID]
            assert all(0 < v <= 1 for v in confidence if v is not None)  # probabilities of the TPS token
            before[row] = record["tokens"][row]
    assert decoded[-1]["confidence"][0].count(None) == 6  # 2 of 8 filled per step: 6 filled before the last


def test_bad_inputs_raise_clear_errors():
    model = tiny_remedi()
    prompt = random_prompt(1, 4)
    ok = dict(steps=4, gen_length=8, block_length=4, mask_id=MASK_ID)
    cases = [
        (dict(ok, block_length=3), "not divisible by block_length"),
        (dict(ok, steps=3), "not divisible by the number of blocks"),
        (dict(ok, confidence_source="vibes"), "unknown confidence_source"),
        (dict(ok, remasking="sometimes"), "unknown remasking"),
        (dict(ok, gen_length=200, block_length=200, steps=200), "exceeds the model's context"),
        (dict(ok, steps=0), "must be positive, got steps=0"),
        (dict(ok, temperature=-0.5), "temperature=-0.5 is negative"),
        (dict(ok, cfg_scale=-1.0), "cfg_scale=-1.0 is negative"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            generate(model, prompt, **kwargs)
    with pytest.raises(ValueError, match="needs a model with a UPS head"):
        generate(tiny_backbone(), prompt, confidence_source="ups", **ok)
    with_mask = prompt.clone()
    with_mask[0, 1] = MASK_ID
    with pytest.raises(ValueError, match="prompt contains mask_id"):
        generate(model, with_mask, **ok)
    attention_mask = torch.ones_like(prompt)
    attention_mask[0, 0] = 0
    padded_with_mask = prompt.clone()
    padded_with_mask[0, 0] = MASK_ID
    with pytest.raises(ValueError, match="padding token id equals mask_id"):
        generate(model, padded_with_mask, attention_mask, **ok)
    with pytest.raises(ValueError, match="batch, length"):
        generate(model, prompt[0], **ok)
