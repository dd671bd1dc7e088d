"""Issue #24: every stop runs the same shutdown.  SIGINT, SIGTERM and SIGHUP (the terminal
closed) finish the files, write the report and restore PulseAudio's routing; a capture
sink left by a killed run is recognised and repaired by the next one.  Real subprocesses,
a private PulseAudio (tests/support/servers.py); a run that fails on its own is in
tests/unit/test_shutdown.py."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from tests.support.servers import PulseServer

RATE = 48000


def seplive(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "seplive", *map(str, args)], stderr=subprocess.PIPE, text=True, **kw)


def pulse_state(ps: PulseServer) -> tuple[str, str, list[str]]:
    """What the routing leaves behind: server info, the sinks, and which sink each
    application plays to (by its sink's name)."""
    sinks = {ln.split("\t")[0]: ln.split("\t")[1] for ln in ps.pactl("list", "short", "sinks").splitlines()}
    inputs = sorted(sinks.get(ln.split("\t")[1], "?") for ln in ps.pactl("list", "short", "sink-inputs").splitlines())
    # every line of `pactl info` but the asking client's own index (new per connection)
    info = "\n".join(ln for ln in ps.pactl("info").splitlines() if not ln.startswith("Client Index:"))
    return info, "\n".join(sorted(sinks.values())), inputs


def default_sink(ps: PulseServer) -> str:
    return ps.pactl("info").split("Default Sink: ")[1].split()[0]


def wait_until(pred, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pulse_playing(pulse_server, tmp_path):
    """A private PulseAudio with an application (paplay) playing to the default sink."""
    t = np.arange(30 * RATE) / RATE
    tone = (0.1 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", np.stack([tone, tone], 1), RATE, subtype="FLOAT")
    player = subprocess.Popen(["paplay", str(tmp_path / "tone.wav")])
    try:
        assert wait_until(lambda: pulse_server.pactl("list", "short", "sink-inputs").count("\n") >= 3)
        yield pulse_server
    finally:
        player.terminate()
        player.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_in_routed_mode_leaves_pulseaudio_as_it_was(pulse_playing, tmp_path, sig):
    ps = pulse_playing
    before = pulse_state(ps)
    rep = tmp_path / "r.json"
    app = seplive("--input", "loopback", "-m", "identity", "-p", "vocals", "--report", rep, "-q")
    try:
        assert wait_until(lambda: default_sink(ps) == "seplive_capture" or app.poll() is not None), "never routed"
        assert app.poll() is None, app.stderr.read()
        time.sleep(0.5)
        app.send_signal(sig)
        assert app.wait(timeout=30) == 0, app.stderr.read()
    finally:
        if app.poll() is None:
            app.kill()
    assert pulse_state(ps) == before
    report = json.loads(rep.read_text())
    assert report["stop_reason"].endswith(f"({sig.name})") and report["frames_in"] > 0


def test_a_killed_run_is_repaired_by_the_next(pulse_playing, tmp_path):
    ps = pulse_playing
    before = pulse_state(ps)
    app = seplive("--input", "loopback", "-m", "identity", "-p", "vocals", "-q")
    assert wait_until(lambda: default_sink(ps) == "seplive_capture" or app.poll() is not None), "never routed"
    time.sleep(0.3)
    app.kill()  # SIGKILL: no shutdown runs; the system is left silent
    app.wait()
    assert default_sink(ps) == "seplive_capture"
    nxt = seplive("--input", "loopback", "-m", "identity", "-p", "vocals", "--duration", "1")
    assert nxt.wait(timeout=60) == 0
    err = nxt.stderr.read()
    assert "repaired the routing a stopped seplive left" in err, err
    assert pulse_state(ps) == before


def test_a_running_seplive_is_not_taken_for_a_stale_one(pulse_playing, tmp_path):
    ps = pulse_playing
    first = seplive("--input", "loopback", "-m", "identity", "-p", "vocals", "-q")
    try:
        assert wait_until(lambda: default_sink(ps) == "seplive_capture" or first.poll() is not None)
        second = subprocess.run([sys.executable, "-m", "seplive", "--input", "loopback", "-m", "identity", "-p", "vocals"],
                                capture_output=True, text=True, timeout=60)
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 2 and len(lines) == 1 and f"pid {first.pid}" in lines[0], second.stderr
        assert first.poll() is None and default_sink(ps) == "seplive_capture"
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_finishes_the_file_and_the_report(tmp_path, sig):
    x = np.random.default_rng(3).standard_normal((5 * 16000, 1)).astype(np.float32) * 0.1
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    out, rep = tmp_path / "out.wav", tmp_path / "r.json"
    p = seplive("-i", tmp_path / "in.wav", "-o", out, "-m", "identity", "-p", "vocals", "--realtime", "--report", rep, "-q")
    partial = tmp_path / ".out.wav.partial"
    # the run loop has started once audio reaches the file (a signal during setup exits 128+N)
    assert wait_until(lambda: partial.exists() and partial.stat().st_size > 20000 or p.poll() is not None)
    p.send_signal(sig)
    assert p.wait(timeout=30) == 0, p.stderr.read()
    report = json.loads(rep.read_text())
    assert report["stop_reason"] == {signal.SIGTERM: "terminated (SIGTERM)", signal.SIGHUP: "hung up (SIGHUP)"}[sig]
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    assert 0 < len(y) == report["frames_out"] < len(x)
    assert not list(tmp_path.glob(".*partial"))


def test_ctrl_c_stops_cleanly_with_output_and_report(tmp_path):
    x = np.random.default_rng(3).standard_normal((5 * 16000, 1)).astype(np.float32) * 0.1
    sf.write(tmp_path / "in.wav", x, 16000, subtype="FLOAT")
    out, rep = tmp_path / "out.wav", tmp_path / "r.json"
    p = subprocess.Popen([sys.executable, "-m", "seplive", "-i", tmp_path / "in.wav", "-o", out, "-m", "identity",
                          "-p", "vocals", "--realtime", "--report", rep, "-q"], stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == 0, p.stderr.read()
    report = json.loads(rep.read_text())
    assert report["stop_reason"] == "interrupted (SIGINT)"
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    assert 0 < len(y) == report["frames_out"] == report["frames_in"] < len(x)
    L = report["latency_samples"]
    np.testing.assert_allclose(y[L:, 0], x[: len(y) - L, 0], atol=1e-6)


def test_the_route_comes_back_when_its_sink_is_unloaded(pulse_playing, tmp_path):
    """PulseAudio restarted, or someone unloaded seplive_capture: the applications fall back
    to the speakers and seplive's input goes silent; the watcher routes them again."""
    ps = pulse_playing
    before = pulse_state(ps)
    rep = tmp_path / "r.json"
    app = seplive("--input", "loopback", "-m", "identity", "-p", "vocals", "--duration", "8", "--report", rep, "-q")
    try:
        assert wait_until(lambda: default_sink(ps) == "seplive_capture" or app.poll() is not None), "never routed"
        time.sleep(1.0)
        module = [ln.split("\t")[0] for ln in ps.pactl("list", "short", "modules").splitlines()
                  if "sink_name=seplive_capture" in ln]
        assert len(module) == 1
        ps.pactl("unload-module", module[0])
        assert default_sink(ps) != "seplive_capture"
        assert wait_until(lambda: default_sink(ps) == "seplive_capture", timeout=5.0), "not routed again"
        # paplay is back on the capture sink (seplive itself plays to the speakers)
        assert wait_until(lambda: "seplive_capture" in pulse_state(ps)[2], timeout=5.0), pulse_state(ps)
        assert app.wait(timeout=30) == 0, app.stderr.read()
    finally:
        if app.poll() is None:
            app.kill()
    report = json.loads(rep.read_text())
    assert report["route_recreated"] == 1
    assert pulse_state(ps) == before


def test_the_route_comes_back_after_pulseaudio_restarts(pulse_server, tmp_path):
    before = pulse_state(pulse_server)
    rep = tmp_path / "r.json"
    app = seplive("--input", "loopback", "-m", "identity", "-p", "vocals", "--duration", "10", "--report", rep,
                  "-q")
    try:
        assert wait_until(lambda: default_sink(pulse_server) == "seplive_capture" or app.poll() is not None), "never routed"
        time.sleep(1.0)
        pulse_server.restart()
        assert wait_until(lambda: default_sink(pulse_server) == "seplive_capture", timeout=8.0), "not routed again"
        assert app.wait(timeout=60) == 0, app.stderr.read()
        err = app.stderr.read()
    finally:
        if app.poll() is None:
            app.kill()
    assert err == "", err  # --quiet: not one ALSA or PortAudio line
    assert json.loads(rep.read_text())["route_recreated"] == 1
    # as before, but for the new daemon's cookie
    strip = lambda st: ("\n".join(ln for ln in st[0].splitlines() if not ln.startswith("Cookie:")), *st[1:])  # noqa: E731
    assert strip(pulse_state(pulse_server)) == strip(before)
