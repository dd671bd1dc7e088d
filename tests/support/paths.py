"""Where the tests find the repository and their checked-in data."""

from pathlib import Path

#: the repository root (its presets/, seplive/, pyproject.toml)
ROOT = Path(__file__).resolve().parents[2]
#: tests/data: small checked-in models and references
DATA = ROOT / "tests" / "data"
