"""OSC test peers and a paced session: ``osc`` encodes a message, ``Client`` is a UDP
peer on 127.0.0.1 that records what comes back, ``write_input`` writes a 48 kHz stereo
test file, ``delayed`` is the unchanged output (input late by the latency, in samples),
``Running`` is a real-time identity Session (``--prompts vocals``) on its own thread."""

import socket
import threading
import time

import numpy as np
import soundfile as sf
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from seplive.control.osc import OscControl
from seplive.session import Session, SessionConfig

from .rerun import rerun

RATE = 48000


def osc(address, *args) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class Client:
    """A UDP peer on 127.0.0.1 that sends to the control and collects what comes back."""

    def __init__(self, port: int) -> None:
        self.dest = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.received: list[tuple[float, str, list]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._recv, daemon=True)
        self._thread.start()

    def _recv(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            for m in OscPacket(data).messages:
                self.received.append((time.monotonic(), m.message.address, list(m.message.params)))

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.dest)

    def wait_for(self, address: str, timeout_s: float = 3.0, pred=lambda args: True, since: float = 0.0):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for t, a, args in list(self.received):
                if t >= since and a == address and pred(args):
                    return args
            time.sleep(0.01)
        raise AssertionError(f"no {address} arrived; got {sorted({a for _, a, _ in self.received})}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def write_input(path, seconds: float, kind: str = "noise", amp: float = 0.3) -> np.ndarray:
    n = int(seconds * RATE)
    if kind == "noise":
        x = np.random.default_rng(7).standard_normal((n, 2)).astype(np.float32) * amp
    else:  # a low sine: its own sample-to-sample steps are small, so a click stands out
        t = np.arange(n) / RATE
        x = (amp * np.sin(2 * np.pi * 100.0 * t))[:, None].repeat(2, axis=1).astype(np.float32)
    sf.write(path, x, RATE, subtype="FLOAT")
    return x


def delayed(x: np.ndarray, latency: int, n: int) -> np.ndarray:
    """What the output is with nothing changed: the input, ``latency`` samples late."""
    ref = np.zeros((n, x.shape[1]), np.float32)
    ref[latency:] = x[: n - latency]
    return ref


class Running:
    """A realtime Session on its own thread."""

    def __init__(self, tmp_path, x_path, controls, name="out.wav", duration_s=None) -> None:
        self.out = tmp_path / name
        self.session = Session(
            SessionConfig(
                input=str(x_path),
                output=str(self.out),
                model="identity",
                prompts=["vocals"],
                realtime=True,
                controls=controls,
                duration_s=duration_s,
            )
        )
        self.report = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.report = self.session.run()

    def wait_frames(self, frames: int, timeout_s: float = 10.0) -> None:
        end = time.monotonic() + timeout_s
        while self.session.frames_in < frames:
            assert time.monotonic() < end, "session did not advance"
            time.sleep(0.005)

    def finish(self, stop: bool = True) -> np.ndarray:
        if stop:
            self.session.stop("test done")
        self.thread.join(timeout=30)
        assert self.report is not None, "session failed"
        y, _ = sf.read(self.out, dtype="float32")
        return y


def osc_session(tmp_path, x_path, i: int, drive):
    """One paced identity Session (output ``out{i}.wav``) with an OSC control on a port of
    its own and a client of it: ``drive(run, client)`` sends the messages and waits; returns
    ``(run, what drive returned, the output)``."""
    ctl = OscControl(0)
    run = Running(tmp_path, x_path, [ctl], name=f"out{i}.wav")
    client = Client(ctl.port)
    try:
        got = drive(run, client)
        y = run.finish()
    finally:
        client.close()
    return run, got, y


def without_misses(attempt, tries: int = 3):
    """Call ``attempt(i)`` (which returns ``(run, ...)``) until its run had no deadline miss,
    at most ``tries`` times, and return the last result.  A miss plays the dry input for a
    hop: on a busy machine (a CI VM's stall) that is a one-off of the machine, not of the
    code under test, and it would spoil a sample-exact check of the output.  The caller
    asserts on the audio, never on the miss count (a count of wall-clock events)."""
    return rerun(attempt, lambda out: out[0].report["deadline_misses"] == 0, tries)
