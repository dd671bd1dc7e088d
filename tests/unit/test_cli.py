"""The command line, run as a user runs it (a subprocess)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf


def seplive(*args, **kw):
    return subprocess.run([sys.executable, "-m", "seplive", *map(str, args)], capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture
def stereo_wav(tmp_path):
    x = np.random.default_rng(0).standard_normal((44100, 2)).astype(np.float32) * 0.1
    p = tmp_path / "in.wav"
    sf.write(p, x, 44100, subtype="FLOAT")
    return p, x


@pytest.mark.parametrize("fmt,subtype,tol", [("wav", "FLOAT", 1e-6), ("flac", "PCM_24", 2e-7 * 2), ("ogg", "VORBIS", None)])
def test_run_writes_output_and_report(tmp_path, stereo_wav, fmt, subtype, tol):
    src, x = stereo_wav
    if fmt != "wav":
        src = tmp_path / f"in.{fmt}"
        sf.write(src, x, 44100, subtype=subtype)
        x, _ = sf.read(src, dtype="float32")
    out, rep = tmp_path / f"out.{fmt}", tmp_path / "r.json"
    r = seplive("-i", src, "-o", out, "--model", "identity", "--prompts", "vocals", "--report", rep, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    report = json.loads(rep.read_text())
    for key in ("sample_rate", "hop_samples", "latency_samples", "latency_ms", "deadline_misses", "xruns",
                "compute_ms_p50", "compute_ms_p99", "rtf", "model", "prompts"):
        assert key in report
    assert report["model"] == "identity" and report["prompts"] == ["vocals"]
    y, sr = sf.read(out, dtype="float32")
    assert sr == 44100 and y.shape == x.shape
    L = report["latency_samples"]
    if tol is not None:
        np.testing.assert_allclose(y[L:], x[:-L], atol=tol)
    assert not list(tmp_path.glob(".*partial"))


def test_align_lines_output_up_with_input(tmp_path, stereo_wav):
    src, x = stereo_wav
    out = tmp_path / "out.wav"
    r = seplive("run", "-i", src, "-o", out, "-m", "identity", "-p", "vocals", "--align", "-q")
    assert r.returncode == 0, r.stderr
    y, _ = sf.read(out, dtype="float32")
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_run_subcommand_and_default_are_the_same(tmp_path, stereo_wav):
    src, _ = stereo_wav
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert seplive("-i", src, "-o", a, "--mute", "vocals", "-q").returncode == 0
    assert seplive("run", "-i", src, "-o", b, "--mute", "vocals", "-q").returncode == 0
    np.testing.assert_array_equal(sf.read(a)[0], sf.read(b)[0])


def test_duration_stops_early(tmp_path, stereo_wav):
    src, _ = stereo_wav
    out, rep = tmp_path / "o.wav", tmp_path / "r.json"
    assert seplive("-i", src, "-o", out, "-p", "vocals", "--duration", "0.25", "--report", rep, "-q").returncode == 0
    assert sf.info(out).frames == int(0.25 * 44100)
    report = json.loads(rep.read_text())
    assert report["stop_reason"] == "duration reached"
    assert report["misses"]["deadline_pulls"] == 0  # a file sets no deadline: nothing waits on it


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--model", "nosuch", "-p", "vocals"], "unknown model 'nosuch'"),
        (["--model", "hpss", "-p", "vocals"], "no prompt 'vocals'"),
        (["--model", "center", "-p", "vocals", "--gain", "vocals=loud"], "not a number of dB"),
        (["--model", "center"], "nothing to separate"),
        (["--model", "identity", "-p", "vocals", "--model-opt", "oops"], "NAME=VALUE"),
    ],
)
def test_bad_arguments_fail_with_one_clear_line(stereo_wav, args, needle):
    src, _ = stereo_wav
    r = seplive("-i", src, "-o", src.with_name("x.wav"), *args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("content", [None, b"", b"this is not audio at all\n" * 10, b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_missing_or_malformed_input_fails_clearly(tmp_path, content):
    src = tmp_path / "bad.wav"
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.wav"
    r = seplive("-i", src, "-o", out, "-p", "vocals")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(src) in lines[0] and "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_models_lists_the_builtin_plugins():
    r = seplive("models")
    assert r.returncode == 0
    for name in ("identity", "center", "hpss", "native"):
        assert name in r.stdout
    # the default is marked, once, on its own line
    from seplive.presets import DEFAULTS

    marked = [line.split()[0] for line in r.stdout.splitlines() if line.endswith("(default)")]
    assert marked == [DEFAULTS["model"]]
    rows = json.loads(seplive("models", "--json").stdout)
    assert [x["name"] for x in rows if x["default"]] == [DEFAULTS["model"]]


def test_version_and_help():
    from seplive import __version__

    assert __version__ in seplive("--version").stdout
    h = seplive("run", "--help").stdout
    for flag in ("--prompts", "--mute", "--gain", "--hop-ms", "--context-ms", "--lookahead-ms", "--report", "--realtime"):
        assert flag in h


def test_demo_makes_its_files_and_separates(tmp_path):
    r = seplive("demo", "--out", tmp_path / "demo")
    assert r.returncode == 0, r.stderr
    demo = tmp_path / "demo"
    summary = json.loads((demo / "demo.json").read_text())
    by_name = {x["preset"]: x for x in summary["results"]}
    assert {"karaoke", "acapella", "drums-only", "drumless"} <= set(by_name)
    for name in by_name:
        assert sf.info(demo / f"{name}.wav").frames == sf.info(demo / "mix.wav").frames
    # the default model knows every preset's prompts, and really separates: each result is
    # nearer its true stems than the mixture is, by 3 dB or more
    from seplive.presets import DEFAULTS

    for res in by_name.values():
        assert res["model"] == DEFAULTS["model"], res
        assert res["snr_db"] > res["snr_of_mix_db"] + 3, res
    # a voice over the song (espeak-ng is installed by scripts/setup.sh)
    assert summary["speech"] and (demo / "true_speech.wav").is_file()
    # the stems of the first preset, and a real PNG: two spectrogram panels with axes (matplotlib)
    assert {p.name for p in (demo / "stems").iterdir()} == {"vocals.wav", "rest.wav"}
    png = (demo / "before-after.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import struct

    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (1000, 560)
    # it says where things are and what to try next
    for needle in ("before-after.png", "stems", "--input loopback", "--midi", "--osc"):
        assert needle in r.stdout


def test_hop_ms_means_the_same_hop_in_run_and_eval(tmp_path, stereo_wav):
    # issue #21: --hop-ms 9 at native's 48 kHz is 432 samples, rounded up to its multiple of 128
    src, _ = stereo_wav
    rep = tmp_path / "r.json"
    r = seplive("-i", src, "-o", tmp_path / "o.wav", "-m", "native", "-p", "vocals", "--hop-ms", "9", "--duration", "0.2",
                "--report", rep, "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(rep.read_text())["hop_samples"] == 512
    ev = tmp_path / "e.json"
    r = seplive("eval", "--model", "native", "--baselines", "none", "--tasks", "karaoke", "--n", "1", "--seconds", "0.5",
                "--modes", "engine", "--hop-ms", "9", "--json", ev, "-q")
    assert r.returncode == 0, r.stderr
    e = json.loads(ev.read_text())
    assert e["runs"]["native"]["engine"]["hop"] == 512 and e["settings"]["hop_ms"] == 9
