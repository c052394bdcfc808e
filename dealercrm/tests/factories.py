"""Organisation factories. Related objects share one store and group through SubFactory/SelfAttribute."""

import factory
from factory.django import DjangoModelFactory, Password

from dealercrm.models import DealerGroup, Role, Store, User, VehicleBrand, VehicleSeries

TEST_PASSWORD = "s3cret-pass!"


class DealerGroupFactory(DjangoModelFactory):
    class Meta:
        model = DealerGroup
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Group {n}")


class StoreFactory(DjangoModelFactory):
    class Meta:
        model = Store

    group = factory.SubFactory(DealerGroupFactory)
    name = factory.Sequence(lambda n: f"Store {n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Faker("name", locale="zh_CN")
    password = Password(TEST_PASSWORD)
    role = Role.CONSULTANT
    store = factory.SubFactory(StoreFactory)
    dealer_group = factory.SelfAttribute("store.group")


class ConsultantFactory(UserFactory):
    role = Role.CONSULTANT


class ManagerFactory(UserFactory):
    role = Role.MANAGER


class GroupAdminFactory(UserFactory):
    role = Role.GROUP_ADMIN
    store = None
    dealer_group = factory.SubFactory(DealerGroupFactory)


class SuperuserFactory(UserFactory):
    role = ""
    store = None
    dealer_group = None
    is_superuser = True
    is_staff = True


class VehicleBrandFactory(DjangoModelFactory):
    class Meta:
        model = VehicleBrand
        django_get_or_create = ("name_en",)

    name = factory.Sequence(lambda n: f"品牌{n}")
    name_en = factory.Sequence(lambda n: f"Brand {n}")
    is_own = True


class VehicleSeriesFactory(DjangoModelFactory):
    class Meta:
        model = VehicleSeries

    brand = factory.SubFactory(VehicleBrandFactory)
    name = factory.Sequence(lambda n: f"车系{n}")
    name_en = factory.Sequence(lambda n: f"Series {n}")
    segment = "suv"


class Org:
    """The test organisation: see ``build_org``."""


def build_org(display_names: dict[str, str] | None = None) -> Org:
    """Two stores in one group and a store in another group, with staff in each (the ``org`` fixture; the scoping
    walk builds it once per module). ``display_names``: attribute -> display name, for the users that need one.

    Attributes: group, store, store2, other_group, other_store, consultant, consultant2 (store), consultant_b (store2),
    manager (store), manager2 (store2), admin (group), other_manager, other_admin."""
    names = display_names or {}

    def named(attribute: str) -> dict:
        return {"display_name": names[attribute]} if attribute in names else {}

    o = Org()
    o.group = DealerGroupFactory(name="Alpha Auto")
    o.store = StoreFactory(group=o.group, name="Alpha North")
    o.store2 = StoreFactory(group=o.group, name="Alpha South")
    o.other_group = DealerGroupFactory(name="Beta Motors")
    o.other_store = StoreFactory(group=o.other_group, name="Beta Central")
    o.consultant = ConsultantFactory(username="c_north", store=o.store, **named("consultant"))
    o.consultant2 = ConsultantFactory(username="c2_north", store=o.store, **named("consultant2"))
    o.consultant_b = ConsultantFactory(username="c_south", store=o.store2, **named("consultant_b"))
    o.manager = ManagerFactory(username="m_north", store=o.store, **named("manager"))
    o.manager2 = ManagerFactory(username="m_south", store=o.store2, **named("manager2"))
    o.admin = GroupAdminFactory(username="ga_alpha", dealer_group=o.group, **named("admin"))
    o.other_manager = ManagerFactory(username="m_beta", store=o.other_store, **named("other_manager"))
    o.other_admin = GroupAdminFactory(username="ga_beta", dealer_group=o.other_group, **named("other_admin"))
    return o
