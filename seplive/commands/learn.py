"""``seplive learn``: MIDI learn (seplive.control.learn), which parses its own arguments."""

from __future__ import annotations

import argparse

PARSER = {"add_help": False,
          "help": "MIDI learn: move a control, name a target, get a map file ('seplive learn --help')"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """None here: seplive/cli.py hands ``learn``'s words over unparsed, as ``args.argv``."""


def main(args: argparse.Namespace) -> int:
    from ..control.learn import learn_main

    return learn_main(list(getattr(args, "argv", [])))
