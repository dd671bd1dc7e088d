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


#: (file name, model, prompts, mute, what it is, the true stems it should be)
DEMO_MIXES = (
    ("karaoke.wav", "center", [], ["vocals"], "vocals muted (centre/side separation)", ("drums", "music")),
    ("acapella.wav", "center", ["vocals"], [], "vocals only", ("vocals",)),
    ("drums-only.wav", "hpss", ["drums"], [], "percussive part only (harmonic/percussive)", ("drums",)),
    ("drumless.wav", "hpss", [], ["drums"], "percussion removed", ("vocals", "music")),
)


def snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-error ratio of ``estimate`` against ``reference``, in dB."""
    err = np.sum((estimate - reference) ** 2)
    return float(10 * np.log10(np.sum(reference**2) / max(err, 1e-20)))


def run_demo(out_dir: str | Path, quiet: bool = False) -> dict:
    """Write the song, run every demo mix through the live engine, return a summary."""
    from .session import Session, SessionConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = make_song()
    mix = sum(stems.values())
    mix_path = out / "mix.wav"
    sf.write(mix_path, mix, RATE, subtype="FLOAT")
    for name, x in stems.items():
        sf.write(out / f"true_{name}.wav", x, RATE, subtype="FLOAT")
    results = []
    for fname, model, prompts, mute, what, truth in DEMO_MIXES:
        report_path = out / (Path(fname).stem + ".json")
        cfg = SessionConfig(input=str(mix_path), output=str(out / fname), model=model, prompts=prompts, mute=mute,
                            report=str(report_path), align=True)
        rep = Session(cfg).run()
        reference = sum(stems[t] for t in truth)
        estimate, _ = sf.read(out / fname, dtype="float32", always_2d=True)
        results.append({"file": str(out / fname), "what": what, "model": model, "latency_ms": rep["latency_ms"],
                        "rtf": rep["rtf"], "compute_ms_p99": rep["compute_ms_p99"], "hop_ms": rep["hop_ms"],
                        "snr_db": snr_db(estimate, reference), "snr_of_mix_db": snr_db(mix, reference)})
    summary = {"mix": str(mix_path), "results": results}
    (out / "demo.json").write_text(json.dumps(summary, indent=2) + "\n")
    if not quiet:
        print(f"seplive demo: a synthetic song, {mix_path}, through the live engine:")
        for r in results:
            print(f"  {r['file']:<40} {r['what']}  [{r['model']}, latency {r['latency_ms']:.1f} ms,"
                  f" compute p99 {r['compute_ms_p99']:.2f} ms per {r['hop_ms']:.1f} ms hop, rtf {r['rtf']:.3f};"
                  f" SNR vs the true stems {r['snr_db']:.1f} dB, the mix itself {r['snr_of_mix_db']:.1f} dB]")
        print("Next: seplive -i YOUR_SONG.wav -o karaoke.wav --mute vocals   (any wav/flac/ogg)")
    return summary
