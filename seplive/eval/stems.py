"""Songs from a folder of stems as scoring examples (via ``seplive.data.readers``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.prompts import PROMPTS, canonical

__all__ = ["StemsExample", "stems_examples"]


@dataclass
class StemsExample:
    mixture: np.ndarray
    prompts: list[str]
    targets: np.ndarray
    sample_rate: int
    name: str = ""


def stems_examples(root: str | Path, max_seconds: float | None = None, channels: int | None = 2) -> list[StemsExample]:
    """One example per track of a stems folder (``seplive.data.readers.StemsFolder``: one
    subfolder per track, one file per prompt name; a MUSDB18-HQ split folder is one): the
    mixture is the sum of the stems, every stem is a target.  ``max_seconds`` reads only the
    start of each track; ``channels`` makes every stem that many channels."""
    try:
        from ..data.readers import StemsFolder
    except ImportError as exc:
        raise ValueError(f"--stems needs the data readers (seplive.data.readers): {exc}") from None
    if not Path(root).is_dir():
        raise ValueError(f"--stems: not a folder: {root}")
    out = []
    for name, stems, rate in StemsFolder(root, seconds=max_seconds, channels=channels):
        named = [(canonical(k), np.asarray(v, np.float32)) for k, v in stems.items() if canonical(k) in PROMPTS]
        if not named:
            continue
        n = min(a.shape[-1] for _, a in named)
        targets = np.stack([a[..., :n] for _, a in named])
        out.append(StemsExample(targets.sum(axis=0), [k for k, _ in named], targets, int(rate), name))
    if not out:
        raise ValueError(f"--stems: no track folder with stems named like prompts ({' '.join(PROMPTS)}) in {root}")
    return out
