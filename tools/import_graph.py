"""The project's import graph: module cycles, and which top-level package imports which.

    python tools/import_graph.py            # report; exit 1 if any module cycle
    python tools/import_graph.py --json     # the same as JSON (for tests and scripts)
    python tools/import_graph.py --root DIR # another tree with the same layout

Reads every .py file under bridge/, hooks/ and providers/ (and wsgi.py) with `ast`, never
importing them, and counts every import of a project module wherever it is written: at
module level, inside functions, under `if TYPE_CHECKING:`, in `try` blocks, and
`importlib.import_module("literal")`. An import postponed into a function is still a
dependency of the design, so it counts like any other.

How an import becomes an edge (importer → imported module):
- `import a.b.c` imports the module a.b.c;
- `from a.b import c` imports a.b.c when that is a module of the tree, else a.b (c is a name
  defined in a.b); relative imports are resolved against the importer's package;
- the parent packages that Python runs first (a, a.b for `import a.b.c`) are not edges:
  every submodule would otherwise depend on its package's `__init__`, and a package's
  `__init__` that re-exports its submodules would look like a cycle with each of them.

Module cycles are the strongly connected components of more than one module (Tarjan's
algorithm), each printed with the edges that tie it and where each is written.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGES = ("bridge", "hooks", "providers")
# bridge/'s sub-packages, each a layer of the flow (or beside it), and `services`, the state
# the app built (what the views, the scheduled jobs and the metrics read):
BRIDGE_LAYERS = ("core", "store", "inbound", "planning", "work", "scheduled", "ops", "metrics", "logpage", "services")
# What each layer may import besides itself: the one-way flow, written down and checked.
# A layer not named here (the assembly `bridge`: app, cli, wiring, jobs; and `wsgi`) may
# import anything, and nothing named here may import it.
LAYER_RULES: dict[str, frozenset[str]] = {
    "providers": frozenset(),
    "bridge.core": frozenset(),
    "bridge.metrics": frozenset({"bridge.core"}),
    "hooks": frozenset({"bridge.core", "providers"}),
    "bridge.store": frozenset({"bridge.core", "bridge.metrics"}),
    "bridge.services": frozenset({"bridge.core", "bridge.store", "hooks", "providers"}),
    "bridge.inbound": frozenset({"bridge.core", "bridge.store", "bridge.metrics", "bridge.services", "bridge.ops", "providers"}),
    "bridge.work": frozenset({"bridge.core", "bridge.store", "bridge.metrics", "providers"}),
    "bridge.planning": frozenset({"bridge.core", "bridge.store", "bridge.work", "hooks", "providers"}),
    "bridge.scheduled": frozenset({"bridge.core", "bridge.store", "bridge.planning", "bridge.services", "hooks", "providers"}),
    "bridge.ops": frozenset({"bridge.core", "bridge.store", "bridge.work", "bridge.metrics", "bridge.services"}),
    "bridge.logpage": frozenset(
        {"bridge.core", "bridge.store", "bridge.work", "bridge.metrics", "bridge.services", "bridge.inbound", "hooks"}
    ),
}
TOP_LEVEL_MODULES = ("wsgi.py",)
EXAMPLES_PER_PACKAGE_EDGE = 3


@dataclass(frozen=True, order=True)
class Edge:
    """`importer` imports `imported`, written at `path:line`."""

    importer: str
    imported: str
    path: str
    line: int

    def describe(self) -> str:
        return f"{self.importer} -> {self.imported}  ({self.path}:{self.line})"


@dataclass
class ImportGraph:
    modules: dict[str, Path]  # dotted name -> file
    edges: list[Edge] = field(default_factory=list)
    # `import_module(name)` with a name computed at run time: reported, not followed.
    dynamic: list[str] = field(default_factory=list)

    def successors(self) -> dict[str, set[str]]:
        graph: dict[str, set[str]] = {name: set() for name in self.modules}
        for edge in self.edges:
            graph[edge.importer].add(edge.imported)
        return graph


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of the tree by dotted name (a package by its `__init__.py`)."""
    files: list[Path] = []
    for package in packages:
        if (root / package).is_dir():
            files.extend(sorted((root / package).rglob("*.py")))
    files.extend(root / name for name in TOP_LEVEL_MODULES if (root / name).is_file())
    return {module_name(root, path): path for path in files}


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve_relative(importer: str, importer_path: Path, level: int, module: str | None) -> str | None:
    """The absolute name `from <level dots><module> import …` refers to, or None if it leaves the tree."""
    package_parts = importer.split(".") if _is_package(importer_path) else importer.split(".")[:-1]
    if level - 1 > len(package_parts):
        return None
    base = package_parts[: len(package_parts) - (level - 1)]
    if module:
        base = [*base, *module.split(".")]
    return ".".join(base) or None


