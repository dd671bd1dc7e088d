"""MIDI learn: move a control, name a target, get a mapping.

:func:`listen` opens a MIDI input and reports the first control that moves (CC or note,
channel), guessing from its values whether it is a button, an absolute fader/knob, a
relative encoder (and which encoding) or a 14-bit CC pair.  :func:`append_mapping` adds
it to a map file (profile control + map entry) without touching what is already there,
and checks the result parses.  :func:`learn_main` is the ``seplive learn`` command.
"""

from __future__ import annotations

import argparse
import datetime
import os
import queue
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido

from .mapping import MappingError, load_mapping
from .midi_ports import match_port, open_backend, open_input
from .targets import TARGET_FORMS, ControlError, parse_target

#: relative encodings recognised by their values: (encoding, values it sends for small moves)
_RELATIVE_VALUES = {
    "twos": set(range(1, 16)) | set(range(113, 128)),
    "offset64": set(range(49, 64)) | set(range(65, 80)),
    "signbit": set(range(1, 16)) | set(range(65, 80)),
}


@dataclass
class Detected:
    """A control found by :func:`listen`.

    ``kind`` ``cc`` or ``note``; ``number`` 0-127; ``channel`` 0-15; ``bits`` 7 or 14;
    ``relative`` an encoding or None; ``button``: it sends on/off only; ``values``: what
    was seen (for the report).
    """

    kind: str
    number: int
    channel: int
    bits: int = 7
    relative: str | None = None
    button: bool = False
    values: list[int] = field(default_factory=list)

    def describe(self) -> str:
        what = "note" if self.kind == "note" else "CC"
        if self.kind == "note" or self.button:
            mode = "button"
        elif self.relative:
            mode = f"relative encoder ({self.relative})"
        else:
            mode = "absolute" + (", 14-bit" if self.bits == 14 else "")
        return f"{what} {self.number} on channel {self.channel + 1} ({mode})"


