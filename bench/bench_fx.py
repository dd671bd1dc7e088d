"""Per-hop cost of the per-stem effects and the master limiter.

Streams noise through an engine (``identity`` model, 48 kHz stereo, stems drums, bass,
vocals, other all selected) exactly as live (inline model, no pacing), three ways:

* ``no fx``: no effect on any stem (the engine alone);
* ``full chain x4``: every stage on for all four stems (high-pass, low-pass, 3-band EQ,
  compressor, echo, reverb; the chain runs in full whatever is on);
* ``full chain x4 + limiter``: the same with the master limiter (working: +12 dB gains).

and prints, per hop: the engine's whole time (push + pull) p50 / p99, the part of it in
the effects (``fx``: the stem crossfades for the chains, ramps, the pyo calls), one pyo
``Server.process()`` call (one stem, one hop) p50 / p99, and the limiter per block; and
the effects' real-time factor (effect time / audio time).  Hops 256 and 1024.

With ``--designs`` it also times one pyo ``Server.process()`` of the same chain (one
stereo stem, 256 samples) with its 14 parameters and 6 on/off switches fed three ways:
as extra server input channels read by ``Input`` objects (per-sample values), as
``SigTo`` signals, and as plain numbers: the evidence for the design in docs/fx.md.

    .venv/bin/python bench/bench_fx.py [--seconds 20] [--designs] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_engine import machine as engine_machine  # noqa: E402  (bench/ is the script folder)

from seplive.fx.pyo_backend import load_pyo  # noqa: E402
from seplive.models.dsp import Identity  # noqa: E402
from seplive.stream.engine import Engine, EngineConfig  # noqa: E402
from seplive.stream.mix import MixSettings  # noqa: E402

RATE = 48000
STEMS = ["drums", "bass", "vocals", "other"]
FULL = {
    "highpass": 60.0, "lowpass": 6000.0, "resonance": 2.0, "eq.low": 3.0, "eq.mid": -4.0, "eq.high": 2.0,
    "comp.threshold": -20.0, "comp.ratio": 4.0, "echo.mix": 0.3, "echo.time": 0.25, "echo.feedback": 0.4,
    "reverb.mix": 0.3, "reverb.size": 0.7, "reverb.damp": 0.5,
}


def machine() -> str:
    pyo = load_pyo()
    return f"{engine_machine()}, pyo {getattr(pyo, 'PYO_VERSION', '?')}"


class Timed:
    """Wraps a callable, keeping each call's duration."""

    def __init__(self, fn) -> None:
        self.fn, self.times = fn, []

    def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return self.fn(*a, **kw)
        finally:
            self.times.append(time.perf_counter() - t)


def run(hop: int, fx: bool, limiter: bool, seconds: float) -> dict:
    mix = MixSettings.from_cli(STEMS, [], dict.fromkeys(STEMS, 12.0 if limiter else 0.0))
    mix.fx = {s: dict(FULL) for s in STEMS} if fx else {}
    eng = Engine(Identity(channels=1), mix, EngineConfig(source_rate=RATE, channels=2, hop_samples=hop, limiter=limiter))
    eng.effects.apply_hop = fx_timer = Timed(eng.effects.apply_hop)
    pyo_calls = []
    if eng.fx is not None:
        for st in eng.fx._stems.values():
            st.chain.process = timed = Timed(st.chain.process)
            pyo_calls.append(timed)
    if eng.limiter is not None:
        eng.limiter.process = lim_timer = Timed(eng.limiter.process)
    x = (np.random.default_rng(0).standard_normal((int(seconds * RATE), 2)) * 0.1).astype(np.float32)
    B = eng.block
    per_hop = []
    try:
        for i in range(0, len(x) - B + 1, B):
            t = time.perf_counter()
            eng.push(x[i : i + B])
            eng.pull(B)
            per_hop.append(time.perf_counter() - t)
    finally:
        eng.close()
    audio_s = len(per_hop) * B / RATE
    ms = lambda v, q: float(np.percentile(v, q) * 1e3) if len(v) else 0.0  # noqa: E731
    calls = [t for c in pyo_calls for t in c.times]
    row = {
        "hop": hop, "case": ("full chain x4" if fx else "no fx") + (" + limiter" if limiter else ""),
        "hop_ms": 1000.0 * hop / RATE,
        "engine_p50_ms": ms(per_hop, 50), "engine_p99_ms": ms(per_hop, 99),
        "fx_p50_ms": ms(fx_timer.times, 50), "fx_p99_ms": ms(fx_timer.times, 99),
        "pyo_call_p50_ms": ms(calls, 50), "pyo_call_p99_ms": ms(calls, 99),
        "limiter_p50_ms": ms(lim_timer.times, 50) if limiter else 0.0,
        "fx_rtf": (sum(fx_timer.times) + (sum(lim_timer.times) if limiter else 0.0)) / audio_s,
        "engine_rtf": sum(per_hop) / audio_s,
        "latency_ms": 1000.0 * eng.latency_samples / RATE,
    }
    return row


