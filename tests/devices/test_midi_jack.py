"""MIDI control over real JACK MIDI (jackd with the dummy backend), driving real paced
Sessions: a fake controller is a pair of virtual JACK MIDI ports in this process.

jackd runs under a name of its own (so a developer's or another test's server is left
alone) with ``-S`` (synchronous mode: the asynchronous one repeats values in bursts when
the rtmidi callback waits for the GIL).  Skipped only if jackd is missing or cannot start
(``scripts/setup.sh`` installs ``jackd2``).
"""

import glob
import os
import shutil
import subprocess
import sys
import threading
import time

import mido
import numpy as np
import pytest
import soundfile as sf

from seplive.control.learn import learn_main
from seplive.control.mapping import load_mapping
from seplive.control.midi import JACK_BACKEND, MidiControl
from seplive.control.osc import OscControl
from seplive.control.targets import gain_db_of
from seplive.session import Session, SessionConfig
from seplive.stream.mix import MixChange
from tests.support.midi_maps import FADER_MAP, write_map
from tests.support.rerun import rerun

RATE = 48000


@pytest.fixture(scope="module")
def jack():
    if shutil.which("jackd") is None:
        pytest.skip("jackd is not installed (scripts/setup.sh installs the Debian package jackd2)")
    name = f"seplive-test-{os.getpid()}"
    env = {"JACK_NO_AUDIO_RESERVATION": "1", "JACK_NO_START_SERVER": "1", "JACK_DEFAULT_SERVER": name}
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    proc = subprocess.Popen(
        ["jackd", "-n", name, "-R", "-S", "-t", "5000", "-d", "dummy", "-r", str(RATE), "-p", "256"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    end = time.monotonic() + 10
    while subprocess.run(["jack_lsp"], capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            out = proc.communicate()[0][-600:]
            mp.undo()
            pytest.skip(f"jackd could not start: {out}")
        time.sleep(0.05)
    yield name
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for f in glob.glob(f"/dev/shm/jack*{name}*"):  # leftovers would block the next start
        try:
            os.unlink(f)
        except OSError:
            pass
    mp.undo()


class FakeController:
    """A controller on JACK: it sends from a virtual output port and records what comes
    back on a virtual input port (LED feedback), both named ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.backend = mido.Backend(JACK_BACKEND, load=True)
        self.received: list[mido.Message] = []
        self.open()

    def open(self) -> None:
        self.out = self.backend.open_output(self.name, virtual=True)
        self.inp = self.backend.open_input(self.name, virtual=True, callback=self.received.append)

    def close(self) -> None:
        self.out.close()
        self.inp.close()

    def cc(self, control: int, value: int, channel: int = 0) -> None:
        self.out.send(mido.Message("control_change", channel=channel, control=control, value=value))

    def note(self, note: int, velocity: int, channel: int = 0) -> None:
        kind = "note_on" if velocity else "note_off"
        self.out.send(mido.Message(kind, channel=channel, note=note, velocity=velocity))

    def wait_received(self, pred, timeout_s: float = 3.0) -> mido.Message:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            for m in list(self.received):
                if pred(m):
                    return m
            time.sleep(0.01)
        raise AssertionError(f"not received; got {self.received[-10:]}")


@pytest.fixture
def fake(jack, request):
    f = FakeController(f"fake{abs(hash(request.node.name)) % 10**6}")
    yield f
    try:
        f.close()
    except Exception:
        pass


class Running:
    """A realtime identity Session (``--prompts vocals``) on its own thread."""

    def __init__(self, tmp_path, controls, seconds: float = 8.0, kind: str = "noise", amp: float = 0.3) -> None:
        n = int(seconds * RATE)
        if kind == "noise":
            self.x = np.random.default_rng(5).standard_normal((n, 2)).astype(np.float32) * amp
        else:
            t = np.arange(n) / RATE
            self.x = (amp * np.sin(2 * np.pi * 100.0 * t))[:, None].repeat(2, axis=1).astype(np.float32)
        sf.write(tmp_path / "in.wav", self.x, RATE, subtype="FLOAT")
        self.out = tmp_path / "out.wav"
        self.session = Session(
            SessionConfig(
                input=str(tmp_path / "in.wav"),
                output=str(self.out),
                model="identity",
                prompts=["vocals"],
                realtime=True,
                controls=controls,
            )
        )
        self.report = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.report = self.session.run()

    @property
    def settings(self):
        return self.session.engine.mix.settings

    def wait(self, pred, timeout_s: float = 3.0, what: str = "condition") -> None:
        end = time.monotonic() + timeout_s
        while not pred():
            assert time.monotonic() < end, f"timed out waiting for {what}; mix is {self.settings}"
            time.sleep(0.01)

    def finish(self) -> np.ndarray:
        self.session.stop("test done")
        self.thread.join(timeout=30)
        assert self.report is not None, "session failed"
        return sf.read(self.out, dtype="float32")[0]


def vocals_gain(run: Running) -> float:
    return 10.0 ** (run.settings.gain_db.get("vocals", 0.0) / 20.0)




def test_cc_moves_stem_gain_in_the_output(tmp_path, fake):
    ctl = MidiControl(fake.name, write_map(tmp_path / "m.toml", FADER_MAP), backend=JACK_BACKEND)
    run = Running(tmp_path, [ctl])
    try:
        assert ctl.wait_connected(5), "control did not open the fake controller"
        time.sleep(0.3)
        sent_at = run.session.frames_in
        fake.cc(7, 64)
        run.wait(lambda: abs(vocals_gain(run) - 64 / 127) < 1e-4, what="gain 64/127")
        time.sleep(0.3)
    finally:
        y = run.finish()
    L = run.session.engine.latency_samples
    ref = np.zeros_like(y)
    ref[L:] = run.x[: len(y) - L]
    dev = np.abs(y - ref).max(axis=1)
    start = int(np.argmax(dev > 1e-5))
    assert sent_at - run.session.engine.block + L <= start  # not before the CC was sent
    tail = slice(start + 2000, len(y))  # after the ramp: the input at 64/127, delayed
    np.testing.assert_allclose(y[tail], ref[tail] * (64 / 127), atol=2e-6)
    assert ctl.stats["used"] == 1


def test_soft_takeover_waits_for_the_knob_to_cross_the_value(tmp_path, fake):
    ctl = MidiControl(fake.name, write_map(tmp_path / "m.toml", FADER_MAP), backend=JACK_BACKEND)
    run = Running(tmp_path, [ctl])
    try:
        assert ctl.wait_connected(5)
        run.session.post(MixChange("gain_db", gain_db_of(0.5), "vocals"))  # value at knob position 0.5
        run.wait(lambda: abs(vocals_gain(run) - 0.5) < 1e-6, what="gain 0.5")
        for v in (10, 20, 30, 40):  # below the value: ignored
            fake.cc(8, v)
        time.sleep(0.3)
        assert vocals_gain(run) == pytest.approx(0.5, abs=1e-6)
        fake.cc(8, 80)  # 40 -> 80 crosses 63.5: picked up
        run.wait(lambda: abs(vocals_gain(run) - 80 / 127) < 1e-4, what="pickup at 80")
        fake.cc(8, 90)
        run.wait(lambda: abs(vocals_gain(run) - 90 / 127) < 1e-4, what="follow to 90")
        # the value moves from elsewhere: the knob must cross it again
        run.session.post(MixChange("gain_db", gain_db_of(0.25), "vocals"))
        run.wait(lambda: abs(vocals_gain(run) - 0.25) < 1e-6, what="external 0.25")
        time.sleep(0.6)  # longer than the control's own shadow of its last change
        fake.cc(8, 95)
        time.sleep(0.3)
        assert vocals_gain(run) == pytest.approx(0.25, abs=1e-6)
        fake.cc(8, 20)  # 95 -> 20 crosses 31.75
        run.wait(lambda: abs(vocals_gain(run) - 20 / 127) < 1e-4, what="pickup at 20")
    finally:
        run.finish()


def test_relative_encoder_and_14bit_pair_over_jack(tmp_path, fake):
    ctl = MidiControl(fake.name, write_map(tmp_path / "m.toml", FADER_MAP), backend=JACK_BACKEND)
    run = Running(tmp_path, [ctl])
    try:
        assert ctl.wait_connected(5)
        for _ in range(8):  # two's complement: 127 = one tick down (1/64 each)
            fake.cc(9, 127)
        run.wait(lambda: abs(vocals_gain(run) - (1 - 8 / 64)) < 1e-4, what="8 ticks down")
        fake.cc(9, 3)  # three ticks up in one message
        run.wait(lambda: abs(vocals_gain(run) - (1 - 5 / 64)) < 1e-4, what="3 ticks up")
        fake.cc(1, 64)  # MSB: 64 << 7 = 8192
        fake.cc(33, 100)  # LSB refines it
        want = ((64 << 7) | 100) / 16383
        run.wait(
            lambda: abs(10 ** (run.settings.master_db / 20) - want) < 1e-5,
            what=f"master gain {want}",
        )
    finally:
        run.finish()


BUTTON_MAP = """
[profile]
name = "test buttons"
[profile.controls]
mute = { cc = 48, feedback = true }
solo = { note = 36, channel = 10, feedback = true, led = 4, on_value = 1, off_value = 0 }
hold = { note = 37, channel = 10 }
[map]
mute = "stem.vocals.mute"
solo = "stem.vocals.solo"
hold = { target = "stem.rest.mute", button = "momentary" }
"""


def test_led_feedback_follows_osc_and_buttons_toggle(tmp_path, fake):
    osc = OscControl(0)
    ctl = MidiControl(fake.name, write_map(tmp_path / "b.toml", BUTTON_MAP), backend=JACK_BACKEND)
    run = Running(tmp_path, [ctl, osc])
    try:
        assert ctl.wait_connected(5)
        # on connect the controller is told the whole state: everything off
        fake.wait_received(lambda m: m.type == "control_change" and m.control == 48 and m.value == 0)
        fake.wait_received(lambda m: m.type == "note_on" and m.channel == 9 and m.note == 4 and m.velocity == 0)
        fake.received.clear()
        from pythonosc.udp_client import SimpleUDPClient

        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/seplive/stem/vocals/mute", 1)
        fake.wait_received(lambda m: m.type == "control_change" and m.control == 48 and m.value == 127)
        client.send_message("/seplive/stem/vocals/solo", 1)
        fake.wait_received(lambda m: m.type == "note_on" and m.channel == 9 and m.note == 4 and m.velocity == 1)
        # the buttons themselves: a press toggles, the release does nothing
        fake.cc(48, 127)
        fake.cc(48, 0)
        run.wait(lambda: "vocals" not in run.settings.mute, what="unmute by button")
        fake.wait_received(lambda m: m.type == "control_change" and m.control == 48 and m.value == 0)
        time.sleep(0.2)
        fake.cc(48, 127)
        fake.cc(48, 0)
        run.wait(lambda: "vocals" in run.settings.mute, what="mute again by button")
        # momentary: on while held
        run.session.post(MixChange("mute", False, "rest"))
        run.wait(lambda: "rest" not in run.settings.mute, what="rest audible")
        fake.note(37, 100, channel=9)
        run.wait(lambda: "rest" in run.settings.mute, what="rest muted while held")
        fake.note(37, 0, channel=9)
        run.wait(lambda: "rest" not in run.settings.mute, what="rest back on release")
    finally:
        run.finish()


def test_learn_writes_a_mapping_that_then_works(tmp_path, fake):
    map_path = tmp_path / "learned.toml"
    result = {}
    t = threading.Thread(
        target=lambda: result.setdefault(
            "rc",
            learn_main(
                [
                    "--port", fake.name, "--map", str(map_path), "--target", "stem.vocals.gain",
                    "--backend", JACK_BACKEND, "--timeout", "10",
                ]
            ),
        ),
        daemon=True,
    )
    t.start()
    v = 0
    while t.is_alive():  # a fader being moved slowly up, over and over
        fake.cc(21, v, channel=2)
        v = (v + 3) % 128
        time.sleep(0.01)
    assert result["rc"] == 0
    text = map_path.read_text()
    assert "[profile.controls.cc21_ch3]" in text and 'target = "stem.vocals.gain"' in text
    m = load_mapping(map_path)
    (b,) = m.bindings
    assert (b.control.kind, b.control.number, b.control.channel, b.control.relative) == ("cc", 21, 2, None)
    assert m.port == fake.name

    ctl = MidiControl(None, m, backend=JACK_BACKEND)  # the port comes from the learned file
    run = Running(tmp_path, [ctl])
    try:
        assert ctl.wait_connected(5)
        fake.cc(21, 127, channel=2)  # at the value (gain 1): picked up
        fake.cc(21, 32, channel=2)
        run.wait(lambda: abs(vocals_gain(run) - 32 / 127) < 1e-4, what="learned fader")
    finally:
        run.finish()


def test_port_that_goes_away_is_reopened(tmp_path, fake):
    ctl = MidiControl(fake.name, write_map(tmp_path / "m.toml", FADER_MAP), backend=JACK_BACKEND, poll_s=0.1)
    run = Running(tmp_path, [ctl])
    try:
        assert ctl.wait_connected(5)
        fake.cc(7, 100)
        run.wait(lambda: abs(vocals_gain(run) - 100 / 127) < 1e-4, what="first CC")
        fake.close()  # unplugged
        run.wait(lambda: not ctl.connected, what="the control to notice")
        time.sleep(0.3)
        fake.open()  # plugged back in
        assert ctl.wait_connected(5), "not re-opened"
        fake.cc(7, 20)
        run.wait(lambda: abs(vocals_gain(run) - 20 / 127) < 1e-4, what="CC after the reconnect")
        assert ctl.stats["opens"] == 2
        assert run.thread.is_alive()
    finally:
        run.finish()
    assert run.report["stop_reason"] == "test done"  # nothing stopped the session but the test


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0


FLOODER = r"""
import sys, time, mido
b = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
out = b.open_output(sys.argv[1], virtual=True)
print("ready", flush=True)
sys.stdin.readline()
out.send(mido.Message("control_change", control=7, value=100))
sysex = mido.Message("sysex", data=[0x7D] + [i % 128 for i in range(250)])
clock = mido.Message("clock")
sent, t0 = 0, time.monotonic()
while time.monotonic() - t0 < float(sys.argv[2]):
    out.send(sysex if sent % 8 == 0 else clock)
    sent += 1
out.send(mido.Message("control_change", control=7, value=20))
print(sent, flush=True)
sys.stdin.readline()
out.close()
"""


def _midi_flood_run(tmp_path, attempt: int):
    """One flooded run (see the test below): (run, control, messages sent, most queued, RSS growth MB)."""
    tmp_path = tmp_path / str(attempt)
    tmp_path.mkdir()
    name = f"flooder{os.getpid()}-{attempt}"
    proc = subprocess.Popen([sys.executable, "-c", FLOODER, name, "1.5"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        ctl = MidiControl(name, write_map(tmp_path / "m.toml", FADER_MAP), backend=JACK_BACKEND, poll_s=0.1)
        run = Running(tmp_path, [ctl], seconds=5.0)
        try:
            assert ctl.wait_connected(5)
            before = _rss_mb()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            run.wait(lambda: abs(vocals_gain(run) - 100 / 127) < 1e-4, what="the CC before the flood")
            most = 0
            while proc.poll() is None and not abs(vocals_gain(run) - 20 / 127) < 1e-4:
                most = max(most, ctl._queue.qsize())
                time.sleep(0.002)
                assert run.thread.is_alive()
            sent = int(proc.stdout.readline())
            run.wait(lambda: abs(vocals_gain(run) - 20 / 127) < 1e-4, what="the CC after the flood")
            grown = _rss_mb() - before
        finally:
            run.finish()
    finally:
        proc.stdin.write("bye\n")
        proc.stdin.flush()
        proc.wait(timeout=10)
    return run, ctl, sent, most, grown


def test_sysex_and_clock_flood_is_dropped_and_control_still_works(tmp_path, jack):
    """A controller (its own process) floods SysEx and clock between two fader moves:
    the flood is dropped on arrival, the queue stays bounded, the fader still works."""
    from seplive.control.midi import MAX_QUEUED

    # a flood that costs hops costs them every run; a machine stall is a one-off
    run, ctl, sent, most, grown = rerun(lambda i: _midi_flood_run(tmp_path, i),
                                        lambda out: out[0].report["deadline_misses"] <= 1)
    print(f"\nMIDI flood: {sent} messages in 1.5 s; control stats {ctl.stats}; queue at most {most}; RSS +{grown:.1f} MB;"
          f" deadline misses {run.report['deadline_misses']}")
    assert most <= MAX_QUEUED
    # the flood was dropped on arrival (by rtmidi, or by the intake) and never reached the
    # handler: only the two CCs did
    assert ctl.stats["messages"] == 2 and sent > 1000
    assert grown < 10.0
    assert run.report["deadline_misses"] <= 1, run.report["deadline_misses"]


def test_seplive_midi_ports_are_named_seplive_on_jack(tmp_path, fake):
    # a DAW user looks for 'seplive' among the JACK MIDI ports, not 'RtMidiIn Client'
    ctl = MidiControl(fake.name, write_map(tmp_path / "m.toml", FADER_MAP), backend=JACK_BACKEND)
    try:
        assert ctl.wait_connected(5), "control did not open the fake controller"
        ports = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.splitlines()
        ours = [p for p in ports if p.split(":", 1)[0].startswith("seplive") and p.endswith(":seplive control in")]
        assert ours, ports
    finally:
        ctl.stop()


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
@pytest.mark.parametrize("quiet", [False, True])
def test_without_alsa_sequencer_the_raw_alsa_line_is_hidden(tmp_path, jack, quiet):
    sf.write(tmp_path / "in.wav", np.zeros((4800, 2), np.float32), RATE)
    write_map(tmp_path / "m.toml", FADER_MAP)
    cmd = [sys.executable, "-m", "seplive", "run", "-i", tmp_path / "in.wav", "-o", tmp_path / "out.wav",
           "-m", "identity", "-p", "vocals", "--midi", tmp_path / "m.toml", "--midi-port", "nothing-there"]  # fmt: skip
    r = subprocess.run(cmd + (["-q"] if quiet else []), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "snd_seq_hw_open" not in r.stderr
    assert ("no ALSA sequencer here; MIDI uses JACK" in r.stderr) is not quiet, r.stderr
