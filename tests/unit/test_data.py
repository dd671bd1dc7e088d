"""The data generator: determinism, the mixture contract, TUSS prompt rules, renderer bounds,
readers for real stems, and the torch wrapper."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from seplive.data import (
    Example,
    MixtureSampler,
    SoundfontNotFound,
    augment,
    heldout_set,
    mixing,
    produce,
    render,
    rule_violations,
    soundfonts,
    speech,
)
from seplive.data.midi import DRUM_CHANNEL, Note, Part
from seplive.data.readers import DataError, Musdb18, StemsFolder, as_example
from seplive.models.prompts import PROMPTS
from tests.support.paths import ROOT

RATE = 16000


@pytest.fixture(scope="module")
def sampler():
    return MixtureSampler(seed=7, sample_rate=RATE, seconds=1.5, channels=2)


def digest(ex: Example) -> str:
    h = hashlib.sha256()
    h.update(ex.mixture.tobytes())
    h.update(ex.targets.tobytes())
    h.update(",".join(ex.prompts).encode())
    return h.hexdigest()


def test_example_shapes_and_exact_sum(sampler):
    for i in range(12):
        ex = sampler.example(i)
        p = len(ex.prompts)
        assert ex.mixture.shape == (2, int(1.5 * RATE)) and ex.mixture.dtype == np.float32
        assert ex.targets.shape == (p, 2, int(1.5 * RATE)) and ex.targets.dtype == np.float32
        assert np.array_equal(ex.targets.sum(axis=0), ex.mixture)  # bit-exact, not approximately
        assert np.all(np.isfinite(ex.mixture)) and np.max(np.abs(ex.mixture)) <= 0.98 + 1e-6
        assert np.max(np.abs(ex.mixture)) > 1e-3  # at least one source is always present
        assert not rule_violations(ex.prompts)


def test_dropout_gives_zero_targets_and_present_sources_are_audible(sampler):
    levels = []
    for i in range(40):
        ex = sampler.example(i)
        levels += [float(np.sqrt(np.mean(t**2))) for t in ex.targets]
    silent = sum(level == 0.0 for level in levels)
    # 25 % dropout: somewhere between 10 % and 40 % of the prompts are absent over 40 examples
    assert 0.1 * len(levels) < silent < 0.4 * len(levels)
    assert all(level == 0.0 or level > 1e-3 for level in levels)


def test_same_seed_same_audio_whatever_the_call_order(sampler):
    a = digest(sampler.example(5))
    other = MixtureSampler(seed=7, sample_rate=RATE, seconds=1.5, channels=2, song_cache=1)
    for i in (40, 3, 17):  # evict and render other songs first
        other.example(i)
    assert digest(other.example(5)) == a
    assert digest(sampler.example(5)) == a
    assert digest(MixtureSampler(seed=8, sample_rate=RATE, seconds=1.5).example(5)) != a


def test_same_audio_in_a_fresh_process(sampler):
    code = (
        "import hashlib,sys; from seplive.data import MixtureSampler;"
        "ex=MixtureSampler(seed=7, sample_rate=16000, seconds=1.5, channels=2).example(9);"
        "h=hashlib.sha256(); h.update(ex.mixture.tobytes()); h.update(ex.targets.tobytes());"
        "h.update(','.join(ex.prompts).encode()); print(h.hexdigest())"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    assert out.stdout.strip() == digest(sampler.example(9))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 10**6))
def test_sampled_prompts_never_break_the_rules(seed, index):
    rng = np.random.default_rng([seed, index])
    prompts = mixing.sample_prompts(rng)
    assert rule_violations(prompts) == []
    assert 2 <= len(prompts) <= 4


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10**6))
def test_generated_examples_never_break_the_rules(index):
    s = MixtureSampler(seed=index % 5, sample_rate=8000, seconds=0.5, channels=1, songs_reuse=10**9)
    ex = s.example(index)
    assert rule_violations(ex.prompts) == []
    assert np.array_equal(ex.targets.sum(axis=0), ex.mixture)


def test_rule_checker_catches_breaks():
    assert rule_violations(["sfx", "sfxbg"]) == ["sfx with sfxbg"]
    assert rule_violations(["musicbg", "drums"]) == ["musicbg with an instrument"]
    assert rule_violations(["bass", "bass"]) == ["bass repeated"]
    assert rule_violations(["speech", "speech", "sfx", "sfx"]) == []
    assert rule_violations(["speech"]) == ["1 prompts"]


def test_all_prompts_and_mono_occur():
    s = MixtureSampler(seed=3, sample_rate=8000, seconds=0.5, channels=1)
    seen = set()
    for i in range(60):
        seen.update(mixing.sample_prompts(np.random.default_rng([3, 0, i])))
    assert seen == set(PROMPTS)
    ex = s.example(0)
    assert ex.mixture.shape == (1, 4000)


@pytest.mark.parametrize("task,prompts", [
    ("music4", [["drums", "bass", "other", "vocals"]]),
    ("speech_music", [["speech", "musicbg"]]),
    ("speech_sfx", [["speech", "sfx"], ["speech", "sfxbg"]]),
    ("karaoke", [["vocals", "musicbg"]]),
])
def test_heldout_sets(task, prompts):
    a = heldout_set(task, n=2, sample_rate=8000, seconds=1.0, channels=2)
    b = heldout_set(task, n=2, sample_rate=8000, seconds=1.0, channels=2)
    assert [digest(x) for x in a] == [digest(x) for x in b]
    for ex in a:
        assert ex.prompts in prompts and ex.task == task
        assert np.array_equal(ex.targets.sum(axis=0), ex.mixture)
        assert all(np.sqrt(np.mean(t**2)) > 1e-3 for t in ex.targets)  # no dropout in held-out sets
    with pytest.raises(ValueError, match="unknown task"):
        heldout_set("nope")


def _side_to_mid_db(x: np.ndarray) -> float:
    left, right = x[0].astype(np.float64), x[1].astype(np.float64)
    return float(10 * np.log10(np.sum((left - right) ** 2) / np.sum((left + right) ** 2) + 1e-12))


def test_studio_mix_centres_lead_and_bass_and_pans_the_comping_parts():
    plain_s = MixtureSampler(seed=2, sample_rate=16000, seconds=1.0)
    studio_s = MixtureSampler(seed=2, sample_rate=16000, seconds=1.0, studio_mix=1.0)
    for song in range(2):
        a, b = plain_s.song_stems(song), studio_s.song_stems(song)
        for role in ("drums", "bass", "vocals"):  # the same notes and sounds
            np.testing.assert_array_equal(a[role], b[role])
        # "other" renders near mono; in a studio mix each comping part is panned to a side
        assert _side_to_mid_db(a["other"]) < -15.0 and _side_to_mid_db(b["other"]) > _side_to_mid_db(a["other"]) + 5.0
        np.testing.assert_allclose(np.sum(b["other"] ** 2), np.sum(a["other"] ** 2), rtol=1e-3)  # constant power
    plain = heldout_set("music4", n=2, sample_rate=16000, seconds=1.5)
    studio = heldout_set("music4", n=2, sample_rate=16000, seconds=1.5, studio=True)
    for a, b in zip(plain, studio, strict=True):
        assert a.prompts == b.prompts == ["drums", "bass", "other", "vocals"]
        # the same crop, processing and level: drums are placed the same either way ...
        np.testing.assert_array_equal(a.targets[0], b.targets[0])
        # ... and the lead gets a tenth of the balance (reverb, the same either way, stays wide)
        assert _side_to_mid_db(b.targets[3]) < _side_to_mid_db(a.targets[3]) - 3.0
        assert np.array_equal(b.targets.sum(axis=0), b.mixture)
    s = MixtureSampler(seed=1, sample_rate=16000, seconds=1.0, studio_mix=0.5)
    shares = [s.studio(k) for k in range(200)]
    assert 70 < sum(shares) < 130 and shares == [s.studio(k) for k in range(200)]
    assert not any(plain_s.studio(k) for k in range(50))
    with pytest.raises(ValueError, match="studio_mix must be between 0 and 1"):
        MixtureSampler(seed=1, sample_rate=16000, seconds=1.0, studio_mix=2.0)


def test_karaoke_accompaniment_has_no_vocals():
    # the same song's stems rendered apart: musicbg is drums+bass+other, vocals on their own
    ex = heldout_set("karaoke", n=1, sample_rate=8000, seconds=1.0, channels=1)[0]
    voc, acc = ex.targets
    assert abs(np.corrcoef(voc[0], acc[0])[0, 1]) < 0.5


def test_song_stems_sound_like_their_names():
    s = MixtureSampler(seed=0, sample_rate=16000, seconds=2.0)

    def centroid(x):
        mag = np.abs(np.fft.rfft(x.mean(axis=0)))
        return float(np.sum(mag * np.fft.rfftfreq(x.shape[1], 1 / 16000)) / np.sum(mag))

    def peakiness(x):  # loudest 16 ms frame over the median frame: drums are hits, bass is sustained
        m = x.mean(axis=0)
        e = np.sqrt(np.mean(m[: len(m) // 256 * 256].reshape(-1, 256) ** 2, axis=1))
        return float(np.max(e) / (np.median(e) + 1e-9))

    cents = {k: [] for k in ("drums", "bass", "other", "vocals")}
    for song in range(4):
        stems = s.song_stems(song)
        assert set(stems) == set(cents) and all(np.sqrt(np.mean(v**2)) > 1e-2 for v in stems.values())
        for k, v in stems.items():
            cents[k].append(centroid(v))
        assert centroid(stems["bass"]) < centroid(stems["drums"])
        assert peakiness(stems["drums"]) > peakiness(stems["bass"])
    assert np.mean(cents["bass"]) < np.mean(cents["other"]) and np.mean(cents["bass"]) < np.mean(cents["vocals"])


# --- renderer bounds ---------------------------------------------------------------------------

def _font():
    melodic, drums = soundfonts.require()
    return melodic[0].path


def test_stuck_note_is_cut_at_the_requested_length():
    stuck = Part("other", 48, [Note(0.0, 1e9, 60, 100), Note(0.5, 1e9, 64, 100)], channel=1)  # never released
    out = render.render_part(stuck, 0.5, _font(), 8000, seconds=0.75)
    assert out.shape == (2, 6000)
    assert np.max(np.abs(out)) > 1e-3
    later = Part("other", 48, [Note(100.0, 1.0, 60, 100)], channel=1)  # starts after the end: dropped
    assert not np.any(render.render_part(later, 0.5, _font(), 8000, seconds=0.5))


def test_huge_length_request_is_capped():
    part = Part("drums", 0, [Note(0.0, 0.25, 36, 100)], channel=DRUM_CHANNEL)
    out = render.render_part(part, 0.5, _font(), 8000, seconds=1e7, max_seconds=0.25)
    assert out.shape == (2, 2000)


def test_subprocess_caps_on_time_and_bytes():
    with pytest.raises(render.RenderError, match="more than 100000 bytes"):
        render.run_capped(["yes"], timeout=10, max_bytes=100_000)
    with pytest.raises(render.RenderError, match="longer than 0.3 s"):
        render.run_capped(["sleep", "5"], timeout=0.3, max_bytes=100)
    assert render.run_capped(["echo", "hi"], timeout=5, max_bytes=100) == b"hi\n"


def test_speech_is_bounded_and_the_command_fallback_works(monkeypatch):
    long_text = " ".join(speech.sentences()[:40])
    audio, rate = speech.say(long_text, "en", max_seconds=1.0)
    assert 0 < len(audio) <= rate * 1.0
    monkeypatch.setattr(speech, "_engine", lambda: None)  # as on a machine without the wheel
    if speech.backend() != "command":
        pytest.skip("no espeak-ng command")
    audio2, rate2 = speech.say("Hello there, this is a test.", "en", max_seconds=5.0)
    assert rate2 == 22050 and 0.5 * rate2 < len(audio2) <= 5 * rate2


def test_flite_voices_speak_bounded_deterministic_and_varied():
    if not speech.flite_available():
        pytest.skip("no flite command")
    text = " ".join(speech.sentences()[:30])
    a, rate = speech.flite_say(text, "slt", max_seconds=1.5)
    assert rate == speech.FLITE_RATE and 0.5 * rate < len(a) <= 1.5 * rate
    assert float(np.sqrt(np.mean(a**2))) > 0.01
    b, _ = speech.flite_say(text, "slt", max_seconds=1.5)
    np.testing.assert_array_equal(a, b)  # the same call, the same samples
    low, _ = speech.flite_say("Return the number of items in the container.", "awb", f0_mean=100.0)
    high, _ = speech.flite_say("Return the number of items in the container.", "awb", f0_mean=220.0)

    def median_f0(x):  # over the voiced stretches
        hops = range(0, len(x) - 2400, 800)
        return float(np.median([_yin_f0(x[i:], rate) for i in hops if np.sqrt(np.mean(x[i : i + 2048] ** 2)) > 0.05]))

    assert median_f0(high) > 1.5 * median_f0(low)
    with pytest.raises(render.RenderError, match="flite voice 'nobody'"):
        speech.flite_say("Hello there.", "nobody")


def test_flite_share_reads_speech_with_flite_and_zero_keeps_the_old_stream(monkeypatch):
    if not speech.flite_available():
        pytest.skip("no flite command")
    kw = dict(seed=3, sample_rate=RATE, seconds=1.5, channels=1, tasks=["speech_sfx"])
    plain, zero = MixtureSampler(**kw).example(0), MixtureSampler(**kw, flite_speech=0.0).example(0)
    np.testing.assert_array_equal(plain.mixture, zero.mixture)
    read = MixtureSampler(**kw, flite_speech=1.0).example(0)
    k = read.prompts.index("speech")
    assert float(np.abs(read.targets[k]).max()) > 0.01
    assert not np.allclose(read.targets[k], plain.targets[plain.prompts.index("speech")])
    rng = np.random.default_rng(5)
    rates = {speech.random_speech(rng, 1.0, flite_share=1.0)[1] for _ in range(6)}
    assert all(0.89 * speech.FLITE_RATE <= r <= 1.11 * speech.FLITE_RATE for r in rates) and len(rates) == 6
    monkeypatch.setenv("PATH", "/nonexistent")  # a machine without flite
    with pytest.raises(ValueError, match="needs the flite command"):
        MixtureSampler(**kw, flite_speech=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        MixtureSampler(**kw, flite_speech=1.5)


def _yin_f0(x: np.ndarray, rate: int, fmin: float = 70.0, fmax: float = 1000.0) -> float:
    """YIN's first dip below 0.15 of the cumulative-mean-normalised difference: the period."""
    w = 2048
    taus = np.arange(1, int(rate / fmin))
    d = np.array([np.sum((x[:w] - x[t : t + w]) ** 2) for t in taus])
    cmnd = d * taus / np.maximum(np.cumsum(d), 1e-12)
    lo = int(rate / fmax)
    for i in range(lo, len(taus) - 1):
        if cmnd[i] < 0.15 and cmnd[i] <= cmnd[i + 1]:
            return rate / taus[i]
    return rate / taus[lo + int(np.argmin(cmnd[lo:]))]


