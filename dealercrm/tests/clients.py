"""Page-test helpers shared by the apps' view tests."""

from django.test import Client

HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    """A logged-in test client that asks for English: assertions read the English source strings."""
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client
