"""The package as users get it: a wheel built from the tree, installed into a fresh virtual
environment, finds its shipped presets and controller profiles and runs a preset on a file.

The fresh environment has its own seplive (the wheel, nothing else of this checkout) and
borrows the third-party dependencies from the test environment through a plain path entry,
so the test needs no network and no second torch.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.paths import ROOT


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    # only what a source distribution has: the package, the presets, the metadata
    shutil.copytree(ROOT / "seplive", src / "seplive", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(ROOT / "presets", src / "presets")
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    r = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist", src)
    assert r.returncode == 0, r.stderr
    wheel = next((tmp / "dist").glob("seplive-*.whl"))
    venv = tmp / "venv"
    r = run(sys.executable, "-m", "venv", venv)
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # the dependencies (numpy, torch...) from this environment; a plain path line, so that
    # this environment's own .pth files (an editable seplive) are not run
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = run(py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel)
    assert r.returncode == 0, r.stderr
    return {"venv": venv, "py": py, "wheel": wheel, "tmp": tmp}


def test_the_wheel_carries_presets_and_controller_profiles(fresh_env):
    import zipfile

    names = zipfile.ZipFile(fresh_env["wheel"]).namelist()
    for p in (ROOT / "presets").glob("*.toml"):
        assert any(n.endswith(f"data/share/seplive/presets/{p.name}") for n in names), p.name
    assert any(n.endswith("data/share/seplive/presets/controllers/nanokontrol2.toml") for n in names)


def test_installed_wheel_lists_and_runs_presets(fresh_env, tmp_path):
    venv, py = fresh_env["venv"], fresh_env["py"]
    exe = venv / "bin" / "seplive"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "JACK_DEFAULT_SERVER": "seplive-tests-no-jack-here"}
    where = run(py, "-c", "import seplive; print(seplive.__file__)", cwd=tmp_path, env=env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    r = run(exe, "--version", cwd=tmp_path, env=env)
    assert r.returncode == 0 and r.stdout.startswith("seplive ")
    r = run(exe, "presets", "--json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    shipped = {p.stem for p in (ROOT / "presets").glob("*.toml")}
    assert {p["name"] for p in listed["presets"]} == shipped
    assert all(Path(p["path"]).is_relative_to(venv) and p["where"] == "shipped" for p in listed["presets"])
    assert {c["name"] for c in listed["controllers"]} >= {"nanokontrol2", "launchcontrolxl"}
    assert all(Path(c["path"]).is_file() and Path(c["path"]).is_relative_to(venv) for c in listed["controllers"])
    x = np.random.default_rng(1).standard_normal((48000, 2)).astype(np.float32) * 0.1
    sf.write(tmp_path / "in.wav", x, 48000, subtype="FLOAT")
    r = run(exe, "--preset", "karaoke", "-i", tmp_path / "in.wav", "-o", tmp_path / "out.wav", "--report",
            tmp_path / "r.json", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["mix"]["muted"] == ["vocals"] and sf.info(tmp_path / "out.wav").frames == 48000
