"""The import graph (tools/import_graph.py): no module imports itself back, however late,
no layer reaches back into a layer that reaches it, and each layer imports only what
LAYER_RULES allows it.

An import written inside a function or under `if TYPE_CHECKING:` is postponed, not gone: it
is still a dependency of the design, so the checker counts it and so do these tests.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "import_graph.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=120)


def _report(root: Path) -> tuple[int, dict]:
    run = _run("--root", str(root), "--json")
    assert run.stderr == "", run.stderr
    return run.returncode, json.loads(run.stdout)


def test_the_project_has_no_module_cycle_and_keeps_its_layer_rules() -> None:
    run = _run()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no module cycle" in run.stdout
    assert "every layer imports only what LAYER_RULES allows it" in run.stdout
    _, report = _report(ROOT)
    assert report["package_cycles"] == []
    assert report["broken_layer_rules"] == []


def test_core_and_hooks_stand_on_core_alone() -> None:
    _, report = _report(ROOT)
    imported_by = {}
    for edge in report["package_edges"]:
        imported_by.setdefault(edge["importer"], set()).add(edge["imported"])
    assert imported_by.get("bridge.core", set()) == set()
    assert imported_by["hooks"] <= {"bridge.core", "providers"}
    # Everything the flow has is a layer of its own; the assembly is imported by no layer.
    assert not any("bridge" in imported for importer, imported in imported_by.items() if importer != "wsgi")


def test_providers_import_nothing_of_the_bridge() -> None:
    _, report = _report(ROOT)
    assert report["modules"] > 50  # the real tree was read, not an empty one
    from_providers = [e for e in report["package_edges"] if e["importer"] == "providers"]
    assert from_providers == []


def _imports_of(module: str) -> set[str]:
    """What `module` of this project imports, read by the checker's own functions."""
    spec = importlib.util.spec_from_file_location("import_graph", TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = tool  # its dataclasses look their module up by name
    try:
        spec.loader.exec_module(tool)
        graph = tool.build_graph(ROOT)
    finally:
        del sys.modules["import_graph"]
    assert module in graph.modules
    return {edge.imported for edge in graph.edges if edge.importer == module}


def test_the_metrics_recorders_are_a_leaf() -> None:
    # Everything records metrics; the recorders import only their own parts and the
    # settings' error, never the endpoint (which reads the app's state).
    assert _imports_of("bridge.metrics") <= {
        "bridge.metrics.definitions",
        "bridge.metrics.slots",
        "bridge.core.settings",
    }


def test_services_hold_state_only() -> None:
    builders = {
        "bridge.work.deliverer",
        "bridge.work.relay",
        "bridge.planning.planner",
        "bridge.work.ratelimit",
        "bridge.wiring",
    }
    assert _imports_of("bridge.services") & builders == set()
    assert {"bridge.work.deliverer", "bridge.work.relay", "bridge.planning.planner"} <= _imports_of("bridge.wiring")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))


def test_cycles_hidden_in_a_function_and_under_type_checking_are_found(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "bridge/__init__.py": "",
            # a -> b only when f runs; `from bridge import b` names the submodule b.
            "bridge/a.py": """
                def f():
                    from bridge import b
                    return b
            """,
            "bridge/b.py": "import bridge.a\n",
            # Not in any cycle: c imports a (relative), nothing imports c.
            "bridge/c.py": "from . import a\nfrom .a import f\n",
            # hooks <-> providers.p, the hooks side only for the type checker.
            "hooks/__init__.py": """
                from typing import TYPE_CHECKING

                if TYPE_CHECKING:
                    from providers.p import P
            """,
            "providers/__init__.py": "",
            "providers/p.py": "import json\n\nfrom hooks import something\n\nclass P: ...\n",
            "wsgi.py": "from bridge import c\n",
        },
    )
    code, report = _report(tmp_path)
    assert code == 1
    cycles = {tuple(c["modules"]): c["edges"] for c in report["module_cycles"]}
    assert set(cycles) == {("bridge.a", "bridge.b"), ("hooks", "providers.p")}
    assert cycles[("bridge.a", "bridge.b")] == [
        "bridge.a -> bridge.b  (bridge/a.py:3)",
        "bridge.b -> bridge.a  (bridge/b.py:1)",
    ]
    assert cycles[("hooks", "providers.p")] == [
        "hooks -> providers.p  (hooks/__init__.py:5)",
        "providers.p -> hooks  (providers/p.py:3)",
    ]
    pairs = {(e["importer"], e["imported"]) for e in report["package_edges"]}
    assert pairs == {("hooks", "providers"), ("providers", "hooks"), ("wsgi", "bridge")}
    assert report["package_cycles"] == [["hooks", "providers"]]
    assert report["broken_layer_rules"] == ["providers.p -> hooks  (providers/p.py:3)"]


def test_a_tree_without_cycles_passes_and_names_its_dynamic_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "bridge/__init__.py": "import importlib\n\ndef load(name):\n    return importlib.import_module(name)\n",
            "bridge/a.py": "import importlib\n\nimportlib.import_module('bridge')\n",
            "bridge/core/__init__.py": "",
            "bridge/core/a.py": "import importlib\n\nimportlib.import_module('bridge.core')\n",
            "hooks/__init__.py": "from bridge.core.a import x\n",
        },
    )
    code, report = _report(tmp_path)
    assert code == 0, report
    assert report["module_cycles"] == []
    assert report["dynamic_imports_not_followed"] == ["bridge/__init__.py:4"]
    assert {(e["importer"], e["imported"]) for e in report["package_edges"]} == {("hooks", "bridge.core")}


def test_layers_that_reach_each_other_without_a_module_cycle_fail(tmp_path: Path) -> None:
    # work.a -> store.b and store.c -> work.d: no module imports itself back, but the two
    # layers depend on each other, so neither can be read (or replaced) without the other.
    _write(
        tmp_path,
        {
            "bridge/__init__.py": "",
            "bridge/work/__init__.py": "",
            "bridge/work/a.py": "from bridge.store import b\n",
            "bridge/work/d.py": "",
            "bridge/store/__init__.py": "",
            "bridge/store/b.py": "",
            "bridge/store/c.py": "from bridge.work.d import x\n",
        },
    )
    code, report = _report(tmp_path)
    assert code == 1
    assert report["module_cycles"] == []
    assert report["package_cycles"] == [["bridge.store", "bridge.work"]]
    assert report["broken_layer_rules"] == ["bridge.store.c -> bridge.work.d  (bridge/store/c.py:1)"]


def test_an_import_the_layer_rules_do_not_allow_fails(tmp_path: Path) -> None:
    # core imports the store: no cycle at all, but the vocabulary must stand on its own.
    _write(
        tmp_path,
        {
            "bridge/__init__.py": "",
            "bridge/core/__init__.py": "",
            "bridge/core/words.py": "def f():\n    from bridge.store.models import Action\n",
            "bridge/store/__init__.py": "",
            "bridge/store/models.py": "",
        },
    )
    code, report = _report(tmp_path)
    assert code == 1
    assert report["package_cycles"] == []
    assert report["broken_layer_rules"] == ["bridge.core.words -> bridge.store.models  (bridge/core/words.py:2)"]
