"""The ``seplive`` command.  Thin: parses arguments, builds a Session, runs it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from . import __version__

SUBCOMMANDS = ("run", "models", "demo", "devices", "learn", "presets", "train", "eval")


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


def _fx(items: list[str]) -> dict[str, dict[str, float]]:
    from .fx.params import merge_fx, parse_fx_arg

    out: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            merge_fx(out, *parse_fx_arg(item))
        except ValueError as exc:
            raise CliError(f"--fx {item}: {exc}") from None
    return out


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
    io.add_argument(
        "--align",
        action="store_true",
        help="files only: shift the output back by the latency so it lines up with the input",
    )
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
    w = p.add_argument_group("windowing (model-rate samples, or milliseconds)")
    for name, what in (("hop", "new samples per model call"), ("context", "past samples a windowed model sees"), ("lookahead", "future samples it waits for (adds latency)")):
        g = w.add_mutually_exclusive_group()
        g.add_argument(f"--{name}", type=int, metavar="SAMPLES", help=what)
        g.add_argument(f"--{name}-ms", type=float, metavar="MS")
    w.add_argument("--block", type=int, metavar="SAMPLES", help="source frames per engine block (default: one hop)")
    w.add_argument("--crossfade-ms", type=float, help="overlap and fallback crossfade (default: 5 for windowed models, 2 for stateful ones, whose"
                   " fade is only around a missed hop)")
    w.add_argument("--compute-budget", type=float, metavar="HOPS", help="model time per hop live, in hops (default: the model's own: 1 for most, 0.75 for native)")
    w.add_argument("--resample-quality", choices=("QQ", "LQ", "MQ", "HQ", "VHQ"), help="soxr quality when rates differ (default HQ; LQ halves the delay but cuts above ~0.3 x rate)")
    g = p.add_argument_group("live control (see docs/control.md)")
    g.add_argument("--osc", metavar="[HOST:]PORT", help="OSC control on this UDP port (127.0.0.1 unless HOST; 0.0.0.0 = network)")
    g.add_argument("--osc-feedback", action="append", metavar="HOST:PORT", help="send OSC feedback there from the start")
    g.add_argument("--midi", metavar="MAP", help="MIDI control: nanokontrol2, launchcontrolxl, xtouchmini, mpkminimk3, or a mapping .toml")
    g.add_argument("--midi-port", metavar="SUBSTRING", help="MIDI input name substring (default: the map's port)")
    g.add_argument("--midi-backend", metavar="BACKEND", help="mido backend, e.g. mido.backends.rtmidi/UNIX_JACK")
    o = p.add_argument_group("reporting")
    o.add_argument("--report", metavar="PATH", help="write a JSON run report")
    o.add_argument(
        "--log-json", metavar="PATH",
        help="append one JSON status line per second to PATH ('-' = stderr), for machines",
    )
    o.add_argument("-q", "--quiet", action="store_true", help="no live status view; print nothing but errors")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (issue #24): the flag and what is wrong, and where help is."""

    def error(self, message: str):  # type: ignore[override]
        prog = self.prog.removeprefix("seplive").strip()
        hint = f"'seplive {prog} --help'" if prog else "'seplive --help'"
        self.exit(2, f"seplive: error: {' '.join(message.split())} (see {hint})\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="seplive",
        description="Live, prompt-driven source separation: separate and remix audio as it plays.",
        epilog="'seplive ARGS' is 'seplive run ARGS' ('seplive run --help' lists every option). Examples:\n"
        "  seplive demo                                   no sound card needed: a song through the live engine\n"
        "  seplive --input loopback --prompts vocals      what the computer plays, vocals isolated\n"
        "  seplive --preset karaoke -i song.flac -o karaoke.wav",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"seplive {__version__}")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser(
        "run", help="separate and remix a stream (default)", argument_default=argparse.SUPPRESS,
        description="Separate and remix a stream: a file or a live device, through a separation model, to files\n"
        "or devices. Settings not given as flags come from SEPLIVE_* variables (SEPLIVE_MODEL, SEPLIVE_HOP_MS...),\n"
        "then --preset, then the user config (~/.config/seplive/config.toml, or SEPLIVE_CONFIG), then defaults.",
        epilog="examples:\n  seplive --input loopback --prompts vocals\n  seplive --preset karaoke -i song.wav -o out.wav\n"
        "  seplive -i mic --prompts speech --osc 9000 --midi nanokontrol2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_args(run)
    presets = sub.add_parser(
        "presets", help="list session presets and controller profiles",
        description="List the session presets (seplive --preset NAME) with their descriptions, where each was"
        " found (./presets, then ~/.config/seplive/presets, then the shipped ones: the first wins), and the MIDI"
        " controller profiles (seplive --midi NAME).",
    )
    presets.add_argument("--json", action="store_true", help="machine-readable: names, descriptions, paths")
    presets.add_argument("--all", action="store_true", help="also the presets hidden by a nearer folder")
    models = sub.add_parser("models", help="list the separation plugins",
                            description="List the separation plugins (seplive -m NAME) and the prompts each has.")
    models.add_argument("--json", action="store_true", help="machine-readable")
    devices = sub.add_parser(
        "devices", help="list audio devices, defaults and loopback candidates",
        description="List the audio devices PortAudio sees (with PulseAudio sinks and sources on Linux), the"
        " defaults, and what --input loopback would capture.",
    )
    devices.add_argument("--json", action="store_true", help="machine-readable")
    sub.add_parser("learn", add_help=False, help="MIDI learn: move a control, name a target, get a map file"
                   " ('seplive learn --help')")
    demo = sub.add_parser("demo", help="make a short song and run it through the live engine (no sound card needed)")
    demo.add_argument("--out", default="seplive-demo", help="folder for the files (default: ./seplive-demo)")
    demo.add_argument("-q", "--quiet", action="store_true")
    from .eval import cli as eval_cli
    from .train import cli as train_cli

    train_cli.add_arguments(sub.add_parser(
        "train", help="train a separation model on generated data (TOML config)",
        description="Train a model from a TOML config (presets/train/*.toml) on data generated on the fly; leaves"
        " model.pt (weights only) and model.json (what and how) in --out. Several GPUs or nodes: torchrun"
        " --nproc_per_node=N -m seplive train ...",
    ))
    eval_cli.add_arguments(sub.add_parser(
        "eval", help="score models offline and through the live engine (SI-SDR, SDR)",
        description="Score models and checkpoints on fixed held-out mixtures (or --stems DIR): SI-SDR and SDR"
        " improvement over the mixture per prompt, offline and through the live engine, beside the mixture,"
        " center and hpss. Prints a markdown table; --json/--markdown write it.",
    ))
    return parser


def _cmd_models(args: argparse.Namespace) -> int:
    from .models import registry
    from .presets import DEFAULTS

    rows = []
    for name in registry.available():
        default = name == DEFAULTS["model"]
        try:
            cls = registry._resolve(name)
            rows.append({"name": name, "default": default, "prompts": list(getattr(cls, "prompts", ())),
                         "description": getattr(cls, "description", "")})
        except Exception as exc:  # a plugin whose deps are missing still gets listed
            rows.append({"name": name, "default": default, "prompts": [], "description": f"unavailable: {exc}"})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            mark = " (default)" if r["default"] else ""
            print(f"{r['name']:<10} {r['description']}{mark}\n{'':<10} prompts: {' '.join(r['prompts'])}")
    return 0


def _host_port(text: str, where: str = "--osc") -> tuple[str, int]:
    from .validate import port

    return port(text, where, allow_zero=where == "--osc")


def _build_controls(args: argparse.Namespace, on_preset=None) -> list:
    """OSC and MIDI controls from the flags (opened now: a busy port fails before audio)."""
    if not args.osc and not args.midi:
        return []
    osc_at = _host_port(args.osc) if args.osc else None
    feedback = tuple(_host_port(s, "--osc-feedback") for s in args.osc_feedback)
    controls: list = []
    try:
        if osc_at:
            from .control.osc import OscControl

            controls.append(OscControl(osc_at[1], osc_at[0], subscribers=feedback, on_preset=on_preset))
        if args.midi:
            from .control.midi import MidiControl

            controls.append(MidiControl(args.midi_port, args.midi, backend=args.midi_backend, on_preset=on_preset))
    except (OSError, ValueError) as exc:  # MappingError and ControlError are ValueErrors
        for c in controls:
            c.close()
        raise CliError(str(exc)) from None
    return controls


#: run flags that are layered settings (see seplive/presets.py), by argparse dest
_LAYERED_FLAGS = (
    "input", "output", "model", "models", "checkpoint", "device", "prompts", "mute", "master_db", "wet", "hop", "hop_ms",
    "context", "context_ms", "lookahead", "lookahead_ms", "crossfade_ms", "compute_budget", "resample_quality",
    "rate", "channels", "device_block", "device_latency", "low_latency", "rt_priority", "osc", "midi", "midi_port", "log_json", "limiter",
)


def _flag_settings(args: argparse.Namespace) -> dict[str, object]:
    """The layered settings the command line gave (absent flags are not in ``args``)."""
    from .presets import KEYS

    given: dict[str, object] = {k: getattr(args, k) for k in _LAYERED_FLAGS if hasattr(args, k)}
    if "model" in given:  # -m NAME and -m PROMPT=NAME
        from .models.base import SeparatorError
        from .models.routing import split_model_specs

        try:
            main, routes = split_model_specs(given.pop("model"))
        except SeparatorError as exc:
            raise CliError(str(exc)) from None
        if main:
            given["model"] = main
        if routes:
            given["models"] = KEYS["models"].check(routes, "--model")
    if "device_latency" in given:
        given["device_latency"] = KEYS["device_latency"].check(given["device_latency"], "--device-latency")
    for k in ("prompts", "mute"):
        if k in given:
            given[k] = KEYS[k].check(given[k], f"--{k}")
    if hasattr(args, "gain"):
        given["gain"] = KEYS["gain"].check(dict(_gain(g) for g in args.gain), "--gain")
    if hasattr(args, "fx"):
        given["fx"] = _fx(args.fx)
    if hasattr(args, "model_opt"):
        options: dict[str, object] = {}
        for item in args.model_opt:
            k, v = _key_value(item, "--model-opt")
            options[k] = _literal(v)
        given["model_options"] = options
    from .validate import check_flags  # the same checks as presets and SEPLIVE_* (issue #24)

    return check_flags(given)


def _cmd_run(args: argparse.Namespace) -> int:
    from .models.base import SeparatorError
    from .presets import PresetSwitcher, layer
    from .session import Session, SessionConfig
    from .stream.files import is_file_spec
    from .validate import check_model_options, check_run_flags, check_selection

    for k, v in check_run_flags(vars(args)).items():
        setattr(args, k, v)
    layers = layer(_flag_settings(args), preset=getattr(args, "preset", None))
    s = layers.merged
    check_selection(list(s.get("prompts") or []), list(s.get("mute") or []))
    if not s.get("input"):
        raise CliError("no input: give --input FILE or a device (default, mic, loopback...), e.g. seplive -i loopback -p vocals")
    for k in _LAYERED_FLAGS:  # the merged settings are what the rest of the run reads
        setattr(args, k, s.get(k))
    args.gain, args.fx = s["gain"], s["fx"]
    args.osc_feedback = getattr(args, "osc_feedback", [])
    args.midi_backend = getattr(args, "midi_backend", None)
    options: dict[str, object] = check_model_options(args.model, dict(s["model_options"]))
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    query = getattr(args, "query", None)
    if query:
        options["query"] = query
        if not args.prompts and not args.mute:
            args.prompts = ["query"]
    if args.device != "cpu":
        options["device"] = args.device
    switcher = PresetSwitcher(layers.preset)
    controls = _build_controls(args, on_preset=switcher)
    outputs = [o for o in (args.output or []) if o.lower() != "none"]
    if not args.output and not is_file_spec(args.input):
        outputs = ["default"]
    cfg = SessionConfig(
        input=args.input,
        outputs=outputs,
        rate=args.rate,
        channels=args.channels,
        device_block=args.device_block,
        device_latency=args.device_latency,
        low_latency=bool(args.low_latency),
        rt_priority=args.rt_priority,
        allow_feedback=getattr(args, "allow_feedback", False),
        route=getattr(args, "route", True),
        stems_out=getattr(args, "stems_out", None),
        controls=controls,
        model=args.model,
        models=dict(args.models or {}),
        model_options=options,
        prompts=list(args.prompts or []),
        mute=list(args.mute or []),
        gains_db=dict(args.gain),
        master_db=args.master_db,
        wet=args.wet,
        fx=args.fx,
        limiter=args.limiter,
        hop_samples=args.hop,
        hop_ms=args.hop_ms,
        context_samples=args.context,
        context_ms=args.context_ms,
        lookahead_samples=args.lookahead,
        lookahead_ms=args.lookahead_ms,
        block_samples=getattr(args, "block", None),
        crossfade_ms=args.crossfade_ms,
        compute_budget_hops=args.compute_budget,
        resample_quality=args.resample_quality,
        device=args.device,
        realtime=getattr(args, "realtime", False),
        duration_s=getattr(args, "duration", None),
        align=getattr(args, "align", False),
        report=getattr(args, "report", None),
        preset=layers.preset,
    )
    from .validate import check_destinations

    try:  # every destination before anything opens (Session checks them again, for the API)
        check_destinations(cfg, live=not is_file_spec(cfg.input), log_json=args.log_json)
        if args.log_json and args.log_json != "-":
            try:
                open(args.log_json, "a").close()
            except OSError as exc:
                raise CliError(f"--log-json {args.log_json}: {exc.strerror or exc}") from None
    except BaseException:
        for c in controls:
            c.close()
        raise
    quiet = getattr(args, "quiet", False)
    try:
        session = Session(cfg)
    except SeparatorError as exc:
        for c in controls:
            c.close()
        missing = str(exc)
        if layers.preset and "has no prompt" in missing:
            raise CliError(f"{missing}; preset {layers.preset!r} needs it: {_models_with_prompts(cfg)}") from None
        raise
    except BaseException:
        for c in controls:
            c.close()
        raise
    try:
        report = _start_and_run(session, switcher, layers, cfg, args, quiet)
    except BaseException:  # stopped before the run loop took over: put the routing back
        if session._route is not None:
            session._route.close()
        for c in controls:
            c.close()
        raise
    if not quiet:
        _say(
            f"seplive: {report['stop_reason']}: {report['audio_s']:.2f} s of audio in {report['wall_s']:.2f} s;"
            f" compute p50 {report['compute_ms_p50']:.2f} ms p99 {report['compute_ms_p99']:.2f} ms per"
            f" {report['hop_ms']:.1f} ms hop (rtf {report['rtf']:.3f}); deadline misses {report['deadline_misses']},"
            f" xruns {report['xruns']}"
            + (f"; devices lost {report['device_losses']}, back {report['device_reconnects']}"
               if report.get("device_losses") else ""),
        )
    return 0


def _say(text: str) -> None:
    """A line to stderr that never fails the run (after SIGHUP the terminal may be gone)."""
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError):
        pass


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP before the run loop handles them (setup): unwinds like Ctrl-C."""


def _stop_during_setup(signum, _frame):
    raise _Stopped(signum)


def _start_and_run(session, switcher, layers, cfg, args, quiet: bool) -> dict:
    switcher.bind(session)
    eng = session.engine
    if not quiet:
        print(
            f"seplive: {session.input_description} -> {', '.join(session.output_descriptions) or '(no output)'}"
            f"{f' | preset {layers.preset}' if layers.preset else ''} | model {session.plugin.name} @ {eng.model_rate} Hz"
            f" | stems {' '.join(eng.prompts)} | hop {eng.hop} | latency {session.latency_samples} samples"
            f" ({1000 * session.latency_samples / session.source.sample_rate:.1f} ms)",
            file=sys.stderr,
        )
    if session.stem_layout and not quiet:
        layout = ", ".join(f"{k}: {'+'.join(map(str, v))}" for k, v in session.stem_layout.items())
        print(f"seplive: stems out to {cfg.stems_out}: channels {layout}", file=sys.stderr)
    return _run_with_views(session, args, quiet)


def _models_with_prompts(cfg) -> str:
    """Which registered models have every prompt ``cfg`` asks for (for an error hint)."""
    from .models import registry
    from .models.prompts import REST, canonical

    wanted = {canonical(p) for p in [*cfg.prompts, *cfg.mute, *cfg.gains_db]} - {REST}
    fits = []
    for name in registry.available():
        try:
            if wanted <= set(getattr(registry._resolve(name), "prompts", ())) and name != "identity":
                fits.append(name)
        except Exception:  # noqa: S112 - a plugin whose deps are missing
            continue
    return f"use --model {' or '.join(fits)}" if fits else "no installed model has all of " + " ".join(sorted(wanted))


def _run_with_views(session, args: argparse.Namespace, quiet: bool) -> dict:
    """Run the session with the live status view (a terminal, not --quiet) and the JSON log."""
    from .status import JsonStatusLog, LiveView

    views = []
    try:
        if args.log_json:
            views.append(JsonStatusLog(session, args.log_json))
        if not quiet and sys.stderr.isatty():
            views.append(LiveView(session))
        for v in views:
            v.start()
        return session.run()
    finally:
        for v in views:
            v.stop()


def _printable(text: str) -> str:
    """Control characters (ANSI escapes, newlines) shown escaped, never sent to the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def _cmd_presets(args: argparse.Namespace) -> int:
    from .control.mapping import PRESET_DIR, shipped_mappings
    from .presets import list_presets, search_dirs

    rows = [r for r in list_presets() if args.all or r.shadowed_by is None]
    controllers = shipped_mappings()
    if args.json:
        print(json.dumps({
            "presets": [{"name": r.name, "description": r.description, "where": r.where, "path": str(r.path),
                         "shadowed_by": r.shadowed_by} for r in rows],
            "controllers": [{"name": c, "path": str(PRESET_DIR / f"{c}.toml")} for c in controllers],
            "search": [str(d) for _, d in search_dirs()],
        }, indent=2))
        return 0
    print("session presets (seplive --preset NAME ...; flags override them):")
    for r in rows:
        tag = f" [{r.where}]" if r.where != "shipped" else ""
        hidden = f" (hidden by the {r.shadowed_by} one)" if r.shadowed_by else ""
        print(f"  {_printable(r.name):<15} {_printable(r.description)}{tag}{hidden}")
    print("\ncontroller profiles (seplive --midi NAME ...):")
    for c in controllers:
        print(f"  {c}")
    print("\nsearched, first match wins: " + ", ".join(str(d) for _, d in search_dirs()))
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
    quiet_fd = _quiet_c_stderr() if getattr(args, "quiet", False) else None
    try:
        logging.basicConfig(
            level=logging.ERROR if getattr(args, "quiet", False) else logging.WARNING,
            format="seplive: %(message)s",
        )
        return _with_stop_signals(args)
    finally:
        if quiet_fd is not None:
            _restore_c_stderr(quiet_fd)


