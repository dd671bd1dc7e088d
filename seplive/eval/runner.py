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

from ..models.base import Separator
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
    _defaults: tuple[int, int] = field(default=(0, 0), init=False)

    def __post_init__(self) -> None:
        if self.plugin is not None:
            self._defaults = (int(self.plugin.context_samples), int(self.plugin.lookahead_samples))

    def restore(self) -> None:
        if self.plugin is not None:
            self.plugin.context_samples, self.plugin.lookahead_samples = self._defaults

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


def _group(plugin: Separator, x: np.ndarray) -> np.ndarray:
    """``(C, T)`` -> ``(groups, model_channels, T)`` as the engine groups channels."""
    c = x.shape[0]
    if plugin.channels == 0:
        return x[None]
    if plugin.channels == 1:
        return x[:, None]
    if c % 2:
        x = np.concatenate([x, x[-1:]], axis=0)
    return x.reshape(-1, 2, x.shape[-1])


def _ungroup(plugin: Separator, y: np.ndarray, c: int) -> np.ndarray:
    """``(P, groups, model_channels, T)`` -> ``(P, C, T)``."""
    p, _, _, n = y.shape
    flat = y.reshape(p, -1, n)
    if plugin.channels == 2 and c % 2:
        flat = 0.5 * (flat[:, :1] + flat[:, 1:2]) if c == 1 else flat[:, :c]
    return flat


def run_offline(plugin: Separator, mix: np.ndarray, rate: int, prompts: Sequence[str]) -> np.ndarray:
    """A windowed plugin on the whole of ``mix`` ``(C, T)`` in one window -> ``(P, C, T)``."""
    c, n = mix.shape
    model_rate = int(plugin.sample_rate or rate)
    plugin.bind_rate(model_rate)
    x = _resample(mix, rate, model_rate)
    plugin.context_samples, plugin.lookahead_samples = 0, 0
    # a windowed plugin takes a window of any length; the hop only has to be valid
    plugin.prepare(max(int(plugin.hop_multiple), 1), plugin.device, model_rate)
    plugin.reset()
    y = np.asarray(plugin.process(_group(plugin, x), list(prompts)), dtype=np.float32)
    y = _ungroup(plugin, y[..., -x.shape[-1] :], c)
    return _resample(y, model_rate, rate, n)


