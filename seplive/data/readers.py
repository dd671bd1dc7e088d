"""Readers for real stems a user already has on disk.

* ``Musdb18(root, split)``: the MUSDB18-HQ layout, ``root/{train,test}/<track>/{mixture,drums,
  bass,other,vocals}.wav``.
* ``StemsFolder(root)``: one subfolder per track, one audio file per prompt name
  (``track1/speech.wav``, ``track1/musicbg.flac``; aliases such as ``voice`` or ``accompaniment``
  are accepted; ``speech_2.wav`` adds a second file to the same prompt, summed; a ``mixture.*``
  file is ignored because the mixture is the sum of the stems).

Both read with soundfile, optionally cropped (``offset``/``seconds``: only those frames are read,
so long tracks stream) and resampled with soxr.  Iterating yields
``(name, {prompt: (channels, T) float32}, rate)``.  A file that cannot be read raises
``DataError`` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..models.prompts import PROMPTS, canonical
from .example import Example

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".opus")
MUSDB_STEMS = ("drums", "bass", "other", "vocals")


class DataError(ValueError):
    """A data file or folder is unusable; the message names it."""


def read_audio(path: str | Path, sample_rate: int | None = None, offset: float = 0.0,
               seconds: float | None = None, channels: int | None = None) -> tuple[np.ndarray, int]:
    """Read (a crop of) ``path`` as (channels, T) float32, resampled to ``sample_rate`` if given."""
    path = Path(path)
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            start = int(round(offset * rate))
            if start:
                f.seek(min(start, f.frames))
            frames = -1 if seconds is None else int(round(seconds * rate))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise DataError(f"{path}: cannot read audio ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if sample_rate is not None and sample_rate != rate:
        data = soxr.resample(data, rate, sample_rate).astype(np.float32)
        rate = sample_rate
    if channels is not None and data.shape[1] != channels:
        # mono is spread to every channel; more channels than asked are averaged to mono first
        mono = data.mean(axis=1, keepdims=True)
        data = np.repeat(mono, channels, axis=1) if data.shape[1] == 1 or channels == 1 else data[:, :channels]
    return np.ascontiguousarray(data.T), rate


def _pad_to(stems: dict[str, np.ndarray], length: int) -> dict[str, np.ndarray]:
    return {k: np.pad(v, ((0, 0), (0, length - v.shape[1]))) if v.shape[1] < length else v for k, v in stems.items()}


class _Reader:
    def __init__(self, sample_rate: int | None = None, offset: float = 0.0, seconds: float | None = None,
                 channels: int | None = None) -> None:
        self.sample_rate = sample_rate
        self.offset = float(offset)
        self.seconds = seconds
        self.channels = channels

    def _read(self, path: Path, offset: float | None = None, seconds: float | None = None) -> tuple[np.ndarray, int]:
        return read_audio(path, self.sample_rate, self.offset if offset is None else offset,
                          self.seconds if seconds is None else seconds, self.channels)

    def tracks(self) -> list[str]:
        raise NotImplementedError

    def files(self, name: str) -> list[tuple[str, Path]]:
        """(prompt, file) pairs of track ``name``."""
        raise NotImplementedError

    def read(self, name: str, offset: float | None = None, seconds: float | None = None
             ) -> tuple[dict[str, np.ndarray], int]:
        """Track ``name`` as ({prompt: (channels, T)}, rate); ``offset``/``seconds`` override the
        reader's crop for this call (only those frames are read)."""
        return self._combine(self.files(name), offset, seconds)

    def duration(self, name: str) -> float:
        """Length in seconds of the longest file of track ``name`` (from headers, no decoding)."""
        longest = 0.0
        for _, path in self.files(name):
            try:
                longest = max(longest, sf.info(str(path)).duration)
            except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                raise DataError(f"{path}: cannot read audio ({str(exc).splitlines()[0]})") from None
        return longest

    def __len__(self) -> int:
        return len(self.tracks())

    def __iter__(self) -> Iterator[tuple[str, dict[str, np.ndarray], int]]:
        """(name, stems, rate) per track, in name order."""
        for name in self.tracks():
            stems, rate = self.read(name)
            yield name, stems, rate

    def _combine(self, parts: list[tuple[str, Path]], offset: float | None = None, seconds: float | None = None
                 ) -> tuple[dict[str, np.ndarray], int]:
        read = [(prompt, path, *self._read(path, offset, seconds)) for prompt, path in parts]
        rate = max(r for _, _, _, r in read)  # mixed rates inside a track: all go to the highest
        stems: dict[str, np.ndarray] = {}
        for prompt, path, audio, r in read:
            if r != rate:
                audio = np.ascontiguousarray(soxr.resample(audio.T, r, rate).T.astype(np.float32))
            if prompt in stems:
                prev = stems[prompt]
                if prev.shape[0] != audio.shape[0]:
                    raise DataError(f"{path}: {audio.shape[0]} channels, other {prompt} files have {prev.shape[0]}")
                n = max(prev.shape[1], audio.shape[1])
                stems[prompt] = _pad_to({"a": prev}, n)["a"] + _pad_to({"a": audio}, n)["a"]
            else:
                stems[prompt] = audio
        chans = {v.shape[0] for v in stems.values()}
        if len(chans) > 1:
            width = max(chans)
            stems = {k: np.repeat(v, width, axis=0) if v.shape[0] == 1 else v for k, v in stems.items()}
            if len({v.shape[0] for v in stems.values()}) > 1:
                raise DataError(f"{parts[0][1].parent}: stems have different channel counts {sorted(chans)}")
        length = max(v.shape[1] for v in stems.values())
        return _pad_to(stems, length), int(rate)


