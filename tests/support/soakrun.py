"""A paced live run on a private PulseAudio, watched from outside: the shared core of
tests/devices/test_soak.py (short, in CI) and bench/bench_soak.py (long, recorded).

seplive runs as its own process (``--input loopback --output app_out``) while a looped
song plays into ``speakers``; its resident memory is sampled from /proc; chirps played
into a combine sink (``speakers`` + ``app_out``) measure the end-to-end latency at the
start and at the end.  Optionally an OSC flood hits its control port meanwhile.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss
import soundfile as sf

from .servers import PulseServer

RATE = 48000

FLOOD = r"""
import socket, sys, time
port, seconds, rate = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
from pythonosc.osc_message_builder import OscMessageBuilder
def osc(a, *args):
    b = OscMessageBuilder(a)
    for x in args:
        b.add_arg(x)
    return b.build().dgram
bundle_bad = b"#bundle\x00" + b"\x00" * 8 + b"\x7f\xff\xff\xff" + b"/seplive/x\x00\x00"  # a length past the end
nested = b"#bundle\x00" + b"\x00" * 8
for _ in range(40):  # bundles inside bundles, deeper than any limit
    nested = b"#bundle\x00" + b"\x00" * 8 + len(nested).to_bytes(4, "big") + nested
msgs = [osc("/seplive/stem/vocals/gain_db", 0.0), osc("/seplive/nothing", 1), b"\x01garbage", bundle_bad, nested,
        osc("/seplive/stem/vocals/mute", "x"), b"\x00" * 60000, osc("/seplive/ping")]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.perf_counter(); n = 0; size = 0
while time.perf_counter() - t0 < seconds:
    for _ in range(50):
        m = msgs[n % len(msgs)]
        s.sendto(m, ("127.0.0.1", port)); n += 1; size += len(m)
    ahead = n / rate - (time.perf_counter() - t0)
    if ahead > 0:
        time.sleep(ahead)
print(n, size)
"""

#: valid control messages from many source ports (issue #24: per-sender limits alone let
#: 64 ports through at 64 times the rate); argv: port, seconds, rate, ports
FLOOD_MANY = r"""
import socket, sys, time
port, seconds, rate, ports = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
from pythonosc.osc_message_builder import OscMessageBuilder
def osc(a, *args):
    b = OscMessageBuilder(a)
    for x in args:
        b.add_arg(x)
    return b.build().dgram
msgs = [osc("/seplive/stem/vocals/gain_db", 0.0), osc("/seplive/wet", 1.0), osc("/seplive/master/gain_db", 0.0)]
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(ports)]
t0 = time.perf_counter(); n = 0
while time.perf_counter() - t0 < seconds:
    for _ in range(64):
        socks[n % ports].sendto(msgs[n % len(msgs)], ("127.0.0.1", port)); n += 1
    ahead = n / rate - (time.perf_counter() - t0)
    if ahead > 0:
        time.sleep(ahead)
print(n, n * len(msgs[0]))
"""


def chirp(seconds=0.25, amp=0.4):
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    return (amp * np.sin(2 * np.pi * (300 * t + (6000 - 300) / 2 / seconds * t * t)) * np.hanning(n)).astype(np.float32)


def peaks(rec: np.ndarray, ref: np.ndarray) -> list[tuple[int, float]]:
    """Where copies of ``ref`` start in channel 0 of ``rec`` (samples), with each one's
    correlation relative to ``ref``'s own (1.0: the chirp as played)."""
    cc = ss.correlate(rec[:, 0], ref, mode="valid", method="fft") / np.sum(ref * ref)
    # peaks at least 5 ms apart: the chirp's correlation peak is far narrower (its 5.7 kHz
    # sweep), and a quarter of the chirp (62 ms) would merge the two copies of any path
    # faster than that into one peak, leaving nothing to measure
    p, _ = ss.find_peaks(np.abs(cc), height=0.3, distance=int(0.005 * RATE))
    return [(int(i), float(abs(cc[i]))) for i in p]


