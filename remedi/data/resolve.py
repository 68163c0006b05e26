"""Turn the trainer's --data value into tokenised rows.

    gsm8k | math500 | s1k          the named SFT sets (local copies in ../shared/data when present)
    opc:<config>                   OpenCoder opc-sft-stage2, one of its configs
    PATH.jsonl|PATH.json|PATH.parquet  any local table: prompt/response columns (SFT) or a text column (pretraining)
"""

import sys
from pathlib import Path

import torch

from remedi.data.pretrain import pack_texts
from remedi.data.sft import build_sft_examples
from remedi.data.sources import OPC_CONFIGS, load_local_pairs, load_opc, load_sft_pairs, load_table

LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet")
NAMED = ("gsm8k", "math500", "s1k")
# Share of --data the trainers hold out for validation when no --val-data is given.
DEFAULT_VAL_FRACTION = 0.05


def is_local(spec):
    return Path(spec).suffix in LOCAL_SUFFIXES


def load_pairs(spec, prompt_column=None, response_column=None):
    """(prompt, response) pairs for a --data value; column names apply to local files and opc only."""
    if is_local(spec):
        return load_local_pairs(spec, prompt_column or "prompt", response_column or "response")
    name, _, config = spec.partition(":")
    if name == "opc":
        columns = {k: v for k, v in (("prompt_column", prompt_column), ("response_column", response_column)) if v}
        return load_opc(config or OPC_CONFIGS[0], **columns)
    if name not in NAMED:
        raise ValueError(f"--data must be one of {NAMED}, opc:<config> or a {'/'.join(LOCAL_SUFFIXES)} file, "
                         f"got {spec!r}")
    if config or prompt_column or response_column:
        raise ValueError(f"{name} has fixed columns and no configs: "
                         f"drop ':{config}' / --prompt-column / --response-column")
    return load_sft_pairs(name)


def load_sft_rows(spec, tokenizer, seq_len, prompt_column=None, response_column=None):
    """SFTExamples (input_ids (N, seq_len), prompt_lengths (N,)) for a --data value."""
    examples = build_sft_examples(load_pairs(spec, prompt_column, response_column), tokenizer, seq_len)
    check_truncation(examples, spec, seq_len)
    return examples


def check_truncation(examples, spec, seq_len):
    """Refuse a --seq-len that cuts most answers, and warn with the share when it cuts some.

    A cut answer loses its end-of-turn token and its EOS padding, so training on it teaches the model
    to stop mid-answer without ever ending one.
    """
    cut, kept = examples.counts["truncated"], examples.counts["kept"]
    if cut == 0:
        return
    longest = int(examples.full_lengths.max())
    share = f"{cut} of {kept} answers in {spec} ({cut / kept:.0%}) are cut at --seq-len {seq_len}"
    if 2 * cut > kept:
        raise ValueError(f"{share}; raise --seq-len (the longest prompt + answer needs {longest} tokens)")
    print(f"warning: {share} and lose their end-of-turn token; --seq-len {longest} keeps every answer whole",
          file=sys.stderr)


def load_packed_rows(spec, tokenizer, seq_len, text_column="text"):
    """(N, seq_len) rows packed from the `text_column` of a local table (pretraining mode)."""
    if not is_local(spec):
        raise ValueError(f"pretraining reads a local {'/'.join(LOCAL_SUFFIXES)} file with --text-column, got {spec!r}")
    table = load_table(spec)
    if text_column not in table.column_names:
        raise ValueError(f"column {text_column!r} not in {spec}; available: {table.column_names}")
    texts = [t for t in table[text_column] if isinstance(t, str) and t.strip()]
    return pack_texts(texts, tokenizer, seq_len)


def split_validation(n_rows, fraction, seed):
    """(train_indices, val_indices): a seeded random `fraction` of the rows (at least one if fraction > 0) held out."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val fraction must lie in [0, 1), got {fraction}")
    order = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed))
    n_val = 0 if fraction == 0 else max(1, round(fraction * n_rows))
    if n_val >= n_rows:
        raise ValueError(f"holding out {n_val} of {n_rows} rows for validation leaves nothing to train on")
    return order[n_val:].sort().values, order[:n_val].sort().values
