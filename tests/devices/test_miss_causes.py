"""Deadline misses sorted by cause (issue #9): a model that had its time and did not
finish ("late") against an output that had no time left to give ("no time"), how late a
missed result came after all, and a stalled process seen in the loop counters.  The
real engine and its model thread; the stalls are real (a model held on a gate, the GIL
held by a C call)."""

from __future__ import annotations

import ctypes
import io
import threading
import time

import numpy as np

from seplive.models.dsp import Identity
from seplive.stream.engine import Engine, EngineConfig
from seplive.stream.mix import MixSettings

RATE = 16000
HOP = 512


class Gated(Identity):
    """Identity that computes only while its gate is open."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def process(self, window, prompts):
        self.gate.wait(10.0)
        return super().process(window, prompts)


def threaded_engine() -> tuple[Engine, Gated]:
    plugin = Gated()
    eng = Engine(plugin, MixSettings.from_cli(["vocals"], [], {}),
                 EngineConfig(source_rate=RATE, channels=1, hop_samples=HOP, block_samples=HOP, threaded=True))
    return eng, plugin


def run_until_miss(eng: Engine, x: np.ndarray, deadline_s: float) -> int:
    """Push/pull blocks with a deadline ``deadline_s`` from each pull until one misses."""
    for i in range(0, len(x), HOP):
        eng.push(x[i : i + HOP])
        eng.pull(HOP, time.monotonic() + deadline_s)
        if eng.counters.deadline_misses:
            return i
    raise AssertionError("no miss")


def wait_for(cond, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not cond() and time.monotonic() < end:
        time.sleep(0.005)


def test_a_model_that_had_its_budget_and_did_not_finish_is_late(tones):
    eng, plugin = threaded_engine()
    x = tones(RATE, 2.0, [300.0], 1, amp=0.3)
    try:
        for i in range(0, 20 * HOP, HOP):  # on time: the result comes well before the deadline
            eng.push(x[i : i + HOP])
            eng.pull(HOP, time.monotonic() + 1.0)
        c = eng.counters
        assert c.deadline_misses == 0
        # held up, but let go well within a generous deadline: waited for, made it
        plugin.gate.clear()
        threading.Timer(0.05, plugin.gate.set).start()
        for i in range(20 * HOP, 24 * HOP, HOP):
            eng.push(x[i : i + HOP])
            eng.pull(HOP, time.monotonic() + 5.0)
        assert c.deadline_misses == 0 and c.deadline_margin_ms_min is not None and 0 < c.deadline_margin_ms_min < 5000
        plugin.gate.clear()  # the model thread stalls on its next hop
        # a deadline of three compute budgets (one hop each): the model had its time
        run_until_miss(eng, x[24 * HOP :], 3 * HOP / RATE)
        assert c.misses_late == c.deadline_misses == 1 and c.misses_no_time == 0
        runner = eng._runner
        assert runner.late_results == 0  # still held
        plugin.gate.set()
        wait_for(lambda: runner.late_results)
        # the held hop came in after all, after its deadline, and was not used
        assert runner.late_results == 1 and runner.late_by_s_max > 0
        assert not runner._missed and all(h >= eng._next_final for h in runner.results)  # only hops still to come
    finally:
        plugin.gate.set()
        eng.close()


def test_an_output_with_no_time_left_counts_no_time_not_late(tones):
    eng, plugin = threaded_engine()
    x = tones(RATE, 2.0, [300.0], 1, amp=0.3)
    try:
        plugin.gate.clear()
        # the output's buffer is dry already: the deadline has passed when the hop is asked for
        run_until_miss(eng, x, -0.001)
        c = eng.counters
        assert c.misses_no_time == c.deadline_misses == 1 and c.misses_late == 0
    finally:
        plugin.gate.set()
        eng.close()


def test_file_realtime_misses_are_late_and_sum_up(tones, tmp_path):
    """Paced file runs give the model its budget from the pacing clock (no deadline): a
    model too slow for the hop is late, every miss has one cause."""
    import soundfile as sf

    from seplive.session import Session, SessionConfig

    class Slow(Identity):
        def process(self, window, prompts):
            time.sleep(1.5 * HOP / RATE)
            return super().process(window, prompts)

    x = tones(RATE, 1.0, [300.0], 1, amp=0.3)
    sf.write(tmp_path / "in.wav", x, RATE, subtype="FLOAT")
    session = Session(SessionConfig(input=str(tmp_path / "in.wav"), output=str(tmp_path / "out.wav"), model="identity",
                                    prompts=["vocals"], realtime=True, hop_samples=HOP, plugin=Slow()))
    rep = session.run()
    m = rep["misses"]
    assert rep["deadline_misses"] > 0
    assert m["late"] == rep["deadline_misses"] and m["no_time"] == 0
    for key in ("loop_gap_ms_max", "loop_work_ms_max", "worker_queue_ms_max", "compute_ms_max", "gc_collections"):
        assert key in m
    # the status view says why
    from rich.console import Console

    from seplive.status import LiveView

    console = Console(file=io.StringIO(), width=200)
    console.print(LiveView(session).render(session.live_status()))
    assert f"(no time 0, late {m['late']};" in console.file.getvalue()


def test_a_process_stall_shows_in_the_loop_counters(pulse_server):
    """The whole process held (a C call that keeps the GIL, as a misbehaving extension or
    a full garbage collection would): the loop's longest gap shows it, and a miss it
    causes is counted as the output's (no time), not the model's (late)."""
    from seplive.session import Session, SessionConfig

    stall_s = 0.3
    session = Session(SessionConfig(input="loopback", outputs=["app_out"], model="identity", prompts=["vocals"],
                                    duration_s=3.0))
    libc = ctypes.PyDLL(None)  # PyDLL: the call keeps the GIL, so every Python thread stops

    def stall():
        time.sleep(1.5)
        libc.usleep(int(stall_s * 1e6))

    t = threading.Thread(target=stall)
    t.start()
    rep = session.run()
    t.join()
    m = rep["misses"]
    assert m["loop_gap_ms_max"] >= 1000 * stall_s, m
    # the output ran dry (or the input skipped what piled up): the devices felt it ...
    assert rep["output_restarts"] + rep["input_skipped_frames"] > 0, rep
    # ... and the model was not to blame: a miss, if any, had no time (the re-primed output
    # gives the model its time again at once)
    assert m["late"] == 0 and m["no_time"] == rep["deadline_misses"], m
