"""``seplive eval``: SI-SDR / SDR improvement per prompt (dB), offline and through the engine.

Examples::

    seplive eval --checkpoint runs/smoke/model.pt --json eval.json
    seplive eval --model tuss --model-opt tuss.checkpoint=model.pth --tasks speech_sfx --n 8
    seplive eval --model center --stems ~/musdb-like-folder --max-seconds 30
    seplive eval --checkpoint model.pt --baselines mixture,oracle-irm --tasks speech_music --n 16
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..settings import literal
from .common import add_windowing

__all__ = ["PARSER", "add_arguments", "main", "TASKS", "PANEL_TASKS", "FAMILIES"]

PARSER = {
    "help": "score models offline and through the live engine (SI-SDR, SDR)",
    "description": "Score models and checkpoints on fixed held-out mixtures (or --stems DIR): SI-SDR and SDR"
    " improvement over the mixture per prompt, offline and through the live engine, beside the mixture,"
    " center and hpss. Prints a markdown table; --json/--markdown write it.",
}

TASKS = ("music4", "speech_music", "speech_sfx", "karaoke")
#: the speech tasks again with real voices (alsa-utils' and pyo's recordings; seplive.data.recordings)
REAL_TASKS = ("real_speech_music", "real_speech_sfx")
#: the music tasks again, the same songs placed as a studio mix places them (lead vocals and bass
#: centred, the comping parts panned; seplive.data MixtureSampler.studio_mix)
STUDIO_TASKS = ("studio_music4", "studio_karaoke")
#: the real-recording panel (seplive.data.panel): mixtures made only of recordings that ship in
#: Debian/PyPI packages, held out from training by source; ``--tasks realpanel`` is all of them
PANEL_TASKS = ("realpanel_speech_music", "realpanel_speech_sfx", "realpanel_drums", "realpanel_other", "realpanel_vocals")
#: task families: a name in --tasks that stands for several tasks
FAMILIES = {"realpanel": PANEL_TASKS}
BASELINES = ("mixture", "center", "hpss")
#: oracle masks (seplive.eval.oracle): the ceiling of a mask that knows the true sources; on request
ORACLE_BASELINES = ("oracle-irm", "oracle-psm", "oracle-irm-offline")


def add_arguments(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("what to score")
    s.add_argument("-m", "--model", action="append", default=[], metavar="NAME", help="a hosted plugin (repeatable; see 'seplive models')")
    s.add_argument("--model-opt", action="append", default=[], metavar="NAME.KEY=VALUE", help="option for plugin NAME (repeatable)")
    s.add_argument("--checkpoint", action="append", default=[], metavar="CKPT", help="a checkpoint from 'seplive train' (repeatable)")
    s.add_argument("--baselines", default=",".join(BASELINES),
                   help="comma list of mixture, center, hpss, the oracle masks oracle-irm, oracle-psm (in the native model's "
                        "low-latency STFT) and oracle-irm-offline (a symmetric 1024-sample STFT), or 'none' "
                        "(default: mixture,center,hpss)")
    d = p.add_argument_group("data")
    d.add_argument("--tasks", help=f"held-out tasks, comma list of {', '.join(TASKS + STUDIO_TASKS + REAL_TASKS + PANEL_TASKS)} "
                   "or the family 'realpanel' (all realpanel_* tasks: real recordings only, docs/real-panel.md) "
                   "(default: all, the real ones where their recordings are installed; none with --stems)")
    d.add_argument("--n", type=int, default=4, help="examples per task (default 4)")
    d.add_argument("--seed", type=int, default=1234, help="held-out seed (default 1234)")
    d.add_argument("--seconds", type=float, default=6.0, help="held-out example length (default 6)")
    d.add_argument("--rate", type=int, help="held-out sample rate (default: the first checkpoint's, else 48000)")
    d.add_argument("--channels", type=int, default=2, help="held-out channels (default 2)")
    d.add_argument("--stems", metavar="DIR", help="also score a folder of songs with stems (MUSDB18-HQ layout or one folder per song)")
    d.add_argument("--max-seconds", type=float, help="score only the first SECONDS of each --stems song")
    w = p.add_argument_group(
        "engine windowing (model-rate samples, or milliseconds)",
        "the same flags and units as 'seplive run': --hop SAMPLES or --hop-ms MS (--hop was milliseconds before;"
        " it is samples now)")
    add_windowing(w, " (default: each plugin's)")
    w.add_argument("--modes", default="offline,engine", help="offline, engine or both (default)")
    w.add_argument("--device", default="cpu", help="compute device for neural models")
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    o.add_argument("--markdown", metavar="OUT", help="write the tables to a file (always printed unless -q)")
    o.add_argument("-q", "--quiet", action="store_true")


def _systems(args: argparse.Namespace) -> list[Any]:
    from ..eval.oracle import oracle
    from ..eval.runner import System
    from ..models import registry
    from ..models.trained import plugin_for_checkpoint

    opts: dict[str, dict[str, Any]] = {}
    for item in args.model_opt:
        key, sep, value = item.partition("=")
        name, dot, k = key.partition(".")
        if not sep or not dot or not k:
            raise ValueError(f"--model-opt must look like NAME.KEY=VALUE, got {item!r}")
        opts.setdefault(name.strip(), {})[k.strip()] = literal(value.strip())
    systems = []
    base = [] if args.baselines.strip().lower() == "none" else [b.strip() for b in args.baselines.split(",") if b.strip()]
    for b in base:
        if b not in BASELINES + ORACLE_BASELINES:
            raise ValueError(f"--baselines: unknown '{b}'; choose from {', '.join(BASELINES + ORACLE_BASELINES)} or none")
    if "mixture" in base:
        systems.append(System("mixture"))
    systems += [System(b, oracle=oracle(b)) for b in base if b in ORACLE_BASELINES]
    names = [b for b in base if b in BASELINES and b != "mixture"] + [m for m in args.model if m not in base]
    for name in names:
        o = dict(opts.get(name, {}))
        if args.device != "cpu" and name not in ("center", "hpss"):
            o.setdefault("device", args.device)
        systems.append(System(name, registry.create(name, **o)))
    for ckpt in args.checkpoint:
        o = {"device": args.device}
        label = f"{Path(ckpt).parent.name}/{Path(ckpt).stem}" if Path(ckpt).parent.name else Path(ckpt).stem
        systems.append(System(label, plugin_for_checkpoint(ckpt, **o)))
    unused = set(opts) - set(names)
    if unused:
        raise ValueError(f"--model-opt for {', '.join(sorted(unused))}, which is not evaluated (add --model)")
    if len(systems) == 0:
        raise ValueError("nothing to score: give --model, --checkpoint or --baselines")
    return systems


def _have_recordings() -> bool:
    try:
        from ..data.recordings import recording_paths
    except ImportError:
        return False
    return bool(recording_paths())


def _have_panel() -> bool:
    try:
        from ..data.panel import panel_available
    except ImportError:
        return False
    return panel_available()


def _sets(args: argparse.Namespace, rate: int) -> list[tuple[str, list[Any]]]:
    sets: list[tuple[str, list[Any]]] = []
    if args.tasks:
        tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
        tasks = list(dict.fromkeys(x for t in tasks for x in FAMILIES.get(t, (t,))))
    elif args.stems:
        tasks = []
    else:
        tasks = list(TASKS + STUDIO_TASKS) + (list(REAL_TASKS) if _have_recordings() else [])
        tasks += list(PANEL_TASKS) if _have_panel() else []
    known = TASKS + STUDIO_TASKS + REAL_TASKS + PANEL_TASKS
    for t in tasks:
        if t not in known:
            raise ValueError(f"--tasks: unknown task '{t}'; choose from {', '.join(known)} or the family "
                             f"{', '.join(FAMILIES)}")
    if args.n <= 0 or args.seconds <= 0:
        raise ValueError("--n and --seconds must be positive")
    if tasks:
        try:
            from ..data import heldout_set
        except ImportError as exc:
            raise ValueError(f"the held-out sets need the data generator (seplive.data): {exc}") from None
        from ..data.recordings import real_heldout_set

        for t in tasks:
            kw = {"n": args.n, "seed": args.seed, "sample_rate": rate, "seconds": args.seconds, "channels": args.channels}
            if t in REAL_TASKS:
                sets.append((t, real_heldout_set(t, **kw)))
            elif t in PANEL_TASKS:
                from ..data.panel import panel_set

                sets.append((t, panel_set(t, **kw)))
            elif t in STUDIO_TASKS:
                sets.append((t, heldout_set(t.removeprefix("studio_"), studio=True, **kw)))
            else:
                sets.append((t, heldout_set(t, **kw)))
    if args.stems:
        from ..eval.stems import stems_examples

        sets.append((f"stems:{Path(args.stems).name}", stems_examples(args.stems, args.max_seconds, args.channels)))
    return sets


def main(args: argparse.Namespace) -> int:
    from ..eval.report import markdown
    from ..eval.runner import EngineSettings, evaluate

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("offline", "engine") for m in modes):
        raise ValueError(f"--modes must be offline, engine or both, got {args.modes!r}")
    systems = _systems(args)
    rate = args.rate
    if rate is None:
        ckpt = next((s.plugin for s in systems if s.plugin is not None and s.plugin.name == "checkpoint"), None)
        rate = int(ckpt.sample_rate) if ckpt is not None else 48000
    sets = _sets(args, rate)
    # the windowing passed untouched: the engine converts ms at each model's rate
    settings = EngineSettings(hop_samples=args.hop, hop_ms=args.hop_ms, context_samples=args.context,
                              context_ms=args.context_ms, lookahead_samples=args.lookahead,
                              lookahead_ms=args.lookahead_ms, device=args.device)
    say = None if args.quiet else (lambda s: print(f"seplive eval: {s}", file=sys.stderr, flush=True))
    report = evaluate(systems, sets, settings, modes, progress=say)
    report["settings"] = {
        "tasks": [t for t, _ in sets], "n": args.n, "seed": args.seed, "seconds": args.seconds, "rate": rate,
        "channels": args.channels, "hop": args.hop, "hop_ms": args.hop_ms, "context": args.context,
        "context_ms": args.context_ms, "lookahead": args.lookahead, "lookahead_ms": args.lookahead_ms,
        "systems": [s.name for s in systems], "modes": modes,
    }  # fmt: skip
    text = markdown(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(text)
    if not args.quiet:
        print(text)
    return 0
