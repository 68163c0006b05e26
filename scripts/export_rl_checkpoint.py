"""Turn one checkpoint of a Remask RL run into a model directory, e.g. the one validation liked best.

`train_mdm_rl.py` exports the model of its last step; its checkpoints hold the trainable weights of
earlier steps, and its metrics.csv their validation accuracy. Choosing a checkpoint there (never on a
test split) and exporting it:

    python scripts/export_rl_checkpoint.py out/rl --step 250 --out models/my-policy

The run's own flags (model path, UPS path, --train) are read from the checkpoint.
"""

import argparse
import importlib.util
from pathlib import Path

import torch

from remedi.cli import run_cli
from remedi.model.loading import load_tokenizer
from remedi.train import checkpoint as ckpt

TRAINER = Path(__file__).resolve().parents[1] / "SMDM" / "pretrain" / "train_mdm_rl.py"


def load_trainer():
    spec = importlib.util.spec_from_file_location("train_mdm_rl", TRAINER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export(run_dir, step, out_dir):
    path = ckpt.checkpoint_path(Path(run_dir) / "checkpoints", step)
    if not path.is_file():
        found = [p.name for p in ckpt.checkpoints(Path(run_dir) / "checkpoints")]
        raise FileNotFoundError(f"no checkpoint for step {step} in {run_dir}; there are: {found or 'none'}")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    args = argparse.Namespace(**saved["args"])
    model, build_empty = load_trainer().build_model(args)
    weights = model.state_dict()
    missing = [name for name in saved["model"] if name not in weights]
    if missing:
        raise ValueError(f"{path} holds weights the rebuilt model lacks, e.g. {missing[:3]}")
    weights.update(saved["model"])
    ckpt.export_model(weights, build_empty, load_tokenizer(args.model_path, args.tokenizer), out_dir)
    return saved["step"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="--out-dir of a train_mdm_rl.py run")
    parser.add_argument("--step", type=int, required=True, help="the checkpoint's step")
    parser.add_argument("--out", required=True, help="model directory to write")
    args = parser.parse_args(argv)
    step = export(args.run_dir, args.step, args.out)
    print(f"step {step} of {args.run_dir} exported to {args.out} (python generate.py --model {args.out})")


if __name__ == "__main__":
    run_cli(main)
