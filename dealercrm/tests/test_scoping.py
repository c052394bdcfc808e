"""visible_to(user): the one scoping rule, checked per role with its denials."""

import pytest
from django.contrib.auth.models import AnonymousUser

from dealercrm.models import DealerGroup, Store, User
from dealercrm.tests.factories import SuperuserFactory

pytestmark = pytest.mark.django_db


def names(qs):
    return sorted(str(x.username if isinstance(x, User) else x.name) for x in qs)


def test_consultant_sees_only_themselves_and_their_store(org):
    assert names(User.objects.visible_to(org.consultant)) == ["c_north"]
    assert names(Store.objects.visible_to(org.consultant)) == ["Alpha North"]
    assert names(DealerGroup.objects.visible_to(org.consultant)) == ["Alpha Auto"]


def test_manager_sees_their_store_but_not_the_sister_store_or_another_group(org):
    assert names(User.objects.visible_to(org.manager)) == ["c2_north", "c_north", "m_north"]
    assert names(Store.objects.visible_to(org.manager)) == ["Alpha North"]
    assert not User.objects.visible_to(org.manager).filter(pk=org.consultant_b.pk).exists()
    assert not User.objects.visible_to(org.manager).filter(pk=org.other_manager.pk).exists()


def test_group_admin_sees_their_group_only(org):
    visible = names(User.objects.visible_to(org.admin))
    assert visible == ["c2_north", "c_north", "c_south", "ga_alpha", "m_north", "m_south"]
    assert names(Store.objects.visible_to(org.admin)) == ["Alpha North", "Alpha South"]
    assert names(Store.objects.visible_to(org.other_admin)) == ["Beta Central"]


def test_superuser_sees_everything(org):
    root = SuperuserFactory(username="root")
    assert Store.objects.visible_to(root).count() == 3
    assert User.objects.visible_to(root).count() == User.objects.count()


def test_anonymous_and_inactive_users_see_nothing(org):
    assert not Store.objects.visible_to(AnonymousUser()).exists()
    assert not Store.objects.visible_to(None).exists()
    org.manager.is_active = False
    org.manager.save()
    assert not User.objects.visible_to(org.manager).exists()


def test_a_user_without_role_or_store_sees_nothing(org):
    orphan = User.objects.create_user("norole", password="x" * 10)
    assert not Store.objects.visible_to(orphan).exists()
    assert not User.objects.visible_to(orphan).exists()


def test_deactivated_staff_stay_visible_to_their_manager(org):
    # Deactivation never hides or deletes what a consultant was part of.
    org.consultant.is_active = False
    org.consultant.save()
    assert User.objects.visible_to(org.manager).filter(pk=org.consultant.pk).exists()
