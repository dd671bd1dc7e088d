"""Name -> separator plugin.  Factories are imported lazily so that the DSP plugins never
pull in torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..config import did_you_mean
from .base import Separator, SeparatorError

#: name -> "module:attribute" (imported on first use) or a callable
_FACTORIES: dict[str, str | Callable[..., Separator]] = {
    "identity": "seplive.models.dsp:Identity",
    "center": "seplive.models.dsp:CenterSeparator",
    "hpss": "seplive.models.dsp:HPSSeparator",
    "tuss": "seplive.models.tuss:TussSeparator",
    "lasaft": "seplive.models.lasaft:LasaftSeparator",
    "native": "seplive.models.native:NativeSeparator",
    "dfn3": "seplive.models.dfn3:Dfn3Separator",
    "checkpoint": "seplive.models.trained:open_checkpoint",
}


def register(name: str, factory: str | Callable[..., Separator]) -> None:
    """Add (or replace) a plugin: ``factory`` is a callable or a ``"module:attr"`` string."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    return sorted(_FACTORIES)


def _resolve(name: str) -> Callable[..., Separator]:
    try:
        factory = _FACTORIES[name]
    except KeyError:
        hint = did_you_mean(name, _FACTORIES)
        raise SeparatorError(
            f"unknown model '{name}'{hint}; available: {', '.join(available())}"
        ) from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise SeparatorError(f"model '{name}' is not available here: {exc}") from exc
    return factory


def create(name: str, **options: Any) -> Separator:
    """Build the plugin ``name`` with plugin-specific ``options`` (checkpoint, ...)."""
    factory = _resolve(name)
    return factory(**options)
