"""Control-to-audio latency: a message is sent -> the output audio changes.

Runs a paced (``--realtime``) Session with the ``identity`` model on a constant input,
so the output is exactly ``gain x input`` delayed by the engine's latency, and toggles
``stem.vocals.mute`` many times at random moments, over OSC (UDP on 127.0.0.1) and over
MIDI (a CC through JACK MIDI, jackd started here with the dummy backend).  For every
toggle it finds the output sample where the level starts to move and where the 10 ms
ramp ends, and prints, median and p99:

* ``transport``: message sent -> the control posts the change (parse, dispatch);
* ``to change``: message sent -> first changed output sample, with output sample ``k``
  taken to play at ``t0 + k / rate`` (the stream's clock; a sound card adds its own
  output buffer on top).  This contains the transport, the wait for the next hop
  boundary (0 to one hop: a change applies from the first sample of the next block the
  engine takes in) and the engine's latency;
* ``control part``: ``to change`` minus the engine's latency: what control adds;
* ``to done``: message sent -> the ramp has reached the new level (adds the ramp).

    .venv/bin/python bench/bench_control.py [--toggles 60] [--only osc|midi]
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seplive.control.midi import JACK_BACKEND, MidiControl  # noqa: E402
from seplive.control.osc import OscControl, _message  # noqa: E402
from seplive.session import Session, SessionConfig  # noqa: E402

RATE = 48000
LEVEL = 0.5


class Clock:
    """A control whose start() notes when the session's stream clock started."""

    t0 = 0.0

    def start(self, session) -> None:
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        pass


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def run_toggles(control, send, toggles: int, tmp: Path, rng: np.random.Generator) -> dict:
    seconds = 1.0 + toggles * 0.22
    x = np.full((int(seconds * RATE), 2), LEVEL, np.float32)
    sf.write(tmp / "in.wav", x, RATE, subtype="FLOAT")
    clock = Clock()
    session = Session(
        SessionConfig(
            input=str(tmp / "in.wav"),
            output=str(tmp / "out.wav"),
            model="identity",
            prompts=["vocals"],
            realtime=True,
            controls=[clock, control],
        )
    )
    posts: list[float] = []
    original_post = session.post

    def timed_post(change):
        posts.append(time.perf_counter())
        original_post(change)

    session.post = timed_post  # measure only: when the control hands the change over
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("report", session.run()))
    th.start()
    while session.frames_in < RATE // 2:
        time.sleep(0.01)
    sends = []
    for i in range(toggles):
        time.sleep(rng.uniform(0.12, 0.25))
        n_posts = len(posts)
        t = time.perf_counter()
        send(i % 2 == 0)
        sends.append((t, n_posts))
    time.sleep(0.3)
    session.stop("bench done")
    th.join()
    y = sf.read(tmp / "out.wav", dtype="float32")[0][:, 0]
    L = session.engine.latency_samples
    starts, ends, transport = [], [], []
    k = L
    for i, (t, n_posts) in enumerate(sends):
        before, after = (LEVEL, 0.0) if i % 2 == 0 else (0.0, LEVEL)
        moved = np.nonzero(np.abs(y[k:] - before) > 1e-4)[0]
        if not len(moved):
            raise RuntimeError(f"toggle {i} never reached the output")
        k0 = k + int(moved[0])
        done = np.nonzero(np.abs(y[k0:] - after) < 1e-4)[0]
        k1 = k0 + int(done[0])
        starts.append(k0 / RATE - (t - clock.t0))
        ends.append(k1 / RATE - (t - clock.t0))
        if len(posts) > n_posts:
            transport.append(posts[n_posts] - t)
        k = k1
    return {
        "report": result["report"],
        "latency_s": L / RATE,
        "hop": session.engine.hop,
        "ramp": session.engine.mix.ramp_samples,
        "to_change_s": np.array(starts),
        "to_done_s": np.array(ends),
        "transport_s": np.array(transport),
    }


def bench_osc(toggles: int, tmp: Path, rng) -> dict:
    ctl = OscControl(0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    on, off = _message("/seplive/stem/vocals/mute", (1,)), _message("/seplive/stem/vocals/mute", (0,))

    def send(mute: bool) -> None:
        sock.sendto(on if mute else off, ("127.0.0.1", ctl.port))

    try:
        return run_toggles(ctl, send, toggles, tmp, rng)
    finally:
        sock.close()


MIDI_MAP = """
[profile]
name = "bench"
[profile.controls]
mute = { cc = 48 }
[map]
mute = { target = "stem.vocals.mute", button = "momentary" }
"""


def bench_midi(toggles: int, tmp: Path, rng) -> dict:
    import mido

    if shutil.which("jackd") is None:
        raise RuntimeError("jackd is not installed (apt-get install jackd2)")
    name = f"seplive-bench-{os.getpid()}"
    os.environ.update(JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1", JACK_DEFAULT_SERVER=name)
    proc = subprocess.Popen(
        ["jackd", "-n", name, "-R", "-S", "-t", "5000", "-d", "dummy", "-r", str(RATE), "-p", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 10
        while subprocess.run(["jack_lsp"], capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("jackd did not start")
            time.sleep(0.05)
        backend = mido.Backend(JACK_BACKEND, load=True)
        port = backend.open_output("benchctl", virtual=True)
        (tmp / "map.toml").write_text(MIDI_MAP)
        ctl = MidiControl("benchctl", tmp / "map.toml", backend=JACK_BACKEND)
        if not ctl.wait_connected(5):
            raise RuntimeError("the MIDI control did not connect")

        def send(mute: bool) -> None:
            port.send(mido.Message("control_change", control=48, value=127 if mute else 0))

        try:
            return run_toggles(ctl, send, toggles, tmp, rng)
        finally:
            port.close()
    finally:
        proc.terminate()
        proc.wait()
        for f in glob.glob(f"/dev/shm/jack*{name}*"):
            os.unlink(f)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--toggles", type=int, default=60, help="mute toggles per transport (default 60)")
    p.add_argument("--only", choices=("osc", "midi"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"machine: {machine()}")
    rows = []
    for name, fn in (("OSC", bench_osc), ("MIDI (JACK)", bench_midi)):
        if args.only and args.only not in name.lower():
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                r = fn(args.toggles, Path(tmp), rng)
            except RuntimeError as exc:
                print(f"{name}: skipped: {exc}")
                continue
        rows.append((name, r))
    if not rows:
        return 1
    r0 = rows[0][1]
    print(
        f"identity model, 48 kHz, hop {r0['hop']} samples ({1000 * r0['hop'] / RATE:.2f} ms), "
        f"ramp {r0['ramp']} samples ({1000 * r0['ramp'] / RATE:.1f} ms), engine latency {1000 * r0['latency_s']:.2f} ms; "
        f"{args.toggles} toggles per transport"
    )
    print(f"{'transport':<12} {'what':<14} {'median':>10} {'p99':>10} {'min':>10} {'max':>10}")
    for name, r in rows:
        lines = [
            ("transport", r["transport_s"] * 1e3),
            ("to change", r["to_change_s"] * 1e3),
            ("control part", (r["to_change_s"] - r["latency_s"]) * 1e3),
            ("to done", r["to_done_s"] * 1e3),
        ]
        for what, v in lines:
            print(
                f"{name:<12} {what:<14} {np.median(v):>8.3f}ms {np.percentile(v, 99):>8.3f}ms "
                f"{v.min():>8.3f}ms {v.max():>8.3f}ms"
            )
        rep = r["report"]
        print(f"{name:<12} deadline misses {rep['deadline_misses']}, compute p99 {rep['compute_ms_p99']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
