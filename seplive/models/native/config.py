"""Settings of the native streaming network: JSON-serialisable presets and their validation.

A config is a plain ``dict`` (what the checkpoint sidecar stores); :class:`NativeConfig`
is its validated, typed form.  Sizes are chosen for a single CPU thread at the shipped
hop (see ``docs/models/native.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..prompts import PROMPTS

#: band layout as ``[width_bins, count]`` runs; bands of one width run as one batched
#: matmul, so few distinct widths keep the per-hop op count low
# 47 Hz bins: 4-bin bands (188 Hz) to 2.25 kHz, 16-bin to 11.25 kHz, 39-bin to 24 kHz; three
# widths = three batched matmuls each way (the per-bin masks keep the fine resolution)
_SMALL_BANDS = [[4, 12], [16, 12], [39, 7]]
_TINY_BANDS = [[4, 4], [8, 4], [16, 4], [32, 4], [64, 3], [81, 1]]

PRESETS: dict[str, dict[str, Any]] = {
    # the shipped default: 3 STFT frames per 384-sample hop on one CPU thread
    "small": {
        "sample_rate": 48000,
        "channels": 2,
        "n_fft": 1024,
        "hop": 128,
        "synthesis_window": 256,
        "compress": 0.3,
        "bands": _SMALL_BANDS,
        "dim": 64,
        "layers": 2,
        "heads": 4,
        "ffn_mult": 2,
        "prompt_dim": 32,
        "latent_sources": 6,
        "key_dim": 16,
        "decoder_dim": 128,
        "max_repeats": 4,
        "prompts": list(PROMPTS),
    },
    # for tests: same STFT, narrow everything
    "tiny": {
        "sample_rate": 48000,
        "channels": 2,
        "n_fft": 1024,
        "hop": 128,
        "synthesis_window": 256,
        "compress": 0.3,
        "bands": _TINY_BANDS,
        "dim": 16,
        "layers": 1,
        "heads": 2,
        "ffn_mult": 2,
        "prompt_dim": 8,
        "latent_sources": 3,
        "key_dim": 8,
        "decoder_dim": 16,
        "max_repeats": 4,
        "prompts": list(PROMPTS),
    },
}


class ConfigError(ValueError):
    """A config that cannot build a network (one line, names the key)."""


@dataclass(frozen=True)
class NativeConfig:
    sample_rate: int
    channels: int
    #: analysis window = FFT length (frequency resolution)
    n_fft: int
    #: STFT hop (frame rate; the plugin's hop must be a multiple of it)
    hop: int
    #: length of the short synthesis window: the output delay is ``synthesis_window - hop``
    synthesis_window: int
    #: magnitude power-law compression of the input features (|X| ** compress)
    compress: float
    bands: tuple[tuple[int, int], ...]
    dim: int
    layers: int
    heads: int
    ffn_mult: int
    prompt_dim: int
    latent_sources: int
    key_dim: int
    decoder_dim: int
    max_repeats: int
    prompts: tuple[str, ...]

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def n_bands(self) -> int:
        return sum(c for _, c in self.bands)

    @property
    def delay_samples(self) -> int:
        """Output delay after a frame's newest sample (the overlap-add tail)."""
        return self.synthesis_window - self.hop

    @property
    def algorithmic_latency_samples(self) -> int:
        """Delay plus one STFT hop of buffering: input sample to output sample."""
        return self.synthesis_window

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bands"] = [list(b) for b in self.bands]
        d["prompts"] = list(self.prompts)
        return d


def _as_int(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"native config: '{key}' must be an integer, got {v!r}")
    return v


def make_config(spec: str | dict[str, Any] | NativeConfig, **overrides: Any) -> NativeConfig:
    """A preset name, a config dict (e.g. from a sidecar) or a config, plus overrides ->
    a validated :class:`NativeConfig`.  Raises :class:`ConfigError` with one line."""
    if isinstance(spec, NativeConfig):
        base = spec.to_dict()
    elif isinstance(spec, str):
        if spec not in PRESETS:
            raise ConfigError(f"native: unknown config '{spec}'; presets: {', '.join(PRESETS)}")
        base = dict(PRESETS[spec])
    elif isinstance(spec, dict):
        base = dict(spec)
    else:
        raise ConfigError(f"native config must be a preset name or a dict, got {type(spec).__name__}")
    base.update(overrides)
    names = [f.name for f in fields(NativeConfig)]
    unknown = [k for k in base if k not in names]
    missing = [k for k in names if k not in base]
    if unknown:
        raise ConfigError(f"native config: unknown key '{unknown[0]}'; known: {', '.join(names)}")
    if missing:
        raise ConfigError(f"native config: missing key '{missing[0]}'")
    vals: dict[str, Any] = {}
    for k in names:
        v = base[k]
        if k == "compress":
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v <= 1:
                raise ConfigError(f"native config: 'compress' must be in (0, 1], got {v!r}")
            vals[k] = float(v)
        elif k == "bands":
            try:
                vals[k] = tuple((int(w), int(c)) for w, c in v)
            except (TypeError, ValueError):
                raise ConfigError("native config: 'bands' must be a list of [width, count] pairs") from None
        elif k == "prompts":
            if not isinstance(v, (list, tuple)) or not v or not all(isinstance(p, str) for p in v):
                raise ConfigError("native config: 'prompts' must be a non-empty list of names")
            vals[k] = tuple(v)
        else:
            vals[k] = _as_int(k, v)
    cfg = NativeConfig(**vals)
    _check(cfg)
    return cfg


def _check(c: NativeConfig) -> None:
    if c.channels not in (1, 2):
        raise ConfigError(f"native config: channels must be 1 or 2, got {c.channels}")
    if min(c.n_fft, c.hop, c.synthesis_window, c.dim, c.layers, c.heads, c.prompt_dim) <= 0:
        raise ConfigError("native config: sizes must be positive")
    sw = c.synthesis_window
    if sw % 2 or sw > c.n_fft or sw % c.hop or sw < 2 * c.hop:
        raise ConfigError(
            f"native config: synthesis_window ({sw}) must be even, <= n_fft ({c.n_fft}), "
            f"and a multiple of hop ({c.hop}) of at least two hops"
        )
    if c.n_fft % c.hop:
        raise ConfigError(f"native config: n_fft {c.n_fft} must be a multiple of hop {c.hop}")
    if any(w <= 0 or n <= 0 for w, n in c.bands):
        raise ConfigError("native config: band widths and counts must be positive")
    covered = sum(w * n for w, n in c.bands)
    if covered != c.n_bins:
        raise ConfigError(f"native config: bands cover {covered} bins, the STFT has {c.n_bins}")
    if c.dim % c.heads:
        raise ConfigError(f"native config: dim {c.dim} must be a multiple of heads {c.heads}")
    if c.latent_sources < 1 or c.key_dim < 1 or c.decoder_dim < 1 or c.max_repeats < 1 or c.ffn_mult < 1:
        raise ConfigError("native config: latent_sources, key_dim, decoder_dim, max_repeats, ffn_mult must be >= 1")
