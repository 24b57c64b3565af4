"""Email through an SMTP relay (the standard library's smtplib)."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from providers.base import ProviderError, SendResult
from providers.email_address import NotOneAddress, single_address


class SmtpEmail:
    """Sends one plain-text email. `content` keys: `subject`, `body`."""

    channel = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        starttls: bool,
        mail_from: str,
        timeout: float = 15.0,
        per_second: float | None = None,
    ) -> None:
        """`per_second`: the relay's send rate (RATE_LIMIT_EMAIL_PER_SECOND), shared by every
        worker; None: not paced."""
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.mail_from = mail_from
        self.timeout = timeout
        self.rate_key = f"email:{host}"
        self.per_second = per_second

    def send(self, recipient: str, content: dict[str, Any]) -> SendResult:
        """Sends to exactly one address; a recipient holding several (or none) is a permanent
        error before any connection: the planners skip those, this is the second guard."""
        try:
            recipient = single_address(recipient)
        except NotOneAddress as exc:
            raise ProviderError(f"refused before sending: {exc}", permanent=True) from exc
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = recipient
        message["Subject"] = content["subject"]
        message["Date"] = formatdate(localtime=False)
        message_id = make_msgid(idstring=uuid.uuid4().hex[:12], domain=self.mail_from.rpartition("@")[2] or None)
        message["Message-ID"] = message_id
        message.set_content(content["body"])
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise ProviderError(
                f"SMTP login refused: {exc.smtp_code}", permanent=True, code=str(exc.smtp_code)
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(code >= 500 for code in codes)
            raise ProviderError(
                f"SMTP refused the recipient: {codes}", permanent=permanent, code=str(codes[0]), throttled=not permanent
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx: the server asks us to come back later; 5xx: it will not take this message.
            raise ProviderError(
                f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}",
                permanent=exc.smtp_code >= 500,
                code=str(exc.smtp_code),
                throttled=400 <= exc.smtp_code < 500,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ProviderError(f"SMTP unreachable: {type(exc).__name__}: {exc}", permanent=False) from exc
        if refused:
            raise ProviderError(f"SMTP refused some recipients: {refused}", permanent=False)
        return SendResult(provider_ref=message_id.strip("<>"), detail={"smtp_host": self.host})