def _known_prefix(name: str, modules: dict[str, Path]) -> str | None:
    """The longest module of the tree that `name` is or lies in (None for outside modules)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _imported_names(node: ast.AST, importer: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The tree's modules one AST node imports (nothing for any other node)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if (target := _known_prefix(alias.name, modules)) is not None:
                yield target
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = _resolve_relative(importer, path, node.level, node.module)
        else:
            base = node.module
        if base is None:
            return
        for alias in node.names:
            # `from a import b` where a.b is a module imports that module; otherwise b is a name in a.
            submodule = f"{base}.{alias.name}"
            target = submodule if submodule in modules else _known_prefix(base, modules)
            if target is not None:
                yield target
    elif isinstance(node, ast.Call) and _is_import_module_call(node):
        argument = node.args[0]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            name = _resolve_import_module_name(argument.value, node)
            if name is not None and (target := _known_prefix(name, modules)) is not None:
                yield target


def _resolve_import_module_name(name: str, node: ast.Call) -> str | None:
    """`import_module(".x", package)` is relative only to its literal package argument."""
    if not name.startswith("."):
        return name
    package = node.args[1] if len(node.args) > 1 else None
    if not (isinstance(package, ast.Constant) and isinstance(package.value, str)):
        return None
    level = len(name) - len(name.lstrip("."))
    parts = package.value.split(".")
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    rest = name[level:]
    return ".".join([*base, *([rest] if rest else [])]) or None


def _is_import_module_call(node: ast.Call) -> bool:
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
    return name in {"import_module", "__import__"} and bool(node.args)


def build_graph(root: Path, packages: Iterable[str] = PACKAGES) -> ImportGraph:
    root = root.resolve()
    modules = find_modules(root, packages)
    graph = ImportGraph(modules)
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative_path = path.relative_to(root).as_posix()
        edges: set[Edge] = set()
        for node in ast.walk(tree):  # every node: function bodies and TYPE_CHECKING blocks too
            for imported in _imported_names(node, importer, path, modules):
                if imported != importer:
                    edges.add(Edge(importer, imported, relative_path, node.lineno))
            if isinstance(node, ast.Call) and _is_import_module_call(node) and not _literal(node.args[0]):
                graph.dynamic.append(f"{relative_path}:{node.lineno}")
        graph.edges.extend(edges)
    graph.edges.sort()
    return graph


def _literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def strongly_connected_components(successors: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit to meet)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(successors):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(successors[start])))]
        index[start] = lowlink[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(successors[child]))))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


@dataclass
class Cycle:
    """Modules that import each other in a circle, with the edges that tie them."""

    modules: list[str]
    edges: list[Edge]


def module_cycles(graph: ImportGraph) -> list[Cycle]:
    cycles = []
    for component in strongly_connected_components(graph.successors()):
        if len(component) > 1:
            members = set(component)
            ties = [e for e in graph.edges if e.importer in members and e.imported in members]
            cycles.append(Cycle(component, ties))
    return sorted(cycles, key=lambda cycle: cycle.modules)


def layer(module: str) -> str:
    """The part of the design a module belongs to: a sub-package of bridge/ (bridge.core,
    bridge.store, ...) is a layer of its own; bridge's own top modules (the app factory,
    the CLI, the wiring, the services, the jobs' entry point) are `bridge`, the assembly;
    any other top-level package is one part (hooks, providers, wsgi)."""
    parts = module.split(".")
    if parts[0] == "bridge" and len(parts) > 1 and parts[1] in BRIDGE_LAYERS:
        return f"bridge.{parts[1]}"
    return parts[0]


def package_edges(graph: ImportGraph) -> dict[tuple[str, str], list[Edge]]:
    """Imports between different layers (see `layer`), with every edge."""
    by_pair: dict[tuple[str, str], list[Edge]] = {}
    for edge in graph.edges:
        pair = (layer(edge.importer), layer(edge.imported))
        if pair[0] != pair[1]:
            by_pair.setdefault(pair, []).append(edge)
    return dict(sorted(by_pair.items()))


def layer_cycles(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Layers that reach each other through their imports (any length of loop)."""
    successors: dict[str, set[str]] = {}
    for a, b in pairs:
        successors.setdefault(a, set()).add(b)
        successors.setdefault(b, set())
    return sorted(c for c in strongly_connected_components(successors) if len(c) > 1)


