"""Issue #24: destinations are resolved and checked before the run starts.  Nothing is
written over an input, an output or the report of the same run; a name that is neither an
audio file nor a device a file input can play to is one line; a truncated WAV says so.
(A file played to a device: tests/devices/test_file_to_device.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from seplive import cli

RATE = 48000


pytestmark = pytest.mark.usefixtures("no_user_config")


@pytest.fixture
def song(tmp_path):
    x = (np.random.default_rng(1).standard_normal((RATE // 5, 2)) * 0.1).astype(np.float32)
    p = tmp_path / "in.wav"
    sf.write(p, x, RATE, subtype="FLOAT")
    return p


def run(capsys, *args) -> tuple[int, str]:
    rc = cli.main([*map(str, args)])
    return rc, capsys.readouterr().err


def refused(rc, err, needle) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err and needle in lines[0], err


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("out", ["karaoke", "out.xyz", "default", "app_out", "folder"])
def test_a_file_input_to_something_that_is_not_a_file_is_refused(song, tmp_path, capsys, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    before = files_in(tmp_path)
    rc, err = run(capsys, "-i", song, "-o", out, "-m", "identity", "-p", "vocals", "-q")
    refused(rc, err, f"--output {out}")
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("case", ["report_is_output", "report_is_input", "output_is_input", "output_twice",
                                  "report_is_log"])
def test_nothing_is_written_over_a_file_of_the_same_run(song, tmp_path, capsys, case):
    out = tmp_path / "out.wav"
    args = {
        "report_is_output": ["-o", out, "--report", out],
        "report_is_input": ["-o", out, "--report", song],
        "output_is_input": ["-o", song],
        "output_twice": ["-o", out, "-o", str(tmp_path / "." / "out.wav")],
        "report_is_log": ["-o", out, "--report", tmp_path / "r.json", "--log-json", tmp_path / "r.json"],
    }[case]
    original = song.read_bytes()
    rc, err = run(capsys, "-i", song, "-m", "identity", "-p", "vocals", "-q", *args)
    refused(rc, err, "")
    assert "written over" in err or "the same file" in err, err
    assert song.read_bytes() == original and not out.exists()


@pytest.mark.parametrize("report", ["missing/r.json", "folder"])
def test_an_unwritable_report_fails_before_the_run(song, tmp_path, capsys, report):
    (tmp_path / "folder").mkdir()
    out = tmp_path / "out.wav"
    rc, err = run(capsys, "-i", song, "-o", out, "-m", "identity", "-p", "vocals", "--report", tmp_path / report, "-q")
    refused(rc, err, "--report")
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_the_report_names_the_output(song, tmp_path, capsys):
    out, rep = tmp_path / "out.wav", tmp_path / "r.json"
    rc, err = run(capsys, "-i", song, "-o", out, "-m", "identity", "-p", "vocals", "--report", rep, "-q")
    assert rc == 0, err
    r = json.loads(rep.read_text())
    assert r["output"] == str(out) and r["outputs"] == [str(out)] and r["input_truncated"] is False


def test_a_truncated_wav_says_so_in_one_line(tmp_path):
    src = tmp_path / "cut.wav"
    sf.write(src, np.full((2 * RATE, 2), 0.1, np.float32), RATE, subtype="PCM_16")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    out, rep = tmp_path / "out.wav", tmp_path / "r.json"
    r = subprocess.run([sys.executable, "-m", "seplive", "-i", src, "-o", out, "-m", "identity", "-p", "vocals",
                        "--report", rep], capture_output=True, text=True, timeout=60)
    rc, err = r.returncode, r.stderr
    assert rc == 0, err
    warned = [ln for ln in err.splitlines() if "is truncated:" in ln]
    assert len(warned) == 1 and "promises 2.00 s" in warned[0] and "1.00 s is there" in warned[0], err
    assert json.loads(rep.read_text())["input_truncated"] is True
