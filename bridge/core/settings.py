"""Settings: read from the environment (and `.env`), validated once at start-up.

Every setting is named by its environment variable, and a missing or malformed value
stops start-up with `SettingsError` naming that variable. The names are a contract
with operators (documented in the README's settings table): rename nothing lightly.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate

from bridge.core.redis_url import check_redis_url

# The checkout this file is part of (bridge/core/settings.py is two folders down).
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INSTANCE_PATH = REPOSITORY_ROOT / "instance"
DEFAULT_CONFIG_DIR = REPOSITORY_ROOT / "config"

# The development secret: lets the embedded mode and the CLI's test events work with
# no set-up at all. Production mode (issue: start-up checks) refuses it.
DEV_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"bridge-development-secret-only!!").decode()


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


def _whsec(value: str) -> None:
    """Each space-separated secret must be `whsec_<base64>` of at least 16 bytes."""
    for secret in value.split():
        if not secret.startswith("whsec_"):
            raise ValidationError("each secret must start with 'whsec_'")
        try:
            raw = base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("each secret must be whsec_ followed by base64") from exc
        if len(raw) < 16:
            raise ValidationError("each secret must decode to at least 16 bytes")


def _check_reference(value: str) -> None:
    """The external-reference pattern must capture exactly one group: the WHMCS client id."""
    try:
        if re.compile(value).groups != 1:
            raise ValidationError("must have exactly one group: the WHMCS client id")
    except re.error as exc:
        raise ValidationError(f"not a regular expression: {exc}") from None


def _check_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {value!r}") from None


def _check_redis_url(value: str) -> None:
    # Unset (None) never reaches a field's validators: it means the private embedded Redis.
    try:
        check_redis_url(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


# The keys of a setting's dataclass-field metadata.
_ENV_FIELD = "env_field"
_REQUIRED_WITH = "required_with"
_DEFAULT_UNDER_INSTANCE = "default_under_instance"


def setting(
    env_field: fields.Field,
    *,
    required_with: str | None = None,
    default_under_instance: Callable[[Path], str] | None = None,
) -> Any:
    """Declare one setting: the single place its environment variable is described.

    The variable is the attribute's name upper-cased; `env_field` (a marshmallow field) holds
    how it is parsed, its default (`load_default`) and its validation. `required_with` names
    another variable whose being set makes this one required; `default_under_instance` builds
    the default from INSTANCE_PATH when the variable is unset. The return type is Any so that
    `name: type = setting(...)` reads like any dataclass field; at run time it is a
    `dataclasses.field` with no default (load_settings always passes every setting).
    """
    return field(
        metadata={
            _ENV_FIELD: env_field,
            _REQUIRED_WITH: required_with,
            _DEFAULT_UNDER_INSTANCE: default_under_instance,
        }
    )


# One frozen dataclass per system the settings configure; Settings combines them. Each
# group holds its settings and the properties that read only them.


@dataclass(frozen=True)
class RuntimeSettings:
    """The process: environment, logs, and where local files live."""

    bridge_env: str = setting(
        fields.String(load_default="development", validate=validate.OneOf(["development", "production", "test"]))
    )
    log_format: str = setting(fields.String(load_default="text", validate=validate.OneOf(["text", "json"])))
    instance_path: str = setting(fields.String(load_default=str(DEFAULT_INSTANCE_PATH)))


@dataclass(frozen=True)
class StoreSettings:
    """The database (the record) and Redis (the queue, rate limits, locks)."""

    database_url: str = setting(
        fields.String(load_default=None),
        default_under_instance=lambda instance: f"sqlite:///{instance / 'bridge.sqlite3'}",
    )
    redis_url: str | None = setting(fields.String(load_default=None, validate=_check_redis_url))
    queue_name: str = setting(fields.String(load_default="bridge"))


@dataclass(frozen=True)
class WebSettings:
    """The web process and the inbound webhooks it verifies."""

    port: int = setting(fields.Integer(load_default=8000, validate=validate.Range(1, 65535)))
    public_base_url: str | None = setting(fields.Url(load_default=None, require_tld=False))
    whmcs_webhook_secret: str = setting(fields.String(load_default=DEV_WEBHOOK_SECRET, validate=_whsec))
    max_body_bytes: int = setting(
        fields.Integer(load_default=256 * 1024, validate=validate.Range(1024, 16 * 1024 * 1024))
    )

    @property
    def webhook_secrets(self) -> list[str]:
        """All accepted WHMCS secrets (several during a rotation)."""
        return self.whmcs_webhook_secret.split()


@dataclass(frozen=True)
class TwilioSettings:
    """WhatsApp through Twilio; unset credentials make WhatsApp a dry run."""

    twilio_account_sid: str | None = setting(
        fields.String(load_default=None, validate=validate.Regexp(r"^AC[0-9a-fA-F]{32}$"))
    )
    twilio_auth_token: str | None = setting(fields.String(load_default=None), required_with="TWILIO_ACCOUNT_SID")
    twilio_whatsapp_from: str | None = setting(
        fields.String(load_default=None, validate=validate.Regexp(r"^(whatsapp:)?\+[1-9]\d{6,14}$"))
    )
    twilio_messaging_service_sid: str | None = setting(
        fields.String(load_default=None, validate=validate.Regexp(r"^MG[0-9a-fA-F]{32}$"))
    )
    # The SMS sender of the fallback (bridge.core.fallback): a number of the account.
    twilio_sms_from: str | None = setting(
        fields.String(load_default=None, validate=validate.Regexp(r"^\+[1-9]\d{6,14}$"))
    )
    twilio_api_base: str = setting(fields.Url(load_default="https://api.twilio.com", require_tld=False))
    twilio_content_api_base: str = setting(fields.Url(load_default="https://content.twilio.com", require_tld=False))
    # How often the relay asks Twilio about templates WhatsApp is still reviewing.
    template_poll_seconds: float = setting(fields.Float(load_default=300.0, validate=validate.Range(1, 86400)))
    twilio_timeout_seconds: float = setting(fields.Float(load_default=10.0, validate=validate.Range(0.1, 120)))

    @property
    def twilio_sms_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_sms_from or self.twilio_messaging_service_sid)
        )

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_whatsapp_from or self.twilio_messaging_service_sid)
        )


@dataclass(frozen=True)
class SmtpSettings:
    """Email through an SMTP relay; no host makes email a dry run."""

    smtp_host: str | None = setting(fields.String(load_default=None))
    smtp_port: int = setting(fields.Integer(load_default=587, validate=validate.Range(1, 65535)))
    smtp_username: str | None = setting(fields.String(load_default=None))
    smtp_password: str | None = setting(fields.String(load_default=None))
    smtp_starttls: bool = setting(fields.Boolean(load_default=True))
    smtp_timeout_seconds: float = setting(fields.Float(load_default=15.0, validate=validate.Range(0.1, 300)))
    mail_from: str = setting(fields.Email(load_default="bridge@localhost"))

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)


@dataclass(frozen=True)
class WhmcsApiSettings:
    """WHMCS's API, for the look-ups that complete a hook's fields."""

    whmcs_api_url: str | None = setting(fields.Url(load_default=None, require_tld=False))
    whmcs_api_identifier: str | None = setting(fields.String(load_default=None), required_with="WHMCS_API_URL")
    whmcs_api_secret: str | None = setting(fields.String(load_default=None), required_with="WHMCS_API_URL")
    whmcs_api_accesskey: str | None = setting(fields.String(load_default=None))
    whmcs_api_timeout_seconds: float = setting(fields.Float(load_default=10.0, validate=validate.Range(0.1, 120)))

    @property
    def whmcs_api_configured(self) -> bool:
        return bool(self.whmcs_api_url and self.whmcs_api_identifier and self.whmcs_api_secret)


@dataclass(frozen=True)
class MessageSettings:
    """What the messages say and to whom: the catalog, languages, phone numbers."""

    bridge_config_dir: str = setting(fields.String(load_default=str(DEFAULT_CONFIG_DIR)))
    whmcs_system_url: str | None = setting(fields.Url(load_default=None, require_tld=False))
    default_language: str = setting(fields.String(load_default="es"))
    default_phone_region: str = setting(fields.String(load_default="AR", validate=validate.Regexp(r"^[A-Z]{2}$")))


@dataclass(frozen=True)
class DirectDebitSettings:
    """Pagos360 card direct debit, and the company's calendar it runs on."""

    pagos360_webhook_token: str | None = setting(fields.String(load_default=None, validate=validate.Length(min=24)))
    pagos360_api_key: str | None = setting(fields.String(load_default=None))
    pagos360_api_base: str = setting(fields.Url(load_default="https://api.pagos360.com", require_tld=False))
    pagos360_timeout_seconds: float = setting(fields.Float(load_default=15.0, validate=validate.Range(0.1, 120)))
    pagos360_external_reference: str = setting(
        fields.String(load_default=r"^whmcs-client-(\d+)$", validate=_check_reference)
    )
    pagos360_client_group_id: int | None = setting(fields.Integer(load_default=None, validate=validate.Range(1)))
    pagos360_client_group_name: str = setting(fields.String(load_default="Adherido al débito automático"))
    pagos360_debit_day_field_id: int | None = setting(fields.Integer(load_default=None, validate=validate.Range(1)))
    pagos360_whmcs_gateway: str = setting(fields.String(load_default="pagos360"))
    debit_lead_days: int = setting(fields.Integer(load_default=3, validate=validate.Range(0, 27)))
    debit_cycle_hour: int = setting(fields.Integer(load_default=6, validate=validate.Range(0, 23)))
    timezone: str = setting(fields.String(load_default="America/Argentina/Buenos_Aires", validate=_check_timezone))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class DeliverySettings:
    """The work: send rates, throttling, retries, the relay, dead letters, readiness."""

    rate_limit_whatsapp_per_second: float = setting(
        fields.Float(load_default=10.0, validate=validate.Range(0.01, 10000))
    )
    rate_limit_email_per_second: float = setting(fields.Float(load_default=5.0, validate=validate.Range(0.01, 10000)))
    rate_limit_sms_per_second: float = setting(fields.Float(load_default=1.0, validate=validate.Range(0.01, 10000)))
    rate_limit_max_wait_seconds: float = setting(fields.Float(load_default=2.0, validate=validate.Range(0, 60)))
    throttle_pause_seconds: float = setting(fields.Float(load_default=5.0, validate=validate.Range(0.01, 3600)))
    retry_max_attempts: int = setting(fields.Integer(load_default=8, validate=validate.Range(1, 100)))
    retry_base_seconds: float = setting(fields.Float(load_default=5.0, validate=validate.Range(0.01, 3600)))
    retry_max_seconds: float = setting(fields.Float(load_default=3600.0, validate=validate.Range(0.01, 86400)))
    dead_letter_report_seconds: float = setting(fields.Float(load_default=300.0, validate=validate.Range(1, 86400)))
    ready_max_queue_depth: int = setting(fields.Integer(load_default=10000, validate=validate.Range(1)))
    relay_interval_seconds: float = setting(fields.Float(load_default=2.0, validate=validate.Range(0.05, 600)))
    relay_queued_grace_seconds: float = setting(fields.Float(load_default=30.0, validate=validate.Range(0.0, 86400)))
    relay_sending_timeout_seconds: float = setting(fields.Float(load_default=300.0, validate=validate.Range(1, 86400)))


