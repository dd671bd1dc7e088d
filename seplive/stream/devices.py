"""Finding audio devices: by index, by name, the defaults, and the system's loopback.

Device specs (``--input`` / ``--output``):

* ``default`` (``mic`` for input): the system default;
* an integer: a PortAudio device index (``seplive devices`` lists them);
* a name substring, optionally ``"name, host api"`` (as python-sounddevice matches);
* on Linux, the name of a PulseAudio/PipeWire sink or source (``app_out``,
  ``alsa_output.pci-0000_00_1f.3.analog-stereo.monitor``...): reached through the ALSA
  ``pulse`` device with ``PULSE_SINK`` / ``PULSE_SOURCE`` set, since Debian's PortAudio has
  no PulseAudio host API;
* ``loopback`` (input): what the system is playing.  Linux: the monitor of the default
  sink; macOS: a BlackHole / Loopback / Soundflower device; Windows: "Stereo Mix" or a
  VB-CABLE output (this PortAudio build has no WASAPI loopback).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

#: names of devices that carry what the system plays, by platform habit
LOOPBACK_NAME_HINTS = ("monitor", "loopback", "blackhole", "soundflower", "stereo mix", "what u hear", "cable output", "wave out")


class DeviceError(RuntimeError):
    """No device matches, several do, or one cannot be used (the message says what to do)."""


@dataclass
class DeviceChoice:
    """A resolved device: the PortAudio index plus environment the stream needs."""

    index: int
    name: str
    hostapi: str
    kind: str  # "input" | "output"
    channels: int
    default_samplerate: float
    #: environment variables to set before opening the stream (PULSE_SOURCE/PULSE_SINK)
    env: dict[str, str] = field(default_factory=dict)
    #: what the user asked for and what it resolved to, for the log
    description: str = ""
    #: for PulseAudio sinks/sources: the sink whose audio this is (input: monitor of;
    #: output: plays to) -- the feedback guard compares these
    pulse_sink: str | None = None


def _sd():
    import sounddevice

    return sounddevice


def refresh() -> None:
    """Re-scan devices (PortAudio only enumerates them when it starts)."""
    sd = _sd()
    sd._terminate()
    sd._initialize()


def list_devices() -> list[dict]:
    """Every PortAudio device with host API, channels, default rate, defaults and
    whether it looks like a loopback source."""
    sd = _sd()
    apis = sd.query_hostapis()
    default_in, default_out = sd.default.device
    out = []
    for i, d in enumerate(sd.query_devices()):
        name = d["name"]
        out.append(
            {
                "index": i,
                "name": name,
                "hostapi": apis[d["hostapi"]]["name"],
                "max_input_channels": d["max_input_channels"],
                "max_output_channels": d["max_output_channels"],
                "default_samplerate": d["default_samplerate"],
                "default_input": i == default_in or (default_in < 0 and i == apis[d["hostapi"]]["default_input_device"] and d["hostapi"] == 0),
                "default_output": i == default_out or (default_out < 0 and i == apis[d["hostapi"]]["default_output_device"] and d["hostapi"] == 0),
                "loopback_candidate": d["max_input_channels"] > 0 and any(h in name.lower() for h in LOOPBACK_NAME_HINTS),
            }
        )
    return out


# -- PulseAudio / PipeWire through pactl -----------------------------------------------------
def _pactl(*args: str) -> str | None:
    if shutil.which("pactl") is None:
        return None
    try:
        r = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def pulse_info() -> dict[str, str] | None:
    """``pactl info`` as a dict, or None when no PulseAudio/PipeWire server answers."""
    text = _pactl("info")
    if text is None:
        return None
    info = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            info[k.strip()] = v.strip()
    return info


def pulse_names(kind: str) -> list[str]:
    """Names of PulseAudio ``sinks`` or ``sources``."""
    text = _pactl("list", "short", kind)
    if not text:
        return []
    return [line.split("\t")[1] for line in text.splitlines() if "\t" in line]


def _pulse_device_index(kind: str) -> int | None:
    """The PortAudio device that reaches PulseAudio: ALSA's ``pulse`` (or ``default``)."""
    sd = _sd()
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    devices = sd.query_devices()
    for wanted in ("pulse", "default"):
        for i, d in enumerate(devices):
            if d["name"] == wanted and d[key] > 0:
                return i
    return None


