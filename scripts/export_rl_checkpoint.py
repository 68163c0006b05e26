"""Turn one checkpoint of a Remask RL run into a model directory, e.g. the one validation liked best.

`train_mdm_rl.py` exports the model of its last step; its checkpoints hold the trainable weights of
earlier steps, and its metrics.csv their validation accuracy. Choosing a checkpoint there (never on a
test split) and exporting it:

    python scripts/export_rl_checkpoint.py out/rl --step 250 --out models/my-policy

The run's own flags (model path, UPS path, --train) are read from the checkpoint.
"""

import argparse

from remedi.cli import run_cli
from remedi.train.rl_setup import export


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
