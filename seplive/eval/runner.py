"""Scoring systems on example sets, offline and through the live engine.

A *system* is the unprocessed mixture (the reference point), a hosted plugin
(``center``, ``hpss``, ``tuss`` ...), a trained checkpoint, or an oracle mask
(:mod:`.oracle`: the ceiling of a mask that knows the true sources, scored once per example
in mode ``oracle``).  A plugin or checkpoint is run twice on every example:

- ``offline``: the whole example at once.  A windowed plugin gets one window holding the
  whole file (no context, no lookahead: the model's best case); a stateful plugin (the DSP
  ones) runs through the engine, since that already is its whole-file result.
- ``engine``: :class:`seplive.stream.engine.Engine` with the given hop, context and
  lookahead, exactly the live code path (resampling, windowing, crossfades), its output
  shifted back by the latency.

The difference between the two rows is the cost of streaming.  Stems a system has no
prompt for are not scored; a prompt repeated in an example (``sfx sfx``) is scored
offline with the best assignment and left out of the engine run (the engine mixes stems
by name, so it computes one stem per name).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.base import Separator, StreamSpec
from .metrics import best_assignment, score_stem

if TYPE_CHECKING:
    from .oracle import OracleMask

__all__ = ["System", "EngineSettings", "evaluate", "run_offline", "run_engine"]


@dataclass
class EngineSettings:
    """Engine windowing, in milliseconds (converted at each model's rate); ``None`` = the
    plugin's default."""

    hop_ms: float | None = None
    context_ms: float | None = None
    lookahead_ms: float | None = None
    hop_samples: int | None = None
    context_samples: int | None = None
    lookahead_samples: int | None = None
    device: str = "cpu"


@dataclass
class System:
    """One row group of the table: ``plugin`` is ``None`` for the mixture itself."""

    name: str
    plugin: Separator | None = None
    #: an oracle mask instead of a plugin (it reads the true sources)
    oracle: OracleMask | None = None

    def knows(self, prompt: str) -> bool:
        return self.plugin is None or prompt in self.plugin.prompts  # the mixture and oracles: every prompt


# ---------------------------------------------------------------------------------------
# running one system on one mixture


def _resample(x: np.ndarray, src: int, dst: int, n: int | None = None) -> np.ndarray:
    """``(..., C, T)`` from ``src`` to ``dst`` Hz (soxr HQ), cut or padded to ``n`` samples."""
    if src != dst:
        import soxr

        lead = x.shape[:-1]
        flat = x.reshape(-1, x.shape[-1]).T
        y = soxr.resample(np.ascontiguousarray(flat, dtype=np.float32), src, dst, quality="HQ")
        x = np.ascontiguousarray(y.T).reshape(*lead, -1)
    if n is not None and x.shape[-1] != n:
        x = x[..., :n] if x.shape[-1] > n else np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])])
    return x.astype(np.float32, copy=False)


def run_offline(plugin: Separator, mix: np.ndarray, rate: int, prompts: Sequence[str]) -> np.ndarray:
    """A windowed plugin on the whole of ``mix`` ``(C, T)`` at ``rate`` Hz in one window
    (no context, no lookahead; the hop only has to be valid) -> ``(P, C, T)``."""
    c, n = mix.shape
    layout = plugin.configure(StreamSpec(rate=rate, channels=c, hop_samples=max(int(plugin.hop_multiple), 1),
                                         context_samples=0, lookahead_samples=0, device=plugin.device))
    x = _resample(mix, rate, layout.rate)
    plugin.reset()
    y = np.asarray(plugin.process(layout.group(x), list(prompts)), dtype=np.float32)
    y = layout.ungroup(y[..., -x.shape[-1] :])
    return _resample(y, layout.rate, rate, n)


