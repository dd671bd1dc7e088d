"""Issue #24: one validation layer for every source of a setting.

Flags, SEPLIVE_* variables, presets, MIDI maps and model options pass the same checks:
every bad value is refused with one line naming the flag or the key, never a traceback,
and whatever is accepted gives a finite, bounded output.  The fuzz tests at the end run
the real command line in-process on a tiny file (bounded: a few hundred examples)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seplive import cli

RATE = 48000


pytestmark = pytest.mark.usefixtures("no_user_config")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("tiny") / "in.wav"
    x = (np.random.default_rng(0).standard_normal((RATE // 10, 2)) * 0.1).astype(np.float32)
    sf.write(p, x, RATE, subtype="FLOAT")
    return p


def run(capsys, *args) -> tuple[int, str]:
    try:
        rc = cli.main([*map(str, args)])
    except SystemExit as exc:  # argparse's own refusals
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err


def one_line_error(rc: int, err: str, needle: str = "") -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert lines[0].startswith("seplive: error: ") and needle in lines[0], err


BAD_FLAGS = [
    # (flags, what the one line must name)
    (["--master-db", "nan"], "--master-db"),
    (["--master-db", "inf"], "--master-db"),
    (["--master-db", "200"], "--master-db"),
    (["--master-db", "1e9"], "--master-db"),
    (["--wet", "nan"], "--wet"),
    (["--wet", "2"], "--wet"),
    (["--duration", "inf"], "--duration"),
    (["--duration", "1e308"], "--duration"),
    (["--duration", "-1"], "--duration"),
    (["--duration", "0"], "--duration"),
    (["--hop-ms", "inf"], "--hop-ms"),
    (["--hop-ms", "nan"], "--hop-ms"),
    (["--hop-ms", "1e12"], "--hop-ms"),
    (["--hop-ms", "-3"], "--hop-ms"),
    (["--context-ms", "inf"], "--context-ms"),
    (["--context-ms", "-5"], "--context-ms"),
    (["--lookahead-ms", "inf"], "--lookahead-ms"),
    (["--compute-budget", "1e12"], "--compute-budget"),
    (["--compute-budget", "-1"], "--compute-budget"),
    (["--compute-budget", "nan"], "--compute-budget"),
    (["--hop", "0"], "--hop"),
    (["--hop", "1000000000"], "--hop"),
    (["--hop", "480000"], "--hop"),
    (["--hop", "nan"], "--hop"),
    (["--block", "0"], "--block"),
    (["--crossfade-ms", "nan"], "--crossfade-ms"),
    (["--osc", "99999"], "--osc"),
    (["--osc", "abc"], "--osc"),
    (["--osc-feedback", "127.0.0.1:0"], "--osc-feedback"),
    (["--gain", "vocals=1e38"], "--gain"),
    (["--gain", "vocals=nan"], "--gain"),
    (["--mute", "vocals"], "--mute"),  # with -p vocals: silence
    (["--model-opt", "foo=bar"], "foo"),
    (["-m", "native", "--model-opt", "foo=bar"], "has no option 'foo'"),
    (["-m", "hpss", "-p", "drums", "--model-opt", "time_frames=abc"], "time_frames"),
    (["-m", "hpss", "-p", "drums", "--model-opt", "time_frames=100000"], "time_frames"),
    (["-m", "center", "--model-opt", "foo=1"], "has no option 'foo'"),
    (["-m", "center", "--model-opt", "c_low=nan"], "c_low"),
    (["-m", "center", "--model-opt", "smoothing_ms=-5"], "smoothing_ms"),
    (["-m", "center", "--model-opt", "smoothing_ms=0"], "smoothing_ms"),  # divided by zero every hop
    (["-m", "center", "--model-opt", "c_low=0.95"], "c_low < c_high"),
]


@pytest.mark.parametrize("flags,needle", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flags_are_one_line_naming_the_flag(tiny, tmp_path, capsys, flags, needle):
    out = tmp_path / "out.wav"
    base = ["-i", tiny, "-o", out, "-p", "vocals", "-q"]
    if "-m" not in flags:
        base += ["-m", "identity"]
    if "-p" in flags:
        base = [a for a in base if a not in ("-p", "vocals")]
    rc, err = run(capsys, *base, *flags)
    one_line_error(rc, err, needle)
    assert not out.exists()


@pytest.mark.parametrize("var,value,needle", [
    ("SEPLIVE_MASTER_DB", "nan", "SEPLIVE_MASTER_DB"),
    ("SEPLIVE_HOP", "480000", "SEPLIVE_HOP"),
    ("SEPLIVE_COMPUTE_BUDGET", "-1", "SEPLIVE_COMPUTE_BUDGET"),
    ("SEPLIVE_OSC", "99999", "SEPLIVE_OSC"),
])
def test_the_environment_has_the_same_ranges(tiny, tmp_path, capsys, monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value)
    rc, err = run(capsys, "-i", tiny, "-o", tmp_path / "o.wav", "-m", "identity", "-p", "vocals", "-q")
    one_line_error(rc, err, needle)


def test_good_flags_still_run(tiny, tmp_path, capsys):
    out = tmp_path / "out.wav"
    rc, err = run(capsys, "-i", tiny, "-o", out, "-m", "identity", "-p", "vocals", "--hop-ms", "10",
                  "--master-db", "-6", "--wet", "0.5", "--compute-budget", "2", "--duration", "0.05", "-q")
    assert rc == 0, err
    y, _ = sf.read(out)
    assert np.isfinite(y).all() and 0 < len(y) <= RATE // 20


def test_model_options_of_the_right_kind_reach_the_plugin(tiny, tmp_path, capsys):
    rc, err = run(capsys, "-i", tiny, "-o", tmp_path / "o.wav", "-m", "hpss", "-p", "drums",
                  "--model-opt", "time_frames=9", "-q")
    assert rc == 0, err


# -- TOML files: size and nesting caps ------------------------------------------------------
DEEP_TEXTS = {
    "arrays": "description = 'deep'\nx = " + "[" * 5000 + "]" * 5000 + "\n",
    "tables": "x = " + "{a=" * 5000 + "1" + "}" * 5000 + "\n",
    "big": "description = 'big'\n" + "".join(f"k{i} = {i}\n" for i in range(100_000)),
}


@pytest.mark.parametrize("kind", sorted(DEEP_TEXTS))
def test_deep_or_huge_presets_are_one_line(tiny, tmp_path, capsys, kind):
    p = tmp_path / f"{kind}.toml"
    p.write_text(DEEP_TEXTS[kind])
    rc, err = run(capsys, "-i", tiny, "-o", tmp_path / "o.wav", "-P", p, "-q")
    one_line_error(rc, err, str(p))


@pytest.mark.parametrize("kind", sorted(DEEP_TEXTS))
def test_deep_or_huge_midi_maps_are_one_line(tmp_path, kind):
    from seplive.control.mapping import MappingError, load_mapping

    p = tmp_path / f"{kind}.toml"
    p.write_text(DEEP_TEXTS[kind])
    with pytest.raises(MappingError) as info:
        load_mapping(p)
    assert "\n" not in str(info.value)


def test_presets_lists_a_broken_local_file_and_escapes_control_characters(tmp_path, capsys, monkeypatch):
    d = tmp_path / "presets"
    d.mkdir()
    (d / "deep.toml").write_text(DEEP_TEXTS["arrays"])
    (d / "ansi.toml").write_text('description = "\\u001b[31mred\\u001b[0m\\nsecond line"\n')
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["presets"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "\x1b" not in out and "\\x1b[31mred" in out
    assert any("deep" in ln and "nested" in ln for ln in out.splitlines())
    assert "second line" in [ln for ln in out.splitlines() if "ansi" in ln][0]


# -- fuzz: every flag, every settings source --------------------------------------------------------
_numbers = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1", "0.5", "3", "16", "100", "480", "1e9", "1e308",
                            "-1e308", "1e-320", "24", "-120", "2000", "96000", "abc", "", "1e", "0x10", "5ms"])
_flags = st.lists(
    st.tuples(st.sampled_from([
        "--hop", "--hop-ms", "--context", "--context-ms", "--lookahead", "--lookahead-ms", "--block",
        "--crossfade-ms", "--compute-budget", "--master-db", "--wet", "--duration", "--gain", "--osc",
        "--osc-feedback", "--model-opt", "--resample-quality", "--rate", "--channels",
    ]), _numbers),
    max_size=4,
)


def _value_for(flag: str, value: str) -> list[str]:
    if flag == "--gain":
        return [flag, f"vocals={value}"]
    if flag == "--model-opt":
        return [flag, f"context_samples={value}"]
    if flag == "--osc-feedback":
        return [flag, f"127.0.0.1:{value}"]
    if flag == "--osc":  # a free port only: a number is checked, then bound
        return [flag, value if not value.strip().lstrip("-").isdigit() or value != "0" else "0"]
    return [flag, value]


def _check_run(rc: int, err: str, out: Path, took: float) -> None:
    assert "Traceback" not in err, err
    assert took < 20, f"a run took {took:.1f} s"
    if rc == 0:
        y, _ = sf.read(out, dtype="float32")
        assert np.isfinite(y).all() and len(y) > 0
        # +24 dB of stem gain and +24 dB of master on an input below 0.6: bounded
        assert np.abs(y).max() < 0.6 * 10 ** (48 / 20), np.abs(y).max()
        assert len(y) <= RATE  # never more than the input and its latency
    else:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("seplive: error: "), (rc, err)
        assert not out.exists()


_texts = st.sampled_from(["", " ", "x", "nan", "high", "low", "-1", "1e9", "\x1b[31m", "a\nb", "../..", "/dev/null",
                          "vocals", "rest", "drums", "identity", "center", "hpss", "nosuch", "HQ", "9000", "karaoke"])
_text_flags = st.lists(
    st.tuples(st.sampled_from(["--model", "--device-latency", "--resample-quality", "--preset", "--mute", "--prompts",
                               "--fx", "--stems-out", "--query", "--log-json", "--rate", "--channels", "--device-block",
                               "--limiter", "--align", "--realtime"]), _texts),
    max_size=3,
)


def _text_value(flag: str, value: str, tmp_path: Path) -> list[str]:
    if flag in ("--limiter", "--align", "--realtime"):
        return [flag]
    if flag == "--fx":
        return [flag, f"vocals.lowpass={value}"]
    if flag in ("--stems-out", "--log-json"):
        return [flag, str(tmp_path / "fz" / value.replace("/", "_"))] if value else [flag, value]
    if flag == "--query":
        return [flag, str(tmp_path / ((value.replace("/", "_") or "q") + ".wav"))]
    return [flag, value]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=_text_flags)
def test_fuzz_text_flags_one_line_or_bounded_output(tiny, tmp_path, capsys, flags):
    out = tmp_path / "fz.wav"
    out.unlink(missing_ok=True)
    argv = ["-i", tiny, "-o", out, "-m", "identity", "-p", "vocals", "-q"]
    for flag, value in flags:
        if flag == "--realtime":
            continue  # paced: slow, and the same checks
        if flag == "--model" and value not in ("identity", "center", "hpss", "nosuch", "", "x"):
            continue  # never load a neural model here
        argv += _text_value(flag, value, tmp_path)
    t = time.monotonic()
    rc, err = run(capsys, *argv)
    _check_run(rc, err, out, time.monotonic() - t)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=_flags)
def test_fuzz_flags_one_line_or_bounded_output(tiny, tmp_path, capsys, flags):
    out = tmp_path / "fz.wav"
    out.unlink(missing_ok=True)
    argv = ["-i", tiny, "-o", out, "-m", "identity", "-p", "vocals", "-q"]
    for flag, value in flags:
        if flag == "--osc" and value not in ("0", "abc", "", "-1", "1e9", "nan"):
            continue  # never bind a fixed port in a test
        argv += _value_for(flag, value)
    t = time.monotonic()
    rc, err = run(capsys, *argv)
    _check_run(rc, err, out, time.monotonic() - t)


_ENV = ["HOP", "HOP_MS", "CONTEXT_MS", "LOOKAHEAD_MS", "CROSSFADE_MS", "COMPUTE_BUDGET", "MASTER_DB", "WET", "GAIN",
        "RATE", "CHANNELS", "DEVICE_BLOCK", "DEVICE_LATENCY", "LIMITER", "MUTE", "PROMPTS", "MODEL_OPTIONS"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env=st.dictionaries(st.sampled_from(_ENV), _numbers, max_size=3))
def test_fuzz_environment_one_line_or_bounded_output(tiny, tmp_path, capsys, env):
    out = tmp_path / "fz.wav"
    out.unlink(missing_ok=True)
    saved = {k: os.environ.get(k) for k in env}
    try:
        for k, v in env.items():
            os.environ["SEPLIVE_" + k] = v if k != "GAIN" else f"vocals={v}"
        t = time.monotonic()
        rc, err = run(capsys, "-i", tiny, "-o", out, "-m", "identity", "-p", "vocals", "-q")
    finally:
        for k in env:
            os.environ.pop("SEPLIVE_" + k, None)
        del saved
    _check_run(rc, err, out, time.monotonic() - t)


_toml_values = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1", "0.5", "1e9", "1e308", "24", "-120", "2000",
                                '"abc"', "true", "[]", "{}", "[1, 2]", '"vocals"', '["vocals"]', "{vocals = 1e38}"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.dictionaries(st.sampled_from(["hop", "hop_ms", "context_ms", "lookahead_ms", "compute_budget",
                                               "master_db", "wet", "gain", "mute", "prompts", "crossfade_ms",
                                               "model_options", "osc"]), _toml_values, max_size=3))
def test_fuzz_preset_values_one_line_or_bounded_output(tiny, tmp_path, capsys, table):
    out = tmp_path / "fz.wav"
    out.unlink(missing_ok=True)
    preset = tmp_path / "fz.toml"
    preset.write_text("".join(f"{k} = {v}\n" for k, v in table.items()))
    t = time.monotonic()
    rc, err = run(capsys, "-i", tiny, "-o", out, "-m", "identity", "-P", preset, "-q",
                  *([] if "prompts" in table or "mute" in table else ["-p", "vocals"]))
    _check_run(rc, err, out, time.monotonic() - t)


def test_quiet_keeps_c_libraries_off_the_terminal_but_not_seplive_errors(tmp_path):
    """ALSA and PortAudio print to file descriptor 2 from C (dozens of lines when PulseAudio
    restarts); with --quiet they go to /dev/null, seplive's own one-line errors do not."""
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from seplive import cli\n"
        "state = cli._quiet_c_stderr()\n"
        "os.write(2, b'ALSA lib pcm.c:8570:(snd_pcm_recover) underrun occurred\\n')\n"
        "print('seplive: error: the one line', file=sys.stderr)\n"
        "cli._restore_c_stderr(state)\n"
        "os.write(2, b'after\\n')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["seplive: error: the one line", "after"], r.stderr


