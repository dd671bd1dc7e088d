"""Checkpoint sidecars: the JSON object ``<name>.json`` beside the weights ``<name>.pt`` that
says which network the weights fit.

Every trained checkpoint has one (``seplive train`` and
:func:`seplive.models.native.checkpoint.save_checkpoint` write them here, the loaders read
them here)::

    {"architecture": "native", "config": {"model": {"architecture", "options"}, ...},
     "data": {"sample_rate": 48000, "channels": 2, ...}, "step": ..., "seplive_version": ...}

A sidecar is written to a temporary name and renamed, so a crash never leaves half of one;
one over 1 MiB is refused unread (a sidecar is a small object).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import __version__

__all__ = ["CheckpointError", "sidecar_path", "write_sidecar", "read_sidecar", "MAX_BYTES"]

#: the largest sidecar read (bytes)
MAX_BYTES = 1 << 20


class CheckpointError(ValueError):
    """A checkpoint or its sidecar is missing or unreadable (one line)."""


def sidecar_path(weights: str | Path) -> Path:
    """``<name>.json`` for the weights ``<name>.pt``."""
    return Path(weights).with_suffix(".json")


def write_sidecar(weights: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``meta`` plus ``seplive_version`` as the sidecar of ``weights`` (atomically)."""
    side = sidecar_path(weights)
    tmp = side.with_name(f".{side.name}.partial")
    tmp.write_text(json.dumps({**meta, "seplive_version": __version__}, indent=2) + "\n")
    os.replace(tmp, side)
    return side


def read_sidecar(weights: str | Path, required: tuple[str, ...] = ("architecture", "config", "data")) -> dict[str, Any]:
    """The sidecar of ``weights`` as a dict holding every key of ``required`` (``config`` and
    ``data`` objects); any failure is a one-line :class:`CheckpointError`."""
    side = sidecar_path(weights)
    try:
        if side.stat().st_size > MAX_BYTES:
            raise CheckpointError(f"sidecar {side} is over 1 MiB; a sidecar is a small JSON object")
        meta = json.loads(side.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {weights} has no sidecar {side.name} (it names the architecture and config)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"cannot read sidecar {side}: {exc}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"sidecar {side} must hold a JSON object")
    for key in required:
        if key not in meta:
            raise CheckpointError(f"sidecar {side} lacks '{key}'")
        if key in ("config", "data") and not isinstance(meta[key], dict):
            raise CheckpointError(f"sidecar {side}: '{key}' must be an object")
    return meta
