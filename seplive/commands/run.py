"""``seplive run``: separate and remix a stream, from the flags to a running Session.

The flags (absent ones stay absent) are layered over SEPLIVE_*, the preset and the user
config into one :class:`seplive.settings.RunSettings`, whose SessionConfig the session runs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from ..presets import PresetSwitcher
from ..session import Session, SessionConfig
from ..settings import CliError, ControlSettings, RunSettings
from ..status import JsonStatusLog, LiveView
from .common import add_windowing, say

PARSER = {
    "help": "separate and remix a stream (default)",
    "argument_default": argparse.SUPPRESS,
    "description": "Separate and remix a stream: a file or a live device, through a separation model, to files\n"
    "or devices. Settings not given as flags come from SEPLIVE_* variables (SEPLIVE_MODEL, SEPLIVE_HOP_MS...),\n"
    "then --preset, then the user config (~/.config/seplive/config.toml, or SEPLIVE_CONFIG), then defaults.",
    "epilog": "examples:\n  seplive --input loopback --prompts vocals\n  seplive --preset karaoke -i song.wav -o out.wav\n"
    "  seplive -i mic --prompts speech --osc 9000 --midi nanokontrol2",
    "formatter_class": argparse.RawDescriptionHelpFormatter,
}


# -- the flags (a declarative table, by group) ---------------------------------------------------
def _io_args(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    io = p.add_argument_group("input and output")
    io.add_argument(
        "-i", "--input",
        help="an audio file (wav, flac, ogg...) or a device: default/mic, loopback (what the system plays),"
        " a device number or name (see 'seplive devices'), a PulseAudio source name",
    )
    io.add_argument(
        "-o", "--output", action="append", default=[],
        help="an audio file or a device (default, a number, a name, a PulseAudio sink); repeat to play and record;"
        " 'none' for no main output (with --stems-out). Default for a device input: the default output",
    )
    io.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this much input")
    io.add_argument("--realtime", action="store_true", help="pace file input to the clock, as a live source is")
    return io


def _device_args(p: argparse.ArgumentParser) -> None:
    dev = p.add_argument_group("devices")
    dev.add_argument("--rate", type=int, help="device sample rate (default: the model's, else 48000)")
    dev.add_argument("--channels", type=int, help="input channels to capture (default: 2, or 1 for a mono device)")
    dev.add_argument("--device-block", type=int, metavar="FRAMES", help="device block size (default 512)")
    dev.add_argument("--device-latency", help="PortAudio latency: high, low or seconds (default high)")
    dev.add_argument("--low-latency", action="store_true",
                     help="the smallest safe device buffers for the host API: JACK's 128-frame periods, 256 frames"
                     " elsewhere, PortAudio's low latency, an output reserve of two blocks (says what it chose)")
    dev.add_argument("--rt-priority", type=int, metavar="N",
                     help="live: SCHED_FIFO priority of the audio and model threads, 1-95 (default 50; 0: normal"
                     " scheduling; needs root or an rtprio limit, else it runs normally and the report says so)")
    dev.add_argument("--allow-feedback", action="store_true", help="allow capturing the device being played to")
    dev.add_argument(
        "--no-route", dest="route", action="store_false",
        help="Linux: with --input loopback and the default output, do not route the applications through a"
        " capture sink (then it is refused as feedback)",
    )
    dev.add_argument(
        "--stems-out", metavar="DEVICE|DIR/",
        help="every selected stem and 'rest' on its own channels of a multichannel device (for a DAW; the layout is"
        " printed and reported), or one file per stem in a folder (a name ending in /)",
    )


def _model_args(p: argparse.ArgumentParser) -> None:
    pre = p.add_argument_group("presets (see 'seplive presets'; flags > SEPLIVE_* > preset > user config > defaults)")
    pre.add_argument("-P", "--preset", metavar="NAME|FILE", help="start from a session preset: karaoke, acapella, dialogue...")
    m = p.add_argument_group("model")
    m.add_argument(
        "-m", "--model", action="append", metavar="NAME|PROMPT=NAME",
        help="separation plugin (see 'seplive models'; default: native, seplive's own network); PROMPT=NAME serves one"
        " prompt from another plugin: -m native -m speech=dfn3 (repeatable)",
    )
    m.add_argument("--checkpoint", help="weights file for models that need one")
    m.add_argument("--device", help="compute device for neural models: cpu, cuda, cuda:1 ... (default cpu)")
    m.add_argument("--model-opt", action="append", metavar="KEY=VALUE", help="plugin option (repeatable)")
    m.add_argument(
        "--query", metavar="CLIP",
        help="audio-query conditioning (models that support it, e.g. lasaft): separate what sounds like this clip;"
        " the stem is called 'query'",
    )


def _mix_args(p: argparse.ArgumentParser) -> None:
    mix = p.add_argument_group("mix")
    mix.add_argument("-p", "--prompts", nargs="+", metavar="P", help="stems to play (isolate); 'rest' = everything else")
    mix.add_argument("--mute", nargs="+", metavar="P", help="stems to remove (karaoke: --mute vocals)")
    mix.add_argument("--gain", action="append", metavar="STEM=DB", help="stem gain in dB (repeatable)")
    mix.add_argument("--master-db", type=float, metavar="DB", help="output gain in dB (default 0)")
    mix.add_argument("--wet", type=float, metavar="0..1", help="0 = the dry input, 1 = the separated mix (default 1)")
    mix.add_argument(
        "--fx", action="append", metavar="STEM.PARAM=VALUE",
        help="a stem effect, e.g. drums.lowpass=800, vocals.reverb.mix=0.3 (repeatable; see docs/fx.md; needs seplive[fx])",
    )
    mix.add_argument(
        "--limiter", action=argparse.BooleanOptionalAction,
        help="master look-ahead limiter: the output never clips (adds 1.5 ms latency; default off)",
    )


def _window_args(p: argparse.ArgumentParser) -> None:
    w = p.add_argument_group("windowing (model-rate samples, or milliseconds)")
    add_windowing(w)
    w.add_argument("--block", type=int, metavar="SAMPLES", help="source frames per engine block (default: one hop)")
    w.add_argument("--crossfade-ms", type=float, help="overlap and fallback crossfade (default: 5 for windowed models, 2 for stateful ones, whose"
                   " fade is only around a missed hop)")
    w.add_argument("--compute-budget", type=float, metavar="HOPS", help="model time per hop live, in hops (default: the model's own: 1 for most, 0.75 for native)")
    w.add_argument("--resample-quality", choices=("QQ", "LQ", "MQ", "HQ", "VHQ"), help="soxr quality when rates differ (default HQ; LQ halves the delay but cuts above ~0.3 x rate)")


def _control_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live control (see docs/control.md)")
    g.add_argument("--osc", metavar="[HOST:]PORT", help="OSC control on this UDP port (127.0.0.1 unless HOST; 0.0.0.0 = network)")
    g.add_argument("--osc-feedback", action="append", metavar="HOST:PORT", help="send OSC feedback there from the start")
    g.add_argument("--midi", metavar="MAP", help="MIDI control: nanokontrol2, launchcontrolxl, xtouchmini, mpkminimk3, or a mapping .toml")
    g.add_argument("--midi-port", metavar="SUBSTRING", help="MIDI input name substring (default: the map's port)")
    g.add_argument("--midi-backend", metavar="BACKEND", help="mido backend, e.g. mido.backends.rtmidi/UNIX_JACK")


def _report_args(p: argparse.ArgumentParser) -> None:
    o = p.add_argument_group("reporting")
    o.add_argument("--report", metavar="PATH", help="write a JSON run report")
    o.add_argument(
        "--log-json", metavar="PATH",
        help="append one JSON status line per second to PATH ('-' = stderr), for machines",
    )
    o.add_argument("-q", "--quiet", action="store_true", help="no live status view; print nothing but errors")


def add_arguments(p: argparse.ArgumentParser) -> None:
    io = _io_args(p)
    _device_args(p)
    io.add_argument(
        "--align",
        action="store_true",
        help="files only: shift the output back by the latency so it lines up with the input",
    )
    for group in (_model_args, _mix_args, _window_args, _control_args, _report_args):
        group(p)


# -- the run -------------------------------------------------------------------------------------
def host_port(text: str, where: str = "--osc") -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); port 0 (any free one) only for ``--osc``."""
    from ..validate import port

    return port(text, where, allow_zero=where == "--osc")


