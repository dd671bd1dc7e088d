"""Benchmark: deadline misses of a live run at rest and under an OSC flood from many ports.

    .venv/bin/python bench/bench_osc_flood.py [--seconds 10] [--model native] [--rate 30000] [--ports 64] [--pairs 3]
    .venv/bin/python bench/bench_osc_flood.py --trees . /path/to/main   # before/after, interleaved

Runs ``--pairs`` rounds of two paced live runs on a private PulseAudio (tests/soakrun.py):
one at rest, one while ``--ports`` UDP sockets send valid control messages (gain, wet,
master) at ``--rate`` datagrams a second in total to ``--osc`` from the first second to
the last.  Prints a JSON line per run: deadline misses (and their causes), xruns, what the
flood sent, and seplive's CPU seconds for the whole run (the flood's cost without the
noise of other processes on the machine).  Issue #24: per-sender limits alone let 64
ports through at 64 times the rate.  Results in docs/benchmarks/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from soakrun import soak  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--model", default="native")
    ap.add_argument("--rate", type=float, default=30000.0, help="datagrams per second, all ports together")
    ap.add_argument("--ports", type=int, default=64)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--trees", nargs="+", metavar="DIR",
                    help="source trees to compare under the flood, round by round (PYTHONPATH of the seplive run);"
                    " the run at rest uses the first")
    args = ap.parse_args()
    trees = args.trees or [os.environ.get("PYTHONPATH", "")]
    for i in range(args.pairs):
        for flood, tree in [(False, trees[0]), *((True, t) for t in trees)]:
            os.environ["PYTHONPATH"] = tree
            r = soak(args.seconds, model=args.model, warmup_s=3.0, flood_rate=args.rate if flood else 0.0,
                     flood_at=(1.0, args.seconds - 1.0), flood_ports=args.ports if flood else 0)
            rep = r["report"]
            print(json.dumps({
                "round": i, "tree": tree, "flood": r["flood"] if flood else None, "model": args.model, "seconds": args.seconds,
                "deadline_misses": rep["deadline_misses"], "no_time": rep["misses"]["no_time"],
                "late": rep["misses"]["late"], "hops": rep["hops"], "xruns": rep["xruns"],
                "compute_ms_p99": round(rep["compute_ms_p99"], 2), "cpu_s": r["cpu_s"],
            }), flush=True)


if __name__ == "__main__":
    main()
