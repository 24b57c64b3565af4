"""Settings: each declared once, and the README's table names exactly the declared ones."""

from __future__ import annotations

import dataclasses
import re

from bridge.core.settings import Settings, declared_settings
from tests.helpers import REPO


def _readme_settings_table() -> set[str]:
    """The variables named in the first column of the table under README's `## Settings`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert rows, "README: no table under ## Settings"
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row.split("|")[1])}


def test_every_declared_setting_has_a_readme_row_and_every_row_a_declaration():
    documented = _readme_settings_table()
    declared = set(declared_settings())
    assert sorted(declared - documented) == [], "declared but missing from README's Settings table"
    assert sorted(documented - declared) == [], "in README's Settings table but not declared"


def test_every_settings_attribute_comes_from_a_declaration():
    # `extra` holds overrides that are not settings (tests', the CLI's); everything else a
    # caller reads must be read from the environment through a declaration.
    attributes = {f.name for f in dataclasses.fields(Settings)} - {"extra"}
    assert attributes == {name.lower() for name in declared_settings()}
