"""Audio files as sources and sinks (soundfile), streamed block by block.

A sink writes to a hidden temporary file beside the target and renames it into place
only when the session ends cleanly, so an interrupted or failed run never leaves a
partial file that looks complete.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import soundfile as sf

#: extensions that name audio files (anything else is taken for a device name)
AUDIO_EXTENSIONS = ("wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aiff", "aif", "aifc", "w64", "caf", "au", "snd", "rf64")


def _wav_promised_frames(path: Path) -> int | None:
    """The frames a RIFF/WAVE header's data chunk promises (None: not a WAV, or it cannot say)."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    i, align = 12, 0
    while i + 8 <= len(head):
        cid, size = head[i : i + 4], int.from_bytes(head[i + 4 : i + 8], "little")
        if cid == b"fmt " and i + 22 <= len(head):
            align = int.from_bytes(head[i + 20 : i + 22], "little")
        if cid == b"data":
            if align <= 0 or size in (0, 0xFFFFFFFF):
                return None
            return size // align
        i += 8 + size + (size & 1)
    return None


log = logging.getLogger("seplive")

#: a truncated file holding less audio than this (seconds) is refused, not processed
MIN_TRUNCATED_S = 0.1


class AudioFileError(RuntimeError):
    """A file cannot be read or written (the message says which and why)."""


def is_file_spec(spec: str) -> bool:
    """Files are named by path: an existing file, or a name with an audio extension."""
    p = Path(spec)
    return p.is_file() or p.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS or "/" in spec or "\\" in spec


class FileSource:
    """Reads ``(frames, channels)`` float32 blocks from an audio file, never all at once."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise AudioFileError(f"input file not found: {self.path}")
        if self.path.is_dir():
            raise AudioFileError(f"input is a folder, not an audio file: {self.path}")
        try:
            self._f = sf.SoundFile(str(self.path), "r")
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise AudioFileError(f"cannot read {self.path} as audio: {exc}") from None
        self.sample_rate = int(self._f.samplerate)
        self.channels = int(self._f.channels)
        self.frames = int(self._f.frames)
        self.subtype = self._f.subtype
        if self.channels < 1 or self.sample_rate < 1:
            self._f.close()
            raise AudioFileError(f"{self.path} has no audio ({self.channels} channels at {self.sample_rate} Hz)")
        self.position = 0
        #: frames the header promised when the file holds fewer (a cut-off download or copy)
        self.promised_frames = self._check_length()

    def _check_length(self) -> int | None:
        """Refuse a file with no frames, or one cut off before :data:`MIN_TRUNCATED_S` seconds
        of audio; warn about (and return the promised frame count of) any other truncated one."""
        promised = _wav_promised_frames(self.path)
        truncated = promised is not None and promised > self.frames + 1
        if truncated and self.frames < MIN_TRUNCATED_S * self.sample_rate:
            self._f.close()
            raise AudioFileError(
                f"{self.path} is truncated: its header promises {promised} frames, {self.frames} are there"
                f" ({self.frames / self.sample_rate:.3f} s): nothing to process"
            )
        if self.frames <= 0:
            self._f.close()
            raise AudioFileError(f"{self.path} holds no audio frames (it is empty)")
        if not truncated:
            return None
        log.warning(
            "%s is truncated: its header promises %.2f s, %.2f s is there; processing what is there",
            self.path, promised / self.sample_rate, self.frames / self.sample_rate,
        )  # fmt: skip
        return promised

    @property
    def truncated(self) -> bool:
        return self.promised_frames is not None

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames (fewer at the end; empty when done)."""
        try:
            block = self._f.read(frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioFileError(f"{self.path} is damaged at frame {self.position}: {exc}") from None
        self.position += len(block)
        return block

    def close(self) -> None:
        self._f.close()


class FileSink:
    """Writes blocks to an audio file; the file appears only on :meth:`close` (success)."""

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int,
        channels: int,
        subtype: str | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise AudioFileError(f"output is a folder: {self.path}")
        if not self.path.parent.exists():
            raise AudioFileError(f"output folder does not exist: {self.path.parent}")
        ext = self.path.suffix.lower().lstrip(".")
        major = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "aiff": "AIFF", "aif": "AIFF", "w64": "W64", "caf": "CAF"}.get(ext)
        if major is None:
            raise AudioFileError(f"cannot write '{self.path.suffix}' files; use .wav, .flac, .ogg, .aiff, .w64 or .caf")
        if subtype is None or not sf.check_format(major, subtype):
            subtype = "FLOAT" if sf.check_format(major, "FLOAT") else sf.default_subtype(major)
        self.subtype = subtype
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        try:
            self._f = sf.SoundFile(str(self._tmp), "w", samplerate=sample_rate, channels=channels, format=major, subtype=subtype)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"cannot write {self.path}: {exc}") from None
        self.frames = 0
        self.clipped = 0

    def write(self, block: np.ndarray) -> None:
        over = np.abs(block) > 1.0
        if over.any():  # over full scale: counted in float files too (a player will clip them)
            self.clipped += int(over.sum())
            if self.subtype not in ("FLOAT", "DOUBLE"):
                block = np.clip(block, -1.0, 1.0)
        self._f.write(block)
        self.frames += len(block)

    def close(self, ok: bool = True) -> None:
        """Finish the file (``ok``) or throw it away."""
        self._f.close()
        if ok:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
