"""Benchmark: the reliability soak, a paced live run on a private PulseAudio.

    .venv/bin/python bench/bench_soak.py [--minutes 30] [--model native] [--flood 10000]
    .venv/bin/python bench/bench_soak.py --minutes 0.333 --warmup 5 --model native --budgets 1 2 --pairs 4
    .venv/bin/python bench/bench_soak.py --minutes 0.333 --warmup 5 --compare "--device-latency low --device-block 256" "" --pairs 2

Prints one JSON object: deadline misses, xruns, latency measured by chirps at the start
and the end, resident memory after the warm-up and at the end, compute times.  With
``--flood RATE`` an OSC flood (valid, malformed, oversized, deeply nested bundles) hits
the control port from the warm-up until six seconds before the end.  With ``--compare FLAGS...``
it runs ``--pairs`` rounds of soaks, one with each set of seplive flags side by side, and
prints a line per run (``--budgets A B`` compares compute budgets, in hops).  See
tests/support/soakrun.py; results in docs/benchmarks/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.soakrun import soak, summary  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--model", default="native")
    ap.add_argument("--flood", type=float, default=0.0, help="OSC datagrams per second during the run")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds before memory is first counted")
    ap.add_argument("--compare", nargs="+", metavar="FLAGS",
                    help='compare sets of seplive flags run after run, e.g. "--device-latency low --device-block 256" ""')
    ap.add_argument("--budgets", type=float, nargs="+", help="compare these compute budgets (hops): --compare sugar")
    ap.add_argument("--pairs", type=int, default=4, help="with --compare or --budgets: rounds of one run per set")
    args = ap.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    compare = args.compare or [f"--compute-budget {b}" for b in args.budgets or []]
    if compare:
        for i in range(args.pairs):
            for flags in compare:
                r = soak(args.minutes * 60.0, model=args.model, warmup_s=args.warmup, extra=shlex.split(flags))
                rep = r["report"]
                bd = rep["latency_breakdown_ms"]
                print(json.dumps({"round": i, "flags": flags, "misses": rep["deadline_misses"],
                                  "no_time": rep["misses"]["no_time"], "late": rep["misses"]["late"], "xruns": rep["xruns"],
                                  "latency_measured_ms": r["latency_measured_ms"], "latency_reported_ms": round(rep["latency_ms"], 1),
                                  "compute_ms_p50": round(rep["compute_ms_p50"], 2), "compute_ms_p99": round(rep["compute_ms_p99"], 2),
                                  "output_buffer_ms": round(bd["output_buffer_ms"], 1),
                                  "output_trimmed_frames": rep["output_trimmed_frames"]}), flush=True)
        return
    r = soak(args.minutes * 60.0, model=args.model, warmup_s=args.warmup, flood_rate=args.flood)
    out = {"started": started, "machine": f"{platform.machine()} {platform.processor() or ''} cpus={__import__('os').cpu_count()}",
           **summary(r)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
