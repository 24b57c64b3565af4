"""Who among the staff hears an alert: routing.toml's [staff] groups, routes, departments."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from bridge.app import refuse_unheard_staff_alerts
from bridge.core.catalog import MUST_REACH_STAFF, Catalog
from bridge.core.settings import SettingsError
from tests.helpers import REPO


def _catalog(tmp_path, old: str, new: str) -> Catalog:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    routing = (config / "routing.toml").read_text()
    assert old in routing
    (config / "routing.toml").write_text(routing.replace(old, new))
    return Catalog(config)


STAFFED = 'emails = ["facturacion@tuhosting.example"]  #'
SALES = '[staff.groups.sales]\nemails = []\nwhatsapp = []\nlanguage = "es"'


def test_a_flat_staff_list_is_the_default_group_and_hears_what_no_route_names(tmp_path):
    catalog = _catalog(tmp_path, "emails = []      #", STAFFED)
    [group] = catalog.staff.groups_for("DebitRejected")
    assert group.name == "default" and group.emails == ("facturacion@tuhosting.example",)
    assert catalog.staff.emails == ("facturacion@tuhosting.example",)  # the bridge's own reports
    assert catalog.staff.unheard() == []


def test_a_routed_group_with_no_address_hands_its_alerts_to_default(tmp_path):
    catalog = _catalog(tmp_path, "emails = []      #", STAFFED)
    assert [g.name for g in catalog.staff.groups_for("AcceptQuote")] == ["default"]
    with_sales = _catalog(tmp_path / "b", SALES, SALES.replace("emails = []", 'emails = ["ventas@x.example"]'))
    assert [g.name for g in with_sales.staff.groups_for("AcceptQuote")] == ["sales"]


def test_tickets_go_by_department_else_default(tmp_path):
    catalog = _catalog(tmp_path, SALES, SALES.replace("emails = []", 'emails = ["ventas@x.example"]'))
    routing = catalog.config_dir / "routing.toml"
    routing.write_text(routing.read_text().replace("[staff.departments]\n", '[staff.departments]\n"2" = "sales"\n'))
    catalog = Catalog(catalog.config_dir).staff
    assert [g.name for g in catalog.groups_for("TicketOpen", department="2")] == ["sales"]
    assert [g.name for g in catalog.groups_for("TicketOpen", department="9")] == ["default"]


def test_a_route_to_a_group_that_does_not_exist_stops_start_up_naming_it(tmp_path):
    with pytest.raises(SettingsError, match=r"\[staff.routes\] AcceptQuote names the staff group 'ventas'"):
        _catalog(tmp_path, 'AcceptQuote = ["sales"]', 'AcceptQuote = ["ventas"]')


def test_production_refuses_a_routing_in_which_staff_would_not_hear_what_they_must(tmp_path):
    shipped = Catalog(REPO / "config")  # no address anywhere, as shipped
    assert shipped.staff.unheard() == list(MUST_REACH_STAFF)
    with pytest.raises(SettingsError, match=r"no staff group .* hears DebitAdhesionCanceled, DebitRejected"):
        refuse_unheard_staff_alerts(SimpleNamespace(catalog=shipped))  # type: ignore[arg-type]

    staffed = _catalog(tmp_path, "emails = []      #", STAFFED)
    refuse_unheard_staff_alerts(SimpleNamespace(catalog=staffed))  # type: ignore[arg-type]

    # An address, but a must-hear notice left out of [staff] events: refused, naming it.
    unlisted = _catalog(tmp_path / "c", "emails = []      #", STAFFED)
    routing = unlisted.config_dir / "routing.toml"
    routing.write_text(routing.read_text().replace('"OrderToActivate", ', ""))
    assert Catalog(unlisted.config_dir).staff.unheard() == ["OrderToActivate"]
