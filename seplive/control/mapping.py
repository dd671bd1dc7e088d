"""MIDI controller mappings: the TOML format, value curves and the MIDI decoders.

A mapping has two layers (both may live in one file; see docs/control.md):

* the **profile** says what the hardware sends: named controls, each a CC or a note on
  a channel (1-16 in files), 7- or 14-bit, absolute or a relative encoder;
* the **map** says what each named control does: a :class:`~seplive.control.targets.Target`
  (``stem.vocals.gain``...), with a curve, a range, soft takeover, button behaviour.

::

    extends = "nanokontrol2"          # optional: a shipped file's name, or a path
    [profile]
    name = "My controller"
    port = "nanoKONTROL2"             # port-name substring to open
    channel = 1                       # default channel of the controls below
    [profile.controls]
    fader1 = { cc = 0 }
    enc1   = { cc = 16, relative = "twos" }
    fine   = { cc = 1, bits = 14 }    # MSB on CC 1, LSB on CC 33
    pad1   = { note = 36, channel = 10, feedback = true }
    [map]
    fader1 = "stem.1.gain"            # short form: the target's defaults
    enc1   = { target = "stem.1.gain_db", range = [-30, 6] }
    pad1   = { target = "stem.1.mute", button = "momentary" }

Files are parsed with :mod:`tomllib` and validated field by field: nothing in a file is
ever executed.  Every error is one line naming the file, the key and what is wrong.

The pure functions at the bottom (curves, relative decoding, 14-bit pairs, soft takeover)
are what :mod:`seplive.control.midi` runs per message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import (
    ConfigError,
    boolean,
    check_keys,
    choice,
    kind_of,
    located,
    number,
    read_toml,
    shipped_dir,
    table,
    text,
)
from ..fx.params import PARAMS as FX_SPECS
from .targets import ControlError, Target, parse_target, suggest

#: where the shipped controller files live (``presets/controllers/*.toml`` of a checkout, or
#: the installed wheel's copy); None when neither is there
PRESET_DIR: Path | None = shipped_dir("controllers")

RELATIVE_ENCODINGS = ("twos", "offset64", "signbit")
CURVES = ("linear", "db", "log")
TAKEOVERS = ("pickup", "scale", "jump")
BUTTONS = ("toggle", "momentary")

CONTROL_KEYS = ("cc", "note", "channel", "bits", "relative", "feedback", "on_value", "off_value", "led", "led_channel")
MAP_KEYS = ("target", "curve", "range", "min_off", "takeover", "button", "step")
PROFILE_KEYS = ("name", "port", "channel", "controls")
TOP_KEYS = ("extends", "profile", "map")

#: how far (in control positions 0..1) a knob may be from the value and still pick it up
PICKUP_TOLERANCE = 1.5 / 127.0


class MappingError(ControlError, ConfigError):
    """A mapping file is malformed.  The message is one line: file, key, problem."""


# -- the parsed form ----------------------------------------------------------------------
@dataclass(frozen=True)
class Control:
    """A physical control of the profile.

    ``kind`` is ``cc`` or ``note``; ``number`` 0-127; ``channel`` 0-15 (files say 1-16);
    ``bits`` 7, or 14 for a CC pair (MSB on ``number``, LSB on ``number + 32``);
    ``relative`` an encoder encoding (:data:`RELATIVE_ENCODINGS`) or None for absolute;
    ``feedback``: seplive sends the state back to it (LEDs, rings, motor faders) with
    ``on_value`` / ``off_value`` for on/off states, to ``led`` / ``led_channel`` where
    the device listens elsewhere than it sends (None: the control's own number and
    channel).
    """

    name: str
    kind: str
    number: int
    channel: int
    bits: int = 7
    relative: str | None = None
    feedback: bool = False
    on_value: int = 127
    off_value: int = 0
    led: int | None = None
    led_channel: int | None = None

    @property
    def feedback_number(self) -> int:
        return self.number if self.led is None else self.led

    @property
    def feedback_channel(self) -> int:
        return self.channel if self.led_channel is None else self.led_channel


@dataclass(frozen=True)
class Binding:
    """One map entry: a control driving a target.

    ``curve``/``range``: control position 0..1 -> value; for ``linear`` the range is in
    the target's unit (linear gain, or 0..1 for wet), for ``db`` it is in dB and
    ``min_off`` makes the lowest position silence.  ``takeover`` applies to absolute
    controls, ``step`` (position change per encoder tick, 0..1) to relative ones,
    ``button`` (``toggle``/``momentary``) to on/off targets.
    """

    control: Control
    target: Target
    curve: str = "linear"
    range: tuple[float, float] = (0.0, 1.0)
    min_off: bool = False
    takeover: str = "pickup"
    button: str = "toggle"
    step: float = 1.0 / 64.0


@dataclass
class Mapping:
    """A loaded mapping: the profile's controls and the bindings that use them."""

    name: str
    source: str
    port: str | None
    controls: dict[str, Control] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)


