"""The native network for the trainer (:mod:`seplive.models.architectures` name ``native``).

``build(options, sample_rate=, channels=)`` takes the ``[model.options]`` table of a
training config: ``preset`` (``small``, the default, or ``tiny``) plus any
:class:`~seplive.models.native.config.NativeConfig` key to override.  The rate and the
channel count come from the data (they may also be given, if they agree).
"""

from __future__ import annotations

from typing import Any

from .checkpoint import config_from_options
from .model import NativeNet

__all__ = ["build", "config_from_options"]


def build(options: dict[str, Any], sample_rate: int = 48000, channels: int = 2) -> NativeNet:
    """A freshly initialised :class:`NativeNet` (raises :class:`ConfigError`, a ValueError)."""
    return NativeNet(config_from_options(options, sample_rate, channels))
