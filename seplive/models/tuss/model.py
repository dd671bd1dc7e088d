"""The TUSS network (Saijo et al., "Task-Aware Unified Source Separation", ICASSP 2025).

Independent implementation of the published architecture, written so that the published
checkpoints load into it unchanged: the parameter names below ``separator.`` are a file
format and follow the official state_dict exactly; everything else (structure of the code,
layouts, helpers) is our own.

Data flow for a batch of ``B`` mono mixtures of ``N`` samples and ``S`` prompts each::

    mix (B, N) --std-normalise--> STFT (B, F=1025, T=ceil(N/hop)+1) complex
      --band-split encoder--> (B, T, K=61 bands, C) tokens
      --prepend [prompt_1..prompt_S, SOS] along time--> (B, S+1+T, K, C)
      --cross-prompt module: TF-Locoformer blocks--> (B, S+1+T, K, C)
      --split: prompt vectors (B, S, K, C), mixture tokens (B, T, K, C)
      --condition: mixture * prompt vector, per prompt--> (B*S, T, K, C)
      --conditional target-extraction module: TF-Locoformer blocks--> (B*S, T, K, C)
      --band-wise decoder: complex mask per bin--> (B, S, F, T)
      --mask * mixture STFT, iSTFT, undo the std--> (B, S, hop*(T-1)) = (B, S, ceil(N/hop)*hop)

A TF-Locoformer block runs a "path" along the band axis and one along the time axis (order
``ft`` or ``tf``).  Each path is: optional macaron FFN, multi-head self-attention with RoPE,
FFN; each sub-layer pre-normalised by an RMS group norm and residual.  The FFNs are SwiGLU
conv/transposed-conv pairs along the path's sequence axis.

Everything here is non-causal (full attention over the window, window-level GroupNorm
statistics in the band encoder/decoder, window-level std normalisation): a streaming host must
feed windows (see :mod:`seplive.models.tuss.plugin`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: prompt names of the published models, in their parameter order
PROMPTS: tuple[str, ...] = ("speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg")

#: band widths (in FFT bins) per frequency range of the published band split, in Hz
_BAND_PLAN: tuple[tuple[float, float, int], ...] = (
    (0.0, 1000.0, 2),
    (1000.0, 2000.0, 4),
    (2000.0, 4000.0, 12),
    (4000.0, 8000.0, 24),
    (8000.0, 16000.0, 48),
)


def default_bands(n_fft: int = 2048, sample_rate: int = 48000) -> tuple[int, ...]:
    """Band widths (bins per band, low to high) of the published band-split encoder.

    Fixed-width bands cover 0-16 kHz (2, 4, 12, 24, 48 bins per band in octave-like ranges);
    the bins above are shared by 4 bands at 48 kHz (2 otherwise), the last taking the
    remainder.  For 48 kHz and ``n_fft=2048`` this gives 61 bands over 1025 bins.
    """
    n_bins = n_fft // 2 + 1
    # the published split measures ranges with (sample_rate // 2) / n_bins Hz per bin
    hz_per_bin = (sample_rate // 2) / n_bins
    bands: list[int] = []
    for lo, hi, width in _BAND_PLAN:
        bands += [width] * math.ceil((hi - lo) / (width * hz_per_bin))
    rest = n_bins - sum(bands)
    if rest <= 0:
        raise ValueError(f"band plan does not fit n_fft={n_fft} at {sample_rate} Hz")
    if sample_rate == 48000:
        bands += [rest // 4] * 3 + [rest // 4 + rest % 4]
    else:
        bands += [rest // 2, rest - rest // 2]
    return tuple(bands)


# ----------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class FFNConfig:
    """One SwiGLU conv/deconv feed-forward layer along a sequence axis."""

    dim_inner: int
    kernel: int
    shift: int = 1


@dataclass(frozen=True)
class StackConfig:
    """A stack of TF-Locoformer blocks (the cross-prompt or the target-extraction module).

    ``freq_ffns`` / ``frame_ffns`` are in parameter order: entry 0 is the FFN after the
    attention (``ffn.0``), entry 1, when present, the macaron FFN before it (``ffn.1``).
    The published yaml lists them the other way round (see :func:`StackConfig.from_hparams`).
    """

    n_blocks: int
    attention_dim: int
    n_heads: int
    num_groups: int
    freq_ffns: tuple[FFNConfig, ...]
    frame_ffns: tuple[FFNConfig, ...]
    tf_order: str = "ft"

    @property
    def head_dim(self) -> int:
        return self.attention_dim // self.n_heads

    @classmethod
    def from_hparams(cls, conf: dict[str, Any], n_blocks: int) -> StackConfig:
        """Build from one ``conf_*_module`` mapping of the published ``hparams.yaml``."""

        def ffns(key: str) -> tuple[FFNConfig, ...]:
            out = []
            for item in reversed(list(conf[key])):
                c = item["conf"]
                out.append(FFNConfig(int(c["dim_inner"]), int(c["conv1d_kernel"]), int(c.get("conv1d_shift", 1))))
            return tuple(out)

        return cls(
            n_blocks=int(n_blocks),
            attention_dim=int(conf["attention_dim"]),
            n_heads=int(conf["n_heads"]),
            num_groups=int(conf["num_groups"]),
            freq_ffns=ffns("freq_ffn_config"),
            frame_ffns=ffns("frame_ffn_config"),
            tf_order=str(conf.get("tf_order", "ft")),
        )

    def to_hparams(self, emb_dim: int) -> dict[str, Any]:
        """The ``conf_*_module`` mapping in the published yaml layout."""

        def ffns(items: tuple[FFNConfig, ...]) -> list[dict[str, Any]]:
            return [
                {"conf": {"conv1d_kernel": f.kernel, "conv1d_shift": f.shift, "dim_inner": f.dim_inner}}
                for f in reversed(items)
            ]

        return {
            "attention_dim": self.attention_dim,
            "emb_dim": emb_dim,
            "flash_attention": False,
            "frame_ffn_config": ffns(self.frame_ffns),
            "freq_ffn_config": ffns(self.freq_ffns),
            "n_heads": self.n_heads,
            "num_groups": self.num_groups,
            "tf_order": self.tf_order,
        }


@dataclass(frozen=True)
class TussConfig:
    """Everything needed to build a :class:`TussModel`."""

    prompts: tuple[str, ...]
    emb_dim: int
    cross_prompt: StackConfig
    cond_tse: StackConfig
    bands: tuple[int, ...] = field(default_factory=default_bands)
    decoder_dim: int | None = None
    use_sos_token: bool = True
    sample_rate: int = 48000
    n_fft: int = 2048
    hop_length: int = 512
    eps: float = 1.0e-5
    variance_normalization: bool = True

    def __post_init__(self) -> None:
        if sum(self.bands) != self.n_fft // 2 + 1:
            raise ValueError(f"bands cover {sum(self.bands)} bins, n_fft {self.n_fft} has {self.n_fft // 2 + 1}")
        if self.n_fft % self.hop_length:
            raise ValueError(f"n_fft {self.n_fft} must be a multiple of the hop {self.hop_length}")
        for name, st in (("cross_prompt", self.cross_prompt), ("cond_tse", self.cond_tse)):
            if st.attention_dim % st.n_heads:
                raise ValueError(f"{name}: attention_dim {st.attention_dim} not divisible by {st.n_heads} heads")
            if self.emb_dim % st.num_groups:
                raise ValueError(f"{name}: emb_dim {self.emb_dim} not divisible by num_groups {st.num_groups}")
            if st.tf_order not in ("ft", "tf"):
                raise ValueError(f"{name}: tf_order must be 'ft' or 'tf', got {st.tf_order!r}")
            if not 1 <= len(st.freq_ffns) <= 2 or not 1 <= len(st.frame_ffns) <= 2:
                raise ValueError(f"{name}: each path needs 1 or 2 FFNs")

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    @classmethod
    def from_hparams(
        cls,
        model_conf: dict[str, Any],
        encoder_conf: dict[str, Any] | None = None,
        variance_normalization: bool = True,
    ) -> TussConfig:
        """Build from the published ``model_conf`` (+ ``encoder_conf``) mappings."""
        enc = encoder_conf or {}
        sr = int(model_conf.get("sample_rate", 48000))
        n_fft = int(enc.get("fft_size", model_conf.get("stft_size", 2048)))
        return cls(
            prompts=tuple(model_conf["prompts"]),
            emb_dim=int(model_conf["conf_cross_prompt_module"]["emb_dim"]),
            cross_prompt=StackConfig.from_hparams(
                model_conf["conf_cross_prompt_module"], model_conf.get("nblocks_cross_prompt_module", 4)
            ),
            cond_tse=StackConfig.from_hparams(
                model_conf["conf_cond_tse_module"], model_conf.get("nblocks_cond_tse_module", 2)
            ),
            bands=default_bands(n_fft, sr),
            use_sos_token=bool(model_conf.get("use_sos_token", True)),
            sample_rate=sr,
            n_fft=n_fft,
            hop_length=int(enc.get("hop_length", n_fft // 4)),
            variance_normalization=bool(variance_normalization),
        )

    def to_sidecar(self) -> dict[str, Any]:
        """The configuration in the layout of the reference ``config.json``."""
        stft = {
            "fft_size": self.n_fft,
            "hop_length": self.hop_length,
            "normalize": None,
            "window_length": self.n_fft,
            "window_type": "sqrt_hann",
        }
        return {
            "encoder_conf": dict(stft),
            "decoder_conf": dict(stft),
            "variance_normalization": self.variance_normalization,
            "model_conf": {
                "conf_cond_tse_module": self.cond_tse.to_hparams(self.emb_dim),
                "conf_cross_prompt_module": self.cross_prompt.to_hparams(self.emb_dim),
                "nblocks_cond_tse_module": self.cond_tse.n_blocks,
                "nblocks_cross_prompt_module": self.cross_prompt.n_blocks,
                "prompts": list(self.prompts),
                "sample_rate": self.sample_rate,
                "stft_size": self.n_fft,
                "use_sos_token": self.use_sos_token,
            },
        }

    def replace(self, **changes: Any) -> TussConfig:
        return replace(self, **changes)


#: sizes of the published models: emb, (cross-prompt attention, heads, blocks),
#: (target-extraction attention, heads, blocks)
_PUBLISHED: dict[str, tuple[int, tuple[int, int, int], tuple[int, int, int]]] = {
    "medium": (64, (128, 4, 4), (96, 4, 2)),
    "large": (128, (256, 8, 6), (192, 8, 3)),
}


def published_config(size: str) -> TussConfig:
    """Configuration of the published ``tuss.<size>.2-4src`` model (``medium`` or ``large``).

    Both use 8 norm groups; the cross-prompt module has band-path FFNs of kernel 4 and
    frame-path FFNs of kernel 1 (inner width 384), the target-extraction module kernel-4
    FFNs of inner width 256 on both paths; every path is macaron (two FFNs).
    """
    try:
        emb, (att1, heads1, n1), (att2, heads2, n2) = _PUBLISHED[size]
    except KeyError:
        raise ValueError(f"unknown TUSS size {size!r}; known: {', '.join(_PUBLISHED)}") from None
    cross = StackConfig(
        n_blocks=n1,
        attention_dim=att1,
        n_heads=heads1,
        num_groups=8,
        freq_ffns=(FFNConfig(384, 4),) * 2,
        frame_ffns=(FFNConfig(384, 1),) * 2,
    )
    cond = StackConfig(
        n_blocks=n2,
        attention_dim=att2,
        n_heads=heads2,
        num_groups=8,
        freq_ffns=(FFNConfig(256, 4),) * 2,
        frame_ffns=(FFNConfig(256, 4),) * 2,
    )
    return TussConfig(prompts=PROMPTS, emb_dim=emb, cross_prompt=cross, cond_tse=cond)


# ----------------------------------------------------------------------------------------
# building blocks (attribute names are dictated by the checkpoint format)


def _no_autocast(device: torch.device) -> Any:
    """A context that turns autocast off on ``device`` (numerically sensitive parts)."""
    return torch.autocast(device_type=device.type, enabled=False)


class RMSGroupNorm(nn.Module):
    """RMS normalisation of each group of channels, per position (no mean removal).

    Input ``(..., C)``; output ``(..., C)`` float32: ``x / (rms_group(x) + eps) * gamma``.
    """

    def __init__(self, dim: int, num_groups: int, eps: float) -> None:
        super().__init__()
        self.num_groups = num_groups
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        with _no_autocast(x.device):
            shape = x.shape
            g = x.float().reshape(*shape[:-1], self.num_groups, shape[-1] // self.num_groups)
            rms = torch.linalg.vector_norm(g, dim=-1, keepdim=True) * (g.shape[-1] ** -0.5)
            return (g / (rms + self.eps)).reshape(shape) * self.gamma


class SwiGLUConvFFN(nn.Module):
    """Feed-forward layer: strided Conv1d -> SwiGLU gate -> ConvTranspose1d, along a sequence.

    Input/output ``(batch, length, dim)``.  The sequence is zero-padded by
    ``kernel - shift`` on the left and enough on the right for the transposed conv to cover
    it; the output is cropped back to ``length`` (so with shift 1 it looks
    ``kernel - 1`` steps both ways).
    """

    def __init__(self, dim: int, cfg: FFNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv1d = nn.Conv1d(dim, 2 * cfg.dim_inner, cfg.kernel, stride=cfg.shift)
        self.deconv1d = nn.ConvTranspose1d(cfg.dim_inner, dim, cfg.kernel, stride=cfg.shift)

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.cfg.kernel, self.cfg.shift
        length = x.shape[1]
        margin = k - s
        padded = math.ceil((length + 2 * margin - k) / s) * s + k
        h = F.pad(x.transpose(1, 2), (margin, padded - length - margin))
        h = self.conv1d(h)
        value, gate = h.split(self.cfg.dim_inner, dim=1)
        h = self.deconv1d(value * F.silu(gate))
        return h[..., margin : margin + length].transpose(1, 2)


class RotaryPositions(nn.Module):
    """Rotary position embedding with interleaved feature pairs ``(x0, x1), (x2, x3), ...``.

    Pair ``i`` at position ``p`` is rotated by angle ``p * freqs[i]``, with
    ``freqs[i] = theta ** (-2i / head_dim)`` for ``i < head_dim // 2`` (a last odd feature
    passes unchanged).  ``freqs`` is stored in the checkpoint.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0) -> None:
        super().__init__()
        exponents = torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim
        self.register_buffer("freqs", theta**-exponents)

    def forward(self, x: Tensor) -> Tensor:
        """Rotate ``x`` of shape ``(batch, heads, length, head_dim)`` by position (axis -2)."""
        with _no_autocast(x.device):
            n_pairs = self.freqs.shape[0]
            pos = torch.arange(x.shape[-2], device=x.device, dtype=torch.float32)
            angle = pos[:, None] * self.freqs.float()[None, :]  # (length, pairs)
            cos, sin = angle.cos(), angle.sin()
            xf = x.float()
            rot, rest = xf[..., : 2 * n_pairs], xf[..., 2 * n_pairs :]
            pairs = rot.unflatten(-1, (n_pairs, 2))
            even, odd = pairs[..., 0], pairs[..., 1]
            out = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1).flatten(-2)
            return torch.cat((out, rest), dim=-1) if rest.shape[-1] else out


