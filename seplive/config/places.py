"""Where seplive's files live: the shipped presets and the user's config folder."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import platformdirs

#: ``presets/`` at the top of a source checkout (this file is seplive/config/places.py)
_CHECKOUT = Path(__file__).resolve().parents[2] / "presets"


def _installed() -> list[Path]:
    """Where pip put the wheel's data files (``share/seplive/presets``): the environment's
    prefix, then the user's (``pip install --user``)."""
    roots = [sysconfig.get_path("data")]
    try:
        roots.append(sysconfig.get_path("data", sysconfig.get_preferred_scheme("user")))
    except (KeyError, ValueError):  # no user scheme here
        pass
    return [Path(r) / "share" / "seplive" / "presets" for r in roots if r]


def shipped_dir(sub: str = "") -> Path | None:
    """The shipped ``presets/<sub>`` folder: a source checkout's, else the installed wheel's;
    None when neither holds a ``.toml`` file.  (The presets ship beside the package as data
    files, not inside it, so they are found by path rather than importlib.resources.)"""
    for base in [_CHECKOUT, *_installed()]:
        d = base / sub if sub else base
        if d.is_dir() and any(d.glob("*.toml")):
            return d
    return None


def user_config_dir() -> Path:
    """The user's seplive config folder: ``$XDG_CONFIG_HOME/seplive`` (``~/.config/seplive``)
    on Linux, the platform's own elsewhere (platformdirs)."""
    return Path(platformdirs.user_config_dir("seplive", appauthor=False))
