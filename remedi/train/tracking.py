"""Where the trainer's metrics go: a CSV file (always) and Weights & Biases (optional).

One CSV row per logged step, with a fixed set of columns known from the objective, so the file reads
straight into pandas. On --resume the rows logged after the restored checkpoint (by the run that
died) are dropped, so the file ends up with each step exactly once.
"""

import csv
import os
from contextlib import contextmanager
from pathlib import Path

WANDB_MODES = ("disabled", "offline", "online")


class MetricsLogger:
    def __init__(self, path, fieldnames, resume_step=None, wandb_mode="disabled", wandb_project="remedi",
                 run_name=None, config=None):
        if wandb_mode not in WANDB_MODES:
            raise ValueError(f"wandb_mode must be one of {WANDB_MODES}, got {wandb_mode!r}")
        self.path = Path(path)
        self.fieldnames = ["step"] + list(fieldnames)
        wandb = None
        if wandb_mode != "disabled":
            try:
                import wandb
            except ImportError as error:
                raise RuntimeError(
                    f"--wandb {wandb_mode} needs the wandb package (pip install wandb); "
                    "use --wandb disabled to log to the CSV file only"
                ) from error
        kept = self._rows_up_to(resume_step) if resume_step is not None else []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.fieldnames)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, self.path)
        self.file = open(self.path, "a", newline="")
        self.writer = csv.DictWriter(self.file, self.fieldnames, restval="")
        self.wandb = None
        if wandb is not None:
            self.wandb = wandb.init(project=wandb_project, name=run_name, mode=wandb_mode, config=config,
                                    dir=str(self.path.parent))

    def _rows_up_to(self, step):
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != self.fieldnames:
                raise ValueError(f"{self.path} has columns {reader.fieldnames}, this run logs {self.fieldnames}")
            return [row for row in reader if int(row["step"]) <= step]

    def log(self, step, metrics):
        """Append one row; floats are written with repr, so values read back bit for bit."""
        self.writer.writerow({"step": step, **{k: repr(v) if isinstance(v, float) else v for k, v in metrics.items()}})
        self.file.flush()
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)

    def close(self):
        self.file.close()
        if self.wandb is not None:
            self.wandb.finish()


@contextmanager
def run_logger(fabric, args, fields, resumed_step):
    """The trainers' MetricsLogger, on rank 0 only (None elsewhere), closed however the run ends.

    `resumed_step` is the step of the checkpoint a --resume run restored (None for a fresh run): the rows
    a dead run logged after it are dropped."""
    logger = None
    if fabric.is_global_zero:
        logger = MetricsLogger(args.out_dir / "metrics.csv", fields, resume_step=resumed_step,
                               wandb_mode=args.wandb, wandb_project=args.wandb_project, run_name=args.run_name,
                               config=plain_args(args))
    try:
        yield logger
    finally:
        if logger is not None:
            logger.close()


def plain_args(args):
    """An argparse namespace as plain values (paths as strings), for checkpoints and wandb's config."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
