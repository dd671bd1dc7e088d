"""Session presets and layered run settings.

A run's settings come from five layers, highest first::

    command-line flags  >  environment (SEPLIVE_*)  >  preset  >  user config  >  defaults

Presets and the user config are TOML files of plain values (never code).  A preset is
found by name in ``./presets``, then the user config folder's ``presets``, then the
presets shipped with seplive; a path to a ``.toml`` file works too.  Every key is checked:
an unknown key, a value of the wrong type or an unknown prompt is refused with one line
naming the file, the key and the nearest valid choice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import (
    ConfigError,
    boolean_text,
    check_keys,
    choice,
    did_you_mean,
    host_port,
    number,
    read_toml,
    shipped_dir,
    text,
    text_list,
    user_config_dir,
)
from .models.prompts import ALIASES, PROMPTS, REST, canonical

#: a preset, user config or SEPLIVE_* variable that cannot be used: the config kit's one
#: error class (one line, control characters escaped), by the name callers know
PresetError = ConfigError

__all__ = [
    "DEFAULTS", "KEYS", "LIVE_KEYS", "Key", "Layers", "PresetError", "PresetInfo", "PresetSwitcher", "check_settings",
    "find_preset", "from_environment", "layer", "list_presets", "load_preset", "load_user_config", "nearest",
    "osc_spec", "search_dirs", "shipped_dir", "user_config_dir", "user_config_path",
]


def nearest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'x'?)`` or the valid choices, for an error message."""
    return did_you_mean(word, choices) or f" (valid: {', '.join(sorted(choices))})"


# -- value checkers: (value, where) -> checked value (the config kit's, and these) ------------
def _number(lo: float = -math.inf, hi: float = math.inf, integer: bool = False,
            lo_open: bool = False) -> Callable[[Any, str], float]:
    """A checker of finite numbers in [lo, hi] (``lo_open``: (lo, hi]); text may end in dB or ms."""
    return number(lo, hi, integer=integer, lo_open=lo_open, units=True)


def osc_spec(v: Any, where: str) -> str:
    """A checker for ``osc`` settings: ``[HOST:]PORT`` with a port in range."""
    host_port(v, where)
    return str(v).strip()


def _prompt(v: Any, where: str) -> str:
    name = canonical(text(v, where))
    valid = [*PROMPTS, REST, "query"]
    if name not in valid:
        hint = nearest(name, valid)
        if "did you mean" not in hint:
            hint = nearest(name, [*valid, *ALIASES])
        raise PresetError(f"{where}: unknown prompt {v!r}{hint}")
    return name


def _prompt_list(v: Any, where: str) -> list[str]:
    if isinstance(v, str):  # environment: "vocals drums" or "vocals,drums"
        v = v.replace(",", " ").split()
    if not isinstance(v, list):
        raise PresetError(f"{where}: expected a list of prompts, got {v!r}")
    return [_prompt(x, where) for x in v]


def _latency(v: Any, where: str) -> float | str:
    if isinstance(v, str) and v.strip().lower() in ("high", "low"):
        return v.strip().lower()
    return _number(0.0, 10.0)(v, where)


def _env_pairs(v: Any, where: str, what: str) -> Any:
    """An environment variable's ``"a=1,b=2"`` as a table; any other value as it is."""
    if not isinstance(v, str):
        return v
    pairs = {}
    for item in [s for s in v.split(",") if s.strip()]:
        k, sep, val = item.partition("=")
        if not sep:
            raise PresetError(f"{where}: expected {what} pairs, got {item!r}")
        pairs[k.strip()] = val
    return pairs


def _gain_table(v: Any, where: str) -> dict[str, float]:
    v = _env_pairs(v, where, "STEM=DB")  # environment: "vocals=-6,drums=3"
    if not isinstance(v, dict):
        raise PresetError(f"{where}: expected a table of stem = dB, got {v!r}")
    db = _number(-120.0, 24.0)
    return {_prompt(k, f"{where}.{k}"): db(x, f"{where}.{k}") for k, x in v.items()}


