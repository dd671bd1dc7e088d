"""What checkpoint loaders share: naming how a state_dict differs from what a model needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: keys named in a message, at most
MAX_LISTED = 3


def _listing(items: list[str]) -> str:
    more = len(items) - MAX_LISTED
    return ", ".join(items[:MAX_LISTED]) + (f" (+{more} more)" if more > 0 else "")


def describe_mismatch(expected: Mapping[str, Any], got: Mapping[str, Any], key_prefix: str = "") -> str | None:
    """One line naming the missing, unexpected and mis-shaped keys of ``got`` against
    ``expected`` (tensors or anything with ``.shape``), or None when they agree.

    ``key_prefix`` is put before every key named, so messages show keys as they are
    written in the user's file (e.g. ``model.``).
    """
    missing = [key_prefix + k for k in expected if k not in got]
    unexpected = [key_prefix + k for k in got if k not in expected]
    shaped = [
        f"{key_prefix}{k} {list(got[k].shape)} vs expected {list(expected[k].shape)}"
        for k in expected
        if k in got and tuple(got[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    if missing:
        parts.append(f"missing keys: {len(missing)} (e.g. {_listing(missing)})")
    if unexpected:
        parts.append(f"unexpected keys: {len(unexpected)} (e.g. {_listing(unexpected)})")
    if shaped:
        parts.append(f"mis-shaped: {len(shaped)} (e.g. {_listing(shaped)})")
    return "; ".join(parts) or None
