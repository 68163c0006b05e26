"""Trainer checkpoints: atomic writes, the newest one for --resume, per-rank RNG state, and the final export.

A checkpoint is written to `step-XXXXXXXX.ckpt.tmp`, flushed to disk and renamed only once complete, so a
run killed mid-write leaves at worst a `.tmp` file that `latest_checkpoint` ignores. A checkpoint damaged
all the same (a copy cut short, a disk that lied) is skipped by `resume_training_state` in favour of an
older one. Checkpoints hold plain tensors and containers only (they load with
torch.load(weights_only=True)).
"""

import os
import random
import re
import sys
from pathlib import Path

import torch

from remedi.model.ups_registry import save_ups

CHECKPOINT_PATTERN = re.compile(r"step-(\d+)\.ckpt")


def checkpoint_path(directory, step):
    return Path(directory) / f"step-{step:08d}.ckpt"


def checkpoints(directory):
    """The complete checkpoints in `directory` (no `.tmp` files), highest step first."""
    found = []
    for path in Path(directory).glob("step-*.ckpt"):
        match = CHECKPOINT_PATTERN.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def latest_checkpoint(directory):
    """The complete checkpoint with the highest step in `directory`, or None."""
    found = checkpoints(directory)
    return found[0] if found else None


def _fsync(path):
    """Flush `path` (a file or a directory) to disk: without it a crash after the rename can leave the new name
    pointing at an empty or partial file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(fabric, path, state, filter=None):
    """`fabric.save` to a temporary file, then rename it to `path`; on any failure remove the temporary file.

    Must be called on every rank (fabric.save is collective under FSDP); rank 0 writes and renames.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        fabric.save(tmp, state, filter=filter)
        if fabric.is_global_zero:
            _fsync(tmp)
            os.replace(tmp, path)
            _fsync(path.parent)
    except BaseException:
        if fabric.is_global_zero:
            tmp.unlink(missing_ok=True)
        raise
    fabric.barrier()


def capture_rng(generators):
    """This process's random state: Python, torch CPU (and current CUDA device), and the named generators."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    for name, generator in generators.items():
        state[name] = generator.get_state()
    return state


def restore_rng(state, generators):
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"])
    for name, generator in generators.items():
        generator.set_state(state[name])


def gather_rng(fabric, generators):
    """[capture_rng(...) of rank 0, of rank 1, ...]: every rank draws different noise, so each keeps its own."""
    state = capture_rng(generators)
    if fabric.world_size == 1:
        return [state]
    gathered = [None] * fabric.world_size
    torch.distributed.all_gather_object(gathered, state)
    return gathered


def full_state_dict(model):
    """Every parameter of a Fabric-wrapped `model`, on rank 0 (other ranks may get an empty dict).

    Under FSDP the parameters are sharded, so they are gathered (a collective: call on every rank)
    and offloaded to the CPU; otherwise the module's own state dict is returned.
    """
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    root = next((m for m in model.modules() if isinstance(m, FSDP)), None)
    if root is None:
        return model.state_dict()
    config = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
    with FSDP.state_dict_type(root, StateDictType.FULL_STATE_DICT, config):
        return root.state_dict()


def export_model(state_dict, build, tokenizer, out_dir):
    """Write a model directory that `generate.py --model OUT_DIR` loads: backbone + tokenizer (+ `ups/`).

    `build()` returns an empty model of the trained structure (LLaDAModelLM, optionally inside a peft
    LoRA wrapper, optionally inside RemeDiModel); it is built on the meta device and takes the tensors
    of `state_dict` as they are, so the export costs no second copy of the weights. LoRA updates are
    merged into the base weights, so the saved backbone is a plain LLaDA checkpoint.
    """
    with torch.device("meta"):
        model = build()
    model.load_state_dict(state_dict, strict=True, assign=True)
    head = getattr(model, "ups_head", None)
    backbone = model.backbone if head is not None else model
    if hasattr(backbone, "merge_and_unload"):
        # safe_merge writes the merged weights to new tensors: the ones of `state_dict` may be the live
        # model's own (single device, DDP), which must not change under it.
        backbone = backbone.merge_and_unload(safe_merge=True)
    out_dir = Path(out_dir)
    backbone.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if head is not None:
        save_ups(head, out_dir / "ups")


def export_trained_model(fabric, model, build, tokenizer, out_dir):
    """The end of both trainers: gather the weights on every rank (a collective), rank 0 writes the model
    directory with `export_model`, and every rank waits for it."""
    weights = full_state_dict(model)
    if fabric.is_global_zero:
        export_model(weights, build, tokenizer, out_dir)
        fabric.print(f"model saved to {out_dir} (python generate.py --model {out_dir})")
    fabric.barrier()


def save_training_state(fabric, checkpoint_dir, state, generators, train):
    """Atomic checkpoint of the trainable weights, optimizer, step and every rank's random state.

    With --train ups|lora only the trainable tensors are written: frozen weights never change and are
    reloaded from the model directory the run started from.
    """
    state["rng"] = gather_rng(fabric, generators)
    trainable = set(state["trainable"])
    keep = None if train == "full" else {"model": lambda name, value: name in trainable}
    save_checkpoint(fabric, checkpoint_path(checkpoint_dir, state["step"]), state, filter=keep)


def unreadable_reason(path):
    """Why torch cannot read the checkpoint at `path` (cut short or damaged), or None when it can.

    The tensors are memory-mapped, not read, so the check is cheap even for a large checkpoint.
    """
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # a damaged file surfaces as OSError, EOFError, KeyError, RuntimeError, ...
        first_sentence = str(error).split(". ")[0]
        return f"{type(error).__name__}: {first_sentence}"
    return None


def resume_training_state(fabric, directory, state, generators, must_match=("trainable", "world_size", "n_train")):
    """Restore `state` from the newest readable checkpoint in `directory` (see `load_training_state`) and return
    its path, or None when `directory` holds no checkpoint.

    A newer checkpoint that cannot be read is reported on stderr and skipped, so the run continues from the
    last good one instead of stopping; every rank reads the same files and so makes the same choice.
    """
    found = checkpoints(directory)
    for path in found:
        reason = unreadable_reason(path)
        if reason is None:
            load_training_state(fabric, path, state, generators, must_match)
            return path
        if fabric.is_global_zero:
            print(f"warning: checkpoint {path} is damaged or incomplete ({reason}); trying an older one",
                  file=sys.stderr)
    if found:
        raise ValueError(f"no checkpoint in {directory} can be read ({len(found)} tried); "
                         "delete that folder to start from step 0")
    return None


def load_training_state(fabric, path, state, generators, must_match=("trainable", "world_size", "n_train")):
    """Restore `state` (in place) and this rank's random streams from a checkpoint written by
    `save_training_state`; the keys in `must_match` must equal this run's, or continuing would not be exact."""
    expected = {key: state[key] for key in must_match}
    current_args = state["args"]
    fabric.print(f"resuming from {path}")
    fabric.load(path, state, strict=False)  # strict=False: frozen weights are not in the file
    state["args"] = current_args  # later checkpoints record the flags of the run that wrote them
    for key, value in expected.items():
        if state[key] != value:
            raise ValueError(f"cannot resume from {path}: it was written with {key}={state[key]!r}, "
                             f"this run has {value!r} "
                             "(same --train, --devices x --num-nodes and data are needed to continue exactly)")
    restore_rng(state["rng"][fabric.global_rank], generators)
