"""The separator plugin contract.

A separator is shaped like an audio plugin: it declares what it needs, is prepared for a
hop size and a compute device, processes one hop at a time, and can be reset.

Shapes, for one call of :meth:`Separator.process`:

- ``window``: ``(groups, channels, samples)`` float32 at :attr:`Separator.sample_rate`
  (or at the stream's rate when that is ``None``).  ``channels`` is the plugin's own
  channel count (1: the engine applies a mono model to each input channel as a batch of
  groups; 2: a stereo model sees channel pairs; 0: any count, all channels in one group).  For a windowed plugin ``samples`` is
  ``context + hop + lookahead``; for a stateful one it is ``hop`` (its context is its own
  cache) plus ``lookahead``.
- return value: ``(n_prompts, groups, channels, out_samples)`` float32, the stems for the
  given prompts in order.  The last output sample belongs to input sample
  ``samples - lookahead - 1 - delay_samples`` of the window.  A stateful plugin returns
  exactly ``hop`` samples; a windowed plugin returns the stems of its whole window up to
  the lookahead (``context + hop`` samples) or at least the newest ``hop + context``
  samples it has; the engine keeps the newest ``hop + crossfade`` of them and crossfades
  the older part with the previous call's output.

Everything is in samples at the plugin's rate; the engine does the resampling and the
latency arithmetic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class SeparatorError(RuntimeError):
    """A plugin cannot be built, loaded or prepared as asked (message says why)."""


class Separator(ABC):
    """Base class of every separation plugin.

    Subclasses set the class or instance attributes below and implement :meth:`process`.
    """

    #: registry name, e.g. ``"center"``
    name: str = "separator"
    #: rate the model runs at; ``None`` runs at whatever rate the stream has
    sample_rate: int | None = None
    #: 1 = mono model applied per channel, 2 = stereo model (channel pairs),
    #: 0 = any number: the whole multichannel frame in one group
    channels: int = 1
    #: the prompt vocabulary, lower-case
    prompts: tuple[str, ...] = ()
    #: windowed plugins get ``context + hop + lookahead`` samples per call;
    #: stateful ones keep their own caches and get only the new hop (+ lookahead)
    windowed: bool = False
    #: past samples a windowed plugin wants per call
    context_samples: int = 0
    #: future samples it needs to emit the newest hop (adds latency)
    lookahead_samples: int = 0
    #: inherent delay of its output relative to its input (valid after prepare)
    delay_samples: int = 0
    #: the hop must be a multiple of this (e.g. the model's STFT hop)
    hop_multiple: int = 1
    #: hop used when the user gives none
    default_hop_samples: int = 512
    #: model time the engine grants per hop live, in hops (part of the latency); a plugin
    #: whose measured per-hop p99 sits well under its hop may ask for less
    compute_budget_hops: float = 1.0
    #: one line for ``seplive models``
    description: str = ""

    def __init__(self) -> None:
        self.hop_samples: int | None = None
        self.device: str = "cpu"

    # -- lifecycle -------------------------------------------------------------------
    def bind_rate(self, sample_rate: int) -> None:
        """Called first, with the rate the engine will feed.  Rate-agnostic plugins
        (``sample_rate is None``) size their internals here (and may set
        ``hop_multiple`` / ``default_hop_samples``); fixed-rate plugins need do nothing."""
        self.stream_rate = sample_rate

    def prepare(self, hop_samples: int, device: str = "cpu", sample_rate: int | None = None) -> None:
        """Get ready to process hops of ``hop_samples`` at ``sample_rate`` on ``device``.

        ``sample_rate`` is the rate the engine will feed (the plugin's own rate, or the
        stream's rate for rate-agnostic plugins).  Raise :class:`SeparatorError` if the
        hop cannot work.
        """
        if hop_samples <= 0:
            raise SeparatorError(f"{self.name}: hop must be positive, got {hop_samples}")
        if hop_samples % self.hop_multiple:
            raise SeparatorError(
                f"{self.name}: hop {hop_samples} samples is not a multiple of {self.hop_multiple}"
            )
        self.hop_samples = hop_samples
        self.device = device
        if self.sample_rate is None and sample_rate is not None:
            self.stream_rate = sample_rate

    def prepare_streams(self, streams: int) -> None:  # noqa: B027 (optional hook)
        """Called once after :meth:`prepare` with how many independent streams (channel
        groups, the first axis of ``window``) each call will carry; plugins that keep a
        state per stream create them here rather than on the first hop."""

    @abstractmethod
    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """Separate one hop.  See the module docstring for shapes."""

    def reset(self) -> None:  # noqa: B027 (optional hook: stateless plugins have nothing to forget)
        """Forget all streaming state (a new stream, or a discontinuity)."""

    # -- helpers ---------------------------------------------------------------------
    def check_prompts(self, prompts: Sequence[str]) -> None:
        """Raise :class:`SeparatorError` naming the first prompt this plugin does not know."""
        for p in prompts:
            if p not in self.prompts:
                raise SeparatorError(
                    f"model '{self.name}' has no prompt '{p}'; it knows: {' '.join(self.prompts)}"
                )
