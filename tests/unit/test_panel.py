"""The real-recording panel (seplive.data.panel): mixtures of recordings that ship in Debian and
PyPI packages only, held out from training by source, scored by `seplive eval --tasks realpanel`."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seplive.commands import eval as eval_cli
from seplive.data import panel

needs_panel = pytest.mark.skipif(
    not panel.panel_available(), reason="panel recordings not installed (scripts/setup.sh)"
)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_the_cli_knows_the_same_tasks_as_the_panel():
    assert tuple(panel.PANEL_TASKS) == eval_cli.PANEL_TASKS == eval_cli.FAMILIES[panel.PANEL_FAMILY]


def test_the_manifest_names_each_file_once_and_only_in_held_out_folders():
    files = panel.panel_files()
    assert len(files) == len({f.label for f in files}) >= 60
    assert all(f.root in panel.HELDOUT_FOLDERS for f in files)
    for f in files:
        p = f.resolve()
        if p is not None:
            assert panel.is_heldout(p)


def test_nothing_the_training_generator_reads_is_held_out():
    # by source: no training file or folder is, contains or lies inside a panel folder
    sources = panel.training_sources()
    assert sources, "the generator reads something (at least the soundfont search path)"
    held = [Path(p).resolve() for p in panel.heldout_folders()]
    for s in sources:
        real = Path(s).resolve()
        assert not panel.is_heldout(real), s
        assert not any(real in h.parents for h in held), s


def test_soundfonts_skip_a_held_out_folder(tmp_path, monkeypatch):
    from seplive.data import heldout, soundfonts

    (tmp_path / "leak.sf2").write_bytes(b"RIFF")
    monkeypatch.setenv(soundfonts.ENV_VAR, str(tmp_path))
    assert tmp_path / "leak.sf2" in soundfonts.soundfont_files()
    monkeypatch.setattr(heldout, "heldout_folders", lambda: [tmp_path])
    assert tmp_path / "leak.sf2" not in soundfonts.soundfont_files()
    monkeypatch.setenv(soundfonts.ENV_VAR, str(tmp_path / "leak.sf2"))  # a file named directly, too
    assert tmp_path / "leak.sf2" not in soundfonts.soundfont_files()


@needs_panel
@pytest.mark.parametrize("task", list(panel.PANEL_TASKS))
def test_each_task_is_deterministic_and_sums_to_its_mixture(task):
    a = panel.panel_set(task, n=1, seconds=2.0, sample_rate=24000)
    b = panel.panel_set(task, n=1, seconds=2.0, sample_rate=24000)
    other_seed = panel.panel_set(task, n=1, seed=7, seconds=2.0, sample_rate=24000)
    (ex,), (again,), (other,) = a, b, other_seed
    assert ex.task == task and ex.prompts == list(panel.PANEL_TASKS[task]) and ex.sample_rate == 24000
    assert ex.mixture.shape == (2, 48000) and ex.targets.shape == (len(ex.prompts), 2, 48000)
    assert ex.mixture.dtype == np.float32 and np.isfinite(ex.mixture).all() and np.abs(ex.mixture).max() <= 0.98 + 1e-6
    np.testing.assert_array_equal(ex.mixture, again.mixture)  # same seed, same audio
    np.testing.assert_array_equal(ex.targets, again.targets)
    assert not np.array_equal(ex.mixture, other.mixture)
    np.testing.assert_allclose(ex.mixture, ex.targets.sum(axis=0), atol=1e-6)  # the contract
    # realistic levels: every source is there, the target neither buried nor trivially loud
    levels = [_rms(t) for t in ex.targets]
    assert min(levels) > 1e-3
    target, rest = ex.targets[0], ex.targets[1:].sum(axis=0)
    assert -8.0 < 20 * np.log10(_rms(target) / _rms(rest)) < 8.0
    assert ex.name and all(p in ex.sources for p in ex.prompts)
    if task == "realpanel_vocals":  # the voice dead centre, the band not
        np.testing.assert_allclose(ex.targets[0][0], ex.targets[0][1], atol=1e-7)
        other_idx = ex.prompts.index("other")
        assert not np.allclose(ex.targets[other_idx][0], ex.targets[other_idx][1])


@needs_panel
def test_a_longer_set_starts_with_the_shorter_one():
    short = panel.panel_set("realpanel_other", n=1, seconds=1.0, sample_rate=24000)
    longer = panel.panel_set("realpanel_other", n=3, seconds=1.0, sample_rate=24000)
    np.testing.assert_array_equal(short[0].mixture, longer[0].mixture)
    assert len({ex.name for ex in longer}) >= 2


def test_unknown_task_and_missing_recordings_say_what_to_do(monkeypatch):
    with pytest.raises(ValueError, match="unknown panel task"):
        panel.panel_set("realpanel_nope")
    monkeypatch.setattr(panel, "missing_files", lambda: [panel.MANIFEST["sfx"][0]])
    with pytest.raises(ValueError, match="sonic-pi-samples"):
        panel.panel_set("realpanel_speech_sfx", n=1, seconds=1.0)


@needs_panel
def test_eval_cli_scores_the_realpanel_family(tmp_path):
    r = subprocess.run([sys.executable, "-m", "seplive", "eval", "--baselines", "mixture,oracle-irm", "--tasks", "realpanel",
                        "--n", "1", "--seconds", "1", "--rate", "24000", "--json", str(tmp_path / "e.json"), "-q"],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "e.json").read_text())
    assert rep["settings"]["tasks"] == list(panel.PANEL_TASKS)
    for task, prompts in panel.PANEL_TASKS.items():
        res = rep["results"][task]
        assert set(res["mixture"]["offline"]) == set(prompts)
        assert all(res["oracle-irm"]["oracle"][p]["si_sdr_i"] > 0 for p in prompts)
    assert all(row.get("name") for row in rep["examples"])  # which recordings made each example
    assert all(row["scored"]["mixture"]["offline"] == row["prompts"] for row in rep["examples"])
    bad = subprocess.run(
        [sys.executable, "-m", "seplive", "eval", "--tasks", "realpanl"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "realpanel" in bad.stderr
