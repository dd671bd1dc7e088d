"""Input files the CLI must refuse in one line (a subprocess run, as a user would): a WAV
cut off inside its first frames, and a WAV with no frames at all."""

import subprocess
import sys

import numpy as np
import soundfile as sf

RATE = 48000


def run(src, out):
    return subprocess.run([sys.executable, "-m", "seplive", "run", "-i", src, "-o", out, "-m", "identity",
                           "-p", "vocals"], capture_output=True, text=True, timeout=60)  # fmt: skip


def test_a_wav_truncated_to_300_bytes_fails_in_one_line(tmp_path):
    src = tmp_path / "cut.wav"
    sf.write(src, np.full((RATE, 2), 0.1, np.float32), RATE, subtype="FLOAT")
    src.write_bytes(src.read_bytes()[:300])
    out = tmp_path / "out.wav"
    r = run(src, out)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "is truncated" in lines[0] and f"promises {RATE} frames" in lines[0] and "26 are there" in lines[0]
    assert not out.exists() and not (tmp_path / ".out.wav.partial").exists()


def test_a_wav_with_no_frames_is_refused_like_an_empty_file(tmp_path):
    src = tmp_path / "none.wav"
    sf.write(src, np.zeros((0, 2), np.float32), RATE, subtype="PCM_16")
    assert sf.info(src).frames == 0
    out = tmp_path / "out.wav"
    r = run(src, out)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no audio frames" in lines[0] and src.name in lines[0], r.stderr
    assert not out.exists()
