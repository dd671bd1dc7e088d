"""``seplive demo``: a short synthetic song through the live engine, no sound card needed.

The song is made here, deterministically: a sung-like lead (harmonic tone with vibrato and
vowel formants) panned to the centre, a chord pad and a plucked arpeggio panned left and
right, a kick in the centre and hi-hats to the side.  It is then played through the same
engine a live session uses, with a few mixes, and each result is written next to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

RATE = 48000


def _formant(x: np.ndarray, freqs: tuple[float, ...], rate: int) -> np.ndarray:
    out = np.zeros_like(x)
    for f in freqs:
        r = np.exp(-np.pi * 120.0 / rate)
        a = [1.0, -2 * r * np.cos(2 * np.pi * f / rate), r * r]
        out += lfilter([1 - r], a, x)
    return out


def make_song(seconds: float = 8.0, rate: int = RATE, seed: int = 7) -> dict[str, np.ndarray]:
    """Stems of a short stereo song: ``{"vocals", "drums", "music"}`` each (frames, 2)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    beat = 0.5  # 120 bpm
    # lead: a melody, one note per beat, with vibrato and two vowel formants
    scale = [220.0, 246.9, 277.2, 293.7, 329.6, 370.0, 415.3, 440.0]
    notes = rng.choice(scale, size=int(seconds / beat) + 1)
    f0 = notes[(t / beat).astype(int)] * (1 + 0.006 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    src = sum(np.sin(k * phase) / k for k in range(1, 25))
    env = np.clip(np.sin(np.pi * ((t / beat) % 1.0)) * 1.5, 0, 1)
    vowel = _formant(src * env, (700.0, 1200.0, 2600.0), rate)
    vocals = 0.25 * vowel / (np.abs(vowel).max() + 1e-9)
    # pad chords (left) and a plucked arpeggio (right)
    chords = [(110.0, 164.8, 220.0), (98.0, 146.8, 196.0), (130.8, 196.0, 261.6), (87.3, 130.8, 174.6)]
    bar = (t / (4 * beat)).astype(int) % len(chords)
    pad = np.zeros(n)
    for i in range(3):
        fr = np.array([c[i] for c in chords])[bar]
        pad += np.sign(np.sin(2 * np.pi * np.cumsum(fr * 2) / rate)) * 0.3 + np.sin(2 * np.pi * np.cumsum(fr) / rate)
    pad = lfilter([0.05], [1, -0.95], pad)
    pluck = np.zeros(n)
    step = int(beat * rate / 2)
    for k, start in enumerate(range(0, n - step, step)):
        f = chords[(start // (4 * int(beat * rate))) % len(chords)][k % 3] * 4
        seg = np.arange(step) / rate
        pluck[start : start + step] += np.sin(2 * np.pi * f * seg) * np.exp(-seg * 9)
    music = np.stack([0.12 * pad / np.abs(pad).max() + 0.03 * pluck, 0.03 * pad / np.abs(pad).max() + 0.15 * pluck], 1)
    # drums: kick on every beat (centre), hats on off-beats (slightly right)
    drums = np.zeros((n, 2))
    kick_len = int(0.25 * rate)
    kt = np.arange(kick_len) / rate
    kick = np.sin(2 * np.pi * (50 * kt + 60 * (1 - np.exp(-kt * 30)) / 30)) * np.exp(-kt * 12)
    hat_len = int(0.05 * rate)
    for b in range(int(seconds / beat)):
        s = int(b * beat * rate)
        drums[s : s + kick_len] += 0.5 * kick[: n - s, None]
        h = s + int(beat * rate / 2)
        if h + hat_len < n:
            hat = np.diff(rng.standard_normal(hat_len + 1)) * np.exp(-np.arange(hat_len) / (0.008 * rate)) * 0.06
            drums[h : h + hat_len] += np.stack([0.4 * hat, hat], 1)
    return {
        "vocals": np.stack([vocals, vocals], 1).astype(np.float32),
        "drums": drums.astype(np.float32),
        "music": music.astype(np.float32),
    }


#: (preset, what it is, the true stems the result should be)
DEMO_PRESETS = (
    ("karaoke", "vocals muted", ("drums", "music", "speech")),
    ("acapella", "vocals only", ("vocals",)),
    ("drums-only", "drums only", ("drums",)),
    ("drumless", "drums muted", ("vocals", "music", "speech")),
    ("dialogue", "speech only", ("speech",)),
)

#: what the speaker says over the song's second half
SPEECH_TEXT = "This is seplive. It separates sound while it plays, and remixes it live."


def make_speech(rate: int = RATE, text: str = SPEECH_TEXT) -> np.ndarray | None:
    """Speech from espeak-ng (the Debian command), or None where it is not installed."""
    import shutil
    import subprocess
    import tempfile

    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        try:
            subprocess.run([exe, "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True,
                           capture_output=True, timeout=30)
            x, r = sf.read(wav, dtype="float32", always_2d=True)
        except (OSError, subprocess.SubprocessError, RuntimeError):
            return None
    import soxr

    x = soxr.resample(x[:, 0], r, rate) if r != rate else x[:, 0]
    return (0.3 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def demo_stems(seconds: float = 8.0, rate: int = RATE) -> dict[str, np.ndarray]:
    """The song's stems plus, where espeak-ng is installed, a voice over its second half
    (slightly left of centre, as a streamer's microphone over music)."""
    stems = make_song(seconds, rate)
    speech = make_speech(rate)
    if speech is not None:
        n = len(stems["vocals"])
        start = n // 2
        seg = speech[: n - start]
        voice = np.zeros((n, 2), np.float32)
        voice[start : start + len(seg)] = np.stack([0.8 * seg, 0.5 * seg], 1)
        stems["speech"] = voice
    return stems


def snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-error ratio of ``estimate`` against ``reference``, in dB."""
    err = np.sum((estimate - reference) ** 2)
    return float(10 * np.log10(np.sum(reference**2) / max(err, 1e-20)))


def _model_for(prompts: list[str]) -> str | None:
    """The default model when it has these prompts, else the first DSP model that does."""
    from .models import registry
    from .presets import DEFAULTS

    for name in (DEFAULTS["model"], "center", "hpss"):
        try:
            if set(prompts) <= set(registry.factory(name).prompts):
                return name
        except Exception:  # noqa: S112 - a model that cannot load is not a choice
            continue
    return None


def run_demo(out_dir: str | Path, quiet: bool = False) -> dict:
    """Write the mixture, run presets through the live engine, write the results, the
    stems of the first preset and a before/after spectrogram; return a summary (latency in
    ms, SNR in dB against the true stems)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = demo_stems()
    mix = sum(stems.values())
    mix_path = out / "mix.wav"
    sf.write(mix_path, mix, RATE, subtype="FLOAT")
    for name, x in stems.items():
        sf.write(out / f"true_{name}.wav", x, RATE, subtype="FLOAT")
    results, skipped = [], []
    for preset, what, truth in DEMO_PRESETS:
        row = _run_preset(out, mix_path, stems, preset, what, truth, first=not results)
        if row is None:
            skipped.append(preset)
        else:
            results.append(row)
    image, image_note = _picture(out, mix)
    summary = {"mix": str(mix_path), "image": str(image) if image else None, "stems": str(out / "stems"), "results": results,
               "skipped_presets": skipped, "speech": "speech" in stems}
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not quiet:
        _print_summary(out, summary, image_note)
    return summary


def _run_preset(out: Path, mix_path: Path, stems: dict[str, np.ndarray], preset: str, what: str,
                truth: tuple[str, ...], first: bool) -> dict | None:
    """One preset through a Session with the first DSP model that has its stems (None:
    none has); its result row.  The first preset run also writes its stems."""
    from .presets import load_preset
    from .session import Session, SessionConfig

    truth = tuple(t for t in truth if t in stems)
    settings = load_preset(preset)
    prompts, mute = settings.get("prompts", []), settings.get("mute", [])
    model = _model_for([p for p in [*prompts, *mute] if p != "rest"])
    if model is None or not truth:
        return None
    fname = f"{preset}.wav"
    stems_dir = out / "stems" if first else None
    cfg = SessionConfig(input=str(mix_path), output=str(out / fname), model=model, prompts=prompts, mute=mute,
                        gains_db=settings.get("gain", {}), report=str(out / f"{preset}.json"), align=True,
                        preset=preset, stems_out=f"{stems_dir}/" if stems_dir else None)
    rep = Session(cfg).run()
    reference = sum(stems[t] for t in truth)
    estimate, _ = sf.read(out / fname, dtype="float32", always_2d=True)
    mix = sum(stems.values())
    return {"preset": preset, "file": str(out / fname), "what": what, "model": model,
            "latency_ms": rep["latency_ms"], "rtf": rep["rtf"], "compute_ms_p99": rep["compute_ms_p99"],
            "hop_ms": rep["hop_ms"], "snr_db": snr_db(estimate, reference), "snr_of_mix_db": snr_db(mix, reference)}


def _picture(out: Path, mix: np.ndarray) -> tuple[Path | None, str]:
    """The before/after spectrogram (the mix over karaoke); (None, why) without matplotlib."""
    from .spectrogram import before_after_png

    karaoke, _ = sf.read(out / "karaoke.wav", dtype="float32", always_2d=True)
    image = out / "before-after.png"
    try:
        before_after_png(image, [mix, karaoke], RATE,
                         titles=["the song as it plays (mixture)", "through seplive with the karaoke preset (vocals muted)"])
    except ImportError as exc:  # matplotlib is the plot extra
        return None, str(exc)
    return image, ""


def _print_summary(out: Path, summary: dict, image_note: str) -> None:
    results, skipped, image = summary["results"], summary["skipped_presets"], summary["image"]
    print(f"seplive demo: a synthetic song{' with a voice over it' if summary['speech'] else ''}, {summary['mix']},"
          " through the live engine with these presets:")
    for r in results:
        print(f"  {r['preset']:<11} {r['file']}  {r['what']} [{r['model']}, latency {r['latency_ms']:.1f} ms,"
              f" rtf {r['rtf']:.3f}; SNR against the true stems {r['snr_db']:.1f} dB, the mix itself"
              f" {r['snr_of_mix_db']:.1f} dB]")
    if skipped:
        print(f"  (not run: {', '.join(skipped)}: no installed model without weights has those stems)")
    print(f"  stems of {results[0]['preset']} one file each: {out / 'stems'}/")
    print(f"  spectrogram, the mix above, karaoke below: {image}" if image else f"  (no picture: {image_note})")
    print("Next:")
    print("  seplive --input loopback --preset karaoke        what the computer plays, vocals muted")
    print("  seplive -i YOUR_SONG.flac -o out.wav --preset acapella   any wav/flac/ogg file")
    print("  seplive presets                                  all presets; seplive models: the models")
    print("  seplive -i loopback -p vocals --midi nanokontrol2   MIDI knobs on the stems (seplive learn: your own)")
    print("  seplive -i loopback -p vocals --osc 9000         OSC: /seplive/stem/vocals/gain_db -6")
