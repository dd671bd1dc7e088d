"""Per-stem effects changed live over OSC (real UDP, the session's OSC server) during a
paced session: a cutoff sweep from 16 kHz to 300 Hz is smooth (no click above 8 kHz)."""

import numpy as np
import pytest

from seplive.fx.pyo_backend import available
from tests.support.osc import Client, osc

if not available():  # (imports pyo quietly)
    pytest.skip("pyo (the fx extra) is not installed", allow_module_level=True)

RATE = 48000


def test_cutoff_sweep_over_osc_is_smooth(high_band, tmp_path):
    import threading
    import time

    import soundfile as sf

    from seplive.control.osc import OscControl
    from seplive.session import Session, SessionConfig

    n = int(2.0 * RATE)
    t = np.arange(n) / RATE
    x = (0.4 * np.sin(2 * np.pi * 100 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)
    x = x[:, None].repeat(2, axis=1)
    path, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    ctl = OscControl(0)
    session = Session(SessionConfig(input=str(path), output=str(out), model="identity", prompts=["vocals"],
                                    realtime=True, controls=[ctl], fx={"vocals": {"lowpass": 16000.0}}))
    eng = session.engine
    report = {}
    thread = threading.Thread(target=lambda: report.update(session.run()), daemon=True)
    thread.start()
    client = Client(ctl.port)
    try:
        while session.frames_in < RATE // 4:
            time.sleep(0.005)
        # 16 kHz -> 300 Hz in 20 messages over ~0.4 s, each a jump of ~20 % in frequency
        for f in np.geomspace(16000, 300, 20):
            client.send(osc("/seplive/fx/vocals/lowpass", float(f)))
            time.sleep(0.02)
        client.send(osc("/seplive/state"))
        args = client.wait_for("/seplive/fx/vocals/lowpass", pred=lambda a: abs(a[0] - 300) < 1)
        thread.join(timeout=30)
    finally:
        client.close()
    y, _ = sf.read(out, dtype="float32")
    assert args == [300.0]
    # (deadline misses, on a loaded machine, play dry over a crossfade: no click either)
    assert eng.fx.processed["vocals"] > 0 and not eng.fx.failed
    assert eng.mix.settings.fx["vocals"]["lowpass"] == pytest.approx(300.0)
    L = eng.latency_samples
    ref = np.zeros_like(y)
    ref[L:] = x[: len(y) - L]
    # the input has nothing above 3 kHz and a low-pass adds nothing: anything above 8 kHz
    # is a click from the sweep.  Ramped (log-frequency, ramp_ms) it stays below -74 dBFS;
    # unramped steps reach -50 dBFS (test_unramped_sweep_clicks)
    hf = high_band(y)
    print(f"\nOSC sweep: above 8 kHz at most {20 * np.log10(hf):.1f} dBFS ({report['deadline_misses']} deadline misses)")
    assert hf < 2e-4
    # the sweep did act: by the end the 3 kHz tone is gone, the 100 Hz one is still there
    tail = y[-RATE // 4 :, 0]
    spec = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    k3, k1 = 3000 * len(tail) // RATE, 100 * len(tail) // RATE
    assert 20 * np.log10(spec[k3 - 2 : k3 + 3].max() / spec[k1 - 2 : k1 + 3].max()) < -12 - 35
