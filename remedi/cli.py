"""Command-line pieces shared by the entry points: common flags, help formatting and error reporting."""

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

from remedi.model.loading import DEFAULT_MODEL, DTYPES, TINY_RANDOM
from remedi.sampler.config import CONFIDENCE_SOURCES
from remedi.sampler.step_runner import KV_CACHE_MODES


def positive_int(text):
    """An argparse type for steps, lengths and counts: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text):
    """An argparse type for durations and budgets: a number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def finite_float(text):
    """An argparse type for --temperature and --cfg-scale: NaN or infinity would reach the sampler as a meaningless
    setting that it runs without a word (the sampler itself refuses negative values)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def confidence_threshold(text):
    """An argparse type for a decoding threshold: a confidence in (0, 1]. Above 1 it never fires and at 0 every
    position counts as confident, so both would silently run another rule than the one asked for."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a confidence in (0, 1], got {text}")
    return value


def add_model_arguments(parser):
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model directory, or {TINY_RANDOM!r}")
    parser.add_argument("--ups", default=None, help="directory with UPS head weights (ups_config.json)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32")


def add_sampler_arguments(parser, block_length=32):
    """The sampler's flags. With block_length=None, --block-length defaults to --gen-length (one block), so
    that a short --gen-length alone is valid; the entry point then resolves it."""
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--gen-length", type=int, default=32)
    one_block = " (default: --gen-length, one block)" if block_length is None else ""
    parser.add_argument("--block-length", type=int, default=block_length, help="tokens per block" + one_block)
    parser.add_argument("--temperature", type=finite_float, default=0.0)
    parser.add_argument("--cfg-scale", type=finite_float, default=0.0)
    parser.add_argument("--confidence-source", choices=CONFIDENCE_SOURCES, default=None,
                        help="default: ups if the model has a UPS head, else tps_prob")
    parser.add_argument("--remask", action=argparse.BooleanOptionalAction, default=None,
                        help="RemeDi remasking (default: on with ups, off otherwise)")
    parser.add_argument("--threshold", type=confidence_threshold, default=None,
                        help="dynamic parallel decoding: a step also settles every position at least this "
                             "confident and a block ends once nothing in it is masked (default: the fixed schedule)")
    parser.add_argument("--stop-at-eos", action="store_true",
                        help="stop once a finished block holds only EOS/EoT after its first EOS/EoT; the rest is EOS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kv-cache", choices=KV_CACHE_MODES, default="none",
                        help="exact: block-causal models, same tokens as none; prefix/dual: bidirectional models, "
                             "approximate (Fast-dLLM), faster")



PRECISIONS = ("32-true", "bf16-mixed", "bf16-true")


def add_hardware_arguments(parser):
    """The trainers' Lightning Fabric flags (the same command runs on one CPU and on many GPUs/nodes)."""
    g = parser.add_argument_group("hardware")
    g.add_argument("--accelerator", default="auto", help="auto | cpu | cuda | gpu")
    g.add_argument("--devices", type=int, default=1, help="devices per node")
    g.add_argument("--num-nodes", type=int, default=1, help="machines")
    g.add_argument("--strategy", choices=["auto", "ddp", "fsdp"], default="auto",
                   help="fsdp shards LLaDA blocks (GPU only)")
    g.add_argument("--precision", choices=PRECISIONS, default="32-true", help="Fabric precision")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the None of flags whose default depends on other flags (their help gives it)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def ensure_writable_dir(path, flag):
    """Create the folder `path` if needed and write a scratch file there, so that a run fails before it loads a
    model rather than at its first checkpoint; `flag` names the option in the message."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file, not a folder; choose another {flag}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(f"{flag} {path} is not a writable folder ({error.strerror}); choose another {flag}") from None


# Exceptions that mean "the user asked for something impossible" (bad flags, missing files), as opposed
# to a bug in our code, which must keep its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


def run_cli(main, argv=None):
    """Run an entry point's `main(argv)`; a user's mistake becomes one `error: ...` line and exit status 2.

    Set REMEDI_DEBUG=1 to see the full traceback instead.
    """
    try:
        return main(argv)
    except USER_ERRORS as error:
        if os.environ.get("REMEDI_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
