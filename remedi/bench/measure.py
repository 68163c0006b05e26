"""Seconds and device memory of one piece of work, counted the same way by every check."""

import gc
import time

import torch

GIB = 2**30


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device, run):
    """(run(), seconds), with the device's queued work counted in."""
    synchronize(device)
    start = time.perf_counter()
    result = run()
    synchronize(device)
    return result, time.perf_counter() - start


def reset_peak_memory(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def allocated_gib(device):
    return round(torch.cuda.memory_allocated(device) / GIB, 3) if device.type == "cuda" else None


def peak_gib(device):
    return round(torch.cuda.max_memory_allocated(device) / GIB, 3) if device.type == "cuda" else None


def release(device):
    """Give back what dropped objects held: memory of one check must not count in the next one's peak."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def count(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def format_memory(gib):
    return "" if gib is None else f", peak {gib:.2f} GiB"


def format_count(n):
    """8015581184 -> '8.016B', 16897 -> '16.9K': one format for the 8B and the tiny preset."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.{3 if suffix == 'B' else 1}f}{suffix}"
    return str(n)
