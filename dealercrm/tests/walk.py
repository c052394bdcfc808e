"""The scoping walk's world: secret records of every kind, planted where a walker may not see them, their markers,
the routes of the root URLconf (pages, htmx partials and the API) and a valid body for every write.

A *secret* is everything one holder owns in one place: a lead with its follow-up and visit, a notification, a base
client (vehicle with VIN and plate, contact, score, care task, a referral it made), a pending defeat application, a
competitor-pool entry, an import (batch and row), a report file, and the holder themselves (a team member). Three
secrets are planted: ``colleague`` (a consultant of the walker's store), ``store2`` (the sister store of the group)
and ``group`` (a store of another group). Each carries distinct markers (names, phones in full and masked form,
VINs, plates, texts) that must never appear in a response to someone who may not see it.

test_route_walk.py walks every route with these; this module holds no test."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

# Which attribute of a secret a route's integer parameter names, by URL name (the first matching prefix wins).
# A route not listed here is asked with every id of every secret.
ROUTE_KINDS = [
    ("leads:review", ["follow_up"]),
    ("leads:handoff", ["handoff"]),
    ("leads:", ["lead", "pool_lead"]),
    ("baseclients:care_", ["care_task"]),
    ("baseclients:deal_deliver", ["fleet_deal", "deal"]),
    ("baseclients:vehicle_edit", ["vehicle", "fleet_vehicle"]),
    ("baseclients:lead_company", ["lead", "company"]),
    ("baseclients:company", ["company"]),
    ("baseclients:lead_referrer", ["lead", "referred_lead"]),
    ("baseclients:", ["client"]),
    ("defeats:decide", ["application"]),
    ("defeats:pool_contact", ["pool_entry"]),
    ("defeats:apply", ["lead", "defeat_lead"]),
    ("defeats:talk_tracks_preview", ["lead", "defeat_lead"]),
    ("defeats:postmortem_open", ["lead", "pool_lead"]),
    ("defeats:postmortem", ["post_mortem"]),
    ("reports:file", ["report_file"]),
    ("reports:event_xlsx", ["event"]),
    ("campaigns:", ["event", "invitation"]),
    ("reports:import", ["batch"]),
    ("team_member", ["holder"]),
    ("notification", ["notification"]),
    # The API, by the router's basenames.
    ("lead-", ["lead", "pool_lead"]),
    ("follow-up-", ["follow_up"]),
    ("notification-", ["notification"]),
    ("base-client-", ["client"]),
    ("company-", ["company"]),
    ("care-task-", ["care_task"]),
    ("deal-", ["fleet_deal", "deal"]),
    ("defeat-application-", ["application"]),
    ("defeat-pool-", ["pool_entry"]),
    ("import-", ["batch"]),
    ("event-", ["event", "invitation"]),
    ("user-", ["holder"]),
    ("store-", ["store"]),
    ("funnel-target-", ["target"]),
    ("post-mortem-", ["post_mortem"]),
    ("work-plan-", ["work_plan"]),
    # Group settings and catalogues, keyed by no secret: asked with a few ids of other tables.
    ("defeats:reason_edit", ["lead", "client"]),
    ("defeat-reason-", ["lead", "client"]),
    ("defeat-talk-track-", ["lead", "client"]),
    ("funnel-market-estimate-", ["lead", "client"]),
    ("job-run-", ["lead", "client"]),
    ("vehicle-", ["lead", "client"]),
]

# Routes that search by phone, VIN, plate or name: asked with each secret's search markers as well.
SEARCH_ROUTES = {
    "leads:list", "baseclients:list", "baseclients:care_queue", "defeats:pool", "reports:imports",
    "lead-list", "base-client-list", "care-task-list", "defeat-pool-list", "import-list",
    "baseclients:companies", "company-list",
}

# Not the app's routes: Django's admin (superusers only), the language switch, logout (it would end the walker's
# session), the schema and its docs (no records), the static files.
SKIP_PREFIXES = ("admin/", "i18n/", "accounts/logout/", "static/", "__debug__/", "api/schema/", "api/docs/")


@dataclass
class Secret:
    tag: str
    store: object
    holder: object
    objects: dict[str, models.Model] = field(default_factory=dict)
    # marker text -> what it is ("lead name", "client phone (masked)"...), for the failure messages.
    markers: dict[str, str] = field(default_factory=dict)
    in_group: bool = True

    def ids(self, kinds=None) -> list[tuple[str, int]]:
        return [(kind, obj.pk) for kind, obj in self.objects.items() if kinds is None or kind in kinds]

    def phone(self, kind="client") -> str:
        return self.objects[kind].phone


@dataclass
class World:
    org: object
    secrets: dict[str, Secret]
    criteria: list[str]
    reason_codes: list[str]


def _digits(kind: int, n: int) -> str:
    """A phone per kind of record and secret whose every shown form (the masked one keeps the last four) differs."""
    return f"139{n}{kind}{n}{kind}{kind}{n}{kind}{n}"


def _phones(digits: str) -> dict[str, str]:
    """The forms a phone may be shown in: national digits, spaced, masked."""
    return {digits: "phone", f"{digits[:3]} {digits[3:7]} {digits[7:]}": "phone (spaced)",
            f"{digits[:3]}****{digits[7:]}": "phone (masked)", f"+86{digits}": "phone (E.164)"}


def plant_org():
    """The org fixture's organisation (``build_org``), for a world planted once per module: the staff named so that a
    name shown where it should not be is a marker, and a consultant in the other group."""
    from dealercrm.tests.factories import ConsultantFactory, build_org

    o = build_org(display_names={
        "consultant": "Walker Consultant", "consultant2": "StaffColleagueSecret", "consultant_b": "StaffStoreTwoSecret",
        "manager": "Walker Manager", "manager2": "Manager South", "admin": "Walker Admin",
        "other_manager": "Manager Beta", "other_admin": "Admin Beta"})
    o.consultant_beta = ConsultantFactory(username="c_beta", store=o.other_store, display_name="StaffGroupSecret")
    return o


def _plant_secret(tag: str, n: int, *, store, holder, manager, in_group: bool) -> Secret:
    """One holder's records of every kind, with markers ``<Kind><tag>Secret`` and phones 1391111<kind><n>."""
    from baseclients.models import CareTask, ClientContact, ClientScore, Criterion
    from baseclients.services import referral_set
    from baseclients.tests.factories import buy
    from baseclients.vehicles import vin_with_check_digit
    from dealercrm.models import Notification
    from defeats import services as defeats
    from defeats.models import PoolEntry
    from funnel.models import Target
    from leads.services import deal_record
    from leads.tests.factories import FollowUpFactory, LeadFactory, VisitFactory
    from reports.models import ImportBatch, ImportRow, ReportFile

    s = Secret(tag=tag, store=store, holder=holder, in_group=in_group)
    s.markers[holder.display_name] = "team member's name"
    today = timezone.localdate()

    def lead(kind: str, digit: int, **kwargs):
        name = f"{kind.title().replace('_', '')}{tag}Secret"
        digits = _digits(digit, n)
        s.markers[name] = f"{kind} name"
        s.markers.update({k: f"{kind} {v}" for k, v in _phones(digits).items()})
        return LeadFactory(store=store, assigned_to=holder, name=name, phone=f"+86{digits}", **kwargs)

    s.objects["lead"] = lead("lead", 1)
    s.objects["follow_up"] = FollowUpFactory(lead=s.objects["lead"], content=f"FollowUpNote{tag}Secret")
    s.markers[f"FollowUpNote{tag}Secret"] = "follow-up text"
    s.objects["visit"] = VisitFactory(lead=s.objects["lead"], note=f"VisitNote{tag}Secret")
    s.markers[f"VisitNote{tag}Secret"] = "visit note"
    s.objects["notification"] = Notification.objects.create(
        recipient=holder, kind=Notification.Kind.ASSIGNED, params={"count": 1, "name": s.objects["lead"].name},
        url=f"/leads/{s.objects['lead'].pk}/")

    # The base client: a deal through the real service, with its vehicle's VIN and plate.
    client_digits = _digits(2, n)
    vin = vin_with_check_digit(f"LSVWK9BD0M{7770000 + n:07d}")
    plate = f"粤B{n}W{n}{n}{n}"
    client_name = f"Client{tag}Secret"
    deal = buy(store=store, consultant=holder, phone=f"+86{client_digits}", name=client_name, vin=vin, plate=plate)
    client = deal.purchase.client
    s.objects["client"] = client
    s.objects["vehicle"] = client.vehicles.get()
    s.markers.update({client_name: "base client's name", vin: "VIN", plate: "plate"})
    s.markers.update({k: f"base client {v}" for k, v in _phones(client_digits).items()})
    s.objects["deal"] = deal
    # A fleet order of three light trucks, one delivered: the rest may be delivered only by who may work the lead.
    fleet_vin = vin_with_check_digit(f"LSVWK9BD0M{6660000 + n:07d}")
    fleet = deal_record(actor=holder, lead=lead("fleet_lead", 7), quantity=3, unit_price=Decimal("98000.00"),
                        ordered_at=today, delivered_at=today,
                        vehicles=[{"vin": fleet_vin, "plate": f"粤D{n}F{n}{n}{n}", "use": "commercial"}])
    s.objects["fleet_deal"] = fleet
    s.objects["fleet_vehicle"] = fleet.vehicles.get()
    s.markers.update({fleet_vin: "fleet order's VIN", f"粤D{n}F{n}{n}{n}": "fleet order's plate"})
    s.objects["contact"] = ClientContact.objects.create(client=client, channel="phone", outcome="reached",
                                                        content=f"ContactNote{tag}Secret", by=holder)
    s.markers[f"ContactNote{tag}Secret"] = "base client contact text"
    criterion = Criterion.objects.filter(group_id=store.group_id).order_by("pk").first()
    if criterion is not None:
        s.objects["score"] = ClientScore.objects.create(client=client, criterion=criterion, points=1)
    s.objects["care_task"] = CareTask.objects.create(
        client=client, vehicle=s.objects["vehicle"], store=store, assigned_to=holder, kind="call", channel="phone",
        due_on=today, note=f"CareNote{tag}Secret")
    s.markers[f"CareNote{tag}Secret"] = "care task note"
    s.objects["referred_lead"] = lead("referred_lead", 3)
    s.objects["referral"] = referral_set(actor=holder, lead=s.objects["referred_lead"], referrer_client=client)

    # A pending defeat application, and a confirmed one whose lead is in the competitor pool.
    s.objects["defeat_lead"] = lead("defeat_lead", 4)
    s.objects["application"] = defeats.application_file(
        actor=holder, lead=s.objects["defeat_lead"], kind="quasi", reasons=("funding_not_ready",),
        note=f"DefeatNote{tag}Secret")
    s.markers[f"DefeatNote{tag}Secret"] = "defeat application note"
    s.objects["pool_lead"] = lead("pool_lead", 5)
    confirmed = defeats.application_file(actor=holder, lead=s.objects["pool_lead"], kind="defeat",
                                         reasons=("lost_contact",))  # a defeat without a competitor's series
    defeats.application_decide(actor=manager, application=confirmed, verdict="confirm", comment="ok")
    s.objects["pool_entry"] = PoolEntry.objects.get(lead=s.objects["pool_lead"])

    # An import of the store, made by the holder, with a row naming a customer; a report file the holder asked for.
    import_digits = _digits(6, n)
    s.objects["batch"] = ImportBatch.objects.create(
        store=store, created_by=holder, file_name=f"Import{tag}Secret.xlsx", status=ImportBatch.Status.DRY_RUN_READY,
        headers=["姓名", "电话"], mapping={"name": 0, "phone": 1}, rows=1, new=1, content=b"not a workbook")
    s.objects["import_row"] = ImportRow.objects.create(
        batch=s.objects["batch"], number=2, data={"name": f"ImportRow{tag}Secret", "phone": f"+86{import_digits}"},
        raw=[f"ImportRow{tag}Secret", import_digits], action="new")
    s.markers.update({f"Import{tag}Secret": "import's file name", f"ImportRow{tag}Secret": "import row's name"})
    s.markers.update({k: f"import row {v}" for k, v in _phones(import_digits).items()})
    s.objects["report_file"] = ReportFile.objects.create(
        report="consultant-scorecard", group_id=store.group_id, store=store, created_by=holder,
        status=ReportFile.Status.READY, filename=f"Report{tag}Secret.xlsx", content=f"Report{tag}Secret".encode(),
        size=20, finished_at=timezone.now(), expires_at=timezone.now() + timedelta(days=1),
        period_start=today.replace(day=1), period_end=today)
    s.markers[f"Report{tag}Secret"] = "report file's name"
    # The holder's target for the month (the scorecard and the funnel's progress lines are per consultant).
    s.objects["target"] = Target.objects.create(store=store, consultant=holder, month=today.replace(day=1), units=7,
                                                set_by=manager)
    # A post-mortem the holder is writing (a draft: only he and whoever manages the store read it) on the lost
    # customer, and his work plan for the week.
    from defeats.postmortems import post_mortem_open, post_mortem_save
    from planning.services import work_plan_draft, work_plan_update

    s.objects["post_mortem"] = post_mortem_save(
        actor=holder, post_mortem=post_mortem_open(actor=holder, lead=s.objects["pool_lead"]),
        lessons=f"PostMortem{tag}Secret", what_happened=f"PostMortem{tag}Secret")
    s.markers[f"PostMortem{tag}Secret"] = "post-mortem text"
    plan, _created = work_plan_draft(actor=holder, period="week", start=today - timedelta(days=today.weekday()))
    s.objects["work_plan"] = work_plan_update(actor=holder, plan=plan, notes=f"WorkPlan{tag}Secret",
                                              items={"follow_ups": {"planned": 7, "note": f"WorkPlanItem{tag}Secret"}})
    s.markers.update({f"WorkPlan{tag}Secret": "work plan notes", f"WorkPlanItem{tag}Secret": "work plan item note"})
    # A company account the holder owns, with a person, named by the holder's lead and base client, the lead qualified.
    from baseclients.services import client_update
    from leads.companies import credit_code_check_char
    from leads.services import company_save, lead_qualify

    person_digits = _digits(7, n)
    code = f"9131011{n}MA1TKQR0{n}"
    code += credit_code_check_char(code)
    s.objects["company"] = company_save(
        actor=holder, name=f"Company{tag}Secret", credit_code=code, legal_representative=f"Legal{tag}Secret",
        people=[{"name": f"Person{tag}Secret", "phone": f"+86{person_digits}", "decision_role": "decider",
                 "note": f"PersonNote{tag}Secret"}])
    s.objects["company_person"] = s.objects["company"].people.get()
    s.markers.update({f"Company{tag}Secret": "company name", code: "company credit code",
                      f"Legal{tag}Secret": "company legal representative", f"Person{tag}Secret": "company person",
                      f"PersonNote{tag}Secret": "company person note"})
    s.markers.update({k: f"company person {v}" for k, v in _phones(person_digits).items()})
    from leads.models import Lead

    Lead.objects.filter(pk=s.objects["lead"].pk).update(company=s.objects["company"])
    s.objects["lead"].refresh_from_db()
    s.objects["qualification"] = lead_qualify(actor=holder, lead=s.objects["lead"], need="yes",
                                              need_note=f"Qualify{tag}Secret")
    s.markers[f"Qualify{tag}Secret"] = "qualification note"
    client_update(actor=holder, client=client, company=s.objects["company"])
    client.refresh_from_db()
    # The store's consultant levels, and a handoff of the holder's lead waiting for the manager's pick.
    from leads.models import GradeChange, Handoff
    from leads.services.levels import store_levels_set

    store_levels_set(actor=manager, store=store, handoff="hold", members={holder.pk: 3}, levels=[
        {"name": "一级", "order": 1, "grades": ["A"], "capacity": 20},
        {"name": "二级", "order": 2, "grades": ["B"], "capacity": 40},
        {"name": "三级", "order": 3, "grades": ["C", "D", "E"], "capacity": 100}])
    promotion = GradeChange.objects.create(lead=s.objects["lead"], from_grade="C", to_grade="B", changed_by=holder)
    s.objects["handoff"] = Handoff.objects.create(lead=s.objects["lead"], grade_change=promotion, from_user=holder,
                                                  status="waiting")
    s.objects["holder"] = holder
    s.objects["store"] = store
    return s


