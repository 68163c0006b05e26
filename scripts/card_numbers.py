"""List the numbers in README, the model cards and the paper that no output of paper/reproduce.sh holds.

Run it after the commands of paper/reproduce.sh (their reports are under runs/ and paper/generated/; add
training logs such as models/*/train_*_metrics.csv with --outputs when a card quotes them):
every number it lists was typed by hand, comes from a run that is not in reproduce.sh, or is stale.
remedi/eval/number_sources.py says how numbers are matched and what the check cannot see.

    python scripts/card_numbers.py                       # README.md, models/*/README.md, paper/*.tex
    python scripts/card_numbers.py --documents models/remedi-tiny-chains/README.md --outputs runs models/remedi-tiny-chains
"""

import argparse
import sys
from pathlib import Path

from remedi.cli import run_cli
from remedi.eval.number_sources import numbers_without_output

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", nargs="+", default=None,
                        help="files whose numbers are checked (default: README.md, models/*/README.md, paper/*.tex)")
    parser.add_argument("--outputs", nargs="+", default=["runs", "paper/generated"],
                        help="folders (or files) holding the commands' outputs (the checked documents are left out)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any number is listed")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    documents = args.documents or [str(path.relative_to(ROOT)) for path in
                                   [ROOT / "README.md", *sorted(ROOT.glob("models/*/README.md")),
                                    *sorted(ROOT.glob("paper/*.tex"))]]
    for path in [*documents, *args.outputs]:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist; give existing files or folders")
    missing = numbers_without_output(documents, args.outputs)
    for claim in missing:
        print(f"{claim.path}:{claim.line}: {claim.text}    {claim.context[:120]}")
    print(f"{len(missing)} number(s) in {len(documents)} document(s) found in no output under "
          f"{', '.join(map(str, args.outputs))}", file=sys.stderr)
    return 1 if args.strict and missing else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
