"""`manage.py prepare` (make run, the docker web service): a tree prepared with DEBUG on still serves its pages,
the error pages included, when DEBUG is turned off afterwards."""

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PRODUCTION_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_prepare_with_debug_on_writes_the_manifest_a_debug_off_start_needs(settings, tmp_path):
    # Given a tree whose static root has no manifest, prepared with DEBUG on (make run)
    settings.DEBUG = True
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    call_command("prepare", verbosity=0)
    assert (tmp_path / "staticfiles" / "staticfiles.json").exists()
    # When DEBUG is turned off (the production storage reads the manifest)
    settings.DEBUG = False
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": PRODUCTION_STORAGE}}
    response = Client(HTTP_HOST="localhost").get("/no-such-page/")
    # Then an unknown address is the 404 page, not a 500 from a missing manifest entry
    assert response.status_code == 404
    assert "/static/" in response.content.decode()
