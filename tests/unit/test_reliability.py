"""Reliability (issue #9): bad files, bad samples, failing models, unsafe
checkpoints, and fuzzed preset files.  Everything runs for real; nothing is mocked.

In tests/devices: a model too slow for real time in test_slow_models.py, device loss in
test_device_loss.py, OSC floods in test_osc_live.py and test_osc_limits.py, MIDI floods and
port loss in test_midi_jack.py, the soak in test_soak.py.
"""

from __future__ import annotations

import logging
import os
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seplive import cli
from seplive.commands import run as run_command
from seplive.models.base import SeparatorError
from seplive.models.dsp import CenterSeparator, Identity
from seplive.stream.engine import Engine, EngineConfig, process_array
from seplive.stream.files import FileSource
from seplive.stream.mix import MixSettings
from tests.support.paths import DATA


def run_cli(capsys, *args) -> tuple[int, str]:
    rc = cli.main([*map(str, args)])
    return rc, capsys.readouterr().err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.startswith("out"))


# -- bad files ---------------------------------------------------------------------------------
@pytest.fixture
def bad_file(tmp_path, tones):
    """``bad_file(kind)``: the path of a file in ``tmp_path`` that is broken as ``kind`` says."""
    return lambda kind: _bad_file(tmp_path, kind, tones)


def _bad_file(tmp_path: Path, kind: str, tones) -> Path:
    p = tmp_path / f"in_{kind}.wav"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("these are not the samples you are looking for\n" * 20)
    elif kind == "noise":
        p.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif kind == "header_only":
        sf.write(p, np.zeros((1000, 2), np.float32), 48000, subtype="FLOAT")
        p.write_bytes(p.read_bytes()[:40])  # cut inside the header
    elif kind == "damaged_flac":
        p = tmp_path / "in_damaged.flac"
        sf.write(p, tones(44100, 3.0, [440.0, 1000.0], 2, amp=0.3), 44100, subtype="PCM_16")
        data = bytearray(p.read_bytes())
        rng = np.random.default_rng(9)
        mid = len(data) // 2  # scribble over the middle of the stream: its frames no longer decode
        data[mid : mid + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
        p.write_bytes(bytes(data))
    return p


@pytest.mark.parametrize("kind", ["empty", "text", "noise", "header_only"])
def test_unreadable_files_are_refused_with_one_line(bad_file, tmp_path, capsys, kind):
    src = bad_file(kind)
    rc, err = run_cli(capsys, "-i", src, "-o", tmp_path / "out.wav", "--model", "identity", "--prompts", "vocals")
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err and src.name in lines[0], err
    assert leftovers(tmp_path) == []  # no output, and no partial one


def test_file_damaged_mid_stream_leaves_no_output_that_looks_complete(bad_file, tmp_path, capsys):
    src = bad_file("damaged_flac")
    out = tmp_path / "out.wav"
    rc, err = run_cli(capsys, "-i", src, "-o", out, "--model", "identity", "--prompts", "vocals", "--quiet")
    if rc == 0:  # libsndfile may skip what it cannot decode: then the output is whole and finite
        y, _ = sf.read(out, dtype="float32")
        assert np.isfinite(y).all() and len(y) == sf.info(src).frames
    else:
        assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
    assert not (tmp_path / ".out.wav.partial").exists()


def test_truncated_file_processes_what_is_there(tones, tmp_path, capsys):
    src = tmp_path / "cut.wav"
    x = tones(48000, 1.0, [440.0], 2, amp=0.3)
    sf.write(src, x, 48000, subtype="PCM_16")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) * 2 // 3])  # the header still claims the whole second
    out = tmp_path / "out.wav"
    rc, err = run_cli(capsys, "-i", src, "-o", out, "--model", "identity", "--prompts", "vocals", "--align", "--quiet")
    assert rc == 0, err
    y, _ = sf.read(out, dtype="float32")
    n = len(y)
    assert 0.6 * 48000 < n < 0.7 * 48000
    np.testing.assert_allclose(y, x[:n], atol=2e-4)


FORMATS = [
    # (subtype, channels, rate): every sample format, 1 to 8 channels, 8 to 192 kHz
    ("PCM_U8", 1, 8000),
    ("PCM_16", 2, 22050),
    ("PCM_24", 3, 44100),
    ("PCM_32", 4, 48000),
    ("FLOAT", 6, 96000),
    ("DOUBLE", 8, 192000),
    ("PCM_24", 2, 192000),
    ("FLOAT", 1, 11025),
]


