"""Which plugin serves which prompt: ``-m native -m speech=dfn3``, ``[models] speech = "dfn3"``.

A session has a main model (``--model``, default ``native``) that serves every prompt it
knows, and may route single prompts to other plugins.  A route may name several plugins in
order of preference (``speech = ["dfn3", "native"]``): the first that can be built here
serves the prompt, and :attr:`PluginRoute.notes` says why the others were passed over (an
extra not installed...).

Model options (``--model-opt``) go to the main model; ``NAME.key=value`` goes to plugin
``NAME`` (``--model-opt dfn3.atten_lim_db=12``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import registry
from .base import Separator, SeparatorError
from .prompts import REST, canonical


def split_model_specs(specs: Sequence[str], where: str = "--model") -> tuple[str | None, dict[str, str]]:
    """``["native", "speech=dfn3"]`` -> ``("native", {"speech": "dfn3"})``.  More than one
    bare name, or an empty part, is an error naming ``where``."""
    main: str | None = None
    routes: dict[str, str] = {}
    for spec in specs:
        prompt, sep, name = str(spec).partition("=")
        if not sep:
            name = prompt.strip()
            if not name:
                raise SeparatorError(f"{where}: empty model name")
            if main is not None and main != name:
                raise SeparatorError(f"{where}: two main models ({main!r}, {name!r}); route the others as PROMPT=NAME")
            main = name
            continue
        prompt, name = canonical(prompt), name.strip()
        if not prompt or not name or prompt == REST:
            raise SeparatorError(f"{where}: expected NAME or PROMPT=NAME (not for 'rest'), got {spec!r}")
        routes[prompt] = name
    return main, routes


def split_options(options: Mapping[str, Any], names: Sequence[str], main: str) -> dict[str, dict[str, Any]]:
    """Model options per plugin name: ``NAME.key`` to ``NAME``, plain keys to ``main``."""
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    out.setdefault(main, {})
    for key, value in options.items():
        head, dot, rest = key.partition(".")
        if dot and head in out:
            out[head][rest] = value
        elif dot and head in registry.available():
            raise SeparatorError(f"--model-opt {key}: model '{head}' serves no prompt in this session")
        else:
            out[main][key] = value
    return out


class PluginRoute:
    """The plugins of one session and the prompts each one serves.

    It answers what the session asks of "its model" (``name``, ``prompts``,
    ``sample_rate``, ``check_prompts``), over all of them.
    """

    def __init__(self, main: str, routes: Mapping[str, str | Sequence[str]] | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        routes = dict(routes or {})
        self.notes: list[str] = []
        wanted = {canonical(p): ([n] if isinstance(n, str) else list(n)) for p, n in routes.items()}
        names = [main, *dict.fromkeys(n for ns in wanted.values() for n in ns)]
        opts = split_options(options or {}, list(dict.fromkeys(names)), main)
        self._built: dict[str, Separator] = {}
        main_plugin = self._build(main, opts)
        chosen: dict[str, str] = {}
        for prompt, prefs in wanted.items():
            chosen[prompt] = self._pick(prompt, prefs, opts)
        self.main = main_plugin
        self.served: dict[str, str] = {}  # prompt -> plugin name
        for p in main_plugin.prompts:
            self.served[p] = main
        for prompt, name in chosen.items():
            self.served[prompt] = name
        used = list(dict.fromkeys([main, *chosen.values()]))
        #: (plugin, the prompts it serves), the main model first when it serves any
        self.lanes: list[tuple[Separator, tuple[str, ...]]] = []
        for name in used:
            served = tuple(p for p, n in self.served.items() if n == name)
            if served or len(used) == 1:
                self.lanes.append((self._built[name], served))
        for name, plugin in self._built.items():  # built for a preference, then not used
            if name not in used:
                _close(plugin)
        self.prompts = tuple(self.served)
        self.sample_rate = main_plugin.sample_rate

    def _build(self, name: str, opts: dict[str, dict[str, Any]]) -> Separator:
        if name not in self._built:
            self._built[name] = registry.create(name, **opts.get(name, {}))
        return self._built[name]

    def _pick(self, prompt: str, prefs: list[str], opts: dict[str, dict[str, Any]]) -> str:
        for i, name in enumerate(prefs):
            last = i == len(prefs) - 1
            try:
                plugin = self._build(name, opts)
            except SeparatorError as exc:
                if last:
                    raise
                self.notes.append(f"{prompt}: not {name} ({exc})")
                continue
            if prompt not in plugin.prompts:
                if last:
                    raise SeparatorError(f"model '{name}' has no prompt '{prompt}'; it knows: {' '.join(plugin.prompts)}")
                self.notes.append(f"{prompt}: not {name} (it has no '{prompt}')")
                continue
            return name
        raise SeparatorError(f"no model for '{prompt}'")  # prefs is never empty

    @property
    def single(self) -> Separator | None:
        """The one plugin, when the session has only one."""
        return self.lanes[0][0] if len(self.lanes) == 1 else None

    @property
    def name(self) -> str:
        if self.single is not None:
            return self.single.name
        routed = [f"{p}={n}" for p, n in self.served.items() if n != self.main.name]
        return f"{self.main.name} + {', '.join(routed)}"

    def check_prompts(self, prompts: Sequence[str]) -> None:
        for p in prompts:
            if p != REST and p not in self.served:
                raise SeparatorError(f"no model in this session serves '{p}'; they serve: {' '.join(self.prompts)}")

    def describe(self, stems: Sequence[str]) -> dict[str, str]:
        """{stem: plugin name} for ``stems`` (rest: the input minus them)."""
        return {s: self.served[s] for s in stems if s in self.served}

    def close(self) -> None:
        for plugin in self._built.values():
            _close(plugin)


def _close(plugin: Separator) -> None:
    finish = getattr(plugin, "close", None)
    if callable(finish):
        finish()
