"""A plugin per prompt: lanes of engines, aligned to the slowest, mixed as one."""

import numpy as np
import pytest

from seplive.models.base import SeparatorError
from seplive.models.dsp import Identity
from seplive.models.routing import PluginRoute, split_model_specs
from seplive.stream.engine import EngineConfig, process_array
from seplive.stream.lanes import LaneEngine
from seplive.stream.mix import MixChange, MixSettings


class Failing(Identity):
    """An identity plugin that raises on every hop (a model that breaks mid-set)."""

    name = "failing"

    def process(self, window, prompts):
        raise RuntimeError("broken on purpose")


def lanes(mix: MixSettings, first=None, second=None, **cfg) -> LaneEngine:
    first = first or Identity(lookahead_samples=256)
    second = second or Identity(context_samples=128)
    second.name = "identity2"
    config = EngineConfig(source_rate=48000, channels=2, hop_samples=512, **cfg)
    return LaneEngine([(first, ("vocals", "other")), (second, ("drums",))], mix, config)


def noise(seconds=1.0, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal((int(48000 * seconds), 2))).astype(np.float32)


def test_lanes_line_up_at_the_slowest_latency():
    # the first lane waits for 256 samples of lookahead, the second does not: both must meet
    eng = lanes(MixSettings.from_cli(["drums"], [], {}))
    own = [lane.mix_latency - lane.align_delay for lane in eng.lanes]
    assert own[0] != own[1]
    assert eng.latency_samples == max(own)
    x = noise()
    y = process_array(eng, x, align=False)
    L = eng.latency_samples
    # soloing an identity stem gives the input back, delayed by exactly the reported latency
    np.testing.assert_allclose(y[L:], x[: len(x) - L], atol=1e-6)


def test_stems_of_two_lanes_and_rest_add_up():
    # vocals (lane 1) at -6 dB, drums (lane 2) at 0 dB, rest at 0 dB; identity stems are the
    # input, so the mix is rest + 0.5 x + x with rest = x - 2x: 0.5 x, only if the lanes align
    mix = MixSettings.from_cli([], [], {"vocals": 20 * np.log10(0.5), "drums": 0.0})
    mix.stems = ["vocals", "drums"]
    eng = lanes(mix)
    x = noise()
    y = process_array(eng, x, align=True)
    np.testing.assert_allclose(y[2000:], 0.5 * x[2000:], atol=1e-5)
    assert eng.served_by() == {"vocals": "identity", "other": "identity", "drums": "identity2"}


def test_a_prompt_switched_live_reaches_the_lane_that_serves_it():
    eng = lanes(MixSettings.from_cli(["vocals"], [], {}))
    x = noise(0.5)
    process_array(eng, x, align=False)
    assert "drums" not in eng.meters  # its lane rests: the plugin is not called
    eng.mix.post(MixChange("prompts", ["drums"]))
    y = process_array(eng, noise(1.0, seed=1), align=False)
    assert "drums" in eng.meters and eng.prompts == ["drums"]
    assert np.abs(y[-4800:]).max() > 0.05  # drums (the input itself) soloed


def test_a_failing_lane_plays_its_stems_as_rest_and_the_other_lane_goes_on():
    mix = MixSettings.from_cli([], ["vocals", "drums"], {})  # mute both: output = input - 2 stems
    eng = lanes(mix, second=Failing())
    x = noise()
    y = process_array(eng, x, align=True)
    c = eng.counters
    assert c.plugin_errors > 0 and eng.lanes[0].counters.plugin_errors == 0
    # the failing lane's drums fall back into rest: the output is input - vocals = 0 (identity)
    assert np.abs(y[4000:]).max() < 1e-5
    assert eng.lane_report()[1]["plugin_errors"] == c.plugin_errors