def test_a_checkpoint_sidecar_asking_for_a_huge_model_is_refused_before_allocating(tiny, tmp_path, capsys):
    import json
    import resource
    import shutil

    from seplive.models.native.checkpoint import WEIGHTS_DIR

    shutil.copy(WEIGHTS_DIR / "native-small.pt", tmp_path / "big.pt")
    meta = json.loads((WEIGHTS_DIR / "native-small.json").read_text())
    meta["config"]["model"]["options"] = {"preset": "small", "dim": 8192, "layers": 48}  # ~180 GB
    (tmp_path / "big.json").write_text(json.dumps(meta))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rc, err = run(capsys, "-i", tiny, "-o", tmp_path / "o.wav", "-m", "native", "--checkpoint", tmp_path / "big.pt",
                  "-p", "vocals", "-q")
    one_line_error(rc, err, "holds 2.8 MB")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 500_000  # KB: nothing big allocated


_option_values = st.one_of(st.sampled_from([float("nan"), float("inf"), -1, 0, 1, 2, 3, 13, 1e9, -1e9, 0.5, True, False,
                                            "abc", "", "13"]), st.integers(-10**6, 10**6),
                           st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=120, deadline=None)
@given(model=st.sampled_from(["identity", "center", "hpss"]),
       options=st.dictionaries(st.sampled_from(["time_frames", "freq_bins", "power", "lookahead_frames", "smoothing_ms",
                                                "c_low", "c_high", "low_cut_hz", "high_cut_hz", "context_samples",
                                                "lookahead_samples", "sample_rate", "channels", "bogus"]),
                               _option_values, max_size=3))
