"""Checking answers against the published contract: the schemas in ``/openapi.json``."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from fastapi.testclient import TestClient
from httpx2 import Response
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]

from tests.api.conftest import strict_json

SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


class Contract:
    """The published schema of one app, and which (path, method, status) answers were seen."""

    def __init__(self, client: TestClient) -> None:
        self.spec: dict[str, Any] = client.get("/openapi.json").json()
        self.seen: set[tuple[str, str, str]] = set()

    def operation(self, template: str, method: str) -> dict[str, Any]:
        op: dict[str, Any] = self.spec["paths"][template][method.lower()]
        return op

    def check(self, response: Response, template: str) -> Any:
        """The answer's status is documented for its route, its body validates against the
        schema documented for that status, and it carries the security headers."""
        method = response.request.method.lower()
        status = str(response.status_code)
        responses = self.operation(template, method)["responses"]
        assert status in responses, (method, template, status, response.text[:300])
        self.seen.add((template, method, status))
        for header in SECURITY_HEADERS:
            assert header in response.headers, (method, template, status, header)
        content = responses[status].get("content")
        if content is None:
            assert response.content == b""
            return None
        body = strict_json(response.text)
        schema = content["application/json"]["schema"]
        assert_valid(body, schema, self.spec["components"])
        return body

    def statuses(self) -> set[tuple[str, str, str]]:
        """Every documented (path, method, status)."""
        return {
            (path, method, status)
            for path, item in self.spec["paths"].items()
            for method, op in item.items()
            for status in op["responses"]
        }


@cache
def _validator(schema_json: bytes, components_json: bytes) -> Draft202012Validator:
    schema = {**orjson.loads(schema_json), "components": orjson.loads(components_json)}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid(instance: Any, schema: dict[str, Any], components: dict[str, Any]) -> None:
    """``instance`` validates against ``schema`` (whose ``$ref``s point into ``components``)."""
    validator = _validator(
        orjson.dumps(schema, option=orjson.OPT_SORT_KEYS),
        orjson.dumps(components, option=orjson.OPT_SORT_KEYS),
    )
    error = best_match(validator.iter_errors(instance))
    assert error is None, f"{error.message} at {list(error.absolute_path)}"
