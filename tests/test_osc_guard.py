"""Issue #24, OSC: a self-feedback guard, limits per sender and in total, presets loaded by
name (a path only from this machine, a few a second, size-capped), out-of-range values
clamped and counted.  Real UDP on 127.0.0.1; the flood test drives a real paced Session."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from soakrun import FLOOD_MANY
from test_osc import Client, Running, osc, write_input

from seplive import cli
from seplive.control.osc import OscControl
from seplive.session import Session, SessionConfig

RATE = 48000


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def session(tmp_path):
    write_input(tmp_path / "in.wav", 0.5)
    return Session(SessionConfig(input=str(tmp_path / "in.wav"), model="identity", prompts=["vocals"]))


def test_feedback_to_its_own_port_is_refused(tmp_path, capsys):
    port = free_port()
    with pytest.raises(OSError) as info:
        OscControl(port, subscribers=(("127.0.0.1", port),))
    assert "own OSC port" in str(info.value) and "\n" not in str(info.value)
    write_input(tmp_path / "in.wav", 0.2)
    rc = cli.main(["-i", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav"), "-m", "identity", "-p", "vocals",
                   "--osc", str(port), "--osc-feedback", f"127.0.0.1:{port}", "-q"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "own OSC port" in err, err
    assert not (tmp_path / "o.wav").exists()


def test_a_subscription_naming_itself_is_refused_and_echoes_are_dropped(session):
    ctl = OscControl(0)
    try:
        ctl.start(session)
        before = list(ctl.mixer.settings().stems)
        client = Client(ctl.port)
        try:
            client.send(osc("/seplive/subscribe", "127.0.0.1", ctl.port))
            reply = client.wait_for("/seplive/error")
            assert "own OSC port" in reply[0]
            time.sleep(0.3)  # feedback ticks would have echoed by now
        finally:
            client.close()
        assert ctl.subscribers == {}
        # a datagram from its own address (what an echo would be) never acts
        ctl.handle_packet(osc("/seplive/stem/drums/selected", 1), ("127.0.0.1", ctl.port))
        ctl.handle_packet(osc("/seplive/prompts", "drums", "bass"), ("127.0.0.1", ctl.port))
        assert ctl.stats["own_echoes"] == 2
        assert list(ctl.mixer.settings().stems) == before
    finally:
        ctl.stop()


def test_presets_load_by_name_and_by_path_only_from_this_machine(session, tmp_path):
    calls = []
    ctl = OscControl(0, on_preset=lambda action, name: calls.append(name) or name)
    try:
        ctl.attach(session)
        far = ("192.0.2.7", 9)  # TEST-NET: replies go nowhere
        for path in ["/etc/passwd", "../x.toml", "~/.ssh/id_rsa", "presets/karaoke.toml", "C:\\x.toml"]:
            ctl.handle_message("/seplive/preset/load", [path], far)
        assert calls == [] and ctl.stats["refused"] == 5
        ctl.handle_message("/seplive/preset/load", ["karaoke"], far)
        ctl.handle_message("/seplive/preset/load", [str(tmp_path / "p.toml")], ("127.0.0.1", 5000))
        assert calls == ["karaoke", str(tmp_path / "p.toml")]
    finally:
        ctl.close()


def test_preset_loads_are_rate_limited_and_huge_files_refused_at_once(session, tmp_path):
    from seplive.presets import PresetSwitcher

    switcher = PresetSwitcher()
    switcher.bind(session)
    big = tmp_path / "big.toml"
    big.write_text("description = 'big'\n" + "".join(f"k{i} = {i}\n" for i in range(400_000)))  # ~5 MB
    ctl = OscControl(0, on_preset=switcher)
    try:
        ctl.attach(session)
        t = time.perf_counter()
        ctl.handle_message("/seplive/preset/load", [str(big)], ("127.0.0.1", 5000))
        assert time.perf_counter() - t < 0.05  # refused by its size, unparsed
        assert ctl.stats["refused"] == 1
        for _ in range(20):
            ctl.handle_message("/seplive/preset/load", ["karaoke"], ("127.0.0.1", 5000))
        assert ctl.stats["handled"] <= 5, ctl.stats  # a few a second, the rest refused
    finally:
        ctl.close()


def test_huge_values_are_clamped_and_counted(session):
    ctl = OscControl(0)
    try:
        ctl.attach(session)
        ctl.handle_message("/seplive/stem/vocals/gain_db", [1e38], ("127.0.0.1", 5000))
        ctl.handle_message("/seplive/master/gain", [1e38], ("127.0.0.1", 5000))
        ctl.handle_message("/seplive/wet", [1e38], ("127.0.0.1", 5000))
        assert ctl.stats["clamped"] == 3 and ctl.stats["handled"] == 3
    finally:
        ctl.close()


def test_output_over_full_scale_is_counted_in_float_files(tmp_path, capsys):
    write_input(tmp_path / "in.wav", 0.3, amp=0.3)
    rc = cli.main(["-i", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav"), "-m", "identity", "-p", "vocals",
                   "--gain", "vocals=24", "--master-db", "24", "--report", str(tmp_path / "r.json"), "-q"])
    assert rc == 0, capsys.readouterr().err
    y, _ = sf.read(tmp_path / "o.wav")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["clipped_samples"] == int(np.count_nonzero(np.abs(y) > 1.0)) > 0


def test_a_flood_from_many_ports_is_held_to_the_total_limit(tmp_path):
    """64 source ports, valid messages, as fast as one process sends them: what reaches the
    mix stays within the total limit, whatever the number of ports."""
    path = tmp_path / "in.wav"
    write_input(path, 2.0)
    ctl = OscControl(0)
    run = Running(tmp_path, path, [ctl])
    run.wait_frames(RATE // 20)
    flood = subprocess.run([sys.executable, "-c", FLOOD_MANY, str(ctl.port), "1.0", "30000", "64"],
                           capture_output=True, text=True, timeout=30)
    run.finish(stop=False)
    assert flood.returncode == 0, flood.stderr
    sent = int(flood.stdout.split()[0])
    print(f"\nflood from 64 ports: {sent} datagrams; {ctl.stats}")
    assert sent > 5000
    # one second of flood (plus the time the session took to wind down) at the total limit
    assert ctl.stats["handled"] <= ctl._global.rate * 1.6 + ctl._global.burst, ctl.stats
    assert ctl.stats["datagrams"] <= ctl._reads.rate * 1.6 + ctl._reads.burst, ctl.stats
    assert ctl.stats["rate_limited"] > sent / 2, ctl.stats
