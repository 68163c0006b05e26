"""Which numbers in the model cards, README and paper no output file holds: a checklist for new results.

Every reported number should come from a command in `paper/reproduce.sh`, whose outputs land under `runs/`,
`out/` and `paper/generated/`. After running those commands, a number that appears in a document but in none
of the outputs (at the document's precision, or as a fraction the document prints as a percentage) was
either typed by hand, comes from a run that is not in reproduce.sh, or is stale. The match is textual and
loose (a number may match an unrelated output by chance), so an empty list is not a proof; a listed number
is something to look at.

Numbers inside code (fenced blocks and `inline code`) are commands and settings, not results, and are
skipped, as are version-like strings (4.57.6).
"""

import bisect
import re
from dataclasses import dataclass
from pathlib import Path

CLAIM = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.]*\d)")
OUTPUT_NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?|-?\d+")
OUTPUT_SUFFIXES = {".md", ".json", ".jsonl", ".csv", ".txt", ".tex", ".log"}
MAX_OUTPUT_BYTES = 50_000_000


@dataclass(frozen=True)
class Claim:
    path: str
    line: int
    text: str  # the number as written
    context: str  # the line it is on


def prose_lines(text):
    """(line number, line with code removed) for every line outside fenced code blocks."""
    inside_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            inside_fence = not inside_fence
            continue
        if not inside_fence and not line.lstrip().startswith("%"):  # LaTeX comments are not claims
            yield number, re.sub(r"`[^`]*`|\\texttt\{[^}]*\}", " ", line)


def claims_in(path):
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return [Claim(str(path), number, match.group(1), line.strip())
            for number, line in prose_lines(text) for match in CLAIM.finditer(line)]


def output_numbers(roots, exclude=()):
    """{decimals: sorted values} of every number written in the output files under `roots` (not in `exclude`).

    A number is kept with the precision it was printed at, so a per-token confidence printed to six places
    cannot stand in for a reported 98.1 that rounds from it by chance, and without its sign, since a claim is
    read without one (a paired difference of -22.9 is the claim 22.9).
    """
    excluded = {Path(path).resolve() for path in exclude}
    by_decimals = {}
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if (path.suffix in OUTPUT_SUFFIXES and path.stat().st_size <= MAX_OUTPUT_BYTES
                    and path.resolve() not in excluded):
                text = path.read_text(encoding="utf-8", errors="replace")
                for token in OUTPUT_NUMBER.findall(text):
                    decimals = len(token.split(".")[1]) if "." in token and "e" not in token.lower() else 0
                    by_decimals.setdefault(decimals, set()).add(abs(float(token)))
    return {decimals: sorted(values) for decimals, values in by_decimals.items()}


def is_produced(claim_text, numbers):
    """Whether an output number reads as `claim_text`: printed with at most two more decimals and rounding to
    it, or as a fraction (at most three more decimals) that is `claim_text` percent."""
    decimals = len(claim_text.split(".")[1])
    value = float(claim_text)
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    for printed, values in numbers.items():
        if printed <= decimals + 2 and _holds_between(values, value - tolerance, value + tolerance):
            return True
        if printed <= decimals + 4 and _holds_between(values, (value - tolerance) / 100, (value + tolerance) / 100):
            return True
    return False


def _holds_between(numbers, low, high):
    index = bisect.bisect_left(numbers, low)
    return index < len(numbers) and numbers[index] <= high


def numbers_without_output(documents, roots):
    """The claims in `documents` that no output under `roots` holds, in document order."""
    numbers = output_numbers(roots, exclude=documents)
    rounded = {}  # the same number is often claimed many times
    missing = []
    for document in documents:
        for claim in claims_in(document):
            if claim.text not in rounded:
                rounded[claim.text] = is_produced(claim.text, numbers)
            if not rounded[claim.text]:
                missing.append(claim)
    return missing
