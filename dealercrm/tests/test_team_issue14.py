"""The team page's controls (issue 14, item 15): edit, reset the password, deactivate; who may do what."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from dealercrm.tests.clients import client_for

pytestmark = pytest.mark.django_db


def url(user):
    return reverse("team_member", args=[user.pk])


def test_the_team_page_offers_manage_only_on_manageable_rows(org):
    html = client_for(org.manager).get(reverse("team")).content.decode()
    assert f'href="{url(org.consultant)}"' in html
    assert f'href="{url(org.manager)}"' not in html  # not oneself
    admin_html = client_for(org.admin).get(reverse("team")).content.decode()
    assert f'href="{url(org.manager)}"' in admin_html
    assert f'href="{reverse("leads:grade_rules")}"' in admin_html


def test_a_manager_edits_resets_and_deactivates_a_consultant(org):
    client = client_for(org.manager)
    Token.objects.create(user=org.consultant)
    assert client.post(url(org.consultant), {"action": "edit", "edit-display_name": "王芳芳"}).status_code == 302
    org.consultant.refresh_from_db()
    assert org.consultant.display_name == "王芳芳"
    weak = client.post(url(org.consultant), {"action": "password", "pw-password": "12345678"})
    assert weak.status_code == 200 and weak.context["password_form"].errors
    assert client.post(url(org.consultant), {"action": "password", "pw-password": "Showroom-2026!"}).status_code == 302
    org.consultant.refresh_from_db()
    assert org.consultant.check_password("Showroom-2026!")
    assert not Token.objects.filter(user=org.consultant).exists()
    assert client.post(url(org.consultant), {"action": "deactivate"}).status_code == 302
    org.consultant.refresh_from_db()
    assert not org.consultant.is_active


def test_who_may_not(org):
    # A consultant manages no one; a manager not another manager nor another store's staff; nobody themselves.
    assert client_for(org.consultant).get(url(org.consultant2)).status_code in (403, 404)
    assert client_for(org.manager).get(url(org.manager2)).status_code in (403, 404)
    assert client_for(org.manager).post(url(org.consultant_b), {"action": "deactivate"}).status_code == 404
    assert client_for(org.admin).get(url(org.admin)).status_code == 403
    assert client_for(org.other_admin).get(url(org.consultant)).status_code == 404
    org.consultant_b.refresh_from_db()
    assert org.consultant_b.is_active