@pytest.mark.parametrize("subtype,channels,rate", FORMATS)
def test_every_format_channel_count_and_rate_passes_through(tones, tmp_path, capsys, subtype, channels, rate):
    src = tmp_path / "in.wav"
    x = tones(rate, 0.3, [rate / 40, rate / 17], channels, amp=0.2)
    sf.write(src, x, rate, subtype=subtype)
    x, _ = sf.read(src, dtype="float32", always_2d=True)  # as quantised in the file
    out = tmp_path / "out.wav"
    rc, err = run_cli(capsys, "-i", src, "-o", out, "--model", "identity", "--prompts", "vocals", "--align", "--quiet")
    assert rc == 0, err
    y, r = sf.read(out, dtype="float32", always_2d=True)
    info = sf.info(out)
    assert r == rate and y.shape == x.shape, (y.shape, x.shape)
    assert info.subtype == subtype or (subtype == "PCM_U8" and info.subtype in ("PCM_U8", "FLOAT"))
    np.testing.assert_allclose(y, x, atol=1e-4 if subtype != "PCM_U8" else 1e-2)


def test_hours_long_file_is_streamed_not_loaded(tmp_path):
    """One hour at 8 kHz: read block by block in memory that does not grow with the file."""
    path = tmp_path / "hour.wav"
    rate, block = 8000, 8192
    chunk = (0.1 * np.sin(2 * np.pi * 440 * np.arange(rate * 60) / rate)).astype(np.float32)[:, None]
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_U8") as f:
        for _ in range(60):
            f.write(chunk)
    src = FileSource(path)
    assert src.frames == 3600 * rate
    tracemalloc.start()
    try:
        got = 0
        while True:
            b = src.read(block)
            if not len(b):
                break
            got += len(b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        src.close()
    assert got == 3600 * rate
    assert peak < 1_000_000, peak  # a few blocks, not the 115 MB of float32 the hour would take


# -- bad samples ---------------------------------------------------------------------------------
def _karaoke() -> MixSettings:
    return MixSettings.from_cli([], ["vocals"], {})


@pytest.fixture
def stereo(tones):
    """``stereo(seconds=2.0, rate=48000)``: three tones in both channels, a fourth on the left."""

    def make(seconds=2.0, rate=48000):
        x = tones(rate, seconds, [220.0, 660.0, 1500.0], 2, amp=0.2)
        x[:, 0] += tones(rate, seconds, [330.0], 1, seed=4, amp=0.1)[:, 0]  # some side content
        return x

    return make


BURSTS = {
    "nan": lambda n: np.full((n, 2), np.nan, np.float32),
    "inf": lambda n: np.where(np.arange(n)[:, None] % 2, np.inf, -np.inf).astype(np.float32).repeat(2, 1)[:, :2],
    "denormal": lambda n: np.full((n, 2), 1e-41, np.float32),
    "clipping": lambda n: np.where(np.sin(np.arange(n) / 7.0)[:, None] > 0, 1.0, -1.0).astype(np.float32).repeat(2, 1),
    "dc": lambda n: np.full((n, 2), 0.9, np.float32),
    "huge": lambda n: np.full((n, 2), 3e38, np.float32),
}


@pytest.mark.parametrize("kind", sorted(BURSTS))
def test_bad_samples_are_bounded_counted_and_the_model_recovers(stereo, kind, one_torch_thread):
    rate = 48000
    x = stereo(2.5)
    burst = slice(rate // 2, rate // 2 + (rate if kind == "dc" else rate // 10))
    bad = x.copy()
    bad[burst] = BURSTS[kind](burst.stop - burst.start)

    def run(sig):
        eng = Engine(CenterSeparator(), _karaoke(), EngineConfig(source_rate=rate, channels=2))
        return eng, process_array(eng, sig)

    eng_clean, y_clean = run(x)
    eng, y = run(bad)
    assert np.isfinite(y).all()
    assert np.abs(y).max() <= 8.0, np.abs(y).max()  # bounded, whatever came in
    c = eng.counters
    counted = {"nan": c.nonfinite_blocks, "inf": c.nonfinite_blocks, "denormal": c.denormal_blocks,
               "clipping": c.clipped_blocks, "dc": c.dc_blocks, "huge": c.clipped_blocks}[kind]
    assert counted > 0, c
    assert eng_clean.counters.nonfinite_blocks == eng_clean.counters.dc_blocks == 0
    # the model's state recovers: from one context window (its STFT frame and smoothing,
    # here 250 ms) after the burst, the output is the clean run's again
    after = burst.stop + rate // 4
    err = np.abs(y[after:] - y_clean[after:]).max()
    assert err < 1e-3, err


def test_model_that_returns_nan_plays_dry_and_is_counted(tones, caplog):
    class Poisoned(Identity):
        calls = 0

        def process(self, window, prompts):
            Poisoned.calls += 1
            out = super().process(window, prompts)
            if Poisoned.calls % 4 == 0:
                out[..., 10] = np.nan
            return out

    x = tones(48000, 1.0, [440.0], 1, amp=0.5)
    eng = Engine(Poisoned(), MixSettings.from_cli(["vocals"], [], {}), EngineConfig(source_rate=48000, channels=1))
    with caplog.at_level(logging.WARNING, logger="seplive.engine"):
        y = process_array(eng, x)
        eng.close()
    assert np.isfinite(y).all()
    assert eng.counters.plugin_errors > 10
    np.testing.assert_allclose(y, x, atol=1e-5)  # identity and dry agree: nothing was lost
    errors = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    # once when it first happened, once with the count at the end: not once per hop
    assert len(errors) == 2, errors
    assert f"failed {eng.counters.plugin_errors} of" in errors[-1]


def test_persistent_failure_bypasses_and_says_so(tones, caplog):
    class Broken(Identity):
        def process(self, window, prompts):
            return np.zeros((1, 2, 3), np.float32)  # the wrong shape, always

    x = tones(48000, 1.0, [440.0], 2, amp=0.3)
    eng = Engine(Broken(), MixSettings.from_cli(["vocals"], [], {}), EngineConfig(source_rate=48000, channels=2))
    with caplog.at_level(logging.WARNING, logger="seplive.engine"):
        y = process_array(eng, x)
    assert eng.counters.bypassed and eng.counters.error_kinds == {"SeparatorError": 50}
    np.testing.assert_allclose(y, x, atol=1e-6)
    assert any("bypassing it" in r.getMessage() for r in caplog.records)


# -- checkpoints ------------------------------------------------------------------------------------
class _Exploit:
    """Unpickling this runs code (creates a file) unless the loader refuses it."""

    def __init__(self, flag: Path) -> None:
        self.flag = flag

    def __reduce__(self):
        return (os.mkdir, (str(self.flag),))


TINY_TUSS = DATA / "tuss_tiny" / "model.pth"


@pytest.mark.parametrize("loader", ["lasaft", "tuss"])
def test_checkpoints_never_execute_code(tmp_path, loader):
    flag = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Exploit(flag)}, f, protocol=2)
    with pytest.raises(SeparatorError) as info:
        _load(loader, path)
    assert not flag.exists()
    assert "\n" not in str(info.value)