def plant_world() -> World:
    """The org, one lead and base client the walkers may see (so lists are not empty), and the three secrets."""
    from baseclients.models import BaseClient, Criterion
    from baseclients.services.settings import ensure_group_defaults
    from baseclients.tests.factories import buy
    from defeats.services import reasons_for
    from leads.tests.factories import FollowUpFactory, LeadFactory

    org = plant_org()
    for group in (org.group, org.other_group):
        ensure_group_defaults(group.pk)
        reasons_for(group.pk)
    own = LeadFactory(store=org.store, assigned_to=org.consultant, name="Walker Own Lead", phone="+8613700000001")
    # The colleague wrote a follow-up on it (before it was handed over): the colleague is still no row of the
    # consultant's figures.
    FollowUpFactory(lead=own, created_by=org.consultant2, content="Walker's lead, called by the colleague")
    buy(store=org.store, consultant=org.consultant, phone="+8613700000002", name="Walker Own Client")
    secrets = {
        "colleague": _plant_secret("Colleague", 1, store=org.store, holder=org.consultant2, manager=org.manager,
                                   in_group=True),
        "store2": _plant_secret("StoreTwo", 2, store=org.store2, holder=org.consultant_b, manager=org.manager2,
                                in_group=True),
        "group": _plant_secret("Group", 3, store=org.other_store, holder=org.consultant_beta,
                               manager=org.other_manager, in_group=False),
    }
    criteria = list(Criterion.objects.filter(group=org.group).values_list("code", flat=True))
    # Events: one of the walker's store with the walker's own client as its guest (the lists are not empty), and
    # one of the sister store and of the other group, each with its secret client invited and arrived.
    from campaigns import services as campaigns

    own_event = campaigns.event_create(actor=org.manager, store=org.store, kind="club", title="Walker Own Event",
                                       held_on=timezone.localdate(), place="Walker Own Place")
    campaigns.invite(actor=org.manager, event=own_event, client_ids=list(
        BaseClient.objects.filter(phone="+8613700000002").values_list("pk", flat=True)))
    for key, manager in (("store2", org.manager2), ("group", org.other_manager)):
        _plant_event(secrets[key], manager)
    return World(org=org, secrets=secrets, criteria=criteria, reason_codes=["funding_not_ready"])


