"""The import graph (tools/import_graph.py): no module imports itself back, however late.

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


def test_the_project_has_no_module_cycle() -> None:
    run = _run()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no module cycle" in run.stdout


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
    assert _imports_of("bridge.metrics") <= {"bridge.metrics.definitions", "bridge.metrics.slots", "bridge.settings"}


def test_services_hold_state_only() -> None:
    builders = {"bridge.delivery", "bridge.relay", "bridge.planning", "bridge.ratelimit", "bridge.wiring"}
    assert _imports_of("bridge.services") & builders == set()
    assert {"bridge.delivery", "bridge.relay", "bridge.planning"} <= _imports_of("bridge.wiring")


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


def test_a_tree_without_cycles_passes_and_names_its_dynamic_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "bridge/__init__.py": "import importlib\n\ndef load(name):\n    return importlib.import_module(name)\n",
            "bridge/a.py": "import importlib\n\nimportlib.import_module('bridge')\n",
            "hooks/__init__.py": "from bridge.a import x\n",
        },
    )
    code, report = _report(tmp_path)
    assert code == 0
    assert report["module_cycles"] == []
    assert report["dynamic_imports_not_followed"] == ["bridge/__init__.py:4"]
    assert {(e["importer"], e["imported"]) for e in report["package_edges"]} == {("hooks", "bridge")}
