"""The settings of one ``seplive run``, typed and built once.

The flags given on the command line, the SEPLIVE_* environment, the user config and the
preset are merged and checked by :func:`seplive.presets.layer`; :meth:`RunSettings.build`
turns that merge once into a frozen :class:`SessionConfig` (what the session runs; the
Python API builds the same object directly) and the command line's own parts (controls to
open, the JSON log, quiet).
Units are kept as given: window lengths in model-rate samples (``hop``) or milliseconds
(``hop_ms``), passed untouched to :class:`seplive.stream.engine.EngineConfig`, which
converts ms at the model's rate; gains in dB, durations in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .models.base import Separator
from .presets import KEYS, layer
from .stream.priority import DEFAULT_PRIORITY
from .validate import check_flags, check_model_options, check_run_flags, check_selection

__all__ = ["CliError", "literal", "flag_settings", "ControlSettings", "SessionConfig",
           "RunSettings", "LAYERED_FLAGS"]


class CliError(ValueError):
    """A mistake in what the command line asked for: printed as one line, exit status 2."""


# -- flag values ---------------------------------------------------------------------------------
def literal(value: str) -> object:
    """A model option's value: int, float, bool (true/yes/on, false/no/off) or the string
    itself; never evaluated as code.  The one parser for --model-opt in run and eval."""
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def key_value(text: str, what: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (NAME, VALUE), stripped; ``what`` names the flag in the error."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CliError(f"{what} must look like NAME=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _gain(text: str) -> tuple[str, float]:
    """``--gain STEM=DB`` (a trailing 'dB' allowed) -> (stem, gain in dB)."""
    key, value = key_value(text, "--gain")
    try:
        db = float(value.lower().removesuffix("db"))
    except ValueError:
        raise CliError(f"--gain {text}: {value!r} is not a number of dB") from None
    return key, db


def _fx(items: list[str]) -> dict[str, dict[str, float]]:
    """``--fx STEM.PARAM=VALUE`` items -> {stem: {param: value}} (see seplive.fx.params)."""
    from .fx.params import merge_fx, parse_fx_arg

    out: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            merge_fx(out, *parse_fx_arg(item))
        except ValueError as exc:
            raise CliError(f"--fx {item}: {exc}") from None
    return out


#: run flags that are layered settings (see seplive/presets.py), by argparse dest
LAYERED_FLAGS = (
    "input", "output", "model", "models", "checkpoint", "device", "prompts", "mute", "master_db", "wet", "hop", "hop_ms",
    "context", "context_ms", "lookahead", "lookahead_ms", "crossfade_ms", "compute_budget", "resample_quality",
    "rate", "channels", "device_block", "device_latency", "low_latency", "rt_priority", "osc", "midi", "midi_port", "log_json", "limiter",
)


def _model_flags(specs: list[str]) -> dict[str, object]:
    """``-m NAME`` and ``-m PROMPT=NAME`` -> {"model": NAME, "models": {PROMPT: NAME}}."""
    from .models.base import SeparatorError
    from .models.routing import split_model_specs

    try:
        main, routes = split_model_specs(specs)
    except SeparatorError as exc:
        raise CliError(str(exc)) from None
    out: dict[str, object] = {}
    if main:
        out["model"] = main
    if routes:
        out["models"] = KEYS["models"].check(routes, "--model")
    return out


def flag_settings(flags: Mapping[str, Any]) -> dict[str, object]:
    """The layered settings the command line gave (``flags``: argparse dest -> value, absent
    flags absent), parsed and checked as presets and SEPLIVE_* are (issue #24)."""
    given: dict[str, object] = {k: flags[k] for k in LAYERED_FLAGS if k in flags}
    if "model" in given:
        given.update(_model_flags(given.pop("model")))  # type: ignore[arg-type]
    if "device_latency" in given:
        given["device_latency"] = KEYS["device_latency"].check(given["device_latency"], "--device-latency")
    for k in ("prompts", "mute"):
        if k in given:
            given[k] = KEYS[k].check(given[k], f"--{k}")
    if "gain" in flags:
        given["gain"] = KEYS["gain"].check(dict(_gain(g) for g in flags["gain"]), "--gain")
    if "fx" in flags:
        given["fx"] = _fx(flags["fx"])
    if "model_opt" in flags:
        options: dict[str, object] = {}
        for item in flags["model_opt"]:
            k, v = key_value(item, "--model-opt")
            options[k] = literal(v)
        given["model_options"] = options
    return check_flags(given)


# -- the typed settings --------------------------------------------------------------------------
@dataclass(frozen=True)
class ControlSettings:
    """Live control: OSC ``[HOST:]PORT`` and feedback targets, the MIDI map and port."""

    osc: str | None = None
    osc_feedback: tuple[str, ...] = ()
    midi: str | None = None
    midi_port: str | None = None
    midi_backend: str | None = None


@dataclass(frozen=True)
class SessionConfig:
    """Everything one run needs: the one typed settings object from the flags (through
    :meth:`RunSettings.build`) or the Python API down to the session, which hands the
    windowing on to EngineConfig untouched (ms converted at the model's rate there).
    Frozen: a checked or adjusted config is a new one (``dataclasses.replace``)."""

    #: an audio file, or a device: default/mic, loopback, an index, a name (see stream/devices.py)
    input: str
    #: an audio file or a device; more outputs (play and record) in ``outputs``
    output: str | None = None
    outputs: list[str] = field(default_factory=list)
    #: device streams: rate (default: the model's, else 48 kHz), channels, frames per block
    rate: int | None = None
    channels: int | None = None
    #: frames per device block (None: 512, or with ``low_latency`` the host API's smallest safe)
    device_block: int | None = None
    #: PortAudio latency for device streams: "high", "low" or seconds
    #: None: "high", or "low" with ``low_latency``
    device_latency: float | str | None = None
    #: the smallest safe device buffers for the host API in use: JACK's period (128 frames)
    #: or 256 frames elsewhere, PortAudio's low latency, two blocks of output reserve
    low_latency: bool = False
    #: live: SCHED_FIFO priority of the audio loop and the model threads (0: normal scheduling)
    rt_priority: int = DEFAULT_PRIORITY
    allow_feedback: bool = False
    #: Linux: when ``loopback`` would capture the very sink the output plays to, create a
    #: capture sink, move the applications onto it and play to the real one (restored at the end)
    route: bool = True
    #: every selected stem and rest on its own channels: a multichannel device (for a DAW),
    #: or a folder that gets one file per stem
    stems_out: str | None = None
    model: str = "native"
    #: prompts served by other plugins than ``model``: {prompt: name, or names in order of
    #: preference (the first that can be built here)} (see seplive.models.routing)
    models: dict[str, str | list[str]] = field(default_factory=dict)
    #: options of ``model``; ``NAME.key`` ones go to plugin NAME
    model_options: dict[str, Any] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    mute: list[str] = field(default_factory=list)
    gains_db: dict[str, float] = field(default_factory=dict)
    master_db: float = 0.0
    wet: float = 1.0
    #: the session preset this configuration came from (reported only)
    preset: str | None = None
    #: per-stem effects, {stem: {param: value}} (see seplive.fx.params; --fx, [fx] in presets)
    fx: dict[str, dict[str, float]] = field(default_factory=dict)
    #: master look-ahead limiter on the output (adds its look-ahead to the latency)
    limiter: bool = False
    hop_samples: int | None = None
    hop_ms: float | None = None
    context_samples: int | None = None
    context_ms: float | None = None
    lookahead_samples: int | None = None
    lookahead_ms: float | None = None
    block_samples: int | None = None
    #: None: the engine's defaults (5 ms windowed, 2 ms stateful) and the plugin's budget
    crossfade_ms: float | None = None
    compute_budget_hops: float | None = None
    resample_quality: str = "HQ"
    device: str = "cpu"
    realtime: bool = False
    duration_s: float | None = None
    align: bool = False
    report: str | None = None
    plugin: Separator | None = None  # an already-built plugin (Python API, tests)
    #: live controls (OSC, MIDI...): objects with start(session) and stop(); started
    #: before the first block, stopped after the last, whatever ends the run
    controls: list[Any] = field(default_factory=list)

    @property
    def all_outputs(self) -> list[str]:
        """``output`` and ``outputs`` together, the empty ones left out."""
        return [o for o in [self.output, *self.outputs] if o]



@dataclass(frozen=True)
class RunSettings:
    """Everything ``seplive run`` was asked for, after layering and checking: the session's
    config and what only the command line does with it."""

    #: what the session runs (its ``controls`` are filled in once they are opened)
    session: SessionConfig
    #: the OSC and MIDI controls to open
    control: ControlSettings
    #: the JSON status log's path (None: none), and no status output at all
    log_json: str | None = None
    quiet: bool = False

    @property
    def preset(self) -> str | None:
        """The preset the settings came from (None: none)."""
        return self.session.preset

    @classmethod
    def build(cls, flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> RunSettings:
        """From the given flags (argparse dest -> value, absent flags absent) layered over
        SEPLIVE_* (``env``, default os.environ), the preset and the user config."""
        from .stream.files import is_file_spec

        flags = check_run_flags(flags)
        layers = layer(flag_settings(flags), env=env, preset=flags.get("preset"))
        s = layers.merged
        check_selection(list(s.get("prompts") or []), list(s.get("mute") or []))
        if not s.get("input"):
            raise CliError("no input: give --input FILE or a device (default, mic, loopback...), e.g. seplive -i loopback -p vocals")
        outputs = [o for o in (s.get("output") or []) if o.lower() != "none"]
        if not s.get("output") and not is_file_spec(s["input"]):
            outputs = ["default"]
        prompts = list(s.get("prompts") or [])
        if flags.get("query") and not prompts and not s.get("mute"):
            prompts = ["query"]
        session = SessionConfig(
            input=s["input"], outputs=list(outputs), model=s["model"], models=dict(s.get("models") or {}),
            model_options=_model_options(s, flags.get("query")), device=s["device"],
            prompts=prompts, mute=list(s.get("mute") or []), gains_db=dict(s["gain"]),
            master_db=s["master_db"], wet=s["wet"], fx=dict(s["fx"]), limiter=s["limiter"],
            hop_samples=s.get("hop"), hop_ms=s.get("hop_ms"), context_samples=s.get("context"),
            context_ms=s.get("context_ms"), lookahead_samples=s.get("lookahead"), lookahead_ms=s.get("lookahead_ms"),
            rate=s.get("rate"), channels=s.get("channels"), device_block=s.get("device_block"),
            device_latency=s.get("device_latency"), low_latency=bool(s.get("low_latency")),
            rt_priority=s["rt_priority"], allow_feedback=flags.get("allow_feedback", False),
            route=flags.get("route", True), stems_out=flags.get("stems_out"),
            block_samples=flags.get("block"), crossfade_ms=s.get("crossfade_ms"),
            compute_budget_hops=s.get("compute_budget"), resample_quality=s["resample_quality"],
            realtime=flags.get("realtime", False), duration_s=flags.get("duration"), align=flags.get("align", False),
            report=flags.get("report"), preset=layers.preset,
        )
        control = ControlSettings(osc=s.get("osc"), osc_feedback=tuple(flags.get("osc_feedback") or ()),
                                  midi=s.get("midi"), midi_port=s.get("midi_port"),
                                  midi_backend=flags.get("midi_backend"))
        return cls(session=session, control=control, log_json=s.get("log_json"), quiet=flags.get("quiet", False))


def _model_options(s: Mapping[str, Any], query: str | None) -> dict[str, Any]:
    """The plugin options: --model-opt (checked against the plugin), --checkpoint, --query
    and a non-cpu --device, which seplive passes itself."""
    options: dict[str, Any] = check_model_options(s["model"], dict(s["model_options"]))
    if s.get("checkpoint"):
        options["checkpoint"] = s["checkpoint"]
    if query:
        options["query"] = query
    if s["device"] != "cpu":
        options["device"] = s["device"]
    return options
