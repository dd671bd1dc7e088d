"""The OSC handlers fuzzed against a real, idle Session (not running): random datagrams
and random messages never raise, and the mix stays finite (gains in dB, wet in 0..1)."""

import math
import socket

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message_builder import OscMessageBuilder

from seplive.control.osc import OscControl
from seplive.session import Session, SessionConfig
from tests.support.osc import write_input


@pytest.fixture(scope="module")
def idle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("osc_fuzz")
    path = tmp / "in.wav"
    write_input(path, 0.2)
    session = Session(SessionConfig(input=str(path), model="identity", prompts=["vocals"]))
    ctl = OscControl(0, rate_per_s=1e9, burst=1e9)
    ctl.attach(session)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    yield session, ctl, sink.getsockname()
    ctl.close()
    sink.close()
    session.engine.close()
    session.source.close()


SEGMENTS = ["seplive", "stem", "vocals", "1", "99", "rest", "drums", "gain", "gain_db", "mute", "solo",
            "toggle", "select", "master", "wet", "bypass", "prompts", "preset", "load", "next", "ping",
            "state", "subscribe", "unsubscribe", "", "x"]
ARG = st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.floats(width=32),
    st.text(max_size=20),
    st.booleans(),
    st.binary(min_size=1, max_size=16),
    st.none(),
)


def _apply_posted(session):
    """Run one block through the engine so it takes (and validates) what was posted."""
    block = np.zeros((session.engine.block, 2), np.float32)
    session.engine.push(block)
    session.engine.pull(len(block))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600))
def test_fuzz_random_datagrams_never_raise(idle, data):
    session, ctl, sender = idle
    ctl.handle_packet(data, sender)
    ctl.handle_packet(b"#bundle\x00" + data, sender)
    _apply_posted(session)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=8)), min_size=1, max_size=5),
    args=st.lists(ARG, max_size=4),
)
def test_fuzz_messages_never_raise(idle, parts, args):
    session, ctl, sender = idle
    address = "/" + "/".join(parts)
    b = OscMessageBuilder(address)
    try:
        for a in args:
            b.add_arg(a)
        data = b.build().dgram
    except Exception:  # python-osc cannot encode it (e.g. a NUL in a string): skip
        return
    ctl.handle_packet(data, sender)
    ctl.handle_message(address, list(args), sender)  # also unencodable values, directly
    _apply_posted(session)
    s = session.engine.mix.settings
    assert all(math.isfinite(v) for v in s.gain_db.values()) and math.isfinite(s.master_db)
    assert 0.0 <= s.wet <= 1.0
