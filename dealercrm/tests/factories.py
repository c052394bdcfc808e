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
