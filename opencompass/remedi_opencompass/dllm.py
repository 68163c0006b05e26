"""OpenCompass model wrappers that answer with our masked-diffusion sampler (`remedi.sampler.sampling.generate`).

Upstream LLaDA evaluates through `LLaDAModel` / `LLaDABaseModel` patched into a vendored OpenCompass.
These two classes do the same job for the pip-installed OpenCompass: a config imports one and names it
as the model's `type`. Option names are upstream's wherever upstream has the option, so its example
configs port by changing the import; RemeDi's sampler options are added under the sampler's own names.

    upstream option               -> remedi.sampler.sampling.generate argument
    gen_steps, gen_length         -> steps, gen_length
    gen_blocksize, cfg            -> block_length, cfg_scale
    temperature, remasking        -> temperature, remasking
    diff_logits_eos_inf           -> logits_eos_inf
    diff_confidence_eos_eot_inf   -> confidence_eos_eot_inf
    mask_id                       -> mask_id (default: the tokenizer's [MASK], not a hard-coded id)
    new: confidence_source, remask, eos_id, eot_id (defaults from the sampler and the tokenizer),
         threshold, stop_at_eos (faster decoding, remedi/sampler/parallel_decoding.py; off by default)

Options that upstream's wrapper accepts but never reads (`mc_num`, `padding_id`, `batch_padding`,
`extract_pred_after_decode`, `use_fastchat_template`, `generation_kwargs`) are not accepted here:
passing them, or any misspelled option, raises a TypeError instead of being silently dropped.
"""

import os
from typing import Dict, List, Optional

import torch
from opencompass.models.base import BaseModel
from opencompass.models.base_api import APITemplateParser
from opencompass.models.huggingface_above_v4_33 import _convert_base_messages, _convert_chat_messages
from opencompass.utils.logging import get_logger
from transformers import AutoTokenizer

from remedi.model.loading import DTYPES, TINY_RANDOM, load_model_and_tokenizer
from remedi.model.tokenizer import build_char_tokenizer, special_token_ids
from remedi.model.ups import RemeDiModel
from remedi.sampler.config import SamplerConfig
from remedi.sampler.sampling import generate
from remedi.sampler.step_runner import cache_layout_problem

# OpenCompass prompts arrive as HUMAN/BOT/SYSTEM rounds; the chat model turns them into chat messages.
CHAT_META_TEMPLATE = dict(
    round=[dict(role="HUMAN", api_role="HUMAN"), dict(role="BOT", api_role="BOT", generate=True)],
    reserved_roles=[dict(role="SYSTEM", api_role="SYSTEM")],
)
# Upstream spells dtypes as in OpenCompass's HF wrappers ('torch.bfloat16'); ours are remedi.model.loading's.
TORCH_DTYPE_NAMES = {"torch.float": "float32", "torch.float32": "float32", "torch.bfloat16": "bfloat16",
                     "torch.float16": "float16", **{name: name for name in DTYPES}}
TRUNCATION_MODES = ("none", "mid")


