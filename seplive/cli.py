"""The ``seplive`` command: builds the parser from the subcommands (seplive/commands/)
and dispatches, with the top-level behaviour they share: stop signals during setup,
C libraries' stderr quieted with --quiet, one-line errors and exit codes (0 done,
2 an error, 128 + N stopped by signal N, 130 Ctrl-C)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from . import __version__
from .commands import NAMES, command
from .commands.common import printable
from .settings import CliError

SUBCOMMANDS = NAMES

__all__ = ["main", "build_parser", "CliError", "SUBCOMMANDS"]


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
    for name in NAMES:
        module = command(name)
        module.add_arguments(sub.add_parser(name, **module.PARSER))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "learn":  # MIDI learn has its own parser
        return command("learn").main(argparse.Namespace(command="learn", argv=argv[1:]))
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


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP before the run loop handles them (setup): unwinds like Ctrl-C."""


def _stop_during_setup(signum, _frame):
    raise _Stopped(signum)


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
        return command(args.command).main(args)
    except BrokenPipeError:  # `seplive presets | head`: the reader left, nothing is wrong
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so that the exit flush is quiet
        except OSError:
            pass
        return 0
    except (CliError, SeparatorError, AudioFileError, DeviceError, ValueError, OSError) as exc:
        print(f"seplive: error: {printable(exc)}", file=sys.stderr)  # one line, whatever it quotes
        return 2
    except Exception as exc:  # PortAudio errors: one line, no traceback
        if type(exc).__name__ != "PortAudioError":
            raise
        print(f"seplive: error: audio device: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return 128 + int(exc.args[0]) if isinstance(exc, _Stopped) and exc.args else 130


if __name__ == "__main__":
    sys.exit(main())
