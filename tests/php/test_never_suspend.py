"""The hooks of the PHP file that answer WHMCS: clients who pay by card direct debit (Pagos360).

- PreModuleSuspend returns ['abortcmd' => true] for a service whose client is in the debit
  group (read now with GetClientsDetails), unless a staff member suspends it by hand in the
  admin area and let_staff_suspend is on. Where it cannot tell who suspends, it aborts; where
  it cannot read the group, WHMCS goes on and the Activity Log says so.
- EmailPreSend returns ['abortsend' => true] for a payment reminder or overdue notice of an
  invoice paid through pagos360, or of a client in the debit group, unless the invoice's card
  debit was rejected ("[pagos360:rejected]" in its notes).

Real php-cli through tests/php/harness.php; its localAPI answers come from the shared samples
unless a test writes its own (Panel.answer). WHMCS_HARNESS_CONTEXT sets up what an admin page,
the cron or the API would have defined; WHMCS_HARNESS_ADMIN_ID the logged-in staff member.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.php.panel import API_SAMPLES, HOOK_SAMPLES, Panel

DEBIT_GROUP = 4
# The settings of a panel with the debit group set up (the rest at their defaults).
DEBIT = {"WHATSAPP_BRIDGE_DEBIT_GROUP_ID": str(DEBIT_GROUP)}
ABORT_SUSPEND = [{"abortcmd": True}]
ABORT_SEND = [{"abortsend": True}]
LET_GO = [None]
SUSPEND_CALL = {"command": "GetClientsDetails", "args": {"clientid": 1042, "stats": False}}
INVOICE_CALL = {"command": "GetInvoice", "args": {"invoiceid": 88231}}
STOPPED = (
    "WhatsApp Bridge: suspension of service 5521 (client 1042) stopped: "
    f"the client pays by card direct debit (group {DEBIT_GROUP})"
)


@pytest.fixture(scope="module", autouse=True)
def php_available():
    if shutil.which("php") is None:
        pytest.fail("php not found: install it with `apt-get install php-cli php-curl` (Debian)")


@pytest.fixture
def panel(tmp_path) -> Panel:
    return Panel(tmp_path)


def api_sample(name: str) -> dict:
    return json.loads((API_SAMPLES / f"{name}.json").read_text())


def client_in_group(group: int) -> dict:
    """GetClientsDetails of client 1042 (the samples' Lucía Fernández) in `group`."""
    details = api_sample("GetClientsDetails")
    details["client"]["groupid"] = group
    return details


def invoice(**changes) -> dict:
    """GetInvoice of invoice 88231 (client 1042, paid through pagos360 in the sample)."""
    return {**api_sample("GetInvoice"), **changes}


def hook_sample(name: str) -> dict:
    return json.loads((HOOK_SAMPLES / f"{name}.json").read_text())


# --------------------------------------------------------------------------
# PreModuleSuspend
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "words"),
    [
        ({"WHMCS_HARNESS_CONTEXT": "cron"}, "asked by WHMCS's cron"),
        # the API may run as an admin: never a staff member by hand
        ({"WHMCS_HARNESS_CONTEXT": "api", "WHMCS_HARNESS_ADMIN_ID": "7"}, "asked by the WHMCS API"),
        # an admin page without a logged-in admin, or a run it cannot place: the safe side
        ({"WHMCS_HARNESS_CONTEXT": "admin"}, "asked by the admin area without a logged-in staff member"),
        ({"WHMCS_HARNESS_ADMIN_ID": "7"}, "asked by a command-line run"),
    ],
    ids=["cron", "api-as-admin", "admin-area-nobody-logged-in", "cannot-tell"],
)
def test_the_suspension_of_a_debit_client_is_stopped_and_logged(panel, context, words):
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run("PreModuleSuspend", "PreModuleSuspend", **DEBIT, **context)
    assert report["registered"]["PreModuleSuspend"] == [1]
    assert report["return_values"] == ABORT_SUSPEND
    # The group is read now: the sample's clientsdetails still says groupid 0.
    assert hook_sample("PreModuleSuspend")["params"]["clientsdetails"]["groupid"] == 0
    assert report["localapi_calls"] == [SUSPEND_CALL]
    [line] = report["activity_log"]
    assert line.startswith(STOPPED), line
    assert words in line
    assert "a staff member can still suspend it by hand in the admin area" in line


