"""Per-stem effects (pyo manual servers driven by the engine) and the master limiter.

The model here is ``Split``: every stem is a fixed fraction of the input (drums 0.5,
bass 0.3, vocals 0.2), so each stem's contribution to the output is known exactly.
"""

import numpy as np
import pytest

from seplive.fx import fx_updates, parse_fx_arg, parse_fx_table
from seplive.fx.limiter import Limiter
from seplive.fx.pyo_backend import available
from seplive.models.base import Separator, SeparatorError
from seplive.stream.engine import Engine, EngineConfig, process_array
from seplive.stream.mix import MixChange, MixSettings

if not available():  # (imports pyo quietly)
    pytest.skip("pyo (the fx extra) is not installed", allow_module_level=True)

RATE = 48000
WEIGHTS = {"drums": 0.5, "bass": 0.3, "vocals": 0.2}


class Split(Separator):
    """Stems are fixed fractions of the input that add up to it (rest is silent)."""

    name = "split"
    channels = 0
    prompts = tuple(WEIGHTS)
    windowed = True
    default_hop_samples = 256

    def process(self, window, prompts):
        end = window.shape[-1] - self.lookahead_samples
        return np.stack([WEIGHTS[p] * window[..., :end] for p in prompts])


def engine(fx=None, hop=256, channels=2, limiter=False, gains=None, **kw) -> Engine:
    mix = MixSettings.from_cli(list(WEIGHTS), [], gains or {})
    mix.fx = fx or {}
    cfg = EngineConfig(source_rate=RATE, channels=channels, hop_samples=hop, limiter=limiter, **kw)
    return Engine(Split(), mix, cfg)


