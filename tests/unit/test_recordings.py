"""Held-out sets with real speech: alsa-utils' and pyo's voice recordings over the
synthetic backgrounds (seplive.data.recordings), and their place in `seplive eval`."""

import json
import subprocess
import sys

import numpy as np
import pytest

from seplive.data import heldout_set
from seplive.data.recordings import real_heldout_set, recording_paths, speech_recordings

pytestmark = pytest.mark.skipif(not recording_paths(), reason="no alsa-utils/pyo recordings on this machine")


def test_recordings_are_found_and_read():
    paths = recording_paths()
    assert any(p.parent.name == "alsa" for p in paths)  # alsa-utils is in setup.sh's apt list
    clips = speech_recordings(48000)
    assert len(clips) == len(paths)
    for c in clips:
        assert c.dtype == np.float32 and c.ndim == 1 and 0.4 * 48000 < len(c) < 2 * 48000
        assert np.abs(c).max() > 0.1 and np.isfinite(c).all()
    # resampled, not just relabelled: pyo's 44.1 kHz take keeps its length in seconds
    at24 = speech_recordings(24000)
    assert all(abs(len(a) / 24000 - len(b) / 48000) < 0.01 for a, b in zip(at24, clips, strict=True))


@pytest.mark.parametrize("task", ["real_speech_music", "real_speech_sfx"])
def test_real_set_swaps_the_voice_and_keeps_the_background(task):
    base = heldout_set(task.removeprefix("real_"), n=2, seconds=2.0, sample_rate=24000)
    real = real_heldout_set(task, n=2, seconds=2.0, sample_rate=24000)
    again = real_heldout_set(task, n=2, seconds=2.0, sample_rate=24000)
    for b, r, r2 in zip(base, real, again, strict=True):
        assert r.prompts == b.prompts and r.prompts[0] == "speech" and r.task == task
        np.testing.assert_array_equal(r.mixture, r2.mixture)  # deterministic
        np.testing.assert_allclose(r.mixture, r.targets.sum(axis=0), atol=1e-6)  # the contract
        k = r.prompts.index("speech")
        other = 1 - k
        # the background is the synthetic set's (up to the common peak scaling)
        scale = np.dot(r.targets[other].ravel(), b.targets[other].ravel()) / np.dot(b.targets[other].ravel(), b.targets[other].ravel())
        np.testing.assert_allclose(r.targets[other], scale * b.targets[other], atol=1e-5)
        # the voice is not the synthetic one, at the synthetic one's level (before any peak scaling)
        corr = abs(np.corrcoef(r.targets[k].ravel(), b.targets[k].ravel())[0, 1])
        assert corr < 0.2
        rms = lambda x: float(np.sqrt(np.mean(np.square(x))))  # noqa: E731
        assert rms(r.targets[k]) == pytest.approx(scale * rms(b.targets[k]), rel=1e-3)


def test_eval_cli_scores_the_real_tasks(tmp_path):
    r = subprocess.run([sys.executable, "-m", "seplive", "eval", "--baselines", "mixture,center", "--tasks",
                        "real_speech_music", "--n", "1", "--seconds", "1", "--json", str(tmp_path / "e.json")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "e.json").read_text())
    res = rep["results"]["real_speech_music"]
    assert set(res["mixture"]["offline"]) == {"speech", "musicbg"}
    assert "musicbg" in res["center"]["engine"]
    assert "### real_speech_music" in r.stdout
    bad = subprocess.run([sys.executable, "-m", "seplive", "eval", "--tasks", "real_speech_musik"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown task 'real_speech_musik'" in bad.stderr and "real_speech_music" in bad.stderr
