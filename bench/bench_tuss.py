"""Benchmark of the TUSS plugin: per-hop cost and streaming-vs-offline agreement.

    python bench/bench_tuss.py                # CPU sections (about 2-4 min on 2 cores), GPU if any
    python bench/bench_tuss.py --hops 10 --positions 8 --threads 2

Sections:

1. CPU per-hop cost of a random-weight *medium* model (the published medium size) driven
   through :class:`TussSeparator` at 1 s and 2 s context, hop 2048 (42.7 ms), mono, prompt
   ``vocals`` (run internally as ``vocals drums bass other``): p50 / p99 ms per hop and the
   real-time factor (per-hop time / hop duration; real time needs < 1).
2. Streaming vs offline: how much the newest hop of a window differs from the offline
   separation of the whole 6 s clip (the published CSS segment length), as an SNR in dB
   pooled over several window positions.  Random weights, so this measures the windowing
   mechanics (context, lookahead, grid alignment), not separation quality.
3. GPU (only when ``torch.cuda.is_available()``): medium and large, stereo (2 groups),
   fp32 / bf16, with and without CUDA-graph replay.

Prints plain text tables; copy them into docs/benchmarks/tuss.md with the machine line.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

from seplive.models.base import StreamSpec
from seplive.models.tuss import TussModel, TussSeparator
from seplive.models.tuss.model import published_config

RATE = 48000
HOP = 2048


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return f"CPU {cpu}, {cores} cores, torch {torch.__version__}, threads {torch.get_num_threads()}, GPU {gpu}"


def test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Mono float32: a harmonic 'melody', a bass line, noise bursts and clicks."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = np.zeros(n)
    for i, f0 in enumerate(rng.choice([220.0, 247.0, 262.0, 294.0, 330.0], size=int(seconds * 4) + 1)):
        seg = (t >= i * 0.25) & (t < (i + 1) * 0.25)
        for h in range(1, 6):
            x[seg] += 0.05 / h * np.sin(2 * np.pi * f0 * h * t[seg])
    x += 0.08 * np.sin(2 * np.pi * 55 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2
    x += 0.04 * rng.standard_normal(n) * (np.sin(2 * np.pi * 0.7 * t) > 0.6)
    x[:: RATE // 2] += 0.5
    return x.astype(np.float32)


def timed(fn: Callable[[], object], repeats: int) -> np.ndarray:
    fn()  # warm-up (allocations, kernel selection)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        out.append((time.perf_counter() - t0) * 1000)
    return np.array(out)


def cost_rows(
    name: str, model: TussModel, device: str, contexts_ms: list[float], groups: int, repeats: int, variants: list[dict]
) -> None:
    clip = test_signal(8.0)
    print(f"{'model':<7} {'context':>8} {'options':<22} {'p50 ms':>9} {'p99 ms':>9} {'RTF':>7} {'s/s audio':>9}")
    for ctx in contexts_ms:
        for opts in variants:
            sep = TussSeparator(model=model, device=device, context_ms=ctx, **opts)
            sep.configure(StreamSpec(rate=48000, channels=groups, hop_samples=HOP, device=device))
            n = sep.context_samples + HOP
            window = np.repeat(clip[None, None, :n], groups, axis=0)
            ms = timed(lambda sep=sep, window=window: sep.process(window, ["vocals"]), repeats)
            p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
            hop_ms = HOP / RATE * 1000
            label = ",".join(f"{k}={v}" for k, v in opts.items()) or "fp32"
            print(
                f"{name:<7} {ctx / 1000:>7.0f}s {label:<22} {p50:>9.0f} {p99:>9.0f} "
                f"{p50 / hop_ms:>7.1f} {p50 / 1000 / (n / RATE):>9.2f}"
            )


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    err = np.sum((ref.astype(np.float64) - est) ** 2)
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(err, 1e-20)))


def streaming_snr(model: TussModel, positions: int) -> None:
    """Newest hop of windows ending at ``positions`` places vs one forward of the whole clip."""
    clip = test_signal(6.0, seed=1)
    n = len(clip)
    prompts = ["vocals"]
    with torch.inference_mode():
        t0 = time.perf_counter()
        full = model(torch.from_numpy(clip[None]), [["vocals", "drums", "bass", "other"]])[0, 0].numpy()
        t_off = time.perf_counter() - t0
    print(f"offline: one forward over {n / RATE:.0f} s took {t_off:.1f} s ({t_off / (n / RATE):.2f} s per s of audio)")
    print(
        f"{'context':>8} {'lookahead':>9} {'window start':>14} {'SNR dB':>8}   (newest {HOP}-sample hop, {positions} windows)"
    )
    cases = [(1000, 0, 0), (2000, 0, 0), (4000, 0, 0), (2000, 0, 256), (2000, 250, 0), (2000, 500, 0)]
    # the same window ends (hop positions) for every case, on the 512 grid of the clip
    first = max(c for c, _, _ in cases) * RATE // 1000 + 512 + HOP
    last = n - max(la for _, la, _ in cases) * RATE // 1000 - 512
    grid_ends = np.linspace(first, last, positions).astype(int) // 512 * 512
    for ctx_ms, la_ms, offset in cases:
        sep = TussSeparator(model=model, device="cpu", context_ms=ctx_ms, lookahead_ms=la_ms)
        ctx, la = sep.context_samples, sep.lookahead_samples
        ends = grid_ends + offset
        refs, ests = [], []
        for end in ends:
            window = clip[end - ctx - HOP : end + la][None, None].copy()
            out = sep.process(window, prompts)[0, 0, 0]
            ests.append(out[-HOP:])
            refs.append(full[end - HOP : end])
        where = "on grid" if offset == 0 else f"+{offset} (off)"
        print(
            f"{ctx_ms / 1000:>7.0f}s {la_ms:>7.0f}ms {where:>14} {snr_db(np.concatenate(refs), np.concatenate(ests)):>8.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--hops", type=int, default=6, help="timed hops per CPU configuration (default 6)")
    ap.add_argument("--positions", type=int, default=6, help="windows per SNR case (default 6)")
    ap.add_argument("--skip-cpu", action="store_true", help="only the GPU section")
    ap.add_argument("--skip-snr", action="store_true", help="no streaming-vs-offline section")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(machine())
    medium = TussModel(published_config("medium")).eval()
    print(f"random medium model: {sum(p.numel() for p in medium.parameters()):,} parameters\n")

    if not args.skip_cpu:
        print(f"== CPU per-hop cost (hop {HOP} = {HOP / RATE * 1000:.1f} ms, mono, prompt vocals -> 4 internal)")
        print(f"   n = {args.hops} hops after one warm-up; RTF = p50 / hop duration; s/s audio = p50 / window length")
        cost_rows("medium", medium, "cpu", [1000.0, 2000.0], groups=1, repeats=args.hops, variants=[{}])
        if not args.skip_snr:
            print("\n== streaming vs offline (random weights: windowing mechanics only)")
            streaming_snr(medium, args.positions)

    if torch.cuda.is_available():
        print("\n== GPU per-hop cost (stereo = 2 groups, hop 2048)")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        variants = [{}, {"precision": "bf16"}, {"precision": "bf16", "cuda_graph": True}]
        for size in ("medium", "large"):
            model = TussModel(published_config(size)).eval()
            cost_rows(
                size, model, "cuda", [1000.0, 2000.0, 4000.0], groups=2, repeats=max(args.hops, 30), variants=variants
            )
    else:
        print("\n(no CUDA device: GPU section skipped)")


if __name__ == "__main__":
    main()
