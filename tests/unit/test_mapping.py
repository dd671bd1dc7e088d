"""Mapping files, targets, curves and the MIDI decoders: pure functions, closed forms,
one-line errors, and fuzzing (nothing in a file can crash the parser or run code)."""

import math
import tomllib

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seplive.control.learn import Detected, append_mapping, guess
from seplive.control.mapping import (
    Binding,
    Cc14,
    Control,
    MappingError,
    Takeover,
    decode_relative,
    load_mapping,
    parse_mapping,
    position_to_value,
    shipped_mappings,
    value_to_position,
)
from seplive.control.targets import ControlError, Target, parse_target
from seplive.models.prompts import PROMPTS


# -- targets ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,want",
    [
        ("stem.vocals.gain", Target("gain", "vocals")),
        ("stem.Voice.gain_db", Target("gain_db", "speech")),  # aliases resolve
        ("stem.3.mute", Target("mute", "3")),
        ("stem.rest.solo", Target("solo", "rest")),
        ("prompts.toggle.drums", Target("select", "drums")),
        ("stem.drums.select", Target("select", "drums")),
        ("master.gain", Target("master_gain")),
        ("master.gain_db", Target("master_gain_db")),
        ("wet", Target("wet")),
        ("bypass", Target("bypass")),
        ("preset.next", Target("preset", preset="next")),
        ("preset.load.live.set", Target("preset", preset="load:live.set")),
    ],
)
def test_targets_parse(text, want):
    assert parse_target(text) == want
    assert parse_target(str(want)) == want  # str() round-trips


