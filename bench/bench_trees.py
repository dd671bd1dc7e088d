"""Benchmark: the same engine measurements on two source trees, side by side, in one run.

    .venv/bin/python bench/bench_trees.py --before /path/to/old/checkout --after . [--rounds 3]

For a refactor that must not change the cost: each round runs, in a fresh process per tree,
the engine overhead (everything but the model, as a real-time factor) for identity and
center at hops 256 and 1024, and the native model's per-hop compute (p50/p99 ms) and engine
overhead at its default hop, on the demo song (48 kHz stereo).  Trees alternate within each
round so that load drifts hit both; the table gives the median over rounds of each figure.
Only the engine's public API is used (Engine, EngineConfig, the mix settings), so the same
probe runs on both trees.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
try:
    from seplive.stream.mix import MixSettings
except ImportError:  # trees from before the engine's stages
    from seplive.control.mix import MixSettings
from seplive.demo import make_song
from seplive.models import create
from seplive.stream.engine import Engine, EngineConfig

seconds = float(sys.argv[1])
rate = 48000
song = sum(make_song(seconds=seconds).values()).astype(np.float32)

def run(model, prompts, hop, audio):
    eng = Engine(create(model), MixSettings.from_cli(prompts, [], {}),
                 EngineConfig(source_rate=rate, channels=audio.shape[1], hop_samples=hop))
    block = eng.block
    n = len(audio) // block * block
    t0 = time.perf_counter()
    for i in range(0, n, block):
        eng.push(audio[i:i + block])
        eng.pull(block)
    wall = time.perf_counter() - t0
    st = eng.compute_stats
    out = {"latency_samples": eng.latency_samples, "hop": eng.hop,
           "overhead_rtf": (wall - st.total_s) / (n / rate),
           "compute_p50_ms": st.percentile_ms(50), "compute_p99_ms": st.percentile_ms(99)}
    eng.close()
    return out

rows = {}
for model, prompts, hop in (("identity", ["vocals"], 256), ("identity", ["vocals"], 1024),
                            ("center", ["vocals"], 256), ("center", ["vocals"], 1024),
                            ("native", ["vocals"], None)):
    run(model, prompts, hop, song[:rate])  # warm-up
    rows[f"{model} hop {hop or 'default'}"] = run(model, prompts, hop, song)
print(json.dumps(rows))
"""


def probe(tree: Path, seconds: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", PROBE, str(seconds)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path)
    ap.add_argument("--after", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for name in order:
            runs[name].append(probe(getattr(args, name).resolve(), args.seconds))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_engine import machine  # noqa: PLC0415 (bench/ is the script folder)

    print(f"machine: {machine()}; {args.rounds} rounds of {args.seconds:.0f} s, medians\n")
    print("| case | latency (samples) before / after | overhead RTF before | after | compute p50 ms before | after | p99 before | after |")
    print("|---|---|---|---|---|---|---|---|")
    table = {}
    for case in runs["before"][0]:
        med = {n: {k: statistics.median(x[case][k] for x in runs[n]) for k in runs[n][0][case]} for n in runs}
        b, a = med["before"], med["after"]
        table[case] = med
        print(f"| {case} | {b['latency_samples']:.0f} / {a['latency_samples']:.0f} | {b['overhead_rtf']:.4f} | "
              f"{a['overhead_rtf']:.4f} | {b['compute_p50_ms']:.3f} | {a['compute_p50_ms']:.3f} | "
              f"{b['compute_p99_ms']:.3f} | {a['compute_p99_ms']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rounds": args.rounds, "cases": table}, indent=2))


if __name__ == "__main__":
    main()