# -- loading ---------------------------------------------------------------------------------
def shipped_mappings() -> list[str]:
    """Names of the controller files shipped in ``presets/controllers``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml")) if PRESET_DIR else []


def resolve_mapping_path(name: str | Path, relative_to: Path | None = None) -> Path:
    """A path for a mapping name: an existing path (relative to ``relative_to``'s folder
    first), else a shipped file (``nanokontrol2`` -> presets/controllers/nanokontrol2.toml)."""
    p = Path(name).expanduser()
    candidates = []
    if relative_to is not None and not p.is_absolute():
        candidates.append(relative_to.parent / p)
    candidates.append(p)
    stem = p.name.removesuffix(".toml")
    if PRESET_DIR is not None:
        candidates.append(PRESET_DIR / f"{stem}.toml")
    for c in candidates:
        if c.is_file():
            return c
    raise MappingError(
        f"{name}: no such mapping file, and no shipped controller of that name{suggest(stem, shipped_mappings())}; "
        f"shipped: {', '.join(shipped_mappings()) or 'none'}"
    )


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file (or a shipped one by name); raises :class:`MappingError`."""
    return _load(resolve_mapping_path(path), depth=0)


def _load(path: Path, depth: int) -> Mapping:
    if depth > 8:
        raise MappingError(f"{path}: extends: too many levels (a loop?)")
    try:
        data = read_toml(path)  # size and nesting caps (issue #24)
    except ValueError as exc:
        raise MappingError(str(exc)) from None
    base = None
    if "extends" in data:
        ext = data["extends"]
        if not isinstance(ext, str) or not ext:
            raise MappingError(f"{path}: extends: expected a file name or path, got {ext!r}")
        try:
            base_path = resolve_mapping_path(ext, relative_to=path)
        except MappingError as exc:
            raise MappingError(f"{path}: extends: {exc}") from None
        if base_path.resolve() == path.resolve():
            raise MappingError(f"{path}: extends: a file cannot extend itself")
        base = _load(base_path, depth + 1)
    return parse_mapping(data, source=str(path), base=base)


def parse_mapping(data: Any, source: str = "<mapping>", base: Mapping | None = None) -> Mapping:
    """Validate a decoded TOML document (a dict) into a :class:`Mapping`.

    ``base`` is the mapping it extends: its controls and bindings come first; this
    document's controls replace same-named ones, its map entries replace the bindings of
    the same control (``"none"`` removes one).  Raises :class:`MappingError`, one line
    ``file: key: what``.
    """
    try:
        return _parse(data, source, base)
    except MappingError:
        raise
    except ConfigError as exc:  # a field checker of the config kit
        raise MappingError(str(exc)) from None