@pytest.mark.parametrize(
    "text,needle",
    [
        ("stem.vocals.gian", "did you mean 'gain'"),
        ("stem.vocls.gain", "did you mean 'vocals'"),
        ("master.volume", "master has 'gain' and 'gain_db'"),
        ("wett", "did you mean 'wet'"),
        ("stem.0.gain", "out of range"),
        ("stem..gain", "not a stem name"),
    ],
)
def test_bad_targets_say_what_is_near(text, needle):
    with pytest.raises(ControlError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        parse_target(text)


# -- shipped files ----------------------------------------------------------------------------
def test_shipped_controllers_load_and_cover_eight_strips():
    names = shipped_mappings()
    assert {"nanokontrol2", "launchcontrolxl", "xtouchmini", "mpkminimk3"} <= set(names)
    for name in names:
        m = load_mapping(name)
        assert m.port and m.bindings
        gains = {b.target.stem for b in m.bindings if b.target.param == "gain" and b.target.stem != "rest"}
        mutes = {b.target.stem for b in m.bindings if b.target.param == "mute"}
        assert gains == {str(i) for i in range(1, 9)}, name
        assert mutes == {str(i) for i in range(1, 9)}, name
        # no two controls send the same message
        keys = [(c.kind, c.channel, c.number) for c in m.controls.values()]
        assert len(keys) == len(set(keys)), name


def test_nanokontrol2_factory_numbers():
    m = load_mapping("nanokontrol2")
    c = m.controls
    assert [c[f"fader{i}"].number for i in range(1, 9)] == list(range(0, 8))
    assert [c[f"knob{i}"].number for i in range(1, 9)] == list(range(16, 24))
    assert [c[f"solo{i}"].number for i in range(1, 9)] == list(range(32, 40))
    assert [c[f"mute{i}"].number for i in range(1, 9)] == list(range(48, 56))
    assert all(x.channel == 0 for x in c.values())


def test_extends_overrides_and_removes(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(
        'extends = "nanokontrol2"\n'
        "[profile]\nport = \"nano\"\n"
        "[profile.controls]\nfader1 = { cc = 100 }\n"
        "[map]\nfader1 = { target = \"stem.vocals.gain_db\", range = [-30, 0] }\nknob7 = \"none\"\n"
    )
    m = load_mapping(p)
    by_name = {b.control.name: b for b in m.bindings}
    assert m.port == "nano"
    assert by_name["fader1"].control.number == 100
    assert by_name["fader1"].target == Target("gain_db", "vocals") and by_name["fader1"].range == (-30.0, 0.0)
    assert "knob7" not in by_name and "fader2" in by_name


BASE = """
[profile]
name = "t"
[profile.controls]
f = { cc = 7 }
b = { note = 36 }
e = { cc = 9, relative = "twos" }
"""


@pytest.mark.parametrize(
    "extra,key,needle",
    [
        ('[map]\nf = "stem.vocals.gian"', "map.f.target", "did you mean 'gain'"),
        ('[map]\nf = { targt = "wet" }', "map.f.targt", "did you mean 'target'"),
        ('[map]\nfader = "wet"', "map.fader", "no control 'fader'"),
        ('[map]\nf = { target = "wet", curve = "exp" }', "map.f.curve", "use one of linear, db, log"),
        ('[map]\nf = { target = "wet", curve = "log" }', "map.f.range", "range above 0"),
        ('[map]\nf = { target = "wet", takeover = "pick" }', "map.f.takeover", "did you mean 'pickup'"),
        ('[map]\nb = "stem.vocals.gain"', "map.b", "is a note"),
        ('[map]\ne = "stem.vocals.mute"', "map.e", "relative encoder"),
        ('[map]\nf = { target = "stem.vocals.gain_db", curve = "linear" }', "map.f.curve", 'use curve = "db"'),
        ('[map]\nf = { target = "stem.vocals.gain", range = [1, 1] }', "map.f.range", "equal"),
        ('[map]\nf = { target = "stem.vocals.gain", range = [-1, 1] }', "map.f.range", ">= 0"),
        ('[map]\nf = { target = "wet", step = 2 }', "map.f.step", "not in (0, 1]"),
        ("[profile.controls.x]\ncc = 7\nchannel = 17", "profile.controls.x.channel", "out of range 1-16"),
        ("[profile.controls.x]\ncc = 128", "profile.controls.x.cc", "out of range 0-127"),
        ("[profile.controls.x]\ncc = 7\nnote = 3", "profile.controls.x", "exactly one of"),
        ("[profile.controls.x]\ncc = 40\nbits = 14", "profile.controls.x.bits", "CC 0-31"),
        ('[profile.controls.x]\ncc = 1\nrelative = "two"', "profile.controls.x.relative", "did you mean 'twos'"),
        ('[profile.controls.x]\ncc = "seven"', "profile.controls.x.cc", "expected an integer"),
        ("[profil]\nname = 1", "profil", "did you mean 'profile'"),
    ],
)
def test_malformed_files_fail_with_one_line_naming_file_and_key(tmp_path, extra, key, needle):
    p = tmp_path / "bad.toml"
    p.write_text(BASE + extra + "\n")
    with pytest.raises(MappingError) as err:
        load_mapping(p)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{p}: {key}: "), msg
    assert needle in msg, msg


def test_toml_syntax_errors_and_missing_files(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text("[map\nf = 1\n")
    with pytest.raises(MappingError, match=r"broken.toml: not valid TOML"):
        load_mapping(p)
    with pytest.raises(MappingError, match=r"did you mean 'nanokontrol2'"):
        load_mapping("nanokontrol")
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(MappingError, match="too many levels"):
        load_mapping(tmp_path / "a.toml")


def test_parsing_never_runs_code(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.toml"
    p.write_text(
        BASE + f'[map]\nf = "__import__(\'os\').system(\'touch {marker}\')"\n'
    )
    with pytest.raises(MappingError):
        load_mapping(p)
    assert not marker.exists()


# -- curves and decoders (closed forms) --------------------------------------------------------
def _binding(target, **kw):
    return Binding(Control("c", "cc", 7, 0), parse_target(target), **kw)


def test_linear_and_db_curves():
    lin = _binding("stem.vocals.gain")
    assert position_to_value(lin, 0.0) == 0.0 and position_to_value(lin, 1.0) == 1.0
    assert position_to_value(lin, 64 / 127) == pytest.approx(64 / 127)
    db = _binding("stem.vocals.gain_db", curve="db", range=(-60.0, 6.0), min_off=True)
    assert position_to_value(db, 0.0) == -math.inf  # bottom = off
    assert position_to_value(db, 1.0) == 6.0
    assert position_to_value(db, 0.5) == pytest.approx(-27.0)
    gdb = _binding("stem.vocals.gain", curve="db", range=(-60.0, 0.0), min_off=True)
    assert position_to_value(gdb, 0.5) == pytest.approx(10 ** (-30 / 20))
    for b in (lin, db, gdb, _binding("wet", range=(0.2, 0.8))):
        for u in (0.0, 0.1, 0.37, 0.5, 0.99, 1.0):
            assert value_to_position(b, position_to_value(b, u)) == pytest.approx(u, abs=1e-9)


@pytest.mark.parametrize(
    "encoding,value,ticks",
    [
        ("twos", 1, 1), ("twos", 63, 63), ("twos", 127, -1), ("twos", 64, -64), ("twos", 0, 0),
        ("offset64", 65, 1), ("offset64", 63, -1), ("offset64", 64, 0), ("offset64", 127, 63), ("offset64", 0, -64),
        ("signbit", 1, 1), ("signbit", 65, -1), ("signbit", 127, -63), ("signbit", 64, 0), ("signbit", 5, 5),
    ],
)
def test_relative_decoding(encoding, value, ticks):
    assert decode_relative(value, encoding) == ticks


def test_14bit_pairs():
    d = Cc14()
    assert d.feed(False, 64) == 8192  # MSB alone: LSB taken as 0
    assert d.feed(True, 100) == 8292
    assert d.feed(True, 127) == 8319  # LSB refines the same MSB
    assert d.feed(False, 127) == 16256  # a new MSB clears the LSB
    assert d.feed(True, 127) == 16383
    assert d.feed(False, 0) == 0


def test_takeover_modes():
    t = Takeover("pickup")
    assert t.feed(0.1, 0.5) is None and t.feed(0.3, 0.5) is None  # below: ignored
    assert t.feed(0.6, 0.5) == 0.6  # crossed: picked up
    assert t.feed(0.2, 0.6) == 0.2  # in sync: follows, even in jumps
    assert t.feed(0.25, 0.9) is None  # moved elsewhere: out of sync again
    assert t.feed(0.89, 0.9) == 0.89  # within the tolerance counts as reached
    j = Takeover("jump")
    assert j.feed(0.1, 0.9) == 0.1
    s = Takeover("scale")
    assert s.feed(0.2, 0.6) is None  # first sight of the knob: nothing to scale from
    v = s.feed(0.4, 0.6)  # up by 0.2 of the 0.8 left: the value closes a quarter of its gap
    assert v == pytest.approx(0.6 + 0.2 * 0.4 / 0.8)
    v = s.feed(1.0, v)
    assert v == pytest.approx(1.0) and s.synced  # they meet at the end of travel
    assert s.feed(0.5, 1.0) == 0.5


# -- learn's guesses and file writing ------------------------------------------------------------
def cc(n, v, ch=0):
    return mido.Message("control_change", control=n, value=v, channel=ch)


def test_learn_guesses_what_moved():
    assert guess([]) is None
    d = guess([cc(7, v) for v in range(40, 60)])
    assert (d.kind, d.number, d.relative, d.button, d.bits) == ("cc", 7, None, False, 7)
    assert guess([cc(16, 1)] * 6).relative == "twos"
    assert guess([cc(16, 127)] * 3 + [cc(16, 1)] * 3).relative == "twos"
    assert guess([cc(16, 65)] * 4 + [cc(16, 63)] * 2).relative == "offset64"
    assert guess([cc(16, 1)] * 3 + [cc(16, 65)] * 3).relative == "signbit"
    assert guess([cc(32, 127), cc(32, 0)]).button
    n = guess([mido.Message("note_on", note=36, velocity=90, channel=9), mido.Message("note_off", note=36, channel=9)])
    assert (n.kind, n.number, n.channel, n.button) == ("note", 36, 9, True)
    pair = guess([m for v in range(0, 40, 4) for m in (cc(1, v), cc(33, 3 * v % 128))])
    assert (pair.number, pair.bits) == (1, 14)
    lsb_first = guess([cc(33, 5), cc(1, 10), cc(33, 6), cc(1, 11)])
    assert (lsb_first.number, lsb_first.bits) == (1, 14)


def test_append_mapping_creates_and_extends_files(tmp_path):
    p = tmp_path / "sub" / "m.toml"
    name = append_mapping(p, Detected("cc", 7, 0), "stem.vocals.gain", port="nano")
    assert name == "cc7_ch1"
    name2 = append_mapping(p, Detected("cc", 7, 0), "stem.drums.gain")  # same control, second target
    name3 = append_mapping(p, Detected("cc", 16, 1, relative="offset64"), "wet")
    name4 = append_mapping(p, Detected("note", 36, 9, button=True), "stem.2.mute")
    m = load_mapping(p)
    assert m.port == "nano"
    got = {b.control.name: (str(b.target), b.control.relative, b.control.channel) for b in m.bindings}
    assert got == {
        name: ("stem.vocals.gain", None, 0),
        name2: ("stem.drums.gain", None, 0),
        name3: ("wet", "offset64", 1),
        name4: ("stem.2.mute", None, 9),
    }
    with pytest.raises(ControlError, match="on/off"):
        append_mapping(p, Detected("cc", 16, 1, relative="twos"), "stem.vocals.mute")
    # a file learn cannot extend automatically is left as it was, with the text to add
    q = tmp_path / "inline.toml"
    q.write_text('[profile]\ncontrols = { a = { cc = 1 } }\n')
    before = q.read_text()
    with pytest.raises(MappingError, match="add this by hand"):
        append_mapping(q, Detected("cc", 7, 0), "wet")
    assert q.read_text() == before
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".learn-")]


# -- fuzzing -------------------------------------------------------------------------------------
SCALARS = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(allow_nan=True), st.text(max_size=12), st.booleans(), st.none()
)
DOCS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
KEYS = ["cc", "note", "channel", "bits", "relative", "feedback", "on_value", "off_value", "led", "led_channel",
        "target", "curve", "range", "min_off", "takeover", "button", "step", "name", "port", "extends"]
VALUES = st.one_of(
    SCALARS,
    st.sampled_from(["stem.vocals.gain", "stem.1.gain_db", "wet", "bypass", "preset.next", "prompts.toggle.2",
                     "master.gain", "twos", "offset64", "db", "linear", "pickup", "scale", "momentary", "none"]),
    st.integers(-2, 130),
    st.lists(st.one_of(st.integers(-100, 100), st.floats()), max_size=3),
)
SPEC = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5)


