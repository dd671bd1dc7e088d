"""``seplive devices``: the audio devices, the defaults and what loopback would capture."""

from __future__ import annotations

import argparse
import json

PARSER = {
    "help": "list audio devices, defaults and loopback candidates",
    "description": "List the audio devices PortAudio sees (with PulseAudio sinks and sources on Linux), the"
    " defaults, and what --input loopback would capture.",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable")


def main(args: argparse.Namespace) -> int:
    from ..stream import devices

    rows = devices.list_devices()
    loop: dict | str
    try:
        choice = devices.find_loopback()
        loop = {"index": choice.index, "name": choice.name, "description": choice.description, "env": choice.env}
    except devices.DeviceError as exc:
        loop = str(exc)
    if args.json:
        print(json.dumps({"devices": rows, "loopback": loop}, indent=2))
        return 0
    for d in rows:
        mark = ("<" if d["default_input"] else " ") + (">" if d["default_output"] else " ")
        tag = "  [loopback?]" if d["loopback_candidate"] else ""
        print(f"{mark} {d['index']:>3} {d['name']} ({d['hostapi']}, {d['max_input_channels']} in, "
              f"{d['max_output_channels']} out, {d['default_samplerate']:.0f} Hz){tag}")
    print("< default input, > default output")
    print(f"loopback: {loop['description'] if isinstance(loop, dict) else loop}")
    return 0