def _options_table(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise PresetError(f"{where}: expected a table of option = value, got {v!r}")
    for k, x in v.items():
        if not isinstance(x, str | int | float | bool):
            raise PresetError(f"{where}.{k}: options are plain values (text, number, true/false), got {x!r}")
    return dict(v)


def _models_table(v: Any, where: str) -> dict[str, str | list[str]]:
    """``{prompt: model}`` or ``{prompt: [model, fallback...]}`` (the first that loads here);
    environment: ``"speech=dfn3,sfx=native"``."""
    v = _env_pairs(v, where, "PROMPT=MODEL")
    if not isinstance(v, dict):
        raise PresetError(f"{where}: expected a table of prompt = model, got {v!r}")
    out: dict[str, str | list[str]] = {}
    for k, x in v.items():
        prompt = _prompt(k, f"{where}.{k}")
        if prompt in (REST, "query"):
            raise PresetError(f"{where}.{k}: '{prompt}' is not served by a model of its own")
        out[prompt] = text_list(x, f"{where}.{k}") if isinstance(x, list) else text(x, f"{where}.{k}")
    return out


def _fx_table(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise PresetError(f"{where}: expected tables like [fx.drums] lowpass = 800, got {v!r}")
    try:
        from . import fx
    except ImportError as exc:
        raise PresetError(f"{where}: effects are not available in this install ({exc})") from None
    try:
        return fx.parse_fx_table(v)
    except ValueError as exc:  # its message names the key (fx.drums.lowpas ...)
        raise PresetError(f"{where.rsplit(': ', 1)[0]}: {exc}") from None


@dataclass(frozen=True)
class Key:
    check: Callable[[Any, str], Any]
    help: str
    merge: bool = False  # tables merge key by key across layers; other values replace


#: every setting a preset, the user config or a SEPLIVE_* variable may give (argparse dests)
KEYS: dict[str, Key] = {
    "description": Key(text, "one line shown by 'seplive presets'"),
    "preset": Key(text, "a preset to start from (user config and SEPLIVE_PRESET only)"),
    "input": Key(text, "a file or a device (default, mic, loopback, a name, a number)"),
    "output": Key(text_list, "files or devices"),
    "model": Key(text, "the separation plugin"),
    "models": Key(_models_table, "prompts served by other plugins: prompt = model (or a list, first installed)", merge=True),
    "checkpoint": Key(text, "weights file"),
    "device": Key(text, "compute device: cpu, cuda, cuda:1..."),
    "model_options": Key(_options_table, "plugin options", merge=True),
    "prompts": Key(_prompt_list, "stems to isolate"),
    "mute": Key(_prompt_list, "stems to remove"),
    "gain": Key(_gain_table, "stem gains in dB", merge=True),
    "master_db": Key(_number(-120.0, 24.0), "output gain in dB"),
    "wet": Key(_number(0.0, 1.0), "0 = dry input, 1 = the separated mix"),
    "fx": Key(_fx_table, "per-stem effects", merge=True),
    # ranges that reflect what works (issue #24): a hop of at most 2 s at 48 kHz (memory per
    # hop grows with it), a budget of at most 8 hops (the buffers grow with it, nothing gained)
    "hop": Key(_number(16, 96000, integer=True), "model hop, samples"),
    "hop_ms": Key(_number(0.5, 2000.0), "model hop, ms"),
    "context": Key(_number(0, 1 << 22, integer=True), "model context, samples"),
    "context_ms": Key(_number(0.0, 60000.0), "model context, ms"),
    "lookahead": Key(_number(0, 96000, integer=True), "lookahead, samples"),
    "lookahead_ms": Key(_number(0.0, 2000.0), "lookahead, ms"),
    "crossfade_ms": Key(_number(0.0, 1000.0), "crossfade, ms"),
    "compute_budget": Key(_number(0.05, 8.0), "model time per hop, in hops"),
    "resample_quality": Key(choice("QQ", "LQ", "MQ", "HQ", "VHQ", what="quality"), "soxr quality"),
    "rate": Key(_number(8000, 384000, integer=True), "device sample rate"),
    "channels": Key(_number(1, 64, integer=True), "input channels"),
    "device_block": Key(_number(16, 65536, integer=True), "device block, frames"),
    "device_latency": Key(_latency, "PortAudio latency: high, low or seconds"),
    "low_latency": Key(boolean_text, "live: the smallest safe device buffers for the host API (JACK: 128 frames)"),
    "rt_priority": Key(_number(0, 95, integer=True), "live: SCHED_FIFO priority of the audio threads (0: normal)"),
    "osc": Key(osc_spec, "OSC [HOST:]PORT"),
    "midi": Key(text, "MIDI map"),
    "midi_port": Key(text, "MIDI input name substring"),
    "log_json": Key(text, "JSON status lines file ('-' = stderr)"),
    "limiter": Key(boolean_text, "master look-ahead limiter on the output"),
}

#: what a run gets when no layer says otherwise
DEFAULTS: dict[str, Any] = {
    "model": "native",
    "models": {},
    "device": "cpu",
    "model_options": {},
    "prompts": [],
    "mute": [],
    "gain": {},
    "fx": {},
    "master_db": 0.0,
    "wet": 1.0,
    "resample_quality": "HQ",
    "rt_priority": 50,
    "limiter": False,
}

ENV_PREFIX = "SEPLIVE_"


# -- where presets live -----------------------------------------------------------------------
def user_config_path() -> Path:
    return Path(os.environ.get("SEPLIVE_CONFIG") or user_config_dir() / "config.toml")


def search_dirs() -> list[tuple[str, Path]]:
    """Preset folders, first match wins: ./presets, the user's, the shipped ones."""
    dirs = [("local", Path.cwd() / "presets"), ("user", user_config_dir() / "presets")]
    shipped = shipped_dir()
    if shipped is not None:
        dirs.append(("shipped", shipped))
    seen: set[Path] = set()
    out = []
    for kind, d in dirs:
        r = d.resolve()
        if shipped is not None and r == shipped.resolve():
            kind = "shipped"  # ./presets of the source checkout itself
        if r not in seen:
            seen.add(r)
            out.append((kind, d))
    return out


@dataclass
class PresetInfo:
    name: str
    path: Path
    where: str
    description: str
    shadowed_by: str | None = None


def list_presets() -> list[PresetInfo]:
    """Every session preset found, the ones a nearer folder hides marked ``shadowed_by``."""
    found: dict[str, PresetInfo] = {}
    rows: list[PresetInfo] = []
    for where, d in search_dirs():
        for path in sorted(d.glob("*.toml")):
            try:
                desc = str(read_toml(path).get("description", ""))
            except PresetError as exc:
                desc = f"(unreadable: {exc})"
            info = PresetInfo(path.stem, path, where, desc)
            if path.stem in found:
                info.shadowed_by = found[path.stem].where
            else:
                found[path.stem] = info
            rows.append(info)
    return rows


def find_preset(name: str) -> Path:
    """The file for preset ``name`` (or ``name`` itself when it is a .toml path)."""
    p = Path(name).expanduser()
    if p.suffix == ".toml" or os.sep in name:
        if p.is_file():
            return p
        raise PresetError(f"preset file {name} does not exist")
    for _, d in search_dirs():
        f = d / f"{name}.toml"
        if f.is_file():
            return f
    names = sorted({i.name for i in list_presets()})
    raise PresetError(f"unknown preset {name!r}{nearest(name, names) if names else ''}; 'seplive presets' lists them")


# -- reading ---------------------------------------------------------------------------------
def check_settings(raw: Mapping[str, Any], source: str, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Validate a table of settings from ``source`` (a file name or 'environment')."""
    check_keys(raw, allowed or KEYS, source)
    out = {key: KEYS[key].check(value, f"{source}: {key}") for key, value in raw.items()}
    if "hop" in out and "hop_ms" in out:
        raise PresetError(f"{source}: give hop or hop_ms, not both")
    return out


def load_preset(name: str) -> dict[str, Any]:
    path = find_preset(name)
    return check_settings(read_toml(path), str(path), tuple(k for k in KEYS if k != "preset"))


def load_user_config() -> dict[str, Any]:
    path = user_config_path()
    if not path.is_file():
        if os.environ.get("SEPLIVE_CONFIG"):
            raise PresetError(f"SEPLIVE_CONFIG: {path} does not exist")
        return {}
    return check_settings(read_toml(path), str(path))


def from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """SEPLIVE_<KEY> variables for the known keys (others, like SEPLIVE_CONFIG, are not settings)."""
    raw = {}
    for key in KEYS:
        if key == "description":
            continue
        var = ENV_PREFIX + key.upper()
        if var in env and env[var].strip():
            raw[key] = env[var]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out[key] = KEYS[key].check(value, f"environment {ENV_PREFIX}{key.upper()}")
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if KEYS.get(k) is not None and KEYS[k].merge and isinstance(out.get(k), dict):
            merged = dict(out[k])
            for kk, vv in v.items():
                if isinstance(merged.get(kk), dict) and isinstance(vv, dict):
                    merged[kk] = {**merged[kk], **vv}
                else:
                    merged[kk] = vv
            out[k] = merged
        else:
            out[k] = v
    return out


@dataclass
class Layers:
    """The settings of each layer and the merged result (for messages and --report)."""

    merged: dict[str, Any]
    preset: str | None
    sources: dict[str, str]


def layer(flags: Mapping[str, Any], env: Mapping[str, str] | None = None, preset: str | None = None) -> Layers:
    """Merge defaults < user config < preset < environment < ``flags`` (only the flags given)."""
    env = os.environ if env is None else env
    user = load_user_config()
    environment = from_environment(env)
    name = preset or environment.get("preset") or user.get("preset")
    chosen = load_preset(name) if name else {}
    chosen.pop("description", None)
    user.pop("description", None)
    user.pop("preset", None)
    environment.pop("preset", None)
    merged: dict[str, Any] = dict(DEFAULTS)
    sources = {k: "default" for k in DEFAULTS}
    for label, values in (("user config", user), (f"preset {name}", chosen), ("environment", environment), ("flag", flags)):
        merged = _merge(merged, values)
        sources.update({k: label for k in values})
    return Layers(merged, name, sources)


#: the preset keys a running session can change (the rest need a restart)
LIVE_KEYS = ("prompts", "mute", "gain", "master_db", "wet", "fx")


class PresetSwitcher:
    """Loads presets into a running session, for OSC ``/seplive/preset/*`` and MIDI
    ``preset.*``: ``load NAME``, ``next``, ``prev`` (in ``seplive presets`` order).

    Only the mix changes live, in one step (a ``replace`` mix change, applied at one hop);
    settings that need a restart (model, hop...) are reported and left alone.
    """

    def __init__(self, current: str | None = None) -> None:
        self.current = current
        self.session: Any = None

    def bind(self, session: Any) -> None:
        self.session = session

    def names(self) -> list[str]:
        return [r.name for r in list_presets() if r.shadowed_by is None]

    def __call__(self, action: str, name: str | None = None) -> str:
        from .stream.mix import MixChange, MixSettings

        if self.session is None:
            raise PresetError("no session to load presets into yet")
        if action == "load":
            if not name:
                raise PresetError("preset load needs a name")
            target = name
        elif action in ("next", "prev"):
            names = self.names()
            if not names:
                raise PresetError("no presets found")
            i = names.index(self.current) if self.current in names else -1
            target = names[(i + (1 if action == "next" else -1)) % len(names)]
        else:
            raise PresetError(f"unknown preset action {action!r}{nearest(action, ['load', 'next', 'prev'])}")
        settings = load_preset(target)
        prompts, mute = settings.get("prompts", []), settings.get("mute", [])
        gains = settings.get("gain", {})
        for stem in [*gains]:
            if stem not in prompts and stem not in mute:
                prompts = [*prompts, stem]
        names_needed = [p for p in [*prompts, *mute] if p != REST]
        if not names_needed:
            raise PresetError(f"preset {target!r} selects no stems")
        try:
            self.session.plugin.check_prompts(names_needed)
        except Exception as exc:  # SeparatorError: this model lacks a stem the preset needs
            raise PresetError(f"preset {target!r}: {exc}") from None
        mix = MixSettings.from_cli(prompts, mute, gains)
        mix.master_db = float(settings.get("master_db", 0.0))
        mix.wet = float(settings.get("wet", 1.0))
        self.session.post(MixChange("replace", mix), origin="preset")
        from .fx import fx_updates

        current_fx = {k: dict(v) for k, v in self.session.engine.mix.settings.fx.items()}
        for stem, param, value in fx_updates(current_fx, settings.get("fx", {})):
            self.session.post(MixChange("fx", (param, value), stem), origin="preset")
        self.current = target
        kept = sorted(k for k in settings if k not in LIVE_KEYS and k not in ("description", "fx"))
        return target + (f" (not changed live: {', '.join(kept)})" if kept else "")
