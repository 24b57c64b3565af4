"""`make check` (pytest -m "not slow") leaves out every whole-system test, and only those.

Whole-system tests start processes (web servers, workers, nginx, Sentinel, PHP against the
bridge, a browser) or push hundreds of events through them; they run in `make test`. Their
files live in tests/system/, every test there marked slow; the few that share the fixtures of
a unit file stay beside it, marked slow one by one, and are listed here by name.
"""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO

WHOLE_SYSTEM = (
    "tests/system/faults",
    "tests/system/production",
    "tests/php/test_spool_against_bridge.py",
    "tests/logpage/test_browser.py",
    "tests/logpage/test_login_limit.py::test_thirty_parallel_wrong_logins_across_processes_check_at_most_five",
    "tests/system/test_concurrency.py",
    "tests/system/test_debit_payments_workers.py",
    "tests/ops/test_metrics.py::test_web_and_a_separate_worker_process_are_summed",
    "tests/ops/test_metrics.py::test_forking_rq_workers_share_one_slot_and_their_totals_add_up",
    "tests/ops/test_metrics.py::test_metrics_server_serves_the_machine_directory",
    "tests/ops/test_metrics.py::test_gunicorn_sums_its_workers_cleans_at_start_and_keeps_a_dead_workers_totals",
    "tests/work/test_queueing.py::test_every_action_is_final_without_the_relay",
    "tests/work/test_relay.py::test_a_worker_killed_mid_send_loses_nothing",
    "tests/system/test_run_command.py",
    "tests/hooks/test_whmcs_events.py::test_each_event_reaches_the_customer",
    "tests/hooks/test_whmcs_events.py::test_bridge_down_the_panel_spools_and_cron_delivers_one_event",
    "tests/hooks/test_whmcs_events.py::test_no_secret_from_the_panel_reaches_the_database",
)


# Unit tests, which `make check` must keep.
UNITS = ("tests/core/test_catalog.py", "tests/store/test_outbox.py")


def _collect(marker: str, *paths: str) -> subprocess.CompletedProcess[str]:
    """What `pytest --collect-only -m <marker>` selects among `paths` (run apart, as CI would)."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", marker]
    return subprocess.run([*command, *paths], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_whole_system_tests_and_only_they_are_marked_slow():
    collected = _collect("slow", *WHOLE_SYSTEM, *UNITS)
    # A path or test name that no longer exists is an error (exit 4), not an empty selection.
    assert collected.returncode == 0, collected.stdout + collected.stderr
    selected = [line for line in collected.stdout.splitlines() if "::" in line]
    assert [entry for entry in WHOLE_SYSTEM if not any(test.startswith(entry) for test in selected)] == []
    assert [test for test in selected if test.startswith(UNITS)] == []
    # Collected, then left out by the marker: the units are there and not slow.
    assert "deselected" in collected.stdout.strip().splitlines()[-1]


def test_every_test_under_tests_system_is_marked_slow():
    collected = _collect("not slow", "tests/system")
    assert collected.returncode in (0, 5), collected.stdout + collected.stderr
    assert [line for line in collected.stdout.splitlines() if "::" in line] == []
    assert "deselected" in collected.stdout
