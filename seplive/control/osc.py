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
"""

from __future__ import annotations

import logging
import math
import select
import socket
import sys
import threading
import time
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from ..models.prompts import REST
from .targets import ControlError, MixController, PresetCallback, RateLimitedLog, Target, one_line, parse_target

log = logging.getLogger("seplive.osc")

PREFIX = "/seplive"

#: the address space: address -> (arguments, what it does)
ADDRESSES: dict[str, tuple[str, str]] = {
    "/seplive/prompts": ("s...", "select these stems (names, aliases or 1-based indices)"),
    "/seplive/stem/<stem>/gain": ("f", "stem gain, linear amplitude (1 = 0 dB, 0 = off)"),
    "/seplive/stem/<stem>/gain_db": ("f", "stem gain in dB (-120 .. +24)"),
    "/seplive/stem/<stem>/mute": ("[i]", "1 mutes, 0 unmutes, no argument flips"),
    "/seplive/stem/<stem>/solo": ("[i]", "1 solos, 0 unsolos, no argument flips"),
    "/seplive/stem/<stem>/toggle": ("[i]", "add the stem to / remove it from the selection (1/0 sets)"),
    "/seplive/fx/<stem>/<param>": ("f", "a stem effect parameter: /seplive/fx/drums/lowpass 800, /seplive/fx/vocals/reverb/mix 0.3"),
    "/seplive/master/gain_db": ("f", "master gain in dB"),
    "/seplive/master/gain": ("f", "master gain, linear amplitude"),
    "/seplive/wet": ("f", "wet/dry: 1 = the remix, 0 = the (delayed) input"),
    "/seplive/bypass": ("[i]", "1 plays the input, 0 the remix, no argument flips"),
    "/seplive/preset/load": ("s", "load a preset by name"),
    "/seplive/preset/next": ("", "next preset"),
    "/seplive/preset/prev": ("", "previous preset"),
    "/seplive/ping": ("[any]", "replies /seplive/pong with the same arguments"),
    "/seplive/state": ("", "replies with the whole state (as feedback messages)"),
    "/seplive/subscribe": ("[[s] i]", "send feedback to the sender, to port i of the sender, or to host s port i"),
    "/seplive/unsubscribe": ("[[s] i]", "stop sending feedback there"),
}

TRUE_WORDS = ("1", "on", "true", "yes")
FALSE_WORDS = ("0", "off", "false", "no")

#: meters below this are sent as this (dBFS)
METER_FLOOR_DB = -120.0


class _Ignored(Exception):
    """A message that is malformed or addressed to nothing: logged and dropped."""


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up; :meth:`take` spends one."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def ready(self, now: float) -> bool:
        """Would :meth:`take` succeed now (without spending)?"""
        return min(self.burst, self.tokens + (now - self.stamp) * self.rate) >= 1.0

    def wait_s(self, now: float) -> float:
        """Seconds until a token is there."""
        have = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        return max(0.0, (1.0 - have) / self.rate) if self.rate > 0 else 0.05

    def give_back(self) -> None:
        self.tokens = min(self.burst, self.tokens + 1.0)


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost") or host.startswith("::ffff:127.")


def _own_addresses(host: str, port: int) -> set[str]:
    """Addresses a datagram from this socket may carry as its source."""
    out = {host}
    if host in ("0.0.0.0", "::", ""):
        out |= {"0.0.0.0", "::"}
        try:
            for info in socket.getaddrinfo(socket.gethostname(), None):
                out.add(str(info[4][0]))
        except (OSError, UnicodeError):
            pass
    return out


def _looks_like_path(name: str) -> bool:
    return any(c in name for c in "/\\~") or name.startswith(".") or name.lower().endswith(".toml") or ":" in name


#: OSC type tags python-osc decodes (others would make it log a line per argument)
_TYPE_TAGS = frozenset("ihfdsbrmtTFN[]")
_BUNDLE = b"#bundle\x00"
MAX_BUNDLE_DEPTH = 8


def _split_packet(data: bytes, out: list[bytes], limit: int, depth: int = 0) -> None:
    """Append the message datagrams of an OSC packet to ``out`` (bundles unpacked, at most
    :data:`MAX_BUNDLE_DEPTH` deep, stopping after ``limit`` messages; time tags ignored).
    Checks the framing and the type tags before python-osc sees a message; raises
    :class:`_Ignored` on anything malformed."""
    if data.startswith(_BUNDLE):
        if depth >= MAX_BUNDLE_DEPTH:
            raise _Ignored("bundles nested too deep")
        if len(data) < 16:
            raise _Ignored("truncated bundle")
        i = 16
        while i < len(data) and len(out) < limit:
            if i + 4 > len(data):
                raise _Ignored("truncated bundle element")
            size = int.from_bytes(data[i : i + 4], "big", signed=True)
            i += 4
            if size <= 0 or i + size > len(data):
                raise _Ignored(f"bundle element size {size} does not fit the packet")
            _split_packet(data[i : i + size], out, limit, depth + 1)
            i += size
        return
    if not data.startswith(b"/"):
        raise _Ignored("neither an OSC message nor a bundle")
    end = data.find(b"\x00")
    if end < 0:
        raise _Ignored("unterminated address")
    i = (end // 4 + 1) * 4
    if data[i : i + 1] != b",":  # OSC 1.0 requires it; a cut-off message has none
        raise _Ignored("no type tag string")
    tag_end = data.find(b"\x00", i)
    if tag_end < 0:
        raise _Ignored("unterminated type tags")
    tags = data[i + 1 : tag_end]
    if not tags.isascii() or not set(tags.decode("ascii")) <= _TYPE_TAGS:
        raise _Ignored(f"unsupported OSC type tags {tags[:16]!r}")
    out.append(data)


def _dbfs(linear: float) -> float:
    return METER_FLOOR_DB if linear <= 1e-6 else max(METER_FLOOR_DB, 20.0 * math.log10(linear))


def _message(address: str, args: tuple | list = ()) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(int(a) if isinstance(a, bool) else a)
    return b.build().dgram


def _number(args: list, address: str) -> float:
    if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], (int, float)):
        raise _Ignored(f"{address} takes one number, got {_types(args)}")
    return float(args[0])


def _flag(args: list, address: str) -> bool | None:
    """True/False from one int, float, bool or on/off word; None for no argument (flip)."""
    if not args:
        return None
    if len(args) == 1:
        a = args[0]
        if isinstance(a, (bool, int, float)) and not (isinstance(a, float) and math.isnan(a)):
            return bool(a)
        if isinstance(a, str) and a.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            return a.strip().lower() in TRUE_WORDS
    raise _Ignored(f"{address} takes nothing, or one 1/0 (or on/off), got {_types(args)}")


def _port(v: object) -> int | None:
    """A UDP port from an int or an integral float, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float) and (not math.isfinite(v) or v != int(v)):
        return None
    return int(v) if 0 < v < 65536 else None


