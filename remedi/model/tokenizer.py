"""A character-level tokenizer with LLaDA's special tokens and chat template.

Tiny CPU models need a tiny vocabulary, but the code paths (chat template, EOS/EoT gating, pad != mask)
should be the ones LLaDA-8B's tokenizer exercises. So: one token per printable ASCII character plus
newline, and the special tokens of LLaDA-8B-Instruct under the same names.
"""

import sys

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


def decode_answer(tokenizer, answer_ids, stop_ids):
    """Text of the answer up to its first stop token (EOS or EoT); what follows is padding, not reply."""
    answer_ids = list(answer_ids)
    for position, token in enumerate(answer_ids):
        if token in stop_ids:
            answer_ids = answer_ids[:position]
            break
    return tokenizer.decode(answer_ids, skip_special_tokens=True)


def warn_unknown_characters(tokenizer, texts):
    """Print one warning line on stderr naming the characters of `texts` that the tokenizer can only
    write as its unknown token, and return them (in order of first appearance).

    The character tokenizer knows printable ASCII and newline, so 'é' or '€' in a prompt would silently
    reach the model as <|unk|>. Byte-level tokenizers (LLaDA-8B's) have no unknown token: never a warning.
    """
    if tokenizer.unk_token_id is None:
        return []
    characters = list(dict.fromkeys("".join(texts)))
    encoded = tokenizer(characters, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    unknown = [c for c, ids in zip(characters, encoded) if tokenizer.unk_token_id in ids]
    if unknown:
        print(f"warning: characters not in the tokenizer's alphabet become {tokenizer.unk_token}: "
              + ", ".join(map(repr, unknown)), file=sys.stderr)
    return unknown


# Stands in for message contents while the template is rendered; private-use characters, so no
# template writes them and a message holding them is vanishingly unlikely.
_CONTENT_MARKER = "\ue000content {}\ue001"


def _render(tokenizer, messages, add_generation_prompt):
    return tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)


def encode_chat(tokenizer, messages, add_generation_prompt=True):
    """Token ids of a conversation in the tokenizer's chat template, where no message content can become a
    special token: a user who types '<|eot_id|>' gets those ten characters, not the end of the turn.

    Rendering the template to text and tokenising that text cannot tell the template's '<|eot_id|>' from a
    user's. So the template is rendered with a marker in place of each content; the template's own text
    between markers is tokenised as usual and each content on its own with split_special_tokens=True.
    What the template writes for a content (Llama-3's template trims it) comes from rendering it with the
    other contents still marked. Decoding the ids gives the rendered text back; for tokenisers that split
    words at the template's seams anyway (this character tokenizer, Llama-3-style pre-tokenisers) the
    ids of a conversation without special-token text equal those of the rendered text.
    """
    markers = [_CONTENT_MARKER.format(i) for i in range(len(messages))]
    marked = [dict(message, content=marker) for message, marker in zip(messages, markers)]
    template_text = _render(tokenizer, marked, add_generation_prompt)
    ids, rest = [], template_text
    for i, marker in enumerate(markers):
        if template_text.count(marker) != 1:
            raise ValueError("the chat template does not write each message content once; cannot encode safely")
        head, tail = template_text.split(marker)
        real = _render(tokenizer, marked[:i] + [messages[i]] + marked[i + 1 :], add_generation_prompt)
        if len(real) < len(head) + len(tail) or not (real.startswith(head) and real.endswith(tail)):
            raise ValueError("the chat template changes its own text with the message content; cannot encode safely")
        before, _, rest = rest.partition(marker)
        ids += tokenizer(before, add_special_tokens=False)["input_ids"]
        content = real[len(head) : len(real) - len(tail)]
        ids += tokenizer(content, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return ids + tokenizer(rest, add_special_tokens=False)["input_ids"]


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