def test_a_client_of_another_group_is_suspended_as_usual(panel):
    # The hook's clientsdetails may be stale: the group WHMCS has now is the one that counts.
    params = hook_sample("PreModuleSuspend")
    params["params"]["clientsdetails"]["groupid"] = DEBIT_GROUP
    panel.answer("GetClientsDetails", client_in_group(2))
    report = panel.run("PreModuleSuspend", params, WHMCS_HARNESS_CONTEXT="cron", **DEBIT)
    assert report["return_values"] == LET_GO
    assert report["localapi_calls"] == [SUSPEND_CALL]
    assert report["activity_log"] == []


def test_flattened_module_parameters_are_read_too(panel):
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run("PreModuleSuspend", hook_sample("PreModuleSuspend")["params"], **DEBIT)
    assert report["return_values"] == ABORT_SUSPEND
    assert report["localapi_calls"] == [SUSPEND_CALL]


def test_a_staff_members_own_suspension_goes_through_and_is_logged(panel):
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run(
        "PreModuleSuspend", "PreModuleSuspend", WHMCS_HARNESS_CONTEXT="admin", WHMCS_HARNESS_ADMIN_ID="7", **DEBIT
    )
    assert report["return_values"] == LET_GO
    assert report["activity_log"] == [
        "WhatsApp Bridge: suspension of service 5521 (client 1042) let through: a staff member (admin id 7)"
        f" suspends it by hand in the admin area, although the client pays by card direct debit (group {DEBIT_GROUP})"
    ]


@pytest.mark.parametrize("off", ["0", "false", "OFF", "no"])
def test_with_let_staff_suspend_off_a_staff_members_suspension_is_stopped_too(panel, off):
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run(
        "PreModuleSuspend",
        "PreModuleSuspend",
        WHMCS_HARNESS_CONTEXT="admin",
        WHMCS_HARNESS_ADMIN_ID="7",
        WHATSAPP_BRIDGE_LET_STAFF_SUSPEND=off,
        **DEBIT,
    )
    assert report["return_values"] == ABORT_SUSPEND
    [line] = report["activity_log"]
    assert line.startswith(STOPPED) and "asked by the admin area" in line
    assert f"to suspend it, move the client out of group {DEBIT_GROUP} first" in line


@pytest.mark.parametrize(
    "env",
    [
        {**DEBIT, "WHATSAPP_BRIDGE_NEVER_SUSPEND": "false"},
        {**DEBIT, "WHATSAPP_BRIDGE_NEVER_SUSPEND": "0"},
        {},  # no debit group set (the default, 0)
    ],
    ids=["never-suspend-false", "never-suspend-0", "no-debit-group"],
)
def test_without_its_settings_there_is_no_suspension_hook(panel, env):
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run("PreModuleSuspend", "PreModuleSuspend", WHMCS_HARNESS_CONTEXT="cron", **env)
    assert "PreModuleSuspend" not in report["registered"]
    assert report["callbacks_run"] == 0
    assert report["return_values"] == []
    assert report["localapi_calls"] == []


def test_a_group_that_cannot_be_read_lets_the_suspension_go_on_and_says_so(panel):
    panel.answer("GetClientsDetails", api_sample("error.client_not_found"))
    report = panel.run("PreModuleSuspend", "PreModuleSuspend", WHMCS_HARNESS_CONTEXT="cron", **DEBIT)
    assert report["return_values"] == LET_GO
    assert report["localapi_calls"] == [SUSPEND_CALL]
    assert report["activity_log"] == [
        "WhatsApp Bridge: suspension of service 5521 (client 1042) NOT CHECKED (GetClientsDetails for client 1042"
        " failed: Client Not Found); WHMCS goes on with it: if the client pays by card direct debit"
        f" (group {DEBIT_GROUP}), unsuspend the service"
    ]


def test_an_answer_without_a_group_lets_the_suspension_go_on_and_says_so(panel):
    details = api_sample("GetClientsDetails")
    del details["client"]["groupid"]
    panel.answer("GetClientsDetails", details)
    report = panel.run("PreModuleSuspend", "PreModuleSuspend", **DEBIT)
    assert report["return_values"] == LET_GO
    [line] = report["activity_log"]
    assert "NOT CHECKED (GetClientsDetails for client 1042 gave no groupid)" in line


def test_a_local_api_that_throws_lets_the_suspension_go_on_and_says_so(panel):
    report = panel.run("PreModuleSuspend", "PreModuleSuspend", WHMCS_HARNESS_API_THROW="GetClientsDetails", **DEBIT)
    assert report["return_values"] == LET_GO
    [line] = report["activity_log"]
    assert line.startswith("WhatsApp Bridge: suspension of service 5521 (client 1042) NOT CHECKED (PreModuleSuspend:")
    assert "RuntimeException: harness: localAPI GetClientsDetails made to fail" in line
    assert line.endswith("WHMCS goes on with it")


