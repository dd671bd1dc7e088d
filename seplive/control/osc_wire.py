"""OSC on the wire: checking a datagram's framing before python-osc parses it, encoding
replies, reading arguments (numbers, flags, ports), and the token buckets that rate-limit
senders (tokens per second).
"""

from __future__ import annotations

import math
import socket
import time

from pythonosc.osc_message_builder import OscMessageBuilder

#: every address seplive answers starts with it
PREFIX = "/seplive"

TRUE_WORDS = ("1", "on", "true", "yes")
FALSE_WORDS = ("0", "off", "false", "no")

#: meters below this are sent as this (dBFS)
METER_FLOOR_DB = -120.0


class Ignored(Exception):
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


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a numeric address or ``localhost``) is this machine."""
    return host.startswith("127.") or host in ("::1", "localhost") or host.startswith("::ffff:127.")


def own_addresses(host: str, port: int) -> set[str]:
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


def looks_like_path(name: str) -> bool:
    """Whether a preset name is a file path rather than a name from the preset folders."""
    return any(c in name for c in "/\\~") or name.startswith(".") or name.lower().endswith(".toml") or ":" in name


#: OSC type tags python-osc decodes (others would make it log a line per argument)
_TYPE_TAGS = frozenset("ihfdsbrmtTFN[]")
_BUNDLE = b"#bundle\x00"
MAX_BUNDLE_DEPTH = 8


def split_packet(data: bytes, out: list[bytes], limit: int, depth: int = 0) -> None:
    """Append the message datagrams of an OSC packet to ``out`` (bundles unpacked, at most
    :data:`MAX_BUNDLE_DEPTH` deep, stopping after ``limit`` messages; time tags ignored).
    Checks the framing and the type tags before python-osc sees a message; raises
    :class:`Ignored` on anything malformed."""
    if data.startswith(_BUNDLE):
        if depth >= MAX_BUNDLE_DEPTH:
            raise Ignored("bundles nested too deep")
        if len(data) < 16:
            raise Ignored("truncated bundle")
        i = 16
        while i < len(data) and len(out) < limit:
            if i + 4 > len(data):
                raise Ignored("truncated bundle element")
            size = int.from_bytes(data[i : i + 4], "big", signed=True)
            i += 4
            if size <= 0 or i + size > len(data):
                raise Ignored(f"bundle element size {size} does not fit the packet")
            split_packet(data[i : i + size], out, limit, depth + 1)
            i += size
        return
    if not data.startswith(b"/"):
        raise Ignored("neither an OSC message nor a bundle")
    end = data.find(b"\x00")
    if end < 0:
        raise Ignored("unterminated address")
    i = (end // 4 + 1) * 4
    if data[i : i + 1] != b",":  # OSC 1.0 requires it; a cut-off message has none
        raise Ignored("no type tag string")
    tag_end = data.find(b"\x00", i)
    if tag_end < 0:
        raise Ignored("unterminated type tags")
    tags = data[i + 1 : tag_end]
    if not tags.isascii() or not set(tags.decode("ascii")) <= _TYPE_TAGS:
        raise Ignored(f"unsupported OSC type tags {tags[:16]!r}")
    out.append(data)


def dbfs(linear: float) -> float:
    """A linear level (peak or RMS, 1 = full scale) in dBFS, floored at :data:`METER_FLOOR_DB`."""
    return METER_FLOOR_DB if linear <= 1e-6 else max(METER_FLOOR_DB, 20.0 * math.log10(linear))


def message(address: str, args: tuple | list = ()) -> bytes:
    """The datagram of one OSC message (bools sent as ints)."""
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(int(a) if isinstance(a, bool) else a)
    return b.build().dgram


def number(args: list, address: str) -> float:
    """The one number in ``args``, else :class:`Ignored`."""
    if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], (int, float)):
        raise Ignored(f"{address} takes one number, got {types(args)}")
    return float(args[0])


def flag(args: list, address: str) -> bool | None:
    """True/False from one int, float, bool or on/off word; None for no argument (flip)."""
    if not args:
        return None
    if len(args) == 1:
        a = args[0]
        if isinstance(a, (bool, int, float)) and not (isinstance(a, float) and math.isnan(a)):
            return bool(a)
        if isinstance(a, str) and a.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            return a.strip().lower() in TRUE_WORDS
    raise Ignored(f"{address} takes nothing, or one 1/0 (or on/off), got {types(args)}")


def port(v: object) -> int | None:
    """A UDP port from an int or an integral float, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float) and (not math.isfinite(v) or v != int(v)):
        return None
    return int(v) if 0 < v < 65536 else None


def types(args: list) -> str:
    """``args``' Python types, for a log line."""
    return "(" + ", ".join(type(a).__name__ for a in args) + ")" if args else "no arguments"
