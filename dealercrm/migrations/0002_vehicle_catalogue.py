"""Seed the vehicle catalogue with the brands a typical Toyota store sells against."""

from django.db import migrations

# (name, name_en, is_own, [(series, series_en, segment), ...])
CATALOGUE = [
    ("丰田", "Toyota", True, [
        ("卡罗拉", "Corolla", "compact"),
        ("凯美瑞", "Camry", "midsize"),
        ("亚洲龙", "Avalon", "large"),
        ("RAV4荣放", "RAV4", "suv"),
        ("汉兰达", "Highlander", "suv"),
        ("赛那", "Sienna", "mpv"),
        ("bZ3X", "bZ3X", "suv"),
    ]),
    ("本田", "Honda", False, [
        ("思域", "Civic", "compact"),
        ("雅阁", "Accord", "midsize"),
        ("CR-V", "CR-V", "suv"),
        ("奥德赛", "Odyssey", "mpv"),
    ]),
    ("大众", "Volkswagen", False, [
        ("朗逸", "Lavida", "compact"),
        ("帕萨特", "Passat", "midsize"),
        ("途观L", "Tiguan L", "suv"),
    ]),
    ("日产", "Nissan", False, [
        ("轩逸", "Sylphy", "compact"),
        ("天籁", "Teana", "midsize"),
        ("奇骏", "X-Trail", "suv"),
    ]),
    ("比亚迪", "BYD", False, [
        ("秦PLUS", "Qin PLUS", "compact"),
        ("汉", "Han", "large"),
        ("宋PLUS", "Song PLUS", "suv"),
        ("宋MAX", "Song MAX", "mpv"),
    ]),
    ("别克", "Buick", False, [
        ("英朗", "Excelle GT", "compact"),
        ("GL8", "GL8", "mpv"),
    ]),
    ("长城", "Great Wall", False, [
        ("炮", "Poer", "pickup"),
    ]),
]


def seed(apps, schema_editor):
    Brand = apps.get_model("dealercrm", "VehicleBrand")
    Series = apps.get_model("dealercrm", "VehicleSeries")
    for name, name_en, is_own, series in CATALOGUE:
        brand, _ = Brand.objects.get_or_create(name_en=name_en, defaults={"name": name, "is_own": is_own})
        for s_name, s_name_en, segment in series:
            Series.objects.get_or_create(
                brand=brand, name_en=s_name_en, defaults={"name": s_name, "segment": segment}
            )


class Migration(migrations.Migration):
    dependencies = [("dealercrm", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
