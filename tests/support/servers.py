"""Virtual audio servers for tests and benchmarks: a private PulseAudio with null sinks
(the Linux desktop's loopback, without hardware) and JACK with the dummy backend.

Each server is a context manager that starts its daemon in a fresh runtime folder, sets
the environment variables PortAudio/ALSA/JACK clients need, and stops and cleans up on
exit.  See shared/guide/TESTING.md for why each setting is there.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PULSE_CONFIG = """\
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=speakers format=float32le rate={rate} channels=2 norewinds=1 sink_properties=device.description=speakers
load-module module-null-sink sink_name=app_out format=float32le rate={rate} channels=2 norewinds=1 sink_properties=device.description=app_out
load-module module-null-source source_name=zero format=float32le rate={rate} channels=2
load-module module-loopback source=zero sink=speakers latency_msec=20 source_dont_move=true sink_dont_move=true
load-module module-loopback source=zero sink=app_out latency_msec=20 source_dont_move=true sink_dont_move=true
set-default-sink speakers
set-default-source speakers.monitor
"""

ASOUNDRC = """\
pcm.pulse_loopback { type pulse device "speakers.monitor" hint { show on description "loopback: speakers.monitor" } }
pcm.app_out { type pulse device "app_out" hint { show on description "app_out" } }
pcm.speakers { type pulse device "speakers" hint { show on description "speakers" } }
"""


class PulseServer:
    """A private PulseAudio daemon with two null sinks, ``speakers`` (whose monitor is the
    system loopback) and ``app_out``, kept clocked by a silent source."""

    def __init__(self, rate: int = 48000) -> None:
        self.rate = rate
        self.dir = Path(tempfile.mkdtemp(prefix="seplive-pulse-"))
        self._saved: dict[str, str | None] = {}
        self.modules: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        runtime = self.dir / "run"
        return {
            "XDG_RUNTIME_DIR": str(runtime),
            "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
            "PULSE_SERVER": f"unix:{runtime / 'pulse' / 'native'}",
            "XDG_CONFIG_HOME": str(self.dir / "config"),
            "HOME": str(self.dir / "home"),
        }

    def __enter__(self) -> PulseServer:
        if shutil.which("pulseaudio") is None:
            raise RuntimeError("pulseaudio is not installed (scripts/setup.sh installs it)")
        env = self.env()
        for key in ("run", "config/alsa", "home"):
            (self.dir / key).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir / "run", 0o700)
        (self.dir / "config" / "alsa" / "asoundrc").write_text(ASOUNDRC)
        (self.dir / "seplive.pa").write_text(PULSE_CONFIG.format(rate=self.rate))
        for k, v in env.items():
            self._saved[k] = os.environ.get(k)
            os.environ[k] = v
        self._start()
        return self

    def _start(self) -> None:
        subprocess.run(
            ["pulseaudio", "--daemonize=yes", "--system=no", "-n", "-F", str(self.dir / "seplive.pa"),
             "--exit-idle-time=-1", "--disallow-exit=yes", "--use-pid-file=yes",
             f"--log-target=file:{self.dir / 'pulse.log'}"],
            check=True, timeout=20,
        )
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start: " + (self.dir / "pulse.log").read_text()[-2000:])
            time.sleep(0.05)

    def restart(self, down_s: float = 0.5) -> None:
        """Kill the daemon and start it again with the same configuration (what a desktop's
        `pulseaudio -k` does): modules loaded since, like a capture sink, are gone."""
        subprocess.run(["pulseaudio", "--kill"], capture_output=True, timeout=10)
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], capture_output=True).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(down_s)
        self._start()

    def pactl(self, *args: str) -> str:
        return subprocess.run(["pactl", *args], capture_output=True, text=True, check=True, timeout=10).stdout

    def __exit__(self, *exc) -> None:
        subprocess.run(["pulseaudio", "--kill"], capture_output=True, timeout=10)
        time.sleep(0.1)
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.dir, ignore_errors=True)


class JackServer:
    """jackd with the dummy backend (no hardware), synchronous mode (-S)."""

    def __init__(self, rate: int = 48000, period: int = 256, channels: int = 2) -> None:
        self.rate, self.period, self.channels = rate, period, channels
        self.proc: subprocess.Popen | None = None
        # a name of its own, so that several test runs on one machine never share a server
        JackServer._count += 1
        self.name = f"seplive-test-{os.getpid()}-{JackServer._count}"

    _count = 0

    @staticmethod
    def _clean_stale() -> None:
        # leftovers of a server that died make the next one fail ("already active"); but
        # while any jackd runs (a test's named server), its files are not leftovers
        if subprocess.run(["pgrep", "-x", "jackd"], capture_output=True).returncode == 0:
            return
        for f in glob.glob("/dev/shm/jack*"):
            try:
                if os.path.isdir(f):
                    shutil.rmtree(f)
                else:
                    os.unlink(f)
            except OSError:
                pass

    def __enter__(self) -> JackServer:
        if shutil.which("jackd") is None:
            raise RuntimeError("jackd is not installed (scripts/setup.sh installs jackd2)")
        os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
        os.environ["JACK_NO_START_SERVER"] = "1"
        self._saved_server = os.environ.get("JACK_DEFAULT_SERVER")
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        self._clean_stale()
        # jackd's messages go to a file, never to a pipe nobody reads while it runs: a long
        # run with xruns fills a pipe (64 KiB), and then every jackd thread that logs blocks
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            ["jackd", "-n", self.name, "-R", "-S", "-t", "5000", "-d", "dummy", "-r", str(self.rate), "-p", str(self.period),
             "-C", str(self.channels), "-P", str(self.channels)],
            stdout=subprocess.DEVNULL, stderr=self._log,
        )
        deadline = time.monotonic() + 10
        while True:
            r = subprocess.run(["jack_lsp"], capture_output=True, text=True)
            if r.returncode == 0 and "system:" in r.stdout:
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jackd did not start: {self.log()[-1000:]}")
            time.sleep(0.05)

    def log(self) -> str:
        """What jackd has written so far (its stderr)."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def xruns(self) -> int:
        """The xruns jackd itself logged (the whole graph's: any client late in a cycle)."""
        return sum(1 for line in self.log().splitlines() if "xrun" in line.lower())

    def ports(self) -> list[str]:
        return subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split()

    def connect(self, a: str, b: str) -> None:
        subprocess.run(["jack_connect", a, b], check=True, capture_output=True, timeout=10)

    def wait_ports(self, prefix: str, count: int = 4, timeout: float = 10.0) -> list[str]:
        """The ports whose names start with ``prefix``, once ``count`` of them exist."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ports = [p for p in self.ports() if p.startswith(prefix)]
            if len(ports) >= count:
                return ports
            time.sleep(0.05)
        raise AssertionError(f"no JACK ports {prefix}* appeared: {self.ports()}")

    def rewire(self, src_client: str, dst_client: str) -> None:
        """Unplug both clients from system:*, then src:out_k -> dst:in_k and back (stereo)."""
        for c in (src_client, dst_client):
            for k in (0, 1):
                for a, b in ((f"system:capture_{k + 1}", f"{c}:in_{k}"), (f"{c}:out_{k}", f"system:playback_{k + 1}")):
                    subprocess.run(["jack_disconnect", a, b], capture_output=True, timeout=10)
        for k in (0, 1):
            self.connect(f"{src_client}:out_{k}", f"{dst_client}:in_{k}")
            self.connect(f"{dst_client}:out_{k}", f"{src_client}:in_{k}")


    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        self._clean_stale()
        if self._saved_server is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = self._saved_server


#: a JACK test client (run as its own process): plays argv[1] (.npy) through "system, JACK"
#: while recording argv[3] channels into argv[2]; its duplex stream adds one period
JACK_PLAYREC = """
import sys, numpy as np, sounddevice as sd
sig = np.load(sys.argv[1])
rec = sd.playrec(sig, 48000, channels=int(sys.argv[3]), device=("system, JACK", "system, JACK"), blocking=True)
np.save(sys.argv[2], rec)
"""
