"""Every flag and keyword argument that remedi_patches/ documents must exist in the code it points to."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "remedi_patches").glob("*.md"))


def our_files(doc_text):
    """Files named in the doc's `- ours:` item (which may wrap over several lines)."""
    item = re.search(r"^- ours:(.*?)(?=^\S|^\s*$)", doc_text, flags=re.M | re.S).group(1)
    return [ROOT / p for p in re.findall(r"`([\w/.-]+\.py)`", item)]


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_documented_flags_exist(doc):
    text = doc.read_text()
    files = our_files(text)
    assert files, f"{doc.name} names no files of ours"
    code = "\n".join(f.read_text() for f in files)
    flags = set(re.findall(r"`(--[a-z][a-z0-9-]*)`", text))
    keywords = set(re.findall(r"`([a-z_][a-z0-9_]*)=`", text))
    missing = [f for f in flags if f'"{f}"' not in code and f"'{f}'" not in code]
    missing += [k for k in keywords if not re.search(rf"\b{k}\s*[:=]", code)]
    assert not missing, f"{doc.name} documents {missing}, not found in {[f.name for f in files]}"


def test_every_doc_names_an_upstream_commit():
    assert DOCS
    for doc in DOCS:
        assert re.search(r"\b[0-9a-f]{40}\b", doc.read_text()), f"{doc.name} names no upstream commit"