def run_engine(
    plugin: Separator, mix: np.ndarray, rate: int, prompts: Sequence[str], settings: EngineSettings
) -> tuple[np.ndarray, dict[str, Any]]:
    """``mix`` ``(C, T)`` through the live engine -> stems ``(P, C, T)`` for the unique
    ``prompts`` (aligned with the input) and ``{"latency_ms", "hop", ...}``."""
    from ..stream.engine import Engine, EngineConfig, stream_array
    from ..stream.mix import MixSettings

    c, n = mix.shape
    s = settings
    cfg = EngineConfig(source_rate=rate, channels=c, hop_samples=s.hop_samples, hop_ms=s.hop_ms,
                       context_samples=s.context_samples, context_ms=s.context_ms,
                       lookahead_samples=s.lookahead_samples, lookahead_ms=s.lookahead_ms,
                       device=s.device, stem_outputs=True)  # fmt: skip
    eng = Engine(plugin, MixSettings.from_cli(list(prompts), [], {}), cfg)
    try:
        _, stems = stream_array(eng, mix.T)
        info = {
            "latency_ms": 1000.0 * eng.latency_samples / rate,
            "hop": eng.hop,
            "context": eng.context,
            "lookahead": eng.lookahead,
            "model_rate": eng.model_rate,
            "plugin_errors": eng.counters.plugin_errors,
            "last_error": eng.counters.last_error,
        }
    finally:
        eng.close()
    return np.ascontiguousarray(stems[:, : len(prompts)].transpose(1, 2, 0)), info


# ---------------------------------------------------------------------------------------
# the evaluation


def _score(
    prompts: Sequence[str], est: np.ndarray, targets: np.ndarray, mix: np.ndarray, slots: Sequence[int],
    memo: dict[int, tuple[float, float]],
) -> list[dict | None]:
    """Score ``est`` against ``targets`` (slot numbers ``slots`` of the example); ``memo``
    keeps the mixture's scores per slot across systems."""
    order = best_assignment(prompts, est, targets)
    out = []
    for j in range(len(prompts)):
        r = score_stem(est[order[j]], targets[j], mix, memo.get(slots[j]))
        if r is not None:
            memo[slots[j]] = (r["si_sdr_mix"], r["sdr_mix"])
        out.append(r)
    return out


@dataclass
class _Run:
    """One system's estimates for one example in one mode: ``est`` rows for the asked
    prompts at positions ``use``, the engine's ``info``, the wall time (s) it took."""

    est: np.ndarray
    use: list[int]
    info: dict[str, Any]
    wall: float


@dataclass
class _Table:
    """What :func:`evaluate` collects, keyed by (task, system, mode, prompt) in first-seen order."""

    order: dict[tuple[str, str, str, str], None] = field(default_factory=dict)
    scores: dict[tuple[str, str, str, str], list[dict]] = field(default_factory=dict)
    silent: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    runs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def add_run(self, system: str, mode: str, run: _Run, audio_s: float) -> None:
        entry = self.runs.setdefault(system, {}).setdefault(mode, {"wall_s": 0.0, "audio_s": 0.0})
        entry["wall_s"] += run.wall
        entry["audio_s"] += audio_s
        for key in ("latency_ms", "hop", "context", "lookahead", "model_rate"):
            if key in run.info:
                entry[key] = run.info[key]
        if run.info.get("plugin_errors"):
            entry["plugin_errors"] = entry.get("plugin_errors", 0) + run.info["plugin_errors"]
            entry["last_error"] = run.info["last_error"]

    def add_scores(self, task: str, system: str, mode: str, prompts: Sequence[str], results: list) -> None:
        for p, r in zip(prompts, results, strict=True):
            key = (task, system, mode, p)
            self.order[key] = None
            if r is None:
                self.silent[key] = self.silent.get(key, 0) + 1
            else:
                self.scores.setdefault(key, []).append(r)

    def results(self) -> dict[str, Any]:
        table: dict[str, Any] = {}
        for key in self.order:
            task, name, mode, p = key
            vals = self.scores.get(key, [])
            stats: dict[str, Any] = {"n": len(vals), "silent": self.silent.get(key, 0)}
            for m in ("si_sdr_i", "sdr_i", "si_sdr", "sdr"):
                stats[m] = float(np.mean([v[m] for v in vals])) if vals else None
            table.setdefault(task, {}).setdefault(name, {}).setdefault(mode, {})[p] = stats
        for modes in self.runs.values():
            for run in modes.values():
                run["rtf"] = run["wall_s"] / run["audio_s"] if run["audio_s"] else math.nan
        return table


