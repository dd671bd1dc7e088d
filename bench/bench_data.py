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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0, help="example length")
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

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