def _choice(index: int, kind: str, description: str, env: dict[str, str] | None = None, pulse_sink: str | None = None) -> DeviceChoice:
    sd = _sd()
    d = sd.query_devices(index)
    api = sd.query_hostapis(d["hostapi"])["name"]
    ch = d["max_input_channels"] if kind == "input" else d["max_output_channels"]
    return DeviceChoice(index, d["name"], api, kind, int(ch), float(d["default_samplerate"]), env or {}, description, pulse_sink)


def _via_pulse(kind: str, pulse_name: str, description: str) -> DeviceChoice:
    index = _pulse_device_index(kind)
    if index is None:
        raise DeviceError(
            f"PulseAudio has {'source' if kind == 'input' else 'sink'} '{pulse_name}', but PortAudio has no ALSA 'pulse'"
            " device to reach it: install libasound2-plugins"
        )
    var = "PULSE_SOURCE" if kind == "input" else "PULSE_SINK"
    sink = pulse_name.removesuffix(".monitor") if kind == "input" and pulse_name.endswith(".monitor") else (pulse_name if kind == "output" else None)
    return _choice(index, kind, description, {var: pulse_name}, pulse_sink=sink)


def _describe_candidates(kind: str) -> str:
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    names = [f"{d['index']}: {d['name']} ({d['hostapi']})" for d in list_devices() if d[key] > 0]
    return "; ".join(names) if names else "none"


def resolve(spec: str | int | None, kind: str) -> DeviceChoice:
    """Resolve a device spec (see the module docstring) for ``kind`` = input or output."""
    sd = _sd()
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    text = "default" if spec is None else str(spec).strip()
    low = text.lower()
    if kind == "input" and low == "loopback":
        return find_loopback()
    if low in ("default", "mic" if kind == "input" else "default", ""):
        if kind == "output" and pulse_info() is not None:
            sink = pulse_info().get("Default Sink")
            index = _pulse_device_index(kind)
            if sink and index is not None:
                return _choice(index, kind, f"default output: PulseAudio sink '{sink}'", {"PULSE_SINK": sink}, pulse_sink=sink)
        try:
            index = sd.default.device[0 if kind == "input" else 1]
            if index is None or index < 0:
                index = sd.query_devices(kind=kind)["index"]
        except (ValueError, sd.PortAudioError):
            raise DeviceError(f"there is no default {kind} device; {kind}s: {_describe_candidates(kind)}") from None
        return _choice(int(index), kind, f"default {kind}")
    if re.fullmatch(r"\d+", text):
        index = int(text)
        devices = sd.query_devices()
        if index >= len(devices):
            raise DeviceError(f"no {kind} device number {index}; {kind}s: {_describe_candidates(kind)}")
        if devices[index][key] < 1:
            raise DeviceError(f"device {index} ({devices[index]['name']}) has no {kind} channels")
        return _choice(index, kind, f"device {index}")
    # a PulseAudio sink/source named exactly so (also when an ALSA device shares the name)
    pulse_up = pulse_info() is not None
    if pulse_up and text in pulse_names("sources" if kind == "input" else "sinks"):
        return _via_pulse(kind, text, f"PulseAudio {'source' if kind == 'input' else 'sink'} '{text}'")
    # PortAudio name match (sounddevice's rules: substrings, "name, api")
    try:
        index = sd.query_devices(text, kind=kind)["index"]
        return _choice(int(index), kind, f"'{text}'")
    except ValueError as exc:
        portaudio_error = str(exc)
    # a PulseAudio sink/source by part of its name
    if pulse_up:
        names = pulse_names("sources" if kind == "input" else "sinks")
        exact = [n for n in names if n == text]
        partial = [n for n in names if text.lower() in n.lower()]
        match = exact or partial
        if len(match) == 1:
            return _via_pulse(kind, match[0], f"PulseAudio {'source' if kind == 'input' else 'sink'} '{match[0]}'")
        if len(match) > 1:
            raise DeviceError(f"'{text}' matches several PulseAudio {kind}s: {', '.join(match)}; give more of the name")
    if "multiple" in portaudio_error.lower():
        raise DeviceError(f"'{text}' matches several {kind} devices; give more of the name. {kind}s: {_describe_candidates(kind)}")
    raise DeviceError(f"no {kind} device matches '{text}'; {kind}s: {_describe_candidates(kind)}")