def sine(freq, seconds=1.0, amp=0.3, channels=2):
    t = np.arange(int(RATE * seconds)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[:, None].repeat(channels, axis=1)


def test_lowpass_on_one_stem_cuts_8k_by_30_db_others_unchanged():
    x = sine(8000) + sine(500, amp=0.1)
    fx = {"drums": {"lowpass": 1000.0}}
    y = process_array(engine(fx), x)
    # the same, drums muted: what bass and vocals give with drums' effects in place
    e_mute = engine(fx)
    e_mute.mix.settings.mute.add("drums")
    e_mute.mix._current = e_mute.mix._targets()
    e_mute.mix._target = e_mute.mix._current.copy()
    y_others = process_array(e_mute, x)
    # bass + vocals are exactly their share of the input: untouched by drums' low-pass
    np.testing.assert_allclose(y_others, 0.5 * x, atol=1e-6)
    assert e_mute.fx.processed.get("drums", 0) == 0 and e_mute.fx.skipped["drums"] > 0
    drums = (y - y_others)[RATE // 4 :]  # drums through the low-pass (after the start)
    ref = 0.5 * x[RATE // 4 :]

    def level(sig, f):
        spec = np.abs(np.fft.rfft(sig[:, 0] * np.hanning(len(sig))))
        k = int(round(f * len(sig) / RATE))
        return 20 * np.log10(spec[k - 2 : k + 3].max() + 1e-12)

    cut = level(ref, 8000) - level(drums, 8000)
    kept = level(ref, 500) - level(drums, 500)
    print(f"\nlow-pass 1 kHz on drums: 8 kHz -{cut:.1f} dB, 500 Hz -{kept:.2f} dB")
    assert cut >= 30.0
    assert kept <= 1.5  # a low-pass, not a mute


def test_effects_add_no_delay_dry_stays_aligned():
    x = np.random.default_rng(3).standard_normal((RATE // 2, 2)).astype(np.float32) * 0.1
    d = 4800  # a 100 ms echo, no feedback
    e = engine({"drums": {"echo.mix": 0.5, "echo.time": d / RATE, "echo.feedback": 0.0}})
    assert e.latency_breakdown()["fx_ms"] == 0.0
    y = process_array(e, x)
    # until the echo arrives the output is the input, aligned to the reported latency
    np.testing.assert_allclose(y[:d], x[:d], atol=1e-5)
    # and then the echo: drums (0.5 x) at half level, exactly d samples later
    np.testing.assert_allclose(y[d:] - x[d:], 0.25 * x[:-d], atol=1e-4)


def test_muted_stem_chain_is_skipped_and_resumes():
    x = np.random.default_rng(4).standard_normal((RATE, 2)).astype(np.float32) * 0.1
    e = engine({"drums": {"lowpass": 800.0, "reverb.mix": 0.4}, "bass": {"highpass": 200.0}})
    n = len(x) // 3
    block = e.block
    process_array(e, x[:n], align=False)
    chain = e.fx._stems["drums"].chain
    calls, done = chain.calls, e.fx.processed["drums"]
    assert calls == done > 0
    e.mix.post(MixChange("mute", True, "drums"))
    for i in range(0, n - n % block, block):
        e.push(x[n + i : n + i + block])
        e.pull(block)
    ramp_hops = -(-e.mix.ramp_samples // e.hop) + 2
    # a few hops while the mute ramps, then none: the drums chain is not run at all
    assert chain.calls - calls <= ramp_hops
    assert e.fx.skipped["drums"] >= n // e.hop - ramp_hops - 2
    assert e.fx.processed["bass"] >= 2 * n // e.hop - 4  # bass kept its effects running
    calls = chain.calls
    e.mix.post(MixChange("mute", False, "drums"))
    for i in range(0, n - n % block, block):
        e.push(x[2 * n + i : 2 * n + i + block])
        e.pull(block)
    assert chain.calls - calls >= n // e.hop - 4


def test_limiter_holds_output_below_0_dbfs_with_stems_at_plus_12_db(db):
    x = np.random.default_rng(5).standard_normal((RATE, 2)).astype(np.float32) * 0.3
    gains = dict.fromkeys(WEIGHTS, 12.0)
    loud = process_array(engine(gains=gains), x)
    assert np.abs(loud).max() > 2.0  # without it: way over full scale
    e = engine(gains=gains, limiter=True, fx={"drums": {"reverb.mix": 0.5}})
    y = process_array(e, x)
    assert e.latency_breakdown()["limiter_ms"] == pytest.approx(1.5)
    print(f"\nlimiter: peak {20 * np.log10(np.abs(y).max()):.2f} dBFS (without: {20 * np.log10(np.abs(loud).max()):.1f})")
    assert np.abs(y).max() < 1.0
    assert e.limiter.limited_samples > RATE // 2
    assert db(y) > db(x) - 3.0  # limited, not silenced


def test_limiter_is_transparent_below_ceiling_and_latency_includes_lookahead():
    x = np.random.default_rng(6).standard_normal((RATE // 2, 2)).astype(np.float32) * 0.05
    plain, lim = engine(), engine(limiter=True)
    assert lim.latency_samples - plain.latency_samples == lim.limiter_delay == 72
    y = process_array(lim, x, align=False)
    L = lim.latency_samples
    np.testing.assert_allclose(y[L:], x[:-L], atol=1e-6)
    assert np.abs(y[:L]).max() == 0.0


@pytest.mark.parametrize("blocks", [(1, 700), (256, 257)])
def test_limiter_never_exceeds_ceiling_any_block_size(blocks):
    rng = np.random.default_rng(blocks[0])
    lim = Limiter(RATE, 2, ceiling_db=-1.0)
    x = (rng.standard_normal((RATE, 2)) * np.linspace(0.05, 4.0, RATE)[:, None]).astype(np.float32)
    out, i = [], 0
    while i < len(x):
        b = int(rng.integers(*blocks))
        out.append(lim.process(x[i : i + b]))
        i += b
    y = np.concatenate(out)
    assert np.abs(y).max() <= 10 ** (-1.0 / 20) + 1e-6
    g = y[lim.lookahead :] / np.where(x[: -lim.lookahead] == 0, 1, x[: -lim.lookahead])
    assert g.max() <= 1.0 + 1e-6 and lim.limited_samples > 0


def test_parse_fx_table_and_args():
    fx = parse_fx_table({"drums": {"lowpass": 800, "echo": {"mix": 0.3}}, "vocals": {"reverb.mix": 0.2}})
    assert fx == {"drums": {"lowpass": 800.0, "echo.mix": 0.3}, "vocals": {"reverb.mix": 0.2}}
    assert parse_fx_table({"drums": {"lowpass": 5}})["drums"]["lowpass"] == 20.0  # clamped to range
    with pytest.raises(ValueError, match=r"fx.drums: unknown effect parameter 'lowpas' \(did you mean 'lowpass'\?\)"):
        parse_fx_table({"drums": {"lowpas": 800}})
    with pytest.raises(ValueError, match="takes a number"):
        parse_fx_table({"drums": {"lowpass": "loud"}})
    assert parse_fx_arg("vocals.reverb.mix=0.3") == ("vocals", "reverb.mix", 0.3)
    # a preset switch: what changes, and what goes back to neutral
    assert fx_updates(fx, {"drums": {"lowpass": 500.0}}) == [
        ("drums", "lowpass", 500.0), ("drums", "echo.mix", 0.0), ("vocals", "reverb.mix", 0.0)]
    with pytest.raises(ValueError, match="STEM.PARAM=VALUE"):
        parse_fx_arg("lowpass=800")


def test_fx_on_unknown_stem_or_rest_is_refused():
    with pytest.raises(SeparatorError, match="no prompt 'piano'"):
        engine({"piano": {"lowpass": 800.0}})
    with pytest.raises(SeparatorError, match="not to 'rest'"):
        engine({"rest": {"lowpass": 800.0}})


def test_without_pyo_the_message_names_the_extra(monkeypatch):
    import sys

    from seplive.fx import pyo_backend

    monkeypatch.setitem(sys.modules, "pyo", None)  # import pyo now raises ImportError
    monkeypatch.setattr(pyo_backend, "_pyo", None)
    with pytest.raises(SeparatorError, match=r"pip install 'seplive\[fx\]'"):
        engine({"drums": {"lowpass": 800.0}})
    e = engine()  # no effects asked for: runs without pyo
    assert e.fx is None
    e.mix.post(MixChange("fx", ("lowpass", 800.0), "drums"))
    process_array(e, np.zeros((1024, 2), np.float32))
    assert e.counters.rejected_changes == 1


def sweep_offline(stepped: bool) -> np.ndarray:
    """The OSC test's sweep, posted straight to an engine's mix at fixed blocks;
    ``stepped``: pyo jumps to each hop's value instead of ramping to it (no ramps)."""
    from seplive.models.dsp import Identity

    n = int(1.2 * RATE)
    t = np.arange(n) / RATE
    x = (0.4 * np.sin(2 * np.pi * 100 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)[:, None]
    mix = MixSettings.from_cli(["vocals"], [], {})
    mix.fx = {"vocals": {"lowpass": 16000.0}}
    e = Engine(Identity(), mix, EngineConfig(source_rate=RATE, channels=1, ramp_ms=0.02 if stepped else 10.0))
    if stepped:
        for sig in e.fx._stems["vocals"].chain._sigs:
            sig.setTime(0.0)
    steps, out, B = list(np.geomspace(16000, 300, 20)), [], e.block
    for i in range(0, n - B + 1, B):
        if i >= RATE // 4 and steps and (i // B) % 4 == 0:
            e.mix.post(MixChange("fx", ("lowpass", float(steps.pop(0))), "vocals"))
        e.push(x[i : i + B])
        out.append(e.pull(B))
    return np.concatenate(out)


def test_unramped_sweep_clicks_ramped_does_not(high_band):
    """The measure the OSC test (tests/devices/test_fx_live.py) uses can fail: without
    ramps the same sweep clicks."""
    ramped, unramped = high_band(sweep_offline(False)), high_band(sweep_offline(True))
    print(f"\nabove 8 kHz: ramped {20 * np.log10(ramped):.1f} dBFS, unramped {20 * np.log10(unramped):.1f} dBFS")
    assert ramped < 2e-4 < 1e-3 < unramped


# -- live changes ----------------------------------------------------------------------------
def test_effect_turned_on_live_builds_off_the_worker_then_plays():
    import time

    x = np.random.default_rng(8).standard_normal((RATE // 4, 2)).astype(np.float32) * 0.1
    e = engine()
    assert e.fx is not None and not e.fx.active()
    e.mix.post(MixChange("fx", ("lowpass", 500.0), "bass"))
    B = e.block
    for _ in range(400):  # blocks keep flowing (dry for bass) while the chain is built
        for i in range(0, len(x) - B + 1, B):
            e.push(x[i : i + B])
            e.pull(B)
        if e.fx.processed.get("bass"):
            break
        time.sleep(0.01)
    assert e.fx.processed["bass"] > 0 and not e.fx.failed
    assert e.counters.deadline_misses == 0 and e.counters.rejected_changes == 0
    e.close()


# -- command line ------------------------------------------------------------------------------
def test_cli_fx_and_limiter(tmp_path):
    import json
    import subprocess
    import sys

    import soundfile as sf

    def seplive(*args):
        return subprocess.run([sys.executable, "-m", "seplive", *map(str, args)], capture_output=True, text=True,
                              timeout=120)

    x = sine(8000, 0.5, amp=0.2) + sine(300, 0.5, amp=0.3)  # +12 dB: 300 Hz peaks at 1.2
    src, out, rep = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "r.json"
    sf.write(src, x, RATE, subtype="FLOAT")
    r = seplive("-i", src, "-o", out, "-m", "identity", "-p", "drums", "--fx", "drums.lowpass=1000",
                "--fx", "drums.resonance=0.707", "--limiter", "--gain", "drums=12", "--report", rep, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # pyo's import notice is silenced
    report = json.loads(rep.read_text())
    assert report["mix"]["fx"] == {"drums": {"lowpass": 1000.0, "resonance": 0.707}}
    assert report["fx"]["processed_hops"]["drums"] > 0 and report["fx"]["limited_samples"] > 0
    assert report["latency_breakdown_ms"]["limiter_ms"] == pytest.approx(1.5)
    y, _ = sf.read(out, dtype="float32")
    assert np.abs(y).max() < 1.0
    r = seplive("-i", src, "-o", out, "-m", "identity", "-p", "drums", "--fx", "drums.lowpas=1000")
    assert r.returncode != 0
    assert "did you mean 'lowpass'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# -- control targets -----------------------------------------------------------------------------
def test_fx_targets_parse_and_map_on_a_log_curve():
    from seplive.control.mapping import parse_mapping, position_to_value, value_to_position
    from seplive.control.targets import ControlError, parse_target

    t = parse_target("fx.drums.echo.mix")
    assert t.is_fx and t.is_continuous and t.stem == "drums" and str(t) == "fx.drums.echo.mix"
    assert str(parse_target("fx.2.lowpass")) == "fx.2.lowpass"
    with pytest.raises(ControlError, match="did you mean 'lowpass'"):
        parse_target("fx.drums.lowpas")
    m = parse_mapping({
        "profile": {"controls": {"k1": {"cc": 1}, "k2": {"cc": 2}}},
        "map": {"k1": "fx.drums.lowpass", "k2": {"target": "fx.vocals.reverb.mix", "range": [0, 0.5]}},
    })
    lp, rv = m.bindings
    assert lp.curve == "log" and lp.range == (20.0, 20000.0)
    assert position_to_value(lp, 0.5) == pytest.approx(632.46, rel=1e-3)  # halfway in pitch
    assert value_to_position(lp, 2000.0) == pytest.approx(2 / 3)
    assert rv.curve == "linear" and position_to_value(rv, 1.0) == 0.5


def test_controller_sets_and_reads_fx_through_the_mix():
    from seplive.control.targets import ControlError, MixController, parse_target

    class Idle:
        """What the controller needs of a Session: its engine, plugin and post()."""

        def __init__(self, engine):
            self.engine, self.plugin = engine, engine.plugin

        def post(self, change, origin=None):
            self.engine.mix.post(change)

    eng = engine()
    ctl = MixController(Idle(eng))
    target = ctl.resolve(parse_target("fx.bass.highpass"))
    ctl.set(target, 150.0)
    assert ctl.value(target) == 150.0  # its own change, before the worker took it
    process_array(eng, np.zeros((2048, 2), np.float32))
    assert eng.mix.settings.fx == {"bass": {"highpass": 150.0}}
    with pytest.raises(ControlError, match="not to 'rest'"):
        ctl.resolve(parse_target("fx.rest.lowpass"))
    with pytest.raises(ControlError):
        ctl.set(target, float("nan"))


def test_offline_engine_without_effects_does_not_import_pyo():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from seplive.stream.mix import MixSettings\n"
        "from seplive.models.dsp import Identity\n"
        "from seplive.stream.engine import Engine, EngineConfig, process_array\n"
        "e = Engine(Identity(), MixSettings.from_cli(['drums'], [], {}), EngineConfig(source_rate=48000, channels=1))\n"
        "process_array(e, np.zeros((4800, 1), np.float32))\n"
        "print(e.fx is not None, 'pyo' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]  # a rack for live changes, pyo not loaded


def test_stems_with_effects_join_the_selection_when_heard_in_rest():
    from seplive.stream.effects import select_fx_stems

    karaoke = MixSettings.from_cli([], ["vocals"], {})  # rest audible: drums are heard in it
    karaoke.fx = {"drums": {"lowpass": 800.0}, "bass": {"lowpass": 20000.0}}  # bass: nothing on
    select_fx_stems(karaoke)
    assert karaoke.stems == ["vocals", "drums"] and karaoke.gain("drums") == 1.0
    isolate = MixSettings.from_cli(["vocals"], [], {})  # rest muted: drums are not heard
    isolate.fx = {"drums": {"lowpass": 800.0}}
    select_fx_stems(isolate)
    assert isolate.stems == ["vocals"]
