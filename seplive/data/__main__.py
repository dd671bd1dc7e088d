"""Command line for seplive.data.

``python -m seplive.data check FOLDER [--split test]``: read every track of a stems folder (or a
MUSDB18-HQ root) and list what is there; one clear line and exit status 2 on the first bad file.

``python -m seplive.data export OUT --n 100 [--seconds 10 --seed 0 --task music4 --rate 48000]``:
write generated examples as a stems folder (``OUT/<seed>_<index>/<prompt>.flac`` plus
``mixture.flac``, 24-bit), which ``StemsFolder`` reads back.  A repeated prompt's second file is
``<prompt>_2.flac``; a dropped-out prompt is written as silence.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .readers import DataError, Musdb18, StemsFolder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m seplive.data")
    sub = ap.add_subparsers(dest="cmd", required=True)
    chk = sub.add_parser("check", help="read every track of a stems folder or MUSDB18-HQ root")
    chk.add_argument("folder")
    chk.add_argument("--split", default=None, help="MUSDB18-HQ split (train/test): read it as MUSDB18")
    exp = sub.add_parser("export", help="write generated examples as a stems folder")
    exp.add_argument("out")
    exp.add_argument("--n", type=int, required=True, help="number of examples")
    exp.add_argument("--start", type=int, default=0, help="first example index")
    exp.add_argument("--seconds", type=float, default=10.0)
    exp.add_argument("--seed", type=int, default=0)
    exp.add_argument("--rate", type=int, default=48000)
    exp.add_argument("--channels", type=int, default=2, choices=(1, 2))
    exp.add_argument("--task", action="append", default=None, help="a task name (repeatable); default: TUSS's random prompts")
    args = ap.parse_args(argv)
    if args.cmd == "export":
        return _export(args)
    try:
        root = Path(args.folder)
        reader = Musdb18(root, args.split) if args.split else StemsFolder(root)
        for name, stems, rate in reader:
            seconds = next(iter(stems.values())).shape[1] / rate
            print(f"{name}: {', '.join(sorted(stems))} ({seconds:.1f} s, {rate} Hz)")
    except DataError as exc:
        print(f"seplive.data: {exc}", file=sys.stderr)
        return 2
    return 0


def _export(args) -> int:
    import soundfile as sf

    from .mixing import MixtureSampler
    from .soundfonts import SoundfontNotFound

    if args.n <= 0 or args.seconds <= 0 or args.seconds > 600:
        print("seplive.data: --n must be > 0 and --seconds in (0, 600]", file=sys.stderr)
        return 2
    try:
        sampler = MixtureSampler(seed=args.seed, sample_rate=args.rate, seconds=args.seconds, channels=args.channels,
                                 tasks=args.task)
    except (SoundfontNotFound, ValueError) as exc:
        print(f"seplive.data: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    for index in range(args.start, args.start + args.n):
        ex = sampler.example(index)
        folder = out / f"{args.seed}_{index:07d}"
        folder.mkdir(parents=True, exist_ok=True)
        seen: dict[str, int] = {}
        for prompt, target in zip(ex.prompts, ex.targets, strict=True):
            seen[prompt] = seen.get(prompt, 0) + 1
            name = prompt if seen[prompt] == 1 else f"{prompt}_{seen[prompt]}"
            sf.write(folder / f"{name}.flac", target.T, ex.sample_rate, subtype="PCM_24")
        sf.write(folder / "mixture.flac", ex.mixture.T, ex.sample_rate, subtype="PCM_24")
        print(f"{folder.name}: {' '.join(ex.prompts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