def _plant_event(s: Secret, manager) -> None:
    from campaigns import services as campaigns

    event = campaigns.event_create(actor=manager, store=s.store, kind="launch", title=f"Event{s.tag}Secret",
                                   held_on=timezone.localdate(), place=f"Place{s.tag}Secret")
    campaigns.invite(actor=manager, event=event, client_ids=[s.objects["client"].pk])
    invitation = event.invitations.get()
    campaigns.attendance_set(actor=manager, invitation=invitation)
    s.objects["event"], s.objects["invitation"] = event, invitation
    s.markers.update({f"Event{s.tag}Secret": "event's title", f"Place{s.tag}Secret": "event's place"})


# --- Snapshots: nothing written on a secret record -------------------------------------------------------------

_OUR_APPS = ("dealercrm", "leads", "funnel", "baseclients", "defeats", "planning", "reports")
_OUR_APPS = ("dealercrm", "leads", "funnel", "baseclients", "defeats", "reports", "campaigns")
_VOLATILE = {"last_login"}


def _plain(value):
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def snapshot(secrets: list[Secret]) -> dict:
    """Every field of every secret row, and how many rows of each of our tables point at them (a follow-up, a
    contact, a verdict, a history row written on a secret record shows as a count that moved)."""
    by_model: dict[type, set[int]] = {}
    for secret in secrets:
        for kind, obj in secret.objects.items():
            if kind == "store":  # the colleague's store is the walker's own: what they write there points at it
                continue
            by_model.setdefault(type(obj), set()).add(obj.pk)
    rows = {}
    for model, pks in by_model.items():
        for row in model._base_manager.filter(pk__in=pks).order_by("pk").values():
            rows[(model._meta.label, row["id"])] = {k: _plain(v) for k, v in row.items() if k not in _VOLATILE}
    counts = {}
    for model in apps.get_models():
        if model._meta.app_label not in _OUR_APPS:
            continue
        for f in model._meta.get_fields():
            if f.is_relation and f.concrete and (f.many_to_one or f.one_to_one) and f.related_model in by_model:
                key = f"{model._meta.label}.{f.name}"
                counts[key] = model._base_manager.filter(**{f"{f.name}__in": by_model[f.related_model]}).count()
    return {"rows": rows, "counts": counts}


