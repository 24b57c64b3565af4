"""GET /openapi.json: the inbound endpoints described from their own declarations
(`bridge.inbound.SOURCES`: each one's marshmallow schema, through apispec, and its
operation), so the description cannot drift from what the views accept; the fuzz tests
(schemathesis) generate their requests from it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify

from bridge.inbound.sources import InboundSource

blueprint = Blueprint("openapi", __name__)


def build_spec(sources: Iterable[InboundSource]) -> dict[str, Any]:
    spec = APISpec(
        title="WHMCS bridge: inbound endpoints",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
    )
    for source in sources:
        spec.components.schema(source.schema_name, schema=source.schema)
        body = {"required": True, "content": {source.content_type: {"schema": source.schema_name}}}
        spec.path(path=source.path, operations={"post": {**source.operation, "requestBody": body}})
    return spec.to_dict()


@blueprint.get("/openapi.json")
def openapi() -> Any:
    return jsonify(build_spec(current_app.extensions["bridge.inbound_sources"]))
