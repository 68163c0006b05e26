"""What produced the numbers of a check run: package versions, the device, the date and the commit."""

import importlib.metadata
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch

from remedi.bench.measure import GIB

# The checkout the numbers come from, for its commit: this package sits one level below the repository root.
ROOT = Path(__file__).resolve().parents[2]


def environment(device):
    """What produced the numbers: versions, the device, the date and the commit."""
    packages = {}
    for name in ("transformers", "lightning", "peft", "datasets", "tokenizers", "flash_attn"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    env = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
           "torch": torch.__version__, "cuda": torch.version.cuda, "packages": packages,
           "torch_threads": torch.get_num_threads(), "git_commit": git_commit()}
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        env.update(device_name=properties.name, device_memory_gib=round(properties.total_memory / GIB, 2))
    else:
        env.update(device_name=platform.processor() or platform.machine(), device_memory_gib=None)
    return env


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None  # a copy of the tree without .git
