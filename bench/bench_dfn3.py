"""Benchmark of the dfn3 plugin (DeepFilterNet3 through libDF's C API): cost per stream.

    python bench/bench_dfn3.py                 # 1 and 2 channel streams, 3,000 hops each
    python bench/bench_dfn3.py --hops 1000 --streams 1 2 4

For each number of channel streams (each a libDF state): ``--hops`` hops of 480 samples
(10 ms, the runtime's frame) of real recorded speech over noise through
``Dfn3Separator.process``, as the engine calls it, back to back and paced at the hop's
duration (as live: the core cools between hops).  Prints wall-clock p50 / p99 / max per hop,
p99 as a share of the hop, the real-time factor (mean per-hop time / hop duration) and the
same per channel stream.  Results: docs/benchmarks/dfn3.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from seplive.data.recordings import speech_recordings
from seplive.models.base import StreamSpec
from seplive.models.dfn3 import Dfn3Separator

RATE, HOP = 48000, 480


def signal(seconds: float) -> np.ndarray:
    voice = np.concatenate([c.reshape(-1) for c in speech_recordings(RATE)])
    n = int(seconds * RATE)
    voice = np.resize(voice, n)
    noise = 0.02 * np.random.default_rng(0).standard_normal(n)
    return (0.3 * voice / np.abs(voice).max() + noise).astype(np.float32)


def run(streams: int, hops: int, paced: bool) -> np.ndarray:
    plugin = Dfn3Separator()
    plugin.configure(StreamSpec(rate=RATE, channels=streams, hop_samples=HOP))
    x = signal(hops * HOP / RATE + 1.0)
    times = np.empty(hops)
    hop_s = HOP / RATE
    for k in range(50):  # warm-up
        plugin.process(np.broadcast_to(x[k * HOP : (k + 1) * HOP], (streams, 1, HOP)), ["speech"])
    t_next = time.perf_counter()
    for k in range(hops):
        if paced:
            t_next += hop_s
            delay = t_next - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        w = np.ascontiguousarray(np.broadcast_to(x[k * HOP : (k + 1) * HOP], (streams, 1, HOP)))
        t = time.perf_counter()
        plugin.process(w, ["speech"])
        times[k] = time.perf_counter() - t
    plugin.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hops", type=int, default=3000)
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    print(f"# dfn3 per-hop cost, {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
          f" load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| streams | path | p50 ms | p99 ms | max ms | p99 / hop | rtf | rtf per stream |")
    print("|---|---|---|---|---|---|---|---|")
    hop_ms = 1000.0 * HOP / RATE
    for streams in args.streams:
        for paced in (False, True):
            t = run(streams, args.hops, paced) * 1000.0
            rtf = t.mean() / hop_ms
            print(f"| {streams} | {'paced' if paced else 'back to back'} | {np.percentile(t, 50):.2f} |"
                  f" {np.percentile(t, 99):.2f} | {t.max():.2f} | {np.percentile(t, 99) / hop_ms:.0%} |"
                  f" {rtf:.3f} | {rtf / streams:.3f} |")


if __name__ == "__main__":
    main()
