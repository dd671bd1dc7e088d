"""Training and evaluation numbers for docs/benchmarks/train.md.

    .venv/bin/python bench/bench_train.py smoke        # the smoke preset end to end: time + loss curve
    .venv/bin/python bench/bench_train.py step --batch 1   # one training step of each GPU preset's model, on this CPU
    .venv/bin/python bench/bench_train.py step --device cuda --steps 5   # the same on a GPU (after a warm-up step)

``smoke`` runs ``seplive train --config presets/train/smoke.toml`` in a subprocess (a fresh
interpreter, as a user runs it) and prints its wall time and the logged loss curve.  ``step``
builds each preset's model, draws one batch of the preset's size from the generator, and
times data generation, forward+loss, backward and the optimizer step separately.  On a CPU the
presets' full per-GPU batches need more than 20 GB (lasaft-gpu's batch of 8 was OOM-killed
on a 23 GB machine): ``--batch`` overrides the batch size, and the process's address space is
capped at ``--max-gb`` so that a too-large step fails here instead of starving the machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_PRESETS = ("lasaft-gpu.toml", "tuss-gpu.toml")


def smoke() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "seplive", "train", "--config", str(ROOT / "presets/train/smoke.toml"),
                            "--out", tmp, "-q"], cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode:
            sys.exit(r.stderr)
        log = [json.loads(line) for line in (Path(tmp) / "train_log.jsonl").read_text().splitlines()]
        side = json.loads((Path(tmp) / "model.json").read_text())
        size = (Path(tmp) / "model.pt").stat().st_size
    print(f"smoke: {side['step']} steps, wall {wall:.1f} s (process start to exit), loop {log[-1]['wall_s']:.1f} s, "
          f"weights {size / 1024:.0f} KiB")
    print("step  loss dB (mean of the last log_every steps)")
    for e in log:
        print(f"{e['step']:>4}  {e['loss']:+.2f}")


def step(device: str, steps: int, batch_size: int | None, seconds: float | None, only: str | None) -> None:
    import resource

    import torch

    from seplive.models.architectures import build
    from seplive.train.config import load_config
    from seplive.train.data import BatchStream, make_sampler
    from seplive.train.losses import separation_loss

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    for name in GPU_PRESETS:
        if only and only not in name:
            continue
        cfg = load_config(ROOT / "presets/train" / name)
        d = cfg.data
        if batch_size:
            d.batch_size = batch_size
        if seconds:
            d.seconds = seconds
        torch.manual_seed(0)
        model = build(cfg.model.architecture, cfg.model.options, sample_rate=d.sample_rate, channels=d.channels)
        model = model.to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)
        n_params = sum(p.numel() for p in model.parameters())
        t0 = time.perf_counter()
        batch = BatchStream(make_sampler(d), d.batch_size).batch(0)
        t_data = time.perf_counter() - t0
        batch = {k: v.to(device) for k, v in batch.items()}
        times = []
        for i in range(steps + (1 if device != "cpu" else 0)):
            sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
            sync()
            t1 = time.perf_counter()
            est = model(batch["mix"], batch["ids"])
            loss, _ = separation_loss(est, batch["targets"], batch["mix"], batch["ids"])
            sync()
            t2 = time.perf_counter()
            opt.zero_grad()
            loss.backward()
            sync()
            t3 = time.perf_counter()
            opt.step()
            sync()
            t4 = time.perf_counter()
            if device == "cpu" or i > 0:  # a GPU's first step includes its warm-up
                times.append((t2 - t1, t3 - t2, t4 - t3))
        fwd, bwd, upd = (sum(t[k] for t in times) / len(times) for k in range(3))
        if device.startswith("cuda"):
            mem = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
        else:
            mem = f", peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB"
        print(f"{name}: {cfg.model.architecture} {cfg.model.options}, {n_params / 1e6:.2f} M parameters; batch "
              f"{d.batch_size} x {d.seconds:g} s x {d.channels} ch at {d.sample_rate} Hz, prompts per item "
              f"{(batch['ids'] >= 0).sum(1).tolist()}; data {t_data:.2f} s; step {fwd + bwd + upd:.2f} s "
              f"(forward+loss {fwd:.2f}, backward {bwd:.2f}, AdamW {upd:.3f}), loss {loss.item():+.2f} dB{mem}")
        del model, opt, batch
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("smoke", "step"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--batch", type=int, help="override the presets' batch size")
    ap.add_argument("--seconds", type=float, help="override the presets' example length")
    ap.add_argument("--only", help="only the presets whose file name contains this")
    ap.add_argument("--max-gb", type=float, default=12.0, help="address-space cap for this process (CPU runs)")
    a = ap.parse_args()
    if a.device == "cpu" and a.max_gb:
        import resource

        cap = int(a.max_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    smoke() if a.what == "smoke" else step(a.device, a.steps, a.batch, a.seconds, a.only)


if __name__ == "__main__":
    main()
