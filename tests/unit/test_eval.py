"""seplive eval: metrics, silent references, offline vs engine, the real CLI end to end."""

import json
import subprocess
import sys

import numpy as np
import pytest

from seplive.eval.metrics import best_assignment, score_stem
from seplive.eval.report import markdown
from seplive.eval.runner import EngineSettings, System, evaluate
from seplive.models import registry
from seplive.models.trained import plugin_for_checkpoint
from tests.support.toy_mixtures import ToySource


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Small tensors (see conftest)."""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny LaSAFT trained for 2 steps at 24 kHz (weights + sidecar, as 'seplive train' writes)."""
    from seplive.train.config import config_from_dict
    from seplive.train.trainer import train

    out = tmp_path_factory.mktemp("ckpt")
    cfg = config_from_dict({"model": {"architecture": "lasaft", "options": {"preset": "tiny"}},
                            "data": {"sample_rate": 24000, "seconds": 0.5, "batch_size": 2},
                            "train": {"steps": 2, "checkpoint_every": 2}})
    train(cfg, out, source=ToySource(24000, 0.5), echo=lambda s: None)
    return out / "model.pt"


def test_score_stem_improvement_and_silent_reference():
    rng = np.random.default_rng(0)
    s, n = rng.standard_normal((2, 8000)), rng.standard_normal((2, 8000))
    mix = s + n
    as_mix = score_stem(mix, s, mix)
    assert as_mix["si_sdr_i"] == pytest.approx(0.0, abs=1e-9) and as_mix["si_sdr"] == pytest.approx(0.0, abs=0.2)
    better = score_stem(s + 0.1 * n, s, mix)
    assert better["si_sdr"] == pytest.approx(20.0, abs=0.5) and better["si_sdr_i"] > 19
    assert better["sdr_i"] > 15
    assert score_stem(mix, np.zeros_like(s), mix) is None
    order = best_assignment(["speech", "speech", "drums"], np.stack([n, s, mix]), np.stack([s, n, mix]))
    assert order == [1, 0, 2]


def test_offline_and_engine_side_by_side_with_silent_references_counted(checkpoint):
    src = ToySource(24000, 0.5, seed=9)
    examples = [src.example(i) for i in range(3)]
    n_silent = sum(p == "other" for e in examples for p in e.prompts)
    systems = [System("mixture"), System("hpss", registry.create("hpss")),
               System("tiny", plugin_for_checkpoint(checkpoint, context_ms=100))]
    rep = evaluate(systems, [("toy", examples)], EngineSettings(hop_ms=40))
    res = rep["results"]["toy"]
    assert set(res) == {"mixture", "hpss", "tiny"}
    assert set(res["tiny"]) == {"offline", "engine"} and set(res["mixture"]) == {"offline"}
    for mode in ("offline", "engine"):
        drums = res["tiny"][mode]["drums"]
        assert drums["n"] == sum(e.prompts.count("drums") for e in examples) and np.isfinite(drums["si_sdr_i"])
        if n_silent:
            assert res["tiny"][mode]["other"]["silent"] == n_silent and res["tiny"][mode]["other"]["n"] == 0
    # a causal DSP plugin: its offline result is its engine run
    assert res["hpss"]["offline"]["drums"] == res["hpss"]["engine"]["drums"]
    assert "hpss" in rep["runs"] and rep["runs"]["tiny"]["engine"]["latency_ms"] > 0
    text = markdown(rep)
    assert "| tiny | engine |" in text and "| mixture (SI-SDR / SDR) | offline |" in text