def _parse(data: Any, source: str, base: Mapping | None) -> Mapping:
    if not isinstance(data, dict):
        raise MappingError(f"{source}: expected a TOML table at the top, got {type(data).__name__}")
    check_keys(data, TOP_KEYS, source)
    profile = table(data.get("profile", {}), located(source, "profile"))
    check_keys(profile, PROFILE_KEYS, source, "profile.")
    name = profile.get("name", base.name if base else Path(source).stem)
    if not isinstance(name, str):
        raise ConfigError(f"{located(source, 'profile.name')}: expected a string, got {kind_of(name)}")
    port = profile.get("port", base.port if base else None)
    if port is not None:
        port = text(port, located(source, "profile.port"))
    default_channel = _channel(profile.get("channel", 1), located(source, "profile.channel"))

    controls: dict[str, Control] = dict(base.controls) if base else {}
    raw_controls = table(profile.get("controls", {}), located(source, "profile.controls"), " of controls")
    for cname, spec in raw_controls.items():
        controls[cname] = _control(cname, spec, default_channel, source)

    bindings: dict[str, Binding] = {b.control.name: b for b in base.bindings} if base else {}
    raw_map = table(data.get("map", {}), located(source, "map"), " (control = target)")
    for cname, spec in raw_map.items():
        if spec == "none":
            bindings.pop(cname, None)
            continue
        if cname not in controls:
            raise ConfigError(f"{located(source, f'map.{cname}')}: no control '{cname}' in the profile"
                              f"{suggest(cname, list(controls))}")
        bindings[cname] = _binding(controls[cname], spec, source, f"map.{cname}")
    # a replaced control keeps its binding pointing at the new definition
    out = []
    for cname, b in bindings.items():
        c = controls[cname]
        if b.control != c:
            b = _binding(c, _binding_spec(b), source, f"map.{cname}")
        out.append(b)
    return Mapping(name=name, source=source, port=port, controls=controls, bindings=out)


#: a MIDI data byte (a CC or note number, a value sent back)
_BYTE = number(0, 127, integer=True)
_CHANNEL = number(1, 16, integer=True, note=" (MIDI channels count from 1)")


def _channel(v: Any, where: str) -> int:
    """A channel as files give it (1-16) -> as MIDI sends it (0-15)."""
    return _CHANNEL(v, where) - 1


def _control(cname: str, spec: Any, default_channel: int, source: str) -> Control:
    key = f"profile.controls.{cname}"
    at = located(source, key)
    table(spec, at, " like { cc = 7 } or { note = 36 }")
    check_keys(spec, CONTROL_KEYS, source, key + ".")
    if ("cc" in spec) == ("note" in spec):
        raise ConfigError(f"{at}: give exactly one of cc = N or note = N")
    kind = "cc" if "cc" in spec else "note"
    num = _BYTE(spec[kind], f"{at}.{kind}")
    channel = _channel(spec["channel"], f"{at}.channel") if "channel" in spec else default_channel
    bits = spec.get("bits", 7)
    if type(bits) is not int or bits not in (7, 14):
        raise ConfigError(f"{at}.bits: expected 7 or 14, got {bits!r}")
    if bits == 14 and (kind != "cc" or num > 31):
        raise ConfigError(f"{at}.bits: 14-bit controls are CC 0-31 (the LSB comes on CC n+32)")
    relative = spec.get("relative")
    if relative is not None:
        if kind != "cc":
            raise ConfigError(f"{at}.relative: relative encoders send CCs, not notes")
        relative = choice(*RELATIVE_ENCODINGS, what="encoding")(relative, f"{at}.relative")
        if bits == 14:
            raise ConfigError(f"{at}.relative: a relative encoder is 7-bit")
    feedback = boolean(spec.get("feedback", False), f"{at}.feedback")
    on = _BYTE(spec.get("on_value", 127), f"{at}.on_value")
    off = _BYTE(spec.get("off_value", 0), f"{at}.off_value")
    led = _BYTE(spec["led"], f"{at}.led") if "led" in spec else None
    if led is not None and bits == 14 and led > 31:
        raise ConfigError(f"{at}.led: a 14-bit control's feedback goes to CC 0-31 (and n+32)")
    led_channel = _channel(spec["led_channel"], f"{at}.led_channel") if "led_channel" in spec else None
    return Control(cname, kind, num, channel, bits, relative, feedback, on, off, led, led_channel)


def _binding_spec(b: Binding) -> dict[str, Any]:
    return {
        "target": str(b.target),
        "curve": b.curve,
        "range": list(b.range),
        "min_off": b.min_off,
        "takeover": b.takeover,
        "button": b.button,
        "step": b.step,
    }


_FINITE = number()


