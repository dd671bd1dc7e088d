"""What a running session shows: a live terminal view and a JSON status log.

Both run on their own threads and only read the session's counters
(:meth:`seplive.session.Session.live_status`, one level of the session's one snapshot), so they never hold up the audio worker;
the view draws about 15 times a second, the log writes one line a second.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from typing import Any, TextIO

#: meter floor and the scale drawn (dBFS)
FLOOR_DB = -60.0
#: how long a peak stays held, and how fast it falls after (dB per second)
HOLD_S = 1.5
FALL_DB_S = 20.0


def to_db(x: float) -> float:
    return 20.0 * math.log10(x) if x > 1e-6 else -math.inf


class PeakHold:
    """Per-meter peak hold: a new peak holds for HOLD_S, then falls at FALL_DB_S."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[float, float]] = {}  # name -> (dB, when)

    def update(self, name: str, peak_db: float, now: float) -> float:
        held, when = self._held.get(name, (-math.inf, now))
        age = now - when
        falling = held - max(0.0, age - HOLD_S) * FALL_DB_S
        if peak_db >= falling:
            self._held[name] = (peak_db, now)
            return peak_db
        return falling


def _bar(db: float, hold_db: float, width: int) -> str:
    """A meter as text: filled to ``db``, a mark at the held peak."""

    def pos(v: float) -> int:
        if v == -math.inf or v < FLOOR_DB:
            return 0
        return int(round(min(1.0, (v - FLOOR_DB) / -FLOOR_DB) * width))

    n, h = pos(db), pos(hold_db)
    cells = ["█" if i < n else "·" for i in range(width)]
    if 0 < h <= width:
        cells[h - 1] = "▌" if h > n else cells[h - 1]
    return "".join(cells)


def _fmt_db(v: float | None) -> str:
    if v is None:
        return "muted"
    if v == -math.inf:
        return " -inf"
    return f"{v:+5.1f}"