def broken_rules(packages: dict[tuple[str, str], list[Edge]]) -> list[Edge]:
    """Every import that crosses into a layer its own layer may not use (LAYER_RULES)."""
    broken = []
    for (a, b), edges in packages.items():
        allowed = LAYER_RULES.get(a)
        if allowed is not None and b not in allowed:
            broken.extend(edges)
    return broken


def report(graph: ImportGraph) -> dict[str, Any]:
    """The whole finding as plain data (what `--json` prints)."""
    cycles = module_cycles(graph)
    packages = package_edges(graph)
    pairs = set(packages)
    return {
        "modules": len(graph.modules),
        "edges": len(graph.edges),
        "module_cycles": [{"modules": c.modules, "edges": [e.describe() for e in c.edges]} for c in cycles],
        "package_edges": [
            {
                "importer": a,
                "imported": b,
                "count": len(edges),
                "examples": [e.describe() for e in edges[:EXAMPLES_PER_PACKAGE_EDGE]],
            }
            for (a, b), edges in packages.items()
        ],
        "package_cycles": layer_cycles(pairs),
        "broken_layer_rules": [e.describe() for e in broken_rules(packages)],
        "dynamic_imports_not_followed": graph.dynamic,
    }


def print_text(result: dict[str, Any]) -> None:
    print(f"{result['modules']} modules, {result['edges']} imports between them")
    cycles = result["module_cycles"]
    if cycles:
        print(f"\n{len(cycles)} module cycle(s):")
        for number, cycle in enumerate(cycles, 1):
            print(f"  cycle {number}: {', '.join(cycle['modules'])}")
            for edge in cycle["edges"]:
                print(f"    {edge}")
    else:
        print("\nno module cycle")
    print("\npackages (importer -> imported: imports, examples):")
    for entry in result["package_edges"]:
        print(f"  {entry['importer']} -> {entry['imported']}: {entry['count']}")
        for example in entry["examples"]:
            print(f"    {example}")
    for members in result["package_cycles"]:
        print(f"  LAYER CYCLE: {', '.join(members)} reach each other")
    broken = result["broken_layer_rules"]
    if broken:
        print(f"\n{len(broken)} import(s) against the layer rules (LAYER_RULES in tools/import_graph.py):")
        for edge in broken:
            print(f"  {edge}")
    else:
        print("\nevery layer imports only what LAYER_RULES allows it")
    dynamic = result["dynamic_imports_not_followed"]
    if dynamic:
        print(f"\nimport_module() with a computed name, not followed: {', '.join(dynamic)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    result = report(build_graph(args.root))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_text(result)
    return 1 if result["module_cycles"] or result["package_cycles"] or result["broken_layer_rules"] else 0


if __name__ == "__main__":
    sys.exit(main())
