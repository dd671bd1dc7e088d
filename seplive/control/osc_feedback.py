"""What the OSC control sends back to its subscribers: every state change of the mix, the
stem meters (peak and RMS in dBFS) on every tick, and the latency (ms), deadline misses,
xruns and real-time factor every ``status_interval_s`` seconds.
"""

from __future__ import annotations

import logging
from typing import Any

from ..models.prompts import REST
from .osc_wire import PREFIX, dbfs, message
from .targets import ControlError

log = logging.getLogger("seplive.osc")

#: the status values pushed: key of Session.status() -> its type
STATUS_KEYS: tuple[tuple[str, type], ...] = (
    ("latency_ms", float), ("deadline_misses", int), ("xruns", int), ("rtf", float), ("compute_ms_p99", float),
)  # fmt: skip


class OscFeedback:
    """The subscribers ((host, port) -> None, oldest first) of ``control`` and what they get."""

    def __init__(self, control: Any, max_subscribers: int, status_interval_s: float) -> None:
        #: the :class:`~seplive.control.osc.OscControl` (its controller, session, socket, replies)
        self.control = control
        self.max_subscribers = int(max_subscribers)
        self.status_interval_s = float(status_interval_s)
        self.subscribers: dict[tuple, None] = {}
        self._last_state: dict[str, tuple] = {}
        self._next_status = 0.0

    def subscribe(self, where: tuple) -> None:
        """Send feedback to ``where`` from now on (the oldest subscriber goes beyond the
        limit), starting with the whole state and the status."""
        send = self.control.send
        if self.control.socket.is_own(where):
            raise ControlError(f"{where[0]}:{where[1]} is seplive's own OSC port: its feedback would come back as"
                               " control messages")
        self.subscribers.pop(where, None)
        while len(self.subscribers) >= self.max_subscribers:
            dropped = next(iter(self.subscribers))
            del self.subscribers[dropped]
            log.warning("OSC: too many subscribers; dropped %s", dropped)
        self.subscribers[where] = None
        log.info("OSC: feedback to %s", where)
        send(where, message(PREFIX + "/subscribed", (str(where[0]), int(where[1]))))
        for addr, values in self.state().items():
            send(where, message(addr, values))
        self.send_status([where])

    def unsubscribe(self, where: tuple) -> None:
        self.subscribers.pop(where, None)
        self.control.send(where, message(PREFIX + "/unsubscribed", (str(where[0]), int(where[1]))))

    def state(self) -> dict[str, tuple]:
        """Every feedback message of the current mix: address -> arguments."""
        ctl = self.control.mixer
        s = ctl.settings()
        served = self.control.session.served_by()
        out: dict[str, tuple] = {
            PREFIX + "/stems": tuple(ctl.stems),
            PREFIX + "/prompts": tuple(s.stems),
        }
        for stem in ctl.stems:
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

    def tick(self, now: float) -> None:
        """Push what changed since the last tick, the meters, and the status when due
        (``now``: time.monotonic() seconds)."""
        if not self.subscribers:
            self._last_state = {}
            return
        subs = list(self.subscribers)
        state = self.state()
        for addr, values in state.items():
            if self._last_state.get(addr) != values:
                self._to_all(subs, message(addr, values))
        self._last_state = state
        meters = dict(self.control.session.engine.meters)
        for name, (peak, rms) in meters.items():
            self._to_all(subs, message(f"{PREFIX}/meter/{name}", (round(dbfs(peak), 1), round(dbfs(rms), 1))))
        if now >= self._next_status:
            self._next_status = now + self.status_interval_s
            self.send_status(subs)

    def send_status(self, subs: list[tuple]) -> None:
        st = self.control.session.status()
        for key, kind in STATUS_KEYS:
            value = kind(st.get(key, 0))
            self._to_all(subs, message(f"{PREFIX}/status/{key}", (round(value, 4) if kind is float else value,)))

    def _to_all(self, subs: list[tuple], data: bytes) -> None:
        for where in subs:
            self.control.send(where, data)
