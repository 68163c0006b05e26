"""lm-evaluation-harness models for masked diffusion LMs, registered as `llada_dist` and `remedi`.

`llada_dist` is the name LLaDA's `eval_llada.py` registers, so its EVAL.md commands run unchanged; it starts
from LLaDA's sampler (TPS confidence, no remasking, even when the model carries a UPS). `remedi` starts from
the model's own: the UPS with remasking when it has one. Everything else is shared:

- loglikelihood: the Monte-Carlo ELBO of remedi/eval/likelihood.py, batched across requests. Every request draws
  its masks from the same seed (torch's seed when the model was built, which lm-eval's `--seed` sets), so a
  request's score does not depend on which process or batch ran it, and a question's choices are compared
  under the same masks. `is_check_greedy` adds LLaDA's greedy check (slow: one pass per answer token).
- generate_until: `remedi.sampler.sampling.generate`, `batch_size` prompts per call, cut at the task's `until` strings.
- loglikelihood_rolling (perplexity) is refused: a masked diffusion model gives a bound on a document's
  log-likelihood, not the left-to-right token probabilities those tasks add up.

Under `accelerate launch --num_processes N` lm-eval gives each process every N-th document; the gathering
primitives below are what it calls to put the scores back together.
"""

import argparse
import dataclasses
import json
import logging
import os
from typing import List, Optional, get_args

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.utils import simple_parse_args_string
from tqdm.auto import tqdm

from remedi.eval.likelihood import greedy_matches, left_pad, log_likelihoods
from remedi.model.loading import DTYPES, load_model_and_tokenizer
from remedi.model.release import local_checkpoint
from remedi.model.tokenizer import special_token_ids
from remedi.model.ups import RemeDiModel
from remedi.model.ups_registry import UPS_CONFIG_NAME
from remedi.sampler.config import UPSTREAM_REMASKING, SamplerConfig
from remedi.sampler.sampling import generate
from remedi.sampler.step_runner import make_step_runner

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class HarnessOptions:
    """The model_args. Upstream's names and defaults first (mask_id and max_length default to the tokenizer's
    [MASK] and the model's context, device and dtype to CUDA + bfloat16 when there is a GPU, else CPU + float32;
    under `accelerate launch` each process runs on the device accelerate gives it)."""

    model_path: str = ""
    mask_id: Optional[int] = None
    max_length: Optional[int] = None
    batch_size: int = 32  # Monte-Carlo mini-batch in loglikelihood; prompts per sampler call in generate_until
    mc_num: int = 128
    is_check_greedy: bool = True
    cfg: float = 0.0
    steps: int = 1024
    gen_length: int = 1024
    block_length: int = 1024
    remasking: str = "low_confidence"
    # RemeDi's
    ups_path: Optional[str] = None
    confidence_source: Optional[str] = None
    remask: Optional[bool] = None
    kv_cache: str = "none"
    threshold: Optional[float] = None
    stop_at_eos: bool = False
    temperature: float = 0.0
    logits_eos_inf: bool = False
    confidence_eos_eot_inf: bool = False
    max_batch_size: Optional[int] = None  # rows per forward pass in loglikelihood (default: batch_size)
    dtype: Optional[str] = None
    device: Optional[str] = None

    @classmethod
    def parse(cls, model_args):
        """Options from lm-eval's parsed model_args, with every unknown name or ill-typed value refused."""
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(model_args) - set(fields))
        if unknown:
            raise ValueError(f"unknown model_args {unknown}; known: {', '.join(fields)}")
        return cls(**{name: _typed(name, value, fields[name].type) for name, value in model_args.items()})

    def check(self):
        """Refuse what cannot run before a model is loaded."""
        if not self.model_path:
            raise ValueError("model_args needs model_path=<model directory, hub id or tiny-random>")
        for name in ("batch_size", "mc_num", "steps", "gen_length", "block_length", "max_batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")
        if self.mc_num % self.batch_size:
            raise ValueError(f"mc_num={self.mc_num} must be a multiple of batch_size={self.batch_size} "
                             "(each Monte-Carlo mini-batch has batch_size rows); e.g. batch_size=8,mc_num=128")
        self.sampler_config().validate()
        if self.dtype not in (None, *DTYPES):
            raise ValueError(f"dtype={self.dtype!r}; choose one of {tuple(DTYPES)}")

    def sampler_config(self):
        """generate_until's sampler (token ids are the tokenizer's, set once it is loaded)."""
        return SamplerConfig(steps=self.steps, gen_length=self.gen_length, block_length=self.block_length,
                             temperature=self.temperature, cfg_scale=self.cfg, remasking=self.remasking,
                             logits_eos_inf=self.logits_eos_inf, confidence_eos_eot_inf=self.confidence_eos_eot_inf,
                             confidence_source=self.confidence_source, remask=self.remask, kv_cache=self.kv_cache,
                             threshold=self.threshold, stop_at_eos=self.stop_at_eos)


    def fit_context(self, context):
        """max_length (default: the model's context of `context` tokens), refused if it cannot hold an answer."""
        max_length = self.max_length or context
        if max_length > context:
            raise ValueError(f"max_length={max_length} exceeds the model's context of {context} tokens")
        if self.gen_length >= max_length:
            raise ValueError(f"gen_length={self.gen_length} leaves no room for a prompt in max_length={max_length}")
        return max_length


TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a text"}


def _typed(name, value, annotation):
    """`value` as the field's type: lm-eval passes numbers and booleans parsed, or as strings (--batch_size)."""
    optional = type(None) in get_args(annotation)
    kind = next((k for k in get_args(annotation) if k is not type(None)), annotation)
    if value is None and optional:
        return value
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind is bool and isinstance(value, int) and value in (0, 1):
        return bool(value)
    if kind is bool and isinstance(value, bool) or kind is str and isinstance(value, str):
        return value
    if kind in (int, float) and not isinstance(value, bool):
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is not None and (kind is float or number == float(value)):
            return number
    raise ValueError(f"model_args {name}={value!r} is not {TYPE_NAMES[kind]}" + (" (or None)" if optional else ""))


class DiffusionHarness(LM):
    """A masked diffusion model (LLaDA, RemeDi, a block-causal model) behind lm-eval's LM interface."""

    def __init__(self, **model_args):
        super().__init__()
        self.options = options = self.options_from(model_args)
        self._init_processes(options.device)
        dtype = options.dtype or ("bfloat16" if self._device.type == "cuda" else "float32")
        self.model, self.tokenizer = load_model_and_tokenizer(local_checkpoint(options.model_path), options.ups_path,
                                                              self._device, dtype)
        ids = special_token_ids(self.tokenizer)
        self.mask_id = ids["mask_id"] if options.mask_id is None else options.mask_id
        self.eos_id, self.eot_id, self.pad_id = ids["eos_id"], ids["eot_id"], ids["pad_id"]
        self.max_length = options.fit_context(self.model.config.max_sequence_length)
        if options.confidence_source == "ups" and not isinstance(self.model, RemeDiModel):
            raise ValueError("confidence_source=ups needs a UPS head: give ups_path (or put one in <model_path>/ups)")
        # the sampler refuses a cache it cannot serve (layout, CFG, UPS type) when it builds its runner: do it now
        make_step_runner(options.kv_cache, self.model, None, None, 1, options.block_length, self.mask_id, options.cfg,
                         options.logits_eos_inf, self.eos_id)
        self.seed = torch.initial_seed()
        self._warned = set()

    @classmethod
    def options_from(cls, model_args):
        """Checked options of this entry: `model_args` over its defaults."""
        options = HarnessOptions.parse(model_args)
        options.check()
        return options

    @classmethod
    def create_from_arg_string(cls, arg_string, additional_config=None):
        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict, additional_config=None):
        """lm-eval always passes its --batch_size (1 unless given) and --device (cuda:0 unless given); the same
        names in model_args win, and lm-eval's CUDA default is dropped where torch has no CUDA."""
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None and k not in arg_dict}
        if str(extra.get("device", "")).startswith("cuda") and not torch.cuda.is_available():
            logger.warning(f"device {extra.pop('device')} is not available (torch has no CUDA here): "
                           "running on the CPU")
        return cls(**arg_dict, **extra)

    def _init_processes(self, device):
        from accelerate import PartialState

        state = PartialState()
        self._rank, self._world_size = state.process_index, state.num_processes
        if self._world_size > 1:
            self._device = state.device
        else:
            self._device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self._device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={device} but torch has no CUDA here; use device=cpu")

    # ---- lm-eval's requests

    def loglikelihood(self, requests) -> List[tuple]:
        pairs = [self._encode_pair(*request.args) for request in requests]
        for index, (prompt, answer) in enumerate(pairs):
            if prompt.numel() + answer.numel() > self.max_length:
                raise ValueError(f"loglikelihood request {index}: context + continuation is "
                                 f"{prompt.numel() + answer.numel()} tokens, more than max_length={self.max_length}; "
                                 "raise max_length (up to the model's context) or use fewer few-shot examples")
        o = self.options
        scores = log_likelihoods(self.model, pairs, o.mc_num, o.batch_size, o.cfg, self.mask_id, seed=self.seed,
                                 max_rows=o.max_batch_size, pad_id=self.pad_id, progress=self.rank == 0)
        greedy = (greedy_matches(self.model, pairs, o.cfg, self.mask_id, max_rows=o.batch_size, pad_id=self.pad_id)
                  if o.is_check_greedy else [False] * len(pairs))
        results = list(zip(scores, greedy))
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", request.args, result)
        return results

    def loglikelihood_rolling(self, requests):
        raise ValueError("loglikelihood_rolling (perplexity tasks such as wikitext) is not supported: a masked "
                         "diffusion model bounds a document's log-likelihood but has no left-to-right token "
                         "probabilities to add up; run loglikelihood or generate_until tasks")

    def generate_until(self, requests) -> List[str]:
        o = self.options
        prompts = [self._encode(request.args[0]) for request in requests]
        for index, prompt in enumerate(prompts):
            if len(prompt) + o.gen_length > self.max_length:
                raise ValueError(f"generate_until request {index}: the prompt ({len(prompt)} tokens) + gen_length "
                                 f"({o.gen_length}) exceeds max_length={self.max_length}; raise max_length (up to the "
                                 "model's context), lower gen_length or use fewer few-shot examples")
        stops = [self._stop_strings(request.args[1]) for request in requests]
        answers = []
        starts = range(0, len(prompts), o.batch_size)
        for start in tqdm(starts, desc="generating", disable=self.rank != 0):
            answers += self._sample(prompts[start : start + o.batch_size])
        answers = [self._cut(answer, until) for answer, until in zip(answers, stops)]
        for request, answer in zip(requests, answers):
            self.cache_hook.add_partial("generate_until", request.args, answer)
        return answers

    def _sample(self, prompts):
        """Answer texts of one batch, special tokens kept (the until strings may name them)."""
        o = self.options
        ids, keep = left_pad([torch.tensor(prompt) for prompt in prompts], self.pad_id)
        config = o.sampler_config().replace(mask_id=self.mask_id, eos_id=self.eos_id, eot_id=self.eot_id)
        out = generate(self.model, ids.to(self._device), keep.long().to(self._device), config=config)
        return self.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=False)

    def _cut(self, text, until):
        """The text before the first `until` string, then without special tokens (LLaDA's order)."""
        for stop in until:
            text = text.split(stop)[0]
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _stop_strings(self, gen_kwargs):
        """The task's `until` strings. The answer length is gen_length and sampling follows the model_args, so
        the other generation kwargs are not used; each is named once in a warning when it asks otherwise."""
        until = gen_kwargs.get("until") or []
        until = [until] if isinstance(until, str) else list(until)
        o = self.options
        ours = {"max_gen_toks": o.gen_length, "do_sample": o.temperature > 0, "temperature": o.temperature}
        for key, value in gen_kwargs.items():
            if key != "until" and key not in self._warned and ours.get(key, not value) != value:
                self._warned.add(key)
                logger.warning(f"generation kwarg {key}={value!r} is not used: a diffusion answer has gen_length "
                               "tokens and is sampled as the model_args say (temperature, steps, block_length, ...)")
        return until

    # ---- text to ids

    def _encode(self, text):
        """Token ids of a context. A chat-templated context already starts with BOS, so none is added to it;
        a raw one gets what the tokenizer adds by default (BOS for LLaDA's), as upstream tokenizes it."""
        bos = self.tokenizer.bos_token
        return self.tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)))["input_ids"]

    def _encode_pair(self, context, continuation):
        """(prompt, answer) ids: trailing spaces of the context move to the continuation, and the answer is what
        the whole text has beyond the context's tokens (LLaDA's and lm-eval's rule)."""
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        prompt = self._encode(context)
        whole = self._encode(context + continuation)
        return torch.tensor(prompt), torch.tensor(whole[len(prompt):])

    # ---- chat template (lm-eval's --apply_chat_template)

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt,
                                                  continue_final_message=not add_generation_prompt)

    @property
    def tokenizer_name(self):
        return (self.tokenizer.name_or_path or self.options.model_path).replace("/", "__")

    def chat_template(self, chat_template=False):
        return self.tokenizer.chat_template

    # ---- data parallel (accelerate launch)

    def all_gather(self, tensor):
        if self.world_size == 1:
            return tensor
        from accelerate.utils import gather

        return gather(tensor)

    def gather_object(self, obj, dst=0):
        if self.world_size == 1:
            return [obj]
        gathered = [None] * self.world_size if self.rank == dst else None
        torch.distributed.gather_object(obj, gathered, dst=dst)
        return gathered

    def barrier(self):
        if self.world_size > 1:
            torch.distributed.barrier()