def run_engine(
    plugin: Separator, mix: np.ndarray, rate: int, prompts: Sequence[str], settings: EngineSettings
) -> tuple[np.ndarray, dict[str, Any]]:
    """``mix`` ``(C, T)`` through the live engine -> stems ``(P, C, T)`` for the unique
    ``prompts`` (aligned with the input) and ``{"latency_ms", "hop", ...}``."""
    from ..control.mix import MixSettings
    from ..stream.engine import Engine, EngineConfig

    c, n = mix.shape
    model_rate = int(plugin.sample_rate or rate)
    s = settings
    cfg = EngineConfig(source_rate=rate, channels=c, hop_samples=s.hop_samples, hop_ms=s.hop_ms,
                       context_samples=s.context_samples, context_ms=s.context_ms,
                       lookahead_samples=s.lookahead_samples, lookahead_ms=s.lookahead_ms,
                       device=s.device, stem_outputs=True)  # fmt: skip
    eng = Engine(plugin, MixSettings.from_cli(list(prompts), [], {}), cfg)
    try:
        block = eng.block
        extra = eng.latency_samples
        total = n + extra
        padded = np.zeros((-(-total // block) * block, c), np.float32)
        padded[:n] = mix.T
        stems = np.empty((len(padded), len(prompts), c), np.float32)
        for i in range(0, len(padded), block):
            eng.push(padded[i : i + block])
            eng.pull(block)
            stems[i : i + block] = eng.last_stems[:, : len(prompts)]
        info = {
            "latency_ms": 1000.0 * eng.latency_samples / rate,
            "hop": eng.hop,
            "context": eng.context,
            "lookahead": eng.lookahead,
            "model_rate": model_rate,
            "plugin_errors": eng.counters.plugin_errors,
            "last_error": eng.counters.last_error,
        }
    finally:
        eng.close()
    return np.ascontiguousarray(stems[extra : extra + n].transpose(1, 2, 0)), info


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
    ``si_sdr``, ``sdr`` over the scored stems, their count ``n`` and ``silent`` (stems
    skipped because the reference is silent).
    """
    settings = settings or EngineSettings()
    order: dict[tuple[str, str, str, str], None] = {}  # first-seen order of the table's cells
    scores: dict[tuple[str, str, str, str], list[dict]] = {}
    silent: dict[tuple[str, str, str, str], int] = {}
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    per_example = []
    for task, examples in sets:
        for k, ex in enumerate(examples):
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
                    t0 = time.perf_counter()
                    info: dict[str, Any] = {}
                    if system.oracle is not None:
                        est = system.oracle.separate(mix, targets[slots])
                        use = list(range(len(asked)))
                    elif system.plugin is None:
                        est = np.broadcast_to(mix, (len(asked), *mix.shape))
                        use = list(range(len(asked)))
                    elif mode == "offline" and system.plugin.windowed:
                        system.restore()
                        est = run_offline(system.plugin, mix, rate, asked)
                        use = list(range(len(asked)))
                        system.restore()
                    elif mode == "engine" and cached is not None:  # a stateful plugin: offline was this run
                        est, info, use, wall0 = cached
                        t0 -= wall0
                    else:
                        system.restore()
                        unique = list(dict.fromkeys(asked))
                        est, info = run_engine(system.plugin, mix, rate, unique, settings)
                        use = [i for i, p in enumerate(asked) if asked.count(p) == 1]
                        est = np.stack([est[unique.index(asked[i])] for i in use]) if use else est[:0]
                        system.restore()
                        if mode == "offline":
                            cached = (est, info, use, time.perf_counter() - t0)
                    wall = time.perf_counter() - t0
                    run = runs.setdefault(system.name, {}).setdefault(mode, {"wall_s": 0.0, "audio_s": 0.0})
                    run["wall_s"] += wall
                    run["audio_s"] += mix.shape[-1] / rate
                    for key in ("latency_ms", "hop", "context", "lookahead", "model_rate"):
                        if key in info:
                            run[key] = info[key]
                    if info.get("plugin_errors"):
                        run["plugin_errors"] = run.get("plugin_errors", 0) + info["plugin_errors"]
                        run["last_error"] = info["last_error"]
                    sub_prompts = [asked[i] for i in use]
                    sub_targets = targets[[slots[i] for i in use]] if use else targets[:0]
                    results = _score(sub_prompts, np.asarray(est), sub_targets, mix, [slots[i] for i in use], memo)
                    for p, r in zip(sub_prompts, results, strict=True):
                        key = (task, system.name, mode, p)
                        order[key] = None
                        if r is None:
                            silent[key] = silent.get(key, 0) + 1
                        else:
                            scores.setdefault(key, []).append(r)
                    row.setdefault("scored", {}).setdefault(system.name, {})[mode] = sub_prompts  # what each entry is
                    row["scores"].setdefault(system.name, {})[mode] = [
                        None if r is None else {m: round(v, 3) for m, v in r.items()} for r in results
                    ]
                if progress:
                    progress(f"{task} #{k} {system.name} done")
            per_example.append(row)
    table: dict[str, Any] = {}
    for key in order:
        task, name, mode, p = key
        vals = scores.get(key, [])
        stats: dict[str, Any] = {"n": len(vals), "silent": silent.get(key, 0)}
        for m in ("si_sdr_i", "sdr_i", "si_sdr", "sdr"):
            stats[m] = float(np.mean([v[m] for v in vals])) if vals else None
        table.setdefault(task, {}).setdefault(name, {}).setdefault(mode, {})[p] = stats
    for modes_ in runs.values():
        for run in modes_.values():
            run["rtf"] = run["wall_s"] / run["audio_s"] if run["audio_s"] else math.nan
    return {"results": table, "runs": runs, "examples": per_example}
