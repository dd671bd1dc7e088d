"""The mixer: one hop's stems crossfaded and mixed into the model-domain mix signal.

Per hop it emits the model-rate samples ``[hop*H - X, (hop+1)*H - X)`` (``H`` the hop,
``X`` the crossfade): the first ``X`` belong to the previous hop's tail, crossfaded with
this hop's head (windowed plugins) or taken as they are (stateful ones); a hop that did
not play fades its tail out to the dry input, and the next one fades back in.  The
emitted signal has the columns of :class:`MixColumns`: the stem part of the mix, the
gain the dry input gets, and the tapped stems.  Since rest = dry - selected stems, the
whole mix is the stem part plus that gain times the (delayed) dry input, added at the
output rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mix import MixState

Stems = tuple[np.ndarray, tuple[str, ...]]


@dataclass(frozen=True)
class MixColumns:
    """The columns of the mix signal ``z`` (model rate, then output rate): ``channels``
    of the stem part of the mix, one of the dry input's gain, then ``channels`` for each
    tapped stem (raw, no mix gains: for ``--stems-out``)."""

    channels: int
    taps: tuple[str, ...] = ()

    @property
    def stems(self) -> slice:
        return slice(0, self.channels)

    @property
    def dry_gain(self) -> int:
        return self.channels

    @property
    def tapped(self) -> slice:
        return slice(self.channels + 1, None)

    def tap(self, i: int) -> slice:
        c = self.channels
        return slice(c + 1 + i * c, c + 1 + (i + 1) * c)

    @property
    def width(self) -> int:
        return self.channels + 1 + len(self.taps) * self.channels


@dataclass(frozen=True)
class HopStems:
    """What one hop's output is made of, stems ``(samples, prompts, channels)``: the
    previous hop's ``tail`` (``crossfade`` samples, None after a miss), this hop's
    ``head`` (its overlap, windowed plugins only) and ``body`` (``hop`` samples; None
    when the hop did not play); ``emit``: the body samples emitted with this hop (the
    rest is the next hop's tail)."""

    tail: Stems | None
    head: np.ndarray | None
    body: np.ndarray | None
    prompts: tuple[str, ...]
    channels: int
    emit: int

    def present(self) -> set[str]:
        """Prompts with a signal in this hop's output."""
        return set(self.prompts) | set(self.tail[1] if self.tail is not None else ())

    def _one(self, stems: np.ndarray, prompts: tuple[str, ...], name: str) -> np.ndarray:
        if name in prompts:
            return stems[:, prompts.index(name)]
        return np.zeros((len(stems), self.channels), np.float32)

    def pick(self, name: str) -> tuple[np.ndarray | None, ...]:
        """Stem ``name``'s (tail, head, body) pieces as ``(samples, channels)`` audio."""
        return (
            None if self.tail is None else self._one(*self.tail, name),
            None if self.head is None else self._one(self.head, self.prompts, name),
            None if self.body is None else self._one(self.body[: self.emit], self.prompts, name),
        )


class Mixer:
    """Crossfades and mixes hops of ``hop`` model samples with ``crossfade`` overlap,
    gains from ``mix``; ``windowed``: the plugin's stems overlap from hop to hop."""

    def __init__(self, mix: MixState, columns: MixColumns, hop: int, crossfade: int, windowed: bool) -> None:
        self.mix = mix
        self.columns = columns
        self.hop, self.crossfade, self.windowed = hop, crossfade, windowed
        X = crossfade
        self._fade_in = (np.sin(0.5 * np.pi * (np.arange(X) + 0.5) / max(X, 1)) ** 2).astype(np.float32)
        self._fade_out = (1.0 - self._fade_in).astype(np.float32)
        self.reset()

    def reset(self) -> None:
        self._tail: Stems | None = (np.zeros((self.crossfade, 0, self.columns.channels), np.float32), ())

    def split(self, result: object) -> HopStems:
        """A hop's result (``(stems, prompts)`` when it played) as its pieces; keeps its tail."""
        H, X = self.hop, self.crossfade
        tail = self._tail
        if isinstance(result, tuple):
            stems, prompts = result
            head, body = (stems[:X], stems[X:]) if self.windowed else (None, stems)
            self._tail = (body[H - X :], prompts)
            return HopStems(tail, head, body, prompts, self.columns.channels, H - X)
        self._tail = None
        return HopStems(tail, None, None, (), self.columns.channels, H - X)

    def crossfade_pieces(self, tail, head, body) -> tuple[np.ndarray, np.ndarray]:
        """The hop's ``(hop, channels)`` signal from its pieces (see :meth:`HopStems.pick`),
        and its wet envelope ``(hop,)``: 1 where the model's stems play, 0 where dry."""
        H, X = self.hop, self.crossfade
        part = np.zeros((H, self.columns.channels), np.float32)
        env = np.zeros(H, np.float32)
        if body is not None:
            part[X:] = body
            env[X:] = 1.0
            if tail is not None:
                part[:X] = tail * self._fade_out[:, None] + head * self._fade_in[:, None] if head is not None else tail
                env[:X] = 1.0
            elif head is not None:
                part[:X] = head
                env[:X] = self._fade_in
            else:  # stateful model back after a miss: fade in over the body's start
                env[X : 2 * X] = self._fade_in
        elif tail is not None:
            part[:X] = tail
            env[:X] = self._fade_out
        return part, env

    def contribution(self, stems: np.ndarray, prompts: tuple[str, ...], g: np.ndarray) -> np.ndarray:
        """Stem part of the mix: sum over stems of (gain - rest gain) x stem.  ``stems``
        ``(n, P, C)``; ``g`` ``(rows, n)`` or ``(rows, 1)``."""
        if not prompts:
            return np.zeros((len(stems), self.columns.channels), np.float32)
        rows = [self.mix.index[p] for p in prompts]
        coef = g[rows] - g[self.mix.rest_row]  # (P, n|1)
        if coef.shape[1] == 1:  # constant gains (the usual case): one small matrix product
            return np.einsum("npc,p->nc", stems, coef[:, 0])
        return np.einsum("npc,pn->nc", stems, coef)

    def mixed_pieces(self, hs: HopStems, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """The (tail, head, body) pieces of the stem part of the mix, gains ``g``."""
        H, X = self.hop, self.crossfade

        def span(a: int, b: int) -> np.ndarray:
            return g if g.shape[1] == 1 else g[:, a:b]

        return (
            None if hs.tail is None else self.contribution(hs.tail[0], hs.tail[1], span(0, X)),
            None if hs.head is None else self.contribution(hs.head, hs.prompts, span(0, X)),
            None if hs.body is None else self.contribution(hs.body[: hs.emit], hs.prompts, span(X, H)),
        )

    def columns_for(self, part: np.ndarray, env: np.ndarray, g: np.ndarray, hs: HopStems) -> np.ndarray:
        """The hop's mix signal ``(hop, width)``: ``part`` (the crossfaded stem part) at the
        wet and master gains, the dry input's gain, the tapped stems."""
        cols, P = self.columns, len(self.mix.vocabulary)
        g_rest, g_wet, g_master = g[P], g[P + 1], g[P + 2]
        w = env * g_wet
        z = np.empty((self.hop, cols.width), np.float32)
        z[:, cols.stems] = (g_master * w)[:, None] * part
        z[:, cols.dry_gain] = g_master * (1.0 - w + w * g_rest)
        for i, name in enumerate(cols.taps):
            # raw stems for a DAW (no mix gains): silent where the model missed (rest = dry)
            tap, _ = self.crossfade_pieces(*hs.pick(name))
            z[:, cols.tap(i)] = env[:, None] * tap
        return z