def _eval(*args):
    return subprocess.run([sys.executable, "-m", "seplive", "eval", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_center_on_the_heldout_set(tmp_path):
    r = _eval("--model", "center", "--tasks", "karaoke", "--n", "1", "--seconds", "1", "--rate", "24000",
              "--json", tmp_path / "e.json", "--markdown", tmp_path / "e.md", "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "e.json").read_text())
    k = rep["results"]["karaoke"]
    assert list(k) == ["mixture", "center"]  # hpss knows neither karaoke prompt: no row
    assert k["center"]["offline"]["vocals"]["n"] == 1 and k["center"]["offline"] == k["center"]["engine"]
    assert k["mixture"]["offline"]["vocals"]["si_sdr_i"] == pytest.approx(0.0, abs=1e-9)
    assert rep["settings"]["tasks"] == ["karaoke"] and rep["settings"]["rate"] == 24000
    md = (tmp_path / "e.md").read_text()
    assert "### karaoke" in md and "| center | engine |" in md


def test_cli_studio_task_scores_the_same_song_placed_as_a_studio_would(tmp_path):
    r = _eval("--model", "center", "--baselines", "mixture", "--tasks", "karaoke,studio_karaoke", "--n", "1",
              "--seconds", "1", "--rate", "24000", "--modes", "offline", "--json", tmp_path / "e.json", "-q")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "e.json").read_text())["results"]
    assert set(res) == {"karaoke", "studio_karaoke"}
    plain, studio = (res[t]["center"]["offline"]["vocals"]["si_sdr_i"] for t in ("karaoke", "studio_karaoke"))
    # the same song: only the placement differs, and center reads placement
    assert plain != studio


def test_cli_checkpoint_offline_and_engine(tmp_path, checkpoint):
    r = _eval("--checkpoint", checkpoint, "--baselines", "mixture", "--tasks", "music4", "--n", "1",
              "--seconds", "1", "--context-ms", "100", "--hop-ms", "250", "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "e.json").read_text())
    assert rep["settings"]["rate"] == 24000  # the checkpoint's rate
    name = rep["settings"]["systems"][1]
    res = rep["results"]["music4"][name]
    assert set(res) == {"offline", "engine"} and set(res["engine"]) == {"drums", "bass", "other", "vocals"}
    for mode in ("offline", "engine"):
        assert all(s["n"] == 1 and np.isfinite(s["si_sdr"]) and np.isfinite(s["sdr_i"]) for s in res[mode].values())
    assert rep["runs"][name]["engine"]["hop"] == 6016  # 250 ms at 24 kHz on the model's 128-sample grid
    assert f"| {name} | engine |" in r.stdout


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    from seplive.cli import main

    assert main(["eval", "--model", "nosuch", "--tasks", "karaoke", "--n", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "unknown model 'nosuch'" in err
    assert main(["eval", "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "sidecar" in err
    assert main(["eval", "--baselines", "center", "--tasks", "karaok"]) == 2
    assert "unknown task 'karaok'" in capsys.readouterr().err


def test_cli_scores_a_stems_folder(tmp_path):
    import soundfile as sf

    rate, n = 24000, 24000
    t = np.arange(n) / rate
    song = tmp_path / "songs" / "song1"
    song.mkdir(parents=True)
    vocals = 0.2 * np.sin(2 * np.pi * 330 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    sf.write(song / "vocals.wav", np.stack([vocals, vocals], 1), rate)  # centre-panned
    rng = np.random.default_rng(0)
    accomp = 0.05 * rng.standard_normal((n, 2))  # wide: different in each channel
    sf.write(song / "accompaniment.wav", accomp, rate)  # an alias of musicbg
    r = _eval("--stems", tmp_path / "songs", "--baselines", "mixture,center", "--json", tmp_path / "e.json", "-q")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "e.json").read_text())["results"]["stems:songs"]
    assert set(res["center"]["offline"]) == {"vocals", "musicbg"}
    # centre/side separation does what it is for on a centred voice over a wide bed
    assert res["center"]["offline"]["vocals"]["si_sdr_i"] > 3.0


def test_an_architecture_with_its_own_live_plugin_gets_it(checkpoint, tmp_path, monkeypatch):
    """Checkpoints of an architecture mapped to a registry plugin open that plugin (as
    'native' checkpoints open NativeSeparator); here the tiny LaSAFT is mapped to 'hpss'."""
    import shutil

    from seplive.models import architectures

    ckpt = tmp_path / "m.pt"
    shutil.copy(checkpoint, ckpt)
    side = json.loads(checkpoint.with_suffix(".json").read_text())
    side["architecture"] = "toy-live"
    ckpt.with_suffix(".json").write_text(json.dumps(side))
    monkeypatch.setitem(architectures._ARCHITECTURES, "toy-live", architectures.build_lasaft)
    monkeypatch.setitem(architectures._LIVE_PLUGINS, "toy-live", "hpss")
    assert plugin_for_checkpoint(ckpt).name == "hpss"
    assert plugin_for_checkpoint(checkpoint, context_ms=100).name == "checkpoint"


def _snr(est, ref):
    return 10 * np.log10(np.sum(ref**2) / np.sum((est - ref) ** 2))


@pytest.mark.parametrize("name", ["oracle-irm", "oracle-psm", "oracle-irm-offline"])
def test_oracle_masks_reconstruct_align_and_separate_what_a_mask_can(name):
    from seplive.eval.oracle import oracle

    o = oracle(name)
    rate, n = 24000, 12000
    t = np.arange(n) / rate
    rng = np.random.default_rng(3)
    # the whole mixture as the target: mask 1, so the output is the input, sample-aligned
    mix = 0.1 * rng.standard_normal((2, n))
    np.testing.assert_allclose(o.separate(mix, mix[None])[0], mix, atol=1e-5)
    # two tones far apart in frequency: a mask that knows them separates them
    tones = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 3000 * t)])[:, None].repeat(2, 1)
    est = o.separate(tones.sum(0), tones)
    assert est.shape == tones.shape
    assert min(_snr(est[i][:, 2048:-2048], tones[i][:, 2048:-2048]) for i in range(2)) > 25
    # two white noises share every bin: no real mask gets far (and the ratio mask not even 10 dB)
    noises = 0.1 * rng.standard_normal((2, 2, n))
    got = [_snr(e, s) for e, s in zip(o.separate(noises.sum(0), noises), noises, strict=True)]
    assert all(0.5 < g < 10 for g in got), got


def test_the_phase_sensitive_oracle_beats_the_ratio_one_where_sources_overlap():
    from seplive.eval.oracle import oracle

    rng = np.random.default_rng(4)
    noises = 0.1 * rng.standard_normal((2, 2, 12000))
    snr = {name: np.mean([_snr(e, s) for e, s in zip(oracle(name).separate(noises.sum(0), noises), noises, strict=True)])
           for name in ("oracle-irm", "oracle-psm")}
    assert snr["oracle-psm"] > snr["oracle-irm"] + 1, snr


def test_cli_oracle_baselines_score_once_per_example_beside_the_engine(tmp_path):
    r = _eval("--baselines", "mixture,oracle-irm", "--model", "center", "--tasks", "karaoke", "--n", "1",
              "--seconds", "1", "--rate", "24000", "--modes", "engine", "--json", tmp_path / "e.json")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "e.json").read_text())["results"]["karaoke"]
    assert set(res["oracle-irm"]) == {"oracle"} and set(res["center"]) == {"engine"}
    vocals = res["oracle-irm"]["oracle"]["vocals"]
    assert vocals["n"] == 1 and vocals["si_sdr_i"] > res["center"]["engine"]["vocals"]["si_sdr_i"] + 3  # it knows
    assert "| oracle-irm | oracle |" in r.stdout
    bad = _eval("--baselines", "oracle-ibm", "--tasks", "speech_sfx", "--n", "1")
    assert bad.returncode == 2 and "oracle-irm-offline" in bad.stderr
