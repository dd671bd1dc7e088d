"""One validation layer for every source of a setting (issue #24).

Flags, ``SEPLIVE_*`` variables, presets, the user config, OSC, MIDI maps, model options
and the Python API all pass the same checks: the checkers of :data:`seplive.presets.KEYS`
(ranges that reflect what works: a hop of at most two seconds, budgets of a few hops,
gains in dB up to +24, finite numbers only), the few run flags that are not layered
settings (:data:`RUN_FLAGS`), model options checked against what the plugin's constructor
accepts, and TOML files read with a size and a nesting cap.  Every refusal is one line
(a :class:`seplive.presets.PresetError`, a ``ValueError``) naming the flag or the key.
The checkers themselves and the capped TOML reader are the config kit's (:mod:`seplive.config`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .config import MAX_TOML_BYTES, MAX_TOML_DEPTH, host_port, loads_toml, number, read_toml
from .presets import KEYS, PresetError, osc_spec

__all__ = [
    "MAX_TOML_BYTES", "MAX_TOML_DEPTH", "RUN_FLAGS", "check_config", "check_destinations", "check_flags",
    "check_model_options", "check_run_flags", "check_selection", "flag_name", "loads_toml", "model_options", "osc_spec",
    "port", "read_toml",
]


def _number(lo: float = -math.inf, hi: float = math.inf, integer: bool = False) -> Callable[[Any, str], float]:
    """The presets' number checker (text may end in dB or ms), for flags and options."""
    return number(lo, hi, integer=integer, units=True)

#: the longest hop, lookahead and block, in samples (two seconds at 48 kHz): memory per hop
#: grows with it (a 10 s hop took 2.6 GB for a 2 s file), and nothing live needs more
MAX_HOP_SAMPLES = 96000
MAX_HOP_MS = 2000.0
#: the longest run a --duration may ask for (a week); leave --duration out for no limit
MAX_DURATION_S = 7 * 24 * 3600.0


def flag_name(dest: str) -> str:
    """``hop_ms`` -> ``--hop-ms`` (how errors name a flag)."""
    return "--" + dest.replace("_", "-")


def port(text: Any, where: str, allow_zero: bool = True) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port), the port in 0..65535 (1.. without ``allow_zero``)."""
    return host_port(text, where, allow_zero)


#: run flags that are not layered settings: argparse dest -> checker
RUN_FLAGS: dict[str, Callable[[Any, str], Any]] = {
    "duration": _number(0.001, MAX_DURATION_S),  # at least a millisecond: shorter is no audio at all
    "block": _number(16, MAX_HOP_SAMPLES, integer=True),
}


def check_flags(given: Mapping[str, Any]) -> dict[str, Any]:
    """Check the layered settings the command line gave, each by its flag's name."""
    out = dict(given)
    for key, value in given.items():
        if key in KEYS and value not in (None, []) and key not in ("gain", "fx", "model_options"):
            out[key] = KEYS[key].check(value, flag_name(key))
    return out


