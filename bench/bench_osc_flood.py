"""Benchmark: deadline misses of a live run at rest and under an OSC flood from many ports.

    .venv/bin/python bench/bench_osc_flood.py [--seconds 10] [--model native] [--rate 30000] [--ports 64] [--pairs 3]
    .venv/bin/python bench/bench_osc_flood.py --trees . /path/to/main   # before/after, interleaved
    .venv/bin/python bench/bench_osc_flood.py --cost --seconds 4 --trees . /path/to/main   # the control's CPU

Runs ``--pairs`` rounds of two paced live runs on a private PulseAudio (tests/support/soakrun.py):
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
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.soakrun import soak  # noqa: E402

#: the OSC control alone (attached to an idle session) under the flood: its CPU time, read
#: by the process itself; argv: seconds, rate, ports
COST = r"""
import json, resource, subprocess, sys, time
import numpy as np, soundfile as sf, tempfile, os
sys.path.insert(0, sys.argv[4])
from tests.support.soakrun import FLOOD_MANY
from seplive.control.osc import OscControl
from seplive.session import Session, SessionConfig
seconds, rate, ports = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
d = tempfile.mkdtemp()
sf.write(os.path.join(d, "in.wav"), np.zeros((48000, 2), np.float32), 48000)
ctl = OscControl(0)
ctl.start(Session(SessionConfig(input=os.path.join(d, "in.wav"), model="identity", prompts=["vocals"])))
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
time.sleep(0.5)
c0 = cpu(); time.sleep(seconds); idle = cpu() - c0
c0 = cpu()
flood = subprocess.run([sys.executable, "-c", FLOOD_MANY, str(ctl.port), str(seconds), str(rate), str(ports)],
                       capture_output=True, text=True)
busy = cpu() - c0
ctl.stop()
print(json.dumps({"cpu_ms_per_s_idle": round(1000 * idle / seconds, 1), "cpu_ms_per_s_flood": round(1000 * busy / seconds, 1),
                  "sent": int(flood.stdout.split()[0]), **{k: v for k, v in ctl.stats.items() if v}}))
"""


def cost(args) -> None:
    for i in range(args.pairs):
        for tree in args.trees or [os.environ.get("PYTHONPATH", "")]:
            env = {**os.environ, "PYTHONPATH": tree}
            r = subprocess.run([sys.executable, "-c", COST, str(args.seconds), str(args.rate), str(args.ports),
                                str(Path(__file__).resolve().parents[1])],
                               capture_output=True, text=True, env=env, timeout=120, cwd=tree or None)
            print(json.dumps({"round": i, "tree": tree, "ports": args.ports, "rate": args.rate,
                              **json.loads(r.stdout.strip().splitlines()[-1])}), flush=True)


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
    ap.add_argument("--cost", action="store_true",
                    help="measure the OSC control's own CPU time under the flood (no audio, no model): the flood's"
                    " cost free of the noise other processes add to deadline misses")
    args = ap.parse_args()
    if args.cost:
        cost(args)
        return
    trees = args.trees or [os.environ.get("PYTHONPATH", "")]
    for i in range(args.pairs):
        for flood, tree in [(False, trees[0]), *((True, t) for t in trees)]:
            os.environ["PYTHONPATH"] = tree
            if tree:  # `python -m seplive` puts its working folder first on sys.path
                os.chdir(tree)
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
