"""A device that goes away mid-set (a PulseAudio null sink unloaded) and comes back:
seplive keeps running, says so, and reconnects without a restart."""

from __future__ import annotations

import subprocess
import threading
import time

import numpy as np
import soundfile as sf

RATE = 48000
SINK = "format=float32le rate=48000 channels=2 norewinds=1"


def load_sink(ps, name):
    return ps.pactl("load-module", "module-null-sink", f"sink_name={name}", *SINK.split()).strip()


def tone_file(path, freq, seconds):
    t = np.arange(int(seconds * RATE)) / RATE
    x = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(path, np.stack([x, x], axis=1), RATE, subtype="FLOAT")
    return path


def level_at(y, freq, a, b):
    """Amplitude of ``freq`` in samples [a, b) of channel 0."""
    seg = y[a:b, 0].astype(np.float64)
    t = np.arange(len(seg)) / RATE
    return float(2 * abs(np.dot(seg, np.exp(-2j * np.pi * freq * t))) / len(seg))


def test_input_and_output_lost_and_back_session_keeps_running(pulse_server, tmp_path):
    from seplive.session import Session, SessionConfig

    mods = {"stage_in": load_sink(pulse_server, "stage_in"), "stage_out": load_sink(pulse_server, "stage_out")}
    first = tone_file(tmp_path / "a.wav", 440, 20)
    second = tone_file(tmp_path / "b.wav", 660, 20)
    players = [subprocess.Popen(["paplay", "--device=stage_in", str(first)])]
    events = {}

    def script():
        time.sleep(2.0)
        pulse_server.pactl("unload-module", mods["stage_out"])  # the speakers are unplugged ...
        events["out_lost"] = time.monotonic()
        time.sleep(1.5)
        mods["stage_out"] = load_sink(pulse_server, "stage_out")  # ... and plugged back
        time.sleep(1.5)  # seplive plays to it again: record what it plays
        rec = tmp_path / "rec.raw"
        parec = subprocess.Popen(["parec", "--device=stage_out.monitor", "--format=float32le", f"--rate={RATE}",
                                  "--channels=2", "--raw", str(rec)])
        time.sleep(1.0)
        parec.terminate()
        parec.wait(timeout=10)
        events["rec"] = np.fromfile(rec, dtype=np.float32).reshape(-1, 2)
        pulse_server.pactl("unload-module", mods["stage_in"])  # the input goes away ...
        events["in_lost"] = time.monotonic()
        time.sleep(1.5)
        mods["stage_in"] = load_sink(pulse_server, "stage_in")  # ... and comes back, with new music
        players.append(subprocess.Popen(["paplay", "--device=stage_in", str(second)]))

    session = Session(SessionConfig(input="stage_in.monitor", outputs=["stage_out", str(tmp_path / "out.wav")],
                                    model="identity", prompts=["vocals"], duration_s=11.0))
    t_start = time.monotonic()
    runner = threading.Thread(target=script)
    runner.start()
    try:
        rep = session.run()
    finally:
        runner.join()
        for p in players:
            p.terminate()
            p.wait(timeout=10)

    assert rep["stop_reason"] == "duration reached", rep["stop_reason"]
    assert rep["device_losses"] == 2 and rep["device_reconnects"] == 2, rep["device_events"]
    assert any("output lost" in e and "stage_out" in e for e in rep["device_events"]), rep["device_events"]
    assert any("input lost" in e and "stage_in" in e for e in rep["device_events"]), rep["device_events"]
    # while it was back, the output device played the input again
    rec = events["rec"]
    assert len(rec) > RATE // 2 and level_at(rec, 440, 0, len(rec)) > 0.1, len(rec)
    # the file output is whole (the session never stopped) ...
    y, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == RATE and abs(len(y) - 11 * RATE) <= 2 * rep["block_samples"]
    # ... silent while the input was gone, and carries the new music once it is back
    lost = int((events["in_lost"] - t_start + 0.4) * RATE)
    assert level_at(y, 440, lost, lost + RATE // 2) < 0.01
    assert level_at(y, 660, len(y) - RATE, len(y)) > 0.1
    assert level_at(y, 440, RATE, 2 * RATE) > 0.1


def test_input_that_stops_delivering_is_lost_then_back(pulse_server, tmp_path):
    """A device that stays listed but delivers nothing (a suspended sink's monitor, like a
    stalled card): after two seconds of nothing it counts as lost, the session feeds silence
    and keeps its pace, and the input is back once a reopened stream delivers again."""
    from seplive.session import Session, SessionConfig

    load_sink(pulse_server, "stage_in")
    load_sink(pulse_server, "stage_out")
    player = subprocess.Popen(["paplay", "--device=stage_in", str(tone_file(tmp_path / "a.wav", 440, 20))])

    def script():
        time.sleep(1.5)
        pulse_server.pactl("suspend-sink", "stage_in", "1")
        time.sleep(3.5)
        pulse_server.pactl("suspend-sink", "stage_in", "0")

    session = Session(SessionConfig(input="stage_in.monitor", outputs=["stage_out", str(tmp_path / "out.wav")],
                                    model="identity", prompts=["vocals"], duration_s=8.0))
    runner = threading.Thread(target=script)
    runner.start()
    try:
        rep = session.run()
    finally:
        runner.join()
        player.terminate()
        player.wait(timeout=10)
    assert rep["stop_reason"] == "duration reached"
    assert rep["device_losses"] == 1 and rep["device_reconnects"] == 1, rep["device_events"]
    assert "no audio" in rep["device_events"][0], rep["device_events"]
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert abs(len(y) - 8 * RATE) <= 2 * rep["block_samples"]
    assert level_at(y, 440, len(y) - RATE, len(y)) > 0.1  # the music is back at the end
