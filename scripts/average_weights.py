"""Average trained checkpoints of one network into one (a "model soup"): the weighted mean
of every parameter, with a sidecar that records the sources and their shares.

    python scripts/average_weights.py A.pt B.pt [C.pt ...] --out soup/native-small.pt [--shares 1 1]

Fine-tunes that start from the same weights and learn different things (one real speech,
one real drums) often average into one that keeps most of each; the result is judged on the
real panel like any other checkpoint (docs/models/native.md says which soups shipped).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seplive.models.weights import CheckpointError, average_weights  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sources", nargs="+", metavar="PT", help="checkpoints (.pt, each with its .json sidecar)")
    p.add_argument("--out", required=True, metavar="PT", help="the averaged checkpoint to write")
    p.add_argument("--shares", nargs="+", type=float, metavar="W", help="weight of each source (default: equal)")
    args = p.parse_args(argv)
    try:
        out = average_weights(args.sources, args.out, args.shares)
    except CheckpointError as exc:
        print(f"average_weights: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
