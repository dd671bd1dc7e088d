"""Hyper-parameters of the LaSAFT-GPoCM U-Net and the two published presets.

Only shapes matter for checkpoint compatibility; :func:`seplive.models.lasaft.checkpoint`
infers every field below from a state_dict except the activation (which leaves no trace
in the weights and is taken from the matching preset, or given explicitly).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

#: the label vocabulary of the published models, in embedding-row order
LABELS: tuple[str, ...] = ("vocals", "drums", "bass", "other")


@dataclass(frozen=True)
class LasaftConfig:
    """Everything needed to build :class:`~seplive.models.lasaft.model.LasaftNet`.

    Frequencies: the STFT has ``n_fft // 2 + 1`` bins; the first convolution drops one, so
    the U-Net works on ``n_fft // 2`` bins, halved by each of the ``n_levels`` down-samplings.
    """

    #: STFT size and hop (samples at 44.1 kHz)
    n_fft: int = 2048
    hop_length: int = 1024
    #: frames per training window (the model was trained on 128-frame windows)
    train_frames: int = 128
    #: spectrogram channels: re/im of each audio channel (stereo -> 4)
    spec_channels: int = 4
    #: internal channel count (= growth rate of every dense TFC block)
    channels: int = 20
    #: down-sampling levels (the reference calls ``2 * levels + 1`` "n_blocks")
    n_levels: int = 3
    #: densely connected conv layers per TFC block
    tfc_layers: int = 5
    #: TFC kernel (time, frequency)
    kernel: tuple[int, int] = (3, 3)
    #: TDF bottleneck: ``max(f // bn_factor, min_bn_units)`` hidden units
    bn_factor: int = 16
    min_bn_units: int = 16
    #: whether the frequency MLPs have biases
    tdf_bias: bool = False
    #: activation of every block ("leaky_relu" or "relu")
    activation: str = "leaky_relu"
    #: number of labels and size of the condition vector
    n_labels: int = 4
    embedding_dim: int = 32
    #: number of latent sources |S_L| and attention key/query size d_k
    n_latent: int = 16
    dk: int = 32
    #: enhanced LaSAFT: per-frame query and key listening (both False = original LaSAFT)
    query_listen: bool = True
    key_listen: bool = True

    # -- derived sizes ----------------------------------------------------------------
    @property
    def n_blocks(self) -> int:
        """Encoder + middle + decoder block count, as the reference configuration counts."""
        return 2 * self.n_levels + 1

    @property
    def freq_bins(self) -> int:
        """Bins of the complex spectrogram (``n_fft // 2 + 1``)."""
        return self.n_fft // 2 + 1

    @property
    def frame_multiple(self) -> int:
        """The U-Net needs a frame count divisible by this (``2 ** n_levels``)."""
        return 2**self.n_levels

    def bottleneck(self, f: int) -> int:
        """Hidden units of a frequency MLP over ``f`` bins."""
        return max(f // self.bn_factor, self.min_bn_units)

    def level_bins(self, level: int) -> int:
        """Frequency bins at U-Net level ``level`` (0 = full resolution)."""
        return (self.n_fft // 2) >> level

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> LasaftConfig:
        return replace(self, **changes)


#: LASAFT-Net-v2 light (1.9 M parameters): 12 latent sources, leaky ReLU
V2_LIGHT = LasaftConfig(
    n_fft=2048,
    channels=20,
    n_levels=3,
    embedding_dim=32,
    n_latent=12,
    dk=32,
    activation="leaky_relu",
)

#: LASAFT-Net-v2 large (7.9 M parameters): n_fft 4096, 16 latent sources, ReLU
V2_LARGE = LasaftConfig(
    n_fft=4096,
    channels=24,
    n_levels=4,
    embedding_dim=64,
    n_latent=16,
    dk=32,
    activation="relu",
)

#: a tiny network of the same structure (n_fft 256, hop 128), for tests and quick checks
TINY = LasaftConfig(
    n_fft=256,
    hop_length=128,
    channels=6,
    n_levels=2,
    tfc_layers=2,
    bn_factor=8,
    min_bn_units=4,
    embedding_dim=8,
    n_latent=4,
    dk=8,
)

PRESETS: dict[str, LasaftConfig] = {"v2_light": V2_LIGHT, "v2_large": V2_LARGE, "tiny": TINY}


def preset(name: str) -> LasaftConfig:
    """The named preset; ``KeyError`` message lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown LaSAFT preset '{name}'; known: {', '.join(PRESETS)}") from None
