"""The neural plugins through the live engine on files (small configurations, CPU)."""

import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from seplive.stream.engine import Engine, EngineConfig, process_array
from seplive.stream.mix import MixSettings


def test_lasaft_label_and_audio_query_through_the_engine(tmp_path):
    from seplive.models.lasaft import LasaftSeparator

    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal((22050, 2))).astype(np.float32)
    sf.write(tmp_path / "clip.wav", clip, 44100)
    plugin = LasaftSeparator(config="tiny", query=str(tmp_path / "clip.wav"), context_ms=100)
    eng = Engine(plugin, MixSettings.from_cli(["vocals", "query"], [], {}), EngineConfig(source_rate=48000, channels=2))
    assert eng.model_rate == 44100  # resampled both ways around the model
    x48 = (0.1 * rng.standard_normal((48000, 2))).astype(np.float32)
    y = process_array(eng, x48)
    assert y.shape == x48.shape and np.isfinite(y).all()
    assert eng.counters.plugin_errors == 0 and eng.counters.hops > 5
    assert {"vocals", "query"} <= set(eng.meters)  # both stems were computed


def test_tuss_tiny_checkpoint_through_the_cli(tmp_path):
    rng = np.random.default_rng(1)
    sf.write(tmp_path / "in.wav", (0.1 * rng.standard_normal((24000, 2))).astype(np.float32), 48000, subtype="FLOAT")
    r = subprocess.run(
        [sys.executable, "-m", "seplive", "-i", tmp_path / "in.wav", "-o", tmp_path / "out.wav", "-m", "tuss",
         "--checkpoint", "tests/data/tuss_tiny/model.pth", "-p", "speech", "--context-ms", "1000",
         "--report", tmp_path / "r.json", "-q"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    y, _ = sf.read(tmp_path / "out.wav")
    assert y.shape == (24000, 2) and np.isfinite(y).all() and np.abs(y).max() > 0
    assert rep["plugin_errors"] == 0 and rep["hop_samples"] % 512 == 0


def test_tuss_bad_checkpoint_is_one_clear_line(tmp_path):
    bad = tmp_path / "model.pth"
    bad.write_text("not a checkpoint")
    sf.write(tmp_path / "in.wav", np.zeros((4800, 1), np.float32), 48000)
    r = subprocess.run([sys.executable, "-m", "seplive", "-i", tmp_path / "in.wav", "-m", "tuss", "--checkpoint", bad,
                        "-p", "speech"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