class Musdb18(_Reader):
    """MUSDB18-HQ: ``root/<split>/<track>/{drums,bass,other,vocals}.wav`` (mixture.wav unused)."""

    def __init__(self, root: str | Path, split: str = "test", **kw) -> None:
        super().__init__(**kw)
        self.root = Path(root)
        self.split = split
        self.folder = self.root / split
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: no such folder (expected MUSDB18-HQ's {split}/<track>/*.wav)")

    def tracks(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir())

    def files(self, name: str) -> list[tuple[str, Path]]:
        folder = self.folder / name
        parts = []
        for stem in MUSDB_STEMS:
            path = folder / f"{stem}.wav"
            if not path.is_file():
                raise DataError(f"{path}: missing (a MUSDB18-HQ track has {', '.join(MUSDB_STEMS)}.wav)")
            parts.append((stem, path))
        return parts

    def mixture(self, name: str) -> tuple[np.ndarray, int]:
        """The track's own mixture.wav (equal to the stems' sum up to rounding)."""
        return self._read(self.folder / name / "mixture.wav")


_NUMBERED = re.compile(r"^(.*?)[-_ ]?\d+$")


class StemsFolder(_Reader):
    """A folder of tracks, one subfolder each, one audio file per prompt name."""

    def __init__(self, root: str | Path, **kw) -> None:
        super().__init__(**kw)
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: no such folder")

    def tracks(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self._files(p))

    @staticmethod
    def _prompt_of(path: Path) -> str | None:
        stem = path.stem.strip().lower()
        if stem == "mixture" or stem == "mix":
            return None
        name = canonical(stem)
        if name not in PROMPTS:
            m = _NUMBERED.match(stem)
            name = canonical(m.group(1)) if m else name
        if name not in PROMPTS:
            raise DataError(f"{path}: '{path.stem}' is not a prompt name (use one of {', '.join(PROMPTS)})")
        return name

    def _files(self, folder: Path) -> list[tuple[str, Path]]:
        out = []
        for p in sorted(folder.iterdir()):
            if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES:
                prompt = self._prompt_of(p)
                if prompt is not None:
                    out.append((prompt, p))
        return out

    def files(self, name: str) -> list[tuple[str, Path]]:
        folder = self.root / name
        parts = self._files(folder)
        if not parts:
            raise DataError(f"{folder}: no stems (expected files like speech.wav, musicbg.flac)")
        return parts


def as_example(stems: dict[str, np.ndarray], rate: int, prompts: list[str] | None = None, task: str = "real") -> Example:
    """An Example from real stems: the mixture is the sum of the chosen stems (all by default)."""
    prompts = list(prompts or stems)
    missing = [p for p in prompts if p not in stems]
    if missing:
        raise DataError(f"stems missing for prompts {missing}; have {sorted(stems)}")
    targets = np.stack([stems[p].astype(np.float32) for p in prompts])
    return Example(mixture=targets.sum(axis=0), prompts=prompts, targets=targets, sample_rate=int(rate), task=task)