def delays(rec: np.ndarray, ref: np.ndarray, longest_s: float = 1.0) -> list[int]:
    """Distances between consecutive direct/through chirp pairs in a recording (samples):
    :func:`pair_distances` of its :func:`peaks`."""
    return pair_distances([i for i, _ in peaks(rec, ref)], longest_s)


def pair_distances(p: list[int], longest_s: float = 1.0) -> list[int]:
    """Chirp copy positions (samples, ascending) -> direct/through distances: each copy
    paired with the next one within ``longest_s``; a copy with none (one that did not come
    through, e.g. before the output started) is skipped rather than paired with the next
    chirp's direct copy."""
    out, i = [], 0
    while i < len(p) - 1:
        if p[i + 1] - p[i] <= longest_s * RATE:
            out.append(int(p[i + 1] - p[i]))
            i += 2
        else:
            i += 1
    return out


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _capturing(ps: PulseServer) -> bool:
    """Whether a Python client (seplive; parec is ``pacat``) has a capture stream open."""
    clients = {}
    for ln in ps.pactl("list", "short", "clients").splitlines():
        f = ln.split("\t")
        if len(f) >= 3:
            clients[f[0]] = f[2]
    outs = [ln.split("\t") for ln in ps.pactl("list", "short", "source-outputs").splitlines()]
    return any(len(f) >= 3 and clients.get(f[2], "").startswith("python") for f in outs)


