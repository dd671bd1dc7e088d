"""Live control from MIDI controllers: faders to stem gains, buttons to mute/solo...

:class:`MidiControl` opens the first MIDI input whose name contains a substring, drives
the mix through a :class:`~seplive.control.mapping.Mapping`, and sends LED/ring feedback
to the matching output port when the state changes (from this controller or from
anywhere else, e.g. OSC).  Ports come and go: the control's thread polls the port list
and re-opens the controller when it returns, without stopping anything.

Ports are opened through mido (default backend ``mido.backends.rtmidi``, or
``MIDO_BACKEND``).  When ALSA has no sequencer (containers) and no backend was named,
rtmidi's JACK API is tried next: ``mido.backends.rtmidi/UNIX_JACK``.

Threads: rtmidi calls back on its own thread, which only queues the message; the
control's thread decodes, posts mix changes and sends feedback.  Nothing runs on the
audio worker.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import mido

from .mapping import (
    Binding,
    Cc14,
    Mapping,
    Takeover,
    decode_relative,
    load_mapping,
    position_to_value,
    value_to_position,
)
from .targets import ControlError, MixController, PresetCallback, RateLimitedLog, one_line

log = logging.getLogger("seplive.midi")
#: message types a mapping acts on; everything else is dropped on arrival
USED_TYPES = frozenset({"control_change", "note_on", "note_off"})
#: messages waiting for the control thread, at most (a flood beyond it is dropped, counted)
MAX_QUEUED = 4096

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
#: seconds between attempts to reach a MIDI system that is not there
BACKEND_RETRY_S = 5.0


def backend_candidates(backend: str | None) -> list[str]:
    """Backends to try in order: the one asked for, else ``MIDO_BACKEND`` or rtmidi's
    default API, then rtmidi's JACK API."""
    if backend:
        return [backend]
    env = os.environ.get("MIDO_BACKEND")
    if env:
        return [env]
    return ["mido.backends.rtmidi", JACK_BACKEND]


class PortLister:
    """Lists a backend's port names.  For rtmidi it keeps one probe client (listing
    through mido opens and closes a client per call: about 0.1 s on JACK)."""

    def __init__(self, backend: mido.Backend) -> None:
        self.backend = backend
        self._probe_in = self._probe_out = None
        if backend.name == "mido.backends.rtmidi":
            import rtmidi

            api = getattr(rtmidi, f"API_{backend.api}") if backend.api else rtmidi.API_UNSPECIFIED
            self._probe_in = rtmidi.MidiIn(rtapi=api, name="seplive-probe")
            try:
                self._probe_out = rtmidi.MidiOut(rtapi=self._probe_in.get_current_api(), name="seplive-probe")
            except Exception:
                self._probe_in.delete()
                raise

    def inputs(self) -> list[str]:
        if self._probe_in is not None:
            return list(self._probe_in.get_ports())
        return list(self.backend.get_input_names())

    def outputs(self) -> list[str]:
        if self._probe_out is not None:
            return list(self._probe_out.get_ports())
        return list(self.backend.get_output_names())

    def close(self) -> None:
        for p in (self._probe_in, self._probe_out):
            if p is not None:
                try:
                    p.delete()
                except Exception:
                    pass
        self._probe_in = self._probe_out = None


def open_backend(backend: str | None = None) -> tuple[mido.Backend, PortLister]:
    """The first working backend of :func:`backend_candidates` and a lister for it.
    Raises OSError naming every backend tried and why it failed."""
    errors = []
    for name in backend_candidates(backend):
        try:
            b = mido.Backend(name, load=True)
            return b, PortLister(b)
        except Exception as exc:  # rtmidi raises its own SystemError subclasses
            errors.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    raise OSError("no MIDI system available (" + "; ".join(errors) + ")")


#: port names rtmidi gives the ports a program opens to connect to others (ours too):
#: never a controller
_CONNECTION_PORTS = (":RtMidi input", ":RtMidi output")


def match_port(names: list[str], substring: str) -> str | None:
    """The first name containing ``substring`` (case-insensitive), skipping the
    connection ports of rtmidi clients (this program's own among them)."""
    low = substring.lower()
    for n in names:
        if low in n.lower() and not n.endswith(_CONNECTION_PORTS):
            return n
    return None


class _Bound:
    """Run-time state of one binding: decoder, takeover, button edge, feedback."""

    def __init__(self, binding: Binding, target) -> None:
        self.binding = binding
        self.target = target  # resolved for this session
        self.cc14 = Cc14() if binding.control.bits == 14 else None
        self.takeover = Takeover(binding.takeover)
        self.pressed = False
        self.sent: tuple[int, ...] | None = None  # last feedback sent


