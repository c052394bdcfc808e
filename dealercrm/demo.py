"""The demo dealer group that `seed_demo` builds. Re-runnable: every row is found or created by a natural key,
and every demo password is reset to settings.DEMO_PASSWORD. Later apps add their history on top of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction

from .models import DealerGroup, Role, Store, User

DEMO_GROUP = "Demo Auto Group"
# (store name, manager (username, display name), consultants [(username, display name), ...])
DEMO_STORES = [
    (
        "浦东店",
        ("pudong_manager", "张伟"),
        [("pudong_sales1", "李娜"), ("pudong_sales2", "王强"), ("pudong_sales3", "刘洋"), ("pudong_sales4", "陈静")],
    ),
    (
        "闵行店",
        ("minhang_manager", "赵敏"),
        [("minhang_sales1", "孙磊"), ("minhang_sales2", "周婷"), ("minhang_sales3", "吴昊"), ("minhang_sales4", "郑丽")],
    ),
]

# The second store sells to companies: its fleet sales manager (批售经理), a consultant who owns its competitor pool and
# sees its company accounts. (username, display name)
DEMO_FLEET_MANAGER = ("minhang_fleet", "钱峰")


# The second store sells a light-commercial-vehicle maker's range (轻卡, 皮卡, 轻客) to companies and tradesmen; the
# installation's catalogue gains the maker (ours) and the rivals it meets. (brand, brand_en, is_own, series)
DEMO_LCV_CATALOGUE = [
    ("骐远汽车", "Qiyuan Motors", True, [
        ("骐远 K3 轻卡", "Qiyuan K3", "light_truck"),
        ("骐远 K5 轻卡", "Qiyuan K5", "light_truck"),
        ("骐远 K7 冷藏车", "Qiyuan K7 Reefer", "light_truck"),
        ("骐远 锐途 皮卡", "Qiyuan Ruitu", "pickup"),
        ("骐远 V6 轻客", "Qiyuan V6", "light_bus"),
        ("骐远 V9 长轴轻客", "Qiyuan V9 LWB", "light_bus"),
    ]),
    ("福田", "Foton", False, [("奥铃", "Ollin", "light_truck"), ("欧马可", "Aumark", "light_truck")]),
    ("江铃", "JMC", False, [("顺达", "Shunda", "light_truck"), ("特顺", "Teshun", "light_bus")]),
    ("上汽大通", "SAIC Maxus", False, [("V80", "V80", "light_bus"), ("T60", "T60", "pickup")]),
]


def demo_catalogue_seed() -> None:
    """The light-commercial maker and its rivals in the catalogue (found or created by English name)."""
    from .models import VehicleBrand, VehicleSeries

    for name, name_en, is_own, series in DEMO_LCV_CATALOGUE:
        brand, _ = VehicleBrand.objects.get_or_create(name_en=name_en, defaults={"name": name, "is_own": is_own})
        for s_name, s_en, segment in series:
            VehicleSeries.objects.get_or_create(brand=brand, name_en=s_en,
                                                defaults={"name": s_name, "segment": segment})


@dataclass
class DemoOrganisation:
    group: DealerGroup
    stores: list[Store] = field(default_factory=list)
    logins: list[User] = field(default_factory=list)


@cache
def _demo_password_hash(password: str) -> str:
    """The demo password hashed once per process: the twelve logins share it (and the documented password), and
    hashing it twelve times with the production hasher took 5 s of every seed."""
    return make_password(password)


def _staff(username: str, **attrs) -> User:
    user, _ = User.objects.update_or_create(username=username, defaults={**attrs, "is_active": True})
    user.password = _demo_password_hash(settings.DEMO_PASSWORD)
    user.save(update_fields=["password"])
    return user


@transaction.atomic
def demo_organisation_seed() -> DemoOrganisation:
    """Create or refresh the demo group, its two stores (the first sells passenger cars, the second light commercial
    vehicles: ``DEMO_LCV_CATALOGUE``), their managers and consultants, and `admin`."""
    group, _ = DealerGroup.objects.get_or_create(name=DEMO_GROUP)
    demo_catalogue_seed()
    org = DemoOrganisation(group=group)
    org.logins.append(_staff("admin", role=Role.GROUP_ADMIN, dealer_group=group, store=None, display_name="王总"))
    for store_name, (manager, manager_name), consultants in DEMO_STORES:
        store, _ = Store.objects.get_or_create(group=group, name=store_name)
        org.stores.append(store)
        org.logins.append(
            _staff(manager, role=Role.MANAGER, dealer_group=group, store=store, display_name=manager_name)
        )
        for username, display_name in consultants:
            org.logins.append(
                _staff(username, role=Role.CONSULTANT, dealer_group=group, store=store, display_name=display_name)
            )
    username, display_name = DEMO_FLEET_MANAGER
    org.logins.append(_staff(username, role=Role.CONSULTANT, dealer_group=group, store=org.stores[1],
                             display_name=display_name, fleet_manager=True))
    return org