def _quiet_c_stderr() -> tuple[int, object] | None:
    """--quiet: what C libraries print to file descriptor 2 (ALSA, PortAudio, JACK: dozens of
    lines when PulseAudio restarts) goes to /dev/null, while Python's own stderr (seplive's
    one-line errors) keeps the terminal.  Only when sys.stderr is fd 2 itself."""
    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return None
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):  # no real fd (captured, redirected in-process)
        return None
    os.dup2(devnull, 2)
    os.close(devnull)
    old = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=old.encoding, errors="backslashreplace")
    return saved, old


def _restore_c_stderr(state: tuple[int, object]) -> None:
    saved, old = state
    try:  # flushed, not closed: a logging handler may still hold it
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    sys.stderr = old
    os.dup2(saved, 2)
    os.close(saved)


def _with_stop_signals(args: argparse.Namespace) -> int:
    old_handlers = {}
    if args.command == "run" and threading.current_thread() is threading.main_thread():
        # SIGTERM/SIGHUP during setup unwind like Ctrl-C (a capture sink made is removed);
        # Session.run takes them over for the run itself
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                old_handlers[name] = signal.signal(getattr(signal, name), _stop_during_setup)
    try:
        return _main(args)
    finally:
        for name, old in old_handlers.items():
            signal.signal(getattr(signal, name), old)


def _main(args: argparse.Namespace) -> int:
    from .models.base import SeparatorError
    from .stream.devices import DeviceError
    from .stream.files import AudioFileError

    try:
        if args.command == "models":
            return _cmd_models(args)
        if args.command == "devices":
            return _cmd_devices(args)
        if args.command == "presets":
            return _cmd_presets(args)
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
    except BrokenPipeError:  # `seplive presets | head`: the reader left, nothing is wrong
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so that the exit flush is quiet
        except OSError:
            pass
        return 0
    except (CliError, SeparatorError, AudioFileError, DeviceError, ValueError, OSError) as exc:
        print(f"seplive: error: {_printable(exc)}", file=sys.stderr)  # one line, whatever it quotes
        return 2
    except Exception as exc:  # PortAudio errors: one line, no traceback
        if type(exc).__name__ != "PortAudioError":
            raise
        print(f"seplive: error: audio device: {_printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return 128 + int(exc.args[0]) if isinstance(exc, _Stopped) and exc.args else 130


if __name__ == "__main__":
    sys.exit(main())
