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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from bridge.redis_connection import check_redis_url

DEFAULT_INSTANCE_PATH = Path(__file__).resolve().parent.parent / "instance"
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"

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


class _SettingsSchema(Schema):
    """The environment, as marshmallow sees it: keys are the variable names."""

    class Meta:
        unknown = EXCLUDE

    LOG_FORMAT = fields.String(load_default="text", validate=validate.OneOf(["text", "json"]))
    BRIDGE_ENV = fields.String(
        load_default="development", validate=validate.OneOf(["development", "production", "test"])
    )
    INSTANCE_PATH = fields.String(load_default=str(DEFAULT_INSTANCE_PATH))
    DATABASE_URL = fields.String(load_default=None)
    REDIS_URL = fields.String(load_default=None)
    QUEUE_NAME = fields.String(load_default="bridge")
    PORT = fields.Integer(load_default=8000, validate=validate.Range(1, 65535))
    SECRET_KEY = fields.String(load_default=None)

    WHMCS_WEBHOOK_SECRET = fields.String(load_default=DEV_WEBHOOK_SECRET)
    MAX_BODY_BYTES = fields.Integer(load_default=256 * 1024, validate=validate.Range(1024, 16 * 1024 * 1024))

    TWILIO_ACCOUNT_SID = fields.String(load_default=None, validate=validate.Regexp(r"^AC[0-9a-fA-F]{32}$"))
    TWILIO_AUTH_TOKEN = fields.String(load_default=None)
    TWILIO_WHATSAPP_FROM = fields.String(load_default=None, validate=validate.Regexp(r"^(whatsapp:)?\+[1-9]\d{6,14}$"))
    TWILIO_MESSAGING_SERVICE_SID = fields.String(load_default=None, validate=validate.Regexp(r"^MG[0-9a-fA-F]{32}$"))
    TWILIO_API_BASE = fields.Url(load_default="https://api.twilio.com", require_tld=False)
    TWILIO_TIMEOUT_SECONDS = fields.Float(load_default=10.0, validate=validate.Range(0.1, 120))
    PUBLIC_BASE_URL = fields.Url(load_default=None, require_tld=False)

    SMTP_HOST = fields.String(load_default=None)
    SMTP_PORT = fields.Integer(load_default=587, validate=validate.Range(1, 65535))
    SMTP_USERNAME = fields.String(load_default=None)
    SMTP_PASSWORD = fields.String(load_default=None)
    SMTP_STARTTLS = fields.Boolean(load_default=True)
    SMTP_TIMEOUT_SECONDS = fields.Float(load_default=15.0, validate=validate.Range(0.1, 300))
    MAIL_FROM = fields.Email(load_default="bridge@localhost")

    RATE_LIMIT_WHATSAPP_PER_SECOND = fields.Float(load_default=10.0, validate=validate.Range(0.01, 10000))
    RATE_LIMIT_EMAIL_PER_SECOND = fields.Float(load_default=5.0, validate=validate.Range(0.01, 10000))
    RATE_LIMIT_MAX_WAIT_SECONDS = fields.Float(load_default=2.0, validate=validate.Range(0, 60))
    THROTTLE_PAUSE_SECONDS = fields.Float(load_default=5.0, validate=validate.Range(0.01, 3600))
    RETRY_MAX_ATTEMPTS = fields.Integer(load_default=8, validate=validate.Range(1, 100))
    RETRY_BASE_SECONDS = fields.Float(load_default=5.0, validate=validate.Range(0.01, 3600))
    RETRY_MAX_SECONDS = fields.Float(load_default=3600.0, validate=validate.Range(0.01, 86400))
    DEAD_LETTER_REPORT_SECONDS = fields.Float(load_default=300.0, validate=validate.Range(1, 86400))
    READY_MAX_QUEUE_DEPTH = fields.Integer(load_default=10000, validate=validate.Range(min=1))
    RELAY_INTERVAL_SECONDS = fields.Float(load_default=2.0, validate=validate.Range(0.05, 600))
    RELAY_QUEUED_GRACE_SECONDS = fields.Float(load_default=30.0, validate=validate.Range(0.0, 86400))
    RELAY_SENDING_TIMEOUT_SECONDS = fields.Float(load_default=300.0, validate=validate.Range(1, 86400))

    WHMCS_API_URL = fields.Url(load_default=None, require_tld=False)
    WHMCS_API_IDENTIFIER = fields.String(load_default=None)
    WHMCS_API_SECRET = fields.String(load_default=None)
    WHMCS_API_ACCESSKEY = fields.String(load_default=None)
    WHMCS_API_TIMEOUT_SECONDS = fields.Float(load_default=10.0, validate=validate.Range(0.1, 120))

    PAGOS360_WEBHOOK_TOKEN = fields.String(load_default=None, validate=validate.Length(min=24))
    PAGOS360_API_KEY = fields.String(load_default=None)
    PAGOS360_API_BASE = fields.Url(load_default="https://api.pagos360.com", require_tld=False)
    PAGOS360_TIMEOUT_SECONDS = fields.Float(load_default=15.0, validate=validate.Range(0.1, 120))
    PAGOS360_EXTERNAL_REFERENCE = fields.String(load_default=r"^whmcs-client-(\d+)$")
    PAGOS360_CLIENT_GROUP_ID = fields.Integer(load_default=None, validate=validate.Range(min=1))
    PAGOS360_CLIENT_GROUP_NAME = fields.String(load_default="Adherido al débito automático")
    PAGOS360_DEBIT_DAY_FIELD_ID = fields.Integer(load_default=None, validate=validate.Range(min=1))
    PAGOS360_WHMCS_GATEWAY = fields.String(load_default="pagos360")
    DEBIT_LEAD_DAYS = fields.Integer(load_default=3, validate=validate.Range(0, 27))
    DEBIT_CYCLE_HOUR = fields.Integer(load_default=6, validate=validate.Range(0, 23))
    TIMEZONE = fields.String(load_default="America/Argentina/Buenos_Aires")

    BRIDGE_CONFIG_DIR = fields.String(load_default=str(DEFAULT_CONFIG_DIR))
    WHMCS_SYSTEM_URL = fields.Url(load_default=None, require_tld=False)
    DEFAULT_LANGUAGE = fields.String(load_default="es")
    DEFAULT_PHONE_REGION = fields.String(load_default="AR", validate=validate.Regexp(r"^[A-Z]{2}$"))

    LOG_REFRESH_SECONDS = fields.Integer(load_default=30, validate=validate.Range(0, 3600))
    LOGIN_MAX_FAILURES = fields.Integer(load_default=5, validate=validate.Range(1, 1000))
    LOGIN_WINDOW_SECONDS = fields.Integer(load_default=900, validate=validate.Range(1, 86400))
    # How many reverse proxies in front of gunicorn append to X-Forwarded-For: the client
    # address (the login limit's key) is read that many hops from the right. 0: the header
    # is ignored, so no client can pick the address it is counted under.
    TRUSTED_PROXY_COUNT = fields.Integer(load_default=0, validate=validate.Range(0, 10))
    RETENTION_DAYS = fields.Integer(load_default=180, validate=validate.Range(1, 36500))
    METRICS_DIR = fields.String(load_default=None)
    METRICS_TOKEN = fields.String(load_default=None, validate=validate.Length(min=16))

    @validates("PAGOS360_EXTERNAL_REFERENCE")
    def _check_reference(self, value: str, **_: object) -> None:
        try:
            if re.compile(value).groups != 1:
                raise ValidationError("must have exactly one group: the WHMCS client id")
        except re.error as exc:
            raise ValidationError(f"not a regular expression: {exc}") from None

    @validates("TIMEZONE")
    def _check_timezone(self, value: str, **_: object) -> None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {value!r}") from None

    @validates("WHMCS_WEBHOOK_SECRET")
    def _check_secret(self, value: str, **_: object) -> None:
        _whsec(value)

    @validates("REDIS_URL")
    def _check_redis_url(self, value: str | None, **_: object) -> None:
        if value is None:  # unset: the private embedded Redis
            return
        try:
            check_redis_url(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


@dataclass(frozen=True)
class Settings:
    """The validated settings. Attribute names are the environment variables, lowercased."""

    log_format: str
    bridge_env: str
    instance_path: str
    database_url: str
    redis_url: str | None
    queue_name: str
    port: int
    secret_key: str | None
    whmcs_webhook_secret: str
    max_body_bytes: int
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_whatsapp_from: str | None
    twilio_messaging_service_sid: str | None
    twilio_api_base: str
    twilio_timeout_seconds: float
    public_base_url: str | None
    smtp_host: str | None
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_starttls: bool
    smtp_timeout_seconds: float
    mail_from: str
    rate_limit_whatsapp_per_second: float
    rate_limit_email_per_second: float
    rate_limit_max_wait_seconds: float
    throttle_pause_seconds: float
    retry_max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    dead_letter_report_seconds: float
    ready_max_queue_depth: int
    relay_interval_seconds: float
    relay_queued_grace_seconds: float
    relay_sending_timeout_seconds: float
    whmcs_api_url: str | None
    whmcs_api_identifier: str | None
    whmcs_api_secret: str | None
    whmcs_api_accesskey: str | None
    whmcs_api_timeout_seconds: float
    pagos360_webhook_token: str | None
    pagos360_api_key: str | None
    pagos360_api_base: str
    pagos360_timeout_seconds: float
    pagos360_external_reference: str
    pagos360_client_group_id: int | None
    pagos360_client_group_name: str
    pagos360_debit_day_field_id: int | None
    pagos360_whmcs_gateway: str
    debit_lead_days: int
    debit_cycle_hour: int
    timezone: str
    bridge_config_dir: str
    whmcs_system_url: str | None
    default_language: str
    default_phone_region: str
    log_refresh_seconds: int
    login_max_failures: int
    login_window_seconds: int
    trusted_proxy_count: int
    retention_days: int
    metrics_dir: str
    metrics_token: str | None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def webhook_secrets(self) -> list[str]:
        """All accepted WHMCS secrets (several during a rotation)."""
        return self.whmcs_webhook_secret.split()

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_whatsapp_from or self.twilio_messaging_service_sid)
        )

    @property
    def whmcs_api_configured(self) -> bool:
        return bool(self.whmcs_api_url and self.whmcs_api_identifier and self.whmcs_api_secret)

    @property
    def twilio_status_callback_url(self) -> str | None:
        """Where Twilio posts delivery receipts: the public URL of /webhooks/twilio/status."""
        return f"{self.public_base_url.rstrip('/')}/webhooks/twilio/status" if self.public_base_url else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)


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
    schema = _SettingsSchema()
    known = set(schema.fields)
    try:
        loaded = schema.load({k: v for k, v in raw.items() if k in known})
    except ValidationError as exc:
        # A schema's errors are always keyed by field; messages_dict says so to the type checker.
        described = "; ".join(f"{name}: {' '.join(map(str, msgs))}" for name, msgs in sorted(exc.messages_dict.items()))
        raise SettingsError(f"invalid settings: {described}") from None
    instance = Path(str(loaded["INSTANCE_PATH"]))
    if not loaded["DATABASE_URL"]:
        loaded["DATABASE_URL"] = f"sqlite:///{instance / 'bridge.sqlite3'}"
    if not loaded["METRICS_DIR"]:
        loaded["METRICS_DIR"] = str(instance / "metrics")
    if loaded["TWILIO_ACCOUNT_SID"] and not loaded["TWILIO_AUTH_TOKEN"]:
        raise SettingsError("invalid settings: TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set")
    for needed in ("WHMCS_API_IDENTIFIER", "WHMCS_API_SECRET"):
        if loaded["WHMCS_API_URL"] and not loaded[needed]:
            raise SettingsError(f"invalid settings: {needed}: required when WHMCS_API_URL is set")
    extra = {k: v for k, v in (overrides or {}).items() if k.upper() not in known}
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
