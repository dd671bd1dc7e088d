"""MIDI ports for seplive's controller input: choosing a backend (rtmidi's default API,
then JACK), listing and matching ports, and keeping the controller's input and feedback
output open as ports come and go.

seplive's own rtmidi ports are named: the client ``seplive`` with the ports
``seplive control in`` and ``seplive feedback out`` (a DAW user looks for ``seplive``, not
``RtMidiIn Client``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

import mido

log = logging.getLogger("seplive.midi")

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
    Raises OSError naming every backend tried and why it failed.

    alsa-lib prints ``snd_seq_hw_open ... failed`` straight to stderr where there is no
    ALSA sequencer: every probe but JACK's runs with the process's stderr (fd 2) silenced,
    and falling back to JACK says so in one line (a warning, so it shows unless --quiet)."""
    errors = []
    for name in backend_candidates(backend):
        try:
            if name == JACK_BACKEND:
                b = mido.Backend(name, load=True)
                lister = PortLister(b)
            else:
                with quiet_c_stderr():
                    b = mido.Backend(name, load=True)
                    lister = PortLister(b)
        except Exception as exc:  # rtmidi raises its own SystemError subclasses
            errors.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
            continue
        if errors and name == JACK_BACKEND:
            log.warning("MIDI: no ALSA sequencer here; MIDI uses JACK")
        return b, lister
    raise OSError("no MIDI system available (" + "; ".join(errors) + ")")


