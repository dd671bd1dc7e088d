"""The ``seplive`` subcommands: one module each, each with ``PARSER`` (the subparser's
help and description), ``add_arguments(parser)`` and ``main(args) -> int`` (the exit
status).  seplive/cli.py builds the parser from :data:`NAMES` and dispatches."""

from __future__ import annotations

import importlib
from types import ModuleType

#: the subcommands, in the order ``seplive --help`` lists them
NAMES = ("run", "presets", "models", "devices", "learn", "demo", "train", "eval")


def command(name: str) -> ModuleType:
    """The module of subcommand ``name`` (imported when first asked for)."""
    if name not in NAMES:
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}")
