"""The LLaDA-8B path, checked and measured in one command: what to run first on a new GPU machine.

    python scripts/gpu_check.py --out gpu_check.json               # one H100/H200, LLaDA-8B shapes
    python scripts/gpu_check.py --preset tiny --device cpu --threads 1   # every code path, seconds, on the CPU

Four parts, in order; every check inside a part is timed and guarded, so a failure (an out-of-memory
error, say) is recorded with its traceback and the next check runs:

1. model    LLaDAModelLM with LLaDA-8B's config.json shapes and random weights, built on the meta device,
            given storage on the target device (to_empty) and initialised there in bf16, so 8B fp32 weights
            never exist on the host; an MLP UPS head and, on the same backbone, the dual-stream UPS.
            Parameter counts and device memory after load.
2. forward  logits of SDPA against flash-attn on an unpadded batch (when flash-attn is importable), and a
            left-padded batch, which must take SDPA's masked path and give the unpadded row's logits.
3. sampler  `generate` seconds per step and tokens/s for tps_prob without remask (the plain backbone, as
            LLaDA samples) and ups + remask (the backbone + UPS head), their ratio, and one stochastic
            Remask RL rollout (position_temperature > 0, return_rollout=True).
4. trainer  one Remask SFT optimizer step per --train ups|lora|full and one Remask RL step (a group of 4),
            with the trainers' own flags (train_mdm.py / train_mdm_rl.py parse_args), data loading, Fabric
            (FSDP on one GPU, bf16-true) and step functions, in this process on a freshly built backbone:
            step time and peak device memory. The trainers' checkpoints and model export are not run: for
            --train full on the 8B they would write 16 GB of weights and 32 GB of AdamW state, then export the
            16 GB of weights again.

The JSON report is rewritten after every check, so a run cut short keeps what it measured; a table is printed
at the end. Exit status 0 when no check failed or raised, 1 otherwise (a skipped check is neither).

The checks live in remedi/bench/ (one module per part, plus timing, memory, model building and the report);
this script picks the preset and device and runs the parts. From a copy of the tree where the package is not
pip-installed, run it as `PYTHONPATH=. python scripts/gpu_check.py ...`.
"""

import argparse
import os
import sys
from pathlib import Path

# The check never needs the hub, and a GPU node often cannot reach it: fail fast instead of waiting on timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch  # noqa: E402

from remedi.bench.environment import environment  # noqa: E402
from remedi.bench.parts import PART_NAMES, run_part  # noqa: E402
from remedi.bench.presets import PRESETS  # noqa: E402
from remedi.bench.record import Report, failures, print_table  # noqa: E402
from remedi.cli import run_cli  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="8b",
                   help="8b: LLaDA-8B's shapes and the workloads of docs/gpu.md; tiny: the same code paths in seconds")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--parts", nargs="+", choices=PART_NAMES, default=list(PART_NAMES),
                   help="run only these parts (forward and sampler need model)")
    p.add_argument("--out", type=Path, default=None, help="JSON report (default runs/gpu_check/PRESET-DEVICE.json)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return p.parse_args(argv)


def resolve_device(args):
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise ValueError(f"--device {args.device!r} is not a device name: use cuda, cuda:N or cpu") from None
    if device.type not in ("cuda", "cpu"):
        raise ValueError(f"--device {args.device}: only cuda and cpu are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda, but torch sees no GPU here: run on a GPU machine, or use "
                         "--preset tiny --device cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type == "cpu" and args.preset == "8b":
        raise ValueError("--preset 8b needs a GPU (16 GB of bf16 weights); on the CPU use --preset tiny")
    return device


def main(argv=None):
    args = parse_args(argv)
    device = resolve_device(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    out = args.out or ROOT / "runs" / "gpu_check" / f"{args.preset}-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    preset = PRESETS[args.preset]
    command = " ".join(["scripts/gpu_check.py"] + (sys.argv[1:] if argv is None else argv))
    header = {"preset": args.preset, "device": str(device), "command": command, "environment": environment(device)}
    report = Report(out, header)
    state = {}  # what part 1 hands to parts 2 and 3: the backbone and the backbone + UPS head
    for name in PART_NAMES:
        if name in args.parts:
            run_part(report, name, preset, device, state)
    print_table(report.data)
    print(f"wrote {out}")
    return 1 if failures(report.data) else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
