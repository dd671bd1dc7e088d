"""Check seplive's architecture: layers import downward only, no import circles, and no
class over 250 lines or function over 60 (outside the declarative tables allowed below).

Usage: python scripts/arch_check.py [ROOT]   (prints each violation; exit 1 if any)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

#: the layers, lowest first; a module may import modules of its own layer or below
LAYERS: list[tuple[str, ...]] = [
    ("seplive", "seplive.config"),
    ("seplive.models",),
    ("seplive.fx",),
    ("seplive.stream",),
    ("seplive.data",),
    ("seplive.train",),
    ("seplive.eval",),
    ("seplive.control", "seplive.spectrogram"),
    ("seplive.validate", "seplive.presets", "seplive.settings"),
    ("seplive.session", "seplive.status", "seplive.demo"),
    ("seplive.commands", "seplive.cli", "seplive.__main__"),
]
MAX_CLASS = 250
MAX_FUNCTION = 60
#: functions that are declarative tables (argument lists, schemas), allowed to be long
TABLES: set[str] = set()


def rank(module: str) -> int:
    best, found = -1, -1
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best:
                best, found = len(n), i
    return found


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for p in sorted((root / "seplive").rglob("*.py")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("seplive"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("seplive"):
                continue
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
            found.update(subs or [mod])
    # TYPE_CHECKING-only imports count too: they are edges a reader follows
    return {m for m in found if m != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def violations(root: Path) -> list[str]:
    known = modules(root)
    graph = {}
    for m, p in known.items():
        # a package's own __init__ re-exporting its submodules is not a circle
        graph[m] = {d for d in imports(m, p, known) if not (m.startswith(d + ".") and d + "." in m + ".")}
    problems = []
    for m, deps in graph.items():
        r = rank(m)
        if r < 0:
            problems.append(f"layer: {m} is in no layer (add it to LAYERS)")
        for d in sorted(deps):
            if rank(d) > r:
                problems.append(f"upward import: {m} (layer {r}) -> {d} (layer {rank(d)})")
    for comp in cycles(graph):
        problems.append("circle: " + " <-> ".join(comp))
    for m, p in known.items():
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            n = node.end_lineno - node.lineno + 1 if hasattr(node, "end_lineno") else 0
            if isinstance(node, ast.ClassDef) and n > MAX_CLASS:
                problems.append(f"long class: {p.relative_to(root)}:{node.lineno} {node.name} {n} lines")
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and n > MAX_FUNCTION:
                if f"{m}.{node.name}" not in TABLES:
                    problems.append(f"long function: {p.relative_to(root)}:{node.lineno} {node.name} {n} lines")
    return problems


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    found = violations(root)
    print("\n".join(found) or "ok")
    sys.exit(1 if found else 0)