def snapshot_diff(before: dict, after: dict) -> list[str]:
    changes = []
    for key, row in before["rows"].items():
        now = after["rows"].get(key)
        if now is None:
            changes.append(f"{key[0]} #{key[1]} deleted")
            continue
        changed = {k: (v, now.get(k)) for k, v in row.items() if now.get(k) != v}
        if changed:
            changes.append(f"{key[0]} #{key[1]} changed: {changed}")
    for key, count in before["counts"].items():
        if after["counts"].get(key) != count:
            changes.append(f"rows of {key} pointing at a secret record: {count} -> {after['counts'].get(key)}")
    return changes


# --- Routes -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    template: str  # "leads/<int:pk>/" or "api/v1/^leads/(?P<pk>[^/.]+)/$"
    name: str  # "leads:detail", "lead-detail"
    methods: tuple[str, ...]
    params: tuple[str, ...]  # parameter names, in order
    api: bool

    def fill(self, values: dict[str, object]) -> str:
        path = self.template
        for name in self.params:
            value = str(values[name])
            path = re.sub(rf"<(?:\w+:)?{name}>|\(\?P<{name}>[^)]*\)", value, path)
        return "/" + path.replace("^", "").replace("$", "").replace("\\", "")


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name or ''}", entry


def routes() -> list[Route]:
    """Every route of the root URLconf but the skipped prefixes and the API's format-suffix duplicates."""
    found = []
    for template, name, pattern in _walk(get_resolver().url_patterns):
        if template.startswith(SKIP_PREFIXES) or "(?P<format>" in template or "<drf_format_suffix" in template:
            continue
        actions = getattr(pattern.callback, "actions", None)
        if actions:
            methods = tuple(m for m in actions if m in ("get", "post", "patch", "put", "delete"))
        else:
            methods = ("get", "post")
        params = tuple(re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", template))
        params = tuple(a or b for a, b in params)
        found.append(Route(template=template, name=name, methods=methods, params=params,
                           api=template.startswith("api/")))
    return found


def kinds_for(route: Route) -> list[str] | None:
    for prefix, kinds in ROUTE_KINDS:
        if route.name.startswith(prefix):
            return kinds
    return None


def slug_values(route: Route, param: str) -> list[str]:
    """Values for a route's non-integer parameters: the reports' and exports' names, the analyses' kinds."""
    if param == "kind":
        from baseclients.api.views import ANALYSES

        return list(ANALYSES)
    if param == "name" and route.name in ("reports:export",):
        from reports.services.exports import EXPORTS

        return list(EXPORTS)
    if param == "name" and route.name.startswith(("reports:", "report-")):
        from reports.catalogue import REPORTS

        return list(REPORTS)
    return []


# --- Bodies -----------------------------------------------------------------------------------------------------

def body_for(route: Route, world: World, secret: Secret, obj, walker) -> dict:
    """A valid body for a write on ``route`` aimed at ``secret`` (``obj``: the record the path names, or None).
    One set of plausible values for every field the forms and serializers take (extra keys are ignored by both),
    pointing at the secret's records; where two forms read one name differently, the route's entry wins."""
    today = timezone.localdate()
    o = secret.objects
    version = getattr(obj, "version", None) or 1
    body = {
        "version": version, "expected_version": version,
        # Writes that would move a record to the walker or pull one of theirs in.
        "assigned_to": walker.pk, "to_user": walker.pk, "from_user": secret.holder.pk, "user": walker.pk,
        "store": secret.store.pk, "keep": o["lead"].pk, "absorb": o["referred_lead"].pk, "lead": o["lead"].pk,
        "ids": [o["application"].pk], "referrer": o["client"].pk, "referrer_client": o["client"].pk,
        "confirm": "on", "next": "/",
        # Plausible values for the rest.
        "name": "Walker Wrote This", "phone": secret.phone("client"), "source": "walk_in", "grade": "B",
        "method": "phone", "channel": "phone", "content": "walker was here", "note": "walker was here",
        "reason": "walker was here", "comment": "walker was here", "outcome": "reached",
        "decision": "approve", "approve": True, "verdict": "confirm", "came_back": "on",
        "price": "150000.00", "ordered_at": today.isoformat(), "delivered_at": today.isoformat(),
        "arrived_at": timezone.now().strftime("%Y-%m-%dT%H:%M"),
        "next_follow_up_at": (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "kind": "quasi", "reasons": world.reason_codes, "referral_types": ["old_brings_new"],
        "vin": "", "plate": "", "use": "private", "fleet_size": 1,
        "vehicles": [{"vin": "", "plate": "沪F00001", "use": "commercial"}], "unit_vin": [""],
        "unit_plate": ["沪F00002"], "unit_use": ["commercial"],
        "section": "tier_rule", "scores": {code: 1 for code in world.criteria[:1]},
        **{code: 1 for code in world.criteria},
        "q": secret.phone("client"), "referrer_q": secret.phone("client"),
    }
    overrides = {
        "baseclients:edit": {"kind": "person", "name": "Walker Wrote This"},
        "base-client-detail": {"kind": "person"},
        "baseclients:do_not_contact": {"reason": "walker"},
        "leads:review": {"decision": "approve"},
        "leads:stale_action": {"action": "keep"},
        "defeats:decide": {"verdict": "confirm", "grade": ""},
        "defeat-application-verdict": {"verdict": "confirm", "grade": None},
        "defeat-application-bulk-verdict": {"ids": [s.objects["application"].pk for s in [secret]]},
        "defeat-application-list": {"lead": o["lead"].pk, "kind": "quasi", "reasons": world.reason_codes},
        "lead-list": {"store": secret.store.pk, "assigned_to": secret.holder.pk},
        "leads:visit": {"store": secret.store.pk, "assigned_to": secret.holder.pk},
        "funnel:targets": {"store": secret.store.pk, "consultant": secret.holder.pk},
        "funnel-target-list": {"store": secret.store.pk, "consultant": secret.holder.pk},
        "funnel:market": {"store": secret.store.pk},
        "leads:bulk_move": {"store": secret.store.pk, "from_user": secret.holder.pk, "to_user": walker.pk},
        "leads:round_robin": {"store": secret.store.pk},
        # Events: a new one aimed at the secret's store; invitations, answers and arrivals aimed at its guest.
        "event-list": {"store": secret.store.pk, "kind": "club", "title": "Walker Wrote This",
                       "held_on": today.isoformat(), "place": "walker"},
        "campaigns:create": {"store": secret.store.pk, "kind": "club", "title": "Walker Wrote This",
                             "held_on": today.isoformat(), "place": "walker"},
        "event-invitations": {"tiers": ["premium", "potential", "general"], "client_ids": [o["client"].pk]},
        "event-target-count": {"tiers": ["premium"], "client_ids": [o["client"].pk]},
        "campaigns:targets": {"tiers": ["premium", "potential", "general"], "pool_lists": ["competitor"]},
        "campaigns:target_count": {"tiers": ["premium", "potential", "general"], "pool_lists": ["competitor"]},
        "event-answers": {"invitation": getattr(o.get("invitation"), "pk", 0), "answer": "declined"},
        "campaigns:answer": {"answer": "declined"},
        "event-attendance": {"invitation": getattr(o.get("invitation"), "pk", 0), "arrived": False},
        "campaigns:door_mark": {"arrived": "0"},
        "campaigns:walk_in": {"name": "Walker Wrote This", "phone": secret.phone("client")},
    }
    body.update(overrides.get(route.name, {}))
    if not route.api:
        # Forms read a list as repeated keys and a dict not at all.
        body.pop("scores", None)
        body = {k: ("on" if v is True else v) for k, v in body.items() if v is not None}
    return body


# --- Responses --------------------------------------------------------------------------------------------------

def text_of(response) -> str:
    """A response's text: HTML, JSON, CSV, or the XML inside a workbook (markers would hide in its zip)."""
    if getattr(response, "streaming", False):
        raw = b"".join(response.streaming_content)
    else:
        raw = response.content
    if raw[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as book:
                return "\n".join(book.read(n).decode("utf-8", "replace") for n in book.namelist()
                                 if n.endswith((".xml", ".rels", ".csv")))
        except zipfile.BadZipFile:
            pass
    return raw.decode("utf-8", "replace")


def markers_in(text: str, secrets: list[Secret], *, ignore: set[str] = frozenset()) -> list[str]:
    """The markers of ``secrets`` in ``text``; those that are (part of) an ``ignore`` string are not looked for."""
    return [f"{s.tag}: {what} {marker!r}" for s in secrets for marker, what in s.markers.items()
            if marker in text and not any(marker in echoed for echoed in ignore)]