def find_loopback() -> DeviceChoice:
    """The system's own output as an input device, or a clear DeviceError."""
    info = pulse_info()
    if info is not None:
        sink = info.get("Default Sink")
        sources = pulse_names("sources")
        if sink and f"{sink}.monitor" in sources:
            return _via_pulse("input", f"{sink}.monitor", f"loopback: monitor of the default sink '{sink}' ({info.get('Server Name', 'PulseAudio')})")
    sd = _sd()
    candidates = [d for d in list_devices() if d["loopback_candidate"]]
    if len(candidates) >= 1:
        best = sorted(candidates, key=lambda d: (("monitor" not in d["name"].lower()), d["index"]))[0]
        return _choice(best["index"], "input", f"loopback: '{best['name']}'")
    if sys.platform.startswith("linux"):
        how = (
            "no PulseAudio/PipeWire server answered and no monitor device exists. With PulseAudio or PipeWire running,"
            " the default sink's monitor is used; to make a virtual one: pactl load-module module-null-sink sink_name=seplive"
            " (play into 'seplive', then run seplive --input loopback)"
        )
    elif sys.platform == "darwin":
        how = "install BlackHole (or Loopback / Soundflower), route your output to it, then run seplive --input loopback"
    else:
        how = 'enable "Stereo Mix" in the Sound control panel or install VB-CABLE, then run seplive --input loopback'
    del sd
    raise DeviceError(f"no loopback input found: {how}. Inputs: {_describe_candidates('input')}")


def apply_env(choice: DeviceChoice) -> dict[str, str | None]:
    """Set the variables a stream on ``choice`` needs; returns the old values."""
    old = {}
    for k, v in choice.env.items():
        old[k] = os.environ.get(k)
        os.environ[k] = v
    return old


def restore_env(old: dict[str, str | None]) -> None:
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def pulse_sink_details(name: str) -> dict[str, object] | None:
    """``pactl list sinks`` for sink ``name``: its owner module and properties (None: no such sink)."""
    text = _pactl("list", "sinks")
    if not text:
        return None
    for block in text.split("\nSink #"):
        lines = block.splitlines()
        if not any(ln.strip() == f"Name: {name}" for ln in lines):
            continue
        out: dict[str, object] = {"module": None, "properties": {}}
        props: dict[str, str] = {}
        in_props = False
        for ln in lines:
            st = ln.strip()
            if st.startswith("Owner Module:"):
                out["module"] = st.split(":", 1)[1].strip()
            if st == "Properties:":
                in_props = True
                continue
            if in_props:
                if ln.startswith("\t\t") and " = " in st:
                    k, _, v = st.partition(" = ")
                    props[k.strip()] = v.strip().strip('"')
                elif not ln.startswith("\t\t"):
                    in_props = False
        out["properties"] = props
        return out
    return None


def _seplive_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"seplive" in f.read()
    except OSError:
        return True  # no /proc to ask: assume it is


def repair_stale_route(refuse_if_alive: bool = True) -> str | None:
    """Undo a ``seplive_capture`` route left by a seplive that is gone: move its applications
    back, restore the default sink, remove the sink.  Returns what was done (None: nothing
    to repair); if the seplive that made it still runs, raises :class:`DeviceError`
    (``refuse_if_alive``) or leaves it alone."""
    sink = PulseRoute.SINK
    details = pulse_sink_details(sink)
    if details is None:
        return None
    props = details["properties"]
    assert isinstance(props, dict)
    pid = int(props.get("seplive.pid", "0")) if str(props.get("seplive.pid", "0")).isdigit() else 0
    if _seplive_alive(pid):
        if not refuse_if_alive:
            return None
        raise DeviceError(f"another seplive (pid {pid}) is routing the system's audio through '{sink}': stop it first,"
                          " or run this one with --no-route and another --output")
    sinks = [n for n in pulse_names("sinks") if n != sink]
    back = props.get("seplive.speakers")
    if back not in sinks:
        back = sinks[0] if sinks else None
    info = pulse_info() or {}
    if back is not None and info.get("Default Sink") == sink:
        _pactl("set-default-sink", back)
    if back is not None:
        for sink_input in PulseRoute._inputs_on(sink):
            _pactl("move-sink-input", sink_input, back)
    if details["module"] and str(details["module"]).isdigit():
        _pactl("unload-module", str(details["module"]))
    import logging

    what = f"repaired the routing a stopped seplive left: '{sink}' removed, applications and the default sink back on '{back}'"
    logging.getLogger("seplive").warning("%s", what)
    return what