def _types(args: list) -> str:
    return "(" + ", ".join(type(a).__name__ for a in args) + ")" if args else "no arguments"


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
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except (OSError, UnicodeError) as exc:
            raise OSError(f"OSC: cannot listen on {host}:{port}: {exc}") from None
        self._sock = socket.socket(info[0], socket.SOCK_DGRAM)
        try:
            self._sock.bind(info[4])
        except OSError as exc:
            self._sock.close()
            raise OSError(f"OSC: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._sock.setblocking(False)
        self.host, self.port = self._sock.getsockname()[:2]
        self.on_preset = on_preset
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self.max_packet_bytes = int(max_packet_bytes)
        self.max_bundle_messages = int(max_bundle_messages)
        self.feedback_s = 1.0 / float(feedback_hz)
        self.status_interval_s = float(status_interval_s)
        self.max_subscribers = int(max_subscribers)
        #: counters: datagrams, messages handled, ignored, refused, rate_limited, oversized, sent, send_errors
        self.stats = dict.fromkeys(
            ("datagrams", "handled", "ignored", "refused", "rate_limited", "oversized", "sent", "send_errors",
             "own_echoes", "clamped"), 0
        )
        self.subscribers: dict[tuple, None] = {}
        self._buckets: dict[tuple, TokenBucket] = {}
        # all senders together: half of one sender's limit (a flood from 64 ports at 2,000
        # handled a second cost 44-81 deadline misses in 10 s; one port at 500, its resting 3)
        total = float(total_per_s) if total_per_s is not None else self.rate_per_s / 2.0
        self._global = TokenBucket(total, max(self.burst, total / 2.0))
        reads = float(read_per_s) if read_per_s is not None else 2.0 * self.rate_per_s
        self._reads = TokenBucket(reads, max(4.0 * self.burst, reads / 4.0))
        self._presets = TokenBucket(float(presets_per_s), max(1.0, 2.0 * float(presets_per_s)))
        #: where a datagram from this socket itself would come from (self-feedback guard)
        self._own: set[tuple] = set()
        self._warn = RateLimitedLog(log, 1.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctl: MixController | None = None
        self._session: Any = None
        self._last_state: dict[str, tuple] = {}
        self._next_status = 0.0
        self._initial: list[tuple] = []
        self._own = _own_addresses(self.host, self.port)
        try:  # the kernel's count of datagrams dropped for a full buffer (Linux: SO_RXQ_OVFL)
            self._sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RXQ_OVFL", 40), 1)
            self._ovfl = True
        except OSError:
            self._ovfl = False
        self._kernel_dropped = 0
        for sub_host, sub_port in subscribers:
            try:
                sub = socket.getaddrinfo(sub_host, int(sub_port), self._sock.family, socket.SOCK_DGRAM)
            except (OSError, ValueError, UnicodeError) as exc:
                self._sock.close()
                raise OSError(f"OSC: cannot send feedback to {sub_host}:{sub_port}: {exc}") from None
            where = tuple(sub[0][4][:2])
            if self._is_own(where):
                self._sock.close()
                raise OSError(f"OSC: --osc-feedback {sub_host}:{sub_port} is seplive's own OSC port: its feedback"
                              " would come back as control messages")
            self._initial.append(where)

    # -- lifecycle -----------------------------------------------------------------------
    def attach(self, session: Any) -> None:
        """Bind to ``session`` without starting the thread (:meth:`handle_packet` works)."""
        self._session = session
        self._ctl = MixController(session, origin="OSC")

    def start(self, session: Any) -> None:
        """Attach to ``session`` and serve on a background thread."""
        self.attach(session)
        for where in self._initial:
            self._subscribe(where)
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
        try:
            self._sock.close()
        except OSError:
            pass

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
                    try:
                        self._tick(time.monotonic())
                    except Exception as exc:  # feedback trouble must not end control
                        self._warn("tick", "OSC: feedback failed: %s", exc)
                continue
            try:
                readable = select.select([self._sock], [], [], wait)[0]
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
                try:
                    self._tick(now)
                except Exception as exc:  # feedback trouble must not end control
                    self._warn("tick", "OSC: feedback failed: %s", exc)

    def _drain(self, limit: int = 1024) -> None:
        for i in range(limit):
            now = time.monotonic()
            if not self._reads.take(now):
                return  # the rest waits in (or is dropped by) the kernel
            if i and i % 16 == 0:
                time.sleep(0)  # let the audio threads have the GIL between batches
            try:
                if self._ovfl:
                    data, anc, _flags, sender = self._sock.recvmsg(65536, socket.CMSG_SPACE(4))
                    for level, kind, value in anc:
                        if level == socket.SOL_SOCKET and len(value) >= 4 and kind == getattr(socket, "SO_RXQ_OVFL", 40):
                            total = int.from_bytes(value[:4], sys.byteorder)
                            if total > self._kernel_dropped:
                                self.stats["rate_limited"] += total - self._kernel_dropped
                                self._kernel_dropped = total
                else:
                    data, sender = self._sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                self._reads.give_back()
                return
            except OSError:  # e.g. ICMP "port unreachable" from a subscriber that left
                continue
            try:
                self.handle_packet(data, sender)
            except Exception as exc:  # never let a packet end the thread
                self.stats["ignored"] += 1
                self._warn(
                    "crash", "OSC: packet from %s ignored: %s: %s", sender, type(exc).__name__, one_line(str(exc))
                )

    # -- input ---------------------------------------------------------------------------------
    def handle_packet(self, data: bytes, sender: tuple) -> None:
        """Rate-limit, parse and act on one datagram from ``sender`` ((host, port))."""
        self.stats["datagrams"] += 1
        now = time.monotonic()
        key = tuple(sender[:2])
        if self._is_own(key):  # our own feedback, sent to ourselves: never a control message
            self.stats["own_echoes"] += 1
            self._warn("own", "OSC: a datagram from seplive's own port %s ignored (feedback loop?)", key)
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= 256:
                self._buckets.clear()
            bucket = self._buckets[key] = TokenBucket(self.rate_per_s, self.burst)
        if not bucket.take(now) or not self._global.take(now):
            self.stats["rate_limited"] += 1
            self._warn("rate", "OSC: %s sends too fast (over %.0f messages/s): dropping", key, self.rate_per_s)
            return
        if len(data) > self.max_packet_bytes:
            self.stats["oversized"] += 1
            self._warn("size", "OSC: %d-byte packet from %s dropped (limit %d)", len(data), key, self.max_packet_bytes)
            return
        try:
            dgrams: list[bytes] = []
            _split_packet(bytes(data), dgrams, self.max_bundle_messages + 1)
            if len(dgrams) > self.max_bundle_messages:
                self._warn(
                    "bundle",
                    "OSC: bundle from %s has more than %d messages: only the first %d used",
                    key,
                    self.max_bundle_messages,
                    self.max_bundle_messages,
                )
                del dgrams[self.max_bundle_messages :]
            messages = [OscMessage(d) for d in dgrams]
        except Exception as exc:  # _Ignored, or python-osc's errors on garbage
            self.stats["ignored"] += 1
            self._warn("parse", "OSC: unparsable packet from %s ignored: %s", key, one_line(str(exc), 120))
            return
        for msg in messages:
            self.handle_message(msg.address, list(msg.params), key)

    def handle_message(self, address: str, args: list, sender: tuple) -> None:
        """Act on one message; malformed ones are logged and dropped, refused ones get
        ``/seplive/error`` back."""
        try:
            self._dispatch(str(address), args, sender)
            self.stats["handled"] += 1
        except _Ignored as exc:
            self.stats["ignored"] += 1
            # one key for all: a DAW that sends dozens of addresses seplive does not know
            # gets one line a second, not dozens
            self._warn("ignored", "OSC: ignored %s from %s: %s", one_line(address, 80), sender, one_line(str(exc)))
        except ControlError as exc:
            self.stats["refused"] += 1
            addr, why = one_line(address, 80), one_line(str(exc))
            self._warn("refused", "OSC: refused %s from %s: %s", addr, sender, why)
            self._send(sender, _message(PREFIX + "/error", (f"{addr}: {why}"[:400],)))

    def _dispatch(self, address: str, args: list, sender: tuple) -> None:
        ctl = self._ctl
        if ctl is None:
            raise _Ignored("not attached to a session")
        parts = address.split("/")
        if len(parts) < 3 or parts[0] != "" or parts[1] != PREFIX[1:]:
            raise _Ignored("unknown address")
        p = parts[2:]
        head, n = p[0], len(p)
        if head == "ping" and n == 1:
            echo = [a for a in args if isinstance(a, (int, float, str)) and not isinstance(a, bool)][:16]
            self._send(sender, _message(PREFIX + "/pong", echo))
        elif head == "prompts" and n == 1:
            if not all(isinstance(a, (str, int)) and not isinstance(a, bool) for a in args):
                raise _Ignored(f"{address} takes stem names, got {_types(args)}")
            ctl.set_prompts([str(a) for a in args])
        elif head == "stem" and n == 3:
            self._stem(address, p[1], p[2], args)
        elif head == "fx" and 3 <= n <= 4:
            stem = ctl.resolve_stem(p[1])
            target = ctl.resolve(parse_target("fx." + ".".join(p[1:])))
            ctl.set(Target(target.param, stem), _number(args, address))
        elif head == "master" and n == 2 and p[1] in ("gain", "gain_db"):
            ctl.set(Target("master_" + p[1]), self._bounded(p[1], _number(args, address)))
        elif head == "wet" and n == 1:
            ctl.set(Target("wet"), self._bounded("wet", _number(args, address)))
        elif head == "bypass" and n == 1:
            flag = _flag(args, address)
            target = Target("bypass")
            ctl.toggle(target) if flag is None else ctl.set(target, flag)
        elif head == "preset" and n == 2 and p[1] in ("load", "next", "prev"):
            name = None
            if p[1] == "load":
                if len(args) != 1 or not isinstance(args[0], str) or not args[0]:
                    raise _Ignored(f"{address} takes one preset name, got {_types(args)}")
                name = args[0]
            elif args:
                raise _Ignored(f"{address} takes no arguments")
            if name is not None and _looks_like_path(name) and not _is_loopback(sender[0]):
                raise ControlError("presets load by name from the preset folders; a path only from this machine")
            if not self._presets.take(time.monotonic()):
                raise ControlError("too many preset loads: at most a few a second")
            self._preset(p[1], name, sender)
        elif head in ("subscribe", "unsubscribe") and n == 1:
            where = self._where(args, sender, address)
            if head == "subscribe":
                self._subscribe(where)
            else:
                self.subscribers.pop(where, None)
                self._send(where, _message(PREFIX + "/unsubscribed", (str(where[0]), int(where[1]))))
        elif head == "state" and n == 1:
            for addr, values in self._state().items():
                self._send(sender, _message(addr, values))
        else:
            raise _Ignored("unknown address")

    #: what a gain or wet can be set to; beyond it a value is clamped and counted
    _RANGES = {"gain_db": (-math.inf, 24.0), "gain": (0.0, 10.0 ** (24.0 / 20.0)), "wet": (0.0, 1.0)}

    def _bounded(self, param: str, v: float) -> float:
        lo, hi = self._RANGES[param]
        # NaN, +inf and a negative linear gain are refused by the controller, as before
        if math.isfinite(v) and (v > hi or (v < lo and param == "wet")):
            self.stats["clamped"] += 1
            self._warn("clamp", "OSC: %s %g is out of range, clamped to [%g, %g]", param, v, lo, hi)
            return min(max(v, lo), hi)
        return v

    def _stem(self, address: str, key: str, param: str, args: list) -> None:
        ctl = self._ctl
        stem = ctl.resolve_stem(key)
        if param in ("gain", "gain_db"):
            ctl.set(Target(param, stem), self._bounded(param, _number(args, address)))
        elif param in ("mute", "solo"):
            flag = _flag(args, address)
            target = Target(param, stem)
            ctl.toggle(target) if flag is None else ctl.set(target, flag)
        elif param in ("toggle", "select"):
            flag = _flag(args, address)
            target = ctl.resolve(Target("select", stem))
            ctl.toggle(target) if flag is None else ctl.set(target, flag)
        else:
            raise _Ignored(f"unknown stem parameter '{param[:40]}'")

    def _preset(self, action: str, name: str | None, sender: tuple) -> None:
        if self.on_preset is None:
            raise ControlError("presets are not available in this session")
        try:
            reply = self.on_preset(action, name)
        except (ValueError, KeyError, LookupError) as exc:
            raise ControlError(str(exc)) from None
        self._send(sender, _message(PREFIX + "/preset", (str(reply if reply is not None else name or action),)))

    def _where(self, args: list, sender: tuple, address: str) -> tuple:
        if not args:
            return sender
        # ports may come as floats (TouchOSC buttons send their value as a float)
        port = _port(args[-1])
        if len(args) == 1 and port:
            return (sender[0], port)
        if len(args) == 2 and isinstance(args[0], str) and port:
            try:
                info = socket.getaddrinfo(args[0], port, self._sock.family, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)
            except (OSError, UnicodeError, ValueError):
                raise ControlError(f"'{args[0][:64]}' is not a numeric address of this socket's family") from None
            return tuple(info[0][4][:2])
        raise _Ignored(f"{address} takes nothing, a port, or a host and a port; got {_types(args)}")

    def _is_own(self, where: tuple) -> bool:
        return len(where) >= 2 and int(where[1]) == self.port and (
            str(where[0]) in self._own or _is_loopback(str(where[0])))

    def _subscribe(self, where: tuple) -> None:
        if self._is_own(where):
            raise ControlError(f"{where[0]}:{where[1]} is seplive's own OSC port: its feedback would come back as"
                               " control messages")
        self.subscribers.pop(where, None)
        while len(self.subscribers) >= self.max_subscribers:
            dropped = next(iter(self.subscribers))
            del self.subscribers[dropped]
            log.warning("OSC: too many subscribers; dropped %s", dropped)
        self.subscribers[where] = None
        log.info("OSC: feedback to %s", where)
        self._send(where, _message(PREFIX + "/subscribed", (str(where[0]), int(where[1]))))
        for addr, values in self._state().items():
            self._send(where, _message(addr, values))
        self._send_status([where])

    # -- output --------------------------------------------------------------------------------
    def _send(self, where: tuple, data: bytes) -> None:
        try:
            self._sock.sendto(data, where)
            self.stats["sent"] += 1
        except OSError as exc:
            self.stats["send_errors"] += 1
            self._warn("send", "OSC: cannot send to %s: %s", where, exc)

    def _state(self) -> dict[str, tuple]:
        """Every feedback message of the current mix: address -> arguments."""
        s = self._ctl.settings()
        served = self._session.served_by()
        out: dict[str, tuple] = {
            PREFIX + "/stems": tuple(self._ctl.stems),
            PREFIX + "/prompts": tuple(s.stems),
        }
        for stem in self._ctl.stems:
            base = f"{PREFIX}/stem/{stem}"
            db = float(s.gain_db.get(stem, 0.0))
            out[base + "/gain_db"] = (round(db, 2),)
            out[base + "/gain"] = (round(10.0 ** (db / 20.0), 5) if db > -120.0 else 0.0,)
            out[base + "/mute"] = (int(stem in s.mute),)
            out[base + "/solo"] = (int(stem in s.solo),)
            if stem != REST:
                out[base + "/selected"] = (int(stem in s.stems),)
                out[base + "/model"] = (served.get(stem, ""),)
        for stem, params in s.fx.items():
            for name, value in params.items():
                out[f"{PREFIX}/fx/{stem}/{name.replace('.', '/')}"] = (round(float(value), 4),)
        out[PREFIX + "/master/gain_db"] = (round(float(s.master_db), 2),)
        out[PREFIX + "/master/gain"] = (round(10.0 ** (s.master_db / 20.0), 5) if s.master_db > -120.0 else 0.0,)
        out[PREFIX + "/wet"] = (round(float(s.wet), 4),)
        out[PREFIX + "/bypass"] = (int(s.bypass),)
        return out

    def _tick(self, now: float) -> None:
        if not self.subscribers:
            self._last_state = {}
            return
        subs = list(self.subscribers)
        state = self._state()
        for addr, values in state.items():
            if self._last_state.get(addr) != values:
                data = _message(addr, values)
                for where in subs:
                    self._send(where, data)
        self._last_state = state
        meters = dict(self._session.engine.meters)
        for name, (peak, rms) in meters.items():
            data = _message(f"{PREFIX}/meter/{name}", (round(_dbfs(peak), 1), round(_dbfs(rms), 1)))
            for where in subs:
                self._send(where, data)
        if now >= self._next_status:
            self._next_status = now + self.status_interval_s
            self._send_status(subs)

    def _send_status(self, subs: list[tuple]) -> None:
        st = self._session.status()
        for key, kind in (
            ("latency_ms", float),
            ("deadline_misses", int),
            ("xruns", int),
            ("rtf", float),
            ("compute_ms_p99", float),
        ):
            value = kind(st.get(key, 0))
            data = _message(f"{PREFIX}/status/{key}", (round(value, 4) if kind is float else value,))
            for where in subs:
                self._send(where, data)
