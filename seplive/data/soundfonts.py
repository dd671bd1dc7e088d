"""Finding and loading General MIDI soundfonts.

The generator must run where there is no apt (the GPU machine) as well as on a Debian box with
soundfont packages, so soundfonts are found on a search path: the ``SEPLIVE_SOUNDFONTS``
environment variable (files or folders, ``os.pathsep``-separated) first, then the folders Debian
packages install into.  Loaded soundfonts are cached per process: parsing a 20 MB sf2 costs more
than rendering a whole song.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from .heldout import is_heldout

ENV_VAR = "SEPLIVE_SOUNDFONTS"

#: where Debian's soundfont packages put their files (fluid-soundfont-gm, timgm6mb-soundfont,
#: csound-soundfont, avldrums.lv2-soundfont, musescore-general-soundfont-small)
SYSTEM_DIRS: tuple[str, ...] = (
    "/usr/share/sounds/sf2",
    "/usr/share/sounds/sf3",
    "/usr/share/soundfonts",
    "/usr/share/samples",
    "/usr/lib/lv2/avldrums.lv2",
)

SUFFIXES = (".sf2", ".sf3")

#: a soundfont with fewer General MIDI programs than this and no drum bank is taken for a
#: drum-kit soundfont (the avldrums kits have exactly one preset, a GM-mapped kit)
_MIN_GM_PROGRAMS = 16


class SoundfontNotFound(RuntimeError):
    """No usable soundfont on the search path (message says where it looked and what to do)."""


@dataclass(frozen=True)
class Soundfont:
    """One soundfont file and what it offers: melodic GM programs and drum kits (bank, preset)."""

    path: str
    programs: frozenset[int] = field(default_factory=frozenset)
    kits: tuple[tuple[int, int], ...] = ()

    @property
    def name(self) -> str:
        return Path(self.path).stem


def search_path() -> list[Path]:
    """The places searched, in order: ``$SEPLIVE_SOUNDFONTS`` entries, then the system folders."""
    entries = [p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    return [Path(p).expanduser() for p in entries] + [Path(p) for p in SYSTEM_DIRS]


def soundfont_files() -> list[Path]:
    """Every soundfont file on the search path, deduplicated by real path, in a stable order;
    nothing in the real-recording panel's held-out folders (``seplive.data.panel``)."""
    seen: dict[str, Path] = {}
    for entry in search_path():
        if is_heldout(entry):  # the real-recording panel's folders are never training material
            continue
        if entry.is_file() and entry.suffix.lower() in SUFFIXES:
            found = [entry]
        elif entry.is_dir():
            found = sorted(p for p in entry.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
        else:
            found = []
        for p in found:
            real = os.path.realpath(p)
            if is_heldout(real):
                continue
            if "default-gm" in p.name.lower():  # Debian's alternatives link to another file here
                continue
            seen.setdefault(real, p)
    return sorted(seen.values(), key=lambda p: (p.name, str(p)))


@lru_cache(maxsize=16)
def _file_bytes(path: str) -> bytes:
    """The soundfont's bytes, read once per process (the disk read dominates a fresh load)."""
    return Path(path).read_bytes()


def _synth_and_id(path: str, sample_rate: int):
    """A fresh tinysoundfont synth with ``path`` loaded.

    Fresh on every call on purpose: a synth carries voices and channel state from whatever it
    played before, and a rendered stem must not depend on the order songs were rendered in.
    """
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=int(sample_rate))
    sfid = synth.sfload(_file_bytes(path))
    return synth, sfid


@cache
def describe(path: str) -> Soundfont:
    """What ``path`` offers; raises SoundfontNotFound naming the file if it cannot be parsed."""
    try:
        synth, sfid = _synth_and_id(path, 44100)
    except Exception as exc:  # tinysoundfont raises its own exception types
        raise SoundfontNotFound(f"cannot load soundfont {path}: {exc}") from None
    programs = frozenset(p for p in range(128) if synth.sfpreset_name(sfid, 0, p))
    kits = [(128, p) for p in range(128) if synth.sfpreset_name(sfid, 128, p)]
    if not kits and len(programs) < _MIN_GM_PROGRAMS:
        kits = [(0, p) for p in sorted(programs)]
        programs = frozenset()
    return Soundfont(path=path, programs=programs, kits=tuple(kits))


def available() -> list[Soundfont]:
    """Usable soundfonts on the search path (unreadable files are skipped)."""
    out = []
    for p in soundfont_files():
        try:
            out.append(describe(str(p)))
        except SoundfontNotFound:
            continue
    return out


def require() -> tuple[list[Soundfont], list[Soundfont]]:
    """(melodic soundfonts, soundfonts with drum kits); raises SoundfontNotFound if none melodic."""
    fonts = available()
    melodic = [f for f in fonts if f.programs]
    drums = [f for f in fonts if f.kits]
    if not melodic:
        where = ", ".join(str(p) for p in search_path())
        raise SoundfontNotFound(
            f"no General MIDI soundfont found (looked in {where}); install timgm6mb-soundfont or "
            f"csound-soundfont, or set {ENV_VAR}=/path/to/font.sf2"
        )
    return melodic, drums or melodic


def synth_for(path: str, sample_rate: int):
    """A fresh (synth, soundfont id) for ``path`` at ``sample_rate`` (file bytes cached)."""
    return _synth_and_id(path, int(sample_rate))
