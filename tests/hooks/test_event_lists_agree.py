"""The places a WHMCS event is named agree with each other.

Adding an event is its hooks module, its messages, its PHP allow-list entry, its routing
entry and one test file (README, "Extending the bridge"). Nothing generates one of those
from another, so this file holds them together: the bridge's event list
(`bridge.core.events.WHMCS_EVENTS`), the PHP hook file's allow-lists and default events
(read by running the real file with php-cli), `config/routing.toml`, the message files of
every language, the handlers in hooks/ and the samples `send-test-event` posts.
"""

from __future__ import annotations

import json
import subprocess
import tomllib

import pytest

from bridge.core.catalog import Catalog
from bridge.core.events import WHATSAPP_MESSAGE, WHMCS_EVENTS
from bridge.scheduled import debit_group_check, notice_digest
from hooks import load_all
from tests.helpers import REPO

HOOK_FILE = REPO / "whmcs" / "includes" / "hooks" / "whatsapp_bridge.php"
ROUTING = REPO / "config" / "routing.toml"
MESSAGES = REPO / "config" / "messages"
# The parts of a message file that carry an event on each client channel.
PARTS_OF_CHANNEL = {"whatsapp": ("whatsapp",), "email": ("email_subject", "email_body")}

# Loads the hook file as WHMCS would (WHMCS defined, add_hook recorded) and prints what it
# forwards: its allow-lists' events and the events it forwards with its default settings.
READ_LISTS = """
define('WHMCS', true);
$GLOBALS['registered'] = [];
function add_hook($hook, $priority, $callback) { $GLOBALS['registered'][] = $hook; }
require getenv('HOOK_FILE');
echo json_encode([
    'allow_lists' => array_keys(\\WhatsAppBridge\\allow_lists()),
    'default_events' => \\WhatsAppBridge\\default_settings()['events'],
    'registered' => array_values(array_unique($GLOBALS['registered'])),
]);
"""


@pytest.fixture(scope="module")
def php_lists() -> dict[str, list[str]]:
    run = subprocess.run(
        ["php", "-r", READ_LISTS],
        env={"HOOK_FILE": str(HOOK_FILE), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def routing() -> dict:
    return tomllib.loads(ROUTING.read_text())


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(REPO / "config")


def test_the_php_file_has_an_allow_list_for_each_event_the_bridge_accepts_and_no_other(php_lists):
    assert sorted(php_lists["allow_lists"]) == sorted(WHMCS_EVENTS)


def test_the_php_file_forwards_by_default_only_events_the_bridge_accepts(php_lists):
    assert set(php_lists["default_events"]) <= set(WHMCS_EVENTS)


def test_an_event_the_php_file_leaves_off_by_default_is_routed_to_no_client_channel(php_lists, routing):
    # Off by default and routed to a channel would be a notice nobody ever receives.
    off = set(WHMCS_EVENTS) - set(php_lists["default_events"])
    assert {event: routing["events"][event]["channels"] for event in off if routing["events"][event]["channels"]} == {}


def test_the_php_file_hooks_into_the_events_it_forwards(php_lists):
    # It hooks into the events its settings forward, and its own housekeeping (AfterCronJob
    # flushes the spool). Two hooks answer WHMCS instead of forwarding (card direct debit):
    # EmailPreSend is hooked with the defaults (abort_reminder_emails is on), PreModuleSuspend
    # only once debit_group_id is set (0 by default); see tests/php/test_never_suspend.py.
    answering = {"EmailPreSend"}
    assert set(php_lists["registered"]) - {"AfterCronJob"} - answering == set(php_lists["default_events"])
    assert answering <= set(php_lists["registered"])


def test_routing_names_every_event_and_only_events_the_bridge_has_messages_for(routing, catalog):
    routed = set(routing["events"])
    assert set(WHMCS_EVENTS) - routed == set(), "a WHMCS event with no [events.<name>] in routing.toml"
    written = {event for _, event, _ in catalog.parts()}
    # An event routed to no client channel (OrderPaid: what it sets off is [activation]'s)
    # needs no message of its own.
    to_clients = {event for event, route in routing["events"].items() if route["channels"]}
    assert to_clients - written == set(), "a routed event with no message in config/messages"


@pytest.mark.parametrize("language", ["es", "en", "pt_BR", "it"])
def test_every_routed_channel_of_every_event_has_its_message_in_each_language(routing, language):
    sections = tomllib.loads((MESSAGES / f"{language}.toml").read_text())
    missing = [
        f"[{event}].{part}"
        for event, route in routing["events"].items()
        for channel in route["channels"]
        for part in PARTS_OF_CHANNEL[channel]
        if part not in sections.get(event, {})
    ]
    assert missing == []


def test_every_message_file_names_only_events_the_bridge_routes_or_alerts_staff_about(routing, catalog):
    known = set(routing["events"]) | set(routing["staff"]["events"]) | set(routing["staff"].get("routes", {}))
    assert {event for _, event, _ in catalog.parts()} - known == set()


def test_every_staff_event_is_one_the_bridge_can_raise(routing, catalog):
    # A staff event is a WHMCS event (the alert every event gets) or a notice the hooks raise
    # by name, which then has staff texts of its own in the message files.
    written_for_staff = {event for _, event, part in catalog.parts() if part.startswith("staff_")}
    assert set(routing["staff"]["events"]) - set(WHMCS_EVENTS) - written_for_staff == set()


def test_every_whmcs_event_has_a_handler_of_its_own_and_every_handler_a_known_event():
    registry = load_all()
    own = {
        event for event in registry.event_types() if any(n != "staff.alert" for n, _ in registry.handlers_for(event))
    }
    assert set(WHMCS_EVENTS) - own == set(), "a WHMCS event only the staff alert handles"
    pagos360_entities = {"card_adhesion", "card_debit_request"}
    twilio_inbound = {WHATSAPP_MESSAGE}  # a customer's WhatsApp message
    bridge_own = {notice_digest.EVENT_TYPE, debit_group_check.ALERT}  # events the bridge records
    assert set(registry.event_types()) - set(WHMCS_EVENTS) - pagos360_entities - twilio_inbound - bridge_own == set()


def test_send_test_event_has_a_sample_of_every_event_and_the_tests_a_recorded_one():
    # A recorded sample may come in variants (InvoicePaymentReminder.firstoverdue.json).
    recorded = REPO / "testdata" / "samples" / "whmcs_hooks"
    assert [event for event in WHMCS_EVENTS if not (REPO / "bridge" / "samples" / f"{event}.json").is_file()] == []
    assert [
        event
        for event in WHMCS_EVENTS
        if not list(recorded.glob(f"{event}.json")) + list(recorded.glob(f"{event}.*.json"))
    ] == []
