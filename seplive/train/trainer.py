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

from ..models.architectures import build
from ..models.weights import load_init, load_into, load_resume, save_resume, save_weights
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


class _Run:
    """One training run's state on this process: the model (and its DDP wrapper), optimizer,
    LR schedule, step, loss history (``[step, loss in dB]``) and the fine-tune origin."""

    def __init__(self, cfg: TrainConfig, out: Path, rank: int, world: int, device: torch.device,
                 say: Callable[[str], None]) -> None:  # fmt: skip
        self.cfg, self.out, self.world, self.device, self.say = cfg, out, world, device, say
        self.main = rank == 0
        t, d, o = cfg.train, cfg.data, cfg.optim
        self.weights_path, self.resume_path = out / f"{t.name}.pt", out / f"{t.name}.resume.pt"
        torch.manual_seed(t.seed)
        if device.type == "cuda":  # TF32 matmuls: the losses are SNRs capped at 30 dB, far above TF32's error
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        model = build(cfg.model.architecture, cfg.model.options, sample_rate=d.sample_rate, channels=d.channels)
        self.model = model.to(device)
        self.model.train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, o.warmup_steps, t.steps, o.schedule, o.min_lr_ratio, o.decay_steps)
        )
        self.step, self.history, self.init = 0, [], None
        self.data_meta = {**asdict(d), "world_size": world, "global_batch": d.batch_size * world}
        self.net: nn.Module = self.model

    def start(self, resume: bool) -> None:
        """Restore the resume state (``resume``) or start afresh, from ``train.init_from`` if set;
        then wrap the model in DDP when there are several processes."""
        t, say = self.cfg.train, self.say
        if resume:
            self._restore()
        elif self.main:
            if self.weights_path.exists():
                say(f"seplive train: overwriting the checkpoint in {self.out} (use --resume to continue it)")
            (self.out / "train_log.jsonl").unlink(missing_ok=True)
        if not resume and t.init_from:
            self.init = load_init(self.model, t.init_from, self.cfg.model.architecture, self.cfg.model.options)
            if self.main:
                say(f"seplive train: starting from {t.init_from} (trained {self.init['step']} steps before)")
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            unused = bool(getattr(self.model, "ddp_find_unused", False))
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=unused)

    def _restore(self) -> None:
        state = load_resume(self.resume_path)
        load_into(self.model, self.weights_path, "--resume: ", "this config's model")
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.history = [list(h) for h in state.get("history", [])]
        _set_rng_state(state["rng"], self.device)
        self.init = state.get("init")
        if self.main:
            self.say(f"seplive train: resuming {self.weights_path} at step {self.step}")

    def update(self, batch: dict[str, torch.Tensor]) -> tuple[float, dict[str, float], Any]:
        """One optimizer step on ``batch``: the loss (dB, averaged over processes), this
        process's loss details and the gradient norm before clipping (None unclipped)."""
        cfg, device = self.cfg, self.device
        mix = batch["mix"].to(device, non_blocking=True)
        ids = batch["ids"].to(device, non_blocking=True)
        targets = batch["targets"].to(device, non_blocking=True)
        est = self.net(mix, ids)
        parts: dict[str, float] = {}
        loss, _ = separation_loss(
            est, targets, mix, ids, snr_max_db=cfg.loss.snr_max_db, inactive_db=cfg.loss.inactive_db,
            pit=cfg.loss.pit, inactive_weight=cfg.loss.inactive_weight, details=parts,
        )  # fmt: skip
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} at step {self.step}; lower optim.lr or check the data")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        clip = cfg.optim.grad_clip
        grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), clip) if clip > 0 else None
        self.opt.step()
        self.sched.step()
        self.step += 1
        value = loss.detach()
        if self.world > 1:
            dist.all_reduce(value)
            value /= self.world
        self.history.append([self.step, float(value)])
        return float(value), parts, grad_norm

    def checkpoint(self, at: int) -> None:
        """Write the weights, the sidecar and the resume state at step ``at`` (rank 0 only)."""
        if not self.main:
            return
        history = self.history
        last = history[-1][1] if history else None
        metrics = {"loss": last, "loss_first": history[0][1] if history else None, "history": history[-200:]}
        sidecar = {"architecture": self.cfg.model.architecture, "config": self.cfg.to_dict(), "data": self.data_meta,
                   "step": at, "metrics": metrics}  # fmt: skip
        if self.init is not None:  # fine-tuned: the steps before this run
            sidecar["init"] = self.init
        save_weights(self.weights_path, self.model, sidecar)
        save_resume(self.resume_path, {"optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                                       "step": at, "rng": _rng_state(self.device), "history": history,
                                       "init": self.init})  # fmt: skip


class _Progress:
    """The progress lines and ``train_log.jsonl``: mean loss (dB) and the active/inactive slot
    losses since the last line, the learning rate and the wall time (s) since the start."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.t0 = time.perf_counter()
        self._clear()

    def _clear(self) -> None:
        self.window: list[float] = []
        self.sums = {"active": [0.0, 0], "inactive": [0.0, 0]}  # loss sum and slot count since the last log

    def add(self, value: float, parts: dict[str, float]) -> None:
        self.window.append(value)
        for name in ("active", "inactive"):  # this process's slots (what the log line shows)
            if parts[f"{name}_slots"]:
                self.sums[name][0] += parts[f"{name}_db"] * parts[f"{name}_slots"]
                self.sums[name][1] += parts[f"{name}_slots"]

    def log(self, grad_norm: Any) -> None:
        run = self.run
        lr = run.sched.get_last_lr()[0]
        loss = sum(self.window) / len(self.window)
        gn = f" grad {float(grad_norm):.2f}" if grad_norm is not None else ""
        means = {k: (v[0] / v[1] if v[1] else None) for k, v in self.sums.items()}
        split = " ".join(f"{k} {v:.2f}" for k, v in means.items() if v is not None)
        run.say(f"step {run.step}/{run.cfg.train.steps} loss {loss:.3f} dB ({split}) lr {lr:.2e}{gn}")
        with open(run.out / "train_log.jsonl", "a") as f:
            f.write(json.dumps({"step": run.step, "loss": loss, "active_db": means["active"],
                                "inactive_db": means["inactive"], "lr": lr,
                                "wall_s": time.perf_counter() - self.t0}) + "\n")  # fmt: skip
        self._clear()


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
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    t, d = cfg.train, cfg.data
    run = _Run(cfg, out, rank, world, device, say)
    run.start(resume)
    stream = BatchStream(source or make_sampler(d), d.batch_size, run.step, rank, world, d.fixed_batch)
    loader = DataLoader(
        stream, batch_size=None, num_workers=d.num_workers, pin_memory=device.type == "cuda",
        persistent_workers=False, prefetch_factor=4 if d.num_workers else None,
    )  # fmt: skip
    end = t.steps if stop_at is None else min(t.steps, stop_at)
    progress = _Progress(run)
    it = iter(loader)
    while run.step < end:
        value, parts, grad_norm = run.update(next(it))
        progress.add(value, parts)
        if run.main and (run.step % t.log_every == 0 or run.step == end):
            progress.log(grad_norm)
        if run.step % t.checkpoint_every == 0 or run.step == end:
            run.checkpoint(run.step)
    if world > 1:
        dist.barrier()
    wall = time.perf_counter() - progress.t0
    if run.main:
        say(f"seplive train: {run.step} steps, checkpoint {run.weights_path} ({wall:.1f} s)")
    return {"step": run.step, "history": run.history, "weights": str(run.weights_path), "wall_s": wall,
            "world_size": world}  # fmt: skip
