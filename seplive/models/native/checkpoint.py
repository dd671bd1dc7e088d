"""Native checkpoints: a ``.pt`` state_dict plus a ``.json`` sidecar that names the config.

Layout (``<name>.pt`` and ``<name>.json`` side by side), the one ``seplive train`` writes::

    <name>.pt    {parameter name: float tensor}        (torch.save of model.state_dict())
    <name>.json  {"architecture": "native",
                  "config": {"model": {"architecture": "native", "options": {...}}, ...},
                  "data": {"sample_rate": 48000, "channels": 2, ...}, "step": ..., ...}

``options`` are the model options of :func:`config_from_options` (a ``preset`` and
overrides; :func:`save_checkpoint` writes the whole config there, so the file does not
depend on preset defaults).  The sidecar is written and read by :mod:`seplive.models.sidecar`.  A sidecar whose ``config`` is a bare native
config dict is read too.  Loading is ``torch.load(..., weights_only=True)`` only: a
checkpoint is data, never code.  A state_dict nested under ``"state_dict"`` or ``"model"``
is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..base import SeparatorError
from ..checkpoints import describe_mismatch
from ..sidecar import CheckpointError, sidecar_path
from ..sidecar import read_sidecar as shared_read_sidecar
from ..weights import save_weights
from .config import ConfigError, NativeConfig, make_config
from .model import NativeNet

__all__ = ["save_checkpoint", "load_checkpoint", "read_sidecar", "config_from_options", "shipped_checkpoint", "WEIGHTS_DIR"]

ARCHITECTURE = "native"
#: where the shipped (trained) weights live: package data of seplive.models.native (the
#: wheel installs the package as plain files, so the resource is a real folder)
WEIGHTS_DIR = Path(str(resources.files(__package__).joinpath("weights")))


def config_from_options(options: dict[str, Any], sample_rate: int = 48000, channels: int = 2) -> NativeConfig:
    """The network config of a training config's ``[model.options]`` (``preset`` plus
    overrides) for audio at ``sample_rate`` Hz with ``channels`` channels (given options
    must agree with them); raises :class:`ConfigError`."""
    opts = dict(options)
    preset = opts.pop("preset", "small")
    for key, value in (("sample_rate", sample_rate), ("channels", channels)):
        if key in opts and opts[key] != value:
            raise ConfigError(f"native: model option {key}={opts[key]} disagrees with the data ({value})")
        opts[key] = int(value)
    return make_config(str(preset), **opts)


def save_checkpoint(model: NativeNet, path: str | Path, **info: Any) -> Path:
    """Write ``path`` (state_dict) and its ``.json`` sidecar; ``info`` goes into the sidecar."""
    options = model.cfg.to_dict()
    data = {"sample_rate": options.pop("sample_rate"), "channels": options.pop("channels")}
    meta = {
        "architecture": ARCHITECTURE,
        "config": {"model": {"architecture": ARCHITECTURE, "options": options}},
        "data": data,
        "parameters": model.parameter_count(),
        **info,
    }
    return save_weights(path, model, meta)


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The sidecar of checkpoint ``path`` (validated: architecture and config present)."""
    try:
        meta = shared_read_sidecar(path, required=("architecture", "config"))
    except CheckpointError as exc:
        raise SeparatorError(f"native: {exc}") from None
    arch = meta.get("architecture")
    if arch != ARCHITECTURE:
        side = sidecar_path(path)
        raise SeparatorError(f"native: {side.name} is for architecture {arch!r}, not '{ARCHITECTURE}'")
    return meta


def config_of(meta: Mapping[str, Any]) -> NativeConfig:
    """The network config a sidecar describes (trainer layout or a bare config dict)."""
    conf = meta["config"]
    if "model" not in conf:
        return make_config(dict(conf))
    model = conf["model"]
    options = model.get("options", {}) if isinstance(model, Mapping) else None
    data = meta.get("data", {})
    if not isinstance(options, Mapping) or not isinstance(data, Mapping):
        raise ConfigError("'config.model.options' and 'data' must be objects")
    return config_from_options(dict(options), int(data.get("sample_rate", 48000)), int(data.get("channels", 2)))


def _read_tensors(p: Path) -> Mapping[str, torch.Tensor]:
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # garbage, text, pickles with code: all refused the same way
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise SeparatorError(f"native: {p} is not a readable weights file ({type(exc).__name__}: {first})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not obj:
        raise SeparatorError(f"native: {p} holds {type(obj).__name__}, expected a state_dict of tensors")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise SeparatorError(f"native: {p} has {len(bad)} entries that are not named tensors (e.g. {bad[0]})")
    return obj


def _check_size(cfg: NativeConfig, weights: Path) -> None:
    """Refuse a sidecar whose network the weights file cannot hold, before allocating it
    (issue #24: a sidecar asking for a 30 GB model was built, then refused)."""
    try:
        with torch.device("meta"):  # shapes only, no memory
            params = NativeNet(cfg).parameter_count()
    except ConfigError:
        raise
    except Exception:  # noqa: S110 - the real build below says what is wrong
        return
    size = weights.stat().st_size
    if params * 2 > size * 1.05 + (1 << 20):  # not even at 16 bits a parameter
        raise ConfigError(f"asks for a network of {params:,} parameters ({params * 4 / 1e9:.1f} GB as float32),"
                          f" but {weights.name} holds {size / 1e6:.1f} MB")


def load_checkpoint(path: str | Path, device: str = "cpu") -> NativeNet:
    """Build the network the sidecar describes and load ``path`` into it, strictly.

    Every failure is a :class:`SeparatorError` with one line saying why.
    """
    p = Path(path)
    if p.suffix == ".json":  # the sidecar given instead of the weights
        p = p.with_suffix(".pt")
    if not p.is_file():
        raise SeparatorError(f"native: checkpoint not found: {p}")
    meta = read_sidecar(p)
    try:
        cfg = config_of(meta)
        _check_size(cfg, p)
        model = NativeNet(cfg)
    except ConfigError as exc:
        raise SeparatorError(f"native: {sidecar_path(p).name}: {exc}") from None
    tensors = dict(_read_tensors(p))
    # a model saved while wrapped (``model.`` / ``net.`` prefixes) still loads
    for prefix in ("model.", "net.", "module."):
        if tensors and all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
    expected = model.state_dict()
    why = describe_mismatch(expected, tensors)
    if why:
        raise SeparatorError(f"native: {p.name} does not fit the config in its sidecar: {why}")
    not_float = [k for k, v in tensors.items() if not v.is_floating_point()]
    if not_float:
        raise SeparatorError(f"native: {p.name}: {len(not_float)} tensors are not floating point (e.g. {not_float[0]})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    model.checkpoint_info = meta
    return model.to(device).eval()


def shipped_checkpoint() -> Path:
    """The trained weights shipped with seplive, or a one-line error saying there are none."""
    found = sorted(WEIGHTS_DIR.glob("*.pt"))
    if not found:
        raise SeparatorError(
            "native: no trained weights ship with this version of seplive yet; "
            "train the native model and pass --checkpoint PATH.pt (with its .json sidecar)"
        )
    return found[0]
