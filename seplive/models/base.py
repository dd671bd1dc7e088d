"""The separator plugin contract: one agreement between the engine and a plugin.

The engine hands the plugin a :class:`StreamSpec` once (the stream's rate and channels,
the windows asked for, the compute device); the plugin answers with a :class:`Layout`
(its rate, hop, windows, delay and channel grouping, all in samples at its own rate)
from :meth:`Separator.configure`.  The base class does the common work there (binds the
rate, rounds and checks the hop, sizes the windows, groups the channels); plugins
override small hooks only (:meth:`Separator.fit_rate`, :meth:`Separator.pick_device`,
:meth:`Separator.start`).  Nothing outside a plugin writes its attributes.

Shapes, for one call of :meth:`Separator.process`:

- ``window``: ``(groups, channels, samples)`` float32 at ``Layout.rate``.  ``channels``
  is the plugin's own channel count (1: the engine applies a mono model to each input
  channel as a batch of groups; 2: a stereo model sees channel pairs; 0: any count, all
  channels in one group).  For a windowed plugin ``samples`` is
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

import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("seplive.engine")


class SeparatorError(RuntimeError):
    """A plugin cannot be built, loaded or prepared as asked (message says why)."""


def ms_to_samples(samples: int | None, ms: float | None, rate: int, multiple: int = 1) -> int | None:
    """A window length given in samples or in milliseconds, as samples at ``rate`` Hz: the
    sample count when given, else ``ms`` rounded up to a whole ``multiple`` (at least one).
    The one rule for ``--hop``/``--hop-ms`` and friends, in ``run`` and in ``eval``."""
    if samples is not None:
        return int(samples)
    if ms is None:
        return None
    m = max(int(multiple), 1)
    n = int(math.ceil(round(float(ms) * rate / 1000.0, 6)))
    return max(m, -(-n // m) * m) if m > 1 else n


@dataclass(frozen=True)
class StreamSpec:
    """What the engine asks of a plugin, handed over once.

    ``rate``: the stream's rate (Hz; a rate-agnostic plugin runs at it); ``channels``: the
    stream's channel count.  Hop, context and lookahead are given in samples (at the
    plugin's rate) or in milliseconds, ``None`` for the plugin's own; ``crossfade_ms`` is
    the engine's overlap/miss fade (a windowed plugin's context covers it).
    """

    rate: int
    channels: int
    hop_samples: int | None = None
    hop_ms: float | None = None
    context_samples: int | None = None
    context_ms: float | None = None
    lookahead_samples: int | None = None
    lookahead_ms: float | None = None
    crossfade_ms: float = 0.0
    device: str | None = "cpu"


@dataclass(frozen=True)
class Layout:
    """What a configured plugin answers: all sample counts at ``rate`` Hz, its own rate.

    ``crossfade``: samples of each hop's overlap (windowed) or miss fade (stateful), at
    most half a hop.  Channels: ``stream_channels`` input channels go to the plugin as
    ``groups`` groups of ``group_channels`` (see :meth:`group`).  ``compute_budget_hops``:
    model time per hop live, in hops.
    """

    rate: int
    hop: int
    context: int
    lookahead: int
    delay: int
    crossfade: int
    windowed: bool
    stream_channels: int
    plugin_channels: int
    groups: int
    group_channels: int
    compute_budget_hops: float

    @property
    def _odd_pairs(self) -> bool:
        return self.plugin_channels == 2 and self.stream_channels % 2 == 1

    def group(self, x: np.ndarray) -> np.ndarray:
        """``(channels, samples)`` -> ``(groups, group_channels, samples)``; a stereo
        model pairs an odd last channel with itself."""
        x = np.ascontiguousarray(x)
        if self._odd_pairs:
            x = np.concatenate([x, x[-1:]], axis=0)
        return x.reshape(self.groups, self.group_channels, -1)

    def ungroup(self, y: np.ndarray) -> np.ndarray:
        """``(prompts, groups, group_channels, samples)`` -> ``(prompts, channels, samples)``;
        mono through a stereo model averages the pair back."""
        p, _, _, n = y.shape
        flat = y.reshape(p, -1, n)
        if self._odd_pairs:
            c = self.stream_channels
            flat = 0.5 * (flat[:, :1] + flat[:, 1:2]) if c == 1 else flat[:, :c]
        return flat


def _grouping(plugin_channels: int, channels: int, name: str) -> tuple[int, int]:
    """(groups, channels per group) for ``channels`` input channels."""
    if plugin_channels == 0:  # takes every channel at once
        return 1, channels
    if plugin_channels == 1:  # mono model: the channels become a batch
        return channels, 1
    if plugin_channels == 2:  # stereo model: channel pairs (mono duplicated, an odd last channel too)
        return (channels + 1) // 2, 2
    raise SeparatorError(f"model '{name}' declares {plugin_channels} channels; 0 (any), 1 or 2 supported")


class Separator(ABC):
    """Base class of every separation plugin.

    Subclasses set the class or instance attributes below, implement :meth:`process`, and
    may override the hooks :meth:`fit_rate`, :meth:`pick_device`, :meth:`start`.
    """

    #: registry name, e.g. ``"center"``
    name: str = "separator"
    #: rate the model runs at (Hz); ``None`` runs at whatever rate the stream has
    sample_rate: int | None = None
    #: 1 = mono model applied per channel, 2 = stereo model (channel pairs),
    #: 0 = any number: the whole multichannel frame in one group
    channels: int = 1
    #: the prompt vocabulary, lower-case
    prompts: tuple[str, ...] = ()
    #: windowed plugins get ``context + hop + lookahead`` samples per call;
    #: stateful ones keep their own caches and get only the new hop (+ lookahead)
    windowed: bool = False
    #: past samples a windowed plugin wants per call (its default; configure sets the used one)
    context_samples: int = 0
    #: future samples it needs to emit the newest hop (adds latency)
    lookahead_samples: int = 0
    #: inherent delay of its output relative to its input, in samples (known after fit_rate)
    delay_samples: int = 0
    #: the hop must be a multiple of this many samples (e.g. the model's STFT hop)
    hop_multiple: int = 1
    #: hop (samples) used when the user gives none
    default_hop_samples: int = 512
    #: model time the engine grants per hop live, in hops (part of the latency); a plugin
    #: whose measured per-hop p99 sits well under its hop may ask for less
    compute_budget_hops: float = 1.0
    #: one line for ``seplive models``
    description: str = ""

    def __init__(self) -> None:
        self.hop_samples: int | None = None
        self.device: str = "cpu"
        self.layout: Layout | None = None

    # -- the agreement -----------------------------------------------------------------
    def configure(self, spec: StreamSpec) -> Layout:
        """Agree on a layout for ``spec``: bind the rate, round and check the hop, size the
        windows, group the channels, then :meth:`start`.  Raises :class:`SeparatorError`
        when the request cannot work.  Called once per engine (again: a new agreement)."""
        rate = int(self.sample_rate or spec.rate)
        self.stream_rate = rate
        self.fit_rate(rate)
        mult = max(int(self.hop_multiple), 1)
        hop = ms_to_samples(spec.hop_samples, spec.hop_ms, rate, mult) or int(self.default_hop_samples)
        if hop % mult:
            raise SeparatorError(f"hop {hop} samples is not a multiple of {mult}, which model '{self.name}' needs")
        if hop <= 0:
            raise SeparatorError(f"{self.name}: hop must be positive, got {hop}")
        crossfade = min(hop // 2, int(round(spec.crossfade_ms * rate / 1000.0)))
        context, lookahead = self._windows(spec, rate, crossfade, mult)
        groups, group_channels = _grouping(int(self.channels), int(spec.channels), self.name)
        layout = Layout(rate=rate, hop=hop, context=context, lookahead=lookahead, delay=int(self.delay_samples),
                        crossfade=crossfade, windowed=bool(self.windowed), stream_channels=int(spec.channels),
                        plugin_channels=int(self.channels), groups=groups, group_channels=group_channels,
                        compute_budget_hops=float(self.compute_budget_hops))
        self.hop_samples = hop
        self.device = self.pick_device(spec.device)
        self.context_samples, self.lookahead_samples = context, lookahead
        self.layout = layout
        self.start(layout)
        return layout

    def _windows(self, spec: StreamSpec, rate: int, crossfade: int, mult: int) -> tuple[int, int]:
        """(context, lookahead) in samples at ``rate``: a windowed plugin's on its hop grid,
        the context at least the crossfade (``None`` asked: its own, as first configured);
        a stateful plugin's own lookahead, no context."""
        if not self.windowed:
            if spec.context_samples or spec.context_ms:
                log.info("model '%s' is stateful: --context is ignored", self.name)
            if spec.lookahead_samples or spec.lookahead_ms:
                raise SeparatorError(f"model '{self.name}' is stateful and sets its own lookahead; drop --lookahead")
            return 0, int(self.lookahead_samples)
        ctx = ms_to_samples(spec.context_samples, spec.context_ms, rate)
        la = ms_to_samples(spec.lookahead_samples, spec.lookahead_ms, rate)
        own = self.__dict__.setdefault("_own_windows", (int(self.context_samples), int(self.lookahead_samples)))
        ctx = own[0] if ctx is None else ctx
        la = own[1] if la is None else la
        if ctx < 0 or la < 0:
            raise SeparatorError("context and lookahead must be >= 0 samples")
        ctx = max(ctx, crossfade)  # the overlap crossfade needs that much past context
        return -(-ctx // mult) * mult, -(-la // mult) * mult

    # -- hooks -------------------------------------------------------------------------
    def fit_rate(self, rate: int) -> None:  # noqa: B027 (optional hook)
        """Called first, with the rate (Hz) the plugin will be fed.  Rate-agnostic plugins
        (``sample_rate is None``) size their internals here (``hop_multiple``,
        ``default_hop_samples``, ``delay_samples``); fixed-rate plugins need do nothing."""

    def pick_device(self, requested: str | None) -> str:
        """The compute device to use when the engine asks for ``requested`` (``None``:
        no preference).  Plugins with a device fixed at construction return theirs."""
        return requested or self.device

    def start(self, layout: Layout) -> None:  # noqa: B027 (optional hook)
        """Called once the layout is agreed (``hop_samples``, ``device``, the windows set):
        move to the device, create one state per channel group (``layout.groups``)."""

    @abstractmethod
    def process(self, window: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """Separate one hop.  See the module docstring for shapes."""

    def reset(self) -> None:  # noqa: B027 (optional hook: stateless plugins have nothing to forget)
        """Forget all streaming state (a new stream, or a discontinuity)."""

    # -- helpers -----------------------------------------------------------------------
    def check_prompts(self, prompts: Sequence[str]) -> None:
        """Raise :class:`SeparatorError` naming the first prompt this plugin does not know."""
        for p in prompts:
            if p not in self.prompts:
                raise SeparatorError(
                    f"model '{self.name}' has no prompt '{p}'; it knows: {' '.join(self.prompts)}"
                )
