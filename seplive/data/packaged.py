"""Where the recordings that training reads from Debian packages are found.

On Debian they sit where the packages put them (``/usr/share/...``).  A machine without apt
(a lent GPU box) gets a copy of just what training reads, at the same paths under one folder
named by ``SEPLIVE_PACKAGES`` (``$SEPLIVE_PACKAGES/usr/share/hydrogen/...``);
``scripts/pack_recordings.py`` makes that copy, ``scripts/gpu_train.sh`` carries it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SEPLIVE_PACKAGES"


def packaged(path: str) -> Path:
    """``path`` (absolute, as a package installs it) under ``$SEPLIVE_PACKAGES`` when set."""
    root = os.environ.get(ENV_VAR, "").strip()
    return Path(root) / path.lstrip("/") if root else Path(path)