def test_fuzz_model_options_one_line_or_a_plugin_that_runs(model, options):
    """Whatever a --model-opt, a preset's [model_options] or SEPLIVE_MODEL_OPTIONS gives: a
    one-line refusal, or a plugin that builds and separates a block into finite audio."""
    from seplive.models import registry
    from seplive.models.base import SeparatorError
    from seplive.presets import PresetError
    from seplive.stream.engine import Engine, EngineConfig, process_array
    from seplive.stream.mix import MixSettings
    from seplive.validate import check_model_options

    try:
        checked = check_model_options(model, options)
        plugin = registry.create(model, **checked)
    except (PresetError, SeparatorError) as exc:
        assert "\n" not in str(exc)
        return
    x = (np.random.default_rng(0).standard_normal((4096, 2)) * 0.1).astype(np.float32)
    prompt = {"identity": "vocals", "center": "vocals", "hpss": "drums"}[model]
    try:
        eng = Engine(plugin, MixSettings.from_cli([prompt], [], {}), EngineConfig(source_rate=RATE, channels=2))
        y = process_array(eng, x)
        eng.close()
        errors = eng.counters.plugin_errors
    except SeparatorError as exc:  # refused when it is prepared (e.g. a rate the plugin cannot take)
        assert "\n" not in str(exc)
        return
    assert np.isfinite(y).all() and np.abs(y).max() < 10
    assert errors == 0, (model, checked, eng.counters.error_kinds)  # accepted means it works, every hop