def test_route_specs_and_preferences():
    main, routes = split_model_specs(["native", "voice=center"])
    assert main == "native" and routes == {"speech": "center"}
    with pytest.raises(SeparatorError, match="two main models"):
        split_model_specs(["native", "center"])
    with pytest.raises(SeparatorError, match="PROMPT=NAME"):
        split_model_specs(["rest=center"])
    route = PluginRoute("hpss", {"vocals": ["nosuchmodel", "center"]})
    assert route.served["vocals"] == "center" and route.served["drums"] == "hpss"
    assert route.notes and "nosuchmodel" in route.notes[0]
    assert route.name == "hpss + vocals=center"
    with pytest.raises(SeparatorError, match="no prompt 'speech'"):
        PluginRoute("hpss", {"speech": "center"})
    with pytest.raises(SeparatorError, match="serves no prompt"):
        PluginRoute("hpss", {"vocals": "center"}, {"identity.sample_rate": 8000})


def test_the_status_view_names_the_plugin_of_each_stem(tmp_path):
    import io

    import soundfile as sf
    from rich.console import Console

    from seplive.session import Session, SessionConfig
    from seplive.status import LiveView

    src = tmp_path / "in.wav"
    sf.write(src, noise(1.0), 48000, subtype="FLOAT")
    session = Session(SessionConfig(input=str(src), output=str(tmp_path / "o.wav"), model="identity",
                                    models={"vocals": "center"}, prompts=["vocals", "drums"]))
    session.run()
    console = Console(file=io.StringIO(), width=140, record=True)
    console.print(LiveView(session).render(session.live_status()))
    text = console.export_text()
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "center" in rows["vocals"] and "identity" in rows["drums"]
    assert "identity + vocals=center" in text


@pytest.mark.parametrize("block", [None, 128, 441])
def test_lanes_of_different_hops_and_kinds_meet_to_the_sample(block):
    """native (stateful, hop 384, unit masks: its stems are the input delayed by its model
    delay) beside identity (windowed, hop 512): each soloed, and both, come out as the input
    delayed by exactly the reported latency, at any device block."""
    import torch

    from seplive.models.native import NativeNet, NativeSeparator

    torch.manual_seed(0)
    native = NativeSeparator(model=NativeNet("tiny"), unit_mask=True, threads=None)
    x = noise(0.6)
    for solo in (["vocals"], ["speech"], ["vocals", "speech"]):
        eng = LaneEngine([(native, ("vocals",)), (Identity(), ("speech",))], MixSettings.from_cli(solo, [], {}),
                         EngineConfig(source_rate=48000, channels=2, block_samples=block))
        own = [lane.mix_latency - lane.align_delay for lane in eng.lanes]
        assert eng.latency_samples == max(own) and own[0] != own[1]
        y = process_array(eng, x, align=False)
        L = eng.latency_samples
        np.testing.assert_allclose(y[L + 2000 :], len(solo) * x[2000 : len(x) - L], atol=1e-5)


def test_stems_out_with_two_plugins_add_up_to_the_input(tmp_path):
    import soundfile as sf

    from seplive.session import Session, SessionConfig

    src = tmp_path / "in.wav"
    x = noise(1.0)
    x[:, 1] = 0.5 * x[:, 0] + 0.5 * x[:, 1]  # partly centred, so center has something to take
    sf.write(src, x, 48000, subtype="FLOAT")
    Session(SessionConfig(input=str(src), output=str(tmp_path / "o.wav"), model="identity", models={"vocals": "center"},
                          prompts=["vocals", "drums"], stems_out=f"{tmp_path}/stems/", align=True)).run()
    stems = {n: sf.read(tmp_path / "stems" / f"{n}.wav", dtype="float32")[0] for n in ("vocals", "drums", "rest")}
    out = sf.read(tmp_path / "o.wav", dtype="float32")[0]
    inner = slice(4000, -4000)
    np.testing.assert_allclose(stems["drums"][inner], x[inner], atol=1e-5)  # identity's lane
    assert np.sqrt(np.mean(stems["vocals"] ** 2)) > 0.01  # center's lane took the centre
    np.testing.assert_allclose(sum(stems.values())[inner], x[inner], atol=1e-5)  # rest = input - stems
    np.testing.assert_allclose(out[inner], (stems["vocals"] + stems["drums"])[inner], atol=1e-4)
