"""Device sources and sinks: PortAudio streams whose callbacks are C (python-rtmixer),
talking to the worker through lock-free ring buffers.  No Python runs in the audio thread.

Input and output are separate streams (full duplex through ALSA's pulse plugin is
unreliable).  The input device's clock drives the worker; the output ring is kept near a
target fill, and the drift between the two devices' clocks is absorbed by stretching or
shrinking an output block by one sample (linear interpolation, inaudible) when the fill
wanders off target, so latency stays bounded over hours.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .devices import DeviceChoice, apply_env, restore_env
from .resample import StreamResampler

log = logging.getLogger("seplive.audio")


def _ramp(block: np.ndarray, frames: int, up: bool) -> np.ndarray:
    """``block`` with a raised-cosine fade over its first (``up``) or last ``frames``."""
    k = min(frames, len(block))
    w = (0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)).astype(np.float32)[:, None]
    out = np.array(block, dtype=np.float32, copy=True)
    if up:
        out[:k] *= w
    else:
        out[len(out) - k :] *= w[::-1]
    return out


def _ring_size(frames: int) -> int:
    size = 1
    while size < frames:
        size *= 2
    return size


class DeviceSource:
    """Captures ``channels`` from an input device into a ring buffer; :meth:`read` hands
    the worker exactly ``frames`` frames, waiting for the device when needed."""

    def __init__(self, choice: DeviceChoice, channels: int | None = None, sample_rate: int | None = None,
                 blocksize: int = 512, latency: float | str = "high") -> None:
        import rtmixer

        self.choice = choice
        self.channels = int(channels or min(2, choice.channels) or 1)
        self.sample_rate = int(sample_rate or choice.default_samplerate)
        self.blocksize = blocksize
        self.path = f"device '{choice.name}'"
        self.frames = -1  # unknown: a live stream
        old = apply_env(choice)
        try:
            self._stream = rtmixer.Recorder(device=choice.index, channels=self.channels, blocksize=blocksize,
                                            samplerate=self.sample_rate, latency=latency)
        finally:
            restore_env(old)
        self._ring = rtmixer.RingBuffer(4 * self.channels, _ring_size(max(16 * blocksize, self.sample_rate // 2)))
        self.restarts = 0
        self.overflows = 0
        self.skipped_frames = 0
        #: more than this waiting means the worker fell behind (the device's own burst
        #: plus two blocks is normal): skip to the newest audio so latency stays put
        self.max_backlog = int(float(self._stream.latency) * self.sample_rate) + 2 * blocksize
        self.position = 0
        self.latency_s = float(self._stream.latency)
        self._stream.start()
        self._action = self._stream.record_ringbuffer(self._ring)
        self.subtype = "FLOAT"

    def read(self, frames: int, timeout: float = 2.0) -> np.ndarray:
        """The next ``frames`` frames; raises TimeoutError when the device delivers nothing.

        Input older than ``max_backlog`` frames is skipped (and counted): what was
        captured before the first read, or while the worker was stalled, would otherwise
        add its age to the latency for good.
        """
        backlog = self._ring.read_available
        limit = frames if self.position == 0 else self.max_backlog
        if backlog > limit:
            skip = (backlog - frames) // frames * frames
            if skip:
                self._ring.advance_read_index(skip)
                if self.position:
                    self.skipped_frames += skip
        deadline = time.monotonic() + timeout
        nap = max(frames / self.sample_rate / 4, 0.0005)
        while self._ring.read_available < frames:
            if self._action not in self._stream.actions:
                # the ring overflowed and rtmixer stopped recording: start again, count it
                self.overflows += 1
                self._ring.flush()
                self._action = self._stream.record_ringbuffer(self._ring)
            if time.monotonic() > deadline:
                raise TimeoutError(f"input {self.path} delivered no audio for {timeout:.1f} s")
            time.sleep(nap)
        buf = np.empty((frames, self.channels), np.float32)
        self._ring.readinto(buf)
        self.position += frames
        return buf

    @property
    def backlog(self) -> int:
        """Frames captured and not yet read."""
        return self._ring.read_available

    def stats(self):
        """Over/underflow counts since the last call (rtmixer's own statistics)."""
        return self._stream.fetch_and_reset_stats()

    def close(self) -> None:
        try:
            self._stream.stop()
            self._stream.close()
        except Exception as exc:  # a device that vanished may fail to close
            log.debug("closing input: %s", exc)


class DeviceSink:
    """Plays blocks through an output device from a ring buffer kept ``target_frames``
    full.  Resamples when the device's rate differs from the stream's."""

    def __init__(self, choice: DeviceChoice, channels: int, sample_rate: int, device_rate: int | None = None,
                 blocksize: int = 512, latency: float | str = "high", target_frames: int | None = None,
                 floor_frames: int | None = None, trim_tolerance: int | None = None) -> None:
        import rtmixer

        self.choice = choice
        self.path = f"device '{choice.name}'"
        self.channels = channels
        self.stream_rate = sample_rate
        self.device_rate = int(device_rate or sample_rate)
        self._resampler = StreamResampler(sample_rate, self.device_rate, channels) if self.device_rate != sample_rate else None
        old = apply_env(choice)
        try:
            self._stream = rtmixer.Mixer(device=choice.index, channels=channels, blocksize=blocksize,
                                         samplerate=self.device_rate, latency=latency)
        finally:
            restore_env(old)
        self.latency_s = float(self._stream.latency)
        device_frames = int(self.latency_s * self.device_rate)
        # primed with enough to ride out the device's own period plus bursty input (four blocks)
        self.target = int(target_frames if target_frames is not None else device_frames + 4 * blocksize)
        # once settled, the lowest fill is trimmed down to this: two blocks of reserve (the
        # model's deadline keeps them) and one block of compute time at the worst moment
        self.floor = int(floor_frames if floor_frames is not None else 3 * blocksize)
        self.blocksize = blocksize
        # how far the fill may stray before a drift correction (frames), and how far above
        # the floor it may settle before it is trimmed: half a block by default; a
        # period-synchronous host (JACK, whose fill is steady to a few frames) may ask for less
        self.tolerance = max(blocksize // 2, 128)
        self.trim_tolerance = int(trim_tolerance) if trim_tolerance is not None else self.tolerance
        self.fade = 128  # frames faded out and in around a cut (2.7 ms at 48 kHz: no click)

        self._ring = rtmixer.RingBuffer(4 * channels, _ring_size(max(16 * blocksize, 8 * self.target, self.device_rate // 2)))
        self.underflow_restarts = 0
        self.drift_corrections = 0
        self.dropped_frames = 0
        self.trimmed_frames = 0
        self.frames = 0
        self.clipped = 0
        self._fill_avg = float(self.target)
        self._baseline: float | None = None
        self._ceiling = float(self.target)  # the most the baseline backs off to after underflows
        # the fill is watched from `_watch_from` frames in (the device's start-up pulls are
        # over) until `_settle_at`: its mean becomes the baseline, its low the trim's reading
        self._watch_from = self.device_rate // 4
        self._settle_at = self.device_rate
        self._watch_sum, self._watch_count, self._watch_low = 0.0, 0, 0
        self._correcting = 0  # +1 shrinking blocks, -1 stretching them, 0 neither
        self._drop = 0  # frames still to cut from the stream's head (the latency trim)
        self._fade_in = False
        self._resync = False
        self._action = None  # the stream starts with the first block, primed with silence

    def _prime(self) -> None:
        silence = np.zeros((self.target, self.channels), np.float32)
        self._ring.write(silence)

    @property
    def fill(self) -> int:
        return self._ring.read_available

    @property
    def queued(self) -> int:
        """Frames the device has yet to play before the next block written.  That is the
        priming before the first block, and again after an underflow: the ring ran dry,
        so the next write primes it afresh (reading it as empty would give the model no
        time for a block that still has the whole priming ahead of it)."""
        if self._action is None or self._action not in self._stream.actions:
            return self.target
        return self._ring.read_available

    @property
    def fill_average(self) -> float:
        """A slow average of the frames queued (the drift corrector's reading)."""
        return self._fill_avg

    @property
    def settled_fill(self) -> float:
        """Frames queued on average once the stream has settled (the target until then)."""
        return self._baseline if self._baseline is not None else float(self.target)

    def write(self, block: np.ndarray) -> None:
        if self._action is None:
            self._prime()
            self._stream.start()
            self._action = self._stream.play_ringbuffer(self._ring)
        elif self._action not in self._stream.actions:
            # rtmixer stops a ring-buffer play action silently when the ring runs dry
            self.underflow_restarts += 1
            self._ring.flush()
            self._prime()
            self._action = self._stream.play_ringbuffer(self._ring)
            self._resync = True
            self._fade_in = True  # the audio resumes after silence: no step into it
            if self._baseline is not None:
                # this device needs more than the settled fill gave it (gulps larger than
                # the first second showed, or the loop stalled): keep a block more from now
                # on, up to where it settled before any trim, so a cut never repeats an underflow
                self._baseline = min(self._baseline + self.blocksize, self._ceiling)
                self._fill_avg = self._baseline
        if self._resampler is not None:
            block = self._resampler.process(block)
        if self._resync and self._baseline is not None and len(block):
            # after an underflow the silence primed and the audio that piled up meanwhile
            # would add their length to the latency for good: drop it, once, right away
            excess = int(self._ring.read_available - self._baseline - self.tolerance // 2)
            if excess > 0:
                cut = min(excess, len(block))
                block = block[cut:]
                self.dropped_frames += cut
            else:
                self._resync = False
        if self._drop and len(block):
            cut = min(self._drop, len(block))
            block = block[cut:]
            self._drop -= cut
            self.trimmed_frames += cut
            self._fade_in = self._fade_in or not self._drop
        if self._fade_in and len(block):
            block = _ramp(block, self.fade, up=True)
            self._fade_in = False
        n = len(block)
        if n:
            fill = self._ring.read_available
            if self._baseline is None:
                self._settle(fill)
                if self._drop:  # the trim starts after this block: fade its end out
                    block = _ramp(block, self.fade, up=False)
            elif not self._drop:
                block = self._follow_drift(block, fill)
        free = self._ring.write_available
        if len(block) > free:
            self.dropped_frames += len(block) - free
            block = block[:free]
        self._ring.write(np.ascontiguousarray(block, dtype=np.float32))
        self.frames += n

    def _settle(self, fill: int) -> None:
        """Watch the fill while the stream settles; then take its mean as the baseline and,
        when even its lowest point sits well above the floor, cut the difference.  Where
        the fill settles depends on how much the device pulled at its start (the same
        device and code settle 1,500 to 4,500 frames apart from run to run at 48 kHz), and
        all of it above the floor is latency that buys nothing."""
        if self.frames >= self._watch_from:
            self._watch_low = min(self._watch_low, fill) if self._watch_count else fill
            self._watch_sum += fill
            self._watch_count += 1
        if self.frames < self._settle_at or not self._watch_count:
            return
        excess = self._watch_low - self.floor
        trim = excess if excess > self.trim_tolerance else 0
        settled = self._watch_sum / self._watch_count
        self._baseline = settled - trim
        self._ceiling = max(self._ceiling, settled)
        self._fill_avg = self._baseline
        self._drop = trim

    def _follow_drift(self, block: np.ndarray, fill: int) -> np.ndarray:
        """Clock drift between the input and output devices: a slow average of the fill
        (the callback drains the ring in device-period gulps, so one reading means little);
        when it strays from the baseline, stretch or shrink the block by one sample (room
        for 1/block of drift: 1950 ppm at 512-frame blocks; real clocks differ by well
        under 200 ppm)."""
        self._fill_avg += 0.02 * (fill - self._fill_avg)
        error = self._fill_avg - self._baseline
        # with hysteresis: a correction starts when the fill is off by more than the
        # tolerance and goes on until it is back on the baseline (stopping at the edge
        # would park a steady drift there, where the average's noise crosses it)
        if self._correcting and error * self._correcting <= 0:
            self._correcting = 0
        if not self._correcting and abs(error) > self.tolerance:
            self._correcting = 1 if error > 0 else -1
        n = len(block)
        if not self._correcting or n <= 8:
            return block
        m = n - 1 if self._correcting > 0 else n + 1
        src = np.linspace(0.0, n - 1.0, m)
        self.drift_corrections += 1
        return np.stack([np.interp(src, np.arange(n), block[:, c]) for c in range(block.shape[1])], axis=1).astype(np.float32)

    def stats(self):
        return self._stream.fetch_and_reset_stats()

    def close(self, ok: bool = True) -> None:
        try:
            if ok:  # let what is queued play out
                deadline = time.monotonic() + 2.0
                while self._ring.read_available and self._action in self._stream.actions and time.monotonic() < deadline:
                    time.sleep(0.01)
            self._stream.stop()
            self._stream.close()
        except Exception as exc:
            log.debug("closing output: %s", exc)