@register_model("remedi")
class RemeDiHarness(DiffusionHarness):
    """The model's own sampler: UPS confidence with remasking when it has a UPS head, else LLaDA's."""


@register_model("llada_dist")
class LLaDAHarness(DiffusionHarness):
    """LLaDA's eval_llada.py: the low-confidence (or random) order of `remasking`, no remasking, no UPS scores,
    unless confidence_source / remask are given."""

    @classmethod
    def options_from(cls, model_args):
        remasking = model_args.get("remasking", HarnessOptions.remasking)
        return super().options_from({"confidence_source": UPSTREAM_REMASKING.get(remasking), "remask": False,
                                     **model_args})


HARNESSES = {"remedi": RemeDiHarness, "llada_dist": LLaDAHarness}


def check_command_line(argv):
    """Refuse bad model_args of our models before lm-eval starts (and logs), so that the user sees one error line.

    Reads --model, --model_args, --batch_size and --device as lm-eval will, checks the options as the model's
    constructor will, and that ups_path (if given) holds a UPS. Other models are lm-eval's business.
    """
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--model")
    parser.add_argument("--model_args", "-a", nargs="+", default=[])
    parser.add_argument("--batch_size", "-b")
    parser.add_argument("--device")
    known, _ = parser.parse_known_args(argv)
    harness = HARNESSES.get(known.model)
    if harness is None:
        return
    model_args = simple_parse_args_string(",".join(known.model_args))
    lm_eval_args = {"batch_size": known.batch_size or 1, "device": known.device}
    options = harness.options_from({**{k: v for k, v in lm_eval_args.items() if v is not None}, **model_args})
    if options.ups_path is not None and not os.path.isfile(os.path.join(options.ups_path, UPS_CONFIG_NAME)):
        raise FileNotFoundError(f"ups_path={options.ups_path}: no {UPS_CONFIG_NAME} there; give the folder that "
                                "holds the UPS weights, or leave ups_path out")
    config_path = os.path.join(options.model_path, "config.json")
    if os.path.isfile(config_path):  # a local model: its context is known before it loads
        with open(config_path) as f:
            options.fit_context(json.load(f)["max_sequence_length"])
