"""Issue #24: a fatal error in a file run goes through the same shutdown as a signal: the
report says why, and no output that looks complete is left (the signals and PulseAudio's
routing are in tests/devices/test_shutdown.py)."""

import json

import numpy as np
import pytest
import soundfile as sf

RATE = 48000


def test_a_fatal_error_runs_the_same_shutdown_and_reports_why(tmp_path):
    from seplive.session import Session, SessionConfig

    x = np.random.default_rng(4).standard_normal((RATE, 2)).astype(np.float32) * 0.1
    sf.write(tmp_path / "in.wav", x, RATE, subtype="FLOAT")
    out, rep = tmp_path / "out.wav", tmp_path / "r.json"
    session = Session(SessionConfig(input=str(tmp_path / "in.wav"), output=str(out), model="identity",
                                    prompts=["vocals"], report=str(rep)))
    read, calls = session.source.read, []

    def failing(n):
        calls.append(n)
        if len(calls) > 5:
            raise RuntimeError("the disk went away")
        return read(n)

    session.source.read = failing
    with pytest.raises(RuntimeError):
        session.run()
    report = json.loads(rep.read_text())
    assert report["stop_reason"] == "error: RuntimeError: the disk went away" and report["frames_in"] > 0
    assert not out.exists() and not list(tmp_path.glob(".*partial"))
