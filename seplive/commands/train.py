"""``seplive train --config FILE [--out DIR] [--resume]``.

Multi-GPU / multi-node: start the same command under ``torchrun`` (e.g.
``torchrun --nproc_per_node=8 -m seplive train --config presets/train/tuss-gpu.toml``);
each process takes its rank from the environment torchrun sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["PARSER", "add_arguments", "main"]

PARSER = {
    "help": "train a separation model on generated data (TOML config)",
    "description": "Train a model from a TOML config (presets/train/*.toml) on data generated on the fly; leaves"
    " model.pt (weights only) and model.json (what and how) in --out. Several GPUs or nodes: torchrun"
    " --nproc_per_node=N -m seplive train ...",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="training config (TOML; see presets/train/)")
    p.add_argument("--out", metavar="DIR", help="folder for checkpoints and the log (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out (model, optimizer, step)")
    p.add_argument("--steps", type=int, metavar="N", help="override train.steps")
    p.add_argument("--device", help="override train.device (auto, cpu, cuda, cuda:1 ...)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def main(args: argparse.Namespace) -> int:
    from ..train.config import ConfigError, load_config

    cfg = load_config(args.config)
    if args.steps is not None:
        if args.steps <= 0:
            raise ConfigError(f"--steps must be > 0, got {args.steps}")
        cfg.train.steps = args.steps
    if args.device:
        cfg.train.device = args.device
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    from ..models.architectures import get_builder

    get_builder(cfg.model.architecture)  # an unknown name fails before any data is made
    from ..train.trainer import train

    echo = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    train(cfg, out, resume=args.resume, echo=echo)
    return 0
