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



REFUSED = r"""
import os, resource
resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))  # no rtprio limit, as for a user outside the audio group
from seplive.stream.priority import realtime_thread
print(realtime_thread(50))
print(os.sched_getscheduler(0) == os.SCHED_OTHER)
"""


def test_a_process_without_an_rtprio_limit_is_refused_and_told_how():
    """The kernel's own refusal: a process without CAP_SYS_NICE (dropped from its bounding
    set by setpriv, as for any user) and an RLIMIT_RTPRIO of 0."""
    import shutil
    import subprocess
    import sys

    import pytest

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop CAP_SYS_NICE")
    r = subprocess.run(["setpriv", "--bounding-set=-sys_nice", sys.executable, "-c", REFUSED],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got, normal = r.stdout.splitlines()
    assert got.startswith("normal (SCHED_FIFO refused") and "rtprio" in got and normal == "True"