class LiveView:
    """A ``rich`` live view of a session on the terminal (stderr)."""

    def __init__(self, session: Any, fps: float = 15.0, file: TextIO | None = None, width: int = 32) -> None:
        self.session = session
        self.period = 1.0 / fps
        self.file = file or sys.stderr
        self.width = width
        self.holds = PeakHold()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = None
        self.frames = 0

    def render(self, st: dict[str, Any], now: float | None = None):
        """The view for one status snapshot (a rich renderable): times in ms, levels in dBFS."""
        from rich.console import Group
        from rich.text import Text

        now = time.monotonic() if now is None else now
        return Group(_head(st), self._meters(st, now), _latency(st), _load(st), _trouble(st), _mix(st),
                     _control(st), Text("Ctrl-C stops", style="dim"))

    def _meters(self, st: dict[str, Any], now: float):
        """One row per meter: input, the stems, the rest; rms and held peak in dBFS, gain in dB."""
        from rich.table import Table
        from rich.text import Text

        meters = Table.grid(padding=(0, 1))
        meters.add_column(justify="right", style="bold")
        meters.add_column()
        meters.add_column(justify="right")
        meters.add_column(justify="right")
        meters.add_column(justify="right")
        models = st.get("models") or {}
        names = ["input", *[p for p in st["prompts"]], *[k for k in st["meters"] if k not in ("input", *st["prompts"])]]
        for name in dict.fromkeys(names):
            if name not in st["meters"]:
                continue
            peak, rms = st["meters"][name]
            pdb, rdb = to_db(peak), to_db(rms)
            held = self.holds.update(name, pdb, now)
            gain = st["gains_db"].get(name, "") if name != "input" else ""
            gain_text = "" if gain == "" else ("muted" if gain is None else f"{gain:+.1f} dB")
            if len(set(models.values())) > 1 and name in models:  # a plugin per prompt: say whose
                gain_text += f"  {models[name]}"
            style = "red" if held > -0.1 else ("yellow" if held > -6 else "green")
            meters.add_row(
                name, Text(_bar(rdb, held, self.width), style=style),
                f"rms {_fmt_db(rdb)}", f"peak {_fmt_db(held)}", gain_text,
            )
        return meters

    def start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.file)
        self._live = Live(self.render(self.session.live_status()), console=console, auto_refresh=False,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.start()  # rich redraws when told: one update per frame from our own thread
        self._thread = threading.Thread(target=self._refresh_loop, name="seplive-view", daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self._live.update(self.render(self.session.live_status()), refresh=True)
                self.frames += 1
            except Exception:
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._live is not None:
            try:
                self._live.update(self.render(self.session.live_status()), refresh=True)
            except Exception:
                pass
            self._live.stop()


def _head(st: dict[str, Any]):
    """Model, preset, input -> outputs, seconds of audio, and a bypass warning."""
    from rich.text import Text

    head = Text()
    head.append("seplive ", style="bold cyan")
    head.append(f"{st['model']}")
    if st.get("preset"):
        head.append(f" · preset {st['preset']}")
    head.append(f" · {st['input']} → {', '.join(st['outputs']) or '(no output)'}")
    head.append(f" · {st['audio_s']:.1f} s")
    if st.get("bypass"):
        head.append("  MODEL BYPASSED (playing dry)", style="bold red")
    return head


def _latency(st: dict[str, Any]):
    """The summands of the reported latency in ms (engine + sound card), so they add up."""
    from rich.text import Text

    lat = st["latency_breakdown_ms"]
    la = lat.get("lookahead_ms", 0.0)
    parts = [
        ("device in", lat.get("device_in_ms", 0.0)),
        ("model" + (f" (lookahead {la:.1f})" if la > 0.05 else ""), lat.get("model_delay_ms", 0.0)),
        ("compute (1 hop)" if abs(lat.get("compute_budget_ms", 0) - lat.get("hop_ms", 0)) < 0.05 else "compute",
         lat.get("compute_budget_ms", 0.0)),
        ("resampler", lat.get("buffering_ms", 0.0) + lat.get("alignment_ms", 0.0)),
        ("crossfade", lat.get("crossfade_ms", 0.0)),
        ("output buffer", lat.get("output_buffer_ms", 0.0)),
        ("device out", lat.get("device_out_ms", 0.0)),
    ]
    latency = Text(f"latency {st['latency_ms']:.1f} ms = ", style="bold")
    latency.append(" + ".join(f"{name} {ms:.1f}" for name, ms in parts if ms > 0.05))
    return latency


def _load(st: dict[str, Any]):
    """Model time per hop (p50, p99 in ms) against its budget, and the real-time factor."""
    from rich.text import Text

    budget = st["budget_ms"] or 1.0
    p99 = st["compute_ms_p99"]
    load = Text("model ", style="bold")
    load.append(f"p50 {st['compute_ms_p50']:.2f} ms  p99 {p99:.2f} ms of {budget:.1f} ms budget ")
    load.append(f"({100 * p99 / budget:.0f} %)", style="red" if p99 > budget else ("yellow" if p99 > 0.5 * budget else "green"))
    load.append(f"  rtf {st['rtf']:.3f}")
    return load


def _trouble(st: dict[str, Any]):
    """Deadline misses and why, xruns, model errors, lost devices, non-finite input."""
    from rich.text import Text

    trouble = Text("deadline misses ", style="bold")
    trouble.append(str(st["deadline_misses"]), style="red" if st["deadline_misses"] else "green")
    why = st.get("misses")
    if st["deadline_misses"] and why:  # a stall (no time left) or a model too slow (late)
        trouble.append(f" (no time {why['no_time']}, late {why['late']}; longest loop gap"
                       f" {why['loop_gap_ms_max']:.0f} ms)")
    trouble.append("  xruns ")
    trouble.append(str(st["xruns"]), style="red" if st["xruns"] else "green")
    if st.get("plugin_errors"):
        trouble.append(f"  model errors {st['plugin_errors']}", style="red")
    if st.get("devices_lost"):
        trouble.append(f"  LOST (reconnecting): {', '.join(st['devices_lost'])}", style="bold red")
    if st.get("nonfinite_blocks"):
        trouble.append(f"  non-finite input blocks {st['nonfinite_blocks']}", style="yellow")
    return trouble


def _mix(st: dict[str, Any]):
    """Stem gains, master gain in dB and wet 0..1."""
    from rich.text import Text

    mix = Text("mix ", style="bold")
    mix.append(" ".join(f"{p}:{_fmt_db(g).strip()}" for p, g in st["gains_db"].items()))
    mix.append(f"  master {st['master_db']:+.1f} dB  wet {st['wet']:.2f}")
    return mix


def _control(st: dict[str, Any]):
    """The last control message, where from and how long ago (s)."""
    from rich.text import Text

    ctl = Text("control ", style="bold")
    last = st.get("last_control")
    ctl.append(f"{last['origin']}: {last['message']} ({last['ago_s']:.1f} s ago)" if last else "(none yet)")
    return ctl


class JsonStatusLog:
    """One JSON object per line, once a second, to a file (appended) or stderr ('-')."""

    def __init__(self, session: Any, path: str, interval_s: float = 1.0) -> None:
        self.session = session
        self.path = path
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._own = path != "-"
        self._file: TextIO = open(path, "a", encoding="utf-8") if self._own else sys.stderr  # noqa: SIM115
        self.lines = 0

    def line(self) -> str:
        st = self.session.live_status()
        st["meters_dbfs"] = {k: {"peak": _json_db(to_db(p)), "rms": _json_db(to_db(r))} for k, (p, r) in st.pop("meters").items()}
        st["gains_db"] = {k: _json_db(v) if v is not None else "muted" for k, v in st["gains_db"].items()}
        st["time"] = time.time()
        return json.dumps(st, default=str)

    def _write(self) -> None:
        try:
            self._file.write(self.line() + "\n")
            self._file.flush()
            self.lines += 1
        except Exception:  # a full disk or a closed pipe must not end the session
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._write()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="seplive-jsonlog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._write()  # the final state, always
        if self._own:
            self._file.close()


def _json_db(v: float) -> float | None:
    return None if v == -math.inf else round(v, 2)