def test_no_client_id_lets_the_suspension_go_on_and_says_so(panel):
    report = panel.run("PreModuleSuspend", {"params": {"serviceid": 5521}}, **DEBIT)
    assert report["return_values"] == LET_GO
    assert report["localapi_calls"] == []
    [line] = report["activity_log"]
    assert "suspension of service 5521 (client 0) NOT CHECKED: the hook gave no client id" in line


def test_the_suspension_hook_needs_no_bridge_configured(panel):
    # Stopping a suspension does not depend on reaching the bridge (or its settings).
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run(
        "PreModuleSuspend", "PreModuleSuspend", WHATSAPP_BRIDGE_URL=None, WHATSAPP_BRIDGE_SECRET=None, **DEBIT
    )
    assert report["return_values"] == ABORT_SUSPEND
    assert panel.spooled() == []


# --------------------------------------------------------------------------
# EmailPreSend
# --------------------------------------------------------------------------


def test_a_reminder_of_an_invoice_paid_by_pagos360_is_not_sent(panel):
    # The sample invoice's payment method is pagos360; no debit group needed for this one.
    report = panel.run("EmailPreSend", "EmailPreSend")
    assert report["registered"]["EmailPreSend"] == [1]
    assert report["return_values"] == ABORT_SEND
    assert report["localapi_calls"] == [INVOICE_CALL]
    assert report["activity_log"] == [
        'WhatsApp Bridge: "First Invoice Overdue Notice" email of invoice 88231 not sent: the invoice is paid by'
        " card direct debit (payment method pagos360)"
    ]


def test_a_reminder_of_a_debit_clients_bank_transfer_invoice_is_not_sent(panel):
    panel.answer("GetInvoice", invoice(paymentmethod="banktransfer"))
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run("EmailPreSend", "EmailPreSend", **DEBIT)
    assert report["return_values"] == ABORT_SEND
    assert report["localapi_calls"] == [INVOICE_CALL, SUSPEND_CALL]
    assert report["activity_log"] == [
        'WhatsApp Bridge: "First Invoice Overdue Notice" email of invoice 88231 not sent: client 1042 pays by card'
        f" direct debit (group {DEBIT_GROUP})"
    ]


@pytest.mark.parametrize("env", [DEBIT, {}], ids=["client-of-another-group", "no-debit-group"])
def test_a_reminder_of_another_clients_bank_transfer_invoice_is_sent(panel, env):
    panel.answer("GetInvoice", invoice(paymentmethod="banktransfer"))
    panel.answer("GetClientsDetails", client_in_group(0))
    report = panel.run("EmailPreSend", "EmailPreSend", **env)
    assert report["return_values"] == LET_GO
    assert report["localapi_calls"] == ([INVOICE_CALL, SUSPEND_CALL] if env else [INVOICE_CALL])
    assert report["activity_log"] == []


def test_a_reminder_of_an_invoice_whose_card_debit_was_rejected_is_sent(panel):
    notes = "Débito 553201 rechazado por Pagos360 [pagos360:rejected] 2026-11-11"
    panel.answer("GetInvoice", invoice(notes=notes))  # pagos360, and the client in the group
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run("EmailPreSend", "EmailPreSend", **DEBIT)
    assert report["return_values"] == LET_GO
    assert report["localapi_calls"] == [INVOICE_CALL]
    assert report["activity_log"] == [
        'WhatsApp Bridge: "First Invoice Overdue Notice" email of invoice 88231 sent: its card debit was rejected'
        " ([pagos360:rejected] in its notes)"
    ]


@pytest.mark.parametrize(
    "template",
    [
        "Invoice Payment Reminder",
        "Second Invoice Overdue Notice",
        "Third Invoice Overdue Notice",
        "first invoice overdue notice",
    ],
)
def test_every_reminder_template_is_checked(panel, template):
    report = panel.run("EmailPreSend", {"messagename": template, "relid": 88231, "mergefields": {}})
    assert report["return_values"] == ABORT_SEND


@pytest.mark.parametrize(
    "template", ["Invoice Created", "Invoice Payment Confirmation", "Hosting Account Welcome Email"]
)
def test_other_emails_are_left_alone(panel, template):
    report = panel.run("EmailPreSend", {"messagename": template, "relid": 88231, "mergefields": {}}, **DEBIT)
    assert report["callbacks_run"] == 1
    assert report["return_values"] == LET_GO
    assert report["localapi_calls"] == []
    assert report["activity_log"] == []