def _load(loader: str, path: Path):
    if loader == "lasaft":
        from seplive.models.lasaft.checkpoint import load_checkpoint

        return load_checkpoint(path)
    from seplive.models.tuss.checkpoint import load_official

    return load_official(path)


def test_checkpoint_for_the_other_architecture_is_refused_clearly(tmp_path):
    with pytest.raises(SeparatorError) as info:
        _load("lasaft", TINY_TUSS)  # a TUSS checkpoint given to LaSAFT
    assert "\n" not in str(info.value) and "LaSAFT" in str(info.value), info.value
    import torch

    from seplive.models.lasaft import TINY, build_model

    path = tmp_path / "lasaft.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in build_model(TINY, seed=1).state_dict().items()}}, path)
    with pytest.raises(SeparatorError) as info:
        _load("tuss", path)  # and a LaSAFT one given to TUSS
    assert "\n" not in str(info.value), info.value


# -- presets: TOML data only, fuzzed ------------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_fuzz_preset_text_never_crashes(tmp_path, text):
    from seplive.presets import PresetError, load_preset

    path = tmp_path / "p.toml"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        load_preset(str(path))
    except PresetError as exc:
        assert "\n" not in str(exc)


_values = st.recursive(
    st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)


@pytest.mark.parametrize("table", [{"gain": {"\n": False}}, {"fx": {"\n": False}}, {"prompts": ["vo\ncals"]}])
def test_a_key_with_a_newline_is_quoted_on_one_line(table):
    """What the fuzz test below found (CI, 2026-12-05): a key or value holding a newline
    was echoed raw, and the one-line error spanned two."""
    from seplive.presets import PresetError, check_settings

    with pytest.raises(PresetError) as err:
        check_settings(table, "fuzz.toml")
    assert "\n" not in str(err.value) and "\\n" in str(err.value), str(err.value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["model", "prompts", "mute", "gain", "hop", "hop_ms", "context_ms", "latency",
                                        "wet", "master_db", "options", "fx", "rate", "bogus", "preset"]) | st.text(max_size=6),
                       _values, max_size=6))
def test_fuzz_preset_tables_give_settings_or_one_line(table):
    from seplive.presets import PresetError, check_settings

    try:
        out = check_settings(table, "fuzz.toml")
    except PresetError as exc:
        assert "\n" not in str(exc)
    else:
        assert set(out) <= set(table)


# -- control: local only unless asked ------------------------------------------------------------------
def test_osc_listens_on_this_machine_only_by_default():
    from seplive.control.osc import OscControl

    assert run_command.host_port("9000") == ("127.0.0.1", 9000)  # what --osc PORT asks for
    ctl = OscControl(0)  # and the control's own default
    try:
        assert ctl.socket.host == "127.0.0.1"
    finally:
        ctl.close()