class SelfAttention(nn.Module):
    """Multi-head self-attention with RoPE, no biases.  ``(batch, length, dim)`` in and out."""

    def __init__(self, dim: int, attention_dim: int, n_heads: int, head_dim: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.rope = RotaryPositions(head_dim)
        self.qkv = nn.Linear(dim, 3 * attention_dim, bias=False)
        self.aggregate_heads = nn.Sequential(nn.Linear(attention_dim, dim, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        batch, length = x.shape[:2]
        # features are laid out (q|k|v, head, head_dim)
        qkv = self.qkv(x).reshape(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, length, head_dim)
        q, k = self.rope(q), self.rope(k)
        if q.dtype != v.dtype:  # rope runs in fp32; match v under autocast
            q, k = q.to(v.dtype), k.to(v.dtype)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.aggregate_heads(out.transpose(1, 2).reshape(batch, length, -1))


class LocoformerPath(nn.Module):
    """One path of a TF-Locoformer block, attending along axis 2 of ``(B, L1, L2, C)``.

    ``[macaron FFN ->] attention -> FFN``, each pre-normalised and residual.  Positions
    along axis 1 are independent (folded into the batch).
    """

    def __init__(self, dim: int, st: StackConfig, ffns: tuple[FFNConfig, ...], eps: float) -> None:
        super().__init__()
        self.ffn_norm = nn.ModuleList([RMSGroupNorm(dim, st.num_groups, eps) for _ in ffns])
        self.ffn = nn.ModuleList([SwiGLUConvFFN(dim, f) for f in ffns])
        self.attn_norm = RMSGroupNorm(dim, st.num_groups, eps)
        self.attn = SelfAttention(dim, st.attention_dim, st.n_heads, st.head_dim)

    def forward(self, x: Tensor) -> Tensor:
        b, l1, l2, c = x.shape
        h = x.reshape(b * l1, l2, c)
        if len(self.ffn) == 2:
            h = h + self.ffn[1](self.ffn_norm[1](h))
        h = h + self.attn(self.attn_norm(h))
        h = h + self.ffn[0](self.ffn_norm[0](h))
        return h.reshape(b, l1, l2, c)


class TFLocoformerBlock(nn.Module):
    """Band path then time path (``ft``) or the reverse (``tf``) on ``(B, T, K, C)``."""

    def __init__(self, dim: int, st: StackConfig, eps: float) -> None:
        super().__init__()
        self.tf_order = st.tf_order
        self.freq_path = LocoformerPath(dim, st, st.freq_ffns, eps)
        self.frame_path = LocoformerPath(dim, st, st.frame_ffns, eps)

    def _frames(self, x: Tensor) -> Tensor:
        return self.frame_path(x.transpose(1, 2).contiguous()).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(batch, frames, bands, channels)`` -> same shape."""
        if self.tf_order == "ft":
            return self._frames(self.freq_path(x)).contiguous()
        return self.freq_path(self._frames(x).contiguous())


class BandSplit(nn.Module):
    """Band-split encoder and band-wise mask decoder.

    Encoder, per band of ``n`` bins: GroupNorm(1, 2n) over (real/imag of its bins, frames),
    then a 1x1 conv to ``dim`` channels.  Decoder, per band: GroupNorm(1, dim), two 1x1 conv
    + tanh layers of width 4*dim, a 1x1 conv to ``4n`` channels and a GLU giving the real
    and imaginary mask of the band's ``n`` bins.
    """

    def __init__(self, bands: Sequence[int], dim: int, decoder_dim: int | None = None) -> None:
        super().__init__()
        dd = dim if decoder_dim is None else decoder_dim
        self.bands = tuple(int(b) for b in bands)
        edges = [0]
        for n in self.bands:
            edges.append(edges[-1] + n)
        self.edges = tuple(edges)
        self.band_split_module = nn.ModuleList(
            [nn.Sequential(nn.GroupNorm(1, 2 * n), nn.Conv1d(2 * n, dim, 1)) for n in self.bands]
        )
        self.bandwise_decoding_module = nn.ModuleList(
            [
                nn.Sequential(
                    nn.GroupNorm(1, dd),
                    nn.Conv1d(dd, 4 * dd, 1),
                    nn.Tanh(),
                    nn.Conv1d(4 * dd, 4 * dd, 1),
                    nn.Tanh(),
                    nn.Conv1d(4 * dd, 4 * n, 1),
                    nn.GLU(dim=1),
                )
                for n in self.bands
            ]
        )

    def encode(self, spec: Tensor) -> Tensor:
        """``spec``: complex ``(B, F, T)`` -> tokens ``(B, T, K, dim)``.

        Within a band the channels are ordered ``(bin, real/imag)``.
        """
        b, _, t = spec.shape
        ri = torch.view_as_real(spec)  # (B, F, T, 2)
        out = []
        for i, layer in enumerate(self.band_split_module):
            lo, hi = self.edges[i], self.edges[i + 1]
            band = ri[:, lo:hi].permute(0, 1, 3, 2).reshape(b, 2 * (hi - lo), t)
            out.append(layer(band))  # (B, dim, T)
        return torch.stack(out, dim=-1).permute(0, 2, 3, 1)

    def decode(self, tokens: Tensor) -> Tensor:
        """``tokens``: ``(N, T, K, dim)`` -> complex mask ``(N, F, T)`` (float32 parts)."""
        per_band = tokens.permute(0, 2, 3, 1).contiguous()  # (N, K, dim, T)
        n, _, _, t = per_band.shape
        masks = []
        for i, layer in enumerate(self.bandwise_decoding_module):
            masks.append(layer(per_band[:, i]).reshape(n, 2, self.bands[i], t))
        m = torch.cat(masks, dim=2).float()  # (N, 2, F, T)
        return torch.complex(m[:, 0], m[:, 1])


class TussCore(nn.Module):
    """The separator proper: mixture STFT + prompts -> one masked STFT per prompt.

    Registered as ``separator`` inside :class:`TussModel`; its state_dict keys are those of
    the published model below ``separator.``.
    """

    def __init__(self, cfg: TussConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.emb_dim
        self.cross_prompt_module = nn.ModuleList(
            [TFLocoformerBlock(c, cfg.cross_prompt, cfg.eps) for _ in range(cfg.cross_prompt.n_blocks)]
        )
        self.cond_tse_module = nn.ModuleList(
            [TFLocoformerBlock(c, cfg.cond_tse, cfg.eps) for _ in range(cfg.cond_tse.n_blocks)]
        )
        self.band_split_module = BandSplit(cfg.bands, c, cfg.decoder_dim)
        self.prompts = nn.ParameterDict()
        for p in cfg.prompts:  # one by one: a dict argument would be sorted by name
            self.prompts[p] = nn.Parameter(torch.randn(c, 1, 1))
        if cfg.use_sos_token:
            self.sos_token = nn.Parameter(torch.randn(c, 1, 1))

    def prompt_tokens(self, prompts: Sequence[Sequence[str]]) -> Tensor:
        """Learned prompt vectors ``(B, S, dim)`` for ``prompts`` (B lists of S names)."""
        rows = [torch.stack([self.prompts[p].reshape(-1) for p in row]) for row in prompts]
        return torch.stack(rows)

    def forward(self, spec: Tensor, prompts: Sequence[Sequence[str]]) -> Tensor:
        """``spec``: complex ``(B, F, T)``; ``prompts``: B lists of S names.

        Returns the separated complex spectra ``(B, S, F, T)``.
        """
        b, _, t = spec.shape
        n_src = len(prompts[0])
        k = self.cfg.n_bands
        x = self.band_split_module.encode(spec)  # (B, T, K, C)
        head = self.prompt_tokens(prompts).to(x.dtype)  # (B, S, C)
        if self.cfg.use_sos_token:
            head = torch.cat((head, self.sos_token.reshape(1, 1, -1).to(x.dtype).expand(b, 1, -1)), dim=1)
        x = torch.cat((head[:, :, None, :].expand(-1, -1, k, -1), x), dim=1)  # (B, S+1+T, K, C)
        for block in self.cross_prompt_module:
            x = block(x)
        cond, x = x[:, :n_src], x[:, x.shape[1] - t :]  # (B, S, K, C), (B, T, K, C)
        x = (x[:, None] * cond[:, :, None]).reshape(b * n_src, t, k, -1)  # (B*S, T, K, C)
        for block in self.cond_tse_module:
            x = block(x)
        mask = self.band_split_module.decode(x).reshape(b, n_src, -1, t)
        return spec[:, None] * mask


class TussModel(nn.Module):
    """Waveform-in, waveform-out TUSS: ``forward(mix, prompts)`` like the published model.

    ``mix``: ``(batch, samples)`` float at :attr:`sample_rate` (48 kHz for the published
    models); ``prompts``: one list of prompt names per batch item, all of the same length
    ``S`` (repeats allowed, e.g. ``["sfx", "sfx"]``).  Returns ``(batch, S, L)`` with
    ``L = ceil(samples / hop) * hop`` (the STFT pads; the output is not trimmed, as in the
    published model).  Unlike the published model the caller's tensor is never modified.
    """

    def __init__(self, cfg: TussConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.separator = TussCore(cfg)
        window = torch.hann_window(cfg.n_fft, periodic=True).sqrt()
        self.register_buffer("window", window, persistent=False)
        #: where the non-shape settings came from (set by the checkpoint loader)
        self.config_source: str = "constructed"

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    @property
    def prompt_names(self) -> tuple[str, ...]:
        return self.cfg.prompts

    def output_length(self, samples: int) -> int:
        """Length of the output for an input of ``samples`` samples."""
        h = self.cfg.hop_length
        return -(-samples // h) * h

    # -- STFT ------------------------------------------------------------------------
    def stft(self, x: Tensor) -> Tensor:
        """``(B, N)`` float -> complex ``(B, F, ceil(N/hop)+1)``.

        Zero-pads ``n_fft/2`` on both sides plus up to the next hop multiple at the end;
        sqrt-Hann window, no normalisation.
        """
        n_fft, hop = self.cfg.n_fft, self.cfg.hop_length
        extra = (-x.shape[-1]) % hop
        x = F.pad(x, (n_fft // 2, n_fft // 2 + extra))
        return torch.stft(
            x, n_fft, hop_length=hop, win_length=n_fft, window=self.window, center=False, return_complex=True
        )

    def istft(self, spec: Tensor) -> Tensor:
        """Complex ``(..., F, T)`` -> ``(..., hop*(T-1))``: weighted overlap-add.

        Frames are windowed again and divided by the summed squared window (exactly
        ``torch.istft(center=True)`` without a length), written without data-dependent
        checks so that it can be captured in a CUDA graph.
        """
        n_fft, hop = self.cfg.n_fft, self.cfg.hop_length
        lead = spec.shape[:-2]
        t = spec.shape[-1]
        frames = torch.fft.irfft(spec.transpose(-1, -2), n=n_fft) * self.window  # (..., T, n_fft)
        r = n_fft // hop
        frames = frames.reshape(-1, t, r, hop)
        out = frames.new_zeros(frames.shape[0], t + r - 1, hop)
        env = self.window.new_zeros(t + r - 1, hop)
        w2 = (self.window**2).reshape(r, hop)
        for j in range(r):
            out[:, j : j + t] += frames[:, :, j]
            env[j : j + t] += w2[j]
        out = out.reshape(out.shape[0], -1)
        env = env.reshape(-1)
        start, stop = n_fft // 2, n_fft // 2 + hop * (t - 1)
        y = out[:, start:stop] / env[start:stop]
        return y.reshape(*lead, -1)

    # -- forward -----------------------------------------------------------------------
    def check_prompts(self, prompts: Sequence[Sequence[str]], batch: int) -> None:
        """Raise ``ValueError`` unless ``prompts`` is ``batch`` equal-length lists of known names."""
        if isinstance(prompts, str) or len(prompts) != batch:
            raise ValueError(f"need one prompt list per batch item ({batch}), got {prompts!r}")
        lengths = {len(row) for row in prompts}
        if len(lengths) != 1 or 0 in lengths:
            raise ValueError(f"prompt lists must be non-empty and of equal length, got {prompts!r}")
        for row in prompts:
            if isinstance(row, str):
                raise ValueError(f"each batch item needs a list of prompt names, got {row!r}")
            for p in row:
                if p not in self.separator.prompts:
                    raise ValueError(f"unknown prompt {p!r}; this model knows: {' '.join(self.cfg.prompts)}")

    def forward(self, mix: Tensor, prompts: Sequence[Sequence[str]]) -> Tensor:
        """``mix`` ``(B, N)`` -> stems ``(B, S, ceil(N/hop)*hop)`` for ``prompts`` (B x S names)."""
        if mix.ndim != 2:
            raise ValueError(f"mix must be (batch, samples), got shape {tuple(mix.shape)}")
        self.check_prompts(prompts, mix.shape[0])
        with _no_autocast(mix.device):
            x = mix.float()
            if self.cfg.variance_normalization:
                scale = x.std(dim=-1, keepdim=True) + 1e-8  # (B, 1)
                x = x / scale  # a new tensor: the caller's mix is left alone
            spec = self.stft(x)
        est = self.separator(spec, prompts)  # (B, S, F, T)
        with _no_autocast(mix.device):
            y = self.istft(est.to(torch.complex64))
            if self.cfg.variance_normalization:
                y = y * scale[:, :, None]
        return y
