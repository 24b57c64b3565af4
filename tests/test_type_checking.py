"""The layout issue's type-checking promise: mypy, configured in pyproject.toml, checks
`bridge/`, `hooks/` and `providers/` with the agreed strictness, runs in `make test` (and
`make lint`) after ruff, and finds nothing. Missing imports are ignored only for the
libraries that ship no types and have no stub package, each named."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO

REQUIRED_FLAGS = ("check_untyped_defs", "disallow_incomplete_defs", "no_implicit_optional", "warn_unused_ignores")


def _mypy_config() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]
    return config


def _make_recipe(target: str) -> list[str]:
    """The command lines of one Makefile target, in order."""
    lines = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{target}:", line))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_mypy_checks_the_three_packages_with_the_agreed_flags() -> None:
    config = _mypy_config()
    assert config["files"] == ["bridge", "hooks", "providers"]
    for flag in REQUIRED_FLAGS:
        assert config.get(flag) is True, flag


def test_missing_imports_are_ignored_only_for_libraries_without_types() -> None:
    """An override names a library only while it has neither `py.typed` nor a `-stubs`
    package here: once one of them gains types, this says to drop its override."""
    overrides = [o for o in _mypy_config().get("overrides", []) if o.get("ignore_missing_imports")]
    assert overrides, "the untyped libraries are listed"
    assert "ignore_missing_imports" not in _mypy_config(), "never for every module"
    site_dirs = [Path(p) for p in sys.path if p and Path(p).is_dir()]
    for override in overrides:
        for pattern in override["module"]:
            top = pattern.split(".")[0]
            spec = importlib.util.find_spec(top)
            assert spec is not None and spec.origin is not None, f"{top} is installed"
            assert not (Path(spec.origin).parent / "py.typed").exists(), f"{top} ships its own types"
            assert not any((d / f"{top}-stubs").is_dir() for d in site_dirs), f"{top} has a stub package"


@pytest.mark.parametrize("target", ["test", "lint"])
def test_make_runs_mypy_after_ruff(target: str) -> None:
    recipe = _make_recipe(target)
    mypy = recipe.index("$(VENV)/bin/mypy")
    ruff = [i for i, line in enumerate(recipe) if line.startswith("$(VENV)/bin/ruff")]
    assert ruff and max(ruff) < mypy
    pytest_runs = [i for i, line in enumerate(recipe) if "pytest" in line]
    assert all(mypy < i for i in pytest_runs), "a type error stops `make test` before the suite"


def test_the_packages_type_check_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
