"""A MIDI map bound to a running session: which control drives which target, decoding
(7/14-bit, relative encoders, soft takeover, button edges), applying values through the
:class:`~seplive.control.targets.MixController`, and the feedback bytes (0..127 values) that
show the state on the controller's LEDs and rings.
"""

from __future__ import annotations

import logging

import mido

from .mapping import Binding, Cc14, Mapping, Takeover, decode_relative, position_to_value, value_to_position
from .targets import ControlError, MixController, PresetCallback, RateLimitedLog, one_line

log = logging.getLogger("seplive.midi")


class Bound:
    """Run-time state of one binding: decoder, takeover, button edge, feedback."""

    def __init__(self, binding: Binding, target) -> None:
        self.binding = binding
        self.target = target  # resolved for this session
        self.cc14 = Cc14() if binding.control.bits == 14 else None
        self.takeover = Takeover(binding.takeover)
        self.pressed = False
        self.sent: tuple[int, ...] | None = None  # last feedback sent


class BoundMapping:
    """``mapping`` resolved for the session of ``ctl``: messages in, mix changes out."""

    def __init__(self, mapping: Mapping, ctl: MixController, stats: dict[str, int], warn: RateLimitedLog,
                 on_preset: PresetCallback | None) -> None:  # fmt: skip
        self.mapping, self.ctl, self.stats, self._warn, self.on_preset = mapping, ctl, stats, warn, on_preset
        self.dispatch: dict[tuple[str, int, int], list[tuple[Bound, bool]]] = {}
        self.bound: list[Bound] = []
        skipped = []
        for b in mapping.bindings:
            try:
                target = ctl.resolve(b.target)
            except ControlError:
                skipped.append(f"{b.control.name} ({b.target})")
                continue
            bound = Bound(b, target)
            self.bound.append(bound)
            c = b.control
            self.dispatch.setdefault((c.kind, c.channel, c.number), []).append((bound, False))
            if c.bits == 14:
                self.dispatch.setdefault((c.kind, c.channel, c.number + 32), []).append((bound, True))
        if skipped:  # e.g. an eight-strip map with a two-stem model: one line, not dozens
            log.warning("%s: %d map entries do not apply to model '%s' (its stems: %s), skipped: %s",
                        mapping.source, len(skipped), ctl.session.plugin.name, " ".join(ctl.stems),
                        one_line(", ".join(skipped), 300))  # fmt: skip

    def reset(self, output_only: bool) -> None:
        """Forget what the controller shows (a new output), and after a reconnect also the
        takeover and button states (the hardware may show anything)."""
        for bound in self.bound:
            bound.sent = None
            if not output_only:
                bound.takeover = Takeover(bound.binding.takeover)
                bound.pressed = False

    def handle(self, msg: mido.Message) -> None:
        self.stats["messages"] += 1
        t = msg.type
        if t == "control_change":
            key, value = ("cc", msg.channel, msg.control), msg.value
        elif t in ("note_on", "note_off"):
            key, value = ("note", msg.channel, msg.note), (msg.velocity if t == "note_on" else 0)
        else:
            return
        entries = self.dispatch.get(key)
        if not entries:
            self.stats["unmapped"] += 1
            return
        for bound, is_lsb in entries:
            try:
                self._apply(bound, value, is_lsb)
                self.stats["used"] += 1
            except ControlError as exc:
                self.stats["refused"] += 1
                self._warn(
                    f"refused:{bound.binding.control.name}",
                    "MIDI %s -> %s refused: %s",
                    bound.binding.control.name,
                    bound.target,
                    exc,
                )

    def _apply(self, bound: Bound, value: int, is_lsb: bool) -> None:
        b, target, ctl = bound.binding, bound.target, self.ctl
        c = b.control
        if target.is_continuous:
            current = value_to_position(b, ctl.value(target))
            if c.relative:
                ticks = decode_relative(value, c.relative)
                if ticks == 0:
                    return
                u = min(max(current + ticks * b.step, 0.0), 1.0)
            else:
                u = bound.cc14.feed(is_lsb, value) / 16383.0 if bound.cc14 else value / 127.0
                u = bound.takeover.feed(u, current)
                if u is None:
                    return
            new = position_to_value(b, u)
            ctl.set(target, new)
            bound.sent = self._feedback_bytes(bound, ctl.settings())  # the hardware is there already
            return
        pressed = value >= 64 if c.kind == "cc" else value > 0
        edge = pressed and not bound.pressed
        bound.pressed = pressed
        if target.is_trigger:
            if edge:
                self._preset(target.preset)
            return
        if b.button == "momentary":
            ctl.set(target, pressed)
        elif edge:
            ctl.toggle(target)

    def _preset(self, what: str | None) -> None:
        action, _, name = (what or "").partition(":")
        if self.on_preset is None:
            self._warn("preset", "MIDI preset.%s: presets are not available in this session", action)
            return
        try:
            self.on_preset(action, name or None)
        except Exception as exc:
            self._warn("preset-err", "MIDI preset.%s failed: %s", action, exc)

    def _feedback_bytes(self, bound: Bound, settings) -> tuple[int, ...] | None:
        b, c = bound.binding, bound.binding.control
        if not c.feedback or bound.target.is_trigger:
            return None
        value = MixController.read(settings, bound.target)
        if bound.target.is_boolean:
            return (c.on_value if value else c.off_value,)
        u = value_to_position(b, value)
        if c.relative:  # an LED ring: position as 0..127
            return (round(u * 127),)
        if c.bits == 14:
            v = round(u * 16383)
            return (v >> 7, v & 0x7F)
        return (round(u * 127),)

    def feedback(self, out, out_name: str | None) -> None:
        """Send what changed since the last call to the output port ``out``."""
        settings = self.ctl.settings()
        for bound in self.bound:
            data = self._feedback_bytes(bound, settings)
            if data is None or data == bound.sent:
                continue
            c = bound.binding.control
            ch, num = c.feedback_channel, c.feedback_number
            try:
                if c.kind == "note":
                    out.send(mido.Message("note_on", channel=ch, note=num, velocity=data[0]))
                else:
                    out.send(mido.Message("control_change", channel=ch, control=num, value=data[0]))
                    if len(data) == 2:
                        out.send(mido.Message("control_change", channel=ch, control=num + 32, value=data[1]))
            except Exception as exc:
                self._warn("send", "MIDI feedback to '%s' failed: %s", out_name, exc)
                return
            bound.sent = data
            self.stats["feedback"] += 1
