"""The package's shape (issue #21): layers import downward only, no import circles, no
class over 250 lines and no function over 60 (scripts/arch_check.py says which)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
while not (ROOT / "scripts" / "arch_check.py").is_file():  # tests/ or tests/<part>/
    ROOT = ROOT.parent


def _checker():
    spec = importlib.util.spec_from_file_location("arch_check", ROOT / "scripts" / "arch_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_layers_circles_and_sizes():
    assert _checker().violations(ROOT) == []


def test_the_checker_sees_an_upward_import_and_a_circle(tmp_path):
    """The check can fail: a model importing the session is caught, and so is a circle."""
    pkg = tmp_path / "seplive"
    (pkg / "models").mkdir(parents=True)
    (pkg / "session").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "models" / "a.py").write_text("from ..session import b\n")
    (pkg / "models" / "c.py").write_text("from . import d\n")
    (pkg / "models" / "d.py").write_text("from . import c\n" + "def f():\n" + "    x = 1\n" * 70)
    (pkg / "session" / "__init__.py").write_text("")
    (pkg / "session" / "b.py").write_text("")
    found = _checker().violations(tmp_path)
    assert any(v.startswith("upward import: seplive.models.a") for v in found)
    assert any(v.startswith("circle:") and "seplive.models.c" in v for v in found)
    assert any(v.startswith("long function:") and " f " in v for v in found)