def build_controls(c: ControlSettings, on_preset=None) -> list:
    """OSC and MIDI controls from the settings (opened now: a busy port fails before audio)."""
    if not c.osc and not c.midi:
        return []
    osc_at = host_port(c.osc) if c.osc else None
    feedback = tuple(host_port(s, "--osc-feedback") for s in c.osc_feedback)
    controls: list = []
    try:
        if osc_at:
            from ..control.osc import OscControl

            controls.append(OscControl(osc_at[1], osc_at[0], subscribers=feedback, on_preset=on_preset))
        if c.midi:
            from ..control.midi import MidiControl

            controls.append(MidiControl(c.midi_port, c.midi, backend=c.midi_backend, on_preset=on_preset))
    except (OSError, ValueError) as exc:  # MappingError and ControlError are ValueErrors
        _close(controls)
        raise CliError(str(exc)) from None
    return controls


def _close(controls: list) -> None:
    for c in controls:
        c.close()


def _check_destinations(cfg: SessionConfig, log_json: str | None) -> None:
    """Every destination before anything opens (Session checks them again, for the API)."""
    from ..stream.files import is_file_spec
    from ..validate import check_destinations

    check_destinations(cfg, live=not is_file_spec(cfg.input), log_json=log_json)
    if log_json and log_json != "-":
        try:
            open(log_json, "a").close()
        except OSError as exc:
            raise CliError(f"--log-json {log_json}: {exc.strerror or exc}") from None