@settings(max_examples=300, deadline=None)
@given(doc=DOCS)
def test_fuzz_any_document_gives_a_mapping_or_a_mapping_error(doc):
    try:
        parse_mapping(doc, source="fuzz.toml")
    except MappingError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=400, deadline=None)
@given(
    controls=st.dictionaries(st.sampled_from(["a", "b", "c"]), SPEC, max_size=3),
    mapping=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.one_of(VALUES, SPEC), max_size=4),
    profile=st.dictionaries(st.sampled_from(["name", "port", "channel"]), VALUES, max_size=3),
)
def test_fuzz_near_valid_documents(controls, mapping, profile):
    doc = {"profile": {**profile, "controls": controls}, "map": mapping}
    try:
        m = parse_mapping(doc, source="fuzz.toml")
    except MappingError as exc:
        assert "\n" not in str(exc)
        return
    for b in m.bindings:  # whatever parses is usable
        if b.target.is_continuous:
            for u in (0.0, 0.5, 1.0):
                v = position_to_value(b, u)
                assert 0.0 <= value_to_position(b, v) <= 1.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_fuzz_file_text(tmp_path, text):
    p = tmp_path / "f.toml"
    p.write_text(text, encoding="utf-8")
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        pass
    try:
        load_mapping(p)
    except MappingError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40))
def test_fuzz_targets(text):
    try:
        t = parse_target(text)
    except ControlError:
        return
    assert parse_target(str(t)) == t


def test_tuss_vocabulary_covers_known_stem_names():
    for p in PROMPTS:
        assert parse_target(f"stem.{p}.gain").stem == p


def test_errors_stay_on_one_line_whatever_the_file_says():
    for doc in ({"a\nb": 1}, {"profile": {"controls": {"f": {"cc": 1}}}, "map": {"x\ny": "wet"}}):
        with pytest.raises(MappingError) as err:
            parse_mapping(doc, source="s.toml")
        assert "\n" not in str(err.value) and "\\n" in str(err.value)


def test_learn_command_refuses_bad_targets_before_listening(tmp_path, capsys):
    from seplive.control.learn import learn_main

    assert learn_main(["--map", str(tmp_path / "m.toml"), "--target", "stem.vocls.gain"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("seplive learn: error: ") and "did you mean 'vocals'" in err
    assert not (tmp_path / "m.toml").exists()
