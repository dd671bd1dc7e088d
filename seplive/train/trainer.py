"""The training loop: one process, or one per GPU under ``torchrun`` (DistributedDataParallel).

Each process draws its own shard of the endless synthetic stream (see
:mod:`seplive.train.data`), computes the separation loss (:mod:`seplive.train.losses`),
and DDP averages the gradients.  Rank 0 logs and writes checkpoints every
``train.checkpoint_every`` steps and at the end; ``resume`` restarts from the last one with
the model, optimizer, scheduler, step and RNG states, so the continued run takes exactly
the steps an uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from .architectures import build
from .checkpoint import load_init, load_into, load_resume, save_resume, save_weights
from .config import TrainConfig
from .data import BatchStream, ExampleSource, make_sampler
from .losses import separation_loss

__all__ = ["train", "lr_factor", "resolve_device"]

log = logging.getLogger("seplive.train")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name in ("auto", ""):
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device is '{name}' but torch sees no CUDA device here")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


def lr_factor(step: int, warmup: int, total: int, schedule: str, floor: float, decay: int = 0) -> float:
    """LR multiplier for the update made at ``step`` (0-based): linear warm-up to 1, then
    constant, or a cosine down to ``floor`` at ``total``, or "wsd" (warm-up, stable, decay):
    constant until the last ``decay`` steps, then a cosine to ``floor``.  A wsd run can go on
    at a constant rate over several resumed runs and set its decay once the end is known."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    start = max(total - decay, warmup) if schedule == "wsd" else warmup
    span = max(total - start, 1)
    progress = min(max(step - start, 0) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _dist_env() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    source: ExampleSource | None = None,
    stop_at: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train per ``cfg``, writing checkpoints into ``out_dir``; returns a summary.

    ``source``: the example source (default: the synthetic generator for ``cfg.data``).
    ``stop_at``: leave after that many steps as if interrupted (checkpoint + resume state
    written), for tests of ``resume``.  ``echo``: where progress lines go (rank 0 only;
    default stderr).
    """
    rank, world, local = _dist_env()
    device = resolve_device(cfg.train.device, local)
    distributed = world > 1
    if distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    try:
        return _train(cfg, Path(out_dir), resume, source, stop_at, echo, rank, world, device)
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    out: Path,
    resume: bool,
    source: ExampleSource | None,
    stop_at: int | None,
    echo: Callable[[str], None] | None,
    rank: int,
    world: int,
    device: torch.device,
) -> dict[str, Any]:
    say = echo or (lambda s: print(s, file=sys.stderr, flush=True))
    main = rank == 0
    if main:
        out.mkdir(parents=True, exist_ok=True)
    t, d, o = cfg.train, cfg.data, cfg.optim
    name = t.name
    weights_path, resume_path = out / f"{name}.pt", out / f"{name}.resume.pt"

    torch.manual_seed(t.seed)
    if device.type == "cuda":  # TF32 matmuls: the losses are SNRs capped at 30 dB, far above TF32's error
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = build(cfg.model.architecture, cfg.model.options, sample_rate=d.sample_rate, channels=d.channels).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, o.warmup_steps, t.steps, o.schedule, o.min_lr_ratio, o.decay_steps)
    )
    step, history, init = 0, [], None
    if resume:
        state = load_resume(resume_path)
        load_into(model, weights_path, "--resume: ", "this config's model")
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = int(state["step"])
        history = [list(h) for h in state.get("history", [])]
        _set_rng_state(state["rng"], device)
        init = state.get("init")
        if main:
            say(f"seplive train: resuming {weights_path} at step {step}")
    elif main:
        if weights_path.exists():
            say(f"seplive train: overwriting the checkpoint in {out} (use --resume to continue it)")
        (out / "train_log.jsonl").unlink(missing_ok=True)
    if not resume and t.init_from:
        init = load_init(model, t.init_from, cfg.model.architecture, cfg.model.options)
        if main:
            say(f"seplive train: starting from {t.init_from} (trained {init['step']} steps before)")

    net: nn.Module = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        unused = bool(getattr(model, "ddp_find_unused", False))
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)

    stream = BatchStream(source or make_sampler(d), d.batch_size, step, rank, world, d.fixed_batch)
    loader = DataLoader(
        stream, batch_size=None, num_workers=d.num_workers, pin_memory=device.type == "cuda",
        persistent_workers=False, prefetch_factor=4 if d.num_workers else None,
    )  # fmt: skip
    data_meta = {**asdict(d), "world_size": world, "global_batch": d.batch_size * world}

    def checkpoint(at: int) -> None:
        if not main:
            return
        last = history[-1][1] if history else None
        metrics = {"loss": last, "loss_first": history[0][1] if history else None, "history": history[-200:]}
        sidecar = {"architecture": cfg.model.architecture, "config": cfg.to_dict(), "data": data_meta,
                   "step": at, "metrics": metrics}  # fmt: skip
        if init is not None:  # fine-tuned: the steps before this run
            sidecar["init"] = init
        save_weights(weights_path, model, sidecar)
        save_resume(resume_path, {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": at,
                                  "rng": _rng_state(device), "history": history, "init": init})  # fmt: skip

    end = t.steps if stop_at is None else min(t.steps, stop_at)
    t0 = time.perf_counter()
    window: list[float] = []
    sums = {"active": [0.0, 0], "inactive": [0.0, 0]}  # loss sum and slot count since the last log
    it = iter(loader)
    while step < end:
        batch = next(it)
        mix = batch["mix"].to(device, non_blocking=True)
        ids = batch["ids"].to(device, non_blocking=True)
        targets = batch["targets"].to(device, non_blocking=True)
        est = net(mix, ids)
        parts: dict[str, float] = {}
        loss, _ = separation_loss(
            est, targets, mix, ids, snr_max_db=cfg.loss.snr_max_db, inactive_db=cfg.loss.inactive_db,
            pit=cfg.loss.pit, inactive_weight=cfg.loss.inactive_weight, details=parts,
        )  # fmt: skip
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} at step {step}; lower optim.lr or check the data")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip) if o.grad_clip > 0 else None
        opt.step()
        sched.step()
        step += 1
        value = loss.detach()
        if world > 1:
            dist.all_reduce(value)
            value /= world
        history.append([step, float(value)])
        window.append(float(value))
        for name in ("active", "inactive"):  # this process's slots (what the log line shows)
            if parts[f"{name}_slots"]:
                sums[name][0] += parts[f"{name}_db"] * parts[f"{name}_slots"]
                sums[name][1] += parts[f"{name}_slots"]
        if main and (step % t.log_every == 0 or step == end):
            gn = f" grad {float(grad_norm):.2f}" if grad_norm is not None else ""
            means = {k: (v[0] / v[1] if v[1] else None) for k, v in sums.items()}
            split = " ".join(f"{k} {v:.2f}" for k, v in means.items() if v is not None)
            say(f"step {step}/{t.steps} loss {sum(window) / len(window):.3f} dB ({split}) lr {sched.get_last_lr()[0]:.2e}{gn}")
            with open(out / "train_log.jsonl", "a") as f:
                f.write(json.dumps({"step": step, "loss": sum(window) / len(window), "active_db": means["active"],
                                    "inactive_db": means["inactive"], "lr": sched.get_last_lr()[0],
                                    "wall_s": time.perf_counter() - t0}) + "\n")  # fmt: skip
            window = []
            sums = {"active": [0.0, 0], "inactive": [0.0, 0]}
        if step % t.checkpoint_every == 0 or step == end:
            checkpoint(step)
    if world > 1:
        dist.barrier()
    wall = time.perf_counter() - t0
    if main:
        say(f"seplive train: {step} steps, checkpoint {weights_path} ({wall:.1f} s)")
    return {"step": step, "history": history, "weights": str(weights_path), "wall_s": wall, "world_size": world}

