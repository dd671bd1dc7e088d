"""MIDI control without a MIDI system: a JACK server that does not exist is waited for,
not fatal; a mapping with a typo fails when the control is built (one line, with a
suggestion).  MIDI over a real JACK server is in tests/devices/test_midi_jack.py."""

import os

import pytest

from seplive.control.midi import JACK_BACKEND, MidiControl
from tests.support.midi_maps import FADER_MAP, write_map


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
