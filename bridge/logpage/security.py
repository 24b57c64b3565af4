"""Secret key, session cookies, CSRF, the security headers every response carries, and
where a login may send the browser next."""

from __future__ import annotations

import os
import secrets
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

from bridge.services import services

# The pages use only their own static files: no inline script or style, no other origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

csrf = CSRFProtect()


def configure(app: Flask) -> None:
    settings = services(app).settings
    app.config["SECRET_KEY"] = settings.secret_key or load_or_create_secret(Path(app.instance_path) / "secret_key")
    secure = bool(settings.public_base_url and settings.public_base_url.startswith("https:"))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        # The log page checks CSRF itself (views.blueprint): the webhooks are signed, not CSRF'd.
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    csrf.init_app(app)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def load_or_create_secret(path: Path) -> str:
    """The key kept in `path` (mode 0600), made on first use so sessions survive restarts.

    Written to a private temporary file first and then hard-linked into place, so that of
    two processes starting together one key wins and neither reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink()
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to make a new key, or set SECRET_KEY")
    return key


def safe_next_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None (the caller's default page).

    Browsers drop tabs and newlines anywhere in a URL and treat `\\` as `/`, so
    `/<tab>/evil.example` or `/\\evil.example` would leave the site as `//evil.example`
    does. So control characters and whitespace are removed first (a newline left in would
    also make the Location header invalid), then only a single leading `/`, no `\\`, and
    no scheme or host is accepted. The cleaned path is what is returned.
    """
    if not target:
        return None
    cleaned = "".join(ch for ch in target if not (ch.isspace() or unicodedata.category(ch) == "Cc"))
    if not cleaned.startswith("/") or cleaned.startswith("//") or "\\" in cleaned:
        return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return None
    return cleaned