class PulseRoute:
    """Put seplive between the applications and the speakers (PulseAudio/PipeWire).

    Capturing the default sink's monitor and playing back to that same sink would feed
    back.  Instead: create a null sink ``seplive_capture``, make it the default, move the
    playing streams onto it, capture its monitor, and play to the sink that was the
    default.  :meth:`close` moves the streams back, restores the default and removes the
    sink; it runs however the session ends.
    """

    SINK = "seplive_capture"

    def __init__(self) -> None:
        info = pulse_info()
        if info is None or not info.get("Default Sink"):
            raise DeviceError("no PulseAudio/PipeWire server with a default sink answered")
        if self.SINK in pulse_names("sinks"):
            # a capture sink left by a seplive that was killed (SIGKILL, a crash, a power cut):
            # put the system's audio back first, unless that seplive is still running
            repair_stale_route()
            info = pulse_info() or info
        self.speakers = info["Default Sink"]
        if self.speakers == self.SINK:
            raise DeviceError(f"the default sink is still '{self.SINK}' and could not be repaired: pactl set-default-sink"
                              " YOUR_SPEAKERS, then pactl unload-module module-null-sink")
        self.moved: list[str] = []
        self.closed = False
        self.recreated = 0
        self._load()

    def _load(self) -> None:
        # norewinds: a stream moved in with seconds of audio buffered must not be rewound;
        # the properties say who made the sink and where the audio goes back to (repair)
        props = f'device.description={self.SINK} seplive.pid={os.getpid()} seplive.speakers={self.speakers}'
        text = _pactl("load-module", "module-null-sink", f"sink_name={self.SINK}", "norewinds=1",
                      f"sink_properties='{props}'")
        if text is None or not text.strip().isdigit():
            raise DeviceError("could not create the capture sink (pactl load-module module-null-sink failed)")
        self.module = text.strip()

    def ensure(self, names: dict[str, list[str]] | None = None) -> bool:
        """Re-create the route if the capture sink is gone while PulseAudio answers (it was
        restarted, or someone unloaded the sink); True when it did.  Called by the device
        watcher; the input on the sink's monitor then comes back like any returning device."""
        if self.closed:
            return False
        sinks = (names or {}).get("sinks") if names is not None else pulse_names("sinks")
        if not sinks or self.SINK in sinks or self.speakers not in sinks:
            return False  # the server is down (nothing listed), the route is there, or nowhere to play
        self._load()
        self.moved = []
        self.engage()
        self.recreated += 1
        import logging

        logging.getLogger("seplive").warning(
            "loopback: the capture sink '%s' was gone (PulseAudio restarted?): routed again", self.SINK)
        return True

    def engage(self) -> None:
        """Send the applications into the capture sink (call when seplive is ready to play:
        from here until the first output, they are silent)."""
        _pactl("set-default-sink", self.SINK)
        for sink_input in self._inputs_on(self.speakers):
            if _pactl("move-sink-input", sink_input, self.SINK) is not None:
                self.moved.append(sink_input)

    @staticmethod
    def _inputs_on(sink: str) -> list[str]:
        sinks = {}
        for line in (_pactl("list", "short", "sinks") or "").splitlines():
            cols = line.split("\t")
            if len(cols) > 1:
                sinks[cols[0]] = cols[1]
        out = []
        for line in (_pactl("list", "short", "sink-inputs") or "").splitlines():
            cols = line.split("\t")
            if len(cols) > 1 and sinks.get(cols[1]) == sink:
                out.append(cols[0])
        return out

    def describe(self) -> str:
        return (f"routing the system's audio through seplive: applications now play into '{self.SINK}',"
                f" seplive plays to '{self.speakers}' (restored on exit)")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        _pactl("set-default-sink", self.speakers)
        for sink_input in self._inputs_on(self.SINK):
            _pactl("move-sink-input", sink_input, self.speakers)
        _pactl("unload-module", self.module)
