"""The LaSAFT-GPoCM network: complex-as-channels STFT + label-conditioned U-Net.

Signal path (stereo at 44.1 kHz)::

    wave (B, 2, N) --STFT--> spec (B, 4, T, n_fft/2+1)    channels: re L, re R, im L, im R
        first_conv (1x2 conv: drops one bin)              (B, C, T, n_fft/2)
        n_levels x [TFC-TDF encoder, 2x2 stride-2 conv]   unconditioned
        TFC-TDF middle block
        n_levels x [2x2 transposed conv, concat skip, GPoCM+LaSAFT decoder]  conditioned
        last_conv (1x2 conv, pads one bin back)           (B, 4, T, n_fft/2+1)
    --iSTFT--> wave (B, 2, N)

The output spectrogram is the estimate itself ("mapping", not a mask).  The STFT is
centred (reflect padding), Hann window, ``hop_length`` hop; ``T = N // hop + 1``, and
the U-Net needs ``T`` to be a multiple of ``2 ** n_levels``.

Because only the decoder is conditioned, :meth:`ConditionedUNet.encode` runs once per
mixture and :meth:`ConditionedUNet.decode` once per (mixture, condition) pair; the
``separate*`` methods batch all conditions in one decoder pass.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .blocks import TFCTDF, GPoCMLaSAFTBlock, make_activation
from .config import LABELS, V2_LIGHT, LasaftConfig

__all__ = ["MonoStft", "StereoStft", "ConditionedUNet", "LasaftNet", "build_model", "init_random"]


class MonoStft(nn.Module):
    """Centred Hann STFT of single-channel signals; holds the window (state key ``window``)."""

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N) -> (B, n_fft/2+1, N // hop + 1)`` complex."""
        return torch.stft(
            x, self.n_fft, self.hop_length, window=self.window, center=True,
            pad_mode="reflect", return_complex=True,
        )  # fmt: skip

    def inverse(self, spec: Tensor, length: int) -> Tensor:
        """``(B, n_fft/2+1, T)`` complex -> ``(B, length)``."""
        return torch.istft(spec, self.n_fft, self.hop_length, window=self.window, center=True, length=length)


class StereoStft(nn.Module):
    """Multi-channel waves <-> complex-as-channels spectrograms.

    ``to_spec``: ``(B, ch, N) -> (B, 2*ch, T, F)`` with real parts of all channels first,
    then imaginary parts.  ``to_wave`` inverts it.
    """

    def __init__(self, n_fft: int, hop_length: int) -> None:
        super().__init__()
        self.stft = MonoStft(n_fft, hop_length)

    def to_spec(self, wave: Tensor) -> Tensor:
        b, ch, n = wave.shape
        spec = self.stft(wave.reshape(b * ch, n))  # (B*ch, F, T)
        spec = spec.reshape(b, ch, *spec.shape[-2:])
        return torch.cat((spec.real, spec.imag), dim=1).transpose(-1, -2).contiguous()

    def to_wave(self, spec: Tensor, length: int) -> Tensor:
        b, c2, t, f = spec.shape
        ch = c2 // 2
        z = torch.complex(spec[:, :ch].float(), spec[:, ch:].float()).transpose(-1, -2)
        wave = self.stft.inverse(z.reshape(b * ch, f, t), length)
        return wave.reshape(b, ch, length)


