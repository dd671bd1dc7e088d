"""Generation speed of seplive.data: each renderer alone, then whole examples.

Prints "x real time" per renderer and hours of examples per hour of wall time (one process,
then a torch DataLoader with worker processes).  Usage:
    PYTHONPATH=. python bench/bench_data.py [--seconds 4] [--examples 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

CPU = {}


def timed(fn, repeats: int):
    """Wall seconds per call; CPU seconds per call of this process go to CPU['last'] (the machine
    is shared, so wall time alone says as much about the neighbours as about this code)."""
    c = time.process_time()
    t = time.perf_counter()
    for i in range(repeats):
        fn(i)
    CPU["last"] = (time.process_time() - c) / repeats
    return (time.perf_counter() - t) / repeats


def yin_f0(x: np.ndarray, rate: int, fmin: float = 70.0, fmax: float = 1000.0) -> float:
    """YIN: the first dip below 0.15 of the cumulative-mean-normalised difference."""
    w = 2048
    taus = np.arange(1, int(rate / fmin))
    d = np.array([np.sum((x[:w] - x[t : t + w]) ** 2) for t in taus])
    cmnd = d * taus / np.maximum(np.cumsum(d), 1e-12)
    lo = int(rate / fmax)
    for i in range(lo, len(taus) - 1):
        if cmnd[i] < 0.15 and cmnd[i] <= cmnd[i + 1]:
            return rate / taus[i]
    return rate / taus[lo + int(np.argmin(cmnd[lo:]))]


def singing_pitch(seeds: int = 20) -> None:
    """Sung-note pitch error: 10 notes C3..E5 of 0.75 s, ``seeds`` random voices, YIN mid-note."""
    from seplive.data import singing
    from seplive.data.midi import Note, Part

    pitches = [48, 50, 55, 57, 60, 64, 67, 69, 72, 76]
    notes = [Note(2.0 * k, 1.5, p, 100) for k, p in enumerate(pitches)]
    errors = []
    for seed in range(seeds):
        x = singing.sing(Part("vocals", 52, notes, channel=4), 0.5, 22050, 10.5, np.random.default_rng(seed))
        if x is None:
            print("sung vocals: no in-process espeak-ng")
            return
        for k, pitch in enumerate(pitches):
            seg = x[0, int((k + 0.1) * 22050) : int((k + 0.7) * 22050)]
            loud = np.nonzero(np.abs(seg) > 1e-2)[0]
            if len(loud) == 0 or loud[-1] - loud[0] < 4200:
                continue
            seg = seg[loud[0] : loud[-1]]
            f = yin_f0(seg[len(seg) // 2 - 2100 :], 22050)
            errors.append(1200 * np.log2(f / (440 * 2 ** ((pitch - 69) / 12))))
    a = np.abs(np.array(errors))
    print(f"sung pitch error over {len(a)} notes: median {np.median(a):.1f} cents, {np.mean(a < 25):.0%} within 25, "
          f"{np.mean(a < 50):.0%} within 50, {int(np.sum(np.abs(a - 1200) < 100))} octave slips")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0, help="example length")
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pitch", action="store_true", help="only measure the sung vocals' pitch accuracy")
    args = ap.parse_args()
    if args.pitch:
        singing_pitch()
        return

    import torch

    torch.set_num_threads(1)
    from seplive.data import MixtureSampler, midi, sfx, singing, speech
    from seplive.data.render import render_part
    from seplive.data.soundfonts import require
    from seplive.data.torch_dataset import MixtureDataset

    rate = args.rate
    melodic, drums = require()
    print(f"soundfonts: {', '.join(f.name for f in melodic)} | drum kits from: {', '.join(f.name for f in drums)}")
    print(f"speech backend: {speech.backend()}, cpu count {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    speech.sentences()

    songs = [midi.compose(np.random.default_rng(i), 10.0) for i in range(6)]
    secs = sum(s.seconds for s in songs)

    def render_song(i):
        s = songs[i]
        for p in s.parts:
            if p.role == "drums":
                render_part(p, s.seconds_per_beat, drums[0].path, rate, s.seconds, *drums[0].kits[0])
            else:
                render_part(p, s.seconds_per_beat, melodic[0].path, rate, s.seconds)

    dt = timed(render_song, len(songs))
    print(f"song render (all parts, soundfont): {secs / len(songs) / dt:7.1f} x real time")
    dt = timed(lambda i: singing.sing(songs[i].part("vocals")[0], songs[i].seconds_per_beat, rate, songs[i].seconds,
                                      np.random.default_rng(i)), len(songs))
    print(f"sung vocals (espeak-ng, per note):  {secs / len(songs) / dt:7.1f} x real time")
    out = []
    dt = timed(lambda i: out.append(speech.random_speech(np.random.default_rng(i), 10.0)), 20)
    spoken = sum(len(a) / r for a, r in out) / len(out)
    print(f"speech (espeak-ng, 22.05 kHz):      {spoken / dt:7.1f} x real time")
    dt = timed(lambda i: sfx.sfx(np.random.default_rng(i), rate, 10.0), 10)
    print(f"sfx (procedural):                   {10.0 / dt:7.1f} x real time")
    dt = timed(lambda i: sfx.sfxbg(np.random.default_rng(i), rate, 10.0), 10)
    print(f"sfxbg (procedural beds):            {10.0 / dt:7.1f} x real time")

    for tasks in (None, ["music4"], ["speech_music"], ["speech_sfx"], ["karaoke"]):
        s = MixtureSampler(seed=0, sample_rate=rate, seconds=args.seconds, tasks=tasks)
        n = args.examples if tasks is None else max(8, args.examples // 4)
        dt = timed(s.example, n)
        name = "tuss (random prompts)" if tasks is None else tasks[0]
        print(f"examples {name:22s} {args.seconds:g} s: {dt * 1000:6.1f} ms each = "
              f"{args.seconds / dt:6.1f} h of examples per hour (1 process; CPU {CPU['last'] * 1000:6.1f} ms "
              f"= {args.seconds / CPU['last']:6.1f} h per CPU-hour)")

    if args.workers > 0:
        s = MixtureSampler(seed=1, sample_rate=rate, seconds=args.seconds)
        loader = torch.utils.data.DataLoader(MixtureDataset(s, 0, args.examples * 2), batch_size=8,
                                             num_workers=args.workers)
        t = time.perf_counter()
        count = sum(b["mixture"].shape[0] for b in loader)
        dt = time.perf_counter() - t
        print(f"DataLoader, {args.workers} workers: {count} examples in {dt:.1f} s = "
              f"{count * args.seconds / dt:6.1f} h of examples per hour (incl. worker start-up)")


if __name__ == "__main__":
    main()
