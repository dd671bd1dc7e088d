"""Per-hop cost of the LaSAFT-Net-v2 plugin (random weights) as the engine calls it.

For v2_light and v2_large, hops of 1024 and 4096 samples, 1 and 4 prompts, the plugin's
default context (~1 s), one stereo group: times ``LasaftSeparator.process`` on a
``(1, 2, context + hop)`` window and reports p50 / p99 milliseconds per call and the
real-time factor ``p50 / hop duration`` (< 1 keeps up), plus the fastest call and the
"CPU share" (process CPU time / (wall time x threads): about 1 when the benchmark had the
cores to itself, lower when other processes competed and the times are inflated).  A second table repeats v2_light
with a short context that a small CPU can sustain; a third times one offline 128-frame
(training-size) window, the measurement quoted for the reference implementation.  CPU runs use 2 torch threads; a GPU
section runs only when ``torch.cuda.is_available()``.

    python bench/bench_lasaft.py                 # about 2-4 minutes on 2 cores
    python bench/bench_lasaft.py --quick         # a smoke run (seconds)
    python bench/bench_lasaft.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from seplive.models.base import StreamSpec  # noqa: E402
from seplive.models.lasaft import PRESETS, LasaftSeparator, build_model  # noqa: E402

RATE = 44100
PROMPTS = ("vocals", "drums", "bass", "other")


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def bench_case(
    config: str, hop: int, n_prompts: int, device: str, context_ms: float | None, iters: int, budget_s: float
) -> dict:
    kw = {} if context_ms is None else {"context_ms": context_ms}
    sep = LasaftSeparator(model=build_model(PRESETS[config]), device=device, **kw)
    sep.configure(StreamSpec(rate=RATE, channels=2, hop_samples=hop, device=device))
    n = sep.context_samples + hop + sep.lookahead_samples
    window = (0.1 * np.random.default_rng(0).standard_normal((1, 2, n))).astype(np.float32)
    prompts = list(PROMPTS[:n_prompts])
    for _ in range(2):  # warm-up: allocator, oneDNN / cuDNN kernel selection
        sep.process(window, prompts)
    times: list[float] = []
    cpu_times: list[float] = []
    t_end = time.perf_counter() + budget_s
    while len(times) < iters and (len(times) < 5 or time.perf_counter() < t_end):
        c0, t0 = time.process_time(), time.perf_counter()
        sep.process(window, prompts)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    # share of the wall time this process ran on its threads: ~1 alone on the machine,
    # well below 1 when other processes compete for the cores (then times are inflated)
    threads = torch.get_num_threads() if device == "cpu" else 1
    cpu_share = sum(cpu_times) / (sum(times) * threads)
    hop_ms = 1000.0 * hop / RATE
    p50 = 1000.0 * statistics.median(times)
    return {
        "model": config,
        "device": device,
        "hop": hop,
        "hop_ms": round(hop_ms, 1),
        "context": sep.context_samples,
        "context_ms": round(1000.0 * sep.context_samples / RATE, 1),
        "frames": sep.model.valid_length(n) // sep.model.cfg.hop_length + 1,
        "prompts": n_prompts,
        "calls": len(times),
        "min_ms": round(1000.0 * min(times), 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(1000.0 * percentile(times, 99), 1),
        "rtf": round(p50 / hop_ms, 2),
        "cpu_share": round(cpu_share, 2),
    }


def bench_full_window(config: str, calls: int) -> dict:
    """One 130048-sample (128-frame) training-size window, one label: the reference's measurement."""
    net = build_model(PRESETS[config])
    wave = 0.1 * torch.randn(1, 2, 130048, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        net.separate(wave, ["vocals"])
        for _ in range(calls):
            t0 = time.perf_counter()
            net.separate(wave, ["vocals"])
            times.append(time.perf_counter() - t0)
    return {"model": config, "calls": calls, "min_s": round(min(times), 3), "p50_s": round(statistics.median(times), 3)}


def table(rows: list[dict]) -> str:
    head = (
        "| model | hop (ms) | context (ms) | frames | prompts | calls | min ms | p50 ms | p99 ms "
        "| RTF (p50) | CPU share |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['hop']} ({r['hop_ms']}) | {r['context']} ({r['context_ms']}) | {r['frames']} "
            f"| {r['prompts']} | {r['calls']} | {r['min_ms']} | {r['p50_ms']} | {r['p99_ms']} | {r['rtf']} "
            f"| {r['cpu_share']} |"
        )
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--iters", type=int, default=30, help="timed calls per case (at most)")
    ap.add_argument("--budget-s", type=float, default=12.0, help="time per case after 5 calls")
    ap.add_argument("--short-context-ms", type=float, default=200.0, help="context of the CPU-friendly table")
    ap.add_argument("--quick", action="store_true", help="v2_light only, 5 calls per case")
    ap.add_argument("--json", type=Path, help="write all rows here")
    args = ap.parse_args(argv)

    logging.disable(logging.WARNING)  # the random-weights warning, once per case
    torch.set_num_threads(args.threads)
    iters = 5 if args.quick else args.iters
    models = ["v2_light"] if args.quick else ["v2_light", "v2_large"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# CPU: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads, load average at start {load:.2f}")  # fmt: skip

    t_start = time.perf_counter()
    rows: dict[str, list[dict]] = {"cpu_default_context": [], "cpu_short_context": [], "gpu": []}
    for model in models:
        for hop in (1024, 4096):
            for n_prompts in (1, 4):
                rows["cpu_default_context"].append(bench_case(model, hop, n_prompts, "cpu", None, iters, args.budget_s))
    print("\n## CPU, default context\n")
    print(table(rows["cpu_default_context"]))
    for hop in (1024, 4096):
        for n_prompts in (1, 4):
            rows["cpu_short_context"].append(
                bench_case("v2_light", hop, n_prompts, "cpu", args.short_context_ms, iters, args.budget_s)
            )
    print(f"\n## CPU, v2_light, context {args.short_context_ms:g} ms\n")
    print(table(rows["cpu_short_context"]))

    rows["cpu_full_window"] = [bench_full_window(m, 3 if args.quick else 5) for m in models]
    print("\n## CPU, one 128-frame window (130048 samples), 1 prompt\n")
    print("| model | calls | min s | p50 s |\n|---|---|---|---|")
    for r in rows["cpu_full_window"]:
        print(f"| {r['model']} | {r['calls']} | {r['min_s']} | {r['p50_s']} |")

    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        for model in models:
            for hop in (1024, 4096):
                for n_prompts in (1, 4):
                    rows["gpu"].append(bench_case(model, hop, n_prompts, "cuda", None, 4 * iters, args.budget_s))
        print(f"\n## GPU ({gpu}), default context\n")
        print(table(rows["gpu"]))
    else:
        print("\n## GPU\n\nno CUDA device: skipped")
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n# total {time.perf_counter() - t_start:.0f} s, load average at end {load_end:.2f}")
    if args.json:
        meta = {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__, "threads": args.threads}
        args.json.write_text(json.dumps({"meta": meta, **rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
