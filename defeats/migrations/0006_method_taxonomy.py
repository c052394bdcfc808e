"""The reason taxonomy becomes the method's (defeats/taxonomy.py): its names, each reason once. For every group:
the default codes take the method's names and order; "price really high" and "price apparently high" become one
"price high" whose cause is kept on the application (really high → ``price_cause = really_high``; the apparent
cause was never recorded, so it stays blank); "no stock" under product and "no stock to offer" under the process
become one "no stock" (无存货); "not satisfied with the model" and "brand habit" are added; "bought a competitor's
car" (the defeat's kind and competitor, not a reason) is retired: dropped from applications that have another reason,
deactivated and kept on those that have none. Applications and talk tracks move to the merged reasons; the merged
rows are then deleted (nothing uses them any more)."""

from django.db import migrations

from defeats.taxonomy import MERGED, RETIRED, default_reason_rows


def forward(apps, schema_editor):
    DealerGroup = apps.get_model("dealercrm", "DealerGroup")
    Reason = apps.get_model("defeats", "Reason")
    Application = apps.get_model("defeats", "Application")
    ApplicationReason = apps.get_model("defeats", "ApplicationReason")
    TalkTrack = apps.get_model("defeats", "TalkTrack")
    for group in DealerGroup.objects.all():
        if not Reason.objects.filter(group=group).exists():
            continue  # seeded with the new defaults on first use (services.reasons_for)
        by_code = {}
        for code, parent, name, name_en, note, competitor, order in default_reason_rows():
            reason, _created = Reason.objects.update_or_create(
                group=group, code=code,
                defaults={"parent": by_code.get(parent), "name": name, "name_en": name_en, "requires_note": note,
                          "requires_competitor": competitor, "sort_order": order, "is_active": True})
            by_code[code] = reason
        old = {r.code: r for r in Reason.objects.filter(group=group, code__in=[*MERGED, *RETIRED])}
        if "price_really_high" in old:
            Application.objects.filter(reason_rows__reason=old["price_really_high"]).update(price_cause="really_high")
        for code, new_code in MERGED.items():
            if code not in old:
                continue
            new = by_code[new_code]
            rows = ApplicationReason.objects.filter(reason=old[code])
            already = ApplicationReason.objects.filter(reason=new).values("application_id")
            rows.filter(application_id__in=already).delete()
            rows.update(reason=new, parent=new.parent)
            for track in TalkTrack.objects.filter(reason=old[code]):
                if TalkTrack.objects.filter(reason=new, series=track.series).exists():
                    track.delete()
                else:
                    track.reason = new
                    track.save(update_fields=["reason"])
            old[code].delete()
        for code in RETIRED:
            if code not in old:
                continue
            rows = ApplicationReason.objects.filter(reason=old[code])
            others = (ApplicationReason.objects.exclude(reason=old[code])
                      .filter(application_id__in=rows.values("application_id")).values("application_id"))
            rows.filter(application_id__in=others).delete()
            old[code].is_active = False
            old[code].requires_competitor = False
            old[code].sort_order = 299
            old[code].save(update_fields=["is_active", "requires_competitor", "sort_order"])


class Migration(migrations.Migration):
    dependencies = [("defeats", "0005_nurture_list_price_cause")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