def test_with_abort_reminder_emails_off_there_is_no_email_hook(panel):
    report = panel.run("EmailPreSend", "EmailPreSend", WHATSAPP_BRIDGE_ABORT_REMINDER_EMAILS="off", **DEBIT)
    assert "EmailPreSend" not in report["registered"]
    assert report["callbacks_run"] == 0
    assert report["localapi_calls"] == []


def test_an_invoice_that_cannot_be_read_lets_the_email_go_and_says_so(panel):
    panel.answer("GetInvoice", {"result": "error", "message": "Invoice ID Not Found"})
    report = panel.run("EmailPreSend", "EmailPreSend", **DEBIT)
    assert report["return_values"] == LET_GO
    assert report["activity_log"] == [
        'WhatsApp Bridge: "First Invoice Overdue Notice" email of invoice 88231 sent unchecked: GetInvoice failed:'
        " Invoice ID Not Found"
    ]


def test_a_group_that_cannot_be_read_lets_the_email_go_and_says_so(panel):
    panel.answer("GetInvoice", invoice(paymentmethod="banktransfer"))
    report = panel.run("EmailPreSend", "EmailPreSend", WHMCS_HARNESS_API_THROW="GetClientsDetails", **DEBIT)
    assert report["return_values"] == LET_GO
    [line] = report["activity_log"]
    assert line.startswith('WhatsApp Bridge: "First Invoice Overdue Notice" email of invoice 88231 sent unchecked')
    assert "harness: localAPI GetClientsDetails made to fail" in line


def test_a_reminder_without_an_invoice_id_is_sent(panel):
    report = panel.run("EmailPreSend", {"messagename": "First Invoice Overdue Notice", "mergefields": {}})
    assert report["return_values"] == LET_GO
    assert report["localapi_calls"] == []
    assert any("no invoice id" in line for line in report["activity_log"])


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def test_the_gateway_and_the_templates_can_be_named(panel):
    panel.answer("GetInvoice", invoice(paymentmethod="pagos360ar"))
    env = {
        "WHATSAPP_BRIDGE_PAGOS360_GATEWAY": "pagos360ar",
        "WHATSAPP_BRIDGE_REMINDER_TEMPLATES": "Aviso de vencimiento, Segundo aviso",
    }
    params = {"messagename": "Segundo aviso", "relid": 88231, "mergefields": {}}
    assert panel.run("EmailPreSend", params, **env)["return_values"] == ABORT_SEND
    stock = {"messagename": "First Invoice Overdue Notice", "relid": 88231, "mergefields": {}}
    assert panel.run("EmailPreSend", stock, **env)["return_values"] == LET_GO  # no longer in the list


def test_the_settings_from_the_config_file(panel, tmp_path):
    config = tmp_path / "whatsapp_bridge.config.php"
    config.write_text(
        "<?php\nif (!defined('WHMCS')) { die('no'); }\nreturn [\n"
        f"  'debit_group_id' => {DEBIT_GROUP},\n"
        "  'let_staff_suspend' => false,\n"
        "  'abort_reminder_emails' => 'off',\n];\n"
    )
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    staff = {"WHMCS_HARNESS_CONTEXT": "admin", "WHMCS_HARNESS_ADMIN_ID": "7"}
    report = panel.run("PreModuleSuspend", "PreModuleSuspend", WHATSAPP_BRIDGE_CONFIG=str(config), **staff)
    assert report["return_values"] == ABORT_SUSPEND
    assert "EmailPreSend" not in report["registered"]
    # the environment wins over the file
    report = panel.run(
        "PreModuleSuspend",
        "PreModuleSuspend",
        WHATSAPP_BRIDGE_CONFIG=str(config),
        WHATSAPP_BRIDGE_LET_STAFF_SUSPEND="yes",
        WHATSAPP_BRIDGE_ABORT_REMINDER_EMAILS="1",
        **staff,
    )
    assert report["return_values"] == LET_GO
    assert "EmailPreSend" in report["registered"]


def test_an_on_off_setting_that_is_neither_keeps_its_default_and_says_so(panel):
    panel.answer("GetClientsDetails", client_in_group(DEBIT_GROUP))
    report = panel.run("PreModuleSuspend", "PreModuleSuspend", WHATSAPP_BRIDGE_NEVER_SUSPEND="sometimes", **DEBIT)
    assert report["return_values"] == ABORT_SUSPEND  # default: on
    assert report["activity_log"][0] == (
        "WhatsApp Bridge: setting never_suspend_debit_clients: 'sometimes' is not one of 1/true/on/yes or"
        " 0/false/off/no; its default (on) applies"
    )
