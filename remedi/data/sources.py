"""Adapters that turn SFT datasets into (prompt, response) pairs.

Every adapter reads a local json/jsonl/parquet file when `path` is given (through
`datasets.load_dataset("json" | "parquet", data_files=...)`, which never touches the network, so
HF_DATASETS_OFFLINE=1 runs do not wait; a .jsonl file is first checked line by line, so that a bad
line is named), and the Hugging Face hub otherwise. GSM8K and MATH-500
default to the read-only copies in ../shared/data/ next to the repository when those exist.

Values are passed through unchecked (a missing field arrives as None): `build_sft_examples`
decides which rows are empty or malformed and counts them. A column missing from the whole
table is a configuration error and raises at once.
"""

import json
import re
from pathlib import Path

import datasets

SHARED_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
OPC_CONFIGS = ("educational_instruct", "evol_instruct", "mceval_instruct", "package_instruct")
S1K_RESPONSE_FORMAT = "<think>\n{thinking}\n</think>\n\n{attempt}"
_LOCAL_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_CALCULATOR = re.compile(r"<<[^<>]*>>")


def load_table(path=None, hub_id=None, config=None, split="train"):
    """A `datasets.Dataset` from a local json/jsonl/parquet file if `path` is given, else from the hub."""
    if path is not None:
        path = Path(path)
        builder = _LOCAL_BUILDERS.get(path.suffix)
        if builder is None:
            raise ValueError(f"unsupported file type {path.suffix!r} for {path}; use .json, .jsonl or .parquet")
        if not path.is_file():
            raise FileNotFoundError(f"data file {path} does not exist (a relative path starts from {Path.cwd()})")
        if path.stat().st_size == 0:
            raise ValueError(f"data file {path} is empty")
        if path.suffix == ".jsonl":
            check_json_lines(path)
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    if hub_id is None:
        raise ValueError("give either a local path or a hub id")
    return datasets.load_dataset(hub_id, config, split=split)


def check_json_lines(path):
    """Raise on the first line of a .jsonl file that is not one JSON object, naming it, or when no line holds one.

    `datasets` reports both as a chained DatasetGenerationError that says neither which file nor which line.
    Blank lines are allowed, as `datasets` skips them.
    """
    objects = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValueError(f"line {number} of {path} is not UTF-8 text; re-save the file as UTF-8") from None
            except json.JSONDecodeError as error:
                raise ValueError(f"line {number} of {path} is not valid JSON ({error.msg} at column {error.colno}); "
                                 "fix or delete that line") from None
            if not isinstance(value, dict):
                raise ValueError(f"line {number} of {path} is not a JSON object: each line must be one "
                                 '{"column": value, ...} record')
            objects += 1
    if objects == 0:
        raise ValueError(f"data file {path} holds only blank lines; it needs one JSON object per line")


def _columns(table, *names):
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise ValueError(f"columns {missing} not in the data; available: {table.column_names}")
    return [table[n] for n in names]


def load_local_pairs(path, prompt_column, response_column):
    """(prompt, response) pairs from any local json/jsonl/parquet file with the named columns."""
    prompts, responses = _columns(load_table(path), prompt_column, response_column)
    return list(zip(prompts, responses))


def load_gsm8k(path=None, split="train", keep_calculator_annotations=False):
    """GSM8K question/answer pairs; `<<a*b=c>>` calculator annotations are dropped unless asked for.

    The annotations are tool-call markup for the original calculator-assisted models; without
    them the answer reads as plain worked arithmetic and is shorter to train on.
    """
    local = SHARED_DATA_DIR / f"gsm8k_{split}.jsonl"
    if path is None and local.is_file():
        path = local
    table = load_table(path, hub_id="openai/gsm8k", config="main", split=split)
    questions, answers = _columns(table, "question", "answer")
    if not keep_calculator_annotations:
        answers = [_CALCULATOR.sub("", a) if isinstance(a, str) else a for a in answers]
    return list(zip(questions, answers))


def load_math500(path=None):
    """MATH-500 problem/solution pairs (the solution ends in a \\boxed{} answer)."""
    local = SHARED_DATA_DIR / "math500_test.jsonl"
    if path is None and local.is_file():
        path = local
    table = load_table(path, hub_id="HuggingFaceH4/MATH-500", split="test")
    return list(zip(*_columns(table, "problem", "solution")))


def load_s1k(
    path=None,
    hub_id="simplescaling/s1K-1.1",
    question_column="question",
    thinking_column="deepseek_thinking_trajectory",
    attempt_column="deepseek_attempt",
    response_format=S1K_RESPONSE_FORMAT,
):
    """s1K-1.1 pairs: the question, and a response made of the reasoning trace then the final attempt.

    The gemini_* columns of the same table can be chosen instead through the column arguments.
    """
    table = load_table(path, hub_id=hub_id)
    questions, thinking, attempts = _columns(table, question_column, thinking_column, attempt_column)
    responses = [
        response_format.format(thinking=th, attempt=at) if isinstance(th, str) and isinstance(at, str) else None
        for th, at in zip(thinking, attempts)
    ]
    return list(zip(questions, responses))


def load_opc(config="educational_instruct", path=None, hub_id="OpenCoder-LLM/opc-sft-stage2",
             prompt_column="instruction", response_column="output"):
    """OpenCoder opc-sft-stage2 instruction/output pairs from one of its four configs."""
    if config not in OPC_CONFIGS:
        raise ValueError(f"config must be one of {OPC_CONFIGS}, got {config!r}")
    table = load_table(path, hub_id=hub_id, config=config)
    return list(zip(*_columns(table, prompt_column, response_column)))


SOURCES = {"gsm8k": load_gsm8k, "math500": load_math500, "s1k": load_s1k, "opc": load_opc, "local": load_local_pairs}


def load_sft_pairs(name, **kwargs):
    """Dispatch by dataset name (the trainer's --data flag) to the adapter above."""
    if name not in SOURCES:
        raise ValueError(f"unknown SFT source {name!r}; choose from {sorted(SOURCES)}")
    return SOURCES[name](**kwargs)
