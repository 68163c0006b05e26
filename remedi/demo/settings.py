"""A model directory's `demo.json`: the examples, scope note and starting budget app.py shows for it.

What a small model can be asked (arithmetic chains, Sudoku puzzles) and how many answer tokens and steps
it needs belong to the model, so they travel with its weights and a new model needs no edit of app.py:

    {"examples": ["Compute 7 - 3 + 5 - 8 + 2."], "scope": "This model ...", "steps": 32, "gen_length": 32}

Every field is optional; a directory without the file (and `tiny-random`, which is no directory) gets no
examples, no scope note and 32 steps for 32 answer tokens in one block. `block_length` is for models that
want blocks, such as a block-causal one (its attention block).
"""

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

DEMO_FILE = "demo.json"


@dataclass(frozen=True)
class DemoSettings:
    examples: tuple = ()  # prompts offered on the page, each one click away
    scope: str = ""  # what the model was trained to answer, in a sentence or two (Markdown)
    steps: int = 32  # the sliders' starting values
    gen_length: int = 32
    block_length: Optional[int] = None  # None: gen_length, one block


FIELDS = tuple(field.name for field in fields(DemoSettings))


def _field_problem(name, value):
    """Why `value` cannot be the demo.json field `name`, or None."""
    if name == "examples":
        if not isinstance(value, list) or not all(isinstance(example, str) and example.strip() for example in value):
            return "must be a list of non-empty strings (prompts)"
    elif name == "scope":
        if not isinstance(value, str):
            return "must be a string"
    elif type(value) is not int or value < 1:  # bool is an int subclass; true is no step count
        return f"must be a whole number of at least 1, got {json.dumps(value)}"
    return None


def load_demo_settings(model_path):
    """The settings in `model_path`/demo.json, or the defaults when it has none. A file the app cannot use
    is a ValueError naming the file and what to fix, so app.py stops with one line before loading weights."""
    path = Path(model_path) / DEMO_FILE
    if not path.is_file():
        return DemoSettings()
    try:
        given = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}): fix it or remove it") from None
    if not isinstance(given, dict):
        raise ValueError(f"{path} must hold a JSON object with the fields {list(FIELDS)}")
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown}; use {list(FIELDS)}")
    for name, value in given.items():
        problem = _field_problem(name, value)
        if problem is not None:
            raise ValueError(f"{path}: {name!r} {problem}")
    if "examples" in given:
        given["examples"] = tuple(given["examples"])
    return DemoSettings(**given)
