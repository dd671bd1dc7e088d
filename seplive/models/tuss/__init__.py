"""TUSS (Task-Aware Unified Source Separation, Saijo et al., ICASSP 2025) hosted in seplive.

- :func:`load_official`: a published ``model.pth`` -> eval-mode :class:`TussModel`
  (``model(mix (B, N), prompts) -> (B, S, ceil(N/512)*512)``), sizes read from the file.
- :func:`save_official`: write a model in the published on-disk format.
- :class:`TussSeparator`: the streaming plugin (registry name ``tuss``).
"""

from .checkpoint import load_official, save_official
from .model import PROMPTS, TussConfig, TussModel
from .plugin import TussSeparator, complete_prompts

__all__ = [
    "PROMPTS",
    "TussConfig",
    "TussModel",
    "TussSeparator",
    "complete_prompts",
    "load_official",
    "save_official",
]
