"""Session presets and the layered settings: each shipped preset runs, precedence holds,
and every malformed preset is refused with one line naming the file, the key and the fix."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from seplive import presets as P
from seplive.demo import make_song
from tests.support.paths import ROOT

SHIPPED = sorted(p.stem for p in (ROOT / "presets").glob("*.toml"))
REQUIRED = {"karaoke", "acapella", "drumless", "drums-only", "bass-practice", "dialogue", "podcast-clean",
            "music-only", "sfx-only"}


def seplive(*args, env=None, cwd=None):
    e = {**os.environ, **(env or {})}
    e.setdefault("SEPLIVE_CONFIG", "")  # never a user's own config
    return subprocess.run([sys.executable, "-m", "seplive", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=e, cwd=cwd)


@pytest.fixture(autouse=True)
def no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SEPLIVE_CONFIG", raising=False)
    for k in list(os.environ):
        if k.startswith("SEPLIVE_") and k.removeprefix("SEPLIVE_").lower() in P.KEYS:
            monkeypatch.delenv(k)


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    stems = make_song(2.0)
    p = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(p, sum(stems.values()), 48000, subtype="FLOAT")
    return p


def test_the_required_presets_ship():
    assert REQUIRED <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_preset_loads_and_runs_through_the_engine(name, song, tmp_path):
    settings = P.load_preset(name)
    assert settings["description"]
    out, rep = tmp_path / "out.wav", tmp_path / "r.json"
    # identity has every prompt, so each preset's mix runs whatever the default model knows
    r = seplive("--preset", name, "-m", "identity", "-i", song, "-o", out, "--report", rep, "-q")
    assert r.returncode == 0, r.stderr
    report = json.loads(rep.read_text())
    assert set(report["prompts"]) >= set(settings.get("prompts", [])) - {"rest"}
    assert set(report["mix"]["muted"]) >= set(settings.get("mute", []))
    for stem, db in settings.get("gain", {}).items():
        assert report["mix"]["gains_db"][stem] == db
    y, rate = sf.read(out, dtype="float32")
    x, _ = sf.read(song, dtype="float32")
    assert rate == 48000 and y.shape == x.shape and np.isfinite(y).all()
    # identity's stems are the input itself: muting a selected stem silences it, isolating keeps it
    muted_all = bool(settings.get("mute")) and not settings.get("prompts")
    level = float(np.sqrt(np.mean(y[report["latency_samples"] :] ** 2)))
    if muted_all:
        assert level < 1e-4
    else:
        assert level > 1e-3


def test_karaoke_runs_with_the_default_model(song, tmp_path):
    out = tmp_path / "k.wav"
    r = seplive("--preset", "karaoke", "-i", song, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "preset karaoke" in r.stderr and out.is_file()


def test_a_preset_the_model_cannot_play_names_a_model_that_can(song, tmp_path):
    r = seplive("--preset", "drums-only", "-m", "center", "-i", song, "-o", tmp_path / "o.wav")
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "\n" not in line and "'drums'" in line and "drums-only" in line and "hpss" in line


def test_precedence_flags_over_environment_over_preset_over_user_config(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('model = "identity"\nhop_ms = 20\nwet = 0.5\npreset = "karaoke"\n[gain]\ndrums = -3\n')
    local = tmp_path / "presets"
    local.mkdir()
    (local / "mine.toml").write_text('description = "x"\nhop_ms = 10\nwet = 0.8\nmute = ["bass"]\n[gain]\nvocals = -6\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEPLIVE_CONFIG", str(cfg))
    # user config alone: its preset (karaoke) and its values
    s = P.layer({}, env={}).merged
    assert s["mute"] == ["vocals"] and s["hop_ms"] == 20 and s["model"] == "identity" and s["wet"] == 0.5
    # a preset beats the user config; tables merge key by key
    s = P.layer({}, env={}, preset="mine").merged
    assert s["mute"] == ["bass"] and s["hop_ms"] == 10 and s["wet"] == 0.8
    assert s["gain"] == {"drums": -3.0, "vocals": -6.0} and s["model"] == "identity"
    # the environment beats the preset, flags beat the environment
    env = {"SEPLIVE_HOP_MS": "15", "SEPLIVE_WET": "0.25", "SEPLIVE_GAIN": "vocals=-1"}
    s = P.layer({}, env=env, preset="mine").merged
    assert s["hop_ms"] == 15 and s["wet"] == 0.25 and s["gain"]["vocals"] == -1
    s = P.layer({"hop_ms": 30.0, "gain": {"vocals": 2.0}}, env=env, preset="mine").merged
    assert s["hop_ms"] == 30 and s["wet"] == 0.25 and s["gain"] == {"drums": -3.0, "vocals": 2.0}
    # defaults under everything
    monkeypatch.setenv("SEPLIVE_CONFIG", "")
    monkeypatch.delenv("SEPLIVE_CONFIG")
    assert P.layer({}, env={}).merged["model"] == P.DEFAULTS["model"]


def test_precedence_through_the_command_line(song, tmp_path):
    rep = tmp_path / "r.json"
    r = seplive("--preset", "acapella", "-m", "identity", "-i", song, "-o", tmp_path / "o.wav", "--report", rep, "-q",
                env={"SEPLIVE_HOP": "384", "SEPLIVE_MODEL": "center"})
    assert r.returncode == 0, r.stderr
    report = json.loads(rep.read_text())
    assert report["hop_samples"] == 384 and report["model"] == "identity" and report["prompts"] == ["vocals"]


def test_a_local_preset_shadows_the_shipped_one(tmp_path, monkeypatch):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "karaoke.toml").write_text('description = "my karaoke"\nmute = ["vocals", "bass"]\n')
    monkeypatch.chdir(tmp_path)
    assert P.load_preset("karaoke")["mute"] == ["vocals", "bass"]
    rows = P.list_presets()
    mine = [r for r in rows if r.name == "karaoke"]
    assert [r.where for r in mine] == ["local", "shipped"] and mine[1].shadowed_by == "local"
    r = seplive("presets", "--json", cwd=tmp_path)
    listed = json.loads(r.stdout)
    assert {p["name"] for p in listed["presets"]} >= REQUIRED
    assert {c["name"] for c in listed["controllers"]} >= {"nanokontrol2"}


@pytest.mark.parametrize(
    "text,needles",
    [
        ('mutee = ["vocals"]', ["unknown key 'mutee'", "did you mean 'mute'"]),
        ('mute = ["vocal"]\nhop_ms = "fast"', ["hop_ms", "expected a number, got 'fast'"]),
        ('mute = ["vocsls"]', ["mute", "unknown prompt 'vocsls'", "did you mean 'vocals'"]),
        ("mute = [\"vocals\"\n", ["not valid TOML"]),
        ('wet = 3', ["wet", "out of range"]),
        ('[gain]\ndrumz = -6', ["gain.drumz", "did you mean 'drums'"]),
        ('[gain]\ndrums = "loud"', ["gain.drums", "expected a number"]),
        ('resample_quality = "hq"', ["resample_quality", "did you mean 'HQ'"]),
        ('model = "__import__(\'os\').system(\'touch pwned\')"\nmute = ["vocals"]', ["unknown model", "available: center"]),
        ('[model_options]\nx = [1, 2]', ["model_options.x", "plain values"]),
        ('hop = 256\nhop_ms = 5', ["hop or hop_ms"]),
        ('[fx.drums]\nlowpas = 800', ["fx.drums", "lowpas", "did you mean 'lowpass'"]),
    ],
)
def test_malformed_presets_fail_with_one_line(tmp_path, song, text, needles):
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "bad"\n' + text + "\n")
    r = seplive("--preset", bad, "-i", song, "-o", tmp_path / "o.wav", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and "Traceback" not in line, line
    for n in needles:
        assert n.lower() in line.lower(), line
    if "unknown model" not in needles:
        assert str(bad) in line
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "o.wav").exists()


def test_unknown_preset_and_bad_environment_fail_with_one_line(song, tmp_path):
    r = seplive("--preset", "karoke", "-i", song, "-o", tmp_path / "o.wav")
    assert r.returncode == 2 and "did you mean 'karaoke'" in r.stderr and r.stderr.count("\n") == 1
    r = seplive("--preset", "karaoke", "-i", song, "-o", tmp_path / "o.wav", env={"SEPLIVE_HOP_MS": "fast"})
    assert r.returncode == 2 and "SEPLIVE_HOP_MS" in r.stderr and r.stderr.count("\n") == 1
    r = seplive("-i", song, "-o", tmp_path / "o.wav", "--mute", "vocals", env={"SEPLIVE_CONFIG": str(tmp_path / "nope.toml")})
    assert r.returncode == 2 and "SEPLIVE_CONFIG" in r.stderr


def test_no_input_anywhere_is_one_line():
    r = seplive("--preset", "karaoke")
    assert r.returncode == 2 and "no input" in r.stderr and r.stderr.count("\n") == 1


def test_a_preset_with_stem_effects_runs_them(song, tmp_path):
    p = tmp_path / "dark.toml"
    p.write_text('description = "drums through a low-pass"\nprompts = ["drums", "rest"]\n[fx.drums]\nlowpass = 800\n')
    assert P.load_preset(str(p))["fx"] == {"drums": {"lowpass": 800.0}}
    rep = tmp_path / "r.json"
    r = seplive("--preset", p, "-m", "identity", "-i", song, "-o", tmp_path / "o.wav", "--report", rep, "-q",
                "--fx", "drums.resonance=2")
    assert r.returncode == 0, r.stderr
    report = json.loads(rep.read_text())
    assert report["mix"]["fx"]["drums"] == {"lowpass": 800.0, "resonance": 2.0}, report["mix"]
    assert report["fx"], report
