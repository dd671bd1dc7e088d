"""Spectrogram pictures as PNG files, with nothing but numpy and zlib.

Used by ``seplive demo`` for its before/after image: panels stacked top to bottom, each a
log-magnitude spectrogram on a mel-like frequency axis, coloured dark (quiet) to bright
(loud), separated by thin white lines.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from scipy.signal import stft

#: colour map anchors (black, deep purple, red, orange, pale yellow), 0..1 RGB
_ANCHORS = np.array([
    [0.00, 0.00, 0.02],
    [0.26, 0.04, 0.41],
    [0.72, 0.21, 0.33],
    [0.98, 0.55, 0.04],
    [0.99, 0.99, 0.75],
])


def colormap(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB, by linear interpolation between the anchors."""
    v = np.clip(v, 0.0, 1.0) * (len(_ANCHORS) - 1)
    i = np.minimum(v.astype(int), len(_ANCHORS) - 2)
    f = (v - i)[..., None]
    rgb = _ANCHORS[i] * (1 - f) + _ANCHORS[i + 1] * f
    return (rgb * 255 + 0.5).astype(np.uint8)


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write an (height, width, 3) uint8 image as an 8-bit RGB PNG."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def spectrogram_image(audio: np.ndarray, rate: int, height: int = 160, width: int = 800,
                      fmax: float = 16000.0, range_db: float = 80.0) -> np.ndarray:
    """One panel: (height, width, 3) uint8, low frequencies at the bottom."""
    x = audio.mean(axis=1) if audio.ndim == 2 else audio
    _, _, z = stft(x, fs=rate, nperseg=2048, noverlap=2048 - 512, boundary=None, padded=False)
    mag = np.abs(z)
    freqs = np.linspace(0, rate / 2, mag.shape[0])
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    rows = np.interp(np.linspace(mel(30.0), mel(min(fmax, rate / 2)), height), mel(freqs), np.arange(len(freqs)))
    cols = np.linspace(0, mag.shape[1] - 1, width)
    # nearest bins (a picture, not a measurement): rows by mel, columns by time
    img = mag[np.round(rows).astype(int)][:, np.round(cols).astype(int)]
    db = 20 * np.log10(img + 1e-9)
    top = db.max() if np.isfinite(db.max()) else 0.0
    v = (db - (top - range_db)) / range_db
    return colormap(v[::-1])


def before_after_png(path: str | Path, panels: list[np.ndarray], rate: int, width: int = 800,
                     height: int = 160) -> None:
    """Stack spectrograms of ``panels`` (each (frames, channels) audio), 2-pixel white gaps."""
    images = []
    for i, audio in enumerate(panels):
        if i:
            images.append(np.full((2, width, 3), 255, np.uint8))
        images.append(spectrogram_image(audio, rate, height=height, width=width))
    write_png(path, np.concatenate(images, axis=0))
