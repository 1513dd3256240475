"""Helpers shared by the contacts and groups API tests."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_error(response, status: int, code: str) -> dict:
    """The response is the error `code` with `status`, in the shape of errors.md."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code == "invalid":
        assert isinstance(body["error"]["fields"], dict) and body["error"]["fields"]
    else:
        assert "fields" not in body["error"]
    return body["error"]


def count_queries(fn) -> tuple[int, object]:
    """(number of queries, result) of calling `fn`."""
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return len(ctx.captured_queries), result
