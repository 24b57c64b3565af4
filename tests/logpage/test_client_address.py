"""The login limit's address: behind a reverse proxy, the client's own, read through
TRUSTED_PROXY_COUNT trusted proxies (werkzeug's ProxyFix); X-Forwarded-For entries a client
wrote itself are never believed, so nobody can lock a staff member out by spoofing one."""

from __future__ import annotations

import pytest

from bridge.core.settings import SettingsError
from bridge.logpage.auth import create_staff
from bridge.services import services
from bridge.store.models import LoginFailure
from tests.logpage.conftest import EMAIL, PASSWORD, log_in_from


def test_behind_a_proxy_a_spoofed_header_cannot_lock_the_staff_out(make_app):
    app = make_app(TRUSTED_PROXY_COUNT=1)
    create_staff(services(app).db, EMAIL, PASSWORD)
    proxy = "10.0.0.2"  # every request arrives from the proxy, which appends the client's address
    staff_address, attacker = "203.0.113.7", "198.51.100.9"
    for _ in range(8):
        spoofed = f"{staff_address}, {attacker}"  # the attacker's own header, then the proxy's entry
        assert log_in_from(app.test_client(), "guess guess guess", spoofed, peer=proxy) in (401, 429)
    assert log_in_from(app.test_client(), PASSWORD, attacker, peer=proxy) == 429  # the attacker is limited
    assert log_in_from(app.test_client(), PASSWORD, staff_address, peer=proxy) == 302  # the staff member is not
    with services(app).db.session() as session:
        addresses = {row.address for row in session.query(LoginFailure)}
    assert addresses == {attacker}


def test_without_trusted_proxies_the_header_is_ignored(make_app):
    app = make_app()  # TRUSTED_PROXY_COUNT=0: a client picks nothing with X-Forwarded-For
    create_staff(services(app).db, EMAIL, PASSWORD)
    for i in range(5):
        assert log_in_from(app.test_client(), "guess guess guess", f"192.0.2.{i}", peer="198.51.100.9") == 401
    assert log_in_from(app.test_client(), PASSWORD, "192.0.2.77", peer="198.51.100.9") == 429
    assert log_in_from(app.test_client(), PASSWORD, peer="203.0.113.7") == 302


def test_trusted_proxy_count_is_checked_at_start_up(make_app):
    with pytest.raises(SettingsError, match="TRUSTED_PROXY_COUNT"):
        make_app(TRUSTED_PROXY_COUNT=-1)
