"""Benchmark: live devices on a private PulseAudio (null sinks, no sound card).

    .venv/bin/python bench/bench_devices.py latency [--repeats 5] [--device-latency high]
    .venv/bin/python bench/bench_devices.py soak [--minutes 10] [--model center]
    .venv/bin/python bench/bench_devices.py probe [--models identity native] [--seconds 60] [--runs 2] -- --low-latency ...

``latency``: end-to-end latency measured, not computed: a chirp is played into a combine
sink feeding both ``speakers`` (whose monitor seplive captures as the loopback) and
``app_out`` (where seplive plays); a recording of ``app_out`` holds the direct copy and
seplive's copy, and their distance is the latency.  At device blocks of 256 and 1024.

``probe``: for each model, ``--runs`` runs of ``--seconds`` with the flags after ``--``,
chirps every 10 s from the third second on: the latency measured at each chirp against the
reported one, misses and xruns.  A model runs with ``--prompts vocals rest`` (every stem at
0 dB: the input comes back whole, so the chirp is found whatever the model does to it).

``soak``: a paced run of the demo song looped for N minutes through ``--input loopback``
with the given model; prints deadline misses, xruns, skipped input, output drift
corrections and restarts, and the latency measured by chirps at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.servers import PulseServer  # noqa: E402
from tests.support.soakrun import chirp, delays  # noqa: E402  (one chirp and one delay finder for both)

RATE = 48000


def run_session(args: list[str], seconds: float, play_at: list[float], tmp: Path, ref: np.ndarray, background=None):
    sig = np.zeros((RATE, 2), np.float32)
    sig[: len(ref)] = ref[:, None]
    sf.write(tmp / "chirp.wav", sig, RATE, subtype="FLOAT")
    rec = subprocess.Popen(["parec", "--device=app_out.monitor", "--format=float32le", f"--rate={RATE}", "--channels=2",
                            "--raw", str(tmp / "rec.raw")])
    report = tmp / "r.json"
    app = subprocess.Popen([sys.executable, "-m", "seplive", "--input", "loopback", "--output", "app_out",
                            "--duration", str(seconds), "--report", str(report), "-q", *args])
    bg = subprocess.Popen(["paplay", "--device=speakers", str(background)]) if background else None
    t0 = time.monotonic()
    for at in play_at:
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        subprocess.run(["paplay", "--device=both", str(tmp / "chirp.wav")], check=True)
    app.wait()
    if bg is not None:
        bg.terminate()
    time.sleep(0.2)
    rec.terminate()
    rec.wait()
    y = np.fromfile(tmp / "rec.raw", dtype=np.float32).reshape(-1, 2)
    return delays(y, ref), json.loads(report.read_text())


def latency(repeats: int, device_latency: str) -> None:
    ref = chirp()
    print(f"--device-latency {device_latency}")
    print("| device block | measured ms (median of runs) | min-max ms | reported ms | trimmed ms | misses | xruns |")
    print("|---|---|---|---|---|---|---|")
    for block in (256, 1024):
        got, reps = [], []
        for _ in range(repeats):
            with PulseServer(RATE) as ps, tempfile.TemporaryDirectory() as d:
                ps.pactl("load-module", "module-combine-sink", "sink_name=both", "slaves=speakers,app_out")
                # the chirp after the output has settled (and trimmed its fill), a second in
                ds, rep = run_session(["-m", "identity", "-p", "vocals", "--device-block", str(block),
                                       "--device-latency", device_latency], 5.0, [3.0], Path(d), ref)
                got += ds
                reps.append(rep)
        ms = np.array(got) / RATE * 1000
        print(f"| {block} | {np.median(ms):.1f} | {ms.min():.1f}-{ms.max():.1f} | "
              f"{np.median([r['latency_ms'] for r in reps]):.1f} | "
              f"{1000 * np.median([r['output_trimmed_frames'] for r in reps]) / RATE:.1f} | {sum(r['deadline_misses'] for r in reps)} | "
              f"{sum(r['xruns'] for r in reps)} |")


def soak(minutes: float, model: str) -> None:
    from seplive.demo import make_song

    ref = chirp()
    seconds = minutes * 60
    with PulseServer(RATE) as ps, tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ps.pactl("load-module", "module-combine-sink", "sink_name=both", "slaves=speakers,app_out")
        song = sum(make_song(seconds=30.0).values())
        reps_needed = int(np.ceil((seconds + 10) / 30.0))
        sf.write(tmp / "song.wav", np.tile(song * 0.5, (reps_needed, 1)), RATE, subtype="FLOAT")
        prompts = ["-p", "vocals"] if model != "hpss" else ["-p", "drums"]
        t0 = time.perf_counter()
        ds, rep = run_session(["-m", model, *prompts], seconds, [4.0, seconds - 4.0], tmp, ref, background=tmp / "song.wav")
        wall = time.perf_counter() - t0
    print(json.dumps({
        "minutes": minutes, "model": model, "wall_s": round(wall, 1),
        "latency_start_ms": ds[0] / RATE * 1000 if ds else None,
        "latency_end_ms": ds[-1] / RATE * 1000 if len(ds) > 1 else None,
        **{k: rep[k] for k in ("deadline_misses", "xruns", "input_skipped_frames", "output_drift_corrections",
                                "output_restarts", "hops", "compute_ms_p50", "compute_ms_p99", "rtf", "latency_ms")},
    }, indent=2))


def probe(models: list[str], seconds: float, runs: int, extra: list[str]) -> None:
    ref = chirp()
    play_at = list(np.arange(3.0, seconds - 1.5, 10.0))
    print(f"flags: {' '.join(extra) or '(none)'}; {runs} run(s) of {seconds:g} s, chirps at {len(play_at)} points each")
    print("| model | measured ms (median, min-max) | reported ms | misses | xruns | output restarts |")
    print("|---|---|---|---|---|---|")
    for model in models:
        got, reps = [], []
        for _ in range(runs):
            with PulseServer(RATE) as ps, tempfile.TemporaryDirectory() as d:
                ps.pactl("load-module", "module-combine-sink", "sink_name=both", "slaves=speakers,app_out")
                ds, rep = run_session(["-m", model, "-p", "vocals", "rest", *extra], seconds, play_at, Path(d), ref)
                got += ds
                reps.append(rep)
        ms = np.array(got) / RATE * 1000
        found = f"{np.median(ms):.1f} ({ms.min():.1f}-{ms.max():.1f}; {len(ms)} chirps)" if len(ms) else "none found"
        reported = ", ".join(f"{r['latency_ms']:.1f}" for r in reps)
        print(f"| {model} | {found} | {reported} | "
              f"{sum(r['deadline_misses'] for r in reps)} | {sum(r['xruns'] for r in reps)} | "
              f"{sum(r['output_restarts'] for r in reps)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("latency")
    a.add_argument("--repeats", type=int, default=5)
    a.add_argument("--device-latency", default="high", help="PortAudio latency: high, low or seconds")
    b = sub.add_parser("soak")
    b.add_argument("--minutes", type=float, default=10.0)
    b.add_argument("--model", default="center")
    c = sub.add_parser("probe")
    c.add_argument("--models", nargs="+", default=["identity", "native"])
    c.add_argument("--seconds", type=float, default=60.0)
    c.add_argument("--runs", type=int, default=2)
    c.add_argument("extra", nargs=argparse.REMAINDER, help="seplive flags, after --")
    args = ap.parse_args()
    if args.what == "latency":
        latency(args.repeats, args.device_latency)
    elif args.what == "probe":
        probe(args.models, args.seconds, args.runs, [a for a in args.extra if a != "--"])
    else:
        soak(args.minutes, args.model)


if __name__ == "__main__":
    main()
