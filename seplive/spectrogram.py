"""Spectrogram pictures (PNG) drawn with matplotlib (the ``plot`` extra).

Used by ``seplive demo`` for its before/after image: one panel per signal, stacked top to
bottom on a shared time axis in seconds, frequency in Hz on a logarithmic axis (30 Hz to
16 kHz), level in dB relative to the loudest bin of all panels on one colour scale, each
panel titled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import stft

#: what to install when matplotlib is missing
INSTALL_HINT = "pip install 'seplive[plot]' (matplotlib) for the picture"


def spectrogram_db(audio: np.ndarray, rate: int, n_fft: int = 2048, hop: int = 512) -> tuple[np.ndarray, ...]:
    """(times s, frequencies Hz, level dB) of ``audio`` ((frames,) or (frames, channels), mixed to mono)."""
    x = audio.mean(axis=1) if audio.ndim == 2 else audio
    f, t, z = stft(x, fs=rate, nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False)
    return t, f, 20.0 * np.log10(np.abs(z) + 1e-9)


def before_after_png(path: str | Path, panels: list[np.ndarray], rate: int, titles: list[str] | None = None,
                     fmax: float = 16000.0, range_db: float = 80.0) -> None:
    """Write stacked spectrograms of ``panels`` (each (frames, channels) audio) to ``path``.

    Raises ImportError with :data:`INSTALL_HINT` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    titles = titles or [f"signal {i + 1}" for i in range(len(panels))]
    specs = [spectrogram_db(p, rate) for p in panels]
    top = max(float(s[2].max()) for s in specs)
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 2.6 * len(panels) + 0.4), sharex=True, squeeze=False,
                             constrained_layout=True)
    mesh = None
    for ax, (t, f, db), title in zip(axes[:, 0], specs, titles, strict=True):
        keep = (f >= 30.0) & (f <= min(fmax, rate / 2))
        mesh = ax.pcolormesh(t, f[keep], db[keep] - top, shading="auto", cmap="magma", vmin=-range_db, vmax=0.0,
                             rasterized=True)
        ax.set_yscale("log")
        ax.set_ylim(30.0, min(fmax, rate / 2))
        ax.set_ylabel("frequency (Hz)")
        ax.set_title(title, loc="left", fontsize=11)
    axes[-1, 0].set_xlabel("time (s)")
    fig.colorbar(mesh, ax=axes[:, 0].tolist(), label="level (dB re loudest)", pad=0.01)
    fig.savefig(path, dpi=100)
    plt.close(fig)
