"""The package's layers (docs/architecture.md, Rules): lower modules never import higher ones, and
no module imports itself back through others.

Imports are read with `ast` from the source, those inside functions too (an import deferred to
keep `munch --help` light is still a dependency). `from .. import __version__` reads a constant
from the package root, not the root's lazy `Tagger`, so it counts as no edge.
"""

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "munchables"

# Lowest first; a module may import from its own package and from earlier layers only.
LAYERS = [
    {"errors"},
    {"choices", "util"},
    {"settings", "paper"},
    {"data"},
    {"crf", "schedules", "ordering", "evaluate"},
    {"methods", "embeddings", "model"},
    {"trainer", "resume"},
    {"tagging"},
    {"pipeline"},
    {"bench", "experiments"},
    {"cli"},
]
LAYER = {group: n for n, groups in enumerate(LAYERS) for group in groups}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The munchables modules `name` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                if base == "munchables" and alias.name == "__version__":
                    continue
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "munchables"


def test_every_top_level_module_and_package_has_a_layer():
    groups = {_group(m) for m in _modules()} - {"munchables"}
    assert groups == set(LAYER), "add the new module to LAYERS here and to docs/architecture.md"


def test_lower_layers_never_import_higher_ones():
    wrong = [f"{a} imports {b}" for a, targets in _graph().items() for b in targets
             if _group(a) != "munchables" and _group(b) != _group(a) and
             (_group(b) == "munchables" or LAYER[_group(b)] >= LAYER[_group(a)])]
    assert not wrong, wrong


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on.discard(component[-1])
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert _cycles(graph) == [["a", "b", "c"]]