def test_sung_vocals_follow_the_melody():
    from seplive.data import singing

    if speech.engine() is None:
        pytest.skip("espeakng-loader wheel not installed")
    pitches = [50, 57, 64, 69, 72, 76]
    notes = [Note(2.0 * k, 1.5, p, 100) for k, p in enumerate(pitches)]
    errors = []
    for seed in range(4):
        x = singing.sing(Part("vocals", 52, notes, channel=4), 0.5, 22050, 6.5, np.random.default_rng(seed))
        assert x.shape == (2, int(6.5 * 22050))
        for k, pitch in enumerate(pitches):
            seg = x[0, int((k + 0.1) * 22050) : int((k + 0.6) * 22050)]
            loud = np.nonzero(np.abs(seg) > 1e-2)[0]
            if len(loud) == 0 or loud[-1] - loud[0] < 4200:
                continue
            seg = seg[loud[0] : loud[-1]]
            f = _yin_f0(seg[len(seg) // 2 - 2100 :], 22050)
            errors.append(abs(1200 * np.log2(f / (440 * 2 ** ((pitch - 69) / 12)))))
    assert len(errors) >= 16
    # consonants and the odd octave slip aside, the notes are sung in tune (vibrato is +-40 cents)
    assert np.median(errors) < 30 and np.mean(np.array(errors) < 50) > 0.7


def test_gm_sound_effect_programs_render():
    melodic, _ = soundfonts.require()
    font = next(f for f in melodic if set(mixing.sfx.GM_EVENTS) <= f.programs)
    for background in (False, True):
        x = mixing.sfx.gm_effect(np.random.default_rng(4), 16000, 2.0, font.path, background)
        assert x.shape == (32000,) and np.sqrt(np.mean(x**2)) > 1e-3


# --- soundfont search path ---------------------------------------------------------------------

def test_soundfont_from_env_var_and_clear_error_without_any(tmp_path, monkeypatch):
    font = Path(_font())
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "mine.sf2").symlink_to(font)
    (tmp_path / "fonts" / "broken.sf2").write_bytes(b"RIFF not a soundfont")  # skipped, not fatal
    monkeypatch.setattr(soundfonts, "SYSTEM_DIRS", ())
    monkeypatch.setenv(soundfonts.ENV_VAR, str(tmp_path / "fonts"))
    melodic, _ = soundfonts.require()
    assert [f.name for f in melodic] == ["mine"]
    ex = MixtureSampler(seed=1, sample_rate=8000, seconds=0.5, tasks=["music4"]).example(0)
    assert np.any(ex.targets[0])
    monkeypatch.setenv(soundfonts.ENV_VAR, str(tmp_path / "nothing-here"))
    with pytest.raises(SoundfontNotFound, match="SEPLIVE_SOUNDFONTS"):
        MixtureSampler(seed=1)


# --- readers ------------------------------------------------------------------------------------

def _tone(rate, seconds, f, channels=2):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.1 * np.sin(2 * np.pi * f * t)
    return np.stack([x] * channels, axis=1).astype(np.float32)


def test_musdb18_reader(tmp_path):
    for split, names in (("train", ["b_song"]), ("test", ["a_song", "c_song"])):
        for name in names:
            d = tmp_path / split / name
            d.mkdir(parents=True)
            total = 0
            for k, stem in enumerate(("drums", "bass", "other", "vocals")):
                x = _tone(44100, 1.0, 200 * (k + 1))
                sf.write(d / f"{stem}.wav", x, 44100)
                total = total + x
            sf.write(d / "mixture.wav", total, 44100)
    reader = Musdb18(tmp_path, split="test", sample_rate=48000, offset=0.25, seconds=0.5)
    got = list(reader)
    assert [n for n, _, _ in got] == ["a_song", "c_song"] and len(reader) == 2
    name, stems, rate = got[0]
    assert rate == 48000 and sorted(stems) == ["bass", "drums", "other", "vocals"]
    assert all(v.shape == (2, 24000) for v in stems.values())
    # the resampled crop is the same tone: 400 Hz for bass
    spec = np.abs(np.fft.rfft(stems["bass"][0]))
    assert abs(np.argmax(spec) * 48000 / 24000 - 400) <= 2
    mix, _ = reader.mixture("a_song")
    assert np.allclose(mix, sum(stems.values()), atol=2e-3)
    ex = as_example(stems, rate)
    assert np.array_equal(ex.targets.sum(axis=0), ex.mixture)
    with pytest.raises(DataError, match="no such folder"):
        Musdb18(tmp_path, split="valid")
    # training examples from the real stems: crops read on demand, the same contract
    from seplive.data.real import RealSampler

    real = RealSampler(Musdb18(tmp_path, split="train"), seed=1, sample_rate=16000, seconds=0.5)
    a, b = real.example(3), real.example(3)
    assert a.targets.shape == (4, 2, 8000) and a.sample_rate == 16000 and a.task == "real:b_song"
    assert np.array_equal(a.targets.sum(axis=0), a.mixture) and np.array_equal(a.mixture, b.mixture)
    assert all(np.sqrt(np.mean(t**2)) > 1e-3 for t in a.targets)
    # blended with synthetic data: whole blocks go to one sampler, by weight
    from seplive.data import Blend

    synth = MixtureSampler(seed=1, sample_rate=16000, seconds=0.5, tasks=["music4"])
    blend = Blend([synth, real], weights=[1, 3], seed=2, block=2)
    picks = [blend.which(i) for i in range(400)]
    assert all(picks[i] == picks[i ^ 1] for i in range(400)) and 0.6 < np.mean(picks) < 0.9
    i_real, i_synth = picks.index(1), picks.index(0)
    assert blend.example(i_real).task == "real:b_song" and blend.example(i_synth).task == "music4"
    with pytest.raises(ValueError, match="disagree"):
        Blend([synth, MixtureSampler(seed=1, sample_rate=8000, seconds=0.5)])


def test_stems_folder_reader(tmp_path):
    t1 = tmp_path / "track1"
    t1.mkdir()
    sf.write(t1 / "speech.wav", _tone(16000, 1.0, 300, channels=1), 16000)
    sf.write(t1 / "speech_2.wav", _tone(16000, 0.5, 500, channels=1), 16000)
    sf.write(t1 / "accompaniment.flac", _tone(32000, 1.0, 700), 32000)  # alias, other rate, stereo
    sf.write(t1 / "mixture.wav", _tone(16000, 1.0, 900), 16000)  # ignored
    (tmp_path / "not_a_track.txt").write_text("x")
    reader = StemsFolder(tmp_path)
    (name, stems, rate), = list(reader)
    assert name == "track1" and rate == 32000 and sorted(stems) == ["musicbg", "speech"]
    assert stems["speech"].shape == stems["musicbg"].shape == (2, 32000)  # mono spread, upsampled
    # both speech files summed into the speech stem (second one padded)
    assert np.max(np.abs(stems["speech"][:, 1000:15000])) > 0.15 and np.max(np.abs(stems["speech"][:, 18000:])) < 0.11


def test_stems_folder_bad_file_names_it(tmp_path):
    t = tmp_path / "song"
    t.mkdir()
    sf.write(t / "speech.wav", _tone(16000, 0.5, 300), 16000)
    (t / "sfx.wav").write_bytes(b"RIFF this is not audio at all")
    with pytest.raises(DataError) as err:
        list(StemsFolder(tmp_path))
    assert str(t / "sfx.wav") in str(err.value) and "\n" not in str(err.value)
    (t / "sfx.wav").unlink()
    sf.write(t / "guitar.wav", _tone(16000, 0.5, 300), 16000)
    with pytest.raises(DataError, match="'guitar' is not a prompt name"):
        list(StemsFolder(tmp_path))


def test_bad_stems_folder_is_one_line_from_the_command_line(tmp_path):
    t = tmp_path / "song"
    t.mkdir()
    (t / "vocals.wav").write_bytes(b"garbage")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "seplive.data", "check", str(tmp_path)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode != 0
    assert "vocals.wav" in out.stderr and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_export_round_trip_through_stems_folder(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "seplive.data", "export", str(tmp_path), "--n", "2", "--seconds", "0.5",
                          "--rate", "16000", "--seed", "3", "--task", "speech_sfx"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    sampler = MixtureSampler(seed=3, sample_rate=16000, seconds=0.5, tasks=["speech_sfx"])
    got = list(StemsFolder(tmp_path))
    assert [name for name, _, _ in got] == ["3_0000000", "3_0000001"]
    for (_, stems, rate), index in zip(got, (0, 1), strict=True):
        ex = sampler.example(index)
        assert rate == 16000 and sorted(stems) == sorted(ex.prompts)
        for prompt, target in zip(ex.prompts, ex.targets, strict=True):
            assert np.max(np.abs(stems[prompt] - target)) < 1e-6  # 24-bit FLAC


# --- torch -------------------------------------------------------------------------------------

@pytest.mark.parametrize("start,stop,workers,interleave", [(0, 40, 1, 4), (5, 37, 2, 4), (3, 100, 3, 2), (0, 7, 4, 3)])
def test_worker_shards_cover_the_range_once(start, stop, workers, interleave):
    from seplive.data.torch_dataset import MixtureDataset

    class Reuse:
        songs_reuse = 8

    ds = MixtureDataset(Reuse(), start, stop, interleave=interleave)
    per_worker = [list(ds.indices(w, workers)) for w in range(workers)]
    assert sorted(i for idx in per_worker for i in idx) == list(range(start, stop))
    for idx in per_worker:
        songs = [i // 8 for i in idx]
        assert len({i // 8 for i in idx[:interleave * 2]}) == min(interleave, len(set(songs)))  # batches mix songs
        # each song's examples come from one worker only
        assert all(i // 8 not in {j // 8 for j in other} for other in per_worker if other is not idx for i in idx)
    endless = MixtureDataset(Reuse(), 0, None, interleave=2)
    first = list(itertools.islice(endless.indices(0, 1), 6))
    assert first == [0, 8, 1, 9, 2, 10]


def test_torch_dataset_shards_and_pads(one_torch_thread):
    import torch

    from seplive.data.torch_dataset import MixtureDataset

    s = MixtureSampler(seed=2, sample_rate=8000, seconds=0.5, channels=2, songs_reuse=3)
    ds = MixtureDataset(s, start=1, stop=9)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batches = list(loader)
    ids = torch.cat([b["prompt_ids"] for b in batches])
    mixtures = torch.cat([b["mixture"] for b in batches])
    targets = torch.cat([b["targets"] for b in batches])
    assert mixtures.shape == (8, 2, 4000) and targets.shape == (8, 4, 2, 4000) and ids.shape == (8, 4)
    # every index exactly once over both workers, each equal to the sampler's own example
    direct = {digest(s.example(i)): i for i in range(1, 9)}
    found = set()
    for m, p, t in zip(mixtures, ids, targets, strict=True):
        n = int((p >= 0).sum())
        assert torch.all(p[n:] == -1) and not torch.any(t[n:])
        ex = Example(m.numpy(), [PROMPTS[int(k)] for k in p[:n]], t[:n].numpy(), 8000)
        found.add(direct[digest(ex)])
    assert found == set(range(1, 9))


# --- production switches (seplive.data.produce) ------------------------------------------------

def _pedalboard():
    if not produce.available():
        pytest.skip("no pedalboard (the 'data' extra)")


def test_production_switches_at_zero_keep_every_example():
    kw = dict(seed=4, sample_rate=16000, seconds=1.0, tasks=["music4", "karaoke", "speech_music"], songs_reuse=2)
    plain = MixtureSampler(**kw)
    zero = MixtureSampler(**kw, produced_mix=0.0, loud_master=0.0, spoken_vocals=0.0)
    for i in range(4):
        a, b = plain.example(i), zero.example(i)
        assert a.prompts == b.prompts
        np.testing.assert_array_equal(a.targets, b.targets)
    # at a share, the songs and examples not drawn are as they were too
    half = MixtureSampler(**kw, produced_mix=0.5, spoken_vocals=0.5, loud_master=0.5) if produce.available() else None
    if half is not None:
        songs = [k for k in range(6) if not half.produced(k) and not half.spoken(k)]
        assert songs
        for k in songs[:2]:
            for role, v in plain.song_stems(k).items():
                np.testing.assert_array_equal(v, half.song_stems(k)[role])
    for name in ("produced_mix", "loud_master", "spoken_vocals"):
        with pytest.raises(ValueError, match=f"{name} must be between 0 and 1"):
            MixtureSampler(**kw, **{name: 1.5})


def test_produced_mix_processes_stems_keeps_their_levels_and_the_sum():
    _pedalboard()
    kw = dict(seed=5, sample_rate=16000, seconds=1.5, tasks=["music4"], songs_reuse=1)
    plain, made = MixtureSampler(**kw), MixtureSampler(**kw, produced_mix=1.0)
    again = MixtureSampler(**kw, produced_mix=1.0)
    for song in range(2):
        a, b = plain.song_stems(song), made.song_stems(song)
        for role in ("drums", "bass", "vocals"):  # a mix chain, at the stem's own level
            assert not np.allclose(a[role], b[role])
            np.testing.assert_allclose(augment.rms(b[role]), augment.rms(a[role]), rtol=1e-3)
        for role, v in b.items():
            assert np.all(np.isfinite(v)) and np.max(np.abs(v)) < 4.0
            np.testing.assert_array_equal(v, again.song_stems(song)[role])  # deterministic
    for i in range(2):
        ex = made.example(i)
        assert np.array_equal(ex.targets.sum(axis=0), ex.mixture) and np.max(np.abs(ex.mixture)) <= 0.98 + 1e-6
        np.testing.assert_array_equal(ex.targets, again.example(i).targets)


def test_amp_distorts_a_clean_tone():
    _pedalboard()
    rate = 16000
    t = np.arange(rate) / rate
    tone = np.stack([0.1 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    out = produce.amp(np.random.default_rng(0), tone, rate)
    spec = np.abs(np.fft.rfft(out[0]))
    fundamental = spec[215:225].max()
    harmonics = spec[430:4000].max()  # a clean sine has none
    assert harmonics > 0.05 * fundamental
    np.testing.assert_allclose(augment.rms(out), augment.rms(tone), rtol=1e-3)


def test_loud_master_is_one_gain_on_every_target():
    kw = dict(seed=6, sample_rate=16000, seconds=1.5, tasks=["music4", "speech_sfx"], songs_reuse=1)
    plain, loud = MixtureSampler(**kw), MixtureSampler(**kw, loud_master=1.0)
    for i in range(3):
        a, b = plain.example(i), loud.example(i)
        assert np.array_equal(b.targets.sum(axis=0), b.mixture) and np.max(np.abs(b.mixture)) <= 0.98 + 1e-6
        np.testing.assert_array_equal(b.targets, loud.example(i).targets)
        big = np.abs(a.targets) > 1e-3
        ratio = np.where(big, b.targets / np.where(big, a.targets, 1.0), np.nan)  # the gain, per target
        with warnings.catch_warnings():  # samples where every target is near silent have no ratio
            warnings.simplefilter("ignore", RuntimeWarning)
            common = np.nanmedian(ratio, axis=(0, 1))  # one gain per sample
        ok = ~np.isnan(common)
        np.testing.assert_allclose(ratio[:, :, ok][big[:, :, ok]],
                                   np.broadcast_to(common[ok], ratio[:, :, ok].shape)[big[:, :, ok]], rtol=1e-3)

        def crest(x):
            return float(np.max(np.abs(x)) / (augment.rms(x) + 1e-12))

        assert crest(b.mixture) < crest(a.mixture)  # limited: louder against its peaks
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((2, 16000)).astype(np.float32) * 0.1
    g = produce.limiter_gain(np.random.default_rng(1), mix, 16000)
    assert g.shape == (16000,) and np.all(g > 0) and np.max(np.abs(mix * g)) <= 1.0 + 1e-6


def test_spoken_vocals_put_a_centred_voice_in_the_song():
    kw = dict(seed=7, sample_rate=16000, seconds=1.5, tasks=["karaoke"], songs_reuse=1)
    plain, spoken = MixtureSampler(**kw), MixtureSampler(**kw, spoken_vocals=1.0)
    for song in range(2):
        a, b = plain.song_stems(song), spoken.song_stems(song)
        for role in ("drums", "bass", "other"):  # the band is the same
            np.testing.assert_array_equal(a[role], b[role])
        v = b["vocals"]
        np.testing.assert_array_equal(v[0], v[1])  # dead centre
        assert 0.05 < augment.rms(v) < 0.2 and not np.allclose(v, a["vocals"])
        np.testing.assert_array_equal(v, MixtureSampler(**kw, spoken_vocals=1.0).song_stems(song)["vocals"])
    ex = spoken.example(0)
    assert np.array_equal(ex.targets.sum(axis=0), ex.mixture) and augment.rms(ex.targets[0]) > 1e-3


def test_recorded_voices_and_effects_are_installed_and_not_music_or_robots():
    from seplive.data import clips

    assert clips.available(), "scripts/setup.sh installs hedgewars-data, tuxpaint-data, frozen-bubble-data, pingus-data"
    packs = clips.voice_packs()
    assert len(packs) >= 10 and "Robot" not in packs and all(len(f) >= 10 for f in packs.values())
    names = {p.stem for p in clips.effect_files()}
    assert len(names) >= 100 and not names & {"ride_of_the_valkyries", "introzik", "1C", "youcannot", "letsgo"}


def test_recorded_speech_and_effects_are_bounded_deterministic_and_varied():
    from seplive.data import clips

    rate = 16000
    said = [clips.recorded_speech(np.random.default_rng(s), 2.0, rate) for s in range(6)]
    for x in said:
        assert x.dtype == np.float32 and x.shape == (2 * rate,) and np.isfinite(x).all()
        assert 0.01 < augment.rms(x) < 0.5 and np.abs(x).max() <= 1.0
    np.testing.assert_array_equal(said[0], clips.recorded_speech(np.random.default_rng(0), 2.0, rate))
    assert not np.array_equal(said[0], said[1])
    fx = clips.recorded_effects(np.random.default_rng(3), rate, 1.5)
    assert fx.shape == (int(1.5 * rate),) and augment.rms(fx) > 1e-3
    np.testing.assert_array_equal(fx, clips.recorded_effects(np.random.default_rng(3), rate, 1.5))


def test_recorded_shares_replace_speech_effects_and_leads_and_zero_keeps_every_example():
    kw = dict(seed=5, sample_rate=16000, seconds=1.0, tasks=["speech_sfx", "karaoke"], songs_reuse=1)
    plain = MixtureSampler(**kw)
    zero = MixtureSampler(**kw, recorded_speech=0.0, recorded_sfx=0.0)
    full = MixtureSampler(**kw, recorded_speech=1.0, recorded_sfx=1.0, spoken_vocals=1.0)
    changed = 0
    for i in range(4):
        a, b, c = plain.example(i), zero.example(i), full.example(i)
        assert a.prompts == b.prompts == c.prompts
        np.testing.assert_array_equal(a.targets, b.targets)
        assert np.array_equal(c.targets.sum(axis=0), c.mixture)
        changed += not np.allclose(a.targets[0], c.targets[0])
    assert changed == 4  # every speech and every lead is another voice
    lead = full.song_stems(0)["vocals"]
    np.testing.assert_array_equal(lead[0], lead[1])  # a recorded lead sits dead centre too
    for name in ("recorded_speech", "recorded_sfx"):
        with pytest.raises(ValueError, match=f"{name} must be between 0 and 1"):
            MixtureSampler(**kw, **{name: 1.5})


def test_klettres_readers_are_installed_and_the_noisy_ones_left_out():
    from seplive.data import clips

    assert clips.letters_available(), "scripts/setup.sh installs klettres-data"
    packs = clips.letter_packs()
    assert len(packs) >= 25 and all(len(f) >= 10 for f in packs.values())
    assert {"en/alpha", "fr/syllab", "ru/alpha"} <= set(packs) and not set(packs) & set(clips.NOISY_READERS)
    assert clips.LETTER_ROOT in clips.roots()  # so the panel's held-out check sees it


def test_letter_voices_draw_klettres_readers_and_zero_keeps_every_example():
    kw = dict(seed=5, sample_rate=16000, seconds=1.0, tasks=["speech_sfx"], songs_reuse=1, recorded_speech=1.0)
    plain, zero = MixtureSampler(**kw), MixtureSampler(**kw, letter_voices=0.0)
    letters = MixtureSampler(**kw, letter_voices=1.0)
    changed = 0
    for i in range(4):
        a, b, c = plain.example(i), zero.example(i), letters.example(i)
        np.testing.assert_array_equal(a.targets, b.targets)
        assert np.array_equal(c.targets.sum(axis=0), c.mixture) and augment.rms(c.targets[0]) > 1e-4
        changed += not np.allclose(a.targets[0], c.targets[0])
    assert changed == 4
    from seplive.data import clips

    rng = np.random.default_rng(2)
    said = clips.recorded_speech(rng, 2.0, 16000, letters=1.0)
    assert said.shape == (32000,) and np.isfinite(said).all() and augment.rms(said) > 1e-3
    with pytest.raises(ValueError, match="letter_voices must be between 0 and 1"):
        MixtureSampler(**kw, letter_voices=2.0)


def test_hydrogen_kits_are_read_and_their_pieces_named():
    from seplive.data import kits

    assert kits.available(), "scripts/setup.sh installs hydrogen-drumkits"
    found = kits.kits()
    assert len(found) >= 8
    for k in found:
        assert {"kick", "snare", "hat_closed"} <= set(k.pieces), k.name
        assert all(la.path.is_file() for inst in k.pieces["kick"] for la in inst)
    assert not [k for k in found if "Afrique" in k.name or "Gimme" in k.name]  # no kick/snare/hat: left out
    names = {"Kick Lite 1": "kick", "c3 - bass drum 1": "kick", "Pearl Side Stick": "stick", "Snare Roll": None,
             "Sabian Hat Pedal": "hat_pedal", "Hi Hat Opened": "hat_open", "Closed HH 2": "hat_closed",
             "Sabian Hat Choke": None, "Pearl Tom Floor": "tom_low", "Tom Hi": "tom_high", "Paiste Bell": None,
             "Ride Bell": "ride_bell", "ride-cup": "ride_bell", "Zildjian Splash": "crash", "Hand Clap": "clap",
             "Djembe1 Slap": None}
    assert {n: kits.piece_of(n) for n in names} == names


def test_kit_drums_land_on_their_notes_and_velocity_picks_the_layer():
    from seplive.data import kits
    from seplive.data.midi import Note

    rate = 16000
    kit = next(k for k in kits.kits() if len(k.pieces["kick"][0]) >= 4)  # a multi-layered kick
    one = kits.render_drums([Note(2.0, 0.25, 36, 120)], 0.5, rate, 2.0, kit, np.random.default_rng(0))
    assert one.shape == (2, 2 * rate) and np.abs(one[:, :rate]).max() == 0  # nothing before beat 2 (1.0 s)
    assert np.abs(one[:, rate : rate + 80]).max() > 0.01  # the hit starts on it
    soft = kits.render_drums([Note(0.0, 0.25, 36, 15)], 0.5, rate, 1.0, kit, np.random.default_rng(0))
    loud = kits.render_drums([Note(0.0, 0.25, 36, 127)], 0.5, rate, 1.0, kit, np.random.default_rng(0))
    assert augment.rms(soft) < 0.3 * augment.rms(loud)
    ratio = loud / np.where(np.abs(soft) > 1e-4, soft, np.nan)
    assert np.nanstd(ratio) > 0.1  # not the same recording scaled: another layer


def test_real_kits_replace_only_the_drums_and_zero_keeps_every_song():
    kw = dict(seed=6, sample_rate=16000, seconds=1.0, tasks=["music4"], songs_reuse=1)
    plain, zero, kit = MixtureSampler(**kw), MixtureSampler(**kw, real_kits=0.0), MixtureSampler(**kw, real_kits=1.0)
    for song in range(2):
        a, b, c = plain.song_stems(song), zero.song_stems(song), kit.song_stems(song)
        for role in a:
            np.testing.assert_array_equal(a[role], b[role])
        for role in ("bass", "other", "vocals"):
            np.testing.assert_array_equal(a[role], c[role])
        assert kit.real_kit(song) is not None and augment.rms(c["drums"]) > 0.01 and not np.allclose(a["drums"], c["drums"])
    with pytest.raises(ValueError, match="real_kits must be between 0 and 1"):
        MixtureSampler(**kw, real_kits=-0.5)


def test_sparse_bands_leave_parts_out_and_zero_keeps_every_example():
    kw = dict(seed=8, sample_rate=16000, seconds=1.0, tasks=["music4"], songs_reuse=1)
    plain, zero, sparse = MixtureSampler(**kw), MixtureSampler(**kw, sparse_bands=0.0), MixtureSampler(**kw, sparse_bands=1.0)
    left_out = 0
    for i in range(6):
        a, b, c = plain.example(i), zero.example(i), sparse.example(i)
        np.testing.assert_array_equal(a.mixture, b.mixture)
        np.testing.assert_array_equal(a.targets, b.targets)
        silent = [augment.rms(t) == 0.0 for t in c.targets]
        assert not all(silent)
        left_out += sum(silent)
        np.testing.assert_allclose(c.mixture, c.targets.sum(axis=0), atol=1e-6)  # the mix is what plays
    assert left_out >= 6  # about half of 24 parts
    share = [mixing.sparse_parts(np.random.default_rng(k), 0.3) for k in range(400)]
    assert 0.2 < sum(not all(s) for s in share) / 400 < 0.35  # a share of examples is sparse...
    assert all(any(s) for s in share)  # ... and one part always plays
    with pytest.raises(ValueError, match="sparse_bands must be between 0 and 1"):
        MixtureSampler(**kw, sparse_bands=2.0)


def _low_share(x: np.ndarray, rate: int, below_hz: float = 180.0) -> float:
    """The share of ``x``'s energy below ``below_hz``."""
    power = np.abs(np.fft.rfft(x.sum(axis=0))) ** 2
    return float(power[np.fft.rfftfreq(x.shape[-1], 1 / rate) < below_hz].sum() / power.sum())


def test_two_hands_add_low_notes_to_keyboards_only_and_zero_keeps_every_song():
    from seplive.data import midi

    song = midi.compose(np.random.default_rng(3), 8.0)
    part = midi.Part("other", 0, [])
    notes = midi.left_hand(np.random.default_rng(4), song, part)
    assert notes and all(31 <= n.pitch <= 54 for n in notes)
    assert {int(n.start // song.beats_per_bar) for n in notes} == set(range(song.bars))  # a note every bar
    kw = dict(seed=5, sample_rate=16000, seconds=1.0, tasks=["music4"], songs_reuse=1)
    plain, zero, hands = MixtureSampler(**kw), MixtureSampler(**kw, two_hands=0.0), MixtureSampler(**kw, two_hands=1.0)
    grew = 0
    for k in range(2):  # seed 5's first two songs each have a piano, organ or string part
        a, b, c = plain.song_stems(k), zero.song_stems(k), hands.song_stems(k)
        for role in a:
            np.testing.assert_array_equal(a[role], b[role])
        for role in ("drums", "bass", "vocals"):
            np.testing.assert_array_equal(a[role], c[role])
        grew += _low_share(c["other"], 16000) > 1.3 * _low_share(a["other"], 16000)
    assert grew == 2
    with pytest.raises(ValueError, match="two_hands must be between 0 and 1"):
        MixtureSampler(**kw, two_hands=1.5)


def test_a_packed_copy_of_a_kit_reads_like_the_original(tmp_path, monkeypatch):
    """scripts/pack_recordings.py's copy (Ogg hits, renamed in drumkit.xml), found through
    SEPLIVE_PACKAGES as on a machine without apt."""
    import importlib.util

    from seplive.data import kits
    from seplive.data.packaged import packaged

    spec = importlib.util.spec_from_file_location("pack", Path(__file__).parents[2] / "scripts" / "pack_recordings.py")
    pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack)
    kit = next(k for k in kits.kits() if k.name == "VariBreaks")
    paths = sorted({la.path for insts in kit.pieces.values() for inst in insts for la in inst})
    renamed = {p.name: pack._copy_or_encode(tmp_path, p, 0.4).name for p in paths}
    folder = paths[0].parent
    xml = pack._rename((folder / "drumkit.xml").read_text(encoding="utf-8"), renamed)
    pack._place(tmp_path, folder / "drumkit.xml").write_text(xml, encoding="utf-8")
    monkeypatch.setenv("SEPLIVE_PACKAGES", str(tmp_path))
    copy = kits.read_kit(packaged(str(folder / "drumkit.xml")))
    assert copy is not None and set(copy.pieces) == set(kit.pieces)
    hits = [la.path for insts in copy.pieces.values() for inst in insts for la in inst]
    assert all(p.suffix == ".ogg" and p.is_file() and tmp_path in p.parents for p in hits)
    monkeypatch.delenv("SEPLIVE_PACKAGES")
    assert packaged("/usr/share/x") == Path("/usr/share/x")
