"""Keeping the OpenAPI schema true (issue 10 item 16): REST clients generate code from it, and schemathesis checks
every answer against it (tests/test_schemathesis.py).

- :func:`add_error_responses` (a drf-spectacular postprocessing hook) documents the answers every operation can give
  whatever its view says: 400 where it takes a body or a query (parse errors, filters, pagination), 401/403 (not
  authenticated, not allowed), 404 where it has a path parameter or a page number, 413 where it takes a body
  (dealercrm.api.parsers), 415 where it documents one (a body of another content type), 429 (throttling). An
  operation's own description of one of these is kept.
- :class:`TruthfulModelSerializer`: DRF drops ``allow_blank`` from read-only model fields, so a ``CharField(blank=True,
  choices=...)`` shown read-only was documented as its enum while the answer is often ``""``. Keeps it.
- :func:`name_of`: the display name of a nullable relation (``assigned_to_name``...), documented as nullable.
- :class:`GroupKeyField`: a grouped row's key, an id or a code/period (or null), documented as integer or string."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# A 400 is either {"detail": "..."} (a parse error) or field names to lists of messages.
INVALID = {"type": "object", "additionalProperties": True}

GENERIC = {
    "400": ("Invalid input: an object of field names to messages (or `detail` for a body that cannot be parsed).",
            INVALID),
    "401": ("Not authenticated.", ERROR),
    "403": ("Authenticated, but not allowed to do this.", ERROR),
    "404": ("No such object, or one the caller may not see (or a page number past the end).", ERROR),
    "413": ("The request body is too large.", ERROR),
    "415": ("The body is not of the content type the operation takes (JSON; multipart for an upload).", ERROR),
    "429": ("Too many requests: throttled; `Retry-After` says when to try again.", ERROR),
}
BODY_METHODS = {"post", "put", "patch"}
PUBLIC = {"/api/v1/auth/token/"}


def _codes_for(path: str, method: str, operation: dict) -> list[str]:
    parameters = operation.get("parameters", [])
    has_query = any(p.get("in") == "query" for p in parameters)
    has_path = "{" in path
    has_body = method in BODY_METHODS
    codes = ["429"]
    if has_body or has_query:
        codes.append("400")
    if has_body:
        codes.append("413")
    if "requestBody" in operation:
        codes.append("415")
    if path not in PUBLIC:
        codes += ["401", "403"]
    if has_path or any(p.get("name") == "page" for p in parameters):
        codes.append("404")
    return codes


def add_error_responses(result, generator, request, public):
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code in _codes_for(path, method, operation):
                description, schema = GENERIC[code]
                answer = responses.get(code)
                if answer is None:
                    responses[code] = {"content": {"application/json": {"schema": schema}},
                                       "description": description}
                elif "content" not in answer:
                    # Documented by its view in words only: the body is the generic one.
                    answer["content"] = {"application/json": {"schema": schema}}
    return result


class TruthfulModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose read-only choice fields keep ``allow_blank`` (and so document ``""``)."""

    def include_extra_kwargs(self, kwargs, extra_kwargs):
        blank_choices = bool(kwargs.get("allow_blank")) and "choices" in kwargs
        kwargs = super().include_extra_kwargs(kwargs, extra_kwargs)
        if blank_choices:
            kwargs["allow_blank"] = True
        return kwargs


def name_of(source: str) -> serializers.CharField:
    """``str()`` of a nullable relation, read-only; ``null`` when there is none."""
    return serializers.CharField(source=source, read_only=True, allow_null=True)


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": True})
class GroupKeyField(serializers.Field):
    """The key of a grouped figure's row, read-only and as the selector gives it: an id (integer) when the rows are
    grouped by a record (store, consultant, reason...), a string for a code or a period (``walk_in``, ``2026-05``,
    ``2026-05-01``), null for the rows that have none (no channel, no competitor). Documented as exactly that, so a
    generated client parses it and schemathesis holds every answer to it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value
