"""LASAFT-Net-v2 (enhanced LaSAFT-GPoCM-Net; Choi et al., JAES 70(9), 2022) for seplive.

- :func:`load_checkpoint`: published checkpoints (v2_light, v2_large), shapes -> config.
- :class:`LasaftSeparator`: the windowed streaming plugin (``seplive -m lasaft``).
- :class:`LasaftNet`, :func:`build_model`: the network; :mod:`.blocks`: its blocks.
- :class:`QueryEncoder`: audio-query conditioning (clip -> condition vector).
"""

from .blocks import (
    TDF,
    TFC,
    TFCTDF,
    ConditionWeightGenerator,
    GPoCM,
    GPoCMLaSAFTBlock,
    TFCLaSAFT,
    WeightNormLinear,
    pointwise_conv,
)
from .checkpoint import infer_config, load_checkpoint
from .config import LABELS, PRESETS, TINY, V2_LARGE, V2_LIGHT, LasaftConfig
from .model import LasaftNet, build_model
from .plugin import LasaftSeparator
from .query import QueryEncoder

__all__ = [
    "load_checkpoint",
    "infer_config",
    "LasaftSeparator",
    "LasaftNet",
    "build_model",
    "LasaftConfig",
    "LABELS",
    "PRESETS",
    "V2_LIGHT",
    "V2_LARGE",
    "TINY",
    "QueryEncoder",
    "TFC",
    "TDF",
    "TFCTDF",
    "ConditionWeightGenerator",
    "GPoCM",
    "TFCLaSAFT",
    "GPoCMLaSAFTBlock",
    "WeightNormLinear",
    "pointwise_conv",
]
