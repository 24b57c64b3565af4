"""The delivery log in a real browser: Debian's Chromium driven by Playwright, against the
bridge served over HTTP, with events made by the real webhook and worker.

Log in, filter, search, open an event, reveal a phone number, retry a failed action and
see its state change, export CSV and XLSX and read them back, see the chart. The page's
content security policy is checked too: Chromium reports any violation on the console.
A screenshot of the page is saved under the test's tmp dir when a step fails.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect, sync_playwright

from bridge.core.states import State
from bridge.services import services
from tests.helpers import actions_of, attempts_of, serve_app
from tests.logpage.conftest import EMAIL, PASSWORD
from tests.logpage.test_list import other_client

# Left out of `make check`: a real browser against the bridge served over HTTP.
pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def served(log_app, staff) -> Iterator[str]:
    with serve_app(log_app) as url:
        yield url


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Page, list[str]]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            yield page, problems
        finally:
            browser.close()


@contextmanager
def screenshot_on_failure(page: Page, folder: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        shot = folder / "failure.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failing page: {shot}")  # shown by pytest on failure
        raise


def test_staff_find_fix_and_export_in_a_browser(served, browser_page, seed, log_app, run_worker, tmp_path):
    page, problems = browser_page
    lucia = seed.event()
    marco = seed.event("ClientAdd", other_client())
    svc = services(log_app)
    whatsapp, email = actions_of(svc, lucia)

    with screenshot_on_failure(page, tmp_path):
        # Every page but the login needs a session.
        page.goto(f"{served}/log/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("tr[data-event-id]")).to_have_count(2)
        expect(page.locator("#counts")).to_contain_text("failed 2")

        # Filter: the filters go to the URL.
        page.get_by_label("Action state").select_option("failed")
        page.get_by_label("Client id").fill("2001")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(f"{served}/log/?state=failed&client_id=2001")
        expect(page.locator("tr[data-event-id]")).to_have_count(1)
        expect(page.locator(f'tr[data-event-id="{marco}"]')).to_be_visible()

        # Search: by the phone number as the customer says it.
        page.goto(f"{served}/log/")
        page.get_by_label("Search").fill("0351 15 555-1234")
        page.get_by_label("Search").press("Enter")
        expect(page.locator("tr[data-event-id]")).to_have_count(1)
        page.get_by_role("link", name=f"#{lucia}").click()

        # The event: masked until revealed.
        expect(page.get_by_role("heading", name=f"Event #{lucia}: whmcs / ClientAdd")).to_be_visible()
        section = page.locator(f"#action-{whatsapp.id}")
        expect(section.locator(".recipient")).to_have_text("+54 9 351 ***-**34")
        section.get_by_role("button", name="reveal").click()
        expect(page.locator(f"#action-{whatsapp.id} .recipient")).to_have_text("+54 9 351 555-1234")
        expect(page.locator("#audit")).to_contain_text(f"{EMAIL}: reveal action {whatsapp.id}")

        # Retry the failed email and see it change state.
        failed = page.locator(f"#action-{email.id}")
        expect(failed).to_have_attribute("data-state", "failed")
        failed.get_by_role("button", name="Retry").click()
        expect(page.locator(f"#action-{email.id}")).to_have_attribute("data-state", "queued")
        expect(page.locator(f"#action-{email.id}")).to_contain_text(f"retried by {EMAIL}")
        assert run_worker(log_app) == 1
        page.reload()
        expect(page.locator(f"#action-{email.id} table.attempts tr")).to_have_count(3)  # header + 2 attempts
        assert [a.number for a in attempts_of(svc, email.id)] == [1, 2]
        assert actions_of(svc, lucia)[1].state == State.FAILED  # the SMTP server is still down

        # Export the filtered list, and read it back.
        page.goto(f"{served}/log/?client_id=1042")
        with page.expect_download() as csv_download:
            page.locator("#export-csv").click()
        rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
        assert [(r["channel"], r["state"], r["recipient"]) for r in rows] == [
            ("plan", "sent", "hooks"),
            ("whatsapp", "sent", "'+54 9 351 ***-**34"),  # text starting with "+": quoted in CSV only
            ("email", "failed", "l***@radioandina.example"),
        ]
        with page.expect_download() as xlsx_download:
            page.locator("#export-xlsx").click()
        saved = tmp_path / xlsx_download.value.suggested_filename
        assert saved.suffix == ".xlsx"
        xlsx_download.value.save_as(saved)
        sheet = load_workbook(saved).active
        assert [row[7:10] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
            ("plan", "sent", "hooks"),
            ("whatsapp", "sent", "+54 9 351 ***-**34"),
            ("email", "failed", "l***@radioandina.example"),
        ]

        # The chart renders: bars of the states present, with a legend.
        page.get_by_role("link", name="Chart").click()
        chart = page.locator("svg.chart")
        expect(chart).to_be_visible()
        expect(chart.locator("rect.bar")).not_to_have_count(0)
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 50
        expect(page.locator(".legend")).to_contain_text("failed")
        page.get_by_role("link", name="last 7d").click()
        expect(page.locator("svg.chart rect.bar")).not_to_have_count(0)

        # The WhatsApp templates and conversations pages render under the same policy.
        page.get_by_role("link", name="Templates").click()
        expect(page.get_by_role("heading", name="WhatsApp templates")).to_be_visible()
        expect(page.locator("tr.template-row")).not_to_have_count(0)
        page.get_by_role("link", name="Conversations").click()
        expect(page.get_by_role("heading", name="WhatsApp conversations")).to_be_visible()

        # Log out: the list is closed again.
        page.get_by_role("button", name="Log out").click()
        page.goto(f"{served}/log/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    assert problems == []  # no CSP violation, no script error
