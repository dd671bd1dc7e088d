"""Two ``seplive eval --json`` runs of the same examples, side by side: per task and prompt,
the mean SI-SDR improvement of each, the change, and on how many examples the second is
better; then per prompt over every task (the panel's pooled view).

    python bench/compare_evals.py before.json after.json [--mode engine]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def per_stem(report: dict, mode: str) -> dict[tuple[str, str, int], float]:
    """(task, prompt, example index) -> SI-SDRi of the one model system in the report."""
    out = {}
    for ex in report["examples"]:
        systems = [s for s in ex["scores"] if s != "mixture"]
        if len(systems) != 1 or mode not in ex["scores"][systems[0]]:
            continue
        scored = ex.get("scored", {}).get(systems[0], {}).get(mode, ex["prompts"])
        for prompt, score in zip(scored, ex["scores"][systems[0]][mode], strict=True):
            out[(ex["task"], prompt, ex["index"])] = score["si_sdr_i"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--mode", default="engine")
    args = ap.parse_args()
    a = per_stem(json.load(open(args.before)), args.mode)
    b = per_stem(json.load(open(args.after)), args.mode)
    keys = sorted(set(a) & set(b))
    if not keys:
        raise SystemExit("compare_evals: no example scored in both runs")
    groups: dict[tuple[str, str], list] = defaultdict(list)
    pooled: dict[str, list] = defaultdict(list)
    for k in keys:
        groups[k[:2]].append(k)
        if k[0].startswith("realpanel"):
            pooled[k[1]].append(k)
    print("| set | prompt | stems | before | after | change | better | worst after |")
    print("|---|---|---|---|---|---|---|---|")
    for title, table in (("", groups), ("panel, pooled", {("", p): v for p, v in pooled.items()})):
        for (task, prompt), ks in sorted(table.items()):
            x, y = np.array([a[k] for k in ks]), np.array([b[k] for k in ks])
            print(f"| {task or title} | {prompt} | {len(ks)} | {x.mean():+.2f} | {y.mean():+.2f} | {y.mean() - x.mean():+.2f} | "
                  f"{int((y > x).sum())}/{len(ks)} | {y.min():+.1f} |")
    panel = [k for k in keys if k[0].startswith("realpanel")]
    if panel:
        x, y = np.array([a[k] for k in panel]), np.array([b[k] for k in panel])
        means = [(np.mean([a[k] for k in v]), np.mean([b[k] for k in v])) for v in pooled.values()]
        print(f"\npanel: all {len(panel)} stems {x.mean():+.2f} -> {y.mean():+.2f}; mean of the {len(means)} prompt means "
              f"{np.mean([m[0] for m in means]):+.2f} -> {np.mean([m[1] for m in means]):+.2f}; "
              f"stems below 0 dB {int((x < 0).sum())} -> {int((y < 0).sum())}")


if __name__ == "__main__":
    main()
