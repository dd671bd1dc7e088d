"""Soak: a paced live run on virtual devices (PulseAudio null sinks) with the default
model.  CI runs a short one; the long one (``-m soak``, SEPLIVE_SOAK_MINUTES, default 30)
is recorded in docs/benchmarks/reliability.md."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.rerun import rerun
from tests.support.soakrun import soak, summary


def _check(r: dict, seconds: float) -> None:
    rep = r["report"]
    print("\nsoak:", json.dumps(summary(r)))
    assert rep["stop_reason"] == "duration reached", r["stderr_tail"]
    assert abs(rep["audio_s"] - seconds) < 0.5
    assert "Traceback" not in r["stderr_tail"]
    assert r["rss_growth_mb"] is not None and r["rss_growth_mb"] < 20.0, r
    lat = r["latency_measured_ms"]
    assert len(lat) == 2, (lat, r["chirp_copies"])  # both chirps came through, at the start and at the end ...
    # ... the same distance apart as played: the latency did not creep (a device block and
    # the drift corrector's tolerance, 5.3 ms, of play)
    assert abs(lat[1] - lat[0]) <= 1000 * 2 * 512 / 48000 + 6.0, lat
    assert rep["device_losses"] == 0


def test_short_soak_with_the_default_model():
    seconds = 20.0
    from seplive.presets import DEFAULTS

    # a VM's stall (xruns, a chirp's copy lost) is a one-off: such a run is run again, at
    # most three times, and the last is checked with the bounds unchanged.  A slow start
    # (torch and the model loading for seconds) is not a stall: the harness counts its times
    # from when seplive opens its input, so both chirps and the warm-up memory reading fall
    # inside the run
    r = rerun(lambda i: soak(seconds, model=DEFAULTS["model"], warmup_s=5.0),
              lambda r: r["report"]["xruns"] == 0 and len(r["latency_measured_ms"]) == 2)
    _check(r, seconds)
    # every miss is accounted for by its cause, and the model keeps up: a model slower than
    # real time would miss nearly every hop.  How many a steady run misses is a benchmark
    # figure, not a test's (docs/benchmarks/reliability.md: the default model, 30 minutes, 6
    # misses in 224,999 hops quiet; in 20 s runs here, 0 in 13 of 14 quiet and 283 of 2,499
    # in one where the loop stalled, 0-34 with training on the other core)
    rep = r["report"]
    assert rep["deadline_misses"] == rep["misses"]["no_time"] + rep["misses"]["late"], summary(r)
    assert rep["deadline_misses"] < rep["hops"] / 4, summary(r)


def test_osc_flood_during_a_live_run_changes_nothing_audible():
    """10,000 datagrams per second (valid, malformed, oversized, deep bundles) at the
    control port for most of the run: no more misses than a quiet run, no memory growth."""
    seconds = 16.0
    # a flood that costs hops costs them every run; a VM's stall (a loop gap) is a one-off
    r = rerun(lambda i: soak(seconds, model="center", warmup_s=4.0, flood_rate=10000, flood_at=(4.0, 12.0)),
              lambda r: r["report"]["deadline_misses"] <= 3)
    _check(r, seconds)
    assert r["flood"]["datagrams"] > 0.8 * 10000 * 8, r["flood"]
    assert r["report"]["deadline_misses"] <= 3, summary(r)
    assert r["rss_growth_mb"] < 10.0, summary(r)


@pytest.mark.soak
@pytest.mark.skipif(not os.environ.get("SEPLIVE_SOAK_MINUTES"), reason="long soak: set SEPLIVE_SOAK_MINUTES")
def test_long_soak():
    minutes = float(os.environ["SEPLIVE_SOAK_MINUTES"])
    from seplive.presets import DEFAULTS

    r = soak(minutes * 60.0, model=os.environ.get("SEPLIVE_SOAK_MODEL", DEFAULTS["model"]), warmup_s=20.0)
    _check(r, minutes * 60.0)
    assert r["report"]["deadline_misses"] == 0 and r["report"]["xruns"] == 0, summary(r)
