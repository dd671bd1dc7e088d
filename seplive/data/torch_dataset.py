"""A torch IterableDataset over a MixtureSampler, sharded across DataLoader workers.

Batching with a variable number of prompts: every item is padded to ``max_prompts`` (4, the most
TUSS draws) with prompt id -1 and all-zero targets, so the default collate stacks them.  Prompt
ids index ``seplive.models.prompts.PROMPTS``.  A dropped-out prompt keeps its real id and has a
zero target (the model must output silence for it); padding slots have id -1 and must be masked
out of the loss.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..models.prompts import PROMPTS
from .mixing import Example, MixtureSampler

MAX_PROMPTS = 4


def to_tensors(ex: Example, max_prompts: int = MAX_PROMPTS) -> dict[str, torch.Tensor]:
    """mixture (C, T), prompt_ids (max_prompts,) long with -1 padding, targets (max_prompts, C, T)."""
    p = len(ex.prompts)
    if p > max_prompts:
        raise ValueError(f"{p} prompts > max_prompts={max_prompts}")
    ids = np.full(max_prompts, -1, np.int64)
    ids[:p] = [PROMPTS.index(name) for name in ex.prompts]
    targets = np.zeros((max_prompts,) + ex.mixture.shape, np.float32)
    targets[:p] = ex.targets
    return {
        "mixture": torch.from_numpy(np.ascontiguousarray(ex.mixture)),
        "prompt_ids": torch.from_numpy(ids),
        "targets": torch.from_numpy(targets),
    }


class MixtureDataset(IterableDataset):
    """Examples ``start .. stop-1`` of ``sampler`` (``stop=None``: endless), split across workers.

    Indices are dealt to workers in blocks of ``sampler.songs_reuse`` (the examples that share a
    rendered song), so each song is rendered by one worker only: worker ``w`` of ``k`` takes blocks
    ``w, w + k, ...``.  The union over workers is the whole range once, and each index is the same
    Example whichever worker makes it.
    """

    def __init__(self, sampler: MixtureSampler, start: int = 0, stop: int | None = None,
                 max_prompts: int = MAX_PROMPTS) -> None:
        super().__init__()
        self.sampler = sampler
        self.start = int(start)
        self.stop = None if stop is None else int(stop)
        self.max_prompts = int(max_prompts)

    def indices(self, worker: int = 0, workers: int = 1):
        """The indices worker ``worker`` of ``workers`` makes, in order."""
        block = max(1, getattr(self.sampler, "songs_reuse", 1))
        first = self.start // block
        blocks = itertools.count(first + worker, workers)
        for b in blocks:
            for i in range(max(self.start, b * block), (b + 1) * block):
                if self.stop is not None and i >= self.stop:
                    return
                yield i

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for i in self.indices(worker, workers):
            yield to_tensors(self.sampler.example(i), self.max_prompts)

    def __len__(self) -> int:
        if self.stop is None:
            raise TypeError("endless MixtureDataset has no length")
        return max(0, self.stop - self.start)
