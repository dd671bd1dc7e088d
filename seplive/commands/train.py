"""``seplive train``: train a model from a TOML config (the flags and the work are
seplive.train.cli's)."""

from __future__ import annotations

from ..train.cli import add_arguments, main

__all__ = ["PARSER", "add_arguments", "main"]

PARSER = {
    "help": "train a separation model on generated data (TOML config)",
    "description": "Train a model from a TOML config (presets/train/*.toml) on data generated on the fly; leaves"
    " model.pt (weights only) and model.json (what and how) in --out. Several GPUs or nodes: torchrun"
    " --nproc_per_node=N -m seplive train ...",
}
