"""Twilio's Content API at the HTTP edge, with memory: templates made, sent for approval and
decided, as WhatsApp's review plays out over days.

Every request is first passed to Prism serving the repository's copy of Twilio's own
description (testdata/twilio/twilio_content_v1.json): a request that does not fit it gets
Prism's refusal back, so the bridge's calls are checked against Twilio's contract. A
request that fits is answered from this stand-in's state, which Prism's fixed examples
cannot hold: the sid made is the one later asked about, and its approval goes from
`received` to `pending` (the first time it is read) to whatever the test decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.checked_stand_in import CheckedStandIn
from tests.support.prism import REPO_ROOT, PrismTwilio

CONTENT_SPEC = REPO_ROOT / "testdata" / "twilio" / "twilio_content_v1.json"
ACCOUNT_SID = "AC11111111111111111111111111111111"
_APPROVAL_CREATE = re.compile(r"^/v1/Content/(HX[0-9a-f]{32})/ApprovalRequests/whatsapp$")
_APPROVAL_FETCH = re.compile(r"^/v1/Content/(HX[0-9a-f]{32})/ApprovalRequests$")


@dataclass
class Template:
    sid: str
    friendly_name: str
    language: str
    body: str
    variables: dict[str, str]
    name: str = ""  # the approval request's WhatsApp name
    category: str = ""
    status: str = "unsubmitted"
    rejection_reason: str = ""


@dataclass
class ContentStandIn(CheckedStandIn):
    """Run with `with ContentStandIn(prism) as content:`; `content.base_url` is where the
    bridge's TWILIO_CONTENT_API_BASE points."""

    templates: dict[str, Template] = field(default_factory=dict)

    def decide(self, name: str, status: str, reason: str = "") -> None:
        """WhatsApp's decision on the template sent for approval under `name`."""
        for template in self.templates.values():
            if template.name == name:
                template.status, template.rejection_reason = status, reason
                return
        raise KeyError(f"no template submitted as {name!r}: {sorted(t.name for t in self.templates.values())}")

    def creates(self) -> list[Any]:
        return [body for method, path, body in self.requests if method == "POST" and path == "/v1/Content"]

    def from_state(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/v1/Content":
            sid = f"HX{len(self.templates) + 1:032x}"
            template = Template(
                sid=sid,
                friendly_name=body["friendly_name"],
                language=body["language"],
                body=body["types"]["twilio/text"]["body"],
                variables=body.get("variables") or {},
            )
            self.templates[sid] = template
            return 201, {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "friendly_name": template.friendly_name,
                "language": template.language,
                "variables": template.variables,
                "types": {"twilio/text": {"body": template.body}},
                "url": f"https://content.twilio.com/v1/Content/{sid}",
                "links": {
                    "approval_create": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests/whatsapp",
                    "approval_fetch": f"https://content.twilio.com/v1/Content/{sid}/ApprovalRequests",
                },
            }
        created = _APPROVAL_CREATE.match(path)
        if method == "POST" and created:
            template = self.templates[created.group(1)]
            template.name, template.category, template.status = body["name"], body["category"], "received"
            return 201, {
                "name": template.name,
                "category": template.category,
                "content_type": "twilio/text",
                "status": template.status,
                "rejection_reason": "",
                "allow_category_change": True,
            }
        fetched = _APPROVAL_FETCH.match(path)
        if method == "GET" and fetched:
            template = self.templates[fetched.group(1)]
            if template.status == "received":
                template.status = "pending"  # WhatsApp has picked it up for review
            return 200, {
                "sid": template.sid,
                "account_sid": ACCOUNT_SID,
                "whatsapp": {
                    "type": "whatsapp",
                    "name": template.name,
                    "category": template.category,
                    "content_type": "twilio/text",
                    "status": template.status,
                    "rejection_reason": template.rejection_reason,
                    "allow_category_change": True,
                    "flows": None,
                },
                "url": f"https://content.twilio.com/v1/Content/{template.sid}/ApprovalRequests",
            }
        return 404, {"code": 20404, "message": f"no {method} {path} in this stand-in", "status": 404}


def content_prism() -> PrismTwilio:
    """Prism on Twilio's Content API description, unchanged (no added error answers: Prism
    then answers an invalid request with its own 422 naming what does not fit)."""
    return PrismTwilio(Path(CONTENT_SPEC), error_codes=())
