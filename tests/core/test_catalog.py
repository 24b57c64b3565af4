"""The catalog compiles each template once per process, and still sees every edit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from jinja2 import Environment

from bridge.core.catalog import Catalog
from bridge.core.settings import DEFAULT_CONFIG_DIR

GREETING = 'whatsapp = """¡Hola {{ firstname }}! Te damos'
VALUES = {"firstname": "Lucía", "company_name": "Radio Andina", "client_area_url": "https://clientes.example.com/"}


def _copy_config(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEFAULT_CONFIG_DIR, tmp_path / "config"))


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The source of every template Jinja compiles from now on (Jinja itself still compiles)."""
    sources: list[str] = []
    compile_for_real = Environment.compile

    def counting_compile(self: Environment, source: str, *args: object, **kwargs: object) -> object:
        sources.append(source)
        return compile_for_real(self, source, *args, **kwargs)

    monkeypatch.setattr(Environment, "compile", counting_compile)
    return sources


def test_a_second_catalog_of_an_unchanged_folder_compiles_nothing(tmp_path, compiled):
    config = _copy_config(tmp_path)
    first = Catalog(config)
    compiled.clear()
    again = Catalog(config)
    assert compiled == []
    assert again.parts() == first.parts()
    assert again.render("es", "ClientAdd", "whatsapp", VALUES) == first.render("es", "ClientAdd", "whatsapp", VALUES)


def test_an_edited_template_is_seen_even_with_its_old_size_and_modification_time(tmp_path, compiled):
    config = _copy_config(tmp_path)
    spanish = config / "messages" / "es.toml"
    assert Catalog(config).render("es", "ClientAdd", "whatsapp", VALUES).startswith("¡Hola Lucía!")
    compiled.clear()
    text = spanish.read_text(encoding="utf-8")
    assert text.count(GREETING) == 1
    stat = spanish.stat()
    # The same number of bytes, and the old time put back: only the text tells the edit apart.
    spanish.write_text(text.replace(GREETING, GREETING.replace("Hola", "Holi")), encoding="utf-8")
    os.utime(spanish, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert spanish.stat().st_size == stat.st_size
    assert Catalog(config).render("es", "ClientAdd", "whatsapp", VALUES).startswith("¡Holi Lucía!")
    assert len(compiled) == 1 and "¡Holi" in compiled[0]  # the edited template alone