def _binding(control: Control, spec: Any, source: str, key: str) -> Binding:
    """One ``[map]`` entry (a target string or a table) for ``control``."""
    at = located(source, key)
    if isinstance(spec, str):
        spec = {"target": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f'{at}: expected a target string like "stem.vocals.gain" or a table, got {kind_of(spec)}')
    check_keys(spec, MAP_KEYS, source, key + ".")
    target, default_curve = _target(control, spec, at)
    curve = _curve(spec, target, default_curve, at)
    lo, hi = _range(spec, target, curve, at)
    min_off = boolean(spec.get("min_off", curve == "db"), f"{at}.min_off")
    takeover = choice(*TAKEOVERS, what="mode")(spec.get("takeover", "pickup"), f"{at}.takeover")
    button = choice(*BUTTONS, what="mode")(spec.get("button", "toggle"), f"{at}.button")
    step = _FINITE(spec.get("step", 1.0 / 64.0), f"{at}.step")
    if not 0 < step <= 1:
        raise ConfigError(f"{at}.step: {step} is not in (0, 1] (position change per encoder tick)")
    return Binding(control, target, curve, (float(lo), float(hi)), min_off, takeover, button, float(step))


def _target(control: Control, spec: dict[str, Any], at: str) -> tuple[Target, str]:
    """The entry's target, checked against the control that drives it, and its default curve."""
    if "target" not in spec:
        raise ConfigError(f'{at}: missing target (e.g. target = "stem.vocals.gain")')
    try:
        target = parse_target(spec["target"])
    except ControlError as exc:
        raise ConfigError(f"{at}.target: {exc}") from None
    if not target.is_continuous:
        if control.relative:
            raise ConfigError(f"{at}: {target} is on/off: map it to a button, not the relative encoder '{control.name}'")
        return target, "linear"
    if control.kind != "cc":
        raise ConfigError(f"{at}: {target} takes a fader, knob or encoder (a CC), and '{control.name}' is a note")
    if target.is_fx and FX_SPECS[target.fx_param].log:
        return target, "log"  # cutoffs and Q: even steps in pitch
    return target, "db" if target.is_db else "linear"


def _curve(spec: dict[str, Any], target: Target, default: str, at: str) -> str:
    curve = choice(*CURVES, what="curve")(spec.get("curve", default), f"{at}.curve")
    if target.is_db and curve != "db":
        raise ConfigError(f'{at}.curve: {target} is in dB: use curve = "db" (or the linear target without _db)')
    if curve == "db" and not target.is_gain:
        raise ConfigError(f'{at}.curve: curve "db" is for gains; {target} is not one')
    return curve


def _range(spec: dict[str, Any], target: Target, curve: str, at: str) -> tuple[float, float]:
    """The entry's ``range = [low, high]`` in the curve's unit (dB for ``db``), checked."""
    if curve == "db":
        default = (-60.0, 6.0) if target.is_db else (-60.0, 0.0)
    elif target.is_fx:
        default = (FX_SPECS[target.fx_param].lo, FX_SPECS[target.fx_param].hi)
    else:
        default = (0.0, 1.0)
    rng = spec.get("range", list(default))
    if not isinstance(rng, list) or len(rng) != 2:
        raise ConfigError(f"{at}.range: expected [low, high], got {rng!r}")
    lo, hi = (float(_FINITE(x, f"{at}.range")) for x in rng)
    rules = (  # (refused when, why), the first that holds is the message
        (lo == hi, "low and high are equal"),
        (curve == "log" and min(lo, hi) <= 0, 'a "log" curve needs a range above 0'),
        (curve == "linear" and target.is_gain and min(lo, hi) < 0, 'a linear gain range is >= 0 (use curve = "db" for dB)'),
        (target.param == "wet" and not (0 <= lo <= 1 and 0 <= hi <= 1), "wet goes from 0 to 1"),
        (curve == "db" and max(lo, hi) > 24, "gains go up to +24 dB"),
    )
    for refused, why in rules:
        if refused:
            raise ConfigError(f"{at}.range: {why}")
    return lo, hi


# -- value curves ----------------------------------------------------------------------------
def position_to_value(b: Binding, u: float) -> float:
    """Control position ``u`` (0..1) -> the target's value (linear gain, dB, or 0..1).

    ``db`` curves are linear in dB over the range; with ``min_off`` the lowest
    position is silence (-inf dB / gain 0).
    """
    u = min(max(float(u), 0.0), 1.0)
    lo, hi = b.range
    if b.curve == "db":
        if b.min_off and u <= 0.0:
            return -math.inf if b.target.is_db else 0.0
        db = lo + u * (hi - lo)
        return db if b.target.is_db else 10.0 ** (db / 20.0)
    if b.curve == "log":
        return lo * (hi / lo) ** u
    return lo + u * (hi - lo)


