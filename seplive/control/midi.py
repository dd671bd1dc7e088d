"""Live control from MIDI controllers: faders to stem gains, buttons to mute/solo...

:class:`MidiControl` opens the first MIDI input whose name contains a substring, drives
the mix through a :class:`~seplive.control.mapping.Mapping`, and sends LED/ring feedback
to the matching output port when the state changes (from this controller or from
anywhere else, e.g. OSC).  Ports come and go: the control's thread polls the port list
and re-opens the controller when it returns, without stopping anything.

Ports are opened through mido (default backend ``mido.backends.rtmidi``, or
``MIDO_BACKEND``).  When ALSA has no sequencer (containers) and no backend was named,
rtmidi's JACK API is tried next: ``mido.backends.rtmidi/UNIX_JACK``.  Under rtmidi,
seplive's ports are the client ``seplive`` (:mod:`~seplive.control.midi_ports`); the map
bound to the session is :mod:`~seplive.control.midi_bindings`.

Threads: rtmidi calls back on its own thread, which only queues the message; the
control's thread decodes, posts mix changes and sends feedback.  Nothing runs on the
audio worker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

import mido

from .mapping import Mapping, load_mapping
from .midi_bindings import BoundMapping
from .midi_ports import (
    BACKEND_RETRY_S,
    CLIENT_NAME,
    JACK_BACKEND,
    ControllerPorts,
    PortLister,
    backend_candidates,
    match_port,
    open_backend,
)
from .targets import ControlError, MixController, PresetCallback, RateLimitedLog

__all__ = ["MidiControl", "USED_TYPES", "MAX_QUEUED", "JACK_BACKEND", "BACKEND_RETRY_S", "CLIENT_NAME",
           "PortLister", "backend_candidates", "match_port", "open_backend"]  # fmt: skip

log = logging.getLogger("seplive.midi")
#: message types a mapping acts on; everything else is dropped on arrival
USED_TYPES = frozenset({"control_change", "note_on", "note_off"})
#: messages waiting for the control thread, at most (a flood beyond it is dropped, counted)
MAX_QUEUED = 4096


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
        #: counters: messages received, used, unmapped, refused; port opens; feedback messages sent
        self.stats = {"messages": 0, "used": 0, "unmapped": 0, "refused": 0, "opens": 0, "feedback": 0, "dropped": 0}
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctl: MixController | None = None
        self._bound: BoundMapping | None = None
        self._warn = RateLimitedLog(log, 5.0)
        want_output = any(b.control.feedback for b in self.mapping.bindings)
        self._ports = ControllerPorts(port, backend, self._intake, self._warn, want_output, self._on_open)
        # open the ports now, before any audio runs: creating MIDI clients holds the GIL
        # for 10-25 ms (JACK), which a running audio worker would feel as deadline misses
        # (a re-opening after an unplug costs the same, once)
        self._check_ports()

    @property
    def port_name(self) -> str | None:
        """The controller input's port name (None until one opened)."""
        return self._ports.port_name

    @property
    def output_name(self) -> str | None:
        """The feedback output's port name (None while there is none)."""
        return self._ports.output_name

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """The controller's input port is open."""
        return self._ports.connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until the input port is open (or ``timeout_s`` passes); returns whether it is."""
        return self._ports.connected.wait(timeout_s)

    def start(self, session: Any) -> None:
        """Bind the mapping to ``session``'s model and start the control thread (the
        ports were opened by the constructor, or are waited for)."""
        self._ctl = MixController(session, origin="MIDI")
        self._bound = BoundMapping(self.mapping, self._ctl, self.stats, self._warn, self.on_preset)
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
        self._ports.shut()

    close = stop

    def _on_open(self, output_only: bool) -> None:
        if not output_only:
            self.stats["opens"] = self._ports.opens
        if self._bound is not None:
            self._bound.reset(output_only)

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        next_poll = time.monotonic() + self.poll_s
        next_fb = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                next_poll = now + self.poll_s
                self._check_ports()
            timeout = max(0.0, min(next_poll, next_fb) - time.monotonic())
            try:
                msg = self._queue.get(timeout=min(timeout, 0.05))
            except queue.Empty:
                msg = None
            while msg is not None:
                try:
                    self._bound.handle(msg)
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

    def _check_ports(self) -> None:
        try:
            self._ports.check()
        except Exception as exc:  # a MIDI system hiccup must not end control
            self._warn("ports", "MIDI port check failed: %s", exc)

    def _feedback(self) -> None:
        if self._ports.out is None or self._bound is None:
            return
        self._bound.feedback(self._ports.out, self._ports.output_name)

    def _intake(self, msg: mido.Message) -> None:
        """rtmidi's thread: queue what a mapping can use, drop the rest (SysEx, clock...)
        and anything beyond a bounded backlog, so a flood neither grows memory nor delays
        the messages that matter."""
        if msg.type not in USED_TYPES or self._queue.qsize() >= MAX_QUEUED:
            self.stats["dropped"] += 1
            return
        self._queue.put(msg)
