"""Trained weights: a model's state_dict + its JSON sidecar (:mod:`seplive.models.sidecar`),
training state kept apart.

``<name>.pt``         the model's ``state_dict`` (``torch.save``; loads with
                      ``torch.load(weights_only=True)``)
``<name>.json``       sidecar: ``{"architecture", "config", "data", "step", "metrics",
                      "seplive_version"}`` where ``config`` is the whole training config
                      (written and read by :mod:`seplive.models.sidecar`)
``<name>.resume.pt``  optimizer, scheduler, step and RNG states (also plain tensors and
                      containers, ``weights_only``-loadable): only for ``--resume``

Files are written to a temporary name and renamed, so a crash mid-save never leaves a
truncated checkpoint behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .architectures import build
from .sidecar import CheckpointError, read_sidecar, sidecar_path, write_sidecar

__all__ = [
    "CheckpointError", "save_weights", "save_resume", "load_resume", "load_model", "load_init", "load_into",
    "read_sidecar", "sidecar_path", "average_weights",
]  # fmt: skip


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_weights(path: str | Path, model: nn.Module, sidecar: dict[str, Any]) -> Path:
    """Write ``model``'s state_dict (on the CPU) and its sidecar; returns the weights path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    _atomic_save(state, path)
    write_sidecar(path, sidecar)
    return path


def save_resume(path: str | Path, state: dict[str, Any]) -> None:
    _atomic_save(state, Path(path))


def load_resume(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no resume state at {path} (train without --resume first)") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is one line
        raise CheckpointError(f"cannot read resume state {path}: {exc}") from None


def load_into(model: nn.Module, weights: str | Path, prefix: str, what: str) -> None:
    """``torch.load(weights_only=True)`` and a strict ``load_state_dict``; one-line errors."""
    try:
        state = torch.load(Path(weights), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{prefix}checkpoint not found: {weights}") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is one line
        raise CheckpointError(f"{prefix}cannot read checkpoint {weights}: {exc}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{prefix}{weights} is not a state_dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{prefix}{weights} does not fit {what}: {' '.join(first[:3])}") from None


def load_model(weights: str | Path, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Build the sidecar's architecture and load the weights into it (eval mode)."""
    meta = read_sidecar(weights)
    data = meta["data"]
    options = meta["config"].get("model", {}).get("options", {})
    model = build(meta["architecture"], options, sample_rate=data["sample_rate"], channels=data["channels"])
    load_into(model, weights, "", "its sidecar's model")
    return model.to(device).eval(), meta


def load_init(model: nn.Module, weights: str | Path, architecture: str, options: dict[str, Any]) -> dict[str, Any]:
    """Load a trained checkpoint into ``model`` to fine-tune it (``train.init_from``).

    The checkpoint's sidecar must name the same architecture and model options as the run,
    and every tensor must fit (strict); otherwise a one-line :class:`CheckpointError`, before
    any step is taken.  Returns what the new sidecar records of it: path and step."""
    if not Path(weights).is_file():
        raise CheckpointError(f"train.init_from: checkpoint not found: {weights}")
    meta = read_sidecar(weights)
    theirs = meta["config"].get("model", {}).get("options", {})
    if meta["architecture"] != architecture or theirs != options:
        raise CheckpointError(
            f"train.init_from {weights} is {meta['architecture']} {theirs}, this run builds {architecture} {options}"
        )
    load_into(model, weights, "train.init_from: ", "the model")
    return {"weights": str(weights), "step": total_steps(meta)}


def total_steps(meta: dict[str, Any]) -> int:
    """The training steps behind a checkpoint: its run's ``step`` plus ``init.step``, the
    steps of the weights it was fine-tuned from (a fine-tune of a fine-tune counts every step)."""
    before = meta.get("init")
    earlier = before.get("step", 0) if isinstance(before, dict) else 0
    return int(meta.get("step", 0)) + int(earlier)


def average_weights(
    sources: list[str | Path], out: str | Path, shares: list[float] | None = None
) -> Path:
    """Write the weighted mean of the checkpoints ``sources`` (a "model soup") to ``out``.

    Every source must load into the network its sidecar names (:func:`load_model`) and all
    must name the same architecture, model options and audio format; ``shares`` (default:
    equal) are the weights of the mean, positive, normalised to sum to 1.  The new sidecar is
    the last source's, with ``averaged``: each source's path, total steps (its fine-tune's
    start counted) and share.  Returns the weights path."""
    if len(sources) < 2:
        raise CheckpointError(f"averaging needs two checkpoints or more, got {len(sources)}")
    shares = [1.0] * len(sources) if shares is None else [float(s) for s in shares]
    if len(shares) != len(sources) or not all(s > 0 for s in shares):
        raise CheckpointError(f"shares: one positive number per checkpoint ({len(sources)}), got {shares}")
    total = sum(shares)
    shares = [s / total for s in shares]
    mean: dict[str, torch.Tensor] = {}
    record, first = [], None
    for path, share in zip(sources, shares, strict=True):
        model, meta = load_model(path)
        what = (meta["architecture"], meta["config"].get("model", {}).get("options", {}), meta["data"].get("sample_rate"),
                meta["data"].get("channels"))
        if first is None:
            first = what
        elif what != first:
            raise CheckpointError(f"{path} is {what}, {sources[0]} is {first}: only one network's weights average")
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                mean[name] = mean.get(name, 0.0) + share * tensor.double()
            else:
                mean.setdefault(name, tensor.clone())
        record.append({"weights": str(path), "steps": total_steps(meta), "share": round(share, 6)})
    dtypes = {k: v.dtype for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.to(dtypes[k]) for k, v in mean.items()})
    meta = {k: v for k, v in meta.items() if k not in ("metrics", "seplive_version")}
    return save_weights(out, model, {**meta, "averaged": record})
