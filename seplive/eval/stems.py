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


def stems_examples(root: str | Path, max_seconds: float | None = None) -> list[StemsExample]:
    """One example per song: the mixture is the sum of all its stems; the stems whose names
    are prompts (after aliases: ``accompaniment`` -> ``musicbg``) are the targets."""
    try:
        from ..data.readers import StemsFolder
    except ImportError as exc:
        raise ValueError(f"--stems needs the data readers (seplive.data.readers): {exc}") from None
    if not Path(root).is_dir():
        raise ValueError(f"--stems: not a folder: {root}")
    out = []
    for name, stems, rate in StemsFolder(root):
        arrays = {k: np.asarray(v, np.float32) for k, v in stems.items()}
        if not arrays:
            continue
        n = min(a.shape[-1] for a in arrays.values())
        if max_seconds:
            n = min(n, int(max_seconds * rate))
        mix = sum(a[..., :n] for a in arrays.values())
        named = [(canonical(k), a[..., :n]) for k, a in arrays.items() if canonical(k) in PROMPTS]
        if not named:
            continue
        out.append(StemsExample(np.asarray(mix, np.float32), [k for k, _ in named], np.stack([a for _, a in named]), int(rate), name))
    if not out:
        raise ValueError(f"--stems: no song with stems named like prompts ({' '.join(PROMPTS)}) in {root}")
    return out
