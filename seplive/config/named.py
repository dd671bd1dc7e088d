"""Name -> factory tables whose entries may be ``"module:attribute"`` strings, imported on
first use (so that naming a plugin or an architecture never imports torch before it is
asked for).  One implementation for the plugin registry and the training architectures."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from .suggest import did_you_mean

F = TypeVar("F", bound=Callable[..., Any])


class NamedFactories(Generic[F]):
    """``what``: the word errors use ("model", "architecture"); ``error``: the exception
    raised, with one line naming the unknown name, the nearest known one and the list."""

    def __init__(self, what: str, entries: dict[str, str | F], error: type[Exception], listing: str = "available") -> None:
        self.what = what
        self.error = error
        self.listing = listing
        self._entries: dict[str, str | F] = dict(entries)

    def register(self, name: str, factory: str | F) -> None:
        """Add or replace ``name``: a callable or a ``"module:attribute"`` string."""
        self._entries[name] = factory

    def names(self) -> list[str]:
        return sorted(self._entries)

    # a mapping's item access to the raw entries (tests swap an entry with monkeypatch)
    def __getitem__(self, name: str) -> str | F:
        return self._entries[name]

    def __setitem__(self, name: str, factory: str | F) -> None:
        self.register(name, factory)

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def get(self, name: str, default: Any = None) -> str | F | Any:
        """The raw entry (a callable or its ``"module:attr"``), or ``default``."""
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterable[str]:
        return iter(self.names())

    def load(self, name: str) -> F:
        """The factory for ``name``, imported now if it was named by a string."""
        try:
            entry = self._entries[name]
        except KeyError:
            hint = did_you_mean(name, self._entries)
            raise self.error(f"unknown {self.what} '{name}'{hint}; {self.listing}: {', '.join(self.names())}") from None
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            try:
                entry = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise self.error(f"{self.what} '{name}' is not available here: {exc}") from exc
        return entry
