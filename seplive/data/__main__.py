"""``python -m seplive.data check FOLDER``: read every track of a stems folder (or MUSDB18-HQ
root) and report what is there; one clear line and a non-zero exit on the first bad file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .readers import DataError, Musdb18, StemsFolder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seplive.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    chk = sub.add_parser("check", help="read every track of a stems folder or MUSDB18-HQ root")
    chk.add_argument("folder")
    chk.add_argument("--split", default=None, help="MUSDB18-HQ split (train/test): read it as MUSDB18")
    args = ap.parse_args(argv)
    try:
        root = Path(args.folder)
        reader = Musdb18(root, args.split) if args.split else StemsFolder(root)
        for name, stems, rate in reader:
            seconds = next(iter(stems.values())).shape[1] / rate
            print(f"{name}: {', '.join(sorted(stems))} ({seconds:.1f} s, {rate} Hz)")
    except DataError as exc:
        print(f"seplive.data: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