class RemeDiBaseModel(BaseModel):
    """Raw-text prompts (base checkpoints, few-shot completion prompts), answered by diffusion sampling.

    Args:
        path: model directory, a hub id (fetched with huggingface_hub into `hf_cache_dir`), or
            'tiny-random' (the built-in untrained model: a pipeline check, not a benchmark).
        ups_path: UPS head directory. Default: `<path>/ups` if it exists, else no head, and the
            sampler ranks by TPS confidence as LLaDA does.
        gen_steps, gen_length, gen_blocksize, cfg, temperature, remasking, diff_logits_eos_inf,
        diff_confidence_eos_eot_inf, confidence_source, remask, mask_id, eos_id, eot_id, kv_cache, threshold,
            stop_at_eos: sampler options, see the module docstring and `remedi.sampler.sampling.generate` (kv_cache:
            'none', 'exact' for block-causal models, 'prefix'/'dual' for bidirectional ones, approximate). Ids
            default to the tokenizer's special tokens. The answer always has gen_length positions, so
            OpenCompass's `max_out_len` (an autoregressive budget) does not change it.
        batch_size_: most prompts per sampler call (upstream's name; OpenCompass's own `batch_size`
            sets how many prompts each `generate` call receives). None: all of them at once.
        max_seq_len: prompt plus answer budget. Default: the model's context. Longer prompts are cut
            to max_seq_len - gen_length tokens: their start is dropped (`mode='none'`, as OpenCompass's
            HF wrappers truncate on the left) or their middle (`mode='mid'`).
        stop_words, end_str: the answer is cut before the first occurrence of any of them (after it
            is cut at the first EOS/EoT token).
        model_kwargs: `device_map` ('auto' = CUDA if available, else CPU, or a device string) and
            `torch_dtype` ('bfloat16', 'torch.bfloat16', ...; default bfloat16 on CUDA, float32 on CPU).
        tokenizer_path, tokenizer_kwargs: load the tokenizer from elsewhere / with these kwargs.
        pad_token_id: left-padding id (default: the tokenizer's pad, else its EOS, as LLaDA pads).
        peft_path: a PEFT (LoRA) adapter merged into the backbone after loading.
        hf_cache_dir: hub cache for hub ids (default: $HF_MODEL_HUB, as upstream, else HF's default).
        tokenizer_only: load only the tokenizer (token counting, no generation).
        meta_template: OpenCompass meta template.
    """

    def __init__(
        self,
        path: str,
        ups_path: Optional[str] = None,
        gen_steps: int = 512,
        gen_length: int = 512,
        gen_blocksize: int = 512,
        temperature: float = 0.0,
        cfg: float = 0.0,
        remasking: str = "low_confidence",
        diff_logits_eos_inf: bool = False,
        diff_confidence_eos_eot_inf: bool = False,
        confidence_source: Optional[str] = None,
        remask: Optional[bool] = None,
        mask_id: Optional[int] = None,
        eos_id: Optional[int] = None,
        eot_id: Optional[int] = None,
        kv_cache: str = "none",
        threshold: Optional[float] = None,
        stop_at_eos: bool = False,
        batch_size_: Optional[int] = None,
        max_seq_len: Optional[int] = None,
        mode: str = "none",
        stop_words: List[str] = (),
        end_str: Optional[str] = None,
        model_kwargs: Optional[Dict] = None,
        tokenizer_path: Optional[str] = None,
        tokenizer_kwargs: Optional[Dict] = None,
        pad_token_id: Optional[int] = None,
        peft_path: Optional[str] = None,
        hf_cache_dir: Optional[str] = None,
        tokenizer_only: bool = False,
        meta_template: Optional[Dict] = None,
    ):
        sampler = _sampler_config(
            steps=gen_steps, gen_length=gen_length, block_length=gen_blocksize, temperature=temperature, cfg_scale=cfg,
            remasking=remasking, logits_eos_inf=diff_logits_eos_inf, confidence_eos_eot_inf=diff_confidence_eos_eot_inf,
            confidence_source=confidence_source, remask=remask, kv_cache=kv_cache, threshold=threshold,
            stop_at_eos=stop_at_eos,
        )
        if mode not in TRUNCATION_MODES:
            raise ValueError(f"mode={mode!r}; choose one of {TRUNCATION_MODES}")
        if batch_size_ is not None and batch_size_ < 1:
            raise ValueError(f"batch_size_={batch_size_} must be a positive number of prompts")
        device, dtype = _device_and_dtype(model_kwargs or {})
        super().__init__(path=path, max_seq_len=max_seq_len or 0, tokenizer_only=tokenizer_only,
                         meta_template=meta_template)
        self.logger = get_logger()

        cache_dir = hf_cache_dir or os.getenv("HF_MODEL_HUB")
        model_dir = _resolve(path, cache_dir)
        if tokenizer_only:
            self.model = None
            tiny = model_dir == TINY_RANDOM
            self.tokenizer = build_char_tokenizer() if tiny else AutoTokenizer.from_pretrained(model_dir)
        else:
            self.model, self.tokenizer = load_model_and_tokenizer(model_dir, ups_path, device, dtype)
            if peft_path is not None:
                self.model = _merge_peft(self.model, peft_path)
        if tokenizer_path is not None or tokenizer_kwargs:
            if tokenizer_path is None and model_dir == TINY_RANDOM:
                raise ValueError("tokenizer_kwargs need a tokenizer_path when path='tiny-random'")
            self.tokenizer = AutoTokenizer.from_pretrained(_resolve(tokenizer_path or path, cache_dir),
                                                           **(tokenizer_kwargs or {}))
        if pad_token_id is not None:
            self.tokenizer.pad_token_id = pad_token_id
        elif self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        ids = special_token_ids(self.tokenizer)
        self.pad_id = ids["pad_id"]

        if self.model is not None:
            context = self.model.config.max_sequence_length
            self.max_seq_len = max_seq_len or context
            if self.max_seq_len > context:
                raise ValueError(f"max_seq_len={self.max_seq_len} exceeds the model's context of {context} tokens")
            if confidence_source == "ups" and not isinstance(self.model, RemeDiModel):
                raise ValueError("confidence_source='ups' needs a UPS head: set ups_path (or put it in <path>/ups)")
            cache_problem = cache_layout_problem(kv_cache, self.model.config)
            if cache_problem is not None:
                raise ValueError(cache_problem)
        if self.max_seq_len and self.max_seq_len <= gen_length:
            raise ValueError(f"max_seq_len={self.max_seq_len} must exceed gen_length={gen_length}")
        self.mode = mode
        self.batch_size_ = batch_size_
        self.stop_words = [w for w in (*stop_words, end_str) if w]
        self.sampler = sampler.replace(
            mask_id=ids["mask_id"] if mask_id is None else mask_id,
            eos_id=ids["eos_id"] if eos_id is None else eos_id,
            eot_id=ids["eot_id"] if eot_id is None else eot_id,
        )
        self.logger.info(f"{type(self).__name__}({path!r}, ups_path={ups_path!r}): sampler {self.sampler}")

    def encode_prompt(self, prompt) -> List[int]:
        """Token ids of one OpenCompass prompt (a string or a PromptList); BOS is the tokenizer's business."""
        return self.tokenizer(_convert_base_messages([prompt])[0])["input_ids"]

    def get_token_len(self, prompt) -> int:
        return len(self.encode_prompt(prompt))

    def generate(self, inputs, max_out_len: int, stopping_criteria: List[str] = ()) -> List[str]:
        """Answers for a batch of prompts. `max_out_len` is accepted for OpenCompass's interface only:
        a diffusion answer has exactly gen_length positions (EOS fills what it does not need)."""
        prompts = [self._truncate(self.encode_prompt(prompt)) for prompt in inputs]
        chunk = self.batch_size_ or len(prompts)
        answers = []
        for start in range(0, len(prompts), chunk):
            answers += self._sample(prompts[start:start + chunk])
        stops = [w for w in (*self.stop_words, *stopping_criteria) if w]
        return [_cut(answer, stops) for answer in answers]

    def _truncate(self, ids):
        budget = self.max_seq_len - self.sampler.gen_length
        if len(ids) <= budget:
            return ids
        self.logger.warning(f"prompt of {len(ids)} tokens cut to {budget} (mode={self.mode!r})")
        if self.mode == "mid":
            head = budget // 2
            return ids[:head] + ids[len(ids) - (budget - head):]
        return ids[len(ids) - budget:]

    def _sample(self, prompts: List[List[int]]) -> List[str]:
        """Left-pad, sample, cut each answer at its first EOS/EoT and decode."""
        width = max(len(ids) for ids in prompts)
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([[self.pad_id] * (width - len(ids)) + ids for ids in prompts], device=device)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=device)
        out = generate(self.model, input_ids, attention_mask, config=self.sampler)
        stop_ids = (self.sampler.eos_id, self.sampler.eot_id)
        answers = []
        for row in out[:, width:].tolist():
            end = next((i for i, token in enumerate(row) if token in stop_ids), len(row))
            answers.append(self.tokenizer.decode(row[:end], skip_special_tokens=True))
        return answers