@contextlib.contextmanager
def quiet_c_stderr() -> Iterator[None]:
    """Send file descriptor 2 (what C libraries write to) to /dev/null for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


#: the MIDI client name seplive's ports appear under (JACK: ``seplive:seplive control in``)
CLIENT_NAME = "seplive"
#: seplive's own input and feedback output port names
INPUT_PORT_NAME = "seplive control in"
OUTPUT_PORT_NAME = "seplive feedback out"
#: port names rtmidi gives the ports a program opens to connect to others: never a controller
_CONNECTION_PORTS = (":RtMidi input", ":RtMidi output")


def match_port(names: list[str], substring: str) -> str | None:
    """The first name containing ``substring`` (case-insensitive), skipping the
    connection ports of rtmidi clients (this program's own among them)."""
    low = substring.lower()
    for n in names:
        if low in n.lower() and not n.endswith(_CONNECTION_PORTS) and not _is_own(n):
            return n
    return None



def _is_own(name: str) -> bool:
    return INPUT_PORT_NAME in name or OUTPUT_PORT_NAME in name


def _rtmidi_api(backend: mido.Backend) -> int:
    import rtmidi

    return getattr(rtmidi, f"API_{backend.api}") if backend.api else rtmidi.API_UNSPECIFIED


class RtInput:
    """An rtmidi input port opened under seplive's client and port names; calls
    ``callback(mido.Message)`` on rtmidi's thread.  SysEx, clock and active sensing are
    dropped in C, before they cost Python (and the audio worker) any time."""

    def __init__(self, backend: mido.Backend, name: str, callback: Callable[[mido.Message], None]) -> None:
        import rtmidi

        self._callback = callback
        self._rt = rtmidi.MidiIn(rtapi=_rtmidi_api(backend), name=CLIENT_NAME)
        try:
            ports = list(self._rt.get_ports())
            if name not in ports:
                raise OSError(f"unknown port {name!r}")
            self._rt.ignore_types(sysex=True, timing=True, active_sense=True)
            self._rt.set_callback(self._receive)
            self._rt.open_port(ports.index(name), name=INPUT_PORT_NAME)
        except Exception:
            self._rt.delete()
            raise

    def _receive(self, event: tuple, _data: object) -> None:
        try:
            msg = mido.Message.from_bytes(event[0])
        except ValueError:
            return
        self._callback(msg)

    def close(self) -> None:
        self._rt.cancel_callback()
        self._rt.close_port()
        self._rt.delete()


class RtOutput:
    """An rtmidi output port opened under seplive's client and port names."""

    def __init__(self, backend: mido.Backend, name: str) -> None:
        import rtmidi

        self._rt = rtmidi.MidiOut(rtapi=_rtmidi_api(backend), name=CLIENT_NAME)
        try:
            ports = list(self._rt.get_ports())
            if name not in ports:
                raise OSError(f"unknown port {name!r}")
            self._rt.open_port(ports.index(name), name=OUTPUT_PORT_NAME)
        except Exception:
            self._rt.delete()
            raise

    def send(self, msg: mido.Message) -> None:
        self._rt.send_message(msg.bytes())

    def close(self) -> None:
        self._rt.close_port()
        self._rt.delete()


def open_input(backend: mido.Backend, name: str, callback: Callable[[mido.Message], None]):
    """Input port ``name`` of ``backend`` (seplive-named under rtmidi), calling ``callback``."""
    if backend.name == "mido.backends.rtmidi":
        return RtInput(backend, name, callback)
    return backend.open_input(name, callback=callback)


def open_output(backend: mido.Backend, name: str):
    """Output port ``name`` of ``backend`` (seplive-named under rtmidi)."""
    if backend.name == "mido.backends.rtmidi":
        return RtOutput(backend, name)
    return backend.open_output(name)


def _close_quietly(port) -> None:
    if port is not None:
        try:
            port.close()
        except Exception:
            pass


class ControllerPorts:
    """The controller's input (and feedback output) port: opened when a port whose name
    contains ``port_substring`` is there, closed when it goes, re-opened when it returns.

    ``callback(msg)`` gets every input message (on rtmidi's thread); ``on_open()`` runs
    after the input opens (the hardware may show anything then); ``warn`` is a
    rate-limited log (key, format, args...)."""

    def __init__(self, port_substring: str, backend_name: str | None, callback: Callable[[mido.Message], None],
                 warn: Callable[..., None], want_output: bool, on_open: Callable[[bool], None]) -> None:  # fmt: skip
        self.port_substring = port_substring
        self.backend_name = backend_name
        self.callback, self.warn, self.want_output, self.on_open = callback, warn, want_output, on_open
        self.port_name: str | None = None
        self.output_name: str | None = None
        self.opens = 0
        self.connected = threading.Event()
        self.inp = self.out = None
        self.lister: PortLister | None = None
        self.backend: mido.Backend | None = None
        self._backend_retry_at = 0.0

    def check(self) -> None:
        """Open, keep or close the ports for what is there now."""
        if self.lister is None and not self._open_backend():
            return
        inputs = self.lister.inputs()
        if self.inp is not None:
            if self.port_name in inputs:
                if self.out is not None and self.output_name not in self.lister.outputs():
                    log.warning("MIDI output '%s' went away", self.output_name)
                    self.close_output()
                if self.out is None:
                    self.open_output()
                return
            log.warning("MIDI port '%s' went away; waiting for it to come back", self.port_name)
            self.close()
        name = match_port(inputs, self.port_substring)
        if name is None:
            self.warn("missing", "no MIDI input matches '%s'; inputs are: %s (waiting)", self.port_substring,
                      ", ".join(inputs) or "none")  # fmt: skip
            return
        try:
            self.inp = open_input(self.backend, name, self.callback)
        except Exception as exc:
            self.warn("open", "cannot open MIDI input '%s': %s", name, exc)
            self.inp = None
            return
        self.port_name = name
        self.opens += 1
        self.on_open(False)
        log.info("MIDI: opened input '%s'", name)
        self.open_output()
        self.connected.set()

    def _open_backend(self) -> bool:
        if time.monotonic() < self._backend_retry_at:
            return False
        try:
            self.backend, self.lister = open_backend(self.backend_name)
        except OSError as exc:
            # trying costs a client each time (and libjack prints to stderr): back off
            self._backend_retry_at = time.monotonic() + BACKEND_RETRY_S
            self.warn("backend", "MIDI: %s; retrying every %g s", exc, BACKEND_RETRY_S)
            return False
        return True

    def open_output(self) -> None:
        if not self.want_output:
            return
        name = match_port(self.lister.outputs(), self.port_substring)
        if name is None:
            return
        try:
            self.out = open_output(self.backend, name)
            self.output_name = name
            self.on_open(True)
            log.info("MIDI: opened output '%s' for feedback", name)
        except Exception as exc:
            self.warn("open-out", "cannot open MIDI output '%s' for feedback: %s", name, exc)
            self.out = None

    def close_output(self) -> None:
        _close_quietly(self.out)
        self.out = None
        self.output_name = None

    def close(self) -> None:
        """Close both ports (the backend's lister stays)."""
        self.connected.clear()
        self.close_output()
        _close_quietly(self.inp)
        self.inp = None

    def shut(self) -> None:
        """Close the ports and the lister."""
        self.close()
        if self.lister is not None:
            self.lister.close()
            self.lister = None