def value_to_position(b: Binding, value: float | bool | None) -> float:
    """The inverse of :func:`position_to_value`, clipped to 0..1 (for takeover,
    relative encoders and feedback)."""
    if value is None:
        return 0.0
    v = float(value)
    lo, hi = b.range
    if b.curve == "db":
        if not b.target.is_db:
            v = -math.inf if v <= 0 else 20.0 * math.log10(v)
        if math.isinf(v) and v < 0:
            u = 0.0
        else:
            u = (v - lo) / (hi - lo)
            if b.min_off and u <= 0.0 and v <= -119.0:  # silence sits at the bottom
                u = 0.0
    elif b.curve == "log":
        u = math.log(max(v, 1e-12) / lo) / math.log(hi / lo)
    else:
        u = (v - lo) / (hi - lo)
    return min(max(u, 0.0), 1.0)


# -- MIDI decoding ---------------------------------------------------------------------------
def decode_relative(value: int, encoding: str) -> int:
    """Ticks (signed) from one relative-encoder CC value (0-127).

    ``twos``: two's complement (1..63 up, 127..64 = -1..-64);
    ``offset64``: binary offset (65 = +1, 63 = -1, 64 = 0);
    ``signbit``: sign and magnitude (1..63 up, 65..127 = -1..-63, bit 6 = minus).
    """
    v = int(value) & 0x7F
    if encoding == "twos":
        return v - 128 if v >= 64 else v
    if encoding == "offset64":
        return v - 64
    if encoding == "signbit":
        return -(v & 0x3F) if v & 0x40 else v
    raise ValueError(f"unknown relative encoding {encoding!r}")


class Cc14:
    """Joins a 14-bit CC pair: MSB on CC n, LSB on CC n+32 (MIDI 1.0 spec: a new MSB
    clears the LSB, an LSB refines the last MSB).  :meth:`feed` returns the 14-bit
    value (0..16383) after each message."""

    def __init__(self) -> None:
        self.msb = 0
        self.lsb = 0

    def feed(self, is_lsb: bool, value: int) -> int:
        if is_lsb:
            self.lsb = int(value) & 0x7F
        else:
            self.msb = int(value) & 0x7F
            self.lsb = 0
        return (self.msb << 7) | self.lsb


class Takeover:
    """Soft takeover for an absolute control: decides which control moves change the
    value, so a knob that is not where the value is does not make it jump.

    ``pickup``: ignore the control until it reaches or crosses the current value;
    ``scale``: move the value proportionally so that it meets the control at the end of
    its travel; ``jump``: the value follows the control at once.  Positions are 0..1.
    Control and value are "in sync" after a pickup, and fall out of sync when the value
    changes from elsewhere (another control, OSC).
    """

    def __init__(self, mode: str, tolerance: float = PICKUP_TOLERANCE) -> None:
        if mode not in TAKEOVERS:
            raise ValueError(f"unknown takeover mode {mode!r}")
        self.mode = mode
        self.tolerance = tolerance
        self.last_control: float | None = None
        self.last_written: float | None = None
        self.synced = False

    def feed(self, u: float, current: float) -> float | None:
        """Control moved to ``u``; ``current`` is where the value is now (as a position).
        Returns the position to set, or None to leave the value alone."""
        tol = self.tolerance
        if self.last_written is not None and abs(current - self.last_written) > tol:
            self.synced = False  # moved from elsewhere
        prev, self.last_control = self.last_control, u
        if self.mode == "jump" or self.synced:
            self.synced = True
            self.last_written = u
            return u
        crossed = abs(u - current) <= tol or (prev is not None and min(prev, u) - tol <= current <= max(prev, u) + tol)
        if crossed:
            self.synced = True
            self.last_written = u
            return u
        if self.mode == "pickup" or prev is None or prev == u:
            return None
        # scale: close the gap in proportion to the travel left in this direction
        if u > prev:
            new = current + (u - prev) * (1.0 - current) / max(1.0 - prev, 1e-9)
        else:
            new = current - (prev - u) * current / max(prev, 1e-9)
        new = min(max(new, 0.0), 1.0)
        if abs(new - u) <= tol:
            self.synced = True
            new = u
        self.last_written = new
        return new
