"""The real-recording panel's held-out folders (``seplive.data.panel``) and the test the
training generator applies to every path it would read: nothing inside them is training material.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

#: the recordings' folders, by source: ``root key -> (package, where it lives)``; a pyo folder is
#: relative to the installed pyo package
HELDOUT_FOLDERS: dict[str, tuple[str, str]] = {
    "alsa": ("alsa-utils (Debian)", "/usr/share/sounds/alsa"),
    "pyo-lib": ("pyo (PyPI)", "pyo:lib/snds"),
    "pyo-examples": ("pyo (PyPI)", "pyo:examples/snds"),
    "sonic-pi": ("sonic-pi-samples (Debian)", "/usr/share/sonic-pi/samples"),
    "lmms": ("lmms-common (Debian)", "/usr/share/lmms/samples"),
}


@lru_cache(maxsize=1)
def _pyo_dir() -> Path | None:
    spec = importlib.util.find_spec("pyo")  # the folder without importing pyo (no audio libraries)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_folder(root: str) -> Path | None:
    """Where the held-out folder ``root`` (a key of :data:`HELDOUT_FOLDERS`) lives here; None
    for a pyo folder where pyo is not installed."""
    where = HELDOUT_FOLDERS[root][1]
    if where.startswith("pyo:"):
        base = _pyo_dir()
        return None if base is None else base / where.removeprefix("pyo:")
    return Path(where)


def heldout_folders() -> list[Path]:
    """The held-out folders as they resolve on this machine (pyo's only where pyo is installed)."""
    return [p for p in (resolve_folder(r) for r in HELDOUT_FOLDERS) if p is not None]


def is_heldout(path: str | os.PathLike) -> bool:
    """Whether ``path`` is one of the panel's folders or inside one (real paths compared):
    the training generator must not read it."""
    real = Path(os.path.realpath(path))
    for folder in heldout_folders():
        f = Path(os.path.realpath(folder))
        if real == f or f in real.parents:
            return True
    return False
