"""The OSC control's UDP socket: bound non-blocking at construction (a port in use fails at
once), datagrams in with the kernel's count of those it dropped for a full buffer, replies
out, and the guard against seplive's own port as a sender or a feedback target.
"""

from __future__ import annotations

import socket
import sys

from .osc_wire import is_loopback, own_addresses

#: Linux's SO_RXQ_OVFL (the kernel's dropped-datagram counter on every read)
_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
#: the largest datagram read (bytes)
MAX_DATAGRAM = 65536


class OscSocket:
    """A UDP socket bound to ``host``:``port`` (0: a free port; read :attr:`port`)."""

    def __init__(self, host: str, port: int) -> None:
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except (OSError, UnicodeError) as exc:
            raise OSError(f"OSC: cannot listen on {host}:{port}: {exc}") from None
        self.sock = socket.socket(info[0], socket.SOCK_DGRAM)
        try:
            self.sock.bind(info[4])
        except OSError as exc:
            self.sock.close()
            raise OSError(f"OSC: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.sock.setblocking(False)
        self.host, self.port = self.sock.getsockname()[:2]
        #: where a datagram from this socket itself would come from (self-feedback guard)
        self.own = own_addresses(self.host, self.port)
        try:  # the kernel's count of datagrams dropped for a full buffer (Linux: SO_RXQ_OVFL)
            self.sock.setsockopt(socket.SOL_SOCKET, _RXQ_OVFL, 1)
            self.overflow = True
        except OSError:
            self.overflow = False
        self.kernel_dropped = 0

    def receive(self) -> tuple[bytes, tuple, int]:
        """One datagram: (data, sender, datagrams the kernel dropped since the last read).
        Raises BlockingIOError when there is none, OSError on socket trouble."""
        if not self.overflow:
            data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            return data, sender, 0
        data, anc, _flags, sender = self.sock.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(4))
        dropped = 0
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and len(value) >= 4 and kind == _RXQ_OVFL:
                total = int.from_bytes(value[:4], sys.byteorder)
                if total > self.kernel_dropped:
                    dropped += total - self.kernel_dropped
                    self.kernel_dropped = total
        return data, sender, dropped

    def send(self, where: tuple, data: bytes) -> None:
        self.sock.sendto(data, where)

    def resolve(self, host: str, port: int, numeric: bool = False) -> tuple:
        """(host, port) as this socket's family addresses it; raises OSError, ValueError or
        UnicodeError.  ``numeric``: ``host`` must be a numeric address (no name lookup)."""
        flags = socket.AI_NUMERICHOST if numeric else 0
        info = socket.getaddrinfo(host, int(port), self.sock.family, socket.SOCK_DGRAM, 0, flags)
        return tuple(info[0][4][:2])

    def is_own(self, where: tuple) -> bool:
        """Whether ``where`` ((host, port)) is this socket itself."""
        return len(where) >= 2 and int(where[1]) == self.port and (str(where[0]) in self.own or is_loopback(str(where[0])))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
