"""SFT and pretraining data: source adapters, SFT row building, packing."""

from remedi.data.pretrain import pack_texts, random_length_crop
from remedi.data.sft import SFTExamples, build_sft_examples
from remedi.data.sources import (
    load_gsm8k,
    load_local_pairs,
    load_math500,
    load_opc,
    load_s1k,
    load_sft_pairs,
    load_table,
)

__all__ = [
    "SFTExamples",
    "build_sft_examples",
    "load_gsm8k",
    "load_local_pairs",
    "load_math500",
    "load_opc",
    "load_s1k",
    "load_sft_pairs",
    "load_table",
    "pack_texts",
    "random_length_crop",
]
