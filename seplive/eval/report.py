"""The evaluation as a markdown table (one per task) and as JSON."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["markdown"]


def _fmt(v: float | None) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.1f}"


def markdown(report: dict[str, Any]) -> str:
    """Per task: rows = system x mode, columns = prompts, cells ``SI-SDRi / SDRi`` (dB).

    The ``mixture`` row gives the mixture's own SI-SDR / SDR: the zero of the improvements.
    """
    lines: list[str] = []
    runs = report.get("runs", {})
    for task, systems in report["results"].items():
        prompts: list[str] = []
        for modes in systems.values():
            for stats in modes.values():
                prompts += [p for p in stats if p not in prompts]
        lines.append(f"### {task}")
        lines.append("")
        lines.append("| system | mode | " + " | ".join(prompts) + " | mean | rtf | latency ms |")
        lines.append("|---|---|" + "---|" * (len(prompts) + 3))
        silent_notes = []
        for name, modes in systems.items():
            for mode, stats in modes.items():
                mix_row = name == "mixture"
                a, b = ("si_sdr", "sdr") if mix_row else ("si_sdr_i", "sdr_i")
                cells, means_a, means_b = [], [], []
                for p in prompts:
                    s = stats.get(p)
                    if s is None or s["n"] == 0:
                        cells.append("—")
                        continue
                    cells.append(f"{_fmt(s[a])} / {_fmt(s[b])}")
                    means_a.append(s[a])
                    means_b.append(s[b])
                    if s.get("silent"):
                        silent_notes.append(f"{name} {mode} {p}: {s['silent']} silent reference(s) skipped")
                mean = f"{_fmt(sum(means_a) / len(means_a))} / {_fmt(sum(means_b) / len(means_b))}" if means_a else "—"
                run = runs.get(name, {}).get(mode, {})
                rtf = f"{run['rtf']:.3f}" if "rtf" in run and not mix_row and mode != "oracle" else "—"
                lat = f"{run['latency_ms']:.0f}" if "latency_ms" in run and mode == "engine" else "—"
                label = "mixture (SI-SDR / SDR)" if mix_row else name
                lines.append(f"| {label} | {mode} | " + " | ".join(cells) + f" | {mean} | {rtf} | {lat} |")
        lines.append("")
        if silent_notes:
            lines.append("Silent references (not scored): " + "; ".join(sorted(set(silent_notes))) + ".")
            lines.append("")
    lines.append("Cells: SI-SDR improvement / SDR improvement over the mixture, dB, mean over the scored stems "
                 "(mixture rows: the mixture's own SI-SDR / SDR). rtf: compute time / audio time.")
    return "\n".join(lines) + "\n"
