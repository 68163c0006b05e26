"""GSM8K-schema JSONL as an OpenCompass dataset, read from a local file so evaluation needs no hub.

OpenCompass's own `GSM8KDataset` wants a folder with `train.jsonl` and `test.jsonl` (downloaded from its
data server by default); this loader takes any single file with GSM8K's columns, e.g. a test fixture or
`gsm8k_test.jsonl` from a local copy of the benchmark.
"""

import json
from typing import Optional

from datasets import Dataset
from opencompass.datasets.base import BaseDataset

COLUMNS = ("question", "answer")  # answer: worked solution whose last line is '#### <number>'


class GSM8KJsonlDataset(BaseDataset):
    @staticmethod
    def load(path: str, num_rows: Optional[int] = None) -> Dataset:
        """The first `num_rows` rows of `path` (all if None), with GSM8K's two columns."""
        rows = []
        with open(path, encoding="utf-8") as f:
            for line_number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                row = json.loads(line)
                missing = [column for column in COLUMNS if column not in row]
                if missing:
                    raise ValueError(f"{path}:{line_number} lacks GSM8K column(s) {missing}")
                rows.append({column: row[column] for column in COLUMNS})
                if num_rows is not None and len(rows) == num_rows:
                    break
        if not rows:
            raise ValueError(f"{path} holds no rows")
        return Dataset.from_list(rows)