class RemeDiChatModel(RemeDiBaseModel):
    """Instruct checkpoints: OpenCompass's HUMAN/BOT/SYSTEM rounds become chat messages, wrapped by the
    tokenizer's chat template with the assistant header appended. Same options as RemeDiBaseModel."""

    def __init__(self, path: str, meta_template: Optional[Dict] = None, **kwargs):
        super().__init__(path, meta_template=meta_template, **kwargs)
        self.template_parser = APITemplateParser(meta_template or CHAT_META_TEMPLATE)

    def encode_prompt(self, prompt) -> List[int]:
        """The chat template already holds BOS, so the tokenizer adds no special tokens of its own."""
        messages = _convert_chat_messages([prompt])[0]
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]


def _sampler_config(**settings):
    """The sampler's settings, refused before an 8B model is loaded rather than at the first batch; the message
    adds upstream's names for the three numbers."""
    try:
        return SamplerConfig(**settings).validate()
    except ValueError as error:
        raise ValueError(f"{error} (gen_steps, gen_length and gen_blocksize are steps, gen_length and block_length "
                         "there)") from None


def _device_and_dtype(model_kwargs):
    unknown = set(model_kwargs) - {"device_map", "torch_dtype"}
    if unknown:
        raise ValueError(f"model_kwargs {sorted(unknown)} are not supported; use device_map and torch_dtype")
    device = model_kwargs.get("device_map", "auto")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    name = model_kwargs.get("torch_dtype", "bfloat16" if str(device).startswith("cuda") else "float32")
    if name not in TORCH_DTYPE_NAMES:
        raise ValueError(f"torch_dtype={name!r}; choose one of {sorted(TORCH_DTYPE_NAMES)}")
    return device, TORCH_DTYPE_NAMES[name]


def _resolve(path, cache_dir):
    """A directory or 'tiny-random' as is; an 'owner/name' hub id through the hub cache (offline-safe)."""
    if path == TINY_RANDOM or os.path.isdir(path) or path.startswith((".", "/")) or path.count("/") != 1:
        return path
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=path, cache_dir=cache_dir)


def _merge_peft(model, peft_path):
    """Merge a LoRA adapter into the backbone, so the UPS head reads the adapted hidden states."""
    from peft import PeftModel

    if isinstance(model, RemeDiModel):
        model.backbone = PeftModel.from_pretrained(model.backbone, peft_path).merge_and_unload()
        return model
    return PeftModel.from_pretrained(model, peft_path).merge_and_unload()


def _cut(text, stop_words):
    for word in stop_words:
        text = text.split(word)[0]
    return text