def _open_session(cfg: SessionConfig, preset: str | None) -> Session:
    from ..models.base import SeparatorError

    try:
        return Session(cfg)
    except SeparatorError as exc:
        missing = str(exc)
        if preset and "has no prompt" in missing:
            raise CliError(f"{missing}; preset {preset!r} needs it: {models_with_prompts(cfg)}") from None
        raise


def main(args: argparse.Namespace) -> int:
    settings = RunSettings.build(vars(args))
    switcher = PresetSwitcher(settings.preset)
    controls = build_controls(settings.control, on_preset=switcher)
    try:
        cfg = replace(settings.session, controls=list(controls))
        _check_destinations(cfg, settings.log_json)
        session = _open_session(cfg, settings.preset)
    except BaseException:
        _close(controls)
        raise
    try:
        report = _start_and_run(session, switcher, settings)
    except BaseException:  # stopped before the run loop took over: put the routing back
        session.close_route()
        _close(controls)
        raise
    if not settings.quiet:
        say(
            f"seplive: {report['stop_reason']}: {report['audio_s']:.2f} s of audio in {report['wall_s']:.2f} s;"
            f" compute p50 {report['compute_ms_p50']:.2f} ms p99 {report['compute_ms_p99']:.2f} ms per"
            f" {report['hop_ms']:.1f} ms hop (rtf {report['rtf']:.3f}); deadline misses {report['deadline_misses']},"
            f" xruns {report['xruns']}"
            + (f"; devices lost {report['device_losses']}, back {report['device_reconnects']}"
               if report.get("device_losses") else ""),
        )
    return 0


def _start_and_run(session: Session, switcher: PresetSwitcher, settings: RunSettings) -> dict[str, Any]:
    switcher.bind(session)
    eng = session.engine
    if not settings.quiet:
        print(
            f"seplive: {session.input_description} -> {', '.join(session.output_descriptions) or '(no output)'}"
            f"{f' | preset {settings.preset}' if settings.preset else ''} | model {session.plugin.name} @ {eng.model_rate} Hz"
            f" | stems {' '.join(eng.prompts)} | hop {eng.hop} | latency {session.latency_samples} samples"
            f" ({1000 * session.latency_samples / session.source.sample_rate:.1f} ms)",
            file=sys.stderr,
        )
    if session.stem_layout and not settings.quiet:
        layout = ", ".join(f"{k}: {'+'.join(map(str, v))}" for k, v in session.stem_layout.items())
        print(f"seplive: stems out to {settings.session.stems_out}: channels {layout}", file=sys.stderr)
    return _run_with_views(session, settings)


def models_with_prompts(cfg: SessionConfig) -> str:
    """Which registered models have every prompt ``cfg`` asks for (for an error hint)."""
    from ..models import registry
    from ..models.prompts import REST, canonical

    wanted = {canonical(p) for p in [*cfg.prompts, *cfg.mute, *cfg.gains_db]} - {REST}
    fits = []
    for name in registry.available():
        try:
            if wanted <= set(getattr(registry.factory(name), "prompts", ())) and name != "identity":
                fits.append(name)
        except Exception:  # noqa: S112 - a plugin whose deps are missing
            continue
    return f"use --model {' or '.join(fits)}" if fits else "no installed model has all of " + " ".join(sorted(wanted))


def _run_with_views(session: Session, settings: RunSettings) -> dict[str, Any]:
    """Run the session with the live status view (a terminal, not --quiet) and the JSON log."""
    views: list = []
    try:
        if settings.log_json:
            views.append(JsonStatusLog(session, settings.log_json))
        if not settings.quiet and sys.stderr.isatty():
            views.append(LiveView(session))
        for v in views:
            v.start()
        return session.run()
    finally:
        for v in views:
            v.stop()
