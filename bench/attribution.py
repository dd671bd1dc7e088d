"""Where a panel source goes: each prompt's estimate projected onto one true source.

For real-panel examples, every prompt the model knows is asked for through the live engine,
and each estimate is projected (least squares, both channels summed) onto the true source of
``--source`` (default ``other``): a coefficient of 1 means that prompt returned the whole
source, 0 none of it.  A model that gives a piano away to ``bass`` shows it here, where
SI-SDR only says that ``other`` is poor.  Also printed: each estimate's level relative to the
mixture, in dB.

    python bench/attribution.py --task realpanel_drums --examples 10,4,11 [--checkpoint RUN.pt]
"""

from __future__ import annotations

import argparse

import numpy as np

from seplive.data.panel import PANEL_TASKS, panel_set
from seplive.eval.runner import EngineSettings, run_engine
from seplive.models import registry

PROMPTS = ["drums", "other", "bass", "vocals", "musicbg", "sfx", "speech"]


def attribution(plugin, example, source: str) -> list[tuple[str, float, float]]:
    """(prompt, coefficient on the true ``source``, level in dB re the mixture) per prompt."""
    est, _ = run_engine(plugin, example.mixture, example.sample_rate, PROMPTS, EngineSettings())
    ref = example.targets[example.prompts.index(source)].sum(axis=0)
    mix_e = float(np.sum(example.mixture.sum(axis=0) ** 2))
    out = []
    for k, prompt in enumerate(PROMPTS):
        y = est[k].sum(axis=0)
        coef = float(np.dot(y, ref) / max(np.dot(ref, ref), 1e-12))
        out.append((prompt, coef, 10 * np.log10(max(float(np.sum(y**2)), 1e-12) / mix_e)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="realpanel_drums", choices=list(PANEL_TASKS))
    ap.add_argument("--examples", default="10,4,11", help="example numbers, comma-separated")
    ap.add_argument("--source", default="other", help="the true source to follow")
    ap.add_argument("--checkpoint", help="a trained checkpoint (default: the shipped native weights)")
    args = ap.parse_args()
    if args.source not in PANEL_TASKS[args.task]:
        ap.error(f"{args.task} has no {args.source!r}; it has {', '.join(PANEL_TASKS[args.task])}")
    picks = [int(i) for i in args.examples.split(",")]
    examples = panel_set(args.task, n=max(picks) + 1)
    plugin = registry.create("checkpoint", checkpoint=args.checkpoint) if args.checkpoint else registry.create("native")
    print(f"| example | {args.source} | " + " | ".join(PROMPTS) + " |")
    print("|---|---|" + "---|" * len(PROMPTS))
    for i in picks:
        ex = examples[i]
        cells = [f"{c:.2f} ({db:+.1f} dB)" for _, c, db in attribution(plugin, ex, args.source)]
        print(f"| {args.task} #{i} | {', '.join(ex.sources[args.source])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
