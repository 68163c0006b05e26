"""Every flag and keyword argument that remedi_patches/ documents must exist in the code it points to."""

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "remedi_patches").glob("*.md"))
# The command line each document describes.
FRONT_ENDS = {"LLaDA-generate.py.md": "generate.py", "LLaDA-chat.py.md": "chat.py", "LLaDA-app.py.md": "app.py",
              "SMDM-train_mdm.py.md": "SMDM/pretrain/train_mdm.py",
              "SMDM-train_mdm_rl.py.md": "SMDM/pretrain/train_mdm_rl.py"}
FLAG = r"`(--[a-z][a-z0-9_-]*)`"


def our_files(doc_text):
    """Files named in the doc's `- ours:` item (which may wrap over several lines)."""
    item = re.search(r"^- ours:(.*?)(?=^\S|^\s*$)", doc_text, flags=re.M | re.S).group(1)
    return [ROOT / p for p in re.findall(r"`([\w/.-]+\.py)`", item)]


class _Caught(Exception):
    def __init__(self, parser):
        self.parser = parser


def command_line_flags(script, monkeypatch):
    """Every option string of the parser that `script`'s parse_args builds (caught before it parses)."""
    spec = importlib.util.spec_from_file_location(f"front_end_{Path(script).stem}", ROOT / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def catch(parser, *args, **kwargs):
        raise _Caught(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(_Caught) as caught:
        module.parse_args([])
    return {flag for action in caught.value.parser._actions for flag in action.option_strings} - {"-h", "--help"}


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_documented_flags_exist(doc, monkeypatch):
    text = doc.read_text()
    files = our_files(text)
    assert files, f"{doc.name} names no files of ours"
    code = "\n".join(f.read_text() for f in files)
    flags = set(re.findall(FLAG, text))
    keywords = set(re.findall(r"`([a-z_][a-z0-9_]*)=`", text))
    if doc.name in FRONT_ENDS:
        files = [FRONT_ENDS[doc.name] + "'s command line"]
        missing = sorted(flags - command_line_flags(FRONT_ENDS[doc.name], monkeypatch))
    else:
        files = [f.name for f in files]
        missing = [f for f in flags if f'"{f}"' not in code and f"'{f}'" not in code]
    missing += [k for k in keywords if not re.search(rf"\b{k}\s*[:=]", code)]
    assert not missing, f"{doc.name} documents {missing}, not found in {files}"


def test_every_doc_names_an_upstream_commit():
    assert DOCS
    for doc in DOCS:
        assert re.search(r"\b[0-9a-f]{40}\b", doc.read_text()), f"{doc.name} names no upstream commit"
