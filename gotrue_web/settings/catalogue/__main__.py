"""``python -m gotrue_web.settings.catalogue``: print the README's configuration tables;
``--write [README.md]`` puts them between the markers there; ``--check`` exits 1 when the README
differs from the catalogue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import readme

DEFAULT_README = Path(__file__).resolve().parents[3] / "README.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gotrue_web.settings.catalogue",
                                     description=__doc__)
    parser.add_argument("--markdown", action="store_true",
                        help="print the generated tables (the default)")
    parser.add_argument("--write", nargs="?", const=DEFAULT_README, type=Path, metavar="README",
                        help="rewrite the block between the markers in README")
    parser.add_argument("--check", nargs="?", const=DEFAULT_README, type=Path, metavar="README",
                        help="exit 1 when README's block differs from the catalogue")
    args = parser.parse_args(argv)
    if args.write:
        if not readme.rewrite(args.write):
            print(f"{args.write}: no {readme.START!r} … {readme.END!r} markers", file=sys.stderr)
            return 1
        return 0
    if args.check:
        if readme.current_block(args.check.read_text(encoding="utf-8")) != readme.markdown():
            print(f"{args.check}: the configuration tables differ from the catalogue; run "
                  "python -m gotrue_web.settings.catalogue --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(readme.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