class ConditionedUNet(nn.Module):
    """The spectrogram-to-spectrogram U-Net (state key prefix ``spec2spec.``).

    ``forward(spec (B, 4, T, F), condition)`` where ``condition`` is label indices ``(B,)``
    (long) or condition vectors ``(B, embedding_dim)`` (float, e.g. from an audio query).
    """

    def __init__(self, cfg: LasaftConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        act = cfg.activation
        kw = dict(layers=cfg.tfc_layers, kernel=cfg.kernel, bias=cfg.tdf_bias, activation=act)
        self.first_conv = nn.Sequential(
            nn.Conv2d(cfg.spec_channels, c, kernel_size=(1, 2)),
            nn.BatchNorm2d(c),
            make_activation(act),
        )
        self.encoders = nn.ModuleList()
        self.downsamplings = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.upsamplings = nn.ModuleList()
        for level in range(cfg.n_levels):
            f = cfg.level_bins(level)
            self.encoders.append(TFCTDF(c, c, f, cfg.bottleneck(f), **kw))
            self.downsamplings.append(
                nn.Sequential(nn.Conv2d(c, c, 2, stride=2), nn.BatchNorm2d(c), make_activation(act))
            )
        f_mid = cfg.level_bins(cfg.n_levels)
        self.mid_block = TFCTDF(c, c, f_mid, cfg.bottleneck(f_mid), **kw)
        for level in reversed(range(cfg.n_levels)):
            f = cfg.level_bins(level)
            self.upsamplings.append(
                nn.Sequential(nn.ConvTranspose2d(c, c, 2, stride=2), nn.BatchNorm2d(c), make_activation(act))
            )
            self.decoders.append(
                GPoCMLaSAFTBlock(
                    2 * c,
                    c,
                    f,
                    cfg.bottleneck(f),
                    cfg.embedding_dim,
                    cfg.n_latent,
                    cfg.dk,
                    query_listen=cfg.query_listen,
                    key_listen=cfg.key_listen,
                    **kw,
                )  # fmt: skip
            )
        self.last_conv = nn.Sequential(
            nn.Conv2d(c, cfg.spec_channels, kernel_size=(1, 2), padding=(0, 1)),
        )
        self.embedding = nn.Embedding(cfg.n_labels, cfg.embedding_dim)

    # -- conditioning --------------------------------------------------------------------
    def condition_vectors(self, condition: Tensor) -> Tensor:
        """Label indices ``(B,)`` -> ``(B, E)``; float vectors ``(B, E)`` pass through."""
        if condition.dtype in (torch.int32, torch.int64):
            return self.embedding(condition)
        return condition.to(self.embedding.weight.dtype)

    # -- halves ------------------------------------------------------------------------
    def encode(self, spec: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(B, 4, T, F) -> (middle (B, C, T/2^n, f_mid), skips [full res ... coarsest])``."""
        x = self.first_conv(spec)
        skips = []
        for enc, down in zip(self.encoders, self.downsamplings, strict=True):
            x = enc(x)
            skips.append(x)
            x = down(x)
        return self.mid_block(x), skips

    def decode(self, x: Tensor, skips: list[Tensor], cond: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Decoder pass for condition vectors ``cond`` ``(B, E)``.

        Returns the spectrogram ``(B, 4, T, F)`` and one attention map per decoder block,
        coarsest first: block ``j`` gives ``(B, T / 2^(n_levels-1-j), n_latent)``.
        """
        atts = []
        for up, dec, skip in zip(self.upsamplings, self.decoders, reversed(skips), strict=True):
            x = torch.cat((up(x), skip), dim=1)
            x, att = dec(x, cond)
            atts.append(att)
        return self.last_conv(x), atts

    def forward(self, spec: Tensor, condition: Tensor) -> Tensor:
        mid, skips = self.encode(spec)
        return self.decode(mid, skips, self.condition_vectors(condition))[0]


class LasaftNet(nn.Module):
    """STFT front end (state key ``stft.stft.window``) + :class:`ConditionedUNet`."""

    def __init__(self, cfg: LasaftConfig = V2_LIGHT, labels: tuple[str, ...] | None = None) -> None:
        super().__init__()
        if labels is None:
            labels = LABELS if cfg.n_labels == len(LABELS) else tuple(f"label{i}" for i in range(cfg.n_labels))
        if len(labels) != cfg.n_labels:
            raise ValueError(f"{cfg.n_labels} labels expected, got {labels}")
        self.cfg = cfg
        self.labels = tuple(labels)
        self.stft = StereoStft(cfg.n_fft, cfg.hop_length)
        self.spec2spec = ConditionedUNet(cfg)

    def forward(self, spec: Tensor, condition: Tensor) -> Tensor:
        """Spectrogram in, spectrogram out: ``(B, 4, T, F)``; see :class:`ConditionedUNet`."""
        return self.spec2spec(spec, condition)

    def valid_length(self, n: int) -> int:
        """Smallest length ``>= n`` whose centred STFT has a usable frame count.

        Lengths ``(k * 2^n_levels - 1) * hop`` give ``k * 2^n_levels`` frames.
        """
        hop, m = self.cfg.hop_length, self.cfg.frame_multiple
        k = max(1, math.ceil((math.ceil(n / hop) + 1) / m))
        return (k * m - 1) * hop

    def separate_multi(self, wave: Tensor, cond: Tensor, with_attention: bool = False) -> tuple[Tensor, list[Tensor]]:
        """Separate every condition from every mixture in one decoder pass.

        ``wave``: ``(G, 2, N)`` with ``N`` a :meth:`valid_length`; ``cond``: ``(P, E)``
        condition vectors.  Returns stems ``(P, G, 2, N)`` and, if ``with_attention``,
        attention maps ``(P, G, T_j, n_latent)`` per decoder block (coarsest first).
        """
        g, _, n = wave.shape
        p = cond.shape[0]
        spec = self.stft.to_spec(wave)
        t = spec.shape[-2]
        if t % self.cfg.frame_multiple:
            raise ValueError(
                f"{n} samples give {t} frames, not a multiple of {self.cfg.frame_multiple}; pad to valid_length() first"
            )
        mid, skips = self.spec2spec.encode(spec)
        # batch index = prompt * G + group
        mid = mid.repeat(p, 1, 1, 1)
        skips = [s.repeat(p, 1, 1, 1) for s in skips]
        cond_b = cond.repeat_interleave(g, dim=0)
        out_spec, atts = self.spec2spec.decode(mid, skips, cond_b)
        stems = self.stft.to_wave(out_spec, n).reshape(p, g, -1, n)
        if with_attention:
            atts = [a.reshape(p, g, *a.shape[1:]) for a in atts]
        else:
            atts = []
        return stems, atts

    def separate(self, wave: Tensor, labels: list[str] | tuple[str, ...]) -> Tensor:
        """Convenience: ``(G, 2, N)`` (any ``N``) -> ``(P, G, 2, N)`` for label names."""
        n = wave.shape[-1]
        full = self.valid_length(n)
        padded = torch.nn.functional.pad(wave, (full - n, 0))
        idx = torch.tensor([self.labels.index(name) for name in labels], device=wave.device)
        stems, _ = self.separate_multi(padded, self.spec2spec.embedding(idx))
        return stems[..., full - n :]


def init_random(model: nn.Module, seed: int | None = 0) -> nn.Module:
    """Kaiming-normal initialisation of every weight with 2+ dimensions (biases, norms as built)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                fan_in = param[0].numel()
                std = math.sqrt(2.0 / fan_in)
                param.copy_(torch.randn(param.shape, generator=gen) * std)
    return model


def build_model(cfg: LasaftConfig = V2_LIGHT, seed: int | None = 0) -> LasaftNet:
    """A randomly initialised network (eval mode) for ``cfg``."""
    return init_random(LasaftNet(cfg), seed).eval()
