"""The pool owner is not a consultant: a confirmed application no longer hands its lead to the pool owner (he works
the pool entry, not the lead). The leads handed to him before go back to the consultant who held them when the
application was filed (``Application.consultant``), each with an assignment-history row, so the per-consultant
figures (funnel, control points, scorecard) count them where they were lost and the pool owner is no row of them.
And an application's "our series" is never a competitor's model (the lead's series was copied as it was)."""

from django.db import migrations
from django.db.models import F
from django.utils import timezone

REASON = "Defeat attribution: back to the consultant who filed it"


def forward(apps, schema_editor):
    PoolEntry = apps.get_model("defeats", "PoolEntry")
    Lead = apps.get_model("leads", "Lead")
    AssignmentChange = apps.get_model("leads", "AssignmentChange")
    now = timezone.now()
    moves = list(PoolEntry.objects.filter(status="in_pool", lead__status="defeated",
                                          lead__assigned_to=F("owner"), application__consultant__isnull=False)
                 .exclude(application__consultant=F("owner"))
                 .values_list("lead_id", "owner_id", "application__consultant_id"))
    for start in range(0, len(moves), 2000):
        batch = moves[start:start + 2000]
        AssignmentChange.objects.bulk_create([
            AssignmentChange(lead_id=lead, from_user_id=owner, to_user_id=consultant, changed_at=now, reason=REASON)
            for lead, owner, consultant in batch])
        by_consultant: dict = {}
        for lead, _owner, consultant in batch:
            by_consultant.setdefault(consultant, []).append(lead)
        for consultant, leads in by_consultant.items():
            Lead.objects.filter(pk__in=leads).update(assigned_to_id=consultant, version=F("version") + 1)


def competitor_series_are_not_ours(apps, schema_editor):
    """A lead interested in a competitor's model copied that model as the application's "our series"."""
    Application = apps.get_model("defeats", "Application")
    Application.objects.filter(our_series__brand__is_own=False).update(our_series=None)


class Migration(migrations.Migration):
    dependencies = [("defeats", "0006_method_taxonomy"), ("leads", "0017_lead_open_due")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop),
                  migrations.RunPython(competitor_series_are_not_ours, migrations.RunPython.noop)]
