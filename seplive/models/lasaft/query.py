"""Audio-query conditioning: an example clip -> a condition vector.

The decoder of the LaSAFT U-Net only sees the condition through a vector of
``embedding_dim`` numbers (normally a row of the label embedding).  Querying by example
replaces that row with the output of :class:`QueryEncoder`:

    clip (44.1 kHz, mono or stereo) -> level-normalised stereo (1, 2, N)
      -> the separator's own *unconditioned* encoder (first conv, TFC-TDF encoders, middle
         block; frozen, shared with separation) -> features (1, C, T_mid, f_mid)
      -> mean and standard deviation over time (1, 2C, f_mid)
      -> average into ``bands`` frequency bands (1, 2C * bands)
      -> MLP -> condition vector (1, embedding_dim)

Only the MLP head (:class:`QueryEncoder`'s parameters) is specific to querying; it has to
be trained with the separator frozen so that its outputs land where the label embeddings
do.  Training is out of scope here: without a head checkpoint the head is randomly
initialised, which runs end to end but does not separate anything meaningful.
"""

from __future__ import annotations

import logging
from math import gcd
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import SeparatorError
from .model import LasaftNet

__all__ = ["QueryEncoder", "prepare_clip", "read_clip", "load_query_encoder"]

log = logging.getLogger(__name__)

#: clips are cut to this many seconds (the first ones) before encoding
MAX_QUERY_SECONDS = 10.0
#: clips are scaled to this RMS so that the query does not depend on its level
TARGET_RMS = 0.1


def read_clip(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an audio file with soundfile: ``((samples, channels) float32, rate)``."""
    try:
        import soundfile
    except ImportError as exc:  # pragma: no cover - soundfile is a project dependency
        raise SeparatorError(f"lasaft: reading query clips needs soundfile: {exc}") from exc
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - soundfile raises several types
        raise SeparatorError(f"lasaft: cannot read query clip '{path}': {exc}") from None
    return data, int(rate)


def prepare_clip(clip: np.ndarray, sample_rate: int = 44100, target_rate: int = 44100) -> np.ndarray:
    """Any clip layout -> level-normalised stereo ``(2, N)`` float32 at ``target_rate``.

    Accepts ``(N,)`` mono, ``(N, ch)`` (soundfile layout) or ``(ch, N)`` with ``ch`` 1 or 2
    (more channels are averaged to mono); resamples with a polyphase filter if needed.
    """
    x = np.asarray(clip, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    elif x.ndim == 2:
        if x.shape[0] > x.shape[1]:  # (N, ch): time is the long axis
            x = x.T
    else:
        raise SeparatorError(f"lasaft: query clip must be 1-D or 2-D audio, got shape {x.shape}")
    if x.shape[-1] == 0:
        raise SeparatorError("lasaft: query clip is empty")
    if x.shape[0] > 2:
        x = x.mean(axis=0, keepdims=True)
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    if sample_rate != target_rate:
        from scipy.signal import resample_poly

        g = gcd(int(sample_rate), int(target_rate))
        x = resample_poly(x, target_rate // g, sample_rate // g, axis=-1).astype(np.float32)
    x = x[:, : int(MAX_QUERY_SECONDS * target_rate)]
    if not np.all(np.isfinite(x)):
        raise SeparatorError("lasaft: query clip contains NaN or infinite samples")
    rms = float(np.sqrt(np.mean(x**2)))
    if rms > 1e-8:
        x = x * (TARGET_RMS / rms)
    return np.ascontiguousarray(x, dtype=np.float32)


class QueryEncoder(nn.Module):
    """Pooled separator-encoder features -> condition vector.

    ``forward(features (B, C, T, f)) -> (B, embedding_dim)``.  :meth:`encode` runs the
    whole path from a clip, using ``net``'s encoder (which is not part of this module's
    state).
    """

    def __init__(self, channels: int, embedding_dim: int, bands: int = 16, hidden: int = 128) -> None:
        super().__init__()
        self.channels = channels
        self.embedding_dim = embedding_dim
        self.bands = bands
        self.head = nn.Sequential(
            nn.Linear(2 * channels * bands, hidden),
            nn.ReLU(),
            nn.Linear(hidden, embedding_dim),
        )

    @classmethod
    def for_model(cls, net: LasaftNet, **kw: int) -> QueryEncoder:
        """An encoder sized for ``net`` (its channels and condition size)."""
        return cls(net.cfg.channels, net.cfg.embedding_dim, **kw)

    def forward(self, features: Tensor) -> Tensor:
        mean = features.mean(dim=-2)
        std = features.std(dim=-2, unbiased=False)
        stats = torch.cat((mean, std), dim=1)  # (B, 2C, f)
        pooled = F.adaptive_avg_pool1d(stats, self.bands)  # (B, 2C, bands)
        return self.head(pooled.flatten(1))

    def encode(self, net: LasaftNet, clip: np.ndarray, sample_rate: int = 44100) -> Tensor:
        """Clip (see :func:`prepare_clip`) -> condition vector ``(embedding_dim,)``."""
        if net.cfg.channels != self.channels or net.cfg.embedding_dim != self.embedding_dim:
            raise SeparatorError(
                f"lasaft: query encoder is sized for {self.channels} channels / "
                f"{self.embedding_dim}-d conditions, the model has {net.cfg.channels} / "
                f"{net.cfg.embedding_dim}"
            )
        audio = prepare_clip(clip, sample_rate)
        n = audio.shape[-1]
        full = net.valid_length(n)
        device = net.spec2spec.embedding.weight.device
        wave = torch.from_numpy(audio)[None].to(device)
        wave = F.pad(wave, (0, full - n))  # silence after the clip
        with torch.inference_mode():
            features, _ = net.spec2spec.encode(net.stft.to_spec(wave))
            frames = n // net.cfg.hop_length + 1  # frames that overlap the clip
            t_valid = -(-frames // net.cfg.frame_multiple)
            vec = self.to(device)(features[:, :, :t_valid])
        return vec[0].clone()


def load_query_encoder(path: str | Path | None, net: LasaftNet, seed: int = 0) -> QueryEncoder:
    """The query head from ``path`` (a state_dict file), or a random one with a warning."""
    enc = QueryEncoder.for_model(net)
    if path is None:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in enc.parameters():
                bound = 1.0 / max(1, p.shape[-1]) ** 0.5
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
        log.warning(
            "lasaft: the audio-query encoder head is untrained (random weights); query "
            "separation runs but will not isolate the queried sound until a trained head "
            "is given (query_encoder=PATH)"
        )
        return enc.eval()
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise SeparatorError(f"lasaft: cannot read query encoder '{path}': {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        enc.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise SeparatorError(f"lasaft: query encoder '{path}' does not match: {exc}") from None
    return enc.eval()
