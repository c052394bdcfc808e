import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ProtectedError
from rest_framework.authtoken.models import Token

from dealercrm import services
from dealercrm.models import Role, User

pytestmark = pytest.mark.django_db


def test_store_create_puts_the_store_in_the_admins_group(org):
    store = services.store_create(actor=org.admin, name="  Alpha East ")
    assert store.group == org.group
    assert store.name == "Alpha East"


@pytest.mark.parametrize("who", ["manager", "consultant"])
def test_store_create_is_denied_below_group_admin(org, who):
    with pytest.raises(PermissionDenied):
        services.store_create(actor=getattr(org, who), name="Nope")


def test_store_create_refuses_a_duplicate_name(org):
    with pytest.raises(ValidationError) as exc:
        services.store_create(actor=org.admin, name="Alpha North")
    assert "name" in exc.value.message_dict


def test_staff_create_by_manager_joins_their_store_and_group(org):
    user = services.staff_create(
        actor=org.manager, username="newbie", password="Long-enough-9", role=Role.CONSULTANT, store=org.store
    )
    assert (user.store, user.dealer_group, user.role) == (org.store, org.group, Role.CONSULTANT)
    assert user.check_password("Long-enough-9")


@pytest.mark.parametrize(
    "role,store_attr", [(Role.CONSULTANT, "store2"), (Role.MANAGER, "store"), (Role.CONSULTANT, "other_store")]
)
def test_staff_create_denials_for_a_manager(org, role, store_attr):
    with pytest.raises(PermissionDenied):
        services.staff_create(
            actor=org.manager, username="x1", password="Long-enough-9", role=role, store=getattr(org, store_attr)
        )
    assert not User.objects.filter(username="x1").exists()


def test_staff_create_validates_password_and_store(org):
    with pytest.raises(ValidationError) as exc:
        services.staff_create(actor=org.admin, username="weak", password="123", role=Role.CONSULTANT, store=org.store)
    assert "password" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.staff_create(actor=org.admin, username="nostore", password="Long-enough-9", role=Role.MANAGER, store=None)
    assert "store" in exc.value.message_dict


def test_staff_deactivate_keeps_the_user_and_revokes_the_token(org):
    Token.objects.create(user=org.consultant)
    services.staff_deactivate(actor=org.manager, user=org.consultant)
    org.consultant.refresh_from_db()
    assert org.consultant.is_active is False
    assert not Token.objects.filter(user=org.consultant).exists()
    assert User.objects.filter(pk=org.consultant.pk).exists()


def test_staff_deactivate_denied_for_another_stores_consultant(org):
    with pytest.raises(PermissionDenied):
        services.staff_deactivate(actor=org.manager, user=org.consultant_b)


def test_a_store_with_staff_cannot_be_deleted(org):
    # PROTECT everywhere: removing an organisation row never orphans or cascades staff and their records.
    with pytest.raises(ProtectedError):
        org.store.delete()