def check_run_flags(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check the run flags that are not layered settings (``--duration``, ``--block``,
    ``--osc-feedback``)."""
    out = dict(values)
    for key, check in RUN_FLAGS.items():
        if values.get(key) is not None:
            out[key] = check(values[key], flag_name(key))
    for text in values.get("osc_feedback") or []:
        port(text, "--osc-feedback", allow_zero=False)
    return out


def check_selection(prompts: list[str], mute: list[str]) -> None:
    """A stem both played and muted would be silent: refuse it in one line."""
    both = [p for p in prompts if p in mute]
    if both:
        raise PresetError(
            f"{', '.join(both)}: both in prompts (--prompts) and in mute (--mute); that stem would be silent"
            " (give it in one of them)"
        )


# -- model options ---------------------------------------------------------------------------------
#: options the command line itself passes (--checkpoint, --device, --query)
_PASSED_BY_SEPLIVE = ("checkpoint", "device", "query")
#: ranges for the built-in DSP plugins' options (a bad one would fail every hop until bypass)
OPTION_RANGES: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "identity": {
        "sample_rate": _number(8000, 384000, integer=True),
        "context_samples": _number(0, 1 << 22, integer=True),
        "lookahead_samples": _number(0, MAX_HOP_SAMPLES, integer=True),
        "channels": _number(1, 64, integer=True),
    },
    "center": {
        "smoothing_ms": _number(0.1, 10000.0),  # 0 divides by zero every hop (found by the fuzz)
        "c_low": _number(0.0, 1.0),
        "c_high": _number(0.0, 1.0),
        "low_cut_hz": _number(0.0, 192000.0),
        "high_cut_hz": _number(0.0, 192000.0),
    },
    "hpss": {
        "time_frames": _number(3, 255, integer=True),
        "freq_bins": _number(3, 255, integer=True),
        "power": _number(0.1, 8.0),
        "lookahead_frames": _number(0, 254, integer=True),
    },
}
#: any other number an option takes stays within this (finite, and no huge allocations)
_ANY_NUMBER = _number(-1e6, 1e6)


def _accepts(annotation: Any, default: Any) -> set[str]:
    """The plain kinds (int, float, bool, str) a constructor parameter takes."""
    kinds: set[str] = set()
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    if annotation is inspect.Parameter.empty:
        text = ""
    for part in (p.strip() for p in text.replace("Optional[", "").replace("]", "").split("|")):
        if part in ("int", "float", "bool", "str"):
            kinds.add(part)
        elif part in ("Path", "os.PathLike"):
            kinds.add("str")
    if not kinds and default is not inspect.Parameter.empty and default is not None:
        kinds.add(type(default).__name__)
    return kinds & {"int", "float", "bool", "str"}


def model_options(name: str) -> dict[str, set[str]] | None:
    """Option -> the kinds it takes, for plugin ``name``; None when the plugin forwards
    options it does not name (then only the values are checked)."""
    from .models import registry

    factory = registry.factory(name)
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    known: dict[str, set[str]] = {}
    forwards = False
    for pname, param in sig.parameters.items():
        if param.kind is param.VAR_KEYWORD:
            forwards = pname != "_"  # ``**_`` swallows and ignores; anything else forwards
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        kinds = _accepts(param.annotation, param.default)
        if kinds:  # a parameter that takes objects (a model, a config object) is not an option
            known[pname] = kinds
    return None if forwards else known


def check_model_options(name: str, options: Mapping[str, Any], where: str = "--model-opt") -> dict[str, Any]:
    """Check plugin options against what plugin ``name`` takes: an unknown option, a value of
    the wrong kind or out of range is one line listing what it accepts."""
    out: dict[str, Any] = {}
    try:
        known = model_options(name)
    except Exception:  # an unknown or unavailable model: Session says so in its own words
        return dict(options)
    ranges = OPTION_RANGES.get(name, {})
    from .models import registry

    for key, value in options.items():
        at = f"{where} {key}"
        head, dot, rest = str(key).partition(".")
        if dot and head in registry.available():  # NAME.key: an option of a routed plugin NAME
            out[key] = check_model_options(head, {rest: value}, f"{where} {head}")[rest]
            continue
        if known is not None and key not in known and key not in _PASSED_BY_SEPLIVE:
            listed = ", ".join(sorted(k for k in known if k not in _PASSED_BY_SEPLIVE)) or "none"
            raise PresetError(f"{at}: model '{name}' has no option {key!r} (its options: {listed})")
        kinds = (known or {}).get(key, set())
        if isinstance(value, float | int) and not isinstance(value, bool) and not math.isfinite(value):
            raise PresetError(f"{at}: expected a finite number, got {value!r}")
        if kinds:
            if "bool" in kinds and isinstance(value, bool):
                pass
            elif "int" in kinds and isinstance(value, int) and not isinstance(value, bool):
                pass
            elif "float" in kinds and isinstance(value, int | float) and not isinstance(value, bool):
                value = float(value) if "int" not in kinds else value
            elif "str" in kinds and isinstance(value, str | int | float) and not isinstance(value, bool):
                value = str(value)
            else:
                want = " or ".join({"int": "a whole number", "float": "a number", "bool": "true/false",
                                    "str": "text"}[k] for k in sorted(kinds))
                raise PresetError(f"{at}: expected {want}, got {value!r}")
        if key in ranges:
            value = ranges[key](value, at)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _ANY_NUMBER(value, at)
        if isinstance(value, str) and len(value) > 4096:
            raise PresetError(f"{at}: {len(value)} characters is too long")
        out[key] = value
    for low, high, default_low, default_high in _ORDERED.get(name, ()):
        lo, hi = out.get(low, default_low), out.get(high, default_high)
        if (low in out or high in out) and not lo < hi:
            raise PresetError(f"{where}: model '{name}' needs {low} < {high}, got {lo:g} and {hi:g}")
    return out


#: option pairs that must be ordered (with the plugin's defaults): equal ones divide by zero
_ORDERED: dict[str, tuple[tuple[str, str, float, float], ...]] = {
    "center": (("c_low", "c_high", 0.6, 0.92), ("low_cut_hz", "high_cut_hz", 120.0, 16000.0)),
}


#: SessionConfig field -> (the flag that sets it, its checker's key in KEYS or RUN_FLAGS)
_CONFIG_FIELDS = {
    "master_db": "master_db", "wet": "wet", "hop_samples": "hop", "hop_ms": "hop_ms",
    "context_samples": "context", "context_ms": "context_ms", "lookahead_samples": "lookahead",
    "lookahead_ms": "lookahead_ms", "crossfade_ms": "crossfade_ms", "compute_budget_hops": "compute_budget",
    "rate": "rate", "channels": "channels", "device_block": "device_block", "duration_s": "duration",
    "block_samples": "block",
}


def check_config(cfg: Any) -> Any:
    """The same checks for a :class:`seplive.settings.SessionConfig` built by any caller
    (the command line, the Python API, tests): nothing reaches the engine unchecked.
    Returns the checked config, a new one (values in their checked form: whole numbers as
    int, model options checked against the plugin)."""
    changes: dict[str, Any] = {}
    for attr, key in _CONFIG_FIELDS.items():
        value = getattr(cfg, attr, None)
        if value is None:
            continue
        check = KEYS[key].check if key in KEYS else RUN_FLAGS[key]
        changes[attr] = check(value, flag_name(key))
    db = KEYS["gain"].check
    if cfg.gains_db:
        for stem, value in cfg.gains_db.items():
            db({stem: value}, "--gain")
    from .models.prompts import canonical

    check_selection([canonical(str(p)) for p in cfg.prompts], [canonical(str(p)) for p in cfg.mute])
    if cfg.plugin is None and cfg.model_options:
        changes["model_options"] = check_model_options(cfg.model, cfg.model_options)
    return replace(cfg, **changes)


# -- destinations: resolved and checked before the run starts ---------------------------------------
def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _writable_file(path: Path, where: str) -> None:
    """``path`` can be written (without creating it now): a file or nothing, in a writable folder."""
    import os

    if path.is_dir():
        raise PresetError(f"{where} {path}: is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise PresetError(f"{where} {path}: the folder {parent} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise PresetError(f"{where} {path}: not writable")
    if not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise PresetError(f"{where} {path}: cannot write in {parent}")


def check_destinations(cfg: Any, live: bool, log_json: str | None = None) -> None:
    """Every output, the stems folder, the report and the JSON log, before anything opens:
    nothing is written over the input or over another destination of the same run; a file
    input plays to a device only when paced (--realtime); a name that is neither an audio
    file nor (with a live input) a device is refused.  One line each, naming the flag."""
    from .stream.files import is_file_spec

    writable = {"wav", "flac", "ogg", "aiff", "aif", "w64", "caf"}
    outputs = [o for o in [cfg.output, *cfg.outputs] if o and str(o).strip().lower() != "none"]
    files: list[tuple[str, Path]] = []
    for spec in outputs:
        text = str(spec)
        p = Path(text).expanduser()
        if p.is_dir():
            raise PresetError(f"--output {text}: is a folder; give a file name (e.g. {p / 'out.wav'})")
        if is_file_spec(text):
            ext = p.suffix.lower().lstrip(".")
            if ext not in writable:
                raise PresetError(f"--output {text}: cannot write '{p.suffix or 'no extension'}' files; use .wav, .flac,"
                                  " .ogg, .aiff, .w64 or .caf")
            _writable_file(p, "--output")
            files.append(("--output", p))
        elif not live and not cfg.realtime:
            raise PresetError(f"--output {text}: not an audio file name (.wav, .flac, .ogg...), and a file input plays"
                              " to a device only with --realtime")
    if cfg.report:
        rp = Path(cfg.report).expanduser()
        _writable_file(rp, "--report")
        files.append(("--report", rp))
    if log_json and log_json != "-":
        files.append(("--log-json", Path(log_json).expanduser()))
    if cfg.stems_out and is_file_spec(cfg.stems_out) and cfg.stems_out.endswith(("/", "\\")):
        folder = Path(cfg.stems_out).expanduser()
        files.append(("--stems-out", folder))
    if not live:
        inp = Path(str(cfg.input)).expanduser()
        for flag, p in files:
            if flag == "--stems-out":
                if inp.parent.resolve() == p.resolve() and inp.stem in ("rest", *[str(x) for x in cfg.prompts]):
                    raise PresetError(f"--stems-out {p}: would write over the input {inp}")
            elif _same(p, inp):
                raise PresetError(f"{flag} {p}: is the input; it would be written over")
    for i, (flag, p) in enumerate(files):
        for flag2, q in files[i + 1:]:
            if "--stems-out" not in (flag, flag2) and _same(p, q):
                what = f"{flag} and {flag2}" if flag != flag2 else f"{flag} twice"
                raise PresetError(f"{what}: the same file {p}; one would be written over by the other")
