"""Tokenise (prompt, response) pairs into fixed-length SFT rows, the way LLaDA's SFT lays them out.

A row is  [chat-formatted prompt ending in the assistant header][response][<|eot_id|>][EOS ... EOS].
The prompt is rendered by the tokenizer's chat template with add_generation_prompt=True, i.e. the
exact prefix the sampler feeds at inference; the response is tokenised on its own and closed by
the end-of-turn token, as the template closes every turn. The EOS padding belongs to the answer:
it is noised and trained on, which is how a masked diffusion model learns where to stop.
"""

from dataclasses import dataclass

import torch

from remedi.model.tokenizer import special_token_ids


@dataclass
class SFTExamples:
    input_ids: torch.Tensor  # (N, seq_len) long
    prompt_lengths: torch.Tensor  # (N,) long, tokens of the prompt; the rest of the row is answer
    counts: dict  # kept, truncated, empty, malformed, too_long
    full_lengths: torch.Tensor  # (N,) long, prompt + answer + end-of-turn tokens of each row before any cut


def build_sft_examples(pairs, tokenizer, seq_len, truncate=True):
    """Rows of exactly seq_len tokens and their prompt lengths from (prompt, response) string pairs.

    Skipped and counted: malformed rows (not a pair of strings), empty ones (blank prompt or
    response) and too_long ones (the prompt leaves no room for an answer token, or, with
    truncate=False, prompt + response + end-of-turn does not fit). With truncate=True a long
    answer is cut to fit, losing its end-of-turn token; those rows are counted as truncated.
    """
    ids = special_token_ids(tokenizer)
    counts = dict(kept=0, truncated=0, empty=0, malformed=0, too_long=0)
    good = []
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            counts["malformed"] += 1
        elif not pair[0].strip() or not pair[1].strip():
            counts["empty"] += 1
        else:
            good.append(pair)

    rows, prompt_lengths, full_lengths = [], [], []
    if good:
        conversations = [[{"role": "user", "content": prompt}] for prompt, _ in good]
        prompt_ids = tokenizer.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True)
        response_ids = tokenizer([response for _, response in good], add_special_tokens=False)["input_ids"]
        for p, r in zip(prompt_ids, response_ids):
            answer = r + [ids["eot_id"]]
            room = seq_len - len(p)
            if room < 1 or (len(answer) > room and not truncate):
                counts["too_long"] += 1
                continue
            counts["truncated"] += int(len(answer) > room)
            rows.append(p + answer[:room])
            prompt_lengths.append(len(p))
            full_lengths.append(len(p) + len(answer))

    counts["kept"] = len(rows)
    print(
        f"kept {counts['kept']} (truncated {counts['truncated']}), skipped: "
        f"empty={counts['empty']} malformed={counts['malformed']} too_long={counts['too_long']}"
    )
    if not rows:
        raise ValueError(f"no usable SFT examples at seq_len={seq_len}: {counts}")

    input_ids = torch.full((len(rows), seq_len), ids["eos_id"], dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    prompt_lengths = torch.tensor(prompt_lengths, dtype=torch.long)
    full_lengths = torch.tensor(full_lengths, dtype=torch.long)
    return SFTExamples(input_ids=input_ids, prompt_lengths=prompt_lengths, counts=counts, full_lengths=full_lengths)