def designs(block: int = 256, calls: int = 2000) -> dict[str, float]:
    """µs per ``Server.process()`` of the full chain, parameters fed three ways."""
    from seplive.fx.pyo_backend import _buffer

    pyo = load_pyo()
    values = [60.0, 6000.0, 2.0, 3.0, -4.0, 2.0, -20.0, 4.0, 0.3, 0.25, 0.4, 0.3, 0.7, 0.5] + [1.0] * 6

    def one(kind: str) -> float:
        ich = 2 + (len(values) if kind == "input channels" else 0)
        s = pyo.Server(sr=RATE, nchnls=2, ichnls=ich, buffersize=block, duplex=1, audio="manual", midi="jack")
        s.deactivateMidi()
        s.boot()
        s.start()
        s.setServer()
        inb = _buffer(s.getInputAddr(), block * ich).reshape(block, ich)
        inb[:, :2] = np.random.default_rng(0).standard_normal((block, 2)) * 0.1
        inb[:, 2:] = values[: ich - 2]
        x = pyo.Input(chnl=[0, 1])
        if kind == "input channels":
            v = [pyo.Input(chnl=2 + i) for i in range(len(values))]
        elif kind == "SigTo":
            v = [pyo.SigTo(f, time=0.005, init=f) for f in values]
        else:
            v = list(values)
        hp = pyo.Biquad(x, freq=v[0], q=v[2], type=1)
        s1 = pyo.Interp(x, hp, interp=v[14])
        lp = pyo.Biquad(s1, freq=v[1], q=v[2], type=0)
        s2 = pyo.Interp(s1, lp, interp=v[15])
        e3 = pyo.EQ(pyo.EQ(pyo.EQ(s2, 250, 0.707, v[3], type=1), 1000, 0.707, v[4]), 4000, 0.707, v[5], type=2)
        s3 = pyo.Interp(s2, e3, interp=v[16])
        c = pyo.Compress(s3, thresh=v[6], ratio=v[7], lookahead=0.0)
        s4 = pyo.Interp(s3, c, interp=v[17])
        d = pyo.Delay(s4, delay=v[9], feedback=v[10], maxdelay=2.0, mul=v[8])
        r = pyo.Freeverb(s4 + d, size=v[12], damp=v[13], bal=v[11])
        r.out()
        keep = [x, v, hp, s1, lp, s2, e3, s3, c, s4, d, r]
        for _ in range(10):
            s.process()
        t = time.perf_counter()
        for _ in range(calls):
            s.process()
        dt = (time.perf_counter() - t) / calls * 1e6
        keep.clear()
        s.shutdown()
        return dt

    return {kind: one(kind) for kind in ("input channels", "SigTo", "numbers")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json")
    ap.add_argument("--designs", action="store_true", help="also time the three ways to feed pyo parameters")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows = []
    found = {}
    if args.designs:
        found = designs()
        print("one Server.process(), full chain, one stereo stem, 256 samples, parameters as:")
        for kind, us in found.items():
            print(f"  {kind:15s} {us:7.1f} us")
    cols = ("engine_p50_ms", "engine_p99_ms", "fx_p50_ms", "fx_p99_ms", "pyo_call_p50_ms", "pyo_call_p99_ms",
            "limiter_p50_ms", "fx_rtf", "engine_rtf", "latency_ms")
    print("| hop | case | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    for hop in (256, 1024):
        for fx, lim in ((False, False), (True, False), (True, True)):
            row = run(hop, fx, lim, args.seconds)
            rows.append(row)
            print(f"| {hop} | {row['case']} | " + " | ".join(f"{row[c]:.4f}" for c in cols) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rows": rows, "designs_us": found}, f, indent=2)


if __name__ == "__main__":
    main()
