"""Real-time scheduling of the live threads (stream/priority.py)."""

import os
import threading
import time

from seplive.stream.priority import granted, normal_thread, realtime_thread
from seplive.stream.runner import Job, ThreadedRunner


def in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.update(r=fn()), name="prio-test")
    t.start()
    t.join()
    return out["r"]


def test_a_thread_gets_sched_fifo_where_allowed_and_says_why_not_elsewhere():
    def ask():
        got = realtime_thread(40)
        policy = os.sched_getscheduler(0)
        normal_thread()
        return got, policy, os.sched_getscheduler(0)

    got, policy, after = in_thread(ask)
    if os.geteuid() == 0:  # root (CI): granted, and given back
        assert got == "SCHED_FIFO 40" and policy == os.SCHED_FIFO
    else:
        assert got.startswith("normal (") or got == "SCHED_FIFO 40"
    assert after == os.SCHED_OTHER
    assert granted()["prio-test"] == got
    assert in_thread(lambda: realtime_thread(0)) == "off"


def test_the_model_thread_asks_for_its_priority():
    seen = {}

    def compute(job):
        seen["policy"] = os.sched_getscheduler(0)
        return job.hop

    runner = ThreadedRunner(compute, skip_stale=False, rt_priority=30)
    runner.submit(Job(0, None))
    end = time.monotonic() + 5
    while 0 not in runner.results and time.monotonic() < end:
        time.sleep(0.01)
    runner.close()
    want = os.SCHED_FIFO if os.geteuid() == 0 else seen["policy"]
    assert seen["policy"] == want
    assert "seplive-model" in granted()
