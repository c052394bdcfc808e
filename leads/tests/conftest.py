import pytest
from django.test import Client


@pytest.fixture
def client():
    """Page tests read the English source strings; the Chinese catalogue is checked by dealercrm/tests/test_i18n.py
    and the browser tests look at the pages in zh-hans."""
    return Client(HTTP_ACCEPT_LANGUAGE="en")
