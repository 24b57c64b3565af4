"""The hook file's secret-key rule is the bridge's: both read tests/fixtures/secret_keys.json.

Runs the real PHP functions (tests/php/secret_keys.php includes the hook file) and compares
them with bridge.core.secret_keys, key by key, so that the two implementations cannot drift.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.core.secret_keys import is_secret_key, normalise_key

HERE = Path(__file__).parent
FIXTURE = json.loads((HERE.parent / "fixtures" / "secret_keys.json").read_text())
# Odd spellings: both languages must split them the same way, secret or not.
ODD_KEYS = ["İd", "naïvePassword", "ÁPIToken", "__pass__", "pass word", "PW2", "a.b-c_d", "x9y", "9lives", "ÑPass"]


@pytest.fixture(scope="module")
def php_answer(tmp_path_factory) -> dict:
    if shutil.which("php") is None:
        pytest.fail("php not found: install it with `apt-get install php-cli php-curl` (Debian)")
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    keys.write_text(json.dumps(FIXTURE["secret"] + FIXTURE["kept"] + ODD_KEYS))
    proc = subprocess.run(["php", str(HERE / "secret_keys.php"), str(keys)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def test_php_refuses_every_secret_key_and_keeps_every_look_alike(php_answer):
    assert [key for key in FIXTURE["secret"] if not php_answer["secret"][key]] == []
    assert [key for key in FIXTURE["kept"] if php_answer["secret"][key]] == []


def test_an_allow_listed_secret_key_is_still_not_sent(php_answer):
    # filter_fields() given an allow-list that names every key of the fixture
    forwarded = set(php_answer["forwarded"])
    assert forwarded & set(FIXTURE["secret"]) == set()
    assert set(FIXTURE["kept"]) <= forwarded


def test_no_allow_list_names_a_secret_key(php_answer):
    assert php_answer["allow_listed_secrets"] == []


def test_php_and_python_split_and_judge_every_key_alike(php_answer):
    keys = FIXTURE["secret"] + FIXTURE["kept"] + ODD_KEYS
    assert {key: php_answer["normalised"][key] for key in keys} == {key: normalise_key(key) for key in keys}
    assert {key: php_answer["secret"][key] for key in keys} == {key: is_secret_key(key) for key in keys}
