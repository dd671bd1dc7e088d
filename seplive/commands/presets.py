"""``seplive presets``: the session presets, where each was found, and the controller profiles."""

from __future__ import annotations

import argparse
import json

from .common import printable

PARSER = {
    "help": "list session presets and controller profiles",
    "description": "List the session presets (seplive --preset NAME) with their descriptions, where each was"
    " found (./presets, then ~/.config/seplive/presets, then the shipped ones: the first wins), and the MIDI"
    " controller profiles (seplive --midi NAME).",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable: names, descriptions, paths")
    p.add_argument("--all", action="store_true", help="also the presets hidden by a nearer folder")


def main(args: argparse.Namespace) -> int:
    from ..control.mapping import PRESET_DIR, shipped_mappings
    from ..presets import list_presets, search_dirs

    rows = [r for r in list_presets() if args.all or r.shadowed_by is None]
    controllers = shipped_mappings()
    if args.json:
        print(json.dumps({
            "presets": [{"name": r.name, "description": r.description, "where": r.where, "path": str(r.path),
                         "shadowed_by": r.shadowed_by} for r in rows],
            "controllers": [{"name": c, "path": str(PRESET_DIR / f"{c}.toml")} for c in controllers],
            "search": [str(d) for _, d in search_dirs()],
        }, indent=2))
        return 0
    print("session presets (seplive --preset NAME ...; flags override them):")
    for r in rows:
        tag = f" [{r.where}]" if r.where != "shipped" else ""
        hidden = f" (hidden by the {r.shadowed_by} one)" if r.shadowed_by else ""
        print(f"  {printable(r.name):<15} {printable(r.description)}{tag}{hidden}")
    print("\ncontroller profiles (seplive --midi NAME ...):")
    for c in controllers:
        print(f"  {c}")
    print("\nsearched, first match wins: " + ", ".join(str(d) for _, d in search_dirs()))
    return 0
