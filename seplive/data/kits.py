"""Real multi-sampled drum kits for *training*: Debian's ``hydrogen-drumkits``.

Hydrogen's kits are folders of recorded hits (one file per hit and velocity layer) described
by a ``drumkit.xml``.  This module reads those descriptions, maps each General MIDI drum note
of a song's drum part to a kit piece by the piece's name (kick, snare, side stick, hi-hats
closed, pedal and open, three toms, crash, ride and its bell, clap, cowbell, tambourine), and
renders the part by placing the recorded hits: the velocity picks the layer (soft and hard
hits are different recordings) and scales it, an open hi-hat is choked by the next closed or
pedal one, mono hits are panned as a drummer's kit is seen from the audience.

A kit is usable when it has at least a kick, a snare and a closed hi-hat (so the
percussion-only kits, African drums and hand percussion, are left out); a missing piece
falls back to a near one (pedal hat -> closed hat, a missing tom -> another tom, ride <->
crash), or the note is dropped.  ``available()`` says whether the package is installed
(``scripts/setup.sh`` installs it); none of its folders is a panel source.  Hits are decoded
and resampled on first use and cached per process.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .packaged import packaged

__all__ = ["KIT_ROOT", "NEEDS", "Kit", "kits", "available", "render_drums", "piece_of", "read_kit"]

KIT_ROOT = packaged("/usr/share/hydrogen/data/drumkits")

#: General MIDI drum note -> kit piece
GM_PIECES = {35: "kick", 36: "kick", 37: "stick", 38: "snare", 39: "clap", 40: "snare", 41: "tom_low",
             42: "hat_closed", 43: "tom_low", 44: "hat_pedal", 45: "tom_mid", 46: "hat_open", 47: "tom_mid",
             48: "tom_high", 49: "crash", 50: "tom_high", 51: "ride", 52: "crash", 53: "ride_bell", 54: "tambourine",
             55: "crash", 56: "cowbell", 57: "crash", 59: "ride"}  # fmt: skip
#: a piece the kit lacks -> the pieces to try instead, in order
FALLBACK = {"stick": ("snare",), "clap": ("snare",), "hat_pedal": ("hat_closed",), "hat_open": ("hat_closed",),
            "tom_low": ("tom_mid", "tom_high"), "tom_mid": ("tom_low", "tom_high"), "tom_high": ("tom_mid", "tom_low"),
            "ride": ("crash", "hat_closed"), "ride_bell": ("ride", "crash"), "crash": ("ride",),
            "tambourine": ("hat_closed",), "cowbell": ()}  # fmt: skip
#: where a mono hit sits (-1 left .. 1 right), seen from the audience with a right-handed drummer
PANS = {"hat_closed": -0.35, "hat_pedal": -0.35, "hat_open": -0.35, "tom_high": -0.2, "tom_mid": 0.1,
        "tom_low": 0.4, "crash": -0.5, "ride": 0.5, "ride_bell": 0.5, "cowbell": 0.2, "tambourine": -0.3}
#: what to install when they are missing
NEEDS = "Debian's hydrogen-drumkits (scripts/setup.sh installs it; or a copy under $SEPLIVE_PACKAGES)"
CHOKE_S = 0.012  # an open hat's fade when the next closed or pedal hat closes it
MAX_HIT_S = 4.0  # no hit rings longer (cymbals are cut with a fade)


@dataclass(frozen=True)
class Layer:
    path: Path
    low: float  # velocity range 0..1
    high: float
    gain: float


@dataclass(frozen=True)
class Kit:
    name: str
    pieces: dict  # piece -> tuple of instruments, each a tuple of Layers

    def layers(self, piece: str, choice: int) -> tuple[Layer, ...] | None:
        """The layers of the piece (or of its fallback); ``choice`` picks among equal instruments."""
        for p in (piece, *FALLBACK.get(piece, ())):
            if p in self.pieces:
                options = self.pieces[p]
                return options[choice % len(options)]
        return None


def piece_of(name: str) -> str | None:
    """The kit piece a Hydrogen instrument name is (None: not one a GM part plays)."""
    n = name.lower()
    words = set(re.findall(r"[a-z]+", n))
    if "kick" in n or "bass drum" in n or "bassdrum" in n or "bd" in words:
        return "kick"
    if "clap" in n:
        return "clap"
    if "rim click" in n or "side stick" in n or words & {"stick"}:
        return "stick"
    if "snare" in n:
        return None if "roll" in n else "snare"
    if "hat" in n or "hh" in words or "ohh" in words:
        if words & {"choke", "swish", "free", "side"}:
            return None
        if words & {"pedal", "pd", "foot"}:
            return "hat_pedal"
        if words & {"open", "opened", "op", "semi", "ohh"}:
            return "hat_open"
        return "hat_closed"
    if "tom" in n:
        if words & {"floor", "low", "lo"}:
            return "tom_low"
        if words & {"hi", "high"} or re.search(r"tom ?1\b", n):
            return "tom_high"
        return "tom_mid"
    if "ride" in n:
        return "ride_bell" if words & {"bell", "cup"} else "ride"
    if words & {"crash", "splash", "china", "cymbal"}:
        return None if "choke" in words else "crash"
    if "cowbell" in n:
        return "cowbell"
    if "tambourine" in n:
        return "tambourine"
    return None


def _float(el, tag: str, default: float) -> float:
    try:
        return float(el.findtext(tag, default=str(default)))
    except ValueError:
        return default


def read_kit(xml_path: Path) -> Kit | None:
    """The kit a ``drumkit.xml`` describes, or None when it is unreadable or lacks a kick,
    a snare or a closed hi-hat.  Layers whose file is missing are left out."""
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError):
        return None
    for el in root.iter():  # newer kits declare a namespace: the tags are the same without it
        el.tag = el.tag.rpartition("}")[2]
    folder = xml_path.parent
    pieces: dict[str, list] = {}
    for inst in root.iter("instrument"):
        piece = piece_of(inst.findtext("name", default=""))
        if piece is None or inst.findtext("isMuted", default="false").strip() == "true":
            continue
        volume = _float(inst, "volume", 1.0)
        layers = []
        for lay in inst.iter("layer"):
            p = folder / lay.findtext("filename", default="")
            if p.is_file():
                layers.append(Layer(p, _float(lay, "min", 0.0), _float(lay, "max", 1.0), volume * _float(lay, "gain", 1.0)))
        single = inst.findtext("filename")
        if not layers and single and (folder / single).is_file():  # the old format: one file, no layers
            layers.append(Layer(folder / single, 0.0, 1.0, volume))
        if layers:
            pieces.setdefault(piece, []).append(tuple(sorted(layers, key=lambda x: x.low)))
    if not {"kick", "snare", "hat_closed"} <= set(pieces):
        return None
    return Kit(root.findtext("name", default=folder.name) or folder.name, {k: tuple(v) for k, v in pieces.items()})


@functools.cache
def kits() -> tuple[Kit, ...]:
    """Every usable kit installed, by folder name."""
    if not KIT_ROOT.is_dir():
        return ()
    found = (read_kit(d / "drumkit.xml") for d in sorted(KIT_ROOT.iterdir()) if (d / "drumkit.xml").is_file())
    return tuple(k for k in found if k is not None)


def available() -> bool:
    """Whether at least four usable kits are installed."""
    return len(kits()) >= 4


@functools.lru_cache(maxsize=768)
def _hit(path: Path, rate: int) -> np.ndarray:
    """(channels, N) float32 at ``rate``, at most MAX_HIT_S long (a fade at a cut)."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x[: int(MAX_HIT_S * sr)].T
    if sr != rate:
        x = soxr.resample(x.T, sr, rate, quality="HQ").T.astype(np.float32)
    if x.shape[1] >= int(MAX_HIT_S * rate) - 1:
        fade = min(x.shape[1], int(0.05 * rate))
        x[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return np.ascontiguousarray(x[:2])


def _layer(layers: tuple[Layer, ...], v: float, rng: np.random.Generator) -> Layer:
    hits = [la for la in layers if la.low <= v <= la.high]
    if not hits:  # a gap in the kit's ranges: the nearest layer
        hits = [min(layers, key=lambda la: min(abs(v - la.low), abs(v - la.high)))]
    return hits[int(rng.integers(len(hits)))]


def render_drums(notes, seconds_per_beat: float, rate: int, total_s: float, kit: Kit,
                 rng: np.random.Generator) -> np.ndarray:
    """(2, N) the drum part ``notes`` (``midi.Note``: start in beats, GM pitch, velocity
    1-127) played on ``kit``, N = ``total_s`` at ``rate``.  Which of a kit's equal pieces
    plays (two snares, four kicks) is drawn once per call; the mirror image (drummer's view)
    half the time."""
    n = int(round(total_s * rate))
    out = np.zeros((2, n), np.float32)
    choice = {p: int(rng.integers(1 << 16)) for p in set(GM_PIECES.values())}
    flip = -1.0 if rng.random() < 0.5 else 1.0
    events = sorted(((note.start * seconds_per_beat, GM_PIECES.get(note.pitch), note.velocity) for note in notes),
                    key=lambda e: e[0])
    closes = [t for t, piece, _ in events if piece in ("hat_closed", "hat_pedal")]
    for t, piece, velocity in events:
        if piece is None:
            continue
        layers = kit.layers(piece, choice[piece])
        start = int(round(t * rate))
        if layers is None or start >= n:
            continue
        v = min(1.0, max(0.0, velocity / 127.0))
        layer = _layer(layers, v, rng)
        hit = _hit(layer.path, rate)
        if hit.shape[0] == 1:
            pan = flip * PANS.get(piece, 0.0)
            angle = (pan + 1.0) * np.pi / 4
            hit = np.stack([hit[0] * np.cos(angle), hit[0] * np.sin(angle)]) * np.float32(np.sqrt(2.0))
        elif flip < 0:
            hit = hit[::-1]
        length = min(hit.shape[1], n - start)
        if piece == "hat_open":  # choked by the next closed or pedal hat
            later = next((c for c in closes if c > t + 1e-4), None)
            if later is not None:
                length = min(length, int(round((later - t + CHOKE_S) * rate)))
        # velocity: the layer is the timbre, this the level (a soft hit of a loud layer)
        gain = np.float32(layer.gain * (0.25 + 0.75 * v) ** 2)
        seg = hit[:, :length] * gain
        if piece == "hat_open" and length < hit.shape[1]:
            fade = min(length, int(CHOKE_S * rate))
            seg[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        out[:, start : start + length] += seg
    return out