class MidiControl:
    """A MIDI controller driving a running Session (``start(session)`` / ``stop()``).

    ``port_substring``: part of the input port's name (case-insensitive); None uses the
    mapping's ``port``.  ``mapping``: a :class:`Mapping`, a file path or a shipped
    controller name (``nanokontrol2``).  ``backend``: a mido backend name (e.g.
    ``mido.backends.rtmidi/UNIX_JACK``); None picks one (see the module docstring).
    ``on_preset(action, name)`` handles ``preset.*`` targets.  ``poll_s``: how often the
    port list is checked (seconds); ``feedback_hz``: how often the state is compared
    with what the controller shows.

    A port that is missing at start is waited for (with a warning listing the ports
    there are); one that disappears is re-opened when it comes back.
    """

    def __init__(
        self,
        port_substring: str | None,
        mapping: Mapping | str | Path,
        backend: str | None = None,
        *,
        on_preset: PresetCallback | None = None,
        poll_s: float = 0.5,
        feedback_hz: float = 20.0,
    ) -> None:
        self.mapping = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
        port = port_substring or self.mapping.port
        if not port:
            raise ControlError(f"{self.mapping.source}: no MIDI port given and the profile names none (profile.port)")
        self.port_substring = port
        self.backend_name = backend
        self.on_preset = on_preset
        self.poll_s = float(poll_s)
        self.feedback_s = 1.0 / float(feedback_hz)
        self.port_name: str | None = None
        self.output_name: str | None = None
        #: counters: messages received, used, unmapped, refused; port opens; feedback messages sent
        self.stats = {"messages": 0, "used": 0, "unmapped": 0, "refused": 0, "opens": 0, "feedback": 0, "dropped": 0}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._in = self._out = None
        self._lister: PortLister | None = None
        self._backend: mido.Backend | None = None
        self._ctl: MixController | None = None
        self._dispatch: dict[tuple[str, int, int], list[tuple[_Bound, bool]]] = {}
        self._bound: list[_Bound] = []
        self._warn = RateLimitedLog(log, 5.0)
        self._backend_retry_at = 0.0
        # open the ports now, before any audio runs: creating MIDI clients holds the GIL
        # for 10-25 ms (JACK), which a running audio worker would feel as deadline misses
        # (a re-opening after an unplug costs the same, once)
        try:
            self._check_ports()
        except Exception as exc:
            self._warn("ports", "MIDI port check failed: %s", exc)

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """The controller's input port is open."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until the input port is open (or ``timeout_s`` passes); returns whether it is."""
        return self._connected.wait(timeout_s)

    def start(self, session: Any) -> None:
        """Bind the mapping to ``session``'s model and start the control thread (the
        ports were opened by the constructor, or are waited for)."""
        self._ctl = MixController(session, origin="MIDI")
        self._bind()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="seplive-midi", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the ports (blocks up to two seconds).  Also call it
        (or :meth:`close`) for a control that was never started."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._close_ports()
        if self._lister is not None:
            self._lister.close()
            self._lister = None

    close = stop

    def _bind(self) -> None:
        self._dispatch.clear()
        self._bound.clear()
        skipped = []
        for b in self.mapping.bindings:
            try:
                target = self._ctl.resolve(b.target)
            except ControlError:
                skipped.append(f"{b.control.name} ({b.target})")
                continue
            bound = _Bound(b, target)
            self._bound.append(bound)
            c = b.control
            self._dispatch.setdefault((c.kind, c.channel, c.number), []).append((bound, False))
            if c.bits == 14:
                self._dispatch.setdefault((c.kind, c.channel, c.number + 32), []).append((bound, True))
        if skipped:  # e.g. an eight-strip map with a two-stem model: one line, not dozens
            log.warning(
                "%s: %d map entries do not apply to model '%s' (its stems: %s), skipped: %s",
                self.mapping.source,
                len(skipped),
                self._ctl.session.plugin.name,
                " ".join(self._ctl.stems),
                one_line(", ".join(skipped), 300),
            )

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        next_poll = time.monotonic() + self.poll_s
        next_fb = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + self.poll_s
                try:
                    self._check_ports()
                except Exception as exc:  # a MIDI system hiccup must not end control
                    self._warn("ports", "MIDI port check failed: %s", exc)
            timeout = max(0.0, min(next_poll, next_fb) - time.monotonic())
            try:
                msg = self._queue.get(timeout=min(timeout, 0.05))
            except queue.Empty:
                msg = None
            while msg is not None:
                try:
                    self._handle(msg)
                except Exception as exc:
                    self._warn("handle", "MIDI message %s ignored: %s", msg, exc)
                try:
                    msg = self._queue.get_nowait()
                except queue.Empty:
                    msg = None
            if time.monotonic() >= next_fb:
                next_fb = time.monotonic() + self.feedback_s
                try:
                    self._feedback()
                except Exception as exc:
                    self._warn("feedback", "MIDI feedback failed: %s", exc)

    def _intake(self, msg: mido.Message) -> None:
        """rtmidi's thread: queue what a mapping can use, drop the rest (SysEx, clock...)
        and anything beyond a bounded backlog, so a flood neither grows memory nor delays
        the messages that matter."""
        if msg.type not in USED_TYPES or self._queue.qsize() >= MAX_QUEUED:
            self.stats["dropped"] += 1
            return
        self._queue.put(msg)

    def _check_ports(self) -> None:
        if self._lister is None:
            if time.monotonic() < self._backend_retry_at:
                return
            try:
                self._backend, self._lister = open_backend(self.backend_name)
            except OSError as exc:
                # trying costs a client each time (and libjack prints to stderr): back off
                self._backend_retry_at = time.monotonic() + BACKEND_RETRY_S
                self._warn("backend", "MIDI: %s; retrying every %g s", exc, BACKEND_RETRY_S)
                return
        inputs = self._lister.inputs()
        if self._in is not None:
            if self.port_name in inputs:
                if self._out is not None and self.output_name not in self._lister.outputs():
                    log.warning("MIDI output '%s' went away", self.output_name)
                    self._close_output()
                if self._out is None:
                    self._open_output()
                return
            log.warning("MIDI port '%s' went away; waiting for it to come back", self.port_name)
            self._close_ports()
        name = match_port(inputs, self.port_substring)
        if name is None:
            self._warn(
                "missing",
                "no MIDI input matches '%s'; inputs are: %s (waiting)",
                self.port_substring,
                ", ".join(inputs) or "none",
            )
            return
        try:
            self._in = self._backend.open_input(name, callback=self._intake)
            rt = getattr(self._in, "_rt", None)  # rtmidi: drop SysEx, clock and active sensing in C,
            if rt is not None:  # before they cost Python (and the audio worker) any time
                rt.ignore_types(sysex=True, timing=True, active_sense=True)
        except Exception as exc:
            self._warn("open", "cannot open MIDI input '%s': %s", name, exc)
            self._in = None
            return
        self.port_name = name
        self.stats["opens"] += 1
        for bound in self._bound:  # the hardware may show anything after a reconnect
            bound.sent = None
            bound.takeover = Takeover(bound.binding.takeover)
            bound.pressed = False
        log.info("MIDI: opened input '%s'", name)
        self._open_output()
        self._connected.set()

    def _open_output(self) -> None:
        if not any(b.control.feedback for b in self.mapping.bindings):
            return
        name = match_port(self._lister.outputs(), self.port_substring)
        if name is None:
            return
        try:
            self._out = self._backend.open_output(name)
            self.output_name = name
            for bound in self._bound:  # show the whole state on the (new) output
                bound.sent = None
            log.info("MIDI: opened output '%s' for feedback", name)
        except Exception as exc:
            self._warn("open-out", "cannot open MIDI output '%s' for feedback: %s", name, exc)
            self._out = None

    def _close_output(self) -> None:
        if self._out is not None:
            try:
                self._out.close()
            except Exception:
                pass
        self._out = None
        self.output_name = None

    def _close_ports(self) -> None:
        self._connected.clear()
        self._close_output()
        if self._in is not None:
            try:
                self._in.close()
            except Exception:
                pass
        self._in = None

    # -- messages --------------------------------------------------------------------------
    def _handle(self, msg: mido.Message) -> None:
        self.stats["messages"] += 1
        t = msg.type
        if t == "control_change":
            key, value = ("cc", msg.channel, msg.control), msg.value
        elif t in ("note_on", "note_off"):
            key, value = ("note", msg.channel, msg.note), (msg.velocity if t == "note_on" else 0)
        else:
            return
        entries = self._dispatch.get(key)
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

    def _apply(self, bound: _Bound, value: int, is_lsb: bool) -> None:
        b, target, ctl = bound.binding, bound.target, self._ctl
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

    # -- feedback ----------------------------------------------------------------------------
    def _feedback_bytes(self, bound: _Bound, settings) -> tuple[int, ...] | None:
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

    def _feedback(self) -> None:
        if self._out is None or self._ctl is None:
            return
        settings = self._ctl.settings()
        for bound in self._bound:
            data = self._feedback_bytes(bound, settings)
            if data is None or data == bound.sent:
                continue
            c = bound.binding.control
            ch, num = c.feedback_channel, c.feedback_number
            try:
                if c.kind == "note":
                    self._out.send(mido.Message("note_on", channel=ch, note=num, velocity=data[0]))
                else:
                    self._out.send(mido.Message("control_change", channel=ch, control=num, value=data[0]))
                    if len(data) == 2:
                        self._out.send(mido.Message("control_change", channel=ch, control=num + 32, value=data[1]))
            except Exception as exc:
                self._warn("send", "MIDI feedback to '%s' failed: %s", self.output_name, exc)
                return
            bound.sent = data
            self.stats["feedback"] += 1
