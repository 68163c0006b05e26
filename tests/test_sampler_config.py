"""SamplerConfig: one place for the sampler's settings, and generate(config=...) is generate(**settings)."""

import argparse

import pytest
import torch

from remedi.cli import add_sampler_arguments
from remedi.sampler.config import SamplerConfig
from remedi.sampler.observers import Observer
from remedi.sampler.sampling import generate, scheduled_mask_counts
from tests.helpers import MASK_ID, random_prompt, tiny_remedi


@pytest.mark.parametrize("changes, message", [
    (dict(block_length=5), "not divisible by block_length=5"),
    (dict(steps=3, block_length=8), "not divisible by the number of blocks"),
    (dict(steps=0), "must be positive"),
    (dict(temperature=-1.0), "temperature=-1.0 is negative"),
    (dict(cfg_scale=float("nan")), "cfg_scale=nan must be a finite number"),
    (dict(confidence_source="vibes"), "unknown confidence_source"),
    (dict(remasking="sometimes"), "unknown remasking"),
    (dict(kv_cache="fast"), "unknown kv_cache"),
    (dict(threshold=float("nan")), "threshold must be a number"),
    (dict(position_temperature=1.0, remask=False), "remask=True"),
    (dict(position_temperature=1.0, stop_at_eos=True), "position_temperature=0"),
])
def test_validate_refuses_what_the_sampler_cannot_run(changes, message):
    config = SamplerConfig(steps=16, gen_length=16, block_length=16).replace(**changes)
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_from_args_reads_the_cli_flags_and_one_block_by_default():
    parser = argparse.ArgumentParser()
    add_sampler_arguments(parser, block_length=None)
    args = parser.parse_args(["--steps", "8", "--gen-length", "16", "--no-remask", "--threshold", "0.9"])
    config = SamplerConfig.from_args(args)
    assert (config.steps, config.gen_length, config.block_length) == (8, 16, 16)
    assert config.remask is False and config.threshold == 0.9 and config.confidence_source is None


def test_resolve_picks_ups_with_remask_only_for_a_model_with_a_ups_head():
    config = SamplerConfig()
    assert config.resolve(has_ups=True) == ("ups", True)
    assert config.resolve(has_ups=False) == ("tps_prob", False)
    assert config.replace(remasking="random").resolve(has_ups=False) == ("random", False)
    with pytest.raises(ValueError, match="needs a model with a UPS head"):
        config.replace(confidence_source="ups").resolve(has_ups=False)


def test_generate_with_config_equals_generate_with_keywords():
    model = tiny_remedi(seed=3)
    prompt = random_prompt(batch=2, length=5)
    settings = dict(steps=8, gen_length=16, block_length=8, mask_id=MASK_ID, temperature=0.7,
                    confidence_source="tps_margin", remask=True)
    torch.manual_seed(0)
    by_keywords = generate(model, prompt, **settings)
    torch.manual_seed(0)
    by_config = generate(model, prompt, config=SamplerConfig(**settings))
    assert torch.equal(by_keywords, by_config)
    with pytest.raises(TypeError, match="not both"):
        generate(model, prompt, steps=4, config=SamplerConfig(**settings))


class MaskCounter(Observer):
    def begin(self, x, attention_mask, prompt_length, config):
        self.prompt_length, self.counts, self.ended = prompt_length, [], None

    def step(self, event):
        self.counts.append(int((event.new_x[0, self.prompt_length:] == MASK_ID).sum()))

    def end(self, x):
        self.ended = x


def test_an_observer_sees_every_step_and_the_final_ids():
    model = tiny_remedi(seed=4)
    counter = MaskCounter()
    out = generate(model, random_prompt(1, 4), steps=12, gen_length=12, block_length=4, mask_id=MASK_ID,
                   observers=[counter])
    assert counter.counts == scheduled_mask_counts(12, 4, 12)
    assert torch.equal(counter.ended, out)
