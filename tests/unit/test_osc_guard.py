"""Issue #24, OSC: a self-feedback guard, presets loaded by name (a path only from this
machine), out-of-range values clamped and counted, output over full scale counted.  Real
UDP on 127.0.0.1 against an idle Session; the limits in time (presets a few a second, a
flood from many ports) are in tests/devices/test_osc_limits.py."""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
import soundfile as sf

from seplive import cli
from seplive.control.osc import OscControl
from tests.support.osc import Client, osc, write_input

RATE = 48000


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


def test_a_subscription_naming_itself_is_refused_and_echoes_are_dropped(idle_session):
    ctl = OscControl(0)
    try:
        ctl.start(idle_session)
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


def test_presets_load_by_name_and_by_path_only_from_this_machine(idle_session, tmp_path):
    calls = []
    ctl = OscControl(0, on_preset=lambda action, name: calls.append(name) or name)
    try:
        ctl.attach(idle_session)
        far = ("192.0.2.7", 9)  # TEST-NET: replies go nowhere
        for path in ["/etc/passwd", "../x.toml", "~/.ssh/id_rsa", "presets/karaoke.toml", "C:\\x.toml"]:
            ctl.handle_message("/seplive/preset/load", [path], far)
        assert calls == [] and ctl.stats["refused"] == 5
        ctl.handle_message("/seplive/preset/load", ["karaoke"], far)
        ctl.handle_message("/seplive/preset/load", [str(tmp_path / "p.toml")], ("127.0.0.1", 5000))
        assert calls == ["karaoke", str(tmp_path / "p.toml")]
    finally:
        ctl.close()


def test_huge_values_are_clamped_and_counted(idle_session):
    ctl = OscControl(0)
    try:
        ctl.attach(idle_session)
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
