"""A character-level tokenizer with LLaDA's special tokens and chat template.

Tiny CPU models need a tiny vocabulary, but the code paths (chat template, EOS/EoT gating, pad != mask)
should be the ones LLaDA-8B's tokenizer exercises. So: one token per printable ASCII character plus
newline, and the special tokens of LLaDA-8B-Instruct under the same names.
"""

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

BOS, EOS, EOT, MASK = "<|startoftext|>", "<|endoftext|>", "<|eot_id|>", "<|mdm_mask|>"
HEADER_START, HEADER_END = "<|start_header_id|>", "<|end_header_id|>"
UNK = "<|unk|>"
SPECIAL_TOKENS = [UNK, BOS, EOS, EOT, MASK, HEADER_START, HEADER_END]

# LLaDA-Instruct's turn layout: header with the role, blank line, content, <|eot_id|>.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def build_char_tokenizer() -> PreTrainedTokenizerFast:
    """Special tokens first (ids 0..6), then '\\n' and the 95 printable ASCII characters."""
    chars = ["\n"] + [chr(c) for c in range(32, 127)]
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + chars)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=EOS,
        mask_token=MASK,
        additional_special_tokens=[EOT, HEADER_START, HEADER_END],
        padding_side="left",
        model_max_length=4096,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def special_token_ids(tokenizer) -> dict:
    """The ids the sampler and the trainer need, looked up by name so any LLaDA-like tokenizer works."""
    ids = {
        "mask_id": tokenizer.convert_tokens_to_ids(MASK) if tokenizer.mask_token is None else tokenizer.mask_token_id,
        "eos_id": tokenizer.eos_token_id,
        "eot_id": tokenizer.convert_tokens_to_ids(EOT),
        "pad_id": tokenizer.pad_token_id,
    }
    missing = [name for name, value in ids.items() if value is None or value == tokenizer.unk_token_id]
    if missing:
        raise ValueError(f"tokenizer lacks LLaDA special tokens for {missing}")
    return ids


def encode_prompts(tokenizer, prompts, chat_template=True):
    """Left-padded (ids, attention_mask), as LLaDA's batch sampling expects."""
    if chat_template and tokenizer.chat_template:
        prompts = [
            tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
            for p in prompts
        ]
    tokenizer.padding_side = "left"
    encoded = tokenizer(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]
