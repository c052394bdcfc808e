"""A denial (403) is one log line: method, path, user id, no traceback (it is no error of ours)."""

import logging

import pytest

from dealercrm.tests.clients import client_for

pytestmark = pytest.mark.django_db


def _denial_records(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_denied_page_is_one_line_without_a_traceback(org, caplog):
    caplog.set_level(logging.INFO)
    response = client_for(org.consultant).get("/reports/monthly-pack/")
    assert response.status_code == 403
    records = _denial_records(caplog)
    assert len(records) == 1, [(r.name, r.getMessage()) for r in records]
    [record] = records
    assert record.exc_info is None and record.exc_text is None
    message = record.getMessage()
    assert "GET" in message and "/reports/monthly-pack/" in message and f"user {org.consultant.pk}" in message


def test_a_denied_api_request_is_one_line_without_a_traceback(org, api_as, caplog):
    caplog.set_level(logging.INFO)
    response = api_as(org.consultant).get("/api/v1/reports/monthly-pack/")
    assert response.status_code == 403
    records = _denial_records(caplog)
    assert len(records) == 1, [(r.name, r.getMessage()) for r in records]
    [record] = records
    assert record.exc_info is None and record.exc_text is None
    message = record.getMessage()
    assert "GET" in message and "/api/v1/reports/monthly-pack/" in message and f"user {org.consultant.pk}" in message



def _console_writes(record: logging.LogRecord) -> int:
    """How many of the configured handlers (pytest's capturing ones aside) write ``record``, walking the loggers
    from its own to the root as logging does."""
    writes, logger = 0, logging.getLogger(record.name)
    while logger is not None:
        for handler in logger.handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue
            if record.levelno >= handler.level and handler.filter(record):
                writes += 1
        logger = logger.parent if logger.propagate else None
    return writes


def test_a_denial_is_written_once_when_debugging(org, settings, caplog):
    """With DEBUG (make run), Django's own console handler on the "django" logger and the root's both wrote it."""
    settings.DEBUG = True
    caplog.set_level(logging.INFO)
    client_for(org.consultant).get("/reports/monthly-pack/")
    [record] = _denial_records(caplog)
    assert _console_writes(record) == 1