@dataclass(frozen=True)
class StaffSettings:
    """The delivery log's staff pages: sessions, the login limit, retention."""

    secret_key: str | None = setting(fields.String(load_default=None))
    log_refresh_seconds: int = setting(fields.Integer(load_default=30, validate=validate.Range(0, 3600)))
    login_max_failures: int = setting(fields.Integer(load_default=5, validate=validate.Range(1, 1000)))
    login_window_seconds: int = setting(fields.Integer(load_default=900, validate=validate.Range(1, 86400)))
    # How many reverse proxies in front of gunicorn append to X-Forwarded-For: the client
    # address (the login limit's key) is read that many hops from the right. 0: the header
    # is ignored, so no client can pick the address it is counted under.
    trusted_proxy_count: int = setting(fields.Integer(load_default=0, validate=validate.Range(0, 10)))
    retention_days: int = setting(fields.Integer(load_default=180, validate=validate.Range(1, 36500)))


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics: where every process writes its counters, and who may read them."""

    metrics_dir: str = setting(
        fields.String(load_default=None), default_under_instance=lambda instance: str(instance / "metrics")
    )
    metrics_token: str | None = setting(fields.String(load_default=None, validate=validate.Length(min=16)))


# A dataclass's fields come from its bases in reverse order: the groups are listed last to
# first so that the fields (and the checks that follow them) read in the order above.
@dataclass(frozen=True)
class Settings(
    MetricsSettings,
    StaffSettings,
    DeliverySettings,
    DirectDebitSettings,
    MessageSettings,
    WhmcsApiSettings,
    SmtpSettings,
    TwilioSettings,
    WebSettings,
    StoreSettings,
    RuntimeSettings,
):
    """The validated settings. Attribute names are the environment variables, lowercased.

    Every setting is declared once, with `setting(...)`, in the group of the system it
    configures; the marshmallow schema that reads the environment is derived from them.
    """

    extra: dict[str, object] = field(default_factory=dict)

    @property
    def twilio_status_callback_url(self) -> str | None:
        """Where Twilio posts delivery receipts: the public URL of /webhooks/twilio/status."""
        return f"{self.public_base_url.rstrip('/')}/webhooks/twilio/status" if self.public_base_url else None


def declared_settings() -> dict[str, Field[Any]]:
    """Every declared setting, by environment variable, in declaration order (grouped by system)."""
    return {f.name.upper(): f for f in dataclass_fields(Settings) if _ENV_FIELD in f.metadata}


_DECLARED = declared_settings()
# The environment as marshmallow sees it: keys are the variable names. Field objects are
# deep-copied into each schema instance, so sharing them with the declarations is safe.
_SettingsSchema = Schema.from_dict(
    {name: f.metadata[_ENV_FIELD] for name, f in _DECLARED.items()}, name="_SettingsSchema"
)


def load_settings(overrides: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from `environ` (default: os.environ after loading `.env`) plus overrides.

    Empty strings count as unset, so `FOO=` in a `.env` file falls back to the default.
    Raises SettingsError naming every bad variable.
    """
    if environ is None:
        from dotenv import load_dotenv

        load_dotenv(override=False)
        environ = os.environ
    raw: dict[str, object] = {k: v for k, v in environ.items() if v != ""}
    raw.update({k.upper(): v for k, v in (overrides or {}).items()})
    try:
        loaded = _SettingsSchema().load({k: v for k, v in raw.items() if k in _DECLARED})
    except ValidationError as exc:
        # A schema's errors are always keyed by field; messages_dict says so to the type checker.
        described = "; ".join(f"{name}: {' '.join(map(str, msgs))}" for name, msgs in sorted(exc.messages_dict.items()))
        raise SettingsError(f"invalid settings: {described}") from None
    instance = Path(str(loaded["INSTANCE_PATH"]))
    for name, declared in _DECLARED.items():
        default_under = declared.metadata[_DEFAULT_UNDER_INSTANCE]
        if default_under is not None and not loaded[name]:
            loaded[name] = default_under(instance)
    for name, declared in _DECLARED.items():
        needed_by = declared.metadata[_REQUIRED_WITH]
        if needed_by is not None and loaded[needed_by] and not loaded[name]:
            raise SettingsError(f"invalid settings: {name}: required when {needed_by} is set")
    extra = {k: v for k, v in (overrides or {}).items() if k.upper() not in _DECLARED}
    settings = Settings(**{k.lower(): v for k, v in loaded.items()}, extra=extra)
    problems = production_problems(settings, environ)
    if problems:
        raise SettingsError("refusing to start in production: " + "; ".join(problems))
    return settings


def production_problems(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """What makes these settings unfit for BRIDGE_ENV=production, each naming its variable.

    The embedded defaults are for trying the bridge out: in production a dry run would
    drop every message silently, and the development secret is public (it is in the code).
    """
    if settings.bridge_env != "production":
        return []
    problems = []
    if DEV_WEBHOOK_SECRET in settings.webhook_secrets:
        problems.append("WHMCS_WEBHOOK_SECRET: the development secret; generate your own whsec_ secret")
    if not settings.twilio_configured:
        problems.append("TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN/TWILIO_WHATSAPP_FROM: WhatsApp would be a dry run")
    if not settings.smtp_configured:
        problems.append("SMTP_HOST: email would be a dry run")
    if not settings.secret_key:
        problems.append("SECRET_KEY: set one shared by all web processes")
    if not settings.redis_url:
        problems.append("REDIS_URL: the private embedded Redis is for one machine in development")
    if settings.database_url.startswith("sqlite"):
        problems.append("DATABASE_URL: SQLite is for development; use PostgreSQL")
    if str(environ.get("FLASK_DEBUG", "")).lower() in ("1", "true", "yes", "on"):
        problems.append("FLASK_DEBUG: debug mode shows code and lets anyone run it")
    return problems