def guess(messages: Sequence[mido.Message]) -> Detected | None:
    """The first moving control in ``messages`` and what kind it is, or None.

    Buttons send only 0/127 (or notes); relative encoders repeat a few values near their
    zero (1/127, 63/65, 1/65); absolute controls walk through distinct values; a CC n
    below 32 joined by CC n+32 is a 14-bit pair.
    """
    first = None
    for m in messages:
        if m.type == "control_change" or (m.type == "note_on" and m.velocity > 0):
            first = m
            break
    if first is None:
        return None
    if first.type == "note_on":
        return Detected("note", first.note, first.channel, button=True, values=[first.velocity])
    ch, n = first.channel, first.control
    if 32 <= n < 64 and any(m.type == "control_change" and m.channel == ch and m.control == n - 32 for m in messages):
        n -= 32  # the LSB of a pair came first
    values = [m.value for m in messages if m.type == "control_change" and m.channel == ch and m.control == n]
    lsb = n < 32 and any(m.type == "control_change" and m.channel == ch and m.control == n + 32 for m in messages)
    det = Detected("cc", n, ch, bits=14 if lsb else 7, values=values)
    distinct = set(values)
    if distinct <= {0, 127} and not lsb:
        det.button = True
        return det
    if not lsb and len(values) >= 3 and len(distinct) <= max(2, len(values) // 3):
        for enc in ("twos", "offset64", "signbit"):
            if distinct <= _RELATIVE_VALUES[enc]:
                det.relative = enc
                break
    return det


def listen(
    port_substring: str | None,
    backend: str | None = None,
    timeout_s: float = 30.0,
    settle_s: float = 0.6,
    on_ready=None,
) -> tuple[Detected, str]:
    """Open the input matching ``port_substring`` (None: the only input there is), wait
    up to ``timeout_s`` seconds for a control to move, keep listening ``settle_s`` seconds
    more to see how it moves, and return what it is with the port's name.
    ``on_ready(port_name)`` is called once the port is open.  Raises OSError (no port,
    no MIDI system) or TimeoutError."""
    b, lister = open_backend(backend)
    deadline = time.monotonic() + timeout_s
    try:
        name = _wait_for_input(lister, port_substring, deadline)
    finally:
        lister.close()
    q: queue.SimpleQueue = queue.SimpleQueue()
    port = open_input(b, name, q.put)
    try:
        if on_ready is not None:
            on_ready(name)
        det = guess(_collect(q, deadline, settle_s))
        if det is None:
            raise TimeoutError(f"nothing moved on '{name}' in {timeout_s:g} s")
        return det, name
    finally:
        port.close()


def _wait_for_input(lister, port_substring: str | None, deadline: float) -> str:
    """The input port matching ``port_substring`` (None: the only one), polled until
    ``deadline`` (time.monotonic() seconds); OSError when there is none by then."""
    while True:
        inputs = lister.inputs()
        if port_substring is None:
            if len(inputs) == 1:
                return inputs[0]
            if len(inputs) > 1:
                raise OSError(f"several MIDI inputs; choose one with --port: {', '.join(inputs)}")
        else:
            name = match_port(inputs, port_substring)
            if name is not None:
                return name
        if time.monotonic() >= deadline:
            raise OSError(f"no MIDI input matches '{port_substring or ''}'; inputs are: {', '.join(inputs) or 'none'}")
        time.sleep(0.1)


def _collect(q: queue.SimpleQueue, deadline: float, settle_s: float) -> list[mido.Message]:
    """The control messages from ``q`` until ``deadline``, or until ``settle_s`` seconds after
    the first move (a CC or a pressed note)."""
    seen: list[mido.Message] = []
    first_at = None
    while True:
        now = time.monotonic()
        end = deadline if first_at is None else first_at + settle_s
        if now >= end:
            return seen
        try:
            m = q.get(timeout=min(0.05, end - now))
        except queue.Empty:
            continue
        if m.type not in ("control_change", "note_on", "note_off"):
            continue
        seen.append(m)
        if first_at is None and (m.type == "control_change" or (m.type == "note_on" and m.velocity > 0)):
            first_at = time.monotonic()


def _unique_name(base: str, taken: set[str]) -> str:
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def append_mapping(
    path: str | Path,
    det: Detected,
    target: str,
    name: str | None = None,
    port: str | None = None,
) -> str:
    """Add ``det`` as a profile control mapped to ``target`` at the end of the map file
    ``path`` (created if missing, with ``port`` as its port substring); returns the
    control's name.  The file is replaced only if the result is a valid mapping; raises
    :class:`MappingError` (or :class:`ControlError` for a bad target) otherwise."""
    parsed = parse_target(target)
    if det.relative and not parsed.is_continuous:
        raise ControlError(f"{parsed} is on/off: learn a button for it, not an encoder")
    if parsed.is_continuous and det.kind == "note":
        raise ControlError(f"{parsed} needs a fader, knob or encoder; that was a note")
    path = Path(path)
    if path.exists():
        old = path.read_text(encoding="utf-8")
        taken = set(load_mapping(path).controls)
    else:
        old = "# seplive MIDI map, written by 'seplive learn' (format: docs/control.md)\n"
        old += "\n[profile]\n" + 'name = "learned"\n' + (f"port = {_toml_str(port)}\n" if port else "")
        taken = set()
    base = name or f"{det.kind}{det.number}_ch{det.channel + 1}"
    if not base.replace("_", "").isalnum() or not base.isascii():
        raise ControlError(f"control name '{base}' must be letters, digits and _")
    cname = _unique_name(base, taken)
    spec = [f"{det.kind} = {det.number}", f"channel = {det.channel + 1}"]
    if det.bits == 14:
        spec.append("bits = 14")
    if det.relative:
        spec.append(f'relative = "{det.relative}"')
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    block = (
        f"\n# learned {stamp}: {det.describe()}\n"
        f"[profile.controls.{cname}]\n"
        + "".join(f"{s}\n" for s in spec)
        + f"\n[map.{cname}]\ntarget = {_toml_str(str(parsed))}\n"
    )
    new = old + ("" if old.endswith("\n") else "\n") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".learn-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        try:
            load_mapping(tmp)
        except MappingError as exc:
            raise MappingError(
                f"{path}: cannot add the learned control automatically ({str(exc).split(': ', 1)[-1]}); "
                f"add this by hand:{block}"
            ) from None
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return cname


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seplive learn",
        description="Move a control on your MIDI controller; seplive adds it to a map file for the target you name.",
        epilog="Targets: " + ", ".join(TARGET_FORMS),
    )
    p.add_argument(
        "--map",
        required=False,
        default="seplive-midi.toml",
        help="map file to add to (created if missing; default: seplive-midi.toml)",
    )
    p.add_argument("--port", help="part of the MIDI input's name (default: the map's port, or the only input)")
    p.add_argument("--target", help="what the control drives, e.g. stem.vocals.gain (asked for when missing)")
    p.add_argument("--name", help="name for the control in the map (default: cc7_ch1 style)")
    p.add_argument("--backend", help="mido backend, e.g. mido.backends.rtmidi/UNIX_JACK")
    p.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="how long to wait for a move (default 30)"
    )
    p.add_argument("--list", action="store_true", help="list MIDI inputs and exit")
    return p


def _list_inputs(backend: str | None, err) -> int:
    """``seplive learn --list``: print the MIDI inputs, one a line."""
    try:
        _, lister = open_backend(backend)
    except OSError as exc:
        return err(str(exc))
    try:
        for n in lister.inputs():
            print(n)
    finally:
        lister.close()
    return 0


def learn_main(argv: Sequence[str] | None = None) -> int:
    """``seplive learn``: map one control by moving it.  Returns an exit status."""
    args = _parser().parse_args(list(argv) if argv is not None else None)

    def err(msg: str) -> int:
        print(f"seplive learn: error: {msg}", file=sys.stderr)
        return 1

    if args.list:
        return _list_inputs(args.backend, err)
    target = None
    if args.target:
        try:
            target = str(parse_target(args.target))
        except ControlError as exc:
            return err(str(exc))
    port = args.port
    if port is None and Path(args.map).exists():
        try:
            port = load_mapping(args.map).port
        except MappingError as exc:
            return err(str(exc))
    try:
        det, port_name = listen(
            port,
            args.backend,
            timeout_s=args.timeout,
            on_ready=lambda n: print(f"listening on '{n}': move a control...", flush=True),
        )
    except (OSError, TimeoutError) as exc:
        return err(str(exc))
    print(f"got {det.describe()}")
    while target is None:
        try:
            text = input("target (e.g. stem.vocals.gain, stem.2.mute, wet; empty to cancel): ").strip()
        except EOFError:
            text = ""
        if not text:
            return err("cancelled")
        try:
            target = str(parse_target(text))
        except ControlError as exc:
            print(exc)
    try:
        cname = append_mapping(args.map, det, target, name=args.name, port=port or port_name.split(":")[0])
    except (ControlError, OSError) as exc:
        return err(str(exc))
    print(f"mapped {det.describe()} to {target} in {args.map} as '{cname}'")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(learn_main())
