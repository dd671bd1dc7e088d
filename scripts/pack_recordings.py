"""Copy what training reads from Debian packages into one folder, compactly, for a machine
without apt (a lent GPU box): the recorded voices and effects (seplive.data.clips), KLettres'
readers when installed (re-encoded as mono Ogg: they are 36 MiB as shipped), and the usable
Hydrogen kits (seplive.data.kits), at their own paths under OUT.  There,
``SEPLIVE_PACKAGES=OUT`` points the generator at the copy.

    python scripts/pack_recordings.py .gpu/packages [--quality 0.4]

Ogg files are copied as they are; WAV and FLAC hits are re-encoded as Ogg Vorbis (quality
0..1, 0.4 by default) and the kit's drumkit.xml names the new files.  Prints the size.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seplive.data import clips, kits  # noqa: E402


def _place(out: Path, path: Path) -> Path:
    dest = out / str(path).lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _copy_or_encode(out: Path, path: Path, quality: float, mono: bool = False) -> Path:
    """The file's copy under ``out`` (Ogg as is, anything else, or anything with ``mono``,
    re-encoded to Ogg Vorbis; ``mono`` averages the channels)."""
    if path.suffix.lower() == ".ogg" and not mono:
        dest = _place(out, path)
        shutil.copyfile(path, dest)
        return dest
    dest = _place(out, path.with_suffix(".ogg"))
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    if mono:
        x = x.mean(axis=1, keepdims=True)
    sf.write(dest, x, rate, format="OGG", subtype="VORBIS", compression_level=1.0 - quality)
    return dest


def _rename(xml: str, renamed: dict[str, str]) -> str:
    """The kit description with each re-encoded hit's new file name."""
    return re.sub(r"<filename>([^<]*)</filename>",
                  lambda m: f"<filename>{renamed.get(m.group(1), m.group(1))}</filename>", xml)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--quality", type=float, default=0.4, help="Ogg Vorbis quality, 0..1 (default 0.4)")
    args = ap.parse_args()
    if not (clips.available() and kits.available()):
        sys.exit("pack_recordings: the packages are not installed here (scripts/setup.sh installs them)")
    files = [f for pack in clips.voice_packs().values() for f in pack] + list(clips.effect_files())
    for f in files:
        _copy_or_encode(args.out, f, args.quality)
    letters = [f for pack in clips.letter_packs().values() for f in pack]
    for f in letters:
        _copy_or_encode(args.out, f, args.quality, mono=True)
    n_hits = 0
    for kit in kits.kits():
        renamed: dict[str, str] = {}
        paths = {la.path for insts in kit.pieces.values() for inst in insts for la in inst}
        for p in sorted(paths):
            renamed[p.name] = _copy_or_encode(args.out, p, args.quality).name
            n_hits += 1
        folder = next(iter(paths)).parent
        xml = (folder / "drumkit.xml").read_text(encoding="utf-8", errors="replace")
        xml = _rename(xml, renamed)
        _place(args.out, folder / "drumkit.xml").write_text(xml, encoding="utf-8")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"pack_recordings: {len(files)} voice and effect clips, {len(letters)} KLettres clips, {len(kits.kits())} kits ({n_hits} hits) "
          f"in {args.out}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
