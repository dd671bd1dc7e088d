"""The live status view in a real terminal (tmux), the JSON status log, and presets loaded
live over OSC."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import soundfile as sf
from pythonosc.udp_client import SimpleUDPClient

from seplive.demo import make_song
from tests.support.paths import ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/setup.sh installs it)")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tmux:
    def __init__(self, cols: int = 132, rows: int = 34) -> None:
        self.sock = f"seplive-test-{os.getpid()}"
        self.cols, self.rows = cols, rows

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True, timeout=20)

    def start(self, command: str) -> None:
        r = self("new-session", "-d", "-x", str(self.cols), "-y", str(self.rows), command)
        assert r.returncode == 0, r.stderr

    def capture(self) -> str:
        return self("capture-pane", "-p").stdout

    def close(self) -> None:
        self("kill-server")


def wait_for(pred, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def test_live_view_in_a_terminal_json_log_and_a_preset_loaded_over_osc(tmp_path):
    stems = make_song(8.0)
    song, out, log = tmp_path / "song.wav", tmp_path / "out.wav", tmp_path / "status.jsonl"
    sf.write(song, sum(stems.values()), 48000, subtype="FLOAT")
    port = free_udp_port()
    done = tmp_path / "done"
    env = f"SEPLIVE_CONFIG= PYTHONPATH={ROOT}"
    cmd = (f"cd {tmp_path} && env {env} {sys.executable} -m seplive -i {song} -o {out} --realtime -m identity"
           f" --mute vocals --osc 127.0.0.1:{port} --log-json {log}; touch {done}; sleep 60")
    tmux = Tmux()
    try:
        tmux.start(cmd)
        assert wait_for(lambda: "latency" in tmux.capture(), 30), tmux.capture()
        osc = SimpleUDPClient("127.0.0.1", port)
        osc.send_message("/seplive/stem/vocals/gain_db", -6.0)
        assert wait_for(lambda: "OSC: gain_db vocals -6" in tmux.capture(), 5), tmux.capture()
        screen = tmux.capture()
        osc.send_message("/seplive/preset/load", "acapella")
        assert wait_for(lambda: "preset: replace" in tmux.capture(), 5), tmux.capture()
        assert wait_for(done.exists, 30), tmux.capture()
        final = tmux.capture()
    finally:
        tmux.close()
    # the view: header, meters with bars for the input and the stem, the latency breakdown,
    # compute against the budget, counters, the mix and the last control message
    for needle in ("seplive identity", "input", "vocals", "rms", "peak", "latency", "hop", "p50", "p99",
                   "budget", "deadline misses 0", "xruns 0", "mix ", "control OSC: gain_db vocals -6"):
        assert needle in screen, (needle, screen)
    assert "█" in screen
    assert "rest:muted" in final.replace(" ", "") or "rest:muted" in final
    # one JSON line a second, and the last shows the preset's mix (vocals alone: rest muted)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) >= 5
    for rec in lines:
        assert {"latency_ms", "deadline_misses", "misses", "xruns", "compute_ms_p99", "meters_dbfs", "gains_db"} <= set(rec)
        assert {"no_time", "late", "loop_gap_ms_max", "gc_pause_ms_max"} <= set(rec["misses"])
    assert lines[-1]["gains_db"]["rest"] == "muted" and lines[-1]["gains_db"]["vocals"] == 0.0
    assert lines[-1]["last_control"]["origin"] == "preset"
    assert sf.info(out).frames == sf.info(song).frames
