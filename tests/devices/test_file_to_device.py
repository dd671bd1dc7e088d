"""Issue #24: a file input played to a device (``-o app_out`` on a private PulseAudio,
paced by ``--realtime``) really plays: the tone is heard on the sink's monitor."""

import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

RATE = 48000

pytestmark = pytest.mark.usefixtures("no_user_config")


def test_a_file_played_to_a_device_really_plays(pulse_server, tmp_path):
    t = np.arange(2 * RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", np.stack([tone, tone], 1), RATE, subtype="FLOAT")
    rec_path = tmp_path / "rec.raw"
    rec = subprocess.Popen(["parec", "--device=app_out.monitor", "--format=float32le", f"--rate={RATE}",
                            "--channels=2", "--raw", str(rec_path)])
    time.sleep(0.3)
    r = subprocess.run([sys.executable, "-m", "seplive", "-i", tmp_path / "tone.wav", "--realtime", "-o", "app_out",
                        "-m", "identity", "-p", "vocals", "-q"], capture_output=True, text=True, timeout=60)
    time.sleep(0.5)
    rec.terminate()
    rec.wait(timeout=10)
    assert r.returncode == 0, r.stderr
    y = np.fromfile(rec_path, dtype=np.float32).reshape(-1, 2)
    level = np.sqrt(np.mean(y[: len(y) // 480 * 480, 0].reshape(-1, 480) ** 2, axis=1))
    loud_s = np.count_nonzero(level > 0.1) / 100
    assert loud_s > 1.5, loud_s  # the 2 s tone reached the device
