"""The contract of an inbound source: what each endpoint module of this package declares,
so that registering its view, describing it in /openapi.json and offering its name in the
delivery log's source filter all follow from one list (`bridge.inbound.SOURCES`).

Adding an inbound source is one module here: its blueprint, its marshmallow schema, its
OpenAPI operation, its `SOURCE`, and its line in `SOURCES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from marshmallow import Schema


@dataclass(frozen=True)
class InboundSource:
    """One inbound endpoint.

    `source` is the Event.source its events are recorded under (two endpoints may share
    one: Twilio's receipts and, later, its incoming messages). `path` is the endpoint in
    OpenAPI's form (`{token}` for a path parameter); `schema` describes the body, sent as
    `content_type`; `operation` is the rest of the OpenAPI operation (summary, parameters,
    responses), the request body being built from `schema`, named `schema_name` among
    the description's components."""

    source: str
    blueprint: Blueprint
    path: str
    schema: type[Schema]
    schema_name: str
    content_type: str
    operation: dict[str, Any]


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI response for a refusal: every inbound endpoint answers `{"error": …}`."""
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}
