"""A Remask RL run's metrics.csv read back for reports: reward per step, validation accuracy per budget, and
the trailing mean its curves are smoothed with (paper/make_report.py --rl)."""

import csv
import re


VALIDATION_COLUMN = re.compile(r"val_accuracy_(\d+)_steps")


def read_metrics(directory):
    """{'step': [...], 'reward': [...], 'validation': {budget: [(step, accuracy), ...]}} of one RL run."""
    path = directory / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"{path} not found: --rl takes --out-dir folders of SMDM/pretrain/train_mdm_rl.py")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"step", "reward"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} has no {sorted(missing)} column: is it the metrics.csv of a Remask RL run?")
        rows = list(reader)
    if not rows:
        raise ValueError(f"{path} has no logged step yet")
    budgets = sorted(int(m.group(1)) for m in map(VALIDATION_COLUMN.fullmatch, reader.fieldnames) if m)
    return {
        "step": [int(row["step"]) for row in rows],
        "reward": [float(row["reward"]) for row in rows],
        "validation": {budget: [(int(row["step"]), float(row[f"val_accuracy_{budget}_steps"])) for row in rows
                                if row[f"val_accuracy_{budget}_steps"] != ""] for budget in budgets},
    }


def trailing_mean(values, window):
    """Mean of each value and the window - 1 before it (fewer at the start): a smoothed curve with no lookahead."""
    return [sum(values[max(0, i + 1 - window):i + 1]) / (i + 1 - max(0, i + 1 - window)) for i in range(len(values))]
