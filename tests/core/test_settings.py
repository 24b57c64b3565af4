"""Settings: defaults that run with nothing set, and errors that name the variable."""

from __future__ import annotations

import pytest

from bridge import create_app
from bridge.core.catalog import Catalog
from bridge.core.settings import DEV_WEBHOOK_SECRET, SettingsError, load_settings


def test_nothing_set_gives_the_embedded_defaults(tmp_path):
    settings = load_settings(environ={"INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
    assert settings.redis_url is None and settings.port == 8000
    assert settings.webhook_secrets == [DEV_WEBHOOK_SECRET]
    assert not settings.twilio_configured and not settings.smtp_configured
    assert settings.max_body_bytes == 256 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("WHMCS_WEBHOOK_SECRET", "plain-text-secret"),
        ("WHMCS_WEBHOOK_SECRET", "whsec_!!!notbase64"),
        ("WHMCS_WEBHOOK_SECRET", "whsec_c2hvcnQ="),
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("TWILIO_WHATSAPP_FROM", "5491144445555"),
        ("TWILIO_API_BASE", "not a url"),
        ("SMTP_STARTTLS", "perhaps"),
        ("MAIL_FROM", "nobody"),
        ("BRIDGE_ENV", "staging"),
        ("MAX_BODY_BYTES", "12"),
    ],
)
def test_a_malformed_value_names_its_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings(environ={name: value, **({"TWILIO_AUTH_TOKEN": "t"} if name.startswith("TWILIO") else {})})


def test_a_sid_without_its_token_is_refused():
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        load_settings(environ={"TWILIO_ACCOUNT_SID": "AC" + "0" * 32})


def test_rotation_accepts_several_secrets():
    secrets = f"{DEV_WEBHOOK_SECRET} whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVg=="
    assert len(load_settings(environ={"WHMCS_WEBHOOK_SECRET": secrets}).webhook_secrets) == 2


def test_empty_values_fall_back_to_defaults():
    assert load_settings(environ={"PORT": "", "SMTP_HOST": ""}).port == 8000


def test_create_app_stops_on_a_bad_setting(base_config):
    with pytest.raises(SettingsError, match="PORT"):
        create_app({**base_config, "PORT": "x"}, environ={})


def test_a_broken_template_stops_start_up_naming_the_file(tmp_path):
    (tmp_path / "messages").mkdir()
    (tmp_path / "routing.toml").write_text("")
    (tmp_path / "messages" / "es.toml").write_text('[ClientAdd]\nwhatsapp = "Hola {{ firstname "\n')
    with pytest.raises(SettingsError, match=r"es.toml: \[ClientAdd\].whatsapp: template error"):
        Catalog(tmp_path)


def test_invalid_toml_names_the_file(tmp_path):
    (tmp_path / "routing.toml").write_text("[company\n")
    with pytest.raises(SettingsError, match=r"routing\.toml: not valid TOML"):
        Catalog(tmp_path)


PRODUCTION = {
    "BRIDGE_ENV": "production",
    "WHMCS_WEBHOOK_SECRET": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVg==",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "t",
    "TWILIO_WHATSAPP_FROM": "+14155238886",
    "SMTP_HOST": "smtp.example",
    "SECRET_KEY": "s" * 40,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DATABASE_URL": "postgresql://bridge@db/bridge",
}


def test_a_complete_production_configuration_starts():
    assert load_settings(environ=PRODUCTION).bridge_env == "production"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"WHMCS_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}, "WHMCS_WEBHOOK_SECRET"),
        ({"TWILIO_ACCOUNT_SID": ""}, "TWILIO_ACCOUNT_SID"),
        ({"SMTP_HOST": ""}, "SMTP_HOST"),
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"FLASK_DEBUG": "1"}, "FLASK_DEBUG"),
    ],
    ids=["dev-secret", "twilio-dry-run", "smtp-dry-run", "secret-key", "embedded-redis", "sqlite", "debug"],
)
def test_production_refuses_what_is_only_fit_for_development(change, named):
    with pytest.raises(SettingsError, match=f"refusing to start in production: .*{named}"):
        load_settings(environ={**PRODUCTION, **change})
