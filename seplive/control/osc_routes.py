"""The OSC address space under ``/seplive/`` as one table, and what each address does to the
mix (through :class:`~seplive.control.targets.MixController`): :data:`ROUTES` is both the
documentation (:data:`ADDRESSES`, docs/control.md) and what messages are dispatched from.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from . import osc_wire as wire
from .osc_wire import PREFIX, Ignored
from .targets import ControlError, Target, parse_target


@dataclass(frozen=True)
class Route:
    """One address pattern (after ``/seplive/``; ``<x>`` matches any one part, and the last
    may span ``tail`` more parts), its arguments and meaning (None: not listed), and the
    :class:`OscRoutes` method that handles it."""

    pattern: str
    args: str
    doc: str | None
    handler: str
    tail: int = 0

    def matches(self, parts: list[str]) -> bool:
        want = self.pattern.split("/")
        if not len(want) <= len(parts) <= len(want) + self.tail:
            return False
        return all(w.startswith("<") or w == p for w, p in zip(want, parts, strict=False))


#: the address space, in the order docs/control.md lists it; the first match handles a message
ROUTES: tuple[Route, ...] = (
    Route("prompts", "s...", "select these stems (names, aliases or 1-based indices)", "prompts"),
    Route("stem/<stem>/gain", "f", "stem gain, linear amplitude (1 = 0 dB, 0 = off)", "stem_gain"),
    Route("stem/<stem>/gain_db", "f", "stem gain in dB (-120 .. +24)", "stem_gain"),
    Route("stem/<stem>/mute", "[i]", "1 mutes, 0 unmutes, no argument flips", "stem_flag"),
    Route("stem/<stem>/solo", "[i]", "1 solos, 0 unsolos, no argument flips", "stem_flag"),
    Route("stem/<stem>/toggle", "[i]", "add the stem to / remove it from the selection (1/0 sets)", "stem_select"),
    Route("stem/<stem>/select", "[i]", None, "stem_select"),
    Route("stem/<stem>/<param>", "", None, "stem_unknown"),
    Route("fx/<stem>/<param>", "f",
          "a stem effect parameter: /seplive/fx/drums/lowpass 800, /seplive/fx/vocals/reverb/mix 0.3", "fx", tail=1),
    Route("master/gain_db", "f", "master gain in dB", "master"),
    Route("master/gain", "f", "master gain, linear amplitude", "master"),
    Route("wet", "f", "wet/dry: 1 = the remix, 0 = the (delayed) input", "wet"),
    Route("bypass", "[i]", "1 plays the input, 0 the remix, no argument flips", "bypass"),
    Route("preset/load", "s", "load a preset by name", "preset"),
    Route("preset/next", "", "next preset", "preset"),
    Route("preset/prev", "", "previous preset", "preset"),
    Route("ping", "[any]", "replies /seplive/pong with the same arguments", "ping"),
    Route("state", "", "replies with the whole state (as feedback messages)", "state"),
    Route("subscribe", "[[s] i]", "send feedback to the sender, to port i of the sender, or to host s port i", "subscribe"),
    Route("unsubscribe", "[[s] i]", "stop sending feedback there", "unsubscribe"),
)  # fmt: skip

#: the address space: address -> (arguments, what it does)
ADDRESSES: dict[str, tuple[str, str]] = {f"{PREFIX}/{r.pattern}": (r.args, r.doc) for r in ROUTES if r.doc}

#: what a gain or wet can be set to; beyond it a value is clamped and counted
RANGES = {"gain_db": (-math.inf, 24.0), "gain": (0.0, 10.0 ** (24.0 / 20.0)), "wet": (0.0, 1.0)}


class OscRoutes:
    """Dispatches one message of :class:`~seplive.control.osc.OscControl` by :data:`ROUTES`.
    Handlers raise :class:`~seplive.control.osc_wire.Ignored` (malformed: dropped) or
    :class:`ControlError` (refused: the sender gets ``/seplive/error``)."""

    def __init__(self, control: Any) -> None:
        #: the :class:`~seplive.control.osc.OscControl` (its controller, socket, feedback,
        #: preset bucket, counters and replies)
        self.control = control

    def dispatch(self, address: str, args: list, sender: tuple) -> None:
        if self.control.mixer is None:
            raise Ignored("not attached to a session")
        parts = address.split("/")
        if len(parts) < 3 or parts[0] != "" or parts[1] != PREFIX[1:]:
            raise Ignored("unknown address")
        parts = parts[2:]
        for route in ROUTES:
            if route.matches(parts):
                getattr(self, "_" + route.handler)(address, parts, args, sender)
                return
        raise Ignored("unknown address")

    def _bounded(self, param: str, v: float) -> float:
        lo, hi = RANGES[param]
        # NaN, +inf and a negative linear gain are refused by the controller, as before
        if math.isfinite(v) and (v > hi or (v < lo and param == "wet")):
            self.control.stats["clamped"] += 1
            self.control.warn("clamp", "OSC: %s %g is out of range, clamped to [%g, %g]", param, v, lo, hi)
            return min(max(v, lo), hi)
        return v

    def _set_or_flip(self, target: Target, args: list, address: str) -> None:
        flag = wire.flag(args, address)
        ctl = self.control.mixer
        ctl.toggle(target) if flag is None else ctl.set(target, flag)

    # -- handlers: (address, parts after /seplive/, arguments, sender) ----------------------
    def _prompts(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        if not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
            raise Ignored(f"{address} takes stem names, got {wire.types(args)}")
        self.control.mixer.set_prompts([str(a) for a in args])

    def _stem_gain(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        stem = self.control.mixer.resolve_stem(parts[1])
        self.control.mixer.set(Target(parts[2], stem), self._bounded(parts[2], wire.number(args, address)))

    def _stem_flag(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        stem = self.control.mixer.resolve_stem(parts[1])
        self._set_or_flip(Target(parts[2], stem), args, address)

    def _stem_select(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        ctl = self.control.mixer
        stem = ctl.resolve_stem(parts[1])
        flag = wire.flag(args, address)
        target = ctl.resolve(Target("select", stem))
        ctl.toggle(target) if flag is None else ctl.set(target, flag)

    def _stem_unknown(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        self.control.mixer.resolve_stem(parts[1])
        raise Ignored(f"unknown stem parameter '{parts[2][:40]}'")

    def _fx(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        ctl = self.control.mixer
        stem = ctl.resolve_stem(parts[1])
        target = ctl.resolve(parse_target("fx." + ".".join(parts[1:])))
        ctl.set(Target(target.param, stem), wire.number(args, address))

    def _master(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        self.control.mixer.set(Target("master_" + parts[1]), self._bounded(parts[1], wire.number(args, address)))

    def _wet(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        self.control.mixer.set(Target("wet"), self._bounded("wet", wire.number(args, address)))

    def _bypass(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        self._set_or_flip(Target("bypass"), args, address)

    def _preset(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        action, name = parts[1], None
        if action == "load":
            if len(args) != 1 or not isinstance(args[0], str) or not args[0]:
                raise Ignored(f"{address} takes one preset name, got {wire.types(args)}")
            name = args[0]
        elif args:
            raise Ignored(f"{address} takes no arguments")
        if name is not None and wire.looks_like_path(name) and not wire.is_loopback(sender[0]):
            raise ControlError("presets load by name from the preset folders; a path only from this machine")
        control = self.control
        if not control.preset_bucket.take(time.monotonic()):
            raise ControlError("too many preset loads: at most a few a second")
        if control.on_preset is None:
            raise ControlError("presets are not available in this session")
        try:
            reply = control.on_preset(action, name)
        except (ValueError, KeyError, LookupError) as exc:
            raise ControlError(str(exc)) from None
        control.send(sender, wire.message(PREFIX + "/preset", (str(reply if reply is not None else name or action),)))

    def _ping(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        echo = [a for a in args if isinstance(a, (int, float, str)) and not isinstance(a, bool)][:16]
        self.control.send(sender, wire.message(PREFIX + "/pong", echo))

    def _state(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        for addr, values in self.control.feedback.state().items():
            self.control.send(sender, wire.message(addr, values))

    def _subscribe(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        self.control.feedback.subscribe(self._where(args, sender, address))

    def _unsubscribe(self, address: str, parts: list[str], args: list, sender: tuple) -> None:
        self.control.feedback.unsubscribe(self._where(args, sender, address))

    def _where(self, args: list, sender: tuple, address: str) -> tuple:
        """Where feedback goes: the sender, a port of the sender's host, or a numeric host and port."""
        if not args:
            return sender
        # ports may come as floats (TouchOSC buttons send their value as a float)
        port = wire.port(args[-1])
        if len(args) == 1 and port:
            return (sender[0], port)
        if len(args) == 2 and isinstance(args[0], str) and port:
            try:
                return self.control.socket.resolve(args[0], port, numeric=True)
            except (OSError, UnicodeError, ValueError):
                raise ControlError(f"'{args[0][:64]}' is not a numeric address of this socket's family") from None
        raise Ignored(f"{address} takes nothing, a port, or a host and a port; got {wire.types(args)}")
