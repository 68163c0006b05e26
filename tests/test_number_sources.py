"""The card-number checklist: which numbers of a document no output holds (remedi/eval/number_sources.py)."""

import subprocess
import sys
from pathlib import Path

from remedi.eval.number_sources import is_produced, numbers_without_output, output_numbers

ROOT = Path(__file__).resolve().parents[1]

CARD = """# a card
It answers 98.1% at 4 steps and 45.6% at 2, with a loss of 0.574.

```bash
python train.py --lr 0.5 --r-incorrect 0.3
```
The flag `--threshold 0.95` is a setting; transformers 4.57.6 is a version.
"""


def test_numbers_missing_from_every_output_are_listed_and_code_is_skipped(tmp_path):
    card = tmp_path / "README.md"
    card.write_text(CARD)
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "results.json").write_text('{"accuracy": 0.981, "loss": 0.5743, "confidence": 45.612345}')
    missing = numbers_without_output([card], [runs])
    assert [(claim.line, claim.text) for claim in missing] == [(2, "45.6")]


def test_a_negative_difference_is_found_in_an_output_that_prints_it_negative(tmp_path):
    card = tmp_path / "README.md"
    card.write_text("Blocks of 32 are below it (-22.9 [-25.7, -19.9] points).\n")
    (tmp_path / "report.md").write_text("| blocks of 32 | 96 | 69.2 | -22.9 [-25.7, -19.9] |\n")
    assert numbers_without_output([card], [tmp_path / "report.md"]) == []


def test_precision_decides_what_counts_as_the_same_number():
    numbers = output_numbers([])
    assert not is_produced("98.1", numbers)
    printed = {3: [0.981], 6: [45.612345], 1: [12.0]}
    assert is_produced("98.1", printed)  # a fraction printed to three places is 98.1%
    assert not is_produced("45.6", printed)  # six places is a per-token value, not a reported number
    assert is_produced("12.0", printed) and not is_produced("12.1", printed)


def test_the_script_lists_them_strict_fails_and_a_missing_path_is_one_error_line(tmp_path):
    card = tmp_path / "card.md"
    card.write_text(CARD)
    (tmp_path / "out.md").write_text("| 98.1 | 0.574 |")
    command = [sys.executable, str(ROOT / "scripts" / "card_numbers.py"), "--documents", str(card),
               "--outputs", str(tmp_path / "out.md")]
    listed = subprocess.run(command + ["--strict"], capture_output=True, text=True, cwd=ROOT)
    assert listed.returncode == 1 and listed.stdout.splitlines() == [f"{card}:2: 45.6    " + CARD.splitlines()[1]]
    missing = subprocess.run(command[:-1] + [str(tmp_path / "nothing")], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")
