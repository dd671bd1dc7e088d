"""The real-recording panel, per prompt: a model beside the DSP baselines and the ideal masks,
with the worst mixture per prompt.  Reads the JSON of

    OMP_NUM_THREADS=1 python -m seplive eval --model native \\
        --baselines mixture,center,hpss,oracle-irm,oracle-irm-offline --tasks realpanel \\
        --n 12 --seconds 6 --json eval.json

and prints markdown (docs/benchmarks/real-panel.md):

    python bench/bench_real_panel.py eval.json [--model native]

Cells are mean SI-SDR improvement (dB) over every scored stem of that prompt in every panel
task; the worst mixture is the model's lowest engine SI-SDRi for that prompt.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

#: prompts a DSP plugin scores (what 'seplive models' lists), for JSON written before rows named them
_KNOWN = {"center": ("vocals", "musicbg"), "hpss": ("drums", "other")}
_COLUMNS = (("{m}", "engine"), ("{m}", "offline"), ("center", "engine"), ("hpss", "engine"),
            ("oracle-irm", "oracle"), ("oracle-irm-offline", "oracle"))  # fmt: skip


def _scored(row: dict, system: str, mode: str) -> list[str]:
    named = row.get("scored", {}).get(system, {}).get(mode)
    if named is not None:
        return named
    return [p for p in row["prompts"] if system not in _KNOWN or p in _KNOWN[system]]


def collect(report: dict, model: str) -> tuple[dict, dict, dict]:
    """(prompt -> column -> values, prompt -> (worst si_sdr_i, task, index, name), prompt -> mixture SI-SDRs)."""
    cells: dict[str, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    worst: dict[str, tuple[float, str, int, str]] = {}
    mix: dict[str, list[float]] = defaultdict(list)
    for row in report["examples"]:
        for system, modes in row["scores"].items():
            for mode, scores in modes.items():
                for p, s in zip(_scored(row, system, mode), scores, strict=True):
                    if s is None:
                        continue
                    if system == "mixture":
                        mix[p].append(s["si_sdr"])
                        continue
                    cells[p][(system, mode)].append(s["si_sdr_i"])
                    if system == model and mode == "engine" and (p not in worst or s["si_sdr_i"] < worst[p][0]):
                        worst[p] = (s["si_sdr_i"], row["task"], row["index"], row.get("name", ""))
    return cells, worst, mix


def _mean(v: list[float]) -> str:
    return f"{sum(v) / len(v):+.1f}" if v else "—"


def table(report: dict, model: str) -> str:
    cells, worst, mix = collect(report, model)
    cols = [(s.format(m=model), mode) for s, mode in _COLUMNS]
    head = ["prompt", "stems", "mixture SI-SDR"] + [f"{s} {mode}" if s == model else s for s, mode in cols]
    lines = ["| " + " | ".join(head) + " | worst mixture (" + model + " engine) |", "|" + "---|" * (len(head) + 1)]
    for p in ("speech", "vocals", "drums", "other", "sfx", "musicbg"):
        if p not in cells:
            continue
        w = worst.get(p)
        wtxt = f"{w[0]:+.1f} dB: {w[1]} #{w[2]} ({w[3]})" if w else "—"
        row = [p, str(len(mix[p])), _mean(mix[p])] + [_mean(cells[p].get(c, [])) for c in cols]
        lines.append("| " + " | ".join(row) + f" | {wtxt} |")
    return "\n".join(lines) + "\n"


def per_task(report: dict, model: str) -> str:
    cols = [(s.format(m=model), mode) for s, mode in _COLUMNS]
    lines = ["| task | prompt | " + " | ".join(f"{s} {m}" if s == model else s for s, m in cols) + " |",
             "|" + "---|" * (len(cols) + 2)]  # fmt: skip
    for task, systems in report["results"].items():
        prompts = list(systems.get("mixture", {}).get("offline", {}))
        for p in prompts:
            vals = []
            for s, mode in cols:
                st = systems.get(s, {}).get(mode, {}).get(p)
                vals.append("—" if not st or st["si_sdr_i"] is None else f"{st['si_sdr_i']:+.1f}")
            lines.append(f"| {task} | {p} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", help="seplive eval --json output on --tasks realpanel")
    ap.add_argument("--model", default="native", help="the system whose worst mixtures are listed (default native)")
    a = ap.parse_args()
    report = json.loads(Path(a.json).read_text())
    print("Per prompt, all panel tasks pooled (SI-SDR improvement, dB):\n")
    print(table(report, a.model))
    print("Per task:\n")
    print(per_task(report, a.model))


if __name__ == "__main__":
    main()
