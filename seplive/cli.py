"""The ``seplive`` command.  Thin: parses arguments, builds a Session, runs it."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import __version__

SUBCOMMANDS = ("run", "models", "demo", "devices", "learn", "train", "eval")


class CliError(Exception):
    pass


def _key_value(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CliError(f"{what} must look like NAME=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _gain(text: str) -> tuple[str, float]:
    key, value = _key_value(text, "--gain")
    try:
        db = float(value.lower().removesuffix("db"))
    except ValueError:
        raise CliError(f"--gain {text}: {value!r} is not a number of dB") from None
    return key, db


def _literal(value: str) -> object:
    """Model options are plain values: int, float, bool or string (never code)."""
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


def _add_run_args(p: argparse.ArgumentParser) -> None:
    io = p.add_argument_group("input and output")
    io.add_argument(
        "-i", "--input", required=True,
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
    dev = p.add_argument_group("devices")
    dev.add_argument("--rate", type=int, help="device sample rate (default: the model's, else 48000)")
    dev.add_argument("--channels", type=int, help="input channels to capture (default: 2, or 1 for a mono device)")
    dev.add_argument("--device-block", type=int, default=512, metavar="FRAMES", help="device block size (default 512)")
    dev.add_argument("--device-latency", default="high", help="PortAudio latency: high, low or seconds (default high)")
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
    io.add_argument(
        "--align",
        action="store_true",
        help="files only: shift the output back by the latency so it lines up with the input",
    )
    m = p.add_argument_group("model")
    m.add_argument("-m", "--model", default="center", help="separation plugin (see 'seplive models'; default: center)")
    m.add_argument("--checkpoint", help="weights file for models that need one")
    m.add_argument("--device", default="cpu", help="compute device for neural models: cpu, cuda, cuda:1 ...")
    m.add_argument(
        "--model-opt", action="append", default=[], metavar="KEY=VALUE", help="plugin option (repeatable)"
    )
    m.add_argument(
        "--query", metavar="CLIP",
        help="audio-query conditioning (models that support it, e.g. lasaft): separate what sounds like this clip;"
        " the stem is called 'query'",
    )
    mix = p.add_argument_group("mix")
    mix.add_argument("-p", "--prompts", nargs="+", default=[], metavar="P", help="stems to play (isolate); 'rest' = everything else")
    mix.add_argument("--mute", nargs="+", default=[], metavar="P", help="stems to remove (karaoke: --mute vocals)")
    mix.add_argument("--gain", action="append", default=[], metavar="STEM=DB", help="stem gain in dB (repeatable)")
    w = p.add_argument_group("windowing (model-rate samples, or milliseconds)")
    for name, what in (("hop", "new samples per model call"), ("context", "past samples a windowed model sees"), ("lookahead", "future samples it waits for (adds latency)")):
        g = w.add_mutually_exclusive_group()
        g.add_argument(f"--{name}", type=int, metavar="SAMPLES", help=what)
        g.add_argument(f"--{name}-ms", type=float, metavar="MS")
    w.add_argument("--block", type=int, metavar="SAMPLES", help="source frames per engine block (default: one hop)")
    w.add_argument("--crossfade-ms", type=float, default=5.0, help="overlap and fallback crossfade (default 5)")
    w.add_argument("--compute-budget", type=float, default=1.0, metavar="HOPS", help="model time per hop, in hops (default 1)")
    w.add_argument("--resample-quality", default="HQ", choices=("QQ", "LQ", "MQ", "HQ", "VHQ"), help="soxr quality when rates differ (default HQ; LQ halves the delay but cuts above ~0.3 x rate)")
    g = p.add_argument_group("live control (see docs/control.md)")
    g.add_argument("--osc", metavar="[HOST:]PORT", help="OSC control on this UDP port (127.0.0.1 unless HOST; 0.0.0.0 = network)")
    g.add_argument("--osc-feedback", action="append", default=[], metavar="HOST:PORT", help="send OSC feedback there from the start")
    g.add_argument("--midi", metavar="MAP", help="MIDI control: nanokontrol2, launchcontrolxl, xtouchmini, mpkminimk3, or a mapping .toml")
    g.add_argument("--midi-port", metavar="SUBSTRING", help="MIDI input name substring (default: the map's port)")
    g.add_argument("--midi-backend", metavar="BACKEND", help="mido backend, e.g. mido.backends.rtmidi/UNIX_JACK")
    o = p.add_argument_group("reporting")
    o.add_argument("--report", metavar="PATH", help="write a JSON run report")
    o.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seplive",
        description="Live, prompt-driven source separation: separate and remix audio as it plays.",
        epilog="'seplive ARGS' is 'seplive run ARGS'. Example: seplive -i song.wav -o karaoke.wav --mute vocals",
    )
    parser.add_argument("--version", action="version", version=f"seplive {__version__}")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="separate and remix a stream (default)")
    _add_run_args(run)
    models = sub.add_parser("models", help="list the separation plugins")
    models.add_argument("--json", action="store_true")
    devices = sub.add_parser("devices", help="list audio devices, defaults and loopback candidates")
    devices.add_argument("--json", action="store_true")
    demo = sub.add_parser("demo", help="make a short song and run it through the live engine (no sound card needed)")
    demo.add_argument("--out", default="seplive-demo", help="folder for the files (default: ./seplive-demo)")
    demo.add_argument("-q", "--quiet", action="store_true")
    from .eval import cli as eval_cli
    from .train import cli as train_cli

    train_cli.add_arguments(sub.add_parser("train", help="train a separation model on generated data (TOML config)"))
    eval_cli.add_arguments(sub.add_parser("eval", help="score models offline and through the live engine (SI-SDR, SDR)"))
    return parser


def _cmd_models(args: argparse.Namespace) -> int:
    from .models import registry

    rows = []
    for name in registry.available():
        try:
            cls = registry._resolve(name)
            rows.append({"name": name, "prompts": list(getattr(cls, "prompts", ())), "description": getattr(cls, "description", "")})
        except Exception as exc:  # a plugin whose deps are missing still gets listed
            rows.append({"name": name, "prompts": [], "description": f"unavailable: {exc}"})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:<10} {r['description']}\n{'':<10} prompts: {' '.join(r['prompts'])}")
    return 0


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise CliError(f"expected [HOST:]PORT, got {text!r}") from None


def _build_controls(args: argparse.Namespace) -> list:
    """OSC and MIDI controls from the flags (opened now: a busy port fails before audio)."""
    if not args.osc and not args.midi:
        return []
    osc_at = _host_port(args.osc) if args.osc else None
    feedback = tuple(_host_port(s) for s in args.osc_feedback)
    controls: list = []
    try:
        if osc_at:
            from .control.osc import OscControl

            controls.append(OscControl(osc_at[1], osc_at[0], subscribers=feedback))
        if args.midi:
            from .control.midi import MidiControl

            controls.append(MidiControl(args.midi_port, args.midi, backend=args.midi_backend))
    except (OSError, ValueError) as exc:  # MappingError and ControlError are ValueErrors
        for c in controls:
            c.close()
        raise CliError(str(exc)) from None
    return controls


def _cmd_run(args: argparse.Namespace) -> int:
    from .session import Session, SessionConfig, is_file_spec

    options: dict[str, object] = {}
    for item in args.model_opt:
        k, v = _key_value(item, "--model-opt")
        options[k] = _literal(v)
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    if args.query:
        options["query"] = args.query
        if not args.prompts and not args.mute:
            args.prompts = ["query"]
    if args.device != "cpu":
        options["device"] = args.device
    gains = dict(_gain(g) for g in args.gain)
    controls = _build_controls(args)
    outputs = [o for o in args.output if o.lower() != "none"]
    try:
        latency: float | str = float(args.device_latency)
    except ValueError:
        latency = args.device_latency
    if not args.output and not is_file_spec(args.input):
        outputs = ["default"]
    cfg = SessionConfig(
        input=args.input,
        outputs=outputs,
        rate=args.rate,
        channels=args.channels,
        device_block=args.device_block,
        device_latency=latency,
        allow_feedback=args.allow_feedback,
        route=args.route,
        stems_out=args.stems_out,
        controls=controls,
        model=args.model,
        model_options=options,
        prompts=list(args.prompts),
        mute=list(args.mute),
        gains_db=gains,
        hop_samples=args.hop,
        hop_ms=args.hop_ms,
        context_samples=args.context,
        context_ms=args.context_ms,
        lookahead_samples=args.lookahead,
        lookahead_ms=args.lookahead_ms,
        block_samples=args.block,
        crossfade_ms=args.crossfade_ms,
        compute_budget_hops=args.compute_budget,
        resample_quality=args.resample_quality,
        device=args.device,
        realtime=args.realtime,
        duration_s=args.duration,
        align=args.align,
        report=args.report,
    )
    try:
        session = Session(cfg)
    except BaseException:
        for c in controls:
            c.close()
        raise
    eng = session.engine
    if not args.quiet:
        print(
            f"seplive: {session.input_description} -> {', '.join(session.output_descriptions) or '(no output)'} | model {session.plugin.name} @ {eng.model_rate} Hz"
            f" | stems {' '.join(eng.prompts)} | hop {eng.hop} | latency {session.latency_samples} samples"
            f" ({1000 * session.latency_samples / session.source.sample_rate:.1f} ms)",
            file=sys.stderr,
        )
    if session.stem_layout and not args.quiet:
        layout = ", ".join(f"{k}: {'+'.join(map(str, v))}" for k, v in session.stem_layout.items())
        print(f"seplive: stems out to {args.stems_out}: channels {layout}", file=sys.stderr)
    report = session.run()
    if not args.quiet:
        print(
            f"seplive: {report['stop_reason']}: {report['audio_s']:.2f} s of audio in {report['wall_s']:.2f} s;"
            f" compute p50 {report['compute_ms_p50']:.2f} ms p99 {report['compute_ms_p99']:.2f} ms per"
            f" {report['hop_ms']:.1f} ms hop (rtf {report['rtf']:.3f}); deadline misses {report['deadline_misses']},"
            f" xruns {report['xruns']}",
            file=sys.stderr,
        )
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from .stream import devices

    rows = devices.list_devices()
    loop: dict | str
    try:
        choice = devices.find_loopback()
        loop = {"index": choice.index, "name": choice.name, "description": choice.description, "env": choice.env}
    except devices.DeviceError as exc:
        loop = str(exc)
    if args.json:
        print(json.dumps({"devices": rows, "loopback": loop}, indent=2))
        return 0
    for d in rows:
        mark = ("<" if d["default_input"] else " ") + (">" if d["default_output"] else " ")
        tag = "  [loopback?]" if d["loopback_candidate"] else ""
        print(f"{mark} {d['index']:>3} {d['name']} ({d['hostapi']}, {d['max_input_channels']} in, "
              f"{d['max_output_channels']} out, {d['default_samplerate']:.0f} Hz){tag}")
    print("< default input, > default output")
    print(f"loopback: {loop['description'] if isinstance(loop, dict) else loop}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "learn":  # MIDI learn has its own parser
        from .control.learn import learn_main

        return learn_main(argv[1:])
    if argv and argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "run")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.ERROR if getattr(args, "quiet", False) else logging.WARNING,
        format="seplive: %(message)s",
    )
    from .models.base import SeparatorError
    from .stream.devices import DeviceError
    from .stream.files import AudioFileError

    try:
        if args.command == "models":
            return _cmd_models(args)
        if args.command == "devices":
            return _cmd_devices(args)
        if args.command == "demo":
            from .demo import run_demo

            run_demo(args.out, quiet=args.quiet)
            return 0
        if args.command == "train":
            from .train.cli import main as train_main

            return train_main(args)
        if args.command == "eval":
            from .eval.cli import main as eval_main

            return eval_main(args)
        return _cmd_run(args)
    except (CliError, SeparatorError, AudioFileError, DeviceError, ValueError, OSError) as exc:
        print(f"seplive: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # PortAudio errors: one line, no traceback
        if type(exc).__name__ != "PortAudioError":
            raise
        print(f"seplive: error: audio device: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
