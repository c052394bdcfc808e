import pytest
from django.core.management import CommandError, call_command

from dealercrm.models import DealerGroup, Role, Store, User

pytestmark = pytest.mark.django_db


def counts():
    return (
        DealerGroup.objects.count(),
        Store.objects.count(),
        User.objects.filter(role=Role.MANAGER).count(),
        User.objects.filter(role=Role.CONSULTANT).count(),
        User.objects.filter(role=Role.GROUP_ADMIN).count(),
    )


def test_seed_demo_builds_the_demo_group_and_is_idempotent(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    first = counts()
    assert first == (1, 2, 2, 8, 1)
    admin = User.objects.get(username="admin")
    admin.set_password("changed-by-hand")
    admin.save()
    call_command("seed_demo")
    assert counts() == first
    assert User.objects.get(username="admin").check_password("demo1234")
    assert "demo1234" in capsys.readouterr().out
    for store in Store.objects.all():
        assert store.staff.filter(role=Role.CONSULTANT).count() == 4
        assert store.staff.filter(role=Role.MANAGER).count() == 1


def test_seed_demo_refuses_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("seed_demo")
    assert DealerGroup.objects.count() == 0
    call_command("seed_demo", force=True)
    assert DealerGroup.objects.filter(name="Demo Auto Group").exists()


def test_seed_demo_if_empty_leaves_an_existing_database_alone(org, settings):
    settings.DEBUG = True
    call_command("seed_demo", if_empty=True)
    assert not DealerGroup.objects.filter(name="Demo Auto Group").exists()
