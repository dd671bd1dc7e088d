"""Oracle masks: what a mask-based separator reaches when it knows the true sources.

A separator like ``native`` multiplies the mixture's spectrum by a mask.  Given the true
target ``S`` and the rest of the mixture ``R = X - S`` (``X`` the mixture's spectrum), the
*ideal* masks are

- ``irm``: the ideal ratio mask ``|S| / (|S| + |R|)``, in ``[0, 1]``;
- ``psm``: the phase-sensitive mask ``Re(S X*) / |X|^2`` clipped to ``[0, 1]``, the real
  mask in that range closest to ``S`` bin by bin (it also accounts for the phase).

Scored like any system, they give the ceiling of their kind of mask on a set: a model that
scores close to them has little left to learn with masks in that front end, and a target
above them asks more than the mask can give.  (A complex mask without bounds is exact by
construction, so it is no ceiling.)

Front ends:

- ``lowlat``: the native model's own low-latency STFT (asymmetric windows, 1024-sample
  analysis, hop 128, 256-sample synthesis; 2.7 ms of delay, see ``seplive.models.native``),
  so ``oracle-irm`` and ``oracle-psm`` bound what a mask in ``native``'s front end can do;
- ``offline``: a symmetric 1024-sample Hann STFT at hop 256 (``oracle-irm-offline``), the
  usual front end of offline separators, which sees 21 ms of the future: the cost of the
  low-latency front end is the difference between the two IRM rows.

Sizes are in samples, the same at every rate (the native model's are for 48 kHz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["ORACLES", "OracleMask", "oracle"]


@dataclass(frozen=True)
class OracleMask:
    """An ideal mask of ``kind`` (``irm``, ``psm``) in the ``frontend`` (``lowlat``, ``offline``)."""

    kind: str
    frontend: str
    n_fft: int = 1024
    hop: int = 128
    synthesis_window: int = 256
    offline_hop: int = 256

    def __post_init__(self) -> None:
        if self.kind not in ("irm", "psm") or self.frontend not in ("lowlat", "offline"):
            raise ValueError(f"oracle: unknown mask {self.kind!r} / front end {self.frontend!r}")

    def mask(self, target: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        """Complex spectra of the target and of the rest of the mixture -> the real mask."""
        if self.kind == "irm":
            return target.abs() / (target.abs() + rest.abs()).clamp_min(1e-12)
        mix = target + rest
        return ((target * mix.conj()).real / mix.abs().square().clamp_min(1e-24)).clamp(0.0, 1.0)

    def separate(self, mixture: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``mixture`` ``(C, T)`` and the true ``targets`` ``(P, C, T)`` -> the masked
        mixture per target, ``(P, C, T)``, aligned with the targets."""
        x = torch.from_numpy(np.asarray(mixture, np.float64))
        s = torch.from_numpy(np.asarray(targets, np.float64))
        if s.ndim != 3 or s.shape[1:] != x.shape:
            raise ValueError(f"oracle: targets {tuple(s.shape)} do not match the mixture {tuple(x.shape)}")
        rest = x[None] - s
        t = x.shape[-1]
        if self.frontend == "offline":
            win = torch.hann_window(self.n_fft, dtype=torch.float64)

            def spec(v: torch.Tensor) -> torch.Tensor:
                return torch.stft(v.reshape(-1, t), self.n_fft, self.offline_hop, window=win, return_complex=True)

            S, R = spec(s), spec(rest)
            out = torch.istft(self.mask(S, R) * (S + R), self.n_fft, self.offline_hop, window=win, length=t)
            return out.reshape(s.shape).float().numpy()
        from ..models.native.stft import AsymmetricStft

        stft = AsymmetricStft(self.n_fft, self.hop, self.synthesis_window).double()
        d = stft.delay_samples
        pad = (0, d + (-(t + d) % self.hop))  # the causal output lags by d: run d samples on
        S, R = stft.analyse(F.pad(s, pad)), stft.analyse(F.pad(rest, pad))
        out = stft.synthesise(self.mask(S, R) * (S + R))[..., d : d + t]
        return out.float().numpy()


#: the oracle systems ``seplive eval --baselines`` knows
ORACLES: dict[str, OracleMask] = {
    "oracle-irm": OracleMask("irm", "lowlat"),
    "oracle-psm": OracleMask("psm", "lowlat"),
    "oracle-irm-offline": OracleMask("irm", "offline"),
}


def oracle(name: str) -> OracleMask:
    try:
        return ORACLES[name]
    except KeyError:
        raise ValueError(f"unknown oracle {name!r}; known: {', '.join(ORACLES)}") from None
