"""Device tests: everything under tests/devices carries the ``devices`` marker, and a test
that needs one private audio server asks for it by fixture (support/servers.py has the
classes, for tests that need several servers or special options)."""

from pathlib import Path

import pytest

from tests.support.servers import JackServer, PulseServer

HERE = Path(__file__).parent
RATE = 48000


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # tryfirst: marked before `-m` deselects
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.devices)


@pytest.fixture
def pulse_server():
    """A private PulseAudio at 48 kHz with the null sinks ``speakers`` and ``app_out``,
    for one test."""
    with PulseServer(RATE) as ps:
        yield ps


@pytest.fixture
def jack_server():
    """jackd with the dummy backend at 48 kHz, 256-frame periods, 2 in and 2 out, for one test."""
    with JackServer(RATE, period=256) as js:
        yield js
