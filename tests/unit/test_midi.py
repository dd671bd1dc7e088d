"""MIDI control without a MIDI system: a JACK server that does not exist is waited for,
not fatal; a mapping with a typo fails when the control is built (one line, with a
suggestion).  MIDI over a real JACK server is in tests/devices/test_midi_jack.py."""

import os

import pytest

from seplive.control.mapping import load_mapping
from seplive.control.midi import JACK_BACKEND, MidiControl

FADER_MAP = """
[profile]
name = "test fader"
channel = 1
[profile.controls]
fader = { cc = 7 }
knob  = { cc = 8 }
enc   = { cc = 9, relative = "twos" }
fine  = { cc = 1, bits = 14 }
[map]
fader = { target = "stem.vocals.gain", takeover = "jump" }
knob  = { target = "stem.vocals.gain", takeover = "pickup" }
enc   = { target = "stem.vocals.gain", step = 0.015625 }
fine  = { target = "master.gain", takeover = "jump" }
"""


def write_map(path, text: str):
    path.write_text(text)
    return load_mapping(path)


def test_no_midi_system_is_waited_for_not_fatal(tmp_path, monkeypatch):
    # a JACK server that does not exist (and must not be started): the control comes up
    # unconnected, keeps trying in the background, and stops cleanly
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"seplive-nonexistent-{os.getpid()}")
    ctl = MidiControl("anything", write_map(tmp_path / "m.toml", FADER_MAP), backend=JACK_BACKEND)
    assert not ctl.connected
    ctl.stop()


def test_bad_mapping_fails_when_the_control_is_built(tmp_path):
    (tmp_path / "bad.toml").write_text('[profile.controls]\nf = { cc = 7 }\n[map]\nf = "stem.vocals.gian"\n')
    with pytest.raises(ValueError, match=r"bad.toml: map.f.target: .*did you mean 'gain'"):
        MidiControl("x", tmp_path / "bad.toml", backend=JACK_BACKEND)