def soak(seconds: float, model: str = "center", warmup_s: float = 8.0, flood_rate: float = 0.0,
         flood_at: tuple[float, float] | None = None, extra: list[str] | None = None, flood_ports: int = 0) -> dict:
    """Run seplive live for ``seconds``; returns its report plus what was measured outside."""
    ref = chirp()
    prompts = ["-p", {"hpss": "drums", "dfn3": "speech"}.get(model, "vocals")]
    with PulseServer(RATE) as ps, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ps.pactl("load-module", "module-combine-sink", "sink_name=both", "slaves=speakers,app_out")
        from seplive.demo import make_song

        song = sum(make_song(seconds=20.0).values()) * 0.5
        sf.write(tmp / "song.wav", song, RATE, subtype="FLOAT")
        sig = np.zeros((RATE, 2), np.float32)
        sig[: len(ref)] = ref[:, None]
        sf.write(tmp / "chirp.wav", sig, RATE, subtype="FLOAT")
        rec = subprocess.Popen(["parec", "--device=app_out.monitor", "--format=float32le", f"--rate={RATE}",
                                "--channels=2", "--raw", str(tmp / "rec.raw")])
        port = free_udp_port()
        args = [sys.executable, "-m", "seplive", "--input", "loopback", "--output", "app_out", "-m", model, *prompts,
                "--duration", str(seconds), "--report", str(tmp / "r.json"), "-q", *(extra or [])]
        if flood_rate:
            args += ["--osc", str(port)]
        app = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        stop_bg = threading.Event()

        def background():  # the song, looped, into the loopback
            while not stop_bg.is_set():
                p = subprocess.Popen(["paplay", "--device=speakers", str(tmp / "song.wav")])
                while p.poll() is None and not stop_bg.is_set():
                    time.sleep(0.1)
                p.terminate()
                p.wait()

        bg = threading.Thread(target=background, daemon=True)
        bg.start()
        # times count from when seplive opens its input (a Python client's source output),
        # not from its launch: loading torch and the model takes seconds more on a slow
        # machine, and a chirp played before the stream opened would not come through
        t0 = opened_s = None
        t_launch = time.monotonic()
        samples: list[tuple[float, float]] = []
        flood_out = None
        # the first chirp after the warm-up: by then the output has settled (and trimmed
        # its fill), so the two chirps measure the same steady latency
        plan = [("chirp", max(3.0, warmup_s)), ("chirp", seconds - 4.0)]
        if flood_rate:
            a, b = flood_at or (warmup_s, seconds - 6.0)
            plan.append(("flood", a))
        plan.sort(key=lambda p: p[1])
        flood_proc = None
        cpu_seen = None
        next_sample = 0.0
        while app.poll() is None:
            now = time.monotonic()
            if t0 is None:
                if _capturing(ps) or now - t_launch > 60.0:
                    t0 = now
                    opened_s = round(now - t_launch, 2)
                    next_sample = t0 + 1.0
                else:
                    time.sleep(0.05)
                    continue
            if plan and now - t0 >= plan[0][1]:
                what, _ = plan.pop(0)
                if what == "chirp":
                    subprocess.Popen(["paplay", "--device=both", str(tmp / "chirp.wav")])
                else:
                    script = [FLOOD_MANY, str(port), str(b - a), str(flood_rate), str(flood_ports)] if flood_ports else [
                        FLOOD, str(port), str(b - a), str(flood_rate)]
                    flood_proc = subprocess.Popen([sys.executable, "-c", *script], stdout=subprocess.PIPE, text=True)
            c = cpu_s(app.pid)  # every 50 ms: the last reading is within 50 ms of its end
            if c is not None:
                cpu_seen = c
            if now >= next_sample:
                m = rss_mb(app.pid)
                if m is not None:
                    samples.append((now - t0, m))
                next_sample += 1.0
            time.sleep(0.05)
        err = app.stderr.read()
        stop_bg.set()
        bg.join()
        if flood_proc is not None:
            n, size = flood_proc.communicate(timeout=30)[0].split()
            flood_out = {"datagrams": int(n), "bytes": int(size), "rate_per_s": flood_rate, "seconds": b - a}
        time.sleep(0.2)
        rec.terminate()
        rec.wait()
        y = np.fromfile(tmp / "rec.raw", dtype=np.float32).reshape(-1, 2)
        if app.returncode != 0:
            raise RuntimeError(f"seplive failed ({app.returncode}): {err[-2000:]}")
        rep = json.loads((tmp / "r.json").read_text())
    found = peaks(y, ref)
    ds = pair_distances([i for i, _ in found])
    after = [m for t, m in samples if t >= warmup_s]
    return {
        "seconds": seconds,
        "model": model,
        "report": rep,
        "latency_measured_ms": [round(v / RATE * 1000, 1) for v in ds],
        # every chirp copy recorded, (seconds into the recording, relative correlation):
        # says which copy a run with a missing latency lacked
        "chirp_copies": [(round(i / RATE, 3), round(h, 2)) for i, h in found],
        "capture_open_s": opened_s,  # from seplive's launch to its capture stream showing
        "rss_mb_at_warmup": after[0] if after else None,
        "rss_mb_end": after[-1] if after else None,
        "rss_mb_max": max(after) if after else None,
        "rss_growth_mb": (after[-1] - after[0]) if len(after) > 1 else None,
        "rss_samples": len(samples),
        "flood": flood_out,
        "cpu_s": cpu_seen,  # seplive's CPU time, last seen (within ~0.05 s of its end)
        "stderr_tail": err[-600:],
    }


def summary(r: dict) -> dict:
    rep = r["report"]
    keys = ("deadline_misses", "xruns", "input_skipped_frames", "output_drift_corrections", "output_restarts", "hops",
            "compute_ms_p50", "compute_ms_p99", "rtf", "latency_ms", "device_losses", "skipped_hops", "underflows",
            "misses", "latency_breakdown_ms")
    lat = r["latency_measured_ms"]
    return {
        "seconds": r["seconds"], "model": r["model"],
        "latency_start_ms": lat[0] if lat else None,
        "latency_end_ms": lat[-1] if len(lat) > 1 else None,
        "rss_mb_at_warmup": r["rss_mb_at_warmup"], "rss_mb_end": r["rss_mb_end"], "rss_growth_mb": r["rss_growth_mb"],
        **{k: rep.get(k) for k in keys},
        "flood": r["flood"], "capture_open_s": r["capture_open_s"], "chirp_copies": r["chirp_copies"],
        "device_events": rep.get("device_events"),
        "stderr_tail": r["stderr_tail"][-400:],
    }
