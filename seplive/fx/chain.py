"""The engine's effect rack: per-stem parameter ramps and the pyo chains they drive.

The engine calls :meth:`FxRack.begin_hop` once per hop with the mix's effect settings,
then :meth:`FxRack.process` for each stem it has separated, with the stem's crossfaded
signal for that hop (one continuous stream per stem, as stateful effects need).  A stem
with no effect on, or whose gain over the hop is 0, is not processed at all (counted in
:attr:`FxRack.skipped`): its effects cannot be heard.

Parameters ramp like the gains, over ``ramp_samples``: linearly, or linearly in the log
domain for frequencies and Q (a cutoff sweep moves evenly in pitch).  The rack works out
where each ramp is at every hop's end; pyo moves there linearly over the hop (so a log
ramp is followed piecewise-linearly, exact at hop boundaries).  Each effect stage
also has an on/off signal that ramps, so switching one on or off does not click.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from .params import NAMES, PARAMS, STAGES, FxSettings, is_active

log = logging.getLogger("seplive.fx")

_LOG = np.array([PARAMS[n].log for n in NAMES])
_CUTOFFS = np.array([NAMES.index("highpass"), NAMES.index("lowpass")])
_NEUTRAL = np.array([PARAMS[n].neutral for n in NAMES], np.float64)


def _domain(values: np.ndarray) -> np.ndarray:
    """Values -> the domain ramps are linear in (log for frequencies and Q)."""
    return np.where(_LOG, np.log(np.maximum(values, 1e-9)), values)


def _undomain(d: np.ndarray) -> np.ndarray:
    return np.where(_LOG[:, None], np.exp(d), d)


class _StemState:
    """Ramping parameter and stage vectors of one stem (in the ramp domain)."""

    def __init__(self, ramp: int) -> None:
        self.ramp = ramp
        self.cur = np.concatenate([_domain(_NEUTRAL), np.zeros(len(STAGES))])
        self.target = self.cur.copy()
        self.step = np.zeros_like(self.cur)
        self.left = 0
        self.chain = None
        self.builder: threading.Thread | None = None
        self.stale = False  # skipped since last processed: reset tails on the next call
        self.end: np.ndarray | None = None  # where the ramps are at the end of this hop

    def set_target(self, params: dict[str, float]) -> None:
        values = np.array([params.get(n, PARAMS[n].neutral) for n in NAMES], np.float64)
        stages = np.array([1.0 if is_active(params, s) else 0.0 for s in STAGES])
        target = np.concatenate([_domain(values), stages])
        if not np.array_equal(target, self.target):
            self.target = target
            self.step = (target - self.cur) / self.ramp
            self.left = self.ramp

    @property
    def wanted(self) -> bool:
        """Some stage is on, or fading in or out."""
        n = len(NAMES)
        return bool(self.cur[n:].any() or self.target[n:].any())

    def advance(self, n: int) -> None:
        """Move the ramps on by ``n`` samples (pyo ramps linearly between hop ends)."""
        if self.left:
            k = min(n, self.left)
            self.left -= k
            self.cur = self.target.copy() if self.left == 0 else self.cur + self.step * k
        self.end = self.cur


class FxRack:
    """Effects of every stem of one engine.  Worker side only (no locks needed)."""

    def __init__(self, rate: int, channels: int, hop: int, ramp_samples: int, settings: FxSettings | None = None) -> None:
        self.rate, self.channels, self.hop = int(rate), int(channels), int(hop)
        self.ramp = max(int(ramp_samples), 1)
        self._stems: dict[str, _StemState] = {}
        self._seen: FxSettings | None = None
        #: hops processed / skipped per stem (a skipped hop costs nothing)
        self.processed: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        #: hops a stem's effects were on but its chain was still being built (played dry)
        self.pending: dict[str, int] = {}
        #: a chain failed to build or run: effects are off for the rest of the session
        self.failed = ""
        if settings:
            self.begin_hop(settings, 0)
            for st in self._stems.values():  # the configured effects are on from the start
                st.cur, st.left = st.target.copy(), 0
                st.chain = self._build(st.cur)

    # -- delay ------------------------------------------------------------------------
    #: samples the chains delay a stem by: none (IIR filters, no compressor look-ahead;
    #: echo and reverb only add later copies), so the dry path needs no extra delay
    delay_samples = 0

    def _build(self, start: np.ndarray | None = None):
        from .pyo_backend import PyoChain  # noqa: PLC0415

        if start is None:
            return PyoChain(self.rate, self.channels, self.hop)
        n = len(NAMES)
        values = _undomain(start[:n, None])[:, 0]
        values[_CUTOFFS] = np.minimum(values[_CUTOFFS], 0.45 * self.rate)
        return PyoChain(self.rate, self.channels, self.hop, values, start[n:])

    def _chain(self, stem: str):
        """The stem's chain, or None while it is built: a chain turned on live is built
        on a thread of its own (~0.1 s), never on the audio worker."""
        st = self._stems[stem]
        if st.chain is None and st.builder is None:

            def build() -> None:
                try:
                    st.chain = self._build()
                except Exception as exc:  # reported by the worker, which then plays without
                    st.chain = exc

            st.builder = threading.Thread(target=build, name=f"seplive-fx-{stem}", daemon=True)
            st.builder.start()
        if isinstance(st.chain, Exception):
            raise st.chain
        return st.chain

    def begin_hop(self, settings: FxSettings, n: int) -> None:
        """Take the effect settings in force for the next ``n`` samples; advance ramps."""
        if settings != self._seen:
            for stem, params in settings.items():
                if stem not in self._stems:
                    if not any(is_active(params, s) for s in STAGES):
                        continue
                    self._stems[stem] = _StemState(self.ramp)
                self._stems[stem].set_target(params)
            for stem, st in self._stems.items():
                if stem not in settings:
                    st.set_target({})
            self._seen = {k: dict(v) for k, v in settings.items()}
        if n:
            for st in self._stems.values():
                if st.chain is None:  # not built yet: its ramps start once it can play them
                    st.end = st.cur
                else:
                    st.advance(n)

    def active(self) -> list[str]:
        """Stems whose effects can be heard when they are audible."""
        return [s for s, st in self._stems.items() if st.wanted or (st.end is not None and st.end[len(NAMES) :].any())]

    def reset(self) -> None:
        """A new stream: effect tails are forgotten when each chain next runs."""
        for st in self._stems.values():
            st.stale = True

    def skip(self, stem: str) -> None:
        """The stem is silent this hop: its chain is not run."""
        self.skipped[stem] = self.skipped.get(stem, 0) + 1
        st = self._stems.get(stem)
        if st is not None:
            st.stale = True

    def process(self, stem: str, x: np.ndarray) -> np.ndarray | None:
        """The stem's hop ``x`` (hop, C) through its chain; None if effects are off."""
        if self.failed:
            return None
        st = self._stems[stem]
        try:
            chain = self._chain(stem)
            if chain is None:
                self.pending[stem] = self.pending.get(stem, 0) + 1
                return None
            if st.stale:
                chain.reset()
                st.stale = False
            n = len(NAMES)
            values = _undomain(st.end[:n, None])[:, 0]
            # cutoffs stay below Nyquist at any model rate (20 kHz at a 16 kHz model...)
            values[_CUTOFFS] = np.minimum(values[_CUTOFFS], 0.45 * self.rate)
            y = chain.process(x, values, st.end[n:])
        except Exception as exc:  # effects failing must not stop the audio
            self.failed = f"{type(exc).__name__}: {exc}"
            log.error("effects failed, playing without them from now on: %s", self.failed)
            return None
        if not np.isfinite(y).all():
            y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
            st.stale = True
        self.processed[stem] = self.processed.get(stem, 0) + 1
        return y

    def close(self) -> None:
        for st in self._stems.values():
            if st.builder is not None:
                st.builder.join()
            if st.chain is not None and not isinstance(st.chain, Exception):
                st.chain.close()
                st.chain = None