def _estimate(system: System, mode: str, ex_mix: np.ndarray, targets: np.ndarray, rate: int, asked: list[str],
              slots: list[int], settings: EngineSettings, cached: _Run | None) -> _Run:
    """Run ``system`` in ``mode`` on one mixture ``(C, T)`` for the ``asked`` prompts."""
    t0 = time.perf_counter()
    every = list(range(len(asked)))
    if system.oracle is not None:
        return _Run(system.oracle.separate(ex_mix, targets[slots]), every, {}, time.perf_counter() - t0)
    if system.plugin is None:
        return _Run(np.broadcast_to(ex_mix, (len(asked), *ex_mix.shape)), every, {}, time.perf_counter() - t0)
    if mode == "offline" and system.plugin.windowed:
        return _Run(run_offline(system.plugin, ex_mix, rate, asked), every, {}, time.perf_counter() - t0)
    if mode == "engine" and cached is not None:  # a stateful plugin: offline was this run
        return cached
    unique = list(dict.fromkeys(asked))
    est, info = run_engine(system.plugin, ex_mix, rate, unique, settings)
    use = [i for i, p in enumerate(asked) if asked.count(p) == 1]
    est = np.stack([est[unique.index(asked[i])] for i in use]) if use else est[:0]
    return _Run(est, use, info, time.perf_counter() - t0)


def _example(task: str, k: int, ex: Any, systems: Sequence[System], settings: EngineSettings,
             modes: Sequence[str], table: _Table, progress: Callable[[str], None] | None) -> dict[str, Any]:
    """Score every system on example ``k`` of ``task``; returns its per-example row."""
    mix = np.asarray(ex.mixture, np.float32)
    targets = np.asarray(ex.targets, np.float32)
    rate = int(ex.sample_rate)
    prompts = list(ex.prompts)
    row: dict[str, Any] = {"task": task, "index": k, "prompts": prompts, "scores": {}}
    if getattr(ex, "name", ""):  # what the example is made of (real stems, the real-recording panel)
        row["name"] = ex.name
    memo: dict[int, tuple[float, float]] = {}
    for system in systems:
        slots = [j for j, p in enumerate(prompts) if system.knows(p)]
        if not slots:
            continue
        asked = [prompts[j] for j in slots]
        cached = None
        for mode in ("oracle",) if system.oracle is not None else modes:
            if system.plugin is None and system.oracle is None and mode != "offline":
                continue
            run = _estimate(system, mode, mix, targets, rate, asked, slots, settings, cached)
            if mode == "offline" and system.plugin is not None and not system.plugin.windowed:
                cached = run
            table.add_run(system.name, mode, run, mix.shape[-1] / rate)
            sub_prompts = [asked[i] for i in run.use]
            sub_targets = targets[[slots[i] for i in run.use]] if run.use else targets[:0]
            results = _score(sub_prompts, np.asarray(run.est), sub_targets, mix, [slots[i] for i in run.use], memo)
            table.add_scores(task, system.name, mode, sub_prompts, results)
            row.setdefault("scored", {}).setdefault(system.name, {})[mode] = sub_prompts  # what each entry is
            row["scores"].setdefault(system.name, {})[mode] = [
                None if r is None else {m: round(v, 3) for m, v in r.items()} for r in results
            ]
        if progress:
            progress(f"{task} #{k} {system.name} done")
    return row


def evaluate(
    systems: Sequence[System],
    sets: Iterable[tuple[str, Sequence[Any]]],
    settings: EngineSettings | None = None,
    modes: Sequence[str] = ("offline", "engine"),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every system on every example of ``sets`` (``(task, examples)`` pairs).

    Returns ``{"results": {task: {system: {mode: {prompt: stats}}}}, "runs": {...},
    "examples": [...]}`` where ``stats`` holds the means of ``si_sdr_i``, ``sdr_i``,
    ``si_sdr``, ``sdr`` (dB) over the scored stems, their count ``n`` and ``silent``
    (stems skipped because the reference is silent); each run its wall and audio seconds
    and real-time factor ``rtf``.
    """
    settings = settings or EngineSettings()
    table = _Table()
    per_example = [
        _example(task, k, ex, systems, settings, modes, table, progress)
        for task, examples in sets
        for k, ex in enumerate(examples)
    ]
    return {"results": table.results(), "runs": table.runs, "examples": per_example}
