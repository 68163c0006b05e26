"""The front ends stand on the library alone and agree on the flags they share."""

import argparse
import ast
import importlib
from pathlib import Path

import pytest

from remedi.cli import add_model_arguments
from remedi.sampler.trace import summarise_trace

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = {"generate": "generate.py", "chat": "chat.py", "app": "app.py", "remedi.eval.__main__": "remedi/eval/__main__.py",
                "get_log_likelihood": "get_log_likelihood.py"}
SCRIPTS = {"generate", "chat", "app", "get_log_likelihood", "eval_llada"}


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@pytest.mark.parametrize("path", list(ENTRY_POINTS.values()) + [str(p.relative_to(ROOT)) for p in (ROOT / "remedi").rglob("*.py")])
def test_no_script_or_library_module_imports_an_entry_point_script(path):
    assert not SCRIPTS & {name.split(".")[0] for name in imported_modules(ROOT / path)}


def parser_of(module_name, monkeypatch):
    """The ArgumentParser that `module.parse_args([])` builds, caught as it parses."""
    caught = []
    original = argparse.ArgumentParser.parse_args

    def parse_and_keep(self, *args, **kwargs):
        caught.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_and_keep)
    importlib.import_module(module_name).parse_args([])
    return caught[0]


def model_flags(parser):
    actions = {action.dest: action for action in parser._actions}
    return {dest: (actions[dest].option_strings, actions[dest].default, actions[dest].choices, actions[dest].help)
            for dest in ("model", "ups", "device", "dtype")}


@pytest.mark.parametrize("module_name", list(ENTRY_POINTS))
def test_front_ends_share_the_model_flags_of_remedi_cli(module_name, monkeypatch):
    reference = argparse.ArgumentParser()
    add_model_arguments(reference)
    assert model_flags(parser_of(module_name, monkeypatch)) == model_flags(reference)


def record(block, masked, remasked, source="ups", remask=True):
    return {"block": block, "masked_count": masked, "remasked": remasked, "confidence_source": source,
            "remask": remask}


def test_summarise_trace_counts_per_block_for_the_first_prompt_and_totals_for_the_batch():
    trace = [record(0, [3, 2], [[], [5]]), record(0, [2, 0], [[1, 2], []]),
             record(1, [1, 4], [[7], [0, 1, 2]]), record(1, [0, 0], [[], []])]
    assert summarise_trace(trace).splitlines() == [
        "block 0: masked after each step [3 2] | remasked per step [0 2]",
        "block 1: masked after each step [1 0] | remasked per step [1 0]",
        "ups confidence, remask=True, 7 tokens remasked in 4 steps",
    ]
