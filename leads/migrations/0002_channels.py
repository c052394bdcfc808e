"""Seed the channel list (DOMAIN §7). Editable afterwards in the admin."""

from django.db import migrations

CHANNELS = [
    # (source, code, name, name_en)
    ("walk_in", "showroom", "展厅自然到店", "Showroom"),
    ("walk_in", "phone_in", "来电", "Phone-in"),
    ("walk_in", "internet", "网络/APP线索", "Internet / app"),
    ("referral", "base_client", "基盘客户推荐", "Base-client referral"),
    ("referral", "friend", "亲友推荐", "Friend referral"),
    ("referral", "employee", "员工推荐", "Employee referral"),
    ("outbound", "event", "活动", "Event"),
    ("outbound", "exhibition", "车展", "Exhibition"),
    ("outbound", "street", "扫街/外拓", "Street canvassing"),
    ("outbound", "fleet", "大客户陌拜", "Fleet call"),
]


def seed(apps, schema_editor):
    Channel = apps.get_model("leads", "Channel")
    for order, (source, code, name, name_en) in enumerate(CHANNELS):
        Channel.objects.get_or_create(
            code=code, defaults={"source": source, "name": name, "name_en": name_en, "sort_order": order}
        )


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
