"""Benchmark: end-to-end latency through JACK (dummy backend, no sound card), measured.

    .venv/bin/python bench/bench_jack.py [--period 128] [--models identity center native]
                                         [--seconds 20] [--repeats 1] [-- extra seplive flags]

For each model: a private jackd (dummy backend, 48 kHz, ``--period`` frames, 2 periods,
real-time) and seplive on ``"system, JACK"`` in and out at a device block of one period,
``--device-latency low``.  A test client (another process, its own duplex PortAudio stream)
plays chirps into seplive's input ports and records its output ports; the distance between
each chirp played and the chirp recorded is the loop's delay.  Outside seplive the loop adds
two periods (the graph's cycle is broken by one, the client's duplex stream adds one), so
seplive's own input-to-output delay is the loop's less two periods: that is what a
performer hears on top of the sound card's own periods.  Prints it beside the latency
seplive reports, with deadline misses, xruns and the threads' scheduling.
Results: docs/benchmarks/devices.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.signal as ss

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.servers import JACK_PLAYREC, JackServer  # noqa: E402
from tests.support.soakrun import chirp  # noqa: E402

RATE = 48000
PROMPTS = {"identity": ["-p", "vocals"], "center": ["-p", "vocals"], "native": ["-p", "vocals"],
           "hpss": ["-p", "drums"], "dfn3": ["-p", "speech"]}


def one(model: str, period: int, seconds: float, extra: list[str]) -> dict:
    ref = chirp()
    sig = np.zeros((int(seconds * RATE), 2), np.float32)
    starts = [int(t * RATE) for t in np.arange(3.0, seconds - 1.5, 2.0)]  # wired and settled by 3 s
    for s in starts:
        sig[s : s + len(ref)] = ref[:, None]  # centred: center keeps it as vocals
    with JackServer(RATE, period=period) as js, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        np.save(tmp / "sig.npy", sig)
        (tmp / "client.py").write_text(JACK_PLAYREC)
        report = tmp / "r.json"
        app = subprocess.Popen(
            [sys.executable, "-m", "seplive", "--input", "system, JACK", "--output", "system, JACK", "-m", model,
             *PROMPTS.get(model, ["-p", "vocals"]), "--duration", str(seconds + 4.0), "--device-block", str(period),
             "--device-latency", "low", "--allow-feedback", "--report", str(report), "-q", *extra],
            stderr=subprocess.PIPE, text=True)
        client = None
        try:
            js.wait_ports("PortAudio:", timeout=30)
            client = subprocess.Popen([sys.executable, str(tmp / "client.py"), str(tmp / "sig.npy"),
                                       str(tmp / "rec.npy"), "2"])
            js.wait_ports("PortAudio-01:", timeout=30)
            js.rewire("PortAudio-01", "PortAudio")
            client.wait(timeout=seconds + 60)
            err = app.communicate(timeout=120)[1]
        finally:
            for proc in (client, app):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if app.returncode != 0:
            raise RuntimeError(f"seplive failed: {err[-1500:]}")
        rep = json.loads(report.read_text())
        y = np.load(tmp / "rec.npy")
        graph_xruns, jack_log = js.xruns(), js.log()
    cc = ss.correlate(y[:, 0], ref, mode="valid", method="fft") / np.sum(ref * ref)
    peaks, _ = ss.find_peaks(np.abs(cc), height=0.3, distance=len(ref) // 4)
    loop = []
    for s in starts:  # the first copy of each chirp within a second of its playing
        after = peaks[(peaks >= s) & (peaks < s + RATE)]
        if len(after):
            loop.append(int(after[0] - s))
    return {"model": model, "period": period, "loop_delays": loop, "report": rep, "graph_xruns": graph_xruns,
            "jack_log": jack_log}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--period", type=int, default=128)
    ap.add_argument("--models", nargs="+", default=["identity", "center", "native"])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("extra", nargs="*", help="more seplive flags (after --)")
    args = ap.parse_args()
    print(f"# JACK dummy, 48 kHz, period {args.period}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f},"
          f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| model | seplive in->out measured ms | reported ms | loop (+2 periods) ms | misses | xruns (seplive's"
          " streams) | xrun lines in jackd's log | output restarts | hops | scheduling |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for _ in range(args.repeats):
        for model in args.models:
            r = one(model, args.period, args.seconds, args.extra)
            rep = r["report"]
            own = [(d - 2 * args.period) / RATE * 1000 for d in r["loop_delays"]]
            span = f"{min(own):.1f}-{max(own):.1f}" if own else "no chirp found"
            loop = f"{np.median(r['loop_delays']) / RATE * 1000:.1f}" if own else "-"
            sched = rep.get("thread_scheduling", {}).get("MainThread", "?")
            print(f"| {model} | {span} | {1000 * rep['latency_samples'] / RATE:.1f} | {loop} | {rep['deadline_misses']} |"
                  f" {rep['xruns']} | {r['graph_xruns']} | {rep.get('output_restarts', '?')} | {rep['hops']} | {sched} |",
                  flush=True)
            if r["graph_xruns"]:
                first = [ln for ln in r["jack_log"].splitlines() if "xrun" in ln.lower()][:2]
                print("  jackd: " + " / ".join(first), flush=True)
            print("  breakdown ms: " + ", ".join(f"{k} {v:.1f}" for k, v in rep["latency_breakdown_ms"].items() if v),
                  flush=True)


if __name__ == "__main__":
    main()
