"""Benchmark: per-hop compute and real-time factor of the built-in plugins, and the
engine's own overhead, on the same input side by side.

    .venv/bin/python bench/bench_engine.py [--seconds 20] [--json out.json]

For each plugin and hop: model compute per hop (p50/p99 ms), model real-time factor
(compute time / audio time), and engine overhead (everything but the model: resampling,
windowing, crossfades, mixing) as a fraction of audio time.  48 kHz stereo, the demo song.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from seplive.demo import make_song
from seplive.models import create
from seplive.stream.engine import Engine, EngineConfig
from seplive.stream.mix import MixSettings


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def run_one(model: str, prompts: list[str], hop: int, audio: np.ndarray, rate: int) -> dict:
    eng = Engine(create(model), MixSettings.from_cli(prompts, [], {}), EngineConfig(source_rate=rate, channels=audio.shape[1], hop_samples=hop))
    block = eng.block
    n = len(audio) // block * block
    t0 = time.perf_counter()
    for i in range(0, n, block):
        eng.push(audio[i : i + block])
        eng.pull(block)
    wall = time.perf_counter() - t0
    st = eng.compute_stats
    audio_s = n / rate
    return {
        "model": model,
        "hop_samples": hop,
        "hop_ms": 1000 * hop / rate,
        "latency_ms": 1000 * eng.latency_samples / rate,
        "compute_ms_p50": st.percentile_ms(50),
        "compute_ms_p99": st.percentile_ms(99),
        "model_rtf": st.total_s / audio_s,
        "engine_overhead_rtf": (wall - st.total_s) / audio_s,
        "total_rtf": wall / audio_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    rate = 48000
    song = sum(make_song(seconds=args.seconds).values())
    rows = []
    for hop in (256, 1024):
        for model, prompts in (("identity", ["vocals"]), ("center", ["vocals"]), ("hpss", ["drums"])):
            run_one(model, prompts, hop, song[: rate], rate)  # warm-up
            rows.append(run_one(model, prompts, hop, song, rate))
    print(f"machine: {machine()}")
    print(f"input: {args.seconds:.0f} s of 48 kHz stereo (the demo song)\n")
    print("| model | hop (samples / ms) | latency ms | compute p50 ms | compute p99 ms | model RTF | engine overhead RTF | total RTF |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['hop_samples']} / {r['hop_ms']:.1f} | {r['latency_ms']:.1f} | {r['compute_ms_p50']:.3f} | "
              f"{r['compute_ms_p99']:.3f} | {r['model_rtf']:.4f} | {r['engine_overhead_rtf']:.4f} | {r['total_rtf']:.4f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
