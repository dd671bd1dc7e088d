"""``seplive models``: the separation plugins and the prompts each serves."""

from __future__ import annotations

import argparse
import json

PARSER = {"help": "list the separation plugins",
          "description": "List the separation plugins (seplive -m NAME) and the prompts each has."}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable")


def main(args: argparse.Namespace) -> int:
    from ..models import registry
    from ..presets import DEFAULTS

    rows = []
    for name in registry.available():
        default = name == DEFAULTS["model"]
        try:
            cls = registry.factory(name)
            rows.append({"name": name, "default": default, "prompts": list(getattr(cls, "prompts", ())),
                         "description": getattr(cls, "description", "")})
        except Exception as exc:  # a plugin whose deps are missing still gets listed
            rows.append({"name": name, "default": default, "prompts": [], "description": f"unavailable: {exc}"})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            mark = " (default)" if r["default"] else ""
            print(f"{r['name']:<10} {r['description']}{mark}\n{'':<10} prompts: {' '.join(r['prompts'])}")
    return 0
