"""Batches for training: any example source, sharded by process rank and loader worker.

An example source is anything with ``example(index) -> Example`` (``mixture (C, T)``,
``prompts`` list of names, ``targets (P, C, T)``, ``sample_rate``), deterministic in
``index``: :class:`seplive.data.MixtureSampler` in practice.

Slot ``b`` of process ``r``'s batch at step ``s`` is example ``(r * B + b) * STRIDE + s``:
every slot of the global batch walks its own run of consecutive indices.  So the stream is
the same whatever the number of loader workers, two processes never see the same example,
resuming at step ``s`` continues exactly where an uninterrupted run would be, and a batch
mixes ``B`` different songs (the generator renders one song per ``songs_reuse`` consecutive
indices, so contiguous index blocks would fill a batch with crops of one song, while here
each slot keeps its song for a few steps and the song cache stays warm).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..models.prompts import PROMPTS

__all__ = ["ExampleSource", "collate", "batch_indices", "BatchStream", "make_sampler"]


class ExampleSource(Protocol):
    def example(self, index: int) -> Any: ...


def collate(examples: Sequence[Any], prompts: Sequence[str] = PROMPTS) -> dict[str, torch.Tensor]:
    """Examples -> ``{"mix" (B, C, T), "ids" (B, P) long (-1 = padding), "targets" (B, P, C, T)}``."""
    p = max(len(e.prompts) for e in examples)
    c, t = np.shape(examples[0].mixture)
    mix = np.zeros((len(examples), c, t), np.float32)
    ids = np.full((len(examples), p), -1, np.int64)
    targets = np.zeros((len(examples), p, c, t), np.float32)
    for b, e in enumerate(examples):
        if np.shape(e.mixture) != (c, t):
            raise ValueError(f"example {b} has shape {np.shape(e.mixture)}, the batch {(c, t)}")
        mix[b] = e.mixture
        for j, name in enumerate(e.prompts):
            if name not in prompts:
                raise ValueError(f"example prompt '{name}' is not in the vocabulary {' '.join(prompts)}")
            ids[b, j] = prompts.index(name)
        targets[b, : len(e.prompts)] = e.targets
    return {"mix": torch.from_numpy(mix), "ids": torch.from_numpy(ids), "targets": torch.from_numpy(targets)}


#: index distance between two batch slots' runs (room for 2**40 steps)
STRIDE = 2**40


def batch_indices(step: int, batch_size: int, rank: int = 0, world: int = 1) -> list[int]:
    """Example indices of process ``rank``'s batch at ``step`` (see the module docstring)."""
    if not 0 <= rank < world or step < 0:
        raise ValueError(f"bad shard: step {step}, rank {rank} of {world}")
    return [(rank * batch_size + b) * STRIDE + step for b in range(batch_size)]


class BatchStream(IterableDataset):
    """Endless collated batches from ``start_step`` on (``fixed``: batch 0 forever).

    With DataLoader workers, worker ``w`` of ``n`` makes steps ``start + w, start + w + n,
    ...``; the DataLoader takes from the workers in turn, so the order is the steps' order.
    """

    def __init__(
        self,
        source: ExampleSource,
        batch_size: int,
        start_step: int = 0,
        rank: int = 0,
        world: int = 1,
        fixed: bool = False,
    ) -> None:
        super().__init__()
        self.source = source
        self.batch_size = int(batch_size)
        self.start_step = int(start_step)
        self.rank, self.world = int(rank), int(world)
        self.fixed = bool(fixed)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        idx = batch_indices(0 if self.fixed else step, self.batch_size, self.rank, self.world)
        return collate([self.source.example(i) for i in idx])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        wid, n = (info.id, info.num_workers) if info is not None else (0, 1)
        step = self.start_step + wid
        while True:
            yield self.batch(step)
            step += n


def make_sampler(data: Any) -> ExampleSource:
    """The synthetic generator for a ``[data]`` config section (one-line error if missing)."""
    try:
        from ..data import MixtureSampler
    except ImportError as exc:
        raise ValueError(f"the data generator (seplive.data) is not available: {exc}") from None
    kw: dict[str, Any] = {
        "seed": data.seed,
        "sample_rate": data.sample_rate,
        "seconds": data.seconds,
        "channels": data.channels,
        "dropout": data.dropout,
        "flite_speech": data.flite_speech,
        "studio_mix": data.studio_mix,
        "produced_mix": data.produced_mix,
        "loud_master": data.loud_master,
        "spoken_vocals": data.spoken_vocals,
        "recorded_speech": data.recorded_speech,
        "recorded_sfx": data.recorded_sfx,
        "real_kits": data.real_kits,
        "sparse_bands": data.sparse_bands,
        "two_hands": data.two_hands,
        "letter_voices": data.letter_voices,
    }
    if data.tasks is not None:
        kw["tasks"] = list(data.tasks)
    return MixtureSampler(**kw)
