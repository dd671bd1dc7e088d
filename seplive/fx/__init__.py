"""Per-stem effects (pyo, driven by the engine's clock) and the master limiter.

``seplive.fx.params`` (names, ranges, parsing) needs nothing beyond the core; the
effect chains need pyo, the ``fx`` extra: ``pip install 'seplive[fx]'``.
"""

from .params import NAMES, PARAMS, FxSettings, check_param, fx_updates, parse_fx_arg, parse_fx_table

__all__ = ["NAMES", "PARAMS", "FxSettings", "check_param", "fx_updates", "parse_fx_arg", "parse_fx_table"]
