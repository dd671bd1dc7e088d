"""Benchmark of the native streaming model: per-hop cost at the shipped hop, size, latency.

    python bench/bench_native.py                      # CPU, small, hop 256, 1-3 prompts, 1 thread
    python bench/bench_native.py --config tiny --hops 500
    python bench/bench_native.py --device cuda        # where a GPU is present

Sections:

1. Size and latency: parameters, float32 weight size, the model's delay and its algorithmic
   latency at the hop (delay + the hop's buffering).
2. Per-hop cost through :meth:`NativeSeparator.process` (numpy in, numpy out, as the engine
   calls it): one stereo pair, random input, ``--hops`` timed hops after a warm-up, for 1,
   2 and 3 prompts (a preset's usual counts); hops back to back and paced at the hop's
   duration (as live: caches and the core cool between hops, which costs 30-70 % more per
   hop on the 2-core VM), each through the traced path (the default on a CPU) and the
   eager one, side by side.  Wall-clock p50 / p99 / max and the
   real-time factor (mean per-hop time / hop duration), plus the thread's CPU time p50 /
   p99, which is what the model itself costs when other processes share the cores.
   The requirement is p99 <= 50 % of the hop.
3. The whole engine on 10 s of stereo audio at 48 kHz (file mode, inline): RTF including
   the engine's own per-hop work.
4. ``--streams B ...``: streams per device.  B independent stereo streams batched into one
   :meth:`NativeNet.step` per hop (how a server would run many users on one GPU), each with
   the given prompts; p50 / p99 per hop and the largest B whose p99 stays within half the
   hop (the same budget as one stream's).
5. Streaming vs the full-sequence causal forward: max abs error over random hop sizes
   (1-4 frames) and random prompt sets changing every hop (float32).

Weights are random unless ``--checkpoint`` is given: the cost does not depend on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from seplive.models import SeparatorError
from seplive.models.base import StreamSpec
from seplive.models.native import NativeNet, NativeSeparator, load_checkpoint
from seplive.models.prompts import PROMPTS
from seplive.stream.engine import Engine, EngineConfig, process_array
from seplive.stream.mix import MixSettings
from seplive.stream.priority import normal_thread, realtime_thread


def machine(device: str) -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else "none"
    load = ", load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"CPU {cpu}, {cores} cores{load}; torch {torch.__version__}, threads {torch.get_num_threads()}; GPU {gpu}"


def per_hop(plugin: NativeSeparator, prompts: list[str], hop: int, hops: int, warmup: int,
            paced: bool = False) -> dict[str, float]:
    """Per-hop times of ``plugin.process``; ``paced``: one hop per hop duration (sleeping
    between), as live, where caches and the core cool down between hops."""
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((hops + warmup, 1, plugin.channels, hop))).astype(np.float32)
    plugin.reset()
    hop_ms = hop * 1e3 / plugin.sample_rate
    wall, cpu = [], []
    due = time.perf_counter()
    for i in range(hops + warmup):
        t0, c0 = time.perf_counter(), time.thread_time()
        plugin.process(x[i], prompts)
        t1, c1 = time.perf_counter(), time.thread_time()
        if i >= warmup:
            wall.append((t1 - t0) * 1e3)
            cpu.append((c1 - c0) * 1e3)
        if paced:
            due += hop_ms / 1e3
            time.sleep(max(0.0, due - time.perf_counter()))
    w, c = np.array(wall), np.array(cpu)
    return {
        "p50": float(np.percentile(w, 50)),
        "p99": float(np.percentile(w, 99)),
        "max": float(w.max()),
        "rtf": float(w.mean() / hop_ms),
        "cpu_p50": float(np.percentile(c, 50)),
        "cpu_p99": float(np.percentile(c, 99)),
        "hop_ms": hop_ms,
    }


def streams_per_device(net: NativeNet, device: str, batches: list[int], prompts: int, hop: int,
                       hops: int, warmup: int) -> list[tuple[int, float, float]]:
    """(streams, p50 ms, p99 ms) of one batched step per hop for each batch size."""
    ids = tuple(range(prompts))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    rows = []
    net = net.to(device).eval()
    for b in batches:
        x = 0.1 * torch.randn(b, net.cfg.channels, hop, device=device)
        state = net.init_state(b, device)
        times = []
        with torch.inference_mode():
            for i in range(hops + warmup):
                sync()
                t0 = time.perf_counter()
                _, state = net.step(x, ids, state)
                sync()
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1e3)
        rows.append((b, float(np.percentile(times, 50)), float(np.percentile(times, 99))))
    return rows


def streaming_error(net: NativeNet, seeds: int = 3, frames: int = 60, kernels=None) -> float:
    """Largest |step output - forward_causal| over random hops and prompt changes
    (``kernels``: the step through :meth:`NativeNet.traced_kernels`)."""
    worst = 0.0
    hop = net.cfg.hop
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        x = torch.from_numpy((0.3 * rng.standard_normal((2, net.cfg.channels, hop * frames))).astype(np.float32))
        state, pos = net.init_state(2), 0
        with torch.no_grad():
            while pos < frames:
                k = min(int(rng.integers(1, 5)), frames - pos)
                ids = tuple(int(i) for i in rng.integers(0, len(net.prompts), int(rng.integers(1, 4))))
                out, state = net.step(x[..., pos * hop : (pos + k) * hop], ids, state, kernels)
                ref = net.forward_causal(x[..., : (pos + k) * hop], torch.tensor([ids, ids]))[..., pos * hop :]
                worst = max(worst, float((out - ref).abs().max()))
                pos += k
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="small", help="preset (small, tiny) for random weights")
    ap.add_argument("--checkpoint", help="a native checkpoint instead of random weights")
    ap.add_argument("--hop", type=int, default=None, help="samples per hop (default: the plugin's)")
    ap.add_argument("--hops", type=int, default=2000, help="timed hops per prompt count")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--prompts", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-engine", action="store_true")
    ap.add_argument("--pacing", choices=["both", "back-to-back", "paced"], default="both",
                    help="hops back to back, paced at the hop's duration as live, or both")
    ap.add_argument("--paths", nargs="+", choices=["traced", "eager"], default=["traced", "eager"],
                    help="the plugin's CPU paths to time side by side (traced is its default)")
    ap.add_argument("--rt-priority", type=int, nargs="+", default=[0],
                    help="scheduling of the timing thread, side by side: 0 = normal, N = SCHED_FIFO N (as a live"
                    " session's model thread runs), e.g. 0 50")
    ap.add_argument("--streams", type=int, nargs="*", default=[],
                    help="batched stream counts to time (streams per device), e.g. 1 8 32 128")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = load_checkpoint(args.checkpoint) if args.checkpoint else NativeNet(args.config)
    threads = args.threads if args.device == "cpu" else None
    paths = args.paths if args.device == "cpu" else ["eager"]  # traces are for the CPU
    plugins = {p: NativeSeparator(model=net, device=args.device, threads=threads, traced=p == "traced") for p in paths}
    plugin = plugins[paths[0]]
    hop = args.hop or plugin.default_hop_samples
    for p in plugins.values():
        p.configure(StreamSpec(rate=plugin.sample_rate, channels=plugin.channels, hop_samples=hop, device=args.device))
    cfg = net.cfg
    n_params = net.parameter_count()
    size = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    rate = plugin.sample_rate
    print(machine(args.device))
    print(f"model: {'checkpoint ' + args.checkpoint if args.checkpoint else args.config + ' (random weights)'}, "
          f"{n_params:,} parameters, {size / 1e6:.2f} MB float32")  # fmt: skip
    print(f"STFT: n_fft {cfg.n_fft}, hop {cfg.hop}, synthesis window {cfg.synthesis_window} at {rate} Hz; "
          f"bands {cfg.n_bands}, dim {cfg.dim}, layers {cfg.layers}")  # fmt: skip
    d = plugin.delay_samples
    print(f"model delay {d} samples ({d * 1e3 / rate:.2f} ms); algorithmic latency at hop {hop}: "
          f"{d + hop} samples ({(d + hop) * 1e3 / rate:.2f} ms)")  # fmt: skip
    print()
    print(f"per-hop cost, hop {hop} samples ({hop * 1e3 / rate:.2f} ms), 1 stereo pair, {args.hops} hops, device {args.device}")
    print("| prompts | hops | path | scheduling | p50 ms | p99 ms | max ms | p99 / hop | RTF | CPU p50 ms | CPU p99 ms |")
    print("|--------:|------|------|------|-------:|-------:|-------:|----------:|----:|-----------:|-----------:|")
    pacings = {"both": [False, True], "back-to-back": [False], "paced": [True]}[args.pacing]
    for p in args.prompts:
        for paced in pacings:
            for prio in args.rt_priority:  # normal and real-time scheduling, one after the other
                sched = realtime_thread(prio)
                for name, plug in plugins.items():  # the paths one after the other, same input
                    r = per_hop(plug, list(PROMPTS[:p]), hop, args.hops, args.warmup, paced)
                    print(f"| {p} | {'paced' if paced else 'back to back'} | {name} | {sched} | {r['p50']:.3f} | {r['p99']:.3f} | "
                          f"{r['max']:.2f} | {100 * r['p99'] / r['hop_ms']:.0f} % | {r['rtf']:.3f} | {r['cpu_p50']:.3f} | "
                          f"{r['cpu_p99']:.3f} |")  # fmt: skip
                normal_thread()
    if args.streams:
        p = args.prompts[0]
        hop_ms = hop * 1e3 / rate
        print()
        print(f"streams per device ({args.device}): B streams in one batched step per hop, {p} prompt(s), "
              f"hop {hop_ms:.2f} ms, {min(args.hops, 500)} hops each")
        print("| streams | p50 ms | p99 ms | p99 / hop |")
        print("|--------:|-------:|-------:|----------:|")
        fit = 0
        for b, p50, p99 in streams_per_device(net, args.device, args.streams, p, hop, min(args.hops, 500), args.warmup):
            print(f"| {b} | {p50:.2f} | {p99:.2f} | {100 * p99 / hop_ms:.0f} % |")
            fit = b if p99 <= hop_ms / 2 else fit
        print(f"largest measured stream count within half the hop at p99: {fit or 'none'}")
    if args.device == "cpu":
        print()
        print(f"streaming vs full causal forward, max abs error: {streaming_error(net.eval()):.2e}")
        if "traced" in plugins and plugins["traced"]._kernels is not None:
            err = streaming_error(net.eval(), kernels=plugins["traced"]._kernels)
            print(f"streaming through the traced kernels vs full causal forward, max abs error: {err:.2e}")
    if not args.skip_engine:
        print()
        x = (0.1 * np.random.default_rng(1).standard_normal((10 * rate, 2))).astype(np.float32)
        for p in args.prompts:  # the default path (traced on a CPU)
            eng = Engine(plugin, MixSettings.from_cli(list(PROMPTS[:p]), [], {}),
                         EngineConfig(source_rate=rate, channels=2, hop_samples=hop, device=args.device))  # fmt: skip
            t0 = time.perf_counter()
            process_array(eng, x)
            dt = time.perf_counter() - t0
            print(f"engine, {p} prompt(s), 10 s stereo: {dt:.2f} s (RTF {dt / 10:.3f}); "
                  f"reported latency {eng.latency_samples} samples ({eng.latency_samples * 1e3 / rate:.2f} ms)")


if __name__ == "__main__":
    try:
        main()
    except SeparatorError as exc:  # a device or checkpoint that cannot work: one line
        raise SystemExit(f"bench_native: {exc}") from None
