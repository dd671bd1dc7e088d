"""Live control over OSC (UDP): prompts and the stem mix from TouchOSC, a DAW, a script.

:class:`OscControl` is a session control (``start(session)`` / ``stop()``) that listens
on a UDP port (127.0.0.1 unless told otherwise) for messages under ``/seplive/``; the
address space is in docs/control.md and in :data:`ADDRESSES`.  Replies (``pong``,
errors, state dumps) go to the sender's address; subscribers get every state change
and, about 20 times a second, the stem levels in dBFS, plus the latency, deadline
misses, xruns and real-time factor every ``status_interval_s``.

It is a plain socket loop over python-osc's packet parser rather than python-osc's
servers, so that every datagram passes a size check and a per-sender token bucket
before it is parsed, bundles are capped, and no packet can end the thread: malformed
messages, wrong types and unknown addresses are ignored with one (rate-limited) log
line.  Nothing here runs on the audio worker: mix changes are queued for the next hop.
Bundle time tags are ignored (messages apply on arrival).

The pieces: :mod:`~seplive.control.osc_socket` (the socket),
:mod:`~seplive.control.osc_wire` (framing, encoding, arguments, token buckets),
:mod:`~seplive.control.osc_routes` (the address table and what each address does) and
:mod:`~seplive.control.osc_feedback` (what subscribers get).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from typing import Any

from pythonosc.osc_message import OscMessage

from .osc_feedback import OscFeedback
from .osc_routes import ADDRESSES, ROUTES, OscRoutes
from .osc_socket import OscSocket
from .osc_wire import PREFIX, Ignored, TokenBucket, message, split_packet
from .targets import ControlError, MixController, PresetCallback, RateLimitedLog, one_line

__all__ = ["OscControl", "ADDRESSES", "ROUTES", "PREFIX", "TokenBucket"]

log = logging.getLogger("seplive.osc")

#: the old private name of :func:`seplive.control.osc_wire.message` (bench/bench_control.py)
_message = message


class OscControl:
    """An OSC server driving a running Session (``start(session)`` / ``stop()``).

    ``port``: UDP port (0 picks a free one; read :attr:`port` after construction);
    ``host``: address to bind (127.0.0.1: this machine only; ``0.0.0.0`` for a tablet
    on the network).  The socket is bound here, so a port in use fails at once.
    ``on_preset(action, name)`` handles ``/seplive/preset/*``; without it those get an
    error reply (presets load by name from the preset folders; a path only from this
    machine, at most ``presets_per_s`` a second).  ``rate_per_s``/``burst``: each
    sender's token bucket (datagrams); ``total_per_s``: all senders together (default
    half of ``rate_per_s``); ``read_per_s``: datagrams read at all (default 2 x ``rate_per_s``):
    beyond it the socket is not read and the kernel drops the excess, so a flood from many
    ports costs the audio no more than one at the limit;
    ``max_packet_bytes``: larger datagrams are dropped unparsed;
    ``feedback_hz``: meter and state-change pushes per second;
    ``status_interval_s``: seconds between status pushes; ``max_subscribers``: the
    oldest subscriber is dropped beyond it; ``subscribers``: (host, port) pairs that get
    feedback from the start, as if they had sent ``/seplive/subscribe`` (for surfaces
    that cannot send it, e.g. a tablet's feedback port).
    """

    def __init__(
        self,
        port: int = 9000,
        host: str = "127.0.0.1",
        *,
        on_preset: PresetCallback | None = None,
        rate_per_s: float = 500.0,
        burst: float = 200.0,
        total_per_s: float | None = None,
        read_per_s: float | None = None,
        presets_per_s: float = 2.0,
        max_packet_bytes: int = 8192,
        max_bundle_messages: int = 64,
        feedback_hz: float = 20.0,
        status_interval_s: float = 0.5,
        max_subscribers: int = 16,
        subscribers: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self.socket = OscSocket(host, port)
        self.host, self.port = self.socket.host, self.socket.port
        self.on_preset = on_preset
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self.max_packet_bytes = int(max_packet_bytes)
        self.max_bundle_messages = int(max_bundle_messages)
        self.feedback_s = 1.0 / float(feedback_hz)
        #: counters: datagrams, messages handled, ignored, refused, rate_limited, oversized, sent, send_errors
        self.stats = dict.fromkeys(
            ("datagrams", "handled", "ignored", "refused", "rate_limited", "oversized", "sent", "send_errors",
             "own_echoes", "clamped"), 0
        )  # fmt: skip
        self._buckets: dict[tuple, TokenBucket] = {}
        # all senders together: half of one sender's limit (a flood from 64 ports at 2,000
        # handled a second cost 44-81 deadline misses in 10 s; one port at 500, its resting 3)
        total = float(total_per_s) if total_per_s is not None else self.rate_per_s / 2.0
        self._global = TokenBucket(total, max(self.burst, total / 2.0))
        reads = float(read_per_s) if read_per_s is not None else 2.0 * self.rate_per_s
        self._reads = TokenBucket(reads, max(4.0 * self.burst, reads / 4.0))
        # what the routes (osc_routes.py) and the feedback (osc_feedback.py) use of this
        # control: the preset budget, the rate-limited warning log, send(), and once started
        # the session and its mix controller
        self.preset_bucket = TokenBucket(float(presets_per_s), max(1.0, 2.0 * float(presets_per_s)))
        self.warn = RateLimitedLog(log, 1.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.mixer: MixController | None = None
        self.session: Any = None
        self.routes = OscRoutes(self)
        self.feedback = OscFeedback(self, max_subscribers, status_interval_s)
        self._initial = [self._feedback_target(h, p) for h, p in subscribers]

    def _feedback_target(self, host: str, port: int) -> tuple:
        """A ``--osc-feedback`` target resolved, or OSError (the socket closed)."""
        try:
            where = self.socket.resolve(host, int(port))
        except (OSError, ValueError, UnicodeError) as exc:
            self.socket.close()
            raise OSError(f"OSC: cannot send feedback to {host}:{port}: {exc}") from None
        if self.socket.is_own(where):
            self.socket.close()
            raise OSError(f"OSC: --osc-feedback {host}:{port} is seplive's own OSC port: its feedback"
                          " would come back as control messages")
        return where

    @property
    def subscribers(self) -> dict[tuple, None]:
        """Where feedback goes: (host, port) -> None, oldest first."""
        return self.feedback.subscribers

    # -- lifecycle -----------------------------------------------------------------------
    def attach(self, session: Any) -> None:
        """Bind to ``session`` without starting the thread (:meth:`handle_packet` works)."""
        self.session = session
        self.mixer = MixController(session, origin="OSC")

    def start(self, session: Any) -> None:
        """Attach to ``session`` and serve on a background thread."""
        self.attach(session)
        for where in self._initial:
            self.feedback.subscribe(where)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="seplive-osc", daemon=True)
        self._thread.start()
        log.info("OSC: listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self.close()

    def close(self) -> None:
        self.socket.close()

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stop.is_set():
            wait = min(max(0.0, next_tick - time.monotonic()), 0.05)
            now = time.monotonic()
            if not self._reads.ready(now):  # over the read budget: leave the excess to the kernel
                # for a while: waking for every token costs more than the datagrams it lets in
                time.sleep(max(0.0005, min(max(wait, 0.02), max(self._reads.wait_s(now), 0.02))))
                if time.monotonic() >= next_tick:
                    next_tick = max(next_tick + self.feedback_s, time.monotonic())
                    self._tick(time.monotonic())
                continue
            try:
                readable = select.select([self.socket.sock], [], [], wait)[0]
            except (OSError, ValueError):
                if self._stop.is_set():
                    break
                time.sleep(0.01)
                continue
            if readable:
                self._drain()
            now = time.monotonic()
            if now >= next_tick:
                next_tick = max(next_tick + self.feedback_s, now)
                self._tick(now)

    def _tick(self, now: float) -> None:
        try:
            self.feedback.tick(now)
        except Exception as exc:  # feedback trouble must not end control
            self.warn("tick", "OSC: feedback failed: %s", exc)

    def _drain(self, limit: int = 1024) -> None:
        for i in range(limit):
            now = time.monotonic()
            if not self._reads.take(now):
                return  # the rest waits in (or is dropped by) the kernel
            if i and i % 16 == 0:
                time.sleep(0)  # let the audio threads have the GIL between batches
            try:
                data, sender, dropped = self.socket.receive()
                self.stats["rate_limited"] += dropped
            except (BlockingIOError, InterruptedError):
                self._reads.give_back()
                return
            except OSError:  # e.g. ICMP "port unreachable" from a subscriber that left
                continue
            try:
                self.handle_packet(data, sender)
            except Exception as exc:  # never let a packet end the thread
                self.stats["ignored"] += 1
                self.warn(
                    "crash", "OSC: packet from %s ignored: %s: %s", sender, type(exc).__name__, one_line(str(exc))
                )

    # -- input ---------------------------------------------------------------------------------
    def handle_packet(self, data: bytes, sender: tuple) -> None:
        """Rate-limit, parse and act on one datagram from ``sender`` ((host, port))."""
        self.stats["datagrams"] += 1
        key = tuple(sender[:2])
        if not self._admit(data, key):
            return
        try:
            dgrams: list[bytes] = []
            split_packet(bytes(data), dgrams, self.max_bundle_messages + 1)
            if len(dgrams) > self.max_bundle_messages:
                self.warn("bundle", "OSC: bundle from %s has more than %d messages: only the first %d used",
                           key, self.max_bundle_messages, self.max_bundle_messages)  # fmt: skip
                del dgrams[self.max_bundle_messages :]
            messages = [OscMessage(d) for d in dgrams]
        except Exception as exc:  # Ignored, or python-osc's errors on garbage
            self.stats["ignored"] += 1
            self.warn("parse", "OSC: unparsable packet from %s ignored: %s", key, one_line(str(exc), 120))
            return
        for msg in messages:
            self.handle_message(msg.address, list(msg.params), key)

    def _admit(self, data: bytes, key: tuple) -> bool:
        """Whether a datagram from ``key`` passes the own-port guard, the rate limits and the size limit."""
        if self.socket.is_own(key):  # our own feedback, sent to ourselves: never a control message
            self.stats["own_echoes"] += 1
            self.warn("own", "OSC: a datagram from seplive's own port %s ignored (feedback loop?)", key)
            return False
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= 256:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self.rate_per_s, self.burst)
        if not bucket.take(now) or not self._global.take(now):
            self.stats["rate_limited"] += 1
            self.warn("rate", "OSC: %s sends too fast (over %.0f messages/s): dropping", key, self.rate_per_s)
            return False
        if len(data) > self.max_packet_bytes:
            self.stats["oversized"] += 1
            self.warn("size", "OSC: %d-byte packet from %s dropped (limit %d)", len(data), key, self.max_packet_bytes)
            return False
        return True

    def handle_message(self, address: str, args: list, sender: tuple) -> None:
        """Act on one message; malformed ones are logged and dropped, refused ones get
        ``/seplive/error`` back."""
        try:
            self.routes.dispatch(str(address), args, sender)
            self.stats["handled"] += 1
        except Ignored as exc:
            self.stats["ignored"] += 1
            # one key for all: a DAW that sends dozens of addresses seplive does not know
            # gets one line a second, not dozens
            self.warn("ignored", "OSC: ignored %s from %s: %s", one_line(address, 80), sender, one_line(str(exc)))
        except ControlError as exc:
            self.stats["refused"] += 1
            addr, why = one_line(address, 80), one_line(str(exc))
            self.warn("refused", "OSC: refused %s from %s: %s", addr, sender, why)
            self.send(sender, message(PREFIX + "/error", (f"{addr}: {why}"[:400],)))

    # -- output --------------------------------------------------------------------------------
    def send(self, where: tuple, data: bytes) -> None:
        try:
            self.socket.send(where, data)
            self.stats["sent"] += 1
        except OSError as exc:
            self.stats["send_errors"] += 1
            self.warn("send", "OSC: cannot send to %s: %s", where, exc)
