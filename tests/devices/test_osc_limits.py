"""Issue #24, OSC limits in time: preset loads a few a second (a huge file refused at once,
unparsed), and a flood from 64 source ports held to the total limit while a paced Session
runs.  Real UDP on 127.0.0.1."""

import subprocess
import sys
import time

from seplive.control.osc import OscControl
from tests.support.osc import RATE, Running, write_input
from tests.support.soakrun import FLOOD_MANY


def test_preset_loads_are_rate_limited_and_huge_files_refused_at_once(idle_session, tmp_path):
    from seplive.presets import PresetSwitcher

    switcher = PresetSwitcher()
    switcher.bind(idle_session)
    big = tmp_path / "big.toml"
    big.write_text("description = 'big'\n" + "".join(f"k{i} = {i}\n" for i in range(400_000)))  # ~5 MB
    ctl = OscControl(0, on_preset=switcher)
    try:
        ctl.attach(idle_session)
        t = time.perf_counter()
        ctl.handle_message("/seplive/preset/load", [str(big)], ("127.0.0.1", 5000))
        assert time.perf_counter() - t < 0.05  # refused by its size, unparsed
        assert ctl.stats["refused"] == 1
        for _ in range(20):
            ctl.handle_message("/seplive/preset/load", ["karaoke"], ("127.0.0.1", 5000))
        assert ctl.stats["handled"] <= 5, ctl.stats  # a few a second, the rest refused
    finally:
        ctl.close()


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
    # one second of flood (plus the time the idle_session took to wind down) at the total limit
    assert ctl.stats["handled"] <= ctl._global.rate * 1.6 + ctl._global.burst, ctl.stats
    assert ctl.stats["datagrams"] <= ctl._reads.rate * 1.6 + ctl._reads.burst, ctl.stats
    assert ctl.stats["rate_limited"] > sent / 2, ctl.stats
