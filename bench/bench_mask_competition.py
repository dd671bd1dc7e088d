"""Would the music heads do better competing for each time-frequency bin?

``native``'s prompt heads are independent: each prompt's complex mask is computed alone, so
a bin can be claimed by ``drums`` and ``other`` at once, or by neither.  This runs the four
music heads (drums, bass, vocals, other) on the same mixtures and scores, per prompt, the
masks as they are beside ways of making them share each bin:

- ``raw``: the heads' masks, as the plugin plays them;
- ``share``: a bin whose four mask magnitudes add up past 1 is scaled back to 1;
- ``wiener``: each prompt's share of the four masks' power, a real mask (mixture phase);
- ``wiener_soft``: the mask kept where its power share is above its magnitude share;
- ``other_complement``: ``other`` = 1 - drums - bass - vocals (the residual);
- ``other_blend``: the mean of ``other``'s own mask and that residual.

Offline (whole signals, the causal model's own delay removed), shipped weights, one run:

    OMP_NUM_THREADS=2 python bench/bench_mask_competition.py [--n 12] [--checkpoint X.pt]

Prints mean SI-SDR improvement (dB), the lowest, and how many stems fall below the mixture,
per task and prompt.  Results: docs/benchmarks/real-panel.md.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F

from seplive.data.mixing import heldout_set
from seplive.data.panel import panel_set
from seplive.eval.metrics import score_stem
from seplive.models.native.checkpoint import shipped_checkpoint
from seplive.models.native.model import repeat_index
from seplive.models.weights import load_model

MUSIC = ("drums", "bass", "vocals", "other")
#: the variants :func:`variants` returns, in its order
VARIANTS = ("raw", "share", "wiener", "wiener_soft", "other_complement", "other_blend")
TASKS = ("realpanel_drums", "realpanel_other", "realpanel_vocals", "music4")


def variants(m: torch.Tensor) -> dict[str, torch.Tensor]:
    """Masks ``(B, 4, C, F, bins)`` complex, in :data:`MUSIC` order -> the variants above."""
    a = m.abs()
    total = a.sum(1, keepdim=True)
    power = a.square() / (a.square().sum(1, keepdim=True) + 1e-8)
    mag_share = a / (total + 1e-8)
    residual = 1.0 - m[:, 0:1] - m[:, 1:2] - m[:, 2:3]
    complement, blend = m.clone(), m.clone()
    complement[:, 3:4] = residual
    blend[:, 3:4] = 0.5 * (m[:, 3:4] + residual)
    return {
        "raw": m,
        "share": m * torch.clamp(1.0 / (total + 1e-8), max=1.0),
        "wiener": power.to(m.dtype),
        "wiener_soft": m * torch.clamp(power / (mag_share + 1e-8), max=1.0),
        "other_complement": complement,
        "other_blend": blend,
    }


def separate(model, mix: np.ndarray) -> dict[str, np.ndarray]:
    """``mix`` ``(C, T)`` -> variant -> stems ``(4, C, T)`` aligned with the sources."""
    t, d, hop = mix.shape[-1], model.delay_samples, model.cfg.hop
    x = F.pad(torch.from_numpy(mix).float()[None], (0, d))
    x = F.pad(x, (0, -x.shape[-1] % hop))
    ids = torch.tensor([[model.prompts.index(p) for p in MUSIC]])
    with torch.no_grad():
        spec = model.stft.analyse(x)
        h, _ = model.trunk(spec)
        mask, _ = model.head(h, model.head.conditions(model.head.embed(ids, repeat_index(ids))))
        return {name: model.stft.synthesise(mm * spec[:, None])[0, ..., d : d + t].numpy()
                for name, mm in variants(mask).items()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=12, help="examples per task")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--checkpoint", default=None, help="native weights (default: the shipped ones)")
    args = ap.parse_args()
    if args.checkpoint is None:
        args.checkpoint = shipped_checkpoint()
    model, _ = load_model(args.checkpoint)
    print(f"| task | prompt | {' | '.join(VARIANTS)} |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for task in TASKS:
        examples = (panel_set(task, n=args.n, seconds=args.seconds) if task.startswith("realpanel")
                    else heldout_set(task, n=args.n, seconds=args.seconds))  # fmt: skip
        scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for ex in examples:
            out = separate(model, ex.mixture)
            for k, p in enumerate(ex.prompts):
                if p not in MUSIC:
                    continue
                for name, stems in out.items():
                    if name.startswith("other_") and p != "other":
                        continue
                    s = score_stem(stems[MUSIC.index(p)], ex.targets[k], ex.mixture)
                    if s is not None:
                        scores[p][name].append(s["si_sdr_i"])
        for p, by in scores.items():
            cells = []
            for name in VARIANTS:
                v = by.get(name)
                cells.append(f"{np.mean(v):+.2f} (min {np.min(v):+.1f}, {sum(x < 0 for x in v)} < 0)" if v else "-")
            print(f"| {task} | {p} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
