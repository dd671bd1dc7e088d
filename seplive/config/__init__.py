"""The config kit: one way to read and check the TOML files and settings seplive takes.

Presets, the user config, ``SEPLIVE_*`` variables, MIDI maps and training configs all use
it: field checkers that give one-line errors naming where (``file: section.key``), one
"did you mean" helper, a TOML reader with size and nesting caps, the folders where
shipped files and the user's config live, and name -> factory tables imported lazily.  It imports nothing else from seplive.
"""

from .checks import (
    Check,
    boolean,
    boolean_text,
    check_keys,
    choice,
    host_port,
    kind_of,
    located,
    number,
    table,
    text,
    text_list,
)
from .errors import ConfigError
from .named import NamedFactories
from .places import shipped_dir, user_config_dir
from .suggest import CUTOFF, closest, did_you_mean
from .tomlfile import MAX_TOML_BYTES, MAX_TOML_DEPTH, loads_toml, read_toml

__all__ = [
    "CUTOFF", "Check", "ConfigError", "MAX_TOML_BYTES", "MAX_TOML_DEPTH", "NamedFactories", "boolean", "boolean_text", "check_keys",
    "choice", "closest", "did_you_mean", "host_port", "kind_of", "loads_toml", "located", "number", "read_toml",
    "shipped_dir", "table", "text", "text_list", "user_config_dir",
]
