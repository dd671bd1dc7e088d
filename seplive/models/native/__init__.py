"""seplive's own streaming separator: a causal, prompt-conditioned band-split network.

- :class:`NativeNet`: the network (full-sequence causal forward for training,
  :meth:`~NativeNet.step` for streaming); :mod:`.config`: presets ``small`` and ``tiny``.
- :class:`NativeSeparator`: the stateful plugin (``seplive -m native``).
- :func:`load_checkpoint`, :func:`save_checkpoint`: ``.pt`` + ``.json`` sidecar.
"""

from .checkpoint import load_checkpoint, save_checkpoint, shipped_checkpoint
from .config import PRESETS, ConfigError, NativeConfig, make_config
from .model import NativeNet
from .plugin import NativeSeparator

__all__ = [
    "NativeNet",
    "NativeSeparator",
    "NativeConfig",
    "ConfigError",
    "PRESETS",
    "make_config",
    "load_checkpoint",
    "save_checkpoint",
    "shipped_checkpoint",
]
