"""``seplive demo``: a synthetic song through the live engine (seplive.demo)."""

from __future__ import annotations

import argparse

PARSER = {"help": "make a short song and run it through the live engine (no sound card needed)"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="seplive-demo", help="folder for the files (default: ./seplive-demo)")
    p.add_argument("-q", "--quiet", action="store_true")


def main(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(args.out, quiet=args.quiet)
    return 0
