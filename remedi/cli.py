"""Command-line flags shared by the entry points (generate.py, chat.py), so they mean the same everywhere."""

import argparse

from .loading import DEFAULT_MODEL, DTYPES, TINY_RANDOM
from .sampling import CONFIDENCE_SOURCES


def add_model_arguments(parser):
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model directory, or {TINY_RANDOM!r}")
    parser.add_argument("--ups", default=None, help="directory with UPS head weights (ups_config.json)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32")


def add_sampler_arguments(parser):
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--gen-length", type=int, default=32)
    parser.add_argument("--block-length", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--cfg-scale", type=float, default=0.0)
    parser.add_argument("--confidence-source", choices=CONFIDENCE_SOURCES, default=None,
                        help="default: ups if the model has a UPS head, else tps_prob")
    parser.add_argument("--remask", action=argparse.BooleanOptionalAction, default=None,
                        help="RemeDi remasking (default: on with ups, off otherwise)")
    parser.add_argument("--seed", type=int, default=0)

