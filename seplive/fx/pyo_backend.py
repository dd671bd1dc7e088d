"""One stem's effect chain, computed by pyo under the engine's clock.

pyo normally owns an audio device and its clock.  Its ``audio="manual"`` server mode
(pyo 1.1.0, ``Server.process``) instead computes exactly one buffer each time it is
called, and does nothing in between; the server's input and output buffers are plain
interleaved float32 arrays whose addresses ``Server.getInputAddr`` /
``Server.getOutputAddr`` give (the hooks pyo offers to C hosts that embed it).  So each
stem gets its own manual server whose buffer size is the engine's hop: the engine
writes the stem's samples into the input buffer, calls ``process()`` once, and reads
the processed stem from the output buffer.  No second clock, no device, no thread: pyo
runs on the engine worker, inside ``Engine._finalise``.

Parameters are plain numbers while they hold still, and ``SigTo`` signals (audio-rate,
so a change never steps) while they move: per hop the engine gives the value each
parameter must reach by the hop's end, and ``SigTo`` ramps to it linearly over exactly
that hop; once it is there the number takes over again and the ``SigTo`` stops.  (Feeding every parameter as an extra input
channel, one value per sample, was 3x slower: ~8 us per pyo ``Input`` stream and
~1.2 us per extra server input channel per 256-sample buffer, against ~2 us per
``SigTo``; see docs/fx.md.)

One server per stem (pyo allows several per process) means a stem whose gain is 0
simply is not processed: its server is not called.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from .params import NAMES, PARAMS, STAGES

#: pyo builds objects on "the current server", a process-wide setting: one chain at a time
_BUILD_LOCK = threading.Lock()
_pyo = None


class FxUnavailable(RuntimeError):
    """pyo is not installed: effects need the ``fx`` extra."""


MISSING = "effects need pyo, which is not installed: pip install 'seplive[fx]'"


def load_pyo():
    """Import pyo quietly (it prints a wx notice at import); raises :class:`FxUnavailable`."""
    global _pyo
    if _pyo is None:
        os.environ.setdefault("PYO_GUI_WX", "0")  # no wxPython probe and notice
        try:
            import pyo  # noqa: PLC0415
        except ImportError as exc:
            raise FxUnavailable(f"{MISSING} ({exc})") from None
        _pyo = pyo
    return _pyo


def installed() -> bool:
    """pyo can be imported (found, not imported: importing it takes ~0.2 s)."""
    import importlib.util  # noqa: PLC0415

    try:
        return importlib.util.find_spec("pyo") is not None
    except (ImportError, ValueError):
        return False


def available() -> bool:
    try:
        load_pyo()
    except FxUnavailable:
        return False
    return True


def _buffer(address: str, count: int) -> np.ndarray:
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(int(address, 16)))


class PyoChain:
    """high-pass -> low-pass -> 3-band EQ -> compressor -> echo -> reverb, for one stem
    of ``channels`` channels, ``block`` samples per call, every parameter audio-rate.

    ``params`` / ``stages``: the starting values (no ramp into them)."""

    def __init__(self, rate: int, channels: int, block: int, params=None, stages=None) -> None:
        pyo = load_pyo()
        self.channels, self.block = int(channels), int(block)
        C = self.channels
        self.n_params, self.n_stages = len(NAMES), len(STAGES)
        self.in_ch = C
        self.hop_s = self.block / float(rate)
        start = np.concatenate([
            np.asarray(params if params is not None else [PARAMS[n].neutral for n in NAMES], np.float64),
            np.asarray(stages if stages is not None else np.zeros(self.n_stages), np.float64),
        ])
        self._sent = start.copy()
        with _BUILD_LOCK:
            s = pyo.Server(
                sr=int(rate), nchnls=C, ichnls=self.in_ch, buffersize=self.block, duplex=1, audio="manual", midi="jack"
            )
            s.deactivateMidi()
            s.boot()
            s.start()
            s.setServer()
            self.server = s
            self._in = _buffer(s.getInputAddr(), self.block * self.in_ch).reshape(self.block, self.in_ch)
            self._out = _buffer(s.getOutputAddr(), self.block * C).reshape(self.block, C)
            self._build(pyo, start)
            # the server fades its output in over its first buffer: spend that on silence
            self._in[:] = 0.0
            s.process()
        self.calls = 0

    def _build(self, pyo, start: np.ndarray) -> None:
        """The chain's pyo objects on the current server, starting at the values ``start``
        (parameters in NAMES order, then stage switches 0..1 in STAGES order), and who takes
        each value when it moves (``self._users``)."""
        x = pyo.Input(chnl=list(range(self.channels)))
        # pyo computes streams in the order they were made: the SigTos come before the
        # objects that read them, or those would read last buffer's values
        self._sigs = [pyo.SigTo(float(v), time=self.hop_s, init=float(v)) for v in start]
        for sig in self._sigs:
            sig.stop()  # idle until its value moves: not computed
        # built with plain numbers; a SigTo is swapped in only while its value ramps
        p = dict(zip(NAMES, map(float, start[: self.n_params]), strict=True))
        on = dict(zip(STAGES, map(float, start[self.n_params :]), strict=True))
        q = p["resonance"]
        hp = pyo.Biquad(x, freq=p["highpass"], q=q, type=1)
        s1 = pyo.Interp(x, hp, interp=on["highpass"])
        lp = pyo.Biquad(s1, freq=p["lowpass"], q=q, type=0)
        s2 = pyo.Interp(s1, lp, interp=on["lowpass"])
        e1 = pyo.EQ(s2, freq=250, q=0.707, boost=p["eq.low"], type=1)
        e2 = pyo.EQ(e1, freq=1000, q=0.707, boost=p["eq.mid"], type=0)
        e3 = pyo.EQ(e2, freq=4000, q=0.707, boost=p["eq.high"], type=2)
        s3 = pyo.Interp(s2, e3, interp=on["eq"])
        # no look-ahead: the compressor adds no delay, so the dry path stays aligned
        comp = pyo.Compress(
            s3, thresh=p["comp.threshold"], ratio=p["comp.ratio"], risetime=0.005, falltime=0.12, lookahead=0.0, knee=0.3
        )
        s4 = pyo.Interp(s3, comp, interp=on["comp"])
        self._echo = pyo.Delay(s4, delay=p["echo.time"], feedback=p["echo.feedback"], maxdelay=2.0, mul=p["echo.mix"])
        s5 = s4 + self._echo
        self._reverb = pyo.Freeverb(s5, size=p["reverb.size"], damp=p["reverb.damp"], bal=p["reverb.mix"])
        self._reverb.out()
        #: who takes each parameter: (object, setter) pairs, in NAMES then STAGES order
        users = {
            "highpass": [(hp, "setFreq")], "lowpass": [(lp, "setFreq")], "resonance": [(hp, "setQ"), (lp, "setQ")],
            "eq.low": [(e1, "setBoost")], "eq.mid": [(e2, "setBoost")], "eq.high": [(e3, "setBoost")],
            "comp.threshold": [(comp, "setThresh")], "comp.ratio": [(comp, "setRatio")],
            "echo.mix": [(self._echo, "setMul")], "echo.time": [(self._echo, "setDelay")],
            "echo.feedback": [(self._echo, "setFeedback")], "reverb.mix": [(self._reverb, "setBal")],
            "reverb.size": [(self._reverb, "setSize")], "reverb.damp": [(self._reverb, "setDamp")],
        }
        stage_obj = {"highpass": s1, "lowpass": s2, "eq": s3, "comp": s4}
        self._users = [[getattr(o, m) for o, m in users[n]] for n in NAMES]
        self._users += [[stage_obj[st].setInterp] if st in stage_obj else [] for st in STAGES]
        self._ramping = np.zeros(len(start), bool)
        # keep every object alive (pyo drops what Python no longer references)
        self._graph = [x, hp, s1, lp, s2, e1, e2, e3, s3, comp, s4, s5]

    def reset(self) -> None:
        """Forget the echo and reverb tails (after the stem was skipped a while)."""
        self._echo.reset()
        self._reverb.reset()

    def process(self, x: np.ndarray, params: np.ndarray, stages: np.ndarray) -> np.ndarray:
        """``x`` (block, C); ``params`` (n_params,) and ``stages`` (n_stages,): the values
        to reach by the end of this block (linear ramps from where they are) -> the
        processed (block, C), a new array."""
        want = np.concatenate([params, stages])
        changed = want != self._sent
        # a ramp that reached its value at the end of the last block: back to a number
        for i in np.nonzero(self._ramping & ~changed)[0]:
            for setter in self._users[i]:
                setter(float(want[i]))
            self._sigs[i].stop()
            self._ramping[i] = False
        # a value that moves in this block: its SigTo (resting where the number was) ramps
        for i in np.nonzero(changed)[0]:
            sig = self._sigs[i]
            if not self._ramping[i]:
                sig.play()
                for setter in self._users[i]:
                    setter(sig)
                self._ramping[i] = True
            sig.setValue(float(want[i]))
        self._sent = want
        self._in[:] = x
        self.server.process()
        self.calls += 1
        return self._out.copy()

    def close(self) -> None:
        with _BUILD_LOCK:
            self._graph.clear()
            self._echo = self._reverb = None
            try:
                self.server.shutdown()
            except Exception:  # noqa: BLE001 - closing must not raise
                pass
