"""A MIDI map the MIDI tests share, and a helper that writes and loads one."""

from seplive.control.mapping import load_mapping

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
    """Write ``text`` to ``path`` and load it as a mapping."""
    path.write_text(text)
    return load_mapping(path)
