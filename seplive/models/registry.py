"""Name -> separator plugin.  Factories are imported lazily so that the DSP plugins never
pull in torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import NamedFactories
from .base import Separator, SeparatorError

#: name -> "module:attribute" (imported on first use) or a callable
_FACTORIES: NamedFactories[Callable[..., Separator]] = NamedFactories("model", {
    "identity": "seplive.models.dsp:Identity",
    "center": "seplive.models.dsp:CenterSeparator",
    "hpss": "seplive.models.dsp:HPSSeparator",
    "tuss": "seplive.models.tuss:TussSeparator",
    "lasaft": "seplive.models.lasaft:LasaftSeparator",
    "native": "seplive.models.native:NativeSeparator",
    "dfn3": "seplive.models.dfn3:Dfn3Separator",
    "checkpoint": "seplive.models.trained:open_checkpoint",
}, SeparatorError)


def register(name: str, factory: str | Callable[..., Separator]) -> None:
    """Add (or replace) a plugin: ``factory`` is a callable or a ``"module:attr"`` string."""
    _FACTORIES.register(name, factory)


def available() -> list[str]:
    return _FACTORIES.names()


def factory(name: str) -> Callable[..., Separator]:
    """The factory (usually the plugin class) of ``name``, imported now if named by a string;
    raises :class:`SeparatorError` naming the nearest known name."""
    return _FACTORIES.load(name)


def create(name: str, **options: Any) -> Separator:
    """Build the plugin ``name`` with plugin-specific ``options`` (checkpoint, ...)."""
    return _FACTORIES.load(name)(**options)
